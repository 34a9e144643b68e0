//! The Tessera API on [`AuthClient`]: the signed-in user, sessions (devices), audit, the
//! notification outbox and its stream, each at the endpoint the server's discovery names or at
//! its [`paths`] under `server_url` (always so when sign-in is at an organisation's provider),
//! with the device headers such a server tells this machine's session apart by.

use std::time::Duration;

use reqwest::Method;
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use tessera_protocol::{
    AuditList, ClientSetup, DEVICE_APP_VERSION_HEADER, DEVICE_NAME_HEADER, DEVICE_PLATFORM_HEADER,
    DEVICE_SESSION_HEADER, Me, NotificationPage, ReadAllResponse, RevokeOthersResponse, SessionInfo, SessionList,
    TesseraEndpoints, UnreadCount, encode_header_text, paths,
};
use url::Url;

use super::{AuthClient, app_version, decode_empty, decode_json, discovered};
use crate::error::ClientError;
use crate::secret::AccessToken;
use crate::url_policy::require_secure;

impl AuthClient {
    /// `GET /api/client-config` on `server_url` (no token): where the server's staff sign in.
    pub async fn client_setup(&self) -> Result<ClientSetup, ClientError> {
        let url = self.join(paths::CLIENT_CONFIG)?;
        decode_json(self.execute(self.inner.http.get(url)).await?)
    }

    /// Names the session API calls belong to (the keychain record's session id): sent as
    /// [`DEVICE_SESSION_HEADER`] to a server that trusts another provider, which tells this
    /// machine's sessions list entry from the user's others by it.
    pub(crate) fn set_device_session(&self, session_id: &str) {
        *self.inner.device_session.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(session_id.to_owned());
    }

    /// The device headers of API and WebSocket requests; none when the server signs in itself
    /// (it knows the device from the sign-in).
    pub(crate) fn device_headers(&self) -> Vec<(&'static str, String)> {
        if !self.is_external() {
            return Vec::new();
        }
        let session = self.inner.device_session.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut headers = self.inner.device_fields.clone();
        headers.extend(session.map(|id| (DEVICE_SESSION_HEADER, id)));
        headers
    }

    /// `GET /api/me`: the signed-in user.
    pub async fn me(&self, access: &AccessToken) -> Result<Me, ClientError> {
        self.authed_json(Method::GET, |t| &t.me_endpoint, paths::ME, access).await
    }

    /// `GET /api/session`: the session this access token belongs to.
    pub async fn session_info(&self, access: &AccessToken) -> Result<SessionInfo, ClientError> {
        self.authed_json(Method::GET, |t| &t.session_endpoint, paths::SESSION, access).await
    }

    /// `POST /api/session/activity`: the user is active; extends the idle deadline.
    pub async fn report_activity(&self, access: &AccessToken) -> Result<SessionInfo, ClientError> {
        self.authed_json(Method::POST, |t| &t.activity_endpoint, paths::SESSION_ACTIVITY, access).await
    }

    /// `GET /api/sessions`: the user's sessions (devices).
    pub async fn sessions(&self, access: &AccessToken) -> Result<SessionList, ClientError> {
        self.authed_json(Method::GET, |t| &t.sessions_endpoint, paths::SESSIONS, access).await
    }

    /// `DELETE /api/sessions/{id}`: signs one device out.
    pub async fn revoke_session(&self, access: &AccessToken, session_id: &str) -> Result<(), ClientError> {
        let mut url = self.api_endpoint(|t| Some(&t.sessions_endpoint), paths::SESSIONS).await?;
        url.path_segments_mut()
            .map_err(|()| ClientError::InvalidUrl("the sessions endpoint cannot take a path".into()))?
            .pop_if_empty()
            .push(session_id);
        decode_empty(self.execute(self.authed(Method::DELETE, url, access)?).await?)
    }

    /// `POST /api/sessions/revoke-others`: signs every other device out.
    pub async fn revoke_other_sessions(&self, access: &AccessToken) -> Result<RevokeOthersResponse, ClientError> {
        self.authed_json(Method::POST, |t| &t.revoke_others_endpoint, paths::SESSIONS_REVOKE_OTHERS, access).await
    }

