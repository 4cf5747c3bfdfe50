//! A real OBS backend drives a fleet of obsbox workers: Debian's obs-server 2.9.4 (source
//! server, repository server, schedulers, dispatcher with obsbox's `dispatch_constraint`
//! hook, download-on-demand updater) and three unchanged bs_workers with obsbox as their
//! `build` and `hostcheck`, started by integration/obs-backend/obs-backend.sh in a network
//! namespace of the test's own. Sources go in through the source server's HTTP API; every
//! assertion is on what OBS reports: `_result`, `_log`, the binaries, `_jobhistory`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::data::{copy_tree, repo_root, testdata};
use common::obs::agent;
use common::{obsbox_bin, require_root, stderr_of};

const PROJECT: &str = "home:obsbox";
const REPOSITORY: &str = "Debian_12";
/// A project of .spec packages built on the Debian base (Debian's rpmbuild).
const RPM_PROJECT: &str = "home:obsbox:rpm";

/// The network of this test thread (and what it starts) becomes a private one with only
/// `lo`: OBS's servers and workers listen on every address.
fn private_network() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
}

fn wait_for<T>(what: &str, limit: Duration, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One bs_worker of the fleet.
struct Worker {
    id: String,
    /// Its directory: `root` (bs_worker's build root), `obsbox-state`.
    dir: PathBuf,
    /// Its obsbox cache.
    cache: PathBuf,
}

/// The backend and its workers, stopped (every process by PID) when dropped.
struct Backend {
    dir: PathBuf,
    src: String,
    workers: Vec<Worker>,
}

impl Backend {
    fn start() -> Backend {
        Backend::start_with(&[])
    }

    /// The backend with obs-backend.sh's environment `env` (e.g. the emulating worker).
    fn start_with(env: &[(&str, &str)]) -> Backend {
        require_root();
        private_network();
        let dir = tempfile::Builder::new()
            .prefix("obsbox-obs-backend-")
            .tempdir()
            .unwrap()
            .keep();
        // Kept between runs: only the first build on each worker installs its buildroot.
        let caches = testdata().join("obs-backend-caches");
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .env("OBSBOX", obsbox_bin())
            .env("OBS_BACKEND_CACHES", &caches)
            // Stopped also when this test is killed at its time limit.
            .env("OBS_BACKEND_OWNER", std::process::id().to_string())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "obs-backend.sh start: {}",
            stderr_of(&out)
        );
        let env = fs::read_to_string(dir.join("env")).unwrap();
        let value = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("no {key} in {env}"))
                .trim_matches('"')
                .to_string()
        };
        let workers = value("WORKERS")
            .split_whitespace()
            .map(|w| {
                let mut parts = w.splitn(3, ':');
                let id = parts.next().unwrap().to_string();
                let _port = parts.next().unwrap();
                let dir = PathBuf::from(parts.next().unwrap());
                let name = dir.file_name().unwrap().to_owned();
                Worker {
                    id,
                    dir,
                    cache: caches.join(name),
                }
            })
            .collect();
        Backend {
            src: value("SRCSERVER"),
            dir,
            workers,
        }
    }

    fn worker(&self, id: &str) -> &Worker {
        self.workers.iter().find(|w| w.id == id).unwrap()
    }

    /// What a worker (bs_worker and the programs it ran) wrote.
    fn worker_output(&self, id: &str) -> String {
        let name = self.worker(id).dir.file_name().unwrap().to_owned();
        fs::read_to_string(self.dir.join("log").join(name)).unwrap()
    }

    fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
        let url = format!("{}{path}", self.src);
        let resp = match (method, body) {
            ("GET", _) => agent().get(&url).call(),
            ("PUT", Some(b)) => agent().put(&url).send(b),
            ("POST", Some(b)) => agent().post(&url).send(b),
            ("POST", None) => agent().post(&url).send_empty(),
            _ => unreachable!(),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        (
            status,
            resp.into_body().read_to_string().unwrap_or_default(),
        )
    }

    fn put(&self, path: &str, body: &[u8]) {
        let (status, answer) = self.request("PUT", path, Some(body));
        assert_eq!(status, 200, "PUT {path}: {answer}");
    }

    fn post(&self, path: &str) -> String {
        let (status, answer) = self.request("POST", path, None);
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }

    /// Asserts that the binaries of `path` (`/build/PRJ/REPO/ARCH/PKG`) list every one of
    /// `names`, and downloads the first to `file` in the backend's directory.
    fn binary(&self, path: &str, names: &[&str], file: &str) -> PathBuf {
        let listing = self.get(path);
        for name in names {
            assert!(
                listing.contains(&format!("filename=\"{name}\"")),
                "{listing}"
            );
        }
        let to = self.dir.join(file);
        fs::write(&to, self.get_bytes(&format!("{path}/{}", names[0]))).unwrap();
        to
    }

    fn get_bytes(&self, path: &str) -> Vec<u8> {
        let url = format!("{}{path}", self.src);
        let resp = agent()
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(resp.status().as_u16(), 200, "GET {url}");
        resp.into_body()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap()
    }

    fn get(&self, path: &str) -> String {
        let (status, answer) = self.request("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {answer}");
        answer
    }

    /// The project: one Debian 12 repository built on the backend's Debian:12 (downloaded
    /// on demand), with the project config lines `config`.
    fn project(&self, config: &str) {
        self.project_for(config, &["x86_64"]);
    }

    /// The project, its repository built for `arches`.
    fn project_for(&self, config: &str, arches: &[&str]) {
        let arches: String = arches.iter().map(|a| format!("<arch>{a}</arch>")).collect();
        self.put(
            &format!("/source/{PROJECT}/_meta"),
            format!(
                "<project name=\"{PROJECT}\"><title/><description/>\
                 <repository name=\"{REPOSITORY}\"><path project=\"Debian:12\" repository=\"main\"/>\
                 {arches}</repository></project>"
            )
            .as_bytes(),
        );
        self.put(&format!("/source/{PROJECT}/_config"), config.as_bytes());
    }

    /// integration/pkgs/hello-obsbox as a Debian source package (a .dsc and its tarball),
    /// with `edit` applied to the tree first, and `extra` files (e.g. `_constraints`);
    /// uploaded as `package` and committed.
    fn commit_debian(&self, package: &str, edit: impl FnOnce(&Path), extra: &[(&str, &str)]) {
        let work = self.dir.join("sources").join(package);
        fs::create_dir_all(&work).unwrap();
        let tree = work.join("hello-obsbox");
        copy_tree(&repo_root().join("integration/pkgs/hello-obsbox"), &tree);
        edit(&tree);
        let out = Command::new("dpkg-source")
            .args(["-b", "hello-obsbox"])
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(out.status.success(), "dpkg-source -b: {}", stderr_of(&out));
        let upload = work.join("upload");
        fs::create_dir(&upload).unwrap();
        for entry in fs::read_dir(&work).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".dsc") || name.contains(".tar.") {
                fs::rename(&path, upload.join(&name)).unwrap();
            }
        }
        self.commit_dir(PROJECT, package, &upload, extra);
    }

    /// The package's `(code, details)` in `_result`.
    fn result(&self, package: &str) -> Option<(String, String)> {
        self.result_in(PROJECT, package)
    }

    fn result_in(&self, project: &str, package: &str) -> Option<(String, String)> {
        let text = self.get(&format!("/build/{project}/_result?package={package}"));
        let start = text.find(&format!("<status package=\"{package}\""))?;
        let status = &text[start..];
        let status = &status[..status.find("</status>").or(status.find("/>"))?];
        let code = attr(status, "code")?;
        let details = status
            .split_once("<details>")
            .and_then(|(_, d)| d.split_once("</details>"))
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        Some((code, details))
    }

    /// Waits until the package's code is one of `codes`; returns it with the details.
    fn wait_result(&self, package: &str, codes: &[&str], limit: Duration) -> (String, String) {
        self.wait_result_in(PROJECT, REPOSITORY, package, codes, limit)
    }

    /// [`Backend::wait_result`] for a package of `project`, built in `repository`.
    fn wait_result_in(
        &self,
        project: &str,
        repository: &str,
        package: &str,
        codes: &[&str],
        limit: Duration,
    ) -> (String, String) {
        let mut last = None;
        let deadline = Instant::now() + limit;
        loop {
            let now = self.result_in(project, package);
            if let Some((code, details)) = &now
                && codes.contains(&code.as_str())
            {
                return (code.clone(), details.clone());
            }
            if Instant::now() >= deadline {
                let log = format!("/build/{project}/{repository}/x86_64/{package}/_log?nostream=1");
                let log = self.request("GET", &log, None).1;
                panic!("{package}: still {last:?} after {limit:?}, wanted {codes:?}\n{log}");
            }
            last = now;
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn path(&self, package: &str) -> String {
        self.path_for("x86_64", package)
    }

    fn path_for(&self, arch: &str, package: &str) -> String {
        format!("/build/{PROJECT}/{REPOSITORY}/{arch}/{package}")
    }

    /// `PUT`s of every file of `dir` into `project`/`package` and a commit.
    fn commit_dir(&self, project: &str, package: &str, dir: &Path, extra: &[(&str, &str)]) {
        self.put(
            &format!("/source/{project}/{package}/_meta"),
            format!(
                "<package name=\"{package}\" project=\"{project}\"><title/><description/></package>"
            )
            .as_bytes(),
        );
        let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, fs::read(&path).unwrap())
            })
            .collect();
        files.extend(
            extra
                .iter()
                .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec())),
        );
        for (name, data) in files {
            self.put(
                &format!("/source/{project}/{package}/{name}?rev=upload"),
                &data,
            );
        }
        self.post(&format!("/source/{project}/{package}?cmd=commit"));
    }

    fn log_of(&self, package: &str) -> String {
        self.log_for("x86_64", package)
    }

    fn log_for(&self, arch: &str, package: &str) -> String {
        // nostream: a running build's log as far as it is, not followed to its end.
        self.request(
            "GET",
            &format!("{}/_log?nostream=1", self.path_for(arch, package)),
            None,
        )
        .1
    }

    /// The package's binaries: `(name, mtime)`.
    fn binaries(&self, package: &str) -> Vec<(String, String)> {
        self.get(&self.path(package))
            .lines()
            .filter(|l| l.contains("<binary "))
            .map(|l| (attr(l, "filename").unwrap(), attr(l, "mtime").unwrap()))
            .collect()
    }

    /// The package's finished jobs, oldest first: `(code, workerid)`.
    fn jobs(&self, package: &str) -> Vec<(String, String)> {
        self.jobs_for("x86_64", package)
    }

    fn jobs_for(&self, arch: &str, package: &str) -> Vec<(String, String)> {
        self.get(&format!(
            "/build/{PROJECT}/{REPOSITORY}/{arch}/_jobhistory?package={package}"
        ))
        .lines()
        .filter(|l| l.contains("<jobhist "))
        .map(|l| {
            (
                attr(l, "code").unwrap(),
                attr(l, "workerid").unwrap_or_default(),
            )
        })
        .collect()
    }

    /// What is left of a job of `package` on any worker: work directories, obsbox state,
    /// mounts, cgroups and processes.
    fn leftovers(&self, package: &str) -> Vec<String> {
        self.leftovers_for("x86_64", package)
    }

    fn leftovers_for(&self, arch: &str, package: &str) -> Vec<String> {
        self.leftovers_of(&format!("{PROJECT}/{REPOSITORY}/{package}/{arch}"))
    }

    /// What is left of the job `PROJECT/REPOSITORY/PACKAGE/ARCH`.
    fn leftovers_of(&self, job: &str) -> Vec<String> {
        let job = job.replace([':', '/'], "_");
        self.workers
            .iter()
            .flat_map(|w| {
                common::obs::job_leftovers(&w.cache.join("jobs"), &w.dir.join("obsbox-state"), &job)
                    .into_iter()
                    .map(move |l| format!("{}: {l}", w.id))
            })
            .collect()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let out = Command::new(script())
            .arg("stop")
            .arg(&self.dir)
            .env("OBSBOX", obsbox_bin())
            .env("OBS_BACKEND_CACHES", testdata().join("obs-backend-caches"))
            .output()
            .unwrap();
        let stopped = out.status.success() && !self.dir.exists();
        if !std::thread::panicking() {
            assert!(stopped, "obs-backend.sh stop: {}", stderr_of(&out));
        }
    }
}

