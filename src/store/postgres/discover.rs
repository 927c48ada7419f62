//! The events a discover scan reads, on PostgreSQL: the same rows and order as
//! `sqlite/discover.rs`.

use super::events::{EVENT_COLUMNS, event_from_row};
use super::{PgError, PgStore};
use crate::store::{EventScan, StoreError, StoredEvent};

impl PgStore {
    /// Events of `scan.project_ids` in the time range, newest first, at most `scan.limit`.
    pub async fn discover_events(&self, scan: EventScan) -> Result<Vec<StoredEvent>, StoreError> {
        if scan.project_ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await.map_err(PgError::from)?;
        let limit = i64::try_from(scan.limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE timestamp >= $1 AND timestamp < $2 \
             AND project_id = ANY($3) AND (cardinality($4::text[]) = 0 OR environment = ANY($4)) \
             ORDER BY timestamp DESC, id DESC LIMIT $5"
        );
        let stmt = client.prepare_cached(&sql).await.map_err(PgError::from)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &scan.since_us,
                    &scan.until_us,
                    &scan.project_ids,
                    &scan.environments,
                    &limit,
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?)
    }
}
