//! Retention and disk budget: which rows to delete, in small batches, and how to give the
//! space back. Each function is one short step meant to run as its own writer job, so
//! ingestion interleaves with housekeeping instead of waiting behind it.
//!
//! Every table is covered. Events go by age; their attachments (foreign key) and user
//! reports (trigger) go with them. Outcomes, hourly counts and tag values go when their
//! day, hour or last sighting is past the retention period, and an issue goes once it has
//! no events left and was last seen before it. An issue's `times_seen` and user count are
//! lifetime figures while the issue lives: deleting an event forgets its payload, not that
//! it happened.
//!
//! The size cap deletes the oldest events first, then, with no events left, the oldest
//! rows of the other tables; a step that finds nothing to delete returns 0, so the loop
//! driving it ends even when the database stays over the cap.

use rusqlite::{Connection, params};

use super::{IssueStep, StoreError};

/// Pages returned to the file system per reclaim step.
pub const RECLAIM_PAGES: i64 = 2000;
/// Free pages tolerated before reclaiming: small free lists are reused by new events anyway.
pub const RECLAIM_THRESHOLD: i64 = 256;

/// Deletes up to `limit` of the oldest events received before `cutoff_us`; returns how many.
///
/// Events are read in id order, which is the order they were stored, so the expired ones
/// form a prefix: the step reads at most `limit` rows and never scans the table.
pub fn delete_expired(conn: &Connection, cutoff_us: i64, limit: usize) -> Result<usize, StoreError> {
    let mut statement = conn.prepare_cached("SELECT id, received FROM events ORDER BY id LIMIT ?1")?;
    let rows = statement.query_map(params![limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut boundary = None;
    for row in rows {
        let (id, received) = row?;
        if received >= cutoff_us {
            break;
        }
        boundary = Some(id);
    }
    match boundary {
        Some(last) => Ok(conn.execute("DELETE FROM events WHERE id <= ?1", params![last])?),
        None => Ok(0),
    }
}

/// Deletes up to `limit` of the oldest events regardless of age (the database size cap).
pub fn delete_oldest(conn: &Connection, limit: usize) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?1)",
        params![limit as i64],
    )?)
}

/// Deletes up to `limit` user reports created before `cutoff_us` (reports normally go with
/// their event; this catches any left behind).
pub fn delete_expired_user_reports(conn: &Connection, cutoff_us: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM user_reports WHERE id IN \
         (SELECT id FROM user_reports WHERE date_created < ?1 ORDER BY date_created LIMIT ?2)",
        params![cutoff_us, limit as i64],
    )?)
}

/// Over the next `limit` issues after id `after`: deletes tag values last seen before
/// `cutoff_us`, hourly counts of hours before it, and the issues themselves when they were
/// last seen before it and have no events left (their hashes, users, tags and counts go by
/// foreign key). Issues are visited by id range, so each step reads only its own rows.
pub fn expire_issue_data(conn: &Connection, after: i64, limit: usize, cutoff_us: i64) -> Result<IssueStep, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(id) FROM (SELECT id FROM issues WHERE id > ?1 ORDER BY id LIMIT ?2)")?
        .query_row(params![after, limit as i64], |r| r.get(0))?;
    let Some(last) = last else {
        return Ok(IssueStep::default());
    };
    let cutoff_hour = cutoff_us.div_euclid(3_600_000_000);
    let mut deleted = conn.execute(
        "DELETE FROM issue_tags WHERE issue_id > ?1 AND issue_id <= ?2 AND last_seen < ?3",
        params![after, last, cutoff_us],
    )?;
    deleted += conn.execute(
        "DELETE FROM issue_hourly WHERE issue_id > ?1 AND issue_id <= ?2 AND hour < ?3",
        params![after, last, cutoff_hour],
    )?;
    deleted += conn.execute(
        "DELETE FROM issue_activity WHERE issue_id > ?1 AND issue_id <= ?2 AND date_created < ?3",
        params![after, last, cutoff_us],
    )?;
    deleted += conn.execute(
        "DELETE FROM issues WHERE id > ?1 AND id <= ?2 AND last_seen < ?3 \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.issue_id = issues.id)",
        params![after, last, cutoff_us],
    )?;
    Ok(IssueStep {
        last: Some(last),
        deleted,
    })
}

