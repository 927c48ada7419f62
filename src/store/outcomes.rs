//! Outcomes: what became of every item SDKs sent (accepted, filtered, rate limited,
//! invalid, too large, duplicate, discarded by the client), counted in one place.
//!
//! Ingest records outcomes into an in-memory tally (one mutex, no I/O); a background
//! flush writes the tally to the `outcomes` table per project, UTC day, category,
//! outcome and reason, in one transaction for everything that accumulated — never
//! one write per request. Every outcome is also a Prometheus counter with bounded labels.
//! Rows stay bounded: categories and client reasons come from fixed sets, and a project
//! and day holds at most [`MAX_ROWS_PER_PROJECT_DAY`] distinct rows.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// What became of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Stored (events) or acknowledged (everything else).
    Accepted,
    /// Dropped on purpose by a project setting (origin not allowed, inbound filter).
    Filtered(&'static str),
    /// Over the key's rate limit.
    RateLimited,
    /// Malformed: the reason says how.
    Invalid(&'static str),
    /// Over a size or count limit.
    TooLarge,
    /// An event id already stored for the project.
    Duplicate,
    /// Dropped by the SDK before sending, as told by a client report; the reason is the SDK's.
    ClientDiscard(String),
}

impl Outcome {
    /// The name stored and exposed: `accepted`, `filtered`, `rate_limited`, `invalid`,
    /// `too_large`, `duplicate`, `client_discard`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Filtered(_) => "filtered",
            Outcome::RateLimited => "rate_limited",
            Outcome::Invalid(_) => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::Duplicate => "duplicate",
            Outcome::ClientDiscard(_) => "client_discard",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Outcome::Filtered(r) | Outcome::Invalid(r) => r,
            Outcome::ClientDiscard(r) => r,
            _ => "",
        }
    }
}

/// The data categories outcomes are counted in (Relay's names); anything else is `unknown`.
pub const CATEGORIES: &[&str] = &[
    "default",
    "error",
    "transaction",
    "span",
    "security",
    "attachment",
    "session",
    "profile",
    "profile_chunk",
    "replay",
    "monitor",
    "feedback",
    "user_report_v2",
    "log_item",
    "log_byte",
    "trace_metric",
    "internal",
    "metric_bucket",
];

/// A category as counted: one of [`CATEGORIES`], else `unknown` (keeps labels and rows bounded).
pub fn category(name: &str) -> &'static str {
    CATEGORIES.iter().find(|c| **c == name).copied().unwrap_or("unknown")
}

/// The discard reasons SDKs report (Sentry's client reports), plus the defaults Errata
/// gives entries without one. Anything else is counted as `other`, so a client cannot
/// open a new row per made-up reason.
pub const CLIENT_REASONS: &[&str] = &[
    "backpressure",
    "before_send",
    "buffer_overflow",
    "cache_overflow",
    "deadline_exceeded",
    "event_processor",
    "filtered",
    "ignored",
    "insufficient_data",
    "internal_sdk_error",
    "network_error",
    "queue_overflow",
    "ratelimit",
    "ratelimit_backoff",
    "sample_rate",
    "send_error",
    "unknown",
];

/// A client-supplied reason as counted: one of [`CLIENT_REASONS`] (case-insensitive),
/// else `other`.
pub fn client_reason(reason: &str) -> String {
    CLIENT_REASONS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(reason.trim()))
        .copied()
        .unwrap_or("other")
        .to_string()
}

/// Bound on distinct outcome rows per project and day; past it, new rows fold into the
/// reason `overflow` of their category and outcome (a fixed set, so the table stays bounded).
pub const MAX_ROWS_PER_PROJECT_DAY: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    project_id: i64,
    day: String,
    category: &'static str,
    outcome: &'static str,
    reason: String,
}

/// Bound on distinct rows waiting for a flush; past it, rows fold into reason `overflow`.
const MAX_PENDING_ROWS: usize = 50_000;

/// The in-memory tally of outcomes not yet written.
#[derive(Default)]
pub struct OutcomeTally {
    pending: Mutex<HashMap<Key, u64>>,
}

