//! RPM rich (boolean) dependencies: `(a or b)`, `(a if b else c)`, `(a with b)`, …, read
//! as obs-build reads them: operands are relations (`name [op evr]`) or nested rich
//! dependencies; `and`, `or` and `with` chain (`(a or b or c)`), `if`/`unless` take one
//! `else`, other mixtures need parentheses.

use super::{Op, Relation};

/// The deepest nesting of parentheses read.
const MAX_DEPTH: usize = 64;

/// A parsed rich dependency.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rich {
    Leaf(Relation),
    And(Box<Rich>, Box<Rich>),
    Or(Box<Rich>, Box<Rich>),
    /// `(a if b)`, `(a if b else c)`.
    If(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    /// `(a unless b)`, `(a unless b else c)`.
    Unless(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    /// Packages satisfying both sides.
    With(Box<Rich>, Box<Rich>),
    /// Packages satisfying the left side and not the right.
    Without(Box<Rich>, Box<Rich>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    And,
    Or,
    If,
    Unless,
    Else,
    With,
    Without,
}

impl Word {
    fn of(text: &str) -> Option<Word> {
        Some(match text {
            "and" => Word::And,
            "or" => Word::Or,
            "if" => Word::If,
            "unless" => Word::Unless,
            "else" => Word::Else,
            "with" => Word::With,
            "without" => Word::Without,
            _ => return None,
        })
    }
}

impl Rich {
    /// Parses `(…)`; `None` when the text is not a well-formed rich dependency (obs-build
    /// then reports it as unparsable).
    pub fn parse(text: &str) -> Option<Rich> {
        let (rest, rich) = parse_rec(text, None, 0)?;
        rest.is_empty().then_some(rich)
    }
}

/// A name (with balanced parentheses inside, as in `pkgconfig(zlib)`) or a version: up to a
/// space, a comma or an unbalanced `)`.
fn word(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            ' ' | ',' => return &text[..i],
            '(' => depth += 1,
            ')' if depth == 0 => return &text[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    text
}

/// One parenthesised level starting at `text` (which must start with `(`): returns the text
/// after it and the dependency. `chain` is the operator of the level this one continues.
fn parse_rec(text: &str, chain: Option<Word>, depth: usize) -> Option<(&str, Rich)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut d = text.strip_prefix('(')?.trim_start();
    let first = if d.starts_with('(') {
        let (rest, r) = parse_rec(d, None, depth + 1)?;
        d = rest;
        r
    } else {
        if d.starts_with(')') {
            return None;
        }
        let name = word(d);
        d = d[name.len()..].trim_start_matches(' ');
        let op_len = d.find(|c| !"<=>".contains(c)).unwrap_or(d.len());
        let version = if op_len > 0 {
            let op = Op::parse_rpm(&d[..op_len])?;
            d = d[op_len..].trim_start_matches(' ');
            let evr = word(d);
            d = &d[evr.len()..];
            if evr.is_empty() {
                return None;
            }
            Some((op, evr.to_string()))
        } else {
            None
        };
        if name.is_empty() {
            return None;
        }
        Rich::Leaf(Relation {
            name: name.into(),
            version: version.map(|(op, v)| (op, v.into())),
        })
    };
    d = d.trim_start();
    if d.is_empty() {
        return None;
    }
    if let Some(rest) = d.strip_prefix(')') {
        return Some((rest, first));
    }
    let len = d.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(d.len());
    let word = Word::of(&d[..len])?;
    let after = &d[len..];
    // The operator word is followed by white space.
    let after_ws = after.trim_start();
    if after_ws.len() == after.len() {
        return None;
    }
    let mut chain = chain;
    if word == Word::Else {
        if !matches!(chain, Some(Word::If | Word::Unless)) {
            return None;
        }
        chain = None;
    }
    if let Some(c) = chain
        && (!matches!(c, Word::And | Word::Or | Word::With) || c != word)
    {
        return None;
    }
    // The rest is read as a level of its own that shares this level's closing parenthesis.
    let reopened = format!("({after_ws}");
    let (rest, second) = parse_rec(&reopened, Some(word), depth + 1)?;
    // `rest` is a suffix of `reopened`, hence of `after_ws`.
    let rest = &after_ws[after_ws.len() - rest.len()..];
    let (a, b) = (Box::new(first), Box::new(second));
    let rich = match word {
        Word::And => Rich::And(a, b),
        Word::Or => Rich::Or(a, b),
        Word::With => Rich::With(a, b),
        Word::Without => Rich::Without(a, b),
        Word::Else => Rich::If(a, b, Some(Box::new(Rich::Leaf(else_marker())))),
        Word::If | Word::Unless => {
            let (cond, otherwise) = match *b {
                Rich::If(x, y, Some(m)) if is_else(&m) => (x, Some(y)),
                other => (Box::new(other), None),
            };
            if word == Word::If {
                Rich::If(a, cond, otherwise)
            } else {
                Rich::Unless(a, cond, otherwise)
            }
        }
    };
    Some((rest, rich))
}

/// `b else c` is carried up to its `if`/`unless` as `If(b, c, Some(marker))`: a relation
/// no text can spell (names never hold a NUL).
fn else_marker() -> Relation {
    Relation {
        name: "\0else".into(),
        version: None,
    }
}

fn is_else(r: &Rich) -> bool {
    matches!(r, Rich::Leaf(rel) if &*rel.name == "\0else")
}

impl std::fmt::Display for Rich {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let two = |f: &mut std::fmt::Formatter<'_>, a: &Rich, w: &str, b: &Rich| {
            write!(f, "({a} {w} {b})")
        };
        match self {
            Rich::Leaf(r) => match &r.version {
                None => write!(f, "{}", r.name),
                Some((op, v)) => write!(f, "{} {} {v}", r.name, op.text(super::Format::Rpm)),
            },
            Rich::And(a, b) => two(f, a, "and", b),
            Rich::Or(a, b) => two(f, a, "or", b),
            Rich::With(a, b) => two(f, a, "with", b),
            Rich::Without(a, b) => two(f, a, "without", b),
            Rich::If(a, b, None) => two(f, a, "if", b),
            Rich::Unless(a, b, None) => two(f, a, "unless", b),
            Rich::If(a, b, Some(c)) => write!(f, "({a} if {b} else {c})"),
            Rich::Unless(a, b, Some(c)) => write!(f, "({a} unless {b} else {c})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_obs_build_parses() {
        for (text, shown) in [
            ("(a or b)", Some("(a or b)")),
            ("(a or b or c)", Some("(a or (b or c))")),
            ("(a if b)", Some("(a if b)")),
            ("(a if b else c)", Some("(a if b else c)")),
            ("(a unless b else c)", Some("(a unless b else c)")),
            (
                "(a >= 1.2 and pkgconfig(zlib))",
                Some("(a >= 1.2 and pkgconfig(zlib))"),
            ),
            ("((a or b) with c)", Some("((a or b) with c)")),
            ("(a without b)", Some("(a without b)")),
            ("(a or b and c)", None),
            ("(a if b if c)", None),
            ("(a else b)", None),
            ("(a or b", None),
            ("(a or b))", None),
            ("()", None),
            ("(a xor b)", None),
            ("(a >= )", None),
        ] {
            let got = Rich::parse(text).map(|r| r.to_string());
            assert_eq!(got.as_deref(), shown, "{text}");
        }
        // obs-build's own parser accepts and refuses the same.
        let cases = [
            "(a or b)",
            "(a or b or c)",
            "(a if b)",
            "(a if b else c)",
            "(a unless b else c)",
            "(a >= 1.2 and pkgconfig(zlib))",
            "((a or b) with c)",
            "(a without b)",
            "(a or b and c)",
            "(a if b if c)",
            "(a else b)",
            "(a or b",
            "(a or b))",
            "()",
            "(a xor b)",
            "(a and (b or c) and d)",
            "(a with b with c)",
            "(a unless b unless c)",
        ];
        let out = std::process::Command::new("perl")
            .args(["-I/usr/lib/obs-build", "-MBuild", "-e"])
            .arg(r#"print Build::Rpm::parse_rich_dep($_) ? "1\n" : "0\n" for @ARGV"#)
            .args(cases)
            .output()
            .expect("perl runs (obs-build's parser is the reference)");
        let theirs: Vec<bool> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l == "1")
            .collect();
        let ours: Vec<bool> = cases.iter().map(|c| Rich::parse(c).is_some()).collect();
        assert_eq!(ours, theirs, "{cases:?}");
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(Rich::parse(&deep).is_none());
    }
}
