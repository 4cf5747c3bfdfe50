//! Untrusted text in messages. Names and values from packages, archives and XML, and the
//! errors of the libraries that parse them (which quote the input), may hold newlines,
//! terminal escapes and kilobytes of garbage; an obsbox error is one clear line.

/// The longest piece of untrusted text a message quotes, in characters.
const MAX_CHARS: usize = 200;

/// A quoted piece of untrusted `text` fit for a one-line message: control characters
/// escaped as Rust does (`\n`, `\u{1b}`), cut after [`MAX_CHARS`] characters (marked
/// with `…`).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        push_escaped(&mut out, c);
    }
    out
}

/// A whole message from elsewhere (OBS's own error text) on one line: control characters
/// escaped, nothing cut.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_control() {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// [`one_line`] of bytes (names need not be UTF-8; invalid sequences become `�`).
pub fn one_line_bytes(bytes: &[u8]) -> String {
    one_line(&String::from_utf8_lossy(bytes))
}

/// An error of a parsing library as one line: its whole chain, escaped and cut.
pub fn one_line_error(err: impl std::fmt::Display) -> String {
    one_line(&format!("{err:#}"))
}

/// `text` cut to its first `max` characters, a `…` marking the cut (for names and values
/// quoted in messages and tables).
pub fn ellipsis(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), the cut said at its end.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} … ({} bytes more)", &text[..end], text.len() - end)
}

/// A string as a Perl number: leading white space, then the longest decimal number at the
/// start (`4G` is 4, `3.5` is 3.5, `1e3` is 1000), `inf`/`nan`, else 0.
pub fn perl_num(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let lower = t[i..].to_ascii_lowercase();
    let sign = if t.starts_with('-') { -1.0 } else { 1.0 };
    if lower.starts_with("inf") {
        return sign * f64::INFINITY;
    }
    if lower.starts_with("nan") {
        return f64::NAN;
    }
    let digits_from = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut any = i > digits_from;
    if i < b.len() && b[i] == b'.' {
        let j = i + 1;
        let mut k = j;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        if any || k > j {
            any = true;
            i = k;
        }
    }
    if !any {
        return 0.0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut k = i + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        let e = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        if k > e {
            i = k;
        }
    }
    t[..i].parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {

    #[test]
    fn clip_cuts_at_a_character_and_says_so() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("aaaaéb", 5), "aaaa … (3 bytes more)");
    }

    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\r\tc\u{1b}[31m"), "a\\nb\\r\\tc\\u{1b}[31m");
        assert_eq!(one_line_bytes(b"x\xff\ny"), "x\u{fffd}\\ny");
        assert_eq!(one_line("usr/bin/ls → ok"), "usr/bin/ls → ok");
        let long = format!("{}\n", "x".repeat(MAX_CHARS * 2));
        assert_eq!(escape(&long), format!("{}\\n", "x".repeat(MAX_CHARS * 2)));
    }

    #[test]
    fn long_text_is_cut() {
        let long = "é".repeat(MAX_CHARS + 50);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line(&"x".repeat(MAX_CHARS)), "x".repeat(MAX_CHARS));
    }
}
