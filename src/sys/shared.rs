//! A page of memory shared with the processes forked after it is made.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

const PAGE: usize = 4096;
/// Bytes of text a [`SharedText`] holds: the page behind its four-byte length.
pub const TEXT: usize = PAGE - 4;

/// One page of anonymous shared memory, seen by every process forked after [`SharedText::map`]:
/// a length (0: nothing stored) and up to [`TEXT`] bytes of text behind it. Every byte is
/// read and written atomically, so writers racing (in threads or processes) can at worst
/// mix their texts, never read or write out of bounds. Never unmapped.
pub struct SharedText {
    len: &'static AtomicU32,
    text: &'static [AtomicU8],
}

impl SharedText {
    /// Maps a fresh page; `None` when the kernel refuses.
    pub fn map() -> Option<SharedText> {
        // SAFETY: a fresh anonymous shared mapping of one page; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let base = base.cast::<u8>();
        // SAFETY: the mapping is page-aligned, zero-filled (a valid atomic of any width),
        // writable and never unmapped, so `'static` references into it stay valid; its
        // first four bytes are used only as this length and the rest only as the text
        // bytes, so the two views never overlap.
        let (len, text) = unsafe {
            (
                AtomicU32::from_ptr(base.cast::<u32>()),
                std::slice::from_raw_parts(base.add(4).cast::<AtomicU8>(), TEXT),
            )
        };
        Some(SharedText { len, text })
    }

    /// Forgets the stored text.
    pub fn clear(&self) {
        self.len.store(0, Ordering::SeqCst);
    }

    /// Stores `bytes` (cut to [`TEXT`]) when nothing is stored: the text first, then its
    /// length.
    pub fn put(&self, bytes: &[u8]) {
        if self.len.load(Ordering::SeqCst) != 0 {
            return;
        }
        let bytes = &bytes[..bytes.len().min(TEXT)];
        for (to, from) in self.text.iter().zip(bytes) {
            to.store(*from, Ordering::Relaxed);
        }
        self.len.store(bytes.len() as u32, Ordering::SeqCst);
    }

    /// Takes the stored text out (leaving nothing stored), if there is any; bytes that are
    /// not UTF-8 are replaced.
    pub fn take(&self) -> Option<String> {
        let n = self.len.swap(0, Ordering::SeqCst) as usize;
        if n == 0 {
            return None;
        }
        let bytes: Vec<u8> = self.text[..n.min(TEXT)]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stored_once_taken_once_and_cut_to_the_page() {
        let page = SharedText::map().expect("mmap of one shared page");
        assert_eq!(page.take(), None);
        page.put(b"first");
        page.put(b"second");
        assert_eq!(page.take().as_deref(), Some("first"));
        assert_eq!(page.take(), None);
        page.put(&[b'x'; PAGE]);
        assert_eq!(page.take().map(|t| t.len()), Some(TEXT));
        page.put(b"gone");
        page.clear();
        assert_eq!(page.take(), None);
    }

    #[test]
    fn the_page_is_a_shared_mapping() {
        let page = SharedText::map().expect("mmap of one shared page");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
        let start = format!("{:08x}-", page.len as *const AtomicU32 as usize);
        let line = maps
            .lines()
            .find(|l| l.starts_with(&start))
            .expect("the page in /proc/self/maps");
        // `rw-s`: readable, writable, shared (what forked processes see too).
        assert_eq!(line.split_whitespace().nth(1), Some("rw-s"));
    }
}
