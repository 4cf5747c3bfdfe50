//! OBS project, package and repository names, checked where a job or a command line brings
//! them. The rules are OBS's own (the backend's `BSVerify`: `verify_projid`,
//! `verify_packid`, `verify_repoid`), so a name OBS accepts is accepted here, and names that
//! could act as paths (`../x`, `/x`, `.x`) never are: obsbox builds file names from them
//! (`projects/PROJECT.toml` of the runtime configuration).

use anyhow::{Result, bail};

use super::Job;

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

/// Checks every OBS name a job carries: its project, repository and package (each when
/// given: a job may leave them empty), and those of its bdeps and repositories.
pub fn check_job(job: &Job) -> Result<()> {
    let given = |v: &str| !v.is_empty();
    if given(&job.project) {
        project("project", &job.project)?;
    }
    if given(&job.repository) {
        repository("repository", &job.repository)?;
    }
    if given(&job.package) {
        package("package", &job.package)?;
    }
    for (what, repos) in [("path", &job.repos), ("syspath", &job.toolbox_repos)] {
        for repo in repos {
            if let Some(p) = &repo.project {
                project(&format!("{what} project"), p)?;
            }
            if let Some(r) = &repo.repository {
                repository(&format!("{what} repository"), r)?;
            }
        }
    }
    for bdep in &job.bdeps {
        if let Some(p) = &bdep.project {
            project(&format!("bdep {} project", bdep.name), p)?;
        }
        if let Some(r) = &bdep.repository {
            repository(&format!("bdep {} repository", bdep.name), r)?;
        }
    }
    Ok(())
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
