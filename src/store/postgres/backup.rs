//! Backups of a PostgreSQL database are PostgreSQL's own business: `pg_dump` takes a
//! consistent snapshot while every node keeps writing, and `pg_restore` loads it. Errata's
//! `backup` command (SQLite's online backup into a file) refuses and says so.

use std::path::Path;

use super::PgStore;
use crate::store::{BackupReport, StoreError};

/// What `errata backup` answers on PostgreSQL.
pub const USE_PG_DUMP: &str = "a PostgreSQL database is backed up with pg_dump, not `errata backup`: \
     `pg_dump --format=custom --file=errata.dump \"$ERRATA_DATABASE_URL\"` takes a consistent copy while \
     the nodes keep running; `pg_restore --dbname=URL errata.dump` loads it into an empty database \
     (see the README, \"Several nodes on PostgreSQL\")";

impl PgStore {
    pub async fn backup(&self, _dest: &Path) -> Result<BackupReport, StoreError> {
        Err(StoreError::Conflict(USE_PG_DUMP.into()))
    }
}
