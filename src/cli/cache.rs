//! `obsbox cache ls | gc`: the content-addressed package and rootfs store.

use anyhow::{Result, bail};
use clap::Subcommand;

use super::Context;
use crate::rootfs::store::{EntryKind, Store};

#[derive(Subcommand, Debug)]
pub enum CacheCmd {
    /// List the unpacked packages and cached roots, least recently used first.
    Ls,
    /// Remove least recently used entries until the cache is at most SIZE (e.g. 2G, 500M).
    Gc {
        #[arg(long)]
        max_size: String,
    },
}

pub fn cache(cmd: CacheCmd, ctx: &Context) -> Result<()> {
    let store = Store::open(&ctx.cache)?;
    match cmd {
        CacheCmd::Ls => {
            let mut rows = vec![[
                "KIND".to_string(),
                "KEY".to_string(),
                "SIZE".to_string(),
                "LAST USED".to_string(),
                "CONTENT".to_string(),
            ]];
            let mut total = 0;
            for e in store.entries()? {
                total += e.size;
                let used: chrono::DateTime<chrono::Local> = e.last_used.into();
                rows.push([
                    match e.kind {
                        EntryKind::Package => "package",
                        EntryKind::Rootfs => "rootfs",
                    }
                    .to_string(),
                    e.key[..12.min(e.key.len())].to_string(),
                    human(e.size),
                    used.format("%Y-%m-%d %H:%M:%S").to_string(),
                    e.name,
                ]);
            }
            print!("{}", super::table(&rows));
            println!("total {} in {}", human(total), store.dir().display());
        }
        CacheCmd::Gc { max_size } => {
            let max = parse_size(&max_size)?;
            let removed = store.gc(max)?;
            let freed: u64 = removed.iter().map(|e| e.size).sum();
            println!("removed {} entries, {} freed", removed.len(), human(freed));
        }
    }
    Ok(())
}

/// `1234`, `10K`, `500M`, `2G`, `1T` (powers of 1024; a trailing `B`/`iB` is allowed).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text
        .trim()
        .trim_end_matches("iB")
        .trim_end_matches(['B', 'b']);
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let Ok(n) = digits.parse::<u64>() else {
        bail!("--max-size: not a size: {text:?} (use e.g. 500M or 2G)");
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => bail!("--max-size: unknown unit in {text:?} (use K, M, G or T)"),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| anyhow::anyhow!("--max-size: {text:?} is too large"))
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
    }
}
