//! The job readers on files as OBS and users write them: buildinfo XML, `.build.rpmlist`
//! and `job.toml`, read through `job::load` from temporary directories.

use std::fs;
use std::path::{Path, PathBuf};

use obsbox::job::{self, Bdep, Check, Job, RepoRef};
use obsbox::model::Arch;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// The error of loading `path`, as one line with its causes.
fn load_err(path: &Path) -> String {
    let e = format!("{:#}", job::load(path).unwrap_err());
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(
        e.starts_with(&path.display().to_string()),
        "names the file: {e}"
    );
    e
}

fn repo(project: &str, repository: &str, url: &str) -> RepoRef {
    RepoRef {
        project: Some(project.into()),
        repository: Some(repository.into()),
        url: url.into(),
    }
}

fn bdep(name: &str, evr: (Option<&str>, &str, &str), arch: &str, prp: (&str, &str)) -> Bdep {
    Bdep {
        name: name.into(),
        epoch: evr.0.map(Into::into),
        version: Some(evr.1.into()),
        release: Some(evr.2.into()),
        arch: Some(arch.parse().unwrap()),
        project: Some(prp.0.into()),
        repository: Some(prp.1.into()),
        ..Bdep::default()
    }
}

/// A Debian package job, shaped like what the dispatcher sends: the job's elements in
/// OBS's order, fields obsbox ignores, and an element OBS does not have (yet).
const DEBIAN_BUILDINFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<buildinfo project="home:alice:obsbox" repository="Debian_12" package="hello-obsbox" srcserver="http://src:5352" reposerver="http://repo:5252" downloadurl="https://download.example.org/repositories">
  <job>home:alice:obsbox::Debian_12::hello-obsbox-0123456789abcdef0123456789abcdef</job>
  <arch>x86_64</arch>
  <srcmd5>0123456789abcdef0123456789abcdef</srcmd5>
  <verifymd5>fedcba9876543210fedcba9876543210</verifymd5>
  <rev>7</rev>
  <disturl>obs://build.example.org/home:alice:obsbox/Debian_12/0123456789abcdef0123456789abcdef-hello-obsbox</disturl>
  <reason>source change</reason>
  <needed>0</needed>
  <revtime>1716200000</revtime>
  <readytime>1716200042</readytime>
  <file>hello-obsbox_1.0-1.dsc</file>
  <versrel>1.0-1</versrel>
  <bcnt>3</bcnt>
  <release>1.3</release>
  <debuginfo>0</debuginfo>
  <prjconfconstraint>hardware:processors 2</prjconfconstraint>
  <constraint>hardware:disk:size unit=G 8</constraint>
  <subpack>hello-obsbox</subpack>
  <dep>debhelper-compat (= 13)</dep>
  <bdep name="dash" preinstall="1" runscripts="1" notmeta="1" version="0.5.12" release="2" arch="amd64" hdrmd5="1111" project="Debian:12" repository="main"/>
  <bdep name="libc6" preinstall="1" notmeta="1" version="2.36" release="9+deb12u7" arch="amd64" hdrmd5="2222" project="Debian:12" repository="main"/>
  <bdep name="base-passwd" preinstall="1" runscripts="1" notmeta="1" version="3.6.1" release="1" arch="amd64" project="Debian:12" repository="main"/>
  <bdep name="libsystemd0" vminstall="1" notmeta="1" version="252.26" release="1~deb12u2" arch="amd64" project="Debian:12" repository="main"/>
  <bdep name="perl-base" installonly="1" notmeta="1" epoch="1" version="5.36.0" release="7+deb12u1" arch="amd64" project="Debian:12" repository="main"/>
  <bdep name="debhelper" version="13.11.4" release="1" arch="all" project="Debian:12" repository="main"/>
  <bdep name="hello-data" noinstall="1" version="1.0" release="1" arch="all" project="home:alice:obsbox" repository="Debian_12"/>
  <path project="home:alice:obsbox" repository="Debian_12" server="http://repo:5252" url="https://download.example.org/repositories/home:/alice:/obsbox/Debian_12/"/>
  <path project="Debian:12" repository="main" server="http://repo:5252"/>
  <syspath project="Debian:12" repository="main" server="http://repo:5252" url="https://download.example.org/repositories/Debian:/12/main/"/>
  <slsaprovenance>1</slsaprovenance>
  <futurefield kind="new"><nested><path project="not" repository="mine"/></nested></futurefield>
