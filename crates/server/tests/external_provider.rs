//! The server as a resource server for an organisation's OpenID provider (issue 15), with both
//! as real processes on loopback: a reference server signs people in (the provider), a second
//! one trusts its tokens (`external_issuer`). Browser sign-in at the provider through the CLI is
//! in the CLI's tests; here tokens come from the provider's password grant, to reach the
//! resource server's rules quickly.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_process;
mod ws_support;

use reqwest::StatusCode;
use serde_json::Value;
use server_process::{ServerProcess, command, run, serve_args};
use tessera_protocol::{
    ClientSetup, DEVICE_NAME_HEADER, DEVICE_SESSION_HEADER, DeviceInfo, ErrorBody, ErrorCode, TokenRequest,
    TokenResponse, paths,
};
use ws_support::{expect_revoked, next_notification, send_resume, try_connect_with};

/// The provider (`serve --demo`: password grant on, demo users printed) and a resource server
/// trusting it with `extra` settings.
struct Pair {
    idp: ServerProcess,
    rs: ServerProcess,
    rs_dir: tempfile::TempDir,
    _idp_dir: tempfile::TempDir,
    http: reqwest::Client,
}

async fn start_rs(dir: &std::path::Path, issuer: &str, extra: &[(&str, &str)]) -> ServerProcess {
    let mut cmd = command(&serve_args(dir, false));
    cmd.env("TESSERA_SERVER_EXTERNAL_ISSUER", issuer).env("TESSERA_SERVER_EXTERNAL_CLIENT_ID", "tessera-cli");
    cmd.envs(extra.iter().copied());
    ServerProcess::start_command(cmd).await
}

async fn pair(extra: &[(&str, &str)]) -> Pair {
    let idp_dir = tempfile::tempdir().unwrap();
    let idp = ServerProcess::start(idp_dir.path(), true).await;
    let rs_dir = tempfile::tempdir().unwrap();
    let rs = start_rs(rs_dir.path(), &idp.url, extra).await;
    Pair { idp, rs, rs_dir, _idp_dir: idp_dir, http: reqwest::Client::new() }
}

impl Pair {
    /// A password sign-in at the provider as `client_id`.
    async fn sign_in(&self, user: &str, client_id: &str) -> TokenResponse {
        let device = DeviceInfo { name: "idp test".into(), platform: "linux".into(), app_version: "0.1.0".into() };
        let req = TokenRequest::password(user, &self.idp.passwords[user], client_id, &device);
        let resp = self.http.post(self.idp.url(paths::TOKEN)).form(&req).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "the provider signs {user} in");
        resp.json().await.unwrap()
    }

    async fn refresh(&self, refresh_token: &str) -> TokenResponse {
        let req = TokenRequest::refresh(refresh_token, "tessera-cli");
        let resp = self.http.post(self.idp.url(paths::TOKEN)).form(&req).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "the provider refreshes");
        resp.json().await.unwrap()
    }

    async fn get(&self, path: &str, token: &str, device: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.rs.url(path)).bearer_auth(token);
        if let Some(device) = device {
            req = req.header(DEVICE_SESSION_HEADER, device).header(DEVICE_NAME_HEADER, format!("desk {device}"));
        }
        req.send().await.unwrap()
    }
}

