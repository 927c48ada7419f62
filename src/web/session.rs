//! Who is signed in: the `Viewer` of a page, found from the session cookie, and the roles
//! people have (the same levels as API tokens: admin, member = write, viewer = read).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::WebError;

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
        let viewer: Option<Viewer> = None;
        if let Some(v) = &viewer {
            req.extensions_mut().insert(v.clone());
        }
        Ok(viewer)
    })
}

/// Where the sign-in page sends the browser back to: this request's path and query.
fn local_target(req: &HttpRequest) -> String {
    match req.uri().query() {
        Some(q) => format!("{}?{q}", req.uri().path()),
        None => req.uri().path().to_string(),
    }
}
