//! `tessera status`: signed in or not, where, until when, and where the refresh token lives.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tessera_session::{SessionState, SignOutReason, StorageTier};

use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;
use tessera_session::SetupOverrides;

/// What `status --json` prints. No token, ever.
#[derive(Debug, Serialize)]
struct StatusView {
    signed_in: bool,
    /// `signed_out`, `active`, `refreshing`, `offline`, `expiring`.
    state: &'static str,
    /// Why the last session ended, when it just did.
    signed_out_reason: Option<SignOutReason>,
    server_url: Option<String>,
    username: Option<String>,
    session_id: Option<String>,
    access_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token stops working (idle or absolute end, whichever is first).
    refresh_expires_at: Option<DateTime<Utc>>,
    session_expires_at: Option<DateTime<Utc>>,
    storage: StorageView,
    /// A sign-out whose revocation has not reached the server yet.
    pending_revocation: bool,
    clock_skew_ms: Option<i64>,
    last_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct StorageView {
    /// `keychain` or `memory`.
    tier: StorageTier,
    /// Why memory: `{code, message}`.
    reason: Option<Reason>,
}

#[derive(Debug, Serialize)]
struct Reason {
    code: String,
    message: String,
}

pub async fn run(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let account = context::current_account(dirs)?;
    let storage = context::storage().await;
    let storage_view = |tier: StorageTier, write_failure: Option<String>| StorageView {
        tier,
        reason: match (&storage.keychain_error, tier) {
            (Some(e), _) => Some(Reason { code: e.code().to_owned(), message: e.to_string() }),
            (None, StorageTier::Memory) => Some(Reason {
                code: write_failure.unwrap_or_else(|| "keychain_failed".to_owned()),
                message: "the refresh token could not be saved to the keychain; the session ends with this process"
                    .to_owned(),
            }),
            (None, StorageTier::Keychain) => None,
        },
    };
    let Some(account) = account else {
        let view = signed_out_view(storage_view(storage.tier(), None));
        print(&view, json)?;
        return Ok(Exit::NotSignedIn);
    };

    if storage.keychain_error.is_some() {
        // The session may be in the keychain; we cannot tell. Show the account and why.
        let view = StatusView {
            server_url: Some(account.server_url().to_owned()),
            username: Some(account.username().to_owned()),
            ..signed_out_view(storage_view(storage.tier(), None))
        };
        print(&view, json)?;
        return Ok(Exit::Keychain);
    }
    let (engine, mut warnings) =
        context::engine(dirs, account.server_url(), &storage, SetupOverrides::default()).await?;
    let restored = engine.restore_user(account.username()).await;
    warnings.print();
    restored.map_err(Failure::from)?;
    let status = engine.status();
    let metrics = engine.metrics();
    // Read after restoring: restoring sends a queued revocation when it can.
    let pending = match storage.vault.load(&account).await {
        Ok(record) => record.is_some_and(|r| r.pending_revocation.is_some()),
        Err(_) => status.pending_revocation,
    };
    let signed_in = status.state.is_signed_in();
    let reason = match status.state {
        SessionState::SignedOut { reason } => reason,
        _ => None,
    };
    let view = StatusView {
        signed_in,
        state: status.state.name(),
        signed_out_reason: reason,
        server_url: Some(account.server_url().to_owned()),
        username: Some(account.username().to_owned()),
        session_id: status.session_id.clone(),
        access_expires_at: status.access_expires_at,
        refresh_expires_at: status.refresh_expires_at,
        session_expires_at: status.session_expires_at,
        storage: storage_view(if signed_in { status.storage } else { storage.tier() }, metrics.last_error_code.clone()),
        pending_revocation: pending,
        clock_skew_ms: status.clock_skew_ms,
        last_error: metrics.last_error_code,
    };
    print(&view, json)?;
    Ok(match status.state {
        SessionState::Offline { .. } => Exit::Offline,
        state if state.is_signed_in() => Exit::Ok,
        _ => Exit::NotSignedIn,
    })
}

fn signed_out_view(storage: StorageView) -> StatusView {
    StatusView {
        signed_in: false,
        state: "signed_out",
        signed_out_reason: None,
        server_url: None,
        username: None,
        session_id: None,
        access_expires_at: None,
        refresh_expires_at: None,
        session_expires_at: None,
        storage,
        pending_revocation: false,
        clock_skew_ms: None,
        last_error: None,
    }
}

fn print(view: &StatusView, json: bool) -> Result<(), Failure> {
    if json {
        return output::json(view);
    }
    let now = Utc::now();
    let storage = match &view.storage.reason {
        None => "system keychain".to_owned(),
        Some(r) => format!("memory only: {}: {}", r.code, r.message),
    };
    match (&view.server_url, &view.username) {
        (Some(server), Some(user)) if view.signed_in => println!("Signed in to {server} as {user}"),
        (Some(server), Some(user)) => match view.signed_out_reason {
            Some(reason) => println!("Not signed in: the session of {user} at {server} ended ({})", reason.as_str()),
            None if view.storage.tier == StorageTier::Memory => {
                println!("Cannot tell whether {user} is signed in at {server}: the keychain is unusable")
            }
            None => println!("Not signed in (last account: {user} at {server})"),
        },
        _ => println!("Not signed in"),
    }
    let row = |label: &str, value: String| println!("  {label:<22}{value}");
    if view.signed_in {
        row("state:", view.state.to_owned());
        row("session:", view.session_id.clone().unwrap_or_default());
        if let Some(at) = view.access_expires_at {
            row("access token expires:", output::when(at, now));
        }
        if let Some(at) = view.refresh_expires_at {
            row("refresh token valid:", format!("until {}", output::when(at, now)));
        }
        if let Some(at) = view.session_expires_at {
            row("session ends:", output::when(at, now));
        }
        if let Some(code) = &view.last_error {
            row("last error:", code.clone());
        }
    }
    row("storage:", storage);
    row(
        "pending revocation:",
        if view.pending_revocation { "queued (sent when the server is reachable)".into() } else { "none".into() },
    );
    Ok(())
}
