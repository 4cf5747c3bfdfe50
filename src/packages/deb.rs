//! `.deb` packages: an ar archive of `debian-binary`, `control.tar[.gz|.xz|.zst]` and
//! `data.tar[.gz|.xz|.zst]`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::compress::{Limited, decompress};
use super::tarball::{Whiteouts, read_tar};
use super::{Entry, EntryKind, Listing, Sink};

/// The control part of a package: the `control` file and the maintainer scripts and other
/// members (`postinst`, `conffiles`, `md5sums`, `triggers`, …) dpkg keeps in its database.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// The text of the `control` file.
    pub control: String,
    /// Other members of control.tar: (file name, content, executable).
    pub members: Vec<(String, Vec<u8>, bool)>,
}

/// Reads a `.deb`: returns its control part and, when `data` is given, streams the file
/// system tree of `data.tar` into it. One pass over the file.
pub fn read(path: &Path, data: Option<&mut dyn Sink>) -> Result<Control> {
    let label = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot open {label}"))?;
    let mut archive = ArReader::new(BufReader::with_capacity(64 * 1024, file))
        .map_err(|e| anyhow::anyhow!("{label}: not a Debian package ({e})"))?;
    let mut control = None;
    let mut seen_version = false;
    let mut data = data;
    loop {
        let (name, size) = match archive.next_member() {
            Ok(Some(found)) => found,
            Ok(None) => break,
            Err(e) => bail!("{label}: not a Debian package ({e})"),
        };
        let mut member = archive.member(size);
        match name.as_str() {
            "debian-binary" => {
                let mut version = String::new();
                member
                    .by_ref()
                    .take(64)
                    .read_to_string(&mut version)
                    .with_context(|| format!("{label}: unreadable debian-binary"))?;
                if !version.starts_with("2.") {
                    bail!(
                        "{label}: unsupported package format version {:?}",
                        version.trim()
                    );
                }
                seen_version = true;
            }
            n if n == "control.tar" || n.starts_with("control.tar.") => {
                let label = format!("{label}: {n}");
                let limit = control_limit(size);
                let stream = decompress(&mut member)
                    .with_context(|| format!("{label}: cannot decompress"))?;
                let stream = Limited::new(stream, limit, "control.tar");
                control = Some(read_control(stream, &label)?);
            }
            n if n == "data.tar" || n.starts_with("data.tar.") => {
                if control.is_none() {
                    bail!("{label}: {n} comes before control.tar");
                }
                match data.take() {
                    Some(sink) => {
                        let label = format!("{label}: {n}");
                        let stream = decompress(&mut member)
                            .with_context(|| format!("{label}: cannot decompress"))?;
                        read_tar(stream, sink, Whiteouts::Keep, &label)?;
                    }
                    None => break,
                }
            }
            // Signatures (`_gpgbuilder`) and other extra members are not ours to judge.
            _ => {}
        }
        // What a reader left of the member (an unknown member, padding).
        std::io::copy(&mut member, &mut std::io::sink())
            .with_context(|| format!("{label}: cannot read member {name}"))?;
    }
    if !seen_version {
        bail!("{label}: not a Debian package (no debian-binary member)");
    }
    let control = control.with_context(|| format!("{label}: no control.tar member"))?;
    if data.is_some() {
        bail!("{label}: no data.tar member");
    }
    Ok(control)
}

/// The ar archive of a .deb, member by member, as dpkg reads it: 60-byte headers with
/// names of up to 16 bytes (an optional trailing `/`), members padded to an even length.
/// Nothing is allocated from the archive's numbers, and the GNU and BSD extensions (name
/// tables, symbol tables, long names), which no .deb uses, are refused: the `ar` crate
/// reads them from untrusted sizes and indexes, and panics on a name index past its table.
struct ArReader<R> {
    inner: R,
    /// The member just handed out ends at an odd offset: one padding byte follows it.
    pad: bool,
    /// Bytes of the member handed out that its reader did not read.
    left: u64,
}

impl<R: Read> ArReader<R> {
    fn new(mut inner: R) -> std::io::Result<Self> {
        let mut magic = [0u8; 8];
        let read = inner.read_exact(&mut magic);
        if read.is_err() || &magic != b"!<arch>\n" {
            return Err(std::io::Error::other("no ar archive magic"));
        }
        Ok(ArReader {
            inner,
            pad: false,
            left: 0,
        })
    }

    /// The next member's name and size; `None` at the end of the archive.
    fn next_member(&mut self) -> Result<Option<(String, u64)>> {
        let skip = self.left + u64::from(self.pad);
        let skipped = std::io::copy(&mut (&mut self.inner).take(skip), &mut std::io::sink())?;
        if skipped < self.left {
            bail!("bad ar archive: a member is cut short");
        }
        self.left = 0;
        let mut header = [0u8; 60];
        let mut filled = 0;
        while filled < header.len() {
            match self.inner.read(&mut header[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        if filled < header.len() || &header[58..60] != b"`\n" {
            bail!("bad ar archive: a member header is cut short or damaged");
        }
        let raw_name = &header[..16];
        let name = std::str::from_utf8(raw_name)
            .ok()
            .map(|n| n.trim_end_matches(' ').trim_end_matches('/'))
            .filter(|n| !n.is_empty() && !n.starts_with('/') && !n.starts_with("#1/"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "bad ar archive: member name {:?} is not one dpkg reads",
                    crate::text::one_line_bytes(raw_name)
                )
            })?
            .to_string();
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim_end_matches(' ').parse::<u64>().ok())
            .ok_or_else(|| anyhow::anyhow!("bad ar archive: member {name} has no valid size"))?;
        self.pad = size % 2 == 1;
        self.left = size;
        Ok(Some((name, size)))
    }

    /// A reader of the member just named, `size` bytes long.
    fn member(&mut self, size: u64) -> ArMember<'_, R> {
        ArMember {
            inner: &mut self.inner,
            left: &mut self.left,
            size,
        }
    }
}

