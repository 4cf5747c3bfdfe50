//! The build phase's isolation: the phase bundles of a real job (`obsbox bundle`, Debian
//! buildroot from the test repository), with ad-hoc commands in place of the recipe, run by
//! `obsbox run`. The build must see nothing of the host and reach nothing of it.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::data::{copy_tree, repo_root, testdata};
use common::{Runtime, stderr_of, stdout_of};

/// A job's bundles written once per test binary, with `prepare` already run so the build
/// user and its home exist.
struct Phases {
    dir: PathBuf,
}

impl Phases {
    fn bundles(&self) -> PathBuf {
        self.dir.join("out/bundles")
    }

    fn sources(&self) -> PathBuf {
        self.dir.join("sources")
    }

    fn results(&self) -> PathBuf {
        self.dir.join("out/results")
    }
}

fn phases() -> &'static Phases {
    static PHASES: OnceLock<Phases> = OnceLock::new();
    PHASES.get_or_init(|| {
        // The bundles and the cache live as long as the test process.
        let dir = common::process_tempdir("obsbox-isolation-");
        let cache = dir.join("cache");
        let data = testdata();
        // The Debian package's sources as OBS hands them over: a .dsc and its tarball.
        copy_tree(
            &repo_root().join("integration/pkgs/hello-obsbox"),
            dir.as_path(),
        );
        let out = Command::new("dpkg-source")
            .args(["-b", "hello-obsbox"])
            .current_dir(dir.as_path())
            .output()
            .unwrap();
        assert!(out.status.success(), "dpkg-source -b: {}", stderr_of(&out));
        let sources = dir.as_path().join("sources");
        fs::create_dir(&sources).unwrap();
        for entry in fs::read_dir(dir.as_path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".dsc") || name.contains(".tar.") {
                fs::rename(&path, sources.join(&name)).unwrap();
            }
        }
        let mut packages: Vec<String> = fs::read_to_string(data.join("lists/required.txt"))
            .unwrap()
            .lines()
            .map(|l| format!("{:?}", l.trim()))
            .filter(|l| l != "\"\"")
            .collect();
        packages.push("\"build-essential\"".to_string());
        let job = dir.as_path().join("job.toml");
        fs::write(
            &job,
            format!(
                "package = \"hello-obsbox\"\narch = \"amd64\"\nrecipe = \"hello-obsbox_1.0.dsc\"\n\
                 sources = \"sources\"\nrepos = [\"file://{} bookworm main\"]\npackages = [{}]\n\
                 [[check]]\nname = \"probe\"\nrun = [\"busybox\", \"true\"]\n",
                data.join("deb-repo").display(),
                packages.join(", ")
            ),
        )
        .unwrap();
        let runtime = Runtime::new();
        let out = runtime.output(&[
            "--cache",
            cache.as_path().to_str().unwrap(),
            "bundle",
            job.to_str().unwrap(),
            "--out",
            dir.as_path().join("out").to_str().unwrap(),
            "--config",
            repo_root().join("runtime-config").to_str().unwrap(),
        ]);
        assert!(out.status.success(), "obsbox bundle: {}", stderr_of(&out));
        // obsbox ran prepare in the build's root (the build user is there).
        Phases { dir }
    })
}

/// Runs a copy of `phase`'s bundle, with `args` in place of its process when given, in a
/// cgroup of its own (the written path would be shared by concurrent tests).
fn run_phase(phases: &Phases, phase: &str, args: Option<&[&str]>) -> Output {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let id = format!("isolation-{}-{n}", std::process::id());
    let bundle = tempfile::tempdir().unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(
        &fs::read(phases.bundles().join(phase).join("config.json")).unwrap(),
    )
    .unwrap();
    if let Some(args) = args {
        config["process"]["args"] = serde_json::json!(args);
    }
    config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{id}"));
    fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let runtime = Runtime::new();
    let out = runtime.output(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(
        common::cgroup_dirs_of(&id).is_empty(),
        "{id} left its cgroup"
    );
    out
}

/// Runs `args` in place of the build.
fn in_build(args: &[&str]) -> Output {
    run_phase(phases(), "build", Some(args))
}

fn sh(script: &str) -> Output {
    in_build(&["/bin/sh", "-c", script])
}

fn must_succeed(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        stdout_of(out),
        stderr_of(out)
    );
    stdout_of(out)
}

#[test]
fn the_build_sees_only_its_own_processes() {
    // A loop of shell builtins: nothing but the shell itself may be listed.
    let out = must_succeed(&sh("for p in /proc/[0-9]*; do echo ${p#/proc/}; done"));
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["1"], "{out}");
    // The test's own pid does not exist there: signal and ptrace(PTRACE_ATTACH) give ESRCH.
    let me = std::process::id().to_string();
    let out = must_succeed(&in_build(&[
        "/usr/bin/perl",
        "-e",
        "my $p = 0 + shift; kill(0, $p) and die \"kill reached $p\\n\"; print \"kill: $!\\n\"; \
         syscall(101, 16, $p, 0, 0) == -1 or die \"ptrace reached $p\\n\"; print \"ptrace: $!\\n\";",
        &me,
    ]));
    assert_eq!(out, "kill: No such process\nptrace: No such process\n");
}

#[test]
fn the_build_sees_no_host_mounts() {
    assert!(Path::new("/work").is_dir(), "the host has /work");
    let out = must_succeed(&sh("test ! -e /work && cat /proc/self/mountinfo"));
    for line in out.lines() {
        let target = line.split(' ').nth(4).unwrap();
        assert!(
            target == "/"
                || ["/proc", "/dev", "/sys"]
                    .iter()
                    .any(|p| target == *p || target.starts_with(&format!("{p}/")))
                || target == "/sources"
                || target == "/results",
            "a host mount in the build: {line}"
        );
    }
}

