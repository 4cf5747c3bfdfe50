//! Which code of the obsbox binary a command runs, in the order it first runs it: the input
//! of the binary's code layout (`integration/code-order.sh` turns it into the linker's
//! symbol ordering file, `src/code-order.txt`).
//!
//!   cargo run --release --example code-trace -- OUT OBSBOX ARGS…
//!
//! Runs `OBSBOX ARGS…` single-stepped under ptrace, follows it through its sealing
//! re-execution, and appends to OUT, one hexadecimal number a line, each address of the
//! binary's image (relative to its load base) where an instruction first ran. Only that
//! process is traced: the processes it forks (the container's) run freely.

use std::collections::HashSet;
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
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let [out, program, ..] = args.as_slice() else {
        bail!("usage: code-trace OUT OBSBOX ARGS…");
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
    let options = libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_EXITKILL;
    unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) };
    let mut ranges = text_ranges(pid, &name)?;
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut signal = 0;
    let mut steps: u64 = 0;
    loop {
        if unsafe { libc::ptrace(libc::PTRACE_SINGLESTEP, pid, 0, signal) } != 0 {
            bail!("ptrace: {}", std::io::Error::last_os_error());
        }
        if unsafe { libc::waitpid(pid, &mut status, libc::__WALL) } < 0 {
            bail!("waitpid: {}", std::io::Error::last_os_error());
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break;
        }
        signal = 0;
        let stop = libc::WSTOPSIG(status);
        if stop == libc::SIGTRAP && status >> 16 == libc::PTRACE_EVENT_EXEC {
            // The sealed re-execution: the binary is mapped anew (under another path).
            ranges = text_ranges(pid, &name).or_else(|_| text_ranges(pid, "obsbox"))?;
            continue;
        }
        if stop != libc::SIGTRAP {
            signal = stop;
        }
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs) };
        steps += 1;
        let rip = regs.rip;
        if let Some((_, _, base)) = ranges.iter().find(|(s, e, _)| (*s..*e).contains(&rip)) {
            let at = rip - base;
            if seen.insert(at) {
                order.push(at);
            }
        }
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
