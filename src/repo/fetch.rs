//! Downloads with checksum verification, one at a time or in parallel.
//!
//! A file reaches its destination only after its checksum matched: it is written to a
//! temporary name in the destination's directory and renamed at the end, so a reader never
//! sees a partial or corrupt package and a failed download leaves nothing behind.

use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use sha2::Digest;

use super::Checksum;
use super::source::Location;

/// An incremental checksum over one of the algorithms repositories use.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A hasher for `algo` as repositories spell it (`sha256`, `SHA256`, `sha512`).
    pub fn new(algo: &str) -> Result<Hasher> {
        Ok(match algo.to_ascii_lowercase().as_str() {
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            other => bail!("checksum algorithm `{other}` is not supported (sha256, sha512)"),
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// Lower-case hex of the digest.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// Passes reads through, counting and hashing them, so that a file can be used while it
/// streams and checked at its end ([`Verifying::verify`]).
pub struct Verifying<'a, R> {
    inner: R,
    expected: Option<&'a Checksum>,
    hasher: Option<Hasher>,
    len: u64,
}

impl<'a, R: Read> Verifying<'a, R> {
    /// A reader of `inner` that checks it against `expected` (when given).
    pub fn new(inner: R, expected: Option<&'a Checksum>) -> Result<Self> {
        let hasher = expected.map(|e| Hasher::new(&e.algo)).transpose()?;
        Ok(Verifying {
            inner,
            expected,
            hasher,
            len: 0,
        })
    }

    /// Reads what is left and checks the whole against `size` (when not 0) and the sum.
    /// What is left is read up to one byte past `size`, or past an index's bound when the
    /// size is not known: an endless stream ends here too.
    pub fn verify(mut self, size: u64, what: &Location) -> Result<()> {
        let bound = match size {
            0 => super::MAX_INDEX,
            size => size,
        };
        let left = (bound + 1).saturating_sub(self.len);
        std::io::copy(&mut (&mut self).take(left), &mut std::io::sink())
            .with_context(|| format!("{what}: cannot read"))?;
        if self.len > bound && size == 0 {
            bail!("{what}: larger than {} MiB", super::MAX_INDEX >> 20);
        }
        if size > 0 && self.len != size {
            bail!(
                "{what}: size mismatch: expected {size} bytes, got {}",
                self.len
            );
        }
        match (self.expected, self.hasher) {
            (Some(expected), Some(h)) => check_digest(expected, h.finish(), what),
            _ => Ok(()),
        }
    }
}

impl<R: Read> Read for Verifying<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }
}

fn check_digest(expected: &Checksum, actual: String, what: &Location) -> Result<()> {
    if !actual.eq_ignore_ascii_case(&expected.hex) {
        bail!(
            "{what}: {} checksum mismatch: expected {}, got {actual}",
            expected.algo,
            expected.hex
        );
    }
    Ok(())
}

/// Removes the temporary file unless the download was committed.
struct PartFile {
    path: PathBuf,
    committed: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn create_part(dest: &Path) -> Result<(PartFile, File)> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .with_context(|| format!("{}: destination has no file name", dest.display()))?
        .to_string_lossy();
    // Dot-prefixed and unique per process and call: never mistaken for a finished package,
    // and parallel fetches of the same name cannot collide.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".{name}.part-{}-{n}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    Ok((
        PartFile {
            path,
            committed: false,
        },
        file,
    ))
}

