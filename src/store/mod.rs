//! Storage behind one typed interface: `Store`, whose methods are sized to one use case
//! each and take and return Errata's own types (`model`, `filter`). Nothing outside this
//! module writes SQL or sees a database driver; each backend lives in its own submodule
//! (`sqlite`: the embedded file, one writer thread with group commit and a read pool;
//! `postgres`: one database shared by several nodes, each with its own group commit).
//!
//! `Store` is an enum of backends: every method dispatches to the backend's method of the
//! same name and signature, so a backend is added by adding a variant, its arm in
//! `dispatch!`, and those methods (the compiler lists what is missing).

pub mod activity;
pub mod alerts;
pub mod artifacts;
pub mod copy;
pub mod discover;
pub mod filter;
pub mod model;
pub mod outcomes;
pub mod payload;
pub mod postgres;
pub mod releases;
pub mod rules;
pub mod sqlite;
pub mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::notify::model::{Channel, ChannelId, Notification, NotificationId, Rule, RuleId};
use crate::notify::outbox::{AttemptRecord, Next};

pub use activity::{Activity, NewActivity, TagKeyCount};
pub use alerts::{AlertSettings, Delivery, DeliveryFilter, NewChannel};
pub use discover::EventScan;
pub use filter::*;
pub use model::*;
pub use outcomes::OutcomeRow;
pub use payload::decode_payload;
pub use rules::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed; the text is the driver's, for the log (never shown to clients).
    #[error("database error: {0}")]
    Database(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// No connection could be had in time: try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("the write queue is full")]
    QueueFull,
    #[error("the store is shutting down")]
    Closed,
    #[error("the disk is full")]
    DiskFull,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("stored payload is corrupt: {0}")]
    Corrupt(String),
}

