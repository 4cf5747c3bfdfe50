//! The state documents: runc's `state` JSON and the OCI state handed to hooks.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use libcontainer::container::{Container, ContainerStatus};
use oci_spec::runtime::{ContainerState, State as OciState, StateBuilder};
use serde::Serialize;

/// What `runc state` prints, field for field (podman and containerd parse this shape).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuncState {
    pub oci_version: String,
    pub id: String,
    /// 0 once the container has stopped, as runc reports it.
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
    pub owner: String,
}

pub fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

/// The container's state after refreshing its status from the live process.
pub fn runc_state(container: &mut Container) -> Result<RuncState> {
    container
        .refresh_status()
        .with_context(|| format!("container {}: cannot read its status", container.id()))?;
    let status = container.status();
    let bundle = container.bundle().clone();
    let rootfs = root_path(&bundle);
    Ok(RuncState {
        oci_version: oci_spec::runtime::VERSION.to_string(),
        id: container.id().to_string(),
        pid: match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map_or(0, |p| p.as_raw()),
        },
        status: status_name(status),
        bundle,
        rootfs,
        created: container
            .created()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default(),
        annotations: container
            .state
            .annotations
            .clone()
            .filter(|a| !a.is_empty()),
        owner: container
            .creator()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

/// The rootfs named by the bundle's config, absolute; the bundle's `rootfs` if unreadable.
fn root_path(bundle: &std::path::Path) -> PathBuf {
    let from_config = std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
        .and_then(|v| v["root"]["path"].as_str().map(PathBuf::from));
    let path = from_config.unwrap_or_else(|| PathBuf::from("rootfs"));
    if path.is_absolute() {
        path
    } else {
        bundle.join(path)
    }
}

/// The OCI state (runtime-spec `state` schema) that hooks receive on stdin.
pub fn oci_state(container: &Container) -> Result<OciState> {
    let status = match container.status() {
        ContainerStatus::Creating => ContainerState::Creating,
        ContainerStatus::Created => ContainerState::Created,
        // The OCI state has no "paused": a frozen container is still running.
        ContainerStatus::Running | ContainerStatus::Paused => ContainerState::Running,
        ContainerStatus::Stopped => ContainerState::Stopped,
    };
    let mut builder = StateBuilder::default()
        .version(oci_spec::runtime::VERSION)
        .id(container.id())
        .status(status)
        .bundle(container.bundle().clone())
        .annotations(container.state.annotations.clone().unwrap_or_default());
    if let Some(pid) = container.pid() {
        builder = builder.pid(pid.as_raw());
    }
    Ok(builder.build()?)
}
