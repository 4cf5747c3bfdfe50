//! The native `job.toml`, for building with obsbox outside OBS.
//!
//! ```toml
//! package = "hello-obsbox"
//! arch = "amd64"
//! recipe = "hello-obsbox_1.0.dsc"
//! repos = ["http://127.0.0.1:8000/deb-repo bookworm main"]
//! preinstall = ["dash", "coreutils"]
//! packages = ["build-essential"]
//! # crossarch = "arm64"; sysroot = ["libc6-dev"]     # a sysroot cross build
//!
//! constraints = ["hardware:disk:size unit=G 10"]   # for `obsbox allocate --job`
//! build_profiles = ["nocheck"]                     # DEB_BUILD_PROFILES of a Debian build
//!
//! [[check]]
//! name = "contents"
//! run = ["sh", "-c", "ls -l /results"]
//! ```
//!
//! Unknown keys are errors (a misspelt key would otherwise be silently ignored). Relative
//! paths (`sources`, local repositories) are relative to the job file's directory, so a job
//! directory can be moved or checked out anywhere.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use super::{Bdep, Check, Job, RepoRef, base_dir, job_id};
use crate::model::Arch;
use crate::repo::source::Source;

/// Reads the job file at `path`.
pub fn load(path: &Path) -> Result<Job> {
    parse(&super::read_job_text(path)?, path)
}

/// Parses job.toml `text`; `path` names the file in errors and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Job> {
    let file = path.display();
    let raw: JobFile = toml::from_str(text).map_err(|e| {
        // toml's own rendering spans several lines (with a source excerpt); one line with
        // the position is enough to find the mistake.
        let msg = e.message().trim_end();
        // A span over the whole document (a missing top-level key) has no useful line.
        let whole = |s: &std::ops::Range<usize>| {
            s.start == 0
                && text
                    .get(s.clone())
                    .is_some_and(|t| t.trim_end().contains('\n'))
        };
        match e.span().filter(|s| !whole(s)) {
            Some(span) => {
                let before = text.get(..span.start).unwrap_or(text);
                let line = 1 + before.matches('\n').count();
                anyhow!("{file}: line {line}: {msg}")
            }
            None => anyhow!("{file}: {msg}"),
        }
    })?;
    let job = raw.into_job(path).with_context(|| file.to_string())?;
    super::names::check_job(&job).with_context(|| file.to_string())?;
    Ok(job)
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    project: Option<String>,
    repository: Option<String>,
    package: String,
    arch: Arch,
    hostarch: Option<Arch>,
    recipe: String,
    sources: Option<PathBuf>,
    release: Option<String>,
    #[serde(default)]
    jobs: u32,
    #[serde(default)]
    memory: Memory,
    repos: Vec<String>,
    toolbox_repos: Option<Vec<String>>,
    #[serde(default)]
    preinstall: Vec<String>,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    toolbox: Vec<String>,
    /// A sysroot cross build (OBS `crossarch`): the buildroot is of `hostarch`, and the
    /// `sysroot` packages, of this arch, are unpacked into its cross sysroot.
    crossarch: Option<Arch>,
    #[serde(default)]
    sysroot: Vec<String>,
    #[serde(default)]
    check: Vec<CheckFile>,
    rpm_target: Option<String>,
    /// rpm macro lines (`%name value`, as a project config's `Macros:` section): for
    /// rpmbuild and for reading the spec's build dependencies.
    rpm_macros: Option<String>,
    /// Constraint lines (prjconf `Constraint:` syntax) for `obsbox allocate --job`.
    #[serde(default)]
    constraints: Vec<String>,
    /// Debian build profiles to activate (`DEB_BUILD_PROFILES`), e.g. `["nocheck"]`.
    #[serde(default)]
    build_profiles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    name: String,
    run: Vec<String>,
    #[serde(default)]
    gating: bool,
}

