//! The cpio payload of an `.rpm` read into [`Entry`]s: "newc" and stripped entries, hard
//! link sets (the data on their last member), capabilities from the header.

use std::collections::HashMap;
use std::io::{self, Read};

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::RpmPackage;
use super::filecaps::capability_xattr;
use crate::packages::{Entry, EntryKind, EntryMeta, Sink, compress};

/// Longest cpio name or symlink target accepted (PATH_MAX); rpm has the same bound.
const MAX_NAME: u64 = 4096;

// File type bits of a mode.
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// A reader over the decompressed payload that counts its position (cpio pads to 4 bytes).
struct Counted<'a> {
    inner: Box<dyn Read + 'a>,
    pos: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Counted<'_> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.read_exact(buf).map_err(truncated)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let copied = io::copy(&mut self.take(n), &mut io::sink())?;
        ensure!(copied == n, "truncated payload");
        Ok(())
    }

    fn align4(&mut self) -> Result<()> {
        self.skip((4 - self.pos % 4) % 4)
    }
}

fn truncated(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        anyhow!("truncated payload")
    } else {
        anyhow::Error::new(e).context("corrupt payload")
    }
}

/// Exactly `remaining` bytes of file data; an early end of the stream is an error, so a
/// sink never mistakes a truncated payload for a short file.
struct Data<'r, 'a> {
    inner: &'r mut Counted<'a>,
    remaining: u64,
}

