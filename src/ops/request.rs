//! Every request gets an id, a log span carrying it, an `X-Request-Id` response header and
//! a count in `errata_requests_total`. The span records the method and path only: never
//! the query string (it can hold a DSN key), a header value or the body.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Instrument;

use crate::http::{HeaderName, HeaderValue};

/// Longest path written to a log line.
const MAX_LOGGED_PATH: usize = 200;

pub async fn observe(request: ServiceRequest, next: Next<BoxBody>) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = request_id();
    let endpoint = endpoint_label(request.uri().path());
    let path: String = request.uri().path().chars().take(MAX_LOGGED_PATH).collect();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %path);
    let started = Instant::now();
    let result = next.call(request).instrument(span.clone()).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), elapsed_ms, endpoint, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), elapsed_ms, endpoint, "request");
        }
    });
    metrics::counter!("errata_requests_total", "endpoint" => endpoint, "status" => status_label(status.as_u16()))
        .increment(1);
    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// A fresh id per request; incoming `X-Request-Id` headers are not trusted into the logs.
fn request_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(16);
    id
}

/// A bounded label for the endpoint a path belongs to.
pub fn endpoint_label(path: &str) -> &'static str {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.trim_start_matches('/').splitn(4, '/').collect();
    match parts.as_slice() {
        ["health"] => "health",
        ["ready"] => "ready",
        ["metrics"] => "metrics",
        ["api", "0", ..] => "api",
        ["api", "tunnel"] => "tunnel",
        ["api", project, kind] if project.chars().all(|c| c.is_ascii_digit()) => match *kind {
            "envelope" => "envelope",
            "store" => "store",
            _ => "ingest_other",
        },
        _ if trimmed.ends_with("/envelope") => "envelope",
        _ if trimmed.ends_with("/store") => "store",
        _ => "other",
    }
}

/// Status codes as their own label: the set is small and fixed.
fn status_label(status: u16) -> String {
    status.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_a_small_fixed_set() {
        assert_eq!(endpoint_label("/api/42/envelope/"), "envelope");
        assert_eq!(endpoint_label("/api/42/store"), "store");
        assert_eq!(endpoint_label("/api/42/minidump/"), "ingest_other");
        assert_eq!(endpoint_label("/api/0/projects/errata/default/issues/"), "api");
        assert_eq!(endpoint_label("/api/tunnel/"), "tunnel");
        assert_eq!(endpoint_label("/prefix/api/42/envelope/"), "envelope");
        assert_eq!(endpoint_label("/health/"), "health");
        assert_eq!(endpoint_label("/wp-admin/x.php"), "other");
    }
}
