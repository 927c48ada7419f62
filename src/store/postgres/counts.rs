//! What ingest tallies in memory and flushes now and then, on PostgreSQL: outcome counts per
//! project and day, and rate-limited events counted on the issues their hashes already
//! belong to. Every write adds to what the row holds, in key order, so flushes from several
//! nodes at once add up exactly and do not deadlock one another.

use std::collections::BTreeMap;

use deadpool_postgres::Pool;

use super::PgError;
use crate::store::{LimitedCount, OutcomeRow};

/// Adds the outcome rows and the rate-limited counts in one transaction; returns how many
/// rate-limited events were counted (those of unknown issues open nothing).
pub async fn flush(pool: &Pool, rows: &[OutcomeRow], limited: &[LimitedCount]) -> Result<i64, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;

    let mut outcomes: BTreeMap<(i64, &str, &str, &str, &str), i64> = BTreeMap::new();
    for r in rows {
        *outcomes
            .entry((r.project_id, &r.day, &r.category, &r.outcome, &r.reason))
            .or_default() += r.quantity;
    }
    if !outcomes.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((project, day, category, outcome, reason), quantity) in outcomes {
            columns.0.push(project);
            columns.1.push(day);
            columns.2.push(category);
            columns.3.push(outcome);
            columns.4.push(reason);
            columns.5.push(quantity);
        }
        // Rows of a project deleted meanwhile are dropped, as with SQLite.
        tx.execute(
            "INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) \
             SELECT u.* FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
             AS u(project_id, day, category, outcome, reason, quantity) \
             WHERE EXISTS (SELECT 1 FROM projects p WHERE p.id = u.project_id) ORDER BY 1, 2, 3, 4, 5 \
             ON CONFLICT (project_id, day, category, outcome, reason) \
             DO UPDATE SET quantity = outcomes.quantity + excluded.quantity",
            &[&columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5],
        )
        .await?;
    }

    // Resolve every count to its issue first, then write per issue and hour in id order.
    let mut per_issue: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut per_hour: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut counted = 0;
    for c in limited {
        let owners = tx
            .query(
                "SELECT hash, issue_id FROM issue_hashes WHERE project_id = $1 AND hash = ANY($2)",
                &[&c.project_id, &c.hashes],
            )
            .await?;
        // The first hash that has an issue decides, as for a stored event.
        let issue = c.hashes.iter().find_map(|h| {
            owners
                .iter()
                .find(|r| r.get::<_, &str>(0) == h)
                .map(|r| r.get::<_, i64>(1))
        });
        let Some(issue_id) = issue else {
            continue;
        };
        let entry = per_issue.entry(issue_id).or_insert((0, c.last_seen));
        entry.0 += c.count;
        entry.1 = entry.1.max(c.last_seen);
        *per_hour.entry((issue_id, c.hour)).or_default() += c.count;
        counted += c.count;
    }
    for (issue_id, (count, last_seen)) in &per_issue {
        tx.execute(
            "UPDATE issues SET times_seen = times_seen + $2, last_seen = greatest(last_seen, $3) WHERE id = $1",
            &[issue_id, count, last_seen],
        )
        .await?;
    }
    if !per_hour.is_empty() {
        let (mut ids, mut hours, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for ((issue_id, hour), count) in per_hour {
            ids.push(issue_id);
            hours.push(hour);
            counts.push(count);
        }
        tx.execute(
            "INSERT INTO issue_hourly (issue_id, hour, count) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) ORDER BY 1, 2 \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + excluded.count",
            &[&ids, &hours, &counts],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(counted)
}
