//! Event normalisation on arbitrary payloads: never panics, never recurses without bound.
#![no_main]

use errata::event::normalize::{NormalizeContext, normalize, parse_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = parse_payload(data) else {
        return;
    };
    let ctx = NormalizeContext {
        project_id: 42,
        received_at: 1_741_083_330.0,
        client_ip: Some("192.0.2.1".to_owned()),
        infer_ip: true,
    };
    let _ = normalize(event, &ctx);
});
