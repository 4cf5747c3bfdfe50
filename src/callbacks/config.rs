//! The callback configuration: definitions in `CONFIG/callbacks/NAME.toml`, selected and
//! overridden per project in `CONFIG/projects/default.toml` and `CONFIG/projects/PROJECT.toml`.
//!
//! Precedence, lowest first (a later layer replaces each setting it names; `env`, `mounts`,
//! `tmpfs` and `scratch` merge key by key):
//! 1. the definition `callbacks/NAME.toml`;
//! 2. `projects/default.toml`, then `projects/PROJECT.toml`, each in this order:
//!    `[callback.NAME]`, `[arch.ARCH.callback.NAME]`, `[package.PKG.callback.NAME]`,
//!    `[package.PKG.arch.ARCH.callback.NAME]`.
//!
//! A package setting beats an arch setting: a package knows its own quirks better than an
//! arch-wide rule does. A project file may also define a callback of its own (it must then
//! give `hook` and `command` or `builtin`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::Arch;

/// When a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookPoint {
    /// Before the build container starts (the build bundle's `createRuntime` hooks).
    PreBuild,
    /// After the build, before the results are handed back (`poststop`); only after a
    /// successful build.
    PostBuild,
    /// After the post-build callbacks, whatever the build's outcome (`poststop`).
    Cleanup,
    /// When a job is matched against workers (`obsbox allocate`).
    Allocate,
}

impl HookPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPoint::PreBuild => "pre-build",
            HookPoint::PostBuild => "post-build",
            HookPoint::Cleanup => "cleanup",
            HookPoint::Allocate => "allocate",
        }
    }
}

/// The root a callback's container runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunsIn {
    /// The host-arch toolbox, read-only.
    Toolbox,
    /// The job's buildroot, writable (pre-build setup).
    Buildroot,
    /// A fresh copy of the buildroot as it was assembled, before the build touched it
    /// (test frameworks install the built packages there).
    BuildrootCopy,
}

/// How a job directory is mounted into a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MountMode {
    #[serde(rename = "ro")]
    ReadOnly,
    #[serde(rename = "rw")]
    ReadWrite,
}

/// The job directories a callback may have mounted, at `/NAME` inside it.
pub const PLACES: &[&str] = &["buildroot", "sources", "results", "oldresults"];

/// The user a callback's process runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum User {
    /// OBS's build user (uid 399), no capabilities.
    Build,
    /// root with the capabilities a package manager needs.
    Root,
}

/// What the job ends with when a gating callback fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// OBS "failed" (exit code 1).
    Failed,
    /// OBS "badhost" (exit code 3): the worker cannot do this job, another one may.
    Badhost,
}

/// One layer of settings, as a file gives them; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Layer {
    description: Option<String>,
    hook: Option<HookPoint>,
    runs_in: Option<RunsIn>,
    command: Option<Vec<String>>,
    builtin: Option<String>,
    args: Option<Vec<String>>,
    mounts: Option<BTreeMap<String, MountMode>>,
    tmpfs: Option<Vec<String>>,
    scratch: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    timeout: Option<String>,
    gating: Option<bool>,
    enabled: Option<bool>,
    on_failure: Option<OnFailure>,
    packages: Option<Vec<String>>,
    user: Option<User>,
    privileged: Option<bool>,
    network: Option<bool>,
    order: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scope {
    #[serde(default)]
    callback: BTreeMap<String, Layer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageScope {
    #[serde(default)]
    callback: BTreeMap<String, Layer>,
    #[serde(default)]
    arch: BTreeMap<Arch, Scope>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    #[serde(default)]
    callback: BTreeMap<String, Layer>,
    #[serde(default)]
    arch: BTreeMap<Arch, Scope>,
    #[serde(default)]
    package: BTreeMap<String, PackageScope>,
}

/// What a callback does: a command in a container, or work obsbox does itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Command(Vec<String>),
    Builtin(Builtin),
}

