//! Issues on PostgreSQL: the searched list and its value cursors, stats, tags and hashes, and
//! the changes an operator makes — status, merge, unmerge, delete — which several nodes may
//! make at once while they also ingest.
//!
//! Every change locks the issue rows it touches first, with one `SELECT … ORDER BY id FOR
//! UPDATE` (a stable order, so two changes never wait on each other crosswise), and reads
//! the counters it moves only after that lock: a batch of events committing meanwhile
//! either finished before (and is moved with the rest) or waits until the change commits.
//! A deadlock with an ingest batch (which locks by event id) is detected by PostgreSQL and
//! the change is retried whole. The SQLite implementation (`sqlite/read.rs`,
//! `sqlite/admin.rs`) is the reference: same inputs, same results.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use tokio_postgres::types::ToSql;

use crate::ids::IssueStatus;

use super::events::{EVENT_COLUMNS, event_from_row};
use super::read::{ISSUE_COLUMNS, decode_payload, issue_from_row};
use super::{PgError, PgStore, search};
use crate::store::{
    Issue, IssueFilter, IssueHash, StatusChange, StoreError, StoredEvent, TagValue, Unmerged, status_details,
};

/// How often a change that lost a deadlock is tried again.
const ATTEMPTS: usize = 5;

/// Why one attempt at a change failed: the database (perhaps worth retrying) or the
/// request itself (never retried).
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("{0}")]
    Refused(StoreError),
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> Self {
        TxError::Pg(PgError::Db(e))
    }
}

impl From<deadpool_postgres::PoolError> for TxError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        TxError::Pg(PgError::Pool(e))
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Pg(e) => e.into(),
            TxError::Refused(e) => e,
        }
    }
}

fn not_found() -> TxError {
    TxError::Refused(StoreError::NotFound("issue"))
}

fn conflict(message: impl Into<String>) -> TxError {
    TxError::Refused(StoreError::Conflict(message.into()))
}

/// Runs one transaction, again (after a short, jittered pause) while it loses deadlocks or
/// serialization checks against other transactions.
pub(super) async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TxError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(TxError::Pg(e)) if e.is_retryable() && tries < ATTEMPTS => {
                tracing::info!(error = %e, change = what, attempt = tries, "retrying after a deadlock");
                let jitter = rand::random_range(0..20u64);
                tokio::time::sleep(Duration::from_millis(10 * tries as u64 + jitter)).await;
            }
            other => return Ok(other?),
        }
    }
}

fn text_params(args: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

async fn query_issues(pool: &Pool, sql: &str, args: &[String]) -> Result<Vec<Issue>, PgError> {
    let client = pool.get().await?;
    let rows = client.query(sql, &text_params(args)).await?;
    Ok(rows.iter().map(issue_from_row).collect())
}

/// Locks `ids` (deduplicated, in id order) and returns the columns asked for, by id.
async fn lock_issues(
    tx: &Transaction<'_>,
    columns: &str,
    ids: &[i64],
) -> Result<HashMap<i64, tokio_postgres::Row>, TxError> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let rows = tx
        .query(
            &format!("SELECT id, {columns} FROM issues WHERE id = ANY($1) ORDER BY id FOR UPDATE"),
            &[&sorted],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.get::<_, i64>(0), r)).collect())
}

impl PgStore {
    pub async fn issues(&self, filter: IssueFilter) -> Result<Vec<Issue>, StoreError> {
        let (sql, args) = search::issues_query(ISSUE_COLUMNS, &filter);
        Ok(query_issues(&self.pool, &sql, &args).await?)
    }

    /// One page by the sort column's value, as `sqlite::read::issues_by_value`; always in
    /// list order (descending).
    pub async fn issues_by_value(
        &self,
        filter: IssueFilter,
        value: i64,
        is_prev: bool,
    ) -> Result<Vec<Issue>, StoreError> {
        let (sql, args) = search::issues_by_value_query(ISSUE_COLUMNS, &filter, value, is_prev);
        let mut issues = query_issues(&self.pool, &sql, &args).await?;
        if is_prev {
            issues.reverse();
        }
        Ok(issues)
    }

