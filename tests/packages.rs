//! The package readers and the safe extractor against real packages and hostile archives.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::data::test_cache;
use common::tree;
use obsbox::packages::{deb, extract::Options};

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

// ---- hostile archives -------------------------------------------------------------------

/// A tar entry for hand-made archives (the tar crate's builder refuses hostile names, which
/// is exactly what these tests need to write).
struct Raw<'a> {
    name: &'a str,
    /// b'0' file, b'1' hard link, b'2' symlink, b'3' char device, b'5' dir, b'6' fifo.
    kind: u8,
    link: &'a str,
    data: &'a [u8],
    /// The size written into the header (defaults to the data's length).
    declared: Option<u64>,
}

fn raw(name: &str, kind: u8) -> Raw<'_> {
    Raw {
        name,
        kind,
        link: "",
        data: b"",
        declared: None,
    }
}

fn octal(field: &mut [u8], value: u64) {
    let s = format!("{:0width$o}\0", value, width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

fn raw_tar(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        h[..e.name.len()].copy_from_slice(e.name.as_bytes());
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], e.declared.unwrap_or(e.data.len() as u64));
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = e.kind;
        h[157..157 + e.link.len()].copy_from_slice(e.link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], 8);
        octal(&mut h[337..345], 0);
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A .deb around the given data.tar (already compressed, `member` names it).
fn make_deb(path: &Path, member: &str, data_tar: &[u8]) {
    let control = gzip(&raw_tar(&[Raw {
        data: b"Package: hostile\nVersion: 1\nArchitecture: all\n",
        ..raw("./control", b'0')
    }]));
    let mut b = ar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar.gz", &control[..]),
        (member, data_tar),
    ] {
        b.append(
            &ar::Header::new(name.as_bytes().to_vec(), data.len() as u64),
            data,
        )
        .unwrap();
    }
}

/// A scratch area with `root/` (the target) and `outside/` (must never change).
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("outside/sub")).unwrap();
        std::fs::write(dir.path().join("outside/secret"), b"keep me").unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        Scratch { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    /// Extracts `tar` (plain) as a .deb and returns the error line.
    fn extract_err(&self, tar: &[u8]) -> String {
        let deb = self.dir.path().join("hostile_1_all.deb");
        make_deb(&deb, "data.tar.gz", &gzip(tar));
        self.extract_deb_err(&deb)
    }
    fn extract_deb_err(&self, deb: &Path) -> String {
        let before = tree::describe(
            self.dir
                .path()
                .parent()
                .unwrap()
                .join(self.dir.path())
                .as_path(),
        )
        .into_iter()
        .filter(|(p, _)| !p.starts_with("root"))
        .filter(|(p, _)| !p.ends_with(".deb"))
        .collect::<std::collections::BTreeMap<_, _>>();
        let err = deb::extract(deb, &self.root(), Options::default())
            .expect_err("a hostile archive must be refused");
        let line = format!("{err:#}");
        let after = tree::describe(self.dir.path())
            .into_iter()
            .filter(|(p, _)| !p.starts_with("root"))
            .filter(|(p, _)| !p.ends_with(".deb"))
            .collect::<std::collections::BTreeMap<_, _>>();
        assert_eq!(before, after, "something outside the root changed ({line})");
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(
            line.contains("hostile_1_all.deb"),
            "names the package: {line}"
        );
        line
    }
}

#[test]
fn path_traversal_is_refused() {
    let s = Scratch::new();
    let err = s.extract_err(&raw_tar(&[Raw {
        data: b"x",
        ..raw("./../outside/pwned", b'0')
    }]));
    assert!(
        err.contains("entry ./../outside/pwned") && err.contains("leaves the root"),
        "{err}"
    );
    let err = s.extract_err(&raw_tar(&[Raw {
        data: b"x",
        ..raw("usr/../../../outside/secret", b'0')
    }]));
    assert!(err.contains("leaves the root"), "{err}");
}

