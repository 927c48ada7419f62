//! The organization event search: the subset of Sentry's Discover
//! (`GET /api/0/organizations/{org}/events/`) that Sentry's MCP server and Grafana send.
//!
//! `field=` names the columns (`title`, `id`, `issue`, `issue.id`, `project`, `project.id`,
//! `timestamp`, `release`, `environment`, `level`, `message`, `user.display`, `culprit`,
//! tags as `tags[key]` or a bare key) and aggregates (`count()`, `count_unique(user)`,
//! `last_seen()`); with an aggregate present the plain columns are the group-by. `query` is
//! the issue search syntax applied to each event (issue-level terms such as `is:` or
//! `times_seen:` to the event's issue). The answer is `{data: [row], meta: {fields, units}}`,
//! paged by offset cursors with a `Link` header.
//!
//! The search reads at most [`MAX_SCAN`] events of the time range, newest first, and works on
//! those: older events beyond that bound are not counted. A dataset Errata does not keep
//! (spans, logs, transactions…) answers an empty, well-formed result.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::issues::{Params, param, params_all};
use super::pagination::{Cursor, link_header, page_size};
use super::serialize::iso;
use super::{query, resolve_org};
use crate::errors::ApiError;
use crate::http::{IntoResponse, Json, Path, Query, RequestUri, Response, State, header};
use crate::ids::ShortId;
use crate::state::AppState;
use crate::store::{Cmp, Condition, EventScan, Issue, IssueFilter, Organization, Project, StoredEvent, now_us};

/// Most events one search reads.
pub const MAX_SCAN: usize = 10_000;
/// Most `field=` columns in one request.
pub const MAX_FIELDS: usize = 20;
/// The longest time range, in days.
pub const MAX_RANGE_DAYS: i64 = 90;
/// The range when none is given (Sentry's default).
const DEFAULT_PERIOD_US: i64 = 14 * 86_400 * 1_000_000;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// One requested column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    Title,
    Id,
    Issue,
    IssueId,
    Project,
    ProjectId,
    Timestamp,
    Release,
    Environment,
    Level,
    Message,
    UserDisplay,
    Culprit,
    /// A tag value: `tags[key]` or the bare key.
    Tag(String),
    Count,
    CountUniqueUser,
    LastSeen,
}

impl Column {
    /// Parses one `field=` value; anything else is a client error.
    pub fn parse(raw: &str) -> Result<Column, ApiError> {
        let raw = raw.trim();
        Ok(match raw {
            "title" => Column::Title,
            "id" => Column::Id,
            "issue" => Column::Issue,
            "issue.id" => Column::IssueId,
            "project" | "project.name" => Column::Project,
            "project.id" => Column::ProjectId,
            "timestamp" => Column::Timestamp,
            "release" => Column::Release,
            "environment" => Column::Environment,
            "level" => Column::Level,
            "message" => Column::Message,
            "user.display" => Column::UserDisplay,
            "culprit" => Column::Culprit,
            "count()" => Column::Count,
            "count_unique(user)" | "count_unique(user.display)" | "count_unique(user.id)" => Column::CountUniqueUser,
            "last_seen()" | "max(timestamp)" => Column::LastSeen,
            other => {
                let key = other
                    .strip_prefix("tags[")
                    .and_then(|k| k.strip_suffix(']'))
                    .unwrap_or(other);
                if !is_tag_key(key) {
                    return Err(bad(format!("Unknown field: {other:?}")));
                }
                Column::Tag(key.to_string())
            }
        })
    }

    pub fn is_aggregate(&self) -> bool {
        matches!(self, Column::Count | Column::CountUniqueUser | Column::LastSeen)
    }

    /// The type `meta.fields` reports for this column.
    pub fn kind(&self) -> &'static str {
        match self {
            Column::IssueId | Column::ProjectId | Column::Count | Column::CountUniqueUser => "integer",
            Column::Timestamp | Column::LastSeen => "date",
            _ => "string",
        }
    }
}

