//! Ingest statistics and what came with events: the outcomes of a project per day
//! (Sentry's legacy `stats/` shape and Errata's detailed `outcomes/`), and event
//! attachments (list and download).
//!
//! `GET /api/0/projects/{org}/{project}/stats/?stat=received&since=…&until=…` answers
//! `[[unix_ts, count], …]`, one pair per UTC day from `since` to `until` (Unix seconds;
//! default the last 30 days). `stat` is `received` (everything that reached ingest),
//! `accepted` (alias `generated`), `rejected` (rate limited), `blacklisted` (filtered), or
//! any outcome name (`invalid`, `too_large`, `duplicate`, `client_discard`…). `category`
//! (comma-separated) selects data categories; default the event ones (`error,default,security`).
//!
//! `GET /api/0/projects/{org}/{project}/outcomes/?since=…&until=…` answers
//! `{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD", "totals": {outcome: n}, "rows":
//! [{"day", "category", "outcome", "reason", "quantity"}]}` for every category.

use crate::http::Json;
use crate::http::{HeaderValue, header};
use crate::http::{IntoResponse, Response};
use crate::http::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::resolve_project;
use super::serialize::iso;
use crate::errors::ApiError;
use crate::ids::EventId;
use crate::state::AppState;
use crate::store::{OutcomeRow, StoreError};

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

const DAY_SECS: i64 = 86_400;
/// The longest range one request may ask for, in days.
const MAX_DAYS: i64 = 366;

/// `since`/`until` as Unix seconds (floats allowed) or `YYYY-MM-DD`, rounded to whole UTC days.
fn day_of(raw: Option<&str>, default: i64, name: &str) -> Result<i64, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(default.div_euclid(DAY_SECS));
    };
    if let Ok(secs) = raw.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs as i64).div_euclid(DAY_SECS));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp() / DAY_SECS)
        .map_err(|_| ApiError::Validation {
            field: name.into(),
            message: "expected Unix seconds or YYYY-MM-DD".into(),
        })
}

fn day_name(day: i64) -> String {
    iso(day * DAY_SECS * 1_000_000)[..10].to_string()
}

/// The requested day range (inclusive), checked.
fn range(params: &Params) -> Result<(i64, i64), ApiError> {
    let now = chrono::Utc::now().timestamp();
    let until = day_of(param(params, "until"), now, "until")?;
    let since = day_of(param(params, "since"), now - 29 * DAY_SECS, "since")?;
    if since > until {
        return Err(ApiError::Validation {
            field: "since".into(),
            message: "since must not be after until".into(),
        });
    }
    if until - since >= MAX_DAYS {
        return Err(ApiError::Validation {
            field: "since".into(),
            message: format!("at most {MAX_DAYS} days per request"),
        });
    }
    Ok((since, until))
}

/// Reads a project's outcomes, after writing what ingest still holds in memory (exact reads).
async fn rows(state: &AppState, project_id: i64, since: i64, until: i64) -> Result<Vec<OutcomeRow>, ApiError> {
    if let Err(e) = state.cache.flush(&state.store).await {
        tracing::warn!(error = %e, "flushing outcomes before a stats read failed");
    }
    let (since, until) = (day_name(since), day_name(until));
    Ok(state.store.outcomes(project_id, &since, &until).await?)
}

/// Whether an outcome row counts toward a legacy `stat`.
fn counts_toward(stat: &str, outcome: &str) -> bool {
    match stat {
        "received" => outcome != "client_discard",
        "accepted" | "generated" => outcome == "accepted",
        "rejected" => outcome == "rate_limited",
        "blacklisted" => outcome == "filtered",
        other => outcome == other,
    }
}

pub async fn project_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let stat = param(&params, "stat").unwrap_or("received");
    const STATS: &[&str] = &[
        "received",
        "accepted",
        "generated",
        "rejected",
        "blacklisted",
        "filtered",
        "rate_limited",
        "invalid",
        "too_large",
        "duplicate",
        "client_discard",
    ];
    if !STATS.contains(&stat) {
        return Err(ApiError::Validation {
            field: "stat".into(),
            message: format!("one of {}", STATS.join(", ")),
        });
    }
    let categories: Vec<&str> = param(&params, "category")
        .map(|c| c.split(',').map(str::trim).filter(|c| !c.is_empty()).collect())
        .unwrap_or_else(|| vec!["error", "default", "security"]);
    let (since, until) = range(&params)?;
    let rows = rows(&state, project.id, since, until).await?;
    let series: Vec<Value> = (since..=until)
        .map(|day| {
            let name = day_name(day);
            let count: i64 = rows
                .iter()
                .filter(|r| {
                    r.day == name && categories.contains(&r.category.as_str()) && counts_toward(stat, &r.outcome)
                })
                .map(|r| r.quantity)
                .sum();
            json!([day * DAY_SECS, count])
        })
        .collect();
    Ok(Json(Value::Array(series)))
}

pub async fn project_outcomes(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let (since, until) = range(&params)?;
    let rows = rows(&state, project.id, since, until).await?;
    let mut totals = Map::new();
    for r in &rows {
        let total = totals.entry(r.outcome.clone()).or_insert(json!(0));
        *total = json!(total.as_i64().unwrap_or(0) + r.quantity);
    }
    Ok(Json(json!({
        "start": day_name(since),
        "end": day_name(until),
        "totals": totals,
        "rows": rows,
    })))
}

pub async fn event_attachments(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, event)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    // An id that cannot be stored has no attachments.
    let Some(event_id) = EventId::parse_lookup(&event) else {
        return Ok(Json(Value::Array(Vec::new())));
    };
    let list = state.store.attachments(project.id, &event_id).await?;
    Ok(Json(Value::Array(
        list.iter()
            .map(|a| {
                json!({
                    "id": a.id.to_string(),
                    "event_id": a.event_id,
                    "name": a.name,
                    "type": a.attachment_type,
                    "mimetype": a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
                    "size": a.size,
                    "headers": {"Content-Type": a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into())},
                    "sha1": null,
                    "dateCreated": iso(a.date_created),
                })
            })
            .collect(),
    )))
}

/// One attachment's bytes, served as a download whatever its declared type.
pub async fn event_attachment(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, event, id)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let event_id = EventId::parse_lookup(&event).ok_or(ApiError::NotFound)?;
    let (info, data) = state
        .store
        .attachment(project.id, &event_id, id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ApiError::NotFound,
            e => e.into(),
        })?;
    let mut response = data.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let safe_name: String = info
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_from_seconds_or_dates() {
        assert_eq!(day_of(Some("86400"), 0, "since").unwrap(), 1);
        assert_eq!(day_of(Some("1970-01-03"), 0, "since").unwrap(), 2);
        assert_eq!(day_of(None, 3 * DAY_SECS + 5, "since").unwrap(), 3);
        assert!(day_of(Some("yesterday"), 0, "since").is_err());
        assert_eq!(day_name(20_151), "2025-03-04");
    }

    #[test]
    fn legacy_stats_map_to_outcomes() {
        assert!(counts_toward("received", "rate_limited"));
        assert!(!counts_toward("received", "client_discard"));
        assert!(counts_toward("rejected", "rate_limited"));
        assert!(counts_toward("blacklisted", "filtered"));
        assert!(counts_toward("generated", "accepted"));
        assert!(!counts_toward("accepted", "duplicate"));
    }
}
