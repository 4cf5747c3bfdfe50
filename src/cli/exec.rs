//! `obsbox exec`: run another process in a running container, from `--process FILE` or from
//! the command line, which (as in runc) starts from the container's own process settings:
//! user, capabilities, rlimits, environment and no_new_privileges carry over.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use liboci_cli::Exec;
use nix::sys::wait::{WaitStatus, waitpid};
use oci_spec::runtime::{Capability, Process, Spec};

use super::Context;
use crate::runtime;

pub fn exec(args: Exec, ctx: &Context) -> Result<i32> {
    let id = &args.container_id;
    let container = runtime::load(&ctx.root, id)?;
    let generated = match &args.process {
        Some(path) => {
            check_process_file(path)?;
            None
        }
        None => {
            if args.command.is_empty() {
                bail!("exec: give a command or --process FILE");
            }
            let spec = Spec::load(container.bundle().join("config.json")).with_context(|| {
                format!(
                    "container {id}: cannot read {}/config.json",
                    container.bundle().display()
                )
            })?;
            let process = process_from_args(&args, spec.process().clone().unwrap_or_default())?;
            let path = container
                .root
                .join(format!("exec-{}.json", std::process::id()));
            fs::write(&path, serde_json::to_vec(&process)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Some(TempFile(path))
        }
    };
    let process_file: Option<&Path> = match (&args.process, &generated) {
        (Some(path), _) => Some(path),
        (None, Some(temp)) => Some(&temp.0),
        (None, None) => None,
    };
    // libcontainer reads the bundle's spec again for the cgroup to put the process in.
    let created_with_default = libcontainer::config::YoukiConfig::load(&container.root)
        .is_ok_and(|c| c.cgroup_path == runtime::container::default_cgroup_path(id));
    if created_with_default {
        let (bundle, spec) = runtime::container::open_bundle(container.bundle())?;
        runtime::container::give_default_cgroup(&ctx.root, id, &bundle, &spec)?;
    }
    runtime::creator::ensure_single_threaded()?;
    runtime::init_cause::clear();
    let pid = runtime::create_builder(&ctx.root, id)?
        .with_console_socket(args.console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref())?
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_tenant()
        .with_detach(args.detach)
        .with_process(process_file)
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup.clone())
        .build()
        .map_err(|err| runtime::container::with_init_cause(err.into()))
        .with_context(|| format!("container {id}: exec failed"))?;
    drop(generated);
    if args.detach {
        return Ok(0);
    }
    match waitpid(pid, None).context("waitpid")? {
        WaitStatus::Exited(_, code) => Ok(code),
        WaitStatus::Signaled(_, sig, _) => Ok(128 + sig as i32),
        _ => Ok(0),
    }
}

/// Reads `--process FILE` up front: libcontainer's own error names neither the file nor
/// what is wrong with it.
fn check_process_file(path: &Path) -> Result<()> {
    let raw = fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice::<Process>(&raw)
        .with_context(|| format!("{}: not a valid OCI process", path.display()))?;
    Ok(())
}

/// Removes the generated process file however exec ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A capability as runc takes it: `CAP_KILL`, and also `kill` or `KILL`.
fn parse_capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse()
        .map_err(|_| anyhow::anyhow!("--cap {name}: unknown capability"))
}

/// The container's process with the command line's changes applied.
fn process_from_args(args: &Exec, mut process: Process) -> Result<Process> {
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
    process.set_console_size(None);
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    let mut env = process.env().clone().unwrap_or_default();
    for (key, value) in &args.env {
        env.retain(|e| e.split_once('=').map_or(e != key, |(k, _)| k != key));
        env.push(format!("{key}={value}"));
    }
    process.set_env(Some(env));
    if let Some((uid, gid)) = args.user {
        let mut user = process.user().clone();
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(0));
        process.set_user(user);
    }
    if !args.additional_gids.is_empty() {
        let mut user = process.user().clone();
        user.set_additional_gids(Some(args.additional_gids.clone()));
        process.set_user(user);
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if !args.cap.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        for name in &args.cap {
            let cap = parse_capability(name)?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut set_with = set.1.clone().unwrap_or_default();
                set_with.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(set_with)),
                    1 => caps.set_effective(Some(set_with)),
                    _ => caps.set_permitted(Some(set_with)),
                };
            }
        }
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}
