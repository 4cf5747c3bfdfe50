//! Repository reading and downloads against fixtures built here, read from a path, a
//! `file://` URL and a real HTTP server on loopback.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::serve::Server;
use obsbox::repo::fetch::{FetchItem, fetch_all};
use obsbox::repo::{self, Arch, Checksum, Location, Op, RepoKind};
use sha2::{Digest, Sha256};

/// An arch name of a test (valid).
fn a(name: &str) -> Arch {
    name.parse().unwrap()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// The .deb files of the fixture archive: (pool path, contents, control fields).
fn debs() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        (
            "pool/main/h/hello/hello_2.10-3_amd64.deb",
            b"not really a deb: hello".to_vec(),
            "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nMulti-Arch: foreign\n\
             Priority: optional\nDepends: libc6 (>= 2.34)\n",
        ),
        (
            "pool/main/b/base-files/base-files_12.4_all.deb",
            b"not really a deb: base-files, a bit longer".to_vec(),
            "Package: base-files\nEssential: yes\nPriority: required\nVersion: 12.4\n\
             Architecture: all\nPre-Depends: awk\nBreaks: initscripts (<< 2.88dsf-13.3)\n",
        ),
        (
            "pool/main/h/hello/hello_2.10-3_arm64.deb",
            b"arm64 hello".to_vec(),
            "Package: hello\nVersion: 2.10-3\nArchitecture: arm64\n",
        ),
    ]
}

/// Writes the pool and returns the `Packages` text describing it.
fn write_pool(root: &Path) -> String {
    let mut packages = String::new();
    for (path, data, control) in debs() {
        write(&root.join(path), &data);
        packages.push_str(&format!(
            "{control}Filename: {path}\nSize: {}\nSHA256: {}\nDescription: test\n multi-line\n\n",
            data.len(),
            sha256(&data)
        ));
    }
    packages
}

/// A Debian archive with suite `bookworm`, component `main`, amd64 and arm64 indexes.
fn debian_archive() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let packages = write_pool(dir.path());
    write_dists(dir.path(), &packages);
    dir
}

/// Writes `dists/bookworm` of the archive at `root`: `packages` as the amd64 and arm64
/// indexes (plain, gz, xz) and the `Release` that lists them.
fn write_dists(root: &Path, packages: &str) {
    let dist = root.join("dists/bookworm");
    let mut sums = String::new();
    for arch in ["amd64", "arm64"] {
        for (name, data) in [
            ("Packages", packages.as_bytes().to_vec()),
            ("Packages.gz", gz(packages.as_bytes())),
            ("Packages.xz", xz(packages.as_bytes())),
        ] {
            let rel = format!("main/binary-{arch}/{name}");
            write(&dist.join(&rel), &data);
            sums.push_str(&format!(" {} {} {rel}\n", sha256(&data), data.len()));
        }
    }
    let release = format!(
        "Origin: test\nSuite: bookworm\nArchitectures: amd64 arm64\nComponents: main\n\
         MD5Sum:\n 0123 1 main/binary-amd64/Packages\nSHA256:\n{sums}"
    );
    write(&dist.join("Release"), release.as_bytes());
}

fn check_debian_packages(pkgs: &[repo::PackageMeta], index: usize) {
    let mut names: Vec<_> = pkgs.iter().map(|p| p.nevra()).collect();
    names.sort();
    assert_eq!(names, ["base-files=12.4.all", "hello=2.10-3.amd64"]);
    let hello = pkgs.iter().find(|p| p.name == "hello").unwrap();
    assert_eq!(hello.location, "pool/main/h/hello/hello_2.10-3_amd64.deb");
    assert_eq!(hello.size, 23);
    assert_eq!(hello.depends[0][0].version, Some((Op::Ge, "2.34".into())));
    assert_eq!(hello.multi_arch, "foreign");
    assert_eq!(hello.repo, index);
    let base = pkgs.iter().find(|p| p.name == "base-files").unwrap();
    assert!(base.essential);
    assert_eq!(base.priority, "required");
    assert_eq!(&*base.conflicts[0].name, "initscripts");
    assert_eq!(&*base.depends[0][0].name, "awk");
}

