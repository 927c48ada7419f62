//! The issue pages at Sentry's own URLs: the stream (`/organizations/{org}/issues/`), an
//! issue with one of its events (`…/issues/{id}/`, `…/issues/{id}/events/{event}/`), and
//! the triage actions, POSTed as forms. Handlers read through the `Store` like the API
//! does and hand rows to the pure view models in `web::view`.

mod detail;
mod stream;

use actix_web::web;

use crate::ids::ShortId;
use crate::state::AppState;
use crate::store::{Issue, Organization, Project};

use super::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations/{org}/issues/", web::get().to(stream::page))
        .route("/organizations/{org}/issues/", web::post().to(stream::bulk))
        .route("/organizations/{org}/issues/{id}/", web::get().to(detail::issue_page))
        .route(
            "/organizations/{org}/issues/{id}/events/{event}/",
            web::get().to(detail::event_page),
        )
        .route(
            "/organizations/{org}/issues/{id}/status/",
            web::post().to(detail::change_status),
        )
        .route(
            "/organizations/{org}/issues/{id}/delete/",
            web::get().to(detail::confirm_delete),
        )
        .route(
            "/organizations/{org}/issues/{id}/delete/",
            web::post().to(detail::delete),
        )
        // Sentry's shorter forms, kept for old links.
        .route("/organizations/{org}/issues", web::get().to(stream::page))
        .route("/organizations/{org}/issues/{id}", web::get().to(detail::issue_page));
}

/// The organization in the path, by slug or id.
async fn organization(state: &AppState, org: &str) -> Result<Organization, WebError> {
    Ok(state.store.organization(org).await?)
}

/// An issue of `org` by numeric id or short id (`WEB-1A`); `project` (from `?project=`,
/// an id or slug) narrows a short id to that project.
async fn find_issue(
    state: &AppState,
    org: &Organization,
    id: &str,
    project: Option<&str>,
) -> Result<(Issue, Project), WebError> {
    let issue = match id.parse::<i64>() {
        Ok(n) => state.store.issue(n).await?,
        Err(_) => {
            let ShortId { slug, number } = ShortId::parse(id).ok_or(WebError::NotFound)?;
            let projects = state.store.projects(Some(org.id)).await?;
            let project = projects
                .iter()
                .filter(|p| project.is_none_or(|want| want == p.slug || want == p.id.to_string()))
                .find(|p| p.slug.eq_ignore_ascii_case(&slug))
                .ok_or(WebError::NotFound)?;
            state.store.issue_by_short_id(project.id, number).await?
        }
    };
    let project = state.store.project_by_id(issue.project_id).await?;
    if project.organization_id != org.id {
        return Err(WebError::NotFound);
    }
    Ok((issue, project))
}

/// The address of an issue's page.
fn issue_href(org: &str, issue_id: i64) -> String {
    format!("/organizations/{org}/issues/{issue_id}/")
}
