//! The app in its real webview, driven over WebDriver: an X server of the test's own (Xvfb,
//! `-noreset`), `WebKitWebDriver` launching the app binary with `TAURI_WEBVIEW_AUTOMATION=true`,
//! and a minimal W3C WebDriver client over reqwest. Each [`Desk`] has its own HOME and XDG
//! directories; `DISPLAY` is set only for the children it spawns.
//!
//! Without a D-Bus session bus (plain `cargo test`), the driver runs under `dbus-run-session`
//! so GTK and the single-instance plugin have one and no daemons outlive the test; the keychain
//! is then missing and the app says "memory only". `tools/test` provides a bus with an unlocked
//! gnome-keyring.
#![allow(dead_code)]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// WebDriver's key for element references (W3C WebDriver §12.2).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a UI condition may take to become true.
pub const UI_TIMEOUT: Duration = Duration::from_secs(20);

/// One app process at a time: the single-instance plugin would hand a second one over to the
/// first, and locking the keychain must not disturb another test.
pub static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Kills a process group on drop.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pgid}")]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
        let _ = self.0.wait();
    }
}

fn spawn_group(mut cmd: Command) -> Group {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).stdin(Stdio::null());
    Group(cmd.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program())))
}

/// A private X server.
pub struct Xvfb {
    _group: Group,
    /// `:N`.
    pub display: String,
}

impl Xvfb {
    /// Starts `Xvfb :N` on a free display number and waits for its socket.
    pub fn start() -> Self {
        let n = (100..400)
            .map(|i| i + (std::process::id() % 300))
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .expect("a free X display number");
        let display = format!(":{n}");
        let mut cmd = Command::new("Xvfb");
        cmd.args([display.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let group = spawn_group(cmd);
        let socket = format!("/tmp/.X11-unix/X{n}");
        wait_until(Duration::from_secs(15), || Path::new(&socket).exists(), "Xvfb to listen (package xvfb)");
        Self { _group: group, display }
    }
}

/// A test's private HOME and XDG directories.
pub struct Home {
    /// Keeps the directories alive.
    pub dir: tempfile::TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    /// Fresh directories.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "config", "data", "cache", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create dir");
        }
        Self { dir }
    }

    /// HOME and XDG variables pointing into it.
    pub fn env(&self) -> Vec<(String, PathBuf)> {
        let p = self.dir.path();
        vec![
            ("HOME".into(), p.join("home")),
            ("XDG_CONFIG_HOME".into(), p.join("config")),
            ("XDG_DATA_HOME".into(), p.join("data")),
            ("XDG_CACHE_HOME".into(), p.join("cache")),
            ("XDG_STATE_HOME".into(), p.join("state")),
        ]
    }

    /// The CLI's (and the app's shared) config dir: `current.json`.
    pub fn shared_config(&self) -> PathBuf {
        self.dir.path().join("config/tessera")
    }

    /// The CLI's (and the app's shared) data dir: refresh locks, account notes.
    pub fn shared_data(&self) -> PathBuf {
        self.dir.path().join("data/tessera")
    }

    /// The app's own directory under XDG_DATA_HOME (logs live under it).
    pub fn app_data(&self) -> PathBuf {
        self.dir.path().join("data/dev.tessera.desktop")
    }
}

/// `WebKitWebDriver` serving on a free loopback port.
pub struct Driver {
    _group: Group,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The app's log directory (shown when a wait times out).
    logs: PathBuf,
    /// The driver's process group, which the apps it launches join.
    pgid: u32,
}

/// How to wrap the driver.
pub enum Bus {
    /// The test's session bus if there is one, else a private `dbus-run-session`.
    Inherit,
    /// A private bus with its own gnome-keyring, unlocked and then locked (keychain_locked).
    LockedKeyring,
}