fn script() -> PathBuf {
    repo_root().join("integration/obs-backend/obs-backend.sh")
}

fn attr(text: &str, key: &str) -> Option<String> {
    let start = text.find(&format!(" {key}=\""))? + key.len() + 3;
    Some(text[start..start + text[start..].find('"')?].to_string())
}

fn constraints(inner: &str) -> String {
    format!("<constraints>\n{inner}\n</constraints>\n")
}

/// A Debian package built by the fleet, rebuilt unchanged; a .spec package built; a
/// package only the `big` worker may build, built there; a package no worker may build, held back with obsbox's
/// reason in what OBS reports.
#[test]
fn fleet_builds_debian_packages_by_their_constraints() {
    let backend = Backend::start();
    backend.project("");
    backend.commit_debian("hello-obsbox", |_| {}, &[]);
    backend.commit_debian(
        "hello-big",
        |_| {},
        &[("_constraints", &constraints("  <hostlabel>big</hostlabel>"))],
    );
    // OBS 2.9.4's own check takes CPU flags any-of (sse2 is there); obsbox's hook takes
    // them all-of, as upstream OBS does: no worker has the second one.
    backend.commit_debian(
        "hello-nowhere",
        |_| {},
        &[(
            "_constraints",
            &constraints(
                "  <hardware><cpu><flag>sse2</flag><flag>obsbox-test-no-such-flag</flag></cpu></hardware>",
            ),
        )],
    );

    // A .spec package in a project of its own (its recipe type is the project's).
    backend.put(
        &format!("/source/{RPM_PROJECT}/_meta"),
        format!(
            "<project name=\"{RPM_PROJECT}\"><title/><description/>\
             <repository name=\"Debian_12_rpm\"><path project=\"Debian:12\" repository=\"main\"/>\
             <arch>x86_64</arch></repository></project>"
        )
        .as_bytes(),
    );
    backend.put(
        &format!("/source/{RPM_PROJECT}/_config"),
        b"Type: spec\nSupport: rpm file\nMacros:\n%vendor obsbox test vendor\n:Macros\n",
    );
    backend.commit_dir(
        RPM_PROJECT,
        "hello-rpm",
        &repo_root().join("integration/pkgs/hello-obsbox-rpm"),
        &[],
    );
    backend.commit_debian(
        "hello-broken",
        |tree| fs::write(tree.join("src/greet.c"), "this is not C\n").unwrap(),
        &[],
    );

    let limit = Duration::from_secs(600);
    let (code, _) = backend.wait_result("hello-obsbox", &["succeeded", "failed"], limit);
    let log = backend.log_of("hello-obsbox");
    assert_eq!(code, "succeeded", "{log}");
    assert!(log.contains("runs this job for bs_worker"), "{log}");
    assert!(log.contains("Hello, OBS, from obsbox!"), "{log}");
    assert!(log.contains("exit code 0 for bs_worker"), "{log}");
    // The log OBS users read is obsbox's job log: stamped as obs-build stamps it, with the
    // kernel, the worker and the buildroot's packages.
    let lines: Vec<&str> = log.lines().map(obsbox::joblog::unstamped).collect();
    for title in ["Kernel", "Worker", "Packages in the buildroot, "] {
        assert!(
            common::joblog::section(&lines, title).is_some(),
            "no {title} section: {log}"
        );
    }
    let binaries = backend.binaries("hello-obsbox");
    let names: Vec<&str> = binaries.iter().map(|(n, _)| n.as_str()).collect();
    // Without OBS-DCH-RELEASE the .dsc's version stays as it is (OBS's release is not in
    // it), so a rebuild can be found unchanged.
    assert_eq!(
        names,
        [
            "_buildenv",
            "_statistics",
            "hello-obsbox_1.0.dsc",
            "hello-obsbox_1.0.tar.xz",
            "hello-obsbox_1.0_amd64.buildinfo",
            "hello-obsbox_1.0_amd64.changes",
            "hello-obsbox_1.0_amd64.deb"
        ]
    );
    // The worker asked obsbox's host check before it took the job, and after.
    let (_, worker) = backend.jobs("hello-obsbox").remove(0);
    let worker_out = backend.worker_output(&worker);
    assert!(
        worker_out.contains(&format!(
            "obsbox hostcheck: {PROJECT}/{REPOSITORY}/hello-obsbox/x86_64: this worker complies"
        )) && worker_out.contains("obsbox hostcheck: the build succeeded"),
        "{worker_out}"
    );
    let stats = backend.get(&format!("{}/_statistics", backend.path("hello-obsbox")));
    assert!(stats.contains("<buildstatistics>"), "{stats}");

    let (code, _) = backend.wait_result("hello-big", &["succeeded", "failed"], limit);
    assert_eq!(code, "succeeded", "{}", backend.log_of("hello-big"));
    assert_eq!(
        backend.jobs("hello-big"),
        [(
            "succeeded".to_string(),
            backend.worker("obsbox-2").id.clone()
        )]
    );

    // A broken recipe fails on a worker, with the compiler's complaint in the log, and is
    // not held against the worker.
    let (code, _) = backend.wait_result("hello-broken", &["succeeded", "failed"], limit);
    let log = backend.log_of("hello-broken");
    assert_eq!(code, "failed", "{log}");
    assert!(log.contains("src/greet.c:1"), "{log}");
    assert!(log.contains("exit code 1 for bs_worker"), "{log}");
    let jobs = backend.jobs("hello-broken");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(
        backend
            .worker_output(&jobs[0].1)
            .contains("obsbox hostcheck: the log shows no host problem")
    );

    // Nothing builds the package nobody complies with. OBS 2.9.4's dispatcher then fails
    // the job with its explanation: obsbox's hook is the rule no worker passes. Which
    // constraint obsbox found unmet is in the dispatcher's log.
    let (code, _) = backend.wait_result("hello-nowhere", &["failed", "succeeded"], limit);
    let log = backend.log_of("hello-nowhere");
    assert_eq!(code, "failed", "{log}");
    assert!(log.contains("package build was not possible"), "{log}");
    assert!(
        log.contains("no compliant workers (constraints mismatch hint: dispatch_constraint)"),
        "{log}"
    );
    // Failed by the dispatcher, built by no worker.
    assert_eq!(
        backend.jobs("hello-nowhere"),
        [("failed".to_string(), "dispatcher".to_string())]
    );
    let dispatcher = fs::read_to_string(backend.dir.join("log/bs_dispatch")).unwrap();
    let said: Vec<&str> = dispatcher
        .lines()
        .filter(|l| {
            l.starts_with("obsbox: worker ") && l.contains(&format!("{PROJECT}/hello-nowhere: "))
        })
        .collect();
    assert!(!said.is_empty(), "{dispatcher}");
    for line in said {
        assert!(
            line.ends_with(
                "hardware:cpu:flag obsbox-test-no-such-flag is required and the worker lacks it"
            ),
            "{line}"
        );
    }

    // A rebuild: the same result, so bs_worker reports it unchanged and the repository
    // keeps the old binaries.
    let deb_before = binaries
        .iter()
        .find(|(n, _)| n.ends_with("_amd64.deb"))
        .unwrap()
        .clone();
    backend.post(&format!(
        "/build/{PROJECT}?cmd=rebuild&package=hello-obsbox"
    ));
    let jobs = wait_for("the rebuild", limit, || {
        let jobs = backend.jobs("hello-obsbox");
        (jobs.len() == 2).then_some(jobs)
    });
    let log = backend.log_of("hello-obsbox");
    assert_eq!(jobs[1].0, "unchanged", "{log}");
    // The worker reported it unchanged (obsbox's build-compare callback found the result
    // equal to the old packages: exit code 2); OBS keeps the old log and notes that.
    assert!(log.contains("returned same result, skipped"), "{log}");
    let (code, _) = backend.wait_result("hello-obsbox", &["succeeded", "failed"], limit);
    assert_eq!(code, "succeeded");
    let deb_after = backend
        .binaries("hello-obsbox")
        .into_iter()
        .find(|(n, _)| n.ends_with("_amd64.deb"))
        .unwrap();
    assert_eq!(deb_after, deb_before);

    // The .spec package: built with Debian's rpmbuild from the base distribution's
    // packages, the project config's Macros reaching rpmbuild.
    let (code, _) = wait_for("the rpm build", limit, || {
        backend
            .result_in(RPM_PROJECT, "hello-rpm")
            .filter(|(code, _)| code == "succeeded" || code == "failed")
    });
    let rpm_path = format!("/build/{RPM_PROJECT}/Debian_12_rpm/x86_64/hello-rpm");
    let log = backend.get(&format!("{rpm_path}/_log?nostream=1"));
    assert_eq!(code, "succeeded", "{log}");
    assert!(log.contains("exit code 0 for bs_worker"), "{log}");
    let rpm_file = backend.binary(
        &rpm_path,
        &[
            "hello-obsbox-1.0-1.x86_64.rpm",
            "hello-obsbox-1.0-1.src.rpm",
        ],
        "hello.rpm",
    );
    let query = Command::new("rpm")
        .args(["-qp", "--qf", "%{NAME} %{VENDOR}"])
        .arg(&rpm_file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&query.stdout),
        "hello-obsbox obsbox test vendor"
    );

    for package in ["hello-obsbox", "hello-big", "hello-broken"] {
        let left = backend.leftovers(package);
        assert!(left.is_empty(), "{left:?}");
    }
}

