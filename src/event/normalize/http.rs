//! The `request` and `user` interfaces and the IP address rules between them:
//! query strings, cookies and headers become pair lists, the query and fragment
//! are split off the URL, the `Cookie` header moves into `cookies`, string
//! bodies are parsed, and `{{auto}}` / `REMOTE_ADDR` fill the user's IP.

use std::net::IpAddr;

use crate::event::json::{self, Map, Str, Value};

use super::NormalizeContext;
use super::meta::{Path, Recorder};
use super::scalars::{json_text, lenient_field, lenient_string, object_field, strict_string};

const AUTO_IP: &str = "{{auto}}";

/// How the value half of a pair list is coerced.
#[derive(Clone, Copy)]
enum PairValues {
    /// Query strings: non-strings become JSON text.
    JsonText,
    /// Cookies: strings, numbers and booleans as text.
    Lenient,
    /// Headers: like `Lenient`, and a list of values is joined with commas.
    Header,
}

pub(super) fn normalize_request<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    let path = Path::root("request");
    let req = match event.get_mut("request") {
        Some(Value::Object(req)) => req,
        None => return,
        Some(Value::Null) => {
            event.remove("request");
            return;
        }
        Some(slot) => {
            let original = slot.take();
            rec.invalid(&path, "expected an object", Some(original));
            return;
        }
    };

    strict_string(req, "url", &path, rec);
    strict_string(req, "method", &path, rec);
    if let Some(Value::String(method)) = req.get_mut("method") {
        if method.bytes().any(|b| b.is_ascii_lowercase()) {
            method.to_mut().make_ascii_uppercase();
        }
        let valid = (3..=32).contains(&method.len())
            && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
        if !valid {
            let original = req.insert("method", Value::Null);
            rec.error(&path.key("method"), "invalid_data", Map::new(), original);
        }
    }
    pairs_field(req, "query_string", &path, rec, PairValues::JsonText, parse_query);
    strict_string(req, "fragment", &path, rec);
    pairs_field(req, "cookies", &path, rec, PairValues::Lenient, parse_cookies);
    pairs_field(req, "headers", &path, rec, PairValues::Header, |_| None);
    object_field(req, "env", &path, rec);

    split_url(req);
    infer_body(req);
    move_cookie_header(req);
}

/// Normalizes `obj[key]` into a `[[k, v], ...]` list.
fn pairs_field<'a>(
    obj: &mut Map<'a>,
    key: &str,
    parent: &Path<'_>,
    rec: &mut Recorder<'a>,
    mode: PairValues,
    parse: fn(&str) -> Option<Vec<Value<'static>>>,
) {
    let Some(slot) = obj.get_mut(key) else {
        return;
    };
    let path = parent.key(key);
    let pairs = match slot.take() {
        Value::Null => return,
        Value::Object(map) => {
            // Object keys come out sorted, like Relay's ordered maps.
            let mut entries: Vec<(Str<'a>, Value<'a>)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries
                .into_iter()
                .map(|(k, v)| pair(k, coerce_pair_value(v, mode)))
                .collect()
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match split_pair(item) {
                    Ok((k, v)) => out.push(pair(k, coerce_pair_value(v, mode))),
                    Err(Value::Null) => {}
                    Err(original) => {
                        rec.invalid(&path.index(i), "expected a pair", Some(original));
                    }
                }
            }
            out
        }
        Value::String(s) => match parse(&s) {
            Some(pairs) => pairs,
            None => {
                rec.invalid(&path, "expected a list of pairs", Some(Value::String(s)));
                return;
            }
        },
        other => {
            rec.invalid(&path, "expected a list of pairs", Some(other));
            return;
        }
    };
    *slot = Value::Array(pairs);
}

fn pair<'a>(key: impl Into<Str<'a>>, value: Value<'a>) -> Value<'a> {
    Value::Array(vec![Value::String(key.into()), value])
}

/// `[k, v]` with a key that is text; anything else is handed back.
fn split_pair(item: Value<'_>) -> Result<(Str<'_>, Value<'_>), Value<'_>> {
    match item {
        Value::Array(mut two) if two.len() == 2 => {
            let value = two.pop().unwrap_or(Value::Null);
            let key = two.pop().unwrap_or(Value::Null);
            match lenient_string(key) {
                Ok(key) => Ok((key, value)),
                Err(key) => Err(Value::Array(vec![key, value])),
            }
        }
        other => Err(other),
    }
}

fn coerce_pair_value(value: Value<'_>, mode: PairValues) -> Value<'_> {
    match (value, mode) {
        (Value::Null, _) => Value::Null,
        (Value::String(s), _) => Value::String(s),
        (other, PairValues::JsonText) => Value::String(json_text(other)),
        (Value::Array(items), PairValues::Header) => {
            Value::from(items.into_iter().map(json_text).collect::<Vec<_>>().join(","))
        }
        (other, _) => Value::String(lenient_string(other).unwrap_or_else(json_text)),
    }
}

/// Parses `a=1&b=2` (leading `?` allowed) into pairs, form-decoding both halves.
fn parse_query(raw: &str) -> Option<Vec<Value<'static>>> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    Some(
        raw.split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                pair(form_decode(k), Value::from(form_decode(v)))
            })
            .collect(),
    )
}