</buildinfo>
"#;

#[test]
fn buildinfo_debian_every_field() {
    let dir = tempfile::tempdir().unwrap();
    // bs_worker's job file has no extension: the content says what it is.
    let path = write(dir.path(), "job", DEBIAN_BUILDINFO);
    let job = job::load(&path).unwrap();
    let flags = |b: Bdep, f: fn(&mut Bdep)| {
        let mut b = b;
        f(&mut b);
        b
    };
    let deb = ("Debian:12", "main");
    let expected = Job {
        id: "home:alice:obsbox/Debian_12/hello-obsbox/x86_64".into(),
        project: "home:alice:obsbox".into(),
        repository: "Debian_12".into(),
        package: "hello-obsbox".into(),
        arch: "x86_64".parse().unwrap(),
        hostarch: None,
        crossarch: None,
        recipe: "hello-obsbox_1.0-1.dsc".into(),
        sources: dir.path().to_path_buf(),
        release: Some("1.3".into()),
        bdeps: vec![
            flags(bdep("dash", (None, "0.5.12", "2"), "amd64", deb), |b| {
                b.preinstall = true;
                b.runscripts = true;
                b.notmeta = true;
            }),
            flags(
                bdep("libc6", (None, "2.36", "9+deb12u7"), "amd64", deb),
                |b| {
                    b.preinstall = true;
                    b.notmeta = true;
                },
            ),
            flags(
                bdep("base-passwd", (None, "3.6.1", "1"), "amd64", deb),
                |b| {
                    b.preinstall = true;
                    b.runscripts = true;
                    b.notmeta = true;
                },
            ),
            flags(
                bdep("libsystemd0", (None, "252.26", "1~deb12u2"), "amd64", deb),
                |b| {
                    b.vminstall = true;
                    b.notmeta = true;
                },
            ),
            flags(
                bdep(
                    "perl-base",
                    (Some("1"), "5.36.0", "7+deb12u1"),
                    "amd64",
                    deb,
                ),
                |b| {
                    b.installonly = true;
                    b.notmeta = true;
                },
            ),
            bdep("debhelper", (None, "13.11.4", "1"), "all", deb),
            flags(
                bdep(
                    "hello-data",
                    (None, "1.0", "1"),
                    "all",
                    ("home:alice:obsbox", "Debian_12"),
                ),
                |b| b.noinstall = true,
            ),
        ],
        repos: vec![
            repo(
                "home:alice:obsbox",
                "Debian_12",
                "https://download.example.org/repositories/home:/alice:/obsbox/Debian_12/",
            ),
            repo("Debian:12", "main", ""),
        ],
        toolbox_repos: vec![repo(
            "Debian:12",
            "main",
            "https://download.example.org/repositories/Debian:/12/main/",
        )],
        toolbox: vec![],
        constraints: vec![
            "hardware:processors 2".into(),
            "hardware:disk:size unit=G 8".into(),
        ],
        jobs: 0,
        memory: 0,
        checks: vec![],
        rpm_target: String::new(),
        rpm_macros: String::new(),
        expanded: true,
        build_profiles: vec![],
        dsc_build_cmd: String::new(),
    };
    assert_eq!(job, expected);
}

