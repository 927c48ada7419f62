//! Bearer-token authentication and scopes for the web API.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::errors::ApiError;
use crate::store::{ApiToken, admin, now_us};

/// Errata's token levels and the Sentry scopes each grants.
pub fn sentry_scopes(levels: &[String]) -> Vec<&'static str> {
    let mut scopes = vec!["org:read", "project:read", "event:read", "team:read", "member:read"];
    let has = |l: &str| levels.iter().any(|x| x == l);
    if has("write") || has("admin") {
        scopes.extend(["project:write", "event:write"]);
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

    /// Fails with 403 unless the token grants `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes().contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// Reads `Authorization: Bearer <token>`; `Ok(None)` when absent.
pub async fn caller_from_parts(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::InvalidToken),
    };
    if token.is_empty() {
        return Err(ApiError::InvalidToken);
    }
    // Only the hash is looked up: an index equality on a digest leaks nothing about the token.
    let hash = admin::token_hash(token);
    let found = state.store.read(move |c| admin::token_by_hash(c, &hash)).await?;
    let token = found.ok_or(ApiError::InvalidToken)?;
    // Record use at most once a minute, off the request path.
    if token.last_used.is_none_or(|t| now_us() - t > 60_000_000) {
        let id = token.id;
        let writer = state.store.writer.clone();
        tokio::spawn(async move {
            let _ = writer.exec(move |tx| admin::touch_token(tx, id)).await;
        });
    }
    Ok(Some(Caller { token }))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        caller_from_parts(parts, state).await?.ok_or(ApiError::Unauthenticated)
    }
}

/// For endpoints that also answer without a token (`GET /api/0/`).
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(caller_from_parts(parts, state).await?))
    }
}
