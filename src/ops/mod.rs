//! Operations: liveness, readiness and Prometheus metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/", get(health))
        .route("/ready", get(ready))
        .route("/ready/", get(ready))
        .route("/metrics", get(metrics))
        .route("/metrics/", get(metrics))
}

/// Live: the process answers.
async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready: the database answers and the write queue is below its high-water mark.
async fn ready(State(state): State<AppState>) -> Response {
    let depth = state.store.writer.queue_depth();
    let capacity = state.store.writer.queue_capacity();
    let db_ok = state
        .store
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
        .is_ok();
    let queue_ok = depth * 10 < capacity * 9;
    let ok = db_ok && queue_ok && !state.is_shutting_down();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": db_ok,
        "queue_depth": depth,
        "queue_capacity": capacity,
        "shutting_down": state.is_shutting_down(),
    });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("errata_queue_depth").set(state.store.writer.queue_depth() as f64);
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "metrics are disabled"})),
        )
            .into_response(),
    }
}
