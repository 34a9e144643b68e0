//! `tessera login` through a real system browser (headless Chromium driven by chromedriver, see
//! `tools/chromium-sign-in`) against the real reference server and the real keychain: the
//! authorization code flow with PKCE over the loopback redirect (RFC 8252), single sign-on at the
//! server's browser session, `--fresh` asking for the password again, and a refusal.
//!
//! Ignored by default: they need an unlocked Secret Service and Chromium; `tools/test` runs them.

mod common;

use common::{Chromium, Server, Tessera};

#[test]
#[ignore = "needs an unlocked Secret Service and chromium; run tools/test"]
fn login_through_the_browser_then_single_sign_on_then_fresh_asks_again() {
    // The server as deployed: no password grant (RFC 9700 §2.4), so the browser is the way in.
    let server = Server::start(tessera_server::Config { password_grant: false, ..common::config() });
    let cli = Tessera::new();
    let browser = Chromium::new();

    let password = cli.login(&server);
    assert_eq!(password.code, 2, "the password grant is refused as a usage error: {password:?}");
    assert!(password.stderr.contains("password_grant_disabled"), "with its stable code: {password:?}");
    assert!(password.stderr.contains("leave out --username"), "and the way in: {password:?}");
    assert_eq!(cli.run(&["status", "--json"]).code, 3, "nothing was stored");

    let login = cli.run_with_browser(
        &["--json", "login", "--server", &server.url, "--timeout", "60"],
        &browser,
        "sign-in",
        true,
    );
    assert_eq!(login.code, 0, "the browser sign-in must succeed: {login:?}\nbrowser: {}", browser.log());
    let body = login.json();
    assert_eq!(body["username"], common::USER, "the account comes from the id_token: {body}");
    assert_eq!(body["storage"], "keychain", "{body}");
    assert!(login.stderr.contains("/oauth/authorize?"), "the URL is always shown so it can be copied: {login:?}");
    assert!(
        browser.log().contains("submitted the sign-in form"),
        "the password was typed at the page: {}",
        browser.log()
    );
    let log = browser.log_when("You are signed in");
    assert!(log.contains("You are signed in"), "the callback page says so: {log}");

    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "a new process restores the browser session from the keychain: {status:?}");
    assert_eq!(status.json()["username"], common::USER);
    let token = cli.run(&["token"]);
    assert_eq!(token.code, 0, "and gets an access token: {token:?}");
    assert_eq!(cli.run(&["logout"]).code, 0, "sign out");

    // Second sign-in: the browser still has its session at the server, so no password is typed.
    let again = cli.run_with_browser(
        &["--json", "login", "--server", &server.url, "--timeout", "60"],
        &browser,
        "sign-in",
        false,
    );
    assert_eq!(again.code, 0, "single sign-on: {again:?}\nbrowser: {}", browser.log());
    assert_eq!(again.json()["username"], common::USER);
    assert_eq!(
        browser.log().matches("submitted the sign-in form").count(),
        1,
        "no form the second time: {}",
        browser.log()
    );
    assert_eq!(cli.run(&["logout"]).code, 0, "sign out again");

    // --fresh (prompt=login): the page asks for the password even with the browser session, and a
    // browser that cannot type it never gets back: the CLI gives up at its time limit, signed out.
    let fresh = cli.run_with_browser(
        &["--json", "login", "--server", &server.url, "--fresh", "--timeout", "8"],
        &browser,
        "sign-in",
        false,
    );
    assert_eq!(fresh.code, 3, "not signed in after the time limit: {fresh:?}");
    assert!(fresh.stderr.contains("sign_in_timeout") || fresh.stdout.contains("sign_in_timeout"), "{fresh:?}");
    assert_eq!(cli.run(&["status", "--json"]).code, 3, "nothing was stored");
}

#[test]
#[ignore = "needs an unlocked Secret Service and chromium; run tools/test"]
fn login_with_a_device_code_approved_in_a_browser() {
    use std::io::BufRead;
    let server = Server::start(tessera_server::Config { password_grant: false, ..common::config() });
    let cli = Tessera::new();
    let browser = Chromium::new();

    let mut child = cli.spawn(&["--json", "login", "--server", &server.url, "--device", "--timeout", "120"]);
    // The first stderr line (with --json) says where to go and what to type.
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("the CLI shows the code");
    let shown: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
    let code = shown["user_code"].as_str().expect("user_code").to_owned();
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "a readable XXXX-XXXX code: {shown}");
    let page = shown["verification_uri_complete"].as_str().expect("verification_uri_complete");
    assert!(shown["verification_uri"].as_str().is_some_and(|u| u.ends_with("/device")), "{shown}");

    // Someone approves it in a browser elsewhere (here: the real Chromium).
    let mut approve = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/chromium-sign-in"));
    browser.drive(approve.arg(page), "approve-device", true);
    let approved = approve.status().expect("run the browser");
    assert!(approved.success(), "the browser approves the code: {}", browser.log());

    let output = child.wait_with_output().expect("the CLI finishes");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert_eq!(output.status.code(), Some(0), "signed in once approved: {rest}\nbrowser: {}", browser.log());
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON result");
    assert_eq!(body["username"], common::USER, "{body}");
    assert_eq!(cli.run(&["status", "--json"]).json()["signed_in"], true, "restored by the next process");
}
