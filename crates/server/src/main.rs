//! `tessera-server`: run the reference server or manage its users.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tessera_protocol::Role;
use tessera_server::clock::SystemClock;
use tessera_server::{AppState, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "tessera-server", version, about = "Tessera reference auth and session server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: String,
        /// Directory for the database and the signing key.
        #[arg(long)]
        data_dir: PathBuf,
        /// Config file (TOML; same keys as config/defaults.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Create the demo users alice, bob (agents) and carol (admin), or reset their passwords
        /// (ending their sessions), printing the passwords; also turns the password grant on
        /// (`password_grant`), so scripts and the app's password form work, and says so.
        #[arg(long)]
        demo: bool,
    },
    /// Post a `message` notification to a user's outbox (for demos and tests). Written to the
    /// database, then a server running on the same data dir is told over its control socket, so
    /// open streams get it live and the server delivers its webhooks; with no server running,
    /// clients get it on their next resume or poll.
    Notify {
        /// Login name of the recipient.
        #[arg(long)]
        user: String,
        /// Text of the notification.
        #[arg(long)]
        message: String,
        /// Data directory of the server.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (an existing name is refused: use `passwd` to reset a password).
    Add {
        #[command(flatten)]
        target: Target,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Role.
        #[arg(long, value_enum, default_value = "agent")]
        role: RoleArg,
    },
    /// Reset a user's password and end every session of the user.
    Passwd {
        #[command(flatten)]
        target: Target,
        /// Read the new password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: no sign-in, no refresh; every session of the user ends.
    Disable(Target),
    /// Enable a disabled user again.
    Enable(Target),
    /// End every session of a user (the account stays usable).
    EndSessions(Target),
}

/// The user acted on and where the server keeps its data.
#[derive(Args)]
struct Target {
    /// Login name.
    name: String,
    /// Data directory of the server.
    #[arg(long)]
    data_dir: PathBuf,
}

impl UserCommand {
    fn target(&self) -> &Target {
        match self {
            Self::Add { target, .. } | Self::Passwd { target, .. } => target,
            Self::Disable(target) | Self::Enable(target) | Self::EndSessions(target) => target,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Agent,
    Admin,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { addr, data_dir, config, demo } => serve(&addr, &data_dir, config.as_deref(), demo).await,
        Command::Notify { user, message, data_dir } => notify(&user, &message, &data_dir).await,
        Command::User { command } => user(command).await,
    }
}

/// The first line of standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).context("reading the password from stdin")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

async fn user(command: UserCommand) -> anyhow::Result<()> {
    use tessera_server::admin::{self, Actor};
    let password = match &command {
        UserCommand::Add { .. } | UserCommand::Passwd { .. } => password_from_stdin()?,
        _ => String::new(),
    };
    let Target { name, data_dir } = command.target();
    let state = AppState::open_for_tool(Config::from_env(None)?, data_dir).await?;
    let (outcome, done) = match &command {
        UserCommand::Add { role, .. } => {
            let role = match role {
                RoleArg::Agent => Role::Agent,
                RoleArg::Admin => Role::Admin,
            };
            let added = admin::create_user(&state, name, &password, role).await;
            state.db.close().await;
            added?;
            println!("user {name} ({}) saved", role.as_str());
            return Ok(());
        }
        UserCommand::Passwd { .. } => {
            (admin::reset_password(&state, name, &password, Actor::Host).await, "password reset")
        }
        UserCommand::Disable(_) => (admin::disable(&state, name, Actor::Host).await, "disabled"),
        UserCommand::Enable(_) => (admin::enable(&state, name, Actor::Host).await, "enabled"),
        UserCommand::EndSessions(_) => (admin::end_sessions(&state, name, Actor::Host).await, "sessions ended"),
    };
    state.db.close().await;
    let outcome = outcome?;
    let ended = outcome.ended.len();
    // Committed: now the running server (if any) closes the open streams of those sessions.
    let streams = if ended == 0 {
        ""
    } else if tessera_server::control::tell_sessions_ended(data_dir, &outcome.ended).await? {
        " (their open streams were told through the running server)"
    } else {
        " (no server running)"
    };
    println!("user {}: {done}; {ended} session(s) ended{streams}", outcome.username);
    Ok(())
}

async fn serve(
    addr: &str,
    data_dir: &std::path::Path,
    config: Option<&std::path::Path>,
    demo: bool,
) -> anyhow::Result<()> {
    let mut config = Config::from_env(config)?;
    let password_grant_for_demo = demo && !config.password_grant;
    config.password_grant |= demo;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let issuer = tessera_server::state::issuer_for(&config, local)?;
    let state = AppState::open(config, data_dir, Arc::new(SystemClock), issuer).await?;
    // Ready for signals and for commands on the control socket before saying `listening on`.
    let stop = shutdown_signal()?;
    tessera_server::control::listen(state.clone(), data_dir).await?;
    let mut out = std::io::stdout().lock();
    if demo {
        for (name, role, password) in tessera_server::users::add_demo_users(&state).await? {
            writeln!(out, "demo user {name} ({}) password: {password}", role.as_str())?;
        }
    }
    if password_grant_for_demo {
        writeln!(out, "demo: password grant on (password_grant = true); outside a demo, sign in through the browser")?;
    }
    writeln!(out, "listening on {}", state.issuer)?;
    out.flush()?;
    drop(out);
    let router = tessera_server::app(state.clone());
    let streams = state.clone();
    let shutdown = async move {
        stop.await;
        // WebSocket streams are upgraded connections the HTTP server no longer tracks: close
        // them (1012, service restart) so clients reconnect elsewhere or later.
        streams.notify.shutdown(tessera_server::notify::ShutdownMode::Graceful);
    };
    tessera_server::serve(listener, router, shutdown).await?;
    let _ = std::fs::remove_file(tessera_server::control::socket_path(data_dir));
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn notify(user: &str, message: &str, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::from_env(None)?;
    let state = AppState::open_for_tool(config, data_dir).await?;
    let recipient = {
        let mut conn = state.db.read.acquire().await?;
        tessera_server::store::users::by_name(&mut conn, user).await?
    };
    let recipient = recipient.with_context(|| format!("no user named {user:?}"))?;
    let message =
        tessera_server::routes::notifications::check_message(message).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let payload = serde_json::json!({ "message": message, "from": "tessera-server" });
    let notification = tessera_server::notify::outbox::publish(&state, recipient.id, "message", &payload).await?;
    state.db.close().await;
    let published = tessera_server::control::Published { user_id: recipient.id, seq: notification.seq };
    if tessera_server::control::tell(data_dir, published).await? {
        println!("notification {} sent to {user} (live through the running server)", notification.seq);
    } else {
        println!(
            "notification {} queued for {user} (no server running: delivered on the next connection)",
            notification.seq
        );
    }
    Ok(())
}

/// Registers for SIGTERM and Ctrl-C **now** and returns what completes on either: registered
/// before `listening on` is printed, so a signal sent right after that line is a clean stop
/// rather than the default action (killed mid-start).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        Ok(async move {
            tokio::select! { _ = term.recv() => {}, _ = interrupt.recv() => {} }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
