//! The web API: the subset of Sentry's `/api/0/` that sentry-cli, API clients and
//! dashboards call. Bearer-token auth, Sentry-shaped JSON, cursor pagination.

pub mod auth;
pub mod events;
pub mod issues;
pub mod organizations;
pub mod pagination;
pub mod query;
pub mod serialize;
pub mod stats;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::errors::ApiError;
use crate::store::{Organization, Project, admin};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/0/", get(organizations::index))
        .route("/api/0/auth/", get(organizations::current_user))
        .route("/api/0/users/me/regions/", get(organizations::regions))
        .route("/api/0/organizations/", get(organizations::list))
        .route("/api/0/organizations/{org}/", get(organizations::detail))
        .route("/api/0/organizations/{org}/projects/", get(organizations::projects))
        .route("/api/0/organizations/{org}/teams/", get(organizations::teams))
        .route("/api/0/projects/", get(organizations::all_projects))
        .route(
            "/api/0/projects/{org}/{project}/",
            get(organizations::project_detail)
                .put(organizations::project_update)
                .delete(organizations::project_delete),
        )
        .route(
            "/api/0/organizations/{org}/projects/new/",
            axum::routing::post(organizations::project_create),
        )
        .route(
            "/api/0/teams/{org}/{team}/projects/",
            axum::routing::post(organizations::project_create_for_team),
        )
        .route(
            "/api/0/projects/{org}/{project}/keys/",
            get(organizations::keys).post(organizations::key_create),
        )
        .route(
            "/api/0/projects/{org}/{project}/keys/{key}/",
            get(organizations::key_detail)
                .put(organizations::key_update)
                .delete(organizations::key_delete),
        )
        .route(
            "/api/0/projects/{org}/{project}/issues/",
            get(issues::project_list)
                .put(issues::project_bulk_update)
                .delete(issues::project_bulk_delete),
        )
        .route(
            "/api/0/organizations/{org}/issues/",
            get(issues::org_list)
                .put(issues::org_bulk_update)
                .delete(issues::org_bulk_delete),
        )
        .route(
            "/api/0/issues/{id}/",
            get(issues::detail).put(issues::update).delete(issues::delete),
        )
        .route(
            "/api/0/organizations/{org}/issues/{id}/",
            get(issues::org_detail)
                .put(issues::org_update)
                .delete(issues::org_delete),
        )
        .route(
            "/api/0/groups/{id}/",
            get(issues::detail).put(issues::update).delete(issues::delete),
        )
        .route("/api/0/issues/{id}/events/", get(events::issue_events))
        .route(
            "/api/0/organizations/{org}/issues/{id}/events/",
            get(events::org_issue_events),
        )
        .route("/api/0/issues/{id}/events/{event}/", get(events::issue_event))
        .route(
            "/api/0/organizations/{org}/issues/{id}/events/{event}/",
            get(events::org_issue_event),
        )
        .route("/api/0/issues/{id}/tags/", get(issues::tags))
        .route("/api/0/organizations/{org}/issues/{id}/tags/", get(issues::org_tags))
        .route("/api/0/issues/{id}/tags/{key}/", get(issues::tag))
        .route(
            "/api/0/organizations/{org}/issues/{id}/tags/{key}/",
            get(issues::org_tag),
        )
        .route("/api/0/issues/{id}/tags/{key}/values/", get(issues::tag_values))
        .route(
            "/api/0/organizations/{org}/issues/{id}/tags/{key}/values/",
            get(issues::org_tag_values),
        )
        .route("/api/0/issues/{id}/hashes/", get(issues::hashes))
        .route(
            "/api/0/organizations/{org}/issues/{id}/hashes/",
            get(issues::org_hashes),
        )
        .route(
            "/api/0/organizations/{org}/shortids/{short}/",
            get(issues::short_id_lookup),
        )
        .route(
            "/api/0/organizations/{org}/eventids/{event}/",
            get(events::event_id_lookup),
        )
        .route("/api/0/projects/{org}/{project}/events/", get(events::project_events))
        .route(
            "/api/0/projects/{org}/{project}/events/{event}/",
            get(events::project_event),
        )
        .route(
            "/api/0/projects/{org}/{project}/events/{event}/json/",
            get(events::project_event_json),
        )
        .route("/api/0/projects/{org}/{project}/stats/", get(stats::project_stats))
        .route(
            "/api/0/projects/{org}/{project}/outcomes/",
            get(stats::project_outcomes),
        )
        .route(
            "/api/0/projects/{org}/{project}/events/{event}/attachments/",
            get(stats::event_attachments),
        )
        .route(
            "/api/0/projects/{org}/{project}/events/{event}/attachments/{id}/",
            get(stats::event_attachment),
        )
        .route("/api/0/{*rest}", axum::routing::any(not_found))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The organization named in a path, by slug or id.
pub async fn resolve_org(state: &AppState, org: &str) -> Result<Organization, ApiError> {
    let org = org.to_string();
    Ok(state.store.read(move |c| admin::organization(c, &org)).await?)
}

/// The organization and project named in a path.
pub async fn resolve_project(state: &AppState, org: &str, project: &str) -> Result<(Organization, Project), ApiError> {
    let (org, project) = (org.to_string(), project.to_string());
    Ok(state
        .store
        .read(move |c| {
            let org = admin::organization(c, &org)?;
            let project = admin::project(c, org.id, &project)?;
            Ok((org, project))
        })
        .await?)
}
