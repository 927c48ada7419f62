//! State-changing forms: `Form<T>` reads a bounded `application/x-www-form-urlencoded` body
//! and refuses it (403) unless its `csrf` field is the session's token. A page posts back
//! only what it rendered; another site's form cannot know the token.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::WebError;
use super::session::viewer_of;

/// The largest form body accepted: pages post a few short fields.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The name of the hidden field every form carries.
pub const FIELD: &str = "csrf";

/// A posted form whose CSRF token matched the session's; the rest of its fields in `T`
/// (which ignores the `csrf` field, as serde ignores unknown fields).
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let viewer = viewer_of(req);
        let is_form = is_urlencoded(req);
        let body = read_bounded(payload.take(), MAX_FORM_BYTES);
        Box::pin(async move {
            if !is_form {
                return Err(WebError::BadRequest(
                    "expected a form (application/x-www-form-urlencoded)".into(),
                ));
            }
            let body = body.await?;
            let Some(viewer) = viewer.await? else {
                return Err(WebError::BadCsrf);
            };
            if !token_matches(&body, &viewer.csrf) {
                return Err(WebError::BadCsrf);
            }
            serde_urlencoded::from_bytes::<T>(&body)
                .map(Form)
                .map_err(|e| WebError::BadRequest(format!("invalid form: {e}")))
        })
    }
}

/// Whether the form body's `csrf` field equals `expected`, compared in constant time.
pub fn token_matches(body: &[u8], expected: &str) -> bool {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return false;
    };
    let mut found = pairs.iter().filter(|(k, _)| k == FIELD);
    match (found.next(), found.next()) {
        (Some((_, given)), None) => !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    }
}

pub(crate) fn is_urlencoded(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The whole body, or 400 once it passes `limit` bytes (the rest is not read).
pub(crate) async fn read_bounded(mut payload: Payload, limit: usize) -> Result<Vec<u8>, WebError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| WebError::BadRequest("could not read the form".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(WebError::BadRequest(format!("form larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_single_token_matches() {
        assert!(token_matches(b"csrf=abc&x=1", "abc"));
        assert!(!token_matches(b"csrf=abd&x=1", "abc"));
        assert!(!token_matches(b"x=1", "abc"));
        assert!(!token_matches(b"csrf=abc&csrf=abc", "abc"));
        assert!(!token_matches(b"csrf=", ""));
    }
}
