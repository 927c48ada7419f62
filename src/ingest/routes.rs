//! Ingest endpoints: `POST /api/{project_id}/envelope/` and `…/store/` (also under
//! a path prefix, for DSNs behind a reverse proxy). Handlers only extract request
//! metadata and hand the body on; the work happens in `process` and `store`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::HttpServiceFactory;
use actix_web::http::ConnectionType;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, Resource, Route, web};
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};

use super::auth::{self, SentryAuth};
use super::decode::{self, ContentEncoding};
use super::envelope::{self, Envelope, Item};
use super::limits;
use super::process::{self, AttachmentRefusal, RawAttachment, parse_event_id};
use super::ratelimit::{Class, KeyLimit, QuotaCheck};
use super::sourcemaps;
use crate::errors::IngestError;
use crate::event::json::Value as EventTree;
use crate::event::sourcemap;
use crate::http::{
    HeaderMap, HeaderName, HeaderValue, IntoResponse, Json, Method, Path, RawQuery, Response, State, StatusCode,
    client_ip, header,
};
use crate::ids::EventId;
use crate::state::AppState;
use crate::store::outcomes::{self, Outcome, OutcomeTally};
use crate::store::{Announced, ProjectKey, StoreError, UserReport};

/// The request body as it arrives.
pub type Body = web::Payload;

/// Which ingest endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Envelope,
    Store,
}

/// CORS for browser SDKs, on every ingest response including errors.
pub fn cors_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .add((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "x-sentry-error, x-sentry-rate-limits, retry-after",
        ))
        .add((HeaderName::from_static("cross-origin-resource-policy"), "cross-origin"))
}

/// Adds the ingest CORS headers to a response built outside the ingest routes.
pub fn add_cors_headers(h: &mut HeaderMap) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
}

/// An ingest path: CORS on every answer, 405 for a method it does not take.
fn ingest_resource(path: &str, routes: Vec<Route>) -> impl HttpServiceFactory + use<> {
    routes
        .into_iter()
        .fold(web::resource(path), Resource::route)
        .default_service(web::to(method_not_allowed))
        .wrap(cors_headers())
}

/// Registers the ingest endpoints (paths reach the router with their trailing `/`). The
/// app registers them before every other route: actix tries resources in order, each
/// dynamic one a regex match, and nearly every request is one of these.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let post_or_preflight = |handler| vec![handler, web::method(Method::OPTIONS).to(preflight)];
    cfg.service(ingest_resource(
        "/api/{project_id}/envelope/",
        post_or_preflight(web::post().to(envelope_route)),
    ))
    .service(ingest_resource(
        "/api/{project_id}/store/",
        post_or_preflight(web::post().to(store_route)),
    ))
    .service(ingest_resource(
        "/api/tunnel/",
        post_or_preflight(web::post().to(tunnel_route)),
    ));
}

/// Registers the answer for ingest endpoints Errata does not implement (`/api/{id}/minidump/`
/// and the like). These patterns also match the web API's paths, so the app registers them
/// after the API.
pub fn configure_unsupported(cfg: &mut web::ServiceConfig) {
    cfg.service(ingest_resource(
        "/api/{project_id}/{endpoint}/",
        vec![web::route().to(unsupported)],
    ))
    .service(ingest_resource(
        "/api/{project_id}/{endpoint}/{rest:.*}",
        vec![web::route().to(unsupported)],
    ));
}

async fn method_not_allowed() -> Response {
    IngestError::MethodNotAllowed.into_response()
}

async fn envelope_route(
    State(state): State<AppState>,
    Path(project): Path<String>,
    http: HttpRequest,
    RawQuery(query): RawQuery,
    mut body: Body,
) -> Response {
    let request = Request {
        endpoint: Endpoint::Envelope,
        project_path: Some(&project),
        client: client_ip(&http, &state.trusted_proxies),
        query: query.as_deref(),
        headers: http.headers(),
    };
    let response = respond(ingest(&state, request, &mut body).await);
    close_if_unread(response, &mut body)
}

async fn store_route(
    State(state): State<AppState>,
    Path(project): Path<String>,
    http: HttpRequest,
    RawQuery(query): RawQuery,
    mut body: Body,
) -> Response {
    let request = Request {
        endpoint: Endpoint::Store,
        project_path: Some(&project),
        client: client_ip(&http, &state.trusted_proxies),
        query: query.as_deref(),
        headers: http.headers(),
    };
    let response = respond(ingest(&state, request, &mut body).await);
    close_if_unread(response, &mut body)
}

