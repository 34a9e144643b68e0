//! The audit log: what happened to sessions on this machine, one JSON object per line in
//! `<data dir>/audit.jsonl`, shared by the desktop app and the CLI.
//!
//! ```text
//! {"seq":1,"at":"2026-05-01T12:00:00Z","kind":"signed_in","session_id":"…","detail":null,"prev":"0000…0000"}
//! {"seq":2,"at":"2026-05-01T12:30:00Z","kind":"signed_out","reason":"idle","session_id":"…","detail":null,"prev":"9f2c…"}
//! ```
//!
//! - **Chain.** `prev` is the SHA-256 (hex) of the previous line's bytes, without its newline;
//!   the first line has 64 zeros. `seq` counts records from 1. [`AuditLog::verify`] recomputes
//!   both and names the first line where they do not hold. The chain shows edits, insertions and
//!   deletions inside the file; on its own (it has no key) it cannot show the end being cut off
//!   or the whole file being rewritten.
//! - **Anchor.** A log opened with [`AuditLog::open_anchored`] also writes, after each append and
//!   under the same file lock, the new record's `seq` and hash to an [`AnchorStore`] outside the
//!   file (the keychain). [`AuditLog::verify_anchored`] reads it under the file lock and reports
//!   [`AnchorCheck::Truncated`] or [`AnchorCheck::Mismatch`] when whole lines at the end were
//!   removed or the file was replaced or deleted. The line is `fdatasync`ed before its anchor is
//!   written, so a power loss cannot leave an anchor ahead of the file. A failed anchor write
//!   does not fail the append: the records after the anchor show as not anchored
//!   ([`AnchorCheck::Holds`]`{ after }`) until the next append anchors them all.
//! - **No secrets.** The API takes no token types; `detail` and `reason` are for error codes,
//!   URLs and the like, never a token or password.
//! - **Appends** are serialized within the process (a mutex) and between processes (an
//!   exclusive advisory lock on the file), written with one `write` to a file opened in append
//!   mode. The file is created `0600` on Unix.
//! - **Not fsynced per line, unless anchored.** A line is in the OS when [`AuditLog::append`]
//!   returns, so it survives the process crashing; without an anchor a power loss may drop the
//!   last lines, which the chain could not reveal anyway (see above), and an fsync per line cost
//!   0.2–8 ms on every token refresh for no stronger guarantee. An anchored log syncs each line
//!   before anchoring it (the keychain write costs a D-Bus round trip anyway): otherwise a power
//!   loss would read as tampering.
//! - **Torn lines.** A crash or a full disk in the middle of a write can leave a last line
//!   without its newline. Nothing is ever rewritten: the next append first ends that line with
//!   a newline and then chains to it like to any other line (its `prev` is the hash of the torn
//!   bytes), and reuses the `seq` the torn record did not get. [`VerifyReport`] lists such lines
//!   in `torn_lines` (records lost to a crash) without calling the chain broken; an unreadable
//!   line that the next line does *not* chain to is a break.
//! - **Time** comes from the caller: this module never reads the clock.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

mod verify;

use chrono::{DateTime, Utc};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use verify::{AnchorCheck, BreakProblem, ChainBreak, VerifyReport};

use crate::vault::{AnchorStore, AuditAnchor};

/// The audit log's file name inside the data directory.
pub const FILE_NAME: &str = "audit.jsonl";

/// `prev` of the first line.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// First size of the window read from the end of the file; doubled until it holds enough.
const TAIL_WINDOW: u64 = 8 * 1024;

/// What happened. A closed set: the UI and reports switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// The user signed in with a password.
    SignedIn,
    /// A sign-in attempt failed (`detail`: the error code).
    SignInFailed,
    /// A session was picked up from the vault at start-up.
    SessionRestored,
    /// The access token was refreshed.
    Refreshed,
    /// A refresh failed (`detail`: the error code).
    RefreshFailed,
    /// The server stopped answering.
    Offline,
    /// The server answers again.
    Online,
    /// The session ended (`reason`: user, idle, expired, revoked, …).
    SignedOut,
    /// The user was warned that idleness will sign them out.
    IdleWarning,
    /// The user was warned that the session reaches its absolute end soon.
    ExpiryWarning,
    /// The keychain failed (`detail`: the vault error code).
    KeychainError,
    /// A sign-out could not reach the server; the revocation waits in the keychain.
    RevocationPending,
    /// A pending revocation reached the server.
    RevocationSent,
}