impl Driver {
    /// Starts the driver with the app's environment: `DISPLAY`, the private dirs, `extra`.
    pub async fn start(x: &Xvfb, home: &Home, bus: Bus, extra: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let driver = format!("exec WebKitWebDriver --port={port} --host=127.0.0.1");
        let script = match bus {
            Bus::Inherit if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() => driver,
            Bus::Inherit => format!("exec dbus-run-session -- sh -c '{driver}'"),
            // The keyring daemon gets no DISPLAY (it could wait on an unlock prompt there); only
            // the driver, and the app it launches, see the X server.
            // `secret-tool lock` hangs here (libsecret 0.20: GLib assertion on the collection
            // path): lock through the Secret Service's own Lock method.
            Bus::LockedKeyring => format!(
                "exec env -u DISPLAY dbus-run-session -- sh -c 'printf pw | gnome-keyring-daemon --unlock \
                 --components=secrets >/dev/null && dbus-send --session --print-reply --dest=org.freedesktop.secrets \
                 /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock \
                 array:objpath:/org/freedesktop/secrets/collection/login >/dev/null \
                 && export DISPLAY={} && {driver}'",
                x.display
            ),
        };
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]).env("DISPLAY", &x.display).env("TAURI_WEBVIEW_AUTOMATION", "true");
        for (k, v) in home.env() {
            cmd.env(k, v);
        }
        if matches!(bus, Bus::LockedKeyring) {
            cmd.env("XDG_RUNTIME_DIR", home.dir.path().join("state"));
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        if std::env::var_os("TESSERA_E2E_VERBOSE").is_none() {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let group = spawn_group(cmd);
        let url = format!("http://127.0.0.1:{port}");
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "WebKitWebDriver did not answer on {url} (package webkit2gtk-driver)");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pgid = group.0.id();
        Self { _group: group, url, logs: home.app_data().join("logs"), pgid }
    }

    /// Launches the app (a WebDriver session) with `args`.
    pub async fn launch(&self, args: &[&str]) -> App {
        self.launch_binary(Path::new(env!("CARGO_BIN_EXE_tessera-app")), args).await
    }

    /// Launches `binary` (another build of the app, e.g. the one a package installs) with `args`.
    pub async fn launch_binary(&self, binary: &Path, args: &[&str]) -> App {
        let caps =
            json!({"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": binary, "args": args}}}});
        let http = client();
        // Starting the app (WebKit, the engine's restore) can take minutes on a loaded 2-core
        // machine; the commands after it keep the usual limit.
        let value = send(http.post(format!("{}/session", self.url)).json(&caps).timeout(LAUNCH_TIMEOUT)).await;
        let id = value["sessionId"].as_str().unwrap_or_else(|| panic!("no session id in {value}")).to_owned();
        App {
            http,
            base: format!("{}/session/{id}", self.url),
            closed: false,
            logs: self.logs.clone(),
            pgid: self.pgid,
            binary: binary.to_owned(),
        }
    }
}

/// The most a WebDriver session (the app's launch) may take to start.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(180);

/// A client whose requests fail instead of hanging when the driver or app stops answering.
fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("HTTP client")
}

async fn send(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap_or_else(|e| panic!("WebDriver request failed: {e}"));
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("WebDriver answer is not JSON: {e}"));
    assert!(status.is_success(), "WebDriver error {status}: {body}");
    body["value"].clone()
}

/// A running app (one WebDriver session).
pub struct App {
    http: reqwest::Client,
    base: String,
    closed: bool,
    logs: PathBuf,
    pgid: u32,
    /// The app's executable, to see when it has exited.
    binary: PathBuf,
}

