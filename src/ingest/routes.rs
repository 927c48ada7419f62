//! Ingest endpoints: `POST /api/{project_id}/envelope/` and `…/store/` (also under
//! a path prefix, for DSNs behind a reverse proxy). Handlers only extract request
//! metadata and hand the body on; the work happens in `process` and `store`.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::json;

use super::auth::{self, SentryAuth};
use super::decode::{self, ContentEncoding};
use super::envelope::{self, Envelope};
use super::limits;
use super::process::{self, parse_event_id};
use crate::app::AppState;
use crate::errors::IngestError;
use crate::store::StoreError;

/// Which ingest endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Envelope,
    Store,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/{project_id}/envelope/", post(envelope_route).options(preflight))
        .route("/api/{project_id}/envelope", post(envelope_route).options(preflight))
        .route("/api/{project_id}/store/", post(store_route).options(preflight))
        .route("/api/{project_id}/store", post(store_route).options(preflight))
        .route("/api/tunnel/", post(tunnel_route).options(preflight))
        .route("/api/{project_id}/{endpoint}/", any(unsupported))
        .route("/api/{project_id}/{endpoint}/{*rest}", any(unsupported))
}

async fn envelope_route(
    State(state): State<AppState>,
    Path(project): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        ingest(
            &state,
            Endpoint::Envelope,
            Some(&project),
            peer,
            query.as_deref(),
            &headers,
            &body,
        )
        .await,
    )
}

async fn store_route(
    State(state): State<AppState>,
    Path(project): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        ingest(
            &state,
            Endpoint::Store,
            Some(&project),
            peer,
            query.as_deref(),
            &headers,
            &body,
        )
        .await,
    )
}

/// A dedicated route for the JS SDK's `tunnel` option: the project comes from the envelope's DSN.
async fn tunnel_route(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        ingest(
            &state,
            Endpoint::Envelope,
            None,
            peer,
            query.as_deref(),
            &headers,
            &body,
        )
        .await,
    )
}

/// Ingest paths under a prefix (`/sentry/api/42/envelope/`), matched by the app's fallback.
pub fn match_prefixed(path: &str) -> Option<(String, Endpoint)> {
    let trimmed = path.trim_end_matches('/');
    let mut parts = trimmed.rsplit('/');
    let endpoint = match parts.next()? {
        "envelope" => Endpoint::Envelope,
        "store" => Endpoint::Store,
        _ => return None,
    };
    let project = parts.next()?.to_string();
    (parts.next()? == "api").then_some((project, endpoint))
}

pub async fn prefixed(
    state: &AppState,
    project: &str,
    endpoint: Endpoint,
    peer: SocketAddr,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if method == Method::OPTIONS {
        return preflight().await;
    }
    if method != Method::POST {
        return respond(Err(IngestError::MethodNotAllowed));
    }
    respond(ingest(state, endpoint, Some(project), peer, query, headers, body).await)
}

/// Minidump, security reports, unreal, cron…: answered with a clear 404 (preflights with 200).
async fn unsupported(method: Method) -> Response {
    if method == Method::OPTIONS {
        return preflight().await;
    }
    IngestError::UnsupportedEndpoint.into_response()
}

async fn preflight() -> Response {
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("3600"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, accept, content-type, \
             authentication, authorization, content-encoding, transfer-encoding",
        ),
    );
    response
}