/// One event to append. The log adds `seq`, `at` and `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The server-side session id, when there is one.
    pub session_id: Option<String>,
    /// Why, as a short stable word (e.g. `idle` for [`AuditKind::SignedOut`]).
    pub reason: Option<String>,
    /// Free text for people: an error code, a server URL. Never a secret.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` with no session, reason or detail.
    pub fn new(kind: AuditKind) -> Self {
        Self { kind, session_id: None, reason: None, detail: None }
    }

    /// Sets the session id.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// One line of the log, as written and read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it happened (given by the caller).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: AuditKind,
    /// Why, when the kind has a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The server-side session id, when there is one.
    pub session_id: Option<String>,
    /// Free text for people.
    pub detail: Option<String>,
    /// SHA-256 (hex) of the previous line's bytes, or 64 zeros on the first line.
    pub prev: String,
}

/// The fields the chain is checked on; parsing only these keeps [`AuditLog::verify`] working on
/// lines whose `kind` this version does not know.
#[derive(Deserialize)]
struct ChainFields {
    seq: u64,
    prev: String,
}

/// Why the audit log could not be used. Every variant names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The data directory or the log file could not be created or opened.
    #[error("cannot open the audit log at {}: {source}", .path.display())]
    Open {
        /// The directory or file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The advisory file lock could not be taken.
    #[error("cannot lock the audit log {}: {source}", .path.display())]
    Lock {
        /// The log file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Reading the log failed.
    #[error("cannot read the audit log {}: {source}", .path.display())]
    Read {
        /// The log file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Writing or syncing the log failed (disk full, read-only file system, …).
    #[error("cannot write to the audit log {}: {source}", .path.display())]
    Write {
        /// The log file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// The append-only audit log. Cheap to clone; clones share the open file.
///
/// Calls do blocking file I/O (locks and writes): from async code, call them through
/// `tokio::task::spawn_blocking`.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: Mutex<File>,
    /// Where each append's anchor goes, with the name the log has there.
    anchor: Option<(Arc<dyn AnchorStore>, PathBuf)>,
}

impl AuditLog {
    /// Opens `<data_dir>/audit.jsonl` for appending, creating the directory (`0700` on Unix)
    /// and the file (`0600`) if needed. An existing file readable by others is made `0600`.
    /// Appends are not anchored (see [`open_anchored`](Self::open_anchored)).
    pub fn open(data_dir: &Path) -> Result<Self, AuditError> {
        Self::open_with(data_dir, None)
    }

    /// Like [`open`](Self::open), and every append also stores the new head in `anchor`.
    pub fn open_anchored(data_dir: &Path, anchor: Arc<dyn AnchorStore>) -> Result<Self, AuditError> {
        Self::open_with(data_dir, Some(anchor))
    }

    /// The name a log has in an [`AnchorStore`]: its canonical path, so two spellings of one
    /// data dir share one anchor. A directory that cannot be resolved (it does not exist) keeps
    /// the path as given.
    pub fn anchor_name(path: &Path) -> PathBuf {
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => {
                std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
                    .map_or_else(|_| path.to_path_buf(), |dir| dir.join(name))
            }
            _ => path.to_path_buf(),
        }
    }

    fn open_with(data_dir: &Path, anchor: Option<Arc<dyn AnchorStore>>) -> Result<Self, AuditError> {
        let open_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| AuditError::Open { path, source }
        };
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(data_dir).map_err(open_err(data_dir))?;

        let path = data_dir.join(FILE_NAME);
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(open_err(&path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = file.metadata().map_err(open_err(&path))?;
            // Only regular files: never chmod a device or whatever else the name points to.
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(open_err(&path))?;
            }
        }
        let anchor = anchor.map(|store| (store, Self::anchor_name(&path)));
        Ok(Self { inner: Arc::new(Inner { path, file: Mutex::new(file), anchor }) })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Appends `event` as having happened `at`, and returns the line written once the OS has it.
    pub fn append(&self, at: DateTime<Utc>, event: &AuditEvent) -> Result<AuditEntry, AuditError> {
        let path = &self.inner.path;
        let write_err = |source| AuditError::Write { path: path.clone(), source };
        self.locked(true, |file| {
            let len = file.metadata().map_err(|source| AuditError::Read { path: path.clone(), source })?;
            let tail = read_tail(file, len.len(), |lines| lines.iter().any(|l| parse_chain(l).is_some()))
                .map_err(|source| AuditError::Read { path: path.clone(), source })?;
            let next_seq = tail.lines.iter().rev().find_map(|l| parse_chain(l)).map_or(1, |c| c.seq + 1);
            let prev = tail.lines.last().map_or_else(|| GENESIS.to_owned(), |l| sha256_hex(l));
            let entry = AuditEntry {
                seq: next_seq,
                at,
                kind: event.kind,
                reason: event.reason.clone(),
                session_id: event.session_id.clone(),
                detail: event.detail.clone(),
                prev,
            };
            let line = serde_json::to_vec(&entry).map_err(|e| write_err(io::Error::other(e)))?;
            // End a torn last line first, in the same write, so the new record starts a line.
            let mut buf = if tail.unterminated { b"\n".to_vec() } else { Vec::new() };
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            let mut writer: &File = file;
            writer.write_all(&buf).map_err(write_err)?;
            if let Some((store, name)) = &self.inner.anchor {
                // Durable before anchored: an anchor ahead of the file would read as tampering.
                file.sync_data().map_err(write_err)?;
                let anchor = AuditAnchor { seq: entry.seq, sha256: sha256_hex(&line) };
                if let Err(e) = store.store_anchor(name, &anchor) {
                    tracing::warn!(code = e.code(), seq = entry.seq, "audit record written but not anchored: {e}");
                }
            }
            Ok(entry)
        })
    }

    /// The last `n` readable records, oldest first. Unreadable (torn) lines are skipped.
    pub fn read_recent(&self, n: usize) -> Result<Vec<AuditEntry>, AuditError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let path = &self.inner.path;
        let read_err = |source| AuditError::Read { path: path.clone(), source };
        self.locked(false, |file| {
            let len = file.metadata().map_err(read_err)?.len();
            let enough = |lines: &[Vec<u8>]| lines.iter().filter(|l| parse_entry(l).is_some()).count() >= n;
            let tail = read_tail(file, len, enough).map_err(read_err)?;
            let mut entries: Vec<AuditEntry> = tail.lines.iter().filter_map(|l| parse_entry(l)).collect();
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
            Ok(entries)
        })
    }

    /// Checks the whole chain of the log at `path` (under a shared lock, so a concurrent append
    /// is never seen half-written). Damage is reported in the [`VerifyReport`]; only failing to
    /// read the file is an error.
    pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
        let file = File::open(path).map_err(|source| AuditError::Open { path: path.to_path_buf(), source })?;
        Self::verify_file(path, &file, || Err(AnchorCheck::NotChecked))
    }

    /// [`verify`](Self::verify), and compares the end of the file with its anchor in `store`
    /// (read under the same shared lock, so no append slips in between). A missing file with an
    /// anchor is reported as [`AnchorCheck::Truncated`] (the log was deleted); a missing file
    /// without one is the [`AuditError::Open`] error, as for `verify`.
    pub fn verify_anchored(path: &Path, store: &dyn AnchorStore) -> Result<VerifyReport, AuditError> {
        let name = Self::anchor_name(path);
        let load = || AnchorCheck::loaded(store.load_anchor(&name));
        match File::open(path) {
            Ok(file) => Self::verify_file(path, &file, load),
            Err(source) => match (source.kind(), load()) {
                (io::ErrorKind::NotFound, Ok(anchor)) => {
                    Ok(VerifyReport::empty(path, AnchorCheck::Truncated { anchored_seq: anchor.seq, last_seq: 0 }))
                }
                _ => Err(AuditError::Open { path: path.to_path_buf(), source }),
            },
        }
    }

    /// Checks `file` under a shared lock, with the anchor `load` gives (or the check to report
    /// instead of comparing).
    fn verify_file(
        path: &Path,
        file: &File,
        load: impl FnOnce() -> Result<AuditAnchor, AnchorCheck>,
    ) -> Result<VerifyReport, AuditError> {
        FileExt::lock_shared(file).map_err(|source| AuditError::Lock { path: path.to_path_buf(), source })?;
        let anchor = load();
        let result = verify::verify_lines(path, file, anchor.as_ref().ok().map(|a| a.seq));
        // Closing the file releases the lock as well; an unlock error changes nothing.
        let _ = FileExt::unlock(file);
        let (mut report, seen) = result?;
        report.anchor = match anchor {
            Ok(anchor) => AnchorCheck::compare(&anchor, &seen),
            Err(check) => check,
        };
        Ok(report)
    }

    /// Runs `op` holding the in-process mutex and the advisory file lock (exclusive or shared).
    fn locked<T>(&self, exclusive: bool, op: impl FnOnce(&File) -> Result<T, AuditError>) -> Result<T, AuditError> {
        // A panic mid-append leaves nothing in memory half-done (a torn line on disk is handled
        // by the next append), so a poisoned mutex is still safe to use.
        let file = self.inner.file.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = if exclusive { FileExt::lock_exclusive(&*file) } else { FileExt::lock_shared(&*file) };
        lock.map_err(|source| AuditError::Lock { path: self.inner.path.clone(), source })?;
        let result = op(&file);
        if let Err(err) = FileExt::unlock(&*file) {
            tracing::warn!(path = %self.inner.path.display(), %err, "could not unlock the audit log");
        }
        result
    }
}

