//! What the ingest edge keeps beside events on PostgreSQL — attachments and user reports
//! (`sqlite/ingest.rs`) — and the outcome rows read back for the stats API
//! (`sqlite/outcomes.rs`). Same rules: neither attachments nor reports are kept for an event
//! that is not stored.

use deadpool_postgres::GenericClient;
use serde_json::json;
use tokio_postgres::Row;

use super::PgStore;
use super::projects::Pg;
use crate::store::{AttachmentInfo, EventId, NewAttachment, OutcomeRow, StoreError, UserReport, now_us};

const ATTACHMENT_COLUMNS: &str = "id, event_id, name, content_type, attachment_type, size, date_created";

fn attachment_from_row(r: &Row) -> AttachmentInfo {
    AttachmentInfo {
        id: r.get(0),
        event_id: r.get(1),
        name: r.get(2),
        content_type: r.get(3),
        attachment_type: r.get(4),
        size: r.get(5),
        date_created: r.get(6),
    }
}

/// Keeps attachments with their stored event; returns how many were kept.
async fn insert_attachments(
    c: &impl GenericClient,
    project_id: i64,
    event_id: &EventId,
    attachments: &[NewAttachment],
) -> Result<usize, StoreError> {
    if attachments.is_empty() {
        return Ok(0);
    }
    // Locks the event row: an event deleted meanwhile (retention on another node) takes its
    // attachments with it instead of failing the foreign key here.
    let exists = c
        .query_opt(
            "SELECT 1 FROM events WHERE project_id = $1 AND event_id = $2 FOR KEY SHARE",
            &[&project_id, &event_id],
        )
        .await
        .pg()?
        .is_some();
    if !exists {
        return Ok(0);
    }
    let stmt = c
        .prepare(
            "INSERT INTO event_attachments (project_id, event_id, name, content_type, attachment_type, size, data, \
             date_created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .pg()?;
    let now = now_us();
    for a in attachments {
        c.execute(
            &stmt,
            &[
                &project_id,
                &event_id,
                &a.name,
                &a.content_type,
                &a.attachment_type,
                &(a.data.len() as i64),
                &a.data,
                &now,
            ],
        )
        .await
        .pg()?;
    }
    Ok(attachments.len())
}

/// Saves a user report on its stored event (a later one for the same event replaces it)
/// and adds it to the event's payload as `user_report`; whether it was kept.
async fn save_user_report(c: &impl GenericClient, project_id: i64, report: &UserReport) -> Result<bool, StoreError> {
    // FOR UPDATE: two reports on one event from two nodes rewrite the payload one after the other.
    let payload: Option<Vec<u8>> = c
        .query_opt(
            "SELECT payload FROM events WHERE project_id = $1 AND event_id = $2 FOR UPDATE",
            &[&project_id, &report.event_id],
        )
        .await
        .pg()?
        .map(|r| r.get(0));
    let Some(payload) = payload else {
        return Ok(false);
    };
    let now = now_us();
    let id: i64 = c
        .query_one(
            "INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, event_id) DO UPDATE SET \
             name = excluded.name, email = excluded.email, comments = excluded.comments, \
             date_created = excluded.date_created RETURNING id",
            &[
                &project_id,
                &report.event_id,
                &report.name,
                &report.email,
                &report.comments,
                &now,
            ],
        )
        .await
        .pg()?
        .get(0);
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
    c.execute(
        "UPDATE events SET payload = $3 WHERE project_id = $1 AND event_id = $2",
        &[&project_id, &report.event_id, &payload],
    )
    .await
    .pg()?;
    Ok(true)
}

impl PgStore {
    /// Attachments and user reports of one envelope, in one transaction.
    pub async fn store_extras(
        &self,
        project_id: i64,
        event_id: Option<EventId>,
        attachments: Vec<NewAttachment>,
        reports: Vec<UserReport>,
    ) -> Result<(usize, Vec<bool>), StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let kept = match &event_id {
            Some(event_id) => insert_attachments(&tx, project_id, event_id, &attachments).await?,
            None => 0,
        };
        let mut attached = Vec::with_capacity(reports.len());
        for report in &reports {
            attached.push(save_user_report(&tx, project_id, report).await?);
        }
        tx.commit().await.pg()?;
        Ok((kept, attached))
    }

    /// The attachments of one event, in the order they arrived.
    pub async fn attachments(&self, project_id: i64, event_id: &EventId) -> Result<Vec<AttachmentInfo>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM event_attachments WHERE project_id = $1 AND event_id = $2 \
                     ORDER BY id"
                ),
                &[&project_id, &event_id],
            )
            .await
            .pg()?;
        Ok(rows.iter().map(attachment_from_row).collect())
    }

    /// One attachment with its bytes.
    pub async fn attachment(
        &self,
        project_id: i64,
        event_id: &EventId,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        let client = self.pool.get().await.pg()?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {ATTACHMENT_COLUMNS}, data FROM event_attachments \
                     WHERE project_id = $1 AND event_id = $2 AND id = $3"
                ),
                &[&project_id, &event_id, &id],
            )
            .await
            .pg()?
            .ok_or(StoreError::NotFound("attachment"))?;
        Ok((attachment_from_row(&row), row.get(7)))
    }

    /// A project's outcome rows with `since <= day <= until`, oldest first. Text is ordered
    /// bytewise (`COLLATE "C"`), as SQLite orders it, whatever the database's locale.
    pub async fn outcomes(&self, project_id: i64, since: &str, until: &str) -> Result<Vec<OutcomeRow>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(
                "SELECT day, category, outcome, reason, quantity FROM outcomes \
                 WHERE project_id = $1 AND day COLLATE \"C\" >= $2 AND day COLLATE \"C\" <= $3 \
                 ORDER BY day COLLATE \"C\", category COLLATE \"C\", outcome COLLATE \"C\", reason COLLATE \"C\"",
                &[&project_id, &since, &until],
            )
            .await
            .pg()?;
        Ok(rows
            .iter()
            .map(|r| OutcomeRow {
                project_id,
                day: r.get(0),
                category: r.get(1),
                outcome: r.get(2),
                reason: r.get(3),
                quantity: r.get(4),
            })
            .collect())
    }
}
