//! Callbacks end to end: real build jobs (the packages of integration/pkgs/ built in
//! buildroots installed from the loopback test repository) with callbacks configured per
//! project, run from the toolbox or on the buildroot as OCI hooks of the build phase.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::data::{copy_tree, list, repo_root, testdata};
use common::job::{Job, deb_packages, file_deb_repo};
use common::{CONFIG_SCHEMA, stderr_of, validate};

/// One cache for the tests of this file: each buildroot is installed once.
fn shared_cache() -> &'static Path {
    static CACHE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| common::process_tempdir("obsbox-test-cache-"))
}

/// The Debian package job of project home:test with `project` as its project file.
fn deb_job(project: &str) -> (Job, PathBuf) {
    let (mut job, toml) = Job::debian(shared_cache(), "project = \"home:test\"\n");
    job.with_project(project);
    (job, toml)
}

fn debs_of(job: &Job) -> Vec<String> {
    fs::read_dir(job.results().join("DEBS"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn setup_is_seen_by_the_build_and_cleanup_leaves_nothing() {
    testdata();
    let mut job = Job::new(shared_cache());
    job.with_project(
        r#"
[callback.setup]
enabled = true
args = ["mkdir -p /etc/obsbox-setup", "echo set-up-by-the-project > /etc/obsbox-setup/marker"]

[callback.cleanup]
enabled = true
args = ["rm -rf /etc/obsbox-setup", "echo cleaned"]
"#,
    );
    // The build reads the set-up file: it fails if the file is not there.
    let recipe = job.rpm_sources();
    let spec = job.sources().join(&recipe);
    let text = fs::read_to_string(&spec).unwrap();
    fs::write(
        &spec,
        text.replacen("%build\n", "%build\ncat /etc/obsbox-setup/marker\n", 1),
    )
    .unwrap();
    let mut packages = deb_packages();
    packages.extend(list("rpm-build.txt"));
    let toml = job.write_toml(
        &recipe,
        &file_deb_repo(),
        &packages,
        "project = \"home:test\"\n",
    );
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("\nset-up-by-the-project\n"), "{log}");
    assert!(log.contains("[callback setup] ok"), "{log}");
    assert!(log.contains("[callback cleanup] cleaned"), "{log}");
    assert!(
        log.contains("[callback verify-clean] clean: no mount, process"),
        "{log}"
    );
    job.assert_nothing_left();
}

#[test]
fn a_failing_gating_pre_build_callback_fails_the_job_before_the_build() {
    testdata();
    let (job, toml) = deb_job(
        r#"
[callback.setup]
enabled = true
args = ["echo setting up", "exit 7"]
"#,
    );
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("[callback setup] failed with exit code 7 (gating: the job fails)"),
        "{log}"
    );
    assert!(
        log.contains("gating pre-build callback setup failed"),
        "{log}"
    );
    assert!(!log.contains("phase build exited"), "{log}");
    assert_eq!(fs::read_dir(job.runtime.root.path()).unwrap().count(), 0);
}

#[test]
fn test_framework_runs_the_built_package_in_a_fresh_buildroot() {
    testdata();
    let (job, toml) = deb_job(
        r#"
[callback.test-framework]
enabled = true
args = ["hello-obsbox | grep 'Hello, world'", "dpkg -s hello-obsbox | grep -q '^Status: install ok installed'"]
"#,
    );
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("[callback test-framework] Hello, world, from obsbox!"),
        "{log}"
    );
    assert!(log.contains("[callback test-framework] ok"), "{log}");

    // A failing test fails the job; the results are kept.
    let (job, toml) = deb_job(
        r#"
[callback.test-framework]
enabled = true
args = ["hello-obsbox | grep -q 'Goodbye'"]
"#,
    );
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("[callback test-framework] failed with exit code 1 (gating: the job fails)"),
        "{log}"
    );
    assert!(
        log.contains("gating post-build callback test-framework failed"),
        "{log}"
    );
    assert_eq!(debs_of(&job), ["hello-obsbox_1.0_amd64.deb"]);
}

