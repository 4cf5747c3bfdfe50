//! What a worker offers: detection on this machine, OBS's `<worker>` XML (write and read),
//! JSON and Kubernetes node labels.
//!
//! The fields and their order follow OBS's `BSXML::worker` (what bs_worker registers with the
//! dispatcher): `hostarch` and `workerid` are attributes; then `buildarch`*, `hostlabel`*,
//! `sandbox`, `linux{version, flavor}`, `hardware{cpu{flag*}, processors, jobs, nativeonly,
//! memory, swap, disk}` with sizes in MB.

mod detect;
mod xml;

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::model::Arch;

pub use detect::{
    Detected, cando, compatible_arches, detect, hostarches, linux_version_flavor, x86_64_levels,
};
pub use xml::{Reader, from_xml, load, to_xml};

/// One worker's capabilities, as the dispatcher sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    /// The worker's id (`host:slot` in OBS); here the file name or the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workerid: Option<String>,
    pub hostarch: Arch,
    /// Every architecture the worker builds for: native, compatible, emulated.
    #[serde(default)]
    pub buildarch: Vec<Arch>,
    #[serde(default)]
    pub hostlabel: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Linux {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
}

/// Sizes are MB, as in OBS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// `None` when the document has no `<cpu>` element (OBS tells that from an empty one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_flags: Option<Vec<std::sync::Arc<str>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processors: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nativeonly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
}

/// The worker part of the runtime configuration (`worker.toml` in the config directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerConfig {
    /// Foreign architectures the toolbox's qemu runs (OBS names).
    pub emulated_arches: Vec<Arch>,
    /// Labels the admin gives this host (matched by `<hostlabel>` constraints).
    pub hostlabels: Vec<String>,
    /// Parallel jobs per build; default the number of processors.
    pub jobs: Option<u64>,
    /// Whose free space is the worker's `disk`; default /var/cache/obsbox.
    pub work_dir: Option<PathBuf>,
}

impl WorkerConfig {
    /// Reads `DIR/worker.toml`; a missing file is the empty configuration.
    pub fn load(dir: &Path) -> Result<WorkerConfig> {
        let path = dir.join("worker.toml");
        if !path.exists() {
            return Ok(WorkerConfig::default());
        }
        let file: WorkerFile = crate::config::read_toml(&path)?;
        file.check(&path.display().to_string())
    }
}

/// `worker.toml` as serde reads it. Each value is taken as it is written, of the right type
/// or not, so that [`WorkerFile::check`] names a wrong one by its key in one line
/// (`FILE: jobs must be a positive number`); an unknown key is refused by the reader.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerFile {
    emulated_arches: Option<Value<Vec<String>>>,
    hostlabels: Option<Value<Vec<String>>>,
    jobs: Option<Value<u64>>,
    work_dir: Option<Value<PathBuf>>,
}

/// A value of `worker.toml`: of the type its key wants, or anything else.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Value<T> {
    Typed(T),
    /// Anything else: only that it is not `T` matters.
    Other(#[allow(dead_code)] serde::de::IgnoredAny),
}

impl<T> Value<T> {
    /// The value, or `FILE: KEY must be …`.
    fn typed(self, file: &str, key: &str, must_be: &str) -> Result<T> {
        match self {
            Value::Typed(value) => Ok(value),
            Value::Other(_) => bail!("{file}: {key} must be {must_be}"),
        }
    }
}

impl WorkerFile {
    /// The configuration, each value checked.
    fn check(self, file: &str) -> Result<WorkerConfig> {
        let names = |value: Option<Value<Vec<String>>>, key: &str| -> Result<Vec<String>> {
            let Some(value) = value else {
                return Ok(Vec::new());
            };
            value
                .typed(file, key, "a list of strings")?
                .into_iter()
                .map(|s| match s.trim() {
                    "" => bail!("{file}: {key}: every entry must be a non-empty string"),
                    s => Ok(s.to_string()),
                })
                .collect()
        };
        let jobs = match self.jobs {
            None => None,
            Some(value) => match value.typed(file, "jobs", "a positive number")? {
                0 => bail!("{file}: jobs must be a positive number"),
                n => Some(n),
            },
        };
        Ok(WorkerConfig {
            emulated_arches: names(self.emulated_arches, "emulated_arches")?
                .into_iter()
                .map(|a| {
                    a.parse()
                        .map_err(|e| anyhow!("{file}: emulated_arches: {e}"))
                })
                .collect::<Result<_>>()?,
            hostlabels: names(self.hostlabels, "hostlabels")?,
            jobs,
            work_dir: self
                .work_dir
                .map(|value| value.typed(file, "work_dir", "a path"))
                .transpose()?,
        })
    }
}

/// How a worker builds an arch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchMode {
    /// Its hostarch, or an arch its CPU runs as it is (i586 on i686).
    Native,
    /// Natively with a helper (OBS's `linux32` personality change: i586 on x86_64).
    Helper,
    /// Under qemu-user: obsbox's extension, for obsbox workers only.
    Emulated,
}

/// The sandbox `obsbox worker describe` reports: marks a worker document as obsbox's.
pub const OBSBOX_SANDBOX: &str = "obsbox";

/// Whether and how `w` builds `arch`: by OBS's arch table from its hostarch (its
/// `<buildarch>` list plays no part, as in OBS's dispatcher), or, for an obsbox worker
/// (sandbox `obsbox`), emulated when its `<buildarch>` lists a foreign arch.
pub fn arch_mode(w: &Worker, arch: &Arch) -> Option<ArchMode> {
    if let Some((_, helper)) = cando(&w.hostarch).iter().find(|(a, _)| arch == a) {
        return Some(if helper.is_empty() {
            ArchMode::Native
        } else {
            ArchMode::Helper
        });
    }
    (w.sandbox.as_deref() == Some(OBSBOX_SANDBOX) && w.buildarch.contains(arch))
        .then_some(ArchMode::Emulated)
}

