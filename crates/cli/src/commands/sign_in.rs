//! `tessera sign-in` (alias `login`): through the browser (authorization code + PKCE, RFC 8252)
//! by default, with a device code (`--device`, RFC 8628), or with a password (`--username`,
//! `--password-stdin`) where the server allows the password grant. The refresh token goes to
//! the keychain.

use std::io::BufRead;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tessera_session::browser::open_in_background;
use tessera_session::{Account, Password, SessionEngine, SessionStatus, StorageTier};

use super::sign_out;
use crate::cli::SignInArgs;
use crate::context::{self, Dirs, Storage};
use crate::failure::{Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, args: &SignInArgs, json: bool) -> Result<Exit, Failure> {
    let server_url = Account::new(&args.server, "").server_url().to_owned();
    if server_url.is_empty() {
        return Err(Failure::usage("--server must not be empty"));
    }
    let password = match args.username.as_deref() {
        Some(username) => {
            let username = Account::new(&server_url, username).username().to_owned();
            if username.is_empty() {
                return Err(Failure::usage("--username must not be empty"));
            }
            Some((read_password(args.password_stdin, &username, &server_url)?, username))
        }
        None => None,
    };
    let storage = context::storage().await;
    let previous = if storage.keychain_error.is_none() { context::current_account(dirs)? } else { None };
    // A password sign-in knows its account now: a different current account is signed out first.
    if let Some((_, username)) = &password {
        sign_out_other(dirs, previous.as_ref(), &Account::new(&server_url, username), &storage).await;
    }

    let (engine, mut warnings) = context::engine(dirs, &server_url, &storage, args.overrides()).await?;
    let limit = Duration::from_secs(args.timeout);
    let signed_in = match &password {
        Some((password, username)) => engine.sign_in(username, password).await,
        None if args.device => device(&engine, limit, json).await,
        None => browser(&engine, args.fresh, limit, json).await,
    };
    warnings.print();
    let status = signed_in?;
    let username = status.username.clone().unwrap_or_default();
    let account = Account::new(&server_url, &username);
    // One account at a time, so a refresh token never lingers where no command would reach it.
    if password.is_none() {
        sign_out_other(dirs, previous.as_ref(), &account, &storage).await;
    }
    report(&engine, &mut warnings, &storage, &status, &account, json).await
}

/// Signs `previous` out when it is another account than `next`.
async fn sign_out_other(dirs: &Dirs, previous: Option<&Account>, next: &Account, storage: &Storage) {
    let Some(previous) = previous.filter(|p| *p != next) else { return };
    match sign_out::sign_out_current(dirs, previous, storage).await {
        Ok(outcome) => eprintln!("Signed out {previous} first ({})", sign_out::outcome_word(outcome)),
        Err(e) => eprintln!("warning: could not sign out {previous}: {e}"),
    }
}

/// The browser flow: bind the listener, show the URL, open it and wait at once (an opener may
/// take up to 2 s to count as started; the callback must not wait for it).
async fn browser(
    engine: &SessionEngine,
    fresh: bool,
    limit: Duration,
    json: bool,
) -> Result<SessionStatus, tessera_session::EngineError> {
    let pending = engine.begin_browser_sign_in(fresh.then_some("login")).await?;
    let url = pending.url().to_owned();
    eprintln!("Opening your browser to sign in. If it does not open, go to:");
    eprintln!("  {url}");
    if !json {
        eprintln!("Waiting up to {} for you to sign in (Ctrl-C to cancel)…", output::span(limit.as_secs() as i64));
    }
    let opener = open_in_background(&url);
    let finish = engine.finish_browser_sign_in(pending, limit);
    tokio::pin!(finish);
    tokio::select! {
        done = &mut finish => return done,
        opened = opener => {
            if let Ok(Err(e)) = opened {
                eprintln!("Could not open a browser ({}): open the address above yourself.", e.code());
            }
        }
    }
    finish.await
}

