//! Event counts over time (`GET /api/0/organizations/{org}/events-stats/`), as Grafana's
//! Sentry data source and Sentry's own charts ask them: one series of `[ts, [{"count": n}]]`
//! buckets, or with `topEvents=N` one series per top value of the `field=` columns (plus an
//! "Other" series unless `excludeOther=1`).
//!
//! The events are those the organization event search reads (see `api::discover`): at most
//! [`MAX_SCAN`] of the range, newest first, with the same `query` syntax. The number of
//! buckets is bounded by [`MAX_BUCKETS`]; a finer `interval` is refused.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::discover::{Column, MAX_RANGE_DAYS, Request, Scanned, SortBy, Subject, rows, time_range, user_key};
use super::issues::{Params, param, params_all};
use super::{query, resolve_org};
use crate::errors::ApiError;
use crate::http::{IntoResponse, Json, Path, Query, Response, State};
use crate::state::AppState;
use crate::store::now_us;

/// Most buckets one series may have.
pub const MAX_BUCKETS: i64 = 10_000;
/// Most top events (Sentry's own bound).
pub const MAX_TOP_EVENTS: usize = 10;
/// Most `yAxis` values.
pub const MAX_Y_AXES: usize = 5;
/// The bucket width when none is given (Sentry's default rollup).
const DEFAULT_INTERVAL_S: i64 = 3600;
const US_PER_S: i64 = 1_000_000;
/// The label of the series counting the events outside the top ones.
pub const OTHER: &str = "Other";

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// What a series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YAxis {
    Count,
    CountUniqueUser,
}

impl YAxis {
    pub fn parse(raw: &str) -> Result<YAxis, ApiError> {
        match Column::parse(raw) {
            Ok(Column::Count) => Ok(YAxis::Count),
            Ok(Column::CountUniqueUser) => Ok(YAxis::CountUniqueUser),
            _ => Err(bad(format!(
                "Invalid yAxis: {raw:?}; supported are count() and count_unique(user)"
            ))),
        }
    }

    fn column(self) -> Column {
        match self {
            YAxis::Count => Column::Count,
            YAxis::CountUniqueUser => Column::CountUniqueUser,
        }
    }
}

/// The time buckets of an answer: `count` buckets of `interval_s` from `start_s` (unix seconds,
/// a multiple of the interval, as Sentry aligns them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start_s: i64,
    pub interval_s: i64,
    pub count: i64,
}

impl Buckets {
    /// Buckets covering `[since_us, until_us)`. Without `partial` the last, unfinished bucket
    /// is left out (at least one bucket remains).
    pub fn new(since_us: i64, until_us: i64, interval_s: i64, partial: bool) -> Result<Buckets, ApiError> {
        if interval_s <= 0 {
            return Err(bad("interval must be positive"));
        }
        let start_s = since_us.div_euclid(US_PER_S).div_euclid(interval_s) * interval_s;
        let until_s = until_us.saturating_add(US_PER_S - 1).div_euclid(US_PER_S);
        let span = until_s.saturating_sub(start_s).max(0);
        let count = if partial {
            span.saturating_add(interval_s - 1) / interval_s
        } else {
            span / interval_s
        }
        .max(1);
        if count > MAX_BUCKETS {
            return Err(bad(format!(
                "The interval is too small for the time range: {count} buckets; at most {MAX_BUCKETS} are allowed"
            )));
        }
        Ok(Buckets {
            start_s,
            interval_s,
            count,
        })
    }

    pub fn end_s(&self) -> i64 {
        self.start_s + self.count * self.interval_s
    }

    /// The bucket an event at `ts_us` falls in, if any.
    pub fn index(&self, ts_us: i64) -> Option<usize> {
        let ts_s = ts_us.div_euclid(US_PER_S);
        if ts_s < self.start_s || ts_s >= self.end_s() {
            return None;
        }
        usize::try_from((ts_s - self.start_s) / self.interval_s).ok()
    }

    fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(0)
    }
}

/// An `interval` as whole seconds (`1h`, `30m`, `90s`, `1d`); Grafana sends `%ds`, `%dm`, `%dh`.
pub fn interval_seconds(raw: Option<&str>) -> Result<i64, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(DEFAULT_INTERVAL_S);
    };
    query::duration_us(raw)
        .map(|us| us / US_PER_S)
        .filter(|s| *s > 0)
        .ok_or_else(|| bad(format!("Invalid interval: {raw:?}")))
}

/// Everything an events-stats request asks, parsed and bounded.
#[derive(Debug, Clone)]
pub struct StatsRequest {
    /// The `yAxis` names as given, with what they count.
    pub y_axes: Vec<(String, YAxis)>,
    /// The `field=` columns the top events are grouped by (aggregates dropped).
    pub group_by: Vec<(String, Column)>,
    /// 0 = one series over all events.
    pub top_events: usize,
    pub exclude_other: bool,
    /// The search: conditions, range, environments; its columns rank the top events.
    pub search: Request,
    pub buckets: Buckets,
}

impl StatsRequest {
    pub fn parse(params: &Params, now: i64) -> Result<StatsRequest, ApiError> {
        let raw_axes: Vec<&str> = params_all(params, "yAxis")
            .into_iter()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let raw_axes = if raw_axes.is_empty() { vec!["count()"] } else { raw_axes };
        if raw_axes.len() > MAX_Y_AXES {
            return Err(bad(format!("At most {MAX_Y_AXES} yAxis values are allowed")));
        }
        let mut y_axes: Vec<(String, YAxis)> = Vec::new();
        for raw in raw_axes {
            let axis = YAxis::parse(raw)?;
            if !y_axes.iter().any(|(name, _)| name == raw) {
                y_axes.push((raw.to_string(), axis));
            }
        }
        let top_events = match param(params, "topEvents").map(str::trim).filter(|t| !t.is_empty()) {
            None => 0,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if n <= MAX_TOP_EVENTS => n,
                _ => {
                    return Err(bad(format!(
                        "topEvents must be an integer between 1 and {MAX_TOP_EVENTS}"
                    )));
                }
            },
        };
        let fields: Vec<&str> = params_all(params, "field")
            .into_iter()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        if fields.len() > super::discover::MAX_FIELDS {
            return Err(bad(format!(
                "At most {} fields may be selected",
                super::discover::MAX_FIELDS
            )));
        }
        let mut group_by: Vec<(String, Column)> = Vec::new();
        for field in fields {
            let column = Column::parse(field)?;
            if !column.is_aggregate() && !group_by.iter().any(|(name, _)| name == field) {
                group_by.push((field.to_string(), column));
            }
        }
        // Top events need something to group by; without it there is one series.
        let top_events = if group_by.is_empty() { 0 } else { top_events };
        let mut names: Vec<String> = group_by.iter().map(|(n, _)| n.clone()).collect();
        let mut columns: Vec<Column> = group_by.iter().map(|(_, c)| c.clone()).collect();
        for (name, axis) in &y_axes {
            if !columns.contains(&axis.column()) {
                names.push(name.clone());
                columns.push(axis.column());
            }
        }
        let sort = match param(params, "orderby")
            .or_else(|| param(params, "sort"))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(raw) => {
                let (descending, name) = match raw.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, raw),
                };
                let column = Column::parse(name)?;
                if !columns.contains(&column) {
                    return Err(bad(format!("Cannot sort by a field that is not selected: {name:?}")));
                }
                SortBy { column, descending }
            }
            None => SortBy {
                column: y_axes[0].1.column(),
                descending: true,
            },
        };
        let (since_us, until_us) = time_range(params, now, MAX_RANGE_DAYS)?;
        let interval_s = interval_seconds(param(params, "interval"))?;
        let partial = matches!(param(params, "partial"), Some("1" | "true"));
        let buckets = Buckets::new(since_us, until_us, interval_s, partial)?;
        let environments = params_all(params, "environment")
            .into_iter()
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect();
        let conditions = query::parse(param(params, "query").unwrap_or(""), now)?;
        Ok(StatsRequest {
            y_axes,
            group_by,
            top_events,
            exclude_other: matches!(param(params, "excludeOther"), Some("1" | "true")),
            search: Request {
                names,
                columns,
                sort: Some(sort),
                conditions,
                since_us,
                until_us,
                environments,
                per_page: top_events,
                offset: 0,
            },
            buckets,
        })
    }

    /// The group-by values of an event, as one comparable key.
    fn key_of(&self, subject: &Subject<'_>) -> String {
        Value::Array(self.group_by.iter().map(|(_, c)| subject.value(c)).collect()).to_string()
    }
}

