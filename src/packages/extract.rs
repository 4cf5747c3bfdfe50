//! The safe extractor: every reader writes through it, and every write stays inside the
//! target root.
//!
//! How confinement works:
//! - Archive names are made relative and split into components; `..` is refused outright
//!   (no package needs it, and refusing is clearer than clamping).
//! - The parent directory of each entry is opened with `openat2(RESOLVE_IN_ROOT |
//!   RESOLVE_NO_MAGICLINKS)` relative to an fd of the root, so symlinks already in the root
//!   (merged-/usr `bin -> usr/bin`, Debian's absolute `var/run -> /run`) resolve as they would
//!   inside the container: the kernel clamps them to the root.
//! - Symlinks created by the archive being extracted are never traversed by its later
//!   entries (the classic "symlink, then write through it" attack); those entries are refused.
//! - The final component is always handled with `*at` calls that do not follow symlinks, and
//!   an existing file is unlinked and recreated, never opened for writing: files in the root
//!   may be hard links into the package store, which must not change.
//! - Declared sizes are checked against a total limit and an expansion ratio before writing,
//!   and the bytes actually read must match the declared size.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::{Entry, EntryKind, EntryMeta, Sink};
use crate::text::one_line_bytes;

/// The deepest path an archive may create, in components; every walk over a tree refuses
/// deeper ones too. No real package comes near it; a deep tree is an attack on recursive
/// walkers (stack) and on path buffers.
pub const MAX_DEPTH: usize = 1024;
/// The longest path an archive may create, in bytes (PATH_MAX).
pub const MAX_PATH: usize = 4096;

/// Limits against decompression bombs and lying headers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes of file content one archive may write.
    pub max_bytes: u64,
    /// Content bytes allowed per byte of (compressed) input, once past `ratio_floor`.
    pub max_ratio: u64,
    /// Below this many bytes the ratio is not checked (tiny packages of zeros are fine).
    pub ratio_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_ratio: 200,
            ratio_floor: 256 << 20,
        }
    }
}

/// What the extractor may do besides plain files, directories and links.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Create device nodes (needs CAP_MKNOD). Off: a device entry is an error.
    pub allow_devices: bool,
    /// Apply the archive's uid/gid (needs CAP_CHOWN); off: files belong to the caller.
    pub set_owner: bool,
    /// Apply `security.capability` xattrs (needs CAP_SETFCAP).
    pub set_capabilities: bool,
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        let root = nix::unistd::geteuid().is_root();
        Options {
            allow_devices: false,
            set_owner: root,
            set_capabilities: root,
            limits: Limits::default(),
        }
    }
}

/// Writes archive entries under a root directory. Create one per archive (`label` names the
/// archive in errors), call [`Extractor::finish`] at the end to apply directory metadata.
pub struct Extractor {
    root: OwnedFd,
    root_path: PathBuf,
    label: String,
    options: Options,
    /// Size of the archive's input, for the expansion ratio (0: unknown, ratio unchecked).
    input_size: u64,
    written: u64,
    /// Symlinks this archive created: later entries must not pass through them.
    own_symlinks: HashSet<Vec<u8>>,
    /// Directories whose mode and mtime are applied last (writing into a directory changes
    /// its mtime, and a read-only mode would block the writes).
    dirs: Vec<(Vec<u8>, EntryMeta)>,
    /// The last parent opened, reused while entries stay in one directory.
    /// With whether that directory has setgid (new entries would inherit its group).
    parent_cache: Option<(Vec<u8>, Arc<OwnedFd>, bool)>,
    buffer: Vec<u8>,
    /// The archive's name of the entry being written, for messages.
    current: Vec<u8>,
    /// Who new files belong to and which mode bits the umask clears, so chown and chmod
    /// are called only when the archive asks for something else (most entries).
    euid: u32,
    egid: u32,
    umask: u32,
    /// Every path written, normalized (for package file lists such as dpkg's `.list`).
    pub paths: Vec<Vec<u8>>,
}

