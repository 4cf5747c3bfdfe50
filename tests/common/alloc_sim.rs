//! A simulated fleet and job queue with a realistic mix, for the allocation benchmark
//! (`examples/bench-alloc.rs`, which includes this file) and the index-versus-checker tests.
//! Deterministic for a seed.
#![allow(dead_code)]

use obsbox::alloc::constraints::{self, Constraints};
use obsbox::alloc::{Member, Request};
use obsbox::model::Arch;
use obsbox::worker::{Hardware, Linux, Worker};

/// An arch name of the simulation (all valid).
fn arch(name: &str) -> Arch {
    name.parse().expect("a valid arch name")
}

/// A small xorshift generator: enough for test data, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability p (percent).
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const LABELS: [&str; 24] = [
    "big",
    "ssd",
    "fast-disk",
    "benchmark_runner",
    "SLOW",
    "gpu",
    "nvme",
    "secure-boot",
    "rack-a",
    "rack-b",
    "rack-c",
    "rack-d",
    "dc-nue",
    "dc-prg",
    "dc-fra",
    "kernel-dev",
    "reproducible",
    "no-network",
    "tmpfs",
    "large-tmp",
    "obsbox",
    "emulator",
    "kiwi",
    "fips",
];
const VERSIONS: [&str; 10] = [
    "4.12.14", "5.3.18", "5.10.0", "5.14.21", "6.1.0", "6.4.0", "6.6.0", "6.8.0", "6.10.0",
    "6.18.0",
];
const X86_V2: [&str; 8] = [
    "sse2", "cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2",
];
const X86_V3: [&str; 9] = [
    "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
];

/// `n` workers named `HOSTARCH:hostN:1`: most x86_64, then aarch64, ppc64le, s390x,
/// riscv64, i586; some x86_64 emulate aarch64 and riscv64; labels, sandboxes, kernels,
/// CPU levels, sizes and a few nativeonly workers in realistic proportions. All idle.
pub fn fleet(n: usize, seed: u64) -> Vec<Member> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let hostarch = match r.below(100) {
            0..=59 => "x86_64",
            60..=79 => "aarch64",
            80..=86 => "ppc64le",
            87..=91 => "s390x",
            92..=96 => "riscv64",
            _ => "i586",
        };
        let mut buildarch = vec![arch(hostarch)];
        if hostarch == "x86_64" {
            buildarch.extend([arch("i586"), arch("i686")]);
            if r.chance(15) {
                buildarch.extend([arch("aarch64"), arch("riscv64")]);
            }
        }
        let mut hostlabel = Vec::new();
        for _ in 0..r.below(4) {
            let l = r.pick(&LABELS).to_string();
            if !hostlabel.contains(&l) {
                hostlabel.push(l);
            }
        }
        let sandbox = r.pick(&["kvm", "kvm", "kvm", "chroot", "xen", "lxc", "obsbox", "zvm"]);
        let mut flags: Vec<String> = Vec::new();
        if hostarch == "x86_64" {
            flags.extend(["fpu", "lm"].iter().map(|s| s.to_string()));
            if r.chance(90) {
                flags.extend(X86_V2.iter().map(|s| s.to_string()));
                flags.push("x86-64-v2".into());
                if r.chance(70) {
                    flags.extend(X86_V3.iter().map(|s| s.to_string()));
                    flags.push("x86-64-v3".into());
                    if r.chance(30) {
                        flags.extend(["avx512f", "x86-64-v4"].iter().map(|s| s.to_string()));
                    }
                }
            }
        } else if hostarch == "aarch64" {
            flags.extend(["fp", "asimd"].iter().map(|s| s.to_string()));
            if r.chance(50) {
                flags.extend(["sve", "sve2"].iter().map(|s| s.to_string()));
            }
        }
        let processors = *r.pick(&[2u64, 4, 8, 8, 16, 16, 32, 64, 128]);
        let memory = processors * *r.pick(&[1024u64, 2048, 4096, 8192]);
        let worker = Worker {
            workerid: None,
            hostarch: arch(hostarch),
            buildarch,
            hostlabel,
            sandbox: Some(sandbox.to_string()),
            linux: Some(Linux {
                version: Some(r.pick(&VERSIONS).to_string()),
                flavor: Some(
                    r.pick(&["default", "default", "default", "rt", "64kb"])
                        .to_string(),
                ),
            }),
            hardware: Some(Hardware {
                cpu_flags: Some(flags.into_iter().map(Into::into).collect()),
                processors: Some(processors),
                jobs: Some((processors / r.pick(&[1u64, 2, 4])).max(1)),
                nativeonly: r.chance(2),
                memory: Some(memory),
                swap: Some(*r.pick(&[0u64, 0, 1024, 2048, 8192])),
                disk: Some(*r.pick(&[20480u64, 40960, 102400, 204800, 409600, 1048576])),
            }),
        };
        out.push(Member::idle(worker, &format!("{hostarch}:host{i:05}:1")));
    }
    out
}

