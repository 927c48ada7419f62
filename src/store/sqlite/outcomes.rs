//! The `outcomes` table: the tally's rows added per project, day, category, outcome and
//! reason (capped per project and day), read back for the stats API, and aged out.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{OutcomeRow, StoreError};
use crate::store::outcomes::MAX_ROWS_PER_PROJECT_DAY;

/// Adds rows to the table (upsert per project, day, category, outcome, reason). A row that
/// would be new for a project and day that already has [`MAX_ROWS_PER_PROJECT_DAY`] rows
/// is added to its `overflow` row instead.
pub fn write(tx: &Transaction, rows: &[OutcomeRow]) -> Result<(), StoreError> {
    let mut counts: HashMap<(i64, String), i64> = HashMap::new();
    let mut exists = tx.prepare_cached(
        "SELECT 1 FROM outcomes WHERE project_id = ?1 AND day = ?2 AND category = ?3 AND outcome = ?4 AND reason = ?5",
    )?;
    let mut count = tx.prepare_cached("SELECT count(*) FROM outcomes WHERE project_id = ?1 AND day = ?2")?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?1) \
         ON CONFLICT (project_id, day, category, outcome, reason) DO UPDATE SET quantity = quantity + excluded.quantity",
    )?;
    for r in rows {
        let mut reason = r.reason.as_str();
        let known = exists
            .query_row(params![r.project_id, r.day, r.category, r.outcome, reason], |_| Ok(()))
            .optional()?
            .is_some();
        if !known {
            let day_rows = match counts.get_mut(&(r.project_id, r.day.clone())) {
                Some(n) => n,
                None => {
                    let n: i64 = count.query_row(params![r.project_id, r.day], |row| row.get(0))?;
                    counts.entry((r.project_id, r.day.clone())).or_insert(n)
                }
            };
            if *day_rows >= MAX_ROWS_PER_PROJECT_DAY {
                reason = "overflow";
            }
            *day_rows += 1;
        }
        stmt.execute(params![r.project_id, r.day, r.category, r.outcome, reason, r.quantity])?;
    }
    Ok(())
}

/// Deletes up to `limit` rows of days before `cutoff_day` (`YYYY-MM-DD`); returns how many.
pub fn delete_before(conn: &Connection, cutoff_day: &str, limit: usize) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
         (SELECT project_id, day, category, outcome, reason FROM outcomes WHERE day < ?1 ORDER BY day LIMIT ?2)",
        params![cutoff_day, limit as i64],
    )?)
}

/// Deletes up to `limit` rows of the oldest day there is (the size cap); returns how many.
pub fn delete_oldest(conn: &Connection, limit: usize) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
         (SELECT project_id, day, category, outcome, reason FROM outcomes \
          WHERE day = (SELECT min(day) FROM outcomes) LIMIT ?1)",
        params![limit as i64],
    )?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_project_and_day_are_capped_into_overflow() {
        let mut conn = Connection::open_in_memory().expect("db");
        crate::store::sqlite::migrate::run(&mut conn).expect("migrations");
        conn.execute_batch(
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'o', 'o', 0);
             INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'p', 'p', 0);",
        )
        .expect("seed");
        let row = |reason: String| OutcomeRow {
            project_id: 1,
            day: "2026-01-01".into(),
            category: "error".into(),
            outcome: "client_discard".into(),
            reason,
            quantity: 1,
        };
        let rows: Vec<OutcomeRow> = (0..MAX_ROWS_PER_PROJECT_DAY + 300)
            .map(|n| row(format!("r{n}")))
            .collect();
        let tx = conn.transaction().expect("tx");
        write(&tx, &rows).expect("write");
        write(&tx, &[row("r0".into()), row("new".into())]).expect("write again");
        tx.commit().expect("commit");
        let (n, overflow): (i64, i64) = conn
            .query_row(
                "SELECT count(*), sum(CASE WHEN reason = 'overflow' THEN quantity END) FROM outcomes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("count");
        assert_eq!(n, MAX_ROWS_PER_PROJECT_DAY + 1);
        assert_eq!(overflow, 301, "every row past the cap is still counted");
    }
}
