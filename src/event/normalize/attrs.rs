//! Event attributes with their own coercion rules: log entry, fingerprint,
//! release/environment/dist, tags, contexts and `extra`.

use std::collections::HashSet;

use crate::event::json::{Map, Str, Value};

use super::meta::{Path, Recorder};
use super::scalars::{
    json_text, lenient_string, number_text, strict_string, trim_str, truncate_chars, value_json_text,
};

const MAX_TAG_CHARS: usize = 200;
const MAX_RELEASE_BYTES: usize = 200;
const MAX_ENVIRONMENT_BYTES: usize = 64;
const MAX_DIST_CHARS: usize = 64;
/// Longest `logentry.message` and `logentry.formatted` (Relay's limit, in characters).
pub(crate) const MAX_MESSAGE_CHARS: usize = 8192;
/// Formatting stops once the output holds this many bytes: at four bytes per
/// character at most, that is always more than `MAX_MESSAGE_CHARS` characters.
const MAX_MESSAGE_BYTES: usize = 4 * MAX_MESSAGE_CHARS;

/// `logentry` from its object form or a legacy `message` scalar; `formatted`
/// is filled from `message` and `params`.
pub(super) fn normalize_logentry<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    let path = Path::root("logentry");
    let mut entry = match event.remove("logentry") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return,
        Some(Value::Object(entry)) => entry,
        // A legacy message: any other scalar is its text.
        Some(other) => {
            let mut entry = Map::new();
            entry.insert("formatted", Value::String(json_text(other)));
            event.insert("logentry", Value::Object(entry));
            return;
        }
    };
    strict_string(&mut entry, "message", &path, rec);
    strict_string(&mut entry, "formatted", &path, rec);
    // Relay's cap: a message longer than this is cut, whoever rendered it.
    for key in ["message", "formatted"] {
        if let Some(Value::String(text)) = entry.get_mut(key) {
            truncate_chars(text, MAX_MESSAGE_CHARS);
        }
    }
    if entry.values().all(Value::is_null) {
        return;
    }
    let message = entry.get("message").and_then(Value::as_str);
    let formatted = entry.get("formatted").and_then(Value::as_str);
    if message.is_none() && formatted.is_none() {
        rec.invalid(&path, "no message present", Some(Value::Object(entry)));
        event.insert("logentry", Value::Null);
        return;
    }
    if formatted.is_none()
        && let (Some(message), Some(params)) = (message, entry.get("params"))
        && let Some(text) = format_message(message, params)
    {
        entry.insert("formatted", Value::from(text));
    }
    let message = entry.get("message").and_then(Value::as_str);
    let formatted = entry.get("formatted").and_then(Value::as_str);
    if (formatted.is_none() || message == formatted)
        && let Some(message) = entry.remove("message")
    {
        entry.insert("formatted", message);
    }
    event.insert("logentry", Value::Object(entry));
}

/// printf-style formatting: positional `%s`/`%d`/... with array params,
/// `%(name)s` with object params, `%%` as a literal percent. The result is cut at
/// `MAX_MESSAGE_CHARS`; formatting stops as soon as that is reached, so a template
/// repeating a large parameter costs no more than the cap.
fn format_message(template: &str, params: &Value<'_>) -> Option<String> {
    let positional = match params {
        Value::Array(items) if !items.is_empty() => Some(items.as_slice()),
        Value::Object(map) if !map.is_empty() => None,
        _ => return None,
    };
    let mut out = String::with_capacity(template.len().min(MAX_MESSAGE_BYTES) + 16);
    let mut next_param = 0;
    let mut rest = template;
    while let Some(pos) = rest.find('%') {
        if out.len() >= MAX_MESSAGE_BYTES {
            break;
        }
        push_bounded(&mut out, &rest[..pos]);
        let spec = &rest[pos + 1..];
        if let Some(after) = spec.strip_prefix('%') {
            out.push('%');
            rest = after;
            continue;
        }
        let (name, after_name) = match spec.strip_prefix('(') {
            Some(named) => match named.find(')') {
                Some(end) => (Some(&named[..end]), &named[end + 1..]),
                None => (None, spec),
            },
            None => (None, spec),
        };
        let conv_len = conversion_len(after_name);
        let Some(conv_len) = conv_len else {
            out.push('%');
            rest = spec;
            continue;
        };
        let param = match (name, positional, params) {
            (Some(name), _, Value::Object(map)) => map.get(name),
            (None, Some(items), _) => {
                next_param += 1;
                items.get(next_param - 1)
            }
            _ => None,
        };
        let consumed = spec.len() - after_name.len() + conv_len;
        match param {
            Some(Value::String(text)) => push_bounded(&mut out, text),
            Some(value) => push_bounded(&mut out, &param_text(value)),
            None => {
                out.push('%');
                push_bounded(&mut out, &spec[..consumed]);
            }
        }
        rest = &spec[consumed..];
    }
    push_bounded(&mut out, rest);
    let mut out = Str::from(out);
    truncate_chars(&mut out, MAX_MESSAGE_CHARS);
    Some(out.into_string())
}

