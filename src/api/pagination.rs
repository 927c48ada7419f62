//! Sentry's cursor pagination: `cursor=<value>:<offset>:<is_prev>` and a `Link`
//! header with both `previous` and `next`, each saying whether that page exists.

use crate::http::{HeaderValue, Uri};

use crate::errors::ApiError;

/// A parsed cursor. `value` 0 pages by plain offset (`0:<offset>:<is_prev>`); otherwise it is
/// the sort value of the row the page starts from and `offset` skips rows sharing that value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub value: i64,
    pub offset: usize,
    pub is_prev: bool,
}

impl Cursor {
    /// Parses the `cursor` query parameter; absent or empty is the first page.
    pub fn parse(raw: Option<&str>) -> Result<Cursor, ApiError> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Cursor::default());
        };
        let invalid = || ApiError::BadRequest("Invalid cursor parameter.".into());
        let mut parts = raw.split(':');
        let value: i64 = parts
            .next()
            .and_then(|v| {
                v.parse::<i64>()
                    .ok()
                    .or_else(|| v.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| f as i64))
            })
            .ok_or_else(invalid)?;
        let offset: usize = parts.next().and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
        let is_prev: u8 = parts.next().and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
        if parts.next().is_some() || is_prev > 1 || offset > 1_000_000 || value < 0 {
            return Err(invalid());
        }
        Ok(Cursor {
            value,
            offset,
            is_prev: is_prev == 1,
        })
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
    let prev = format!("0:{}:1", offset.saturating_sub(limit));
    let next = format!("0:{}:0", offset + limit);
    link_header_with(base_url, uri, (&prev, offset > 0), (&next, has_next))
}

/// The `Link` header from explicit cursors: (cursor, whether that page has results).
pub fn link_header_with(base_url: &str, uri: &Uri, prev: (&str, bool), next: (&str, bool)) -> HeaderValue {
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
    let link = format!(
        "<{url}&cursor={p}>; rel=\"previous\"; results=\"{}\"; cursor=\"{p}\", \
         <{url}&cursor={n}>; rel=\"next\"; results=\"{}\"; cursor=\"{n}\"",
        prev.1,
        next.1,
        p = prev.0,
        n = next.0,
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
        let c = Cursor::parse(Some("1741082400000000:2:1")).unwrap();
        assert_eq!((c.value, c.offset, c.is_prev), (1_741_082_400_000_000, 2, true));
        assert!(Cursor::parse(Some("-5:0:0")).is_err());
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
