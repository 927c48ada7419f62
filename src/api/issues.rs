//! Issues: lists with search, detail, status changes, deletion, tags and hashes.

use std::collections::HashMap;

use crate::http::Json;
use crate::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use crate::http::{IntoResponse, Response};
use crate::http::{Path, Query, RequestUri, State};
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::issue_page::issue_page;
use super::pagination::{Cursor, link_header, link_header_with, page_size};
use super::serialize::{self, iso};
use super::{IssuePath, query, resolve_org, resolve_project};
use crate::errors::ApiError;
use crate::ids::{EventId, IssueStatus, ShortId};
use crate::state::AppState;
use crate::store::{
    Cmp, Condition, Issue, IssueFilter, IssueSort, Organization, Project, StatusChange, TagValue, now_us,
};

/// Query parameters as a list, since Sentry repeats keys (`id=1&id=2`, `project=…`).
pub(super) type Params = Vec<(String, String)>;

pub(super) fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub(super) fn params_all<'a>(params: &'a Params, key: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Which `stats` series to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatsPeriod {
    None,
    Day,
    TwoWeeks,
}

fn stats_period(raw: Option<&str>, param_name: &str) -> Result<StatsPeriod, ApiError> {
    match raw {
        None | Some("24h") | Some("auto") => Ok(StatsPeriod::Day),
        Some("") => Ok(StatsPeriod::None),
        Some("14d") => Ok(StatsPeriod::TwoWeeks),
        Some(_) => Err(ApiError::BadRequest(format!(
            "Invalid {param_name}. Valid choices are '', '24h', and '14d'"
        ))),
    }
}

fn sort(raw: Option<&str>) -> Result<IssueSort, ApiError> {
    Ok(match raw.unwrap_or("date") {
        "date" | "" | "priority" | "trends" | "recommended" | "inbox" => IssueSort::Date,
        "new" => IssueSort::New,
        "freq" => IssueSort::Freq,
        "user" => IssueSort::User,
        other => return Err(ApiError::BadRequest(format!("Invalid sort: {other:?}"))),
    })
}

/// Most issues one organization list page holds: Grafana asks for up to 10,000 at once.
pub const MAX_ORG_LIST_LIMIT: usize = 10_000;

/// Issues serialized per store round trip, so a large page never asks for unbounded lists.
const SERIALIZE_CHUNK: usize = 500;

/// `limit` of the organization list: default 100, clamped to [`MAX_ORG_LIST_LIMIT`], never refused.
pub fn org_page_size(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(100),
        Some(r) => r
            .parse::<i64>()
            .map(|n| usize::try_from(n.clamp(1, MAX_ORG_LIST_LIMIT as i64)).unwrap_or(100))
            .map_err(|_| ApiError::BadRequest(format!("Invalid per_page/limit parameter {r:?}."))),
    }
}

/// Serializes issues with their projects and the chosen stats series, a chunk at a time.
async fn issue_values(state: &AppState, issues: Vec<Issue>, stats: StatsPeriod) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(issues.len());
    for chunk in issues.chunks(SERIALIZE_CHUNK) {
        out.extend(issue_values_chunk(state, chunk, stats).await?);
    }
    Ok(out)
}

async fn issue_values_chunk(state: &AppState, issues: &[Issue], stats: StatsPeriod) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
    let mut project_ids: Vec<i64> = issues.iter().map(|i| i.project_id).collect();
    project_ids.sort_unstable();
    project_ids.dedup();
    let now = now_us();
    let projects = state.store.projects_by_id(project_ids).await?;
    let series = match stats {
        StatsPeriod::None => HashMap::new(),
        StatsPeriod::Day => state.store.issue_stats(ids, now, 1, 24).await?,
        StatsPeriod::TwoWeeks => state.store.issue_stats(ids, now, 24, 14).await?,
    };
    let base = state.base_url();
    let mut out = Vec::with_capacity(issues.len());
    for issue in issues {
        let project = projects.get(&issue.project_id).ok_or(ApiError::NotFound)?;
        let mut v = serialize::issue(issue, project, &base);
        let key = match stats {
            StatsPeriod::None => None,
            StatsPeriod::Day => Some("24h"),
            StatsPeriod::TwoWeeks => Some("14d"),
        };
        if let Some(key) = key {
            let points = series.get(&issue.id).cloned().unwrap_or_default();
            v["stats"] = json!({ key: points.iter().map(|(t, c)| json!([t, c])).collect::<Vec<_>>() });
        }
        out.push(v);
    }
    Ok(out)
}

