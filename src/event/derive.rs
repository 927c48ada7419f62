//! What the store indexes besides the payload, derived from a normalized event: the
//! distinct-user key, the tags an issue aggregates and the trace id. One pass over the
//! event's top level and one over its contexts pick out the fields; nothing is looked up
//! by path.

use crate::event::json::{Map, Value};

/// Longest tag value kept, in bytes (cut at a character boundary).
const TAG_VALUE_BYTES: usize = 200;

/// The derived fields of one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// `id:…`, `email:…`, `username:…` or `ip:…`, the first the user has.
    pub user_key: Option<String>,
    /// Built-in keys first (see `tag_pairs`), then the event's own tags; one value per key.
    pub tags: Vec<(String, String)>,
    pub trace_id: Option<String>,
}

/// The parts of the event the derivation reads, found in one pass.
#[derive(Default)]
struct Fields<'a> {
    level: Option<&'a Value<'a>>,
    release: Option<&'a Value<'a>>,
    environment: Option<&'a Value<'a>>,
    server_name: Option<&'a Value<'a>>,
    transaction: Option<&'a Value<'a>>,
    logger: Option<&'a Value<'a>>,
    dist: Option<&'a Value<'a>>,
    request: Option<&'a Value<'a>>,
    exception: Option<&'a Value<'a>>,
    user: Option<&'a Value<'a>>,
    tags: Option<&'a Value<'a>>,
    os: Option<&'a Map<'a>>,
    browser: Option<&'a Map<'a>>,
    runtime: Option<&'a Map<'a>>,
    device: Option<&'a Map<'a>>,
    trace: Option<&'a Map<'a>>,
}

impl<'a> Fields<'a> {
    fn of(event: &'a Value) -> Self {
        let mut fields = Fields::default();
        let Some(top) = event.as_object() else {
            return fields;
        };
        for (key, value) in top {
            match key.as_str() {
                "level" => fields.level = Some(value),
                "release" => fields.release = Some(value),
                "environment" => fields.environment = Some(value),
                "server_name" => fields.server_name = Some(value),
                "transaction" => fields.transaction = Some(value),
                "logger" => fields.logger = Some(value),
                "dist" => fields.dist = Some(value),
                "request" => fields.request = Some(value),
                "exception" => fields.exception = Some(value),
                "user" => fields.user = Some(value),
                "tags" => fields.tags = Some(value),
                "contexts" => fields.contexts(value),
                _ => {}
            }
        }
        fields
    }

    fn contexts(&mut self, contexts: &'a Value) {
        let Some(contexts) = contexts.as_object() else {
            return;
        };
        for (key, value) in contexts {
            let slot = match key.as_str() {
                "os" => &mut self.os,
                "browser" => &mut self.browser,
                "runtime" => &mut self.runtime,
                "device" => &mut self.device,
                "trace" => &mut self.trace,
                _ => continue,
            };
            *slot = value.as_object();
        }
    }
}

fn text<'a>(value: Option<&'a Value<'_>>) -> Option<&'a str> {
    value.and_then(Value::as_str)
}

fn field<'a>(map: Option<&'a Map<'a>>, key: &str) -> Option<&'a str> {
    map.and_then(|m| m.get(key)).and_then(Value::as_str)
}

/// Derives the user key, tags and trace id of a normalized event.
pub fn derive(event: &Value) -> Derived {
    let fields = Fields::of(event);
    let user_key = user_key(fields.user);
    let tags = tags(&fields, user_key.as_deref());
    let trace_id = field(fields.trace, "trace_id").map(String::from);
    Derived {
        user_key,
        tags,
        trace_id,
    }
}

/// The distinct-user key: the first of id, email, username, ip address.
pub fn user_key(user: Option<&Value>) -> Option<String> {
    let user = user?.as_object()?;
    for (field, prefix) in [
        ("id", "id"),
        ("email", "email"),
        ("username", "username"),
        ("ip_address", "ip"),
    ] {
        match user.get(field) {
            Some(Value::String(s)) if !s.is_empty() => return Some(format!("{prefix}:{s}")),
            Some(Value::Number(n)) => return Some(format!("{prefix}:{n}")),
            _ => {}
        }
    }
    None
}

/// The tags an issue aggregates: the built-in keys (level, release, environment,
/// server_name, transaction, logger, dist, url, os.name, browser.name, runtime, browser,
/// device, handled, mechanism, user), then the event's own tags; the first value of a
/// key wins.
pub fn tag_pairs(event: &Value) -> Vec<(String, String)> {
    derive(event).tags
}