/// `abortbuild` through OBS ends a running build at once, and nothing of it stays.
#[test]
fn abortbuild_ends_a_running_build_within_2_s() {
    let backend = Backend::start();
    backend.project("");
    backend.commit_debian(
        "sleeper",
        |tree| {
            // The build hangs in its first step, below make below the shell of the
            // build phase.
            let rules = tree.join("debian/rules");
            let text = fs::read_to_string(&rules).unwrap();
            fs::write(
                &rules,
                text.replace(
                    "debian/build-stamp:\n",
                    "debian/build-stamp:\n\tsleep 900\n",
                ),
            )
            .unwrap();
        },
        &[],
    );
    wait_for("the build to hang", Duration::from_secs(600), || {
        backend
            .log_of("sleeper")
            .contains("sleep 900")
            .then_some(())
    });
    assert!(!backend.leftovers("sleeper").is_empty(), "no build running");

    let started = Instant::now();
    backend.post(&format!("/build/{PROJECT}?cmd=abortbuild&package=sleeper"));
    let left = wait_for("the build to end", Duration::from_secs(60), || {
        let left = backend.leftovers("sleeper");
        left.is_empty().then_some(started.elapsed())
    });
    assert!(left < Duration::from_secs(2), "the abort took {left:?}");

    let (code, _) =
        backend.wait_result("sleeper", &["failed", "succeeded"], Duration::from_secs(60));
    let log = backend.log_of("sleeper");
    assert_eq!(code, "failed", "{log}");
    assert!(log.contains("build interrupted by SIGTERM"), "{log}");
}

