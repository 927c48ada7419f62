//! Read queries for the API, on read-only connections.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::Value;

use super::{
    Cmp, Condition, EventId, EventOrder, Issue, IssueFilter, IssueHash, IssueSort, StoreError, StoredEvent, TagValue,
    decode_payload,
};

/// The issue column an order sorts by (descending; ties by id, descending).
fn sort_column(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::Date => "i.last_seen",
        IssueSort::New => "i.first_seen",
        IssueSort::Freq => "i.times_seen",
        IssueSort::User => "i.user_count",
    }
}

fn cmp_sql(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Eq => "=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
    }
}

const ISSUE_COLUMNS: &str = "i.id, i.project_id, i.short_id, i.title, i.culprit, i.location, i.level, i.type, \
    i.platform, i.metadata, i.status, i.substatus, i.status_details, i.first_seen, i.last_seen, i.times_seen, \
    i.user_count, i.first_release, i.last_release, i.grouping_config";

fn issue_from_row(r: &rusqlite::Row) -> rusqlite::Result<Issue> {
    let metadata: String = r.get(9)?;
    let details: String = r.get(12)?;
    Ok(Issue {
        id: r.get(0)?,
        project_id: r.get(1)?,
        short_id: r.get(2)?,
        title: r.get(3)?,
        culprit: r.get(4)?,
        location: r.get(5)?,
        level: r.get(6)?,
        kind: r.get(7)?,
        platform: r.get(8)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        status: r.get(10)?,
        substatus: r.get(11)?,
        status_details: serde_json::from_str(&details).unwrap_or(Value::Null),
        first_seen: r.get(13)?,
        last_seen: r.get(14)?,
        times_seen: r.get(15)?,
        user_count: r.get(16)?,
        first_release: r.get(17)?,
        last_release: r.get(18)?,
        grouping_config: r.get(19)?,
    })
}

/// Escapes a LIKE pattern and turns `*` into `%`.
fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' => out.push('%'),
            c => out.push(c),
        }
    }
    out
}

fn in_list(column: &str, values: &[String], negate: bool, args: &mut Vec<SqlValue>) -> String {
    let mut parts = Vec::new();
    for v in values {
        args.push(SqlValue::Text(like_pattern(v)));
        parts.push(format!("{column} LIKE ?{} ESCAPE '\\'", args.len()));
    }
    let any = format!(
        "({})",
        if parts.is_empty() {
            "0".to_string()
        } else {
            parts.join(" OR ")
        }
    );
    if negate { format!("NOT {any}") } else { any }
}

fn tag_exists(key: &str, values: Option<&[String]>, negate: bool, args: &mut Vec<SqlValue>) -> String {
    args.push(SqlValue::Text(key.to_string()));
    let key_arg = args.len();
    let value_clause = match values {
        Some(values) => format!(" AND {}", in_list("t.value", values, false, args)),
        None => String::new(),
    };
    let exists =
        format!("EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = i.id AND t.key = ?{key_arg}{value_clause})");
    if negate { format!("NOT {exists}") } else { exists }
}

fn where_clause(filter: &IssueFilter, args: &mut Vec<SqlValue>) -> String {
    let mut clauses = vec!["1".to_string()];
    if !filter.project_ids.is_empty() {
        let ids: Vec<String> = filter.project_ids.iter().map(|id| id.to_string()).collect();
        clauses.push(format!("i.project_id IN ({})", ids.join(",")));
    }
    if !filter.issue_ids.is_empty() {
        let ids: Vec<String> = filter.issue_ids.iter().map(|id| id.to_string()).collect();
        clauses.push(format!("i.id IN ({})", ids.join(",")));
    }
    for c in &filter.conditions {
        let clause = match c {
            Condition::Status { values, negate } => in_list("i.status", values, *negate, args),
            Condition::Level { values, negate } => in_list("i.level", values, *negate, args),
            Condition::Release { values, negate } => tag_exists("release", Some(values), *negate, args),
            Condition::Environment { values, negate } => tag_exists("environment", Some(values), *negate, args),
            Condition::FirstSeen { cmp, at_us } => format!("i.first_seen {} {at_us}", cmp_sql(*cmp)),
            Condition::LastSeen { cmp, at_us } => format!("i.last_seen {} {at_us}", cmp_sql(*cmp)),
            Condition::TimesSeen { cmp, count } => format!("i.times_seen {} {count}", cmp_sql(*cmp)),
            Condition::UserCount { cmp, count } => format!("i.user_count {} {count}", cmp_sql(*cmp)),
            Condition::Tag { key, values, negate } => tag_exists(key, Some(values), *negate, args),
            Condition::Has { key, negate } => tag_exists(key, None, *negate, args),
            Condition::Text { text, negate } => {
                args.push(SqlValue::Text(format!("%{}%", like_pattern(text))));
                let n = args.len();
                let any = format!(
                    "(i.title LIKE ?{n} ESCAPE '\\' OR coalesce(i.culprit, '') LIKE ?{n} ESCAPE '\\' \
                     OR i.metadata LIKE ?{n} ESCAPE '\\')"
                );
                if *negate { format!("NOT {any}") } else { any }
            }
        };
        clauses.push(clause);
    }
    clauses.join(" AND ")
}

