//! [`AuthClient`]: the HTTP calls to a Tessera (or OAuth 2.0-shaped) server.
//!
//! Every request gets a fresh `X-Request-Id`, the `User-Agent` `Tessera/<version> (<os>)`, a
//! connect and a total time limit, and a capped response body. `Authorization` headers are
//! marked sensitive so no HTTP-layer logging prints them. Failures come back as
//! [`ClientError`]s that keep the evidence but never a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tessera_protocol::{
    DeviceInfo, Discovery, ErrorBody, ErrorCode, OAuthError, REQUEST_ID_HEADER, RevokeRequest, TokenRequest,
    USER_AGENT_PRODUCT, error_chain, oidc, paths,
};
use url::Url;

use crate::clock::Clock;
use crate::error::{ClientError, sanitize_body};
use crate::secret::{Password, RefreshToken};
use crate::token::{ProviderTokenResponse, TokenGrant};
use crate::url_policy::{check_issuer, require_secure};

mod api;

/// Settings of an [`AuthClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the server, e.g. `https://tessera.example.com`.
    pub server_url: String,
    /// RFC 6749 §2.2 client id: `tessera-desktop` or `tessera-cli` at the reference server, the
    /// id registered at an organisation's provider otherwise.
    pub client_id: String,
    /// Where to sign in: the OpenID provider's issuer (discovery at
    /// `{issuer}/.well-known/openid-configuration`). `None`: the server itself. The API (`/api`,
    /// `/ws`) is always at `server_url`.
    pub issuer: Option<String>,
    /// Scopes to ask for, space-separated (default `openid profile email`).
    pub scopes: String,
    /// The `audience` (Auth0) / `resource` (RFC 8707) to ask tokens for, when the provider needs
    /// one to issue tokens for the server.
    pub audience: Option<String>,
    /// Loopback ports for the browser sign-in's redirect when the provider registered fixed
    /// ones ([`tessera_protocol::ClientSetup::redirect_ports`]); empty: any free port.
    pub redirect_ports: Vec<u16>,
    /// This device, as the sessions list shows it.
    pub device: DeviceInfo,
    /// Time limit for establishing a connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time limit for a whole request, body included (default 15 s).
    pub request_timeout: Duration,
    /// Largest response body accepted (default 1 MiB).
    pub max_body_bytes: usize,
}

impl ClientConfig {
    /// Settings with the default time limits and body cap.
    pub fn new(server_url: impl Into<String>, client_id: impl Into<String>, device: DeviceInfo) -> Self {
        Self {
            server_url: server_url.into(),
            client_id: client_id.into(),
            issuer: None,
            scopes: oidc::SCOPES.to_owned(),
            audience: None,
            redirect_ports: Vec::new(),
            device,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_body_bytes: 1024 * 1024,
        }
    }

    /// These settings signing in where `setup` (the server's `GET /api/client-config`) says:
    /// its issuer, client id (when it names one), scopes and audience.
    pub fn signing_in_as(mut self, setup: &tessera_protocol::ClientSetup) -> Self {
        let own = crate::account::normalize_server_url(&setup.issuer)
            == crate::account::normalize_server_url(&self.server_url);
        self.issuer = (!own).then(|| setup.issuer.clone());
        if let Some(client_id) = &setup.client_id {
            self.client_id.clone_from(client_id);
        }
        self.scopes.clone_from(&setup.scopes);
        self.audience.clone_from(&setup.audience);
        self.redirect_ports.clone_from(&setup.redirect_ports);
        self
    }
}

/// The HTTP client of the session engine. Cheap to clone; clones share the connection pool, the
/// cached discovery document and the clock-skew estimate.
#[derive(Clone)]
pub struct AuthClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    base: Url,
    /// The provider's issuer (`base` when the server signs in itself).
    issuer: Url,
    /// The device headers for a server that trusts another provider (empty otherwise), encoded
    /// once: name, platform, version.
    device_fields: Vec<(&'static str, String)>,
    /// The device-session id sent with API calls to a server that trusts another provider.
    device_session: std::sync::Mutex<Option<String>>,
    clock: Arc<dyn Clock>,
    discovery: tokio::sync::OnceCell<Discovery>,
    skew_ms: AtomicI64,
    skew_known: AtomicBool,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("server_url", &self.inner.base.as_str())
            .field("client_id", &self.inner.config.client_id)
            .finish()
    }
}

/// A response read into memory (at most `max_body_bytes`).
pub(crate) struct Raw {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    request_id: String,
}