/// The conditions of a list request: `query` absent ⇒ unresolved only; present but empty ⇒ everything.
fn conditions(params: &Params) -> Result<Vec<Condition>, ApiError> {
    match param(params, "query") {
        None => Ok(vec![Condition::Status {
            values: vec!["unresolved".into()],
            negate: false,
        }]),
        Some(q) => query::parse(q, now_us()),
    }
}

fn environment_conditions(params: &Params) -> Vec<Condition> {
    let envs: Vec<String> = params_all(params, "environment")
        .into_iter()
        .filter(|e| !e.is_empty())
        .map(String::from)
        .collect();
    if envs.is_empty() {
        vec![]
    } else {
        vec![Condition::Environment {
            values: envs,
            negate: false,
        }]
    }
}

/// A direct hit: the query is an event id or (with `shortIdLookup`) a short id.
async fn direct_hit(
    state: &AppState,
    params: &Params,
    project_ids: &[i64],
) -> Result<Option<(Issue, Option<EventId>)>, ApiError> {
    let Some(q) = param(params, "query")
        .map(str::trim)
        .filter(|q| !q.is_empty() && !q.contains(' '))
    else {
        return Ok(None);
    };
    let q = q.to_string();
    let projects = project_ids.to_vec();
    if let Some(event_id) = EventId::parse_lookup(&q) {
        return Ok(match state.store.find_event(projects, &event_id).await? {
            Some(e) => Some((state.store.issue(e.issue_id).await?, Some(e.event_id))),
            None => None,
        });
    }
    if param(params, "shortIdLookup") == Some("1")
        && let Some(ShortId { slug, number }) = ShortId::parse(&q)
    {
        for p in projects {
            let project = state.store.project_by_id(p).await?;
            if project.slug == slug
                && let Ok(issue) = state.store.issue_by_short_id(p, number).await
            {
                return Ok(Some((issue, None)));
            }
        }
        return Ok(None);
    }
    Ok(None)
}