/// An RPM job built under emulation (hostarch ≠ arch) with a cross sysroot, callback
/// packages, and the kinds of bdeps bs_worker does not hand to the build.
const RPM_BUILDINFO: &str = r#"<buildinfo project="devel:tools" repository="openSUSE_Tumbleweed" package="hello">
  <arch>aarch64</arch>
  <hostarch>x86_64</hostarch>
  <crossarch>riscv64</crossarch>
  <file>hello.spec</file>
  <versrel>2.12-4</versrel>
  <bcnt>1</bcnt>
  <release>4.1</release>
  <debuginfo>1</debuginfo>
  <jobs>6</jobs>
  <bdep name="aaa_base" preinstall="1" runscripts="1" version="84.87+git20240906" release="1.1" arch="aarch64" project="openSUSE:Factory" repository="standard"/>
  <bdep name="kernel-obs-build" vminstall="1" notmeta="1" version="6.10.9" release="1.1" arch="x86_64" project="openSUSE:Factory" repository="standard"/>
  <bdep name="glibc-devel" sysroot="1" version="2.40" release="2.1" arch="riscv64" project="openSUSE:Factory:RISCV" repository="standard"/>
  <bdep name="rpmlint-mini" cbinstall="1" notmeta="1" version="2.5.0" release="1.1" arch="x86_64" project="openSUSE:Factory" repository="standard"/>
  <bdep name="qemu-linux-user" cbpreinstall="true" notmeta="1" version="9.0.2" release="1.1" arch="x86_64" project="openSUSE:Factory" repository="standard"/>
  <bdep name="gcc" version="14" release="3.1" arch="aarch64" project="openSUSE:Factory" repository="standard"/>
  <bdep name="hello" repoarch="src" version="2.12" release="1.1" project="openSUSE:Factory" repository="standard"/>
  <bdep name="container-base" package="base-image" version="1" release="1" arch="aarch64" project="openSUSE:Factory" repository="containers"/>
  <path project="devel:tools" repository="openSUSE_Tumbleweed" server="http://repo:5252"/>
  <path project="openSUSE:Factory" repository="standard" server="http://repo:5252"/>
  <syspath project="openSUSE:Factory" repository="standard" server="http://repo:5252"/>
  <containerpath project="openSUSE:Factory" repository="containers" server="http://repo:5252"/>
</buildinfo>"#;

#[test]
fn buildinfo_rpm_cross() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "buildinfo.xml", RPM_BUILDINFO);
    let job = job::load(&path).unwrap();
    assert_eq!(job.id, "devel:tools/openSUSE_Tumbleweed/hello/aarch64");
    assert_eq!(
        (
            job.arch.as_str(),
            job.hostarch.as_ref().map_or("", Arch::as_str),
            job.crossarch.as_ref().map_or("", Arch::as_str)
        ),
        ("aarch64", "x86_64", "riscv64")
    );
    assert_eq!(job.recipe, "hello.spec");
    assert_eq!(job.release.as_deref(), Some("4.1"));
    assert_eq!(job.jobs, 6);
    let names: Vec<_> = job.bdeps.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "aaa_base",
            "kernel-obs-build",
            "glibc-devel",
            "rpmlint-mini",
            "qemu-linux-user",
            "gcc"
        ]
    );
    assert!(job.bdeps[0].preinstall && job.bdeps[0].runscripts);
    assert!(job.bdeps[1].vminstall && !job.bdeps[1].preinstall);
    assert!(job.bdeps[2].sysroot);
    assert_eq!(job.toolbox, ["rpmlint-mini", "qemu-linux-user"]);
    assert_eq!(
        job.repos,
        [
            repo("devel:tools", "openSUSE_Tumbleweed", ""),
            repo("openSUSE:Factory", "standard", "")
        ]
    );
    assert_eq!(
        job.toolbox_repos,
        [repo("openSUSE:Factory", "standard", "")]
    );
    assert!(job.constraints.is_empty());
}

