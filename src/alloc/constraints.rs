//! Build constraints as obsbox matches them, and where they come from: `_constraints` XML,
//! a project config's `Constraint:` lines, a recipe's `#!BuildConstraint:` lines and the
//! lines a job carries.
//!
//! They are read, merged and overwritten as current OBS does it, on OBS's own data shape
//! ([`super::obsdata`]); [`Sources::combine`] follows the dispatcher: the package's
//! `_constraints` get their `<overwrite>`s for the job's arch and package first, the
//! constraint lines (project config, then recipe) are built into one structure by
//! `list2struct`, and the package's constraints are merged over that (`mergeconstraints`).
//! Then [`Constraints`] holds what OBS's oracle looks at, values already read the way Perl
//! reads them (a `processors` of `3.5` asks for 4 of a worker's whole processors, `4G` is 4,
//! a size's unknown unit counts as MB, `exclude` means exclude only when it is `true`).

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Serialize;

use super::obsdata::{self, Map, Val, truthy};
use crate::model::Arch;
use crate::xmltree;

/// One job's constraints. Empty means "not constrained".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Constraints {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostlabel: Vec<Flagged>,
    /// Every sandbox constraint must hold (OBS keeps them all since PR 13471).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sandbox: Vec<Flagged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<LinuxC>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareC>,
    /// obsbox's soft constraints: they rank compliant workers instead of excluding any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<Preference>,
}

/// A soft constraint (obsbox's): a constraint line with an optional `weight=N`. A worker
/// that meets it scores its weight; the best-scoring compliant worker is chosen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preference {
    /// The line, as written (without `weight=`).
    pub line: String,
    /// 1 to 100 (the range of a Kubernetes preferred scheduling term); default 1.
    pub weight: u32,
    #[serde(skip)]
    pub constraints: Constraints,
}

/// Parses a soft constraint line: a constraint line with an optional `weight=N` attribute.
pub fn preference(line: &str) -> Result<Preference> {
    let mut weight = 1;
    let mut kept = Vec::new();
    for (i, w) in line.split_whitespace().enumerate() {
        if i > 0
            && let Some(v) = w.strip_prefix("weight=")
        {
            weight = v
                .parse()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| anyhow!("weight must be a whole number from 1 to 100, not {v:?}"))?;
            continue;
        }
        kept.push(w);
    }
    let line = kept.join(" ");
    if line.starts_with("prefer:") || line.starts_with("prefer=") {
        bail!("a preference cannot itself hold a preference");
    }
    let mut tree = Map::new();
    obsdata::list2struct_line(&mut tree, &line)?;
    Ok(Preference {
        constraints: Constraints::from_tree(&tree),
        line,
        weight,
    })
}

/// A hostlabel, sandbox or cpu flag constraint: OBS excludes only for `exclude="true"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flagged {
    pub value: String,
    pub exclude: bool,
}

/// `<linux>`: flavor, min and max are kept only when Perl calls them true (OBS checks
/// nothing else); `version` says a `<version>` element was there (the worker must then
/// report a version).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinuxC {
    pub flavor: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub version: bool,
}

/// `<hardware>`. Numbers are what a worker's whole numbers must reach: OBS compares Perl
/// numbers, so `3.5` processors fail a 3-processor worker and pass a 4-processor one, the
/// same as 4.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HardwareC {
    /// `Some` when a `<cpu>` element was given.
    pub cpu: Option<Vec<Flagged>>,
    pub processors: Option<u64>,
    pub jobs: Option<u64>,
    pub disk: Option<Size>,
    pub memory: Option<Size>,
    pub memoryperjob: Option<Size>,
    pub physicalmemory: Option<Size>,
}

/// `<size unit="G">4</size>` as OBS's `getmbsize` reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Size {
    pub value: f64,
    pub unit: Option<String>,
}

impl Size {
    /// OBS's `getmbsize`: no unit means bytes; K, G, T and P are powers of 1024 from MB;
    /// M and any other unit (`g`, `GB`) leave the number as MB.
    pub fn mb(&self) -> f64 {
        let k = 1024.0;
        let unit = self.unit.as_deref().filter(|u| truthy(u)).unwrap_or("B");
        match unit {
            "B" => self.value / (k * k),
            "K" => self.value / k,
            "G" => self.value * k,
            "T" => self.value * k * k,
            "P" => self.value * k * k * k,
            _ => self.value,
        }
    }
}

