//! tar streams (the data of a `.deb`, OCI image layers) turned into [`Entry`]s.

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use tar::EntryType;

use super::{Entry, EntryKind, EntryMeta, Sink};
use crate::text::{one_line_bytes, one_line_error};

/// How `.wh.` names are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Plain archives: `.wh.` files are ordinary files.
    Keep,
    /// OCI image layers: `.wh.NAME` removes NAME, `.wh..wh..opq` empties its directory.
    Apply,
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const CAPABILITY_PAX_KEY: &str = "SCHILY.xattr.security.capability";

/// The longest GNU long name or link target (`././@LongLink`) accepted: PATH_MAX, with its
/// NUL. The tar crate reads such a record whole into memory, so its size is checked first.
pub const MAX_LONG_NAME: u64 = 4096;
/// The largest pax extended header accepted (also read whole into memory). Real ones hold a
/// path, a link target, times and a few xattrs: a few hundred bytes.
pub const MAX_PAX_HEADER: u64 = 64 << 10;

/// Feeds every entry of the (uncompressed) tar stream to `sink`, then reads the stream to
/// its end (see [`super::compress::finish`]: the decoder's integrity check). `label` names
/// the archive in errors.
pub fn read_tar(
    reader: impl Read,
    sink: &mut dyn Sink,
    whiteouts: Whiteouts,
    label: &str,
) -> Result<()> {
    let mut guard = HeaderGuard::new(reader);
    {
        let mut archive = tar::Archive::new(&mut guard);
        let entries = archive
            .entries()
            .with_context(|| format!("{label}: not a tar archive"))?;
        for entry in entries {
            // The tar crate's errors quote the raw header (names, garbage): made one line.
            let mut entry = entry.map_err(|e| stream_error(label, e))?;
            let path = entry.path_bytes().into_owned();
            let name = one_line_bytes(&path);
            let converted = convert(&mut entry, path)
                .map_err(|e| anyhow!("{label}: entry {name}: {}", one_line_error(e)))?;
            let Some(converted) = converted else { continue };
            if whiteouts == Whiteouts::Apply
                && let Some(done) = apply_whiteout(&converted, sink)
            {
                done?;
                continue;
            }
            sink.entry(&converted, &mut entry)?;
        }
    }
    super::compress::finish(&mut guard.inner).map_err(|e| anyhow!("{label}: {}", one_line_error(e)))
}

/// An error of the tar stream: the guard's or the decoder's own words when it is one of
/// theirs, else the tar crate's, marked as a corrupt tar stream.
fn stream_error(label: &str, err: std::io::Error) -> anyhow::Error {
    if super::compress::is_refusal(&err) {
        anyhow!("{label}: {}", one_line_error(err))
    } else {
        anyhow!("{label}: corrupt tar stream: {}", one_line_error(err))
    }
}

/// Sits between the decoder and the tar crate and follows the stream header by header,
/// refusing records the tar crate would read whole into memory (GNU long names and link
/// targets, pax extended headers) when they are larger than any real one, before a byte
/// of them is allocated. It takes sizes exactly as the tar crate does (a pax `size`
/// overrides the header's for the entry it describes), so both agree on where each header
/// is. GNU sparse entries, which carry extra header blocks, are refused (they are not
/// supported further on either).
struct HeaderGuard<R> {
    inner: R,
    /// The header block being handed on: `filled` bytes read, `served` handed on.
    block: [u8; 512],
    filled: usize,
    served: usize,
    /// Bytes of the current entry's data and padding still to hand on.
    body: u64,
    /// The body of a pax extended header being collected, and how many bytes it has.
    pax: Option<(Vec<u8>, u64)>,
    /// The `size` the last pax header gives the entry it describes.
    pax_size: Option<u64>,
}

impl<R: Read> HeaderGuard<R> {
    fn new(inner: R) -> Self {
        HeaderGuard {
            inner,
            block: [0; 512],
            filled: 0,
            served: 0,
            body: 0,
            pax: None,
            pax_size: None,
        }
    }

    /// Looks at a whole header block and sets how much data follows it.
    fn inspect(&mut self) -> std::io::Result<()> {
        let refuse = |text: String| super::compress::refusal(text);
        if self.block.iter().all(|&b| b == 0) {
            self.body = 0;
            return Ok(());
        }
        let header = tar::Header::from_byte_slice(&self.block);
        let kind = header.entry_type();
        if kind.is_gnu_sparse() {
            return Err(refuse("GNU sparse tar entries are not supported".into()));
        }
        let recognized = header.as_ustar().is_some() || header.as_gnu().is_some();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        // Records the tar crate folds into the next entry; anything else is returned as an
        // entry, and the pax header that came before goes with it.
        let folded = recognized
            && (kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions());
        let mut size = header
            .entry_size()
            .map_err(|e| refuse(format!("corrupt tar stream: {e}")))?;
        if !extension && let Some(pax_size) = self.pax_size {
            size = pax_size;
        }
        if !folded {
            self.pax_size = None;
        }
        if recognized && (kind.is_gnu_longname() || kind.is_gnu_longlink()) && size > MAX_LONG_NAME
        {
            return Err(refuse(format!(
                "a GNU long name record of {size} bytes, longer than PATH_MAX ({MAX_LONG_NAME})"
            )));
        }
        if recognized && kind.is_pax_local_extensions() {
            if size > MAX_PAX_HEADER {
                return Err(refuse(format!(
                    "a pax header of {size} bytes, more than the limit of {MAX_PAX_HEADER}"
                )));
            }
            self.pax = Some((Vec::with_capacity(size as usize), size));
        }
        self.body = size
            .checked_add(511)
            .map(|s| s & !511)
            .ok_or_else(|| refuse("corrupt tar stream: size overflow".into()))?;
        if self.body == 0 {
            self.end_pax();
        }
        Ok(())
    }

