//! Which functions of the obsbox binary a command runs, in the order it first runs them: the
//! input of the binary's code layout (`integration/code-order.sh` turns it into the linker's
//! symbol ordering file, `link/code-order.txt`).
//!
//!   cargo run --release --example code-trace -- [--follow-forks] OUT FUNCS OBSBOX ARGS…
//!
//! FUNCS lists the binary's function start addresses (hexadecimal, one a line, as `nm`
//! prints them for the position-independent binary: offsets from its load base). The tracer
//! runs `OBSBOX ARGS…` under ptrace with a one-shot breakpoint (`int3`) on every function not
//! seen yet: a function's first call traps once, is recorded, gets its first byte back and
//! runs on untraced. That costs one stop per distinct function (a few thousand), not one per
//! instruction, so a trace takes seconds. It follows obsbox through its sealing
//! re-execution (the new image gets the breakpoints of the functions still unseen) and
//! appends to OUT each function's start address, in the order of first calls.
//!
//! With `--follow-forks` the processes obsbox forks are traced too while they run obsbox's
//! code: libcontainer's intermediate and init processes (the init, which sets the container
//! up, runs more of the binary than the main process). Without it, a forked process gets its
//! original code back and is let go at once. Either way a process that executes another
//! program (the container's, a hook) is let go.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt as _;

use anyhow::{Context, Result, bail};

/// A mapping of the traced binary's code: run-time start and end, and the image's load base.
#[derive(Clone, Copy)]
struct Text {
    start: u64,
    end: u64,
    base: u64,
}

/// The executable mappings of the binary named `name` in process `pid`.
fn text_ranges(pid: libc::pid_t, name: &str) -> Result<Vec<Text>> {
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
    Ok(ranges
        .into_iter()
        .map(|(start, end)| Text { start, end, base })
        .collect())
}

/// The breakpoints: every function's start offset with its original first byte, and which
/// functions ran already.
struct Breakpoints {
    /// Function start offsets (from the load base), sorted.
    functions: Vec<u64>,
    /// The original first byte of each function, read from the first image armed.
    original: HashMap<u64, u8>,
    seen: HashSet<u64>,
    order: Vec<u64>,
}

impl Breakpoints {
    /// Writes `int3` over the first byte of every function not seen yet in the image of
    /// `pid` (one write per code mapping, through `/proc/PID/mem`).
    fn arm(&mut self, pid: libc::pid_t, texts: &[Text]) -> Result<()> {
        let mem = mem(pid)?;
        for text in texts {
            let mut code = vec![0u8; (text.end - text.start) as usize];
            mem.read_exact_at(&mut code, text.start)
                .context("cannot read the code")?;
            let lo = self
                .functions
                .partition_point(|&f| f + text.base < text.start);
            let hi = self
                .functions
                .partition_point(|&f| f + text.base < text.end);
            for &function in &self.functions[lo..hi] {
                let at = (function + text.base - text.start) as usize;
                self.original.entry(function).or_insert(code[at]);
                if !self.seen.contains(&function) {
                    code[at] = 0xcc;
                }
            }
            mem.write_all_at(&code, text.start)
                .context("cannot write the breakpoints")?;
        }
        Ok(())
    }

    /// Gives every function of the image of `pid` its first byte back.
    fn disarm(&self, pid: libc::pid_t, texts: &[Text]) -> Result<()> {
        let mem = mem(pid)?;
        for text in texts {
            for (&function, &byte) in &self.original {
                let at = function + text.base;
                if (text.start..text.end).contains(&at) {
                    mem.write_all_at(&[byte], at)?;
                }
            }
        }
        Ok(())
    }

    /// A trap of `pid` stopped at `rip`: when it is one of ours, records the function, gives
    /// it its first byte back and returns the address to resume at.
    fn hit(&mut self, pid: libc::pid_t, texts: &[Text], rip: u64) -> Result<Option<u64>> {
        let at = rip - 1;
        let Some(text) = texts.iter().find(|t| (t.start..t.end).contains(&at)) else {
            return Ok(None);
        };
        let function = at - text.base;
        let Some(&byte) = self.original.get(&function) else {
            return Ok(None);
        };
        if self.seen.insert(function) {
            self.order.push(function);
        }
        mem(pid)?.write_all_at(&[byte], at)?;
        Ok(Some(at))
    }
}

