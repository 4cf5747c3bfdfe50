//! Build constraints: the `_constraints` XML, prjconf `Constraint:` lines and spec
//! `#!BuildConstraint:` lines, their merge and the `<overwrite>` conditions.
//!
//! The model follows OBS's `BSXML::constraints`; merging and overwriting follow
//! `BSDispatcher::Constraints` (`mergeconstraints`, `overwriteconstraints`); the line syntax
//! follows its `list2struct` (a colon path, `key=value` attributes, then the content).

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::xmltree::{self, Element};

/// One job's constraints. `None`/empty means "not constrained".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Constraints {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostlabel: Vec<Flagged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<LinuxC>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareC>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overwrite: Vec<Overwrite>,
    /// obsbox's soft constraints: they rank compliant workers instead of excluding any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<Preference>,
}

/// A soft constraint: a `prefer:` constraint line (`prefer:hostlabel weight=5 ssd`). A
/// worker that meets it scores its weight; the best-scoring compliant worker is chosen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preference {
    /// The line after `prefer:`, as written.
    pub line: String,
    /// 1 to 100 (the range of a Kubernetes preferred scheduling term); default 1.
    pub weight: u32,
    #[serde(skip)]
    pub constraints: Constraints,
}

/// Parses a soft constraint line (what follows `prefer:`): a constraint line with an optional
/// `weight=N` attribute.
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
    let mut constraints = Constraints::default();
    apply_line(&mut constraints, &kept.join(" "))?;
    if !constraints.prefer.is_empty() || !constraints.overwrite.is_empty() {
        bail!("a preference cannot itself hold a preference");
    }
    Ok(Preference {
        line: kept.join(" "),
        weight,
        constraints,
    })
}

/// A value with OBS's `exclude="true"` attribute (hostlabel, cpu flag).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flagged {
    pub value: String,
    pub exclude: bool,
}

/// `exclude` is `None` when the attribute is absent: an overwrite replaces only what it sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sandbox {
    pub value: String,
    pub exclude: Option<bool>,
}

impl Sandbox {
    pub fn excluded(&self) -> bool {
        self.exclude == Some(true)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinuxC {
    pub flavor: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
    /// Whether a `<version>` element was given: OBS then needs the worker to report one.
    pub version: bool,
}

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

/// `<size unit="G">4</size>`. The unit stays optional so that an overwrite that gives only a
/// number keeps the unit it overwrites, as OBS's element-wise overwrite does.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Size {
    pub value: f64,
    pub unit: Option<String>,
}

impl Size {
    /// OBS's `getmbsize`: a missing unit means bytes (B); K, M, G, T and P are powers of 1024.
    pub fn mb(&self) -> f64 {
        let k = 1024.0;
        match self.unit.as_deref().unwrap_or("B") {
            "B" => self.value / (k * k),
            "K" => self.value / k,
            "G" => self.value * k,
            "T" => self.value * k * k,
            "P" => self.value * k * k * k,
            _ => self.value,
        }
    }
}

/// `<overwrite>`: constraints that replace the others when all its conditions hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Overwrite {
    /// `false` when the element has no `<conditions>`: OBS then ignores the overwrite.
    pub has_conditions: bool,
    pub arch: Vec<String>,
    pub package: Vec<String>,
    pub body: Constraints,
}

const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];

// ---------------------------------------------------------------------------------------
// _constraints XML

/// Parses a `_constraints` document; errors name `file`, the line and the element.
pub fn from_xml(xml: &[u8], file: &str) -> Result<Constraints> {
    let root = xmltree::parse(xml, file)?;
    if root.name != "constraints" {
        bail!(
            "{file}: the root element is <{}>, not <constraints>",
            root.name
        );
    }
    let err = |el: &Element, msg: &str| anyhow!("{file}: line {}: <{}>: {msg}", el.line, el.name);
    read_body(&root, true, &err)
}

type ErrFn<'a> = dyn Fn(&Element, &str) -> anyhow::Error + 'a;

