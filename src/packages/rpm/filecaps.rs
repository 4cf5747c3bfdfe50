//! File capabilities: rpm's text form (`%caps(cap_net_raw=ep)`) made into the
//! `security.capability` extended attribute the kernel reads.

use anyhow::{Context, Result, anyhow, bail, ensure};

/// Converts a capability text (`cap_net_raw=ep`, `cap_a,cap_b+ep`, `=ep`) to the
/// `security.capability` xattr value: `vfs_cap_data` revision 2, little-endian words
/// magic_etc, permitted[0..32], inheritable[0..32], permitted[32..64], inheritable[32..64].
pub fn capability_xattr(text: &str) -> Result<Vec<u8>> {
    let mut sets = CapSets::default();
    for clause in text.split_whitespace() {
        sets.apply(clause)
            .with_context(|| format!("bad capability text {text:?}"))?;
    }
    ensure!(
        sets.effective & !(sets.permitted | sets.inheritable) == 0,
        "bad capability text {text:?}: effective capabilities must be permitted or inheritable"
    );
    // The file format keeps one effective bit: raise everything permitted on exec.
    let magic: u32 = 0x0200_0000 | u32::from(sets.effective != 0);
    let words = [
        magic,
        sets.permitted as u32,
        sets.inheritable as u32,
        (sets.permitted >> 32) as u32,
        (sets.inheritable >> 32) as u32,
    ];
    Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

#[derive(Default)]
struct CapSets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

impl CapSets {
    /// One clause: a comma-separated name list, then operator/flags pairs (`=ep`, `+i-e`).
    fn apply(&mut self, clause: &str) -> Result<()> {
        let split = clause
            .find(['=', '+', '-'])
            .with_context(|| format!("{clause:?} has no operator"))?;
        let (names, mut actions) = clause.split_at(split);
        let mask = cap_mask(names)?;
        while let Some(op) = actions.chars().next() {
            let rest = &actions[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let (flags, next) = rest.split_at(end);
            self.act(op, flags, mask)?;
            actions = next;
        }
        Ok(())
    }

    fn act(&mut self, op: char, flags: &str, mask: u64) -> Result<()> {
        if op == '=' {
            self.effective &= !mask;
            self.permitted &= !mask;
            self.inheritable &= !mask;
        }
        for flag in flags.chars() {
            let set = match flag {
                'e' => &mut self.effective,
                'p' => &mut self.permitted,
                'i' => &mut self.inheritable,
                other => bail!("unknown capability flag {other:?}"),
            };
            if op == '-' {
                *set &= !mask;
            } else {
                *set |= mask;
            }
        }
        Ok(())
    }
}

/// The bit mask of `cap_a,cap_b`; empty or `all` means every capability.
fn cap_mask(names: &str) -> Result<u64> {
    if names.is_empty() || names.eq_ignore_ascii_case("all") {
        return Ok(caps::all().iter().fold(0, |m, c| m | c.bitmask()));
    }
    names.split(',').try_fold(0u64, |mask, name| {
        // The caps crate knows every name from linux/capability.h (CAP_CHOWN = 0 … ).
        let bit = match name.parse::<u8>() {
            Ok(n) if n < 64 => 1u64 << n,
            _ => name
                .to_ascii_uppercase()
                .parse::<caps::Capability>()
                .map_err(|_| anyhow!("unknown capability {name:?}"))?
                .bitmask(),
        };
        Ok(mask | bit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::rpm::testutil::net_raw_ep;

    #[test]
    fn capability_text_converts_to_xattr() {
        assert_eq!(capability_xattr("cap_net_raw=ep").unwrap(), net_raw_ep());
        let words = |text: &str| -> Vec<u32> {
            let bytes = capability_xattr(text).unwrap();
            bytes
                .chunks(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        assert_eq!(
            words("cap_setuid,cap_setgid+ep"),
            [0x0200_0001, 0xc0, 0, 0, 0]
        );
        // CAP_BPF is 39: bit 7 of the high word.
        assert_eq!(
            words("CAP_BPF,cap_sys_admin=p"),
            [0x0200_0000, 1 << 21, 0, 0x80, 0]
        );
        assert_eq!(words("cap_chown=i"), [0x0200_0000, 0, 1, 0, 0]);
        assert_eq!(
            words("cap_chown,cap_kill=ep cap_kill-e cap_kill-p"),
            [0x0200_0001, 1, 0, 0, 0]
        );
        let all = words("=ep");
        assert_eq!((all[0], all[1], all[3]), (0x0200_0001, u32::MAX, 0x1ff));
        assert!(capability_xattr("cap_bogus=ep").is_err());
        assert!(capability_xattr("cap_chown").is_err());
        assert!(capability_xattr("cap_chown=ex").is_err());
        assert!(capability_xattr("cap_chown=e").is_err());
    }
}
