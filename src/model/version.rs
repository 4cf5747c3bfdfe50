//! Version comparison: dpkg's algorithm for Debian, rpmvercmp for RPM.

use std::cmp::Ordering;

use super::{Format, Op};

/// Compares two Debian versions `[epoch:]upstream[-revision]` as dpkg does.
pub fn compare_deb(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_deb(a);
    let (eb, ub, rb) = split_deb(b);
    ea.cmp(&eb)
        .then_with(|| deb_part(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| deb_part(ra.as_bytes(), rb.as_bytes()))
}

/// Compares two RPM `[epoch:]version[-release]` strings as rpm does.
pub fn compare_rpm_evr(a: &str, b: &str) -> Ordering {
    let a = Evr::parse(a);
    let b = Evr::parse(b);
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| rpmvercmp(a.release.unwrap_or(""), b.release.unwrap_or("")))
}

/// Compares `[epoch:]version[-release]` as OBS's `Build::Rpm::verscmp` does: the release
/// counts only when both sides have one (`6.4.0` equals `6.4.0-1`), which is how OBS
/// compares kernel versions of workers against `_constraints`.
pub fn compare_rpm_evr_obs(a: &str, b: &str) -> Ordering {
    let a = Evr::parse(a);
    let b = Evr::parse(b);
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// Whether a package (or provide) of version `candidate` satisfies `op wanted`.
///
/// RPM compares the release only when both sides carry one, so `Requires: foo >= 1.0`
/// accepts every release of 1.0; a missing epoch counts as 0 on either side.
pub fn satisfies(format: Format, candidate: &str, op: Op, wanted: &str) -> bool {
    let ord = match format {
        Format::Deb => compare_deb(candidate, wanted),
        Format::Rpm => compare_rpm_evr_obs(candidate, wanted),
    };
    match op {
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Eq => ord == Ordering::Equal,
        Op::Ge => ord != Ordering::Less,
        Op::Gt => ord == Ordering::Greater,
    }
}

/// Numeric value of an epoch; dpkg and rpm both reject garbage, we treat it as 0 rather than
/// fail a whole resolution over one odd version string.
fn epoch_value(s: &str) -> u64 {
    s.trim().parse().unwrap_or(0)
}

fn split_deb(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => (epoch_value(e), rest),
        None => (0, v),
    };
    // The revision starts after the *last* hyphen: upstream versions may contain hyphens.
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's weight of one character in a non-digit run: `~` below the end of the string,
/// the end and digits at 0, letters by their code, everything else after all letters.
fn deb_weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// One of upstream or revision: alternating non-digit and digit runs.
fn deb_part(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit run, character by character. Two unequal weights end the comparison, so
        // the indices only advance together over equal non-digits.
        while a.get(i).is_some_and(|c| !c.is_ascii_digit())
            || b.get(j).is_some_and(|c| !c.is_ascii_digit())
        {
            let (x, y) = (deb_weight(a.get(i).copied()), deb_weight(b.get(j).copied()));
            if x != y {
                return x.cmp(&y);
            }
            i += 1;
            j += 1;
        }
        let (na, ni) = digit_run(a, i);
        let (nb, nj) = digit_run(b, j);
        let ord = compare_numeric(na, nb);
        if ord != Ordering::Equal {
            return ord;
        }
        i = ni;
        j = nj;
    }
    Ordering::Equal
}

/// The digits starting at `from` and the index after them.
fn digit_run(s: &[u8], from: usize) -> (&[u8], usize) {
    let from = from.min(s.len());
    let len = s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    (&s[from..from + len], from + len)
}

/// Compares two runs of ASCII digits by value, of any length, leading zeros ignored.
fn compare_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let a = &a[strip(a)..];
    let b = &b[strip(b)..];
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `[epoch:]version[-release]`, borrowed from the string it was parsed from.
struct Evr<'a> {
    epoch: u64,
    version: &'a str,
    release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    fn parse(s: &'a str) -> Self {
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) if e.bytes().all(|c| c.is_ascii_digit()) => (epoch_value(e), rest),
            _ => (0, s),
        };
        match rest.rsplit_once('-') {
            Some((version, release)) => Evr {
                epoch,
                version,
                release: Some(release),
            },
            None => Evr {
                epoch,
                version: rest,
                release: None,
            },
        }
    }
}

