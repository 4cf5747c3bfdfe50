//! OBS's `<worker>` document, written and read in `BSXML::worker`'s element order.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};

use super::{Hardware, Linux, Worker};
use crate::model::Arch;
use crate::xmltree::escape;

/// The document bs_worker would register: attributes first, then the children in order.
pub fn to_xml(w: &Worker) -> String {
    let mut s = String::new();
    s.push_str("<worker");
    let _ = write!(s, " hostarch=\"{}\"", escape(w.hostarch.as_str()));
    if let Some(id) = &w.workerid {
        let _ = write!(s, " workerid=\"{}\"", escape(id));
    }
    s.push_str(">\n");
    let leaf = |s: &mut String, indent: &str, name: &str, value: &str| {
        let _ = writeln!(s, "{indent}<{name}>{}</{name}>", escape(value));
    };
    for a in &w.buildarch {
        leaf(&mut s, "  ", "buildarch", a.as_str());
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

/// The largest worker document read: OBS's are under a kilobyte.
const MAX_DOCUMENT: usize = 1 << 20;

/// Reads a worker document from a file; the worker id defaults to the file's stem.
pub fn load(path: &Path) -> Result<Worker> {
    let mut reader = Reader::default();
    let n = reader
        .read(&rustix::fs::CWD, path, false)
        .with_context(|| format!("cannot read {}", path.display()))?;
    reader.parse(n, path, true)
}

/// Reads many worker documents: one buffer for their bytes, and their CPU flag names shared
/// (a fleet's workers repeat the same few dozen flags: each is allocated once, up to
/// [`MAX_SHARED`] distinct names).
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    names: Names,
}

/// The most flag names a [`Reader`] shares; further ones are allocated per worker.
const MAX_SHARED: usize = 4096;

/// Flag names shared between the documents of one [`Reader`].
#[derive(Default)]
struct Names(std::collections::HashSet<Arc<str>, foldhash::fast::FixedState>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(name) {
            return shared.clone();
        }
        let new: Arc<str> = Arc::from(name);
        if self.0.len() < MAX_SHARED {
            self.0.insert(new.clone());
        }
        new
    }
}

impl Reader {
    /// [`load`] of the file `name` in the directory `dir` (opened as `dir_path`): a fleet is
    /// 10,000 small files in one directory, opened without walking its path each time.
    pub fn load_at(
        &mut self,
        dir: &impl std::os::fd::AsFd,
        dir_path: &Path,
        name: &Path,
    ) -> Result<Worker> {
        let n = self
            .read(dir, name, true)
            .with_context(|| format!("cannot read {}", dir_path.join(name).display()))?;
        match from_xml_with(&self.buf[..n], "", &mut self.names) {
            Ok(mut w) => {
                if w.workerid.is_none() {
                    w.workerid = name.file_stem().map(|s| s.to_string_lossy().into_owned());
                }
                Ok(w)
            }
            // Parsed again for the error, which names the whole path.
            Err(_) => self.parse(n, &dir_path.join(name), true),
        }
    }

    /// A document read from `path`, its worker id only from the document.
    pub fn load_exact(&mut self, path: &Path) -> Result<Worker> {
        let n = self
            .read(&rustix::fs::CWD, path, false)
            .with_context(|| format!("cannot read {}", path.display()))?;
        self.parse(n, path, false)
    }

    /// Parses the first `n` bytes of the buffer, read from `path`; with `stem_id`, the worker
    /// id defaults to the file's stem.
    fn parse(&mut self, n: usize, path: &Path, stem_id: bool) -> Result<Worker> {
        let mut w = from_xml_with(&self.buf[..n], &path.to_string_lossy(), &mut self.names)?;
        if stem_id && w.workerid.is_none() {
            w.workerid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(w)
    }

    /// Reads the file `path` (relative to `dir`) into the buffer; its length.
    fn read(
        &mut self,
        dir: &impl std::os::fd::AsFd,
        path: &Path,
        regular: bool,
    ) -> std::io::Result<usize> {
        open_nonblocking(dir, path).and_then(|f| read_small(f, &mut self.buf, regular))
    }
}

/// Opens a file for reading without blocking: a FIFO without a writer reads as empty.
fn open_nonblocking(dir: &impl std::os::fd::AsFd, path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(fd))
}

/// Reads a file of at most [`MAX_DOCUMENT`] bytes into `buf` with plain `read` calls, returning
/// its length. (`read_to_end` on a `File` first asks for its size and position: two more
/// system calls per file.) For a file its directory listed as regular, a short read is its
/// end, as POSIX defines reads of regular files: one `read` call for a small document.
fn read_small(mut f: std::fs::File, buf: &mut Vec<u8>, regular: bool) -> std::io::Result<usize> {
    use std::io::Read as _;
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize((2 * n).clamp(8192, MAX_DOCUMENT + 1), 0);
        }
        let want = buf.len() - n;
        match f.read(&mut buf[n..]) {
            Ok(0) => return Ok(n),
            Ok(k) if regular && k < want => return Ok(n + k),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if n > MAX_DOCUMENT {
            return Err(std::io::Error::other(format!(
                "larger than {} KiB: not a worker document",
                MAX_DOCUMENT >> 10
            )));
        }
    }
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
    from_xml_with(xml, file, &mut Names::default())
}

