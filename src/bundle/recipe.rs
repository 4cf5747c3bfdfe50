//! Recipes: what the build phase runs for a `.spec` (rpmbuild), a `.dsc` (dpkg-source and
//! dpkg-buildpackage) or a Debian source tree, and the build dependencies a recipe names.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::job::Job;
use crate::repo::{Relation, debian};

/// The kinds of recipe obsbox builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipe {
    /// `NAME.spec`, built with `rpmbuild -ba`.
    Spec(String),
    /// `NAME.dsc` with its tarballs, unpacked with `dpkg-source -x`.
    Dsc(String),
    /// A directory (relative to the sources) holding `debian/`, built in a copy.
    Tree(String),
}

impl Recipe {
    pub fn of(job: &Job) -> Result<Recipe> {
        let file = job.recipe.as_str();
        if file.contains("..") || file.starts_with('/') {
            bail!("recipe {file}: must be a name inside the sources directory");
        }
        let path = job.sources.join(file);
        if file.ends_with(".spec") {
            Ok(Recipe::Spec(file.to_string()))
        } else if file.ends_with(".dsc") {
            Ok(Recipe::Dsc(file.to_string()))
        } else if path.join("debian/control").is_file() {
            Ok(Recipe::Tree(file.to_string()))
        } else {
            bail!(
                "recipe {}: not a .spec, a .dsc or a directory with debian/control",
                path.display()
            )
        }
    }

    /// The package format the recipe builds.
    pub fn format(&self) -> crate::repo::Format {
        match self {
            Recipe::Spec(_) => crate::repo::Format::Rpm,
            _ => crate::repo::Format::Deb,
        }
    }

    /// The shell script of the build phase: it runs as the build user in the buildroot
    /// with the sources at `/sources` (read-only) and writes results below `/results` in
    /// OBS's layout.
    /// The build phase's script; `rpm_target` (may be empty) is `rpmbuild --target`, and
    /// `rpm_macros` (may be empty) becomes the build user's `~/.rpmmacros`.
    pub fn build_script(&self, rpm_target: &str, rpm_macros: &str) -> String {
        let quote = shell_quote;
        let target = if rpm_target.is_empty() {
            String::new()
        } else {
            format!(" --target {}", quote(rpm_target))
        };
        let macros = if rpm_macros.is_empty() {
            String::new()
        } else {
            format!(
                "printf '%s\\n' {} > \"$HOME/.rpmmacros\"\n",
                quote(rpm_macros)
            )
        };
        match self {
            Recipe::Spec(spec) => format!(
                "set -e\n\
                 top=\"$HOME/rpmbuild\"\n\
                 rm -rf \"$top\" && mkdir -p \"$top/SOURCES\" \"$top/SPECS\"\n\
                 cp -a /sources/. \"$top/SOURCES/\"\n\
                 cp /sources/{spec} \"$top/SPECS/\"\n\
                 {macros}\
                 # The buildroot was resolved from the recipe's BuildRequires already; on a\n\
                 # Debian-based root rpm's own database is empty, so rpmbuild must not check.\n\
                 rpmbuild -ba --nodeps{target} --define \"_topdir $top\" --define \"_smp_mflags -j$OBSBOX_JOBS\" \"$top/SPECS/\"{spec}\n\
                 mkdir -p /results/RPMS /results/SRPMS\n\
                 cp -a \"$top/RPMS/.\" /results/RPMS/\n\
                 cp -a \"$top/SRPMS/.\" /results/SRPMS/\n",
                spec = quote(spec),
                target = target,
                macros = macros,
            ),
            Recipe::Dsc(_) | Recipe::Tree(_) => {
                let unpack = match self {
                    Recipe::Dsc(dsc) => {
                        format!("dpkg-source --no-check -x /sources/{} pkg", quote(dsc))
                    }
                    Recipe::Tree(dir) => {
                        format!("mkdir pkg && cp -a /sources/{}/. pkg/", quote(dir))
                    }
                    Recipe::Spec(_) => unreachable!(),
                };
                format!(
                    "set -e\n\
                     cd /build\n\
                     rm -rf pkg\n\
                     {unpack}\n\
                     cd pkg\n\
                     dpkg-buildpackage -us -uc -j\"$OBSBOX_JOBS\"\n\
                     cd /build\n\
                     mkdir -p /results/DEBS /results/OTHER\n\
                     for f in *.deb *.udeb *.ddeb; do [ -e \"$f\" ] && cp \"$f\" /results/DEBS/; done\n\
                     for f in *.dsc *.changes *.buildinfo *.tar.*; do [ -e \"$f\" ] && cp \"$f\" /results/OTHER/; done\n\
                     true\n",
                )
            }
        }
    }