fn mem(pid: libc::pid_t) -> Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .with_context(|| format!("cannot open the memory of process {pid}"))
}

/// Whether process `a` shares its memory with process `b` (a thread, or a `vfork`).
fn same_memory(a: libc::pid_t, b: libc::pid_t) -> bool {
    const KCMP_VM: libc::c_long = 1;
    // SAFETY: kcmp only compares kernel objects of the two processes.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0 }
}

/// The parent process of `pid` (its `PPid`; a thread's is its process's parent).
fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let tgid = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<libc::pid_t>().ok())
    };
    match (tgid("Tgid:"), tgid("PPid:")) {
        (Some(tgid), _) if tgid != pid => Some(tgid),
        (_, ppid) => ppid,
    }
}

fn main() -> Result<()> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let follow_forks = args.first().is_some_and(|a| a == "--follow-forks");
    if follow_forks {
        args.remove(0);
    }
    let [out, funcs, program, ..] = args.as_slice() else {
        bail!("usage: code-trace [--follow-forks] OUT FUNCS OBSBOX ARGS…");
    };
    let mut functions: Vec<u64> = fs::read_to_string(funcs)
        .with_context(|| format!("cannot read {}", funcs.to_string_lossy()))?
        .lines()
        .map(|l| u64::from_str_radix(l.trim(), 16))
        .collect::<Result<_, _>>()
        .context("FUNCS: not a list of hexadecimal addresses")?;
    functions.sort_unstable();
    functions.dedup();
    let mut bps = Breakpoints {
        functions,
        original: HashMap::new(),
        seen: HashSet::new(),
        order: Vec::new(),
    };
    let name = std::path::Path::new(program)
        .file_name()
        .context("no program name")?
        .to_string_lossy()
        .into_owned();
    let argv: Vec<CString> = args[2..]
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
    // Forks are always reported: a forked copy carries the breakpoints of its parent and
    // must either be traced or get its code back.
    let options = libc::PTRACE_O_TRACEEXEC
        | libc::PTRACE_O_EXITKILL
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE;
    unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) };
    let mut traced: HashMap<libc::pid_t, Vec<Text>> = HashMap::new();
    let texts = text_ranges(pid, &name)?;
    bps.arm(pid, &texts)?;
    traced.insert(pid, texts);
    let mut stops: u64 = 0;
    let mut resume = Some((pid, 0));
    loop {
        if let Some((pid, signal)) = resume.take() {
            // A tracee killed meanwhile (the container's end) cannot be resumed; its exit
            // is reported below.
            unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, signal) };
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
        stops += 1;
        let stop = libc::WSTOPSIG(status);
        let event = status >> 16;
        if let Entry::Vacant(entry) = traced.entry(pid) {
            // A new thread or process, stopped before its first instruction: a copy of its
            // parent's image, breakpoints included.
            let texts = text_ranges(pid, &name).or_else(|_| text_ranges(pid, "obsbox"));
            let shared = parent_of(pid).is_some_and(|p| same_memory(pid, p));
            match texts {
                Ok(texts) if follow_forks || shared => {
                    entry.insert(texts);
                }
                Ok(texts) => {
                    bps.disarm(pid, &texts)?;
                    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
                    continue;
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
                Ok(texts) => {
                    bps.arm(pid, &texts)?;
                    traced.insert(pid, texts);
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
        if stop == libc::SIGTRAP {
            let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs) };
            if let Some(at) = bps.hit(pid, &traced[&pid], regs.rip)? {
                regs.rip = at;
                unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, &regs) };
                resume = Some((pid, 0));
                continue;
            }
        }
        resume = Some((pid, stop));
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("cannot open {}", out.to_string_lossy()))?;
    for at in &bps.order {
        writeln!(file, "{at:x}")?;
    }
    eprintln!(
        "code-trace: {stops} stops, {} of {} functions of {name} ran",
        bps.order.len(),
        bps.functions.len()
    );
    Ok(())
}