/// Ten packages committed at once are spread over the workers and all succeed.
#[test]
fn ten_packages_at_once_spread_over_the_fleet() {
    let backend = Backend::start();
    backend.project("");
    let packages: Vec<String> = (1..=10).map(|n| format!("hello-{n}")).collect();
    for (n, package) in packages.iter().enumerate() {
        // Each its own build: a mark of the package in the binary.
        backend.commit_debian(
            package,
            |tree| {
                let greet = tree.join("src/greet.c");
                let mut text = fs::read_to_string(&greet).unwrap();
                text.push_str(&format!("const char obsbox_test_job[] = \"job {n}\";\n"));
                fs::write(&greet, text).unwrap();
            },
            &[],
        );
    }
    let mut used = std::collections::BTreeSet::new();
    for package in &packages {
        let (code, _) =
            backend.wait_result(package, &["succeeded", "failed"], Duration::from_secs(900));
        let log = backend.log_of(package);
        assert_eq!(code, "succeeded", "{log}");
        assert!(log.contains("exit code 0 for bs_worker"), "{log}");
        let jobs = backend.jobs(package);
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        used.insert(jobs[0].1.clone());
    }
    let all: std::collections::BTreeSet<String> =
        backend.workers.iter().map(|w| w.id.clone()).collect();
    assert_eq!(used, all, "not every worker got a job");
    for package in &packages {
        let left = backend.leftovers(package);
        assert!(left.is_empty(), "{left:?}");
    }
}

