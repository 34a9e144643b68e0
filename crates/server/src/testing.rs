//! A real server on `127.0.0.1:0` for tests of this crate and of the client engine: real HTTP,
//! real SQLite on disk, real keys. Nothing here is faked except, optionally, the clock.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tessera_protocol::Role;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::{AppState, Config, SharedState};

/// The defaults with the password grant on (`password_grant = true`), as scripted use needs it:
/// most tests and benchmarks sign in with a password to reach what they are about. The browser
/// and device flows, and the refusal when the grant is off, have their own tests.
pub fn scripted_config() -> Config {
    Config { password_grant: true, ..Config::default() }
}

/// [`scripted_config`] with the sign-in and refresh rate limits off, for tests and benchmarks
/// that sign in and refresh in bursts and are not about rate limits.
pub fn unlimited_config() -> Config {
    Config { login_per_ip_per_min: 0, login_per_user_per_min: 0, refresh_per_ip_per_min: 0, ..scripted_config() }
}

/// A running server.
#[derive(Debug)]
pub struct TestServer {
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// The data dir (SQLite file and signing key).
    pub data_dir: PathBuf,
    /// Server state, for assertions.
    pub state: SharedState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts on a fresh temporary data dir with the system clock.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let temp = tempfile::tempdir()?;
        let dir = temp.path().to_owned();
        let mut server = Self::start_in(&dir, config, Arc::new(SystemClock)).await?;
        server._temp = Some(temp);
        Ok(server)
    }

    /// Starts on `data_dir` (kept after stop, so a test can restart on it) with `clock`.
    pub async fn start_in(data_dir: &Path, config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0", data_dir, config, clock).await
    }

    /// Starts on a given address (e.g. the port a previous instance had, to simulate a restart
    /// that clients reconnect to).
    pub async fn start_on(addr: &str, data_dir: &Path, config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let state = AppState::open(config, data_dir, clock, url.clone()).await?;
        let (tx, rx) = oneshot::channel();
        let router = crate::app(state.clone());
        let task = tokio::spawn(crate::serve(listener, router, async {
            let _ = rx.await;
        }));
        Ok(Self { url, addr, data_dir: data_dir.to_owned(), state, shutdown: Some(tx), task, _temp: None })
    }

    /// Creates a user.
    pub async fn add_user(&self, username: &str, password: &str, role: Role) -> anyhow::Result<()> {
        crate::users::add_user(&self.state, username, password, role).await
    }

    /// Refresh grants served successfully so far.
    pub fn refresh_count(&self) -> u64 {
        self.state.metrics.refreshes.load(Ordering::Relaxed)
    }

    /// Refresh-token reuse detections so far.
    pub fn reuse_count(&self) -> u64 {
        self.state.metrics.reuse_detections.load(Ordering::Relaxed)
    }

    /// Graceful stop: finishes in-flight requests, closes the database. The data dir stays
    /// (unless it was the temporary one from [`TestServer::start`]).
    pub async fn stop(mut self) {
        self.state.notify.shutdown(crate::notify::ShutdownMode::Graceful);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.state.db.close().await;
    }

    /// Abrupt stop, as when the process is killed: open connections are dropped.
    pub async fn kill(self) {
        self.state.notify.shutdown(crate::notify::ShutdownMode::Abrupt);
        self.task.abort();
        let _ = self.task.await;
        self.state.db.close().await;
    }
}
