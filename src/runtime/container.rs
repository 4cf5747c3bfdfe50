//! Finding containers in the state directory and preparing libcontainer builders.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::init_builder::InitContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::errno::Errno;

use super::executor::ObsboxExecutor;
use crate::oserror::Relayed;

/// Loads the container `id` from the state directory `root`, with an error that names it.
pub fn load(root: &Path, id: &str) -> Result<Container> {
    check_id(id)?;
    let dir = root.join(id);
    if !dir.join("state.json").exists() {
        bail!(
            "container {id} does not exist (no state in {})",
            root.display()
        );
    }
    Container::load(dir).with_context(|| format!("container {id}: cannot load its state"))
}

/// Container ids become directory names: refuse anything that could leave the state dir.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if !ok {
        bail!("invalid container id {id:?}: use letters, digits and _ - . +");
    }
    Ok(())
}

/// A builder for container `id` with obsbox's executor and state directory, which is created
/// (mode 0700, like runc's) when missing.
pub fn create_builder(root: &Path, id: &str) -> Result<ContainerBuilder> {
    check_id(id)?;
    ensure_root(root)?;
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(ObsboxExecutor)
        .with_root_path(root)
        .with_context(|| format!("state directory {}", root.display()))?;
    Ok(builder)
}

fn ensure_root(root: &Path) -> Result<()> {
    if !root.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .with_context(|| format!("cannot create state directory {}", root.display()))?;
    }
    Ok(())
}

/// Where the cgroups of containers whose spec names none go: `/obsbox/containers/<id>` in
/// every hierarchy (libcontainer's default, `:youki:<id>`, is at the hierarchies' roots). A
/// directory of their own keeps them apart from the `/obsbox/<name>-<pid>` cgroups of obsbox's
/// own runs, which `obsbox gc` removes once that pid is gone.
pub const DEFAULT_CGROUP_PARENT: &str = "/obsbox/containers";

/// The cgroup path of container `id` whose spec has no `linux.cgroupsPath`.
pub fn default_cgroup_path(id: &str) -> PathBuf {
    Path::new(DEFAULT_CGROUP_PARENT).join(id)
}

/// Creates the container that `builder` describes (from a bundle whose `config.json` is
/// `spec`), then confines its cgroup mounts before anything of it runs (see
/// [`super::cgroup_mounts`]) and brings up the loopback interface of its own network
/// namespace; a container that cannot be confined is deleted again. The
/// process must be single-threaded (see [`super::creator`]).
pub fn create(
    builder: InitContainerBuilder,
    id: &str,
    spec: &oci_spec::runtime::Spec,
) -> Result<Container> {
    super::creator::ensure_single_threaded()?;
    super::init_cause::clear();
    let mut container = builder
        .build()
        .map_err(|err| with_init_cause(err.into()))
        .with_context(|| format!("container {id}: create failed"))?;
    let finished = super::resources::apply_dropped(&container, spec)
        .and_then(|()| super::cgroup_mounts::confine(&container, spec))
        .and_then(|()| loopback_up(&container, spec));
    if let Err(err) = finished {
        let _ = container.kill(nix::sys::signal::Signal::SIGKILL, true);
        let _ = super::delete::delete(&mut container, true);
        return Err(err.context(format!("container {id}: create failed")));
    }
    Ok(container)
}

/// A container with a network namespace of its own gets its loopback interface up, as
/// under runc (the thread that enters the namespace has ended when this returns).
fn loopback_up(container: &Container, spec: &oci_spec::runtime::Spec) -> Result<()> {
    if !super::loopback::has_own_network(spec) {
        return Ok(());
    }
    let pid = container.pid().context("no init process")?;
    super::loopback::bring_up(pid.as_raw())
}

/// `err` (libcontainer's report of a failed create or exec) with the cause the failing
/// init process logged, when it logged one that the report does not already name. The
/// OS error of `err`'s chain is kept beside the joined text ([`Relayed`]).
pub fn with_init_cause(err: anyhow::Error) -> anyhow::Error {
    match super::init_cause::take() {
        Some(cause) => {
            let text = format!("{err:#}");
            // The report may name the cause already (obsbox's executor's errors reach it),
            // or end with the cause's own outer message.
            let cause = match cause.split_once(": ") {
                Some((_, inner)) if text.contains(inner) => return err,
                Some((outer, inner)) if text.ends_with(outer) => inner,
                _ if text.contains(&cause) => return err,
                _ => &cause,
            };
            let errno = crate::oserror::errno_in(&err).or_else(|| full_disk_in_text(cause));
            anyhow::Error::new(Relayed {
                text: format!("{text}: {cause}"),
                errno,
            })
        }
        _ => err,
    }
}

