//! Why a session ended, in the words client and server share.

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignOutReason {
    /// The user signed out (here or in another Tessera process on this machine).
    UserSignedOut,
    /// The session saw no activity for the idle timeout.
    IdleTimeout,
    /// The session reached its absolute end, or the server no longer knows it.
    SessionExpired,
    /// The session was revoked (signed out from another device, or by an administrator).
    SessionRevoked,
    /// An old refresh token was replayed, so the server revoked the whole session.
    RefreshReuseDetected,
    /// The server refused the session for another reason.
    ServerRejected,
    /// The screen locked and the user chose "sign out when the screen locks".
    ScreenLocked,
}

impl SignOutReason {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::UserSignedOut,
        Self::IdleTimeout,
        Self::SessionExpired,
        Self::SessionRevoked,
        Self::RefreshReuseDetected,
        Self::ServerRejected,
        Self::ScreenLocked,
    ];

    /// The snake_case wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserSignedOut => "user_signed_out",
            Self::IdleTimeout => "idle_timeout",
            Self::SessionExpired => "session_expired",
            Self::SessionRevoked => "session_revoked",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::ServerRejected => "server_rejected",
            Self::ScreenLocked => "screen_locked",
        }
    }

    /// The reason whose wire form ([`SignOutReason::as_str`]) is `s`.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == s)
    }

    /// The reason a session-ending server code stands for; `None` for codes that do not end it.
    pub fn from_code(code: ErrorCode) -> Option<Self> {
        match code {
            ErrorCode::RefreshReuseDetected => Some(Self::RefreshReuseDetected),
            ErrorCode::SessionRevoked => Some(Self::SessionRevoked),
            ErrorCode::SessionIdleTimeout => Some(Self::IdleTimeout),
            // An unknown refresh token means the server no longer has the session.
            ErrorCode::SessionExpired | ErrorCode::InvalidRefreshToken => Some(Self::SessionExpired),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_as_str_and_reads_back() {
        for reason in SignOutReason::ALL {
            let json = serde_json::to_string(&reason).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", reason.as_str()), "as_str must equal the serde form of {reason:?}");
            assert_eq!(SignOutReason::from_wire(reason.as_str()), Some(reason), "{reason:?} must read back");
        }
        assert_eq!(SignOutReason::from_wire("revoked"), None, "only wire forms are read here");
    }

    #[test]
    fn session_ending_codes_map_to_a_reason() {
        assert_eq!(SignOutReason::from_code(ErrorCode::SessionRevoked), Some(SignOutReason::SessionRevoked));
        assert_eq!(
            SignOutReason::from_code(ErrorCode::InvalidRefreshToken),
            Some(SignOutReason::SessionExpired),
            "a refresh token the server no longer knows means its session is gone"
        );
        assert_eq!(SignOutReason::from_code(ErrorCode::InvalidToken), None, "an expired access token is refreshed");
    }
}