impl App {
    /// Runs `script` (a function body; `arguments` available) and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        send(self.http.post(format!("{}/execute/sync", self.base)).json(&json!({"script": script, "args": args}))).await
    }

    /// Waits until `expr` (a JS expression) is truthy; panics with `what` otherwise.
    pub async fn wait_for(&self, expr: &str, what: &str) -> Value {
        self.wait_within(UI_TIMEOUT, expr, what).await
    }

    /// [`wait_for`](Self::wait_for) with its own limit (reconnects back off for a while).
    pub async fn wait_within(&self, limit: Duration, expr: &str, what: &str) -> Value {
        let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
        let deadline = Instant::now() + limit;
        loop {
            let v = self.js(&script, json!([])).await;
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if Instant::now() > deadline {
                let page = self.js("return document.body.innerText", json!([])).await;
                panic!("timed out waiting for {what} ({expr}); page text:\n{page}\napp log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the app's log files (for a failure message).
    fn log_tail(&self) -> String {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&self.logs).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort();
        let text: String = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Waits until the element `#id` is visible (not inside anything hidden) and returns its text.
    pub async fn visible_text(&self, id: &str, what: &str) -> String {
        let expr = format!(
            "(() => {{ const e = document.getElementById('{id}'); return e && e.offsetParent !== null && e.textContent.trim(); }})()"
        );
        self.wait_for(&expr, what).await.as_str().unwrap_or_default().to_owned()
    }

    /// The element matching `css`.
    pub async fn find(&self, css: &str) -> String {
        let v = send(
            self.http.post(format!("{}/element", self.base)).json(&json!({"using": "css selector", "value": css})),
        )
        .await;
        v[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        send(self.http.post(format!("{}/element/{id}/click", self.base)).json(&json!({}))).await;
    }

    /// Clears `css` and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        send(self.http.post(format!("{}/element/{id}/clear", self.base)).json(&json!({}))).await;
        send(self.http.post(format!("{}/element/{id}/value", self.base)).json(&json!({"text": text}))).await;
    }

    /// Signs in through the password form (folded away under the browser button).
    pub async fn sign_in(&self, user: &str, password: &str) {
        self.visible_text("signin-title", "the sign-in screen").await;
        self.js("document.getElementById('signin-password').open = true", json!([])).await;
        self.type_into("#username", user).await;
        self.type_into("#password", password).await;
        self.click("#sign-in").await;
    }

    /// Saves a screenshot of the window to `docs/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        // Under load WebKitGTK can hand back the last painted frame, from before the DOM change
        // the test just waited for: let two frames be painted first.
        let frames = "return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))";
        self.js(frames, json!([])).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // WebKitGTK answers a snapshot at the page's next paint, and a still page (no caret
        // blinking, nothing animating) may not paint again: keep it painting, invisibly (an
        // outline of alpha < 1%), until the snapshot is back.
        let tick = "window.__tesseraTick = setInterval(() => { document.body.style.outline = \
                    `1px solid rgba(0,0,0,${(Math.random() / 100).toFixed(4)})`; }, 30);";
        self.js(tick, json!([])).await;
        let v = send(self.http.get(format!("{}/screenshot", self.base))).await;
        self.js("clearInterval(window.__tesseraTick); document.body.style.outline = '';", json!([])).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).expect("base64 PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Calls a command as the UI does and returns its result (or `{"error": …}`).
    pub async fn invoke(&self, command: &str, args: Value) -> Value {
        self.js(
            "return window.__TAURI__.core.invoke(arguments[0], arguments[1]).then(v => ({ok: v}), e => ({error: e}))",
            json!([command, args]),
        )
        .await
    }

    /// Ends the session, which closes the app, and waits for the app process to exit: a
    /// launch while it is still shutting down would be handed to it by the single-instance
    /// plugin and exit at once.
    pub async fn close(mut self) {
        self.closed = true;
        let closing = self.http.delete(&self.base).timeout(Duration::from_secs(15)).send().await;
        if let Err(e) = closing {
            eprintln!("closing the WebDriver session: {e}");
        }
        let running = || {
            Command::new("pgrep")
                .args(["-g", &self.pgid.to_string(), "-f"])
                .arg(&self.binary)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while running() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Polls `done` until it holds (for processes whose readiness shows only as a file).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything one app needs; dropped in reverse order (driver, then dirs, then X).
pub struct Desk {
    /// The driver (and the app it launches).
    pub driver: Driver,
    /// Private dirs.
    pub home: Home,
    /// The X server.
    pub x: Xvfb,
}
