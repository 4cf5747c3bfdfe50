//! The build dependencies of an rpm `.spec`, read as obs-build's spec parser reads them
//! (`Build::Rpm::parse`), so a job resolves the buildroot OBS's scheduler would expand:
//! - conditionals: `%if EXPR` (obs-build's expression language: numbers, `"strings"`,
//!   `v"versions"`, `! - * / + - < <= > >= == != && || ?:`; an expression it cannot read
//!   is false), `%ifarch`/`%ifnarch` against `%_target_cpu`, `%ifos`/`%ifnos` against
//!   `%_target_os` (`linux`), `%elif`/`%elifarch`/`%elifos`, `%else`, `%endif`;
//! - macros: `%define`/`%global` (with arguments), `%{name}`/`%name`, `%{?m}`, `%{?m:text}`,
//!   `%{!?m:text}`, `%{defined m}`, `%{with m}`/`%{without m}`, `%bcond_with`/
//!   `%bcond_without`, `%{expand:…}`, `%{expr:…}`, `%[…]` (which takes the rest of its line,
//!   as in obs-build), `%%`; `Name`, `Version`,
//!   `Release` and `Url` of the main preamble; obs-build's standard arch macros (`%ix86`,
//!   `%arm`, …), `%_target_cpu`, `%_target_os` and the `Macros:` of the project config. A
//!   macro nobody defined stays as written; `%(…)` (a shell) cannot be expanded and its line
//!   becomes `MACRO`, as in obs-build — a dependency on it is an error here;
//! - in the preambles (the main one and each `%package`'s): `BuildRequires:`,
//!   `BuildPreReq:`, `#!BuildRequires:` (needs), `BuildConflicts:`, `#!BuildConflicts:`
//!   (kept out of the root, as OBS's servers read them), `#!BuildIgnore:` (a requirement on
//!   it by a package of the root is not followed); each entry `name [op evr] [[qualifiers]]`
//!   (a `[x86_64 !home:foo]` list keeps or drops it by target arch or project) or a rich
//!   dependency `(a or b)`, `(a if b else c)`, `(a and b)`, `(a unless b)`, `(a with b)`.
//!
//! Everything is bounded: line count, macro expansion steps (obs-build's 1000 per line),
//! the size of an expansion and of all macro bodies, how deeply expansions and expressions
//! nest.

use std::collections::HashMap;
use std::sync::LazyLock;

use anyhow::{Context, Result, bail};
use regex::Regex;

use super::build_deps::Needs;
use super::{Op, Relation};
use crate::model::rich::Rich;
use crate::text::{one_line, perl_num};

/// The most lines a spec may have.
const MAX_LINES: usize = 200_000;
/// obs-build's bound on macro expansions per line.
const MAX_STEPS: usize = 1000;
/// The longest a line may grow by expansion.
const MAX_EXPANSION: usize = 256 << 10;
/// The most bytes all macro bodies together may hold.
const MAX_MACRO_BYTES: usize = 16 << 20;
/// The deepest expansions nest inside one another.
const MAX_NESTING: usize = 64;
/// The deepest an `%if` expression nests.
const MAX_EXPR_DEPTH: usize = 128;

/// obs-build's standard macros (rpm 4.13's arch groups), defined before the project
/// config's.
const STD_MACROS: &str = "\
%define nil
%define ix86    i386 i486 i586 i686 pentium3 pentium4 athlon geode
%define arm     armv3l armv4b armv4l armv4tl armv5b armv5l armv5teb armv5tel armv5tejl armv6l armv6hl armv7l armv7hl armv7hnl       armv5el armv5eb armv6el armv6eb armv7el armv7eb armv7nhl armv8el
%define arml    armv3l armv4l armv5l armv5tel armv6l armv6hl armv7l armv7hl armv7hnl
%define armb    armv4b armv5b armv5teb
%define arm64   aarch64
%define mips32  mips mipsel mipsr6 mipsr6el
%define mips64  mips64 mips64el mips64r6 mips64r6el
%define mipseb  mips mipsr6 mips64 mips64r6
%define mipsel  mipsel mipsr6el mips64el mips64r6el
%define mips    %{mips32} %{mips64}
%define sparc   sparc sparcv8 sparcv9 sparcv9v sparc64 sparc64v
%define alpha   alpha alphaev56 alphaev6 alphaev67
%define power64 ppc64 ppc64p7 ppc64le
";

/// What a spec is read for: the target cpu (`%_target_cpu`, rpm's name: `x86_64`,
/// `aarch64`, `i586`), the `Macros:` section of the project config and the project
/// (`%_target_project`, for `[project]` qualifiers).
#[derive(Debug, Clone, Default)]
pub struct SpecContext {
    pub target_cpu: String,
    pub macros: String,
    pub project: String,
}

/// One dependency entry as obs-build's parser hands it to its expander: `name`,
/// `name op evr`, `(rich)`, `-name` (ignore) or `!name`/`!(rich)` (conflict), with the
/// line and field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub field: String,
    pub text: String,
    /// Why the line's macros could not be expanded (an entry `MACRO` stands for them).
    pub unexpandable: Option<&'static str>,
}

#[derive(Clone)]
struct Macro {
    body: String,
    /// `%define name(opts) body`: the getopt string of a macro taking arguments.
    args: Option<String>,
}

/// The macro table and the expansion state of one spec.
struct Expander {
    macros: HashMap<String, Macro>,
    bytes: usize,
    /// Steps left for the current line.
    steps: usize,
    /// Why the last line could not be expanded (it then holds `MACRO`).
    unexpandable: Option<&'static str>,
    /// How deeply expansions nest (`%global`, `%{expr:}`, `%[…]` expand inside one).
    depth: usize,
}

/// What the expansion stack remembers.
enum Frame {
    /// The rest of a line after a macro body holding `%`, which is being expanded; `done`
    /// is what was expanded before it (the body's expansion continues it).
    Rest { line: String },
    /// After a macro with arguments: the text expanded before it, the rest, and the
    /// argument macros it replaced.
    Args {
        done: String,
        line: String,
        saved: HashMap<String, Macro>,
    },
    /// After `%{expand:…}`: its result is expanded once more.
    Expand { done: String, line: String },
}

static MACRO_AT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^(.*?)%(\{[^}]+\}|[?!]*[0-9a-zA-Z_]+|%|\*\*?|#|\(|\[)(.*)$").unwrap()
});
static DEFINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*([0-9a-zA-Z_]+)(?:\(([^)]*)\))?\s*(.*)$").unwrap());
static NAME_SPLIT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)^([^\s:]+)([\s:])(.*)$").unwrap());
static PLAIN_MACRO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^%[?!]*-?[a-zA-Z0-9_]*(?:\*\*|\*|#)?").unwrap());
static DEP_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(BuildRequires|BuildPrereq|BuildConflicts|#!BuildIgnore|#!BuildConflicts|#!BuildRequires)\s*:\s*(\S.*)$").unwrap()
});
static DEP_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([^\s\[,]+)(\s+[<=>]+\s+[^\s\[,]+)?(\s+\[[^\]]+\])?[\s,]*").unwrap()
});
static PREREQ: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:Requires\(pre\)|Requires\(post\)|PreReq)\s*:\s*\S").unwrap()
});
static PREAMBLE_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(Name|Version|Disttag|Release|Url)\s*:\s*(\S+)").unwrap());
static PACKAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*%package\s+(-n\s+)?(\S+)").unwrap());
static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*%(prep|build|install|check|clean|preun|postun|pretrans|posttrans|pre|post|files|changelog|description|triggerpostun|triggerun|triggerin|trigger|verifyscript)").unwrap()
});
static ELIF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*%(?:elif|elifarch|elifos)\b").unwrap());
static ELSE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*%else\b").unwrap());
static ENDIF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*%endif\b").unwrap());
static COND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)^\s*%(ifarch|ifnarch|ifos|ifnos|if)(.*)$").unwrap());

