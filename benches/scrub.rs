//! Scrubbing cost per event, for a ~6 KB and a ~40 KB Python-SDK event built from a
//! captured one (tests/fixtures/wire/python/012.body) that carries real secrets.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use errata::event::scrub::{ScrubSettings, Scrubber};
use serde_json::{Value, json};
use std::hint::black_box;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire/python/012.body");

/// The event item of the captured envelope, in the canonical (normalised) shape:
/// tags, headers, cookies and the query string as `[name, value]` pairs.
fn captured_event() -> Value {
    let body = std::fs::read_to_string(FIXTURE).expect("fixture is readable");
    let line = body.lines().nth(2).expect("envelope has an event item");
    let mut event: Value = serde_json::from_str(line).expect("event item is JSON");
    pairs(&mut event["tags"]);
    let request = &mut event["request"];
    pairs(&mut request["headers"]);
    if let Value::Array(headers) = &mut request["headers"] {
        headers.retain(|h| h[0] != "Cookie");
    }
    pairs(&mut request["cookies"]);
    if let Some(query) = request["query_string"].as_str() {
        let list: Vec<Value> = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                json!([k, v])
            })
            .collect();
        request["query_string"] = Value::Array(list);
    }
    event
}

fn pairs(value: &mut Value) {
    if let Value::Object(map) = value {
        let list = map.iter().map(|(k, v)| json!([k, v])).collect();
        *value = Value::Array(list);
    }
}

/// Repeats frames and breadcrumbs (the parts that grow in real events) until the
/// serialised event reaches `target` bytes.
fn grown(base: &Value, target: usize) -> Value {
    let mut event = base.clone();
    let frames = base["exception"]["values"][0]["stacktrace"]["frames"].clone();
    let crumbs = base["breadcrumbs"]["values"].clone();
    let mut round = 0;
    while serde_json::to_vec(&event).map_or(0, |v| v.len()) < target {
        let item = round % 2;
        if let (Value::Array(all), Some(frame)) = (
            &mut event["exception"]["values"][0]["stacktrace"]["frames"],
            frames.get(item),
        ) {
            all.insert(0, frame.clone());
        }
        if let (Value::Array(all), Some(crumb)) = (&mut event["breadcrumbs"]["values"], crumbs.get(round % 4)) {
            all.push(crumb.clone());
        }
        round += 1;
    }
    event
}

fn bench_scrub(c: &mut Criterion) {
    let scrubber = Scrubber::new(&ScrubSettings::default()).expect("default settings compile");
    let base = captured_event();
    let mut group = c.benchmark_group("scrub");
    for (name, target) in [("6KB", 6 * 1024), ("40KB", 40 * 1024)] {
        let event = errata::event::json::Value::from(grown(&base, target));
        let size = serde_json::to_vec(&event).map_or(0, |v| v.len());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(name, |b| {
            // By reference, so cloning and dropping the event stay out of the timing.
            b.iter_batched_ref(
                || event.clone(),
                |e| black_box(scrubber.scrub(e)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_scrub);
criterion_main!(benches);
