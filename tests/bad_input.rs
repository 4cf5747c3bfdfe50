//! Bad input to every command: one line on stderr naming the file or argument and the
//! problem, a non-zero exit code, and nothing half-written (no output directory, no container
//! state, no unfinished cache entry).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Bundle, Runtime, stderr_of};

/// Requires exit code `code` and exactly one stderr line that contains every needle.
fn fails(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing in: {err}");
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The container ids with state in `runtime`'s `--root`.
fn state_dirs(runtime: &Runtime) -> Vec<String> {
    fs::read_dir(runtime.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// What is left in a cache's `tmp/` (work in progress of the store).
fn cache_leftovers(cache: &Path) -> Vec<PathBuf> {
    match fs::read_dir(cache.join("tmp")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Bundles that are wrong in one way each: the bundle, the path the error must name, and the
/// words of the problem.
fn bad_bundles(dir: &Path) -> Vec<(PathBuf, PathBuf, Vec<&'static str>)> {
    let missing = dir.join("no-such-bundle");
    let no_config = dir.join("no-config");
    fs::create_dir_all(no_config.join("rootfs")).unwrap();
    let broken = dir.join("broken");
    fs::create_dir_all(broken.join("rootfs")).unwrap();
    fs::write(
        broken.join("config.json"),
        "{\"ociVersion\": \"1.0.2\",\n  \"process\": {",
    )
    .unwrap();
    let not_spec = dir.join("not-spec");
    fs::create_dir_all(not_spec.join("rootfs")).unwrap();
    fs::write(not_spec.join("config.json"), "{\"ociVersion\": 5}").unwrap();
    vec![
        (missing.clone(), missing.clone(), vec!["no such directory"]),
        (
            no_config.clone(),
            no_config.join("config.json"),
            vec!["No such file"],
        ),
        (
            broken.clone(),
            broken.join("config.json"),
            vec!["not a valid OCI runtime config", "EOF"],
        ),
        (
            not_spec.clone(),
            not_spec.join("config.json"),
            vec!["not a valid OCI runtime config", "invalid type"],
        ),
    ]
}

#[test]
fn create_and_run_refuse_bad_bundles() {
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    for (bundle, config, words) in bad_bundles(dir.path()) {
        for command in ["create", "run"] {
            let id = format!(
                "bad-{command}-{}",
                bundle.file_name().unwrap().to_str().unwrap()
            );
            let out = runtime.output(&[command, "--bundle", s(&bundle), &id]);
            let mut needles = vec![s(&config)];
            needles.extend(&words);
            fails(&out, 1, &needles);
            assert!(state_dirs(&runtime).is_empty(), "{command} {id} left state");
            assert!(
                common::cgroup_dirs_of(&id).is_empty(),
                "{command} {id} left a cgroup"
            );
        }
    }
}

#[test]
fn exec_refuses_a_missing_or_broken_process_json() {
    let runtime = Runtime::new();
    let bundle = Bundle::new(&["sleep", "60"]);
    let id = format!("bad-exec-{}", std::process::id());
    runtime.run_detached(&id, &bundle);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-process.json");
    let broken = dir.path().join("process.json");
    fs::write(&broken, "{\"args\": [\"true\"").unwrap();
    let not_process = dir.path().join("not-process.json");
    fs::write(&not_process, "{\"args\": \"true\"}").unwrap();
    for (file, word) in [
        (&missing, "cannot read"),
        (&broken, "EOF"),
        (&not_process, "invalid type"),
    ] {
        let out = runtime.output(&["exec", "--process", s(file), &id]);
        fails(&out, 255, &[s(file), word]);
    }
    // Nothing was started next to the container's own process.
    let ps = runtime.ok(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_str(&ps).unwrap();
    assert_eq!(pids.len(), 1, "{ps}");
    assert_eq!(runtime.status(&id), "running");
    runtime.ok(&["delete", "--force", &id]);
}

#[test]
fn state_kill_delete_of_an_unknown_id() {
    let runtime = Runtime::new();
    let id = "no-such-container";
    for args in [
        vec!["state", id],
        vec!["kill", id, "KILL"],
        vec!["delete", id],
    ] {
        let out = runtime.output(&args);
        fails(&out, 1, &[id, "does not exist"]);
    }
    // As runc: a forced delete of what is not there is done, so cleanups can repeat it.
    let out = runtime.output(&["delete", "--force", id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
    assert!(state_dirs(&runtime).is_empty());
}

/// A flat Debian repository whose Packages index is not one.
fn garbage_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("garbage-repo");
    fs::create_dir_all(&repo).unwrap();
    fs::write(
        repo.join("Packages"),
        "this is not a Packages index\n\u{1}\u{2}\nPackage\n",
    )
    .unwrap();
    repo
}

#[test]
fn rootfs_create_refuses_bad_lists_and_repositories() {
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out_dir = dir.path().join("root");
    let empty_repo = dir.path().join("empty-repo");
    fs::create_dir(&empty_repo).unwrap();
    let good_list = dir.path().join("list.txt");
    fs::write(&good_list, "busybox-static\n").unwrap();
    let missing_list = dir.path().join("no-such-list.txt");
    // Root reads a chmod 000 file anyway; a directory is a list that cannot be read.
    let dir_list = dir.path().join("list-dir");
    fs::create_dir(&dir_list).unwrap();
    let garbage = garbage_repo(dir.path());
    let cases: Vec<(PathBuf, PathBuf, Vec<&str>)> = vec![
        (
            empty_repo.clone(),
            missing_list.clone(),
            vec![s(&missing_list), "No such file"],
        ),
        (
            empty_repo.clone(),
            dir_list.clone(),
            vec![s(&dir_list), "directory"],
        ),
        (
            empty_repo.clone(),
            good_list.clone(),
            vec![s(&empty_repo), "no Packages index"],
        ),
        (
            garbage.clone(),
            good_list.clone(),
            vec![s(&garbage), "Packages"],
        ),
    ];
    for (repo, list, needles) in cases {
        let out = runtime.output(&[
            "--cache",
            s(&cache),
            "rootfs",
            "create",
            "--arch",
            "amd64",
            "--repo",
            s(&repo),
            "--packages-from",
            s(&list),
            "--out",
            s(&out_dir),
        ]);
        fails(&out, 1, &needles);
        assert!(!out_dir.exists(), "{} was created", out_dir.display());
        assert!(
            cache_leftovers(&cache).is_empty(),
            "{:?}",
            cache_leftovers(&cache)
        );
        assert!(state_dirs(&runtime).is_empty());
    }
}

/// `rootfs create --mode install --toolbox DIR` with a toolbox that is missing or lacks
/// what installing an rpm root takes: one line naming the toolbox, no root written.
#[test]
fn rpm_install_refuses_a_missing_or_incomplete_toolbox() {
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out_dir = dir.path().join("root");
    let repo = common::data::testdata().join("rpm-repo");
    let missing = dir.path().join("no-such-toolbox");
    let empty = dir.path().join("empty-toolbox");
    fs::create_dir(&empty).unwrap();
    for (toolbox, needles) in [
        (&missing, vec![s(&missing), "No such file"]),
        (&empty, vec![s(&empty), "has no /bin/sh"]),
    ] {
        let out = runtime.output(&[
            "--cache",
            s(&cache),
            "rootfs",
            "create",
            "--arch",
            "x86_64",
            "--mode",
            "install",
            "--repo",
            s(&repo),
            "--install",
            "obsbox-test-base",
            "--toolbox",
            s(toolbox),
            "--out",
            s(&out_dir),
        ]);
        fails(&out, 1, &needles);
        assert!(!out_dir.exists(), "{} was created", out_dir.display());
        assert!(
            cache_leftovers(&cache).is_empty(),
            "{:?}",
            cache_leftovers(&cache)
        );
        assert!(state_dirs(&runtime).is_empty());
    }
}

/// Job files that cannot be read, each with the words of its error.
fn bad_jobs(dir: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let missing = dir.join("no-such-job.toml");
    let broken = dir.join("broken.toml");
    fs::write(&broken, "package = \"hello\"\narch = [\n").unwrap();
    let repo = dir.join("repo");
    fs::create_dir_all(&repo).unwrap();
    let unknown = dir.join("unknown.toml");
    fs::write(
        &unknown,
        "package = \"hello\"\narch = \"amd64\"\nrecipe = \"hello.dsc\"\nrepos = [\"repo\"]\nbuild_flavour = \"fast\"\n",
    )
    .unwrap();
    let xml = dir.join("buildinfo.xml");
    fs::write(
        &xml,
        "<buildinfo project=\"p\" repository=\"r\" package=\"hello\">\n<arch>x86_64</arch>\n<file>hello.dsc</oops>\n",
    )
    .unwrap();
    vec![
        (
            missing.clone(),
            vec![missing.display().to_string(), "No such file".into()],
        ),
        (
            broken.clone(),
            vec![broken.display().to_string(), "line 2".into()],
        ),
        (
            unknown.clone(),
            vec![unknown.display().to_string(), "build_flavour".into()],
        ),
        (xml.clone(), vec![xml.display().to_string(), "oops".into()]),
    ]
}

#[test]
fn build_and_bundle_refuse_bad_jobs() {
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out_dir = dir.path().join("out");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime-config");
    for (job, words) in bad_jobs(dir.path()) {
        let needles: Vec<&str> = words.iter().map(String::as_str).collect();
        for (command, code) in [("build", 4), ("bundle", 1)] {
            let out = runtime.output(&[
                "--cache",
                s(&cache),
                command,
                s(&job),
                "--out",
                s(&out_dir),
                "--config",
                s(&config),
            ]);
            fails(&out, code, &needles);
            assert!(
                !out_dir.exists(),
                "{command} {} created {}",
                job.display(),
                out_dir.display()
            );
            assert!(cache_leftovers(&cache).is_empty());
            assert!(state_dirs(&runtime).is_empty());
        }
    }
}

#[test]
fn cache_gc_refuses_a_size_that_is_not_one() {
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    for (size, word) in [("lots", "not a size"), ("5X", "unknown unit")] {
        let out = runtime.output(&["--cache", s(&cache), "cache", "gc", "--max-size", size]);
        fails(&out, 1, &["--max-size", size, word]);
    }
}

/// A `.dsc` job in one of OBS's Debian layouts that is broken (a debian archive member
/// climbing out of `debian/`): the build fails as obs-build's does (exit code 1, "debian
/// transforming failed") with one line naming the archive and the member, before any root
/// is assembled, and leaves no work behind.
#[test]
fn build_refuses_a_broken_obs_debian_layout() {
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let sources = dir.path().join("sources");
    fs::create_dir_all(&sources).unwrap();
    common::data::tarball(
        &sources.join("greet-1.0.tar.gz"),
        &[("greet-1.0/greet.c", b"int main;\n")],
    );
    common::data::tarball(
        &sources.join("debian.tar.gz"),
        &[("debian/../../../etc/cron.d/job", b"* * * * * root id\n")],
    );
    fs::write(sources.join("debian.control"), "Source: greet\n").unwrap();
    fs::write(
        sources.join("greet.dsc"),
        "Format: 1.0\nSource: greet\nVersion: 1.0-1\nDEBTRANSFORM-TAR: greet-1.0.tar.gz\n",
    )
    .unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    let job = dir.path().join("job.toml");
    fs::write(
        &job,
        format!(
            "package = \"greet\"\narch = \"amd64\"\nrecipe = \"greet.dsc\"\nsources = \"{}\"\n\
             release = \"4.2\"\nrepos = [\"{}\"]\n",
            s(&sources),
            s(&repo)
        ),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let out_dir = dir.path().join("out");
    let out = runtime.output(&["--cache", s(&cache), "build", s(&job), "--out", s(&out_dir)]);
    fails(
        &out,
        1,
        &[
            "debian transforming failed",
            "debian.tar.gz: debian/../../../etc/cron.d/job: a member name outside debian/",
        ],
    );
    let log = fs::read_to_string(out_dir.join("logfile")).unwrap();
    assert!(
        log.contains("debian transforming failed: debian.tar.gz"),
        "{log}"
    );
    assert!(!dir.path().join("etc").exists());
    let jobs: Vec<_> = fs::read_dir(cache.join("jobs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(jobs.is_empty(), "work left: {jobs:?}");
    assert!(cache_leftovers(&cache).is_empty());
    assert!(state_dirs(&runtime).is_empty());
}
