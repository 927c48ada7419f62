//! The interface methods the PostgreSQL backend does not implement yet. Each answers with a
//! clear "not available" error (503 over HTTP) instead of a wrong result; `errata serve`
//! refuses a PostgreSQL URL until this file is empty.
#![allow(unused_variables)]

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::PgStore;
use crate::store::*;

fn not_yet(method: &str) -> StoreError {
    StoreError::Unavailable(format!("{method} is not implemented on PostgreSQL yet"))
}

/// Names of the methods below, for the refusal message and its test.
pub const PENDING: &[&str] = &[
    "backup",
    "issues",
    "issues_by_value",
    "issue_stats",
    "issue_tags",
    "issue_hashes",
    "latest_event_per_hash",
    "set_status",
    "merge_issues",
    "unmerge",
    "delete_issues",
    "issue_events",
    "project_events",
    "find_event",
    "neighbours",
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

    pub async fn issues(&self, filter: IssueFilter) -> Result<Vec<Issue>, StoreError> {
        Err(not_yet("issues"))
    }

    pub async fn issues_by_value(
        &self,
        filter: IssueFilter,
        value: i64,
        is_prev: bool,
    ) -> Result<Vec<Issue>, StoreError> {
        Err(not_yet("issues_by_value"))
    }

    pub async fn issue_stats(
        &self,
        issue_ids: Vec<i64>,
        now_us: i64,
        bucket_hours: i64,
        buckets: usize,
    ) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
        Err(not_yet("issue_stats"))
    }

    pub async fn issue_tags(&self, issue_id: i64) -> Result<Vec<TagValue>, StoreError> {
        Err(not_yet("issue_tags"))
    }

    pub async fn issue_hashes(&self, issue_id: i64) -> Result<Vec<IssueHash>, StoreError> {
        Err(not_yet("issue_hashes"))
    }

    pub async fn latest_event_per_hash(&self, issue_id: i64) -> Result<HashMap<String, StoredEvent>, StoreError> {
        Err(not_yet("latest_event_per_hash"))
    }

    pub async fn set_status(&self, issue_ids: Vec<i64>, change: StatusChange) -> Result<(), StoreError> {
        Err(not_yet("set_status"))
    }

    pub async fn merge_issues(&self, issue_ids: Vec<i64>) -> Result<i64, StoreError> {
        Err(not_yet("merge_issues"))
    }

    pub async fn unmerge(
        &self,
        issue_id: i64,
        hashes: Vec<String>,
        tags_of: fn(&Value) -> Vec<(String, String)>,
    ) -> Result<Unmerged, StoreError> {
        Err(not_yet("unmerge"))
    }

    pub async fn delete_issues(&self, issue_ids: Vec<i64>) -> Result<(), StoreError> {
        Err(not_yet("delete_issues"))
    }

    pub async fn issue_events(
        &self,
        issue_id: i64,
        order: EventOrder,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        Err(not_yet("issue_events"))
    }

    pub async fn project_events(
        &self,
        project_id: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        Err(not_yet("project_events"))
    }

    pub async fn find_event(&self, project_ids: Vec<i64>, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        Err(not_yet("find_event"))
    }

    pub async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<String>, Option<String>), StoreError> {
        Err(not_yet("neighbours"))
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
