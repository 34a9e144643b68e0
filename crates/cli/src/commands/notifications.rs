//! `tessera notifications`: the notifications cached on this machine (no network needed), and
//! `read SEQ|--all` to mark them read (at the server now, or queued until it is reachable).

use serde_json::json;
use tessera_session::NotificationFeed;

use crate::cli::{NotificationsArgs, NotificationsCommand, ReadArgs};
use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, args: &NotificationsArgs, json: bool) -> Result<Exit, Failure> {
    match &args.command {
        None => list(dirs, args, json).await,
        Some(NotificationsCommand::Read(read_args)) => read(dirs, read_args, json).await,
    }
}

async fn list(dirs: &Dirs, args: &NotificationsArgs, json: bool) -> Result<Exit, Failure> {
    // The cache only: no keychain, no server. It is deleted on sign-out, so what it holds
    // belongs to the account still current here.
    let Some(account) = context::current_account(dirs)? else { return Err(Failure::not_signed_in()) };
    let items = tessera_session::feed::cached_notifications(&dirs.data, &account, args.unread, args.limit)
        .await
        .map_err(Failure::from)?;
    if json {
        output::json(&json!({ "notifications": items }))?;
        return Ok(Exit::Ok);
    }
    if items.is_empty() {
        println!("No {}notifications cached for {account}.", if args.unread { "unread " } else { "" });
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|n| {
            vec![
                n.seq.to_string(),
                if n.read_at.is_some() { String::new() } else { "unread".to_owned() },
                output::local(n.created_at),
                n.kind.clone(),
                output::summary(&n.payload),
            ]
        })
        .collect();
    println!("{}", output::table(&["SEQ", "", "CREATED", "TYPE", "TEXT"], &rows));
    Ok(Exit::Ok)
}

async fn read(dirs: &Dirs, args: &ReadArgs, json: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let feed = NotificationFeed::spawn(restored.engine.clone()).map_err(Failure::from)?;
    let result = match (args.seq, args.all) {
        (_, true) => feed.mark_all_read().await.map(Some),
        (Some(seq), false) => feed.mark_read(seq).await.map(|()| None),
        (None, false) => return Err(Failure::usage("give a notification number or --all")),
    };
    feed.stop();
    restored.warnings.print();
    let marked = result.map_err(Failure::from)?;
    if json {
        output::json(&json!({ "seq": args.seq, "all": args.all, "marked": marked }))?;
    } else {
        match (args.seq, marked) {
            (_, Some(n)) => println!("Marked {n} notification{} read.", if n == 1 { "" } else { "s" }),
            (Some(seq), None) => println!("Marked notification {seq} read."),
            (None, None) => {}
        }
    }
    Ok(Exit::Ok)
}
