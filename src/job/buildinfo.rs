//! OBS buildinfo XML, the job document bs_worker receives from the dispatcher.
//!
//! The root's attributes name the job (`project`, `repository`, `package`); its child
//! elements carry single values (`<arch>`, `<file>`, `<release>` …), build dependencies
//! (`<bdep …/>`, all data in attributes), repositories (`<path …/>`, `<syspath …/>`) and
//! constraint lines (`<constraint>`, `<prjconfconstraint>`). OBS adds fields over time, so
//! elements and attributes obsbox does not use are skipped; what it does use is checked.
//! The file is read in one pass over its events, never as a tree (the host check's tree of
//! a 33 MB buildinfo took 368 MB), and is at most [`super::MAX_JOB_FILE`] long.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{Bdep, Job, RepoRef, base_dir, job_id};
use crate::model::Arch;
use crate::text::{escape, one_line, one_line_bytes};
use crate::xmltree::{attrs, xml_error};

/// Where a job's sources are on OBS's source server, as its buildinfo says: what the host
/// check needs to fetch a package's `_constraints` as OBS's dispatcher does. Each field is
/// the first of its kind, `None` when missing or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRef {
    /// The root's `srcserver` attribute.
    pub srcserver: Option<String>,
    /// `<srcmd5>`: the revision of the package's sources.
    pub srcmd5: Option<String>,
    /// `<constraintsmd5>`: present when the package has a `_constraints`.
    pub constraintsmd5: Option<String>,
}

/// Reads the buildinfo file at `path`.
pub fn load(path: &Path) -> Result<Job> {
    parse(&super::read_job_file(path)?, path)
}

/// Reads the buildinfo file at `path` as far as the host check needs it: the job without
/// its build dependencies (each is checked as it is read, none is kept: a buildinfo of
/// 250,000 bdeps holds 100 MB of them), and where its sources are.
pub fn load_summary(path: &Path) -> Result<(Job, SourceRef)> {
    parse_inner(&super::read_job_file(path)?, path, false)
}

/// Parses buildinfo `xml`; `path` names the file in errors, and its directory is the job's
/// `sources` (bs_worker keeps the sources next to the job).
pub fn parse(xml: &[u8], path: &Path) -> Result<Job> {
    parse_with_source(xml, path).map(|(job, _)| job)
}

/// [`parse`], with where the job's sources are.
pub fn parse_with_source(xml: &[u8], path: &Path) -> Result<(Job, SourceRef)> {
    parse_inner(xml, path, true)
}

