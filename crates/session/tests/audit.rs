//! The audit log as the desktop app, the CLI and a support lead reading it rely on it.
// Test scaffolding: a fixture that cannot be built should stop the test loudly.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tessera_session::audit::{AuditError, AuditEvent, AuditKind, AuditLog, BreakProblem, ChainBreak};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_777_636_800 + secs, 0).unwrap_or_else(|| panic!("a valid test timestamp"))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read the log: {e}")).lines().map(str::to_owned).collect()
}

fn hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// A log with `n` records: signed_in, then refreshed ones.
fn log_with(dir: &Path, n: i64) -> AuditLog {
    let log = AuditLog::open(dir).unwrap_or_else(|e| panic!("open the log: {e}"));
    for i in 0..n {
        let kind = if i == 0 { AuditKind::SignedIn } else { AuditKind::Refreshed };
        log.append(at(i), &AuditEvent::new(kind).session("s-1")).unwrap_or_else(|e| panic!("append: {e}"));
    }
    log
}

#[test]
fn every_line_chains_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    let written = lines(log.path());
    assert_eq!(written.len(), 3, "one line per event");
    for (i, line) in written.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert_eq!(value["seq"], i as u64 + 1, "seq counts from 1: {line}");
        let expected_prev = if i == 0 { "0".repeat(64) } else { hash(&written[i - 1]) };
        assert_eq!(value["prev"], expected_prev.as_str(), "prev must be the hash of the previous line: {line}");
    }
    let report = AuditLog::verify(log.path()).unwrap();
    assert!(report.is_intact(), "an untouched log must verify: {report}");
    assert_eq!((report.lines, report.records), (3, 3), "all lines are records: {report}");
    assert!(report.torn_lines.is_empty() && !report.unterminated_tail, "nothing torn: {report}");
}

#[test]
fn an_edited_line_is_reported_at_the_line_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 4);
    let mut written = lines(log.path());
    written[1] = written[1].replace("refreshed", "signed_out");
    std::fs::write(log.path(), written.join("\n") + "\n").unwrap();
    let report = AuditLog::verify(log.path()).unwrap();
    let found = report.first_break.clone().expect("an edit must break the chain");
    assert_eq!(found.line, 3, "line 3's prev no longer matches edited line 2: {report}");
    assert!(matches!(found.problem, BreakProblem::PrevMismatch { .. }), "an edit is a prev mismatch: {report}");
}

#[test]
fn a_removed_line_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 4);
    let mut written = lines(log.path());
    written.remove(1);
    std::fs::write(log.path(), written.join("\n") + "\n").unwrap();
    let report = AuditLog::verify(log.path()).unwrap();
    assert_eq!(report.first_break.map(|b| b.line), Some(2), "the line after the gap must be reported");
}

#[test]
fn a_renumbered_record_is_reported_even_when_prev_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let first = r#"{"seq":1,"at":"2026-05-01T12:00:00Z","kind":"signed_in","session_id":null,"detail":null,"prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
    let third = format!(
        r#"{{"seq":3,"at":"2026-05-01T12:00:01Z","kind":"online","session_id":null,"detail":null,"prev":"{}"}}"#,
        hash(first)
    );
    std::fs::write(log.path(), format!("{first}\n{third}\n")).unwrap();
    let report = AuditLog::verify(log.path()).unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak { line: 2, problem: BreakProblem::SeqOutOfOrder { expected: 2, found: 3 } }),
        "a skipped seq must be reported: {report}"
    );
}

#[test]
fn garbage_the_chain_does_not_pass_through_is_the_break() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    let mut written = lines(log.path());
    written[1] = "not a record".into();
    std::fs::write(log.path(), written.join("\n") + "\n").unwrap();
    let report = AuditLog::verify(log.path()).unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak { line: 2, problem: BreakProblem::Unreadable }),
        "a replaced line is damage, not a crash fragment: {report}"
    );
    assert!(report.torn_lines.is_empty(), "damage must not be excused as a torn line: {report}");
}

