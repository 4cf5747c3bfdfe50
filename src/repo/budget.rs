//! A bound on what parsed repository indexes hold in memory.
//!
//! An index's expanded size is bounded (1 GiB), but what its parsed form costs grows with
//! how many packages, relations and file names it holds, not with its bytes: a gigabyte of
//! `Depends: a, b, c, …` or of `<rpm:entry name="a"/>` parses into several gigabytes. So
//! the parsers charge an [`IndexBudget`] with an estimate of every package's parsed form
//! (its structure, its strings as the allocator rounds them, its place in the resolver's
//! index) *before* they build it, and refuse the index with one line once the estimate
//! passes the bound. One budget covers every repository of one root: a process assembles
//! one root at a time, so that is what its parsed indexes hold at once.

use std::cell::Cell;
use std::mem::size_of;

use anyhow::{Result, bail};

use super::source::Location;
use super::{PackageMeta, Relation};

/// The most the parsed indexes of one root may take, estimated (see [`IndexBudget`]).
/// Debian bookworm's main index (63,440 packages, 342,921 relations) is estimated at 94 MiB
/// (it resolves at 97 MB peak RSS). Hostile indexes refused at the bound stay below 150 MB;
/// the worst found, an index just under it whose resolution reaches its own bound on the
/// relations it follows, at about 176 MB.
pub const MAX_PARSED: u64 = 140 << 20;

/// Counts what parsed indexes hold, refusing past a limit.
#[derive(Debug)]
pub struct IndexBudget {
    limit: u64,
    bytes: Cell<u64>,
    packages: Cell<u64>,
    relations: Cell<u64>,
}

impl Default for IndexBudget {
    fn default() -> Self {
        IndexBudget::new(MAX_PARSED)
    }
}

/// The environment variable through which an operator sets the bound, in MiB, for
/// repositories larger than [`MAX_PARSED`] allows (a whole openSUSE Tumbleweed primary is
/// estimated at about twice it).
pub const LIMIT_ENV: &str = "OBSBOX_INDEX_MEMORY";

impl IndexBudget {
    /// The budget of a root: [`MAX_PARSED`], or what [`LIMIT_ENV`] sets.
    pub fn configured() -> Result<IndexBudget> {
        Ok(IndexBudget::new(limit_from(
            std::env::var_os(LIMIT_ENV).as_deref(),
        )?))
    }
}

/// The bound [`LIMIT_ENV`]'s value `value` sets, in bytes.
fn limit_from(value: Option<&std::ffi::OsStr>) -> Result<u64> {
    let Some(value) = value else {
        return Ok(MAX_PARSED);
    };
    match value.to_str().map(str::parse::<u64>) {
        Some(Ok(mib)) if (1..=1 << 20).contains(&mib) => Ok(mib << 20),
        _ => bail!(
            "{LIMIT_ENV}: expected a number of MiB from 1 to 1048576, got `{}`",
            crate::text::ellipsis(&value.to_string_lossy(), 40)
        ),
    }
}

/// The heap an allocation of `len` bytes takes (glibc: 8 bytes of header, 16-byte steps,
/// at least 32).
pub fn heap(len: usize) -> u64 {
    match len {
        0 => 0,
        n => ((n as u64 + 8).div_ceil(16) * 16).max(32),
    }
}

/// What a package costs beyond its strings and relations: its slot in the list of packages
/// and its entries in the resolver's index (by name, by solvable). A list's room not yet
/// filled is not counted: the memory it reserves is not touched.
const PACKAGE_COST: u64 = size_of::<PackageMeta>() as u64 + 64;

/// What an allocation costs beyond its bytes, at most (glibc's header and rounding, the
/// 32 bytes of a tiny one).
const ALLOCATION: u64 = 32;

/// What a provided name or a file costs in the resolver's index of provided names (an entry
/// and, for a new name, a map slot).
const INDEXED: u64 = 64;

/// What a group of alternatives (a Debian `Depends` entry) costs: its list.
const GROUP_COST: u64 = size_of::<Vec<Relation>>() as u64 + 16;

/// What [`IndexBudget::relations`] charges: relations of one field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relations {
    pub count: u64,
    /// How many of them have a version (its own string).
    pub versioned: u64,
    /// Lists of alternatives they are in (Debian `Depends`; one per rpm `Requires`).
    pub groups: u64,
    /// Bytes of their names and versions.
    pub text: u64,
    /// Whether the resolver indexes them by name (provides).
    pub indexed: bool,
}

