//! How Errata's own value types are stored in SQLite columns.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::ids::{EventId, IssueStatus};

impl ToSql for IssueStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for IssueStatus {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let raw = v.as_str()?;
        IssueStatus::parse(raw).ok_or_else(|| FromSqlError::Other(format!("unknown issue status {raw:?}").into()))
    }
}

/// An event id is a 16-byte BLOB: half the size of its hex digits in the row and in the
/// `(project_id, event_id)` indexes.
impl ToSql for EventId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_bytes().to_vec()))
    }
}

impl FromSql for EventId {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let raw = v.as_blob()?;
        let bytes = <[u8; 16]>::try_from(raw).map_err(|_| FromSqlError::InvalidBlobSize {
            expected_size: 16,
            blob_size: raw.len(),
        })?;
        Ok(EventId::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn event_ids_are_stored_as_16_byte_blobs_and_read_back() {
        let conn = Connection::open_in_memory().unwrap();
        let id = EventId::parse("52df9022835246eeb317dbd739ccd059").unwrap();
        let (kind, size, hex): (String, i64, String) = conn
            .query_row("SELECT typeof(?1), length(?1), lower(hex(?1))", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((kind.as_str(), size, hex.as_str()), ("blob", 16, id.as_str()));
        let back: EventId = conn.query_row("SELECT ?1", [id], |r| r.get(0)).unwrap();
        assert_eq!(back, id);
        let from_hex: EventId = conn
            .query_row("SELECT unhex('52DF9022835246EEB317DBD739CCD059')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(from_hex, id, "the migration's unhex() gives the same bytes");
    }

    #[test]
    fn a_blob_of_another_size_or_text_is_not_an_event_id() {
        let conn = Connection::open_in_memory().unwrap();
        let short = conn.query_row("SELECT x'0102'", [], |r| r.get::<_, EventId>(0));
        assert!(short.is_err());
        let text = conn.query_row("SELECT '52df9022835246eeb317dbd739ccd059'", [], |r| {
            r.get::<_, EventId>(0)
        });
        assert!(text.is_err());
    }
}
