//! Cross-arch builds end to end on an x86_64 worker whose OS has no qemu: qemu-user-static
//! comes from the toolbox (installed from the loopback test repository), registered with
//! binfmt_misc per job; the foreign buildroots are installed from real arm64 and s390x
//! Debian packages by the toolbox's host-arch dpkg.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::data::{list, testdata};
use common::job::{Job, toml_list};
use common::rootfs::{Create, Obsbox, rpm_toolbox};
use common::serve::Server;
use common::{CONFIG_SCHEMA, require_root, stderr_of, stdout_of, validate};

const HOST_BINFMT: &str = "/proc/sys/fs/binfmt_misc";

/// The entries of the host's binfmt_misc table (none when it is not mounted).
fn host_binfmt() -> BTreeSet<String> {
    if !binfmt_mounted() {
        return BTreeSet::new();
    }
    fs::read_dir(HOST_BINFMT)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "register" && n != "status")
        .collect()
}

fn binfmt_mounted() -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(HOST_BINFMT))
}

/// Whether `name` is a program on the host's PATH.
fn on_host_path(name: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"])
        .any(|dir| Path::new(dir).join(name).exists())
}

/// `readelf -h FILE`'s machine line (binutils of the host reads any ELF).
fn elf_machine(file: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-h")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "readelf -h {}", file.display());
    stdout_of(&out)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Machine:")
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no machine in readelf -h {}", file.display()))
}

/// The loopback repository serving the test data (all arches in one archive).
fn serve_repo() -> (Server, String) {
    let server = Server::serve(&testdata().join("deb-repo"));
    let repo = format!("{} bookworm main", server.url("").trim_end_matches('/'));
    (server, repo)
}

/// Writes `job.toml` for a job of `arch` on this x86_64 worker; the toolbox comes from
/// the same archive's amd64 packages.
fn write_job(
    job: &Job,
    package: &str,
    arch: &str,
    recipe: &str,
    repo: &str,
    packages: &[String],
    extra: &str,
) -> PathBuf {
    let path = job.dir.path().join("job.toml");
    fs::write(
        &path,
        format!(
            "project = \"home:test\"\npackage = {package:?}\narch = {arch:?}\nrecipe = {recipe:?}\n\
             sources = \"sources\"\nrepos = [{repo:?}]\ntoolbox_repos = [{repo:?}]\npackages = {}\n{extra}",
            toml_list(packages)
        ),
    )
    .unwrap();
    path
}

/// The arm64 buildroot of integration/pkgs/hello-obsbox: the required set and
/// build-essential, resolved for arm64 from the archive.
fn arm64_packages() -> Vec<String> {
    let mut names = list("required.txt");
    names.push("build-essential".to_string());
    names
}

/// A small s390x buildroot: a static busybox and what maintainer scripts need.
fn s390x_packages() -> Vec<String> {
    [
        "busybox-static",
        "dash",
        "grep",
        "sed",
        "coreutils",
        "libc-bin",
        "diffutils",
    ]
    .map(str::to_string)
    .to_vec()
}

/// The s390x probe: a Debian source tree without build dependencies, so its buildroot
/// stays small. Its pre-build setup (in the buildroot, as root) runs the s390x busybox and
/// lists the container's binfmt_misc; its build then fails, since the root has no
/// dpkg-buildpackage: the failure case of a job.
fn s390x_probe(cache: &Path, repo: &str, project: &str) -> (Job, PathBuf) {
    let mut job = Job::new(cache);
    job.with_project(project);
    let debian = job.sources().join("probe/debian");
    fs::create_dir_all(&debian).unwrap();
    fs::write(
        debian.join("control"),
        "Source: probe\nMaintainer: obsbox developers <obsbox@example.org>\n\n\
         Package: probe\nArchitecture: all\nDescription: probe\n probe\n",
    )
    .unwrap();
    let toml = write_job(&job, "probe", "s390x", "probe", repo, &s390x_packages(), "");
    (job, toml)
}

const PROBE_SETUP: &str = "[callback.setup]\nenabled = true\n\
    args = [\"busybox uname -m\", \"ls /proc/sys/fs/binfmt_misc\"]\n";

