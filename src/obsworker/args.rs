//! obs-build's command line, as bs_worker (OBS 2.9) writes it:
//!
//! ```text
//! build --root ROOT [--vm-type lxc|docker] --clean --changelog [--oldpackages DIR]
//!       [--norootforbuild] --baselibs-internal --lint --dist ROOT/.build.config
//!       --rpmlist ROOT/.build.rpmlist --logfile ROOT/.build.log [--release R] [--debug]
//!       --arch A [--jobs N] [--threads N] --reason TEXT --disturl URL [--linksources]
//!       [--signdummy] [--obspackage=P] [--buildflavor=F] [--kiwi-parameter P]…
//!       ROOT/.build-srcdir/RECIPE
//! build --root ROOT [--vm-type T] --kill
//! build --root ROOT --wipe
//! ```
//!
//! plus the VM options bs_worker adds for VM workers (which obsbox refuses by their
//! `--vm-type`), and from obs-build's own set `--hostarch`, `--target`, `--memory` and
//! `--define`/`--with`/`--without`. As in obs-build, an option may be written `-name` or
//! `--name`, and a value separately or as `--name=value`. Anything else is refused.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::model::Arch;
use anyhow::{Context as _, Result, bail};

/// What bs_worker asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Build the recipe (a path: bs_worker gives `ROOT/.build-srcdir/FILE`).
    Build(PathBuf),
    /// Stop the build running in the root and everything it started.
    Kill,
    /// Remove the build environment: stop the build, remove its state and the root.
    Wipe,
    /// `--help`: print [`USAGE`].
    Help,
}

/// What `build --help` prints.
pub const USAGE: &str = "\
usage: build --root ROOT [--rpmlist FILE] [--dist CONFIG] [--logfile FILE] [--arch A]
             [--release R] [--jobs N] [--reason TEXT] [--disturl URL] [--oldpackages DIR]
             [OBS-BUILD OPTIONS…] RECIPE
       build --root ROOT --kill | --wipe
obsbox as obs-build's `build` for bs_worker: the job bs_worker prepared in ROOT runs in
obsbox's containers; results go to ROOT/.build.packages. Configuration from the
environment: OBSBOX_CONFIG, OBSBOX_CACHE, OBSBOX_ROOT.
";

/// One call of `build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildCall {
    /// bs_worker's build root: the job's files and `.build.packages/` for the results.
    pub root: PathBuf,
    pub action: Action,
    /// `--vm-type`, when given: a container type obsbox stands in for.
    pub vm_type: Option<String>,
    /// `--dist`: the project config (bs_worker's `.build.config`).
    pub dist: Option<PathBuf>,
    pub rpmlist: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    pub release: Option<String>,
    pub arch: Option<Arch>,
    pub hostarch: Option<Arch>,
    pub jobs: Option<u32>,
    pub reason: Option<String>,
    pub disturl: Option<String>,
    pub oldpackages: Option<PathBuf>,
    /// `--memory`, MB.
    pub memory_mb: Option<u64>,
    pub obspackage: Option<String>,
    pub buildflavor: Option<String>,
    /// `--target`: rpmbuild's target arch.
    pub target: Option<String>,
    /// rpm macro lines from `--define`, `--with` and `--without`.
    pub defines: Vec<String>,
    /// `--clean`: what an earlier build (obs-build's chroot, an old obsbox run) left in
    /// ROOT goes before the build.
    pub clean: bool,
    /// Options taken for bs_worker's sake that change nothing in an obsbox build, as
    /// given (noted in the build log).
    pub ignored: Vec<String>,
}

/// Container types obs-build knows; obsbox's containers stand in for every one of them.
pub const CONTAINER_VM_TYPES: &[&str] = &["chroot", "lxc", "docker", "nspawn", "podman"];

/// Options without a value that obsbox takes without a change: obsbox always builds in a
/// fresh buildroot as the unprivileged build user, and which post-build tools run (rpmlint,
/// baselibs, build-compare) is its per-project callback configuration, not the worker's.
const IGNORED_FLAGS: &[&str] = &[
    "changelog",
    "norootforbuild",
    "baselibs-internal",
    "baselibs",
    "lint",
    "debug",
    "statistics",
    "linksources",
    "signdummy",
    "vm-watchdog",
    "vmdisk-clean",
    "vm-enable-console",
];

/// Options with a value that obsbox takes without a change (VM sizing and placement, kiwi
/// parameters, thread counts).
const IGNORED_VALUES: &[&str] = &[
    "threads",
    "kiwi-parameter",
    "vm-disk",
    "vm-swap",
    "vm-kernel",
    "vm-initrd",
    "vm-custom-opt",
    "vm-worker",
    "vm-worker-nr",
    "vm-server",
    "vmdisk-rootsize",
    "vmdisk-swapsize",
    "vmdisk-filesystem",
    "vmdisk-mount-options",
    "emulator-script",
    "hugetlbfs",
    "openstack-flavor",
];

