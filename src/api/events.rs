//! Events: per issue (list, latest/oldest/recommended, by id) and per project.

use crate::http::Json;
use crate::http::{IntoResponse, Response};
use crate::http::{Path, Query, RequestUri, State};
use crate::http::{Uri, header};
use serde_json::{Value, json};

use super::auth::Caller;
use super::issues::resolve_issue;
use super::pagination::{Cursor, link_header, page_size};
use super::serialize;
use super::{IssuePath, resolve_org, resolve_project, visible_projects};
use super::{discover, query};
use crate::errors::ApiError;
use crate::ids::EventId;
use crate::state::AppState;
use crate::store::{Condition, EventOrder, StoreError, StoredEvent, now_us};

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn full(params: &Params) -> bool {
    matches!(param(params, "full"), Some("1" | "true"))
}

fn page(state: &AppState, uri: &Uri, events: Vec<StoredEvent>, offset: usize, limit: usize, full: bool) -> Response {
    let has_next = events.len() > limit;
    let items: Vec<Value> = events
        .iter()
        .take(limit)
        .map(|e| {
            if full {
                serialize::event(e)
            } else {
                serialize::simple_event(e)
            }
        })
        .collect();
    let mut response = Json(items).into_response();
    response.headers_mut().insert(
        header::LINK,
        link_header(&state.base_url(), uri, offset, limit, has_next),
    );
    response
}

async fn issue_events_response(
    state: &AppState,
    caller: &Caller,
    uri: &Uri,
    org: Option<&str>,
    id: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let (issue, project) = resolve_issue(state, caller, org, id).await?;
    let cursor = Cursor::parse(param(params, "cursor"))?;
    let limit = page_size(param(params, "per_page").or_else(|| param(params, "limit")))?;
    let (issue_id, offset) = (issue.id, cursor.offset);
    let Some(search) = EventSearch::parse(params, now_us())? else {
        let events = state
            .store
            .issue_events(issue_id, EventOrder::NewestFirst, limit + 1, offset)
            .await?;
        return Ok(page(state, uri, events, offset, limit, full(params)));
    };
    // A search reads the issue's newest events (bounded, as the organization search does)
    // and filters them here with the same matcher.
    let scanned = state
        .store
        .issue_events(issue_id, EventOrder::NewestFirst, discover::MAX_SCAN, 0)
        .await?;
    let events: Vec<StoredEvent> = scanned
        .into_iter()
        .filter(|e| {
            search.matches(&discover::Subject {
                event: e,
                issue: Some(&issue),
                project: Some(&project),
            })
        })
        .skip(offset)
        .take(limit + 1)
        .collect();
    Ok(page(state, uri, events, offset, limit, full(params)))
}

/// The longest window an issue's event search takes (an issue's events span at most the
/// retention period, far less).
const MAX_WINDOW_DAYS: i64 = 3650;

/// The filters an issue's event list takes (`query`, `environment`, `statsPeriod` or
/// `start`/`end`), as Sentry's issue events endpoint and the MCP server send them.
struct EventSearch {
    conditions: Vec<Condition>,
    environments: Vec<String>,
    since_us: i64,
    until_us: i64,
}

