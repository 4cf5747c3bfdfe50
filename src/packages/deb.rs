//! `.deb` packages: an ar archive of `debian-binary`, `control.tar[.gz|.xz|.zst]` and
//! `data.tar[.gz|.xz|.zst]`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::compress::decompress;
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
    let mut archive = ar::Archive::new(BufReader::with_capacity(64 * 1024, file));
    let mut control = None;
    let mut seen_version = false;
    let mut data = data;
    while let Some(member) = archive.next_entry() {
        let mut member =
            member.with_context(|| format!("{label}: not a Debian package (bad ar archive)"))?;
        let name = crate::text::one_line_bytes(member.header().identifier());
        let name = name.trim_end_matches('/').to_string();
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
                control = Some(read_control(decompress(&mut member)?, &label)?);
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

fn read_control(stream: impl Read, label: &str) -> Result<Control> {
    /// Control members are small text files; anything bigger is not a package.
    const MAX_MEMBER: u64 = 16 << 20;
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
            if size > MAX_MEMBER || name.contains('/') {
                bail!(
                    "{}: unexpected member {}",
                    self.label,
                    crate::text::one_line(&name)
                );
            }
            let mut content = Vec::with_capacity(size as usize);
            data.take(size).read_to_end(&mut content)?;
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
