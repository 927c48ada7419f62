//! The single writer: takes jobs from a bounded queue, commits waiting events in
//! one transaction (group commit), and only then answers each job — so an
//! acknowledged event is on disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use super::alerts::{self, Happenings};
use super::{Announced, EventRecord, StoreError, StoreOptions, Stored};
use crate::notify::policy::Happening;
use crate::store::{AlertSettings, IssueStatus};

/// A job run on the writer's connection; it returns the step that answers its caller, so
/// the writer can mark caches stale between the commit and the answer.
type ExecFn = Box<dyn FnOnce(&mut Connection) -> Answer + Send>;

/// Sends a job's result to the task waiting for it.
type Answer = Box<dyn FnOnce() + Send>;

enum Job {
    // Boxed: a record is a few hundred bytes, and the queue holds thousands of jobs.
    Event(Box<EventRecord>, oneshot::Sender<Result<Stored, StoreError>>),
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
    /// Requests being read and processed that may still queue an event (see `announce`).
    incoming: Arc<AtomicUsize>,
    capacity: usize,
}

/// How long the writer may hold an open batch for announced events still being processed.
/// Committing fewer, larger batches rewrites the shared pages (issue rows, tag counts,
/// index tails) once per batch instead of once per handful of events; the wait is skipped
/// when nothing is on its way, so a lone event is committed at once.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

