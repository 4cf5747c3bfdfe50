//! Reader for `.rpm` packages: the header metadata and the cpio payload.
//!
//! Format facts relied on (rpm's `format.md` and `tags.md`):
//! - A package is: a 96-byte lead (magic `ed ab ee db`), the signature header padded to a
//!   multiple of 8 bytes, the main header, then the compressed payload to the end of file.
//! - A header is: magic `8e ad e8 01`, 4 reserved bytes, the index count and the store size
//!   (big-endian u32), then that many 16-byte index entries (tag, type, offset, count; all
//!   big-endian) and the store the offsets point into. Numbers in the store are big-endian.
//! - The payload is cpio "newc" (`070701`, or `070702` with a checksum we ignore), names
//!   `./usr/bin/x`. For packages with files of 4 GiB or more rpm ≥ 4.12 writes "stripped"
//!   entries (`07070X` and a file index, nothing else) whose metadata lives in the header.
//! - Hard links: every member of a link set is in the payload, and only the last one
//!   written carries the data (the others have size 0).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::{Entry, EntryKind, EntryMeta, Sink, compress};
use crate::model::{Format, Op, PackageMeta, Relation};

const LEAD_SIZE: u64 = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm itself refuses headers with more tags than this.
const MAX_INDEX_COUNT: u32 = 0xffff;
/// The largest header store accepted: 64 MiB, a quarter of what rpm itself accepts
/// (256 MiB). The store is read into memory whole (after checking the file holds it); the
/// largest real ones, packages of ~100,000 files with file signatures, are ≈ 20 MB.
const MAX_STORE_SIZE: u32 = 64 << 20;
/// Longest cpio name or symlink target accepted (PATH_MAX); rpm has the same bound.
const MAX_NAME: u64 = 4096;

/// A header tag: number and name (the name is for error messages).
#[derive(Debug, Clone, Copy)]
struct Tag(u32, &'static str);

const NAME: Tag = Tag(1000, "NAME");
const VERSION: Tag = Tag(1001, "VERSION");
const RELEASE: Tag = Tag(1002, "RELEASE");
const EPOCH: Tag = Tag(1003, "EPOCH");
const SUMMARY: Tag = Tag(1004, "SUMMARY");
const DESCRIPTION: Tag = Tag(1005, "DESCRIPTION");
const LICENSE: Tag = Tag(1014, "LICENSE");
const GROUP: Tag = Tag(1016, "GROUP");
const URL: Tag = Tag(1020, "URL");
const ARCH: Tag = Tag(1022, "ARCH");
const PREIN: Tag = Tag(1023, "PREIN");
const POSTIN: Tag = Tag(1024, "POSTIN");
const PREUN: Tag = Tag(1025, "PREUN");
const POSTUN: Tag = Tag(1026, "POSTUN");
const OLDFILENAMES: Tag = Tag(1027, "OLDFILENAMES");
const FILESIZES: Tag = Tag(1028, "FILESIZES");
const FILEMODES: Tag = Tag(1030, "FILEMODES");
const FILERDEVS: Tag = Tag(1033, "FILERDEVS");
const FILEMTIMES: Tag = Tag(1034, "FILEMTIMES");
const FILELINKTOS: Tag = Tag(1036, "FILELINKTOS");
const FILEFLAGS: Tag = Tag(1037, "FILEFLAGS");
const FILEUSERNAME: Tag = Tag(1039, "FILEUSERNAME");
const FILEGROUPNAME: Tag = Tag(1040, "FILEGROUPNAME");
const SOURCERPM: Tag = Tag(1044, "SOURCERPM");
const PROVIDENAME: Tag = Tag(1047, "PROVIDENAME");
const REQUIREFLAGS: Tag = Tag(1048, "REQUIREFLAGS");
const REQUIRENAME: Tag = Tag(1049, "REQUIRENAME");
const REQUIREVERSION: Tag = Tag(1050, "REQUIREVERSION");
const NOSOURCE: Tag = Tag(1051, "NOSOURCE");
const NOPATCH: Tag = Tag(1052, "NOPATCH");
const CONFLICTFLAGS: Tag = Tag(1053, "CONFLICTFLAGS");
const CONFLICTNAME: Tag = Tag(1054, "CONFLICTNAME");
const CONFLICTVERSION: Tag = Tag(1055, "CONFLICTVERSION");
const TRIGGERSCRIPTS: Tag = Tag(1065, "TRIGGERSCRIPTS");
const TRIGGERNAME: Tag = Tag(1066, "TRIGGERNAME");
const VERIFYSCRIPT: Tag = Tag(1079, "VERIFYSCRIPT");
const CHANGELOGTIME: Tag = Tag(1080, "CHANGELOGTIME");
const CHANGELOGNAME: Tag = Tag(1081, "CHANGELOGNAME");
const CHANGELOGTEXT: Tag = Tag(1082, "CHANGELOGTEXT");
const PREINPROG: Tag = Tag(1085, "PREINPROG");
const POSTINPROG: Tag = Tag(1086, "POSTINPROG");
const PREUNPROG: Tag = Tag(1087, "PREUNPROG");
const POSTUNPROG: Tag = Tag(1088, "POSTUNPROG");
const OBSOLETENAME: Tag = Tag(1090, "OBSOLETENAME");
const VERIFYSCRIPTPROG: Tag = Tag(1091, "VERIFYSCRIPTPROG");
const TRIGGERSCRIPTPROG: Tag = Tag(1092, "TRIGGERSCRIPTPROG");
const FILEDEVICES: Tag = Tag(1095, "FILEDEVICES");
const FILEINODES: Tag = Tag(1096, "FILEINODES");
const PROVIDEFLAGS: Tag = Tag(1112, "PROVIDEFLAGS");
const PROVIDEVERSION: Tag = Tag(1113, "PROVIDEVERSION");
const OBSOLETEFLAGS: Tag = Tag(1114, "OBSOLETEFLAGS");
const OBSOLETEVERSION: Tag = Tag(1115, "OBSOLETEVERSION");
const DIRINDEXES: Tag = Tag(1116, "DIRINDEXES");
const BASENAMES: Tag = Tag(1117, "BASENAMES");
const DIRNAMES: Tag = Tag(1118, "DIRNAMES");
const PAYLOADFORMAT: Tag = Tag(1124, "PAYLOADFORMAT");
const PAYLOADCOMPRESSOR: Tag = Tag(1125, "PAYLOADCOMPRESSOR");
const PRETRANS: Tag = Tag(1151, "PRETRANS");
const POSTTRANS: Tag = Tag(1152, "POSTTRANS");
const PRETRANSPROG: Tag = Tag(1153, "PRETRANSPROG");
const POSTTRANSPROG: Tag = Tag(1154, "POSTTRANSPROG");
const LONGFILESIZES: Tag = Tag(5008, "LONGFILESIZES");
const FILECAPS: Tag = Tag(5010, "FILECAPS");
const RECOMMENDNAME: Tag = Tag(5046, "RECOMMENDNAME");
const RECOMMENDVERSION: Tag = Tag(5047, "RECOMMENDVERSION");
const RECOMMENDFLAGS: Tag = Tag(5048, "RECOMMENDFLAGS");
const SUGGESTNAME: Tag = Tag(5049, "SUGGESTNAME");
const SUGGESTVERSION: Tag = Tag(5050, "SUGGESTVERSION");
const SUGGESTFLAGS: Tag = Tag(5051, "SUGGESTFLAGS");
const SUPPLEMENTNAME: Tag = Tag(5052, "SUPPLEMENTNAME");
const SUPPLEMENTVERSION: Tag = Tag(5053, "SUPPLEMENTVERSION");
const SUPPLEMENTFLAGS: Tag = Tag(5054, "SUPPLEMENTFLAGS");
const ENHANCENAME: Tag = Tag(5055, "ENHANCENAME");
const ENHANCEVERSION: Tag = Tag(5056, "ENHANCEVERSION");
const ENHANCEFLAGS: Tag = Tag(5057, "ENHANCEFLAGS");
const FILETRIGGERSCRIPTS: Tag = Tag(5066, "FILETRIGGERSCRIPTS");
const FILETRIGGERSCRIPTPROG: Tag = Tag(5067, "FILETRIGGERSCRIPTPROG");
const FILETRIGGERNAME: Tag = Tag(5069, "FILETRIGGERNAME");
const TRANSFILETRIGGERSCRIPTS: Tag = Tag(5076, "TRANSFILETRIGGERSCRIPTS");
const TRANSFILETRIGGERSCRIPTPROG: Tag = Tag(5077, "TRANSFILETRIGGERSCRIPTPROG");
const TRANSFILETRIGGERNAME: Tag = Tag(5079, "TRANSFILETRIGGERNAME");

// Header value types.
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

// Dependency flags (RPMSENSE_*).
const SENSE_LESS: u32 = 0x02;
const SENSE_GREATER: u32 = 0x04;
const SENSE_EQUAL: u32 = 0x08;
/// `Requires(missingok)`: optional, nothing to resolve.
const SENSE_MISSINGOK: u32 = 0x0008_0000;
/// `rpmlib(...)` features of rpm itself; no package provides them.
const SENSE_RPMLIB: u32 = 0x0100_0000;

/// `%config` file flag.
pub const FILE_CONFIG: u32 = 1 << 0;
/// `%ghost` file flag: listed in the header, absent from the payload.
pub const FILE_GHOST: u32 = 1 << 6;

// File type bits of a mode.
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// One file as the header lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmFile {
    /// Absolute path (`/usr/bin/x`).
    pub path: String,
    /// The full `st_mode` (type and permission bits).
    pub mode: u32,
    pub size: u64,
    /// Symlink target, empty for other files.
    pub link_target: String,
    pub user: String,
    pub group: String,
    pub mtime: u32,
    /// `FILE_CONFIG`, `FILE_GHOST`, … (rpm's `RPMFILE_*` bits).
    pub flags: u32,
    /// File capabilities in text form (`cap_net_raw=ep`), if any.
    pub capability: Option<String>,
    /// Device number of a device node (rpm's old 16-bit encoding: major << 8 | minor).
    pub rdev: u32,
    /// With `device`, identifies hard-link sets.
    pub inode: u32,
    pub device: u32,
}

