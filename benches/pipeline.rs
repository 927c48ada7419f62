//! Cost of each pure stage an ingested event goes through, for a ~6 KB (medium) and a
//! ~43 KB (large) Python-SDK event as the load generator sends them
//! (benches/data/*.envelope): gzip decode, envelope parse, JSON parse, normalize, scrub,
//! group, summarize, serialize, zstd compress, and the whole `process_event`. Their sum
//! is the CPU an event costs before the writer sees it.
//!
//! Wall-clock is noisy on a shared machine; for instruction counts, run one stage a fixed
//! number of times under callgrind with collection limited to `measured`:
//!
//! ```sh
//! PIPELINE_STAGE=medium/group PIPELINE_ITERS=20 valgrind --tool=callgrind \
//!     --toggle-collect='*measured*' target/release/deps/pipeline-<hash>
//! ```
//!
//! Stages: json, normalize, scrub, group, hashes (group without the explanation),
//! summarize, derive (tags, user, trace id), serialize, process (each per event
//! size, `medium/...` or `large/...`). Divide the total by `PIPELINE_ITERS`.
//! `PIPELINE_STAGE=medium/dump` prints the processed record and stored JSON instead.
//! Without valgrind, a `PIPELINE_STAGE` run prints the heap allocations per event of
//! the stage (the allocator below counts them while `measured` runs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use errata::event::group::{self, GroupingRules};
use errata::event::normalize::{self, NormalizeContext};
use errata::event::scrub::{ScrubSettings, Scrubber};
use errata::ingest::cache::project_context;
use errata::ingest::decode::{self, ContentEncoding};
use errata::ingest::envelope;
use errata::ingest::process::process_event;

/// The default `limits.max_event_size`.
const MAX_EVENT_SIZE: usize = 1 << 20;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data");
const LIMIT: usize = 20 * 1024 * 1024;

fn envelope_bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}.envelope")).expect("benchmark data is readable")
}

fn event_item(envelope: &[u8]) -> Vec<u8> {
    let parsed = envelope::parse(envelope, 100).expect("benchmark envelope parses");
    parsed.items[0].payload.to_vec()
}

