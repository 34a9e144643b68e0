//! The `tessera` CLI end to end against the real reference server and the real system keychain:
//! every command in its own OS process, the session carried between them by the keychain.
//!
//! Ignored by default: they need an unlocked Secret Service. `tools/test` runs them inside
//! `dbus-run-session` with gnome-keyring unlocked and DISPLAY unset.

mod common;

use common::{Server, Tessera};

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn signed_in_user_checks_status_gets_tokens_signs_other_devices_out_and_signs_out() {
    let server = Server::start(common::config());
    let cli = Tessera::new();

    let login = cli.login(&server);
    assert_eq!(login.code, 0, "login must succeed against the real server and keychain: {login:?}");
    assert!(login.stdout.contains("system keychain"), "login says where the session lives: {login:?}");
    let current = std::fs::read_to_string(cli.config_dir().join("current.json")).expect("current.json after login");
    assert!(
        current.contains(&server.url) && current.contains(common::USER),
        "current.json names server and user: {current}"
    );
    assert!(!current.contains("trt_") && !current.contains("eyJ"), "current.json must never hold a token: {current}");

    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "a new process restores the session from the keychain: {status:?}");
    let st = status.json();
    assert_eq!(st["signed_in"], true, "signed in: {st}");
    assert_eq!(st["state"], "active", "with a fresh access token: {st}");
    assert_eq!(st["storage"]["tier"], "keychain", "the refresh token is in the keychain: {st}");
    assert!(st["storage"]["reason"].is_null(), "no memory-only reason: {st}");
    assert_eq!(st["username"], common::USER, "the user: {st}");
    assert_eq!(st["server_url"], server.url.as_str(), "the server: {st}");
    assert!(st["access_expires_at"].is_string() && st["session_expires_at"].is_string(), "expiries are shown: {st}");
    assert_eq!(st["pending_revocation"], false, "nothing queued: {st}");
    let session_id = st["session_id"].as_str().unwrap_or_default().to_owned();
    assert!(!session_id.is_empty(), "the session id is shown: {st}");

    let whoami = cli.run(&["whoami", "--json"]);
    assert_eq!(whoami.code, 0, "whoami works: {whoami:?}");
    assert_eq!(whoami.json()["username"], common::USER, "the server knows us as alice: {whoami:?}");
    assert_eq!(whoami.json()["session_id"], session_id.as_str(), "through the same session: {whoami:?}");

    let token = cli.run(&["token"]);
    assert_eq!(token.code, 0, "token works: {token:?}");
    let printed = token.stdout.trim_end_matches('\n');
    assert!(
        !printed.contains('\n') && printed.split('.').count() == 3,
        "stdout is one JWT and nothing else: {token:?}"
    );
    assert!(token.stderr.is_empty(), "a successful `token` prints nothing else: {token:?}");

    let sessions = cli.run(&["sessions", "--json"]);
    assert_eq!(sessions.code, 0, "sessions lists: {sessions:?}");
    let list = sessions.json()["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "one device signed in: {sessions:?}");
    assert_eq!(list[0]["current"], true, "and it is this one: {sessions:?}");
    assert_eq!(list[0]["client_id"], "tessera-cli", "as the CLI: {sessions:?}");

    let other = server.sign_in_elsewhere();
    let sessions = cli.run(&["sessions"]);
    assert_eq!(sessions.code, 0, "sessions lists: {sessions:?}");
    assert!(sessions.stdout.contains("other-laptop"), "the other device is listed: {sessions:?}");

    let revoked = cli.run(&["sessions", "revoke", "--others", "--json"]);
    assert_eq!(revoked.code, 0, "revoke --others works: {revoked:?}");
    assert_eq!(revoked.json()["revoked"], 1, "exactly the other device was signed out: {revoked:?}");
    assert_eq!(server.refresh_status(&other.refresh_token), 400, "the other device can no longer refresh");
    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.json()["signed_in"], true, "this device stays signed in: {status:?}");

    let logout = cli.run(&["logout"]);
    assert_eq!(logout.code, 0, "logout works: {logout:?}");
    assert!(logout.stdout.contains("Signed out"), "and says so: {logout:?}");
    assert!(!cli.config_dir().join("current.json").exists(), "no current account after logout");
    assert_eq!(server.active_sessions(), 0, "logout revoked the session at the server");
    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 3, "after logout, status is 'not signed in' (3): {status:?}");
    assert_eq!(cli.run(&["token"]).code, 3, "and there is no token (3)");
    assert_eq!(server.reuse_count(), 0, "one process after another never replays a rotated refresh token");

    let verify = cli.run(&["audit", "--verify"]);
    assert_eq!(verify.code, 0, "the audit log of all this verifies: {verify:?}");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn a_session_revoked_from_another_device_reads_as_ended() {
    let server = Server::start(common::config());
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");
    let session_id = cli.run(&["status", "--json"]).json()["session_id"].as_str().unwrap_or_default().to_owned();
    let other = server.sign_in_elsewhere();
    assert_eq!(server.revoke_with(&other.access_token, &session_id), 204, "the other device signs this one out");

    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 3, "a revoked session is 'not signed in' (3): {status:?}");
    assert_eq!(status.json()["signed_out_reason"], "session_revoked", "status says why: {status:?}");
    let token = cli.run(&["--json", "token"]);
    assert_eq!(token.code, 3, "no token for an ended session (3): {token:?}");
    assert!(token.stdout.is_empty(), "nothing on stdout: {token:?}");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn revoking_this_devices_own_session_signs_out_here() {
    let server = Server::start(common::config());
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");
    let session_id = cli.run(&["status", "--json"]).json()["session_id"].as_str().unwrap_or_default().to_owned();
    let missing = cli.run(&["sessions", "revoke", "no-such-session"]);
    assert_eq!(missing.code, 1, "an id that is not one of ours is a plain error (1): {missing:?}");
    assert!(missing.stderr.contains("(not_found)"), "with the code not_found: {missing:?}");
    let revoke = cli.run(&["sessions", "revoke", &session_id]);
    assert_eq!(revoke.code, 0, "revoking our own session works: {revoke:?}");
    assert!(revoke.stdout.contains("this device"), "and says it was this device: {revoke:?}");
    assert_eq!(cli.run(&["status"]).code, 3, "signed out here too (3)");
    assert!(!cli.config_dir().join("current.json").exists(), "the account is forgotten");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn logout_while_the_server_is_down_queues_the_revocation_until_it_is_back() {
    let mut server = Server::start(common::config());
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");
    server.stop();

    let logout = cli.run(&["sign-out", "--json"]);
    assert_eq!(logout.code, 0, "signing out locally works without the server: {logout:?}");
    assert_eq!(logout.json()["outcome"], "revocation_queued", "the revocation waits in the keychain: {logout:?}");
    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 3, "signed out here (3): {status:?}");
    assert_eq!(status.json()["pending_revocation"], true, "status shows the queued revocation: {status:?}");
    assert_eq!(cli.run(&["token"]).code, 3, "no token after logout, even offline (3)");

    server.restart();
    assert_eq!(server.active_sessions(), 1, "the server still has the session until told");
    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.json()["pending_revocation"], false, "the next command sends the revocation: {status:?}");
    assert_eq!(server.active_sessions(), 0, "and the server ended the session");
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn removing_the_newest_audit_lines_or_the_whole_log_fails_verify_with_exit_6() {
    let server = Server::start(common::config());
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login through the keychain writes audit events");
    assert_eq!(cli.run(&["logout"]).code, 0, "sign-out deletes the session record, not the audit anchor");

    let intact = cli.run(&["audit", "--verify", "--json"]);
    assert_eq!(intact.code, 0, "an untouched log verifies: {intact:?}");
    let json = intact.json();
    assert_eq!(json["anchored"], true, "the keychain anchors the newest record, after sign-out too: {json}");
    let records = json["records"].as_u64().unwrap_or_default();
    assert_eq!(json["anchor"]["seq"].as_u64(), Some(records), "the anchor is the last record: {json}");
    let human = cli.run(&["audit", "--verify"]);
    assert!(human.stdout.contains("chain intact") && human.stdout.contains("anchored at seq"), "{human:?}");

    // Cut the newest whole line: the chain inside the file still holds.
    let path = cli.audit_log();
    let text = std::fs::read_to_string(&path).expect("audit log");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "login and logout wrote at least two records: {text}");
    std::fs::write(&path, lines[..lines.len() - 1].join("\n") + "\n").expect("truncate the log");
    let cut = cli.run(&["audit", "--verify", "--json"]);
    assert_eq!(cut.code, 6, "removing whole lines at the end must fail verification (6): {cut:?}");
    let json = cut.json();
    assert_eq!(json["first_break"], serde_json::Value::Null, "the chain itself cannot see it: {json}");
    assert_eq!(json["anchor"]["status"], "truncated", "the anchor does: {json}");
    let human = cli.run(&["audit", "--verify"]);
    assert_eq!(human.code, 6, "the same in human form: {human:?}");
    assert!(human.stdout.contains("ANCHOR BROKEN"), "and it says why: {human:?}");

    std::fs::remove_file(&path).expect("delete the log");
    let gone = cli.run(&["audit", "--verify", "--json"]);
    assert_eq!(gone.code, 6, "a deleted log with an anchor in the keychain is a broken log (6): {gone:?}");
    assert_eq!(gone.json()["anchor"]["last_seq"], 0, "the file has no record left: {gone:?}");
}
