//! Request body decoding: Content-Encoding (gzip, deflate, br, zstd) into a capped
//! buffer, so a compression bomb costs at most `limit` bytes.
//!
//! Also the legacy `store/` body forms of old clients: JSON, base64 of JSON, or
//! base64 of zlib-compressed JSON.

use std::borrow::Cow;
use std::io::{self, Read};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

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
    ///
    /// Matching ignores ASCII case and surrounding whitespace. `UTF-8` is what old Android
    /// clients put there, and sentry-ruby sends the header empty for small bodies.
    pub fn parse(header: Option<&str>) -> Result<Self, DecodeError> {
        let value = header.map(str::trim).unwrap_or("");
        let is = |name: &str| value.eq_ignore_ascii_case(name);
        if value.is_empty() || is("identity") || is("utf-8") {
            Ok(Self::Identity)
        } else if is("gzip") || is("x-gzip") {
            Ok(Self::Gzip)
        } else if is("deflate") {
            Ok(Self::Deflate)
        } else if is("br") {
            Ok(Self::Brotli)
        } else if is("zstd") {
            Ok(Self::Zstd)
        } else {
            Err(DecodeError::Unsupported(value.to_owned()))
        }
    }

    /// The header token this encoding is sent as.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// Decodes `body` with `encoding`, failing with `TooLarge` as soon as the output passes `limit`.
///
/// Identity bodies are returned borrowed. Compressed bodies are inflated into a buffer that
/// never grows past `limit + 1` bytes, however far the input would expand.
pub fn decode(encoding: ContentEncoding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    let decoded = match encoding {
        ContentEncoding::Identity => {
            if body.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            return Ok(Cow::Borrowed(body));
        }
        ContentEncoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(body), limit)?,
        ContentEncoding::Deflate => inflate(body, limit)?,
        ContentEncoding::Brotli => read_capped(brotli::Decompressor::new(body, 8 * 1024), limit)?,
        ContentEncoding::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
            read_capped(decoder, limit)?
        }
    };
    Ok(Cow::Owned(decoded))
}

/// The first `n` bytes `body` decodes to (fewer if it is shorter): enough to read an
/// envelope's header without inflating the rest.
pub fn decode_prefix(encoding: ContentEncoding, body: &[u8], n: usize) -> Result<Vec<u8>, DecodeError> {
    fn take(reader: impl std::io::Read, n: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut reader.take(n as u64), &mut out)
            .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        Ok(out)
    }
    match encoding {
        ContentEncoding::Identity => Ok(body[..n.min(body.len())].to_vec()),
        ContentEncoding::Gzip => take(flate2::read::MultiGzDecoder::new(body), n),
        ContentEncoding::Deflate if has_zlib_header(body) => {
            take(flate2::read::ZlibDecoder::new(body), n).or_else(|_| take(flate2::read::DeflateDecoder::new(body), n))
        }
        ContentEncoding::Deflate => take(flate2::read::DeflateDecoder::new(body), n),
        ContentEncoding::Brotli => take(brotli::Decompressor::new(body, 8 * 1024), n),
        ContentEncoding::Zstd => take(
            zstd::stream::read::Decoder::with_buffer(body).map_err(|e| DecodeError::Corrupt(e.to_string()))?,
            n,
        ),
    }
}

/// Legacy `store/` bodies: JSON, or base64 of JSON, or base64 of zlib-compressed JSON.
///
/// A body whose first non-blank byte is `{` is returned as it is. Otherwise it is read as
/// standard base64 (whitespace and missing padding tolerated, the URL-safe alphabet too); if
/// that is not JSON either, it is inflated (zlib or raw deflate) into a buffer capped at `limit`.
pub fn decode_legacy_store(body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    if starts_with_brace(body) {
        if body.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        return Ok(Cow::Borrowed(body));
    }
    let decoded = decode_base64(body)?;
    if starts_with_brace(&decoded) {
        if decoded.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        return Ok(Cow::Owned(decoded));
    }
    Ok(Cow::Owned(inflate(&decoded, limit)?))
}

/// Inflates zlib-wrapped deflate (RFC 1950) or, when no zlib header is present, raw deflate
/// (RFC 1951) as some clients send for `deflate`.
fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    if has_zlib_header(body) {
        match read_capped(flate2::read::ZlibDecoder::new(body), limit) {
            // A raw deflate stream can start with bytes that look like a zlib header by chance.
            Err(DecodeError::Corrupt(_)) => {}
            other => return other,
        }
    }
    read_capped(flate2::read::DeflateDecoder::new(body), limit)
}

