//! `tessera` against a server that trusts an organisation's OpenID provider (issue 15): here a
//! second reference server acts as that provider, both real, on loopback. The CLI is given only
//! the Tessera server's URL, reads its `/api/client-config`, signs in at the provider through a
//! real browser (headless Chromium, `tools/chromium-sign-in`), and uses the provider's tokens at
//! the server: its device is listed, notifications arrive live, a sign-out from another device
//! reaches it at once and its refresh token goes back to the provider, and `logout` revokes there.
//!
//! Ignored by default: they need an unlocked Secret Service and Chromium; `tools/test` runs them.

mod common;

use common::{Chromium, Server, Tessera, USER, lines_of, wait_line};

/// The provider (a reference server with alice) and the Tessera server trusting it for
/// `tessera-cli` tokens.
fn pair() -> (Server, Server) {
    let idp = Server::start(common::config());
    let rs = Server::start_with(
        tessera_server::Config {
            external_issuer: idp.url.clone(),
            external_client_id: "tessera-cli".into(),
            ..common::config()
        },
        false,
    );
    (idp, rs)
}

fn login(cli: &Tessera, rs: &Server, browser: &Chromium, types_password: bool) -> common::Run {
    cli.run_with_browser(
        &["--json", "login", "--server", &rs.url, "--timeout", "60"],
        browser,
        "sign-in",
        types_password,
    )
}

#[test]
#[ignore = "needs an unlocked Secret Service and chromium; run tools/test"]
fn login_at_the_servers_provider_then_live_notifications_remote_sign_out_and_logout_revoke_there() {
    let (idp, rs) = pair();
    let cli = Tessera::new();
    let browser = Chromium::new();

    let signed_in = login(&cli, &rs, &browser, true);
    assert_eq!(signed_in.code, 0, "sign-in at the provider: {signed_in:?}\nbrowser: {}", browser.log());
    assert_eq!(signed_in.json()["username"], USER, "the account from the provider's id_token: {signed_in:?}");
    let authorize = format!("{}/oauth/authorize?", idp.url);
    assert!(signed_in.stderr.contains(&authorize), "the browser went to the provider, not the server: {signed_in:?}");
    assert_eq!(idp.active_sessions(), 1, "the session is the provider's");
    assert_eq!(rs.refresh_count(), 0, "the server issued nothing");

    // A new process: restored from the keychain, refreshed at the provider, accepted by the server.
    let token = cli.run(&["token"]);
    assert_eq!(token.code, 0, "a token from the provider: {token:?}");
    assert!(idp.refresh_count() >= 1, "refreshed at the provider");
    let sessions = cli.run(&["sessions", "--json"]);
    assert_eq!(sessions.code, 0, "the server's devices list takes the provider's token: {sessions:?}");
    let list = sessions.json();
    let mine: Vec<_> = list["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(mine.len(), 1, "one device at the server: {list}");
    assert_eq!(mine[0]["current"], true, "this machine is the current one: {list}");
    assert_eq!(mine[0]["device"]["platform"], std::env::consts::OS, "described by the device headers: {list}");
    let device_id = mine[0]["id"].as_str().unwrap_or_default().to_owned();
    let again = cli.run(&["sessions", "--json"]);
    assert_eq!(again.json()["sessions"].as_array().map(Vec::len), Some(1), "every process is the same device");

    // Live notifications with the provider's token.
    let mut watch = cli.spawn(&["watch", "--json"]);
    let lines = lines_of(&mut watch);
    wait_line(&lines, "the live feed mode", |v| v["type"] == "feed_mode" && v["mode"] == "live");
    rs.publish(1);
    let note = wait_line(&lines, "notification 1", |v| v["type"] == "notification");
    assert_eq!(note["notification"]["payload"]["message"], "note 1", "{note}");

    // Another device of alice's signs this one out at the server: pushed at once, and this
    // machine's refresh token goes back to the provider.
    let other = idp.sign_in_elsewhere_as("tessera-cli");
    assert_eq!(idp.active_sessions(), 2, "two sessions at the provider");
    assert_eq!(rs.revoke_with(&other.access_token, &device_id), 204, "signed out from the devices list");
    let ended =
        wait_line(&lines, "the sign-out", |v| v["type"] == "state_changed" && v["state"]["state"] == "signed_out");
    assert_eq!(ended["reason"], "session_revoked", "{ended}");
    assert_eq!(watch.wait().expect("watch exits").code(), Some(3), "signed out");
    assert_eq!(idp.active_sessions(), 1, "the ended device's session is revoked at the provider too");
    assert_eq!(cli.run(&["status", "--json"]).code, 3, "nothing left in the keychain");

    // Signing in again is a new device; logout revokes it at the provider.
    let back = login(&cli, &rs, &browser, false);
    assert_eq!(back.code, 0, "single sign-on at the provider: {back:?}\nbrowser: {}", browser.log());
    assert_eq!(cli.run(&["sessions", "--json"]).code, 0, "the new device is accepted");
    assert_eq!(idp.active_sessions(), 2);
    let logout = cli.run(&["--json", "logout"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    assert_eq!(logout.json()["outcome"], "revoked", "{logout:?}");
    assert_eq!(idp.active_sessions(), 1, "logout revoked the session at the provider");
}
