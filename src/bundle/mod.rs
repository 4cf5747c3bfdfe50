//! Phase bundles: one OCI runtime bundle per lifecycle phase of a job, with `config.json`
//! built by oci-spec's builders, so any OCI tool can inspect or run it.
//!
//! - `prepare` (root, in the buildroot, no network): the build user and its directories.
//! - `build` (the build user, in the buildroot, no network): the recipe's build with the
//!   sources mounted read-only at `/sources` and the results written to `/results`.
//! - `check-NAME` (the build user, in the read-only toolbox): each check of the job, with
//!   the results and the buildroot mounted read-only at `/results` and `/buildroot`.

pub mod recipe;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{
    Capabilities, LinuxCapabilitiesBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, Mount,
    MountBuilder, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};

use crate::job::Job;
use recipe::Recipe;

/// OBS builds as `abuild` (uid/gid 399) with `--norootforbuild`.
pub const BUILD_USER: &str = "abuild";
pub const BUILD_UID: u32 = 399;
pub const BUILD_GID: u32 = 399;
pub const BUILD_HOME: &str = "/home/abuild";

pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where a job's pieces are on the host (all absolute).
#[derive(Debug, Clone)]
pub struct Paths {
    /// The writable buildroot (the root of `prepare` and `build`).
    pub buildroot: PathBuf,
    /// The read-only toolbox (the root of the checks).
    pub toolbox: PathBuf,
    /// The recipe and its sources.
    pub sources: PathBuf,
    /// The source package debtransform made of OBS's Debian layout, and its `.dsc`:
    /// mounted read-only at `/sources.deb`.
    pub transformed: Option<(PathBuf, String)>,
    /// Where the build writes its results (OBS layout below it).
    pub results: PathBuf,
    /// Where the phases' cgroups go.
    pub cgroups: CgroupPlace,
}

/// Where a job's phase cgroups go (one per phase: its peak memory goes into _statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupPlace {
    /// `/obsbox/<job>-<phase>-<pid>`: run by the obsbox of that pid; `obsbox gc` collects
    /// them once it is gone.
    Owned(u32),
    /// `/obsbox-bundle/<job>-<phase>`: bundles for another runtime (`obsbox bundle`), run
    /// by runc or podman after the obsbox that wrote them is gone; gc leaves them alone.
    Exported,
}

impl CgroupPlace {
    /// The cgroups of phases run by this process.
    pub fn owned() -> CgroupPlace {
        CgroupPlace::Owned(std::process::id())
    }

    /// The cgroup path of `phase` of `job`.
    pub fn of(self, job: &Job, phase: &str) -> PathBuf {
        match self {
            CgroupPlace::Owned(pid) => PathBuf::from(format!(
                "/obsbox/{}-{}-{pid}",
                sanitize(&job.id),
                sanitize(phase)
            )),
            CgroupPlace::Exported => PathBuf::from(format!(
                "/obsbox-bundle/{}-{}",
                sanitize(&job.id),
                sanitize(phase)
            )),
        }
    }
}

/// What a phase is for, in order of the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseKind {
    Prepare,
    Build,
    /// The results' package information for the log (`dpkg-deb --info/--contents`,
    /// `rpm -qpi/-qplv`), from the toolbox, as obs-build prints it after a build.
    ResultsInfo,
    Check {
        gating: bool,
    },
}

/// A written phase bundle.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub kind: PhaseKind,
    /// The bundle directory (holds `config.json` and the phase's root, `rootfs`).
    pub dir: PathBuf,
}

impl Phase {
    /// The bundle and the root its `rootfs` shows.
    pub fn root(&self) -> BundleRoot {
        BundleRoot {
            dir: self.dir.clone(),
            of: match self.kind {
                PhaseKind::Prepare | PhaseKind::Build => RootOf::Buildroot,
                PhaseKind::ResultsInfo | PhaseKind::Check { .. } => RootOf::Toolbox,
            },
        }
    }
}

/// The build phase's bundle name.
pub const BUILD: &str = "build";

/// The results-info phase's bundle name.
pub const RESULTS_INFO: &str = "results-info";

