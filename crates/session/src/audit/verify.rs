//! Checking the audit log: the hash chain inside the file ([`VerifyReport::first_break`]) and,
//! when an anchor store is given, the anchored head outside it ([`AnchorCheck`]).

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{AuditError, GENESIS, parse_chain, sha256_hex};
use crate::vault::{AuditAnchor, VaultError};

/// The outcome of [`AuditLog::verify`](super::AuditLog::verify) and
/// [`AuditLog::verify_anchored`](super::AuditLog::verify_anchored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The file checked.
    pub path: PathBuf,
    /// Lines in the file (a last line without newline counts).
    pub lines: u64,
    /// Readable records.
    pub records: u64,
    /// Unreadable lines (1-based) that the chain passes through: records cut short by a crash
    /// or a full disk mid-write. Their events are lost; the chain is not broken by them.
    pub torn_lines: Vec<u64>,
    /// The file does not end with a newline: the last write was cut short. The next append
    /// ends that line before writing its own.
    pub unterminated_tail: bool,
    /// The first line where the chain does not hold, if any.
    pub first_break: Option<ChainBreak>,
    /// What the anchor kept outside the file says about the end of the file.
    pub anchor: AnchorCheck,
}

impl VerifyReport {
    /// The report of a file with nothing read from it yet.
    pub(super) fn empty(path: &Path, anchor: AnchorCheck) -> Self {
        Self {
            path: path.to_path_buf(),
            lines: 0,
            records: 0,
            torn_lines: Vec::new(),
            unterminated_tail: false,
            first_break: None,
            anchor,
        }
    }

    /// Whether the chain holds from the first line to the last (torn lines allowed) and the
    /// anchor, if one was checked, is in the file unchanged.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none() && !self.anchor.is_break()
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub problem: BreakProblem,
}

/// What is wrong at a [`ChainBreak`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakProblem {
    /// `prev` is not the hash of the line before: a line was changed, removed or inserted.
    PrevMismatch {
        /// The hash of the line before.
        expected: String,
        /// What the line says.
        found: String,
    },
    /// `seq` is not one more than the record before.
    SeqOutOfOrder {
        /// One more than the record before.
        expected: u64,
        /// What the line says.
        found: u64,
    },
    /// The line is not a record, and the next line does not chain to it.
    Unreadable,
}

/// What the anchor (the head's `seq` and hash, kept in the keychain) says about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// No anchor store was asked ([`AuditLog::verify`](super::AuditLog::verify)).
    NotChecked,
    /// The anchor store could not be read (no keychain, locked, no answer): the end of the log
    /// cannot be checked. Not a break, but not anchored either.
    Unavailable {
        /// The keychain's error code (`keychain_unavailable`, …).
        code: String,
        /// Its message.
        message: String,
    },
    /// The store holds no anchor for this file: written before anchoring existed, or only by
    /// processes that had no keychain. Its end cannot be checked.
    Missing,
    /// The anchored record is in the file, unchanged.
    Holds {
        /// Its `seq`.
        seq: u64,
        /// Records after it: appended when the keychain could not be written (they are chained,
        /// but not anchored).
        after: u64,
    },
    /// The file ends before the anchored record: lines at the end were removed, or the file
    /// was replaced by a shorter one or deleted.
    Truncated {
        /// The `seq` the anchor holds.
        anchored_seq: u64,
        /// The `seq` of the file's last record (0: none).
        last_seq: u64,
    },
    /// The record with the anchored `seq` is not the one anchored: the file was replaced or
    /// rewritten.
    Mismatch {
        /// The anchored `seq`.
        seq: u64,
        /// The anchored hash.
        expected: String,
        /// The hash of the file's record with that `seq`, if it has one.
        found: Option<String>,
    },
}

impl AnchorCheck {
    /// Whether the anchor proves the file was cut or replaced.
    pub fn is_break(&self) -> bool {
        matches!(self, Self::Truncated { .. } | Self::Mismatch { .. })
    }

    /// Whether the file's end was checked against an anchor and held.
    pub fn is_anchored(&self) -> bool {
        matches!(self, Self::Holds { .. })
    }

    /// A stable word for `--json` output: `not_checked`, `unavailable`, `missing`, `holds`,
    /// `truncated`, `mismatch`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::NotChecked => "not_checked",
            Self::Unavailable { .. } => "unavailable",
            Self::Missing => "missing",
            Self::Holds { .. } => "holds",
            Self::Truncated { .. } => "truncated",
            Self::Mismatch { .. } => "mismatch",
        }
    }

    /// What the anchor load gave, before the file is compared with it.
    pub(super) fn loaded(anchor: Result<Option<AuditAnchor>, VaultError>) -> Result<AuditAnchor, Self> {
        match anchor {
            Ok(Some(anchor)) => Ok(anchor),
            Ok(None) => Err(Self::Missing),
            Err(e) => Err(Self::Unavailable { code: e.code().to_owned(), message: e.to_string() }),
        }
    }

    /// Compares `anchor` with what the file holds.
    pub(super) fn compare(anchor: &AuditAnchor, seen: &Seen) -> Self {
        match &seen.anchored_hash {
            Some(found) if *found == anchor.sha256 => {
                Self::Holds { seq: anchor.seq, after: seen.last_seq.saturating_sub(anchor.seq) }
            }
            // The anchored seq is past the end of the file.
            None if seen.last_seq < anchor.seq => Self::Truncated { anchored_seq: anchor.seq, last_seq: seen.last_seq },
            found => Self::Mismatch { seq: anchor.seq, expected: anchor.sha256.clone(), found: found.clone() },
        }
    }
}