/// A tag key as SDKs send them: letters, digits and `_.:-`, at most 200 characters.
fn is_tag_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// What a row is built from: the event with its issue and project.
pub struct Subject<'a> {
    pub event: &'a StoredEvent,
    pub issue: Option<&'a Issue>,
    pub project: Option<&'a Project>,
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path).and_then(Value::as_str)
}

/// An event's tags as `(key, value)`, with `level`, `release` and `environment` as tags too.
fn event_tags(data: &Value) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = data
        .get("tags")
        .and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([Value::String(k), Value::String(v)]) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for key in ["level", "release", "environment"] {
        if let Some(v) = data.get(key).and_then(Value::as_str)
            && !tags.iter().any(|(k, _)| k == key)
        {
            tags.push((key.into(), v.into()));
        }
    }
    tags
}

/// The user as Sentry displays it: email, else username, else id, else IP address.
fn user_display(data: &Value) -> Option<String> {
    let user = data.get("user")?;
    for key in ["email", "username", "id", "ip_address"] {
        match user.get(key) {
            Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
            Some(Value::Number(n)) => return Some(n.to_string()),
            _ => {}
        }
    }
    None
}

fn message(data: &Value) -> String {
    str_at(data, "/logentry/formatted")
        .or_else(|| str_at(data, "/logentry/message"))
        .or_else(|| str_at(data, "/title"))
        .unwrap_or("")
        .to_string()
}

impl Subject<'_> {
    /// The value of a plain column.
    pub fn value(&self, column: &Column) -> Value {
        let e = self.event;
        let d = &e.data;
        let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.to_string()));
        match column {
            Column::Title => Value::String(str_at(d, "/title").unwrap_or("<unlabeled event>").to_string()),
            Column::Id => Value::String(e.event_id.to_string()),
            Column::Issue => match (self.issue, self.project) {
                (Some(i), Some(p)) => Value::String(ShortId::new(&p.slug, i.short_id).to_string()),
                _ => Value::Null,
            },
            Column::IssueId => json!(e.issue_id),
            Column::Project => text(self.project.map(|p| p.slug.as_str())),
            Column::ProjectId => json!(e.project_id),
            Column::Timestamp => Value::String(iso(e.timestamp)),
            Column::Release => text(str_at(d, "/release")),
            Column::Environment => text(str_at(d, "/environment")),
            Column::Level => text(str_at(d, "/level")),
            Column::Message => Value::String(message(d)),
            Column::UserDisplay => user_display(d).map_or(Value::Null, Value::String),
            Column::Culprit => Value::String(str_at(d, "/culprit").unwrap_or("").to_string()),
            Column::Tag(key) => event_tags(d)
                .into_iter()
                .find(|(k, _)| k == key)
                .map_or(Value::Null, |(_, v)| Value::String(v)),
            Column::Count | Column::CountUniqueUser | Column::LastSeen => Value::Null,
        }
    }

    /// The values a search key has on this event (several for tags given twice).
    fn values_of(&self, key: &str) -> Vec<String> {
        let as_text = |v: Value| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        let column = match key {
            "issue" => Some(Column::Issue),
            "issue.id" => Some(Column::IssueId),
            "project" | "project.name" => Some(Column::Project),
            "project.id" => Some(Column::ProjectId),
            "id" | "event.id" => Some(Column::Id),
            "user.display" => Some(Column::UserDisplay),
            "culprit" => Some(Column::Culprit),
            _ => None,
        };
        if let Some(column) = column {
            return as_text(self.value(&column)).into_iter().collect();
        }
        if key == "user" && !event_tags(&self.event.data).iter().any(|(k, _)| k == "user") {
            // The `user` tag as ingest derives it (`id:…`, `email:…`): every form, so
            // `user.id:` and `user.email:` both find the event.
            let Some(Value::Object(user)) = self.event.data.get("user") else {
                return Vec::new();
            };
            return [
                ("id", "id"),
                ("email", "email"),
                ("username", "username"),
                ("ip_address", "ip"),
            ]
            .iter()
            .filter_map(|(field, prefix)| match user.get(*field) {
                Some(Value::String(v)) => Some(format!("{prefix}:{v}")),
                Some(Value::Number(n)) => Some(format!("{prefix}:{n}")),
                _ => None,
            })
            .collect();
        }
        if key == "event.type" {
            let kind = if self.event.data.get("exception").is_some() {
                "error"
            } else {
                "default"
            };
            return vec![kind.to_string()];
        }
        event_tags(&self.event.data)
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// Whether the event passes one search term.
    pub fn matches(&self, condition: &Condition) -> bool {
        let d = &self.event.data;
        let any_of =
            |found: Vec<String>, values: &[String]| found.iter().any(|f| values.iter().any(|v| glob_match(v, f)));
        match condition {
            Condition::Status { values, negate } => {
                let status = self.issue.map_or("", |i| i.status.as_str());
                values.iter().any(|v| v == status) != *negate
            }
            Condition::Level { values, negate } => any_of(self.values_of("level"), values) != *negate,
            Condition::Release { values, negate } => any_of(self.values_of("release"), values) != *negate,
            Condition::Environment { values, negate } => any_of(self.values_of("environment"), values) != *negate,
            Condition::FirstSeen { cmp, at_us } => self.issue.is_some_and(|i| compare(i.first_seen, *cmp, *at_us)),
            // On events, `lastSeen`/`timestamp` ranges are the event's own time.
            Condition::LastSeen { cmp, at_us } => compare(self.event.timestamp, *cmp, *at_us),
            Condition::TimesSeen { cmp, count } => self.issue.is_some_and(|i| compare(i.times_seen, *cmp, *count)),
            Condition::UserCount { cmp, count } => self.issue.is_some_and(|i| compare(i.user_count, *cmp, *count)),
            Condition::Tag { key, values, negate } => any_of(self.values_of(key), values) != *negate,
            Condition::Has { key, negate } => self.values_of(key).is_empty() == *negate,
            Condition::Text { text, negate } => {
                let pattern = format!("*{text}*");
                let hit = [
                    str_at(d, "/title").unwrap_or(""),
                    str_at(d, "/culprit").unwrap_or(""),
                    &message(d),
                ]
                .iter()
                .any(|field| glob_match(&pattern, field));
                hit != *negate
            }
        }
    }
}

