//! X11 idle time: the XScreenSaver extension's idle counter, read with `user-idle`.
//!
//! `user-idle` opens `$DISPLAY` with Xlib and does not check the result: without a reachable
//! display it dereferences a null pointer and the process dies (SIGSEGV). So every read is
//! preceded by a handshake of our own with pure-Rust `x11rb` (Xauthority cookie included) that
//! also checks the MIT-SCREEN-SAVER extension is there. A display that vanishes between the
//! handshake and the read (microseconds) is the one case left; no safe code can close it.

use std::time::Duration;

use x11rb::connection::RequestConnection;
use x11rb::rust_connection::RustConnection;

use super::{IdleError, IdleSource};

const NAME: &str = "x11";
const EXTENSION: &str = "MIT-SCREEN-SAVER";

/// The X server's idle counter for `$DISPLAY`.
#[derive(Debug, Clone)]
pub struct X11Idle {
    display: String,
}

impl X11Idle {
    /// The display named by `$DISPLAY`, if it completes a handshake and has the extension.
    pub fn from_env() -> Result<Self, IdleError> {
        let display = current_display()?;
        probe(&display)?;
        Ok(Self { display })
    }

    /// The display this source was set up for.
    pub fn display(&self) -> &str {
        &self.display
    }
}

fn current_display() -> Result<String, IdleError> {
    std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| IdleError::Unavailable { source_name: NAME, reason: "DISPLAY is not set".into() })
}

/// Connects (handshake and authentication) and asks for the screen-saver extension.
fn probe(display: &str) -> Result<(), IdleError> {
    let unavailable = |reason: String| IdleError::Unavailable { source_name: NAME, reason };
    let (conn, _screen) =
        RustConnection::connect(Some(display)).map_err(|e| unavailable(format!("cannot connect to {display}: {e}")))?;
    let present = conn
        .extension_information(EXTENSION)
        .map_err(|e| unavailable(format!("{display}: extension query failed: {e}")))?
        .is_some();
    if present { Ok(()) } else { Err(unavailable(format!("{display} has no {EXTENSION} extension"))) }
}

impl IdleSource for X11Idle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn idle_time(&self) -> Result<Duration, IdleError> {
        // user-idle reads $DISPLAY itself: check the display it will open, right before.
        probe(&current_display()?)?;
        user_idle::UserIdle::get_time()
            .map(|t| t.duration())
            .map_err(|e| IdleError::Query { source_name: NAME, reason: e.to_string() })
    }
}
