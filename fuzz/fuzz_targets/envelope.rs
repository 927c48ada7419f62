//! Envelope parsing on arbitrary bytes: never panics, and whatever parses survives
//! serialisation and the limit check unchanged.
#![no_main]

use errata::ingest::envelope::{parse, peek_header};
use errata::ingest::limits::{Limits, check_envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peek_header(data);
    let Ok(envelope) = parse(data, 1000) else {
        return;
    };
    let _ = check_envelope(&envelope, &Limits::default());

    let bytes = envelope.to_bytes();
    let again = parse(&bytes, 1000).expect("a serialised envelope parses");
    assert_eq!(again.items.len(), envelope.items.len());
    for (a, b) in again.items.iter().zip(&envelope.items) {
        assert_eq!(a.header.ty, b.header.ty);
        assert_eq!(a.payload, b.payload);
    }
});
