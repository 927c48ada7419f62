//! What Sentry's MCP server asks about a trace (`/organizations/{org}/trace/{id}/` and
//! `/trace-meta/{id}/`) and the organization's tag keys (`/organizations/{org}/tags/`, which
//! Grafana lists). Errata keeps no spans: a trace is answered with the errors recorded in it,
//! as Sentry answers errors that belong to no span.

use serde_json::{Value, json};

use super::auth::Caller;
use super::discover::{MAX_RANGE_DAYS, Scanned, time_range};
use super::issues::{Params, org_projects, tag_name};
use super::pagination::link_header;
use super::resolve_org;
use crate::errors::ApiError;
use crate::http::{IntoResponse, Json, Path, Query, RequestUri, Response, State, header};
use crate::ids::ShortId;
use crate::state::AppState;
use crate::store::{Issue, Project, StoredEvent, now_us};

/// Most errors one trace answers with.
pub const MAX_TRACE_EVENTS: usize = 1_000;
/// Most tag keys the organization list answers with.
pub const MAX_TAG_KEYS: usize = 1_000;

/// A trace id: 32 hex digits (dashes allowed, as in a UUID), lower-cased.
pub fn parse_trace_id(raw: &str) -> Result<String, ApiError> {
    let id: String = raw
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ApiError::BadRequest(format!("Invalid trace id: {raw:?}")))
    }
}

fn text<'a>(data: &'a Value, pointer: &str) -> Option<&'a str> {
    data.pointer(pointer).and_then(Value::as_str)
}

/// One error of a trace, in the shape of Sentry's `SerializedIssue`.
pub fn trace_error(event: &StoredEvent, issue: Option<&Issue>, project: Option<&Project>) -> Value {
    let d = &event.data;
    let title = text(d, "/title").unwrap_or("<unlabeled event>");
    let seconds = event.timestamp as f64 / 1_000_000.0;
    json!({
        "id": event.event_id,
        "event_id": event.event_id,
        "event_type": "error",
        "type": "error",
        "issue_id": event.issue_id,
        "short_id": match (issue, project) {
            (Some(i), Some(p)) => Value::String(ShortId::new(&p.slug, i.short_id).to_string()),
            _ => Value::Null,
        },
        "project_id": event.project_id,
        "project_slug": project.map(|p| p.slug.as_str()).unwrap_or(""),
        "title": title,
        "description": title,
        "culprit": text(d, "/culprit").unwrap_or(""),
        "level": text(d, "/level").unwrap_or("error"),
        "transaction": text(d, "/transaction"),
        "span_id": text(d, "/contexts/trace/span_id"),
        "timestamp": seconds,
        "start_timestamp": seconds,
        "end_timestamp": seconds,
    })
}

/// The errors of a trace the caller sees, newest first, with their issues and projects.
async fn trace_errors(
    state: &AppState,
    caller: &Caller,
    org: &str,
    id: &str,
    params: &Params,
) -> Result<Vec<Value>, ApiError> {
    let org = resolve_org(state, caller, org).await?;
    let trace_id = parse_trace_id(id)?;
    let project_ids = org_projects(state, caller, &org, params).await?;
    let events = state
        .store
        .trace_events(project_ids, &trace_id, MAX_TRACE_EVENTS)
        .await?;
    let (issues, projects) = Scanned::context(state, &org, &events).await?;
    Ok(events
        .iter()
        .map(|e| trace_error(e, issues.get(&e.issue_id), projects.get(&e.project_id)))
        .collect())
}

/// `GET /organizations/{org}/trace/{id}/`: the trace's errors (no spans are kept).
pub async fn trace(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    Ok(Json(Value::Array(
        trace_errors(&state, &caller, &org, &id, &params).await?,
    )))
}

/// `GET /organizations/{org}/trace-meta/{id}/`: how much the trace holds.
pub async fn trace_meta(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let errors = trace_errors(&state, &caller, &org, &id, &params).await?;
    Ok(Json(json!({
        "errors": errors.len(),
        "performance_issues": 0,
        "logs": 0,
        "span_count": 0,
        "transaction_child_count_map": [],
        "span_count_map": {},
    })))
}

/// `GET /organizations/{org}/tags/`: tag keys seen in the window, most seen first.
pub async fn org_tags(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (since_us, _) = time_range(&params, now_us(), MAX_RANGE_DAYS)?;
    let project_ids = org_projects(&state, &caller, &org, &params).await?;
    let keys = state.store.tag_keys(project_ids, since_us, MAX_TAG_KEYS).await?;
    let body: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({"key": k.key, "name": tag_name(&k.key), "totalValues": k.total_values,
                   "uniqueValues": k.unique_values})
        })
        .collect();
    let count = body.len().max(1);
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::LINK, link_header(&state.base_url(), &uri, 0, count, false));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trace_ids_are_32_hex_digits() {
        assert_eq!(
            parse_trace_id("A4D1AAE7-216B-47FF-8117-CF4E09CE9D0A").unwrap(),
            "a4d1aae7216b47ff8117cf4e09ce9d0a"
        );
        assert!(parse_trace_id("abc").is_err());
        assert!(parse_trace_id("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_a_trace_id_or_a_client_error(raw in ".{0,64}") {
            if let Ok(id) = parse_trace_id(&raw) {
                prop_assert_eq!(id.len(), 32);
            }
        }
    }
}