/// A worker document as far as it has been read: a [`Worker`] whose hostarch may still be
/// missing.
#[derive(Default)]
struct Draft {
    workerid: Option<String>,
    hostarch: Option<Arch>,
    buildarch: Vec<Arch>,
    hostlabel: Vec<String>,
    sandbox: Option<String>,
    linux: Option<Linux>,
    hardware: Option<Hardware>,
}

/// [`from_xml`] with flag names shared through `names`.
fn from_xml_with(xml: &[u8], file: &str, names: &mut Names) -> Result<Worker> {
    use quick_xml::events::Event;
    // A line number is only needed for an error: counted then.
    let line_of = |pos: u64| {
        let end = usize::try_from(pos).unwrap_or(usize::MAX).min(xml.len());
        1 + xml[..end].iter().filter(|&&b| b == b'\n').count()
    };
    let err =
        |line: usize, name: &str, msg: String| anyhow!("{file}: line {line}: <{name}>: {msg}");
    let undecodable = |pos: u64, e: quick_xml::encoding::EncodingError| {
        anyhow!(
            "{file}: line {}: {}",
            line_of(pos),
            crate::text::one_line_error(e)
        )
    };
    let mut reader = quick_xml::reader::Reader::from_reader(xml);
    let mut w = Draft::default();
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
                let local = e.local_name();
                // Matched as bytes; made text only for a message.
                let name = local.as_ref();
                let text_of = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
                let unknown = |parent: &str| {
                    err(
                        line(),
                        &text_of(name),
                        format!("unknown element in <{parent}>"),
                    )
                };
                let at = match stack.last().map(|(a, _, _)| *a) {
                    None => {
                        if seen_root {
                            bail!("{file}: line {}: a second root element", line());
                        }
                        seen_root = true;
                        if name != b"worker" {
                            bail!(
                                "{file}: the root element is <{}>, not <worker>",
                                text_of(name)
                            );
                        }
                        root_line = line();
                        // Every attribute is checked (duplicates, escapes); two are kept.
                        let bad = |e: quick_xml::Error| {
                            anyhow!(
                                "{file}: line {root_line}: {}",
                                crate::text::one_line_error(e)
                            )
                        };
                        for a in e.attributes() {
                            let a = a.map_err(|e| bad(e.into()))?;
                            let value = a
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map_err(&bad)?;
                            match a.key.local_name().as_ref() {
                                b"hostarch" if !value.is_empty() => {
                                    w.hostarch = Some(value.parse().map_err(|e| {
                                        anyhow!("{file}: line {root_line}: hostarch: {e}")
                                    })?)
                                }
                                b"workerid" => w.workerid = Some(value.into_owned()),
                                _ => {}
                            }
                        }
                        At::Worker
                    }
                    Some(At::Worker) => match name {
                        b"hostarch" => At::Leaf(Leaf::Hostarch),
                        b"buildarch" => At::Leaf(Leaf::Buildarch),
                        b"hostlabel" => At::Leaf(Leaf::Hostlabel),
                        b"sandbox" => At::Leaf(Leaf::Sandbox),
                        b"linux" => {
                            w.linux = Some(Linux::default());
                            At::Linux
                        }
                        b"hardware" => {
                            w.hardware = Some(Hardware::default());
                            At::Hardware
                        }
                        b"ip" | b"port" | b"uri" | b"registerserver" | b"workerid" | b"owner"
                        | b"tellnojob" | b"job" | b"arch" | b"jobid" | b"reposerver" => At::Skipped,
                        _ => {
                            return Err(unknown("worker"));
                        }
                    },
                    Some(At::Linux) => match name {
                        b"version" => At::Leaf(Leaf::Version),
                        b"flavor" => At::Leaf(Leaf::Flavor),
                        _ => {
                            return Err(unknown("linux"));
                        }
                    },
                    Some(At::Hardware) => {
                        let hw = w.hardware.get_or_insert_default();
                        match name {
                            b"cpu" => {
                                hw.cpu_flags = Some(Vec::new());
                                At::Cpu
                            }
                            b"processors" => At::Leaf(Leaf::Processors),
                            b"jobs" => At::Leaf(Leaf::Jobs),
                            b"memory" => At::Leaf(Leaf::Memory),
                            b"swap" => At::Leaf(Leaf::Swap),
                            b"disk" => At::Leaf(Leaf::Disk),
                            b"nativeonly" => {
                                hw.nativeonly = true;
                                At::Skipped
                            }
                            _ => {
                                return Err(unknown("hardware"));
                            }
                        }
                    }
                    Some(At::Cpu) => {
                        if name != b"flag" {
                            return Err(unknown("cpu"));
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
                    close(&mut w, names, at, pos, "", &|p, m| err(line_of(p), name, m))?;
                } else {
                    stack.push((at, pos, name));
                }
            }
            Event::Text(t) => {
                let in_leaf = matches!(stack.last(), Some((At::Leaf(_), _, _)));
                if in_leaf || stack.is_empty() {
                    let s = t.decode().map_err(|e| undecodable(pos, e))?;
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
                    let s = t.decode().map_err(|e| undecodable(pos, e))?;
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
                close(&mut w, names, at, start, text.trim(), &|p, m| {
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
    let Some(hostarch) = w.hostarch else {
        bail!("{file}: line {root_line}: <worker> has no hostarch");
    };
    Ok(Worker {
        workerid: w.workerid,
        hostarch,
        buildarch: w.buildarch,
        hostlabel: w.hostlabel,
        sandbox: w.sandbox,
        linux: w.linux,
        hardware: w.hardware,
    })
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
    w: &mut Draft,
    names: &mut Names,
    at: At,
    start: u64,
    text: &str,
    err: &dyn Fn(u64, String) -> anyhow::Error,
) -> Result<()> {
    let At::Leaf(leaf) = at else {
        return Ok(());
    };
    let arch = || -> Result<Arch> { text.parse().map_err(|e| err(start, format!("{e}"))) };
    let number = || -> Result<Option<u64>> {
        text.parse::<u64>()
            .map(Some)
            .map_err(|_| err(start, format!("not a number: {text:?}")))
    };
    match leaf {
        Leaf::Hostarch => w.hostarch = Some(arch()?),
        Leaf::Buildarch => w.buildarch.push(arch()?),
        Leaf::Hostlabel => w.hostlabel.push(text.to_string()),
        Leaf::Sandbox => w.sandbox = Some(text.to_string()),
        Leaf::Version => w.linux.get_or_insert_default().version = Some(text.to_string()),
        Leaf::Flavor => w.linux.get_or_insert_default().flavor = Some(text.to_string()),
        Leaf::Flag => w
            .hardware
            .get_or_insert_default()
            .cpu_flags
            .get_or_insert_default()
            .push(names.get(text)),
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
            hostarch: "x86_64".parse().unwrap(),
            buildarch: vec!["x86_64".parse().unwrap(), "i586".parse().unwrap()],
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
    fn arches_are_checked_names() {
        let e = from_xml(b"<worker hostarch='x/y'/>", "w.xml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "w.xml: line 1: hostarch: Architecture \"x/y\" is not an architecture name"
        );
        let e = from_xml(
            b"<worker hostarch='x86_64'>\n<buildarch>.x86</buildarch></worker>",
            "w.xml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "w.xml: line 2: <buildarch>: Architecture \".x86\" is not an architecture name"
        );
        let e = from_xml(b"<worker hostarch=''/>", "w.xml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no hostarch"), "{e}");
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

    #[test]
    fn fleet_files_are_bounded_and_never_block() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let doc = b"<worker hostarch='x86_64'>\n  <sandbox>kvm</sandbox>\n</worker>\n";
        std::fs::write(d.join("small"), doc).unwrap();
        let big = [
            &b"<worker hostarch='x86_64'>"[..],
            &vec![b' '; MAX_DOCUMENT],
        ]
        .concat();
        std::fs::write(d.join("big"), big).unwrap();
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let dirfd = std::fs::File::open(d).unwrap();
        let mut reader = Reader::default();
        // Read relative to the directory, with a buffer kept across files.
        let w = reader.load_at(&dirfd, d, Path::new("small")).unwrap();
        assert_eq!(w.workerid.as_deref(), Some("small"));
        assert_eq!(w.sandbox.as_deref(), Some("kvm"));
        let e = format!(
            "{:#}",
            reader.load_at(&dirfd, d, Path::new("big")).unwrap_err()
        );
        assert!(
            e.contains("big") && e.contains("larger than 1024 KiB"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        // A FIFO without a writer is an empty document, not a hang.
        let e = format!("{:#}", load(&d.join("fifo")).unwrap_err());
        assert!(e.contains("fifo") && e.contains("no root element"), "{e}");
        // A broken document read by name is reported by its whole path.
        std::fs::write(d.join("broken"), b"<worker hostarch='x'><gpu/></worker>").unwrap();
        let e = format!(
            "{:#}",
            reader.load_at(&dirfd, d, Path::new("broken")).unwrap_err()
        );
        assert!(
            e.starts_with(&d.join("broken").display().to_string()),
            "{e}"
        );
    }
}