/// One step of the size cap: up to `limit` of the oldest rows, taken from the first of
/// these that has any: events (with their attachments and reports), user reports,
/// outcomes (oldest day), hourly counts (oldest hours), tag values (least recently seen),
/// issues without events (least recently seen). Returns how many rows went; 0 means there
/// is nothing left the cap may delete.
pub fn shrink_step(conn: &Connection, limit: usize) -> Result<usize, StoreError> {
    let limit = limit as i64;
    let deleted = delete_oldest(conn, limit as usize)?;
    if deleted > 0 {
        return Ok(deleted);
    }
    for sql in [
        "DELETE FROM user_reports WHERE id IN (SELECT id FROM user_reports ORDER BY date_created LIMIT ?1)",
        "DELETE FROM outcomes WHERE (project_id, day, category, outcome, reason) IN \
         (SELECT project_id, day, category, outcome, reason FROM outcomes ORDER BY day LIMIT ?1)",
        "DELETE FROM issue_hourly WHERE (issue_id, hour) IN \
         (SELECT issue_id, hour FROM issue_hourly ORDER BY hour LIMIT ?1)",
        "DELETE FROM issue_tags WHERE (issue_id, key, value) IN \
         (SELECT issue_id, key, value FROM issue_tags ORDER BY last_seen LIMIT ?1)",
        "DELETE FROM issues WHERE id IN (SELECT id FROM issues i \
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.issue_id = i.id) ORDER BY last_seen LIMIT ?1)",
    ] {
        let deleted = conn.execute(sql, params![limit])?;
        if deleted > 0 {
            return Ok(deleted);
        }
    }
    Ok(0)
}