impl Expander {
    fn new(ctx: &SpecContext) -> Result<Expander> {
        let mut x = Expander {
            macros: HashMap::new(),
            bytes: 0,
            steps: 0,
            unexpandable: None,
            depth: 0,
        };
        let mut lines: Vec<String> = STD_MACROS.lines().map(str::to_string).collect();
        lines.push(format!("%define _target_cpu {}", ctx.target_cpu));
        lines.push("%define _target_os linux".to_string());
        if !ctx.project.is_empty() {
            lines.push(format!("%define _target_project {}", ctx.project));
        }
        // The project config's `Macros:` lines, as obs-build adds them: `%name body` is a
        // definition; continuation lines of a multi-line body are dropped.
        let mut continued = false;
        for raw in ctx.macros.lines() {
            if continued {
                continued = raw.ends_with('\\');
                continue;
            }
            continued = raw.ends_with('\\');
            if let Some(rest) = raw.strip_prefix('%') {
                lines.push(format!("%define {rest}"));
            }
        }
        for line in &lines {
            let Some(rest) = line.strip_prefix("%define") else {
                continue;
            };
            if let Some(c) = DEFINE.captures(rest) {
                x.define(&c[1], c.get(2).map(|m| m.as_str()), c[3].to_string())?;
            }
        }
        Ok(x)
    }

    fn define(&mut self, name: &str, args: Option<&str>, body: String) -> Result<()> {
        self.bytes += body.len() + name.len();
        if self.bytes > MAX_MACRO_BYTES {
            bail!("macro bodies larger than {MAX_MACRO_BYTES} bytes together");
        }
        self.macros.insert(
            name.to_string(),
            Macro {
                body,
                args: args.map(str::to_string),
            },
        );
        Ok(())
    }

    fn body(&self, name: &str) -> Option<&str> {
        self.macros.get(name).map(|m| m.body.as_str())
    }

    /// Expands one line, with a fresh step budget.
    fn expand_line(&mut self, line: &str) -> Result<String> {
        self.steps = MAX_STEPS;
        self.unexpandable = None;
        self.expand(line)
    }

    /// obs-build's `expandmacros`: scans for the next macro, expands it, and goes on
    /// with the rest; a body holding `%` is scanned in turn (the rest waits on a stack).
    fn expand(&mut self, line: &str) -> Result<String> {
        if self.depth >= MAX_NESTING {
            self.unexpandable = Some("macros nested too deeply");
            return Ok("MACRO".to_string());
        }
        self.depth += 1;
        let expanded = self.expand_nested(line);
        self.depth -= 1;
        expanded
    }

    fn expand_nested(&mut self, line: &str) -> Result<String> {
        let mut line = line.to_string();
        let mut done = String::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut args_in_force: HashMap<String, Macro> = HashMap::new();
        loop {
            while let Some(c) = MACRO_AT.captures(&line) {
                if self.steps == 0 {
                    self.unexpandable = Some("macros nested too deeply");
                    line = "MACRO".to_string();
                    break;
                }
                self.steps -= 1;
                if done.len() + line.len() > MAX_EXPANSION {
                    bail!("a line expands to more than {MAX_EXPANSION} bytes");
                }
                let token = c[2].to_string();
                let rest = c[3].to_string();
                done.push_str(&c[1]);
                line = rest;
                if token == "%" {
                    done.push('%');
                    continue;
                }
                let mut orig = token.clone();
                let mut name = token.clone();
                let mut data: Option<String> = None;
                let mut alt: Option<String> = None;
                if let Some(inner) = token.strip_prefix('{') {
                    // The real end, counting nested braces.
                    let whole = format!("%{{{inner}") + &line;
                    let end = macro_end(&whole);
                    line = whole[end.len()..].to_string();
                    orig = end[1..].to_string();
                    name = end[2..].strip_suffix('}').unwrap_or(&end[2..]).to_string();
                    data = Some(String::new());
                    if let Some(s) = NAME_SPLIT.captures(&name.clone()) {
                        name = s[1].to_string();
                        if &s[2] == ":" {
                            alt = Some(s[3].to_string());
                        } else {
                            data = Some(s[3].to_string());
                        }
                    }
                }
                let test: i8 = if name.starts_with("!?") || name.starts_with("?!") {
                    -1
                } else if name.starts_with('?') {
                    1
                } else {
                    0
                };
                let name = name.trim_start_matches(['!', '?']).to_string();
                match name.as_str() {
                    "(" => {
                        self.unexpandable = Some("`%(…)` runs a shell");
                        line = "MACRO".to_string();
                        break;
                    }
                    "[" => {
                        let whole = format!("%[{line}");
                        let end = macro_end(&whole);
                        line = whole[end.len()..].to_string();
                        let inner = end[2..].strip_suffix(']').unwrap_or(&end[2..]).to_string();
                        let v = self.expr(&inner, 0, Xp::Real, 0).map(|(v, _)| v);
                        done.push_str(&stringify(v));
                    }
                    "define" | "global" => {
                        if let Some(d) = DEFINE.captures(&line) {
                            let (mname, margs) =
                                (d[1].to_string(), d.get(2).map(|m| m.as_str().to_string()));
                            let mut mbody = d[3].to_string();
                            if name == "global" {
                                let steps = self.steps;
                                mbody = self.expand(&mbody)?;
                                self.steps = steps.min(self.steps);
                            }
                            self.define(&mname, margs.as_deref(), mbody)?;
                        }
                        line.clear();
                        break;
                    }
                    "defined" | "with" | "undefined" | "without" | "bcond_with"
                    | "bcond_without" => {
                        let mut words: Vec<String> = if let Some(inner) =
                            orig.strip_prefix('{').and_then(|o| o.strip_suffix('}'))
                        {
                            inner
                                .split_whitespace()
                                .skip(1)
                                .map(str::to_string)
                                .collect()
                        } else {
                            let w = line.split_whitespace().map(str::to_string).collect();
                            line.clear();
                            w
                        };
                        if words.is_empty() {
                            continue;
                        }
                        match name.as_str() {
                            "bcond_with" => {
                                if self.macros.contains_key(&format!("_with_{}", words[0])) {
                                    self.define(&format!("with_{}", words[0]), None, "1".into())?;
                                }
                                continue;
                            }
                            "bcond_without" => {
                                if !self.macros.contains_key(&format!("_without_{}", words[0])) {
                                    self.define(&format!("with_{}", words[0]), None, "1".into())?;
                                }
                                continue;
                            }
                            "with" | "without" => words[0] = format!("with_{}", words[0]),
                            _ => {}
                        }
                        let negate = name == "undefined" || name == "without";
                        let v = self.macros.contains_key(&words[0]) != negate;
                        line = format!("{}{line}", u8::from(v));
                    }
                    "expand" => {
                        let body = if test == -1 {
                            String::new()
                        } else {
                            alt.or_else(|| self.body("expand").map(str::to_string))
                                .unwrap_or_default()
                        };
                        stack.push(Frame::Expand {
                            done: std::mem::take(&mut done),
                            line: std::mem::replace(&mut line, body),
                        });
                    }
                    "expr" => {
                        let body = if test == -1 {
                            String::new()
                        } else {
                            alt.or_else(|| self.body("expr").map(str::to_string))
                                .unwrap_or_default()
                        };
                        let steps = self.steps;
                        let body = self.expand(&body)?;
                        self.steps = steps.min(self.steps);
                        let v = self.expr(&body, 0, Xp::None, 0).map(|(v, _)| v);
                        done.push_str(&stringify(v));
                    }
                    _ if self.macros.contains_key(&name) => {
                        let m = self.macros[&name].clone();
                        if let Some(getopt) = &m.args {
                            let data = match data {
                                Some(d) => d,
                                None => {
                                    let first = line
                                        .split('\n')
                                        .next()
                                        .unwrap_or("")
                                        .trim_start()
                                        .to_string();
                                    line.clear();
                                    first
                                }
                            };
                            let words: Vec<&str> = data.split_whitespace().collect();
                            let new = grab_args(&name, getopt, &words);
                            let saved = std::mem::take(&mut args_in_force);
                            for k in saved.keys() {
                                self.macros.remove(k);
                            }
                            for (k, v) in &new {
                                self.macros.insert(k.clone(), v.clone());
                            }
                            args_in_force = new;
                            stack.push(Frame::Args {
                                done: std::mem::take(&mut done),
                                line: std::mem::replace(&mut line, m.body),
                                saved,
                            });
                            continue;
                        }
                        let text = if test == -1 {
                            String::new()
                        } else {
                            alt.unwrap_or(m.body)
                        };
                        self.push_text(text, &mut done, &mut line, &mut stack);
                    }
                    _ if test != 0 => {
                        let text = match alt {
                            Some(a) if test == -1 => a,
                            _ => String::new(),
                        };
                        self.push_text(text, &mut done, &mut line, &mut stack);
                    }
                    _ => {
                        if !name.starts_with('-') {
                            done.push('%');
                            done.push_str(&orig);
                        }
                    }
                }
            }
            line = done + &line;
            match stack.pop() {
                None => return Ok(line),
                Some(Frame::Rest { line: rest }) => {
                    done = line;
                    line = rest;
                }
                Some(Frame::Args {
                    done: before,
                    line: rest,
                    saved,
                }) => {
                    for k in args_in_force.keys() {
                        self.macros.remove(k);
                    }
                    for (k, v) in &saved {
                        self.macros.insert(k.clone(), v.clone());
                    }
                    args_in_force = saved;
                    done = before + &line;
                    line = rest;
                }
                Some(Frame::Expand {
                    done: before,
                    line: rest,
                }) => {
                    done = before;
                    if !rest.is_empty() {
                        stack.push(Frame::Rest { line: rest });
                    }
                }
            }
            if done.len() + line.len() > MAX_EXPANSION {
                bail!("a line expands to more than {MAX_EXPANSION} bytes");
            }
        }
    }

