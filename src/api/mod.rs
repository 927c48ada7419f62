//! The web API: the subset of Sentry's `/api/0/` that sentry-cli, API clients and
//! dashboards call. Bearer-token auth, Sentry-shaped JSON, cursor pagination.

pub mod alerts;
pub mod auth;
pub mod discover;
pub mod events;
pub mod events_stats;
pub mod grouping;
pub mod issue_page;
pub mod issues;
pub mod notes;
pub mod openapi;
pub mod organizations;
pub mod pagination;
pub mod query;
pub mod releases;
pub mod search_validate;
pub mod serialize;
pub mod stats;
pub mod traces;
pub mod uploads;
pub mod usage;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, Resource, Route, web};

use crate::errors::ApiError;
use crate::state::AppState;
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
    resources: Vec<Resource>,
    table: Vec<RouteInfo>,
}

impl Registry {
    /// A path with its method routes; any other method answers 405 with a detail.
    fn add(mut self, path: &'static str, methods: &'static [&'static str], routes: Vec<Route>) -> Self {
        let resource = routes
            .into_iter()
            .fold(web::resource(in_scope(path)), Resource::route)
            .default_service(web::to(method_not_allowed));
        self.resources.push(resource);
        self.table.push(RouteInfo { path, methods });
        self
    }
}

fn registry() -> Registry {
    Registry {
        resources: Vec::new(),
        table: Vec::new(),
    }
    .add("/api/0/", &["GET"], vec![web::get().to(organizations::index)])
    .add(
        "/api/0/auth/",
        &["GET"],
        vec![web::get().to(organizations::current_user)],
    )
    .add(
        "/api/0/users/me/regions/",
        &["GET"],
        vec![web::get().to(organizations::regions)],
    )
    .add(
        "/api/0/organizations/",
        &["GET"],
        vec![web::get().to(organizations::list)],
    )
    .add(
        "/api/0/organizations/{org}/",
        &["GET"],
        vec![web::get().to(organizations::detail)],
    )
    .add(
        "/api/0/organizations/{org}/projects/",
        &["GET"],
        vec![web::get().to(organizations::projects)],
    )
    .add(
        "/api/0/organizations/{org}/teams/",
        &["GET"],
        vec![web::get().to(organizations::teams)],
    )
    .add(
        "/api/0/projects/",
        &["GET"],
        vec![web::get().to(organizations::all_projects)],
    )
    .add(
        "/api/0/projects/{org}/{project}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(organizations::project_detail),
            web::put().to(organizations::project_update),
            web::delete().to(organizations::project_delete),
        ],
    )
    .add(
        "/api/0/organizations/{org}/projects/new/",
        &["POST"],
        vec![web::post().to(organizations::project_create)],
    )
    .add(
        "/api/0/teams/{org}/{team}/projects/",
        &["GET", "POST"],
        vec![
            web::get().to(organizations::team_projects),
            web::post().to(organizations::project_create_for_team),
        ],
    )
    .add(
        "/api/0/projects/{org}/{project}/keys/",
        &["GET", "POST"],
        vec![
            web::get().to(organizations::keys),
            web::post().to(organizations::key_create),
        ],
    )
    .add(
        "/api/0/projects/{org}/{project}/keys/{key}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(organizations::key_detail),
            web::put().to(organizations::key_update),
            web::delete().to(organizations::key_delete),
        ],
    )
    .add(
        "/api/0/projects/{org}/{project}/issues/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(issues::project_list),
            web::put().to(issues::project_bulk_update),
            web::delete().to(issues::project_bulk_delete),
        ],
    )
    .add(
        "/api/0/organizations/{org}/issues/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(issues::org_list),
            web::put().to(issues::org_bulk_update),
            web::delete().to(issues::org_bulk_delete),
        ],
    )
    .add(
        "/api/0/issues/{id}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(issues::detail),
            web::put().to(issues::update),
            web::delete().to(issues::delete),
        ],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(issues::detail),
            web::put().to(issues::update),
            web::delete().to(issues::delete),
        ],
    )
    .add(
        "/api/0/groups/{id}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(issues::detail),
            web::put().to(issues::update),
            web::delete().to(issues::delete),
        ],
    )
    .add(
        "/api/0/groups/{id}/events/",
        &["GET"],
        vec![web::get().to(events::issue_events)],
    )
    .add(
        "/api/0/groups/{id}/events/{event}/",
        &["GET"],
        vec![web::get().to(events::issue_event)],
    )
    .add("/api/0/groups/{id}/tags/", &["GET"], vec![web::get().to(issues::tags)])
    .add(
        "/api/0/groups/{id}/tags/{key}/",
        &["GET"],
        vec![web::get().to(issues::tag)],
    )
    .add(
        "/api/0/groups/{id}/tags/{key}/values/",
        &["GET"],
        vec![web::get().to(issues::tag_values)],
    )
    .add(
        "/api/0/groups/{id}/hashes/",
        &["GET"],
        vec![web::get().to(issues::hashes)],
    )
    .add(
        "/api/0/issues/{id}/events/",
        &["GET"],
        vec![web::get().to(events::issue_events)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/events/",
        &["GET"],
        vec![web::get().to(events::issue_events)],
    )
    .add(
        "/api/0/issues/{id}/events/{event}/",
        &["GET"],
        vec![web::get().to(events::issue_event)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/events/{event}/",
        &["GET"],
        vec![web::get().to(events::issue_event)],
    )
    .add("/api/0/issues/{id}/tags/", &["GET"], vec![web::get().to(issues::tags)])
    .add(
        "/api/0/organizations/{org}/issues/{id}/tags/",
        &["GET"],
        vec![web::get().to(issues::tags)],
    )
    .add(
        "/api/0/issues/{id}/tags/{key}/",
        &["GET"],
        vec![web::get().to(issues::tag)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/tags/{key}/",
        &["GET"],
        vec![web::get().to(issues::tag)],
    )
    .add(
        "/api/0/issues/{id}/tags/{key}/values/",
        &["GET"],
        vec![web::get().to(issues::tag_values)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/tags/{key}/values/",
        &["GET"],
        vec![web::get().to(issues::tag_values)],
    )
    .add(
        "/api/0/issues/{id}/hashes/",
        &["GET", "PUT"],
        vec![web::get().to(issues::hashes), web::put().to(grouping::unmerge)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/hashes/",
        &["GET", "PUT"],
        vec![web::get().to(issues::hashes), web::put().to(grouping::unmerge)],
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/grouping-info/",
        &["GET"],
        vec![web::get().to(grouping::event_grouping_info)],
    )
    .add(
        "/api/0/organizations/{org}/shortids/{short}/",
        &["GET"],
        vec![web::get().to(issues::short_id_lookup)],
    )
    .add(
        "/api/0/organizations/{org}/eventids/{event}/",
        &["GET"],
        vec![web::get().to(events::event_id_lookup)],
    )
    .add(
        "/api/0/projects/{org}/{project}/events/",
        &["GET"],
        vec![web::get().to(events::project_events)],
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/",
        &["GET"],
        vec![web::get().to(events::project_event)],
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/json/",
        &["GET"],
        vec![web::get().to(events::project_event_json)],
    )
    .add(
        "/api/0/projects/{org}/{project}/stats/",
        &["GET"],
        vec![web::get().to(stats::project_stats)],
    )
    .add(
        "/api/0/projects/{org}/{project}/outcomes/",
        &["GET"],
        vec![web::get().to(stats::project_outcomes)],
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/attachments/",
        &["GET"],
        vec![web::get().to(stats::event_attachments)],
    )
    .add(
        "/api/0/projects/{org}/{project}/events/{event}/attachments/{id}/",
        &["GET"],
        vec![web::get().to(stats::event_attachment)],
    )
    .add(
        "/api/0/organizations/{org}/alert-channels/",
        &["GET", "POST"],
        vec![web::get().to(alerts::channels), web::post().to(alerts::channel_create)],
    )
    .add(
        "/api/0/organizations/{org}/alert-channels/{channel}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(alerts::channel_detail),
            web::put().to(alerts::channel_update),
            web::delete().to(alerts::channel_delete),
        ],
    )
    .add(
        "/api/0/organizations/{org}/alert-channels/{channel}/test/",
        &["POST"],
        vec![web::post().to(alerts::channel_test)],
    )
    .add(
        "/api/0/organizations/{org}/alert-deliveries/",
        &["GET"],
        vec![web::get().to(alerts::org_deliveries)],
    )
    .add(
        "/api/0/projects/{org}/{project}/alert-rules/",
        &["GET", "POST"],
        vec![web::get().to(alerts::rules), web::post().to(alerts::rule_create)],
    )
    .add(
        "/api/0/projects/{org}/{project}/alert-rules/{rule}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(alerts::rule_detail),
            web::put().to(alerts::rule_update),
            web::delete().to(alerts::rule_delete),
        ],
    )
    .add(
        "/api/0/projects/{org}/{project}/alert-rules/{rule}/test/",
        &["POST"],
        vec![web::post().to(alerts::rule_test)],
    )
    .add(
        "/api/0/projects/{org}/{project}/alert-deliveries/",
        &["GET"],
        vec![web::get().to(alerts::project_deliveries)],
    )
    .add(
        "/api/0/organizations/{org}/events/",
        &["GET"],
        vec![web::get().to(discover::org_events)],
    )
    .add(
        "/api/0/organizations/{org}/events/validate/",
        &["GET"],
        vec![web::get().to(search_validate::validate_events)],
    )
    .add(
        "/api/0/organizations/{org}/events-stats/",
        &["GET"],
        vec![web::get().to(events_stats::org_events_stats)],
    )
    .add(
        "/api/0/organizations/{org}/stats_v2/",
        &["GET"],
        vec![web::get().to(usage::org_stats_v2)],
    )
    .add(
        "/api/0/issues/{id}/notes/",
        &["GET", "POST"],
        vec![web::get().to(notes::list), web::post().to(notes::create)],
    )
    .add(
        "/api/0/issues/{id}/notes/{note}/",
        &["PUT", "DELETE"],
        vec![web::put().to(notes::update), web::delete().to(notes::delete)],
    )
    .add(
        "/api/0/issues/{id}/activities/",
        &["GET"],
        vec![web::get().to(notes::activities)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/notes/",
        &["GET", "POST"],
        vec![web::get().to(notes::list), web::post().to(notes::create)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/notes/{note}/",
        &["PUT", "DELETE"],
        vec![web::put().to(notes::update), web::delete().to(notes::delete)],
    )
    .add(
        "/api/0/organizations/{org}/issues/{id}/activities/",
        &["GET"],
        vec![web::get().to(notes::activities)],
    )
    .add(
        "/api/0/groups/{id}/notes/",
        &["GET", "POST"],
        vec![web::get().to(notes::list), web::post().to(notes::create)],
    )
    .add(
        "/api/0/groups/{id}/notes/{note}/",
        &["PUT", "DELETE"],
        vec![web::put().to(notes::update), web::delete().to(notes::delete)],
    )
    .add(
        "/api/0/groups/{id}/activities/",
        &["GET"],
        vec![web::get().to(notes::activities)],
    )
    .add(
        "/api/0/organizations/{org}/tags/",
        &["GET"],
        vec![web::get().to(traces::org_tags)],
    )
    .add(
        "/api/0/organizations/{org}/trace/{trace}/",
        &["GET"],
        vec![web::get().to(traces::trace)],
    )
    .add(
        "/api/0/organizations/{org}/trace-meta/{trace}/",
        &["GET"],
        vec![web::get().to(traces::trace_meta)],
    )
    .add(
        "/api/0/organizations/{org}/releases/",
        &["GET", "POST"],
        vec![web::get().to(releases::org_list), web::post().to(releases::org_create)],
    )
    .add(
        "/api/0/organizations/{org}/releases/{version}/",
        &["GET", "PUT", "DELETE"],
        vec![
            web::get().to(releases::detail),
            web::put().to(releases::update),
            web::delete().to(releases::delete),
        ],
    )
    .add(
        "/api/0/organizations/{org}/releases/{version}/commits/",
        &["GET"],
        vec![web::get().to(releases::commits)],
    )
    .add(
        "/api/0/organizations/{org}/releases/{version}/deploys/",
        &["GET", "POST"],
        vec![
            web::get().to(releases::deploys),
            web::post().to(releases::deploy_create),
        ],
    )
    .add(
        "/api/0/organizations/{org}/releases/{version}/previous-with-commits/",
        &["GET"],
        vec![web::get().to(releases::previous_with_commits)],
    )
    .add(
        "/api/0/projects/{org}/{project}/releases/",
        &["GET", "POST"],
        vec![
            web::get().to(releases::project_list),
            web::post().to(releases::project_create),
        ],
    )
    .add(
        "/api/0/projects/{org}/{project}/releases/{version}/files/",
        &["GET"],
        vec![web::get().to(uploads::release_files)],
    )
    .add(
        "/api/0/projects/{org}/{project}/artifactbundles/",
        &["GET"],
        vec![web::get().to(uploads::project_bundles)],
    )
    .add(
        "/api/0/projects/{org}/{project}/files/artifacts/",
        &["GET"],
        vec![web::get().to(uploads::project_files)],
    )
    .add(
        "/api/0/organizations/{org}/repos/",
        &["GET", "POST"],
        vec![web::get().to(releases::repos), web::post().to(releases::repo_create)],
    )
    .add(
        "/api/0/organizations/{org}/chunk-upload/",
        &["GET", "POST"],
        vec![
            web::get().to(uploads::chunk_options),
            web::post().to(uploads::chunk_upload),
        ],
    )
    .add(
        "/api/0/organizations/{org}/artifactbundle/assemble/",
        &["POST"],
        vec![web::post().to(uploads::assemble_bundle)],
    )
    .add("/api/0/openapi.json/", &["GET"], vec![web::get().to(openapi::serve)])
}

/// The prefix of every API path. The API's resources live in one scope under it, so a
/// request elsewhere (ingest, a web page) costs the router one prefix check, not a regex
/// match per API resource.
const API_PREFIX: &str = "/api/0";

/// An API path as registered inside the scope (`/api/0/projects/` is `/projects/`).
fn in_scope(path: &'static str) -> &'static str {
    path.strip_prefix(API_PREFIX).unwrap_or(path)
}

/// Registers the web API. A known path with a method it does not serve answers 405 with a
/// `{"detail"}` body; an unknown `/api/0/` path answers a JSON 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope(API_PREFIX);
    for resource in registry().resources {
        scope = scope.service(resource);
    }
    cfg.service(scope.service(web::resource("/{rest:.*}").to(not_found)));
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

impl FromRequest for IssuePath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut rest: std::collections::HashMap<String, String> = req
            .match_info()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        std::future::ready(match rest.remove("id") {
            Some(id) => Ok(IssuePath {
                org: rest.remove("org"),
                id,
                rest,
            }),
            None => Err(ApiError::NotFound),
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
