//! `ringvs-bench memory`: what this machine's memory allows a lookup table,
//! the bound under the software path's established-flow figures at 1M
//! connections (issue 12, item 3; docs/benchmarks.md). Random cache lines of
//! a table as large as a million connections' (the index and the slab are
//! about 52 MiB), read by independent pointer chases: with one chase, each
//! read waits for the one before (the latency of a miss); with k chases
//! interleaved, k misses are in flight at once, as the worker's prefetches
//! put them (the time per line falls until the core runs out of miss
//! buffers: the throughput bound of random lines).

use clap::Args;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct MemoryArgs {
    /// Table sizes in MiB.
    #[arg(long, value_delimiter = ',', default_value = "4,64")]
    pub mib: Vec<usize>,
    /// Chases in flight at once.
    #[arg(long, value_delimiter = ',', default_value = "1,8,16,32,48")]
    pub chains: Vec<usize>,
    /// Lines read per measurement (split over the chases).
    #[arg(long, default_value_t = 20_000_000)]
    pub reads: usize,
    /// Leave the table on 4 KiB pages (default: ask for transparent huge
    /// pages, as the connection table does).
    #[arg(long)]
    pub small_pages: bool,
    /// Also time the worker's pattern: per step, some work (`--work` rounds
    /// of a multiply-xorshift chain) and one random line, asked for with a
    /// prefetch this many steps ahead (0: none).
    #[arg(long, value_delimiter = ',', default_value = "0,6,16")]
    pub ahead: Vec<usize>,
    /// Rounds of work per step (about 1 ns each here).
    #[arg(long, default_value_t = 40)]
    pub work: u32,
    /// Random lines read per step (a packet at 1M connections reads an index
    /// slot and an entry, which straddles two lines half of the time).
    #[arg(long, default_value_t = 1)]
    pub lines: usize,
}

/// u64s per 64-byte cache line.
const LINE: usize = 8;

/// A table of `mib` MiB whose lines form one random cycle: the first u64 of
/// each line holds the index (in u64s) of the next line.
fn cycle(mib: usize, huge: bool) -> Vec<u64> {
    let words = (mib << 20) / 8;
    let lines = words / LINE;
    let mut t: Vec<u64> = Vec::with_capacity(words);
    if huge {
        ringvs::io::ring::advise_huge(t.as_ptr() as usize, words * 8);
    }
    t.resize(words, 0);
    // A random order of the lines (fixed seed), linked in a cycle.
    let order = ringvs::io::mem::shuffled(lines);
    for (k, &line) in order.iter().enumerate() {
        t[line * LINE] = (order[(k + 1) % lines] * LINE) as u64;
    }
    t
}

