//! `tessera sign-out` (alias `logout`): revoke at the server, delete the keychain record, forget the account.

use serde_json::json;
use tessera_session::{Account, SignOutOutcome};

use crate::context::{self, Dirs, Storage};
use crate::failure::{self, Exit, Failure};
use crate::output;
use tessera_session::SetupOverrides;

pub async fn run(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let Some(account) = context::current_account(dirs)? else { return Err(Failure::not_signed_in()) };
    let storage = context::storage().await;
    if let Some(e) = &storage.keychain_error {
        // Without the keychain the stored session cannot be reached to revoke it: change nothing.
        let mut failure = failure::from_vault(e);
        failure.message = format!("cannot open the system keychain to sign out: {e}; nothing was changed");
        return Err(failure);
    }
    // The engine forgets the current account, unless a revocation stays queued for a later
    // command to send.
    let outcome = sign_out_current(dirs, &account, &storage).await?;
    if json {
        output::json(&json!({
            "server_url": account.server_url(),
            "username": account.username(),
            "outcome": outcome,
        }))?;
    } else {
        let who = account.to_string();
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
            SignOutOutcome::LocalOnly => println!(
                "Signed out {who} on this machine. The identity provider offers no revocation: its refresh \
                 token stays valid there until it expires."
            ),
        }
    }
    Ok(if outcome == SignOutOutcome::NotSignedIn { Exit::NotSignedIn } else { Exit::Ok })
}

/// Signs the current account (`account`, as the caller read it) out from a fresh process:
/// server revocation, keychain record, cached notifications, current-account file.
pub async fn sign_out_current(dirs: &Dirs, account: &Account, storage: &Storage) -> Result<SignOutOutcome, Failure> {
    let (engine, mut warnings) =
        context::engine(dirs, account.server_url(), storage, SetupOverrides::default()).await?;
    // A revocation an earlier offline sign-out queued for this account goes first.
    if let Err(e) = engine.flush_pending_revocations().await {
        tracing::info!(code = e.code(), "queued revocation still pending");
    }
    let outcome = engine.sign_out().await;
    // Shared desks: the next person must not read this user's notifications.
    if let Err(e) = tessera_session::feed::forget_cached(&dirs.data, account).await {
        tracing::warn!(code = e.code(), "could not delete the cached notifications");
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
        SignOutOutcome::LocalOnly => "signed_out_locally",
    }
}
