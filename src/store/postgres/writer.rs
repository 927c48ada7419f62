//! This node's writer for PostgreSQL: takes events from a bounded queue, commits what is
//! waiting in one transaction (group commit, as with SQLite), and only then answers each
//! event — so a 200 means committed.
//!
//! Several nodes write the same database at once, so nothing here reads a counter and
//! writes it back: an event id already stored (by this node or another) is found by the
//! unique constraint (`ON CONFLICT DO NOTHING`); a new fingerprint is claimed with
//! `INSERT … ON CONFLICT DO NOTHING` on (project, hash) and re-read when another node won;
//! counts, user counts, tag counts and hourly buckets are additive upserts; short ids come
//! from `UPDATE … RETURNING`. A batch that deadlocks with another node's is retried whole.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::PgError;
use crate::ids::EventId;
use crate::store::{AlertSettings, Announced, EventRecord, IssueStatus, Stored};

type Reply = oneshot::Sender<Result<Stored, PgError>>;
/// An event waiting for the writer, with where to send its outcome.
type Job = (Box<EventRecord>, Reply);

/// How often a batch that lost a deadlock against another node's batch is tried again.
const BATCH_ATTEMPTS: usize = 5;

/// Handle to this node's writer task.
#[derive(Clone)]
pub struct PgWriter {
    inner: Arc<Inner>,
}

struct Inner {
    tx: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    /// Disconnected when the writer task has answered its last event.
    done: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// Requests announced as about to queue an event (kept for the interface; batches do
    /// not wait for them yet).
    incoming: Arc<AtomicUsize>,
    capacity: usize,
}

impl PgWriter {
    /// Starts the writer task on the current tokio runtime.
    pub(super) fn start(pool: Pool, alerts: Arc<AlertSettings>, queue_capacity: usize, batch_max: usize) -> PgWriter {
        let capacity = queue_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let (finished, done) = std::sync::mpsc::channel::<()>();
        tokio::spawn(async move {
            run(pool, alerts, rx, batch_max.max(1)).await;
            drop(finished);
        });
        PgWriter {
            inner: Arc::new(Inner {
                tx: std::sync::Mutex::new(Some(tx)),
                done: std::sync::Mutex::new(Some(done)),
                incoming: Arc::new(AtomicUsize::new(0)),
                capacity,
            }),
        }
    }

    pub fn announce(&self) -> Announced {
        Announced::new(self.inner.incoming.clone())
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, PgError> {
        self.inner
            .tx
            .lock()
            .map_err(|_| PgError::Closed)?
            .clone()
            .ok_or(PgError::Closed)
    }

    /// Events waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.sender().map(|s| s.max_capacity() - s.capacity()).unwrap_or(0)
    }

    pub fn queue_capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Queues an event (429-worthy `QueueFull` when the queue is full) and waits until its
    /// transaction has committed.
    pub async fn store_event(&self, record: EventRecord, announced: Option<&Announced>) -> Result<Stored, PgError> {
        let (reply, rx) = oneshot::channel();
        let queued = self.sender().and_then(|s| {
            s.try_send((Box::new(record), reply)).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => PgError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => PgError::Closed,
            })
        });
        if let Some(a) = announced {
            a.arrived();
        }
        queued?;
        rx.await.map_err(|_| PgError::Closed)?
    }

    /// Stops taking events and blocks until the queued ones are committed and answered.
    /// Blocks the calling thread: call it from `spawn_blocking`, never on a runtime worker.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.inner.tx.lock() {
            tx.take();
        }
        let done = self.inner.done.lock().ok().and_then(|mut d| d.take());
        if let Some(done) = done {
            // Returns once the task has dropped its end, after the last batch.
            let _ = done.recv();
        }
    }
}

async fn run(pool: Pool, alerts: Arc<AlertSettings>, mut rx: mpsc::Receiver<Job>, batch_max: usize) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&pool, &alerts, batch).await;
    }
}

