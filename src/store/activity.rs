//! An issue's activity (notes people write and the status changes they make), the tag keys
//! of an organization, and the events of one trace: what the browsing tools read beside
//! issues and events.

use serde_json::{Value, json};

use super::{StatusChange, Store, StoreError, StoredEvent, dispatch};
use crate::ids::IssueStatus;

/// Most activity rows one issue answers with.
pub const MAX_ACTIVITY: usize = 100;

/// One activity row, newest first when listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub id: i64,
    pub issue_id: i64,
    /// Sentry's activity type: `note`, `set_resolved`, `set_unresolved`, `set_ignored`, …
    pub kind: String,
    pub data: Value,
    /// The user who did it, as the API shows users; `None` when unknown.
    pub actor: Option<Value>,
    pub date_created: i64,
}

/// An activity row to write.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub kind: String,
    pub data: Value,
    pub actor: Option<Value>,
    pub date_created: i64,
}

/// A tag key of an organization with how often it was seen and how many values it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeyCount {
    pub key: String,
    pub total_values: i64,
    pub unique_values: i64,
}

/// The activity a status change leaves, as Sentry names it, with the public details.
pub fn status_activity(change: &StatusChange, at_us: i64) -> NewActivity {
    let in_release = change.details.get("inNextRelease").is_some() || change.details.get("inRelease").is_some();
    let kind = match change.status {
        IssueStatus::Resolved if in_release => "set_resolved_in_release",
        IssueStatus::Resolved => "set_resolved",
        IssueStatus::Unresolved => "set_unresolved",
        IssueStatus::Ignored => "set_ignored",
    };
    let data = match change.details.as_object() {
        Some(details) => Value::Object(
            details
                .iter()
                .filter(|(k, v)| !v.is_null() && !k.ends_with("Us"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => json!({}),
    };
    NewActivity {
        kind: kind.into(),
        data,
        actor: None,
        date_created: at_us,
    }
}

impl Store {
    /// Writes a note on an issue; NotFound when the issue does not exist.
    pub async fn add_activity(&self, issue_id: i64, new: NewActivity) -> Result<Activity, StoreError> {
        dispatch!(self, b => b.add_activity(issue_id, new).await)
    }

    /// Replaces the text of a note of this issue; NotFound for any other row.
    pub async fn update_note(&self, issue_id: i64, note_id: i64, data: Value) -> Result<Activity, StoreError> {
        dispatch!(self, b => b.update_note(issue_id, note_id, data).await)
    }

    /// Deletes a note of this issue; NotFound for any other row.
    pub async fn delete_note(&self, issue_id: i64, note_id: i64) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_note(issue_id, note_id).await)
    }

    /// An issue's activity, newest first, at most `limit` rows; only notes with `notes_only`.
    pub async fn issue_activity(
        &self,
        issue_id: i64,
        notes_only: bool,
        limit: usize,
    ) -> Result<Vec<Activity>, StoreError> {
        let limit = limit.min(MAX_ACTIVITY);
        dispatch!(self, b => b.issue_activity(issue_id, notes_only, limit).await)
    }

    /// The tag keys of the issues of `project_ids` seen since `since_us`, most seen first,
    /// at most `limit`.
    pub async fn tag_keys(
        &self,
        project_ids: Vec<i64>,
        since_us: i64,
        limit: usize,
    ) -> Result<Vec<TagKeyCount>, StoreError> {
        if project_ids.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, b => b.tag_keys(project_ids, since_us, limit).await)
    }

    /// The events of one trace in `project_ids`, newest first, at most `limit`.
    pub async fn trace_events(
        &self,
        project_ids: Vec<i64>,
        trace_id: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if project_ids.is_empty() {
            return Ok(Vec::new());
        }
        let trace_id = trace_id.to_string();
        dispatch!(self, b => b.trace_events(project_ids, trace_id, limit).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_name_sentry_activity_types() {
        let change = |status, details: Value| StatusChange {
            status,
            substatus: None,
            details,
        };
        assert_eq!(
            status_activity(&change(IssueStatus::Resolved, json!({})), 0).kind,
            "set_resolved"
        );
        assert_eq!(
            status_activity(&change(IssueStatus::Resolved, json!({"inNextRelease": true})), 0).kind,
            "set_resolved_in_release"
        );
        let ignored = status_activity(
            &change(
                IssueStatus::Ignored,
                json!({"ignoreCount": 5, "ignoreUntilUs": 7, "ignoreWindow": null}),
            ),
            0,
        );
        assert_eq!(ignored.kind, "set_ignored");
        assert_eq!(ignored.data, json!({"ignoreCount": 5}));
        assert_eq!(
            status_activity(&change(IssueStatus::Unresolved, json!({})), 0).kind,
            "set_unresolved"
        );
    }
}
