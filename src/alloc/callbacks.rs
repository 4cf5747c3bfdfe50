//! Allocation callbacks: programs the runtime configuration hooks at `allocate`
//! (`callbacks/NAME.toml` with `hook = "allocate"`, selected per project/package/arch like
//! every callback) that judge each compliant worker for a job.
//!
//! A callback runs on the host (allocation happens where the dispatcher runs, not in a
//! build), once per compliant worker, with `{"job": …, "worker": …, "constraints": …}` as
//! JSON on stdin. It answers one JSON object on stdout:
//!
//! - `{"accept": true}`, optionally with `"score": N` (added to the worker's score);
//! - `{"score": N}` (accepts);
//! - `{"accept": false, "reason": "…"}` (rejects the worker for this job).
//!
//! A callback that exits non-zero, is killed by a signal, runs past its timeout (default
//! 10 s for allocation callbacks), cannot be started or answers anything else rejects the
//! worker, and the reason is logged. Its whole process group is killed when it ends or
//! times out, so nothing it started is left behind.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::callbacks::config::{Action, Callback, Placeholders};

/// The time an allocation callback gets unless its configuration says otherwise: it runs
/// once per candidate worker while a job waits to be placed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many callback processes run at once.
const PARALLEL: usize = 8;

/// A callback's answer for one worker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub callback: String,
    pub accept: bool,
    pub score: f64,
    /// Why it rejected (its own reason, or what went wrong with it).
    pub reason: Option<String>,
}

impl Answer {
    fn reject(callback: &str, reason: String) -> Answer {
        Answer {
            callback: callback.to_string(),
            accept: false,
            score: 0.0,
            reason: Some(reason),
        }
    }
}

/// The timeout of an allocation callback: its own `timeout` if set, else [`DEFAULT_TIMEOUT`]
/// (the general callback default is meant for builds).
pub fn timeout(cb: &Callback) -> Duration {
    if cb.origin.contains_key("timeout") {
        cb.timeout
    } else {
        DEFAULT_TIMEOUT
    }
}

/// Runs every callback for every input (one per worker), at most [`PARALLEL`] processes at a
/// time; a worker's callbacks run in their order and stop at the first rejection. Returns
/// the answers per input.
pub fn judge(
    callbacks: &[Callback],
    inputs: &[serde_json::Value],
    values: &Placeholders,
) -> Vec<Vec<Answer>> {
    let mut out: Vec<Vec<Answer>> = vec![Vec::new(); inputs.len()];
    for (chunk_inputs, chunk_out) in inputs.chunks(PARALLEL).zip(out.chunks_mut(PARALLEL)) {
        std::thread::scope(|s| {
            for (input, answers) in chunk_inputs.iter().zip(chunk_out.iter_mut()) {
                s.spawn(move || {
                    for cb in callbacks {
                        let a = run(cb, input, values);
                        let stop = !a.accept;
                        answers.push(a);
                        if stop {
                            break;
                        }
                    }
                });
            }
        });
    }
    out
}

/// Runs one callback for one worker.
pub fn run(cb: &Callback, input: &serde_json::Value, values: &Placeholders) -> Answer {
    let name = cb.name.as_str();
    let worker = input["worker"]["id"].as_str().unwrap_or("?").to_string();
    let answer = match &cb.action {
        Action::Builtin(b) => Answer::reject(
            name,
            format!("callback {name}: builtin {b} cannot judge allocations"),
        ),
        Action::Command(_) => {
            let argv = cb.argv(values);
            let stdin = serde_json::to_vec(input).unwrap_or_default();
            match spawn_and_wait(cb, &argv, &stdin, timeout(cb)) {
                Ok(Ended::Exited(0, stdout, _)) => parse_answer(name, &stdout),
                Ok(Ended::Exited(code, _, stderr)) => Answer::reject(
                    name,
                    format!(
                        "callback {name} failed (exit code {code}){}",
                        last_line(&stderr)
                    ),
                ),
                Ok(Ended::Signalled(sig, stderr)) => Answer::reject(
                    name,
                    format!(
                        "callback {name} crashed (signal {sig}){}",
                        last_line(&stderr)
                    ),
                ),
                Ok(Ended::TimedOut(t)) => Answer::reject(
                    name,
                    format!("callback {name} timed out after {} s", t.as_secs_f64()),
                ),
                Err(e) => Answer::reject(name, format!("callback {name} cannot start: {e}")),
            }
        }
    };
    match (&answer.reason, answer.accept) {
        (Some(reason), false) => {
            tracing::warn!("allocation callback {name} rejects worker {worker}: {reason}")
        }
        _ => tracing::debug!(
            "allocation callback {name} accepts worker {worker} (score {})",
            answer.score
        ),
    }
    answer
}

fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => format!(": {}", l.trim()),
        None => String::new(),
    }
}

/// Reads the answer; anything but a valid one rejects.
fn parse_answer(name: &str, stdout: &[u8]) -> Answer {
    let bad = |why: &str| {
        let text = String::from_utf8_lossy(stdout);
        let shown: String = text.trim().chars().take(200).collect();
        Answer::reject(
            name,
            format!("callback {name} gave no valid answer ({why}): {shown:?}"),
        )
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(stdout) else {
        return bad("not JSON");
    };
    let Some(obj) = v.as_object() else {
        return bad("not a JSON object");
    };
    let accept = match obj.get("accept") {
        None => None,
        Some(serde_json::Value::Bool(b)) => Some(*b),
        Some(_) => return bad("accept is not true or false"),
    };
    let score = match obj.get("score") {
        None => None,
        Some(s) => match s.as_f64().filter(|f| f.is_finite()) {
            Some(f) => Some(f),
            None => return bad("score is not a number"),
        },
    };
    let reason = match obj.get("reason") {
        None => None,
        Some(serde_json::Value::String(r)) => Some(r.clone()),
        Some(_) => return bad("reason is not a string"),
    };
    match (accept, score) {
        (Some(false), _) => Answer::reject(
            name,
            format!(
                "callback {name} rejects: {}",
                reason.unwrap_or_else(|| "no reason given".into())
            ),
        ),
        (None, None) => bad("neither accept nor score"),
        (_, score) => Answer {
            callback: name.to_string(),
            accept: true,
            score: score.unwrap_or(0.0),
            reason: None,
        },
    }
}

enum Ended {
    /// Exit code, stdout, stderr.
    Exited(i32, Vec<u8>, Vec<u8>),
    Signalled(i32, Vec<u8>),
    TimedOut(Duration),
}

/// What a callback may print, at most (its answer is one small object).
const OUTPUT_LIMIT: u64 = 1 << 20;

fn spawn_and_wait(
    cb: &Callback,
    argv: &[String],
    stdin: &[u8],
    timeout: Duration,
) -> std::io::Result<Ended> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = Command::new(program)
        .args(args)
        .envs(&cb.env)
        .env("OBSBOX_CALLBACK", &cb.name)
        .env("OBSBOX_HOOK", "allocate")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills what it started too.
        .process_group(0)
        .spawn()?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let kill_group = || {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    };
    let mut input = child.stdin.take();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(mut i) = input.take() {
            // A callback that does not read its input is not an error.
            let _ = i.write_all(&data);
        }
    });
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(OUTPUT_LIMIT).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    // Wait for the exit without reaping it (WNOWAIT): until it is reaped its pid names the
    // group, so the group kill below cannot hit a process that reused the number.
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    loop {
        match waitid(Id::Pid(pgid), flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Whatever it left running in its group would hold the pipes open: it goes too.
    kill_group();
    let status = child.wait()?;
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if timed_out {
        return Ok(Ended::TimedOut(timeout));
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code, stdout, stderr),
        (None, Some(sig)) => Ended::Signalled(sig, stderr),
        (None, None) => Ended::Signalled(0, stderr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let a = |s: &str| parse_answer("cb", s.as_bytes());
        assert!(a(r#"{"accept": true}"#).accept);
        assert_eq!(a(r#"{"score": 2.5}"#).score, 2.5);
        assert_eq!(a(r#"{"accept": true, "score": -1}"#).score, -1.0);
        let r = a(r#"{"accept": false, "reason": "too slow"}"#);
        assert_eq!(
            (r.accept, r.reason.as_deref()),
            (false, Some("callback cb rejects: too slow"))
        );
        for (bad, why) in [
            ("", "not JSON"),
            ("[1]", "not a JSON object"),
            ("{}", "neither accept nor score"),
            (r#"{"accept": "yes"}"#, "accept is not true or false"),
            (r#"{"score": "high"}"#, "score is not a number"),
        ] {
            let r = a(bad);
            assert!(!r.accept, "{bad}");
            assert!(r.reason.as_ref().unwrap().contains(why), "{bad}: {r:?}");
        }
    }
}
