//! Bad input of every shape — wrong or missing content types, empty, oversized, truncated,
//! duplicated, non-UTF-8 or huge fields, unknown grants, wrong methods and paths, broken
//! `Authorization` headers — is answered with a documented 4xx carrying an `ErrorBody`, never a
//! 5xx, and leaves the server able to sign people in.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{CLIENT, Harness, PASSWORD, config};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use tessera_protocol::{ErrorBody, ErrorCode, OAuthError, SessionList, paths};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FORM: &str = "application/x-www-form-urlencoded";

/// How a case authenticates.
#[derive(Clone)]
enum Auth {
    /// No `Authorization` header.
    None,
    /// This exact header value (any bytes).
    Raw(Vec<u8>),
    /// A valid access token of alice's session.
    Valid,
}

/// One request and the error it must get.
struct Case {
    name: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    auth: Auth,
    body: Vec<u8>,
    status: StatusCode,
    code: ErrorCode,
}

fn case(name: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        content_type: None,
        auth: Auth::None,
        body: Vec::new(),
        status: StatusCode::BAD_REQUEST,
        code: ErrorCode::InvalidRequest,
    }
}

/// A POST of a form body (with the right Content-Type) to `path`.
fn form(name: impl Into<String>, path: &str, body: impl Into<Vec<u8>>) -> Case {
    case(name, Method::POST, path).content_type(FORM).body(body)
}

