//! Who is signed in: the `Viewer` of a page, found from the session cookie, and the roles
//! people have (the same levels as API tokens: admin, member = write, viewer = read).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::WebError;

/// The cookie holding the random session id (only its SHA-256 is stored).
pub const SESSION_COOKIE: &str = "errata_session";

/// A person's role in Errata, granting the same scopes as the token level beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including people, keys and scrubbing settings (token level `admin`).
    Admin,
    /// Reads and triages (token level `write`).
    Member,
    /// Reads only (token level `read`).
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Viewer];

    /// Whether the role may change issues (resolve, ignore, merge…).
    pub fn can_write(self) -> bool {
        matches!(self, Role::Admin | Role::Member)
    }

    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The API token levels (see `crate::api::auth`) a person with this role may give a
    /// personal token: never wider than the role.
    pub fn token_levels(self) -> &'static [&'static str] {
        match self {
            Role::Admin => &["read", "write", "admin"],
            Role::Member => &["read", "write"],
            Role::Viewer => &["read"],
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