async fn error_of(resp: reqwest::Response, status: StatusCode) -> ErrorBody {
    assert_eq!(resp.status(), status, "status");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn the_resource_server_names_the_provider_and_signs_nobody_in() {
    let p = pair(&[]).await;
    let setup: ClientSetup = p.http.get(p.rs.url(paths::CLIENT_CONFIG)).send().await.unwrap().json().await.unwrap();
    assert_eq!(setup.issuer, p.idp.url, "clients are sent to the provider");
    assert_eq!(setup.client_id.as_deref(), Some("tessera-cli"));
    assert!(setup.external && setup.scopes.contains("offline_access"));
    let own: ClientSetup = p.http.get(p.idp.url(paths::CLIENT_CONFIG)).send().await.unwrap().json().await.unwrap();
    assert!(!own.external && own.client_id.is_none(), "a server that signs people in names itself: {own:?}");
    for path in [paths::DISCOVERY, paths::TOKEN, paths::AUTHORIZE, paths::DEVICE_AUTHORIZATION, paths::JWKS] {
        let body = error_of(p.http.get(p.rs.url(path)).send().await.unwrap(), StatusCode::NOT_FOUND).await;
        assert_eq!(body.code, ErrorCode::SignInElsewhere, "{path} is off");
        assert!(body.error_description.unwrap().contains(&p.idp.url), "{path} names the provider");
    }
    let req = TokenRequest::password(
        "alice",
        "whatever",
        "tessera-cli",
        &DeviceInfo { name: "x".into(), platform: "linux".into(), app_version: "0".into() },
    );
    let resp = p.http.post(p.rs.url(paths::TOKEN)).form(&req).send().await.unwrap();
    assert_eq!(error_of(resp, StatusCode::NOT_FOUND).await.code, ErrorCode::SignInElsewhere, "no password grant");
}

#[tokio::test]
async fn provider_tokens_work_users_are_created_and_foreign_ones_are_refused() {
    let p = pair(&[]).await;
    let alice = p.sign_in("alice", "tessera-cli").await;
    let me: Value = p.get(paths::ME, &alice.access_token, Some("d1")).await.json().await.unwrap();
    assert_eq!(me["username"], "alice", "the login name comes from the provider's userinfo: {me}");
    assert_eq!(me["role"], "agent", "no role claim configured: an agent");
    let again: Value = p.get(paths::ME, &alice.access_token, Some("d1")).await.json().await.unwrap();
    assert_eq!(again["user_id"], me["user_id"], "the same subject is the same user");
    let bob = p.sign_in("bob", "tessera-cli").await;
    let bob_me: Value = p.get(paths::ME, &bob.access_token, None).await.json().await.unwrap();
    assert_eq!(bob_me["username"], "bob");
    assert_ne!(bob_me["user_id"], me["user_id"]);

    // Issued to another client (no audience configured: the client id must be ours).
    let desktop = p.sign_in("alice", "tessera-desktop").await;
    let body = error_of(p.get(paths::ME, &desktop.access_token, None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body.code, ErrorCode::InvalidToken);
    assert!(body.error_description.unwrap().contains("another client"));
    // A tampered token: the signature no longer verifies.
    let mut forged = alice.access_token.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let body = error_of(p.get(paths::ME, &forged, None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body.code, ErrorCode::InvalidToken, "{body:?}");
    let opaque = error_of(p.get(paths::ME, "not-a-jwt-at-all", None).await, StatusCode::UNAUTHORIZED).await;
    assert!(opaque.error_description.unwrap().contains("introspection"), "an opaque token says what is missing");
}

#[tokio::test]
async fn a_device_signed_out_from_the_devices_list_is_refused_at_once_and_hears_it() {
    let p = pair(&[]).await;
    let first = p.sign_in("alice", "tessera-cli").await;
    let second = p.sign_in("alice", "tessera-cli").await;
    let headers = |device: &'static str| [(DEVICE_SESSION_HEADER, device), (DEVICE_NAME_HEADER, device)];
    assert_eq!(p.get(paths::ME, &first.access_token, Some("front-desk")).await.status(), StatusCode::OK);
    let mut ws = try_connect_with(&p.rs.url, &first.access_token, &headers("front-desk")).await.unwrap();
    send_resume(&mut ws, 0, None).await;
    let _ = ws_support::next_message(&mut ws).await; // resumed

    // A notification reaches the stream the provider's token opened.
    let dir = p.rs_dir.path().to_str().unwrap();
    let (status, _, stderr) =
        run(&["notify", "--user", "alice", "--message", "hello", "--data-dir", dir], &[], None).await;
    assert!(status.success(), "notify: {stderr}");
    assert_eq!(next_notification(&mut ws).await.payload["message"], "hello");

    let list: Value = p.get(paths::SESSIONS, &second.access_token, Some("back-office")).await.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "two devices: {list}");
    let front = sessions
        .iter()
        .find(|s| s["device"]["name"] == "desk front-desk")
        .unwrap_or_else(|| panic!("the first device is listed: {list}"));
    let url = p.rs.url(&format!("{}/{}", paths::SESSIONS, front["id"].as_str().unwrap()));
    let resp = p.http.delete(url).bearer_auth(&second.access_token).header(DEVICE_SESSION_HEADER, "back-office");
    assert!(resp.send().await.unwrap().status().is_success(), "the other device signs it out");
    expect_revoked(&mut ws, ErrorCode::SessionRevoked).await;

    // Its token, and a fresh one the provider issues it by refresh, are refused from now on.
    let body = error_of(p.get(paths::ME, &first.access_token, Some("front-desk")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(body.await.code, ErrorCode::SessionRevoked);
    let refreshed = p.refresh(&first.refresh_token).await;
    let body = error_of(p.get(paths::ME, &refreshed.access_token, Some("front-desk")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(body.await.code, ErrorCode::SessionRevoked, "the device stays signed out");
    assert_eq!(p.get(paths::ME, &second.access_token, Some("back-office")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_audience_is_checked_and_a_provider_that_is_down_is_not_a_sign_out() {
    let idp_dir = tempfile::tempdir().unwrap();
    let idp = ServerProcess::start(idp_dir.path(), true).await;
    let rs_dir = tempfile::tempdir().unwrap();
    let aud = start_rs(rs_dir.path(), &idp.url, &[("TESSERA_SERVER_EXTERNAL_AUDIENCE", &idp.url)]).await;
    let other_dir = tempfile::tempdir().unwrap();
    let wrong =
        start_rs(other_dir.path(), &idp.url, &[("TESSERA_SERVER_EXTERNAL_AUDIENCE", "https://tessera.example")]).await;
    let p = Pair { idp, rs: aud, rs_dir, _idp_dir: idp_dir, http: reqwest::Client::new() };
    let alice = p.sign_in("alice", "tessera-desktop").await;
    assert_eq!(p.get(paths::ME, &alice.access_token, None).await.status(), StatusCode::OK, "aud names this server");
    let resp = p.http.get(wrong.url(paths::ME)).bearer_auth(&alice.access_token).send().await.unwrap();
    let body = error_of(resp, StatusCode::UNAUTHORIZED).await;
    assert!(body.error_description.unwrap().contains("aud"), "a token for another audience is refused");

    // The provider goes away: keys already read keep working; a server that never read them
    // answers 503 provider_unavailable (retry), not 401 (which would sign the user out).
    let Pair { idp, rs, http, .. } = p;
    let _ = idp.terminate().await;
    let resp = http.get(rs.url(paths::ME)).bearer_auth(&alice.access_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "cached keys need no provider");
    let fresh_dir = tempfile::tempdir().unwrap();
    let gone = "http://127.0.0.1:9"; // discard port: nothing listens
    let fresh = start_rs(fresh_dir.path(), gone, &[]).await;
    let resp = http.get(fresh.url(paths::ME)).bearer_auth(&alice.access_token).send().await.unwrap();
    assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()).as_deref(), Some("5"));
    let body = error_of(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body.code, ErrorCode::ProviderUnavailable);
}
