//! Parsed source maps and the minified files that point at them. Parsing is bounded
//! (`MAX_MAP_SIZE`) and done once per map; a parsed map is shared by every event that
//! needs it (the ingest cache keeps them).

use std::sync::Arc;

use ::sourcemap::{DecodedMap, SourceView};

use super::paths;

/// The largest source map (or minified file) read, in bytes.
pub const MAX_MAP_SIZE: usize = 32 << 20;

/// Why a map could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("source map larger than {MAX_MAP_SIZE} bytes")]
    TooLarge,
    #[error("invalid source map: {0}")]
    Invalid(String),
}

/// A parsed map, with where it was found (its URL when found by one; sources resolve
/// against it) and roughly how much memory it holds.
#[derive(Debug)]
pub struct ParsedMap {
    pub map: DecodedMap,
    /// The map's URL or release-file name, when it was found by one.
    pub url: Option<String>,
    /// The minified file's text, when it was at hand: it lets the map name the
    /// enclosing function of a frame (`get_original_function_name`).
    pub minified: Option<SourceView>,
    /// Approximate bytes held, for the cache's budget.
    pub weight: usize,
}

/// Parses a map (regular, index or Hermes), refusing more than `MAX_MAP_SIZE` bytes.
pub fn parse_map(bytes: &[u8], url: Option<String>, minified: Option<&[u8]>) -> Result<ParsedMap, MapError> {
    if bytes.len() > MAX_MAP_SIZE {
        return Err(MapError::TooLarge);
    }
    let map = ::sourcemap::decode_slice(bytes).map_err(|e| MapError::Invalid(e.to_string()))?;
    if let DecodedMap::Index(index) = &map {
        // An index whose sections point at other files (instead of embedding maps) cannot
        // be used without fetching them, which Errata never does.
        if index.sections().any(|s| s.get_sourcemap().is_none()) {
            return Err(MapError::Invalid("index map sections without embedded maps".into()));
        }
    }
    let minified = minified
        .filter(|m| m.len() <= MAX_MAP_SIZE)
        .and_then(|m| std::str::from_utf8(m).ok())
        .map(|text| SourceView::from_string(text.to_string()));
    let weight = bytes.len() * 3 + minified.as_ref().map_or(0, |m| m.source().len() * 2) + 256;
    Ok(ParsedMap {
        map,
        url,
        minified,
        weight,
    })
}

/// Where a minified file says its map is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapReference {
    /// A URL (or release-file name), resolved against the minified file's own.
    Url(String),
    /// A map inlined as a `data:` URL.
    Embedded(Arc<[u8]>),
}

/// The map a minified file points at: its `Sourcemap`/`X-SourceMap` header (as uploaded,
/// `header`) first, else its `//# sourceMappingURL=` comment; relative references resolve
/// against `minified_url`.
pub fn map_reference(minified: &[u8], header: Option<&str>, minified_url: &str) -> Option<MapReference> {
    let reference = match header.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => {
            let found = ::sourcemap::locate_sourcemap_reference_slice(minified).ok()??;
            found.get_url().trim().to_string()
        }
    };
    if let Some(data) = reference.strip_prefix("data:") {
        return embedded_map(data).map(MapReference::Embedded);
    }
    (!reference.is_empty()).then(|| MapReference::Url(paths::join(minified_url, &reference)))
}

/// The bytes of a `data:application/json;base64,…` (or unencoded) map.
fn embedded_map(data: &str) -> Option<Arc<[u8]>> {
    use base64::Engine;
    let (meta, payload) = data.split_once(',')?;
    if payload.len() > MAX_MAP_SIZE * 4 / 3 + 4 {
        return None;
    }
    if meta.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .ok()
            .map(Arc::from)
    } else {
        Some(Arc::from(payload.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_or_the_header_names_the_map() {
        let js = b"function a(){}\n//# sourceMappingURL=app.min.js.map\n";
        assert_eq!(
            map_reference(js, None, "https://h/static/app.min.js"),
            Some(MapReference::Url("https://h/static/app.min.js.map".into()))
        );
        assert_eq!(
            map_reference(js, Some("/maps/app.map"), "~/static/app.min.js"),
            Some(MapReference::Url("~/maps/app.map".into()))
        );
        assert_eq!(map_reference(b"function a(){}", None, "https://h/a.js"), None);
    }

    #[test]
    fn inline_maps_are_decoded() {
        let js = b"a();\n//# sourceMappingURL=data:application/json;base64,eyJ2ZXJzaW9uIjozfQ==\n";
        assert_eq!(
            map_reference(js, None, "https://h/a.js"),
            Some(MapReference::Embedded(Arc::from(&b"{\"version\":3}"[..])))
        );
    }

    #[test]
    fn oversized_and_garbled_maps_are_refused() {
        assert_eq!(
            parse_map(&vec![b' '; MAX_MAP_SIZE + 1], None, None).err(),
            Some(MapError::TooLarge)
        );
        assert!(matches!(parse_map(b"{not json", None, None), Err(MapError::Invalid(_))));
    }
}