/// The one-line error a user would see.
fn err(r: anyhow::Result<impl std::fmt::Debug>) -> String {
    let e = format!("{:#}", r.unwrap_err());
    eprintln!("error: {e}");
    e
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn debian_archive_by_path_file_url_and_http() {
    let archive = debian_archive();
    let root = archive.path().to_str().unwrap();
    let server = Server::serve(archive.path());
    for (i, spec) in [
        format!("{root} bookworm main"),
        format!("file://{root} bookworm"),
        format!("{} bookworm main", server.url("")),
    ]
    .iter()
    .enumerate()
    {
        let r = repo::open(spec, &a("x86_64"), i).unwrap();
        assert_eq!(r.kind, RepoKind::Debian);
        check_debian_packages(&r.packages, i);
    }
    let r = repo::open(&format!("{} bookworm", server.url("")), &a("arm64"), 0).unwrap();
    assert_eq!(r.packages.len(), 2);
    assert!(r.packages.iter().any(|p| p.arch == "arm64"));

    // Download everything the repository lists, verified.
    let out = tempfile::tempdir().unwrap();
    let items: Vec<FetchItem> = r
        .packages
        .iter()
        .map(|p| FetchItem {
            location: r.source.join(&p.location).unwrap(),
            dest: out.path().join(p.location.rsplit('/').next().unwrap()),
            checksum: p.checksum.clone(),
            size: p.size,
        })
        .collect();
    fetch_all(&items, 2).unwrap();
    assert_eq!(
        fs::read(out.path().join("hello_2.10-3_arm64.deb")).unwrap(),
        b"arm64 hello"
    );
    assert_eq!(leftovers(out.path()).len(), 2);
}

/// A remote archive's index is decompressed once: the cache keeps it under the sum
/// `Release` gives for the uncompressed index, and the next read takes it from there (here
/// the server no longer has `Packages.xz` at all). When the archive changes, its new index
/// is read, not the kept one.
#[test]
fn remote_index_kept_in_the_cache_until_the_archive_changes() {
    let archive = debian_archive();
    let server = Server::serve(archive.path());
    let spec = format!("{} bookworm main", server.url(""));
    let cache = tempfile::tempdir().unwrap();
    let open = || {
        repo::open_cached(
            &spec,
            &a("x86_64"),
            0,
            Some(cache.path()),
            &repo::IndexBudget::default(),
        )
    };
    check_debian_packages(&open().unwrap().packages, 0);
    let index = archive
        .path()
        .join("dists/bookworm/main/binary-amd64/Packages");
    let text = fs::read_to_string(&index).unwrap();
    let kept = cache.path().join("indexes").join(sha256(text.as_bytes()));
    assert_eq!(fs::read_to_string(&kept).unwrap(), text);
    assert_eq!(
        leftovers(&cache.path().join("indexes")),
        std::slice::from_ref(&kept)
    );

    fs::remove_file(index.with_extension("xz")).unwrap();
    check_debian_packages(&open().unwrap().packages, 0);
    let e = err(repo::open(&spec, &a("x86_64"), 0));
    assert!(e.contains("Packages.xz"), "{e}");

    let changed = format!(
        "{text}Package: extra\nVersion: 1\nArchitecture: amd64\nFilename: pool/extra.deb\n\
         Size: 1\nSHA256: {}\n\n",
        sha256(b"x")
    );
    write_dists(archive.path(), &changed);
    let r = open().unwrap();
    assert!(
        r.packages.iter().any(|p| p.name == "extra"),
        "{:?}",
        r.packages
    );
    assert_eq!(leftovers(&cache.path().join("indexes")).len(), 2);
}

/// A local mirror reads the uncompressed index when it has one, and the compressed ones
/// when Release lists an uncompressed index the mirror left out (as Debian's do).
#[test]
fn local_mirror_without_the_uncompressed_index_it_lists() {
    let archive = debian_archive();
    let root = archive.path().to_str().unwrap();
    let index = archive
        .path()
        .join("dists/bookworm/main/binary-amd64/Packages");
    fs::remove_file(&index).unwrap();
    let r = repo::open(&format!("{root} bookworm main"), &a("x86_64"), 0).unwrap();
    check_debian_packages(&r.packages, 0);
    fs::remove_file(index.with_extension("xz")).unwrap();
    let r = repo::open(&format!("file://{root} bookworm main"), &a("x86_64"), 0).unwrap();
    check_debian_packages(&r.packages, 0);
}

#[test]
fn debian_arch_not_in_release() {
    let archive = debian_archive();
    let e = err(repo::open(
        &format!("{} bookworm", archive.path().display()),
        &a("riscv64"),
        0,
    ));
    assert!(
        e.contains("Release: suite `bookworm` has no architecture `riscv64`"),
        "{e}"
    );
    let e = err(repo::open(
        &format!("{} trixie", archive.path().display()),
        &a("amd64"),
        0,
    ));
    assert!(e.contains("dists/trixie/Release: not found"), "{e}");
}

#[test]
fn debian_packages_checksum_mismatch() {
    let archive = debian_archive();
    let server = Server::serve(archive.path());
    let index = archive
        .path()
        .join("dists/bookworm/main/binary-amd64/Packages.xz");
    let mut data = fs::read(&index).unwrap();
    let expected = sha256(&data);
    let last = data.len() - 1;
    data[last] ^= 0xff;
    fs::write(&index, &data).unwrap();
    let e = err(repo::open(
        &format!("{} bookworm", server.url("")),
        &a("amd64"),
        0,
    ));
    let url = server.url("dists/bookworm/main/binary-amd64/Packages.xz");
    assert!(
        e.contains(&format!(
            "{url}: sha256 checksum mismatch: expected {expected}, got {}",
            sha256(&data)
        )),
        "{e}"
    );
    // A wrong size is caught too, before any hashing.
    fs::write(&index, b"short").unwrap();
    let e = err(repo::open(
        &format!("{} bookworm", server.url("")),
        &a("amd64"),
        0,
    ));
    assert!(e.contains(&format!("{url}: size mismatch")), "{e}");
}

#[test]
fn debian_missing_packages_names_the_url() {
    let archive = debian_archive();
    let server = Server::serve(archive.path());
    fs::remove_file(
        archive
            .path()
            .join("dists/bookworm/main/binary-amd64/Packages.xz"),
    )
    .unwrap();
    let e = err(repo::open(
        &format!("{} bookworm", server.url("")),
        &a("amd64"),
        0,
    ));
    assert_eq!(
        e,
        format!(
            "{}: not found",
            server.url("dists/bookworm/main/binary-amd64/Packages.xz")
        )
    );
    // A component the Release does not list.
    let e = err(repo::open(
        &format!("{} bookworm contrib", server.url("")),
        &a("amd64"),
        0,
    ));
    assert!(
        e.contains("Release: lists no contrib/binary-amd64/Packages index"),
        "{e}"
    );
}

#[test]
fn inrelease_is_read_unsigned() {
    let archive = debian_archive();
    let dist = archive.path().join("dists/bookworm");
    let release = fs::read_to_string(dist.join("Release")).unwrap();
    fs::remove_file(dist.join("Release")).unwrap();
    let signed = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{release}\
         -----BEGIN PGP SIGNATURE-----\n\nnot checked\n-----END PGP SIGNATURE-----\n"
    );
    fs::write(dist.join("InRelease"), signed).unwrap();
    let r = repo::open(
        &format!("{} bookworm", archive.path().display()),
        &a("amd64"),
        0,
    )
    .unwrap();
    check_debian_packages(&r.packages, 0);
}

