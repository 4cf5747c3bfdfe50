//! An architecture name, checked once where it is read (a command-line argument, a job file,
//! a worker file, a repository index) and passed on as an [`Arch`]: `x86_64`, `aarch64`,
//! `i586`, `armv7l`, `noarch` as OBS and rpm write them, `amd64`, `arm64`, `all`, `any` as
//! Debian does. The Debian ↔ rpm naming table lives here too.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::text::one_line;

/// The longest architecture name obsbox takes, in bytes (as every name: see
/// [`crate::names::MAX_LEN`]).
pub const MAX_LEN: usize = 255;

/// A validated architecture name: letters, digits, `_` and `-`, at most [`MAX_LEN`] bytes
/// (so no `/`, no leading `.`, no white space or control characters: safe in a file name,
/// an argument or a message). It is a name only: whether obsbox knows the arch is
/// [`Arch::deb`] / [`Arch::rpm`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arch(Box<str>);

impl Arch {
    /// This machine's architecture as OBS names it (`x86_64`, `aarch64`, `i586` on 32-bit
    /// x86, `ppc64le`).
    pub fn native() -> Arch {
        let name = match std::env::consts::ARCH {
            "x86" => "i586",
            "arm" => "armv7l",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "powerpc" => "ppc",
            other => other,
        };
        Arch::known(name)
    }

    /// A name from one of obsbox's own arch tables (OBS's arch table, the naming table),
    /// which are valid names.
    pub(crate) fn known(name: &'static str) -> Arch {
        debug_assert!(check(name).is_ok(), "{name}");
        Arch(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Debian name of the arch (given in either naming): `x86_64` → `amd64`.
    pub fn deb(&self) -> Result<&'static str> {
        deb_arch(self)
    }

    /// The rpm name of the arch (given in either naming): `amd64` → `x86_64`.
    pub fn rpm(&self) -> Result<&'static str> {
        rpm_arch(self)
    }

    /// The arch in Debian's naming: `x86_64` → `amd64`.
    pub fn to_deb(&self) -> Result<Arch> {
        self.deb().map(Arch::known)
    }

    /// The arch in rpm's (and OBS's) naming: `amd64` → `x86_64`.
    pub fn to_rpm(&self) -> Result<Arch> {
        self.rpm().map(Arch::known)
    }

    /// Whether `self` and `other` name the same known arch, in either naming (`amd64` and
    /// `x86_64`); an error names an arch obsbox does not know.
    pub fn same_as(&self, other: &Arch) -> Result<bool> {
        Ok(self.deb()? == other.deb()?)
    }
}

