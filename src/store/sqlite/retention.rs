//! Retention and disk budget: which events to delete, in small batches, and how to give the
//! space back. Each function is one short step meant to run as its own writer job, so
//! ingestion interleaves with housekeeping instead of waiting behind it.
//!
//! Issue counters (`times_seen`, users, tags, hourly buckets) are lifetime figures and are
//! never touched here: deleting an event forgets its payload, not that it happened.

use rusqlite::{Connection, params};

use super::StoreError;

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
             VALUES (1, ?1, ?2, ?3, ?3, 'error', 'h', 'g', 1, x'00')",
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
                 VALUES (1, 1, ?1, 0, 0, 'error', 'h', 'g', 1, zeroblob(1000))",
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
