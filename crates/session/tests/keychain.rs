//! The session vault against the real OS keychain: gnome-keyring over the Secret Service.
//!
//! Ignored by default: they need an unlocked Secret Service on a private session bus. The
//! project's test script runs them as
//!
//! ```sh
//! env -u DISPLAY HOME="$(mktemp -d)" dbus-run-session -- sh -c \
//!   'echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; cargo test -- --include-ignored'
//! ```
//!
//! The failure stories (locked, no provider, no bus, no answer) run a child process of this
//! test binary (`child_vault_report`) in an environment built for the story, and assert on the
//! error codes it prints. Needs `dbus-run-session`, `dbus-daemon`, `gnome-keyring-daemon` and
//! `secret-tool` (packages dbus, gnome-keyring, libsecret-tools).
// Test scaffolding: a fixture that cannot be built should stop the test loudly.
#![allow(clippy::expect_used)]
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::DateTime;
use tessera_session::{Account, KeychainVault, RefreshToken, Vault, VaultError, VaultRecord};

/// Set in the child's environment to the story it should play ("report" or "locked").
const CHILD_ENV: &str = "TESSERA_TEST_VAULT_CHILD";
/// Optional time limit for the child's vault, in milliseconds.
const CHILD_TIMEOUT_ENV: &str = "TESSERA_TEST_VAULT_TIMEOUT_MS";
/// Prefix of the lines the child prints and the parent reads.
const RESULT: &str = "TESSERA_RESULT ";

fn record(server_url: &str, username: &str, token: &str) -> VaultRecord {
    VaultRecord {
        refresh_token: RefreshToken::new(token),
        session_id: uuid::Uuid::new_v4().to_string(),
        client_id: Some("tessera-cli".into()),
        username: username.into(),
        server_url: server_url.into(),
        refresh_expires_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_else(|| panic!("valid")),
        session_expires_at: DateTime::from_timestamp(1_900_040_000, 0).unwrap_or_else(|| panic!("valid")),
        pending_revocation: None,
    }
}

/// A server URL no other test (or earlier run) uses.
fn unique_server() -> String {
    format!("http://127.0.0.1:8787/test-{}", uuid::Uuid::new_v4())
}

