//! The test data `integration/testdata.sh` makes (real Debian packages and repositories,
//! RPMs built with rpmbuild) and the sources kept in the repository.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `$OBSBOX_TEST_CACHE`, default `/var/cache/obsbox-test`: where the test data is cached.
pub fn test_cache() -> PathBuf {
    PathBuf::from(std::env::var("OBSBOX_TEST_CACHE").unwrap_or("/var/cache/obsbox-test".into()))
}

/// The test data directory; fails (not skips) when `integration/testdata.sh` has not run.
pub fn testdata() -> PathBuf {
    let dir = test_cache();
    assert!(
        dir.join("testdata.stamp").exists(),
        "test data missing in {}: run integration/testdata.sh",
        dir.display()
    );
    dir
}

/// The all-rpm build set `integration/rpm-buildset.sh` makes in the test data (Debian's
/// rpm and its closure repackaged as RPMs, an rpm-md repository): its directory.
pub fn rpm_buildset() -> PathBuf {
    let out = super::run_ok(
        Command::new(repo_root().join("integration/rpm-buildset.sh"))
            .env("OBSBOX_TEST_CACHE", testdata()),
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A name list of the test data (`lists/NAME`), one entry per line.
pub fn list(name: &str) -> Vec<String> {
    fs::read_to_string(testdata().join("lists").join(name))
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The repository's top (for `integration/pkgs/…` and `runtime-config/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cp -a FROM TO`.
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// A tarball of `(name, content)` regular files at `path`, gzip- or xz-compressed as its
/// name ends (`.gz`/`.tgz`, `.xz`), plain otherwise. Names are stored as given: also the
/// ones the tar crate's own setters refuse (`..`, absolute), for tests of hostile archives.
pub fn tarball(path: &Path, members: &[(&str, &[u8])]) {
    use std::io::Write;
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    let raw = builder.into_inner().unwrap();
    let name = path.to_string_lossy();
    let data = if name.ends_with(".xz") {
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap()
    } else if name.ends_with(".gz") || name.ends_with(".tgz") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap()
    } else {
        raw
    };
    fs::write(path, data).unwrap();
}
