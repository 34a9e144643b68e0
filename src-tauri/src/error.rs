//! The one error shape that crosses to the webview: `{"code": "...", "message": "..."}`, with
//! `code` from the closed set [`UiCode`] that `ui/js/errors.js` switches on. Engine codes
//! (`EngineError::code`) are many and may grow; they are folded into these few here, and the
//! engine's own code is kept in the log, never lost.

use serde::Serialize;
use tessera_session::browser::SignInError;
use tessera_session::{EngineError, ErrorClass, VaultError};

/// What the UI can do differently. Add a code only when the UI branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UiCode {
    /// Wrong user name or password: stay on the form, say so.
    InvalidCredentials,
    /// No session (never signed in, or already signed out): show sign-in.
    NotSignedIn,
    /// The session ended (revoked, expired, idle, reuse): show sign-in with the reason.
    SignedOut,
    /// The server cannot be reached, answers 5xx or rate-limits: still signed in, try later.
    Offline,
    /// The system keychain failed: the session is (or would be) in memory only.
    Keychain,
    /// A value the user typed is not acceptable (server URL, idle timeout); the message says why.
    InvalidInput,
    /// The thing asked for is not there (a device already signed out).
    NotFound,
    /// This build or this server does not offer it (e.g. notifications without a feed).
    Unavailable,
    /// The browser sign-in did not finish: refused there, timed out, or its answer failed a
    /// check (wrong issuer, bad id_token); the message says which.
    SignInRefused,
    /// The user cancelled the browser sign-in.
    Cancelled,
    /// Anything else; the message and the log say more.
    Internal,
}

/// The error every command returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiError {
    /// Stable code.
    pub code: UiCode,
    /// Text for people (never a token).
    pub message: String,
}