#[test]
fn flat_debian_repository() {
    let dir = tempfile::tempdir().unwrap();
    let packages = write_pool(dir.path());
    write(&dir.path().join("Packages.gz"), &gz(packages.as_bytes()));
    let server = Server::serve(dir.path());
    let r = repo::open(&server.url(""), &a("amd64"), 4).unwrap();
    assert_eq!(r.kind, RepoKind::DebianFlat);
    check_debian_packages(&r.packages, 4);
    // sources.list's `URL ./` form.
    let r = repo::open(&format!("{} ./", dir.path().display()), &a("amd64"), 4).unwrap();
    assert_eq!(r.kind, RepoKind::DebianFlat);
    check_debian_packages(&r.packages, 4);

    // With a Release beside it, the index is verified against it.
    let index = gz(packages.as_bytes());
    let release = format!("SHA256:\n {} {} Packages.gz\n", sha256(&index), index.len());
    write(&dir.path().join("Release"), release.as_bytes());
    let r = repo::open(&server.url(""), &a("amd64"), 4).unwrap();
    check_debian_packages(&r.packages, 4);
    write(&dir.path().join("Packages.gz"), &gz(b"Package: evil\n"));
    let e = err(repo::open(&server.url(""), &a("amd64"), 4));
    assert!(
        e.starts_with(&format!("{}: size mismatch", server.url("Packages.gz"))),
        "{e}"
    );

    // A paragraph without Architecture is an error naming the file and line.
    fs::remove_file(dir.path().join("Release")).unwrap();
    write(
        &dir.path().join("Packages.gz"),
        &gz(format!("{packages}Package: broken\nVersion: 1\nFilename: b.deb\n").as_bytes()),
    );
    let e = err(repo::open(&server.url(""), &a("amd64"), 4));
    assert!(e.starts_with(&server.url("Packages.gz")), "{e}");
    assert!(
        e.contains("package `broken`") && e.contains("`Architecture`"),
        "{e}"
    );
}