/// Appends as much of `text` as fits in `MAX_MESSAGE_BYTES`, cut at a character boundary.
fn push_bounded(out: &mut String, text: &str) {
    let room = MAX_MESSAGE_BYTES.saturating_sub(out.len());
    if text.len() <= room {
        out.push_str(text);
        return;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&text[..end]);
}

/// Length of `[flags][width][.precision]conversion`, if `s` starts with one.
fn conversion_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b' ' | b'#' | b'0') {
        i += 1;
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    match bytes.get(i) {
        Some(c) if b"diouxXeEfFgGcrs".contains(c) => Some(i + 1),
        _ => None,
    }
}

fn param_text(value: &Value<'_>) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::String(s) => s.to_string(),
        Value::Number(n) => number_text(n),
        other => value_json_text(other),
    }
}

/// `fingerprint`: a list whose members become text; nulls are dropped.
pub(super) fn normalize_fingerprint<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    let path = Path::root("fingerprint");
    let Some(slot) = event.get_mut("fingerprint") else {
        return;
    };
    match slot.take() {
        Value::Null => {}
        Value::Array(items) => {
            if items
                .iter()
                .any(|item| matches!(item, Value::Array(_) | Value::Object(_)))
            {
                rec.invalid(&path, "expected an array of strings", Some(Value::Array(items)));
                return;
            }
            let out = items
                .into_iter()
                .filter(|item| !item.is_null())
                .map(|scalar| Value::String(lenient_string(scalar).unwrap_or_default()))
                .collect();
            *slot = Value::Array(out);
        }
        other => rec.invalid(&path, "expected an array", Some(other)),
    }
}

/// `release` (text, numbers allowed), `environment` and `dist`: trimmed and
/// validated like Relay; invalid values are nulled and recorded.
pub(super) fn normalize_release_fields<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    for (key, max_len, forbidden, lenient) in [
        (
            "release",
            MAX_RELEASE_BYTES,
            &['\r', '\n', '\x0c', '\x0b', '/', '\\'][..],
            true,
        ),
        (
            "environment",
            MAX_ENVIRONMENT_BYTES,
            &['\r', '\n', '\x0c', '\x0b', '/'][..],
            false,
        ),
    ] {
        let path = Path::root(key);
        let Some(slot) = event.get_mut(key) else {
            continue;
        };
        let mut text = match slot.take() {
            Value::Null => {
                event.remove(key);
                continue;
            }
            Value::String(s) => s,
            other if lenient => match lenient_string(other) {
                Ok(s) => s,
                Err(original) => {
                    rec.invalid(&path, "expected a string", Some(original));
                    continue;
                }
            },
            other => {
                rec.invalid(&path, "expected a string", Some(other));
                continue;
            }
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            event.remove(key);
            continue;
        }
        let restricted =
            key == "release" && (trimmed == "." || trimmed == ".." || trimmed.eq_ignore_ascii_case("latest"));
        if trimmed.len() > max_len || trimmed.contains(forbidden) || restricted {
            rec.error(&path, "invalid_data", Map::new(), Some(Value::String(text)));
            continue;
        }
        trim_str(&mut text);
        *slot = Value::String(text);
    }

    let path = Path::root("dist");
    strict_string(event, "dist", &path, rec);
    if let Some(Value::String(dist)) = event.get_mut("dist") {
        let trimmed = dist.trim();
        if trimmed.is_empty() {
            event.remove("dist");
        } else if trimmed.chars().count() > MAX_DIST_CHARS {
            event.insert("dist", Value::Null);
            rec.error(&path, "value_too_long", Map::new(), None);
        } else if trimmed.len() != dist.len() {
            trim_str(dist);
        }
    }
}