/// A vault with a generous limit: these stories are about answers, not about slowness.
fn vault() -> KeychainVault {
    KeychainVault::with_timeout(Duration::from_secs(30))
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn signed_in_session_round_trips_through_the_keychain() {
    let vault = vault();
    let rec = record(&unique_server(), "ann", "trt_round-trip");
    assert_eq!(vault.load(&rec.key()).await, Ok(None), "a new server+user must have no record");
    vault.store(&rec).await.expect("store in an unlocked keychain");
    assert_eq!(vault.load(&rec.key()).await, Ok(Some(rec.clone())), "load must return exactly what was stored");
    let mut rotated = rec.clone();
    rotated.refresh_token = RefreshToken::new("trt_rotated");
    vault.store(&rotated).await.expect("replace the record");
    assert_eq!(vault.load(&rec.key()).await, Ok(Some(rotated)), "a second store must replace, not add");
    vault.delete(&rec.key()).await.expect("delete");
    assert_eq!(vault.load(&rec.key()).await, Ok(None), "delete must remove the record");
    assert_eq!(vault.delete(&rec.key()).await, Ok(()), "deleting a missing record is not an error");
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn stored_session_survives_a_restart_and_is_in_the_real_keychain() {
    let rec = record(&unique_server(), "bob", "trt_survives");
    vault().store(&rec).await.expect("store");
    // A fresh vault, as after an app restart.
    assert_eq!(vault().load(&rec.key()).await, Ok(Some(rec.clone())), "a new vault must read the stored record");
    // Another process, through libsecret: proves this is gnome-keyring, not keyring's mock.
    let out = Command::new("secret-tool")
        .args(["lookup", "service", &rec.key().keychain_service(), "username", &rec.username])
        .output()
        .expect("run secret-tool (package libsecret-tools)");
    assert!(out.status.success(), "secret-tool must find the entry: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), rec.to_payload(), "the keychain must hold the record's payload");
    vault().delete(&rec.key()).await.expect("clean up");
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn same_user_on_two_servers_keeps_two_sessions() {
    let vault = vault();
    let a = record(&unique_server(), "carol", "trt_server-a");
    let b = record(&unique_server(), "carol", "trt_server-b");
    vault.store(&a).await.expect("store a");
    vault.store(&b).await.expect("store b");
    assert_eq!(vault.load(&a.key()).await, Ok(Some(a.clone())), "server A's record must stay A's");
    assert_eq!(vault.load(&b.key()).await, Ok(Some(b.clone())), "server B's record must stay B's");
    vault.delete(&a.key()).await.expect("delete a");
    assert_eq!(vault.load(&b.key()).await, Ok(Some(b.clone())), "signing out of A must not touch B");
    vault.delete(&b.key()).await.expect("delete b");
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn long_refresh_token_and_pending_revocation_fit() {
    let vault = vault();
    let mut rec = record(&unique_server(), "a-rather-long-user-name@support.example.com", &"r".repeat(1024));
    rec.pending_revocation = Some(RefreshToken::new("p".repeat(1024)));
    vault.store(&rec).await.expect("a 2 KiB record must be accepted");
    assert_eq!(vault.load(&rec.key()).await, Ok(Some(rec.clone())), "long tokens must come back whole");
    vault.delete(&rec.key()).await.expect("clean up");
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn probe_passes_on_a_working_keychain_and_leaves_nothing_behind() {
    assert_eq!(vault().probe().await, Ok(()), "the probe must pass on an unlocked gnome-keyring");
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", KeychainVault::PROBE_SERVICE])
        .output()
        .expect("run secret-tool (package libsecret-tools)");
    let listing = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    // Other test processes (the CLI's crash test kills some mid-probe) may have entries of their
    // own here; this process's must be gone.
    let mine = format!("probe-{}-", std::process::id());
    assert!(!listing.contains(&mine), "the probe must delete its entry ({mine}…): {listing}");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn locked_keychain_is_reported_as_keychain_locked() {
    // A keyring of its own, so locking it does not disturb the tests running beside this one.
    let home = tempfile::tempdir().expect("temp HOME");
    let runtime = tempfile::tempdir().expect("temp XDG_RUNTIME_DIR");
    let mut cmd = Command::new("dbus-run-session");
    cmd.args(["--", "sh", "-c"])
        .arg(r#"echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$0" "$@""#);
    let out = run_child(cmd, "locked", home.path(), runtime.path(), &[]);
    let results = results(&out);
    assert_eq!(lookup(&results, "locked"), "true", "the child must have locked the collection\n{}", show(&out));
    for op in ["load_existing", "store_existing", "store_new", "delete_existing", "probe"] {
        assert_eq!(lookup(&results, op), "keychain_locked", "{op} on a locked keychain\n{}", show(&out));
    }
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn no_session_bus_is_reported_as_keychain_unavailable() {
    let home = tempfile::tempdir().expect("temp HOME");
    let runtime = tempfile::tempdir().expect("temp XDG_RUNTIME_DIR (holds no bus socket)");
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
    let out = run_child(cmd, "report", home.path(), runtime.path(), &[]);
    assert_all(&out, "keychain_unavailable", "without a session bus");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn dead_bus_address_is_reported_as_keychain_unavailable() {
    let home = tempfile::tempdir().expect("temp HOME");
    let address = format!("unix:path={}", home.path().join("no-bus-here").display());
    let cmd = Command::new(std::env::current_exe().expect("test binary"));
    let out = run_child(cmd, "report", home.path(), home.path(), &[("DBUS_SESSION_BUS_ADDRESS", &address)]);
    assert_all(&out, "keychain_unavailable", "with a bus address nobody listens on");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn session_bus_without_secret_service_is_reported_as_keychain_unavailable() {
    // A private bus that can start no services: nothing owns org.freedesktop.secrets.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bus.conf");
    std::fs::File::create(&config)
        .and_then(|mut f| {
            write!(
                f,
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().join("bus").display()
            )
        })
        .expect("write bus config");
    let mut daemon = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dbus-daemon (package dbus)");
    // The daemon prints its address once it listens: no sleeping.
    let mut address = String::new();
    if let Some(stdout) = daemon.stdout.take() {
        BufReader::new(stdout).read_line(&mut address).expect("read the bus address");
    }
    let cmd = Command::new(std::env::current_exe().expect("test binary"));
    let out = run_child(cmd, "report", dir.path(), dir.path(), &[("DBUS_SESSION_BUS_ADDRESS", address.trim())]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(!address.trim().is_empty(), "dbus-daemon must print its address");
    assert_all(&out, "keychain_unavailable", "with a session bus but no Secret Service");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn keychain_that_never_answers_is_reported_as_keychain_timeout() {
    // A "bus" that accepts connections and never says a word: every call hangs in libdbus.
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("silent-bus");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind a unix socket");
    let address = format!("unix:path={}", socket.display());
    let cmd = Command::new(std::env::current_exe().expect("test binary"));
    let env = [("DBUS_SESSION_BUS_ADDRESS", address.as_str()), (CHILD_TIMEOUT_ENV, "300")];
    let out = run_child(cmd, "report", dir.path(), dir.path(), &env);
    assert_all(&out, "keychain_timeout", "when the keychain never answers");
}

/// Not a test of its own: the body of the child processes above. Does nothing unless
/// [`CHILD_ENV`] is set.
#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn child_vault_report() {
    let Ok(story) = std::env::var(CHILD_ENV) else { return };
    let millis = std::env::var(CHILD_TIMEOUT_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
    let vault = KeychainVault::with_timeout(Duration::from_millis(millis));
    let server = unique_server();
    let rec = record(&server, "dana", "trt_child");
    match story.as_str() {
        "report" => {
            report("probe", &vault.probe().await);
            report("store", &vault.store(&rec).await);
            report("load", &vault.load(&rec.key()).await.map(|r| r.map_or("none", |_| "some")));
            report("delete", &vault.delete(&rec.key()).await);
        }
        "locked" => {
            report("store_before_lock", &vault.store(&rec).await);
            let locked = lock_default_collection();
            println!("{RESULT}locked={}", locked.as_ref().map_or_else(|e| e.clone(), |l| l.to_string()));
            report("load_existing", &vault.load(&rec.key()).await);
            report("store_existing", &vault.store(&rec).await);
            report("store_new", &vault.store(&record(&server, "erin", "trt_new")).await);
            report("delete_existing", &vault.delete(&Account::new(&server, "dana")).await);
            report("probe", &vault.probe().await);
        }
        other => println!("{RESULT}error=unknown story {other}"),
    }
    let _ = std::io::stdout().flush();
    // Calls that timed out still hang on their blocking threads, and the runtime would wait
    // for them on shutdown: leave now that everything is printed.
    std::process::exit(0);
}

fn report<T: std::fmt::Debug>(op: &str, result: &Result<T, VaultError>) {
    match result {
        Ok(value) => println!("{RESULT}{op}=ok\n{RESULT}{op}_value={value:?}"),
        Err(err) => println!("{RESULT}{op}={}\n{RESULT}{op}_message={err}", err.code()),
    }
}

/// Locks the Secret Service's default collection over D-Bus and says whether it is locked now.
fn lock_default_collection() -> Result<bool, String> {
    use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
    let conn = dbus::blocking::Connection::new_session().map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(10);
    let service = conn.with_proxy("org.freedesktop.secrets", "/org/freedesktop/secrets", timeout);
    let (collection,): (dbus::Path<'static>,) = service
        .method_call("org.freedesktop.Secret.Service", "ReadAlias", ("default",))
        .map_err(|e| format!("ReadAlias: {e}"))?;
    let _: (Vec<dbus::Path<'static>>, dbus::Path<'static>) = service
        .method_call("org.freedesktop.Secret.Service", "Lock", (vec![collection.clone()],))
        .map_err(|e| format!("Lock: {e}"))?;
    conn.with_proxy("org.freedesktop.secrets", collection, timeout)
        .get("org.freedesktop.Secret.Collection", "Locked")
        .map_err(|e| format!("Locked: {e}"))
}

/// Runs this test binary's `child_vault_report` through `cmd` (the binary itself, or a wrapper
/// that execs it), with `DISPLAY` unset so gnome-keyring can never wait on an unlock dialog.
fn run_child(mut cmd: Command, story: &str, home: &Path, runtime_dir: &Path, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("test binary: {e}"));
    if cmd.get_program() != exe.as_os_str() {
        cmd.arg(&exe);
    }
    cmd.args(["child_vault_report", "--exact", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, story)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd.output().unwrap_or_else(|e| panic!("run the child test process: {e}"))
}

fn results(out: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // libtest prints "test child_vault_report ... " in front of the first line.
        .filter_map(|l| l.find(RESULT).map(|at| &l[at + RESULT.len()..]))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn lookup(results: &[(String, String)], key: &str) -> String {
    results.iter().find(|(k, _)| k == key).map_or_else(|| "<missing>".into(), |(_, v)| v.clone())
}

fn show(out: &Output) -> String {
    format!(
        "child exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_all(out: &Output, code: &str, story: &str) {
    let results = results(out);
    for op in ["probe", "store", "load", "delete"] {
        assert_eq!(lookup(&results, op), code, "{op} {story} must be {code}\n{}", show(out));
    }
}