#[test]
fn writing_through_an_own_symlink_is_refused() {
    let s = Scratch::new();
    let outside = s.outside().display().to_string();
    for target in [outside.as_str(), "../outside", "../../../../../../.."] {
        let err = s.extract_err(&raw_tar(&[
            Raw {
                link: target,
                ..raw("./evil", b'2')
            },
            Raw {
                data: b"x",
                ..raw("./evil/pwned", b'0')
            },
        ]));
        assert!(
            err.contains("entry ./evil/pwned") && err.contains("through symlink evil"),
            "{err}"
        );
    }
}

#[test]
fn an_existing_symlink_resolves_inside_the_root() {
    // A symlink from an earlier package pointing at an absolute host path: a later package
    // writing through it lands inside the root, as it would inside the container.
    let s = Scratch::new();
    let outside = s.outside();
    std::os::unix::fs::symlink(&outside, s.root().join("evil")).unwrap();
    let deb = s.dir.path().join("hostile_1_all.deb");
    make_deb(
        &deb,
        "data.tar",
        &raw_tar(&[Raw {
            data: b"x",
            ..raw("./evil/sub/pwned", b'0')
        }]),
    );
    // Where the link points has no directory inside the root yet: refused, nothing created.
    let err = s.extract_deb_err(&deb);
    assert!(
        err.contains("entry ./evil/sub/pwned") && err.contains("cannot open directory"),
        "{err}"
    );
    // Once the root has it (as an earlier package would have made it), the write lands there.
    let inside_dir = s
        .root()
        .join(outside.strip_prefix("/").unwrap())
        .join("sub");
    std::fs::create_dir_all(&inside_dir).unwrap();
    deb::extract(&deb, &s.root(), Options::default()).unwrap();
    assert!(!outside.join("sub/pwned").exists());
    let inside = s
        .root()
        .join(outside.strip_prefix("/").unwrap())
        .join("sub/pwned");
    assert_eq!(std::fs::read(inside).unwrap(), b"x");
}

#[test]
fn hard_links_out_of_the_root_are_refused() {
    let s = Scratch::new();
    let err = s.extract_err(&raw_tar(&[Raw {
        link: "../outside/secret",
        ..raw("./link", b'1')
    }]));
    assert!(
        err.contains("entry ./link") || err.contains("entry ../outside/secret"),
        "{err}"
    );
    assert!(err.contains("leaves the root"), "{err}");
    let abs = s.outside().join("secret").display().to_string();
    let err = s.extract_err(&raw_tar(&[Raw {
        link: &abs,
        ..raw("./link", b'1')
    }]));
    assert!(
        err.contains("entry ./link") && err.contains("not in the root"),
        "{err}"
    );
    // Through a symlink the archive made.
    let outside = s.outside().display().to_string();
    let err = s.extract_err(&raw_tar(&[
        Raw {
            link: &outside,
            ..raw("./out", b'2')
        },
        Raw {
            link: "out/secret",
            ..raw("./link2", b'1')
        },
    ]));
    assert!(err.contains("through symlink out"), "{err}");
}

#[test]
fn device_nodes_are_refused_unless_allowed() {
    let s = Scratch::new();
    let err = s.extract_err(&raw_tar(&[raw("./dev/sda", b'3')]));
    assert!(
        err.contains("entry ./dev/sda") && err.contains("device nodes are not allowed"),
        "{err}"
    );
}

#[test]
fn lying_sizes_are_refused() {
    let s = Scratch::new();
    // Declares more than the archive holds: the stream ends inside the file.
    let mut tar = raw_tar(&[Raw {
        data: b"short",
        declared: Some(4096),
        ..raw("./big", b'0')
    }]);
    tar.truncate(512 + 5);
    let err = s.extract_err(&tar);
    assert!(err.contains("./big") || err.contains("corrupt"), "{err}");
    // Declares an absurd size: refused before anything is written.
    let tar = raw_tar(&[Raw {
        data: b"",
        declared: Some((1 << 33) - 1),
        ..raw("./huge", b'0')
    }]);
    let err = s.extract_err(&tar);
    assert!(
        err.contains("entry ./huge") && err.contains("limit"),
        "{err}"
    );
    assert!(!s.root().join("huge").exists());
}

