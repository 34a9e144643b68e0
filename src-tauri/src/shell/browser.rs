//! Sign-in through the system browser for the app (authorization code + PKCE, RFC 8252), in the
//! three steps the sign-in screen needs: begin (discovery, the loopback listener bound, the
//! browser opening), finish (wait for the browser, exchange, store), cancel. The sign-in under way
//! — its listener, PKCE verifier, state and nonce — stays here; the webview gets only the address
//! to show, which carries none of them but the public challenge.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tessera_session::BrowserSignIn;
use tessera_session::browser::{SignInCanceller, SignInError, open_in_background};

use super::{AppStatus, Shell};
use crate::error::UiError;

/// How long the app waits for the browser to come back (the CLI's default `--timeout` too).
pub const SIGN_IN_LIMIT: Duration = Duration::from_secs(300);

/// What the sign-in screen shows while the browser is open.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserStart {
    /// The authorization address, to show so it can be copied into another browser.
    pub url: String,
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

/// Opens `url` in the browser (`BROWSER`, then the OS opener) without waiting for it (see
/// [`open_in_background`]). Failing is logged; the sign-in screen always shows the address too.
pub(super) fn open_detached(url: &str, what: &'static str) {
    let opened = open_in_background(url);
    tokio::spawn(async move {
        match opened.await {
            Ok(Ok(opened)) => tracing::info!(program = %opened.program, "browser opened for {what}"),
            Ok(Err(e)) => tracing::warn!(code = e.code(), "no browser opened for {what}: {e}"),
            Err(_) => tracing::warn!("the browser opener for {what} ended without an answer"),
        }
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
        open_detached(&url, "the sign-in page");
        tracing::info!(server = %server_url, "browser sign-in begun");
        Ok(BrowserStart { url, timeout_secs: SIGN_IN_LIMIT.as_secs() })
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