/// The headline: with no qemu on the worker, an arm64 job builds the C package of
/// integration/pkgs/hello-obsbox with gcc in an arm64 buildroot (its unit test running
/// under emulation) while an s390x job runs its busybox at the same time; each container
/// sees only its own qemu, the checks run natively from the toolbox, and afterwards the
/// host's binfmt_misc has exactly the entries it had before.
#[test]
fn arm64_and_s390x_jobs_at_once_under_emulation() {
    require_root();
    assert_eq!(
        std::env::consts::ARCH,
        "x86_64",
        "the cross tests run on x86_64"
    );
    for qemu in ["qemu-aarch64-static", "qemu-s390x-static", "qemu-aarch64"] {
        assert!(!on_host_path(qemu), "{qemu} is installed on the host");
    }
    let before = host_binfmt();
    let (_server, repo) = serve_repo();
    let cache = common::process_tempdir("obsbox-cross-cache-");

    let arm = Job::new(&cache);
    let recipe = arm.debian_sources();
    let check = "[[check]]\nname = \"native\"\ngating = true\nrun = [\"busybox\", \"sh\", \"-c\", \
        \"echo check on $(busybox uname -m); /usr/bin/dpkg-deb -f /results/DEBS/hello-obsbox_1.0_arm64.deb Architecture\"]\n";
    let arm_toml = write_job(
        &arm,
        "hello-obsbox",
        "arm64",
        &recipe,
        &repo,
        &arm64_packages(),
        check,
    );
    let (probe, probe_toml) = s390x_probe(&cache, &repo, PROBE_SETUP);

    let ((arm_code, arm_log), (probe_code, probe_log)) = std::thread::scope(|s| {
        let a = s.spawn(|| arm.run(&arm_toml));
        // The s390x job starts while the arm64 one assembles its roots.
        std::thread::sleep(Duration::from_secs(2));
        let p = s.spawn(|| probe.run(&probe_toml));
        (a.join().unwrap(), p.join().unwrap())
    });

    // arm64: built, tested under emulation, an AArch64 binary in an arm64 .deb.
    assert_eq!(arm_code, Some(0), "{arm_log}");
    assert!(
        arm_log.contains("[callback cross-build] arm64 target code runs through")
            && arm_log.contains("qemu-aarch64-static: qemu-aarch64 registered in the build container's own binfmt_misc"),
        "{arm_log}"
    );
    // The job log holds each phase's lines as they came (the terminal adds the prefix).
    let line = |log: &str, want: &str| log.lines().any(|l| l == want);
    assert!(line(&arm_log, "checks run on aarch64"), "{arm_log}");
    assert!(line(&arm_log, "all greet checks passed"), "{arm_log}");
    let deb = arm.results().join("DEBS/hello-obsbox_1.0_arm64.deb");
    let unpacked = arm.dir.path().join("unpacked");
    common::run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    assert_eq!(
        elf_machine(&unpacked.join("usr/bin/hello-obsbox")),
        "AArch64"
    );
    let arch = Command::new("dpkg-deb")
        .arg("-f")
        .arg(&deb)
        .arg("Architecture")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&arch).trim(), "arm64");
    // The check ran from the host-arch toolbox, natively, over the arm64 results.
    assert!(line(&arm_log, "check on x86_64"), "{arm_log}");
    assert!(line(&arm_log, "arm64"), "{arm_log}");
    assert!(!arm_log.contains("qemu-s390x"), "{arm_log}");

    // s390x: its busybox ran through its own qemu, in a table holding nothing else.
    assert_eq!(
        probe_code,
        Some(1),
        "the probe's build fails by design:\n{probe_log}"
    );
    assert!(probe_log.contains("[callback setup] s390x"), "{probe_log}");
    assert!(
        probe_log.contains("[callback setup] qemu-s390x"),
        "{probe_log}"
    );
    assert!(!probe_log.contains("aarch64"), "{probe_log}");
    assert!(
        probe_log.contains("dpkg-buildpackage: not found"),
        "{probe_log}"
    );

    assert_eq!(host_binfmt(), before, "the host's binfmt_misc changed");
    arm.assert_nothing_left();
    probe.assert_nothing_left();
}

/// A toolbox without qemu for the target: the job fails in setup, exit code 4, with one
/// clear line, before the buildroot is assembled or any phase starts.
#[test]
fn missing_qemu_fails_in_setup() {
    let (_server, repo) = serve_repo();
    let cache = common::process_tempdir("obsbox-cross-cache-");
    let mut job = Job::new(&cache);
    job.with_project("[callback.cross-build]\npackages = [\"dpkg\", \"dash\", \"coreutils\"]\n");
    let recipe = job.debian_sources();
    let toml = write_job(
        &job,
        "hello-obsbox",
        "arm64",
        &recipe,
        &repo,
        &arm64_packages(),
        "",
    );
    let (out, results) = job.build(&toml);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(4), "{log}");
    let stderr = stderr_of(&out);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("obsbox: error: job home:test/local/hello-obsbox/arm64: arm64 on this amd64 worker is an emulated build: the toolbox has no qemu for arm64: usr/bin/qemu-aarch64-static is missing"),
        "{stderr}"
    );
    assert!(!log.contains("phase "), "no phase may start:\n{log}");
    // Only the toolbox was assembled: the arm64 buildroot never was.
    let roots = fs::read_dir(cache.join("rootfs")).unwrap().count();
    assert_eq!(roots, 1, "{log}");
    job.assert_nothing_left();
}