impl Writer {
    pub(super) fn start(
        conn: Connection,
        opts: StoreOptions,
        generation: Arc<AtomicU64>,
        alerts: Arc<AlertSettings>,
    ) -> Writer {
        // Every statement a batch runs stays prepared: the default 16 is fewer than the
        // writer's statements, and preparing one again costs more than running it.
        conn.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
        let (tx, rx) = sync_channel(opts.queue_capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let incoming = Arc::new(AtomicUsize::new(0));
        let queue = Queue {
            rx,
            depth: depth.clone(),
            incoming: incoming.clone(),
            batch_max: opts.batch_max,
        };
        let thread = std::thread::Builder::new()
            .name("errata-writer".into())
            .spawn(move || run(conn, queue, generation, alerts))
            .expect("spawning the writer thread needs only memory");
        Writer {
            inner: Arc::new(WriterInner {
                tx: std::sync::Mutex::new(Some(tx)),
                thread: std::sync::Mutex::new(Some(thread)),
                depth,
                incoming,
                capacity: opts.queue_capacity,
            }),
        }
    }

    /// Announces an event that will be queued soon (its request is being read and
    /// processed), so an open batch may wait briefly for it. Dropping the guard, or
    /// queueing the event, ends the announcement.
    pub fn announce(&self) -> Announced {
        Announced::new(self.inner.incoming.clone())
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
    pub async fn store_event(&self, record: EventRecord, announced: Option<&Announced>) -> Result<Stored, StoreError> {
        let (reply, rx) = oneshot::channel();
        let queued = self.try_send(Job::Event(Box::new(record), reply));
        if let Some(a) = announced {
            a.arrived();
        }
        queued?;
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

    /// Like `exec`, for writes that leave projects, keys, settings and issue hashes alone
    /// (retention, outcomes, attachments): the writer keeps its hash cache and ingest keeps
    /// its key and project caches.
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
                tx.commit().map_err(super::from_write)?;
                Ok(value)
            })();
            Box::new(move || {
                let _ = reply.send(result);
            })
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

/// When the WAL starts over, in 4 KB pages.
#[derive(Debug, Clone, Copy)]
struct WalBounds {
    /// Past this the WAL should start over from its beginning: a WAL that only grows makes
    /// every checkpoint and reader walk more of it. Each restart costs the writer two syncs
    /// between batches, so it is not made more often than needed.
    restart: i64,
    /// A passive pass that copied at most this many pages was short, so the writer's own
    /// catch-up after it (the pages committed meanwhile) is short too.
    catch_up: i64,
    /// Past this the writer catches up after every batch, whatever the checkpointer's lag:
    /// the bound on the WAL if the checkpointer cannot keep up.
    backstop: i64,
}

impl WalBounds {
    /// 64 MB (the bound SQLite's own checkpoint used to keep), 1 MB, 256 MB.
    const DEFAULT: WalBounds = WalBounds {
        restart: 16_384,
        catch_up: 256,
        backstop: 65_536,
    };
}

/// Back-to-back passes the checkpointer runs to shorten its lag before it hands the
/// catch-up to the writer anyway.
const MAX_CATCH_UP_PASSES: u32 = 4;

/// How often the checkpoint thread copies committed WAL pages into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// What the checkpoint thread tells the writer.
struct WalProgress {
    /// The WAL is long and all but the last few pages are copied: the writer copies the
    /// rest between two batches, and its next transaction starts the WAL over.
    restart_wanted: AtomicBool,
    /// WAL pages at the start of the last pass.
    pages: AtomicI64,
    bounds: WalBounds,
}

/// A thread that runs passive checkpoints beside the writer, which never checkpoints inside
/// a commit. A WAL only starts over when every page in it has been copied as the writer
/// begins a transaction; under steady load a pass never ends between two commits, so when
/// the WAL is long the checkpointer runs passes back to back until one is short, then
/// leaves the last few pages to the writer, between batches (after their replies).
struct Checkpointer {
    stop: SyncSender<()>,
    thread: JoinHandle<()>,
    progress: Arc<WalProgress>,
}

impl Checkpointer {
    fn start(path: std::path::PathBuf, bounds: WalBounds) -> Option<Checkpointer> {
        let conn = match Connection::open(&path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint thread could not open the database");
                return None;
            }
        };
        let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
        let progress = Arc::new(WalProgress {
            restart_wanted: AtomicBool::new(false),
            pages: AtomicI64::new(0),
            bounds,
        });
        let shared = progress.clone();
        let (stop, stopped) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("errata-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &stopped, &shared))
            .ok()?;
        Some(Checkpointer { stop, thread, progress })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// `(WAL pages, pages copied)` after a passive checkpoint on `conn`.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

fn checkpoint_loop(conn: &Connection, stopped: &Receiver<()>, progress: &WalProgress) {
    let mut copied_before = 0i64;
    let mut catch_up_passes = 0u32;
    let mut waited_for_writer = 0u32;
    loop {
        let wait = if catch_up_passes > 0 {
            std::time::Duration::ZERO
        } else {
            CHECKPOINT_EVERY
        };
        match stopped.recv_timeout(wait) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if progress.restart_wanted.load(Ordering::Acquire) && waited_for_writer < 5 {
            // The writer has not caught up yet; a pass now would only race it. An idle
            // writer never will: after a second the pass runs anyway.
            waited_for_writer += 1;
            catch_up_passes = 0;
            continue;
        }
        waited_for_writer = 0;
        let (pages, copied) = match passive_checkpoint(conn) {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "passive checkpoint failed");
                catch_up_passes = 0;
                continue;
            }
        };
        progress.pages.store(pages, Ordering::Relaxed);
        // The WAL started over since the last pass when it now holds fewer pages.
        let copied_now = if copied >= copied_before {
            copied - copied_before
        } else {
            copied
        };
        copied_before = copied;
        let all_copied = pages > 0 && copied == pages;
        if pages < progress.bounds.restart || !all_copied {
            // Short WAL, or a reader still needs older pages: nothing to hurry.
            catch_up_passes = 0;
        } else if copied_now <= progress.bounds.catch_up || catch_up_passes >= MAX_CATCH_UP_PASSES {
            progress.restart_wanted.store(true, Ordering::Release);
            catch_up_passes = 0;
        } else {
            catch_up_passes += 1;
        }
    }
}

/// Between batches: copies what the checkpointer left of a long WAL, so the writer's next
/// transaction starts the WAL over. No reply waits on it. Returns `(WAL pages, pages
/// copied)` when it ran.
fn catch_up_wal(conn: &Connection, progress: &WalProgress) -> Option<(i64, i64)> {
    let backstop = progress.pages.load(Ordering::Relaxed) >= progress.bounds.backstop;
    if !progress.restart_wanted.load(Ordering::Acquire) && !backstop {
        return None;
    }
    let started = Instant::now();
    let counts = match passive_checkpoint(conn) {
        Ok((pages, copied)) => {
            if backstop {
                progress.pages.store(pages - copied, Ordering::Relaxed);
            }
            Some((pages, copied))
        }
        Err(e) => {
            tracing::warn!(error = %e, "catching up the WAL failed");
            None
        }
    };
    progress.restart_wanted.store(false, Ordering::Release);
    metrics::histogram!("errata_wal_catch_up_seconds").record(started.elapsed().as_secs_f64());
    counts
}

/// Hash → issue, for the hashes the writer has seen; cleared on any administrative write.
type HashCache = HashMap<(i64, String), i64>;

/// The writer's end of the queue.
struct Queue {
    rx: Receiver<Job>,
    depth: Arc<AtomicUsize>,
    incoming: Arc<AtomicUsize>,
    batch_max: usize,
}

impl Queue {
    fn recv(&self) -> Option<Job> {
        let job = self.rx.recv().ok()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Some(job)
    }

    /// The next job for an open batch: one already waiting, or, while announced events
    /// are on their way, one that arrives before `deadline`.
    fn next_for_batch(&self, deadline: Instant) -> Option<Job> {
        let job = match self.rx.try_recv() {
            Ok(job) => job,
            Err(std::sync::mpsc::TryRecvError::Empty) if self.incoming.load(Ordering::Acquire) > 0 => {
                let wait = deadline.checked_duration_since(Instant::now())?;
                self.rx.recv_timeout(wait).ok()?
            }
            Err(_) => return None,
        };
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Some(job)
    }
}

fn run(mut conn: Connection, queue: Queue, generation: Arc<AtomicU64>, alerts: Arc<AlertSettings>) {
    let mut cache = HashCache::new();
    // Checkpoints run on their own thread and, for the last few pages of a long WAL, on this
    // one between batches: never inside a commit. Without that thread SQLite's automatic
    // checkpoint stays on.
    let checkpointer = conn
        .path()
        .filter(|p| !p.is_empty())
        .and_then(|p| Checkpointer::start(std::path::PathBuf::from(p), WalBounds::DEFAULT));
    if checkpointer.is_some()
        && let Err(e) = conn.pragma_update(None, "wal_autocheckpoint", 0)
    {
        tracing::warn!(error = %e, "could not turn off wal_autocheckpoint");
    }
    let progress = checkpointer.as_ref().map(|c| c.progress.clone());
    while let Some(job) = queue.recv() {
        match job {
            Job::Exec(f) => administer(&mut conn, &mut cache, &generation, f),
            Job::Maintain(f) => f(&mut conn)(),
            Job::Event(record, reply) => {
                let mut batch = vec![(record, reply)];
                let mut deferred = None;
                let mut deferred_maintenance = None;
                let deadline = Instant::now() + LINGER;
                while batch.len() < queue.batch_max {
                    match queue.next_for_batch(deadline) {
                        Some(Job::Event(r, s)) => batch.push((r, s)),
                        Some(Job::Exec(f)) => {
                            deferred = Some(f);
                            break;
                        }
                        Some(Job::Maintain(f)) => {
                            deferred_maintenance = Some(f);
                            break;
                        }
                        None => break,
                    }
                }
                commit_batch(&mut conn, &mut cache, &alerts, batch);
                if let Some(f) = deferred {
                    administer(&mut conn, &mut cache, &generation, f);
                }
                if let Some(f) = deferred_maintenance {
                    f(&mut conn)();
                }
            }
        }
        if let Some(progress) = &progress {
            catch_up_wal(&conn, progress);
        }
    }
    if let Some(c) = checkpointer {
        c.stop();
    }
    // Queue closed and drained: leave a clean WAL behind.
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

/// Runs an administrative write that may change keys, settings or hashes. The caches are
/// marked stale after the commit and before the caller hears back: once an API call has
/// answered 200, the next event is judged by the new settings.
fn administer(conn: &mut Connection, cache: &mut HashCache, generation: &AtomicU64, f: ExecFn) {
    cache.clear();
    let answer = f(conn);
    generation.fetch_add(1, Ordering::AcqRel);
    answer();
}

type Reply = oneshot::Sender<Result<Stored, StoreError>>;

fn commit_batch(
    conn: &mut Connection,
    cache: &mut HashCache,
    alerts: &AlertSettings,
    batch: Vec<(Box<EventRecord>, Reply)>,
) {
    let started = Instant::now();
    let size = batch.len();
    let mut learned = HashCache::new();
    let mut results = Vec::with_capacity(size);
    let outcome = (|| -> Result<(), StoreError> {
        let tx = conn.transaction().map_err(super::from_write)?;
        let mut folded = Folded {
            happenings: Happenings::start(&tx)?,
            ..Folded::default()
        };
        for (record, _) in &batch {
            let result = store_one_in_savepoint(&tx, cache, &mut learned, &mut folded, record);
            results.push(result);
        }
        // The releases the stored events name, once per (project, release).
        let seen = crate::store::releases::seen_releases(
            batch
                .iter()
                .zip(&results)
                .map(|((record, _), result)| (&**record, result.as_ref().ok())),
        );
        super::releases::record_seen(&tx, &seen)?;
        // Notifications are written in this transaction: none for an issue rolled back.
        let happenings = std::mem::take(&mut folded.happenings);
        folded.write(&tx)?;
        alerts::enqueue(&tx, happenings, alerts)?;
        tx.commit().map_err(super::from_write)
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

/// An issue's counters and status as the batch has left them, written once at its end.
struct IssueState {
    status: IssueStatus,
    substatus: Option<String>,
    details: serde_json::Value,
    times_seen: i64,
    first_seen: i64,
    last_seen: i64,
    first_release: Option<String>,
    last_release: Option<String>,
    user_count_added: i64,
    /// Only issues an event touched are written back (a created issue is already current).
    dirty: bool,
}

impl IssueState {
    /// Counts one more event, reopening the issue if it was resolved (or wakes it if ignored);
    /// returns whether it regressed.
    fn touch(&mut self, r: &EventRecord) -> bool {
        let reopen = super::reopens(
            self.status,
            &self.details,
            r.release.as_deref(),
            r.timestamp,
            self.times_seen + 1,
        );
        self.times_seen += 1;
        self.first_seen = self.first_seen.min(r.timestamp);
        self.last_seen = self.last_seen.max(r.timestamp);
        if r.release.is_some() {
            self.last_release = r.release.clone();
            if self.first_release.is_none() {
                self.first_release = r.release.clone();
            }
        }
        if let Some(substatus) = reopen {
            self.status = IssueStatus::Unresolved;
            self.substatus = Some(substatus.into());
            self.details = serde_json::Value::Object(Default::default());
        } else if self.status == IssueStatus::Unresolved && self.substatus.as_deref() == Some("new") {
            self.substatus = Some("ongoing".into());
        }
        self.dirty = true;
        reopen == Some("regressed")
    }
}

/// Tag counts: times seen, first seen, last seen.
type TagFold = (i64, i64, i64);

/// Everything a batch adds to per-issue aggregates, folded in memory so each issue, tag
/// value and hour is written once per batch instead of once per event. Events are folded
/// in order, so the result is the same as applying them one by one.
#[derive(Default)]
struct Folded {
    issues: HashMap<i64, IssueState>,
    tags: HashMap<(i64, String, String), TagFold>,
    hourly: HashMap<(i64, i64), i64>,
    users: std::collections::HashSet<(i64, String)>,
    /// What happened to issues, for the alert rules.
    happenings: Happenings,
}

impl Folded {
    /// The issue's state within this batch, read from the database on first use.
    fn issue<'a>(&'a mut self, tx: &Transaction, issue_id: i64) -> Result<&'a mut IssueState, StoreError> {
        use std::collections::hash_map::Entry;
        match self.issues.entry(issue_id) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let state = tx
                    .prepare_cached(
                        "SELECT status, substatus, status_details, times_seen, first_seen, last_seen, first_release, \
                         last_release FROM issues WHERE id = ?1",
                    )?
                    .query_row(params![issue_id], |row| {
                        let details: String = row.get(2)?;
                        Ok(IssueState {
                            status: row.get(0)?,
                            substatus: row.get(1)?,
                            details: serde_json::from_str(&details).unwrap_or_default(),
                            times_seen: row.get(3)?,
                            first_seen: row.get(4)?,
                            last_seen: row.get(5)?,
                            first_release: row.get(6)?,
                            last_release: row.get(7)?,
                            user_count_added: 0,
                            dirty: false,
                        })
                    })?;
                Ok(v.insert(state))
            }
        }
    }

    /// A just-created issue: its row already counts this event.
    fn created(&mut self, issue_id: i64, r: &EventRecord) {
        self.issues.insert(
            issue_id,
            IssueState {
                status: IssueStatus::Unresolved,
                substatus: Some("new".into()),
                details: serde_json::Value::Object(Default::default()),
                times_seen: 1,
                first_seen: r.timestamp,
                last_seen: r.timestamp,
                first_release: r.release.clone(),
                last_release: r.release.clone(),
                user_count_added: 0,
                dirty: false,
            },
        );
    }

    /// The reads and writes folding `r` needs, done while its savepoint is open: loads the
    /// issue's state and records its user. Returns whether the user is new to the issue.
    fn prepare(&mut self, tx: &Transaction, issue_id: i64, created: bool, r: &EventRecord) -> Result<bool, StoreError> {
        if !created {
            self.issue(tx, issue_id)?;
        }
        let Some(user) = &r.user_key else {
            return Ok(false);
        };
        if self.users.contains(&(issue_id, user.clone())) {
            return Ok(false);
        }
        let added = tx
            .prepare_cached("INSERT OR IGNORE INTO issue_users (issue_id, user_key) VALUES (?1, ?2)")?
            .execute(params![issue_id, user])?;
        Ok(added > 0)
    }

    /// Folds one stored event into the batch's aggregates; in memory only, cannot fail.
    fn apply(&mut self, issue_id: i64, created: bool, new_user: bool, r: &EventRecord) {
        if created {
            self.created(issue_id, r);
            self.happenings.note(issue_id, Happening::Created, r);
        } else if let Some(issue) = self.issues.get_mut(&issue_id) {
            let happening = match issue.touch(r) {
                true => Happening::Regressed,
                false => Happening::SeenAgain,
            };
            self.happenings.note(issue_id, happening, r);
        }
        if let Some(user) = &r.user_key {
            self.users.insert((issue_id, user.clone()));
        }
        if new_user && let Some(issue) = self.issues.get_mut(&issue_id) {
            issue.user_count_added += 1;
            issue.dirty = true;
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

    /// Writes the folded aggregates: one statement per issue, tag value and hour.
    fn write(self, tx: &Transaction) -> Result<(), StoreError> {
        let mut update = tx.prepare_cached(
            "UPDATE issues SET times_seen = ?2, first_seen = ?3, last_seen = ?4, first_release = ?5, \
             last_release = ?6, status = ?7, substatus = ?8, status_details = ?9, user_count = user_count + ?10 \
             WHERE id = ?1",
        )?;
        for (id, issue) in self.issues.iter().filter(|(_, i)| i.dirty) {
            update.execute(params![
                id,
                issue.times_seen,
                issue.first_seen,
                issue.last_seen,
                issue.first_release,
                issue.last_release,
                issue.status,
                issue.substatus,
                issue.details.to_string(),
                issue.user_count_added,
            ])?;
        }
        // In key order, so consecutive rows land on the same pages, and several rows per
        // statement: a batch folds ~15 tag rows per issue, and a statement's own cost
        // (bind, step, reset) was most of a one-row upsert's.
        let mut tags: Vec<_> = self.tags.iter().collect();
        tags.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut rest = tags.as_slice();
        for (rows, sql) in TAG_ROWS_PER_STATEMENT.into_iter().zip(TAG_UPSERTS.iter()) {
            let mut statement = tx.prepare_cached(sql)?;
            while rest.len() >= rows {
                let (chunk, tail) = rest.split_at(rows);
                let values = chunk.iter().flat_map(|((issue_id, key, value), (count, first, last))| {
                    [issue_id as &dyn rusqlite::ToSql, key, value, count, first, last]
                });
                statement.execute(rusqlite::params_from_iter(values))?;
                rest = tail;
            }
        }
        let mut hourly = tx.prepare_cached(
            "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, ?3) \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((issue_id, hour), count) in &self.hourly {
            hourly.execute(params![issue_id, hour, count])?;
        }
        Ok(())
    }
}

/// Prepared statements the writer keeps (rusqlite's cache; least recently used go first).
const WRITER_STATEMENTS: usize = 64;

/// Rows per tag upsert statement, largest first; the last size must be 1. Few sizes, so
/// the statement cache keeps every one of them prepared.
const TAG_ROWS_PER_STATEMENT: [usize; 3] = [32, 8, 1];

/// The tag upsert of each size in `TAG_ROWS_PER_STATEMENT`, written once.
static TAG_UPSERTS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| TAG_ROWS_PER_STATEMENT.into_iter().map(tag_upsert).collect());

/// The upsert of `rows` issue tag rows: counts add up, first and last seen widen.
fn tag_upsert(rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES {values} \
         ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + excluded.times_seen, \
         first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)"
    )
}

fn store_one_in_savepoint(
    tx: &Transaction,
    cache: &HashCache,
    learned: &mut HashCache,
    folded: &mut Folded,
    record: &EventRecord,
) -> Result<Stored, StoreError> {
    tx.prepare_cached("SAVEPOINT event")?
        .execute([])
        .map_err(super::from_write)?;
    let mut staged = HashCache::new();
    let outcome = store_one(tx, cache, learned, &mut staged, record).and_then(|(stored, created)| {
        let new_user = match stored.duplicate {
            true => false,
            false => folded.prepare(tx, stored.issue_id, created, record)?,
        };
        Ok((stored, created, new_user))
    });
    match outcome {
        Ok((stored, created, new_user)) => {
            tx.prepare_cached("RELEASE event")?
                .execute([])
                .map_err(super::from_write)?;
            learned.extend(staged);
            // Folded only once the event's own rows are in: a rolled-back event counts nowhere.
            if !stored.duplicate {
                folded.apply(stored.issue_id, created, new_user, record);
            }
            Ok(stored)
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO event; RELEASE event")
                .map_err(super::from_write)?;
            Err(e)
        }
    }
}

/// Stores one event's own rows: resolve its issue by hash (or open one) and keep the
/// payload. Returns whether it opened the issue; counters are folded by the caller.
fn store_one(
    tx: &Transaction,
    cache: &HashCache,
    learned: &HashCache,
    staged: &mut HashCache,
    r: &EventRecord,
) -> Result<(Stored, bool), StoreError> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT issue_id FROM events WHERE project_id = ?1 AND event_id = ?2")?
        .query_row(params![r.project_id, r.event_id], |row| row.get(0))
        .optional()?;
    if let Some(issue_id) = existing {
        let stored = Stored {
            issue_id,
            duplicate: true,
        };
        return Ok((stored, false));
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
    let (issue_id, created) = match issue_id {
        Some(id) => (id, false),
        None => (create_issue(tx, r)?, true),
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
    let stored = Stored {
        issue_id,
        duplicate: false,
    };
    Ok((stored, created))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(batch_max: usize) -> (SyncSender<Job>, Queue) {
        let (tx, rx) = sync_channel(16);
        let queue = Queue {
            rx,
            depth: Arc::new(AtomicUsize::new(0)),
            incoming: Arc::new(AtomicUsize::new(0)),
            batch_max,
        };
        (tx, queue)
    }

    #[test]
    fn an_announcement_ends_once_whether_the_event_arrives_or_the_request_gives_up() {
        let incoming = Arc::new(AtomicUsize::new(0));
        let announce = || Announced::new(incoming.clone());
        let (queued, abandoned) = (announce(), announce());
        assert_eq!(incoming.load(Ordering::Acquire), 2);
        queued.arrived();
        queued.arrived();
        assert_eq!(incoming.load(Ordering::Acquire), 1);
        drop(queued);
        assert_eq!(incoming.load(Ordering::Acquire), 1);
        drop(abandoned);
        assert_eq!(incoming.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_open_batch_takes_waiting_jobs_and_waits_only_for_announced_ones_until_its_deadline() {
        let (tx, queue) = queue(8);
        // Nothing waiting, nothing announced: the batch closes at once even with time left.
        let far = Instant::now() + std::time::Duration::from_secs(60);
        assert!(queue.next_for_batch(far).is_none());
        // Announced but the deadline has passed: closes without waiting.
        queue.incoming.fetch_add(1, Ordering::AcqRel);
        assert!(queue.next_for_batch(Instant::now()).is_none());
        // An event that arrives while announced is taken, and the depth gauge follows.
        let (reply, _rx) = oneshot::channel();
        queue.depth.fetch_add(1, Ordering::Relaxed);
        tx.send(Job::Event(Box::new(record("e1", "h1", None, 1)), reply))
            .expect("queued");
        assert!(matches!(queue.next_for_batch(far), Some(Job::Event(..))));
        assert_eq!(queue.depth.load(Ordering::Relaxed), 0);
    }

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn =
            crate::store::sqlite::open_write_connection(&dir.path().join("t.sqlite3"), false).expect("opens");
        crate::store::sqlite::migrate::run(&mut conn).expect("migrates");
        crate::store::sqlite::admin::bootstrap_if_empty(&conn).expect("bootstraps");
        (dir, conn)
    }

    fn record(event_id: &str, hash: &str, user: Option<&str>, ts_hour: i64) -> EventRecord {
        EventRecord {
            project_id: 1,
            event_id: crate::ids::EventId::named(event_id),
            hashes: vec![hash.into()],
            grouping_config: "test",
            title: "ValueError".into(),
            culprit: None,
            location: None,
            metadata: "{}".into(),
            kind: "error",
            platform: "python".into(),
            timestamp: ts_hour * 3_600_000_000 + 1,
            received: 0,
            level: "error".into(),
            release: Some("r1".into()),
            environment: None,
            trace_id: None,
            user_key: user.map(String::from),
            tags: vec![
                ("level".into(), "error".into()),
                ("user".into(), user.unwrap_or("-").into()),
            ],
            payload: vec![0],
            size: 1,
        }
    }

    /// Frames in the WAL now, asked from another connection.
    fn wal_frames(path: &std::path::Path) -> i64 {
        let other = Connection::open(path).expect("opens");
        passive_checkpoint(&other).expect("checkpoints").0
    }

    #[test]
    fn a_long_wal_starts_over_with_the_writer_never_checkpointing_in_a_commit() {
        let (dir, mut conn) = db();
        let path = dir.path().join("t.sqlite3");
        conn.pragma_update(None, "wal_autocheckpoint", 0).expect("sets");
        let bounds = WalBounds {
            restart: 64,
            catch_up: 32,
            backstop: 1 << 20,
        };
        let checkpointer = Checkpointer::start(path.clone(), bounds).expect("starts");
        let mut cache = HashCache::new();
        let mut caught_up = None;
        // Passes run every 200 ms, then back to back: a few hundred batches are usually
        // enough; the loop is bounded by count and by a minute.
        let give_up = Instant::now() + std::time::Duration::from_secs(60);
        for round in 0..200_000 {
            if Instant::now() > give_up {
                break;
            }
            let records = (0..4)
                .map(|i| {
                    record(
                        &format!("{round:028}{i:04}"),
                        &format!("h{}", (round + i) % 50),
                        None,
                        1,
                    )
                })
                .collect();
            commit(&mut conn, &mut cache, records);
            if let Some(counts) = catch_up_wal(&conn, &checkpointer.progress) {
                caught_up = Some(counts);
                break;
            }
        }
        let Some((pages, copied)) = caught_up else {
            panic!("the checkpointer never asked the writer to catch up")
        };
        // Either the catch-up copied a long WAL whole, or the checkpointer's own pass had
        // already copied it all and the commit just before started the WAL over.
        assert!(
            pages < bounds.restart || pages == copied,
            "{copied} of {pages} pages copied"
        );
        // The next transaction starts the WAL over: only its own frames are in it.
        commit(&mut conn, &mut cache, vec![record(&"f".repeat(32), "h1", None, 1)]);
        let frames = wal_frames(&path);
        assert!(frames < bounds.restart, "{frames} frames after the restart");
        checkpointer.stop();
    }

    fn commit(conn: &mut Connection, cache: &mut HashCache, records: Vec<EventRecord>) -> Vec<Stored> {
        let mut receivers = Vec::new();
        let batch = records
            .into_iter()
            .map(|r| {
                let (tx, rx) = oneshot::channel();
                receivers.push(rx);
                (Box::new(r), tx)
            })
            .collect();
        commit_batch(conn, cache, &AlertSettings::default(), batch);
        receivers
            .into_iter()
            .map(|mut rx| rx.try_recv().expect("answered").expect("stored"))
            .collect()
    }

    fn issue_row(conn: &Connection, id: i64) -> (i64, i64, String, String) {
        conn.query_row(
            "SELECT times_seen, user_count, status, substatus FROM issues WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("issue exists")
    }

    #[test]
    fn a_batch_counts_every_event_once_as_applying_them_one_by_one_would() {
        let (_dir, mut conn) = db();
        let mut cache = HashCache::new();
        let stored = commit(
            &mut conn,
            &mut cache,
            vec![
                record("a1", "A", Some("id:1"), 10),
                record("a2", "A", Some("id:1"), 10),
                record("b1", "B", None, 10),
                record("a3", "A", Some("id:2"), 11),
                record("a1", "A", Some("id:3"), 11),
            ],
        );
        let a = stored[0].issue_id;
        assert_eq!(stored.iter().filter(|s| s.duplicate).count(), 1);
        assert_ne!(stored[2].issue_id, a);
        assert_eq!(issue_row(&conn, a), (3, 2, "unresolved".into(), "ongoing".into()));
        assert_eq!(issue_row(&conn, stored[2].issue_id).0, 1);
        assert_eq!(issue_row(&conn, stored[2].issue_id).3, "new");
        let tag: i64 = conn
            .query_row(
                "SELECT times_seen FROM issue_tags WHERE issue_id = ?1 AND key = 'level' AND value = 'error'",
                [a],
                |r| r.get(0),
            )
            .expect("tag row");
        assert_eq!(tag, 3);
        let hours: Vec<(i64, i64)> = conn
            .prepare("SELECT hour, count FROM issue_hourly WHERE issue_id = ?1 ORDER BY hour")
            .expect("prepares")
            .query_map([a], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("queries")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(hours, vec![(10, 2), (11, 1)]);

        // The next batch adds to what the first one wrote; a user already counted stays counted once.
        commit(&mut conn, &mut cache, vec![record("a4", "A", Some("id:2"), 11)]);
        assert_eq!(issue_row(&conn, a).0, 4);
        assert_eq!(issue_row(&conn, a).1, 2);
    }

    #[test]
    fn a_resolved_issue_regresses_on_its_next_event_in_a_batch() {
        let (_dir, mut conn) = db();
        let mut cache = HashCache::new();
        let a = commit(&mut conn, &mut cache, vec![record("a1", "A", None, 10)])[0].issue_id;
        conn.execute(
            "UPDATE issues SET status = 'resolved', substatus = NULL WHERE id = ?1",
            [a],
        )
        .expect("resolves");
        commit(
            &mut conn,
            &mut cache,
            vec![record("a2", "A", None, 10), record("a3", "A", None, 10)],
        );
        assert_eq!(issue_row(&conn, a), (3, 0, "unresolved".into(), "regressed".into()));
    }
}