    /// A macro's text: scanned in place when it holds `%` (the rest of the line waits),
    /// else taken as it is.
    fn push_text(
        &self,
        text: String,
        done: &mut String,
        line: &mut String,
        stack: &mut Vec<Frame>,
    ) {
        if text.contains('%') {
            if !line.is_empty() {
                stack.push(Frame::Rest {
                    line: std::mem::take(line),
                });
            }
            *line = text;
        } else {
            done.push_str(&text);
        }
    }
}

/// obs-build's `macroend`: the text of the macro at the start of `text` (`%{…}`, `%(…)`,
/// `%[…]` with nesting and `\` escapes, or `%name`); the whole rest when unclosed.
fn macro_end(text: &str) -> &str {
    let bytes = text.as_bytes();
    if text.starts_with("%[") {
        // obs-build's scan for the closing `]` never matches (its character class is
        // written `[[]\\]`): `%[` takes the rest of the line, which OBS reads that way.
        return text;
    }
    if bytes.len() >= 2 && bytes[0] == b'%' && b"({[".contains(&bytes[1]) {
        let (open, close) = match bytes[1] {
            b'(' => (b'(', b')'),
            b'[' => (b'[', b']'),
            _ => (b'{', b'}'),
        };
        let mut depth = 1;
        let mut i = 2;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 1,
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return &text[..i + 1];
                    }
                }
                _ => {}
            }
            i += 1;
        }
        return text;
    }
    PLAIN_MACRO.find(text).map_or("", |m| m.as_str())
}

/// obs-build's `grabargs`: the macros a macro with arguments sees (`%0`, `%*`, `%**`,
/// `%#`, `%1`…, `%-x`, `%-x*`).
fn grab_args(name: &str, getopt: &str, words: &[&str]) -> HashMap<String, Macro> {
    let mut m = HashMap::new();
    let mut set = |k: String, v: String| {
        m.insert(
            k,
            Macro {
                body: v,
                args: None,
            },
        );
    };
    set("0".into(), name.to_string());
    set("**".into(), words.join(" "));
    let mut takes_arg: HashMap<char, bool> = HashMap::new();
    let opts: Vec<char> = getopt.chars().collect();
    let mut i = 0;
    while i < opts.len() {
        let has = opts.get(i + 1) == Some(&':');
        takes_arg.insert(opts[i], has);
        i += 1;
        while opts.get(i) == Some(&':') {
            i += 1;
        }
    }
    let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    while let Some(first) = args.first().filter(|a| a.starts_with('-')).cloned() {
        args.remove(0);
        let mut o = &first[1..];
        if o == "-" {
            break;
        }
        while let Some(c) = o.chars().next() {
            let tail = &o[c.len_utf8()..];
            if takes_arg.get(&c) == Some(&true) {
                let arg = if tail.is_empty() && !args.is_empty() {
                    args.remove(0)
                } else {
                    tail.to_string()
                };
                set(format!("-{c}"), format!("-{c} {arg}"));
                set(format!("-{c}*"), arg);
                break;
            }
            set(format!("-{c}"), format!("-{c}"));
            o = tail;
        }
    }
    set("#".into(), args.len().to_string());
    for (i, a) in args.iter().enumerate() {
        set((i + 1).to_string(), a.clone());
    }
    set("*".into(), args.join(" "));
    m
}

/// A value of obs-build's expression language.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Str(String),
    Ver(String),
}

/// Whether macros in an expression are expanded: not at all (`%if`, already expanded),
/// really (`%[…]`), or to nothing (the branch a `&&`, `||` or `?:` does not take).
#[derive(Clone, Copy, PartialEq)]
enum Xp {
    None,
    Real,
    Dummy,
}

fn truthy(v: &Option<Val>) -> bool {
    match v {
        None | Some(Val::Ver(_)) => false,
        Some(Val::Num(n)) => *n != 0.0,
        Some(Val::Str(s)) => !s.is_empty(),
    }
}

fn num(v: &Val) -> f64 {
    match v {
        Val::Num(n) => *n,
        _ => 0.0,
    }
}

/// A value as Perl holds it: strings marked with `"`, versions with `v`.
fn perl_text(v: &Val) -> String {
    match v {
        Val::Num(n) => format!("{n}"),
        Val::Str(s) => format!("\"{s}"),
        Val::Ver(s) => format!("v{s}"),
    }
}

fn stringify(v: Option<Val>) -> String {
    match v {
        None => String::new(),
        Some(Val::Num(n)) => format!("{n}"),
        Some(Val::Str(s)) | Some(Val::Ver(s)) => s,
    }
}

