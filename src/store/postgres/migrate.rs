//! Schema migrations for PostgreSQL: the SQL files in `schema/postgres/`, applied in order
//! at start-up in one transaction that first takes a transaction-scoped advisory lock, so
//! nodes starting together do not race — one applies, the others wait and then find
//! nothing to do. The version is tracked in `errata_schema`; a database written by a newer
//! Errata is refused before anything is written to it.

use deadpool_postgres::Pool;

use super::PgError;
use crate::store::now_us;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../schema/postgres/0001_init.sql"),
    include_str!("../../../schema/postgres/0002_attachments_user_reports.sql"),
    include_str!("../../../schema/postgres/0003_retention_every_table.sql"),
    include_str!("../../../schema/postgres/0004_token_bindings.sql"),
    include_str!("../../../schema/postgres/0005_alerts.sql"),
    include_str!("../../../schema/postgres/0006_issue_activity.sql"),
    include_str!("../../../schema/postgres/0007_releases_artifacts.sql"),
    include_str!("../../../schema/postgres/0008_users_sessions.sql"),
    include_str!("../../../schema/postgres/0009_issues_by_status.sql"),
    include_str!("../../../schema/postgres/0010_event_id_bytes.sql"),
    include_str!("../../../schema/postgres/0011_payload_dictionary.sql"),
];

/// Advisory lock key of schema changes (ASCII "errata" and 1). Advisory locks are scoped to
/// one database, so two Errata databases in one cluster do not wait for each other.
pub const MIGRATION_LOCK: i64 = 0x6572_7261_7461_0001;

/// The schema version this build writes.
pub fn latest_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// Brings the database to the latest schema; returns how many migrations this call applied
/// (0 when another node had already done it). Refuses a schema newer than this build.
pub async fn run(pool: &Pool) -> Result<usize, PgError> {
    run_to(pool, latest_version()).await
}

/// Brings the database to schema `version` at most (an upgrade test builds an older one
/// with it); returns how many migrations this call applied.
pub async fn run_to(pool: &Pool, version: i32) -> Result<usize, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Released by COMMIT or ROLLBACK, also when this node dies half-way.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS errata_schema (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)")
        .await?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM errata_schema", &[])
        .await?
        .get(0);
    refuse_newer(current)?;
    let mut applied = 0;
    let wanted = usize::try_from(version).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().take(wanted).skip(current as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(sql)
            .await
            .map_err(|e| PgError::Migration(format!("version {version}: {e}")))?;
        tx.execute(
            "INSERT INTO errata_schema (version, applied) VALUES ($1, $2)",
            &[&version, &now_us()],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    if applied > 0 {
        tracing::info!(applied, version, "PostgreSQL schema migrated");
    }
    Ok(applied)
}

/// The version recorded in the database (0 when it has none).
pub async fn current_version(pool: &Pool) -> Result<i32, PgError> {
    let client = pool.get().await?;
    let exists: bool = client
        .query_one("SELECT to_regclass('errata_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT coalesce(max(version), 0) FROM errata_schema", &[])
        .await?
        .get(0))
}

fn refuse_newer(current: i32) -> Result<(), PgError> {
    if current > latest_version() {
        return Err(PgError::Migration(format!(
            "the database has schema version {current}, newer than this Errata understands ({}); \
             run a newer Errata or restore a backup",
            latest_version()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_up_to_this_build_are_accepted_and_newer_ones_refused() {
        assert!(refuse_newer(0).is_ok());
        assert!(refuse_newer(latest_version()).is_ok());
        let err = refuse_newer(latest_version() + 1).expect_err("refused");
        assert!(err.to_string().contains("newer than this Errata"), "{err}");
    }

    #[test]
    fn every_sqlite_migration_has_its_postgres_counterpart() {
        // One version number, one shape, on both backends.
        assert_eq!(
            latest_version() as usize,
            crate::store::sqlite::migrate::latest_version()
        );
    }
}