/// Tags reserved for attributes of the event itself.
const RESERVED_TAGS: &[&str] = &["release", "dist", "user", "filename", "function"];

/// `tags` from an object or a pair list into a validated, de-duplicated pair
/// list; an `environment` tag fills a missing environment, and `server_name`
/// and `site` move into the tags.
pub(super) fn normalize_tags<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    let path = Path::root("tags");
    let raw_pairs: Vec<(Str<'a>, Value<'a>)> = match event.remove("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => {
            let mut entries: Vec<(Str<'a>, Value<'a>)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::Array(mut two) if two.len() == 2 => {
                        let value = two.pop().unwrap_or(Value::Null);
                        let key = two.pop().unwrap_or(Value::Null);
                        match lenient_string(key) {
                            Ok(key) => out.push((key, value)),
                            Err(key) => rec.invalid(&path.index(i).index(0), "expected a string", Some(key)),
                        }
                    }
                    Value::Null => {}
                    other => rec.invalid(&path.index(i), "expected a tuple", Some(other)),
                }
            }
            out
        }
        Some(other) => {
            rec.invalid(&path, "expected an object or a list of pairs", Some(other));
            Vec::new()
        }
    };

    let mut tags: Vec<Value<'a>> = Vec::with_capacity(raw_pairs.len() + 2);
    // A set, so that a payload with very many tags stays linear.
    let mut seen: HashSet<Str<'a>> = HashSet::with_capacity(raw_pairs.len());
    let mut environment_tag = None;
    for (raw_key, raw_value) in raw_pairs {
        let mut key = if raw_key.contains(' ') {
            Str::from(raw_key.replace(' ', "-"))
        } else {
            raw_key
        };
        trim_str(&mut key);
        let index = tags.len();
        let entry_path = path.index(index);
        let value = match raw_value {
            Value::Null => Value::Null,
            other => match lenient_string(other) {
                Ok(mut s) => {
                    trim_str(&mut s);
                    Value::String(s)
                }
                Err(original) => {
                    rec.invalid(&entry_path.index(1), "expected a string", Some(original));
                    Value::Null
                }
            },
        };
        if key == "environment" {
            if environment_tag.is_none() {
                environment_tag = Some(value);
            }
            continue;
        }
        if RESERVED_TAGS.contains(&key.as_str()) || seen.contains(key.as_str()) {
            continue;
        }
        if let Some((kind, reason)) = tag_key_problem(&key) {
            let key_path = entry_path.index(0);
            match reason {
                Some(reason) => rec.invalid(&key_path, reason, Some(Value::String(key))),
                None => rec.error(&key_path, kind, Map::new(), None),
            }
            continue;
        }
        let value = match value {
            Value::String(s) if s.is_empty() => {
                rec.invalid(&entry_path.index(1), "expected a non-empty value", None);
                Value::Null
            }
            Value::String(s) if s.chars().count() > MAX_TAG_CHARS => {
                rec.error(&entry_path.index(1), "value_too_long", Map::new(), None);
                Value::Null
            }
            Value::String(s) if s.contains('\n') => {
                rec.invalid(&entry_path.index(1), "invalid character '\\n'", Some(Value::String(s)));
                Value::Null
            }
            other => other,
        };
        seen.insert(key.clone());
        tags.push(Value::Array(vec![Value::String(key), value]));
    }

    if let Some(Value::String(env)) = environment_tag
        && !env.is_empty()
        && !matches!(event.get("environment"), Some(Value::String(_)))
    {
        event.insert("environment", Value::String(env));
    }

    for key in ["server_name", "site"] {
        strict_string(event, key, &Path::root(key), rec);
        match event.remove(key) {
            Some(Value::String(value)) => set_tag(&mut tags, key, value),
            Some(Value::Null) | None => {}
            Some(other) => {
                event.insert(key, other);
            }
        }
    }

    if !tags.is_empty() {
        event.insert("tags", Value::Array(tags));
    }
}

/// Why a tag key is rejected: `(error kind, reason)`.
fn tag_key_problem(key: &str) -> Option<(&'static str, Option<String>)> {
    if key.is_empty() {
        return Some(("invalid_data", Some("expected a non-empty value".to_owned())));
    }
    if key.chars().count() > MAX_TAG_CHARS {
        return Some(("value_too_long", None));
    }
    key.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
        .map(|c| ("invalid_data", Some(format!("invalid character {c:?}"))))
}

