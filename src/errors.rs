//! Every error that reaches a client, mapped to its HTTP status and a
//! `{"detail": …}` body in this one place.
//!
//! Policy: modules return their own `thiserror` enums; handlers convert them into
//! `IngestError` (SDK-facing) or `ApiError` (web API). A client's mistake is a 4xx
//! with a clear detail; overload and a full disk are 429/503 with `Retry-After`;
//! a 500 means a bug, and its detail never carries internals.

use actix_web::body::BoxBody;
use actix_web::{HttpRequest, Responder, ResponseError};
use serde_json::json;

use crate::event::scrub::ScrubError;
use crate::http::{HeaderName, HeaderValue, IntoResponse, Json, Response, StatusCode, header};
use crate::ingest::auth::AuthError;
use crate::ingest::decode::DecodeError;
use crate::ingest::envelope::EnvelopeError;
use crate::ingest::limits::LimitError;
use crate::settings::SettingsError;
use crate::store::StoreError;
use crate::web::WebError;

/// Seconds an SDK should wait after a 429 or 503.
const RETRY_AFTER_SECS: u64 = 60;
/// Seconds an SDK should wait when the write queue is full: the queue drains in moments.
const QUEUE_FULL_RETRY_AFTER_SECS: u64 = 1;
/// `X-Sentry-Rate-Limits` for a full queue (`retry_after:categories:scope:reason`): every
/// category, for the whole server, since the queue is shared.
const QUEUE_FULL_RATE_LIMITS: &str = "1::organization:queue_full";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("bad project path parameter")]
    BadProjectPath,
    #[error("event submission rejected with_reason: {0}")]
    Rejected(&'static str),
    #[error("DSN header mismatch between envelope and request")]
    HeaderMismatch,
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("empty request body")]
    EmptyBody,
    #[error("request body not received within {0} seconds")]
    BodyTimeout(u64),
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("invalid event id: {0:?}")]
    InvalidEventId(String),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("this ingest endpoint is not supported")]
    UnsupportedEndpoint,
    #[error("event submission rejected: rate limited")]
    RateLimited { retry_after: u64, header: String },
    #[error("could not schedule event processing: the write queue is full")]
    QueueFull,
    #[error("too many ingest requests in progress")]
    Busy,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(StoreError),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Auth(AuthError::BadPublicKey | AuthError::UnsupportedVersion(_)) => StatusCode::BAD_REQUEST,
            IngestError::Auth(_) => StatusCode::UNAUTHORIZED,
            IngestError::Rejected(_) => StatusCode::FORBIDDEN,
            IngestError::Decode(DecodeError::Unsupported(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Decode(DecodeError::TooLarge { .. })
            | IngestError::Limit(_)
            | IngestError::BodyTooLarge { .. }
            | IngestError::Envelope(EnvelopeError::TooManyItems { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            IngestError::UnsupportedEndpoint => StatusCode::NOT_FOUND,
            IngestError::RateLimited { .. } | IngestError::QueueFull | IngestError::Busy => {
                StatusCode::TOO_MANY_REQUESTS
            }
            IngestError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Store(e) => store_status(e),
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::NotFound(_) => StatusCode::NOT_FOUND,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::QueueFull => StatusCode::TOO_MANY_REQUESTS,
        StoreError::Closed | StoreError::DiskFull | StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn detail_response(status: StatusCode, detail: String) -> Response {
    let mut response = (status, Json(json!({ "detail": detail }))).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    response
}

/// The detail of a server-side failure: logged in full, shown to the client in general terms.
fn public_detail(status: StatusCode, message: String) -> String {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %message, "internal error");
        "internal server error".into()
    } else {
        message
    }
}

const X_SENTRY_RATE_LIMITS: HeaderName = HeaderName::from_static("x-sentry-rate-limits");

impl IngestError {
    /// The response an SDK gets for this error.
    pub fn response(&self) -> Response {
        let status = self.status();
        if let IngestError::RateLimited { retry_after, header } = self {
            let mut response = (status, Json(json!({ "detail": self.to_string() }))).into_response();
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            if let Ok(v) = HeaderValue::from_str(header) {
                h.insert(X_SENTRY_RATE_LIMITS, v);
            }
            return response;
        }
        if let IngestError::QueueFull = self {
            let mut response = (status, Json(json!({ "detail": self.to_string() }))).into_response();
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(QUEUE_FULL_RETRY_AFTER_SECS));
            h.insert(X_SENTRY_RATE_LIMITS, HeaderValue::from_static(QUEUE_FULL_RATE_LIMITS));
            return response;
        }
        if let IngestError::Busy = self {
            let mut response = (status, Json(json!({ "detail": self.to_string() }))).into_response();
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(QUEUE_FULL_RETRY_AFTER_SECS));
            return response;
        }
        let mut body = json!({ "detail": public_detail(status, self.to_string()) });
        if let IngestError::Envelope(e) = self {
            let causes = e.causes();
            if !causes.is_empty() {
                body["causes"] = json!(causes);
            }
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if let Ok(v) = HeaderValue::from_str(&self.to_string()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("x-sentry-error"), v);
        }
        response
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        self.response()
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> Response {
        self.response()
    }
}

/// Errors of the web API (`/api/0/`).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Authentication credentials were not provided.")]
    Unauthenticated,
    #[error("Invalid token")]
    InvalidToken,
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    #[error("The requested resource does not exist")]
    NotFound,
    #[error("{0}")]
    NotFoundDetail(String),
    #[error("{0}")]
    BadRequest(String),
    /// DRF-style validation error: `{"field": ["message"]}`.
    #[error("invalid {field}: {message}")]
    Validation { field: String, message: String },
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Scrub(#[from] ScrubError),
    #[error(transparent)]
    Store(StoreError),
    #[error("internal server error")]
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound,
            StoreError::Conflict(m) => ApiError::Conflict(m),
            e => ApiError::Store(e),
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid { field, message } => ApiError::Validation {
                field: field.into(),
                message,
            },
            SettingsError::Store(e) => e.into(),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NotFoundDetail(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::Validation { .. } | ApiError::Scrub(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Store(e) => store_status(e),
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.error_response()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> Response {
        let status = self.status();
        if let ApiError::Validation { field, message } = self {
            return (status, Json(json!({ field.clone(): [message] }))).into_response();
        }
        detail_response(status, public_detail(status, self.to_string()))
    }
}

impl Responder for ApiError {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> Response {
        self.error_response()
    }
}

/// Errors of the web pages: HTML answers in the site's layout, and a missing session a 303
/// to the sign-in page (never a JSON error: a person is reading).
impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::BadCsrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            WebError::Store(e) => store_status(e),
            WebError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.error_response()
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> Response {
        let status = self.status();
        if let WebError::SignInRequired { next } = self {
            return crate::web::layout::see_other(&crate::web::login_url(next));
        }
        if let WebError::Store(e) = self {
            tracing::error!(error = %e, "a page could not be read from the store");
        }
        let mut response = crate::web::layout::error_page(status, public_detail(status, self.to_string()));
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
