//! What one cache miss costs on this machine: a dependent pointer chase
//! through a random cycle over 512 MiB (every load waits for the previous
//! one, as a look-up that follows a pointer does), and the same number of
//! independent random loads (which the CPU overlaps). docs/benchmarks.md
//! quotes it as the floor under a check at 1M users.
//!
//! ```sh
//! cargo bench -p roster-bench --bench memlat
//! ```

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let n: usize = 1 << 26; // 64 Mi words = 512 MiB
    let mut next: Vec<u64> = (0..n as u64).collect();
    // Sattolo's algorithm: one cycle through every slot.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        next.swap(i, (x % i as u64) as usize);
    }
    let steps = 5_000_000u32;

    let mut p = 0usize;
    let t = Instant::now();
    for _ in 0..steps {
        p = next[p] as usize;
    }
    let dependent = t.elapsed().as_nanos() as f64 / f64::from(steps);

    let (mut sum, mut q) = (0u64, 12_345usize);
    let t = Instant::now();
    for _ in 0..steps {
        q = q
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        sum = sum.wrapping_add(next[q % n]);
    }
    let independent = t.elapsed().as_nanos() as f64 / f64::from(steps);

    black_box((p, sum));
    println!("{{\"dependent_miss_ns\":{dependent:.1},\"independent_load_ns\":{independent:.1}}}");
}