async fn commit_batch(pool: &Pool, alerts: &AlertSettings, batch: Vec<Job>) {
    let started = Instant::now();
    let size = batch.len();
    let records: Vec<&EventRecord> = batch.iter().map(|(r, _)| r.as_ref()).collect();
    let mut attempt = 1;
    let outcome = loop {
        match write_batch(pool, alerts, &records).await {
            Err(e) if e.is_retryable() && attempt < BATCH_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "batch lost a lock race with another node; retrying");
                // Spread the retries of the two losers apart.
                let jitter = rand::random_range(0..20u64);
                tokio::time::sleep(Duration::from_millis(5 * attempt as u64 + jitter)).await;
                attempt += 1;
            }
            other => break other,
        }
    };
    match outcome {
        Ok(results) => {
            for ((_, reply), result) in batch.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, events = size, "batch commit failed");
            let message = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(PgError::Unavailable(message.clone())));
            }
        }
    }
    metrics::histogram!("errata_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("errata_batch_size").record(size as f64);
}

/// Writes one batch in one transaction; returns each event's outcome in the batch's order.
/// An error here concerns the whole batch (nothing of it was committed).
pub async fn write_batch(
    pool: &Pool,
    alerts: &AlertSettings,
    records: &[&EventRecord],
) -> Result<Vec<Result<Stored, PgError>>, PgError> {
    // A savepoint per event costs a round trip or two and a subtransaction each (past 64 in
    // one transaction PostgreSQL's snapshots slow down for every session), so the batch is
    // first written without them; only a batch where one event fails on its own values, or
    // loses an event id race after writing, is written again with one savepoint per event.
    if let Some(results) = write_batch_with(pool, alerts, records, false).await? {
        return Ok(results);
    }
    write_batch_with(pool, alerts, records, true)
        .await?
        .ok_or_else(|| PgError::Unavailable("a guarded batch did not finish".into()))
}

