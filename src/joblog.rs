//! The job log's line format, as OBS's own build script writes it and as OBS users read it
//! in the web UI: every line starts with the whole seconds since the job started,
//! right-aligned in five columns (`[   12s] `). The job's own writer and the callbacks
//! (other processes appending to the same file) stamp their lines the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Whole seconds since the epoch (0 for a clock set before it).
pub fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The stamp of a line written now by a job that started at `start` (epoch seconds).
pub fn stamp(start: u64) -> String {
    stamp_at(start, epoch_secs(SystemTime::now()))
}

/// The stamp of a line written at `now` by a job that started at `start`.
pub fn stamp_at(start: u64, now: u64) -> String {
    format!("[{:5}s] ", now.saturating_sub(start))
}

/// `text` as log lines, each stamped: a text of several lines gets a stamp on each.
pub fn stamped(start: u64, text: &str) -> String {
    let stamp = stamp(start);
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split('\n') {
        out.push_str(&stamp);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A log line without its stamp; a line without one as it is.
pub fn unstamped(line: &str) -> &str {
    let Some(rest) = line.strip_prefix('[') else {
        return line;
    };
    let Some((seconds, text)) = rest.split_once("s] ") else {
        return line;
    };
    if seconds.trim_start().chars().all(|c| c.is_ascii_digit()) && !seconds.trim().is_empty() {
        text
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text as obs-build's `sprintf("[%5ds] ", time() - $STARTTIME)`.
    #[test]
    fn stamps_as_obs_build_does() {
        assert_eq!(stamp_at(100, 100), "[    0s] ");
        assert_eq!(stamp_at(100, 112), "[   12s] ");
        assert_eq!(stamp_at(0, 123_456), "[123456s] ");
        // A clock set back gives 0, not a wrapped number.
        assert_eq!(stamp_at(100, 90), "[    0s] ");
    }

    #[test]
    fn every_line_of_a_text_is_stamped() {
        let start = epoch_secs(SystemTime::now());
        let text = stamped(start, "one\ntwo");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with('[') && lines[0].ends_with("s] one"),
            "{text}"
        );
        assert_eq!(
            lines.iter().map(|l| unstamped(l)).collect::<Vec<_>>(),
            ["one", "two"]
        );
    }

    #[test]
    fn unstamped_leaves_other_lines_alone() {
        assert_eq!(unstamped("[    3s] [obsbox] x"), "[obsbox] x");
        assert_eq!(unstamped("[obsbox] x"), "[obsbox] x");
        assert_eq!(unstamped("[callback a] b"), "[callback a] b");
        assert_eq!(unstamped("[s] x"), "[s] x");
        assert_eq!(unstamped("[ 1xs] x"), "[ 1xs] x");
    }
}