    /// How many issues match `filter`, counted no further than `cap + 1`.
    pub async fn count_issues(&self, filter: IssueFilter, cap: usize) -> Result<usize, StoreError> {
        let (sql, args) = search::count_issues_query(&filter, cap);
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = client
            .query_one(&sql, &text_params(&args))
            .await
            .map_err(PgError::from)?;
        let count: i64 = row.get(0);
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Occurrences per bucket for each issue: `buckets` buckets of `bucket_hours`, ending
    /// with the current one; each bucket keyed by its start in Unix seconds.
    pub async fn issue_stats(
        &self,
        issue_ids: Vec<i64>,
        now_us: i64,
        bucket_hours: i64,
        buckets: usize,
    ) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
        let bucket_hours = bucket_hours.max(1);
        let now_hour = now_us.div_euclid(3_600_000_000);
        let last_bucket = now_hour - now_hour.rem_euclid(bucket_hours);
        let first_bucket = last_bucket - bucket_hours * (buckets as i64 - 1);
        let empty: Vec<(i64, i64)> = (0..buckets as i64)
            .map(|b| ((first_bucket + b * bucket_hours) * 3600, 0))
            .collect();
        let mut out: HashMap<i64, Vec<(i64, i64)>> = issue_ids.iter().map(|&id| (id, empty.clone())).collect();
        if issue_ids.is_empty() || buckets == 0 {
            return Ok(out);
        }
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT issue_id, hour, count FROM issue_hourly \
                         WHERE issue_id = ANY($1) AND hour >= $2 AND hour < $3",
                    )
                    .await
                    .map_err(PgError::from)?,
                &[&issue_ids, &first_bucket, &(last_bucket + bucket_hours)],
            )
            .await
            .map_err(PgError::from)?;
        for row in rows {
            let (id, hour, count): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let index = ((hour - first_bucket) / bucket_hours) as usize;
            if let Some(slot) = out.get_mut(&id).and_then(|series| series.get_mut(index)) {
                slot.1 += count;
            }
        }
        Ok(out)
    }

    /// Every tag value of an issue: by key, most frequent first, then by value (keys and
    /// values in byte order, as SQLite sorts them).
    pub async fn issue_tags(&self, issue_id: i64) -> Result<Vec<TagValue>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tags WHERE issue_id = $1 \
                         ORDER BY key COLLATE \"C\", times_seen DESC, value COLLATE \"C\"",
                    )
                    .await
                    .map_err(PgError::from)?,
                &[&issue_id],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|r| TagValue {
                key: r.get(0),
                value: r.get(1),
                count: r.get(2),
                first_seen: r.get(3),
                last_seen: r.get(4),
            })
            .collect())
    }

    /// The grouping hashes of an issue, in byte order.
    pub async fn issue_hashes(&self, issue_id: i64) -> Result<Vec<IssueHash>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(hashes_of(&client, issue_id).await?)
    }

    /// For each primary hash of an issue, its newest event.
    pub async fn latest_event_per_hash(&self, issue_id: i64) -> Result<HashMap<String, StoredEvent>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &client
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS}, primary_hash FROM events WHERE id IN \
                         (SELECT max(id) FROM events WHERE issue_id = $1 GROUP BY primary_hash)"
                    ))
                    .await
                    .map_err(PgError::from)?,
                &[&issue_id],
            )
            .await
            .map_err(PgError::from)?;
        let mut out = HashMap::new();
        for row in rows {
            out.insert(row.get::<_, String>(8), event_from_row(&row)?);
        }
        Ok(out)
    }

    /// Sets the status of every issue in `issue_ids`, all or none (an unknown id fails the
    /// whole change with NotFound).
    pub async fn set_status(&self, issue_ids: Vec<i64>, change: StatusChange) -> Result<(), StoreError> {
        let (pool, ids, change) = (&self.pool, &issue_ids, &change);
        retrying("set_status", move || set_status_once(pool, ids, change)).await
    }

    /// Merges issues into the one with the most events (ties: the lowest id); counts,
    /// users, tags, hourly stats and first/last seen stay exact. Returns the survivor.
    pub async fn merge_issues(&self, issue_ids: Vec<i64>) -> Result<i64, StoreError> {
        let (pool, ids) = (&self.pool, &issue_ids);
        retrying("merge_issues", move || merge_once(pool, ids)).await
    }

    /// Moves `hashes` of an issue, with the events whose primary hash they are, to a new
    /// issue; see `sqlite::admin::unmerge_hashes` for what stays exact and how.
    pub async fn unmerge(
        &self,
        issue_id: i64,
        hashes: Vec<String>,
        tags_of: fn(&Value) -> Vec<(String, String)>,
    ) -> Result<Unmerged, StoreError> {
        let (pool, hashes) = (&self.pool, &hashes);
        retrying("unmerge", move || unmerge_once(pool, issue_id, hashes, tags_of)).await
    }

    /// Deletes issues with their events, hashes and aggregates, all or none.
    pub async fn delete_issues(&self, issue_ids: Vec<i64>) -> Result<(), StoreError> {
        let (pool, ids) = (&self.pool, &issue_ids);
        retrying("delete_issues", move || delete_once(pool, ids)).await
    }
}

