//! The webview never receives a token: every type a command returns or the event channel
//! carries, filled by a real signed-in session against the real server, is serialized as the
//! IPC layer would and searched for the session's actual access token (and any JWT).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

use std::sync::{Arc, Mutex};

use tessera_app::shell::{RelayedEvent, Shell};
use tessera_protocol::Role;
use tessera_server::testing::TestServer;
use tessera_session::{AuditLog, LocalDirs, Password};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_output_or_event_contains_a_token() {
    let server = TestServer::start(tessera_server::testing::scripted_config()).await.expect("server");
    server.add_user(USER, PASSWORD, Role::Agent).await.expect("user");
    let dir = tempfile::tempdir().expect("temp dir");
    let dirs = LocalDirs { config: dir.path().join("config"), data: dir.path().join("data") };
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let shell =
        Shell::new(dirs.clone(), dir.path().join("app/settings.json"), dir.path().join("logs"), Arc::new(|_| {}));
    shell.start(server.url.clone()).await;
    let sink = events.clone();
    shell.subscribe(move |event: RelayedEvent| {
        sink.lock().map(|mut v| v.push(serde_json::to_string(&event).unwrap_or_default())).is_ok()
    });

    let mut outputs: Vec<(&str, String)> = Vec::new();
    let signed_in = shell.sign_in(&server.url, USER, &Password::new(PASSWORD)).await.expect("sign in");
    outputs.push(("sign_in", serde_json::to_string(&signed_in).unwrap_or_default()));
    let engine = shell.engine().await.expect("engine");
    let access = engine.access_token().await.expect("the engine holds an access token");
    outputs.push(("app_status", serde_json::to_string(&shell.status().await).unwrap_or_default()));
    outputs.push(("me", serde_json::to_string(&engine.me().await.expect("me")).unwrap_or_default()));
    outputs.push((
        "sessions_list",
        serde_json::to_string(&engine.sessions().await.expect("sessions")).unwrap_or_default(),
    ));
    outputs.push((
        "audit_server",
        serde_json::to_string(&engine.server_audit().await.expect("audit")).unwrap_or_default(),
    ));
    let local = AuditLog::open(&dirs.data).and_then(|log| log.read_recent(100)).expect("local audit");
    outputs.push(("audit_local", serde_json::to_string(&local).unwrap_or_default()));
    outputs.push((
        "settings_get",
        serde_json::to_string(&shell.settings_view().await.expect("settings")).unwrap_or_default(),
    ));
    outputs.push(("diagnostics.metrics", serde_json::to_string(&engine.metrics()).unwrap_or_default()));
    outputs.push(("diagnostics.storage", serde_json::to_string(&shell.storage_status().await).unwrap_or_default()));
    engine.refresh_now().await.expect("refresh");
    let revoked = engine.revoke_other_sessions().await.expect("revoke others");
    outputs.push(("sessions_revoke_others", serde_json::to_string(&revoked).unwrap_or_default()));
    outputs.push(("sign_out", serde_json::to_string(&shell.sign_out().await.expect("sign out")).unwrap_or_default()));
    // The relay delivers on its own task: wait (bounded) for the sign-out to come through.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let seen = events.lock().map(|v| v.clone()).unwrap_or_default();
        if seen.iter().any(|e| e.contains("\"signed_out\"")) || std::time::Instant::now() > deadline {
            break seen;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        events.iter().any(|e| e.contains("state_changed")),
        "the relay must have carried state changes: {events:?}"
    );
    for event in &events {
        outputs.push(("event", event.clone()));
    }

    for (what, json) in &outputs {
        assert!(!json.contains(access.secret()), "{what} must not carry the access token: {json}");
        assert!(!json.contains("eyJ"), "{what} must not carry any JWT: {json}");
        assert!(!json.contains("trt_"), "{what} must not carry a refresh token: {json}");
    }
}
