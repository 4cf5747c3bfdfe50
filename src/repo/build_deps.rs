//! The build relations of a Debian source package (`Build-Depends`, `-Arch`, `-Indep`,
//! `Build-Conflicts`, `-Arch`, `-Indep` of a `.dsc` or `debian/control`), read the way
//! `dpkg-checkbuilddeps` reads them and reduced for one build the way sbuild hands them to
//! apt:
//! - an alternative whose architecture restriction (`[amd64 i386]`, `[!hurd-any]`, with
//!   Debian's wildcards `linux-any`, `any-amd64`, `gnu-linux-any`, …) leaves out the build
//!   arch is dropped, and so is one whose build-profile formula (`<!nocheck> <stage1 cross>`)
//!   is false for the active profiles (none unless the job names some, `DEB_BUILD_PROFILES`);
//!   a group left without alternatives is dropped;
//! - `:any` and `:native` qualifiers name the same package in a single-arch buildroot;
//! - what is left is an OR-group the resolver satisfies with the first alternative it can
//!   (any may do); a conflict keeps every package satisfying it out of the root.
//!
//! Syntax errors are reported with the field and the relation, as one line.

use anyhow::{Context, Result, bail};

use super::{Arch, Op, Relation};
use crate::text::one_line;

/// The dependency fields a binary-only build (`dpkg-buildpackage -b`) reads, in order.
pub const DEPENDS_FIELDS: [&str; 3] =
    ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"];
/// The conflict fields of the same build.
pub const CONFLICTS_FIELDS: [&str; 3] = [
    "Build-Conflicts",
    "Build-Conflicts-Arch",
    "Build-Conflicts-Indep",
];

/// The longest relation field obsbox reads; real ones stay far below (≈ 4 KiB).
const MAX_FIELD: usize = 256 << 10;
/// The most entries in an architecture list or a profile formula.
const MAX_TERMS: usize = 256;

/// One alternative of a build relation, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRelation {
    pub name: String,
    /// `any`, `native` or an architecture name after `:`.
    pub qualifier: Option<String>,
    pub version: Option<(Op, String)>,
    /// `[a !b …]`: each term with whether it is negated; empty when there is no list.
    pub archs: Vec<(bool, String)>,
    /// `<a !b> <c>`: the relation applies when every term of one list holds.
    pub profiles: Vec<Vec<(bool, String)>>,
}

/// What a build is: its Debian architecture and the active build profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    /// In Debian's naming (`amd64`): the terms of the restriction lists are.
    pub arch: Arch,
    pub profiles: Vec<String>,
}

impl BuildContext {
    /// Whether `rel` applies to this build: its architecture list takes the build arch and
    /// its profile formula holds.
    pub fn applies(&self, rel: &BuildRelation) -> bool {
        arch_concerned(self.arch.as_str(), &rel.archs)
            && (rel.profiles.is_empty()
                || rel.profiles.iter().any(|list| {
                    list.iter()
                        .all(|(negated, p)| self.profiles.iter().any(|a| a == p) != *negated)
                }))
    }
}

/// Whether the build arch `arch` is concerned by the list `archs` (empty: every arch).
/// dpkg's rule: terms are read in order; a plain term that matches includes and stops, a
/// negated one that matches excludes and stops, a negated one that does not match includes
/// unless a later term decides.
pub fn arch_concerned(arch: &str, archs: &[(bool, String)]) -> bool {
    if archs.is_empty() {
        return true;
    }
    let mut concerned = false;
    for (negated, term) in archs {
        let hit = arch_matches(arch, term);
        match (negated, hit) {
            (false, true) => return true,
            (true, true) => return false,
            (true, false) => concerned = true,
            (false, false) => {}
        }
    }
    concerned
}

