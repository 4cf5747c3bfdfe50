//! A build job in a temporary directory: sources copied from `integration/pkgs/…`, a
//! job.toml, and obsbox with a private state directory and a given cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::data::{copy_tree, list, repo_root};
use super::{Runtime, stderr_of};

/// A TOML array of strings.
pub fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The test data's Debian repository by `file://`, as a job's `repos` entry.
pub fn file_deb_repo() -> String {
    format!(
        "file://{} bookworm main",
        super::data::testdata().join("deb-repo").display()
    )
}

/// A job directory: the sources copied from `integration/pkgs/…`, a job.toml, and obsbox
/// with a private cache and state.
pub struct Job {
    pub dir: tempfile::TempDir,
    pub runtime: Runtime,
    pub cache: PathBuf,
    /// The runtime configuration directory (`--config`); the repo's by default.
    pub config: PathBuf,
    /// More arguments for `build` (e.g. `--old DIR`).
    pub extra: Vec<String>,
}

impl Job {
    pub fn new(cache: &Path) -> Job {
        Job {
            dir: tempfile::tempdir().unwrap(),
            runtime: Runtime::new(),
            cache: cache.to_path_buf(),
            config: repo_root().join("runtime-config"),
            extra: Vec::new(),
        }
    }

    pub fn sources(&self) -> PathBuf {
        self.dir.path().join("sources")
    }

    /// The Debian package's sources as OBS hands them over: a .dsc and its tarball.
    pub fn debian_sources(&self) -> String {
        self.debian_sources_edited(|_| {})
    }

    /// As [`Job::debian_sources`], with `edit` applied to the source tree first.
    pub fn debian_sources_edited(&self, edit: impl FnOnce(&Path)) -> String {
        let tree = self.dir.path().join("hello-obsbox");
        copy_tree(&repo_root().join("integration/pkgs/hello-obsbox"), &tree);
        edit(&tree);
        fs::create_dir_all(self.sources()).unwrap();
        super::run_ok(
            Command::new("dpkg-source")
                .args(["-b", "hello-obsbox"])
                .current_dir(self.dir.path()),
        );
        for entry in fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".dsc") || name.contains(".tar.") {
                fs::rename(&path, self.sources().join(&name)).unwrap();
            }
        }
        "hello-obsbox_1.0.dsc".to_string()
    }

    pub fn rpm_sources(&self) -> String {
        copy_tree(
            &repo_root().join("integration/pkgs/hello-obsbox-rpm"),
            &self.sources(),
        );
        "hello-obsbox.spec".to_string()
    }

    pub fn write_toml(
        &self,
        recipe: &str,
        repo: &str,
        packages: &[String],
        extra: &str,
    ) -> PathBuf {
        let path = self.dir.path().join("job.toml");
        fs::write(
            &path,
            format!(
                "package = \"hello-obsbox\"\narch = \"amd64\"\nrecipe = {recipe:?}\nsources = \"sources\"\n\
                 repos = [{repo:?}]\npackages = {}\n{extra}",
                toml_list(packages)
            ),
        )
        .unwrap();
        path
    }

    /// A copy of the repo's runtime configuration in the job directory, with
    /// `projects/home:test.toml` holding `project`; the job uses it from now on.
    pub fn with_project(&mut self, project: &str) {
        let config = self.dir.path().join("config");
        copy_tree(&repo_root().join("runtime-config"), &config);
        fs::create_dir_all(config.join("projects")).unwrap();
        fs::write(config.join("projects/home:test.toml"), project).unwrap();
        self.config = config;
    }

    /// Runs the job; returns its exit code and its log (its lines without their time
    /// stamps, which `tests/build.rs` checks) followed by obsbox's stderr.
    pub fn run(&self, job: &Path) -> (Option<i32>, String) {
        let (out, results) = self.build(job);
        let log = unstamped_log(&results.join("logfile"));
        (
            out.status.code(),
            format!("{log}\n-- stderr --\n{}", stderr_of(&out)),
        )
    }

    /// `obsbox bundle JOB --out DIR/bundles` with the job's configuration; returns the
    /// output directory.
    pub fn bundle(&self, job: &Path) -> PathBuf {
        let out_dir = self.dir.path().join("bundles");
        let out = self.runtime.output(&[
            "--cache",
            self.cache.to_str().unwrap(),
            "bundle",
            job.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--config",
            self.config.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr_of(&out));
        out_dir
    }

    /// `obsbox --cache CACHE bundle JOB --out OUT` run in the job directory, `cache` and
    /// `out` as given (relative ones as a user types them there); returns the output
    /// directory's absolute path.
    pub fn bundle_at(&self, job: &Path, cache: &str, out: &str) -> PathBuf {
        let mut command = self.runtime.command(&["--cache", cache, "bundle"]);
        command
            .arg(job)
            .args(["--out", out, "--config"])
            .arg(&self.config)
            .current_dir(self.dir.path());
        let output = super::output_of(command);
        assert!(
            output.status.success(),
            "obsbox bundle --out {out}: {}",
            stderr_of(&output)
        );
        self.dir.path().join(out)
    }

    /// Nothing of a finished job is left: no container state, no mount under the cache,
    /// no work directory.
    pub fn assert_nothing_left(&self) {
        let states: Vec<_> = fs::read_dir(self.runtime.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(states.is_empty(), "container state left: {states:?}");
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(self.cache.to_str().unwrap()), "{mounts}");
        let jobs = self.cache.join("jobs");
        assert!(!jobs.exists() || fs::read_dir(&jobs).unwrap().count() == 0);
    }

    /// The Debian package job (integration/pkgs/hello-obsbox) from the test repository by
    /// `file://`, with `extra` appended to its job.toml.
    pub fn debian(cache: &Path, extra: &str) -> (Job, PathBuf) {
        let job = Job::new(cache);
        let recipe = job.debian_sources();
        let toml = job.write_toml(&recipe, &file_deb_repo(), &deb_packages(), extra);
        (job, toml)
    }

    pub fn results(&self) -> PathBuf {
        self.dir.path().join("results")
    }

    /// `--cache C build JOB --out RESULTS --config runtime-config`.
    pub fn build_args(&self, job: &Path) -> Vec<String> {
        let mut args = [
            "--cache",
            self.cache.to_str().unwrap(),
            "build",
            job.to_str().unwrap(),
            "--out",
            self.results().to_str().unwrap(),
            "--config",
            self.config.to_str().unwrap(),
        ]
        .map(str::to_string)
        .to_vec();
        args.extend(self.extra.iter().cloned());
        args
    }

    pub fn build(&self, job: &Path) -> (Output, PathBuf) {
        let args = self.build_args(job);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (self.runtime.output(&args), self.results())
    }

    /// Starts the build in the background and returns once `phase` has started.
    pub fn spawn_build_until(&self, job: &Path, phase: &str) -> std::process::Child {
        let args = self.build_args(job);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = self
            .runtime
            .command(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        let marker = format!("phase {phase} starts");
        while !fs::read_to_string(self.results().join("logfile"))
            .unwrap_or_default()
            .contains(&marker)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{phase} never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child
    }
}

/// A job log's text with the time stamp taken off each line (`[   12s] `); empty when
/// there is no log.
pub fn unstamped_log(path: &Path) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    let mut out = String::with_capacity(log.len());
    for line in log.lines() {
        out.push_str(obsbox::joblog::unstamped(line));
        out.push('\n');
    }
    out
}

pub fn deb_packages() -> Vec<String> {
    let mut names = list("required.txt");
    names.push("build-essential".to_string());
    names
}