    /// The build dependencies the recipe declares (for a Debian OR-group, the first
    /// alternative), to add to the buildroot of a job that does not list them itself.
    pub fn build_deps(&self, sources: &Path) -> Result<Vec<Relation>> {
        match self {
            Recipe::Spec(spec) => {
                let path = sources.join(spec);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                spec_build_requires(&text).with_context(|| format!("{}", path.display()))
            }
            Recipe::Dsc(dsc) => {
                let path = sources.join(dsc);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                control_build_deps(&strip_signature(&text))
                    .with_context(|| format!("{}", path.display()))
            }
            Recipe::Tree(dir) => {
                let path = sources.join(dir).join("debian/control");
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                control_build_deps(&text).with_context(|| format!("{}", path.display()))
            }
        }
    }
}

/// A .dsc may be clear-signed; the fields are inside the armor.
fn strip_signature(text: &str) -> String {
    debian::strip_clearsign(text).unwrap_or_else(|_| text.to_string())
}

fn control_build_deps(text: &str) -> Result<Vec<Relation>> {
    let paragraphs = debian::parse_paragraphs(text)?;
    let Some(source) = paragraphs.first() else {
        bail!("no paragraphs");
    };
    let mut out = Vec::new();
    for field in ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"] {
        if let Some(value) = source.get(field) {
            for group in debian::parse_relations(value).with_context(|| format!("field {field}"))? {
                if let Some(first) = group.into_iter().next() {
                    out.push(first);
                }
            }
        }
    }
    Ok(out)
}

/// `BuildRequires:` lines of a spec: names with optional `op version`, separated by
/// commas or spaces. Macros are not expanded: a requirement naming one is an error.
fn spec_build_requires(text: &str) -> Result<Vec<Relation>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("BuildRequires") {
            continue;
        }
        let tokens: Vec<&str> = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        let mut i = 0;
        while i < tokens.len() {
            let name = tokens[i];
            if name.contains('%') {
                bail!(
                    "line {}: BuildRequires with a macro ({name}) is not supported",
                    n + 1
                );
            }
            let op = tokens.get(i + 1).and_then(|t| match *t {
                "<" => Some(crate::repo::Op::Lt),
                "<=" => Some(crate::repo::Op::Le),
                "=" | "==" => Some(crate::repo::Op::Eq),
                ">=" => Some(crate::repo::Op::Ge),
                ">" => Some(crate::repo::Op::Gt),
                _ => None,
            });
            match (op, tokens.get(i + 2)) {
                (Some(op), Some(version)) => {
                    out.push(Relation {
                        name: name.to_string(),
                        version: Some((op, version.to_string())),
                    });
                    i += 3;
                }
                (Some(_), None) => bail!("line {}: {name}: operator without a version", n + 1),
                _ => {
                    out.push(Relation {
                        name: name.to_string(),
                        version: None,
                    });
                    i += 1;
                }
            }
        }
    }
    Ok(out)
}

/// Single-quotes a word for sh.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_build_requires_with_versions() {
        let deps = spec_build_requires(
            "Name: x\nBuildRequires: gcc, make >= 4.0\nBuildRequires:  pkgconfig(zlib) zlib-devel\n",
        )
        .unwrap();
        let names: Vec<&str> = deps.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["gcc", "make", "pkgconfig(zlib)", "zlib-devel"]);
        assert_eq!(
            deps[1].version,
            Some((crate::repo::Op::Ge, "4.0".to_string()))
        );
        assert!(spec_build_requires("BuildRequires: %{foo}\n").is_err());
        assert!(spec_build_requires("BuildRequires: make >=\n").is_err());
    }

    #[test]
    fn debian_build_deps_take_the_first_alternative() {
        let deps = control_build_deps(
            "Source: x\nBuild-Depends: debhelper-compat (= 13), libfoo-dev | libbar-dev\nBuild-Depends-Indep: python3\n\nPackage: x\n",
        )
        .unwrap();
        let names: Vec<&str> = deps.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["debhelper-compat", "libfoo-dev", "python3"]);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