/// Issues that may hold more than `cap` events, after issue `after`, at most `limit` of them.
/// `times_seen` bounds the stored count, so only those issues are counted.
pub fn issues_over_cap(conn: &Connection, cap: u32, after: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT i.id FROM issues i WHERE i.id > ?2 AND i.times_seen > ?1 \
         AND (SELECT count(*) FROM events e WHERE e.issue_id = i.id) > ?1 ORDER BY i.id LIMIT ?3",
    )?;
    let ids = statement
        .query_map(params![cap, after, limit as i64], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// Ids of the events of `issue_id` beyond its cap: it keeps the first event, the latest
/// `cap / 2` and an evenly spread sample of the rest, `cap` in all. At most `limit` ids.
///
/// The sample keeps index `j` of the `m` middle events when `(j * s) % m >= m - s`, which
/// selects exactly `s` of them, evenly spaced (the steps of a line of slope `s / m`).
pub fn events_beyond_cap(conn: &Connection, issue_id: i64, cap: u32, limit: usize) -> Result<Vec<i64>, StoreError> {
    let cap = i64::from(cap);
    let latest = cap / 2;
    let sample = cap - 1 - latest;
    let mut statement = conn.prepare_cached(
        "SELECT id FROM ( \
           SELECT id, row_number() OVER (ORDER BY id) - 1 AS i, count(*) OVER () AS n \
           FROM events WHERE issue_id = ?1 \
         ) WHERE n > ?2 AND i > 0 AND i < n - ?3 \
           AND (((i - 1) * ?4) % (n - 1 - ?3)) < (n - 1 - ?3) - ?4 \
         ORDER BY id LIMIT ?5",
    )?;
    let ids = statement
        .query_map(params![issue_id, cap, latest, sample, limit as i64], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// Deletes the events with these ids.
pub fn delete_ids(conn: &Connection, ids: &[i64]) -> Result<usize, StoreError> {
    let mut statement = conn.prepare_cached("DELETE FROM events WHERE id = ?1")?;
    let mut deleted = 0;
    for id in ids {
        deleted += statement.execute(params![id])?;
    }
    Ok(deleted)
}

/// Bytes the database's live pages take (free pages excluded).
pub fn used_bytes(conn: &Connection) -> Result<i64, StoreError> {
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    Ok((pages - free) * page_size)
}

/// Returns up to `RECLAIM_PAGES` free pages to the file system (`auto_vacuum=INCREMENTAL`);
/// returns how many free pages remain. Does nothing below `RECLAIM_THRESHOLD`.
pub fn reclaim_step(conn: &Connection) -> Result<i64, StoreError> {
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    if free < RECLAIM_THRESHOLD {
        return Ok(0);
    }
    let mut statement = conn.prepare(&format!("PRAGMA incremental_vacuum({RECLAIM_PAGES})"))?;
    let mut rows = statement.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    Ok(conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::migrate;

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").expect("pragma");
        migrate::run(&mut conn).expect("migrations");
        conn.execute_batch(
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'o', 'o', 0);
             INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'p', 'p', 0);",
        )
        .expect("seed");
        conn
    }

    fn add_issue(conn: &Connection, id: i64, times_seen: i64) {
        conn.execute(
            "INSERT INTO issues (id, project_id, short_id, title, level, type, first_seen, last_seen, times_seen, grouping_config) \
             VALUES (?1, 1, ?1, 't', 'error', 'error', 0, 0, ?2, 'g')",
            params![id, times_seen],
        )
        .expect("issue");
    }

    fn add_event(conn: &Connection, issue: i64, n: i64, received: i64) -> i64 {
        conn.execute(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, grouping_config, size, payload) \
             VALUES (1, ?1, unhex(?2), ?3, ?3, 'error', 'h', 'g', 1, x'00')",
            params![issue, format!("{n:032x}"), received],
        )
        .expect("event");
        conn.last_insert_rowid()
    }

    fn event_ids(conn: &Connection, issue: i64) -> Vec<i64> {
        let mut s = conn
            .prepare("SELECT id FROM events WHERE issue_id = ?1 ORDER BY id")
            .expect("query");
        s.query_map(params![issue], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("ids")
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }

    fn fill_side_tables(conn: &Connection, issue: i64, old: i64, rows: i64) {
        for n in 0..rows {
            conn.execute(
                "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (?1, 'k', ?2, 1, ?3, ?3)",
                params![issue, format!("v{n}"), old],
            )
            .expect("tag");
            conn.execute(
                "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, 1)",
                params![issue, old / 3_600_000_000 - n - 1],
            )
            .expect("hour");
            conn.execute(
                "INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) VALUES (1, '2001-01-01', 'error', 'accepted', ?1, 1)",
                params![format!("r{n}")],
            )
            .expect("outcome");
            conn.execute(
                "INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) VALUES (1, unhex(?1), '', '', 'c', ?2)",
                params![format!("{n:032x}"), old],
            )
            .expect("report");
        }
    }

    #[test]
    fn every_table_expires_and_reports_go_with_their_event() {
        let conn = database();
        conn.pragma_update(None, "foreign_keys", "ON").expect("pragma");
        let old = 1_000_000_000_000_000; // 2001, µs
        let cutoff = old + 1;
        add_issue(&conn, 1, 1); // last seen at 0: old, but it still has an event
        add_issue(&conn, 2, 1); // old and empty: goes
        add_issue(&conn, 3, 1);
        conn.execute("UPDATE issues SET last_seen = ?1 WHERE id = 3", params![cutoff + 10])
            .expect("young");
        add_event(&conn, 1, 9999, cutoff + 5);
        fill_side_tables(&conn, 1, old, 5);
        conn.execute(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (3, 'k', 'young', 1, 0, ?1)",
            params![cutoff + 10],
        )
        .expect("young tag");
        conn.execute(
            "INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) VALUES (1, unhex(?1), '', '', 'c', ?2)",
            params![format!("{:032x}", 9999), cutoff + 5],
        )
        .expect("report on the live event");

        assert_eq!(delete_expired_user_reports(&conn, cutoff, 100).expect("reports"), 5);
        assert_eq!(
            crate::store::sqlite::outcomes::delete_before(&conn, "2001-01-02", 100).expect("outcomes"),
            5
        );
        let mut after = 0;
        let mut deleted = 0;
        while let IssueStep {
            last: Some(last),
            deleted: d,
        } = expire_issue_data(&conn, after, 1, cutoff).expect("issues")
        {
            after = last;
            deleted += d;
        }
        assert_eq!(deleted, 5 + 5 + 1, "old tags, old hours and the empty old issue");
        let issues: Vec<i64> = conn
            .prepare("SELECT id FROM issues ORDER BY id")
            .expect("q")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("ids");
        assert_eq!(issues, vec![1, 3]);
        assert_eq!(count(&conn, "issue_tags"), 1);
        assert_eq!(count(&conn, "user_reports"), 1);
        delete_oldest(&conn, 10).expect("events");
        assert_eq!(count(&conn, "user_reports"), 0, "a report goes with its event");
    }

    #[test]
    fn the_size_cap_reaches_every_table_and_stops_when_nothing_is_left() {
        let conn = database();
        add_issue(&conn, 1, 1);
        add_event(&conn, 1, 1, 0);
        fill_side_tables(&conn, 1, 1_000_000_000_000_000, 7);
        let mut steps = 0;
        while shrink_step(&conn, 3).expect("step") > 0 {
            steps += 1;
            assert!(steps < 100, "the size cap must run out of rows");
        }
        for table in [
            "events",
            "user_reports",
            "outcomes",
            "issue_hourly",
            "issue_tags",
            "issues",
        ] {
            assert_eq!(count(&conn, table), 0, "{table}");
        }
        assert_eq!(shrink_step(&conn, 3).expect("empty"), 0);
    }

    #[test]
    fn expired_events_go_in_batches_and_newer_ones_stay() {
        let conn = database();
        add_issue(&conn, 1, 10);
        for n in 0..10 {
            add_event(&conn, 1, n, if n < 7 { 100 } else { 1_000 });
        }
        assert_eq!(delete_expired(&conn, 500, 4).expect("step"), 4);
        assert_eq!(delete_expired(&conn, 500, 4).expect("step"), 3);
        assert_eq!(delete_expired(&conn, 500, 4).expect("step"), 0);
        assert_eq!(event_ids(&conn, 1).len(), 3);
        let times_seen: i64 = conn
            .query_row("SELECT times_seen FROM issues WHERE id = 1", [], |r| r.get(0))
            .expect("issue");
        assert_eq!(times_seen, 10, "counts are lifetime counts");
    }

    #[test]
    fn the_cap_keeps_first_latest_and_an_even_sample() {
        let conn = database();
        add_issue(&conn, 1, 100);
        add_issue(&conn, 2, 5);
        let ids: Vec<i64> = (0..100).map(|n| add_event(&conn, 1, n, 0)).collect();
        for n in 100..105 {
            add_event(&conn, 2, n, 0);
        }
        assert_eq!(issues_over_cap(&conn, 10, 0, 100).expect("scan"), vec![1]);
        let doomed = events_beyond_cap(&conn, 1, 10, 1000).expect("choose");
        assert_eq!(doomed.len(), 90);
        delete_ids(&conn, &doomed).expect("delete");
        let kept = event_ids(&conn, 1);
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[0], ids[0], "the first event stays");
        assert_eq!(&kept[5..], &ids[95..], "the latest five stay");
        // The four sampled events spread over the middle rather than bunching at one end.
        let sample = &kept[1..5];
        assert!(sample[0] < ids[30] && sample[3] > ids[70], "{sample:?}");
        assert!(issues_over_cap(&conn, 10, 0, 100).expect("scan").is_empty());
        assert!(
            events_beyond_cap(&conn, 1, 10, 1000).expect("choose").is_empty(),
            "stable once trimmed"
        );
        assert_eq!(event_ids(&conn, 2).len(), 5, "issues under the cap are untouched");
    }

    #[test]
    fn size_cap_deletes_oldest_and_reclaim_shrinks_the_file() {
        let conn = database();
        add_issue(&conn, 1, 3000);
        for n in 0..3000 {
            conn.execute(
                "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, grouping_config, size, payload) \
                 VALUES (1, 1, unhex(?1), 0, 0, 'error', 'h', 'g', 1, zeroblob(1000))",
                params![format!("{n:032x}")],
            )
            .expect("event");
        }
        let before = used_bytes(&conn).expect("size");
        let first_kept = event_ids(&conn, 1)[2000];
        assert_eq!(delete_oldest(&conn, 2000).expect("delete"), 2000);
        assert_eq!(event_ids(&conn, 1)[0], first_kept, "the oldest went first");
        assert!(used_bytes(&conn).expect("size") < before / 2);
        let pages_before: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .expect("pages");
        while reclaim_step(&conn).expect("reclaim") > 0 {}
        let pages_after: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .expect("pages");
        assert!(pages_after < pages_before / 2, "{pages_before} -> {pages_after}");
    }
}