/// Issues matching `filter`, in its sort order, one page.
pub fn issues(conn: &Connection, filter: &IssueFilter) -> Result<Vec<Issue>, StoreError> {
    let mut args = Vec::new();
    let clause = where_clause(filter, &mut args);
    let order = match filter.sort {
        IssueSort::Date => "i.last_seen DESC, i.id DESC",
        IssueSort::New => "i.first_seen DESC, i.id DESC",
        IssueSort::Freq => "i.times_seen DESC, i.id DESC",
        IssueSort::User => "i.user_count DESC, i.id DESC",
    };
    let sql = format!(
        "SELECT {ISSUE_COLUMNS} FROM issues i WHERE {clause} ORDER BY {order} LIMIT {} OFFSET {}",
        filter.limit, filter.offset
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), issue_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of issues positioned by the sort column's value rather than by a row count,
/// as Sentry's value cursors are: going forward, the rows whose value is at most `value`
/// (skipping `filter.offset` rows, the ones with exactly `value` already shown); going back
/// (`is_prev`), the rows whose value is at least `value`, nearest first. Rows that arrive or
/// move up between two requests therefore neither repeat nor push others off a page.
/// The result is always in list order (descending).
pub fn issues_by_value(
    conn: &Connection,
    filter: &IssueFilter,
    value: i64,
    is_prev: bool,
) -> Result<Vec<Issue>, StoreError> {
    let mut args = Vec::new();
    let clause = where_clause(filter, &mut args);
    let column = sort_column(filter.sort);
    let (bound, dir) = if is_prev { (">=", "ASC") } else { ("<=", "DESC") };
    let sql = format!(
        "SELECT {ISSUE_COLUMNS} FROM issues i WHERE {clause} AND {column} {bound} {value} \
         ORDER BY {column} {dir}, i.id {dir} LIMIT {} OFFSET {}",
        filter.limit, filter.offset
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), issue_from_row)?;
    let mut issues: Vec<Issue> = rows.collect::<Result<_, _>>()?;
    if is_prev {
        issues.reverse();
    }
    Ok(issues)
}

/// How many issues match `filter` (ignoring its page and order), counting no further than
/// `cap + 1`: a count past `cap` stops there, so a huge table answers as fast as a page.
pub fn count_issues(conn: &Connection, filter: &IssueFilter, cap: usize) -> Result<usize, StoreError> {
    let mut args = Vec::new();
    let clause = where_clause(filter, &mut args);
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM issues i WHERE {clause} LIMIT {})",
        cap.saturating_add(1)
    );
    let count: i64 = conn.query_row(&sql, params_from_iter(args), |r| r.get(0))?;
    Ok(usize::try_from(count).unwrap_or(0))
}

pub fn issue(conn: &Connection, id: i64) -> Result<Issue, StoreError> {
    conn.prepare_cached(&format!("SELECT {ISSUE_COLUMNS} FROM issues i WHERE i.id = ?1"))?
        .query_row(params![id], issue_from_row)
        .optional()?
        .ok_or(StoreError::NotFound("issue"))
}

pub fn issue_by_short_id(conn: &Connection, project_id: i64, short_id: i64) -> Result<Issue, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {ISSUE_COLUMNS} FROM issues i WHERE i.project_id = ?1 AND i.short_id = ?2"
    ))?
    .query_row(params![project_id, short_id], issue_from_row)
    .optional()?
    .ok_or(StoreError::NotFound("issue"))
}

pub(super) const EVENT_COLUMNS: &str = "id, project_id, issue_id, event_id, timestamp, received, size, payload";

pub(super) fn event_from_row(r: &rusqlite::Row) -> rusqlite::Result<(StoredEvent, Vec<u8>)> {
    Ok((
        StoredEvent {
            id: r.get(0)?,
            project_id: r.get(1)?,
            issue_id: r.get(2)?,
            event_id: r.get(3)?,
            timestamp: r.get(4)?,
            received: r.get(5)?,
            size: r.get(6)?,
            data: Value::Null,
        },
        r.get(7)?,
    ))
}

pub(super) fn decode_rows(rows: Vec<(StoredEvent, Vec<u8>)>) -> Result<Vec<StoredEvent>, StoreError> {
    rows.into_iter()
        .map(|(mut event, blob)| {
            event.data = decode_payload(&blob)?;
            Ok(event)
        })
        .collect()
}

/// A page of an issue's events.
pub fn issue_events(
    conn: &Connection,
    issue_id: i64,
    order: EventOrder,
    limit: usize,
    offset: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let dir = match order {
        EventOrder::NewestFirst => "DESC",
        EventOrder::OldestFirst => "ASC",
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE issue_id = ?1 ORDER BY timestamp {dir}, id {dir} LIMIT ?2 OFFSET ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![issue_id, limit as i64, offset as i64], event_from_row)?;
    decode_rows(rows.collect::<Result<_, _>>()?)
}

