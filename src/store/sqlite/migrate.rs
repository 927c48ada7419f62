//! Schema migrations: the SQL files in `schema/`, applied in order at start-up
//! inside a transaction, tracked by `PRAGMA user_version`.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../schema/0001_init.sql"),
    include_str!("../../../schema/0002_attachments_user_reports.sql"),
    include_str!("../../../schema/0003_retention_every_table.sql"),
    include_str!("../../../schema/0004_token_bindings.sql"),
    include_str!("../../../schema/0005_alerts.sql"),
    include_str!("../../../schema/0006_issue_activity.sql"),
    include_str!("../../../schema/0007_releases_artifacts.sql"),
    include_str!("../../../schema/0008_users_sessions.sql"),
    include_str!("../../../schema/0009_issues_by_status.sql"),
    include_str!("../../../schema/0010_event_id_bytes.sql"),
    include_str!("../../../schema/0011_payload_dictionary.sql"),
];

pub fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// Brings the database to the latest schema; refuses one written by a newer Errata.
pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    refuse_newer(conn)?;
    migrations()
        .to_latest(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Refuses a database written by a newer Errata, before anything writes to it.
pub fn refuse_newer(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > latest_version() as i64 {
        return Err(StoreError::Migration(format!(
            "the database has schema version {current}, newer than this Errata understands ({}); \
             run a newer Errata or restore a backup",
            latest_version()
        )));
    }
    Ok(())
}
