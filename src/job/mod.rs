//! The build job: what to build, for which arch, from which packages; read from OBS's
//! buildinfo XML, from the `.build.rpmlist` bs_worker writes, or from a native `job.toml`.
//!
//! Every reader produces the same [`Job`], so the rest of obsbox (rootfs → bundle →
//! lifecycle) does not care where a job came from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::Arch;

pub mod buildinfo;
pub mod names;
pub mod native;
pub mod rpmlist;

/// One build dependency as OBS lists it (`<bdep …/>` of a buildinfo, or a package of
/// `.build.rpmlist`). The flags say what OBS's build script does with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bdep {
    pub name: String,
    pub epoch: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
    pub arch: Option<Arch>,
    /// Unpacked first, natively (the base the rest installs into).
    pub preinstall: bool,
    /// Installed into the VM image only (not the buildroot), OBS `vminstall`.
    pub vminstall: bool,
    /// Its install scripts run during preinstall, OBS `runscripts`.
    pub runscripts: bool,
    /// Downloaded but not installed, OBS `noinstall`.
    pub noinstall: bool,
    /// Installed without dependency checks, OBS `installonly`.
    pub installonly: bool,
    /// Goes into the cross sysroot, OBS `sysroot` (cross builds).
    pub sysroot: bool,
    /// Not part of the build's meta (does not trigger rebuilds), OBS `notmeta`.
    pub notmeta: bool,
    pub project: Option<String>,
    pub repository: Option<String>,
    /// A local package file when the job already has it (`.build.rpmlist` gives paths).
    pub path: Option<PathBuf>,
}

/// A repository of a job: OBS's `<path project repository server url/>`, or a repository
/// argument as `obsbox rootfs create --repo` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    pub project: Option<String>,
    pub repository: Option<String>,
    /// The repository argument (path, file:// or http:// base, with suite and components
    /// for a Debian archive). Empty when only project/repository are known (OBS), then the
    /// runtime configuration maps them.
    pub url: String,
}

/// A check phase: a command run after the build from the toolbox, with the results and
/// the buildroot mounted read-only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// argv; `sh -c` for a script.
    pub run: Vec<String>,
    /// Fails the job when it fails (else logged only).
    pub gating: bool,
}

/// A build job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// A name for containers, logs and annotations: `project/repository/package/arch`
    /// when known, else the job file's name.
    pub id: String,
    pub project: String,
    pub repository: String,
    pub package: String,
    /// Target arch (OBS `arch`), as written in the job (`x86_64`, `amd64`, `aarch64`, …).
    pub arch: Arch,
    /// The worker's arch (OBS `hostarch`); `None` means the same as `arch`.
    pub hostarch: Option<Arch>,
    /// OBS `crossarch` (sysroot cross builds); `None` when not cross.
    pub crossarch: Option<Arch>,
    /// The recipe file name (OBS `file`): `NAME.spec`, `NAME.dsc`, or a directory holding
    /// `debian/` for a source tree.
    pub recipe: String,
    /// Directory holding the recipe and its sources.
    pub sources: PathBuf,
    /// OBS `release` (the build counter), when given.
    pub release: Option<String>,
    /// Build dependencies with OBS's flags. For a job.toml these are the packages it lists;
    /// the recipe's own build dependencies are added when the job is prepared.
    pub bdeps: Vec<Bdep>,
    /// Target repositories (OBS `path`), in priority order.
    pub repos: Vec<RepoRef>,
    /// Host repositories for the toolbox (OBS `syspath`).
    pub toolbox_repos: Vec<RepoRef>,
    /// Extra toolbox packages beyond the runtime configuration's list.
    pub toolbox: Vec<String>,
    /// OBS `constraint` lines carried by the buildinfo (for allocation).
    pub constraints: Vec<String>,
    /// Parallel build jobs (`--jobs`), 0 = the number of cores.
    pub jobs: u32,
    /// Memory limit for the build, bytes; 0 = none.
    pub memory: u64,
    pub checks: Vec<Check>,
    /// `rpmbuild --target`: RPMs for another arch the buildroot can build for (i586 on
    /// x86_64, the builds mkbaselibs turns into `-32bit` packages). Empty: the native one.
    #[serde(default)]
    pub rpm_target: String,
    /// rpm macro definitions for a `.spec` build (a macro file's text: `%name value`
    /// lines), e.g. the `Macros:` section of an OBS project config. Empty: none.
    #[serde(default)]
    pub rpm_macros: String,
    /// The bdep list is the whole package set, as OBS's scheduler expanded it (a buildinfo
    /// or a `.build.rpmlist`): the recipe's own build dependencies are not added, as
    /// obs-build does not add them.
    #[serde(default)]
    pub expanded: bool,
    /// Debian build profiles the build activates (`DEB_BUILD_PROFILES`): they choose which
    /// restricted build relations of the recipe apply. None by default.
    #[serde(default)]
    pub build_profiles: Vec<String>,
    /// The command that builds a Debian source (the project config's `Substitute:
    /// dsc:build_cmd`, a shell command line run in the unpacked source as the build user).
    /// Empty: `dpkg-buildpackage -us -uc -b`, as obs-build.
    #[serde(default)]
    pub dsc_build_cmd: String,
}