impl EventSearch {
    /// `None` when nothing filters (the plain, paged list).
    fn parse(params: &Params, now: i64) -> Result<Option<EventSearch>, ApiError> {
        let conditions = query::parse(param(params, "query").unwrap_or(""), now)?;
        let environments: Vec<String> = params
            .iter()
            .filter(|(k, v)| k == "environment" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect();
        let windowed = ["statsPeriod", "start", "end"]
            .iter()
            .any(|k| param(params, k).is_some_and(|v| !v.is_empty()));
        let (since_us, until_us) = if windowed {
            discover::time_range(params, now, MAX_WINDOW_DAYS)?
        } else {
            (i64::MIN, i64::MAX)
        };
        if conditions.is_empty() && environments.is_empty() && !windowed {
            return Ok(None);
        }
        Ok(Some(EventSearch {
            conditions,
            environments,
            since_us,
            until_us,
        }))
    }

    fn matches(&self, subject: &discover::Subject<'_>) -> bool {
        let event = subject.event;
        let environment = event.data.get("environment").and_then(Value::as_str).unwrap_or("");
        (self.environments.is_empty() || self.environments.iter().any(|e| e == environment))
            && event.timestamp >= self.since_us
            && event.timestamp < self.until_us
            && self.conditions.iter().all(|c| subject.matches(c))
    }
}

pub async fn issue_events(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    path: IssuePath,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    issue_events_response(&state, &caller, &uri, path.org(), &path.id, &params).await
}

/// The full event with its neighbours in the issue.
async fn with_neighbours(state: &AppState, event: StoredEvent) -> Result<Value, ApiError> {
    let (previous, next) = state.store.neighbours(&event).await?;
    let mut v = serialize::event(&event);
    v["previousEventID"] = json!(previous);
    v["nextEventID"] = json!(next);
    Ok(v)
}

async fn issue_event_response(
    state: &AppState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
    which: &str,
) -> Result<Json<Value>, ApiError> {
    let (issue, _) = resolve_issue(state, caller, org, id).await?;
    let issue_id = issue.id;
    let project_id = issue.project_id;
    let event = match which {
        "latest" | "recommended" => state
            .store
            .issue_events(issue_id, EventOrder::NewestFirst, 1, 0)
            .await?
            .pop(),
        "oldest" => state
            .store
            .issue_events(issue_id, EventOrder::OldestFirst, 1, 0)
            .await?
            .pop(),
        raw => match EventId::parse_lookup(raw) {
            Some(event_id) => state
                .store
                .find_event(vec![project_id], &event_id)
                .await?
                .filter(|e| e.issue_id == issue_id),
            None => None,
        },
    };
    let event = event.ok_or_else(|| {
        ApiError::NotFoundDetail(
            "Event not found. The event ID may be incorrect, or it's age exceeded the retention period.".into(),
        )
    })?;
    Ok(Json(with_neighbours(state, event).await?))
}

pub async fn issue_event(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    issue_event_response(&state, &caller, path.org(), &path.id, path.param("event")?).await
}

pub async fn project_events(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let cursor = Cursor::parse(param(&params, "cursor"))?;
    let limit = page_size(param(&params, "per_page").or_else(|| param(&params, "limit")))?;
    let (project_id, offset) = (project.id, cursor.offset);
    let events = state.store.project_events(project_id, limit + 1, offset).await?;
    Ok(page(&state, &uri, events, offset, limit, full(&params)))
}

/// An event of a project by the id in the path: "Event not found" for an unknown id and
/// for what cannot be one.
pub(super) async fn find_project_event(
    state: &AppState,
    caller: &Caller,
    org: &str,
    project: &str,
    event: &str,
) -> Result<StoredEvent, ApiError> {
    let (_, project) = resolve_project(state, caller, org, project).await?;
    let not_found = || ApiError::NotFoundDetail("Event not found".into());
    let event_id = EventId::parse_lookup(event).ok_or_else(not_found)?;
    let project_id = project.id;
    state.store.event(project_id, &event_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => not_found(),
        e => e.into(),
    })
}

pub async fn project_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, event)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let event = find_project_event(&state, &caller, &org, &project, &event).await?;
    Ok(Json(with_neighbours(&state, event).await?))
}

pub async fn project_event_json(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, event)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let event = find_project_event(&state, &caller, &org, &project, &event).await?;
    Ok(Json(event.data))
}

pub async fn event_id_lookup(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, event)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let event_id = EventId::parse_lookup(&event).ok_or(ApiError::NotFound)?;
    let projects = visible_projects(&caller, state.store.projects(Some(org.id)).await?);
    let ids = projects.iter().map(|p| p.id).collect();
    let event = state
        .store
        .find_event(ids, &event_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let project = projects
        .into_iter()
        .find(|p| p.id == event.project_id)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(json!({
        "organizationSlug": org.slug,
        "projectSlug": project.slug,
        "groupId": event.issue_id.to_string(),
        "eventId": event.event_id,
        "event": serialize::event(&event),
    })))
}