/// The fallback: with `binfmt=global` qemu goes into the host's table as
/// `obsbox-PID-s390x` for the job's lifetime and is removed when the job ends; an obsbox
/// killed with SIGKILL leaves it, and `obsbox gc` removes it. Entries obsbox did not
/// create are untouched.
#[test]
fn global_binfmt_fallback_is_removed_after_the_job_and_by_gc() {
    require_root();
    let was_mounted = binfmt_mounted();
    let before = host_binfmt();
    let (_server, repo) = serve_repo();
    let cache = common::process_tempdir("obsbox-cross-cache-");
    let project = format!("{PROBE_SETUP}\n[callback.cross-build]\nargs = [\"binfmt=global\"]\n");
    let (probe, toml) = s390x_probe(&cache, &repo, &project);
    let (code, log) = probe.run(&toml);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("[callback setup] s390x"), "{log}");
    assert!(
        log.contains("in the host's binfmt_misc serves the build container"),
        "{log}"
    );
    // The container has no table of its own: the setup lists nothing.
    assert!(!log.contains("[callback setup] qemu-s390x"), "{log}");
    assert!(log.contains("[callback verify-clean] clean"), "{log}");
    assert_eq!(host_binfmt(), before);
    probe.assert_nothing_left();

    // Stopped by SIGTERM while the build container is being created (the setup callback
    // sleeps): the entry goes with the job.
    let slow = "[callback.setup]\nenabled = true\nargs = [\"sleep 3\"]\n\n\
                [callback.cross-build]\nargs = [\"binfmt=global\"]\n";
    let (probe, toml) = s390x_probe(&cache, &repo, slow);
    let child = probe.spawn_build_until(&toml, "build");
    let entry = format!("obsbox-{}-s390x", child.id());
    assert!(host_binfmt().contains(&entry), "{:?}", host_binfmt());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(host_binfmt(), before, "the entry outlived a SIGTERM");
    probe.assert_nothing_left();

    // Killed with SIGKILL at the same point: the entry stays until `obsbox gc`.
    let (probe, toml) = s390x_probe(&cache, &repo, slow);
    let mut child = probe.spawn_build_until(&toml, "build");
    let entry = format!("obsbox-{}-s390x", child.id());
    assert!(host_binfmt().contains(&entry), "{:?}", host_binfmt());
    let mut mine = before.clone();
    mine.insert(entry.clone());
    assert_eq!(host_binfmt(), mine, "only the job's own entry is added");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        host_binfmt().contains(&entry),
        "a killed obsbox cannot remove its entry"
    );
    // The setup callback's own obsbox finishes its sleep and goes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fs::read_dir(probe.runtime.root.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("obsbox-cb-")
    }) {
        assert!(Instant::now() < deadline, "the setup callback never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    let gc = probe
        .runtime
        .ok(&["--cache", cache.to_str().unwrap(), "gc"]);
    // The host's table is shared: an `obsbox build` of another test starting meanwhile
    // runs the same collection first and may be the one that takes the entry.
    assert!(
        gc.contains(&format!("binfmt_misc entry {entry}")) || !host_binfmt().contains(&entry),
        "{gc}"
    );
    assert_eq!(host_binfmt(), before, "{gc}");
    probe.assert_nothing_left();
    if !was_mounted {
        // obsbox mounted the table as systemd would; the test puts the host back.
        let _ = nix::mount::umount(HOST_BINFMT);
    }
}

/// The bundles of an emulated job: valid per the runtime-spec schema; the phases and
/// callbacks that run buildroot code have a user namespace mapping the host's ids onto
/// themselves and a binfmt_misc of their own, the toolbox ones have neither.
#[test]
fn emulated_bundles_validate_and_isolate_binfmt() {
    let (_server, repo) = serve_repo();
    let cache = common::process_tempdir("obsbox-cross-cache-");
    // A post-build callback of the project's own, run from the toolbox.
    let project = format!(
        "{PROBE_SETUP}\n[callback.look]\nhook = \"post-build\"\ncommand = [\"busybox\", \"true\"]\nenabled = true\n"
    );
    let (probe, toml) = s390x_probe(&cache, &repo, &project);
    let out = probe.bundle(&toml);
    let config = |name: &str| -> serde_json::Value {
        let path = out.join("bundles").join(name).join("config.json");
        validate(Path::new(CONFIG_SCHEMA), &path);
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
    };
    let emulated = |c: &serde_json::Value| {
        let userns = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "user");
        let binfmt = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "binfmt_misc" && m["destination"] == HOST_BINFMT);
        assert_eq!(userns, binfmt, "{c}");
        if userns {
            let identity =
                serde_json::json!([{"containerID": 0, "hostID": 0, "size": 4294967295u32}]);
            assert_eq!(c["linux"]["uidMappings"], identity, "{c}");
            assert_eq!(c["linux"]["gidMappings"], identity, "{c}");
        }
        userns
    };
    // obsbox ran prepare (through qemu) in the build's root; its bundle is not handed out.
    assert!(!out.join("bundles/prepare").exists());
    for name in ["build", "callback-setup"] {
        assert!(
            emulated(&config(name)),
            "{name} must run s390x code through its own qemu"
        );
    }
    for name in ["callback-look", "callback-verify-clean"] {
        assert!(!emulated(&config(name)), "{name} runs natively");
    }
    let build = config("build");
    assert!(
        build["hooks"]["createRuntime"].as_array().unwrap()[0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().ends_with("callback-cross-build")),
        "the cross-build callback registers qemu first: {build}"
    );
    let cross = config("callback-cross-build");
    assert_eq!(
        cross["annotations"]["org.openbuildservice.emulate.arch"], "s390x",
        "{cross}"
    );
    let buildroot = out.join("bundles/build/rootfs");
    assert_eq!(elf_machine(&buildroot.join("bin/dash")), "IBM S/390");
}