fn read_body(el: &Element, top: bool, err: &ErrFn<'_>) -> Result<Constraints> {
    let mut c = Constraints::default();
    for e in &el.children {
        match e.name.as_str() {
            "hostlabel" => c.hostlabel.push(Flagged {
                value: nonempty(e, err)?,
                exclude: exclude_attr(e, err)?.unwrap_or(false),
            }),
            "sandbox" => {
                if c.sandbox.is_some() {
                    return Err(err(e, "only one <sandbox> is allowed"));
                }
                c.sandbox = Some(Sandbox {
                    value: nonempty(e, err)?,
                    exclude: exclude_attr(e, err)?,
                });
            }
            "linux" => {
                let mut l = LinuxC::default();
                for x in &e.children {
                    match x.name.as_str() {
                        "flavor" => l.flavor = Some(nonempty(x, err)?),
                        "version" => {
                            l.version = true;
                            for v in &x.children {
                                match v.name.as_str() {
                                    "min" => l.min = Some(nonempty(v, err)?),
                                    "max" => l.max = Some(nonempty(v, err)?),
                                    _ => return Err(err(v, "unknown element in <version>")),
                                }
                            }
                        }
                        _ => return Err(err(x, "unknown element in <linux>")),
                    }
                }
                c.linux = Some(l);
            }
            "hardware" => {
                let mut h = HardwareC::default();
                for x in &e.children {
                    match x.name.as_str() {
                        "cpu" => {
                            let mut flags = Vec::new();
                            for f in &x.children {
                                if f.name != "flag" {
                                    return Err(err(f, "unknown element in <cpu>"));
                                }
                                flags.push(Flagged {
                                    value: nonempty(f, err)?,
                                    exclude: exclude_attr(f, err)?.unwrap_or(false),
                                });
                            }
                            h.cpu = Some(flags);
                        }
                        "processors" => h.processors = Some(count(x, err)?),
                        "jobs" => h.jobs = Some(count(x, err)?),
                        "disk" => h.disk = Some(size_el(x, err)?),
                        "memory" => h.memory = Some(size_el(x, err)?),
                        "memoryperjob" => h.memoryperjob = Some(size_el(x, err)?),
                        "physicalmemory" => h.physicalmemory = Some(size_el(x, err)?),
                        _ => return Err(err(x, "unknown element in <hardware>")),
                    }
                }
                c.hardware = Some(h);
            }
            "overwrite" if top => {
                let mut o = Overwrite::default();
                if let Some(cond) = e.child("conditions") {
                    o.has_conditions = true;
                    for x in &cond.children {
                        match x.name.as_str() {
                            "arch" => o.arch.push(nonempty(x, err)?),
                            "package" => o.package.push(nonempty(x, err)?),
                            _ => return Err(err(x, "unknown element in <conditions>")),
                        }
                    }
                }
                let mut without = e.clone();
                without.children.retain(|x| x.name != "conditions");
                o.body = read_body(&without, false, err)?;
                c.overwrite.push(o);
            }
            _ => {
                let what = if top { "<constraints>" } else { "<overwrite>" };
                return Err(err(e, &format!("unknown element in {what}")));
            }
        }
    }
    Ok(c)
}

fn nonempty(e: &Element, err: &ErrFn<'_>) -> Result<String> {
    if e.text.is_empty() {
        return Err(err(e, "is empty"));
    }
    Ok(e.text.clone())
}

fn exclude_attr(e: &Element, err: &ErrFn<'_>) -> Result<Option<bool>> {
    match e.attr("exclude") {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(v) => Err(err(e, &format!("exclude must be true or false, not {v:?}"))),
    }
}

fn count(e: &Element, err: &ErrFn<'_>) -> Result<u64> {
    e.text
        .parse()
        .map_err(|_| err(e, &format!("not a number: {:?}", e.text)))
}

fn size_el(e: &Element, err: &ErrFn<'_>) -> Result<Size> {
    let Some(s) = e.child("size") else {
        return Err(err(e, "has no <size>"));
    };
    if let Some(x) = e.children.iter().find(|x| x.name != "size") {
        return Err(err(x, &format!("unknown element in <{}>", e.name)));
    }
    size(&s.text, s.attr("unit")).map_err(|m| err(s, &m))
}