#[test]
fn downloaded_package_checksum_mismatch_leaves_nothing() {
    let archive = debian_archive();
    let server = Server::serve(archive.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("hello.deb");
    let rel = "pool/main/h/hello/hello_2.10-3_amd64.deb";
    let wrong = Checksum {
        algo: "sha256".into(),
        hex: "0".repeat(64),
    };
    let actual = sha256(&fs::read(archive.path().join(rel)).unwrap());
    for loc in [
        Location::Url(server.url(rel)),
        Location::Path(archive.path().join(rel)),
    ] {
        let e = err(fetch_one(&loc, &dest, Some(&wrong), 0));
        assert_eq!(
            e,
            format!(
                "{loc}: sha256 checksum mismatch: expected {}, got {actual}",
                wrong.hex
            )
        );
        assert!(
            leftovers(out.path()).is_empty(),
            "{:?}",
            leftovers(out.path())
        );
        // The right checksum lands the file.
        let right = Checksum {
            algo: "sha256".into(),
            hex: actual.clone(),
        };
        fetch_one(&loc, &dest, Some(&right), 23).unwrap();
        assert_eq!(fs::metadata(&dest).unwrap().len(), 23);
        assert_eq!(fs::read(&dest).unwrap(), b"not really a deb: hello");
        fs::remove_file(&dest).unwrap();
        // A missing file names its URL or path.
        let missing = match &loc {
            Location::Url(_) => Location::Url(server.url("pool/nope.deb")),
            Location::Path(p) => Location::Path(p.with_file_name("nope.deb")),
        };
        assert_eq!(
            err(fetch_one(&missing, &dest, None, 0)),
            format!("{missing}: not found")
        );
        assert!(leftovers(out.path()).is_empty());
    }
}

#[test]
fn parallel_fetch() {
    let src = tempfile::tempdir().unwrap();
    let server = Server::serve(src.path());
    let out = tempfile::tempdir().unwrap();
    let mut items = Vec::new();
    for i in 0..12 {
        let data: Vec<u8> = (0..(i * 7919 + 100)).map(|b| (b * i) as u8).collect();
        write(&src.path().join(format!("f{i}.bin")), &data);
        items.push(FetchItem {
            location: Location::Url(server.url(&format!("f{i}.bin"))),
            dest: out.path().join(format!("f{i}.bin")),
            checksum: Some(Checksum {
                algo: "sha256".into(),
                hex: sha256(&data),
            }),
            size: data.len() as u64,
        });
    }
    fetch_all(&items, 4).unwrap();
    for i in 0..12 {
        let name = format!("f{i}.bin");
        assert_eq!(
            fs::read(out.path().join(&name)).unwrap(),
            fs::read(src.path().join(&name)).unwrap()
        );
    }

    // One bad item fails the whole batch with its own error.
    let out2 = tempfile::tempdir().unwrap();
    for it in &mut items {
        it.dest = out2.path().join(it.dest.file_name().unwrap());
    }
    items[5].checksum = Some(Checksum {
        algo: "sha256".into(),
        hex: "f".repeat(64),
    });
    let e = err(fetch_all(&items, 4));
    assert!(
        e.starts_with(&format!(
            "{}: sha256 checksum mismatch",
            server.url("f5.bin")
        )),
        "{e}"
    );
    assert!(!out2.path().join("f5.bin").exists());
    assert!(
        leftovers(out2.path())
            .iter()
            .all(|p| !p.to_string_lossy().contains(".part"))
    );
}

const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm">
  <name>hello</name><arch>x86_64</arch>
  <version epoch="0" ver="2.12.1" rel="1.3"/>
  <checksum type="sha256" pkgid="YES">aaaa</checksum>
  <size package="120" installed="300" archive="400"/>
  <location href="x86_64/hello-2.12.1-1.3.x86_64.rpm"/>
  <format>
    <rpm:provides><rpm:entry name="hello" flags="EQ" epoch="0" ver="2.12.1" rel="1.3"/></rpm:provides>
    <rpm:requires>
      <rpm:entry name="rpmlib(CompressedFileNames)" flags="LE" epoch="0" ver="3.0.4" rel="1"/>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="libc.so.6()(64bit)"/>
    </rpm:requires>
    <file>/usr/bin/hello</file>
  </format>
</package>
<package type="rpm">
  <name>hello</name><arch>aarch64</arch><version epoch="0" ver="2.12.1" rel="1.3"/>
  <location href="aarch64/hello-2.12.1-1.3.aarch64.rpm"/><format/>
</package>
<package type="rpm">
  <name>filesystem</name><arch>noarch</arch><version epoch="0" ver="84.87" rel="2.1"/>
  <location href="noarch/filesystem-84.87-2.1.noarch.rpm"/>
  <format><rpm:provides><rpm:entry name="/bin/sh"/></rpm:provides></format>
</package>
</metadata>
"#;

/// An rpm-md repository whose primary is `primary` compressed as `ext` says.
fn rpmmd_repo(primary: &[u8], ext: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = match ext {
        "zst" => zstd::encode_all(primary, 3).unwrap(),
        "gz" => gz(primary),
        "xz" => xz(primary),
        _ => primary.to_vec(),
    };
    let sum = sha256(&data);
    let href = format!("repodata/{sum}-primary.xml.{ext}");
    write(&dir.path().join(&href), &data);
    let repomd = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="filelists"><checksum type="sha256">00</checksum><location href="repodata/f.xml.gz"/></data>
  <data type="primary">
    <checksum type="sha256">{sum}</checksum>
    <open-checksum type="sha256">{}</open-checksum>
    <location href="{href}"/>
    <timestamp>1</timestamp>
    <size>{}</size>
  </data>
</repomd>
"#,
        sha256(primary),
        data.len()
    );
    write(&dir.path().join("repodata/repomd.xml"), repomd.as_bytes());
    dir
}

