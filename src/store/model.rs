//! Rows as the store hands them out, and the record an ingested event becomes.

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub date_created: i64,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: i64,
    pub organization_id: i64,
    pub organization_slug: String,
    pub slug: String,
    pub name: String,
    pub platform: Option<String>,
    pub date_created: i64,
    pub settings: Value,
}

#[derive(Debug, Clone)]
pub struct ProjectKey {
    pub id: i64,
    pub project_id: i64,
    pub public_key: String,
    pub secret_key: String,
    pub label: String,
    pub is_active: bool,
    pub rate_limit_count: Option<i64>,
    pub rate_limit_window: Option<i64>,
    pub allowed_origins: String,
    pub date_created: i64,
}

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub date_created: i64,
    pub last_used: Option<i64>,
    /// The organization the token acts in; `None` for an instance-wide token.
    pub organization_id: Option<i64>,
    /// The projects a project-bound token sees; `None` when not bound to projects.
    pub projects: Option<Vec<i64>>,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: i64,
    pub project_id: i64,
    pub short_id: i64,
    pub title: String,
    pub culprit: Option<String>,
    pub location: Option<String>,
    pub level: String,
    pub kind: String,
    pub platform: Option<String>,
    pub metadata: Value,
    pub status: String,
    pub substatus: Option<String>,
    pub status_details: Value,
    pub first_seen: i64,
    pub last_seen: i64,
    pub times_seen: i64,
    pub user_count: i64,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    pub grouping_config: String,
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub project_id: i64,
    pub issue_id: i64,
    pub event_id: String,
    pub timestamp: i64,
    pub received: i64,
    pub size: i64,
    /// The scrubbed, normalized event.
    pub data: Value,
}

/// Everything the writer needs to store one event: computed off the writer thread.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub project_id: i64,
    pub event_id: String,
    /// Grouping hashes, primary first.
    pub hashes: Vec<String>,
    pub grouping_config: &'static str,
    pub title: String,
    pub culprit: Option<String>,
    pub location: Option<String>,
    pub metadata: String,
    pub kind: &'static str,
    pub platform: String,
    pub timestamp: i64,
    pub received: i64,
    pub level: String,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub trace_id: Option<String>,
    /// `id:…`, `email:…`, `username:…` or `ip:…`: the distinct-user key.
    pub user_key: Option<String>,
    pub tags: Vec<(String, String)>,
    /// zstd-compressed JSON of the scrubbed event.
    pub payload: Vec<u8>,
    /// Uncompressed size of the JSON.
    pub size: usize,
}

/// What storing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub issue_id: i64,
    /// The event id was already stored for this project: acknowledged, not counted again.
    pub duplicate: bool,
}
