//! Version comparison: dpkg's algorithm for Debian, rpmvercmp for RPM.

use std::cmp::Ordering;

/// Compares two Debian versions `[epoch:]upstream[-revision]` as dpkg does.
pub fn compare_deb(a: &str, b: &str) -> Ordering {
    todo!("{a} {b}")
}

/// Compares two RPM `[epoch:]version[-release]` strings as rpm does.
pub fn compare_rpm_evr(a: &str, b: &str) -> Ordering {
    todo!("{a} {b}")
}
