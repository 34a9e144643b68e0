//! Authorized calls: attach the access token; on a refused token refresh once (single-flight)
//! and retry once; a session-ending answer signs out with the server's reason.

use std::future::Future;

use tessera_protocol::{AuditList, Me, RevokeOthersResponse, SessionInfo, SessionList};

use super::SessionEngine;
use super::refresh::Cause;
use crate::client::AuthClient;
use crate::error::{ClientError, EngineError, ErrorClass};
use crate::secret::AccessToken;
use crate::state::SignOutReason;

impl SessionEngine {
    /// Runs `call` with a valid access token.
    ///
    /// - 401 `invalid_token`: one single-flight refresh (concurrent callers share it), one retry;
    ///   a second refusal signs out (`server_rejected`).
    /// - a session-ending code (revoked, idle, expired, reuse): signed out with that reason.
    /// - network, timeout, 5xx, 429: state `Offline`, still signed in; the error is returned.
    ///
    /// ```no_run
    /// # async fn demo(engine: tessera_session::SessionEngine) -> Result<(), tessera_session::EngineError> {
    /// let client = engine.client().clone();
    /// let me = engine.authorized(|token| { let client = client.clone(); async move { client.me(&token).await } }).await?;
    /// println!("signed in as {}", me.username);
    /// # Ok(()) }
    /// ```
    pub async fn authorized<T, F, Fut>(&self, call: F) -> Result<T, EngineError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let issued = self.token_for_call().await?;
        let error = match call(issued.token).await {
            Ok(value) => {
                self.note_online();
                return Ok(value);
            }
            Err(e) => e,
        };
        match error.class() {
            ErrorClass::InvalidToken => {}
            other => return Err(self.settle_failure(&issued.session_id, other, error).await),
        }
        let retry = self.refresh_shared(issued.epoch, Cause::Rejected).await?;
        match call(retry.token).await {
            Ok(value) => {
                self.note_online();
                Ok(value)
            }
            Err(e) => {
                let class = match e.class() {
                    // A fresh token refused again: the server does not accept this session.
                    ErrorClass::InvalidToken => ErrorClass::SessionEnded(SignOutReason::ServerRejected),
                    other => other,
                };
                Err(self.settle_failure(&retry.session_id, class, e).await)
            }
        }
    }

    /// [`authorized`](Self::authorized) for a call on this engine's own client.
    async fn with_client<T, F, Fut>(&self, call: F) -> Result<T, EngineError>
    where
        F: Fn(AuthClient, AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let client = self.inner.client.clone();
        self.authorized(|t| call(client.clone(), t)).await
    }

    async fn settle_failure(&self, session_id: &str, class: ErrorClass, error: ClientError) -> EngineError {
        match class {
            ErrorClass::SessionEnded(reason) => {
                self.end_session_if(session_id, reason).await;
                EngineError::SignedOut(reason)
            }
            ErrorClass::Transient { .. } => {
                self.note_offline();
                error.into()
            }
            ErrorClass::InvalidToken | ErrorClass::Rejected => error.into(),
        }
    }

    /// The signed-in user (`GET /api/me`).
    pub async fn me(&self) -> Result<Me, EngineError> {
        self.with_client(|c, t| async move { c.me(&t).await }).await
    }

    /// This session as the server sees it (`GET /api/session`).
    pub async fn current_session(&self) -> Result<SessionInfo, EngineError> {
        self.with_client(|c, t| async move { c.session_info(&t).await }).await
    }

    /// Tells the server the user is active (extends the idle deadline, and so the refresh
    /// token's end, which the engine notes).
    pub async fn report_activity(&self) -> Result<SessionInfo, EngineError> {
        let info = self.with_client(|c, t| async move { c.report_activity(&t).await }).await?;
        // Server clock to local clock.
        let skew = self.inner.client.clock_skew().unwrap_or_else(chrono::Duration::zero);
        let idle_end = info.idle_expires_at - skew;
        if let Some(held) = self.cur().session.as_mut().filter(|h| h.record.session_id == info.id) {
            held.record.refresh_expires_at = held.record.refresh_expires_at.max(idle_end);
        }
        Ok(info)
    }

    /// The user's sessions (devices).
    pub async fn sessions(&self) -> Result<SessionList, EngineError> {
        self.with_client(|c, t| async move { c.sessions(&t).await }).await
    }

    /// Signs one device out. Revoking this device's own session signs out here too.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), EngineError> {
        let id = session_id.to_owned();
        self.with_client(|c, t| {
            let id = id.clone();
            async move { c.revoke_session(&t, &id).await }
        })
        .await?;
        let own = self.cur().session.as_ref().is_some_and(|h| h.record.session_id == session_id);
        if own {
            self.end_session_if(session_id, SignOutReason::SessionRevoked).await;
        }
        Ok(())
    }

    /// Signs every other device out.
    pub async fn revoke_other_sessions(&self) -> Result<RevokeOthersResponse, EngineError> {
        self.with_client(|c, t| async move { c.revoke_other_sessions(&t).await }).await
    }

    /// The user's audit events kept by the server.
    pub async fn server_audit(&self) -> Result<AuditList, EngineError> {
        self.with_client(|c, t| async move { c.audit(&t).await }).await
    }
}
