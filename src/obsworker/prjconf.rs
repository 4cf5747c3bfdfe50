//! What obsbox takes from the project config bs_worker writes to `ROOT/.build.config`
//! (`--dist`): the `Preinstall:`, `VMinstall:`, `Runscripts:`, `Required:` and
//! `Support:` package lists (a `!name` word removes a name, `!*` all of them, as in OBS),
//! the `Macros:` section, which becomes the rpm macros of a `.spec` build, and the
//! `Substitute:` lines (`Substitute: dsc:build_cmd …` is the command of a Debian build).
//!
//! The config is read as obs-build's `Build::read_config` reads it, through the one reader
//! of obs-build's spec syntax ([`crate::repo::spec_deps::config_lines`]): conditionals and
//! macros evaluated for the job's arch, `Macros:` blocks taken verbatim (a block starting
//! with a `!` line replaces those before it).

use anyhow::Result;

use crate::model::Arch;
use crate::repo::spec_deps;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectConfig {
    pub preinstall: Vec<String>,
    pub vminstall: Vec<String>,
    pub runscripts: Vec<String>,
    pub required: Vec<String>,
    pub support: Vec<String>,
    /// The `Macros:` … `:Macros` sections' lines.
    pub macros: String,
    /// `Substitute: KEY WORD…` lines as OBS keeps them: the last line of a key wins,
    /// `Substitute: !KEY` removes it, `Substitute: !*` all; each word once, a trailing
    /// `=` taken off.
    pub substitute: std::collections::BTreeMap<String, Vec<String>>,
}

/// Reads a project config for a job of `arch` (OBS's name: `x86_64`, `aarch64`). Errors
/// (a config beyond the reader's bounds) name the line.
pub fn parse(text: &str, arch: &Arch) -> Result<ProjectConfig> {
    let mut config = ProjectConfig::default();
    for (_, line) in spec_deps::config_lines(text, arch.as_str())? {
        if let Some(block) = line.strip_prefix("Macros:\n") {
            match block.strip_prefix("!\n") {
                Some(replacing) => config.macros = replacing.to_string(),
                None => config.macros.push_str(block),
            }
            continue;
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let list = match key.trim().to_ascii_lowercase().as_str() {
            "substitute" => {
                substitute(&mut config, value);
                continue;
            }
            "preinstall" => &mut config.preinstall,
            "vminstall" => &mut config.vminstall,
            "runscripts" => &mut config.runscripts,
            "required" => &mut config.required,
            "support" => &mut config.support,
            _ => continue,
        };
        for name in value.split_whitespace() {
            match name.strip_prefix('!') {
                Some("*") => list.clear(),
                Some(removed) => list.retain(|n| n != removed),
                None if !list.iter().any(|n| n == name) => list.push(name.to_string()),
                None => {}
            }
        }
    }
    Ok(config)
}

/// One `Substitute:` line's words.
fn substitute(config: &mut ProjectConfig, value: &str) {
    let mut words = value.split_whitespace();
    match words.next() {
        None => {}
        Some("!*") => config.substitute.clear(),
        Some(removed) if removed.starts_with('!') => {
            config.substitute.remove(&removed[1..]);
        }
        Some(key) => {
            let mut list: Vec<String> = Vec::new();
            for word in words {
                if !list.iter().any(|w| w == word) {
                    list.push(word.to_string());
                }
            }
            for word in &mut list {
                if let Some(stripped) = word.strip_suffix('=') {
                    *word = stripped.to_string();
                }
            }
            config.substitute.insert(key.to_string(), list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_macros_and_conditionals() {
        let text = "\
# a project config
Preinstall: dash coreutils
Preinstall: libc6
Required: gcc
Support: make !coreutils
%ifarch aarch64
Support: qemu
%else
Support: hostonly
%endif
%ifnarch amd64
Support: never
%endif
%if 0
Required: not-this
%endif
%if \"%_repository\" == \"Debian_12\"
Runscripts: base-passwd
%endif
Macros:
%vendor obsbox test
%if 1
%_with_x 1
:Macros
VMinstall: util-linux
Support: !make
Substitute: dsc:build_cmd dpkg-buildpackage -us -uc -b -us
Substitute: gone x
Substitute: !gone
";
        let c = parse(text, &"x86_64".parse().unwrap()).unwrap();
        assert_eq!(c.preinstall, ["dash", "coreutils", "libc6"]);
        assert_eq!(c.required, ["gcc"]);
        // As obs-build reads it: `%ifnarch amd64` holds on x86_64, and `%_repository`
        // is no macro of the worker's config reader.
        assert_eq!(c.support, ["hostonly", "never"]);
        assert!(c.runscripts.is_empty());
        assert_eq!(c.vminstall, ["util-linux"]);
        assert_eq!(c.macros, "%vendor obsbox test\n%if 1\n%_with_x 1\n");
        assert_eq!(
            c.substitute
                .get("dsc:build_cmd")
                .map(|w| w.join(" "))
                .as_deref(),
            Some("dpkg-buildpackage -us -uc -b")
        );
        assert_eq!(c.substitute.len(), 1, "{:?}", c.substitute);
        let arm = parse(text, &"aarch64".parse().unwrap()).unwrap();
        assert_eq!(arm.support, ["qemu", "never"]);
    }
}
