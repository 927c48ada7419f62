//! SDK authentication: the project key from `X-Sentry-Auth`, `Authorization`,
//! the query string, or the DSN in an envelope header (tunnels).
//!
//! Only parsing lives here: whether the key belongs to the project is decided later.
//! Sources are read in Relay's order (spec §3). Where Relay rejects a request carrying two
//! sources, we accept it when they name the same key.

use base64::Engine;

/// The newest protocol version we speak; SDKs announce theirs as `sentry_version`.
pub const PROTOCOL_VERSION: u32 = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    /// 32 lowercase hex characters, any `.flag` suffix removed.
    pub public_key: String,
    pub version: u32,
    pub client: Option<String>,
}

/// A parsed DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]/[{prefix}/]{project_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// 32 lowercase hex characters, any `.flag` suffix removed.
    pub public_key: String,
    pub project_id: u64,
    /// `http` or `https`, lowercase.
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    /// Path before the project id without surrounding slashes (`""` or e.g. `sentry`).
    pub path_prefix: String,
}

/// A project's public key: 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing authorization information")]
    Missing,
    #[error("bad x-sentry-auth header")]
    BadHeader,
    #[error("bad envelope authentication header")]
    BadDsn,
    #[error("bad sentry DSN public key")]
    BadPublicKey,
    #[error("unsupported protocol version ({0})")]
    UnsupportedVersion(u32),
    #[error("multiple authorization payloads detected with different keys")]
    ConflictingKeys,
}

/// Extracts SDK credentials from the request; `Ok(None)` when the request carries none.
///
/// Sources, in order: `X-Sentry-Auth: Sentry …`, `Authorization: Sentry …`,
/// `Authorization: Basic base64(key:…)`, and `sentry_*` query parameters. Headers not starting
/// with `Sentry ` are not ours and are ignored, as is a Basic credential whose user is not a
/// public key (it is likely meant for a proxy in front of us). When several sources are
/// present they must name the same key; the first one wins.
pub fn from_request(
    x_sentry_auth: Option<&str>,
    authorization: Option<&str>,
    query: Option<&str>,
) -> Result<Option<SentryAuth>, AuthError> {
    let mut found: Option<SentryAuth> = None;
    let mut consider = |auth: SentryAuth| -> Result<(), AuthError> {
        match &found {
            Some(first) if first.public_key != auth.public_key => Err(AuthError::ConflictingKeys),
            Some(_) => Ok(()),
            None => {
                found = Some(auth);
                Ok(())
            }
        }
    };

    if let Some(pairs) = x_sentry_auth.and_then(strip_sentry_scheme) {
        consider(from_pairs(header_pairs(pairs))?)?;
    }
    if let Some(pairs) = authorization.and_then(strip_sentry_scheme) {
        consider(from_pairs(header_pairs(pairs))?)?;
    }
    if let Some(auth) = authorization.and_then(basic_auth) {
        consider(auth)?;
    }
    if let Some(query) = query {
        let pairs = query_pairs(query);
        if pairs.iter().any(|(key, _)| key.starts_with("sentry_")) {
            consider(from_pairs(pairs)?)?;
        }
    }
    Ok(found)
}

/// Parses a DSN, as a tunnelled envelope carries it in its header. Every failure is `BadDsn`.
pub fn parse_dsn(dsn: &str) -> Result<Dsn, AuthError> {
    let dsn = dsn.trim();
    let (scheme, rest) = dsn.split_once("://").ok_or(AuthError::BadDsn)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(AuthError::BadDsn);
    }
    // Query and fragment carry nothing we use.
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/').ok_or(AuthError::BadDsn)?;
    let (userinfo, host_port) = authority.rsplit_once('@').ok_or(AuthError::BadDsn)?;
    let key = userinfo.split(':').next().unwrap_or_default();
    let public_key = PublicKey::parse(key).map_err(|_| AuthError::BadDsn)?;
    let (host, port) = split_host_port(host_port)?;

    // A single trailing slash is tolerated: `https://k@h/42/`.
    let path = path.strip_suffix('/').unwrap_or(path);
    let (prefix, project) = path.rsplit_once('/').unwrap_or(("", path));
    let project_id = parse_project_id(project).ok_or(AuthError::BadDsn)?;

    Ok(Dsn {
        public_key: public_key.into_string(),
        project_id,
        scheme,
        host: host.to_owned(),
        port,
        path_prefix: prefix.trim_matches('/').to_owned(),
    })
}

