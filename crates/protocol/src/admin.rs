//! Bodies of the administration endpoints (`/api/admin/users/*`, admins only).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `POST /api/admin/users/disable`, `/enable` and `/end-sessions` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    /// Login name of the user acted on.
    pub user: String,
}

/// `POST /api/admin/users/passwd` (JSON). `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPasswordReset {
    /// Login name of the user acted on.
    pub user: String,
    /// The new password (at least 8 characters).
    pub password: String,
}

impl fmt::Debug for AdminPasswordReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminPasswordReset").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

/// What an administration request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserOutcome {
    /// Login name of the user acted on.
    pub user: String,
    /// Whether the account is disabled now.
    pub disabled: bool,
    /// Sessions of the user that this request ended (each audited as `session_revoked`).
    pub sessions_ended: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_reset_debug_hides_the_password() {
        let body = AdminPasswordReset { user: "alice".into(), password: "hunter2-but-longer".into() };
        let shown = format!("{body:?}");
        assert!(!shown.contains("hunter2"), "Debug must never print the password: {shown}");
        assert!(shown.contains("alice"), "Debug still names the user: {shown}");
    }

    #[test]
    fn outcome_json_is_pinned() {
        let outcome = AdminUserOutcome { user: "alice".into(), disabled: true, sessions_ended: 2 };
        let json = serde_json::to_string(&outcome).unwrap();
        assert_eq!(json, r#"{"user":"alice","disabled":true,"sessions_ended":2}"#, "admin tools parse this shape");
    }
}