/// Parses a `Cookie` header (`a=1; b=2`); a part without `=` fails the whole header.
fn parse_cookies(raw: &str) -> Option<Vec<Value<'static>>> {
    raw.split(';')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=')?;
            let name = name.trim();
            if name.is_empty() {
                return None;
            }
            Some(pair(
                percent_decode(name, false),
                Value::from(percent_decode(value.trim(), false)),
            ))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    percent_decode(s, true)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `?query` and `#fragment` off the URL; explicit fields take precedence.
fn split_url(req: &mut Map<'_>) {
    let Some(Value::String(url)) = req.get_mut("url") else {
        return;
    };
    // Old browser SDKs marked truncated URLs with an ellipsis character.
    if let Some(stripped) = url.strip_suffix('\u{2026}') {
        *url = Str::from(format!("{stripped}..."));
    }
    let mut fragment = None;
    let mut query = None;
    if let Some(idx) = url.find('#') {
        let frag = &url[idx + 1..];
        if !frag.is_empty() {
            fragment = Some(frag.to_owned());
        }
        url.truncate(idx);
    }
    if let Some(idx) = url.find('?') {
        let qs = &url[idx + 1..];
        if !qs.is_empty() {
            query = parse_query(qs).filter(|pairs| !pairs.is_empty());
        }
        url.truncate(idx);
    }
    if let Some(fragment) = fragment
        && matches!(req.get("fragment"), None | Some(Value::Null))
    {
        req.insert("fragment", Value::from(fragment));
    }
    if let Some(query) = query
        && matches!(req.get("query_string"), None | Some(Value::Null))
    {
        req.insert("query_string", Value::Array(query));
    }
}

/// A string body that is JSON or form data is parsed, and its content type
/// inferred; otherwise the `Content-Type` header (without parameters) is used.
fn infer_body(req: &mut Map<'_>) {
    let parsed = match req.get("data") {
        // The parsed body replaces the text it was parsed from, so it owns its strings.
        Some(Value::String(raw)) => json::from_str(raw)
            .ok()
            .map(|v| ("application/json", v.into_owned()))
            .or_else(|| form_body(raw).map(|v| ("application/x-www-form-urlencoded", v))),
        _ => None,
    };
    let inferred = match parsed {
        Some((content_type, value)) => {
            req.insert("data", value);
            Some(Str::from(content_type))
        }
        None => {
            header_value(req, "content-type").map(|v| Str::from(v.split(';').next().unwrap_or(v).trim().to_owned()))
        }
    };
    match inferred {
        Some(ct) => req.insert("inferred_content_type", Value::String(ct)),
        None => req.remove("inferred_content_type"),
    };
}

/// Form-urlencoded bodies, guarding against the false positives Relay guards against.
fn form_body(raw: &str) -> Option<Value<'static>> {
    if !raw.is_ascii() || raw.starts_with("<?xml") || raw.starts_with(['{', '[']) {
        return None;
    }
    let mut map = Map::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        map.insert(form_decode(k), Value::from(form_decode(v)));
    }
    let valid = map.len() > 1
        || map
            .values()
            .next()
            .and_then(Value::as_str)
            .is_some_and(|v| !matches!(v, "" | "="));
    valid.then_some(Value::Object(map))
}

fn header_value<'r>(req: &'r Map<'_>, name: &str) -> Option<&'r str> {
    let Some(Value::Array(headers)) = req.get("headers") else {
        return None;
    };
    headers.iter().find_map(|h| match h.as_array().map(Vec::as_slice) {
        Some([Value::String(k), Value::String(v)]) if k.eq_ignore_ascii_case(name) => Some(&**v),
        _ => None,
    })
}

/// The `Cookie` header becomes `cookies` unless cookies were given; either way
/// it leaves the headers (unless it cannot be parsed).
fn move_cookie_header(req: &mut Map<'_>) {
    let has_cookies = !matches!(req.get("cookies"), None | Some(Value::Null));
    let parsed = if has_cookies {
        None
    } else {
        match header_value(req, "cookie").map(parse_cookies) {
            None => return,
            Some(None) => return,
            Some(Some(pairs)) => Some(pairs),
        }
    };
    if let Some(Value::Array(headers)) = req.get_mut("headers") {
        headers.retain(|h| {
            !matches!(h.as_array().and_then(|p| p.first()), Some(Value::String(k)) if k.eq_ignore_ascii_case("cookie"))
        });
    }
    if let Some(pairs) = parsed {
        req.insert("cookies", Value::Array(pairs));
    }
}