/// What [`verify_lines`] saw that the anchor is compared with.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// `seq` of the last readable record (0: none).
    pub(super) last_seq: u64,
    /// Hash of the first record whose `seq` is the anchored one.
    pub(super) anchored_hash: Option<String>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.first_break {
            None => write!(f, "{path}: chain intact, {} records", self.records)?,
            Some(ChainBreak { line, problem }) => {
                write!(f, "{path}: chain broken at line {line}: ")?;
                match problem {
                    BreakProblem::PrevMismatch { expected, found } => {
                        write!(f, "prev is {found}, but the line before hashes to {expected}")?
                    }
                    BreakProblem::SeqOutOfOrder { expected, found } => {
                        write!(f, "seq is {found}, expected {expected}")?
                    }
                    BreakProblem::Unreadable => write!(f, "not a record, and the next line does not chain to it")?,
                }
            }
        }
        if !self.torn_lines.is_empty() {
            write!(f, "; lines cut short by a crash mid-write: {:?}", self.torn_lines)?;
        }
        if self.unterminated_tail {
            write!(f, "; the last line has no newline (interrupted write)")?;
        }
        match &self.anchor {
            AnchorCheck::NotChecked => Ok(()),
            AnchorCheck::Unavailable { code, .. } => write!(
                f,
                "; UNANCHORED: the keychain cannot be read ({code}), so lines removed at the end or a replaced file would not show"
            ),
            AnchorCheck::Missing => write!(
                f,
                "; UNANCHORED: the keychain holds no anchor for this log, so lines removed at the end or a replaced file would not show"
            ),
            AnchorCheck::Holds { seq, after: 0 } => write!(f, "; anchored at seq {seq} (keychain)"),
            AnchorCheck::Holds { seq, after } => {
                write!(f, "; anchored at seq {seq} (keychain); the {after} records after it are not anchored")
            }
            AnchorCheck::Truncated { anchored_seq, last_seq } => write!(
                f,
                "; ANCHOR BROKEN: the keychain anchors seq {anchored_seq} but the file ends at seq {last_seq}: lines at the end were removed or the file was replaced"
            ),
            AnchorCheck::Mismatch { seq, .. } => write!(
                f,
                "; ANCHOR BROKEN: the record with seq {seq} is not the one the keychain anchors: the file was replaced or rewritten"
            ),
        }
    }
}

/// Reads the whole file, checking the chain; notes what the anchor at `anchor_seq` is compared with.
pub(super) fn verify_lines(
    path: &Path,
    file: &File,
    anchor_seq: Option<u64>,
) -> Result<(VerifyReport, Seen), AuditError> {
    let read_err = |source| AuditError::Read { path: path.to_path_buf(), source };
    let mut reader = BufReader::new(file);
    let mut report = VerifyReport::empty(path, AnchorCheck::NotChecked);
    let mut seen = Seen::default();
    let mut expected_prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut unreadable_before: Option<u64> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_err)? == 0 {
            break;
        }
        report.lines += 1;
        let n = report.lines;
        if line.last() == Some(&b'\n') {
            line.pop();
        } else {
            report.unterminated_tail = true;
        }
        let hash = sha256_hex(&line);
        match parse_chain(&line) {
            Some(chain) => {
                if report.first_break.is_none() {
                    let problem = if chain.prev != expected_prev {
                        Some(BreakProblem::PrevMismatch { expected: expected_prev.clone(), found: chain.prev })
                    } else if chain.seq != expected_seq {
                        Some(BreakProblem::SeqOutOfOrder { expected: expected_seq, found: chain.seq })
                    } else {
                        None
                    };
                    report.first_break = match (problem, unreadable_before) {
                        // The chain does not pass through the unreadable line before: that line
                        // is the damage, not a crash fragment.
                        (Some(BreakProblem::PrevMismatch { .. }), Some(bad)) => {
                            report.torn_lines.retain(|&l| l != bad);
                            Some(ChainBreak { line: bad, problem: BreakProblem::Unreadable })
                        }
                        (problem, _) => problem.map(|problem| ChainBreak { line: n, problem }),
                    };
                }
                if anchor_seq == Some(chain.seq) && seen.anchored_hash.is_none() {
                    seen.anchored_hash = Some(hash.clone());
                }
                seen.last_seq = chain.seq;
                expected_seq = chain.seq + 1;
                report.records += 1;
                unreadable_before = None;
            }
            None => {
                report.torn_lines.push(n);
                unreadable_before = Some(n);
            }
        }
        expected_prev = hash;
    }
    Ok((report, seen))
}