#[test]
fn crash_mid_write_is_reported_then_sealed_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 2);
    // Cut the second record in half, as a crash or a full disk mid-write would.
    let full = std::fs::read(log.path()).unwrap();
    let torn_at = full.len() - 40;
    std::fs::write(log.path(), &full[..torn_at]).unwrap();

    let report = AuditLog::verify(log.path()).unwrap();
    assert!(report.is_intact(), "a torn last line alone is not a broken chain: {report}");
    assert!(report.unterminated_tail, "the missing newline must be reported: {report}");
    assert_eq!((report.records, report.torn_lines.clone()), (1, vec![2]), "line 2 is torn: {report}");

    // A new process opens the log and goes on.
    let log = AuditLog::open(dir.path()).unwrap();
    let entry = log.append(at(10), &AuditEvent::new(AuditKind::Online)).unwrap();
    assert_eq!(entry.seq, 2, "the torn record's seq is reused: it never completed");
    let written = lines(log.path());
    assert_eq!(written.len(), 3, "the torn line is kept and ended, not overwritten");
    assert_eq!(written[1].as_bytes(), &full[written[0].len() + 1..torn_at], "the torn bytes stay as they were");
    assert_eq!(entry.prev, hash(&written[1]), "the new record chains to the torn bytes");

    let report = AuditLog::verify(log.path()).unwrap();
    assert!(report.is_intact(), "the chain runs through the sealed torn line: {report}");
    assert!(!report.unterminated_tail, "the torn line is now ended: {report}");
    assert_eq!((report.records, report.torn_lines.clone()), (2, vec![2]), "the lost record stays visible: {report}");
    let recent = log.read_recent(10).unwrap();
    let seqs: Vec<u64> = recent.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2], "read_recent skips the torn line");
    assert_eq!(recent[1].kind, AuditKind::Online, "the record after the crash reads back");
}

#[test]
fn crash_just_before_the_newline_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 2);
    let full = std::fs::read(log.path()).unwrap();
    std::fs::write(log.path(), &full[..full.len() - 1]).unwrap();
    let report = AuditLog::verify(log.path()).unwrap();
    assert!(report.unterminated_tail && report.torn_lines.is_empty(), "a complete record without newline: {report}");
    let entry = log.append(at(10), &AuditEvent::new(AuditKind::Offline)).unwrap();
    assert_eq!(entry.seq, 3, "the unterminated record counts");
    let report = AuditLog::verify(log.path()).unwrap();
    assert!(report.is_intact() && !report.unterminated_tail, "sealed and intact: {report}");
    assert_eq!(report.records, 3, "three records: {report}");
}

#[test]
fn two_processes_appending_at_once_keep_one_chain() {
    // Two AuditLog values are two open files, as the desktop app and the CLI have: only the
    // advisory file lock keeps them from reading the same tail and writing the same seq.
    let dir = tempfile::tempdir().unwrap();
    let app = AuditLog::open(dir.path()).unwrap();
    let cli = AuditLog::open(dir.path()).unwrap();
    std::thread::scope(|scope| {
        for (t, log) in [&app, &cli, &app, &cli].into_iter().enumerate() {
            scope.spawn(move || {
                for i in 0..25 {
                    let event = AuditEvent::new(AuditKind::Refreshed).detail(format!("thread {t} #{i}"));
                    log.append(at(i), &event).expect("append");
                }
            });
        }
    });
    let report = AuditLog::verify(app.path()).unwrap();
    assert!(report.is_intact(), "concurrent appends must not fork the chain: {report}");
    assert_eq!(report.records, 100, "no append may be lost: {report}");
}

#[test]
fn read_recent_returns_the_newest_records_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    assert!(log.read_recent(5).unwrap().is_empty(), "a new log has no records");
    // Enough long lines that the tail has to be read in several windows.
    for i in 0..300 {
        log.append(at(i), &AuditEvent::new(AuditKind::Refreshed).detail("d".repeat(100))).unwrap();
    }
    let seqs = |n| log.read_recent(n).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(2), vec![299, 300], "the last two, oldest first");
    assert_eq!(seqs(200), (101..=300).collect::<Vec<_>>(), "a tail longer than the first window");
    assert_eq!(seqs(1000).len(), 300, "asking for more than there is returns everything");
    assert!(seqs(0).is_empty(), "zero means none");
}

#[cfg(unix)]
#[test]
fn log_file_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&dir.path().join("data")).unwrap();
    let mode = std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the audit log shows who worked when: owner only");
    let dir_mode = std::fs::metadata(dir.path().join("data")).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "a data dir we create is owner only");

    std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = AuditLog::open(&dir.path().join("data")).unwrap();
    let mode = std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "an existing world-readable log is made private on open");
}

