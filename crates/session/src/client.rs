//! [`AuthClient`]: the HTTP calls to a Tessera (or OAuth 2.0-shaped) server.
//!
//! Every request gets a fresh `X-Request-Id`, the `User-Agent` `Tessera/<version> (<os>)`, a
//! connect and a total time limit, and a capped response body. `Authorization` headers are
//! marked sensitive so no HTTP-layer logging prints them. Failures come back as
//! [`ClientError`]s that keep the evidence but never a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, DATE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tessera_protocol::{
    AuditList, DeviceInfo, Discovery, ErrorBody, ErrorCode, Me, NotificationPage, OAuthError, REQUEST_ID_HEADER,
    ReadAllResponse, RevokeOthersResponse, RevokeRequest, SessionInfo, SessionList, TesseraEndpoints, TokenRequest,
    TokenResponse, USER_AGENT_PRODUCT, UnreadCount, paths,
};
use url::Url;

use crate::clock::Clock;
use crate::error::{ClientError, sanitize_body};
use crate::secret::{AccessToken, Password, RefreshToken};
use crate::token::TokenGrant;
use crate::url_policy::{check_issuer, require_secure};

/// Settings of an [`AuthClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the server, e.g. `https://tessera.example.com`.
    pub server_url: String,
    /// RFC 6749 §2.2 client id: `tessera-desktop` or `tessera-cli`.
    pub client_id: String,
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
            device,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_body_bytes: 1024 * 1024,
        }
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
        let version =
            if config.device.app_version.is_empty() { env!("CARGO_PKG_VERSION") } else { &config.device.app_version };
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

    /// The server's discovery document (fetched once, then cached).
    pub async fn discovery(&self) -> Result<Discovery, ClientError> {
        let doc = self
            .inner
            .discovery
            .get_or_try_init(|| async {
                let url = self.join(paths::DISCOVERY)?;
                let raw = self.execute(self.inner.http.get(url)).await?;
                let doc = decode_json::<Discovery>(raw)?;
                check_issuer(&self.inner.base, &doc.issuer)?;
                Ok::<_, ClientError>(doc)
            })
            .await?;
        Ok(doc.clone())
    }

    /// Password sign-in (RFC 6749 §4.3) with this device's description.
    pub async fn sign_in(&self, username: &str, password: &Password) -> Result<TokenGrant, ClientError> {
        let form = TokenRequest::password(
            username,
            password.secret(),
            &self.inner.config.client_id,
            &self.inner.config.device,
        );
        self.token_request(form).await
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
    /// this one). The server rotates the refresh token: store the new one before anything else.
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        client_id: Option<&str>,
    ) -> Result<TokenGrant, ClientError> {
        let form = TokenRequest::refresh(refresh_token.secret(), client_id.unwrap_or(self.client_id()));
        self.token_request(form).await
    }

    /// Revokes a refresh token (RFC 7009 §2.1) as `client_id` (as for [`refresh`](Self::refresh)),
    /// which ends its session. Succeeds for tokens the server does not know (RFC 7009 §2.2).
    pub async fn revoke(&self, refresh_token: &RefreshToken, client_id: Option<&str>) -> Result<(), ClientError> {
        let url = self.endpoint(|d| &d.revocation_endpoint).await?;
        let form = RevokeRequest {
            token: refresh_token.secret().to_owned(),
            token_type_hint: Some("refresh_token".into()),
            client_id: Some(client_id.unwrap_or(self.client_id()).to_owned()),
        };
        let raw = self.execute(self.inner.http.post(url).form(&form)).await?;
        decode_empty(raw)
    }

    /// `GET /api/me`: the signed-in user.
    pub async fn me(&self, access: &AccessToken) -> Result<Me, ClientError> {
        self.authed_json(Method::GET, |d| &d.tessera.me_endpoint, access).await
    }

    /// `GET /api/session`: the session this access token belongs to.
    pub async fn session_info(&self, access: &AccessToken) -> Result<SessionInfo, ClientError> {
        self.authed_json(Method::GET, |d| &d.tessera.session_endpoint, access).await
    }

    /// `POST /api/session/activity`: the user is active; extends the idle deadline.
    pub async fn report_activity(&self, access: &AccessToken) -> Result<SessionInfo, ClientError> {
        self.authed_json(Method::POST, |d| &d.tessera.activity_endpoint, access).await
    }

    /// `GET /api/sessions`: the user's sessions (devices).
    pub async fn sessions(&self, access: &AccessToken) -> Result<SessionList, ClientError> {
        self.authed_json(Method::GET, |d| &d.tessera.sessions_endpoint, access).await
    }

    /// `DELETE /api/sessions/{id}`: signs one device out.
    pub async fn revoke_session(&self, access: &AccessToken, session_id: &str) -> Result<(), ClientError> {
        let mut url = self.endpoint(|d| &d.tessera.sessions_endpoint).await?;
        url.path_segments_mut()
            .map_err(|()| ClientError::InvalidUrl("the sessions endpoint cannot take a path".into()))?
            .pop_if_empty()
            .push(session_id);
        decode_empty(self.execute(self.authed(Method::DELETE, url, access)?).await?)
    }

    /// `POST /api/sessions/revoke-others`: signs every other device out.
    pub async fn revoke_other_sessions(&self, access: &AccessToken) -> Result<RevokeOthersResponse, ClientError> {
        self.authed_json(Method::POST, |d| &d.tessera.revoke_others_endpoint, access).await
    }

    /// `GET /api/audit`: the user's own audit events at the server.
    pub async fn audit(&self, access: &AccessToken) -> Result<AuditList, ClientError> {
        self.authed_json(Method::GET, |d| &d.tessera.audit_endpoint, access).await
    }

    /// `GET /api/notifications?after=&limit=[&epoch=]`: one page of the user's outbox after
    /// `after` (the same cursor the WebSocket resumes from).
    pub async fn notifications(
        &self,
        access: &AccessToken,
        after: i64,
        limit: u32,
        epoch: Option<&str>,
    ) -> Result<NotificationPage, ClientError> {
        let mut url = self.notification_endpoint(|t| &t.notifications_endpoint, paths::NOTIFICATIONS).await?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("after", &after.to_string()).append_pair("limit", &limit.to_string());
            if let Some(epoch) = epoch {
                query.append_pair("epoch", epoch);
            }
        }
        decode_json(self.execute(self.authed(Method::GET, url, access)?).await?)
    }

    /// `GET /api/notifications/unread-count`.
    pub async fn unread_count(&self, access: &AccessToken) -> Result<UnreadCount, ClientError> {
        let url = self
            .notification_endpoint(|t| &t.notifications_unread_count_endpoint, paths::NOTIFICATIONS_UNREAD_COUNT)
            .await?;
        decode_json(self.execute(self.authed(Method::GET, url, access)?).await?)
    }

    /// `POST /api/notifications/{seq}/read` (404 `not_found` for a notification the server no
    /// longer has).
    pub async fn mark_read(&self, access: &AccessToken, seq: i64) -> Result<(), ClientError> {
        let mut url = self.notification_endpoint(|t| &t.notifications_endpoint, paths::NOTIFICATIONS).await?;
        url.path_segments_mut()
            .map_err(|()| ClientError::InvalidUrl("the notifications endpoint cannot take a path".into()))?
            .pop_if_empty()
            .push(&seq.to_string())
            .push("read");
        decode_empty(self.execute(self.authed(Method::POST, url, access)?).await?)
    }

    /// `POST /api/notifications/read-all`.
    pub async fn mark_all_read(&self, access: &AccessToken) -> Result<ReadAllResponse, ClientError> {
        let url =
            self.notification_endpoint(|t| &t.notifications_read_all_endpoint, paths::NOTIFICATIONS_READ_ALL).await?;
        decode_json(self.execute(self.authed(Method::POST, url, access)?).await?)
    }

    /// The notification stream's URL (`ws://` or `wss://`) and the server's ping interval, from
    /// discovery (defaults: `/ws` on the server, 25 s).
    pub async fn notifications_stream(&self) -> Result<(Url, Duration), ClientError> {
        let doc = self.discovery().await?;
        let ping = Duration::from_secs(doc.tessera.ws_ping_interval_secs.unwrap_or(25).max(1));
        let url = match &doc.tessera.notifications_ws_endpoint {
            Some(text) => discovered(text)?,
            None => {
                let mut url = self.join(paths::WS)?;
                let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
                url.set_scheme(scheme).map_err(|()| ClientError::InvalidUrl(format!("{url}: no WebSocket form")))?;
                url
            }
        };
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(ClientError::InvalidUrl(format!("{url}: the notification stream must be ws:// or wss://")));
        }
        require_secure(&url)?;
        Ok((url, ping))
    }

    /// A notification endpoint from discovery, or `path` on the server when discovery has none.
    async fn notification_endpoint(
        &self,
        pick: impl FnOnce(&TesseraEndpoints) -> &Option<String>,
        path: &str,
    ) -> Result<Url, ClientError> {
        let doc = self.discovery().await?;
        match pick(&doc.tessera) {
            Some(text) => discovered(text),
            None => self.join(path),
        }
    }

    /// An authenticated call to the endpoint `pick` names in discovery, decoding a JSON answer.
    async fn authed_json<T: DeserializeOwned>(
        &self,
        method: Method,
        pick: impl FnOnce(&Discovery) -> &String,
        access: &AccessToken,
    ) -> Result<T, ClientError> {
        let url = self.endpoint(pick).await?;
        decode_json(self.execute(self.authed(method, url, access)?).await?)
    }

    pub(crate) async fn token_request(&self, form: TokenRequest) -> Result<TokenGrant, ClientError> {
        let url = self.endpoint(|d| &d.token_endpoint).await?;
        let raw = self.execute(self.inner.http.post(url).form(&form)).await?;
        let request_id = raw.request_id.clone();
        let response: TokenResponse = decode_json(raw)?;
        TokenGrant::from_response(response, self.inner.clock.now(), self.clock_skew())
            .map_err(|reason| ClientError::Malformed { status: 200, reason, body_prefix: String::new(), request_id })
    }

    fn join(&self, path: &str) -> Result<Url, ClientError> {
        let mut url = self.inner.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        Ok(url)
    }

    pub(crate) async fn endpoint(&self, pick: impl FnOnce(&Discovery) -> &String) -> Result<Url, ClientError> {
        let doc = self.discovery().await?;
        discovered(pick(&doc))
    }

    fn authed(&self, method: Method, url: Url, access: &AccessToken) -> Result<RequestBuilder, ClientError> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", access.secret())).map_err(|_| ClientError::UnusableToken)?;
        value.set_sensitive(true);
        Ok(self.inner.http.request(method, url).header(AUTHORIZATION, value))
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

/// "outer: inner: innermost" — reqwest's own message alone hides the useful cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
