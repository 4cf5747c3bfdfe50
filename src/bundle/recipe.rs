//! Recipes: what the build phase runs for a `.spec` (rpmbuild), a `.dsc` (dpkg-source and
//! dpkg-buildpackage) or a Debian source tree, and the build dependencies a recipe names.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::job::Job;
use crate::packages::deb822;
use crate::repo::build_deps::{self, Needs};
use crate::repo::spec_deps;

/// Where a Debian source is built, as obs-build's build-recipe-dsc has it: unpacked into
/// `TOPDIR/BUILD`, the packages written to `TOPDIR`.
pub const TOPDIR: &str = "/usr/src/packages";

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
    /// OBS's layout. `transformed` names the `.dsc` debtransform made (in `/sources.deb`,
    /// see [`crate::packages::debtransform`]) when the sources are in one of OBS's Debian
    /// layouts.
    pub fn build_script(&self, job: &Job, transformed: Option<&str>) -> Result<String> {
        let quote = shell_quote;
        let script = match self {
            Recipe::Spec(spec) => {
                let target = if job.rpm_target.is_empty() {
                    String::new()
                } else {
                    format!(" --target {}", quote(&job.rpm_target))
                };
                let macros = if job.rpm_macros.is_empty() {
                    String::new()
                } else {
                    format!(
                        "printf '%s\\n' {} > \"$HOME/.rpmmacros\"\n",
                        quote(&job.rpm_macros)
                    )
                };
                format!(
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
                )
            }
            Recipe::Dsc(_) | Recipe::Tree(_) => self.debian_script(job, transformed)?,
        };
        Ok(script)
    }

    /// A Debian build as obs-build's build-recipe-dsc (Debian's obs-build 20210120) runs
    /// it: the sources copied to `TOPDIR/SOURCES`, the source package (debtransform's
    /// when there is one) unpacked into `TOPDIR/BUILD`, OBS's release as a changelog entry
    /// when the sources were not transformed, then the build command (the sources'
    /// `build.script`, the project config's `Substitute: dsc:build_cmd` or
    /// `dpkg-buildpackage -us -uc -b`) in the environment a login shell of the build user
    /// gets through `su -`, with `DEB_BUILD_OPTIONS=parallel=N`. The same path ends up in
    /// debug info, so the same inputs give the same packages.
    fn debian_script(&self, job: &Job, transformed: Option<&str>) -> Result<String> {
        let quote = shell_quote;
        let (unpack, source) = match (self, transformed) {
            (Recipe::Dsc(_), Some(dsc)) => (
                format!(
                    r#"for f in /sources.deb/*; do cp -p "$f" SOURCES.DEB/; done
dpkg-source -x "$TOPDIR/SOURCES.DEB/"{dsc} "$TOPDIR/BUILD"
"#,
                    dsc = quote(dsc)
                ),
                Some(("SOURCES.DEB", dsc)),
            ),
            (Recipe::Dsc(dsc), None) => (
                format!(
                    "dpkg-source -x \"$TOPDIR/SOURCES/\"{} \"$TOPDIR/BUILD\"\n",
                    quote(dsc)
                ),
                Some(("SOURCES", dsc.as_str())),
            ),
            (Recipe::Tree(dir), _) => (
                format!(
                    "mkdir BUILD && cp -a /sources/{}/. \"$TOPDIR/BUILD/\"\n",
                    quote(dir)
                ),
                None,
            ),
            (Recipe::Spec(_), _) => unreachable!("not a Debian recipe"),
        };
        // OBS's release in the changelog of a .dsc that asks for it with the tag
        // `OBS-DCH-RELEASE: 1` and is not transformed: an entry of VERSION+RELEASE, dated
        // as the entry before it. (Debian's obs-build 20210120 also appends the release,
        // without `+`, to every other untransformed .dsc; obsbox does as upstream obs-build
        // and leaves those alone: else every rebuild would be a new version and never
        // found unchanged.)
        let release = match (self, transformed, deb_release(job.release.as_deref())?) {
            (Recipe::Dsc(dsc), None, Some(release)) => format!(
                r#"if grep -Eq '^OBS-DCH-RELEASE: 1' "$TOPDIR/SOURCES/"{dsc} && [ -f BUILD/debian/changelog ]; then
  rel=+{release}
  parsed=$(cd BUILD && dpkg-parsechangelog 2>/dev/null || true)
  last_word() {{ printf '%s\n' "$parsed" | grep -E "^$1:" | awk '{{print $NF}}'; }}
  date=$(printf '%s\n' "$parsed" | grep -E '^Date:' | awk '{{$1 = ""; print substr($0, 2)}}')
  {{
    printf '%s (%s%s) %s; urgency=%s\n\n' "$(last_word Source)" "$(last_word Version)" "$rel" \
      "$(last_word Distribution)" "$(last_word Urgency)"
    printf '  * OBS build %s\n\n -- OBS Build <obs@buildd>  %s\n\n' "$rel" "$date"
    cat BUILD/debian/changelog
  }} > "$TOPDIR/changelog.obs"
  mv "$TOPDIR/changelog.obs" BUILD/debian/changelog
fi
"#,
                release = quote(&release),
                dsc = quote(dsc)
            ),
            _ => String::new(),
        };
        let command = if job.dsc_build_cmd.is_empty() {
            "dpkg-buildpackage -us -uc -b"
        } else {
            job.dsc_build_cmd.as_str()
        };
        let mut options = format!(
            "export DEB_BUILD_OPTIONS=parallel={}",
            crate::bundle::build_jobs(job)
        );
        if !job.build_profiles.is_empty() {
            options.push_str(&format!(
                "; export DEB_BUILD_PROFILES={}",
                quote(&job.build_profiles.join(" "))
            ));
        }
        // The original source goes back in OTHER/: the .dsc built and the files it lists
        // (plain names only).
        let hand_back = match source {
            Some((dir, dsc)) => format!(
                r#"cp "$TOPDIR/{dir}/"{dsc} /results/OTHER/
sed -n '/^Files:/,/^[^ ]/p' "$TOPDIR/{dir}/"{dsc} | while read -r sum size name rest; do
  case "$name" in ''|*/*|.*) continue ;; esac
  if [ -f "$TOPDIR/{dir}/$name" ]; then cp "$TOPDIR/{dir}/$name" /results/OTHER/; fi
done
"#,
                dsc = quote(dsc)
            ),
            None => String::new(),
        };
        Ok(format!(
            r#"set -e
umask 022
TOPDIR={TOPDIR}
cd "$TOPDIR"
rm -rf BUILD SOURCES SOURCES.DEB
mkdir -p SOURCES SOURCES.DEB OTHER DEBS
for f in /sources/*; do if [ -f "$f" ]; then cp -p "$f" SOURCES/; fi; done
{unpack}{release}command={command}
if [ -e SOURCES/build.script ]; then
  echo "Sourcing build.script to build"
  chmod +x SOURCES/build.script
  command="source $TOPDIR/SOURCES/build.script"
fi
shell=/bin/bash
[ -x "$shell" ] || shell=/bin/sh
# What `su - abuild` gives the build: a login shell's environment, the locale and zone.
env -i HOME={home} USER={user} LOGNAME={user} SHELL=/bin/bash MAIL=/var/mail/{user} \
  PATH=/usr/local/bin:/usr/bin:/bin:/usr/games \
  LC_ALL=C.UTF-8 LANGUAGE=C.UTF-8 LANG=C.UTF-8 TZ=UTC \
  "$shell" -l -c "{options} ; cd $TOPDIR/BUILD && $command" </dev/null
cd "$TOPDIR"
mkdir -p /results/DEBS /results/OTHER
for f in *.deb *.udeb *.ddeb; do if [ -e "$f" ]; then cp "$f" /results/DEBS/; fi; done
for f in *.changes *.buildinfo; do if [ -e "$f" ]; then cp "$f" /results/OTHER/; fi; done
{hand_back}"#,
            command = quote(command),
            home = crate::bundle::BUILD_HOME,
            user = crate::bundle::BUILD_USER,
        ))
    }

    /// The build relations the recipe declares, for `ctx` (build arch and profiles) or, for
    /// a spec, `spec` (target cpu, project config macros): a `.dsc` or `debian/control` read
    /// as dpkg reads it (see [`build_deps`]), a spec as obs-build reads it (see
    /// [`spec_deps`]). Added to the buildroot of a job whose bdeps are not OBS's expanded
    /// set.
    pub fn build_needs(
        &self,
        sources: &Path,
        ctx: &build_deps::BuildContext,
        spec: &spec_deps::SpecContext,
    ) -> Result<Needs> {
        let (path, text) = match self {
            Recipe::Spec(name) => {
                let path = sources.join(name);
                let text = read_recipe(&path)?;
                return spec_deps::needs(&text, name, spec);
            }
            Recipe::Dsc(dsc) => {
                let path = sources.join(dsc);
                let text = strip_signature(&read_recipe(&path)?);
                (path, text)
            }
            Recipe::Tree(dir) => {
                let path = sources.join(dir).join("debian/control");
                let text = read_recipe(&path)?;
                (path, text)
            }
        };
        let shown = match self {
            Recipe::Tree(dir) => format!("{dir}/debian/control"),
            _ => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let paragraphs = deb822::parse_paragraphs(&text)
            .with_context(|| format!("{}: not a control file", path.display()))?;
        let Some(source) = paragraphs.first() else {
            bail!("{}: no paragraphs", path.display());
        };
        build_deps::needs(source, &shown, ctx)
    }
}

/// The release a Debian build takes from the job's (OBS's `--release`, a buildinfo's
/// `<release>`): what comes before a `%` (rpm macros mean nothing to dpkg), none when that
/// is empty. It goes into a Debian version, so only a version's characters are allowed.
pub fn deb_release(release: Option<&str>) -> Result<Option<String>> {
    let Some(release) = release else {
        return Ok(None);
    };
    let cut = release.split('%').next().unwrap_or("");
    if cut.is_empty() {
        return Ok(None);
    }
    if !cut
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c))
    {
        bail!("release {release:?}: not usable in a Debian version (letters, digits, . + ~ -)");
    }
    Ok(Some(cut.to_string()))
}

/// The largest recipe file obsbox reads.
const MAX_RECIPE: u64 = 4 << 20;

fn read_recipe(path: &Path) -> Result<String> {
    let cannot_read = || format!("cannot read {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot_read)?;
    let Some(bytes) = crate::io::read_at_most(file, MAX_RECIPE).with_context(cannot_read)? else {
        bail!("{}: larger than {MAX_RECIPE} bytes", path.display());
    };
    crate::io::into_text(bytes).with_context(cannot_read)
}

/// A .dsc may be clear-signed; the fields are inside the armor.
fn strip_signature(text: &str) -> String {
    deb822::strip_clearsign(text).unwrap_or_else(|_| text.to_string())
}

/// Single-quotes a word for sh.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_build_needs_keep_every_alternative_and_conflict() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x_1.dsc"),
            "Format: 3.0 (quilt)\nSource: x\nBuild-Depends: debhelper-compat (= 13), missing | make, \
             libdevstat-dev [kfreebsd-any], foo <!nocheck>\nBuild-Depends-Indep: python3:any\n\
             Build-Conflicts: bzip2\n",
        )
        .unwrap();
        let ctx = build_deps::BuildContext {
            arch: "amd64".parse().unwrap(),
            profiles: vec!["nocheck".into()],
        };
        let needs = Recipe::Dsc("x_1.dsc".into())
            .build_needs(dir.path(), &ctx, &Default::default())
            .unwrap();
        let depends: Vec<(Vec<&str>, &str)> = needs
            .depends
            .iter()
            .map(|(g, o)| (g.iter().map(|r| &*r.name).collect(), o.as_str()))
            .collect();
        assert_eq!(
            depends,
            [
                (vec!["debhelper-compat"], "Build-Depends of x_1.dsc"),
                (vec!["missing", "make"], "Build-Depends of x_1.dsc"),
                (vec!["python3"], "Build-Depends-Indep of x_1.dsc"),
            ]
        );
        assert_eq!(needs.conflicts.len(), 1);
        assert_eq!(needs.conflicts[0].1, "Build-Conflicts of x_1.dsc");
        std::fs::write(
            dir.path().join("y_1.dsc"),
            "Source: y\nBuild-Depends: a [amd64] (>= 1)\n",
        )
        .unwrap();
        let e = format!(
            "{:#}",
            Recipe::Dsc("y_1.dsc".into())
                .build_needs(dir.path(), &ctx, &Default::default())
                .unwrap_err()
        );
        assert!(
            e.contains("y_1.dsc: field Build-Depends") && e.contains("a [amd64] (>= 1)"),
            "{e}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
