//! Storage: the only module that touches SQLite.
//!
//! One writer thread owns the write connection and commits events in batches
//! (`writer`); reads go through a small pool of read-only connections (`read`).
//! Administrative writes (projects, keys, tokens, issue updates) are plain
//! functions over a connection (`admin`), run by the writer thread while the
//! server is up and directly by the CLI otherwise.

pub mod admin;
pub mod backup;
pub mod ingest;
pub mod migrate;
pub mod model;
pub mod outcomes;
pub mod postgres;
pub mod read;
pub mod retention;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

pub use model::*;
pub use writer::{Announced, StoreOptions, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("read pool error: {0}")]
    Pool(#[from] r2d2::Error),
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

impl StoreError {
    /// SQLITE_FULL and I/O errors on write mean "try later", not "bad request".
    pub fn from_write(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            _ => StoreError::Sqlite(e),
        }
    }
}

pub type ReadPool = r2d2::Pool<SqliteConnectionManager>;

/// Handle to the database: the writer's queue and the read pool. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub writer: Writer,
    pub reads: ReadPool,
    pub path: Arc<PathBuf>,
    /// Bumped by every change to projects, keys or settings, so caches know to refetch.
    pub config_generation: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path` and starts the writer.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        let mut conn = open_write_connection(path, opts.synchronous_full)?;
        migrate::run(&mut conn)?;
        let config_generation = Arc::new(AtomicU64::new(1));
        let writer = Writer::start(conn, opts, config_generation.clone());
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
        Ok(Store {
            writer,
            reads,
            path: Arc::new(path.to_path_buf()),
            config_generation,
        })
    }

    pub fn generation(&self) -> u64 {
        self.config_generation.load(Ordering::Acquire)
    }

    /// Runs `f` on a read connection off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
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
}

/// The writer's page cache, in KiB (negative: SQLite's unit for KiB). Kept small on purpose:
/// when a B-tree page split swaps page numbers, SQLite parks a page under the 1 GiB
/// "pending byte" page number, and the commit then walks the whole page cache to drop
/// pages past the end of the file (while the file is under 1 GiB). With 16 MB that walk cost ~2.5% of the server's
/// CPU under load; with 4 MB, ~0.8%. Pages that fall out are still in the OS page cache.
const WRITER_CACHE_KIB: i64 = -4000;

/// Opens the read-write connection with the pragmas every writer needs.
pub fn open_write_connection(path: &Path, synchronous_full: bool) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Migration(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path)?;
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

/// Current time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
