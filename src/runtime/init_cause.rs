//! The cause of a failure inside a container's init process, for the error obsbox reports.
//!
//! libcontainer's init and intermediate processes tell the creating process only the outer
//! error ("failed to prepare rootfs", "failed to unix syscall"); the reason is only logged
//! there, through `tracing`, in the forked process. obsbox's log subscriber is inherited by
//! those processes, so it keeps their first error record (the innermost, logged where the
//! failure happened) in a page of memory shared across the fork, where the creating
//! process finds it once libcontainer has reported the failure.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

const PAGE: usize = 4096;
/// Bytes of the page that hold text; the first four hold its length (0: nothing recorded).
const TEXT: usize = PAGE - 4;

struct Slot {
    base: *mut u8,
    /// The process that made the slot: its own records are not an init's.
    owner: u32,
}

// SAFETY: the pointer is to a shared mapping that is never unmapped (it lives as long as the
// process), so any thread may hold it.
unsafe impl Send for Slot {}
// SAFETY: threads share the page only through `len`, an atomic: the text is written before
// the length is stored (SeqCst) and read only after a non-zero length is taken by `take`'s
// swap, and `record` writes only while no length is stored.
unsafe impl Sync for Slot {}

static SLOT: OnceLock<Option<Slot>> = OnceLock::new();

/// Maps the shared page; must run before the fork (logging's set-up calls it).
pub fn prepare() {
    SLOT.get_or_init(|| {
        // SAFETY: a fresh anonymous shared mapping of one page, never unmapped.
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
        (base != libc::MAP_FAILED).then(|| Slot {
            base: base as *mut u8,
            owner: std::process::id(),
        })
    });
}

fn slot() -> Option<&'static Slot> {
    SLOT.get().and_then(Option::as_ref)
}

fn len(slot: &Slot) -> &AtomicU32 {
    // SAFETY: the page is aligned and its first four bytes are only used as this atomic.
    unsafe { &*(slot.base as *const AtomicU32) }
}

/// Forgets an earlier cause (before a new creation).
pub fn clear() {
    if let Some(slot) = slot() {
        len(slot).store(0, Ordering::SeqCst);
    }
}

/// Records `text` as the cause when this is a forked process of libcontainer's and no cause
/// is recorded yet.
pub fn record(text: &str) {
    let Some(slot) = slot() else {
        return;
    };
    if std::process::id() == slot.owner || len(slot).load(Ordering::SeqCst) != 0 {
        return;
    }
    let bytes = &text.as_bytes()[..text.len().min(TEXT)];
    // SAFETY: the text area is TEXT bytes long behind the length.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot.base.add(4), bytes.len()) };
    len(slot).store(bytes.len() as u32, Ordering::SeqCst);
}

/// The recorded cause, if any.
pub fn take() -> Option<String> {
    let slot = slot()?;
    let n = len(slot).swap(0, Ordering::SeqCst) as usize;
    if n == 0 {
        return None;
    }
    // SAFETY: n ≤ TEXT bytes were written behind the length.
    let bytes = unsafe { std::slice::from_raw_parts(slot.base.add(4), n.min(TEXT)) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Makes a cause readable from a libcontainer error record: its message and, from the
/// `err` field (a `Debug` rendering), the innermost quoted text or errno.
pub fn describe(message: &str, err: Option<&str>) -> String {
    let Some(err) = err else {
        return message.to_string();
    };
    if let Some(text) = last_quoted(err) {
        return format!("{message}: {text}");
    }
    if let Some(errno) = errno_in(err) {
        return format!("{message}: {errno}");
    }
    format!("{message}: {err}")
}

fn last_quoted(debug: &str) -> Option<String> {
    let end = debug.rfind('"')?;
    let start = debug[..end].rfind('"')?;
    let inner = &debug[start + 1..end];
    (!inner.is_empty()).then(|| inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// `EPERM: Operation not permitted` for the first errno name in a `Debug` rendering.
fn errno_in(debug: &str) -> Option<String> {
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| {
            word.len() > 2
                && word.starts_with('E')
                && word[1..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
        .find_map(|word| {
            (1..134)
                .map(nix::errno::Errno::from_raw)
                .find(|e| format!("{e:?}") == word)
                .map(|e| format!("{word}: {}", e.desc()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_from_debug_renderings() {
        assert_eq!(
            describe(
                "failed to prepare rootfs",
                Some(r#"Mount(Other("filesystem proc must be mounted on ordinary directory"))"#)
            ),
            "failed to prepare rootfs: filesystem proc must be mounted on ordinary directory"
        );
        assert_eq!(
            describe("failed to drop capabilities", Some("Nix(EPERM)")),
            "failed to drop capabilities: EPERM: Operation not permitted"
        );
        assert_eq!(describe("x", Some("Weird { a: 1 }")), "x: Weird { a: 1 }");
        assert_eq!(describe("plain", None), "plain");
    }
}
