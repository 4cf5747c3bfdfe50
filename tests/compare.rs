//! Build-compare against real packages built here: .debs with `dpkg-deb --build`, RPMs with
//! `rpmbuild` (Debian's `rpm` package), rebuilt with and without meaningful changes.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use obsbox::callbacks::compare::{Verdict, compare_results};

fn compare(old: &Path, new: &Path) -> Verdict {
    compare_results(old, new).unwrap_or_else(|e| panic!("{e:#}"))
}

fn assert_same(old: &Path, new: &Path) {
    let verdict = compare(old, new);
    assert!(verdict.differences.is_empty(), "{:#?}", verdict.differences);
    assert!(verdict.same);
}

fn assert_differences(old: &Path, new: &Path, expected: &[&str]) {
    let verdict = compare(old, new);
    assert_eq!(verdict.differences, expected);
    assert!(!verdict.same);
}

fn run(command: &mut Command) {
    // Either would clamp or replace the timestamps the tests vary.
    common::run_ok(command.env_remove("SOURCE_DATE_EPOCH"));
}

/// Sets the mtime of everything below `dir` (symlinks themselves, not their targets).
fn touch_all(dir: &Path, mtime: i64) {
    run(Command::new("find").arg(dir).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("@{mtime}"),
        "{}",
        "+",
    ]));
}

/// Gzip with a chosen header mtime and name, as `gzip` without `-n` writes.
fn gzip(data: &[u8], mtime: u32) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(mtime)
        .filename("changelog")
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn files_below(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The noise is really there: no package of `new` is byte-identical to one of `old`.
fn assert_bytes_differ(old: &Path, new: &Path, ext: &str) {
    let old = files_below(old, ext);
    let new = files_below(new, ext);
    assert!(!new.is_empty());
    for path in &new {
        let bytes = fs::read(path).unwrap();
        for other in &old {
            assert_ne!(bytes, fs::read(other).unwrap(), "{}", path.display());
        }
    }
}

// --- .deb ---

#[derive(Clone)]
struct Deb {
    version: &'static str,
    hello: &'static str,
    changelog: &'static str,
    mtime: i64,
    gzip_mtime: u32,
}

const DEB: Deb = Deb {
    version: "1.0",
    hello: "#!/bin/sh\necho hello\n",
    changelog: "hello (1.0) unstable; urgency=low\n\n  * First.\n",
    mtime: 1_600_000_000,
    gzip_mtime: 1_600_000_000,
};

/// A results directory with `DEBS/hello_<version>_amd64.deb`.
fn build_deb(deb: &Deb) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::create_dir_all(tree.join("usr/bin")).unwrap();
    fs::create_dir_all(tree.join("usr/share/doc/hello")).unwrap();
    let control = format!(
        "Package: hello\nVersion: {}\nArchitecture: amd64\nMaintainer: Test <t@example.org>\n\
         Description: greets\n more text\n",
        deb.version
    );
    fs::write(tree.join("DEBIAN/control"), control).unwrap();
    let hello = tree.join("usr/bin/hello");
    fs::write(&hello, deb.hello).unwrap();
    run(Command::new("chmod").arg("0755").arg(&hello));
    std::os::unix::fs::symlink("hello", tree.join("usr/bin/hi")).unwrap();
    // data.tar stores the second name as a hard link to the first.
    fs::hard_link(&hello, tree.join("usr/bin/hello-again")).unwrap();
    fs::write(
        tree.join("usr/share/doc/hello/changelog.gz"),
        gzip(deb.changelog.as_bytes(), deb.gzip_mtime),
    )
    .unwrap();
    touch_all(&tree, deb.mtime);
    let debs = dir.path().join("results/DEBS");
    fs::create_dir_all(&debs).unwrap();
    let out = debs.join(format!("hello_{}_amd64.deb", deb.version));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&tree)
        .arg(&out));
    dir
}

fn results(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("results")
}

/// The baseline .deb build, shared by the tests.
fn old_deb() -> &'static Path {
    static OLD: OnceLock<PathBuf> = OnceLock::new();
    OLD.get_or_init(|| {
        let keep = common::process_tempdir("obsbox-compare-deb-");
        let built = build_deb(&DEB);
        common::data::copy_tree(&results(&built), &keep.join("results"));
        keep.join("results")
    })
}

#[test]
fn debs_rebuilt_with_other_mtimes_are_same() {
    let new = build_deb(&Deb {
        mtime: 1_700_000_000,
        ..DEB
    });
    assert_bytes_differ(old_deb(), &results(&new), "deb");
    assert_same(old_deb(), &results(&new));
}

#[test]
fn deb_with_changed_file_differs() {
    let new = build_deb(&Deb {
        hello: "#!/bin/sh\necho hello world\n",
        ..DEB
    });
    assert_differences(
        old_deb(),
        &results(&new),
        &[
            "DEBS/hello_1.0_amd64.deb: /usr/bin/hello: content differs",
            "DEBS/hello_1.0_amd64.deb: /usr/bin/hello-again: content differs",
        ],
    );
}