/// The least whole number a worker's count must exceed to fail `n > count`... put simply:
/// a worker's whole `count` fails `n > count` exactly when it fails `ceil(n) > count`.
fn count(s: &str) -> u64 {
    let n = crate::text::perl_num(s);
    if n.is_nan() || n <= 0.0 {
        0
    } else {
        n.ceil().min(u64::MAX as f64) as u64
    }
}

fn flagged(v: &Val) -> Option<Flagged> {
    let h = v.hash()?;
    Some(Flagged {
        value: h
            .get("_content")
            .and_then(Val::str)
            .unwrap_or("")
            .to_string(),
        exclude: h.get("exclude").and_then(Val::str) == Some("true"),
    })
}

fn flagged_list(m: &Map, key: &str) -> Vec<Flagged> {
    m.get(key)
        .map(Val::list)
        .unwrap_or(&[])
        .iter()
        .filter_map(flagged)
        .collect()
}

fn true_str(m: &Map, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Val::str)
        .filter(|s| truthy(s))
        .map(str::to_string)
}

impl Constraints {
    /// What OBS's oracle reads of a constraints structure.
    pub fn from_tree(m: &Map) -> Constraints {
        let mut c = Constraints {
            hostlabel: flagged_list(m, "hostlabel"),
            sandbox: flagged_list(m, "sandbox"),
            ..Constraints::default()
        };
        if let Some(l) = m.get("linux").and_then(Val::hash) {
            let v = l.get("version").and_then(Val::hash);
            c.linux = Some(LinuxC {
                flavor: true_str(l, "flavor"),
                min: v.and_then(|v| true_str(v, "min")),
                max: v.and_then(|v| true_str(v, "max")),
                version: v.is_some(),
            });
        }
        if let Some(h) = m.get("hardware").and_then(Val::hash) {
            let size = |key: &str| {
                let s = h.get(key)?.hash()?;
                let size = s.get("size").and_then(Val::hash);
                Some(Size {
                    value: size
                        .and_then(|z| z.get("_content"))
                        .and_then(Val::str)
                        .map_or(0.0, crate::text::perl_num),
                    unit: size
                        .and_then(|z| z.get("unit"))
                        .and_then(Val::str)
                        .map(str::to_string),
                })
            };
            c.hardware = Some(HardwareC {
                cpu: h
                    .get("cpu")
                    .and_then(Val::hash)
                    .map(|cpu| flagged_list(cpu, "flag")),
                processors: h.get("processors").and_then(Val::str).map(count),
                jobs: h.get("jobs").and_then(Val::str).map(count),
                disk: size("disk"),
                memory: size("memory"),
                memoryperjob: size("memoryperjob"),
                physicalmemory: size("physicalmemory"),
            });
        }
        c
    }
}

// ---------------------------------------------------------------------------------------
// Sources

/// A constraint line and where it was read, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub text: String,
    /// `FILE: line N` or `FILE: constraint N`.
    pub origin: String,
}

/// Everything one job's constraints are made of, before OBS combines them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// Constraint lines in OBS's order: the project config's, then the recipe's.
    pub lines: Vec<Line>,
    /// The package's `_constraints` (several files are merged in order).
    pub package: Option<Map>,
    /// obsbox's soft constraints.
    pub prefer: Vec<Preference>,
}

impl Sources {
    /// Adds another source after these (lines after lines, a `_constraints` merged over an
    /// earlier one).
    pub fn add(&mut self, other: Sources) {
        self.lines.extend(other.lines);
        self.prefer.extend(other.prefer);
        if let Some(p) = other.package {
            match &mut self.package {
                Some(mine) => obsdata::merge(mine, &p),
                None => self.package = Some(p),
            }
        }
    }