fn tags(fields: &Fields<'_>, user: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty())
            && !out.iter().any(|(key, _)| key == k)
        {
            out.push((k.to_string(), truncate(v, TAG_VALUE_BYTES)));
        }
    };
    push("level", text(fields.level));
    push("release", text(fields.release));
    push("environment", text(fields.environment));
    push("server_name", text(fields.server_name));
    push("transaction", text(fields.transaction));
    push("logger", text(fields.logger));
    push("dist", text(fields.dist));
    push("url", field(fields.request.and_then(Value::as_object), "url"));
    push("os.name", field(fields.os, "name"));
    push("browser.name", field(fields.browser, "name"));
    push("runtime", name_version(fields.runtime).as_deref());
    push("browser", name_version(fields.browser).as_deref());
    push("device", field(fields.device, "model"));
    if let Some(exception) = fields
        .exception
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
        .and_then(|v| v.last())
        && let Some(mechanism) = exception.get("mechanism")
    {
        let handled = mechanism.get("handled").and_then(Value::as_bool);
        push("handled", handled.map(|h| if h { "yes" } else { "no" }));
        push("mechanism", mechanism.get("type").and_then(Value::as_str));
    }
    push("user", user);
    match fields.tags {
        Some(Value::Array(tags)) => {
            for pair in tags {
                if let Some([Value::String(k), Value::String(v)]) = pair.as_array().map(Vec::as_slice) {
                    // Stored `sentry:user|release|dist` are exposed unprefixed.
                    let key = k.strip_prefix("sentry:").unwrap_or(k);
                    push(key, Some(v));
                }
            }
        }
        Some(Value::Object(tags)) => {
            for (k, v) in tags {
                push(k, v.as_str());
            }
        }
        _ => {}
    }
    out
}

/// `name version` of a runtime or browser context, or its name alone.
fn name_version(context: Option<&Map>) -> Option<String> {
    let name = field(context, "name")?;
    Some(match field(context, "version") {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    #[test]
    fn user_key_prefers_id_then_email() {
        let user = json!({"email": "a@example.com", "id": 7});
        assert_eq!(user_key(Some(&user)).as_deref(), Some("id:7"));
        let user = json!({"email": "a@example.com"});
        assert_eq!(user_key(Some(&user)).as_deref(), Some("email:a@example.com"));
        assert_eq!(user_key(Some(&json!({}))), None);
    }

    #[test]
    fn tag_pairs_include_builtins_and_event_tags_once() {
        let event = json!({
            "level": "error", "release": "r1",
            "tags": [["release", "other"], ["browser", "Firefox"], ["sentry:user", "id:1"]],
        });
        let tags = tag_pairs(&event);
        assert!(tags.contains(&("level".into(), "error".into())));
        assert!(tags.contains(&("release".into(), "r1".into())));
        assert!(!tags.contains(&("release".into(), "other".into())));
        assert!(tags.contains(&("browser".into(), "Firefox".into())));
        assert!(tags.contains(&("user".into(), "id:1".into())));
    }

    #[test]
    fn every_builtin_key_in_order_then_the_event_tags() {
        let long = "é".repeat(150);
        let event = json!({
            "level": "warning", "release": "r2", "environment": "prod", "server_name": "web-1",
            "transaction": "/orders", "logger": "app", "dist": "7",
            "request": {"url": "https://example.com/orders"},
            "contexts": {
                "os": {"name": "Linux"}, "browser": {"name": "Firefox", "version": "120"},
                "runtime": {"name": "CPython"}, "device": {"model": "Pixel"},
                "trace": {"trace_id": "abc"},
            },
            "exception": {"values": [{"type": "A"}, {"type": "B", "mechanism": {"type": "generic", "handled": false}}]},
            "user": {"ip_address": "10.0.0.1"},
            "tags": {"custom": "yes", "level": "ignored", "empty": "", "long": long},
        });
        let derived = derive(&event);
        let keys: Vec<&str> = derived.tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "level",
                "release",
                "environment",
                "server_name",
                "transaction",
                "logger",
                "dist",
                "url",
                "os.name",
                "browser.name",
                "runtime",
                "browser",
                "device",
                "handled",
                "mechanism",
                "user",
                "custom",
                "long",
            ]
        );
        let value = |k: &str| derived.tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(value("browser"), Some("Firefox 120"));
        assert_eq!(value("runtime"), Some("CPython"));
        assert_eq!(value("handled"), Some("no"));
        assert_eq!(value("level"), Some("warning"));
        assert_eq!(value("long").map(str::len), Some(200));
        assert_eq!(derived.user_key.as_deref(), Some("ip:10.0.0.1"));
        assert_eq!(derived.trace_id.as_deref(), Some("abc"));
    }

    #[test]
    fn events_of_other_shapes_derive_nothing() {
        assert_eq!(derive(&json!([1, 2])), Derived::default());
        let odd = json!({"contexts": "x", "tags": 3, "exception": {"values": "x"}, "user": "u"});
        assert_eq!(derive(&odd), Derived::default());
    }
}
