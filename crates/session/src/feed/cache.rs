//! The local notification cache: `<data_dir>/notifications.sqlite3` (SQLite, WAL, mode 0600).
//!
//! Rows are keyed by `(server_url, username)` so users of a shared support desk never see each
//! other's notifications; sign-out deletes the user's rows and queued marks. Per user it keeps
//! the newest [`KEEP_PER_USER`] notifications, the stream cursor `(epoch, last seq)` and the
//! queue of read marks made while the server was out of reach.
//!
//! All calls are blocking; [`CacheHandle`](super::CacheHandle) runs them on the blocking pool.
//! A write for a user who is no longer the active one is skipped, so a write that was already
//! on its way when the user signed out cannot re-create deleted rows.

use crate::account::Account;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tessera_protocol::Notification;

/// File name inside the data directory.
pub(crate) const FILE_NAME: &str = "notifications.sqlite3";
/// Notifications kept per user (the server retains as many by default).
pub(crate) const KEEP_PER_USER: i64 = 1000;
/// The schema version this code reads and writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE notifications (
    server_url TEXT NOT NULL,
    username   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at    TEXT,
    PRIMARY KEY (server_url, username, seq)
) WITHOUT ROWID;
CREATE TABLE cursors (
    server_url TEXT NOT NULL,
    username   TEXT NOT NULL,
    epoch      TEXT,
    last_seq   INTEGER NOT NULL,
    PRIMARY KEY (server_url, username)
) WITHOUT ROWID;
CREATE TABLE pending_marks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    server_url TEXT NOT NULL,
    username   TEXT NOT NULL,
    seq        INTEGER          -- NULL: mark all read
);
";

/// Where the user's stream stands: the epoch and the last `seq` held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) epoch: Option<String>,
    pub(crate) last_seq: i64,
}

/// A queued read mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingMark {
    pub(crate) id: i64,
    /// `None`: mark all read.
    pub(crate) seq: Option<i64>,
}

/// The open database and the user whose rows may be written.
pub(crate) struct Db {
    conn: Connection,
    active: Option<Account>,
}

type Result<T> = std::result::Result<T, rusqlite::Error>;

impl Db {
    /// Opens (creating it 0600 on unix) and migrates the cache file in `data_dir`.
    pub(crate) fn open(data_dir: &Path) -> std::result::Result<Self, String> {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let path = data_dir.join(FILE_NAME);
        create_private(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let conn = Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut db = Self { conn, active: None };
        db.prepare().map_err(|e| format!("{} is not a usable cache: {e}", path.display()))?;
        Ok(db)
    }

    fn prepare(&mut self) -> Result<()> {
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL: readers (the CLI) never block the desktop app's writer. The WAL and shm files
        // get the database file's mode from SQLite.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        match version {
            0 => {
                let tx = self.conn.transaction()?;
                tx.execute_batch(SCHEMA_V1)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                tx.commit()
            }
            SCHEMA_VERSION => Ok(()),
            other => Err(rusqlite::Error::InvalidParameterName(format!(
                "schema version {other} is newer than this build understands ({SCHEMA_VERSION})"
            ))),
        }
    }

    /// Makes `user` the one whose rows may be written (`None`: nobody).
    pub(crate) fn set_active(&mut self, user: Option<Account>) {
        self.active = user;
    }

    fn is_active(&self, user: &Account) -> bool {
        self.active.as_ref() == Some(user)
    }

    pub(crate) fn cursor(&self, user: &Account) -> Result<Cursor> {
        self.conn
            .query_row(
                "SELECT epoch, last_seq FROM cursors WHERE server_url = ?1 AND username = ?2",
                params![user.server_url(), user.username()],
                |r| Ok(Cursor { epoch: r.get(0)?, last_seq: r.get(1)? }),
            )
            .optional()
            .map(Option::unwrap_or_default)
    }

    /// Stores `items` (already filtered to `seq > cursor`) and the new cursor in one
    /// transaction. A notification already held keeps a local read mark.
    pub(crate) fn store(&mut self, user: &Account, items: &[Notification], cursor: &Cursor) -> Result<bool> {
        if !self.is_active(user) {
            return Ok(false);
        }
        let tx = self.conn.transaction()?;
        insert_items(&tx, user, items)?;
        set_cursor(&tx, user, cursor)?;
        trim(&tx, user)?;
        tx.commit()?;
        Ok(true)
    }

    /// Replaces everything held for `user` after a history reset. Queued marks refer to the old
    /// history and are dropped.
    pub(crate) fn replace(&mut self, user: &Account, items: &[Notification], cursor: &Cursor) -> Result<bool> {
        if !self.is_active(user) {
            return Ok(false);
        }
        let tx = self.conn.transaction()?;
        delete_rows(&tx, user)?;
        insert_items(&tx, user, items)?;
        set_cursor(&tx, user, cursor)?;
        trim(&tx, user)?;
        tx.commit()?;
        Ok(true)
    }

