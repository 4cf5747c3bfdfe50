//! The allocation part of the runtime configuration: `CONFIG/allocation.toml`.
//!
//! ```toml
//! emulation_factor = 13.0     # how many times longer a build takes under qemu-user
//! build_time = "10m"          # the expected native build time of a job
//! prefer = ["hostlabel weight=2 ssd"]   # site-wide soft constraints (Constraint-line syntax)
//! ```

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Deserialize;

use super::constraints::{self, Preference};

/// How much slower a build runs emulated than natively, unless configured: a small
/// debhelper package's `dpkg-buildpackage` under qemu-user took ≈ 13× its native time on the
/// development machine (gcc alone 17–25×, lintian ≈ 8×, dpkg unpack 5–7×).
pub const DEFAULT_EMULATION_FACTOR: f64 = 13.0;

/// The expected native build time of a job, unless configured.
pub const DEFAULT_BUILD_TIME: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Emulated build time / native build time (≥ 1).
    pub emulation_factor: f64,
    /// The expected native build time of a job.
    pub build_time: Duration,
    /// Soft constraints for every job, after the job's own.
    pub prefer: Vec<Preference>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            emulation_factor: DEFAULT_EMULATION_FACTOR,
            build_time: DEFAULT_BUILD_TIME,
            prefer: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    emulation_factor: Option<f64>,
    build_time: Option<String>,
    #[serde(default)]
    prefer: Vec<String>,
}

impl Settings {
    /// Reads `DIR/allocation.toml`; a missing file gives the defaults.
    pub fn load(dir: &Path) -> Result<Settings> {
        let path = dir.join("allocation.toml");
        let mut settings = Settings::default();
        if !path.exists() {
            return Ok(settings);
        }
        let file = path.display().to_string();
        let raw: File = crate::config::read_toml(&path)?;
        if let Some(f) = raw.emulation_factor {
            settings.emulation_factor =
                check_factor(f).map_err(|e| anyhow!("{file}: emulation_factor: {e}"))?;
        }
        if let Some(t) = raw.build_time {
            settings.build_time =
                check_build_time(&t).with_context(|| format!("{file}: build_time"))?;
        }
        for line in raw.prefer {
            let rest = line.trim().strip_prefix("prefer:").unwrap_or(line.trim());
            let p = constraints::preference(rest)
                .with_context(|| format!("{file}: prefer {line:?}"))?;
            settings.prefer.push(p);
        }
        Ok(settings)
    }
}

/// An emulation factor: a finite number of at least 1 (emulation is never faster).
pub fn check_factor(f: f64) -> Result<f64> {
    if !f.is_finite() || f < 1.0 {
        bail!("{f} is not a factor of at least 1");
    }
    Ok(f)
}

/// A build time: a duration (`90s`, `10m`, `2h`) of more than 0 s.
pub fn check_build_time(text: &str) -> Result<Duration> {
    let d = crate::callbacks::config::parse_duration(text)?;
    if d.is_zero() {
        bail!("must be more than 0 s");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_holds_the_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime-config");
        assert_eq!(Settings::load(&dir).unwrap(), Settings::default());
    }

    #[test]
    fn file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), Settings::default());
        std::fs::write(
            dir.path().join("allocation.toml"),
            "emulation_factor = 4.5\nbuild_time = \"20m\"\nprefer = [\"hostlabel weight=3 ssd\"]\n",
        )
        .unwrap();
        let s = Settings::load(dir.path()).unwrap();
        assert_eq!(s.emulation_factor, 4.5);
        assert_eq!(s.build_time, Duration::from_secs(1200));
        assert_eq!(
            (s.prefer[0].weight, s.prefer[0].line.as_str()),
            (3, "hostlabel ssd")
        );
        for (text, says) in [
            (
                "emulation_factor = 0.5\n",
                "allocation.toml: emulation_factor: 0.5 is not",
            ),
            ("build_time = \"soon\"\n", "allocation.toml: build_time"),
            ("prefer = [\"hardware:gpu 1\"]\n", "unknown element: gpu"),
            ("colour = 1\n", "allocation.toml:1: unknown field `colour`"),
        ] {
            std::fs::write(dir.path().join("allocation.toml"), text).unwrap();
            let e = format!("{:#}", Settings::load(dir.path()).unwrap_err());
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