/// ENOSPC or EDQUOT when an init's `cause` says so. The one place where a full disk is read
/// from text: the cause is what libcontainer's forked process logged (a `Debug` rendering
/// in a tracing record, see [`super::init_cause`]), the only form in which it leaves that
/// process.
fn full_disk_in_text(cause: &str) -> Option<Errno> {
    [Errno::ENOSPC, Errno::EDQUOT].into_iter().find(|e| {
        // As nix shows it (`ENOSPC: …`), or as the C library does (an `io::Error`).
        let libc_text = std::io::Error::from_raw_os_error(*e as i32).to_string();
        let libc_text = libc_text.split(" (os error").next().unwrap_or_default();
        cause.contains(&format!("{e:?}")) || cause.contains(e.desc()) || cause.contains(libc_text)
    })
}

/// For a spec without `linux.cgroupsPath`: makes libcontainer, which reads
/// `BUNDLE/config.json` itself (at `create`, and again at every `exec`), read it with
/// obsbox's default cgroup path. The bundle is the caller's and stays untouched: the copy
/// is bind-mounted over it in a mount namespace of this process alone (a slave of the
/// host's, so nothing propagates out), and the container's state and hooks still name the
/// caller's bundle. The namespace is the calling thread's for the rest of its life: only
/// for the runtime commands (`create`, `run`, `exec`), which do nothing else afterwards
/// that the host must see; obsbox's own runs keep libcontainer's default.
pub fn give_default_cgroup(
    root: &Path,
    id: &str,
    bundle: &Path,
    spec: &oci_spec::runtime::Spec,
) -> Result<()> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};

    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.cgroups_path().is_some() {
        return Ok(());
    }
    unshare(CloneFlags::CLONE_NEWNS).context("cannot enter a mount namespace of its own")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("cannot make the mounts of its own mount namespace slaves")?;
    let mut spec = spec.clone();
    let mut linux = linux.clone();
    linux.set_cgroups_path(Some(default_cgroup_path(id)));
    spec.set_linux(Some(linux));
    ensure_root(root)?;
    // The name cannot be a container id's (`@`). Once mounted, the file may go.
    let copy = root.join(format!("config@{id}.json"));
    spec.save(&copy)
        .with_context(|| format!("cannot write {}", copy.display()))?;
    let mounted = mount(
        Some(&copy),
        &bundle.join("config.json"),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("cannot mount over {}/config.json", bundle.display()));
    let _ = fs::remove_file(&copy);
    mounted
}

/// The absolute bundle directory, checked to hold a readable, well-formed `config.json`, so
/// a broken bundle is reported with the file's name rather than deep inside libcontainer.
pub fn bundle_dir(bundle: &Path) -> Result<PathBuf> {
    open_bundle(bundle).map(|(dir, _)| dir)
}

/// The absolute bundle directory and its parsed `config.json`.
pub fn open_bundle(bundle: &Path) -> Result<(PathBuf, oci_spec::runtime::Spec)> {
    let dir = bundle
        .canonicalize()
        .with_context(|| format!("bundle {}: no such directory", bundle.display()))?;
    let config = dir.join("config.json");
    let raw = fs::read(&config).with_context(|| format!("{}: cannot read", config.display()))?;
    let spec = serde_json::from_slice::<oci_spec::runtime::Spec>(&raw)
        .with_context(|| format!("{}: not a valid OCI runtime config", config.display()))?;
    Ok((dir, spec))
}

/// Lists the ids of the containers in the state directory, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read state directory {}", root.display()));
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("state.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_state_directory() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\0"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["abc", "4f2a-b_c.1", "podman+1"] {
            check_id(good).unwrap();
        }
    }

    #[test]
    fn an_inits_full_disk_is_read_from_its_text_only() {
        assert_eq!(
            full_disk_in_text("failed to prepare rootfs: No space left on device"),
            Some(Errno::ENOSPC)
        );
        assert_eq!(
            full_disk_in_text("x: EDQUOT: Quota exceeded"),
            Some(Errno::EDQUOT)
        );
        assert_eq!(
            full_disk_in_text("cannot write y: Disk quota exceeded (os error 122)"),
            Some(Errno::EDQUOT)
        );
        assert_eq!(full_disk_in_text("failed to prepare rootfs: EPERM"), None);
    }
}