    /// The constraints OBS's dispatcher checks a worker against, for a job of `arch` and
    /// `package` (the `<overwrite>` conditions): the package's constraints with their
    /// overwrites, merged over the constraint lines built into one structure.
    pub fn combine(&self, arch: Option<&Arch>, package: Option<&str>) -> Result<Constraints> {
        let pkg = self
            .package
            .as_ref()
            .map(|p| obsdata::apply_overwrites(p, arch, package));
        let tree = if self.lines.is_empty() {
            pkg.unwrap_or_default()
        } else {
            let mut tree = Map::new();
            for l in &self.lines {
                obsdata::list2struct_line(&mut tree, &l.text)
                    .map_err(|e| anyhow!("{}: {}", l.origin, obsdata::line_error(&l.text, e)))?;
            }
            if let Some(p) = &pkg {
                obsdata::merge(&mut tree, p);
            }
            tree
        };
        let mut c = Constraints::from_tree(&tree);
        c.prefer = self.prefer.clone();
        Ok(c)
    }

    /// Checks that the lines build (OBS refuses the whole job otherwise), so that a bad line
    /// is reported where it is read.
    pub fn validate(&self) -> Result<()> {
        self.combine(None, None).map(|_| ())
    }
}

/// Reads a `_constraints` document; errors name `file`, the line and the element.
pub fn from_xml(xml: &[u8], file: &str) -> Result<Sources> {
    let root = xmltree::parse(xml, file)?;
    if root.name != "constraints" {
        bail!(
            "{file}: the root element is <{}>, not <constraints>",
            root.name
        );
    }
    let err = |el: &xmltree::Element, msg: String| {
        anyhow!("{file}: line {}: <{}>: {msg}", el.line, el.name)
    };
    let tree = obsdata::from_element(&root, &obsdata::CONSTRAINTS, &err)?;
    Ok(Sources {
        package: Some(tree),
        ..Sources::default()
    })
}

/// obsbox's comment line for a soft constraint in a project config or recipe: OBS's config
/// reader and recipe parsers skip comments, so the file stays valid for OBS.
pub const PREFER_COMMENT: &str = "#!ObsboxPrefer:";

/// Takes a preference line or refuses obsbox's `prefer:` syntax where OBS would read it.
fn obs_line(text: &str, origin: String, out: &mut Sources, key: &str) -> Result<()> {
    let t = text.trim();
    if t.starts_with("prefer:") || t.starts_with("prefer=") {
        bail!(
            "{origin}: `{key} {t}`: upstream OBS refuses this line (list2struct: unknown element: prefer) and with it the job; write obsbox's preference as `{PREFER_COMMENT} {}`",
            t.trim_start_matches("prefer:")
        );
    }
    out.lines.push(Line {
        text: t.to_string(),
        origin,
    });
    Ok(())
}

fn prefer_comment(text: &str, origin: &str, out: &mut Sources) -> Result<()> {
    out.prefer.push(
        preference(text)
            .map_err(|e| anyhow!("{origin}: {PREFER_COMMENT} {}: {e:#}", text.trim()))?,
    );
    Ok(())
}

/// A project config's constraints for a job of `arch`, as OBS's config reader gives them:
/// conditionals and macros evaluated for the arch, `Constraint:` lines (key case-insensitive;
/// `Constraint: !*` drops the ones before), and obsbox's `#!ObsboxPrefer:` comments.
pub fn from_prjconf(text: &str, file: &str, arch: Option<&Arch>) -> Result<Sources> {
    read_lines(text, file, arch, |line, origin, out| {
        let Some((key, rest)) = line.trim_start().split_once(':') else {
            return Ok(());
        };
        if key.contains(char::is_whitespace) || !key.eq_ignore_ascii_case("constraint") {
            return Ok(());
        }
        let words = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        if words == "!*" {
            out.lines.clear();
        } else if !words.is_empty() {
            obs_line(&words, origin, out, "Constraint:")?;
        }
        Ok(())
    })
}

/// A recipe's `#!BuildConstraint:` lines (spec, Dockerfile, kiwi…) and `#!ObsboxPrefer:`
/// comments, conditionals evaluated for `arch`.
pub fn from_spec(text: &str, file: &str, arch: Option<&Arch>) -> Result<Sources> {
    read_lines(text, file, arch, |line, origin, out| {
        if let Some(rest) = strip_prefix_ci(line.trim_start(), "#!BuildConstraint:") {
            obs_line(rest, origin, out, "#!BuildConstraint:")?;
        }
        Ok(())
    })
}

