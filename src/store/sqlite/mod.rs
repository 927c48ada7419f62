//! The SQLite backend: the embedded file, the only code that speaks SQLite.
//!
//! One writer thread owns the write connection and commits events in batches
//! (`writer`); reads go through a small pool of read-only connections (`read`).
//! Administrative writes (projects, keys, tokens, issue updates) are plain
//! functions over a connection (`admin`), run by the writer thread.

pub mod activity;
pub mod admin;
pub mod alerts;
pub mod artifacts;
pub mod backup;
pub mod copy;
pub mod discover;
pub mod ingest;
pub mod migrate;
pub mod outcomes;
pub mod read;
pub mod releases;
pub mod retention;
mod types;
pub mod users;
mod wal_vfs;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use super::{
    Announced, ApiToken, AttachmentInfo, BackupReport, Bootstrap, Cmp, Condition, EventOrder, EventRecord, Issue,
    IssueFilter, IssueHash, IssueSort, IssueStep, KeyChange, LimitedCount, NewAttachment, NewProject, NewToken,
    Organization, OutcomeRow, Project, ProjectChange, ProjectKey, StatusChange, StoreCounts, StoreError, StoreOptions,
    Stored, StoredEvent, TagValue, Unmerged, UserReport,
};
// The pure rules and types the submodules share with every backend.
use super::{
    DEFAULT_ORG_SLUG, DEFAULT_PROJECT_SLUG, ORG_TOKEN_MARKER, decode_payload, now_us, reopens, status_details,
    token_hash, valid_slug,
};
use writer::Writer;

use crate::ids::{EventId, IssueStatus};
use crate::notify::model::{Channel, ChannelId, Notification, NotificationId, Rule, RuleId};
use crate::notify::outbox::{AttemptRecord, Next};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// SQLITE_FULL on write means "try later", not "bad request".
pub(crate) fn from_write(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
        _ => e.into(),
    }
}

pub type ReadPool = r2d2::Pool<SqliteConnectionManager>;

