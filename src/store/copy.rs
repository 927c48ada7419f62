//! Moving a team from SQLite to PostgreSQL: copies every table of an Errata SQLite file
//! into an empty PostgreSQL database, keeping every id, then moves the id sequences past
//! them and checks that each table holds as many rows on both sides.
//!
//! Tables go in foreign-key order, each in batches read in primary-key order
//! (`sqlite::copy`) and written with `ON CONFLICT DO NOTHING` (`postgres::copy`). Each
//! batch commits together with the table's high-water mark (the last key copied), so a
//! copy that was interrupted continues where it stopped when run again. The marks live in
//! a working table on the target that is dropped once the copy is verified.

use std::path::Path;

use super::StoreError;
use super::postgres::copy::PgTarget;
use super::sqlite::copy::SqliteSource;

/// One value of a row in transit.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyValue {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl CopyValue {
    /// Bytes the value takes in memory (for bounding a batch).
    pub fn weight(&self) -> usize {
        match self {
            CopyValue::Null | CopyValue::Int(_) => 8,
            CopyValue::Text(s) => s.len(),
            CopyValue::Bytes(b) => b.len(),
        }
    }
}

/// How a column is typed on PostgreSQL (SQLite keeps booleans as integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Int,
    Bool,
    Text,
    Bytes,
    /// An event id: 16 bytes on both sides (a BLOB on SQLite, `uuid` on PostgreSQL).
    EventId,
}

/// A table to copy and the columns that order it (its primary key).
#[derive(Debug, Clone, Copy)]
pub struct CopyTable {
    pub name: &'static str,
    pub key: &'static [&'static str],
}

/// Every Errata table, parents before children. A test checks that this covers every table
/// of the PostgreSQL schema.
pub const TABLES: &[CopyTable] = &[
    CopyTable {
        name: "organizations",
        key: &["id"],
    },
    CopyTable {
        name: "projects",
        key: &["id"],
    },
    CopyTable {
        name: "project_keys",
        key: &["id"],
    },
    CopyTable {
        name: "users",
        key: &["id"],
    },
    CopyTable {
        name: "sessions",
        key: &["id_hash"],
    },
    CopyTable {
        name: "api_tokens",
        key: &["id"],
    },
    CopyTable {
        name: "api_token_projects",
        key: &["token_id", "project_id"],
    },
    CopyTable {
        name: "issues",
        key: &["id"],
    },
    CopyTable {
        name: "issue_hashes",
        key: &["project_id", "hash"],
    },
    CopyTable {
        name: "events",
        key: &["id"],
    },
    CopyTable {
        name: "event_attachments",
        key: &["id"],
    },
    CopyTable {
        name: "user_reports",
        key: &["id"],
    },
    CopyTable {
        name: "issue_tags",
        key: &["issue_id", "key", "value"],
    },
    CopyTable {
        name: "issue_users",
        key: &["issue_id", "user_key"],
    },
    CopyTable {
        name: "issue_hourly",
        key: &["issue_id", "hour"],
    },
    CopyTable {
        name: "issue_activity",
        key: &["id"],
    },
    CopyTable {
        name: "outcomes",
        key: &["project_id", "day", "category", "outcome", "reason"],
    },
];

/// A batch read from the source: its rows (columns in the order asked for) and the key of
/// its last row.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Vec<CopyValue>>,
    pub last_key: Vec<CopyValue>,
}

#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Most rows per batch.
    pub batch_rows: usize,
    /// Most bytes of values per batch (attachments can be large); a batch holds at least one row.
    pub batch_bytes: usize,
    /// Stop after this many batches (an interruption, for tests); `None`: copy everything.
    pub max_batches: Option<usize>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            batch_rows: 1000,
            batch_bytes: 16 << 20,
            max_batches: None,
        }
    }
}

/// Where a copy stands, reported after every batch.
#[derive(Debug, Clone)]
pub struct CopyProgress {
    pub table: &'static str,
    /// Rows of this table on the target so far (this run and earlier ones).
    pub copied: i64,
    /// Rows of this table in the source.
    pub total: i64,
}

/// One table's row count on both sides after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub sqlite: i64,
    pub postgres: i64,
}

#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Every table copied and verified; `false` when stopped by `max_batches`.
    pub complete: bool,
    /// Whether this run continued an interrupted copy.
    pub resumed: bool,
    /// Rows written by this run.
    pub rows_written: i64,
    /// Per table, when complete.
    pub counts: Vec<TableCount>,
}

/// Copies the SQLite database at `from` into the PostgreSQL database at `to` (migrated
/// here if needed; it must hold no Errata data, or an interrupted copy of this command).
/// Fails, after printing nothing itself, when a table's counts differ at the end.
pub async fn sqlite_to_postgres(
    from: &Path,
    to: &str,
    opts: CopyOptions,
    mut progress: impl FnMut(&CopyProgress),
) -> Result<CopyReport, StoreError> {
    let source = SqliteSource::open(from).await?;
    let target = PgTarget::open(to).await?;
    if source.schema_version() != target.schema_version() {
        return Err(StoreError::Conflict(format!(
            "the SQLite database has schema version {}, this Errata writes {}: run `errata --data-dir DIR migrate` \
             on it with this version first",
            source.schema_version(),
            target.schema_version()
        )));
    }
    let resumed = target.begin().await?;
    let mut batches = 0usize;
    let mut rows_written = 0i64;
    for table in TABLES {
        let columns = target.columns(table.name).await?;
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let kinds: Vec<ColumnKind> = columns.iter().map(|(_, k)| *k).collect();
        let total = source.count(table.name).await?;
        let (mut mark, mut copied) = target.mark(table.name).await?;
        loop {
            if opts.max_batches.is_some_and(|max| batches >= max) {
                return Ok(CopyReport {
                    complete: false,
                    resumed,
                    rows_written,
                    counts: Vec::new(),
                });
            }
            let batch = source
                .read_batch(*table, names.clone(), kinds.clone(), mark.clone(), opts)
                .await?;
            if batch.rows.is_empty() {
                break;
            }
            let written = target.write_batch(table.name, &names, &kinds, &batch).await?;
            batches += 1;
            rows_written += written;
            copied += written;
            mark = Some(batch.last_key);
            progress(&CopyProgress {
                table: table.name,
                copied,
                total,
            });
        }
    }
    target.advance_sequences().await?;
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        counts.push(TableCount {
            table: table.name,
            sqlite: source.count(table.name).await?,
            postgres: target.count(table.name).await?,
        });
    }
    let differing: Vec<&TableCount> = counts.iter().filter(|c| c.sqlite != c.postgres).collect();
    if !differing.is_empty() {
        let list = differing
            .iter()
            .map(|c| format!("{} (SQLite {}, PostgreSQL {})", c.table, c.sqlite, c.postgres))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(StoreError::Conflict(format!(
            "the copy is incomplete, row counts differ: {list}; was the SQLite database written to during the copy?"
        )));
    }
    target.finish().await?;
    Ok(CopyReport {
        complete: true,
        resumed,
        rows_written,
        counts,
    })
}