/// A page of a project's events, newest first.
pub fn project_events(
    conn: &Connection,
    project_id: i64,
    limit: usize,
    offset: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE project_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT ?2 OFFSET ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![project_id, limit as i64, offset as i64], event_from_row)?;
    decode_rows(rows.collect::<Result<_, _>>()?)
}

pub fn event(conn: &Connection, project_id: i64, event_id: &EventId) -> Result<StoredEvent, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE project_id = ?1 AND event_id = ?2"
        ))?
        .query_row(params![project_id, event_id], event_from_row)
        .optional()?
        .ok_or(StoreError::NotFound("event"))?;
    decode_rows(vec![row])?.pop().ok_or(StoreError::NotFound("event"))
}

/// The events just before and after `event` within its issue: (previous, next) ids.
pub fn neighbours(
    conn: &Connection,
    issue_id: i64,
    timestamp: i64,
    id: i64,
) -> Result<(Option<EventId>, Option<EventId>), StoreError> {
    let previous = conn
        .prepare_cached(
            "SELECT event_id FROM events WHERE issue_id = ?1 AND (timestamp < ?2 OR (timestamp = ?2 AND id < ?3)) \
             ORDER BY timestamp DESC, id DESC LIMIT 1",
        )?
        .query_row(params![issue_id, timestamp, id], |r| r.get(0))
        .optional()?;
    let next = conn
        .prepare_cached(
            "SELECT event_id FROM events WHERE issue_id = ?1 AND (timestamp > ?2 OR (timestamp = ?2 AND id > ?3)) \
             ORDER BY timestamp ASC, id ASC LIMIT 1",
        )?
        .query_row(params![issue_id, timestamp, id], |r| r.get(0))
        .optional()?;
    Ok((previous, next))
}

pub fn count_project_events(conn: &Connection, project_id: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM events WHERE project_id = ?1",
        params![project_id],
        |r| r.get(0),
    )?)
}

/// Occurrences per bucket for each issue: `buckets` buckets of `bucket_hours`, ending with the current one.
pub fn issue_stats(
    conn: &Connection,
    issue_ids: &[i64],
    now_us: i64,
    bucket_hours: i64,
    buckets: usize,
) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
    // A zero-hour bucket would divide by zero; the API never asks for one, the interface allows it.
    let bucket_hours = bucket_hours.max(1);
    let now_hour = now_us.div_euclid(3_600_000_000);
    let last_bucket = now_hour - now_hour.rem_euclid(bucket_hours);
    let first_bucket = last_bucket - bucket_hours * (buckets as i64 - 1);
    let mut out = HashMap::new();
    let mut stmt =
        conn.prepare_cached("SELECT hour, count FROM issue_hourly WHERE issue_id = ?1 AND hour >= ?2 AND hour < ?3")?;
    for &id in issue_ids {
        let mut series: Vec<(i64, i64)> = (0..buckets as i64)
            .map(|b| ((first_bucket + b * bucket_hours) * 3600, 0))
            .collect();
        let rows = stmt.query_map(params![id, first_bucket, last_bucket + bucket_hours], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (hour, count) = row?;
            let index = ((hour - first_bucket) / bucket_hours) as usize;
            if let Some(slot) = series.get_mut(index) {
                slot.1 += count;
            }
        }
        out.insert(id, series);
    }
    Ok(out)
}

/// Every tag value of an issue, most frequent first.
pub fn issue_tags(conn: &Connection, issue_id: i64) -> Result<Vec<TagValue>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tags WHERE issue_id = ?1 \
         ORDER BY key, times_seen DESC, value",
    )?;
    let rows = stmt.query_map(params![issue_id], |r| {
        Ok(TagValue {
            key: r.get(0)?,
            value: r.get(1)?,
            count: r.get(2)?,
            first_seen: r.get(3)?,
            last_seen: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The grouping hashes of an issue.
pub fn issue_hashes(conn: &Connection, issue_id: i64) -> Result<Vec<IssueHash>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT hash, grouping_config FROM issue_hashes WHERE issue_id = ?1 ORDER BY hash")?;
    let rows = stmt.query_map(params![issue_id], |r| {
        Ok(IssueHash {
            hash: r.get(0)?,
            grouping_config: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The issue a hash belongs to, if any.
pub fn hash_owner(conn: &Connection, project_id: i64, hash: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT issue_id FROM issue_hashes WHERE project_id = ?1 AND hash = ?2")?
        .query_row(params![project_id, hash], |r| r.get(0))
        .optional()?)
}

/// For each primary hash of an issue, its newest event.
pub fn latest_event_per_hash(conn: &Connection, issue_id: i64) -> Result<HashMap<String, StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS}, primary_hash FROM events WHERE id IN \
         (SELECT max(id) FROM events WHERE issue_id = ?1 GROUP BY primary_hash)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![issue_id], |r| Ok((event_from_row(r)?, r.get::<_, String>(8)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let ((mut event, blob), hash) = row?;
        event.data = decode_payload(&blob)?;
        out.insert(hash, event);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_and_expands_wildcards() {
        assert_eq!(like_pattern("a_b%*"), "a\\_b\\%%");
    }
}
