//! Deleting a container, then running its poststop hooks (see [`super::hooks`] for why
//! obsbox runs those itself).
//!
//! A stopped container on a cgroup v1 host is deleted without libcontainer: its deletion
//! spends most of its time finding the container's cgroups (see [`super::cgroups`]). What
//! is removed, and in which order, is libcontainer's: Intel RDT directories (a failure only
//! logged), cgroups (processes left in them killed), the state directory, then the poststop
//! hooks. Everything else (a running or created container, systemd cgroups, a unified host,
//! a state directory without its saved config) goes through libcontainer.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use libcontainer::config::YoukiConfig;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::process::intel_rdt::cleanup_intel_rdt;
use oci_spec::runtime::Hook;

use super::{cgroups, hooks};

/// Deletes `container` (with `force`, also one that still runs) and then runs its poststop
/// hooks; their failures are logged.
pub fn delete(container: &mut Container, force: bool) -> Result<()> {
    if let Some(done) = delete_stopped(container) {
        return done;
    }
    let poststop = hooks::take_poststop_hooks(container)?;
    let cgroup_path = YoukiConfig::load(&container.root)
        .ok()
        .map(|config| config.cgroup_path);
    container
        .delete(force)
        .with_context(|| format!("container {}: cannot delete", container.id()))?;
    // libcontainer leaves the `name=systemd` cgroup obsbox put the container in.
    if let Some(Ok(Some(dirs))) = cgroup_path.as_deref().map(cgroups::v1_dirs) {
        if let Err(err) = cgroups::remove(&dirs) {
            tracing::warn!("container {}: {err:#}", container.id());
        }
    }
    hooks::run_poststop(container, &poststop)
}

/// The quick deletion; `None` when it does not apply (nothing has been changed then).
fn delete_stopped(container: &mut Container) -> Option<Result<()>> {
    if container.systemd() || container.refresh_status().is_err() {
        return None;
    }
    if container.status() != ContainerStatus::Stopped {
        return None;
    }
    let config = YoukiConfig::load(&container.root).ok()?;
    let dirs = cgroups::v1_dirs(&config.cgroup_path).ok()??;
    let poststop = config
        .hooks
        .as_ref()
        .and_then(|hooks| hooks.poststop().clone())
        .unwrap_or_default();
    Some(remove_stopped(container, &dirs, &poststop))
}

fn remove_stopped(container: &Container, dirs: &[PathBuf], poststop: &[Hook]) -> Result<()> {
    let id = container.id();
    if let Err(err) = cleanup_intel_rdt(
        container.intel_rdt_dir().map(|p| p.as_path()),
        container.intel_rdt_monitoring_dir().map(|p| p.as_path()),
        container.clean_up_intel_rdt_subdirectory(),
        id,
    ) {
        tracing::warn!("container {id}: cannot clean up Intel RDT: {err}");
    }
    cgroups::remove(dirs).with_context(|| format!("container {id}: cannot delete"))?;
    std::fs::remove_dir_all(&container.root)
        .with_context(|| format!("container {id}: cannot remove {}", container.root.display()))?;
    hooks::run_poststop(container, poststop)
}
