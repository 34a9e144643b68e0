//! `tessera sign-in` (alias `login`): password sign-in; the refresh token goes to the keychain.

use std::io::BufRead;

use chrono::Utc;
use serde_json::json;
use tessera_session::{Password, StorageTier};

use super::sign_out;
use crate::cli::SignInArgs;
use tessera_session::Account;

use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, args: &SignInArgs, json: bool) -> Result<Exit, Failure> {
    let account = Account::new(&args.server, &args.username);
    let (server_url, username) = (account.server_url().to_owned(), account.username().to_owned());
    if server_url.is_empty() {
        return Err(Failure::usage("--server must not be empty"));
    }
    if username.is_empty() {
        return Err(Failure::usage("--username must not be empty"));
    }
    let password = read_password(args.password_stdin, &username, &server_url)?;
    let storage = context::storage().await;

    // One account at a time: a different current account is signed out first, so its refresh
    // token does not linger in the keychain where no command would reach it.
    if storage.keychain_error.is_none() {
        if let Some(previous) = context::current_account(dirs)?.filter(|p| *p != account) {
            match sign_out::sign_out_current(dirs, &previous, &storage).await {
                Ok(outcome) => eprintln!("Signed out {previous} first ({})", sign_out::outcome_word(outcome)),
                Err(e) => eprintln!("warning: could not sign out {previous} first: {e}"),
            }
        }
    }

    let (engine, mut warnings) = context::engine(dirs, &server_url, &storage)?;
    let signed_in = engine.sign_in(&username, &password).await;
    warnings.print();
    let status = signed_in?;
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
