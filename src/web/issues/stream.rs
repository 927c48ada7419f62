//! The issue stream and its bulk actions (resolve, ignore, unresolve, merge the checked
//! issues).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{issue_href, organization};
use crate::api::query;
use crate::http::{Path, State};
use crate::ids::ShortId;
use crate::state::AppState;
use crate::store::{Condition, Issue, IssueFilter, Project, now_us};
use crate::web::LocalPath;
use crate::web::WebError;
use crate::web::csrf::Form;
use crate::web::layout::{Chrome, Section, render, see_other};
use crate::web::session::Viewer;
use crate::web::view::sparkline::{Sparkline, sparkline};
use crate::web::view::stream::{PAGE_SIZE, Period, SORTS, StreamQuery, TABS, next_cursor, value_paged};
use crate::web::view::time::{ago, datetime};

/// A link among several (tabs, sorts), one of them current.
pub struct Link {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct IssueRow {
    pub id: i64,
    pub href: String,
    pub short_id: String,
    pub title: String,
    pub culprit: String,
    pub level: String,
    pub status: &'static str,
    pub project: String,
    pub count: i64,
    pub users: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub last_seen_at: String,
    pub spark: Sparkline,
}

#[derive(Template)]
#[template(path = "issues/stream.html")]
pub struct StreamPage {
    pub chrome: Chrome,
    pub action: String,
    pub back: String,
    pub query: String,
    pub sort: &'static str,
    pub period: &'static str,
    pub environment: String,
    pub tabs: Vec<Link>,
    pub sorts: Vec<Link>,
    pub periods: Vec<Link>,
    pub projects: Vec<Choice>,
    pub rows: Vec<IssueRow>,
    pub error: Option<String>,
    pub next: Option<String>,
    pub first: Option<String>,
    pub can_write: bool,
}

/// `GET /organizations/{org}/issues/`
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    req: HttpRequest,
    Path(org): Path<String>,
) -> Result<HttpResponse, WebError> {
    let org = organization(&state, &org).await?;
    let params: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| WebError::BadRequest("The address's query string is malformed.".into()))?;
    let stream = StreamQuery::parse(&params).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let all_projects = state.store.projects(Some(org.id)).await?;
    let chosen: Vec<&Project> = all_projects
        .iter()
        .filter(|p| stream.projects.iter().any(|w| *w == p.slug || *w == p.id.to_string()))
        .collect();
    let project_ids: Vec<i64> = if stream.projects.is_empty() {
        all_projects.iter().map(|p| p.id).collect()
    } else {
        chosen.iter().map(|p| p.id).collect()
    };
    let (issues, error, next) = match issues_page(&state, &stream, project_ids).await {
        Ok((issues, next)) => (issues, None, next),
        Err(WebError::BadRequest(message)) => (Vec::new(), Some(message), None),
        Err(e) => return Err(e),
    };
    let rows = rows(&state, &org.slug, &all_projects, issues, stream.period).await?;
    let base = format!("/organizations/{}/issues/", org.slug);
    let current_href = format!("{base}{}", stream.cursor_href(&stream.cursor));
    let tab = stream.tab().to_owned();
    let page = StreamPage {
        chrome: Chrome::new(&viewer, &org.slug, Section::Issues),
        action: base.clone(),
        back: current_href,
        query: stream.query.clone(),
        sort: stream.sort_key(),
        period: stream.period.key(),
        environment: stream.environment.clone(),
        tabs: TABS
            .iter()
            .map(|(label, term)| Link {
                label,
                href: format!("{base}{}", stream.tab_href(term)),
                current: tab == *term,
            })
            .collect(),
        sorts: SORTS
            .iter()
            .map(|(label, key)| Link {
                label,
                href: format!("{base}{}", stream.sort_href(key)),
                current: stream.sort_key() == *key,
            })
            .collect(),
        periods: [Period::Day, Period::TwoWeeks]
            .iter()
            .map(|p| Link {
                label: p.key(),
                href: format!("{base}{}", stream.period_href(*p)),
                current: stream.period == *p,
            })
            .collect(),
        projects: all_projects
            .iter()
            .map(|p| Choice {
                value: p.slug.clone(),
                label: p.name.clone(),
                selected: chosen.iter().any(|c| c.id == p.id),
            })
            .collect(),
        rows,
        error,
        next: next.map(|c| format!("{base}{}", stream.cursor_href(&c))),
        first: (!stream.cursor.is_empty()).then(|| format!("{base}{}", stream.cursor_href(""))),
        can_write: viewer.role.can_write(),
    };
    Ok(render(&page))
}

