//! Roots from real repositories: Debian's build-essential closure and RPMs built here with
//! rpmbuild, served over HTTP on loopback (made by `integration/testdata.sh`).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::data::{list, testdata};
use common::rootfs::{Create, Obsbox, rpm_toolbox};
use common::serve::Server;
use common::{stderr_of, stdout_of, tree};
use obsbox::packages::{deb, extract::Extractor, extract::Options, rpm::RpmPackage};

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_with_ext(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_test_deb_extracts_like_dpkg_deb() {
    let data = testdata();
    // The buildroot and toolbox closures (the callbacks' big toolboxes add hundreds of
    // packages of the same kinds; they are unpacked by the callback tests).
    let names: std::collections::HashSet<String> = [
        "all-amd64.txt",
        "rpm-build.txt",
        "fakeroot.txt",
        "toolbox.txt",
    ]
    .iter()
    .flat_map(|l| common::data::list(l))
    .collect();
    let mut debs: Vec<_> = files_with_ext(&data.join("debs/amd64"), "deb")
        .into_iter()
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            names.contains(file.split('_').next().unwrap())
        })
        .collect();
    debs.extend(files_with_ext(&data.join("debs/arm64"), "deb"));
    assert!(
        debs.len() > 100,
        "expected the build-essential closure, found {} .debs",
        debs.len()
    );
    let scratch = tempfile::tempdir().unwrap();
    // Four at a time: each package is unpacked twice and both trees are hashed.
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(deb_path) = debs.get(i) else { break };
                    let ours = scratch.path().join(format!("{i}-obsbox"));
                    let theirs = scratch.path().join(format!("{i}-dpkg"));
                    deb::extract(deb_path, &ours, Options::default()).unwrap();
                    let status = Command::new("dpkg-deb")
                        .arg("-x")
                        .arg(deb_path)
                        .arg(&theirs)
                        .status()
                        .unwrap();
                    assert!(status.success());
                    let differences = tree::diff(&tree::describe(&theirs), &tree::describe(&ours));
                    assert!(
                        differences.is_empty(),
                        "{}: {differences:#?}",
                        deb_path.display()
                    );
                    fs::remove_dir_all(&ours).unwrap();
                    fs::remove_dir_all(&theirs).unwrap();
                }
            });
        }
    });
}

#[test]
fn every_test_rpm_extracts_like_rpm2cpio() {
    let rpms = files_with_ext(&testdata().join("rpm-repo"), "rpm");
    assert!(
        rpms.len() >= 3,
        "expected the test RPMs, found {}",
        rpms.len()
    );
    let scratch = tempfile::tempdir().unwrap();
    for (i, rpm_path) in rpms.iter().enumerate() {
        let ours = scratch.path().join(format!("{i}-obsbox"));
        let theirs = scratch.path().join(format!("{i}-cpio"));
        let package = RpmPackage::open(rpm_path).unwrap();
        let mut extractor = Extractor::new(&ours, "test", Options::default()).unwrap();
        package.extract(&mut extractor).unwrap();
        extractor.finish().unwrap();
        fs::create_dir_all(&theirs).unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg("rpm2cpio \"$1\" | cpio -idm --quiet")
            .arg("sh")
            .arg(rpm_path)
            .current_dir(&theirs)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "rpm2cpio | cpio of {}",
            rpm_path.display()
        );
        // cpio does not set file capabilities; obsbox does, from the header. Compare the
        // rest, then check the capabilities against rpm's own view.
        // cpio leaves a symlink's own mtime alone; obsbox sets it, as tar and dpkg do.
        let mut their_tree = tree::describe(&theirs);
        let mut our_tree = tree::describe(&ours);
        for node in their_tree.values_mut().chain(our_tree.values_mut()) {
            if node.kind == "symlink" {
                node.mtime = None;
            }
        }
        for (path, node) in our_tree.iter_mut() {
            if let Some(cap) = node.capability.take() {
                let file = package
                    .files
                    .iter()
                    .find(|f| f.path.trim_start_matches('/') == path)
                    .unwrap();
                let text = file
                    .capability
                    .as_deref()
                    .expect("a capability the header names");
                assert_eq!(
                    cap,
                    obsbox::packages::rpm::capability_xattr(text).unwrap(),
                    "{path}"
                );
            }
        }
        let differences = tree::diff(&their_tree, &our_tree);
        assert!(
            differences.is_empty(),
            "{}: {differences:#?}",
            rpm_path.display()
        );
    }
}