/// A worker and its obsbox killed (SIGKILL) in the middle of a build: once the worker is
/// back, OBS builds the job again on another worker, and the killed worker's next job
/// removes what the killed obsbox left.
#[test]
fn killed_worker_job_is_built_elsewhere_and_cleaned_up_after() {
    let backend = Backend::start();
    backend.project("");
    // Never on a worker labelled `killed`: the killed one comes back with that label.
    backend.commit_debian(
        "slowpoke",
        |tree| {
            let rules = tree.join("debian/rules");
            let text = fs::read_to_string(&rules).unwrap();
            fs::write(
                &rules,
                text.replace("debian/build-stamp:\n", "debian/build-stamp:\n\tsleep 15\n"),
            )
            .unwrap();
        },
        &[(
            "_constraints",
            &constraints("  <hostlabel exclude=\"true\">killed</hostlabel>"),
        )],
    );
    wait_for("the build to sleep", Duration::from_secs(600), || {
        backend
            .log_of("slowpoke")
            .contains("sleep 15")
            .then_some(())
    });
    let (code, details) = backend.result("slowpoke").unwrap();
    assert_eq!(code, "building", "{details}");
    let victim = details
        .strip_prefix("building on ")
        .unwrap_or_else(|| panic!("{details}"))
        .to_string();
    let n: usize = victim.strip_prefix("obsbox-").unwrap().parse().unwrap();
    let pids = fs::read_to_string(backend.dir.join("pids")).unwrap();
    let pid: i32 = pids
        .lines()
        .find_map(|l| l.strip_prefix(&format!("worker{n} ")))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // bs_worker is the leader of its own session; the build (obsbox) runs in its group.
    let registry = backend.worker(&victim).dir.join("obsbox-state/obs-build");
    let build_pid: i32 = fs::read_dir(&registry)
        .unwrap()
        .flatten()
        .find_map(|e| fs::read_to_string(e.path()).ok())
        .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse().ok()))
        .expect("the running build's registration");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(
        "the worker and its obsbox to die",
        Duration::from_secs(10),
        || (!common::process_alive(pid) && !common::process_alive(build_pid)).then_some(()),
    );
    // What the killed obsbox left: its work directory, containers, processes.
    assert!(!backend.leftovers("slowpoke").is_empty());

    // Back with the label the job avoids: OBS takes the job back from it and gives it to
    // another worker.
    let out = Command::new(script())
        .arg("restart-worker")
        .arg(&backend.dir)
        .arg(n.to_string())
        .env("OBSBOX", obsbox_bin())
        .env("OBS_BACKEND_CACHES", testdata().join("obs-backend-caches"))
        .env(
            "OBS_BACKEND_LABELS",
            (1..=3)
                .map(|i| if i == n { "killed" } else { "-" })
                .collect::<Vec<_>>()
                .join(" "),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "restart-worker: {}", stderr_of(&out));
    let (code, _) = backend.wait_result(
        "slowpoke",
        &["succeeded", "failed"],
        Duration::from_secs(600),
    );
    let log = backend.log_of("slowpoke");
    assert_eq!(code, "succeeded", "{log}");
    let jobs = backend.jobs("slowpoke");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_ne!(jobs[0].1, victim, "{jobs:?}");

    // The killed worker's next job (only it has the label) removes what was left.
    backend.commit_debian(
        "hello-after",
        |_| {},
        &[(
            "_constraints",
            &constraints("  <hostlabel>killed</hostlabel>"),
        )],
    );
    let (code, _) = backend.wait_result(
        "hello-after",
        &["succeeded", "failed"],
        Duration::from_secs(600),
    );
    let log = backend.log_of("hello-after");
    assert_eq!(code, "succeeded", "{log}");
    assert_eq!(backend.jobs("hello-after")[0].1, victim);
    assert!(log.contains("removed what a run that died left"), "{log}");
    for package in ["slowpoke", "hello-after"] {
        let left = backend.leftovers(package);
        assert!(left.is_empty(), "{left:?}");
    }
}

