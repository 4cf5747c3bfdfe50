//! bs_worker's `--hostcheck PROGRAM`, answered by obsbox's allocation code.
//!
//! bs_worker runs `PROGRAM --srcserver URL JOBFILE precheck ROOT` when a job arrives and
//! refuses the job unless it exits 0: 2 means "cannot build this repository", 3 "cannot
//! build anything", anything else "cannot build this package". After the build it runs
//! `PROGRAM --srcserver URL JOBFILE succeeded|failed LOGFILE`, and a non-zero exit marks
//! the build "badhost" (OBS then builds the job elsewhere).
//!
//! The pre-build check, in this order:
//! 1. this host: the runtime configuration reads (worker.toml, toolbox.toml, the
//!    project's callbacks), the cache and state directories can be written, and this
//!    machine's worker description can be made; otherwise 3.
//! 2. the job (bs_worker's copy of the buildinfo): readable, and of an architecture
//!    obsbox knows; otherwise 1 (2 for the architecture).
//! 3. the project config's constraints (`<prjconfconstraint>`) against this worker, with
//!    their overwrites, by `alloc::check`: a failure is 2, the whole repository's.
//! 4. the package's `_constraints` (read from the source server by the buildinfo's
//!    `<srcmd5>` when it has a `<constraintsmd5>`, as OBS's dispatcher does), merged after
//!    the project config's: a failure is 1. A source server that cannot be reached is
//!    reported and not held against the job (the dispatcher has checked it already).
//!
//! The post-build check passes a succeeded build. A failed build fails the check (so it
//! counts as "badhost") when its log shows a host problem: a line saying the worker's disk
//! is full (`No space left on device`), broken (`Input/output error`) or read-only
//! (`Read-only file system`), the system file table is full (`Too many open files in
//! system`), or obsbox could not set up the toolbox (which comes from the worker's
//! configuration, not from the job).

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::Settings;
use crate::alloc;
use crate::job::buildinfo::SourceRef;
use crate::job::{self, Job};
use crate::worker::{self, Worker, WorkerConfig};

pub const OK: i32 = 0;
pub const CANNOT_BUILD_PACKAGE: i32 = 1;
pub const CANNOT_BUILD_REPOSITORY: i32 = 2;
pub const CANNOT_BUILD_ANYTHING: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Precheck,
    Succeeded,
    Failed,
}

/// One call of the host check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub srcserver: Option<String>,
    pub jobfile: PathBuf,
    pub stage: Stage,
    /// The build root (precheck) or the build log (succeeded, failed).
    pub path: PathBuf,
}

/// `[--srcserver URL] JOBFILE precheck|succeeded|failed PATH`.
pub fn parse(args: &[OsString]) -> Result<Call> {
    let mut srcserver = None;
    let mut positional = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let arg = arg
            .to_str()
            .with_context(|| format!("argument {arg:?} is not UTF-8"))?;
        if let Some(url) = arg.strip_prefix("--srcserver=") {
            srcserver = Some(url.to_string());
        } else if arg == "--srcserver" {
            let url = rest.next().and_then(|v| v.to_str());
            srcserver = Some(url.context("--srcserver needs a URL")?.to_string());
        } else if arg.starts_with("--") {
            bail!("unknown option {arg} (usage: [--srcserver URL] JOBFILE STAGE PATH)");
        } else {
            positional.push(arg.to_string());
        }
    }
    let [jobfile, stage, path] = positional.as_slice() else {
        bail!(
            "expected JOBFILE precheck|succeeded|failed PATH, got {} arguments",
            positional.len()
        );
    };
    let stage = match stage.as_str() {
        "precheck" => Stage::Precheck,
        "succeeded" => Stage::Succeeded,
        "failed" => Stage::Failed,
        other => bail!("unknown stage {other:?} (precheck, succeeded or failed)"),
    };
    Ok(Call {
        srcserver,
        jobfile: PathBuf::from(jobfile),
        stage,
        path: PathBuf::from(path),
    })
}

/// The answer: an exit code and the line that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: i32,
    pub message: String,
}

fn verdict(code: i32, message: impl Into<String>) -> Verdict {
    Verdict {
        code,
        message: message.into(),
    }
}

