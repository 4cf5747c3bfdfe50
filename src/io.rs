//! Whole-file reads with a bound: what obsbox reads into memory from files it does not
//! control (job files, recipes, control files, repository files) is refused past a size
//! instead of filling memory.

use std::io::Read;

/// All of `reader` when it holds at most `limit` bytes; `None`, after reading one byte more,
/// when it holds more (the caller names the file in its refusal).
pub fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    reader.take(limit + 1).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= limit).then_some(data))
}

/// `bytes` as text, refused when they are not UTF-8.
pub fn into_text(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|_| NotUtf8)
}

/// Bytes that were to be text and are not UTF-8 (said as `read_to_string` says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream did not contain valid UTF-8")
    }
}

impl std::error::Error for NotUtf8 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_inclusive() {
        assert_eq!(read_at_most(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_at_most(&b"abcd"[..], 3).unwrap(), None);
        assert_eq!(read_at_most(&b""[..], 0).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn text_is_utf8_or_refused_as_read_to_string_refuses_it() {
        assert_eq!(into_text(b"k\xc3\xa4se".to_vec()).unwrap(), "käse");
        let mut std_text = String::new();
        let std_err = (&b"\xff"[..]).read_to_string(&mut std_text).unwrap_err();
        assert_eq!(
            into_text(b"\xff".to_vec()).unwrap_err().to_string(),
            std_err.to_string()
        );
    }
}