impl Expander {
    /// obs-build's `expr_expand`: collects `%%`, macros and text matching `keep` from the
    /// front of `expr`, expands them as one string after `start`.
    fn expr_expand<'e>(
        &mut self,
        start: &str,
        mut expr: &'e str,
        xp: Xp,
        keep: fn(char) -> bool,
    ) -> (String, &'e str) {
        let mut v = start.to_string();
        loop {
            if let Some(rest) = expr.strip_prefix("%%") {
                v.push_str("%%");
                expr = rest;
            } else if expr.starts_with('%') {
                let m = macro_end(expr);
                let len = m.len().max(1);
                v.push_str(&expr[..len]);
                expr = &expr[len..];
            } else {
                let len = expr.find(|c| !keep(c)).unwrap_or(expr.len());
                if len == 0 {
                    break;
                }
                v.push_str(&expr[..len]);
                expr = &expr[len..];
            }
        }
        let v = match xp {
            Xp::Dummy => String::new(),
            _ => self.expand(&v).unwrap_or_default(),
        };
        (v, expr)
    }

    /// The text of a `"…"` or `v"…"` up to its closing quote (macros in it expanded
    /// with `xp`), and what follows the quote.
    fn quoted<'e>(&mut self, s: &'e str, xp: Xp) -> Option<(String, &'e str)> {
        let (text, rest) = if xp != Xp::None {
            self.expr_expand("", s, xp, |c| c != '%' && c != '"')
        } else {
            let end = s.find('"')?;
            (s[..end].to_string(), &s[end..])
        };
        Some((text, rest.strip_prefix('"').unwrap_or(rest)))
    }

    /// obs-build's `expr`: parses `expr` at precedence level `lev` and returns the value
    /// and the rest; `None` where obs-build gives up.
    fn expr<'e>(&mut self, expr: &'e str, lev: u8, xp: Xp, depth: usize) -> Option<(Val, &'e str)> {
        if depth > MAX_EXPR_DEPTH {
            return None;
        }
        let d = depth + 1;
        let mut expr = expr.trim_start();
        let first = expr.chars().next()?;
        let mut v = if first == '(' {
            let (v, rest) = self.expr(&expr[1..], 0, xp, d)?;
            expr = rest.strip_prefix(')')?;
            v
        } else if first == '!' {
            let (v, rest) = self.expr(&expr[1..], 6, xp, d)?;
            expr = rest;
            Val::Num(if truthy(&Some(v)) { 0.0 } else { 1.0 })
        } else if first == '-' {
            let (v, rest) = self.expr(&expr[1..], 6, xp, d)?;
            expr = rest;
            Val::Num(-num(&v))
        } else if first.is_ascii_digit() || (xp != Xp::None && first == '%') {
            if xp != Xp::None {
                let (s, rest) = self.expr_expand("0", expr, xp, |c| c.is_ascii_digit());
                expr = rest;
                Val::Num(perl_num(&s))
            } else {
                let len = expr
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(expr.len());
                let n = expr[..len].parse::<f64>().unwrap_or(0.0);
                expr = &expr[len..];
                Val::Num(n)
            }
        } else if let Some(s) = expr.strip_prefix("v\"") {
            let (text, rest) = self.quoted(s, xp)?;
            expr = rest;
            Val::Ver(text)
        } else if let Some(s) = expr.strip_prefix('"') {
            let (text, rest) = self.quoted(s, xp)?;
            expr = rest;
            Val::Str(text)
        } else if first.is_ascii_alphabetic() {
            let len = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let word = expr[..len].to_string();
            expr = &expr[len..];
            Val::Str(word)
        } else {
            return None;
        };
        if lev >= 6 {
            return Some((v, expr));
        }
        loop {
            expr = expr.trim_start();
            let two = expr.get(..2).unwrap_or("");
            let one = expr.get(..1).unwrap_or("");
            if two == "&&" || two == "||" {
                if lev >= 2 {
                    return Some((v, expr));
                }
                let b = truthy(&Some(v.clone()));
                let skip = if two == "&&" { !b } else { b };
                let sub = if skip && xp != Xp::None {
                    Xp::Dummy
                } else {
                    xp
                };
                let (v2, rest) = self.expr(&expr[2..], 2, sub, d)?;
                expr = rest;
                if !skip {
                    v = v2;
                }
            } else if let Some((op, len)) = [
                (">=", 2),
                ("<=", 2),
                ("==", 2),
                ("!=", 2),
                (">", 1),
                ("<", 1),
            ]
            .into_iter()
            .find(|(op, _)| expr.starts_with(op))
            {
                if lev >= 3 {
                    return Some((v, expr));
                }
                let (v2, rest) = self.expr(&expr[len..], 3, xp, d)?;
                expr = rest;
                // Perl compares a version with its marks taken off, a string with them.
                let ord = match &v {
                    Val::Ver(_) => Some(super::version::compare_rpm_evr(
                        &perl_text(&v)[1..],
                        perl_text(&v2).get(1..).unwrap_or(""),
                    )),
                    Val::Str(_) => Some(perl_text(&v).cmp(&perl_text(&v2))),
                    Val::Num(_) => num(&v).partial_cmp(&num(&v2)),
                };
                use std::cmp::Ordering::*;
                let r = match (op, ord) {
                    (">=", Some(Greater | Equal))
                    | ("<=", Some(Less | Equal))
                    | ("==", Some(Equal))
                    | (">", Some(Greater))
                    | ("<", Some(Less)) => true,
                    ("!=", o) => o != Some(Equal),
                    _ => false,
                };
                v = Val::Num(if r { 1.0 } else { 0.0 });
            } else if one == "+" || one == "-" {
                if lev >= 4 {
                    return Some((v, expr));
                }
                let (v2, rest) = self.expr(&expr[1..], 4, xp, d)?;
                expr = rest;
                v = match (one, &v, &v2) {
                    ("+", Val::Str(a), Val::Str(b)) => Val::Str(format!("{a}{b}")),
                    ("+", _, _) => Val::Num(num(&v) + num(&v2)),
                    _ => Val::Num(num(&v) - num(&v2)),
                };
            } else if one == "*" || one == "/" {
                let (v2, rest) = self.expr(&expr[1..], 5, xp, d)?;
                expr = rest;
                if one == "/" {
                    if num(&v2) == 0.0 {
                        return None;
                    }
                    v = Val::Num(num(&v) / num(&v2));
                } else {
                    v = Val::Num(num(&v) * num(&v2));
                }
            } else if one == "?" {
                if lev > 1 {
                    return Some((v, expr));
                }
                let b = truthy(&Some(v.clone()));
                let (a, rest) = self.expr(
                    &expr[1..],
                    1,
                    if !b && xp != Xp::None { Xp::Dummy } else { xp },
                    d,
                )?;
                let rest = rest.trim_start().strip_prefix(':').unwrap_or(rest);
                let (c, rest) =
                    self.expr(rest, 1, if b && xp != Xp::None { Xp::Dummy } else { xp }, d)?;
                expr = rest;
                v = if b { a } else { c };
            } else {
                return Some((v, expr));
            }
        }
    }
}

/// What text obs-build's parser reads, which decides what becomes of comment lines and of
/// `Macros:` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// A spec: comments are dropped, except the `#!BuildRequires:`, `#!BuildConflicts:` and
    /// `#!BuildIgnore:` fields, which are read (and expanded) as lines.
    Spec,
    /// A project config (obs-build's `read_config`) or a recipe read for its comment fields
    /// (`#!BuildConstraint:`): comments are handed on as written; a `Macros:` … `:Macros`
    /// block is one verbatim line (`Macros:` and its lines), never expanded.
    Config,
}