pub fn check(call: &Call, settings: &Settings) -> Verdict {
    match call.stage {
        Stage::Precheck => precheck(call, settings),
        Stage::Succeeded => verdict(OK, "the build succeeded"),
        Stage::Failed => postcheck_failed(&call.path),
    }
}

/// This host's description, or why it cannot build anything.
fn this_host(settings: &Settings) -> Result<Worker> {
    let config = match &settings.config {
        Some(dir) => WorkerConfig::load(dir)?,
        None => WorkerConfig::default(),
    };
    crate::lifecycle::configured_toolbox_repos(settings.config.as_deref())?;
    for dir in [&settings.cache, &settings.state_root] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let probe = dir.join(format!(".obsbox-hostcheck.{}", std::process::id()));
        std::fs::write(&probe, b"")
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
    }
    let detected = worker::detect(&config)?;
    for note in &detected.notes {
        tracing::warn!("{note}");
    }
    Ok(detected.worker)
}

fn precheck(call: &Call, settings: &Settings) -> Verdict {
    let worker = match this_host(settings) {
        Ok(w) => w,
        Err(err) => return verdict(CANNOT_BUILD_ANYTHING, format!("{err:#}")),
    };
    let (job, source) = match job::buildinfo::load_summary(&call.jobfile) {
        Ok(read) => read,
        Err(err) => return verdict(CANNOT_BUILD_PACKAGE, format!("{err:#}")),
    };
    if let Some(config) = &settings.config {
        let selector = crate::lifecycle::callback_selector(&job);
        if let Err(err) = crate::callbacks::config::enabled(config, &selector) {
            return verdict(CANNOT_BUILD_ANYTHING, format!("{err:#}"));
        }
    }
    if let Err(err) = job.arch.deb() {
        return verdict(CANNOT_BUILD_REPOSITORY, format!("{err:#}"));
    }
    let arch = Some(&job.arch);
    let package = Some(job.package.as_str());

    let project = match alloc::constraints::from_list(&job.constraints, "buildinfo") {
        Ok(p) => p,
        Err(err) => {
            return verdict(
                CANNOT_BUILD_REPOSITORY,
                format!("project config constraint: {err:#}"),
            );
        }
    };
    let combined = project
        .combine(arch, package)
        .map_err(|e| anyhow::anyhow!("{e:#}"));
    if let Ok(c) = &combined
        && let Err(f) = alloc::check(&worker, c, arch)
    {
        return verdict(
            CANNOT_BUILD_REPOSITORY,
            format!(
                "{}: the project config's constraint {}: {}",
                job.id, f.rule, f.explanation
            ),
        );
    }

    let package_constraints = match package_constraints(call, &job, &source) {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!("{err:#}; the package's _constraints are not checked");
            None
        }
    };
    if let Some(c) = package_constraints {
        let mut all = project.clone();
        all.add(c);
        match all.combine(arch, package) {
            Ok(merged) => {
                if let Err(f) = alloc::check(&worker, &merged, arch) {
                    return verdict(
                        CANNOT_BUILD_PACKAGE,
                        format!(
                            "{}: the package's _constraints {}: {}",
                            job.id, f.rule, f.explanation
                        ),
                    );
                }
            }
            Err(err) => return verdict(CANNOT_BUILD_PACKAGE, format!("{err:#}")),
        }
    }
    verdict(OK, format!("{}: this worker complies", job.id))
}

