//! What a job log (`RESULTS/logfile`, bs_worker's `.build.log`) must hold for an OBS user
//! reading it in the web UI, as obs-build's log holds it: every line stamped with the
//! seconds since the job started, the kernel and the worker, the packages of the buildroot
//! and of the toolbox, and each built package's `dpkg-deb --info` and `--contents`.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use super::data::testdata;

/// The lines of the section `==== TITLE… ====` (whose title starts with `title`) without
/// stamps: its full title and the lines between the blank line after it and the next blank.
pub fn section<'a>(lines: &[&'a str], title: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("==== {title}")) && l.ends_with(" ===="))?;
    assert_eq!(
        lines.get(start + 1),
        Some(&""),
        "a blank line after {title}"
    );
    let body = lines[start + 2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    Some((lines[start], body))
}

/// Every package of the test repository as `NAME VERSION ARCH`.
fn repo_packages() -> HashSet<String> {
    let index = testdata().join("deb-repo/dists/bookworm/main/binary-amd64/Packages");
    let text = fs::read_to_string(&index).unwrap();
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .map(str::to_string)
            };
            Some(format!(
                "{} {} {}",
                field("Package")?,
                field("Version")?,
                field("Architecture")?
            ))
        })
        .collect()
}

/// Checks the log of a successful job that built `debs` (paths of the results) in a
/// buildroot holding at least `wanted` (package names), installed now (`cached` false) or
/// taken from the cache (`None`: either); returns the log without its stamps.
pub fn assert_job_log(
    log: &str,
    debs: &[&Path],
    wanted: &[String],
    cached: Option<bool>,
) -> String {
    // Every line stamped as obs-build stamps its lines: `[%5ds] `, never going back.
    let mut last = 0u64;
    let mut lines = Vec::new();
    for line in log.lines() {
        let seconds = line
            .strip_prefix('[')
            .and_then(|rest| rest.get(..5))
            .and_then(|s| s.trim_start().parse::<u64>().ok())
            .filter(|_| line.get(6..9) == Some("s] "))
            .unwrap_or_else(|| panic!("a line without its stamp: {line:?}\n{log}"));
        assert!(seconds >= last, "the stamps go back at {line:?}\n{log}");
        last = seconds;
        lines.push(&line[9..]);
    }
    assert!(lines.len() > 20, "{log}");

    // The kernel, as `uname -a` names it, and the worker.
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let (_, kernel) = section(&lines, "Kernel").unwrap_or_else(|| panic!("no kernel: {log}"));
    assert_eq!(kernel.len(), 1, "{log}");
    assert!(
        kernel[0].starts_with(&format!("Linux {} {} ", host.trim(), release.trim()))
            && kernel[0].ends_with(std::env::consts::ARCH),
        "{log}"
    );
    let (_, worker) = section(&lines, "Worker").unwrap_or_else(|| panic!("no worker: {log}"));
    assert!(
        worker.contains(&format!("hostname: {}", host.trim()).as_str()),
        "{log}"
    );
    assert!(
        worker.contains(&format!("arch: {}", std::env::consts::ARCH).as_str()),
        "{log}"
    );

    // The buildroot's packages: each a package of the repository, the wanted ones among
    // them, as many as the title says.
    let repo = repo_packages();
    let (title, packages) = section(&lines, "Packages in the buildroot, ")
        .unwrap_or_else(|| panic!("no buildroot packages: {log}"));
    let how = match cached {
        Some(true) => vec!["from the cache"],
        Some(false) => vec!["installed"],
        None => vec!["from the cache", "installed"],
    };
    assert!(
        how.iter().any(|how| title
            == format!(
                "==== Packages in the buildroot, {how} ({}) ====",
                packages.len()
            )),
        "{title} ({how:?})"
    );
    for package in &packages {
        assert!(
            repo.contains(*package),
            "{package:?} is no package of the repository"
        );
    }
    let names: HashSet<&str> = packages
        .iter()
        .map(|p| p.split(' ').next().unwrap())
        .collect();
    for name in wanted {
        assert!(
            names.contains(name.as_str()),
            "{name} missing: {packages:?}"
        );
    }
    // The toolbox's, from runtime-config/toolbox.toml.
    let (_, toolbox) = section(&lines, "Packages in the toolbox (")
        .unwrap_or_else(|| panic!("no toolbox packages: {log}"));
    let names: HashSet<&str> = toolbox
        .iter()
        .map(|p| p.split(' ').next().unwrap())
        .collect();
    for name in ["busybox-static", "coreutils", "dpkg", "rpm", "tar"] {
        assert!(names.contains(name), "{name} missing: {toolbox:?}");
    }
    for package in &toolbox {
        assert!(
            repo.contains(*package),
            "{package:?} is no package of the repository"
        );
    }

    // Each result as `dpkg-deb --info` and `--contents` show it, after the build.
    let built = lines
        .iter()
        .position(|l| l.starts_with("[obsbox] phase build exited with 0"))
        .unwrap_or_else(|| panic!("{log}"));
    for deb in debs {
        let name = deb.file_name().unwrap().to_str().unwrap();
        let at = lines
            .iter()
            .position(|l| *l == format!("==== {name} ===="))
            .unwrap_or_else(|| panic!("no package information of {name}: {log}"));
        assert!(at > built, "{log}");
        let mut want = vec![""];
        let info = dpkg_deb("--info", deb);
        let contents = dpkg_deb("--contents", deb);
        want.extend(info.lines());
        want.push("");
        want.extend(contents.lines());
        want.push("");
        assert_eq!(
            lines[at + 1..at + 1 + want.len()],
            want[..],
            "{name}\n{log}"
        );
    }
    lines.join("\n")
}

fn dpkg_deb(what: &str, deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .arg(what)
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb {what} {}", deb.display());
    String::from_utf8(out.stdout).unwrap()
}