/// ns per line read with `chains` chases interleaved over `t`.
fn chase(t: &[u64], chains: usize, reads: usize) -> f64 {
    let lines = t.len() / LINE;
    let mut at: Vec<u64> = (0..chains)
        .map(|k| (lines / chains * k * LINE) as u64)
        .collect();
    let steps = reads / chains;
    let start = Instant::now();
    for _ in 0..steps {
        for a in at.iter_mut() {
            *a = t[*a as usize % t.len()];
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    std::hint::black_box(&at);
    ns / (steps * chains) as f64
}

/// ns per step of `work` rounds of computation that then reads line
/// `order[i]` of `t`, the line `ahead` steps on asked for with a prefetch
/// first: how much of a random line's miss the work hides.
fn prefetched(t: &[u64], order: &[u32], ahead: usize, work: u32, lines: usize) -> f64 {
    let mut acc = 0u64;
    let steps = order.len() / lines;
    let start = Instant::now();
    for i in 0..steps {
        if ahead > 0 {
            for &j in order.iter().skip((i + ahead) * lines).take(lines) {
                prefetch_index::prefetch_index(t, j as usize * LINE);
            }
        }
        let mut x = acc | 1;
        for _ in 0..work {
            x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 29;
        }
        for &j in &order[i * lines..(i + 1) * lines] {
            x ^= t[j as usize * LINE];
        }
        acc = x;
    }
    std::hint::black_box(acc);
    start.elapsed().as_nanos() as f64 / steps as f64
}

/// [`prefetched`] for the worker's two-level lookup: step i reads line
/// `order[i]` (an index slot) and then the line it names (the entry). The
/// slot is asked for `ahead` steps before, the entry `ahead / 3` steps
/// before, by reading the slot (in by then) and asking for the line it
/// names, as `batch.rs` does with [`ENTRY_AHEAD`](ringvs::dataplane) and the
/// slots of a burst.
fn two_level(t: &[u64], order: &[u32], ahead: usize, work: u32) -> f64 {
    let mut acc = 0u64;
    let near = ahead / 3;
    let start = Instant::now();
    for i in 0..order.len() {
        if ahead > 0 {
            if let Some(&j) = order.get(i + ahead) {
                prefetch_index::prefetch_index(t, j as usize * LINE);
            }
            if let Some(&j) = order.get(i + near) {
                let e = t[j as usize * LINE] as usize;
                prefetch_index::prefetch_index(t, e % t.len());
            }
        }
        let mut x = acc | 1;
        for _ in 0..work {
            x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 29;
        }
        let e = t[order[i] as usize * LINE] as usize;
        acc = x ^ t[e % t.len()];
    }
    std::hint::black_box(acc);
    start.elapsed().as_nanos() as f64 / order.len() as f64
}

pub fn main(a: MemoryArgs) -> ExitCode {
    if a.mib.contains(&0)
        || a.chains.iter().any(|&c| c == 0 || c > 256)
        || !(1..=8).contains(&a.lines)
    {
        eprintln!("ringvs-bench memory: --mib must be at least 1, --chains 1..=256, --lines 1..=8");
        return ExitCode::FAILURE;
    }
    println!(
        "random 64-byte lines, {} pages: ns per line read",
        if a.small_pages {
            "4 KiB"
        } else {
            "huge (THP, if the kernel gives them)"
        }
    );
    for &mib in &a.mib {
        let t = cycle(mib, !a.small_pages);
        // One pass over the table first: pages in, page tables built.
        chase(&t, 1, t.len() / LINE);
        let row: Vec<String> = a
            .chains
            .iter()
            .map(|&c| format!("{c} in flight {:.1}", chase(&t, c, a.reads)))
            .collect();
        println!("{mib:>5} MiB: {}", row.join(", "));
    }
    println!(
        "{} rounds of work per step, then {} random line(s): ns per step",
        a.work, a.lines
    );
    for &mib in &a.mib {
        let t = cycle(mib, !a.small_pages);
        let lines = (t.len() / LINE) as u64;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let order: Vec<u32> = (0..a.reads / 4)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % lines) as u32
            })
            .collect();
        prefetched(&t, &order, 0, 0, 1);
        // One row per pattern: `label` names a prefetch distance, `time`
        // measures with it.
        let row = |label: &dyn Fn(usize) -> String, time: &dyn Fn(usize) -> f64| {
            let cells: Vec<String> = a
                .ahead
                .iter()
                .map(|&d| {
                    let what = if d == 0 {
                        "no prefetch".to_owned()
                    } else {
                        label(d)
                    };
                    format!("{what} {:.1}", time(d))
                })
                .collect();
            cells.join(", ")
        };
        let one = row(&|d| format!("prefetch {d} ahead"), &|d| {
            prefetched(&t, &order, d, a.work, a.lines)
        });
        println!("{mib:>5} MiB: {one}");
        let two = row(
            &|d| format!("slots {d} ahead, entries {} ahead", d / 3),
            &|d| two_level(&t, &order, d, a.work),
        );
        println!("{mib:>5} MiB, a slot then the entry it names: {two}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod test {
    use super::*;

    /// The lines form one cycle through every line of the table.
    #[test]
    fn the_chase_visits_every_line_once() {
        let t = cycle(1, false);
        let lines = t.len() / LINE;
        let mut seen = vec![false; lines];
        let mut at = 0usize;
        for _ in 0..lines {
            assert!(!seen[at / LINE], "line {} twice", at / LINE);
            seen[at / LINE] = true;
            at = t[at] as usize;
        }
        assert_eq!(at, 0, "back at the start");
        assert!(seen.iter().all(|&s| s));
    }
}
