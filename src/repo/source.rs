//! Where a repository lives, and reading files from it.
//!
//! A repository argument is one string, sources.list style: a base (a local path, a
//! `file://` URL or an `http://` URL), optionally followed by a Debian suite and its
//! components, separated by whitespace:
//!
//! ```text
//! /srv/repo
//! file:///srv/repo
//! http://127.0.0.1:8000/deb-repo bookworm main contrib
//! ```
//!
//! A suite without components means `main`. Only plain `http` is spoken: obsbox fetches
//! from a worker-local cache or mirror, and integrity comes from the checksums in the
//! repository metadata, not from the transport.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A parsed repository argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The argument as given, for messages.
    pub spec: String,
    /// The repository's top: where `dists/`, `repodata/` or a flat `Packages` live.
    pub base: Location,
    /// The Debian suite (`bookworm`), when given.
    pub suite: Option<String>,
    /// The Debian components (`main`, …); `["main"]` when a suite is given without any.
    pub components: Vec<String>,
}

/// One file or directory of a repository: on the local file system or behind a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A local path (also what a `file://` URL becomes).
    Path(PathBuf),
    /// An `http://` URL.
    Url(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

impl Source {
    /// Parses `BASE [SUITE [COMPONENT…]]`.
    pub fn parse(spec: &str) -> Result<Source> {
        let mut words = spec.split_whitespace();
        let Some(base) = words.next() else {
            bail!("empty repository argument");
        };
        let base = parse_base(base).with_context(|| format!("repository `{spec}`"))?;
        let suite = words.next().map(str::to_string);
        let mut components: Vec<String> = words.map(str::to_string).collect();
        if let Some(suite) = &suite {
            // A suite is a path below dists/; it must not climb out of it.
            check_relative(suite).with_context(|| format!("repository `{spec}`: suite"))?;
            for c in &components {
                check_relative(c).with_context(|| format!("repository `{spec}`: component"))?;
            }
            if components.is_empty() {
                components.push("main".to_string());
            }
        }
        Ok(Source {
            spec: spec.to_string(),
            base,
            suite,
            components,
        })
    }

    /// The location of `rel` (a `/`-separated path) below the repository's base.
    pub fn join(&self, rel: &str) -> Result<Location> {
        self.base
            .join(rel)
            .with_context(|| format!("repository `{}`", self.spec))
    }
}

fn parse_base(base: &str) -> Result<Location> {
    if let Some(rest) = base.strip_prefix("file://") {
        // file:///srv/repo has an empty host; file://localhost/srv/repo names this machine.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') {
            bail!("`{base}`: a file:// URL needs an absolute path (file:///dir)");
        }
        return Ok(Location::Path(PathBuf::from(percent_decode(path)?)));
    }
    if let Some(rest) = base.strip_prefix("http://") {
        if rest.is_empty() || rest.starts_with('/') {
            bail!("`{base}`: no host in URL");
        }
        return Ok(Location::Url(base.trim_end_matches('/').to_string()));
    }
    if base.starts_with("https://") {
        bail!("`{base}`: https is not supported; use a plain http mirror or a local path");
    }
    if let Some((scheme, _)) = base.split_once("://") {
        bail!("`{base}`: unsupported URL scheme `{scheme}` (use a path, file:// or http://)");
    }
    Ok(Location::Path(PathBuf::from(base)))
}

/// Refuses paths that would leave the repository: metadata is input, and a `Filename:` of
/// `../../etc/shadow` must not reach outside the base.
fn check_relative(rel: &str) -> Result<()> {
    if rel.is_empty() {
        bail!("empty path");
    }
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => bail!("`{rel}` leaves the repository (absolute or `..`)"),
        }
    }
    Ok(())
}

impl Location {
    /// `rel` below this location. `rel` must stay inside it.
    pub fn join(&self, rel: &str) -> Result<Location> {
        check_relative(rel)?;
        let rel = rel.trim_start_matches("./");
        Ok(match self {
            Location::Path(p) => Location::Path(p.join(rel)),
            Location::Url(u) => Location::Url(format!(
                "{}/{}",
                u.trim_end_matches('/'),
                percent_encode(rel)
            )),
        })
    }