/// One attempt at a batch; `None` when an unguarded attempt met an event it cannot keep
/// without a savepoint (nothing of it is committed then).
async fn write_batch_with(
    pool: &Pool,
    alerts: &AlertSettings,
    records: &[&EventRecord],
    guarded: bool,
) -> Result<Option<Vec<Result<Stored, PgError>>>, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Rows are locked in (project, event id) order, so two nodes given the same events
    // (an SDK retrying against another node) take their locks in the same order.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| {
        (records[a].project_id, &records[a].event_id).cmp(&(records[b].project_id, &records[b].event_id))
    });
    let mut results: Vec<Option<Result<Stored, PgError>>> = records.iter().map(|_| None).collect();
    let mut created = vec![false; records.len()];
    // What the database holds for the whole batch, read in two statements instead of two
    // per event: the event ids already stored, and the issues its fingerprints point at.
    // Per event only the insert is left (and the claim of a new fingerprint).
    // Sent together (pipelined): one round trip for both.
    let (mut stored, mut learned) =
        futures_util::future::try_join(stored_event_ids(&tx, records), known_hashes(&tx, records)).await?;
    // Unguarded, the events' rows go in one statement after the loop; guarded, each event
    // inserts its own inside its savepoint.
    let mut pending: Vec<(&EventRecord, i64)> = Vec::new();
    for index in order {
        let record = records[index];
        if guarded {
            tx.batch_execute("SAVEPOINT event").await?;
        }
        let mut staged = HashMap::new();
        let defer = (!guarded).then_some(&mut pending);
        let outcome = store_one(&tx, &stored, &learned, &mut staged, record, defer).await;
        if !guarded && matches!(&outcome, Ok(Outcome::Duplicate { late: true }) | Err(_)) {
            match outcome {
                Err(e) if !e.is_event_level() => return Err(e),
                _ => return Ok(None),
            }
        }
        match outcome {
            Ok(Outcome::Stored { issue_id, created: c }) => {
                if guarded {
                    tx.batch_execute("RELEASE SAVEPOINT event").await?;
                }
                learned.extend(staged);
                // A second copy of this id later in the batch is a plain duplicate.
                stored.insert((record.project_id, record.event_id));
                created[index] = c;
                results[index] = Some(Ok(Stored {
                    issue_id,
                    duplicate: false,
                }));
            }
            Ok(Outcome::Duplicate { .. }) => {
                // What this event prepared (an issue it would have opened) is undone; the
                // copy already stored says which issue it belongs to.
                if guarded {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT event; RELEASE SAVEPOINT event")
                        .await?;
                }
                let same =
                    |(r, _): &&(&EventRecord, i64)| (r.project_id, r.event_id) == (record.project_id, record.event_id);
                if let Some((_, issue_id)) = pending.iter().find(same) {
                    // The first copy is in this batch, its row not yet inserted.
                    results[index] = Some(Ok(Stored {
                        issue_id: *issue_id,
                        duplicate: true,
                    }));
                    continue;
                }
                let row = tx
                    .query_opt(
                        "SELECT issue_id FROM events WHERE project_id = $1 AND event_id = $2",
                        &[&record.project_id, &record.event_id],
                    )
                    .await?;
                results[index] = Some(match row {
                    Some(row) => Ok(Stored {
                        issue_id: row.get(0),
                        duplicate: true,
                    }),
                    None => Err(PgError::NotFound("event")),
                });
            }
            Err(e) if e.is_event_level() => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT event; RELEASE SAVEPOINT event")
                    .await?;
                results[index] = Some(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    match insert_events(&tx, &pending).await {
        Ok(inserted) if inserted == pending.len() => {}
        // Another node committed one of these event ids meanwhile: written again, guarded.
        Ok(_) => return Ok(None),
        Err(e) if e.is_event_level() => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut folded = Folded::default();
    for (index, record) in records.iter().enumerate() {
        if let Some(Ok(stored)) = &results[index]
            && !stored.duplicate
        {
            folded.apply(stored.issue_id, created[index], record);
        }
    }
    let regressed = folded.write(&tx).await?;
    // The releases the stored events name, once per (project, release).
    let seen = crate::store::releases::seen_releases(
        records
            .iter()
            .zip(&results)
            .map(|(record, result)| (*record, result.as_ref().and_then(|r| r.as_ref().ok()))),
    );
    super::releases::record_seen(&tx, &seen).await?;
    // Notifications are written in this transaction: none for an issue rolled back.
    super::alerts::enqueue(&tx, alerts, records, &results, &created, &regressed).await?;
    tx.commit().await?;
    Ok(Some(
        results.into_iter().map(|r| r.unwrap_or(Err(PgError::Closed))).collect(),
    ))
}

enum Outcome {
    Stored {
        issue_id: i64,
        created: bool,
    },
    /// The event id is already stored for its project: acknowledged, not counted again.
    /// `late` when this event had already written rows (another node stored the same id
    /// meanwhile) that must be undone.
    Duplicate {
        late: bool,
    },
}

/// The (project, event id) pairs of the batch that are already stored, read in one statement.
async fn stored_event_ids(tx: &Transaction<'_>, records: &[&EventRecord]) -> Result<HashSet<(i64, EventId)>, PgError> {
    let projects: Vec<i64> = records.iter().map(|r| r.project_id).collect();
    let ids: Vec<EventId> = records.iter().map(|r| r.event_id).collect();
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT e.project_id, e.event_id FROM events e \
                 JOIN unnest($1::bigint[], $2::uuid[]) AS k (project_id, event_id) \
                 ON e.project_id = k.project_id AND e.event_id = k.event_id",
            )
            .await?,
            &[&projects, &ids],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The issues the batch's fingerprints already point at, read in one statement.
async fn known_hashes(tx: &Transaction<'_>, records: &[&EventRecord]) -> Result<HashMap<(i64, String), i64>, PgError> {
    let mut pairs = BTreeSet::new();
    for r in records {
        pairs.extend(r.hashes.iter().map(|h| (r.project_id, h.as_str())));
    }
    let (projects, hashes): (Vec<i64>, Vec<&str>) = pairs.into_iter().unzip();
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT h.project_id, h.hash, h.issue_id FROM issue_hashes h \
                 JOIN unnest($1::bigint[], $2::text[]) AS k (project_id, hash) \
                 ON h.project_id = k.project_id AND h.hash = k.hash",
            )
            .await?,
            &[&projects, &hashes],
        )
        .await?;
    Ok(rows.iter().map(|row| ((row.get(0), row.get(1)), row.get(2))).collect())
}

/// Stores one event's own rows: resolves its issue by hash (or opens one) and inserts the
/// event. `stored` and `learned` are what the batch read up front plus what its earlier
/// events wrote. Counters are folded by the caller once the whole batch is known.
async fn store_one<'a>(
    tx: &Transaction<'_>,
    stored: &HashSet<(i64, EventId)>,
    learned: &HashMap<(i64, String), i64>,
    staged: &mut HashMap<(i64, String), i64>,
    r: &'a EventRecord,
    deferred: Option<&mut Vec<(&'a EventRecord, i64)>>,
) -> Result<Outcome, PgError> {
    if stored.contains(&(r.project_id, r.event_id)) {
        return Ok(Outcome::Duplicate { late: false });
    }

    // §1 of the grouping spec: the first known hash decides the issue. A hash the batch
    // did not find is new; should another node claim it meanwhile, the claim below joins
    // its issue (primary hash) or leaves its row in place (the others).
    let known: HashMap<&str, i64> = r
        .hashes
        .iter()
        .filter_map(|hash| {
            learned
                .get(&(r.project_id, hash.clone()))
                .map(|id| (hash.as_str(), *id))
        })
        .collect();
    let first_known = r.hashes.iter().find_map(|h| known.get(h.as_str()).copied());
    let (issue_id, created) = match first_known {
        Some(id) => (id, false),
        None => claim_or_join(tx, r).await?,
    };
    for hash in &r.hashes {
        if !known.contains_key(hash.as_str()) {
            // Another node may have claimed it meanwhile for another issue: theirs stays.
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO issue_hashes (project_id, hash, issue_id, grouping_config) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, hash) DO NOTHING",
                )
                .await?,
                &[&r.project_id, hash, &issue_id, &r.grouping_config],
            )
            .await?;
        }
        staged.insert((r.project_id, hash.clone()), issue_id);
    }

    if let Some(deferred) = deferred {
        deferred.push((r, issue_id));
        return Ok(Outcome::Stored { issue_id, created });
    }
    let inserted = tx
        .query_opt(
            &tx.prepare_cached(
                "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, release, \
                 environment, trace_id, user_key, primary_hash, grouping_config, size, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (project_id, event_id) DO NOTHING RETURNING id",
            )
            .await?,
            &[
                &r.project_id,
                &issue_id,
                &r.event_id,
                &r.timestamp,
                &r.received,
                &r.level,
                &r.release,
                &r.environment,
                &r.trace_id,
                &r.user_key,
                &r.hashes.first().map(String::as_str).unwrap_or(""),
                &r.grouping_config,
                &(r.size as i64),
                &r.payload,
            ],
        )
        .await?;
    match inserted {
        // Another node committed the same event id while this one was on its way.
        None => Ok(Outcome::Duplicate { late: true }),
        Some(_) => Ok(Outcome::Stored { issue_id, created }),
    }
}