/// The content of one ar member; an archive that ends inside it is an error.
struct ArMember<'a, R> {
    inner: &'a mut R,
    left: &'a mut u64,
    size: u64,
}

impl<R: Read> Read for ArMember<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if *self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min((*self.left).try_into().unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the package ends inside an ar member of {} bytes",
                    self.size
                ),
            ));
        }
        *self.left -= n as u64;
        Ok(n)
    }
}

/// Reads only the control part.
pub fn read_control_of(path: &Path) -> Result<Control> {
    read(path, None)
}

/// Lists the file system entries of a package without writing anything.
pub fn list(path: &Path) -> Result<Vec<Entry>> {
    let mut listing = Listing::default();
    read(path, Some(&mut listing))?;
    Ok(listing.entries)
}

/// The largest control member accepted. Control members are small text files, the
/// largest being `md5sums` and `symbols`: 0.6 MB at most among the ≈ 800 Debian 12
/// packages of the test data (adwaita-icon-theme's md5sums, libqt5gui5's symbols), ≈ 4 MB
/// for a package of 50,000 files; anything bigger is not a package. They are held in
/// memory (and written to the store for the package database).
pub const MAX_CONTROL_MEMBER: u64 = 8 << 20;
/// The most control.tar may expand to, all members and tar headers together.
pub const MAX_CONTROL: u64 = 32 << 20;
/// The most control.tar may expand per byte of its compressed member, past
/// [`CONTROL_RATIO_FLOOR`] (text compresses 3–10×).
pub const CONTROL_RATIO: u64 = 200;
pub const CONTROL_RATIO_FLOOR: u64 = 1 << 20;

/// How far a control.tar member of `compressed` bytes may expand.
fn control_limit(compressed: u64) -> u64 {
    compressed
        .saturating_mul(CONTROL_RATIO)
        .clamp(CONTROL_RATIO_FLOOR, MAX_CONTROL)
}

fn read_control(stream: impl Read, label: &str) -> Result<Control> {
    struct Collect {
        out: Control,
        label: String,
    }
    impl Sink for Collect {
        fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
            let EntryKind::File { size } = entry.kind else {
                return Ok(());
            };
            let name = entry.display();
            let name = name.trim_start_matches("./").to_string();
            if name.contains('/') {
                bail!(
                    "{}: unexpected member {}",
                    self.label,
                    crate::text::one_line(&name)
                );
            }
            if size > MAX_CONTROL_MEMBER {
                bail!(
                    "{}: member {} of {size} bytes is larger than the limit of {MAX_CONTROL_MEMBER} for a control file",
                    self.label,
                    crate::text::one_line(&name)
                );
            }
            let mut content = Vec::with_capacity(size as usize);
            data.take(size).read_to_end(&mut content).map_err(|e| {
                anyhow::anyhow!(
                    "{}: member {}: {}",
                    self.label,
                    crate::text::one_line(&name),
                    crate::text::one_line_error(e)
                )
            })?;
            if name == "control" {
                self.out.control = String::from_utf8(content)
                    .with_context(|| format!("{}: control is not UTF-8", self.label))?;
            } else {
                self.out
                    .members
                    .push((name, content, entry.meta.mode & 0o111 != 0));
            }
            Ok(())
        }
    }
    let mut collect = Collect {
        out: Control::default(),
        label: label.to_string(),
    };
    read_tar(stream, &mut collect, Whiteouts::Keep, label)?;
    if collect.out.control.trim().is_empty() {
        bail!("{label}: no control file");
    }
    Ok(collect.out)
}

/// The value of a single-line field of a control file (`Package`, `Version`, …).
pub fn field<'a>(control: &'a str, name: &str) -> Option<&'a str> {
    control.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (!line.starts_with([' ', '\t']) && key.eq_ignore_ascii_case(name)).then(|| value.trim())
    })
}

/// What extracting a package produced.
#[derive(Debug)]
pub struct Extracted {
    pub control: Control,
    /// The paths written, relative to the root, in archive order.
    pub paths: Vec<Vec<u8>>,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Extracts the package at `path` under `root` through the safe extractor.
pub fn extract(path: &Path, root: &Path, options: super::extract::Options) -> Result<Extracted> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    let mut extractor = super::extract::Extractor::new(root, &path.display().to_string(), options)?;
    extractor.set_input_size(size);
    let control = read(path, Some(&mut extractor))?;
    let bytes = extractor.written();
    let paths = extractor.finish()?;
    Ok(Extracted {
        control,
        paths,
        bytes,
    })
}