fn size(value: &str, unit: Option<&str>) -> std::result::Result<Size, String> {
    let v: f64 = value
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("not a size: {value:?}"))?;
    if let Some(u) = unit
        && !UNITS.contains(&u)
    {
        return Err(format!("unknown unit {u:?} (use B, K, M, G, T or P)"));
    }
    Ok(Size {
        value: v,
        unit: unit.map(str::to_string),
    })
}

// ---------------------------------------------------------------------------------------
// Constraint lines

/// The `Constraint:` lines of a project config (the key is case-insensitive, as in OBS's
/// config reader). Conditionals (`%if`) are not evaluated: every line counts.
pub fn from_prjconf(text: &str, file: &str) -> Result<Constraints> {
    from_lines(text, file, |line| {
        let (key, rest) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case("constraint")
            .then_some(rest)
    })
}

/// The `#!BuildConstraint:` lines of a spec file (or Dockerfile, kiwi description…).
pub fn from_spec(text: &str, file: &str) -> Result<Constraints> {
    from_lines(text, file, |line| line.strip_prefix("#!BuildConstraint:"))
}

/// Constraint lines as a job carries them (buildinfo `<prjconfconstraint>`/`<constraint>`,
/// job.toml `constraints`), applied in order; errors name `file` and the line's number in the
/// list.
pub fn from_list(lines: &[String], file: &str) -> Result<Constraints> {
    let mut c = Constraints::default();
    for (n, line) in lines.iter().enumerate() {
        apply_line(&mut c, line).map_err(|e| anyhow!("{file}: constraint {}: {e}", n + 1))?;
    }
    Ok(c)
}

fn from_lines(
    text: &str,
    file: &str,
    select: impl Fn(&str) -> Option<&str>,
) -> Result<Constraints> {
    let mut c = Constraints::default();
    for (n, line) in text.lines().enumerate() {
        if let Some(rest) = select(line.trim_start()) {
            apply_line(&mut c, rest).map_err(|e| anyhow!("{file}: line {}: {e}", n + 1))?;
        }
    }
    Ok(c)
}