/// Why a name is not an [`Arch`]: one line, quoting the value.
fn check(value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(anyhow!("Architecture is empty"));
    }
    if value.len() > MAX_LEN {
        return Err(anyhow!(
            "Architecture {:?} is longer than {MAX_LEN} bytes",
            one_line(value)
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(anyhow!(
            "Architecture {:?} is not an architecture name",
            one_line(value)
        ));
    }
    Ok(())
}

impl FromStr for Arch {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Arch> {
        check(value)?;
        Ok(Arch(value.into()))
    }
}

impl TryFrom<String> for Arch {
    type Error = anyhow::Error;

    fn try_from(value: String) -> Result<Arch> {
        check(&value)?;
        Ok(Arch(value.into_boxed_str()))
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Arch {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Arch {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Arch {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<Arch> for str {
    fn eq(&self, other: &Arch) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Arch> for &str {
    fn eq(&self, other: &Arch) -> bool {
        *self == &*other.0
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Arch, D::Error> {
        let text = String::deserialize(d)?;
        Arch::try_from(text).map_err(serde::de::Error::custom)
    }
}

/// Architecture names as Debian (left) and RPM (right) write them.
const ARCHES: &[(&str, &str)] = &[
    ("amd64", "x86_64"),
    ("arm64", "aarch64"),
    ("armhf", "armv7hl"),
    ("ppc64el", "ppc64le"),
    ("s390x", "s390x"),
    ("riscv64", "riscv64"),
    ("i386", "i686"),
    ("all", "noarch"),
];

fn unknown_arch(arch: &str) -> anyhow::Error {
    let known: Vec<String> = ARCHES
        .iter()
        .map(|(d, r)| format!("{d}/{r}"))
        .chain(["i586".to_string()])
        .collect();
    anyhow!(
        "unknown architecture `{}` (known: {})",
        one_line(arch),
        known.join(", ")
    )
}

/// The Debian name of `arch` (given in either naming): `x86_64` → `amd64`. For names read
/// from a package index, which stay text; an [`Arch`] has [`Arch::deb`].
pub fn deb_arch(arch: impl AsRef<str>) -> Result<&'static str> {
    let arch = arch.as_ref();
    if arch == "i586" {
        return Ok("i386");
    }
    ARCHES
        .iter()
        .find(|(d, r)| *d == arch || *r == arch)
        .map(|(d, _)| *d)
        .ok_or_else(|| unknown_arch(arch))
}

/// The RPM name of `arch` (given in either naming): `amd64` → `x86_64`. `i586` stays
/// `i586` (openSUSE's 32-bit x86), `i386` becomes `i686`.
pub fn rpm_arch(arch: impl AsRef<str>) -> Result<&'static str> {
    let arch = arch.as_ref();
    if arch == "i586" {
        return Ok("i586");
    }
    ARCHES
        .iter()
        .find(|(d, r)| *d == arch || *r == arch)
        .map(|(_, r)| *r)
        .ok_or_else(|| unknown_arch(arch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for good in [
            "x86_64",
            "aarch64",
            "i586",
            "armv7l",
            "s390x",
            "ppc64le",
            "noarch",
            "amd64",
            "arm64",
            "all",
            "any",
            "kfreebsd-amd64",
            "aarch64_ilp32",
        ] {
            let arch: Arch = good.parse().unwrap();
            assert_eq!(arch, good);
            assert_eq!(arch.to_string(), good);
            assert_eq!(arch.as_ref(), good);
        }
        let long = "a".repeat(MAX_LEN);
        assert_eq!(long.parse::<Arch>().unwrap().as_str(), long);
    }

    #[test]
    fn bad_names() {
        for bad in [
            "",
            "x86/64",
            "../x",
            ".x86_64",
            ".",
            "x86 64",
            " x86_64",
            "x86_64\n",
            "x86_64\t",
            "a\u{1b}[31m",
            "x86_64.rpm",
            "amd64:any",
            "$(reboot)",
            "ä64",
        ] {
            let e = bad.parse::<Arch>().unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
            assert!(e.starts_with("Architecture"), "{e}");
        }
        let e = "x86 64".parse::<Arch>().unwrap_err().to_string();
        assert_eq!(e, "Architecture \"x86 64\" is not an architecture name");
        // Control characters are escaped: the message stays one line.
        let e = "x\ny".parse::<Arch>().unwrap_err().to_string();
        assert!(
            e.starts_with("Architecture \"x\\") && !e.contains('\n'),
            "{e}"
        );
        let e = "a".repeat(MAX_LEN + 1).parse::<Arch>().unwrap_err();
        assert!(e.to_string().contains("longer than 255 bytes"), "{e}");
    }

    #[test]
    fn serde_checks_the_name() {
        #[derive(Debug, Deserialize, Serialize)]
        struct File {
            arch: Arch,
            host: Option<Arch>,
        }
        let f: File = toml::from_str("arch = \"aarch64\"").unwrap();
        assert_eq!(f.arch, "aarch64");
        assert!(f.host.is_none());
        assert_eq!(toml::to_string(&f).unwrap().trim(), "arch = \"aarch64\"");
        let e = toml::from_str::<File>("arch = \"x86/64\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("Architecture \"x86/64\" is not an architecture name"),
            "{e}"
        );
        let e = serde_json::from_str::<File>(r#"{"arch": "", "host": null}"#).unwrap_err();
        assert!(e.to_string().contains("Architecture is empty"), "{e}");
    }

    #[test]
    fn naming_table() {
        let a = |s: &str| s.parse::<Arch>().unwrap();
        assert_eq!(a("x86_64").deb().unwrap(), "amd64");
        assert_eq!(a("amd64").deb().unwrap(), "amd64");
        assert_eq!(a("ppc64le").deb().unwrap(), "ppc64el");
        assert_eq!(a("i586").deb().unwrap(), "i386");
        assert_eq!(a("arm64").rpm().unwrap(), "aarch64");
        assert_eq!(a("armhf").rpm().unwrap(), "armv7hl");
        assert_eq!(a("i386").rpm().unwrap(), "i686");
        assert_eq!(a("s390x").rpm().unwrap(), "s390x");
        assert_eq!(a("i586").rpm().unwrap(), "i586");
        let e = a("vax").rpm().unwrap_err().to_string();
        assert!(e.contains("unknown architecture `vax`"), "{e}");
        assert_eq!(a("amd64").to_rpm().unwrap(), "x86_64");
        assert_eq!(a("aarch64").to_deb().unwrap(), "arm64");
        assert!(a("amd64").same_as(&a("x86_64")).unwrap());
        assert!(!a("amd64").same_as(&a("aarch64")).unwrap());
        assert!(a("amd64").same_as(&a("vax")).is_err());
        assert!(Arch::native().deb().is_ok() || cfg!(not(target_arch = "x86_64")));
    }
}
