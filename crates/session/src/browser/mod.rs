//! Sign-in through the system browser (RFC 8252): the pieces of the native-app flow that live on
//! this machine. [`CallbackListener`] receives the authorization response on a loopback port
//! bound before the browser opens; [`open_in_browser`] hands the authorization URL to the user's
//! browser.

mod callback;
mod open;

pub use callback::{AuthorizationResponse, CallbackError, CallbackListener};
pub use open::{OpenFailed, Opened, open_in_browser, open_with};
