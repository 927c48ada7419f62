//! Issue activity, organization tag keys and trace lookups on SQLite (see `store::activity`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::SqliteStore;
use super::read::{EVENT_COLUMNS, decode_rows, event_from_row};
use crate::store::{Activity, NewActivity, StoreError, StoredEvent, TagKeyCount};

const COLUMNS: &str = "id, issue_id, kind, data, actor, date_created";

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

type Row = (i64, i64, String, String, Option<String>, i64);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn decode((id, issue_id, kind, data, actor, date_created): Row) -> Result<Activity, StoreError> {
    Ok(Activity {
        id,
        issue_id,
        kind,
        data: serde_json::from_str(&data).map_err(corrupt)?,
        actor: actor
            .map(|a| serde_json::from_str::<Value>(&a))
            .transpose()
            .map_err(corrupt)?,
        date_created,
    })
}

/// Writes one activity row in the caller's transaction; NotFound when the issue is gone.
pub fn insert(conn: &Connection, issue_id: i64, new: &NewActivity) -> Result<Activity, StoreError> {
    let exists: Option<i64> = conn
        .query_row("SELECT id FROM issues WHERE id = ?1", params![issue_id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::NotFound("issue"));
    }
    conn.execute(
        "INSERT INTO issue_activity (issue_id, kind, data, actor, date_created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            issue_id,
            new.kind,
            new.data.to_string(),
            new.actor.as_ref().map(Value::to_string),
            new.date_created
        ],
    )?;
    one(conn, conn.last_insert_rowid())
}

fn one(conn: &Connection, id: i64) -> Result<Activity, StoreError> {
    let r = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM issue_activity WHERE id = ?1"),
            params![id],
            row,
        )
        .optional()?
        .ok_or(StoreError::NotFound("note"))?;
    decode(r)
}

fn list(conn: &Connection, issue_id: i64, notes_only: bool, limit: usize) -> Result<Vec<Activity>, StoreError> {
    let filter = if notes_only { " AND kind = 'note'" } else { "" };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM issue_activity WHERE issue_id = ?1{filter} ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![issue_id, i64::try_from(limit).unwrap_or(i64::MAX)], row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode).collect()
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

fn tag_keys(
    conn: &Connection,
    project_ids: &[i64],
    since_us: i64,
    limit: usize,
) -> Result<Vec<TagKeyCount>, StoreError> {
    let mut args: Vec<SqlValue> = vec![SqlValue::Integer(since_us)];
    let projects = placeholders(&mut args, project_ids.iter().map(|p| SqlValue::Integer(*p)));
    args.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT t.key, sum(t.times_seen), count(DISTINCT t.value) FROM issue_tags t \
         JOIN issues i ON i.id = t.issue_id \
         WHERE t.last_seen >= ?1 AND i.project_id IN ({projects}) \
         GROUP BY t.key ORDER BY sum(t.times_seen) DESC, t.key LIMIT ?{}",
        args.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        Ok(TagKeyCount {
            key: r.get(0)?,
            total_values: r.get(1)?,
            unique_values: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn trace_events(
    conn: &Connection,
    project_ids: &[i64],
    trace_id: &str,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(trace_id.to_string())];
    let projects = placeholders(&mut args, project_ids.iter().map(|p| SqlValue::Integer(*p)));
    args.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE trace_id = ?1 AND project_id IN ({projects}) \
         ORDER BY timestamp DESC, id DESC LIMIT ?{}",
        args.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), event_from_row)?;
    decode_rows(rows.collect::<Result<_, _>>()?)
}

impl SqliteStore {
    pub async fn add_activity(&self, issue_id: i64, new: NewActivity) -> Result<Activity, StoreError> {
        self.writer.exec(move |tx| insert(tx, issue_id, &new)).await
    }

    pub async fn update_note(&self, issue_id: i64, note_id: i64, data: Value) -> Result<Activity, StoreError> {
        self.writer
            .exec(move |tx| {
                let n = tx.execute(
                    "UPDATE issue_activity SET data = ?3 WHERE id = ?1 AND issue_id = ?2 AND kind = 'note'",
                    params![note_id, issue_id, data.to_string()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("note"));
                }
                one(tx, note_id)
            })
            .await
    }

    pub async fn delete_note(&self, issue_id: i64, note_id: i64) -> Result<(), StoreError> {
        self.writer
            .exec(move |tx| {
                let n = tx.execute(
                    "DELETE FROM issue_activity WHERE id = ?1 AND issue_id = ?2 AND kind = 'note'",
                    params![note_id, issue_id],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("note"));
                }
                Ok(())
            })
            .await
    }

    pub async fn issue_activity(
        &self,
        issue_id: i64,
        notes_only: bool,
        limit: usize,
    ) -> Result<Vec<Activity>, StoreError> {
        self.read(move |c| list(c, issue_id, notes_only, limit)).await
    }

    pub async fn tag_keys(
        &self,
        project_ids: Vec<i64>,
        since_us: i64,
        limit: usize,
    ) -> Result<Vec<TagKeyCount>, StoreError> {
        self.read(move |c| tag_keys(c, &project_ids, since_us, limit)).await
    }

    pub async fn trace_events(
        &self,
        project_ids: Vec<i64>,
        trace_id: String,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |c| trace_events(c, &project_ids, &trace_id, limit))
            .await
    }
}
