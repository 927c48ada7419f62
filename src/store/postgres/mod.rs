//! The PostgreSQL backend: several Errata nodes on one database.
//!
//! Each node keeps its own group commit (`writer`: one transaction per batch of events), and
//! every cross-node guarantee comes from the database itself — unique constraints with
//! `ON CONFLICT`, additive counter updates, per-project short ids taken with
//! `UPDATE … RETURNING`, and an advisory lock around migrations — never from a cache in one
//! process. Connections come from a deadpool pool over tokio-postgres.

pub mod activity;
pub mod admin;
pub mod alerts;
pub mod artifacts;
pub mod backup;
pub mod config_watch;
pub mod copy;
pub mod counts;
pub mod discover;
pub mod events;
pub mod extras;
pub mod issues;
pub mod migrate;
pub mod projects;
pub mod read;
pub mod releases;
pub mod retention;
pub mod search;
pub mod tokens;
mod types;
pub mod users;
pub mod writer;

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{Announced, EventId, EventRecord, StoreError, StoreOptions, Stored};
pub use writer::PgWriter;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL could not be parsed; the message never repeats the URL (it may hold a password).
    #[error("invalid PostgreSQL database URL: {0}")]
    Url(String),
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A whole batch could not be committed (connection lost, database restarting…).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("the write queue is full")]
    QueueFull,
    #[error("the store is shutting down")]
    Closed,
}

impl PgError {
    /// The SQLSTATE of a database error, if this is one.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            PgError::Db(e) => e.code(),
            _ => None,
        }
    }

    /// A deadlock or serialization failure between concurrent transactions (two nodes
    /// locking the same rows in a different order): the whole transaction may be retried.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code(),
            Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        )
    }

    /// An error caused by one event's own values (a string PostgreSQL cannot hold, a project
    /// deleted meanwhile): that event fails, the rest of its batch is kept.
    pub fn is_event_level(&self) -> bool {
        match self {
            PgError::NotFound(_) | PgError::Corrupt(_) => true,
            PgError::Db(_) => self
                .code()
                .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23")),
            _ => false,
        }
    }
}

/// Whether a database URL names PostgreSQL (`postgres://`, `postgresql://`) rather than a
/// SQLite file.
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Builds a connection pool for `url` (`postgres://user@host/db`, or the key=value form;
/// a Unix socket directory as host: `postgres://user@%2Frun%2Fpostgresql/db`). Connects
/// lazily: nothing is dialled until the first query.
pub fn pool(url: &str, size: usize) -> Result<Pool, PgError> {
    let config = tokio_postgres::Config::from_str(url).map_err(|e| PgError::Url(e.to_string()))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2))
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(std::time::Duration::from_secs(10)))
        .wait_timeout(Some(std::time::Duration::from_secs(30)))
        .build()
        .map_err(|e| PgError::Url(e.to_string()))
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Url(m) => StoreError::Database(format!("invalid PostgreSQL database URL: {m}")),
            PgError::Db(e) if is_unavailable(&e) => StoreError::Unavailable(e.to_string()),
            PgError::Db(e) => StoreError::Database(e.to_string()),
            PgError::Pool(e) => StoreError::Unavailable(e.to_string()),
            PgError::Migration(m) => StoreError::Migration(m),
            PgError::Unavailable(m) => StoreError::Unavailable(m),
            PgError::NotFound(what) => StoreError::NotFound(what),
            PgError::Corrupt(m) => StoreError::Corrupt(m),
            PgError::QueueFull => StoreError::QueueFull,
            PgError::Closed => StoreError::Closed,
        }
    }
}

/// The database is away or refusing work for now, not wrong: the connection is lost (class
/// 08, or no SQLSTATE at all), the server is shutting down or starting up (57P01–57P03 during
/// a restart), out of connections or resources (53), or a lock race outlived its retries (40).
/// The client may try again shortly, so 503 with `Retry-After`, never 500.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(code) => ["08", "57", "53", "40"]
            .iter()
            .any(|class| code.code().starts_with(class)),
    }
}

/// A database URL for logs and messages: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "a PostgreSQL database".into();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    // Query parameters may carry a password too (`?password=…`): drop them.
    let path = path.split('?').next().unwrap_or("");
    format!("{scheme}://{authority}/{path}")
}

/// Handle to a PostgreSQL database: the pool and this node's writer. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pub pool: Pool,
    pub writer: PgWriter,
    /// Bumped by this node's changes to projects, keys or settings at once, and by every
    /// other node's through `config_watch` (LISTEN/NOTIFY) as they commit.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The `config_watch` listener, stopped at shutdown.
    watcher: std::sync::Arc<tokio::task::AbortHandle>,
    /// What the writer needs to write notifications (public URL, outbox bound): this
    /// store's own, as with SQLite, so servers in one process never share them.
    pub(super) alerts: std::sync::Arc<super::AlertSettings>,
}