/// Walks `text` as obs-build's `Build::Rpm::parse` does: macros expanded line by line,
/// `%if`/`%ifarch`/`%ifos` chains with `%elif…`, `%else` and `%endif` evaluated, and calls
/// `keep` with each line that survives them (its number, its expanded text). Errors name
/// the line.
fn walk(
    text: &str,
    x: &mut Expander,
    reading: Reading,
    mut keep: impl FnMut(&mut Expander, usize, String) -> Result<()>,
) -> Result<()> {
    let mut skip: u32 = 0;
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let n = i + 1;
        if n > MAX_LINES {
            bail!("more than {MAX_LINES} lines");
        }
        let mut line = raw.to_string();
        let trimmed = line.trim_start();
        if reading == Reading::Config && trimmed.trim_end().eq_ignore_ascii_case("macros:") {
            let mut block = String::from("Macros:\n");
            for (_, l) in lines.by_ref() {
                if l.trim().eq_ignore_ascii_case(":macros") {
                    break;
                }
                block.push_str(l);
                block.push('\n');
            }
            if skip == 0 {
                keep(x, n, block)?;
            }
            continue;
        }
        if trimmed.starts_with('#') && (reading == Reading::Config || !is_hash_field(&line)) {
            if reading == Reading::Config && skip == 0 {
                keep(x, n, line)?;
            }
            continue;
        }
        if skip == 0 && line.contains('%') {
            line = x.expand_line(&line).with_context(|| format!("line {n}"))?;
        }
        if ELIF.is_match(&line) {
            if skip == 0 {
                skip = 1;
            }
            if skip <= 2 {
                skip = 2 - skip;
            }
            if skip != 0 {
                continue;
            }
            line = line.replacen("%el", "%", 1);
            line = x.expand_line(&line).with_context(|| format!("line {n}"))?;
        }
        if ELSE.is_match(&line) {
            if skip <= 2 {
                skip = 2 - skip;
            }
            continue;
        }
        if ENDIF.is_match(&line) {
            skip = skip.saturating_sub(2);
            continue;
        }
        if skip != 0 {
            if line.trim_start().starts_with("%if") {
                skip += 2;
            }
            continue;
        }
        if line.contains('@') {
            line = line.replace("@BUILD_FLAVOR@", "");
        }
        if let Some(c) = COND.captures(&line) {
            let rest = c[2].to_string();
            let taken = match &c[1] {
                kind @ ("ifarch" | "ifnarch" | "ifos" | "ifnos") => {
                    let key = if kind.ends_with("arch") {
                        "_target_cpu"
                    } else {
                        "_target_os"
                    };
                    let value = x.body(key).filter(|v| !v.is_empty()).unwrap_or("unknown");
                    let listed = rest.split_whitespace().any(|w| w == value);
                    listed != kind.starts_with("ifn")
                }
                _ => truthy(&x.expr(&rest, 0, Xp::None, 0).map(|(v, _)| v)),
            };
            if !taken {
                skip = 2;
            }
            continue;
        }
        keep(x, n, line)?;
    }
    Ok(())
}