impl PublicKey {
    /// Accepts 32 hex characters in any case, after dropping a `.flag` suffix such as
    /// `.no-cache`; stores them lowercase.
    pub fn parse(key: &str) -> Result<Self, AuthError> {
        let key = key.trim();
        let key = key.split('.').next().unwrap_or_default();
        if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(key.to_ascii_lowercase()))
        } else {
            Err(AuthError::BadPublicKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Dsn {
    /// The URL SDKs derive for an endpoint, e.g. `envelope`:
    /// `{scheme}://{host}[:{port}][/{prefix}]/api/{project_id}/{name}/`.
    pub fn endpoint(&self, name: &str) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let prefix = if self.path_prefix.is_empty() {
            String::new()
        } else {
            format!("/{}", self.path_prefix)
        };
        format!(
            "{}://{}{port}{prefix}/api/{}/{name}/",
            self.scheme, self.host, self.project_id
        )
    }
}

/// The pair list of a `Sentry …` header, or `None` when the header uses another scheme.
fn strip_sentry_scheme(header: &str) -> Option<&str> {
    let header = header.trim_start();
    let scheme = header.get(..7)?;
    scheme.eq_ignore_ascii_case("sentry ").then(|| &header[7..])
}

/// `Basic base64(key:secret)`; `None` unless that decodes to a valid public key.
fn basic_auth(header: &str) -> Option<SentryAuth> {
    let header = header.trim();
    let encoded = header
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("basic "))
        .map(|_| header[6..].trim())?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, _) = decoded.split_once(':')?;
    let key = PublicKey::parse(user).ok()?;
    Some(SentryAuth {
        public_key: key.into_string(),
        version: PROTOCOL_VERSION,
        client: None,
    })
}

/// `sentry_key=K, sentry_version=7` → pairs, both sides trimmed; parts without `=` dropped.
fn header_pairs(pairs: &str) -> Vec<(String, String)> {
    pairs
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `a=b&c=d` → URL-decoded pairs (`+` is a space).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// Builds credentials from `sentry_*` pairs; unknown keys (`sentry_secret`,
/// `sentry_timestamp`, …) are ignored.
fn from_pairs(pairs: Vec<(String, String)>) -> Result<SentryAuth, AuthError> {
    let mut key = None;
    let mut version = PROTOCOL_VERSION;
    let mut client = None;
    for (name, value) in pairs {
        match name.as_str() {
            "sentry_key" => key = Some(value),
            "sentry_version" => version = parse_version(&value)?,
            "sentry_client" => client = Some(value).filter(|c| !c.is_empty()),
            _ => {}
        }
    }
    let key = key.filter(|k| !k.is_empty()).ok_or(AuthError::BadHeader)?;
    let public_key = PublicKey::parse(&key)?;
    if version > PROTOCOL_VERSION {
        return Err(AuthError::UnsupportedVersion(version));
    }
    Ok(SentryAuth {
        public_key: public_key.into_string(),
        version,
        client,
    })
}

/// `7`, `7.0` → 7: the digits before the first `.`. A number too large for `u32` is an
/// unsupported version, anything else not a number a bad header.
fn parse_version(value: &str) -> Result<u32, AuthError> {
    let major = value.split('.').next().unwrap_or_default();
    if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::BadHeader);
    }
    major.parse().map_err(|_| AuthError::UnsupportedVersion(u32::MAX))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), AuthError> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(AuthError::BadDsn)?;
        let host = &authority[..=end];
        match &authority[end + 1..] {
            "" => (host, None),
            rest => (host, Some(rest.strip_prefix(':').ok_or(AuthError::BadDsn)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(AuthError::BadDsn);
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().map_err(|_| AuthError::BadDsn)?)
        }
        Some(_) => return Err(AuthError::BadDsn),
        None => None,
    };
    Ok((host, port))
}

/// A positive integer made only of digits.
fn parse_project_id(segment: &str) -> Option<u64> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse().ok().filter(|&id| id > 0)
}