/// Known `user` fields; anything else moves into `user.data`.
const USER_FIELDS: &[&str] = &[
    "id",
    "email",
    "ip_address",
    "username",
    "name",
    "sentry_user",
    "geo",
    "segment",
    "data",
];

pub(super) fn normalize_user<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    let path = Path::root("user");
    let user = match event.get_mut("user") {
        Some(Value::Object(user)) => user,
        None => return,
        Some(Value::Null) => {
            event.remove("user");
            return;
        }
        Some(slot) => {
            let original = slot.take();
            rec.invalid(&path, "expected an object", Some(original));
            return;
        }
    };
    lenient_field(user, "id", &path, rec);
    for key in ["email", "username", "name", "segment", "sentry_user"] {
        strict_string(user, key, &path, rec);
    }
    if let Some(slot) = user.get_mut("ip_address") {
        let valid = match &*slot {
            Value::Null => true,
            Value::String(s) => s == AUTO_IP || s.parse::<IpAddr>().is_ok(),
            _ => false,
        };
        if !valid {
            let original = slot.take();
            rec.invalid(&path.key("ip_address"), "expected an ip address", Some(original));
        }
    }
    object_field(user, "geo", &path, rec);
    object_field(user, "data", &path, rec);

    if user.keys().any(|k| !USER_FIELDS.contains(&k.as_str())) {
        let mut moved = Map::new();
        for (key, value) in std::mem::take(user) {
            if USER_FIELDS.contains(&key.as_str()) {
                user.insert(key, value);
            } else {
                moved.insert(key, value);
            }
        }
        match user.get_mut("data") {
            Some(Value::Object(data)) => data.extend(moved),
            _ => {
                user.insert("data", Value::Object(moved));
            }
        }
    }
}

/// `{{auto}}` becomes the client address (or is removed when inference is off),
/// and a valid `REMOTE_ADDR` fills a missing user IP. Then `sentry_user` is set.
pub(super) fn apply_ip_rules(event: &mut Map<'_>, ctx: &NormalizeContext) {
    let client_ip = ctx.client_ip.as_deref().filter(|_| ctx.infer_ip);

    let mut remote_addr = None;
    if let Some(Value::Object(req)) = event.get_mut("request")
        && let Some(Value::Object(env)) = req.get_mut("env")
    {
        if matches!(env.get("REMOTE_ADDR"), Some(Value::String(s)) if s == AUTO_IP) {
            match client_ip {
                Some(ip) => env.insert("REMOTE_ADDR", Value::from(ip.to_owned())),
                None => env.remove("REMOTE_ADDR"),
            };
        }
        remote_addr = match env.get("REMOTE_ADDR") {
            Some(Value::String(s)) if s.parse::<IpAddr>().is_ok() => Some(s.clone()),
            _ => None,
        };
    }

    if let Some(Value::Object(user)) = event.get_mut("user")
        && matches!(user.get("ip_address"), Some(Value::String(s)) if s == AUTO_IP)
    {
        match client_ip {
            Some(ip) => user.insert("ip_address", Value::from(ip.to_owned())),
            None => user.remove("ip_address"),
        };
    }

    if let Some(addr) = remote_addr {
        let user = event.entry("user").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(user) = user
            && matches!(user.get("ip_address"), None | Some(Value::Null))
        {
            user.insert("ip_address", Value::String(addr));
        }
    }

    if let Some(Value::Object(user)) = event.get_mut("user") {
        let tag = ["id", "username", "email", "ip_address"]
            .iter()
            .find_map(|key| match user.get(key) {
                Some(Value::String(v)) if !v.is_empty() => {
                    let prefix = if *key == "ip_address" { "ip" } else { key };
                    Some(format!("{prefix}:{v}"))
                }
                _ => None,
            });
        match tag {
            Some(tag) => user.insert("sentry_user", Value::from(tag)),
            None => user.remove("sentry_user"),
        };
        if user.is_empty() {
            event.remove("user");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    #[test]
    fn query_strings_are_form_decoded_pairs() {
        assert_eq!(
            parse_query("?a=1&b=x+y%21&flag"),
            Some(vec![json!(["a", "1"]), json!(["b", "x y!"]), json!(["flag", ""])])
        );
    }

    #[test]
    fn cookie_headers_parse_or_fail_whole() {
        assert_eq!(
            parse_cookies("a=1; b=%20x"),
            Some(vec![json!(["a", "1"]), json!(["b", " x"])])
        );
        assert_eq!(parse_cookies("a=1; junk"), None);
    }

    #[test]
    fn form_bodies_reject_lookalikes() {
        assert_eq!(form_body("a=1&b=2"), Some(json!({"a": "1", "b": "2"})));
        assert_eq!(form_body("dA=="), None);
        assert_eq!(form_body("plain"), None);
        assert_eq!(form_body("<?xml version=1?>"), None);
    }

    #[test]
    fn percent_decoding_tolerates_broken_escapes() {
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%e2%82%ac", false), "€");
    }
}