/// Debian architectures as dpkg's tuple (abi, libc, os, cpu).
const TUPLES: &[(&str, [&str; 4])] = &[
    ("amd64", ["base", "gnu", "linux", "amd64"]),
    ("arm64", ["base", "gnu", "linux", "arm64"]),
    ("armel", ["eabi", "gnu", "linux", "arm"]),
    ("armhf", ["eabihf", "gnu", "linux", "arm"]),
    ("i386", ["base", "gnu", "linux", "i386"]),
    ("mips64el", ["abi64", "gnu", "linux", "mips64el"]),
    ("mipsel", ["base", "gnu", "linux", "mipsel"]),
    ("mips", ["base", "gnu", "linux", "mips"]),
    ("mips64", ["abi64", "gnu", "linux", "mips64"]),
    ("ppc64el", ["base", "gnu", "linux", "ppc64el"]),
    ("ppc64", ["base", "gnu", "linux", "ppc64"]),
    ("powerpc", ["base", "gnu", "linux", "powerpc"]),
    ("s390x", ["base", "gnu", "linux", "s390x"]),
    ("riscv64", ["base", "gnu", "linux", "riscv64"]),
    ("loong64", ["base", "gnu", "linux", "loong64"]),
    ("alpha", ["base", "gnu", "linux", "alpha"]),
    ("hppa", ["base", "gnu", "linux", "hppa"]),
    ("ia64", ["base", "gnu", "linux", "ia64"]),
    ("m68k", ["base", "gnu", "linux", "m68k"]),
    ("sh4", ["base", "gnu", "linux", "sh4"]),
    ("sparc64", ["base", "gnu", "linux", "sparc64"]),
    ("x32", ["x32", "gnu", "linux", "amd64"]),
    ("hurd-i386", ["base", "gnu", "hurd", "i386"]),
    ("hurd-amd64", ["base", "gnu", "hurd", "amd64"]),
    ("kfreebsd-amd64", ["base", "gnu", "kfreebsd", "amd64"]),
    ("kfreebsd-i386", ["base", "gnu", "kfreebsd", "i386"]),
    ("musl-linux-amd64", ["base", "musl", "linux", "amd64"]),
    ("musl-linux-arm64", ["base", "musl", "linux", "arm64"]),
];

/// The tuple of a Debian architecture name; `None` for names dpkg does not know either.
pub fn arch_tuple(arch: &str) -> Option<[&'static str; 4]> {
    TUPLES.iter().find(|(a, _)| *a == arch).map(|(_, t)| *t)
}

/// Whether the architecture term `term` (a name or a wildcard) matches the build arch.
/// A term of two parts is `os-cpu`, three `libc-os-cpu`, four `abi-libc-os-cpu`; `any`
/// in a part matches every value.
pub fn arch_matches(arch: &str, term: &str) -> bool {
    let term = term.to_ascii_lowercase();
    if term == arch || term == "any" {
        return true;
    }
    let Some(real) = arch_tuple(arch) else {
        return false;
    };
    let parts: Vec<&str> = term.split('-').collect();
    let pattern: [&str; 4] = match parts.as_slice() {
        [one] => match arch_tuple(one) {
            Some(t) => t,
            None => return false,
        },
        ["any", cpu] => ["any", "any", "any", cpu],
        [os, cpu] => match arch_tuple(&term) {
            // `hurd-i386` and the like are names with their own tuple.
            Some(t) => t,
            None => ["any", "any", os, cpu],
        },
        [libc, os, cpu] => match arch_tuple(&term) {
            Some(t) => t,
            None => ["any", libc, os, cpu],
        },
        [abi, libc, os, cpu] => [abi, libc, os, cpu],
        _ => return false,
    };
    pattern
        .iter()
        .zip(real.iter())
        .all(|(p, r)| *p == "any" || p == r)
}

/// Parses a build relation field: comma-separated groups of `|`-separated alternatives,
/// each `name[:qualifier] [(op version)] [[archs]] [<profiles>…]` in that order. Empty
/// groups (a trailing comma) are skipped. With `conflicts`, alternatives are refused, as
/// dpkg refuses them in a `Build-Conflicts` field.
pub fn parse_field(value: &str, conflicts: bool) -> Result<Vec<Vec<BuildRelation>>> {
    if value.len() > MAX_FIELD {
        bail!("longer than {MAX_FIELD} bytes");
    }
    let mut out = Vec::new();
    for group in value.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alternative in group.split('|') {
            if alternative.trim().is_empty() {
                // dpkg takes `a | ` as `a`.
                continue;
            }
            alternatives.push(
                parse_one(alternative).with_context(|| format!("`{}`", one_line(group.trim())))?,
            );
        }
        if alternatives.is_empty() {
            continue;
        }
        if conflicts && alternatives.len() > 1 {
            bail!(
                "`{}`: a conflict takes no alternatives",
                one_line(group.trim())
            );
        }
        out.push(alternatives);
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

fn valid_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
}

