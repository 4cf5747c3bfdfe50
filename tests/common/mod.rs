//! Shared fixtures for the integration tests: a busybox bundle built from Debian's real
//! `busybox-static` package and an obsbox runtime with a private state directory; running
//! a command that must succeed (`run_ok`), a bundle under runc (`runc_run`), and checks of
//! written bundles (`assert_complete_bundles`, `validate_bundles`). The submodules: `data`
//! (the test data), `job` (a build job in a directory), `rootfs` (`obsbox rootfs create`
//! with a cache of its own, its arguments built up), `serve`, `tree`, `joblog`, `obs`.
//!
//! These tests start real containers and so need root; they fail (not skip) without it,
//! and a missing input (test data, a tool) fails with a message naming it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub fn obsbox_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_obsbox"))
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests start real containers and must run as root"
    );
}

/// A temporary directory that lives as long as the test process: statics are never
/// dropped, so it is removed when the process exits instead.
pub fn process_tempdir(prefix: &str) -> PathBuf {
    static DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    extern "C" fn remove_all() {
        if let Ok(dirs) = DIRS.lock() {
            for dir in dirs.iter() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
    // SAFETY: registers a plain function to run at exit(3).
    REGISTERED.call_once(|| unsafe {
        libc::atexit(remove_all);
    });
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap()
        .keep();
    DIRS.lock().unwrap().push(dir.clone());
    dir
}

/// One template bundle per test binary; each test copies it.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = process_tempdir("obsbox-template-");
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/busybox-bundle.sh");
            let status = Command::new(script)
                .arg(obsbox_bin())
                .arg(dir.join("bundle"))
                .status()
                .expect("run integration/busybox-bundle.sh");
            assert!(status.success(), "building the busybox bundle failed");
            dir
        })
        .as_path()
}

/// A busybox bundle in its own temporary directory.
pub struct Bundle {
    pub dir: TempDir,
}

impl Bundle {
    /// A copy of the busybox bundle whose process runs `args`.
    pub fn new(args: &[&str]) -> Bundle {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("obsbox-bundle-")
            .tempdir()
            .unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(template().join("bundle/."))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let bundle = Bundle { dir };
        bundle.edit(|c| c["process"]["args"] = serde_json::json!(args));
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.path().join("config.json")).unwrap()).unwrap()
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut config = self.config();
        f(&mut config);
        fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
    }

    /// Adds a mount to the config.
    pub fn mount(&self, mount: Value) {
        self.edit(|c| c["mounts"].as_array_mut().unwrap().push(mount));
    }
}

/// obsbox with a private `--root`.
pub struct Runtime {
    pub root: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        require_root();
        Runtime {
            root: tempfile::Builder::new()
                .prefix("obsbox-root-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(obsbox_bin());
        command.arg("--root").arg(self.root.path()).args(args);
        command
    }

    /// Runs obsbox to completion with stdin closed. Output goes through files, not pipes:
    /// a created container inherits obsbox's stdio and would hold a pipe open until it ends.
    pub fn output(&self, args: &[&str]) -> Output {
        output_of(self.command(args))
    }

    /// Runs obsbox and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "obsbox {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status(id) != want {
            assert!(Instant::now() < deadline, "{id} never became {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn create(&self, id: &str, bundle: &Bundle) {
        self.ok(&["create", "--bundle", bundle.path().to_str().unwrap(), id]);
    }

    /// `run --detach`: the container keeps running after obsbox returns.
    pub fn run_detached(&self, id: &str, bundle: &Bundle) {
        self.ok(&["run", "-d", "--bundle", bundle.path().to_str().unwrap(), id]);
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Never leave containers of a failed test behind.
        if let Ok(entries) = fs::read_dir(self.root.path()) {
            for entry in entries.flatten() {
                let id = entry.file_name().into_string().unwrap();
                let _ = self.output(&["delete", "--force", &id]);
            }
        }
    }
}

/// Every cgroup directory (any v1 hierarchy or the unified one) whose path mentions `id`.
pub fn cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for hierarchy in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        find_dirs(&hierarchy.path(), id, 3, &mut found);
    }
    found
}

fn find_dirs(dir: &Path, needle: &str, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        if path.to_string_lossy().contains(needle) {
            found.push(path.clone());
        }
        if depth > 0 {
            find_dirs(&path, needle, depth - 1, found);
        }
    }
}

/// Lines of the host's mount table that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

pub fn process_alive(pid: i32) -> bool {
    // A zombie has exited; only a live process counts.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn read_all(mut file: fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut data = Vec::new();
    file.rewind().unwrap();
    file.read_to_end(&mut data).unwrap();
    data
}

/// Runs `command` (obsbox, or runc) to completion with stdin closed, its output through
/// files: a container it creates inherits its stdio and would hold a pipe open.
pub fn output_of(mut command: Command) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let status = command
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));
    Output {
        status,
        stdout: read_all(out),
        stderr: read_all(err),
    }
}

/// Runs `command` to its end, its output captured, and requires success: a failure names
/// the command line, its exit status and its stderr. Returns the output.
pub fn run_ok(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}",
        out.status,
        stderr_of(&out)
    );
    out
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
pub mod serve;
pub mod tree;

/// Validates a document against a JSON schema with python3-jsonschema (refs resolved
/// relative to the schema's directory).
/// The runtime-spec's config.json schema (Debian's golang-github-opencontainers-specs-dev).
pub const CONFIG_SCHEMA: &str =
    "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema/config-schema.json";

