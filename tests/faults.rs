//! Faults: `obsbox build` killed with SIGKILL at every phase boundary and inside callbacks,
//! then `obsbox gc` (or the next run) leaves nothing behind; a full results disk; a corrupt
//! cache entry. Real jobs (integration/pkgs/hello-obsbox) from the loopback test repository.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::data::testdata;
use common::job::Job;
use common::stderr_of;

fn cache() -> &'static Path {
    static CACHE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| common::process_tempdir("obsbox-test-cache-"))
}

/// Callbacks that sleep while a marker file is in the job's sources, so one job can be
/// stopped inside either of them.
const PROJECT: &str = r#"
[callback.stall-pre]
hook = "pre-build"
runs-in = "buildroot"
enabled = true
mounts = { sources = "ro" }
command = ["/bin/sh", "-c", "if [ -e /sources/STALL-PRE ]; then echo stalling-pre; sleep 300; fi"]

[callback.stall-post]
hook = "post-build"
runs-in = "buildroot"
enabled = true
mounts = { sources = "ro" }
command = ["/bin/sh", "-c", "if [ -e /sources/STALL-POST ]; then echo stalling-post; sleep 300; fi"]
"#;

fn job() -> (Job, PathBuf) {
    let (mut job, toml) = Job::debian(cache(), "project = \"home:test\"\n");
    job.with_project(PROJECT);
    (job, toml)
}

/// The same job with a check (from the toolbox) that stalls.
fn stalling(toml: &Path) -> PathBuf {
    let text = fs::read_to_string(toml).unwrap();
    let path = toml.with_file_name("job-stall.toml");
    fs::write(
        &path,
        format!(
            "{text}\n[[check]]\nname = \"stall\"\n\
             run = [\"busybox\", \"sh\", \"-c\", \"echo stalling-check; exec busybox sleep 300\"]\n"
        ),
    )
    .unwrap();
    path
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(job: &Job, toml: &Path) -> Child {
    let args = job.build_args(toml);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    job.runtime
        .command(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn log_of(job: &Job) -> String {
    fs::read_to_string(job.results().join("logfile")).unwrap_or_default()
}

/// Kills obsbox with SIGKILL; returns its pid.
fn sigkill(child: &mut Child) -> u32 {
    child.kill().unwrap();
    child.wait().unwrap();
    child.id()
}

/// Processes whose root or working directory is under `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<i32>().is_err() {
            continue;
        }
        for link in ["root", "cwd"] {
            if let Ok(target) = fs::read_link(entry.path().join(link))
                && target.starts_with(dir)
            {
                let cmd = fs::read_to_string(entry.path().join("cmdline"))
                    .unwrap_or_default()
                    .replace('\0', " ");
                found.push(format!("{name} ({link} {}): {cmd}", target.display()));
            }
        }
    }
    found
}

/// The cgroups of the obsbox process `pid`: `/obsbox/<job>-<phase>-<pid>` in every
/// hierarchy.
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    let suffix = format!("-{pid}");
    let mut found = Vec::new();
    for hierarchy in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if let Ok(entries) = fs::read_dir(hierarchy.path().join("obsbox")) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(&suffix) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

