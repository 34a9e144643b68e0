//! The local control socket: how a one-shot `tessera-server notify` tells the running server on
//! the same data directory that it published, so the notification reaches open streams live and
//! its webhooks are delivered by the server (the command itself delivers nothing).
//!
//! A Unix socket `<data dir>/control.sock`, mode 0600: only the OS user that owns the data
//! directory can talk to it. One JSON line per connection: `{"user_id":1,"seq":42}`. What it
//! triggers is harmless by design — the server re-reads a notification that is already committed
//! and announces it; a forged line announces nothing new. Unix only: elsewhere the notification
//! reaches clients on their next resume or poll, and the owed webhooks at the next server start.
//!
//! The administration commands (`user passwd|disable|end-sessions`) send
//! `{"sessions_ended":["<session id>",…]}` after their transaction committed: the server tells
//! the open streams of those sessions, each of which re-reads its session through the database
//! and, finding it ended, sends `session.revoked` and closes. A forged line closes nothing: a
//! stream whose session is still open goes on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the socket in the data directory.
pub const SOCKET: &str = "control.sock";

/// What a command tells the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Recipient.
    pub user_id: i64,
    /// The notification's seq.
    pub seq: i64,
}

/// What an administration command tells the server: these sessions ended (committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsEnded {
    /// Ids of the ended sessions.
    pub sessions_ended: Vec<String>,
}

/// One line on the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ControlMessage {
    /// A notification was published.
    Published(Published),
    /// Sessions were ended.
    SessionsEnded(SessionsEnded),
}

impl From<Published> for ControlMessage {
    fn from(published: Published) -> Self {
        Self::Published(published)
    }
}

/// Session ids per control message: keeps every line far below the line limit.
pub const SESSIONS_PER_MESSAGE: usize = 64;

/// Tells the server on `data_dir` (if one runs) that `ended` sessions ended, so their open
/// streams close now. `Ok(false)`: no server runs (nothing to close).
pub async fn tell_sessions_ended(data_dir: &Path, ended: &[String]) -> anyhow::Result<bool> {
    let mut told = false;
    for chunk in ended.chunks(SESSIONS_PER_MESSAGE) {
        let message = ControlMessage::SessionsEnded(SessionsEnded { sessions_ended: chunk.to_vec() });
        told = tell(data_dir, message).await?;
        if !told {
            break;
        }
    }
    Ok(told)
}

/// The socket's path for `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET)
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{UnixListener, UnixStream};

    use super::{ControlMessage, Published, socket_path};
    use crate::notify::outbox;
    use crate::state::SharedState;

    /// Longest line accepted ([`super::SESSIONS_PER_MESSAGE`] session ids of up to 64 bytes fit).
    const MAX_LINE: u64 = 8192;
    /// Longest session id accepted (ours are 36-character UUIDs).
    const MAX_SESSION_ID: usize = 64;
    /// How long a connection may take to send its line.
    const READ_LIMIT: Duration = Duration::from_secs(5);

    /// Listens on `<data_dir>/control.sock` until the process ends. A socket another live server
    /// answers on is left alone (an error: two servers on one data directory is a mistake).
    pub async fn listen(state: SharedState, data_dir: &Path) -> anyhow::Result<()> {
        let path = socket_path(data_dir);
        if UnixStream::connect(&path).await.is_ok() {
            anyhow::bail!("another server answers on {}; is it using this data directory?", path.display());
        }
        // A stale socket of a server that stopped without removing it.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_one(state.clone(), stream));
                    }
                    Err(e) => {
                        tracing::warn!("control socket accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(())
    }

    async fn serve_one(state: SharedState, stream: UnixStream) {
        let mut line = String::new();
        let mut reader = BufReader::new(stream).take(MAX_LINE);
        match tokio::time::timeout(READ_LIMIT, reader.read_line(&mut line)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return tracing::debug!("control socket read failed: {e}"),
            Err(_) => return tracing::debug!("control socket client too slow"),
        }
        match serde_json::from_str(line.trim()) {
            Ok(ControlMessage::Published(published)) => announce(&state, published).await,
            Ok(ControlMessage::SessionsEnded(ended)) => {
                let ids = ended.sessions_ended.iter().filter(|id| id.len() <= MAX_SESSION_ID);
                // Each stream re-reads its session through the database: only a committed end closes it.
                let streams: usize = ids.map(|id| state.notify.sessions.relay(id)).sum();
                tracing::info!(streams, "told the streams of sessions ended by another process");
            }
            Err(e) => tracing::info!("ignored a malformed control message: {e}"),
        }
    }

    /// Fans out a notification another process committed, and delivers its owed webhooks.
    async fn announce(state: &SharedState, Published { user_id, seq }: Published) {
        let found = match state.db.read.acquire().await {
            Ok(mut conn) => outbox::read_one(&mut conn, user_id, seq).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(found) => match found {
                Some(notification) => {
                    state.notify.fanout.send(&user_id, std::sync::Arc::new(notification));
                    state.notify.webhooks.deliver_owed(user_id, seq);
                    tracing::debug!(user_id, seq, "announced a notification published by another process");
                }
                None => tracing::info!(user_id, seq, "control message names no retained notification"),
            },
            Err(e) => tracing::warn!("reading an announced notification failed: {e}"),
        }
    }

    /// Tells the server on `data_dir` (if one runs) about a publish or ended sessions.
    /// `Ok(false)`: no server.
    pub async fn tell(data_dir: &Path, message: impl Into<ControlMessage>) -> anyhow::Result<bool> {
        let Ok(mut stream) = UnixStream::connect(socket_path(data_dir)).await else { return Ok(false) };
        let mut line = serde_json::to_vec(&message.into())?;
        line.push(b'\n');
        stream.write_all(&line).await?;
        stream.shutdown().await?;
        Ok(true)
    }
}

#[cfg(unix)]
pub use unix::{listen, tell};

/// Without Unix sockets there is no control channel: nothing to listen on.
#[cfg(not(unix))]
pub async fn listen(_state: crate::state::SharedState, _data_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Without Unix sockets there is no control channel: the server is never told (`Ok(false)`).
#[cfg(not(unix))]
pub async fn tell(_data_dir: &Path, _message: impl Into<ControlMessage>) -> anyhow::Result<bool> {
    Ok(false)
}
