//! `tessera sessions`: the user's sessions (devices); revoke one or all others.

use chrono::Utc;
use serde_json::json;

use crate::cli::SessionsCommand;
use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, command: Option<&SessionsCommand>, json: bool) -> Result<Exit, Failure> {
    match command {
        None => list(dirs, json).await,
        Some(SessionsCommand::Revoke(args)) => match (&args.id, args.others) {
            (_, true) => revoke_others(dirs, json).await,
            (Some(id), false) => revoke(dirs, id, json).await,
            (None, false) => Err(Failure::usage("give a session id or --others")),
        },
    }
}

async fn list(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let list = restored.engine.sessions().await;
    restored.warnings.print();
    let list = list.map_err(Failure::from)?;
    if json {
        output::json(&list)?;
        return Ok(Exit::Ok);
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = list
        .sessions
        .iter()
        .map(|s| {
            vec![
                if s.current { "*".to_owned() } else { String::new() },
                s.id.clone(),
                s.device.name.clone(),
                s.device.platform.clone(),
                s.client_id.clone(),
                s.ip.clone(),
                format!("{} ago", output::span((now - s.last_seen_at).num_seconds().max(0))),
                format!("in {}", output::span((s.ends_at() - now).num_seconds().max(0))),
            ]
        })
        .collect();
    println!("{}", output::table(&["", "ID", "DEVICE", "PLATFORM", "CLIENT", "IP", "LAST SEEN", "ENDS"], &rows));
    Ok(Exit::Ok)
}

async fn revoke(dirs: &Dirs, id: &str, json: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let own = restored.engine.status().session_id.as_deref() == Some(id);
    let result = restored.engine.revoke_session(id).await;
    restored.warnings.print();
    result.map_err(|e| match &e {
        tessera_session::EngineError::Client(c) if c.code() == "not_found" => {
            Failure::new(Exit::Error, "not_found", format!("no session {id} among yours (see `tessera sessions`)"))
        }
        _ => Failure::from(e),
    })?;
    // The engine has signed out here and forgotten the account; the cache goes too.
    if own {
        if let Err(e) = tessera_session::feed::forget_cached(&dirs.data, &restored.account).await {
            tracing::warn!(code = e.code(), "could not delete the cached notifications");
        }
    }
    if json {
        output::json(&json!({ "revoked": id, "this_device": own }))?;
    } else if own {
        println!("Signed out session {id}: that was this device, so you are signed out here too.");
    } else {
        println!("Signed out session {id}.");
    }
    Ok(Exit::Ok)
}

async fn revoke_others(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let result = restored.engine.revoke_other_sessions().await;
    restored.warnings.print();
    let response = result.map_err(Failure::from)?;
    if json {
        output::json(&response)?;
    } else {
        let n = response.revoked;
        println!("Signed out {n} other session{}.", if n == 1 { "" } else { "s" });
    }
    Ok(Exit::Ok)
}