impl AuthClient {
    /// A client for `config.server_url`, reading dates from `clock`.
    pub fn new(config: ClientConfig, clock: Arc<dyn Clock>) -> Result<Self, ClientError> {
        let base = Url::parse(config.server_url.trim_end_matches('/'))
            .map_err(|e| ClientError::InvalidUrl(format!("{}: {e}", config.server_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl(format!("{}: only http and https are supported", config.server_url)));
        }
        require_secure(&base)?;
        let issuer = match &config.issuer {
            Some(text) => {
                let url = Url::parse(text.trim_end_matches('/'))
                    .map_err(|e| ClientError::InvalidUrl(format!("issuer {text}: {e}")))?;
                require_secure(&url)?;
                url
            }
            None => base.clone(),
        };
        let version = app_version(&config.device);
        let device_fields = if issuer == base { Vec::new() } else { api::device_fields(&config.device) };
        let http = reqwest::Client::builder()
            .user_agent(format!("{USER_AGENT_PRODUCT}/{version} ({})", std::env::consts::OS))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // Never follow redirects with credentials in the body or headers.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Network(error_chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                base,
                issuer,
                device_fields,
                device_session: std::sync::Mutex::new(None),
                clock,
                discovery: tokio::sync::OnceCell::new(),
                skew_ms: AtomicI64::new(0),
                skew_known: AtomicBool::new(false),
            }),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Server time minus local time, from the last response's `Date` header (1 s resolution).
    pub fn clock_skew(&self) -> Option<chrono::Duration> {
        self.inner
            .skew_known
            .load(Ordering::Relaxed)
            .then(|| chrono::Duration::milliseconds(self.inner.skew_ms.load(Ordering::Relaxed)))
    }

    /// The provider's discovery document (fetched once, then cached): the server's own, or the
    /// organisation's provider's when [`ClientConfig::issuer`] names one.
    pub async fn discovery(&self) -> Result<Discovery, ClientError> {
        let doc = self
            .inner
            .discovery
            .get_or_try_init(|| async {
                let url = join(&self.inner.issuer, paths::DISCOVERY);
                let raw = self.execute(self.inner.http.get(url)).await?;
                let doc = decode_json::<Discovery>(raw)?;
                check_issuer(&self.inner.issuer, &doc.issuer)?;
                Ok::<_, ClientError>(doc)
            })
            .await?;
        Ok(doc.clone())
    }

    /// True when sign-in happens at an organisation's provider, not at the server.
    pub fn is_external(&self) -> bool {
        self.inner.issuer != self.inner.base
    }

    /// The scopes this client asks for.
    pub(crate) fn scopes(&self) -> &str {
        &self.inner.config.scopes
    }

    /// The `audience` / `resource` this client asks tokens for.
    pub(crate) fn audience(&self) -> Option<&str> {
        self.inner.config.audience.as_deref()
    }

    /// A token request as this client sends it: an organisation's provider gets no Tessera
    /// device fields (the device travels in headers to the server instead) and, on a refresh,
    /// the scopes again (Entra ID wants them) and the resource (RFC 8707 §2.2).
    pub(crate) fn shaped(&self, mut form: TokenRequest) -> TokenRequest {
        if self.is_external() {
            form.device_name = None;
            form.platform = None;
            form.app_version = None;
            form.resource = self.audience().map(str::to_owned);
            if form.refresh_token.is_some() {
                form.scope = Some(self.scopes().to_owned());
            }
        }
        form
    }

    /// Password sign-in (RFC 6749 §4.3) with this device's description.
    pub async fn sign_in(&self, username: &str, password: &Password) -> Result<TokenGrant, ClientError> {
        let form = TokenRequest::password(
            username,
            password.secret(),
            &self.inner.config.client_id,
            &self.inner.config.device,
        );
        self.token_request(form, None).await
    }

    /// The shared HTTP client (connection pool, time limits).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The device this client describes to the server.
    pub(crate) fn device(&self) -> &DeviceInfo {
        &self.inner.config.device
    }

    /// This client's id (`ClientConfig::client_id`).
    pub fn client_id(&self) -> &str {
        &self.inner.config.client_id
    }