#[test]
fn rpmmd_by_path_and_http() {
    for ext in ["zst", "gz", "xz", "xml"] {
        let r = rpmmd_repo(PRIMARY.as_bytes(), ext);
        let server = Server::serve(r.path());
        for spec in [r.path().display().to_string(), server.url("")] {
            // Debian and RPM arch names alike.
            for arch in ["x86_64", "amd64"] {
                let repo = repo::open(&spec, &a(arch), 2).unwrap();
                assert_eq!(repo.kind, RepoKind::RpmMd);
                let names: Vec<_> = repo.packages.iter().map(|p| p.nevra()).collect();
                assert_eq!(
                    names,
                    ["hello=2.12.1-1.3.x86_64", "filesystem=84.87-2.1.noarch"],
                    "{ext} {spec}"
                );
                let hello = &repo.packages[0];
                assert_eq!(hello.depends.len(), 2);
                assert_eq!(hello.files, ["/usr/bin/hello"]);
                assert_eq!(hello.size, 120);
            }
        }
        let a = repo::open(&r.path().display().to_string(), &a("aarch64"), 0).unwrap();
        assert_eq!(a.packages[0].arch, "aarch64");
    }
}

/// A remote rpm-md primary is kept decompressed in the cache under its `open-checksum` and
/// read from there while `repomd.xml` names it (here the server has lost the file);
/// a new primary is read when `repomd.xml` changes.
#[test]
fn rpmmd_remote_primary_kept_in_the_cache() {
    let r = rpmmd_repo(PRIMARY.as_bytes(), "zst");
    let server = Server::serve(r.path());
    let cache = tempfile::tempdir().unwrap();
    let open = || {
        repo::open_cached(
            &server.url(""),
            &a("x86_64"),
            0,
            Some(cache.path()),
            &repo::IndexBudget::default(),
        )
    };
    let names = |repo: repo::Repository| -> Vec<String> {
        repo.packages.iter().map(|p| p.nevra()).collect()
    };
    let expected = ["hello=2.12.1-1.3.x86_64", "filesystem=84.87-2.1.noarch"];
    assert_eq!(names(open().unwrap()), expected);
    let kept = cache
        .path()
        .join("indexes")
        .join(sha256(PRIMARY.as_bytes()));
    assert_eq!(fs::read(&kept).unwrap(), PRIMARY.as_bytes());

    for f in leftovers(&r.path().join("repodata")) {
        if f.to_string_lossy().contains("-primary.xml") {
            fs::remove_file(f).unwrap();
        }
    }
    assert_eq!(names(open().unwrap()), expected);
    let e = err(repo::open(&server.url(""), &a("x86_64"), 0));
    assert!(e.contains("-primary.xml.zst"), "{e}");

    // A damaged copy is not used: the repository is read again (here it has no primary).
    fs::write(&kept, PRIMARY.replace("hello", "hallo")).unwrap();
    let e = err(open());
    assert!(e.contains("-primary.xml.zst"), "{e}");
    assert!(!kept.exists());

    let changed = PRIMARY.replace(
        "<name>hello</name><arch>aarch64</arch>",
        "<name>extra</name><arch>x86_64</arch>",
    );
    let r2 = rpmmd_repo(changed.as_bytes(), "gz");
    fs::remove_dir_all(r.path().join("repodata")).unwrap();
    fs::rename(r2.path().join("repodata"), r.path().join("repodata")).unwrap();
    let now = names(open().unwrap());
    assert!(
        now.contains(&"extra=2.12.1-1.3.x86_64".to_string()),
        "{now:?}"
    );
}

