//! Sign-in through the system browser (RFC 8252): the pieces of the native-app flow that live on
//! this machine. [`CallbackListener`] receives the authorization response on a loopback port
//! bound before the browser is opened; [`AuthorizationRequest`] is one sign-in's request (PKCE,
//! `state`, `nonce`); [`open_in_browser`] hands its URL to the user's browser; [`id_token`]
//! validates what the exchange returns. The engine's `begin_browser_sign_in` and
//! `begin_device_sign_in` put them together.

mod callback;
mod exchange;
pub mod id_token;
mod open;
mod request;

pub use callback::{AuthorizationResponse, CallbackError, CallbackListener};
pub use id_token::IdTokenError;
pub use open::{OpenFailed, Opened, open_in_background, open_in_browser, open_with};
pub use request::{Ask, AuthorizationRequest};

/// Why a browser or device sign-in did not complete (nothing was stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// The server's discovery offers no browser (or device) sign-in.
    #[error("this server does not offer {0}")]
    Unsupported(&'static str),
    /// The loopback listener or the browser's answer failed.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The id_token did not validate.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// The user (or the program) cancelled the sign-in.
    #[error("the sign-in was cancelled")]
    Cancelled,
    /// Device flow: the code expired before it was approved.
    #[error("the device code expired before it was approved; start again")]
    DeviceCodeExpired,
    /// Device flow: the user refused on the verification page.
    #[error("the sign-in was refused in the browser")]
    AccessDenied,
    /// Device flow: not approved within the caller's time limit (the code may still be valid).
    #[error("the device sign-in was not approved within {0:?}")]
    TimedOut(std::time::Duration),
}

impl SignInError {
    /// A stable code for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "browser_sign_in_unsupported",
            Self::Callback(e) => e.code(),
            Self::IdToken(_) => "id_token_invalid",
            Self::Cancelled => "sign_in_cancelled",
            Self::DeviceCodeExpired => "expired_token",
            Self::AccessDenied => "access_denied",
            Self::TimedOut(_) => "sign_in_timeout",
        }
    }
}

/// Cancels a browser or device sign-in that is waiting; harmless once it has finished.
#[derive(Debug, Clone, Default)]
pub struct SignInCanceller(std::sync::Arc<tokio::sync::Notify>);

impl SignInCanceller {
    /// Stops the wait: the sign-in ends with [`SignInError::Cancelled`].
    pub fn cancel(&self) {
        // notify_one keeps a permit, so a cancel that comes before the wait still counts.
        self.0.notify_one();
    }

    pub(crate) async fn cancelled(&self) {
        self.0.notified().await;
    }
}
