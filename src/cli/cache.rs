//! `obsbox cache ls | gc`: the content-addressed package and rootfs store.

use anyhow::Result;
use clap::Subcommand;

use super::Context;
use crate::rootfs::store::{EntryKind, Store};

#[derive(Subcommand, Debug)]
pub enum CacheCmd {
    /// List the unpacked packages, cached roots and kept repository indexes, least recently
    /// used first.
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
                        EntryKind::Index => "index",
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

/// `1234`, `10K`, `500M`, `2G`, `1T` (powers of 1024), as job files write sizes.
fn parse_size(text: &str) -> Result<u64> {
    crate::job::native::parse_size(text).map_err(|e| anyhow::anyhow!("--max-size: {e}"))
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
