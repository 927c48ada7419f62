//! Operations: liveness, readiness, Prometheus metrics and background housekeeping
//! (retention), plus the per-request id and log span every request runs in.

pub mod metrics;
pub mod request;
pub mod retention;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, web};
use serde_json::json;

use crate::http::{IntoResponse, Json, Response, State, StatusCode, header};
use crate::state::AppState;

/// How long a readiness probe's write check is reused, so probes cannot flood the writer.
const WRITE_PROBE_TTL: Duration = Duration::from_secs(1);
/// How long the write check may wait for the writer before the server counts as not ready.
const WRITE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Ready while the write queue is below this share of its capacity (per cent).
const QUEUE_HIGH_WATER_PERCENT: usize = 90;
/// Ready only while the data directory's file system has this much room: a batch of events
/// needs pages, and a one-page probe can still succeed on a disk too full for them.
const READY_MIN_FREE_BYTES: u64 = 1 << 20;

/// Turns off glibc malloc's fastbins. Every request reads a body of a few KB; each such
/// "large" request makes glibc consolidate all fastbins first, which cost ~2% of the
/// server's CPU under load. Small blocks still come from the per-thread cache.
/// (Measured: −7% CPU per event, RSS unchanged; see BENCHMARKS.md.)
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called once at start-up.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// State of the operational endpoints, shared by all requests.
#[derive(Default)]
pub struct OpsState {
    write_probe: tokio::sync::Mutex<Option<(Instant, bool)>>,
    stats: Mutex<Option<(Instant, metrics::StoreStats)>>,
}

/// Registers `/health`, `/ready` and `/metrics` (paths reach the router with their `/`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/", web::get().to(health))
        .route("/ready/", web::get().to(ready))
        .route("/metrics/", web::get().to(metrics_endpoint));
}

/// Live: the process answers.
async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready: not shutting down, the write queue below its high-water mark, and the database
/// takes a write (a full disk makes the server unready until space returns).
async fn ready(State(state): State<AppState>) -> Response {
    let depth = state.store.queue_depth();
    let capacity = state.store.queue_capacity();
    let shutting_down = state.is_shutting_down();
    let queue_ok = depth * 100 < capacity * QUEUE_HIGH_WATER_PERCENT;
    // Only probe when the answer can still be "ready": a probe waits behind the queue.
    let writable = if queue_ok && !shutting_down {
        Some(database_writable(&state).await)
    } else {
        None
    };
    let free = disk_free_bytes(&state.config.data_dir);
    let disk_ok = free.is_none_or(|f| f >= READY_MIN_FREE_BYTES);
    let ok = queue_ok && !shutting_down && disk_ok && writable == Some(true);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database_writable": writable,
        "disk_free_bytes": free,
        "queue_depth": depth,
        "queue_capacity": capacity,
        "shutting_down": shutting_down,
    });
    let mut response = (status, Json(body)).into_response();
    if !ok {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
    }
    response
}

/// Bytes an unprivileged writer may still use on the data directory's file system.
pub fn disk_free_bytes(dir: &std::path::Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Commits a one-row rewrite through the writer: only a real write notices a full disk.
async fn database_writable(state: &AppState) -> bool {
    let mut probe = state.ops.write_probe.lock().await;
    if let Some((at, ok)) = *probe
        && at.elapsed() < WRITE_PROBE_TTL
    {
        return ok;
    }
    let write = state.store.check_writable();
    let ok = matches!(tokio::time::timeout(WRITE_PROBE_TIMEOUT, write).await, Ok(Ok(())));
    *probe = Some((Instant::now(), ok));
    ok
}

async fn metrics_endpoint(State(state): State<AppState>, request: HttpRequest) -> Response {
    let headers = request.headers();
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, Json(json!({"detail": "metrics are disabled"}))).into_response();
    };
    if let Some(token) = &state.config.metrics_token
        && !metrics::token_matches(token, headers)
    {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"detail": "Authentication credentials were not provided."})),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return response;
    }
    metrics::record_gauges(&state).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}