/// [`parse_with_source`], keeping the bdeps or only checking them.
fn parse_inner(xml: &[u8], path: &Path, keep_bdeps: bool) -> Result<(Job, SourceRef)> {
    let file = path.display().to_string();
    let line_of = |pos: u64| {
        let end = usize::try_from(pos).unwrap_or(usize::MAX).min(xml.len());
        1 + xml[..end].iter().filter(|&&b| b == b'\n').count()
    };
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    let mut root = Root {
        keep_bdeps,
        ..Root::default()
    };
    // The child of the root being read when it is a text field obsbox uses.
    let mut text_field: Option<Field> = None;
    let mut text = String::new();
    let mut bdep_count = 0usize;
    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            anyhow!(
                "{file}: broken XML at line {}: {}",
                line_of(reader.error_position()),
                crate::text::one_line_error(e)
            )
        })?;
        let at = |e: anyhow::Error| anyhow!("{file}: line {}: {e:#}", line_of(pos));
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                if depth == 0 {
                    if saw_root {
                        return Err(at(anyhow!("a second root element")));
                    }
                    saw_root = true;
                    if e.local_name().as_ref() != b"buildinfo" {
                        return Err(at(anyhow!(
                            "the root element is <{}>, not <buildinfo>",
                            one_line_bytes(e.name().as_ref())
                        )));
                    }
                    root.read_attrs(e).map_err(at)?;
                } else if depth == 1 {
                    match e.local_name().as_ref() {
                        b"bdep" => {
                            bdep_count += 1;
                            root.read_bdep(e, bdep_count).map_err(at)?;
                        }
                        b"path" => root.paths.push(repo_ref(e, "path").map_err(at)?),
                        b"syspath" => root.syspaths.push(repo_ref(e, "syspath").map_err(at)?),
                        name if !empty => {
                            text_field = Field::from_name(name);
                            text.clear();
                        }
                        // An empty source field is there, and the first of its kind.
                        name => {
                            if let Some(field @ (Field::Srcmd5 | Field::Constraintsmd5)) =
                                Field::from_name(name)
                            {
                                root.set(field, "").map_err(at)?;
                            }
                        }
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            // Text directly inside a field; text of unknown elements and deeper is skipped.
            Event::Text(t) if depth == 2 && text_field.is_some() => {
                text.push_str(&t.decode().map_err(|e| at(xml_error(e)))?);
            }
            Event::CData(t) if depth == 2 && text_field.is_some() => {
                text.push_str(&t.decode().map_err(|e| at(xml_error(e)))?);
            }
            Event::GeneralRef(r) if depth == 2 && text_field.is_some() => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| at(xml_error(e)))? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| at(xml_error(e)))?;
                    let s = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| at(anyhow!("unknown entity `&{};`", one_line(&name))))?;
                    text.push_str(s);
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some(field) = text_field.take()
                {
                    root.set(field, text.trim()).map_err(at)?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        bail!("{file}: no <buildinfo> element");
    }
    if depth > 0 {
        bail!("{file}: broken XML: the file ends inside an element");
    }
    let source = root.source.clone();
    let job = root.into_job(path).with_context(|| file.clone())?;
    super::names::check_job(&job).with_context(|| file.clone())?;
    Ok((job, source))
}

/// The child elements of `<buildinfo>` whose text obsbox uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Arch,
    Hostarch,
    Crossarch,
    File,
    Release,
    Jobs,
    Error,
    Constraint,
    Srcmd5,
    Constraintsmd5,
}

