//! The runtime configuration directory: where it is (one rule for every command) and how
//! its TOML files are read (one reader, one-line errors naming file and line). Each file's
//! serde structure lives beside the code that uses it:
//!
//! | file | read by |
//! |---|---|
//! | `toolbox.toml` | [`toolbox`] |
//! | `callbacks/NAME.toml`, `projects/PROJECT.toml` | [`crate::callbacks::config`] |
//! | `allocation.toml` | [`crate::alloc::settings`] |
//! | `worker.toml` | [`crate::worker::WorkerConfig`] |
//!
//! The directory:
//! 1. the command's `--config DIR`;
//! 2. the environment variable `OBSBOX_CONFIG`;
//! 3. `/etc/obsbox`, when it exists;
//! 4. the `runtime-config/` directory of the source tree obsbox was built from, while it
//!    exists (obsbox run from a checkout).
//!
//! A directory named by 1 or 2 must exist; without any, commands that can do without one
//! use built-in defaults and the others fail with [`missing`]'s hint.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub mod toolbox;

/// Where container state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/obsbox";

/// Where unpacked packages and assembled roots are kept unless `--cache` says otherwise.
pub const DEFAULT_CACHE: &str = "/var/cache/obsbox";

/// The environment variable of rule 2.
pub const ENV: &str = "OBSBOX_CONFIG";

/// The system-wide directory of rule 3.
pub const SYSTEM: &str = "/etc/obsbox";

/// The configuration directory by the rule above, `None` when there is none.
pub fn find(given: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(dir) = given {
        if !dir.is_dir() {
            bail!("--config {}: not a directory", dir.display());
        }
        return Ok(Some(dir.to_path_buf()));
    }
    if let Some(dir) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            bail!("{ENV}={}: not a directory", dir.display());
        }
        return Ok(Some(dir));
    }
    Ok([
        PathBuf::from(SYSTEM),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime-config"),
    ]
    .into_iter()
    .find(|d| d.is_dir()))
}

/// The configuration directory, or an error that says where it was looked for.
pub fn require(given: Option<&Path>) -> Result<PathBuf> {
    match find(given)? {
        Some(dir) => Ok(dir),
        None => Err(missing()),
    }
}

/// The error for a command that needs a configuration directory and found none.
pub fn missing() -> anyhow::Error {
    anyhow::anyhow!(
        "no runtime configuration directory: give --config DIR, set {ENV}=DIR, or install \
         one at {SYSTEM} (a copy of runtime-config/ from obsbox's sources)"
    )
}

/// Reads the TOML file at `path` into `T`; a broken one gives one line: the file, the line
/// and the problem (toml's own rendering spans several lines).
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    toml::from_str(&text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = err.message().replace('\n', " ");
        match line {
            Some(line) => anyhow::anyhow!("{}:{line}: {message}", path.display()),
            None => anyhow::anyhow!("{}: {message}", path.display()),
        }
    })
}