#[test]
fn the_build_has_no_network_but_lo() {
    let out = must_succeed(&sh("cat /proc/net/dev"));
    let interfaces: Vec<&str> = out
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(interfaces, ["lo"], "{out}");
}

/// Its own loopback is up, as under runc and in obs-build's builds, and `/etc/hosts` names
/// localhost and the build's host name, as obs-build's init_buildsystem writes it: test
/// suites that serve on 127.0.0.1 and connect to it by address or name work (cpp-httplib's
/// hung without them).
#[test]
fn the_build_serves_and_connects_on_its_own_loopback() {
    let out = must_succeed(&in_build(&[
        "/usr/bin/perl",
        "-MIO::Socket::INET",
        "-MSys::Hostname",
        "-e",
        "my $l = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1:0') \
         or die \"listen: $!\\n\"; \
         for my $host ('127.0.0.1', 'localhost', hostname) { \
         IO::Socket::INET->new(PeerAddr => \"$host:\" . $l->sockport, Timeout => 5) \
         or die \"connect to $host: $!\\n\"; $l->accept or die \"accept: $!\\n\"; \
         print \"served $host\\n\" }",
    ]));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "served 127.0.0.1",
            "served localhost",
            "served obsbox-build"
        ],
        "{out}"
    );
}

#[test]
fn the_build_cannot_reach_a_loopback_service_of_the_host() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // Reachable from the host: the service is really there.
    std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    listener.accept().unwrap();
    let out = in_build(&[
        "/usr/bin/perl",
        "-MIO::Socket::INET",
        "-e",
        "IO::Socket::INET->new(PeerAddr => \"127.0.0.1:$ARGV[0]\", Timeout => 5) \
         and die \"connected\\n\"; print \"refused: $!\\n\"; exit 3",
        &port,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the build connected to the host"
    );
}

#[test]
fn the_build_runs_as_abuild_without_privileges() {
    let status = must_succeed(&sh("cat /proc/self/status"));
    let field = |name: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(field("Uid"), "399 399 399 399");
    assert_eq!(field("Gid"), "399 399 399 399");
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(cap), "0000000000000000", "{cap}");
    }
    assert_eq!(field("NoNewPrivs"), "1");
}

/// The build starts with every signal at its default action and none blocked, as in
/// obs-build's builds and under runc (obsbox itself ignores SIGPIPE, and an ignored signal
/// stays ignored across exec): a writer into a pipe whose reader has gone dies of SIGPIPE
/// instead of failing with EPIPE.
#[test]
fn the_build_starts_with_default_signal_dispositions() {
    let out = must_succeed(&sh("grep -E '^Sig(Blk|Ign):' /proc/self/status; \
         { (yes; echo \"writer status $?\" >&3) | head -n1 >/dev/null; } 3>&1"));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "SigBlk:\t0000000000000000",
            "SigIgn:\t0000000000000000",
            "writer status 141"
        ],
        "{out}"
    );
}

#[test]
fn sources_are_read_only_and_results_writable() {
    let p = phases();
    let out = sh("echo x > /sources/escape");
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "{}",
        stderr_of(&out)
    );
    assert!(!p.sources().join("escape").exists());
    must_succeed(&sh("echo written > /results/isolation-probe"));
    assert_eq!(
        fs::read_to_string(p.results().join("isolation-probe")).unwrap(),
        "written\n"
    );
}

#[test]
fn the_build_cannot_write_to_the_host_through_proc() {
    // core_pattern is the classic escape (a `|program` there runs on the host as root).
    for (knob, value) in [
        ("/proc/sys/kernel/core_pattern", "|/bin/sh -c id"),
        ("/proc/sys/vm/swappiness", "7"),
    ] {
        let before = fs::read_to_string(knob).unwrap();
        let out = sh(&format!("echo '{value}' > {knob}"));
        let after = fs::read_to_string(knob).unwrap();
        if after != before {
            // Put the host back before failing.
            fs::write(knob, before.trim_end()).unwrap();
        }
        assert_eq!(after, before, "the build changed the host's {knob}");
        assert!(!out.status.success(), "wrote {knob}");
    }
    // Not every kernel has sysrq (this test machine's has not): either way no write (a
    // missing file cannot be made in /proc), so the check runs everywhere.
    let out = sh("echo h > /proc/sysrq-trigger");
    assert!(!out.status.success(), "wrote /proc/sysrq-trigger");
}

#[test]
fn the_build_cannot_mount() {
    // mount(2) directly, so the error is the kernel's and not mount(8)'s own check.
    let out = must_succeed(&in_build(&[
        "/usr/bin/perl",
        "-e",
        "my ($s, $t, $f) = (\"none\", \"/tmp\", \"tmpfs\"); \
         syscall(165, $s, $t, $f, 0, 0) == -1 or die \"mounted\\n\"; print \"$!\\n\";",
    ]));
    assert_eq!(out, "Operation not permitted\n");
}

#[test]
fn the_toolbox_of_the_checks_is_read_only() {
    let out = run_phase(
        phases(),
        "check-probe",
        Some(&[
            "busybox",
            "sh",
            "-c",
            "for f in /escape /results/escape /buildroot/escape; do \
             echo x > $f && echo \"wrote $f\"; done; true",
        ]),
    );
    must_succeed(&out);
    assert_eq!(stdout_of(&out), "", "{}", stderr_of(&out));
    assert_eq!(
        stderr_of(&out).matches("Read-only file system").count(),
        3,
        "{}",
        stderr_of(&out)
    );
}