#[test]
fn debian_root_over_http_then_from_the_cache() {
    let data = testdata();
    let server = Server::serve(&data.join("deb-repo"));
    let repo = format!("{} bookworm main", server.url("").trim_end_matches('/'));
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let names = data.join("lists/build-essential.txt");
    let first = work.path().join("first");
    // The build-essential list from the loopback repository into `out`.
    let create = |out: &Path| {
        obsbox.ok(&Create::new("amd64")
            .repo(&repo)
            .packages_from(&names)
            .out(out)
            .args())
    };
    let (_, err) = create(&first);
    assert!(err.contains("built"), "{err}");
    for file in [
        "usr/bin/make",
        "usr/bin/x86_64-linux-gnu-gcc-12",
        "lib/x86_64-linux-gnu/libc.so.6",
    ] {
        assert!(first.join(file).exists(), "{file} missing from the root");
    }
    // Every requested package is in the root: dpkg-deb -x of each of its files would agree.
    let second = work.path().join("second");
    let (_, err) = create(&second);
    assert!(err.contains("from the cache"), "{err}");
    let differences = tree::diff(&tree::describe(&first), &tree::describe(&second));
    assert!(differences.is_empty(), "{differences:#?}");

    // Another file system than the cache (tmpfs): copied instead of linked, same tree.
    let tmpfs = tempfile::tempdir_in("/dev/shm").unwrap();
    let third = tmpfs.path().join("third");
    create(&third);
    let differences = tree::diff(&tree::describe(&first), &tree::describe(&third));
    assert!(differences.is_empty(), "{differences:#?}");
    drop(tmpfs);

    let (ls, _) = obsbox.ok(&["cache", "ls"]);
    assert!(ls.contains("gcc-12="), "{ls}");
    assert!(ls.contains("rootfs"), "{ls}");
    // The repository's index, decompressed once, kept for the next read.
    assert!(ls.contains("repository index"), "{ls}");
    // A root a job runs on (an overlay over the cached root) outlives a gc that takes
    // its packages: the root goes with the next gc once nothing runs on it.
    let mounted = work.path().join("mounted");
    obsbox.ok(&Create::new("amd64")
        .repo(&repo)
        .packages_from(&names)
        .out(&mounted)
        .flag("--mount")
        .args());
    let make = fs::read(first.join("usr/bin/make")).unwrap();
    let (gc, _) = obsbox.ok(&["cache", "gc", "--max-size", "0"]);
    assert!(gc.starts_with("removed "), "{gc}");
    assert_eq!(
        fs::read(mounted.join("usr/bin/make")).unwrap(),
        make,
        "the mounted root lost its files"
    );
    let (ls, _) = obsbox.ok(&["cache", "ls"]);
    assert!(ls.contains("rootfs"), "the root in use stays: {ls}");
    nix::mount::umount2(&mounted, nix::mount::MntFlags::empty()).unwrap();
    obsbox.ok(&["cache", "gc", "--max-size", "0"]);
    let (ls, _) = obsbox.ok(&["cache", "ls"]);
    assert_eq!(ls.lines().count(), 2, "header and total only: {ls}");
    // The roots made from the cache keep their files (hard links outlive the store).
    assert!(first.join("usr/bin/make").exists());
}