/// One page of the stream and the cursor of the next one. A search the parser refuses is
/// a `BadRequest` the page shows above an empty list.
async fn issues_page(
    state: &AppState,
    stream: &StreamQuery,
    project_ids: Vec<i64>,
) -> Result<(Vec<Issue>, Option<String>), WebError> {
    if project_ids.is_empty() {
        return Ok((Vec::new(), None));
    }
    let mut conditions = query::parse(&stream.query, now_us()).map_err(|e| WebError::BadRequest(e.to_string()))?;
    if !stream.environment.is_empty() {
        conditions.push(Condition::Environment {
            values: vec![stream.environment.clone()],
            negate: false,
        });
    }
    let cursor = crate::api::pagination::Cursor::parse(Some(&stream.cursor))
        .map_err(|_| WebError::BadRequest("The page cursor is malformed.".into()))?;
    let filter = IssueFilter {
        project_ids,
        issue_ids: Vec::new(),
        conditions,
        sort: stream.sort,
        // One extra row tells whether a further page exists.
        limit: PAGE_SIZE + 1,
        offset: cursor.offset,
    };
    let mut issues = if value_paged(stream.sort) && cursor.value > 0 {
        state.store.issues_by_value(filter, cursor.value, false).await?
    } else {
        state.store.issues(filter).await?
    };
    let more = issues.len() > PAGE_SIZE;
    issues.truncate(PAGE_SIZE);
    let next = more
        .then(|| next_cursor(stream.sort, &issues, (cursor.value, cursor.offset)))
        .flatten();
    Ok((issues, next))
}

async fn rows(
    state: &AppState,
    org: &str,
    projects: &[Project],
    issues: Vec<Issue>,
    period: Period,
) -> Result<Vec<IssueRow>, WebError> {
    let now = now_us();
    let (hours, buckets) = period.buckets();
    let ids = issues.iter().map(|i| i.id).collect();
    let series = state.store.issue_stats(ids, now, hours, buckets).await?;
    let slugs: HashMap<i64, &str> = projects.iter().map(|p| (p.id, p.slug.as_str())).collect();
    Ok(issues
        .into_iter()
        .map(|issue| {
            let slug = slugs.get(&issue.project_id).copied().unwrap_or("");
            let counts: Vec<i64> = series
                .get(&issue.id)
                .map(|s| s.iter().map(|(_, c)| *c).collect())
                .unwrap_or_default();
            IssueRow {
                id: issue.id,
                href: issue_href(org, issue.id),
                short_id: ShortId::new(slug, issue.short_id).to_string(),
                title: issue.title,
                culprit: issue.culprit.unwrap_or_default(),
                level: issue.level,
                status: issue.status.as_str(),
                project: slug.to_owned(),
                count: issue.times_seen,
                users: issue.user_count,
                first_seen: ago(now, issue.first_seen),
                last_seen: ago(now, issue.last_seen),
                last_seen_at: datetime(issue.last_seen),
                spark: sparkline(&counts, period.label()),
            }
        })
        .collect())
}

/// `POST /organizations/{org}/issues/`: `action` (resolve, ignore, unresolve, merge) on
/// every checked `issue`, then back to the stream the form was on.
pub async fn bulk(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.can_write() {
        return Err(WebError::Forbidden);
    }
    let org = organization(&state, &org).await?;
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let action = get("action").ok_or_else(|| WebError::BadRequest("Choose an action.".into()))?;
    let ids: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k == "issue")
        .take(1000)
        .map(|(_, v)| v.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| WebError::BadRequest("An issue id is malformed.".into()))?;
    if ids.is_empty() {
        return Err(WebError::BadRequest("Check the issues to act on first.".into()));
    }
    // Only issues of this organization are touched.
    let projects = state.store.projects(Some(org.id)).await?;
    let filter = IssueFilter {
        project_ids: projects.iter().map(|p| p.id).collect(),
        issue_ids: ids,
        conditions: Vec::new(),
        sort: Default::default(),
        limit: 1000,
        offset: 0,
    };
    let targets: Vec<i64> = state.store.issues(filter).await?.into_iter().map(|i| i.id).collect();
    if targets.is_empty() {
        return Err(WebError::NotFound);
    }
    super::detail::act(&state, targets, action).await?;
    let base = format!("/organizations/{}/issues/", org.slug);
    // Back to the stream the form was on: a local path under this stream only.
    let back = get("back")
        .and_then(LocalPath::parse)
        .filter(|b| b.as_str().starts_with(&base))
        .map(|b| b.as_str().to_owned())
        .unwrap_or(base);
    Ok(see_other(&back))
}
