//! Which code of the obsbox binary a command runs, in the order it first runs it: the input
//! of the binary's code layout (`integration/code-order.sh` turns it into the linker's
//! symbol ordering file, `link/code-order.txt`).
//!
//!   cargo run --release --example code-trace -- [--follow-forks] OUT OBSBOX ARGS…
//!
//! Runs `OBSBOX ARGS…` single-stepped under ptrace, follows it through its sealing
//! re-execution, and appends to OUT, one hexadecimal number a line, each address of the
//! binary's image (relative to its load base) where an instruction first ran. With
//! `--follow-forks` the processes it forks are followed too while they run obsbox's code:
//! libcontainer's intermediate and init processes run much of it (the init, which sets the
//! container up, touches more of the binary than the main process).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, Result, bail};

/// The executable mappings of the traced binary: (start, end, load base).
fn text_ranges(pid: libc::pid_t, name: &str) -> Result<Vec<(u64, u64, u64)>> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut base = None;
    let mut ranges = Vec::new();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [range, perms, offset, _, _, path, ..] = fields.as_slice() else {
            continue;
        };
        if path.rsplit('/').next() != Some(name) {
            continue;
        }
        let (start, end) = range.split_once('-').context("odd maps line")?;
        let (start, end) = (
            u64::from_str_radix(start, 16)?,
            u64::from_str_radix(end, 16)?,
        );
        if u64::from_str_radix(offset, 16)? == 0 && base.is_none() {
            base = Some(start);
        }
        if perms.contains('x') {
            ranges.push((start, end));
        }
    }
    let base = base.context("the binary is not mapped")?;
    Ok(ranges.into_iter().map(|(s, e)| (s, e, base)).collect())
}

fn main() -> Result<()> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let follow_forks = args.first().is_some_and(|a| a == "--follow-forks");
    if follow_forks {
        args.remove(0);
    }
    let [out, program, ..] = args.as_slice() else {
        bail!("usage: code-trace [--follow-forks] OUT OBSBOX ARGS…");
    };
    let name = std::path::Path::new(program)
        .file_name()
        .context("no program name")?
        .to_string_lossy()
        .into_owned();
    let argv: Vec<CString> = args[1..]
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());

    // SAFETY: the child only calls async-signal-safe functions before it executes.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::execv(argv_ptrs[0], argv_ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    if pid < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    let mut status = 0;
    // Stopped at its first execution.
    unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    // With --follow-forks the processes it forks are traced too (they start as copies of
    // obsbox: the cgroup primer, libcontainer's intermediate and init processes) until they
    // execute something else (the container's program, a hook). Only for commands after
    // which nothing of theirs is left running: a created container's init, waiting for
    // `start`, would keep the trace going.
    let mut options = libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_EXITKILL;
    if follow_forks {
        options |= libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACECLONE;
    }
    unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) };
    let mut traced: HashMap<libc::pid_t, Vec<(u64, u64, u64)>> = HashMap::new();
    traced.insert(pid, text_ranges(pid, &name)?);
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut steps: u64 = 0;
    let mut resume = Some((pid, 0));
    loop {
        if let Some((pid, signal)) = resume.take() {
            // A tracee killed meanwhile (the container's end) cannot be resumed; its exit
            // is reported below.
            unsafe { libc::ptrace(libc::PTRACE_SINGLESTEP, pid, 0, signal) };
        }
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if pid < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ECHILD) {
                break;
            }
            bail!("waitpid: {err}");
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            traced.remove(&pid);
            continue;
        }
        let stop = libc::WSTOPSIG(status);
        let event = status >> 16;
        if let Entry::Vacant(entry) = traced.entry(pid) {
            // A new child, stopped before its first instruction: a copy of its parent.
            match text_ranges(pid, &name).or_else(|_| text_ranges(pid, "obsbox")) {
                Ok(ranges) => {
                    entry.insert(ranges);
                }
                Err(_) => {
                    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
                    continue;
                }
            }
            let signal = if stop == libc::SIGSTOP { 0 } else { stop };
            resume = Some((pid, signal));
            continue;
        }
        if stop == libc::SIGTRAP && event == libc::PTRACE_EVENT_EXEC {
            // The sealing re-execution maps the binary anew (under another path); any other
            // program is not ours to trace.
            match text_ranges(pid, &name).or_else(|_| text_ranges(pid, "obsbox")) {
                Ok(ranges) => {
                    traced.insert(pid, ranges);
                    resume = Some((pid, 0));
                }
                Err(_) => {
                    traced.remove(&pid);
                    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
                }
            }
            continue;
        }
        if stop == libc::SIGTRAP && event != 0 {
            // A fork, vfork or clone: the child reports its own first stop.
            resume = Some((pid, 0));
            continue;
        }
        let signal = if stop == libc::SIGTRAP { 0 } else { stop };
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs) };
        steps += 1;
        let rip = regs.rip;
        if let Some((_, _, base)) = traced[&pid]
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&rip))
        {
            let at = rip - base;
            if seen.insert(at) {
                order.push(at);
            }
        }
        resume = Some((pid, signal));
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("cannot open {}", out.to_string_lossy()))?;
    for at in &order {
        writeln!(file, "{at:x}")?;
    }
    eprintln!(
        "code-trace: {steps} instructions, {} distinct addresses in {name}",
        order.len()
    );
    Ok(())
}
