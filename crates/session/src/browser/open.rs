//! Handing the authorization URL to the user's browser: `BROWSER` first (a list of commands
//! separated by `:` — `;` on Windows — each getting the URL appended, or put where `%s` stands, as
//! xdg-utils, Python's `webbrowser` and gh read it), then the OS opener (`xdg-open`, `open`,
//! `rundll32 url.dll,FileProtocolHandler`). Never through a shell: the URL is one argument. The
//! caller always shows the URL too, so it can be copied when no browser comes up.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a command may take to fail before it counts as having opened the URL (openers such
/// as `xdg-open` exit at once; a browser started directly keeps running).
const FAIL_WINDOW: Duration = Duration::from_secs(2);

/// Which command took the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The program, e.g. `xdg-open` or the first word of a `BROWSER` entry.
    pub program: String,
}

/// No command could open the URL; the text says what was tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no browser could be started ({tried}); open the address yourself")]
pub struct OpenFailed {
    /// What was tried and how each failed.
    pub tried: String,
}

impl OpenFailed {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        "browser_unavailable"
    }
}

/// Opens `url` by `BROWSER`, then the OS opener. Blocks up to 2 s per command tried.
pub fn open_in_browser(url: &str) -> Result<Opened, OpenFailed> {
    open_with(url, std::env::var("BROWSER").ok().as_deref(), os_opener())
}

/// [`open_in_browser`] on a thread of its own, the answer on the receiver: a command may take up
/// to 2 s to count as started, and the sign-in's callback must be served meanwhile. Not the
/// runtime's blocking pool, which a runtime waits for at exit; this thread is never joined.
pub fn open_in_background(url: &str) -> tokio::sync::oneshot::Receiver<Result<Opened, OpenFailed>> {
    let (answer, opened) = tokio::sync::oneshot::channel();
    let url = url.to_owned();
    std::thread::spawn(move || answer.send(open_in_browser(&url)));
    opened
}

/// [`open_in_browser`] with the `BROWSER` value and the fallback command given.
pub fn open_with(url: &str, browser: Option<&str>, fallback: &[&str]) -> Result<Opened, OpenFailed> {
    let separator = if cfg!(windows) { ';' } else { ':' };
    let mut commands: Vec<Vec<String>> = browser
        .unwrap_or_default()
        .split(separator)
        .map(|entry| command_for(entry, url))
        .filter(|words| !words.is_empty())
        .collect();
    if !fallback.is_empty() {
        let mut words: Vec<String> = fallback.iter().map(|w| (*w).to_owned()).collect();
        words.push(url.to_owned());
        commands.push(words);
    }
    let mut tried = Vec::new();
    for words in commands {
        match run(&words) {
            Ok(()) => return Ok(Opened { program: words[0].clone() }),
            Err(why) => tried.push(format!("{}: {why}", words[0])),
        }
    }
    Err(OpenFailed { tried: if tried.is_empty() { "nothing to try".into() } else { tried.join("; ") } })
}

/// One `BROWSER` entry as words, the URL in place of `%s` or appended.
fn command_for(entry: &str, url: &str) -> Vec<String> {
    let mut words: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return words;
    }
    if words.iter().any(|w| w.contains("%s")) {
        for word in &mut words {
            *word = word.replace("%s", url);
        }
    } else {
        words.push(url.to_owned());
    }
    words
}

/// Starts `words`; a start failure or a quick non-zero exit is a failure.
fn run(words: &[String]) -> Result<(), String> {
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + FAIL_WINDOW;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
    // Still running: a browser started directly. Reap it whenever it ends.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The OS's own way to open a URL.
fn os_opener() -> &'static [&'static str] {
    if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["rundll32", "url.dll,FileProtocolHandler"]
    } else {
        &["xdg-open"]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const URL: &str = "http://127.0.0.1:8787/oauth/authorize?client_id=tessera-cli&state=a;b&x=$(id)";

    /// A `BROWSER` command that writes its arguments, one a line, to `out`. Run through `sh`
    /// (not executed itself: a script just written can be "text file busy" while a parallel
    /// test forks).
    fn recorder(dir: &std::path::Path) -> (String, std::path::PathBuf) {
        let out = dir.join("args");
        let script = dir.join("browser.sh");
        std::fs::write(&script, format!("for a in \"$@\"; do echo \"$a\"; done > {}\n", out.display())).unwrap();
        (format!("sh {}", script.display()), out)
    }

    #[cfg(unix)]
    #[test]
    fn browser_gets_the_url_as_one_argument_appended_or_in_place_of_percent_s() {
        let dir = tempfile::tempdir().unwrap();
        let (script, out) = recorder(dir.path());
        let opened = open_with(URL, Some(&script), &[]).unwrap();
        assert_eq!(opened.program, "sh");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{URL}\n"), "one argument, no shell");

        let placed = format!("{script} --new-tab %s --private");
        open_with(URL, Some(&placed), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("--new-tab\n{URL}\n--private\n"));
    }

    #[cfg(unix)]
    #[test]
    fn a_browser_that_fails_passes_the_url_to_the_next_then_to_the_os_opener() {
        let dir = tempfile::tempdir().unwrap();
        let (script, out) = recorder(dir.path());
        let list = format!("/nonexistent/browser:false:{script}");
        assert_eq!(open_with(URL, Some(&list), &[]).unwrap().program, "sh", "the first that works");
        assert!(out.exists());

        std::fs::remove_file(&out).unwrap();
        let fallback: Vec<&str> = script.split(' ').collect();
        assert_eq!(open_with(URL, Some("false"), &fallback).unwrap().program, "sh", "then the OS opener");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{URL}\n"));
    }

    #[test]
    fn nothing_that_works_is_an_error_naming_what_was_tried() {
        let failed = open_with(URL, Some("/nonexistent/a"), &["/nonexistent/opener"]).unwrap_err();
        assert_eq!(failed.code(), "browser_unavailable");
        assert!(failed.tried.contains("/nonexistent/a") && failed.tried.contains("/nonexistent/opener"), "{failed}");
        assert_eq!(open_with(URL, None, &[]).unwrap_err().tried, "nothing to try");
    }
}
