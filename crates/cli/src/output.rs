//! Printing helpers shared by the commands.

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::failure::{Exit, Failure};

/// Prints `value` as one line of JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string(value)
        .map_err(|e| Failure::new(Exit::Error, "json", format!("cannot encode the output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// `2026-05-01 14:03:12 +02:00 (in 9m 58s)` in local time.
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = local(at);
    let delta = at - now;
    let secs = delta.num_seconds();
    if secs >= 0 { format!("{local} (in {})", span(secs)) } else { format!("{local} ({} ago)", span(-secs)) }
}

/// `2026-05-01 14:03:12 +02:00` in local time.
pub fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// `1h 02m`, `9m 58s`, `12s`.
pub fn span(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h >= 24 {
        format!("{}d {:02}h", h / 24, h % 24)
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A notification payload in one line: its `message`, `body` or `subject`, else compact JSON;
/// control characters removed, at most 100 characters.
pub fn summary(payload: &serde_json::Value) -> String {
    let text = ["message", "body", "subject"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_else(|| payload.to_string());
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut short: String = clean.chars().take(100).collect();
    if clean.chars().count() > 100 {
        short.push('…');
    }
    short
}

/// Left-aligned columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            if last {
                out.push_str(cell);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push('\n');
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(12), "12s", "seconds alone");
        assert_eq!(span(598), "9m 58s", "minutes and seconds");
        assert_eq!(span(3720), "1h 02m", "hours and minutes");
        assert_eq!(span(90_000), "1d 01h", "days and hours");
    }

    #[test]
    fn table_aligns_columns() {
        let text = table(&["ID", "NAME"], &[vec!["1".into(), "alice".into()], vec!["22".into(), "b".into()]]);
        assert_eq!(text, "ID  NAME\n1   alice\n22  b", "columns are padded to the widest cell");
    }
}