async fn list(
    state: &AppState,
    uri: &Uri,
    params: Params,
    project_ids: Vec<i64>,
    org_scoped: bool,
) -> Result<Response, ApiError> {
    let stats = if org_scoped {
        stats_period(param(&params, "groupStatsPeriod"), "groupStatsPeriod")?
    } else {
        stats_period(param(&params, "statsPeriod"), "stats_period")?
    };
    let cursor = Cursor::parse(param(&params, "cursor"))?;
    let raw_limit = param(&params, "limit").or_else(|| param(&params, "per_page"));
    let limit = if org_scoped {
        org_page_size(raw_limit)?
    } else {
        page_size(raw_limit)?
    };
    if !params_all(&params, "hashes").is_empty() && param(&params, "query").is_some_and(|q| !q.is_empty()) {
        return Err(ApiError::BadRequest("Cannot use 'hashes' with 'query'".into()));
    }
    if let Some((issue, event_id)) = direct_hit(state, &params, &project_ids).await? {
        let mut values = issue_values(state, vec![issue], stats).await?;
        if let (Some(v), Some(id)) = (values.first_mut(), event_id) {
            v["matchingEventId"] = json!(id);
        }
        let mut response = Json(values).into_response();
        response.headers_mut().insert(
            HeaderName::from_static("x-sentry-direct-hit"),
            HeaderValue::from_static("1"),
        );
        response
            .headers_mut()
            .insert(header::LINK, link_header(&state.base_url(), uri, 0, limit, false));
        return Ok(response);
    }
    let mut conditions = conditions(&params)?;
    conditions.extend(environment_conditions(&params));
    if org_scoped {
        conditions.extend(window_conditions(&params)?);
    }
    let issue_ids = params_all(&params, "group")
        .into_iter()
        .map(|g| {
            g.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("Invalid group id {g:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sort = sort(param(&params, "sort"))?;
    let filter = IssueFilter {
        project_ids,
        issue_ids,
        conditions,
        sort,
        limit,
        offset: 0,
    };
    let page = issue_page(&state.store, filter, cursor).await?;
    let link = link_header_with(
        &state.base_url(),
        uri,
        (&page.prev.cursor, page.prev.exists),
        (&page.next.cursor, page.next.exists),
    );
    let values = issue_values(state, page.issues, stats).await?;
    let mut response = Json(values).into_response();
    response.headers_mut().insert(header::LINK, link);
    Ok(response)
}

/// Org lists: `statsPeriod` is a search window over last seen, or `start`/`end`.
fn window_conditions(params: &Params) -> Result<Vec<Condition>, ApiError> {
    let mut out = Vec::new();
    let start = param(params, "start").filter(|s| !s.is_empty());
    let end = param(params, "end").filter(|s| !s.is_empty());
    if start.is_some() || end.is_some() {
        let parse = |raw: &str| {
            query::parse_datetime(raw).ok_or_else(|| ApiError::BadRequest(format!("Invalid date: {raw:?}")))
        };
        if let Some(s) = start {
            out.push(Condition::LastSeen {
                cmp: Cmp::Ge,
                at_us: parse(s)?,
            });
        }
        if let Some(e) = end {
            out.push(Condition::FirstSeen {
                cmp: Cmp::Le,
                at_us: parse(e)?,
            });
        }
        return Ok(out);
    }
    if let Some(period) = param(params, "statsPeriod").filter(|p| !p.is_empty()) {
        let d = query::duration_us(period)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid statsPeriod: {period:?}")))?;
        out.push(Condition::LastSeen {
            cmp: Cmp::Ge,
            at_us: now_us() - d,
        });
    }
    Ok(out)
}

pub async fn project_list(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    list(&state, &uri, params, vec![project.id], false).await
}

/// The projects an org-scoped request names (`project=` ids or slugs; none or -1 = all).
pub(super) async fn org_projects(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    params: &Params,
) -> Result<Vec<i64>, ApiError> {
    let org_id = org.id;
    let projects = state.store.projects(Some(org_id)).await?;
    // A project the token does not see is treated like one that does not exist.
    let projects = super::visible_projects(caller, projects);
    let wanted: Vec<&str> = params_all(params, "project")
        .into_iter()
        .filter(|p| *p != "-1" && !p.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(projects.iter().map(|p| p.id).collect());
    }
    let ids: Vec<i64> = projects
        .iter()
        .filter(|p| wanted.iter().any(|w| *w == p.slug || *w == p.id.to_string()))
        .map(|p| p.id)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(ids)
}

pub async fn org_list(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let projects = org_projects(&state, &caller, &org, &params).await?;
    list(&state, &uri, params, projects, true).await
}

/// A requested status change, parsed from Sentry's update body.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub status: Option<IssueStatus>,
    pub substatus: Option<String>,
    pub details: Value,
    pub merge: bool,
    /// The delta echoed back by bulk updates.
    pub delta: Map<String, Value>,
}

fn field_error(field: &str, message: String) -> ApiError {
    ApiError::Validation {
        field: field.into(),
        message,
    }
}

/// Parses an issue update body (§7 of the web API spec).
pub fn parse_update(body: &[u8]) -> Result<Update, ApiError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("the body must be a JSON object".into()))?;
    let get = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let mut update = Update {
        details: json!({}),
        ..Default::default()
    };
    let mut details = obj
        .get("statusDetails")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    for key in [
        "ignoreDuration",
        "ignoreCount",
        "ignoreWindow",
        "ignoreUserCount",
        "ignoreUserWindow",
    ] {
        if let Some(v) = get(key) {
            details[key] = v.clone();
        }
    }
    if let Some(v) = get("snoozeDuration") {
        details["ignoreDuration"] = v.clone();
    }
    if let Some(status) = get("status") {
        let raw = status
            .as_str()
            .ok_or_else(|| field_error("status", format!("{status} is not a valid choice.")))?;
        let (status, in_next_release) = IssueStatus::from_api(raw)
            .ok_or_else(|| field_error("status", format!("\"{raw}\" is not a valid choice.")))?;
        if in_next_release {
            details["inNextRelease"] = json!(true);
        }
        update.status = Some(status);
    }
    if let Some(sub) = get("substatus") {
        let s = sub.as_str().unwrap_or("");
        const VALID: &[&str] = &[
            "archived_until_escalating",
            "archived_until_condition_met",
            "archived_forever",
            "escalating",
            "ongoing",
            "regressed",
            "new",
        ];
        if !VALID.contains(&s) {
            return Err(field_error("substatus", format!("{sub} is not a valid choice.")));
        }
        update.substatus = Some(s.to_string());
    }
    // Validate and resolve the ignore conditions.
    if let Some(minutes) = details.get("ignoreDuration").filter(|v| !v.is_null()) {
        let m = minutes
            .as_i64()
            .filter(|m| *m > 0)
            .ok_or_else(|| field_error("ignoreDuration", "must be a positive integer".into()))?;
        let until = m
            .checked_mul(60_000_000)
            .and_then(|d| now_us().checked_add(d))
            .filter(|u| chrono::DateTime::from_timestamp_micros(*u).is_some())
            .ok_or_else(|| field_error("ignoreDuration", "is too large".into()))?;
        details["ignoreUntil"] = json!(iso(until));
        details["ignoreUntilUs"] = json!(until);
    }
    if let Some(until) = details.get("ignoreUntil").filter(|v| !v.is_null())
        && details.get("ignoreUntilUs").is_none()
    {
        let at = until
            .as_str()
            .and_then(query::parse_datetime)
            .ok_or_else(|| field_error("ignoreUntil", "must be an ISO 8601 date and time".into()))?;
        details["ignoreUntil"] = json!(iso(at));
        details["ignoreUntilUs"] = json!(at);
    }
    if let Some(count) = details.get("ignoreCount").filter(|v| !v.is_null()) {
        count
            .as_i64()
            .filter(|c| *c > 0)
            .ok_or_else(|| field_error("ignoreCount", "must be a positive integer".into()))?;
    }
    if let Some(release) = details.get("inRelease").filter(|v| !v.is_null()) {
        release
            .as_str()
            .ok_or_else(|| field_error("inRelease", "must be a release version".into()))?;
    }
    if let Some(obj) = details.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    update.merge =
        matches!(get("merge"), Some(Value::Bool(true)) | Some(Value::Number(_)) if get("merge") != Some(&json!(0)));
    if let Some(status) = update.status {
        update.delta.insert("status".into(), json!(status));
        let public: Map<String, Value> = details
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| *k != "ignoreUntilUs")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        update.delta.insert("statusDetails".into(), Value::Object(public));
        let substatus = update.substatus.clone().or_else(|| match status {
            IssueStatus::Ignored if details.get("ignoreUntilUs").is_some() || details.get("ignoreCount").is_some() => {
                Some("archived_until_condition_met".into())
            }
            IssueStatus::Ignored => Some("archived_forever".into()),
            IssueStatus::Unresolved => Some("ongoing".into()),
            IssueStatus::Resolved => None,
        });
        update.substatus = substatus.clone();
        update.delta.insert("substatus".into(), json!(substatus));
    }
    for key in [
        "hasSeen",
        "isBookmarked",
        "isSubscribed",
        "isPublic",
        "priority",
        "assignedTo",
    ] {
        if let Some(v) = obj.get(key) {
            update.delta.insert(key.into(), v.clone());
        }
    }
    update.details = details;
    Ok(update)
}

