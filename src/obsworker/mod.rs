//! The real OBS worker's entry points: bs_worker runs every job as `$statedir/build/build …`
//! (obs-build's command line) and asks `--hostcheck PROGRAM` whether this host should take
//! a job. obsbox answers both, so a worker adopts obsbox without any change to OBS:
//!
//! - [`args`]: obs-build's command line as bs_worker writes it.
//! - [`build`]: the job bs_worker prepared in its build root, run through obsbox's
//!   lifecycle, with results, log and exit code where bs_worker reads them; `--kill` and
//!   `--wipe`.
//! - [`prjconf`]: what obsbox takes from the project config bs_worker hands over.
//! - [`hostcheck`]: the pre-build check against this worker's capabilities and the
//!   post-build check of the log.
//!
//! bs_worker passes no obsbox options, so the state directory, the cache and the runtime
//! configuration come from the environment it runs in (see [`Settings`]).

pub mod args;
pub mod build;
pub mod hostcheck;
pub mod prjconf;

use std::path::{Path, PathBuf};

use anyhow::Result;

/// The file names obsbox answers to as bs_worker's programs.
pub const BUILD_NAME: &str = "build";
pub const HOSTCHECK_NAMES: &[&str] = &["hostcheck", "obsbox-hostcheck"];

/// Where a worker-driven obsbox keeps its state, its cache and its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The runtime state directory (containers), like `obsbox --root`.
    pub state_root: PathBuf,
    /// The package and rootfs cache, like `obsbox --cache`.
    pub cache: PathBuf,
    /// The runtime configuration directory, if there is one.
    pub config: Option<PathBuf>,
}

/// The environment variables [`Settings::from_env`] reads.
pub const ENV_STATE: &str = "OBSBOX_ROOT";
pub const ENV_CACHE: &str = "OBSBOX_CACHE";
pub const ENV_CONFIG: &str = crate::config::ENV;

impl Settings {
    /// `OBSBOX_ROOT` (default `/run/obsbox`), `OBSBOX_CACHE` (default `/var/cache/obsbox`)
    /// and the runtime configuration directory by [`crate::config`]'s rule.
    /// `state_root` and `cache` override the environment (obsbox's `--root` and `--cache`).
    pub fn from_env(state_root: Option<PathBuf>, cache: Option<PathBuf>) -> Result<Settings> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let state_root = state_root
            .or_else(|| var(ENV_STATE).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_ROOT));
        let cache = cache
            .or_else(|| var(ENV_CACHE).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CACHE));
        let config = crate::config::find(None)?;
        Ok(Settings {
            state_root,
            cache,
            config,
        })
    }
}

/// Whether `argv0` names obsbox as bs_worker's `build` (obs-build) or as its host check.
pub fn invoked_as(argv0: &std::ffi::OsStr) -> Option<Invocation> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    if name == BUILD_NAME {
        Some(Invocation::Build)
    } else if HOSTCHECK_NAMES.contains(&name) {
        Some(Invocation::Hostcheck)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Build,
    Hostcheck,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn program_names() {
        assert_eq!(
            invoked_as(OsStr::new("/var/cache/obs/worker/build/build")),
            Some(Invocation::Build)
        );
        assert_eq!(invoked_as(OsStr::new("build")), Some(Invocation::Build));
        assert_eq!(
            invoked_as(OsStr::new("/usr/lib/obs/hostcheck")),
            Some(Invocation::Hostcheck)
        );
        assert_eq!(invoked_as(OsStr::new("obsbox")), None);
        assert_eq!(invoked_as(OsStr::new("/usr/bin/build-x")), None);
    }
}
