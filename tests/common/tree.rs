//! A description of a directory tree (paths, types, modes, owners, link targets, content
//! hashes) for comparing what obsbox wrote with what dpkg-deb or cpio wrote.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Files: content hash; symlinks: the target; devices: the device number.
    pub detail: String,
    /// Not for directories: their mtime depends on what was written into them later.
    pub mtime: Option<i64>,
    pub capability: Option<Vec<u8>>,
}

/// Every entry below `root`, keyed by its path relative to `root`.
pub fn describe(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let (kind, detail) = if ft.is_dir() {
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(&path).unwrap().display().to_string(),
            )
        } else if ft.is_file() {
            ("file", sha256_file(&path))
        } else if ft.is_char_device() {
            ("char", meta.rdev().to_string())
        } else if ft.is_block_device() {
            ("block", meta.rdev().to_string())
        } else if ft.is_fifo() {
            ("fifo", String::new())
        } else {
            ("other", String::new())
        };
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        out.insert(
            rel,
            Node {
                kind,
                mode: if ft.is_symlink() {
                    0
                } else {
                    meta.mode() & 0o7777
                },
                uid: meta.uid(),
                gid: meta.gid(),
                detail,
                mtime: (!ft.is_dir()).then(|| meta.mtime()),
                capability: if ft.is_file() {
                    capability(&path)
                } else {
                    None
                },
            },
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

fn capability(path: &Path) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid pointers for the call.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

pub fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// A readable list of differences (empty when the trees are equal).
pub fn diff(expected: &BTreeMap<String, Node>, actual: &BTreeMap<String, Node>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, node) in expected {
        match actual.get(path) {
            None => out.push(format!("missing {path}")),
            Some(other) if other != node => {
                out.push(format!("differs {path}: expected {node:?}, got {other:?}"))
            }
            _ => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            out.push(format!("extra {path}"));
        }
    }
    out
}
