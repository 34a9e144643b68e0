//! Sign-in through the system browser (authorization code + PKCE, RFC 8252) and with a device
//! code (RFC 8628). Each comes in two steps so the caller can show what the user needs between
//! them: `begin_*` asks the provider and returns what to open or type, `finish_*` waits (without
//! holding the engine's gate), exchanges, validates the id_token and stores the session exactly
//! as a password sign-in does.

use std::time::Duration;

use tessera_protocol::{ErrorCode, OAuthError};

use super::{SessionEngine, SessionStatus};
use crate::browser::{Ask, AuthorizationRequest, CallbackListener, SignInCanceller, SignInError, id_token};
use crate::client::discovered;
use crate::error::{ClientError, EngineError};
use crate::secret::DeviceCode;
use crate::token::{TokenGrant, new_device_session};

/// RFC 8628 §3.5: `slow_down` adds 5 seconds to the polling interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// A browser sign-in under way: open (and show) [`url`](Self::url), then
/// [`SessionEngine::finish_browser_sign_in`].
#[derive(Debug)]
pub struct BrowserSignIn {
    listener: CallbackListener,
    request: AuthorizationRequest,
    issuer: String,
    iss_required: bool,
    canceller: SignInCanceller,
}

impl BrowserSignIn {
    /// The authorization URL: open it in the browser and show it so it can be copied.
    pub fn url(&self) -> &str {
        self.request.url()
    }

    /// Stops [`SessionEngine::finish_browser_sign_in`] from anywhere.
    pub fn canceller(&self) -> SignInCanceller {
        self.canceller.clone()
    }
}

/// A device sign-in under way: show the code and the page, then
/// [`SessionEngine::finish_device_sign_in`].
#[derive(Debug)]
pub struct DeviceSignIn {
    /// What the user types on the verification page.
    pub user_code: String,
    /// The page to open on any device with a browser.
    pub verification_uri: String,
    /// The page with the code filled in, when the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// How long the code stays valid.
    pub expires_in: Duration,
    interval: Duration,
    device_code: DeviceCode,
    canceller: SignInCanceller,
}

impl DeviceSignIn {
    /// Stops [`SessionEngine::finish_device_sign_in`] from anywhere.
    pub fn canceller(&self) -> SignInCanceller {
        self.canceller.clone()
    }
}

impl SessionEngine {
    /// Prepares a browser sign-in: reads discovery, binds the loopback listener (so the port is
    /// ours before the browser opens) and builds the request. `prompt` is passed to the provider
    /// (`Some("login")` asks for the password even with a browser session there).
    pub async fn begin_browser_sign_in(&self, prompt: Option<&str>) -> Result<BrowserSignIn, EngineError> {
        self.refuse_if_signed_in()?;
        let discovery = self.inner.client.discovery().await?;
        if !discovery.supports_browser_sign_in() {
            return Err(SignInError::Unsupported("browser sign-in (authorization code with PKCE S256)").into());
        }
        let endpoint = discovered(discovery.authorization_endpoint.as_deref().unwrap_or_default())?;
        let ports = &self.inner.client.config().redirect_ports;
        let listener = CallbackListener::bind_on(ports).await.map_err(SignInError::from)?;
        let client = &self.inner.client;
        let ask = Ask { client_id: client.client_id(), scopes: client.scopes(), audience: client.audience(), prompt };
        let request = AuthorizationRequest::new(&endpoint, &ask, &listener.redirect_uri());
        Ok(BrowserSignIn {
            listener,
            request,
            issuer: discovery.issuer,
            iss_required: discovery.authorization_response_iss_parameter_supported,
            canceller: SignInCanceller::default(),
        })
    }

    /// Waits up to `limit` for the browser to come back, then exchanges the code, validates the
    /// id_token and stores the session.
    pub async fn finish_browser_sign_in(
        &self,
        pending: BrowserSignIn,
        limit: Duration,
    ) -> Result<SessionStatus, EngineError> {
        let BrowserSignIn { listener, request, issuer, iss_required, canceller } = pending;
        let answer = tokio::select! {
            answer = listener.wait(request.state(), &issuer, iss_required, limit) => answer,
            () = canceller.cancelled() => return Err(self.sign_in_failed(SignInError::Cancelled.into()).await),
        };
        let _gate = self.inner.gate.lock().await;
        let response = match answer {
            Ok(response) => response,
            Err(e) => return Err(self.sign_in_failed(SignInError::from(e).into()).await),
        };
        self.begin_signing_in()?;
        let exchanged =
            self.inner.client.exchange_code(&response.code, request.redirect_uri(), request.verifier()).await;
        self.complete(exchanged.map_err(EngineError::from), Some(request.nonce())).await
    }

    /// Where to send the browser to end its session at the provider (OpenID Connect
    /// RP-Initiated Logout 1.0): `end_session_endpoint?client_id=…`, which asks the user there
    /// (no `id_token_hint`: the id_token is not kept). `None`: the provider offers none.
    pub async fn end_session_url(&self) -> Result<Option<String>, EngineError> {
        let discovery = self.inner.client.discovery().await?;
        let Some(endpoint) = discovery.end_session_endpoint.as_deref() else { return Ok(None) };
        let mut url = discovered(endpoint)?;
        url.query_pairs_mut().append_pair("client_id", self.inner.client.client_id());
        Ok(Some(url.into()))
    }