/// Per-bucket counts of one series.
struct Series {
    counts: Vec<i64>,
    users: Vec<HashSet<String>>,
}

impl Series {
    fn new(buckets: &Buckets, with_users: bool) -> Series {
        Series {
            counts: vec![0; buckets.len()],
            users: if with_users {
                vec![HashSet::new(); buckets.len()]
            } else {
                Vec::new()
            },
        }
    }

    fn add(&mut self, bucket: usize, subject: &Subject<'_>) {
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += 1;
        }
        if let (Some(set), Some(user)) = (self.users.get_mut(bucket), user_key(&subject.event.data)) {
            set.insert(user);
        }
    }

    fn value(&self, axis: YAxis, bucket: usize) -> i64 {
        match axis {
            YAxis::Count => self.counts.get(bucket).copied().unwrap_or(0),
            YAxis::CountUniqueUser => self
                .users
                .get(bucket)
                .map_or(0, |s| i64::try_from(s.len()).unwrap_or(i64::MAX)),
        }
    }

    /// `{data: [[ts, [{count}]]…], start, end, …}` for one y-axis.
    fn to_json(&self, axis: YAxis, name: &str, buckets: &Buckets, order: Option<usize>) -> Value {
        let data: Vec<Value> = (0..buckets.len())
            .map(|i| {
                let ts = buckets.start_s + i64::try_from(i).unwrap_or(0) * buckets.interval_s;
                json!([ts, [{"count": self.value(axis, i)}]])
            })
            .collect();
        let mut out = json!({
            "data": data,
            "start": buckets.start_s,
            "end": buckets.end_s(),
            "isMetricsData": false,
            "meta": {"fields": {"time": "date", name: "integer"}, "units": {"time": null, name: null}},
        });
        if let Some(order) = order {
            out["order"] = json!(order);
        }
        out
    }

    /// One series object, or with several y-axes one per axis name.
    fn answer(&self, request: &StatsRequest, order: Option<usize>) -> Value {
        match request.y_axes.as_slice() {
            [(name, axis)] => self.to_json(*axis, name, &request.buckets, order),
            axes => {
                let mut out = Map::new();
                for (i, (name, axis)) in axes.iter().enumerate() {
                    out.insert(
                        name.clone(),
                        self.to_json(*axis, name, &request.buckets, Some(order.unwrap_or(i))),
                    );
                }
                if let Some(order) = order {
                    out.insert("order".into(), json!(order));
                }
                Value::Object(out)
            }
        }
    }
}