impl JobFile {
    fn into_job(self, path: &Path) -> Result<Job> {
        let dir = base_dir(path);
        let name = |v: Option<String>, key: &str| -> Result<String> {
            match v {
                None => Ok("local".to_string()),
                Some(v) => non_empty(v, key),
            }
        };
        let project = name(self.project, "project")?;
        let repository = name(self.repository, "repository")?;
        let package = non_empty(self.package, "package")?;
        let arch = self.arch;
        let target = arch.deb().context("arch")?;
        let hostarch = match self.hostarch {
            Some(h) => h,
            None => Arch::native()
                .deb()
                .context("hostarch: this machine's architecture")?
                .parse()?,
        };
        let host = hostarch.deb().context("hostarch")?;
        let crossarch = match self.crossarch {
            Some(c) => {
                c.deb().context("crossarch")?;
                if self.sysroot.is_empty() {
                    bail!("crossarch {c} without sysroot packages: list them in sysroot");
                }
                Some(c)
            }
            None if !self.sysroot.is_empty() => {
                bail!("sysroot packages without crossarch: say which arch they are of")
            }
            None => None,
        };
        let recipe = non_empty(self.recipe, "recipe")?;
        let sources = match self.sources {
            Some(s) if s.as_os_str().is_empty() => bail!("sources is empty"),
            Some(s) => dir.join(s),
            None => dir.clone(),
        };
        check_recipe(&recipe, &sources)?;
        if self.repos.is_empty() {
            bail!("repos is empty: give at least one buildroot repository");
        }
        let repos = repo_refs(self.repos, &dir, "repos")?;
        let toolbox_repos = match self.toolbox_repos {
            Some(r) if r.is_empty() => bail!("toolbox_repos is empty"),
            Some(r) => repo_refs(r, &dir, "toolbox_repos")?,
            // The toolbox runs natively: the buildroot's repositories serve it only when
            // they hold packages of the host's arch (as they do for a sysroot build, whose
            // buildroot is of the host's arch).
            None if host == target || crossarch.is_some() => repos.clone(),
            None => bail!(
                "toolbox_repos is missing: the target arch {arch} is not the host arch \
                 {hostarch}, so the toolbox needs repositories of {hostarch}"
            ),
        };
        // Names are looked up in sets, not scanned for: a list may hold 100,000 of them.
        let mut bdeps: Vec<Bdep> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (list, preinstall) in [(self.preinstall, true), (self.packages, false)] {
            let key = if preinstall { "preinstall" } else { "packages" };
            for p in list {
                let p = non_empty(p, key)?;
                if !names.insert(p.clone()) {
                    bail!(
                        "{key}: package `{p}` is listed twice (preinstall and packages together)"
                    );
                }
                bdeps.push(Bdep {
                    name: p,
                    preinstall,
                    ..Bdep::default()
                });
            }
        }
        let mut sysroot_names: HashSet<String> = HashSet::new();
        for p in self.sysroot {
            let p = non_empty(p, "sysroot")?;
            if !sysroot_names.insert(p.clone()) {
                bail!("sysroot: package `{p}` is listed twice");
            }
            bdeps.push(Bdep {
                name: p,
                sysroot: true,
                ..Bdep::default()
            });
        }
        let mut toolbox: Vec<String> = Vec::new();
        let mut toolbox_names: HashSet<String> = HashSet::new();
        for p in self.toolbox {
            let p = non_empty(p, "toolbox")?;
            if !toolbox_names.insert(p.clone()) {
                bail!("toolbox: package `{p}` is listed twice");
            }
            toolbox.push(p);
        }
        let mut checks: Vec<Check> = Vec::new();
        let mut check_names: HashSet<String> = HashSet::new();
        for (i, c) in self.check.into_iter().enumerate() {
            let name = non_empty(c.name, &format!("check number {}: name", i + 1))?;
            if !check_names.insert(name.clone()) {
                bail!("check `{name}` is defined twice");
            }
            if c.run.first().is_none_or(|a| a.is_empty()) {
                bail!("check `{name}`: run must start with a command");
            }
            checks.push(Check {
                name,
                run: c.run,
                gating: c.gating,
            });
        }
        Ok(Job {
            id: job_id(&project, &repository, &package, &arch),
            project,
            repository,
            package,
            arch,
            hostarch: Some(hostarch),
            crossarch,
            recipe,
            sources,
            release: self.release.map(|r| non_empty(r, "release")).transpose()?,
            bdeps,
            repos,
            toolbox_repos,
            toolbox,
            constraints: self
                .constraints
                .into_iter()
                .map(|c| non_empty(c, "constraints"))
                .collect::<Result<_>>()?,
            jobs: self.jobs,
            memory: self.memory.0,
            checks,
            rpm_target: self
                .rpm_target
                .map(|t| non_empty(t, "rpm_target"))
                .transpose()?
                .unwrap_or_default(),
            rpm_macros: self.rpm_macros.unwrap_or_default(),
            expanded: false,
            build_profiles: crate::repo::build_deps::parse_profiles(&self.build_profiles.join(" "))
                .context("build_profiles")?,
            dsc_build_cmd: String::new(),
        })
    }
}

