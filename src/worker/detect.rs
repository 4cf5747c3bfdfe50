//! Capability detection on this machine, from /proc and statvfs.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::{Hardware, Linux, Worker, WorkerConfig};
use crate::model::Arch;

/// Where the worker's `disk` is measured unless the configuration names another directory.
pub const DEFAULT_WORK_DIR: &str = "/var/cache/obsbox";

/// What describe found, with the notes on what it could not find.
#[derive(Debug, Clone)]
pub struct Detected {
    pub worker: Worker,
    /// Things left out (e.g. the work directory does not exist), for the log.
    pub notes: Vec<String>,
}

/// Detects this machine's capabilities.
pub fn detect(config: &WorkerConfig) -> Result<Detected> {
    let mut notes = Vec::new();
    let hostarch = Arch::native();

    // Native first, then what the CPU runs natively in a compatible mode (OBS builds i586
    // and i686 on x86_64 workers), then what the configured qemu emulates.
    let mut buildarch = vec![hostarch.clone()];
    for a in compatible_arches(&hostarch)
        .into_iter()
        .chain(config.emulated_arches.iter().cloned())
    {
        if !buildarch.contains(&a) {
            buildarch.push(a);
        }
    }

    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").context("cannot read /proc/cpuinfo")?;
    let mut flags = cpu_flags(&cpuinfo);
    if hostarch == "x86_64" {
        flags.extend(x86_64_levels(&flags).iter().map(|s| s.to_string()));
    }
    let processors = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("cannot read /proc/meminfo")?;
    let work_dir = config
        .work_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_WORK_DIR.into());
    let disk = match disk_mb(&work_dir) {
        Ok(mb) => Some(mb),
        Err(e) => {
            notes.push(format!("disk left out: {e:#}"));
            None
        }
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("cannot read /proc/sys/kernel/osrelease")?;
    let linux = linux_version_flavor(release.trim()).map(|(version, flavor)| Linux {
        version: Some(version),
        flavor: Some(flavor),
    });
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());

    let worker = Worker {
        workerid: hostname,
        hostarch,
        buildarch,
        hostlabel: config.hostlabels.clone(),
        sandbox: Some("obsbox".into()),
        linux,
        hardware: Some(Hardware {
            cpu_flags: Some(flags.into_iter().map(Into::into).collect()),
            processors: Some(processors),
            jobs: Some(config.jobs.unwrap_or(processors)),
            nativeonly: false,
            memory: meminfo_mb(&meminfo, "MemTotal"),
            swap: meminfo_mb(&meminfo, "SwapTotal"),
            disk,
        }),
    };
    Ok(Detected { worker, notes })
}

/// OBS's arch table (BSCando): the arches each hostarch builds, with the helper a build
/// needs (`linux32`: a personality change; `""`: none).
static CANDO: &[(&str, &[(&str, &str)])] = &[
    (
        "aarch64",
        &[
            ("aarch64", ""),
            ("aarch64_ilp32", ""),
            ("armv8l", "linux32"),
            ("armv7l", "linux32"),
            ("armv7hl", "linux32"),
            ("armv6l", "linux32"),
            ("armv6hl", "linux32"),
        ],
    ),
    ("aarch64_ilp32", &[("aarch64_ilp32", ""), ("aarch64", "")]),
    ("armv4l", &[("armv4l", "")]),
    ("armv5l", &[("armv4l", ""), ("armv5l", ""), ("armv5el", "")]),
    (
        "armv6l",
        &[
            ("armv4l", ""),
            ("armv5l", ""),
            ("armv6l", ""),
            ("armv5el", ""),
            ("armv6el", ""),
        ],
    ),
    (
        "armv7l",
        &[
            ("armv4l", ""),
            ("armv5l", ""),
            ("armv6l", ""),
            ("armv7l", ""),
            ("armv5el", ""),
            ("armv6el", ""),
            ("armv6hl", ""),
            ("armv7el", ""),
            ("armv7hl", ""),
            ("armv8el", ""),
        ],
    ),
    ("armv8l", &[("armv8l", "")]),
    ("sh4", &[("sh4", "")]),
    ("i586", &[("i586", "")]),
    ("i686", &[("i586", ""), ("i686", "")]),
    (
        "x86_64",
        &[("x86_64", ""), ("i586", "linux32"), ("i686", "linux32")],
    ),
    ("k1om", &[("k1om", "")]),
    ("parisc", &[("hppa", ""), ("hppa64", "linux64")]),
    ("parisc64", &[("hppa64", ""), ("hppa", "linux32")]),
    ("ppc", &[("ppc", "")]),
    (
        "ppc64",
        &[("ppc64le", ""), ("ppc64", ""), ("ppc", "linux32")],
    ),
    (
        "ppc64p7",
        &[("ppc64le", ""), ("ppc64p7", ""), ("ppc", "linux32")],
    ),
    (
        "ppc64le",
        &[("ppc64le", ""), ("ppc64", ""), ("ppc", "linux32")],
    ),
    ("ia64", &[("ia64", "")]),
    ("riscv64", &[("riscv64", "")]),
    ("loongarch64", &[("loongarch64", "")]),
    ("s390", &[("s390", "")]),
    ("s390x", &[("s390x", ""), ("s390", "linux32")]),
    ("sparc", &[("sparcv8", ""), ("sparc", "")]),
    (
        "sparc64",
        &[
            ("sparc64v", ""),
            ("sparc64", ""),
            ("sparcv9v", ""),
            ("sparcv9", ""),
            ("sparcv8", "linux32"),
            ("sparc", "linux32"),
        ],
    ),
    ("mips", &[("mips", "")]),
    ("mips64", &[("mips64", ""), ("mips", "mips32")]),
    ("m68k", &[("m68k", "")]),
    ("local", &[("local", "")]),
];

