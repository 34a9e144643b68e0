//! Why a session ended, and how the rest of the process hears of it.
//!
//! Ending a session ([`crate::auth::SessionPolicy::end`]) writes the row and its audit event
//! inside the caller's transaction and hands back a [`SessionEnded`]; the caller commits, then
//! passes it to [`EndAnnouncer::announce`]. So whoever hears "session ended" (an open notification
//! stream) finds the end committed, and an end whose transaction failed is never announced.

use std::sync::Arc;

use tessera_protocol::{ErrorCode, SignOutReason};

use crate::notify::hub::{Hub, Subscription};
use crate::store::audit::AuditKind;

/// Why the server ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Signed out, or revoked from another device or by an administrator.
    Revoked,
    /// A rotated refresh token was replayed.
    ReuseDetected,
    /// No activity for the idle timeout.
    IdleTimeout,
    /// Absolute lifetime reached.
    Expired,
}

impl EndReason {
    /// The shared reason, as stored in `sessions.end_reason`.
    pub fn sign_out_reason(self) -> SignOutReason {
        match self {
            Self::Revoked => SignOutReason::SessionRevoked,
            Self::ReuseDetected => SignOutReason::RefreshReuseDetected,
            Self::IdleTimeout => SignOutReason::IdleTimeout,
            Self::Expired => SignOutReason::SessionExpired,
        }
    }

    /// The reason a stored session end stands for. Anything else (a reason only a client gives,
    /// or nothing this server wrote) reads as revoked: the session is over either way.
    pub fn from_stored(reason: Option<SignOutReason>) -> Self {
        match reason {
            Some(SignOutReason::RefreshReuseDetected) => Self::ReuseDetected,
            Some(SignOutReason::IdleTimeout) => Self::IdleTimeout,
            Some(SignOutReason::SessionExpired) => Self::Expired,
            _ => Self::Revoked,
        }
    }

    /// The error code clients see.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Revoked => ErrorCode::SessionRevoked,
            Self::ReuseDetected => ErrorCode::RefreshReuseDetected,
            Self::IdleTimeout => ErrorCode::SessionIdleTimeout,
            Self::Expired => ErrorCode::SessionExpired,
        }
    }

    /// Human text for error descriptions.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Revoked => "the session was revoked",
            Self::ReuseDetected => "a refresh token was reused; the session was revoked to protect the account",
            Self::IdleTimeout => "the session ended after a period of inactivity",
            Self::Expired => "the session reached its maximum lifetime",
        }
    }

    /// Audit kind recorded when a session ends this way.
    pub fn audit_kind(self) -> AuditKind {
        match self {
            Self::Revoked => AuditKind::SessionRevoked,
            Self::ReuseDetected => AuditKind::RefreshTokenReuse,
            Self::IdleTimeout => AuditKind::SessionIdleTimeout,
            Self::Expired => AuditKind::SessionExpired,
        }
    }
}

/// A session end written inside a transaction that has not been announced yet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "announce it with EndAnnouncer::announce once the transaction has committed"]
pub struct SessionEnded {
    /// The session.
    pub session_id: String,
    /// Why it ended.
    pub reason: EndReason,
}

/// Tells the open notification streams of a session that it ended.
#[derive(Debug)]
pub struct EndAnnouncer {
    hub: Arc<Hub<String, EndReason>>,
}

impl EndAnnouncer {
    /// An announcer nobody listens to yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { hub: Hub::new(1) })
    }

    /// Hears every end of `session_id` announced from now on.
    pub fn subscribe(&self, session_id: String) -> Subscription<String, EndReason> {
        self.hub.subscribe(session_id)
    }

    /// Announces ends whose transaction has committed; returns how many streams heard.
    pub fn announce(&self, ended: impl IntoIterator<Item = SessionEnded>) -> usize {
        ended.into_iter().map(|end| self.hub.send(&end.session_id, end.reason)).sum()
    }

    /// Passes on a message that another process (an administration command) ended
    /// `session_id`. It may be forged: listeners re-read the session before acting on it.
    pub fn relay(&self, session_id: &str) -> usize {
        self.hub.send(&session_id.to_owned(), EndReason::Revoked)
    }
}

/// One session to end: which, why, and what its audit entry records.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// The session.
    pub row: &'a crate::store::sessions::SessionRow,
    /// Why it ends.
    pub reason: EndReason,
    /// The address of the request that ended it, if a request did.
    pub ip: Option<&'a str>,
    /// Words for the audit entry (e.g. `replayed refresh token`).
    pub detail: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_reason_is_stored_as_a_shared_reason_and_reads_back() {
        for reason in [EndReason::Revoked, EndReason::ReuseDetected, EndReason::IdleTimeout, EndReason::Expired] {
            let stored = reason.sign_out_reason();
            assert_eq!(EndReason::from_stored(Some(stored)), reason, "{reason:?} must read back from {stored:?}");
            assert_eq!(
                SignOutReason::from_code(reason.code()),
                Some(stored),
                "the client reads the code of {reason:?} as the reason the server stored"
            );
        }
        assert_eq!(EndReason::from_stored(None), EndReason::Revoked, "an unreadable end still ends the session");
    }
}