/// Applies an update to issues on the writer; returns how many existed.
async fn apply(state: &AppState, ids: Vec<i64>, update: &Update) -> Result<usize, ApiError> {
    if update.merge {
        if ids.len() < 2 {
            return Err(ApiError::BadRequest("Merging needs at least two issues.".into()));
        }
        state.store.merge_issues(ids.clone()).await?;
        return Ok(ids.len());
    }
    let Some(status) = update.status else {
        return Ok(ids.len());
    };
    let change = StatusChange {
        status,
        substatus: update.substatus.clone(),
        details: update.details.clone(),
    };
    let n = ids.len();
    state.store.set_status(ids, change).await?;
    Ok(n)
}

/// The issues a bulk request targets: `?id=` values, else every match of the list query (max 1000).
async fn bulk_targets(state: &AppState, params: &Params, project_ids: Vec<i64>) -> Result<Vec<i64>, ApiError> {
    let ids: Vec<i64> = params_all(params, "id")
        .into_iter()
        .map(|g| {
            g.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("Invalid issue id {g:?}")))
        })
        .collect::<Result<_, _>>()?;
    let status = param(params, "status").filter(|s| !s.is_empty());
    // `?status=` replaces the list's default `is:unresolved` (sentry-cli sends it alone).
    let mut conditions = match (ids.is_empty(), status, param(params, "query")) {
        (false, _, _) | (true, Some(_), None) => vec![],
        (true, _, _) => conditions(params)?,
    };
    if let Some(status) = status {
        let status = if status == "muted" { "ignored" } else { status };
        conditions.push(Condition::Status {
            values: vec![status.to_string()],
            negate: false,
        });
    }
    let filter = IssueFilter {
        project_ids,
        issue_ids: ids,
        conditions,
        sort: IssueSort::Date,
        limit: 1000,
        offset: 0,
    };
    let issues = state.store.issues(filter).await?;
    Ok(issues.into_iter().map(|i| i.id).collect())
}