/// Applies one line the way `list2struct` does: `hostlabel` and `hardware:cpu:flag` add one
/// entry per word (all with the line's attributes); other leaves replace what an earlier line
/// set; a path ending in `=` (e.g. `hardware:disk=`) removes that part.
///
/// obsbox's extension: `prefer:PATH [weight=N] …` adds a soft constraint, `prefer=` removes
/// them all. OBS's own dispatcher warns about such a line and skips it.
pub fn apply_line(c: &mut Constraints, line: &str) -> Result<()> {
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix("prefer:") {
        c.prefer
            .push(preference(rest).map_err(|e| anyhow!("prefer: {e}"))?);
        return Ok(());
    }
    if trimmed.split_whitespace().next() == Some("prefer=") {
        if trimmed.split_whitespace().count() > 1 {
            bail!("prefer=: removing takes no value");
        }
        c.prefer.clear();
        return Ok(());
    }
    let mut words = line.split_whitespace();
    let Some(path) = words.next() else {
        bail!("empty constraint");
    };
    let mut attrs = Vec::new();
    let mut content = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if content.is_empty() => attrs.push((k, v)),
            _ => content.push(w),
        }
    }
    let (path, delete) = match path.strip_suffix('=') {
        Some(p) => (p, true),
        None => (path, false),
    };
    if path.contains(['+', '!']) {
        bail!("{path}: the + and ! modifiers are not supported by obsbox");
    }
    let bad_attr = |allowed: &[&str]| -> Result<()> {
        match attrs.iter().find(|(k, _)| !allowed.contains(k)) {
            Some((k, _)) => bail!("{path}: unknown attribute {k:?}"),
            None => Ok(()),
        }
    };
    let exclude = || -> Result<Option<bool>> {
        match attrs.iter().find(|(k, _)| *k == "exclude").map(|(_, v)| *v) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => bail!("{path}: exclude must be true or false, not {v:?}"),
        }
    };
    let one = || -> Result<String> {
        match content.as_slice() {
            [] => bail!("{path}: no value"),
            words => Ok(words.join(" ")),
        }
    };
    if delete {
        if !content.is_empty() || !attrs.is_empty() {
            bail!("{path}=: removing takes no value");
        }
        match path {
            "hostlabel" => c.hostlabel.clear(),
            "sandbox" => c.sandbox = None,
            "linux" => c.linux = None,
            "linux:flavor" => c.linux.get_or_insert_default().flavor = None,
            "linux:version" => {
                let l = c.linux.get_or_insert_default();
                (l.version, l.min, l.max) = (false, None, None);
            }
            "linux:version:min" => c.linux.get_or_insert_default().min = None,
            "linux:version:max" => c.linux.get_or_insert_default().max = None,
            "hardware" => c.hardware = None,
            _ => {
                let hw = c.hardware.get_or_insert_default();
                match path.strip_prefix("hardware:") {
                    Some("cpu") | Some("cpu:flag") => hw.cpu = None,
                    Some("processors") => hw.processors = None,
                    Some("jobs") => hw.jobs = None,
                    Some(s) => {
                        *size_slot(hw, s.trim_end_matches(":size"))
                            .ok_or_else(|| anyhow!("unknown element: {path}"))? = None
                    }
                    None => bail!("unknown element: {path}"),
                }
            }
        }
        return Ok(());
    }
    match path {
        "hostlabel" => {
            bad_attr(&["exclude"])?;
            let ex = exclude()?.unwrap_or(false);
            one()?;
            for w in &content {
                c.hostlabel.push(Flagged {
                    value: w.to_string(),
                    exclude: ex,
                });
            }
        }
        "sandbox" => {
            bad_attr(&["exclude"])?;
            c.sandbox = Some(Sandbox {
                value: one()?,
                exclude: exclude()?,
            });
        }
        "linux:flavor" => {
            bad_attr(&[])?;
            c.linux.get_or_insert_default().flavor = Some(one()?);
        }
        "linux:version:min" | "linux:version:max" => {
            bad_attr(&[])?;
            let l = c.linux.get_or_insert_default();
            l.version = true;
            let v = Some(one()?);
            if path.ends_with("min") {
                l.min = v;
            } else {
                l.max = v;
            }
        }
        "hardware:cpu:flag" => {
            bad_attr(&["exclude"])?;
            let ex = exclude()?.unwrap_or(false);
            one()?;
            let flags = c
                .hardware
                .get_or_insert_default()
                .cpu
                .get_or_insert_default();
            for w in &content {
                flags.push(Flagged {
                    value: w.to_string(),
                    exclude: ex,
                });
            }
        }
        "hardware:processors" | "hardware:jobs" => {
            bad_attr(&[])?;
            let v = one()?;
            let n: u64 = v
                .parse()
                .map_err(|_| anyhow!("{path}: not a number: {v:?}"))?;
            let hw = c.hardware.get_or_insert_default();
            if path.ends_with("processors") {
                hw.processors = Some(n);
            } else {
                hw.jobs = Some(n);
            }
        }
        _ => {
            let slot = path
                .strip_prefix("hardware:")
                .and_then(|p| p.strip_suffix(":size"))
                .ok_or_else(|| anyhow!("unknown element: {path}"))?;
            bad_attr(&["unit"])?;
            let unit = attrs.iter().find(|(k, _)| *k == "unit").map(|(_, v)| *v);
            let s = size(&one()?, unit).map_err(|m| anyhow!("{path}: {m}"))?;
            let hw = c.hardware.get_or_insert_default();
            *size_slot(hw, slot).ok_or_else(|| anyhow!("unknown element: {path}"))? = Some(s);
        }
    }
    Ok(())
}