#[test]
fn buildinfo_errors_name_file_and_element() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            DEBIAN_BUILDINFO.replace("</versrel>", "</versrl>"),
            "broken XML at line 14",
        ),
        (
            DEBIAN_BUILDINFO.replace("<arch>x86_64</arch>", ""),
            "element <arch> is missing",
        ),
        (
            RPM_BUILDINFO.replace("<file>hello.spec</file>", ""),
            "element <file> is missing",
        ),
        (
            DEBIAN_BUILDINFO.replace(
                " project=\"home:alice:obsbox\" repository=\"Debian_12\" package",
                " repository=\"Debian_12\" package",
            ),
            "<buildinfo project=…> attribute is missing",
        ),
        (
            DEBIAN_BUILDINFO.replace(
                "name=\"libc6\" preinstall=\"1\"",
                "name=\"libc6\" preinstall=\"2\"",
            ),
            "line 23: <bdep name=\"libc6\">: attribute preinstall: `2` is not a boolean",
        ),
        (
            RPM_BUILDINFO.replace("sysroot=\"1\"", "sysroot=\"yes\""),
            "<bdep name=\"glibc-devel\">: attribute sysroot: `yes` is not a boolean",
        ),
        (
            DEBIAN_BUILDINFO.replace("<bdep name=\"dash\"", "<bdep name=\"dash\" name=\"ash\""),
            "line 22: position 17: duplicated attribute",
        ),
    ];
    for (xml, want) in cases {
        let path = write(dir.path(), "job", &xml);
        let e = load_err(&path);
        assert!(e.contains(want), "want `{want}` in: {e}");
    }
}

#[test]
fn rpmlist_with_every_tag() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = dir.path().join(".pkgs");
    let p = |n: &str| pkgs.join(n).display().to_string();
    let text = format!(
        "aaa_base {}\nbash {}\nkernel-obs-build {}\nglibc {}\nsysroot: glibc {}\n\
         rpmlint-mini {}\nfilesystem preinstallimage\n\
         preinstallimage: {}\npreinstall: aaa_base bash glibc filesystem\n\
         vminstall: kernel-obs-build\nruntscripts_typo: x\nrunscripts: aaa_base\n\
         noinstall: rpmlint-mini\ninstallonly: glibc\ncbinstall: rpmlint-mini\n",
        p("aaa_base.rpm"),
        p("bash.rpm"),
        p("kernel-obs-build.rpm"),
        p("glibc.rpm"),
        p("__sysroot__glibc.rpm"),
        p("rpmlint-mini.rpm"),
        p("image.tar.gz"),
    );
    let path = write(dir.path(), ".build.rpmlist", &text);
    let job = job::load(&path).unwrap();
    assert_eq!(job.id, path.display().to_string());
    // The arch is the caller's to set (from obs-build's --arch): this machine's until then.
    assert!(job.arch == Arch::native() && job.recipe.is_empty() && job.repos.is_empty());
    assert_eq!(job.toolbox, ["rpmlint-mini"]);
    let b = |name: &str, sysroot: bool| {
        job.bdeps
            .iter()
            .find(|b| b.name == name && b.sysroot == sysroot)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let flags = |b: &Bdep| {
        [
            b.preinstall,
            b.vminstall,
            b.runscripts,
            b.noinstall,
            b.installonly,
        ]
    };
    assert_eq!(
        flags(&b("aaa_base", false)),
        [true, false, true, false, false]
    );
    assert_eq!(flags(&b("bash", false)), [true, false, false, false, false]);
    assert_eq!(
        flags(&b("kernel-obs-build", false)),
        [false, true, false, false, false]
    );
    assert_eq!(flags(&b("glibc", false)), [true, false, false, false, true]);
    assert_eq!(flags(&b("glibc", true)), [false; 5]);
    assert_eq!(
        flags(&b("rpmlint-mini", false)),
        [false, false, false, true, false]
    );
    assert_eq!(b("bash", false).path, Some(pkgs.join("bash.rpm")));
    assert_eq!(
        b("glibc", true).path,
        Some(pkgs.join("__sysroot__glibc.rpm"))
    );
    assert_eq!(b("filesystem", false).path, None);
    assert_eq!(job::rpmlist::load(&path).unwrap().bdeps, job.bdeps);

    // A flag line naming a package the list does not have.
    let path = write(
        dir.path(),
        ".build.rpmlist",
        &format!(
            "bash {}\n\npreinstall: bash\nrunscripts: bash dash\n",
            p("bash.rpm")
        ),
    );
    let e = load_err(&path);
    assert!(
        e.ends_with("line 4: `runscripts:` names `dash`, which is not listed as a package"),
        "{e}"
    );
    // Under another name the caller picks the reader.
    let other = write(dir.path(), "pkglist", &format!("bash {}\n", p("bash.rpm")));
    assert_eq!(job::rpmlist::load(&other).unwrap().bdeps.len(), 1);
}

