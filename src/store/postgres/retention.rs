//! Retention and the size cap on PostgreSQL: the same steps, batches and order as SQLite's
//! (`store/sqlite/retention.rs`, the reference), plus the lock that lets only one node per
//! database run a pass at a time.
//!
//! As on SQLite, deleting an event forgets its payload, not that it happened: an issue's
//! `times_seen`, user count, tag counts and hourly counts are lifetime figures and are not
//! touched here. Attachments go with their event by foreign key, user reports by trigger.
//!
//! What "used bytes" and "reclaiming" mean differs. PostgreSQL never gives a deleted row's
//! space back to the file system while the server runs (only `VACUUM FULL` does, under an
//! exclusive lock that would stop ingest); (auto)vacuum marks it free and new rows fill it.
//! So the size cap limits the bytes of the *live rows* (see `used_bytes`), the files stay
//! at their high-water mark, and `reclaim_step` is a no-op.

use deadpool_postgres::{GenericClient, Object, Pool};

use super::{PgError, PgStore};
use crate::store::{IssueStep, StoreError};

/// The advisory lock a node holds while it runs a retention pass (the migration lock is
/// `…0001`).
pub const PASS_LOCK: i64 = 0x6572_7261_7461_0002;

/// Every table of Errata's, for the size measure.
const TABLES: &[&str] = &[
    "organizations",
    "projects",
    "project_keys",
    "issues",
    "issue_hashes",
    "events",
    "issue_tags",
    "issue_users",
    "issue_hourly",
    "api_tokens",
    "api_token_projects",
    "outcomes",
    "event_attachments",
    "user_reports",
    "issue_activity",
];

/// Tables up to this many rows are measured in full; larger ones by a sample of about
/// `SAMPLE_ROWS` rows (`TABLESAMPLE SYSTEM` reads whole pages, so the sample costs only
/// the pages it reads).
const EXACT_ROWS: i64 = 20_000;
const SAMPLE_ROWS: i64 = 2_000;

/// The right to run a retention pass, held as a session-level advisory lock on one pooled
/// connection. `release` unlocks and hands the connection back to the pool; dropped
/// without `release` (a cancelled pass, a panic), the connection is detached from the pool
/// and closed, which ends the session and so the lock: a pooled connection is never
/// recycled with the lock still held.
pub struct PgPassLock {
    client: Option<Object>,
}

impl PgPassLock {
    pub async fn release(mut self) {
        if let Some(client) = self.client.take() {
            match client.execute("SELECT pg_advisory_unlock($1)", &[&PASS_LOCK]).await {
                Ok(_) => drop(client),
                Err(e) => {
                    tracing::warn!(error = %e, "could not release the retention lock; closing its connection");
                    drop(Object::take(client));
                }
            }
        }
    }
}

impl Drop for PgPassLock {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

/// Takes the pass lock if no other node holds it; `None` when one does.
pub async fn try_lock_pass(pool: &Pool) -> Result<Option<PgPassLock>, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&PASS_LOCK])
        .await?;
    Ok(row.get::<_, bool>(0).then_some(PgPassLock { client: Some(client) }))
}

/// Deletes up to `limit` of the oldest events received before `cutoff_us`; returns how many.
///
/// As on SQLite, the expired events are a prefix in id order, so at most `limit` rows are
/// read. Ids are drawn by several nodes, so the delete checks the age again: an event
/// committed meanwhile under a lower id is only deleted if it is old too.
async fn delete_expired(client: &impl GenericClient, cutoff_us: i64, limit: usize) -> Result<usize, PgError> {
    let rows = client
        .query(
            "SELECT id, received FROM events ORDER BY id LIMIT $1",
            &[&(limit as i64)],
        )
        .await?;
    let mut boundary = None;
    for row in rows {
        let (id, received): (i64, i64) = (row.get(0), row.get(1));
        if received >= cutoff_us {
            break;
        }
        boundary = Some(id);
    }
    match boundary {
        Some(last) => Ok(client
            .execute(
                "DELETE FROM events WHERE id <= $1 AND received < $2",
                &[&last, &cutoff_us],
            )
            .await? as usize),
        None => Ok(0),
    }
}

/// Deletes up to `limit` of the oldest events regardless of age.
async fn delete_oldest(client: &impl GenericClient, limit: usize) -> Result<usize, PgError> {
    Ok(client
        .execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT $1)",
            &[&(limit as i64)],
        )
        .await? as usize)
}