/// The package's `_constraints` when the buildinfo says it has one.
fn package_constraints(
    call: &Call,
    job: &Job,
    source: &SourceRef,
) -> Result<Option<alloc::Sources>> {
    if source.constraintsmd5.is_none() {
        return Ok(None);
    }
    let server = source
        .srcserver
        .clone()
        .or_else(|| call.srcserver.clone())
        .context("the job has _constraints but no source server is known (--srcserver)")?;
    let srcmd5 = source
        .srcmd5
        .as_deref()
        .context("the job has _constraints but no <srcmd5>")?;
    let url = format!(
        "{}/source/{}/{}/_constraints?expand=1&rev={srcmd5}",
        server.trim_end_matches('/'),
        encode(&job.project),
        encode(package_of(&job.package)),
    );
    let said = |err: ureq::Error| match err {
        ureq::Error::Timeout(_) => anyhow::anyhow!(
            "the source server did not answer GET {url} within {} s",
            SOURCE_TIMEOUT.as_secs()
        ),
        err => anyhow::Error::new(err).context(format!("GET {url}")),
    };
    let body = source_agent()
        .get(&url)
        .call()
        .map_err(said)?
        .into_body()
        .with_config()
        .limit(alloc::constraints::MAX_SOURCE)
        .read_to_vec()
        .map_err(said)?;
    Ok(Some(alloc::constraints::from_xml(&body, &url)?))
}

/// How long the pre-build check waits for the source server, all in all. bs_worker runs
/// the check inside the dispatcher's `PUT /build`, which gives up after about 10 s and then
/// marks the worker down while the worker builds the job anyway.
const SOURCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

fn source_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(SOURCE_TIMEOUT))
        .user_agent(concat!("obsbox/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// A multibuild flavor `PACKAGE:FLAVOR` keeps its sources in PACKAGE.
fn package_of(package: &str) -> &str {
    package.split_once(':').map_or(package, |(p, _)| p)
}

/// Percent-encodes what a path segment cannot hold as it is.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' | b'+' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What in a failed build's log shows a problem of this host, not of the package.
const HOST_SIGNS: &[&str] = &[
    "No space left on device",
    "Input/output error",
    "Read-only file system",
    "Too many open files in system",
    "cannot set up the toolbox",
];

fn postcheck_failed(log: &Path) -> Verdict {
    let Ok(file) = std::fs::File::open(log) else {
        // bs_worker itself takes a build without a log as a bad host.
        return verdict(OK, format!("{}: no log to check", log.display()));
    };
    for line in std::io::BufReader::new(file)
        .split(b'\n')
        .map_while(|l| l.ok())
    {
        let line = String::from_utf8_lossy(&line);
        if let Some(sign) = HOST_SIGNS.iter().find(|s| line.contains(*s)) {
            return verdict(
                CANNOT_BUILD_ANYTHING,
                format!(
                    "the build failed for a host reason ({sign}): {}",
                    line.trim()
                ),
            );
        }
    }
    verdict(OK, "the log shows no host problem")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Call> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn bs_worker_calls() {
        let c = parse_str(&[
            "--srcserver",
            "http://127.0.0.1:5352",
            "/w/job",
            "precheck",
            "/w/root_1",
        ])
        .unwrap();
        assert_eq!(c.srcserver.as_deref(), Some("http://127.0.0.1:5352"));
        assert_eq!(c.stage, Stage::Precheck);
        assert_eq!(c.path, PathBuf::from("/w/root_1"));
        let c = parse_str(&["/w/job", "failed", "/w/root_1/.build.log"]).unwrap();
        assert_eq!(c.stage, Stage::Failed);
        for (args, want) in [
            (&["/w/job", "maybe", "/x"][..], "unknown stage"),
            (&["/w/job", "precheck"][..], "got 2 arguments"),
            (&["--srcserver"][..], "needs a URL"),
            (
                &["--verbose", "/w/job", "precheck", "/x"][..],
                "unknown option --verbose",
            ),
        ] {
            let err = format!("{:#}", parse_str(args).unwrap_err());
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn host_problems_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(
            &log,
            "[build] gcc -c x.c\n[build] x.c:1: error: expected ';'\n",
        )
        .unwrap();
        assert_eq!(postcheck_failed(&log).code, OK);
        std::fs::write(
            &log,
            "[build] cp: error writing 'a.o': No space left on device\n",
        )
        .unwrap();
        let v = postcheck_failed(&log);
        assert_eq!(v.code, CANNOT_BUILD_ANYTHING);
        assert!(v.message.contains("a.o"), "{}", v.message);
        assert_eq!(postcheck_failed(&dir.path().join("none")).code, OK);
    }

    #[test]
    fn path_segments() {
        assert_eq!(encode("home:alice:x"), "home:alice:x");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(package_of("hello:docs"), "hello");
    }
}
