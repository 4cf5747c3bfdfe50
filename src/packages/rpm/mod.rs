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
//!
//! The parts: `header` (lead, headers, typed tag values), `metadata` (the package as its
//! header describes it), `payload` (the cpio archive, as entries) and `filecaps` (file
//! capabilities as the kernel stores them).

mod filecaps;
mod header;
mod metadata;
mod payload;
#[cfg(test)]
mod testutil;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, ensure};

use super::{Sink, compress};
use crate::model::{Format, PackageMeta, Relation};

pub use filecaps::capability_xattr;
use header::main_header;
use metadata::{details, from_header};
use payload::Payload;

/// `%config` file flag.
pub const FILE_CONFIG: u32 = 1 << 0;
/// `%ghost` file flag: listed in the header, absent from the payload.
pub const FILE_GHOST: u32 = 1 << 6;

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
