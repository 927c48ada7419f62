//! How Errata's own value types are stored in PostgreSQL columns.

use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::ids::{EventId, IssueStatus};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for IssueStatus {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        self.as_str().to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for IssueStatus {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let s = <&str as FromSql>::from_sql(ty, raw)?;
        IssueStatus::parse(s).ok_or_else(|| format!("unknown issue status {s:?}").into())
    }
    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// An event id is a `uuid` column: its 16 bytes, the same as on SQLite.
impl ToSql for EventId {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        uuid::Uuid::from_bytes(self.to_bytes()).to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        <uuid::Uuid as ToSql>::accepts(ty)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for EventId {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let uuid = <uuid::Uuid as FromSql>::from_sql(ty, raw)?;
        Ok(EventId::from_bytes(uuid.into_bytes()))
    }
    fn accepts(ty: &Type) -> bool {
        <uuid::Uuid as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_travel_as_the_uuid_of_their_bytes() {
        let id = EventId::parse("52df9022835246eeb317dbd739ccd059").unwrap();
        assert!(<EventId as ToSql>::accepts(&Type::UUID));
        assert!(!<EventId as ToSql>::accepts(&Type::TEXT));
        let mut out = bytes::BytesMut::new();
        id.to_sql(&Type::UUID, &mut out).unwrap();
        assert_eq!(&out[..], &id.to_bytes()[..]);
        assert_eq!(EventId::from_sql(&Type::UUID, &out).unwrap(), id);
        assert!(EventId::from_sql(&Type::UUID, &[1, 2, 3]).is_err());
    }
}