fn compare(value: i64, cmp: Cmp, against: i64) -> bool {
    match cmp {
        Cmp::Eq => value == against,
        Cmp::Gt => value > against,
        Cmp::Ge => value >= against,
        Cmp::Lt => value < against,
        Cmp::Le => value <= against,
    }
}

/// Case-insensitive match where `*` stands for any run of characters (as the SQL search's
/// `LIKE` does for issues).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Greedy with backtracking to the last star: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The requested sort: a selected column, descending when prefixed with `-`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortBy {
    pub column: Column,
    pub descending: bool,
}

/// Everything a search request asks, parsed and bounded.
#[derive(Debug, Clone)]
pub struct Request {
    pub names: Vec<String>,
    pub columns: Vec<Column>,
    pub sort: Option<SortBy>,
    pub conditions: Vec<Condition>,
    pub since_us: i64,
    pub until_us: i64,
    pub environments: Vec<String>,
    pub per_page: usize,
    pub offset: usize,
}

/// `statsPeriod`, or `start`/`end`, as `[since, until)` in microseconds, bounded.
pub fn time_range(params: &Params, now: i64, max_days: i64) -> Result<(i64, i64), ApiError> {
    let period = param(params, "statsPeriod").filter(|p| !p.is_empty());
    let (start, end) = (
        param(params, "start").filter(|s| !s.is_empty()),
        param(params, "end").filter(|s| !s.is_empty()),
    );
    let (since, until) = match (period, start, end) {
        (Some(p), _, _) => {
            let d = query::duration_us(p).ok_or_else(|| bad(format!("Invalid statsPeriod: {p:?}")))?;
            (now.saturating_sub(d), now)
        }
        (None, Some(s), Some(e)) => {
            let since = query::parse_datetime(s).ok_or_else(|| bad(format!("Invalid start: {s:?}")))?;
            let until = query::parse_datetime(e).ok_or_else(|| bad(format!("Invalid end: {e:?}")))?;
            (since, until)
        }
        (None, None, None) => (now - DEFAULT_PERIOD_US, now),
        _ => return Err(bad("start and end must be given together")),
    };
    if since > until {
        return Err(bad("start must be before end"));
    }
    if until.saturating_sub(since) > max_days * 86_400 * 1_000_000 {
        return Err(bad(format!("The time range is at most {max_days} days")));
    }
    // An end of "now" includes events stamped this very microsecond.
    Ok((since, until.saturating_add(1)))
}