impl Case {
    fn content_type(mut self, value: &'static str) -> Self {
        self.content_type = Some(value);
        self
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    fn expect(mut self, status: StatusCode, code: ErrorCode) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

/// The OAuth `error` each Tessera code travels with (RFC 6749 §5.2, RFC 6750 §3.1), as
/// docs/protocol.md documents it.
fn oauth_error_of(code: ErrorCode) -> OAuthError {
    match code {
        ErrorCode::InvalidRequest | ErrorCode::PayloadTooLarge | ErrorCode::UnsupportedMediaType => {
            OAuthError::InvalidRequest
        }
        ErrorCode::MethodNotAllowed => OAuthError::InvalidRequest,
        ErrorCode::InvalidClient => OAuthError::InvalidClient,
        ErrorCode::UnsupportedGrantType => OAuthError::UnsupportedGrantType,
        ErrorCode::InvalidCredentials | ErrorCode::InvalidRefreshToken => OAuthError::InvalidGrant,
        ErrorCode::InvalidToken | ErrorCode::SessionRevoked => OAuthError::InvalidToken,
        ErrorCode::NotFound | ErrorCode::Forbidden | ErrorCode::RateLimited => OAuthError::RequestRefused,
        other => panic!("no case in this sweep expects {other:?}"),
    }
}

/// Sends every case and returns a description of each one answered wrongly (empty = all good).
async fn sweep(h: &Harness, access_token: &str, cases: Vec<Case>) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let mut req = h.http.request(c.method.clone(), h.url(&c.path)).body(c.body.clone());
        if let Some(ct) = c.content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        match &c.auth {
            Auth::None => {}
            Auth::Raw(bytes) => {
                req = req.header(AUTHORIZATION, HeaderValue::from_bytes(bytes).expect("test header bytes are legal"));
            }
            Auth::Valid => req = req.bearer_auth(access_token),
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{}: the server must answer, not drop: {e}", c.name));
        let status = resp.status();
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = resp.text().await.unwrap_or_default();
        let shown: String = text.chars().take(200).collect();
        if status.is_server_error() {
            failures.push(format!("{}: got {status} — bad input must never be a 5xx; body: {shown}", c.name));
            continue;
        }
        if status != c.status {
            failures.push(format!("{}: got {status}, documented {}; body: {shown}", c.name, c.status));
            continue;
        }
        if !content_type.starts_with("application/json") {
            failures.push(format!("{}: Content-Type {content_type:?}, every error is JSON; body: {shown}", c.name));
            continue;
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Err(e) => failures.push(format!("{}: body is not an ErrorBody ({e}): {shown}", c.name)),
            Ok(body) if body.code != c.code => {
                failures.push(format!("{}: code {:?}, documented {:?}; body: {shown}", c.name, body.code, c.code));
            }
            Ok(body) if body.error != oauth_error_of(c.code) => failures.push(format!(
                "{}: OAuth error {:?}, documented {:?} for {:?}; body: {shown}",
                c.name,
                body.error,
                oauth_error_of(c.code),
                c.code
            )),
            Ok(_) => {}
        }
    }
    failures
}

fn assert_sweep_clean(failures: &[String], what: &str) {
    assert!(
        failures.is_empty(),
        "{what}: {} request(s) not answered as documented:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// After the abuse, an ordinary user still signs in and works.
async fn assert_still_serves_sign_in(h: &Harness) {
    let t = h.sign_in_as("bob", "after the sweep").await;
    let resp = h.get(paths::ME, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "the server must still serve a normal sign-in after bad input");
}

fn password_form(extra: &str) -> String {
    format!("grant_type=password&username=alice&password=wrong-password&client_id={CLIENT}{extra}")
}

#[tokio::test]
async fn token_endpoint_refuses_malformed_forms_with_documented_errors() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let limit = h.server.state.config.max_body_bytes;
    let token = paths::TOKEN;
    let bad_credentials = |c: Case| c.expect(StatusCode::BAD_REQUEST, ErrorCode::InvalidCredentials);
    let unsupported = |c: Case| c.expect(StatusCode::BAD_REQUEST, ErrorCode::UnsupportedGrantType);
    let media = |c: Case| c.expect(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType);
    let good_body = format!("grant_type=password&username=alice&password={PASSWORD}&client_id={CLIENT}");
    let cases = vec![
        // Content types (RFC 6749 §3.2: the token endpoint takes application/x-www-form-urlencoded).
        media(case("no Content-Type", Method::POST, token).body(good_body.clone())),
        media(case("JSON body", Method::POST, token).content_type("application/json").body(
            serde_json::json!({"grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": CLIENT})
                .to_string(),
        )),
        media(case("text/plain", Method::POST, token).content_type("text/plain").body(good_body.clone())),
        media(case("multipart", Method::POST, token).content_type("multipart/form-data; boundary=x").body(good_body.clone())),
        media(case("look-alike type", Method::POST, token).content_type("application/x-www-form-urlencodedx").body(good_body.clone())),
        media(case("empty body, no type", Method::POST, token)),
        // Empty and structurally broken bodies.
        form("empty form", token, ""),
        form("only separators", token, "&&&==&"),
        form("key without value", token, "grant_type"),
        form("value without key", token, "=password"),
        // Oversized: one byte over the configured limit.
        form("body over max_body_bytes", token, format!("{}&pad={}", password_form(""), "a".repeat(limit)))
            .expect(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
        // Truncated or invalid percent-encoding decodes leniently (WHATWG urlencoded) and the
        // request is then judged on its fields.
        unsupported(form("truncated escape in grant_type", token, format!("grant_type=passw%6&client_id={CLIENT}"))),
        unsupported(form("bare % in grant_type", token, format!("grant_type=%&client_id={CLIENT}"))),
        unsupported(form("non-hex escape in grant_type", token, format!("grant_type=%zzpassword&client_id={CLIENT}"))),
        bad_credentials(form("truncated UTF-8 escape in password", token, password_form("").replace("wrong-password", "%E2%82"))),
        bad_credentials(form("invalid escape in username", token, password_form("").replace("username=alice", "username=%ZZalice"))),
        bad_credentials(form("NUL in username", token, password_form("").replace("username=alice", "username=%00alice"))),
        // Missing fields.
        form("password grant without username and password", token, format!("grant_type=password&client_id={CLIENT}")),
        form("password grant without password", token, format!("grant_type=password&username=alice&client_id={CLIENT}")),
        form("password grant with empty username", token, format!("grant_type=password&username=&password=x&client_id={CLIENT}")),
        form("no client_id", token, "grant_type=password&username=alice&password=x"),
        form("empty client_id", token, "grant_type=password&username=alice&password=x&client_id="),
        form("no grant_type", token, format!("username=alice&password=x&client_id={CLIENT}")),
        form("empty grant_type", token, format!("grant_type=&client_id={CLIENT}")),
        form("refresh grant without refresh_token", token, format!("grant_type=refresh_token&client_id={CLIENT}")),
        form("refresh grant with empty refresh_token", token, format!("grant_type=refresh_token&refresh_token=&client_id={CLIENT}")),
        // Duplicate fields (RFC 6749 §3.2: parameters must not be included more than once).
        form("duplicate grant_type", token, password_form("&grant_type=refresh_token")),
        form("duplicate password", token, password_form(&format!("&password={PASSWORD}"))),
        form("duplicate client_id", token, password_form("&client_id=tessera-desktop")),
        form("duplicate refresh_token", token, format!("grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id={CLIENT}")),
        // Huge field values (all inside the body limit).
        form("username of 129 chars", token, password_form("").replace("username=alice", &format!("username={}", "u".repeat(129)))),
        form("username of 10 000 chars", token, password_form("").replace("username=alice", &format!("username={}", "u".repeat(10_000)))),
        form("password of 1 025 chars", token, password_form("").replace("wrong-password", &"p".repeat(1025))),
        unsupported(form("grant_type of 10 000 chars", token, format!("grant_type={}&client_id={CLIENT}", "g".repeat(10_000)))),
        form("client_id of 10 000 chars", token, format!("grant_type=password&username=alice&password=x&client_id={}", "c".repeat(10_000)))
            .expect(StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient),
        form("refresh_token of 10 000 chars", token, format!("grant_type=refresh_token&refresh_token=trt_{}&client_id={CLIENT}", "r".repeat(10_000)))
            .expect(StatusCode::BAD_REQUEST, ErrorCode::InvalidRefreshToken),
        // Non-UTF-8 bytes, raw (not percent-encoded).
        bad_credentials(form("raw non-UTF-8 password", token, [b"grant_type=password&username=alice&password=\xff\xfe\x80&client_id=".as_slice(), CLIENT.as_bytes()].concat())),
        unsupported(form("raw non-UTF-8 grant_type", token, [b"grant_type=pass\xc3\x28word&client_id=".as_slice(), CLIENT.as_bytes()].concat())),
        form("raw non-UTF-8 client_id", token, b"grant_type=password&username=alice&password=x&client_id=\xff".to_vec())
            .expect(StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient),
        // Unknown grants and clients.
        unsupported(form("client_credentials grant", token, format!("grant_type=client_credentials&client_id={CLIENT}"))),
        form("authorization_code grant without verifier", token, format!("grant_type=authorization_code&code=x&client_id={CLIENT}"))
            .expect(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
        unsupported(form("grant names are case-sensitive", token, password_form("").replace("grant_type=password", "grant_type=PASSWORD"))),
        unsupported(form("URN grant", token, format!("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id={CLIENT}"))),
        form("unknown client", token, password_form("").replace(CLIENT, "evil-client"))
            .expect(StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient),
        // A refresh token that is not one.
        form("access token as refresh token", token, format!("grant_type=refresh_token&refresh_token={}&client_id={CLIENT}", t.access_token))
            .expect(StatusCode::BAD_REQUEST, ErrorCode::InvalidRefreshToken),
    ];
    let failures = sweep(&h, &t.access_token, cases).await;
    assert_sweep_clean(&failures, "POST /oauth/token");
    assert_eq!(
        h.refresh(&t.refresh_token).await.status(),
        StatusCode::OK,
        "bad input must not disturb alice's session"
    );
    assert_still_serves_sign_in(&h).await;
}

#[tokio::test]
async fn revoke_endpoint_refuses_malformed_forms_but_accepts_any_token_shape() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let limit = h.server.state.config.max_body_bytes;
    let revoke = paths::REVOKE;
    let media = |c: Case| c.expect(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType);
    let cases = vec![
        media(case("no Content-Type", Method::POST, revoke).body(format!("token={}", t.refresh_token))),
        media(
            case("JSON body", Method::POST, revoke)
                .content_type("application/json")
                .body(format!(r#"{{"token":"{}"}}"#, t.refresh_token)),
        ),
        media(case("empty body, no type", Method::POST, revoke)),
        form("empty form", revoke, ""),
        form("no token field", revoke, "token_type_hint=refresh_token"),
        form("empty token", revoke, "token="),
        form("duplicate token", revoke, format!("token=a&token={}", t.refresh_token)),
        form("duplicate hint", revoke, "token=a&token_type_hint=refresh_token&token_type_hint=access_token"),
        form("body over max_body_bytes", revoke, format!("token={}", "t".repeat(limit)))
            .expect(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
    ];
    let failures = sweep(&h, &t.access_token, cases).await;
    assert_sweep_clean(&failures, "POST /oauth/revoke");

    // RFC 7009 §2.2: an invalid token is not an error — 200, and nothing happens.
    let odd_tokens: Vec<Vec<u8>> = vec![
        b"token=garbage".to_vec(),
        b"token=trt_".to_vec(),
        format!("token=trt_{}", "x".repeat(10_000)).into_bytes(),
        format!("token={}", "e".repeat(10_000)).into_bytes(),
        b"token=%E2%82%ff&token_type_hint=unknown_hint".to_vec(),
        b"token=\xff\xfe\xfd".to_vec(),
        b"token=a.b.c".to_vec(),
    ];
    for body in odd_tokens {
        let resp = h.http.post(h.url(revoke)).header(CONTENT_TYPE, FORM).body(body.clone()).send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "RFC 7009 §2.2: revoking an invalid token answers 200 ({:?})",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
    }
    assert_eq!(
        h.get(paths::ME, &t.access_token).await.status(),
        StatusCode::OK,
        "odd revocations must not end alice's session"
    );
    assert_still_serves_sign_in(&h).await;
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_get_json_errors() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let not_allowed = |method: Method, path: &str| {
        case(format!("{method} {path}"), method, path)
            .expect(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
    };
    let not_found = |method: Method, path: &str| {
        case(format!("{method} {path}"), method, path)
            .auth(Auth::Valid)
            .expect(StatusCode::NOT_FOUND, ErrorCode::NotFound)
    };
    let one_session = paths::session(&t.session_id);
    let cases = vec![
        not_allowed(Method::GET, paths::TOKEN),
        not_allowed(Method::PUT, paths::TOKEN),
        not_allowed(Method::DELETE, paths::TOKEN),
        not_allowed(Method::GET, paths::REVOKE),
        not_allowed(Method::OPTIONS, paths::REVOKE),
        not_allowed(Method::POST, paths::ME),
        not_allowed(Method::POST, paths::SESSION),
        not_allowed(Method::GET, paths::SESSION_ACTIVITY),
        not_allowed(Method::PUT, paths::SESSIONS),
        not_allowed(Method::DELETE, paths::SESSIONS),
        not_allowed(Method::GET, paths::SESSIONS_REVOKE_OTHERS),
        not_allowed(Method::GET, &one_session),
        not_allowed(Method::PATCH, &one_session),
        not_allowed(Method::DELETE, paths::AUDIT),
        not_allowed(Method::POST, paths::JWKS),
        not_allowed(Method::POST, paths::DISCOVERY),
        not_allowed(Method::POST, paths::HEALTHZ),
        not_allowed(Method::DELETE, paths::METRICS),
        not_found(Method::GET, "/"),
        not_found(Method::GET, "/oauth"),
        not_found(Method::GET, "/oauth/introspect"),
        not_allowed(Method::DELETE, paths::AUTHORIZE),
        not_found(Method::POST, "/oauth/token/extra"),
        not_found(Method::GET, "/api"),
        not_found(Method::GET, "/api/nope"),
        not_found(Method::GET, "/api/me/"),
        not_found(Method::DELETE, "/api/sessions/a/b"),
        not_found(Method::GET, "/.well-known/nope"),
        not_found(Method::GET, "/%ff%fe"),
        not_found(Method::GET, "/api/%00"),
        not_found(Method::GET, "/../../etc/passwd"),
        not_found(Method::GET, &format!("/{}", "x".repeat(8_000))),
    ];
    let failures = sweep(&h, &t.access_token, cases).await;
    assert_sweep_clean(&failures, "methods and paths");
    assert_still_serves_sign_in(&h).await;
}

/// Every `/api` endpoint with its method.
fn api_endpoints() -> Vec<(Method, String)> {
    vec![
        (Method::GET, paths::ME.into()),
        (Method::GET, paths::SESSION.into()),
        (Method::POST, paths::SESSION_ACTIVITY.into()),
        (Method::GET, paths::SESSIONS.into()),
        (Method::POST, paths::SESSIONS_REVOKE_OTHERS.into()),
        (Method::DELETE, paths::session("some-session")),
        (Method::GET, paths::AUDIT.into()),
    ]
}

#[tokio::test]
async fn api_refuses_every_broken_authorization_header_with_invalid_token() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let headers: Vec<(&str, Auth)> = vec![
        ("no Authorization header", Auth::None),
        ("token without a scheme", Auth::Raw(t.access_token.clone().into_bytes())),
        ("Basic credentials", Auth::Raw(b"Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5".to_vec())),
        ("other scheme with a valid token", Auth::Raw(format!("Token {}", t.access_token).into_bytes())),
        ("bare Bearer", Auth::Raw(b"Bearer".to_vec())),
        ("empty bearer", Auth::Raw(b"Bearer ".to_vec())),
        ("blank bearer", Auth::Raw(b"Bearer \t  ".to_vec())),
        ("10 KB bearer token", Auth::Raw(format!("Bearer {}", "A".repeat(10 * 1024)).into_bytes())),
        ("non-ASCII bearer token", Auth::Raw("Bearer jéton-ünïcødé".as_bytes().to_vec())),
        ("obs-text bytes", Auth::Raw(b"Bearer \xff\xfe\x80\x81".to_vec())),
        ("token with spaces", Auth::Raw(format!("Bearer {} extra", t.access_token).into_bytes())),
        ("garbage JWT", Auth::Raw(b"Bearer eyJ.eyJ.sig".to_vec())),
        ("refresh token", Auth::Raw(format!("Bearer {}", t.refresh_token).into_bytes())),
    ];
    let mut cases = Vec::new();
    for (method, path) in api_endpoints() {
        for (what, auth) in &headers {
            cases.push(
                case(format!("{method} {path} with {what}"), method.clone(), path.clone())
                    .auth(auth.clone())
                    .expect(StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken),
            );
        }
    }
    let failures = sweep(&h, &t.access_token, cases).await;
    assert_sweep_clean(&failures, "broken Authorization headers");

    // RFC 6750 §3: a 401 names the Bearer scheme so clients know how to authenticate; §3.1: a
    // request with no credentials at all gets no error code in the challenge.
    let resp = h.http.get(h.url(paths::ME)).send().await.unwrap();
    let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(challenge, "Bearer realm=\"tessera\"", "no credentials: a bare Bearer challenge");
    let resp = h.get(paths::ME, "not-a-jwt").await;
    let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "a bad token names the error, got {challenge:?}");
    assert_eq!(h.get(paths::ME, &t.access_token).await.status(), StatusCode::OK, "alice's real token keeps working");
    assert_still_serves_sign_in(&h).await;
}

#[tokio::test]
async fn api_refuses_malformed_queries_and_path_ids_with_documented_errors() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let bob = h.sign_in_as("bob", "bob's desk").await;
    let with_token = |name: &str, method: Method, path: String| case(name, method, path).auth(Auth::Valid);
    let cases = vec![
        with_token("audit limit not a number", Method::GET, format!("{}?limit=abc", paths::AUDIT)),
        with_token("audit limit 0", Method::GET, format!("{}?limit=0", paths::AUDIT)),
        with_token("audit limit too large", Method::GET, format!("{}?limit=501", paths::AUDIT)),
        with_token("audit limit negative", Method::GET, format!("{}?limit=-1", paths::AUDIT)),
        with_token("audit limit overflows i64", Method::GET, format!("{}?limit=99999999999999999999999", paths::AUDIT)),
        with_token("audit limit twice", Method::GET, format!("{}?limit=1&limit=2", paths::AUDIT)),
        with_token("audit limit non-UTF-8", Method::GET, format!("{}?limit=%ff", paths::AUDIT)),
        with_token("session id not UTF-8", Method::DELETE, paths::session("%ff%fe")),
        with_token("unknown session id", Method::DELETE, paths::session("00000000-0000-0000-0000-000000000000"))
            .expect(StatusCode::NOT_FOUND, ErrorCode::NotFound),
        with_token("session id of 8 000 chars", Method::DELETE, paths::session(&"s".repeat(8_000)))
            .expect(StatusCode::NOT_FOUND, ErrorCode::NotFound),
        with_token("SQL in session id", Method::DELETE, paths::session("x'%20OR%20'1'%3D'1"))
            .expect(StatusCode::NOT_FOUND, ErrorCode::NotFound),
        with_token("another user's session", Method::DELETE, paths::session(&bob.session_id))
            .expect(StatusCode::NOT_FOUND, ErrorCode::NotFound),
    ];
    let failures = sweep(&h, &alice.access_token, cases).await;
    assert_sweep_clean(&failures, "/api queries and path ids");
    assert_eq!(h.get(paths::ME, &bob.access_token).await.status(), StatusCode::OK, "alice cannot sign bob out");
    let kept = h.get(&format!("{}?limit=500", paths::AUDIT), &alice.access_token).await;
    assert_eq!(kept.status(), StatusCode::OK, "the largest documented limit is accepted");
    assert_still_serves_sign_in(&h).await;
}

#[tokio::test]
async fn bodies_sent_to_api_endpoints_change_nothing() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let limit = h.server.state.config.max_body_bytes;
    let bodies: Vec<(&str, Option<&'static str>, Vec<u8>)> = vec![
        ("JSON", Some("application/json"), br#"{"user_id":"2","session_id":"x"}"#.to_vec()),
        ("form", Some(FORM), b"session_id=x&ended=1".to_vec()),
        ("oversized", Some(FORM), vec![b'a'; limit + 1]),
        ("non-UTF-8", Some("text/plain"), b"\xff\xfe\x00".to_vec()),
    ];
    // Without a token the body does not matter: 401.
    let mut cases = Vec::new();
    for (method, path) in api_endpoints() {
        for (what, content_type, body) in &bodies {
            let mut c = case(format!("{method} {path} with a {what} body"), method.clone(), path.clone())
                .body(body.clone())
                .expect(StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken);
            c.content_type = *content_type;
            cases.push(c);
        }
    }
    let failures = sweep(&h, &t.access_token, cases).await;
    assert_sweep_clean(&failures, "bodies without a token");
    // With a token, endpoints that take no body ignore it.
    for (what, content_type, body) in bodies {
        let mut req = h.http.post(h.url(paths::SESSION_ACTIVITY)).bearer_auth(&t.access_token).body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "activity takes no body; a {what} body must be ignored, not fail");
    }
    let list: SessionList = h.get(paths::SESSIONS, &t.access_token).await.json().await.unwrap();
    assert_eq!(list.sessions.len(), 1, "a body cannot create or end sessions");
}

#[tokio::test]
async fn oversized_device_descriptions_are_trimmed_and_extra_parameters_ignored() {
    let h = Harness::start(config()).await;
    // RFC 6749 §3.2: unrecognized parameters are ignored; device fields are cut to 100 chars.
    let body = format!(
        "grant_type=password&username=alice&password={}&client_id={CLIENT}&device_name={}&platform=linux%00%07&scope=admin&foo=bar",
        PASSWORD.replace(' ', "+"),
        "d".repeat(5_000)
    );
    let resp = h
        .http
        .post(h.url(paths::TOKEN))
        .header(CONTENT_TYPE, format!("{FORM}; charset=UTF-8"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a charset parameter and unknown fields must not break sign-in");
    let t: tessera_protocol::TokenResponse = resp.json().await.unwrap();
    let list: SessionList = h.get(paths::SESSIONS, &t.access_token).await.json().await.unwrap();
    let device = &list.sessions[0].device;
    assert_eq!(device.name.len(), 100, "device names are cut to 100 characters, not stored whole");
    assert_eq!(device.platform, "linux", "control characters are dropped from device fields");
}

/// Sends raw bytes and returns the status and body of the response, for framings reqwest will
/// not produce.
async fn raw_exchange(h: &Harness, request: &[u8]) -> (u16, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
        // The server may answer and close before reading everything; a failed write is fine.
        let _ = stream.write_all(request).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if length.is_some_and(|len| buf.len() >= end + 4 + len) {
                    break;
                }
            }
        }
        buf
    };
    // A deadline only so a hung server fails the test instead of hanging it.
    let buf =
        tokio::time::timeout(Duration::from_secs(60), exchange).await.expect("the server must answer a raw request");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn oversized_bodies_are_refused_however_they_are_framed() {
    let h = Harness::start(config()).await;
    let limit = h.server.state.config.max_body_bytes;
    let host = h.server.addr;

    // Chunked: no Content-Length announces the size; the limit applies as bytes arrive.
    let chunk = "a".repeat(4096);
    let mut req = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        paths::TOKEN
    );
    for _ in 0..(limit / 4096 + 2) {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    let (status, body) = raw_exchange(&h, req.as_bytes()).await;
    assert_eq!(status, 413, "a chunked body over the limit is 413; body: {body}");
    let parsed: ErrorBody =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("413 must be an ErrorBody ({e}): {body}"));
    assert_eq!(parsed.code, ErrorCode::PayloadTooLarge, "documented code for oversized bodies");

    // A Content-Length far beyond the limit, with only part of the body sent: the server must
    // refuse without waiting for the rest.
    let mut req = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n",
        paths::REVOKE
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b'a', limit + 1));
    let (status, body) = raw_exchange(&h, &req).await;
    assert_eq!(status, 413, "a declared 1 GB body is 413 without reading it all; body: {body}");
    let parsed: ErrorBody =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("413 must be an ErrorBody ({e}): {body}"));
    assert_eq!(parsed.code, ErrorCode::PayloadTooLarge, "documented code for oversized bodies");

    assert_still_serves_sign_in(&h).await;
}