/// Inserts the events' rows in one statement, in the batch's lock order; returns how many
/// went in (fewer when another node committed one of the ids meanwhile).
async fn insert_events(tx: &Transaction<'_>, events: &[(&EventRecord, i64)]) -> Result<usize, PgError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut c = EventColumns::default();
    for (r, issue_id) in events {
        c.project_id.push(r.project_id);
        c.issue_id.push(*issue_id);
        c.event_id.push(r.event_id);
        c.timestamp.push(r.timestamp);
        c.received.push(r.received);
        c.level.push(r.level.as_str());
        c.release.push(r.release.as_deref());
        c.environment.push(r.environment.as_deref());
        c.trace_id.push(r.trace_id.as_deref());
        c.user_key.push(r.user_key.as_deref());
        c.primary_hash.push(r.hashes.first().map_or("", String::as_str));
        c.grouping_config.push(r.grouping_config);
        c.size.push(r.size as i64);
        c.payload.push(r.payload.as_slice());
    }
    let rows = tx
        .query(
            &tx.prepare_cached(
                "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, release, \
                 environment, trace_id, user_key, primary_hash, grouping_config, size, payload) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::bigint[], $5::bigint[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
                 $13::bigint[], $14::bytea[]) \
                 ON CONFLICT (project_id, event_id) DO NOTHING RETURNING id",
            )
            .await?,
            &[
                &c.project_id,
                &c.issue_id,
                &c.event_id,
                &c.timestamp,
                &c.received,
                &c.level,
                &c.release,
                &c.environment,
                &c.trace_id,
                &c.user_key,
                &c.primary_hash,
                &c.grouping_config,
                &c.size,
                &c.payload,
            ],
        )
        .await?;
    Ok(rows.len())
}