fn size_slot<'a>(hw: &'a mut HardwareC, name: &str) -> Option<&'a mut Option<Size>> {
    match name {
        "disk" => Some(&mut hw.disk),
        "memory" => Some(&mut hw.memory),
        "memoryperjob" => Some(&mut hw.memoryperjob),
        "physicalmemory" => Some(&mut hw.physicalmemory),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Merging and overwriting

/// OBS's secure sandboxes (BSConfig's default `secure_sandboxes`): what `<sandbox>secure`
/// accepts.
pub const SECURE_SANDBOXES: [&str; 3] = ["xen", "kvm", "zvm"];

/// Merges constraint sources in OBS's order — project config, `_constraints`, build recipe —
/// the way `mergeconstraints` does: the first source is taken whole, each later one adds its
/// hostlabels and cpu flags, replaces linux flavor/min/max and hardware processors, jobs,
/// disk, memory and physicalmemory it sets, and merges the sandbox (`merge_sandbox`).
///
/// Two points to know: OBS's merge does not take `memoryperjob` from a later source (its
/// list is processors, jobs, disk, memory, physicalmemory) and obsbox keeps that; OBS's merge
/// also does not carry `<overwrite>` elements of later sources, which would silently lose a
/// package's overwrites under any project constraint, so obsbox keeps every source's
/// overwrites, in source order. Preferences (obsbox's) add up like hostlabels.
pub fn merge(sources: &[Constraints]) -> Constraints {
    let mut iter = sources.iter();
    let Some(first) = iter.next() else {
        return Constraints::default();
    };
    let mut con = first.clone();
    for c2 in iter {
        con.hostlabel.extend(c2.hostlabel.iter().cloned());
        if let Some(sb2) = &c2.sandbox {
            con.sandbox = merge_sandbox(con.sandbox.take(), sb2.clone());
        }
        if let Some(l2) = &c2.linux {
            if l2.flavor.is_some() || l2.min.is_some() || l2.max.is_some() {
                let l = con.linux.get_or_insert_default();
                if l2.flavor.is_some() {
                    l.flavor = l2.flavor.clone();
                }
                if l2.min.is_some() {
                    l.min = l2.min.clone();
                    l.version = true;
                }
                if l2.max.is_some() {
                    l.max = l2.max.clone();
                    l.version = true;
                }
            }
        }
        if let Some(h2) = &c2.hardware {
            let sets_any = h2.processors.is_some()
                || h2.jobs.is_some()
                || h2.disk.is_some()
                || h2.memory.is_some()
                || h2.physicalmemory.is_some()
                || h2.cpu.as_ref().is_some_and(|f| !f.is_empty());
            if sets_any {
                let h = con.hardware.get_or_insert_default();
                if h2.processors.is_some() {
                    h.processors = h2.processors;
                }
                if h2.jobs.is_some() {
                    h.jobs = h2.jobs;
                }
                for (dst, src) in [
                    (&mut h.disk, &h2.disk),
                    (&mut h.memory, &h2.memory),
                    (&mut h.physicalmemory, &h2.physicalmemory),
                ] {
                    if src.is_some() {
                        *dst = src.clone();
                    }
                }
                if let Some(f2) = h2.cpu.as_ref().filter(|f| !f.is_empty()) {
                    h.cpu.get_or_insert_default().extend(f2.iter().cloned());
                }
            }
        }
        con.overwrite.extend(c2.overwrite.iter().cloned());
        con.prefer.extend(c2.prefer.iter().cloned());
    }
    con
}

/// OBS's `mergeconstraints_sandbox`: two of the same kind (both include or both exclude) →
/// the later wins; an include and an exclude → the include, unless the exclude rules it out
/// (same sandbox, or `secure` against a secure one), which OBS marks with the impossible
/// sandbox `cannot_merge_sandbox` so that no worker matches.
pub fn merge_sandbox(sb: Option<Sandbox>, sb2: Sandbox) -> Option<Sandbox> {
    let Some(sb) = sb.filter(|s| !s.value.is_empty()) else {
        return Some(sb2);
    };
    if sb2.value.is_empty() {
        return Some(sb);
    }
    if sb.excluded() == sb2.excluded() {
        return Some(sb2);
    }
    let (inc, exc) = if sb.excluded() { (sb2, sb) } else { (sb, sb2) };
    if inc.value == exc.value
        || (inc.value == "secure" && SECURE_SANDBOXES.contains(&exc.value.as_str()))
    {
        return Some(Sandbox {
            value: "cannot_merge_sandbox".into(),
            exclude: None,
        });
    }
    Some(inc)
}

/// OBS's `overwriteconstraints`: every `<overwrite>` with conditions whose arch list (if any)
/// contains the job's arch and whose package list (if any) contains the package name or the
/// name up to its first `.` (maintenance incidents: `foo.1234`) is applied, in order. An
/// overwrite without `<conditions>` is ignored, and a condition the job cannot satisfy
/// because the arch or package is unknown does not hold.
pub fn apply_overwrites(c: &Constraints, arch: Option<&str>, package: Option<&str>) -> Constraints {
    let mut out = c.clone();
    out.overwrite.clear();
    for o in &c.overwrite {
        if !o.has_conditions || !overwrite_applies(o, arch, package) {
            continue;
        }
        overwrite(&mut out, &o.body);
    }
    out
}

pub fn overwrite_applies(o: &Overwrite, arch: Option<&str>, package: Option<&str>) -> bool {
    if !o.arch.is_empty() && !arch.is_some_and(|a| o.arch.iter().any(|x| x == a)) {
        return false;
    }
    if !o.package.is_empty() {
        let Some(p) = package else {
            return false;
        };
        let short = p.split('.').next().unwrap_or(p);
        if !o.package.iter().any(|x| x == p || x == short) {
            return false;
        }
    }
    true
}

/// OBS's recursive `overwrite`: lists (hostlabels, cpu flags) and plain values are replaced,
/// nested elements are overwritten element by element (so a `<size>` without a unit keeps
/// the unit it overwrites).
fn overwrite(dst: &mut Constraints, src: &Constraints) {
    if !src.hostlabel.is_empty() {
        dst.hostlabel = src.hostlabel.clone();
    }
    if let Some(s) = &src.sandbox {
        let d = dst.sandbox.get_or_insert_default();
        d.value = s.value.clone();
        if s.exclude.is_some() {
            d.exclude = s.exclude;
        }
    }
    if let Some(l) = &src.linux {
        match &mut dst.linux {
            None => dst.linux = Some(l.clone()),
            Some(d) => {
                if l.flavor.is_some() {
                    d.flavor = l.flavor.clone();
                }
                if l.min.is_some() {
                    d.min = l.min.clone();
                }
                if l.max.is_some() {
                    d.max = l.max.clone();
                }
                d.version |= l.version;
            }
        }
    }
    if let Some(h) = &src.hardware {
        match &mut dst.hardware {
            None => dst.hardware = Some(h.clone()),
            Some(d) => {
                if let Some(flags) = &h.cpu {
                    match &mut d.cpu {
                        None => d.cpu = Some(flags.clone()),
                        Some(df) if !flags.is_empty() => *df = flags.clone(),
                        Some(_) => {}
                    }
                }
                if h.processors.is_some() {
                    d.processors = h.processors;
                }
                if h.jobs.is_some() {
                    d.jobs = h.jobs;
                }
                for (dd, ss) in [
                    (&mut d.disk, &h.disk),
                    (&mut d.memory, &h.memory),
                    (&mut d.memoryperjob, &h.memoryperjob),
                    (&mut d.physicalmemory, &h.physicalmemory),
                ] {
                    if let Some(s) = ss {
                        match dd {
                            None => *dd = Some(s.clone()),
                            Some(ds) => {
                                ds.value = s.value;
                                if s.unit.is_some() {
                                    ds.unit = s.unit.clone();
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(s: &str) -> Constraints {
        from_xml(s.as_bytes(), "_constraints").unwrap()
    }

    #[test]
    fn sizes_follow_getmbsize() {
        let s = |v: f64, u: Option<&str>| Size {
            value: v,
            unit: u.map(String::from),
        };
        assert_eq!(s(4.0, Some("G")).mb(), 4096.0);
        assert_eq!(s(1048576.0, None).mb(), 1.0);
        assert_eq!(s(2048.0, Some("K")).mb(), 2.0);
        assert_eq!(s(3.0, Some("M")).mb(), 3.0);
        assert_eq!(s(1.0, Some("T")).mb(), 1048576.0);
    }

    #[test]
    fn lines_parse_like_list2struct() {
        let c = from_prjconf(
            "Constraint: hardware:disk:size unit=G 20\n\
             constraint: hostlabel A B\n\
             Constraint: hostlabel exclude=true SLOW\n\
             Constraint: sandbox kvm\n\
             Constraint: linux:version:min 5.3\n\
             Constraint: hardware:cpu:flag exclude=true avx512f\n\
             Constraint: hardware:processors 4\n\
             Constraint: hardware:processors 8\n\
             Macros:\nConstraintX: nothing\n",
            "prjconf",
        )
        .unwrap();
        let hw = c.hardware.as_ref().unwrap();
        assert_eq!(hw.disk.as_ref().unwrap().mb(), 20480.0);
        assert_eq!(hw.processors, Some(8));
        assert_eq!(c.hostlabel.len(), 3);
        assert!(c.hostlabel[2].exclude && !c.hostlabel[0].exclude);
        assert_eq!(c.sandbox.as_ref().unwrap().value, "kvm");
        assert_eq!(c.linux.as_ref().unwrap().min.as_deref(), Some("5.3"));
        assert!(hw.cpu.as_ref().unwrap()[0].exclude);

        let s = from_spec(
            "Name: x\n#!BuildConstraint: hardware:memory:size unit=M 4000\n",
            "x.spec",
        )
        .unwrap();
        assert_eq!(s.hardware.unwrap().memory.unwrap().mb(), 4000.0);

        let e = from_prjconf("Constraint: hardware:gpu 1\n", "prjconf")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "prjconf: line 1: unknown element: hardware:gpu");
        let e = from_spec("#!BuildConstraint: hardware:disk:size unit=X 1", "a.spec")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.spec: line 1: hardware:disk:size: unknown unit"),
            "{e}"
        );
        let mut c = c;
        apply_line(&mut c, "hardware:disk=").unwrap();
        assert!(c.hardware.unwrap().disk.is_none());
    }

    #[test]
    fn preferences() {
        let c = from_prjconf(
            "Constraint: prefer:hostlabel weight=5 ssd\n\
             Constraint: prefer:hardware:memory:size unit=G 32\n\
             Constraint: hostlabel big\n",
            "prjconf",
        )
        .unwrap();
        assert_eq!(c.hostlabel.len(), 1);
        assert_eq!(c.prefer.len(), 2);
        assert_eq!(
            (c.prefer[0].weight, c.prefer[0].line.as_str()),
            (5, "hostlabel ssd")
        );
        assert_eq!(c.prefer[0].constraints.hostlabel[0].value, "ssd");
        let mem = c.prefer[1].constraints.hardware.as_ref().unwrap();
        assert_eq!(
            (c.prefer[1].weight, mem.memory.as_ref().unwrap().mb()),
            (1, 32768.0)
        );
        let spec = from_spec("#!BuildConstraint: prefer:sandbox kvm\n", "s").unwrap();
        let m = merge(&[c.clone(), spec]);
        assert_eq!(m.prefer.len(), 3);
        let mut cleared = m.clone();
        apply_line(&mut cleared, "prefer=").unwrap();
        assert!(cleared.prefer.is_empty() && cleared.hostlabel.len() == 1);
        for (bad, says) in [
            (
                "Constraint: prefer:hostlabel weight=0 a\n",
                "weight must be a whole number",
            ),
            (
                "Constraint: prefer:hostlabel weight=x a\n",
                "weight must be a whole number",
            ),
            (
                "Constraint: prefer:hardware:gpu 1\n",
                "prefer: unknown element: hardware:gpu",
            ),
            (
                "Constraint: prefer:prefer:sandbox kvm\n",
                "cannot itself hold a preference",
            ),
        ] {
            let e = from_prjconf(bad, "p").unwrap_err().to_string();
            assert!(
                e.starts_with("p: line 1: ") && e.contains(says),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn merge_in_obs_order() {
        let prj = from_prjconf(
            "Constraint: hardware:disk:size unit=G 20\nConstraint: hostlabel A\n\
             Constraint: hardware:memoryperjob:size unit=G 1\n",
            "p",
        )
        .unwrap();
        let pkg = xml(
            "<constraints><hostlabel>B</hostlabel><hardware><disk><size unit='G'>40</size></disk>\
             <memoryperjob><size unit='G'>9</size></memoryperjob>\
             <cpu><flag>avx2</flag></cpu></hardware></constraints>",
        );
        let spec = from_spec("#!BuildConstraint: hardware:disk:size unit=G 30\n", "s").unwrap();
        let m = merge(&[prj, pkg, spec]);
        let hw = m.hardware.as_ref().unwrap();
        // The later source wins for sizes; labels and flags add up.
        assert_eq!(hw.disk.as_ref().unwrap().mb(), 30720.0);
        assert_eq!(m.hostlabel.len(), 2);
        assert_eq!(hw.cpu.as_ref().unwrap().len(), 1);
        // OBS's merge does not take memoryperjob from a later source.
        assert_eq!(hw.memoryperjob.as_ref().unwrap().mb(), 1024.0);
    }

    #[test]
    fn sandbox_merge() {
        let sb = |v: &str, ex: bool| Sandbox {
            value: v.into(),
            exclude: Some(ex),
        };
        assert_eq!(
            merge_sandbox(Some(sb("kvm", false)), sb("xen", false))
                .unwrap()
                .value,
            "xen"
        );
        assert_eq!(
            merge_sandbox(Some(sb("kvm", false)), sb("chroot", true))
                .unwrap()
                .value,
            "kvm"
        );
        assert_eq!(
            merge_sandbox(Some(sb("chroot", true)), sb("kvm", false))
                .unwrap()
                .value,
            "kvm"
        );
        assert_eq!(
            merge_sandbox(Some(sb("kvm", false)), sb("kvm", true))
                .unwrap()
                .value,
            "cannot_merge_sandbox"
        );
        assert_eq!(
            merge_sandbox(Some(sb("secure", false)), sb("xen", true))
                .unwrap()
                .value,
            "cannot_merge_sandbox"
        );
    }

    #[test]
    fn overwrites() {
        let c = xml(
            "<constraints><hardware><disk><size unit='G'>4</size></disk></hardware>\
             <overwrite><conditions><arch>aarch64</arch><package>foo</package></conditions>\
             <hardware><disk><size>8</size></disk></hardware></overwrite>\
             <overwrite><hardware><processors>64</processors></hardware></overwrite>\
             </constraints>",
        );
        let disk = |c: &Constraints| c.hardware.as_ref().unwrap().disk.as_ref().unwrap().mb();
        assert_eq!(
            disk(&apply_overwrites(&c, Some("x86_64"), Some("foo"))),
            4096.0
        );
        assert_eq!(
            disk(&apply_overwrites(&c, Some("aarch64"), Some("bar"))),
            4096.0
        );
        // The unit of the overwritten size stays: 8 G.
        let o = apply_overwrites(&c, Some("aarch64"), Some("foo.1234"));
        assert_eq!(disk(&o), 8192.0);
        // No conditions: ignored.
        assert_eq!(o.hardware.unwrap().processors, None);
    }

    #[test]
    fn xml_errors_name_the_element() {
        let e = from_xml(
            b"<constraints>\n<hardware><memory><size unit='Q'>4</size></memory></hardware></constraints>",
            "pkg/_constraints",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "pkg/_constraints: line 2: <size>: unknown unit \"Q\" (use B, K, M, G, T or P)"
        );
        let e = from_xml(b"<constraints><gpu/></constraints>", "c")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "c: line 1: <gpu>: unknown element in <constraints>");
    }
}