const FULL_TOML: &str = r#"
project = "home:example"
repository = "debian_12"
package = "hello-obsbox"
arch = "arm64"
hostarch = "amd64"
recipe = "hello-obsbox_1.0.dsc"
sources = "src"
release = "7"
jobs = 2
memory = "4G"
repos = ["http://127.0.0.1:8000/deb-repo bookworm main", "debs"]
toolbox_repos = ["http://127.0.0.1:8000/deb-repo-amd64 bookworm main contrib"]
preinstall = ["dash", "coreutils"]
packages = ["build-essential"]
toolbox = ["busybox-static", "qemu-user-static"]

[[check]]
name = "contents"
run = ["sh", "-c", "ls -l /results"]
gating = true

[[check]]
name = "lint"
run = ["lintian", "/results"]
"#;

#[test]
fn job_toml_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "job.toml", FULL_TOML);
    let job = job::load(&path).unwrap();
    let url = |u: &str| RepoRef {
        url: u.into(),
        ..RepoRef::default()
    };
    let pkg = |n: &str, preinstall: bool| Bdep {
        name: n.into(),
        preinstall,
        ..Bdep::default()
    };
    let expected = Job {
        id: "home:example/debian_12/hello-obsbox/arm64".into(),
        project: "home:example".into(),
        repository: "debian_12".into(),
        package: "hello-obsbox".into(),
        arch: "arm64".parse().unwrap(),
        hostarch: Some("amd64".parse().unwrap()),
        crossarch: None,
        recipe: "hello-obsbox_1.0.dsc".into(),
        sources: dir.path().join("src"),
        release: Some("7".into()),
        bdeps: vec![
            pkg("dash", true),
            pkg("coreutils", true),
            pkg("build-essential", false),
        ],
        repos: vec![
            url("http://127.0.0.1:8000/deb-repo bookworm main"),
            url(&dir.path().join("debs").display().to_string()),
        ],
        toolbox_repos: vec![url(
            "http://127.0.0.1:8000/deb-repo-amd64 bookworm main contrib",
        )],
        toolbox: vec!["busybox-static".into(), "qemu-user-static".into()],
        constraints: vec![],
        jobs: 2,
        memory: 4 << 30,
        checks: vec![
            Check {
                name: "contents".into(),
                run: vec!["sh".into(), "-c".into(), "ls -l /results".into()],
                gating: true,
            },
            Check {
                name: "lint".into(),
                run: vec!["lintian".into(), "/results".into()],
                gating: false,
            },
        ],
        rpm_target: String::new(),
        rpm_macros: String::new(),
        expanded: false,
        build_profiles: vec![],
        dsc_build_cmd: String::new(),
    };
    assert_eq!(job, expected);
}

#[test]
fn job_toml_minimal_source_tree() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("hello/debian")).unwrap();
    let path = write(
        dir.path(),
        "hello.toml",
        "package = \"hello\"\narch = \"x86_64\"\nrecipe = \"hello\"\nrepos = [\"/srv/repo\"]\n",
    );
    let job = job::load(&path).unwrap();
    assert_eq!(job.id, "local/local/hello/x86_64");
    assert_eq!(job.sources, dir.path());
    assert_eq!(job.recipe, "hello");
    let host = obsbox::model::arch::deb_arch(std::env::consts::ARCH).unwrap();
    assert_eq!(job.hostarch.unwrap(), host);
    if host == "amd64" {
        assert_eq!(job.toolbox_repos, job.repos);
    }
    assert!(job.bdeps.is_empty() && job.checks.is_empty() && job.release.is_none());
}

