//! Native benchmark of the Assigner engine: a 100,000-user snapshot with realistic attributes, 20
//! profiles of mixed rules; prints the stored size, decode time, the time of a full evaluation (A8
//! resolution + members + diff + throttling of all profiles; median of several runs) and peak memory.
//!
//! ```sh
//! cd plugins && CARGO_TARGET_DIR=$HOME/.cache/scimgw/plugins-native \
//!     cargo run --release -p scimgw-plugin-learn365 --example assigner_bench [-- users runs]
//! ```
//!
//! The crate is a `cdylib`, so the engine is included by path (it only uses `super::` paths).

#[allow(dead_code, unused_imports)]
#[path = "../src/assigner/mod.rs"]
mod assigner;
#[allow(dead_code)]
#[path = "support/data.rs"]
mod data;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assigner::codec::{Encoder, MAX_CHUNK, pack};
use assigner::{Engine, Outcome, Settings, plan, resolve};
use data::{NOW, Rng, course, profiles, user};

/// Counts heap bytes in use and their peak: what the engine needs, apart from the process's RSS.
struct Counting;

static NOW_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW_BYTES.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW_BYTES.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = NOW_BYTES.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
            } else {
                NOW_BYTES.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Heap in use now, and restarts the peak from it.
fn heap_mark() -> usize {
    let now = NOW_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(now, Ordering::Relaxed);
    now
}

fn heap_peak_since(mark: usize) -> usize {
    PEAK_BYTES.load(Ordering::Relaxed).saturating_sub(mark)
}

fn vm(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(7);
    let courses: Vec<String> = (0..40).map(course).collect();
    let fields = data::fields();

    // The data refresh: users streamed into lines and chunks (never all records at once).
    let t = Instant::now();
    let enc = Encoder::new(NOW, &fields, &courses).unwrap();
    let mut rng = Rng(2024);
    let mut lines = enc.header_lines();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let u = user(&mut rng, i, &courses);
        let mut line = String::new();
        enc.user_line(&u, &mut line).unwrap();
        ids.push(u.id);
        lines.push(line);
    }
    let chunks = pack(lines, MAX_CHUNK).unwrap();
    let bytes: usize = chunks.iter().map(String::len).sum();
    println!(
        "stored form: {n} users, {} chunks of at most {} KiB, {:.1} MB ({:.0} bytes/user), generated and encoded in {:.0?}",
        chunks.len(),
        MAX_CHUNK >> 10,
        bytes as f64 / 1e6,
        bytes as f64 / n as f64,
        t.elapsed()
    );

    // The maintenance: chunks read one at a time (here from memory) into the decoder.
    let t = Instant::now();
    let mark = heap_mark();
    let mut dec = assigner::Decoder::default();
    for c in &chunks {
        dec.chunk(c).unwrap();
    }
    let snap = dec.finish().unwrap();
    println!(
        "decode: {:.0?}; snapshot {} (heap_bytes {}); decoder peak above the chunks {}",
        t.elapsed(),
        mb(NOW_BYTES.load(Ordering::Relaxed) - mark),
        mb(snap.heap_bytes()),
        mb(heap_peak_since(mark))
    );
    drop(chunks);
    ids.sort();

    let settings = Settings::parse(r#"{"contactEmail":"lms@contoso.com","entraGroupPrefix":"AS-"}"#).unwrap();
    let profiles = profiles(&courses, &ids);
    for p in &profiles {
        assigner::validate(p, &snap.tenant_fields()).unwrap();
    }
    let current = data::current_groups(&snap, &profiles, &settings, &ids);
    let mut engine = Engine::new(&snap);
    let first = plan(&resolve(&profiles, &snap, None), &mut engine, &settings, &mut |_| Vec::new());
    println!(
        "profiles: 20; members per profile: {:?}",
        first
            .iter()
            .map(|p| match &p.outcome {
                Outcome::Apply { members, .. } => members.count(),
                _ => 0,
            })
            .collect::<Vec<_>>()
    );

    let peak_before = vm("VmHWM");
    reset_peak();
    let mark = heap_mark();
    let mut times = Vec::new();
    let mut eval_only = Vec::new();
    let mut summary = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut engine = Engine::new(&snap);
        let res = resolve(&profiles, &snap, Some(&snap.tenant_fields()));
        let plans = plan(&res, &mut engine, &settings, &mut |id| current[id[1..].parse::<usize>().unwrap()].clone());
        times.push(t.elapsed());
        let (mut applied, mut throttled, mut changes) = (0, 0, 0);
        for p in &plans {
            match &p.outcome {
                Outcome::Apply { diff, .. } => {
                    applied += 1;
                    changes += diff.changes();
                }
                Outcome::Throttled { .. } => throttled += 1,
                o => panic!("{o:?}"),
            }
        }
        summary = format!("{applied} applied ({changes} member changes), {throttled} throttled");

        let t = Instant::now();
        let mut engine = Engine::new(&snap);
        for p in &profiles {
            let c = engine.compile(p).unwrap();
            std::hint::black_box(engine.matching(&c).count());
        }
        eval_only.push(t.elapsed());
    }
    println!(
        "full evaluation of 20 profiles over {n} users (resolve, compile, match, members, diff, throttle): median {:.1?} of {runs} runs (min {:.1?}, max {:.1?}); {summary}",
        median(times.clone()),
        times.iter().min().unwrap(),
        times.iter().max().unwrap()
    );
    println!("rules only (compile + match, fresh engine): median {:.1?}", median(eval_only));
    println!(
        "memory: evaluation peak above the snapshot {} (member bits, diffs, the current groups' ids cloned for the diff); \
         process peak RSS during the evaluations (VmHWM after reset) {}, VmRSS now {} (includes the benchmark's own \
         id lists and the allocator's retained pages); VmHWM of the whole run before the reset {}",
        mb(heap_peak_since(mark)),
        vm("VmHWM"),
        vm("VmRSS"),
        peak_before
    );
}