impl RpmFile {
    pub fn is_config(&self) -> bool {
        self.flags & FILE_CONFIG != 0
    }

    pub fn is_ghost(&self) -> bool {
        self.flags & FILE_GHOST != 0
    }
}

/// When a scriptlet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    PreIn,
    PostIn,
    PreUn,
    PostUn,
}

/// An install or erase scriptlet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub kind: ScriptKind,
    /// The interpreter and its arguments (`/bin/sh` when the header names none).
    pub interpreter: Vec<String>,
    /// The script text; empty for `%post -p /sbin/ldconfig` style scriptlets.
    pub body: String,
}

/// One `%changelog` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// Seconds since the epoch; rpmbuild keeps only the day.
    pub time: u32,
    /// The heading after the date: `Name <mail>`, often with a version.
    pub author: String,
    pub text: String,
}

/// Header fields that say what a package is without mattering for installing it; read by
/// [`RpmPackage::details`] only, so opening packages for a root stays lean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub summary: String,
    pub description: String,
    pub license: String,
    pub group: String,
    pub url: String,
    /// Newest first, as in the spec.
    pub changelog: Vec<ChangelogEntry>,
    pub recommends: Vec<Relation>,
    pub suggests: Vec<Relation>,
    pub supplements: Vec<Relation>,
    pub enhances: Vec<Relation>,
    /// The scriptlets [`RpmPackage::scripts`] leaves out (`%pretrans`, `%posttrans`,
    /// `%verifyscript`, triggers and file triggers) as (tag name, values), for the tags the
    /// header has; raw, for comparing rather than running.
    pub other_scripts: Vec<(&'static str, Vec<String>)>,
}

/// An opened `.rpm`: its metadata, and where the payload starts for [`RpmPackage::extract`].
///
/// Extracted entries carry the cpio's numeric owner, as `rpm2cpio | cpio -idm` would give;
/// rpmbuild 4.18 (Debian 12) writes 0 there for every file; the owner names are only in
/// [`RpmFile::user`] / [`RpmFile::group`], for an installer to map in the target's passwd.
#[derive(Debug, Clone)]
pub struct RpmPackage {
    path: PathBuf,
    file_size: u64,
    payload_offset: u64,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    /// `x86_64`, `noarch`, …; `src` or `nosrc` for source packages.
    pub arch: String,
    pub provides: Vec<Relation>,
    /// Without `rpmlib(...)` and `missingok` requires.
    pub requires: Vec<Relation>,
    pub conflicts: Vec<Relation>,
    pub obsoletes: Vec<Relation>,
    pub files: Vec<RpmFile>,
    pub scripts: Vec<Script>,
    /// `cpio` for every package rpm writes today.
    pub payload_format: String,
    /// `gzip`, `xz`, `zstd`, `bzip2`, `lzma`, …
    pub payload_compressor: String,
}