/// Parses `build`'s arguments (without the program name). Errors are one line naming the
/// argument.
pub fn parse(args: &[OsString]) -> Result<BuildCall> {
    let mut root = None;
    let mut kill = false;
    let mut wipe = false;
    let mut positional = Vec::new();
    let mut call = BuildCall {
        root: PathBuf::new(),
        action: Action::Kill,
        vm_type: None,
        dist: None,
        rpmlist: None,
        logfile: None,
        release: None,
        arch: None,
        hostarch: None,
        jobs: None,
        reason: None,
        disturl: None,
        oldpackages: None,
        memory_mb: None,
        obspackage: None,
        buildflavor: None,
        target: None,
        defines: Vec::new(),
        clean: false,
        ignored: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let arg = arg
            .to_str()
            .with_context(|| format!("argument {arg:?} is not UTF-8"))?;
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.to_string());
            continue;
        }
        let (written, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg, None),
        };
        let name = written.trim_start_matches('-');
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => match rest.next().map(|v| v.to_str()) {
                    Some(Some(v)) => Ok(v.to_string()),
                    Some(None) => bail!("{written}: the value is not UTF-8"),
                    None => bail!("{written} needs a value"),
                },
            }
        };
        match name {
            "help" | "h" => {
                call.action = Action::Help;
                return Ok(call);
            }
            "root" => root = Some(PathBuf::from(value()?)),
            "kill" => kill = true,
            "wipe" => wipe = true,
            "vm-type" => call.vm_type = Some(value()?),
            "dist" => call.dist = Some(PathBuf::from(value()?)),
            "rpmlist" => call.rpmlist = Some(PathBuf::from(value()?)),
            "logfile" => call.logfile = Some(PathBuf::from(value()?)),
            "release" => call.release = Some(value()?),
            "arch" => call.arch = Some(value()?.parse().context(written.to_string())?),
            "hostarch" | "host-arch" => {
                call.hostarch = Some(value()?.parse().context(written.to_string())?)
            }
            "jobs" => {
                let v = value()?;
                call.jobs = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .with_context(|| format!("{written} {v}: not a positive number"))?,
                );
            }
            "reason" => call.reason = Some(value()?),
            "disturl" => call.disturl = Some(value()?),
            "oldpackages" => call.oldpackages = Some(PathBuf::from(value()?)),
            "memory" => {
                let v = value()?;
                call.memory_mb =
                    Some(memory_mb(&v).with_context(|| format!("{written} {v}: not a size"))?);
            }
            "obspackage" | "obs-package" => call.obspackage = Some(value()?),
            "buildflavor" | "build-flavor" | "obsmultibuild" | "obs-multibuild" => {
                call.buildflavor = Some(value()?)
            }
            "target" => call.target = Some(value()?),
            "define" => {
                let v = value()?;
                let v = v.trim();
                if v.is_empty() {
                    bail!("{written}: needs `NAME VALUE`");
                }
                call.defines.push(format!("%{}", v.trim_start_matches('%')));
            }
            "with" => call
                .defines
                .push(format!("%_with_{0} --with-{0}", value()?)),
            "without" => call
                .defines
                .push(format!("%_without_{0} --without-{0}", value()?)),
            "clean" => {
                if inline.is_some() {
                    bail!("{written} takes no value");
                }
                call.clean = true;
            }
            _ if IGNORED_FLAGS.contains(&name) => {
                if inline.is_some() {
                    bail!("{written} takes no value");
                }
                call.ignored.push(written.to_string());
            }
            _ if IGNORED_VALUES.contains(&name) => {
                let v = value()?;
                call.ignored.push(format!("{written} {v}"));
            }
            _ => bail!(
                "unknown option {written} (obsbox answers the obs-build options bs_worker passes)"
            ),
        }
    }
    call.root = root.context("--root ROOT is required")?;
    if let Some(vm) = &call.vm_type {
        if !vm.is_empty() && !CONTAINER_VM_TYPES.contains(&vm.as_str()) {
            bail!(
                "--vm-type {vm}: obsbox runs builds in its own containers, not in a VM \
                 (run bs_worker without a VM type, or with lxc or docker)"
            );
        }
    }
    call.action = match (kill, wipe) {
        (true, true) => bail!("--kill and --wipe exclude each other"),
        (true, false) => Action::Kill,
        (false, true) => Action::Wipe,
        (false, false) => match positional.as_slice() {
            [recipe] => Action::Build(PathBuf::from(recipe)),
            [] => bail!("no recipe given (the last argument: ROOT/.build-srcdir/FILE)"),
            [_, extra, ..] => bail!("unexpected argument {extra} after the recipe"),
        },
    };
    if matches!(call.action, Action::Kill | Action::Wipe) {
        if let Some(extra) = positional.first() {
            bail!("unexpected argument {extra} with --kill or --wipe");
        }
    }
    Ok(call)
}