fn parse_one(text: &str) -> Result<BuildRelation> {
    let s = text.trim();
    let end = s
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(s.len());
    let (name, qualifier) = match s[..end].split_once(':') {
        Some((n, q)) => (n, Some(q)),
        None => (&s[..end], None),
    };
    if !valid_name(name) {
        bail!("`{}` is not a package name", one_line(name));
    }
    if let Some(q) = qualifier
        && !(valid_word(q) && q.bytes().all(|b| b != b'.' && b != b'_'))
    {
        bail!("`{}` is not an architecture qualifier", one_line(q));
    }
    let mut rel = BuildRelation {
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
        version: None,
        archs: Vec::new(),
        profiles: Vec::new(),
    };
    let mut rest = s[end..].trim_start();
    // Version, then architectures, then profiles: dpkg refuses another order.
    let mut stage = 0;
    while let Some(first) = rest.chars().next() {
        let (close, at) = match first {
            '(' => (')', 1),
            '[' => (']', 2),
            '<' => ('>', 3),
            other => bail!("unexpected `{other}` after `{name}`"),
        };
        if at < stage || (at == stage && at != 3) {
            bail!("`{first}…{close}` out of place (version, then [archs], then <profiles>)");
        }
        stage = at;
        let Some(stop) = rest.find(close) else {
            bail!("unclosed `{first}`");
        };
        let inner = &rest[1..stop];
        match first {
            '(' => rel.version = Some(parse_version(inner)?),
            '[' => rel.archs = parse_terms(inner, "architecture")?,
            _ => {
                if rel.profiles.len() >= MAX_TERMS {
                    bail!("more than {MAX_TERMS} profile lists");
                }
                rel.profiles.push(parse_terms(inner, "profile")?)
            }
        }
        rest = rest[stop + 1..].trim_start();
    }
    Ok(rel)
}

fn parse_version(inner: &str) -> Result<(Op, String)> {
    let inner = inner.trim();
    let (op, version) = super::debian::split_operator(inner)?;
    crate::names::deb_version(version)
        .with_context(|| format!("bad version in `({})`", one_line(inner)))?;
    Ok((op, version.to_string()))
}

/// The terms of an architecture list or a profile list: whitespace-separated, each
/// optionally negated with `!`; at least one.
fn parse_terms(inner: &str, what: &str) -> Result<Vec<(bool, String)>> {
    let mut terms = Vec::new();
    for word in inner.split_whitespace() {
        let (negated, word) = match word.strip_prefix('!') {
            Some(w) => (true, w),
            None => (false, word),
        };
        if !valid_word(word) {
            bail!("`{}` is not a {what} name", one_line(word));
        }
        terms.push((negated, word.to_ascii_lowercase()));
        if terms.len() > MAX_TERMS {
            bail!("more than {MAX_TERMS} {what} names in one list");
        }
    }
    if terms.is_empty() {
        bail!("an empty {what} list");
    }
    Ok(terms)
}

/// What a source package asks of its buildroot for one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// OR-groups, each with its origin (`Build-Depends of hello_2.10-3.dsc`): one
    /// alternative of each must be installed; earlier ones are preferred.
    pub depends: Vec<(Vec<Relation>, String)>,
    /// Relations no package of the root may satisfy, with their origin.
    pub conflicts: Vec<(Relation, String)>,
    /// RPM rich dependencies (`(a if b)`, …), each a requirement or (`true`) a conflict,
    /// with its origin; see [`crate::repo::resolve`] for how they are solved.
    pub rich: Vec<(crate::model::rich::Rich, bool, String)>,
    /// Names a package's requirement on which is not followed (a spec's `#!BuildIgnore`).
    pub ignores: Vec<String>,
}