impl Field {
    fn from_name(name: &[u8]) -> Option<Field> {
        Some(match name {
            b"arch" => Field::Arch,
            b"hostarch" => Field::Hostarch,
            b"crossarch" => Field::Crossarch,
            b"file" => Field::File,
            b"release" => Field::Release,
            b"jobs" => Field::Jobs,
            b"error" => Field::Error,
            // Recipe constraints and the prjconf's `Constraint:` lines share one syntax and
            // both decide where the job may run.
            b"constraint" | b"prjconfconstraint" => Field::Constraint,
            b"srcmd5" => Field::Srcmd5,
            b"constraintsmd5" => Field::Constraintsmd5,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::Arch => "arch",
            Field::Hostarch => "hostarch",
            Field::Crossarch => "crossarch",
            Field::File => "file",
            Field::Release => "release",
            Field::Jobs => "jobs",
            Field::Error => "error",
            Field::Constraint => "constraint",
            Field::Srcmd5 => "srcmd5",
            Field::Constraintsmd5 => "constraintsmd5",
        }
    }
}

/// What has been read so far.
#[derive(Debug, Default)]
struct Root {
    project: Option<String>,
    repository: Option<String>,
    package: Option<String>,
    arch: Option<String>,
    hostarch: Option<String>,
    crossarch: Option<String>,
    file: Option<String>,
    release: Option<String>,
    jobs: Option<u32>,
    error: Option<String>,
    constraints: Vec<String>,
    bdeps: Vec<Bdep>,
    toolbox: Vec<String>,
    /// The names in `toolbox`, looked up rather than scanned (100,000 callback packages).
    toolbox_names: HashSet<String>,
    paths: Vec<RepoRef>,
    syspaths: Vec<RepoRef>,
    source: SourceRef,
    /// Whether bdeps are kept (or only checked).
    keep_bdeps: bool,
    /// Whether `<srcmd5>` and `<constraintsmd5>` have been seen (the first counts).
    saw_srcmd5: bool,
    saw_constraintsmd5: bool,
}

impl Root {
    fn read_attrs(&mut self, e: &BytesStart<'_>) -> Result<()> {
        for (key, value) in attrs(e)? {
            match key.as_str() {
                "project" => self.project = Some(value),
                "repository" => self.repository = Some(value),
                "package" => self.package = Some(value),
                "srcserver" => self.source.srcserver = Some(value).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        Ok(())
    }

    fn set(&mut self, field: Field, value: &str) -> Result<()> {
        let single = |slot: &mut Option<String>| {
            if slot.is_some() {
                bail!("<{}> appears twice", field.name());
            }
            *slot = Some(value.to_string());
            Ok(())
        };
        match field {
            Field::Arch => single(&mut self.arch)?,
            Field::Hostarch => single(&mut self.hostarch)?,
            Field::Crossarch => single(&mut self.crossarch)?,
            Field::File => single(&mut self.file)?,
            Field::Release => single(&mut self.release)?,
            Field::Error => single(&mut self.error)?,
            Field::Jobs => {
                if self.jobs.is_some() {
                    bail!("<jobs> appears twice");
                }
                let n = value.parse().map_err(|_| {
                    anyhow!("<jobs>{}</jobs> is not a number of jobs", one_line(value))
                })?;
                self.jobs = Some(n);
            }
            Field::Constraint if !value.is_empty() => self.constraints.push(value.to_string()),
            Field::Constraint => {}
            // Only the host check reads these: the first of each counts.
            Field::Srcmd5 if !std::mem::replace(&mut self.saw_srcmd5, true) => {
                self.source.srcmd5 = Some(value.to_string()).filter(|v| !v.is_empty());
            }
            Field::Constraintsmd5 if !std::mem::replace(&mut self.saw_constraintsmd5, true) => {
                self.source.constraintsmd5 = Some(value.to_string()).filter(|v| !v.is_empty());
            }
            Field::Srcmd5 | Field::Constraintsmd5 => {}
        }
        Ok(())
    }

    fn read_bdep(&mut self, e: &BytesStart<'_>, index: usize) -> Result<()> {
        let attrs = attrs(e)?;
        let name = attrs
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| anyhow!("<bdep> number {index} has no name attribute"))?
            .to_string();
        let what = || format!("<bdep name=\"{}\">", one_line(&name));
        let mut bdep = Bdep {
            name: name.clone(),
            ..Bdep::default()
        };
        let mut for_build = true;
        for (key, value) in &attrs {
            let opt = || (!value.is_empty()).then(|| value.clone());
            let flag = || flag(value).with_context(|| format!("{}: attribute {key}", what()));
            match key.as_str() {
                "epoch" => bdep.epoch = opt(),
                "version" => bdep.version = opt(),
                "release" => bdep.release = opt(),
                "arch" => {
                    bdep.arch = opt()
                        .map(|a| a.parse())
                        .transpose()
                        .with_context(|| format!("{}: attribute arch", what()))?
                }
                "project" => bdep.project = opt(),
                "repository" => bdep.repository = opt(),
                "preinstall" => bdep.preinstall = flag()?,
                "vminstall" => bdep.vminstall = flag()?,
                "runscripts" => bdep.runscripts = flag()?,
                "noinstall" => bdep.noinstall = flag()?,
                "installonly" => bdep.installonly = flag()?,
                "sysroot" => bdep.sysroot = flag()?,
                "notmeta" => bdep.notmeta = flag()?,
                // Packages for the worker-side callbacks: obsbox runs callbacks from the
                // toolbox. OBS still hands them to the build like any bdep, so they stay.
                "cbpreinstall" | "cbinstall" => {
                    let callback = flag()?;
                    if callback && self.toolbox_names.insert(name.clone()) {
                        self.toolbox.push(name.clone());
                    }
                }
                // bs_worker leaves these out of what the build installs: a `package`
                // attribute marks an image's or product's content, `repoarch="src"` a
                // source package.
                "package" => for_build = false,
                "repoarch" if value == "src" => for_build = false,
                _ => {}
            }
        }
        if !self.keep_bdeps {
            super::names::check_bdep(&bdep)?;
        } else if for_build {
            self.bdeps.push(bdep);
        }
        Ok(())
    }

    fn into_job(self, path: &Path) -> Result<Job> {
        if let Some(err) = self.error {
            bail!("OBS reports an error instead of a job: {}", escape(&err));
        }
        let required = |v: Option<String>, what: &str| -> Result<String> {
            match v {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                Some(_) => bail!("{what} is empty"),
                None => bail!("{what} is missing"),
            }
        };
        let project = required(self.project, "<buildinfo project=…> attribute")?;
        let repository = required(self.repository, "<buildinfo repository=…> attribute")?;
        let package = required(self.package, "<buildinfo package=…> attribute")?;
        let arch: Arch = required(self.arch, "element <arch>")?
            .parse()
            .context("element <arch>")?;
        // An empty <hostarch> or <crossarch> is none, as OBS writes them.
        let optional = |v: Option<String>, what: &str| -> Result<Option<Arch>> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) => v.parse().map(Some).context(what.to_string()),
            }
        };
        let hostarch = optional(self.hostarch, "element <hostarch>")?;
        let crossarch = optional(self.crossarch, "element <crossarch>")?;
        let recipe = required(self.file, "element <file>")?;
        let id = job_id(&project, &repository, &package, &arch);
        Ok(Job {
            project,
            repository,
            package,
            hostarch,
            crossarch,
            recipe,
            sources: base_dir(path),
            release: self.release.filter(|r| !r.is_empty()),
            bdeps: self.bdeps,
            repos: self.paths,
            toolbox_repos: self.syspaths,
            toolbox: self.toolbox,
            constraints: self.constraints,
            jobs: self.jobs.unwrap_or(0),
            expanded: true,
            ..Job::named(id, arch)
        })
    }
}

