//! The package readers and the safe extractor against real packages and hostile archives.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tree;
use obsbox::packages::{deb, extract::Options};

fn test_cache() -> PathBuf {
    PathBuf::from(std::env::var("OBSBOX_TEST_CACHE").unwrap_or("/var/cache/obsbox-test".into()))
}

fn dpkg_deb_x(deb: &Path, out: &Path) {
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "dpkg-deb -x {}", deb.display());
}

/// obsbox's extraction of `deb` equals `dpkg-deb -x` of it.
fn assert_same_as_dpkg(deb: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("obsbox"), dir.path().join("dpkg"));
    deb::extract(deb, &ours, Options::default()).unwrap();
    dpkg_deb_x(deb, &theirs);
    let differences = tree::diff(&tree::describe(&theirs), &tree::describe(&ours));
    assert!(
        differences.is_empty(),
        "{}: {differences:#?}",
        deb.display()
    );
}

#[test]
fn busybox_extracts_like_dpkg_deb() {
    let debs = test_cache().join("debs");
    let deb = std::fs::read_dir(&debs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("busybox-static_")
        })
        .expect("run integration/busybox-bundle.sh or testdata.sh first");
    assert_same_as_dpkg(&deb);
}
