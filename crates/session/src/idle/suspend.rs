//! logind's signals on the system bus: `PrepareForSleep(true/false)` from the manager and `Lock`
//! for this process's login session. A plain thread blocks in libdbus and forwards them; it
//! wakes only for messages (and every [`LISTEN_SLICE`] to notice the watch is gone).
//!
//! Where there is no system bus or no logind (containers, Windows, macOS), the listener says so
//! once in the log and the watch compares clocks instead.

use std::time::Duration;

use tokio::sync::mpsc;

/// What logind told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only logind sends them
pub(crate) enum SystemSignal {
    /// The listener is subscribed (sleep signals will come).
    Listening,
    /// `PrepareForSleep(true)`: the machine is about to suspend.
    PreparingForSleep,
    /// `PrepareForSleep(false)`: it woke up.
    Resumed,
    /// `Lock` for our login session.
    Locked,
}

/// How long the listener thread blocks before checking the watch still exists.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const LISTEN_SLICE: Duration = Duration::from_secs(300);

/// Starts listening on the system bus, or on `address` (tests run a private bus there).
#[cfg(target_os = "linux")]
pub(crate) fn listen(address: Option<String>, tx: mpsc::Sender<SystemSignal>) {
    let spawned = std::thread::Builder::new().name("tessera-logind".into()).spawn(move || {
        if let Err(e) = linux::run(address.as_deref(), &tx) {
            tracing::info!(error = %e, "no logind signals: suspend is noticed by comparing clocks, lock is not noticed");
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the logind listener");
    }
}

/// No logind here.
#[cfg(not(target_os = "linux"))]
pub(crate) fn listen(_address: Option<String>, _tx: mpsc::Sender<SystemSignal>) {
    tracing::info!("no logind on this platform: suspend is noticed by comparing clocks");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::time::Duration;

    use dbus::Path;
    use dbus::blocking::Connection;
    use dbus::message::MatchRule;
    use tokio::sync::mpsc;

    use super::{LISTEN_SLICE, SystemSignal};

    const LOGIND: &str = "org.freedesktop.login1";
    const MANAGER_PATH: &str = "/org/freedesktop/login1";
    const MANAGER: &str = "org.freedesktop.login1.Manager";
    const SESSION: &str = "org.freedesktop.login1.Session";
    const CALL_LIMIT: Duration = Duration::from_secs(2);

    pub(super) fn run(address: Option<&str>, tx: &mpsc::Sender<SystemSignal>) -> Result<(), dbus::Error> {
        let conn = match address {
            Some(address) => Connection::new_address(address)?,
            None => Connection::new_system()?,
        };
        let sleep_tx = tx.clone();
        let sleep = MatchRule::new_signal(MANAGER, "PrepareForSleep").with_sender(LOGIND).with_path(MANAGER_PATH);
        conn.add_match(sleep, move |(starting,): (bool,), _, _| {
            let signal = if starting { SystemSignal::PreparingForSleep } else { SystemSignal::Resumed };
            forward(&sleep_tx, signal)
        })?;
        match own_session(&conn) {
            Ok(path) => {
                let lock_tx = tx.clone();
                let lock = MatchRule::new_signal(SESSION, "Lock").with_sender(LOGIND).with_path(path.clone());
                conn.add_match(lock, move |(): (), _, _| forward(&lock_tx, SystemSignal::Locked))?;
                tracing::info!(session = %path, "listening to logind sleep and lock signals");
            }
            Err(e) => tracing::info!(error = %e, "no logind session for this process: screen lock is not noticed"),
        }
        if !forward(tx, SystemSignal::Listening) {
            return Ok(());
        }
        while !tx.is_closed() {
            conn.process(LISTEN_SLICE)?;
        }
        Ok(())
    }

    /// Our login session's object path: by process id, else by `$XDG_SESSION_ID`.
    fn own_session(conn: &Connection) -> Result<Path<'static>, dbus::Error> {
        let manager = conn.with_proxy(LOGIND, MANAGER_PATH, CALL_LIMIT);
        let by_pid: Result<(Path<'static>,), _> =
            manager.method_call(MANAGER, "GetSessionByPID", (std::process::id(),));
        match (by_pid, std::env::var("XDG_SESSION_ID")) {
            (Ok((path,)), _) => Ok(path),
            (Err(_), Ok(id)) => manager.method_call(MANAGER, "GetSession", (id,)).map(|(path,): (Path<'static>,)| path),
            (Err(e), Err(_)) => Err(e),
        }
    }

    /// Hands a signal to the watch; false (drop the match) once the watch is gone.
    fn forward(tx: &mpsc::Sender<SystemSignal>, signal: SystemSignal) -> bool {
        match tx.try_send(signal) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(?signal, "idle watch busy; a logind signal was dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
