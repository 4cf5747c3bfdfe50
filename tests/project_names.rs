//! OBS project names are names, never paths: a project `../../x` or `/abs/x` must not select
//! an `x.toml` outside the runtime configuration as the project's callback file (its
//! callbacks would run as root). Driven through the `obsbox` binary.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn obsbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_obsbox"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A project file defining an allocation callback that leaves `marker` when it runs.
fn planted(marker: &Path) -> String {
    format!(
        "[callback.planted]\nhook = \"allocate\"\ncommand = [\"/bin/sh\", \"-c\", \"touch {}\"]\n\
         enabled = true\n",
        marker.display()
    )
}

/// `top/config` is the runtime configuration (with an empty `projects/`); `top/x.toml`
/// and `top/abs/x.toml` are planted outside it.
fn layout(top: &Path) -> (String, String) {
    let config = top.join("config");
    fs::create_dir_all(config.join("projects")).unwrap();
    fs::create_dir_all(config.join("callbacks")).unwrap();
    fs::create_dir_all(top.join("abs")).unwrap();
    let marker = top.join("ran");
    fs::write(top.join("x.toml"), planted(&marker)).unwrap();
    fs::write(top.join("abs/x.toml"), planted(&marker)).unwrap();
    (
        config.to_str().unwrap().to_string(),
        top.join("abs/x").to_str().unwrap().to_string(),
    )
}

/// Asserts a failure with one line on stderr naming `field` and `value`.
fn assert_refused(out: &Output, field: &str, value: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "accepted: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(field), "field not named: {err}");
    assert!(
        err.contains(&format!("{value:?}")),
        "value not named: {err}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("planted"),
        "the planted file was read"
    );
}

#[test]
fn callback_list_refuses_project_names_that_are_paths() {
    let top = tempfile::tempdir().unwrap();
    let (config, absolute) = layout(top.path());
    // The same file in its proper place is found: the planted callback shows when the
    // name is a name.
    fs::copy(
        top.path().join("x.toml"),
        top.path().join("config/projects/home:x.toml"),
    )
    .unwrap();
    let out = obsbox(&[
        "callback",
        "list",
        "--all",
        "--config",
        &config,
        "--project",
        "home:x",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("planted"));

    for project in ["../../x", absolute.as_str()] {
        let out = obsbox(&[
            "callback",
            "list",
            "--all",
            "--config",
            &config,
            "--project",
            project,
        ]);
        assert_refused(&out, "project", project);
    }
    let out = obsbox(&[
        "callback",
        "list",
        "--all",
        "--config",
        &config,
        "--project",
        "home:x",
        "--package",
        "../p",
    ]);
    assert_refused(&out, "package", "../p");
}

#[test]
fn a_job_whose_project_is_a_path_is_refused_and_its_callbacks_never_run() {
    let top = tempfile::tempdir().unwrap();
    let (config, absolute) = layout(top.path());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let workers = fixtures.join("workers");
    let constraints = fixtures.join("constraints/memory-swap.xml");
    let jobs = top.path().join("jobs");
    fs::create_dir_all(&jobs).unwrap();
    for (n, project) in ["../../x", absolute.as_str()].into_iter().enumerate() {
        // OBS buildinfo, as bs_worker gets it.
        let buildinfo = jobs.join(format!("buildinfo{n}"));
        fs::write(
            &buildinfo,
            format!(
                "<buildinfo project=\"{project}\" repository=\"standard\" package=\"hello\">\n\
                 <arch>x86_64</arch>\n<file>hello.spec</file>\n</buildinfo>\n"
            ),
        )
        .unwrap();
        // A native job file.
        let toml = jobs.join(format!("job{n}.toml"));
        fs::write(
            &toml,
            format!(
                "project = \"{project}\"\npackage = \"hello\"\narch = \"x86_64\"\n\
                 recipe = \"hello.spec\"\nrepos = [\"repo\"]\ntoolbox_repos = [\"host-repo\"]\n"
            ),
        )
        .unwrap();
        fs::write(jobs.join("hello.spec"), "Name: hello\n").unwrap();
        for job in [&buildinfo, &toml] {
            let out = obsbox(&[
                "allocate",
                "--job",
                job.to_str().unwrap(),
                "--workers",
                workers.to_str().unwrap(),
                "--config",
                &config,
            ]);
            assert_refused(&out, "project", project);
        }
        // The project given on the command line instead of a job.
        let out = obsbox(&[
            "allocate",
            "--project",
            project,
            "--arch",
            "x86_64",
            "--constraints",
            constraints.to_str().unwrap(),
            "--workers",
            workers.to_str().unwrap(),
            "--config",
            &config,
        ]);
        assert_refused(&out, "project", project);
    }
    assert!(
        !top.path().join("ran").exists(),
        "the planted allocation callback ran"
    );
}
