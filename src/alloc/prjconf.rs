//! A project config or recipe read the way obs-build's parser (`Build::Rpm::parse`, which
//! `Build::read_config` uses for project configs) reads it for one arch, as far as
//! constraints need: `%define`/`%global` and macro expansion (`%name`, `%{name}`,
//! `%{?name:…}`, `%{!?name:…}`, `%{defined name}`, `%{expand:…}`), `%if` expressions
//! (numbers, strings, `v"…"` versions, `! - + * / < <= > >= == != && ||`, parentheses),
//! `%ifarch`/`%ifnarch`/`%ifos`/`%ifnos`, `%elif…`, `%else`, `%endif` with nesting, and
//! `Macros:` … `:Macros` blocks taken verbatim (never read as config lines). `_target_cpu` is
//! the job's arch and `_target_os` `linux`, with obs-build's arch group macros (`%ix86`,
//! `%arm`, `%power64`, …).

use std::collections::HashMap;

const ARCH_GROUPS: &[(&str, &str)] = &[
    ("nil", ""),
    ("ix86", "i386 i486 i586 i686 pentium3 pentium4 athlon geode"),
    (
        "arm",
        "armv3l armv4b armv4l armv4tl armv5b armv5l armv5teb armv5tel armv5tejl armv6l armv6hl armv7l armv7hl armv7hnl armv5el armv5eb armv6el armv6eb armv7el armv7eb armv7nhl armv8el",
    ),
    (
        "arml",
        "armv3l armv4l armv5l armv5tel armv6l armv6hl armv7l armv7hl armv7hnl",
    ),
    ("armb", "armv4b armv5b armv5teb"),
    ("arm64", "aarch64"),
    ("mips32", "mips mipsel mipsr6 mipsr6el"),
    ("mips64", "mips64 mips64el mips64r6 mips64r6el"),
    ("mipseb", "mips mipsr6 mips64 mips64r6"),
    ("mipsel", "mipsel mipsr6el mips64el mips64r6el"),
    ("mips", "%{mips32} %{mips64}"),
    ("sparc", "sparc sparcv8 sparcv9 sparcv9v sparc64 sparc64v"),
    ("alpha", "alpha alphaev56 alphaev6 alphaev67"),
    ("power64", "ppc64 ppc64p7 ppc64le"),
];

/// The lines that survive the conditionals, macro-expanded, with their line numbers
/// (comment lines are passed through unexpanded, as obs-build does).
pub fn preprocess(text: &str, arch: &str) -> Vec<(usize, String)> {
    let mut macros: HashMap<String, String> = ARCH_GROUPS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    macros.insert("_target_cpu".into(), arch.to_string());
    macros.insert("_target_os".into(), "linux".into());
    let mut out = Vec::new();
    let mut skip: u32 = 0;
    let mut in_macros = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if in_macros {
            if raw.trim().eq_ignore_ascii_case(":macros") {
                in_macros = false;
            }
            continue;
        }
        if skip == 0 && raw.trim().eq_ignore_ascii_case("macros:") {
            in_macros = true;
            continue;
        }
        if raw.trim_start().starts_with('#') {
            if skip == 0 {
                out.push((n, raw.to_string()));
            }
            continue;
        }
        let mut line = raw.to_string();
        if skip == 0 && line.contains('%') {
            line = expand(&line, &mut macros, 0);
        }
        let word = line.split_whitespace().next().unwrap_or("");
        if matches!(word, "%elif" | "%elifarch" | "%elifos") {
            if skip == 0 {
                skip = 1;
            }
            if skip <= 2 {
                skip = 2 - skip;
            }
            if skip > 0 {
                continue;
            }
            // The chain's earlier branches were all false: this one is an %if.
            let cond = line.trim_start().replacen("%el", "%", 1);
            line = expand(&cond, &mut macros, 0);
        } else if word == "%else" {
            if skip <= 2 {
                skip = 2 - skip;
            }
            continue;
        } else if word == "%endif" {
            skip = skip.saturating_sub(2);
            continue;
        }
        if skip > 0 {
            if line.trim_start().starts_with("%if") {
                skip += 2;
            }
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        let rest = line.trim_start()[word.len()..].to_string();
        let listed = |what: &str| rest.split_whitespace().any(|a| a == what);
        let taken = match word {
            "%ifarch" => Some(listed(arch)),
            "%ifnarch" => Some(!listed(arch)),
            "%ifos" => Some(listed("linux")),
            "%ifnos" => Some(!listed("linux")),
            "%if" => Some(expr_bool(&rest)),
            _ => None,
        };
        match taken {
            Some(true) => {}
            Some(false) => skip = 2,
            None if line.trim().is_empty() => {}
            None => out.push((n, line)),
        }
    }
    out
}

