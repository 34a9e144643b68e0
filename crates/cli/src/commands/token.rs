//! `tessera token` and `tessera whoami`: the current session, restored from the keychain.

use serde_json::json;

use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;

/// Prints a valid access token on stdout and nothing else (like `gh auth token`).
pub async fn token(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let token = restored.engine.access_token().await;
    restored.warnings.print();
    let token = token.map_err(Failure::from)?;
    if json {
        let expires_at = restored.engine.status().access_expires_at;
        // The one place the CLI turns the access token into text: the user asked for it.
        output::json(&json!({ "access_token": token.secret(), "expires_at": expires_at }))?;
    } else {
        println!("{}", token.secret());
    }
    Ok(Exit::Ok)
}

/// Prints who is signed in, as the server sees it.
pub async fn whoami(dirs: &Dirs, json: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let me = restored.engine.me().await;
    restored.warnings.print();
    let me = me.map_err(Failure::from)?;
    if json {
        output::json(&me)?;
    } else {
        println!("{} ({}, {}) at {}", me.username, me.display_name, me.role.as_str(), restored.account.server_url());
    }
    Ok(Exit::Ok)
}
