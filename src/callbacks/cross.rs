//! The `cross-build` callback: the cross-arch work of a job.
//!
//! - Emulated builds (the target arch is not the host's, no `crossarch`): a pre-build
//!   builtin, run as the build phase's `createRuntime` hook, registers qemu-user from the
//!   toolbox in the build container's binfmt_misc (see [`crate::binfmt`]) between the
//!   container's mounts and its first process. obsbox does the same natively for the other
//!   containers of the job that run target code: the buildroot's installation, `prepare`,
//!   and callbacks that run in the buildroot.
//! - Sysroot cross builds (`crossarch`): where the target packages go.
//!
//! Its `args` hold the settings, `KEY=VALUE` each:
//! - `binfmt=auto|private|global`: where qemu is registered (default `auto`: a private
//!   binfmt_misc instance where the kernel allows, else the host's table under a name
//!   unique to the job);
//! - `sysroot=PATH`: the cross sysroot in the buildroot, `{triplet}` replaced by the
//!   target's GNU triplet (default `/usr/{triplet}/sys-root`).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::annotations as key;
use super::config::{Action, Builtin, Callback, HookPoint};
use crate::binfmt::{Emulation, Mode, Target};
use crate::model::Arch;

/// The default cross sysroot.
pub const DEFAULT_SYSROOT: &str = "/usr/{triplet}/sys-root";

/// The settings of the cross-build callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub binfmt: String,
    pub sysroot: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            binfmt: "auto".to_string(),
            sysroot: DEFAULT_SYSROOT.to_string(),
        }
    }
}

impl Settings {
    /// The settings given as the callback's `args`.
    pub fn from_args(args: &[String]) -> Result<Settings> {
        let mut settings = Settings::default();
        for arg in args {
            let (k, v) = arg
                .split_once('=')
                .with_context(|| format!("cross-build: argument {arg:?} is not KEY=VALUE"))?;
            match k {
                "binfmt" => {
                    if !["auto", "private", "global"].contains(&v) {
                        bail!("cross-build: binfmt={v}: expected auto, private or global");
                    }
                    settings.binfmt = v.to_string();
                }
                "sysroot" => {
                    if !v.starts_with('/') || v.split('/').any(|c| c == "..") {
                        bail!("cross-build: sysroot={v}: must be an absolute path without `..`");
                    }
                    settings.sysroot = v.to_string();
                }
                other => bail!("cross-build: unknown setting {other:?} (known: binfmt, sysroot)"),
            }
        }
        Ok(settings)
    }

    /// The sysroot directory for `arch`, relative to the buildroot.
    pub fn sysroot_for(&self, arch: &Arch) -> Result<PathBuf> {
        let target = Target::of(arch)?;
        let path = self.sysroot.replace("{triplet}", target.triplet);
        Ok(PathBuf::from(path.trim_start_matches('/')))
    }
}

/// Whether `callback` is the cross-build builtin.
pub fn is_cross_build(callback: &Callback) -> bool {
    callback.action == Action::Builtin(Builtin::CrossBuild)
}

/// The enabled cross-build callback among `callbacks`, as a pre-build one.
pub fn find(callbacks: &[Callback]) -> Result<Option<&Callback>> {
    match callbacks.iter().find(|c| is_cross_build(c)) {
        Some(c) if c.hook != HookPoint::PreBuild => bail!(
            "callback {}: the cross-build builtin must be a pre-build callback, not {}",
            c.name,
            c.hook.as_str()
        ),
        found => Ok(found),
    }
}

/// The annotations that tell the hook entry how a container's target code runs.
pub fn annotate(emulation: &Emulation, annotations: &mut HashMap<String, String>) {
    annotations.insert(
        key::EMULATE_ARCH.to_string(),
        emulation.target.deb.to_string(),
    );
    annotations.insert(
        key::EMULATE_INTERPRETER.to_string(),
        emulation.interpreter.to_string_lossy().into_owned(),
    );
    annotations.insert(
        key::EMULATE_BINFMT.to_string(),
        emulation.mode.name().to_string(),
    );
    annotations.insert(key::EMULATE_OWNER.to_string(), emulation.owner.to_string());
}