/// What the results-info phase runs in the toolbox (busybox's shell; the package tools by
/// path, since busybox prefers applets of its own): for each package in the results, its
/// name as a heading, then what obs-build prints of it.
const RESULTS_INFO_SCRIPT: &str = r#"status=0
for f in /results/DEBS/*.deb /results/DEBS/*.ddeb /results/DEBS/*.udeb; do
    [ -f "$f" ] || continue
    printf '==== %s ====\n\n' "${f##*/}"
    /usr/bin/dpkg-deb --info "$f" || status=1
    echo
    /usr/bin/dpkg-deb --contents "$f" || status=1
    echo
done
rpmdb=
for f in /results/RPMS/*/*.rpm /results/SRPMS/*.rpm; do
    [ -f "$f" ] || continue
    # rpm wants a database even to query a file: an empty one of its own.
    if [ -z "$rpmdb" ]; then
        rpmdb=/tmp/results-info.rpmdb
        /usr/bin/rpm --dbpath "$rpmdb" --initdb || status=1
    fi
    printf '==== %s ====\n\n' "${f##*/}"
    /usr/bin/rpm --dbpath "$rpmdb" -qpi "$f" || status=1
    echo
    /usr/bin/rpm --dbpath "$rpmdb" -qplv "$f" || status=1
    echo
done
exit $status
"#;

/// A bundle's root directory, as the OCI bundle format has it: `rootfs` beside
/// `config.json` (runtime-tools' validator refuses a root outside the bundle).
pub const ROOTFS: &str = "rootfs";

/// Which of the job's roots a bundle's `rootfs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootOf {
    /// The job's buildroot: prepare, the build and callbacks in the buildroot share it.
    Buildroot,
    /// The job's toolbox, read-only: checks and callbacks run from it.
    Toolbox,
    /// A fresh copy of the assembled buildroot, made when the callback runs.
    Copy,
}

/// A written bundle and the root its `rootfs` must show before it runs.
#[derive(Debug, Clone)]
pub struct BundleRoot {
    pub dir: PathBuf,
    pub of: RootOf,
}

impl BundleRoot {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join(ROOTFS)
    }
}

