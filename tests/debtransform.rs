//! OBS's Debian source layouts: obsbox's debtransform against obs-build's own
//! (`/usr/lib/obs-build/debtransform`, Debian's obs-build that integration/setup.sh
//! installs) on the same layouts, both unpacked with `dpkg-source -x`; and the broken
//! layouts refused with one line naming the file and the problem.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use obsbox::packages::debtransform::{self, Options};

mod common;
use common::data::tarball;

const OBS_DEBTRANSFORM: &str = "/usr/lib/obs-build/debtransform";
/// 2023-11-14 22:13:20 UTC: the changelog entry's date on both sides.
const EPOCH: &str = "1700000000";

/// A tarball with one member of another kind (`kind`: symlink or hard link).
fn tarball_with_link(path: &Path, name: &str, kind: tar::EntryType, target: &str) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_600_000_000);
    header.set_entry_type(kind);
    builder.append_link(&mut header, name, target).unwrap();
    let raw = builder.into_inner().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    fs::write(path, enc.finish().unwrap()).unwrap();
}

const CHANGELOG: &str = "greet (1.2-3) unstable; urgency=medium\n\n  * A release.\n\n -- Jane Doe <jane@example.org>  Mon, 02 Jan 2023 10:00:00 +0100\n";
const CONTROL: &str = "Source: greet\nSection: misc\nPriority: optional\nMaintainer: Jane Doe <jane@example.org>\nBuild-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\n\nPackage: greet\nArchitecture: any\nDepends: ${shlibs:Depends}, ${misc:Depends}\nDescription: says hello\n greets.\n";
const RULES: &str = "#!/usr/bin/make -f\n%:\n\tdh $@\n";

/// The upstream tree: sources, and a `debian/` of its own the layout replaces in part.
fn upstream(dir: &Path, name: &str) {
    let top = "greet-1.2";
    tarball(
        &dir.join(name),
        &[
            (&format!("{top}/greet.c"), b"int main(void) { return 0; }\n"),
            (&format!("{top}/Makefile"), b"all:\n\tcc -o greet greet.c\n"),
            (&format!("{top}/README"), b"line one\nline two\n\n\n"),
            (&format!("{top}/debian/docs"), b"OLD\nREADME\n"),
        ],
    );
}

fn dsc(dir: &Path, extra: &str) {
    fs::write(
        dir.join("greet.dsc"),
        format!(
            "Format: 3.0 (quilt)\nSource: greet\nBinary: greet\nArchitecture: any\nVersion: 1.2-3\n\
             Maintainer: Jane Doe <jane@example.org>\nBuild-Depends: debhelper-compat (= 13)\n\
             Package-List:\n greet deb misc optional arch=any\n{extra}"
        ),
    )
    .unwrap();
}

