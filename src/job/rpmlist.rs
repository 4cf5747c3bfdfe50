//! `.build.rpmlist`, the package list bs_worker hands to obs-build (`build --rpmlist`).
//!
//! One line per package, `NAME PATH`, where PATH is the downloaded file (bs_worker writes
//! absolute paths below its package directory). A sysroot package of a cross build is
//! written `sysroot: NAME PATH`. Tag lines then list names per OBS flag:
//!
//! ```text
//! bash /var/cache/obs/worker/root_1/.pkgs/bash.rpm
//! sysroot: glibc /var/cache/obs/worker/root_1/.pkgs/__sysroot__glibc.rpm
//! preinstall: bash glibc
//! vminstall:
//! runscripts: glibc
//! noinstall:
//! installonly:
//! ```
//!
//! Other tags obs-build knows but obsbox has no use for are skipped, and unknown tags are
//! skipped with a warning, as obs-build's init_buildsystem does.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Bdep, Job, base_dir};
use crate::model::Arch;

/// The rpmlist at `path` as a job: bdeps (and callback packages as toolbox packages) only.
/// The arch is this machine's (obs-build's default); the caller fills in arch, recipe and
/// the rest from obs-build's command line.
pub fn load(path: &Path) -> Result<Job> {
    let list = read(path)?;
    let job = Job {
        bdeps: list.bdeps,
        toolbox: list.toolbox,
        expanded: true,
        ..Job::named(path.display().to_string(), Arch::native())
    };
    super::names::check_job(&job).with_context(|| path.display().to_string())?;
    Ok(job)
}

/// What an rpmlist says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RpmList {
    pub bdeps: Vec<Bdep>,
    /// Names from `cbpreinstall:`/`cbinstall:` (packages for worker-side callbacks).
    pub toolbox: Vec<String>,
}

fn read(path: &Path) -> Result<RpmList> {
    parse(&super::read_job_text(path)?, path)
}

/// Parses rpmlist `text`; `path` names the file in errors, and its directory is what
/// relative package paths are relative to.
pub fn parse(text: &str, path: &Path) -> Result<RpmList> {
    let file = path.display();
    let dir = base_dir(path);
    let mut list = RpmList::default();
    // Flag lines may come before the packages they name: applied at the end.
    let mut flag_lines: Vec<(usize, Flag, Vec<&str>)> = Vec::new();
    // (name, sysroot) → (line, index in `list.bdeps`): flags find their package by it.
    let mut seen: HashMap<(&str, bool), (usize, usize)> = HashMap::new();
    // Names looked up, not scanned for: a list may name 100,000 packages.
    let mut toolbox_seen: HashSet<&str> = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (first, rest) = match line.split_once(char::is_whitespace) {
            Some((f, r)) => (f, r.trim()),
            None => (line, ""),
        };
        let Some(tag) = first.strip_suffix(':') else {
            let bdep =
                package(first, rest, false, &dir).with_context(|| format!("{file}: line {n}"))?;
            note_package(&mut seen, first, false, n, list.bdeps.len(), &file)?;
            list.bdeps.push(bdep);
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match tag {
            // bs_worker's form for a sysroot package; names never hold a `/`, so a path
            // in second place tells it from a list of names.
            "sysroot" if words.len() == 2 && is_location(words[1]) => {
                let bdep = package(words[0], words[1], true, &dir)
                    .with_context(|| format!("{file}: line {n}"))?;
                note_package(&mut seen, words[0], true, n, list.bdeps.len(), &file)?;
                list.bdeps.push(bdep);
            }
            "preinstall" => flag_lines.push((n, Flag::Preinstall, words)),
            "vminstall" => flag_lines.push((n, Flag::Vminstall, words)),
            "runscripts" => flag_lines.push((n, Flag::Runscripts, words)),
            "noinstall" => flag_lines.push((n, Flag::Noinstall, words)),
            "installonly" => flag_lines.push((n, Flag::Installonly, words)),
            "sysroot" => flag_lines.push((n, Flag::Sysroot, words)),
            // Packages for the worker-side callbacks (osc writes these): obsbox runs
            // callbacks from the toolbox, so they become toolbox packages.
            "cbpreinstall" | "cbinstall" => {
                for w in words {
                    if toolbox_seen.insert(w) {
                        list.toolbox.push(w.to_string());
                    }
                }
            }
            // A preinstall image is a cache of an unpacked buildroot; obsbox keeps its own
            // (see `NAME preinstallimage` in `package`). `dist:` and `rpmid:` only serve
            // obs-build's own cache and listing.
            "preinstallimage" | "preinstallimagesource" | "dist" | "rpmid" => {}
            _ => tracing::warn!(file = %file, line = n, tag = %tag, "rpmlist: unknown tag skipped"),
        }
    }
    // A name's packages (a native and a sysroot one at most), found without a scan.
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (&(name, _), &(_, i)) in &seen {
        by_name.entry(name).or_default().push(i);
    }
    for (n, flag, names) in flag_lines {
        for name in names {
            let packages = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
            // A name listed both natively and for the sysroot: the flag is the native one's
            // unless only the sysroot has it (bs_worker writes flags by name alone).
            let native = packages.iter().any(|&i| !list.bdeps[i].sysroot);
            let mut found = false;
            for &i in packages {
                let b = &mut list.bdeps[i];
                if b.sysroot != native {
                    flag.set(b);
                    found = true;
                }
            }
            if !found {
                bail!(
                    "{file}: line {n}: `{}:` names `{name}`, which is not listed as a package",
                    flag.tag()
                );
            }
        }
    }
    Ok(list)
}