/// Reads the build relations of the source paragraph of a `.dsc` or `debian/control`
/// (`what` names the file in origins and errors) and reduces them for `ctx`.
pub fn needs(
    paragraph: &crate::packages::deb822::Paragraph,
    what: &str,
    ctx: &BuildContext,
) -> Result<Needs> {
    let mut needs = Needs::default();
    for (fields, conflicts) in [(&DEPENDS_FIELDS, false), (&CONFLICTS_FIELDS, true)] {
        for field in fields {
            let Some(value) = paragraph.get(field) else {
                continue;
            };
            let origin = format!("{field} of {what}");
            let groups =
                parse_field(value, conflicts).with_context(|| format!("{what}: field {field}"))?;
            for group in groups {
                let kept: Vec<Relation> = group
                    .iter()
                    .filter(|r| ctx.applies(r))
                    .map(|r| plain(r, ctx.arch.as_str()))
                    .collect::<Result<_>>()
                    .with_context(|| format!("{what}: field {field}"))?;
                if kept.is_empty() {
                    continue;
                }
                if conflicts {
                    needs
                        .conflicts
                        .extend(kept.into_iter().map(|r| (r, origin.clone())));
                } else {
                    needs.depends.push((kept, origin.clone()));
                }
            }
        }
    }
    Ok(needs)
}

/// The relation the resolver takes: `:any` and `:native` (and the build arch named
/// explicitly) name the package of the buildroot's arch; another architecture is a cross
/// dependency no single-arch buildroot has.
fn plain(rel: &BuildRelation, arch: &str) -> Result<Relation> {
    match rel.qualifier.as_deref() {
        None | Some("any") | Some("native") => {}
        Some(q) if q == arch => {}
        Some(q) => bail!(
            "`{}:{q}`: a dependency on another architecture's package, which a {arch} \
             buildroot cannot hold",
            rel.name
        ),
    }
    Ok(Relation {
        name: rel.name.as_str().into(),
        version: rel.version.as_ref().map(|(op, v)| (*op, v.as_str().into())),
    })
}

