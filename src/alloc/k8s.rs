//! `obsbox allocate --emit k8s`: a Pod for the job that Kubernetes schedules onto the nodes
//! `obsbox worker describe --format k8s-labels` labelled, run by containerd with obsbox as
//! the runtime (`runtimeClassName: obsbox`).
//!
//! The job's constraints become a required node affinity over the same label keys, rule for
//! rule as [`super::check`](super::matching::check) decides: a label that must be there (`In ["true"]`) or must not
//! (`DoesNotExist`), a sandbox `In`/`NotIn`, numbers as `Gt` (at least N is `Gt N-1`).
//! What labels cannot say directly is spelt out over the fleet given with `--workers`:
//! linux version ranges as the fleet's versions in range, and `memory` (memory + swap) and
//! `memoryperjob` (× jobs) as one alternative per swap size (and jobs count) in the fleet,
//! besides the plain "enough memory alone". The terms are thus exact for the fleet's
//! workers; a node with other values is judged conservatively. Soft constraints become
//! preferred terms with their weights, and a native node is preferred (weight 100) over an
//! emulating one; the wait-versus-emulation cost and allocation callbacks have no
//! Kubernetes form.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

use super::constraints::Constraints;
use super::{Member, Request, Settings};
use crate::model::Arch;
use crate::worker::{K8S_PREFIX, k8s_label_key, k8s_label_value};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub runtime_class_name: String,
    pub restart_policy: String,
    pub affinity: Affinity,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    pub node_affinity: NodeAffinity,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeAffinity {
    #[serde(
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        skip_serializing_if = "Option::is_none"
    )]
    pub required: Option<NodeSelector>,
    #[serde(
        rename = "preferredDuringSchedulingIgnoredDuringExecution",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferred: Vec<PreferredTerm>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    pub node_selector_terms: Vec<Term>,
}

/// A node selector term: its requirements all hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Term {
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreferredTerm {
    pub weight: u32,
    pub preference: Term,
}

#[derive(Debug, Clone, Serialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub resources: Resources,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub requests: BTreeMap<String, String>,
}