/// The emulation the annotations describe, if any.
pub fn from_annotations(annotations: &HashMap<String, String>) -> Result<Option<Emulation>> {
    let Some(arch) = annotations.get(key::EMULATE_ARCH) else {
        return Ok(None);
    };
    let arch: Arch = arch
        .parse()
        .with_context(|| format!("annotation {}", key::EMULATE_ARCH))?;
    let interpreter = annotations
        .get(key::EMULATE_INTERPRETER)
        .context("no interpreter annotation")?;
    let mode = match annotations.get(key::EMULATE_BINFMT).map(String::as_str) {
        Some("global") => Mode::Global,
        _ => Mode::Private,
    };
    let owner = annotations
        .get(key::EMULATE_OWNER)
        .and_then(|o| o.parse().ok())
        .context("no owner annotation")?;
    Ok(Some(Emulation {
        target: Target::of(&arch)?,
        interpreter: PathBuf::from(interpreter),
        mode,
        owner,
    }))
}

/// The builtin, as the build phase's createRuntime hook: the OCI state on stdin names
/// the build container's init process and bundle; qemu goes into its binfmt_misc.
pub fn run_hook(
    annotations: &HashMap<String, String>,
) -> Result<(super::Outcome, Option<i32>, String)> {
    let Some(emulation) = from_annotations(annotations)? else {
        return Ok((
            super::Outcome::Skipped,
            None,
            "skipped: the build runs natively".to_string(),
        ));
    };
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the container state from stdin")?;
    let state: serde_json::Value =
        serde_json::from_str(&input).context("stdin: not the OCI state of a container")?;
    let pid = state
        .get("pid")
        .and_then(|p| p.as_i64())
        .filter(|p| *p > 0)
        .context("the container state has no pid (run as a createRuntime hook)")?
        as i32;
    let bundle = state
        .get("bundle")
        .and_then(|b| b.as_str())
        .context("the container state names no bundle")?;
    let rootfs = build_rootfs(Path::new(bundle))?;
    emulation.register_for(pid, Some(&rootfs))?;
    let what = match emulation.mode {
        Mode::Private => format!(
            "{} registered in the build container's own binfmt_misc (flags FP)",
            emulation.entry_name()
        ),
        Mode::Global => format!(
            "the job's entry {} in the host's binfmt_misc serves the build container",
            emulation.entry_name()
        ),
    };
    Ok((
        super::Outcome::Ok,
        None,
        format!(
            "{} target code runs through {}: {what}",
            emulation.target.deb,
            emulation.interpreter.display()
        ),
    ))
}

/// The root directory of the bundle at `bundle`, absolute.
fn build_rootfs(bundle: &Path) -> Result<PathBuf> {
    let config = bundle.join("config.json");
    let spec = oci_spec::runtime::Spec::load(&config)
        .with_context(|| format!("{}: cannot load", config.display()))?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .with_context(|| format!("{}: no root", config.display()))?;
    Ok(if root.is_absolute() {
        root
    } else {
        bundle.join(root)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_args() {
        let s = Settings::from_args(&[]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(
            s.sysroot_for(&"aarch64".parse().unwrap()).unwrap(),
            PathBuf::from("usr/aarch64-linux-gnu/sys-root")
        );
        let s = Settings::from_args(&["binfmt=global".into(), "sysroot=/opt/{triplet}".into()])
            .unwrap();
        assert_eq!(s.binfmt, "global");
        assert_eq!(
            s.sysroot_for(&"armhf".parse().unwrap()).unwrap(),
            PathBuf::from("opt/arm-linux-gnueabihf")
        );
        for bad in [
            "binfmt=maybe",
            "sysroot=usr/x",
            "sysroot=/usr/../etc",
            "colour=red",
            "x",
        ] {
            assert!(Settings::from_args(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
