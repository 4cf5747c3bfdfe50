//! Allocation over the fleet fixture (tests/fixtures/workers) with the constraints corpus
//! (tests/fixtures/constraints/cases.toml), and `worker describe` on this machine.

mod common;
#[path = "common/alloc_sim.rs"]
mod sim;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use obsbox::alloc::{self, JobInfo};
use obsbox::model::Arch;
use obsbox::worker;
use serde::Deserialize;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    sources: Vec<String>,
    arch: Option<Arch>,
    package: Option<String>,
    placed: Option<String>,
    hint: Option<String>,
    hint_excluded: Option<usize>,
    #[serde(default)]
    explain: BTreeMap<String, String>,
}

#[test]
fn fleet_has_twenty_varied_workers() {
    let fleet = alloc::load_workers(&fixtures().join("workers")).unwrap();
    assert!(fleet.len() >= 20);
    let arches: std::collections::BTreeSet<_> = fleet.iter().map(|w| &w.hostarch).collect();
    assert!(arches.len() >= 6, "{arches:?}");
    let sandboxes: std::collections::BTreeSet<_> =
        fleet.iter().filter_map(|w| w.sandbox.as_ref()).collect();
    assert!(sandboxes.len() >= 6, "{sandboxes:?}");
}

#[test]
fn constraints_corpus() {
    let dir = fixtures().join("constraints");
    let text = std::fs::read_to_string(dir.join("cases.toml")).unwrap();
    let cases: Cases = toml::from_str(&text).unwrap();
    let fleet = alloc::load_workers(&fixtures().join("workers")).unwrap();
    let mut failures = Vec::new();
    for case in &cases.case {
        let paths: Vec<_> = case.sources.iter().map(|s| dir.join(s)).collect();
        let merged =
            alloc::load_job_constraints(&paths, case.arch.as_ref(), case.package.as_deref())
                .unwrap_or_else(|e| panic!("{}: {e:#}", case.name));
        let job = JobInfo {
            arch: case.arch.clone(),
            package: case.package.clone(),
        };
        let d = alloc::allocate(&fleet, &merged, &job);
        if d.worker != case.placed {
            failures.push(format!(
                "{}: placed {:?}, expected {:?}",
                case.name, d.worker, case.placed
            ));
        }
        if case.placed.is_none() {
            let h = d.hint.as_ref().expect("a hint when nothing is placed");
            if Some(&h.rule) != case.hint.as_ref() || Some(h.excluded) != case.hint_excluded {
                failures.push(format!(
                    "{}: hint {} excludes {}, expected {:?} excludes {:?}",
                    case.name, h.rule, h.excluded, case.hint, case.hint_excluded
                ));
            }
        }
        for (w, expected) in &case.explain {
            let v = d
                .verdicts
                .iter()
                .find(|v| v.worker == *w)
                .unwrap_or_else(|| panic!("{}: no worker {w}", case.name));
            let got = v
                .failure
                .as_ref()
                .map_or("ok".to_string(), |f| f.explanation.clone());
            if got != *expected {
                failures.push(format!(
                    "{}: {w}: {got:?}, expected {expected:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The rules the corpus must exercise: every one `matching` can report.
#[test]
fn corpus_covers_every_rule() {
    let text = std::fs::read_to_string(fixtures().join("constraints/cases.toml")).unwrap();
    for rule in [
        "arch ",
        "the worker is nativeonly",
        "hostlabel ",
        "is excluded and the worker has it",
        "sandbox secure",
        "linux:flavor",
        "linux:version:min",
        "linux:version:max",
        "reports no linux",
        "hardware is constrained",
        "hardware:processors",
        "hardware:jobs",
        "hardware:disk:size",
        "hardware:memory:size",
        "hardware:memoryperjob:size",
        "hardware:physicalmemory:size",
        "hardware:cpu:flag",
    ] {
        assert!(text.contains(rule), "no case for {rule}");
    }
}

#[test]
fn describe_xml_round_trips() {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("worker.toml"),
        format!(
            "emulated_arches = [\"riscv64\"]\nhostlabels = [\"test-label\"]\nwork_dir = {:?}\n",
            cfg.path().display().to_string()
        ),
    )
    .unwrap();
    let out = common::run_ok(
        Command::new(env!("CARGO_BIN_EXE_obsbox"))
            .args(["worker", "describe", "--format", "xml", "--config"])
            .arg(cfg.path()),
    );
    let w = worker::from_xml(&out.stdout, "describe").unwrap();
    assert_eq!(worker::to_xml(&w).as_bytes(), out.stdout.as_slice());
    assert!(w.buildarch.contains(&w.hostarch));
    assert!(w.buildarch.iter().any(|a| a == "riscv64"));
    assert_eq!(w.hostlabel, ["test-label"]);
    assert_eq!(w.sandbox.as_deref(), Some("obsbox"));
    let hw = w.hardware.as_ref().unwrap();
    assert!(hw.processors.unwrap() >= 1 && hw.memory.unwrap() > 0 && hw.disk.is_some());
    assert_eq!(hw.jobs, hw.processors);
    let linux = w.linux.as_ref().unwrap();
    assert!(
        linux
            .version
            .as_ref()
            .unwrap()
            .starts_with(char::is_numeric)
    );

    let labels = Command::new(env!("CARGO_BIN_EXE_obsbox"))
        .args(["worker", "describe", "--format", "k8s-labels", "--config"])
        .arg(cfg.path())
        .output()
        .unwrap();
    let labels = String::from_utf8(labels.stdout).unwrap();
    assert!(labels.contains(&format!(
        "obsbox.openbuildservice.org/hostarch={}\n",
        w.hostarch
    )));
}

#[test]
fn allocate_command_exit_codes_and_explain() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_obsbox"))
            .arg("allocate")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let c = fixtures().join("constraints");
    let w = fixtures().join("workers");
    let (code, out, _) = run(&[
        "--constraints",
        c.join("memory-swap.xml").to_str().unwrap(),
        "--workers",
        w.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "placed on w01:1\n");

    let (code, out, _) = run(&[
        "--constraints",
        c.join("memory-too-much.xml").to_str().unwrap(),
        "--workers",
        w.to_str().unwrap(),
        "--explain",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("w02:1  idle  hardware:memory:size 1048576 MB > 8192 MB available"),
        "{out}"
    );
    assert!(out.ends_with(
        "no compliant workers: hardware:memory:size excludes 22 of 23 workers (e.g. hardware:memory:size 1048576 MB > 18432 MB available (memory 16384 + swap 2048))\n\
         OBS's dispatcher: no compliant workers (constraints mismatch hint: hardware:memory)\n"
    ), "{out}");

    // The sources are merged in OBS's order whatever the order on the command line.
    let (code, out, _) = run(&[
        "--constraints",
        c.join("big.spec").to_str().unwrap(),
        "--constraints",
        c.join("big.xml").to_str().unwrap(),
        "--constraints",
        c.join("project.prjconf").to_str().unwrap(),
        "--arch",
        "x86_64",
        "--workers",
        w.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["worker"], "w20:1");

    // Bad input (what OBS's reader refuses: an attribute its schema does not have): one
    // line naming the file and element, exit 2.
    let bad = tempfile::tempdir().unwrap();
    let f = bad.path().join("_constraints");
    std::fs::write(
        &f,
        "<constraints exclude=\"false\">\n<hardware><jobs>2</jobs></hardware></constraints>",
    )
    .unwrap();
    let (code, _, err) = run(&[
        "--constraints",
        f.to_str().unwrap(),
        "--workers",
        w.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("_constraints: line 1: <constraints>: unknown attribute \"exclude\""),
        "{err}"
    );
}

/// The `--explain` row of worker `id`, its columns one space apart.
fn row(out: &str, id: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn obsbox_allocate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obsbox"))
        .arg("allocate")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A job directory as OBS leaves one to a worker: the job file, the package's
/// `_constraints` and its spec next to it.
fn job_dir(spec_disk_g: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("job.toml"),
        "package = \"big\"\narch = \"arm64\"\nrecipe = \"big.spec\"\nrepos = [\"repo\"]\n\
         toolbox_repos = [\"host-repo\"]\n\
         constraints = [\"hostlabel big\", \"sandbox kvm\"]\n",
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("constraints/big.xml"),
        p.join("_constraints"),
    )
    .unwrap();
    std::fs::write(
        p.join("big.spec"),
        format!("Name: big\n#!BuildConstraint: hardware:disk:size unit=G {spec_disk_g}\n"),
    )
    .unwrap();
    std::fs::write(
        p.join("buildinfo.xml"),
        "<buildinfo project=\"home:a\" repository=\"r\" package=\"big\">\n\
         <arch>aarch64</arch>\n<file>big.spec</file>\n\
         <prjconfconstraint>hostlabel big</prjconfconstraint>\n\
         <prjconfconstraint>sandbox kvm</prjconfconstraint>\n</buildinfo>\n",
    )
    .unwrap();
    dir
}

#[test]
fn allocate_job_takes_arch_package_and_constraints_from_the_job() {
    let w = fixtures().join("workers");
    let w = w.to_str().unwrap();
    // job lines (hostlabel big, sandbox kvm) + _constraints (memory 100G, disk 300G) + the
    // spec's disk 350G: on aarch64 (from Debian's arm64) only w08 has all that.
    let job = job_dir(350);
    for file in ["job.toml", "buildinfo.xml"] {
        let path = job.path().join(file);
        let (code, out, err) = obsbox_allocate(&[
            "--job",
            path.to_str().unwrap(),
            "--workers",
            w,
            "--format",
            "json",
        ]);
        assert_eq!(code, Some(0), "{file}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["worker"], "w08:1", "{file}");
        assert_eq!(v["job"]["arch"], "aarch64", "{file}");
        assert_eq!(v["job"]["package"], "big", "{file}");
    }
    // The spec asks for more disk than w08 has, but OBS merges the package's _constraints
    // over the constraint lines (project config, recipe): their 300G disk wins.
    let job = job_dir(500);
    let path = job.path().join("job.toml");
    let (code, out, _) =
        obsbox_allocate(&["--job", path.to_str().unwrap(), "--workers", w, "--explain"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with("placed on w08:1\n"), "{out}");
    // Without the _constraints the spec's 500G excludes w08.
    std::fs::remove_file(job.path().join("_constraints")).unwrap();
    let (code, out, _) =
        obsbox_allocate(&["--job", path.to_str().unwrap(), "--workers", w, "--explain"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("w08:1  idle  hardware:disk:size 512000 MB > 409600 MB available"),
        "{out}"
    );
    // A job and --arch together make no sense.
    let (code, _, err) = obsbox_allocate(&[
        "--job",
        path.to_str().unwrap(),
        "--arch",
        "x86_64",
        "--workers",
        w,
    ]);
    assert_eq!(code, Some(2), "{err}");
    // A broken constraint line names the job file.
    std::fs::write(
        &path,
        "package = \"big\"\narch = \"amd64\"\nrecipe = \"big.spec\"\nrepos = [\"repo\"]\n\
         constraints = [\"hardware:gpu 1\"]\n",
    )
    .unwrap();
    let (code, _, err) = obsbox_allocate(&["--job", path.to_str().unwrap(), "--workers", w]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("job.toml: constraint 1: hardware:gpu 1: unknown element: gpu"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Copies fixture workers into a dispatcher workers directory (`STATE/HOSTARCH:HOST:SLOT`),
/// the files in building/ made `busy_minutes` old.
fn workers_dir(states: &[(&str, &str)], busy_minutes: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures().join("workers")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let state = states
            .iter()
            .find(|(w, _)| *w == stem)
            .map_or("idle", |(_, s)| *s);
        let w = worker::load(&path).unwrap();
        let target = dir.path().join(state);
        std::fs::create_dir_all(&target).unwrap();
        let file = target.join(format!("{}:{stem}.example:1", w.hostarch));
        // Without a workerid the dispatcher's file name names the worker.
        let mut w = w;
        w.workerid = None;
        std::fs::write(&file, worker::to_xml(&w)).unwrap();
        if state == "building" {
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(
                std::time::SystemTime::now() - std::time::Duration::from_secs(busy_minutes * 60),
            )
            .unwrap();
        }
    }
    dir
}

#[test]
fn waiting_for_busy_or_down_workers_versus_no_compliant_workers() {
    let c = fixtures().join("constraints/hostlabel.xml");
    let c = c.to_str().unwrap();
    // benchmark_runner: w03 and w20. Both taken: the job waits, it does not fail.
    let fleet = workers_dir(&[("w03", "building"), ("w20", "down")], 5);
    let (code, out, _) = obsbox_allocate(&[
        "--constraints",
        c,
        "--workers",
        fleet.path().to_str().unwrap(),
        "--explain",
    ]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.ends_with("waiting for 2 compliant workers (1 busy, 1 down)\n"),
        "{out}"
    );
    assert_eq!(
        row(&out, "x86_64:w03.example:1"),
        "x86_64:w03.example:1 building ok"
    );
    assert_eq!(
        row(&out, "x86_64:w20.example:1"),
        "x86_64:w20.example:1 down ok"
    );
    let fleet = workers_dir(&[("w03", "away"), ("w20", "building")], 5);
    let (code, out, _) = obsbox_allocate(&[
        "--constraints",
        c,
        "--workers",
        fleet.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(3), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "waiting");
    assert_eq!(
        (
            v["compliant"].as_u64(),
            v["busy"].as_u64(),
            v["down"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(v["placed"], false);
    // One of them idle: placed there.
    let fleet = workers_dir(&[("w03", "building")], 5);
    let (code, out, _) = obsbox_allocate(&[
        "--constraints",
        c,
        "--workers",
        fleet.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "placed on x86_64:w20.example:1\n");
    // A dead worker does not count: with w03 and w20 dead nothing complies.
    let fleet = workers_dir(&[("w03", "dead"), ("w20", "dead")], 5);
    let (code, out, _) = obsbox_allocate(&[
        "--constraints",
        c,
        "--workers",
        fleet.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("no compliant workers: hostlabel excludes 21 of 21 workers"),
        "{out}"
    );
}

#[test]
fn soft_constraints_rank_and_never_exclude() {
    let dir = tempfile::tempdir().unwrap();
    let w = fixtures().join("workers");
    let w = w.to_str().unwrap();
    let place = |prjconf: &str, extra: &[&str]| {
        let f = dir.path().join("project.prjconf");
        std::fs::write(&f, prjconf).unwrap();
        let mut args = vec![
            "--constraints",
            f.to_str().unwrap(),
            "--arch",
            "x86_64",
            "--workers",
            w,
            "--config",
            dir.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        obsbox_allocate(&args)
    };
    // Without preferences the first compliant worker in name order.
    let (code, out, _) = place("Constraint: sandbox kvm\n", &[]);
    assert_eq!((code, out.as_str()), (Some(0), "placed on w01:1\n"));
    // A preference met by w20 (kvm, benchmark_runner) ranks it first.
    let (code, out, _) = place(
        "Constraint: sandbox kvm\n#!ObsboxPrefer: hostlabel benchmark_runner\n",
        &[],
    );
    assert_eq!((code, out.as_str()), (Some(0), "placed on w20:1\n"));
    // Weights add up: w20 meets benchmark_runner (1) and 200 GB (5): 6; w03 meets
    // benchmark_runner (1) and chroot (2): 3.
    let (code, out, _) = place(
        "#!ObsboxPrefer: hostlabel benchmark_runner\n\
         #!ObsboxPrefer: hardware:memory:size weight=5 unit=G 200\n\
         #!ObsboxPrefer: sandbox weight=2 chroot\n",
        &["--explain"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with("placed on w20:1\n"), "{out}");
    assert!(
        out.contains("ok, score 6 (hostlabel benchmark_runner; hardware:memory:size unit=G 200)"),
        "{out}"
    );
    assert!(
        out.contains("ok, score 3 (hostlabel benchmark_runner; sandbox chroot)"),
        "{out}"
    );
    // A preference no worker meets changes nothing; it never excludes.
    let (code, out, _) = place("#!ObsboxPrefer: hostlabel nowhere\n", &[]);
    assert_eq!((code, out.as_str()), (Some(0), "placed on w01:1\n"));
    // Nor does it make a hard constraint soft.
    let (code, out, _) = place(
        "Constraint: hostlabel nowhere\n#!ObsboxPrefer: hostlabel benchmark_runner\n",
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    // Site-wide preferences from allocation.toml.
    std::fs::write(
        dir.path().join("allocation.toml"),
        "prefer = [\"sandbox weight=3 xen\"]\n",
    )
    .unwrap();
    let (code, out, _) = place("Constraint: sandbox exclude=true kvm\n", &[]);
    assert_eq!((code, out.as_str()), (Some(0), "placed on w04:1\n"));
    std::fs::write(
        dir.path().join("allocation.toml"),
        "prefer = [\"sandbox weight=300 xen\"]\n",
    )
    .unwrap();
    let (code, _, err) = place("Constraint: sandbox kvm\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("allocation.toml: prefer \"sandbox weight=300 xen\": weight must be"),
        "{err}"
    );
}

#[test]
fn native_or_emulated_by_expected_wait_against_the_emulation_factor() {
    let place = |fleet: &Path, extra: &[&str]| {
        let empty = fixtures().join("constraints/empty.xml");
        let mut args = vec![
            "--constraints",
            empty.to_str().unwrap(),
            "--arch",
            "aarch64",
            "--workers",
            fleet.to_str().unwrap(),
            "--explain",
        ];
        // An empty configuration directory, no allocation.toml: the defaults (10 min
        // builds, 13× under emulation).
        let config_dir = tempfile::tempdir().unwrap();
        let config = config_dir.path().to_str().unwrap().to_string();
        if !extra.contains(&"--config") {
            args.extend(["--config", config.as_str()]);
        }
        args.extend_from_slice(extra);
        obsbox_allocate(&args)
    };
    let natives = |state| [("w07", state), ("w08", state), ("w09", state)];
    // Every native aarch64 worker idle: native, though x86_64 w13 emulates aarch64.
    let fleet = workers_dir(&[], 0);
    let (code, out, _) = place(fleet.path(), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with(
        "choice: native: an idle native worker builds in 10 min; emulation would take 10 min × 13 = 130 min\n\
         placed on aarch64:w07.example:1\n"
    ), "{out}");
    // All three building for 5 min: one is expected free in 5 min; 5 + 10 = 15 min beats
    // 10 min × 13: the job waits for a native worker.
    let fleet = workers_dir(&natives("building"), 5);
    let (code, out, _) = place(fleet.path(), &[]);
    assert_eq!(code, Some(3), "{out}");
    assert_eq!(
        row(&out, "x86_64:w13.example:1"),
        "x86_64:w13.example:1 idle ok (emulated)"
    );
    assert!(out.ends_with(
        "choice: native: 5 min wait (the first of 3 building native workers frees) + 10 min build = 15 min, \
         not later than emulating on x86_64:w13.example:1: 10 min × 13 = 130 min\n\
         waiting for 3 compliant native workers (3 busy, 0 down)\n"
    ), "{out}");
    // Emulation only 1.2× slower: 12 min beats 15 min.
    let (code, out, _) = place(fleet.path(), &["--emulation-factor", "1.2"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with(
        "choice: emulating on x86_64:w13.example:1: 10 min × 1.2 = 12 min; sooner than a native worker: \
         5 min wait (the first of 3 building native workers frees) + 10 min build = 15 min\n\
         placed on x86_64:w13.example:1 (emulated)\n"
    ), "{out}");
    // The same from allocation.toml, as JSON.
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("allocation.toml"),
        "emulation_factor = 1.2\nbuild_time = \"10m\"\n",
    )
    .unwrap();
    let (code, out, _) = place(
        fleet.path(),
        &["--config", cfg.path().to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["worker"].as_str(), v["emulated"].as_bool()),
        (Some("x86_64:w13.example:1"), Some(true))
    );
    assert!(
        v["choice"].as_str().unwrap().starts_with("emulating on"),
        "{out}"
    );
    // Builds that overran the expected time count as a tenth of it: 1 + 10 = 11 min beats 12.
    let fleet = workers_dir(&natives("building"), 60);
    let (code, out, _) = place(fleet.path(), &["--emulation-factor", "1.2"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("choice: native: 1 min wait"), "{out}");
    // The expected build time matters: at 1.6×, 16 min of emulation loses to 5 + 10 min
    // of waiting and building natively, but with 20 min builds 32 min wins over 15 + 20.
    let fleet = workers_dir(&natives("building"), 5);
    let (code, out, _) = place(fleet.path(), &["--emulation-factor", "1.6"]);
    assert_eq!(code, Some(3), "{out}");
    let (code, out, _) = place(
        fleet.path(),
        &["--emulation-factor", "1.6", "--build-time", "20m"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("20 min × 1.6 = 32 min; sooner than a native worker: 15 min wait"),
        "{out}"
    );
    // No native worker idle or building (down, away): emulate even at 13×.
    let fleet = workers_dir(&[("w07", "down"), ("w08", "away"), ("w09", "down")], 0);
    let (code, out, _) = place(fleet.path(), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with(
        "choice: emulating on x86_64:w13.example:1: 10 min × 13 = 130 min; no compliant native worker is idle or building (3 away or down)\n\
         placed on x86_64:w13.example:1 (emulated)\n"
    ), "{out}");
    let (code, _, err) = place(fleet.path(), &["--emulation-factor", "0.5"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--emulation-factor: 0.5 is not a factor of at least 1"),
        "{err}"
    );
}

/// A runtime configuration with the allocation callbacks of tests/fixtures/alloc-callbacks
/// given as `(name, script, extra TOML)`.
fn callback_config(callbacks: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("callbacks")).unwrap();
    for (name, script, extra) in callbacks {
        let script = fixtures().join("alloc-callbacks").join(script);
        std::fs::write(
            dir.path().join(format!("callbacks/{name}.toml")),
            format!(
                "hook = \"allocate\"\ncommand = [{:?}]\nenabled = true\n{extra}\n",
                script.display().to_string()
            ),
        )
        .unwrap();
    }
    dir
}

fn place_with(config: &Path, constraints: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let c = fixtures().join("constraints").join(constraints);
    let w = fixtures().join("workers");
    let mut args = vec![
        "--constraints",
        c.to_str().unwrap(),
        "--arch",
        "x86_64",
        "--workers",
        w.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--explain",
    ];
    args.extend_from_slice(extra);
    obsbox_allocate(&args)
}

#[test]
fn allocation_callback_that_rejects() {
    // benchmark_runner: w03 (chroot) first in name order, then w20 (kvm).
    let config = callback_config(&[("reject-chroot", "reject-chroot.py", "")]);
    let (code, out, err) = place_with(
        config.path(),
        "hostlabel.xml",
        &["--project", "home:secure"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.ends_with("placed on w20:1\n"), "{out}");
    // The reason is the callback's own, from what it read on stdin (the job's project and
    // the worker's sandbox).
    assert_eq!(
        row(&out, "w03:1"),
        "w03:1 idle callback reject-chroot rejects: sandbox chroot is not isolated enough for home:secure"
    );
    assert!(
        err.contains("allocation callback reject-chroot rejects worker w03:1"),
        "{err}"
    );
    // Only compliant workers are asked.
    assert_eq!(
        row(&out, "w14:1"),
        "w14:1 idle hostlabel benchmark_runner is required and the worker lacks it"
    );
    // A project file switches it off for its project, as for every callback.
    std::fs::create_dir(config.path().join("projects")).unwrap();
    std::fs::write(
        config.path().join("projects/home:open.toml"),
        "[callback.reject-chroot]\nenabled = false\n",
    )
    .unwrap();
    let (code, out, _) = place_with(config.path(), "hostlabel.xml", &["--project", "home:open"]);
    assert_eq!(code, Some(0));
    assert!(out.ends_with("placed on w03:1\n"), "{out}");
}

#[test]
fn allocation_callback_that_scores() {
    // One point per 8 processors: w20 (64) beats w03 (32) and the rest.
    let config = callback_config(&[("score", "score-processors.py", "")]);
    let (code, out, err) = place_with(config.path(), "empty.xml", &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.ends_with("placed on w20:1\n"), "{out}");
    assert_eq!(
        row(&out, "w20:1"),
        "w20:1 idle ok, score 8 (callback score)"
    );
    assert_eq!(
        row(&out, "w03:1"),
        "w03:1 idle ok, score 4 (callback score)"
    );
    // Scores add to the soft constraints': a weight-5 preference for chroot lifts w03
    // (4 + 5) above w20 (8).
    let dir = tempfile::tempdir().unwrap();
    let prjconf = dir.path().join("p.prjconf");
    std::fs::write(&prjconf, "#!ObsboxPrefer: sandbox weight=5 chroot\n").unwrap();
    let (code, out, _) = place_with(config.path(), prjconf.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0));
    assert!(out.ends_with("placed on w03:1\n"), "{out}");
    assert_eq!(
        row(&out, "w03:1"),
        "w03:1 idle ok, score 9 (sandbox chroot; callback score)"
    );
}

#[test]
fn allocation_callback_that_hangs_is_killed_and_rejects() {
    let pids = tempfile::NamedTempFile::new().unwrap();
    let config = callback_config(&[(
        "hang",
        "hang.sh",
        &format!(
            "timeout = \"1s\"\nenv = {{ HANG_PIDS = {:?} }}\n",
            pids.path().display().to_string()
        ),
    )]);
    let started = std::time::Instant::now();
    let (code, out, err) = place_with(config.path(), "hostlabel.xml", &[]);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{out}{err}");
    for w in ["w03:1", "w20:1"] {
        assert_eq!(
            row(&out, w),
            format!("{w} idle callback hang timed out after 1 s")
        );
        assert!(
            err.contains(&format!(
                "allocation callback hang rejects worker {w}: callback hang timed out after 1 s"
            )),
            "{err}"
        );
    }
    // The two run side by side, not one after the other.
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    // The script and the child it started are gone.
    let text = std::fs::read_to_string(pids.path()).unwrap();
    let pids: Vec<i32> = text
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 4, "{text}");
    for pid in pids {
        // Gone, or dead and waiting for init to reap it (the orphaned child). A process
        // SIGKILLed a moment ago may still be on its way out on a loaded machine.
        let gone = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
            (stat.is_empty() || state == Some('Z'), stat)
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !gone().0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (gone, stat) = gone();
        assert!(gone, "process {pid} is left: {stat}");
    }
}

#[test]
fn allocation_callback_that_crashes_rejects() {
    let config = callback_config(&[("crash", "crash.py", "")]);
    let (code, out, err) = place_with(config.path(), "hostlabel.xml", &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(
        row(&out, "w03:1"),
        "w03:1 idle callback crash failed (exit code 1): ZeroDivisionError: division by zero"
    );
    assert!(
        err.contains("allocation callback crash rejects worker w20:1: callback crash failed"),
        "{err}"
    );
    let config = callback_config(&[("segfault", "segfault.sh", "")]);
    let (code, out, _) = place_with(config.path(), "hostlabel.xml", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        row(&out, "w20:1"),
        "w20:1 idle callback segfault crashed (signal 11)"
    );
    // A command that does not exist cannot start: rejected too.
    let config = callback_config(&[("missing", "no-such-script", "")]);
    let (code, out, _) = place_with(config.path(), "hostlabel.xml", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        row(&out, "w03:1").starts_with("w03:1 idle callback missing cannot start: "),
        "{out}"
    );
}

/// Kubernetes' node selector semantics, written from its API documentation, over the labels
/// `worker describe --format k8s-labels` gives a worker.
fn node_matches(term: &serde_json::Value, labels: &BTreeMap<String, String>) -> bool {
    term["matchExpressions"]
        .as_array()
        .expect("matchExpressions")
        .iter()
        .all(|e| {
            let key = e["key"].as_str().unwrap();
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|v| v.iter().map(|x| x.as_str().unwrap()).collect())
                .unwrap_or_default();
            let label = labels.get(key).map(String::as_str);
            match e["operator"].as_str().unwrap() {
                "In" => {
                    assert!(!values.is_empty(), "In without values: {e}");
                    label.is_some_and(|l| values.contains(&l))
                }
                "NotIn" => {
                    assert!(!values.is_empty(), "NotIn without values: {e}");
                    label.is_none_or(|l| !values.contains(&l))
                }
                "Exists" => label.is_some(),
                "DoesNotExist" => label.is_none(),
                op @ ("Gt" | "Lt") => {
                    assert_eq!(values.len(), 1, "{e}");
                    let bound: i64 = values[0].parse().expect("an integer");
                    label
                        .and_then(|l| l.parse::<i64>().ok())
                        .is_some_and(|n| if op == "Gt" { n > bound } else { n < bound })
                }
                other => panic!("unknown operator {other}"),
            }
        })
}

fn labels_of(w: &worker::Worker) -> BTreeMap<String, String> {
    w.k8s_labels()
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn k8s_pod_affinity_matches_the_constraints_on_every_corpus_case() {
    let dir = fixtures().join("constraints");
    let cases: Cases =
        toml::from_str(&std::fs::read_to_string(dir.join("cases.toml")).unwrap()).unwrap();
    let fleet = alloc::load_fleet(&fixtures().join("workers")).unwrap();
    let mut mismatches = Vec::new();
    for case in &cases.case {
        let paths: Vec<_> = case.sources.iter().map(|s| dir.join(s)).collect();
        let merged =
            alloc::load_job_constraints(&paths, case.arch.as_ref(), case.package.as_deref())
                .unwrap_or_else(|e| panic!("{}: {e:#}", case.name));
        let req = alloc::Request::new(
            merged.clone(),
            &JobInfo {
                arch: case.arch.clone(),
                package: case.package.clone(),
            },
        );
        let pod = alloc::k8s::pod(&req, &fleet, &alloc::Settings::default(), "img").unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            (v["apiVersion"].as_str(), v["kind"].as_str()),
            (Some("v1"), Some("Pod"))
        );
        assert_eq!(v["spec"]["runtimeClassName"], "obsbox");
        let name = v["metadata"]["name"].as_str().unwrap();
        assert!(
            name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
        let required = &v["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"];
        let effective = req.effective();
        for m in &fleet {
            let labels = labels_of(&m.worker);
            let k8s = match required.as_array() {
                None => true,
                Some(terms) => {
                    assert!(!terms.is_empty());
                    terms.iter().any(|t| node_matches(t, &labels))
                }
            };
            let obs = alloc::check(&m.worker, &effective, req.build_arch()).is_ok();
            if k8s != obs {
                mismatches.push(format!(
                    "{}: {}: affinity says {k8s}, the constraints {obs}",
                    case.name, m.id
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn k8s_pod_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let prjconf = dir.path().join("p.prjconf");
    std::fs::write(
        &prjconf,
        "Constraint: hardware:memory:size unit=G 16\nConstraint: hardware:disk:size unit=G 30\n\
         #!ObsboxPrefer: hostlabel weight=7 big\n",
    )
    .unwrap();
    let w = fixtures().join("workers");
    let empty_config = tempfile::tempdir().unwrap();
    let (code, out, err) = obsbox_allocate(&[
        "--constraints",
        prjconf.to_str().unwrap(),
        "--arch",
        "aarch64",
        "--package",
        "big",
        "--workers",
        w.to_str().unwrap(),
        "--emit",
        "k8s",
        "--image",
        "registry.example/obsbox/build:1",
        "--config",
        empty_config.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("the manifest parses");
    assert_eq!(v["metadata"]["name"], "obsbox-big-aarch64");
    assert_eq!(
        v["metadata"]["annotations"]["org.openbuildservice.arch"],
        "aarch64"
    );
    let c = &v["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/obsbox/build:1");
    assert_eq!(c["resources"]["requests"]["memory"], "16384Mi");
    assert_eq!(c["resources"]["requests"]["ephemeral-storage"], "30720Mi");
    let na = &v["spec"]["affinity"]["nodeAffinity"];
    let fleet = alloc::load_fleet(&w).unwrap();
    let terms = na["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        .as_array()
        .unwrap();
    let fits: Vec<&str> = fleet
        .iter()
        .filter(|m| terms.iter().any(|t| node_matches(t, &labels_of(&m.worker))))
        .map(|m| m.id.as_str())
        .collect();
    // aarch64 with 16 GB (memory + swap) and 30 GB disk: w07, w08, and w13 emulating.
    assert_eq!(fits, ["w07:1", "w08:1", "w13:1"]);
    // Preferred: native hostarch (100) and the soft constraint (7).
    let preferred = na["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .unwrap();
    let score = |id: &str| -> u64 {
        let m = fleet.iter().find(|m| m.id == id).unwrap();
        preferred
            .iter()
            .filter(|p| node_matches(&p["preference"], &labels_of(&m.worker)))
            .map(|p| p["weight"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (score("w07:1"), score("w08:1"), score("w13:1")),
        (100, 107, 0)
    );
}

/// The dispatcher hook of integration/obs run the way bs_dispatch runs it: with OBS's own
/// Perl modules reading the worker and constraints documents into its structures.
#[test]
fn obs_dispatch_constraint_hook_asks_obsbox() {
    let obs = Path::new("/usr/lib/obs/server");
    assert!(
        obs.join("BSUtil.pm").exists(),
        "OBS's server modules are needed (Debian's obs-server, from integration/setup.sh)"
    );
    let driver = r#"
        use BSUtil; use BSXML;
        $BSConfig::obsbox = $ENV{OBSBOX};
        @BSConfig::obsbox_args = split(' ', $ENV{OBSBOX_ARGS} || '');
        require $ENV{HOOK};
        my $w = readxml($ARGV[0], $BSXML::worker);
        my $c = $ARGV[1] ? readxml($ARGV[1], $BSXML::constraints) : undef;
        my $job = { project => 'home:a', package => 'pkg', arch => $ARGV[2] };
        print $BSConfig::dispatch_constraint->($job, $w, $c) ? "yes\n" : "no\n";
    "#;
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/obs/dispatch_constraint.pl");
    let tmp = tempfile::tempdir().unwrap();
    let ask = |worker: &str, constraints: &str, arch: &str, args: &str| -> String {
        let c = if constraints.is_empty() {
            String::new()
        } else {
            fixtures()
                .join("constraints")
                .join(constraints)
                .display()
                .to_string()
        };
        let out = Command::new("perl")
            .arg(format!("-I{}", obs.display()))
            .arg("-e")
            .arg(driver)
            .arg(fixtures().join("workers").join(format!("{worker}.xml")))
            .arg(c)
            .arg(arch)
            .env("OBSBOX", env!("CARGO_BIN_EXE_obsbox"))
            .env("OBSBOX_ARGS", args)
            .env("HOOK", &hook)
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    // 18 GB: w01 has 16 + 2 GB swap, w02 8 GB.
    assert_eq!(ask("w01", "memory-swap.xml", "x86_64", ""), "yes");
    assert_eq!(ask("w02", "memory-swap.xml", "x86_64", ""), "no");
    // No constraints: obsbox's arch rule (w13 emulates aarch64, w01 does not build it).
    assert_eq!(ask("w01", "", "aarch64", ""), "no");
    assert_eq!(ask("w13", "", "aarch64", ""), "yes");
    // obsbox's allocation callbacks take part through --config.
    let config = callback_config(&[("reject-chroot", "reject-chroot.py", "")]);
    let args = format!("--config {}", config.path().display());
    assert_eq!(ask("w03", "", "x86_64", &args), "no");
    assert_eq!(ask("w01", "", "x86_64", &args), "yes");
    // Its temporary files are gone.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// The containerd configuration of integration/k8s is read by containerd as a runtime whose
/// runc binary is obsbox.
#[test]
fn containerd_reads_the_obsbox_runtime_config() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/k8s");
    let out = Command::new("containerd")
        .args(["--config"])
        .arg(dir.join("containerd-obsbox.toml"))
        .args(["config", "dump"])
        .output()
        .expect("containerd (from integration/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8(out.stdout).unwrap();
    let section = dump
        .split("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.obsbox]")
        .nth(1)
        .expect("the obsbox runtime");
    let section = section.split("\n\n        [").next().unwrap();
    assert!(
        section.contains("runtime_type = \"io.containerd.runc.v2\""),
        "{section}"
    );
    assert!(
        section.contains("pod_annotations = [\"org.openbuildservice.*\"]"),
        "{section}"
    );
    assert!(
        section.contains("BinaryName = \"/usr/local/bin/obsbox\""),
        "{section}"
    );
    let rc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runtimeclass.json")).unwrap())
            .unwrap();
    assert_eq!(
        (rc["kind"].as_str(), rc["handler"].as_str()),
        (Some("RuntimeClass"), Some("obsbox"))
    );
}

/// Gives the members random states (a third idle, then building for 0–30 min, away, down).
fn shuffle_states(fleet: &mut [alloc::Member], seed: u64) {
    let mut r = sim::Rng::new(seed);
    for m in fleet {
        (m.state, m.busy_for) = match r.below(6) {
            0..=1 => (alloc::State::Idle, None),
            2..=3 => (
                alloc::State::Building,
                Some(std::time::Duration::from_secs(r.below(1800))),
            ),
            4 => (alloc::State::Away, None),
            _ => (alloc::State::Down, None),
        };
    }
}

/// The indexed path against the rule-by-rule one: the same compliant workers for every
/// rule and every preference, and the same decision.
fn assert_index_agrees(fleet: &[alloc::Member], req: &alloc::Request, what: &str) {
    let index = alloc::index::Index::new(fleet);
    let effective = req.effective();
    let arch = req.build_arch();
    let set = index.compliant(&effective, arch);
    let mut sorted: Vec<&alloc::Member> = fleet.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for (i, m) in sorted.iter().enumerate() {
        let ok = alloc::check(&m.worker, &effective, arch).is_ok();
        assert_eq!(set.contains(i), ok, "{what}: {}", m.id);
        for p in &effective.prefer {
            let ok = alloc::check(&m.worker, &p.constraints, None).is_ok();
            assert_eq!(
                index.compliant(&p.constraints, None).contains(i),
                ok,
                "{what}: prefer {}: {}",
                p.line,
                m.id
            );
        }
    }
    let settings = alloc::Settings::default();
    let d = alloc::decide(
        fleet,
        req,
        &alloc::Options {
            settings: settings.clone(),
            callbacks: Vec::new(),
        },
    );
    let c = alloc::index::Allocator::new(fleet, settings).place(req, 0.0);
    let picked = c.pick.map(|(i, _)| index.ids[i].clone());
    assert_eq!(
        (
            picked,
            c.outcome,
            &c.details,
            c.choice.as_ref(),
            c.compliant,
            c.busy,
            c.down
        ),
        (
            d.worker.clone(),
            d.outcome,
            &d.details,
            d.choice.as_ref(),
            d.compliant,
            d.busy,
            d.down
        ),
        "{what}"
    );
}

#[test]
fn indexed_placement_decides_as_the_rule_by_rule_checker_on_the_corpus() {
    let dir = fixtures().join("constraints");
    let cases: Cases =
        toml::from_str(&std::fs::read_to_string(dir.join("cases.toml")).unwrap()).unwrap();
    let mut fleet = alloc::load_fleet(&fixtures().join("workers")).unwrap();
    for seed in 0..4 {
        if seed > 0 {
            shuffle_states(&mut fleet, seed);
        }
        for case in &cases.case {
            let paths: Vec<_> = case.sources.iter().map(|s| dir.join(s)).collect();
            let merged =
                alloc::load_job_constraints(&paths, case.arch.as_ref(), case.package.as_deref())
                    .unwrap_or_else(|e| panic!("{}: {e:#}", case.name));
            let req = alloc::Request::new(
                merged.clone(),
                &JobInfo {
                    arch: case.arch.clone(),
                    package: case.package.clone(),
                },
            );
            assert_index_agrees(&fleet, &req, &format!("{} (states {seed})", case.name));
        }
    }
}

#[test]
fn indexed_placement_decides_as_the_rule_by_rule_checker_on_a_simulated_fleet() {
    let mut fleet = sim::fleet(400, 11);
    shuffle_states(&mut fleet, 12);
    for (n, req) in sim::jobs(1500, 13).iter().enumerate() {
        assert_index_agrees(&fleet, req, &format!("simulated job {n}"));
    }
}

/// A project config whose macros double at every definition (2^40 bytes when expanded in
/// full): `allocate` read it without bound and ran out of memory. Read as obs-build reads it,
/// the expansion stops at obs-build's budget and the job is refused on the label.
#[test]
fn a_macro_bomb_in_the_project_config_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut conf = String::from("%define a0 xx\n");
    for i in 1..=40 {
        conf.push_str(&format!("%define a{i} %{{a{}}}%{{a{}}}\n", i - 1, i - 1));
    }
    conf.push_str("Constraint: hostlabel %{a40}\n");
    let file = dir.path().join("project.prjconf");
    std::fs::write(&file, conf).unwrap();
    let workers = fixtures().join("workers");
    let started = std::time::Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kb %M"])
        .arg(env!("CARGO_BIN_EXE_obsbox"))
        .arg("allocate")
        .arg("--constraints")
        .arg(&file)
        .args(["--arch", "x86_64", "--workers"])
        .arg(&workers)
        .arg("--config")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("hostlabel excludes"), "{stdout}");
    let rss: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kb "))
        .and_then(|v| v.trim().parse().ok())
        .expect("time -f reports the peak RSS");
    assert!(rss < 200 * 1024, "peak RSS {rss} kB");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// A `_constraints` nested 100,000 deep (2 MB, within the size bound) is one error line
/// naming the file and line, not a stack overflow (a million deep aborted with "fatal runtime
/// error: stack overflow" at 575 MB; 100,000 was enough).
#[test]
fn a_deeply_nested_constraints_file_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("_constraints");
    let n = 100_000;
    std::fs::write(
        &file,
        format!(
            "<constraints>\n{}{}</constraints>\n",
            "<hardware>".repeat(n),
            "</hardware>".repeat(n)
        ),
    )
    .unwrap();
    let (code, _, stderr) = obsbox_allocate(&[
        "--constraints",
        file.to_str().unwrap(),
        "--arch",
        "x86_64",
        "--workers",
        fixtures().join("workers").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "obsbox: error: {}: line 2: <hardware>: elements nested deeper than 64",
            file.display()
        )
    );
}
