//! Identity, organizations, projects and DSN keys.

use crate::http::Json;
use crate::http::{HeaderName, StatusCode, Uri, header};
use crate::http::{IntoResponse, Response};
use crate::http::{Path, Query, RequestUri, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, MaybeCaller};
use super::pagination::{Cursor, link_header, page_size};
use super::serialize::{self, iso};
use super::{resolve_org, resolve_project, visible_projects};
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store::{ApiToken, KeyChange, NewProject, ProjectChange, valid_slug};

pub(super) fn user_json(token: &ApiToken) -> Value {
    json!({
        "id": token.id.to_string(),
        "name": token.name,
        "username": "errata",
        "email": "errata@localhost",
        "avatarUrl": null,
        "isActive": true,
        "has2fa": false,
        "dateJoined": iso(token.date_created),
        "lastLogin": iso(token.last_used.unwrap_or(token.date_created)),
        "isSuperuser": false,
        "isStaff": false,
        "emails": [{"id": token.id.to_string(), "email": "errata@localhost", "is_verified": true}],
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": null},
    })
}

/// `GET /api/0/`: who is calling, with which scopes (sentry-cli `info`).
pub async fn index(MaybeCaller(caller): MaybeCaller) -> Json<Value> {
    Json(match caller {
        Some(c) if c.is_org_token() => json!({"version": "0", "auth": {"scopes": c.scopes()}, "user": null}),
        Some(c) => json!({"version": "0", "auth": {"scopes": c.scopes()}, "user": user_json(&c.token)}),
        None => json!({"version": "0", "auth": null, "user": null}),
    })
}

pub async fn current_user(caller: Caller) -> Json<Value> {
    Json(user_json(&caller.token))
}

pub async fn regions(_caller: Caller) -> Json<Value> {
    Json(json!({"regions": []}))
}

#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    pub cursor: Option<String>,
    pub per_page: Option<String>,
    pub query: Option<String>,
}

/// A page of `items` with Sentry's `Link` header.
pub fn paged(state: &AppState, uri: &Uri, params: &ListParams, items: Vec<Value>) -> Result<Response, ApiError> {
    let cursor = Cursor::parse(params.cursor.as_deref())?;
    let limit = page_size(params.per_page.as_deref())?;
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(cursor.offset).take(limit).collect();
    let has_next = cursor.offset + limit < total;
    let mut response = Json(page).into_response();
    response.headers_mut().insert(
        header::LINK,
        link_header(&state.base_url(), uri, cursor.offset, limit, has_next),
    );
    response
        .headers_mut()
        .insert(HeaderName::from_static("x-hits"), total.into());
    Ok(response)
}

