//! The interface methods the PostgreSQL backend does not implement yet. Each answers with a
//! clear "not available" error (503 over HTTP) instead of a wrong result; `errata serve`
//! refuses a PostgreSQL URL until this file is empty.
#![allow(unused_variables)]

use std::collections::HashMap;
use std::path::Path;

use super::PgStore;
use crate::store::*;

fn not_yet(method: &str) -> StoreError {
    StoreError::Unavailable(format!("{method} is not implemented on PostgreSQL yet"))
}

/// Names of the methods below, for the refusal message and its test.
pub const PENDING: &[&str] = &[
    "backup",
    "delete_expired",
    "issues_over_cap",
    "events_beyond_cap",
    "delete_events",
    "expire_other",
    "expire_issue_data",
    "shrink_step",
    "used_bytes",
    "reclaim_step",
];

impl PgStore {
    pub async fn backup(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        Err(not_yet("backup"))
    }

    pub async fn delete_expired(&self, cutoff_us: i64, limit: usize) -> Result<usize, StoreError> {
        Err(not_yet("delete_expired"))
    }

    pub async fn issues_over_cap(&self, cap: u32, after: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        Err(not_yet("issues_over_cap"))
    }

    pub async fn events_beyond_cap(&self, issue_id: i64, cap: u32, limit: usize) -> Result<Vec<i64>, StoreError> {
        Err(not_yet("events_beyond_cap"))
    }

    pub async fn delete_events(&self, ids: Vec<i64>) -> Result<usize, StoreError> {
        Err(not_yet("delete_events"))
    }

    pub async fn expire_other(&self, cutoff_us: i64, cutoff_day: &str, limit: usize) -> Result<usize, StoreError> {
        Err(not_yet("expire_other"))
    }

    pub async fn expire_issue_data(&self, after: i64, limit: usize, cutoff_us: i64) -> Result<IssueStep, StoreError> {
        Err(not_yet("expire_issue_data"))
    }

    pub async fn shrink_step(&self, limit: usize) -> Result<usize, StoreError> {
        Err(not_yet("shrink_step"))
    }

    pub async fn used_bytes(&self) -> Result<i64, StoreError> {
        Err(not_yet("used_bytes"))
    }

    pub async fn reclaim_step(&self) -> Result<i64, StoreError> {
        Err(not_yet("reclaim_step"))
    }
}
