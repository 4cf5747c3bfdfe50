//! The real OBS worker asks obsbox: Debian's bs_worker (obs-server 2.9.4, unchanged) with
//! obsbox as its `$statedir/build/build` and its `--hostcheck`
//! (integration/obs-worker/setup-worker.sh), sent jobs the way OBS's dispatcher sends them
//! (`PUT /build`), with a loopback file server as the source server it reads `_constraints`
//! from. Builds through bs_worker are tests/obs_backend.rs's: there a real OBS backend
//! drives the workers. What stays here is what that backend cannot give: OBS's dispatcher
//! never sends a worker a job the worker's constraints exclude, so the host check's refusals
//! (and a source server that never answers) are reached only by sending the jobs directly.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::data::{copy_tree, repo_root, testdata};
use common::obs::agent;
use common::serve::Server;
use common::{exit_and_peak_rss, obsbox_bin, require_root, stderr_of};

const BS_WORKER: &str = "/usr/lib/obs/server/bs_worker";
const PROJECT: &str = "home:obsbox";
const REPOSITORY: &str = "Debian_12";
/// The sources' md5 the jobs name (the file server answers any revision).
const SRCMD5: &str = "0b5c3a9e2f1d4c6b8a7e9f0d1c2b3a4e";

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

/// A worker's site: a loopback file server as the source server (`srv/source/PROJECT/
/// PACKAGE/FILE`), a loopback repository for obsbox's toolbox, a bs_worker state directory
/// with obsbox as `build` and `hostcheck`, and obsbox's configuration, cache and state.
struct Site {
    dir: tempfile::TempDir,
    source_server: Server,
    _toolbox_repo: Server,
}

