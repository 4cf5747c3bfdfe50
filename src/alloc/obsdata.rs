//! OBS's constraints as OBS's Perl holds them: a tree of hashes, lists and strings shaped by
//! `BSXML::constraints`, read from `_constraints` XML the way XML::Structured reads it and
//! from constraint lines the way `BSDispatcher::Constraints::list2struct` builds it, merged
//! (`mergeconstraints`) and overwritten (`overwriteconstraints`) on that tree. Working on the
//! same shape as OBS keeps the corner cases OBS's (an empty element, a repeated word, the
//! `+`/`!`/`=` modifiers); [`super::constraints`] turns the result into typed constraints.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};

use crate::model::Arch;
use crate::xmltree::Element;

/// A Perl value of a parsed constraints document.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    List(Vec<Val>),
    Hash(Map),
}

pub type Map = BTreeMap<String, Val>;

impl Val {
    pub fn hash(&self) -> Option<&Map> {
        match self {
            Val::Hash(m) => Some(m),
            _ => None,
        }
    }

    pub fn list(&self) -> &[Val] {
        match self {
            Val::List(l) => l,
            _ => &[],
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// How an element of the schema holds its value.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string element, at most one.
    Scalar,
    /// A string element, any number (`[ 'arch' ]`).
    ScalarList,
    /// An element with attributes/children, at most one.
    Hash(&'static Node),
    /// An element with attributes/children, any number (`[[ 'hostlabel' => … ]]`).
    HashList(&'static Node),
}

/// One element of the schema: its attributes, child elements and whether it has text.
#[derive(Debug)]
pub struct Node {
    pub name: &'static str,
    pub attrs: &'static [&'static str],
    pub children: &'static [(&'static str, Kind)],
    pub content: bool,
}

impl Node {
    fn child(&self, name: &str) -> Option<Kind> {
        self.children
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    /// What a name means inside this element for list2struct: attributes and the text are
    /// plain strings there, like string elements.
    fn known(&self, name: &str) -> Option<Kind> {
        if self.attrs.contains(&name) || (self.content && name == "_content") {
            return Some(Kind::Scalar);
        }
        self.child(name)
    }
}

static SIZE: Node = Node {
    name: "size",
    attrs: &["unit"],
    children: &[],
    content: true,
};
static FLAGGED_LABEL: Node = Node {
    name: "hostlabel",
    attrs: &["exclude"],
    children: &[],
    content: true,
};
static FLAGGED_SANDBOX: Node = Node {
    name: "sandbox",
    attrs: &["exclude"],
    children: &[],
    content: true,
};
static FLAGGED_FLAG: Node = Node {
    name: "flag",
    attrs: &["exclude"],
    children: &[],
    content: true,
};
static VERSION: Node = Node {
    name: "version",
    attrs: &[],
    children: &[("max", Kind::Scalar), ("min", Kind::Scalar)],
    content: false,
};
static LINUX: Node = Node {
    name: "linux",
    attrs: &[],
    children: &[("version", Kind::Hash(&VERSION)), ("flavor", Kind::Scalar)],
    content: false,
};
static CPU: Node = Node {
    name: "cpu",
    attrs: &[],
    children: &[("flag", Kind::HashList(&FLAGGED_FLAG))],
    content: false,
};
static DISK: Node = Node {
    name: "disk",
    attrs: &[],
    children: &[("size", Kind::Hash(&SIZE))],
    content: false,
};
static MEMORY: Node = Node {
    name: "memory",
    ..DISK
};
static MEMORYPERJOB: Node = Node {
    name: "memoryperjob",
    ..DISK
};
static PHYSICALMEMORY: Node = Node {
    name: "physicalmemory",
    ..DISK
};
static HARDWARE: Node = Node {
    name: "hardware",
    attrs: &[],
    children: &[
        ("cpu", Kind::Hash(&CPU)),
        ("processors", Kind::Scalar),
        ("jobs", Kind::Scalar),
        ("disk", Kind::Hash(&DISK)),
        ("memory", Kind::Hash(&MEMORY)),
        ("memoryperjob", Kind::Hash(&MEMORYPERJOB)),
        ("physicalmemory", Kind::Hash(&PHYSICALMEMORY)),
    ],
    content: false,
};
static CONDITIONS: Node = Node {
    name: "conditions",
    attrs: &[],
    children: &[("arch", Kind::ScalarList), ("package", Kind::ScalarList)],
    content: false,
};
static OVERWRITE: Node = Node {
    name: "overwrite",
    attrs: &[],
    children: &[
        ("conditions", Kind::Hash(&CONDITIONS)),
        ("hostlabel", Kind::HashList(&FLAGGED_LABEL)),
        ("sandbox", Kind::HashList(&FLAGGED_SANDBOX)),
        ("linux", Kind::Hash(&LINUX)),
        ("hardware", Kind::Hash(&HARDWARE)),
    ],
    content: false,
};
/// `BSXML::constraints` of current OBS (several sandboxes, cpu flags with `exclude`,
/// memoryperjob).
pub static CONSTRAINTS: Node = Node {
    name: "constraints",
    attrs: &[],
    children: &[
        ("hostlabel", Kind::HashList(&FLAGGED_LABEL)),
        ("sandbox", Kind::HashList(&FLAGGED_SANDBOX)),
        ("linux", Kind::Hash(&LINUX)),
        ("hardware", Kind::Hash(&HARDWARE)),
        ("overwrite", Kind::HashList(&OVERWRITE)),
    ],
    content: false,
};

// ---------------------------------------------------------------------------------------
// XML, as XML::Structured reads it against the schema

/// Reads an element tree against `node`: unknown elements and attributes, a second copy of
/// a single element and text where the schema has none are errors (OBS's reader dies on
/// them and the dispatcher then calls the file bad); empty elements and any attribute value
/// are taken as they are.
pub fn from_element(
    el: &Element,
    node: &'static Node,
    err: &dyn Fn(&Element, String) -> anyhow::Error,
) -> Result<Map> {
    let mut out = Map::new();
    for (k, v) in &el.attrs {
        if !node.attrs.contains(&k.as_str()) {
            return Err(err(el, format!("unknown attribute {k:?}")));
        }
        out.insert(k.clone(), Val::Str(v.clone()));
    }
    if !el.text.is_empty() {
        if !node.content {
            return Err(err(el, "has text, but holds only elements".into()));
        }
        out.insert("_content".into(), Val::Str(el.text.clone()));
    }
    for c in &el.children {
        let Some(kind) = node.child(&c.name) else {
            return Err(err(c, format!("unknown element in <{}>", node.name)));
        };
        match kind {
            Kind::Scalar | Kind::ScalarList => {
                if let Some((k, _)) = c.attrs.first() {
                    return Err(err(c, format!("unknown attribute {k:?}")));
                }
                if let Some(x) = c.children.first() {
                    return Err(err(x, format!("unknown element in <{}>", c.name)));
                }
                let v = Val::Str(c.text.clone());
                if matches!(kind, Kind::Scalar) {
                    if out.contains_key(&c.name) {
                        return Err(err(c, "may appear only once here".into()));
                    }
                    out.insert(c.name.clone(), v);
                } else {
                    push(&mut out, &c.name, v);
                }
            }
            Kind::Hash(n) => {
                if out.contains_key(&c.name) {
                    return Err(err(c, "may appear only once here".into()));
                }
                let v = Val::Hash(from_element(c, n, err)?);
                out.insert(c.name.clone(), v);
            }
            Kind::HashList(n) => {
                let v = Val::Hash(from_element(c, n, err)?);
                push(&mut out, &c.name, v);
            }
        }
    }
    Ok(out)
}

fn push(out: &mut Map, key: &str, v: Val) {
    match out
        .entry(key.to_string())
        .or_insert_with(|| Val::List(Vec::new()))
    {
        Val::List(l) => l.push(v),
        other => *other = Val::List(vec![v]),
    }
}

// ---------------------------------------------------------------------------------------
// Constraint lines, as list2struct builds them

/// Applies one constraint line (split at white space, as OBS does) to `top`: a colon path
/// whose parts may end in `+` (add another), `=` (remove; with words, replace) or `!`
/// (change the last one), then `name=value` attributes, then the text. Every word of the
/// text makes its own entry where the element may repeat (`hostlabel A B`).
pub fn list2struct_line(top: &mut Map, line: &str) -> Result<()> {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    let Some((path, rest)) = words.split_first() else {
        return Ok(());
    };
    // Perl's split drops trailing empty fields.
    let mut loc: Vec<&str> = path.split(':').collect();
    while loc.last() == Some(&"") {
        loc.pop();
    }
    let clones = step(top, &CONSTRAINTS, &loc, rest, false)?;
    debug_assert!(clones.is_empty());
    Ok(())
}

/// One level of the path below `out` (an element of kind `node`); returns the copies a
/// repeating element gets for the extra words of its text.
fn step(
    out: &mut Map,
    node: &'static Node,
    loc: &[&str],
    words: &[String],
    in_list: bool,
) -> Result<Vec<Map>> {
    let Some((first, rest)) = loc.split_first() else {
        return finish(out, node, words, in_list);
    };
    let mut e = *first;
    let (mut addit, mut delit, mut modit) = (false, false, false);
    if let Some(x) = e.strip_suffix('+') {
        (e, addit) = (x, true);
    } else if let Some(x) = e.strip_suffix('=') {
        (e, delit) = (x, true);
    } else if let Some(x) = e.strip_suffix('!') {
        (e, modit) = (x, true);
    }
    if !addit && !delit && !rest.is_empty() {
        modit = true;
    }
    let Some(kind) = node.known(e) else {
        bail!("unknown element: {e}");
    };
    if delit {
        out.remove(e);
        if rest.is_empty() && words.is_empty() {
            return Ok(Vec::new());
        }
    }
    match kind {
        Kind::Scalar | Kind::ScalarList => {
            if !rest.is_empty() {
                bail!("element '{e}' has subelements");
            }
            if words.first().is_some_and(|w| w.contains('=')) {
                bail!("element '{e}' contains attributes");
            }
            if matches!(kind, Kind::Scalar) {
                if !addit {
                    out.remove(e);
                }
                if out.contains_key(e) {
                    bail!("element '{e}' must be singleton");
                }
                out.insert(e.to_string(), Val::Str(words.join(" ")));
            } else {
                if modit {
                    out.remove(e);
                }
                for w in words {
                    push(out, e, Val::Str(w.clone()));
                }
            }
            Ok(Vec::new())
        }
        Kind::Hash(n) => {
            let mut nout = match out.remove(e) {
                Some(Val::Hash(m)) if !addit => m,
                Some(v) => {
                    out.insert(e.to_string(), v);
                    bail!("element '{e}' must be singleton");
                }
                None => Map::new(),
            };
            let r = step(&mut nout, n, rest, words, false);
            out.insert(e.to_string(), Val::Hash(nout));
            r?;
            Ok(Vec::new())
        }
        Kind::HashList(n) => {
            let Val::List(list) = out
                .entry(e.to_string())
                .or_insert_with(|| Val::List(Vec::new()))
            else {
                bail!("element '{e}' is not a list");
            };
            let mut nout = match (modit, list.pop()) {
                (true, Some(Val::Hash(m))) => m,
                (_, Some(v)) => {
                    list.push(v);
                    Map::new()
                }
                (_, None) => Map::new(),
            };
            let clones = step(&mut nout, n, rest, words, true)?;
            list.push(Val::Hash(nout));
            list.extend(clones.into_iter().map(Val::Hash));
            Ok(Vec::new())
        }
    }
}

/// The end of the path: attributes (`name=value`) then the text.
fn finish(out: &mut Map, node: &'static Node, words: &[String], in_list: bool) -> Result<Vec<Map>> {
    let am = node.name;
    for a in node.attrs {
        out.remove(*a);
    }
    let mut i = 0;
    while let Some((a, av)) = words.get(i).and_then(|w| w.split_once('=')) {
        match node.known(a) {
            None => bail!("element '{am}' contains unknown attribute '{a}'"),
            Some(Kind::Scalar) => {
                if out.contains_key(a) {
                    bail!("attribute '{a}' in '{am}' must be singleton");
                }
                out.insert(a.to_string(), Val::Str(av.to_string()));
            }
            Some(Kind::ScalarList) => push(out, a, Val::Str(av.to_string())),
            Some(_) => bail!("attribute '{a}' in '{am}' must be element"),
        }
        i += 1;
    }
    let rest = &words[i..];
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if !node.content {
        bail!("element '{am}' contains content");
    }
    if !in_list {
        out.insert("_content".into(), Val::Str(rest.join(" ")));
        return Ok(Vec::new());
    }
    out.insert("_content".into(), Val::Str(rest[0].clone()));
    Ok(rest[1..]
        .iter()
        .map(|w| {
            let mut c = out.clone();
            c.insert("_content".into(), Val::Str(w.clone()));
            c
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Merging and overwriting

/// Perl's truth of a string: everything but "" and "0".
pub fn truthy(s: &str) -> bool {
    !s.is_empty() && s != "0"
}

fn truthy_val(v: Option<&Val>) -> bool {
    match v {
        None => false,
        Some(Val::Str(s)) => truthy(s),
        Some(_) => true,
    }
}

fn hash_mut<'a>(m: &'a mut Map, key: &str) -> &'a mut Map {
    let v = m
        .entry(key.to_string())
        .or_insert_with(|| Val::Hash(Map::new()));
    if !matches!(v, Val::Hash(_)) {
        *v = Val::Hash(Map::new());
    }
    match v {
        Val::Hash(h) => h,
        _ => unreachable!(),
    }
}

fn list_mut<'a>(m: &'a mut Map, key: &str) -> &'a mut Vec<Val> {
    let v = m
        .entry(key.to_string())
        .or_insert_with(|| Val::List(Vec::new()));
    if !matches!(v, Val::List(_)) {
        *v = Val::List(Vec::new());
    }
    match v {
        Val::List(l) => l,
        _ => unreachable!(),
    }
}

/// OBS's `mergeconstraints(con, con2)`: hostlabels and sandboxes of `con2` are added; its
/// linux flavor, min and max (when true in Perl's sense) replace `con`'s; its hardware
/// processors, jobs, disk, memory, memoryperjob and physicalmemory (when present) replace
/// `con`'s and its cpu flags are added. Nothing else of `con2` is taken (its overwrites
/// neither: they were applied before).
pub fn merge(con: &mut Map, con2: &Map) {
    for key in ["hostlabel", "sandbox"] {
        if let Some(Val::List(l2)) = con2.get(key) {
            list_mut(con, key).extend(l2.iter().cloned());
        }
    }
    if let Some(Val::Hash(l2)) = con2.get("linux") {
        if truthy_val(l2.get("flavor")) {
            hash_mut(con, "linux").insert("flavor".into(), l2["flavor"].clone());
        }
        if let Some(Val::Hash(v2)) = l2.get("version") {
            for k in ["min", "max"] {
                if truthy_val(v2.get(k)) {
                    let v = hash_mut(hash_mut(con, "linux"), "version");
                    v.insert(k.into(), v2[k].clone());
                }
            }
        }
    }
    if let Some(Val::Hash(h2)) = con2.get("hardware") {
        for el in [
            "processors",
            "jobs",
            "disk",
            "memory",
            "memoryperjob",
            "physicalmemory",
        ] {
            if let Some(v) = h2.get(el) {
                hash_mut(con, "hardware").insert(el.into(), v.clone());
            }
        }
        if let Some(Val::Hash(cpu2)) = h2.get("cpu")
            && let Some(Val::List(f2)) = cpu2.get("flag")
        {
            let cpu = hash_mut(hash_mut(con, "hardware"), "cpu");
            list_mut(cpu, "flag").extend(f2.iter().cloned());
        }
    }
}

/// OBS's recursive `overwrite`: a hash of `src` is overwritten into the same hash of `dst`
/// key by key; strings and lists (hostlabels, sandboxes, cpu flags, arch lists) replace
/// what `dst` has.
fn overwrite(dst: &mut Map, src: &Map) {
    for (k, d) in src {
        if k == "conditions" {
            continue;
        }
        match (dst.get_mut(k), d) {
            (Some(Val::Hash(dh)), Val::Hash(sh)) => overwrite(dh, sh),
            _ => {
                dst.insert(k.clone(), d.clone());
            }
        }
    }
}

/// OBS's `overwriteconstraints`: each `<overwrite>` with `<conditions>` whose `<arch>` list
/// (when given) names the job's arch and whose `<package>` list (when given) names the
/// package or its name up to the first `.` is overwritten into the constraints, in order.
pub fn apply_overwrites(con: &Map, arch: Option<&Arch>, package: Option<&str>) -> Map {
    let mut out = con.clone();
    for o in con.get("overwrite").map(Val::list).unwrap_or(&[]) {
        let Some(o) = o.hash() else { continue };
        let Some(Val::Hash(cond)) = o.get("conditions") else {
            continue;
        };
        // An unknown arch or package compares as Perl's undef: equal to "".
        let arch = arch.map_or("", Arch::as_str);
        if let Some(archs) = cond.get("arch")
            && !archs.list().iter().any(|a| a.str() == Some(arch))
        {
            continue;
        }
        if let Some(pkgs) = cond.get("package") {
            let p = package.unwrap_or("");
            let short = p.split('.').next().unwrap_or(p);
            if !pkgs
                .list()
                .iter()
                .any(|x| x.str() == Some(p) || x.str() == Some(short))
            {
                continue;
            }
        }
        overwrite(&mut out, o);
    }
    out
}

/// A one-line description of an error in a line (`hardware:gpu 1: unknown element: gpu`).
pub fn line_error(line: &str, e: anyhow::Error) -> anyhow::Error {
    anyhow!(
        "{}: {e:#}",
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ls: &[&str]) -> Map {
        let mut m = Map::new();
        for l in ls {
            list2struct_line(&mut m, l).unwrap();
        }
        m
    }

    fn s(v: &str) -> Val {
        Val::Str(v.into())
    }

    #[test]
    fn list2struct_builds_obs_shapes() {
        // The shape of OBS's own list2struct test: hardware:disk:size unit=G 4.
        let m = lines(&["hardware:disk:size unit=G 4"]);
        let size = &m["hardware"].hash().unwrap()["disk"].hash().unwrap()["size"];
        let size = size.hash().unwrap();
        assert_eq!(
            (size.get("unit"), size.get("_content")),
            (Some(&s("G")), Some(&s("4")))
        );
        // Several words of a repeating element: one entry each, with the line's attributes.
        let m = lines(&["hostlabel exclude=true A B"]);
        let l = m["hostlabel"].list();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].hash().unwrap()["exclude"], s("true"));
        // "!" changes the last entry, "=" removes (and with words replaces), "+" adds.
        let m = lines(&["hostlabel A", "hostlabel B", "hostlabel! C"]);
        let names: Vec<_> = m["hostlabel"]
            .list()
            .iter()
            .map(|v| v.hash().unwrap()["_content"].clone())
            .collect();
        assert_eq!(names, [s("A"), s("C")]);
        let m = lines(&["hostlabel A", "hostlabel= B"]);
        assert_eq!(m["hostlabel"].list().len(), 1);
        let m = lines(&["hardware:processors 4", "hardware:processors 8"]);
        assert_eq!(m["hardware"].hash().unwrap()["processors"], s("8"));
        let mut m = lines(&["hardware:processors 4"]);
        let e = list2struct_line(&mut m, "hardware:processors+ 8").unwrap_err();
        assert_eq!(e.to_string(), "element 'processors' must be singleton");
        // A sandbox word in quotes stays a word with quotes: `exclude="true"` is no "true".
        let m = lines(&["sandbox exclude=\"true\" kvm"]);
        assert_eq!(
            m["sandbox"].list()[0].hash().unwrap()["exclude"],
            s("\"true\"")
        );
        for (bad, says) in [
            ("hardware:gpu 1", "unknown element: gpu"),
            (
                "hostlabel colour=red A",
                "element 'hostlabel' contains unknown attribute 'colour'",
            ),
            ("hardware 4", "element 'hardware' contains content"),
            (
                "hardware:processors:x 4",
                "element 'processors' has subelements",
            ),
        ] {
            let mut m = Map::new();
            assert_eq!(
                list2struct_line(&mut m, bad).unwrap_err().to_string(),
                says,
                "{bad}"
            );
        }
    }

    #[test]
    fn merge_and_overwrite_as_upstream() {
        let mut prj = lines(&[
            "sandbox exclude=true chroot",
            "hardware:memoryperjob:size unit=G 1",
            "hardware:cpu:flag sse2",
        ]);
        let pkg = lines(&[
            "sandbox kvm",
            "hardware:memoryperjob:size unit=G 4",
            "hardware:cpu:flag avx2",
            "linux:version:min 0",
        ]);
        merge(&mut prj, &pkg);
        assert_eq!(prj["sandbox"].list().len(), 2);
        assert_eq!(
            prj["hardware"].hash().unwrap()["cpu"].hash().unwrap()["flag"]
                .list()
                .len(),
            2
        );
        let mpj = prj["hardware"].hash().unwrap()["memoryperjob"]
            .hash()
            .unwrap()["size"]
            .hash()
            .unwrap()["_content"]
            .clone();
        assert_eq!(mpj, s("4"));
        // A min of "0" is false in Perl: not taken, and no <linux> appears.
        assert!(!prj.contains_key("linux"));
    }
}
