//! One check, at several data set sizes, in Roster and (in the same run, on
//! the same data and queries) in cedar-policy and casbin.
//!
//! `ROSTER_BENCH_SIZES` (default `10000,100000,1000000`) sets the sizes for
//! Roster; `ROSTER_BENCH_PEER_SIZES` (default `10000,100000`) those at which
//! cedar and casbin are also built (cedar needs minutes and many GiB at 1M
//! users). `cargo bench -p roster-bench --bench check`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use roster_bench::{Casbin, Cedar, Dataset, Shape};
use std::hint::black_box;
use std::time::Duration;

const QUERIES: usize = 1 << 16;

fn sizes(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[expect(
    clippy::panic,
    reason = "a disagreement between engines invalidates the benchmark"
)]
fn check(c: &mut Criterion) {
    let peers = sizes("ROSTER_BENCH_PEER_SIZES", "10000,100000");
    let mut group = c.benchmark_group("check");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50);
    for n in sizes("ROSTER_BENCH_SIZES", "10000,100000,1000000") {
        let ds = Dataset::generate(Shape::users(n), 42);
        let qs = ds.queries(QUERIES, 7);
        let model = ds.roster();
        let now = roster_authz::Moment::now();
        let rq = ds.roster_queries(&qs);
        group.bench_with_input(BenchmarkId::new("roster", n), &n, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                let (u, p, on) = rq[i & (QUERIES - 1)];
                i = i.wrapping_add(1);
                black_box(
                    roster_authz::check(&model, black_box(u), black_box(p), black_box(on), now)
                        .allowed(),
                )
            })
        });
        if peers.contains(&n) {
            let cedar = Cedar::build(&ds);
            let creq = cedar.requests(&ds, &qs);
            let casbin = Casbin::build(&ds);
            let kreq = Casbin::requests(&ds, &qs);
            for (i, q) in rq.iter().enumerate().take(20_000) {
                let r = roster_authz::check(&model, q.0, q.1, q.2, now).allowed();
                if r != cedar.check(&creq[i]) || r != casbin.check(&kreq[i]) {
                    panic!("engines disagree on query {i}: {:?}", qs[i]);
                }
            }
            group.bench_with_input(BenchmarkId::new("cedar", n), &n, |b, _| {
                let mut i = 0usize;
                b.iter(|| {
                    let r = &creq[i & (QUERIES - 1)];
                    i = i.wrapping_add(1);
                    black_box(cedar.check(black_box(r)))
                })
            });
            group.bench_with_input(BenchmarkId::new("casbin", n), &n, |b, _| {
                let mut i = 0usize;
                b.iter(|| {
                    let r = &kreq[i & (QUERIES - 1)];
                    i = i.wrapping_add(1);
                    black_box(casbin.check(black_box(r)))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
