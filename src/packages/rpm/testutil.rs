//! What the tests of the rpm reader share: packages built by rpmbuild from specs, rpm's own
//! answers about them, and damaged copies.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::RpmPackage;
use crate::model::Relation;
use crate::packages::Listing;

/// A package built by `rpmbuild` in a temporary `_topdir`.
pub(super) struct Built {
    _dir: tempfile::TempDir,
    pub(super) rpm: PathBuf,
}

/// Builds `spec` with `rpmbuild MODE` (`-bb` or `-bs`); panics loudly without rpmbuild.
pub(super) fn rpmbuild(spec: &str, mode: &str) -> Built {
    rpmbuild_with_sources(spec, mode, &[])
}

/// Like [`rpmbuild`], with empty files of these names in `SOURCES`.
pub(super) fn rpmbuild_with_sources(spec: &str, mode: &str, sources: &[&str]) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("SOURCES");
    std::fs::create_dir_all(&source_dir).unwrap();
    for name in sources {
        std::fs::write(source_dir.join(name), b"").unwrap();
    }
    let spec_path = dir.path().join("test.spec");
    std::fs::write(&spec_path, spec).unwrap();
    let output = Command::new("rpmbuild")
        .arg(mode)
        .arg("--define")
        .arg(format!("_topdir {}", dir.path().display()))
        // No brp scripts: they strip and recompress, which is slow and not under test.
        .args(["--define", "__spec_install_post %{nil}"])
        .args(["--define", "debug_package %{nil}"])
        .arg(&spec_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("rpmbuild is needed for these tests (Debian package `rpm`): {e}")
        });
    assert!(
        output.status.success(),
        "rpmbuild failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rpm = find_rpm(dir.path()).expect("rpmbuild wrote no package");
    Built { _dir: dir, rpm }
}

pub(super) fn find_rpm(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_rpm(&path) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "rpm") {
            return Some(path);
        }
    }
    None
}

/// `rpm -qp --qf FORMAT`, or `cmd` piped through a shell when `shell` is set.
pub(super) fn rpm_query(rpm: &Path, format: &str) -> String {
    let output = Command::new("rpm")
        .args(["-qp", "--qf", format])
        .arg(rpm)
        .output()
        .expect("rpm is needed for these tests (Debian package `rpm`)");
    assert!(output.status.success(), "rpm -qp failed");
    String::from_utf8(output.stdout).unwrap()
}

pub(super) fn spec(payload: &str) -> String {
    format!(
        r#"Name: obstest
Version: 1.2
Release: 3
Epoch: 4
Summary: obsbox test package
License: MIT
BuildArch: noarch
Requires: bash >= 5.0
Requires: libfoo = 2:1.0-1
Requires: old-lib < 3
Requires(post): coreutils
Provides: virt-thing = 7
Conflicts: badpkg < 2
Obsoletes: oldpkg <= 1.0
%define _binary_payload {payload}
%description
Test package.
%install
mkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/usr/share/obstest/empty %{{buildroot}}/etc
echo hello > %{{buildroot}}/usr/bin/hello
chmod 4755 %{{buildroot}}/usr/bin/hello
ln -s hello %{{buildroot}}/usr/bin/hello-link
echo data > %{{buildroot}}/usr/share/obstest/a
ln %{{buildroot}}/usr/share/obstest/a %{{buildroot}}/usr/share/obstest/b
echo cap > %{{buildroot}}/usr/bin/ping
echo conf > %{{buildroot}}/etc/obstest.conf
mkfifo %{{buildroot}}/usr/share/obstest/fifo
seq 1 30000 > %{{buildroot}}/usr/share/obstest/numbers
%files
%defattr(-,root,root,-)
/usr/bin/hello
/usr/bin/hello-link
%caps(cap_net_raw=ep) /usr/bin/ping
%config(noreplace) /etc/obstest.conf
%dir /usr/share/obstest
%dir /usr/share/obstest/empty
/usr/share/obstest/a
/usr/share/obstest/b
/usr/share/obstest/fifo
/usr/share/obstest/numbers
%attr(0640,nobody,nogroup) %ghost /var/log/obstest.log
%dev(c,1,3) %attr(0666,root,root) /dev/obsnull
%post
echo post
%preun -p /bin/sh
echo preun
"#
    )
}

pub(super) fn relation_lines(relations: &[Relation]) -> Vec<String> {
    relations
        .iter()
        .map(|r| match &r.version {
            Some((op, v)) => format!("{}|{}|{v}", r.name, op.text(crate::model::Format::Rpm)),
            None => format!("{}||", r.name),
        })
        .collect()
}

pub(super) fn query_relations(rpm: &Path, kind: &str) -> Vec<String> {
    let format = format!("[%{{{kind}NAME}}|%{{{kind}FLAGS:depflags}}|%{{{kind}VERSION}}\n]");
    rpm_query(rpm, &format).lines().map(str::to_owned).collect()
}

/// `cap_net_raw=ep` as the kernel stores it: CAP_NET_RAW is 13.
pub(super) fn net_raw_ep() -> Vec<u8> {
    let mut v = vec![0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0];
    v.extend([0; 12]);
    v
}

/// An uncompressed package with a large file, for damaging at known places.
pub(super) fn plain_package() -> (Built, RpmPackage) {
    let spec = spec("w.ufdio");
    let built = rpmbuild(&spec, "-bb");
    let pkg = RpmPackage::open(&built.rpm).unwrap();
    (built, pkg)
}

pub(super) fn damaged(built: &Built, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(&built.rpm).unwrap();
    edit(&mut bytes);
    let path = built.rpm.with_file_name("damaged.rpm");
    std::fs::write(&path, bytes).unwrap();
    path
}

pub(super) fn open_error(path: &Path) -> String {
    let err = RpmPackage::open(path).unwrap_err();
    let text = format!("{err}");
    eprintln!("{text}");
    assert!(text.contains("damaged.rpm"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    text
}

pub(super) fn extract_error(path: &Path) -> String {
    let pkg = RpmPackage::open(path).unwrap();
    let text = format!("{}", pkg.extract(&mut Listing::default()).unwrap_err());
    eprintln!("{text}");
    assert!(text.contains("damaged.rpm"), "{text}");
    text
}
