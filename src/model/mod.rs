//! The shared data model: packages and their relations as every repository format, package
//! reader and resolver sees them, how versions compare, and architecture names ([`Arch`]).
//! It depends on nothing else of obsbox but `text` (untrusted names quoted in messages);
//! `repo`, `packages`, `rootfs` and `callbacks` build on it.

pub mod arch;
pub mod rich;
pub mod version;

pub use arch::Arch;

use serde::{Deserialize, Serialize};

/// The package formats obsbox installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Deb,
    Rpm,
}

/// A version relation operator, written the Debian way (`<<` `<=` `=` `>=` `>>`); RPM's
/// `LT LE EQ GE GT` map onto the same five.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// The operator as `format` writes it: `<<` `<=` `=` `>=` `>>` (Debian), `<` `<=` `=`
    /// `>=` `>` (RPM).
    pub fn text(self, format: Format) -> &'static str {
        match (format, self) {
            (Format::Deb, Op::Lt) => "<<",
            (Format::Deb, Op::Gt) => ">>",
            (_, Op::Lt) => "<",
            (_, Op::Le) => "<=",
            (_, Op::Eq) => "=",
            (_, Op::Ge) => ">=",
            (_, Op::Gt) => ">",
        }
    }

    /// A Debian relation's operator; `<` and `>` are the obsolete spellings of `<=` and
    /// `>=` (as dpkg reads them).
    pub fn parse_deb(text: &str) -> Option<Op> {
        Some(match text {
            "<<" => Op::Lt,
            "<=" | "<" => Op::Le,
            "=" => Op::Eq,
            ">=" | ">" => Op::Ge,
            ">>" => Op::Gt,
            _ => return None,
        })
    }

    /// An RPM relation's operator (`==` as `=`, as rpmbuild takes it).
    pub fn parse_rpm(text: &str) -> Option<Op> {
        Some(match text {
            "<" => Op::Lt,
            "<=" => Op::Le,
            "=" | "==" => Op::Eq,
            ">=" => Op::Ge,
            ">" => Op::Gt,
            _ => return None,
        })
    }
}

/// `name`, `name (>= 1.2)`, `name:any`, an RPM `Requires: name >= 1.2` or a file path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Relation {
    /// Boxed, not a `String`: a whole distribution holds hundreds of thousands of relations,
    /// and a box is a third smaller.
    pub name: Box<str>,
    /// The version relation; `None` means any version (or, in a `Provides`, unversioned).
    pub version: Option<(Op, Box<str>)>,
}

/// Which algorithm compares versions: dpkg's or rpm's.
impl Format {
    pub fn compare(self, a: &str, b: &str) -> std::cmp::Ordering {
        match self {
            Format::Deb => version::compare_deb(a, b),
            Format::Rpm => version::compare_rpm_evr(a, b),
        }
    }
}

/// A checksum from repository metadata, verified on every downloaded file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checksum {
    /// `sha256` (also `sha512`, `sha1`, `md5` where a repository offers nothing better).
    pub algo: String,
    /// Lower-case hex.
    pub hex: String,
}

/// One package as a repository describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMeta {
    pub format: Format,
    pub name: String,
    /// The full version: Debian `[epoch:]upstream[-revision]`, RPM `[epoch:]version-release`.
    pub version: String,
    /// `amd64`, `all`, `x86_64`, `noarch`, …
    pub arch: String,
    /// Conjunction of alternatives: every inner list needs one of its relations satisfied.
    /// Debian `Pre-Depends` and `Depends`; each RPM `Requires` is a list of one.
    pub depends: Vec<Vec<Relation>>,
    /// Virtual names (and, for RPM, the package's own provides). Versioned or not.
    pub provides: Vec<Relation>,
    /// Debian `Conflicts` and `Breaks`, RPM `Conflicts` and `Obsoletes`.
    pub conflicts: Vec<Relation>,
    /// RPM: files the package ships that others may require by path (from the metadata's
    /// file lists). Empty for Debian.
    pub files: Vec<String>,
    /// Debian `Essential: yes`.
    pub essential: bool,
    /// Debian `Priority` (`required`, `important`, …), empty when not given.
    pub priority: String,
    /// Debian `Multi-Arch` (`same`, `foreign`, `allowed`), empty when not given.
    pub multi_arch: String,
    /// Where to fetch it, relative to the repository's base (`pool/main/h/hello/hello.deb`,
    /// `Packages/hello-1-1.x86_64.rpm`).
    pub location: String,
    pub checksum: Option<Checksum>,
    /// Size of the package file in bytes (0 when unknown).
    pub size: u64,
    /// Index of the repository it came from, in the order the repositories were given.
    pub repo: usize,
}

impl PackageMeta {
    /// `name=version.arch`, for messages.
    pub fn nevra(&self) -> String {
        format!("{}={}.{}", self.name, self.version, self.arch)
    }
}