/// A dedicated route for the JS SDK's `tunnel` option: the project comes from the envelope's DSN.
async fn tunnel_route(
    State(state): State<AppState>,
    http: HttpRequest,
    RawQuery(query): RawQuery,
    mut body: Body,
) -> Response {
    let request = Request {
        endpoint: Endpoint::Envelope,
        project_path: None,
        client: client_ip(&http, &state.trusted_proxies),
        query: query.as_deref(),
        headers: http.headers(),
    };
    let response = respond(ingest(&state, request, &mut body).await);
    close_if_unread(response, &mut body)
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

#[allow(clippy::too_many_arguments)]
pub async fn prefixed(
    state: &AppState,
    project: &str,
    endpoint: Endpoint,
    client: IpAddr,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    mut body: Body,
) -> Response {
    if method == Method::OPTIONS {
        return preflight().await;
    }
    if method != Method::POST {
        return respond(Err(IngestError::MethodNotAllowed));
    }
    let request = Request {
        endpoint,
        project_path: Some(project),
        client,
        query,
        headers,
    };
    let response = respond(ingest(state, request, &mut body).await);
    close_if_unread(response, &mut body)
}

/// Minidump, security reports, unreal, cron…: answered with a clear 404 (preflights with 200).
async fn unsupported(request: HttpRequest) -> Response {
    if request.method() == Method::OPTIONS {
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

/// An answer given before the whole body arrived (a bad key, too large, too slow) closes the
/// connection: the client stops sending, and the server does not read the rest to discard it.
fn close_if_unread(mut response: Response, body: &mut Body) -> Response {
    if !matches!(body.next().now_or_never(), Some(None)) {
        response.head_mut().set_connection_type(ConnectionType::Close);
    }
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

/// What a handler knows about a request before reading its body.
pub struct Request<'a> {
    pub endpoint: Endpoint,
    /// The project id from the path; `None` on the tunnel route.
    pub project_path: Option<&'a str>,
    /// The client's address (`http::client_ip`): the inferred user address of its events.
    pub client: IpAddr,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// A body that is only whitespace this far in is refused without reading the rest.
const MAX_LEADING_WHITESPACE: usize = 64 * 1024;

/// Reads the body within the configured time and size: a client trickling bytes gets 408,
/// one sending too much gets 413 as soon as it crosses the limit, never after buffering it.
async fn read_body(
    body: &mut Body,
    limit: usize,
    timeout_secs: u64,
    headers: &HeaderMap,
) -> Result<Vec<u8>, IngestError> {
    let declared = header_str(headers, &header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(IngestError::BodyTooLarge { limit });
    }
    let collect = async {
        let mut buf: Vec<u8> = Vec::with_capacity(declared.map_or(8 * 1024, |len| len as usize));
        let mut only_whitespace = true;
        while let Some(data) = body.next().await {
            let data = data.map_err(|e| IngestError::BodyRead(e.to_string()))?;
            if buf.len() + data.len() > limit {
                return Err(IngestError::BodyTooLarge { limit });
            }
            if only_whitespace {
                only_whitespace = data.iter().all(u8::is_ascii_whitespace);
                if only_whitespace && buf.len() + data.len() > MAX_LEADING_WHITESPACE {
                    return Err(IngestError::EmptyBody);
                }
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf)
    };
    if timeout_secs == 0 {
        return collect.await;
    }
    tokio::time::timeout(Duration::from_secs(timeout_secs), collect)
        .await
        .map_err(|_| IngestError::BodyTimeout(timeout_secs))?
}

/// The whole ingest path of one request.
async fn ingest(state: &AppState, request: Request<'_>, body: &mut Body) -> Result<Response, IngestError> {
    if state.is_shutting_down() {
        return Err(IngestError::ShuttingDown);
    }
    // Most ingest requests carry an event: let an open batch wait for it while it is read
    // and processed (the announcement ends when it is queued or this request returns).
    let announced = state.store.announce();
    let headers = request.headers;
    let path_project = match request.project_path {
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
        request.query,
    )?;
    // A key named in the request is checked before a byte of the body is read or inflated.
    if let (Some(auth), Some(_)) = (&request_auth, path_project) {
        authenticate(state, path_project, Some(auth.clone()), None).await?;
    }
    let authenticated = request_auth.is_some() && path_project.is_some();
    // Ingest work in progress is bounded: past it, 429 before the body is read.
    let _permit = state
        .ingest_permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| IngestError::Busy)?;

    let limits = &state.config.limits;
    let encoding = ContentEncoding::parse(header_str(headers, &header::CONTENT_ENCODING))?;
    let is_envelope = request.endpoint == Endpoint::Envelope
        || header_str(headers, &header::CONTENT_TYPE).is_some_and(|ct| ct.starts_with("application/x-sentry-envelope"));
    let limit = if is_envelope {
        limits.max_envelope_size
    } else {
        limits.max_store_body_size
    };
    // A legacy store body may be base64: allow its overhead before decoding.
    // A legacy store body never carries its key: without one in the request, refuse now.
    if !is_envelope && !authenticated {
        authenticate(state, path_project, request_auth.clone(), None).await?;
    }
    let raw_limit = if is_envelope { limit } else { limit.saturating_mul(2) };
    // Without a key in the request it is inside the envelope: read little until it is known.
    let raw_limit = if authenticated {
        raw_limit
    } else {
        raw_limit.min(state.config.max_unauthenticated_body_size)
    };
    let body = read_body(body, raw_limit, state.config.body_timeout_secs, headers).await?;
    let body = if authenticated {
        body
    } else {
        authenticate_by_envelope_header(state, path_project, &request_auth, encoding, body).await?
    };
    let decoded = decode_body(encoding, body, limit).await?;
    if decoded.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::EmptyBody);
    }

    let received_at = now_secs();
    let client_ip = request.client.to_string();
    let ctx = |project_id, key| Ctx {
        state,
        announced: &announced,
        project_id,
        key,
        received_at,
        client_ip: client_ip.clone(),
    };
    if is_envelope {
        let envelope = envelope::parse(&decoded, limits.max_envelope_items).inspect_err(|_| {
            OutcomeTally::record_unattributed("default", &Outcome::Invalid("envelope"), 1);
        })?;
        let key = authenticate(state, path_project, request_auth, envelope.header.dsn.as_deref()).await?;
        let ctx = ctx(key.project_id, key);
        ctx.check_origin(headers, &envelope.items)?;
        if let Err(e) = limits::check_envelope(&envelope, limits) {
            for item in &envelope.items {
                ctx.record(item_category_of(item), &Outcome::TooLarge, 1);
            }
            return Err(e.into());
        }
        ingest_envelope(&ctx, envelope).await
    } else {
        let json = decode::decode_legacy_store(&decoded, limits.max_store_body_size)?;
        let key = authenticate(state, path_project, request_auth, None).await?;
        let ctx = ctx(key.project_id, key);
        ctx.check_origin(headers, &[])?;
        let limited = ctx.rate_limit();
        match limited {
            Some(limited) => {
                ctx.count_limited_event(&json).await;
                Err(limited)
            }
            None => {
                let id = ctx.ingest_event(&json, None).await?;
                Ok(ok_response(Some(id)))
            }
        }
    }
}

/// Inflates a compressed body. A small body is inflated on the worker that read it, up to
/// `INLINE_WORK_MAX` bytes of output; one that inflates further (or a large body) is
/// inflated on the blocking pool, so no request holds a worker for long.
async fn decode_body(encoding: ContentEncoding, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, IngestError> {
    if encoding == ContentEncoding::Identity {
        decode::decode(encoding, &body, limit)?;
        return Ok(body);
    }
    if body.len() <= INLINE_WORK_MAX {
        match decode::decode(encoding, &body, limit.min(INLINE_WORK_MAX)) {
            Ok(decoded) => return Ok(decoded.into_owned()),
            // Larger than work on the worker may be: start again on the blocking pool.
            Err(decode::DecodeError::TooLarge { .. }) if limit > INLINE_WORK_MAX => {}
            Err(e) => return Err(e.into()),
        }
    }
    let decoded = off_runtime(move || decode::decode(encoding, &body, limit).map(|d| d.into_owned())).await?;
    Ok(decoded)
}

/// The tunnel case: the key is in the envelope's header. Only the start of the body is
/// inflated to read it (however far the rest would expand) before the key is checked.
async fn authenticate_by_envelope_header(
    state: &AppState,
    path_project: Option<i64>,
    request_auth: &Option<SentryAuth>,
    encoding: ContentEncoding,
    body: Vec<u8>,
) -> Result<Vec<u8>, IngestError> {
    let cap = state.config.max_unauthenticated_body_size;
    let (body, prefix) = off_runtime(move || {
        let prefix = decode::decode_prefix(encoding, &body, cap);
        (body, prefix)
    })
    .await;
    let prefix = prefix?;
    let header_line = prefix.split(|b| *b == b'\n').next().unwrap_or_default();
    let dsn = serde_json::from_slice::<envelope::EnvelopeHeader>(header_line)
        .ok()
        .and_then(|h| h.dsn);
    authenticate(state, path_project, request_auth.clone(), dsn.as_deref()).await?;
    Ok(body)
}

/// Runs pure, CPU-bound work on the blocking pool; a panic there resumes here.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The most input (bytes of body or event) whose pure work runs on the worker that read
/// the request. Processing a 6 KB event takes about 0.3 ms, less than the two thread hops
/// and wake-ups that moving it to the blocking pool costs; 32 KiB keeps the worker's other
/// connections waiting at most a couple of milliseconds. Larger inputs go to the pool.
const INLINE_WORK_MAX: usize = 32 * 1024;

/// Runs pure work of `input_len` bytes of input here when it is small, else on the
/// blocking pool (see `INLINE_WORK_MAX`).
async fn pure_work<T: Send + 'static>(input_len: usize, work: impl FnOnce() -> T + Send + 'static) -> T {
    if input_len <= INLINE_WORK_MAX {
        work()
    } else {
        off_runtime(work).await
    }
}

/// Resolves the project and checks the key: request credentials, else the envelope's DSN (tunnel).
async fn authenticate(
    state: &AppState,
    path_project: Option<i64>,
    request_auth: Option<SentryAuth>,
    envelope_dsn: Option<&str>,
) -> Result<Arc<ProjectKey>, IngestError> {
    let dsn = match envelope_dsn {
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
    key.filter(|k| k.is_active && k.project_id == project_id)
        .ok_or(IngestError::Rejected("ProjectId"))
}

/// `*` allows any origin; otherwise a comma-separated list of origins or hosts.
/// Requests without `Origin` or `Referer` (servers, not browsers) are always allowed.
pub fn origin_allowed(allowed: &str, headers: &HeaderMap) -> bool {
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
    let origin = origin.trim_end_matches('/');
    allowed.split(',').map(str::trim).any(|a| {
        a == "*"
            || a == origin
            || origin.strip_prefix(a).is_some_and(|rest| rest.starts_with('/'))
            || a == host
            || a.strip_prefix("*.")
                .is_some_and(|d| host.ends_with(&format!(".{d}")) || host == d)
    })
}

/// One authenticated request's context: the project, its key, when and from where.
struct Ctx<'a> {
    state: &'a AppState,
    announced: &'a Announced,
    project_id: i64,
    key: Arc<ProjectKey>,
    received_at: f64,
    client_ip: String,
}

impl Ctx<'_> {
    fn record(&self, category: &str, outcome: &Outcome, quantity: u64) {
        self.state
            .cache
            .outcomes
            .record(self.project_id, category, outcome, quantity);
        self.state.cache.ensure_flusher(&self.state.store);
    }

    /// A browser origin the key does not allow: 403, counted as filtered.
    fn check_origin(&self, headers: &HeaderMap, items: &[Item<'_>]) -> Result<(), IngestError> {
        if origin_allowed(&self.key.allowed_origins, headers) {
            return Ok(());
        }
        if items.is_empty() {
            self.record("error", &Outcome::Filtered("cors"), 1);
        }
        for item in items {
            self.record(item_category_of(item), &Outcome::Filtered("cors"), 1);
        }
        Err(IngestError::Rejected("Cors"))
    }

    /// Takes one event from the key's bucket; the error to answer when it is empty.
    fn rate_limit(&self) -> Option<IngestError> {
        let mut quota = self.quota();
        if quota.take(Class::EVENTS, 1) {
            return None;
        }
        Some(IngestError::RateLimited {
            retry_after: quota.refusals.retry_after_secs(),
            header: quota.refusals.header(),
        })
    }

    /// The quota checks of this request against the key's buckets.
    fn quota(&self) -> QuotaCheck<'_> {
        let limit = KeyLimit::for_key(&self.key, self.state.config.default_rate_limit);
        QuotaCheck::new(&self.state.cache.limiters, &self.key.public_key, limit)
    }

    /// A rate-limited event is not stored, but still counted on its issue when the issue is known.
    async fn count_limited_event(&self, payload: &[u8]) {
        let project = self.state.cache.project(&self.state.store, self.project_id).await.ok();
        let counted = match project {
            Some(p) => self.group_with_maps(p, payload.to_vec()).await,
            None => None,
        };
        if let Some((hashes, timestamp)) = counted {
            self.state.cache.count_limited(self.project_id, hashes, timestamp);
        }
        self.record("error", &Outcome::RateLimited, 1);
    }

    /// Processes one event, applying the source maps its JavaScript frames need between
    /// normalizing and grouping. An event without such frames is processed in one go
    /// (here when it is small, else on the blocking pool: `pure_work`); one with them in
    /// two, the maps fetched in between.
    async fn process_with_maps(
        &self,
        project: process::SharedProject,
        payload: Vec<u8>,
        event_id: Option<String>,
        max_size: usize,
    ) -> Result<process::Processed, process::ProcessError> {
        let (received_at, client_ip) = (self.received_at, self.client_ip.clone());
        let first_project = project.clone();
        let first = pure_work(payload.len(), move || {
            let p = &first_project;
            let event = process::prepare_event(&payload, event_id.as_deref(), p, received_at, Some(&client_ip))?;
            let requests = sourcemap::requests(&event);
            if requests.is_empty() {
                return process::finish_event(event, payload.len(), p, received_at, max_size)
                    .map(|done| Step::Done(Box::new(done)));
            }
            Ok(Step::NeedsMaps(event.into_owned(), requests, payload.len()))
        })
        .await?;
        let (mut event, requests, payload_len) = match first {
            Step::Done(processed) => return Ok(*processed),
            Step::NeedsMaps(event, requests, len) => (event, requests, len),
        };
        let cache = &self.state.cache.sourcemaps;
        let release = sourcemap::release_of(&event);
        let resolved = sourcemaps::resolve(&self.state.store, cache, self.project_id, release, requests).await;
        pure_work(payload_len, move || {
            let applied = sourcemap::apply(&mut event, &resolved, &HashMap::new());
            metrics::counter!("errata_sourcemap_frames_total").increment(applied.mapped_frames as u64);
            process::finish_event(event, payload_len, &project, received_at, max_size)
        })
        .await
    }

    /// The grouping hashes and timestamp of an event that is not stored, its source maps
    /// applied as for a stored one, so it counts on the same issue.
    async fn group_with_maps(&self, project: process::SharedProject, payload: Vec<u8>) -> Option<(Vec<String>, i64)> {
        let (received_at, client_ip) = (self.received_at, self.client_ip.clone());
        let first_project = project.clone();
        let payload_len = payload.len();
        let first = pure_work(payload_len, move || {
            let p = &first_project;
            let event = process::prepare_event(&payload, None, p, received_at, Some(&client_ip)).ok()?;
            let requests = sourcemap::requests(&event);
            if requests.is_empty() {
                return Some(Err(process::group_prepared(event, p, received_at)));
            }
            Some(Ok((event.into_owned(), requests)))
        })
        .await?;
        let (mut event, requests) = match first {
            Err(grouped) => return Some(grouped),
            Ok(needs_maps) => needs_maps,
        };
        let cache = &self.state.cache.sourcemaps;
        let release = sourcemap::release_of(&event);
        let resolved = sourcemaps::resolve(&self.state.store, cache, self.project_id, release, requests).await;
        pure_work(payload_len, move || {
            sourcemap::apply(&mut event, &resolved, &HashMap::new());
            Some(process::group_prepared(event, &project, received_at))
        })
        .await
    }

    /// Processes and stores one event; returns its id once committed.
    async fn ingest_event(&self, payload: &[u8], event_id: Option<&str>) -> Result<EventId, IngestError> {
        let state = self.state;
        let project = state
            .cache
            .project(&state.store, self.project_id)
            .await
            .map_err(IngestError::Store)?;
        let max_size = state.config.limits.max_event_size;
        let (payload, event_id) = (payload.to_vec(), event_id.map(str::to_string));
        let processed = self
            .process_with_maps(project, payload, event_id, max_size)
            .await
            .map_err(|e| {
                self.record("error", &Outcome::Invalid("event"), 1);
                IngestError::InvalidEvent(e.to_string())
            })?;
        let id = processed.record.event_id;
        let category = if processed.record.kind == "error" {
            "error"
        } else {
            "default"
        };
        match state.store.store_event(processed.record, Some(self.announced)).await {
            Ok(stored) => {
                let outcome = if stored.duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Accepted
                };
                self.record(category, &outcome, 1);
                Ok(id)
            }
            Err(StoreError::QueueFull) => {
                metrics::counter!("errata_items_total", "type" => "event", "outcome" => "queue_full").increment(1);
                Err(IngestError::QueueFull)
            }
            Err(e) => Err(IngestError::Store(e)),
        }
    }
}