impl UiError {
    /// An error with `code` and `message`.
    pub fn new(code: UiCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<EngineError> for UiError {
    fn from(e: EngineError) -> Self {
        let engine_code = e.code();
        let code = match &e {
            EngineError::NotSignedIn => UiCode::NotSignedIn,
            EngineError::AlreadySignedIn(_) => UiCode::InvalidInput,
            EngineError::SignedOut(_) => UiCode::SignedOut,
            EngineError::Vault(_) => UiCode::Keychain,
            EngineError::LockTimeout(_) => UiCode::Offline,
            EngineError::DataDir(_) => UiCode::Internal,
            EngineError::CacheUnavailable(_) => UiCode::Unavailable,
            EngineError::SignIn(SignInError::Unsupported(_)) => UiCode::Unavailable,
            EngineError::SignIn(SignInError::Cancelled) => UiCode::Cancelled,
            EngineError::SignIn(_) => UiCode::SignInRefused,
            EngineError::Client(c) => match (engine_code, c.class()) {
                ("invalid_credentials", _) => UiCode::InvalidCredentials,
                ("not_found", _) => UiCode::NotFound,
                // The server takes no passwords (`password_grant = false`): the browser it is.
                ("password_grant_disabled", _) => UiCode::Unavailable,
                // The server URL typed is unusable: not a URL, plain http to another machine, or
                // a server whose discovery names another issuer. The message says which.
                ("invalid_url" | "insecure_server_url" | "issuer_mismatch", _) => UiCode::InvalidInput,
                (_, ErrorClass::Transient { .. }) => UiCode::Offline,
                (_, ErrorClass::SessionEnded(_)) => UiCode::SignedOut,
                _ => UiCode::Internal,
            },
        };
        tracing::info!(engine_code, ui_code = ?code, "command failed: {e}");
        Self::new(code, message_for(&e))
    }
}

impl From<VaultError> for UiError {
    fn from(e: VaultError) -> Self {
        Self::new(UiCode::Keychain, e.to_string())
    }
}

/// Words for people; the engine's texts are written for logs and the CLI.
fn message_for(e: &EngineError) -> String {
    match e {
        EngineError::Client(c) if c.code() == "invalid_credentials" => "Wrong user name or password.".into(),
        EngineError::Client(c) if c.code() == "password_grant_disabled" => {
            "This server does not take passwords in the app: sign in with your browser.".into()
        }
        EngineError::SignedOut(reason) => tessera_reason_text(reason.as_str()).into(),
        EngineError::NotSignedIn => "You are not signed in.".into(),
        EngineError::AlreadySignedIn(user) => format!("Already signed in as {user}: sign out first."),
        EngineError::SignIn(e) => sign_in_text(e),
        other => other.to_string(),
    }
}

/// Why a browser sign-in did not finish, for people.
fn sign_in_text(e: &SignInError) -> String {
    match e.code() {
        "access_denied" => "The sign-in was refused in the browser.".into(),
        "sign_in_timeout" => "No answer from the browser in time. Try again.".into(),
        "sign_in_cancelled" => "Sign-in cancelled.".into(),
        "issuer_mismatch" => {
            "The answer came from another server than the one you chose; the sign-in was stopped.".into()
        }
        "browser_sign_in_unsupported" => "This server does not offer sign-in through the browser.".into(),
        _ => format!("The sign-in did not finish: {e}"),
    }
}

/// What a sign-out reason means to the user (the UI has the same table for events).
pub fn tessera_reason_text(reason: &str) -> &'static str {
    match reason {
        "user_signed_out" => "You signed out.",
        "idle_timeout" => "You were signed out after a period of inactivity.",
        "session_expired" => "Your session reached its end. Sign in again.",
        "session_revoked" => "You were signed out from another device (or by an administrator).",
        "refresh_reuse_detected" => "Your session was ended because its sign-in token was used twice; sign in again.",
        "screen_locked" => "You were signed out when the screen locked.",
        _ => "The server ended your session. Sign in again.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_session::{ClientError, SignOutReason};

    #[test]
    fn error_json_is_pinned() {
        let e = UiError::from(EngineError::SignedOut(SignOutReason::SessionRevoked));
        assert_eq!(
            serde_json::to_string(&e).unwrap_or_default(),
            r#"{"code":"signed_out","message":"You were signed out from another device (or by an administrator)."}"#,
            "ui/js/errors.js switches on this exact shape"
        );
    }

    #[test]
    fn an_insecure_server_url_reaches_the_ui_as_invalid_input_with_its_reason() {
        let e = UiError::from(EngineError::Client(ClientError::InsecureServerUrl("http://tessera.example.com".into())));
        assert_eq!(
            serde_json::to_string(&e).unwrap_or_default(),
            r#"{"code":"invalid_input","message":"refusing http://tessera.example.com: plain http:// is allowed only for this machine (127.0.0.1, ::1, localhost); use https://"}"#,
            "ui/js/errors.js shows the message of invalid_input next to the server field"
        );
    }

    #[test]
    fn engine_failures_fold_into_the_closed_set() {
        let cases = [
            (EngineError::Client(ClientError::Network("refused".into())), UiCode::Offline),
            (EngineError::Client(ClientError::Timeout), UiCode::Offline),
            (EngineError::Client(ClientError::InvalidUrl("x".into())), UiCode::InvalidInput),
            (EngineError::Client(ClientError::InsecureServerUrl("http://example.com".into())), UiCode::InvalidInput),
            (
                EngineError::Client(ClientError::IssuerMismatch {
                    expected: "https://a".into(),
                    found: "https://b".into(),
                }),
                UiCode::InvalidInput,
            ),
            (EngineError::Vault(VaultError::Locked("l".into())), UiCode::Keychain),
            (EngineError::NotSignedIn, UiCode::NotSignedIn),
            (EngineError::LockTimeout(10), UiCode::Offline),
        ];
        for (engine, ui) in cases {
            let shown = format!("{engine}");
            assert_eq!(UiError::from(engine).code, ui, "{shown} must reach the UI as {ui:?}");
        }
    }
}