/// rpm's segment comparison: separators are skipped, digit and letter segments compared in
/// turn, a digit segment beats a letter one, `~` sorts before anything (even the end) and
/// `^` after the end but before any further segment.
/// rpm's segment-wise comparison of one version or release string (rpmvercmp).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    loop {
        while a.get(i).is_some_and(separator) {
            i += 1;
        }
        while b.get(j).is_some_and(separator) {
            j += 1;
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x == Some(b'~') || y == Some(b'~') {
            match (x, y) {
                (Some(b'~'), Some(b'~')) => {
                    i += 1;
                    j += 1;
                    continue;
                }
                (Some(b'~'), _) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
        }
        if x == Some(b'^') || y == Some(b'^') {
            match (x, y) {
                (Some(b'^'), Some(b'^')) => {
                    i += 1;
                    j += 1;
                    continue;
                }
                // `^` after the end of the other side, but before any segment it still has.
                (Some(b'^'), None) => return Ordering::Greater,
                (None, Some(b'^')) => return Ordering::Less,
                (Some(b'^'), Some(_)) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
        }
        let (Some(x), Some(_)) = (x, y) else {
            // One side is exhausted: the one with segments left is newer.
            return match (x, y) {
                (None, None) => Ordering::Equal,
                (Some(_), None) => Ordering::Greater,
                _ => Ordering::Less,
            };
        };
        let numeric = x.is_ascii_digit();
        let kind = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let la = a[i..].iter().take_while(|c| kind(c)).count();
        let lb = b[j..].iter().take_while(|c| kind(c)).count();
        let (sa, sb) = (&a[i..i + la], &b[j..j + lb]);
        if sb.is_empty() {
            // Segments of different kinds: numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            compare_numeric(sa, sb)
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        i += la;
        j += lb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn deb_table() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1:0.1", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0-1", "1.0", Greater),
            ("1.0-0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less), // letters before non-letters
            ("1.0+", "1.0.", Less), // non-letters by code: '+' < '.'
            ("1.01", "1.1", Equal),
            ("1.002", "1.2", Equal),
            ("1.10", "1.9", Greater),
            ("2.30-1+deb12u1", "2.30-1", Greater),
            ("2.30-1+b1", "2.30-1+deb12u1", Less),
            ("1.2-3-4", "1.2-3", Greater), // upstream 1.2-3 vs 1.2
            ("10", "9", Greater),
            ("1.0", "1.0.0", Less),
            ("a", "", Greater),
            ("~", "", Less),
            ("12.2.0-14", "12.2.0-14+deb12u1", Less),
            ("99999999999999999999", "99999999999999999998", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_deb(a, b), want, "{a} vs {b}");
            assert_eq!(compare_deb(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rpm_table() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0a", "1.0", Greater),
            ("1.01", "1.1", Equal),
            ("1.0^", "1.0", Greater),
            ("1.0^", "1.0.1", Less),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1^x", "1.0~rc1", Greater),
            ("1.0", "1.0.0", Less),
            ("1.a", "1.1", Less), // a digit segment beats a letter one
            ("2.0", "10", Less),
            ("1.0_1", "1.0.1", Equal), // separators are not compared
            ("1:0.1-1", "2.0-1", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("1.0-1", "1.0", Greater),
            ("1.0-2", "1.0-10", Less),
            ("1.0-1.fc40", "1.0-1.fc39", Greater),
            ("5.2.15-150600.1.1", "5.2.15-150600.3.6", Less),
            ("abc", "abd", Less),
            ("", "1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_rpm_evr(a, b), want, "{a} vs {b}");
            assert_eq!(compare_rpm_evr(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn satisfies_table() {
        use Format::{Deb, Rpm};
        let cases = [
            (Deb, "1.0-1", Op::Ge, "1.0", true),
            (Deb, "1.0-1", Op::Eq, "1.0", false), // dpkg compares the revision too
            (Deb, "1.0~rc1", Op::Ge, "1.0", false),
            (Deb, "1.0~rc1", Op::Ge, "1.0~", true),
            (Deb, "1:0.1", Op::Gt, "2.0", true),
            (Deb, "2.0", Op::Lt, "2.0", false),
            (Deb, "2.0", Op::Le, "2.0", true),
            (Rpm, "1.0-1", Op::Eq, "1.0", true), // no release wanted: version only
            (Rpm, "1.0-1", Op::Eq, "1.0-2", false),
            (Rpm, "1.0-3", Op::Gt, "1.0", false),
            (Rpm, "1.0-3", Op::Ge, "1.0-2", true),
            (Rpm, "1:1.0-1", Op::Ge, "2.0", true), // wanted epoch missing = 0
            (Rpm, "1.0-1", Op::Lt, "1:0.5", true), // candidate epoch missing = 0
            (Rpm, "1:2.0-1", Op::Eq, "1:2.0", true),
            (Rpm, "2.0", Op::Ge, "2.0-5", true), // candidate without release: version only
        ];
        for (format, cand, op, want, ok) in cases {
            assert_eq!(
                satisfies(format, cand, op, want),
                ok,
                "{format:?} {cand} {op:?} {want}"
            );
        }
    }

    /// Generated Debian versions (epochs, tildes, letters, digits, `+`/`.`/`-`), compared by
    /// obsbox and by `dpkg --compare-versions`: every answer must agree.
    #[test]
    fn generated_versions_agree_with_dpkg() {
        let mut state: u64 = 7;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let pieces = [
            "0", "1", "2", "10", "01", "a", "b", "~", "~~", "+", ".", "rc", "~rc1", "+b1",
        ];
        let version = |next: &mut dyn FnMut(u64) -> u64| {
            let mut v = String::new();
            if next(4) == 0 {
                v.push_str(["0:", "1:", "2:"][next(3) as usize]);
            }
            v.push_str(["0", "1", "2", "10"][next(4) as usize]);
            for _ in 0..next(5) {
                v.push_str(pieces[next(pieces.len() as u64) as usize]);
            }
            if next(2) == 0 {
                v.push('-');
                v.push_str(["1", "0", "1~bpo", "2+deb12u1", "1.1"][next(5) as usize]);
            }
            v
        };
        for _ in 0..300 {
            let a = version(&mut next);
            let b = version(&mut next);
            let ours = compare_deb(&a, &b);
            let dpkg = |op: &str| {
                std::process::Command::new("dpkg")
                    .args(["--compare-versions", &a, op, &b])
                    .status()
                    .expect("dpkg runs")
                    .success()
            };
            let theirs = if dpkg("lt") {
                Less
            } else if dpkg("eq") {
                Equal
            } else {
                Greater
            };
            assert_eq!(ours, theirs, "{a} vs {b}");
        }
    }
}
