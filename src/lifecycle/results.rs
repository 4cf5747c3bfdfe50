//! Results in OBS's layout: `RPMS/<arch>/`, `SRPMS/`, `DEBS/`, `KIWI/` (images),
//! `OTHER/`, `logfile`, `_statistics`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::PhaseStats;

/// The directories of a result; `KIWI` holds images (bs_worker reads
/// `.build.packages/KIWI` like the others) and is made only when there are some.
const DIRS: &[&str] = &["RPMS", "SRPMS", "DEBS", "KIWI", "OTHER"];

/// The directories every result has (bs_worker gives up on a result without `OTHER/`).
const ALWAYS: &[&str] = &["RPMS", "SRPMS", "DEBS", "OTHER"];

/// Creates the results directory with its four subdirectories.
pub fn create_layout(results: &Path) -> Result<()> {
    for dir in ALWAYS {
        let path = results.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    Ok(())
}

/// The most bytes (apparent file sizes, holes included: that is what goes back to the
/// backend) one build may hand back. The job model carries no disk size of its own (only
/// `_constraints` text), so a generous bound: OBS workers' disks are rarely larger, and a
/// build writing more than this is broken or hostile.
pub const MAX_RESULTS_BYTES: u64 = 64 << 30;

/// Moves what the build left in `staging` into `results`: regular files only (a build
/// cannot hand back a symlink or device that points elsewhere on the worker), in
/// `RPMS/<arch>/`, `SRPMS/`, `DEBS/`, `KIWI/` and `OTHER/`, at most [`MAX_RESULTS_BYTES`].
/// Returns how many files.
pub fn collect(staging: &Path, results: &Path) -> Result<usize> {
    collect_limited(staging, results, MAX_RESULTS_BYTES)
}

/// As [`collect`], with at most `max_bytes` of results.
pub fn collect_limited(staging: &Path, results: &Path, max_bytes: u64) -> Result<usize> {
    let mut count = 0;
    let mut budget = Budget {
        left: max_bytes,
        max: max_bytes,
    };
    for dir in DIRS {
        let from = staging.join(dir);
        if !from.is_dir() || fs::symlink_metadata(&from)?.file_type().is_symlink() {
            continue;
        }
        for entry in fs::read_dir(&from)? {
            let entry = entry?;
            let meta = fs::symlink_metadata(entry.path())?;
            if *dir == "RPMS" && meta.is_dir() {
                // One level of arch directories.
                let arch = entry.file_name();
                let to = results.join(dir).join(&arch);
                for file in fs::read_dir(entry.path())? {
                    let file = file?;
                    count += take(&file.path(), &to.join(file.file_name()), &mut budget)?;
                }
            } else {
                count += take(
                    &entry.path(),
                    &results.join(dir).join(entry.file_name()),
                    &mut budget,
                )?;
            }
        }
    }
    Ok(count)
}

/// What is left of the results size limit.
struct Budget {
    left: u64,
    max: u64,
}

/// Copies one regular file (not following links), owned by root, mode 0644, keeping its
/// holes. The file is opened non-blocking and its type checked on the descriptor, so a FIFO
/// or device put there (or swapped in) is left out instead of read or waited on.
fn take(from: &Path, to: &Path, budget: &mut Budget) -> Result<usize> {
    let src = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(from)
    {
        Ok(src) => src,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            tracing::warn!("result {} is a symlink: left out", from.display());
            return Ok(0);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read result {}", from.display()));
        }
    };
    let meta = src
        .metadata()
        .with_context(|| format!("cannot read result {}", from.display()))?;
    if !meta.is_file() {
        tracing::warn!(
            "result {} is not a regular file ({}): left out",
            from.display(),
            kind_of(&meta)
        );
        return Ok(0);
    }
    let size = meta.len();
    if size > budget.left {
        anyhow::bail!(
            "result {}: {size} bytes exceed what is left of the limit of {} bytes for a build's results",
            from.display(),
            budget.max
        );
    }
    budget.left -= size;
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let dst = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)
        .with_context(|| format!("cannot write {}", to.display()))?;
    copy_sparse(&src, &dst, size)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(1)
}

