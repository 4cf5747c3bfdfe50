//! Every archive is hostile: packages crafted to crash, exhaust or mislead the
//! unpacker are refused with one line naming the package file and the problem, and leave
//! nothing behind: no root, no cache entry, nothing in the cache's `tmp/`, nothing outside
//! the target.
//!
//! The packages are built here, in memory, with the tar, ar, xz2, zstd and flate2 crates.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{obsbox_bin, stderr_of};
use sha2::Digest;

/// Requires exit code 1 and exactly one stderr line that contains every needle.
fn fails(out: &Output, needles: &[&str]) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing in: {err}");
    }
}

/// How data and control members are compressed.
#[derive(Clone, Copy)]
enum Z {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Z {
    fn suffix(self) -> &'static str {
        match self {
            Z::None => "",
            Z::Gzip => ".gz",
            Z::Xz => ".xz",
            Z::Zstd => ".zst",
        }
    }

    /// A writer compressing into `out`; `finish` gives the bytes back. Gzip stores
    /// (level 0), so a flipped byte of the content stays a flipped byte of the output.
    fn writer(self) -> Box<dyn Finish> {
        match self {
            Z::None => Box::new(Vec::new()),
            Z::Gzip => Box::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::none(),
            )),
            Z::Xz => Box::new(xz2::write::XzEncoder::new(Vec::new(), 1)),
            Z::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
                e.include_checksum(true).unwrap();
                Box::new(e)
            }
        }
    }
}

trait Finish: Write {
    fn done(self: Box<Self>) -> Vec<u8>;
}

impl Finish for Vec<u8> {
    fn done(self: Box<Self>) -> Vec<u8> {
        *self
    }
}

impl Finish for flate2::write::GzEncoder<Vec<u8>> {
    fn done(self: Box<Self>) -> Vec<u8> {
        self.finish().unwrap()
    }
}

impl Finish for xz2::write::XzEncoder<Vec<u8>> {
    fn done(self: Box<Self>) -> Vec<u8> {
        self.finish().unwrap()
    }
}

impl Finish for zstd::stream::write::Encoder<'static, Vec<u8>> {
    fn done(self: Box<Self>) -> Vec<u8> {
        self.finish().unwrap()
    }
}

/// A tar (compressed as `z`) made by `fill`.
fn tar_with(z: Z, fill: impl FnOnce(&mut tar::Builder<&mut dyn Write>)) -> Vec<u8> {
    let mut w = z.writer();
    {
        let mut builder = tar::Builder::new(&mut *w as &mut dyn Write);
        builder.mode(tar::HeaderMode::Deterministic);
        fill(&mut builder);
        builder.finish().unwrap();
    }
    w.done()
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_file(b: &mut tar::Builder<&mut dyn Write>, path: &str, data: impl Read, size: u64) {
    let mut h = header(tar::EntryType::Regular, size, 0o644);
    b.append_data(&mut h, path, data).unwrap();
}

fn add_dir(b: &mut tar::Builder<&mut dyn Write>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

fn control_text(name: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.org>\n\
         Description: hostile\n"
    )
}

/// A plain control.tar.gz with only `control`.
fn control_tar(name: &str) -> Vec<u8> {
    let text = control_text(name);
    tar_with(Z::Gzip, |b| {
        add_file(b, "./control", text.as_bytes(), text.len() as u64)
    })
}

/// A .deb of these members.
fn deb(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut ar = ar::Builder::new(&mut out);
        for (name, data) in members {
            let mut h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            h.set_mode(0o100644);
            ar.append(&h, *data).unwrap();
        }
    }
    out
}

/// A .deb with a normal control.tar.gz and this data member.
fn deb_with_data(name: &str, data_member: &str, data: &[u8]) -> Vec<u8> {
    deb(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control_tar(name)),
        (data_member, data),
    ])
}

/// A test directory holding a flat repository with one package and a cache.
struct Setup {
    dir: tempfile::TempDir,
    name: String,
}

