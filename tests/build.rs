//! Build jobs end to end: real Debian and RPM packages built from sources kept in the repo,
//! in buildroots installed from the loopback test repository (integration/testdata.sh).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::data::{copy_tree, list, repo_root, testdata};
use common::job::{Job, deb_packages};
use common::serve::Server;
use common::{CONFIG_SCHEMA, stderr_of, stdout_of, validate};

/// One cache for the tests of this file: the buildroot is installed once.
fn shared_cache() -> &'static Path {
    static CACHE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| common::process_tempdir("obsbox-test-cache-"))
}

#[test]
fn debian_source_package_builds_into_debs() {
    let data = testdata();
    let server = Server::serve(&data.join("deb-repo"));
    let job = Job::new(shared_cache());
    let recipe = job.debian_sources();
    let repo = format!("{} bookworm main", server.url("").trim_end_matches('/'));
    let check = "[[check]]\nname = \"package-info\"\nrun = [\"busybox\", \"sh\", \"-c\", \"/usr/bin/dpkg-deb --info /results/DEBS/*.deb\"]\ngating = true\n";
    let toml = job.write_toml(&recipe, &repo, &deb_packages(), check);
    let (out, results) = job.build(&toml);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    let deb = results.join("DEBS/hello-obsbox_1.0_amd64.deb");
    let info = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(info.status.success(), "dpkg-deb -I {}", deb.display());
    assert!(String::from_utf8_lossy(&info.stdout).contains("Package: hello-obsbox"));
    // The unit test ran in the build, the check ran from the toolbox and saw the package.
    assert!(log.contains("phase build exited with 0"), "{log}");
    assert!(
        log.contains("Package: hello-obsbox"),
        "check output in the log:\n{log}"
    );
    assert!(results.join("OTHER").is_dir());
    let stats = fs::read_to_string(results.join("_statistics")).unwrap();
    for phase in ["prepare", "build", "check-package-info"] {
        assert!(
            stats.contains(&format!("<phase name=\"{phase}\" exitcode=\"0\">")),
            "{stats}"
        );
    }
    assert!(stats.contains("<memory unit=\"M\">"), "{stats}");
    // The log as OBS users read it: stamped lines, the kernel and the worker, the
    // buildroot's packages as installed, the toolbox's, the built package's information
    // from the toolbox's dpkg-deb (phase results-info).
    let cold = common::joblog::assert_job_log(&log, &[&deb], &deb_packages(), Some(false));
    assert!(
        stats.contains("<phase name=\"results-info\" exitcode=\"0\">"),
        "{stats}"
    );

    // The same job again, from the cache: nothing the first one ran (the build, the check
    // from the toolbox, the mount points its containers needed) changed a cached root.
    let again = Job::new(shared_cache());
    let toml = again.write_toml(&again.debian_sources(), &repo, &deb_packages(), check);
    let (out, results) = again.build(&toml);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    let said = format!("{}{log}", stderr_of(&out));
    assert!(!said.contains("is corrupt"), "{said}");
    // A root from the cache is listed as well: the same packages as installed the first
    // time.
    let deb = results.join("DEBS/hello-obsbox_1.0_amd64.deb");
    let warm = common::joblog::assert_job_log(&log, &[&deb], &deb_packages(), Some(true));
    let listing = |log: &str| {
        let lines: Vec<&str> = log.lines().collect();
        common::joblog::section(&lines, "Packages in the buildroot")
            .map(|(_, p)| p.join("\n"))
            .unwrap()
    };
    assert_eq!(listing(&warm), listing(&cold), "{log}");
}