/// Three broken callbacks of the project's own: each is logged with what happened, the
/// job goes on (they are advisory) and its results are kept; gating, the first fails it.
#[test]
fn failing_hanging_and_missing_callbacks_are_reported_and_results_kept() {
    testdata();
    let broken = |gating: bool| {
        format!(
            r#"
[callback.exits]
enabled = true
hook = "post-build"
command = ["/bin/busybox", "sh", "-c", "echo about to fail; exit 3"]
gating = {gating}

[callback.hangs]
enabled = true
hook = "post-build"
command = ["/bin/busybox", "sleep", "600"]
timeout = "3s"

[callback.missing]
enabled = true
hook = "post-build"
command = ["/usr/bin/no-such-tool", "--check"]
"#
        )
    };
    let (job, toml) = deb_job(&broken(false));
    let started = std::time::Instant::now();
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("[callback exits] about to fail"), "{log}");
    assert!(
        log.contains("[callback exits] failed with exit code 3 (advisory: ignored)"),
        "{log}"
    );
    assert!(
        log.contains("[callback hangs] killed at its timeout of 3 s (advisory: ignored)"),
        "{log}"
    );
    let missing = log
        .lines()
        .find(|l| l.starts_with("[callback missing] could not start"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(missing.contains("no-such-tool"), "{missing}");
    assert!(started.elapsed() < std::time::Duration::from_secs(300));
    assert_eq!(debs_of(&job), ["hello-obsbox_1.0_amd64.deb"]);
    assert_eq!(fs::read_dir(job.runtime.root.path()).unwrap().count(), 0);

    let (job, toml) = deb_job(&broken(true));
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("[callback exits] failed with exit code 3 (gating: the job fails)"),
        "{log}"
    );
    assert_eq!(debs_of(&job), ["hello-obsbox_1.0_amd64.deb"]);
}

#[test]
fn callback_bundles_validate_against_the_runtime_spec() {
    testdata();
    let (job, toml) = deb_job(
        r#"
[callback.setup]
enabled = true
args = ["true"]

[callback.test-framework]
enabled = true
"#,
    );
    let bundles = job.bundle(&toml);
    let read = |p: &Path| -> serde_json::Value {
        validate(Path::new(CONFIG_SCHEMA), p);
        serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
    };
    let build = read(&bundles.join("bundles/build/config.json"));
    // The callback bundle each hook of `point` runs (its last argument).
    let hooked = |point: &str| -> Vec<String> {
        build["hooks"][point]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                h["args"]
                    .as_array()
                    .unwrap()
                    .last()
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let pre = hooked("createRuntime");
    assert_eq!(pre.len(), 1, "{build}");
    assert!(pre[0].ends_with("/callback-setup"), "{pre:?}");
    let post = hooked("poststop");
    // In run order: post-build (test-framework 60, build-compare 90), then cleanup.
    let names: Vec<&str> = post.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "callback-test-framework",
            "callback-build-compare",
            "callback-verify-clean"
        ]
    );
    for name in [
        "callback-setup",
        "callback-test-framework",
        "callback-build-compare",
    ] {
        let spec = read(&bundles.join("bundles").join(name).join("config.json"));
        assert_eq!(
            spec["annotations"]["org.openbuildservice.callback.name"],
            name.trim_start_matches("callback-")
        );
    }
    let setup = read(&bundles.join("bundles/callback-setup/config.json"));
    assert_eq!(setup["process"]["user"]["uid"], 0);
    assert_eq!(setup["root"]["readonly"], false);
}