/// Where processing an event stands after normalizing it.
enum Step {
    Done(Box<process::Processed>),
    /// The normalized event, detached from its payload to wait for the maps.
    NeedsMaps(EventTree<'static>, Vec<sourcemap::FileRequest>, usize),
}

/// The outcome category of an item (events by whether they carry an exception).
fn item_category_of(item: &Item<'_>) -> &'static str {
    let ty = item.header.ty.as_str();
    let has_exception = ty == "event" && memchr_exception(item.payload);
    limits::item_category(ty, has_exception).unwrap_or("unknown")
}

/// A cheap guess whether an event payload carries an exception, for counting only.
fn memchr_exception(payload: &[u8]) -> bool {
    payload.windows(9).any(|w| w == b"exception")
}

/// How many things an item carries: containers (logs, spans) say so in `item_count`.
fn item_quantity(item: &Item<'_>) -> u64 {
    item.header.item_count.unwrap_or(1).max(1)
}

async fn ingest_envelope(ctx: &Ctx<'_>, envelope: Envelope<'_>) -> Result<Response, IngestError> {
    let header_id = match envelope.header.event_id.as_deref() {
        Some(raw) => Some(parse_event_id(raw).ok_or_else(|| IngestError::InvalidEventId(raw.to_string()))?),
        None => None,
    };
    // Every item takes from its class's bucket; what is over the key's limit is dropped
    // and counted, and the envelope answers 429 naming each limited category.
    let mut quota = ctx.quota();
    let has_event = envelope.items.iter().any(|i| i.header.ty == "event");
    let event_limited = has_event && !quota.take(Class::EVENTS, 1);

    // Events first: attachments and user reports belong to a stored event.
    let mut response_id = header_id;
    for item in envelope.items.iter().filter(|i| i.header.ty == "event") {
        if event_limited {
            ctx.count_limited_event(item.payload).await;
            continue;
        }
        let id = header_id.unwrap_or_else(process::new_event_id);
        response_id = Some(ctx.ingest_event(item.payload, Some(id.as_str())).await?);
    }

    let max_attachment = ctx.state.config.max_stored_attachment_size;
    let mut attachments = Vec::new();
    let mut reports = Vec::new();
    for item in envelope.items.iter().filter(|i| i.header.ty != "event") {
        let ty = item.header.ty.as_str();
        match ty {
            "attachment" => {
                // An attachment shares its event's fate: dropped with a limited event
                // without taking from the attachment buckets.
                if event_limited || !quota.take_attachment(item.payload.len()) {
                    ctx.record("attachment", &Outcome::RateLimited, 1);
                } else if item.payload.len() > max_attachment {
                    ctx.record("attachment", &Outcome::TooLarge, 1);
                } else {
                    attachments.push(item);
                }
            }
            "user_report" | "feedback" => {
                let category = if ty == "feedback" { "feedback" } else { "user_report_v2" };
                let class = Class::of_item(ty).unwrap_or(Class::USER_REPORTS);
                if !quota.take(class, 1) {
                    ctx.record(category, &Outcome::RateLimited, 1);
                    continue;
                }
                let parsed = if ty == "feedback" {
                    feedback_report(item.payload)
                } else {
                    user_report(item.payload).map(Some).ok_or(())
                };
                match parsed {
                    Ok(Some(report)) => reports.push((category, report)),
                    Ok(None) => ctx.record(category, &Outcome::Accepted, 1),
                    Err(()) => ctx.record(
                        category,
                        &Outcome::Invalid(if ty == "feedback" { "feedback" } else { "user_report" }),
                        1,
                    ),
                }
            }
            "client_report" => {
                if !quota.take(Class::of_item(ty).unwrap_or(Class::EVENTS), 1) {
                    ctx.record("internal", &Outcome::RateLimited, 1);
                    continue;
                }
                match client_report(item.payload) {
                    Some(discards) => {
                        for (category, reason, quantity) in discards {
                            ctx.record(&category, &Outcome::ClientDiscard(reason), quantity);
                        }
                    }
                    None => ctx.record("internal", &Outcome::Invalid("client_report"), 1),
                }
            }
            _ => {
                let quantity = item_quantity(item);
                let allowed = match Class::of_item(ty) {
                    Some(class) => quota.take(class, u32::try_from(quantity).unwrap_or(u32::MAX)),
                    None => true,
                };
                let outcome = if allowed {
                    Outcome::Accepted
                } else {
                    Outcome::RateLimited
                };
                ctx.record(item_category_of(item), &outcome, quantity);
            }
        }
        metrics::counter!("errata_items_total", "type" => item_type_label(ty), "outcome" => "received").increment(1);
    }

    let attachment_event = response_id.filter(|_| !attachments.is_empty());
    let mut prepared = Vec::new();
    if attachment_event.is_none() {
        ctx.record("attachment", &Outcome::Invalid("no_event"), attachments.len() as u64);
    }
    if attachment_event.is_some() || !reports.is_empty() {
        let project = ctx
            .state
            .cache
            .project(&ctx.state.store, ctx.project_id)
            .await
            .map_err(IngestError::Store)?;
        if attachment_event.is_some() {
            // Scrubbing text attachments is CPU work: on the blocking pool, with owned copies.
            let owned: Vec<_> = attachments
                .iter()
                .map(|item| {
                    let h = &item.header;
                    (
                        h.filename.clone(),
                        h.content_type.clone(),
                        h.attachment_type.clone(),
                        item.payload.to_vec(),
                    )
                })
                .collect();
            let scrub_project = project.clone();
            let results = off_runtime(move || {
                owned
                    .iter()
                    .map(|(name, content_type, attachment_type, data)| {
                        let raw = RawAttachment {
                            name: name.as_deref(),
                            content_type: content_type.as_deref(),
                            attachment_type: attachment_type.as_deref(),
                            data,
                        };
                        process::prepare_attachment(&scrub_project, &raw)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            for result in results {
                match result {
                    Ok(attachment) => prepared.push(attachment),
                    Err(AttachmentRefusal::Binary) => {
                        ctx.record("attachment", &Outcome::Filtered("binary_attachment"), 1)
                    }
                }
            }
        }
        reports = reports
            .into_iter()
            .map(|(category, report)| (category, process::scrub_user_report(&project, report)))
            .collect();
    }

    if !prepared.is_empty() || !reports.is_empty() {
        let project_id = ctx.project_id;
        let count = prepared.len();
        let report_list: Vec<UserReport> = reports.iter().map(|(_, r)| r.clone()).collect();
        let written = ctx
            .state
            .store
            .store_extras(project_id, attachment_event, prepared, report_list)
            .await;
        match written {
            Ok((kept, attached)) => {
                ctx.record("attachment", &Outcome::Accepted, kept as u64);
                ctx.record("attachment", &Outcome::Invalid("no_event"), (count - kept) as u64);
                for ((category, _), attached) in reports.iter().zip(attached) {
                    let outcome = if attached {
                        Outcome::Accepted
                    } else {
                        Outcome::Invalid("no_event")
                    };
                    ctx.record(category, &outcome, 1);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "keeping attachments or user reports failed");
                ctx.record("attachment", &Outcome::Invalid("store"), count as u64);
                for (category, _) in &reports {
                    ctx.record(category, &Outcome::Invalid("store"), 1);
                }
            }
        }
    }

    if quota.refusals.is_empty() {
        Ok(ok_response(response_id))
    } else {
        Err(IngestError::RateLimited {
            retry_after: quota.refusals.retry_after_secs(),
            header: quota.refusals.header(),
        })
    }
}

fn text_field(v: &Value, key: &str, max: usize) -> String {
    let s = v.get(key).and_then(Value::as_str).unwrap_or("");
    s.chars().take(max).collect()
}

/// A legacy `user_report` item: `{event_id, name, email, comments}`.
fn user_report(payload: &[u8]) -> Option<UserReport> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let event_id = parse_event_id(v.get("event_id")?.as_str()?)?;
    Some(UserReport {
        event_id,
        name: text_field(&v, "name", 128),
        email: text_field(&v, "email", 128),
        comments: text_field(&v, "comments", 4096),
    })
}

/// A `feedback` item: a report on an event when it names one (`contexts.feedback.associated_event_id`).
fn feedback_report(payload: &[u8]) -> Result<Option<UserReport>, ()> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| ())?;
    let feedback = v.pointer("/contexts/feedback").ok_or(())?;
    let Some(event_id) = feedback
        .get("associated_event_id")
        .and_then(Value::as_str)
        .and_then(parse_event_id)
    else {
        return Ok(None);
    };
    Ok(Some(UserReport {
        event_id,
        name: text_field(feedback, "name", 128),
        email: text_field(feedback, "contact_email", 128),
        comments: text_field(feedback, "message", 4096),
    }))
}

/// Bound on discard entries taken from one client report.
const MAX_CLIENT_REPORT_ENTRIES: usize = 100;

/// The discards a client report lists: (category, reason, quantity).
fn client_report(payload: &[u8]) -> Option<Vec<(String, String, u64)>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let obj = v.as_object()?;
    let mut out = Vec::new();
    for (field, default_reason) in [
        ("discarded_events", None),
        ("rate_limited_events", Some("ratelimit")),
        ("filtered_events", Some("filtered")),
        ("filtered_sampling_events", Some("sample_rate")),
    ] {
        let Some(entries) = obj.get(field).and_then(Value::as_array) else {
            continue;
        };
        for entry in entries
            .iter()
            .take(MAX_CLIENT_REPORT_ENTRIES - out.len().min(MAX_CLIENT_REPORT_ENTRIES))
        {
            let category = entry.get("category").and_then(Value::as_str).unwrap_or("default");
            let reason = entry
                .get("reason")
                .and_then(Value::as_str)
                .or(default_reason)
                .unwrap_or("unknown");
            let quantity = entry
                .get("quantity")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(u64::from(u32::MAX));
            out.push((category.to_string(), outcomes::client_reason(reason), quantity));
        }
    }
    Some(out)
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

fn ok_response(id: Option<EventId>) -> Response {
    let body = match id {
        Some(id) => json!({ "id": id }),
        None => json!({}),
    };
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h
    }

    #[test]
    fn origins_match_by_origin_host_or_wildcard() {
        let allowed = "https://app.example, other.example, *.shop.example";
        assert!(origin_allowed(allowed, &headers("https://app.example")));
        assert!(origin_allowed(allowed, &headers("http://other.example:8080")));
        assert!(origin_allowed(allowed, &headers("https://eu.shop.example")));
        assert!(!origin_allowed(allowed, &headers("https://evil.example")));
        assert!(!origin_allowed(allowed, &headers("https://notshop.example")));
        assert!(!origin_allowed(allowed, &headers("https://app.example.evil.test")));
        assert!(origin_allowed("*", &headers("https://any.example")));
        assert!(origin_allowed(allowed, &HeaderMap::new()), "no Origin: not a browser");
    }

    #[test]
    fn client_reports_yield_bounded_discards() {
        let report =
            br#"{"timestamp":1,"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":3}],
            "rate_limited_events":[{"category":"transaction","quantity":2}]}"#;
        assert_eq!(
            client_report(report).unwrap(),
            vec![
                ("error".into(), "queue_overflow".into(), 3),
                ("transaction".into(), "ratelimit".into(), 2)
            ]
        );
        assert_eq!(client_report(b"not json"), None);
        let many = format!(
            r#"{{"discarded_events":[{}]}}"#,
            vec![r#"{"reason":"r","category":"error","quantity":1}"#; 500].join(",")
        );
        assert_eq!(client_report(many.as_bytes()).unwrap().len(), MAX_CLIENT_REPORT_ENTRIES);
    }

    #[test]
    fn user_reports_and_feedback_name_their_event() {
        let report = user_report(
            br#"{"event_id":"9F6C2E4B-8A1D-4C3B-9E2F-1A0B9C8D7E6F","name":"A","email":"a@x","comments":"broke"}"#,
        )
        .unwrap();
        assert_eq!(report.event_id.as_str(), "9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6f");
        assert_eq!(report.comments, "broke");
        assert_eq!(user_report(br#"{"event_id":"nope"}"#), None);
        let feedback = br#"{"contexts":{"feedback":{"message":"m","contact_email":"e","associated_event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}}"#;
        assert_eq!(feedback_report(feedback).unwrap().unwrap().comments, "m");
        assert_eq!(
            feedback_report(br#"{"contexts":{"feedback":{"message":"m"}}}"#),
            Ok(None)
        );
        assert_eq!(feedback_report(b"[]"), Err(()));
    }
}
