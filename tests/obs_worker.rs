//! The real OBS worker drives obsbox: Debian's bs_worker (obs-server 2.9.4, unchanged) with
//! obsbox as its `$statedir/build/build` and its `--hostcheck`
//! (integration/obs-worker/setup-worker.sh), against the loopback stand-in for OBS's source
//! and repository servers (integration/obs-worker/obs_standin.py) serving real Debian
//! packages of the test data.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::data::{copy_tree, list, repo_root, testdata};
use common::obs::agent;
use common::serve::Server;
use common::{obsbox_bin, require_root, stderr_of, stdout_of};

const BS_WORKER: &str = "/usr/lib/obs/server/bs_worker";
const PROJECT: &str = "home:obsbox";
const REPOSITORY: &str = "Debian_12";
/// The base distribution's project and repository on the stand-in.
const BASE: (&str, &str) = ("Debian:12", "main");

/// obsbox's cache for these builds, kept between runs (the store is safe for concurrent
/// runs): only the first build on a machine installs the buildroots.
fn shared_cache() -> PathBuf {
    let dir = testdata().join("obs-worker-cache");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(status, body)` of a GET.
fn get(url: &str) -> (u16, String) {
    let resp = agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.into_body().read_to_string().unwrap())
}

/// The network of this test thread (and what it starts) becomes a private one with only
/// `lo`: bs_worker listens on every address, and nothing of the test may be reachable
/// from outside.
fn private_network() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip link set lo up");
    assert!(status.success());
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The stand-in for OBS's source and repository servers.
struct Standin {
    child: Child,
    port: u16,
    data: PathBuf,
}

impl Standin {
    fn start(data: &Path, log: &Path) -> Standin {
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo_root().join("integration/obs-worker/obs_standin.py"))
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .expect("start obs_standin.py");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        Standin {
            child,
            port,
            data: data.to_path_buf(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A package's `srcmd5` and its files' md5s, as the source server reports them.
    fn source(&self, package: &str) -> (String, Vec<(String, String)>) {
        let (status, body) = get(&format!("{}/source/{PROJECT}/{package}", self.url()));
        assert_eq!(status, 200, "{body}");
        let attr = |text: &str, key: &str| {
            let start = text.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
            text[start..start + text[start..].find('"').unwrap()].to_string()
        };
        let entries = body
            .lines()
            .filter(|l| l.contains("<entry "))
            .map(|l| (attr(l, "name"), attr(l, "md5")))
            .collect();
        (attr(&body, "srcmd5"), entries)
    }

    /// Whether bs_worker uploaded an `n`th result to `/putjob`.
    fn uploaded(&self, n: usize) -> bool {
        self.data.join("putjob").join(n.to_string()).exists()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker's site: the stand-in with the sources, a project config and the base
/// distribution's packages, a loopback repository for obsbox's toolbox, a bs_worker state
/// directory with obsbox as `build`, and obsbox's configuration and state.
struct Site {
    dir: tempfile::TempDir,
    standin: Standin,
    _toolbox_repo: Server,
}

impl Site {
    fn new() -> Site {
        require_root();
        let data_dir = testdata();
        let dir = tempfile::Builder::new()
            .prefix("obsbox-obs-worker-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let binaries = data.join("binaries").join(BASE.0).join(BASE.1);
        fs::create_dir_all(&binaries).unwrap();
        // The base distribution's packages, by file name, as the repository server has them.
        std::os::unix::fs::symlink(data_dir.join("debs/amd64"), binaries.join("x86_64")).unwrap();
        fs::create_dir_all(data.join("sources").join(PROJECT)).unwrap();
        fs::create_dir_all(data.join("config").join(PROJECT)).unwrap();
        fs::create_dir_all(dir.path().join("root")).unwrap();

        let out = Command::new(repo_root().join("integration/obs-worker/setup-worker.sh"))
            .arg(dir.path().join("state"))
            .arg(obsbox_bin())
            .output()
            .unwrap();
        assert!(out.status.success(), "setup-worker.sh: {}", stderr_of(&out));

        let toolbox_repo = Server::serve(&data_dir.join("deb-repo"));
        let config = dir.path().join("config");
        copy_tree(&repo_root().join("runtime-config"), &config);
        let toolbox = config.join("toolbox.toml");
        let text = fs::read_to_string(&toolbox).unwrap();
        fs::write(
            &toolbox,
            format!(
                "repos = [\"{} bookworm main\"]\n{text}",
                toolbox_repo.url("").trim_end_matches('/')
            ),
        )
        .unwrap();
        let standin = Standin::start(&data, &dir.path().join("standin.log"));
        Site {
            dir,
            standin,
            _toolbox_repo: toolbox_repo,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// bs_worker's build root.
    fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// obsbox's state directory (`OBSBOX_ROOT`).
    fn state_root(&self) -> PathBuf {
        self.path("obsbox-state")
    }

    fn with_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("OBSBOX_CONFIG", self.path("config"))
            .env("OBSBOX_CACHE", shared_cache())
            .env("OBSBOX_ROOT", self.state_root())
    }

    fn sources(&self, package: &str) -> PathBuf {
        self.standin
            .data
            .join("sources")
            .join(PROJECT)
            .join(package)
    }

    /// integration/pkgs/hello-obsbox as a Debian source package (a .dsc and its tarball)
    /// in the sources of `package`, with `edit` applied to the tree first.
    fn add_debian(&self, package: &str, edit: impl FnOnce(&Path)) -> String {
        let work = self.path(&format!("src-{package}"));
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
        let dest = self.sources(package);
        fs::create_dir_all(&dest).unwrap();
        for entry in fs::read_dir(&work).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".dsc") || name.contains(".tar.") {
                fs::rename(&path, dest.join(&name)).unwrap();
            }
        }
        "hello-obsbox_1.0.dsc".into()
    }

    /// integration/pkgs/hello-obsbox-rpm (a spec and its plain sources) as `package`.
    fn add_spec(&self, package: &str) -> String {
        copy_tree(
            &repo_root().join("integration/pkgs/hello-obsbox-rpm"),
            &self.sources(package),
        );
        "hello-obsbox.spec".into()
    }

    fn set_project_config(&self, text: &str) {
        fs::write(
            self.standin
                .data
                .join("config")
                .join(PROJECT)
                .join(REPOSITORY),
            text,
        )
        .unwrap();
    }

    /// The buildinfo the OBS scheduler would hand out for `package`: its build
    /// dependencies (`bdeps`, with Debian's required set as preinstall) from the base
    /// distribution, and `extra` elements (constraints).
    fn buildinfo(&self, package: &str, recipe: &str, bdeps: &[String], extra: &str) -> String {
        let (srcmd5, _) = self.standin.source(package);
        let url = self.standin.url();
        let required = list("required.txt");
        let mut deps = String::new();
        for name in bdeps {
            let pre = if required.contains(name) {
                " preinstall=\"1\""
            } else {
                ""
            };
            deps.push_str(&format!(
                "  <bdep name=\"{name}\"{pre} project=\"{}\" repository=\"{}\"/>\n",
                BASE.0, BASE.1
            ));
        }
        format!(
            "<buildinfo project=\"{PROJECT}\" repository=\"{REPOSITORY}\" package=\"{package}\" \
             srcserver=\"{url}\" reposerver=\"{url}\">\n\
             \x20 <job>{PROJECT}::{REPOSITORY}::{package}-{srcmd5}</job>\n\
             \x20 <arch>x86_64</arch>\n\
             \x20 <srcmd5>{srcmd5}</srcmd5>\n\
             \x20 <verifymd5>{srcmd5}</verifymd5>\n\
             \x20 <reason>new build</reason>\n\
             \x20 <file>{recipe}</file>\n\
             \x20 <versrel>1.0-1</versrel>\n\
             \x20 <bcnt>1</bcnt>\n\
             \x20 <release>1.1</release>\n\
             {extra}{deps}\
             \x20 <path project=\"{PROJECT}\" repository=\"{REPOSITORY}\" server=\"{url}\"/>\n\
             \x20 <path project=\"{}\" repository=\"{}\" server=\"{url}\"/>\n\
             </buildinfo>\n",
            BASE.0, BASE.1
        )
    }

    /// `bs_worker --build BUILDINFO`: one job, no daemon.
    fn justbuild(&self, buildinfo: &str, extra_args: &[&str]) -> Output {
        let file = self.path("buildinfo.xml");
        fs::write(&file, buildinfo).unwrap();
        let mut cmd = Command::new(BS_WORKER);
        cmd.arg("--root")
            .arg(self.root())
            .arg("--statedir")
            .arg(self.path("state"))
            .arg("--nobuildupdate")
            .args(["--srcserver", &self.standin.url()])
            .args(["--reposerver", &self.standin.url()])
            .args(extra_args)
            .arg("--build")
            .arg(&file)
            .current_dir("/usr/lib/obs/server");
        self.with_env(&mut cmd).output().unwrap()
    }

    /// bs_worker as a daemon on a loopback port, with `obsbox hostcheck` as its host check.
    fn daemon(&self) -> Daemon {
        let out = self.path("worker.out");
        let mut cmd = Command::new(BS_WORKER);
        cmd.arg("--root")
            .arg(self.root())
            .arg("--statedir")
            .arg(self.path("state"))
            .args(["--id", "obsbox-test:1", "--nobuildupdate"])
            .args(["--srcserver", &self.standin.url()])
            .args(["--reposerver", &self.standin.url()])
            .arg("--hostcheck")
            .arg(self.path("state/hostcheck"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::from(
                fs::File::options().append(true).open(&out).unwrap(),
            ))
            .current_dir("/usr/lib/obs/server");
        let child = self.with_env(&mut cmd).spawn().unwrap();
        let mut port = 0;
        wait_for("the worker to listen", Duration::from_secs(30), || {
            let text = fs::read_to_string(&out).unwrap_or_default();
            port = text
                .split("worker started on port ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            port != 0
        });
        Daemon { child, port, out }
    }
}

/// bs_worker as a daemon (its own session: bs_worker calls setsid).
struct Daemon {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Daemon {
    /// `PUT /build` of a job, as OBS's dispatcher sends it; waits while the worker is still
    /// busy with the previous one. Returns the status and the answer.
    fn put_build(&self, buildinfo: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}/build", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let resp = agent()
                .put(&url)
                .header("Content-Type", "text/xml")
                .send(buildinfo)
                .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
            let status = resp.status().as_u16();
            let reason = resp
                .status()
                .canonical_reason()
                .unwrap_or_default()
                .to_string();
            let body = resp.into_body().read_to_string().unwrap();
            if body.contains("I am not idle") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(300));
                continue;
            }
            return (status, format!("{reason} {body}"));
        }
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(500));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The Debian build's dependencies: Debian's required set and build-essential, closed.
fn deb_bdeps() -> Vec<String> {
    list("all-amd64.txt")
}

/// The work directory, containers, cgroups, mounts and processes of the job `package`:
/// nothing may be left of them.
fn leftovers(site: &Site, package: &str) -> Vec<String> {
    let job = format!("{PROJECT}/{REPOSITORY}/{package}/x86_64").replace([':', '/'], "_");
    common::obs::job_leftovers(&shared_cache().join("jobs"), &site.state_root(), &job)
}

#[test]
fn justbuild_builds_a_debian_package() {
    let site = Site::new();
    let recipe = site.add_debian("hello-obsbox", |_| {});
    let info = site.buildinfo("hello-obsbox", &recipe, &deb_bdeps(), "");
    // What obs-build's chroot build left in the root: --clean removes it.
    for old in [
        "usr/bin/old-tool",
        ".build/build.data",
        ".init_b_cache/rpms/x.deb",
    ] {
        let path = site.root().join(old);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "old").unwrap();
    }
    let out = site.justbuild(&info, &[]);
    let log = fs::read_to_string(site.root().join(".build.log")).unwrap_or_default();
    let worker = format!("{}\n{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{worker}\n{log}");
    for old in ["usr", ".build", ".init_b_cache"] {
        assert!(!site.root().join(old).exists(), "{old} left\n{log}");
    }
    assert!(
        log.contains("--clean: removed 3 entries an earlier build left in"),
        "{log}"
    );
    assert!(worker.contains("build finished 'hello-obsbox'"), "{worker}");
    assert!(
        !worker.contains("build succeeded, but no logfile"),
        "{worker}"
    );

    let packages = site.root().join(".build.packages");
    let deb = packages.join("DEBS/hello-obsbox_1.0_amd64.deb");
    let info = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        info.status.success(),
        "{} is no package:\n{log}",
        deb.display()
    );
    assert!(stdout_of(&info).contains("Package: hello-obsbox"));
    // What bs_worker streams to the web UI: the log as obs-build's, stamped from the start
    // of obsbox's answer to the call, with the roots' packages and the result's listing.
    common::joblog::assert_job_log(&log, &[&deb], &common::job::deb_packages(), None);
    for other in [
        "hello-obsbox_1.0.dsc",
        "hello-obsbox_1.0_amd64.changes",
        "_buildenv",
    ] {
        assert!(
            packages.join("OTHER").join(other).is_file(),
            "OTHER/{other}\n{log}"
        );
    }
    // bs_worker wrote its own statistics over obsbox's.
    let stats = fs::read_to_string(packages.join("OTHER/_statistics")).unwrap();
    assert!(
        stats.contains("<buildstatistics>") && stats.contains("<download>"),
        "{stats}"
    );
    // Nothing else at the top: bs_worker would send it as a result.
    let mut top: Vec<String> = fs::read_dir(&packages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["DEBS", "OTHER", "RPMS", "SRPMS"]);

    // The log: obsbox's notes around the real build, the unit test passing in it.
    assert!(log.contains("runs this job for bs_worker"), "{log}");
    assert!(
        log.contains("obsbox build of home:obsbox/Debian_12/hello-obsbox/x86_64"),
        "{log}"
    );
    assert!(
        log.contains("dpkg-buildpackage: info: source package hello-obsbox"),
        "{log}"
    );
    assert!(log.contains("Hello, OBS, from obsbox!"), "{log}");
    assert!(log.contains("exit code 0 for bs_worker"), "{log}");
    // The buildroot came from the packages bs_worker downloaded into .pkgs.
    assert!(site.root().join(".pkgs/build-essential.deb").is_file());
    assert!(
        leftovers(&site, "hello-obsbox").is_empty(),
        "{:?}",
        leftovers(&site, "hello-obsbox")
    );
}

#[test]
fn justbuild_builds_an_rpm_with_the_project_macros() {
    let site = Site::new();
    let recipe = site.add_spec("hello-rpm");
    // The project config's Macros reach rpmbuild: %vendor becomes the RPM's Vendor tag.
    site.set_project_config(
        "Preinstall: dash\n%ifarch x86_64\nSupport: file\n%endif\n\
         Macros:\n%vendor obsbox test vendor\n:Macros\n",
    );
    let mut bdeps = deb_bdeps();
    bdeps.extend(list("rpm-build.txt"));
    let info = site.buildinfo("hello-rpm", &recipe, &bdeps, "");
    // With bs_worker's package cache: /getbinaryversions first, then /getbinaries.
    let cachedir = site.path("worker-cache");
    fs::create_dir_all(&cachedir).unwrap();
    let cache_args = [
        "--cachedir",
        cachedir.to_str().unwrap(),
        "--cachesize",
        "1000000000",
    ];
    let out = site.justbuild(&info, &cache_args);
    let log = fs::read_to_string(site.root().join(".build.log")).unwrap_or_default();
    assert!(out.status.success(), "{}\n{log}", stderr_of(&out));
    let packages = site.root().join(".build.packages");
    let rpm = packages.join("RPMS/x86_64/hello-obsbox-1.0-1.x86_64.rpm");
    let srpm = packages.join("SRPMS/hello-obsbox-1.0-1.src.rpm");
    assert!(rpm.is_file(), "{log}");
    assert!(srpm.is_file(), "{log}");
    let query = Command::new("rpm")
        .args(["-qp", "--qf", "%{NAME} %{VENDOR}"])
        .arg(&rpm)
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&query),
        "hello-obsbox obsbox test vendor",
        "{log}"
    );
    assert!(log.contains("exit code 0 for bs_worker"), "{log}");
    let standin_log = fs::read_to_string(site.path("standin.log")).unwrap();
    assert!(
        standin_log.contains("GET /getbinaryversions?"),
        "{standin_log}"
    );

    // Again: every package comes from bs_worker's cache, the stand-in's header checksums
    // (obs-build's own) agreeing with the downloaded files.
    let out = site.justbuild(&info, &cache_args);
    let log = fs::read_to_string(site.root().join(".build.log")).unwrap_or_default();
    assert!(out.status.success(), "{}\n{log}", stderr_of(&out));
    assert!(rpm.is_file(), "{log}");
    let stats = fs::read_to_string(packages.join("OTHER/_statistics")).unwrap();
    assert!(
        stats.contains(&format!("<cachehits>{}</cachehits>", bdeps.len())),
        "{stats}"
    );
    assert!(
        leftovers(&site, "hello-rpm").is_empty(),
        "{:?}",
        leftovers(&site, "hello-rpm")
    );
}

#[test]
fn hostcheck_refuses_jobs_this_worker_cannot_build() {
    private_network();
    let site = Site::new();
    let recipe = site.add_debian("hello-obsbox", |_| {});
    // A package whose _constraints ask for more memory than any test machine has.
    site.add_debian("hello-big", |_| {});
    fs::write(
        site.sources("hello-big").join("_constraints"),
        "<constraints>\n  <hardware>\n    <memory>\n      <size unit=\"T\">64</size>\n    </memory>\n  </hardware>\n</constraints>\n",
    )
    .unwrap();
    let daemon = site.daemon();
    let bdeps = ["dash".to_string()];

    // The project config's constraint: not this repository.
    let info = site.buildinfo(
        "hello-obsbox",
        &recipe,
        &bdeps,
        "  <prjconfconstraint>hardware:processors 4096</prjconfconstraint>\n",
    );
    let (status, answer) = daemon.put_build(&info);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("cannot build this repository"), "{answer}");

    // The package's _constraints, read from the source server: not this package.
    let (_, entries) = site.standin.source("hello-big");
    let md5 = &entries.iter().find(|(n, _)| n == "_constraints").unwrap().1;
    let info = site.buildinfo(
        "hello-big",
        &recipe,
        &bdeps,
        &format!("  <constraintsmd5>{md5}</constraintsmd5>\n"),
    );
    let (status, answer) = daemon.put_build(&info);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("cannot build this package"), "{answer}");
    let output = daemon.output();
    assert!(
        output.contains("the package's _constraints hardware:memory"),
        "{output}"
    );
    // Nothing was built.
    assert!(!site.standin.uploaded(1));
    assert!(!site.root().join(".build.packages").exists());

    // The same checks called directly: a job this worker complies with, and a host whose
    // configuration is broken.
    let job = site.path("job.xml");
    fs::write(
        &job,
        site.buildinfo(
            "hello-obsbox",
            &recipe,
            &bdeps,
            "  <prjconfconstraint>hardware:processors 1</prjconfconstraint>\n",
        ),
    )
    .unwrap();
    let hostcheck = |config: &Path, args: &[&str]| {
        let mut cmd = Command::new(site.path("state/hostcheck"));
        site.with_env(&mut cmd)
            .env("OBSBOX_CONFIG", config)
            .args(["--srcserver", &site.standin.url()])
            .arg(&job)
            .args(args)
            .output()
            .unwrap()
    };
    let config = site.path("config");
    let out = hostcheck(&config, &["precheck", site.root().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // A source server that takes the connection and never answers: the check ends within
    // a few seconds (the dispatcher's PUT /build waits about 10 s), says why, and does not
    // hold the job back (the dispatcher has checked its constraints).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    fs::write(
        &job,
        site.buildinfo(
            "hello-big",
            &recipe,
            &bdeps,
            &format!("  <constraintsmd5>{md5}</constraintsmd5>\n"),
        )
        .replace(&site.standin.url(), &silent_url),
    )
    .unwrap();
    let started = Instant::now();
    let out = hostcheck(&config, &["precheck", site.root().to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(took < Duration::from_secs(8), "the check took {took:?}");
    assert!(
        stderr_of(&out).contains(&format!(
            "the source server did not answer GET {silent_url}/source/home:obsbox/hello-big/_constraints"
        )) && stderr_of(&out).contains("within 4 s; the package's _constraints are not checked"),
        "{}",
        stderr_of(&out)
    );
    drop(silent);
    let broken = site.path("broken-config");
    copy_tree(&config, &broken);
    fs::write(broken.join("worker.toml"), "jobs = \"many\"\n").unwrap();
    let out = hostcheck(&broken, &["precheck", site.root().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("worker.toml: jobs must be a positive number"));

    // After a build: a failed build whose log shows a full disk is the host's problem.
    let log = site.path("failed.log");
    fs::write(&log, "[build] x.c:1: error: expected ';'\n").unwrap();
    let out = hostcheck(&config, &["failed", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    fs::write(
        &log,
        "[build] cc1: fatal error: cannot write x.o: No space left on device\n",
    )
    .unwrap();
    let out = hostcheck(&config, &["failed", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("No space left on device"));
}

#[test]
fn build_entry_answers_and_refuses_like_obs_build() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("build");
    std::os::unix::fs::symlink(obsbox_bin(), &build).unwrap();
    let state = dir.path().join("state");
    let run = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .env("OBSBOX_ROOT", &state)
            .env("OBSBOX_CACHE", dir.path().join("cache"))
            .env("OBSBOX_CONFIG", repo_root().join("runtime-config"))
            .output()
            .unwrap()
    };
    let root = dir.path().join("root");
    let root_arg = root.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--root", root_arg, "--frobnicate", "x.dsc"],
            "unknown option --frobnicate",
        ),
        (
            &[
                "--root",
                root_arg,
                "--vm-type",
                "kvm",
                "--vm-disk",
                "/x.img",
                "x.dsc",
            ],
            "--vm-type kvm: obsbox runs builds in its own containers",
        ),
        (&["--clean", "x.dsc"], "--root ROOT is required"),
    ];
    for (args, want) in cases {
        for out in [
            run(&build, args),
            run(&obsbox_bin(), &[&["obs-build"], *args].concat()),
        ] {
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
            assert!(err.contains(want), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
    assert!(!root.exists() && !state.exists());

    // --kill with no build running: nothing to do. --wipe removes the build root.
    fs::create_dir_all(root.join(".pkgs")).unwrap();
    let out = run(&build, &["--root", root_arg, "--kill"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(root.join(".pkgs").is_dir());
    let out = run(&build, &["--root", root_arg, "--wipe"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!root.exists());
    // Never a system directory.
    let out = run(&build, &["--root", "/usr", "--wipe"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("refusing to remove /usr"),
        "{}",
        stderr_of(&out)
    );
    assert!(Path::new("/usr/bin").is_dir());

    // A job that cannot be read fails with its reason in the log bs_worker uploads.
    fs::create_dir_all(root.join(".build-srcdir")).unwrap();
    fs::write(root.join(".build-srcdir/x.dsc"), "").unwrap();
    fs::write(root.join(".build.rpmlist"), "preinstall: dash\n").unwrap();
    let out = run(
        &build,
        &[
            "--root",
            root_arg,
            "--rpmlist",
            root.join(".build.rpmlist").to_str().unwrap(),
            "--logfile",
            root.join(".build.log").to_str().unwrap(),
            "--arch",
            "x86_64",
            root.join(".build-srcdir/x.dsc").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let log = fs::read_to_string(root.join(".build.log")).unwrap();
    assert!(
        log.contains("`preinstall:` names `dash`, which is not listed"),
        "{log}"
    );
    assert!(root.join(".build.packages/OTHER").is_dir());
    assert!(!state.join("obs-build").exists());
}
