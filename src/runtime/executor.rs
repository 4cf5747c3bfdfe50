//! The workload executor: what runs as the container's process once libcontainer has set up
//! namespaces, mounts and credentials.
//!
//! It differs from libcontainer's default in one runc-compatible way: a process environment
//! without `PATH` (containerd's `ctr run --rootfs` sets none) is looked up in the usual
//! default search path instead of being refused.
//!
//!
//! And the process starts with every signal at its default action, as under runc (whose
//! runtime catches the signals, and execve resets caught ones): an ignored signal stays
//! ignored across execve, and obsbox ignores SIGPIPE (the Rust runtime does), as its own
//! callers may ignore others. Without this every process of a build would get EPIPE where it
//! should die of SIGPIPE (`producer | head` pipelines), as it does in obs-build's builds.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::unistd;
use oci_spec::runtime::Spec;

/// The search path used when the process environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Copy, Debug, Default)]
pub struct ObsboxExecutor;

fn process_args(spec: &Spec) -> Option<&Vec<String>> {
    spec.process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .filter(|a| !a.is_empty())
}

fn search_path(spec: &Spec) -> String {
    spec.process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
        .unwrap_or(DEFAULT_PATH)
        .to_string()
}

/// Resolves `name` like execvp: names with a slash as they are, others along `path`.
pub fn resolve(name: &str, path: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(name))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Sets every signal but SIGKILL and SIGSTOP to its default action, the real-time ones and
/// those the C library reserves for itself included (its `sigaction` refuses these, hence
/// the system call).
fn default_signal_actions() -> Result<(), String> {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        crate::sys::signal::set_default_action(sig)
            .map_err(|err| format!("cannot restore the default action of signal {sig}: {err}"))?;
    }
    Ok(())
}

impl Executor for ObsboxExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = process_args(spec).ok_or(ExecutorError::InvalidArg)?;
        let program = resolve(&args[0], &search_path(spec)).ok_or_else(|| {
            ExecutorError::Other(format!("executable {:?} not found in $PATH", args[0]))
        })?;
        let program = CString::new(program.into_os_string().into_encoded_bytes())
            .map_err(|_| ExecutorError::InvalidArg)?;
        let argv = args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ExecutorError::InvalidArg)?;
        default_signal_actions().map_err(ExecutorError::Other)?;
        // The environment was already set from the spec by `setup_envs`.
        let err = unistd::execv(&program, &argv).unwrap_err();
        Err(ExecutorError::Other(format!(
            "cannot execute {:?}: {err}",
            args[0]
        )))
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let args = process_args(spec).ok_or_else(|| {
            ExecutorValidationError::ArgValidationError("process.args is empty".into())
        })?;
        match resolve(&args[0], &search_path(spec)) {
            Some(path) if is_executable_file(&path) => Ok(()),
            Some(path) if path.exists() => Err(ExecutorValidationError::ArgValidationError(
                format!("{:?} is not an executable file", path),
            )),
            _ => Err(ExecutorValidationError::ArgValidationError(format!(
                "executable {:?} not found in the container (PATH {})",
                args[0],
                search_path(spec)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_along_the_search_path() {
        assert_eq!(
            resolve("sh", "/nonexistent:/bin"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(resolve("/x/y", ""), Some(PathBuf::from("/x/y")));
        assert_eq!(resolve("no-such-program-here", DEFAULT_PATH), None);
    }
}