#[test]
fn job_toml_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("source = \".\"\n{FULL_TOML}"),
            "line 1: unknown field `source`, expected one of `project`",
        ),
        (
            format!("{FULL_TOML}when = \"always\"\n"),
            "line 26: unknown field `when`, expected one of `name`, `run`, `gating`",
        ),
        (
            FULL_TOML.replace("jobs = 2", "jobs = \"2\""),
            "line 10: invalid type: string \"2\"",
        ),
        (
            FULL_TOML.replace("package = \"hello-obsbox\"", ""),
            "missing field `package`",
        ),
        (
            FULL_TOML.replace("\"4G\"", "\"4 GB\""),
            "line 11: memory: `4 GB`",
        ),
        (
            FULL_TOML.replace("gating = true", "gating = \"yes\""),
            "line 21: invalid type",
        ),
        (FULL_TOML.replace("repos = [", "repos = "), "line 12"),
    ];
    for (text, want) in cases {
        let path = write(dir.path(), "job.toml", &text);
        let e = load_err(&path);
        assert!(e.contains(want), "want `{want}` in: {e}");
    }
}

/// A sysroot cross build in a job.toml: `crossarch` with its `sysroot` packages, which
/// become `sysroot` bdeps; the toolbox is served by the (host-arch) buildroot repositories.
#[test]
fn job_toml_sysroot_cross_build() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    let base = "package = \"hello-obsbox\"\narch = \"arm64\"\nhostarch = \"amd64\"\n\
                recipe = \"hello-obsbox_1.0.dsc\"\nsources = \"src\"\n\
                repos = [\"http://127.0.0.1:8000/deb-repo bookworm main\"]\n\
                packages = [\"build-essential\", \"libc6\"]\n";
    let path = write(
        dir.path(),
        "job.toml",
        &format!("{base}crossarch = \"arm64\"\nsysroot = [\"libc6\", \"libgcc-s1\"]\n"),
    );
    let job = job::load(&path).unwrap();
    assert_eq!(job.crossarch.unwrap(), "arm64");
    assert_eq!(job.toolbox_repos, job.repos);
    let listed: Vec<(&str, bool)> = job
        .bdeps
        .iter()
        .map(|b| (b.name.as_str(), b.sysroot))
        .collect();
    // libc6 twice: once for the buildroot, once for the sysroot.
    assert_eq!(
        listed,
        [
            ("build-essential", false),
            ("libc6", false),
            ("libc6", true),
            ("libgcc-s1", true)
        ]
    );
    for (extra, want) in [
        (
            "crossarch = \"arm64\"\n",
            "crossarch arm64 without sysroot packages",
        ),
        (
            "sysroot = [\"libc6\"]\n",
            "sysroot packages without crossarch",
        ),
        ("crossarch = \"vax\"\nsysroot = [\"libc6\"]\n", "crossarch"),
        (
            "crossarch = \"arm64\"\nsysroot = [\"libc6\", \"libc6\"]\n",
            "sysroot: package `libc6` is listed twice",
        ),
    ] {
        let path = write(dir.path(), "job.toml", &format!("{base}{extra}"));
        let e = load_err(&path);
        assert!(e.contains(want), "want `{want}` in: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn load_picks_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toml = write(d, "x.toml", FULL_TOML);
    assert_eq!(job::load(&toml).unwrap().package, "hello-obsbox");
    let xml = write(d, "x.toml.xml", RPM_BUILDINFO);
    assert_eq!(job::load(&xml).unwrap().package, "hello");
    let list = write(d, ".build.rpmlist", "bash /p/bash.rpm\n");
    assert_eq!(job::load(&list).unwrap().bdeps[0].name, "bash");
    // A buildinfo in a .toml file is read as TOML: the name decides first.
    let wrong = write(d, "y.toml", RPM_BUILDINFO);
    assert!(load_err(&wrong).contains("line 1"));
    let other = write(d, "notes.txt", "<project name=\"x\"/>\n");
    assert!(load_err(&other).contains("not a job file"));
    let missing = d.join("absent.xml");
    assert!(load_err(&missing).contains("cannot read"));
}
