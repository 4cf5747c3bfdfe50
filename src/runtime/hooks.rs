//! OCI hooks that obsbox runs itself.
//!
//! libcontainer runs prestart, createRuntime, createContainer, startContainer and poststart
//! with the runtime-spec semantics. For poststop it stops at the first failing hook and then
//! keeps the container's state directory, while the spec says a failing poststop hook is only
//! logged and the remaining hooks and the deletion go on. So `delete` takes the poststop hooks
//! out of libcontainer's hands and runs them here, after the container is gone.
//!
//! poststart likewise: libcontainer runs it as soon as it has told the init to go, so it
//! can race the `startContainer` hooks the init runs before it execs the user process. The
//! spec orders poststart after that exec, so `start` runs poststart here, once the init's
//! executable has changed.

use std::io::{ErrorKind, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use libcontainer::config::YoukiConfig;
use libcontainer::container::Container;
use oci_spec::runtime::{Hook, State as OciState};

use super::state::oci_state;

/// Runs the poststop hooks of the deleted `container`; their failures are logged.
pub fn run_poststop(container: &Container, poststop: &[Hook]) -> Result<()> {
    if poststop.is_empty() {
        return Ok(());
    }
    let mut state = oci_state(container)?;
    state.set_status(oci_spec::runtime::ContainerState::Stopped);
    for hook in poststop {
        if let Err(err) = run_hook(hook, &state) {
            tracing::warn!(
                "container {}: poststop hook {} failed: {err:#}",
                container.id(),
                hook.path().display()
            );
        }
    }
    Ok(())
}

/// Starts `container` and then runs its poststart hooks, after the user process has been
/// executed (a failing hook fails `start`, as with libcontainer).
pub fn start_with_poststart(container: &mut Container) -> Result<()> {
    let poststart = take_hooks(container, Point::Poststart)?;
    let init_exe = container
        .pid()
        .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).ok());
    container.start()?;
    if poststart.is_empty() {
        return Ok(());
    }
    if let (Some(pid), Some(before)) = (container.pid(), init_exe) {
        wait_for_exec(pid.as_raw(), &before);
    }
    let state = oci_state(container)?;
    for hook in &poststart {
        run_hook(hook, &state)
            .with_context(|| format!("poststart hook {} failed", hook.path().display()))?;
    }
    Ok(())
}

/// Waits (a few seconds at most) until process `pid` runs another executable than
/// `before`, or is gone: the init has executed the user process.
fn wait_for_exec(pid: i32, before: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) if exe == before => std::thread::sleep(Duration::from_millis(1)),
            _ => return,
        }
    }
    tracing::warn!("container init {pid} did not execute its process within 5 s");
}

#[derive(Clone, Copy)]
enum Point {
    Poststart,
    Poststop,
}

/// Removes the poststop hooks from libcontainer's saved config and returns them.
pub(super) fn take_poststop_hooks(container: &Container) -> Result<Vec<Hook>> {
    take_hooks(container, Point::Poststop)
}

/// Removes the hooks of `point` from libcontainer's saved config and returns them.
fn take_hooks(container: &Container, point: Point) -> Result<Vec<Hook>> {
    let root = &container.root;
    let Ok(mut config) = YoukiConfig::load(root) else {
        // A container that failed half-way through creation has no config yet.
        return Ok(Vec::new());
    };
    let Some(hooks) = config.hooks.as_mut() else {
        return Ok(Vec::new());
    };
    let taken = match point {
        Point::Poststart => hooks.poststart(),
        Point::Poststop => hooks.poststop(),
    }
    .clone()
    .unwrap_or_default();
    if taken.is_empty() {
        return Ok(taken);
    }
    match point {
        Point::Poststart => hooks.set_poststart(None),
        Point::Poststop => hooks.set_poststop(None),
    };
    config.save(root).with_context(|| {
        format!(
            "container {}: cannot update its saved config",
            container.id()
        )
    })?;
    Ok(taken)
}

/// Runs one hook with the container state on stdin: `path` with `args` (args[0] is argv0),
/// exactly the hook's `env`, and its `timeout` in seconds. Like the hooks libcontainer
/// runs, stdout is discarded and stderr is ours.
pub fn run_hook(hook: &Hook, state: &OciState) -> Result<()> {
    let path = hook.path();
    let mut command = Command::new(path);
    match hook.args().as_deref() {
        Some([arg0, rest @ ..]) => {
            command.arg0(arg0).args(rest);
        }
        _ => {
            command.arg0(path);
        }
    }
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", path.display()))?;
    let json = serde_json::to_vec(state).context("cannot encode the container state")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin.
        if let Err(err) = stdin.write_all(&json) {
            if err.kind() != ErrorKind::BrokenPipe {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err).context("cannot write the state to the hook");
            }
        }
    }
    let status = match hook.timeout() {
        None => child.wait()?,
        Some(seconds) => {
            let deadline = Instant::now() + Duration::from_secs(seconds.max(0) as u64);
            loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("timed out after {seconds} s");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    if !status.success() {
        bail!("exited with {status}");
    }
    Ok(())
}
