//! The `linux.resources` settings that libcontainer 0.7 does not apply, applied after the
//! container is created and before its process starts.
//!
//! Checked against the runtime spec's `config-linux.md` and libcgroups 0.7 (v1 manager, the
//! one used on this kind of host): it writes memory (limit, reservation, swap, kernel,
//! kernelTCP, swappiness), cpu (shares, quota, period, burst, realtime, idle, cpus, mems),
//! pids, blockIO, hugepageLimits, network (classID, priorities) and devices, and reads
//! `process.oomScoreAdj`. What it drops:
//! - `memory.disableOOMKiller`: libcontainer builds the cgroup options with it always
//!   false, so `memory.oom_control` stays 0. Applied here (cgroup v1; cgroup v2 has no such
//!   switch, as for runc).
//! - `memory.useHierarchy`: the kernel's hierarchy is always on since Linux 5.x (runc does
//!   not write it either).
//! - `memory.checkBeforeUpdate`: only for `update`, which obsbox does not offer.
//! - `rdma`: libcgroups has no v1 rdma controller; this host mounts none. A spec that sets
//!   it is refused rather than run without its limits.

use anyhow::{Context as _, Result, bail};
use libcontainer::config::YoukiConfig;
use libcontainer::container::Container;
use oci_spec::runtime::Spec;

use super::cgroups;

/// Applies what libcontainer left out of `spec`'s resources to the created `container`.
pub fn apply_dropped(container: &Container, spec: &Spec) -> Result<()> {
    let Some(resources) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Ok(());
    };
    if resources.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        bail!("linux.resources.rdma is not supported by obsbox");
    }
    let disable_oom_killer = resources
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    if !disable_oom_killer || container.systemd() {
        return Ok(());
    }
    let path = YoukiConfig::load(&container.root)
        .context("cannot read the saved config")?
        .cgroup_path;
    match cgroups::v1_dir(&path, "memory")? {
        Some(dir) => {
            let file = dir.join("memory.oom_control");
            std::fs::write(&file, "1")
                .with_context(|| format!("disableOOMKiller: cannot write {}", file.display()))
        }
        None => {
            tracing::warn!("disableOOMKiller is ignored: no cgroup v1 memory hierarchy");
            Ok(())
        }
    }
}