    /// The last path segment, for naming downloaded files.
    pub fn file_name(&self) -> Option<String> {
        match self {
            Location::Path(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            Location::Url(u) => {
                let last = u.rsplit('/').next().filter(|s| !s.is_empty())?;
                percent_decode(last).ok()
            }
        }
    }

    /// Opens the file for streaming. A missing file is an error naming it.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        match self.open_optional()? {
            Some(r) => Ok(r),
            None => bail!("{self}: not found"),
        }
    }

    /// Opens the file for streaming; `None` when it does not exist (HTTP 404 or ENOENT).
    pub fn open_optional(&self) -> Result<Option<Box<dyn Read + Send>>> {
        match self {
            // Opened without blocking (a FIFO would wait for a writer forever), then
            // refused unless it is a regular file.
            Location::Path(p) => match File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(p)
            {
                Ok(f) => {
                    let meta = f
                        .metadata()
                        .with_context(|| format!("{}: cannot stat", p.display()))?;
                    if meta.is_dir() {
                        bail!("{}: is a directory, expected a file", p.display());
                    }
                    if !meta.is_file() {
                        bail!("{}: not a regular file", p.display());
                    }
                    Ok(Some(Box::new(f)))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("{}: cannot open", p.display())),
            },
            Location::Url(u) => match agent().get(u).call() {
                Ok(resp) => Ok(Some(Box::new(resp.into_body().into_reader()))),
                Err(ureq::Error::StatusCode(404 | 410)) => Ok(None),
                Err(ureq::Error::StatusCode(code)) => bail!("GET {u}: HTTP status {code}"),
                Err(e) => Err(e).with_context(|| format!("GET {u}")),
            },
        }
    }

    /// Reads the whole file into memory (metadata files).
    pub fn read(&self) -> Result<Vec<u8>> {
        match self.read_optional()? {
            Some(d) => Ok(d),
            None => bail!("{self}: not found"),
        }
    }

    /// Reads the whole file into memory; `None` when it does not exist. At most
    /// [`MAX_INDEX`](super::MAX_INDEX) bytes: a larger one is refused.
    pub fn read_optional(&self) -> Result<Option<Vec<u8>>> {
        let Some(r) = self.open_optional()? else {
            return Ok(None);
        };
        let limit = super::MAX_INDEX;
        let data =
            crate::io::read_at_most(r, limit).with_context(|| format!("{self}: read failed"))?;
        data.map(Some)
            .with_context(|| format!("{self}: larger than {} MiB", limit >> 20))
    }

    /// Whether the file exists. For HTTP this is a HEAD request.
    pub fn exists(&self) -> Result<bool> {
        match self {
            Location::Path(p) => Ok(p.is_file()),
            Location::Url(u) => match agent().head(u).call() {
                Ok(_) => Ok(true),
                Err(ureq::Error::StatusCode(404 | 410)) => Ok(false),
                Err(ureq::Error::StatusCode(code)) => bail!("HEAD {u}: HTTP status {code}"),
                Err(e) => Err(e).with_context(|| format!("HEAD {u}")),
            },
        }
    }
}

/// Escapes what a URL path cannot carry as-is. Debian file names hold `+` and `~`, and
/// `apt-get download` leaves `%3a` for an epoch's colon, which must reach the server as
/// `%253a` to name that file.
fn percent_encode(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/+:@!$&'()*,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .with_context(|| format!("`{s}`: bad percent escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("`{s}`: not UTF-8 after unescaping"))
}

/// The one HTTP agent: connection reuse across all downloads, and timeouts so a stalled
/// mirror fails the job instead of hanging it.
pub fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // Per read, not per body: a large package on a slow link is fine, a silent
            // server is not.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("obsbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_file_must_be_regular_and_is_read_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("Release");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Opening a FIFO for reading waits for a writer: it must be refused instead.
        let e = format!(
            "{:#}",
            Location::Path(fifo.clone()).read_optional().unwrap_err()
        );
        assert_eq!(e, format!("{}: not a regular file", fifo.display()));
        let file = dir.path().join("InRelease");
        std::fs::write(&file, b"Suite: x\n").unwrap();
        let data = Location::Path(file).read_optional().unwrap().unwrap();
        assert_eq!(data, b"Suite: x\n");
        assert!(
            Location::Path(dir.path().join("none"))
                .read_optional()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn parses_specs() {
        let s = Source::parse("http://127.0.0.1:8000/deb-repo/ bookworm main contrib").unwrap();
        assert_eq!(
            s.base,
            Location::Url("http://127.0.0.1:8000/deb-repo".into())
        );
        assert_eq!(s.suite.as_deref(), Some("bookworm"));
        assert_eq!(s.components, ["main", "contrib"]);

        let s = Source::parse("file:///srv/r sid").unwrap();
        assert_eq!(s.base, Location::Path("/srv/r".into()));
        assert_eq!(s.components, ["main"]);

        let s = Source::parse("  ./repo ").unwrap();
        assert_eq!(s.base, Location::Path("./repo".into()));
        assert!(s.suite.is_none() && s.components.is_empty());
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "",
            "https://x/y",
            "ftp://x/y",
            "file://relative",
            "http://",
            "/r ../x",
        ] {
            let e = Source::parse(bad).unwrap_err();
            assert!(!format!("{e:#}").is_empty(), "{bad}");
        }
    }

    #[test]
    fn joins() {
        let s = Source::parse("http://h:1/a/").unwrap();
        assert_eq!(
            s.join("pool/libstdc++6_1%3a2~b.deb").unwrap(),
            Location::Url("http://h:1/a/pool/libstdc++6_1%253a2~b.deb".into())
        );
        assert_eq!(
            s.join("./x y").unwrap(),
            Location::Url("http://h:1/a/x%20y".into())
        );
        assert!(s.join("../etc/passwd").is_err());
        assert!(s.join("/etc/passwd").is_err());
        let l = s.join("pool/a%3ab.deb").unwrap();
        assert_eq!(l.file_name().as_deref(), Some("a%3ab.deb"));
        let p = Source::parse("/r").unwrap();
        assert_eq!(p.join("a/b").unwrap(), Location::Path("/r/a/b".into()));
    }
}