impl Extractor {
    /// Opens (creating it if needed) `root` as the target. `label` names the archive.
    pub fn new(root: &Path, label: &str, options: Options) -> Result<Extractor> {
        let fresh = std::fs::symlink_metadata(root).is_err();
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        if fresh && let Ok(dir) = std::fs::File::open(root) {
            mark_top(&dir);
        }
        let root_fd = crate::sys::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open {}", root.display()))?;
        Ok(Extractor {
            root: root_fd,
            root_path: root.to_path_buf(),
            label: label.to_string(),
            options,
            input_size: 0,
            written: 0,
            own_symlinks: HashSet::new(),
            dirs: Vec::new(),
            parent_cache: None,
            buffer: vec![0; 256 * 1024],
            current: Vec::new(),
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
            umask: current_umask(),
            paths: Vec::new(),
        })
    }

    /// The size of the compressed input, so the expansion ratio can be checked.
    pub fn set_input_size(&mut self, bytes: u64) {
        self.input_size = bytes;
    }

    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Bytes of file content written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Applies the deferred directory modes and mtimes (deepest first).
    pub fn finish(mut self) -> Result<Vec<Vec<u8>>> {
        self.parent_cache = None;
        self.current.clear();
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by(|a, b| b.0.cmp(&a.0));
        dirs.dedup_by(|a, b| a.0 == b.0);
        for (path, meta) in dirs {
            let (parent, name) = self.parent_of(&path)?;
            // A directory entry that met an existing symlink kept the symlink (merged /usr);
            // its metadata is not applied through the link.
            if let Ok(st) = nix::sys::stat::fstatat(
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) && SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
            {
                let dir = open_dir_at(&parent, &name).map_err(|e| self.fail(&path, e))?;
                self.apply_meta(&dir, &meta, false, None)
                    .map_err(|e| self.fail(&path, e))?;
            }
        }
        Ok(self.paths)
    }

    /// An error naming the archive and the entry (as the archive spells it).
    fn fail(&self, path: &[u8], err: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {err}", self.entry(path))
    }

    /// `err` (a failed system call: its errno stays in the chain, see [`crate::oserror`])
    /// in an error naming the archive, the entry and `what` was being done.
    fn fail_with(&self, path: &[u8], what: &str, err: impl Into<anyhow::Error>) -> anyhow::Error {
        let entry = self.entry(path);
        if what.is_empty() {
            err.into().context(entry)
        } else {
            err.into().context(format!("{entry}: {what}"))
        }
    }

    /// `LABEL: entry NAME`, the entry as the archive spells it.
    fn entry(&self, path: &[u8]) -> String {
        let name = if self.current.is_empty() {
            path
        } else {
            &self.current
        };
        format!("{}: entry {}", self.label, one_line_bytes(name))
    }