/// The registry of callbacks obsbox implements itself (`builtin = "NAME"`): each one's
/// name here, its work in [`super::hook`]'s `run_builtin`, and whether it runs target code
/// (then an emulated job's qemu is registered for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    /// Whether a rebuild made the same packages as the build before it.
    BuildCompare,
    /// The cross-arch work of a job: qemu for an emulated build (see [`super::cross`]).
    CrossBuild,
    /// Whether the build left its buildroot as it found it.
    VerifyClean,
}

impl Builtin {
    /// Every builtin, in the order the configuration's errors list them.
    pub const ALL: [Builtin; 3] = [
        Builtin::BuildCompare,
        Builtin::CrossBuild,
        Builtin::VerifyClean,
    ];

    /// The name the configuration and the annotations use.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::BuildCompare => "build-compare",
            Builtin::CrossBuild => "cross-build",
            Builtin::VerifyClean => "verify-clean",
        }
    }

    /// The builtin called `name`.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether its work runs the buildroot's (target-arch) code.
    pub fn runs_target_code(self) -> bool {
        matches!(self, Builtin::CrossBuild)
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A callback with every setting decided, and where each came from.
#[derive(Debug, Clone, Serialize)]
pub struct Callback {
    pub name: String,
    pub description: String,
    pub hook: HookPoint,
    pub runs_in: RunsIn,
    pub action: Action,
    /// What `{args}` in the command stands for.
    pub args: Vec<String>,
    pub mounts: BTreeMap<String, MountMode>,
    /// Writable scratch directories (tmpfs) inside the callback's root; `/tmp` always is.
    pub tmpfs: Vec<String>,
    /// Writable scratch directories on disk (bind mounts of per-callback directories under
    /// the job's work directory, gone with it): for what does not fit in memory, such as
    /// kiwi's image root in `/var/tmp`.
    pub scratch: Vec<String>,
    pub env: BTreeMap<String, String>,
    #[serde(serialize_with = "as_seconds")]
    pub timeout: Duration,
    pub gating: bool,
    pub enabled: bool,
    pub on_failure: OnFailure,
    /// Toolbox packages the callback needs; added to the job's toolbox when it runs.
    pub packages: Vec<String>,
    pub user: User,
    /// root with every capability, no seccomp filter: for tools that mount (kiwi).
    pub privileged: bool,
    /// Shares the worker's network (to reach a repository); else it has none.
    pub network: bool,
    /// Callbacks of one hook point run by `order`, then by name.
    pub order: i32,
    /// Setting name → the file and table it came from.
    pub origin: BTreeMap<String, String>,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// The default time a callback gets.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which job the callbacks are decided for.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub project: String,
    pub package: String,
    /// `None`: the job's arch is not known (no per-arch settings apply).
    pub arch: Option<Arch>,
}

/// Every callback known for `selector`, enabled or not, in run order (hook point, order,
/// name). `config` is the runtime configuration directory.
pub fn resolve(config: &Path, selector: &Selector) -> Result<Vec<Callback>> {
    let mut layers: BTreeMap<String, Vec<(String, Layer)>> = BTreeMap::new();
    let defs = config.join("callbacks");
    if defs.is_dir() {
        let mut files: Vec<PathBuf> = fs::read_dir(&defs)
            .with_context(|| format!("cannot read {}", defs.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let layer: Layer = crate::config::read_toml(&file)?;
            layers
                .entry(name)
                .or_default()
                .push((format!("callbacks/{}", file_name(&file)), layer));
        }
    }
    // The project names a file: only an OBS project name may, never a path.
    if !selector.project.is_empty() {
        crate::names::obs::project("project", &selector.project)?;
    }
    if !selector.package.is_empty() {
        crate::names::obs::package("package", &selector.package)?;
    }
    let projects = config.join("projects");
    let mut project_files = vec![projects.join("default.toml")];
    if !selector.project.is_empty() {
        project_files.push(projects.join(format!("{}.toml", selector.project)));
    }
    for file in project_files {
        if !file.exists() {
            continue;
        }
        let project: ProjectFile = crate::config::read_toml(&file)?;
        let origin = format!("projects/{}", file_name(&file));
        let mut add = |table: String, callbacks: BTreeMap<String, Layer>| {
            for (name, layer) in callbacks {
                layers
                    .entry(name.clone())
                    .or_default()
                    .push((format!("{origin} [{table}callback.{name}]"), layer));
            }
        };
        add(String::new(), project.callback);
        let mut arches = project.arch;
        if let Some(key) = matching_arch(&arches, selector.arch.as_ref()) {
            let scope = arches.remove(&key).unwrap_or_default();
            add(format!("arch.{key}."), scope.callback);
        }
        let mut packages = project.package;
        if let Some(mut scope) = packages.remove(&selector.package) {
            let package = &selector.package;
            add(format!("package.{package}."), scope.callback);
            if let Some(key) = matching_arch(&scope.arch, selector.arch.as_ref()) {
                let arch_scope = scope.arch.remove(&key).unwrap_or_default();
                add(
                    format!("package.{package}.arch.{key}."),
                    arch_scope.callback,
                );
            }
        }
    }
    let mut callbacks = layers
        .into_iter()
        .map(|(name, layers)| merge(&name, layers))
        .collect::<Result<Vec<_>>>()?;
    callbacks.sort_by(|a, b| (a.hook, a.order, &a.name).cmp(&(b.hook, b.order, &b.name)));
    Ok(callbacks)
}

/// The enabled callbacks for `selector`, in run order.
pub fn enabled(config: &Path, selector: &Selector) -> Result<Vec<Callback>> {
    Ok(resolve(config, selector)?
        .into_iter()
        .filter(|c| c.enabled)
        .collect())
}

/// The arch key of `tables` that names `arch`: the same name, or the same arch under
/// Debian's or RPM's name (`amd64` and `x86_64`).
fn matching_arch<T>(tables: &BTreeMap<Arch, T>, arch: Option<&Arch>) -> Option<Arch> {
    let arch = arch?;
    if tables.contains_key(arch) {
        return Some(arch.clone());
    }
    let wanted = arch.deb().ok()?;
    tables
        .keys()
        .find(|k| k.deb().ok() == Some(wanted))
        .cloned()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses `90`, `90s`, `15m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration (e.g. 90s, 15m, 2h)"))?;
    let scale = match unit.trim() {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        _ => bail!("{text:?} is not a duration (e.g. 90s, 15m, 2h)"),
    };
    // Bounded: the duration is added to clocks and written as a hook's i64 timeout, where
    // an hour count near u64::MAX wrapped to a wrong timeout or overflowed an `Instant`.
    match n.checked_mul(scale) {
        Some(seconds) if seconds <= MAX_DURATION_SECS => Ok(Duration::from_secs(seconds)),
        _ => bail!(
            "{text:?} is longer than {} days",
            MAX_DURATION_SECS / 86_400
        ),
    }
}

/// The longest duration [`parse_duration`] accepts: 30 days.
pub const MAX_DURATION_SECS: u64 = 30 * 86_400;

/// Folds the layers of one callback, lowest first, into its effective settings.
fn merge(name: &str, layers: Vec<(String, Layer)>) -> Result<Callback> {
    let mut origin = BTreeMap::new();
    let mut take = |field: &str, from: &str| {
        origin.insert(field.to_string(), from.to_string());
    };
    let mut description = String::new();
    let mut hook = None;
    let mut runs_in = RunsIn::Toolbox;
    let mut command: Option<Vec<String>> = None;
    let mut builtin: Option<Builtin> = None;
    let mut args = Vec::new();
    let mut mounts = BTreeMap::new();
    let mut tmpfs: Vec<String> = Vec::new();
    let mut scratch: Vec<String> = Vec::new();
    let mut env = BTreeMap::new();
    let mut timeout = DEFAULT_TIMEOUT;
    let mut gating = false;
    let mut enabled = false;
    let mut on_failure = OnFailure::Failed;
    let mut packages = Vec::new();
    let mut user = User::Build;
    let mut privileged = false;
    let mut network = false;
    let mut order = 50;
    for (from, layer) in layers {
        let at = |what: &str| format!("{from}: {what}");
        if let Some(v) = layer.description {
            description = v;
            take("description", &from);
        }
        if let Some(v) = layer.hook {
            hook = Some(v);
            take("hook", &from);
        }
        if let Some(v) = layer.runs_in {
            runs_in = v;
            take("runs-in", &from);
        }
        if let Some(v) = layer.command {
            if v.is_empty() {
                bail!("{}", at("command is empty"));
            }
            command = Some(v);
            builtin = None;
            take("command", &from);
        }
        if let Some(v) = layer.builtin {
            let Some(known) = Builtin::from_name(&v) else {
                let names: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
                bail!(
                    "{}",
                    at(&format!(
                        "unknown builtin {v:?} (known: {})",
                        names.join(", ")
                    ))
                );
            };
            builtin = Some(known);
            command = None;
            take("builtin", &from);
        }
        if let Some(v) = layer.args {
            args = v;
            take("args", &from);
        }
        if let Some(v) = layer.mounts {
            for (place, mode) in v {
                if !PLACES.contains(&place.as_str()) {
                    bail!(
                        "{}",
                        at(&format!(
                            "mounts: unknown place {place:?} (known: {})",
                            PLACES.join(", ")
                        ))
                    );
                }
                take(&format!("mounts.{place}"), &from);
                mounts.insert(place, mode);
            }
        }
        for (field, value, list) in [
            ("tmpfs", layer.tmpfs, &mut tmpfs),
            ("scratch", layer.scratch, &mut scratch),
        ] {
            let Some(v) = value else { continue };
            for dir in v {
                if !dir.starts_with('/') || dir.split('/').any(|c| c == "..") {
                    bail!(
                        "{}",
                        at(&format!("{field}: {dir:?} is not an absolute path"))
                    );
                }
                if dir.trim_end_matches('/').is_empty() {
                    bail!(
                        "{}",
                        at(&format!("{field}: {dir:?} would hide the whole root"))
                    );
                }
                if !list.contains(&dir) {
                    list.push(dir);
                }
            }
            take(field, &from);
        }
        if let Some(v) = layer.env {
            for (key, value) in v {
                take(&format!("env.{key}"), &from);
                env.insert(key, value);
            }
        }
        if let Some(v) = layer.timeout {
            timeout = parse_duration(&v).map_err(|e| anyhow::anyhow!("{}", at(&e.to_string())))?;
            if timeout.is_zero() {
                bail!("{}", at("timeout must be more than 0 s"));
            }
            take("timeout", &from);
        }
        if let Some(v) = layer.gating {
            gating = v;
            take("gating", &from);
        }
        if let Some(v) = layer.enabled {
            enabled = v;
            take("enabled", &from);
        }
        if let Some(v) = layer.on_failure {
            on_failure = v;
            take("on-failure", &from);
        }
        if let Some(v) = layer.packages {
            packages = v;
            take("packages", &from);
        }
        if let Some(v) = layer.user {
            user = v;
            take("user", &from);
        }
        if let Some(v) = layer.privileged {
            privileged = v;
            take("privileged", &from);
        }
        if let Some(v) = layer.network {
            network = v;
            take("network", &from);
        }
        if let Some(v) = layer.order {
            order = v;
            take("order", &from);
        }
    }
    let hook = hook.with_context(|| format!("callback {name}: no hook point given (hook = …)"))?;
    let action = match (command, builtin) {
        (Some(c), _) => Action::Command(c),
        (None, Some(b)) => Action::Builtin(b),
        (None, None) => bail!("callback {name}: neither command nor builtin given"),
    };
    if runs_in == RunsIn::Buildroot && mounts.contains_key("buildroot") {
        bail!("callback {name}: runs in the buildroot, so it cannot also mount it");
    }
    let normal = |dir: &String| dir.trim_end_matches('/').to_string();
    if let Some(dir) = scratch
        .iter()
        .find(|d| normal(d) == "/tmp" || tmpfs.iter().any(|t| normal(t) == normal(d)))
    {
        bail!("callback {name}: {dir} is both a tmpfs and a scratch directory");
    }
    Ok(Callback {
        name: name.to_string(),
        description,
        hook,
        runs_in,
        action,
        args,
        mounts,
        tmpfs,
        scratch,
        env,
        timeout,
        gating,
        enabled,
        on_failure,
        packages,
        user,
        privileged,
        network,
        order,
        origin,
    })
}

/// The values the placeholders of a command stand for.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    /// `None` (an empty `{arch}`): not known, as for an allocation by constraints alone.
    pub arch: Option<Arch>,
    pub hostarch: Option<Arch>,
    pub project: String,
    pub package: String,
}

impl Callback {
    /// The command with its placeholders replaced: `{args}` (a whole argument) by the
    /// callback's args, `{buildroot}` `{sources}` `{results}` `{oldresults}` by where those
    /// are inside the callback's root, and `{arch}` `{hostarch}` `{project}` `{package}`.
    pub fn argv(&self, values: &Placeholders) -> Vec<String> {
        let Action::Command(command) = &self.action else {
            return Vec::new();
        };
        let mut argv = Vec::new();
        for arg in command {
            if arg == "{args}" {
                argv.extend(self.args.iter().map(|a| self.expand(a, values)));
            } else {
                argv.push(self.expand(arg, values));
            }
        }
        argv
    }

    fn expand(&self, text: &str, values: &Placeholders) -> String {
        let buildroot = if self.runs_in == RunsIn::Toolbox {
            "/buildroot"
        } else {
            ""
        };
        text.replace("{buildroot}", buildroot)
            .replace("{sources}", "/sources")
            .replace("{results}", "/results")
            .replace("{oldresults}", "/oldresults")
            .replace("{arch}", values.arch.as_ref().map_or("", Arch::as_str))
            .replace(
                "{hostarch}",
                values.hostarch.as_ref().map_or("", Arch::as_str),
            )
            .replace("{project}", &values.project)
            .replace("{package}", &values.package)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn config() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "callbacks/lint.toml",
            "hook = \"post-build\"\ncommand = [\"/usr/bin/lint\", \"{args}\", \"{results}/RPMS\"]\n\
             args = [\"-v\"]\ngating = true\ntimeout = \"5m\"\n",
        );
        write(
            dir.path(),
            "projects/default.toml",
            "[callback.lint]\nenabled = true\n",
        );
        write(
            dir.path(),
            "projects/home:a.toml",
            "[callback.lint]\nargs = [\"--strict\"]\n\
             [arch.aarch64.callback.lint]\ntimeout = \"30m\"\ngating = false\n\
             [package.hello.callback.lint]\ngating = true\n\
             [package.hello.arch.x86_64.callback.lint]\nenabled = false\n",
        );
        dir
    }

    fn one(dir: &Path, project: &str, package: &str, arch: &str) -> Callback {
        let selector = Selector {
            project: project.into(),
            package: package.into(),
            arch: (!arch.is_empty()).then(|| arch.parse().unwrap()),
        };
        let mut all = resolve(dir, &selector).unwrap();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn precedence_definition_default_project_arch_package() {
        let dir = config();
        let other = one(dir.path(), "home:b", "x", "x86_64");
        assert!(other.enabled && other.gating);
        assert_eq!(other.args, ["-v"]);
        assert_eq!(
            other.origin["enabled"],
            "projects/default.toml [callback.lint]"
        );
        let project = one(dir.path(), "home:a", "x", "x86_64");
        assert_eq!(project.args, ["--strict"]);
        assert_eq!(project.timeout, Duration::from_secs(300));
        let arch = one(dir.path(), "home:a", "x", "aarch64");
        assert_eq!(arch.timeout, Duration::from_secs(1800));
        assert!(!arch.gating);
        // The package beats the arch.
        let package = one(dir.path(), "home:a", "hello", "aarch64");
        assert!(package.gating && package.enabled);
        assert_eq!(
            package.origin["gating"],
            "projects/home:a.toml [package.hello.callback.lint]"
        );
        // Debian's name of the arch selects the same tables.
        let package_arch = one(dir.path(), "home:a", "hello", "amd64");
        assert!(!package_arch.enabled);
        assert_eq!(
            package_arch.argv(&Placeholders::default()),
            ["/usr/bin/lint", "--strict", "/results/RPMS"]
        );
    }

    #[test]
    fn broken_files_name_file_and_line() {
        let dir = config();
        write(
            dir.path(),
            "projects/home:c.toml",
            "[callback.lint]\ngatng = true\n",
        );
        let selector = Selector {
            project: "home:c".into(),
            ..Selector::default()
        };
        let err = resolve(dir.path(), &selector).unwrap_err().to_string();
        assert!(
            err.contains("home:c.toml:2: unknown field `gatng`"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        write(
            dir.path(),
            "projects/home:c.toml",
            "[callback.lint]\ntimeout = \"soon\"\n",
        );
        let err = resolve(dir.path(), &selector).unwrap_err().to_string();
        assert!(
            err.contains("[callback.lint]: \"soon\" is not a duration"),
            "{err}"
        );
        write(
            dir.path(),
            "projects/home:c.toml",
            "[callback.new]\nenabled = true\n",
        );
        let err = resolve(dir.path(), &selector).unwrap_err().to_string();
        assert!(err.contains("callback new: no hook point"), "{err}");
    }

    #[test]
    fn scratch_directories_merge_and_are_checked() {
        let dir = config();
        write(
            dir.path(),
            "callbacks/image.toml",
            "hook = \"post-build\"\ncommand = [\"/bin/true\"]\nscratch = [\"/var/tmp\"]\n",
        );
        write(
            dir.path(),
            "projects/home:s.toml",
            "[callback.image]\nscratch = [\"/var/cache/kiwi\", \"/var/tmp\"]\n",
        );
        let selector = Selector {
            project: "home:s".into(),
            ..Selector::default()
        };
        let all = resolve(dir.path(), &selector).unwrap();
        let image = all.iter().find(|c| c.name == "image").unwrap();
        assert_eq!(image.scratch, ["/var/tmp", "/var/cache/kiwi"]);
        assert_eq!(
            image.origin["scratch"],
            "projects/home:s.toml [callback.image]"
        );
        for (bad, says) in [
            (
                "\"var/tmp\"",
                "scratch: \"var/tmp\" is not an absolute path",
            ),
            ("\"/a/../b\"", "is not an absolute path"),
            ("\"/\"", "would hide the whole root"),
            ("\"/tmp/\"", "/tmp/ is both a tmpfs and a scratch directory"),
        ] {
            write(
                dir.path(),
                "projects/home:s.toml",
                &format!("[callback.image]\nscratch = [{bad}]\n"),
            );
            let err = resolve(dir.path(), &selector).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        write(
            dir.path(),
            "projects/home:s.toml",
            "[callback.image]\ntmpfs = [\"/var/tmp\"]\n",
        );
        let err = resolve(dir.path(), &selector).unwrap_err().to_string();
        assert!(
            err.contains("callback image: /var/tmp is both a tmpfs and a scratch"),
            "{err}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5d").is_err());
        assert_eq!(
            parse_duration("720h").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        for huge in ["721h", "18446744073709551615h", "18446744073709551615"] {
            assert_eq!(
                parse_duration(huge).unwrap_err().to_string(),
                format!("{huge:?} is longer than 30 days")
            );
        }
    }
}
