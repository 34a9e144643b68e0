//! The `tessera` CLI on a machine without a usable keychain (no D-Bus session bus), and its
//! documented exit codes and error shapes. Needs no system keychain: runs in every `cargo test`.

mod common;

use common::{PASSWORD, Server, Tessera, USER};

#[test]
fn without_a_keychain_login_works_in_memory_only_and_says_so() {
    let server = Server::start(common::config());
    let cli = Tessera::without_keychain();

    let login = cli.login(&server);
    assert_eq!(login.code, 0, "a memory-only sign-in still succeeds: {login:?}");
    assert!(login.stdout.contains("MEMORY ONLY"), "login must say the session is memory only: {login:?}");
    assert!(login.stdout.contains("keychain_unavailable"), "login must say why (the keychain error code): {login:?}");
    assert!(
        login.stdout.contains("ends when this command exits"),
        "login must say the session dies with it: {login:?}"
    );
    assert!(
        login.stderr.contains("warning: memory only: keychain_unavailable"),
        "stderr carries the warning: {login:?}"
    );
    assert!(!cli.config_dir().join("current.json").exists(), "nothing to come back to, so no current account is noted");

    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 3, "nothing survived the login process, so status is 'not signed in' (3): {status:?}");
    let json = status.json();
    assert_eq!(json["signed_in"], false, "not signed in: {json}");
    assert_eq!(json["storage"]["tier"], "memory", "status must report the memory tier: {json}");
    assert_eq!(json["storage"]["reason"]["code"], "keychain_unavailable", "and why: {json}");

    let human = cli.run(&["status"]);
    assert!(
        human.stdout.contains("memory only: keychain_unavailable"),
        "the human status names the tier and the reason: {human:?}"
    );

    let token = cli.run(&["token"]);
    assert_eq!(token.code, 3, "no session, no token (3): {token:?}");
    assert!(token.stdout.is_empty(), "token prints nothing on stdout when it fails: {token:?}");
    assert!(
        token.stderr.lines().any(|l| l.starts_with("error: ") && l.ends_with("(not_signed_in)")),
        "one error line: {token:?}"
    );
}

