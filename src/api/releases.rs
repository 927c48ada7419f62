//! Releases as sentry-cli manages them (`releases new / set-commits / finalize / list /
//! info / delete`, `releases deploys new / list`), at organization and project level, the
//! organization's repositories, and Sentry-shaped JSON for them.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::pagination::{Cursor, link_header, page_size};
use super::serialize::iso;
use super::{resolve_org, resolve_project, visible_projects};
use crate::errors::ApiError;
use crate::http::{Bytes, IntoResponse, Json, Path, Query, RequestUri, Response, State, StatusCode, header};
use crate::state::AppState;
use crate::store::releases::{
    Commit, Deploy, NewDeploy, NewRelease, Release, ReleaseChange, ReleaseFilter, Repository, valid_version,
};
use crate::store::{Organization, Project};

/// Longest commit id, repository name, message or URL kept.
const MAX_COMMIT_ID: usize = 64;
const MAX_NAME: usize = 200;
const MAX_MESSAGE: usize = 10_000;
const MAX_URL: usize = 2_000;

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation {
        field: field.into(),
        message: message.into(),
    }
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// A version from the path: URL-decoded by the router, then held to the same rules as
/// one in a body; anything else names no release.
fn path_version(version: &str) -> Result<&str, ApiError> {
    if valid_version(version) {
        Ok(version)
    } else {
        Err(ApiError::NotFound)
    }
}

/// An ISO 8601 time from a body, in microseconds.
fn parse_time(field: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    match value.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.timestamp_micros()))
            .map_err(|_| bad(field, "Datetime has wrong format. Use an ISO 8601 date and time.")),
    }
}

fn bounded(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.len() > max => Err(bad(
            field,
            format!("Ensure this field has no more than {max} characters."),
        )),
        v => Ok(v.filter(|v| !v.is_empty())),
    }
}

// ---------------------------------------------------------------- JSON

/// Sentry's short form of a version: the part after `package@`, a full commit hash cut to 12.
pub fn short_version(version: &str) -> String {
    let v = version
        .split_once('@')
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .unwrap_or(version);
    if v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        v[..12].to_string()
    } else {
        v.to_string()
    }
}

fn commit_json(c: &Commit) -> Value {
    json!({
        "id": c.id,
        "message": c.message,
        "dateCreated": c.timestamp_us.map(iso),
        "author": if c.author_name.is_some() || c.author_email.is_some() {
            json!({"name": c.author_name, "email": c.author_email})
        } else {
            Value::Null
        },
        "repository": c.repository.as_ref().map(|name| json!({"name": name})),
    })
}

fn deploy_json(d: &Deploy) -> Value {
    json!({
        "id": d.id.to_string(),
        "environment": d.environment,
        "name": d.name,
        "url": d.url,
        "dateStarted": d.date_started_us.map(iso),
        "dateFinished": iso(d.date_finished_us),
    })
}

fn repository_json(r: &Repository) -> Value {
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "url": r.url,
        "provider": {"id": r.provider, "name": r.provider},
        "status": "active",
        "dateCreated": iso(r.date_created_us),
        "integrationId": null,
        "externalSlug": r.name,
        "externalId": null,
    })
}

/// A release as Sentry's release serializer shapes it (`projects` only those given).
pub fn release_json(r: &Release, projects: &HashMap<i64, Project>) -> Value {
    let project_list: Vec<Value> = r
        .projects
        .iter()
        .filter_map(|p| projects.get(&p.project_id))
        .map(|p| {
            json!({
                "id": p.id,
                "slug": p.slug,
                "name": p.name,
                "newGroups": 0,
                "platform": p.platform,
                "platforms": p.platform.iter().collect::<Vec<_>>(),
                "hasHealthData": false,
            })
        })
        .collect();
    json!({
        "id": r.id,
        "version": r.version,
        "shortVersion": short_version(&r.version),
        "versionInfo": {
            "package": r.version.split_once('@').map(|(p, _)| p),
            "version": {"raw": r.version.split_once('@').map(|(_, v)| v).unwrap_or(&r.version)},
            "description": short_version(&r.version),
            "buildHash": null,
        },
        "ref": r.reference,
        "url": r.url,
        "status": "open",
        "dateCreated": iso(r.date_created_us),
        "dateStarted": r.date_started_us.map(iso),
        "dateReleased": r.date_released_us.map(iso),
        "data": {},
        "newGroups": r.new_groups,
        "owner": null,
        "commitCount": r.commit_count,
        "lastCommit": r.last_commit.as_ref().map(commit_json),
        "deployCount": r.deploy_count,
        "lastDeploy": r.last_deploy.as_ref().map(deploy_json),
        "authors": r.authors.iter().map(|(name, email)| json!({"name": name, "email": email})).collect::<Vec<_>>(),
        "projects": project_list,
        "firstEvent": r.first_event_us().map(iso),
        "lastEvent": r.last_event_us().map(iso),
        "currentProjectMeta": {},
        "userAgent": null,
    })
}