/// A name usable in container ids and cgroup paths.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The build phase's hooks: `createRuntime` (pre-build) and `poststop` (post-build, then
/// cleanup).
#[derive(Debug, Default)]
pub struct PhaseHooks {
    pub create_runtime: Vec<oci_spec::runtime::Hook>,
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

/// Writes one bundle per phase under `out` (`out/prepare`, `out/build`, `out/check-NAME`);
/// the build phase carries `hooks` (the callbacks). With `emulation` (a foreign-arch
/// buildroot), the phases in the buildroot get what running its code through qemu needs.
pub fn write_bundles(
    templates: &Templates,
    job: &Job,
    paths: &Paths,
    out: &Path,
    hooks: &PhaseHooks,
    emulation: Option<&crate::binfmt::Emulation>,
) -> Result<Vec<Phase>> {
    let recipe = Recipe::of(job)?;
    let results_info = ["busybox", "sh", "-c", RESULTS_INFO_SCRIPT].map(String::from);
    // Each phase with what it runs from the toolbox (prepare and the build run the
    // buildroot's own).
    let mut phases: Vec<(String, PhaseKind, &[String])> = vec![
        ("prepare".to_string(), PhaseKind::Prepare, &[]),
        (BUILD.to_string(), PhaseKind::Build, &[]),
        (
            RESULTS_INFO.to_string(),
            PhaseKind::ResultsInfo,
            &results_info,
        ),
    ];
    for check in &job.checks {
        if check.run.is_empty() {
            bail!("check {}: no command to run", check.name);
        }
        phases.push((
            format!("check-{}", sanitize(&check.name)),
            PhaseKind::Check {
                gating: check.gating,
            },
            &check.run,
        ));
    }
    let mut written = Vec::new();
    for (name, kind, run) in phases {
        let dir = out.join(&name);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut spec = match &kind {
            PhaseKind::Prepare => prepare_spec(templates, job, &dir)?,
            PhaseKind::Build => {
                with_hooks(build_spec(templates, job, paths, &dir, &recipe)?, hooks)?
            }
            PhaseKind::ResultsInfo | PhaseKind::Check { .. } => {
                check_spec(templates, job, paths, &dir, run)?
            }
        };
        if let (Some(emulation), PhaseKind::Prepare | PhaseKind::Build) = (emulation, &kind) {
            emulation.adapt_spec(&mut spec)?;
        }
        let spec = finish(spec, job, paths, &name)?;
        spec.save(dir.join("config.json"))
            .with_context(|| format!("cannot write {}", dir.join("config.json").display()))?;
        written.push(Phase { name, kind, dir });
    }
    Ok(written)
}

/// The prepare phase: the build user and its directories (a root without account files,
/// whose packages ran no script that makes them, gets them with root's entry first), and,
/// as obs-build's init_buildsystem, an `/etc/hosts` naming localhost and the build's host
/// name (test suites connect to them).
fn prepare_spec(templates: &Templates, job: &Job, dir: &Path) -> Result<Spec> {
    let script = format!(
        "set -e\n\
         [ -e /etc/group ] || echo 'root:x:0:' > /etc/group\n\
         [ -e /etc/passwd ] || echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd\n\
         grep -q '^{user}:' /etc/group || echo '{user}:x:{gid}:' >> /etc/group\n\
         grep -q '^{user}:' /etc/passwd || echo '{user}:x:{uid}:{gid}:OBS build user:{home}:/bin/sh' >> /etc/passwd\n\
         mkdir -p {home} {topdir}\n\
         chown {uid}:{gid} {home} {topdir}\n\
         [ -e /etc/hosts ] || echo '127.0.0.1 localhost' > /etc/hosts\n\
         grep -qF '127.0.0.1 {host}' /etc/hosts || echo '127.0.0.1 {host}' >> /etc/hosts\n",
        host = hostname_of(BUILD),
        user = BUILD_USER,
        uid = BUILD_UID,
        gid = BUILD_GID,
        home = BUILD_HOME,
        topdir = recipe::TOPDIR,
    );
    Ok(with_process(
        complete(&templates.prepare, dir)?,
        vec!["/bin/sh".to_string(), "-c".to_string(), script],
        env(job, "/root"),
    ))
}

fn build_spec(
    templates: &Templates,
    job: &Job,
    paths: &Paths,
    dir: &Path,
    recipe: &Recipe,
) -> Result<Spec> {
    let transformed = paths.transformed.as_ref().map(|(_, dsc)| dsc.as_str());
    let mut spec = with_process(
        complete(&templates.build, dir)?,
        vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            recipe.build_script(job, transformed)?,
        ],
        env(job, BUILD_HOME),
    );
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(bind(&paths.sources, "/sources", true)?);
    if let Some((dir, _)) = &paths.transformed {
        mounts.push(bind(dir, "/sources.deb", true)?);
    }
    mounts.push(bind(&paths.results, "/results", false)?);
    spec.set_mounts(Some(mounts));
    Ok(spec)
}

fn with_hooks(mut spec: Spec, hooks: &PhaseHooks) -> Result<Spec> {
    if hooks.create_runtime.is_empty() && hooks.poststop.is_empty() {
        return Ok(spec);
    }
    let mut builder = oci_spec::runtime::HooksBuilder::default();
    if !hooks.create_runtime.is_empty() {
        builder = builder.create_runtime(hooks.create_runtime.clone());
    }
    if !hooks.poststop.is_empty() {
        builder = builder.poststop(hooks.poststop.clone());
    }
    spec.set_hooks(Some(builder.build()?));
    Ok(spec)
}

fn check_spec(
    templates: &Templates,
    job: &Job,
    paths: &Paths,
    dir: &Path,
    run: &[String],
) -> Result<Spec> {
    // The toolbox has no home for the build user: /tmp is its writable place.
    let mut spec = with_process(
        complete(&templates.check, dir)?,
        run.to_vec(),
        env(job, "/tmp"),
    );
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(bind(&paths.results, "/results", true)?);
    mounts.push(bind(&paths.buildroot, "/buildroot", true)?);
    mounts.push(tmpfs("/tmp")?);
    spec.set_mounts(Some(mounts));
    Ok(spec)
}

/// The templates of the bundles obsbox writes: what every job's phases share (namespaces,
/// the standard mounts, masked and read-only paths, devices, the process's user,
/// capabilities and limits). Shipped in obsbox's sources as `bundles/NAME.json`; an operator's
/// `CONFIG/bundles/NAME.json` replaces one. obsbox completes a template per job: the root's
/// path, the process's arguments and environment, the job's bind mounts, hooks,
/// annotations, hostname, cgroup and memory limit.
#[derive(Debug, Clone)]
pub struct Templates {
    prepare: Spec,
    build: Spec,
    check: Spec,
    callback: Spec,
}

