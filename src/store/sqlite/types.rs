//! How Errata's own value types are stored in SQLite columns.

use crate::ids::IssueStatus;

impl rusqlite::types::ToSql for IssueStatus {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for IssueStatus {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let raw = v.as_str()?;
        IssueStatus::parse(raw)
            .ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("unknown issue status {raw:?}").into()))
    }
}