#[test]
fn spec_builds_into_rpms_and_srpms() {
    let data = testdata();
    let job = Job::new(shared_cache());
    let recipe = job.rpm_sources();
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    let mut packages = deb_packages();
    packages.extend(list("rpm-build.txt"));
    let toml = job.write_toml(&recipe, &repo, &packages, "");
    let (out, results) = job.build(&toml);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    assert!(
        results
            .join("RPMS/x86_64/hello-obsbox-1.0-1.x86_64.rpm")
            .is_file(),
        "{log}"
    );
    assert!(
        results.join("SRPMS/hello-obsbox-1.0-1.src.rpm").is_file(),
        "{log}"
    );
    let package = obsbox::packages::rpm::RpmPackage::open(
        &results.join("RPMS/x86_64/hello-obsbox-1.0-1.x86_64.rpm"),
    )
    .unwrap();
    assert_eq!(package.name, "hello-obsbox");
    // The log shows each rpm as `rpm -qpi` and `rpm -qplv` do (from the toolbox's rpm).
    let log = common::job::unstamped_log(&results.join("logfile"));
    for rpm in [
        "RPMS/x86_64/hello-obsbox-1.0-1.x86_64.rpm",
        "SRPMS/hello-obsbox-1.0-1.src.rpm",
    ] {
        let path = results.join(rpm);
        let query = |what: &str| {
            let out = Command::new("rpm").arg(what).arg(&path).output().unwrap();
            assert!(
                out.status.success(),
                "rpm {what} {rpm}: {}",
                stderr_of(&out)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let name = path.file_name().unwrap().to_str().unwrap();
        let want = format!(
            "==== {name} ====\n\n{}\n{}\n",
            query("-qpi"),
            query("-qplv")
        );
        assert!(log.contains(&want), "{want}\n{log}");
    }
}

/// Writes a buildinfo for `recipe` (whose sources are in `job.sources()`) with every
/// package of the test root as a bdep, and builds it.
fn build_buildinfo(job: &Job, recipe: &str, url: &str) -> (std::process::Output, PathBuf) {
    let mut bdeps = String::new();
    for name in deb_packages() {
        bdeps.push_str(&format!("  <bdep name=\"{name}\"/>\n"));
    }
    // bs_worker keeps the sources next to the buildinfo.
    for entry in fs::read_dir(job.sources()).unwrap() {
        let path = entry.unwrap().path();
        fs::rename(&path, job.dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let buildinfo = job.dir.path().join("buildinfo.xml");
    fs::write(
        &buildinfo,
        format!(
            "<buildinfo project=\"home:obsbox\" repository=\"Debian_12\" package=\"hello-obsbox\">\n\
             <arch>x86_64</arch>\n<hostarch>x86_64</hostarch>\n<file>{recipe}</file>\n<release>1</release>\n\
             <versrel>1.0-1</versrel>\n<bcnt>1</bcnt>\n{bdeps}\
             <path project=\"Debian:12\" repository=\"main\" server=\"http://127.0.0.1\" url=\"{url}\"/>\n\
             </buildinfo>\n"
        ),
    )
    .unwrap();
    job.build(&buildinfo)
}

#[test]
fn buildinfo_xml_job_builds() {
    let data = testdata();
    let server = Server::serve(&data.join("deb-repo"));
    let url = format!("{} bookworm main", server.url("").trim_end_matches('/'));
    let job = Job::new(shared_cache());
    let recipe = job.debian_sources();
    let (out, results) = build_buildinfo(&job, &recipe, &url);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    // Without `OBS-DCH-RELEASE: 1` OBS's release leaves the version alone.
    assert!(
        results.join("DEBS/hello-obsbox_1.0_amd64.deb").is_file(),
        "{log}"
    );
    assert!(log.contains("source version 1.0\n"), "{log}");

    // The buildinfo's bdeps are the package set, as obs-build takes them: a Build-Depends
    // of the .dsc that no repository satisfies is not added to the root (which would fail
    // the setup, exit 4). The build reads debian/control, which does not have it.
    let job = Job::new(shared_cache());
    let recipe = job.debian_sources();
    let dsc = job.sources().join(&recipe);
    let text = fs::read_to_string(&dsc).unwrap().replace(
        "Build-Depends: build-essential\n",
        "Build-Depends: build-essential, make (>= 99)\nOBS-DCH-RELEASE: 1\n",
    );
    fs::write(&dsc, text).unwrap();
    let (out, results) = build_buildinfo(&job, &recipe, &url);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    // With `OBS-DCH-RELEASE: 1` the release follows a `+`, in a changelog entry of OBS's.
    assert!(
        results.join("DEBS/hello-obsbox_1.0+1_amd64.deb").is_file(),
        "{log}"
    );
    assert!(log.contains("source version 1.0+1"), "{log}");
    // The original source goes back, not a remade one.
    assert!(results.join(format!("OTHER/{recipe}")).is_file());
}

#[test]
fn a_failing_build_exits_1_and_keeps_its_log() {
    let data = testdata();
    let job = Job::new(shared_cache());
    let tree = job.sources().join("hello-obsbox");
    fs::create_dir_all(job.sources()).unwrap();
    copy_tree(&repo_root().join("integration/pkgs/hello-obsbox"), &tree);
    // Break the unit test the build runs.
    let test = fs::read_dir(tree.join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("test"))
        .expect("a unit test source");
    let text = fs::read_to_string(&test).unwrap();
    fs::write(&test, format!("{text}\n#error this build must fail\n")).unwrap();
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    let toml = job.write_toml("hello-obsbox", &repo, &deb_packages(), "");
    let (out, results) = job.build(&toml);
    let log = fs::read_to_string(results.join("logfile")).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}\n{log}", stderr_of(&out));
    assert!(log.contains("this build must fail"), "{log}");
    assert!(fs::read_dir(results.join("DEBS")).unwrap().next().is_none());
}

#[test]
fn an_unresolvable_bdep_is_a_setup_failure() {
    let data = testdata();
    let job = Job::new(shared_cache());
    let recipe = job.rpm_sources();
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    let mut packages = deb_packages();
    packages.push("no-such-build-dependency".to_string());
    let toml = job.write_toml(&recipe, &repo, &packages, "");
    let (out, results) = job.build(&toml);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("no-such-build-dependency"), "{err}");
    let log = fs::read_to_string(results.join("logfile")).unwrap();
    assert!(log.contains("setup failed"), "{log}");
}

/// The phase templates obsbox ships (`bundles/`), which an operator reads and adjusts, are
/// runtime-spec configurations as they stand.
#[test]
fn shipped_bundle_templates_are_runtime_spec_configs() {
    let schema = Path::new(CONFIG_SCHEMA);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["build.json", "callback.json", "check.json", "prepare.json"]
    );
    for name in names {
        validate(schema, &dir.join(name));
    }
}

#[test]
fn bundles_validate_and_run_under_runc() {
    testdata();
    let (job, toml) = Job::debian(
        shared_cache(),
        "[[check]]\nname = \"list\"\nrun = [\"busybox\", \"ls\", \"-l\", \"/results/DEBS\"]\n",
    );
    let bundles = job.bundle(&toml);
    let schema = Path::new(CONFIG_SCHEMA);
    // Each bundle holds its own root as `rootfs`; obsbox ran prepare in the build's root,
    // so its bundle is not handed out (it would need the build's root as its own).
    let written: Vec<PathBuf> = fs::read_dir(bundles.join("bundles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!bundles.join("bundles/prepare").exists(), "{written:?}");
    common::validate_bundles(&written);
    for phase in ["build", "check-list"] {
        let config = bundles.join("bundles").join(phase).join("config.json");
        validate(schema, &config);
        let spec: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
        assert_eq!(spec["annotations"]["org.openbuildservice.phase"], phase);
        // The obsbox that wrote them is gone when runc runs them: `obsbox gc` (of any job
        // on this worker) must not take their cgroups for a dead obsbox's.
        let cgroup = spec["linux"]["cgroupsPath"].as_str().unwrap();
        assert!(cgroup.starts_with("/obsbox-bundle/"), "{cgroup}");
        assert_eq!(
            spec["annotations"]["org.openbuildservice.package"],
            "hello-obsbox"
        );
    }
    let build: serde_json::Value =
        serde_json::from_slice(&fs::read(bundles.join("bundles/build/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        build["process"]["user"]["uid"], 399,
        "the build does not run as root"
    );
    let namespaces: Vec<&str> = build["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        namespaces.contains(&"network"),
        "no network in the build: {namespaces:?}"
    );
    // The build's root is its own copy: the cache's root is not it.
    let rootfs = bundles.join("bundles/build/rootfs");
    assert_eq!(build["root"]["path"], rootfs.to_str().unwrap());
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("abuild:x:399:399:"),
        "prepare ran: {passwd}"
    );
    // runc runs them as they are: the build, then the check from its own toolbox copy.
    let runc_root = job.dir.path().join("runc");
    for phase in ["build", "check-list"] {
        common::runc_run(
            &runc_root,
            &bundles.join("bundles").join(phase),
            &format!("obsbox-test-runc-{phase}-{}", std::process::id()),
        );
    }
    assert!(
        bundles
            .join("results/DEBS/hello-obsbox_1.0_amd64.deb")
            .is_file()
    );
}

/// `obsbox bundle` of spec jobs whose buildroots are installed from rpm-md repositories,
/// run in the job's directory with a relative `--cache` and `--out`, as a user types them:
/// the test data's RPMs registered by the toolbox's rpm, and the all-rpm build set
/// (integration/rpm-buildset.sh) by its own. Every written bundle is complete where it
/// lies (paths that only resolve from obsbox's directory fail here), the prepare phase
/// obsbox ran gave the build its user, and runc runs the build set's bundles: the build
/// with its callbacks' hooks, then the results' information.
#[test]
fn rpm_buildroot_bundles_are_complete_and_run_under_runc() {
    let data = testdata();
    let toolbox = format!(
        "toolbox_repos = [{:?}]\ntoolbox = [\"rpm\", \"coreutils\", \"dash\"]\n",
        common::job::file_deb_repo()
    );
    let bundle = |job: &Job, toml: &str| {
        let path = job.dir.path().join("job.toml");
        fs::write(&path, toml).unwrap();
        // Each job has a fresh cache, so the buildroot is installed (not taken from the
        // cache) while its paths are relative.
        let out = job.bundle_at(Path::new("job.toml"), "cache", "out");
        let written = common::assert_complete_bundles(&out);
        assert!(!out.join("bundles/prepare").exists(), "{written:?}");
        let passwd = fs::read_to_string(out.join("bundles/build/rootfs/etc/passwd")).unwrap();
        assert!(
            passwd.contains("abuild:x:399:399:"),
            "prepare ran: {passwd}"
        );
        out
    };

    // The test data's RPMs carry no rpm: the toolbox's registers them.
    let job = Job::new(shared_cache());
    fs::create_dir_all(job.sources()).unwrap();
    fs::write(
        job.sources().join("pick.spec"),
        "Name: pick\nVersion: 1\nRelease: 1\nSummary: x\nLicense: MIT\n\
         BuildRequires: obsbox-test-tools\n%description\nx\n%prep\n",
    )
    .unwrap();
    bundle(
        &job,
        &format!(
            "package = \"pick\"\narch = \"x86_64\"\nrecipe = \"pick.spec\"\nsources = \"sources\"\n\
             repos = [\"file://{}\"]\n{toolbox}",
            data.join("rpm-repo").display()
        ),
    );

    // The build set has its own rpm and rpmbuild: its bundles build the package.
    let job = Job::new(shared_cache());
    copy_tree(
        &repo_root().join("tests/fixtures/obs-backend/hello-script"),
        &job.sources(),
    );
    let packages: Vec<String> = [
        "dash",
        "rpm",
        "bash",
        "coreutils",
        "sed",
        "grep",
        "findutils",
        "gzip",
        "tar",
        "diffutils",
        "mawk",
        "file",
    ]
    .map(String::from)
    .to_vec();
    let out = bundle(
        &job,
        &format!(
            "package = \"hello-script\"\narch = \"x86_64\"\nrecipe = \"hello-script.spec\"\n\
             sources = \"sources\"\nrepos = [\"file://{}\"]\npackages = {}\n{toolbox}",
            common::data::rpm_buildset().display(),
            common::job::toml_list(&packages)
        ),
    );
    let runc_root = job.dir.path().join("runc");
    for phase in ["build", "results-info"] {
        let ran = common::runc_run(
            &runc_root,
            &out.join("bundles").join(phase),
            &format!("obsbox-test-runc-rpm-{phase}-{}", std::process::id()),
        );
        // runc reports a failing poststop hook as a warning, not in its exit code.
        assert!(
            !stderr_of(&ran).contains("error running hook"),
            "{phase}: {}",
            stderr_of(&ran)
        );
        if phase == "build" {
            assert!(
                stdout_of(&ran).contains("hello-script: %check passed"),
                "{}",
                stdout_of(&ran)
            );
        }
    }
    assert!(
        out.join("results/RPMS/noarch/hello-script-1.0-1.noarch.rpm")
            .is_file()
    );
    // The build's poststop hooks (the callbacks) wrote their statuses.
    for callback in ["build-compare", "verify-clean"] {
        let status = out.join("callbacks").join(format!("{callback}.json"));
        assert!(status.is_file(), "no {}", status.display());
    }
}

/// A job's phase bundles as `obsbox build` runs them: each a complete OCI bundle whose
/// `rootfs` is the job's mounted buildroot or toolbox, seen at the bundle's own place.
#[test]
fn job_bundles_hold_their_roots() {
    testdata();
    let (job, toml) = Job::debian(
        shared_cache(),
        "[[check]]\nname = \"root\"\nrun = [\"busybox\", \"test\", \"-x\", \"/bin/busybox\"]\ngating = true\n",
    );
    let mut args = job.build_args(&toml);
    args.push("--keep-work".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = job.runtime.output(&args);
    let log = common::job::unstamped_log(&job.results().join("logfile"));
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    let kept = log
        .lines()
        .find_map(|l| l.strip_prefix("[obsbox] work directory kept: "))
        .unwrap_or_else(|| panic!("no kept work directory in the log:\n{log}"));
    let bundles = Path::new(kept).join("bundles");
    let written: Vec<PathBuf> = fs::read_dir(&bundles)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for phase in ["prepare", "build", "check-root"] {
        let dir = bundles.join(phase);
        let spec: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            spec["root"]["path"],
            dir.join("rootfs").to_str().unwrap(),
            "{phase}"
        );
    }
    common::validate_bundles(&written);
    // The roots were mounts for the job's time only.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(kept), "{mounts}");
    fs::remove_dir_all(kept).unwrap();
}

#[test]
fn sigterm_stops_the_job_cleans_up_and_keeps_finished_results() {
    testdata();
    // A check that would run for a minute and ignores SIGTERM (it is the container's pid 1).
    let (job, toml) = Job::debian(
        shared_cache(),
        "[[check]]\nname = \"sleep\"\nrun = [\"busybox\", \"sleep\", \"60\"]\n",
    );
    let results = job.results();
    let mut child = job.spawn_build_until(&toml, "check-sleep");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "stopped in time"
    );
    // The build finished before the signal: its results stay.
    assert!(results.join("DEBS/hello-obsbox_1.0_amd64.deb").is_file());
    let log = fs::read_to_string(results.join("logfile")).unwrap();
    assert!(log.contains("interrupted by SIGTERM"), "{log}");
    assert!(results.join("_statistics").is_file());
    // Nothing left: no container state, no work directory, no cgroup.
    let state: Vec<_> = fs::read_dir(job.runtime.root.path()).unwrap().collect();
    assert!(state.is_empty(), "container state left: {state:?}");
    let jobs = job.cache.join("jobs");
    let left: Vec<_> = fs::read_dir(&jobs).map(|d| d.collect()).unwrap_or_default();
    assert!(
        left.is_empty(),
        "work directories left in {}: {left:?}",
        jobs.display()
    );
    let cgroups = common::cgroup_dirs_of("check-sleep");
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}

#[test]
fn gc_removes_what_a_killed_build_left() {
    testdata();
    let (job, toml) = Job::debian(
        shared_cache(),
        "[[check]]\nname = \"linger\"\nrun = [\"busybox\", \"sleep\", \"300\"]\n",
    );
    let cache = job.cache.to_str().unwrap().to_string();
    let mut child = job.spawn_build_until(&toml, "check-linger");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // obsbox dies without a chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let state: Vec<String> = fs::read_dir(job.runtime.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(state.len(), 1, "the check's container is left: {state:?}");
    let init: i32 = job.runtime.state(&state[0])["pid"].as_i64().unwrap() as i32;
    assert!(common::process_alive(init));
    assert!(!common::cgroup_dirs_of("check-linger").is_empty());

    let (stdout, _) = {
        let out = job.runtime.output(&["--cache", &cache, "gc"]);
        assert!(out.status.success(), "{}", stderr_of(&out));
        (String::from_utf8_lossy(&out.stdout).into_owned(), ())
    };
    assert!(
        stdout.contains(&format!("container {}", state[0])),
        "{stdout}"
    );
    assert!(stdout.contains("work directory"), "{stdout}");
    assert!(
        fs::read_dir(job.runtime.root.path())
            .unwrap()
            .next()
            .is_none(),
        "state left"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while common::process_alive(init) {
        assert!(
            std::time::Instant::now() < deadline,
            "the check's process survived gc"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let cgroups = common::cgroup_dirs_of("check-linger");
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let jobs: Vec<_> = fs::read_dir(job.cache.join("jobs")).unwrap().collect();
    assert!(jobs.is_empty(), "work directories left: {jobs:?}");
    // A second gc finds nothing.
    let out = job.runtime.output(&["--cache", &cache, "gc"]);
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

/// The `.dsc`'s build relations are read as dpkg-checkbuilddeps reads them: an alternative
/// restricted to another architecture or to an inactive build profile is dropped, an
/// unsatisfiable first alternative gives way to the next, the job's build profiles are
/// active (and exported to the build as DEB_BUILD_PROFILES), and a Build-Conflicts keeps
/// a package out of the root even where it would be the first choice. The build's own
/// dpkg-checkbuilddeps then agrees: the job succeeds.
#[test]
fn debian_build_relations_are_read_as_dpkg_reads_them() {
    let data = testdata();
    let job = Job::new(shared_cache());
    let recipe = job.debian_sources_edited(|tree| {
        let control = tree.join("debian/control");
        let text = fs::read_to_string(&control).unwrap().replace(
            "Build-Depends: build-essential\n",
            "Build-Depends: build-essential, no-such-package (>= 1) [arm64],\n \
             no-such-stage <stage1>, no-such-test-tool <!nocheck>,\n \
             no-such-make (>= 9) | make-guile | make\n\
             Build-Depends-Indep: no-such-doc-tool [!linux-any]\n\
             Build-Conflicts: make-guile, no-such-conflict [any-amd64]\n",
        );
        fs::write(&control, text).unwrap();
    });
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    let toml = job.write_toml(
        &recipe,
        &repo,
        &deb_packages(),
        "build_profiles = [\"nocheck\"]\n",
    );
    let (out, results) = job.build(&toml);
    let log = fs::read_to_string(results.join("logfile")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", stderr_of(&out));
    assert!(results.join("DEBS/hello-obsbox_1.0_amd64.deb").is_file());
    // dpkg-genbuildinfo lists the build dependencies as installed: make, not make-guile.
    let buildinfo = fs::read_to_string(results.join("OTHER/hello-obsbox_1.0_amd64.buildinfo"))
        .unwrap_or_else(|e| panic!("no .buildinfo in OTHER/: {e}\n{log}"));
    assert!(buildinfo.contains(" make (= 4.3-4.1)"), "{buildinfo}");
    assert!(!buildinfo.contains("make-guile"), "{buildinfo}");
    assert!(
        buildinfo.contains("DEB_BUILD_PROFILES=\"nocheck\""),
        "{buildinfo}"
    );
    // A binary-only build: no regenerated source package, the original one handed back.
    let other: Vec<String> = fs::read_dir(results.join("OTHER"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        other.contains(&"hello-obsbox_1.0.dsc".to_string()),
        "{other:?}"
    );
    assert_eq!(
        fs::read(results.join("OTHER/hello-obsbox_1.0.dsc")).unwrap(),
        fs::read(job.sources().join("hello-obsbox_1.0.dsc")).unwrap(),
        "OTHER/ holds the original .dsc"
    );
    assert!(
        buildinfo.contains("Binary: hello-obsbox") && !buildinfo.contains(".dsc"),
        "a -b build's .buildinfo names no source files:\n{buildinfo}"
    );
}

/// A build relation no repository satisfies, and a Build-Conflicts on a package the root
/// needs, fail the setup (exit 4) with one line naming the `.dsc` field and the relation.
#[test]
fn unsatisfiable_build_relations_name_the_dsc_field() {
    let data = testdata();
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    for (fields, expected) in [
        (
            "Build-Depends: build-essential, no-such-lib (>= 2) [amd64] | no-such-lib2\n",
            "Build-Depends of hello-obsbox_1.0.dsc needs no-such-lib (>= 2) | no-such-lib2",
        ),
        (
            "Build-Depends: build-essential\nBuild-Conflicts: bzip2\n",
            "Build-Conflicts of hello-obsbox_1.0.dsc conflicts with bzip2",
        ),
    ] {
        let job = Job::new(shared_cache());
        let recipe = job.debian_sources_edited(|tree| {
            let control = tree.join("debian/control");
            let text = fs::read_to_string(&control)
                .unwrap()
                .replace("Build-Depends: build-essential\n", fields);
            fs::write(&control, text).unwrap();
        });
        let toml = job.write_toml(&recipe, &repo, &deb_packages(), "");
        let (out, _) = job.build(&toml);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{fields}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{fields}: {err}");
    }
    // A relation dpkg cannot parse (dpkg-source would not have made this .dsc either).
    let job = Job::new(shared_cache());
    let recipe = job.debian_sources();
    let dsc = job.sources().join(&recipe);
    let text = fs::read_to_string(&dsc).unwrap().replace(
        "Build-Depends: build-essential\n",
        "Build-Depends: build-essential, broken [amd64] (>= 1)\n",
    );
    fs::write(&dsc, text).unwrap();
    let toml = job.write_toml(&recipe, &repo, &deb_packages(), "");
    let (out, _) = job.build(&toml);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("hello-obsbox_1.0.dsc: field Build-Depends")
            && err.contains("broken [amd64] (>= 1)"),
        "{err}"
    );
}

/// A spec's build dependencies, read as obs-build reads them, decide an rpm buildroot from
/// the test rpm repository: `%ifarch` takes the branch of the job's arch, a rich `or`
/// takes its first alternative that `BuildConflicts` leaves in, and `(a if b)` follows
/// whether `b` ends up in the root. (The root has no rpmbuild, so the build phase itself
/// fails; the buildroot is what is checked.)
#[test]
fn spec_conditionals_rich_dependencies_and_conflicts_pick_the_rpm_buildroot() {
    let data = testdata();
    let server = Server::serve(&data.join("rpm-repo"));
    let spec = "Name:           pick\nVersion:        1\nRelease:        1\nSummary:        x\n\
                License:        MIT\n\
                %ifarch x86_64\n\
                BuildRequires:  (obsbox-test-tools if obsbox-test-data)\n\
                %else\n\
                BuildRequires:  obsbox-test-not-on-x86_64\n\
                %endif\n\
                BuildRequires:  (obsbox-test-legacy or obsbox-test-data)\n\
                BuildConflicts: obsbox-test-legacy\n\
                %description\nx\n%prep\n";
    let run = |spec: &str, extra: &str| {
        let job = Job::new(shared_cache());
        fs::create_dir_all(job.sources()).unwrap();
        fs::write(job.sources().join("pick.spec"), spec).unwrap();
        let toml = job.dir.path().join("job.toml");
        fs::write(
            &toml,
            format!(
                "package = \"pick\"\narch = \"x86_64\"\nrecipe = \"pick.spec\"\nsources = \"sources\"\n\
                 repos = [{:?}]\ntoolbox_repos = [{:?}]\ntoolbox = [\"rpm\", \"coreutils\", \"dash\"]\n{extra}",
                server.url(""),
                common::job::file_deb_repo()
            ),
        )
        .unwrap();
        job.run(&toml)
    };
    let buildroot = |log: &str| {
        let lines: Vec<&str> = log.lines().collect();
        common::joblog::section(&lines, "Packages in the buildroot")
            .map(|(_, p)| p.iter().map(|l| l.to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no buildroot listing:\n{log}"))
    };

    let (code, log) = run(spec, "");
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("rpmbuild: not found"), "{log}");
    assert_eq!(
        buildroot(&log),
        [
            "obsbox-test-base 2:1.4-3 x86_64",
            "obsbox-test-data 0.9-2 noarch",
            "obsbox-test-shell 1.35.0-1 x86_64",
            "obsbox-test-tools 1.0-1 x86_64",
        ],
        "{log}"
    );

    // Without the conflict the `or` takes its first alternative, and the `if` has nothing
    // to follow.
    let (_, log) = run(
        &spec.replace("BuildConflicts: obsbox-test-legacy\n", ""),
        "",
    );
    assert_eq!(
        buildroot(&log),
        ["obsbox-test-legacy 1.0-1 noarch"],
        "{log}"
    );

    // The job's rpm macros (a project config's `Macros:`) decide a `%if`: here the
    // conflict moves to the other alternative.
    let gated = spec.replace(
        "BuildConflicts: obsbox-test-legacy\n",
        "%if 0%{?pick_legacy}\nBuildConflicts: obsbox-test-data\n%else\n\
         BuildConflicts: obsbox-test-legacy\n%endif\n",
    );
    let (_, log) = run(&gated, "rpm_macros = \"%pick_legacy 1\\n\"\n");
    assert_eq!(
        buildroot(&log),
        ["obsbox-test-legacy 1.0-1 noarch"],
        "{log}"
    );
    let (_, log) = run(&gated, "");
    assert_eq!(buildroot(&log).len(), 4, "{log}");

    // A requirement the conflict forbids: one line naming the spec's field.
    let (code, log) = run(
        &spec.replace(
            "BuildConflicts:",
            "BuildRequires:  obsbox-test-legacy\nBuildConflicts:",
        ),
        "",
    );
    assert_ne!(code, Some(0), "{log}");
    let stderr = log.split("-- stderr --\n").nth(1).unwrap_or_default();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("BuildConflicts of pick.spec (line 13)")
            && stderr.contains("obsbox-test-legacy"),
        "{stderr}"
    );
}