/// The layouts compared: each a directory of sources and the release given.
fn layouts(base: &Path) -> Vec<(PathBuf, Option<&'static str>)> {
    let mut out = Vec::new();

    // An upstream tarball and debian.tar.gz named by tags, the release in the version.
    let d = base.join("debian-tar");
    fs::create_dir_all(&d).unwrap();
    upstream(&d, "greet-1.2.tar.gz");
    tarball(
        &d.join("debian.tar.gz"),
        &[
            ("debian/control", CONTROL.as_bytes()),
            ("debian/rules", RULES.as_bytes()),
            ("debian/changelog", CHANGELOG.as_bytes()),
            ("debian/source/format", b"1.0\n"),
            ("./debian/docs", b"README\n\n"),
        ],
    );
    dsc(
        &d,
        "DEBTRANSFORM-TAR: greet-1.2.tar.gz\nDEBTRANSFORM-FILES-TAR: debian.tar.gz\nDEBTRANSFORM-RELEASE: 1\n",
    );
    out.push((d, Some("7.1")));

    // debian.* files, a series of patches at -p1 and -p0, an xz upstream tarball found
    // without a tag, an epoch and no revision in the version.
    let d = base.join("debian-files");
    fs::create_dir_all(&d).unwrap();
    upstream(&d, "greet-1.2.tar.xz");
    fs::write(d.join("debian.control"), CONTROL).unwrap();
    fs::write(d.join("debian.rules"), RULES).unwrap();
    fs::write(
        d.join("debian.changelog"),
        CHANGELOG.replace("(1.2-3)", "(1:1.2)"),
    )
    .unwrap();
    fs::write(d.join("debian.compat"), "").unwrap();
    fs::write(d.join("debian.docs"), "README\n\n").unwrap();
    fs::write(d.join("debian.greet.install"), "greet usr/bin").unwrap();
    fs::write(
        d.join("fix-readme.patch"),
        "--- a/README\n+++ b/README\n@@ -1,3 +1,3 @@\n line one\n-line two\n+line 2\n \n",
    )
    .unwrap();
    fs::write(
        d.join("fix-c.patch"),
        "--- greet.c.orig\n+++ greet.c\n@@ -1 +1 @@\n-int main(void) { return 0; }\n+int main(void) { return 1; }\n",
    )
    .unwrap();
    fs::write(
        d.join("debian.series"),
        "# the patches\nfix-readme.patch\nfix-c.patch -p0  # level 0\n\n",
    )
    .unwrap();
    dsc(&d, "");
    fs::write(
        d.join("greet.dsc"),
        fs::read_to_string(d.join("greet.dsc"))
            .unwrap()
            .replace("Version: 1.2-3", "Version: 1:1.2"),
    )
    .unwrap();
    out.push((d, Some("2.5")));

    // A release without DEBTRANSFORM-RELEASE leaves the version alone.
    let d = base.join("no-release-tag");
    fs::create_dir_all(&d).unwrap();
    upstream(&d, "greet-1.2.tgz");
    fs::write(d.join("debian.control"), CONTROL).unwrap();
    fs::write(d.join("debian.rules"), RULES).unwrap();
    fs::write(d.join("debian.changelog"), CHANGELOG).unwrap();
    dsc(&d, "");
    out.push((d, Some("3.1")));
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A .dsc's fields, the checksum lists reduced to the names they list.
fn fields(path: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix(' ') {
            let last = out.last_mut().unwrap();
            let shown =
                if ["Files", "Checksums-Sha1", "Checksums-Sha256"].contains(&last.0.as_str()) {
                    rest.split(' ').next_back().unwrap().to_string()
                } else {
                    rest.to_string()
                };
            last.1.push('\n');
            last.1.push_str(&shown);
        } else {
            let (k, v) = line.split_once(':').unwrap();
            out.push((k.to_string(), v.trim().to_string()));
        }
    }
    out
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_source_package_as_obs_builds_debtransform() {
    assert!(
        Path::new(OBS_DEBTRANSFORM).is_file(),
        "{OBS_DEBTRANSFORM} missing: integration/setup.sh installs obs-build"
    );
    let base = tempfile::tempdir().unwrap();
    for (layout, release) in layouts(base.path()) {
        let label = layout.file_name().unwrap().to_string_lossy().into_owned();
        // obs-build's, on a copy (it moves a .tgz away).
        let theirs_src = base.path().join(format!("{label}.theirs-src"));
        copy_dir(&layout, &theirs_src);
        let theirs = base.path().join(format!("{label}.theirs"));
        fs::create_dir_all(&theirs).unwrap();
        let mut cmd = Command::new("perl");
        cmd.arg(OBS_DEBTRANSFORM)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("LC_ALL", "POSIX")
            // Its helpers (debtransformxz) are found as obs-build's `build` finds them.
            .env(
                "PATH",
                format!(
                    "/usr/lib/obs-build:{}",
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
        if let Some(r) = release {
            cmd.args(["--release", r]);
        }
        run(cmd
            .arg(&theirs_src)
            .arg(theirs_src.join("greet.dsc"))
            .arg(&theirs));

        let ours = base.path().join(format!("{label}.ours"));
        let date = {
            // The date obs-build writes for SOURCE_DATE_EPOCH.
            "Tue, 14 Nov 2023 22:13:20 +0000".to_string()
        };
        let made = debtransform::transform(
            &layout,
            "greet.dsc",
            &Options {
                release: release.map(str::to_string),
                date,
            },
            &ours,
        )
        .unwrap_or_else(|e| panic!("{label}: {e:#}"));

        let names = |d: &Path| {
            let mut n: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(&ours), names(&theirs), "{label}");
        let dsc_name = names(&theirs)
            .into_iter()
            .find(|n| n.ends_with(".dsc"))
            .unwrap();
        assert_eq!(made.dsc, dsc_name, "{label}");
        assert_eq!(
            fields(&ours.join(&dsc_name)),
            fields(&theirs.join(&dsc_name)),
            "{label}: the .dsc fields"
        );
        for name in names(&theirs) {
            if name.contains(".orig.tar") && !label.contains("files") {
                assert_eq!(
                    fs::read(ours.join(&name)).unwrap(),
                    fs::read(theirs.join(&name)).unwrap(),
                    "{label}: {name}"
                );
            }
        }
        // Both unpack (dpkg-source checks every checksum) to the same tree.
        for side in [&ours, &theirs] {
            run(Command::new("dpkg-source")
                .arg("-x")
                .arg(side.join(&dsc_name))
                .arg(side.join("tree"))
                .env("LC_ALL", "C.UTF-8"));
        }
        let (a, b) = (tree(&ours.join("tree")), tree(&theirs.join("tree")));
        assert_eq!(
            a.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            b.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            "{label}: file names"
        );
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(
                x == y,
                "{label}: {name} differs:\n{}\n---\n{}",
                String::from_utf8_lossy(x),
                String::from_utf8_lossy(y)
            );
        }
        let changelog = String::from_utf8(
            a.iter()
                .find(|(n, _)| n == "debian/changelog")
                .unwrap()
                .1
                .clone(),
        )
        .unwrap();
        match label.as_str() {
            "debian-tar" => assert!(
                changelog.starts_with("greet (1.2-3+7.1) unstable; urgency=medium\n\n  * version number update by debtransform\n"),
                "{changelog}"
            ),
            "debian-files" => assert!(changelog.starts_with("greet (1.2-1) "), "{changelog}"),
            _ => assert!(changelog.starts_with("greet (1.2-3) "), "{changelog}"),
        }
    }
}

/// A valid layout to break: upstream tarball, debian.tar.gz, debian.* files.
fn good_layout(dir: &Path) {
    upstream(dir, "greet-1.2.tar.gz");
    fs::write(dir.join("debian.control"), CONTROL).unwrap();
    fs::write(dir.join("debian.rules"), RULES).unwrap();
    fs::write(dir.join("debian.changelog"), CHANGELOG).unwrap();
    dsc(dir, "");
}

fn transform_error(dir: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let err = debtransform::transform(
        dir,
        "greet.dsc",
        &Options {
            release: Some("1.1".into()),
            date: "Tue, 14 Nov 2023 22:13:20 +0000".into(),
        },
        &out.path().join("out"),
    )
    .expect_err("a broken layout");
    let text = format!("{err:#}");
    assert!(!text.contains('\n'), "one line: {text}");
    text
}

/// What breaks a good layout.
type Breaker = Box<dyn Fn(&Path)>;

#[test]
fn broken_layouts_are_one_clear_line() {
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "traversal in the debian archive",
            Box::new(|d: &Path| {
                tarball(
                    &d.join("debian.tar.gz"),
                    &[("debian/../../etc/cron.d/x", b"* * * * * root id\n")],
                )
            }),
            "debian.tar.gz: debian/../../etc/cron.d/x: a member name outside debian/",
        ),
        (
            "absolute member",
            Box::new(|d: &Path| tarball(&d.join("debian.tar.gz"), &[("/etc/passwd", b"x\n")])),
            "debian.tar.gz: /etc/passwd: a member name outside debian/",
        ),
        (
            "a link in the debian archive",
            Box::new(|d: &Path| {
                tarball_with_link(
                    &d.join("debian.tar.gz"),
                    "debian/copyright",
                    tar::EntryType::Symlink,
                    "/etc/shadow",
                )
            }),
            "debian.tar.gz: debian/copyright: a link",
        ),
        (
            "a member also given as a debian.* file",
            Box::new(|d: &Path| tarball(&d.join("debian.tar.gz"), &[("debian/rules", b"x\n")])),
            "debian.tar.gz: rules is both in the debian archive and a debian.rules file",
        ),
        (
            "no debian/control anywhere",
            Box::new(|d: &Path| fs::remove_file(d.join("debian.control")).unwrap()),
            "greet.dsc: no debian/control",
        ),
        (
            "DEBTRANSFORM-TAR outside the sources",
            Box::new(|d: &Path| dsc(d, "DEBTRANSFORM-TAR: ../greet-1.2.tar.gz\n")),
            "greet.dsc: DEBTRANSFORM-TAR ../greet-1.2.tar.gz: not a plain file name",
        ),
        (
            "DEBTRANSFORM-TAR missing",
            Box::new(|d: &Path| dsc(d, "DEBTRANSFORM-TAR: greet-9.tar.gz\n")),
            "greet-9.tar.gz: no such file in the sources",
        ),
        (
            "DEBTRANSFORM-TAR not a tarball",
            Box::new(|d: &Path| {
                fs::write(d.join("greet.zip"), b"PK").unwrap();
                dsc(d, "DEBTRANSFORM-TAR: greet.zip\n")
            }),
            "greet.dsc: greet.zip: bzip2 and zip source archives are not supported",
        ),
        (
            "DEBTRANSFORM-TAR a link",
            Box::new(|d: &Path| {
                std::os::unix::fs::symlink("/etc/shadow", d.join("shadow.tar.gz")).unwrap();
                dsc(d, "DEBTRANSFORM-TAR: shadow.tar.gz\n")
            }),
            "shadow.tar.gz: a link, not a file",
        ),
        (
            "two upstream tarballs and no tag",
            Box::new(|d: &Path| upstream(d, "other-1.0.tar.gz")),
            "greet.dsc: no DEBTRANSFORM-TAR and more than one file looks like a source tarball: greet-1.2.tar.gz other-1.0.tar.gz",
        ),
        (
            "a series naming a patch outside",
            Box::new(|d: &Path| fs::write(d.join("debian.series"), "../../etc/passwd\n").unwrap()),
            "debian.series: patch \"../../etc/passwd\": not a plain file name",
        ),
        (
            "no Version",
            Box::new(|d: &Path| {
                let text = fs::read_to_string(d.join("greet.dsc")).unwrap();
                fs::write(d.join("greet.dsc"), text.replace("Version: 1.2-3\n", "")).unwrap()
            }),
            "greet.dsc: no Version field",
        ),
        (
            "a version that is a path",
            Box::new(|d: &Path| {
                let text = fs::read_to_string(d.join("greet.dsc")).unwrap();
                fs::write(d.join("greet.dsc"), text.replace("1.2-3", "1/../../x")).unwrap()
            }),
            "greet.dsc: Version 1/../../x: not a Debian version",
        ),
    ];
    for (what, breaker, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        good_layout(dir.path());
        breaker(dir.path());
        let err = transform_error(dir.path());
        assert!(err.contains(expected), "{what}: {err}");
    }
}

#[test]
fn release_and_sources_without_layout() {
    // No debian.* file: obs-build does not transform.
    let dir = tempfile::tempdir().unwrap();
    upstream(dir.path(), "greet-1.2.tar.gz");
    dsc(dir.path(), "");
    assert!(!debtransform::applies(dir.path()).unwrap());
    fs::write(dir.path().join("debian.rules"), RULES).unwrap();
    assert!(debtransform::applies(dir.path()).unwrap());
    assert_eq!(
        obsbox::bundle::recipe::deb_release(Some("12.3%{?dist}")).unwrap(),
        Some("12.3".to_string())
    );
    assert_eq!(
        obsbox::bundle::recipe::deb_release(Some("%x")).unwrap(),
        None
    );
    let err = obsbox::bundle::recipe::deb_release(Some("1;rm -rf /")).unwrap_err();
    assert!(
        format!("{err}").contains("not usable in a Debian version"),
        "{err}"
    );
}
