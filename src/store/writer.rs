//! The single writer: takes jobs from a bounded queue, commits waiting events in
//! one transaction (group commit), and only then answers each job — so an
//! acknowledged event is on disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use super::{EventRecord, StoreError, Stored};

#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Jobs that may wait for the writer; past this, ingest answers 429.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub batch_max: usize,
    pub read_pool_size: u32,
    /// `synchronous=FULL` (power-loss durable) instead of NORMAL.
    pub synchronous_full: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            batch_max: 1024,
            read_pool_size: 4,
            synchronous_full: false,
        }
    }
}

type ExecFn = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Event(EventRecord, oneshot::Sender<Result<Stored, StoreError>>),
    Exec(ExecFn),
    /// Housekeeping (retention) that changes no project, key or hash: caches stay valid.
    Maintain(ExecFn),
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<WriterInner>,
}

struct WriterInner {
    tx: std::sync::Mutex<Option<SyncSender<Job>>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl Writer {
    pub(super) fn start(conn: Connection, opts: StoreOptions, generation: Arc<AtomicU64>) -> Writer {
        let (tx, rx) = sync_channel(opts.queue_capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let thread_depth = depth.clone();
        let thread = std::thread::Builder::new()
            .name("errata-writer".into())
            .spawn(move || run(conn, rx, opts.batch_max, thread_depth, generation))
            .expect("spawning the writer thread needs only memory");
        Writer {
            inner: Arc::new(WriterInner {
                tx: std::sync::Mutex::new(Some(tx)),
                thread: std::sync::Mutex::new(Some(thread)),
                depth,
                capacity: opts.queue_capacity,
            }),
        }
    }

    /// Jobs waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.inner.depth.load(Ordering::Relaxed)
    }

    pub fn queue_capacity(&self) -> usize {
        self.inner.capacity
    }

    fn sender(&self) -> Result<SyncSender<Job>, StoreError> {
        self.inner
            .tx
            .lock()
            .map_err(|_| StoreError::Closed)?
            .clone()
            .ok_or(StoreError::Closed)
    }

    fn try_send(&self, job: Job) -> Result<(), StoreError> {
        let tx = self.sender()?;
        self.inner.depth.fetch_add(1, Ordering::Relaxed);
        tx.try_send(job).map_err(|e| {
            self.inner.depth.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => StoreError::QueueFull,
                TrySendError::Disconnected(_) => StoreError::Closed,
            }
        })
    }