impl OutcomeTally {
    /// Counts `quantity` items of `category` for a project (also in `/metrics`).
    pub fn record(&self, project_id: i64, category_name: &str, outcome: &Outcome, quantity: u64) {
        if quantity == 0 {
            return;
        }
        let category = category(category_name);
        metrics::counter!("errata_outcomes_total", "category" => category, "outcome" => outcome.name())
            .increment(quantity);
        let mut key = Key {
            project_id,
            day: today(),
            category,
            outcome: outcome.name(),
            reason: outcome.reason().to_string(),
        };
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.len() >= MAX_PENDING_ROWS && !pending.contains_key(&key) {
            key.reason = "overflow".into();
        }
        *pending.entry(key).or_insert(0) += quantity;
    }

    /// Counts an outcome that has no project (the request never authenticated): metrics only.
    pub fn record_unattributed(category_name: &str, outcome: &Outcome, quantity: u64) {
        metrics::counter!("errata_outcomes_total", "category" => category(category_name), "outcome" => outcome.name())
            .increment(quantity);
    }

    /// Takes everything pending, leaving the tally empty.
    pub fn take(&self) -> Vec<OutcomeRow> {
        let drained: Vec<(Key, u64)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => Vec::new(),
        };
        drained
            .into_iter()
            .map(|(k, quantity)| OutcomeRow {
                project_id: k.project_id,
                day: k.day,
                category: k.category.to_string(),
                outcome: k.outcome.to_string(),
                reason: k.reason,
                quantity: quantity as i64,
            })
            .collect()
    }

    /// Puts rows back after a failed write, so a transient failure loses nothing.
    pub fn restore(&self, rows: Vec<OutcomeRow>) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        for row in rows {
            let key = Key {
                project_id: row.project_id,
                day: row.day,
                category: category(&row.category),
                outcome: outcome_name(&row.outcome),
                reason: row.reason,
            };
            *pending.entry(key).or_insert(0) += row.quantity as u64;
        }
    }
}

fn outcome_name(name: &str) -> &'static str {
    [
        "accepted",
        "filtered",
        "rate_limited",
        "invalid",
        "too_large",
        "duplicate",
        "client_discard",
    ]
    .into_iter()
    .find(|n| *n == name)
    .unwrap_or("invalid")
}

/// The UTC day outcomes are counted in, `YYYY-MM-DD`.
fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// One row of the `outcomes` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeRow {
    #[serde(skip)]
    pub project_id: i64,
    pub day: String,
    pub category: String,
    pub outcome: String,
    pub reason: String,
    pub quantity: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_sums_per_key_and_empties_on_take() {
        let tally = OutcomeTally::default();
        tally.record(1, "error", &Outcome::Accepted, 2);
        tally.record(1, "error", &Outcome::Accepted, 3);
        tally.record(1, "error", &Outcome::Invalid("json"), 1);
        tally.record(2, "session", &Outcome::Accepted, 1);
        tally.record(2, "bogus-category", &Outcome::ClientDiscard("x".into()), 0);
        let mut rows = tally.take();
        rows.sort_by(|a, b| (a.project_id, &a.outcome).cmp(&(b.project_id, &b.outcome)));
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].outcome.as_str(), rows[0].quantity), ("accepted", 5));
        assert_eq!((rows[1].outcome.as_str(), rows[1].reason.as_str()), ("invalid", "json"));
        assert_eq!(rows[2].category, "session");
        assert!(tally.take().is_empty());
        tally.restore(rows);
        assert_eq!(tally.take().len(), 3);
    }

    #[test]
    fn client_reasons_and_categories_are_bounded() {
        assert_eq!(client_reason("Queue_Overflow"), "queue_overflow");
        assert_eq!(client_reason("made up reason"), "other");
        assert_eq!(client_reason(""), "other");
        assert_eq!(client_reason(&"a".repeat(500)), "other");
        assert_eq!(category("error"), "error");
        assert_eq!(category("made_up"), "unknown");
    }
}