fn ctx() -> NormalizeContext {
    NormalizeContext {
        project_id: 1,
        received_at: 1_764_550_000.0,
        client_ip: Some("127.0.0.1".into()),
        infer_ip: false,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

fn stages(c: &mut Criterion) {
    let scrubber = Scrubber::new(&ScrubSettings::default()).expect("default scrubbing settings compile");
    let rules = GroupingRules::default();
    let project = project_context(1, &Value::Object(Default::default()));
    for name in ["medium", "large"] {
        let env = envelope_bytes(name);
        let item = event_item(&env);
        let raw = normalize::parse_payload(&item).expect("event parses");
        let normalized = normalize::normalize(raw.clone(), &ctx()).expect("event normalizes");
        let mut scrubbed = normalized.clone();
        scrubber.scrub(&mut scrubbed);
        let json = serde_json::to_vec(&scrubbed).expect("serializes");
        let gz = gzip(&env);

        let mut g = c.benchmark_group(format!("pipeline/{name}"));
        g.throughput(Throughput::Bytes(item.len() as u64));
        g.bench_function("gzip decode", |b| {
            b.iter(|| decode::decode(ContentEncoding::Gzip, black_box(&gz), LIMIT).expect("decodes"))
        });
        g.bench_function("envelope parse", |b| {
            b.iter(|| envelope::parse(black_box(&env), 100).expect("parses"))
        });
        g.bench_function("json parse", |b| {
            b.iter(|| normalize::parse_payload(black_box(&item)).expect("parses"))
        });
        g.bench_function("normalize", |b| {
            b.iter_batched(
                || raw.clone(),
                |v| normalize::normalize(v, &ctx()).expect("normalizes"),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("scrub", |b| {
            b.iter_batched(
                || normalized.clone(),
                |mut v| scrubber.scrub(&mut v),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("group", |b| b.iter(|| group::group(black_box(&scrubbed), &rules)));
        g.bench_function("group hashes", |b| {
            b.iter(|| group::group_hashes(black_box(&scrubbed), &rules))
        });
        g.bench_function("summarize", |b| b.iter(|| group::summarize(black_box(&scrubbed))));
        g.bench_function("serialize", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                errata::event::json::to_writer(&mut out, black_box(&scrubbed));
                out
            })
        });
        let mut plain = zstd::bulk::Compressor::new(1).expect("compression context");
        g.bench_function("zstd level 1, no dictionary", |b| {
            b.iter(|| plain.compress(black_box(&json)).expect("compresses"))
        });
        g.bench_function("stored payload (zstd level 1, dictionary)", |b| {
            b.iter(|| errata::store::payload::compress(black_box(&json)).expect("compresses"))
        });
        g.bench_function("process_event (all of the above but decode)", |b| {
            b.iter(|| {
                process_event(
                    black_box(&item),
                    Some("0123456789abcdef0123456789abcdef"),
                    &project,
                    1.0,
                    None,
                    MAX_EVENT_SIZE,
                )
                .expect("processes")
            })
        });
        g.finish();
    }
}

/// The system allocator, counting allocations (and reallocations) while `COUNTING` is set.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` once; the symbol callgrind's `--toggle-collect` limits counting to.
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    COUNTING.store(true, Ordering::Relaxed);
    let out = black_box(f());
    COUNTING.store(false, Ordering::Relaxed);
    out
}

/// Runs one stage once to warm up, then `PIPELINE_ITERS` times counted (see the module
/// doc), outside criterion.
fn count_stage(spec: &str) {
    let (name, stage) = spec.split_once('/').expect("PIPELINE_STAGE is size/stage");
    if stage == "dump" {
        dump(name);
        return;
    }
    let iters: usize = std::env::var("PIPELINE_ITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let scrubber = Scrubber::new(&ScrubSettings::default()).expect("default scrubbing settings compile");
    let rules = GroupingRules::default();
    let project = project_context(1, &Value::Object(Default::default()));
    let item = event_item(&envelope_bytes(name));
    let raw = normalize::parse_payload(&item).expect("event parses");
    let normalized = normalize::normalize(raw.clone(), &ctx()).expect("event normalizes");
    let mut scrubbed = normalized.clone();
    scrubber.scrub(&mut scrubbed);
    for i in 0..=iters {
        macro_rules! run {
            ($f:expr) => {
                // The first run is not counted: lazily built statics (regexes) and
                // per-thread caches are created on first use, not per event.
                if i == 0 { black_box(($f)()) } else { measured($f) }
            };
        }
        match stage {
            "json" => drop(run!(|| normalize::parse_payload(&item).expect("parses"))),
            "normalize" => {
                let v = raw.clone();
                drop(run!(|| normalize::normalize(v, &ctx()).expect("normalizes")))
            }
            "scrub" => {
                let mut v = normalized.clone();
                run!(|| scrubber.scrub(&mut v));
            }
            "group" => drop(run!(|| group::group(&scrubbed, &rules))),
            "hashes" => drop(run!(|| group::group_hashes(&scrubbed, &rules))),
            "summarize" => drop(run!(|| group::summarize(&scrubbed))),
            "derive" => drop(run!(|| errata::event::derive::derive(&scrubbed))),
            "serialize" => drop(run!(|| {
                let mut out = Vec::new();
                errata::event::json::to_writer(&mut out, &scrubbed);
                out
            })),
            "process" => drop(run!(|| {
                process_event(
                    &item,
                    Some("0123456789abcdef0123456789abcdef"),
                    &project,
                    1.0,
                    None,
                    MAX_EVENT_SIZE,
                )
                .expect("processes")
            })),
            other => panic!("unknown stage {other}"),
        }
    }
    let per_event = ALLOCATIONS.load(Ordering::Relaxed) / iters.max(1);
    eprintln!("{spec}: {per_event} heap allocations per event");
}

/// Prints what `process_event` produces for an event (the record without its payload,
/// then the stored JSON), to compare builds byte for byte.
fn dump(name: &str) {
    let project = project_context(1, &Value::Object(Default::default()));
    let item = event_item(&envelope_bytes(name));
    let mut processed = process_event(
        &item,
        Some("0123456789abcdef0123456789abcdef"),
        &project,
        1.0,
        None,
        MAX_EVENT_SIZE,
    )
    .expect("processes");
    let json = errata::store::payload::decompress(&processed.record.payload).expect("stored payload decompresses");
    processed.record.payload.clear();
    println!("{:?}", processed.record);
    println!("{}", String::from_utf8_lossy(&json));
}

criterion_group!(benches, stages);

fn main() {
    if let Ok(spec) = std::env::var("PIPELINE_STAGE") {
        count_stage(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
