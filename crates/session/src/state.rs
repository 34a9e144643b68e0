//! The session state machine's states, sign-out reasons and the events the engine broadcasts.
//!
//! ```text
//! SignedOut ─sign_in─▶ SigningIn ─▶ Active ⇄ Refreshing
//!                                     │  ▲        │
//!                                     ▼  │        ▼ (network down, 5xx, 429)
//!                                  Expiring     Offline  (still signed in, retrying)
//! any ─(session-ending code, sign out, absolute end)─▶ SignedOut{reason}
//! ```
//!
//! Everything here serializes for the UI and `--json` output; nothing here holds a token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
#[cfg(test)]
use tessera_protocol::ErrorCode;

/// Why a session ended (shared with the server: defined in `tessera-protocol`).
pub use tessera_protocol::SignOutReason;

/// Where the session is. `Active`, `Refreshing`, `Offline` and `Expiring` are all signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    /// No session. `reason` says why the last one ended (`None`: there was none).
    SignedOut {
        /// Why the previous session ended.
        reason: Option<SignOutReason>,
    },
    /// A password sign-in is on its way.
    SigningIn,
    /// Signed in with a valid access token.
    Active {
        /// When the current access token expires (local clock).
        expires_at: DateTime<Utc>,
        /// The session's absolute end (local clock); it cannot be extended.
        session_expires_at: DateTime<Utc>,
    },
    /// A refresh is on its way (still signed in).
    Refreshing,
    /// The server cannot be reached (or answers 5xx/429): still signed in, retrying with backoff.
    Offline {
        /// When the engine went offline.
        since: DateTime<Utc>,
    },
    /// Signed in, but the session's absolute end is near (a warning: it cannot be extended).
    Expiring {
        /// When the session ends.
        session_ends_at: DateTime<Utc>,
    },
}

impl SessionState {
    /// True in every state that holds a session.
    pub fn is_signed_in(&self) -> bool {
        !matches!(self, Self::SignedOut { .. } | Self::SigningIn)
    }

    /// The snake_case name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SignedOut { .. } => "signed_out",
            Self::SigningIn => "signing_in",
            Self::Active { .. } => "active",
            Self::Refreshing => "refreshing",
            Self::Offline { .. } => "offline",
            Self::Expiring { .. } => "expiring",
        }
    }
}

/// Something the user should know that is not a state change. The UI switches on the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// The rotated refresh token could not be written to the keychain: the session now lives in
    /// memory only and ends with this process.
    VaultWriteFailed,
    /// The keychain could not be read; the engine went on with what it holds in memory.
    VaultReadFailed,
    /// Sign-out could not reach the server: the revocation is queued and retried.
    RevocationPending,
    /// The identity provider offers no revocation: signed out here only, the refresh token
    /// stays valid at the provider until it expires.
    RevocationUnsupported,
    /// The session's absolute end is near.
    SessionExpiring,
    /// No system idle source works here: inactivity is judged from the app's own window only.
    IdleUnknown,
    /// The configured idle timeout is longer than the server's: the server's applies.
    IdleTimeoutClamped,
    /// The server reset the notification history: the local cache was reloaded from scratch.
    NotificationsReset,
    /// The account could not be noted as this machine's current one (`current.json`): the other
    /// Tessera programs (the app, the CLI) will not pick this session up.
    CurrentAccountNotSaved,
}

/// How the notification feed currently receives notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedMode {
    /// Signed in; opening the first connection, or reconnecting after the live one was lost.
    Connecting,
    /// Connected over WebSocket: notifications arrive as they are created.
    Live,
    /// WebSocket keeps failing; polling over HTTP (and still retrying WebSocket).
    Polling,
    /// Neither works (network down): showing the cache, retrying with backoff.
    Offline,
}

impl FeedMode {
    /// The snake_case wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Polling => "polling",
            Self::Offline => "offline",
        }
    }
}

/// What the engine broadcasts. Subscribers that fall behind lose the oldest events
/// (`RecvError::Lagged`) and should read [`crate::SessionEngine::status`] to catch up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// The state changed.
    StateChanged {
        /// The new state.
        state: SessionState,
        /// Why, when the session ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<SignOutReason>,
    },
    /// A warning for the user.
    Warning {
        /// Stable code.
        code: WarningCode,
        /// Human-readable text.
        message: String,
    },
    /// The notification feed changed how it receives notifications.
    FeedMode {
        /// The new mode.
        mode: FeedMode,
    },
    /// A notification arrived (live, replayed or polled): each `seq` once, in order.
    Notification {
        /// The notification.
        notification: tessera_protocol::Notification,
    },
    /// The user has been idle long enough that the session ends in `seconds_left` seconds
    /// unless there is input. Sent once a second during the countdown.
    IdleWarning {
        /// Seconds until the idle sign-out.
        seconds_left: u64,
    },
    /// Input arrived during an idle warning: the countdown is cancelled.
    IdleWarningCancelled,
    /// An operation failed without ending the session (e.g. a refresh while offline).
    Error {
        /// Stable code (see [`crate::EngineError::code`]).
        code: String,
        /// Human-readable text (never a token).
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_event_json_is_pinned() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let event = SessionEvent::StateChanged {
            state: SessionState::SignedOut { reason: Some(SignOutReason::RefreshReuseDetected) },
            reason: Some(SignOutReason::RefreshReuseDetected),
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap_or_default(),
            r#"{"type":"state_changed","state":{"state":"signed_out","reason":"refresh_reuse_detected"},"reason":"refresh_reuse_detected"}"#,
            "the UI switches on this exact shape"
        );
        let active = SessionState::Active { expires_at: at, session_expires_at: at };
        assert_eq!(
            serde_json::to_string(&active).unwrap_or_default(),
            r#"{"state":"active","expires_at":"2027-01-15T08:00:00Z","session_expires_at":"2027-01-15T08:00:00Z"}"#,
            "dates are RFC 3339 in UTC"
        );
        let warning = SessionEvent::Warning { code: WarningCode::VaultWriteFailed, message: "m".into() };
        assert_eq!(
            serde_json::to_string(&warning).unwrap_or_default(),
            r#"{"type":"warning","code":"vault_write_failed","message":"m"}"#,
            "warning codes are snake_case"
        );
    }

    #[test]
    fn reasons_map_from_session_ending_codes_only() {
        for code in [
            ErrorCode::InvalidRefreshToken,
            ErrorCode::RefreshReuseDetected,
            ErrorCode::SessionRevoked,
            ErrorCode::SessionIdleTimeout,
            ErrorCode::SessionExpired,
        ] {
            assert!(SignOutReason::from_code(code).is_some(), "{code:?} ends the session, so it needs a reason");
        }
        assert_eq!(
            SignOutReason::from_code(ErrorCode::InvalidToken),
            None,
            "an expired access token is refreshed, not a sign-out"
        );
        assert_eq!(SignOutReason::from_code(ErrorCode::RateLimited), None, "rate limiting is transient");
        let json = serde_json::to_string(&SignOutReason::IdleTimeout).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", SignOutReason::IdleTimeout.as_str()), "as_str must equal the wire form");
    }
}
