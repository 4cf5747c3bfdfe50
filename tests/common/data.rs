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