impl Read for Data<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let len = buf
            .len()
            .min(self.remaining.try_into().unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated payload",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// An entry as the payload describes it, before hard links are resolved.
struct Raw {
    path: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    /// Data bytes that follow in the payload.
    size: u64,
    rdev: (u32, u32),
    /// For regular files in a link set: the set's identity and member count.
    link: Option<(LinkKey, u32)>,
    capability: Option<Vec<u8>>,
}

type LinkKey = (u64, u64);

/// Members of a link set seen so far, and the data-carrying member once it is known.
#[derive(Default)]
struct LinkSet {
    waiting: Vec<Entry>,
    seen: u32,
    carrier: Option<Vec<u8>>,
}

pub(super) struct Payload<'p, 'a> {
    package: &'p RpmPackage,
    stream: Counted<'a>,
    /// Capabilities by payload-less path (`/usr/bin/x`), converted once.
    caps: HashMap<String, Vec<u8>>,
    /// Stripped entries: link-set sizes by (device, inode) from the header.
    header_links: HashMap<LinkKey, u32>,
    links: HashMap<LinkKey, LinkSet>,
    /// Link sets in the order first seen, so leftovers are emitted deterministically.
    link_order: Vec<LinkKey>,
}

impl<'p, 'a> Payload<'p, 'a> {
    pub(super) fn new(package: &'p RpmPackage, stream: Box<dyn Read + 'a>) -> Result<Self> {
        let mut caps = HashMap::new();
        let mut header_links: HashMap<LinkKey, u32> = HashMap::new();
        for file in &package.files {
            if let Some(text) = &file.capability {
                let value = capability_xattr(text)
                    .with_context(|| format!("file {}", crate::text::one_line(&file.path)))?;
                caps.insert(file.path.clone(), value);
            }
            if file.mode & S_IFMT == S_IFREG && !file.is_ghost() {
                *header_links
                    .entry((file.device.into(), file.inode.into()))
                    .or_default() += 1;
            }
        }
        Ok(Payload {
            package,
            stream: Counted {
                inner: stream,
                pos: 0,
            },
            caps,
            header_links,
            links: HashMap::new(),
            link_order: Vec::new(),
        })
    }

    pub(super) fn run(&mut self, sink: &mut dyn Sink) -> Result<()> {
        loop {
            let start = self.stream.pos;
            let mut magic = [0u8; 6];
            self.stream
                .exact(&mut magic)
                .context("payload ends without the cpio trailer")?;
            let header = match &magic {
                b"070701" | b"070702" => self.newc_header(),
                b"07070X" => self.stripped_header().map(Some),
                _ => bail!(
                    "bad cpio magic {:?} at payload offset {start}",
                    String::from_utf8_lossy(&magic)
                ),
            };
            let Some(raw) =
                header.with_context(|| format!("cpio header at payload offset {start}"))?
            else {
                break;
            };
            let name = crate::text::one_line_bytes(&raw.path);
            self.entry(raw, sink)
                .with_context(|| format!("entry {name}"))?;
        }
        self.finish_links(sink)?;
        // The rest of the stream (cpio's padding), so the decoder verifies its check.
        compress::finish(&mut self.stream.inner)
    }

    /// Reads a newc header after its magic; `None` at the trailer.
    fn newc_header(&mut self) -> Result<Option<Raw>> {
        let mut fields = [0u8; 13 * 8];
        self.stream.exact(&mut fields)?;
        let mut f = [0u32; 13];
        for (i, chunk) in fields.chunks_exact(8).enumerate() {
            f[i] = parse_hex(chunk).context("corrupt cpio header")?;
        }
        let [
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            size,
            dev_major,
            dev_minor,
            rmajor,
            rminor,
            namesize,
            _check,
        ] = f;
        ensure!(
            (1..=MAX_NAME).contains(&u64::from(namesize)),
            "corrupt cpio header: name size {namesize}"
        );
        let mut name = vec![0u8; namesize as usize];
        self.stream.exact(&mut name)?;
        ensure!(
            name.pop() == Some(0),
            "corrupt cpio header: name not terminated"
        );
        self.stream.align4()?;
        if name == b"TRAILER!!!" {
            return Ok(None);
        }
        let key = (
            u64::from(dev_major) << 32 | u64::from(dev_minor),
            u64::from(ino),
        );
        let capability = self.caps.get(&header_path(&name)).cloned();
        Ok(Some(Raw {
            path: name,
            mode,
            uid,
            gid,
            mtime: mtime.into(),
            size: size.into(),
            rdev: (rmajor, rminor),
            link: (nlink > 1).then_some((key, nlink)),
            capability,
        }))
    }

    /// Reads a stripped header (a file index) after its magic; the rest is in the header.
    fn stripped_header(&mut self) -> Result<Raw> {
        let mut index = [0u8; 8];
        self.stream.exact(&mut index)?;
        let index = parse_hex(&index).context("corrupt stripped cpio header")?;
        self.stream.align4()?;
        let file = self.package.files.get(index as usize).with_context(|| {
            format!("stripped cpio entry names file {index}, the header lists fewer")
        })?;
        let key = (u64::from(file.device), u64::from(file.inode));
        let members = self.header_links.get(&key).copied().unwrap_or(1);
        let is_reg = file.mode & S_IFMT == S_IFREG;
        let link = (is_reg && members > 1).then_some((key, members));
        // In a link set only the last member written has data.
        let size = match link {
            Some((key, members)) if self.seen(key) + 1 < members => 0,
            _ if is_reg || file.mode & S_IFMT == S_IFLNK => file.size,
            _ => 0,
        };
        Ok(Raw {
            path: format!(".{}", file.path).into_bytes(),
            mode: file.mode,
            // Matches the newc entries rpm writes today: ownership is by name, in the header.
            uid: 0,
            gid: 0,
            mtime: file.mtime.into(),
            size,
            rdev: (file.rdev >> 8 & 0xff, file.rdev & 0xff),
            link,
            capability: self.caps.get(&file.path).cloned(),
        })
    }

    fn seen(&self, key: LinkKey) -> u32 {
        self.links.get(&key).map_or(0, |set| set.seen)
    }

    fn entry(&mut self, raw: Raw, sink: &mut dyn Sink) -> Result<()> {
        let file_type = raw.mode & S_IFMT;
        if !matches!(file_type, S_IFREG | S_IFLNK) {
            ensure!(raw.size == 0, "unexpected {} data bytes", raw.size);
        }
        let kind = match file_type {
            S_IFREG if raw.link.is_some() => return self.link_member(raw, sink),
            S_IFREG => EntryKind::File { size: raw.size },
            S_IFLNK => EntryKind::Symlink {
                target: self.small_data(raw.size)?,
            },
            S_IFDIR => EntryKind::Dir,
            S_IFCHR => EntryKind::CharDevice {
                major: raw.rdev.0,
                minor: raw.rdev.1,
            },
            S_IFBLK => EntryKind::BlockDevice {
                major: raw.rdev.0,
                minor: raw.rdev.1,
            },
            S_IFIFO => EntryKind::Fifo,
            other => bail!("unsupported file type {other:o}"),
        };
        let data_size = match kind {
            EntryKind::File { size } => size,
            _ => 0,
        };
        let (path, meta) = split_raw(raw);
        self.emit(&Entry { path, kind, meta }, data_size, sink)
    }

    /// Hands `entry` to the sink with its `size` data bytes, then skips the padding.
    fn emit(&mut self, entry: &Entry, size: u64, sink: &mut dyn Sink) -> Result<()> {
        let mut data = Data {
            inner: &mut self.stream,
            remaining: size,
        };
        sink.entry(entry, &mut data)?;
        // A sink may stop early; the stream must still move past this entry's data.
        io::copy(&mut data, &mut io::sink()).map_err(truncated)?;
        self.stream.align4()
    }

    /// Symlink targets are stored as the entry's data.
    fn small_data(&mut self, size: u64) -> Result<Vec<u8>> {
        ensure!(size <= MAX_NAME, "symlink target of {size} bytes");
        let mut buf = vec![0u8; size as usize];
        self.stream.exact(&mut buf)?;
        self.stream.align4()?;
        Ok(buf)
    }

    /// A member of a link set: held back (name only) until the data-carrying member comes,
    /// which is emitted as the file and the others as hard links to it.
    fn link_member(&mut self, raw: Raw, sink: &mut dyn Sink) -> Result<()> {
        let Some((key, members)) = raw.link else {
            bail!("internal: not a link member");
        };
        let size = raw.size;
        let (path, meta) = split_raw(raw);
        let set = self.links.entry(key).or_insert_with(|| {
            self.link_order.push(key);
            LinkSet::default()
        });
        set.seen += 1;
        if size == 0 {
            if let Some(carrier) = &set.carrier {
                // A member after the data: only a link is left to make.
                let entry = link_entry(path, meta, carrier.clone());
                return self.emit(&entry, 0, sink);
            }
            if set.seen < members {
                let kind = EntryKind::HardLink { target: Vec::new() };
                set.waiting.push(Entry { path, kind, meta });
                return Ok(());
            }
        }
        set.carrier = Some(path.clone());
        let waiting = std::mem::take(&mut set.waiting);
        let file = Entry {
            path: path.clone(),
            kind: EntryKind::File { size },
            meta,
        };
        self.emit(&file, size, sink)?;
        for member in waiting {
            let entry = link_entry(member.path, member.meta, path.clone());
            self.emit(&entry, 0, sink)?;
        }
        Ok(())
    }

    /// Link sets without a data member (all empty): the last one becomes the file.
    fn finish_links(&mut self, sink: &mut dyn Sink) -> Result<()> {
        for key in std::mem::take(&mut self.link_order) {
            let Some(set) = self.links.remove(&key) else {
                continue;
            };
            let mut waiting = set.waiting;
            let target = match set.carrier {
                Some(carrier) => carrier,
                None => {
                    let Some(last) = waiting.pop() else { continue };
                    let file = Entry {
                        kind: EntryKind::File { size: 0 },
                        ..last
                    };
                    self.emit(&file, 0, sink)?;
                    file.path
                }
            };
            for member in waiting {
                self.emit(
                    &link_entry(member.path, member.meta, target.clone()),
                    0,
                    sink,
                )?;
            }
        }
        Ok(())
    }
}

fn link_entry(path: Vec<u8>, meta: EntryMeta, target: Vec<u8>) -> Entry {
    Entry {
        path,
        kind: EntryKind::HardLink { target },
        meta,
    }
}

fn split_raw(raw: Raw) -> (Vec<u8>, EntryMeta) {
    let meta = EntryMeta {
        mode: raw.mode & 0o7777,
        uid: raw.uid,
        gid: raw.gid,
        mtime: raw.mtime,
        capability: raw.capability,
    };
    (raw.path, meta)
}

/// The header's name for a payload name: `./usr/bin/x` → `/usr/bin/x`.
/// Packages older than rpm 4.0 store names without the leading `.`.
fn header_path(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    let name = name.strip_prefix('.').unwrap_or(&name);
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    }
}