/// The constraints of `text` (named `file` in errors) for `arch`: its lines as obs-build's
/// reader leaves them, `#!ObsboxPrefer:` comments taken here, every other line given to
/// `each` with its origin.
fn read_lines(
    text: &str,
    file: &str,
    arch: Option<&Arch>,
    mut each: impl FnMut(&str, String, &mut Sources) -> Result<()>,
) -> Result<Sources> {
    let mut out = Sources::default();
    for (n, line) in crate::repo::spec_deps::config_lines(text, arch.map_or("noarch", Arch::as_str))
        .with_context(|| file.to_string())?
    {
        let origin = format!("{file}: line {n}");
        match line.strip_prefix(PREFER_COMMENT) {
            Some(rest) => prefer_comment(rest, &origin, &mut out)?,
            None => each(&line, origin, &mut out)?,
        }
    }
    out.validate()?;
    Ok(out)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Constraint lines as a job carries them (buildinfo `<prjconfconstraint>`/`<constraint>`,
/// job.toml `constraints`), or a file of bare lines; errors name `file` and the line's
/// number. Here obsbox's `prefer:LINE [weight=N]` adds a soft constraint and `prefer=` drops
/// those given so far.
pub fn from_list(lines: &[String], file: &str) -> Result<Sources> {
    let mut out = Sources::default();
    for (n, line) in lines.iter().enumerate() {
        let origin = format!("{file}: constraint {}", n + 1);
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("prefer:") {
            out.prefer
                .push(preference(rest).map_err(|e| anyhow!("{origin}: prefer: {e:#}"))?);
        } else if t.split_whitespace().next() == Some("prefer=") {
            if t.split_whitespace().count() > 1 {
                bail!("{origin}: prefer=: removing takes no value");
            }
            out.prefer.clear();
        } else if !t.is_empty() {
            out.lines.push(Line {
                text: t.to_string(),
                origin,
            });
        }
    }
    out.validate()?;
    Ok(out)
}

/// A file of bare constraint lines (`hardware:processors 8`, one a line, as a buildinfo's
/// `<prjconfconstraint>` holds them); empty lines and `#` comments are skipped.
pub fn from_bare_lines(text: &str, file: &str) -> Result<Sources> {
    let mut out = Sources::default();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.lines.push(Line {
            text: t.to_string(),
            origin: format!("{file}: line {}", n + 1),
        });
    }
    out.validate()?;
    Ok(out)
}

/// OBS's secure sandboxes (BSConfig's default `secure_sandboxes`): what `<sandbox>secure`
/// accepts.
pub const SECURE_SANDBOXES: [&str; 3] = ["xen", "kvm", "zvm"];

/// The largest constraints source read: OBS's `_constraints` are a few kilobytes, project
/// configs and specs rarely a megabyte; a 4 MiB XML document is read into at most ≈ 150 MB.
pub const MAX_SOURCE: u64 = 4 << 20;

/// Reads a constraints file by its kind: `*.spec` and `Dockerfile` by their
/// `#!BuildConstraint:` lines, a project config (`_config`, `prjconf`, `*.prjconf`,
/// `*.conf`) as OBS reads it for `arch`, an XML document (starting with `<`) as
/// `_constraints`, anything else as bare constraint lines.
pub fn load(path: &std::path::Path, arch: Option<&Arch>) -> Result<Sources> {
    let file = path.display().to_string();
    let Some(bytes) = std::fs::File::open(path)
        .and_then(|f| crate::io::read_at_most(f, MAX_SOURCE))
        .with_context(|| format!("cannot read {file}"))?
    else {
        bail!(
            "{file}: larger than {} MiB (no constraints source is nearly as large)",
            MAX_SOURCE >> 20
        );
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text =
        || String::from_utf8(bytes.clone()).with_context(|| format!("{file}: not UTF-8 text"));
    if name.ends_with(".spec") || name == "Dockerfile" {
        from_spec(&text()?, &file, arch)
    } else if name == "_config"
        || name == "prjconf"
        || name.ends_with(".prjconf")
        || name.ends_with(".conf")
    {
        from_prjconf(&text()?, &file, arch)
    } else if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        from_xml(&bytes, &file)
    } else {
        from_bare_lines(&text()?, &file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constraints_source_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_constraints");
        std::fs::write(&path, "<a/>".repeat(2 << 20)).unwrap();
        let e = format!("{:#}", load(&path, None).unwrap_err());
        assert!(e.contains("_constraints: larger than 4 MiB"), "{e}");
    }
}
