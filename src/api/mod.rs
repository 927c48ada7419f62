//! The web API: the subset of Sentry's `/api/0/` that sentry-cli, API clients and
//! dashboards call. Bearer-token auth, Sentry-shaped JSON, cursor pagination.

pub mod auth;
pub mod events;
pub mod grouping;
pub mod issues;
pub mod openapi;
pub mod organizations;
pub mod pagination;
pub mod query;
pub mod serialize;
pub mod stats;

use axum::Router;
use axum::routing::{MethodRouter, any, get};

use crate::app::AppState;
use crate::errors::ApiError;
use crate::store::{Organization, Project};
use auth::Caller;

/// One registered API route: its path (as routed, with the trailing slash) and methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    pub path: &'static str,
    pub methods: &'static [&'static str],
}

/// Registers routes and records each with its methods, so the OpenAPI description can be
/// checked against exactly what is served.
struct Registry {
    router: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Registry {
    fn add(mut self, path: &'static str, methods: &'static [&'static str], route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.table.push(RouteInfo { path, methods });
        self
    }
}

fn registry() -> Registry {
    Registry {
        router: Router::new(),
        table: Vec::new(),
    }
    .add("/api/0/", &["GET"], get(organizations::index))
    .add("/api/0/auth/", &["GET"], get(organizations::current_user))
    .add("/api/0/users/me/regions/", &["GET"], get(organizations::regions))
    .add("/api/0/organizations/", &["GET"], get(organizations::list))
    .add("/api/0/organizations/{org}/", &["GET"], get(organizations::detail))
    .add(
        "/api/0/organizations/{org}/projects/",
        &["GET"],
        get(organizations::projects),
    )
    .add("/api/0/organizations/{org}/teams/", &["GET"], get(organizations::teams))
    .add("/api/0/projects/", &["GET"], get(organizations::all_projects))
    .add(
        "/api/0/projects/{org}/{project}/",
        &["GET", "PUT", "DELETE"],
        get(organizations::project_detail)
            .put(organizations::project_update)
            .delete(organizations::project_delete),
    )
    .add(
        "/api/0/organizations/{org}/projects/new/",
        &["POST"],
        axum::routing::post(organizations::project_create),
    )
    .add(
        "/api/0/teams/{org}/{team}/projects/",
        &["POST"],
        axum::routing::post(organizations::project_create_for_team),
    )
    .add(
        "/api/0/projects/{org}/{project}/keys/",
        &["GET", "POST"],
        get(organizations::keys).post(organizations::key_create),
    )
    .add(
        "/api/0/projects/{org}/{project}/keys/{key}/",
        &["GET", "PUT", "DELETE"],
        get(organizations::key_detail)
            .put(organizations::key_update)
            .delete(organizations::key_delete),
    )
    .add(
        "/api/0/projects/{org}/{project}/issues/",
        &["GET", "PUT", "DELETE"],
        get(issues::project_list)
            .put(issues::project_bulk_update)
            .delete(issues::project_bulk_delete),
    )
    .add(
        "/api/0/organizations/{org}/issues/",
        &["GET", "PUT", "DELETE"],
        get(issues::org_list)
            .put(issues::org_bulk_update)
            .delete(issues::org_bulk_delete),
    )
    .add(
        "/api/0/issues/{id}/",
        &["GET", "PUT", "DELETE"],
        get(issues::detail).put(issues::update).delete(issues::delete),
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/",
        &["GET", "PUT", "DELETE"],
        get(issues::detail).put(issues::update).delete(issues::delete),
    )
    .add(
        "/api/0/groups/{id}/",
        &["GET", "PUT", "DELETE"],
        get(issues::detail).put(issues::update).delete(issues::delete),
    )
    .add("/api/0/groups/{id}/events/", &["GET"], get(events::issue_events))
    .add("/api/0/groups/{id}/events/{event}/", &["GET"], get(events::issue_event))
    .add("/api/0/groups/{id}/tags/", &["GET"], get(issues::tags))
    .add("/api/0/groups/{id}/tags/{key}/", &["GET"], get(issues::tag))
    .add(
        "/api/0/groups/{id}/tags/{key}/values/",
        &["GET"],
        get(issues::tag_values),
    )
    .add("/api/0/groups/{id}/hashes/", &["GET"], get(issues::hashes))
    .add("/api/0/issues/{id}/events/", &["GET"], get(events::issue_events))
    .add(
        "/api/0/organizations/{org}/issues/{id}/events/",
        &["GET"],
        get(events::issue_events),
    )
    .add("/api/0/issues/{id}/events/{event}/", &["GET"], get(events::issue_event))
    .add(
        "/api/0/organizations/{org}/issues/{id}/events/{event}/",
        &["GET"],
        get(events::issue_event),
    )
    .add("/api/0/issues/{id}/tags/", &["GET"], get(issues::tags))
    .add(
        "/api/0/organizations/{org}/issues/{id}/tags/",
        &["GET"],
        get(issues::tags),
    )
    .add("/api/0/issues/{id}/tags/{key}/", &["GET"], get(issues::tag))
    .add(
        "/api/0/organizations/{org}/issues/{id}/tags/{key}/",
        &["GET"],
        get(issues::tag),
    )
    .add(
        "/api/0/issues/{id}/tags/{key}/values/",
        &["GET"],
        get(issues::tag_values),
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/tags/{key}/values/",
        &["GET"],
        get(issues::tag_values),
    )
    .add(
        "/api/0/issues/{id}/hashes/",
        &["GET", "PUT"],
        get(issues::hashes).put(grouping::unmerge),
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/hashes/",
        &["GET", "PUT"],
        get(issues::hashes).put(grouping::unmerge),
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/grouping-info/",
        &["GET"],
        get(grouping::event_grouping_info),
    )
    .add(
        "/api/0/organizations/{org}/shortids/{short}/",
        &["GET"],
        get(issues::short_id_lookup),
    )
    .add(
        "/api/0/organizations/{org}/eventids/{event}/",
        &["GET"],
        get(events::event_id_lookup),
    )
    .add(
        "/api/0/projects/{org}/{project}/events/",
        &["GET"],
        get(events::project_events),
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/",
        &["GET"],
        get(events::project_event),
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/json/",
        &["GET"],
        get(events::project_event_json),
    )
    .add(
        "/api/0/projects/{org}/{project}/stats/",
        &["GET"],
        get(stats::project_stats),
    )
    .add(
        "/api/0/projects/{org}/{project}/outcomes/",
        &["GET"],
        get(stats::project_outcomes),
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/attachments/",
        &["GET"],
        get(stats::event_attachments),
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/attachments/{id}/",
        &["GET"],
        get(stats::event_attachment),
    )
    .add("/api/0/openapi.json/", &["GET"], get(openapi::serve))
}

/// The web API's router. A known path with a method it does not serve answers 405 with a
/// `{"detail"}` body; an unknown `/api/0/` path answers a JSON 404.
pub fn router() -> Router<AppState> {
    registry()
        .router
        .method_not_allowed_fallback(method_not_allowed)
        .route("/api/0/{*rest}", any(not_found))
}

/// Every route `router()` serves except the JSON 404 catch-all.
pub fn routes() -> Vec<RouteInfo> {
    registry().table
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The issue in `/issues/{id}/…` and `/organizations/{org}/issues/{id}/…`, so one handler
/// serves both forms; other path parameters (`key`, `event`) by name.
pub struct IssuePath {
    pub org: Option<String>,
    pub id: String,
    rest: std::collections::HashMap<String, String>,
}

impl IssuePath {
    pub fn org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    /// A further path parameter of the route.
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.rest.get(name).map(String::as_str).ok_or(ApiError::NotFound)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IssuePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(mut rest) =
            axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        let id = rest.remove("id").ok_or(ApiError::NotFound)?;
        Ok(IssuePath {
            org: rest.remove("org"),
            id,
            rest,
        })
    }
}

/// The organization named in a path, by slug or id, if the caller's token acts in it;
/// any other organization answers 404, as if it did not exist.
pub async fn resolve_org(state: &AppState, caller: &Caller, org: &str) -> Result<Organization, ApiError> {
    let org = state.store.organization(org).await?;
    if caller.sees_org(&org) {
        Ok(org)
    } else {
        Err(ApiError::NotFound)
    }
}

/// The organization and project named in a path, if the caller's token sees the project
/// (404 otherwise, as if it did not exist).
pub async fn resolve_project(
    state: &AppState,
    caller: &Caller,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), ApiError> {
    let org = state.store.organization(org).await?;
    let project = state.store.project(org.id, project).await?;
    if caller.sees_project(&project) {
        Ok((org, project))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Keeps the projects the caller's token sees.
pub fn visible_projects(caller: &Caller, projects: Vec<Project>) -> Vec<Project> {
    projects.into_iter().filter(|p| caller.sees_project(p)).collect()
}