    pub(crate) fn set_cursor(&mut self, user: &Account, cursor: &Cursor) -> Result<()> {
        if self.is_active(user) {
            set_cursor(&self.conn, user, cursor)?;
        }
        Ok(())
    }

    /// Newest first.
    pub(crate) fn list(&self, user: &Account, unread_only: bool, limit: usize) -> Result<Vec<Notification>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, type, payload, created_at, read_at FROM notifications
             WHERE server_url = ?1 AND username = ?2 AND (?3 = 0 OR read_at IS NULL)
             ORDER BY seq DESC LIMIT ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![user.server_url(), user.username(), unread_only, limit], |r| {
            let payload: String = r.get(2)?;
            Ok(Notification {
                seq: r.get(0)?,
                kind: r.get(1)?,
                // Written by us from a parsed value; an unreadable one shows as null, not an error.
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                created_at: r.get(3)?,
                read_at: r.get(4)?,
            })
        })?;
        rows.collect()
    }

    pub(crate) fn unread_count(&self, user: &Account) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM notifications WHERE server_url = ?1 AND username = ?2 AND read_at IS NULL",
            params![user.server_url(), user.username()],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Marks `seq` (or all, for `None`) read locally and queues the mark for the server, in one
    /// transaction. Returns how many cached notifications changed.
    ///
    /// Unlike the feed's writes this does not require `user` to be the active one: the caller
    /// checked with the engine that they are signed in, and the feed task may not have caught up.
    pub(crate) fn mark_read(&mut self, user: &Account, seq: Option<i64>, at: DateTime<Utc>) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE notifications SET read_at = ?3
             WHERE server_url = ?1 AND username = ?2 AND read_at IS NULL AND (?4 IS NULL OR seq = ?4)",
            params![user.server_url(), user.username(), at, seq],
        )?;
        tx.execute(
            "INSERT INTO pending_marks (server_url, username, seq) VALUES (?1, ?2, ?3)",
            params![user.server_url(), user.username(), seq],
        )?;
        tx.commit()?;
        Ok(changed as u64)
    }

    /// Queued marks, oldest first.
    pub(crate) fn pending(&self, user: &Account) -> Result<Vec<PendingMark>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, seq FROM pending_marks WHERE server_url = ?1 AND username = ?2 ORDER BY id")?;
        let rows = stmt.query_map(params![user.server_url(), user.username()], |r| {
            Ok(PendingMark { id: r.get(0)?, seq: r.get(1)? })
        })?;
        rows.collect()
    }

    pub(crate) fn remove_pending(&mut self, id: i64) -> Result<()> {
        self.conn.execute("DELETE FROM pending_marks WHERE id = ?1", params![id]).map(|_| ())
    }

    /// Forgets everything held for `user` (sign-out) and stops writes for them.
    pub(crate) fn delete_user(&mut self, user: &Account) -> Result<()> {
        if self.is_active(user) {
            self.active = None;
        }
        let tx = self.conn.transaction()?;
        delete_rows(&tx, user)?;
        tx.execute(
            "DELETE FROM cursors WHERE server_url = ?1 AND username = ?2",
            params![user.server_url(), user.username()],
        )?;
        tx.commit()
    }
}

fn insert_items(conn: &Connection, user: &Account, items: &[Notification]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO notifications (server_url, username, seq, type, payload, created_at, read_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (server_url, username, seq) DO UPDATE SET
             type = excluded.type, payload = excluded.payload, created_at = excluded.created_at,
             read_at = COALESCE(notifications.read_at, excluded.read_at)",
    )?;
    for n in items {
        let payload = n.payload.to_string();
        stmt.execute(params![user.server_url(), user.username(), n.seq, n.kind, payload, n.created_at, n.read_at])?;
    }
    Ok(())
}

fn set_cursor(conn: &Connection, user: &Account, cursor: &Cursor) -> Result<()> {
    conn.execute(
        "INSERT INTO cursors (server_url, username, epoch, last_seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (server_url, username) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq",
        params![user.server_url(), user.username(), cursor.epoch, cursor.last_seq],
    )
    .map(|_| ())
}

fn trim(conn: &Connection, user: &Account) -> Result<()> {
    conn.execute(
        "DELETE FROM notifications WHERE server_url = ?1 AND username = ?2 AND seq <= COALESCE(
             (SELECT seq FROM notifications WHERE server_url = ?1 AND username = ?2
              ORDER BY seq DESC LIMIT 1 OFFSET ?3), -1)",
        params![user.server_url(), user.username(), KEEP_PER_USER],
    )
    .map(|_| ())
}

