//! OBS's `<worker>` document, written and read in `BSXML::worker`'s element order.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};

use super::{Hardware, Linux, Worker};
use crate::xmltree::{self, Element, escape};

/// The document bs_worker would register: attributes first, then the children in order.
pub fn to_xml(w: &Worker) -> String {
    let mut s = String::new();
    s.push_str("<worker");
    let _ = write!(s, " hostarch=\"{}\"", escape(&w.hostarch));
    if let Some(id) = &w.workerid {
        let _ = write!(s, " workerid=\"{}\"", escape(id));
    }
    s.push_str(">\n");
    let leaf = |s: &mut String, indent: &str, name: &str, value: &str| {
        let _ = writeln!(s, "{indent}<{name}>{}</{name}>", escape(value));
    };
    for a in &w.buildarch {
        leaf(&mut s, "  ", "buildarch", a);
    }
    for l in &w.hostlabel {
        leaf(&mut s, "  ", "hostlabel", l);
    }
    if let Some(sb) = &w.sandbox {
        leaf(&mut s, "  ", "sandbox", sb);
    }
    if let Some(linux) = &w.linux {
        s.push_str("  <linux>\n");
        if let Some(v) = &linux.version {
            leaf(&mut s, "    ", "version", v);
        }
        if let Some(f) = &linux.flavor {
            leaf(&mut s, "    ", "flavor", f);
        }
        s.push_str("  </linux>\n");
    }
    if let Some(hw) = &w.hardware {
        s.push_str("  <hardware>\n");
        if let Some(flags) = &hw.cpu_flags {
            s.push_str("    <cpu>\n");
            for f in flags {
                leaf(&mut s, "      ", "flag", f);
            }
            s.push_str("    </cpu>\n");
        }
        let numbers = [("processors", hw.processors), ("jobs", hw.jobs)];
        for (name, n) in numbers {
            if let Some(n) = n {
                leaf(&mut s, "    ", name, &n.to_string());
            }
        }
        if hw.nativeonly {
            s.push_str("    <nativeonly/>\n");
        }
        let sizes = [("memory", hw.memory), ("swap", hw.swap), ("disk", hw.disk)];
        for (name, n) in sizes {
            if let Some(n) = n {
                leaf(&mut s, "    ", name, &n.to_string());
            }
        }
        s.push_str("  </hardware>\n");
    }
    s.push_str("</worker>\n");
    s
}

/// Reads a worker document from a file; the worker id defaults to the file's stem.
pub fn load(path: &Path) -> Result<Worker> {
    let xml = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut w = from_xml(&xml, &path.display().to_string())?;
    if w.workerid.is_none() {
        w.workerid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    Ok(w)
}

/// Parses a worker document. Elements OBS's worker has but allocation does not use (`ip`,
/// `job`, `owner`, …) are skipped; unknown ones are an error, as is a malformed number.
pub fn from_xml(xml: &[u8], file: &str) -> Result<Worker> {
    let root = xmltree::parse(xml, file)?;
    if root.name != "worker" {
        bail!("{file}: the root element is <{}>, not <worker>", root.name);
    }
    let err = |el: &Element, msg: String| anyhow!("{file}: line {}: <{}>: {msg}", el.line, el.name);
    let mut w = Worker {
        hostarch: root.attr("hostarch").unwrap_or_default().to_string(),
        workerid: root.attr("workerid").map(str::to_string),
        ..Worker::default()
    };
    for c in &root.children {
        match c.name.as_str() {
            // Tolerated as an element too: hand-written fleets often do that.
            "hostarch" => w.hostarch = c.text.clone(),
            "buildarch" => w.buildarch.push(c.text.clone()),
            "hostlabel" => w.hostlabel.push(c.text.clone()),
            "sandbox" => w.sandbox = Some(c.text.clone()),
            "linux" => {
                let mut linux = Linux::default();
                for l in &c.children {
                    match l.name.as_str() {
                        "version" => linux.version = Some(l.text.clone()),
                        "flavor" => linux.flavor = Some(l.text.clone()),
                        _ => return Err(err(l, "unknown element in <linux>".into())),
                    }
                }
                w.linux = Some(linux);
            }
            "hardware" => {
                let mut hw = Hardware::default();
                for h in &c.children {
                    let number = || -> Result<Option<u64>> {
                        h.text
                            .parse::<u64>()
                            .map(Some)
                            .map_err(|_| err(h, format!("not a number: {:?}", h.text)))
                    };
                    match h.name.as_str() {
                        "cpu" => {
                            let mut flags = Vec::new();
                            for f in &h.children {
                                if f.name != "flag" {
                                    return Err(err(f, "unknown element in <cpu>".into()));
                                }
                                flags.push(f.text.clone());
                            }
                            hw.cpu_flags = Some(flags);
                        }
                        "processors" => hw.processors = number()?,
                        "jobs" => hw.jobs = number()?,
                        "memory" => hw.memory = number()?,
                        "swap" => hw.swap = number()?,
                        "disk" => hw.disk = number()?,
                        "nativeonly" => hw.nativeonly = true,
                        _ => return Err(err(h, "unknown element in <hardware>".into())),
                    }
                }
                w.hardware = Some(hw);
            }
            "ip" | "port" | "uri" | "registerserver" | "workerid" | "owner" | "tellnojob"
            | "job" | "arch" | "jobid" | "reposerver" => {}
            _ => return Err(err(c, "unknown element in <worker>".into())),
        }
    }
    if w.hostarch.is_empty() {
        bail!("{file}: line {}: <worker> has no hostarch", root.line);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let w = Worker {
            workerid: Some("w1".into()),
            hostarch: "x86_64".into(),
            buildarch: vec!["x86_64".into(), "i586".into()],
            hostlabel: vec!["a&b".into()],
            sandbox: Some("kvm".into()),
            linux: Some(Linux {
                version: Some("6.4.0".into()),
                flavor: Some("default".into()),
            }),
            hardware: Some(Hardware {
                cpu_flags: Some(vec!["sse2".into()]),
                processors: Some(8),
                jobs: Some(8),
                nativeonly: true,
                memory: Some(16000),
                swap: Some(0),
                disk: Some(50000),
            }),
        };
        let xml = to_xml(&w);
        assert!(xml.starts_with("<worker hostarch=\"x86_64\" workerid=\"w1\">"));
        assert_eq!(from_xml(xml.as_bytes(), "t").unwrap(), w);
    }

    #[test]
    fn errors_name_file_and_element() {
        let e = from_xml(
            b"<worker hostarch='x'>\n<hardware><memory>lots</memory></hardware></worker>",
            "w.xml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "w.xml: line 2: <memory>: not a number: \"lots\"");
        let e = from_xml(b"<worker><sandbox>kvm</sandbox></worker>", "w.xml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no hostarch"), "{e}");
        assert!(from_xml(b"<workers/>", "w.xml").is_err());
        assert!(from_xml(b"<worker hostarch='x'><gpu/></worker>", "w.xml").is_err());
    }
}
