//! The whole pure pipeline on arbitrary payloads (normalize → scrub → group → trim →
//! serialize), then read back the way the API reads a stored event: it never panics,
//! the stored JSON fits the size limit and parses with serde_json's defaults.
#![no_main]

use errata::event::bounds::{READ_DEPTH_LIMIT, depth};
use errata::ingest::cache::project_context;
use errata::ingest::process::process_event;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PROJECT: LazyLock<errata::ingest::process::ProjectContext> =
    LazyLock::new(|| project_context(1, &serde_json::json!({})));

/// Small enough that fuzzed payloads reach the trimming steps.
const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(processed) = process_event(data, None, &PROJECT, 1_741_083_330.0, Some("192.0.2.1"), LIMIT) else {
        return;
    };
    assert!(processed.record.size <= LIMIT);
    let json = zstd::decode_all(processed.record.payload.as_slice()).expect("stored payload decompresses");
    let event: serde_json::Value = serde_json::from_slice(&json).expect("stored event reads back");
    assert!(depth(&event) < READ_DEPTH_LIMIT);
});
