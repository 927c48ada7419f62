//! The interface methods the PostgreSQL backend does not implement yet. Each answers with a
//! clear "not available" error (503 over HTTP) instead of a wrong result; `errata serve`
//! refuses a PostgreSQL URL until this file is empty.
#![allow(unused_variables)]

use std::collections::HashMap;

use serde_json::Value;

use super::PgStore;
use crate::store::*;

fn not_yet(method: &str) -> StoreError {
    StoreError::Unavailable(format!("{method} is not implemented on PostgreSQL yet"))
}

/// Names of the methods below, for the refusal message and its test.
pub const PENDING: &[&str] = &[
    "store_extras",
    "organizations",
    "organization",
    "project",
    "projects_by_id",
    "projects",
    "create_project",
    "update_project",
    "delete_project",
    "keys",
    "create_key",
    "update_key",
    "delete_key",
    "create_token",
    "create_org_token",
    "create_bound_token",
    "tokens",
    "token_by_hash",
    "touch_token",
    "revoke_token",
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
    "attachments",
    "attachment",
    "outcomes",
];

impl PgStore {
    pub async fn store_extras(
        &self,
        project_id: i64,
        event_id: Option<String>,
        attachments: Vec<NewAttachment>,
        reports: Vec<UserReport>,
    ) -> Result<(usize, Vec<bool>), StoreError> {
        Err(not_yet("store_extras"))
    }

    pub async fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        Err(not_yet("organizations"))
    }

    pub async fn organization(&self, slug_or_id: &str) -> Result<Organization, StoreError> {
        Err(not_yet("organization"))
    }

    pub async fn project(&self, organization_id: i64, slug_or_id: &str) -> Result<Project, StoreError> {
        Err(not_yet("project"))
    }

    pub async fn projects_by_id(&self, ids: Vec<i64>) -> Result<HashMap<i64, Project>, StoreError> {
        Err(not_yet("projects_by_id"))
    }

    pub async fn projects(&self, organization_id: Option<i64>) -> Result<Vec<Project>, StoreError> {
        Err(not_yet("projects"))
    }

    pub async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey), StoreError> {
        Err(not_yet("create_project"))
    }

    pub async fn update_project(&self, project_id: i64, change: ProjectChange) -> Result<Project, StoreError> {
        Err(not_yet("update_project"))
    }

    pub async fn delete_project(&self, project_id: i64) -> Result<(), StoreError> {
        Err(not_yet("delete_project"))
    }

    pub async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
        Err(not_yet("keys"))
    }

    pub async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey, StoreError> {
        Err(not_yet("create_key"))
    }

    pub async fn update_key(
        &self,
        project_id: i64,
        public_key: &str,
        change: KeyChange,
    ) -> Result<ProjectKey, StoreError> {
        Err(not_yet("update_key"))
    }

    pub async fn delete_key(&self, project_id: i64, public_key: &str) -> Result<(), StoreError> {
        Err(not_yet("delete_key"))
    }

    pub async fn create_bound_token(&self, new: NewToken) -> Result<String, StoreError> {
        Err(not_yet("create_bound_token"))
    }

    pub async fn create_token(&self, name: &str, scopes: &[&str]) -> Result<String, StoreError> {
        Err(not_yet("create_token"))
    }

    pub async fn create_org_token(
        &self,
        name: &str,
        scopes: &[&str],
        base_url: &str,
        org_slug: &str,
    ) -> Result<String, StoreError> {
        Err(not_yet("create_org_token"))
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Err(not_yet("tokens"))
    }

    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, String)>, StoreError> {
        Err(not_yet("token_by_hash"))
    }

    pub async fn touch_token(&self, id: i64) -> Result<(), StoreError> {
        Err(not_yet("touch_token"))
    }

    pub async fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        Err(not_yet("revoke_token"))
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

    pub async fn attachments(&self, project_id: i64, event_id: &str) -> Result<Vec<AttachmentInfo>, StoreError> {
        Err(not_yet("attachments"))
    }

    pub async fn attachment(
        &self,
        project_id: i64,
        event_id: &str,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        Err(not_yet("attachment"))
    }

    pub async fn outcomes(&self, project_id: i64, since: &str, until: &str) -> Result<Vec<OutcomeRow>, StoreError> {
        Err(not_yet("outcomes"))
    }
}