impl Job {
    /// A job named `id` for `arch` with nothing else set (no sources, packages or
    /// repositories, limits left to the worker): each reader fills in what its file says.
    pub fn named(id: String, arch: Arch) -> Job {
        Job {
            id,
            project: String::new(),
            repository: String::new(),
            package: String::new(),
            arch,
            hostarch: None,
            crossarch: None,
            recipe: String::new(),
            sources: PathBuf::new(),
            release: None,
            bdeps: Vec::new(),
            repos: Vec::new(),
            toolbox_repos: Vec::new(),
            toolbox: Vec::new(),
            constraints: Vec::new(),
            jobs: 0,
            memory: 0,
            checks: Vec::new(),
            rpm_target: String::new(),
            rpm_macros: String::new(),
            expanded: false,
            build_profiles: Vec::new(),
            dsc_build_cmd: String::new(),
        }
    }

    /// The arch of the machine the job runs on: its `hostarch`, or its arch when it names
    /// none.
    pub fn host_arch(&self) -> &Arch {
        self.hostarch.as_ref().unwrap_or(&self.arch)
    }
}

/// Reads the job in `path`, choosing the reader by what the file is: `*.toml` is a native
/// job file, a file whose content starts with `<buildinfo` (after an optional XML
/// declaration) is OBS buildinfo, and a file named `.build.rpmlist` (or `*.rpmlist`) is
/// the list bs_worker writes. A list under another name is read with [`rpmlist::load`].
pub fn load(path: &Path) -> Result<Job> {
    if path.extension().is_some_and(|e| e == "toml") {
        return native::load(path);
    }
    if path
        .file_name()
        .is_some_and(|n| n == ".build.rpmlist" || n.to_string_lossy().ends_with(".rpmlist"))
    {
        return rpmlist::load(path);
    }
    let data = read_job_file(path)?;
    if is_buildinfo(&data) {
        return buildinfo::parse(&data, path);
    }
    bail!(
        "{}: not a job file: expected a job.toml (*.toml), OBS buildinfo XML (<buildinfo …>) \
         or a .build.rpmlist",
        path.display()
    )
}

/// The largest job file read (buildinfo, `.build.rpmlist`, job.toml): OBS's buildinfos are
/// rarely above a few megabytes, even for thousands of build dependencies. A buildinfo of
/// 32 MiB is 250,000 bdeps, read into about 140 MB; twice that would pass the 200 MB a
/// worker gives obsbox.
pub const MAX_JOB_FILE: u64 = 32 << 20;

/// The bytes of job file `path`, refused past [`MAX_JOB_FILE`] before more is read.
fn read_job_file(path: &Path) -> Result<Vec<u8>> {
    let data = std::fs::File::open(path)
        .and_then(|f| crate::io::read_at_most(f, MAX_JOB_FILE))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    data.with_context(|| {
        format!(
            "{}: larger than {} MiB (no job file is nearly as large); refused",
            path.display(),
            MAX_JOB_FILE >> 20
        )
    })
}

/// [`read_job_file`] as text.
fn read_job_text(path: &Path) -> Result<String> {
    crate::io::into_text(read_job_file(path)?)
        .with_context(|| format!("{}: cannot read", path.display()))
}

/// Whether `data` is an XML document whose root is `<buildinfo>`: only the prolog (BOM,
/// declaration, comments, whitespace) may come first.
fn is_buildinfo(data: &[u8]) -> bool {
    let mut rest = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    loop {
        rest = rest.trim_ascii_start();
        let close: &[u8] = if rest.starts_with(b"<?") {
            b"?>"
        } else if rest.starts_with(b"<!--") {
            b"-->"
        } else {
            break;
        };
        match rest.windows(close.len()).position(|w| w == close) {
            Some(i) => rest = &rest[i + close.len()..],
            None => return false,
        }
    }
    rest.strip_prefix(b"<buildinfo").is_some_and(|after| {
        after
            .first()
            .is_none_or(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')
    })
}

/// The directory relative paths of a job file are resolved against: the file's own.
fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `project/repository/package/arch`, the id of a job whose origin names all four.
fn job_id(project: &str, repository: &str, package: &str, arch: &Arch) -> String {
    format!("{project}/{repository}/{package}/{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildinfo_detection() {
        assert!(is_buildinfo(b"<buildinfo project=\"a\">"));
        assert!(is_buildinfo(b"\n  <buildinfo>"));
        assert!(is_buildinfo(
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- job -->\n<buildinfo\n project=\"a\">"
        ));
        assert!(!is_buildinfo(b"<buildinfolist>"));
        assert!(!is_buildinfo(b"<?xml version=\"1.0\"?><project/>"));
        assert!(!is_buildinfo(b"<?xml version=\"1.0\""));
        assert!(!is_buildinfo(b"package = \"x\""));
        assert!(!is_buildinfo(b""));
    }

    #[test]
    fn base_dir_of_bare_name_is_cwd() {
        assert_eq!(base_dir(Path::new("job.toml")), PathBuf::from("."));
        assert_eq!(base_dir(Path::new("/a/b/job.toml")), PathBuf::from("/a/b"));
    }
}
