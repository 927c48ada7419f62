//! Per-event cost of source maps at ingest: parsing a map (paid once per map, then cached),
//! mapping an event's frames through a parsed map, the whole processing of a JavaScript
//! event with its map applied, and what an event without JavaScript frames pays (looking
//! for them). The map is generated: a 2,000-line bundle over 40 original files with their
//! sources inlined, about the size of a small production app's.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use ::sourcemap::SourceMapBuilder;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use errata::event::sourcemap::{self as mapper, Resolution};
use errata::ingest::cache::project_context;
use errata::ingest::process::{finish_event, prepare_event};
use serde_json::{Value, json};

const BUNDLE: &str = "https://shop.example/static/app.min.js";
const LINES: u32 = 2_000;
const TOKENS_PER_LINE: u32 = 40;
const FILES: u32 = 40;

fn generated_map() -> Vec<u8> {
    let mut builder = SourceMapBuilder::new(Some("app.min.js"));
    let names: Vec<String> = (0..200).map(|i| format!("function{i}")).collect();
    let sources: Vec<String> = (0..FILES).map(|i| format!("../src/module{i}.js")).collect();
    for source in &sources {
        let id = builder.add_source(source);
        let text: String = (0..400)
            .map(|l| format!("  const value{l} = compute(order, {l}); // line {l} of {source}\n"))
            .collect();
        builder.set_source_contents(id, Some(&text));
    }
    for line in 0..LINES {
        for t in 0..TOKENS_PER_LINE {
            let n = line * TOKENS_PER_LINE + t;
            let source = &sources[(n % FILES) as usize];
            let name = (t % 3 == 0).then(|| names[(n % 200) as usize].as_str());
            builder.add(line, t * 25, (n / FILES) % 400, t % 60, Some(source), name, false);
        }
    }
    let mut out = Vec::new();
    builder
        .into_sourcemap()
        .to_writer(&mut out)
        .expect("the map serializes");
    out
}

fn js_event(frames: usize) -> Value {
    let frames: Vec<Value> = (0..frames)
        .map(|i| {
            json!({"abs_path": BUNDLE, "filename": "/static/app.min.js", "function": format!("f{i}"),
                   "lineno": 1 + (i as u64 * 97) % LINES as u64, "colno": 1 + (i as u64 * 131) % 900, "in_app": true})
        })
        .collect();
    json!({
        "platform": "javascript", "release": "shop@1.0.0", "level": "error",
        "exception": {"values": [{"type": "TypeError", "value": "x is undefined", "stacktrace": {"frames": frames}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": BUNDLE, "debug_id": "a1b2c3d4-0000-4000-8000-000000000001"}]},
    })
}

fn benches(c: &mut Criterion) {
    let map = generated_map();
    let project = project_context(1, &Value::Object(Default::default()));
    let parsed = Arc::new(mapper::parse_map(&map, None, None).expect("the map parses"));
    let resolved = HashMap::from([(BUNDLE.to_string(), Resolution::Mapped(parsed))]);
    let sources = HashMap::new();
    let payload = serde_json::to_vec(&js_event(20)).expect("serializes");
    let python = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data/medium.envelope"))
        .expect("benchmark data is readable");
    let python_event = errata::ingest::envelope::parse(&python, 100).expect("parses").items[0]
        .payload
        .to_vec();
    let python_normalized = prepare_event(&python_event, None, &project, 1.0, None).expect("normalizes");

    let mut g = c.benchmark_group("sourcemaps");
    g.sample_size(20);
    g.bench_function(
        format!("parse a {} KB map (once per map, then cached)", map.len() >> 10),
        |b| b.iter(|| mapper::parse_map(black_box(&map), None, None).expect("parses")),
    );
    g.bench_function("requests: event without JavaScript frames", |b| {
        b.iter(|| mapper::requests(black_box(&python_normalized)))
    });
    let normalized = prepare_event(&payload, None, &project, 1.0, None).expect("normalizes");
    g.bench_function("apply: 20 frames through a cached map", |b| {
        b.iter_batched(
            || normalized.clone(),
            |mut event| mapper::apply(&mut event, &resolved, &sources),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("process a JavaScript event without maps", |b| {
        b.iter(|| {
            let event = prepare_event(black_box(&payload), None, &project, 1.0, None).expect("normalizes");
            finish_event(event, payload.len(), &project, 1.0, 1 << 20).expect("processes")
        })
    });
    g.bench_function("process a JavaScript event with its map applied", |b| {
        b.iter(|| {
            let mut event = prepare_event(black_box(&payload), None, &project, 1.0, None).expect("normalizes");
            mapper::requests(&event);
            mapper::apply(&mut event, &resolved, &sources);
            finish_event(event, payload.len(), &project, 1.0, 1 << 20).expect("processes")
        })
    });
    g.finish();
}

criterion_group!(sourcemap_benches, benches);
criterion_main!(sourcemap_benches);
