//! `/proc/PID/mountinfo`: the mounts of a mount namespace, one line each.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One mount, the fields obsbox looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the file system that is mounted there (`/` for a whole one).
    pub root: PathBuf,
    /// Where it is mounted (escapes undone).
    pub point: PathBuf,
    /// The file system type, e.g. `cgroup`.
    pub fstype: String,
    /// The super block's options, e.g. `rw,cpu,cpuacct`.
    pub super_options: String,
}

/// The mounts listed in `text`; lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`
fn parse_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ').skip(3);
    let root = fields.next()?;
    let point = fields.next()?;
    let mut after = after.split(' ');
    let fstype = after.next()?;
    let _source = after.next()?;
    let super_options = after.next().unwrap_or_default();
    Some(Mount {
        root: unescape(root),
        point: unescape(point),
        fstype: fstype.to_string(),
        super_options: super_options.to_string(),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\012` for a newline…).
pub fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Some(v) = field
                .get(i + 1..i + 4)
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_and_escaped_mounts() {
        let text = "\
35 27 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
60 54 254:0 /x /mnt/with\\040space rw,relatime - ext4 /dev/vda rw
garbage line
";
        assert_eq!(
            parse(text),
            [
                Mount {
                    root: PathBuf::from("/"),
                    point: PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                    fstype: "cgroup".into(),
                    super_options: "rw,cpu,cpuacct".into(),
                },
                Mount {
                    root: PathBuf::from("/x"),
                    point: PathBuf::from("/mnt/with space"),
                    fstype: "ext4".into(),
                    super_options: "rw".into(),
                },
            ]
        );
    }

    #[test]
    fn escapes_at_the_end_and_broken_ones() {
        assert_eq!(unescape("/a\\134"), PathBuf::from("/a\\"));
        assert_eq!(unescape("/a\\13"), PathBuf::from("/a\\13"));
        assert_eq!(unescape("/a\\9zz"), PathBuf::from("/a\\9zz"));
        assert_eq!(unescape("/\\303\\251"), PathBuf::from("/é"));
    }
}