/// `--memory`: MB, or a number with K, M, G or T.
fn memory_mb(v: &str) -> Option<u64> {
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "M"),
    };
    let n: u64 = digits.parse().ok()?;
    match unit.to_ascii_uppercase().trim_end_matches('B') {
        "K" => Some(n / 1024),
        "M" => Some(n),
        "G" => n.checked_mul(1024),
        "T" => n.checked_mul(1024 * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<BuildCall> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn bs_worker_chroot_call() {
        let call = parse_str(&[
            "--root",
            "/w/root_1",
            "--clean",
            "--changelog",
            "--oldpackages",
            "/w/root_1/.build.oldpackages",
            "--norootforbuild",
            "--baselibs-internal",
            "--lint",
            "--dist",
            "/w/root_1/.build.config",
            "--rpmlist",
            "/w/root_1/.build.rpmlist",
            "--logfile",
            "/w/root_1/.build.log",
            "--release",
            "1.1",
            "--debug",
            "--arch",
            "x86_64",
            "--jobs",
            "4",
            "--threads",
            "2",
            "--reason",
            "Building hello for project 'home:a' repository 'Debian_12' arch 'x86_64' srcmd5 'x'",
            "--disturl",
            "obs://obs/home:a/Debian_12/0123-hello",
            "--obspackage=hello",
            "--buildflavor=docs",
            "/w/root_1/.build-srcdir/hello.dsc",
        ])
        .unwrap();
        assert_eq!(call.root, PathBuf::from("/w/root_1"));
        assert_eq!(
            call.action,
            Action::Build(PathBuf::from("/w/root_1/.build-srcdir/hello.dsc"))
        );
        assert_eq!(call.release.as_deref(), Some("1.1"));
        assert_eq!(call.jobs, Some(4));
        assert_eq!(call.arch.as_ref().map(Arch::as_str), Some("x86_64"));
        assert_eq!(call.obspackage.as_deref(), Some("hello"));
        assert_eq!(call.buildflavor.as_deref(), Some("docs"));
        assert_eq!(
            call.oldpackages,
            Some(PathBuf::from("/w/root_1/.build.oldpackages"))
        );
        assert!(call.clean);
        assert_eq!(
            call.ignored,
            [
                "--changelog",
                "--norootforbuild",
                "--baselibs-internal",
                "--lint",
                "--debug",
                "--threads 2"
            ]
        );
    }

    #[test]
    fn kill_wipe_help_and_single_dash_forms() {
        assert_eq!(parse_str(&["--help"]).unwrap().action, Action::Help);
        let call = parse_str(&["-root", "/r", "--vm-type", "lxc", "--kill"]).unwrap();
        assert_eq!(call.action, Action::Kill);
        assert_eq!(call.vm_type.as_deref(), Some("lxc"));
        assert_eq!(
            parse_str(&["--root=/r", "--wipe"]).unwrap().action,
            Action::Wipe
        );
        let call = parse_str(&[
            "--root",
            "/r",
            "--define",
            "vendor obsbox",
            "--with",
            "docs",
            "--memory",
            "2G",
            "--target=i586",
            "/r/.build-srcdir/a.spec",
        ])
        .unwrap();
        assert_eq!(call.defines, ["%vendor obsbox", "%_with_docs --with-docs"]);
        assert_eq!(call.memory_mb, Some(2048));
        assert_eq!(call.target.as_deref(), Some("i586"));
    }

    #[test]
    fn refusals_are_one_line() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--root", "/r", "--frobnicate", "x.spec"],
                "unknown option --frobnicate",
            ),
            (&["x.spec"], "--root ROOT is required"),
            (&["--root"], "--root needs a value"),
            (&["--root", "/r"], "no recipe given"),
            (
                &["--root", "/r", "a.spec", "b.spec"],
                "unexpected argument b.spec",
            ),
            (
                &["--root", "/r", "--jobs", "0", "a.spec"],
                "--jobs 0: not a positive number",
            ),
            (
                &["--root", "/r", "--clean=1", "a.spec"],
                "--clean takes no value",
            ),
            (&["--root", "/r", "--kill", "--wipe"], "exclude each other"),
            (
                &["--root", "/r", "--kill", "a.spec"],
                "unexpected argument a.spec",
            ),
            (
                &[
                    "--root",
                    "/r/.mount",
                    "--vm-type",
                    "kvm",
                    "--vm-disk",
                    "/r.img",
                    "a.spec",
                ],
                "--vm-type kvm: obsbox runs builds in its own containers",
            ),
            (
                &["--root", "/r", "--memory", "lots", "a.spec"],
                "--memory lots: not a size",
            ),
        ];
        for (args, want) in cases {
            let err = format!("{:#}", parse_str(args).unwrap_err());
            assert!(err.contains(want), "{args:?}: want `{want}` in `{err}`");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
