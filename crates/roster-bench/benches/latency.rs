//! Per-check latency distribution, build time and memory of one engine at
//! one data set size, in a process of its own (so RSS is the engine's):
//!
//! ```text
//! cargo bench -p roster-bench --bench latency -- ENGINE USERS [CHECKS]
//! ```
//!
//! ENGINE is `roster`, `roster+groups` (the same data set, each user also a
//! member of 2 groups holding 3 grants each), `cedar` or `casbin`. Each check is timed on its own
//! with `Instant` over random queries (uniform over all users, so at large
//! sizes most of them miss the CPU caches); the cost of reading the clock is
//! measured the same way and reported beside, not subtracted. Prints one JSON
//! line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use roster_bench::{rss_bytes, Casbin, Cedar, Dataset, Shape};
use std::hint::black_box;
use std::time::Instant;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn time_each(n: usize, mut f: impl FnMut(usize) -> bool) -> (Vec<u64>, usize) {
    let mut out = Vec::with_capacity(n);
    let mut allowed = 0;
    for i in 0..n {
        let t = Instant::now();
        let r = black_box(f(i));
        let d = t.elapsed();
        allowed += usize::from(r);
        out.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    out.sort_unstable();
    (out, allowed)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let engine = args.first().map_or("roster", String::as_str).to_owned();
    let users: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let checks: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);

    // `roster+groups`: the same data set, each user also in 2 groups of 3 grants.
    let shape = match engine.as_str() {
        "roster+groups" => Shape::users(users).with_groups(2),
        _ => Shape::users(users),
    };
    let ds = Dataset::generate(shape, 42);
    let qs = ds.queries(checks, 7);
    let rss0 = rss_bytes().unwrap_or(0);
    let t0 = Instant::now();
    let (samples, allowed, build_s, rss1) = match engine.as_str() {
        "roster" | "roster+groups" => {
            let model = ds.roster();
            let now = roster_authz::Moment::now();
            let build = t0.elapsed().as_secs_f64();
            let rss = rss_bytes().unwrap_or(0);
            let rq = ds.roster_queries(&qs);
            // Warm up the code path (not the data).
            for q in rq.iter().take(10_000) {
                black_box(roster_authz::check(&model, q.0, q.1, q.2, now));
            }
            let (s, a) = time_each(checks, |i| {
                let (u, p, on) = rq[i];
                roster_authz::check(&model, u, p, on, now).allowed()
            });
            (s, a, build, rss)
        }
        "cedar" => {
            let cedar = Cedar::build(&ds);
            let build = t0.elapsed().as_secs_f64();
            let rss = rss_bytes().unwrap_or(0);
            let rq = cedar.requests(&ds, &qs);
            for r in rq.iter().take(10_000) {
                black_box(cedar.check(r));
            }
            let (s, a) = time_each(checks, |i| cedar.check(&rq[i]));
            (s, a, build, rss)
        }
        "casbin" => {
            let casbin = Casbin::build(&ds);
            let build = t0.elapsed().as_secs_f64();
            let rss = rss_bytes().unwrap_or(0);
            let rq = Casbin::requests(&ds, &qs);
            for r in rq.iter().take(10_000) {
                black_box(casbin.check(r));
            }
            let (s, a) = time_each(checks, |i| casbin.check(&rq[i]));
            (s, a, build, rss)
        }
        other => {
            eprintln!("unknown engine `{other}`: roster, cedar or casbin");
            std::process::exit(2);
        }
    };
    let (clock, _) = time_each(100_000, |_| true);
    println!(
        "{{\"engine\":\"{engine}\",\"users\":{users},\"grants\":{},\"groups\":{},\"checks\":{checks},\"allowed\":{allowed},\
         \"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{},\
         \"clock_p50_ns\":{},\"build_s\":{build_s:.3},\"rss_mib\":{:.1}}}",
        ds.grants.len(),
        ds.groups.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
        samples.last().copied().unwrap_or(0),
        percentile(&clock, 0.5),
        (rss1.saturating_sub(rss0)) as f64 / (1024.0 * 1024.0),
    );
}