impl Setup {
    fn new(name: &str, deb: &[u8]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        fs::create_dir_all(&repo).unwrap();
        let file = format!("{name}_1_amd64.deb");
        fs::write(repo.join(&file), deb).unwrap();
        let sha = hex::encode(sha2::Sha256::digest(deb));
        fs::write(
            repo.join("Packages"),
            format!(
                "{}Filename: {file}\nSize: {}\nSHA256: {sha}\n\n",
                control_text(name),
                deb.len()
            ),
        )
        .unwrap();
        Setup {
            dir,
            name: name.to_string(),
        }
    }

    fn deb_path(&self) -> PathBuf {
        self.dir
            .path()
            .join("repo")
            .join(format!("{}_1_amd64.deb", self.name))
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `obsbox rootfs create` of the package.
    fn create(&self) -> Output {
        Command::new(obsbox_bin())
            .args(["--cache", s(&self.cache()), "rootfs", "create", "--arch"])
            .args(["amd64", "--repo", s(&self.dir.path().join("repo"))])
            .args(["--install", &self.name, "--out", s(&self.out_dir())])
            .output()
            .unwrap()
    }

    /// Unpacking fails with one line naming the package and `words`, and leaves nothing.
    fn refused(&self, words: &[&str]) {
        let out = self.create();
        let deb = self.deb_path();
        let mut needles = vec![s(&deb)];
        needles.extend_from_slice(words);
        fails(&out, &needles);
        self.left_nothing();
    }

    fn left_nothing(&self) {
        assert!(!self.out_dir().exists(), "the root was created");
        let listing = |p: &Path| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(p)
                .map(|d| {
                    d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names
        };
        assert_eq!(listing(&self.cache().join("tmp")), Vec::<String>::new());
        assert_eq!(listing(&self.cache().join("store")), Vec::<String>::new());
        assert_eq!(listing(&self.cache().join("rootfs")), Vec::<String>::new());
        // Nothing written beside the repository, the cache and (not) the root.
        assert_eq!(listing(self.dir.path()), ["cache", "repo"]);
        assert_eq!(
            listing(&self.dir.path().join("repo")),
            ["Packages".to_string(), format!("{}_1_amd64.deb", self.name)]
        );
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A chain of `depth` nested directories `a/a/…`, each its own entry.
fn nested_dirs(depth: usize) -> Vec<u8> {
    tar_with(Z::Xz, |b| {
        let mut path = String::from(".");
        for _ in 0..depth {
            path.push_str("/a");
            add_dir(b, &path);
        }
    })
}

/// ~1,800 nested directories (a few KB as a .deb) once overflowed the stack of the
/// recursive tree walks; they are refused as deeper than any package goes.
#[test]
fn deeply_nested_directories_are_refused() {
    let data = nested_dirs(1800);
    let setup = Setup::new("deep", &deb_with_data("deep", "data.tar.xz", &data));
    setup.refused(&["entry ./a/a/a", "nests deeper than 1024 directories"]);
    // Just at the bound, the package unpacks.
    let data = nested_dirs(1024);
    let ok = Setup::new("deep", &deb_with_data("deep", "data.tar.xz", &data));
    let out = ok.create();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

/// One directory entry 100,000 levels deep (a 200 KB name) is refused before its name is
/// read into memory.
#[test]
fn a_path_of_100000_directories_is_refused() {
    let deep = "a/".repeat(100_000);
    let data = tar_with(Z::Xz, |b| add_dir(b, &deep));
    let setup = Setup::new("deeper", &deb_with_data("deeper", "data.tar.xz", &data));
    setup.refused(&[
        "data.tar.xz",
        "GNU long name",
        "longer than PATH_MAX (4096)",
    ]);
}

/// A GNU long name record (`././@LongLink`) of 200 MiB: refused from its header.
#[test]
fn a_huge_gnu_long_name_is_refused() {
    const SIZE: u64 = 200 << 20;
    let mut w = Z::Zstd.writer();
    let mut h = header(tar::EntryType::GNULongName, SIZE, 0o644);
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_cksum();
    w.write_all(h.as_bytes()).unwrap();
    std::io::copy(&mut std::io::repeat(b'a').take(SIZE), &mut w).unwrap();
    let mut file = header(tar::EntryType::Regular, 0, 0o644);
    file.set_path("x").unwrap();
    file.set_cksum();
    w.write_all(file.as_bytes()).unwrap();
    w.write_all(&[0; 1024]).unwrap();
    let data = w.done();
    let setup = Setup::new(
        "longname",
        &deb_with_data("longname", "data.tar.zst", &data),
    );
    setup.refused(&[
        "data.tar.zst",
        "a GNU long name record of 209715200 bytes, longer than PATH_MAX (4096)",
    ]);
}

/// A pax extended header of 64 MiB: refused from its header.
#[test]
fn a_huge_pax_header_is_refused() {
    const SIZE: u64 = 64 << 20;
    let mut w = Z::Zstd.writer();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(SIZE);
    h.set_path("PaxHeaders/x").unwrap();
    h.set_cksum();
    w.write_all(h.as_bytes()).unwrap();
    // One record as long as the whole header: "67108864 comment=aaa…\n".
    let head = format!("{SIZE} comment=");
    w.write_all(head.as_bytes()).unwrap();
    std::io::copy(
        &mut std::io::repeat(b'a').take(SIZE - head.len() as u64 - 1),
        &mut w,
    )
    .unwrap();
    w.write_all(b"\n").unwrap();
    let mut file = header(tar::EntryType::Regular, 0, 0o644);
    file.set_path("x").unwrap();
    file.set_cksum();
    w.write_all(file.as_bytes()).unwrap();
    w.write_all(&[0; 1024]).unwrap();
    let data = w.done();
    let setup = Setup::new("pax", &deb_with_data("pax", "data.tar.zst", &data));
    setup.refused(&[
        "data.tar.zst",
        "a pax header of 67108864 bytes, more than the limit of 65536",
    ]);
}

/// control.tar is held in memory: 60 members of 16 MiB each (≈ 1 GB) are refused at the
/// first, as no control file is that large.
#[test]
fn a_control_tar_bomb_is_refused() {
    let name = "ctlbomb";
    let control = tar_with(Z::Zstd, |b| {
        let text = control_text(name);
        add_file(b, "./control", text.as_bytes(), text.len() as u64);
        for i in 0..60 {
            add_file(
                b,
                &format!("./junk{i}"),
                std::io::repeat(0).take(16 << 20),
                16 << 20,
            );
        }
    });
    let data = tar_with(Z::Xz, |b| add_dir(b, "./usr"));
    let package = deb(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.zst", &control),
        ("data.tar.xz", &data),
    ]);
    let setup = Setup::new(name, &package);
    setup.refused(&[
        "control.tar.zst",
        "member junk0 of 16777216 bytes is larger than the limit of 8388608 for a control file",
    ]);
}

/// Members each within the per-member bound but expanding far beyond the compressed
/// control.tar, and members that are too much all together, are refused too.
#[test]
fn control_tar_expansion_and_total_are_bounded() {
    let name = "ctlratio";
    let control = tar_with(Z::Zstd, |b| {
        let text = control_text(name);
        add_file(b, "./control", text.as_bytes(), text.len() as u64);
        for i in 0..8 {
            add_file(
                b,
                &format!("./junk{i}"),
                std::io::repeat(0).take(4 << 20),
                4 << 20,
            );
        }
    });
    let data = tar_with(Z::Xz, |b| add_dir(b, "./usr"));
    let package = deb(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.zst", &control),
        ("data.tar.xz", &data),
    ]);
    let setup = Setup::new(name, &package);
    setup.refused(&[
        "control.tar.zst",
        "expands to more than 1048576 bytes, the limit for control.tar (decompression bomb?)",
    ]);

    // Incompressible, uncompressed: 5 × 7 MiB is more than the 32 MiB of all members.
    let name = "ctltotal";
    let control = tar_with(Z::None, |b| {
        let text = control_text(name);
        add_file(b, "./control", text.as_bytes(), text.len() as u64);
        for i in 0..5 {
            add_file(b, &format!("./junk{i}"), &noise(7 << 20, i)[..], 7 << 20);
        }
    });
    let package = deb(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control),
        ("data.tar.xz", &data),
    ]);
    let setup = Setup::new(name, &package);
    setup.refused(&[
        "control.tar",
        "expands to more than 33554432 bytes, the limit for control.tar",
    ]);
}

/// Incompressible bytes (xorshift), so compressors store them as they are.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Flips one bit of a byte of `content` where the compressed stream holds it as it is
/// (compressors store incompressible data): the stream still decodes, to wrong content.
fn flip_stored(compressed: &mut [u8], content: &[u8]) {
    for start in (content.len() / 4..content.len() - 64).step_by(1000) {
        let needle = &content[start..start + 64];
        if let Some(at) = compressed.windows(64).position(|w| w == needle) {
            compressed[at + 32] ^= 0x20;
            return;
        }
    }
    panic!("the compressor did not store the content as it is");
}

/// A package whose data.tar (compressed as `z`) holds a file of incompressible bytes, with
/// one byte of that content flipped in the compressed stream: the decoder still decodes
/// (the content is stored), so only the stream's integrity check can tell.
fn flipped(z: Z, name: &str) -> Vec<u8> {
    let content = noise(256 << 10, 7);
    let data = tar_with(z, |b| {
        add_dir(b, "./usr");
        add_file(b, "./usr/blob", &content[..], content.len() as u64);
    });
    let mut data = data;
    flip_stored(&mut data, &content);
    deb_with_data(name, &format!("data.tar{}", z.suffix()), &data)
}

/// One flipped byte inside a compressed data.tar (xz, zstd, gzip) is found by the stream's
/// check (read to the end of the stream) and refused: no wrong content reaches the store.
#[test]
fn a_flipped_byte_in_a_compressed_data_tar_is_refused() {
    for (z, kind) in [(Z::Xz, "xz"), (Z::Zstd, "zstd"), (Z::Gzip, "gzip")] {
        let name = format!("flip-{kind}");
        let setup = Setup::new(&name, &flipped(z, &name));
        setup.refused(&[
            &format!("data.tar{}", z.suffix()),
            &format!("corrupt {kind} stream"),
        ]);
    }
}

/// The same in control.tar.xz: the control part is read to its end too.
#[test]
fn a_flipped_byte_in_a_compressed_control_tar_is_refused() {
    let name = "flip-control";
    let content = noise(512 << 10, 3);
    let text = control_text(name);
    let control = tar_with(Z::Xz, |b| {
        add_file(b, "./control", text.as_bytes(), text.len() as u64);
        add_file(b, "./md5sums", &content[..], content.len() as u64);
    });
    let mut control = control;
    flip_stored(&mut control, &content);
    let data = tar_with(Z::Xz, |b| add_dir(b, "./usr"));
    let package = deb(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", &control),
        ("data.tar.xz", &data),
    ]);
    let setup = Setup::new(name, &package);
    setup.refused(&["control.tar.xz", "corrupt xz stream"]);
}

/// An ar header with a GNU name index (`/999`) and no name table: the `ar` crate indexed
/// past its table and panicked (exit 101, a work directory left in the cache). The .deb
/// reader takes members as dpkg does and refuses names no .deb has.
#[test]
fn an_ar_name_index_past_its_table_is_refused() {
    let mut package = b"!<arch>\n".to_vec();
    let mut member = |name: &str, data: &[u8]| {
        package.extend_from_slice(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100644,
                data.len()
            )
            .as_bytes(),
        );
        package.extend_from_slice(data);
        if data.len() % 2 == 1 {
            package.push(b'\n');
        }
    };
    member("debian-binary", b"2.0\n");
    member("/999", b"xx");
    let setup = Setup::new("arindex", &package);
    setup.refused(&["not a Debian package", "member name \"/999"]);

    // A member cut short by the end of the file.
    let mut package = deb_with_data("arshort", "data.tar.xz", &nested_dirs(3));
    package.truncate(package.len() - 10);
    let setup = Setup::new("arshort", &package);
    setup.refused(&["data.tar.xz", "the package ends inside an ar member"]);
}