#[test]
fn rpmmd_broken_xml_names_the_file() {
    let broken = PRIMARY.replace("</name><arch>x86_64", "</nam><arch>x86_64");
    let r = rpmmd_repo(broken.as_bytes(), "gz");
    let server = Server::serve(r.path());
    let e = err(repo::open(&server.url(""), &a("x86_64"), 0));
    let href = fs::read_dir(r.path().join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with("primary.xml.gz"))
        .unwrap();
    assert!(
        e.starts_with(&format!(
            "{}: broken XML",
            server.url(&format!("repodata/{href}"))
        )),
        "{e}"
    );

    // A truncated primary, and a broken repomd.xml.
    let r = rpmmd_repo(&PRIMARY.as_bytes()[..PRIMARY.len() / 2], "zst");
    let e = err(repo::open(&r.path().display().to_string(), &a("x86_64"), 0));
    assert!(e.contains("primary.xml.zst: broken XML"), "{e}");
    fs::write(r.path().join("repodata/repomd.xml"), "<repomd><data type=").unwrap();
    let e = err(repo::open(&r.path().display().to_string(), &a("x86_64"), 0));
    assert!(
        e.starts_with(&format!(
            "{}: broken XML",
            r.path().join("repodata/repomd.xml").display()
        )),
        "{e}"
    );
}

#[test]
fn rpmmd_primary_checksum_mismatch() {
    let r = rpmmd_repo(PRIMARY.as_bytes(), "xml");
    let primary = fs::read_dir(r.path().join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("primary.xml.xml"))
        .unwrap();
    let mut data = fs::read(&primary).unwrap();
    data[0] = b' ';
    fs::write(&primary, &data).unwrap();
    let e = err(repo::open(&r.path().display().to_string(), &a("x86_64"), 0));
    assert!(
        e.starts_with(&format!("{}: sha256 checksum mismatch", primary.display())),
        "{e}"
    );
}