/// The end of the file, as lines (without newlines).
struct Tail {
    /// Complete lines in the window read, the last possibly without newline.
    lines: Vec<Vec<u8>>,
    /// The file does not end with a newline.
    unterminated: bool,
}

/// Reads windows from the end of `file` (doubling) until `enough(lines)` or the whole file.
fn read_tail(file: &File, len: u64, enough: impl Fn(&[Vec<u8>]) -> bool) -> io::Result<Tail> {
    let mut window = TAIL_WINDOW.min(len);
    loop {
        let start = len - window;
        let mut buf = Vec::new();
        let mut reader: &File = file;
        reader.seek(SeekFrom::Start(start))?;
        reader.take(window).read_to_end(&mut buf)?;
        let unterminated = buf.last().is_some_and(|&b| b != b'\n');
        if !unterminated {
            buf.pop();
        }
        let mut lines: Vec<Vec<u8>> =
            if len == 0 { Vec::new() } else { buf.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect() };
        if start > 0 && !lines.is_empty() {
            // The window starts inside a line (or at a line start we cannot tell): drop it.
            lines.remove(0);
        }
        if start == 0 || enough(&lines) {
            return Ok(Tail { lines, unterminated });
        }
        window = (window * 2).min(len);
    }
}

fn parse_chain(line: &[u8]) -> Option<ChainFields> {
    serde_json::from_slice(line).ok()
}