impl Worker {
    /// Every arch the worker builds: OBS's arch table for its hostarch, and for an obsbox
    /// worker the foreign arches its `<buildarch>` lists (emulated).
    pub fn build_arches(&self) -> Vec<&str> {
        let mut out: Vec<&str> = cando(&self.hostarch).iter().map(|(a, _)| *a).collect();
        if self.sandbox.as_deref() == Some(OBSBOX_SANDBOX) {
            for a in &self.buildarch {
                if !out.contains(&a.as_str()) {
                    out.push(a.as_str());
                }
            }
        }
        out
    }

    /// Whether the worker builds `arch` under emulation (qemu-user).
    pub fn emulates(&self, arch: &Arch) -> bool {
        arch_mode(self, arch) == Some(ArchMode::Emulated)
    }
}

/// Whether a `hostarch` CPU runs `arch` code without emulation.
pub fn runs_natively(hostarch: &Arch, arch: &Arch) -> bool {
    cando(hostarch).iter().any(|(a, _)| arch == a)
}

/// Prefix of every Kubernetes node label obsbox sets.
pub const K8S_PREFIX: &str = "obsbox.openbuildservice.org/";

impl Worker {
    /// Node labels, one `key=value` per line, sorted. Names and values are made valid label
    /// syntax (alphanumeric ends, `-_.` inside, at most 63 characters); what cannot be made
    /// valid is left out rather than rejected by the API server later.
    pub fn k8s_labels(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |name: String, value: &str| {
            if let (Some(k), Some(v)) = (k8s_label_key(&name), k8s_label_value(value)) {
                out.push(format!("{k}={v}"));
            }
        };
        push("hostarch".into(), self.hostarch.as_str());
        // What the dispatcher registers the worker for: its hostarch when it lists none.
        for a in self.build_arches() {
            push(format!("buildarch.{a}"), "true");
        }
        for l in &self.hostlabel {
            push(format!("hostlabel.{l}"), "true");
        }
        if let Some(s) = &self.sandbox {
            push("sandbox".into(), s);
        }
        if let Some(linux) = &self.linux {
            if let Some(v) = &linux.version {
                push("linux.version".into(), v);
            }
            if let Some(f) = &linux.flavor {
                push("linux.flavor".into(), f);
            }
        }
        if let Some(hw) = &self.hardware {
            for f in hw.cpu_flags.iter().flatten() {
                push(format!("cpu.{f}"), "true");
            }
            if hw.nativeonly {
                push("nativeonly".into(), "true");
            }
            let numbers = [
                ("processors", hw.processors),
                ("jobs", hw.jobs),
                ("memory-mb", hw.memory),
                ("swap-mb", hw.swap),
                ("disk-mb", hw.disk),
            ];
            for (name, n) in numbers {
                if let Some(n) = n {
                    push(name.into(), &n.to_string());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The node label key obsbox uses for `name` (`hostlabel.NAME`, `cpu.FLAG`, `memory-mb`…),
/// or `None` when no valid key can be made of it.
pub fn k8s_label_key(name: &str) -> Option<String> {
    label_part(name).map(|n| format!("{K8S_PREFIX}{n}"))
}

/// A value as obsbox writes it into a node label.
pub fn k8s_label_value(value: &str) -> Option<String> {
    label_value(value)
}

/// A label name part: `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
fn label_part(s: &str) -> Option<String> {
    let v = label_value(s)?;
    (!v.is_empty()).then_some(v)
}

/// A label value: like a name part, but may be empty.
fn label_value(s: &str) -> Option<String> {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cut: String = mapped.chars().take(63).collect();
    let trimmed = cut.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() && !s.is_empty() {
        return None;
    }
    Some(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_labels_are_valid() {
        let w = Worker {
            workerid: None,
            hostarch: "x86_64".parse().unwrap(),
            buildarch: vec!["x86_64".parse().unwrap(), "i586".parse().unwrap()],
            hostlabel: vec!["SLOW DISK!".into(), "???".into()],
            sandbox: Some("obsbox".into()),
            hardware: Some(Hardware {
                memory: Some(8192),
                cpu_flags: Some(vec!["sse4_1".into()]),
                ..Hardware::default()
            }),
            linux: None,
        };
        let labels = w.k8s_labels();
        assert!(labels.contains(&format!("{K8S_PREFIX}hostlabel.SLOW-DISK=true")));
        assert!(labels.contains(&format!("{K8S_PREFIX}memory-mb=8192")));
        assert!(labels.contains(&format!("{K8S_PREFIX}cpu.sse4_1=true")));
        for l in &labels {
            let (key, value) = l.split_once('=').unwrap();
            let name = key.strip_prefix(K8S_PREFIX).unwrap();
            assert!(name.len() <= 63 && value.len() <= 63, "{l}");
            assert!(name.chars().next().unwrap().is_ascii_alphanumeric(), "{l}");
            assert!(!name.contains('?'), "{l}");
        }
    }

    #[test]
    fn config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("worker.toml"),
            "emulated_arches = [\"aarch64\"]\nhostlabels = [\"fast\"]\njobs = 3\n",
        )
        .unwrap();
        let c = WorkerConfig::load(dir.path()).unwrap();
        assert_eq!(c.emulated_arches, ["aarch64"]);
        assert_eq!(c.hostlabels, ["fast"]);
        assert_eq!(c.jobs, Some(3));
        std::fs::write(dir.path().join("worker.toml"), "hostlabels = 3\n").unwrap();
        let err = WorkerConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("worker.toml: hostlabels"), "{err}");
    }
}