fn req(key: &str, operator: &str, values: &[&str]) -> Requirement {
    Requirement {
        key: format!("{K8S_PREFIX}{key}"),
        operator: operator.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// An alternative: requirements that all hold.
type Alt = Vec<Requirement>;
/// A clause: one of its alternatives holds.
type Clause = Vec<Alt>;

/// A clause no node meets (a key both present and absent), for what nothing can satisfy.
fn never() -> Clause {
    vec![vec![
        req("hostarch", "Exists", &[]),
        req("hostarch", "DoesNotExist", &[]),
    ]]
}

fn one(r: Requirement) -> Clause {
    vec![vec![r]]
}

/// The key of a label obsbox sets, e.g. `hostlabel.big`; an error when none can be made.
fn key(name: &str) -> Result<String> {
    match k8s_label_key(name) {
        Some(k) => Ok(k.trim_start_matches(K8S_PREFIX).to_string()),
        None => bail!("{name:?} cannot be a Kubernetes label key"),
    }
}

fn value(v: &str) -> String {
    k8s_label_value(v).unwrap_or_default()
}

/// `n` or more, as Kubernetes says it.
fn at_least(key: &str, n: u64) -> Requirement {
    let below = n.saturating_sub(1).to_string();
    req(key, "Gt", &[below.as_str()])
}

/// The clauses (all must hold) for hard constraints `c` and the job's arch.
fn clauses(c: &Constraints, arch: Option<&Arch>, fleet: &[Member]) -> Result<Vec<Clause>> {
    let mut out: Vec<Clause> = Vec::new();
    if let Some(a) = arch {
        out.push(one(req(&key(&format!("buildarch.{a}"))?, "In", &["true"])));
        // A nativeonly node builds only its own hostarch.
        out.push(vec![
            vec![req("nativeonly", "DoesNotExist", &[])],
            vec![req("hostarch", "In", &[value(a.as_str()).as_str()])],
        ]);
    }
    for l in &c.hostlabel {
        match (k8s_label_key(&format!("hostlabel.{}", l.value)), l.exclude) {
            (Some(_), false) => out.push(one(req(
                &key(&format!("hostlabel.{}", l.value))?,
                "In",
                &["true"],
            ))),
            (Some(_), true) => out.push(one(req(
                &key(&format!("hostlabel.{}", l.value))?,
                "DoesNotExist",
                &[],
            ))),
            // No node can carry it as a label: required, nothing fits; excluded, all do.
            (None, false) => out.push(never()),
            (None, true) => {}
        }
    }
    for sb in &c.sandbox {
        if sb.value.is_empty() {
            // The empty sandbox is a node without one.
            let op = if sb.exclude { "Exists" } else { "DoesNotExist" };
            out.push(one(req("sandbox", op, &[])));
        } else if sb.exclude {
            out.push(one(req("sandbox", "NotIn", &[value(&sb.value).as_str()])));
        } else if sb.value == "secure" {
            out.push(one(req(
                "sandbox",
                "In",
                &super::constraints::SECURE_SANDBOXES,
            )));
        } else {
            out.push(one(req("sandbox", "In", &[value(&sb.value).as_str()])));
        }
    }
    if let Some(lc) = &c.linux {
        out.push(vec![
            vec![req("linux.version", "Exists", &[])],
            vec![req("linux.flavor", "Exists", &[])],
        ]);
        if let Some(f) = lc.flavor.as_ref().filter(|f| !f.is_empty()) {
            out.push(one(req("linux.flavor", "In", &[value(f).as_str()])));
        }
        if lc.version {
            // The fleet's versions within min..max, by OBS's version comparison.
            let mut ok: Vec<String> = Vec::new();
            for m in fleet {
                let Some(v) = m.worker.linux.as_ref().and_then(|l| l.version.as_ref()) else {
                    continue;
                };
                let min_ok = lc.min.as_ref().filter(|x| !x.is_empty()).is_none_or(|min| {
                    super::matching::verscmp(min, v) != std::cmp::Ordering::Greater
                });
                let max_ok =
                    lc.max.as_ref().filter(|x| !x.is_empty()).is_none_or(|max| {
                        super::matching::verscmp(max, v) != std::cmp::Ordering::Less
                    });
                let v = value(v);
                if min_ok && max_ok && !ok.contains(&v) {
                    ok.push(v);
                }
            }
            ok.sort();
            if ok.is_empty() {
                out.push(never());
            } else {
                let refs: Vec<&str> = ok.iter().map(String::as_str).collect();
                out.push(one(req("linux.version", "In", &refs)));
            }
        }
    }
    if let Some(hc) = &c.hardware {
        out.push(
            ["processors", "jobs", "memory-mb", "swap-mb", "disk-mb"]
                .iter()
                .map(|k| vec![req(k, "Exists", &[])])
                .collect(),
        );
        if let Some(p) = hc.processors.filter(|&p| p > 0) {
            out.push(one(at_least("processors", p)));
        }
        if let Some(j) = hc.jobs.filter(|&j| j > 0) {
            out.push(one(at_least("jobs", j)));
        }
        let mb = |s: &Option<super::constraints::Size>| {
            s.as_ref().map(|s| s.mb()).filter(|&mb| mb > 0.0)
        };
        if let Some(d) = mb(&hc.disk) {
            out.push(one(at_least("disk-mb", d.ceil() as u64)));
        }
        if let Some(p) = mb(&hc.physicalmemory) {
            out.push(one(at_least("memory-mb", p.ceil() as u64)));
        }
        // Per (jobs, swap) of the fleet's workers: memory ≥ need × jobs − swap.
        let mut shapes: Vec<(Option<u64>, Option<u64>)> = fleet
            .iter()
            .filter_map(|m| m.worker.hardware.as_ref())
            .map(|h| (h.jobs, h.swap))
            .collect();
        shapes.sort();
        shapes.dedup();
        let swap_req = |s: Option<u64>| match s {
            Some(s) => req("swap-mb", "In", &[s.to_string().as_str()]),
            None => req("swap-mb", "DoesNotExist", &[]),
        };
        let jobs_req = |j: Option<u64>| match j {
            Some(j) => req("jobs", "In", &[j.to_string().as_str()]),
            None => req("jobs", "DoesNotExist", &[]),
        };
        let memory_alt = |total: f64, swap: Option<u64>| -> Vec<Requirement> {
            let need = (total - swap.unwrap_or(0) as f64).ceil();
            let mut alt = vec![swap_req(swap)];
            if need > 0.0 {
                alt.push(at_least("memory-mb", need as u64));
            }
            alt
        };
        if let Some(m) = mb(&hc.memory) {
            let mut swaps: Vec<Option<u64>> = shapes.iter().map(|(_, s)| *s).collect();
            swaps.dedup();
            let mut clause: Clause = vec![vec![at_least("memory-mb", m.ceil() as u64)]];
            clause.extend(swaps.into_iter().map(|s| memory_alt(m, s)));
            out.push(clause);
        }
        if let Some(m) = mb(&hc.memoryperjob) {
            let mut clause: Clause = Vec::new();
            for (j, s) in &shapes {
                let jobs = j.filter(|&j| j > 0).unwrap_or(1);
                let mut alt = vec![jobs_req(*j)];
                alt.extend(memory_alt(m * jobs as f64, *s));
                clause.push(alt);
            }
            if clause.is_empty() {
                clause = never();
            }
            out.push(clause);
        }
        if let Some(flags) = &hc.cpu {
            for f in flags {
                let name = format!("cpu.{}", f.value);
                match (k8s_label_key(&name), f.exclude) {
                    (Some(_), false) => out.push(one(req(&key(&name)?, "In", &["true"]))),
                    (Some(_), true) => out.push(one(req(&key(&name)?, "DoesNotExist", &[]))),
                    (None, false) => out.push(never()),
                    (None, true) => {}
                }
            }
        }
    }
    Ok(out)
}

/// The clauses multiplied out into terms (OR of ANDs), as Kubernetes takes them.
fn terms(clauses: Vec<Clause>) -> Vec<Term> {
    let mut alts: Vec<Alt> = vec![Vec::new()];
    for clause in clauses {
        let mut next = Vec::new();
        for a in &alts {
            for b in &clause {
                let mut t = a.clone();
                for r in b {
                    if !t.contains(r) {
                        t.push(r.clone());
                    }
                }
                next.push(t);
            }
        }
        alts = next;
    }
    alts.into_iter()
        .map(|match_expressions| Term { match_expressions })
        .collect()
}

/// The hostarches that build `arch` by OBS's arch table (the arch itself first).
fn native_hostarches(arch: &Arch) -> Vec<Arch> {
    let mut out = vec![arch.clone()];
    for h in crate::worker::hostarches() {
        if crate::worker::runs_natively(&h, arch) && !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// A DNS label made of `s`: lowercase alphanumerics and `-`, at most 63 characters.
fn dns_label(s: &str) -> String {
    let mapped: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let cut: String = mapped.chars().take(63).collect();
    cut.trim_matches('-').to_string()
}

/// The Pod for `req`, its affinity derived from its constraints over `fleet`'s labels.
pub fn pod(req: &Request, fleet: &[Member], settings: &Settings, image: &str) -> Result<Pod> {
    let effective = req.effective();
    let arch = req.build_arch();
    let hard = clauses(&effective, arch, fleet)?;
    // No constraint at all: no required affinity (an empty term would match no node).
    let required = (!hard.is_empty()).then(|| NodeSelector {
        node_selector_terms: terms(hard),
    });
    let mut preferred = Vec::new();
    if let Some(a) = arch {
        let natives = native_hostarches(a);
        let refs: Vec<&str> = natives.iter().map(Arch::as_str).collect();
        preferred.push(PreferredTerm {
            weight: 100,
            preference: Term {
                match_expressions: vec![self::req("hostarch", "In", &refs)],
            },
        });
    }
    for p in effective.prefer.iter().chain(&settings.prefer) {
        for t in terms(clauses(&p.constraints, None, fleet)?) {
            preferred.push(PreferredTerm {
                weight: p.weight,
                preference: t,
            });
        }
    }
    let mut requests = BTreeMap::new();
    if let Some(h) = &effective.hardware {
        let mb = |s: &Option<super::constraints::Size>| {
            s.as_ref().map(|s| s.mb()).filter(|&mb| mb > 0.0)
        };
        if let Some(cpu) = h.jobs.or(h.processors).filter(|&n| n > 0) {
            requests.insert("cpu".to_string(), cpu.to_string());
        }
        if let Some(m) = mb(&h.physicalmemory).or(mb(&h.memory)) {
            requests.insert("memory".to_string(), format!("{}Mi", m.ceil()));
        }
        if let Some(d) = mb(&h.disk) {
            requests.insert("ephemeral-storage".to_string(), format!("{}Mi", d.ceil()));
        }
    }
    let mut annotations = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            annotations.insert(format!("org.openbuildservice.{k}"), v.to_string());
        }
    };
    put("job", req.id.as_deref());
    put("project", req.project.as_deref());
    put("package", req.package.as_deref());
    put("arch", req.arch.as_ref().map(Arch::as_str));
    let name = dns_label(&format!(
        "obsbox-{}-{}",
        req.package.as_deref().unwrap_or("job"),
        arch.map_or("any", Arch::as_str)
    ));
    Ok(Pod {
        api_version: "v1".into(),
        kind: "Pod".into(),
        metadata: Metadata {
            name,
            labels: BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "obsbox".to_string(),
            )]),
            annotations,
        },
        spec: PodSpec {
            runtime_class_name: "obsbox".into(),
            restart_policy: "Never".into(),
            affinity: Affinity {
                node_affinity: NodeAffinity {
                    required,
                    preferred,
                },
            },
            containers: vec![Container {
                name: "build".into(),
                image: image.to_string(),
                resources: Resources { requests },
            }],
        },
    })
}