/// The other tables' rows past their age: user reports left behind and outcome days.
async fn expire_other(
    client: &impl GenericClient,
    cutoff_us: i64,
    cutoff_day: &str,
    limit: usize,
) -> Result<usize, PgError> {
    let limit = limit as i64;
    let reports = client
        .execute(
            "DELETE FROM user_reports WHERE id IN \
             (SELECT id FROM user_reports WHERE date_created < $1 ORDER BY date_created LIMIT $2)",
            &[&cutoff_us, &limit],
        )
        .await?;
    let outcomes = client
        .execute(
            "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
             (SELECT project_id, day, category, outcome, reason FROM outcomes WHERE day < $1 ORDER BY day LIMIT $2)",
            &[&cutoff_day, &limit],
        )
        .await?;
    let deliveries = super::alerts::prune_history(client, cutoff_us / 1000, limit as usize).await?;
    Ok((reports + outcomes + deliveries) as usize)
}

/// Over the next `limit` issues after `after`: old tag values, old hourly counts, and the
/// issues last seen before `cutoff_us` with no events left.
///
/// An issue is deleted only if, when its row is locked, it is still old: a node storing an
/// event for it at that moment updates `last_seen` first, and PostgreSQL re-checks the
/// condition against that newer row, so the issue stays.
async fn expire_issue_data(
    client: &impl GenericClient,
    after: i64,
    limit: usize,
    cutoff_us: i64,
) -> Result<IssueStep, PgError> {
    let last: Option<i64> = client
        .query_one(
            "SELECT max(id) FROM (SELECT id FROM issues WHERE id > $1 ORDER BY id LIMIT $2) AS page",
            &[&after, &(limit as i64)],
        )
        .await?
        .get(0);
    let Some(last) = last else {
        return Ok(IssueStep::default());
    };
    let cutoff_hour = cutoff_us.div_euclid(3_600_000_000);
    let mut deleted = client
        .execute(
            "DELETE FROM issue_tags WHERE issue_id > $1 AND issue_id <= $2 AND last_seen < $3",
            &[&after, &last, &cutoff_us],
        )
        .await?;
    deleted += client
        .execute(
            "DELETE FROM issue_hourly WHERE issue_id > $1 AND issue_id <= $2 AND hour < $3",
            &[&after, &last, &cutoff_hour],
        )
        .await?;
    deleted += client
        .execute(
            "DELETE FROM issue_activity WHERE issue_id > $1 AND issue_id <= $2 AND date_created < $3",
            &[&after, &last, &cutoff_us],
        )
        .await?;
    deleted += client
        .execute(
            "DELETE FROM issues WHERE id > $1 AND id <= $2 AND last_seen < $3 \
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.issue_id = issues.id)",
            &[&after, &last, &cutoff_us],
        )
        .await?;
    Ok(IssueStep {
        last: Some(last),
        deleted: deleted as usize,
    })
}

/// One step of the size cap, in SQLite's order: events, user reports, outcomes (oldest
/// day), hourly counts (oldest hours), tag values (least recently seen), issues without
/// events (least recently seen). 0: nothing left the cap may delete.
async fn shrink_step(client: &impl GenericClient, limit: usize) -> Result<usize, PgError> {
    let deleted = delete_oldest(client, limit).await?;
    if deleted > 0 {
        return Ok(deleted);
    }
    for sql in [
        "DELETE FROM user_reports WHERE id IN (SELECT id FROM user_reports ORDER BY date_created LIMIT $1)",
        "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
         (SELECT project_id, day, category, outcome, reason FROM outcomes ORDER BY day LIMIT $1)",
        "DELETE FROM issue_hourly WHERE (issue_id, hour) IN \
         (SELECT issue_id, hour FROM issue_hourly ORDER BY hour LIMIT $1)",
        "DELETE FROM issue_tags WHERE (issue_id, key, value) IN \
         (SELECT issue_id, key, value FROM issue_tags ORDER BY last_seen LIMIT $1)",
        "DELETE FROM issues WHERE id IN (SELECT id FROM issues i \
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.issue_id = i.id) ORDER BY last_seen LIMIT $1)",
    ] {
        let deleted = client.execute(sql, &[&(limit as i64)]).await?;
        if deleted > 0 {
            return Ok(deleted as usize);
        }
    }
    Ok(0)
}

