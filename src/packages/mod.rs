//! Package and layer readers (`.deb`, `.rpm`, OCI image layers) and the safe extractor they
//! all write through.
//!
//! A reader turns its archive into a stream of [`Entry`]s handed to a [`Sink`]; the
//! [`extract::Extractor`] is the sink that writes them under a target root, confined to it.
//! Keeping the readers free of file-system writes means every format gets the same checks.

pub mod compress;
pub mod deb;
pub mod deb822;
pub mod debtransform;
pub mod extract;
pub mod layer;
pub mod rpm;
pub mod tarball;

use std::io::Read;

use anyhow::Result;

/// What an archive entry is. Paths are the archive's own names (`./usr/bin/x`, `usr/bin/x`,
/// `/usr/bin/x` are all the same entry); the sink makes them relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// A regular file of `size` bytes; its content is the `data` reader handed with it.
    File {
        size: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// A hard link to `target`, another entry of the same archive (archive name).
    HardLink {
        target: Vec<u8>,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// The metadata kept for an entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryMeta {
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// The raw `security.capability` xattr value (file capabilities), if any.
    pub capability: Option<Vec<u8>>,
}

/// One entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as stored in the archive (bytes: names need not be UTF-8).
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub meta: EntryMeta,
}

impl Entry {
    /// The name for messages.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Receives the entries of an archive in order. For `EntryKind::File` the sink must read
/// exactly `size` bytes from `data` (or fail); for other kinds `data` is empty.
pub trait Sink {
    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()>;

    /// An OCI layer whiteout: `path` (archive name) is removed from the lower layers.
    fn whiteout(&mut self, path: &[u8]) -> Result<()> {
        anyhow::bail!(
            "whiteout {} is not allowed here",
            crate::text::one_line_bytes(path)
        )
    }

    /// An OCI opaque directory marker: the directory's contents from lower layers go.
    fn opaque_dir(&mut self, path: &[u8]) -> Result<()> {
        anyhow::bail!(
            "opaque directory {} is not allowed here",
            crate::text::one_line_bytes(path)
        )
    }
}

/// A sink that only records entries and discards data; for listings and tests.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
}

impl Sink for Listing {
    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        std::io::copy(data, &mut std::io::sink())?;
        self.entries.push(entry.clone());
        Ok(())
    }
}
