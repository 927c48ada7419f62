//! A `multipart/form-data` body, read whole (the request is bounded before it gets here):
//! the parts with their field name, file name and bytes. Only what sentry-cli's chunk
//! uploads need; anything malformed is refused.

use super::UploadError;

/// One part of the body.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub data: &'a [u8],
}

/// Most bytes of one part's headers.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, UploadError> {
    let mut params = content_type.split(';');
    let mime = params.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(UploadError::Multipart("expected multipart/form-data"));
    }
    for param in params {
        if let Some((key, value)) = param.split_once('=')
            && key.trim().eq_ignore_ascii_case("boundary")
        {
            let value = value.trim().trim_matches('"');
            if value.is_empty() || value.len() > 70 {
                return Err(UploadError::Multipart("bad boundary"));
            }
            return Ok(value.to_string());
        }
    }
    Err(UploadError::Multipart("no boundary"))
}

/// The parts of `body`, at most `max_parts`.
pub fn parse<'a>(boundary: &str, body: &'a [u8], max_parts: usize) -> Result<Vec<Part<'a>>, UploadError> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let start = memchr::memmem::find(body, delimiter.as_bytes()).ok_or(UploadError::Multipart("no parts"))?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(UploadError::Multipart("missing line break after a boundary"))?;
        if parts.len() == max_parts {
            return Err(UploadError::Multipart("too many parts"));
        }
        let header_end = memchr::memmem::find(&rest[..rest.len().min(MAX_HEADER_BYTES)], b"\r\n\r\n")
            .ok_or(UploadError::Multipart("part headers not terminated"))?;
        let headers = std::str::from_utf8(&rest[..header_end])
            .map_err(|_| UploadError::Multipart("part headers are not UTF-8"))?;
        let (name, filename) = disposition(headers)?;
        rest = &rest[header_end + 4..];
        let end = memchr::memmem::find(rest, next_delimiter.as_bytes())
            .ok_or(UploadError::Multipart("part not terminated"))?;
        parts.push(Part {
            name,
            filename,
            data: &rest[..end],
        });
        rest = &rest[end + next_delimiter.len()..];
    }
}

/// The field name and file name of a part's `Content-Disposition: form-data` header.
fn disposition(headers: &str) -> Result<(String, Option<String>), UploadError> {
    for line in headers.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut name = None;
        let mut filename = None;
        for param in value.split(';').skip(1) {
            if let Some((k, v)) = param.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        }
        return Ok((name.ok_or(UploadError::Multipart("a part has no name"))?, filename));
    }
    Err(UploadError::Multipart("a part has no Content-Disposition"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(parts: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, data) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    #[test]
    fn parts_come_back_with_their_names_and_bytes() {
        let body = body(&[("file", "abc", b"one\r\ntwo"), ("file_gzip", "def", b"")]);
        let parts = parse("XyZ", &body, 10).expect("parses");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "file");
        assert_eq!(parts[0].filename.as_deref(), Some("abc"));
        assert_eq!(parts[0].data, b"one\r\ntwo");
        assert_eq!(parts[1].data, b"");
        assert_eq!(parse("XyZ", &body, 1), Err(UploadError::Multipart("too many parts")));
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=------abc").as_deref(),
            Ok("------abc")
        );
        assert_eq!(boundary("Multipart/Form-Data; boundary=\"q\"").as_deref(), Ok("q"));
        assert!(boundary("application/json").is_err());
        assert!(boundary("multipart/form-data").is_err());
    }

    #[test]
    fn truncated_bodies_are_refused() {
        let full = body(&[("file", "abc", b"data")]);
        for cut in 0..full.len() - 9 {
            assert!(parse("XyZ", &full[..cut], 10).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn any_body_parses_or_is_refused_without_panicking(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse("XyZ", &data, 8);
        }

        #[test]
        fn any_part_content_round_trips(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            // The delimiter itself cannot occur inside a part (the sender picks the boundary so).
            prop_assume!(memchr::memmem::find(&data, b"\r\n--XyZ").is_none());
            let body = body(&[("file", "n", &data)]);
            let parts = parse("XyZ", &body, 8).expect("parses");
            prop_assert_eq!(parts[0].data, &data[..]);
        }
    }
}
