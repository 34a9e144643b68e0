//! One module per command group. Each returns the exit code of a run that did what was asked
//! (which may still be "not signed in", 3, for `status`), or a [`Failure`].

mod audit;
mod debug;
mod notifications;
mod sessions;
mod sign_in;
mod sign_out;
mod status;
mod token;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::context::Dirs;
use crate::failure::{Exit, Failure};

/// Runs the command the user asked for.
pub async fn run(cli: &Cli) -> Result<Exit, Failure> {
    let dirs = Dirs::from_env()?;
    let json = cli.json;
    match &cli.command {
        Command::SignIn(args) => sign_in::run(&dirs, args, json).await,
        Command::Status => status::run(&dirs, json).await,
        Command::Token => token::token(&dirs, json).await,
        Command::SignOut => sign_out::run(&dirs, json).await,
        Command::Whoami => token::whoami(&dirs, json).await,
        Command::Sessions { command } => sessions::run(&dirs, command.as_ref(), json).await,
        Command::Audit(args) => audit::run(&dirs, args, json).await,
        Command::Watch => watch::run(&dirs, json).await,
        Command::Notifications(args) => notifications::run(&dirs, args, json).await,
        Command::Debug { command } => debug::run(&dirs, command).await,
    }
}
