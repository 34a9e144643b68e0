//! No token or password ever reaches a log line: the server's logs are captured at TRACE through
//! a whole session's life (sign-in, refresh, retry inside grace, reuse detection, revoke, a bad
//! token, a failed sign-in) and searched for every secret and every long piece of one.
//!
//! This binary installs a process-wide subscriber, so it holds this one test only.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{CLIENT, Harness, PASSWORD, config};
use reqwest::StatusCode;
use tessera_protocol::{DeviceInfo, TokenRequest, TokenResponse, paths};
use tracing_subscriber::EnvFilter;

/// Everything the subscriber wrote.
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// A writer appending to [`LOG`].
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once, at the most verbose level for the server, its HTTP
/// middleware, the router and the database layer.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("tessera_server=trace,tower_http=trace,axum=trace,sqlx=trace"))
            .with_writer(move || Capture(writer.clone()))
            .with_ansi(false)
            .init();
        buf
    })
    .clone()
}

/// Every window of `len` characters of `secret` (all of it when shorter): the test then also
/// catches a token logged in part, e.g. one JWT segment or a prefix.
fn pieces(secret: &str, len: usize) -> Vec<&str> {
    if secret.len() <= len {
        return vec![secret];
    }
    (0..=secret.len() - len).filter_map(|i| secret.get(i..i + len)).collect()
}

struct Flow {
    secrets: Vec<(String, String)>,
    request_ids: Vec<String>,
    session_ids: Vec<String>,
}

impl Flow {
    fn keep(&mut self, what: &str, secret: &str) {
        self.secrets.push((what.to_owned(), secret.to_owned()));
    }
    fn keep_tokens(&mut self, what: &str, t: &TokenResponse) {
        self.keep(&format!("{what} access token"), &t.access_token);
        self.keep(&format!("{what} refresh token"), &t.refresh_token);
        self.session_ids.push(t.session_id.clone());
    }
    fn saw(&mut self, resp: &reqwest::Response) {
        if let Some(id) = resp.headers().get(tessera_protocol::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()) {
            self.request_ids.push(id.to_owned());
        }
    }
}

async fn token(h: &Harness, flow: &mut Flow, req: &TokenRequest) -> reqwest::Response {
    let resp = h.token(req).await;
    flow.saw(&resp);
    resp
}

async fn ok_tokens(h: &Harness, flow: &mut Flow, what: &str, req: &TokenRequest) -> TokenResponse {
    let resp = token(h, flow, req).await;
    assert_eq!(resp.status(), StatusCode::OK, "{what} must succeed for the flow to cover it");
    let t: TokenResponse = resp.json().await.unwrap();
    flow.keep_tokens(what, &t);
    t
}

