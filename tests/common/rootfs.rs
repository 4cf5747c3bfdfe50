//! `obsbox rootfs create` in the tests: obsbox with a cache of its own, and the command's
//! arguments built from what a test varies (arch, mode, repositories, toolbox, packages),
//! so a test names only those.

use std::path::Path;
use std::process::Output;

use super::{Runtime, stderr_of};

/// obsbox with a private state directory and a fresh cache (removed with it).
pub struct Obsbox {
    pub runtime: Runtime,
    pub cache: tempfile::TempDir,
}

impl Default for Obsbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Obsbox {
    pub fn new() -> Obsbox {
        Obsbox {
            runtime: Runtime::new(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// `obsbox --cache CACHE ARGS…`.
    pub fn output(&self, args: &[&str]) -> Output {
        let mut all = vec!["--cache", self.cache.path().to_str().unwrap()];
        all.extend_from_slice(args);
        self.runtime.output(&all)
    }

    /// [`Obsbox::output`], required to succeed: its stdout and stderr.
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "obsbox {args:?} failed: {}",
            stderr_of(&out)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr_of(&out),
        )
    }

    /// `rootfs create` with `create`'s arguments.
    pub fn create(&self, create: &Create) -> Output {
        self.output(&create.args())
    }
}

/// The arguments of `obsbox rootfs create`, in the order a user would type them.
#[derive(Clone)]
pub struct Create(Vec<String>);

impl Create {
    /// `rootfs create --arch ARCH`.
    pub fn new(arch: &str) -> Create {
        Create(
            ["rootfs", "create", "--arch", arch]
                .map(String::from)
                .to_vec(),
        )
    }

    fn with(mut self, option: &str, value: impl AsRef<Path>) -> Create {
        self.0.push(option.to_string());
        self.0.push(value.as_ref().to_str().unwrap().to_string());
        self
    }

    /// `--mode MODE`: `extract` (the files only) or `install` (packages registered,
    /// maintainer scripts run).
    pub fn mode(self, mode: &str) -> Create {
        self.with("--mode", mode)
    }

    /// `--repo REPO` (a URL, a `file://… SUITE COMPONENT` line or a local directory).
    pub fn repo(self, repo: impl AsRef<Path>) -> Create {
        self.with("--repo", repo)
    }

    /// `--toolbox DIR`: the host-arch root whose package manager installs this one.
    pub fn toolbox(self, dir: &Path) -> Create {
        self.with("--toolbox", dir)
    }

    /// `--install NAME` for each of `names`.
    pub fn install(self, names: &[&str]) -> Create {
        names.iter().fold(self, |c, name| c.with("--install", name))
    }

    /// `--packages-from FILE`: one name a line.
    pub fn packages_from(self, file: &Path) -> Create {
        self.with("--packages-from", file)
    }

    /// An option without a value (`--mount`).
    pub fn flag(mut self, option: &str) -> Create {
        self.0.push(option.to_string());
        self
    }

    /// `--out DIR`.
    pub fn out(self, dir: &Path) -> Create {
        self.with("--out", dir)
    }

    pub fn args(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

/// A host-arch (amd64) toolbox with Debian's rpm, coreutils and dash, and `extra`, from
/// the Debian repository `repo`, at `out`: what registers an rpm root whose own set has
/// no rpm (and, with qemu-user-static in `extra`, a foreign one).
pub fn rpm_toolbox(repo: &str, extra: &[&str], out: &Path) -> Create {
    Create::new("amd64")
        .repo(repo)
        .install(&["rpm", "coreutils", "dash"])
        .install(extra)
        .out(out)
}
