//! The floor under a cached root's check: the same tree listed and every entry's inode
//! looked at (`getdents64` per directory, `fstatat` per entry, subdirectories opened by
//! name in their parent) on every core, nothing recorded, sorted or hashed. Beside it,
//! obsbox's own [`obsbox::rootfs::store::tree_digest`] of the same tree, alternating, so
//! `integration/bench-rootfs.sh` can show how far the check is from what the kernel costs.
//!
//!   cargo build --release --example walk-floor
//!   walk-floor TREE [ROUNDS]

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use rustix::fs::{AtFlags, Mode, OFlags};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let tree = args.next().context("usage: walk-floor TREE [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(30), |r| r.parse())?;
    let (mut floor, mut digest) = (Vec::new(), Vec::new());
    let mut entries = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        entries = walk(&tree)?;
        floor.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        obsbox::rootfs::store::tree_digest(tree.as_ref())?;
        digest.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    floor.sort_by(f64::total_cmp);
    digest.sort_by(f64::total_cmp);
    println!(
        "{entries} entries, median of {rounds}: floor {:.1} ms, tree digest {:.1} ms",
        floor[rounds / 2],
        digest[rounds / 2]
    );
    Ok(())
}

/// Lists every directory below `tree` and stats every entry; returns how many there were.
fn walk(tree: &str) -> Result<usize> {
    struct Queue {
        dirs: Vec<OwnedFd>,
        busy: usize,
        entries: usize,
    }
    let top = rustix::fs::open(tree, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
    let queue = Mutex::new(Queue {
        dirs: vec![top],
        busy: 0,
        entries: 0,
    });
    let wake = Condvar::new();
    let run = || -> Result<()> {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
        let mut q = queue.lock().unwrap();
        loop {
            let Some(dir) = q.dirs.pop() else {
                if q.busy == 0 {
                    wake.notify_all();
                    return Ok(());
                }
                q = wake.wait(q).unwrap();
                continue;
            };
            q.busy += 1;
            drop(q);
            let (mut found, mut subdirs) = (0, Vec::new());
            let mut listing = rustix::fs::RawDir::new(&dir, &mut buf);
            while let Some(entry) = listing.next() {
                let entry = entry?;
                let name = entry.file_name();
                if name.to_bytes() == b"." || name.to_bytes() == b".." {
                    continue;
                }
                found += 1;
                if entry.file_type() == rustix::fs::FileType::Directory {
                    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
                    subdirs.push(rustix::fs::openat(&dir, name, flags, Mode::empty())?);
                } else {
                    rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                }
            }
            q = queue.lock().unwrap();
            q.busy -= 1;
            q.entries += found;
            q.dirs.extend(subdirs);
            wake.notify_all();
        }
    };
    std::thread::scope(|scope| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(run)).collect();
        let mine = run();
        others
            .into_iter()
            .try_for_each(|t| t.join().expect("a walker panicked"))
            .and(mine)
    })?;
    Ok(queue.into_inner().unwrap().entries)
}