/// Tuning shared by the backends: the write queue, group commit and the read pool.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Jobs that may wait for the writer; past this, ingest answers 429.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub batch_max: usize,
    pub read_pool_size: u32,
    /// Power-loss durable commits (SQLite: `synchronous=FULL` instead of NORMAL).
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

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`), shared by every node.
    Postgres(String),
}

impl Location {
    /// Where the data lives, for logs (never carries a password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => postgres::redact_url(url),
        }
    }
}

/// An announced event: counts as incoming until it is queued or the request gives up,
/// so an open batch may wait briefly for it (see `Store::announce`).
pub struct Announced {
    incoming: Arc<AtomicUsize>,
    pending: AtomicBool,
}

impl Announced {
    pub(crate) fn new(incoming: Arc<AtomicUsize>) -> Announced {
        incoming.fetch_add(1, Ordering::AcqRel);
        Announced {
            incoming,
            pending: AtomicBool::new(true),
        }
    }

    /// The event reached the queue (or will not): it no longer counts as incoming.
    pub(crate) fn arrived(&self) {
        if self.pending.swap(false, Ordering::AcqRel) {
            self.incoming.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Announced {
    fn drop(&mut self) {
        self.arrived();
    }
}

/// Held while this node runs a retention pass (`Store::try_lock_housekeeping`).
pub struct PassLock(PassLockInner);

enum PassLockInner {
    /// SQLite: one process owns the file, nothing to hold.
    Local,
    Postgres(Box<postgres::retention::PgPassLock>),
}

impl PassLock {
    pub(crate) fn local() -> PassLock {
        PassLock(PassLockInner::Local)
    }

    pub(crate) fn postgres(lock: postgres::retention::PgPassLock) -> PassLock {
        PassLock(PassLockInner::Postgres(Box::new(lock)))
    }

    /// Lets another node run the next pass.
    pub async fn release(self) {
        match self.0 {
            PassLockInner::Local => {}
            PassLockInner::Postgres(lock) => lock.release().await,
        }
    }
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Runs `$call` on whichever backend `$store` is.
macro_rules! dispatch {
    ($store:expr, $b:ident => $call:expr) => {
        match $store {
            Store::Sqlite($b) => $call,
            Store::Postgres($b) => $call,
        }
    };
}
pub(crate) use dispatch;

impl Store {
    // ---------------------------------------------------------------- lifecycle and health

    /// Opens (creating and migrating if needed) the database and starts its writer.
    /// PostgreSQL is opened with `connect` (it connects over the network).
    pub fn open(location: &Location, opts: StoreOptions) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Ok(Store::Sqlite(sqlite::SqliteStore::open(path, opts)?)),
            Location::Postgres(_) => Err(StoreError::Unavailable(
                "a PostgreSQL database is opened with Store::connect".into(),
            )),
        }
    }

    /// Opens either backend: for PostgreSQL, connects, migrates under the advisory lock and
    /// starts this node's writer on the current tokio runtime.
    pub async fn connect(location: &Location, opts: StoreOptions) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(_) => Store::open(location, opts),
            Location::Postgres(url) => Ok(Store::Postgres(postgres::PgStore::open(url, opts).await?)),
        }
    }

    /// Opens the SQLite file at `path` (tests and tools).
    pub fn open_sqlite(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        Store::open(&Location::Sqlite(path.to_path_buf()), opts)
    }

    /// The schema version this build writes (what `open` migrated to).
    pub fn schema_version(&self) -> usize {
        dispatch!(self, b => b.schema_version())
    }

    /// Stops taking writes, lets the writer drain what is queued, and waits for it. Blocks.
    pub fn shutdown(&self) {
        dispatch!(self, b => b.shutdown())
    }

    /// Bumped by every change to projects, keys or settings, so caches know to refetch.
    pub fn generation(&self) -> u64 {
        dispatch!(self, b => b.generation())
    }

    /// Jobs waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        dispatch!(self, b => b.queue_depth())
    }

    pub fn queue_capacity(&self) -> usize {
        dispatch!(self, b => b.queue_capacity())
    }

    /// Commits a one-row rewrite through the writer: only a real write notices a full disk.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        dispatch!(self, b => b.check_writable().await)
    }

    /// How many events and issues are stored (metrics).
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        dispatch!(self, b => b.counts().await)
    }

    /// Bytes the database takes on disk (metrics), 0 when unknown.
    pub fn disk_bytes(&self) -> u64 {
        dispatch!(self, b => b.disk_bytes())
    }

    /// A consistent copy of the live database into the new file `dest`, checked after writing.
    pub async fn backup(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        dispatch!(self, b => b.backup(dest).await)
    }

    // ---------------------------------------------------------------- ingest

    /// Announces an event that will be queued soon (its request is being read and
    /// processed), so an open batch may wait briefly for it. Dropping the guard, or
    /// queueing the event, ends the announcement.
    pub fn announce(&self) -> Announced {
        dispatch!(self, b => b.announce())
    }

    /// Queues an event and waits until its transaction has committed.
    pub async fn store_event(&self, record: EventRecord, announced: Option<&Announced>) -> Result<Stored, StoreError> {
        dispatch!(self, b => b.store_event(record, announced).await)
    }

    /// Keeps attachments with their stored event (`event_id`) and user reports on theirs, in
    /// one transaction; returns how many attachments were kept (0 when the event is not
    /// stored) and, for each report, whether it was kept (its event is stored).
    pub async fn store_extras(
        &self,
        project_id: i64,
        event_id: Option<EventId>,
        attachments: Vec<NewAttachment>,
        reports: Vec<UserReport>,
    ) -> Result<(usize, Vec<bool>), StoreError> {
        dispatch!(self, b => b.store_extras(project_id, event_id, attachments, reports).await)
    }

    /// Adds the tallied outcomes and counts rate-limited events on their known issues, in
    /// one transaction.
    pub async fn flush_counts(&self, outcomes: Vec<OutcomeRow>, limited: Vec<LimitedCount>) -> Result<(), StoreError> {
        dispatch!(self, b => b.flush_counts(outcomes, limited).await)
    }

    // ---------------------------------------------------------------- organizations, projects, keys

    /// On an empty database: one organization, a project with a DSN key, and an admin token.
    pub async fn bootstrap_if_empty(&self) -> Result<Option<Bootstrap>, StoreError> {
        dispatch!(self, b => b.bootstrap_if_empty().await)
    }

    pub async fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        dispatch!(self, b => b.organizations().await)
    }

    /// An organization by slug or numeric id.
    pub async fn organization(&self, slug_or_id: &str) -> Result<Organization, StoreError> {
        dispatch!(self, b => b.organization(slug_or_id).await)
    }

    /// A project of an organization by slug or numeric id.
    pub async fn project(&self, organization_id: i64, slug_or_id: &str) -> Result<Project, StoreError> {
        dispatch!(self, b => b.project(organization_id, slug_or_id).await)
    }

    pub async fn project_by_id(&self, id: i64) -> Result<Project, StoreError> {
        dispatch!(self, b => b.project_by_id(id).await)
    }

    /// Several projects by id (missing ones are left out).
    pub async fn projects_by_id(&self, ids: Vec<i64>) -> Result<HashMap<i64, Project>, StoreError> {
        dispatch!(self, b => b.projects_by_id(ids).await)
    }

    /// The projects of one organization, or of all.
    pub async fn projects(&self, organization_id: Option<i64>) -> Result<Vec<Project>, StoreError> {
        dispatch!(self, b => b.projects(organization_id).await)
    }

    /// Creates a project with its first DSN key (labelled `key_label`).
    pub async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey), StoreError> {
        dispatch!(self, b => b.create_project(new).await)
    }

    /// Changes a project's fields and settings; returns it as stored.
    pub async fn update_project(&self, project_id: i64, change: ProjectChange) -> Result<Project, StoreError> {
        dispatch!(self, b => b.update_project(project_id, change).await)
    }

    /// Deletes a project with its issues, events and keys.
    pub async fn delete_project(&self, project_id: i64) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_project(project_id).await)
    }

    pub async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
        dispatch!(self, b => b.keys(project_id).await)
    }

    pub async fn key_by_public(&self, public_key: &str) -> Result<Option<ProjectKey>, StoreError> {
        dispatch!(self, b => b.key_by_public(public_key).await)
    }

    pub async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey, StoreError> {
        dispatch!(self, b => b.create_key(project_id, label).await)
    }

    pub async fn update_key(
        &self,
        project_id: i64,
        public_key: &str,
        change: KeyChange,
    ) -> Result<ProjectKey, StoreError> {
        dispatch!(self, b => b.update_key(project_id, public_key, change).await)
    }

    pub async fn delete_key(&self, project_id: i64, public_key: &str) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_key(project_id, public_key).await)
    }

    // ---------------------------------------------------------------- tokens

    /// Mints a user token and stores its hash; the token is returned only here.
    pub async fn create_token(&self, name: &str, scopes: &[&str]) -> Result<String, StoreError> {
        dispatch!(self, b => b.create_token(name, scopes).await)
    }

    /// Mints an organization token (`sntrys_…`, carries the URL and organization).
    pub async fn create_org_token(
        &self,
        name: &str,
        scopes: &[&str],
        base_url: &str,
        org_slug: &str,
    ) -> Result<String, StoreError> {
        dispatch!(self, b => b.create_org_token(name, scopes, base_url, org_slug).await)
    }

    /// Mints a token bound to an organization (and optionally projects) in one transaction:
    /// a binding that fails (a project outside the organization) leaves no token behind.
    pub async fn create_bound_token(&self, new: NewToken) -> Result<String, StoreError> {
        dispatch!(self, b => b.create_bound_token(new).await)
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        dispatch!(self, b => b.tokens().await)
    }

    /// The token stored under `hash`, with the stored hash (for a constant-time compare).
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, String)>, StoreError> {
        dispatch!(self, b => b.token_by_hash(hash).await)
    }

    /// Records that a token was used now.
    pub async fn touch_token(&self, id: i64) -> Result<(), StoreError> {
        dispatch!(self, b => b.touch_token(id).await)
    }

    pub async fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        dispatch!(self, b => b.revoke_token(id).await)
    }

    // ---------------------------------------------------------------- issues

    /// Issues matching `filter`, in its sort order, one page by offset.
    pub async fn issues(&self, filter: IssueFilter) -> Result<Vec<Issue>, StoreError> {
        dispatch!(self, b => b.issues(filter).await)
    }

    /// One page of issues positioned by the sort column's value (Sentry's value cursors):
    /// forward, rows whose value is at most `value` (skipping `filter.offset` of them);
    /// back (`is_prev`), rows whose value is at least `value`. Always in list order.
    pub async fn issues_by_value(
        &self,
        filter: IssueFilter,
        value: i64,
        is_prev: bool,
    ) -> Result<Vec<Issue>, StoreError> {
        dispatch!(self, b => b.issues_by_value(filter, value, is_prev).await)
    }

    /// How many issues match `filter`, counted no further than `cap + 1` (so a result
    /// above `cap` means "more than `cap`"); its page and order are ignored.
    pub async fn count_issues(&self, filter: IssueFilter, cap: usize) -> Result<usize, StoreError> {
        dispatch!(self, b => b.count_issues(filter, cap).await)
    }

    pub async fn issue(&self, id: i64) -> Result<Issue, StoreError> {
        dispatch!(self, b => b.issue(id).await)
    }

    pub async fn issue_by_short_id(&self, project_id: i64, short_id: i64) -> Result<Issue, StoreError> {
        dispatch!(self, b => b.issue_by_short_id(project_id, short_id).await)
    }

    /// Occurrences per bucket for each issue: `buckets` buckets of `bucket_hours` hours,
    /// ending with the one holding `now_us`; each point is (bucket start in seconds, count).
    pub async fn issue_stats(
        &self,
        issue_ids: Vec<i64>,
        now_us: i64,
        bucket_hours: i64,
        buckets: usize,
    ) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
        dispatch!(self, b => b.issue_stats(issue_ids, now_us, bucket_hours, buckets).await)
    }

    /// Every tag value of an issue with its counts.
    pub async fn issue_tags(&self, issue_id: i64) -> Result<Vec<TagValue>, StoreError> {
        dispatch!(self, b => b.issue_tags(issue_id).await)
    }

    /// The grouping hashes of an issue with their grouping config, by hash.
    pub async fn issue_hashes(&self, issue_id: i64) -> Result<Vec<IssueHash>, StoreError> {
        dispatch!(self, b => b.issue_hashes(issue_id).await)
    }

    /// For each primary hash of an issue, its newest event.
    pub async fn latest_event_per_hash(&self, issue_id: i64) -> Result<HashMap<String, StoredEvent>, StoreError> {
        dispatch!(self, b => b.latest_event_per_hash(issue_id).await)
    }

    /// Which issue each of `hashes` belongs to in a project (hashes of no issue are left out).
    pub async fn hash_owners(&self, project_id: i64, hashes: Vec<String>) -> Result<HashMap<String, i64>, StoreError> {
        dispatch!(self, b => b.hash_owners(project_id, hashes).await)
    }

    /// Sets the status of issues (all or none); `inNextRelease` records the release last seen.
    pub async fn set_status(&self, issue_ids: Vec<i64>, change: StatusChange) -> Result<(), StoreError> {
        dispatch!(self, b => b.set_status(issue_ids, change).await)
    }

    /// Merges issues into the first one (the parent); returns the parent's id.
    pub async fn merge_issues(&self, issue_ids: Vec<i64>) -> Result<i64, StoreError> {
        dispatch!(self, b => b.merge_issues(issue_ids).await)
    }

    /// Moves `hashes` of an issue to a new issue with their events; `tags_of` derives an
    /// event's tags from its payload exactly as ingest did, so aggregates stay exact.
    pub async fn unmerge(
        &self,
        issue_id: i64,
        hashes: Vec<String>,
        tags_of: fn(&Value) -> Vec<(String, String)>,
    ) -> Result<Unmerged, StoreError> {
        dispatch!(self, b => b.unmerge(issue_id, hashes, tags_of).await)
    }

    /// Deletes issues with their events.
    pub async fn delete_issues(&self, issue_ids: Vec<i64>) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_issues(issue_ids).await)
    }

    // ---------------------------------------------------------------- events

    /// A page of an issue's events.
    pub async fn issue_events(
        &self,
        issue_id: i64,
        order: EventOrder,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        dispatch!(self, b => b.issue_events(issue_id, order, limit, offset).await)
    }

    /// A page of a project's events, newest first.
    pub async fn project_events(
        &self,
        project_id: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        dispatch!(self, b => b.project_events(project_id, limit, offset).await)
    }

    /// An event by its id within a project.
    pub async fn event(&self, project_id: i64, event_id: &EventId) -> Result<StoredEvent, StoreError> {
        dispatch!(self, b => b.event(project_id, event_id).await)
    }

    /// The event with this id in the first of `project_ids` that has it.
    pub async fn find_event(
        &self,
        project_ids: Vec<i64>,
        event_id: &EventId,
    ) -> Result<Option<StoredEvent>, StoreError> {
        dispatch!(self, b => b.find_event(project_ids, event_id).await)
    }

    /// The events just before and after `event` within its issue: (previous, next) ids.
    pub async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<EventId>, Option<EventId>), StoreError> {
        dispatch!(self, b => b.neighbours(event).await)
    }

    /// The attachments of an event, without their bytes.
    pub async fn attachments(&self, project_id: i64, event_id: &EventId) -> Result<Vec<AttachmentInfo>, StoreError> {
        dispatch!(self, b => b.attachments(project_id, event_id).await)
    }

    /// One attachment with its bytes.
    pub async fn attachment(
        &self,
        project_id: i64,
        event_id: &EventId,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        dispatch!(self, b => b.attachment(project_id, event_id, id).await)
    }

    /// Events of some projects in a time range, newest first, bounded (organization event
    /// search).
    pub async fn discover_events(&self, scan: EventScan) -> Result<Vec<StoredEvent>, StoreError> {
        dispatch!(self, b => b.discover_events(scan).await)
    }

    // ---------------------------------------------------------------- outcomes

    /// A project's outcome rows with `since <= day <= until` (`YYYY-MM-DD`), oldest first.
    pub async fn outcomes(&self, project_id: i64, since: &str, until: &str) -> Result<Vec<OutcomeRow>, StoreError> {
        dispatch!(self, b => b.outcomes(project_id, since, until).await)
    }

    // ---------------------------------------------------------------- alerts

    /// What the ingest transaction needs to write notifications (outbox bound, links).
    pub fn alert_settings(&self) -> &AlertSettings {
        dispatch!(self, b => b.alert_settings())
    }

    /// An organization's channels, secrets included (the API masks them).
    pub async fn alert_channels(&self, organization_id: i64) -> Result<Vec<Channel>, StoreError> {
        dispatch!(self, b => b.alert_channels(organization_id).await)
    }

    pub async fn alert_channel(&self, id: ChannelId) -> Result<Channel, StoreError> {
        dispatch!(self, b => b.alert_channel(id).await)
    }

    pub async fn create_alert_channel(&self, new: NewChannel) -> Result<Channel, StoreError> {
        dispatch!(self, b => b.create_alert_channel(new).await)
    }

    /// Replaces a channel's name and configuration.
    pub async fn update_alert_channel(&self, id: ChannelId, new: NewChannel) -> Result<Channel, StoreError> {
        dispatch!(self, b => b.update_alert_channel(id, new).await)
    }

    /// Deletes a channel with its waiting notifications and history.
    pub async fn delete_alert_channel(&self, id: ChannelId) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_alert_channel(id).await)
    }

    pub async fn alert_rules(&self, project_id: i64) -> Result<Vec<Rule>, StoreError> {
        dispatch!(self, b => b.alert_rules(project_id).await)
    }

    pub async fn alert_rule(&self, id: RuleId) -> Result<Rule, StoreError> {
        dispatch!(self, b => b.alert_rule(id).await)
    }

    /// Creates a rule (its id is ignored); its channels must belong to the project's
    /// organization.
    pub async fn create_alert_rule(&self, rule: Rule) -> Result<Rule, StoreError> {
        dispatch!(self, b => b.create_alert_rule(rule).await)
    }

    /// Replaces the rule with `rule.id`.
    pub async fn update_alert_rule(&self, rule: Rule) -> Result<Rule, StoreError> {
        dispatch!(self, b => b.update_alert_rule(rule).await)
    }

    pub async fn delete_alert_rule(&self, id: RuleId) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_alert_rule(id).await)
    }

    /// The delivery history, newest first, with each attempt's status.
    pub async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        dispatch!(self, b => b.deliveries(filter).await)
    }

    /// Up to `limit` due notifications not for a channel in `skip`, each leased until
    /// `lease_until_ms` (see `notify::Outbox::claim`).
    pub async fn outbox_claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_until_ms: i64,
        skip: Vec<ChannelId>,
    ) -> Result<Vec<Notification>, StoreError> {
        dispatch!(self, b => b.outbox_claim(now_ms, limit, lease_until_ms, skip).await)
    }

    /// Replaces the waiting `members` by one `digest`.
    pub async fn outbox_fold(&self, members: Vec<NotificationId>, digest: Notification) -> Result<(), StoreError> {
        dispatch!(self, b => b.outbox_fold(members, digest).await)
    }

    /// Records an attempt (if one was made) and what follows it.
    pub async fn outbox_record(
        &self,
        id: NotificationId,
        attempt: Option<AttemptRecord>,
        next: Next,
    ) -> Result<(), StoreError> {
        dispatch!(self, b => b.outbox_record(id, attempt, next).await)
    }

    /// Notifications waiting to be delivered (metrics).
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        dispatch!(self, b => b.outbox_depth().await)
    }

    // ---------------------------------------------------------------- retention and size cap
    // Housekeeping writes: they leave projects, keys, settings and hashes alone, so caches stay warm.

    /// The right to run a retention pass: `None` while another node on the same database
    /// runs one (PostgreSQL's advisory lock); always granted on SQLite. Release it after
    /// the pass.
    pub async fn try_lock_housekeeping(&self) -> Result<Option<PassLock>, StoreError> {
        dispatch!(self, b => b.try_lock_housekeeping().await)
    }

    /// Deletes up to `limit` events received before `cutoff_us`; returns how many.
    pub async fn delete_expired(&self, cutoff_us: i64, limit: usize) -> Result<usize, StoreError> {
        dispatch!(self, b => b.delete_expired(cutoff_us, limit).await)
    }

    /// Up to `limit` issues (ids above `after`, ascending) holding more than `cap` events.
    pub async fn issues_over_cap(&self, cap: u32, after: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        dispatch!(self, b => b.issues_over_cap(cap, after, limit).await)
    }

    /// Up to `limit` ids of an issue's events beyond its newest `cap`.
    pub async fn events_beyond_cap(&self, issue_id: i64, cap: u32, limit: usize) -> Result<Vec<i64>, StoreError> {
        dispatch!(self, b => b.events_beyond_cap(issue_id, cap, limit).await)
    }

    /// Deletes events by row id; returns how many.
    pub async fn delete_events(&self, ids: Vec<i64>) -> Result<usize, StoreError> {
        dispatch!(self, b => b.delete_events(ids).await)
    }

    /// Deletes up to `limit` user reports received before `cutoff_us` and outcome rows of
    /// days before `cutoff_day` (`YYYY-MM-DD`); returns how many.
    pub async fn expire_other(&self, cutoff_us: i64, cutoff_day: &str, limit: usize) -> Result<usize, StoreError> {
        dispatch!(self, b => b.expire_other(cutoff_us, cutoff_day, limit).await)
    }

    /// Over the next `limit` issues after id `after`: deletes tag values and hourly counts
    /// older than `cutoff_us`, and the issues last seen before it that have no events left.
    pub async fn expire_issue_data(&self, after: i64, limit: usize, cutoff_us: i64) -> Result<IssueStep, StoreError> {
        dispatch!(self, b => b.expire_issue_data(after, limit, cutoff_us).await)
    }

    /// One step of the size cap: up to `limit` of the oldest rows, events first, then the
    /// other tables; returns how many went (0: nothing left the cap may delete).
    pub async fn shrink_step(&self, limit: usize) -> Result<usize, StoreError> {
        dispatch!(self, b => b.shrink_step(limit).await)
    }

    /// Bytes the stored data uses (what the size cap limits).
    pub async fn used_bytes(&self) -> Result<i64, StoreError> {
        dispatch!(self, b => b.used_bytes().await)
    }

    /// Gives freed space back to the file system, a step at a time; returns how much is left
    /// to reclaim (0: done).
    pub async fn reclaim_step(&self) -> Result<i64, StoreError> {
        dispatch!(self, b => b.reclaim_step().await)
    }
}

/// Current time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