/// What a killed job may leave until gc: containers, work directories, unpacking in
/// progress, mounts, processes, cgroups.
fn leftovers(job: &Job, pid: u32) -> Vec<String> {
    let mut left = Vec::new();
    for entry in fs::read_dir(job.runtime.root.path()).unwrap().flatten() {
        left.push(format!("container state {}", entry.path().display()));
    }
    for sub in ["jobs", "tmp"] {
        if let Ok(entries) = fs::read_dir(job.cache.join(sub)) {
            for entry in entries.flatten() {
                left.push(format!(
                    "cache {sub}/{}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    for mount in common::mounts_mentioning(job.cache.to_str().unwrap()) {
        left.push(format!("mount {mount}"));
    }
    for process in processes_under(&job.cache) {
        left.push(format!("process {process}"));
    }
    for cgroup in cgroups_of(pid) {
        left.push(format!("cgroup {}", cgroup.display()));
    }
    left
}

fn gc(job: &Job) -> String {
    let out = job
        .runtime
        .output(&["--cache", job.cache.to_str().unwrap(), "gc"]);
    assert!(out.status.success(), "gc: {}", stderr_of(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// gc removes everything, then waits a little for processes that were told to stop.
fn gc_leaves_nothing(job: &Job, point: &str, pid: u32) {
    let collected = gc(job);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = leftovers(job, pid);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "killed at {point}: after gc ({collected}) still left: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A second gc finds nothing more.
    assert_eq!(gc(job).trim(), "", "killed at {point}: second gc");
}

fn marker(job: &Job, name: &str, on: bool) {
    let path = job.sources().join(name);
    if on {
        fs::write(path, b"").unwrap();
    } else {
        let _ = fs::remove_file(path);
    }
}

#[test]
fn sigkill_at_every_phase_then_gc_leaves_nothing() {
    testdata();
    let (job, toml) = job();
    let results = job.results();

    // 1. While the buildroot's maintainer scripts run (cold cache).
    let mut child = spawn(&job, &toml);
    wait_for("the buildroot install", || {
        fs::read_dir(job.runtime.root.path())
            .unwrap()
            .flatten()
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("obsbox-install-")
            })
    });
    std::thread::sleep(Duration::from_millis(500));
    let pid = sigkill(&mut child);
    assert!(
        !leftovers(&job, pid).is_empty(),
        "the install left nothing to gc?"
    );
    gc_leaves_nothing(&job, "install", pid);

    // 2.–4. At the start of the prepare, build and check phases (phase boundaries).
    let stall = stalling(&toml);
    for phase in ["prepare", "build", "check-stall"] {
        let _ = fs::remove_dir_all(&results);
        let mut child = spawn(&job, &stall);
        let started = format!("phase {phase} starts");
        wait_for(&started, || log_of(&job).contains(&started));
        if phase == "check-stall" {
            wait_for("the stalling check", || {
                log_of(&job).contains("stalling-check")
            });
        }
        let pid = sigkill(&mut child);
        gc_leaves_nothing(&job, phase, pid);
        if phase == "check-stall" {
            // The build had finished: its results are intact.
            let deb = results.join("DEBS/hello-obsbox_1.0_amd64.deb");
            let out = std::process::Command::new("dpkg-deb")
                .arg("--info")
                .arg(&deb)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                deb.display(),
                stderr_of(&out)
            );
        }
    }

    // 5.–6. Inside a pre-build and a post-build callback.
    for (name, line) in [
        ("STALL-PRE", "stalling-pre"),
        ("STALL-POST", "stalling-post"),
    ] {
        let _ = fs::remove_dir_all(&results);
        marker(&job, name, true);
        let mut child = spawn(&job, &toml);
        wait_for(line, || log_of(&job).contains(line));
        let pid = sigkill(&mut child);
        gc_leaves_nothing(&job, line, pid);
        marker(&job, name, false);
    }

    // The next run builds as if nothing had happened.
    let _ = fs::remove_dir_all(&results);
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(results.join("DEBS/hello-obsbox_1.0_amd64.deb").is_file());
    job.assert_nothing_left();
}

#[test]
fn the_next_run_cleans_up_after_a_killed_one() {
    testdata();
    let (job, toml) = job();
    let mut child = spawn(&job, &stalling(&toml));
    wait_for("the stalling check", || {
        log_of(&job).contains("stalling-check")
    });
    let pid = sigkill(&mut child);
    assert!(!leftovers(&job, pid).is_empty());
    let _ = fs::remove_dir_all(job.results());
    // No gc: the next build of the same cache and state removes what the dead one left.
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !leftovers(&job, pid).is_empty() {
        assert!(Instant::now() < deadline, "{:#?}", leftovers(&job, pid));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small tmpfs mounted at `dir` for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "obsbox-test"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
        Tmpfs(dir.to_path_buf())
    }

    /// Fills the file system up to `free` bytes.
    fn fill(&self, free: u64) {
        let stat = nix::sys::statvfs::statvfs(&self.0).unwrap();
        let available = stat.blocks_available() * stat.fragment_size();
        let filler = available.saturating_sub(free);
        let data = vec![0xa5u8; filler as usize];
        fs::write(self.0.join("filler"), data).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// One line on stderr (after obsbox's prefix) that says the disk is full and where.
/// (and names `dir`, when given).
fn says_disk_full(stderr: &str, dir: Option<&Path>) {
    // The callbacks' progress lines go to the terminal too; errors start with "obsbox:".
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("obsbox:"))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains("No space left on device"), "{stderr}");
    if let Some(dir) = dir {
        assert!(lines[0].contains(dir.to_str().unwrap()), "{stderr}");
    }
}

#[test]
fn a_full_cache_disk_is_one_clear_error_and_leaves_nothing() {
    testdata();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let _tmpfs = Tmpfs::mount(&cache, "8m");
    let (job, toml) = Job::debian(&cache, "");
    let (out, results) = job.build(&toml);
    assert_eq!(out.status.code(), Some(3), "a setup failure");
    // It names the package and the entry it could not write.
    says_disk_full(&stderr_of(&out), None);
    let log = fs::read_to_string(results.join("logfile")).unwrap();
    assert!(log.contains("No space left on device"), "{log}");
    // Nothing half-written: no unfinished cache entries, work directory, container.
    for sub in ["tmp", "jobs"] {
        let left: Vec<_> = fs::read_dir(cache.join(sub))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
    // No container, and no mount under the cache but the test's tmpfs itself.
    assert_eq!(fs::read_dir(job.runtime.root.path()).unwrap().count(), 0);
    let mounts: Vec<String> = common::mounts_mentioning(cache.to_str().unwrap())
        .into_iter()
        .filter(|m| !m.contains(" - tmpfs obsbox-test "))
        .collect();
    assert!(mounts.is_empty(), "{mounts:?}");
}

#[test]
fn a_full_results_disk_is_one_clear_error_and_leaves_nothing() {
    testdata();
    let (job, toml) = Job::debian(cache(), "");
    let results = job.results();
    let tmpfs = Tmpfs::mount(&results, "4m");
    // Room for the log, not for the packages.
    tmpfs.fill(16 * 1024);
    let (out, _) = job.build(&toml);
    assert_ne!(out.status.code(), Some(0));
    says_disk_full(&stderr_of(&out), Some(&results));
    job.assert_nothing_left();
}

/// `obsbox rootfs create` of a small extract-mode root from the test repository.
fn create_root(runtime: &common::Runtime, cache: &Path, out: &Path) -> String {
    let out = runtime.output(&[
        "--cache",
        cache.to_str().unwrap(),
        "--log-format",
        "json",
        "rootfs",
        "create",
        "--arch",
        "amd64",
        "--repo",
        &common::job::file_deb_repo(),
        "--install",
        "busybox-static",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    stderr_of(&out)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect()
}

#[test]
fn a_corrupt_cache_entry_is_detected_and_made_again() {
    testdata();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let runtime = common::Runtime::new();
    create_root(&runtime, &cache, &dir.path().join("r1"));
    let hello = dir.path().join("r1/bin/busybox");
    let original = fs::read(&hello).unwrap();
    let roots = entries(&cache.join("rootfs"));
    assert_eq!(roots.len(), 1);

    // A file of the cached root (a hard link into the store) is damaged in place.
    let cached = roots[0].join("tree/bin/busybox");
    fs::write(&cached, b"#!/bin/sh\necho corrupted\n").unwrap();
    let log = create_root(&runtime, &cache, &dir.path().join("r2"));
    assert!(log.contains("is corrupt"), "reported: {log}");
    assert_eq!(
        fs::read(dir.path().join("r2/bin/busybox")).unwrap(),
        original,
        "the root was made again from the package"
    );

    // A broken info.json of a package entry: detected too, when a root is laid from it.
    let store_entry = entries(&cache.join("store"))
        .into_iter()
        .find(|e| {
            fs::read_to_string(e.join("info.json"))
                .unwrap()
                .contains("\"busybox-static\"")
        })
        .unwrap();
    fs::write(store_entry.join("info.json"), b"{ not json").unwrap();
    for root in entries(&cache.join("rootfs")) {
        fs::remove_dir_all(root).unwrap();
    }
    create_root(&runtime, &cache, &dir.path().join("r3"));
    assert_eq!(
        fs::read(dir.path().join("r3/bin/busybox")).unwrap(),
        original
    );
    assert!(
        fs::read_to_string(store_entry.join("info.json"))
            .unwrap()
            .contains("\"tree\""),
        "the package entry was made again"
    );
    // Nothing of the discarded entries is left behind.
    assert!(entries(&cache.join("tmp")).is_empty());
}
