//! Results in OBS's layout: `RPMS/<arch>/`, `SRPMS/`, `DEBS/`, `KIWI/` (images),
//! `OTHER/`, `logfile`, `_statistics`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Moves what the build left in `staging` into `results`: regular files only (a build
/// cannot hand back a symlink or device that points elsewhere on the worker), in
/// `RPMS/<arch>/`, `SRPMS/`, `DEBS/`, `KIWI/` and `OTHER/`. Returns how many files.
pub fn collect(staging: &Path, results: &Path) -> Result<usize> {
    let mut count = 0;
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
                    count += take(&file.path(), &to.join(file.file_name()))?;
                }
            } else {
                count += take(&entry.path(), &results.join(dir).join(entry.file_name()))?;
            }
        }
    }
    Ok(count)
}

/// Copies one regular file (not following links), owned by root, mode 0644.
fn take(from: &Path, to: &Path) -> Result<usize> {
    let meta = fs::symlink_metadata(from)?;
    if !meta.is_file() {
        tracing::warn!("result {} is not a regular file: left out", from.display());
        return Ok(0);
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut src = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)
        .with_context(|| format!("cannot read result {}", from.display()))?;
    let mut dst = fs::File::create(to).with_context(|| format!("cannot write {}", to.display()))?;
    std::io::copy(&mut src, &mut dst)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(1)
}

/// The build log: `RESULTS/logfile` gets every line; the terminal gets them prefixed with
/// the phase.
pub struct Log {
    file: fs::File,
    path: PathBuf,
    /// The first write that failed (a full disk): the job cannot hand back a whole log.
    error: Option<std::io::Error>,
}

impl Log {
    /// Creates (truncates) the log; it is written in append mode, because callbacks (other
    /// processes) append their lines to it too.
    pub fn create(path: &Path) -> Result<Log> {
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Log {
            file: fs::OpenOptions::new()
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
            path: path.to_path_buf(),
            error: None,
        })
    }

    /// Opens an existing log (or creates it) to append to.
    pub fn append(path: &Path) -> Result<Log> {
        Ok(Log {
            file: fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
            path: path.to_path_buf(),
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

    pub fn raw(&mut self, text: &str) {
        if let Err(err) = writeln!(self.file, "{text}")
            && self.error.is_none()
        {
            self.error = Some(err);
        }
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
}
