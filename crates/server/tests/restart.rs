//! A server restarted on the same data dir keeps its users, sessions and signing key.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Harness, config};
use reqwest::StatusCode;
use tessera_protocol::{TokenResponse, paths};
use tessera_server::clock::Clock;
use tessera_server::testing::TestServer;

#[tokio::test]
async fn restart_keeps_sessions_and_the_signing_key() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let jwks_before = h.http.get(h.url(paths::JWKS)).send().await.unwrap().text().await.unwrap();
    let Harness { server, http, clock, dir } = h;
    server.stop().await;

    let server = TestServer::start_in(dir.path(), config(), clock.clone() as Arc<dyn Clock>).await.unwrap();
    let url = |p: &str| format!("{}{p}", server.url);
    let jwks_after = http.get(url(paths::JWKS)).send().await.unwrap().text().await.unwrap();
    assert_eq!(jwks_before, jwks_after, "the signing key survives a restart");
    let me = http.get(url(paths::ME)).bearer_auth(&t.access_token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "an access token issued before the restart still works");
    let req = tessera_protocol::TokenRequest::refresh(&t.refresh_token, common::CLIENT);
    let resp = http.post(url(paths::TOKEN)).form(&req).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the session survives the restart");
    let _: TokenResponse = resp.json().await.unwrap();
    server.stop().await;
}
