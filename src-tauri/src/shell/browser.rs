//! Sign-in through the system browser for the app (authorization code + PKCE, RFC 8252), in the
//! three steps the sign-in screen needs: begin (discovery, the loopback listener bound, the
//! browser opened), finish (wait for the browser, exchange, store), cancel. The sign-in under way
//! — its listener, PKCE verifier, state and nonce — stays here; the webview gets only the address
//! to show, which carries none of them but the public challenge.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tessera_session::BrowserSignIn;
use tessera_session::browser::{SignInCanceller, SignInError, open_in_browser};

use super::{AppStatus, Shell};
use crate::error::{UiCode, UiError};

/// How long the app waits for the browser to come back (the CLI's default `--timeout` too).
pub const SIGN_IN_LIMIT: Duration = Duration::from_secs(300);

/// What the sign-in screen shows while the browser is open.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserStart {
    /// The authorization address, to show so it can be copied into another browser.
    pub url: String,
    /// The program that took the address (`xdg-open`, a `BROWSER` entry), if any did.
    pub opened_with: Option<String>,
    /// Why no browser could be opened, if none could: the user opens `url` themselves.
    pub open_error: Option<String>,
    /// How long the app waits, in seconds.
    pub timeout_secs: u64,
}

/// The sign-in under way, if any: begun (waiting for `finish`) or being finished.
#[derive(Default)]
pub(super) struct Pending {
    begun: Mutex<Option<(String, BrowserSignIn)>>,
    canceller: Mutex<Option<SignInCanceller>>,
}

impl Pending {
    /// Keeps `sign_in` for `server_url`, cancelling any earlier one.
    fn replace(&self, server_url: &str, sign_in: BrowserSignIn) {
        self.cancel();
        let canceller = sign_in.canceller();
        *lock(&self.begun) = Some((server_url.to_owned(), sign_in));
        *lock(&self.canceller) = Some(canceller);
    }

    /// The begun sign-in, for `finish` (its canceller stays, so Cancel still reaches it).
    fn take(&self) -> Option<(String, BrowserSignIn)> {
        lock(&self.begun).take()
    }

    /// Stops the sign-in under way: a begun one is dropped (its listener closes), a waiting
    /// `finish` ends with `cancelled`. Nothing under way: nothing happens.
    fn cancel(&self) {
        drop(lock(&self.begun).take());
        if let Some(canceller) = lock(&self.canceller).take() {
            canceller.cancel();
        }
    }
}

/// Opens the provider's sign-out page in the browser, off the async threads (the user confirms
/// there). Failing is logged: the app is signed out either way.
pub(super) fn open_end_session(url: String) {
    tokio::task::spawn_blocking(move || match open_in_browser(&url) {
        Ok(opened) => tracing::info!(program = %opened.program, "browser sent to the sign-out page"),
        Err(e) => tracing::warn!(code = e.code(), "the browser could not be sent to the sign-out page: {e}"),
    });
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shell {
    /// Begins a browser sign-in on `server_url` and opens the system browser (`BROWSER`, then
    /// the OS opener) off the async threads; `fresh` asks the server for the password even if
    /// the browser is signed in there (`prompt=login`).
    pub async fn begin_browser_sign_in(&self, server_url: &str, fresh: bool) -> Result<BrowserStart, UiError> {
        self.ready().await;
        let engine = self.engine_for(server_url).await?;
        let sign_in = engine.begin_browser_sign_in(fresh.then_some("login")).await?;
        let url = sign_in.url().to_owned();
        self.browser.replace(server_url, sign_in);
        let address = url.clone();
        let opened = tokio::task::spawn_blocking(move || open_in_browser(&address))
            .await
            .map_err(|e| UiError::new(UiCode::Internal, format!("opening the browser: {e}")))?;
        let (opened_with, open_error) = match opened {
            Ok(opened) => (Some(opened.program), None),
            Err(e) => {
                tracing::warn!(code = e.code(), "no browser opened for the sign-in: {e}");
                (None, Some(e.to_string()))
            }
        };
        tracing::info!(server = %server_url, opened_with = ?opened_with, "browser sign-in begun");
        Ok(BrowserStart { url, opened_with, open_error, timeout_secs: SIGN_IN_LIMIT.as_secs() })
    }

    /// Waits for the browser sign-in begun last, then stores the session as a password sign-in
    /// does. Cancelled (or never begun): `cancelled`.
    pub async fn finish_browser_sign_in(&self) -> Result<AppStatus, UiError> {
        let Some((server_url, sign_in)) = self.browser.take() else {
            return Err(UiError::from(tessera_session::EngineError::SignIn(SignInError::Cancelled)));
        };
        let engine = self.engine_for(&server_url).await?;
        engine.finish_browser_sign_in(sign_in, SIGN_IN_LIMIT).await?;
        self.signed_in(&server_url).await
    }

    /// Cancels the browser sign-in under way, if any.
    pub fn cancel_browser_sign_in(&self) {
        self.browser.cancel();
    }
}
