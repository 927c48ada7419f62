//! Events on PostgreSQL: an issue's or a project's events page by page, one event by id
//! across projects, and an event's neighbours within its issue — the same orders and
//! results as `sqlite/read.rs`.

use deadpool_postgres::Pool;
use tokio_postgres::Row;

use super::read::decode_payload;
use super::{PgError, PgStore};
use crate::store::{EventId, EventOrder, StoreError, StoredEvent};

pub(super) const EVENT_COLUMNS: &str = "id, project_id, issue_id, event_id, timestamp, received, size, payload";

/// An event from a row starting with `EVENT_COLUMNS`, payload decoded.
pub(super) fn event_from_row(r: &Row) -> Result<StoredEvent, PgError> {
    let payload: Vec<u8> = r.get(7);
    Ok(StoredEvent {
        id: r.get(0),
        project_id: r.get(1),
        issue_id: r.get(2),
        event_id: r.get(3),
        timestamp: r.get(4),
        received: r.get(5),
        size: r.get(6),
        data: decode_payload(&payload)?,
    })
}

/// Limits and offsets come as `usize`; PostgreSQL takes `bigint` (anything larger is "all").
fn bigint(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn events(pool: &Pool, sql: &str, key: i64, limit: usize, offset: usize) -> Result<Vec<StoredEvent>, PgError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &client.prepare_cached(sql).await?,
            &[&key, &bigint(limit), &bigint(offset)],
        )
        .await?;
    rows.iter().map(event_from_row).collect()
}

impl PgStore {
    /// A page of an issue's events, by timestamp then id.
    pub async fn issue_events(
        &self,
        issue_id: i64,
        order: EventOrder,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = match order {
            EventOrder::NewestFirst => {
                "SELECT id, project_id, issue_id, event_id, timestamp, received, size, payload FROM events \
                 WHERE issue_id = $1 ORDER BY timestamp DESC, id DESC LIMIT $2 OFFSET $3"
            }
            EventOrder::OldestFirst => {
                "SELECT id, project_id, issue_id, event_id, timestamp, received, size, payload FROM events \
                 WHERE issue_id = $1 ORDER BY timestamp ASC, id ASC LIMIT $2 OFFSET $3"
            }
        };
        Ok(events(&self.pool, sql, issue_id, limit, offset).await?)
    }

    /// A page of a project's events, newest first.
    pub async fn project_events(
        &self,
        project_id: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(events(
            &self.pool,
            "SELECT id, project_id, issue_id, event_id, timestamp, received, size, payload FROM events \
             WHERE project_id = $1 ORDER BY timestamp DESC, id DESC LIMIT $2 OFFSET $3",
            project_id,
            limit,
            offset,
        )
        .await?)
    }

    /// An event by id in the first of `project_ids` (in their order) that has it.
    pub async fn find_event(
        &self,
        project_ids: Vec<i64>,
        event_id: &EventId,
    ) -> Result<Option<StoredEvent>, StoreError> {
        if project_ids.is_empty() {
            return Ok(None);
        }
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &client
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE project_id = ANY($1) AND event_id = $2"
                    ))
                    .await
                    .map_err(PgError::from)?,
                &[&project_ids, &event_id],
            )
            .await
            .map_err(PgError::from)?;
        let first = project_ids
            .iter()
            .find_map(|p| rows.iter().find(|r| r.get::<_, i64>(1) == *p));
        Ok(first.map(event_from_row).transpose()?)
    }

    /// The events just before and after `event` within its issue (by timestamp, then id):
    /// their event ids.
    pub async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<EventId>, Option<EventId>), StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&event.issue_id, &event.timestamp, &event.id];
        let previous = client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT event_id FROM events WHERE issue_id = $1 \
                         AND (timestamp < $2 OR (timestamp = $2 AND id < $3)) \
                         ORDER BY timestamp DESC, id DESC LIMIT 1",
                    )
                    .await
                    .map_err(PgError::from)?,
                &args,
            )
            .await
            .map_err(PgError::from)?
            .map(|r| r.get(0));
        let next = client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT event_id FROM events WHERE issue_id = $1 \
                         AND (timestamp > $2 OR (timestamp = $2 AND id > $3)) \
                         ORDER BY timestamp ASC, id ASC LIMIT 1",
                    )
                    .await
                    .map_err(PgError::from)?,
                &args,
            )
            .await
            .map_err(PgError::from)?
            .map(|r| r.get(0));
        Ok((previous, next))
    }
}