impl Request {
    pub fn parse(params: &Params, now: i64) -> Result<Request, ApiError> {
        let names: Vec<String> = params_all(params, "field")
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        if names.is_empty() {
            return Err(bad("No columns selected"));
        }
        if names.len() > MAX_FIELDS {
            return Err(bad(format!("At most {MAX_FIELDS} fields may be selected")));
        }
        let columns = names.iter().map(|n| Column::parse(n)).collect::<Result<Vec<_>, _>>()?;
        let sort = match param(params, "sort").map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => {
                let (descending, name) = match raw.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, raw),
                };
                let column = Column::parse(name)?;
                if !columns.contains(&column) {
                    return Err(bad(format!("Cannot sort by a field that is not selected: {name:?}")));
                }
                Some(SortBy { column, descending })
            }
        };
        let conditions = query::parse(param(params, "query").unwrap_or(""), now)?;
        let (since_us, until_us) = time_range(params, now, MAX_RANGE_DAYS)?;
        let environments = params_all(params, "environment")
            .into_iter()
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect();
        let per_page = page_size(param(params, "per_page").or(param(params, "limit")))?;
        let offset = Cursor::parse(param(params, "cursor"))?.offset;
        Ok(Request {
            names,
            columns,
            sort,
            conditions,
            since_us,
            until_us,
            environments,
            per_page,
            offset,
        })
    }

    pub fn has_aggregates(&self) -> bool {
        self.columns.iter().any(Column::is_aggregate)
    }

    /// `{fields: {name: type}, units: {name: null}}`.
    pub fn meta(&self) -> Value {
        let mut fields = Map::new();
        let mut units = Map::new();
        for (name, column) in self.names.iter().zip(&self.columns) {
            fields.insert(name.clone(), json!(column.kind()));
            units.insert(name.clone(), Value::Null);
        }
        json!({"fields": fields, "units": units, "isMetricsData": false, "tips": {}})
    }
}

/// A user's identity for `count_unique(user)`.
pub fn user_key(data: &Value) -> Option<String> {
    let user = data.get("user")?;
    for key in ["id", "email", "username", "ip_address"] {
        match user.get(key) {
            Some(Value::String(s)) if !s.is_empty() => return Some(format!("{key}:{s}")),
            Some(Value::Number(n)) => return Some(format!("{key}:{n}")),
            _ => {}
        }
    }
    None
}