/// One package line's bdep.
fn package(name: &str, location: &str, sysroot: bool, dir: &Path) -> Result<Bdep> {
    if location.is_empty() {
        bail!("expected `NAME PATH`, found only `{name}`");
    }
    let path = if location == "preinstallimage" {
        // bs_worker's mark for a package inside the preinstall image it unpacked instead
        // of downloading: there is no file, the rootfs assembly fetches it by name.
        None
    } else if location.contains("://") {
        bail!(
            "`{name}`: package locations by URL (`{}`) are not supported; give a file",
            crate::text::one_line(location)
        );
    } else {
        Some(dir.join(location))
    };
    Ok(Bdep {
        name: name.to_string(),
        sysroot,
        path,
        ..Bdep::default()
    })
}

fn is_location(word: &str) -> bool {
    word.contains('/') || word == "preinstallimage"
}

/// Records that `name` is listed at line `n`; a second listing is an error (which file
/// would be meant?). Native and sysroot packages are separate lists.
fn note_package<'a>(
    seen: &mut HashMap<(&'a str, bool), (usize, usize)>,
    name: &'a str,
    sysroot: bool,
    n: usize,
    index: usize,
    file: &impl std::fmt::Display,
) -> Result<()> {
    if let Some((first, _)) = seen.insert((name, sysroot), (n, index)) {
        bail!("{file}: line {n}: package `{name}` is already listed at line {first}");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Flag {
    Preinstall,
    Vminstall,
    Runscripts,
    Noinstall,
    Installonly,
    Sysroot,
}

impl Flag {
    fn set(self, b: &mut Bdep) {
        match self {
            Flag::Preinstall => b.preinstall = true,
            Flag::Vminstall => b.vminstall = true,
            Flag::Runscripts => b.runscripts = true,
            Flag::Noinstall => b.noinstall = true,
            Flag::Installonly => b.installonly = true,
            Flag::Sysroot => b.sysroot = true,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Flag::Preinstall => "preinstall",
            Flag::Vminstall => "vminstall",
            Flag::Runscripts => "runscripts",
            Flag::Noinstall => "noinstall",
            Flag::Installonly => "installonly",
            Flag::Sysroot => "sysroot",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn parse_str(text: &str) -> Result<RpmList> {
        parse(text, Path::new("/root/.build.rpmlist"))
    }

    #[test]
    fn long_lists_are_looked_up_not_scanned() {
        // 20,000 packages each named again by a flag line and a callback line: a scan of
        // the list per name took 10 s in a debug build (100,000 of them never finished).
        let n = 60_000;
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let mut text: String = names
            .iter()
            .map(|p| format!("{p} /pkgs/{p}.rpm\n"))
            .collect();
        text.push_str(&format!("preinstall: {}\n", names.join(" ")));
        text.push_str(&format!(
            "cbinstall: {} {}\n",
            names.join(" "),
            names.join(" ")
        ));
        let started = std::time::Instant::now();
        let list = parse_str(&text).unwrap();
        let took = started.elapsed();
        assert!(list.bdeps.iter().all(|b| b.preinstall) && list.bdeps.len() == n);
        assert_eq!(list.toolbox, names);
        assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    }

    #[test]
    fn packages_and_flags() {
        let list = parse_str(
            "bash /pkgs/bash.rpm\n\
             \n\
             glibc /pkgs/glibc.rpm\r\n\
             local pkgs/local.rpm\n\
             sysroot: glibc /pkgs/__sysroot__glibc.rpm\n\
             sysroot: zlib /pkgs/__sysroot__zlib.rpm\n\
             kernel preinstallimage\n\
             preinstall: bash glibc\n\
             vminstall: kernel\n\
             runscripts: glibc\n\
             noinstall: \n\
             installonly: zlib\n\
             cbinstall: rpmlint\n\
             cbpreinstall: rpmlint qemu-linux-user\n\
             preinstallimage: /pkgs/img.tar.gz\n\
             dist: sle15\n\
             future: whatever\n",
        )
        .unwrap();
        let names: Vec<_> = list.bdeps.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["bash", "glibc", "local", "glibc", "zlib", "kernel"]);
        let b = &list.bdeps;
        assert!(b[0].preinstall && !b[0].runscripts);
        assert!(b[1].preinstall && b[1].runscripts && !b[1].sysroot);
        assert_eq!(b[2].path, Some(PathBuf::from("/root/pkgs/local.rpm")));
        // The native glibc takes the flags; the sysroot one keeps only `sysroot`.
        assert!(b[3].sysroot && !b[3].preinstall && !b[3].runscripts);
        assert_eq!(b[3].path, Some(PathBuf::from("/pkgs/__sysroot__glibc.rpm")));
        assert!(b[4].sysroot && b[4].installonly);
        assert!(b[5].vminstall && b[5].path.is_none());
        assert_eq!(list.toolbox, ["rpmlint", "qemu-linux-user"]);
    }

    #[test]
    fn sysroot_as_a_flag_list() {
        let list = parse_str("a /p/a.rpm\nb /p/b.rpm\nsysroot: a b\n").unwrap();
        assert!(list.bdeps.iter().all(|b| b.sysroot));
    }

    #[test]
    fn errors() {
        let cases = [
            (
                "a /p/a.rpm\npreinstall: a b\n",
                "line 2: `preinstall:` names `b`",
            ),
            ("a\n", "line 1: expected `NAME PATH`, found only `a`"),
            (
                "a /p/a.rpm\na /p/a2.rpm\n",
                "line 2: package `a` is already listed at line 1",
            ),
            (
                "a http://x/a.rpm\n",
                "line 1: `a`: package locations by URL",
            ),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", parse_str(text).unwrap_err());
            assert!(e.starts_with("/root/.build.rpmlist: "), "{e}");
            assert!(e.contains(want), "want `{want}` in: {e}");
        }
    }
}
