//! Hidden commands that tests and benchmarks drive: a refresh loop (cross-process and crash
//! tests) and a session kept fresh on the schedule (idle wake-up benchmark).

use std::io::BufRead;

use serde_json::json;
use tessera_session::{Password, SessionEngine, SessionEvent, SessionState};

use crate::cli::DebugCommand;
use crate::context::{self, Dirs};
use crate::failure::{Exit, Failure};
use crate::output;
use tessera_session::SetupOverrides;

pub async fn run(dirs: &Dirs, command: &DebugCommand) -> Result<Exit, Failure> {
    match command {
        DebugCommand::RefreshLoop { count, start_on_stdin } => refresh_loop(dirs, *count, *start_on_stdin).await,
        DebugCommand::Watch { server, username } => match (server, username) {
            (Some(server), Some(username)) => watch_new(dirs, server, username).await,
            _ => {
                let restored = context::restore_current(dirs).await?;
                watch(&restored.engine).await
            }
        },
    }
}

/// Restores, prints `{"event":"ready",…}`, (optionally waits for a stdin line,) refreshes `count` times, prints `{"event":"done",…}`.
async fn refresh_loop(dirs: &Dirs, count: u64, start_on_stdin: bool) -> Result<Exit, Failure> {
    let mut restored = context::restore_current(dirs).await?;
    let engine = &restored.engine;
    output::json(&json!({ "event": "ready", "session_id": engine.status().session_id }))?;
    if start_on_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("cannot read the start line from stdin: {e}")))?;
    }
    for done in 0..count {
        if let Err(e) = engine.refresh_now().await {
            restored.warnings.print();
            let mut failure = Failure::from(e);
            failure.message = format!("refresh {} of {count} failed: {}", done + 1, failure.message);
            return Err(failure);
        }
    }
    restored.warnings.print();
    let metrics = engine.metrics();
    output::json(&json!({
        "event": "done",
        "refreshes": count,
        "engine_refresh_count": metrics.refresh_count,
        "state": engine.state().name(),
        "storage": engine.status().storage,
    }))?;
    Ok(Exit::Ok)
}

/// Signs in (password from stdin, any vault), watches, signs out again on the way out.
async fn watch_new(dirs: &Dirs, server: &str, username: &str) -> Result<Exit, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read the password from stdin: {e}")))?;
    let password = Password::new(line.trim_end_matches(['\r', '\n']));
    let storage = context::storage().await;
    let (engine, mut warnings) = context::engine(dirs, server, &storage, SetupOverrides::default()).await?;
    let signed_in = engine.sign_in(username, &password).await;
    warnings.print();
    signed_in.map_err(Failure::from)?;
    let exit = watch(&engine).await;
    if let Err(e) = engine.sign_out().await {
        eprintln!("warning: sign-out on exit failed: {e}");
    }
    exit
}

/// Arms the refresh schedule and waits for SIGINT/SIGTERM or the end of the session, printing
/// `{"event":"ready",…}` and then every state change as a JSON line.
async fn watch(engine: &SessionEngine) -> Result<Exit, Failure> {
    let mut events = engine.subscribe();
    let _scheduler = engine.spawn_scheduler();
    output::json(&json!({ "event": "ready", "pid": std::process::id(), "status": engine.status() }))?;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(Exit::Ok),
            event = events.recv() => match event {
                Ok(event) => {
                    output::json(&event)?;
                    if let SessionEvent::StateChanged { state: SessionState::SignedOut { .. }, .. } = event {
                        return Ok(Exit::NotSignedIn);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(Exit::Ok),
            },
        }
    }
}

/// Completes on SIGINT, or SIGTERM on Unix.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