/// Expands the macros of one line; `%define`/`%global` define and leave nothing.
pub fn expand(line: &str, macros: &mut HashMap<String, String>, depth: u32) -> String {
    if depth > 50 {
        return "MACRO".into();
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        if let Some(a) = after.strip_prefix('%') {
            out.push('%');
            rest = a;
            continue;
        }
        if after.starts_with('(') {
            return "MACRO".into();
        }
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = closing_brace(body) else {
                out.push('%');
                rest = after;
                continue;
            };
            let inner = &body[..end];
            rest = &body[end + 1..];
            let v = braced(inner, macros, depth);
            match v {
                Some(v) => out.push_str(&v),
                None => {
                    out.push_str("%{");
                    out.push_str(inner);
                    out.push('}');
                }
            }
            continue;
        }
        let flags = after.len() - after.trim_start_matches(['?', '!']).len();
        let name_len = after[flags..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len() - flags);
        if name_len == 0 {
            out.push('%');
            rest = after;
            continue;
        }
        let name = &after[flags..flags + name_len];
        let tail = &after[flags + name_len..];
        if flags == 0 && (name == "define" || name == "global") {
            define(tail, name == "global", macros, depth);
            return out;
        }
        let test = test_of(&after[..flags]);
        match lookup(name, test, None, macros, depth) {
            Some(v) => out.push_str(&v),
            None => {
                out.push('%');
                out.push_str(&after[..flags + name_len]);
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn closing_brace(s: &str) -> Option<usize> {
    let mut level = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => level += 1,
            '}' if level == 0 => return Some(i),
            '}' => level -= 1,
            _ => {}
        }
    }
    None
}

/// 1 for `?`, -1 for `!?`/`?!`, 0 without a test.
fn test_of(flags: &str) -> i32 {
    if flags.contains('?') {
        if flags.contains('!') { -1 } else { 1 }
    } else {
        0
    }
}

fn define(tail: &str, global: bool, macros: &mut HashMap<String, String>, depth: u32) {
    let t = tail.trim_start();
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(t.len());
    if end == 0 {
        return;
    }
    let name = t[..end].to_string();
    let mut body = t[end..].to_string();
    if body.starts_with('(')
        && let Some(close) = body.find(')')
    {
        body = body[close + 1..].to_string();
    }
    let mut body = body.trim().to_string();
    if global {
        body = expand(&body, macros, depth + 1);
    }
    macros.insert(name, body);
}

fn braced(inner: &str, macros: &mut HashMap<String, String>, depth: u32) -> Option<String> {
    let flags = inner.len() - inner.trim_start_matches(['?', '!']).len();
    let body = &inner[flags..];
    let (name, alt, data) = match body.find([':', ' ', '\t']) {
        Some(i) if body[i..].starts_with(':') => (&body[..i], Some(&body[i + 1..]), ""),
        Some(i) => (&body[..i], None, body[i + 1..].trim()),
        None => (body, None, ""),
    };
    match name {
        "defined" | "undefined" | "with" | "without" => {
            let arg = data.split_whitespace().next()?;
            let key = if name.starts_with("with") {
                format!("with_{arg}")
            } else {
                arg.to_string()
            };
            let has = macros.contains_key(&key);
            let negate = name == "undefined" || name == "without";
            return Some(if has != negate { "1" } else { "0" }.into());
        }
        "expand" => return Some(expand(alt.unwrap_or(data), macros, depth + 1)),
        _ => {}
    }
    lookup(name, test_of(&inner[..flags]), alt, macros, depth)
}

fn lookup(
    name: &str,
    test: i32,
    alt: Option<&str>,
    macros: &mut HashMap<String, String>,
    depth: u32,
) -> Option<String> {
    if let Some(v) = macros.get(name).cloned() {
        let v = if test == -1 {
            String::new()
        } else {
            alt.map(str::to_string).unwrap_or(v)
        };
        return Some(expand(&v, macros, depth + 1));
    }
    if test != 0 {
        let v = if test == 1 { "" } else { alt.unwrap_or("") };
        return Some(expand(v, macros, depth + 1));
    }
    None
}

// ---------------------------------------------------------------------------------------
// %if expressions, after obs-build's `expr`: a value is a number, a string or a version

#[derive(Debug, Clone, PartialEq)]
enum V {
    Num(f64),
    Str(String),
    Ver(String),
}

impl V {
    fn truth(&self) -> bool {
        match self {
            V::Num(n) => *n != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Ver(_) => false,
        }
    }

    fn num(&self) -> f64 {
        match self {
            V::Num(n) => *n,
            V::Str(s) | V::Ver(s) => super::constraints::perl_num(s),
        }
    }
}

/// Whether an `%if` expression holds; one that cannot be read is false (obs-build skips
/// the branch then, too).
pub fn expr_bool(e: &str) -> bool {
    match expr(e.trim(), 0) {
        Some((v, _)) => v.truth(),
        None => false,
    }
}

fn expr(e: &str, lev: u8) -> Option<(V, &str)> {
    let e = e.trim_start();
    let (mut v, mut e) = if let Some(r) = e.strip_prefix('(') {
        let (v, r) = expr(r, 0)?;
        (v, r.trim_start().strip_prefix(')')?)
    } else if let Some(r) = e.strip_prefix('!') {
        let (v, r) = expr(r, 6)?;
        (V::Num(if v.truth() { 0.0 } else { 1.0 }), r)
    } else if let Some(r) = e.strip_prefix('-') {
        let (v, r) = expr(r, 6)?;
        (V::Num(-v.num()), r)
    } else if e.starts_with(|c: char| c.is_ascii_digit()) {
        let end = e.find(|c: char| !c.is_ascii_digit()).unwrap_or(e.len());
        (V::Num(e[..end].parse().ok()?), &e[end..])
    } else if let Some(r) = e.strip_prefix("v\"") {
        let end = r.find('"')?;
        (V::Ver(r[..end].to_string()), &r[end + 1..])
    } else if let Some(r) = e.strip_prefix('"') {
        let end = r.find('"')?;
        (V::Str(r[..end].to_string()), &r[end + 1..])
    } else if e.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let end = e
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(e.len());
        (V::Str(e[..end].to_string()), &e[end..])
    } else {
        return None;
    };
    if lev >= 6 {
        return Some((v, e));
    }
    loop {
        e = e.trim_start();
        let op = [
            "&&", "||", ">=", "<=", "==", "!=", ">", "<", "+", "-", "*", "/",
        ]
        .into_iter()
        .find(|op| e.starts_with(op));
        let Some(op) = op else {
            return Some((v, e));
        };
        let (oplev, sublev) = match op {
            "&&" | "||" => (2, 2),
            "+" | "-" => (4, 4),
            "*" | "/" => (6, 5),
            _ => (3, 3),
        };
        if lev >= oplev {
            return Some((v, e));
        }
        let (v2, r) = expr(&e[op.len()..], sublev)?;
        e = r;
        v = match op {
            "&&" => {
                if v.truth() {
                    v2
                } else {
                    v
                }
            }
            "||" => {
                if v.truth() {
                    v
                } else {
                    v2
                }
            }
            "+" => match (&v, &v2) {
                (V::Str(a), V::Str(b)) => V::Str(format!("{a}{b}")),
                _ => V::Num(v.num() + v2.num()),
            },
            "-" => V::Num(v.num() - v2.num()),
            "*" => V::Num(v.num() * v2.num()),
            "/" => {
                if v2.num() == 0.0 {
                    return None;
                }
                V::Num(v.num() / v2.num())
            }
            cmp => {
                let ord = match (&v, &v2) {
                    (V::Ver(a), b) => {
                        let b = match b {
                            V::Ver(s) | V::Str(s) => s.clone(),
                            V::Num(n) => n.to_string(),
                        };
                        Some(super::matching::verscmp(a, &b))
                    }
                    (V::Str(a), b) => {
                        let b = match b {
                            V::Ver(s) | V::Str(s) => s.clone(),
                            V::Num(n) => n.to_string(),
                        };
                        Some(a.as_str().cmp(b.as_str()))
                    }
                    _ => v.num().partial_cmp(&v2.num()),
                };
                use std::cmp::Ordering::*;
                let t = match (cmp, ord) {
                    (_, None) => false,
                    (">=", Some(o)) => o != Less,
                    ("<=", Some(o)) => o != Greater,
                    (">", Some(o)) => o == Greater,
                    ("<", Some(o)) => o == Less,
                    ("==", Some(o)) => o == Equal,
                    (_, Some(o)) => o != Equal,
                };
                V::Num(if t { 1.0 } else { 0.0 })
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(text: &str, arch: &str) -> Vec<String> {
        preprocess(text, arch).into_iter().map(|(_, l)| l).collect()
    }

    #[test]
    fn conditionals_for_the_arch() {
        let conf = "%ifarch ppc64le\nConstraint: hardware:cpu:flag power8\n%endif\n\
                    %ifarch %ix86 x86_64\nConstraint: hostlabel X86\n%else\nConstraint: hostlabel OTHER\n%endif\n\
                    %define big 1\n%if %{big} && \"%_target_cpu\" == \"aarch64\"\nConstraint: hardware:processors 8\n\
                    %if 0\nConstraint: hostlabel NEVER\n%endif\n%elif 1\nConstraint: hostlabel ELIF\n%endif\n\
                    Macros:\nConstraint: hostlabel IN_MACROS\n:Macros\n";
        assert_eq!(
            kept(conf, "x86_64"),
            ["Constraint: hostlabel X86", "Constraint: hostlabel ELIF"]
        );
        assert_eq!(
            kept(conf, "i586"),
            ["Constraint: hostlabel X86", "Constraint: hostlabel ELIF"]
        );
        assert_eq!(
            kept(conf, "aarch64"),
            [
                "Constraint: hostlabel OTHER",
                "Constraint: hardware:processors 8"
            ]
        );
        assert_eq!(
            kept(conf, "ppc64le"),
            [
                "Constraint: hardware:cpu:flag power8",
                "Constraint: hostlabel OTHER",
                "Constraint: hostlabel ELIF"
            ]
        );
    }

    #[test]
    fn macros_and_expressions() {
        let mut m = HashMap::new();
        m.insert("a".to_string(), "x".to_string());
        assert_eq!(
            expand("%a %{a} %{?a:yes} %{!?b:no} %{?b} %%", &mut m, 0),
            "x x yes no  %"
        );
        assert_eq!(expand("%unknown %{defined a}", &mut m, 0), "%unknown 1");
        assert!(expr_bool("1 && (2 > 1)"));
        assert!(!expr_bool("\"a\" == \"b\" || 0"));
        assert!(expr_bool("v\"6.4\" < v\"6.10\" || 1"));
        // A bare word is a string (true); an unclosed parenthesis cannot be read (false).
        assert!(expr_bool("garbage ("));
        assert!(!expr_bool("(1"));
    }
}