    /// A pax header's body is complete: the `size` it gives the next entry, read as the
    /// tar crate reads it (the first `size` record; none when a record is malformed).
    fn end_pax(&mut self) {
        let Some((body, _)) = self.pax.take() else {
            return;
        };
        self.pax_size = None;
        for ext in tar::PaxExtensions::new(&body) {
            let Ok(ext) = ext else { return };
            if ext.key() != Ok("size") {
                continue;
            }
            self.pax_size = ext.value().ok().and_then(|v| v.parse::<u64>().ok());
            return;
        }
    }
}

impl<R: Read> Read for HeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.served < self.filled {
                let n = buf.len().min(self.filled - self.served);
                buf[..n].copy_from_slice(&self.block[self.served..self.served + n]);
                self.served += n;
                return Ok(n);
            }
            if self.body > 0 {
                let want = buf.len().min(self.body.try_into().unwrap_or(usize::MAX));
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Ok(0);
                }
                if let Some((pax, size)) = &mut self.pax {
                    let take = n.min(size.saturating_sub(pax.len() as u64) as usize);
                    pax.extend_from_slice(&buf[..take]);
                }
                self.body -= n as u64;
                if self.body == 0 {
                    self.end_pax();
                }
                return Ok(n);
            }
            if buf.is_empty() {
                return Ok(0);
            }
            // At a header: read it whole before handing any of it on.
            self.filled = 0;
            self.served = 0;
            while self.filled < self.block.len() {
                match self.inner.read(&mut self.block[self.filled..]) {
                    Ok(0) => break,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if self.filled == 0 {
                return Ok(0);
            }
            // A short block is handed on as it is: the tar crate reports the truncation.
            if self.filled == self.block.len() {
                self.inspect()?;
            }
        }
    }
}

/// `Some(result)` when the entry is a whiteout marker, which is applied instead of written.
fn apply_whiteout(entry: &Entry, sink: &mut dyn Sink) -> Option<Result<()>> {
    let path = entry.path.strip_suffix(b"/").unwrap_or(&entry.path);
    let (dir, base) = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&path[..0], path),
    };
    if base == OPAQUE_MARKER {
        return Some(sink.opaque_dir(dir));
    }
    let hidden = base.strip_prefix(WHITEOUT_PREFIX)?;
    let mut target = dir.to_vec();
    if !target.is_empty() {
        target.push(b'/');
    }
    target.extend_from_slice(hidden);
    Some(sink.whiteout(&target))
}

fn convert<R: Read>(entry: &mut tar::Entry<'_, R>, path: Vec<u8>) -> Result<Option<Entry>> {
    let header = entry.header();
    let meta = EntryMeta {
        mode: header.mode().context("bad mode")? & 0o7777,
        uid: header
            .uid()
            .context("bad uid")?
            .try_into()
            .context("uid out of range")?,
        gid: header
            .gid()
            .context("bad gid")?
            .try_into()
            .context("gid out of range")?,
        mtime: header
            .mtime()
            .context("bad mtime")?
            .try_into()
            .unwrap_or(i64::MAX),
        capability: None,
    };
    let link = || -> Result<Vec<u8>> {
        Ok(entry
            .link_name_bytes()
            .context("link without a target")?
            .into_owned())
    };
    let device = || -> Result<(u32, u32)> {
        Ok((
            header.device_major()?.context("no device number")?,
            header.device_minor()?.context("no device number")?,
        ))
    };
    let kind = match header.entry_type() {
        EntryType::Regular | EntryType::Continuous => EntryKind::File { size: entry.size() },
        EntryType::Directory => EntryKind::Dir,
        EntryType::Symlink => EntryKind::Symlink { target: link()? },
        EntryType::Link => EntryKind::HardLink { target: link()? },
        EntryType::Char => {
            let (major, minor) = device()?;
            EntryKind::CharDevice { major, minor }
        }
        EntryType::Block => {
            let (major, minor) = device()?;
            EntryKind::BlockDevice { major, minor }
        }
        EntryType::Fifo => EntryKind::Fifo,
        // Metadata records the tar crate has already folded into the next entry.
        EntryType::XGlobalHeader
        | EntryType::XHeader
        | EntryType::GNULongName
        | EntryType::GNULongLink => {
            return Ok(None);
        }
        other => bail!("unsupported tar entry type {other:?}"),
    };
    let mut meta = meta;
    if let Some(extensions) = entry.pax_extensions().context("bad pax header")? {
        for ext in extensions {
            let ext = ext.context("bad pax header")?;
            if ext.key_bytes() == CAPABILITY_PAX_KEY.as_bytes() {
                meta.capability = Some(ext.value_bytes().to_vec());
            }
        }
    }
    Ok(Some(Entry { path, kind, meta }))
}
