//! The HTTP edge for SDKs: authenticate, decode, split envelopes, hand events on.

pub mod auth;
pub mod cache;
pub mod decode;
pub mod envelope;
pub mod limits;
pub mod process;
pub mod ratelimit;
pub mod routes;
pub mod sourcemaps;
