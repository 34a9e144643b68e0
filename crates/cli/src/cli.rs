//! The command line, as clap sees it.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::failure::EXIT_CODES_HELP;

/// Long help after the command list: the files and the environment (the exit codes follow).
const FILES_HELP: &str = "\
Files (never a token; tokens live in the system keychain, or in memory only when it is unusable):
  <config dir>/current.json   which server and user the commands work with
  <data dir>/audit.jsonl      hash-chained log of session events on this machine
  <data dir>/refresh-*.lock   serialize refreshes between Tessera processes
  <data dir>/notifications.sqlite3   notifications cached for offline reading (deleted on sign-out)

Environment:
  TESSERA_CONFIG_DIR, TESSERA_DATA_DIR   override the OS config and data directories
  TESSERA_SERVER, TESSERA_USERNAME       defaults for `sign-in --server` and `--username`
  TESSERA_LOG                            log filter for diagnostics on stderr (e.g. debug)
  TESSERA_IDLE_TIMEOUT_SECS              `watch`: sign out after this much inactivity (default 900)
  TESSERA_IDLE_WARNING_SECS              `watch`: warn this long before (default 60)";

/// The clap command with the long help completed.
pub fn command() -> clap::Command {
    Cli::command().after_long_help(format!("{FILES_HELP}\n\n{EXIT_CODES_HELP}"))
}

/// Parses the process arguments; on a usage error prints it and exits 2 (help: 0).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `tessera`: sign in to a Tessera server and stay signed in safely.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Print machine-readable JSON (results on stdout, errors on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in through your browser (or with a device code, or a password where the server
    /// allows it); the refresh token goes to the system keychain.
    #[command(visible_alias = "login")]
    SignIn(SignInArgs),
    /// Show whether you are signed in, to which server, until when, and where the token lives.
    Status,
    /// Print a valid access token (refreshing it first) to stdout, and nothing else.
    Token,
    /// Sign out: revoke the session at the server and remove it from the keychain.
    #[command(visible_alias = "logout")]
    SignOut,
    /// Print the signed-in user.
    Whoami,
    /// List your sessions (devices), or sign devices out.
    Sessions {
        /// `revoke`; without it, list.
        #[command(subcommand)]
        command: Option<SessionsCommand>,
    },
    /// Show the local audit log of session events, or check its hash chain.
    Audit(AuditArgs),
    /// Stay signed in and print every session event (state, warnings, feed mode, notifications)
    /// until Ctrl-C; one JSON object per line with --json.
    Watch,
    /// List the notifications cached on this machine (works offline), or mark them read.
    Notifications(NotificationsArgs),
    /// Diagnostics for tests and benchmarks.
    #[command(hide = true)]
    Debug {
        /// Which.
        #[command(subcommand)]
        command: DebugCommand,
    },
}

/// `tessera sign-in` (alias `login`).
#[derive(Debug, Args)]
pub struct SignInArgs {
    /// Server base URL, e.g. https://tessera.example.com.
    #[arg(long, env = "TESSERA_SERVER")]
    pub server: String,
    /// Sign in with a code shown here and approved in a browser anywhere (SSH sessions,
    /// machines without a browser; RFC 8628).
    #[arg(long, conflicts_with_all = ["username", "password_stdin"])]
    pub device: bool,
    /// Ask the server's sign-in page for the password even if the browser is signed in there.
    #[arg(long, conflicts_with = "device")]
    pub fresh: bool,
    /// Seconds to wait for the browser (or the device approval) before giving up.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub timeout: u64,
    /// Password sign-in as this user (only on servers that allow the password grant).
    #[arg(long, env = "TESSERA_USERNAME")]
    pub username: Option<String>,
    /// Password sign-in: read the password from the first line of stdin (needs --username).
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Sign in at this OpenID provider instead of the one the server names (its
    /// /api/client-config). Every later command needs it too: set TESSERA_ISSUER.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The client id registered at the provider (TESSERA_CLIENT_ID for later commands).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Scopes to ask for, space-separated (TESSERA_SCOPES for later commands).
    #[arg(long)]
    pub scope: Option<String>,
    /// The audience / resource the provider issues tokens for (TESSERA_AUDIENCE later).
    #[arg(long)]
    pub audience: Option<String>,
}

impl SignInArgs {
    /// What the flags change in the server's sign-in setup.
    pub fn overrides(&self) -> tessera_session::SetupOverrides {
        tessera_session::SetupOverrides {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            scopes: self.scope.clone(),
            audience: self.audience.clone(),
        }
    }
}

/// `tessera sessions …`.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sign one device out by session id, or every other device with --others.
    Revoke(RevokeArgs),
}

/// `tessera sessions revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The session id (from `tessera sessions`).
    #[arg(required_unless_present = "others", conflicts_with = "others")]
    pub id: Option<String>,
    /// Sign out every session of yours except this one.
    #[arg(long)]
    pub others: bool,
}

/// `tessera notifications`.
#[derive(Debug, Args)]
pub struct NotificationsArgs {
    /// `read`; without it, list the cache.
    #[command(subcommand)]
    pub command: Option<NotificationsCommand>,
    /// Only unread notifications.
    #[arg(long)]
    pub unread: bool,
    /// How many of the newest to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// `tessera notifications …`.
#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Mark one notification read by its number, or all with --all.
    Read(ReadArgs),
}

/// `tessera notifications read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The notification's number (SEQ in the list).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub seq: Option<i64>,
    /// Mark every notification read.
    #[arg(long)]
    pub all: bool,
}

/// `tessera audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Check the hash chain of the whole log; exit 6 when it is broken.
    #[arg(long)]
    pub verify: bool,
    /// How many of the most recent events to show.
    #[arg(long, default_value_t = 20, conflicts_with = "verify")]
    pub limit: usize,
}

/// Hidden commands that tests and benchmarks drive.
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Restore the current session, print a `ready` line, then refresh N times in a row.
    RefreshLoop {
        /// How many refreshes.
        count: u64,
        /// After the `ready` line, wait for a line on stdin before refreshing (lets a test
        /// start several processes' loops at once).
        #[arg(long)]
        start_on_stdin: bool,
    },
    /// Keep a session fresh on the refresh schedule until SIGINT/SIGTERM, printing state
    /// changes as JSON lines. Restores the current account, or signs in (any vault) when
    /// --server and --username are given, reading the password from stdin.
    Watch {
        /// Sign in to this server instead of restoring.
        #[arg(long, requires = "username")]
        server: Option<String>,
        /// Sign in as this user (password from stdin).
        #[arg(long, requires = "server")]
        username: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn long_help_documents_every_exit_code() {
        let help = command().render_long_help().to_string();
        for code in 0..=6 {
            assert!(help.contains(&format!("\n  {code}  ")), "exit code {code} must be in --help:\n{help}");
        }
    }

    #[test]
    fn revoke_takes_an_id_or_others_but_not_both() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied()).map(|_| ());
        assert!(parse(&["tessera", "sessions", "revoke", "abc"]).is_ok(), "an id is enough");
        assert!(parse(&["tessera", "sessions", "revoke", "--others"]).is_ok(), "--others is enough");
        assert!(parse(&["tessera", "sessions", "revoke"]).is_err(), "one of them is required");
        assert!(parse(&["tessera", "sessions", "revoke", "abc", "--others"]).is_err(), "not both");
    }
}
