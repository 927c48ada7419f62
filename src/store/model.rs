//! Rows as the store hands them out, the record an ingested event becomes, and the
//! changes callers ask for: the types of the `Store` interface, shared by every backend.

pub use crate::ids::{EventId, IssueStatus};
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
    pub status: IssueStatus,
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
    pub event_id: EventId,
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
    pub event_id: EventId,
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

/// A tag value of an issue with its counts.
#[derive(Debug, Clone)]
pub struct TagValue {
    pub key: String,
    pub value: String,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// What first start created: shown once to the operator.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub organization: Organization,
    pub project: Project,
    pub key: ProjectKey,
    pub token: String,
}

/// What an unmerge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmerged {
    pub new_issue_id: i64,
    /// Events moved to the new issue.
    pub events: i64,
}

/// An attachment as received, already within the stored-size cap.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub name: String,
    pub content_type: Option<String>,
    pub attachment_type: String,
    pub data: Vec<u8>,
}

/// A stored attachment without its bytes.
#[derive(Debug, Clone)]
pub struct AttachmentInfo {
    pub id: i64,
    pub event_id: EventId,
    pub name: String,
    pub content_type: Option<String>,
    pub attachment_type: String,
    pub size: i64,
    pub date_created: i64,
}

/// What a user wrote about an event.
#[derive(Debug, Clone, PartialEq)]
pub struct UserReport {
    pub event_id: EventId,
    pub name: String,
    pub email: String,
    pub comments: String,
}

/// Occurrences of rate-limited events, summed per project, grouping hashes and hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitedCount {
    pub project_id: i64,
    /// The event's grouping hashes, primary first.
    pub hashes: Vec<String>,
    /// Unix hour number of the events.
    pub hour: i64,
    pub count: i64,
    /// Latest event timestamp, microseconds.
    pub last_seen: i64,
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub pages: i64,
    pub bytes: u64,
    pub events: i64,
}

/// How many events and issues are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub events: i64,
    pub issues: i64,
}

/// A project to create, with its first DSN key.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub organization_id: i64,
    pub slug: String,
    pub name: String,
    pub platform: Option<String>,
    pub key_label: String,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub platform: Option<String>,
    /// The whole settings document, already validated and merged (`settings::merged`).
    pub settings: Option<Value>,
}

/// Changes to a DSN key; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyChange {
    pub label: Option<String>,
    pub is_active: Option<bool>,
    /// `Some(None)` removes the limit; `Some(Some((count, window_secs)))` sets it.
    pub rate_limit: Option<Option<(i64, i64)>>,
    /// `*` or a comma-separated list of origins, hosts or wildcards.
    pub allowed_origins: Option<String>,
}

/// A token to mint, in one transaction with its binding.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
    /// An organization token (`sntrys_…`) carries the URL and the organization's slug.
    pub org_claims: Option<(String, String)>,
    /// The organization the token acts in, and the projects it is bound to (if any).
    pub binding: Option<(i64, Option<Vec<i64>>)>,
}

/// A grouping hash of an issue and the grouping config that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueHash {
    pub hash: String,
    pub grouping_config: String,
}

/// A status change as the API asks for it.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub status: IssueStatus,
    pub substatus: Option<String>,
    /// Sentry's `statusDetails`, as stored.
    pub details: Value,
}

/// What one step over a range of issues deleted, and where the next step starts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IssueStep {
    /// The last issue id examined; `None` when there were no issues after `after`.
    pub last: Option<i64>,
    pub deleted: usize,
}