/// Issues after `after` that may hold more than `cap` events, at most `limit` of them.
async fn issues_over_cap(client: &impl GenericClient, cap: u32, after: i64, limit: usize) -> Result<Vec<i64>, PgError> {
    let rows = client
        .query(
            "SELECT i.id FROM issues i WHERE i.id > $2 AND i.times_seen > $1 \
             AND (SELECT count(*) FROM events e WHERE e.issue_id = i.id) > $1 ORDER BY i.id LIMIT $3",
            &[&i64::from(cap), &after, &(limit as i64)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The ids of an issue's events beyond its cap, chosen exactly as on SQLite: the first
/// event, the latest `cap / 2`, and an even sample of the rest stay.
async fn events_beyond_cap(
    client: &impl GenericClient,
    issue_id: i64,
    cap: u32,
    limit: usize,
) -> Result<Vec<i64>, PgError> {
    let cap = i64::from(cap);
    let latest = cap / 2;
    let sample = cap - 1 - latest;
    let rows = client
        .query(
            "SELECT id FROM ( \
               SELECT id, row_number() OVER (ORDER BY id) - 1 AS i, count(*) OVER () AS n \
               FROM events WHERE issue_id = $1 \
             ) AS numbered WHERE n > $2 AND i > 0 AND i < n - $3 \
               AND (((i - 1) * $4) % (n - 1 - $3)) < (n - 1 - $3) - $4 \
             ORDER BY id LIMIT $5",
            &[&issue_id, &cap, &latest, &sample, &(limit as i64)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Bytes of the live rows of Errata's tables, payloads included (`pg_column_size` of the
/// whole row, which reads TOASTed values in). Not `pg_database_size`, nor the tables'
/// file sizes: neither goes down when rows are deleted (the space is reused, not given
/// back), so a size cap measured on them would delete every row once the files reached
/// it. Small tables are measured in full; large ones as their exact row count times the
/// mean size of a sample of rows. Indexes are not counted.
async fn used_bytes(client: &impl GenericClient) -> Result<i64, PgError> {
    let mut total = 0i64;
    for table in TABLES {
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        if rows == 0 {
            continue;
        }
        let bytes: i64 = if rows <= EXACT_ROWS {
            client
                .query_one(
                    &format!("SELECT coalesce(sum(pg_column_size(t.*)), 0)::bigint FROM {table} t"),
                    &[],
                )
                .await?
                .get(0)
        } else {
            let percent = (SAMPLE_ROWS as f64 * 100.0 / rows as f64).min(100.0);
            let mean: Option<f64> = client
                .query_one(
                    &format!("SELECT avg(pg_column_size(t.*))::float8 FROM {table} t TABLESAMPLE SYSTEM ($1)"),
                    &[&(percent as f32)],
                )
                .await?
                .get(0);
            match mean {
                Some(mean) => (mean * rows as f64) as i64,
                // The sampled pages held no live rows: measure in full.
                None => client
                    .query_one(
                        &format!("SELECT coalesce(sum(pg_column_size(t.*)), 0)::bigint FROM {table} t"),
                        &[],
                    )
                    .await?
                    .get(0),
            }
        };
        total = total.saturating_add(bytes);
    }
    Ok(total)
}

/// Runs one step in its own transaction (a step is all or nothing, as on SQLite).
macro_rules! in_transaction {
    ($pool:expr, $tx:ident => $step:expr) => {{
        let mut client = $pool.get().await.map_err(PgError::from)?;
        let $tx = client.transaction().await.map_err(PgError::from)?;
        let out = $step.await?;
        $tx.commit().await.map_err(PgError::from)?;
        Ok(out)
    }};
}

impl PgStore {
    /// Takes the right to run a retention pass on this database; `None` while another node
    /// (or another store in this process) holds it.
    pub async fn try_lock_housekeeping(&self) -> Result<Option<crate::store::PassLock>, StoreError> {
        Ok(try_lock_pass(&self.pool).await?.map(crate::store::PassLock::postgres))
    }

    pub async fn delete_expired(&self, cutoff_us: i64, limit: usize) -> Result<usize, StoreError> {
        in_transaction!(self.pool, tx => delete_expired(&tx, cutoff_us, limit))
    }

    pub async fn issues_over_cap(&self, cap: u32, after: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(issues_over_cap(&client, cap, after, limit).await?)
    }

    pub async fn events_beyond_cap(&self, issue_id: i64, cap: u32, limit: usize) -> Result<Vec<i64>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(events_beyond_cap(&client, issue_id, cap, limit).await?)
    }

    pub async fn delete_events(&self, ids: Vec<i64>) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(client
            .execute("DELETE FROM events WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(PgError::from)? as usize)
    }

    pub async fn expire_other(&self, cutoff_us: i64, cutoff_day: &str, limit: usize) -> Result<usize, StoreError> {
        in_transaction!(self.pool, tx => expire_other(&tx, cutoff_us, cutoff_day, limit))
    }

    pub async fn expire_issue_data(&self, after: i64, limit: usize, cutoff_us: i64) -> Result<IssueStep, StoreError> {
        in_transaction!(self.pool, tx => expire_issue_data(&tx, after, limit, cutoff_us))
    }

    pub async fn shrink_step(&self, limit: usize) -> Result<usize, StoreError> {
        in_transaction!(self.pool, tx => shrink_step(&tx, limit))
    }

    pub async fn used_bytes(&self) -> Result<i64, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(used_bytes(&client).await?)
    }

    /// Nothing to do: autovacuum makes deleted rows' space reusable, and giving it back to
    /// the file system (`VACUUM FULL`) would lock the tables against ingest. Always 0.
    pub async fn reclaim_step(&self) -> Result<i64, StoreError> {
        Ok(0)
    }
}
