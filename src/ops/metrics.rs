//! The Prometheus recorder (one per process) and the gauges computed at scrape time.
//!
//! Metric names: `errata_requests_total{endpoint,status}`, `errata_items_total{type,outcome}`
//! (items received), `errata_outcomes_total{category,outcome}` (accepted, filtered, rate
//! limited, invalid), `errata_queue_depth`, `errata_queue_capacity`, `errata_batch_size` and
//! `errata_commit_seconds`, `errata_wal_catch_up_seconds` (histograms), `errata_database_bytes`, `errata_events_stored`,
//! `errata_issues`, `errata_disk_free_bytes`, `errata_retention_deleted_total{reason}`.

use std::time::{Duration, Instant};

use crate::http::{HeaderMap, header};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use subtle::ConstantTimeEq;

use crate::state::AppState;

/// Table counts are reused this long: counting a large table is not free.
const STATS_TTL: Duration = Duration::from_secs(10);

pub use crate::store::StoreCounts as StoreStats;

/// Installs the process-wide recorder with Errata's histogram buckets and help texts.
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("errata_commit_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full("errata_wal_catch_up_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full("errata_batch_size".into()),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0],
        )?
        .install_recorder()?;
    describe();
    // Present from the first scrape, so dashboards and alerts see zero rather than nothing.
    for reason in ["age", "age_other", "issue_cap", "size_cap"] {
        metrics::counter!("errata_retention_deleted_total", "reason" => reason).absolute(0);
    }
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("errata_requests_total", "HTTP requests by endpoint and status code");
    describe_counter!("errata_items_total", "Envelope items by type and outcome");
    describe_gauge!("errata_queue_depth", "Jobs waiting for the database writer");
    describe_gauge!(
        "errata_queue_capacity",
        "Jobs the write queue holds before ingest answers 429"
    );
    describe_histogram!("errata_batch_size", "Events committed per transaction");
    describe_histogram!("errata_commit_seconds", "Time to write and commit one batch");
    describe_histogram!(
        "errata_wal_catch_up_seconds",
        "Time the writer spends between batches copying the last pages of a long WAL"
    );
    describe_gauge!(
        "errata_database_bytes",
        "Size of the database files (main file and WAL)"
    );
    describe_gauge!(
        "errata_disk_free_bytes",
        "Free space on the data directory's file system"
    );
    describe_gauge!("errata_events_stored", "Events in the database");
    describe_gauge!("errata_issues", "Issues in the database");
    describe_counter!(
        "errata_retention_deleted_total",
        "Rows deleted by retention, by reason (age, age_other: other tables by age, issue_cap, size_cap)"
    );
    describe_counter!(
        "errata_notifications_total",
        "Alert notification attempts by channel type, outcome (delivered, retry, rejected, refused, expired) and shape (single, digest)"
    );
    describe_gauge!("errata_outbox_depth", "Alert notifications waiting to be delivered");
    describe_counter!(
        "errata_notifications_dropped_total",
        "Alert notifications dropped because the outbox was full"
    );
}

/// `Authorization: Bearer <token>`, compared in constant time.
pub fn token_matches(expected: &str, headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.trim().as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Sets the gauges that are read rather than counted.
pub async fn record_gauges(state: &AppState) {
    metrics::gauge!("errata_queue_depth").set(state.store.queue_depth() as f64);
    metrics::gauge!("errata_queue_capacity").set(state.store.queue_capacity() as f64);
    // PostgreSQL keeps its files on its own server (`disk_bytes` is 0 there): the size it
    // reports for Errata's tables stands in.
    let bytes = match state.store.disk_bytes() {
        0 => state.store.used_bytes().await.map_or(0, |b| b.max(0) as u64),
        b => b,
    };
    metrics::gauge!("errata_database_bytes").set(bytes as f64);
    if let Some(free) = super::disk_free_bytes(&state.config.data_dir) {
        metrics::gauge!("errata_disk_free_bytes").set(free as f64);
    }
    if let Some(stats) = store_stats(state).await {
        metrics::gauge!("errata_events_stored").set(stats.events as f64);
        metrics::gauge!("errata_issues").set(stats.issues as f64);
    }
    if let Ok(depth) = state.store.outbox_depth().await {
        metrics::gauge!("errata_outbox_depth").set(depth as f64);
    }
    // Present from the start, so a dashboard shows 0 rather than no data.
    metrics::counter!("errata_notifications_dropped_total").increment(0);
}

async fn store_stats(state: &AppState) -> Option<StoreStats> {
    if let Some((at, stats)) = state.ops.stats.lock().ok().and_then(|s| *s)
        && at.elapsed() < STATS_TTL
    {
        return Some(stats);
    }
    let stats = state.store.counts().await.ok()?;
    if let Ok(mut slot) = state.ops.stats.lock() {
        *slot = Some((Instant::now(), stats));
    }
    Some(stats)
}
