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

/// Feeds every entry of the (uncompressed) tar stream to `sink`. `label` names the archive
/// in errors.
pub fn read_tar(
    reader: impl Read,
    sink: &mut dyn Sink,
    whiteouts: Whiteouts,
    label: &str,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .with_context(|| format!("{label}: not a tar archive"))?;
    for entry in entries {
        // The tar crate's errors quote the raw header (names, garbage): made one line.
        let mut entry =
            entry.map_err(|e| anyhow!("{label}: corrupt tar stream: {}", one_line_error(e)))?;
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
    Ok(())
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