/// The arches a `hostarch` worker builds by OBS's arch table, each with the helper it needs
/// (`""` for none); empty for an arch OBS does not know.
pub fn cando(hostarch: &Arch) -> &'static [(&'static str, &'static str)] {
    CANDO
        .iter()
        .find(|(h, _)| hostarch == h)
        .map_or(&[], |(_, l)| l)
}

/// Every hostarch OBS's arch table knows.
pub fn hostarches() -> impl Iterator<Item = Arch> {
    CANDO.iter().map(|(h, _)| Arch::known(h))
}

/// Architectures a host runs without emulation besides its own (OBS's arch table).
pub fn compatible_arches(hostarch: &Arch) -> Vec<Arch> {
    cando(hostarch)
        .iter()
        .filter(|(a, _)| hostarch != a)
        .map(|(a, _)| Arch::known(a))
        .collect()
}

/// The flags of the first processor: `flags` on x86, `Features` on arm, `isa`-less otherwise.
fn cpu_flags(cpuinfo: &str) -> Vec<String> {
    for line in cpuinfo.lines() {
        if let Some((key, value)) = line.split_once(':')
            && matches!(key.trim(), "flags" | "Features")
        {
            let mut flags: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            flags.sort();
            flags.dedup();
            return flags;
        }
    }
    Vec::new()
}

/// The x86-64 micro-architecture levels (psABI) the flags satisfy, as pseudo-flags a
/// `_constraints` can ask for. Each level needs the previous one plus, in /proc/cpuinfo names:
/// - v2: cx16, lahf_lm, popcnt, pni (SSE3), ssse3, sse4_1, sse4_2
/// - v3: avx, avx2, bmi1, bmi2, f16c, fma, abm (LZCNT), movbe, xsave (OSXSAVE)
/// - v4: avx512f, avx512bw, avx512cd, avx512dq, avx512vl
pub fn x86_64_levels(flags: &[String]) -> Vec<&'static str> {
    const LEVELS: [(&str, &[&str]); 3] = [
        (
            "x86-64-v2",
            &[
                "cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2",
            ],
        ),
        (
            "x86-64-v3",
            &[
                "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
            ],
        ),
        (
            "x86-64-v4",
            &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
        ),
    ];
    let has = |f: &str| flags.iter().any(|g| g == f);
    let mut out = Vec::new();
    for (level, needs) in LEVELS {
        if !needs.iter().all(|f| has(f)) {
            break;
        }
        out.push(level);
    }
    out
}

/// `MemTotal:  16302540 kB` → 15920 (MB).
fn meminfo_mb(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb / 1024)
    })
}

/// Space a build can use in `dir` (available to unprivileged users), in MB.
fn disk_mb(dir: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir)
        .with_context(|| format!("cannot statvfs {}", dir.display()))?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64 / (1024 * 1024))
}

/// Splits a kernel release as bs_worker does (`Linux version VERSION-FLAVOR ` of
/// /proc/version): the flavor is what follows the last `-`, the version all before it:
/// `6.4.0-150600.23-default` → (`6.4.0-150600.23`, `default`), `6.18.44-fc-v1300` →
/// (`6.18.44-fc`, `v1300`). A release without `-` gives no linux information, as there.
pub fn linux_version_flavor(release: &str) -> Option<(String, String)> {
    let release = release.split_whitespace().next()?;
    let (version, flavor) = release.rsplit_once('-')?;
    Some((version.to_string(), flavor.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_split_as_bs_worker() {
        let vf = |r| linux_version_flavor(r);
        let some = |v: &str, f: &str| Some((v.to_string(), f.to_string()));
        assert_eq!(
            vf("6.4.0-150600.23-default"),
            some("6.4.0-150600.23", "default")
        );
        assert_eq!(vf("6.18.44-fc-v1300"), some("6.18.44-fc", "v1300"));
        assert_eq!(vf("6.8.0-45"), some("6.8.0", "45"));
        assert_eq!(vf("6.18.0"), None);
    }

    #[test]
    fn levels_need_every_flag_and_the_level_below() {
        let f = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let v2 = "cx16 lahf_lm popcnt pni ssse3 sse4_1 sse4_2";
        let v3 = "avx avx2 bmi1 bmi2 f16c fma abm movbe xsave";
        let v4 = "avx512f avx512bw avx512cd avx512dq avx512vl";
        assert!(x86_64_levels(&f("sse sse2")).is_empty());
        assert_eq!(x86_64_levels(&f(v2)), ["x86-64-v2"]);
        assert_eq!(
            x86_64_levels(&f(&format!("{v2} {v3}"))),
            ["x86-64-v2", "x86-64-v3"]
        );
        // v4 flags without v3 give no v4.
        assert_eq!(x86_64_levels(&f(&format!("{v2} {v4}"))), ["x86-64-v2"]);
        assert_eq!(x86_64_levels(&f(&format!("{v2} {v3} {v4}"))).len(), 3);
    }

    #[test]
    fn meminfo() {
        let m = "MemTotal:       16302540 kB\nSwapTotal:             0 kB\n";
        assert_eq!(meminfo_mb(m, "MemTotal"), Some(15920));
        assert_eq!(meminfo_mb(m, "SwapTotal"), Some(0));
        assert_eq!(meminfo_mb(m, "Nope"), None);
    }

    #[test]
    fn flags_from_cpuinfo() {
        let c = "processor\t: 0\nflags\t\t: sse2 fpu sse2\n\nprocessor\t: 1\nflags\t\t: x\n";
        assert_eq!(cpu_flags(c), ["fpu", "sse2"]);
        assert_eq!(cpu_flags("Features\t: fp asimd\n"), ["asimd", "fp"]);
    }
}
