//! An issue's page with one of its events (the latest unless the address names one),
//! and the actions on it: status changes and deletion (after a confirmation page).

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::{find_issue, issue_href, organization};
use crate::api::grouping::explained;
use crate::api::issues::parse_update;
use crate::http::{Path, State};
use crate::ids::{EventId, ShortId};
use crate::state::AppState;
use crate::store::{EventOrder, Issue, Project, StatusChange, StoredEvent, now_us};
use crate::web::WebError;
use crate::web::csrf::Form;
use crate::web::layout::{Chrome, Section, render, see_other};
use crate::web::session::Viewer;
use crate::web::view::details::{Details, details};
use crate::web::view::frames::{ExceptionView, exceptions};
use crate::web::view::grouping::{VariantView, variants};
use crate::web::view::sparkline::{Sparkline, sparkline};
use crate::web::view::tags::{TagSummary, summarize};
use crate::web::view::time::{ago, datetime};

#[derive(Template)]
#[template(path = "issues/issue.html")]
pub struct IssuePage {
    pub chrome: Chrome,
    pub href: String,
    pub short_id: String,
    pub title: String,
    pub culprit: String,
    pub level: String,
    pub status: &'static str,
    pub substatus: String,
    pub project: String,
    pub stream_href: String,
    pub first_seen: String,
    pub first_seen_at: String,
    pub last_seen: String,
    pub last_seen_at: String,
    pub count: i64,
    pub users: i64,
    pub first_release: String,
    pub last_release: String,
    pub day: Sparkline,
    pub month: Sparkline,
    pub tags: Vec<TagSummary>,
    pub event: Option<EventPanel>,
    pub can_write: bool,
}

/// The event shown on an issue's page.
pub struct EventPanel {
    pub event_id: String,
    pub time: String,
    pub platform: String,
    pub release: String,
    pub environment: String,
    pub older: Option<String>,
    pub newer: Option<String>,
    pub latest: String,
    pub oldest: String,
    pub exceptions: Vec<ExceptionView>,
    pub details: Details,
    pub grouping: Vec<VariantView>,
}

#[derive(Deserialize)]
pub struct IssueParams {
    project: Option<String>,
}

/// `GET /organizations/{org}/issues/{id}/`: the issue with its latest event.
pub async fn issue_page(
    State(state): State<AppState>,
    viewer: Viewer,
    req: HttpRequest,
    Path((org, id)): Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    show(&state, &viewer, &req, &org, &id, "latest").await
}

/// `GET /organizations/{org}/issues/{id}/events/{event}/` (`latest`, `oldest` or an id).
pub async fn event_page(
    State(state): State<AppState>,
    viewer: Viewer,
    req: HttpRequest,
    Path((org, id, event)): Path<(String, String, String)>,
) -> Result<HttpResponse, WebError> {
    show(&state, &viewer, &req, &org, &id, &event).await
}

async fn show(
    state: &AppState,
    viewer: &Viewer,
    req: &HttpRequest,
    org: &str,
    id: &str,
    which: &str,
) -> Result<HttpResponse, WebError> {
    let params: IssueParams = serde_urlencoded::from_str(req.query_string()).unwrap_or(IssueParams { project: None });
    let org = organization(state, org).await?;
    let (issue, project) = find_issue(state, &org, id, params.project.as_deref()).await?;
    let event = pick_event(state, &issue, which).await?;
    let event = match event {
        Some(event) => Some(panel(state, &org.slug, &issue, event).await?),
        None if which == "latest" => None,
        None => return Err(WebError::NotFound),
    };
    let now = now_us();
    let day = state.store.issue_stats(vec![issue.id], now, 1, 24).await?;
    let month = state.store.issue_stats(vec![issue.id], now, 24, 30).await?;
    let counts = |m: &std::collections::HashMap<i64, Vec<(i64, i64)>>| -> Vec<i64> {
        m.get(&issue.id)
            .map(|s| s.iter().map(|(_, c)| *c).collect())
            .unwrap_or_default()
    };
    let tags = state.store.issue_tags(issue.id).await?;
    let page = IssuePage {
        chrome: Chrome::new(viewer, &org.slug, Section::Issues),
        href: issue_href(&org.slug, issue.id),
        short_id: ShortId::new(&project.slug, issue.short_id).to_string(),
        title: issue.title.clone(),
        culprit: issue.culprit.clone().unwrap_or_default(),
        level: issue.level.clone(),
        status: issue.status.as_str(),
        substatus: issue.substatus.clone().unwrap_or_default(),
        stream_href: stream_href(&org.slug, &project),
        project: project.slug.clone(),
        first_seen: ago(now, issue.first_seen),
        first_seen_at: datetime(issue.first_seen),
        last_seen: ago(now, issue.last_seen),
        last_seen_at: datetime(issue.last_seen),
        count: issue.times_seen,
        users: issue.user_count,
        first_release: issue.first_release.clone().unwrap_or_default(),
        last_release: issue.last_release.clone().unwrap_or_default(),
        day: sparkline(&counts(&day), "last 24 hours"),
        month: sparkline(&counts(&month), "last 30 days"),
        tags: summarize(&tags),
        event,
        can_write: viewer.role.can_write(),
    };
    Ok(render(&page))
}