#[test]
fn truncated_and_corrupt_streams_are_refused() {
    let s = Scratch::new();
    let tar = raw_tar(&[Raw {
        data: &[7u8; 100_000],
        ..raw("./file", b'0')
    }]);
    let compressed = gzip(&tar);
    let deb = s.dir.path().join("hostile_1_all.deb");
    make_deb(&deb, "data.tar.gz", &compressed[..compressed.len() / 2]);
    let err = s.extract_deb_err(&deb);
    assert!(
        err.contains("entry ./file") && err.contains("deflate"),
        "{err}"
    );

    let mut xz = Vec::new();
    {
        use std::io::Write;
        let mut enc = xz2::write::XzEncoder::new(&mut xz, 6);
        let noise: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        enc.write_all(&raw_tar(&[Raw {
            data: &noise,
            ..raw("./noise", b'0')
        }]))
        .unwrap();
        enc.finish().unwrap();
    }
    let mid = xz.len() / 2;
    for b in &mut xz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    make_deb(&deb, "data.tar.xz", &xz);
    let err = s.extract_deb_err(&deb);
    assert!(
        err.contains("entry ./noise") || err.contains("data.tar.xz"),
        "{err}"
    );

    make_deb(&deb, "data.tar.gz", b"this is not gzip at all");
    let err = s.extract_deb_err(&deb);
    assert!(err.contains("data.tar.gz"), "{err}");
}

#[test]
fn a_decompression_bomb_is_refused() {
    use std::io::Write;
    let s = Scratch::new();
    // 2 GiB of zeros in one file: a few hundred kilobytes of zstd.
    let size: u64 = 2 << 30;
    let mut header = raw_tar(&[Raw {
        declared: Some(size),
        ..raw("./bomb", b'0')
    }]);
    header.truncate(512);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        enc.write_all(&zeros).unwrap();
    }
    enc.write_all(&[0u8; 1024]).unwrap();
    let bomb = enc.finish().unwrap();
    let deb = s.dir.path().join("hostile_1_all.deb");
    make_deb(&deb, "data.tar.zst", &bomb);
    let err = s.extract_deb_err(&deb);
    assert!(
        err.contains("entry ./bomb") && err.contains("decompression bomb"),
        "{err}"
    );
    assert!(!s.root().join("bomb").exists());
}

// ---- OCI image layers ---------------------------------------------------------------------

fn layer(path: &Path, files: &[(&str, &[u8])], compress: &str) {
    let mut tar = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar);
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            if name.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
            } else {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
            }
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.finish().unwrap();
    }
    let bytes = match compress {
        "gzip" => gzip(&tar),
        "zstd" => zstd::encode_all(&tar[..], 3).unwrap(),
        _ => tar,
    };
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn oci_layers_apply_with_whiteouts_and_opaque_directories() {
    use obsbox::packages::layer;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (l1, l2, l3) = (
        dir.path().join("l1"),
        dir.path().join("l2"),
        dir.path().join("l3"),
    );
    layer(
        &l1,
        &[
            ("etc/", b""),
            ("etc/keep", b"1"),
            ("etc/gone", b"2"),
            ("opt/", b""),
            ("opt/old", b"3"),
            ("opt/sub/", b""),
            ("opt/sub/deep", b"4"),
        ],
        "plain",
    );
    layer(
        &l2,
        &[
            ("etc/.wh.gone", b""),
            ("opt/.wh..wh..opq", b""),
            ("opt/new", b"5"),
        ],
        "gzip",
    );
    layer(&l3, &[("etc/added", b"6")], "zstd");
    for l in [&l1, &l2, &l3] {
        layer::apply(l, &root, Options::default()).unwrap();
    }
    let names: Vec<String> = tree::describe(&root).into_keys().collect();
    assert_eq!(
        names,
        ["etc", "etc/added", "etc/keep", "opt", "opt/new"],
        "{names:?}"
    );
    assert_eq!(std::fs::read(root.join("opt/new")).unwrap(), b"5");

    // A whiteout cannot reach out of the root.
    let s = Scratch::new();
    let hostile = s.dir.path().join("hostile.tar");
    std::fs::write(&hostile, raw_tar(&[raw("../outside/.wh.secret", b'0')])).unwrap();
    let err = layer::apply(&hostile, &s.root(), Options::default()).unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("hostile.tar") && err.contains("leaves the root"),
        "{err}"
    );
    assert!(s.outside().join("secret").exists());
}
