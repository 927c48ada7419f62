//! The `outcomes` table: the tally's rows added per project, day, category, outcome and
//! reason, and read back for the stats API.

use rusqlite::{Connection, Transaction, params};

use super::{OutcomeRow, StoreError};

/// Adds rows to the table (upsert per project, day, category, outcome, reason).
pub fn write(tx: &Transaction, rows: &[OutcomeRow]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?1) \
         ON CONFLICT (project_id, day, category, outcome, reason) DO UPDATE SET quantity = quantity + excluded.quantity",
    )?;
    for r in rows {
        stmt.execute(params![
            r.project_id,
            r.day,
            r.category,
            r.outcome,
            r.reason,
            r.quantity
        ])?;
    }
    Ok(())
}

/// A project's outcome rows with `since <= day <= until` (inclusive, `YYYY-MM-DD`), oldest first.
pub fn read(conn: &Connection, project_id: i64, since: &str, until: &str) -> Result<Vec<OutcomeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, category, outcome, reason, quantity FROM outcomes \
         WHERE project_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, category, outcome, reason",
    )?;
    let rows = stmt.query_map(params![project_id, since, until], |r| {
        Ok(OutcomeRow {
            project_id,
            day: r.get(0)?,
            category: r.get(1)?,
            outcome: r.get(2)?,
            reason: r.get(3)?,
            quantity: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