    /// Refresh grant (RFC 6749 §6) as `client_id` (the client the token was issued to; `None`:
    /// this one). A rotating provider sends a new refresh token: store it before anything else.
    /// One that does not rotate (Entra ID) keeps `refresh_token`, which the grant then carries.
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        client_id: Option<&str>,
    ) -> Result<TokenGrant, ClientError> {
        let form = TokenRequest::refresh(refresh_token.secret(), client_id.unwrap_or(self.client_id()));
        self.token_request(form, Some(refresh_token)).await
    }

    /// Revokes a refresh token (RFC 7009 §2.1) as `client_id` (as for [`refresh`](Self::refresh)),
    /// which ends its session. Succeeds for tokens the server does not know (RFC 7009 §2.2).
    /// [`Revocation::NotOffered`]: the provider has no revocation endpoint (Entra ID).
    pub async fn revoke(
        &self,
        refresh_token: &RefreshToken,
        client_id: Option<&str>,
    ) -> Result<Revocation, ClientError> {
        let doc = self.discovery().await?;
        let Some(endpoint) = doc.revocation_endpoint.as_deref() else { return Ok(Revocation::NotOffered) };
        let form = RevokeRequest {
            token: refresh_token.secret().to_owned(),
            token_type_hint: Some("refresh_token".into()),
            client_id: Some(client_id.unwrap_or(self.client_id()).to_owned()),
        };
        let raw = self.execute(self.inner.http.post(discovered(endpoint)?).form(&form)).await?;
        match decode_empty(raw) {
            Ok(()) => Ok(Revocation::Revoked),
            // Some providers let only confidential clients revoke (glewlwyd answers a bare 401):
            // a public client is refused as a client (RFC 6749 §5.2 `invalid_client`, 401), and
            // the token stays valid there.
            Err(ClientError::Server { status: 401, .. })
            | Err(ClientError::Server { error: OAuthError::InvalidClient | OAuthError::UnauthorizedClient, .. }) => {
                Ok(Revocation::Refused)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `form` to the token endpoint; `presented` is the refresh token of a refresh.
    pub(crate) async fn token_request(
        &self,
        form: TokenRequest,
        presented: Option<&RefreshToken>,
    ) -> Result<TokenGrant, ClientError> {
        let url = self.endpoint(|d| &d.token_endpoint).await?;
        let raw = self.execute(self.inner.http.post(url).form(&self.shaped(form))).await?;
        let request_id = raw.request_id.clone();
        let response: ProviderTokenResponse = decode_json(raw)?;
        TokenGrant::from_response(response, self.inner.clock.now(), self.clock_skew(), presented)
            .map_err(|reason| ClientError::Malformed { status: 200, reason, body_prefix: String::new(), request_id })
    }

    fn join(&self, path: &str) -> Result<Url, ClientError> {
        Ok(join(&self.inner.base, path))
    }

    pub(crate) async fn endpoint(&self, pick: impl FnOnce(&Discovery) -> &String) -> Result<Url, ClientError> {
        let doc = self.discovery().await?;
        discovered(pick(&doc))
    }

    /// Sends with a fresh request id, notes the server's clock, reads at most the body cap.
    pub(crate) async fn execute(&self, builder: RequestBuilder) -> Result<Raw, ClientError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut response = builder.header(REQUEST_ID_HEADER, &request_id).send().await.map_err(map_reqwest)?;
        self.note_date(response.headers());
        let status = response.status();
        let limit = self.inner.config.max_body_bytes;
        if response.content_length().is_some_and(|len| len > limit as u64) {
            return Err(ClientError::TooLarge { status: status.as_u16(), limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest)? {
            if body.len() + chunk.len() > limit {
                return Err(ClientError::TooLarge { status: status.as_u16(), limit });
            }
            body.extend_from_slice(&chunk);
        }
        let headers = std::mem::take(response.headers_mut());
        Ok(Raw { status, headers, body, request_id })
    }

    fn note_date(&self, headers: &HeaderMap) {
        let Some(server) =
            headers.get(DATE).and_then(|v| v.to_str().ok()).and_then(|s| httpdate::parse_http_date(s).ok())
        else {
            return;
        };
        let server = chrono::DateTime::<chrono::Utc>::from(server);
        let skew = server - self.inner.clock.now();
        self.inner.skew_ms.store(skew.num_milliseconds(), Ordering::Relaxed);
        self.inner.skew_known.store(true, Ordering::Relaxed);
    }
}

/// What [`AuthClient::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The provider took the token back (or did not know it, RFC 7009 §2.2).
    Revoked,
    /// The provider has no `revocation_endpoint`: the token stays valid there until it expires.
    NotOffered,
    /// The provider does not let this (public) client revoke: the token stays valid there too.
    Refused,
}

/// The client's version as it describes itself: the device's, else this crate's.
fn app_version(device: &DeviceInfo) -> &str {
    if device.app_version.is_empty() { env!("CARGO_PKG_VERSION") } else { &device.app_version }
}

/// `path` under `base`'s path (a server or issuer URL may have one: `/realms/support`).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}{path}"));
    url
}

/// An endpoint named by discovery: a URL, and not plain HTTP to another machine.
pub(crate) fn discovered(text: &str) -> Result<Url, ClientError> {
    let url = Url::parse(text).map_err(|e| ClientError::InvalidUrl(format!("discovered endpoint {text}: {e}")))?;
    require_secure(&url)?;
    Ok(url)
}

pub(crate) fn decode_json<T: DeserializeOwned>(raw: Raw) -> Result<T, ClientError> {
    if !raw.status.is_success() {
        return Err(error_from(raw));
    }
    serde_json::from_slice(&raw.body).map_err(|e| ClientError::Malformed {
        status: raw.status.as_u16(),
        reason: format!("not the expected JSON: {e}"),
        body_prefix: sanitize_body(&raw.body),
        request_id: raw.request_id.clone(),
    })
}

fn decode_empty(raw: Raw) -> Result<(), ClientError> {
    if raw.status.is_success() { Ok(()) } else { Err(error_from(raw)) }
}

pub(crate) fn error_from(raw: Raw) -> ClientError {
    let status = raw.status.as_u16();
    let retry_after = raw
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if raw.status == StatusCode::TOO_MANY_REQUESTS {
        return ClientError::RateLimited { retry_after, request_id: raw.request_id };
    }
    // RFC 9110 §10.2.3: a 503 may say when to come back; the retry waits at least that long.
    if raw.status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some() {
        return ClientError::Busy { retry_after, request_id: raw.request_id };
    }
    match serde_json::from_slice::<ErrorBody>(&raw.body) {
        Ok(body) => ClientError::Server {
            status,
            error: body.error,
            code: body.code,
            description: body.error_description.map(|d| sanitize_body(d.as_bytes())),
            request_id: raw.request_id,
        },
        // RFC 6750 §3: a resource server may answer 401 with only a WWW-Authenticate header.
        Err(_) if raw.status == StatusCode::UNAUTHORIZED => ClientError::Server {
            status,
            error: OAuthError::InvalidToken,
            code: ErrorCode::Unknown,
            description: None,
            request_id: raw.request_id,
        },
        Err(e) => ClientError::Malformed {
            status,
            reason: format!("error response without an OAuth error body: {e}"),
            body_prefix: sanitize_body(&raw.body),
            request_id: raw.request_id,
        },
    }
}

fn map_reqwest(e: reqwest::Error) -> ClientError {
    if e.is_timeout() { ClientError::Timeout } else { ClientError::Network(error_chain(&e)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn device() -> DeviceInfo {
        DeviceInfo { name: "desk".into(), platform: "linux".into(), app_version: "1.2.3".into() }
    }

    #[test]
    fn urls_are_checked_and_joined_under_a_prefix() {
        let bad = AuthClient::new(ClientConfig::new("ftp://x", "tessera-cli", device()), Arc::new(SystemClock));
        assert!(matches!(bad, Err(ClientError::InvalidUrl(_))), "only http(s) servers are accepted");
        let client = AuthClient::new(
            ClientConfig::new("https://h.example/prefix/", "tessera-cli", device()),
            Arc::new(SystemClock),
        );
        let client = client.unwrap_or_else(|e| panic!("a valid URL must be accepted: {e}"));
        let url = client.join(paths::DISCOVERY).map(|u| u.to_string()).unwrap_or_default();
        assert_eq!(url, "https://h.example/prefix/.well-known/openid-configuration", "paths go under the base path");
        assert_eq!(client.clock_skew(), None, "no skew is known before a response");
    }

    #[test]
    fn error_bodies_are_decoded_with_their_evidence() {
        let raw = |status: u16, body: &str| Raw {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            request_id: "rid".into(),
        };
        let e = error_from(raw(400, r#"{"error":"invalid_grant","code":"session_revoked"}"#));
        assert!(
            matches!(e, ClientError::Server { status: 400, code: ErrorCode::SessionRevoked, .. }),
            "OAuth bodies keep status and code: {e:?}"
        );
        let e = error_from(raw(401, ""));
        assert!(
            matches!(e, ClientError::Server { code: ErrorCode::Unknown, error: OAuthError::InvalidToken, .. }),
            "a bare 401 is an invalid token: {e:?}"
        );
        let e = error_from(raw(502, "<html>Bad Gateway</html>"));
        assert!(
            matches!(&e, ClientError::Malformed { status: 502, body_prefix, .. } if body_prefix.contains("Bad Gateway")),
            "HTML keeps a prefix: {e:?}"
        );
    }
}