/// The `events` columns of a batch, one array each, for `unnest`.
#[derive(Default)]
struct EventColumns<'a> {
    project_id: Vec<i64>,
    issue_id: Vec<i64>,
    event_id: Vec<EventId>,
    timestamp: Vec<i64>,
    received: Vec<i64>,
    level: Vec<&'a str>,
    release: Vec<Option<&'a str>>,
    environment: Vec<Option<&'a str>>,
    trace_id: Vec<Option<&'a str>>,
    user_key: Vec<Option<&'a str>>,
    primary_hash: Vec<&'a str>,
    grouping_config: Vec<&'a str>,
    size: Vec<i64>,
    payload: Vec<&'a [u8]>,
}

/// Opens an issue for an event none of whose hashes is known — unless another node claims
/// its primary hash first, in which case the event joins that node's issue. The claim comes
/// first (with an issue id drawn from the sequence; the foreign key is checked at commit),
/// so the loser of the race writes nothing and takes no short id.
async fn claim_or_join(tx: &Transaction<'_>, r: &EventRecord) -> Result<(i64, bool), PgError> {
    let Some(primary) = r.hashes.first() else {
        return Err(PgError::Corrupt("an event without grouping hashes".into()));
    };
    let drawn: i64 = tx
        .query_one(
            &tx.prepare_cached("SELECT nextval(pg_get_serial_sequence('issues', 'id'))")
                .await?,
            &[],
        )
        .await?
        .get(0);
    let claimed = tx
        .query_opt(
            &tx.prepare_cached(
                "INSERT INTO issue_hashes (project_id, hash, issue_id, grouping_config) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (project_id, hash) DO NOTHING RETURNING issue_id",
            )
            .await?,
            &[&r.project_id, primary, &drawn, &r.grouping_config],
        )
        .await?;
    if claimed.is_none() {
        // The conflicting claim has committed (an INSERT waits for an uncommitted one), so
        // this read, a new statement, sees it.
        let winner = tx
            .query_opt(
                &tx.prepare_cached("SELECT issue_id FROM issue_hashes WHERE project_id = $1 AND hash = $2")
                    .await?,
                &[&r.project_id, primary],
            )
            .await?
            .ok_or(PgError::NotFound("issue"))?;
        return Ok((winner.get(0), false));
    }
    let short_id: i64 = tx
        .query_opt(
            &tx.prepare_cached(
                "UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = $1 RETURNING next_short_id - 1",
            )
            .await?,
            &[&r.project_id],
        )
        .await?
        .ok_or(PgError::NotFound("project"))?
        .get(0);
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO issues (id, project_id, short_id, title, culprit, location, level, type, platform, metadata, \
             status, substatus, first_seen, last_seen, times_seen, first_release, last_release, grouping_config) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'unresolved', 'new', $11, $11, 1, $12, $12, $13)",
        )
        .await?,
        &[
            &drawn,
            &r.project_id,
            &short_id,
            &r.title,
            &r.culprit,
            &r.location,
            &r.level,
            &r.kind,
            &r.platform,
            &r.metadata,
            &r.timestamp,
            &r.release,
            &r.grouping_config,
        ],
    )
    .await?;
    Ok((drawn, true))
}

