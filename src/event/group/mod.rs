//! Grouping: the ordered fingerprint hashes of an event (spec/grouping.md), and the
//! issue title, culprit and metadata derived from it.

use serde_json::Value;

/// The grouping configuration version stored with every hash.
pub const GROUPING_CONFIG: &str = "v1";

/// Result of grouping one event.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// 1–3 SHA-256 hex hashes, primary first.
    pub hashes: Vec<String>,
    /// Why: variants, components, frames considered or skipped.
    pub explain: Value,
}

/// Title, culprit and metadata of the issue an event opens.
#[derive(Debug, Clone)]
pub struct IssueSummary {
    pub title: String,
    pub culprit: Option<String>,
    pub metadata: Value,
    /// `error` if the event has an exception, else `default`.
    pub kind: &'static str,
    /// File of the most relevant frame, for `location`.
    pub location: Option<String>,
}

/// Project grouping rules (fingerprint rules and stack-trace rules).
#[derive(Debug, Clone, Default)]
pub struct GroupingRules {}

pub fn group(_event: &Value, _rules: &GroupingRules) -> Grouping {
    Grouping { hashes: vec![], explain: Value::Null }
}

pub fn summarize(_event: &Value) -> IssueSummary {
    IssueSummary {
        title: "<unlabeled event>".into(),
        culprit: None,
        metadata: Value::Null,
        kind: "default",
        location: None,
    }
}
