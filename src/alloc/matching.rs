//! One job's constraints against one worker, rule by rule in the order of OBS's dispatcher
//! oracle (`BSDispatcher::Constraints::oracle`), each failure explained in words.

use std::cmp::Ordering;

use serde::Serialize;

use super::constraints::{Constraints, SECURE_SANDBOXES, Size};
use crate::repo::version::compare_rpm_evr_obs;
use crate::worker::Worker;

/// Why a worker cannot take the job: the rule (a constraint path such as
/// `hardware:memory:size`) and the explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub rule: String,
    pub explanation: String,
}

fn fail(rule: &str, explanation: String) -> Failure {
    Failure {
        rule: rule.into(),
        explanation,
    }
}

/// The first failing rule, or `Ok`.
pub fn check(w: &Worker, c: &Constraints, arch: Option<&str>) -> Result<(), Failure> {
    match failures(w, c, arch, true).into_iter().next() {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Every failing rule, in OBS's order (for "which constraint excludes the most workers").
pub fn all_failures(w: &Worker, c: &Constraints, arch: Option<&str>) -> Vec<Failure> {
    failures(w, c, arch, false)
}

fn failures(w: &Worker, c: &Constraints, arch: Option<&str>, first: bool) -> Vec<Failure> {
    let mut out = Vec::new();
    macro_rules! push {
        ($f:expr) => {{
            out.push($f);
            if first {
                return out;
            }
        }};
    }

    // The dispatcher offers a job only to workers registered for its arch: the worker's
    // buildarch list, or its hostarch when it lists none.
    // A worker that says <nativeonly/> does not build what needs a helper: a personality
    // change (i586 on x86_64) or an emulator.
    if let Some(a) = arch {
        let archs = w.build_arches();
        if !archs.contains(&a) {
            push!(fail(
                "arch",
                format!(
                    "arch {a} is not among the worker's build arches ({})",
                    archs.join(", ")
                )
            ));
        } else if a != w.hostarch && w.hardware.as_ref().is_some_and(|h| h.nativeonly) {
            push!(fail(
                "arch",
                format!(
                    "arch {a} needs a helper on a {} worker and the worker is nativeonly",
                    w.hostarch
                )
            ));
        }
    }

    // hostlabel: each label must be on the worker, or, with exclude="true", must not be.
    for l in &c.hostlabel {
        let has = w.hostlabel.contains(&l.value);
        if l.exclude && has {
            push!(fail(
                "hostlabel",
                format!("hostlabel {} is excluded and the worker has it", l.value)
            ));
        } else if !l.exclude && !has {
            push!(fail(
                "hostlabel",
                format!("hostlabel {} is required and the worker lacks it", l.value)
            ));
        }
    }

    // sandbox: equal to the worker's; `secure` means one of the secure sandboxes; with
    // exclude="true" it must differ. An empty value constrains nothing.
    if let Some(sb) = c.sandbox.as_ref().filter(|s| !s.value.is_empty()) {
        let ws = w.sandbox.as_deref().unwrap_or("");
        let shown = if ws.is_empty() { "none" } else { ws };
        if sb.value == "cannot_merge_sandbox" {
            // OBS's marker for an include and an exclude that rule each other out.
            push!(fail(
                "sandbox",
                "sandbox: the merged constraints require and exclude the same sandbox (OBS: cannot_merge_sandbox)".into()
            ));
        } else if sb.excluded() {
            if sb.value == ws {
                push!(fail(
                    "sandbox",
                    format!("sandbox {} is excluded and the worker has it", sb.value)
                ));
            }
        } else if sb.value == "secure" {
            if !SECURE_SANDBOXES.contains(&ws) {
                push!(fail(
                    "sandbox",
                    format!(
                        "sandbox secure ({}) is required, the worker has {shown}",
                        SECURE_SANDBOXES.join(", ")
                    )
                ));
            }
        } else if sb.value != ws {
            push!(fail(
                "sandbox",
                format!("sandbox {} is required, the worker has {shown}", sb.value)
            ));
        }
    }

    // linux: the worker must report linux; flavor equal; version within min..max by rpm
    // version comparison (`Build::Rpm::verscmp`).
    if let Some(lc) = &c.linux {
        match &w.linux {
            None => push!(fail(
                "linux",
                "linux is constrained and the worker reports no linux".into()
            )),
            Some(wl) => {
                if let Some(f) = lc.flavor.as_ref().filter(|f| !f.is_empty()) {
                    let wf = wl.flavor.as_deref().unwrap_or("");
                    if f != wf {
                        push!(fail(
                            "linux:flavor",
                            format!(
                                "linux:flavor {f} is required, the worker has {}",
                                or_none(wf)
                            )
                        ));
                    }
                }
                if lc.version {
                    match &wl.version {
                        None => push!(fail(
                            "linux:version",
                            "linux:version is constrained and the worker reports none".into()
                        )),
                        Some(v) => {
                            if let Some(min) = lc.min.as_ref().filter(|m| !m.is_empty())
                                && compare_rpm_evr_obs(min, v) == Ordering::Greater
                            {
                                push!(fail(
                                    "linux:version:min",
                                    format!("linux:version:min {min} > {v} on the worker")
                                ));
                            }
                            if let Some(max) = lc.max.as_ref().filter(|m| !m.is_empty())
                                && compare_rpm_evr_obs(max, v) == Ordering::Less
                            {
                                push!(fail(
                                    "linux:version:max",
                                    format!("linux:version:max {max} < {v} on the worker")
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    // hardware: the worker must report hardware; processors, jobs and disk at least the
    // asked number; memory against memory + swap; memoryperjob times the worker's jobs
    // (1 if unknown) against memory + swap; physicalmemory against memory alone; cpu flags
    // present, or absent with exclude="true". A 0 asks for nothing, as in OBS.
    if let Some(hc) = &c.hardware {
        let Some(wh) = &w.hardware else {
            push!(fail(
                "hardware",
                "hardware is constrained and the worker reports none".into()
            ));
            return out;
        };
        if let Some(p) = hc.processors.filter(|&p| p > 0) {
            let have = wh.processors.unwrap_or(0);
            if p > have {
                push!(fail(
                    "hardware:processors",
                    format!("hardware:processors {p} > {have} available")
                ));
            }
        }
        if let Some(j) = hc.jobs.filter(|&j| j > 0) {
            let have = wh.jobs.unwrap_or(0);
            if j > have {
                push!(fail(
                    "hardware:jobs",
                    format!("hardware:jobs {j} > {have} available")
                ));
            }
        }
        let memory = wh.memory.unwrap_or(0);
        let swap = wh.swap.unwrap_or(0);
        if let Some(mb) = asked(&hc.disk) {
            let have = wh.disk.unwrap_or(0);
            if mb > have as f64 {
                push!(fail(
                    "hardware:disk:size",
                    format!("hardware:disk:size {} MB > {have} MB available", mbs(mb))
                ));
            }
        }
        if let Some(mb) = asked(&hc.memory)
            && mb > (memory + swap) as f64
        {
            push!(fail(
                "hardware:memory:size",
                format!(
                    "hardware:memory:size {} MB > {} MB available (memory {memory} + swap {swap})",
                    mbs(mb),
                    memory + swap
                )
            ));
        }
        if let Some(mb) = asked(&hc.memoryperjob) {
            let jobs = wh.jobs.filter(|&j| j > 0).unwrap_or(1);
            if mb * jobs as f64 > (memory + swap) as f64 {
                push!(fail(
                    "hardware:memoryperjob:size",
                    format!(
                        "hardware:memoryperjob:size {} MB × {jobs} jobs = {} MB > {} MB available (memory {memory} + swap {swap})",
                        mbs(mb),
                        mbs(mb * jobs as f64),
                        memory + swap
                    )
                ));
            }
        }
        if let Some(mb) = asked(&hc.physicalmemory)
            && mb > memory as f64
        {
            push!(fail(
                "hardware:physicalmemory:size",
                format!(
                    "hardware:physicalmemory:size {} MB > {memory} MB available",
                    mbs(mb)
                )
            ));
        }
        if let Some(flags) = &hc.cpu {
            let wf = wh.cpu_flags.as_deref().unwrap_or(&[]);
            for f in flags {
                let has = wf.contains(&f.value);
                if f.exclude && has {
                    push!(fail(
                        "hardware:cpu:flag",
                        format!(
                            "hardware:cpu:flag {} is excluded and the worker has it",
                            f.value
                        )
                    ));
                } else if !f.exclude && !has {
                    push!(fail(
                        "hardware:cpu:flag",
                        format!(
                            "hardware:cpu:flag {} is required and the worker lacks it",
                            f.value
                        )
                    ));
                }
            }
        }
    }
    out
}

/// A size that asks for something (OBS skips a size whose MB value is 0).
fn asked(s: &Option<Size>) -> Option<f64> {
    s.as_ref().map(Size::mb).filter(|&mb| mb > 0.0)
}

fn mbs(mb: f64) -> String {
    if mb.fract() == 0.0 {
        format!("{mb:.0}")
    } else {
        format!("{mb:.2}")
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "none" } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::version::rpmvercmp;

    #[test]
    fn rpm_version_order() {
        use Ordering::*;
        assert_eq!(rpmvercmp("6.4.0", "6.4.0"), Equal);
        assert_eq!(rpmvercmp("6.10", "6.9"), Greater);
        assert_eq!(rpmvercmp("5.3", "5.3.18"), Less);
        assert_eq!(rpmvercmp("1.0a", "1.0"), Greater);
        assert_eq!(rpmvercmp("1.0", "1.0a"), Less);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Less);
        assert_eq!(rpmvercmp("1.0^git1", "1.0"), Greater);
        assert_eq!(rpmvercmp("1.0^git1", "1.0.1"), Less);
        assert_eq!(rpmvercmp("2", "a"), Greater);
        assert_eq!(rpmvercmp("007", "7"), Equal);
        assert_eq!(compare_rpm_evr_obs("1:1.0", "2.0"), Greater);
        assert_eq!(
            compare_rpm_evr_obs("6.4.0-150600.23", "6.4.0-150600.9"),
            Greater
        );
        assert_eq!(compare_rpm_evr_obs("6.4.0", "6.4.0-1"), Equal);
    }
}
