//! Store functions for what the ingest edge keeps beside events: attachments, user
//! reports, the counts of rate-limited events on their known issues, and per-key
//! allowed origins.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::json;

use super::{AttachmentInfo, EventId, LimitedCount, NewAttachment, StoreError, UserReport, now_us};

fn event_exists(conn: &Connection, project_id: i64, event_id: &EventId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM events WHERE project_id = ?1 AND event_id = ?2")?
        .query_row(params![project_id, event_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Keeps attachments with their stored event; returns how many were kept (0 when the
/// event is not stored: attachments never outlive or precede their event).
pub fn insert_attachments(
    tx: &Transaction,
    project_id: i64,
    event_id: &EventId,
    attachments: &[NewAttachment],
) -> Result<usize, StoreError> {
    if attachments.is_empty() || !event_exists(tx, project_id, event_id)? {
        return Ok(0);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO event_attachments (project_id, event_id, name, content_type, attachment_type, size, data, \
         date_created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let now = now_us();
    for a in attachments {
        stmt.execute(params![
            project_id,
            event_id,
            a.name,
            a.content_type,
            a.attachment_type,
            a.data.len() as i64,
            a.data,
            now
        ])?;
    }
    Ok(attachments.len())
}

const ATTACHMENT_COLUMNS: &str = "id, event_id, name, content_type, attachment_type, size, date_created";

fn attachment_from_row(r: &rusqlite::Row) -> rusqlite::Result<AttachmentInfo> {
    Ok(AttachmentInfo {
        id: r.get(0)?,
        event_id: r.get(1)?,
        name: r.get(2)?,
        content_type: r.get(3)?,
        attachment_type: r.get(4)?,
        size: r.get(5)?,
        date_created: r.get(6)?,
    })
}

/// The attachments of one event, in the order they arrived.
pub fn attachments(conn: &Connection, project_id: i64, event_id: &EventId) -> Result<Vec<AttachmentInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM event_attachments WHERE project_id = ?1 AND event_id = ?2 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![project_id, event_id], attachment_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One attachment with its bytes.
pub fn attachment(
    conn: &Connection,
    project_id: i64,
    event_id: &EventId,
    id: i64,
) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS}, data FROM event_attachments WHERE project_id = ?1 AND event_id = ?2 AND id = ?3"
    ))?
    .query_row(params![project_id, event_id, id], |r| {
        Ok((attachment_from_row(r)?, r.get::<_, Vec<u8>>(7)?))
    })
    .optional()?
    .ok_or(StoreError::NotFound("attachment"))
}

/// Saves a user report on its stored event (a later one for the same event replaces it)
/// and adds it to the event as `user_report`. A report on an event that is not stored is
/// not kept: it names an event id the sender chose, so keeping it would let anyone with
/// the DSN fill the table. Returns whether the report was kept.
pub fn save_user_report(tx: &Transaction, project_id: i64, report: &UserReport) -> Result<bool, StoreError> {
    let payload: Option<Vec<u8>> = tx
        .prepare_cached("SELECT payload FROM events WHERE project_id = ?1 AND event_id = ?2")?
        .query_row(params![project_id, report.event_id], |r| r.get(0))
        .optional()?;
    let Some(payload) = payload else {
        return Ok(false);
    };
    let now = now_us();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (project_id, event_id) DO UPDATE SET \
             name = excluded.name, email = excluded.email, comments = excluded.comments, \
             date_created = excluded.date_created RETURNING id",
        )?
        .query_row(
            params![
                project_id,
                report.event_id,
                report.name,
                report.email,
                report.comments,
                now
            ],
            |r| r.get(0),
        )?;
    let mut event = crate::store::decode_payload(&payload)?;
    let date = chrono::DateTime::from_timestamp_micros(now)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default();
    let serialized = json!({
        "id": id.to_string(),
        "eventID": report.event_id,
        "name": report.name,
        "email": report.email,
        "comments": report.comments,
        "dateCreated": date,
        "user": null,
        "event": {"id": report.event_id, "eventID": report.event_id},
    });
    if let Some(obj) = event.as_object_mut() {
        obj.insert("user_report".into(), serialized);
    }
    let json = serde_json::to_vec(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let payload = crate::store::payload::compress(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.prepare_cached("UPDATE events SET payload = ?3 WHERE project_id = ?1 AND event_id = ?2")?
        .execute(params![project_id, report.event_id, payload])?;
    Ok(true)
}

/// Counts rate-limited events on the issue their hashes already belong to (times seen,
/// last seen, hourly counts); events of unknown issues open nothing. Returns how many
/// events were counted.
pub fn count_on_known_issues(tx: &Transaction, counts: &[LimitedCount]) -> Result<i64, StoreError> {
    let mut counted = 0;
    for c in counts {
        let mut issue = None;
        for hash in &c.hashes {
            issue = tx
                .prepare_cached("SELECT issue_id FROM issue_hashes WHERE project_id = ?1 AND hash = ?2")?
                .query_row(params![c.project_id, hash], |r| r.get::<_, i64>(0))
                .optional()?;
            if issue.is_some() {
                break;
            }
        }
        let Some(issue_id) = issue else {
            continue;
        };
        tx.prepare_cached(
            "UPDATE issues SET times_seen = times_seen + ?2, last_seen = max(last_seen, ?3) WHERE id = ?1",
        )?
        .execute(params![issue_id, c.count, c.last_seen])?;
        tx.prepare_cached(
            "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, ?3) \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
        )?
        .execute(params![issue_id, c.hour, c.count])?;
        counted += c.count;
    }
    Ok(counted)
}

/// Sets the origins a key accepts browser events from: `*` or a comma-separated list of
/// origins (`https://app.example`), hosts (`app.example`) or wildcards (`*.example`).
pub fn set_allowed_origins(conn: &Connection, key_id: i64, origins: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE project_keys SET allowed_origins = ?2 WHERE id = ?1",
        params![key_id, origins],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::migrate;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        migrate::run(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'o', 'o', 0);
             INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'p', 'p', 0);
             INSERT INTO issues (id, project_id, short_id, title, level, type, first_seen, last_seen, times_seen,
               grouping_config) VALUES (7, 1, 1, 't', 'error', 'error', 10, 10, 1, 'g');
             INSERT INTO issue_hashes (project_id, hash, issue_id, grouping_config) VALUES (1, 'h2', 7, 'g');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn limited_events_count_on_the_issue_of_any_known_hash_only() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let counted = count_on_known_issues(
            &tx,
            &[
                LimitedCount {
                    project_id: 1,
                    hashes: vec!["h1".into(), "h2".into()],
                    hour: 5,
                    count: 3,
                    last_seen: 99,
                },
                LimitedCount {
                    project_id: 1,
                    hashes: vec!["unknown".into()],
                    hour: 5,
                    count: 4,
                    last_seen: 99,
                },
            ],
        )
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(counted, 3);
        let (times, last): (i64, i64) = conn
            .query_row("SELECT times_seen, last_seen FROM issues WHERE id = 7", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((times, last), (4, 99));
        let hourly: i64 = conn
            .query_row(
                "SELECT count FROM issue_hourly WHERE issue_id = 7 AND hour = 5",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hourly, 3);
    }

    #[test]
    fn attachments_and_user_reports_without_a_stored_event_are_not_kept() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let a = NewAttachment {
            name: "a.txt".into(),
            content_type: None,
            attachment_type: "event.attachment".into(),
            data: b"x".to_vec(),
        };
        assert_eq!(insert_attachments(&tx, 1, &EventId::named("1"), &[a]).unwrap(), 0);
        let report = UserReport {
            event_id: EventId::named("1"),
            name: "n".into(),
            email: "e".into(),
            comments: "c".into(),
        };
        assert!(!save_user_report(&tx, 1, &report).unwrap());
        tx.commit().unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM user_reports", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "a report on an unknown event is not kept");
    }
}
