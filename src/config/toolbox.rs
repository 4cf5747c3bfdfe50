//! `toolbox.toml`: the packages of the host-arch toolbox (for every job and per project)
//! and the host repositories it comes from for jobs that name none.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use serde::Deserialize;

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolboxConfig {
    /// Host repositories (`rootfs create --repo` syntax) for jobs that name none (bs_worker's
    /// jobs name only the buildroot's packages).
    #[serde(default)]
    pub repos: Vec<String>,
    /// Packages every job's toolbox has.
    #[serde(default)]
    pub default: Packages,
    /// Packages added for one project (`[project."home:example"]`).
    #[serde(default)]
    pub project: BTreeMap<String, Packages>,
}

/// One package list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    #[serde(default)]
    pub packages: Vec<String>,
}

impl ToolboxConfig {
    /// Reads `DIR/toolbox.toml`; no directory or no file is the empty configuration.
    pub fn load(dir: Option<&Path>) -> Result<ToolboxConfig> {
        let Some(path) = dir.map(|d| d.join("toolbox.toml")) else {
            return Ok(ToolboxConfig::default());
        };
        if !path.exists() {
            return Ok(ToolboxConfig::default());
        }
        let config: ToolboxConfig = super::read_toml(&path)?;
        if config.repos.iter().any(|r| r.trim().is_empty()) {
            bail!(
                "{}: repos: every entry must be a repository (a non-empty string)",
                path.display()
            );
        }
        Ok(config)
    }

    /// The configured packages of `project`'s toolbox: the default list and the
    /// project's own.
    pub fn packages_for(&self, project: &str) -> Vec<String> {
        let mut names = self.default.packages.clone();
        if let Some(own) = self.project.get(project) {
            names.extend(own.packages.iter().cloned());
        }
        names
    }

    /// The host repositories, trimmed.
    pub fn repos(&self) -> Vec<String> {
        self.repos.iter().map(|r| r.trim().to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ToolboxConfig> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("toolbox.toml"), text).unwrap();
        ToolboxConfig::load(Some(dir.path())).map_err(|e| {
            anyhow::anyhow!(
                "{}",
                format!("{e:#}").replace(&dir.path().display().to_string(), "DIR")
            )
        })
    }

    #[test]
    fn default_and_project_lists() {
        let config = load(
            "repos = [\" http://127.0.0.1/debian bookworm main \"]\n\
             [default]\npackages = [\"busybox-static\", \"dpkg\"]\n\
             [project.\"home:a\"]\npackages = [\"lintian\"]\n",
        )
        .unwrap();
        assert_eq!(
            config.packages_for("home:a"),
            ["busybox-static", "dpkg", "lintian"]
        );
        assert_eq!(config.packages_for("home:b"), ["busybox-static", "dpkg"]);
        assert_eq!(config.repos(), ["http://127.0.0.1/debian bookworm main"]);
        assert!(
            ToolboxConfig::load(None)
                .unwrap()
                .packages_for("x")
                .is_empty()
        );
    }

    #[test]
    fn mistakes_are_one_line_naming_file_and_line() {
        let err = |text| load(text).unwrap_err().to_string();
        assert_eq!(
            err("[default]\npackage = [\"x\"]\n"),
            "DIR/toolbox.toml:2: unknown field `package`, expected `packages`"
        );
        assert!(
            err("[default]\npackages = \"x\"\n").starts_with("DIR/toolbox.toml:2: invalid type"),
            "{}",
            err("[default]\npackages = \"x\"\n")
        );
        assert_eq!(
            err("repos = [\"\"]\n"),
            "DIR/toolbox.toml: repos: every entry must be a repository (a non-empty string)"
        );
    }
}