impl Site {
    fn new() -> Site {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("obsbox-obs-worker-")
            .tempdir()
            .unwrap();
        fs::create_dir_all(dir.path().join("srv/source").join(PROJECT)).unwrap();
        fs::create_dir_all(dir.path().join("root")).unwrap();
        let out = Command::new(repo_root().join("integration/obs-worker/setup-worker.sh"))
            .arg(dir.path().join("state"))
            .arg(obsbox_bin())
            .output()
            .unwrap();
        assert!(out.status.success(), "setup-worker.sh: {}", stderr_of(&out));

        let toolbox_repo = Server::serve(&testdata().join("deb-repo"));
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
        let source_server = Server::serve(&dir.path().join("srv"));
        Site {
            dir,
            source_server,
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

    fn url(&self) -> String {
        self.source_server.url("").trim_end_matches('/').to_string()
    }

    fn with_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("OBSBOX_CONFIG", self.path("config"))
            .env("OBSBOX_CACHE", self.path("cache"))
            .env("OBSBOX_ROOT", self.path("obsbox-state"))
    }

    /// The package's source file `name`, as the source server serves it.
    fn add_source(&self, package: &str, name: &str, text: &str) {
        let dir = self.path("srv/source").join(PROJECT).join(package);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), text).unwrap();
    }

    /// The buildinfo OBS's dispatcher sends for `package` (a Debian package of the base
    /// distribution), with `extra` elements (constraints).
    fn buildinfo(&self, package: &str, extra: &str) -> String {
        let url = self.url();
        format!(
            "<buildinfo project=\"{PROJECT}\" repository=\"{REPOSITORY}\" package=\"{package}\" \
             srcserver=\"{url}\" reposerver=\"{url}\">\n\
             \x20 <job>{PROJECT}::{REPOSITORY}::{package}-{SRCMD5}</job>\n\
             \x20 <arch>x86_64</arch>\n\
             \x20 <srcmd5>{SRCMD5}</srcmd5>\n\
             \x20 <verifymd5>{SRCMD5}</verifymd5>\n\
             \x20 <reason>new build</reason>\n\
             \x20 <file>hello-obsbox_1.0.dsc</file>\n\
             \x20 <versrel>1.0-1</versrel>\n\
             \x20 <bcnt>1</bcnt>\n\
             \x20 <release>1.1</release>\n\
             {extra}\
             \x20 <bdep name=\"dash\" preinstall=\"1\" project=\"Debian:12\" repository=\"main\"/>\n\
             \x20 <path project=\"{PROJECT}\" repository=\"{REPOSITORY}\" server=\"{url}\"/>\n\
             \x20 <path project=\"Debian:12\" repository=\"main\" server=\"{url}\"/>\n\
             </buildinfo>\n"
        )
    }

    /// bs_worker as a daemon on a loopback port, with `obsbox hostcheck` as its host check.
    /// Its state reports to the repository server (the file server) go unanswered, which
    /// it logs and carries on.
    fn daemon(&self) -> Daemon {
        let out = self.path("worker.out");
        let mut cmd = Command::new(BS_WORKER);
        cmd.arg("--root")
            .arg(self.root())
            .arg("--statedir")
            .arg(self.path("state"))
            .args(["--id", "obsbox-test:1", "--nobuildupdate"])
            .args(["--srcserver", &self.url()])
            .args(["--reposerver", &self.url()])
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

#[test]
fn hostcheck_refuses_jobs_this_worker_cannot_build() {
    private_network();
    let site = Site::new();
    // A package whose _constraints ask for more memory than any test machine has.
    site.add_source(
        "hello-big",
        "_constraints",
        "<constraints>\n  <hardware>\n    <memory>\n      <size unit=\"T\">64</size>\n    </memory>\n  </hardware>\n</constraints>\n",
    );
    let daemon = site.daemon();

    // The project config's constraint: not this repository.
    let info = site.buildinfo(
        "hello-obsbox",
        "  <prjconfconstraint>hardware:processors 4096</prjconfconstraint>\n",
    );
    let (status, answer) = daemon.put_build(&info);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("cannot build this repository"), "{answer}");

    // The package's _constraints, read from the source server: not this package.
    // The dispatcher reads _constraints by the md5 the buildinfo names; the worker reads
    // them by the sources' revision.
    let has_constraints = "  <constraintsmd5>5f2b0e7c9d1a3e4b6c8d0f1a2b3c4d5e</constraintsmd5>\n";
    let info = site.buildinfo("hello-big", has_constraints);
    let (status, answer) = daemon.put_build(&info);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("cannot build this package"), "{answer}");
    let output = daemon.output();
    assert!(
        output.contains("the package's _constraints hardware:memory"),
        "{output}"
    );
    // Nothing was built.
    assert!(!output.contains("building '"), "{output}");
    assert!(!site.root().join(".build.packages").exists());

    // The same checks called directly: a job this worker complies with, and a host whose
    // configuration is broken.
    let job = site.path("job.xml");
    fs::write(
        &job,
        site.buildinfo(
            "hello-obsbox",
            "  <prjconfconstraint>hardware:processors 1</prjconfconstraint>\n",
        ),
    )
    .unwrap();
    let hostcheck = |config: &Path, args: &[&str]| {
        let mut cmd = Command::new(site.path("state/hostcheck"));
        site.with_env(&mut cmd)
            .env("OBSBOX_CONFIG", config)
            .args(["--srcserver", &site.url()])
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
        site.buildinfo("hello-big", has_constraints)
            .replace(&site.url(), &silent_url),
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
fn hostcheck_reads_a_huge_buildinfo_in_bounded_memory() {
    // A buildinfo of 31 MB: the host check read it a second time as an element tree for
    // the _constraints fields, which took 449 MB. One streaming pass keeps far below that.
    let site = Site::new();
    site.add_source(
        "hello-big",
        "_constraints",
        "<constraints><hardware><memory><size unit=\"T\">64</size></memory></hardware></constraints>\n",
    );
    site.add_source(
        "hello-obsbox",
        "_constraints",
        "<constraints><hardware><memory><size unit=\"M\">1</size></memory></hardware></constraints>\n",
    );
    let bdeps: String = (0..240_000)
        .map(|i| {
            format!(
                "  <bdep name=\"libgenerated-package-{i:06}\" version=\"1.2.{i}\" release=\"4.5\" \
                 arch=\"x86_64\" project=\"Debian:12\" repository=\"main\"/>\n"
            )
        })
        .collect();
    let extra =
        format!("  <constraintsmd5>5f2b0e7c9d1a3e4b6c8d0f1a2b3c4d5e</constraintsmd5>\n{bdeps}");
    let hostcheck = |package: &str| {
        let job = site.path(&format!("{package}.xml"));
        fs::write(&job, site.buildinfo(package, &extra)).unwrap();
        assert!(fs::metadata(&job).unwrap().len() > 30 << 20);
        let mut cmd = Command::new(site.path("state/hostcheck"));
        site.with_env(&mut cmd)
            .arg(&job)
            .args(["precheck", site.root().to_str().unwrap()]);
        exit_and_peak_rss(&mut cmd)
    };
    // The package's _constraints are found from the streamed fields (srcserver, srcmd5,
    // constraintsmd5): a worker without 64 TiB cannot build it, any worker the other.
    for (package, want) in [("hello-obsbox", 0), ("hello-big", 1)] {
        let (code, peak_kib, _) = hostcheck(package);
        assert_eq!(code, Some(want), "{package}");
        assert!(
            peak_kib < 100 << 10,
            "{package}: the host check peaked at {} MiB",
            peak_kib >> 10
        );
    }
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
