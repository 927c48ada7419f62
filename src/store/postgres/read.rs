//! Reads on PostgreSQL: rows turned into Errata's own types, with the same decoding as
//! SQLite (JSON kept as text, payloads zstd-compressed).

use deadpool_postgres::Pool;
use serde_json::Value;
use tokio_postgres::Row;

use super::PgError;
use crate::store::{EventId, Issue, StoreError, StoredEvent};

pub(super) const ISSUE_COLUMNS: &str = "id, project_id, short_id, title, culprit, location, level, type, platform, metadata, \
     status, substatus, status_details, first_seen, last_seen, times_seen, user_count, first_release, \
     last_release, grouping_config";

pub(super) fn issue_from_row(r: &Row) -> Issue {
    let metadata: String = r.get(9);
    let details: String = r.get(12);
    Issue {
        id: r.get(0),
        project_id: r.get(1),
        short_id: r.get(2),
        title: r.get(3),
        culprit: r.get(4),
        location: r.get(5),
        level: r.get(6),
        kind: r.get(7),
        platform: r.get(8),
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        status: r.get(10),
        substatus: r.get(11),
        status_details: serde_json::from_str(&details).unwrap_or(Value::Null),
        first_seen: r.get(13),
        last_seen: r.get(14),
        times_seen: r.get(15),
        user_count: r.get(16),
        first_release: r.get(17),
        last_release: r.get(18),
        grouping_config: r.get(19),
    }
}

/// One issue by id.
pub async fn issue(pool: &Pool, id: i64) -> Result<Issue, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(&format!("SELECT {ISSUE_COLUMNS} FROM issues WHERE id = $1"))
                .await?,
            &[&id],
        )
        .await?
        .ok_or(PgError::NotFound("issue"))?;
    Ok(issue_from_row(&row))
}

/// One issue by its per-project number (the short id's digits).
pub async fn issue_by_short_id(pool: &Pool, project_id: i64, short_id: i64) -> Result<Issue, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(&format!(
                    "SELECT {ISSUE_COLUMNS} FROM issues WHERE project_id = $1 AND short_id = $2"
                ))
                .await?,
            &[&project_id, &short_id],
        )
        .await?
        .ok_or(PgError::NotFound("issue"))?;
    Ok(issue_from_row(&row))
}

/// A stored payload as its event JSON (`store::decode_payload`, with this module's error).
pub fn decode_payload(blob: &[u8]) -> Result<Value, PgError> {
    crate::store::decode_payload(blob).map_err(|e| match e {
        StoreError::Corrupt(message) => PgError::Corrupt(message),
        other => PgError::Corrupt(other.to_string()),
    })
}

/// One event of a project by its event id, payload decoded.
pub async fn event(pool: &Pool, project_id: i64, event_id: &EventId) -> Result<StoredEvent, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(
                    "SELECT id, project_id, issue_id, event_id, timestamp, received, size, payload FROM events \
                     WHERE project_id = $1 AND event_id = $2",
                )
                .await?,
            &[&project_id, &event_id],
        )
        .await?
        .ok_or(PgError::NotFound("event"))?;
    let payload: Vec<u8> = row.get(7);
    Ok(StoredEvent {
        id: row.get(0),
        project_id: row.get(1),
        issue_id: row.get(2),
        event_id: row.get(3),
        timestamp: row.get(4),
        received: row.get(5),
        size: row.get(6),
        data: decode_payload(&payload)?,
    })
}

/// Which issue each of `hashes` belongs to in a project (hashes of no issue are left out).
pub async fn hash_owners(
    pool: &Pool,
    project_id: i64,
    hashes: Vec<String>,
) -> Result<std::collections::HashMap<String, i64>, PgError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT hash, issue_id FROM issue_hashes WHERE project_id = $1 AND hash = ANY($2)",
            &[&project_id, &hashes],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
