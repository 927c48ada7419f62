//! Issue activity, organization tag keys and trace lookups on PostgreSQL: the same rows and
//! order as `sqlite/activity.rs`.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;

use super::events::{EVENT_COLUMNS, event_from_row};
use super::issues::TxError;
use super::{PgError, PgStore};
use crate::store::{Activity, NewActivity, StoreError, StoredEvent, TagKeyCount};

const COLUMNS: &str = "id, issue_id, kind, data, actor, date_created";

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn decode(r: &Row) -> Result<Activity, StoreError> {
    let data: String = r.get(3);
    let actor: Option<String> = r.get(4);
    Ok(Activity {
        id: r.get(0),
        issue_id: r.get(1),
        kind: r.get(2),
        data: serde_json::from_str(&data).map_err(corrupt)?,
        actor: actor
            .map(|a| serde_json::from_str::<Value>(&a))
            .transpose()
            .map_err(corrupt)?,
        date_created: r.get(5),
    })
}

/// Writes one activity row with `client` (a transaction when it goes with other changes);
/// NotFound when the issue is gone.
pub async fn insert(client: &impl GenericClient, issue_id: i64, new: &NewActivity) -> Result<Activity, TxError> {
    let data = new.data.to_string();
    let actor = new.actor.as_ref().map(Value::to_string);
    let row = client
        .query_opt(
            &format!(
                "INSERT INTO issue_activity (issue_id, kind, data, actor, date_created) \
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM issues WHERE id = $1) \
                 RETURNING {COLUMNS}"
            ),
            &[&issue_id, &new.kind, &data, &actor, &new.date_created],
        )
        .await?;
    let row = row.ok_or(TxError::Refused(StoreError::NotFound("issue")))?;
    decode(&row).map_err(TxError::Refused)
}

impl PgStore {
    pub async fn add_activity(&self, issue_id: i64, new: NewActivity) -> Result<Activity, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(insert(&client, issue_id, &new).await?)
    }

    pub async fn update_note(&self, issue_id: i64, note_id: i64, data: Value) -> Result<Activity, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE issue_activity SET data = $3 WHERE id = $1 AND issue_id = $2 AND kind = 'note' \
                     RETURNING {COLUMNS}"
                ),
                &[&note_id, &issue_id, &data.to_string()],
            )
            .await
            .map_err(PgError::from)?
            .ok_or(StoreError::NotFound("note"))?;
        decode(&row)
    }

    pub async fn delete_note(&self, issue_id: i64, note_id: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let n = client
            .execute(
                "DELETE FROM issue_activity WHERE id = $1 AND issue_id = $2 AND kind = 'note'",
                &[&note_id, &issue_id],
            )
            .await
            .map_err(PgError::from)?;
        if n == 0 {
            return Err(StoreError::NotFound("note"));
        }
        Ok(())
    }

    pub async fn issue_activity(
        &self,
        issue_id: i64,
        notes_only: bool,
        limit: usize,
    ) -> Result<Vec<Activity>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let filter = if notes_only { " AND kind = 'note'" } else { "" };
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM issue_activity WHERE issue_id = $1{filter} ORDER BY id DESC LIMIT $2"),
                &[&issue_id, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(PgError::from)?;
        rows.iter().map(decode).collect()
    }

    pub async fn tag_keys(
        &self,
        project_ids: Vec<i64>,
        since_us: i64,
        limit: usize,
    ) -> Result<Vec<TagKeyCount>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                "SELECT t.key, sum(t.times_seen)::bigint, count(DISTINCT t.value) FROM issue_tags t \
                 JOIN issues i ON i.id = t.issue_id \
                 WHERE t.last_seen >= $1 AND i.project_id = ANY($2) \
                 GROUP BY t.key ORDER BY sum(t.times_seen) DESC, t.key COLLATE \"C\" LIMIT $3",
                &[&since_us, &project_ids, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|r| TagKeyCount {
                key: r.get(0),
                total_values: r.get(1),
                unique_values: r.get(2),
            })
            .collect())
    }

    pub async fn trace_events(
        &self,
        project_ids: Vec<i64>,
        trace_id: String,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE trace_id = $1 AND project_id = ANY($2) \
                     ORDER BY timestamp DESC, id DESC LIMIT $3"
                ),
                &[&trace_id, &project_ids, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?)
    }
}
