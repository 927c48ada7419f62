//! Errata: a self-hosted, Sentry-compatible error tracker.
//!
//! The path of an event: `ingest` (HTTP edge) → `event` (pure normalize, scrub,
//! group) → `store` (SQLite, one writer) → `api` (the `/api/0/` web API);
//! `notify` delivers alerts about new and regressed issues; `ops` serves health and metrics; `web` serves the pages people read in a browser.

pub mod api;
pub mod app;
pub mod client_addr;
pub mod config;
pub mod errors;
pub mod event;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod notify;
pub mod ops;
pub mod settings;
pub mod state;
pub mod store;
pub mod upload;
pub mod web;
