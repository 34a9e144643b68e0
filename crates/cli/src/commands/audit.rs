//! `tessera audit`: the local, hash-chained audit log of session events. `--verify` checks the
//! chain and the anchor the keychain holds for the log (exit 6 when either is broken).

use serde_json::{Value, json};
use tessera_session::audit::{AnchorCheck, BreakProblem, FILE_NAME};
use tessera_session::{AuditError, AuditLog, KeychainVault};

use crate::cli::AuditArgs;
use crate::context::Dirs;
use crate::failure::{Exit, Failure};
use crate::output;

pub async fn run(dirs: &Dirs, args: &AuditArgs, json: bool) -> Result<Exit, Failure> {
    let path = dirs.data.join(FILE_NAME);
    let data = dirs.data.clone();
    let limit = args.limit;
    let verify = args.verify;
    let task = tokio::task::spawn_blocking(move || -> Result<Outcome, AuditError> {
        let path = data.join(FILE_NAME);
        if verify {
            // The keychain holds the anchor (a deleted log with an anchor is a broken log);
            // without a keychain the report says the end is unanchored.
            match AuditLog::verify_anchored(&path, &KeychainVault::new()) {
                Err(AuditError::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    Ok(Outcome::None)
                }
                report => report.map(Outcome::Verified),
            }
        } else if !path.exists() {
            Ok(Outcome::None)
        } else {
            AuditLog::open(&data)?.read_recent(limit).map(Outcome::Recent)
        }
    });
    let outcome = task
        .await
        .map_err(|e| Failure::new(Exit::Error, "audit", format!("reading the audit log failed: {e}")))?
        .map_err(|e| Failure::new(Exit::Error, "audit_unreadable", e.to_string()))?;
    match outcome {
        Outcome::None => {
            if json {
                output::json(&json!({ "path": path, "events": [], "intact": true, "records": 0, "anchored": false }))?;
            } else {
                println!("No audit log yet at {} (nothing has happened on this machine).", path.display());
            }
            Ok(Exit::Ok)
        }
        Outcome::Recent(entries) => {
            if json {
                output::json(&json!({ "path": path, "events": entries }))?;
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_owned));
                        vec![
                            e.seq.to_string(),
                            output::local(e.at),
                            kind.unwrap_or_default(),
                            e.reason.clone().unwrap_or_default(),
                            e.detail.clone().unwrap_or_default(),
                            e.session_id.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                println!("{}", output::table(&["SEQ", "AT", "EVENT", "REASON", "DETAIL", "SESSION"], &rows));
            }
            Ok(Exit::Ok)
        }
        Outcome::Verified(report) => {
            if json {
                let first_break = report.first_break.as_ref().map(|b| {
                    let (problem, detail) = match &b.problem {
                        BreakProblem::PrevMismatch { expected, found } => {
                            ("prev_mismatch", json!({ "expected": expected, "found": found }))
                        }
                        BreakProblem::SeqOutOfOrder { expected, found } => {
                            ("seq_out_of_order", json!({ "expected": expected, "found": found }))
                        }
                        BreakProblem::Unreadable => ("unreadable", json!(null)),
                    };
                    json!({ "line": b.line, "problem": problem, "detail": detail })
                });
                output::json(&json!({
                    "path": report.path,
                    "intact": report.is_intact(),
                    "lines": report.lines,
                    "records": report.records,
                    "torn_lines": report.torn_lines,
                    "unterminated_tail": report.unterminated_tail,
                    "first_break": first_break,
                    "anchored": report.anchor.is_anchored(),
                    "anchor": anchor_json(&report.anchor),
                }))?;
            } else {
                println!("{report}");
            }
            Ok(if report.is_intact() { Exit::Ok } else { Exit::AuditBroken })
        }
    }
}

/// The anchor part of `audit --verify --json`.
fn anchor_json(check: &AnchorCheck) -> Value {
    let status = check.status();
    match check {
        AnchorCheck::NotChecked | AnchorCheck::Missing => json!({ "status": status }),
        AnchorCheck::Unavailable { code, message } => json!({ "status": status, "code": code, "message": message }),
        AnchorCheck::Holds { seq, after } => json!({ "status": status, "seq": seq, "after": after }),
        AnchorCheck::Truncated { anchored_seq, last_seq } => {
            json!({ "status": status, "seq": anchored_seq, "last_seq": last_seq })
        }
        AnchorCheck::Mismatch { seq, expected, found } => {
            json!({ "status": status, "seq": seq, "expected": expected, "found": found })
        }
    }
}

enum Outcome {
    /// There is no log (and no anchor saying there should be one).
    None,
    Recent(Vec<tessera_session::AuditEntry>),
    Verified(tessera_session::VerifyReport),
}