fn non_empty(v: String, key: &str) -> Result<String> {
    let t = v.trim();
    if t.is_empty() {
        bail!("{key}: empty value");
    }
    Ok(t.to_string())
}

/// A recipe is a `.spec`, a `.dsc`, or a source tree with `debian/`; only the tree can be
/// recognised without reading it, so only the tree is looked at here.
fn check_recipe(recipe: &str, sources: &Path) -> Result<()> {
    if recipe.ends_with(".spec") || recipe.ends_with(".dsc") {
        return Ok(());
    }
    let tree = sources.join(recipe);
    if tree.join("debian").is_dir() {
        return Ok(());
    }
    bail!(
        "recipe `{recipe}`: not a .spec, a .dsc, or a directory with debian/ ({} has none)",
        tree.display()
    )
}

/// Repository arguments as `obsbox rootfs create --repo` takes them, checked now (so a typo
/// fails before anything is fetched), with a relative local base made relative to `dir`.
fn repo_refs(specs: Vec<String>, dir: &Path, key: &str) -> Result<Vec<RepoRef>> {
    specs
        .into_iter()
        .map(|spec| {
            Source::parse(&spec).with_context(|| key.to_string())?;
            let mut words = spec.split_whitespace();
            let base = words.next().unwrap_or_default();
            let url = if base.contains("://") || Path::new(base).is_absolute() {
                spec.trim().to_string()
            } else {
                std::iter::once(dir.join(base).display().to_string())
                    .chain(words.map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            Ok(RepoRef {
                url,
                ..RepoRef::default()
            })
        })
        .collect()
}

/// `memory`: bytes, as an integer or a string with a K/M/G/T suffix (powers of 1024).
#[derive(Debug, Default)]
struct Memory(u64);

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Memory, D::Error> {
        d.deserialize_any(MemoryVisitor)
    }
}

struct MemoryVisitor;

impl serde::de::Visitor<'_> for MemoryVisitor {
    type Value = Memory;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a memory size: bytes, or a string like \"4G\" (K, M, G or T)")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Memory, E> {
        Ok(Memory(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Memory, E> {
        u64::try_from(v)
            .map(Memory)
            .map_err(|_| E::custom(format!("memory: {v} is negative")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Memory, E> {
        parse_size(v)
            .map(Memory)
            .map_err(|e| E::custom(format!("memory: {e}")))
    }
}

/// `4G` → 4 GiB in bytes; a bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let number_part = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if number_part.is_empty() || !number_part.bytes().all(|b| b.is_ascii_digit()) {
        bail!("`{s}` is not a size (bytes, or a number with K, M, G or T)");
    }
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => bail!("`{s}`: unknown unit `{c}` (use K, M, G or T)"),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow!("`{s}` is not a size (bytes, or a number with K, M, G or T)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| anyhow!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size(" 2t ").unwrap(), 2 << 40);
        assert_eq!(parse_size("1m").unwrap(), 1 << 20);
        for bad in ["", "G", "4X", "4.5G", "-1", "4 G B", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    fn parse_str(text: &str) -> Result<Job> {
        parse(text, Path::new("/jobs/hello/job.toml"))
    }

    const MINIMAL: &str = r#"
package = "hello"
arch = "amd64"
hostarch = "x86_64"
recipe = "hello.dsc"
repos = ["http://127.0.0.1:8000/deb bookworm main", "local-debs"]
"#;

    #[test]
    fn long_package_lists_are_looked_up_not_scanned() {
        // 60,000 packages, sysroot and toolbox packages: a scan of the list per name took
        // seconds in a debug build (100,000 of them took minutes).
        let names: Vec<String> = (0..60_000).map(|i| format!("\"p{i}\"")).collect();
        let list = names.join(", ");
        let text = format!(
            "{MINIMAL}packages = [{list}]\ntoolbox = [{list}]\nsysroot = [{list}]\n\
             crossarch = \"arm64\"\n"
        );
        let started = std::time::Instant::now();
        let job = parse_str(&text).unwrap();
        let took = started.elapsed();
        assert_eq!((job.bdeps.len(), job.toolbox.len()), (120_000, 60_000));
        assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    }

    #[test]
    fn minimal() {
        let job = parse_str(MINIMAL).unwrap();
        assert_eq!(job.id, "local/local/hello/amd64");
        assert_eq!(job.sources, Path::new("/jobs/hello"));
        assert_eq!(job.repos[0].url, "http://127.0.0.1:8000/deb bookworm main");
        assert_eq!(job.repos[1].url, "/jobs/hello/local-debs");
        // Same arch (in either naming): the toolbox shares the buildroot's repositories.
        assert_eq!(job.toolbox_repos, job.repos);
        assert_eq!((job.jobs, job.memory), (0, 0));
    }

    #[test]
    fn arches_are_checked_names() {
        let e = format!(
            "{:#}",
            parse_str(&MINIMAL.replace("\"amd64\"", "\"amd 64\"")).unwrap_err()
        );
        assert!(
            e.contains("line 3: Architecture \"amd 64\" is not an architecture name"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            parse_str(&MINIMAL.replace("\"x86_64\"", "\"\"")).unwrap_err()
        );
        assert!(e.contains("line 4: Architecture is empty"), "{e}");
        let e = format!(
            "{:#}",
            parse_str(&format!("{MINIMAL}crossarch = \"/arm64\"\n")).unwrap_err()
        );
        assert!(e.contains("line 7: Architecture \"/arm64\""), "{e}");
    }

    #[test]
    fn memory_forms() {
        let with = |m: &str| parse_str(&format!("{MINIMAL}memory = {m}\n")).map(|j| j.memory);
        assert_eq!(with("\"4G\"").unwrap(), 4 << 30);
        assert_eq!(with("1048576").unwrap(), 1 << 20);
        assert_eq!(with("0").unwrap(), 0);
        let e = format!("{:#}", with("\"4X\"").unwrap_err());
        assert!(
            e.starts_with("/jobs/hello/job.toml: line 7: memory: `4X`"),
            "{e}"
        );
        let e = format!("{:#}", with("-1").unwrap_err());
        assert!(e.contains("memory: -1 is negative"), "{e}");
        let e = format!("{:#}", with("true").unwrap_err());
        assert!(e.contains("expected a memory size"), "{e}");
    }

    #[test]
    fn errors() {
        let cases = [
            (
                format!("{MINIMAL}colour = 1\n"),
                "line 7: unknown field `colour`",
            ),
            (
                MINIMAL.replace("package = \"hello\"", ""),
                "missing field `package`",
            ),
            (
                MINIMAL.replace("\"amd64\"", "64"),
                "line 3: invalid type: integer `64`",
            ),
            (
                MINIMAL.replace("\"amd64\"", "\"vax\""),
                "arch: unknown architecture `vax`",
            ),
            (
                MINIMAL.replace("\"x86_64\"", "\"arm64\""),
                "toolbox_repos is missing",
            ),
            (
                MINIMAL.replace("hello.dsc", "hello"),
                "recipe `hello`: not a .spec",
            ),
            (
                MINIMAL.replace("\"local-debs\"", "\"ftp://x\""),
                "repos: repository `ftp://x`",
            ),
            (format!("{MINIMAL}repos = []\n"), "duplicate key"),
            (
                MINIMAL
                    .replace(", \"local-debs\"]", "]")
                    .replace("[\"http://127.0.0.1:8000/deb bookworm main\"]", "[]"),
                "repos is empty",
            ),
            (
                format!("{MINIMAL}jobs = -2\n"),
                "line 7: invalid value: integer `-2`",
            ),
            (
                format!("{MINIMAL}packages = [\"a\", \"a\"]\n"),
                "package `a` is listed twice",
            ),
            (
                format!("{MINIMAL}[[check]]\nname = \"x\"\nrun = []\n"),
                "check `x`: run must start",
            ),
            (
                format!("{MINIMAL}[[check]]\nname = \"x\"\nrun = [\"true\"]\nwhen = 1\n"),
                "unknown field `when`",
            ),
            (
                format!("{MINIMAL}project = \" \"\n"),
                "project: empty value",
            ),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", parse_str(&text).unwrap_err());
            assert!(e.starts_with("/jobs/hello/job.toml: "), "{e}");
            assert!(e.contains(want), "want `{want}` in: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