#[test]
fn unusable_data_dir_is_a_clear_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::File::create(&not_a_dir).unwrap().write_all(b"x").unwrap();
    let err = AuditLog::open(&not_a_dir.join("data")).expect_err("a data dir under a file cannot be created");
    assert!(matches!(err, AuditError::Open { .. }), "must be an open error: {err:?}");
    assert!(err.to_string().contains(&*not_a_dir.to_string_lossy()), "the message must name the path: {err}");

    let err = AuditLog::verify(&dir.path().join("missing.jsonl")).expect_err("a missing log cannot be verified");
    assert!(err.to_string().contains("missing.jsonl"), "the message must name the file: {err}");
}

#[cfg(target_os = "linux")]
#[test]
fn disk_full_is_a_write_error_naming_the_file() {
    // /dev/full accepts the open and fails every write with ENOSPC, like a full disk.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("audit.jsonl")).unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let err = log.append(at(0), &AuditEvent::new(AuditKind::SignedIn)).expect_err("a full disk must fail the append");
    assert!(matches!(err, AuditError::Write { .. }), "must be a write error: {err:?}");
    let text = err.to_string();
    assert!(text.contains("audit.jsonl") && text.contains("No space left"), "path and cause: {text}");
}

/// An anchor store in memory whose writes can be made to fail (the real one is the keychain:
/// tests/audit_anchor.rs).
#[derive(Debug, Default)]
struct Anchors {
    held: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, tessera_session::AuditAnchor>>,
    failing: std::sync::atomic::AtomicBool,
}

impl tessera_session::AnchorStore for Anchors {
    fn load_anchor(&self, log: &Path) -> Result<Option<tessera_session::AuditAnchor>, tessera_session::VaultError> {
        Ok(self.held.lock().expect("lock").get(log).cloned())
    }

    fn store_anchor(
        &self,
        log: &Path,
        anchor: &tessera_session::AuditAnchor,
    ) -> Result<(), tessera_session::VaultError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tessera_session::VaultError::Timeout(3));
        }
        self.held.lock().expect("lock").insert(log.to_path_buf(), anchor.clone());
        Ok(())
    }
}

#[test]
fn records_appended_while_the_anchor_cannot_be_written_are_reported_as_not_anchored() {
    use tessera_session::audit::AnchorCheck;
    let dir = tempfile::tempdir().unwrap();
    let anchors = std::sync::Arc::new(Anchors::default());
    let log = AuditLog::open_anchored(dir.path(), anchors.clone()).unwrap();
    log.append(at(0), &AuditEvent::new(AuditKind::SignedIn)).unwrap();
    anchors.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let entry = log.append(at(1), &AuditEvent::new(AuditKind::Refreshed));
    assert!(entry.is_ok(), "a keychain that cannot take the anchor must not lose the record: {entry:?}");
    let report = AuditLog::verify_anchored(log.path(), anchors.as_ref()).unwrap();
    assert!(report.is_intact(), "a failed anchor write is not tampering: {report}");
    assert_eq!(
        report.anchor,
        AnchorCheck::Holds { seq: 1, after: 1 },
        "the record after the anchor is named: {report}"
    );
    assert!(report.to_string().contains("not anchored"), "and said in words: {report}");

    anchors.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    log.append(at(2), &AuditEvent::new(AuditKind::Online)).unwrap();
    let report = AuditLog::verify_anchored(log.path(), anchors.as_ref()).unwrap();
    assert_eq!(report.anchor, AnchorCheck::Holds { seq: 3, after: 0 }, "the next append anchors them all: {report}");
}

#[test]
fn a_log_without_an_anchor_verifies_as_unanchored_not_as_anchored() {
    use tessera_session::audit::AnchorCheck;
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 2);
    let report = AuditLog::verify_anchored(log.path(), &Anchors::default()).unwrap();
    assert!(report.is_intact(), "no anchor is not a break: {report}");
    assert_eq!(report.anchor, AnchorCheck::Missing, "but the report must say the end is unchecked: {report}");
    assert!(!report.anchor.is_anchored() && report.to_string().contains("UNANCHORED"), "{report}");

    let missing = AuditLog::verify_anchored(&dir.path().join("none").join("audit.jsonl"), &Anchors::default());
    assert!(matches!(missing, Err(AuditError::Open { .. })), "no file and no anchor: nothing to verify: {missing:?}");
}