#[test]
fn unrecognised_sources() {
    let dir = tempfile::tempdir().unwrap();
    let e = err(repo::open(
        &dir.path().display().to_string(),
        &a("x86_64"),
        0,
    ));
    assert!(e.contains("no .deb or .rpm files"), "{e}");
    let e = err(repo::open("/nonexistent/obsbox-repo", &a("x86_64"), 0));
    assert_eq!(e, "repository /nonexistent/obsbox-repo: no such directory");
    let server = Server::serve(dir.path());
    let e = err(repo::open(&server.url("sub"), &a("x86_64"), 0));
    assert!(
        e.contains("no repodata/repomd.xml and no Packages index"),
        "{e}"
    );
    let e = err(repo::open(&server.url(""), &a("m68k"), 0));
    assert!(e.contains("unknown architecture `m68k`"), "{e}");
    // Nothing listening: the error names the URL.
    drop(server);
    let e = err(repo::open("http://127.0.0.1:9/r bookworm", &a("amd64"), 0));
    assert!(
        e.starts_with("GET http://127.0.0.1:9/r/dists/bookworm/Release"),
        "{e}"
    );
}

/// A plain directory of packages is a repository, read from the packages' own headers.
#[test]
fn local_directory_of_packages() {
    let cache = common::data::test_cache();
    let dir = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for sub in ["debs/arm64", "rpm-repo/x86_64", "rpm-repo/noarch"] {
        for entry in fs::read_dir(cache.join(sub)).expect("run integration/testdata.sh") {
            let path = entry.unwrap().path();
            fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            copied += 1;
        }
    }
    let spec = dir.path().display().to_string();
    let arm = repo::open(&spec, &a("arm64"), 0).unwrap();
    assert_eq!(arm.kind, RepoKind::Local);
    assert!(
        arm.packages
            .iter()
            .any(|p| p.name == "hello" && p.arch == "arm64")
    );
    // Arch-independent RPMs fit any arch; x86_64 ones only x86_64.
    assert!(
        arm.packages
            .iter()
            .all(|p| p.arch == "arm64" || p.arch == "noarch"),
        "{:?}",
        arm.packages
    );
    let x86 = repo::open(&spec, &a("x86_64"), 0).unwrap();
    let tools = x86
        .packages
        .iter()
        .find(|p| p.name == "obsbox-test-tools")
        .unwrap();
    assert_eq!(tools.version, "1.0-1");
    assert!(
        tools
            .depends
            .iter()
            .flatten()
            .any(|r| &*r.name == "obsbox-test-base")
    );
    assert!(copied > x86.packages.len());
}

/// The machine's own apt lists (integration/setup.sh runs `apt-get update`): a full Debian
/// `Packages` parses.
#[test]
fn real_debian_packages_list() {
    let lists = Path::new("/var/lib/apt/lists");
    let list = fs::read_dir(lists)
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.to_string_lossy();
                    n.contains("_main_binary-amd64_Packages")
                        && !n.contains("security")
                        && !n.contains("updates")
                })
                .max_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        })
        .expect("no amd64 main Packages list in /var/lib/apt/lists: run integration/setup.sh");
    // apt keeps lists lz4-compressed, which obsbox does not read; lz4cat (setup installs
    // it) unpacks them.
    let text = if list.extension().is_some_and(|e| e == "lz4") {
        let out = Command::new("lz4cat")
            .arg(&list)
            .output()
            .expect("lz4cat: run integration/setup.sh");
        assert!(out.status.success(), "lz4cat {}", list.display());
        String::from_utf8(out.stdout).unwrap()
    } else {
        fs::read_to_string(&list).unwrap()
    };
    let loc = Location::Path(list.clone());
    let pkgs = obsbox::repo::debian::parse_packages(&text, &loc, "amd64", 0).unwrap();
    assert!(
        pkgs.len() > 10000,
        "{} packages in {}",
        pkgs.len(),
        list.display()
    );
    let dpkg = pkgs.iter().find(|p| p.name == "dpkg").unwrap();
    assert!(dpkg.essential);
    assert!(dpkg.checksum.is_some() && dpkg.size > 0);
    assert!(pkgs.iter().filter(|p| p.essential).count() > 10);
}

/// One download through the production path.
fn fetch_one(
    location: &Location,
    dest: &std::path::Path,
    checksum: Option<&Checksum>,
    size: u64,
) -> anyhow::Result<()> {
    let item = FetchItem {
        location: location.clone(),
        dest: dest.to_path_buf(),
        checksum: checksum.cloned(),
        size,
    };
    fetch_all(&[item], 1)
}