/// The answer for the scanned events (newest first, bounded by the scan).
pub fn answer(request: &StatsRequest, subjects: &[Subject<'_>]) -> Value {
    let with_users = request.y_axes.iter().any(|(_, a)| *a == YAxis::CountUniqueUser);
    let matching = || {
        subjects
            .iter()
            .filter(|s| request.search.conditions.iter().all(|c| s.matches(c)))
            .filter_map(|s| request.buckets.index(s.event.timestamp).map(|b| (b, s)))
    };
    if request.top_events == 0 {
        let mut series = Series::new(&request.buckets, with_users);
        for (bucket, subject) in matching() {
            series.add(bucket, subject);
        }
        return series.answer(request, None);
    }
    // The top groups by the sort column over the whole range, then their series.
    let top_rows: Vec<Map<String, Value>> = rows(&request.search, subjects)
        .into_iter()
        .take(request.top_events)
        .collect();
    if top_rows.is_empty() {
        return Series::new(&request.buckets, with_users).answer(request, None);
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut labels: Vec<String> = Vec::new();
    for row in &top_rows {
        let values: Vec<Value> = request
            .group_by
            .iter()
            .map(|(name, _)| row.get(name).cloned().unwrap_or(Value::Null))
            .collect();
        let label = values.iter().map(label_part).collect::<Vec<_>>().join(",");
        index.insert(Value::Array(values).to_string(), labels.len());
        labels.push(label);
    }
    let mut series: Vec<Series> = (0..=labels.len())
        .map(|_| Series::new(&request.buckets, with_users))
        .collect();
    let other = labels.len();
    for (bucket, subject) in matching() {
        let at = index.get(&request.key_of(subject)).copied().unwrap_or(other);
        if let Some(s) = series.get_mut(at) {
            s.add(bucket, subject);
        }
    }
    let mut out = Map::new();
    for (order, label) in labels.iter().enumerate() {
        if !out.contains_key(label) {
            out.insert(label.clone(), series[order].answer(request, Some(order)));
        }
    }
    let others_exist = series[other].counts.iter().any(|c| *c > 0);
    if !request.exclude_other && others_exist {
        out.insert(OTHER.into(), series[other].answer(request, Some(other)));
    }
    Value::Object(out)
}

/// A group-by value in a series label: text as is, nothing as an empty string.
fn label_part(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn org_events_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let request = StatsRequest::parse(&params, now_us())?;
    if !super::discover::has_dataset(param(&params, "dataset")) {
        // Spans, logs, transactions…: nothing stored, so zero-filled buckets.
        return Ok(Json(answer(&request, &[])).into_response());
    }
    let project_ids = super::issues::org_projects(&state, &caller, &org, &params).await?;
    let scanned = Scanned::read(&state, &org, project_ids, &request.search).await?;
    Ok(Json(answer(&request, &scanned.subjects())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredEvent;
    use proptest::prelude::*;

    const HOUR_US: i64 = 3_600 * US_PER_S;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn event(ts_us: i64, title: &str, user: &str) -> StoredEvent {
        StoredEvent {
            id: 0,
            project_id: 1,
            issue_id: 1,
            event_id: crate::ids::EventId::from_bytes([0; 16]),
            timestamp: ts_us,
            received: ts_us,
            size: 0,
            data: json!({"title": title, "user": {"id": user}}),
        }
    }

    fn subjects(events: &[StoredEvent]) -> Vec<Subject<'_>> {
        events
            .iter()
            .map(|e| Subject {
                event: e,
                issue: None,
                project: None,
            })
            .collect()
    }

    #[test]
    fn buckets_align_to_the_interval_and_partial_keeps_the_last_one() {
        let since = 10 * HOUR_US + 30 * 60 * US_PER_S;
        let until = 13 * HOUR_US + 15 * 60 * US_PER_S;
        let full = Buckets::new(since, until, 3600, false).unwrap();
        assert_eq!(full.start_s, 10 * 3600);
        assert_eq!(full.count, 3);
        let partial = Buckets::new(since, until, 3600, true).unwrap();
        assert_eq!(partial.count, 4);
        assert_eq!(partial.index(13 * HOUR_US + 60 * US_PER_S), Some(3));
        assert_eq!(full.index(13 * HOUR_US + 60 * US_PER_S), None);
        assert_eq!(full.index(9 * HOUR_US), None);
    }

    #[test]
    fn too_many_buckets_is_a_client_error() {
        let now = 1_800_000_000 * US_PER_S;
        let err = StatsRequest::parse(&params(&[("statsPeriod", "14d"), ("interval", "1m")]), now).unwrap_err();
        assert!(err.to_string().contains("at most 10000"), "{err}");
        assert!(StatsRequest::parse(&params(&[("statsPeriod", "14d"), ("interval", "5m")]), now).is_ok());
        assert!(StatsRequest::parse(&params(&[("interval", "0s")]), now).is_err());
        assert!(StatsRequest::parse(&params(&[("interval", "soon")]), now).is_err());
        assert!(StatsRequest::parse(&params(&[("yAxis", "p95(duration)")]), now).is_err());
        assert!(StatsRequest::parse(&params(&[("topEvents", "11"), ("field", "title")]), now).is_err());
    }

    #[test]
    fn plain_series_counts_events_and_users_per_bucket() {
        let now = 100 * HOUR_US;
        let events = vec![
            event(now - HOUR_US / 2, "a", "u1"),
            event(now - HOUR_US / 2 - 1, "a", "u1"),
            event(now - 2 * HOUR_US - 5, "b", "u2"),
        ];
        let request = StatsRequest::parse(
            &params(&[("statsPeriod", "3h"), ("interval", "1h"), ("yAxis", "count()")]),
            now,
        )
        .unwrap();
        let body = answer(&request, &subjects(&events));
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        let counts: Vec<i64> = data.iter().map(|p| p[1][0]["count"].as_i64().unwrap()).collect();
        assert_eq!(counts, vec![1, 0, 2]);
        assert_eq!(body["start"], json!(97 * 3600));

        let users = StatsRequest::parse(
            &params(&[
                ("statsPeriod", "3h"),
                ("interval", "1h"),
                ("yAxis", "count_unique(user)"),
            ]),
            now,
        )
        .unwrap();
        let body = answer(&users, &subjects(&events));
        assert_eq!(body["data"][2][1][0]["count"], 1);
    }

    #[test]
    fn top_events_are_keyed_by_label_with_an_other_series() {
        let now = 100 * HOUR_US;
        let events = vec![
            event(now - 10, "a", "u"),
            event(now - 20, "a", "u"),
            event(now - 30, "b", "u"),
            event(now - 40, "c", "u"),
        ];
        let base = [
            ("statsPeriod", "1h"),
            ("interval", "1h"),
            ("partial", "1"),
            ("field", "title"),
            ("field", "count()"),
            ("topEvents", "2"),
        ];
        let request = StatsRequest::parse(&params(&base), now).unwrap();
        let body = answer(&request, &subjects(&events));
        let total = |s: &Value| -> i64 {
            s["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1][0]["count"].as_i64().unwrap())
                .sum()
        };
        assert_eq!(total(&body["a"]), 2);
        assert_eq!(body["a"]["order"], 0);
        assert_eq!(total(&body["b"]), 1);
        assert_eq!(total(&body[OTHER]), 1);
        let mut excluded = base.to_vec();
        excluded.push(("excludeOther", "1"));
        let body = answer(
            &StatsRequest::parse(&params(&excluded), now).unwrap(),
            &subjects(&events),
        );
        assert!(body.get(OTHER).is_none());
        assert_eq!(body.as_object().unwrap().len(), 2);
    }

    proptest! {
        #[test]
        fn every_event_in_range_lands_in_exactly_one_bucket(
            since in 0i64..1_000_000_000_000,
            span in 1i64..10_000_000_000,
            interval in 1i64..100_000,
            at in 0i64..10_000_000_000,
        ) {
            if let Ok(b) = Buckets::new(since, since + span, interval, true) {
                prop_assert!(b.count >= 1 && b.count <= MAX_BUCKETS);
                prop_assert!(b.start_s * US_PER_S <= since);
                let ts = since + at % span;
                let i = b.index(ts);
                prop_assert!(i.is_some());
                prop_assert!((i.unwrap() as i64) < b.count);
            }
        }
    }
}
