//! Who is signed in: the `Viewer` of a page, found from the session cookie, and the roles
//! people have (the same levels as API tokens: admin, member = write, viewer = read).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::WebError;
use crate::http::{app_state, header};
use crate::store::{now_us, token_hash};

pub use crate::store::users::Role;

/// The cookie holding the random session id (only its SHA-256 is stored).
pub const SESSION_COOKIE: &str = "errata_session";

/// The signed-in person looking at a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    /// This session's CSRF token, put in every form and checked by `csrf::Form`.
    pub csrf: String,
}

impl FromRequest for Viewer {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lookup = viewer_of(req);
        let next = local_target(req);
        Box::pin(async move { lookup.await?.ok_or(WebError::SignInRequired { next }) })
    }
}

/// The request's viewer, if its session cookie is valid; remembered in the request's
/// extensions so a handler taking both `Viewer` and `csrf::Form` looks it up once.
pub fn viewer_of(req: &HttpRequest) -> LocalBoxFuture<'static, Result<Option<Viewer>, WebError>> {
    if let Some(viewer) = req.extensions().get::<Viewer>() {
        let viewer = viewer.clone();
        return Box::pin(async move { Ok(Some(viewer)) });
    }
    let req = req.clone();
    Box::pin(async move {
        let Some(id_hash) = session_hash(&req) else {
            return Ok(None);
        };
        let state = app_state(&req).map_err(|_| WebError::Internal)?;
        let limits = state.config.session_limits();
        let Some(session) = state.store.session(&id_hash, now_us(), limits).await? else {
            return Ok(None);
        };
        let viewer = Viewer {
            user_id: session.user.id,
            email: session.user.email,
            role: session.user.role,
            csrf: session.csrf,
        };
        req.extensions_mut().insert(viewer.clone());
        Ok(Some(viewer))
    })
}

/// Longest cookie value looked at; a session id is 64 hex digits.
const MAX_SESSION_ID_LEN: usize = 128;

/// The SHA-256 of the request's session id (as the store keeps it), if it sent one.
pub fn session_hash(req: &HttpRequest) -> Option<String> {
    let id = cookie(req, SESSION_COOKIE)?;
    (!id.is_empty() && id.len() <= MAX_SESSION_ID_LEN).then(|| token_hash(&id))
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

/// 256 random bits as 64 hex digits: session ids and CSRF tokens.
pub fn new_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// How the session cookie is set: HttpOnly, SameSite=Lax, whole site, Secure when the
/// site is served over https.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
    pub max_age_secs: u64,
}

impl CookiePolicy {
    pub fn of(config: &crate::config::Config) -> CookiePolicy {
        CookiePolicy {
            secure: config.base_url().starts_with("https://"),
            max_age_secs: config.session_max_secs,
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn session(&self, id: &str) -> String {
        self.cookie(SESSION_COOKIE, id, "/", "Lax", self.max_age_secs)
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_session(&self) -> String {
        self.cookie(SESSION_COOKIE, "", "/", "Lax", 0)
    }

    /// `Set-Cookie` for the sign-in form's own CSRF token (there is no session yet).
    pub fn login_csrf(&self, token: &str) -> String {
        self.cookie(LOGIN_CSRF_COOKIE, token, "/auth/", "Strict", 3600)
    }

    pub fn clear_login_csrf(&self) -> String {
        self.cookie(LOGIN_CSRF_COOKIE, "", "/auth/", "Strict", 0)
    }

    fn cookie(&self, name: &str, value: &str, path: &str, same_site: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
    }
}

/// The cookie carrying the sign-in form's CSRF token.
pub const LOGIN_CSRF_COOKIE: &str = "errata_login_csrf";

/// Where the sign-in page sends the browser back to: this request's path and query.
fn local_target(req: &HttpRequest) -> String {
    match req.uri().query() {
        Some(q) => format!("{}?{q}", req.uri().path()),
        None => req.uri().path().to_string(),
    }
}
