//! The audit log's anchor in the real OS keychain (gnome-keyring over the Secret Service): the
//! newest record's `seq` and hash live outside the file, so cutting whole lines off the end or
//! replacing the file fails verification.
//!
//! Ignored by default: they need an unlocked Secret Service on a private session bus, as
//! `tools/test` runs them (see tests/keychain.rs).
// Test scaffolding: a fixture that cannot be built should stop the test loudly.
#![allow(clippy::expect_used)]
#![cfg(target_os = "linux")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tessera_session::audit::{AnchorCheck, AuditEvent, AuditKind, AuditLog, FILE_NAME};
use tessera_session::{Account, AnchorStore, KeychainVault, Vault};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_777_636_800 + secs, 0).expect("a valid test timestamp")
}

/// A keychain vault with a generous limit: these stories are about answers, not slowness.
fn keychain() -> KeychainVault {
    KeychainVault::with_timeout(Duration::from_secs(30))
}

/// An anchored log in `dir` with `n` records.
fn anchored_log(dir: &Path, n: i64) -> AuditLog {
    let log = AuditLog::open_anchored(dir, Arc::new(keychain())).expect("open the anchored log");
    for i in 0..n {
        log.append(at(i), &AuditEvent::new(AuditKind::Refreshed).session("s-1")).expect("append");
    }
    log
}

fn verify(dir: &Path) -> tessera_session::VerifyReport {
    // A fresh vault, as `tessera audit --verify` in another process has.
    AuditLog::verify_anchored(&dir.join(FILE_NAME), &keychain()).expect("verify")
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn cutting_the_newest_lines_off_an_anchored_log_fails_verification() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = anchored_log(dir.path(), 4);
    let report = verify(dir.path());
    assert!(report.is_intact(), "an untouched anchored log verifies: {report}");
    assert_eq!(report.anchor, AnchorCheck::Holds { seq: 4, after: 0 }, "the keychain anchors the newest record");

    let text = std::fs::read_to_string(log.path()).expect("read the log");
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(log.path(), kept.join("\n") + "\n").expect("cut two lines");
    let plain = AuditLog::verify(log.path()).expect("verify without anchor");
    assert!(plain.is_intact(), "the chain alone cannot see the cut (that is why the anchor exists): {plain}");
    let report = verify(dir.path());
    assert!(!report.is_intact(), "the anchor must reveal the cut: {report}");
    assert_eq!(
        report.anchor,
        AnchorCheck::Truncated { anchored_seq: 4, last_seq: 2 },
        "the report says what the keychain holds and where the file ends: {report}"
    );
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn a_log_replaced_by_another_valid_chain_fails_verification() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = anchored_log(dir.path(), 3);
    // A longer, perfectly chained log written elsewhere (unanchored), copied over the real one.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let forged = AuditLog::open(elsewhere.path()).expect("open");
    for i in 0..5 {
        forged.append(at(100 + i), &AuditEvent::new(AuditKind::Online)).expect("append");
    }
    std::fs::copy(forged.path(), log.path()).expect("replace the log");
    let report = verify(dir.path());
    assert!(report.first_break.is_none(), "the forged file chains perfectly on its own: {report}");
    assert!(
        matches!(&report.anchor, AnchorCheck::Mismatch { seq: 3, found: Some(_), .. }),
        "its record 3 is not the anchored one: {report}"
    );
    assert!(!report.is_intact(), "a replaced file must fail verification: {report}");

    std::fs::remove_file(log.path()).expect("delete the log");
    let report = verify(dir.path());
    assert_eq!(
        report.anchor,
        AnchorCheck::Truncated { anchored_seq: 3, last_seq: 0 },
        "a deleted log whose anchor remains is a broken log: {report}"
    );
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
async fn the_anchor_outlives_the_session_record_and_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = anchored_log(dir.path(), 2);
    // Signing out deletes the session record of the user; the anchor is its own entry.
    let key = Account::new(&format!("http://127.0.0.1:1/{}", uuid::Uuid::new_v4()), "ann");
    keychain().delete(&key).await.expect("delete the session record");
    let anchor = tokio::task::spawn_blocking(move || keychain().load_anchor(&AuditLog::anchor_name(log.path())))
        .await
        .expect("join")
        .expect("read the anchor from a fresh vault");
    assert_eq!(anchor.map(|a| a.seq), Some(2), "a new process reads the anchor the last append stored");

    // Another spelling of the same data dir names the same anchor.
    let dotted = dir.path().join(".").join(FILE_NAME);
    let report = AuditLog::verify_anchored(&dotted, &keychain()).expect("verify");
    assert_eq!(report.anchor, AnchorCheck::Holds { seq: 2, after: 0 }, "the anchor is found by canonical path");
}
