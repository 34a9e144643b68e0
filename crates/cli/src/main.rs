//! `tessera`: a gh-style command line over the Tessera session engine.
//!
//! Each command group is a module in [`commands`]; the files, vault choice and engine set-up
//! they share are in [`context`]; exit codes and the error shape in [`failure`].
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod context;
mod failure;
mod output;

use std::process::ExitCode;

use failure::{Exit, Failure};

fn main() -> ExitCode {
    let cli = cli::parse();
    init_logging();
    // One thread is plenty for a command line, and an idle `debug watch` wakes nobody.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return report(&Failure::new(Exit::Error, "runtime", format!("cannot start: {e}")), cli.json),
    };
    match runtime.block_on(commands::run(&cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(failure) => report(&failure, cli.json),
    }
}

fn report(failure: &Failure, json: bool) -> ExitCode {
    failure.print(json);
    ExitCode::from(failure.exit.code())
}

/// Diagnostics on stderr, off unless `TESSERA_LOG` asks (warnings reach the user as
/// `warning:` lines from the engine's events instead).
fn init_logging() {
    let Ok(filter) = std::env::var("TESSERA_LOG") else { return };
    let filter =
        tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
