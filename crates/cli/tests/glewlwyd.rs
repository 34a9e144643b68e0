//! `tessera` against a server that trusts an independent, certified OpenID provider: Debian's
//! glewlwyd (2.7.5), started on loopback by `tools/glewlwyd` with strict refresh-token rotation
//! (every refresh token is single use; presenting a used one disables the whole chain). The CLI
//! signs in there through headless Chromium (glewlwyd's own login and grant pages), and the
//! Tessera server accepts its JWT access tokens (JWKS) — or, in a second server, checks every
//! token by RFC 7662 introspection. Eight `tessera token` processes refreshing at once all
//! succeed and never trip glewlwyd's reuse detection.
//!
//! Ignored by default: they need glewlwyd, Chromium and an unlocked Secret Service;
//! `tools/test` runs them.

#![allow(clippy::expect_used, reason = "test code: a failed expectation is the test failing")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Chromium, Run, Server, Tessera, lines_of, wait_line};

/// alice's email at glewlwyd, which names her account (see below).
const EMAIL: &str = "alice@example.com";

const TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/glewlwyd");

/// glewlwyd running in a temporary directory, stopped on drop.
struct Glewlwyd {
    dir: tempfile::TempDir,
    info: serde_json::Value,
}

impl Glewlwyd {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("glewlwyd dir");
        let out = Command::new(TOOL).arg("start").arg(dir.path().join("gw")).output().expect("run tools/glewlwyd");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "tools/glewlwyd start: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
        let info = serde_json::from_str(line).unwrap_or_else(|e| panic!("start prints JSON ({e}): {stdout}"));
        Self { dir, info }
    }

    fn get(&self, key: &str) -> String {
        self.info[key].as_str().unwrap_or_default().to_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.get("log")).unwrap_or_default()
    }

    /// A Tessera server trusting this glewlwyd; with its introspection client when `introspect`.
    fn resource_server(&self, introspect: bool) -> Server {
        let mut config = tessera_server::Config {
            external_issuer: self.get("issuer"),
            external_client_id: self.get("client_id"),
            external_redirect_ports: "53100-53109".into(),
            ..common::config()
        };
        if introspect {
            config.external_introspection_client_id = self.get("introspection_client_id");
            config.external_introspection_client_secret = self.get("introspection_client_secret").as_str().into();
        }
        Server::start_with(config, false)
    }
}

impl Drop for Glewlwyd {
    fn drop(&mut self) {
        let _ = Command::new(TOOL).arg("stop").arg(self.dir.path().join("gw")).status();
    }
}

fn login(cli: &Tessera, rs: &Server, browser: &Chromium, gw: &Glewlwyd) -> Run {
    let mut command = cli.command(&["--json", "login", "--server", &rs.url, "--timeout", "90"]);
    browser.drive(&mut command, "sign-in", true);
    command.env("TESSERA_TEST_BROWSER_PROVIDER", "glewlwyd");
    let run = common::Run::from_output(command.stdin(std::process::Stdio::null()).output().expect("run tessera"));
    assert_eq!(run.code, 0, "sign-in at glewlwyd: {run:?}\nbrowser: {}\nglewlwyd: {}", browser.log(), gw.log());
    run
}

fn tokens_at_once(cli: &Tessera, n: usize) -> Vec<Run> {
    let children: Vec<_> = (0..n).map(|_| cli.spawn(&["token"])).collect();
    children.into_iter().map(|c| common::Run::from_output(c.wait_with_output().expect("tessera token"))).collect()
}

fn data(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
#[ignore = "needs glewlwyd, chromium and an unlocked Secret Service; run tools/test"]
fn glewlwyd_sign_in_strict_rotation_across_eight_processes_notifications_and_sign_out() {
    let gw = Glewlwyd::start();
    let rs = gw.resource_server(false);
    let cli = Tessera::new();
    let browser = Chromium::new();

    let signed_in = login(&cli, &rs, &browser, &gw);
    // glewlwyd puts no preferred_username in its tokens: the account is named by the email.
    assert_eq!(signed_in.json()["username"], EMAIL, "the account from the server's /api/me: {signed_in:?}");
    assert!(signed_in.stderr.contains(&format!("{}/auth?", gw.get("issuer"))), "{signed_in:?}");
    assert!(signed_in.stderr.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A531"), "a registered port: {signed_in:?}");
    let config = data(&cli.data_dir().join("client-config.json"));
    assert!(config.contains(&gw.get("issuer")), "the server's answer is remembered: {config}");

    // Eight processes at once, each restoring the session and refreshing: one at a time through
    // the lock, each re-reading the keychain, so no refresh token is presented twice.
    for (i, run) in tokens_at_once(&cli, 8).iter().enumerate() {
        assert_eq!(run.code, 0, "process {i}: {run:?}\nglewlwyd: {}", gw.log());
    }
    let after = cli.run(&["sessions", "--json"]);
    assert_eq!(after.code, 0, "the chain is intact after eight rotations: {after:?}\nglewlwyd: {}", gw.log());
    let listed = after.json()["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "one device at the server: {listed:?}");
    // glewlwyd logs every refresh token it makes: the sign-in's, eight rotations, the last check's.
    let made = gw.log().matches("Refresh token generated for client 'tessera-cli' granted").count();
    assert!(made >= 10, "every process rotated at glewlwyd ({made} refresh tokens made): {}", gw.log());

    let mut watch = cli.spawn(&["watch", "--json"]);
    let lines = lines_of(&mut watch);
    wait_line(&lines, "the live feed mode", |v| v["type"] == "feed_mode" && v["mode"] == "live");
    rs.publish_to(EMAIL, 1);
    let note = wait_line(&lines, "notification 1", |v| v["type"] == "notification");
    assert_eq!(note["notification"]["payload"]["message"], "note 1", "{note}");
    let _ = Command::new("kill").args(["-TERM", &watch.id().to_string()]).status();
    let _ = watch.wait();

    // glewlwyd lets only confidential clients revoke: sign-out is local, and says so.
    let logout = cli.run(&["--json", "logout"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    assert_eq!(logout.json()["outcome"], "signed_out_locally", "{logout:?}");
    assert!(logout.stderr.contains("does not let this app revoke"), "the user is told: {logout:?}");
    assert_eq!(cli.run(&["status", "--json"]).code, 3, "nothing left in the keychain");
}

#[test]
#[ignore = "needs glewlwyd, chromium and an unlocked Secret Service; run tools/test"]
fn glewlwyd_tokens_checked_by_introspection() {
    let gw = Glewlwyd::start();
    let rs = gw.resource_server(true);
    let cli = Tessera::new();
    let browser = Chromium::new();
    login(&cli, &rs, &browser, &gw);
    let me = cli.run(&["--json", "whoami"]);
    assert_eq!(me.code, 0, "the server introspected glewlwyd's token: {me:?}\nglewlwyd: {}", gw.log());
    // Introspection answers with glewlwyd's `username`: here the account is alice.
    assert_eq!(me.json()["username"], common::USER, "{me:?}");
    let token = cli.run(&["token"]);
    let forged = format!("{}x", token.stdout.trim());
    assert_eq!(rs.status_of(tessera_protocol::paths::ME, token.stdout.trim()), 200, "the token as is");
    assert_eq!(rs.status_of(tessera_protocol::paths::ME, &forged), 401, "one glewlwyd does not know is refused");
}
