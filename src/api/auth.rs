//! Bearer-token authentication and scopes for the web API.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::errors::ApiError;
use crate::http::{HeaderMap, app_state, header};
use crate::state::AppState;
use subtle::ConstantTimeEq;

use crate::store::{ApiToken, Organization, Project, now_us, token_hash};

/// Errata's token levels and the Sentry scopes each grants.
pub fn sentry_scopes(levels: &[String]) -> Vec<&'static str> {
    let mut scopes = vec!["org:read", "project:read", "event:read", "team:read", "member:read"];
    let has = |l: &str| levels.iter().any(|x| x == l);
    if has("write") || has("admin") {
        scopes.extend(["project:write", "project:releases", "event:write"]);
    }
    if has("admin") {
        scopes.extend(["event:admin", "project:admin", "org:admin"]);
    }
    scopes
}

/// A level a token may be created with.
pub fn valid_level(level: &str) -> bool {
    matches!(level, "read" | "write" | "admin")
}

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: ApiToken,
}

impl Caller {
    pub fn scopes(&self) -> Vec<&'static str> {
        sentry_scopes(&self.token.scopes)
    }

    /// Organization tokens (`sntrys_`) act for the organization, not a user.
    pub fn is_org_token(&self) -> bool {
        self.token.scopes.iter().any(|s| s == crate::store::ORG_TOKEN_MARKER)
    }

    /// Fails with 403 unless the token grants `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes().contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Whether the token acts in this organization: its own, or any for an instance-wide token.
    pub fn sees_org(&self, org: &Organization) -> bool {
        self.token.organization_id.is_none_or(|id| id == org.id)
    }

    /// Whether the token sees this project: in its organization and, for a project-bound
    /// token, one of its projects. Everything else answers 404, as if it did not exist.
    pub fn sees_project(&self, project: &Project) -> bool {
        self.token
            .organization_id
            .is_none_or(|id| id == project.organization_id)
            && self.token.projects.as_ref().is_none_or(|ids| ids.contains(&project.id))
    }

    /// Whether the token is limited to some projects of its organization.
    pub fn is_project_bound(&self) -> bool {
        self.token.projects.is_some()
    }
}

/// The organization slug an organization token (`sntrys_<base64 JSON claims>_<secret>`)
/// names. The claims are covered by the token's hash, so they are as trusted as the token.
fn org_claim(token: &str) -> Option<String> {
    use base64::Engine;
    let rest = token.strip_prefix("sntrys_")?;
    let (claims, _) = rest.split_once('_')?;
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine
        .decode(claims)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(claims.trim_end_matches('=')))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("org")?.as_str().map(String::from)
}

/// Reads `Authorization: Bearer <token>`; `Ok(None)` when absent.
pub async fn caller_from_headers(headers: &HeaderMap, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?;
    let presented = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::InvalidToken),
    };
    if presented.is_empty() {
        return Err(ApiError::InvalidToken);
    }
    // Only the SHA-256 of the token is looked up, so the index walk's timing says nothing
    // usable about the token; the stored hash is then compared in constant time.
    let hash = token_hash(presented);
    let found = state.store.token_by_hash(&hash).await?;
    let (mut token, stored) = found.ok_or(ApiError::InvalidToken)?;
    if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(ApiError::InvalidToken);
    }
    // An organization token made before tokens stored their organization is bound by its
    // claim; one whose organization is gone acts for nobody.
    if token.organization_id.is_none()
        && let Some(slug) = org_claim(presented)
    {
        let org = state.store.organization(&slug).await;
        token.organization_id = Some(org.map_err(|_| ApiError::InvalidToken)?.id);
    }
    // Record use at most once a minute; the write is awaited so `token list` is exact.
    if token.last_used.is_none_or(|t| now_us() - t > 60_000_000)
        && let Err(e) = state.store.touch_token(token.id).await
    {
        tracing::warn!(error = %e, "could not record token use");
    }
    Ok(Some(Caller { token }))
}

/// The caller of a request, from its headers and the app's state.
fn caller_of(req: &HttpRequest) -> LocalBoxFuture<'static, Result<Option<Caller>, ApiError>> {
    let state = app_state(req);
    let headers = req.headers().clone();
    Box::pin(async move { caller_from_headers(&headers, &state?).await })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = caller_of(req);
        Box::pin(async move { caller.await?.ok_or(ApiError::Unauthenticated) })
    }
}

/// For endpoints that also answer without a token (`GET /api/0/`).
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = caller_of(req);
        Box::pin(async move { Ok(MaybeCaller(caller.await?)) })
    }
}