/// An aarch64 job: OBS's aarch64 scheduler expands it against the test repository's arm64
/// packages (downloaded on demand), the dispatcher gives it to the one worker registered
/// for aarch64 — obsbox-4, an x86_64 machine whose obsbox emulates aarch64 with qemu-user
/// from its toolbox —, and the package is an AArch64 build. No binfmt entry, mount, cgroup
/// or process of the job stays.
#[test]
fn arm64_job_is_built_emulated_on_the_qemu_worker() {
    let backend = Backend::start_with(&[("OBS_BACKEND_EMULATED", "aarch64")]);
    backend.project_for("", &["aarch64"]);
    backend.commit_debian("hello-arm", |_| {}, &[]);
    let (code, _) = backend.wait_result(
        "hello-arm",
        &["succeeded", "failed"],
        Duration::from_secs(1500),
    );
    let log = backend.log_for("aarch64", "hello-arm");
    assert_eq!(code, "succeeded", "{log}");
    // The unit test ran, emulated, in the arm64 buildroot.
    assert!(log.contains("arm64 target code runs through"), "{log}");
    assert!(log.contains("all greet checks passed"), "{log}");
    assert!(log.contains("exit code 0 for bs_worker"), "{log}");
    assert_eq!(
        backend.jobs_for("aarch64", "hello-arm"),
        [("succeeded".to_string(), "obsbox-4".to_string())]
    );
    // Only the emulating worker was offered the job.
    let dispatcher = fs::read_to_string(backend.dir.join("log/bs_dispatch")).unwrap();
    let assigned: Vec<&str> = dispatcher
        .lines()
        .filter(|l| l.contains(" assignjob ") && l.contains("::hello-arm-"))
        .collect();
    assert!(!assigned.is_empty(), "{dispatcher}");
    for line in &assigned {
        assert!(line.ends_with(" -> aarch64:obsbox-4"), "{line}");
    }
    let worker_out = backend.worker_output("obsbox-4");
    assert!(
        worker_out.contains(&format!(
            "obsbox hostcheck: {PROJECT}/{REPOSITORY}/hello-arm/aarch64: this worker complies"
        )),
        "{worker_out}"
    );

    // What OBS stores: an arm64 package holding an AArch64 program.
    let path = backend.path_for("aarch64", "hello-arm");
    let listing = backend.get(&path);
    assert!(
        listing.contains("filename=\"hello-obsbox_1.0_arm64.deb\""),
        "{listing}"
    );
    let deb = backend.dir.join("hello-arm.deb");
    fs::write(
        &deb,
        backend.get_bytes(&format!("{path}/hello-obsbox_1.0_arm64.deb")),
    )
    .unwrap();
    let unpacked = backend.dir.join("hello-arm");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb -x: {}", stderr_of(&out));
    let out = Command::new("readelf")
        .arg("-h")
        .arg(unpacked.join("usr/bin/hello-obsbox"))
        .output()
        .unwrap();
    let header = String::from_utf8_lossy(&out.stdout);
    assert!(
        header
            .lines()
            .any(|l| l.trim().starts_with("Machine:") && l.contains("AArch64")),
        "{header}"
    );

    let left = backend.leftovers_for("aarch64", "hello-arm");
    assert!(left.is_empty(), "{left:?}");
    let entries = common::obs::obsbox_binfmt_entries();
    assert!(entries.is_empty(), "binfmt_misc entries left: {entries:?}");
}