    /// Makes an archive name relative and checks it: `None` for the root itself.
    fn normalize(&self, name: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut out: Vec<u8> = Vec::with_capacity(name.len());
        for component in name.split(|&b| b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => return Err(self.fail(name, "path leaves the root (\"..\")")),
                c => {
                    if c.contains(&0) {
                        return Err(self.fail(name, "NUL byte in name"));
                    }
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(c);
                }
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        let depth = out.iter().filter(|&&b| b == b'/').count() + 1;
        if depth > MAX_DEPTH {
            return Err(self.fail(
                name,
                format!("path nests deeper than {MAX_DEPTH} directories"),
            ));
        }
        if out.len() > MAX_PATH {
            return Err(self.fail(
                name,
                format!(
                    "path of {} bytes is longer than PATH_MAX ({MAX_PATH})",
                    out.len()
                ),
            ));
        }
        // Refuse to pass through a symlink this archive created.
        for (i, &b) in out.iter().enumerate() {
            if b == b'/' && self.own_symlinks.contains(&out[..i]) {
                return Err(self.fail(
                    name,
                    format!(
                        "path goes through symlink {} created by the same archive",
                        one_line_bytes(&out[..i])
                    ),
                ));
            }
        }
        Ok(Some(out))
    }

    /// Opens the parent directory of `path` (normalized) inside the root, creating missing
    /// directories, and returns it with the final component.
    fn parent_of(&mut self, path: &[u8]) -> Result<(Arc<OwnedFd>, CString)> {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], path),
        };
        let name = CString::new(name).expect("normalized names have no NUL");
        if let Some((cached, fd, _)) = &self.parent_cache
            && cached == dir
        {
            return Ok((fd.clone(), name));
        }
        let fd = Arc::new(self.open_dir_in_root(dir)?);
        let setgid = nix::sys::stat::fstat(fd.as_raw_fd())
            .map(|st| st.st_mode & libc::S_ISGID != 0)
            .unwrap_or(true);
        self.parent_cache = Some((dir.to_vec(), fd.clone(), setgid));
        Ok((fd, name))
    }

    /// Resolves a directory inside the root (creating missing components with mode 0755).
    fn open_dir_in_root(&self, dir: &[u8]) -> Result<OwnedFd> {
        if dir.is_empty() {
            return Ok(self.root.try_clone()?);
        }
        match openat2_in_root(&self.root, dir) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(self.fail_with(dir, "cannot open directory", e)),
        }
        // Create the missing components one by one, each resolved inside the root.
        let mut current = self.root.try_clone()?;
        for component in dir.split(|&b| b == b'/') {
            let name = CString::new(component).expect("normalized names have no NUL");
            match nix::sys::stat::mkdirat(
                Some(current.as_raw_fd()),
                name.as_c_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(self.fail_with(dir, "cannot create directory", e)),
            }
            current = match open_dir_at(&current, &name) {
                Ok(fd) => fd,
                // An existing symlink: resolve it inside the root.
                Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                    let prefix_len = {
                        let start = component.as_ptr() as usize - dir.as_ptr() as usize;
                        start + component.len()
                    };
                    openat2_in_root(&self.root, &dir[..prefix_len])
                        .map_err(|e| self.fail_with(dir, "cannot open directory", e))?
                }
                Err(e) => return Err(self.fail_with(dir, "cannot open directory", e)),
            };
        }
        Ok(current)
    }

    /// Removes whatever is at `name` in `parent` so a new entry can take its place. For a
    /// directory entry (`dir_path` given) an existing directory is kept and merged into, and
    /// so is a symlink that resolves inside the root to a directory (merged /usr, as
    /// `tar --keep-directory-symlink`). Returns true when the slot keeps a directory.
    fn clear_slot(
        &self,
        parent: &OwnedFd,
        name: &CString,
        dir_path: Option<&[u8]>,
    ) -> Result<bool, Errno> {
        let st = match nix::sys::stat::fstatat(
            Some(parent.as_raw_fd()),
            name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(e),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFDIR {
            if dir_path.is_some() {
                return Ok(true);
            }
            // A non-directory replacing a directory: only an empty one may go.
            return nix::unistd::unlinkat(
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            )
            .map(|_| false);
        }
        if kind == SFlag::S_IFLNK
            && let Some(path) = dir_path
            && openat2_in_root(&self.root, path).is_ok()
        {
            return Ok(true);
        }
        nix::unistd::unlinkat(
            Some(parent.as_raw_fd()),
            name.as_c_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )?;
        Ok(false)
    }

    /// Whether new entries in the current parent inherit its group (setgid directory).
    /// Directories this extractor creates get their final mode only in `finish`, so only
    /// directories that were there before can have it; it is checked once per directory.
    fn parent_setgid(&self) -> bool {
        self.parent_cache
            .as_ref()
            .is_none_or(|(_, _, setgid)| *setgid)
    }

    fn check_size(&mut self, path: &[u8], size: u64) -> Result<()> {
        let total = self.written.saturating_add(size);
        let limits = self.options.limits;
        if total > limits.max_bytes {
            return Err(self.fail(
                path,
                format!(
                    "content exceeds the limit of {} bytes (decompression bomb?)",
                    limits.max_bytes
                ),
            ));
        }
        if self.input_size > 0
            && total > limits.ratio_floor
            && total / self.input_size.max(1) > limits.max_ratio
        {
            return Err(self.fail(
                path,
                format!(
                    "expands {}× over its {} byte archive, more than the limit of {}× (decompression bomb?)",
                    total / self.input_size,
                    self.input_size,
                    limits.max_ratio
                ),
            ));
        }
        Ok(())
    }

    /// Applies owner, mode, capabilities and mtime. `created_mode` is the mode the object
    /// was created with (before the umask), when it was created just now by us in a
    /// directory without setgid; then chown and chmod are skipped when they would change
    /// nothing.
    fn apply_meta(
        &self,
        fd: &OwnedFd,
        meta: &EntryMeta,
        with_caps: bool,
        created_mode: Option<u32>,
    ) -> Result<()> {
        let mode = meta.mode & 0o7777;
        let owned_as_wanted =
            created_mode.is_some() && meta.uid == self.euid && meta.gid == self.egid;
        let chown = self.options.set_owner && !owned_as_wanted;
        if chown {
            nix::unistd::fchown(fd.as_raw_fd(), Some(meta.uid.into()), Some(meta.gid.into()))
                .context("chown")?;
        }
        // After chown, which clears setuid/setgid bits.
        if chown || created_mode.is_none_or(|c| c & !self.umask != mode) {
            nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(mode))
                .context("chmod")?;
        }
        if with_caps
            && self.options.set_capabilities
            && let Some(cap) = &meta.capability
        {
            set_capability(fd, cap).context("setting security.capability")?;
        }
        let t = TimeSpec::new(meta.mtime, 0);
        nix::sys::stat::futimens(fd.as_raw_fd(), &t, &t).context("setting mtime")?;
        Ok(())
    }

    fn write_file(
        &mut self,
        path: &[u8],
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<()> {
        self.check_size(path, size)?;
        let (parent, name) = self.parent_of(path)?;
        let mode = meta.mode & 0o7777;
        let create = || {
            crate::sys::openat(
                &parent,
                name.as_c_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(mode),
            )
        };
        // Most entries are new: try to create first, look at what is there only if needed.
        let fd = match create() {
            Err(Errno::EEXIST) => {
                self.clear_slot(&parent, &name, None)
                    .map_err(|e| self.fail_with(path, "cannot replace existing entry", e))?;
                create()
            }
            other => other,
        }
        .map_err(|e| self.fail_with(path, "cannot create file", e))?;
        let setgid_parent = self.parent_setgid();
        let mut file = File::from(fd);
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buffer.len() as u64) as usize;
            let n = match data.read(&mut self.buffer[..want]) {
                Ok(0) => {
                    return Err(self.fail(
                        path,
                        format!("archive ends {left} bytes before the declared size of {size}"),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.fail_with(path, "cannot read content", e)),
            };
            file.write_all(&self.buffer[..n])
                .map_err(|e| self.fail_with(path, "cannot write", e))?;
            left -= n as u64;
        }
        self.written += size;
        let fd: OwnedFd = file.into();
        self.apply_meta(&fd, meta, true, (!setgid_parent).then_some(mode))
            .map_err(|e| self.fail_with(path, "", e))?;
        Ok(())
    }

    fn make_dir(&mut self, path: &[u8], meta: &EntryMeta) -> Result<()> {
        let (parent, name) = self.parent_of(path)?;
        let mkdir = || {
            nix::sys::stat::mkdirat(
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                Mode::from_bits_truncate(0o700),
            )
        };
        match mkdir() {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let exists = self
                    .clear_slot(&parent, &name, Some(path))
                    .map_err(|e| self.fail_with(path, "cannot replace existing entry", e))?;
                if !exists {
                    mkdir().map_err(|e| self.fail_with(path, "cannot create directory", e))?;
                }
            }
            Err(e) => return Err(self.fail_with(path, "cannot create directory", e)),
        }
        self.dirs.push((path.to_vec(), meta.clone()));
        Ok(())
    }

    fn make_symlink(&mut self, path: &[u8], target: &[u8], meta: &EntryMeta) -> Result<()> {
        if target.is_empty() || target.contains(&0) {
            return Err(self.fail(path, "invalid symlink target"));
        }
        let (parent, name) = self.parent_of(path)?;
        self.clear_slot(&parent, &name, None)
            .map_err(|e| self.fail_with(path, "cannot replace existing entry", e))?;
        nix::unistd::symlinkat(
            OsStr::from_bytes(target),
            Some(parent.as_raw_fd()),
            name.as_c_str(),
        )
        .map_err(|e| self.fail_with(path, "cannot create symlink", e))?;
        if self.options.set_owner {
            nix::unistd::fchownat(
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                Some(meta.uid.into()),
                Some(meta.gid.into()),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.fail_with(path, "chown", e))?;
        }
        set_mtime_at(&parent, &name, meta.mtime)
            .map_err(|e| self.fail_with(path, "setting mtime", e))?;
        self.own_symlinks.insert(path.to_vec());
        Ok(())
    }

    fn make_hardlink(&mut self, path: &[u8], target: &[u8]) -> Result<()> {
        let target = self
            .normalize(target)?
            .ok_or_else(|| self.fail(path, "hard link to the root directory"))?;
        let (target_parent, target_name) = self.parent_of(&target)?;
        let st = nix::sys::stat::fstatat(
            Some(target_parent.as_raw_fd()),
            target_name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| {
            let what = format!(
                "hard link target {} is not in the root",
                one_line_bytes(&target)
            );
            self.fail_with(path, &what, e)
        })?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
            return Err(self.fail(path, "hard link to a directory"));
        }
        let (parent, name) = self.parent_of(path)?;
        self.clear_slot(&parent, &name, None)
            .map_err(|e| self.fail_with(path, "cannot replace existing entry", e))?;
        nix::unistd::linkat(
            Some(target_parent.as_raw_fd()),
            target_name.as_c_str(),
            Some(parent.as_raw_fd()),
            name.as_c_str(),
            AtFlags::empty(),
        )
        .map_err(|e| self.fail_with(path, "cannot create hard link", e))?;
        Ok(())
    }

    fn make_node(&mut self, path: &[u8], kind: SFlag, dev: u64, meta: &EntryMeta) -> Result<()> {
        if kind != SFlag::S_IFIFO && !self.options.allow_devices {
            return Err(self.fail(path, "device nodes are not allowed here"));
        }
        let (parent, name) = self.parent_of(path)?;
        self.clear_slot(&parent, &name, None)
            .map_err(|e| self.fail_with(path, "cannot replace existing entry", e))?;
        nix::sys::stat::mknodat(
            Some(parent.as_raw_fd()),
            name.as_c_str(),
            kind,
            Mode::from_bits_truncate(0o600),
            dev,
        )
        .map_err(|e| self.fail_with(path, "cannot create node", e))?;
        // O_PATH: enough for fchownat with AT_EMPTY_PATH.
        let fd = crate::sys::openat(
            &parent,
            name.as_c_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.fail_with(path, "cannot open node", e))?;
        if self.options.set_owner {
            fchownat_empty(&fd, meta.uid, meta.gid)
                .map_err(|e| self.fail_with(path, "chown", e))?;
        }
        nix::sys::stat::fchmodat(
            Some(parent.as_raw_fd()),
            name.as_c_str(),
            Mode::from_bits_truncate(meta.mode & 0o7777),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| self.fail_with(path, "chmod", e))?;
        set_mtime_at(&parent, &name, meta.mtime)
            .map_err(|e| self.fail_with(path, "setting mtime", e))?;
        Ok(())
    }

    /// Starts the next archive of a set written into the same root: its own symlinks are
    /// tracked afresh (symlinks of earlier archives resolve inside the root).
    pub fn begin_archive(&mut self, label: &str) {
        self.label = label.to_string();
        self.own_symlinks.clear();
    }

    /// Hard-links the non-directory `src_name` of `src_dir` (the package store) at `path`
    /// (an archive name). Used to assemble a root from unpacked packages.
    pub fn link_existing(
        &mut self,
        path: &[u8],
        src_dir: BorrowedFd<'_>,
        src_name: &std::ffi::CStr,
    ) -> Result<()> {
        self.current = path.to_vec();
        let Some(path) = self.normalize(path)? else {
            return Ok(());
        };
        let (parent, name) = self.parent_of(&path)?;
        let link = || {
            nix::unistd::linkat(
                Some(src_dir.as_raw_fd()),
                src_name,
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                AtFlags::empty(),
            )
        };
        match link() {
            Err(Errno::EEXIST) => {
                self.clear_slot(&parent, &name, None)
                    .map_err(|e| self.fail_with(&path, "cannot replace existing entry", e))?;
                link()
            }
            other => other,
        }
        .map_err(|e| self.fail_with(&path, "cannot link from the store", e))?;
        self.paths.push(path);
        Ok(())
    }

    /// Removes `path` (and everything below it) from the root: an OCI layer whiteout.
    fn remove(&mut self, path: &[u8]) -> Result<()> {
        let (parent, name) = self.parent_of(path)?;
        remove_tree_at(&parent, &name).map_err(|e| self.fail_with(path, "cannot remove", e))
    }

    /// Empties directory `path` (keeping it): an OCI opaque-directory marker.
    fn empty_dir(&mut self, path: &[u8]) -> Result<()> {
        let dir = if path.is_empty() {
            self.root.try_clone()?
        } else {
            let (parent, name) = self.parent_of(path)?;
            match open_dir_at(&parent, &name) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(self.fail_with(path, "cannot open directory", e)),
            }
        };
        for name in list_dir(&dir).map_err(|e| self.fail_with(path, "cannot list", e))? {
            remove_tree_at(&dir, &name).map_err(|e| self.fail_with(path, "cannot remove", e))?;
        }
        self.parent_cache = None;
        Ok(())
    }
}

