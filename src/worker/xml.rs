//! OBS's `<worker>` document, written and read in `BSXML::worker`'s element order.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};

use super::{Hardware, Linux, Worker};
use crate::xmltree::{self, escape};

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
    // Open and read, without the size query `fs::read` makes: a fleet is 10,000 small files.
    let mut xml = Vec::with_capacity(8192);
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut xml))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut w = from_xml(&xml, &path.to_string_lossy())?;
    if w.workerid.is_none() {
        w.workerid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    Ok(w)
}

/// Where the reader is in a worker document.
#[derive(Debug, Clone, Copy, PartialEq)]
enum At {
    Worker,
    Linux,
    Hardware,
    Cpu,
    /// An element whose text is a field.
    Leaf(Leaf),
    /// An element allocation does not use (`ip`, `job`, …), or the inside of a leaf.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaf {
    Hostarch,
    Buildarch,
    Hostlabel,
    Sandbox,
    Version,
    Flavor,
    Flag,
    Processors,
    Jobs,
    Memory,
    Swap,
    Disk,
}

/// Parses a worker document in one pass over its events, with no element tree (a fleet
/// is 10,000 of them). Elements OBS's worker has but allocation does not use (`ip`, `job`,
/// `owner`, …) are skipped; unknown ones are an error, as is a malformed number.
pub fn from_xml(xml: &[u8], file: &str) -> Result<Worker> {
    use quick_xml::events::Event;
    // A line number is only needed for an error: counted then.
    let line_of = |pos: u64| {
        let end = usize::try_from(pos).unwrap_or(usize::MAX).min(xml.len());
        1 + xml[..end].iter().filter(|&&b| b == b'\n').count()
    };
    let err =
        |line: usize, name: &str, msg: String| anyhow!("{file}: line {line}: <{name}>: {msg}");
    let mut reader = quick_xml::reader::Reader::from_reader(xml);
    let mut w = Worker::default();
    let mut stack: Vec<(At, u64, &'static str)> = Vec::new();
    let mut text = String::new();
    let mut root_line = 0;
    let mut seen_root = false;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| {
            let at = reader.error_position();
            anyhow!(
                "{file}: broken XML at line {}: {}",
                line_of(at),
                crate::text::one_line_error(e)
            )
        })?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let line = || line_of(pos);
                let name_bytes = e.local_name();
                let name = String::from_utf8_lossy(name_bytes.as_ref());
                let at = match stack.last().map(|(a, _, _)| *a) {
                    None => {
                        if seen_root {
                            bail!("{file}: line {}: a second root element", line());
                        }
                        seen_root = true;
                        if name != "worker" {
                            bail!("{file}: the root element is <{name}>, not <worker>");
                        }
                        root_line = line();
                        for (k, v) in xmltree::attrs(e)
                            .map_err(|e| anyhow!("{file}: line {root_line}: {e:#}"))?
                        {
                            match k.as_str() {
                                "hostarch" => w.hostarch = v,
                                "workerid" => w.workerid = Some(v),
                                _ => {}
                            }
                        }
                        At::Worker
                    }
                    Some(At::Worker) => match name.as_ref() {
                        "hostarch" => At::Leaf(Leaf::Hostarch),
                        "buildarch" => At::Leaf(Leaf::Buildarch),
                        "hostlabel" => At::Leaf(Leaf::Hostlabel),
                        "sandbox" => At::Leaf(Leaf::Sandbox),
                        "linux" => {
                            w.linux = Some(Linux::default());
                            At::Linux
                        }
                        "hardware" => {
                            w.hardware = Some(Hardware::default());
                            At::Hardware
                        }
                        "ip" | "port" | "uri" | "registerserver" | "workerid" | "owner"
                        | "tellnojob" | "job" | "arch" | "jobid" | "reposerver" => At::Skipped,
                        _ => return Err(err(line(), &name, "unknown element in <worker>".into())),
                    },
                    Some(At::Linux) => match name.as_ref() {
                        "version" => At::Leaf(Leaf::Version),
                        "flavor" => At::Leaf(Leaf::Flavor),
                        _ => return Err(err(line(), &name, "unknown element in <linux>".into())),
                    },
                    Some(At::Hardware) => {
                        let hw = w.hardware.get_or_insert_default();
                        match name.as_ref() {
                            "cpu" => {
                                hw.cpu_flags = Some(Vec::new());
                                At::Cpu
                            }
                            "processors" => At::Leaf(Leaf::Processors),
                            "jobs" => At::Leaf(Leaf::Jobs),
                            "memory" => At::Leaf(Leaf::Memory),
                            "swap" => At::Leaf(Leaf::Swap),
                            "disk" => At::Leaf(Leaf::Disk),
                            "nativeonly" => {
                                hw.nativeonly = true;
                                At::Skipped
                            }
                            _ => {
                                return Err(err(
                                    line(),
                                    &name,
                                    "unknown element in <hardware>".into(),
                                ));
                            }
                        }
                    }
                    Some(At::Cpu) => {
                        if name != "flag" {
                            return Err(err(line(), &name, "unknown element in <cpu>".into()));
                        }
                        At::Leaf(Leaf::Flag)
                    }
                    Some(At::Leaf(_) | At::Skipped) => At::Skipped,
                };
                if matches!(at, At::Leaf(_)) {
                    text.clear();
                }
                let name = static_name(at);
                if matches!(ev, Event::Empty(_)) {
                    close(&mut w, at, pos, "", &|p, m| err(line_of(p), name, m))?;
                } else {
                    stack.push((at, pos, name));
                }
            }
            Event::Text(t) => {
                let in_leaf = matches!(stack.last(), Some((At::Leaf(_), _, _)));
                if in_leaf || stack.is_empty() {
                    let s = t.decode().map_err(|e| {
                        anyhow!(
                            "{file}: line {}: {}",
                            line_of(pos),
                            crate::text::one_line_error(e)
                        )
                    })?;
                    if in_leaf {
                        text.push_str(&s);
                    } else if !s.trim().is_empty() {
                        bail!(
                            "{file}: line {}: text outside the root element",
                            line_of(pos)
                        );
                    }
                }
            }
            Event::CData(t) => {
                if matches!(stack.last(), Some((At::Leaf(_), _, _))) {
                    let s = t.decode().map_err(|e| {
                        anyhow!(
                            "{file}: line {}: {}",
                            line_of(pos),
                            crate::text::one_line_error(e)
                        )
                    })?;
                    text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                if matches!(stack.last(), Some((At::Leaf(_), _, _))) {
                    let at = |e: String| anyhow!("{file}: line {}: {e}", line_of(pos));
                    let c = r
                        .resolve_char_ref()
                        .map_err(|e| at(crate::text::one_line_error(e)))?;
                    match c {
                        Some(c) => text.push(c),
                        None => {
                            let name =
                                r.decode().map_err(|e| at(crate::text::one_line_error(e)))?;
                            let v = quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| {
                                    at(format!(
                                        "unknown entity `&{};`",
                                        crate::text::one_line(&name)
                                    ))
                                })?;
                            text.push_str(v);
                        }
                    }
                }
            }
            Event::End(_) => {
                let Some((at, start, name)) = stack.pop() else {
                    bail!("{file}: line {}: an end tag without a start", line_of(pos));
                };
                close(&mut w, at, start, text.trim(), &|p, m| {
                    err(line_of(p), name, m)
                })?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some((_, _, name)) = stack.first() {
        bail!("{file}: broken XML: the file ends inside <{name}>");
    }
    if !seen_root {
        bail!("{file}: no root element");
    }
    if w.hostarch.is_empty() {
        bail!("{file}: line {root_line}: <worker> has no hostarch");
    }
    Ok(w)
}