/// A warm root skips the repository's index when its `Release` is the same as last time
/// (the resolution is remembered); a changed suite is read and resolved again.
#[test]
fn a_changed_suite_is_resolved_again() {
    use sha2::Digest as _;
    let data = testdata();
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("repo");
    let index_dir = repo_dir.join("dists/bookworm/main/binary-amd64");
    fs::create_dir_all(&index_dir).unwrap();
    std::os::unix::fs::symlink(data.join("deb-repo/pool"), repo_dir.join("pool")).unwrap();
    let packages =
        fs::read_to_string(data.join("deb-repo/dists/bookworm/main/binary-amd64/Packages"))
            .unwrap();
    // The suite with `index` as its only Packages index, and a Release naming it.
    let publish = |index: &str| {
        fs::write(index_dir.join("Packages"), index).unwrap();
        let release = format!(
            "Suite: bookworm\nArchitectures: amd64\nComponents: main\nSHA256:\n {} {} main/binary-amd64/Packages\n",
            hex::encode(sha2::Sha256::digest(index.as_bytes())),
            index.len()
        );
        fs::write(repo_dir.join("dists/bookworm/Release"), release).unwrap();
    };
    publish(&packages);
    let obsbox = Obsbox::new();
    let repo = format!("file://{} bookworm main", repo_dir.display());
    /// The roots mounted so far, unmounted however the test ends.
    struct Mounted(Vec<PathBuf>);
    impl Drop for Mounted {
        fn drop(&mut self) {
            for out in &self.0 {
                let _ = nix::mount::umount2(out, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
    let mut mounted = Mounted(Vec::new());
    let mut create = |n: usize| {
        let out = work.path().join(format!("root{n}"));
        let result = obsbox.output(&[
            "rootfs",
            "create",
            "--arch",
            "amd64",
            "--repo",
            &repo,
            "--install",
            "libc6",
            "--out",
            out.to_str().unwrap(),
            "--mount",
        ]);
        if result.status.success() {
            mounted.0.push(out.clone());
        }
        (result.status.success(), stderr_of(&result), out)
    };
    let (ok, err, _) = create(1);
    assert!(ok && err.contains("built"), "{err}");
    let (ok, err, out) = create(2);
    assert!(ok && err.contains("from the cache"), "{err}");
    assert!(out.join("lib/x86_64-linux-gnu/libc.so.6").exists());
    // The suite no longer offers libc6: the request fails instead of getting the root
    // resolved before.
    let without: String = packages
        .split("\n\n")
        .filter(|p| !p.starts_with("Package: libc6\n"))
        .collect::<Vec<_>>()
        .join("\n\n");
    assert_ne!(without.len(), packages.len());
    publish(&without);
    let (ok, err, _) = create(3);
    assert!(!ok && err.contains("libc6"), "{err}");
    // Back as it was: the cached root again.
    publish(&packages);
    let (ok, err, _) = create(4);
    assert!(ok && err.contains("from the cache"), "{err}");
    for out in std::mem::take(&mut mounted.0) {
        nix::mount::umount2(&out, nix::mount::MntFlags::empty()).unwrap();
    }
}

#[test]
fn rpm_md_root_over_http() {
    let data = testdata();
    let server = Server::serve(&data.join("rpm-repo"));
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("root");
    let rpms = list("rpms.txt");
    let top = rpms
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .find(|n| n.ends_with("-tools"))
        .expect("a tools package among the test RPMs");
    let (_, err) = obsbox.ok(&Create::new("x86_64")
        .repo(server.url(""))
        .install(&[&top])
        .out(&out)
        .args());
    assert!(err.contains("built"), "{err}");
    // The root holds more than the one package: its requirements came along.
    let packages: Vec<String> = fs::read_dir(obsbox.cache.path().join("store"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path().join("info.json")).unwrap())
        .collect();
    assert!(packages.len() >= 2, "{packages:#?}");
}

#[test]
fn unresolvable_and_broken_requests_are_one_clear_line() {
    let data = testdata();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("root");
    let repo = format!("{} bookworm main", data.join("deb-repo").display());
    let run = |args: &[&str]| {
        let out = obsbox.output(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr_of(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        err
    };
    let create = || Create::new("amd64");
    let err = run(&create()
        .repo(&repo)
        .install(&["no-such-package"])
        .out(&out)
        .args());
    assert!(err.contains("no-such-package"), "{err}");
    let err = run(&create()
        .repo("/nonexistent/repo")
        .install(&["make"])
        .out(&out)
        .args());
    assert!(err.contains("/nonexistent/repo"), "{err}");
    let list = work.path().join("names.txt");
    fs::write(&list, "make\nthis has spaces\n").unwrap();
    let err = run(&create().repo(&repo).packages_from(&list).out(&out).args());
    assert!(err.contains("names.txt:2"), "{err}");
    assert!(!out.exists(), "nothing written on failure");
}

#[test]
fn install_mode_root_runs_gcc_and_dpkg_knows_every_package() {
    let data = testdata();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let mut wanted = list("build-essential.txt");
    wanted.extend(list("required.txt"));
    let out = install_root(&obsbox, &data, work.path(), &wanted, &[]);
    let bundle = work.path().join("bundle");
    fs::create_dir(&bundle).unwrap();
    obsbox.ok(&["spec", "--bundle", bundle.to_str().unwrap()]);
    let run_in_root = |args: &[&str]| -> String {
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
        config["root"]["path"] = out.to_str().unwrap().into();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(args);
        fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let (stdout, _) =
            obsbox.ok(&["run", "--bundle", bundle.to_str().unwrap(), "install-check"]);
        stdout
    };
    let gcc = run_in_root(&["gcc", "--version"]);
    assert!(gcc.starts_with("gcc (Debian 12"), "{gcc}");
    // dpkg knows every package of the resolved set as installed ("ii"), at its version.
    let listed = run_in_root(&[
        "dpkg-query",
        "-W",
        "-f",
        "${db:Status-Abbrev} ${Package}=${Version}\n",
    ]);
    let roots: Vec<PathBuf> = fs::read_dir(obsbox.cache.path().join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(roots.len(), 1);
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(roots[0].join("info.json")).unwrap()).unwrap();
    let set = info["packages"].as_array().unwrap();
    assert!(set.len() > 140, "{set:?}");
    for nevra in set {
        let (name_version, _arch) = nevra.as_str().unwrap().rsplit_once('.').unwrap();
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with("ii ") && l.ends_with(&format!(" {name_version}"))),
            "{name_version} is not installed:\n{listed}"
        );
    }
    for name in ["gcc", "g++", "dpkg-dev", "libc6-dev", "build-essential"] {
        assert!(
            listed.contains(&format!(" {name}=")),
            "{name} missing:\n{listed}"
        );
    }
}

/// Extract mode runs no maintainer script; what base-passwd's would make (/etc/passwd and
/// /etc/group from its masters) is copied in, as files of the root's own: the store's
/// masters keep their content and their inode.
#[test]
fn extract_root_gets_passwd_and_group_from_base_passwd() {
    let data = testdata();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("root");
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    obsbox.ok(&Create::new("amd64")
        .repo(&repo)
        .install(&["base-passwd"])
        .mode("extract")
        .out(&out)
        .args());
    let master = out.join("usr/share/base-passwd/passwd.master");
    let passwd = fs::read_to_string(out.join("etc/passwd")).unwrap();
    assert_eq!(passwd, fs::read_to_string(&master).unwrap());
    assert!(passwd.starts_with("root:"), "{passwd}");
    let group = fs::read_to_string(out.join("etc/group")).unwrap();
    assert!(group.starts_with("root:"), "{group}");
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    assert_ne!(ino(&master), ino(&out.join("etc/passwd")));
}

/// An `install`-mode rpm root, as OBS's init_buildsystem makes one: the files come from
/// the store, rpm registers every package of the set in the root's database, and the
/// `%pre` and `%post` scriptlets run inside the root. The test RPMs have no rpm of their
/// own, so a host-arch toolbox (Debian's rpm, extracted) registers them.
#[test]
fn rpm_install_mode_registers_the_set_and_runs_scriptlets() {
    let data = testdata();
    let server = Server::serve(&data.join("rpm-repo"));
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let toolbox = work.path().join("toolbox");
    obsbox.ok(&rpm_toolbox(&common::job::file_deb_repo(), &[], &toolbox).args());
    let create = |out: &Path, toolbox: Option<&Path>| {
        let create = Create::new("x86_64")
            .mode("install")
            .repo(server.url(""))
            .install(&["obsbox-test-base"])
            .out(out);
        obsbox.create(&match toolbox {
            Some(toolbox) => create.toolbox(toolbox),
            None => create,
        })
    };

    // Without rpm in the set or a toolbox there is nothing to register the packages with.
    let out = work.path().join("no-rpm");
    let failed = create(&out, None);
    assert!(!failed.status.success());
    let err = stderr_of(&failed);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--toolbox"), "{err}");

    let root = work.path().join("root");
    let done = create(&root, Some(&toolbox));
    assert!(done.status.success(), "{}", stderr_of(&done));
    assert!(stderr_of(&done).contains("built"), "{}", stderr_of(&done));
    let rpm = |args: &[&str]| {
        Command::new("rpm")
            .args(["--root", root.to_str().unwrap(), "--dbpath", "/var/lib/rpm"])
            .args(args)
            .output()
            .unwrap()
    };
    let qa = rpm(&["-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"]);
    let mut installed: Vec<String> = String::from_utf8_lossy(&qa.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    installed.sort();
    assert_eq!(
        installed,
        [
            "obsbox-test-base-1.4-3.x86_64",
            "obsbox-test-shell-1.35.0-1.x86_64"
        ],
        "{}",
        stderr_of(&qa)
    );
    // The files on disk are the ones the database knows (size, digest, mode, owner, mtime).
    let verify = rpm(&["-V", "obsbox-test-base", "obsbox-test-shell"]);
    assert!(
        verify.status.success(),
        "rpm -V: {}{}",
        stdout_of(&verify),
        stderr_of(&verify)
    );
    // %pre ran before %post, each once, with rpm's `$1` of a first install.
    assert_eq!(
        fs::read_to_string(root.join("obsbox-test-scripts.log")).unwrap(),
        "base pre 1\nbase post 1\n"
    );
    assert!(
        !root.join(".obsbox-install").exists(),
        "staging left in the root"
    );

    // The same set again comes from the cache.
    let again = work.path().join("again");
    let cached = create(&again, Some(&toolbox));
    assert!(cached.status.success(), "{}", stderr_of(&cached));
    assert!(
        stderr_of(&cached).contains("from the cache"),
        "{}",
        stderr_of(&cached)
    );
    assert!(again.join("var/lib/rpm").is_dir());
}

/// Real bookworm packages fetched with apt at test time (kept in the test cache): the
/// directory holding them, a plain repository of `.deb` files.
fn apt_downloaded(dir_name: &str, packages: &[&str]) -> PathBuf {
    let dir = common::data::test_cache().join(dir_name);
    fs::create_dir_all(&dir).unwrap();
    let have = |name: &str| {
        fs::read_dir(&dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}_"))
        })
    };
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !have(p)).collect();
    if !missing.is_empty() {
        common::run_ok(
            Command::new("apt-get")
                .arg("download")
                .args(&missing)
                .current_dir(&dir),
        );
    }
    dir
}

/// An install-mode amd64 root of `wanted` at `work/root`, from the test Debian repository
/// and the local repositories `extra`.
fn install_root(
    obsbox: &Obsbox,
    data: &Path,
    work: &Path,
    wanted: &[String],
    extra: &[&Path],
) -> PathBuf {
    let out = work.join("root");
    let names = work.join("names.txt");
    fs::write(&names, wanted.join("\n")).unwrap();
    let repo = format!("file://{} bookworm main", data.join("deb-repo").display());
    let create = Create::new("amd64").mode("install").repo(&repo);
    let create = extra.iter().fold(create, |c, dir| c.repo(dir));
    obsbox.ok(&create.packages_from(&names).out(&out).args());
    out
}

/// Maintainer scripts run in dpkg's order: a package's preinst runs before its own files
/// are unpacked. libklibc-dev's preinst removes /usr/lib/klibc/include/{linux,asm,…} when
/// they are directories (following symlinks: the ones it ships lead to linux-libc-dev's
/// directories); run after its files were laid down, it deleted its own symlinks, klcc
/// then failed and mksh built without klibc.
#[test]
fn a_preinst_runs_before_its_package_is_unpacked() {
    let data = testdata();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let klibc = apt_downloaded("klibc-order", &["libklibc", "libklibc-dev"]);
    let mut wanted = list("required.txt");
    wanted.extend(["libklibc-dev".to_string(), "linux-libc-dev".to_string()]);
    let out = install_root(&obsbox, &data, work.path(), &wanted, &[&klibc]);
    for link in ["linux", "asm", "asm-generic"] {
        let path = out.join("usr/lib/klibc/include").join(link);
        let meta =
            fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            meta.file_type().is_symlink(),
            "{} is no symlink",
            path.display()
        );
    }
    assert!(out.join("usr/lib/klibc/include/linux/types.h").is_file());
    // The install log shows the preinst ran (and before configure).
    let logs: Vec<PathBuf> = fs::read_dir(obsbox.cache.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let log = fs::read_to_string(&logs[0]).unwrap();
    let preinst = log.find("preinst install of libklibc-dev").expect(&log);
    let configured = log.find("Setting up libklibc-dev").expect(&log);
    assert!(preinst < configured, "{log}");
}

/// The most memory `rootfs create` may take, whatever its repositories' indexes hold: 200 MB.
const MAX_RSS_KIB: i64 = 200_000_000 / 1024;

/// `rootfs create` of `install` from `repo` for `arch`: whether it succeeded, its peak RSS in
/// KiB and its stderr. The kernel counts in a child's peak what the test process held when
/// it started it, so the hostile indexes are written as they are made, never held.
fn create_measured(arch: &str, repo: &str, install: &[&str]) -> (bool, i64, String) {
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let create = Create::new(arch)
        .repo(repo)
        .install(install)
        .out(&work.path().join("root"));
    let mut args = vec!["--cache", obsbox.cache.path().to_str().unwrap()];
    args.extend(create.args());
    let started = std::time::Instant::now();
    let (code, peak_kib, err) = common::exit_and_peak_rss(&mut obsbox.runtime.command(&args));
    eprintln!(
        "rootfs create from {repo}: exit {code:?} after {:.2} s, peak {} MiB",
        started.elapsed().as_secs_f64(),
        peak_kib >> 10
    );
    (code == Some(0), peak_kib, err)
}

/// An index written at `path` (`head`, then what `extra` writes, then `tail`), with its
/// SHA256 (hex) and size.
fn write_index(
    path: &Path,
    head: &[u8],
    extra: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    tail: &[u8],
) -> (String, u64) {
    use std::io::Write as _;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = std::io::BufWriter::new(fs::File::create(path).unwrap());
    out.write_all(head).unwrap();
    extra(&mut out).unwrap();
    out.write_all(tail).unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    // sha256sum: the test binary's own SHA256 is unoptimized, seconds for 100 MB.
    let sum = stdout_of(&common::run_ok(Command::new("sha256sum").arg(path)));
    let sum = sum.split_whitespace().next().unwrap().to_string();
    (sum, fs::metadata(path).unwrap().len())
}

/// A Debian suite at `dir` whose amd64 `Packages` is the test repository's followed by what
/// `extra` writes; its packages' files are the test repository's.
fn debian_suite_with(
    dir: &Path,
    extra: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> String {
    let data = testdata().join("deb-repo");
    let real = fs::read(data.join("dists/bookworm/main/binary-amd64/Packages")).unwrap();
    let (sum, size) = write_index(
        &dir.join("dists/bookworm/main/binary-amd64/Packages"),
        &[&real[..], b"\n"].concat(),
        extra,
        b"",
    );
    fs::write(
        dir.join("dists/bookworm/Release"),
        format!(
            "Suite: bookworm\nArchitectures: amd64\nComponents: main\nSHA256:\n {sum} {size} \
             main/binary-amd64/Packages\n"
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(data.join("pool"), dir.join("pool")).unwrap();
    format!("{} bookworm main", dir.display())
}

/// Writes `count` amd64 packages `{prefix}{i}`, each with `field: ` and `per` relations
/// `{names}{i}x{j}` (no field when `per` is 0).
fn deb_packages(
    out: &mut dyn std::io::Write,
    prefix: &str,
    count: usize,
    (field, per, names): (&str, usize, &str),
) -> std::io::Result<()> {
    for i in 0..count {
        write!(
            out,
            "Package: {prefix}{i}\nVersion: 1\nArchitecture: amd64\nFilename: x.deb\n"
        )?;
        if per > 0 {
            write!(out, "{field}: ")?;
            for j in 0..per {
                write!(out, "{names}{i}x{j}, ")?;
            }
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Asserts a refusal of the index at `index`: one line naming it and the bound.
fn assert_index_refused(err: &str, index: &Path) {
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!(
            "repository index {} holds more than",
            index.display()
        )) && err
            .contains("over the bound of 140 MiB, which OBSBOX_INDEX_MEMORY sets); refusing it"),
        "{err}"
    );
}

/// The operator sets the bound with OBSBOX_INDEX_MEMORY (MiB): the test repository's index
/// (813 packages, ≈ 1.5 MiB parsed) is refused under 1 MiB and read under the default, and
/// a value that is not a number of MiB is one line naming the variable.
#[test]
fn the_index_bound_is_the_operators_to_set() {
    let data = testdata().join("deb-repo");
    let repo = format!("{} bookworm main", data.display());
    let create = |bound: Option<&str>| {
        let obsbox = Obsbox::new();
        let work = tempfile::tempdir().unwrap();
        let create = Create::new("amd64")
            .repo(&repo)
            .install(&["base-files"])
            .out(&work.path().join("root"));
        let mut args = vec!["--cache", obsbox.cache.path().to_str().unwrap()];
        args.extend(create.args());
        let mut command = obsbox.runtime.command(&args);
        if let Some(bound) = bound {
            command.env("OBSBOX_INDEX_MEMORY", bound);
        }
        let out = command.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = create(Some("1"));
    assert!(!ok);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("binary-amd64/Packages holds more than")
            && err
                .contains("over the bound of 1 MiB, which OBSBOX_INDEX_MEMORY sets); refusing it"),
        "{err}"
    );
    let (ok, err) = create(None);
    assert!(ok, "{err}");
    let (ok, err) = create(Some("lots"));
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        "obsbox: error: OBSBOX_INDEX_MEMORY: expected a number of MiB from 1 to 1048576, got `lots`"
    );
}

/// Hostile Debian indexes (well within the 1 GiB an index may expand to, quick to make):
/// many tiny relations, many tiny packages, huge `Provides`. Each is refused in one line, or
/// the root is made, and `rootfs create` stays below 200 MB either way.
#[test]
fn hostile_debian_indexes_are_refused_or_resolved_in_bounded_memory() {
    let work = tempfile::tempdir().unwrap();
    let none = ("", 0, "");
    // (name, wide packages, tiny packages, the wide ones' field).
    type Case<'a> = (&'a str, usize, usize, (&'a str, usize, &'a str));
    let cases: [Case; 3] = [
        // 2,000,000 relations in 20 packages.
        ("relations", 20, 0, ("Depends", 100_000, "r")),
        // 600,000 packages of nothing.
        ("packages", 0, 600_000, none),
        // 1,500,000 provided names in 15 packages.
        ("provides", 15, 0, ("Provides", 100_000, "v")),
    ];
    for (name, wide, tiny, field) in cases {
        let repo = debian_suite_with(&work.path().join(name), |out| {
            deb_packages(out, "wide", wide, field)?;
            deb_packages(out, "tiny", tiny, none)
        });
        let (ok, peak_kib, err) = create_measured("amd64", &repo, &["base-files"]);
        assert!(!ok, "{name}: {err}");
        let index = work
            .path()
            .join(name)
            .join("dists/bookworm/main/binary-amd64/Packages");
        assert_index_refused(&err, &index);
        assert!(peak_kib < MAX_RSS_KIB, "{name}: {} MiB", peak_kib >> 10);
    }
    // Just under the bound: 150,000 tiny packages and 300,000 provided names beside the real
    // ones; the root is made.
    let repo = debian_suite_with(&work.path().join("under"), |out| {
        deb_packages(out, "tiny", 150_000, none)?;
        deb_packages(out, "virtual", 10, ("Provides", 30_000, "v"))
    });
    let (ok, peak_kib, err) = create_measured("amd64", &repo, &["base-files"]);
    assert!(ok, "{err}");
    assert!(
        peak_kib < MAX_RSS_KIB,
        "under the bound: {} MiB",
        peak_kib >> 10
    );
    // The worst found: an index just under the bound (54,000 packages of ten dependencies
    // with alternatives, 1,080,000 relations) and a request whose resolution reaches its own
    // bound on the relations it follows.
    let n = 54_000;
    let repo = debian_suite_with(&work.path().join("web"), |out| {
        for i in 0..n {
            write!(
                out,
                "Package: p{i}\nVersion: 1\nArchitecture: amd64\nFilename: x.deb\nDepends: "
            )?;
            for k in 1..=10 {
                write!(out, "p{} | q{k}, ", (i * 7 + k * 13) % n)?;
            }
            writeln!(out, "\n")?;
        }
        Ok(())
    });
    let (ok, peak_kib, err) = create_measured("amd64", &repo, &["p0"]);
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        "obsbox: error: dependency resolution of p0 follows more than 30000 dependencies \
         and conflicts; refused"
    );
    assert!(peak_kib < MAX_RSS_KIB, "web: {} MiB", peak_kib >> 10);
}

/// An rpm-md repository at `dir` whose primary (uncompressed) is the test repository's with
/// the packages `extra` writes before its end; its packages' files are the test repository's.
fn rpmmd_with(
    dir: &Path,
    extra: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> PathBuf {
    let data = testdata().join("rpm-repo");
    let gz = files_with_ext(&data.join("repodata"), "gz")
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
        .expect("a primary.xml.gz in the test rpm repository");
    let mut primary = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(fs::File::open(gz).unwrap()),
        &mut primary,
    )
    .unwrap();
    let (head, tail) = primary.split_at(primary.rfind("</metadata>").unwrap());
    let (sum, size) = write_index(
        &dir.join("repodata/primary.xml"),
        head.as_bytes(),
        extra,
        tail.as_bytes(),
    );
    fs::write(
        dir.join("repodata/repomd.xml"),
        format!(
            "<repomd xmlns=\"http://linux.duke.edu/metadata/repo\"><data type=\"primary\">\
             <checksum type=\"sha256\">{sum}</checksum><location href=\"repodata/primary.xml\"/>\
             <size>{size}</size></data></repomd>\n"
        ),
    )
    .unwrap();
    for arch in ["x86_64", "noarch"] {
        std::os::unix::fs::symlink(data.join(arch), dir.join(arch)).unwrap();
    }
    dir.to_path_buf()
}

/// Writes `count` noarch packages `{prefix}{i}`, each with `per` elements `item(j)` in its
/// `<format>`.
fn rpm_packages(
    out: &mut dyn std::io::Write,
    prefix: &str,
    count: usize,
    per: usize,
    item: impl Fn(&mut dyn std::io::Write, usize) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for i in 0..count {
        write!(
            out,
            "<package type=\"rpm\"><name>{prefix}{i}</name><arch>noarch</arch>\
             <version ver=\"1\" rel=\"1\"/><location href=\"x.rpm\"/><format>"
        )?;
        for j in 0..per {
            item(out, j)?;
        }
        writeln!(out, "</format></package>")?;
    }
    Ok(())
}

/// Hostile rpm-md primaries: one package of 2,000,000 tiny provides, many tiny packages,
/// a package of 2,000,000 files; each refused in one line, or the root made, below 200 MB.
#[test]
fn hostile_rpm_md_primaries_are_refused_or_resolved_in_bounded_memory() {
    let work = tempfile::tempdir().unwrap();
    let top = list("rpms.txt")
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .find(|n| n.ends_with("-tools"))
        .expect("a tools package among the test RPMs");
    type Item = fn(&mut dyn std::io::Write, usize) -> std::io::Result<()>;
    let entry: Item = |out, j| {
        write!(
            out,
            "<rpm:provides><rpm:entry name=\"a{j}\"/></rpm:provides>"
        )
    };
    let file: Item = |out, j| write!(out, "<file>/f/{j}</file>");
    let nothing: Item = |_, _| Ok(());
    for (name, count, per, item) in [
        ("entries", 1, 2_000_000, entry),
        ("packages", 500_000, 0, nothing),
        ("files", 1, 2_000_000, file),
    ] {
        let repo = rpmmd_with(&work.path().join(name), |out| {
            rpm_packages(out, name, count, per, item)
        });
        let (ok, peak_kib, err) = create_measured("x86_64", repo.to_str().unwrap(), &[&top]);
        assert!(!ok, "{name}: {err}");
        assert_index_refused(&err, &repo.join("repodata/primary.xml"));
        assert!(peak_kib < MAX_RSS_KIB, "{name}: {} MiB", peak_kib >> 10);
    }
    // Under the bound: 150,000 tiny packages beside the real ones; the root is made.
    let repo = rpmmd_with(&work.path().join("under"), |out| {
        rpm_packages(out, "tiny", 150_000, 0, nothing)
    });
    let (ok, peak_kib, err) = create_measured("x86_64", repo.to_str().unwrap(), &[&top]);
    assert!(ok, "{err}");
    assert!(
        peak_kib < MAX_RSS_KIB,
        "under the bound: {} MiB",
        peak_kib >> 10
    );
}
