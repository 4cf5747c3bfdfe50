//! deb822 control data: the paragraphs of Debian's control files, `.dsc` files, `Release`
//! and `Packages` indexes, and the clear-signature wrapper of `InRelease` and signed `.dsc`
//! files. What the fields mean is the readers' (see [`crate::repo::debian`]).

use std::borrow::Cow;

use anyhow::{Result, bail};

/// One deb822 paragraph: fields in file order, names compared case-insensitively. Names
/// and one-line values borrow from the parsed text; only a value with continuation lines
/// is copied (an index of ≈ 800 packages has ≈ 20,000 fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph<'a> {
    /// `(name, value)`; a multi-line value keeps its continuation lines, each after a `\n`,
    /// with the leading whitespace removed.
    pub fields: Vec<(&'a str, Cow<'a, str>)>,
    /// 1-based line number where the paragraph starts, for messages.
    pub line: usize,
}

impl Paragraph<'_> {
    /// The value of field `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The value of a field that must be present and non-empty.
    pub fn require(&self, name: &str) -> Result<&str> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim()),
            _ => bail!("no `{name}` field"),
        }
    }

    /// Names the paragraph in messages: its package, else its line.
    pub fn describe(&self) -> String {
        match self.get("Package") {
            Some(n) => format!("package `{}` (line {})", n.trim(), self.line),
            None => format!("paragraph at line {}", self.line),
        }
    }
}

/// Parses deb822 text into paragraphs. Blank lines separate paragraphs, lines starting
/// with whitespace continue the previous field, lines starting with `#` are comments.
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph<'_>>> {
    paragraphs(text).collect()
}

/// The paragraphs of deb822 text one at a time, as [`parse_paragraphs`] reads them: an
/// index is read without holding a paragraph for each of its entries (two million tiny
/// paragraphs took 450 MB before the first was looked at). Ends after the first error.
pub fn paragraphs(text: &str) -> Paragraphs<'_> {
    paragraphs_after(text, 0)
}

/// [`paragraphs`] of a part of a longer text that starts after its line `lines_before`, for
/// line numbers in errors.
pub(crate) fn paragraphs_after(text: &str, lines_before: usize) -> Paragraphs<'_> {
    Paragraphs {
        lines: text.lines().enumerate(),
        lines_before,
        failed: false,
    }
}

/// The iterator of [`paragraphs`].
pub struct Paragraphs<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    lines_before: usize,
    failed: bool,
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut cur = Paragraph::default();
        let result = loop {
            let Some((i, line)) = self.lines.next() else {
                break Ok(());
            };
            let lineno = self.lines_before + i + 1;
            if line.trim().is_empty() {
                if !cur.fields.is_empty() {
                    break Ok(());
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = cur.fields.last_mut() else {
                    break Err(anyhow::anyhow!(
                        "line {lineno}: continuation line without a field before it"
                    ));
                };
                let value = value.to_mut();
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                break Err(anyhow::anyhow!(
                    "line {lineno}: expected `Field: value`, got `{}`",
                    clip(line)
                ));
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                break Err(anyhow::anyhow!(
                    "line {lineno}: bad field name `{}`",
                    clip(name)
                ));
            }
            if cur.fields.is_empty() {
                cur.line = lineno;
            }
            cur.fields.push((name, Cow::Borrowed(value.trim())));
        };
        match result {
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
            Ok(()) if cur.fields.is_empty() => None,
            Ok(()) => Some(Ok(cur)),
        }
    }
}

/// A quoted line, name or value of an index, cut for an error line.
pub(crate) fn clip(s: &str) -> String {
    crate::text::ellipsis(s, 60)
}

/// Removes an OpenPGP clear-signature wrapper (as in `InRelease`), returning the signed
/// text. Text without the wrapper is returned as it is. The signature is not checked.
pub fn strip_clearsign(text: &str) -> Result<String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(l) if l.trim_end() == "-----BEGIN PGP SIGNED MESSAGE-----" => {}
        _ => return Ok(text.to_string()),
    }
    // Armor headers (`Hash: SHA512`) end at the first empty line.
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
    }
    let mut out = String::with_capacity(text.len());
    for l in lines {
        if l.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            return Ok(out);
        }
        // Dash-escaping protects lines that start with a dash.
        out.push_str(l.strip_prefix("- ").unwrap_or(l));
        out.push('\n');
    }
    bail!("clear-signed text without a signature block")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_fields_continuations_and_lines() {
        let text = "# comment\nPackage: a\nDescription: short\n long\n .\n more\n\n\n\
                    Package: b\nversion: 1\n";
        let ps = parse_paragraphs(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("description"), Some("short\nlong\n.\nmore"));
        assert_eq!(ps[1].get("Version"), Some("1"));
        assert_eq!(ps[1].line, 9);
        let e = parse_paragraphs("Package: a\nno colon here\n").unwrap_err();
        assert!(format!("{e}").contains("line 2"), "{e}");
        assert!(parse_paragraphs(" cont\n").is_err());
    }

    #[test]
    fn clearsign() {
        let signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\n\
                      - -dash\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(strip_clearsign(signed).unwrap(), "Origin: Debian\n-dash\n");
        assert_eq!(strip_clearsign("Origin: x\n").unwrap(), "Origin: x\n");
        assert!(strip_clearsign("-----BEGIN PGP SIGNED MESSAGE-----\n\nx\n").is_err());
    }
}
