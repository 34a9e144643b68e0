//! Helpers for the signed-update and installer tests: a release server on loopback that serves
//! `latest.json` and the artifacts, and the app's updater (its own plugin set-up from
//! `tessera_app::updates`) under Tauri's mock runtime. Signature checks are the plugin's own.
#![allow(dead_code)]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tauri::test::MockRuntime;

/// Files by name, served at `/NAME`.
pub type Files = HashMap<String, Vec<u8>>;

/// Serves `files` on `127.0.0.1:0` until the test ends; returns the base URL (no trailing slash).
pub async fn serve(files: Files) -> String {
    async fn file(State(files): State<Arc<Files>>, Path(name): Path<String>) -> impl IntoResponse {
        match files.get(&name) {
            Some(body) => (StatusCode::OK, body.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = axum::Router::new().route("/{name}", axum::routing::get(file)).with_state(Arc::new(files));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A `latest.json` announcing `version` for this platform (`linux-x86_64`, as an unbundled
/// binary asks) with `url` and its updater `signature` (the `.sig` file's content).
pub fn latest_json(version: &str, url: &str, signature: &str) -> Vec<u8> {
    let target = tauri_plugin_updater::target().expect("a platform the updater supports");
    let manifest: Value = json!({
        "version": version,
        "notes": "test release",
        "pub_date": "2026-11-22T12:00:00Z",
        "platforms": { target: { "url": url, "signature": signature } }
    });
    serde_json::to_vec(&manifest).expect("json")
}

/// The app's updater plugin trusting `pubkey` (base64, as `tauri signer generate` prints it),
/// running as version `current_version`. Only the transport rule differs from production: the
/// loopback server speaks plain HTTP (`dangerousInsecureTransportProtocol`); the production
/// config's endpoint is HTTPS (checked in `updates.rs`'s config test).
pub fn app(pubkey: &str, current_version: &str) -> tauri::App<MockRuntime> {
    let mut context = tauri::test::mock_context(tauri::test::noop_assets());
    context.config_mut().plugins.0.insert(
        "updater".into(),
        json!({
            "pubkey": "replaced by the test key",
            "endpoints": [],
            "dangerousInsecureTransportProtocol": true,
            "requireSignedVersion": true
        }),
    );
    context.package_info_mut().version = current_version.parse().expect("semver");
    tauri::test::mock_builder()
        .plugin(tessera_app::updates::plugin_with_pubkey(Some(pubkey.to_owned())))
        .build(context)
        .expect("mock app with the updater plugin")
}

/// The endpoint URL for `base`.
pub fn endpoint(base: &str) -> Vec<tauri::Url> {
    vec![format!("{base}/latest.json").parse().expect("url")]
}
