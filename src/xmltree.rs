//! A small element tree for the OBS documents that are read whole (worker XML, `_constraints`):
//! walking a tree makes "which element is wrong" easy to say, which a streaming reader does not.

use anyhow::{Result, anyhow, bail};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// One element: its name, attributes in document order, child elements and its own text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The element's direct text, trimmed.
    pub text: String,
    /// The line the element starts on, for error messages.
    pub line: usize,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// The deepest nesting [`parse`] accepts. OBS's documents are a few levels deep; the tree is
/// dropped, cloned and compared recursively, so a document nested a hundred thousand deep
/// would overflow the stack.
pub const MAX_DEPTH: usize = 64;

/// Parses a whole document; errors name `file` and the line.
pub fn parse(xml: &[u8], file: &str) -> Result<Element> {
    // Lines are counted incrementally from the last position asked for: events come in
    // document order, so the whole document is scanned once (recounting from the start at
    // every event made a 10,000-worker fleet quadratic).
    let counted = std::cell::Cell::new((0usize, 1usize));
    let line_of = |pos: u64| {
        let end = usize::try_from(pos).unwrap_or(usize::MAX).min(xml.len());
        let (from, line) = counted.get();
        let line = if end >= from {
            line + xml[from..end].iter().filter(|&&b| b == b'\n').count()
        } else {
            1 + xml[..end].iter().filter(|&&b| b == b'\n').count()
        };
        counted.set((end, line));
        line
    };
    let mut reader = Reader::from_reader(xml);
    // The open elements; the root ends up alone at the bottom.
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| {
            anyhow!(
                "{file}: broken XML at line {}: {}",
                line_of(reader.error_position()),
                crate::text::one_line_error(e)
            )
        })?;
        let line = line_of(pos);
        let at = |e: anyhow::Error| anyhow!("{file}: line {line}: {e:#}");
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(at(anyhow!("a second root element")));
                }
                let el = Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    attrs: attrs(e).map_err(at)?,
                    line,
                    ..Element::default()
                };
                if matches!(ev, Event::Empty(_)) {
                    close(&mut stack, &mut root, el);
                } else if stack.len() == MAX_DEPTH {
                    return Err(at(anyhow!(
                        "<{}>: elements nested deeper than {MAX_DEPTH}",
                        crate::text::one_line(&el.name)
                    )));
                } else {
                    stack.push(el);
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| at(xml_error(e)))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(at(anyhow!("text outside the root element"))),
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| at(xml_error(e)))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let s = if let Some(c) = r.resolve_char_ref().map_err(|e| at(xml_error(e)))? {
                    c.to_string()
                } else {
                    let name = r.decode().map_err(|e| at(xml_error(e)))?;
                    quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| {
                            at(anyhow!(
                                "unknown entity `&{};`",
                                crate::text::one_line(&name)
                            ))
                        })?
                        .to_string()
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(at(anyhow!("an end tag without a start")));
                };
                close(&mut stack, &mut root, el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        bail!(
            "{file}: broken XML: the file ends inside <{}>",
            stack[0].name
        );
    }
    root.ok_or_else(|| anyhow!("{file}: no root element"))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, mut el: Element) {
    el.text = el.text.trim().to_string();
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// Attributes by local name, unescaped; duplicates are an error (quick-xml's check).
pub(crate) fn attrs(e: &BytesStart<'_>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(xml_error)?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(xml_error)?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

/// An error of quick-xml as one line: its messages quote the document.
pub(crate) fn xml_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}", crate::text::one_line_error(e))
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_text_and_errors() {
        let t = parse(b"<a x=\"1\">\n <b>hi &amp; bye</b><c/></a>", "f").unwrap();
        assert_eq!(t.attr("x"), Some("1"));
        assert_eq!(t.child("b").unwrap().text, "hi & bye");
        assert_eq!(t.child("c").unwrap().line, 2);
        assert!(
            parse(b"<a><b></a>", "f.xml")
                .unwrap_err()
                .to_string()
                .starts_with("f.xml:")
        );
        assert!(parse(b"<a/><b/>", "f").is_err());
        assert!(parse(b"", "f").is_err());
    }

    #[test]
    fn deep_nesting_is_one_error_line_not_a_stack_overflow() {
        let n = 1_000_000;
        let doc = format!("<c>\n{}{}</c>", "<a>".repeat(n), "</a>".repeat(n));
        let err = parse(doc.as_bytes(), "deep.xml").unwrap_err().to_string();
        assert_eq!(
            err,
            format!("deep.xml: line 2: <a>: elements nested deeper than {MAX_DEPTH}")
        );
        let ok = format!(
            "<c>{}{}</c>",
            "<a>".repeat(MAX_DEPTH - 1),
            "</a>".repeat(MAX_DEPTH - 1)
        );
        assert!(parse(ok.as_bytes(), "ok.xml").is_ok());
    }
}