/// RFC 1950 §2.2: compression method 8, window ≤ 32 KiB, and the header check bits.
fn has_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Reads `reader` to its end into a buffer holding at most `limit` bytes.
///
/// The buffer grows in steps but is never reserved beyond `limit + 1`, so memory stays bounded
/// by the limit rather than by what the input claims or expands to.
fn read_capped(mut reader: impl Read, limit: usize) -> Result<Vec<u8>, DecodeError> {
    const CHUNK: usize = 16 * 1024;
    let cap = limit.saturating_add(1);
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            // Double like Vec would, but never past the cap.
            let target = (out.capacity() * 2).max(CHUNK).min(cap);
            out.reserve_exact(target - out.len());
        }
        // Read straight into the buffer's spare room: no scratch buffer to clear and copy per request.
        let start = out.len();
        out.resize(out.capacity().min(cap), 0);
        let read = reader.read(&mut out[start..]);
        out.truncate(start + read.as_ref().map_or(0, |n| *n));
        match read {
            Ok(0) => return Ok(out),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecodeError::Corrupt(e.to_string())),
        }
        if out.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
    }
}

fn starts_with_brace(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Standard base64 with whitespace removed; padding optional; `-`/`_` read as `+`/`/`.
fn decode_base64(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let cleaned: Vec<u8> = body
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|&b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    LENIENT
        .decode(&cleaned)
        .map_err(|e| DecodeError::Corrupt(format!("invalid base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const WIRE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire");

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 4, 22);
            w.write_all(data).unwrap();
        }
        out
    }
    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }
    fn b64(data: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.encode(data).into_bytes()
    }

    #[test]
    fn content_encoding_header_values_map_to_encodings() {
        let cases: &[(Option<&str>, ContentEncoding)] = &[
            (None, ContentEncoding::Identity),
            (Some(""), ContentEncoding::Identity),
            (Some("  "), ContentEncoding::Identity),
            (Some("identity"), ContentEncoding::Identity),
            (Some("UTF-8"), ContentEncoding::Identity),
            (Some("utf-8"), ContentEncoding::Identity),
            (Some("gzip"), ContentEncoding::Gzip),
            (Some("x-gzip"), ContentEncoding::Gzip),
            (Some("GZIP"), ContentEncoding::Gzip),
            (Some(" gzip "), ContentEncoding::Gzip),
            (Some("deflate"), ContentEncoding::Deflate),
            (Some("br"), ContentEncoding::Brotli),
            (Some("zstd"), ContentEncoding::Zstd),
        ];
        for (header, expected) in cases {
            assert_eq!(ContentEncoding::parse(*header).unwrap(), *expected, "{header:?}");
        }
    }

    #[test]
    fn unknown_content_encoding_is_unsupported_and_named() {
        for header in ["compress", "gzip, br", "lz4", "utf-16"] {
            let err = ContentEncoding::parse(Some(header)).unwrap_err();
            assert!(matches!(&err, DecodeError::Unsupported(v) if v == header));
            assert_eq!(err.to_string(), format!("unsupported content encoding: {header}"));
        }
    }

    #[test]
    fn every_encoding_round_trips_to_the_same_bytes() {
        let data = b"{\"event_id\":\"7a1c2d6f0b9e4e21a3f4b5c6d7e8f901\"}\n{\"type\":\"event\"}\n{}".repeat(50);
        let cases: Vec<(ContentEncoding, Vec<u8>)> = vec![
            (ContentEncoding::Identity, data.clone()),
            (ContentEncoding::Gzip, gzip(&data)),
            (ContentEncoding::Deflate, zlib(&data)),
            (ContentEncoding::Deflate, raw_deflate(&data)),
            (ContentEncoding::Brotli, brotli(&data)),
            (ContentEncoding::Zstd, zstd(&data)),
        ];
        for (encoding, wire) in cases {
            let out = decode(encoding, &wire, 1 << 20).unwrap();
            assert_eq!(out.as_ref(), data.as_slice(), "{encoding:?}");
        }
    }

    #[test]
    fn identity_is_borrowed_without_copy() {
        let body = b"{}";
        assert!(matches!(
            decode(ContentEncoding::Identity, body, 10).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn output_exactly_at_limit_is_accepted_and_one_more_byte_is_too_large() {
        let data = vec![b'a'; 1000];
        for (encoding, wire) in [
            (ContentEncoding::Identity, data.clone()),
            (ContentEncoding::Gzip, gzip(&data)),
            (ContentEncoding::Deflate, zlib(&data)),
            (ContentEncoding::Brotli, brotli(&data)),
            (ContentEncoding::Zstd, zstd(&data)),
        ] {
            assert_eq!(decode(encoding, &wire, 1000).unwrap().len(), 1000);
            let err = decode(encoding, &wire, 999).unwrap_err();
            assert!(matches!(err, DecodeError::TooLarge { limit: 999 }), "{encoding:?}");
        }
    }

    #[test]
    fn corrupt_or_truncated_streams_are_corrupt() {
        let data = b"{\"hello\":\"world\"}".repeat(100);
        let truncated = |v: Vec<u8>| v[..v.len() / 2].to_vec();
        let cases: Vec<(ContentEncoding, Vec<u8>)> = vec![
            (ContentEncoding::Gzip, b"not gzip at all".to_vec()),
            (ContentEncoding::Gzip, truncated(gzip(&data))),
            (ContentEncoding::Gzip, Vec::new()),
            (ContentEncoding::Deflate, vec![0xff; 40]),
            (ContentEncoding::Deflate, truncated(zlib(&data))),
            (ContentEncoding::Brotli, truncated(brotli(&data))),
            (ContentEncoding::Brotli, vec![0xff; 40]),
            (ContentEncoding::Zstd, b"not zstd".to_vec()),
            (ContentEncoding::Zstd, truncated(zstd(&data))),
        ];
        for (i, (encoding, wire)) in cases.into_iter().enumerate() {
            let err = decode(encoding, &wire, 1 << 20).unwrap_err();
            assert!(matches!(err, DecodeError::Corrupt(_)), "case {i} {encoding:?}: {err:?}");
            assert!(err.to_string().starts_with("failed to decode request body"));
        }
    }

    #[test]
    fn corrupt_gzip_checksum_is_corrupt() {
        let mut wire = gzip(b"{\"a\":1}");
        let n = wire.len();
        wire[n - 5] ^= 0xff; // CRC32 trailer
        assert!(matches!(
            decode(ContentEncoding::Gzip, &wire, 1024),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn concatenated_gzip_members_decode_to_both() {
        let mut wire = gzip(b"{\"a\":");
        wire.extend(gzip(b"1}"));
        assert_eq!(
            decode(ContentEncoding::Gzip, &wire, 1024).unwrap().as_ref(),
            b"{\"a\":1}"
        );
    }

    #[test]
    fn zlib_header_detection_follows_rfc1950() {
        assert!(has_zlib_header(&[0x78, 0x9c]));
        assert!(has_zlib_header(&[0x78, 0x01]));
        assert!(has_zlib_header(&[0x78, 0xda]));
        assert!(!has_zlib_header(&[0x78, 0x00]));
        assert!(!has_zlib_header(&[0x78]));
        assert!(!has_zlib_header(b"{}"));
    }

    /// A gzip bomb (1 GiB of zeros, about 1 MiB on the wire) is stopped at the limit: the
    /// output buffer never holds more than `limit + 1` bytes. The bomb is 1024 concatenated
    /// members of 1 MiB of zeros each, which decoders must read as one stream and which keeps
    /// the test fast.
    #[test]
    fn gzip_bomb_is_too_large_with_bounded_memory() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 64 * 1024];
        for _ in 0..16 {
            encoder.write_all(&zeros).unwrap();
        }
        let member = encoder.finish().unwrap();
        let bomb = member.repeat(1024);
        assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());

        let limit = 4 << 20;
        let started = std::time::Instant::now();
        let err = decode(ContentEncoding::Gzip, &bomb, limit).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { limit: l } if l == limit));
        // Stopping at the limit means only a few MiB were inflated, not the whole GiB.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        let capped = read_capped(&vec![0u8; limit][..], limit).unwrap();
        assert!(capped.capacity() <= limit + 1);
    }

    /// The same for a single zstd frame of 256 MiB of zeros, made with a streaming encoder.
    #[test]
    fn zstd_bomb_is_too_large() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
        assert!(matches!(
            decode(ContentEncoding::Zstd, &bomb, 1 << 20),
            Err(DecodeError::TooLarge { limit }) if limit == 1 << 20
        ));
    }

    #[test]
    fn capped_reader_never_reserves_past_the_cap() {
        for limit in [0usize, 1, 100, 65_536, 65_537, 300_000] {
            let data = vec![7u8; limit];
            let out = read_capped(&data[..], limit).unwrap();
            assert_eq!(out.len(), limit);
            assert!(out.capacity() <= limit + 1, "limit {limit}");
        }
    }

    #[test]
    fn wire_captures_decode_to_their_published_bodies() {
        let mut checked = 0;
        for client in std::fs::read_dir(WIRE).unwrap() {
            let client = client.unwrap().path();
            if !client.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&client).unwrap() {
                let path = file.unwrap().path();
                if path.extension().and_then(|e| e.to_str()) != Some("wire") {
                    continue;
                }
                let headers: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(path.with_extension("headers.json")).unwrap()).unwrap();
                let encoding = headers["content_encoding"].as_str();
                let encoding = ContentEncoding::parse(encoding).unwrap();
                assert_ne!(encoding, ContentEncoding::Identity, "{path:?}");
                let wire = std::fs::read(&path).unwrap();
                let body = std::fs::read(path.with_extension("body")).unwrap();
                let decoded = decode(encoding, &wire, 200 << 20).unwrap();
                assert_eq!(decoded.as_ref(), body.as_slice(), "{path:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 31, "python 15 (br) + python-gzip 15 + node/013 (gzip)");
    }

    #[test]
    fn legacy_store_body_forms_decode_to_json() {
        let json = br#"{"message":"Disk full","level":40}"#.to_vec();
        let mut wrapped = b64(&json);
        wrapped.insert(10, b'\n');
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("plain json", json.clone()),
            ("json with leading blanks", [b"\r\n  ".as_slice(), &json].concat()),
            ("base64 json", b64(&json)),
            ("base64 with line breaks", wrapped),
            ("base64 zlib json", b64(&zlib(&json))),
            ("base64 raw deflate json", b64(&raw_deflate(&json))),
            (
                "base64 without padding",
                b64(&json).into_iter().filter(|&b| b != b'=').collect(),
            ),
        ];
        for (name, body) in cases {
            let out = decode_legacy_store(&body, 1024).unwrap();
            let trimmed: Vec<u8> = out.iter().copied().skip_while(u8::is_ascii_whitespace).collect();
            assert_eq!(trimmed, json, "{name}");
        }
    }

    #[test]
    fn legacy_store_plain_json_is_borrowed() {
        assert!(matches!(decode_legacy_store(b"{}", 10).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn legacy_store_rejects_garbage_and_oversize() {
        assert!(matches!(
            decode_legacy_store(b"!!!not base64!!!", 1024),
            Err(DecodeError::Corrupt(_))
        ));
        // Valid base64 that is neither JSON nor deflate.
        assert!(matches!(
            decode_legacy_store(&b64(&[0xffu8; 32]), 1024),
            Err(DecodeError::Corrupt(_))
        ));
        let big = vec![b'a'; 5000];
        let json = [b"{\"m\":\"".as_slice(), &big, b"\"}"].concat();
        for body in [json.clone(), b64(&json), b64(&zlib(&json))] {
            assert!(matches!(
                decode_legacy_store(&body, 1000),
                Err(DecodeError::TooLarge { limit: 1000 })
            ));
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decode_never_panics_on_arbitrary_bytes(
                body in proptest::collection::vec(any::<u8>(), 0..512),
                which in 0usize..5,
                limit in 0usize..4096,
            ) {
                let encoding = [
                    ContentEncoding::Identity,
                    ContentEncoding::Gzip,
                    ContentEncoding::Deflate,
                    ContentEncoding::Brotli,
                    ContentEncoding::Zstd,
                ][which];
                if let Ok(out) = decode(encoding, &body, limit) {
                    prop_assert!(out.len() <= limit);
                }
                if let Ok(out) = decode_legacy_store(&body, limit) {
                    prop_assert!(out.len() <= limit);
                }
            }

            #[test]
            fn parse_never_panics_on_arbitrary_headers(header in ".{0,40}") {
                let _ = ContentEncoding::parse(Some(&header));
            }

            #[test]
            fn gzip_round_trips_arbitrary_bytes(
                data in proptest::collection::vec(any::<u8>(), 0..2048),
            ) {
                let wire = gzip(&data);
                let out = decode(ContentEncoding::Gzip, &wire, data.len()).unwrap();
                prop_assert_eq!(out.as_ref(), data.as_slice());
            }
        }
    }
}