    /// `GET /api/audit`: the user's own audit events at the server.
    pub async fn audit(&self, access: &AccessToken) -> Result<AuditList, ClientError> {
        self.authed_json(Method::GET, |t| &t.audit_endpoint, paths::AUDIT, access).await
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
        let mut url = self.api_endpoint(|t| t.notifications_endpoint.as_ref(), paths::NOTIFICATIONS).await?;
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
            .api_endpoint(|t| t.notifications_unread_count_endpoint.as_ref(), paths::NOTIFICATIONS_UNREAD_COUNT)
            .await?;
        decode_json(self.execute(self.authed(Method::GET, url, access)?).await?)
    }

    /// `POST /api/notifications/{seq}/read` (404 `not_found` for a notification the server no
    /// longer has).
    pub async fn mark_read(&self, access: &AccessToken, seq: i64) -> Result<(), ClientError> {
        let mut url = self.api_endpoint(|t| t.notifications_endpoint.as_ref(), paths::NOTIFICATIONS).await?;
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
            self.api_endpoint(|t| t.notifications_read_all_endpoint.as_ref(), paths::NOTIFICATIONS_READ_ALL).await?;
        decode_json(self.execute(self.authed(Method::POST, url, access)?).await?)
    }

    /// The notification stream's URL (`ws://` or `wss://`) and the server's ping interval, from
    /// discovery (defaults: `/ws` on the server, 25 s).
    pub async fn notifications_stream(&self) -> Result<(Url, Duration), ClientError> {
        let tessera = self.tessera_endpoints().await?;
        let ping = Duration::from_secs(tessera.as_ref().and_then(|t| t.ws_ping_interval_secs).unwrap_or(25).max(1));
        let url = match tessera.as_ref().and_then(|t| t.notifications_ws_endpoint.as_deref()) {
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

    /// The server's Tessera endpoints: the `tessera` section of its discovery document, or
    /// `None` when sign-in is at another provider (whose document has none) or the server
    /// advertises none; the API is then at [`paths`] under `server_url`.
    pub async fn tessera_endpoints(&self) -> Result<Option<TesseraEndpoints>, ClientError> {
        if self.is_external() {
            return Ok(None);
        }
        Ok(self.discovery().await?.tessera)
    }

    /// An API endpoint `pick` names in the server's discovery, or `path` on the server.
    async fn api_endpoint(
        &self,
        pick: impl FnOnce(&TesseraEndpoints) -> Option<&String>,
        path: &str,
    ) -> Result<Url, ClientError> {
        match self.tessera_endpoints().await?.as_ref().and_then(pick) {
            Some(text) => discovered(text),
            None => self.join(path),
        }
    }

    /// An authenticated call to an API endpoint (see [`api_endpoint`](Self::api_endpoint)),
    /// decoding a JSON answer.
    async fn authed_json<T: DeserializeOwned>(
        &self,
        method: Method,
        pick: impl FnOnce(&TesseraEndpoints) -> &String,
        path: &str,
        access: &AccessToken,
    ) -> Result<T, ClientError> {
        let url = self.api_endpoint(|t| Some(pick(t)), path).await?;
        decode_json(self.execute(self.authed(method, url, access)?).await?)
    }

    /// A request with the access token (marked sensitive) and the device headers.
    fn authed(&self, method: Method, url: Url, access: &AccessToken) -> Result<RequestBuilder, ClientError> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", access.secret())).map_err(|_| ClientError::UnusableToken)?;
        value.set_sensitive(true);
        let mut request = self.inner.http.request(method, url).header(AUTHORIZATION, value);
        for (name, value) in self.device_headers() {
            request = request.header(name, value);
        }
        Ok(request)
    }

    /// The server's idle timeout (discovery `session_idle_timeout_secs`); `None` when it does not
    /// say (a server that trusts an organisation's provider, whose document has no Tessera part).
    pub async fn server_idle_timeout(&self) -> Result<Option<Duration>, ClientError> {
        Ok(self.tessera_endpoints().await?.map(|t| Duration::from_secs(t.session_idle_timeout_secs)))
    }
}

/// The name, platform and version headers of `device` (see [`tessera_protocol::DEVICE_NAME_HEADER`]).
pub(super) fn device_fields(device: &tessera_protocol::DeviceInfo) -> Vec<(&'static str, String)> {
    vec![
        (DEVICE_NAME_HEADER, encode_header_text(&device.name)),
        (DEVICE_PLATFORM_HEADER, encode_header_text(&device.platform)),
        (DEVICE_APP_VERSION_HEADER, encode_header_text(app_version(device))),
    ]
}