/// Handle to the SQLite database: the writer's queue and the read pool. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    reads: ReadPool,
    path: Arc<PathBuf>,
    /// Bumped by every change to projects, keys or settings, so caches know to refetch.
    config_generation: Arc<AtomicU64>,
    alerts: Arc<super::AlertSettings>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path` and starts the writer.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<SqliteStore, StoreError> {
        let mut conn = open_write_connection(path, opts.synchronous_full)?;
        migrate::run(&mut conn)?;
        let config_generation = Arc::new(AtomicU64::new(1));
        let alerts = Arc::new(super::AlertSettings::default());
        let writer = Writer::start(conn, opts, config_generation.clone(), alerts.clone());
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
            .with_init(|c| {
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c.pragma_update(None, "cache_size", -8000)?;
                Ok(())
            });
        let reads = r2d2::Pool::builder()
            .max_size(opts.read_pool_size)
            .min_idle(Some(1))
            .build(manager)?;
        Ok(SqliteStore {
            writer,
            reads,
            path: Arc::new(path.to_path_buf()),
            config_generation,
            alerts,
        })
    }

    /// Runs `f` on a read connection off the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.reads.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    // ---------------------------------------------------------------- lifecycle and health

    pub fn schema_version(&self) -> usize {
        migrate::latest_version()
    }

    pub fn shutdown(&self) {
        self.writer.shutdown()
    }

    pub fn generation(&self) -> u64 {
        self.config_generation.load(Ordering::Acquire)
    }

    pub fn queue_depth(&self) -> usize {
        self.writer.queue_depth()
    }

    pub fn queue_capacity(&self) -> usize {
        self.writer.queue_capacity()
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.writer
            .maintain(|tx| {
                tx.execute(
                    "UPDATE organizations SET name = name WHERE id = (SELECT min(id) FROM organizations)",
                    [],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.read(|c| {
            Ok(StoreCounts {
                events: c.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?,
                issues: c.query_row("SELECT count(*) FROM issues", [], |r| r.get(0))?,
            })
        })
        .await
    }

    /// The database file and its WAL.
    pub fn disk_bytes(&self) -> u64 {
        let wal = {
            let mut name = self.path.as_os_str().to_owned();
            name.push("-wal");
            PathBuf::from(name)
        };
        [self.path.to_path_buf(), wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    pub async fn backup(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        let (source, dest) = (self.path.to_path_buf(), dest.to_path_buf());
        tokio::task::spawn_blocking(move || backup::backup(&source, &dest))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    // ---------------------------------------------------------------- ingest

    pub fn announce(&self) -> Announced {
        self.writer.announce()
    }

    pub async fn store_event(&self, record: EventRecord, announced: Option<&Announced>) -> Result<Stored, StoreError> {
        self.writer.store_event(record, announced).await
    }

    pub async fn store_extras(
        &self,
        project_id: i64,
        event_id: Option<EventId>,
        attachments: Vec<NewAttachment>,
        reports: Vec<UserReport>,
    ) -> Result<(usize, Vec<bool>), StoreError> {
        self.writer
            .maintain(move |tx| {
                let kept = match &event_id {
                    Some(event_id) => ingest::insert_attachments(tx, project_id, event_id, &attachments)?,
                    None => 0,
                };
                let mut attached = Vec::with_capacity(reports.len());
                for report in &reports {
                    attached.push(ingest::save_user_report(tx, project_id, report)?);
                }
                Ok((kept, attached))
            })
            .await
    }

    pub async fn flush_counts(&self, rows: Vec<OutcomeRow>, limited: Vec<LimitedCount>) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                outcomes::write(tx, &rows)?;
                ingest::count_on_known_issues(tx, &limited)?;
                Ok(())
            })
            .await
    }

    // ---------------------------------------------------------------- organizations, projects, keys

    pub async fn bootstrap_if_empty(&self) -> Result<Option<Bootstrap>, StoreError> {
        self.writer.exec(|tx| admin::bootstrap_if_empty(tx)).await
    }

    pub async fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.read(admin::organizations).await
    }

    pub async fn organization(&self, slug_or_id: &str) -> Result<Organization, StoreError> {
        let slug_or_id = slug_or_id.to_owned();
        self.read(move |c| admin::organization(c, &slug_or_id)).await
    }

    pub async fn project(&self, organization_id: i64, slug_or_id: &str) -> Result<Project, StoreError> {
        let slug_or_id = slug_or_id.to_owned();
        self.read(move |c| admin::project(c, organization_id, &slug_or_id))
            .await
    }

    pub async fn project_by_id(&self, id: i64) -> Result<Project, StoreError> {
        self.read(move |c| admin::project_by_id(c, id)).await
    }

    pub async fn projects_by_id(&self, ids: Vec<i64>) -> Result<HashMap<i64, Project>, StoreError> {
        self.read(move |c| {
            let mut projects = HashMap::new();
            for id in ids {
                if let std::collections::hash_map::Entry::Vacant(e) = projects.entry(id) {
                    e.insert(admin::project_by_id(c, id)?);
                }
            }
            Ok(projects)
        })
        .await
    }

    pub async fn projects(&self, organization_id: Option<i64>) -> Result<Vec<Project>, StoreError> {
        self.read(move |c| admin::projects(c, organization_id)).await
    }

    pub async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey), StoreError> {
        self.writer
            .exec(move |tx| {
                let project =
                    admin::create_project(tx, new.organization_id, &new.slug, &new.name, new.platform.as_deref())?;
                let key = admin::create_key(tx, project.id, &new.key_label)?;
                Ok((project, key))
            })
            .await
    }

    pub async fn update_project(&self, project_id: i64, change: ProjectChange) -> Result<Project, StoreError> {
        self.writer
            .exec(move |tx| {
                if let Some(settings) = &change.settings {
                    admin::update_project_settings(tx, project_id, settings)?;
                }
                admin::update_project_fields(
                    tx,
                    project_id,
                    change.name.as_deref(),
                    change.slug.as_deref(),
                    change.platform.as_deref(),
                )?;
                admin::project_by_id(tx, project_id)
            })
            .await
    }

    pub async fn delete_project(&self, project_id: i64) -> Result<(), StoreError> {
        self.writer.exec(move |tx| admin::delete_project(tx, project_id)).await
    }

    pub async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
        self.read(move |c| admin::keys(c, project_id)).await
    }

    pub async fn key_by_public(&self, public_key: &str) -> Result<Option<ProjectKey>, StoreError> {
        let public_key = public_key.to_owned();
        self.read(move |c| admin::key_by_public(c, &public_key)).await
    }

    pub async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey, StoreError> {
        let label = label.to_owned();
        self.writer
            .exec(move |tx| admin::create_key(tx, project_id, &label))
            .await
    }

    pub async fn update_key(
        &self,
        project_id: i64,
        public_key: &str,
        change: KeyChange,
    ) -> Result<ProjectKey, StoreError> {
        let public_key = public_key.to_owned();
        self.writer
            .exec(move |tx| {
                let updated = admin::update_key(
                    tx,
                    project_id,
                    &public_key,
                    change.label.as_deref(),
                    change.is_active,
                    change.rate_limit,
                )?;
                match &change.allowed_origins {
                    Some(origins) => {
                        ingest::set_allowed_origins(tx, updated.id, origins)?;
                        admin::key_by_public(tx, &public_key)?.ok_or(StoreError::NotFound("key"))
                    }
                    None => Ok(updated),
                }
            })
            .await
    }

    pub async fn delete_key(&self, project_id: i64, public_key: &str) -> Result<(), StoreError> {
        let public_key = public_key.to_owned();
        self.writer
            .exec(move |tx| admin::delete_key(tx, project_id, &public_key))
            .await
    }

    // ---------------------------------------------------------------- tokens

    pub async fn create_token(&self, name: &str, scopes: &[&str]) -> Result<String, StoreError> {
        let name = name.to_owned();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.writer
            .exec(move |tx| {
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                admin::create_token(tx, &name, &scopes)
            })
            .await
    }

    pub async fn create_org_token(
        &self,
        name: &str,
        scopes: &[&str],
        base_url: &str,
        org_slug: &str,
    ) -> Result<String, StoreError> {
        let (name, base_url, org_slug) = (name.to_owned(), base_url.to_owned(), org_slug.to_owned());
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.writer
            .exec(move |tx| {
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                admin::create_org_token(tx, &name, &scopes, &base_url, &org_slug)
            })
            .await
    }

    pub async fn create_bound_token(&self, new: NewToken) -> Result<String, StoreError> {
        self.writer
            .exec(move |tx| {
                let scopes: Vec<&str> = new.scopes.iter().map(String::as_str).collect();
                let token = match &new.org_claims {
                    Some((base_url, org_slug)) => admin::create_org_token(tx, &new.name, &scopes, base_url, org_slug)?,
                    None => admin::create_token(tx, &new.name, &scopes)?,
                };
                if let Some((org_id, projects)) = &new.binding {
                    admin::bind_token(tx, &token, *org_id, projects.as_deref())?;
                }
                Ok(token)
            })
            .await
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.read(admin::tokens).await
    }

    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, String)>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| admin::token_and_hash(c, &hash)).await
    }

    pub async fn touch_token(&self, id: i64) -> Result<(), StoreError> {
        self.writer.exec(move |tx| admin::touch_token(tx, id)).await
    }

    pub async fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        self.writer.exec(move |tx| admin::revoke_token(tx, id)).await
    }

    // ---------------------------------------------------------------- issues

    pub async fn issues(&self, filter: IssueFilter) -> Result<Vec<Issue>, StoreError> {
        self.read(move |c| read::issues(c, &filter)).await
    }

    pub async fn issues_by_value(
        &self,
        filter: IssueFilter,
        value: i64,
        is_prev: bool,
    ) -> Result<Vec<Issue>, StoreError> {
        self.read(move |c| read::issues_by_value(c, &filter, value, is_prev))
            .await
    }

    pub async fn count_issues(&self, filter: IssueFilter, cap: usize) -> Result<usize, StoreError> {
        self.read(move |c| read::count_issues(c, &filter, cap)).await
    }

    pub async fn issue(&self, id: i64) -> Result<Issue, StoreError> {
        self.read(move |c| read::issue(c, id)).await
    }

    pub async fn issue_by_short_id(&self, project_id: i64, short_id: i64) -> Result<Issue, StoreError> {
        self.read(move |c| read::issue_by_short_id(c, project_id, short_id))
            .await
    }

    pub async fn issue_stats(
        &self,
        issue_ids: Vec<i64>,
        now_us: i64,
        bucket_hours: i64,
        buckets: usize,
    ) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
        self.read(move |c| read::issue_stats(c, &issue_ids, now_us, bucket_hours, buckets))
            .await
    }

    pub async fn issue_tags(&self, issue_id: i64) -> Result<Vec<TagValue>, StoreError> {
        self.read(move |c| read::issue_tags(c, issue_id)).await
    }

    pub async fn issue_hashes(&self, issue_id: i64) -> Result<Vec<IssueHash>, StoreError> {
        self.read(move |c| read::issue_hashes(c, issue_id)).await
    }

    pub async fn latest_event_per_hash(&self, issue_id: i64) -> Result<HashMap<String, StoredEvent>, StoreError> {
        self.read(move |c| read::latest_event_per_hash(c, issue_id)).await
    }

    pub async fn hash_owners(&self, project_id: i64, hashes: Vec<String>) -> Result<HashMap<String, i64>, StoreError> {
        self.read(move |c| {
            let mut owners = HashMap::new();
            for hash in hashes {
                if let Some(issue) = read::hash_owner(c, project_id, &hash)? {
                    owners.insert(hash, issue);
                }
            }
            Ok(owners)
        })
        .await
    }

    pub async fn set_status(&self, issue_ids: Vec<i64>, change: StatusChange) -> Result<(), StoreError> {
        self.writer
            .exec(move |tx| {
                for id in issue_ids {
                    let wants_release = change.status == IssueStatus::Resolved;
                    let last_release = if wants_release {
                        read::issue(tx, id)?.last_release
                    } else {
                        None
                    };
                    let details = status_details(&change, last_release.as_deref());
                    admin::set_issue_status(tx, id, change.status, change.substatus.as_deref(), &details)?;
                    activity::insert(tx, id, &crate::store::activity::status_activity(&change, now_us()))?;
                }
                Ok(())
            })
            .await
    }

    pub async fn merge_issues(&self, issue_ids: Vec<i64>) -> Result<i64, StoreError> {
        self.writer.exec(move |tx| admin::merge_issues(tx, &issue_ids)).await
    }

    pub async fn unmerge(
        &self,
        issue_id: i64,
        hashes: Vec<String>,
        tags_of: fn(&Value) -> Vec<(String, String)>,
    ) -> Result<Unmerged, StoreError> {
        self.writer
            .exec(move |tx| admin::unmerge_hashes(tx, issue_id, &hashes, &tags_of))
            .await
    }

    pub async fn delete_issues(&self, issue_ids: Vec<i64>) -> Result<(), StoreError> {
        self.writer
            .exec(move |tx| {
                for id in issue_ids {
                    admin::delete_issue(tx, id)?;
                }
                Ok(())
            })
            .await
    }

    // ---------------------------------------------------------------- events

    pub async fn issue_events(
        &self,
        issue_id: i64,
        order: EventOrder,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |c| read::issue_events(c, issue_id, order, limit, offset))
            .await
    }

    pub async fn project_events(
        &self,
        project_id: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |c| read::project_events(c, project_id, limit, offset))
            .await
    }

    pub async fn event(&self, project_id: i64, event_id: &EventId) -> Result<StoredEvent, StoreError> {
        let event_id = *event_id;
        self.read(move |c| read::event(c, project_id, &event_id)).await
    }

    pub async fn find_event(
        &self,
        project_ids: Vec<i64>,
        event_id: &EventId,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let event_id = *event_id;
        self.read(move |c| {
            for p in project_ids {
                match read::event(c, p, &event_id) {
                    Ok(e) => return Ok(Some(e)),
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            Ok(None)
        })
        .await
    }

    pub async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<EventId>, Option<EventId>), StoreError> {
        let (issue_id, timestamp, id) = (event.issue_id, event.timestamp, event.id);
        self.read(move |c| read::neighbours(c, issue_id, timestamp, id)).await
    }

    pub async fn attachments(&self, project_id: i64, event_id: &EventId) -> Result<Vec<AttachmentInfo>, StoreError> {
        let event_id = *event_id;
        self.read(move |c| ingest::attachments(c, project_id, &event_id)).await
    }

    pub async fn attachment(
        &self,
        project_id: i64,
        event_id: &EventId,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        let event_id = *event_id;
        self.read(move |c| ingest::attachment(c, project_id, &event_id, id))
            .await
    }

    // ---------------------------------------------------------------- outcomes

    pub async fn outcomes(&self, project_id: i64, since: &str, until: &str) -> Result<Vec<OutcomeRow>, StoreError> {
        let (since, until) = (since.to_owned(), until.to_owned());
        self.read(move |c| outcomes::read(c, project_id, &since, &until)).await
    }

    // ---------------------------------------------------------------- retention and size cap

    // ---------------------------------------------------------------- alerts

    pub fn alert_settings(&self) -> &super::AlertSettings {
        &self.alerts
    }

    pub async fn alert_channels(&self, organization_id: i64) -> Result<Vec<Channel>, StoreError> {
        self.read(move |c| alerts::channels(c, organization_id)).await
    }

    pub async fn alert_channel(&self, id: ChannelId) -> Result<Channel, StoreError> {
        self.read(move |c| alerts::channel(c, id)).await
    }

    pub async fn create_alert_channel(&self, new: super::NewChannel) -> Result<Channel, StoreError> {
        self.writer.maintain(move |tx| alerts::create_channel(tx, &new)).await
    }

    pub async fn update_alert_channel(&self, id: ChannelId, new: super::NewChannel) -> Result<Channel, StoreError> {
        self.writer
            .maintain(move |tx| alerts::update_channel(tx, id, &new))
            .await
    }

    pub async fn delete_alert_channel(&self, id: ChannelId) -> Result<(), StoreError> {
        self.writer.maintain(move |tx| alerts::delete_channel(tx, id)).await
    }

    pub async fn alert_rules(&self, project_id: i64) -> Result<Vec<Rule>, StoreError> {
        self.read(move |c| alerts::rules(c, project_id)).await
    }

    pub async fn alert_rule(&self, id: RuleId) -> Result<Rule, StoreError> {
        self.read(move |c| alerts::rule(c, id)).await
    }

    pub async fn create_alert_rule(&self, rule: Rule) -> Result<Rule, StoreError> {
        self.writer.maintain(move |tx| alerts::create_rule(tx, &rule)).await
    }

    pub async fn update_alert_rule(&self, rule: Rule) -> Result<Rule, StoreError> {
        self.writer.maintain(move |tx| alerts::update_rule(tx, &rule)).await
    }

    pub async fn delete_alert_rule(&self, id: RuleId) -> Result<(), StoreError> {
        self.writer.maintain(move |tx| alerts::delete_rule(tx, id)).await
    }

    pub async fn deliveries(&self, filter: super::DeliveryFilter) -> Result<Vec<super::Delivery>, StoreError> {
        self.read(move |c| alerts::deliveries(c, filter)).await
    }

    pub async fn outbox_claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_until_ms: i64,
        skip: Vec<ChannelId>,
    ) -> Result<Vec<Notification>, StoreError> {
        self.writer
            .maintain(move |tx| alerts::claim(tx, now_ms, limit, lease_until_ms, &skip))
            .await
    }

    pub async fn outbox_fold(&self, members: Vec<NotificationId>, digest: Notification) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| alerts::fold(tx, &members, &digest))
            .await
    }

    pub async fn outbox_record(
        &self,
        id: NotificationId,
        attempt: Option<AttemptRecord>,
        next: Next,
    ) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| alerts::record(tx, &id, attempt.as_ref(), &next))
            .await
    }

    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        self.read(alerts::depth).await
    }

    pub async fn delete_expired(&self, cutoff_us: i64, limit: usize) -> Result<usize, StoreError> {
        self.writer
            .maintain(move |tx| retention::delete_expired(tx, cutoff_us, limit))
            .await
    }

    pub async fn issues_over_cap(&self, cap: u32, after: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        self.writer
            .maintain(move |tx| retention::issues_over_cap(tx, cap, after, limit))
            .await
    }

    pub async fn events_beyond_cap(&self, issue_id: i64, cap: u32, limit: usize) -> Result<Vec<i64>, StoreError> {
        self.writer
            .maintain(move |tx| retention::events_beyond_cap(tx, issue_id, cap, limit))
            .await
    }

    pub async fn delete_events(&self, ids: Vec<i64>) -> Result<usize, StoreError> {
        self.writer.maintain(move |tx| retention::delete_ids(tx, &ids)).await
    }

    pub async fn expire_other(&self, cutoff_us: i64, cutoff_day: &str, limit: usize) -> Result<usize, StoreError> {
        let cutoff_day = cutoff_day.to_owned();
        self.writer
            .maintain(move |tx| {
                Ok(retention::delete_expired_user_reports(tx, cutoff_us, limit)?
                    + outcomes::delete_before(tx, &cutoff_day, limit)?
                    + alerts::prune_history(tx, cutoff_us / 1000, limit)?)
            })
            .await
    }

    pub async fn expire_issue_data(&self, after: i64, limit: usize, cutoff_us: i64) -> Result<IssueStep, StoreError> {
        self.writer
            .maintain(move |tx| retention::expire_issue_data(tx, after, limit, cutoff_us))
            .await
    }

    pub async fn shrink_step(&self, limit: usize) -> Result<usize, StoreError> {
        self.writer.maintain(move |tx| retention::shrink_step(tx, limit)).await
    }

    pub async fn used_bytes(&self) -> Result<i64, StoreError> {
        self.writer.maintain(|tx| retention::used_bytes(tx)).await
    }

    pub async fn reclaim_step(&self) -> Result<i64, StoreError> {
        self.writer.maintain(|tx| retention::reclaim_step(tx)).await
    }

    /// One process owns the file (its writer is the only one), so the pass is always ours.
    pub async fn try_lock_housekeeping(&self) -> Result<Option<crate::store::PassLock>, StoreError> {
        Ok(Some(crate::store::PassLock::local()))
    }
}

/// The writer's page cache, in KiB (negative: SQLite's unit for KiB). Kept small on purpose:
/// when a B-tree page split swaps page numbers, SQLite parks a page under the 1 GiB
/// "pending byte" page number, and the commit then walks the whole page cache to drop
/// pages past the end of the file (while the file is under 1 GiB). With 16 MB that walk cost ~2.5% of the server's
/// CPU under load; with 4 MB, ~0.8%. Pages that fall out are still in the OS page cache.
const WRITER_CACHE_KIB: i64 = -4000;

/// Opens the read-write connection with the pragmas every writer needs.
pub fn open_write_connection(path: &Path, synchronous_full: bool) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        owner_only_dir(dir)?;
    }
    owner_only_files(path)?;
    // The writer appends the WAL through `wal_vfs`: 64 KiB writes per commit, not two per page.
    let conn = if wal_vfs::register() {
        Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), wal_vfs::NAME)?
    } else {
        Connection::open(path)?
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Before any pragma below rewrites the header: a newer Errata's file stays untouched.
    migrate::refuse_newer(&conn)?;
    // auto_vacuum only takes effect before the first table exists.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if synchronous_full { "FULL" } else { "NORMAL" })?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    Ok(conn)
}

/// Creates the data directory owner-only (0700), and tightens an existing one that others
/// could read: events hold what users' applications sent. A shared sticky directory (`/tmp`)
/// or one owned by someone else is left as it is.
fn owner_only_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let cannot = |e: std::io::Error| StoreError::Migration(format!("cannot create {}: {e}", dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(cannot)?;
    let mode = std::fs::metadata(dir).map_err(cannot)?.permissions().mode();
    if mode & 0o077 != 0
        && mode & 0o1000 == 0
        && let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    {
        tracing::warn!(dir = %dir.display(), error = %e, "could not make the data directory owner-only");
    }
    Ok(())
}

/// Creates the database file owner-only (0600) before SQLite opens it; SQLite gives the WAL
/// and shared-memory files the database file's mode. Files left readable by an older
/// version are tightened.
fn owner_only_files(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::Migration(format!("cannot create {}: {e}", path.display())))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::Migration(format!("cannot restrict {}: {e}", file.display())))?;
        }
    }
    Ok(())
}