pub fn validate(schema: &Path, document: &Path) {
    let script = r#"
import json, pathlib, sys, jsonschema
schema_path = pathlib.Path(sys.argv[1]).resolve()
schema = json.load(open(schema_path))
resolver = jsonschema.RefResolver(schema_path.as_uri(), schema)
cls = jsonschema.validators.validator_for(schema)
cls(schema, resolver=resolver).validate(json.load(open(sys.argv[2])))
"#;
    // Debian's python3 has python3-jsonschema from integration/setup.sh.
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(schema)
        .arg(document)
        .output()
        .expect("python3 with jsonschema (integration/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{} does not validate against {}: {}",
        document.display(),
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
pub mod data;
pub mod job;
pub mod joblog;

/// Checks OCI bundles with opencontainers' runtime-tools validator (the Go `validate`
/// package of Debian's golang-github-opencontainers-runtime-tools-dev, which setup
/// installs; `integration/oci-validate` is the command around it, built once per test
/// process). Asserts that every bundle passes, among others the rule that `root.path` is
/// a child of the bundle directory.
pub fn validate_bundles(bundles: &[PathBuf]) {
    static TOOL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let tool = TOOL.get_or_init(|| {
        let dir = process_tempdir("obsbox-oci-validate-");
        let tool = dir.join("oci-validate");
        // go comes from integration/setup.sh (golang-go).
        run_ok(
            std::process::Command::new("go")
                .args(["build", "-o"])
                .arg(&tool)
                .arg(data::repo_root().join("integration/oci-validate/main.go"))
                .env("GOPATH", "/usr/share/gocode")
                .env("GO111MODULE", "off")
                .env("GOCACHE", dir.join("go-cache")),
        );
        tool
    });
    assert!(!bundles.is_empty(), "no bundles to validate");
    let out = std::process::Command::new(tool)
        .args(bundles)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "runtime-tools' validator refuses the bundles:\n{}",
        stdout_of(&out)
    );
}
/// The bundles `obsbox bundle` wrote in `out/bundles` are complete where they lie: each
/// `config.json` parses, its `root.path` (relative ones taken from the bundle) is inside
/// the bundle's directory and exists, and so does every bind mount's source and every
/// hook's program; then runtime-tools' validator checks them ([`validate_bundles`]).
/// Returns the bundles' directories.
pub fn assert_complete_bundles(out: &Path) -> Vec<PathBuf> {
    let mut bundles: Vec<PathBuf> = fs::read_dir(out.join("bundles"))
        .unwrap_or_else(|e| panic!("{}: {e}", out.join("bundles").display()))
        .map(|e| e.unwrap().path())
        .collect();
    bundles.sort();
    for bundle in &bundles {
        let file = bundle.join("config.json");
        let config: Value = serde_json::from_slice(
            &fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let root = bundle.join(
            config["root"]["path"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no root.path", file.display())),
        );
        assert!(
            root.starts_with(bundle) && root.is_dir(),
            "{}: root {} is not a directory inside the bundle",
            file.display(),
            root.display()
        );
        let mounts = config["mounts"].as_array().cloned().unwrap_or_default();
        for mount in &mounts {
            let options = mount["options"].as_array().cloned().unwrap_or_default();
            let bind =
                mount["type"] == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
            if !bind {
                continue;
            }
            let source = Path::new(mount["source"].as_str().unwrap());
            assert!(
                source.is_absolute() && source.exists(),
                "{}: the source of the bind mount at {} is not an absolute path that exists: {}",
                file.display(),
                mount["destination"],
                source.display()
            );
        }
        let hooks = config["hooks"].as_object().cloned().unwrap_or_default();
        for hook in hooks
            .values()
            .flat_map(|h| h.as_array().cloned().unwrap_or_default())
        {
            let program = Path::new(hook["path"].as_str().unwrap());
            assert!(
                program.is_absolute() && program.is_file(),
                "{}: hook {} is not an absolute path that exists",
                file.display(),
                program.display()
            );
        }
    }
    validate_bundles(&bundles);
    bundles
}

/// `runc --root RUNC_ROOT run --bundle BUNDLE ID`: a bundle run as any OCI tool runs it;
/// asserts success and returns runc's output.
pub fn runc_run(runc_root: &Path, bundle: &Path, id: &str) -> Output {
    let mut command = Command::new("runc");
    command
        .arg("--root")
        .arg(runc_root)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id);
    let out = output_of(command);
    assert!(
        out.status.success(),
        "runc run {}: {}\n{}",
        bundle.display(),
        stdout_of(&out),
        stderr_of(&out)
    );
    out
}

pub mod obs;
pub mod rootfs;

/// Runs `cmd` to its end; returns its exit code, its peak resident memory in KiB, from the
/// kernel's account of the child (wait4's rusage), and its stderr.
pub fn exit_and_peak_rss(cmd: &mut Command) -> (Option<i32>, i64, String) {
    let mut stderr = tempfile::tempfile().unwrap();
    // Reaped by wait4 below, not by the Child (which only has its pid then).
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr.try_clone().unwrap()))
        .spawn()
        .unwrap()
        .id() as i32;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills; the child is ours and not waited yet.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child, &mut status, 0, &mut usage) };
    assert_eq!(pid, child, "wait4");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let mut text = String::new();
    std::io::Seek::rewind(&mut stderr).unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
    (code, usage.ru_maxrss, text)
}
