//! What the job log tells about where a job ran, as obs-build's log does before the build:
//! the kernel, the worker, and the packages of the buildroot and of the toolbox (on every
//! run: a root from the cache has the same packages as the one first installed).

use super::results::Log;
use crate::model::Arch;
use crate::rootfs::RootPackage;

/// The kernel (as `uname -a` names it) and the worker: host name, machine, the job's arch.
pub fn system(log: &mut Log, job_arch: &Arch) {
    match nix::sys::utsname::uname() {
        Ok(uts) => {
            let field = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
            log.section(
                "Kernel",
                &[format!(
                    "{} {} {} {} {}",
                    field(uts.sysname()),
                    field(uts.nodename()),
                    field(uts.release()),
                    field(uts.version()),
                    field(uts.machine())
                )],
            );
            log.section(
                "Worker",
                &[
                    format!("hostname: {}", field(uts.nodename())),
                    format!("arch: {}", field(uts.machine())),
                    format!("job arch: {job_arch}"),
                    format!("obsbox: {}", env!("CARGO_PKG_VERSION")),
                ],
            );
        }
        Err(err) => log.note(&format!("cannot tell the kernel: uname: {err}")),
    }
}

/// A root's packages, one `NAME VERSION ARCH` line each, under `title` with their count.
pub fn packages(log: &mut Log, title: &str, packages: &[RootPackage]) {
    let lines: Vec<String> = packages
        .iter()
        .map(|p| format!("{} {} {}", p.name, p.version, p.arch))
        .collect();
    log.section(&format!("{title} ({})", packages.len()), &lines);
}
