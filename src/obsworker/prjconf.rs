//! What obsbox takes from the project config bs_worker writes to `ROOT/.build.config`
//! (`--dist`): the `Preinstall:`, `VMinstall:`, `Runscripts:`, `Required:` and
//! `Support:` package lists (a `!name` word removes a name, as in OBS), the `Macros:`
//! section, which becomes the rpm macros of a `.spec` build, and the `Substitute:` lines
//! (`Substitute: dsc:build_cmd …` is the command of a Debian build).
//!
//! The conditionals around them are evaluated as far as they can be without OBS's macro
//! engine: `%ifarch`/`%ifnarch` against the job's arch, `%if` of a number, `%else`,
//! `%endif`. Another `%if` expression counts as true and is reported, so that nothing is
//! dropped silently. The `Macros:` section is taken verbatim, as OBS hands it to rpm.

use crate::model::Arch;
use crate::model::arch::deb_arch;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectConfig {
    pub preinstall: Vec<String>,
    pub vminstall: Vec<String>,
    pub runscripts: Vec<String>,
    pub required: Vec<String>,
    pub support: Vec<String>,
    /// The `Macros:` … `:Macros` section's lines.
    pub macros: String,
    /// `Substitute: KEY WORD…` lines as OBS keeps them: the last line of a key wins,
    /// `Substitute: !KEY` removes it, `Substitute: !*` all; each word once, a trailing
    /// `=` taken off.
    pub substitute: std::collections::BTreeMap<String, Vec<String>>,
    /// What could not be evaluated exactly, one line each, for the build log.
    pub notes: Vec<String>,
}

/// Reads a project config for a job of `arch`.
pub fn parse(text: &str, arch: &Arch) -> ProjectConfig {
    let mut config = ProjectConfig::default();
    // One entry per open conditional: whether its current branch is taken.
    let mut branches: Vec<bool> = Vec::new();
    let mut in_macros = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if in_macros {
            if line.eq_ignore_ascii_case(":macros") {
                in_macros = false;
            } else if branches.iter().all(|b| *b) {
                config.macros.push_str(raw);
                config.macros.push('\n');
            }
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        let rest = line[word.len()..].trim();
        match word {
            "%ifarch" | "%ifnarch" => {
                let listed = rest.split_whitespace().any(|a| same_arch(a, arch));
                branches.push(listed == (word == "%ifarch"));
                continue;
            }
            "%if" => {
                let taken = match rest.parse::<i64>() {
                    Ok(v) => v != 0,
                    Err(_) => {
                        config.notes.push(format!(
                            "project config line {n}: `%if {rest}` cannot be evaluated here; taken as true"
                        ));
                        true
                    }
                };
                branches.push(taken);
                continue;
            }
            "%else" => {
                if let Some(top) = branches.last_mut() {
                    *top = !*top;
                }
                continue;
            }
            "%endif" => {
                branches.pop();
                continue;
            }
            _ => {}
        }
        if !branches.iter().all(|b| *b) || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let list = match key.trim().to_ascii_lowercase().as_str() {
            "macros" => {
                in_macros = true;
                continue;
            }
            "substitute" => {
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
                Some(removed) => list.retain(|n| n != removed),
                None if !list.iter().any(|n| n == name) => list.push(name.to_string()),
                None => {}
            }
        }
    }
    config
}

/// Whether an arch name of the config means `arch` (`x86_64` and `amd64` do).
fn same_arch(a: &str, arch: &Arch) -> bool {
    a == arch
        || matches!(
            (deb_arch(a), arch.deb()),
            (Ok(x), Ok(y)) if x == y
        )
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
        let c = parse(text, &"x86_64".parse().unwrap());
        assert_eq!(c.preinstall, ["dash", "coreutils", "libc6"]);
        assert_eq!(c.required, ["gcc"]);
        assert_eq!(c.support, ["hostonly"]);
        assert_eq!(c.runscripts, ["base-passwd"]);
        assert_eq!(c.vminstall, ["util-linux"]);
        assert_eq!(c.macros, "%vendor obsbox test\n%if 1\n%_with_x 1\n");
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert_eq!(
            c.substitute
                .get("dsc:build_cmd")
                .map(|w| w.join(" "))
                .as_deref(),
            Some("dpkg-buildpackage -us -uc -b")
        );
        assert_eq!(c.substitute.len(), 1, "{:?}", c.substitute);
        assert!(c.notes[0].contains("line 17"), "{:?}", c.notes);
        let arm = parse(text, &"aarch64".parse().unwrap());
        assert_eq!(arm.support, ["qemu", "never"]);
    }
}
