//! The app binary before any window: `--help` and `--version` answer without a display, and no
//! usable display is one clear line and a failure status, never a GTK panic.
#![cfg(target_os = "linux")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

use std::process::{Command, Output};

fn app(args: &[&str], display: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera-app"));
    cmd.args(args).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    if let Some(display) = display {
        cmd.env("DISPLAY", display);
    }
    // Its own dirs, so nothing of the user's is touched even if a window were (wrongly) opened.
    let home = tempfile::tempdir().unwrap();
    cmd.env("HOME", home.path()).env("XDG_CONFIG_HOME", home.path()).env("XDG_DATA_HOME", home.path());
    cmd.output().expect("run tessera-app")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_answer_without_a_display() {
    let help = app(&["--help"], None);
    assert_eq!(help.status.code(), Some(0), "--help exits 0: {help:?}");
    assert!(text(&help.stdout).contains("Usage: tessera-app [--server URL]"), "{}", text(&help.stdout));
    let version = app(&["--version"], None);
    assert_eq!(version.status.code(), Some(0), "--version exits 0: {version:?}");
    assert_eq!(text(&version.stdout), format!("tessera-app {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn no_usable_display_is_one_line_and_status_1() {
    for (display, says) in [(None, "no display"), (Some(":97"), "cannot open the display")] {
        let out = app(&["--server", "http://127.0.0.1:9"], display);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "DISPLAY={display:?}: exit 1, not a crash: {stderr}");
        assert!(stderr.starts_with("tessera-app: ") && stderr.contains(says), "DISPLAY={display:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