async fn bulk_update(
    state: &AppState,
    params: Params,
    project_ids: Vec<i64>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let update = parse_update(body)?;
    let targets = bulk_targets(state, &params, project_ids).await?;
    if targets.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    apply(state, targets, &update).await?;
    let mut delta = update.delta.clone();
    if update.merge {
        delta.insert("merge".into(), json!({"parent": "", "children": []}));
    }
    Ok(Json(Value::Object(delta)).into_response())
}

async fn bulk_delete(state: &AppState, params: Params, project_ids: Vec<i64>) -> Result<StatusCode, ApiError> {
    let targets = bulk_targets(state, &params, project_ids).await?;
    if !targets.is_empty() {
        state.store.delete_issues(targets).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn project_bulk_update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<Params>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    caller.require("event:write")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    bulk_update(&state, params, vec![project.id], &body).await
}

pub async fn project_bulk_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:admin")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    bulk_delete(&state, params, vec![project.id])
        .await
        .map(IntoResponse::into_response)
}

pub async fn org_bulk_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<Params>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    caller.require("event:write")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let projects = org_projects(&state, &caller, &org, &params).await?;
    bulk_update(&state, params, projects, &body).await
}

pub async fn org_bulk_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:admin")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let projects = org_projects(&state, &caller, &org, &params).await?;
    bulk_delete(&state, params, projects)
        .await
        .map(IntoResponse::into_response)
}

/// An issue by numeric id, or by short id within an organization.
/// An issue of a project the caller does not see answers 404.
pub async fn resolve_issue(
    state: &AppState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
) -> Result<(Issue, Project), ApiError> {
    let org = match org {
        Some(o) => Some(resolve_org(state, caller, o).await?),
        None => None,
    };
    let issue = match id.parse::<i64>() {
        Ok(n) => state.store.issue(n).await?,
        Err(_) => {
            let ShortId { slug, number } = ShortId::parse(id).ok_or(ApiError::NotFound)?;
            let projects = super::visible_projects(caller, state.store.projects(org.as_ref().map(|o| o.id)).await?);
            let project = projects.iter().find(|p| p.slug == slug).ok_or(ApiError::NotFound)?;
            state.store.issue_by_short_id(project.id, number).await?
        }
    };
    let project = state.store.project_by_id(issue.project_id).await?;
    if org.as_ref().is_some_and(|o| o.id != project.organization_id) {
        return Err(ApiError::NotFound);
    }
    if !caller.sees_project(&project) {
        return Err(ApiError::NotFound);
    }
    Ok((issue, project))
}

