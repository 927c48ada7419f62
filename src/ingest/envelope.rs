//! Envelope parsing: one JSON header line, then items, each a header line and a
//! payload (length-prefixed or newline-terminated).
//!
//! Payloads are borrowed slices of the request body: nothing is copied, and nothing but the
//! header lines is parsed here. Deliberate leniencies (spec §5): one `\r` may precede the `\n`
//! that ends a header line, and trailing ASCII whitespace after the last item is ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct EnvelopeHeader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<Value>,
    /// Sampling context (`trace_id`, `public_key`, `release`, …), kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
    /// Every other key, kept as sent (unknown keys are never an error).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ItemHeader {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u64>,
    /// Every other key (`platform`, `meta_length`, …), kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    pub header: ItemHeader,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    pub header: EnvelopeHeader,
    pub items: Vec<Item<'a>>,
}

/// Why an envelope could not be read. `Display` is the `detail` of the error response;
/// [`EnvelopeError::causes`] lists the underlying reasons for its `causes`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The first line is not a JSON object; the string is the parser's reason.
    #[error("invalid envelope header")]
    InvalidHeader(String),
    /// An item header line is not a JSON object with a string `type`; the string is the reason.
    #[error("invalid item header")]
    InvalidItemHeader(String),
    #[error("envelope item payload exceeds the remaining body")]
    UnexpectedEof,
    #[error("missing newline after item payload")]
    MissingNewline,
    #[error("too many items in envelope (limit {limit})")]
    TooManyItems { limit: usize },
    #[error("item type `{0}` is not allowed in envelopes")]
    ForbiddenItemType(String),
}

impl EnvelopeError {
    /// The underlying reasons, for the `causes` list of an error response (may be empty).
    pub fn causes(&self) -> Vec<String> {
        match self {
            Self::InvalidHeader(cause) | Self::InvalidItemHeader(cause) => vec![cause.clone()],
            _ => Vec::new(),
        }
    }
}

/// Item types only Sentry's own relays may send.
const FORBIDDEN_ITEM_TYPES: &[&str] = &["integration"];

/// Parses a whole envelope; `max_items` bounds the work an envelope can cause.
pub fn parse(body: &[u8], max_items: usize) -> Result<Envelope<'_>, EnvelopeError> {
    let (header_line, mut rest) = split_header_line(body);
    let header = parse_object::<EnvelopeHeader>(header_line).map_err(EnvelopeError::InvalidHeader)?;

    let mut items = Vec::new();
    while !rest.iter().all(u8::is_ascii_whitespace) {
        if items.len() >= max_items {
            return Err(EnvelopeError::TooManyItems { limit: max_items });
        }
        let (item, after) = parse_item(rest)?;
        items.push(item);
        rest = after;
    }
    Ok(Envelope { header, items })
}

/// Reads only the envelope header (the first line), e.g. to authenticate a tunnelled
/// envelope by its `dsn` before the body is parsed in full.
pub fn peek_header(body: &[u8]) -> Result<EnvelopeHeader, EnvelopeError> {
    let (header_line, _) = split_header_line(body);
    parse_object(header_line).map_err(EnvelopeError::InvalidHeader)
}

impl Envelope<'_> {
    /// The envelope header's `event_id` as sent (not validated or normalised here).
    pub fn event_id(&self) -> Option<&str> {
        self.header.event_id.as_deref()
    }

    /// The items of one type, in envelope order.
    pub fn items_of<'s>(&'s self, ty: &'s str) -> impl Iterator<Item = &'s Item<'s>> + 's {
        self.items.iter().filter(move |item| item.ty() == ty)
    }

    /// Whether any item is an event-like payload (`event`, `transaction`, `feedback`, or an
    /// attachment), i.e. the envelope needs an event id.
    pub fn needs_event_id(&self) -> bool {
        self.items.iter().any(|item| {
            matches!(
                item.ty(),
                "event" | "transaction" | "feedback" | "attachment" | "user_report"
            )
        })
    }

    /// Serialises the envelope in the canonical form: every item with an explicit `length`
    /// and a terminating newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Serialising a struct of strings, maps and JSON values into a Vec cannot fail.
        out.extend(serde_json::to_vec(&self.header).unwrap_or_else(|_| b"{}".to_vec()));
        out.push(b'\n');
        for item in &self.items {
            let mut header = item.header.clone();
            header.length = Some(item.payload.len() as u64);
            out.extend(serde_json::to_vec(&header).unwrap_or_else(|_| b"{}".to_vec()));
            out.push(b'\n');
            out.extend_from_slice(item.payload);
            out.push(b'\n');
        }
        out
    }
}