#[test]
fn callback_list_shows_the_effective_settings_and_their_origin() {
    let mut job = Job::new(shared_cache());
    job.with_project(
        r#"
[callback.test-framework]
enabled = true
args = ["make check"]

[arch.aarch64.callback.test-framework]
timeout = "2h"

[package.hello.callback.test-framework]
gating = false
"#,
    );
    let config = job.config.clone();
    let list = |extra: &[&str]| {
        let mut args = vec![
            "callback",
            "list",
            "--config",
            config.to_str().unwrap(),
            "--project",
            "home:test",
        ];
        args.extend_from_slice(extra);
        job.runtime.output(&args)
    };
    let out = list(&[
        "--package",
        "hello",
        "--arch",
        "aarch64",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tf = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "test-framework")
        .unwrap();
    assert_eq!(tf["timeout"], 7200);
    assert_eq!(tf["gating"], false);
    assert_eq!(tf["args"], serde_json::json!(["make check"]));
    assert_eq!(
        tf["origin"]["timeout"],
        "projects/home:test.toml [arch.aarch64.callback.test-framework]"
    );
    assert_eq!(
        tf["origin"]["gating"],
        "projects/home:test.toml [package.hello.callback.test-framework]"
    );
    assert_eq!(tf["origin"]["hook"], "callbacks/test-framework.toml");
    let text = list(&["--package", "other", "--arch", "x86_64"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("test-framework (post-build, enabled)"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("gating")
            && l.contains("true")
            && l.contains("# callbacks/test-framework.toml")),
        "{text}"
    );

    // A broken project file: one line naming the file, the line and the problem.
    fs::write(
        config.join("projects/home:test.toml"),
        "[callback.test-framework]\ngating = maybe\n",
    )
    .unwrap();
    let out = list(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("projects/home:test.toml:2:"), "{err}");
}

/// build-compare: a rebuild of the same sources against the previous results ends with
/// 2 "unchanged"; a real source change gives 0.
#[test]
fn build_compare_says_unchanged_for_a_rebuild_and_changed_after_a_source_change() {
    testdata();
    let (first, toml) = deb_job("");
    let (code, log) = first.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("[callback build-compare] skipped: no previous results"),
        "{log}"
    );

    let (mut again, toml) = deb_job("");
    again.extra = vec!["--old".into(), first.results().to_str().unwrap().into()];
    let (code, log) = again.run(&toml);
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("[callback build-compare] the results are the same as the previous ones"),
        "{log}"
    );
    assert!(again.results().join("OTHER/same_result_marker").exists());
    assert_eq!(debs_of(&again), ["hello-obsbox_1.0_amd64.deb"]);

    let mut changed = Job::new(shared_cache());
    changed.with_project("");
    let recipe = changed.debian_sources_edited(|tree| {
        for file in ["src/greet.c", "src/test_greet.c", "Makefile"] {
            let path = tree.join(file);
            let text = fs::read_to_string(&path).unwrap();
            fs::write(&path, text.replace("from obsbox!", "from obsbox?")).unwrap();
        }
    });
    let toml = changed.write_toml(
        &recipe,
        &file_deb_repo(),
        &deb_packages(),
        "project = \"home:test\"\n",
    );
    changed.extra = vec!["--old".into(), first.results().to_str().unwrap().into()];
    let (code, log) = changed.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("/usr/bin/hello-obsbox: content differs"),
        "{log}"
    );
    assert!(!changed.results().join("OTHER/same_result_marker").exists());
}

/// The RPM job of project home:test (integration/pkgs/hello-obsbox-rpm), its spec edited
/// by `edit`.
fn rpm_job(project: &str, edit: impl FnOnce(String) -> String) -> (Job, PathBuf) {
    let mut job = Job::new(shared_cache());
    job.with_project(project);
    let recipe = job.rpm_sources();
    let spec = job.sources().join(&recipe);
    // The tags Debian's rpmlint configuration requires (openSUSE's does not): without them
    // every package has errors.
    let text = fs::read_to_string(&spec).unwrap().replacen(
        "License:",
        "Group:          Development/Tools\nPackager:       obsbox developers <obsbox@example.org>\nLicense:",
        1,
    );
    fs::write(&spec, edit(text)).unwrap();
    let mut packages = deb_packages();
    packages.extend(list("rpm-build.txt"));
    let toml = job.write_toml(
        &recipe,
        &file_deb_repo(),
        &packages,
        "project = \"home:test\"\n",
    );
    (job, toml)
}