fn stream_href(org: &str, project: &Project) -> String {
    format!("/organizations/{org}/issues/?project={}", project.id)
}

async fn pick_event(state: &AppState, issue: &Issue, which: &str) -> Result<Option<StoredEvent>, WebError> {
    Ok(match which {
        "latest" | "recommended" => state
            .store
            .issue_events(issue.id, EventOrder::NewestFirst, 1, 0)
            .await?
            .pop(),
        "oldest" => state
            .store
            .issue_events(issue.id, EventOrder::OldestFirst, 1, 0)
            .await?
            .pop(),
        raw => {
            let Some(event_id) = EventId::parse_lookup(raw) else {
                return Err(WebError::NotFound);
            };
            state
                .store
                .find_event(vec![issue.project_id], &event_id)
                .await?
                .filter(|e| e.issue_id == issue.id)
        }
    })
}

async fn panel(state: &AppState, org: &str, issue: &Issue, event: StoredEvent) -> Result<EventPanel, WebError> {
    let (previous, next) = state.store.neighbours(&event).await?;
    let base = issue_href(org, issue.id);
    let link = |id: EventId| format!("{base}events/{id}/");
    let data = &event.data;
    let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(EventPanel {
        event_id: event.event_id.to_string(),
        time: datetime(event.timestamp),
        platform: s("platform"),
        release: s("release"),
        environment: s("environment"),
        older: previous.map(link),
        newer: next.map(link),
        latest: format!("{base}events/latest/"),
        oldest: format!("{base}events/oldest/"),
        exceptions: exceptions(data),
        details: details(data),
        grouping: grouping(state, issue, &event).await?,
    })
}

/// The grouping explanation the API serves for this event (recomputed with the
/// project's current rules, as `api::grouping` does).
async fn grouping(state: &AppState, issue: &Issue, event: &StoredEvent) -> Result<Vec<VariantView>, WebError> {
    Ok(variants(&explained(state, event).await?, issue.id))
}

#[derive(Deserialize)]
pub struct StatusForm {
    action: String,
}

/// `POST /organizations/{org}/issues/{id}/status/`
pub async fn change_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.can_write() {
        return Err(WebError::Forbidden);
    }
    let org = organization(&state, &org).await?;
    let (issue, _) = find_issue(&state, &org, &id, None).await?;
    act(&state, vec![issue.id], &form.action).await?;
    Ok(see_other(&issue_href(&org.slug, issue.id)))
}

/// Applies a triage action to issues, through the same update the API parses.
pub(super) async fn act(state: &AppState, ids: Vec<i64>, action: &str) -> Result<(), WebError> {
    let body: &[u8] = match action {
        "resolve" => br#"{"status": "resolved"}"#,
        "resolve_next" => br#"{"status": "resolvedInNextRelease"}"#,
        "ignore" => br#"{"status": "ignored"}"#,
        "unresolve" => br#"{"status": "unresolved"}"#,
        "merge" => {
            if ids.len() < 2 {
                return Err(WebError::BadRequest("Check at least two issues to merge.".into()));
            }
            state.store.merge_issues(ids).await?;
            return Ok(());
        }
        other => return Err(WebError::BadRequest(format!("Unknown action {other:?}."))),
    };
    let update = parse_update(body).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let Some(status) = update.status else {
        return Err(WebError::BadRequest("The action sets no status.".into()));
    };
    let change = StatusChange {
        status,
        substatus: update.substatus,
        details: update.details,
    };
    state.store.set_status(ids, change).await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "issues/delete.html")]
pub struct DeletePage {
    pub chrome: Chrome,
    pub href: String,
    pub short_id: String,
    pub title: String,
    pub count: i64,
}

/// `GET /organizations/{org}/issues/{id}/delete/`: asks before deleting.
pub async fn confirm_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, id)): Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.can_write() {
        return Err(WebError::Forbidden);
    }
    let org = organization(&state, &org).await?;
    let (issue, project) = find_issue(&state, &org, &id, None).await?;
    let page = DeletePage {
        chrome: Chrome::new(&viewer, &org.slug, Section::Issues),
        href: issue_href(&org.slug, issue.id),
        short_id: ShortId::new(&project.slug, issue.short_id).to_string(),
        title: issue.title,
        count: issue.times_seen,
    };
    Ok(render(&page))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    confirm: Option<String>,
}

/// `POST /organizations/{org}/issues/{id}/delete/`: deletes the issue and its events.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.can_write() {
        return Err(WebError::Forbidden);
    }
    if form.confirm.as_deref() != Some("yes") {
        return Err(WebError::BadRequest("Deleting needs the confirmation.".into()));
    }
    let org = organization(&state, &org).await?;
    let (issue, _) = find_issue(&state, &org, &id, None).await?;
    state.store.delete_issues(vec![issue.id]).await?;
    Ok(see_other(&format!("/organizations/{}/issues/", org.slug)))
}
