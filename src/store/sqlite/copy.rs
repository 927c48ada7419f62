//! The SQLite side of the copy to PostgreSQL (`store::copy`): a read-only connection that
//! reads a table in batches in primary-key order, each batch starting after the key where
//! the previous one (or an interrupted run) stopped.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;
use crate::store::copy::{Batch, ColumnKind, CopyOptions, CopyTable, CopyValue};

/// A read-only handle on the source file; its calls run on the blocking pool.
pub struct SqliteSource {
    conn: Arc<Mutex<Connection>>,
    version: i64,
}

impl SqliteSource {
    pub async fn open(path: &Path) -> Result<SqliteSource, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NotFound("SQLite database file"));
        }
        let path = path.to_path_buf();
        blocking(move || {
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            Ok(SqliteSource {
                conn: Arc::new(Mutex::new(conn)),
                version,
            })
        })
        .await
    }

    pub fn schema_version(&self) -> i64 {
        self.version
    }

    pub async fn count(&self, table: &'static str) -> Result<i64, StoreError> {
        let conn = self.conn.clone();
        blocking(move || {
            let conn = conn.lock().map_err(|_| StoreError::Closed)?;
            Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
        })
        .await
    }

    /// The next rows of `table` after key `after` (from the start when `None`), at most
    /// `opts.batch_rows` of them and about `opts.batch_bytes`, each as `columns` converted
    /// to `kinds`.
    pub async fn read_batch(
        &self,
        table: CopyTable,
        columns: Vec<String>,
        kinds: Vec<ColumnKind>,
        after: Option<Vec<CopyValue>>,
        opts: CopyOptions,
    ) -> Result<Batch, StoreError> {
        let conn = self.conn.clone();
        blocking(move || {
            let conn = conn.lock().map_err(|_| StoreError::Closed)?;
            read_batch(&conn, table, &columns, &kinds, after.as_deref(), opts)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| StoreError::Closed)?
}

fn read_batch(
    conn: &Connection,
    table: CopyTable,
    columns: &[String],
    kinds: &[ColumnKind],
    after: Option<&[CopyValue]>,
    opts: CopyOptions,
) -> Result<Batch, StoreError> {
    let key_positions: Vec<usize> = table
        .key
        .iter()
        .map(|k| {
            columns.iter().position(|c| c == k).ok_or_else(|| {
                StoreError::Conflict(format!("the key column {k} of {} is missing on PostgreSQL", table.name))
            })
        })
        .collect::<Result<_, _>>()?;
    let key_list = table.key.join(", ");
    let placeholders = vec!["?"; table.key.len()].join(", ");
    let filter = match after {
        Some(_) => format!("WHERE ({key_list}) > ({placeholders})"),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {} FROM {} {filter} ORDER BY {key_list} LIMIT {}",
        columns.join(", "),
        table.name,
        opts.batch_rows.max(1)
    );
    let mut statement = conn.prepare(&sql).map_err(|e| {
        StoreError::Conflict(format!(
            "the SQLite table {} does not match this Errata: {e}",
            table.name
        ))
    })?;
    let params: Vec<rusqlite::types::Value> = after
        .unwrap_or(&[])
        .iter()
        .map(|v| match v {
            CopyValue::Null => rusqlite::types::Value::Null,
            CopyValue::Int(i) => rusqlite::types::Value::Integer(*i),
            CopyValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
            CopyValue::Bytes(b) => rusqlite::types::Value::Blob(b.clone()),
        })
        .collect();
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut batch = Batch::default();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, kind) in kinds.iter().enumerate() {
            let value = convert(row.get_ref(i)?, *kind).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}.{} holds a value PostgreSQL's {kind:?} column cannot take",
                    table.name, columns[i]
                ))
            })?;
            bytes += value.weight();
            values.push(value);
        }
        batch.last_key = key_positions.iter().map(|&p| values[p].clone()).collect();
        batch.rows.push(values);
        if bytes >= opts.batch_bytes {
            break;
        }
    }
    Ok(batch)
}

/// A SQLite value as the PostgreSQL column's kind; `None` when it cannot be one without loss.
fn convert(value: ValueRef<'_>, kind: ColumnKind) -> Option<CopyValue> {
    Some(match (value, kind) {
        (ValueRef::Null, _) => CopyValue::Null,
        (ValueRef::Integer(i), ColumnKind::Int | ColumnKind::Bool) => CopyValue::Int(i),
        (ValueRef::Integer(i), ColumnKind::Text) => CopyValue::Text(i.to_string()),
        (ValueRef::Text(t), ColumnKind::Text) => CopyValue::Text(String::from_utf8(t.to_vec()).ok()?),
        (ValueRef::Text(t), ColumnKind::Bytes) | (ValueRef::Blob(t), ColumnKind::Bytes) => CopyValue::Bytes(t.to_vec()),
        (ValueRef::Blob(t), ColumnKind::EventId) if t.len() == 16 => CopyValue::Bytes(t.to_vec()),
        (ValueRef::Blob(t), ColumnKind::Text) => CopyValue::Text(String::from_utf8(t.to_vec()).ok()?),
        (ValueRef::Text(t), ColumnKind::Int | ColumnKind::Bool) => {
            CopyValue::Int(std::str::from_utf8(t).ok()?.trim().parse().ok()?)
        }
        (ValueRef::Real(r), ColumnKind::Int | ColumnKind::Bool) if r.fract() == 0.0 && r.abs() < 9.0e15 => {
            CopyValue::Int(r as i64)
        }
        (ValueRef::Real(r), ColumnKind::Text) => CopyValue::Text(r.to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_values_convert_only_without_loss() {
        assert_eq!(convert(ValueRef::Integer(1), ColumnKind::Bool), Some(CopyValue::Int(1)));
        assert_eq!(convert(ValueRef::Text(b"7"), ColumnKind::Int), Some(CopyValue::Int(7)));
        assert_eq!(convert(ValueRef::Text(b"x"), ColumnKind::Int), None);
        assert_eq!(convert(ValueRef::Real(2.5), ColumnKind::Int), None);
        assert_eq!(
            convert(ValueRef::Blob(&[0xff]), ColumnKind::Bytes),
            Some(CopyValue::Bytes(vec![0xff]))
        );
        assert_eq!(convert(ValueRef::Blob(&[0xff]), ColumnKind::Text), None, "not UTF-8");
        assert_eq!(
            convert(ValueRef::Blob(&[7; 16]), ColumnKind::EventId),
            Some(CopyValue::Bytes(vec![7; 16]))
        );
        assert_eq!(
            convert(ValueRef::Blob(&[7; 15]), ColumnKind::EventId),
            None,
            "not 16 bytes"
        );
        assert_eq!(convert(ValueRef::Text(b"7"), ColumnKind::EventId), None);
        assert_eq!(convert(ValueRef::Null, ColumnKind::Text), Some(CopyValue::Null));
    }
}
