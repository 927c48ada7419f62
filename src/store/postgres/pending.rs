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
    "attachments",
    "attachment",
    "outcomes",
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