impl Item<'_> {
    /// The item's `type` header.
    pub fn ty(&self) -> &str {
        &self.header.ty
    }
}

/// Parses one item at the start of `rest`, returning it and what follows it.
fn parse_item(rest: &[u8]) -> Result<(Item<'_>, &[u8]), EnvelopeError> {
    let (header_line, after_header) = split_header_line(rest);
    let header = parse_object::<ItemHeader>(header_line).map_err(EnvelopeError::InvalidItemHeader)?;
    if FORBIDDEN_ITEM_TYPES.contains(&header.ty.as_str()) {
        return Err(EnvelopeError::ForbiddenItemType(header.ty));
    }

    let (payload, after) = match header.length {
        Some(length) => {
            let length = usize::try_from(length).map_err(|_| EnvelopeError::UnexpectedEof)?;
            let payload = after_header.get(..length).ok_or(EnvelopeError::UnexpectedEof)?;
            let after = &after_header[length..];
            match after.split_first() {
                None => (payload, after),
                Some((b'\n', tail)) => (payload, tail),
                Some(_) => return Err(EnvelopeError::MissingNewline),
            }
        }
        // Without a length the payload is the rest of the line; a `\r` before the `\n`
        // belongs to the payload.
        None => match after_header.iter().position(|&b| b == b'\n') {
            Some(end) => (&after_header[..end], &after_header[end + 1..]),
            None => (after_header, &after_header[after_header.len()..]),
        },
    };
    Ok((Item { header, payload }, after))
}

/// Splits off a header line: up to the first `\n` (consumed) or the end. One `\r` before the
/// `\n` is dropped from the line.
fn split_header_line(body: &[u8]) -> (&[u8], &[u8]) {
    match body.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = &body[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &body[end + 1..])
        }
        None => (body, &body[body.len()..]),
    }
}