/// Percent-decoding for query strings; malformed escapes are kept as they are.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok().and_then(|h| u8::from_str_radix(h, 16).ok()));
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";
    const WIRE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire");

    fn auth(version: u32, client: Option<&str>) -> Option<SentryAuth> {
        Some(SentryAuth {
            public_key: KEY.to_owned(),
            version,
            client: client.map(str::to_owned),
        })
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn each_source_yields_the_key() {
        let x = format!("Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0");
        let lower = format!("sentry sentry_key={KEY},sentry_version=7");
        let basic_key = basic(&format!("{KEY}:"));
        let basic_proxy = basic("proxyuser:pw");
        let basic_no_colon = basic(KEY);
        let leading_question = format!("?sentry_key={KEY}");
        let query = format!("sentry_version=7&sentry_key={KEY}&sentry_client=sentry.javascript.browser%2F11.12.0");
        // (name, x-sentry-auth, authorization, query, expected)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<SentryAuth>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "x-sentry-auth",
                Some(&x),
                None,
                None,
                auth(7, Some("sentry.python/2.75.0")),
            ),
            (
                "authorization sentry lower-case",
                None,
                Some(&lower),
                None,
                auth(7, None),
            ),
            ("authorization basic", None, Some(&basic_key), None, auth(7, None)),
            (
                "query",
                None,
                None,
                Some(&query),
                auth(7, Some("sentry.javascript.browser/11.12.0")),
            ),
            (
                "query with leading ?",
                None,
                None,
                Some(&leading_question),
                auth(7, None),
            ),
            ("nothing", None, None, None, None),
            ("query without sentry params", None, None, Some("a=1&b=2"), None),
            ("bearer authorization ignored", None, Some("Bearer abc"), None, None),
            ("non-sentry x-sentry-auth ignored", Some("Token abc"), None, None, None),
            ("basic with non-key user ignored", None, Some(&basic_proxy), None, None),
            ("basic not base64 ignored", None, Some("Basic !!!"), None, None),
            ("basic without colon ignored", None, Some(&basic_no_colon), None, None),
        ];
        for (name, x, authz, query, expected) in cases {
            assert_eq!(from_request(x, authz, query), Ok(expected), "{name}");
        }
    }

    #[test]
    fn pair_parsing_rules() {
        let cases: &[(String, Result<Option<SentryAuth>, AuthError>)] = &[
            (format!("Sentry sentry_key={KEY}"), Ok(auth(7, None))),
            (
                format!("Sentry  sentry_version = 7.0 ,  sentry_key = {KEY} "),
                Ok(auth(7, None)),
            ),
            (format!("SENTRY sentry_key={KEY}, sentry_version=6"), Ok(auth(6, None))),
            (
                format!("Sentry sentry_key={KEY}, sentry_secret=s, sentry_timestamp=1.5, foo=bar, junk"),
                Ok(auth(7, None)),
            ),
            (format!("Sentry sentry_key={KEY}, sentry_client="), Ok(auth(7, None))),
            (format!("Sentry sentry_key={}", KEY.to_uppercase()), Ok(auth(7, None))),
            (format!("Sentry sentry_key={KEY}.no-cache"), Ok(auth(7, None))),
            (
                format!("Sentry sentry_key={KEY}, sentry_version=8"),
                Err(AuthError::UnsupportedVersion(8)),
            ),
            (
                format!("Sentry sentry_key={KEY}, sentry_version=8.1"),
                Err(AuthError::UnsupportedVersion(8)),
            ),
            (
                format!("Sentry sentry_key={KEY}, sentry_version=99999999999"),
                Err(AuthError::UnsupportedVersion(u32::MAX)),
            ),
            (
                format!("Sentry sentry_key={KEY}, sentry_version=abc"),
                Err(AuthError::BadHeader),
            ),
            (
                format!("Sentry sentry_key={KEY}, sentry_version="),
                Err(AuthError::BadHeader),
            ),
            ("Sentry sentry_version=7".to_owned(), Err(AuthError::BadHeader)),
            ("Sentry sentry_key=".to_owned(), Err(AuthError::BadHeader)),
            ("Sentry ".to_owned(), Err(AuthError::BadHeader)),
            ("Sentry sentry_key=abc".to_owned(), Err(AuthError::BadPublicKey)),
            (format!("Sentry sentry_key={KEY}0"), Err(AuthError::BadPublicKey)),
            (
                format!("Sentry sentry_key=g{}", &KEY[1..]),
                Err(AuthError::BadPublicKey),
            ),
            ("Sentrysentry_key=x".to_owned(), Ok(None)),
        ];
        for (header, expected) in cases {
            assert_eq!(&from_request(Some(header), None, None), expected, "{header}");
            assert_eq!(
                &from_request(None, Some(header), None),
                expected,
                "authorization {header}"
            );
        }
    }

    #[test]
    fn query_parameters_are_url_decoded_and_validated() {
        let cases: &[(String, Result<Option<SentryAuth>, AuthError>)] = &[
            (
                format!("sentry_key={KEY}&sentry_client=a+b%2Fc"),
                Ok(auth(7, Some("a b/c"))),
            ),
            (
                format!("sentry_key={KEY}&sentry_client=%zz%"),
                Ok(auth(7, Some("%zz%"))),
            ),
            (
                format!("sentry_key={KEY}&sentry_version=8"),
                Err(AuthError::UnsupportedVersion(8)),
            ),
            ("sentry_version=7".to_owned(), Err(AuthError::BadHeader)),
            ("sentry_key=nothex".to_owned(), Err(AuthError::BadPublicKey)),
            (format!("other=1&sentry_key={KEY}&&x"), Ok(auth(7, None))),
        ];
        for (query, expected) in cases {
            assert_eq!(&from_request(None, None, Some(query)), expected, "{query}");
        }
    }

    #[test]
    fn two_sources_are_accepted_only_when_keys_agree() {
        let x = format!("Sentry sentry_key={KEY}, sentry_client=first");
        let same_query = format!("sentry_key={KEY}&sentry_client=second");
        let other_query = format!("sentry_key={OTHER}");
        let other_header = format!("Sentry sentry_key={OTHER}");
        assert_eq!(
            from_request(Some(&x), None, Some(&same_query)),
            Ok(auth(7, Some("first")))
        );
        assert_eq!(
            from_request(Some(&x), None, Some(&other_query)),
            Err(AuthError::ConflictingKeys)
        );
        assert_eq!(
            from_request(Some(&x), Some(&other_header), None),
            Err(AuthError::ConflictingKeys)
        );
        assert_eq!(
            from_request(Some(&x), Some(&basic(&format!("{OTHER}:x"))), None),
            Err(AuthError::ConflictingKeys)
        );
        // A malformed second source is still an error, not silently skipped.
        assert_eq!(
            from_request(Some(&x), None, Some("sentry_key=bad")),
            Err(AuthError::BadPublicKey)
        );
    }

    #[test]
    fn error_messages_use_relay_wording() {
        assert_eq!(AuthError::Missing.to_string(), "missing authorization information");
        assert_eq!(AuthError::BadHeader.to_string(), "bad x-sentry-auth header");
        assert_eq!(AuthError::BadDsn.to_string(), "bad envelope authentication header");
        assert_eq!(AuthError::BadPublicKey.to_string(), "bad sentry DSN public key");
        assert_eq!(
            AuthError::UnsupportedVersion(8).to_string(),
            "unsupported protocol version (8)"
        );
    }

    #[test]
    fn dsns_parse_into_their_parts() {
        let dsn = |key: &str, id: u64, scheme: &str, host: &str, port: Option<u16>, prefix: &str| Dsn {
            public_key: key.to_owned(),
            project_id: id,
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path_prefix: prefix.to_owned(),
        };
        let cases = [
            (format!("https://{KEY}@h/42"), dsn(KEY, 42, "https", "h", None, "")),
            (
                format!("http://{KEY}:secret@127.0.0.1:9000/42"),
                dsn(KEY, 42, "http", "127.0.0.1", Some(9000), ""),
            ),
            (
                format!("https://{KEY}@h/sentry/42"),
                dsn(KEY, 42, "https", "h", None, "sentry"),
            ),
            (
                format!("https://{KEY}@h/a/b/7/"),
                dsn(KEY, 7, "https", "h", None, "a/b"),
            ),
            (
                format!("HTTPS://{}@h/1", KEY.to_uppercase()),
                dsn(KEY, 1, "https", "h", None, ""),
            ),
            (
                format!("https://{KEY}.no-cache@h/1"),
                dsn(KEY, 1, "https", "h", None, ""),
            ),
            (
                format!("http://{KEY}@[::1]:8000/3"),
                dsn(KEY, 3, "http", "[::1]", Some(8000), ""),
            ),
            (
                format!("http://{KEY}@[::1]/3?x=1"),
                dsn(KEY, 3, "http", "[::1]", None, ""),
            ),
            (
                format!(" https://{KEY}:@sentry.example.com/42 "),
                dsn(KEY, 42, "https", "sentry.example.com", None, ""),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_dsn(&text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn malformed_dsns_are_bad_dsn() {
        let cases = [
            "".to_owned(),
            "not a dsn".to_owned(),
            format!("ftp://{KEY}@h/42"),
            format!("https://{KEY}@h"),
            format!("https://{KEY}@h/"),
            format!("https://{KEY}@h/abc"),
            format!("https://{KEY}@h/0"),
            format!("https://{KEY}@h/-1"),
            format!("https://{KEY}@h/42x"),
            format!("https://{KEY}@h/99999999999999999999999"),
            format!("https://{KEY}@h:port/42"),
            format!("https://{KEY}@h:99999/42"),
            format!("https://{KEY}@h:/42"),
            format!("https://{KEY}@/42"),
            format!("https://{KEY}@[::1/42"),
            "https://h/42".to_owned(),
            "https://short@h/42".to_owned(),
            "https://@h/42".to_owned(),
        ];
        for text in cases {
            assert_eq!(parse_dsn(&text), Err(AuthError::BadDsn), "{text}");
        }
    }

    #[test]
    fn dsn_endpoint_includes_prefix_and_port() {
        let d = parse_dsn(&format!("https://{KEY}@h:8443/sentry/42")).unwrap();
        assert_eq!(d.endpoint("envelope"), "https://h:8443/sentry/api/42/envelope/");
        let d = parse_dsn(&format!("http://{KEY}@h/42")).unwrap();
        assert_eq!(d.endpoint("store"), "http://h/api/42/store/");
    }

    #[test]
    fn public_key_parsing() {
        assert_eq!(PublicKey::parse(KEY).unwrap().as_str(), KEY);
        assert_eq!(PublicKey::parse(&format!("{KEY}.a.b")).unwrap().to_string(), KEY);
        for bad in ["", ".x", "abc", &KEY[..31], &format!("{KEY}00")] {
            assert_eq!(PublicKey::parse(bad), Err(AuthError::BadPublicKey), "{bad}");
        }
    }

    /// Every POST in the wire captures authenticates to the fixtures' key and version 7.
    #[test]
    fn wire_capture_requests_authenticate() {
        let mut checked = 0;
        for client in std::fs::read_dir(WIRE).unwrap() {
            let dir = client.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                if !path.to_string_lossy().ends_with(".headers.json") {
                    continue;
                }
                let h: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                if h["method"] != "POST" {
                    continue;
                }
                let header = |name: &str| {
                    h["headers"].as_array().unwrap().iter().find_map(|pair| {
                        (pair[0].as_str().unwrap().eq_ignore_ascii_case(name)).then(|| pair[1].as_str().unwrap())
                    })
                };
                let query = h["query"].as_str().filter(|q| !q.is_empty());
                let got = from_request(header("x-sentry-auth"), header("authorization"), query)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{path:?} has credentials"));
                assert_eq!(got.public_key, KEY, "{path:?}");
                assert_eq!(got.version, 7, "{path:?}");
                // browser/008 is the test page's own probe, not an SDK: no `sentry_client`.
                let is_probe = path.ends_with("browser/008.headers.json");
                assert_eq!(got.client.is_some(), !is_probe, "{path:?}");

                let body = std::fs::read(path.to_string_lossy().replace(".headers.json", ".body")).unwrap();
                let first_line = body.split(|&b| b == b'\n').next().unwrap();
                let envelope_header: serde_json::Value = serde_json::from_slice(first_line).unwrap();
                if let Some(dsn) = envelope_header["dsn"].as_str() {
                    let dsn = parse_dsn(dsn).unwrap();
                    assert_eq!((dsn.public_key.as_str(), dsn.project_id), (KEY, 42));
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 58);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn from_request_never_panics(
                x in proptest::option::of(".{0,80}"),
                a in proptest::option::of(".{0,80}"),
                q in proptest::option::of(".{0,80}"),
            ) {
                let _ = from_request(x.as_deref(), a.as_deref(), q.as_deref());
            }

            #[test]
            fn sentry_like_headers_never_panic(
                body in "[Ss]entry [a-z_ =,.0-9%+A-F]{0,80}",
            ) {
                if let Ok(Some(auth)) = from_request(Some(&body), None, Some(&body)) {
                    prop_assert_eq!(auth.public_key.len(), 32);
                    prop_assert!(auth.version <= PROTOCOL_VERSION);
                }
            }

            #[test]
            fn parse_dsn_never_panics(text in ".{0,100}") {
                let _ = parse_dsn(&text);
            }

            #[test]
            fn well_formed_dsns_round_trip(
                key in "[0-9a-f]{32}",
                https in any::<bool>(),
                host in "[a-z][a-z0-9.-]{0,20}",
                port in proptest::option::of(1u16..),
                prefix in "([a-z]{1,6}(/[a-z]{1,6}){0,2})?",
                id in 1u64..1_000_000_000,
            ) {
                let scheme = if https { "https" } else { "http" };
                let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
                let path = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
                let text = format!("{scheme}://{key}@{host}{port_text}/{path}{id}");
                let dsn = parse_dsn(&text).unwrap();
                prop_assert_eq!(dsn.public_key, key);
                prop_assert_eq!(dsn.project_id, id);
                prop_assert_eq!(dsn.host, host);
                prop_assert_eq!(dsn.port, port);
                prop_assert_eq!(dsn.path_prefix, prefix);
            }
        }
    }
}