/// What a batch adds to one issue beyond the rows its events created.
#[derive(Default)]
struct IssueDelta {
    /// Events counted here (an issue's opening event is already in its row).
    events: i64,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    first_release: Option<String>,
    last_release: Option<String>,
    /// Release and timestamp of each event, to decide a regression once the row is locked.
    seen: Vec<(Option<String>, i64)>,
}

/// The batch's aggregates, folded in memory and written once per issue, tag value, user
/// and hour — every write an addition to what the row holds, in key order.
#[derive(Default)]
struct Folded {
    issues: BTreeMap<i64, IssueDelta>,
    tags: BTreeMap<(i64, String, String), (i64, i64, i64)>,
    hourly: BTreeMap<(i64, i64), i64>,
    users: BTreeSet<(i64, String)>,
}

impl Folded {
    fn apply(&mut self, issue_id: i64, created: bool, r: &EventRecord) {
        let delta = self.issues.entry(issue_id).or_default();
        if !created {
            delta.events += 1;
            delta.first_seen = Some(delta.first_seen.map_or(r.timestamp, |t| t.min(r.timestamp)));
            delta.last_seen = Some(delta.last_seen.map_or(r.timestamp, |t| t.max(r.timestamp)));
            if r.release.is_some() {
                if delta.first_release.is_none() {
                    delta.first_release = r.release.clone();
                }
                delta.last_release = r.release.clone();
            }
            delta.seen.push((r.release.clone(), r.timestamp));
        }
        if let Some(user) = &r.user_key {
            self.users.insert((issue_id, user.clone()));
        }
        for (key, value) in &r.tags {
            let fold = self
                .tags
                .entry((issue_id, key.clone(), value.clone()))
                .or_insert((0, r.timestamp, r.timestamp));
            fold.0 += 1;
            fold.1 = fold.1.min(r.timestamp);
            fold.2 = fold.2.max(r.timestamp);
        }
        *self
            .hourly
            .entry((issue_id, r.timestamp.div_euclid(3_600_000_000)))
            .or_insert(0) += 1;
    }