fn respond(result: Result<Response, IngestError>) -> Response {
    match result {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The whole ingest path of one request.
async fn ingest(
    state: &AppState,
    endpoint: Endpoint,
    project_path: Option<&str>,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, IngestError> {
    if state.is_shutting_down() {
        return Err(IngestError::ShuttingDown);
    }
    let path_project = match project_path {
        Some(p) => Some(
            p.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or(IngestError::BadProjectPath)?,
        ),
        None => None,
    };
    let request_auth = auth::from_request(
        header_str(headers, &header::HeaderName::from_static("x-sentry-auth")),
        header_str(headers, &header::AUTHORIZATION),
        query,
    )?;

    let limits = &state.config.limits;
    let encoding = ContentEncoding::parse(header_str(headers, &header::CONTENT_ENCODING))?;
    let is_envelope = endpoint == Endpoint::Envelope
        || header_str(headers, &header::CONTENT_TYPE).is_some_and(|ct| ct.starts_with("application/x-sentry-envelope"));
    let limit = if is_envelope {
        limits.max_envelope_size
    } else {
        limits.max_store_body_size
    };
    let decoded = decode::decode(encoding, body, limit)?;
    if decoded.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::EmptyBody);
    }

    let received_at = now_secs();
    let client_ip = peer.ip().to_string();
    if is_envelope {
        let envelope = envelope::parse(&decoded, limits.max_envelope_items)?;
        let (project_id, key) = authenticate(state, path_project, request_auth, Some(&envelope), headers).await?;
        limits::check_envelope(&envelope, limits)?;
        ingest_envelope(state, project_id, &key, envelope, received_at, &client_ip).await
    } else {
        let json = decode::decode_legacy_store(&decoded, limits.max_store_body_size)?;
        let (project_id, _key) = authenticate(state, path_project, request_auth, None, headers).await?;
        let id = ingest_event(state, project_id, &json, None, received_at, &client_ip).await?;
        Ok(ok_response(Some(&id)))
    }
}

/// Resolves the project and checks the key: request credentials, else the envelope's DSN (tunnel).
async fn authenticate(
    state: &AppState,
    path_project: Option<i64>,
    request_auth: Option<SentryAuth>,
    envelope: Option<&Envelope<'_>>,
    headers: &HeaderMap,
) -> Result<(i64, String), IngestError> {
    let dsn = match envelope.and_then(|e| e.header.dsn.as_deref()) {
        Some(dsn) => Some(auth::parse_dsn(dsn)?),
        None => None,
    };
    let (public_key, project_id) = match (request_auth, dsn) {
        (Some(auth), Some(dsn)) => {
            if auth.public_key != dsn.public_key || path_project.is_some_and(|p| p != dsn.project_id as i64) {
                return Err(IngestError::HeaderMismatch);
            }
            (auth.public_key, path_project.unwrap_or(dsn.project_id as i64))
        }
        (Some(auth), None) => (
            auth.public_key,
            path_project.ok_or(IngestError::Auth(auth::AuthError::Missing))?,
        ),
        (None, Some(dsn)) => {
            if path_project.is_some_and(|p| p != dsn.project_id as i64) {
                return Err(IngestError::HeaderMismatch);
            }
            (dsn.public_key, dsn.project_id as i64)
        }
        (None, None) => return Err(IngestError::Auth(auth::AuthError::Missing)),
    };
    let key = state
        .cache
        .key(&state.store, &public_key)
        .await
        .map_err(IngestError::Store)?;
    let key = key
        .filter(|k| k.is_active && k.project_id == project_id)
        .ok_or(IngestError::Rejected("ProjectId"))?;
    if !origin_allowed(&key.allowed_origins, headers) {
        return Err(IngestError::Rejected("Cors"));
    }
    Ok((project_id, key.public_key.clone()))
}

/// `*` allows any origin; otherwise a comma-separated list of origins or hosts.
fn origin_allowed(allowed: &str, headers: &HeaderMap) -> bool {
    let allowed = allowed.trim();
    if allowed.is_empty() || allowed == "*" {
        return true;
    }
    let Some(origin) = header_str(headers, &header::ORIGIN).or_else(|| header_str(headers, &header::REFERER)) else {
        return true;
    };
    let host = origin
        .split("://")
        .nth(1)
        .unwrap_or(origin)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    allowed.split(',').map(str::trim).any(|a| {
        a == "*"
            || a == origin.trim_end_matches('/')
            || a == host
            || a.strip_prefix("*.").is_some_and(|d| host.ends_with(d))
    })
}

async fn ingest_envelope(
    state: &AppState,
    project_id: i64,
    _key: &str,
    envelope: Envelope<'_>,
    received_at: f64,
    client_ip: &str,
) -> Result<Response, IngestError> {
    let header_id = match envelope.header.event_id.as_deref() {
        Some(raw) => Some(parse_event_id(raw).ok_or_else(|| IngestError::InvalidEventId(raw.to_string()))?),
        None => None,
    };
    let mut response_id = header_id.clone();
    for item in &envelope.items {
        let ty = item.header.ty.as_str();
        match ty {
            "event" => {
                let id = header_id.clone().unwrap_or_else(process::new_event_id);
                let stored = ingest_event(state, project_id, item.payload, Some(&id), received_at, client_ip).await?;
                response_id = Some(stored);
            }
            other => {
                metrics::counter!("errata_items_total", "type" => item_type_label(other), "outcome" => "accepted")
                    .increment(1);
            }
        }
    }
    Ok(ok_response(response_id.as_deref()))
}

/// Bounded label set for metrics: known types by name, everything else as `other`.
fn item_type_label(ty: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "event",
        "transaction",
        "attachment",
        "user_report",
        "feedback",
        "session",
        "sessions",
        "client_report",
        "check_in",
        "profile",
        "profile_chunk",
        "replay_event",
        "replay_recording",
        "replay_video",
        "log",
        "span",
        "trace_metric",
        "statsd",
        "metric_buckets",
    ];
    KNOWN.iter().find(|k| **k == ty).copied().unwrap_or("other")
}

/// Processes and stores one event; returns its id once committed.
async fn ingest_event(
    state: &AppState,
    project_id: i64,
    payload: &[u8],
    event_id: Option<&str>,
    received_at: f64,
    client_ip: &str,
) -> Result<String, IngestError> {
    let project = state
        .cache
        .project(&state.store, project_id)
        .await
        .map_err(IngestError::Store)?;
    let processed = process::process_event(payload, event_id, &project, received_at, Some(client_ip)).map_err(|e| {
        metrics::counter!("errata_items_total", "type" => "event", "outcome" => "invalid").increment(1);
        IngestError::InvalidEvent(e.to_string())
    })?;
    let id = processed.record.event_id.clone();
    match state.store.writer.store_event(processed.record).await {
        Ok(stored) => {
            let outcome = if stored.duplicate { "duplicate" } else { "accepted" };
            metrics::counter!("errata_items_total", "type" => "event", "outcome" => outcome).increment(1);
            Ok(id)
        }
        Err(StoreError::QueueFull) => {
            metrics::counter!("errata_items_total", "type" => "event", "outcome" => "queue_full").increment(1);
            Err(IngestError::QueueFull)
        }
        Err(e) => Err(IngestError::Store(e)),
    }
}

fn ok_response(id: Option<&str>) -> Response {
    let body = match id {
        Some(id) => json!({ "id": id }),
        None => json!({}),
    };
    (StatusCode::OK, Json(body)).into_response()
}
