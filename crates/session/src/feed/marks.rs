//! Read marks: written to the cache and queued at once, then sent to the server in the order
//! they were made, now or when the server is reachable again.

use super::Shared;
use crate::account::Account;
use crate::error::{ClientError, EngineError};

/// What sending one mark achieved.
enum Sent {
    /// The server has it (or no longer has the notification): drop it from the queue.
    Done,
    /// Not now (offline, signed out): keep it and everything after it.
    Later(EngineError),
}

impl Shared {
    /// Marks `seq` (or all, for `None`) read locally, queues it and replays the queue.
    pub(crate) async fn mark(&self, seq: Option<i64>) -> Result<u64, EngineError> {
        let user = self.user()?;
        let at = self.engine.now();
        let queued = {
            let user = user.clone();
            self.cache.call(move |db| db.mark_read(&user, seq, at)).await
        };
        let changed = match queued {
            Ok(changed) => changed,
            // No cache: straight to the server, no queue.
            Err(EngineError::CacheUnavailable(why)) => {
                tracing::warn!(error = %why, "marking read without a cache");
                return match self.send(seq).await {
                    Sent::Done => Ok(0),
                    Sent::Later(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = self.flush_marks(&user).await {
            tracing::info!(code = e.code(), "read mark queued until the server is reachable");
        }
        Ok(changed)
    }

    /// Sends the queued marks of `user` in order, stopping at the first that cannot be sent now.
    pub(crate) async fn flush_marks(&self, user: &Account) -> Result<(), EngineError> {
        let _one_at_a_time = self.marks.lock().await;
        for mark in self.cache.pending(user).await? {
            match self.send(mark.seq).await {
                Sent::Done => self.cache.remove_pending(mark.id).await?,
                Sent::Later(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn send(&self, seq: Option<i64>) -> Sent {
        let client = self.engine.client().clone();
        let result = match seq {
            Some(seq) => {
                self.engine
                    .authorized(|t| {
                        let c = client.clone();
                        async move { c.mark_read(&t, seq).await }
                    })
                    .await
            }
            None => {
                self.engine
                    .authorized(|t| {
                        let c = client.clone();
                        async move { c.mark_all_read(&t).await.map(|_| ()) }
                    })
                    .await
            }
        };
        match result {
            Ok(()) => Sent::Done,
            Err(EngineError::Client(ClientError::Server { status: 404, .. })) => {
                tracing::info!(?seq, "the server no longer has this notification; dropping its read mark");
                Sent::Done
            }
            Err(e) if e.is_transient() || matches!(e, EngineError::SignedOut(_) | EngineError::NotSignedIn) => {
                Sent::Later(e)
            }
            Err(e) => {
                // Refused for good (e.g. forbidden): keeping it would block every later mark.
                tracing::warn!(code = e.code(), ?seq, "the server refused a read mark; dropping it");
                Sent::Done
            }
        }
    }
}
