//! SQLite storage: one write connection (SQLite has one writer; a single connection avoids
//! `SQLITE_BUSY` upgrades) and a small pool of readers, in WAL mode with `synchronous=FULL`, so a
//! committed rotation survives power loss before the response leaves.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "tessera.db";

/// Read and write pools over one database file.
#[derive(Debug, Clone)]
pub struct Db {
    /// Readers (several connections).
    pub read: SqlitePool,
    /// The single writer. Every transaction that writes goes here.
    pub write: SqlitePool,
}

impl Db {
    /// Opens (creating and migrating if needed) the database in `data_dir`.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(DB_FILE);
        let url = format!("sqlite://{}", path.display());
        let base = SqliteConnectOptions::from_str(&url)
            .with_context(|| format!("database path {}", path.display()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .with_context(|| format!("opening database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&write)
            .await
            .with_context(|| format!("migrating database {}", path.display()))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(base.read_only(true))
            .await
            .with_context(|| format!("opening database {} for reading", path.display()))?;
        Ok(Self { read, write })
    }

    /// Closes both pools (waits for connections to finish).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