impl Sink for Extractor {
    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        self.current.clone_from(&entry.path);
        let Some(path) = self.normalize(&entry.path)? else {
            // The root itself (`./`): nothing to create; its metadata is left alone.
            return Ok(());
        };
        match &entry.kind {
            EntryKind::Dir => self.make_dir(&path, &entry.meta)?,
            EntryKind::File { size } => self.write_file(&path, &entry.meta, *size, data)?,
            EntryKind::Symlink { target } => self.make_symlink(&path, target, &entry.meta)?,
            EntryKind::HardLink { target } => self.make_hardlink(&path, target)?,
            EntryKind::CharDevice { major, minor } => self.make_node(
                &path,
                SFlag::S_IFCHR,
                nix::sys::stat::makedev((*major).into(), (*minor).into()),
                &entry.meta,
            )?,
            EntryKind::BlockDevice { major, minor } => self.make_node(
                &path,
                SFlag::S_IFBLK,
                nix::sys::stat::makedev((*major).into(), (*minor).into()),
                &entry.meta,
            )?,
            EntryKind::Fifo => self.make_node(&path, SFlag::S_IFIFO, 0, &entry.meta)?,
        }
        self.paths.push(path);
        Ok(())
    }

    fn whiteout(&mut self, path: &[u8]) -> Result<()> {
        self.current = path.to_vec();
        match self.normalize(path)? {
            Some(path) => self.remove(&path),
            None => Err(self.fail(path, "whiteout of the root")),
        }
    }

    fn opaque_dir(&mut self, path: &[u8]) -> Result<()> {
        self.current = path.to_vec();
        let path = self.normalize(path)?.unwrap_or_default();
        self.empty_dir(&path)
    }
}