impl IndexBudget {
    /// A budget of `limit` estimated bytes.
    pub fn new(limit: u64) -> IndexBudget {
        IndexBudget {
            limit,
            bytes: Cell::new(0),
            packages: Cell::new(0),
            relations: Cell::new(0),
        }
    }

    /// Estimated bytes held so far.
    pub fn used(&self) -> u64 {
        self.bytes.get()
    }

    /// The counts so far, for [`IndexBudget::restore`].
    pub fn saved(&self) -> [u64; 3] {
        [self.bytes.get(), self.packages.get(), self.relations.get()]
    }

    /// Back to the counts of [`IndexBudget::saved`]: what was charged since is not held
    /// (a kept index that turned out damaged, its parse dropped).
    pub fn restore(&self, [bytes, packages, relations]: [u64; 3]) {
        self.bytes.set(bytes);
        self.packages.set(packages);
        self.relations.set(relations);
    }

    /// Charges one package of `index` (its fixed part and `strings`: the lengths of the
    /// strings it keeps).
    pub fn package(&self, index: &Location, strings: &[usize]) -> Result<()> {
        self.packages.set(self.packages.get() + 1);
        let bytes = PACKAGE_COST + strings.iter().map(|&n| heap(n)).sum::<u64>();
        self.charge(index, bytes)
    }

    /// Charges relations of `index`.
    pub fn relations(&self, index: &Location, r: Relations) -> Result<()> {
        self.relations.set(self.relations.get() + r.count);
        let mut bytes = r.count * size_of::<Relation>() as u64
            + (r.count + r.versioned) * ALLOCATION
            + r.text
            + r.groups * GROUP_COST;
        if r.indexed {
            bytes += r.count * INDEXED;
        }
        self.charge(index, bytes)
    }

    /// Charges a file name of `index` (an rpm's file others may require by path).
    pub fn file(&self, index: &Location, len: usize) -> Result<()> {
        self.relations.set(self.relations.get() + 1);
        self.charge(index, size_of::<String>() as u64 + heap(len) + INDEXED)
    }

    fn charge(&self, index: &Location, bytes: u64) -> Result<()> {
        let total = self.bytes.get().saturating_add(bytes);
        self.bytes.set(total);
        if total > self.limit {
            bail!(
                "repository index {index} holds more than the parsed indexes of a root may \
                 (with the indexes before it: {} packages and {} relations, ≈ {} MiB parsed, \
                 over the bound of {} MiB, which {LIMIT_ENV} sets); refusing it",
                self.packages.get(),
                self.relations.get(),
                total >> 20,
                self.limit >> 20
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_default_or_what_the_operator_sets() {
        use std::ffi::OsStr;
        assert_eq!(limit_from(None).unwrap(), MAX_PARSED);
        assert_eq!(limit_from(Some(OsStr::new("400"))).unwrap(), 400 << 20);
        for bad in ["", "0", "-1", "1.5", "4096k", "2000000"] {
            let err = limit_from(Some(OsStr::new(bad))).unwrap_err().to_string();
            assert!(err.starts_with("OBSBOX_INDEX_MEMORY: expected"), "{err}");
        }
    }

    #[test]
    fn heap_rounds_as_the_allocator_does() {
        assert_eq!(heap(0), 0);
        assert_eq!(heap(1), 32);
        assert_eq!(heap(24), 32);
        assert_eq!(heap(25), 48);
        assert_eq!(heap(64), 80);
    }

    #[test]
    fn a_budget_refuses_past_its_limit_naming_the_index() {
        let index = Location::Path("/srv/repo/Packages".into());
        let budget = IndexBudget::new(1 << 20);
        budget.package(&index, &[5, 10]).unwrap();
        let some = |count| Relations {
            count,
            ..Relations::default()
        };
        budget.relations(&index, some(100)).unwrap();
        budget.file(&index, 10).unwrap();
        assert!(budget.used() < 1 << 20);
        let err = budget
            .relations(&index, some(20_000))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("repository index /srv/repo/Packages holds more than")
                && err.contains("1 packages and 20101 relations")
                && err.contains("over the bound of 1 MiB")
                && !err.contains('\n'),
            "{err}"
        );
    }
}