fn set_tag<'a>(tags: &mut Vec<Value<'a>>, key: &'a str, value: Str<'a>) {
    let existing = tags
        .iter_mut()
        .find(|t| matches!(t.as_array().and_then(|p| p.first()), Some(Value::String(k)) if k == key));
    let entry = Value::Array(vec![Value::from(key), Value::String(value)]);
    match existing {
        Some(slot) => *slot = entry,
        None => tags.push(entry),
    }
}

/// `contexts`: each context is an object whose `type` defaults to its key;
/// known types get Relay's computed summary fields.
pub(super) fn normalize_contexts<'a>(event: &mut Map<'a>, event_id: &str, rec: &mut Recorder<'a>) {
    let path = Path::root("contexts");
    let mut contexts = match event.remove("contexts") {
        Some(Value::Object(map)) => map,
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            rec.invalid(&path, "expected an object", Some(other));
            Map::new()
        }
    };
    for (name, context) in contexts.iter_mut() {
        match context {
            Value::Object(ctx) => {
                if !matches!(ctx.get("type"), Some(Value::String(_))) {
                    ctx.insert("type", Value::String(name.clone()));
                }
                compute_context(ctx);
            }
            Value::Null => {}
            other => {
                let original = other.take();
                rec.invalid(&path.key(name), "expected an object", Some(original));
            }
        }
    }
    if !contexts.contains_key("trace") {
        // A synthetic trace so every event belongs to a trace.
        let mut trace = Map::new();
        trace.insert("trace_id", Value::from(event_id.to_owned()));
        trace.insert(
            "span_id",
            Value::from(event_id.get(..16).unwrap_or(event_id).to_owned()),
        );
        trace.insert("status", Value::from("unknown"));
        trace.insert("type", Value::from("trace"));
        contexts.insert("trace", Value::Object(trace));
    }
    event.insert("contexts", Value::Object(contexts));
}

fn compute_context(ctx: &mut Map<'_>) {
    let summary_key = match ctx.get("type").and_then(Value::as_str) {
        Some("os") => "os",
        Some("browser") => "browser",
        Some("runtime") => "runtime",
        Some("trace") => {
            if matches!(ctx.get("status"), None | Some(Value::Null)) {
                ctx.insert("status", Value::from("unknown"));
            }
            return;
        }
        _ => return,
    };
    if !matches!(ctx.get(summary_key), None | Some(Value::Null)) {
        return;
    }
    let summary = match (ctx.get("name"), ctx.get("version").and_then(Value::as_str)) {
        (Some(Value::String(name)), Some(version)) => Str::from(format!("{name} {version}")),
        (Some(Value::String(name)), None) if summary_key != "runtime" => name.clone(),
        _ => return,
    };
    ctx.insert(summary_key, Value::String(summary));
}

/// `extra` must be an object; anything else becomes `{}` with an error.
pub(super) fn normalize_extra<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
    match event.get_mut("extra") {
        None | Some(Value::Object(_)) => {}
        Some(Value::Null) => {
            event.remove("extra");
        }
        Some(slot) => {
            let original = std::mem::replace(slot, Value::Object(Map::new()));
            rec.invalid(&Path::root("extra"), "expected an object", Some(original));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    #[test]
    fn messages_format_positional_named_and_literal_percent() {
        assert_eq!(
            format_message("retry %d of %5.2f %%", &json!([2, 5])),
            Some("retry 2 of 5 %".to_owned())
        );
        assert_eq!(
            format_message("user %(name)s!", &json!({"name": "bob"})),
            Some("user bob!".to_owned())
        );
        assert_eq!(
            format_message("%s and %s", &json!(["one"])),
            Some("one and %s".to_owned())
        );
        assert_eq!(format_message("%s", &json!([])), None);
        assert_eq!(format_message("at 100%", &json!([1])), Some("at 100%".to_owned()));
    }

    #[test]
    fn tag_keys_outside_the_allowed_set_are_rejected() {
        assert!(tag_key_problem("ok.key:1-x_y").is_none());
        assert_eq!(
            tag_key_problem("bad!"),
            Some(("invalid_data", Some("invalid character '!'".to_owned())))
        );
        assert_eq!(tag_key_problem(&"k".repeat(201)), Some(("value_too_long", None)));
    }
}
