//! Sign-in through the system browser (RFC 8252): the pieces of the native-app flow that live on
//! this machine. [`CallbackListener`] receives the authorization response on a loopback port
//! bound before the browser opens.

mod callback;

pub use callback::{AuthorizationResponse, CallbackError, CallbackListener};