    /// Writes the aggregates; returns the issues this batch regressed.
    async fn write(self, tx: &Transaction<'_>) -> Result<Vec<i64>, PgError> {
        let mut regressed = Vec::new();
        // Users first: how many are new to each issue is known only once inserted.
        let mut new_users: HashMap<i64, i64> = HashMap::new();
        if !self.users.is_empty() {
            let (ids, keys): (Vec<i64>, Vec<String>) = self.users.into_iter().unzip();
            let rows = tx
                .query(
                    &tx.prepare_cached(
                        "INSERT INTO issue_users (issue_id, user_key) \
                         SELECT * FROM unnest($1::bigint[], $2::text[]) ORDER BY 1, 2 \
                         ON CONFLICT (issue_id, user_key) DO NOTHING RETURNING issue_id",
                    )
                    .await?,
                    &[&ids, &keys],
                )
                .await?;
            for row in rows {
                *new_users.entry(row.get(0)).or_default() += 1;
            }
        }

        // The issues' counters in one statement. Their rows are locked first, in id order,
        // so two nodes folding into the same issues cannot deadlock (an UPDATE … FROM would
        // lock them in whatever order its join produced). `FOR NO KEY UPDATE` is the lock
        // the UPDATE itself takes: it does not wait for the key-share locks that inserting
        // events under an issue holds.
        let touched: Vec<(i64, &IssueDelta, i64)> = self
            .issues
            .iter()
            .map(|(id, delta)| (*id, delta, new_users.get(id).copied().unwrap_or(0)))
            .filter(|(_, delta, users)| delta.events != 0 || *users != 0)
            .collect();
        let mut states = HashMap::new();
        if !touched.is_empty() {
            let mut columns = (
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            );
            for (issue_id, delta, users) in &touched {
                columns.0.push(*issue_id);
                columns.1.push(delta.events);
                columns.2.push(delta.first_seen);
                columns.3.push(delta.last_seen);
                columns.4.push(delta.first_release.as_deref());
                columns.5.push(delta.last_release.as_deref());
                columns.6.push(*users);
            }
            let lock = tx
                .prepare_cached("SELECT 1 FROM issues WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
                .await?;
            let update = tx
                .prepare_cached(
                    "UPDATE issues SET times_seen = issues.times_seen + d.events, \
                         first_seen = least(issues.first_seen, coalesce(d.first_seen, issues.first_seen)), \
                         last_seen = greatest(issues.last_seen, coalesce(d.last_seen, issues.last_seen)), \
                         first_release = coalesce(issues.first_release, d.first_release), \
                         last_release = coalesce(d.last_release, issues.last_release), \
                         user_count = issues.user_count + d.users, \
                         substatus = CASE WHEN d.events > 0 AND issues.status = 'unresolved' \
                         AND issues.substatus = 'new' THEN 'ongoing' ELSE issues.substatus END \
                         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], \
                         $6::text[], $7::bigint[]) \
                         AS d(id, events, first_seen, last_seen, first_release, last_release, users) \
                         WHERE issues.id = d.id \
                         RETURNING issues.id, issues.status, issues.status_details, issues.times_seen",
                )
                .await?;
            // Pipelined: requests go out in the order they are first polled, and the server
            // runs them in that order, so the locks are taken before the update joins.
            let (_, rows) = futures_util::future::try_join(
                tx.execute(&lock, &[&columns.0]),
                tx.query(
                    &update,
                    &[
                        &columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5, &columns.6,
                    ],
                ),
            )
            .await?;
            for row in rows {
                let status: IssueStatus = row.get(1);
                states.insert(
                    row.get::<_, i64>(0),
                    (status, row.get::<_, String>(2), row.get::<_, i64>(3)),
                );
            }
        }
        // Reopening is rare and decided per issue, in id order, on the rows locked above.
        for (issue_id, delta, _) in &touched {
            let Some((status, details, times_seen)) = states.remove(issue_id) else {
                continue;
            };
            if status == IssueStatus::Unresolved {
                continue;
            }
            let details: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
            let reopen = delta.seen.iter().find_map(|(release, timestamp)| {
                crate::store::rules::reopens(status, &details, release.as_deref(), *timestamp, times_seen)
            });
            if let Some(substatus) = reopen {
                if substatus == "regressed" {
                    regressed.push(*issue_id);
                }
                tx.execute(
                    &tx.prepare_cached(
                        "UPDATE issues SET status = 'unresolved', substatus = $2, status_details = '{}' WHERE id = $1",
                    )
                    .await?,
                    &[issue_id, &substatus],
                )
                .await?;
            }
        }

        let mut tags = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((issue_id, key, value), (count, first, last)) in self.tags {
            tags.0.push(issue_id);
            tags.1.push(key);
            tags.2.push(value);
            tags.3.push(count);
            tags.4.push(first);
            tags.5.push(last);
        }
        let mut hourly = (Vec::new(), Vec::new(), Vec::new());
        for ((issue_id, hour), count) in self.hourly {
            hourly.0.push(issue_id);
            hourly.1.push(hour);
            hourly.2.push(count);
        }
        // Both pipelined in one round trip; a batch of duplicates alone skips it.
        if !(tags.0.is_empty() && hourly.0.is_empty()) {
            let upsert_tags = tx
                .prepare_cached(
                    "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) \
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) \
                     ORDER BY 1, 2, 3 \
                     ON CONFLICT (issue_id, key, value) DO UPDATE SET \
                     times_seen = issue_tags.times_seen + excluded.times_seen, \
                     first_seen = least(issue_tags.first_seen, excluded.first_seen), \
                     last_seen = greatest(issue_tags.last_seen, excluded.last_seen)",
                )
                .await?;
            let upsert_hourly = tx
                .prepare_cached(
                    "INSERT INTO issue_hourly (issue_id, hour, count) \
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) ORDER BY 1, 2 \
                     ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + excluded.count",
                )
                .await?;
            futures_util::future::try_join(
                tx.execute(&upsert_tags, &[&tags.0, &tags.1, &tags.2, &tags.3, &tags.4, &tags.5]),
                tx.execute(&upsert_hourly, &[&hourly.0, &hourly.1, &hourly.2]),
            )
            .await?;
        }
        Ok(regressed)
    }
}
