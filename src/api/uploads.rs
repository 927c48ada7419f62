//! sentry-cli's upload endpoints: the chunk-upload options and chunk POSTs, assembling an
//! artifact bundle from its chunks, and listings of what was uploaded. The checks live in
//! `crate::upload` (pure); these handlers read the request, call them and the store.

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{resolve_org, resolve_project};
use crate::errors::ApiError;
use crate::http::{Json, Path, State, header};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::artifacts::{NewArtifact, NewBundle};
use crate::store::releases::valid_version;
use crate::upload::bundle::read_bundle;
use crate::upload::{Checksum, UploadError, UploadLimits, check_chunk, multipart};

/// What sentry-cli may upload to: artifact bundles (with and without debug ids) and the
/// release files and sources they carry.
const ACCEPT: &[&str] = &["release_files", "sources", "artifact_bundles", "artifact_bundles_v2"];
/// Parallel upload requests a client may make.
const CONCURRENCY: u32 = 4;
/// Longest dist name kept (Sentry's bound).
const MAX_DIST_LEN: usize = 64;

/// Uploading is allowed to tokens with `project:releases` or `project:write`, as Sentry's
/// release permission does.
pub fn require_upload(caller: &Caller) -> Result<(), ApiError> {
    let scopes = caller.scopes();
    if scopes.contains(&"project:releases") || scopes.contains(&"project:write") {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

pub async fn chunk_options(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let limits = UploadLimits::default();
    Ok(Json(json!({
        "url": format!("{}/api/0/organizations/{}/chunk-upload/", state.base_url(), org.slug),
        "chunkSize": limits.chunk_size,
        "chunksPerRequest": limits.chunks_per_request,
        "maxFileSize": limits.max_file_size,
        "maxRequestSize": limits.max_request_size,
        "concurrency": CONCURRENCY,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "accept": ACCEPT,
        "maxWait": 60,
    })))
}

/// Reads the request body up to `limit` bytes; past it, 413.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(UploadError::RequestTooLarge(limit).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn chunk_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<Json<Value>, ApiError> {
    require_upload(&caller)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let limits = UploadLimits::default();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multipart::boundary(content_type)?;
    let body = read_body(payload, limits.max_request_size).await?;
    let parts = multipart::parse(&boundary, &body, limits.chunks_per_request * 2)?;
    let mut chunks = Vec::new();
    for part in &parts {
        if let Some((checksum, data)) = check_chunk(&part.name, part.filename.as_deref(), part.data, &limits)? {
            chunks.push((checksum.into_string(), data));
        }
    }
    if chunks.len() > limits.chunks_per_request {
        return Err(UploadError::TooManyChunks(limits.chunks_per_request).into());
    }
    if !chunks.is_empty() {
        state
            .store
            .put_chunks(org.id, chunks, limits.max_waiting_chunk_bytes)
            .await?;
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct AssembleBody {
    checksum: String,
    #[serde(default)]
    chunks: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

fn assemble_state(state: &str, missing: Vec<String>, detail: Option<String>) -> Json<Value> {
    Json(json!({ "state": state, "missingChunks": missing, "detail": detail }))
}

pub async fn assemble_bundle(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    body: crate::http::Bytes,
) -> Result<Json<Value>, ApiError> {
    require_upload(&caller)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let body: AssembleBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let limits = UploadLimits::default();
    let checksum = Checksum::parse(&body.checksum)?;
    let max_chunks = limits.max_file_size.div_ceil(limits.chunk_size);
    if body.chunks.len() > max_chunks {
        return Err(UploadError::BundleTooLarge(format!("more than {max_chunks} chunks")).into());
    }
    let chunks = body
        .chunks
        .iter()
        .map(|c| Checksum::parse(c).map(Checksum::into_string))
        .collect::<Result<Vec<_>, _>>()?;
    if body.projects.is_empty() {
        return Err(ApiError::BadRequest(
            "projects: at least one project is required".into(),
        ));
    }
    if body.projects.len() > 100 {
        return Err(ApiError::BadRequest("projects: at most 100 projects".into()));
    }
    let mut project_ids = Vec::new();
    for slug in &body.projects {
        let (_, project) = resolve_project(&state, &caller, &org.slug, slug)
            .await
            .map_err(|_| ApiError::BadRequest(format!("projects: unknown project {slug:?}")))?;
        if !project_ids.contains(&project.id) {
            project_ids.push(project.id);
        }
    }
    let version = body.version.filter(|v| !v.is_empty());
    if let Some(v) = &version
        && !valid_version(v)
    {
        return Err(ApiError::BadRequest("version: not a valid release version".into()));
    }
    let dist = body.dist.filter(|d| !d.is_empty());
    if dist.as_ref().is_some_and(|d| d.len() > MAX_DIST_LEN) {
        return Err(ApiError::BadRequest(format!("dist: at most {MAX_DIST_LEN} characters")));
    }

    if state
        .store
        .bundle_by_checksum(org.id, checksum.as_str())
        .await?
        .is_some()
    {
        return Ok(assemble_state("ok", vec![], None));
    }
    let missing = state.store.missing_chunks(org.id, chunks.clone()).await?;
    if !missing.is_empty() {
        return Ok(assemble_state("not_found", missing, None));
    }
    let data = match state.store.chunk_data(org.id, chunks.clone()).await {
        Ok(data) => data,
        // Pruned between the two reads: ask for them again.
        Err(StoreError::NotFound(_)) => return Ok(assemble_state("not_found", chunks, None)),
        Err(e) => return Err(e.into()),
    };
    let total: usize = data.iter().map(Vec::len).sum();
    if total > limits.max_file_size {
        return Ok(assemble_state(
            "error",
            vec![],
            Some(format!("the bundle is larger than {} bytes", limits.max_file_size)),
        ));
    }
    let built = web::block(move || build_bundle(data, &checksum, &limits))
        .await
        .map_err(|_| ApiError::Internal)?;
    let (files, size, manifest_release, manifest_dist) = match built {
        Ok(built) => built,
        Err(detail) => return Ok(assemble_state("error", vec![], Some(detail))),
    };
    let bundle = NewBundle {
        organization_id: org.id,
        checksum: body.checksum.trim().to_ascii_lowercase(),
        release: version.or(manifest_release).filter(|v| valid_version(v)),
        dist: dist.or(manifest_dist).filter(|d| d.len() <= MAX_DIST_LEN),
        project_ids,
        files,
        size,
        chunks,
        max_project_bytes: limits.max_project_bytes,
    };
    match state.store.save_bundle(bundle).await {
        Ok(_) => Ok(assemble_state("ok", vec![], None)),
        Err(StoreError::Conflict(detail)) => Ok(assemble_state("error", vec![], Some(detail))),
        Err(e) => Err(e.into()),
    }
}

type Built = (Vec<NewArtifact>, i64, Option<String>, Option<String>);

/// Joins the chunks, checks the whole against its checksum, reads the bundle and
/// compresses its files for storing; an error is the detail sentry-cli shows.
fn build_bundle(data: Vec<Vec<u8>>, checksum: &Checksum, limits: &UploadLimits) -> Result<Built, String> {
    let archive: Vec<u8> = data.concat();
    if &Checksum::of(&archive) != checksum {
        return Err("the assembled file does not match its checksum".into());
    }
    let bundle = read_bundle(&archive, limits).map_err(|e| e.to_string())?;
    let mut files = Vec::with_capacity(bundle.files.len());
    for file in bundle.files {
        let artifact = NewArtifact::new(file.kind, file.url, file.debug_id, file.sourcemap_ref, &file.content)
            .map_err(|e| e.to_string())?;
        files.push(artifact);
    }
    Ok((files, archive.len() as i64, bundle.release, bundle.dist))
}

/// A project's bundles, newest first.
pub async fn project_bundles(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let bundles = state.store.artifact_bundles(project.id, 1000).await?;
    Ok(Json(Value::Array(
        bundles
            .iter()
            .map(|b| {
                json!({
                    "id": b.id.to_string(),
                    "bundleId": b.checksum,
                    "release": b.release,
                    "dist": b.dist,
                    "fileCount": b.file_count,
                    "size": b.size,
                    "date": super::serialize::iso(b.date_created_us),
                })
            })
            .collect(),
    )))
}

/// A project's uploaded files of one release (`/releases/{version}/files/`).
pub async fn release_files(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, version)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let files = state.store.artifact_files(project.id, Some(version), 1000).await?;
    Ok(Json(Value::Array(files.iter().map(file_json).collect())))
}

/// Every uploaded file of a project, any release or none (`/files/artifacts/`).
pub async fn project_files(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let files = state.store.artifact_files(project.id, None, 1000).await?;
    Ok(Json(Value::Array(files.iter().map(file_json).collect())))
}

fn file_json(f: &crate::store::artifacts::ArtifactInfo) -> Value {
    let mut headers = serde_json::Map::new();
    if let Some(id) = &f.debug_id {
        headers.insert("debug-id".into(), json!(id));
    }
    if let Some(map) = &f.sourcemap_ref {
        headers.insert("Sourcemap".into(), json!(map));
    }
    json!({
        "id": f.id.to_string(),
        "name": f.url,
        "type": f.kind,
        "dist": f.dist,
        "release": f.release,
        "debugId": f.debug_id,
        "headers": headers,
        "size": f.size,
        "dateCreated": super::serialize::iso(f.date_created_us),
    })
}
