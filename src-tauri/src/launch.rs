//! What the command line asks before any window opens: `--help` and `--version` answer without
//! a display, and without a usable display the app says so in one line and exits 1 (GTK would
//! otherwise panic with a backtrace when the window is built).

/// What to do after reading the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Open the window.
    Open,
    /// Print `text` (stdout when `code` is 0, else stderr) and exit with `code`.
    Exit {
        /// The process exit status.
        code: i32,
        /// What to print.
        text: String,
    },
}

/// The help text.
pub fn usage() -> String {
    format!(
        "Tessera desktop app {version}\n\n\
         Usage: tessera-app [--server URL]\n\n\
         Options:\n  \
           --server URL   the Tessera server to sign in to (else TESSERA_SERVER_URL, the saved\n                 \
                          setting, the `tessera` CLI's current account, {default})\n  \
           -h, --help     print this help and exit\n  \
           -V, --version  print the version and exit\n\n\
         Environment:\n  \
           TESSERA_SERVER_URL         the server, as --server\n  \
           TESSERA_IDLE_TIMEOUT_SECS  sign out after this much system-wide inactivity\n  \
           TESSERA_LOG                log filter (e.g. debug, tessera_session=debug)\n  \
           BROWSER                    the browser for signing in (else the system's)\n\n\
         In a terminal or over SSH, use the `tessera` CLI instead (`tessera login --device`).\n",
        version = env!("CARGO_PKG_VERSION"),
        default = crate::config::DEFAULT_SERVER_URL,
    )
}

/// Reads `args` (without the program name) and, when a window is wanted, checks the display
/// with `display` (see [`display_usable`]).
pub fn decide(args: &[String], display: impl FnOnce() -> Result<(), String>) -> Launch {
    let has = |names: &[&str]| args.iter().any(|a| names.contains(&a.as_str()));
    if has(&["--help", "-h"]) {
        return Launch::Exit { code: 0, text: usage() };
    }
    if has(&["--version", "-V"]) {
        return Launch::Exit { code: 0, text: format!("tessera-app {}\n", env!("CARGO_PKG_VERSION")) };
    }
    match display() {
        Ok(()) => Launch::Open,
        Err(why) => Launch::Exit { code: 1, text: format!("tessera-app: {why}\n") },
    }
}

/// Whether a window can be opened: on Linux a display is named and GTK can open it.
#[cfg(target_os = "linux")]
pub fn display_usable() -> Result<(), String> {
    let named = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).is_some();
    let hint = "the app needs a graphical session; in a terminal use the `tessera` CLI";
    if !named("DISPLAY") && !named("WAYLAND_DISPLAY") {
        return Err(format!("no display (DISPLAY and WAYLAND_DISPLAY are not set): {hint}"));
    }
    // What the window would do first, but as a check that returns instead of panicking.
    gtk::init().map_err(|e| format!("cannot open the display ({e}): {hint}"))
}

/// Whether a window can be opened: Windows and macOS always have a desktop for the user's session.
#[cfg(not(target_os = "linux"))]
pub fn display_usable() -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn help_and_version_answer_without_looking_at_the_display() {
        let never = || -> Result<(), String> { panic!("the display must not be checked") };
        let Launch::Exit { code: 0, text } = decide(&args(&["--help"]), never) else { panic!("--help exits 0") };
        assert!(text.contains("Usage: tessera-app [--server URL]"), "{text}");
        let Launch::Exit { code: 0, text } = decide(&args(&["--server", "x", "-V"]), never) else {
            panic!("-V exits 0")
        };
        assert_eq!(text, format!("tessera-app {}\n", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn no_display_is_one_line_and_a_failure_status() {
        let launch = decide(&args(&["--server", "http://127.0.0.1:1"]), || Err("no display".into()));
        assert_eq!(launch, Launch::Exit { code: 1, text: "tessera-app: no display\n".into() });
        assert_eq!(decide(&[], || Ok(())), Launch::Open, "a usable display opens the window");
    }
}