/// The lines of a project config (or a recipe's comment fields) for `arch` as obs-build's
/// config reader leaves them: the conditionals evaluated and each surviving line expanded,
/// comment lines as written, a `Macros:` block as one line holding the block (see
/// [`Reading::Config`]). Errors name the line.
pub fn config_lines(text: &str, arch: &str) -> Result<Vec<(usize, String)>> {
    let mut x = Expander::new(&SpecContext {
        target_cpu: arch.to_string(),
        ..SpecContext::default()
    })?;
    let mut out = Vec::new();
    walk(text, &mut x, Reading::Config, |_, n, line| {
        if !line.trim().is_empty() {
            out.push((n, line));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Reads the dependency entries of `text` as obs-build's parser does. Errors say the line.
pub fn entries(text: &str, ctx: &SpecContext) -> Result<Vec<Entry>> {
    let mut x = Expander::new(ctx)?;
    let mut out = Vec::new();
    let mut preamble = true;
    let mut main_preamble = true;
    walk(text, &mut x, Reading::Spec, |x, n, line| {
        if main_preamble && let Some(c) = PREAMBLE_TAG.captures(&line) {
            let key = c[1].to_ascii_lowercase();
            x.define(&key, None, c[2].to_string())?;
        } else if preamble
            && let Some(c) = PREAMBLE_TAG.captures(&line)
            && c[1].eq_ignore_ascii_case("url")
        {
            x.define("url", None, c[2].to_string())?;
        }
        if PREREQ.is_match(&line) {
            return Ok(());
        }
        if preamble && let Some(c) = DEP_FIELD.captures(&line) {
            let field = c[1].to_string();
            let kind = field.to_ascii_lowercase();
            let deps = c[2].to_string();
            for entry in split_deps(&deps, x) {
                let text = match kind.as_str() {
                    "buildrequires" | "buildprereq" | "#!buildrequires" => entry,
                    "buildconflicts" | "#!buildconflicts" => format!("!{entry}"),
                    _ => format!("-{entry}"),
                };
                out.push(Entry {
                    line: n,
                    field: field.clone(),
                    text,
                    unexpandable: x.unexpandable,
                });
            }
            return Ok(());
        }
        if PACKAGE.is_match(&line) {
            preamble = true;
            main_preamble = false;
        }
        if SECTION.is_match(&line) {
            preamble = false;
            main_preamble = false;
        }
        Ok(())
    })?;
    Ok(out)
}

fn is_hash_field(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["#!buildignore", "#!buildconflicts", "#!buildrequires"]
        .iter()
        .any(|f| {
            l.strip_prefix(f)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
}

/// Name, ` op evr` (or empty) and ` [qualifiers]` of one dependency word.
fn dep_parts(c: &regex::Captures) -> (String, String, Option<String>) {
    (
        c[1].to_string(),
        c.get(2).map_or(String::new(), |m| m.as_str().to_string()),
        c.get(3).map(|m| m.as_str().to_string()),
    )
}

/// The entries of one dependency field, with `[qualifier]` lists applied.
fn split_deps(deps: &str, x: &Expander) -> Vec<String> {
    let mut parts: Vec<(String, String, Option<String>)> = Vec::new();
    let has_rich = format!(" {deps}")
        .as_bytes()
        .windows(2)
        .any(|w| (w[0].is_ascii_whitespace() || w[0] == b',') && w[1] == b'(');
    if has_rich {
        let mut d = deps
            .trim_start_matches(|c: char| c.is_whitespace() || c == ',')
            .to_string();
        while !d.is_empty() {
            if d.starts_with('(') {
                let mut words: Vec<&str> = d.split_whitespace().collect();
                let mut dep = words.remove(0).to_string();
                while !words.is_empty() && dep.matches('(').count() > dep.matches(')').count() {
                    dep.push(' ');
                    dep.push_str(words.remove(0));
                }
                parts.push((dep, String::new(), None));
                d = words.join(" ");
            } else {
                let Some(c) = DEP_WORD.captures(&d) else {
                    break;
                };
                let whole = c.get(0).expect("match").range();
                parts.push(dep_parts(&c));
                d.replace_range(whole, "");
            }
        }
    } else {
        for c in DEP_WORD.captures_iter(deps) {
            parts.push(dep_parts(&c));
        }
    }
    let arch = x.body("_target_cpu").unwrap_or("").to_string();
    let project = x.body("_target_project").unwrap_or("").to_string();
    let mut out = Vec::new();
    for (pack, vers, qual) in parts {
        if let Some(qual) = qual {
            let inner = qual.trim_start();
            let inner = inner.strip_prefix('[').unwrap_or(inner);
            let inner = inner.strip_suffix(']').unwrap_or(inner);
            let mut negated = false;
            let mut bad: Option<bool> = None;
            for q in inner.split([' ', '\t', '\n', '\r', '\x0c', ',']) {
                let q = match q.strip_prefix('!') {
                    Some(q) => {
                        negated = true;
                        q
                    }
                    None => q,
                };
                if bad.is_none() && !negated {
                    bad = Some(true);
                }
                let hit = q == arch || q == project;
                if negated {
                    if hit {
                        bad = Some(true);
                        break;
                    }
                } else if hit {
                    bad = Some(false);
                }
            }
            if bad == Some(true) {
                continue;
            }
        }
        let vers = vers.replacen("=>", ">=", 1).replacen("=<", "<=", 1);
        out.push(format!("{pack}{vers}"));
    }
    out
}

/// The build relations of a spec for `ctx`: `shown` names the spec in origins and errors.
pub fn needs(text: &str, shown: &str, ctx: &SpecContext) -> Result<Needs> {
    let entries = entries(text, ctx).with_context(|| shown.to_string())?;
    let mut needs = Needs::default();
    for e in entries {
        let origin = format!("{} of {shown} (line {})", e.field, e.line);
        let fail = |what: &str| anyhow::anyhow!("{shown}: line {}: {}: {what}", e.line, e.field);
        if let Some(why) = e.unexpandable
            && e.text.trim_start_matches(['!', '-']) == "MACRO"
        {
            return Err(fail(&format!("cannot be evaluated: {why}")));
        }
        if let Some(name) = e.text.strip_prefix('-') {
            needs.ignores.push(name.to_string());
            continue;
        }
        let (conflict, dep) = match e.text.strip_prefix('!') {
            Some(d) => (true, d),
            None => (false, e.text.as_str()),
        };
        if dep.starts_with('(') {
            let rich = Rich::parse(dep).ok_or_else(|| {
                fail(&format!(
                    "`{}` is not a rich dependency obs-build reads",
                    one_line(dep)
                ))
            })?;
            needs.rich.push((rich, conflict, origin));
            continue;
        }
        let rel = plain_relation(dep).map_err(|why| fail(&why))?;
        if conflict {
            needs.conflicts.push((rel, origin));
        } else {
            needs.depends.push((vec![rel], origin));
        }
    }
    Ok(needs)
}

/// `name` or `name op evr`, as the parser joins them.
fn plain_relation(dep: &str) -> std::result::Result<Relation, String> {
    let mut words = dep.split_whitespace();
    let name = words.next().unwrap_or("");
    if name.is_empty() || name.contains('%') {
        return Err(format!("`{}`: an unexpanded macro", one_line(dep)));
    }
    let version = match (words.next(), words.next()) {
        (None, _) => None,
        (Some(op), Some(evr)) => match Op::parse_rpm(op) {
            Some(op) => Some((op, evr.to_string())),
            None => {
                return Err(format!(
                    "`{}`: unknown operator `{}`",
                    one_line(dep),
                    one_line(op)
                ));
            }
        },
        (Some(_), None) => {
            return Err(format!(
                "`{}`: an operator without a version",
                one_line(dep)
            ));
        }
    };
    if version.as_ref().is_some_and(|(_, v)| v.contains('%')) {
        return Err(format!("`{}`: an unexpanded macro", one_line(dep)));
    }
    Ok(Relation {
        name: name.into(),
        version: version.map(|(op, v)| (op, v.into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where Debian's obs-build keeps its Perl modules.
    const OBS_BUILD: &str = "/usr/lib/obs-build";

    /// The lines obs-build's Perl `script` prints when run with `args` (obs-build's modules
    /// loaded).
    fn perl_obs_build(script: &str, args: &[&std::path::Path]) -> Vec<String> {
        let out = std::process::Command::new("perl")
            .arg(format!("-I{OBS_BUILD}"))
            .arg("-MBuild")
            .arg("-e")
            .arg(script)
            .args(args)
            .output()
            .expect("perl runs (obs-build's parser is the reference)");
        assert!(
            out.status.success(),
            "obs-build's parser failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// What obs-build's own parser gives for `spec` on `arch` with the project config
    /// `Macros:` lines `macros`, as OBS's servers run it (`BuildConflicts` as conflicts).
    fn obs_build(spec: &str, arch: &str, macros: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let spec_path = dir.path().join("x.spec");
        let conf_path = dir.path().join("prjconf");
        std::fs::write(&spec_path, spec).unwrap();
        std::fs::write(&conf_path, format!("Macros:\n{macros}:Macros\n")).unwrap();
        perl_obs_build(
            r#"$Build::Rpm::conflictdeps = 1;
               my $c = Build::read_config($ARGV[0], $ARGV[1]) or die "config\n";
               my $d = Build::Rpm::parse($c, $ARGV[2]);
               print "$_\n" for @{$d->{deps}};"#,
            &[std::path::Path::new(arch), &conf_path, &spec_path],
        )
    }

    fn ours(spec: &str, arch: &str, macros: &str) -> Vec<String> {
        let ctx = SpecContext {
            target_cpu: arch.to_string(),
            macros: macros.to_string(),
            project: String::new(),
        };
        entries(spec, &ctx)
            .unwrap()
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    /// (spec, arch, project config macros, what obs-build gives).
    const CASES: &[(&str, &str, &str, &[&str])] = &[
        (
            "Name: x\nBuildRequires: gcc, make >= 4.0\nBuildRequires:  pkgconfig(zlib) zlib-devel\n",
            "x86_64",
            "",
            &["gcc", "make >= 4.0", "pkgconfig(zlib)", "zlib-devel"],
        ),
        (
            "Name: x\n%ifarch x86_64\nBuildRequires: a\n%else\nBuildRequires: b\n%endif\n\
             %ifnarch %ix86\nBuildRequires: c\n%endif\n%ifarch %arm64\nBuildRequires: d\n%endif\n",
            "x86_64",
            "",
            &["a", "c"],
        ),
        (
            "Name: x\n%ifarch x86_64\nBuildRequires: a\n%else\nBuildRequires: b\n%endif\n\
             %ifarch %arm64\nBuildRequires: d\n%endif\n",
            "aarch64",
            "",
            &["b", "d"],
        ),
        (
            "Name: x\n%define foo bar\n%global g %{foo}-g\nBuildRequires: %{foo} %g %{name}-devel\n\
             BuildRequires: %{?foo:has-foo} %{!?foo:no-foo} %{?nope:has-nope} %{!?nope:no-nope}\n\
             BuildRequires: p%{?foo}q %%literal\n",
            "x86_64",
            "",
            &[
                "bar", "bar-g", "x-devel", "has-foo", "no-nope", "pbarq", "%literal",
            ],
        ),
        (
            "Name: x\n%if 0%{?suse_version} >= 1500\nBuildRequires: new\n%else\nBuildRequires: old\n%endif\n\
             %if %{with tests} || 0\nBuildRequires: tests\n%endif\n%bcond_without docs\n\
             %if %{with docs}\nBuildRequires: docs\n%endif\n",
            "x86_64",
            "%suse_version 1600\n",
            &["new", "docs"],
        ),
        (
            "Name: x\n%if 1\n%if 0\nBuildRequires: a\n%else\nBuildRequires: b\n%endif\n%else\n\
             BuildRequires: c\n%endif\n%if 0\nBuildRequires: d\n%elif 1\nBuildRequires: e\n%elif 1\n\
             BuildRequires: f\n%else\nBuildRequires: g\n%endif\n",
            "x86_64",
            "",
            &["b", "e"],
        ),
        (
            "Name: x\n%if \"%{_target_cpu}\" == \"x86_64\" && !(2 > 3)\nBuildRequires: a\n%endif\n\
             %if v\"1.10\" > v\"1.9\"\nBuildRequires: b\n%endif\n%if 3*2 == 6 ? 1 : 0\nBuildRequires: c\n%endif\n\
             %if %{undefined nope}\nBuildRequires: d\n%endif\n%if %{defined nope}\nBuildRequires: e\n%endif\n\
             %if %{nope}\nBuildRequires: f\n%endif\n%ifos linux\nBuildRequires: g\n%endif\n",
            "x86_64",
            "",
            &["a", "b", "c", "d", "g"],
        ),
        (
            "Name: x\nBuildRequires: (a or b) (c if d) (e if f else g), h\nBuildRequires: (i >= 1 with i < 2)\n\
             BuildConflicts: bad (worse or worst)\n#!BuildIgnore: ign\n#!BuildRequires: hash\n\
             BuildPreReq: prereq\n#!BuildConflicts: hashbad\n# BuildRequires: commented\n",
            "x86_64",
            "",
            &[
                "(a or b)",
                "(c if d)",
                // obs-build keeps the comma after a rich dependency (its expander then
                // finds nothing providing it).
                "(e if f else g),",
                "h",
                "(i >= 1 with i < 2)",
                "!bad",
                "!(worse or worst)",
                "-ign",
                "hash",
                "prereq",
                "!hashbad",
            ],
        ),
        (
            "Name: x\nBuildRequires: pkg [x86_64] other [!x86_64] both [i586 x86_64] foo => 2\n\
             Requires(pre): notabuilddep\nPreReq: neither\n%package sub\nBuildRequires: subdep\n\
             %description\nBuildRequires: not-in-preamble\n%prep\nBuildRequires: late\n",
            "x86_64",
            "",
            &["pkg", "both", "foo >= 2", "subdep"],
        ),
        (
            "Name: x\n%define args(a:b) A%{-a*}B%{-b:yes}%{!-b:no}%1\nBuildRequires: %args -a one two\n\
             BuildRequires: %{expand:%%{name}-e} %[1 + 2] %{expr:2*3}\n",
            "x86_64",
            "",
            // `%[` swallows the rest of its line in obs-build.
            &["AoneBtwo", "x-e", "3"],
        ),
        (
            "Name: x\nBuildRequires: a %(echo b) c\n%define r %r\nBuildRequires: d %r e\n\
             BuildRequires: %{nope}-devel\n",
            "x86_64",
            "",
            &["a", "MACRO", "d", "MACRO", "e", "%{nope}-devel"],
        ),
        (
            "Name: x\nBuildRequires: %{expr:2*3} %[1 + 2]\n",
            "x86_64",
            "",
            &["6", "3"],
        ),
    ];

    #[test]
    fn needs_map_entries_and_name_the_line_of_errors() {
        let ctx = SpecContext {
            target_cpu: "x86_64".into(),
            ..SpecContext::default()
        };
        let spec = "Name: x\nBuildRequires: a >= 1, (b or c)\nBuildConflicts: d (e if f)\n\
                    #!BuildIgnore: g\n";
        let needs = needs(spec, "x.spec", &ctx).unwrap();
        assert_eq!(
            needs.depends,
            [(
                vec![Relation {
                    name: "a".into(),
                    version: Some((Op::Ge, "1".into()))
                }],
                "BuildRequires of x.spec (line 2)".to_string()
            )]
        );
        let rich: Vec<(String, bool)> = needs
            .rich
            .iter()
            .map(|(r, c, _)| (r.to_string(), *c))
            .collect();
        assert_eq!(
            rich,
            [
                ("(b or c)".to_string(), false),
                ("(e if f)".to_string(), true)
            ]
        );
        assert_eq!(needs.conflicts.len(), 1);
        assert_eq!(&*needs.conflicts[0].0.name, "d");
        assert_eq!(needs.conflicts[0].1, "BuildConflicts of x.spec (line 3)");
        assert_eq!(needs.ignores, ["g"]);

        for (spec, error) in [
            (
                "Name: x\nBuildRequires: a %(echo b)\n",
                "x.spec: line 2: BuildRequires: cannot be evaluated: `%(…)` runs a shell",
            ),
            (
                "Name: x\n%define r %r\nBuildRequires: d %r e\n",
                "x.spec: line 3: BuildRequires: cannot be evaluated: macros nested too deeply",
            ),
            (
                "Name: x\n\nBuildRequires: %{nope}-devel\n",
                "x.spec: line 3: BuildRequires: `%{nope}-devel`: an unexpanded macro",
            ),
            (
                "Name: x\nBuildConflicts: (a or b),\n",
                "x.spec: line 2: BuildConflicts: `(a or b),` is not a rich dependency obs-build reads",
            ),
            (
                "Name: x\nBuildRequires: a <> 1\n",
                "x.spec: line 2: BuildRequires: `a <> 1`: unknown operator `<>`",
            ),
        ] {
            let e = format!("{:#}", super::needs(spec, "x.spec", &ctx).unwrap_err());
            assert_eq!(e, error);
        }
    }

    #[test]
    fn hostile_specs_are_bounded() {
        let ctx = SpecContext {
            target_cpu: "x86_64".into(),
            ..SpecContext::default()
        };
        // Each %global doubles the last: 2^40 bytes unless bounded.
        let mut spec = String::from("Name: x\n%global m0 xxxxxxxxxxxxxxxx\n");
        for i in 1..40 {
            spec.push_str(&format!("%global m{i} %{{m{}}}%{{m{}}}\n", i - 1, i - 1));
        }
        spec.push_str("BuildRequires: %m39\n");
        let e = format!("{:#}", needs(&spec, "x.spec", &ctx).unwrap_err());
        assert!(
            e.starts_with("x.spec: line ") && e.contains("expands to more than"),
            "{e}"
        );
        // A macro calling itself through arguments stops after obs-build's step budget.
        let spec = "Name: x\n%define f() %f %f\nBuildRequires: %{f}\n";
        let e = format!("{:#}", needs(spec, "x.spec", &ctx).unwrap_err());
        assert!(
            e.contains("line 3: BuildRequires: cannot be evaluated"),
            "{e}"
        );
        // Expansions nested inside expansions, on one line.
        let parens = format!("%[{}", "(".repeat(MAX_EXPR_DEPTH - 2));
        for nested in ["%global a ", "%[ ", "%{expr:", parens.as_str()] {
            let spec = format!("Name: x\nBuildRequires: {}x\n", nested.repeat(5000));
            let _ = needs(&spec, "x.spec", &ctx);
        }
        // Deep expressions and rich dependencies.
        let spec = format!(
            "Name: x\n%if {}1\nBuildRequires: a\n%endif\n",
            "(".repeat(100_000)
        );
        assert!(needs(&spec, "x.spec", &ctx).unwrap().depends.is_empty());
        let spec = "x\n".repeat(MAX_LINES + 1);
        let e = format!("{:#}", needs(&spec, "x.spec", &ctx).unwrap_err());
        assert!(e.contains("more than"), "{e}");
    }

    /// The `Constraint:`, `Support:` and `Macros:` of a project config for `arch` as
    /// obs-build's `read_config` gives them.
    fn obs_build_config(config: &str, arch: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let conf_path = dir.path().join("prjconf");
        std::fs::write(&conf_path, config).unwrap();
        perl_obs_build(
            r#"my $c = Build::read_config($ARGV[0], $ARGV[1]) or die "config\n";
               print "Constraint: $_\n" for @{$c->{constraint}};
               print "Support: $_\n" for @{$c->{support}};
               print "Macros: $_\n" for split("\n", $c->{rawmacros});"#,
            &[std::path::Path::new(arch), &conf_path],
        )
    }

    /// The same from [`config_lines`].
    fn ours_config(config: &str, arch: &str) -> Vec<String> {
        let mut constraints = Vec::new();
        let mut support = Vec::new();
        let mut macros = Vec::new();
        for (_, line) in config_lines(config, arch).unwrap() {
            if let Some(block) = line.strip_prefix("Macros:\n") {
                macros.extend(block.lines().map(|l| format!("Macros: {l}")));
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next().map(str::to_ascii_lowercase).as_deref() {
                Some("constraint:") => constraints.push(format!(
                    "Constraint: {}",
                    words.collect::<Vec<_>>().join(" ")
                )),
                Some("support:") => support.extend(words.map(|w| format!("Support: {w}"))),
                _ => {}
            }
        }
        constraints
            .into_iter()
            .chain(support)
            .chain(macros)
            .collect()
    }

    #[test]
    fn project_configs_read_as_obs_build_reads_them() {
        let conf = "%ifarch ppc64le\nConstraint: hardware:cpu:flag power8\n%endif\n\
                    %ifarch %ix86 x86_64\nConstraint: hostlabel X86\n%else\nConstraint: hostlabel OTHER\n%endif\n\
                    %define big 1\n%if %{big} && \"%_target_cpu\" == \"aarch64\"\nConstraint: hardware:processors 8\n\
                    %if 0\nConstraint: hostlabel NEVER\n%endif\n%elif 1\nConstraint: hostlabel ELIF\n%endif\n\
                    %define tools make %{?with_x:x}\nSupport: %tools %{?nothing} %{!?nothing:fallback}\n\
                    # Support: commented\n\
                    Macros:\nConstraint: hostlabel IN_MACROS\n%if 1\n%vendor %{big}\n:Macros\n\
                    %if \"%_repository\" == \"Debian_12\"\nSupport: repo-only\n%endif\n\
                    %ifnarch amd64\nSupport: not-amd64\n%endif\n";
        for arch in ["x86_64", "i586", "aarch64", "ppc64le", "s390x"] {
            assert_eq!(
                ours_config(conf, arch),
                obs_build_config(conf, arch),
                "{arch}"
            );
        }
        assert_eq!(
            ours_config(conf, "x86_64"),
            [
                "Constraint: hostlabel X86",
                "Constraint: hostlabel ELIF",
                "Support: make",
                "Support: fallback",
                "Support: not-amd64",
                "Macros: Constraint: hostlabel IN_MACROS",
                "Macros: %if 1",
                "Macros: %vendor %{big}",
            ]
        );
    }

    #[test]
    fn hostile_project_configs_are_bounded() {
        // Each %define doubles the last: 2^40 bytes unless bounded.
        let mut conf = String::from("%define a0 xx\n");
        for i in 1..=40 {
            conf.push_str(&format!("%define a{i} %{{a{}}}%{{a{}}}\n", i - 1, i - 1));
        }
        conf.push_str("Constraint: hostlabel %{a40}\n");
        // Before this reader, `obsbox allocate` with this config ran out of memory.
        // obs-build's budget of expansions per line runs out first: what is left of the
        // line stays `MACRO`.
        let lines = config_lines(&conf, "x86_64").unwrap();
        assert_eq!(lines.len(), 1);
        let (n, line) = &lines[0];
        assert_eq!(*n, 42);
        assert!(line.starts_with("Constraint: hostlabel xx") && line.ends_with("MACRO"));
        assert!(line.len() < 16 << 10, "{} bytes", line.len());
        // A %global expands at once: past the size bound, an error naming the line.
        let conf = conf.replace("%define", "%global");
        let e = format!("{:#}", config_lines(&conf, "x86_64").unwrap_err());
        assert!(
            e.starts_with("line ") && e.contains("expands to more than"),
            "{e}"
        );
    }

    /// Specs put together at random from the constructs obsbox reads (a fixed seed, so a
    /// failure repeats), each read by obs-build's parser and by obsbox.
    #[test]
    fn generated_specs_read_as_obs_build_reads_them() {
        let mut seed: u64 = 0x5eed_0b5b_0c5e_c0de;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        const LINES: &[&str] = &[
            "%define m@ 1",
            "%define m@ 0",
            "%define m@ foo",
            "%define m@ %{m#}-x",
            "%global m@ %{?m#:yes}%{!?m#:no}",
            "%undefine m@",
            "%bcond_without b@",
            "%bcond_with b@",
            "%if 0%{?m@}",
            "%if %{?m@}0 > 5",
            "%if \"%{?m@}\" == \"foo\"",
            "%if %{with b@}",
            "%if %{without b#} || 0%{?m@}",
            "%if !%{defined m@}",
            "%ifarch x86_64 %ix86",
            "%ifnarch aarch64",
            "%ifarch %arm64",
            "%ifos linux",
            "%ifnos linux",
            "%elif %{defined m@}",
            "%elifarch x86_64",
            "%else",
            "%endif",
            "%endif",
            "BuildRequires: a@ b# >= 1.@",
            "BuildRequires: %{m@}-devel, %{?m#:opt-%{m#}}",
            "BuildRequires: (c@ or d#) (e@ if f#) (g@ if h# else i@)",
            "BuildRequires: pkg@ [x86_64] q# [!x86_64] r@ [i586 aarch64]",
            "BuildRequires: %{name}-@ %{?version}",
            "BuildPreReq: pre@",
            "BuildConflicts: x@ (y@ or z#)",
            "#!BuildIgnore: ign@",
            "#!BuildRequires: hash@",
            "# BuildRequires: comment@",
            "Requires(pre): notbuild@",
            "%package sub@",
            "%description",
            "%prep",
            "Version: 1.@",
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut specs = Vec::new();
        for i in 0..300 {
            let mut text = String::from("Name: gen\n");
            for _ in 0..(5 + next(25)) {
                let line = LINES[next(LINES.len())]
                    .replace('@', &next(4).to_string())
                    .replace('#', &next(4).to_string());
                text.push_str(&line);
                text.push('\n');
            }
            let arch = ["x86_64", "aarch64", "i586"][next(3)];
            let path = dir.path().join(format!("{i}.spec"));
            std::fs::write(&path, &text).unwrap();
            specs.push((path, arch, text));
        }
        let mut wrong = Vec::new();
        let mut with_deps = 0;
        for arch in ["x86_64", "aarch64", "i586"] {
            let chosen: Vec<&(std::path::PathBuf, &str, String)> =
                specs.iter().filter(|s| s.1 == arch).collect();
            let out = std::process::Command::new("perl")
                .arg(format!("-I{OBS_BUILD}"))
                .arg("-MBuild")
                .arg("-e")
                .arg(
                    r#"$Build::Rpm::conflictdeps = 1;
                       my $c = Build::read_config(shift @ARGV);
                       for my $f (@ARGV) {
                         my $d = Build::Rpm::parse($c, $f);
                         print "== $f\n";
                         print "$_\n" for @{$d->{deps}};
                       }"#,
                )
                .arg(arch)
                .args(chosen.iter().map(|s| &s.0))
                .output()
                .expect("perl runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            let theirs: Vec<Vec<String>> = stdout
                .split("== ")
                .skip(1)
                .map(|block| block.lines().skip(1).map(str::to_string).collect())
                .collect();
            assert_eq!(theirs.len(), chosen.len());
            for ((_, _, text), theirs) in chosen.iter().zip(theirs) {
                with_deps += usize::from(!theirs.is_empty());
                let got = ours(text, arch, "");
                if got != theirs {
                    wrong.push(format!(
                        "{arch}: obsbox {got:?}, obs-build {theirs:?} on\n{text}"
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of 300 differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        assert!(
            with_deps > 100,
            "only {with_deps} of 300 specs have dependencies"
        );
    }

    #[test]
    fn reads_specs_as_obs_build_does() {
        let mut wrong = Vec::new();
        for (spec, arch, macros, want) in CASES {
            let theirs = obs_build(spec, arch, macros);
            if &theirs != want {
                wrong.push(format!("obs-build gives {theirs:?} on\n{spec}"));
            }
            let got = ours(spec, arch, macros);
            if got != theirs {
                wrong.push(format!(
                    "obsbox gives {got:?}, obs-build {theirs:?} on\n{spec}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    }
}