    /// Queues an event and waits until its transaction has committed.
    pub async fn store_event(&self, record: EventRecord) -> Result<Stored, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.try_send(Job::Event(record, reply))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` in its own transaction on the writer thread and returns its result after commit.
    pub async fn exec<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue_exec(f, Job::Exec).await
    }

    /// Like `exec`, for housekeeping that leaves projects, keys and issue hashes alone
    /// (retention): the writer keeps its caches and ingest keeps its project cache.
    pub async fn maintain<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue_exec(f, Job::Maintain).await
    }

    async fn queue_exec<T, F>(&self, f: F, kind: fn(ExecFn) -> Job) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: ExecFn = Box::new(move |conn| {
            let result = (|| {
                let tx = conn.transaction()?;
                let value = f(&tx)?;
                tx.commit().map_err(StoreError::from_write)?;
                Ok(value)
            })();
            let _ = reply.send(result);
        });
        // Administrative writes wait for room rather than failing under load.
        let tx = self.sender()?;
        self.inner.depth.fetch_add(1, Ordering::Relaxed);
        let sent = tokio::task::spawn_blocking(move || tx.send(kind(job)))
            .await
            .map_err(|_| StoreError::Closed)?;
        if sent.is_err() {
            self.inner.depth.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking jobs, lets the writer drain what is queued, and waits for it.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.inner.tx.lock() {
            tx.take();
        }
        let thread = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Hash → issue, for the hashes the writer has seen; cleared on any administrative write.
type HashCache = HashMap<(i64, String), i64>;

fn run(mut conn: Connection, rx: Receiver<Job>, batch_max: usize, depth: Arc<AtomicUsize>, generation: Arc<AtomicU64>) {
    let mut cache = HashCache::new();
    while let Ok(job) = rx.recv() {
        depth.fetch_sub(1, Ordering::Relaxed);
        match job {
            Job::Exec(f) => {
                cache.clear();
                f(&mut conn);
                generation.fetch_add(1, Ordering::AcqRel);
            }
            Job::Maintain(f) => f(&mut conn),
            Job::Event(record, reply) => {
                let mut batch = vec![(record, reply)];
                let mut deferred = None;
                let mut deferred_maintenance = None;
                while batch.len() < batch_max {
                    match rx.try_recv() {
                        Ok(Job::Event(r, s)) => {
                            depth.fetch_sub(1, Ordering::Relaxed);
                            batch.push((r, s));
                        }
                        Ok(Job::Exec(f)) => {
                            depth.fetch_sub(1, Ordering::Relaxed);
                            deferred = Some(f);
                            break;
                        }
                        Ok(Job::Maintain(f)) => {
                            depth.fetch_sub(1, Ordering::Relaxed);
                            deferred_maintenance = Some(f);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_batch(&mut conn, &mut cache, batch);
                if let Some(f) = deferred {
                    cache.clear();
                    f(&mut conn);
                    generation.fetch_add(1, Ordering::AcqRel);
                }
                if let Some(f) = deferred_maintenance {
                    f(&mut conn);
                }
            }
        }
    }
    // Queue closed and drained: leave a clean WAL behind.
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

type Reply = oneshot::Sender<Result<Stored, StoreError>>;

fn commit_batch(conn: &mut Connection, cache: &mut HashCache, batch: Vec<(EventRecord, Reply)>) {
    let started = Instant::now();
    let size = batch.len();
    let mut learned = HashCache::new();
    let mut results = Vec::with_capacity(size);
    let outcome = (|| -> Result<(), StoreError> {
        let tx = conn.transaction().map_err(StoreError::from_write)?;
        for (record, _) in &batch {
            let result = store_one_in_savepoint(&tx, cache, &mut learned, record);
            results.push(result);
        }
        tx.commit().map_err(StoreError::from_write)
    })();
    match outcome {
        Ok(()) => {
            cache.extend(learned);
            for ((_, reply), result) in batch.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, events = size, "batch commit failed");
            let disk_full = matches!(e, StoreError::DiskFull);
            for (_, reply) in batch {
                let _ = reply.send(Err(if disk_full {
                    StoreError::DiskFull
                } else {
                    StoreError::Conflict(format!("commit failed: {e}"))
                }));
            }
        }
    }
    metrics::histogram!("errata_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("errata_batch_size").record(size as f64);
}

fn store_one_in_savepoint(
    tx: &Transaction,
    cache: &HashCache,
    learned: &mut HashCache,
    record: &EventRecord,
) -> Result<Stored, StoreError> {
    tx.execute_batch("SAVEPOINT event").map_err(StoreError::from_write)?;
    let mut staged = HashCache::new();
    match store_one(tx, cache, learned, &mut staged, record) {
        Ok(stored) => {
            tx.execute_batch("RELEASE event").map_err(StoreError::from_write)?;
            learned.extend(staged);
            Ok(stored)
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO event; RELEASE event")
                .map_err(StoreError::from_write)?;
            Err(e)
        }
    }
}

/// Stores one event: resolve its issue by hash (or open one), count it, keep the payload.
fn store_one(
    tx: &Transaction,
    cache: &HashCache,
    learned: &HashCache,
    staged: &mut HashCache,
    r: &EventRecord,
) -> Result<Stored, StoreError> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT issue_id FROM events WHERE project_id = ?1 AND event_id = ?2")?
        .query_row(params![r.project_id, r.event_id], |row| row.get(0))
        .optional()?;
    if let Some(issue_id) = existing {
        return Ok(Stored {
            issue_id,
            duplicate: true,
        });
    }

    // §1 of the grouping spec: the first known hash decides the issue.
    let mut issue_id = None;
    let mut unknown = Vec::new();
    for hash in &r.hashes {
        let key = (r.project_id, hash.clone());
        let found = match cache.get(&key).or_else(|| learned.get(&key)) {
            Some(id) => Some(*id),
            None => tx
                .prepare_cached("SELECT issue_id FROM issue_hashes WHERE project_id = ?1 AND hash = ?2")?
                .query_row(params![r.project_id, hash], |row| row.get::<_, i64>(0))
                .optional()?,
        };
        match found {
            Some(id) => {
                staged.insert(key, id);
                if issue_id.is_none() {
                    issue_id = Some(id);
                }
            }
            None => unknown.push(hash),
        }
    }
    let issue_id = match issue_id {
        Some(id) => {
            touch_issue(tx, id, r)?;
            id
        }
        None => create_issue(tx, r)?,
    };
    for hash in unknown {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO issue_hashes (project_id, hash, issue_id, grouping_config) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![r.project_id, hash, issue_id, r.grouping_config])?;
        staged.insert((r.project_id, hash.clone()), issue_id);
    }

    tx.prepare_cached(
        "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, release, environment, \
         trace_id, user_key, primary_hash, grouping_config, size, payload) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.project_id,
        issue_id,
        r.event_id,
        r.timestamp,
        r.received,
        r.level,
        r.release,
        r.environment,
        r.trace_id,
        r.user_key,
        r.hashes.first().map(String::as_str).unwrap_or(""),
        r.grouping_config,
        r.size as i64,
        r.payload,
    ])?;

    if let Some(user) = &r.user_key {
        let added = tx
            .prepare_cached("INSERT OR IGNORE INTO issue_users (issue_id, user_key) VALUES (?1, ?2)")?
            .execute(params![issue_id, user])?;
        if added > 0 {
            tx.prepare_cached("UPDATE issues SET user_count = user_count + 1 WHERE id = ?1")?
                .execute(params![issue_id])?;
        }
    }
    for (key, value) in &r.tags {
        tx.prepare_cached(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (?1, ?2, ?3, 1, ?4, ?4) \
             ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + 1, \
             first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
        )?
        .execute(params![issue_id, key, value, r.timestamp])?;
    }
    let hour = r.timestamp.div_euclid(3_600_000_000);
    tx.prepare_cached(
        "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, 1) \
         ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + 1",
    )?
    .execute(params![issue_id, hour])?;
    Ok(Stored {
        issue_id,
        duplicate: false,
    })
}

fn create_issue(tx: &Transaction, r: &EventRecord) -> Result<i64, StoreError> {
    let short_id: i64 = tx
        .prepare_cached(
            "UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = ?1 RETURNING next_short_id - 1",
        )?
        .query_row(params![r.project_id], |row| row.get(0))?;
    tx.prepare_cached(
        "INSERT INTO issues (project_id, short_id, title, culprit, location, level, type, platform, metadata, \
         status, substatus, first_seen, last_seen, times_seen, first_release, last_release, grouping_config) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'unresolved', 'new', ?10, ?10, 1, ?11, ?11, ?12)",
    )?
    .execute(params![
        r.project_id,
        short_id,
        r.title,
        r.culprit,
        r.location,
        r.level,
        r.kind,
        r.platform,
        r.metadata,
        r.timestamp,
        r.release,
        r.grouping_config,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Counts one more event on an existing issue, reopening it if it was resolved.
fn touch_issue(tx: &Transaction, issue_id: i64, r: &EventRecord) -> Result<(), StoreError> {
    let (status, details, times_seen): (String, String, i64) = tx
        .prepare_cached("SELECT status, status_details, times_seen FROM issues WHERE id = ?1")?
        .query_row(params![issue_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    let details: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
    let reopen = super::admin::reopens(&status, &details, r.release.as_deref(), r.timestamp, times_seen + 1);
    tx.prepare_cached(
        "UPDATE issues SET times_seen = times_seen + 1, \
         first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?2), \
         last_release = coalesce(?3, last_release), first_release = coalesce(first_release, ?3) WHERE id = ?1",
    )?
    .execute(params![issue_id, r.timestamp, r.release])?;
    if let Some(substatus) = reopen {
        tx.prepare_cached(
            "UPDATE issues SET status = 'unresolved', substatus = ?2, status_details = '{}' WHERE id = ?1",
        )?
        .execute(params![issue_id, substatus])?;
    } else if status == "unresolved" {
        tx.prepare_cached("UPDATE issues SET substatus = 'ongoing' WHERE id = ?1 AND substatus = 'new'")?
            .execute(params![issue_id])?;
    }
    Ok(())
}