fn delete_rows(conn: &Connection, user: &Account) -> Result<()> {
    conn.execute(
        "DELETE FROM notifications WHERE server_url = ?1 AND username = ?2",
        params![user.server_url(), user.username()],
    )?;
    conn.execute(
        "DELETE FROM pending_marks WHERE server_url = ?1 AND username = ?2",
        params![user.server_url(), user.username()],
    )?;
    Ok(())
}

/// Creates the file with mode 0600 (unix) if it does not exist, and tightens an existing one.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        options.open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        options.open(path).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(seq: i64) -> Notification {
        Notification {
            seq,
            kind: "message".into(),
            payload: serde_json::json!({ "message": format!("n{seq}") }),
            created_at: DateTime::from_timestamp(1_800_000_000 + seq, 0).unwrap_or_default(),
            read_at: None,
        }
    }

    fn user(name: &str) -> Account {
        Account::new("http://s", name)
    }

    fn open(dir: &Path) -> Db {
        Db::open(dir).unwrap_or_else(|e| panic!("a fresh cache must open: {e}"))
    }

    #[test]
    fn users_never_see_each_others_rows_and_sign_out_deletes_only_theirs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let mut db = open(dir.path());
        let (alice, bob) = (user("alice"), user("bob"));
        db.set_active(Some(alice.clone()));
        assert!(
            db.store(&alice, &[note(1), note(2)], &Cursor { epoch: Some("e".into()), last_seq: 2 }).unwrap_or(false),
            "active user writes"
        );
        assert!(!db.store(&bob, &[note(1)], &Cursor::default()).unwrap_or(true), "an inactive user's write is skipped");
        db.set_active(Some(bob.clone()));
        assert!(
            db.store(&bob, &[note(9)], &Cursor { epoch: None, last_seq: 9 }).unwrap_or(false),
            "bob writes when active"
        );
        let seqs =
            |db: &Db, u: &Account| db.list(u, false, 10).unwrap_or_default().iter().map(|n| n.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&db, &alice), vec![2, 1], "alice sees only hers, newest first");
        assert_eq!(seqs(&db, &bob), vec![9], "bob sees only his");
        db.mark_read(&bob, Some(9), Utc::now()).unwrap_or_default();
        db.delete_user(&bob).unwrap_or_else(|e| panic!("delete: {e}"));
        assert!(seqs(&db, &bob).is_empty(), "sign-out deletes bob's notifications");
        assert!(db.pending(&bob).unwrap_or_default().is_empty(), "and his queued marks");
        assert_eq!(db.cursor(&bob).unwrap_or_default(), Cursor::default(), "and his cursor");
        assert_eq!(seqs(&db, &alice), vec![2, 1], "alice's rows survive bob's sign-out");
    }

    #[test]
    fn marks_are_local_at_once_queued_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let alice = user("alice");
        {
            let mut db = open(dir.path());
            db.set_active(Some(alice.clone()));
            db.store(&alice, &[note(1), note(2), note(3)], &Cursor { epoch: None, last_seq: 3 }).unwrap_or_default();
            assert_eq!(db.mark_read(&alice, Some(2), Utc::now()).unwrap_or_default(), 1, "one row marked");
            assert_eq!(db.mark_read(&alice, None, Utc::now()).unwrap_or_default(), 2, "all: the two others");
        }
        let db = open(dir.path());
        assert_eq!(db.unread_count(&alice).unwrap_or(99), 0, "local marks are durable");
        let queue: Vec<Option<i64>> = db.pending(&alice).unwrap_or_default().iter().map(|m| m.seq).collect();
        assert_eq!(queue, vec![Some(2), None], "marks replay in the order they were made");
        assert_eq!(db.cursor(&alice).unwrap_or_default().last_seq, 3, "cursor is durable");
    }

    #[test]
    fn only_the_newest_are_kept_and_a_garbage_file_is_refused_cleanly() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let alice = user("alice");
        let mut db = open(dir.path());
        db.set_active(Some(alice.clone()));
        let items: Vec<Notification> = (1..=KEEP_PER_USER + 5).map(note).collect();
        db.store(&alice, &items, &Cursor { epoch: None, last_seq: KEEP_PER_USER + 5 }).unwrap_or_default();
        let all = db.list(&alice, false, usize::MAX).unwrap_or_default();
        assert_eq!(all.len() as i64, KEEP_PER_USER, "the cache is bounded per user");
        assert_eq!(all.last().map(|n| n.seq), Some(6), "the oldest go first");

        let bad = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        std::fs::write(bad.path().join(FILE_NAME), vec![0x42u8; 8192]).unwrap_or_else(|e| panic!("write: {e}"));
        assert!(Db::open(bad.path()).is_err(), "a corrupt file must be an error, not a panic");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(dir.path().join(FILE_NAME)).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            assert_eq!(mode, 0o600, "the cache holds private messages: owner only");
        }
    }
}