/// The name of an element obsbox reads (for messages); the root's for the others.
fn static_name(at: At) -> &'static str {
    match at {
        At::Leaf(l) => match l {
            Leaf::Hostarch => "hostarch",
            Leaf::Buildarch => "buildarch",
            Leaf::Hostlabel => "hostlabel",
            Leaf::Sandbox => "sandbox",
            Leaf::Version => "version",
            Leaf::Flavor => "flavor",
            Leaf::Flag => "flag",
            Leaf::Processors => "processors",
            Leaf::Jobs => "jobs",
            Leaf::Memory => "memory",
            Leaf::Swap => "swap",
            Leaf::Disk => "disk",
        },
        At::Linux => "linux",
        At::Hardware => "hardware",
        At::Cpu => "cpu",
        At::Worker | At::Skipped => "worker",
    }
}

/// An element's end: a leaf's text goes to its field; `err` makes an error at the
/// element's start position.
fn close(
    w: &mut Worker,
    at: At,
    start: u64,
    text: &str,
    err: &dyn Fn(u64, String) -> anyhow::Error,
) -> Result<()> {
    let At::Leaf(leaf) = at else {
        return Ok(());
    };
    let number = || -> Result<Option<u64>> {
        text.parse::<u64>()
            .map(Some)
            .map_err(|_| err(start, format!("not a number: {text:?}")))
    };
    match leaf {
        Leaf::Hostarch => w.hostarch = text.to_string(),
        Leaf::Buildarch => w.buildarch.push(text.to_string()),
        Leaf::Hostlabel => w.hostlabel.push(text.to_string()),
        Leaf::Sandbox => w.sandbox = Some(text.to_string()),
        Leaf::Version => w.linux.get_or_insert_default().version = Some(text.to_string()),
        Leaf::Flavor => w.linux.get_or_insert_default().flavor = Some(text.to_string()),
        Leaf::Flag => w
            .hardware
            .get_or_insert_default()
            .cpu_flags
            .get_or_insert_default()
            .push(text.to_string()),
        Leaf::Processors => w.hardware.get_or_insert_default().processors = number()?,
        Leaf::Jobs => w.hardware.get_or_insert_default().jobs = number()?,
        Leaf::Memory => w.hardware.get_or_insert_default().memory = number()?,
        Leaf::Swap => w.hardware.get_or_insert_default().swap = number()?,
        Leaf::Disk => w.hardware.get_or_insert_default().disk = number()?,
    }
    Ok(())
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
