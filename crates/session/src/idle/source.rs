//! [`IdleSource`] and [`SystemIdle::detect`], which picks the one that works on this desktop.

use std::sync::Arc;
use std::time::Duration;

use super::IdleError;

/// System-wide idle time: how long since the last keyboard or mouse input on this desktop.
pub trait IdleSource: Send + Sync + 'static {
    /// Short name for status and logs: `x11`, `mutter`, `windows`, `macos`, or the app's own.
    fn name(&self) -> &'static str;

    /// Time since the last input. May block briefly (the watch calls it on a blocking thread).
    fn idle_time(&self) -> Result<Duration, IdleError>;
}

/// The operating system's idle time, whichever way this desktop offers it.
#[derive(Debug, Clone, Copy)]
pub struct SystemIdle;

impl SystemIdle {
    /// The first source that answers here, or `None` (idle time unknown).
    ///
    /// Linux: on Wayland (`WAYLAND_DISPLAY` set) GNOME's Mutter idle monitor first, then X11
    /// (XWayland sees only X clients' input, still better than nothing); otherwise X11 first,
    /// then Mutter. X11 needs `DISPLAY` and a server that completes a handshake and has the
    /// MIT-SCREEN-SAVER extension; Mutter needs a session bus. Windows and macOS: `user-idle`.
    /// Each failure is logged at `info`.
    pub fn detect() -> Option<Arc<dyn IdleSource>> {
        detect_here()
    }
}

#[cfg(target_os = "linux")]
fn detect_here() -> Option<Arc<dyn IdleSource>> {
    use super::{MutterIdle, X11Idle};

    let x11 = || -> Option<Arc<dyn IdleSource>> {
        match X11Idle::from_env() {
            Ok(source) => Some(Arc::new(source)),
            Err(e) => {
                tracing::info!(error = %e, "no X11 idle time");
                None
            }
        }
    };
    let mutter = || -> Option<Arc<dyn IdleSource>> {
        match MutterIdle::connect() {
            Ok(source) => Some(Arc::new(source)),
            Err(e) => {
                tracing::info!(error = %e, "no Mutter idle time");
                None
            }
        }
    };
    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty());
    let found = if wayland { mutter().or_else(x11) } else { x11().or_else(mutter) };
    if let Some(source) = &found {
        tracing::info!(source = source.name(), "system idle time available");
    }
    found
}

#[cfg(any(target_os = "windows", target_os = "macos"))]
fn detect_here() -> Option<Arc<dyn IdleSource>> {
    let source = super::PlatformIdle;
    match source.idle_time() {
        Ok(_) => Some(Arc::new(source)),
        Err(e) => {
            tracing::info!(error = %e, "no system idle time");
            None
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
fn detect_here() -> Option<Arc<dyn IdleSource>> {
    tracing::info!("no system idle source on this platform");
    None
}
