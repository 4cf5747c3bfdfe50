//! The lead and the headers of an `.rpm`: the index, the store, typed values read from it
//! with every offset and count checked against the store.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

pub(super) const LEAD_SIZE: u64 = 96;
pub(super) const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
pub(super) const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm itself refuses headers with more tags than this.
pub(super) const MAX_INDEX_COUNT: u32 = 0xffff;
/// The largest header store accepted: 64 MiB, a quarter of what rpm itself accepts
/// (256 MiB). The store is read into memory whole (after checking the file holds it); the
/// largest real ones, packages of ~100,000 files with file signatures, are ≈ 20 MB.
pub(super) const MAX_STORE_SIZE: u32 = 64 << 20;

/// A header tag: number and name (the name is for error messages).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tag(pub(super) u32, pub(super) &'static str);

pub(super) const NAME: Tag = Tag(1000, "NAME");
pub(super) const VERSION: Tag = Tag(1001, "VERSION");
pub(super) const RELEASE: Tag = Tag(1002, "RELEASE");
pub(super) const EPOCH: Tag = Tag(1003, "EPOCH");
pub(super) const SUMMARY: Tag = Tag(1004, "SUMMARY");
pub(super) const DESCRIPTION: Tag = Tag(1005, "DESCRIPTION");
pub(super) const LICENSE: Tag = Tag(1014, "LICENSE");
pub(super) const GROUP: Tag = Tag(1016, "GROUP");
pub(super) const URL: Tag = Tag(1020, "URL");
pub(super) const ARCH: Tag = Tag(1022, "ARCH");
pub(super) const PREIN: Tag = Tag(1023, "PREIN");
pub(super) const POSTIN: Tag = Tag(1024, "POSTIN");
pub(super) const PREUN: Tag = Tag(1025, "PREUN");
pub(super) const POSTUN: Tag = Tag(1026, "POSTUN");
pub(super) const OLDFILENAMES: Tag = Tag(1027, "OLDFILENAMES");
pub(super) const FILESIZES: Tag = Tag(1028, "FILESIZES");
pub(super) const FILEMODES: Tag = Tag(1030, "FILEMODES");
pub(super) const FILERDEVS: Tag = Tag(1033, "FILERDEVS");
pub(super) const FILEMTIMES: Tag = Tag(1034, "FILEMTIMES");
pub(super) const FILELINKTOS: Tag = Tag(1036, "FILELINKTOS");
pub(super) const FILEFLAGS: Tag = Tag(1037, "FILEFLAGS");
pub(super) const FILEUSERNAME: Tag = Tag(1039, "FILEUSERNAME");
pub(super) const FILEGROUPNAME: Tag = Tag(1040, "FILEGROUPNAME");
pub(super) const SOURCERPM: Tag = Tag(1044, "SOURCERPM");
pub(super) const PROVIDENAME: Tag = Tag(1047, "PROVIDENAME");
pub(super) const REQUIREFLAGS: Tag = Tag(1048, "REQUIREFLAGS");
pub(super) const REQUIRENAME: Tag = Tag(1049, "REQUIRENAME");
pub(super) const REQUIREVERSION: Tag = Tag(1050, "REQUIREVERSION");
pub(super) const NOSOURCE: Tag = Tag(1051, "NOSOURCE");
pub(super) const NOPATCH: Tag = Tag(1052, "NOPATCH");
pub(super) const CONFLICTFLAGS: Tag = Tag(1053, "CONFLICTFLAGS");
pub(super) const CONFLICTNAME: Tag = Tag(1054, "CONFLICTNAME");
pub(super) const CONFLICTVERSION: Tag = Tag(1055, "CONFLICTVERSION");
pub(super) const TRIGGERSCRIPTS: Tag = Tag(1065, "TRIGGERSCRIPTS");
pub(super) const TRIGGERNAME: Tag = Tag(1066, "TRIGGERNAME");
pub(super) const VERIFYSCRIPT: Tag = Tag(1079, "VERIFYSCRIPT");
pub(super) const CHANGELOGTIME: Tag = Tag(1080, "CHANGELOGTIME");
pub(super) const CHANGELOGNAME: Tag = Tag(1081, "CHANGELOGNAME");
pub(super) const CHANGELOGTEXT: Tag = Tag(1082, "CHANGELOGTEXT");
pub(super) const PREINPROG: Tag = Tag(1085, "PREINPROG");
pub(super) const POSTINPROG: Tag = Tag(1086, "POSTINPROG");
pub(super) const PREUNPROG: Tag = Tag(1087, "PREUNPROG");
pub(super) const POSTUNPROG: Tag = Tag(1088, "POSTUNPROG");
pub(super) const OBSOLETENAME: Tag = Tag(1090, "OBSOLETENAME");
pub(super) const VERIFYSCRIPTPROG: Tag = Tag(1091, "VERIFYSCRIPTPROG");
pub(super) const TRIGGERSCRIPTPROG: Tag = Tag(1092, "TRIGGERSCRIPTPROG");
pub(super) const FILEDEVICES: Tag = Tag(1095, "FILEDEVICES");
pub(super) const FILEINODES: Tag = Tag(1096, "FILEINODES");
pub(super) const PROVIDEFLAGS: Tag = Tag(1112, "PROVIDEFLAGS");
pub(super) const PROVIDEVERSION: Tag = Tag(1113, "PROVIDEVERSION");
pub(super) const OBSOLETEFLAGS: Tag = Tag(1114, "OBSOLETEFLAGS");
pub(super) const OBSOLETEVERSION: Tag = Tag(1115, "OBSOLETEVERSION");
pub(super) const DIRINDEXES: Tag = Tag(1116, "DIRINDEXES");
pub(super) const BASENAMES: Tag = Tag(1117, "BASENAMES");
pub(super) const DIRNAMES: Tag = Tag(1118, "DIRNAMES");
pub(super) const PAYLOADFORMAT: Tag = Tag(1124, "PAYLOADFORMAT");
pub(super) const PAYLOADCOMPRESSOR: Tag = Tag(1125, "PAYLOADCOMPRESSOR");
pub(super) const PRETRANS: Tag = Tag(1151, "PRETRANS");
pub(super) const POSTTRANS: Tag = Tag(1152, "POSTTRANS");
pub(super) const PRETRANSPROG: Tag = Tag(1153, "PRETRANSPROG");
pub(super) const POSTTRANSPROG: Tag = Tag(1154, "POSTTRANSPROG");
pub(super) const LONGFILESIZES: Tag = Tag(5008, "LONGFILESIZES");
pub(super) const FILECAPS: Tag = Tag(5010, "FILECAPS");
pub(super) const RECOMMENDNAME: Tag = Tag(5046, "RECOMMENDNAME");
pub(super) const RECOMMENDVERSION: Tag = Tag(5047, "RECOMMENDVERSION");
pub(super) const RECOMMENDFLAGS: Tag = Tag(5048, "RECOMMENDFLAGS");
pub(super) const SUGGESTNAME: Tag = Tag(5049, "SUGGESTNAME");
pub(super) const SUGGESTVERSION: Tag = Tag(5050, "SUGGESTVERSION");
pub(super) const SUGGESTFLAGS: Tag = Tag(5051, "SUGGESTFLAGS");
pub(super) const SUPPLEMENTNAME: Tag = Tag(5052, "SUPPLEMENTNAME");
pub(super) const SUPPLEMENTVERSION: Tag = Tag(5053, "SUPPLEMENTVERSION");
pub(super) const SUPPLEMENTFLAGS: Tag = Tag(5054, "SUPPLEMENTFLAGS");
pub(super) const ENHANCENAME: Tag = Tag(5055, "ENHANCENAME");
pub(super) const ENHANCEVERSION: Tag = Tag(5056, "ENHANCEVERSION");
pub(super) const ENHANCEFLAGS: Tag = Tag(5057, "ENHANCEFLAGS");
pub(super) const FILETRIGGERSCRIPTS: Tag = Tag(5066, "FILETRIGGERSCRIPTS");
pub(super) const FILETRIGGERSCRIPTPROG: Tag = Tag(5067, "FILETRIGGERSCRIPTPROG");
pub(super) const FILETRIGGERNAME: Tag = Tag(5069, "FILETRIGGERNAME");
pub(super) const TRANSFILETRIGGERSCRIPTS: Tag = Tag(5076, "TRANSFILETRIGGERSCRIPTS");
pub(super) const TRANSFILETRIGGERSCRIPTPROG: Tag = Tag(5077, "TRANSFILETRIGGERSCRIPTPROG");
pub(super) const TRANSFILETRIGGERNAME: Tag = Tag(5079, "TRANSFILETRIGGERNAME");

