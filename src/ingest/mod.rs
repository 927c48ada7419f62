//! The HTTP edge for SDKs: authenticate, decode, split envelopes, hand events on.

pub mod auth;
pub mod decode;
pub mod envelope;