/// What a non-regular file is, for messages.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Copies the first `size` bytes of `src` to `dst`, data regions only (`SEEK_DATA` /
/// `SEEK_HOLE`): the holes of a sparse file stay holes. Never copies more than `size`,
/// whatever the file does meanwhile.
fn copy_sparse(src: &fs::File, dst: &fs::File, size: u64) -> std::io::Result<()> {
    use nix::unistd::{Whence, lseek};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let seek = |offset: u64, whence: Whence| -> std::io::Result<Option<u64>> {
        match lseek(src.as_raw_fd(), offset as libc::off_t, whence) {
            Ok(at) => Ok(Some(at as u64)),
            // No data after `offset`.
            Err(nix::errno::Errno::ENXIO) => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = 0u64;
    while pos < size {
        // A file system without SEEK_DATA reports the whole file as data.
        let Some(start) = seek(pos, Whence::SeekData)? else {
            break;
        };
        if start >= size {
            break;
        }
        let end = seek(start, Whence::SeekHole)?.unwrap_or(size).min(size);
        let mut at = start;
        while at < end {
            let want = buf.len().min((end - at) as usize);
            let n = src.read_at(&mut buf[..want], at)?;
            if n == 0 {
                // The file shrank: what is left is a hole.
                break;
            }
            dst.write_all_at(&buf[..n], at)?;
            at += n as u64;
        }
        pos = end.max(start + 1);
    }
    dst.set_len(size)
}

/// The build log: `RESULTS/logfile` gets every line, stamped with the seconds since the
/// job started as obs-build stamps its log (`[   12s] `); the terminal gets them prefixed
/// with the phase.
pub struct Log {
    file: fs::File,
    path: PathBuf,
    /// When the job started (epoch seconds): what the stamps count from.
    start: u64,
    /// The first write that failed (a full disk): the job cannot hand back a whole log.
    error: Option<std::io::Error>,
}

impl Log {
    /// Creates (truncates) the log of a job that started at `start`; it is written in
    /// append mode, because callbacks (other processes) append their lines to it too.
    pub fn create(path: &Path, start: SystemTime) -> Result<Log> {
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Log::append(path, start)
    }

    /// Opens an existing log (or creates it) to append to, for a job that started at
    /// `start`.
    pub fn append(path: &Path, start: SystemTime) -> Result<Log> {
        Ok(Log {
            file: fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
            path: path.to_path_buf(),
            start: crate::joblog::epoch_secs(start),
            error: None,
        })
    }

    /// A line of a phase's output.
    pub fn line(&mut self, phase: &str, text: &str) {
        let _ = writeln!(std::io::stdout(), "[{phase}] {text}");
        self.raw(text);
    }

    /// An obsbox message: on the terminal and in the log.
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(std::io::stdout(), "[obsbox] {text}");
        self.raw(&format!("[obsbox] {text}"));
    }

    /// Lines for the log only (a listing the terminal does not need), each stamped.
    pub fn raw(&mut self, text: &str) {
        let text = crate::joblog::stamped(self.start, text);
        if let Err(err) = self.file.write_all(text.as_bytes())
            && self.error.is_none()
        {
            self.error = Some(err);
        }
    }

    /// A titled section as obs-build writes its own (`==== Kernel ====`, a blank line, the
    /// lines, a blank line), in the log only.
    pub fn section(&mut self, title: &str, lines: &[String]) {
        let mut text = format!("==== {title} ====\n");
        for line in lines {
            text.push('\n');
            text.push_str(line);
        }
        text.push('\n');
        self.raw(&text);
    }

    /// The first failed write, if any, as an error naming the log.
    pub fn take_error(&mut self) -> Option<anyhow::Error> {
        let err = self.error.take()?;
        Some(anyhow::Error::new(err).context(format!("cannot write {}", self.path.display())))
    }
}

/// `_statistics` as OBS keeps it (`<buildstatistics>`), with obsbox's per-phase figures.
pub fn write_statistics(path: &Path, phases: &[PhaseStats], total: Duration) -> Result<()> {
    let mb = |bytes: u64| bytes.div_ceil(1 << 20);
    let peak = phases.iter().filter_map(|p| p.peak_memory).max();
    let mut xml = String::from("<buildstatistics>\n");
    if let Some(peak) = peak {
        xml.push_str(&format!(
            "  <memory>\n    <usage>\n      <size unit=\"M\">{}</size>\n    </usage>\n  </memory>\n",
            mb(peak)
        ));
    }
    xml.push_str("  <times>\n");
    xml.push_str(&format!(
        "    <total>\n      <time unit=\"s\">{}</time>\n    </total>\n",
        total.as_secs()
    ));
    xml.push_str("  </times>\n  <phases>\n");
    for p in phases {
        xml.push_str(&format!(
            "    <phase name=\"{}\" exitcode=\"{}\">\n      <time unit=\"ms\">{}</time>\n",
            p.name,
            p.code,
            p.wall.as_millis()
        ));
        if let Some(m) = p.peak_memory {
            xml.push_str(&format!("      <memory unit=\"M\">{}</memory>\n", mb(m)));
        }
        xml.push_str("    </phase>\n");
    }
    xml.push_str("  </phases>\n</buildstatistics>\n");
    fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_images_from_kiwi_only_when_there_are_some() {
        let staging = tempfile::tempdir().unwrap();
        let results = tempfile::tempdir().unwrap();
        create_layout(results.path()).unwrap();
        assert!(!results.path().join("KIWI").exists());
        fs::create_dir_all(staging.path().join("DEBS")).unwrap();
        fs::write(staging.path().join("DEBS/a_1_amd64.deb"), "deb").unwrap();
        assert_eq!(collect(staging.path(), results.path()).unwrap(), 1);
        assert!(!results.path().join("KIWI").exists());

        let kiwi = staging.path().join("KIWI");
        fs::create_dir_all(&kiwi).unwrap();
        fs::write(kiwi.join("img.x86_64-1.0.tar.xz"), "tbz").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", kiwi.join("img.oci.tar")).unwrap();
        assert_eq!(collect(staging.path(), results.path()).unwrap(), 2);
        let got = results.path().join("KIWI");
        assert_eq!(
            fs::read_to_string(got.join("img.x86_64-1.0.tar.xz")).unwrap(),
            "tbz"
        );
        // A link is no result.
        assert!(!got.join("img.oci.tar").exists());
    }

    /// A sparse result is copied sparse: the copy takes about the blocks of the source,
    /// not its apparent size, and reads back the same.
    #[test]
    fn a_sparse_result_stays_sparse() {
        use std::os::unix::fs::{FileExt as _, MetadataExt as _};
        let staging = tempfile::tempdir().unwrap();
        let results = tempfile::tempdir().unwrap();
        create_layout(results.path()).unwrap();
        fs::create_dir_all(staging.path().join("OTHER")).unwrap();
        let src = staging.path().join("OTHER/disk.img");
        let file = fs::File::create(&src).unwrap();
        file.set_len(1 << 30).unwrap();
        file.write_all_at(&[0x5a; 1 << 20], 512 << 20).unwrap();
        file.write_all_at(b"end", (1 << 30) - 3).unwrap();
        drop(file);
        assert_eq!(collect(staging.path(), results.path()).unwrap(), 1);
        let copy = results.path().join("OTHER/disk.img");
        let (a, b) = (fs::metadata(&src).unwrap(), fs::metadata(&copy).unwrap());
        assert_eq!(b.len(), 1 << 30);
        // 512-byte blocks: the source has ≈ 1 MiB of data; allow a few MiB for the file
        // system's allocation granularity, far below the 1 GiB a full copy takes.
        assert!(
            b.blocks() <= a.blocks() + 8192,
            "copy has {} blocks, source {}",
            b.blocks(),
            a.blocks()
        );
        let copy = fs::File::open(&copy).unwrap();
        let mut got = vec![0u8; 3];
        copy.read_exact_at(&mut got, (1 << 30) - 3).unwrap();
        assert_eq!(got, b"end");
        let mut got = vec![0u8; 1 << 20];
        copy.read_exact_at(&mut got, 512 << 20).unwrap();
        assert!(got.iter().all(|&b| b == 0x5a));
        copy.read_exact_at(&mut got[..4096], 100 << 20).unwrap();
        assert!(got[..4096].iter().all(|&b| b == 0));
    }

    /// A FIFO among the results is left out at once (never opened to wait for a writer),
    /// and so is a symlink; regular files beside them are taken.
    #[test]
    fn a_fifo_in_the_results_is_left_out_without_a_hang() {
        let staging = tempfile::tempdir().unwrap();
        let results = tempfile::tempdir().unwrap();
        create_layout(results.path()).unwrap();
        fs::create_dir_all(staging.path().join("OTHER")).unwrap();
        fs::create_dir_all(staging.path().join("RPMS/x86_64")).unwrap();
        for fifo in ["OTHER/pipe", "RPMS/x86_64/pipe.rpm"] {
            nix::unistd::mkfifo(
                &staging.path().join(fifo),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .unwrap();
        }
        fs::write(staging.path().join("OTHER/file"), "x").unwrap();
        let (staging_path, results_path) =
            (staging.path().to_path_buf(), results.path().to_path_buf());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(collect(&staging_path, &results_path).map_err(|e| e.to_string()));
        });
        let got = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("collecting results hangs on a FIFO");
        assert_eq!(got.unwrap(), 1);
        assert!(!results.path().join("OTHER/pipe").exists());
        assert!(!results.path().join("RPMS/x86_64/pipe.rpm").exists());
    }

    /// Results larger than the limit are refused with the name of the file that crosses it.
    #[test]
    fn results_over_the_limit_are_refused() {
        let staging = tempfile::tempdir().unwrap();
        let results = tempfile::tempdir().unwrap();
        create_layout(results.path()).unwrap();
        fs::create_dir_all(staging.path().join("OTHER")).unwrap();
        let big = staging.path().join("OTHER/big");
        fs::File::create(&big).unwrap().set_len(10_000).unwrap();
        let err = collect_limited(staging.path(), results.path(), 9_999)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&big.display().to_string()), "{err}");
        assert!(err.contains("limit of 9999 bytes"), "{err}");
        assert_eq!(
            collect_limited(staging.path(), results.path(), 10_000).unwrap(),
            1
        );
    }
}