    /// Starts a device sign-in (RFC 8628 §3.1).
    pub async fn begin_device_sign_in(&self) -> Result<DeviceSignIn, EngineError> {
        self.refuse_if_signed_in()?;
        let discovery = self.inner.client.discovery().await?;
        if !discovery.supports_grant(tessera_protocol::GrantType::DeviceCode.as_str()) {
            return Err(SignInError::Unsupported("device sign-in (RFC 8628)").into());
        }
        let answer = self.inner.client.device_authorization().await?;
        Ok(DeviceSignIn {
            user_code: answer.user_code,
            verification_uri: answer.verification_uri,
            verification_uri_complete: answer.verification_uri_complete,
            expires_in: Duration::from_secs(answer.expires_in),
            interval: Duration::from_secs(answer.interval.max(1)),
            device_code: DeviceCode::new(answer.device_code),
            canceller: SignInCanceller::default(),
        })
    }

    /// Polls at the provider's interval until the user approves (then stores the session),
    /// refuses, the code expires, or the sign-in is cancelled. A poll the network loses is
    /// retried at the next interval.
    pub async fn finish_device_sign_in(&self, pending: DeviceSignIn) -> Result<SessionStatus, EngineError> {
        let deadline = tokio::time::Instant::now() + pending.expires_in;
        let mut interval = pending.interval;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = pending.canceller.cancelled() => {
                    return Err(self.sign_in_failed(SignInError::Cancelled.into()).await);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.sign_in_failed(SignInError::DeviceCodeExpired.into()).await);
            }
            let _gate = self.inner.gate.lock().await;
            let polled = self.inner.client.poll_device_code(&pending.device_code).await;
            let failure = match polled {
                Ok(grant) => {
                    self.begin_signing_in()?;
                    return self.complete(Ok(grant), None).await;
                }
                Err(e) => e,
            };
            match device_poll_outcome(&failure) {
                Poll::Pending => {}
                Poll::SlowDown => interval += SLOW_DOWN_STEP,
                Poll::Retry => tracing::info!(code = failure.code(), "device poll failed; trying again"),
                Poll::Stop(e) => return Err(self.sign_in_failed(e).await),
                Poll::Fail => return Err(self.sign_in_failed(failure.into()).await),
            }
        }
    }

    /// Validates the id_token of an exchange and stores the session. The caller holds the gate
    /// and called `begin_signing_in`.
    async fn complete(
        &self,
        exchanged: Result<TokenGrant, EngineError>,
        nonce: Option<&str>,
    ) -> Result<SessionStatus, EngineError> {
        let mut grant = match exchanged {
            Ok(grant) => grant,
            Err(e) => return Err(self.sign_in_failed(e).await),
        };
        // A provider that names no session: this sign-in's device session, from its first call.
        let session_id = grant.session_id.get_or_insert_with(new_device_session);
        self.inner.client.set_device_session(session_id);
        let username = match self.username_from(&grant, nonce).await {
            Ok(username) => username,
            Err(e) => {
                // The tokens are good but unverified: give the session back rather than keep it.
                let _ = self.inner.client.revoke(&grant.refresh_token, None).await;
                return Err(self.sign_in_failed(e).await);
            }
        };
        Ok(self.store_sign_in(&username, grant).await)
    }

    /// The account name for a fresh grant: the validated id_token's `preferred_username`, else
    /// the server's `/api/me`.
    async fn username_from(&self, grant: &TokenGrant, nonce: Option<&str>) -> Result<String, EngineError> {
        let token = grant.id_token.as_ref().ok_or(SignInError::IdToken(id_token::IdTokenError::Missing))?;
        let discovery = self.inner.client.discovery().await?;
        let keys = self.inner.client.jwks().await?;
        let claims = id_token::validate(token, &keys, &discovery.issuer, self.inner.client.client_id(), nonce)
            .map_err(SignInError::from)?;
        match claims.preferred_username {
            Some(username) if !username.is_empty() => Ok(username),
            _ => Ok(self.inner.client.me(&grant.access_token).await?.username),
        }
    }
}

/// What to do after a device poll that did not return tokens.
enum Poll {
    Pending,
    SlowDown,
    Retry,
    Stop(EngineError),
    Fail,
}

fn device_poll_outcome(e: &ClientError) -> Poll {
    match e {
        ClientError::Server { error: OAuthError::AuthorizationPending, .. } => Poll::Pending,
        ClientError::Server { error: OAuthError::SlowDown, .. } => Poll::SlowDown,
        ClientError::Server { error: OAuthError::ExpiredToken, .. }
        | ClientError::Server { code: ErrorCode::ExpiredToken, .. } => {
            Poll::Stop(SignInError::DeviceCodeExpired.into())
        }
        ClientError::Server { error: OAuthError::AccessDenied, .. } => Poll::Stop(SignInError::AccessDenied.into()),
        e if matches!(e.class(), crate::error::ErrorClass::Transient { .. }) => Poll::Retry,
        _ => Poll::Fail,
    }
}
