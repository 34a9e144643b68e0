//! [`CacheHandle`]: the cache on the blocking pool, or nothing when the file cannot be used.
//!
//! Without a cache the feed still streams: the cursor is then kept in memory only, and the
//! read-side calls answer `cache_unavailable`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::cache::{Cursor, Db, PendingMark};
use crate::account::Account;
use crate::error::EngineError;

/// The cache, shared by the feed task and the public calls.
#[derive(Clone)]
pub(crate) struct CacheHandle {
    db: Result<Arc<Mutex<Db>>, String>,
}

impl CacheHandle {
    /// Opens the cache in `data_dir`; a failure is kept and reported by every call.
    pub(crate) fn open(data_dir: &Path) -> Self {
        let db = Db::open(data_dir).map(|db| Arc::new(Mutex::new(db)));
        if let Err(e) = &db {
            tracing::warn!(error = %e, "notification cache unavailable; the feed streams without it");
        }
        Self { db }
    }

    /// Why the cache cannot be used, if it cannot.
    pub(crate) fn error(&self) -> Option<&str> {
        self.db.as_ref().err().map(String::as_str)
    }

    /// Runs `f` on the blocking pool with the database locked.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, rusqlite::Error> + Send + 'static,
    {
        let db = self.db.clone().map_err(EngineError::CacheUnavailable)?;
        let joined = tokio::task::spawn_blocking(move || {
            // A panic inside a rusqlite call leaves the connection usable (SQLite rolls back an
            // unfinished transaction when its guard drops), so a poisoned lock is still usable.
            let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut db)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|e| EngineError::CacheUnavailable(e.to_string())),
            Err(e) => Err(EngineError::CacheUnavailable(format!("cache task failed: {e}"))),
        }
    }

    pub(crate) async fn set_active(&self, user: Option<Account>) {
        let _ = self
            .call(move |db| {
                db.set_active(user);
                Ok(())
            })
            .await;
    }

    pub(crate) async fn cursor(&self, user: &Account) -> Result<Cursor, EngineError> {
        let user = user.clone();
        self.call(move |db| db.cursor(&user)).await
    }

    pub(crate) async fn pending(&self, user: &Account) -> Result<Vec<PendingMark>, EngineError> {
        let user = user.clone();
        self.call(move |db| db.pending(&user)).await
    }

    pub(crate) async fn remove_pending(&self, id: i64) -> Result<(), EngineError> {
        self.call(move |db| db.remove_pending(id)).await
    }

    /// Runs `f` on this thread (unit tests only).
    #[cfg(test)]
    pub(crate) fn call_sync_for_test<R>(&self, f: impl FnOnce(&mut Db) -> R) -> Option<R> {
        let db = self.db.as_ref().ok()?;
        let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
        Some(f(&mut db))
    }
}
