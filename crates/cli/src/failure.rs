//! Exit codes and the one error shape every command ends with.
//!
//! A failing command prints one line to stderr, `error: <message> (<code>)`, or with `--json`
//! the object `{"code":"…","message":"…"}`, and exits with one of the documented [`Exit`] codes.

use std::fmt;

use serde::Serialize;
use tessera_session::browser::SignInError;
use tessera_session::{ClientError, EngineError, ErrorClass, VaultError};

/// The documented exit codes (also in `tessera --help` and docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: any other error.
    Error = 1,
    /// 2: the command line is wrong (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// 3: not signed in, the session ended, or the server refused the credentials.
    NotSignedIn = 3,
    /// 4: the server cannot be reached or is failing (network, timeout, 5xx, 429); still
    /// signed in when there was a session.
    Offline = 4,
    /// 5: the system keychain failed (locked, timed out, unreadable record).
    Keychain = 5,
    /// 6: `tessera audit --verify` found the audit log's hash chain broken, or the file cut short
    /// or replaced according to its keychain anchor.
    AuditBroken = 6,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The text for `--help`: every exit code on one line.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  any other error
  2  usage: the command line is wrong
  3  not signed in, the session ended (revoked, expired, idle), or wrong user name or password
  4  the server cannot be reached or is failing (network, timeout, 5xx, rate limited);
     a session, if any, stays signed in
  5  the system keychain failed (locked, timed out, unreadable record), or is unusable
     while an account is current
  6  audit --verify: the audit log's hash chain is broken, or its keychain anchor shows
     lines removed at the end or the file replaced or deleted

Errors go to stderr as one line, `error: <message> (<code>)`, or with --json as
{\"code\":\"...\",\"message\":\"...\"}.";

/// Why a command failed: exit code, stable code, message. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The exit code.
    #[serde(skip)]
    pub exit: Exit,
    /// Stable machine-readable code (`not_signed_in`, `network`, `keychain_locked`, …).
    pub code: String,
    /// One line for people.
    pub message: String,
}

impl Failure {
    /// A failure with these parts.
    pub fn new(exit: Exit, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { exit, code: code.into(), message: message.into() }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, "usage", message)
    }

    /// Not signed in (exit 3), with the hint how to sign in.
    pub fn not_signed_in() -> Self {
        Self::new(
            Exit::NotSignedIn,
            "not_signed_in",
            "not signed in; run `tessera sign-in --server URL --username NAME`",
        )
    }

    /// Prints the failure to stderr in the documented shape.
    pub fn print(&self, json: bool) {
        if json {
            let text = serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"code\":\"{}\"}}", self.code));
            eprintln!("{text}");
        } else {
            eprintln!("error: {} ({})", self.message, self.code);
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let code = e.code().to_owned();
        match &e {
            EngineError::NotSignedIn => Self::not_signed_in(),
            EngineError::SignedOut(reason) => Self::new(
                Exit::NotSignedIn,
                code,
                format!("the session ended ({}); sign in again with `tessera sign-in`", reason.as_str()),
            ),
            EngineError::AlreadySignedIn(user) => Self::new(Exit::Error, code, format!("already signed in as {user}")),
            EngineError::Client(client) => from_client(client),
            EngineError::Vault(vault) => from_vault(vault),
            EngineError::SignIn(SignInError::Unsupported(_)) => Self::new(
                Exit::Error,
                code,
                format!("{e}; if it allows the password grant, use --username and --password-stdin"),
            ),
            // The user did not (or could not) finish: not signed in, nothing changed.
            EngineError::SignIn(_) => Self::new(Exit::NotSignedIn, code, e.to_string()),
            EngineError::DataDir(_) | EngineError::LockTimeout(_) | EngineError::CacheUnavailable(_) => {
                Self::new(Exit::Error, code, e.to_string())
            }
        }
    }
}

/// Maps an HTTP failure by what it means for the session.
pub fn from_client(e: &ClientError) -> Failure {
    let code = e.code();
    match e.class() {
        ErrorClass::Transient { .. } => Failure::new(Exit::Offline, code, e.to_string()),
        ErrorClass::SessionEnded(reason) => Failure::new(
            Exit::NotSignedIn,
            code,
            format!("the session ended ({}); sign in again with `tessera sign-in`", reason.as_str()),
        ),
        ErrorClass::InvalidToken => Failure::new(Exit::NotSignedIn, code, e.to_string()),
        ErrorClass::Rejected => match e {
            ClientError::InvalidUrl(_) | ClientError::InsecureServerUrl(_) => {
                Failure::new(Exit::Usage, code, e.to_string())
            }
            ClientError::Server { code: tessera_protocol::ErrorCode::InvalidCredentials, .. } => {
                Failure::new(Exit::NotSignedIn, code, "wrong user name or password")
            }
            ClientError::Server { code: tessera_protocol::ErrorCode::PasswordGrantDisabled, .. } => Failure::new(
                Exit::Usage,
                code,
                "this server does not allow password sign-in; leave out --username to sign in through the browser \
                 (or --device)",
            ),
            _ => Failure::new(Exit::Error, code, e.to_string()),
        },
    }
}

/// Maps a keychain failure (exit 5).
pub fn from_vault(e: &VaultError) -> Failure {
    Failure::new(Exit::Keychain, e.code(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_session::SignOutReason;

    #[test]
    fn json_error_shape_is_pinned() {
        let failure = Failure::from(EngineError::SignedOut(SignOutReason::SessionRevoked));
        let json = serde_json::to_string(&failure).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"code":"signed_out","message":"the session ended (session_revoked); sign in again with `tessera sign-in`"}"#,
            "scripts parse this exact shape"
        );
        assert_eq!(failure.exit, Exit::NotSignedIn, "an ended session is 'not signed in' (3)");
    }

    #[test]
    fn failure_classes_map_to_documented_exit_codes() {
        let cases = [
            (EngineError::NotSignedIn, Exit::NotSignedIn),
            (EngineError::Client(ClientError::Network("refused".into())), Exit::Offline),
            (EngineError::Client(ClientError::Timeout), Exit::Offline),
            (EngineError::Vault(VaultError::Locked("x".into())), Exit::Keychain),
            (EngineError::Vault(VaultError::Timeout(3)), Exit::Keychain),
            (EngineError::Client(ClientError::InvalidUrl("x".into())), Exit::Usage),
            (EngineError::Client(ClientError::InsecureServerUrl("http://example.com".into())), Exit::Usage),
            (
                EngineError::Client(ClientError::IssuerMismatch {
                    expected: "https://a".into(),
                    found: "https://b".into(),
                }),
                Exit::Error,
            ),
            (EngineError::DataDir("x".into()), Exit::Error),
        ];
        for (error, exit) in cases {
            let shown = error.to_string();
            assert_eq!(Failure::from(error).exit, exit, "{shown} must exit with {exit:?}");
        }
        assert_eq!(
            [Exit::Ok, Exit::Error, Exit::Usage, Exit::NotSignedIn, Exit::Offline, Exit::Keychain, Exit::AuditBroken]
                .map(Exit::code),
            [0, 1, 2, 3, 4, 5, 6],
            "exit codes are documented in --help and docs/cli.md and must not move"
        );
    }
}