async fn detail_value(state: &AppState, issue: Issue, project: &Project, params: &Params) -> Result<Value, ApiError> {
    let id = issue.id;
    let now = now_us();
    let day = state.store.issue_stats(vec![id], now, 1, 24).await?;
    let month = state.store.issue_stats(vec![id], now, 24, 30).await?;
    let tags = state.store.issue_tags(id).await?;
    let collapse: Vec<&str> = params_all(params, "collapse");
    let mut v = serialize::issue(&issue, project, &state.base_url());
    let series = |m: &HashMap<i64, Vec<(i64, i64)>>| -> Vec<Value> {
        m.get(&id)
            .map(|s| s.iter().map(|(t, c)| json!([t, c])).collect())
            .unwrap_or_default()
    };
    if !collapse.contains(&"stats") {
        v["stats"] = json!({"24h": series(&day), "30d": series(&month)});
    }
    if !collapse.contains(&"tags") {
        v["tags"] = tag_keys(&tags, 0);
    }
    if collapse.contains(&"release")
        && let Some(obj) = v.as_object_mut()
    {
        obj.remove("firstRelease");
        obj.remove("lastRelease");
    }
    v["userReportCount"] = json!(0);
    v["activity"] = json!(super::notes::issue_activity_values(state, &issue).await?);
    v["seenBy"] = json!([]);
    v["participants"] = json!([]);
    v["pluginActions"] = json!([]);
    v["pluginIssues"] = json!([]);
    Ok(v)
}

/// Human name of a tag key.
pub(super) fn tag_name(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Tag keys with totals and up to `top` top values.
fn tag_keys(tags: &[TagValue], top: usize) -> Value {
    let mut keys: Vec<(&str, Vec<&TagValue>)> = Vec::new();
    for t in tags {
        match keys.iter_mut().find(|(k, _)| *k == t.key) {
            Some((_, values)) => values.push(t),
            None => keys.push((&t.key, vec![t])),
        }
    }
    Value::Array(
        keys.into_iter()
            .map(|(key, mut values)| {
                values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
                let total: i64 = values.iter().map(|v| v.count).sum();
                let mut v =
                    json!({"key": key, "name": tag_name(key), "totalValues": total, "uniqueValues": values.len()});
                if top > 0 {
                    v["topValues"] = values.iter().take(top).map(|t| tag_value(t)).collect();
                }
                v
            })
            .collect(),
    )
}

fn tag_value(t: &TagValue) -> Value {
    json!({"key": t.key, "name": t.value, "value": t.value, "count": t.count,
           "firstSeen": iso(t.first_seen), "lastSeen": iso(t.last_seen)})
}

pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let (issue, project) = resolve_issue(&state, &caller, path.org(), &path.id).await?;
    Ok(Json(detail_value(&state, issue, &project, &params).await?))
}

async fn update_one(
    state: &AppState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
    body: &[u8],
) -> Result<Json<Value>, ApiError> {
    let update = parse_update(body)?;
    if update.merge {
        return Err(ApiError::BadRequest(
            "Merging needs the bulk endpoint with several ids.".into(),
        ));
    }
    let (issue, _) = resolve_issue(state, caller, org, id).await?;
    apply(state, vec![issue.id], &update).await?;
    let (issue, project) = resolve_issue(state, caller, org, id).await?;
    Ok(Json(detail_value(state, issue, &project, &Vec::new()).await?))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
    body: crate::http::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:write")?;
    update_one(&state, &caller, path.org(), &path.id, &body).await
}

async fn delete_one(state: &AppState, caller: &Caller, org: Option<&str>, id: &str) -> Result<StatusCode, ApiError> {
    let (issue, _) = resolve_issue(state, caller, org, id).await?;
    state.store.delete_issues(vec![issue.id]).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn delete(State(state): State<AppState>, caller: Caller, path: IssuePath) -> Result<Response, ApiError> {
    caller.require("event:admin")?;
    delete_one(&state, &caller, path.org(), &path.id)
        .await
        .map(IntoResponse::into_response)
}

async fn tags_of(state: &AppState, caller: &Caller, org: Option<&str>, id: &str) -> Result<Vec<TagValue>, ApiError> {
    let (issue, _) = resolve_issue(state, caller, org, id).await?;
    Ok(state.store.issue_tags(issue.id).await?)
}

async fn tags_response(
    state: &AppState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
    params: &Params,
) -> Result<Json<Value>, ApiError> {
    let tags = tags_of(state, caller, org, id).await?;
    let wanted = params_all(params, "key");
    let tags: Vec<TagValue> = tags
        .into_iter()
        .filter(|t| wanted.is_empty() || wanted.contains(&t.key.as_str()))
        .collect();
    Ok(Json(tag_keys(&tags, 9)))
}

pub async fn tags(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    tags_response(&state, &caller, path.org(), &path.id, &params).await
}

async fn tag_response(
    state: &AppState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
    key: &str,
) -> Result<Json<Value>, ApiError> {
    let tags: Vec<TagValue> = tags_of(state, caller, org, id)
        .await?
        .into_iter()
        .filter(|t| t.key == key)
        .collect();
    let keys = tag_keys(&tags, 9);
    keys.as_array()
        .and_then(|a| a.first())
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound)
}

