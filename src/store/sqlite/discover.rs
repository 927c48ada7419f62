//! The events a discover scan reads, on SQLite (see `store::discover`).

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::SqliteStore;
use super::read::{EVENT_COLUMNS, decode_rows, event_from_row};
use crate::store::{EventScan, StoreError, StoredEvent};

fn scan(conn: &Connection, scan: &EventScan) -> Result<Vec<StoredEvent>, StoreError> {
    if scan.project_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args: Vec<SqlValue> = vec![SqlValue::Integer(scan.since_us), SqlValue::Integer(scan.until_us)];
    let projects = placeholders(&mut args, scan.project_ids.iter().map(|p| SqlValue::Integer(*p)));
    let environments = if scan.environments.is_empty() {
        String::new()
    } else {
        let list = placeholders(&mut args, scan.environments.iter().map(|e| SqlValue::Text(e.clone())));
        format!(" AND environment IN ({list})")
    };
    args.push(SqlValue::Integer(i64::try_from(scan.limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE timestamp >= ?1 AND timestamp < ?2 \
         AND project_id IN ({projects}){environments} ORDER BY timestamp DESC, id DESC LIMIT ?{}",
        args.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), event_from_row)?;
    decode_rows(rows.collect::<Result<_, _>>()?)
}

/// Appends `values` to `args` and returns their numbered placeholders.
fn placeholders(args: &mut Vec<SqlValue>, values: impl Iterator<Item = SqlValue>) -> String {
    let mut out = Vec::new();
    for v in values {
        args.push(v);
        out.push(format!("?{}", args.len()));
    }
    out.join(", ")
}

impl SqliteStore {
    /// Events of `scan.project_ids` in the time range, newest first, at most `scan.limit`.
    pub async fn discover_events(&self, scan_args: EventScan) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |c| scan(c, &scan_args)).await
    }
}