/// The shipped templates, by name.
const SHIPPED: [(&str, &str); 4] = [
    ("prepare", include_str!("../../bundles/prepare.json")),
    ("build", include_str!("../../bundles/build.json")),
    ("check", include_str!("../../bundles/check.json")),
    ("callback", include_str!("../../bundles/callback.json")),
];

impl Templates {
    /// The shipped templates, with an operator's replacements from `CONFIG/bundles/`.
    pub fn load(config: Option<&Path>) -> Result<Templates> {
        let mut specs = Vec::with_capacity(SHIPPED.len());
        for (name, shipped) in SHIPPED {
            let own = config.map(|d| d.join("bundles").join(format!("{name}.json")));
            let spec = match own.filter(|p| p.exists()) {
                Some(path) => {
                    let text = fs::read_to_string(&path)
                        .with_context(|| format!("{}: cannot read", path.display()))?;
                    template(&text, &path.display().to_string())?
                }
                None => template(shipped, &format!("bundles/{name}.json"))?,
            };
            specs.push(spec);
        }
        let [prepare, build, check, callback] = <[Spec; 4]>::try_from(specs)
            .map_err(|_| anyhow::anyhow!("four bundle templates expected"))?;
        Ok(Templates {
            prepare,
            build,
            check,
            callback,
        })
    }

    /// The template of callback bundles, for the bundle in `dir` (its root is decided by
    /// the callback's configuration).
    pub(crate) fn callback(&self, dir: &Path, readonly: bool) -> Result<Spec> {
        let mut spec = complete(&self.callback, dir)?;
        if let Some(root) = spec.root_mut() {
            root.set_readonly(Some(readonly));
        }
        Ok(spec)
    }
}

/// A template as `file` holds it: a `config.json` whose root is `rootfs`.
fn template(text: &str, file: &str) -> Result<Spec> {
    let spec: Spec = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("{file}: not a bundle configuration: {e}"))?;
    let root = spec.root().as_ref().map(|r| r.path().clone());
    if root.as_deref() != Some(Path::new(ROOTFS)) {
        bail!("{file}: root.path must be \"{ROOTFS}\" (the bundle's own root)");
    }
    if spec.process().is_none() {
        bail!("{file}: no process (its user, capabilities and limits are the phase's)");
    }
    Ok(spec)
}

/// `template` for the bundle in `dir` (absolute): its root `dir/rootfs`.
fn complete(template: &Spec, dir: &Path) -> Result<Spec> {
    let mut spec = template.clone();
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    spec.set_root(Some(
        RootBuilder::default()
            .path(dir.join(ROOTFS))
            .readonly(readonly)
            .build()?,
    ));
    Ok(spec)
}

/// The template's process with `args` and `env`.
fn with_process(mut spec: Spec, args: Vec<String>, env: Vec<String>) -> Spec {
    if let Some(process) = spec.process_mut() {
        process.set_args(Some(args));
        process.set_env(Some(env));
    }
    spec
}

pub(crate) fn build_user_process(
    job: &Job,
    args: Vec<String>,
) -> Result<oci_spec::runtime::Process> {
    Ok(ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(BUILD_UID)
                .gid(BUILD_GID)
                .additional_gids(vec![BUILD_GID])
                .build()?,
        )
        .args(args)
        .env(env(job, BUILD_HOME))
        .cwd(BUILD_HOME)
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(Capabilities::new())
                .effective(Capabilities::new())
                .permitted(Capabilities::new())
                .inheritable(Capabilities::new())
                .ambient(Capabilities::new())
                .build()?,
        )
        .no_new_privileges(true)
        .build()?)
}

/// The parallel jobs of the build: the job's, or the number of cores when it gives none.
pub fn build_jobs(job: &Job) -> u32 {
    if job.jobs == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    } else {
        job.jobs
    }
}

pub(crate) fn env(job: &Job, home: &str) -> Vec<String> {
    let jobs = build_jobs(job);
    let mut env = vec![
        format!("PATH={PATH}"),
        format!("HOME={home}"),
        format!("USER={BUILD_USER}"),
        "LANG=C.UTF-8".to_string(),
        "TERM=dumb".to_string(),
        format!("OBSBOX_JOBS={jobs}"),
        format!("DEB_BUILD_OPTIONS=parallel={jobs}"),
    ];
    if !job.build_profiles.is_empty() {
        env.push(format!(
            "DEB_BUILD_PROFILES={}",
            job.build_profiles.join(" ")
        ));
    }
    env
}