/// A sysroot cross build (OBS buildinfo with `crossarch` and `sysroot` bdeps): a host-arch
/// buildroot, installed, with the target packages unpacked under
/// `/usr/aarch64-linux-gnu/sys-root`, or where the cross-build callback's `sysroot` says.
#[test]
fn sysroot_cross_build_layout() {
    let (_server, repo) = serve_repo();
    let cache = common::process_tempdir("obsbox-cross-cache-");
    let url = repo.clone();
    let buildinfo = |job: &Job| -> PathBuf {
        let recipe = job.debian_sources();
        for entry in fs::read_dir(job.sources()).unwrap() {
            let path = entry.unwrap().path();
            fs::rename(&path, job.dir.path().join(path.file_name().unwrap())).unwrap();
        }
        let mut bdeps = String::new();
        for name in arm64_packages() {
            bdeps.push_str(&format!("  <bdep name=\"{name}\"/>\n"));
        }
        for name in ["libc6", "libgcc-s1", "gcc-12-base", "hello"] {
            bdeps.push_str(&format!("  <bdep name=\"{name}\" sysroot=\"1\"/>\n"));
        }
        let path = job.dir.path().join("buildinfo.xml");
        fs::write(
            &path,
            format!(
                "<buildinfo project=\"home:test\" repository=\"Debian_12\" package=\"hello-obsbox\">\n\
                 <arch>aarch64</arch>\n<hostarch>x86_64</hostarch>\n<crossarch>aarch64</crossarch>\n\
                 <file>{recipe}</file>\n{bdeps}\
                 <path project=\"Debian:12\" repository=\"main\" url=\"{url}\"/>\n\
                 <syspath project=\"Debian:12\" repository=\"main\" url=\"{url}\"/>\n</buildinfo>\n"
            ),
        )
        .unwrap();
        path
    };

    let job = Job::new(&cache);
    let out = job.bundle(&buildinfo(&job));
    let root = out.join("bundles/build/rootfs");
    let sysroot = root.join("usr/aarch64-linux-gnu/sys-root");
    assert_eq!(elf_machine(&sysroot.join("usr/bin/hello")), "AArch64");
    assert_eq!(
        elf_machine(&sysroot.join("lib/aarch64-linux-gnu/libc.so.6")),
        "AArch64"
    );
    // The buildroot itself is the host's arch and installed (dpkg knows its packages); the
    // sysroot is unpacked only.
    assert_eq!(
        elf_machine(&root.join("usr/bin/dpkg")),
        "Advanced Micro Devices X86-64"
    );
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(
        status.contains("Package: build-essential\n"),
        "build-essential missing"
    );
    assert!(
        !status.contains("Package: hello\n"),
        "hello is a sysroot package"
    );
    assert!(!sysroot.join("var/lib/dpkg/status").exists());
    // Nothing emulated: no user namespace, no binfmt_misc of its own.
    let build: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("bundles/build/config.json")).unwrap()).unwrap();
    assert!(!build.to_string().contains("binfmt_misc"), "{build}");

    // The sysroot's place comes from the cross-build callback, per project.
    let mut job = Job::new(&cache);
    job.with_project("[callback.cross-build]\nargs = [\"sysroot=/opt/cross/{triplet}\"]\n");
    let out = job.bundle(&buildinfo(&job));
    assert!(
        out.join("bundles/build/rootfs/opt/cross/aarch64-linux-gnu/usr/bin/hello")
            .is_file()
    );
    assert!(
        !out.join("bundles/build/rootfs/usr/aarch64-linux-gnu/sys-root")
            .exists()
    );
    // The same build written as a job.toml: crossarch and its sysroot packages.
    let job = Job::new(&cache);
    let recipe = job.debian_sources();
    let toml = job.dir.path().join("job.toml");
    fs::write(
        &toml,
        format!(
            "project = \"home:test\"\npackage = \"hello-obsbox\"\narch = \"arm64\"\n\
             hostarch = \"amd64\"\nrecipe = {recipe:?}\nsources = \"sources\"\n\
             repos = [{url:?}]\npackages = {}\ncrossarch = \"arm64\"\n\
             sysroot = [\"libc6\", \"libgcc-s1\", \"gcc-12-base\", \"hello\"]\n",
            toml_list(&arm64_packages())
        ),
    )
    .unwrap();
    let out = job.bundle(&toml);
    let sysroot = out.join("bundles/build/rootfs/usr/aarch64-linux-gnu/sys-root");
    assert_eq!(elf_machine(&sysroot.join("usr/bin/hello")), "AArch64");
    assert_eq!(
        elf_machine(&out.join("bundles/build/rootfs/usr/bin/dpkg")),
        "Advanced Micro Devices X86-64"
    );
}

