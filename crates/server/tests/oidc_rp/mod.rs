//! A relying party written from the specs (RFC 6749 §4.1, RFC 7636, RFC 9207, OpenID Connect
//! Core §3.1): it drives the server's sign-in page over real HTTP with redirects disabled, keeps
//! the page's cookie by hand, and checks the id_token against the JWKS.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use tessera_protocol::pkce::CodeVerifier;
use tessera_protocol::{AuthorizeParams, DeviceInfo, IdTokenClaims, TokenRequest, paths};

use crate::common::{CLIENT, Harness, PASSWORD};

/// One authorization request's secrets, as the client keeps them.
pub struct Authz {
    pub verifier: CodeVerifier,
    pub state: String,
    pub nonce: String,
    pub redirect_uri: String,
}

impl Authz {
    pub fn new() -> Self {
        Self {
            verifier: CodeVerifier::generate(),
            state: tessera_protocol::pkce::random_urlsafe(16),
            nonce: tessera_protocol::pkce::random_urlsafe(16),
            redirect_uri: "http://127.0.0.1:49152/callback".into(),
        }
    }

    /// A valid authorization request for it.
    pub fn params(&self) -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some(CLIENT.into()),
            redirect_uri: Some(self.redirect_uri.clone()),
            scope: Some(tessera_protocol::oidc::SCOPES.into()),
            state: Some(self.state.clone()),
            nonce: Some(self.nonce.clone()),
            code_challenge: Some(self.verifier.challenge().as_str().to_owned()),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        }
    }
}

/// The sign-in form as served: its hidden fields and the cookie set with it.
#[derive(Debug, Clone)]
pub struct FormPage {
    pub pending: String,
    pub csrf: String,
    pub cookie: String,
    pub html: String,
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `value` of the input named `name` (simple string search; our values need no unescaping).
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

pub async fn authorize(http: &reqwest::Client, h: &Harness, params: &AuthorizeParams) -> reqwest::Response {
    let query = serde_urlencoded::to_string(params).unwrap();
    http.get(format!("{}?{query}", h.url(paths::AUTHORIZE))).send().await.unwrap()
}

/// GETs the form for `params`, asserting it is the sign-in page.
pub async fn form(http: &reqwest::Client, h: &Harness, params: &AuthorizeParams) -> FormPage {
    let resp = authorize(http, h, params).await;
    assert_eq!(resp.status(), StatusCode::OK, "a valid request shows the sign-in form");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("tessera_csrf="))
        .expect("the form comes with its CSRF cookie");
    let html = resp.text().await.unwrap();
    let pending = hidden(&html, "pending").expect("hidden field pending");
    let csrf = hidden(&html, "csrf").expect("hidden field csrf");
    FormPage { pending, csrf, cookie, html }
}

/// POSTs the form with `fields` (name, value) and the given cookie header.
pub async fn post_form(
    http: &reqwest::Client,
    h: &Harness,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    http.post(h.url(paths::AUTHORIZE)).header("cookie", cookie).form(fields).send().await.unwrap()
}

pub async fn submit(
    http: &reqwest::Client,
    h: &Harness,
    page: &FormPage,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let fields = [("pending", page.pending.as_str()), ("csrf", &page.csrf), ("username", user), ("password", password)];
    post_form(http, h, &page.cookie, &fields).await
}

/// The query of a 303's `Location`, asserting it goes to `redirect_uri`.
pub fn redirected_to(resp: &reqwest::Response, redirect_uri: &str) -> HashMap<String, String> {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the answer is a 303 redirect");
    let location = resp.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    assert_eq!(&url[..url::Position::AfterPath], redirect_uri, "it goes back to the registered redirect URI");
    url.query_pairs().into_owned().collect()
}

/// Signs `user` in through the page and returns the code, checking `state` and `iss`.
pub async fn code_for(http: &reqwest::Client, h: &Harness, authz: &Authz, user: &str) -> String {
    let page = form(http, h, &authz.params()).await;
    let resp = submit(http, h, &page, user, PASSWORD).await;
    let query = redirected_to(&resp, &authz.redirect_uri);
    assert_eq!(query.get("state"), Some(&authz.state), "state is echoed (RFC 6749 §4.1.2)");
    assert_eq!(query.get("iss"), Some(&h.server.url), "iss names the issuer (RFC 9207)");
    query.get("code").expect("a code").clone()
}

pub fn device() -> DeviceInfo {
    DeviceInfo { name: "browser test".into(), platform: "linux".into(), app_version: "0.1.0".into() }
}

pub async fn exchange(h: &Harness, authz: &Authz, code: &str) -> reqwest::Response {
    let req = TokenRequest::authorization_code(code, &authz.redirect_uri, authz.verifier.expose(), CLIENT, &device());
    h.token(&req).await
}

/// Verifies the id_token as a relying party must (OIDC Core §3.1.3.7): RS256 signature by the
/// JWKS key its `kid` names, `iss`, `aud`, `exp`, then the `nonce` of this request.
pub async fn verify_id_token(h: &Harness, token: &str, authz: &Authz) -> IdTokenClaims {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256, "id_tokens are RS256");
    let jwks: serde_json::Value = h.http.get(h.url(paths::JWKS)).send().await.unwrap().json().await.unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the id_token's kid is in the JWKS");
    assert_eq!(key["kty"], "RSA", "the id_token key is RSA");
    let decoding = DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[CLIENT]);
    validation.set_issuer(&[&h.server.url]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<IdTokenClaims>(token, &decoding, &validation)
        .expect("the id_token verifies against the JWKS with iss, aud and exp")
        .claims;
    assert_eq!(claims.nonce.as_deref(), Some(authz.nonce.as_str()), "nonce is this request's (OIDC Core §3.1.3.7)");
    claims
}