async fn hashes_of(client: &impl deadpool_postgres::GenericClient, issue_id: i64) -> Result<Vec<IssueHash>, PgError> {
    let rows = client
        .query(
            "SELECT hash, grouping_config FROM issue_hashes WHERE issue_id = $1 ORDER BY hash COLLATE \"C\"",
            &[&issue_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| IssueHash {
            hash: r.get(0),
            grouping_config: r.get(1),
        })
        .collect())
}

async fn set_status_once(pool: &Pool, ids: &[i64], change: &StatusChange) -> Result<(), TxError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let locked = lock_issues(&tx, "times_seen, last_release", ids).await?;
    let update = tx
        .prepare_cached("UPDATE issues SET status = $2, substatus = $3, status_details = $4 WHERE id = $1")
        .await?;
    for id in ids {
        let row = locked.get(id).ok_or_else(not_found)?;
        let last_release: Option<String> = row.get(2);
        let last_release = if change.status == IssueStatus::Resolved {
            last_release.as_deref()
        } else {
            None
        };
        let mut details = status_details(change, last_release);
        if change.status == IssueStatus::Ignored
            && let Some(obj) = details.as_object_mut()
        {
            obj.insert("timesSeenAtIgnore".into(), json!(row.get::<_, i64>(1)));
        }
        tx.execute(&update, &[id, &change.status, &change.substatus, &details.to_string()])
            .await?;
        super::activity::insert(
            &tx,
            *id,
            &crate::store::activity::status_activity(change, crate::store::now_us()),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn merge_once(pool: &Pool, ids: &[i64]) -> Result<i64, TxError> {
    if ids.is_empty() {
        return Err(conflict("name at least one issue to merge"));
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let locked = lock_issues(&tx, "times_seen, project_id", ids).await?;
    let mut issues: Vec<(i64, i64, i64)> = Vec::new();
    for id in ids {
        let row = locked.get(id).ok_or_else(not_found)?;
        issues.push((*id, row.get(1), row.get(2)));
    }
    if issues.iter().any(|i| i.2 != issues[0].2) {
        return Err(conflict("only issues of one project can be merged"));
    }
    issues.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let parent = issues[0].0;
    let children: Vec<i64> = issues
        .iter()
        .map(|i| i.0)
        .filter(|&id| id != parent)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !children.is_empty() {
        let args: [&(dyn ToSql + Sync); 2] = [&parent, &children];
        tx.execute("UPDATE events SET issue_id = $1 WHERE issue_id = ANY($2)", &args)
            .await?;
        tx.execute(
            "UPDATE issue_activity SET issue_id = $1 WHERE issue_id = ANY($2)",
            &args,
        )
        .await?;
        tx.execute("UPDATE issue_hashes SET issue_id = $1 WHERE issue_id = ANY($2)", &args)
            .await?;
        // Each target row is written once per statement, so the children's rows are summed first.
        tx.execute(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) \
             SELECT $1::bigint, key, value, sum(times_seen)::bigint, min(first_seen), max(last_seen) \
             FROM issue_tags WHERE issue_id = ANY($2) GROUP BY key, value ORDER BY 2, 3 \
             ON CONFLICT (issue_id, key, value) DO UPDATE SET \
             times_seen = issue_tags.times_seen + excluded.times_seen, \
             first_seen = least(issue_tags.first_seen, excluded.first_seen), \
             last_seen = greatest(issue_tags.last_seen, excluded.last_seen)",
            &args,
        )
        .await?;
        tx.execute(
            "INSERT INTO issue_users (issue_id, user_key) \
             SELECT DISTINCT $1::bigint, user_key FROM issue_users WHERE issue_id = ANY($2) ORDER BY 2 \
             ON CONFLICT (issue_id, user_key) DO NOTHING",
            &args,
        )
        .await?;
        tx.execute(
            "INSERT INTO issue_hourly (issue_id, hour, count) \
             SELECT $1::bigint, hour, sum(count)::bigint FROM issue_hourly WHERE issue_id = ANY($2) \
             GROUP BY hour ORDER BY 2 \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + excluded.count",
            &args,
        )
        .await?;
        tx.execute(
            "UPDATE issues SET times_seen = issues.times_seen + c.times_seen, \
             first_seen = least(issues.first_seen, c.first_seen), last_seen = greatest(issues.last_seen, c.last_seen) \
             FROM (SELECT sum(times_seen)::bigint AS times_seen, min(first_seen) AS first_seen, \
                          max(last_seen) AS last_seen FROM issues WHERE id = ANY($2)) c \
             WHERE issues.id = $1",
            &args,
        )
        .await?;
        tx.execute("DELETE FROM issues WHERE id = ANY($1)", &[&children])
            .await?;
    }
    tx.execute(
        "UPDATE issues SET user_count = (SELECT count(*) FROM issue_users WHERE issue_id = $1) WHERE id = $1",
        &[&parent],
    )
    .await?;
    tx.commit().await?;
    Ok(parent)
}

async fn delete_once(pool: &Pool, ids: &[i64]) -> Result<(), TxError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let locked = lock_issues(&tx, "project_id", ids).await?;
    // As on SQLite, where each id is deleted in turn: an unknown (or repeated) id fails all.
    let mut seen = BTreeSet::new();
    for id in ids {
        if !locked.contains_key(id) || !seen.insert(*id) {
            return Err(not_found());
        }
    }
    let ids: Vec<i64> = seen.into_iter().collect();
    // Events, hashes, tags, users and hourly rows go with their issue (ON DELETE CASCADE).
    tx.execute("DELETE FROM issues WHERE id = ANY($1)", &[&ids]).await?;
    tx.commit().await?;
    Ok(())
}

/// One moved event's share of an issue's aggregates.
struct MovedEvent {
    id: i64,
    timestamp: i64,
    release: Option<String>,
    user_key: Option<String>,
    tags: Vec<(String, String)>,
}

async fn unmerge_once(
    pool: &Pool,
    issue_id: i64,
    hashes: &[String],
    tags_of: fn(&Value) -> Vec<(String, String)>,
) -> Result<Unmerged, TxError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let old = tx
        .query_opt(
            &format!("SELECT {ISSUE_COLUMNS} FROM issues WHERE id = $1 FOR UPDATE"),
            &[&issue_id],
        )
        .await?
        .map(|r| issue_from_row(&r))
        .ok_or_else(not_found)?;
    let owned: Vec<String> = hashes_of(&tx, issue_id).await?.into_iter().map(|h| h.hash).collect();
    if hashes.is_empty() {
        return Err(conflict("name at least one hash to unmerge"));
    }
    if let Some(foreign) = hashes.iter().find(|h| !owned.contains(h)) {
        return Err(conflict(format!("hash {foreign} does not belong to this issue")));
    }
    if owned.iter().all(|h| hashes.contains(h)) {
        return Err(conflict("an issue keeps at least one of its hashes; leave one out"));
    }

    // The moved events, oldest first; payloads are streamed and decoded one at a time.
    let mut moved: Vec<MovedEvent> = Vec::new();
    let mut latest_payload: Option<Value> = None;
    {
        let hash_list: Vec<String> = hashes.to_vec();
        let params: [&(dyn ToSql + Sync); 2] = [&issue_id, &hash_list];
        let rows = tx
            .query_raw(
                "SELECT id, timestamp, release, user_key, payload FROM events \
                 WHERE issue_id = $1 AND primary_hash = ANY($2) ORDER BY timestamp, id",
                params,
            )
            .await?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
            let blob: Vec<u8> = row.get(4);
            let payload = decode_payload(&blob)?;
            moved.push(MovedEvent {
                id: row.get(0),
                timestamp: row.get(1),
                release: row.get(2),
                user_key: row.get(3),
                tags: tags_of(&payload),
            });
            latest_payload = Some(payload);
        }
    }

    // The new issue reads like its newest event.
    let summary = latest_payload
        .as_ref()
        .map(|payload| crate::event::group::summarize(&payload.into()));
    let short_id: i64 = tx
        .query_opt(
            "UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = $1 RETURNING next_short_id - 1",
            &[&old.project_id],
        )
        .await?
        .ok_or(TxError::Refused(StoreError::NotFound("project")))?
        .get(0);
    let first_seen = moved.first().map_or(old.first_seen, |e| e.timestamp);
    let last_seen = moved.last().map_or(old.last_seen, |e| e.timestamp);
    let first_release = moved.iter().find_map(|e| e.release.clone());
    let last_release = moved.iter().rev().find_map(|e| e.release.clone());
    let text = |key: &str| latest_payload.as_ref().and_then(|p| p.get(key)).and_then(Value::as_str);
    let title = summary.as_ref().map_or(old.title.clone(), |s| s.title.clone());
    let culprit = summary.as_ref().map_or(old.culprit.clone(), |s| s.culprit.clone());
    let location = summary.as_ref().map_or(old.location.clone(), |s| s.location.clone());
    let level = text("level").unwrap_or(&old.level);
    let kind = summary.as_ref().map_or(old.kind.as_str(), |s| s.kind);
    let platform = text("platform").or(old.platform.as_deref());
    let metadata = summary
        .as_ref()
        .map_or(old.metadata.to_string(), |s| s.metadata.to_string());
    let grouping_config = text("grouping_config").unwrap_or(&old.grouping_config);
    let new_id: i64 = tx
        .query_one(
            "INSERT INTO issues (project_id, short_id, title, culprit, location, level, type, platform, metadata, \
             status, substatus, first_seen, last_seen, times_seen, first_release, last_release, grouping_config) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'unresolved', 'new', $10, $11, $12, $13, $14, $15) \
             RETURNING id",
            &[
                &old.project_id,
                &short_id,
                &title,
                &culprit,
                &location,
                &level,
                &kind,
                &platform,
                &metadata,
                &first_seen,
                &last_seen,
                &(moved.len() as i64),
                &first_release,
                &last_release,
                &grouping_config,
            ],
        )
        .await?
        .get(0);

    let hash_list: Vec<String> = hashes.to_vec();
    tx.execute(
        "UPDATE issue_hashes SET issue_id = $1 WHERE issue_id = $2 AND hash = ANY($3)",
        &[&new_id, &issue_id, &hash_list],
    )
    .await?;
    let moved_ids: Vec<i64> = moved.iter().map(|e| e.id).collect();
    tx.execute(
        "UPDATE events SET issue_id = $1 WHERE id = ANY($2)",
        &[&new_id, &moved_ids],
    )
    .await?;
    let mut tag_shares: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    let mut hour_shares: BTreeMap<i64, i64> = BTreeMap::new();
    let mut users: BTreeSet<String> = BTreeSet::new();
    for event in &moved {
        *hour_shares
            .entry(event.timestamp.div_euclid(3_600_000_000))
            .or_default() += 1;
        if let Some(user) = &event.user_key {
            users.insert(user.clone());
        }
        for tag in &event.tags {
            let share = tag_shares
                .entry(tag.clone())
                .or_insert((0, event.timestamp, event.timestamp));
            share.0 += 1;
            share.1 = share.1.min(event.timestamp);
            share.2 = share.2.max(event.timestamp);
        }
    }
    let (hours, hour_counts): (Vec<i64>, Vec<i64>) = hour_shares.iter().map(|(h, c)| (*h, *c)).unzip();
    let mut tag_columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((key, value), (count, first, last)) in &tag_shares {
        tag_columns.0.push(key.clone());
        tag_columns.1.push(value.clone());
        tag_columns.2.push(*count);
        tag_columns.3.push(*first);
        tag_columns.4.push(*last);
    }
    let user_list: Vec<String> = users.iter().cloned().collect();

    // The new issue: exactly the moved events.
    tx.execute(
        "INSERT INTO issue_hourly (issue_id, hour, count) \
         SELECT $1, h, c FROM unnest($2::bigint[], $3::bigint[]) AS s(h, c)",
        &[&new_id, &hours, &hour_counts],
    )
    .await?;
    tx.execute(
        "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) \
         SELECT $1, k, v, n, f, l FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) \
         AS s(k, v, n, f, l)",
        &[
            &new_id,
            &tag_columns.0,
            &tag_columns.1,
            &tag_columns.2,
            &tag_columns.3,
            &tag_columns.4,
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO issue_users (issue_id, user_key) SELECT $1, u FROM unnest($2::text[]) AS s(u)",
        &[&new_id, &user_list],
    )
    .await?;
    tx.execute(
        "UPDATE issues SET user_count = $2 WHERE id = $1",
        &[&new_id, &(users.len() as i64)],
    )
    .await?;

    // The old issue: its moved share taken off.
    tx.execute(
        "UPDATE issue_hourly SET count = issue_hourly.count - s.c \
         FROM unnest($2::bigint[], $3::bigint[]) AS s(h, c) \
         WHERE issue_hourly.issue_id = $1 AND issue_hourly.hour = s.h",
        &[&issue_id, &hours, &hour_counts],
    )
    .await?;
    tx.execute(
        "DELETE FROM issue_hourly WHERE issue_id = $1 AND count <= 0",
        &[&issue_id],
    )
    .await?;
    tx.execute(
        "UPDATE issue_tags SET times_seen = issue_tags.times_seen - s.n \
         FROM unnest($2::text[], $3::text[], $4::bigint[]) AS s(k, v, n) \
         WHERE issue_tags.issue_id = $1 AND issue_tags.key = s.k AND issue_tags.value = s.v",
        &[&issue_id, &tag_columns.0, &tag_columns.1, &tag_columns.2],
    )
    .await?;
    tx.execute(
        "DELETE FROM issue_tags WHERE issue_id = $1 AND times_seen <= 0",
        &[&issue_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM issue_users WHERE issue_id = $1 AND user_key = ANY($2) AND NOT EXISTS \
         (SELECT 1 FROM events e WHERE e.issue_id = $1 AND e.user_key = issue_users.user_key)",
        &[&issue_id, &user_list],
    )
    .await?;
    let remaining = tx
        .query_one(
            "SELECT min(timestamp), max(timestamp) FROM events WHERE issue_id = $1",
            &[&issue_id],
        )
        .await?;
    let remaining: Option<(i64, i64)> = remaining
        .get::<_, Option<i64>>(0)
        .zip(remaining.get::<_, Option<i64>>(1));
    tx.execute(
        "UPDATE issues SET times_seen = greatest(times_seen - $2, 0), \
         user_count = (SELECT count(*) FROM issue_users WHERE issue_id = $1) WHERE id = $1",
        &[&issue_id, &(moved.len() as i64)],
    )
    .await?;
    if let Some((first, last)) = remaining {
        tx.execute(
            "UPDATE issues SET first_seen = $2, last_seen = $3, \
             first_release = coalesce((SELECT release FROM events WHERE issue_id = $1 AND release IS NOT NULL \
                                        ORDER BY timestamp, id LIMIT 1), first_release), \
             last_release = coalesce((SELECT release FROM events WHERE issue_id = $1 AND release IS NOT NULL \
                                       ORDER BY timestamp DESC, id DESC LIMIT 1), last_release) WHERE id = $1",
            &[&issue_id, &first, &last],
        )
        .await?;
        refresh_tag_times(&tx, issue_id, &tag_shares, tags_of).await?;
    }
    tx.commit().await?;
    Ok(Unmerged {
        new_issue_id: new_id,
        events: moved.len() as i64,
    })
}

/// After events left an issue, the first/last seen of the tag values they carried may have
/// been theirs: recompute those from the events that stayed.
async fn refresh_tag_times(
    tx: &Transaction<'_>,
    issue_id: i64,
    moved: &BTreeMap<(String, String), (i64, i64, i64)>,
    tags_of: fn(&Value) -> Vec<(String, String)>,
) -> Result<(), TxError> {
    let mut stale: BTreeMap<(String, String), Option<(i64, i64)>> = BTreeMap::new();
    let lookup = tx
        .prepare_cached("SELECT first_seen, last_seen FROM issue_tags WHERE issue_id = $1 AND key = $2 AND value = $3")
        .await?;
    for ((key, value), (_, first, last)) in moved {
        let row = tx.query_opt(&lookup, &[&issue_id, key, value]).await?;
        if row.is_some_and(|r| r.get::<_, i64>(0) == *first || r.get::<_, i64>(1) == *last) {
            stale.insert((key.clone(), value.clone()), None);
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    {
        let params: [&(dyn ToSql + Sync); 1] = [&issue_id];
        let rows = tx
            .query_raw("SELECT timestamp, payload FROM events WHERE issue_id = $1", params)
            .await?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
            let timestamp: i64 = row.get(0);
            let blob: Vec<u8> = row.get(1);
            for tag in tags_of(&decode_payload(&blob)?) {
                if let Some(seen) = stale.get_mut(&tag) {
                    let (first, last) = seen.get_or_insert((timestamp, timestamp));
                    *first = (*first).min(timestamp);
                    *last = (*last).max(timestamp);
                }
            }
        }
    }
    let update = tx
        .prepare_cached(
            "UPDATE issue_tags SET first_seen = $4, last_seen = $5 WHERE issue_id = $1 AND key = $2 AND value = $3",
        )
        .await?;
    for ((key, value), seen) in stale {
        if let Some((first, last)) = seen {
            tx.execute(&update, &[&issue_id, &key, &value, &first, &last]).await?;
        }
    }
    Ok(())
}
