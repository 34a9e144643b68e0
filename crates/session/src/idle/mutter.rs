//! GNOME (Wayland or X11): `org.gnome.Mutter.IdleMonitor.GetIdletime` on the session bus.

use std::time::Duration;

use dbus::blocking::SyncConnection;

use super::{IdleError, IdleSource};

const NAME: &str = "mutter";
const DESTINATION: &str = "org.gnome.Mutter.IdleMonitor";
const PATH: &str = "/org/gnome/Mutter/IdleMonitor/Core";
const CALL_LIMIT: Duration = Duration::from_secs(2);

/// GNOME Shell's idle monitor.
pub struct MutterIdle {
    conn: SyncConnection,
}

impl std::fmt::Debug for MutterIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutterIdle").finish_non_exhaustive()
    }
}

impl MutterIdle {
    /// Connects to the session bus and asks once. Refuses when no session bus is configured
    /// (`DBUS_SESSION_BUS_ADDRESS` or `$XDG_RUNTIME_DIR/bus`): libdbus would otherwise try to
    /// autolaunch a bus daemon that outlives us.
    pub fn connect() -> Result<Self, IdleError> {
        let unavailable = |reason: String| IdleError::Unavailable { source_name: NAME, reason };
        let configured = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
            || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists());
        if !configured {
            return Err(unavailable("no session bus".into()));
        }
        let conn = SyncConnection::new_session().map_err(|e| unavailable(format!("session bus: {e}")))?;
        let source = Self { conn };
        source.idle_time().map_err(|e| unavailable(e.to_string()))?;
        Ok(source)
    }
}

impl IdleSource for MutterIdle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn idle_time(&self) -> Result<Duration, IdleError> {
        let proxy = self.conn.with_proxy(DESTINATION, PATH, CALL_LIMIT);
        let (millis,): (u64,) = proxy
            .method_call(DESTINATION, "GetIdletime", ())
            .map_err(|e| IdleError::Query { source_name: NAME, reason: e.to_string() })?;
        Ok(Duration::from_millis(millis))
    }
}