fn matches_query(query: Option<&str>, fields: &[&str]) -> bool {
    match query.map(str::trim).filter(|q| !q.is_empty()) {
        None => true,
        Some(q) => {
            let q = q.to_lowercase();
            fields.iter().any(|f| f.to_lowercase().contains(&q))
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    caller.require("org:read")?;
    let orgs = state.store.organizations().await?;
    let base = state.base_url();
    let items = orgs
        .iter()
        .filter(|o| caller.sees_org(o))
        .filter(|o| matches_query(params.query.as_deref(), &[&o.slug, &o.name]))
        .map(|o| serialize::organization(o, &base))
        .collect();
    paged(&state, &uri, &params, items)
}

pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("org:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let org_id = org.id;
    let projects = state.store.projects(Some(org_id)).await?;
    let projects = visible_projects(&caller, projects);
    let base = state.base_url();
    let mut v = serialize::organization(&org, &base);
    v["projects"] = projects.iter().map(|p| serialize::project(p, None, &base)).collect();
    v["teams"] = json!([{"id": "1", "slug": org.slug, "name": org.name}]);
    Ok(Json(v))
}

pub async fn teams(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("org:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let projects = visible_projects(&caller, state.store.projects(Some(org.id)).await?);
    let base = state.base_url();
    let projects: Vec<Value> = projects.iter().map(|p| serialize::project(p, None, &base)).collect();
    // Sentry's team-with-projects shape: Grafana's data source decodes the avatar, the
    // flags and the projects of each team.
    Ok(Json(json!([{
        "id": "1",
        "slug": org.slug,
        "name": org.name,
        "dateCreated": iso(org.date_created),
        "isMember": true,
        "hasAccess": true,
        "isPending": false,
        "memberCount": 1,
        "teamRole": null,
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": null},
        "projects": projects,
    }])))
}

pub async fn projects(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path(org): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let org_id = org.id;
    let projects = state.store.projects(Some(org_id)).await?;
    let projects = visible_projects(&caller, projects);
    let base = state.base_url();
    let items = projects
        .iter()
        .filter(|p| matches_query(params.query.as_deref(), &[&p.slug, &p.name]))
        .map(|p| serialize::project(p, None, &base))
        .collect();
    paged(&state, &uri, &params, items)
}

pub async fn all_projects(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    caller.require("project:read")?;
    let orgs = state.store.organizations().await?;
    let projects = state.store.projects(None).await?;
    let projects = visible_projects(&caller, projects);
    let base = state.base_url();
    let items = projects
        .iter()
        .filter(|p| matches_query(params.query.as_deref(), &[&p.slug, &p.name]))
        .map(|p| serialize::project(p, orgs.iter().find(|o| o.id == p.organization_id), &base))
        .collect();
    paged(&state, &uri, &params, items)
}

pub async fn project_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    let base = state.base_url();
    let mut v = serialize::project(&project, Some(&org), &base);
    v["options"] = project.settings.clone();
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
pub struct ProjectBody {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub platform: Option<String>,
    /// Errata: scrubbing settings (spec/scrubbing.md §3).
    pub scrubbing: Option<Value>,
    /// Errata: grouping rules in Sentry's text syntax.
    #[serde(rename = "fingerprintingRules")]
    pub fingerprinting_rules: Option<String>,
    #[serde(rename = "groupingEnhancements")]
    pub grouping_enhancements: Option<String>,
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_str("{}").map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

pub async fn project_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    caller.require("project:write")?;
    if caller.is_project_bound() {
        // Its token would not see the new project.
        return Err(ApiError::Forbidden);
    }
    let body: ProjectBody = body_json(&body)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let name = body
        .name
        .clone()
        .or(body.slug.clone())
        .ok_or_else(|| ApiError::Validation {
            field: "name".into(),
            message: "This field is required.".into(),
        })?;
    let slug = body.slug.clone().unwrap_or_else(|| slugify(&name));
    let (project, _) = state
        .store
        .create_project(NewProject {
            organization_id: org.id,
            slug,
            name,
            platform: body.platform.clone(),
            key_label: "Default".into(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serialize::project(&project, Some(&org), &state.base_url())),
    )
        .into_response())
}

/// The projects of a team: Errata's one team per organization (slugged as it) has them all.
pub async fn team_projects(
    state: State<AppState>,
    caller: Caller,
    uri: RequestUri,
    Path((org, team)): Path<(String, String)>,
    params: Query<ListParams>,
) -> Result<Response, ApiError> {
    caller.require("project:read")?;
    let organization = resolve_org(&state.0, &caller, &org).await?;
    if team != organization.slug {
        return Err(ApiError::NotFound);
    }
    projects(state, caller, uri, Path(org), params).await
}

pub async fn project_create_for_team(
    state: State<AppState>,
    caller: Caller,
    Path((org, _team)): Path<(String, String)>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    project_create(state, caller, Path(org), body).await
}

/// A slug from a display name: lower-case, runs of other characters as `-`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(50).collect()
}

/// Validates and merges settings changes into a project's stored settings.
pub fn merged_settings(current: &Value, body: &ProjectBody) -> Result<Value, ApiError> {
    let change = crate::settings::SettingsChange {
        scrubbing: body.scrubbing.clone(),
        fingerprint_rules: body.fingerprinting_rules.clone(),
        stacktrace_rules: body.grouping_enhancements.clone(),
    };
    Ok(crate::settings::merged(current, &change)?)
}

pub async fn project_update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    body: crate::http::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:write")?;
    let body: ProjectBody = body_json(&body)?;
    if body.scrubbing.is_some() || body.fingerprinting_rules.is_some() || body.grouping_enhancements.is_some() {
        // Scrubbing and grouping decide what is kept and where: changing them can weaken
        // what protects stored data, so it takes an admin token.
        caller.require("project:admin")?;
    }
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    let settings = merged_settings(&project.settings, &body)?;
    let (id, name, slug, platform) = (project.id, body.name.clone(), body.slug.clone(), body.platform.clone());
    if let Some(slug) = &slug
        && !valid_slug(slug)
    {
        return Err(ApiError::Validation {
            field: "slug".into(),
            message: "Enter a valid slug.".into(),
        });
    }
    let change = ProjectChange {
        name,
        slug,
        platform,
        settings: Some(settings),
    };
    let updated = state.store.update_project(id, change).await?;
    let mut v = serialize::project(&updated, Some(&org), &state.base_url());
    v["options"] = updated.settings.clone();
    Ok(Json(v))
}

pub async fn project_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require("project:admin")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    state.store.delete_project(project.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    RequestUri(uri): RequestUri,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<KeyListParams>,
) -> Result<Response, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let id = project.id;
    let keys = state.store.keys(id).await?;
    let base = state.base_url();
    let items = keys
        .iter()
        .filter(|k| match params.status.as_deref() {
            Some("active") => k.is_active,
            Some("inactive") => !k.is_active,
            _ => true,
        })
        .map(|k| serialize::key(k, &base))
        .collect();
    paged(
        &state,
        &uri,
        &ListParams {
            cursor: params.cursor,
            per_page: params.per_page,
            query: None,
        },
        items,
    )
}