/// `n` jobs: arches in about the fleet's proportions; constraint lines in the mix a build
/// service sees (none for most, memory and disk sizes, CPU levels, labels, sandboxes,
/// kernels, excludes, preferences), parsed as OBS's `Constraint:` lines.
pub fn jobs(n: usize, seed: u64) -> Vec<Request> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let arch = match r.below(100) {
            0..=54 => "x86_64",
            55..=62 => "i586",
            63..=82 => "aarch64",
            83..=89 => "ppc64le",
            90..=94 => "s390x",
            _ => "riscv64",
        };
        let mut lines: Vec<String> = Vec::new();
        let kind = r.below(100);
        if kind >= 35 {
            if r.chance(60) {
                lines.push(format!(
                    "hardware:memory:size unit=G {}",
                    r.pick(&[2, 4, 8, 16, 32, 64, 128])
                ));
            }
            if r.chance(50) {
                lines.push(format!(
                    "hardware:disk:size unit=G {}",
                    r.pick(&[10, 20, 50, 100, 300])
                ));
            }
            if r.chance(20) {
                lines.push(format!("hardware:processors {}", r.pick(&[4, 8, 16, 32])));
            }
            if r.chance(10) {
                lines.push(format!(
                    "hardware:memoryperjob:size unit=M {}",
                    r.pick(&[512, 1024, 2048])
                ));
            }
            if arch == "x86_64" && r.chance(25) {
                lines.push(format!(
                    "hardware:cpu:flag {}",
                    r.pick(&["x86-64-v2", "x86-64-v3", "x86-64-v3", "avx512f"])
                ));
            }
            if r.chance(12) {
                lines.push(format!("hostlabel {}", r.pick(&LABELS)));
            }
            if r.chance(8) {
                lines.push(format!("hostlabel exclude=true {}", r.pick(&LABELS)));
            }
            if r.chance(10) {
                lines.push(format!(
                    "sandbox {}",
                    r.pick(&["kvm", "secure", "xen", "chroot"])
                ));
            }
            if r.chance(5) {
                lines.push("sandbox exclude=true chroot".into());
            }
            if r.chance(8) {
                lines.push(format!("linux:version:min {}", r.pick(&VERSIONS)));
            }
            if r.chance(3) {
                lines.push(format!("linux:version:max {}", r.pick(&VERSIONS)));
            }
            if r.chance(3) {
                lines.push("linux:flavor rt".into());
            }
            if r.chance(15) {
                lines.push(format!("prefer:hostlabel weight=5 {}", r.pick(&LABELS)));
            }
            if r.chance(10) {
                lines.push("prefer:hardware:memory:size weight=2 unit=G 64".into());
            }
        }
        let c: Constraints = constraints::from_list(&lines, "simulated job")
            .and_then(|s| s.combine(Some(&self::arch(arch)), None))
            .expect("valid simulated lines");
        out.push(Request {
            id: Some(format!("home:sim/standard/pkg{i}/{arch}")),
            project: Some("home:sim".into()),
            package: Some(format!("pkg{i}")),
            arch: Some(self::arch(arch)),
            worker_arch: None,
            constraints: c,
        });
    }
    out
}