#[test]
fn a_memory_only_login_leaves_no_live_session_at_the_server() {
    let server = Server::start(common::config());
    let cli = Tessera::without_keychain();
    let login = cli.run_with_stdin(
        &["login", "--json", "--server", &server.url, "--username", USER, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "memory-only login succeeds: {login:?}");
    let json = login.json();
    assert_eq!(json["storage"], "memory", "the JSON names the tier: {json}");
    assert_eq!(
        json["revoked_at_exit"], true,
        "the orphaned server session must be revoked as the process ends: {json}"
    );
    assert_eq!(server.active_sessions(), 0, "no session may be left open at the server by a process that is gone");
}

#[test]
fn exit_codes_and_error_shapes_are_as_documented() {
    let server = Server::start(common::config());
    let cli = Tessera::without_keychain();

    let help = cli.run(&["--help"]);
    assert_eq!(help.code, 0, "--help succeeds: {help:?}");
    for line in ["  3  not signed in", "  4  the server cannot be reached", "  5  the system keychain failed"] {
        assert!(help.stdout.contains(line), "--help documents exit codes ({line:?}): {}", help.stdout);
    }

    let usage = cli.run(&["sessions", "revoke"]);
    assert_eq!(usage.code, 2, "a wrong command line is a usage error (2): {usage:?}");

    let wrong =
        cli.run_with_stdin(&["login", "--server", &server.url, "--username", USER, "--password-stdin"], "nope\n");
    assert_eq!(wrong.code, 3, "a wrong password is an authentication failure (3): {wrong:?}");
    assert!(
        wrong.stderr.lines().any(|l| l == "error: wrong user name or password (invalid_credentials)"),
        "errors are one line `error: <message> (<code>)`: {wrong:?}"
    );

    // A port nothing listens on: bind one and let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    let offline = cli.run_with_stdin(
        &["--json", "login", "--server", &format!("http://{closed}"), "--username", USER, "--password-stdin"],
        "pw\n",
    );
    assert_eq!(offline.code, 4, "an unreachable server is 'offline' (4): {offline:?}");
    let error_line = offline.stderr.lines().find(|l| l.starts_with('{')).unwrap_or_default();
    let error: serde_json::Value = serde_json::from_str(error_line).unwrap_or_default();
    assert_eq!(error["code"], "network", "--json errors are {{code, message}} on stderr: {offline:?}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "with a message: {offline:?}");

    let bad_url =
        cli.run_with_stdin(&["login", "--server", "ftp://example.com", "--username", USER, "--password-stdin"], "pw\n");
    assert_eq!(bad_url.code, 2, "a server URL that is not http(s) is a usage error (2): {bad_url:?}");
    let plain = cli.run_with_stdin(
        &["login", "--server", "http://tessera.example.com", "--username", USER, "--password-stdin", "--json"],
        "pw\n",
    );
    assert_eq!(plain.code, 2, "a password must not go over plain http to another machine (2): {plain:?}");
    assert!(plain.stderr.contains(r#""code":"insecure_server_url""#), "with its stable code: {plain:?}");

    for args in [&["token"][..], &["whoami"], &["logout"], &["sessions"], &["sessions", "revoke", "--others"]] {
        let run = cli.run(args);
        assert_eq!(run.code, 3, "`tessera {}` without a session is 'not signed in' (3): {run:?}", args.join(" "));
    }
}

#[test]
fn audit_verify_fails_with_exit_6_when_the_log_was_edited() {
    let server = Server::start(common::config());
    let cli = Tessera::without_keychain();
    assert_eq!(cli.login(&server).code, 0, "a memory-only login writes audit events");

    let listed = cli.run(&["audit", "--json"]);
    assert_eq!(listed.code, 0, "the audit log lists: {listed:?}");
    let kinds: Vec<String> = listed.json()["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(kinds, ["signed_in", "signed_out"], "login then the memory-only sign-out are recorded: {listed:?}");

    let intact = cli.run(&["audit", "--verify"]);
    assert_eq!(intact.code, 0, "an untouched log verifies: {intact:?}");
    assert!(intact.stdout.contains("chain intact"), "and says so: {intact:?}");
    assert!(
        intact.stdout.contains("UNANCHORED") && intact.stdout.contains("keychain_unavailable"),
        "without a keychain the end of the log cannot be checked, and verify must say so: {intact:?}"
    );
    let json = cli.run(&["audit", "--verify", "--json"]).json();
    assert_eq!(json["anchored"], false, "not green-as-anchored: {json}");
    assert_eq!(json["anchor"]["status"], "unavailable", "the anchor could not be read: {json}");
    assert_eq!(json["anchor"]["code"], "keychain_unavailable", "and why: {json}");

    let path = cli.audit_log();
    let text = std::fs::read_to_string(&path).expect("audit log");
    std::fs::write(&path, text.replacen("signed_in", "signed_out", 1)).expect("tamper");
    let broken = cli.run(&["audit", "--verify", "--json"]);
    assert_eq!(broken.code, 6, "an edited log must fail verification with exit 6: {broken:?}");
    let json = broken.json();
    assert_eq!(json["intact"], false, "the report says broken: {json}");
    assert_eq!(json["first_break"]["line"], 2, "the line after the edited one no longer chains: {json}");
}

#[test]
fn an_account_whose_keychain_is_unusable_is_a_keychain_error_not_signed_out() {
    let server = Server::start(common::config());
    let cli = Tessera::without_keychain();
    // As left by a keychain sign-in earlier (current.json holds no secret, so a test can write it).
    std::fs::create_dir_all(cli.config_dir()).expect("config dir");
    let current = serde_json::json!({ "server_url": server.url, "username": USER });
    std::fs::write(cli.config_dir().join("current.json"), current.to_string()).expect("current.json");

    let token = cli.run(&["token"]);
    assert_eq!(
        token.code, 5,
        "the session may be in the unusable keychain: keychain error (5), not 'sign in': {token:?}"
    );
    assert!(token.stderr.contains("(keychain_unavailable)"), "with the keychain's code: {token:?}");
    assert!(token.stdout.is_empty(), "no token: {token:?}");

    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 5, "status exits 5 too: {status:?}");
    let json = status.json();
    assert_eq!(json["username"], USER, "status still names the account: {json}");
    assert_eq!(json["storage"]["reason"]["code"], "keychain_unavailable", "and why it cannot tell: {json}");

    let logout = cli.run(&["logout"]);
    assert_eq!(logout.code, 5, "logout cannot reach the session either, and changes nothing (5): {logout:?}");
    assert!(cli.config_dir().join("current.json").exists(), "the account stays noted for when the keychain is back");
}