#[derive(Debug, Deserialize)]
pub struct KeyListParams {
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct KeyBody {
    pub name: Option<String>,
    #[serde(rename = "isActive")]
    pub is_active: Option<bool>,
    #[serde(rename = "rateLimit", default, deserialize_with = "double_option")]
    pub rate_limit: Option<Option<RateLimitBody>>,
    /// Origins browser events may come from: `"*"`, a comma-separated string or a list.
    #[serde(rename = "allowedOrigins")]
    pub allowed_origins: Option<AllowedOrigins>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AllowedOrigins {
    Text(String),
    List(Vec<String>),
}

impl AllowedOrigins {
    /// The stored form: comma-separated, trimmed; empty means any (`*`).
    fn stored(&self) -> String {
        let parts: Vec<String> = match self {
            AllowedOrigins::Text(t) => t.split([',', '\n']).map(|p| p.trim().to_string()).collect(),
            AllowedOrigins::List(l) => l.iter().map(|p| p.trim().to_string()).collect(),
        };
        let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        if parts.is_empty() { "*".into() } else { parts.join(",") }
    }
}

#[derive(Debug, Deserialize)]
pub struct RateLimitBody {
    pub count: i64,
    pub window: i64,
}

/// Distinguishes an absent field (outer None) from an explicit null (Some(None)).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub async fn key_create(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    // A new key is a new way in for events: admin only, like disabling or limiting one.
    caller.require("project:admin")?;
    let body: KeyBody = body_json(&body)?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let id = project.id;
    let label = body.name.clone().unwrap_or_else(|| "Default".into());
    let key = state.store.create_key(id, &label).await?;
    Ok((StatusCode::CREATED, Json(serialize::key(&key, &state.base_url()))).into_response())
}

pub async fn key_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, key)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let key = state
        .store
        .key_by_public(&key)
        .await?
        .filter(|k| k.project_id == project.id)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(serialize::key(&key, &state.base_url())))
}

pub async fn key_update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, key)): Path<(String, String, String)>,
    body: crate::http::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:write")?;
    let body: KeyBody = body_json(&body)?;
    if body.is_active.is_some() || body.rate_limit.is_some() || body.allowed_origins.is_some() {
        // What a key admits (on or off, how much, from where) takes an admin token; a
        // write token may rename it.
        caller.require("project:admin")?;
    }
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let id = project.id;
    if let Some(Some(limit)) = &body.rate_limit
        && (limit.count < 0 || limit.window <= 0)
    {
        return Err(ApiError::Validation {
            field: "rateLimit".into(),
            message: "count must be ≥ 0 and window > 0".into(),
        });
    }
    let rate_limit = body.rate_limit.map(|l| l.map(|l| (l.count, l.window)));
    let origins = body.allowed_origins.as_ref().map(AllowedOrigins::stored);
    let change = KeyChange {
        label: body.name,
        is_active: body.is_active,
        rate_limit,
        allowed_origins: origins,
    };
    let key = state.store.update_key(id, &key, change).await?;
    Ok(Json(serialize::key(&key, &state.base_url())))
}

pub async fn key_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    caller.require("project:admin")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let id = project.id;
    state.store.delete_key(id, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