/// Downloads (or copies, for local paths) `location` to `dest`, checking `size` (when not 0)
/// and `expected`, reporting bytes as they come. Returns the number of bytes written.
fn fetch_with_progress(
    location: &Location,
    dest: &Path,
    expected: Option<&Checksum>,
    size: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64> {
    // Fail on an unknown algorithm before any byte moves.
    let mut hasher = match expected {
        Some(c) => Some(Hasher::new(&c.algo).with_context(|| location.to_string())?),
        None => None,
    };
    let mut reader = location.open()?;
    let (mut part, mut file) = create_part(dest)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("{location}: read failed"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        // A server that sends more than the index promised is wrong; stop before it fills
        // the disk.
        if size > 0 && total > size {
            bail!("{location}: size mismatch: expected {size} bytes, got more");
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        file.write_all(&buf[..n])
            .with_context(|| format!("{}: write failed", part.path.display()))?;
        progress(n as u64);
    }
    if size > 0 && total != size {
        bail!("{location}: size mismatch: expected {size} bytes, got {total}");
    }
    if let (Some(h), Some(expected)) = (hasher, expected) {
        check_digest(expected, h.finish(), location)?;
    }
    file.flush()
        .with_context(|| format!("{}: write failed", part.path.display()))?;
    drop(file);
    fs::rename(&part.path, dest).with_context(|| {
        format!(
            "{}: cannot rename to {}",
            part.path.display(),
            dest.display()
        )
    })?;
    part.committed = true;
    Ok(total)
}

/// One file to download.
#[derive(Debug, Clone)]
pub struct FetchItem {
    pub location: Location,
    pub dest: PathBuf,
    pub checksum: Option<Checksum>,
    /// Expected size in bytes; 0 when unknown.
    pub size: u64,
}

/// Downloads every item with up to `parallelism` threads. Stops handing out new work at the
/// first failure and returns that failure; files already completed stay in place (each was
/// verified).
pub fn fetch_all(items: &[FetchItem], parallelism: usize) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let threads = parallelism.clamp(1, items.len());
    let total_bytes: u64 = items.iter().map(|i| i.size).sum();
    let progress = Progress::new(items.len(), total_bytes);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = fetch_with_progress(
                        &item.location,
                        &item.dest,
                        item.checksum.as_ref(),
                        item.size,
                        &|n| progress.bytes(n),
                    );
                    match result {
                        Ok(n) => progress.done(&item.location, n),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            slot.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    progress.finish();
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A byte bar on a terminal; tracing lines otherwise, so logs stay readable.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    /// Counts bytes when every size is known, else packages.
    by_bytes: bool,
    files: usize,
    done: AtomicUsize,
}

impl Progress {
    fn new(files: usize, total_bytes: u64) -> Progress {
        let by_bytes = total_bytes > 0;
        let bar = std::io::stderr().is_terminal().then(|| {
            let (len, template) = if by_bytes {
                (
                    total_bytes,
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
            } else {
                (files as u64, "{msg} [{bar:30}] {elapsed}")
            };
            let bar = indicatif::ProgressBar::new(len);
            let style = indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("0/{files} packages"));
            bar
        });
        Progress {
            bar,
            by_bytes,
            files,
            done: AtomicUsize::new(0),
        }
    }

    fn bytes(&self, n: u64) {
        if let Some(bar) = self.bar.as_ref().filter(|_| self.by_bytes) {
            bar.inc(n);
        }
    }

    fn done(&self, location: &Location, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => {
                if !self.by_bytes {
                    bar.inc(1);
                }
                bar.set_message(format!("{done}/{} packages", self.files));
            }
            None => tracing::debug!(%location, bytes, done, total = self.files, "fetched"),
        }
    }

    fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => tracing::info!(
                fetched = self.done.load(Ordering::Relaxed),
                total = self.files,
                "downloads finished"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is left of a stream is read to its size and no further: an endless one ends.
    #[test]
    fn an_endless_stream_is_verified_to_its_bound() {
        let what = Location::Path("/r/Packages".into());
        let sized = Verifying::new(std::io::repeat(b'x'), None).unwrap();
        let e = format!("{:#}", sized.verify(10, &what).unwrap_err());
        assert_eq!(e, "/r/Packages: size mismatch: expected 10 bytes, got 11");
        let unbounded = Verifying::new(std::io::repeat(b'x'), None).unwrap();
        let e = format!("{:#}", unbounded.verify(0, &what).unwrap_err());
        assert_eq!(e, "/r/Packages: larger than 1024 MiB");
        let whole = Verifying::new(&b"0123456789"[..], None).unwrap();
        whole.verify(10, &what).unwrap();
    }
}