/// A `<path>` or `<syspath>`: project and repository always come with it; `url` is the
/// external address when the server gives one (`server` is OBS-internal).
fn repo_ref(e: &BytesStart<'_>, element: &str) -> Result<RepoRef> {
    let mut r = RepoRef::default();
    for (key, value) in attrs(e)? {
        match key.as_str() {
            "project" => r.project = Some(value),
            "repository" => r.repository = Some(value),
            "url" => r.url = value,
            _ => {}
        }
    }
    for (v, attr) in [(&r.project, "project"), (&r.repository, "repository")] {
        if v.as_deref().is_none_or(|v| v.trim().is_empty()) {
            bail!("<{element}> without a {attr} attribute");
        }
    }
    Ok(r)
}

/// OBS writes flags as `"1"`; `"0"`, `"true"` and `"false"` are taken too (hand-written
/// files). Anything else is a mistake worth stopping for: a flag changes how the buildroot
/// is assembled.
fn flag(value: &str) -> Result<bool> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" | "" => Ok(false),
        _ => bail!("`{}` is not a boolean (1 or 0)", one_line(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(xml: &str) -> Result<Job> {
        parse(xml.as_bytes(), Path::new("/jobs/x/buildinfo"))
    }

    const MINIMAL: &str = r#"<buildinfo project="p" repository="r" package="k">
  <arch>x86_64</arch>
  <file>k.spec</file>
</buildinfo>"#;

    #[test]
    fn many_callback_packages_are_looked_up_not_scanned() {
        // 60,000 callback packages, each named twice: a scan of the toolbox list per bdep
        // took seconds in a debug build (100,000 of them 13 s in a release build).
        let bdeps: String = (0..120_000)
            .map(|i| format!("<bdep name=\"p{}\" cbinstall=\"1\"/>\n", i % 60_000))
            .collect();
        let xml = MINIMAL.replace("</buildinfo>", &format!("{bdeps}</buildinfo>"));
        let started = std::time::Instant::now();
        let job = parse_str(&xml).unwrap();
        let took = started.elapsed();
        assert_eq!(job.toolbox.len(), 60_000);
        assert_eq!(job.toolbox[59_999], "p59999");
        assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    }

    #[test]
    fn where_the_sources_are() {
        let (_, source) = parse_with_source(MINIMAL.as_bytes(), Path::new("b")).unwrap();
        assert_eq!(source, SourceRef::default());
        let xml = MINIMAL
            .replace(
                "package=\"k\"",
                "package=\"k\" srcserver=\"http://src:5352\"",
            )
            .replace(
                "</file>",
                "</file><srcmd5> 0123 </srcmd5><constraintsmd5>abc</constraintsmd5>\
                 <srcmd5>second</srcmd5><x><srcmd5>nested</srcmd5></x>",
            );
        let (job, source) = parse_with_source(xml.as_bytes(), Path::new("b")).unwrap();
        assert_eq!(job.id, "p/r/k/x86_64");
        assert_eq!(
            source,
            SourceRef {
                srcserver: Some("http://src:5352".into()),
                srcmd5: Some("0123".into()),
                constraintsmd5: Some("abc".into()),
            }
        );
        // The host check's summary: the same, with bdeps checked but not kept.
        let path = tempfile::NamedTempFile::new().unwrap();
        let with_bdep = |bdep: &str| {
            std::fs::write(
                path.path(),
                xml.replace("</file>", &format!("</file>{bdep}")),
            )
            .unwrap();
            load_summary(path.path())
        };
        let (job, summary) = with_bdep("<bdep name=\"a\" project=\"Debian:12\"/>").unwrap();
        assert_eq!((job.id.as_str(), job.bdeps.len()), ("p/r/k/x86_64", 0));
        assert_eq!(summary, source);
        for (bad, want) in [
            (
                "<bdep name=\"a\" project=\"../x\"/>",
                "line 3: bdep a project",
            ),
            (
                "<bdep name=\"a\" preinstall=\"2\"/>",
                "line 3: <bdep name=\"a\">: attribute preinstall",
            ),
        ] {
            let e = format!("{:#}", with_bdep(bad).unwrap_err());
            assert!(e.contains(want) && !e.contains('\n'), "{e}");
        }
        // The first counts, as an empty one.
        let xml = MINIMAL.replace(
            "</file>",
            "</file><constraintsmd5/><constraintsmd5>abc</constraintsmd5>",
        );
        let (_, source) = parse_with_source(xml.as_bytes(), Path::new("b")).unwrap();
        assert_eq!(source.constraintsmd5, None);
    }

    #[test]
    fn a_job_file_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buildinfo");
        let mut xml = MINIMAL.replace("</buildinfo>", "");
        xml.push_str(&" ".repeat((super::super::MAX_JOB_FILE as usize) - xml.len()));
        xml.push_str("</buildinfo>");
        std::fs::write(&path, &xml).unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        assert_eq!(
            e,
            format!(
                "{}: larger than {} MiB (no job file is nearly as large); refused",
                path.display(),
                super::super::MAX_JOB_FILE >> 20
            )
        );
        assert_eq!(
            format!("{:#}", crate::job::load(&path).unwrap_err()),
            e,
            "job::load"
        );
        // At the bound it is read.
        xml.replace_range(MINIMAL.len()..MINIMAL.len() + 12, "");
        std::fs::write(&path, &xml).unwrap();
        assert_eq!(load(&path).unwrap().id, "p/r/k/x86_64");
    }

    #[test]
    fn minimal() {
        let job = parse_str(MINIMAL).unwrap();
        assert_eq!(job.id, "p/r/k/x86_64");
        assert_eq!(job.recipe, "k.spec");
        assert_eq!(job.sources, Path::new("/jobs/x"));
        assert!(job.hostarch.is_none() && job.bdeps.is_empty() && job.release.is_none());
    }

    #[test]
    fn flags() {
        assert!(flag("1").unwrap());
        assert!(flag("true").unwrap());
        assert!(!flag("0").unwrap());
        assert!(!flag("false").unwrap());
        for bad in ["2", "yes", "on", " 1"] {
            let e = flag(bad).unwrap_err().to_string();
            assert!(e.contains("not a boolean"), "{e}");
        }
    }

    #[test]
    fn entities_and_nesting() {
        let job = parse_str(
            r#"<buildinfo project="home:a&amp;b" repository="r" package="k">
  <arch>x86_64</arch><file>k&#46;spec</file>
  <preinstallimage project="x" repository="y"><binary>a</binary><path project="n" repository="o"/></preinstallimage>
  <constraint><![CDATA[hardware:disk:size unit=G 10]]></constraint>
</buildinfo>"#,
        )
        .unwrap();
        assert_eq!(job.project, "home:a&b");
        assert_eq!(job.recipe, "k.spec");
        // A <path> nested in an unknown element is not a job repository.
        assert!(job.repos.is_empty());
        assert_eq!(job.constraints, ["hardware:disk:size unit=G 10"]);
    }

    #[test]
    fn arches_are_checked_names() {
        let with = |extra: &str| parse_str(&MINIMAL.replace("</file>", &format!("</file>{extra}")));
        let job = with("<hostarch>aarch64</hostarch><crossarch></crossarch>").unwrap();
        assert_eq!(job.hostarch.unwrap(), "aarch64");
        assert!(job.crossarch.is_none());
        for (bad, element) in [
            ("<hostarch>x y</hostarch>", "element <hostarch>"),
            ("<crossarch>../up</crossarch>", "element <crossarch>"),
            (
                "<bdep name=\"a\" arch=\"a:b\"/>",
                "<bdep name=\"a\">: attribute arch",
            ),
        ] {
            let e = format!("{:#}", with(bad).unwrap_err());
            assert!(
                e.contains(&format!("{element}: Architecture")) && !e.contains('\n'),
                "{e}"
            );
        }
        let e = format!(
            "{:#}",
            parse_str(&MINIMAL.replace(">x86_64<", ">x86/64<")).unwrap_err()
        );
        assert!(
            e.contains("element <arch>: Architecture \"x86/64\" is not an architecture name"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_and_place() {
        let cases = [
            (
                MINIMAL.replace("<arch>x86_64</arch>", ""),
                "element <arch> is missing",
            ),
            (
                MINIMAL.replace("<file>k.spec</file>", "<file> </file>"),
                "element <file> is empty",
            ),
            (
                MINIMAL.replace(" package=\"k\"", ""),
                "package=…> attribute is missing",
            ),
            (
                MINIMAL.replace("</arch>", "</arch><arch>i586</arch>"),
                "<arch> appears twice",
            ),
            (
                MINIMAL.replace("</file>", "</file><bdep name=\"a\" preinstall=\"2\"/>"),
                "line 3",
            ),
            (
                MINIMAL.replace("</file>", "</file><bdep version=\"1\"/>"),
                "number 1 has no name",
            ),
            (
                MINIMAL.replace("</file>", "</file><path project=\"a\"/>"),
                "<path> without a repository",
            ),
            (
                MINIMAL.replace("</file>", "</file><jobs>many</jobs>"),
                "<jobs>many</jobs>",
            ),
            (
                MINIMAL.replace(
                    "</file>",
                    "</file><error>unresolvable: nothing provides foo</error>",
                ),
                "OBS reports an error",
            ),
            (MINIMAL.replace("</buildinfo>", ""), "ends inside"),
            (MINIMAL.replace("</file>", "</fil>"), "broken XML at line 3"),
            ("<project name=\"p\"/>".to_string(), "not <buildinfo>"),
            (String::new(), "no <buildinfo> element"),
        ];
        for (xml, want) in cases {
            let e = format!("{:#}", parse_str(&xml).unwrap_err());
            assert!(e.starts_with("/jobs/x/buildinfo"), "{e}");
            assert!(e.contains(want), "want `{want}` in: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let e = format!(
            "{:#}",
            parse_str(&MINIMAL.replace("</file>", "</file><bdep name=\"a\" noinstall=\"yes\"/>"))
                .unwrap_err()
        );
        assert!(e.contains("<bdep name=\"a\">: attribute noinstall"), "{e}");
        assert!(e.contains("`yes` is not a boolean"), "{e}");
    }
}