fn parse_entry(line: &[u8]) -> Option<AuditEntry> {
    serde_json::from_slice(line).ok()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn line_format_is_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(at(1_777_636_800), &AuditEvent::new(AuditKind::SignedOut).session("s-1").reason("idle")).unwrap();
        log.append(at(1_777_636_801), &AuditEvent::new(AuditKind::KeychainError).detail("keychain_locked")).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let first = r#"{"seq":1,"at":"2026-05-01T12:00:00Z","kind":"signed_out","reason":"idle","session_id":"s-1","detail":null,"prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
        let second = format!(
            r#"{{"seq":2,"at":"2026-05-01T12:00:01Z","kind":"keychain_error","session_id":null,"detail":"keychain_locked","prev":"{}"}}"#,
            sha256_hex(first.as_bytes())
        );
        assert_eq!(text, format!("{first}\n{second}\n"), "the line format is read by other tools: keep it stable");
    }

    /// Writes `content` to a file and reads its tail with a window of `TAIL_WINDOW`.
    fn tail_of(content: &[u8], enough: impl Fn(&[Vec<u8>]) -> bool) -> Tail {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, content).unwrap();
        read_tail(&File::open(&path).unwrap(), content.len() as u64, enough).unwrap()
    }

    #[test]
    fn tail_of_small_files() {
        let t = tail_of(b"", |_| true);
        assert!(t.lines.is_empty() && !t.unterminated, "an empty file has no lines");
        let t = tail_of(b"a\nb\n", |_| true);
        assert_eq!(t.lines, vec![b"a".to_vec(), b"b".to_vec()], "a final newline adds no empty line");
        assert!(!t.unterminated, "the file ends with a newline");
        let t = tail_of(b"a\nb", |_| true);
        assert_eq!(t.lines, vec![b"a".to_vec(), b"b".to_vec()], "a torn last line is still a line");
        assert!(t.unterminated, "the file does not end with a newline");
    }

    #[test]
    fn tail_window_grows_until_enough_and_never_starts_mid_line() {
        // 3 windows' worth of 100-byte lines: only whole lines may come back.
        let line = [b'x'; 99];
        let mut content = Vec::new();
        for _ in 0..(3 * TAIL_WINDOW as usize / 100) {
            content.extend_from_slice(&line);
            content.push(b'\n');
        }
        let t = tail_of(&content, |lines| !lines.is_empty());
        assert!(!t.lines.is_empty(), "the first window holds whole lines");
        assert!(t.lines.iter().all(|l| l.len() == 99), "a line cut by the window start must be dropped");
        let t = tail_of(&content, |lines| lines.len() >= 200);
        assert!(t.lines.len() >= 200, "the window must grow until it holds enough lines");
        let t = tail_of(&content, |_| false);
        assert_eq!(t.lines.len(), content.len() / 100, "never enough: the whole file is read");
        let long = [b'y'; 3 * TAIL_WINDOW as usize];
        let t = tail_of(&[b"a\n".as_slice(), &long].concat(), |lines| !lines.is_empty());
        assert_eq!(t.lines.last().map(Vec::len), Some(long.len()), "a torn line longer than the window is read whole");
    }
}