/// `DEB_BUILD_PROFILES`-style text (names separated by spaces or commas) as a list.
pub fn parse_profiles(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for word in text.split([' ', ',', '\t', '\n']).filter(|w| !w.is_empty()) {
        if !valid_word(word) {
            bail!("`{}` is not a build profile name", one_line(word));
        }
        out.push(word.to_string());
        if out.len() > MAX_TERMS {
            bail!("more than {MAX_TERMS} build profiles");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(arch: &str, profiles: &[&str]) -> BuildContext {
        BuildContext {
            arch: arch.parse().unwrap(),
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn reduce(field: &str, c: &BuildContext) -> Vec<Vec<String>> {
        parse_field(field, false)
            .unwrap()
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .filter(|r| c.applies(r))
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty())
            .collect()
    }

    #[test]
    fn the_cases_of_the_issue() {
        let amd64 = ctx("amd64", &[]);
        assert!(reduce("libdevstat-dev [kfreebsd-any]", &amd64).is_empty());
        assert!(reduce("foo [arm64]", &amd64).is_empty());
        assert!(reduce("foo <stage1>", &amd64).is_empty());
        assert_eq!(reduce("foo <!nocheck>", &amd64), [["foo"]]);
        assert!(reduce("foo <!nocheck>", &ctx("amd64", &["nocheck"])).is_empty());
        assert_eq!(
            reduce(
                "libklibc-dev (<< 2.0.10) [amd64 armel] | libklibc-dev (>> 2.0.11) [amd64 armel], missing | make",
                &amd64
            ),
            [
                vec!["libklibc-dev", "libklibc-dev"],
                vec!["missing", "make"]
            ]
        );
        assert_eq!(
            reduce(
                "a [linux-any], b [!hurd-any], c [any-amd64], d [any-arm64]",
                &amd64
            ),
            [["a"], ["b"], ["c"]]
        );
    }

    #[test]
    fn syntax_errors_name_the_relation() {
        for bad in [
            "foo []",
            "foo <>",
            "foo <!nocheck> [amd64]",
            "foo [amd64] (>= 1)",
            "foo [amd64,i386]",
            "foo (>= )",
            "foo (~ 1)",
            "foo (>= 1",
            "-foo",
            "foo_bar",
            "foo:any:any",
            "foo:",
            "foo bar",
        ] {
            let err = format!("{:#}", parse_field(bad, false).unwrap_err());
            assert!(
                err.contains(bad.split(',').next().unwrap().trim()),
                "{bad}: {err}"
            );
        }
        assert!(parse_field("bash | dash", true).is_err());
        assert_eq!(parse_field("ab,, cd |", false).unwrap().len(), 2);
    }

    #[test]
    fn qualifiers_name_the_native_package() {
        let groups = parse_field("python3:any, perl:native (>= 5), gcc:amd64", false).unwrap();
        for g in &groups {
            assert_eq!(*plain(&g[0], "amd64").unwrap().name, g[0].name);
        }
        let cross = parse_field("libc6:arm64", false).unwrap();
        assert!(plain(&cross[0][0], "amd64").is_err());
    }

    /// The architecture tuples agree with the host's `dpkg-architecture`.
    #[test]
    fn tuples_agree_with_dpkg_architecture() {
        for (arch, tuple) in TUPLES {
            let query = |var: &str| {
                let out = std::process::Command::new("dpkg-architecture")
                    .args(["-f", "-a", arch, &format!("-q{var}")])
                    .output()
                    .expect("dpkg-architecture (dpkg-dev) runs");
                assert!(out.status.success(), "dpkg-architecture -a {arch}");
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            };
            let got = [
                query("DEB_HOST_ARCH_ABI"),
                query("DEB_HOST_ARCH_LIBC"),
                query("DEB_HOST_ARCH_OS"),
                query("DEB_HOST_ARCH_CPU"),
            ];
            assert_eq!(got, tuple.map(str::to_string), "{arch}");
        }
    }

    /// A small deterministic generator, so a failing case can be replayed.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next(items.len())]
        }
    }

    /// Generated Build-Depends and Build-Conflicts with architecture lists, profile
    /// formulas, versions and alternatives, checked by `dpkg-checkbuilddeps` against the
    /// packages installed on this machine, and by obsbox's reading against the same
    /// packages: the unmet dependencies and the conflicts found must be the same.
    #[test]
    fn generated_relations_agree_with_dpkg_checkbuilddeps() {
        let installed_names = ["bash", "dpkg", "coreutils", "tar", "perl"];
        let mut installed = std::collections::HashMap::new();
        for name in installed_names {
            let out = std::process::Command::new("dpkg-query")
                .args(["-W", "-f", "${Version}", name])
                .output()
                .expect("dpkg-query runs");
            assert!(out.status.success(), "{name} is installed here");
            installed.insert(name, String::from_utf8(out.stdout).unwrap());
        }
        let terms = [
            "amd64",
            "i386",
            "arm64",
            "armhf",
            "x32",
            "linux-any",
            "any-amd64",
            "any-i386",
            "any-arm",
            "hurd-any",
            "kfreebsd-any",
            "any",
            "gnu-linux-any",
            "musl-linux-any",
            "linux-amd64",
            "hurd-i386",
            "all",
        ];
        let profiles = ["nocheck", "nodoc", "stage1", "cross", "pkg.obsbox.x"];
        let arches = [
            "amd64",
            "amd64",
            "i386",
            "arm64",
            "armhf",
            "hurd-i386",
            "kfreebsd-amd64",
        ];
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("debian")).unwrap();
        let control = dir.path().join("debian/control");
        std::fs::write(&control, "Source: x\n\nPackage: x\nArchitecture: any\n").unwrap();
        let mut rng = Lcg(20);
        for case in 0..80 {
            let arch = rng.pick(&arches);
            let active: Vec<String> = profiles
                .iter()
                .filter(|_| rng.next(3) == 0)
                .map(|p| p.to_string())
                .collect();
            // Off amd64 only missing packages are named: which of them are reported
            // shows which relations applied, whatever the host's packages are. Every name
            // is used once, so that no group implies another (dpkg leaves implied groups
            // out of its report).
            let mut unused: Vec<&str> = installed_names.to_vec();
            let mut serial = 0;
            let mut relation = |rng: &mut Lcg| {
                serial += 1;
                let name = if arch == "amd64" && !unused.is_empty() && rng.next(2) == 0 {
                    unused.remove(rng.next(unused.len())).to_string()
                } else {
                    format!("obsbox-missing-{serial}")
                };
                let mut text = name.clone();
                if rng.next(3) == 0 {
                    let base = installed
                        .get(name.as_str())
                        .cloned()
                        .unwrap_or_else(|| "1.0".into());
                    let version = match rng.next(5) {
                        0 => base,
                        1 => format!("{base}~"),
                        2 => format!("{base}+1"),
                        3 => "1:0".to_string(),
                        _ => "0.1".to_string(),
                    };
                    let op = rng.pick(&["<<", "<=", "=", ">=", ">>"]);
                    text.push_str(&format!(" ({op} {version})"));
                }
                if rng.next(2) == 0 {
                    let n = 1 + rng.next(3);
                    let list: Vec<String> = (0..n)
                        .map(|_| {
                            let neg = if rng.next(3) == 0 { "!" } else { "" };
                            format!("{neg}{}", rng.pick(&terms))
                        })
                        .collect();
                    text.push_str(&format!(" [{}]", list.join(" ")));
                }
                for _ in 0..rng.next(3) {
                    let n = 1 + rng.next(2);
                    let list: Vec<String> = (0..n)
                        .map(|_| {
                            let neg = if rng.next(2) == 0 { "!" } else { "" };
                            format!("{neg}{}", rng.pick(&profiles))
                        })
                        .collect();
                    text.push_str(&format!(" <{}>", list.join(" ")));
                }
                text
            };
            let depends: Vec<String> = (0..1 + rng.next(4))
                .map(|_| {
                    (0..1 + rng.next(3))
                        .map(|_| relation(&mut rng))
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .collect();
            let conflicts: Vec<String> = (0..rng.next(3)).map(|_| relation(&mut rng)).collect();
            let (depends, conflicts) = (depends.join(", "), conflicts.join(", "));

            let c = BuildContext {
                arch: arch.parse().unwrap(),
                profiles: active.clone(),
            };
            let show = |r: &BuildRelation| match &r.version {
                None => r.name.clone(),
                Some((op, v)) => format!("{} ({} {v})", r.name, op.text(crate::repo::Format::Deb)),
            };
            let holds = |r: &BuildRelation| {
                installed
                    .get(r.name.as_str())
                    .is_some_and(|have| match &r.version {
                        None => true,
                        Some((op, want)) => crate::repo::version::satisfies(
                            crate::repo::Format::Deb,
                            have,
                            *op,
                            want,
                        ),
                    })
            };
            let mut expected = Vec::new();
            let unmet: Vec<String> = parse_field(&depends, false)
                .unwrap()
                .into_iter()
                .map(|g| g.into_iter().filter(|r| c.applies(r)).collect::<Vec<_>>())
                .filter(|g| !g.is_empty() && !g.iter().any(holds))
                .map(|g| g.iter().map(show).collect::<Vec<_>>().join(" | "))
                .collect();
            if !unmet.is_empty() {
                expected.push(format!("Unmet build dependencies: {}", unmet.join(" ")));
            }
            let hit: Vec<String> = parse_field(&conflicts, true)
                .unwrap()
                .into_iter()
                .flatten()
                .filter(|r| c.applies(r) && holds(r))
                .map(|r| show(&r))
                .collect();
            if !hit.is_empty() {
                expected.push(format!("Build conflicts: {}", hit.join(" ")));
            }

            let mut cmd = std::process::Command::new("dpkg-checkbuilddeps");
            cmd.args(["-a", arch, "-d", &depends, "-c", &conflicts]);
            if !active.is_empty() {
                cmd.args(["-P", &active.join(",")]);
            }
            let out = cmd
                .arg(&control)
                .output()
                .expect("dpkg-checkbuilddeps runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let found: Vec<String> = stderr
                .lines()
                .filter_map(|l| l.strip_prefix("dpkg-checkbuilddeps: error: "))
                .map(str::to_string)
                .collect();
            assert_eq!(
                found, expected,
                "case {case}: -a {arch} -P {active:?} -d {depends:?} -c {conflicts:?}\n{stderr}"
            );
            assert_eq!(out.status.success(), expected.is_empty(), "case {case}");
        }
    }
}
