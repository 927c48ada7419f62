//! The web UI: server-rendered pages at Sentry's own URLs for people in a browser, their
//! sign-in and sessions, and the static assets compiled into the binary. Pages read through
//! the same store interface as the JSON API; the API's bearer tokens are not accepted here
//! and sessions are not accepted there.

pub mod account;
pub mod alerts;
pub mod assets;
pub mod auth;
pub mod csrf;
pub mod issues;
pub mod layout;
pub mod manage;
pub mod members;
pub mod password;
pub mod projects;
pub mod redirect;
pub mod session;
pub mod throttle;
pub mod view;

use actix_web::{HttpRequest, web};

use crate::store::StoreError;

pub use redirect::{LocalPath, login_url};

/// Every page route. Registered before the API's fallback, so `/api/…` keeps its JSON 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    auth::configure(cfg);
    account::configure(cfg);
    members::configure(cfg);
    issues::configure(cfg);
    projects::configure(cfg);
    alerts::configure(cfg);
}

/// Whether a request that matched no route is a browser's, outside the JSON API: it gets
/// the HTML 404 page.
pub fn wants_page(req: &HttpRequest) -> bool {
    let path = req.path();
    let accepts_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    accepts_html && !path.starts_with("/api/")
}

/// One option of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: &'static str, selected: bool) -> Choice {
        Choice { value, selected }
    }
}

/// A moment for people: `2026-12-02 13:05 UTC`.
pub fn when(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Why a page could not be shown. Mapped to an HTML answer in `crate::errors`.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No valid session: the browser is sent to the sign-in page, then back to `next`.
    #[error("sign-in required")]
    SignInRequired { next: String },
    #[error("You do not have permission to do this.")]
    Forbidden,
    /// The form's CSRF token is missing or not this session's.
    #[error("This form has expired or did not come from this site. Go back, reload the page and try again.")]
    BadCsrf,
    #[error("The page you asked for does not exist.")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("Too many attempts. Try again in a few minutes.")]
    TooManyAttempts,
    #[error(transparent)]
    Store(StoreError),
    #[error("internal server error")]
    Internal,
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => WebError::NotFound,
            StoreError::Conflict(m) => WebError::BadRequest(m),
            e => WebError::Store(e),
        }
    }
}
