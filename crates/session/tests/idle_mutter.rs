//! GNOME's idle monitor over D-Bus: a stand-in `org.gnome.Mutter.IdleMonitor` on a private
//! session bus (real dbus-daemon, real libdbus), found by `SystemIdle::detect()` on Wayland.
//! Proves the call's shape (name, path, interface, types); GNOME Shell itself is not here.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::child::{as_child, is_child};
use common::fake_bus::{FakeMutter, PrivateBus};
use tessera_session::SystemIdle;

#[test]
fn on_wayland_gnome_idle_time_comes_from_the_mutter_idle_monitor() {
    let parent = (!is_child()).then(|| {
        let bus = PrivateBus::start();
        let mutter = FakeMutter::start(&bus.address, 123_456);
        (bus, mutter)
    });
    let address = parent.as_ref().map(|(bus, _)| bus.address.clone()).unwrap_or_default();
    as_child(
        "on_wayland_gnome_idle_time_comes_from_the_mutter_idle_monitor",
        &[("DBUS_SESSION_BUS_ADDRESS", address), ("WAYLAND_DISPLAY", "wayland-tessera-test".into())],
        &["XDG_RUNTIME_DIR"],
        || async {
            let source = SystemIdle::detect()
                .unwrap_or_else(|| panic!("a session bus with Mutter's idle monitor must be found"));
            assert_eq!(source.name(), "mutter", "on Wayland with GNOME's idle monitor, Mutter is the source");
            let idle = source.idle_time().unwrap_or_else(|e| panic!("GetIdletime must answer: {e}"));
            assert_eq!(idle, Duration::from_millis(123_456), "the monitor's milliseconds become the idle time");
        },
    );
    drop(parent);
}