/// A scratch tmpfs anyone may write to (mode 1777, as /tmp).
pub(crate) fn tmpfs(destination: &str) -> Result<Mount> {
    Ok(MountBuilder::default()
        .destination(destination)
        .typ("tmpfs")
        .source("tmpfs")
        .options(vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "mode=1777".to_string(),
        ])
        .build()?)
}

pub(crate) fn bind(source: &Path, destination: &str, readonly: bool) -> Result<Mount> {
    let mut options = vec![
        "rbind".to_string(),
        "nosuid".to_string(),
        "nodev".to_string(),
    ];
    options.push(if readonly { "ro" } else { "rw" }.to_string());
    Ok(MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source.to_path_buf())
        .options(options)
        .build()?)
}

/// The host name of a phase's container.
fn hostname_of(phase: &str) -> String {
    format!("obsbox-{}", sanitize(phase))
}

/// Annotations, hostname, cgroup and resource limits common to every phase.
pub(crate) fn finish(mut spec: Spec, job: &Job, paths: &Paths, phase: &str) -> Result<Spec> {
    let annotations: HashMap<String, String> = [
        ("org.openbuildservice.job", job.id.as_str()),
        ("org.openbuildservice.phase", phase),
        ("org.openbuildservice.arch", job.arch.as_str()),
        ("org.openbuildservice.hostarch", job.host_arch().as_str()),
        ("org.openbuildservice.project", job.project.as_str()),
        ("org.openbuildservice.package", job.package.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    spec.set_annotations(Some(annotations));
    spec.set_hostname(Some(hostname_of(phase)));
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux
        .resources()
        .clone()
        .unwrap_or(LinuxResourcesBuilder::default().build()?);
    if job.memory > 0 {
        resources.set_memory(Some(
            LinuxMemoryBuilder::default()
                .limit(job.memory as i64)
                .build()?,
        ));
    }
    linux.set_resources(Some(resources));
    linux.set_cgroups_path(Some(paths.cgroups.of(job, phase)));
    spec.set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_template_replaces_the_shipped_one() {
        let config = tempfile::tempdir().unwrap();
        let dir = config.path().join("bundles");
        fs::create_dir(&dir).unwrap();
        let mut build: serde_json::Value = serde_json::from_str(SHIPPED[1].1).unwrap();
        build["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/proc/cpuinfo".into());
        fs::write(dir.join("build.json"), build.to_string()).unwrap();
        let templates = Templates::load(Some(config.path())).unwrap();
        let masked = |spec: &Spec| {
            spec.linux()
                .as_ref()
                .and_then(|l| l.masked_paths().clone())
                .unwrap_or_default()
        };
        assert!(masked(&templates.build).contains(&"/proc/cpuinfo".to_string()));
        assert!(!masked(&templates.check).contains(&"/proc/cpuinfo".to_string()));
        let spec = complete(&templates.build, Path::new("/w/bundles/build")).unwrap();
        assert_eq!(
            spec.root().as_ref().unwrap().path(),
            Path::new("/w/bundles/build/rootfs")
        );
    }

    #[test]
    fn a_broken_template_is_one_line_naming_the_file() {
        let config = tempfile::tempdir().unwrap();
        let dir = config.path().join("bundles");
        fs::create_dir(&dir).unwrap();
        let file = dir.join("check.json");
        let err = |text: &str| {
            fs::write(&file, text).unwrap();
            let err = format!("{:#}", Templates::load(Some(config.path())).unwrap_err());
            assert!(!err.contains('\n'), "{err}");
            assert!(err.starts_with(&file.display().to_string()), "{err}");
            err
        };
        assert!(err("{").contains("not a bundle configuration"));
        let mut other_root: serde_json::Value = serde_json::from_str(SHIPPED[2].1).unwrap();
        other_root["root"]["path"] = "/".into();
        assert!(err(&other_root.to_string()).contains("root.path must be \"rootfs\""));
        let mut no_process = other_root.clone();
        no_process["root"]["path"] = "rootfs".into();
        no_process.as_object_mut().unwrap().remove("process");
        assert!(err(&no_process.to_string()).contains("no process"));
    }
}
