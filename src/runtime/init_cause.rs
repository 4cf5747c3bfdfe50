//! The cause of a failure inside a container's init process, for the error obsbox reports.
//!
//! libcontainer's init and intermediate processes tell the creating process only the outer
//! error ("failed to prepare rootfs", "failed to unix syscall"); the reason is only logged
//! there, through `tracing`, in the forked process. obsbox's log subscriber is inherited by
//! those processes, so it keeps their first error record (the innermost, logged where the
//! failure happened) in a page of memory shared across the fork, where the creating
//! process finds it once libcontainer has reported the failure.

use std::sync::OnceLock;

use crate::sys::SharedText;

struct Slot {
    page: SharedText,
    /// The process that made the slot: its own records are not an init's.
    owner: u32,
}

static SLOT: OnceLock<Option<Slot>> = OnceLock::new();

/// Maps the shared page; must run before the fork (logging's set-up calls it).
pub fn prepare() {
    SLOT.get_or_init(|| {
        SharedText::map().map(|page| Slot {
            page,
            owner: std::process::id(),
        })
    });
}

fn slot() -> Option<&'static Slot> {
    SLOT.get().and_then(Option::as_ref)
}

/// Forgets an earlier cause (before a new creation).
pub fn clear() {
    if let Some(slot) = slot() {
        slot.page.clear();
    }
}

/// Records `text` as the cause when this is a forked process of libcontainer's and no cause
/// is recorded yet.
pub fn record(text: &str) {
    let Some(slot) = slot() else {
        return;
    };
    if std::process::id() == slot.owner {
        return;
    }
    slot.page.put(text.as_bytes());
}

/// The recorded cause, if any.
pub fn take() -> Option<String> {
    slot()?.page.take()
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