impl RpmPackage {
    /// Reads the lead and both headers of `path`.
    pub fn open(path: &Path) -> Result<RpmPackage> {
        Self::open_inner(path).map_err(|e| anyhow!("{}: {e:#}", path.display()))
    }

    fn open_inner(path: &Path) -> Result<RpmPackage> {
        let (header, payload_offset, file_size) = main_header(path)?;
        let mut package = from_header(&header).context("main header")?;
        package.path = path.to_owned();
        package.file_size = file_size;
        package.payload_offset = payload_offset;
        Ok(package)
    }

    /// Reads the descriptive fields [`RpmPackage::open`] skips (the header is read again).
    pub fn details(&self) -> Result<Details> {
        let details = main_header(&self.path)
            .and_then(|(header, _, _)| details(&header).context("main header"));
        details.map_err(|e| anyhow!("{}: {e:#}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the compressed payload starts in the file.
    pub fn payload_offset(&self) -> u64 {
        self.payload_offset
    }

    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(epoch) => format!("{epoch}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The package as a repository would describe it.
    pub fn meta(&self, location: &str, repo: usize) -> PackageMeta {
        PackageMeta {
            format: Format::Rpm,
            name: self.name.clone(),
            version: self.evr(),
            arch: self.arch.clone(),
            depends: self.requires.iter().map(|r| vec![r.clone()]).collect(),
            provides: self.provides.clone(),
            conflicts: self
                .conflicts
                .iter()
                .chain(&self.obsoletes)
                .cloned()
                .collect(),
            files: self.files.iter().map(|f| f.path.clone()).collect(),
            essential: false,
            priority: String::new(),
            multi_arch: String::new(),
            location: location.to_owned(),
            checksum: None,
            size: self.file_size,
            repo,
        }
    }

    /// Streams the payload's entries into `sink`.
    pub fn extract(&self, sink: &mut dyn Sink) -> Result<()> {
        self.extract_inner(sink)
            .map_err(|e| anyhow!("{}: {e:#}", self.path.display()))
    }

    fn extract_inner(&self, sink: &mut dyn Sink) -> Result<()> {
        ensure!(
            self.payload_format == "cpio",
            "payload format {:?} is not supported (only cpio)",
            self.payload_format
        );
        // An lzma-alone stream has no magic to recognise it by.
        ensure!(
            self.payload_compressor != "lzma",
            "lzma payloads are not supported"
        );
        let mut file = File::open(&self.path).context("cannot open")?;
        file.seek(SeekFrom::Start(self.payload_offset))?;
        let stream = compress::decompress(file)
            .with_context(|| format!("{} payload", self.payload_compressor))?;
        let mut payload = Payload::new(self, stream)?;
        payload.run(sink)
    }
}

/// The main header of the package at `path`, where its payload starts, and the file size.
fn main_header(path: &Path) -> Result<(Header, u64, u64)> {
    let mut file = File::open(path).context("cannot open")?;
    let file_size = file.metadata()?.len();
    let mut reader = io::BufReader::new(&mut file);
    read_lead(&mut reader, file_size)?;
    let mut offset = LEAD_SIZE;
    let (_, sig_len) = Header::read(&mut reader, "signature header", file_size - offset)?;
    offset += sig_len;
    // The signature header is padded so the main header starts 8-byte aligned.
    let pad = (8 - sig_len % 8) % 8;
    ensure!(file_size - offset >= pad, "truncated signature header");
    io::copy(&mut (&mut reader).take(pad), &mut io::sink())?;
    offset += pad;
    let (header, len) = Header::read(&mut reader, "main header", file_size - offset)?;
    Ok((header, offset + len, file_size))
}

fn read_lead(reader: &mut impl Read, file_size: u64) -> Result<()> {
    ensure!(
        file_size >= LEAD_SIZE,
        "not an rpm: shorter than the 96-byte lead"
    );
    let mut lead = [0u8; LEAD_SIZE as usize];
    reader.read_exact(&mut lead)?;
    ensure!(lead[..4] == LEAD_MAGIC, "not an rpm: bad lead magic");
    ensure!(
        lead[4] >= 3,
        "rpm format version {} is not supported",
        lead[4]
    );
    // Signature type 5: the signature is a header like the main one.
    let sig_type = u16::from_be_bytes([lead[78], lead[79]]);
    ensure!(sig_type == 5, "signature type {sig_type} is not supported");
    Ok(())
}

/// One 16-byte index entry.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// A parsed header: index and store, values decoded on demand.
struct Header {
    index: Vec<IndexEntry>,
    store: Vec<u8>,
}

impl Header {
    /// Reads a header of at most `available` bytes; returns it and its length on disk.
    fn read(reader: &mut impl Read, what: &str, available: u64) -> Result<(Header, u64)> {
        Self::read_inner(reader, available).with_context(|| what.to_owned())
    }

    fn read_inner(reader: &mut impl Read, available: u64) -> Result<(Header, u64)> {
        let mut intro = [0u8; 16];
        ensure!(available >= 16, "truncated: file ends in the header");
        reader.read_exact(&mut intro)?;
        ensure!(intro[..4] == HEADER_MAGIC, "bad header magic");
        let count = be32(&intro[8..12]);
        let store_size = be32(&intro[12..16]);
        ensure!(
            count <= MAX_INDEX_COUNT,
            "index count {count} exceeds the limit of {MAX_INDEX_COUNT}"
        );
        ensure!(
            store_size <= MAX_STORE_SIZE,
            "store size {store_size} exceeds the limit of {MAX_STORE_SIZE}"
        );
        let len = 16 + 16 * u64::from(count) + u64::from(store_size);
        ensure!(
            len <= available,
            "truncated: header needs {len} bytes, the file has {available} left"
        );
        // Both sizes are bounded above and present in the file, so allocating is safe.
        let mut raw = vec![0u8; 16 * count as usize];
        reader.read_exact(&mut raw)?;
        let index = raw
            .chunks_exact(16)
            .map(|e| IndexEntry {
                tag: be32(&e[0..4]),
                kind: be32(&e[4..8]),
                offset: be32(&e[8..12]),
                count: be32(&e[12..16]),
            })
            .collect();
        let mut store = vec![0u8; store_size as usize];
        reader.read_exact(&mut store)?;
        Ok((Header { index, store }, len))
    }

    fn find(&self, tag: Tag) -> Option<IndexEntry> {
        self.index.iter().copied().find(|e| e.tag == tag.0)
    }

    /// The store bytes of `entry`, whose elements are `width` bytes each.
    fn bytes(&self, tag: Tag, entry: IndexEntry, width: u64) -> Result<&[u8]> {
        let start = u64::from(entry.offset);
        let end = start + u64::from(entry.count) * width;
        ensure!(
            end <= self.store.len() as u64,
            "tag {}: data lies outside the header store",
            tag.1
        );
        Ok(&self.store[start as usize..end as usize])
    }

    /// Integer array of a tag of type `kind`, widened to u64.
    fn ints(&self, tag: Tag, kind: u32, width: usize) -> Result<Option<Vec<u64>>> {
        let Some(entry) = self.find(tag) else {
            return Ok(None);
        };
        ensure!(
            entry.kind == kind,
            "tag {}: type {} where {kind} was expected",
            tag.1,
            entry.kind
        );
        let data = self.bytes(tag, entry, width as u64)?;
        Ok(Some(
            data.chunks_exact(width)
                .map(|c| c.iter().fold(0u64, |n, &b| n << 8 | u64::from(b)))
                .collect(),
        ))
    }

    fn u32s(&self, tag: Tag) -> Result<Option<Vec<u32>>> {
        // Values are 32-bit wide, so the narrowing is exact.
        Ok(self
            .ints(tag, TYPE_INT32, 4)?
            .map(|v| v.into_iter().map(|n| n as u32).collect()))
    }

    fn strings(&self, tag: Tag) -> Result<Option<Vec<String>>> {
        let Some(entry) = self.find(tag) else {
            return Ok(None);
        };
        let count = match entry.kind {
            TYPE_STRING => 1,
            // An i18n string holds one translation per locale; the first is the default.
            TYPE_STRING_ARRAY | TYPE_I18NSTRING => entry.count,
            other => bail!("tag {}: type {other} where a string was expected", tag.1),
        };
        let start = entry.offset as usize;
        ensure!(
            start <= self.store.len(),
            "tag {}: data lies outside the header store",
            tag.1
        );
        let mut rest = &self.store[start..];
        // Every string takes at least its NUL, which bounds the allocation.
        ensure!(
            count as usize <= rest.len(),
            "tag {}: {count} strings cannot fit in the header store",
            tag.1
        );
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let Some(nul) = rest.iter().position(|&b| b == 0) else {
                bail!("tag {}: unterminated string", tag.1);
            };
            out.push(String::from_utf8_lossy(&rest[..nul]).into_owned());
            rest = &rest[nul + 1..];
        }
        Ok(Some(out))
    }

    fn string(&self, tag: Tag) -> Result<Option<String>> {
        Ok(self.strings(tag)?.and_then(|v| v.into_iter().next()))
    }

    fn required_string(&self, tag: Tag) -> Result<String> {
        self.string(tag)?
            .with_context(|| format!("the header has no {}", tag.1))
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn from_header(h: &Header) -> Result<RpmPackage> {
    let epoch = h.u32s(EPOCH)?.and_then(|v| v.first().copied());
    Ok(RpmPackage {
        path: PathBuf::new(),
        file_size: 0,
        payload_offset: 0,
        name: h.required_string(NAME)?,
        epoch,
        version: h.required_string(VERSION)?,
        release: h.required_string(RELEASE)?,
        arch: package_arch(h)?,
        provides: relations(h, PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION)?,
        requires: requires(h)?,
        conflicts: relations(h, CONFLICTNAME, CONFLICTFLAGS, CONFLICTVERSION)?,
        obsoletes: relations(h, OBSOLETENAME, OBSOLETEFLAGS, OBSOLETEVERSION)?,
        files: files(h)?,
        scripts: scripts(h)?,
        payload_format: h.string(PAYLOADFORMAT)?.unwrap_or_else(|| "cpio".into()),
        payload_compressor: h
            .string(PAYLOADCOMPRESSOR)?
            .unwrap_or_else(|| "gzip".into()),
    })
}

/// Source packages carry their build arch in ARCH; what marks them is a missing SOURCERPM.
fn package_arch(h: &Header) -> Result<String> {
    if h.find(SOURCERPM).is_some() {
        return h.required_string(ARCH);
    }
    let nosrc = h.find(NOSOURCE).is_some() || h.find(NOPATCH).is_some();
    Ok(if nosrc { "nosrc" } else { "src" }.to_owned())
}

/// Maps rpm's LESS/GREATER/EQUAL sense bits to an operator.
fn sense_op(flags: u32) -> Option<Op> {
    let less = flags & SENSE_LESS != 0;
    let greater = flags & SENSE_GREATER != 0;
    let equal = flags & SENSE_EQUAL != 0;
    match (less, greater, equal) {
        (true, false, false) => Some(Op::Lt),
        (true, false, true) => Some(Op::Le),
        (false, false, true) => Some(Op::Eq),
        (false, true, true) => Some(Op::Ge),
        (false, true, false) => Some(Op::Gt),
        _ => None,
    }
}

/// Relations with their flags, from a NAME/FLAGS/VERSION tag triple.
fn relations_with_flags(
    h: &Header,
    names: Tag,
    flags: Tag,
    versions: Tag,
) -> Result<Vec<(Relation, u32)>> {
    let names = h.strings(names)?.unwrap_or_default();
    let n = names.len();
    let flags = per_item(flags, h.u32s(flags)?, n)?.unwrap_or_else(|| vec![0; n]);
    let versions =
        per_item(versions, h.strings(versions)?, n)?.unwrap_or_else(|| vec![String::new(); n]);
    Ok(names
        .into_iter()
        .zip(flags)
        .zip(versions)
        .map(|((name, flags), version)| {
            let version = match sense_op(flags) {
                Some(op) if !version.is_empty() => Some((op, version)),
                _ => None,
            };
            (Relation { name, version }, flags)
        })
        .collect())
}

fn relations(h: &Header, names: Tag, flags: Tag, versions: Tag) -> Result<Vec<Relation>> {
    Ok(relations_with_flags(h, names, flags, versions)?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// Requires that another package must satisfy, each once.
fn requires(h: &Header) -> Result<Vec<Relation>> {
    let mut out: Vec<Relation> = Vec::new();
    for (relation, flags) in relations_with_flags(h, REQUIRENAME, REQUIREFLAGS, REQUIREVERSION)? {
        let rpmlib = flags & SENSE_RPMLIB != 0 || relation.name.starts_with("rpmlib(");
        // Scriptlet interpreters show up once per scriptlet.
        if rpmlib || flags & SENSE_MISSINGOK != 0 || out.contains(&relation) {
            continue;
        }
        out.push(relation);
    }
    Ok(out)
}

/// Checks that an optional per-item array has one value per item.
fn per_item<T>(tag: Tag, values: Option<Vec<T>>, n: usize) -> Result<Option<Vec<T>>> {
    if let Some(v) = &values {
        ensure!(
            v.len() == n,
            "tag {} has {} values for {n} items",
            tag.1,
            v.len()
        );
    }
    Ok(values)
}

/// File paths: compressed (DIRNAMES + BASENAMES by DIRINDEXES) or the old full list.
fn file_paths(h: &Header) -> Result<Vec<String>> {
    let Some(basenames) = h.strings(BASENAMES)? else {
        return Ok(h.strings(OLDFILENAMES)?.unwrap_or_default());
    };
    let dirnames = h.strings(DIRNAMES)?.unwrap_or_default();
    let indexes = per_item(DIRINDEXES, h.u32s(DIRINDEXES)?, basenames.len())?
        .context("the header has BASENAMES but no DIRINDEXES")?;
    basenames
        .iter()
        .zip(indexes)
        .map(|(base, i)| {
            let dir = dirnames
                .get(i as usize)
                .with_context(|| format!("DIRINDEXES: index {i} is past the end of DIRNAMES"))?;
            Ok(format!("{dir}{base}"))
        })
        .collect()
}

fn files(h: &Header) -> Result<Vec<RpmFile>> {
    let paths = file_paths(h)?;
    let n = paths.len();
    let ints = |tag: Tag, kind: u32, width: usize| -> Result<Vec<u64>> {
        Ok(per_item(tag, h.ints(tag, kind, width)?, n)?.unwrap_or_else(|| vec![0; n]))
    };
    let strings = |tag: Tag| -> Result<Vec<String>> {
        Ok(per_item(tag, h.strings(tag)?, n)?.unwrap_or_else(|| vec![String::new(); n]))
    };
    let sizes = match h.find(LONGFILESIZES) {
        Some(_) => ints(LONGFILESIZES, TYPE_INT64, 8)?,
        None => ints(FILESIZES, TYPE_INT32, 4)?,
    };
    let modes = ints(FILEMODES, TYPE_INT16, 2)?;
    let rdevs = ints(FILERDEVS, TYPE_INT16, 2)?;
    let mtimes = ints(FILEMTIMES, TYPE_INT32, 4)?;
    let flags = ints(FILEFLAGS, TYPE_INT32, 4)?;
    let inodes = ints(FILEINODES, TYPE_INT32, 4)?;
    let devices = ints(FILEDEVICES, TYPE_INT32, 4)?;
    let links = strings(FILELINKTOS)?;
    let users = strings(FILEUSERNAME)?;
    let groups = strings(FILEGROUPNAME)?;
    let caps = strings(FILECAPS)?;
    // Narrowing casts below: each value was read at exactly that width.
    Ok((0..n)
        .map(|i| RpmFile {
            path: paths[i].clone(),
            mode: modes[i] as u32,
            size: sizes[i],
            link_target: links[i].clone(),
            user: users[i].clone(),
            group: groups[i].clone(),
            mtime: mtimes[i] as u32,
            flags: flags[i] as u32,
            capability: Some(caps[i].clone()).filter(|c| !c.is_empty()),
            rdev: rdevs[i] as u32,
            inode: inodes[i] as u32,
            device: devices[i] as u32,
        })
        .collect())
}

fn scripts(h: &Header) -> Result<Vec<Script>> {
    let kinds = [
        (ScriptKind::PreIn, PREIN, PREINPROG),
        (ScriptKind::PostIn, POSTIN, POSTINPROG),
        (ScriptKind::PreUn, PREUN, PREUNPROG),
        (ScriptKind::PostUn, POSTUN, POSTUNPROG),
    ];
    let mut out = Vec::new();
    for (kind, body_tag, prog_tag) in kinds {
        let body = h.string(body_tag)?;
        // The program is a string, or a string array when it has arguments.
        let prog = h.strings(prog_tag)?;
        if body.is_none() && prog.is_none() {
            continue;
        }
        out.push(Script {
            kind,
            interpreter: prog.unwrap_or_else(|| vec!["/bin/sh".to_owned()]),
            body: body.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn details(h: &Header) -> Result<Details> {
    let text = |tag: Tag| -> Result<String> { Ok(h.string(tag)?.unwrap_or_default()) };
    let names = h.strings(CHANGELOGNAME)?.unwrap_or_default();
    let n = names.len();
    let times = per_item(CHANGELOGTIME, h.u32s(CHANGELOGTIME)?, n)?.unwrap_or_else(|| vec![0; n]);
    let texts = per_item(CHANGELOGTEXT, h.strings(CHANGELOGTEXT)?, n)?
        .unwrap_or_else(|| vec![String::new(); n]);
    let changelog = names
        .into_iter()
        .zip(times)
        .zip(texts)
        .map(|((author, time), text)| ChangelogEntry { time, author, text })
        .collect();
    let mut other_scripts = Vec::new();
    for tag in [
        PRETRANS,
        PRETRANSPROG,
        POSTTRANS,
        POSTTRANSPROG,
        VERIFYSCRIPT,
        VERIFYSCRIPTPROG,
        TRIGGERNAME,
        TRIGGERSCRIPTPROG,
        TRIGGERSCRIPTS,
        FILETRIGGERNAME,
        FILETRIGGERSCRIPTPROG,
        FILETRIGGERSCRIPTS,
        TRANSFILETRIGGERNAME,
        TRANSFILETRIGGERSCRIPTPROG,
        TRANSFILETRIGGERSCRIPTS,
    ] {
        if let Some(values) = h.strings(tag)? {
            other_scripts.push((tag.1, values));
        }
    }
    Ok(Details {
        summary: text(SUMMARY)?,
        description: text(DESCRIPTION)?,
        license: text(LICENSE)?,
        group: text(GROUP)?,
        url: text(URL)?,
        changelog,
        recommends: relations(h, RECOMMENDNAME, RECOMMENDFLAGS, RECOMMENDVERSION)?,
        suggests: relations(h, SUGGESTNAME, SUGGESTFLAGS, SUGGESTVERSION)?,
        supplements: relations(h, SUPPLEMENTNAME, SUPPLEMENTFLAGS, SUPPLEMENTVERSION)?,
        enhances: relations(h, ENHANCENAME, ENHANCEFLAGS, ENHANCEVERSION)?,
        other_scripts,
    })
}

/// Converts a capability text (`cap_net_raw=ep`, `cap_a,cap_b+ep`, `=ep`) to the
/// `security.capability` xattr value: `vfs_cap_data` revision 2, little-endian words
/// magic_etc, permitted[0..32], inheritable[0..32], permitted[32..64], inheritable[32..64].
pub fn capability_xattr(text: &str) -> Result<Vec<u8>> {
    let mut sets = CapSets::default();
    for clause in text.split_whitespace() {
        sets.apply(clause)
            .with_context(|| format!("bad capability text {text:?}"))?;
    }
    ensure!(
        sets.effective & !(sets.permitted | sets.inheritable) == 0,
        "bad capability text {text:?}: effective capabilities must be permitted or inheritable"
    );
    // The file format keeps one effective bit: raise everything permitted on exec.
    let magic: u32 = 0x0200_0000 | u32::from(sets.effective != 0);
    let words = [
        magic,
        sets.permitted as u32,
        sets.inheritable as u32,
        (sets.permitted >> 32) as u32,
        (sets.inheritable >> 32) as u32,
    ];
    Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

#[derive(Default)]
struct CapSets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

impl CapSets {
    /// One clause: a comma-separated name list, then operator/flags pairs (`=ep`, `+i-e`).
    fn apply(&mut self, clause: &str) -> Result<()> {
        let split = clause
            .find(['=', '+', '-'])
            .with_context(|| format!("{clause:?} has no operator"))?;
        let (names, mut actions) = clause.split_at(split);
        let mask = cap_mask(names)?;
        while let Some(op) = actions.chars().next() {
            let rest = &actions[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let (flags, next) = rest.split_at(end);
            self.act(op, flags, mask)?;
            actions = next;
        }
        Ok(())
    }

    fn act(&mut self, op: char, flags: &str, mask: u64) -> Result<()> {
        if op == '=' {
            self.effective &= !mask;
            self.permitted &= !mask;
            self.inheritable &= !mask;
        }
        for flag in flags.chars() {
            let set = match flag {
                'e' => &mut self.effective,
                'p' => &mut self.permitted,
                'i' => &mut self.inheritable,
                other => bail!("unknown capability flag {other:?}"),
            };
            if op == '-' {
                *set &= !mask;
            } else {
                *set |= mask;
            }
        }
        Ok(())
    }
}

/// The bit mask of `cap_a,cap_b`; empty or `all` means every capability.
fn cap_mask(names: &str) -> Result<u64> {
    if names.is_empty() || names.eq_ignore_ascii_case("all") {
        return Ok(caps::all().iter().fold(0, |m, c| m | c.bitmask()));
    }
    names.split(',').try_fold(0u64, |mask, name| {
        // The caps crate knows every name from linux/capability.h (CAP_CHOWN = 0 … ).
        let bit = match name.parse::<u8>() {
            Ok(n) if n < 64 => 1u64 << n,
            _ => name
                .to_ascii_uppercase()
                .parse::<caps::Capability>()
                .map_err(|_| anyhow!("unknown capability {name:?}"))?
                .bitmask(),
        };
        Ok(mask | bit)
    })
}

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

struct Payload<'p, 'a> {
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
    fn new(package: &'p RpmPackage, stream: Box<dyn Read + 'a>) -> Result<Self> {
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

    fn run(&mut self, sink: &mut dyn Sink) -> Result<()> {
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
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::packages::Listing;

    /// A package built by `rpmbuild` in a temporary `_topdir`.
    struct Built {
        _dir: tempfile::TempDir,
        rpm: PathBuf,
    }

    /// Builds `spec` with `rpmbuild MODE` (`-bb` or `-bs`); panics loudly without rpmbuild.
    fn rpmbuild(spec: &str, mode: &str) -> Built {
        rpmbuild_with_sources(spec, mode, &[])
    }

    /// Like [`rpmbuild`], with empty files of these names in `SOURCES`.
    fn rpmbuild_with_sources(spec: &str, mode: &str, sources: &[&str]) -> Built {
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

    fn find_rpm(dir: &Path) -> Option<PathBuf> {
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
    fn rpm_query(rpm: &Path, format: &str) -> String {
        let output = Command::new("rpm")
            .args(["-qp", "--qf", format])
            .arg(rpm)
            .output()
            .expect("rpm is needed for these tests (Debian package `rpm`)");
        assert!(output.status.success(), "rpm -qp failed");
        String::from_utf8(output.stdout).unwrap()
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

    fn spec(payload: &str) -> String {
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

    fn relation_lines(relations: &[Relation]) -> Vec<String> {
        relations
            .iter()
            .map(|r| match &r.version {
                Some((op, v)) => format!("{}|{}|{v}", r.name, op.text(crate::model::Format::Rpm)),
                None => format!("{}||", r.name),
            })
            .collect()
    }

    fn query_relations(rpm: &Path, kind: &str) -> Vec<String> {
        let format = format!("[%{{{kind}NAME}}|%{{{kind}FLAGS:depflags}}|%{{{kind}VERSION}}\n]");
        rpm_query(rpm, &format).lines().map(str::to_owned).collect()
    }

    #[test]
    fn header_fields_match_rpm_query() {
        let built = rpmbuild(&spec("w9.gzdio"), "-bb");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        let nevra = rpm_query(
            &built.rpm,
            "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{PAYLOADFORMAT}|%{PAYLOADCOMPRESSOR}",
        );
        let ours = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            pkg.name,
            pkg.epoch.unwrap(),
            pkg.version,
            pkg.release,
            pkg.arch,
            pkg.payload_format,
            pkg.payload_compressor
        );
        assert_eq!(ours, nevra);
        assert_eq!(pkg.evr(), "4:1.2-3");

        let mut requires = query_relations(&built.rpm, "REQUIRE");
        requires.retain(|r| !r.starts_with("rpmlib("));
        requires.dedup();
        assert_eq!(relation_lines(&pkg.requires), requires);
        assert!(requires.contains(&"old-lib|<|3".to_owned()));
        for (kind, ours) in [
            ("PROVIDE", &pkg.provides),
            ("CONFLICT", &pkg.conflicts),
            ("OBSOLETE", &pkg.obsoletes),
        ] {
            assert_eq!(
                relation_lines(ours),
                query_relations(&built.rpm, kind),
                "{kind}"
            );
        }

        let files = rpm_query(
            &built.rpm,
            "[%{FILENAMES}|%{FILEMODES}|%{FILESIZES}|%{FILEUSERNAME}|%{FILEGROUPNAME}|\
             %{FILEMTIMES}|%{FILEFLAGS}|%{FILELINKTOS}|%{FILECAPS}|%{FILERDEVS}\n]",
        );
        let ours: Vec<String> = pkg
            .files
            .iter()
            .map(|f| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                    f.path,
                    f.mode,
                    f.size,
                    f.user,
                    f.group,
                    f.mtime,
                    f.flags,
                    f.link_target,
                    f.capability.as_deref().unwrap_or(""),
                    f.rdev
                )
            })
            .collect();
        assert_eq!(ours, files.lines().collect::<Vec<_>>());
        let conf = pkg.files.iter().find(|f| f.path == "/etc/obstest.conf");
        assert!(conf.unwrap().is_config());
        let log = pkg.files.iter().find(|f| f.path == "/var/log/obstest.log");
        assert!(log.unwrap().is_ghost());

        for (kind, tag) in [
            (ScriptKind::PreIn, "PREIN"),
            (ScriptKind::PostIn, "POSTIN"),
            (ScriptKind::PreUn, "PREUN"),
            (ScriptKind::PostUn, "POSTUN"),
        ] {
            let body = rpm_query(&built.rpm, &format!("%{{{tag}}}"));
            let prog = rpm_query(&built.rpm, &format!("%{{{tag}PROG}}"));
            let ours = pkg.scripts.iter().find(|s| s.kind == kind);
            match ours {
                Some(s) => {
                    assert_eq!(s.body, body, "{tag}");
                    assert_eq!(s.interpreter.join(" "), prog, "{tag}PROG");
                }
                None => assert_eq!((body.as_str(), prog.as_str()), ("(none)", "(none)")),
            }
        }
        assert_eq!(pkg.scripts.len(), 2);

        let meta = pkg.meta("noarch/obstest.rpm", 3);
        assert_eq!(meta.format, Format::Rpm);
        assert_eq!(meta.nevra(), "obstest=4:1.2-3.noarch");
        assert_eq!(meta.depends.len(), pkg.requires.len());
        assert!(meta.depends.iter().all(|group| group.len() == 1));
        assert_eq!(meta.conflicts.len(), 2);
        assert!(meta.files.contains(&"/usr/bin/hello".to_owned()));
        assert_eq!(meta.size, std::fs::metadata(&built.rpm).unwrap().len());
        assert_eq!(
            (meta.location.as_str(), meta.repo),
            ("noarch/obstest.rpm", 3)
        );
    }

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

    /// `cap_net_raw=ep` as the kernel stores it: CAP_NET_RAW is 13.
    fn net_raw_ep() -> Vec<u8> {
        let mut v = vec![0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0];
        v.extend([0; 12]);
        v
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

    #[test]
    fn source_packages_report_src_and_nosrc() {
        let built = rpmbuild(&spec("w9.gzdio"), "-bs");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        assert_eq!(pkg.arch, "src");
        let mut listing = Listing::default();
        pkg.extract(&mut listing).unwrap();
        assert_eq!(listing.entries.len(), 1);
        assert_eq!(listing.entries[0].path, b"test.spec");

        let nosrc = spec("w9.gzdio").replace(
            "BuildArch: noarch\n",
            "BuildArch: noarch\nSource0: obstest-1.2.tar.gz\nNoSource: 0\n",
        );
        // rpmbuild wants even a NoSource file present, though it leaves it out.
        let built = rpmbuild_with_sources(&nosrc, "-bs", &["obstest-1.2.tar.gz"]);
        assert_eq!(RpmPackage::open(&built.rpm).unwrap().arch, "nosrc");
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

    /// An uncompressed package with a large file, for damaging at known places.
    fn plain_package() -> (Built, RpmPackage) {
        let spec = spec("w.ufdio");
        let built = rpmbuild(&spec, "-bb");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        (built, pkg)
    }

    fn damaged(built: &Built, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
        let mut bytes = std::fs::read(&built.rpm).unwrap();
        edit(&mut bytes);
        let path = built.rpm.with_file_name("damaged.rpm");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn open_error(path: &Path) -> String {
        let err = RpmPackage::open(path).unwrap_err();
        let text = format!("{err}");
        eprintln!("{text}");
        assert!(text.contains("damaged.rpm"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        text
    }

    fn extract_error(path: &Path) -> String {
        let pkg = RpmPackage::open(path).unwrap();
        let text = format!("{}", pkg.extract(&mut Listing::default()).unwrap_err());
        eprintln!("{text}");
        assert!(text.contains("damaged.rpm"), "{text}");
        text
    }

    #[test]
    fn damaged_headers_give_clear_errors() {
        let (built, _) = plain_package();
        let path = damaged(&built, |b| b.truncate(96 + 16 + 40));
        assert!(open_error(&path).contains("signature header: truncated"));

        let path = damaged(&built, |b| b[96 + 8..96 + 12].copy_from_slice(&[0x7f; 4]));
        assert!(open_error(&path).contains("index count 2139062143 exceeds"));

        let path = damaged(&built, |b| b[96 + 12..96 + 16].copy_from_slice(&[0xff; 4]));
        assert!(open_error(&path).contains("store size 4294967295 exceeds"));

        let path = damaged(&built, |b| b[0] = b'x');
        assert!(open_error(&path).contains("not an rpm"));

        let path = damaged(&built, |b| b[96] = 0);
        assert!(open_error(&path).contains("signature header: bad header magic"));
    }

    /// A header store larger than obsbox's bound (below rpm's own 256 MiB) is refused from
    /// the header's intro, before anything is allocated or read.
    #[test]
    fn oversized_header_stores_are_refused() {
        let (built, _) = plain_package();
        let path = damaged(&built, |b| {
            b[96 + 12..96 + 16].copy_from_slice(&(100u32 << 20).to_be_bytes())
        });
        let text = open_error(&path);
        assert!(
            text.contains("store size 104857600 exceeds the limit of 67108864"),
            "{text}"
        );
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

    #[test]
    fn header_values_are_bounds_checked() {
        let entry = |tag: Tag, kind, offset, count| IndexEntry {
            tag: tag.0,
            kind,
            offset,
            count,
        };
        let h = Header {
            index: vec![
                entry(NAME, TYPE_STRING, 100, 1),
                entry(VERSION, TYPE_STRING, 0, 1),
                entry(BASENAMES, TYPE_STRING_ARRAY, 0, 1_000_000),
                entry(FILEMTIMES, TYPE_INT32, 4, 0x4000_0000),
                entry(EPOCH, TYPE_STRING, 0, 1),
            ],
            store: b"1.0\0abc".to_vec(),
        };
        fn err<T>(r: Result<T>) -> String {
            format!("{:#}", r.err().unwrap())
        }
        assert!(err(h.string(NAME)).contains("NAME: data lies outside"));
        assert_eq!(h.string(VERSION).unwrap().unwrap(), "1.0");
        assert!(err(h.strings(BASENAMES)).contains("cannot fit"));
        assert!(err(h.u32s(FILEMTIMES)).contains("FILEMTIMES: data lies outside"));
        assert!(err(h.u32s(EPOCH)).contains("type 6 where 4 was expected"));
        let unterminated = Header {
            index: h.index.clone(),
            store: b"abc".to_vec(),
        };
        assert!(err(unterminated.string(VERSION)).contains("unterminated"));
    }

    #[test]
    fn capability_text_converts_to_xattr() {
        assert_eq!(capability_xattr("cap_net_raw=ep").unwrap(), net_raw_ep());
        let words = |text: &str| -> Vec<u32> {
            let bytes = capability_xattr(text).unwrap();
            bytes
                .chunks(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        assert_eq!(
            words("cap_setuid,cap_setgid+ep"),
            [0x0200_0001, 0xc0, 0, 0, 0]
        );
        // CAP_BPF is 39: bit 7 of the high word.
        assert_eq!(
            words("CAP_BPF,cap_sys_admin=p"),
            [0x0200_0000, 1 << 21, 0, 0x80, 0]
        );
        assert_eq!(words("cap_chown=i"), [0x0200_0000, 0, 1, 0, 0]);
        assert_eq!(
            words("cap_chown,cap_kill=ep cap_kill-e cap_kill-p"),
            [0x0200_0001, 1, 0, 0, 0]
        );
        let all = words("=ep");
        assert_eq!((all[0], all[1], all[3]), (0x0200_0001, u32::MAX, 0x1ff));
        assert!(capability_xattr("cap_bogus=ep").is_err());
        assert!(capability_xattr("cap_chown").is_err());
        assert!(capability_xattr("cap_chown=ex").is_err());
        assert!(capability_xattr("cap_chown=e").is_err());
    }

    #[test]
    fn sense_bits_map_to_operators() {
        assert_eq!(sense_op(SENSE_LESS), Some(Op::Lt));
        assert_eq!(sense_op(SENSE_LESS | SENSE_EQUAL), Some(Op::Le));
        assert_eq!(sense_op(SENSE_EQUAL | SENSE_RPMLIB), Some(Op::Eq));
        assert_eq!(sense_op(SENSE_GREATER | SENSE_EQUAL), Some(Op::Ge));
        assert_eq!(sense_op(SENSE_GREATER), Some(Op::Gt));
        assert_eq!(sense_op(0x0400), None);
    }

    #[test]
    fn details_match_rpm_query() {
        let spec = r#"Name: obsdetails
Version: 1
Release: 1
Summary: details test
License: MIT AND BSD-3-Clause
Group: System/Testing
URL: https://example.org/obsdetails
BuildArch: noarch
Recommends: rec-a >= 2
Suggests: sug-b
Supplements: sup-c
Enhances: enh-d < 3
%description
Line one.
Line two.
%install
mkdir -p %{buildroot}/usr/share
echo x > %{buildroot}/usr/share/obsdetails
%files
/usr/share/obsdetails
%pretrans -p <lua>
print("pre")
%posttrans
echo posttrans
%triggerin -- bash
echo trigger
%changelog
* Tue Mar 05 2024 B Person <b@example.org> - 1-1
- second
* Mon Mar 04 2024 A Person <a@example.org>
- first
"#;
        let built = rpmbuild(spec, "-bb");
        let details = RpmPackage::open(&built.rpm).unwrap().details().unwrap();
        let fields = rpm_query(
            &built.rpm,
            "%{SUMMARY}|%{DESCRIPTION}|%{LICENSE}|%{GROUP}|%{URL}",
        );
        let ours = [
            &details.summary,
            &details.description,
            &details.license,
            &details.group,
            &details.url,
        ];
        assert_eq!(ours.map(String::as_str).join("|"), fields);
        let changelog = rpm_query(
            &built.rpm,
            "[%{CHANGELOGTIME}|%{CHANGELOGNAME}|%{CHANGELOGTEXT}\n]",
        );
        let ours: Vec<String> = details
            .changelog
            .iter()
            .map(|c| format!("{}|{}|{}", c.time, c.author, c.text))
            .collect();
        assert_eq!(ours, changelog.lines().collect::<Vec<_>>());
        assert_eq!(details.changelog.len(), 2);
        for (kind, ours) in [
            ("RECOMMEND", &details.recommends),
            ("SUGGEST", &details.suggests),
            ("SUPPLEMENT", &details.supplements),
            ("ENHANCE", &details.enhances),
        ] {
            assert_eq!(
                relation_lines(ours),
                query_relations(&built.rpm, kind),
                "{kind}"
            );
            assert_eq!(ours.len(), 1, "{kind}");
        }
        for (tag, values) in &details.other_scripts {
            let query = rpm_query(&built.rpm, &format!("[%{{{tag}}}\\n]"));
            assert_eq!(values.join("\n"), query.trim_end(), "{tag}");
        }
        let tags: Vec<&str> = details.other_scripts.iter().map(|(t, _)| *t).collect();
        for tag in [
            "PRETRANS",
            "PRETRANSPROG",
            "POSTTRANS",
            "TRIGGERNAME",
            "TRIGGERSCRIPTS",
        ] {
            assert!(tags.contains(&tag), "{tag} missing from {tags:?}");
        }
    }
}
