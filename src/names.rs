//! Names are data: the rules a package name, version or arch must follow before obsbox uses
//! it for anything — a file name in a root's package database, an argument, a message.
//! Checked where they are read; an error names the field and quotes the value on one line.

use anyhow::{Result, bail};

use crate::text::one_line;

/// The longest name or version obsbox takes, in bytes.
pub const MAX_LEN: usize = 255;

fn common(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        bail!("{field} is empty");
    }
    if value.len() > MAX_LEN {
        bail!(
            "{field} {:?} is longer than {MAX_LEN} bytes",
            one_line(value)
        );
    }
    Ok(())
}

/// A Debian package name (Debian policy 5.6.1): lower-case letters, digits, `+`, `-` and
/// `.`, at least two characters, starting with a letter or digit.
pub fn deb_package(value: &str) -> Result<()> {
    common("Package", value)?;
    let ok = value.len() >= 2
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !ok {
        bail!(
            "Package {:?} is not a Debian package name (lower-case letters, digits, + - .)",
            one_line(value)
        );
    }
    Ok(())
}

/// A Debian version (policy 5.6.12): `[epoch:]upstream[-revision]` of letters, digits and
/// `. + ~ - :`, starting with a digit after the epoch.
pub fn deb_version(value: &str) -> Result<()> {
    common("Version", value)?;
    let upstream = match value.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        Some(_) => bail!("Version {:?} has a bad epoch", one_line(value)),
        None => value,
    };
    let ok = upstream.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b));
    if !ok {
        bail!(
            "Version {:?} is not a Debian version (digits first; letters, digits, . + ~ - :)",
            one_line(value)
        );
    }
    Ok(())
}

/// An rpm name: no `/`, no leading `.`, no white space or control characters.
pub fn rpm_package(value: &str) -> Result<()> {
    common("Name", value)?;
    if value.starts_with('.') || value.contains('/') || value.chars().any(bad_char) {
        bail!(
            "Name {:?} is not an rpm package name (no /, no leading ., no white space or \
             control characters)",
            one_line(value)
        );
    }
    Ok(())
}

/// An rpm version or release: as a name, and no `-`.
pub fn rpm_version(field: &str, value: &str) -> Result<()> {
    common(field, value)?;
    if value.contains(['/', '-']) || value.starts_with('.') || value.chars().any(bad_char) {
        bail!(
            "{field} {:?} is not an rpm {} (no / or -, no white space or control characters)",
            one_line(value),
            field.to_lowercase()
        );
    }
    Ok(())
}

/// An architecture (Debian's `amd64`, rpm's `x86_64`, `noarch`, `all`): letters, digits,
/// `_` and `-`.
pub fn arch(value: &str) -> Result<()> {
    common("Architecture", value)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!(
            "Architecture {:?} is not an architecture name",
            one_line(value)
        );
    }
    Ok(())
}

fn bad_char(c: char) -> bool {
    c.is_control() || c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names() {
        for good in [
            "libc6",
            "g++",
            "libstdc++6",
            "x11-common",
            "0ad",
            "ca-certificates",
        ] {
            deb_package(good).unwrap();
        }
        for bad in [
            "",
            "a",
            "../x",
            "x/y",
            "Caps",
            "-x",
            ".x",
            "x`touch${IFS}X`",
            "x y",
            "x\n",
            "x:amd64",
        ] {
            assert!(deb_package(bad).is_err(), "{bad:?} taken");
        }
        assert!(deb_package(&"a".repeat(300)).is_err());
        for good in ["1.0", "1:2.36-9+deb12u4", "2.0~rc1-1", "0.1+git20200101-2"] {
            deb_version(good).unwrap();
        }
        for bad in ["", "a1", "1.0 x", "1/2", ":1", "x:1", "1.0;rm"] {
            assert!(deb_version(bad).is_err(), "{bad:?} taken");
        }
    }

    #[test]
    fn rpm_names_and_arches() {
        for good in [
            "bash",
            "perl-Foo-Bar",
            "libstdc++",
            "python3.11",
            "Name_with+x",
        ] {
            rpm_package(good).unwrap();
        }
        for bad in ["", "../x", "a/b", ".hidden", "a b", "a\tb", "a\u{1b}[31m"] {
            assert!(rpm_package(bad).is_err(), "{bad:?} taken");
        }
        rpm_version("Version", "1.2.3").unwrap();
        rpm_version("Release", "1.fc39").unwrap();
        assert!(rpm_version("Release", "1-2").is_err());
        assert!(rpm_version("Version", "../1").is_err());
        for good in ["amd64", "x86_64", "noarch", "all", "armhf", "ppc64le"] {
            arch(good).unwrap();
        }
        for bad in ["", "x/y", "../", "a b"] {
            assert!(arch(bad).is_err(), "{bad:?} taken");
        }
    }
}