#[test]
fn deb_with_changed_version_differs() {
    let new = build_deb(&Deb {
        version: "1.1",
        ..DEB
    });
    assert_differences(
        old_deb(),
        &results(&new),
        &["DEBS/hello_1.1_amd64.deb: Version 1.0 -> 1.1"],
    );
}

#[test]
fn deb_gzip_rebuilt_with_other_mtime_is_same() {
    let new = build_deb(&Deb {
        gzip_mtime: 1_700_000_000,
        ..DEB
    });
    assert_bytes_differ(old_deb(), &results(&new), "deb");
    assert_same(old_deb(), &results(&new));

    // The decompressed content still counts.
    let changed = build_deb(&Deb {
        gzip_mtime: 1_700_000_000,
        changelog: "hello (1.0) unstable; urgency=low\n\n  * Second.\n",
        ..DEB
    });
    assert_differences(
        old_deb(),
        &results(&changed),
        &["DEBS/hello_1.0_amd64.deb: /usr/share/doc/hello/changelog.gz: content differs"],
    );
}

// --- RPM ---

#[derive(Clone)]
struct Rpm {
    release: u32,
    hello: &'static str,
    changelog: &'static str,
    extra_subpackage: bool,
    /// `_binary_payload`: the compressor and level.
    payload: &'static str,
    buildhost: &'static str,
    mtime: i64,
    man_mtime: i64,
}

const RPM: Rpm = Rpm {
    release: 3,
    hello: "hello",
    changelog: "First release.",
    extra_subpackage: false,
    payload: "w9.gzdio",
    buildhost: "build-a.example.org",
    mtime: 1_600_000_000,
    man_mtime: 1_600_000_000,
};

fn spec(rpm: &Rpm) -> String {
    let (extra_package, extra_install, extra_files) = if rpm.extra_subpackage {
        (
            "%package extra\nSummary: extra files\n%description extra\nExtra.\n",
            "mkdir -p %{buildroot}/usr/share/obscmp\necho extra > %{buildroot}/usr/share/obscmp/extra\n",
            "%files extra\n/usr/share/obscmp/extra\n",
        )
    } else {
        ("", "", "")
    };
    // The Release line is literal, as OBS writes it into the spec of the source package;
    // the noise comes from outside, as from the project config, so the spec stays the same.
    format!(
        r#"Name: obscmp
Version: 1.0
Release: {release}
Summary: build-compare test package
License: MIT
BuildArch: noarch
%description
Test package.
%package devel
Summary: development files
Requires: %{{name}} = %{{version}}-%{{release}}
%description devel
Development files.
{extra_package}
%install
mkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/usr/share/man/man1 %{{buildroot}}/usr/include
echo '{hello}' > %{{buildroot}}/usr/bin/obscmp
chmod 0755 %{{buildroot}}/usr/bin/obscmp
echo '.TH OBSCMP 1' > %{{buildroot}}/usr/share/man/man1/obscmp.1
touch -d @%{{man_mtime}} %{{buildroot}}/usr/share/man/man1/obscmp.1
gzip -9 %{{buildroot}}/usr/share/man/man1/obscmp.1
echo '#define OBSCMP 1' > %{{buildroot}}/usr/include/obscmp.h
{extra_install}find %{{buildroot}} -exec touch -h -d @%{{mtime}} {{}} +
%files
/usr/bin/obscmp
/usr/share/man/man1/obscmp.1.gz
%files devel
/usr/include/obscmp.h
{extra_files}
%changelog
* Mon Mar 04 2024 A Person <a@example.org>
- {changelog}
"#,
        release = rpm.release,
        hello = rpm.hello,
        changelog = rpm.changelog,
    )
}

/// An rpmbuild `_topdir` after `rpmbuild -ba`: `RPMS/noarch/*.rpm`, `SRPMS/*.src.rpm` and
/// the build's other directories, which the comparison must pass over.
fn build_rpm(rpm: &Rpm) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("SPECS");
    fs::create_dir_all(&specs).unwrap();
    let spec_path = specs.join("obscmp.spec");
    fs::write(&spec_path, spec(rpm)).unwrap();
    let define = |name: &str, value: &str| ["--define".to_owned(), format!("{name} {value}")];
    run(Command::new("rpmbuild")
        .arg("-ba")
        .args(define("_topdir", &dir.path().display().to_string()))
        // No brp scripts: they are slow and would recompress the man page.
        .args(define("__spec_install_post", "%{nil}"))
        .args(define("debug_package", "%{nil}"))
        .args(define("_binary_payload", rpm.payload))
        .args(define("mtime", &rpm.mtime.to_string()))
        .args(define("man_mtime", &rpm.man_mtime.to_string()))
        // Build noise that must not count.
        .args(define("_buildhost", rpm.buildhost))
        .args(define("vendor", &format!("Vendor of {}", rpm.buildhost)))
        .args(define(
            "packager",
            &format!("Packager <p@{}>", rpm.buildhost),
        ))
        .args(define(
            "distribution",
            &format!("Distribution {}", rpm.release),
        ))
        .args(define(
            "disturl",
            &format!("obs://{}/home:test/obscmp-{}", rpm.buildhost, rpm.release),
        ))
        .arg(&spec_path));
    dir
}