// Header value types.
pub(super) const TYPE_INT16: u32 = 3;
pub(super) const TYPE_INT32: u32 = 4;
pub(super) const TYPE_INT64: u32 = 5;
pub(super) const TYPE_STRING: u32 = 6;
pub(super) const TYPE_STRING_ARRAY: u32 = 8;
pub(super) const TYPE_I18NSTRING: u32 = 9;

/// The main header of the package at `path`, where its payload starts, and the file size.
pub(super) fn main_header(path: &Path) -> Result<(Header, u64, u64)> {
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

pub(super) fn read_lead(reader: &mut impl Read, file_size: u64) -> Result<()> {
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
pub(super) struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// A parsed header: index and store, values decoded on demand.
pub(super) struct Header {
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

    pub(super) fn find(&self, tag: Tag) -> Option<IndexEntry> {
        self.index.iter().copied().find(|e| e.tag == tag.0)
    }

    /// The store bytes of `entry`, whose elements are `width` bytes each.
    pub(super) fn bytes(&self, tag: Tag, entry: IndexEntry, width: u64) -> Result<&[u8]> {
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
    pub(super) fn ints(&self, tag: Tag, kind: u32, width: usize) -> Result<Option<Vec<u64>>> {
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

    pub(super) fn u32s(&self, tag: Tag) -> Result<Option<Vec<u32>>> {
        // Values are 32-bit wide, so the narrowing is exact.
        Ok(self
            .ints(tag, TYPE_INT32, 4)?
            .map(|v| v.into_iter().map(|n| n as u32).collect()))
    }

    pub(super) fn strings(&self, tag: Tag) -> Result<Option<Vec<String>>> {
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

    pub(super) fn string(&self, tag: Tag) -> Result<Option<String>> {
        Ok(self.strings(tag)?.and_then(|v| v.into_iter().next()))
    }

    pub(super) fn required_string(&self, tag: Tag) -> Result<String> {
        self.string(tag)?
            .with_context(|| format!("the header has no {}", tag.1))
    }
}

pub(super) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::rpm::testutil::*;

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
}