fn parse_hex(field: &[u8]) -> Result<u32> {
    let text = std::str::from_utf8(field).ok();
    text.and_then(|t| u32::from_str_radix(t, 16).ok())
        .with_context(|| format!("bad hex field {:?}", String::from_utf8_lossy(field)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::packages::Listing;
    use crate::packages::rpm::testutil::*;
    use crate::packages::rpm::{RpmFile, RpmPackage};

    /// Keeps file contents (test packages are small).
    #[derive(Default)]
    struct Contents {
        entries: Vec<Entry>,
        data: HashMap<Vec<u8>, Vec<u8>>,
    }

    impl Sink for Contents {
        fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
            let mut buf = Vec::new();
            data.read_to_end(&mut buf)?;
            self.data.insert(entry.path.clone(), buf);
            self.entries.push(entry.clone());
            Ok(())
        }
    }

    fn shell(command: &str) -> String {
        let output = Command::new("sh").args(["-c", command]).output().unwrap();
        assert!(
            output.status.success(),
            "{command} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// An entry the way `cpio -itv --numeric-uid-gid` shows it, without nlink and date.
    fn cpio_line(e: &Entry) -> String {
        let (type_char, size) = match &e.kind {
            EntryKind::Dir => ('d', "0".to_owned()),
            EntryKind::File { size } => ('-', size.to_string()),
            EntryKind::HardLink { .. } => ('-', "0".to_owned()),
            EntryKind::Symlink { target } => ('l', target.len().to_string()),
            EntryKind::CharDevice { major, minor } => ('c', format!("{major},{minor}")),
            EntryKind::BlockDevice { major, minor } => ('b', format!("{major},{minor}")),
            EntryKind::Fifo => ('p', "0".to_owned()),
        };
        let target = match &e.kind {
            EntryKind::Symlink { target } => format!(" -> {}", String::from_utf8_lossy(target)),
            _ => String::new(),
        };
        let m = e.meta.mode;
        let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
        let exec = |x: u32, special: u32, set: char, unset: char| match (m & x, m & special) {
            (0, 0) => '-',
            (0, _) => unset,
            (_, 0) => 'x',
            _ => set,
        };
        let perms: String = [
            type_char,
            bit(0o400, 'r'),
            bit(0o200, 'w'),
            exec(0o100, 0o4000, 's', 'S'),
            bit(0o040, 'r'),
            bit(0o020, 'w'),
            exec(0o010, 0o2000, 's', 'S'),
            bit(0o004, 'r'),
            bit(0o002, 'w'),
            exec(0o001, 0o1000, 't', 'T'),
        ]
        .iter()
        .collect();
        format!(
            "{perms} {} {} {size} {}{target}",
            e.meta.uid,
            e.meta.gid,
            e.display()
        )
    }

    /// `rpm2cpio | cpio -itv` lines in the same shape as [`cpio_line`].
    fn cpio_listing(rpm: &Path) -> Vec<String> {
        let text = shell(&format!(
            "rpm2cpio '{}' | cpio -itv --numeric-uid-gid --quiet",
            rpm.display()
        ));
        text.lines()
            .map(|line| {
                let t: Vec<&str> = line.split_whitespace().collect();
                // Devices show `major, minor` where others show the size.
                let (size, rest) = if t[4].ends_with(',') {
                    (format!("{}{}", t[4], t[5]), &t[9..])
                } else {
                    (t[4].to_owned(), &t[8..])
                };
                format!("{} {} {} {size} {}", t[0], t[2], t[3], rest.join(" "))
            })
            .collect()
    }

    /// Every payload file of the header appears once, with the header's metadata.
    fn assert_matches_header(pkg: &RpmPackage, entries: &[Entry]) {
        let by_path: HashMap<String, &Entry> = entries
            .iter()
            .map(|e| (e.display().trim_start_matches('.').to_owned(), e))
            .collect();
        let payload_files: Vec<&RpmFile> = pkg.files.iter().filter(|f| !f.is_ghost()).collect();
        assert_eq!(entries.len(), payload_files.len());
        for file in payload_files {
            let entry = by_path
                .get(&file.path)
                .unwrap_or_else(|| panic!("{}", file.path));
            assert_eq!(entry.meta.mode, file.mode & 0o7777, "{}", file.path);
            assert_eq!(entry.meta.mtime, i64::from(file.mtime), "{}", file.path);
            match &entry.kind {
                EntryKind::File { size } => assert_eq!(*size, file.size, "{}", file.path),
                EntryKind::Symlink { target } => {
                    assert_eq!(target, file.link_target.as_bytes())
                }
                _ => {}
            }
        }
    }

    fn check_extract(payload: &str, compressor: &str) {
        let built = rpmbuild(&spec(payload), "-bb");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        assert_eq!(pkg.payload_compressor, compressor);
        let mut listing = Listing::default();
        pkg.extract(&mut listing).unwrap();
        let mut ours: Vec<String> = listing.entries.iter().map(cpio_line).collect();
        let mut theirs = cpio_listing(&built.rpm);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
        assert_matches_header(&pkg, &listing.entries);

        let mut contents = Contents::default();
        pkg.extract(&mut contents).unwrap();
        assert_eq!(contents.entries, listing.entries);
        assert_eq!(contents.data[&b"./usr/bin/hello".to_vec()], b"hello\n");
        let numbers = &contents.data[&b"./usr/share/obstest/numbers".to_vec()];
        assert!(numbers.ends_with(b"29999\n30000\n"));

        // The data-carrying member of the link pair comes first, the other links to it.
        let position = |name: &[u8]| listing.entries.iter().position(|e| e.path == name);
        let a = position(b"./usr/share/obstest/a").unwrap();
        let b = position(b"./usr/share/obstest/b").unwrap();
        assert!(b < a);
        assert_eq!(listing.entries[b].kind, EntryKind::File { size: 5 });
        assert_eq!(contents.data[&b"./usr/share/obstest/b".to_vec()], b"data\n");
        assert_eq!(
            listing.entries[a].kind,
            EntryKind::HardLink {
                target: b"./usr/share/obstest/b".to_vec()
            }
        );

        let hello = &listing.entries[position(b"./usr/bin/hello").unwrap()];
        assert_eq!(hello.meta.mode, 0o4755);
        let ping = &listing.entries[position(b"./usr/bin/ping").unwrap()];
        assert_eq!(ping.meta.capability, Some(net_raw_ep()));
        assert_eq!(hello.meta.capability, None);
        let null = &listing.entries[position(b"./dev/obsnull").unwrap()];
        assert_eq!(null.kind, EntryKind::CharDevice { major: 1, minor: 3 });
    }

    #[test]
    fn extracts_gzip_payload_like_cpio() {
        check_extract("w9.gzdio", "gzip");
    }

    #[test]
    fn extracts_xz_payload_like_cpio() {
        check_extract("w6.xzdio", "xz");
    }

    #[test]
    fn extracts_zstd_payload_like_cpio() {
        check_extract("w19.zstdio", "zstd");
    }

    /// A file of 4 GiB or more makes rpmbuild write stripped cpio entries (`07070X`).
    #[test]
    fn extracts_stripped_payload_of_large_files() {
        let spec = r#"Name: bigtest
Version: 1
Release: 1
Summary: large file
License: MIT
BuildArch: noarch
%define _binary_payload w1.zstdio
%description
Large file.
%install
mkdir -p %{buildroot}/data/empty
truncate -s 4097M %{buildroot}/data/big
echo small > %{buildroot}/data/small
ln %{buildroot}/data/small %{buildroot}/data/small2
ln -s small %{buildroot}/data/link
mkfifo %{buildroot}/data/fifo
%files
%defattr(-,root,root,-)
/data
"#;
        let built = rpmbuild(spec, "-bb");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        let required = rpm_query(&built.rpm, "[%{REQUIRENAME}\n]");
        assert!(required.contains("rpmlib(LargeFiles)"));
        let mut contents = Contents::default();
        pkg.extract(&mut contents)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_matches_header(&pkg, &contents.entries);
        let find = |name: &[u8]| {
            let entry = contents.entries.iter().find(|e| e.path == name);
            entry.unwrap().kind.clone()
        };
        assert_eq!(find(b"./data/big"), EntryKind::File { size: 4097 << 20 });
        assert_eq!(
            find(b"./data/link"),
            EntryKind::Symlink {
                target: b"small".to_vec()
            }
        );
        assert_eq!(find(b"./data/empty"), EntryKind::Dir);
        assert_eq!(find(b"./data/fifo"), EntryKind::Fifo);
        let small = [find(b"./data/small"), find(b"./data/small2")];
        let file = small.iter().filter(|k| **k == EntryKind::File { size: 6 });
        assert_eq!(file.count(), 1);
        assert!(
            small
                .iter()
                .any(|k| matches!(k, EntryKind::HardLink { .. }))
        );
        let data = contents
            .data
            .values()
            .filter(|d| d.as_slice() == b"small\n");
        assert_eq!(data.count(), 1);
    }

    /// A payload whose stream check fails (a flipped byte in the xz footer's CRC, in the
    /// gzip trailer's CRC-32) is refused: the payload is read to the end of its stream.
    #[test]
    fn a_payload_failing_its_stream_check_is_refused() {
        for (payload, kind, from_end) in [("w6.xzdio", "xz", 12), ("w9.gzdio", "gzip", 8)] {
            let built = rpmbuild(&spec(payload), "-bb");
            let path = damaged(&built, |b| {
                let at = b.len() - from_end;
                b[at] ^= 0xff;
            });
            let text = extract_error(&path);
            assert!(text.contains(&format!("corrupt {kind} stream")), "{text}");
        }
    }

    #[test]
    fn damaged_payloads_give_clear_errors() {
        let (built, pkg) = plain_package();
        let start = pkg.payload_offset() as usize;
        let path = damaged(&built, |b| b[start..start + 6].copy_from_slice(b"123456"));
        assert!(extract_error(&path).contains("bad cpio magic \"123456\" at payload offset 0"));

        // Cut inside the largest file, whose data ends just before the trailer.
        let path = damaged(&built, |b| b.truncate(b.len() - 30_000));
        let text = extract_error(&path);
        assert!(
            text.contains("entry ./usr/share/obstest/numbers: truncated payload"),
            "{text}"
        );

        let path = damaged(&built, |b| b.truncate(b.len() - 20));
        let text = extract_error(&path);
        assert!(text.contains("cpio header at payload offset"), "{text}");
        assert!(text.ends_with("truncated payload"), "{text}");

        let gzip = rpmbuild(&spec("w9.gzdio"), "-bb");
        let path = damaged(&gzip, |b| b.truncate(b.len() - 200));
        extract_error(&path);
    }
}