#[tokio::test]
async fn a_whole_session_life_leaves_no_secret_in_the_logs() {
    let log = capture_logs();
    let h = Harness::start(config()).await;
    let device = DeviceInfo { name: "log probe".into(), platform: "linux".into(), app_version: "0.1.0".into() };
    let mut flow = Flow { secrets: Vec::new(), request_ids: Vec::new(), session_ids: Vec::new() };
    flow.keep("password", PASSWORD);
    let wrong_password = "not-the-password-but-still-a-secret-7f3a9c";
    flow.keep("wrong password", wrong_password);

    // Sign in, refresh, retry the old token inside the grace window.
    let t1 = ok_tokens(&h, &mut flow, "sign-in", &TokenRequest::password("alice", PASSWORD, CLIENT, &device)).await;
    let t2 = ok_tokens(&h, &mut flow, "refresh", &TokenRequest::refresh(&t1.refresh_token, CLIENT)).await;
    let _t2b = ok_tokens(&h, &mut flow, "retry inside grace", &TokenRequest::refresh(&t1.refresh_token, CLIENT)).await;
    for (path, post) in
        [(paths::ME, false), (paths::SESSION_ACTIVITY, true), (paths::SESSIONS, false), (paths::AUDIT, false)]
    {
        let resp = if post { h.post(path, &t2.access_token).await } else { h.get(path, &t2.access_token).await };
        flow.saw(&resp);
        assert_eq!(resp.status(), StatusCode::OK, "{path} must succeed for the flow to cover it");
    }

    // The token the retry retired is reuse: the session is revoked; its tokens are then refused.
    let resp = token(&h, &mut flow, &TokenRequest::refresh(&t2.refresh_token, CLIENT)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "a retired token must be refused as reuse");
    assert_eq!(h.server.reuse_count(), 1, "the flow must include a reuse detection");
    let resp = h.get(paths::ME, &t2.access_token).await;
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "the revoked session's access token is refused");

    // A new session, revoked through RFC 7009 with its refresh token.
    let t3 =
        ok_tokens(&h, &mut flow, "second sign-in", &TokenRequest::password("alice", PASSWORD, CLIENT, &device)).await;
    let resp = h.http.post(h.url(paths::REVOKE)).form(&[("token", t3.refresh_token.as_str())]).send().await.unwrap();
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::OK, "revocation answers 200");
    let resp = h.get(paths::ME, &t3.access_token).await;
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "a revoked session's access token is refused");

    // A third session signed out by access token, and one ended from another device.
    let t4 =
        ok_tokens(&h, &mut flow, "third sign-in", &TokenRequest::password("alice", PASSWORD, CLIENT, &device)).await;
    let t5 =
        ok_tokens(&h, &mut flow, "fourth sign-in", &TokenRequest::password("alice", PASSWORD, CLIENT, &device)).await;
    let resp = h.post(paths::SESSIONS_REVOKE_OTHERS, &t5.access_token).await;
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::OK, "revoke-others must succeed for the flow to cover it");
    let resp = h.http.post(h.url(paths::REVOKE)).form(&[("token", t5.access_token.as_str())]).send().await.unwrap();
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::OK, "revoking by access token answers 200");
    let resp = h.get(paths::ME, &t4.access_token).await;
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "revoke-others ended the third session");

    // A bad bearer token and a bad refresh token.
    let bad_token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIiwic2lkIjoiZm9yZ2VkIn0.Zm9yZ2VkLXNpZ25hdHVyZS1ieXRlcw";
    flow.keep("bad bearer token", bad_token);
    let resp = h.get(paths::ME, bad_token).await;
    flow.saw(&resp);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "a bad token is refused");
    let bad_refresh = "trt_unknownRefreshTokenThatMustNotBeLogged0000000";
    flow.keep("unknown refresh token", bad_refresh);
    let resp = token(&h, &mut flow, &TokenRequest::refresh(bad_refresh, CLIENT)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "an unknown refresh token is refused");

    // A failed sign-in, by a known and by an unknown user.
    for user in ["alice", "mallory"] {
        let resp = token(&h, &mut flow, &TokenRequest::password(user, wrong_password, CLIENT, &device)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "a wrong password is refused");
    }

    h.server.kill().await;
    let text = String::from_utf8_lossy(&log.lock().unwrap_or_else(|p| p.into_inner())).into_owned();

    // The capture must work, or the absence of secrets proves nothing.
    assert!(!text.is_empty(), "the subscriber must have captured the server's logs");
    assert!(flow.request_ids.len() >= 20, "the flow must have made its requests: {}", flow.request_ids.len());
    for id in &flow.request_ids {
        assert!(text.contains(id.as_str()), "each request's log lines must carry its request id {id}");
    }
    assert!(text.contains(&flow.session_ids[0]), "logs name sessions by id (not by token), so incidents can be traced");
    assert!(text.contains("reuse detected"), "the reuse detection must be logged");

    for (what, secret) in &flow.secrets {
        assert!(!text.contains(secret.as_str()), "the {what} must never appear in a log line");
        for piece in pieces(secret, 16) {
            assert!(
                !text.contains(piece),
                "no 16-character piece of the {what} may appear in a log line, found {piece:?}"
            );
        }
        for part in secret.split(['.', '_']).filter(|p| p.len() > 16) {
            assert!(!text.contains(part), "no segment of the {what} may appear in a log line");
        }
    }
}
