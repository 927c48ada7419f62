//! Errata: a self-hosted, Sentry-compatible error tracker.
//!
//! The path of an event: `ingest` (HTTP edge) → `event` (pure normalize, scrub,
//! group) → `store` (SQLite, one writer) → `api` (the `/api/0/` web API).

pub mod event;
pub mod ingest;