/// Rows for the matching events, sorted (not yet paged). Each row keeps its sort value.
pub fn rows(request: &Request, subjects: &[Subject<'_>]) -> Vec<Map<String, Value>> {
    let matching: Vec<&Subject<'_>> = subjects
        .iter()
        .filter(|s| request.conditions.iter().all(|c| s.matches(c)))
        .collect();
    let pairs = || request.names.iter().zip(&request.columns);
    let mut rows: Vec<Map<String, Value>> = if request.has_aggregates() {
        struct Group {
            plain: Map<String, Value>,
            count: i64,
            users: HashSet<String>,
            last_seen: i64,
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for s in matching {
            let plain: Map<String, Value> = pairs()
                .filter(|(_, c)| !c.is_aggregate())
                .map(|(n, c)| (n.clone(), s.value(c)))
                .collect();
            let key = Value::Object(plain.clone()).to_string();
            let at = *index.entry(key).or_insert_with(|| {
                groups.push(Group {
                    plain,
                    count: 0,
                    users: HashSet::new(),
                    last_seen: i64::MIN,
                });
                groups.len() - 1
            });
            let group = &mut groups[at];
            group.count += 1;
            if let Some(u) = user_key(&s.event.data) {
                group.users.insert(u);
            }
            group.last_seen = group.last_seen.max(s.event.timestamp);
        }
        groups
            .into_iter()
            .map(|g| {
                let mut row = Map::new();
                for (name, column) in pairs() {
                    let v = match column {
                        Column::Count => json!(g.count),
                        Column::CountUniqueUser => json!(g.users.len()),
                        Column::LastSeen => json!(iso(g.last_seen)),
                        _ => g.plain.get(name).cloned().unwrap_or(Value::Null),
                    };
                    row.insert(name.clone(), v);
                }
                row
            })
            .collect()
    } else {
        // Events come newest first; that order stands when no sort is asked.
        matching
            .iter()
            .map(|s| pairs().map(|(n, c)| (n.clone(), s.value(c))).collect())
            .collect()
    };
    let sort = request.sort.clone().or_else(|| {
        request.columns.iter().find(|c| **c == Column::Count).map(|c| SortBy {
            column: c.clone(),
            descending: true,
        })
    });
    if let Some(sort) = sort
        && let Some(pos) = request.columns.iter().position(|c| *c == sort.column)
    {
        let name = &request.names[pos];
        // A stable sort keeps ties in event order (newest first) so pages do not overlap.
        rows.sort_by(|a, b| {
            let o = compare_values(a.get(name), b.get(name));
            if sort.descending { o.reverse() } else { o }
        });
    }
    rows
}

/// Orders JSON cell values: nulls first, numbers numerically, everything else as text
/// (ISO timestamps sort as text in time order).
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let rank = |v: Option<&Value>| match v {
        None | Some(Value::Null) => 0,
        Some(Value::Number(_)) => 1,
        Some(_) => 2,
    };
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The events of one search with the issues and projects their rows are built from.
pub struct Scanned {
    pub events: Vec<StoredEvent>,
    pub issues: HashMap<i64, Issue>,
    pub projects: HashMap<i64, Project>,
}

impl Scanned {
    /// Reads at most [`MAX_SCAN`] events of the request's range, newest first.
    pub async fn read(
        state: &AppState,
        org: &Organization,
        project_ids: Vec<i64>,
        request: &Request,
    ) -> Result<Scanned, ApiError> {
        let events = state
            .store
            .discover_events(EventScan {
                project_ids,
                since_us: request.since_us,
                until_us: request.until_us,
                environments: request.environments.clone(),
                limit: MAX_SCAN,
            })
            .await?;
        let (issues, projects) = Scanned::context(state, org, &events).await?;
        Ok(Scanned {
            events,
            issues,
            projects,
        })
    }

    /// The issues and the organization's projects that `events` belong to.
    pub async fn context(
        state: &AppState,
        org: &Organization,
        events: &[StoredEvent],
    ) -> Result<(HashMap<i64, Issue>, HashMap<i64, Project>), ApiError> {
        let mut issue_ids: Vec<i64> = events.iter().map(|e| e.issue_id).collect();
        issue_ids.sort_unstable();
        issue_ids.dedup();
        let issues: HashMap<i64, Issue> = if issue_ids.is_empty() {
            HashMap::new()
        } else {
            let limit = issue_ids.len();
            state
                .store
                .issues(IssueFilter {
                    issue_ids,
                    limit,
                    ..Default::default()
                })
                .await?
                .into_iter()
                .map(|i| (i.id, i))
                .collect()
        };
        let projects: HashMap<i64, Project> = state
            .store
            .projects(Some(org.id))
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        Ok((issues, projects))
    }

    /// Each event with its issue and project, newest first.
    pub fn subjects(&self) -> Vec<Subject<'_>> {
        self.events
            .iter()
            .map(|e| Subject {
                event: e,
                issue: self.issues.get(&e.issue_id),
                project: self.projects.get(&e.project_id),
            })
            .collect()
    }
}

/// Datasets Errata keeps: error events (`errors`, Discover's older dataset-less form).
pub fn has_dataset(raw: Option<&str>) -> bool {
    matches!(raw.unwrap_or(""), "" | "errors" | "discover" | "error")
}

pub async fn org_events(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let dataset = param(&params, "dataset");
    if !has_dataset(dataset) {
        // Spans, logs, transactions…: nothing stored, so an empty answer of the same shape.
        let fields: Map<String, Value> = params_all(&params, "field")
            .into_iter()
            .filter(|f| !f.trim().is_empty())
            .take(MAX_FIELDS)
            .map(|f| (f.trim().to_string(), json!("string")))
            .collect();
        let units: Map<String, Value> = fields.keys().map(|k| (k.clone(), Value::Null)).collect();
        return Ok(
            Json(json!({"data": [], "meta": {"fields": fields, "units": units, "dataset": dataset}})).into_response(),
        );
    }
    let request = Request::parse(&params, now_us())?;
    let project_ids = super::issues::org_projects(&state, &caller, &org, &params).await?;
    let scanned = Scanned::read(&state, &org, project_ids, &request).await?;
    let subjects = scanned.subjects();
    let all = rows(&request, &subjects);
    let has_next = all.len() > request.offset + request.per_page;
    let page: Vec<Value> = all
        .into_iter()
        .skip(request.offset)
        .take(request.per_page)
        .map(Value::Object)
        .collect();
    let link = link_header(&state.base_url(), &uri, request.offset, request.per_page, has_next);
    let mut response = Json(json!({"data": page, "meta": request.meta()})).into_response();
    response.headers_mut().insert(header::LINK, link);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn columns_parse_and_unknown_ones_are_refused() {
        assert_eq!(Column::parse("count()").unwrap(), Column::Count);
        assert_eq!(Column::parse("tags[browser]").unwrap(), Column::Tag("browser".into()));
        assert_eq!(Column::parse("os.name").unwrap(), Column::Tag("os.name".into()));
        assert!(Column::parse("p95(transaction.duration)").is_err());
        assert!(Column::parse("count_unique(foo)").is_err());
        assert!(Column::parse("a b").is_err());
    }

    #[test]
    fn sort_must_name_a_selected_field_and_fields_are_bounded() {
        let now = 1_800_000_000_000_000;
        assert!(Request::parse(&params(&[("field", "title"), ("sort", "-count()")]), now).is_err());
        assert!(Request::parse(&params(&[("sort", "-timestamp")]), now).is_err());
        let many: Vec<(&str, &str)> = (0..=MAX_FIELDS).map(|_| ("field", "title")).collect();
        assert!(Request::parse(&params(&many), now).is_err());
        let r = Request::parse(
            &params(&[("field", "title"), ("field", "count()"), ("sort", "-count()")]),
            now,
        )
        .unwrap();
        assert!(r.has_aggregates());
        assert!(r.sort.unwrap().descending);
        assert!(Request::parse(&params(&[("field", "title"), ("statsPeriod", "400d")]), now).is_err());
        assert!(Request::parse(&params(&[("field", "title"), ("statsPeriod", "soon")]), now).is_err());
    }

    #[test]
    fn glob_matches_stars_case_insensitively() {
        assert!(glob_match("*Boom*", "a boom happened"));
        assert!(glob_match("web-*", "WEB-1A"));
        assert!(!glob_match("web-*", "api-1"));
        assert!(glob_match("exact", "EXACT"));
        assert!(!glob_match("exact", "exactly"));
    }

    proptest! {
        #[test]
        fn glob_of_the_text_itself_matches(text in "[a-z0-9 ]{0,20}", cut in 0usize..20) {
            prop_assert!(glob_match(&text, &text));
            let cut = cut.min(text.len());
            let prefix = format!("{}*", &text[..cut]);
            prop_assert!(glob_match(&prefix, &text));
            prop_assert!(glob_match("*", &text));
        }
    }
}