/// The baseline RPM build, shared by the tests.
fn old_rpm() -> &'static Path {
    static OLD: OnceLock<PathBuf> = OnceLock::new();
    OLD.get_or_init(|| {
        let keep = common::process_tempdir("obsbox-compare-rpm-");
        let built = build_rpm(&RPM);
        for dir in ["RPMS", "SRPMS"] {
            common::data::copy_tree(&built.path().join(dir), &keep.join(dir));
        }
        keep
    })
}

/// Another build with release 4, like OBS's next rebuild.
fn next(rpm: Rpm) -> tempfile::TempDir {
    build_rpm(&Rpm { release: 4, ..rpm })
}

const NEW_RPM: &str = "RPMS/noarch/obscmp-1.0-4.noarch.rpm";
const NEW_SRPM: &str = "SRPMS/obscmp-1.0-4.src.rpm";

#[test]
fn rpms_rebuilt_with_other_release_are_same() {
    let new = next(Rpm {
        payload: "w19.zstdio",
        buildhost: "build-b.example.org",
        mtime: 1_700_000_000,
        man_mtime: 1_700_000_000,
        ..RPM
    });
    assert_bytes_differ(old_rpm(), new.path(), "rpm");
    assert_same(old_rpm(), new.path());
}

#[test]
fn rpm_with_changed_file_differs() {
    let new = next(Rpm {
        hello: "hello, world",
        ..RPM
    });
    // The spec changed too, and it is the source package's content.
    assert_differences(
        old_rpm(),
        new.path(),
        &[
            &format!("{NEW_RPM}: /usr/bin/obscmp: content differs"),
            &format!("{NEW_SRPM}: /obscmp.spec: content differs"),
        ],
    );
}

#[test]
fn rpm_with_new_subpackage_differs() {
    let new = next(Rpm {
        extra_subpackage: true,
        ..RPM
    });
    assert_differences(
        old_rpm(),
        new.path(),
        &[
            // rpmbuild lists what a source package builds as its provides.
            &format!("{NEW_SRPM}: Provides: added obscmp-extra = 1.0"),
            &format!("{NEW_SRPM}: /obscmp.spec: content differs"),
            "package obscmp-extra (noarch) is new",
        ],
    );
}

#[test]
fn rpm_with_changed_changelog_differs() {
    let new = next(Rpm {
        changelog: "Second release.",
        ..RPM
    });
    assert_differences(
        old_rpm(),
        new.path(),
        &[
            &format!("{NEW_RPM}: changelog differs"),
            &format!("{NEW_SRPM}: changelog differs"),
            &format!("{NEW_SRPM}: /obscmp.spec: content differs"),
            "RPMS/noarch/obscmp-devel-1.0-4.noarch.rpm: changelog differs",
        ],
    );
}

/// `.build.oldpackages` holds the old packages in one directory, next to other files.
#[test]
fn flat_old_packages_pair_with_obs_layout() {
    let flat = tempfile::tempdir().unwrap();
    for rpm in files_below(old_rpm(), "rpm") {
        fs::copy(&rpm, flat.path().join(rpm.file_name().unwrap())).unwrap();
    }
    fs::write(flat.path().join("logfile"), "build log\n").unwrap();
    fs::write(flat.path().join("_statistics"), "<buildstatistics/>\n").unwrap();
    fs::write(flat.path().join("obscmp.buildinfo"), "<buildinfo/>\n").unwrap();
    // Not a package: would fail to read if it were looked at.
    fs::create_dir(flat.path().join("OTHER")).unwrap();
    fs::write(flat.path().join("OTHER/not-a-package.rpm"), "junk").unwrap();

    let new = next(RPM);
    assert_same(flat.path(), new.path());

    fs::remove_file(
        files_below(flat.path(), "rpm")
            .iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("obscmp-devel-")
            })
            .unwrap(),
    )
    .unwrap();
    assert_differences(
        flat.path(),
        new.path(),
        &["package obscmp-devel (noarch) is new"],
    );
}

#[test]
fn damaged_package_is_an_error_naming_it() {
    let new = tempfile::tempdir().unwrap();
    common::data::copy_tree(&old_deb().join("DEBS"), &new.path().join("DEBS"));
    let deb = new.path().join("DEBS/hello_1.0_amd64.deb");
    let mut bytes = fs::read(&deb).unwrap();
    bytes.truncate(bytes.len() / 2);
    fs::write(&deb, bytes).unwrap();
    let error = format!("{:#}", compare_results(old_deb(), new.path()).unwrap_err());
    assert!(error.contains("hello_1.0_amd64.deb"), "{error}");
    assert!(!error.contains('\n'), "{error}");
}