async fn projects_of(state: &AppState, caller: &Caller, org: &Organization) -> Result<HashMap<i64, Project>, ApiError> {
    let projects = visible_projects(caller, state.store.projects(Some(org.id)).await?);
    Ok(projects.into_iter().map(|p| (p.id, p)).collect())
}

/// The release, if the caller sees one of its projects (or it has none and the caller
/// sees the whole organization).
async fn visible_release(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    version: &str,
) -> Result<(Release, HashMap<i64, Project>), ApiError> {
    let release = state.store.release(org.id, path_version(version)?).await?;
    let projects = projects_of(state, caller, org).await?;
    let sees = release.projects.iter().any(|p| projects.contains_key(&p.project_id))
        || (release.projects.is_empty() && !caller.is_project_bound());
    if sees {
        Ok((release, projects))
    } else {
        Err(ApiError::NotFound)
    }
}

// ---------------------------------------------------------------- bodies

#[derive(Deserialize)]
struct CommitBody {
    id: String,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct RefBody {
    repository: String,
    commit: String,
    #[serde(default, rename = "previousCommit")]
    _previous: Option<String>,
}

#[derive(Deserialize, Default)]
struct ReleaseBody {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    projects: Option<Vec<Value>>,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateStarted")]
    date_started: Option<String>,
    #[serde(default, rename = "dateReleased")]
    date_released: Option<String>,
    #[serde(default)]
    commits: Option<Vec<CommitBody>>,
    #[serde(default)]
    refs: Option<Vec<RefBody>>,
}

/// The projects a body names (slugs or ids), each one the caller sees in the organization.
async fn named_projects(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    names: &[Value],
) -> Result<Vec<i64>, ApiError> {
    if names.len() > 100 {
        return Err(bad("projects", "Ensure this field has no more than 100 elements."));
    }
    let mut ids = Vec::new();
    for name in names {
        let name = match name {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(bad("projects", "Invalid project")),
        };
        let (_, project) = resolve_project(state, caller, &org.slug, &name)
            .await
            .map_err(|_| bad("projects", format!("Invalid project slugs: {name}")))?;
        if !ids.contains(&project.id) {
            ids.push(project.id);
        }
    }
    Ok(ids)
}

/// The commits of a body: given ones (`--local`), or one per ref (`--commit REPO@SHA`),
/// whose repository must be registered.
async fn commits_of(state: &AppState, org: &Organization, body: &ReleaseBody) -> Result<Option<Vec<Commit>>, ApiError> {
    let max = crate::store::releases::MAX_COMMITS;
    if let Some(commits) = &body.commits {
        if commits.len() > max {
            return Err(bad(
                "commits",
                format!("Ensure this field has no more than {max} elements."),
            ));
        }
        let mut out = Vec::with_capacity(commits.len());
        for c in commits {
            if c.id.is_empty() || c.id.len() > MAX_COMMIT_ID {
                return Err(bad("commits", "Each commit needs an id of at most 64 characters."));
            }
            let repository = bounded("commits", c.repository.clone(), MAX_NAME)?;
            if let Some(name) = &repository {
                // Sentry registers the repositories commits name.
                state.store.create_repository(org.id, name, None, "unknown").await?;
            }
            out.push(Commit {
                repository,
                id: c.id.clone(),
                message: bounded(
                    "commits",
                    c.message.clone().map(|m| m.chars().take(MAX_MESSAGE).collect()),
                    MAX_MESSAGE * 4,
                )?,
                author_name: bounded("commits", c.author_name.clone(), MAX_NAME)?,
                author_email: bounded("commits", c.author_email.clone(), MAX_NAME)?,
                timestamp_us: parse_time("commits", &c.timestamp)?,
            });
        }
        return Ok(Some(out));
    }
    if let Some(refs) = &body.refs {
        if refs.len() > 100 {
            return Err(bad("refs", "Ensure this field has no more than 100 elements."));
        }
        let known: Vec<String> = state
            .store
            .repositories(org.id)
            .await?
            .into_iter()
            .map(|r| r.name.to_lowercase())
            .collect();
        let unknown: Vec<&str> = refs
            .iter()
            .filter(|r| !known.contains(&r.repository.to_lowercase()))
            .map(|r| r.repository.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Invalid repository names: {}",
                unknown.join(",")
            )));
        }
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            if r.commit.is_empty() || r.commit.len() > MAX_COMMIT_ID {
                return Err(bad("refs", "Each ref needs a commit of at most 64 characters."));
            }
            out.push(Commit {
                repository: Some(r.repository.clone()),
                id: r.commit.clone(),
                message: None,
                author_name: None,
                author_email: None,
                timestamp_us: None,
            });
        }
        return Ok(Some(out));
    }
    Ok(None)
}