/// The device flow: show the page and the code, poll.
async fn device(
    engine: &SessionEngine,
    limit: Duration,
    json: bool,
) -> Result<SessionStatus, tessera_session::EngineError> {
    let pending = engine.begin_device_sign_in().await?;
    if json {
        let shown = json!({
            "verification_uri": pending.verification_uri,
            "verification_uri_complete": pending.verification_uri_complete,
            "user_code": pending.user_code,
            "expires_in": pending.expires_in.as_secs(),
        });
        eprintln!("{shown}");
    } else {
        eprintln!("To sign in, open {} in a browser on any device", pending.verification_uri);
        eprintln!("and enter the code:  {}", pending.user_code);
        if let Some(complete) = &pending.verification_uri_complete {
            eprintln!("(or open {complete})");
        }
        eprintln!(
            "Waiting for the approval (the code expires in {})…",
            output::span(pending.expires_in.as_secs() as i64)
        );
    }
    let canceller = pending.canceller();
    tokio::select! {
        done = engine.finish_device_sign_in(pending) => done,
        () = tokio::time::sleep(limit) => {
            canceller.cancel();
            Err(tessera_session::browser::SignInError::TimedOut(limit).into())
        }
    }
}

/// Says where the session lives; a memory-only session is ended at once.
async fn report(
    engine: &SessionEngine,
    warnings: &mut context::Warnings,
    storage: &Storage,
    status: &SessionStatus,
    account: &Account,
    json: bool,
) -> Result<Exit, Failure> {
    let (server_url, username) = (account.server_url(), account.username());
    let session_id = status.session_id.clone().unwrap_or_default();
    // `--json`: these fields, then where the session lives.
    let mut result = json!({
        "signed_in": true,
        "server_url": server_url,
        "username": username,
        "session_id": session_id,
    });

    // The engine made the account current when the session reached the keychain.
    if status.storage == StorageTier::Keychain {
        if json {
            result["storage"] = json!("keychain");
            result["session_expires_at"] = json!(status.session_expires_at);
            output::json(&result)?;
        } else {
            println!("Signed in to {server_url} as {username} (session {session_id}).");
            println!("The refresh token is in the system keychain; access tokens stay in memory.");
            if let Some(ends) = status.session_expires_at {
                println!("The session ends {} at the latest.", output::when(ends, Utc::now()));
            }
        }
        return Ok(Exit::Ok);
    }

    // Memory only: nothing outlives this process, so the server-side session would only sit
    // in the devices list until its idle timeout. End it now.
    let why = match &storage.keychain_error {
        Some(e) => format!("{}: {e}", e.code()),
        None => "the keychain refused the session (keychain write failed)".to_owned(),
    };
    let signed_out = engine.sign_out().await;
    warnings.print();
    let revoked = matches!(signed_out, Ok(tessera_session::SignOutOutcome::Revoked));
    if json {
        result["storage"] = json!("memory");
        result["storage_reason"] = json!(why);
        result["ended_with_process"] = json!(true);
        result["revoked_at_exit"] = json!(revoked);
        output::json(&result)?;
    } else {
        println!("Signed in to {server_url} as {username}, MEMORY ONLY: {why}.");
        println!(
            "Nothing was saved: this session ends when this command exits{}.",
            if revoked { " and has been signed out at the server" } else { "" }
        );
        println!(
            "Make the system keychain available (e.g. unlock it) and run `tessera sign-in` again to stay signed in."
        );
    }
    Ok(Exit::Ok)
}

/// The password from stdin's first line, or typed at the terminal without echo.
fn read_password(from_stdin: bool, username: &str, server_url: &str) -> Result<Password, Failure> {
    let text = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("cannot read the password from stdin: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(format!("Password for {username} at {server_url}: ")).map_err(|e| {
            Failure::usage(format!("cannot ask for the password without a terminal ({e}); use --password-stdin"))
        })?
    };
    if text.is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    Ok(Password::new(text))
}
