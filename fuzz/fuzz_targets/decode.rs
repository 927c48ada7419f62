//! Body decoding on arbitrary bytes: never panics, never returns more than the limit.
#![no_main]

use errata::ingest::decode::{ContentEncoding, decode, decode_legacy_store};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = match selector % 5 {
        0 => ContentEncoding::Identity,
        1 => ContentEncoding::Gzip,
        2 => ContentEncoding::Deflate,
        3 => ContentEncoding::Brotli,
        _ => ContentEncoding::Zstd,
    };
    if let Ok(out) = decode(encoding, body, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
    if let Ok(out) = decode_legacy_store(body, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
    let _ = ContentEncoding::parse(std::str::from_utf8(body).ok());
});
