//! Credential parsing on arbitrary text: never panics; accepted keys are always valid.
#![no_main]

use errata::ingest::auth::{from_request, parse_dsn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // NUL separates the X-Sentry-Auth header, the Authorization header and the query.
    let mut parts = text.split('\0');
    let x_sentry_auth = parts.next();
    let authorization = parts.next();
    let query = parts.next();
    if let Ok(Some(auth)) = from_request(x_sentry_auth, authorization, query) {
        assert_eq!(auth.public_key.len(), 32);
        assert!(auth.version <= 7);
    }
    if let Ok(dsn) = parse_dsn(&text) {
        assert_eq!(dsn.public_key.len(), 32);
        assert!(dsn.project_id > 0);
    }
});