/// A job obsbox refuses on every worker by a rule of its own — an allocation callback; the
/// package has no `_constraints`, so OBS's own check finds nothing wrong and the job just
/// waits — shows obsbox's reason as its details in `_result`, and builds once the rule lets
/// it. (A job with `_constraints` no worker meets is failed by OBS 2.9.4's dispatcher with
/// its own message instead: fleet_builds_debian_packages_by_their_constraints.) The worker
/// that builds it first removes what an old obs-build chroot build left in its root.
#[test]
fn obsbox_refusal_reason_is_in_the_result_of_a_waiting_job() {
    use std::os::unix::fs::PermissionsExt;
    let backend = Backend::start();
    // The dispatcher's obsbox reads its configuration on every call: the callback counts
    // from now on.
    let callback = backend.dir.join("vm-only");
    fs::write(
        &callback,
        "#!/bin/sh\n\
         if [ \"$1\" = hello-vm ] && [ ! -e \"$0.allow\" ]; then\n\
         \techo '{\"accept\": false, \"reason\": \"hello-vm builds in VMs only\"}'\n\
         else\n\
         \techo '{\"accept\": true}'\n\
         fi\n",
    )
    .unwrap();
    fs::set_permissions(&callback, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        backend.dir.join("obsbox-config/callbacks/vm-only.toml"),
        format!(
            "description = \"a package that builds in VMs only\"\nhook = \"allocate\"\n\
             command = [{:?}, \"{{package}}\"]\nenabled = true\n",
            callback.display().to_string()
        ),
    )
    .unwrap();
    // What obs-build's chroot build leaves in a worker's root: `--clean` removes it.
    let old = [
        "usr/bin/old-tool",
        ".build/build.data",
        ".init_b_cache/rpms/x.deb",
    ];
    for worker in &backend.workers {
        for file in old {
            let path = worker.dir.join("root").join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "old").unwrap();
        }
    }
    backend.project("");
    backend.commit_debian("hello-vm", |_| {}, &[]);

    let (code, details) = wait_for(
        "obsbox's reason in _result",
        Duration::from_secs(300),
        || {
            backend
                .result("hello-vm")
                .filter(|(_, details)| details.starts_with("obsbox: "))
        },
    );
    assert_eq!(code, "scheduled", "{details}");
    assert_eq!(
        details,
        "obsbox: callback vm-only rejects: hello-vm builds in VMs only \
         (obsbox-1, obsbox-2, obsbox-3)"
    );
    assert!(backend.jobs("hello-vm").is_empty());

    // The rule lets it now: the job is built, and the details go with the wait.
    fs::write(backend.dir.join("vm-only.allow"), "").unwrap();
    let (code, details) = backend.wait_result(
        "hello-vm",
        &["succeeded", "failed"],
        Duration::from_secs(600),
    );
    let log = backend.log_of("hello-vm");
    assert_eq!(code, "succeeded", "{log}");
    assert!(!details.contains("obsbox:"), "{details}");
    let jobs = backend.jobs("hello-vm");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(
        log.contains("--clean: removed 3 entries an earlier build left in"),
        "{log}"
    );
    let root = backend.worker(&jobs[0].1).dir.join("root");
    for top in ["usr", ".build", ".init_b_cache"] {
        assert!(!root.join(top).exists(), "{top} left in {}", root.display());
    }
    let left = backend.leftovers("hello-vm");
    assert!(left.is_empty(), "{left:?}");
}

