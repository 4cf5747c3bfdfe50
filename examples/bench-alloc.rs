//! The allocation benchmark: a simulated fleet (default 10,000 workers) and queue (default
//! 100,000 jobs) with a realistic constraint mix (`tests/common/alloc_sim.rs`), placed one after the
//! other on the indexed fleet while builds start and finish. Prints decisions per second,
//! the p50/p99 latency of one placement decision and peak RSS.
//!
//! `cargo run --release --example bench-alloc [WORKERS [JOBS]]`
//!
//! `bench-alloc --write-fleet DIR [WORKERS]` instead writes the simulated fleet as worker
//! documents into DIR, one file a worker named as OBS's dispatcher names them
//! (`HOSTARCH:HOST:SLOT`), for timing the whole `obsbox allocate` command against OBS's
//! Perl matcher on the same files (integration/bench-alloc.sh).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use obsbox::alloc::index::Allocator;
use obsbox::alloc::{Outcome, Settings, State};

#[path = "../tests/common/alloc_sim.rs"]
mod sim;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn write_fleet(dir: &std::path::Path, workers: usize) {
    std::fs::create_dir_all(dir).expect("fleet directory");
    for m in sim::fleet(workers, 1) {
        let name = m.id.clone();
        let mut w = m.worker.clone();
        w.workerid = Some(name.clone());
        std::fs::write(dir.join(&name), obsbox::worker::to_xml(&w)).expect("worker file");
    }
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--write-fleet") {
        args.next();
        let dir = args.next().expect("--write-fleet DIR");
        let workers = args.next().map_or(10_000, |a| a.parse().expect("WORKERS"));
        write_fleet(std::path::Path::new(&dir), workers);
        return;
    }
    let workers: usize = args.next().map_or(10_000, |a| a.parse().expect("WORKERS"));
    let jobs: usize = args.next().map_or(100_000, |a| a.parse().expect("JOBS"));

    let started = Instant::now();
    let fleet = sim::fleet(workers, 1);
    let queue = sim::jobs(jobs, 2);
    let settings = Settings::default();
    let mut a = Allocator::new(&fleet, settings.clone());
    let setup = started.elapsed();

    // A job arrives every `gap` seconds, so that the fleet runs nearly full; a placed build
    // takes 0.5–1.5 × the expected build time, × the emulation factor when emulated.
    let build = settings.build_time.as_secs_f64();
    let gap = build / workers as f64;
    let mut rng = sim::Rng::new(3);
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut latencies: Vec<u64> = Vec::with_capacity(jobs);
    let (mut placed, mut emulated, mut waiting, mut none) = (0usize, 0usize, 0usize, 0usize);
    let mut now = 0.0;
    let run = Instant::now();
    for job in &queue {
        now += gap;
        while let Some(Reverse((end, i))) = running.peek().copied() {
            if end as f64 / 1000.0 > now {
                break;
            }
            running.pop();
            a.set_state(i, State::Idle, None);
        }
        let t = Instant::now();
        let choice = a.place(job, now);
        latencies.push(t.elapsed().as_nanos() as u64);
        match (choice.outcome, choice.pick) {
            (Outcome::Placed, Some((i, emu))) => {
                placed += 1;
                emulated += emu as usize;
                a.set_state(i, State::Building, Some(now));
                let factor = if emu { settings.emulation_factor } else { 1.0 };
                let took = build * (0.5 + rng.below(1000) as f64 / 1000.0) * factor;
                running.push(Reverse((((now + took) * 1000.0) as u64, i)));
            }
            (Outcome::Waiting, _) => waiting += 1,
            _ => none += 1,
        }
    }
    let elapsed = run.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let us = |ns: u64| ns as f64 / 1000.0;
    let p99 = pct(0.99);
    let rss = peak_rss_mb();
    println!(
        "bench-alloc: {workers} workers, {jobs} jobs (fleet and queue made and indexed in {:.2} s)",
        setup.as_secs_f64()
    );
    println!(
        "outcomes: {placed} placed ({emulated} emulated), {waiting} waiting, {none} with no compliant worker"
    );
    let deciding: f64 = latencies.iter().map(|&ns| ns as f64 / 1e9).sum();
    println!(
        "decisions per second: {:.0} ({jobs} decisions took {deciding:.2} s; the whole simulation {:.2} s)",
        jobs as f64 / deciding,
        elapsed.as_secs_f64()
    );
    println!(
        "latency of one placement: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(pct(0.50)),
        us(p99),
        us(*latencies.last().unwrap_or(&0))
    );
    println!("peak RSS: {rss:.1} MB");
    println!(
        "targets: p99 ≤ 1 ms {}; memory ≤ 200 MB {}",
        if p99 <= 1_000_000 { "met" } else { "MISSED" },
        if rss <= 200.0 { "met" } else { "MISSED" }
    );
}