/// The process umask (read by setting it and putting it back, before threads race on it
/// nothing else in obsbox changes it).
fn current_umask() -> u32 {
    let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits()
}

/// Opens directory `path` below `root` for reading, refusing any symlink on the way.
pub fn open_dir_beneath(root: &OwnedFd, path: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    use rustix::fs::{OFlags, ResolveFlags};
    openat2(
        root,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// `openat2(root, path, O_PATH|O_DIRECTORY, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`.
fn openat2_in_root(root: &OwnedFd, path: &[u8]) -> Result<OwnedFd, Errno> {
    use rustix::fs::{OFlags, ResolveFlags};
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    openat2(
        root,
        &c,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// `openat2(2)` of `path` below `dir`, again while the kernel asks for it (EAGAIN: a
/// rename raced the resolution; EINTR).
fn openat2(
    dir: &OwnedFd,
    path: &std::ffi::CStr,
    flags: rustix::fs::OFlags,
    resolve: rustix::fs::ResolveFlags,
) -> Result<OwnedFd, Errno> {
    loop {
        match rustix::fs::openat2(dir, path, flags, rustix::fs::Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Errno::from_raw(e.raw_os_error())),
        }
    }
}

/// Sets the mtime of `name` in `parent` without following a symlink there.
fn set_mtime_at(parent: &OwnedFd, name: &CString, mtime: i64) -> Result<(), Errno> {
    let t = TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(
        Some(parent.as_raw_fd()),
        name.as_c_str(),
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
}

/// Opens a subdirectory without following a symlink at `name`.
pub(crate) fn open_dir_at(parent: &OwnedFd, name: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    crate::sys::openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Marks the directory `dir` as the top of a directory hierarchy (the inode flag
/// `FS_TOPDIR_FL`, what `chattr +T` sets), for a root made here and about to be filled.
/// ext4's allocator places the subdirectories of such a directory in the block groups that
/// hold the fewest directories, and theirs next to them, instead of next to the parent,
/// where a worker has just deleted the previous job's root: without a journal, ext4 will
/// not reuse an inode freed in the last minutes and steps past every one of them, for every
/// directory made (a warm root of ≈ 970 directories took 110–210 ms there instead of
/// ≈ 85 ms). A hint only: file systems without the flag refuse it, and that is ignored.
pub fn mark_top(dir: &impl AsFd) {
    use rustix::fs::IFlags;
    if let Ok(flags) = rustix::fs::ioctl_getflags(dir)
        && !flags.contains(IFlags::TOPDIR)
    {
        let _ = rustix::fs::ioctl_setflags(dir, flags | IFlags::TOPDIR);
    }
}

/// The names in a directory, without `.` and `..`, in directory order.
pub(crate) fn list_dir(dir: &OwnedFd) -> Result<Vec<CString>, Errno> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        c".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The device and inode of an open file: what a walk checks a directory it returns to by
/// `..` against.
pub(crate) fn file_id(fd: &OwnedFd) -> Result<(u64, u64), Errno> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    Ok((st.st_dev, st.st_ino))
}

/// Opens the parent (`..`) of directory `dir`, which must be the directory `id` (device,
/// inode) the walk came down from: if the tree was moved under it, the walk stops (ESTALE)
/// instead of going on elsewhere. So a walk holds one directory open at a time and its
/// stack holds names, whatever the depth.
pub(crate) fn open_parent(dir: &OwnedFd, id: (u64, u64)) -> Result<OwnedFd, Errno> {
    let up = open_dir_at(dir, c"..")?;
    if file_id(&up)? != id {
        return Err(Errno::ESTALE);
    }
    Ok(up)
}

/// Removes `name` in `parent`, and for a directory everything below it, never following
/// symlinks. Iterative (a stack of names, one directory open at a time), so a tree of any
/// depth is removed in bounded stack and descriptors.
pub(crate) fn remove_tree_at(parent: &OwnedFd, name: &std::ffi::CStr) -> Result<(), Errno> {
    match nix::unistd::unlinkat(
        Some(parent.as_raw_fd()),
        name,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    /// A directory being emptied: its name in its parent, the parent's id, and its
    /// subdirectories still to remove.
    struct Level {
        name: CString,
        parent: (u64, u64),
        subdirs: Vec<CString>,
    }
    /// Unlinks every non-directory in `dir` and returns its subdirectories.
    fn unlink_files(dir: &OwnedFd) -> Result<Vec<CString>, Errno> {
        let mut subdirs = Vec::new();
        for child in list_dir(dir)? {
            match nix::unistd::unlinkat(
                Some(dir.as_raw_fd()),
                child.as_c_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            ) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(Errno::EISDIR) => subdirs.push(child),
                Err(e) => return Err(e),
            }
        }
        Ok(subdirs)
    }
    let name = CString::from(name);
    let mut dir = open_dir_at(parent, &name)?;
    let mut stack = vec![Level {
        subdirs: unlink_files(&dir)?,
        name,
        parent: file_id(parent)?,
    }];
    loop {
        let top = stack
            .last_mut()
            .expect("the walk ends when the stack is empty");
        if let Some(child) = top.subdirs.pop() {
            let id = file_id(&dir)?;
            let sub = match open_dir_at(&dir, &child) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            stack.push(Level {
                subdirs: unlink_files(&sub)?,
                name: child,
                parent: id,
            });
            dir = sub;
            continue;
        }
        let done = stack.pop().expect("not empty");
        if stack.is_empty() {
            drop(dir);
            return nix::unistd::unlinkat(
                Some(parent.as_raw_fd()),
                done.name.as_c_str(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            );
        }
        let up = open_parent(&dir, done.parent)?;
        drop(dir);
        nix::unistd::unlinkat(
            Some(up.as_raw_fd()),
            done.name.as_c_str(),
            nix::unistd::UnlinkatFlags::RemoveDir,
        )?;
        dir = up;
    }
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH)`: `fd` itself (an O_PATH descriptor too).
/// An id of -1 leaves that id as it is, as the system call's own convention.
fn fchownat_empty(fd: &OwnedFd, uid: u32, gid: u32) -> Result<(), Errno> {
    use rustix::fs::{AtFlags, Gid, Uid};
    rustix::fs::chownat(
        fd,
        c"",
        (uid != u32::MAX).then(|| Uid::from_raw(uid)),
        (gid != u32::MAX).then(|| Gid::from_raw(gid)),
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

fn set_capability(fd: &OwnedFd, value: &[u8]) -> Result<(), Errno> {
    rustix::fs::fsetxattr(
        fd,
        c"security.capability",
        value,
        rustix::fs::XattrFlags::empty(),
    )
    .map_err(|e| Errno::from_raw(e.raw_os_error()))
}