/// A foreign rpm root in install mode: the aarch64 test RPMs (their shell an arm64
/// busybox) registered by the toolbox's host-arch rpm (`rpm --root --ignorearch`), their
/// scriptlets run through the toolbox's qemu, and the host's binfmt_misc table is the same
/// afterwards.
#[test]
fn foreign_rpm_root_installed_by_the_toolbox_rpm() {
    require_root();
    assert!(
        !on_host_path("qemu-aarch64-static"),
        "the host must not have qemu"
    );
    let data = testdata();
    let (_server, repo) = serve_repo();
    let rpm_server = Server::serve(&data.join("rpm-repo-aarch64"));
    let work = tempfile::tempdir().unwrap();
    let obsbox = Obsbox::new();
    let toolbox = work.path().join("toolbox");
    let made = obsbox.create(&rpm_toolbox(&repo, &["qemu-user-static"], &toolbox));
    assert!(made.status.success(), "toolbox: {}", stderr_of(&made));
    let before = host_binfmt();

    let root = work.path().join("root");
    // rootfs create of the aarch64 set at OUT, with the toolbox or without.
    let create = |out: &Path, with_toolbox: bool| {
        let create = Create::new("aarch64")
            .mode("install")
            .install(&["obsbox-test-base"])
            .out(out)
            .repo(rpm_server.url(""));
        obsbox.create(&if with_toolbox {
            create.toolbox(&toolbox)
        } else {
            create
        })
    };
    let done = create(&root, true);
    assert!(done.status.success(), "{}", stderr_of(&done));
    assert_eq!(elf_machine(&root.join("usr/bin/busybox")), "AArch64");
    // The scriptlets ran, in the root, under emulation.
    assert_eq!(
        fs::read_to_string(root.join("obsbox-test-scripts.log")).unwrap(),
        "base pre 1\nbase post 1\n"
    );
    let qa = Command::new("rpm")
        .args([
            "--root",
            root.to_str().unwrap(),
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
        ])
        .args(["--qf", "%{NAME}.%{ARCH}\\n"])
        .output()
        .unwrap();
    let mut installed: Vec<String> = stdout_of(&qa).lines().map(str::to_string).collect();
    installed.sort();
    assert_eq!(
        installed,
        ["obsbox-test-base.aarch64", "obsbox-test-shell.aarch64"],
        "{}",
        stderr_of(&qa)
    );
    assert!(!root.join(".obsbox-install").exists());
    assert_eq!(
        host_binfmt(),
        before,
        "the host's binfmt_misc table changed"
    );

    // Without a toolbox, a foreign install-mode root is refused in one line.
    let refused = create(&work.path().join("refused"), false);
    assert!(!refused.status.success());
    let err = stderr_of(&refused);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--toolbox"), "{err}");
}