/// rpmlint from the toolbox: warnings pass, `--strict` from the project file turns them
/// into a failure, and a real error fails the job (gating); the report is in OTHER/.
#[test]
fn rpmlint_reports_warnings_and_errors_and_strict_changes_the_outcome() {
    testdata();
    let enabled = "[callback.rpmlint]\nenabled = true\n";
    // A summary ending with a dot: a warning.
    let flawed = |spec: String| {
        spec.replacen(
            "Summary:        Greeting program used as an obsbox test package",
            "Summary:        Greeting program used as an obsbox test package.",
            1,
        )
    };
    let (job, toml) = rpm_job(enabled, flawed);
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("W: summary-ended-with-dot"), "{log}");
    let report = fs::read_to_string(job.results().join("OTHER/rpmlint.log")).unwrap();
    assert!(report.contains("W: summary-ended-with-dot"), "{report}");
    assert!(!report.contains("no-signature"), "{report}");

    let (job, toml) = rpm_job(&format!("{enabled}args = [\"--strict\"]\n"), flawed);
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("E: summary-ended-with-dot"), "{log}");
    assert!(
        log.contains("[callback rpmlint] failed with exit code 65 (gating: the job fails)"),
        "{log}"
    );
    assert!(
        job.results()
            .join("RPMS/x86_64/hello-obsbox-1.0-1.x86_64.rpm")
            .is_file()
    );

    // A script in /usr/bin that is not executable: an error.
    let (job, toml) = rpm_job(enabled, |spec| {
        spec.replacen(
            "%files\n",
            "install -m 0644 /dev/stdin %{buildroot}%{_bindir}/hello-script <<'EOS'\n\
             #!/bin/sh\necho hello\nEOS\n\n%files\n%{_bindir}/hello-script\n",
            1,
        )
    });
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("E: non-executable-script"), "{log}");
    assert!(
        log.contains("[callback rpmlint] failed with exit code 64 (gating: the job fails)"),
        "{log}"
    );
}

/// mkbaselibs from the toolbox: an i586 build of a library named in baselibs.conf gives
/// its -32bit package for x86_64 in RESULTS/RPMS/.
#[test]
fn baselibs_makes_the_32bit_package() {
    testdata();
    let mut job = Job::new(shared_cache());
    job.with_project("[callback.baselibs]\nenabled = true\n");
    copy_tree(
        &repo_root().join("integration/pkgs/libhello-baselibs"),
        &job.sources(),
    );
    let mut packages = deb_packages();
    packages.extend(list("rpm-build.txt"));
    let toml = job.write_toml(
        "libhello.spec",
        &file_deb_repo(),
        &packages,
        "project = \"home:test\"\nrpm_target = \"i586\"\n",
    );
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    let rpms = job.results().join("RPMS");
    assert!(
        rpms.join("i586/libhello1-1.0-1.i586.rpm").is_file(),
        "{log}"
    );
    let bi = rpms.join("x86_64/libhello1-32bit-1.0-1.x86_64.rpm");
    assert!(bi.is_file(), "{log}");
    let package = obsbox::packages::rpm::RpmPackage::open(&bi).unwrap();
    assert_eq!(package.name, "libhello1-32bit");
    let listing = std::process::Command::new("rpm")
        .args(["-qpl", "--nosignature"])
        .arg(&bi)
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&listing.stdout);
    assert!(files.contains("/usr/lib/libhello.so.1.0.0"), "{files}");
}
