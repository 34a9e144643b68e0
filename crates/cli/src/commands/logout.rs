//! `tessera logout`: revoke at the server, delete the keychain record, forget the account.

use serde_json::json;
use tessera_session::SignOutOutcome;
use tessera_session::lock::AccountNote;

use crate::context::{self, CurrentAccount, Dirs, Storage};
use crate::failure::{self, Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let Some(account) = CurrentAccount::load(dirs)? else { return Err(Failure::not_signed_in()) };
    let storage = context::storage().await;
    if let Some(e) = &storage.keychain_error {
        // Without the keychain the stored session cannot be reached to revoke it: change nothing.
        let mut failure = failure::from_vault(e);
        failure.message = format!("cannot open the system keychain to sign out: {e}; nothing was changed");
        return Err(failure);
    }
    let outcome = sign_out_account(dirs, &account, &storage).await?;
    // A queued revocation needs the account noted to be sent by a later command.
    if outcome != SignOutOutcome::RevocationQueued {
        CurrentAccount::remove(dirs)?;
    }
    if json {
        output::json(&json!({
            "server_url": account.server_url,
            "username": account.username,
            "outcome": outcome,
        }))?;
    } else {
        let who = format!("{} at {}", account.username, account.server_url);
        match outcome {
            SignOutOutcome::Revoked => println!("Signed out {who}."),
            SignOutOutcome::RevocationQueued => println!(
                "Signed out {who} on this machine. The server could not be reached: the revocation is queued \
                 in the keychain and sent by the next tessera command."
            ),
            SignOutOutcome::RevocationDropped => println!(
                "Signed out {who} on this machine. The server could not be reached and the revocation could not \
                 be queued: the server ends the session on its idle timeout."
            ),
            SignOutOutcome::NotSignedIn => println!("Not signed in: the session of {who} had already ended."),
        }
    }
    Ok(if outcome == SignOutOutcome::NotSignedIn { Exit::NotSignedIn } else { Exit::Ok })
}

/// Signs `account` out (server revocation, keychain record, memory), from a fresh process.
pub async fn sign_out_account(
    dirs: &Dirs,
    account: &CurrentAccount,
    storage: &Storage,
) -> Result<SignOutOutcome, Failure> {
    let (engine, mut warnings) = context::engine(dirs, &account.server_url, storage)?;
    // The engine signs out the account noted in the data directory. When that note names
    // another account (the desktop app signed in elsewhere meanwhile), pick ours up first.
    let noted = AccountNote::load(&dirs.data).await.ok().flatten();
    let ours = noted.is_some_and(|n| n.server_url == account.server_url && n.username == account.username);
    if !ours {
        engine.restore_user(&account.username).await.map_err(Failure::from)?;
    }
    let outcome = engine.sign_out().await;
    // Shared desks: the next person must not read this user's notifications.
    if let Err(e) = tessera_session::feed::forget_cached(&dirs.data, &account.server_url, &account.username).await {
        tracing::warn!(code = e.code(), "could not delete the cached notifications");
    }
    // A revocation an earlier offline sign-out queued for this account.
    if ours {
        if let Err(e) = engine.flush_pending_revocations().await {
            tracing::info!(code = e.code(), "queued revocation still pending");
        }
    }
    warnings.print();
    outcome.map_err(Failure::from)
}

/// The snake_case word for an outcome.
pub fn outcome_word(outcome: SignOutOutcome) -> &'static str {
    match outcome {
        SignOutOutcome::Revoked => "revoked",
        SignOutOutcome::RevocationQueued => "revocation_queued",
        SignOutOutcome::RevocationDropped => "revocation_dropped",
        SignOutOutcome::NotSignedIn => "not_signed_in",
    }
}