pub async fn tag(State(state): State<AppState>, caller: Caller, path: IssuePath) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    tag_response(&state, &caller, path.org(), &path.id, path.param("key")?).await
}

async fn tag_values_response(
    state: &AppState,
    caller: &Caller,
    uri: &Uri,
    org: Option<&str>,
    id: &str,
    key: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let mut values: Vec<TagValue> = tags_of(state, caller, org, id)
        .await?
        .into_iter()
        .filter(|t| t.key == key)
        .collect();
    if values.is_empty() {
        return Err(ApiError::NotFound);
    }
    match param(params, "sort").unwrap_or("-count") {
        "-last_seen" => values.sort_by_key(|v| std::cmp::Reverse(v.last_seen)),
        "-first_seen" => values.sort_by_key(|v| std::cmp::Reverse(v.first_seen)),
        _ => values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value))),
    }
    let items = values.iter().map(tag_value).collect();
    paged_by(state, uri, params, items)
}

pub async fn tag_values(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    path: IssuePath,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    tag_values_response(&state, &caller, &uri, path.org(), &path.id, path.param("key")?, &params).await
}

async fn hashes_response(
    state: &AppState,
    caller: &Caller,
    uri: &Uri,
    org: Option<&str>,
    id: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let (issue, _) = resolve_issue(state, caller, org, id).await?;
    let issue_id = issue.id;
    let hashes = state.store.issue_hashes(issue_id).await?;
    let latest = state.store.latest_event_per_hash(issue_id).await?;
    let items = hashes
        .iter()
        .map(|h| {
            json!({
                "id": h.hash,
                "groupingConfig": h.grouping_config,
                "latestEvent": latest.get(&h.hash).map(serialize::simple_event),
            })
        })
        .collect();
    paged_by(state, uri, params, items)
}

pub async fn hashes(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    path: IssuePath,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    hashes_response(&state, &caller, &uri, path.org(), &path.id, &params).await
}

pub async fn short_id_lookup(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, short)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let (issue, project) = resolve_issue(&state, &caller, Some(&org), &short).await?;
    let org_slug = project.organization_slug.clone();
    let group = detail_value(&state, issue.clone(), &project, &Vec::new()).await?;
    Ok(Json(json!({
        "organizationSlug": org_slug,
        "projectSlug": project.slug,
        "groupId": issue.id.to_string(),
        "shortId": ShortId::new(&project.slug, issue.short_id).to_string(),
        "group": group,
    })))
}

/// One page of `items`, paged by the request's `cursor` and `per_page`.
fn paged_by(state: &AppState, uri: &Uri, params: &Params, items: Vec<Value>) -> Result<Response, ApiError> {
    let list = super::organizations::ListParams {
        cursor: param(params, "cursor").map(String::from),
        per_page: param(params, "per_page").map(String::from),
        query: None,
    };
    super::organizations::paged(state, uri, &list, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_list_limit_is_clamped_to_ten_thousand_never_refused() {
        assert_eq!(org_page_size(None).unwrap(), 100);
        assert_eq!(org_page_size(Some("10000")).unwrap(), 10_000);
        assert_eq!(org_page_size(Some("50000")).unwrap(), MAX_ORG_LIST_LIMIT);
        assert_eq!(org_page_size(Some("0")).unwrap(), 1);
        assert!(org_page_size(Some("many")).is_err());
    }
}
