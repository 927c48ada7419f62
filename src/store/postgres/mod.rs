//! The PostgreSQL backend: several Errata nodes on one database.
//!
//! Each node keeps its own group commit (`writer`: one transaction per batch of events), and
//! every cross-node guarantee comes from the database itself — unique constraints with
//! `ON CONFLICT`, additive counter updates, per-project short ids taken with
//! `UPDATE … RETURNING`, and an advisory lock around migrations — never from a cache in one
//! process. Connections come from a deadpool pool over tokio-postgres.

pub mod admin;
pub mod migrate;
pub mod read;
pub mod writer;

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{EventRecord, Stored};
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

#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// Events that may wait for this node's writer; past this, ingest answers 429.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub batch_max: usize,
    /// Connections this node opens at most (the writer takes one per batch).
    pub pool_size: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            batch_max: 1024,
            pool_size: 8,
        }
    }
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

/// Handle to a PostgreSQL database: the pool and this node's writer. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pub pool: Pool,
    pub writer: PgWriter,
}

impl PgStore {
    /// Connects, brings the schema up to date (under an advisory lock, so nodes starting
    /// together apply each migration once), and starts this node's writer.
    pub async fn open(url: &str, opts: PgOptions) -> Result<PgStore, PgError> {
        let pool = pool(url, opts.pool_size)?;
        migrate::run(&pool).await?;
        let writer = PgWriter::start(pool.clone(), opts);
        Ok(PgStore { pool, writer })
    }

    /// Queues an event and waits until the transaction holding it has committed.
    pub async fn store_event(&self, record: EventRecord) -> Result<Stored, PgError> {
        self.writer.store_event(record).await
    }

    /// Stops taking events, lets the writer commit what is queued, and closes the pool.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
        self.pool.close();
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
    fn a_bad_url_is_refused_without_repeating_it() {
        let err = match pool("postgres://user:s3cret@host:notaport/db", 2) {
            Err(e) => e.to_string(),
            Ok(_) => String::from("accepted"),
        };
        assert!(err.starts_with("invalid PostgreSQL database URL"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
