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

/// An architecture (Debian's `amd64`, rpm's `x86_64`, `noarch`, `all`): the rule of
/// [`crate::model::Arch`], for arches that stay text (a package index's).
pub fn arch(value: &str) -> Result<()> {
    value.parse::<crate::model::Arch>().map(drop)
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

/// OBS project, package and repository names, checked where a job or a command line brings
/// them. The rules are OBS's own (the backend's `BSVerify`: `verify_projid`,
/// `verify_packid`, `verify_repoid`), so a name OBS accepts is accepted here, and names that
/// could act as paths (`../x`, `/x`, `.x`) never are: obsbox builds file names from them
/// (`projects/PROJECT.toml` of the runtime configuration).
pub mod obs {
    use anyhow::{Result, bail};

    /// The longest name OBS accepts.
    const MAX_LEN: usize = 200;

    /// A character OBS allows in no name: `/` and the control characters below space.
    fn path_or_control(c: char) -> bool {
        c == '/' || c < ' '
    }

    /// Why `name` is not an OBS project name, if it is not one. A project name is made of parts
    /// joined by `:` (`home:user:branch`); no part is empty or starts with `_` or `.`.
    fn project_problem(name: &str) -> Option<&'static str> {
        if name.is_empty() {
            return Some("it is empty");
        }
        if name.chars().count() > MAX_LEN {
            return Some("it is longer than 200 characters");
        }
        if name.chars().any(path_or_control) {
            return Some("it contains '/' or a control character");
        }
        if name
            .split(':')
            .any(|part| part.is_empty() || part.starts_with(['_', '.']))
        {
            return Some("a ':'-separated part is empty or starts with '_' or '.'");
        }
        // OBS's Perl takes the name "0" for false and refuses it.
        (name == "0").then_some("'0' is not a name")
    }

    /// Whether `label` may follow a `:` in a package name (a multibuild flavor, or what follows
    /// `_product:`/`_patchinfo:`): not empty, no `/`, `:` or control character, not starting
    /// with `_` or `.`.
    fn is_label(label: &str) -> bool {
        !label.is_empty()
            && !label.starts_with(['_', '.'])
            && !label.chars().any(|c| c == ':' || path_or_control(c))
    }

    /// Why `name` is not an OBS package name, if it is not one. Besides plain names: OBS's
    /// special packages (`_product`, `_pattern`, `_project`, `_patchinfo`), `_product:LABEL`,
    /// `_patchinfo:LABEL`, and multibuild flavors `PACKAGE:FLAVOR`.
    fn package_problem(name: &str) -> Option<&'static str> {
        if name.is_empty() {
            return Some("it is empty");
        }
        if name.chars().count() > MAX_LEN {
            return Some("it is longer than 200 characters");
        }
        if matches!(name, "_product" | "_pattern" | "_project" | "_patchinfo") {
            return None;
        }
        for special in ["_product:", "_patchinfo:"] {
            if let Some(label) = name.strip_prefix(special) {
                return (!is_label(label)).then_some("its part after ':' is not a valid label");
            }
        }
        if let Some((package, flavor)) = name.split_once(':') {
            if matches!(package, "_project" | "_pattern") {
                return Some("_project and _pattern have no flavors");
            }
            if flavor.is_empty() || flavor.contains(':') {
                return Some("it contains ':' other than once before a flavor");
            }
            if let Some(problem) = package_problem(package) {
                return Some(problem);
            }
            return (!is_label(flavor)).then_some("its flavor is not a valid label");
        }
        if name.chars().any(path_or_control) {
            return Some("it contains '/' or a control character");
        }
        if name.starts_with(['_', '.']) {
            return Some("it starts with '_' or '.'");
        }
        (name == "0").then_some("'0' is not a name")
    }

    /// Why `name` is not an OBS repository name, if it is not one.
    fn repository_problem(name: &str) -> Option<&'static str> {
        if name.is_empty() {
            return Some("it is empty");
        }
        if name.chars().count() > MAX_LEN {
            return Some("it is longer than 200 characters");
        }
        if name.chars().any(|c| c == ':' || path_or_control(c)) {
            return Some("it contains '/', ':' or a control character");
        }
        if name.starts_with(['_', '.']) {
            return Some("it starts with '_' or '.'");
        }
        (name == "0").then_some("'0' is not a name")
    }

    fn check(field: &str, kind: &str, value: &str, problem: Option<&str>) -> Result<()> {
        match problem {
            None => Ok(()),
            // Debug quoting keeps the value on one line whatever it holds.
            Some(why) => bail!("{field} {value:?}: not an OBS {kind} name ({why})"),
        }
    }

    /// Checks an OBS project name; `field` says where it came from (e.g. `project`, `--project`).
    pub fn project(field: &str, value: &str) -> Result<()> {
        check(field, "project", value, project_problem(value))
    }

    /// Checks an OBS package name; `field` says where it came from.
    pub fn package(field: &str, value: &str) -> Result<()> {
        check(field, "package", value, package_problem(value))
    }

    /// Checks an OBS repository name; `field` says where it came from.
    pub fn repository(field: &str, value: &str) -> Result<()> {
        check(field, "repository", value, repository_problem(value))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn projects() {
            for good in [
                "openSUSE:Factory",
                "home:user:branches:devel:languages:perl",
                "Debian_12",
                "a.b-c+d",
            ] {
                assert_eq!(project_problem(good), None, "{good}");
            }
            for bad in [
                "", "../../x", "/abs/x", "..", ".hidden", "_x", "a::b", "a:", ":a", "a:_b", "a:.b",
                "a\nb", "0",
            ] {
                assert!(project_problem(bad).is_some(), "{bad:?} accepted");
            }
            assert!(project_problem(&"a".repeat(201)).is_some());
            assert_eq!(project_problem(&"a".repeat(200)), None);
        }

        #[test]
        fn packages() {
            for good in [
                "hello",
                "python3-foo.bar",
                "_product",
                "_patchinfo",
                "_product:openSUSE-release",
                "_patchinfo:fix.1",
                "hello:flavor",
                "hello:test-suite",
            ] {
                assert_eq!(package_problem(good), None, "{good}");
            }
            for bad in [
                "",
                "../x",
                "a/b",
                ".x",
                "_x",
                "hello:",
                "hello:_f",
                "hello:.f",
                "a:b:c",
                "_project:f",
                "_pattern:f",
                "_product:",
                "_product:_x",
                "_x:f",
                "a\tb",
                "0",
            ] {
                assert!(package_problem(bad).is_some(), "{bad:?} accepted");
            }
        }

        #[test]
        fn repositories() {
            for good in ["openSUSE_Tumbleweed", "standard", "Debian_12", "images"] {
                assert_eq!(repository_problem(good), None, "{good}");
            }
            for bad in ["", "a/b", "a:b", "_x", ".x", "..", "a\0b", "0"] {
                assert!(repository_problem(bad).is_some(), "{bad:?} accepted");
            }
        }

        #[test]
        fn errors_name_field_and_value_on_one_line() {
            let err = project("--project", "../../x\nmore")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--project \"../../x\\nmore\": not an OBS project name"));
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
