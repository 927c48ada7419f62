//! The PostgreSQL side of the copy from SQLite (`store::copy`): checks the target is empty
//! (or holds an interrupted copy), writes each batch with its table's high-water mark in
//! one transaction, moves the id sequences past the copied ids, and counts.

use deadpool_postgres::Pool;
use serde_json::{Value, json};
use tokio_postgres::types::ToSql;

use super::{PgError, migrate};
use crate::store::copy::{Batch, ColumnKind, CopyValue, TABLES};
use crate::store::{EventId, StoreError};

/// The working table holding each table's high-water mark while a copy is under way.
const PROGRESS: &str = "errata_copy_progress";

pub struct PgTarget {
    pool: Pool,
}

impl PgTarget {
    /// Connects and brings the schema up to date (as every node does at start).
    pub async fn open(url: &str) -> Result<PgTarget, StoreError> {
        let pool = super::pool(url, 2)?;
        migrate::run(&pool).await?;
        Ok(PgTarget { pool })
    }

    pub fn schema_version(&self) -> i64 {
        i64::from(migrate::latest_version())
    }

    /// Starts a copy, or continues an interrupted one (returns `true` then). Refuses a
    /// database that already holds Errata data of its own.
    pub async fn begin(&self) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let resuming: bool = tx
            .query_one(&format!("SELECT to_regclass('{PROGRESS}') IS NOT NULL"), &[])
            .await
            .map_err(PgError::from)?
            .get(0);
        if resuming {
            return Ok(true);
        }
        for table in TABLES {
            let used: bool = tx
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {})", table.name), &[])
                .await
                .map_err(PgError::from)?
                .get(0);
            if used {
                return Err(StoreError::Conflict(format!(
                    "the PostgreSQL database already holds Errata data ({} is not empty): copy into a new, empty \
                     database, and start no Errata node on it before the copy is done",
                    table.name
                )));
            }
        }
        tx.batch_execute(&format!(
            "CREATE TABLE {PROGRESS} (table_name TEXT PRIMARY KEY, mark TEXT NOT NULL, copied BIGINT NOT NULL)"
        ))
        .await
        .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(false)
    }

    /// The columns of `table` in order, with their kinds.
    pub async fn columns(&self, table: &str) -> Result<Vec<(String, ColumnKind)>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .await
            .map_err(PgError::from)?;
        rows.iter()
            .map(|r| {
                let (name, kind): (String, String) = (r.get(0), r.get(1));
                let kind = match kind.as_str() {
                    "bigint" | "integer" | "smallint" => ColumnKind::Int,
                    "boolean" => ColumnKind::Bool,
                    "text" | "character varying" => ColumnKind::Text,
                    "bytea" => ColumnKind::Bytes,
                    "uuid" => ColumnKind::EventId,
                    other => {
                        return Err(StoreError::Conflict(format!(
                            "{table}.{name} has the type {other}, which the copy does not know"
                        )));
                    }
                };
                Ok((name, kind))
            })
            .collect()
    }

    /// Where the copy of `table` stopped (the last key written, `None`: not started) and
    /// how many rows it has written so far.
    pub async fn mark(&self, table: &str) -> Result<(Option<Vec<CopyValue>>, i64), StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = client
            .query_opt(
                &format!("SELECT mark, copied FROM {PROGRESS} WHERE table_name = $1"),
                &[&table],
            )
            .await
            .map_err(PgError::from)?;
        let Some(row) = row else {
            return Ok((None, 0));
        };
        let mark: String = row.get(0);
        let key = serde_json::from_str::<Vec<Value>>(&mark)
            .ok()
            .and_then(|values| values.iter().map(value_from_json).collect::<Option<Vec<_>>>())
            .ok_or_else(|| StoreError::Corrupt(format!("the copy's mark for {table} is unreadable: {mark}")))?;
        Ok((Some(key), row.get(1)))
    }

    /// Writes a batch (rows already present are left as they are) and moves the table's
    /// mark past it, in one transaction; returns how many rows were written.
    pub async fn write_batch(
        &self,
        table: &str,
        columns: &[String],
        kinds: &[ColumnKind],
        batch: &Batch,
    ) -> Result<i64, StoreError> {
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(columns.len());
        let mut casts = Vec::with_capacity(columns.len());
        for (i, kind) in kinds.iter().enumerate() {
            let column = batch.rows.iter().map(|r| &r[i]);
            let mismatch = || StoreError::Corrupt(format!("{table}.{}: a value of the wrong kind", columns[i]));
            match kind {
                ColumnKind::Int => {
                    let values = column
                        .map(|v| match v {
                            CopyValue::Null => Some(None),
                            CopyValue::Int(n) => Some(Some(*n)),
                            _ => None,
                        })
                        .collect::<Option<Vec<Option<i64>>>>()
                        .ok_or_else(mismatch)?;
                    params.push(Box::new(values));
                    casts.push(format!("${}::bigint[]", i + 1));
                }
                ColumnKind::Bool => {
                    let values = column
                        .map(|v| match v {
                            CopyValue::Null => Some(None),
                            CopyValue::Int(n) => Some(Some(*n != 0)),
                            _ => None,
                        })
                        .collect::<Option<Vec<Option<bool>>>>()
                        .ok_or_else(mismatch)?;
                    params.push(Box::new(values));
                    casts.push(format!("${}::boolean[]", i + 1));
                }
                ColumnKind::Text => {
                    let values = column
                        .map(|v| match v {
                            CopyValue::Null => Some(None),
                            CopyValue::Text(s) => Some(Some(s.clone())),
                            _ => None,
                        })
                        .collect::<Option<Vec<Option<String>>>>()
                        .ok_or_else(mismatch)?;
                    params.push(Box::new(values));
                    casts.push(format!("${}::text[]", i + 1));
                }
                ColumnKind::Bytes => {
                    let values = column
                        .map(|v| match v {
                            CopyValue::Null => Some(None),
                            CopyValue::Bytes(b) => Some(Some(b.clone())),
                            _ => None,
                        })
                        .collect::<Option<Vec<Option<Vec<u8>>>>>()
                        .ok_or_else(mismatch)?;
                    params.push(Box::new(values));
                    casts.push(format!("${}::bytea[]", i + 1));
                }
                ColumnKind::EventId => {
                    let values = column
                        .map(|v| match v {
                            CopyValue::Null => Some(None),
                            CopyValue::Bytes(b) => <[u8; 16]>::try_from(b.as_slice())
                                .ok()
                                .map(|b| Some(EventId::from_bytes(b))),
                            _ => None,
                        })
                        .collect::<Option<Vec<Option<EventId>>>>()
                        .ok_or_else(mismatch)?;
                    params.push(Box::new(values));
                    casts.push(format!("${}::uuid[]", i + 1));
                }
            }
        }
        let sql = format!(
            "INSERT INTO {table} ({}) SELECT * FROM unnest({}) ON CONFLICT DO NOTHING",
            columns.join(", "),
            casts.join(", ")
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let mark = Value::Array(batch.last_key.iter().map(value_to_json).collect()).to_string();

        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let written = tx.execute(sql.as_str(), &refs).await.map_err(PgError::from)? as i64;
        tx.execute(
            &format!(
                "INSERT INTO {PROGRESS} (table_name, mark, copied) VALUES ($1, $2, $3) \
                 ON CONFLICT (table_name) DO UPDATE SET mark = excluded.mark, copied = {PROGRESS}.copied + excluded.copied"
            ),
            &[&table, &mark, &written],
        )
        .await
        .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(written)
    }

    /// Moves every id sequence past the largest id copied, so new rows get new ids.
    pub async fn advance_sequences(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        for table in TABLES.iter().filter(|t| t.key == ["id"]) {
            client
                .execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', 'id'), coalesce(max(id), 0) + 1, false) FROM {0}",
                        table.name
                    ),
                    &[],
                )
                .await
                .map_err(PgError::from)?;
        }
        Ok(())
    }

    pub async fn count(&self, table: &str) -> Result<i64, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map_err(PgError::from)?
            .get(0))
    }

    /// The copy is verified: drops the working table, so nodes may start.
    pub async fn finish(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {PROGRESS}"))
            .await
            .map_err(PgError::from)?;
        Ok(())
    }
}

fn value_to_json(v: &CopyValue) -> Value {
    match v {
        CopyValue::Null => Value::Null,
        CopyValue::Int(n) => json!(n),
        CopyValue::Text(s) => json!(s),
        CopyValue::Bytes(b) => json!({ "bytes": b }),
    }
}

fn value_from_json(v: &Value) -> Option<CopyValue> {
    Some(match v {
        Value::Null => CopyValue::Null,
        Value::Number(n) => CopyValue::Int(n.as_i64()?),
        Value::String(s) => CopyValue::Text(s.clone()),
        Value::Object(o) => CopyValue::Bytes(serde_json::from_value(o.get("bytes")?.clone()).ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_as_written() {
        let key = vec![
            CopyValue::Int(-3),
            CopyValue::Text("a\"b".into()),
            CopyValue::Null,
            CopyValue::Bytes(vec![0, 255]),
        ];
        let json = Value::Array(key.iter().map(value_to_json).collect()).to_string();
        let back: Vec<Value> = serde_json::from_str(&json).expect("json");
        assert_eq!(back.iter().map(value_from_json).collect::<Option<Vec<_>>>(), Some(key));
    }
}