/// Parses a header line that must be a JSON object; the error is the reason as text.
fn parse_object<T: serde::de::DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(line).map_err(|e| e.to_string()),
        Some(_) => Err("expected a JSON object".to_owned()),
        None => Err("expected a JSON object, found an empty line".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire");

    const EXAMPLE_A: &[u8] = b"{\"event_id\":\"7a1c2d6f0b9e4e21a3f4b5c6d7e8f901\",\"sent_at\":\"2025-03-04T10:15:31.000000Z\",\"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.20.0\"}}\n\
{\"type\":\"event\",\"length\":517,\"content_type\":\"application/json\"}\n\
{\"event_id\":\"7a1c2d6f0b9e4e21a3f4b5c6d7e8f901\",\"timestamp\":\"2025-03-04T10:15:30.123456Z\",\"platform\":\"python\",\"level\":\"error\",\"release\":\"shop@1.4.0\",\"environment\":\"production\",\"exception\":{\"values\":[{\"type\":\"ZeroDivisionError\",\"value\":\"division by zero\",\"module\":\"builtins\",\"mechanism\":{\"type\":\"generic\",\"handled\":true},\"stacktrace\":{\"frames\":[{\"filename\":\"app/views.py\",\"abs_path\":\"/srv/app/views.py\",\"module\":\"app.views\",\"function\":\"checkout\",\"lineno\":41,\"context_line\":\"    total = price / qty\",\"in_app\":true}]}}]}}\n\
{\"type\":\"attachment\",\"length\":18,\"filename\":\"app.log\",\"content_type\":\"text/plain\"}\n\
line one\r\nline two\n";

    const EXAMPLE_B: &[u8] = b"{\"event_id\":\"0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e\",\"sent_at\":\"2025-03-04T10:16:00.250Z\",\"sdk\":{\"name\":\"sentry.javascript.browser\",\"version\":\"9.5.0\"}}\n\
{\"type\":\"event\"}\n\
{\"event_id\":\"0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e\",\"timestamp\":1741083359.87,\"platform\":\"javascript\",\"exception\":{\"values\":[{\"type\":\"TypeError\",\"value\":\"cart is undefined\",\"stacktrace\":{\"frames\":[{\"filename\":\"https://shop.example/app.js\",\"function\":\"onPay\",\"lineno\":12,\"colno\":7,\"in_app\":true}]},\"mechanism\":{\"type\":\"onerror\",\"handled\":false}}]},\"breadcrumbs\":{\"values\":[{\"timestamp\":1741083350.1,\"category\":\"ui.click\",\"message\":\"button#pay\"}]}}";

    const EXAMPLE_C: &[u8] = b"{\"sent_at\":\"2025-03-04T10:17:00Z\"}\n\
{\"type\":\"session\"}\n\
{\"sid\":\"5f0e3c1a9b8d4e7f8a6b5c4d3e2f1a0b\",\"init\":true,\"started\":\"2025-03-04T10:10:00Z\",\"status\":\"exited\",\"errors\":1,\"attrs\":{\"release\":\"shop@1.4.0\"}}\n\
{\"type\":\"client_report\"}\n\
{\"timestamp\":1741083420.0,\"discarded_events\":[{\"reason\":\"ratelimit_backoff\",\"category\":\"error\",\"quantity\":3}]}";

    fn types(env: &Envelope<'_>) -> Vec<String> {
        env.items.iter().map(|i| i.header.ty.clone()).collect()
    }

    #[test]
    fn example_a_length_prefixed_event_and_crlf_attachment() {
        let env = parse(EXAMPLE_A, 100).unwrap();
        assert_eq!(env.event_id(), Some("7a1c2d6f0b9e4e21a3f4b5c6d7e8f901"));
        assert_eq!(env.header.sent_at.as_deref(), Some("2025-03-04T10:15:31.000000Z"));
        assert_eq!(env.header.sdk.as_ref().unwrap()["name"], "sentry.python");
        assert_eq!(types(&env), ["event", "attachment"]);
        let event = &env.items[0];
        assert_eq!(event.payload.len(), 517);
        assert_eq!(event.header.content_type.as_deref(), Some("application/json"));
        let json: Value = serde_json::from_slice(event.payload).unwrap();
        assert_eq!(json["exception"]["values"][0]["type"], "ZeroDivisionError");
        let attachment = &env.items[1];
        assert_eq!(attachment.payload, b"line one\r\nline two");
        assert_eq!(attachment.payload.len(), 18);
        assert_eq!(attachment.header.filename.as_deref(), Some("app.log"));
        assert!(env.needs_event_id());
    }

    #[test]
    fn example_b_implicit_length_without_final_newline() {
        let env = parse(EXAMPLE_B, 100).unwrap();
        assert_eq!(env.event_id(), Some("0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e"));
        assert_eq!(types(&env), ["event"]);
        let json: Value = serde_json::from_slice(env.items[0].payload).unwrap();
        assert_eq!(json["timestamp"], 1741083359.87);
        assert!(env.items[0].payload.ends_with(b"\"button#pay\"}]}}"));
    }

    #[test]
    fn example_c_no_event_id_two_implicit_items() {
        let env = parse(EXAMPLE_C, 100).unwrap();
        assert_eq!(env.event_id(), None);
        assert_eq!(types(&env), ["session", "client_report"]);
        let session: Value = serde_json::from_slice(env.items[0].payload).unwrap();
        assert_eq!(session["status"], "exited");
        let report: Value = serde_json::from_slice(env.items[1].payload).unwrap();
        assert_eq!(report["discarded_events"][0]["quantity"], 3);
        assert!(!env.needs_event_id());
    }

    /// (name, body, item types, payloads)
    #[allow(clippy::type_complexity)]
    const VALID: &[(&str, &[u8], &[&str], &[&[u8]])] = &[
        ("header only", b"{}", &[], &[]),
        ("header only with newline", b"{}\n", &[], &[]),
        ("header only with crlf", b"{}\r\n", &[], &[]),
        (
            "trailing blank lines",
            b"{}\n{\"type\":\"event\"}\n{}\n\n\n",
            &["event"],
            &[b"{}"],
        ),
        (
            "trailing whitespace after length item",
            b"{}\n{\"type\":\"a\",\"length\":2}\nab\n \t\r\n",
            &["a"],
            &[b"ab"],
        ),
        (
            "two empty attachments",
            b"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\",\"length\":0}\n\n",
            &["attachment", "attachment"],
            &[b"", b""],
        ),
        (
            "empty length payload at eof",
            b"{}\n{\"type\":\"attachment\",\"length\":0}",
            &["attachment"],
            &[b""],
        ),
        (
            "empty length payload then eof after newline",
            b"{}\n{\"type\":\"attachment\",\"length\":0}\n",
            &["attachment"],
            &[b""],
        ),
        (
            "length payload at eof without newline",
            b"{}\n{\"type\":\"a\",\"length\":3}\nabc",
            &["a"],
            &[b"abc"],
        ),
        (
            "implicit empty payload",
            b"{}\n{\"type\":\"a\"}\n\n{\"type\":\"b\"}\nx",
            &["a", "b"],
            &[b"", b"x"],
        ),
        ("implicit item header at eof", b"{}\n{\"type\":\"a\"}", &["a"], &[b""]),
        (
            "implicit payload keeps its carriage return",
            b"{}\n{\"type\":\"a\"}\nabc\r\n",
            &["a"],
            &[b"abc\r"],
        ),
        (
            "crlf after item header tolerated",
            b"{}\r\n{\"type\":\"a\"}\r\nxyz",
            &["a"],
            &[b"xyz"],
        ),
        (
            "binary payload with newlines",
            b"{}\n{\"type\":\"a\",\"length\":5}\n\n\0\n\xff\n\n",
            &["a"],
            &[b"\n\0\n\xff\n"],
        ),
        (
            "unknown keys ignored",
            b"{\"foo\":[1,2],\"event_id\":null}\n{\"type\":\"weird\",\"bar\":{}}\nzz",
            &["weird"],
            &[b"zz"],
        ),
        (
            "spaces inside header json",
            b"{ \"event_id\" : \"x\" }\n{ \"type\" : \"a\" }\n1",
            &["a"],
            &[b"1"],
        ),
        (
            "length null means implicit",
            b"{}\n{\"type\":\"a\",\"length\":null}\nline\n",
            &["a"],
            &[b"line"],
        ),
    ];

    #[test]
    fn valid_envelopes_parse_to_expected_items() {
        for (name, body, tys, payloads) in VALID {
            let env = parse(body, 100).unwrap_or_else(|e| panic!("{name}: {e} {:?}", e.causes()));
            assert_eq!(types(&env), *tys, "{name}");
            let got: Vec<&[u8]> = env.items.iter().map(|i| i.payload).collect();
            assert_eq!(got, *payloads, "{name}");
        }
    }

    #[test]
    fn invalid_envelopes_fail_with_the_right_error() {
        let cases: &[(&str, &[u8], EnvelopeError)] = &[
            ("empty body", b"", EnvelopeError::InvalidHeader(String::new())),
            (
                "non-json header",
                b"hello\n",
                EnvelopeError::InvalidHeader(String::new()),
            ),
            ("array header", b"[]\n", EnvelopeError::InvalidHeader(String::new())),
            ("string header", b"\"x\"", EnvelopeError::InvalidHeader(String::new())),
            (
                "truncated header",
                b"{\"event_id\":\n{}",
                EnvelopeError::InvalidHeader(String::new()),
            ),
            (
                "wrong type for event_id",
                b"{\"event_id\":5}",
                EnvelopeError::InvalidHeader(String::new()),
            ),
            (
                "item header not json",
                b"{}\nnope\n",
                EnvelopeError::InvalidItemHeader(String::new()),
            ),
            (
                "item header missing type",
                b"{}\n{\"length\":1}\na",
                EnvelopeError::InvalidItemHeader(String::new()),
            ),
            (
                "item header non-string type",
                b"{}\n{\"type\":5}\n",
                EnvelopeError::InvalidItemHeader(String::new()),
            ),
            (
                "negative length",
                b"{}\n{\"type\":\"a\",\"length\":-1}\n",
                EnvelopeError::InvalidItemHeader(String::new()),
            ),
            (
                "blank line between items",
                b"{}\n{\"type\":\"a\"}\nx\n\n{\"type\":\"b\"}\ny",
                EnvelopeError::InvalidItemHeader(String::new()),
            ),
            (
                "length beyond eof",
                b"{}\n{\"type\":\"a\",\"length\":10}\nabc",
                EnvelopeError::UnexpectedEof,
            ),
            (
                "length beyond eof without payload",
                b"{}\n{\"type\":\"a\",\"length\":1}",
                EnvelopeError::UnexpectedEof,
            ),
            (
                "huge length",
                b"{}\n{\"type\":\"a\",\"length\":18446744073709551615}\nabc",
                EnvelopeError::UnexpectedEof,
            ),
            (
                "byte after length payload",
                b"{}\n{\"type\":\"a\",\"length\":2}\nabc\n",
                EnvelopeError::MissingNewline,
            ),
            (
                "crlf after length payload",
                b"{}\n{\"type\":\"a\",\"length\":2}\nab\r\n",
                EnvelopeError::MissingNewline,
            ),
            (
                "integration item",
                b"{}\n{\"type\":\"integration\"}\n{}",
                EnvelopeError::ForbiddenItemType("integration".into()),
            ),
        ];
        for (name, body, expected) in cases {
            let err = parse(body, 100).unwrap_err();
            match (expected, &err) {
                (EnvelopeError::InvalidHeader(_), EnvelopeError::InvalidHeader(cause))
                | (EnvelopeError::InvalidItemHeader(_), EnvelopeError::InvalidItemHeader(cause)) => {
                    assert!(!cause.is_empty(), "{name}: cause must say why");
                }
                _ => assert_eq!(&err, expected, "{name}"),
            }
        }
    }

    #[test]
    fn header_errors_have_detail_and_causes() {
        let err = parse(b"not json\n", 10).unwrap_err();
        assert_eq!(err.to_string(), "invalid envelope header");
        assert_eq!(err.causes(), ["expected a JSON object"]);

        let err = parse(b"{\"event_id\":\n", 10).unwrap_err();
        assert_eq!(err.to_string(), "invalid envelope header");
        assert!(err.causes()[0].contains("EOF while parsing"), "{:?}", err.causes());

        let err = parse(b"{}\n{\"type\":\"a\",\"length\":\"x\"}\n", 10).unwrap_err();
        assert_eq!(err.to_string(), "invalid item header");
        assert!(err.causes()[0].contains("invalid type"), "{:?}", err.causes());

        assert!(EnvelopeError::UnexpectedEof.causes().is_empty());
        assert_eq!(
            EnvelopeError::ForbiddenItemType("integration".into()).to_string(),
            "item type `integration` is not allowed in envelopes"
        );
    }

    #[test]
    fn unknown_header_keys_are_kept() {
        let env = parse(
            b"{\"trace\":{\"trace_id\":\"abc\"},\"origin\":\"http://x\"}\n{\"type\":\"profile_chunk\",\"platform\":\"python\"}\n{}",
            10,
        )
        .unwrap();
        assert_eq!(env.header.trace.as_ref().unwrap()["trace_id"], "abc");
        assert_eq!(env.header.other["origin"], "http://x");
        assert_eq!(env.items[0].header.other["platform"], "python");
    }

    #[test]
    fn payloads_are_borrowed_from_the_body() {
        let body = EXAMPLE_A.to_vec();
        let env = parse(&body, 10).unwrap();
        let range = body.as_ptr_range();
        for item in &env.items {
            assert!(range.contains(&item.payload.as_ptr()));
        }
    }

    #[test]
    fn item_count_limit_is_enforced_exactly() {
        let body = b"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"b\"}\n2";
        assert_eq!(parse(body, 2).unwrap().items.len(), 2);
        assert_eq!(parse(body, 1).unwrap_err(), EnvelopeError::TooManyItems { limit: 1 });
        assert_eq!(parse(b"{}\n", 0).unwrap().items.len(), 0);
    }

    #[test]
    fn hundred_thousand_tiny_items_stop_at_the_limit_fast() {
        let mut body = b"{}\n".to_vec();
        for _ in 0..100_000 {
            body.extend_from_slice(b"{\"type\":\"a\",\"length\":0}\n\n");
        }
        let started = std::time::Instant::now();
        assert_eq!(
            parse(&body, 1000).unwrap_err(),
            EnvelopeError::TooManyItems { limit: 1000 }
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn peek_header_reads_only_the_first_line() {
        let header = peek_header(b"{\"dsn\":\"https://k@h/42\"}\nthis is not an item").unwrap();
        assert_eq!(header.dsn.as_deref(), Some("https://k@h/42"));
        assert!(matches!(
            peek_header(b"garbage\n{}"),
            Err(EnvelopeError::InvalidHeader(_))
        ));
        assert_eq!(peek_header(b"{}").unwrap(), EnvelopeHeader::default());
    }

    #[test]
    fn deeply_nested_header_is_an_error_not_a_crash() {
        let mut body = b"{\"sdk\":".to_vec();
        body.extend(std::iter::repeat_n(b'[', 100_000));
        body.extend(std::iter::repeat_n(b']', 100_000));
        body.push(b'}');
        assert!(matches!(parse(&body, 10), Err(EnvelopeError::InvalidHeader(_))));
    }

    /// Expected (item types) per capture, from the fixtures README: one item per envelope,
    /// except rust, which sends an event and a session together.
    fn expected_types(client: &str, n: u32) -> Option<Vec<&'static str>> {
        Some(match (client, n) {
            ("python" | "python-gzip", 1..=12) => vec!["event"],
            ("python" | "python-gzip", 13) => vec!["transaction"],
            ("python" | "python-gzip", 14) => vec!["session"],
            ("python" | "python-gzip", 15) => vec!["client_report"],
            ("node", 9) => vec!["span"],
            ("node", 10) => vec!["session"],
            ("node", 11..=13) => vec!["event"],
            ("node", 1..=8) => return None, // event or session, order varies
            ("browser", 1 | 2) => vec!["session"],
            ("browser", 3..=6) => vec!["event"],
            ("browser", 8) => vec!["client_report"],
            ("sentry-cli", 1 | 2) => vec!["event"],
            ("rust", 1..=4) => vec!["event", "session"],
            ("rust", 5 | 6) => vec!["event"],
            _ => return None,
        })
    }

    #[test]
    fn every_wire_capture_body_parses_with_the_documented_items() {
        let mut parsed = 0;
        let mut node_types = Vec::new();
        for client in std::fs::read_dir(WIRE).unwrap() {
            let dir = client.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            let client = dir.file_name().unwrap().to_str().unwrap().to_owned();
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                if path.extension().and_then(|e| e.to_str()) != Some("body") {
                    continue;
                }
                let headers: Value =
                    serde_json::from_slice(&std::fs::read(path.with_extension("headers.json")).unwrap()).unwrap();
                if headers["method"] != "POST" {
                    continue;
                }
                let n: u32 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                let body = std::fs::read(&path).unwrap();
                let env = parse(&body, 1000).unwrap_or_else(|e| panic!("{path:?}: {e} {:?}", e.causes()));
                let tys: Vec<String> = types(&env);
                if let Some(expected) = expected_types(&client, n) {
                    assert_eq!(tys, expected, "{path:?}");
                } else if client == "node" {
                    assert_eq!(tys.len(), 1, "{path:?}");
                    node_types.push(tys[0].clone());
                }
                for item in &env.items {
                    let json: Result<Value, _> = serde_json::from_slice(item.payload);
                    assert!(json.is_ok(), "{path:?}: {} payload is JSON", item.ty());
                    if let Some(length) = item.header.length {
                        assert_eq!(length as usize, item.payload.len());
                    }
                }
                if env.items.iter().any(|i| i.ty() == "event") {
                    let id = env.event_id().unwrap();
                    assert!(id.len() == 32 || id.len() == 36, "{path:?}: {id}");
                }
                parsed += 1;
            }
        }
        assert_eq!(parsed, 58, "all POST captures");
        node_types.sort();
        assert_eq!(
            node_types,
            [
                "event", "event", "event", "event", "session", "session", "session", "session"
            ]
        );
    }

    #[test]
    fn serialized_envelope_round_trips() {
        for body in [EXAMPLE_A, EXAMPLE_B, EXAMPLE_C] {
            let env = parse(body, 100).unwrap();
            let bytes = env.to_bytes();
            let again = parse(&bytes, 100).unwrap();
            assert_eq!(again.header, env.header);
            assert_eq!(again.items.len(), env.items.len());
            for (a, b) in again.items.iter().zip(&env.items) {
                assert_eq!(a.payload, b.payload);
                assert_eq!(a.header.ty, b.header.ty);
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn item_strategy() -> impl Strategy<Value = (String, Vec<u8>, Option<String>)> {
            (
                "[a-z_]{1,12}".prop_filter("forbidden", |t| t != "integration"),
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::option::of("[ -~]{0,16}"),
            )
        }

        proptest! {
            #[test]
            fn parse_never_panics_on_arbitrary_bytes(
                body in proptest::collection::vec(any::<u8>(), 0..512),
            ) {
                let _ = parse(&body, 50);
                let _ = peek_header(&body);
            }

            #[test]
            fn parse_never_panics_on_envelope_like_text(
                body in "(\\{\\}|\\{\"type\":\"[a-z]{1,5}\"(,\"length\":[0-9]{1,3})?\\}|[a-z\\r]{0,5})(\\n(\\{\\}|\\{\"type\":\"[a-z]{1,5}\"(,\"length\":[0-9]{1,3})?\\}|[a-z\\r]{0,5})){0,8}\\n?",
            ) {
                if let Ok(env) = parse(body.as_bytes(), 50) {
                    prop_assert!(env.items.len() <= 50);
                }
            }

            #[test]
            fn serialized_envelopes_round_trip(
                event_id in proptest::option::of("[0-9a-f]{32}"),
                items in proptest::collection::vec(item_strategy(), 0..8),
            ) {
                let envelope = Envelope {
                    header: EnvelopeHeader { event_id, ..Default::default() },
                    items: items
                        .iter()
                        .map(|(ty, payload, filename)| Item {
                            header: ItemHeader {
                                ty: ty.clone(),
                                length: Some(payload.len() as u64),
                                filename: filename.clone(),
                                ..Default::default()
                            },
                            payload,
                        })
                        .collect(),
                };
                let bytes = envelope.to_bytes();
                let parsed = parse(&bytes, 100).unwrap();
                prop_assert_eq!(parsed, envelope);
            }
        }
    }
}
