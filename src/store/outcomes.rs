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

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::StoreError;

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

/// Adds rows to the table (upsert per project, day, category, outcome, reason). A row that
/// would be new for a project and day that already has [`MAX_ROWS_PER_PROJECT_DAY`] rows
/// is added to its `overflow` row instead.
pub fn write(tx: &Transaction, rows: &[OutcomeRow]) -> Result<(), StoreError> {
    let mut counts: HashMap<(i64, String), i64> = HashMap::new();
    let mut exists = tx.prepare_cached(
        "SELECT 1 FROM outcomes WHERE project_id = ?1 AND day = ?2 AND category = ?3 AND outcome = ?4 AND reason = ?5",
    )?;
    let mut count = tx.prepare_cached("SELECT count(*) FROM outcomes WHERE project_id = ?1 AND day = ?2")?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?1) \
         ON CONFLICT (project_id, day, category, outcome, reason) DO UPDATE SET quantity = quantity + excluded.quantity",
    )?;
    for r in rows {
        let mut reason = r.reason.as_str();
        let known = exists
            .query_row(params![r.project_id, r.day, r.category, r.outcome, reason], |_| Ok(()))
            .optional()?
            .is_some();
        if !known {
            let day_rows = match counts.get_mut(&(r.project_id, r.day.clone())) {
                Some(n) => n,
                None => {
                    let n: i64 = count.query_row(params![r.project_id, r.day], |row| row.get(0))?;
                    counts.entry((r.project_id, r.day.clone())).or_insert(n)
                }
            };
            if *day_rows >= MAX_ROWS_PER_PROJECT_DAY {
                reason = "overflow";
            }
            *day_rows += 1;
        }
        stmt.execute(params![r.project_id, r.day, r.category, r.outcome, reason, r.quantity])?;
    }
    Ok(())
}

/// Deletes up to `limit` rows of days before `cutoff_day` (`YYYY-MM-DD`); returns how many.
pub fn delete_before(conn: &Connection, cutoff_day: &str, limit: usize) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
         (SELECT project_id, day, category, outcome, reason FROM outcomes WHERE day < ?1 ORDER BY day LIMIT ?2)",
        params![cutoff_day, limit as i64],
    )?)
}

/// Deletes up to `limit` rows of the oldest day there is (the size cap); returns how many.
pub fn delete_oldest(conn: &Connection, limit: usize) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
         (SELECT project_id, day, category, outcome, reason FROM outcomes \
          WHERE day = (SELECT min(day) FROM outcomes) LIMIT ?1)",
        params![limit as i64],
    )?)
}

/// A project's outcome rows with `since <= day <= until` (inclusive, `YYYY-MM-DD`), oldest first.
pub fn read(conn: &Connection, project_id: i64, since: &str, until: &str) -> Result<Vec<OutcomeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, category, outcome, reason, quantity FROM outcomes \
         WHERE project_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, category, outcome, reason",
    )?;
    let rows = stmt.query_map(params![project_id, since, until], |r| {
        Ok(OutcomeRow {
            project_id,
            day: r.get(0)?,
            category: r.get(1)?,
            outcome: r.get(2)?,
            reason: r.get(3)?,
            quantity: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
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

    #[test]
    fn rows_per_project_and_day_are_capped_into_overflow() {
        let mut conn = Connection::open_in_memory().expect("db");
        crate::store::migrate::run(&mut conn).expect("migrations");
        conn.execute_batch(
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'o', 'o', 0);
             INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'p', 'p', 0);",
        )
        .expect("seed");
        let row = |reason: String| OutcomeRow {
            project_id: 1,
            day: "2026-01-01".into(),
            category: "error".into(),
            outcome: "client_discard".into(),
            reason,
            quantity: 1,
        };
        let rows: Vec<OutcomeRow> = (0..MAX_ROWS_PER_PROJECT_DAY + 300)
            .map(|n| row(format!("r{n}")))
            .collect();
        let tx = conn.transaction().expect("tx");
        write(&tx, &rows).expect("write");
        write(&tx, &[row("r0".into()), row("new".into())]).expect("write again");
        tx.commit().expect("commit");
        let (n, overflow): (i64, i64) = conn
            .query_row(
                "SELECT count(*), sum(CASE WHEN reason = 'overflow' THEN quantity END) FROM outcomes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("count");
        assert_eq!(n, MAX_ROWS_PER_PROJECT_DAY + 1);
        assert_eq!(overflow, 301, "every row past the cap is still counted");
    }
}