impl PgStore {
    /// Connects, brings the schema up to date (under an advisory lock, so nodes starting
    /// together apply each migration once), and starts this node's writer.
    pub async fn open(url: &str, opts: StoreOptions) -> Result<PgStore, PgError> {
        // The writer holds one connection per batch; reads and administrative writes share the rest.
        let pool = pool(url, opts.read_pool_size as usize + 2)?;
        migrate::run(&pool).await?;
        let alerts = std::sync::Arc::new(super::AlertSettings::default());
        let writer = PgWriter::start(pool.clone(), alerts.clone(), opts.queue_capacity, opts.batch_max);
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let config = tokio_postgres::Config::from_str(url).map_err(|e| PgError::Url(e.to_string()))?;
        let watcher = config_watch::spawn(config, generation.clone()).abort_handle();
        Ok(PgStore {
            pool,
            writer,
            generation,
            watcher: std::sync::Arc::new(watcher),
            alerts,
        })
    }

    /// This node's caches refetch at once after its own change (other nodes hear of it
    /// through the change's notification).
    fn config_changed(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    // ---------------------------------------------------------------- lifecycle and health

    pub fn schema_version(&self) -> usize {
        migrate::latest_version() as usize
    }

    /// Stops taking events and blocks until the writer has committed what is queued; call it
    /// off the async runtime's worker threads (`spawn_blocking`), as with SQLite.
    pub fn shutdown(&self) {
        self.watcher.abort();
        self.writer.shutdown();
        self.pool.close();
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn queue_depth(&self) -> usize {
        self.writer.queue_depth()
    }

    pub fn queue_capacity(&self) -> usize {
        self.writer.queue_capacity()
    }

    /// A real write, committed: a read-only replica or a full disk shows here.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        tx.execute(
            "UPDATE errata_schema SET applied = applied WHERE version = $1",
            &[&migrate::latest_version()],
        )
        .await
        .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }

    pub async fn counts(&self) -> Result<super::StoreCounts, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM issues)",
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(super::StoreCounts {
            events: row.get(0),
            issues: row.get(1),
        })
    }

    /// Unknown here (the database's files are on its own server): 0.
    pub fn disk_bytes(&self) -> u64 {
        0
    }

    // ---------------------------------------------------------------- ingest

    pub fn announce(&self) -> Announced {
        self.writer.announce()
    }

    /// Queues an event and waits until the transaction holding it has committed.
    pub async fn store_event(&self, record: EventRecord, announced: Option<&Announced>) -> Result<Stored, StoreError> {
        Ok(self.writer.store_event(record, announced).await?)
    }

    /// Adds tallied outcomes and counts rate-limited events on their known issues, in one
    /// transaction.
    pub async fn flush_counts(
        &self,
        outcomes: Vec<super::OutcomeRow>,
        limited: Vec<super::LimitedCount>,
    ) -> Result<(), StoreError> {
        counts::flush(&self.pool, &outcomes, &limited).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- organizations, projects, keys

    pub async fn bootstrap_if_empty(&self) -> Result<Option<super::Bootstrap>, StoreError> {
        Ok(admin::bootstrap_if_empty(&self.pool).await?)
    }

    pub async fn project_by_id(&self, id: i64) -> Result<super::Project, StoreError> {
        Ok(admin::project_by_id(&self.pool, id).await?)
    }

    pub async fn key_by_public(&self, public_key: &str) -> Result<Option<super::ProjectKey>, StoreError> {
        Ok(admin::key_by_public(&self.pool, public_key).await?)
    }

    // ---------------------------------------------------------------- issues and events

    pub async fn issue(&self, id: i64) -> Result<super::Issue, StoreError> {
        Ok(read::issue(&self.pool, id).await?)
    }

    pub async fn issue_by_short_id(&self, project_id: i64, short_id: i64) -> Result<super::Issue, StoreError> {
        Ok(read::issue_by_short_id(&self.pool, project_id, short_id).await?)
    }

    pub async fn hash_owners(
        &self,
        project_id: i64,
        hashes: Vec<String>,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        Ok(read::hash_owners(&self.pool, project_id, hashes).await?)
    }

    pub async fn event(&self, project_id: i64, event_id: &EventId) -> Result<super::StoredEvent, StoreError> {
        Ok(read::event(&self.pool, project_id, event_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_schemes_select_the_postgres_backend() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("PostgreSQL://u@%2Ftmp/db"));
        assert!(!is_postgres_url("/var/lib/errata/errata.sqlite3"));
        assert!(!is_postgres_url("sqlite:///x"));
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://errata:s3cret@db.internal:5432/errata?sslmode=require&password=x"),
            "postgres://errata:***@db.internal:5432/errata"
        );
        assert_eq!(redact_url("postgres://errata@%2Ftmp/db"), "postgres://errata@%2Ftmp/db");
        assert!(!redact_url("host=/tmp password=s3cret").contains("s3cret"));
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let err = match pool("postgres://user:s3cret@host:notaport/db", 2) {
            Err(e) => e.to_string(),
            Ok(_) => String::from("accepted"),
        };
        assert!(err.starts_with("invalid PostgreSQL database URL"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
