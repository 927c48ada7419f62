//! Sentry's cursor pagination: `cursor=<value>:<offset>:<is_prev>` and a `Link`
//! header with both `previous` and `next`, each saying whether that page exists.

use axum::http::{HeaderValue, Uri};

use crate::errors::ApiError;

/// A parsed cursor; this server pages by offset (`0:<offset>:<is_prev>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub offset: usize,
}

impl Cursor {
    /// Parses the `cursor` query parameter; absent or empty is the first page.
    pub fn parse(raw: Option<&str>) -> Result<Cursor, ApiError> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Cursor::default());
        };
        let invalid = || ApiError::BadRequest("Invalid cursor parameter.".into());
        let mut parts = raw.split(':');
        let _value: f64 = parts.next().and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
        let offset: usize = parts.next().and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
        let is_prev: u8 = parts.next().and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
        if parts.next().is_some() || is_prev > 1 || offset > 1_000_000 {
            return Err(invalid());
        }
        Ok(Cursor { offset })
    }
}

/// Page size from `per_page`/`limit`: default 100, clamped to 1..=100.
pub fn page_size(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(100),
        Some(r) => r
            .parse::<i64>()
            .map(|n| n.clamp(1, 100) as usize)
            .map_err(|_| ApiError::BadRequest(format!("Invalid per_page/limit parameter {r:?}."))),
    }
}

/// The `Link` header for a page at `offset` of `limit` items, `has_next` if more follow.
pub fn link_header(base_url: &str, uri: &Uri, offset: usize, limit: usize, has_next: bool) -> HeaderValue {
    let mut path = uri.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    let query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let url = format!("{base_url}{path}?{}", query.join("&"));
    let prev_offset = offset.saturating_sub(limit);
    let prev = format!("0:{prev_offset}:1");
    let next = format!("0:{}:0", offset + limit);
    let link = format!(
        "<{url}&cursor={prev}>; rel=\"previous\"; results=\"{}\"; cursor=\"{prev}\", \
         <{url}&cursor={next}>; rel=\"next\"; results=\"{has_next}\"; cursor=\"{next}\"",
        offset > 0
    );
    HeaderValue::from_str(&link).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parses_sentry_offsets_and_rejects_garbage() {
        assert_eq!(Cursor::parse(Some("0:100:0")).unwrap().offset, 100);
        assert_eq!(Cursor::parse(None).unwrap().offset, 0);
        assert_eq!(Cursor::parse(Some("")).unwrap().offset, 0);
        assert!(Cursor::parse(Some("garbage")).is_err());
        assert!(Cursor::parse(Some("0:1:2")).is_err());
    }

    #[test]
    fn limit_is_clamped_not_rejected() {
        assert_eq!(page_size(Some("10000")).unwrap(), 100);
        assert_eq!(page_size(Some("5")).unwrap(), 5);
        assert!(page_size(Some("x")).is_err());
    }

    #[test]
    fn link_header_has_previous_then_next() {
        let uri: Uri = "/api/0/projects/a/b/issues/?query=&cursor=0:100:0".parse().unwrap();
        let link = link_header("http://h", &uri, 100, 100, false);
        let link = link.to_str().unwrap();
        assert!(link.starts_with(
            "<http://h/api/0/projects/a/b/issues/?query=&cursor=0:0:1>; rel=\"previous\"; results=\"true\""
        ));
        assert!(link.ends_with("rel=\"next\"; results=\"false\"; cursor=\"0:200:0\""));
    }
}