/// A Debian package in OBS's own layout — an upstream tarball, `debian.*` files and a
/// `.dsc` with `DEBTRANSFORM-TAR` and `DEBTRANSFORM-RELEASE` — succeeds on an obsbox
/// worker: obsbox transforms it as obs-build's debtransform does, the packages carry OBS's
/// release in their version, and the transformed source package goes back with them. The
/// project config's `Substitute: dsc:build_cmd` is the build's command, as obs-build's
/// build-recipe-dsc takes it: run in the unpacked source under /usr/src/packages/BUILD.
#[test]
fn obs_debian_layout_builds_with_obs_release() {
    let backend = Backend::start();
    backend.project(
        "Substitute: dsc:build_cmd echo obsbox-substituted-in=$(pwd) && dpkg-buildpackage -us -uc -b\n",
    );
    let work = backend.dir.join("sources").join("hello-layout");
    fs::create_dir_all(&work).unwrap();
    let tree = work.join("hello-obsbox-1.0");
    copy_tree(&repo_root().join("integration/pkgs/hello-obsbox"), &tree);
    let upload = work.join("upload");
    fs::create_dir_all(&upload).unwrap();
    for name in ["changelog", "control", "copyright", "rules"] {
        fs::copy(
            tree.join("debian").join(name),
            upload.join(format!("debian.{name}")),
        )
        .unwrap();
    }
    fs::remove_dir_all(tree.join("debian")).unwrap();
    let out = Command::new("tar")
        .args(["-czf", "upload/hello-obsbox-1.0.tar.gz", "hello-obsbox-1.0"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", stderr_of(&out));
    fs::write(
        upload.join("hello-obsbox.dsc"),
        "Format: 1.0\nSource: hello-obsbox\nBinary: hello-obsbox\nArchitecture: any\n\
         Version: 1.0\nMaintainer: obsbox developers <obsbox@example.org>\n\
         Build-Depends: build-essential\nDEBTRANSFORM-TAR: hello-obsbox-1.0.tar.gz\n\
         DEBTRANSFORM-RELEASE: 1\n",
    )
    .unwrap();
    backend.commit_dir(PROJECT, "hello-layout", &upload, &[]);

    let (code, _) = backend.wait_result(
        "hello-layout",
        &["succeeded", "failed"],
        Duration::from_secs(600),
    );
    let log = backend.log_of("hello-layout");
    assert_eq!(code, "succeeded", "{log}");
    assert!(
        log.contains("debtransform: hello-obsbox.dsc made into hello-obsbox_1.0-1+"),
        "{log}"
    );
    assert!(log.contains("Hello, OBS, from obsbox!"), "{log}");
    assert!(
        log.contains("obsbox-substituted-in=/usr/src/packages/BUILD"),
        "{log}"
    );
    let names: Vec<String> = backend
        .binaries("hello-layout")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let deb = names
        .iter()
        .find(|n| n.ends_with("_amd64.deb"))
        .unwrap_or_else(|| panic!("no .deb: {names:?}"));
    let release = deb
        .strip_prefix("hello-obsbox_1.0-1+")
        .and_then(|r| r.strip_suffix("_amd64.deb"))
        .unwrap_or_else(|| panic!("{deb}: not of version 1.0-1+RELEASE"));
    assert!(
        !release.is_empty() && release.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "{deb}"
    );
    for expected in [
        format!("hello-obsbox_1.0-1+{release}.dsc"),
        format!("hello-obsbox_1.0-1+{release}.diff.gz"),
        "hello-obsbox_1.0.orig.tar.gz".to_string(),
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    assert!(backend.leftovers("hello-layout").is_empty());
}

/// A `.spec` package built in a buildroot of RPMs only. Debian:12:rpm downloads on demand
/// from an rpm-md repository of Debian 12's rpm and its closure repackaged as RPMs
/// (integration/rpm-buildset.sh); the project config
/// (tests/fixtures/obs-backend/rpm-buildset.prjconf) has OBS's scheduler add rpm's
/// Preinstall, Required and Support sets to the spec's BuildRequires; the obsbox worker
/// registers the buildroot with the set's own rpm and builds with its rpmbuild, `%check`
/// included. What OBS stores is a valid rpm of the package.
#[test]
fn spec_package_builds_in_an_all_rpm_buildroot() {
    const RPMROOT: &str = "home:obsbox:rpmroot";
    const RPMROOT_REPOSITORY: &str = "Debian_12_rpmroot";
    let fixtures = repo_root().join("tests/fixtures/obs-backend");
    let out = Command::new(repo_root().join("integration/rpm-buildset.sh"))
        .env("OBSBOX_TEST_CACHE", testdata())
        .output()
        .unwrap();
    assert!(out.status.success(), "rpm-buildset.sh: {}", stderr_of(&out));
    let buildset = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let backend = Backend::start_with(&[
        ("OBS_BACKEND_RPM_BUILDSET", buildset.as_str()),
        ("OBS_BACKEND_WORKERS", "1"),
    ]);
    backend.put(
        &format!("/source/{RPMROOT}/_meta"),
        format!(
            "<project name=\"{RPMROOT}\"><title/><description/>\
             <repository name=\"{RPMROOT_REPOSITORY}\">\
             <path project=\"Debian:12:rpm\" repository=\"main\"/>\
             <arch>x86_64</arch></repository></project>"
        )
        .as_bytes(),
    );
    backend.put(
        &format!("/source/{RPMROOT}/_config"),
        &fs::read(fixtures.join("rpm-buildset.prjconf")).unwrap(),
    );
    backend.commit_dir(RPMROOT, "hello-script", &fixtures.join("hello-script"), &[]);

    let (code, details) = backend.wait_result_in(
        RPMROOT,
        RPMROOT_REPOSITORY,
        "hello-script",
        &["succeeded", "failed"],
        Duration::from_secs(600),
    );
    let path = format!("/build/{RPMROOT}/{RPMROOT_REPOSITORY}/x86_64/hello-script");
    // No log when OBS could not expand the build: its details say why.
    let log = backend
        .request("GET", &format!("{path}/_log?nostream=1"), None)
        .1;
    assert_eq!(code, "succeeded", "{details}\n{log}");
    assert!(log.contains("hello-script: %check passed"), "{log}");
    // rpmbuild's scripts found what they call (brp-strip runs file), and the prepare
    // phase the account files it adds the build user to.
    assert!(!log.contains("not found"), "{log}");
    assert!(!log.contains("No such file or directory"), "{log}");
    assert!(log.contains("exit code 0 for bs_worker"), "{log}");
    // The buildroot OBS expanded: RPMs only, rpm among them.
    let lines: Vec<&str> = log.lines().map(obsbox::joblog::unstamped).collect();
    let (_, packages) = common::joblog::section(&lines, "Packages in the buildroot, ")
        .unwrap_or_else(|| panic!("no buildroot section: {log}"));
    assert!(
        packages.iter().any(|p| p.starts_with("rpm ")),
        "{packages:?}"
    );
    for package in &packages {
        assert!(
            package.ends_with(" x86_64") || package.ends_with(" noarch"),
            "not an rpm: {package}"
        );
    }

    let rpm_file = backend.binary(
        &path,
        &[
            "hello-script-1.0-1.noarch.rpm",
            "hello-script-1.0-1.src.rpm",
        ],
        "hello-script.rpm",
    );
    let query = Command::new("rpm")
        .args([
            "-qpl",
            "--qf",
            "%{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{VENDOR}\\n",
        ])
        .arg(&rpm_file)
        .output()
        .unwrap();
    assert!(query.status.success(), "rpm -qp: {}", stderr_of(&query));
    assert_eq!(
        String::from_utf8_lossy(&query.stdout),
        "hello-script 1.0-1 noarch obsbox rpm buildset\n/usr/bin/hello-script\n"
    );
    let left = backend.leftovers_of(&format!(
        "{RPMROOT}/{RPMROOT_REPOSITORY}/hello-script/x86_64"
    ));
    assert!(left.is_empty(), "{left:?}");
}
