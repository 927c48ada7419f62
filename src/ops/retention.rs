//! The retention loop: every `retention_interval_secs`, delete events and every other
//! table's rows past their age, trim issues past their per-issue cap, keep the database
//! under its size cap, and give freed pages back to the file system. Each step is a small
//! writer job, so events keep flowing; every loop ends when a step finds nothing to delete.
//!
//! Several nodes on one PostgreSQL database each run this loop, but a pass runs on one node
//! at a time: it first takes the store's housekeeping lock and skips the pass when another
//! node holds it (their passes would only race to delete the same rows).

use std::time::Duration;

use crate::state::AppState;
use crate::store::{StoreError, now_us};

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;
/// Issues examined per step when looking for ones over the per-issue cap.
const ISSUE_SCAN: usize = 200;
/// Most event ids chosen per issue and pass when trimming to the per-issue cap.
const TRIM_SCAN_MAX: usize = 10_000;
/// The size cap deletes down to this share of the cap, so it does not run on every pass.
const SIZE_CAP_LOW_WATER_PERCENT: i64 = 90;

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub expired: usize,
    /// Rows of the other tables past their age (user reports, outcomes, tags, hours, issues).
    pub expired_other: usize,
    pub over_issue_cap: usize,
    pub over_size_cap: usize,
}

/// Runs passes until the task is aborted (at shutdown).
pub async fn run(state: AppState) {
    let interval = Duration::from_secs(state.config.retention_interval_secs);
    loop {
        if state.is_shutting_down() {
            return;
        }
        match exclusive_pass(&state).await {
            Ok(None) => tracing::debug!("another node is running the retention pass; skipped"),
            Ok(Some(report)) if report != PassReport::default() => {
                tracing::info!(
                    expired = report.expired,
                    expired_other = report.expired_other,
                    over_issue_cap = report.over_issue_cap,
                    over_size_cap = report.over_size_cap,
                    "retention pass deleted events"
                );
            }
            Ok(Some(_)) => {}
            Err(StoreError::Closed) => return,
            Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying next interval"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// One pass, if no other node on the same database is running one (`None`: skipped).
pub async fn exclusive_pass(state: &AppState) -> Result<Option<PassReport>, StoreError> {
    let Some(lock) = state.store.try_lock_housekeeping().await? else {
        return Ok(None);
    };
    let result = pass(state).await;
    lock.release().await;
    result.map(Some)
}

/// One pass of every enabled rule.
pub async fn pass(state: &AppState) -> Result<PassReport, StoreError> {
    let config = &state.config;
    let store = &state.store;
    let batch = config.retention_batch;
    let mut report = PassReport::default();

    // Web sessions past their idle or absolute lifetime.
    let pruned = store.prune_sessions(now_us(), config.session_limits()).await?;
    report.expired_other += usize::try_from(pruned).unwrap_or(usize::MAX);

    if config.retention_days > 0 {
        let cutoff = now_us() - i64::from(config.retention_days) * MICROS_PER_DAY;
        loop {
            let deleted = store.delete_expired(cutoff, batch).await?;
            count(&mut report.expired, deleted, "age");
            if deleted < batch || state.is_shutting_down() {
                break;
            }
        }
        expire_other_tables(state, cutoff, &mut report).await?;
    }

    if config.max_events_per_issue > 0 {
        let cap = config.max_events_per_issue;
        let mut after = 0;
        loop {
            let issues = store.issues_over_cap(cap, after, ISSUE_SCAN).await?;
            for &issue in &issues {
                let doomed = store.events_beyond_cap(issue, cap, TRIM_SCAN_MAX).await?;
                for chunk in doomed.chunks(batch) {
                    let deleted = store.delete_events(chunk.to_vec()).await?;
                    count(&mut report.over_issue_cap, deleted, "issue_cap");
                    if state.is_shutting_down() {
                        return Ok(report);
                    }
                }
            }
            match issues.last() {
                Some(&last) if issues.len() == ISSUE_SCAN => after = last,
                _ => break,
            }
        }
    }

    if config.max_database_mb > 0 {
        let cap = i64::try_from(config.max_database_mb)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(1 << 20);
        let low_water = cap / 100 * SIZE_CAP_LOW_WATER_PERCENT;
        if store.used_bytes().await? > cap {
            loop {
                // Events first, then the other tables; 0 once nothing is left to delete.
                let deleted = store.shrink_step(batch).await?;
                count(&mut report.over_size_cap, deleted, "size_cap");
                if deleted == 0 || state.is_shutting_down() {
                    break;
                }
                if store.used_bytes().await? <= low_water {
                    break;
                }
            }
        }
    }

    while store.reclaim_step().await? > 0 {
        if state.is_shutting_down() {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(report)
}

/// Deletes the rows of every other table that are past `cutoff` (µs), a batch at a time.
async fn expire_other_tables(state: &AppState, cutoff: i64, report: &mut PassReport) -> Result<(), StoreError> {
    let store = &state.store;
    let batch = state.config.retention_batch;
    let cutoff_day = chrono::DateTime::from_timestamp_micros(cutoff)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    loop {
        let deleted = store.expire_other(cutoff, &cutoff_day, batch).await?;
        count(&mut report.expired_other, deleted, "age_other");
        if deleted == 0 || state.is_shutting_down() {
            break;
        }
    }
    let mut after = 0;
    loop {
        let step = store.expire_issue_data(after, ISSUE_SCAN, cutoff).await?;
        count(&mut report.expired_other, step.deleted, "age_other");
        match step.last {
            Some(last) if !state.is_shutting_down() => after = last,
            _ => return Ok(()),
        }
    }
}

fn count(total: &mut usize, deleted: usize, reason: &'static str) {
    *total += deleted;
    metrics::counter!("errata_retention_deleted_total", "reason" => reason).increment(deleted as u64);
}
