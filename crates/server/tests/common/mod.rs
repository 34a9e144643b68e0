//! Shared helpers for the server's integration tests: a real server on loopback and a small
//! protocol client over reqwest.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, missing_docs)]

use std::sync::Arc;

use reqwest::StatusCode;
use tessera_protocol::{DeviceInfo, ErrorBody, ErrorCode, Role, TokenRequest, TokenResponse, paths};
use tessera_server::Config;
use tessera_server::clock::{Clock, ManualClock};
use tessera_server::testing::TestServer;

pub const PASSWORD: &str = "correct horse battery";
pub const CLIENT: &str = "tessera-cli";

/// Config with rate limits off, so tests that are not about rate limits never trip them.
pub fn config() -> Config {
    Config { session_writes_per_min: 0, ..tessera_server::testing::unlimited_config() }
}

pub struct Harness {
    pub server: TestServer,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// A server with a manual clock and users alice, bob (agents) and carol (admin).
    pub async fn start(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::starting_now());
        let server = TestServer::start_in(dir.path(), config, clock.clone() as Arc<dyn Clock>).await.unwrap();
        for (name, role) in [("alice", Role::Agent), ("bob", Role::Agent), ("carol", Role::Admin)] {
            server.add_user(name, PASSWORD, role).await.unwrap();
        }
        Self { server, http: reqwest::Client::new(), clock, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    pub async fn token(&self, req: &TokenRequest) -> reqwest::Response {
        self.http.post(self.url(paths::TOKEN)).form(req).send().await.unwrap()
    }

    pub async fn sign_in_as(&self, user: &str, device: &str) -> TokenResponse {
        let device = DeviceInfo { name: device.into(), platform: "linux".into(), app_version: "0.1.0".into() };
        let resp = self.token(&TokenRequest::password(user, PASSWORD, CLIENT, &device)).await;
        assert_eq!(resp.status(), StatusCode::OK, "sign-in of {user} must succeed");
        resp.json().await.unwrap()
    }

    pub async fn sign_in(&self) -> TokenResponse {
        self.sign_in_as("alice", "test device").await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.token(&TokenRequest::refresh(refresh_token, CLIENT)).await
    }

    pub async fn get(&self, path: &str, access_token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(access_token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, access_token: &str) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(access_token).send().await.unwrap()
    }

    pub async fn audit_kinds(&self, access_token: &str) -> Vec<String> {
        let list: tessera_protocol::AuditList = self.get(paths::AUDIT, access_token).await.json().await.unwrap();
        list.events.into_iter().map(|e| e.kind).collect()
    }
}

/// Asserts an error response's status and code, returning the body.
pub async fn expect_error(resp: reqwest::Response, status: StatusCode, code: ErrorCode) -> ErrorBody {
    let got = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    let body: ErrorBody =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("error body must be JSON ({e}): {text}"));
    assert_eq!(body.code, code, "unexpected error code; body: {text}");
    body
}
