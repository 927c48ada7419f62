//! The issue stream and its bulk actions (resolve, ignore, unresolve, merge the checked
//! issues).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use futures_util::future::try_join_all;

use super::{issue_href, organization};
use crate::api::issue_page::issue_page;
use crate::api::pagination::Cursor;
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
use crate::web::view::stream::{PAGE_SIZE, Period, SORTS, StreamQuery, TAB_COUNT_CAP, TABS, count_label};
use crate::web::view::time::{ago, datetime};

/// A link among several (tabs, sorts), one of them current.
pub struct Link {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// A status tab with how many issues it holds (none when the search does not parse).
pub struct Tab {
    pub link: Link,
    pub count: Option<String>,
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
    pub tabs: Vec<Tab>,
    pub sorts: Vec<Link>,
    pub periods: Vec<Link>,
    pub projects: Vec<Choice>,
    pub rows: Vec<IssueRow>,
    pub error: Option<String>,
    pub prev: Option<String>,
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
    // The counts run beside the page's own query.
    let (counts, page) = tokio::join!(
        tab_counts(&state, &stream, &project_ids),
        issues_page(&state, &stream, project_ids.clone())
    );
    let counts = counts?;
    let (page, error) = match page {
        Ok(page) => (page, None),
        Err(WebError::BadRequest(message)) => (StreamPageRows::default(), Some(message)),
        Err(e) => return Err(e),
    };
    let StreamPageRows { issues, prev, next } = page;
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
            .enumerate()
            .map(|(i, (label, term))| Tab {
                link: Link {
                    label,
                    href: format!("{base}{}", stream.tab_href(term)),
                    current: tab == *term,
                },
                count: counts.as_ref().and_then(|c| c.get(i).cloned()),
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
        prev: prev.map(|c| format!("{base}{}", stream.cursor_href(&c))),
        next: next.map(|c| format!("{base}{}", stream.cursor_href(&c))),
        first: (!stream.cursor.is_empty()).then(|| format!("{base}{}", stream.cursor_href(""))),
        can_write: viewer.role.can_write(),
    };
    Ok(render(&page))
}

/// One page of the stream's issues and the cursors of the pages either side that exist.
#[derive(Default)]
struct StreamPageRows {
    issues: Vec<Issue>,
    prev: Option<String>,
    next: Option<String>,
}

/// One page of the stream, paged as the API's issue list is. A search the parser refuses
/// is a `BadRequest` the page shows above an empty list.
async fn issues_page(
    state: &AppState,
    stream: &StreamQuery,
    project_ids: Vec<i64>,
) -> Result<StreamPageRows, WebError> {
    if project_ids.is_empty() {
        return Ok(StreamPageRows::default());
    }
    let conditions = search_conditions(stream, &stream.query, now_us())?;
    let cursor = Cursor::parse(Some(&stream.cursor))
        .map_err(|_| WebError::BadRequest("The page cursor is malformed.".into()))?;
    let filter = IssueFilter {
        project_ids,
        issue_ids: Vec::new(),
        conditions,
        sort: stream.sort,
        limit: PAGE_SIZE,
        offset: 0,
    };
    let page = issue_page(&state.store, filter, cursor).await?;
    Ok(StreamPageRows {
        issues: page.issues,
        prev: page.prev.exists.then_some(page.prev.cursor),
        next: page.next.exists.then_some(page.next.cursor),
    })
}

/// How many issues each status tab holds under the current search, projects and
/// environment, as labels ("1,000+" past the cap); none when the search does not parse.
async fn tab_counts(
    state: &AppState,
    stream: &StreamQuery,
    project_ids: &[i64],
) -> Result<Option<Vec<String>>, WebError> {
    let now = now_us();
    if search_conditions(stream, &stream.query, now).is_err() {
        return Ok(None);
    }
    if project_ids.is_empty() {
        return Ok(Some(TABS.iter().map(|_| count_label(0, TAB_COUNT_CAP)).collect()));
    }
    let mut filters = Vec::with_capacity(TABS.len());
    for (_, term) in TABS {
        let Ok(conditions) = search_conditions(stream, &stream.tab_query(term), now) else {
            return Ok(None);
        };
        filters.push(IssueFilter {
            project_ids: project_ids.to_vec(),
            conditions,
            ..IssueFilter::default()
        });
    }
    // At once: each is a bounded scan of its own on the read pool.
    let counts = try_join_all(filters.into_iter().map(|f| state.store.count_issues(f, TAB_COUNT_CAP))).await?;
    Ok(Some(
        counts.into_iter().map(|c| count_label(c, TAB_COUNT_CAP)).collect(),
    ))
}

/// The conditions of a stream search: the parsed `query` and the environment filter.
fn search_conditions(stream: &StreamQuery, query: &str, now: i64) -> Result<Vec<Condition>, WebError> {
    let mut conditions = query::parse(query, now).map_err(|e| WebError::BadRequest(e.to_string()))?;
    if !stream.environment.is_empty() {
        conditions.push(Condition::Environment {
            values: vec![stream.environment.clone()],
            negate: false,
        });
    }
    Ok(conditions)
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