// ---------------------------------------------------------------- handlers

#[derive(Deserialize, Default)]
pub struct ReleaseListParams {
    cursor: Option<String>,
    per_page: Option<String>,
    query: Option<String>,
    /// Project ids (Sentry's `project=` filter, repeatable as a comma list here).
    project: Option<String>,
}

async fn list(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    only: Option<Vec<i64>>,
    params: &ReleaseListParams,
    uri: &crate::http::Uri,
) -> Result<Response, ApiError> {
    let cursor = Cursor::parse(params.cursor.as_deref())?;
    let limit = page_size(params.per_page.as_deref())?;
    let projects = projects_of(state, caller, org).await?;
    let filtered = only.is_some() || only_given(params) || caller.is_project_bound();
    let mut ids: Vec<i64> = match only {
        Some(ids) => ids,
        None => match params.project.as_deref().filter(|p| !p.is_empty()) {
            Some(list) => list
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i64>()
                        .map_err(|_| bad("project", "Invalid project id"))
                })
                .collect::<Result<_, _>>()?,
            None => projects.keys().copied().collect(),
        },
    };
    ids.retain(|id| projects.contains_key(id));
    let project_ids = filtered.then_some(ids);
    let releases = state
        .store
        .releases(ReleaseFilter {
            organization_id: org.id,
            project_ids,
            query: params.query.clone().filter(|q| !q.is_empty()),
            limit: limit + 1,
            offset: cursor.offset,
        })
        .await?;
    let has_next = releases.len() > limit;
    let page: Vec<Value> = releases
        .iter()
        .take(limit)
        .map(|r| release_json(r, &projects))
        .collect();
    let mut response = Json(page).into_response();
    response.headers_mut().insert(
        header::LINK,
        link_header(&state.base_url(), uri, cursor.offset, limit, has_next),
    );
    Ok(response)
}

fn only_given(params: &ReleaseListParams) -> bool {
    params.project.as_deref().is_some_and(|p| !p.is_empty())
}

pub async fn org_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<ReleaseListParams>,
    RequestUri(uri): RequestUri,
) -> Result<Response, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    list(&state, &caller, &org, None, &params, &uri).await
}

pub async fn project_list(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    Query(params): Query<ReleaseListParams>,
    RequestUri(uri): RequestUri,
) -> Result<Response, ApiError> {
    caller.require("project:read")?;
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    list(&state, &caller, &org, Some(vec![project.id]), &params, &uri).await
}

async fn create(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    body: ReleaseBody,
    project_ids: Vec<i64>,
) -> Result<Response, ApiError> {
    let version = body.version.clone().unwrap_or_default();
    if version.is_empty() {
        return Err(bad("version", "This field is required."));
    }
    if !valid_version(&version) {
        return Err(bad("version", "Release with name is not allowed."));
    }
    if project_ids.is_empty() {
        return Err(bad("projects", "This field is required."));
    }
    let commits = commits_of(state, org, &body).await?;
    let (mut release, created) = state
        .store
        .create_release(NewRelease {
            organization_id: org.id,
            version: version.clone(),
            project_ids,
            reference: bounded("ref", body.reference.clone(), MAX_NAME)?,
            url: bounded("url", body.url.clone(), MAX_URL)?,
            date_started_us: parse_time("dateStarted", &body.date_started)?,
            date_released_us: parse_time("dateReleased", &body.date_released)?,
        })
        .await?;
    if commits.is_some() {
        release = state
            .store
            .update_release(
                org.id,
                &version,
                ReleaseChange {
                    commits,
                    ..ReleaseChange::default()
                },
            )
            .await?;
    }
    let projects = projects_of(state, caller, org).await?;
    // Sentry answers 208 when the release already existed.
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::ALREADY_REPORTED
    };
    Ok((status, Json(release_json(&release, &projects))).into_response())
}

pub async fn org_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    crate::api::uploads::require_upload(&caller)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let body: ReleaseBody = body_json(&body)?;
    let project_ids = named_projects(&state, &caller, &org, body.projects.as_deref().unwrap_or(&[])).await?;
    create(&state, &caller, &org, body, project_ids).await
}

pub async fn project_create(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    crate::api::uploads::require_upload(&caller)?;
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    let body: ReleaseBody = body_json(&body)?;
    create(&state, &caller, &org, body, vec![project.id]).await
}

pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, projects) = visible_release(&state, &caller, &org, &version).await?;
    Ok(Json(release_json(&release, &projects)))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    crate::api::uploads::require_upload(&caller)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, _) = visible_release(&state, &caller, &org, &version).await?;
    let body: ReleaseBody = body_json(&body)?;
    let project_ids = match &body.projects {
        Some(names) => Some(named_projects(&state, &caller, &org, names).await?),
        None => None,
    };
    let change = ReleaseChange {
        reference: bounded("ref", body.reference.clone(), MAX_NAME)?,
        url: bounded("url", body.url.clone(), MAX_URL)?,
        date_started_us: parse_time("dateStarted", &body.date_started)?,
        date_released_us: parse_time("dateReleased", &body.date_released)?,
        project_ids,
        commits: commits_of(&state, &org, &body).await?,
    };
    let release = state.store.update_release(org.id, &release.version, change).await?;
    let projects = projects_of(&state, &caller, &org).await?;
    Ok(Json(release_json(&release, &projects)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    crate::api::uploads::require_upload(&caller)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, _) = visible_release(&state, &caller, &org, &version).await?;
    match state.store.delete_release(org.id, &release.version).await {
        Ok(()) => Ok(Response::NoContent().finish()),
        // Sentry refuses with 400 while issues refer to the release.
        Err(crate::store::StoreError::Conflict(detail)) => Err(ApiError::BadRequest(detail)),
        Err(e) => Err(e.into()),
    }
}

pub async fn commits(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, _) = visible_release(&state, &caller, &org, &version).await?;
    let commits = state.store.release_commits(org.id, &release.version).await?;
    Ok(Json(Value::Array(commits.iter().map(commit_json).collect())))
}

pub async fn previous_with_commits(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, projects) = visible_release(&state, &caller, &org, &version).await?;
    let previous = state
        .store
        .previous_release_with_commits(org.id, &release.version)
        .await?;
    // Sentry answers `{}` when there is none.
    Ok(Json(match previous {
        Some(p) => release_json(&p, &projects),
        None => json!({}),
    }))
}

#[derive(Deserialize)]
struct DeployBody {
    environment: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateStarted")]
    date_started: Option<String>,
    #[serde(default, rename = "dateFinished")]
    date_finished: Option<String>,
}

pub async fn deploys(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, _) = visible_release(&state, &caller, &org, &version).await?;
    let deploys = state.store.deploys(org.id, &release.version).await?;
    Ok(Json(Value::Array(deploys.iter().map(deploy_json).collect())))
}

pub async fn deploy_create(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    crate::api::uploads::require_upload(&caller)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (release, _) = visible_release(&state, &caller, &org, &version).await?;
    let body: DeployBody = body_json(&body)?;
    let environment = body.environment.clone().unwrap_or_default();
    if environment.is_empty() {
        return Err(bad("environment", "This field is required."));
    }
    if environment.len() > 64 || environment.contains(['/', '\n', '\r', '\t']) {
        return Err(bad("environment", "Invalid environment name."));
    }
    let deploy = state
        .store
        .create_deploy(
            org.id,
            &release.version,
            NewDeploy {
                environment,
                name: bounded("name", body.name.clone(), 64)?,
                url: bounded("url", body.url.clone(), MAX_URL)?,
                date_started_us: parse_time("dateStarted", &body.date_started)?,
                date_finished_us: parse_time("dateFinished", &body.date_finished)?.unwrap_or_else(crate::store::now_us),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(deploy_json(&deploy))).into_response())
}

pub async fn repos(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("org:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let repos = state.store.repositories(org.id).await?;
    Ok(Json(Value::Array(repos.iter().map(repository_json).collect())))
}

#[derive(Deserialize)]
struct RepoBody {
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    provider: Option<String>,
}

/// Registers a repository by name, so `set-commits --commit REPO@SHA` can name it.
pub async fn repo_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("project:write")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let body: RepoBody = body_json(&body)?;
    let name = body.name.clone().unwrap_or_default();
    if name.trim().is_empty() || name.len() > MAX_NAME || name.contains(['\n', '\r', '\t']) {
        return Err(bad("name", "A repository name of at most 200 characters is required."));
    }
    let provider = bounded("provider", body.provider.clone(), 64)?.unwrap_or_else(|| "unknown".into());
    let repo = state
        .store
        .create_repository(
            org.id,
            name.trim(),
            bounded("url", body.url.clone(), MAX_URL)?,
            &provider,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(repository_json(&repo))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_versions_drop_the_package_and_shorten_hashes() {
        assert_eq!(short_version("web@1.2.3"), "1.2.3");
        assert_eq!(short_version("1.2.3"), "1.2.3");
        assert_eq!(
            short_version("app@0123456789abcdef0123456789abcdef01234567"),
            "0123456789ab"
        );
        assert_eq!(short_version("trailing@"), "trailing@");
    }
}
