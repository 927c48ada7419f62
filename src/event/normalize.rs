//! Normalization: every payload shape SDKs have ever sent becomes one canonical
//! event (Relay's normalized shape), so scrubbing, grouping and storage see one form.
//!
//! Rejected values never fail the event: they are dropped or defaulted and
//! recorded in `errors` and `_meta` (with the original value), as Relay does.
//! Unknown top-level keys and a client's own `_meta` are kept.

mod attrs {
    //! Event attributes with their own coercion rules: log entry, fingerprint,
    //! release/environment/dist, tags, contexts and `extra`.

    use serde_json::{Map, Value};

    use super::meta::{Path, Recorder};
    use super::scalars::{json_text, lenient_string, number_text, strict_string, truncate_chars};

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
    pub(super) fn normalize_logentry(event: &mut Map<String, Value>, rec: &mut Recorder) {
        let path = Path::root("logentry");
        let mut entry = match event.remove("logentry") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => return,
            Some(Value::Object(entry)) => entry,
            // A legacy message: any other scalar is its text.
            Some(other) => {
                let mut entry = Map::new();
                entry.insert("formatted".to_owned(), Value::String(json_text(other)));
                event.insert("logentry".to_owned(), Value::Object(entry));
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
            event.insert("logentry".to_owned(), Value::Null);
            return;
        }
        if formatted.is_none()
            && let (Some(message), Some(params)) = (message, entry.get("params"))
            && let Some(text) = format_message(message, params)
        {
            entry.insert("formatted".to_owned(), Value::String(text));
        }
        let message = entry.get("message").and_then(Value::as_str);
        let formatted = entry.get("formatted").and_then(Value::as_str);
        if (formatted.is_none() || message == formatted)
            && let Some(message) = entry.remove("message")
        {
            entry.insert("formatted".to_owned(), message);
        }
        event.insert("logentry".to_owned(), Value::Object(entry));
    }

    /// printf-style formatting: positional `%s`/`%d`/... with array params,
    /// `%(name)s` with object params, `%%` as a literal percent. The result is cut at
    /// `MAX_MESSAGE_CHARS`; formatting stops as soon as that is reached, so a template
    /// repeating a large parameter costs no more than the cap.
    fn format_message(template: &str, params: &Value) -> Option<String> {
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
        truncate_chars(&mut out, MAX_MESSAGE_CHARS);
        Some(out)
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

    fn param_text(value: &Value) -> String {
        match value {
            Value::Null => "None".to_owned(),
            Value::Bool(true) => "True".to_owned(),
            Value::Bool(false) => "False".to_owned(),
            Value::String(s) => s.clone(),
            Value::Number(n) => number_text(n),
            other => json_text(other.clone()),
        }
    }

    /// `fingerprint`: a list whose members become text; nulls are dropped.
    pub(super) fn normalize_fingerprint(event: &mut Map<String, Value>, rec: &mut Recorder) {
        let path = Path::root("fingerprint");
        let Some(slot) = event.get_mut("fingerprint") else {
            return;
        };
        match slot.take() {
            Value::Null => {}
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in &items {
                    match item {
                        Value::Null => {}
                        Value::Array(_) | Value::Object(_) => {
                            rec.invalid(&path, "expected an array of strings", Some(Value::Array(items)));
                            return;
                        }
                        scalar => out.push(Value::String(lenient_string(scalar.clone()).unwrap_or_default())),
                    }
                }
                *slot = Value::Array(out);
            }
            other => rec.invalid(&path, "expected an array", Some(other)),
        }
    }

    /// `release` (text, numbers allowed), `environment` and `dist`: trimmed and
    /// validated like Relay; invalid values are nulled and recorded.
    pub(super) fn normalize_release_fields(event: &mut Map<String, Value>, rec: &mut Recorder) {
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
            let text = match slot.take() {
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
            *slot = Value::String(trimmed.to_owned());
        }

        let path = Path::root("dist");
        strict_string(event, "dist", &path, rec);
        if let Some(Value::String(dist)) = event.get_mut("dist") {
            let trimmed = dist.trim();
            if trimmed.is_empty() {
                event.remove("dist");
            } else if trimmed.chars().count() > MAX_DIST_CHARS {
                event.insert("dist".to_owned(), Value::Null);
                rec.error(&path, "value_too_long", Map::new(), None);
            } else if trimmed.len() != dist.len() {
                *dist = trimmed.to_owned();
            }
        }
    }

    /// Tags reserved for attributes of the event itself.
    const RESERVED_TAGS: &[&str] = &["release", "dist", "user", "filename", "function"];

    /// `tags` from an object or a pair list into a validated, de-duplicated pair
    /// list; an `environment` tag fills a missing environment, and `server_name`
    /// and `site` move into the tags.
    pub(super) fn normalize_tags(event: &mut Map<String, Value>, rec: &mut Recorder) {
        let path = Path::root("tags");
        let raw_pairs: Vec<(String, Value)> = match event.remove("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
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

        let mut tags: Vec<Value> = Vec::with_capacity(raw_pairs.len() + 2);
        // A set, so that a payload with very many tags stays linear.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::with_capacity(raw_pairs.len());
        let mut environment_tag = None;
        for (raw_key, raw_value) in raw_pairs {
            let key = raw_key.replace(' ', "-").trim().to_owned();
            let index = tags.len();
            let entry_path = path.index(index);
            let value = match raw_value {
                Value::Null => Value::Null,
                other => match lenient_string(other) {
                    Ok(s) => Value::String(s.trim().to_owned()),
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
            if RESERVED_TAGS.contains(&key.as_str()) || seen.contains(&key) {
                continue;
            }
            if let Some((kind, reason)) = tag_key_problem(&key) {
                let key_path = entry_path.index(0);
                match reason {
                    Some(reason) => rec.invalid(&key_path, &reason, Some(Value::String(key))),
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
            event.insert("environment".to_owned(), Value::String(env));
        }

        for key in ["server_name", "site"] {
            strict_string(event, key, &Path::root(key), rec);
            match event.remove(key) {
                Some(Value::String(value)) => set_tag(&mut tags, key, value),
                Some(Value::Null) | None => {}
                Some(other) => {
                    event.insert(key.to_owned(), other);
                }
            }
        }

        if !tags.is_empty() {
            event.insert("tags".to_owned(), Value::Array(tags));
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

    fn set_tag(tags: &mut Vec<Value>, key: &str, value: String) {
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
    pub(super) fn normalize_contexts(event: &mut Map<String, Value>, event_id: &str, rec: &mut Recorder) {
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
                        ctx.insert("type".to_owned(), Value::String(name.clone()));
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
            trace.insert("trace_id".to_owned(), Value::from(event_id));
            trace.insert(
                "span_id".to_owned(),
                Value::from(event_id.get(..16).unwrap_or(event_id)),
            );
            trace.insert("status".to_owned(), Value::from("unknown"));
            trace.insert("type".to_owned(), Value::from("trace"));
            contexts.insert("trace".to_owned(), Value::Object(trace));
        }
        event.insert("contexts".to_owned(), Value::Object(contexts));
    }

    fn compute_context(ctx: &mut Map<String, Value>) {
        let summary_key = match ctx.get("type").and_then(Value::as_str) {
            Some("os") => "os",
            Some("browser") => "browser",
            Some("runtime") => "runtime",
            Some("trace") => {
                if matches!(ctx.get("status"), None | Some(Value::Null)) {
                    ctx.insert("status".to_owned(), Value::from("unknown"));
                }
                return;
            }
            _ => return,
        };
        if !matches!(ctx.get(summary_key), None | Some(Value::Null)) {
            return;
        }
        let summary = match (
            ctx.get("name").and_then(Value::as_str),
            ctx.get("version").and_then(Value::as_str),
        ) {
            (Some(name), Some(version)) => format!("{name} {version}"),
            (Some(name), None) if summary_key != "runtime" => name.to_owned(),
            _ => return,
        };
        ctx.insert(summary_key.to_owned(), Value::String(summary));
    }

    /// `extra` must be an object; anything else becomes `{}` with an error.
    pub(super) fn normalize_extra(event: &mut Map<String, Value>, rec: &mut Recorder) {
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
        use serde_json::json;

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
}

mod http {
    //! The `request` and `user` interfaces and the IP address rules between them:
    //! query strings, cookies and headers become pair lists, the query and fragment
    //! are split off the URL, the `Cookie` header moves into `cookies`, string
    //! bodies are parsed, and `{{auto}}` / `REMOTE_ADDR` fill the user's IP.

    use std::net::IpAddr;

    use serde_json::{Map, Value};

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

    pub(super) fn normalize_request(event: &mut Map<String, Value>, rec: &mut Recorder) {
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
            method.make_ascii_uppercase();
            let valid = (3..=32).contains(&method.len())
                && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
            if !valid {
                let original = req.insert("method".to_owned(), Value::Null);
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
    fn pairs_field(
        obj: &mut Map<String, Value>,
        key: &str,
        parent: &Path<'_>,
        rec: &mut Recorder,
        mode: PairValues,
        parse: fn(&str) -> Option<Vec<Value>>,
    ) {
        let Some(slot) = obj.get_mut(key) else {
            return;
        };
        let path = parent.key(key);
        let pairs = match slot.take() {
            Value::Null => return,
            Value::Object(map) => {
                // Object keys come out sorted, like Relay's ordered maps.
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
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

    fn pair(key: String, value: Value) -> Value {
        Value::Array(vec![Value::String(key), value])
    }

    /// `[k, v]` with a key that is text; anything else is handed back.
    fn split_pair(item: Value) -> Result<(String, Value), Value> {
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

    fn coerce_pair_value(value: Value, mode: PairValues) -> Value {
        match (value, mode) {
            (Value::Null, _) => Value::Null,
            (Value::String(s), _) => Value::String(s),
            (other, PairValues::JsonText) => Value::String(json_text(other)),
            (Value::Array(items), PairValues::Header) => {
                Value::String(items.into_iter().map(json_text).collect::<Vec<_>>().join(","))
            }
            (other, _) => Value::String(lenient_string(other).unwrap_or_else(json_text)),
        }
    }

    /// Parses `a=1&b=2` (leading `?` allowed) into pairs, form-decoding both halves.
    fn parse_query(raw: &str) -> Option<Vec<Value>> {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        Some(
            raw.split('&')
                .filter(|part| !part.is_empty())
                .map(|part| {
                    let (k, v) = part.split_once('=').unwrap_or((part, ""));
                    pair(form_decode(k), Value::String(form_decode(v)))
                })
                .collect(),
        )
    }

    /// Parses a `Cookie` header (`a=1; b=2`); a part without `=` fails the whole header.
    fn parse_cookies(raw: &str) -> Option<Vec<Value>> {
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
                    Value::String(percent_decode(value.trim(), false)),
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
    fn split_url(req: &mut Map<String, Value>) {
        let Some(Value::String(url)) = req.get_mut("url") else {
            return;
        };
        // Old browser SDKs marked truncated URLs with an ellipsis character.
        if let Some(stripped) = url.strip_suffix('\u{2026}') {
            *url = format!("{stripped}...");
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
            req.insert("fragment".to_owned(), Value::String(fragment));
        }
        if let Some(query) = query
            && matches!(req.get("query_string"), None | Some(Value::Null))
        {
            req.insert("query_string".to_owned(), Value::Array(query));
        }
    }

    /// A string body that is JSON or form data is parsed, and its content type
    /// inferred; otherwise the `Content-Type` header (without parameters) is used.
    fn infer_body(req: &mut Map<String, Value>) {
        let parsed = match req.get("data") {
            Some(Value::String(raw)) => serde_json::from_str::<Value>(raw)
                .ok()
                .map(|v| ("application/json", v))
                .or_else(|| form_body(raw).map(|v| ("application/x-www-form-urlencoded", v))),
            _ => None,
        };
        let inferred = match parsed {
            Some((content_type, value)) => {
                req.insert("data".to_owned(), value);
                Some(content_type.to_owned())
            }
            None => header_value(req, "content-type").map(|v| v.split(';').next().unwrap_or(v).trim().to_owned()),
        };
        match inferred {
            Some(ct) => req.insert("inferred_content_type".to_owned(), Value::String(ct)),
            None => req.remove("inferred_content_type"),
        };
    }

    /// Form-urlencoded bodies, guarding against the false positives Relay guards against.
    fn form_body(raw: &str) -> Option<Value> {
        if !raw.is_ascii() || raw.starts_with("<?xml") || raw.starts_with(['{', '[']) {
            return None;
        }
        let mut map = Map::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            map.insert(form_decode(k), Value::String(form_decode(v)));
        }
        let valid = map.len() > 1
            || map
                .values()
                .next()
                .and_then(Value::as_str)
                .is_some_and(|v| !matches!(v, "" | "="));
        valid.then_some(Value::Object(map))
    }

    fn header_value<'r>(req: &'r Map<String, Value>, name: &str) -> Option<&'r str> {
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
    fn move_cookie_header(req: &mut Map<String, Value>) {
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
            req.insert("cookies".to_owned(), Value::Array(pairs));
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

    pub(super) fn normalize_user(event: &mut Map<String, Value>, rec: &mut Recorder) {
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

        let extra_keys: Vec<String> = user
            .keys()
            .filter(|k| !USER_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !extra_keys.is_empty() {
            let mut moved = Map::new();
            for key in extra_keys {
                if let Some(v) = user.remove(&key) {
                    moved.insert(key, v);
                }
            }
            match user.get_mut("data") {
                Some(Value::Object(data)) => data.extend(moved),
                _ => {
                    user.insert("data".to_owned(), Value::Object(moved));
                }
            }
        }
    }

    /// `{{auto}}` becomes the client address (or is removed when inference is off),
    /// and a valid `REMOTE_ADDR` fills a missing user IP. Then `sentry_user` is set.
    pub(super) fn apply_ip_rules(event: &mut Map<String, Value>, ctx: &NormalizeContext) {
        let client_ip = ctx.client_ip.as_deref().filter(|_| ctx.infer_ip);

        let mut remote_addr = None;
        if let Some(Value::Object(req)) = event.get_mut("request")
            && let Some(Value::Object(env)) = req.get_mut("env")
        {
            if matches!(env.get("REMOTE_ADDR"), Some(Value::String(s)) if s == AUTO_IP) {
                match client_ip {
                    Some(ip) => env.insert("REMOTE_ADDR".to_owned(), Value::from(ip)),
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
                Some(ip) => user.insert("ip_address".to_owned(), Value::from(ip)),
                None => user.remove("ip_address"),
            };
        }

        if let Some(addr) = remote_addr {
            let user = event.entry("user").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(user) = user
                && matches!(user.get("ip_address"), None | Some(Value::Null))
            {
                user.insert("ip_address".to_owned(), Value::String(addr));
            }
        }

        if let Some(Value::Object(user)) = event.get_mut("user") {
            let tag = ["id", "username", "email", "ip_address"]
                .iter()
                .find_map(|key| match user.get(*key) {
                    Some(Value::String(v)) if !v.is_empty() => {
                        let prefix = if *key == "ip_address" { "ip" } else { key };
                        Some(format!("{prefix}:{v}"))
                    }
                    _ => None,
                });
            match tag {
                Some(tag) => user.insert("sentry_user".to_owned(), Value::String(tag)),
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
        use serde_json::json;

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
}

mod meta {
    //! Records what normalization rejected, then writes it into the event the way
    //! Relay does: one entry per problem in `errors`, and the same problem plus the
    //! original value under `_meta` at the field's path.

    use serde_json::{Map, Value};

    /// One step of a path into the event.
    #[derive(Clone, Copy)]
    pub(super) enum Seg<'a> {
        Key(&'a str),
        Index(usize),
    }

    /// A path into the event, built on the stack as a linked list so that the
    /// happy path never allocates; it is turned into strings only on error.
    #[derive(Clone, Copy)]
    pub(super) struct Path<'a> {
        parent: Option<&'a Path<'a>>,
        seg: Seg<'a>,
    }

    impl<'a> Path<'a> {
        pub(super) fn root(key: &'a str) -> Self {
            Path {
                parent: None,
                seg: Seg::Key(key),
            }
        }

        pub(super) fn key(&'a self, key: &'a str) -> Path<'a> {
            Path {
                parent: Some(self),
                seg: Seg::Key(key),
            }
        }

        pub(super) fn index(&'a self, index: usize) -> Path<'a> {
            Path {
                parent: Some(self),
                seg: Seg::Index(index),
            }
        }

        fn segments(&self) -> Vec<String> {
            let mut out = Vec::new();
            let mut node = Some(self);
            while let Some(p) = node {
                out.push(match p.seg {
                    Seg::Key(k) => k.to_owned(),
                    Seg::Index(i) => i.to_string(),
                });
                node = p.parent;
            }
            out.reverse();
            out
        }
    }

    struct Entry {
        segs: Vec<String>,
        /// `None` for a bare remark that only keeps the original value.
        kind: Option<&'static str>,
        data: Map<String, Value>,
        original: Option<Value>,
    }

    /// Collects rejected values while the event is being normalized.
    #[derive(Default)]
    pub(super) struct Recorder {
        entries: Vec<Entry>,
    }

    impl Recorder {
        /// `invalid_data` with a reason, keeping the original value if given.
        pub(super) fn invalid(&mut self, path: &Path<'_>, reason: &str, original: Option<Value>) {
            let mut data = Map::new();
            data.insert("reason".to_owned(), Value::String(reason.to_owned()));
            self.push(path, Some("invalid_data"), data, original);
        }

        /// An error of any kind with extra data fields.
        pub(super) fn error(
            &mut self,
            path: &Path<'_>,
            kind: &'static str,
            data: Map<String, Value>,
            original: Option<Value>,
        ) {
            self.push(path, Some(kind), data, original);
        }

        /// Keeps an original value that was replaced without it being an error.
        pub(super) fn remark(&mut self, path: &Path<'_>, original: Value) {
            self.push(path, None, Map::new(), Some(original));
        }

        fn push(
            &mut self,
            path: &Path<'_>,
            kind: Option<&'static str>,
            data: Map<String, Value>,
            original: Option<Value>,
        ) {
            self.entries.push(Entry {
                segs: path.segments(),
                kind,
                data,
                original,
            });
        }

        /// Writes `errors` and `_meta` into the event. Entries are ordered by the
        /// position of their top-level field in Relay's event schema, keeping the
        /// order of recording within a field.
        pub(super) fn finish(mut self, event: &mut Map<String, Value>) {
            if self.entries.is_empty() {
                return;
            }
            self.entries
                .sort_by_key(|e| field_rank(e.segs.first().map(String::as_str).unwrap_or("")));

            let mut new_errors = Vec::new();
            let mut meta = match event.remove("_meta") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for entry in self.entries {
                let mut node_meta = Map::new();
                if let Some(kind) = entry.kind {
                    let mut err = Map::new();
                    err.insert("type".to_owned(), Value::String(kind.to_owned()));
                    err.insert("name".to_owned(), Value::String(entry.segs.join(".")));
                    if let Some(original) = &entry.original {
                        err.insert("value".to_owned(), original.clone());
                    }
                    for (k, v) in &entry.data {
                        err.insert(k.clone(), v.clone());
                    }
                    new_errors.push(Value::Object(err));
                    let meta_err = if entry.data.is_empty() {
                        Value::Array(vec![Value::String(kind.to_owned())])
                    } else {
                        Value::Array(vec![Value::String(kind.to_owned()), Value::Object(entry.data)])
                    };
                    node_meta.insert("err".to_owned(), Value::Array(vec![meta_err]));
                }
                if let Some(original) = entry.original {
                    node_meta.insert("val".to_owned(), original);
                }
                merge_meta(&mut meta, &entry.segs, node_meta);
            }

            match event.get_mut("errors") {
                Some(Value::Array(existing)) => existing.extend(new_errors),
                _ => {
                    if !new_errors.is_empty() {
                        event.insert("errors".to_owned(), Value::Array(new_errors));
                    }
                }
            }
            event.insert("_meta".to_owned(), Value::Object(meta));
        }
    }

    /// Places `node_meta` under `segs` and then `""`, merging error lists.
    fn merge_meta(meta: &mut Map<String, Value>, segs: &[String], node_meta: Map<String, Value>) {
        let mut current = meta;
        for seg in segs.iter().map(String::as_str).chain(std::iter::once("")) {
            let slot = current
                .entry(seg.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(next) = slot else {
                return;
            };
            current = next;
        }
        for (key, value) in node_meta {
            match (key.as_str(), current.get_mut(&key), value) {
                ("err", Some(Value::Array(existing)), Value::Array(more)) => existing.extend(more),
                (_, _, value) => {
                    current.insert(key, value);
                }
            }
        }
    }

    /// Relay's top-level field order, which decides the order of `errors`.
    fn field_rank(field: &str) -> usize {
        const ORDER: &[&str] = &[
            "event_id",
            "level",
            "version",
            "type",
            "fingerprint",
            "culprit",
            "transaction",
            "transaction_info",
            "time_spent",
            "logentry",
            "logger",
            "modules",
            "platform",
            "timestamp",
            "start_timestamp",
            "received",
            "server_name",
            "release",
            "dist",
            "environment",
            "site",
            "user",
            "request",
            "contexts",
            "breadcrumbs",
            "exception",
            "stacktrace",
            "template",
            "threads",
            "tags",
            "extra",
            "debug_meta",
            "sdk",
        ];
        ORDER.iter().position(|f| *f == field).unwrap_or(ORDER.len())
    }
}

mod scalars {
    //! Scalar coercions shared by every part of the event: timestamps, levels,
    //! event ids, and the strict/lenient string rules of Relay's schema.

    use chrono::{DateTime, NaiveDateTime};
    use serde_json::{Map, Number, Value};

    use super::meta::{Path, Recorder};

    /// Latest instant accepted as a timestamp (9999-12-31T23:59:59Z).
    const MAX_TIMESTAMP_SECS: f64 = 253_402_300_799.0;
    /// Nesting bound for values turned into JSON text.
    const MAX_TEXT_DEPTH: usize = 128;

    /// Parses a wire timestamp into Unix seconds with microsecond precision.
    pub(super) fn parse_timestamp(value: &Value) -> Option<f64> {
        match value {
            Value::Number(n) => {
                let secs = n.as_f64()?;
                if !secs.is_finite() || secs.abs() > MAX_TIMESTAMP_SECS {
                    return None;
                }
                Some((secs * 1_000_000.0).round() / 1_000_000.0)
            }
            Value::String(s) => parse_timestamp_str(s.trim()),
            _ => None,
        }
    }

    fn parse_timestamp_str(s: &str) -> Option<f64> {
        let (secs, micros) = if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            (dt.timestamp(), dt.timestamp_subsec_micros())
        } else {
            // A timestamp without a zone is UTC.
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .ok()?;
            let dt = naive.and_utc();
            (dt.timestamp(), dt.timestamp_subsec_micros())
        };
        let secs = secs as f64;
        if secs.abs() > MAX_TIMESTAMP_SECS {
            return None;
        }
        // Exact integer micros divided once: the nearest double to the decimal value.
        Some((secs * 1_000_000.0 + f64::from(micros.min(999_999))) / 1_000_000.0)
    }

    /// Unix seconds as a JSON number.
    pub(super) fn seconds_value(secs: f64) -> Value {
        Number::from_f64(secs).map_or(Value::Null, Value::Number)
    }

    /// RFC 3339 text of Unix seconds, for error data.
    pub(super) fn rfc3339(secs: f64) -> String {
        let whole = secs.floor();
        let nanos = ((secs - whole) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
        DateTime::from_timestamp(whole as i64, nanos)
            .map(|dt| dt.to_rfc3339())
            .unwrap_or_default()
    }

    /// Maps a wire level to its canonical name, or the rejection reason.
    pub(super) fn parse_level(value: &Value) -> Result<&'static str, &'static str> {
        match value {
            Value::String(s) => match s.as_str() {
                "debug" => Ok("debug"),
                "info" | "log" => Ok("info"),
                "warning" => Ok("warning"),
                "error" => Ok("error"),
                "fatal" | "critical" => Ok("fatal"),
                _ => Err("invalid level"),
            },
            // Python logging's numeric levels.
            Value::Number(n) => match n.as_u64() {
                Some(10) => Ok("debug"),
                Some(20) => Ok("info"),
                Some(30) => Ok("warning"),
                Some(40) => Ok("error"),
                Some(50) => Ok("fatal"),
                _ => Err("invalid level"),
            },
            _ => Err("expected a level"),
        }
    }

    /// Parses an event id (32 hex digits, or hyphenated, braced or `urn:uuid:`
    /// forms, any case) into 32 lowercase hex digits.
    pub(super) fn parse_event_id(raw: &str) -> Result<String, String> {
        for (i, c) in raw.chars().enumerate() {
            if !(c.is_ascii_hexdigit() || matches!(c, '-' | '{' | '}' | ':')) {
                return Err(format!("invalid character: found `{c}` at {i}"));
            }
        }
        let inner = raw
            .strip_prefix("urn:uuid:")
            .or_else(|| raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')))
            .unwrap_or(raw);
        let hex: String = match inner.len() {
            32 => inner.to_owned(),
            36 => {
                let bytes = inner.as_bytes();
                let dashes_ok = [8, 13, 18, 23].iter().all(|&i| bytes.get(i) == Some(&b'-'));
                if !dashes_ok {
                    return Err("invalid group structure: expected 8-4-4-4-12 hex digits".to_owned());
                }
                inner.chars().filter(|&c| c != '-').collect()
            }
            n => {
                return Err(format!("invalid length: expected 32 or 36 characters, found {n}"));
            }
        };
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("invalid format: expected 32 hex digits".to_owned());
        }
        Ok(hex.to_ascii_lowercase())
    }

    /// A fresh random event id, 32 lowercase hex digits.
    pub(super) fn fresh_event_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// Text of a number the way Relay's lenient strings render it.
    pub(super) fn number_text(n: &Number) -> String {
        if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            n.as_f64().map(|f| f.to_string()).unwrap_or_default()
        }
    }

    /// Lenient string: strings as-is, numbers as text, booleans as `True`/`False`.
    pub(super) fn lenient_string(value: Value) -> Result<String, Value> {
        match value {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(number_text(&n)),
            Value::Bool(true) => Ok("True".to_owned()),
            Value::Bool(false) => Ok("False".to_owned()),
            other => Err(other),
        }
    }

    /// JSON-lenient string: strings as-is, anything else as its JSON text.
    pub(super) fn json_text(value: Value) -> String {
        match value {
            Value::String(s) => s,
            other => {
                if depth_exceeds(&other, MAX_TEXT_DEPTH) {
                    "<value nested too deeply>".to_owned()
                } else {
                    serde_json::to_string(&other).unwrap_or_default()
                }
            }
        }
    }

    /// True when `value` nests deeper than `limit` (bounded recursion).
    pub(super) fn depth_exceeds(value: &Value, limit: usize) -> bool {
        if limit == 0 {
            return matches!(value, Value::Array(_) | Value::Object(_));
        }
        match value {
            Value::Array(items) => items.iter().any(|v| depth_exceeds(v, limit - 1)),
            Value::Object(map) => map.values().any(|v| depth_exceeds(v, limit - 1)),
            _ => false,
        }
    }

    /// Requires `obj[key]` to be a string (or null); anything else is nulled and recorded.
    pub(super) fn strict_string(obj: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        if let Some(slot) = obj.get_mut(key)
            && !matches!(slot, Value::String(_) | Value::Null)
        {
            let original = slot.take();
            rec.invalid(&path.key(key), "expected a string", Some(original));
        }
    }

    /// Coerces `obj[key]` with [`lenient_string`]; objects and arrays are nulled and recorded.
    pub(super) fn lenient_field(obj: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        if let Some(slot) = obj.get_mut(key) {
            if matches!(slot, Value::String(_) | Value::Null) {
                return;
            }
            match lenient_string(slot.take()) {
                Ok(s) => *slot = Value::String(s),
                Err(original) => rec.invalid(&path.key(key), "expected a string", Some(original)),
            }
        }
    }

    /// Requires a boolean (or null).
    pub(super) fn bool_field(obj: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        if let Some(slot) = obj.get_mut(key)
            && !matches!(slot, Value::Bool(_) | Value::Null)
        {
            let original = slot.take();
            rec.invalid(&path.key(key), "expected a boolean", Some(original));
        }
    }

    /// Requires a non-negative integer (integral floats are accepted).
    pub(super) fn unsigned_field(obj: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        let Some(slot) = obj.get_mut(key) else {
            return;
        };
        match slot {
            Value::Null => {}
            Value::Number(n) if n.as_u64().is_some() => {}
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0 && f < 9.0e15) => {
                let f = n.as_f64().unwrap_or_default();
                *slot = Value::from(f as u64);
            }
            _ => {
                let original = slot.take();
                rec.invalid(&path.key(key), "expected an unsigned integer", Some(original));
            }
        }
    }

    /// Requires an object (or null).
    pub(super) fn object_field(obj: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        if let Some(slot) = obj.get_mut(key)
            && !matches!(slot, Value::Object(_) | Value::Null)
        {
            let original = slot.take();
            rec.invalid(&path.key(key), "expected an object", Some(original));
        }
    }

    /// Addresses (`instruction_addr` etc.) as `0x…` lowercase hex.
    pub(super) fn addr_field(obj: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        let Some(slot) = obj.get_mut(key) else {
            return;
        };
        let parsed = match &*slot {
            Value::Null => return,
            Value::Number(n) => n.as_u64(),
            Value::String(s) => {
                let s = s.trim();
                match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => s.parse::<u64>().ok(),
                }
            }
            _ => None,
        };
        match parsed {
            Some(addr) => *slot = Value::String(format!("{addr:#x}")),
            None => {
                let original = slot.take();
                rec.invalid(&path.key(key), "expected an address", Some(original));
            }
        }
    }

    /// Cuts a string to at most `max_chars` characters, ending in `...` when cut.
    pub(super) fn truncate_chars(s: &mut String, max_chars: usize) {
        if let Some((cut, _)) = s.char_indices().nth(max_chars) {
            let keep = s
                .char_indices()
                .nth(max_chars.saturating_sub(3))
                .map_or(cut, |(i, _)| i);
            s.truncate(keep);
            s.push_str("...");
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn timestamps_in_every_wire_form_give_unix_seconds() {
            let cases = [
                (json!(1741083330), 1741083330.0),
                (json!(1741083330.5), 1741083330.5),
                (json!("2025-03-04T10:15:30Z"), 1741083330.0),
                (json!("2025-03-04T10:15:30.123+02:00"), 1741076130.123),
                (json!("2025-03-04T10:15:30"), 1741083330.0),
                (json!("2025-03-04T10:15:30.25"), 1741083330.25),
            ];
            for (input, expected) in cases {
                assert_eq!(parse_timestamp(&input), Some(expected), "{input}");
            }
        }

        #[test]
        fn unparsable_timestamps_are_rejected() {
            for input in [json!("yesterday"), json!(true), json!(1e300), json!({})] {
                assert_eq!(parse_timestamp(&input), None, "{input}");
            }
        }

        #[test]
        fn levels_map_aliases_and_python_numbers() {
            assert_eq!(parse_level(&json!("critical")), Ok("fatal"));
            assert_eq!(parse_level(&json!("log")), Ok("info"));
            assert_eq!(parse_level(&json!(40)), Ok("error"));
            assert_eq!(parse_level(&json!(10)), Ok("debug"));
            assert_eq!(parse_level(&json!("bogus")), Err("invalid level"));
            assert_eq!(parse_level(&json!(45)), Err("invalid level"));
            assert_eq!(parse_level(&json!([])), Err("expected a level"));
        }

        #[test]
        fn event_ids_accept_hyphenated_braced_and_any_case() {
            let want = Ok("52df9022835246eeb317dbd739ccd059".to_owned());
            assert_eq!(parse_event_id("52DF9022-8352-46EE-B317-DBD739CCD059"), want);
            assert_eq!(parse_event_id("52df9022835246eeb317dbd739ccd059"), want);
            assert_eq!(parse_event_id("{52df9022-8352-46ee-b317-dbd739ccd059}"), want);
            assert!(parse_event_id("52df9022835246eeb317dbd739ccd05").is_err());
            assert!(parse_event_id("52df902-28352-46ee-b317-dbd739ccd059").is_err());
            assert_eq!(
                parse_event_id("not-a-uuid"),
                Err("invalid character: found `n` at 0".to_owned())
            );
        }

        #[test]
        fn truncation_marks_cut_strings() {
            let mut s = "abcdefgh".to_owned();
            truncate_chars(&mut s, 6);
            assert_eq!(s, "abc...");
            let mut short = "abc".to_owned();
            truncate_chars(&mut short, 6);
            assert_eq!(short, "abc");
        }
    }
}

mod stack {
    //! The list interfaces: exceptions, stack traces and frames, threads and
    //! breadcrumbs, each accepted in every shape SDKs send and written back as
    //! `{"values": [...]}` with validated members.

    use serde_json::{Map, Value};

    use super::meta::{Path, Recorder};
    use super::scalars::{
        addr_field, bool_field, json_text, object_field, parse_level, parse_timestamp, seconds_value, strict_string,
        unsigned_field,
    };

    /// Unwraps the `{"values": [...]}`, bare array, single object and `{}` forms.
    /// Returns `None` when the interface is absent or empty.
    fn take_values(raw: Value, path: &Path<'_>, rec: &mut Recorder) -> Option<(Vec<Value>, Map<String, Value>)> {
        match raw {
            Value::Null => None,
            Value::Array(items) => Some((items, Map::new())),
            Value::Object(mut obj) => {
                if obj.is_empty() {
                    return None;
                }
                match obj.remove("values") {
                    Some(Value::Array(items)) => Some((items, obj)),
                    Some(Value::Null) => Some((Vec::new(), obj)),
                    Some(other) => {
                        rec.invalid(&path.key("values"), "expected an array", Some(other));
                        Some((Vec::new(), obj))
                    }
                    // A single member sent without the list around it.
                    None => Some((vec![Value::Object(obj)], Map::new())),
                }
            }
            other => {
                rec.invalid(path, "expected a list or values object", Some(other));
                None
            }
        }
    }

    /// Writes the members back as `{"values": [...]}`, or drops an empty interface.
    fn put_values(event: &mut Map<String, Value>, key: &str, items: Vec<Value>, mut other: Map<String, Value>) {
        if items.is_empty() && other.is_empty() {
            return;
        }
        other.insert("values".to_owned(), Value::Array(items));
        event.insert(key.to_owned(), Value::Object(other));
    }

    /// Normalizes `exception`; returns how many exceptions remain.
    pub(super) fn normalize_exceptions(event: &mut Map<String, Value>, rec: &mut Recorder) -> usize {
        let Some(raw) = event.remove("exception") else {
            return 0;
        };
        let path = Path::root("exception");
        let Some((items, other)) = take_values(raw, &path, rec) else {
            return 0;
        };
        let values_path = path.key("values");
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item_path = values_path.index(i);
            match item {
                Value::Object(mut exc) => {
                    normalize_exception_value(&mut exc, &item_path, rec);
                    if is_blank(exc.get("type")) && is_blank(exc.get("value")) {
                        // Policy: dropped from the list (Relay leaves a null in its place).
                        let mut data = Map::new();
                        data.insert("attribute".to_owned(), Value::from("type or value"));
                        rec.error(&item_path, "missing_attribute", data, Some(Value::Object(exc)));
                        continue;
                    }
                    out.push(Value::Object(exc));
                }
                Value::Null => {}
                other => rec.invalid(&item_path, "expected an object", Some(other)),
            }
        }
        let count = out.len();
        put_values(event, "exception", out, other);
        count
    }

    fn is_blank(value: Option<&Value>) -> bool {
        match value {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        }
    }

    fn normalize_exception_value(exc: &mut Map<String, Value>, path: &Path<'_>, rec: &mut Recorder) {
        strict_string(exc, "type", path, rec);
        if let Some(slot) = exc.get_mut("value")
            && !matches!(slot, Value::String(_) | Value::Null)
        {
            *slot = Value::String(json_text(slot.take()));
        }
        split_type_from_value(exc);
        strict_string(exc, "module", path, rec);
        normalize_stacktrace(exc, "stacktrace", path, rec, false);
        normalize_stacktrace(exc, "raw_stacktrace", path, rec, true);
        if let Some(slot) = exc.get_mut("thread_id")
            && !matches!(slot, Value::String(_) | Value::Number(_) | Value::Null)
        {
            let original = slot.take();
            rec.invalid(&path.key("thread_id"), "expected a thread id", Some(original));
        }
        object_field(exc, "mechanism", path, rec);
        if let Some(Value::Object(mechanism)) = exc.get_mut("mechanism") {
            let mpath = path.key("mechanism");
            for key in ["type", "description", "help_link", "source"] {
                strict_string(mechanism, key, &mpath, rec);
            }
            for key in ["handled", "synthetic", "is_exception_group"] {
                bool_field(mechanism, key, &mpath, rec);
            }
            for key in ["exception_id", "parent_id"] {
                unsigned_field(mechanism, key, &mpath, rec);
            }
            for key in ["data", "meta"] {
                object_field(mechanism, key, &mpath, rec);
            }
        }
    }

    /// `{"value": "ZeroDivisionError: division by zero"}` without a type is split
    /// into type and value, like Relay (type must be a single word).
    fn split_type_from_value(exc: &mut Map<String, Value>) {
        if !is_blank(exc.get("type")) {
            return;
        }
        let Some(Value::String(value)) = exc.get("value") else {
            return;
        };
        let Some((ty, rest)) = value.split_once(':') else {
            return;
        };
        let is_word = !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !is_word || rest.contains('\n') {
            return;
        }
        let (ty, rest) = (ty.to_owned(), rest.trim().to_owned());
        exc.insert("type".to_owned(), Value::String(ty));
        exc.insert("value".to_owned(), Value::String(rest));
    }

    /// Validates `obj[key]` as a stack trace; non-raw traces get Relay's frame fix-ups.
    pub(super) fn normalize_stacktrace(
        obj: &mut Map<String, Value>,
        key: &str,
        parent: &Path<'_>,
        rec: &mut Recorder,
        is_raw: bool,
    ) {
        let path = parent.key(key);
        match obj.get_mut(key) {
            Some(Value::Object(trace)) => normalize_stacktrace_object(trace, &path, rec, is_raw),
            None | Some(Value::Null) => {}
            Some(slot) => {
                let original = slot.take();
                rec.invalid(&path, "expected an object", Some(original));
            }
        }
    }

    /// Top-level traces have no parent path; the key itself is the root.
    pub(super) fn normalize_root_stacktrace(event: &mut Map<String, Value>, rec: &mut Recorder) {
        let path = Path::root("stacktrace");
        match event.get_mut("stacktrace") {
            Some(Value::Object(trace)) => normalize_stacktrace_object(trace, &path, rec, false),
            None => {}
            Some(Value::Null) => {
                event.remove("stacktrace");
            }
            Some(slot) => {
                let original = slot.take();
                rec.invalid(&path, "expected an object", Some(original));
            }
        }
    }

    fn normalize_stacktrace_object(trace: &mut Map<String, Value>, path: &Path<'_>, rec: &mut Recorder, is_raw: bool) {
        let frames_path = path.key("frames");
        match trace.get_mut("frames") {
            Some(Value::Array(frames)) => {
                let mut i = 0;
                // Filter in place, keeping the original index for error paths.
                frames.retain_mut(|frame| {
                    let frame_path = frames_path.index(i);
                    i += 1;
                    match frame {
                        Value::Object(f) => {
                            normalize_frame(f, &frame_path, rec, is_raw);
                            true
                        }
                        Value::Null => false,
                        other => {
                            rec.invalid(&frame_path, "expected an object", Some(other.take()));
                            false
                        }
                    }
                });
            }
            None | Some(Value::Null) => {}
            Some(slot) => {
                let original = slot.take();
                rec.invalid(&frames_path, "expected an array", Some(original));
            }
        }
        object_field(trace, "registers", path, rec);
        strict_string(trace, "lang", path, rec);
        bool_field(trace, "snapshot", path, rec);
    }

    fn normalize_frame(f: &mut Map<String, Value>, path: &Path<'_>, rec: &mut Recorder, is_raw: bool) {
        if !frame_is_canonical(f) {
            validate_frame_fields(f, path, rec);
        }
        if !is_raw {
            fix_up_frame(f);
        }
    }

    /// True when every field already has its canonical type, so the
    /// field-by-field pass (the slow path) can be skipped.
    fn frame_is_canonical(f: &Map<String, Value>) -> bool {
        f.iter().all(|(key, v)| match key.as_str() {
            "function" | "raw_function" | "symbol" | "module" | "package" | "filename" | "abs_path" | "platform"
            | "context_line" | "addr_mode" | "trust" | "lang" => {
                matches!(v, Value::String(_) | Value::Null)
            }
            "lineno" | "colno" => v.is_null() || v.as_u64().is_some(),
            "pre_context" | "post_context" => match v {
                Value::Null => true,
                Value::Array(lines) => lines.iter().all(Value::is_string),
                _ => false,
            },
            "in_app" | "stack_start" => matches!(v, Value::Bool(_) | Value::Null),
            "vars" | "data" | "lock" => matches!(v, Value::Object(_) | Value::Null),
            // Addresses are always rewritten to canonical hex.
            "instruction_addr" | "symbol_addr" | "image_addr" => v.is_null(),
            _ => true,
        })
    }

    fn validate_frame_fields(f: &mut Map<String, Value>, path: &Path<'_>, rec: &mut Recorder) {
        // Field order follows Relay's frame schema, which orders the errors.
        for key in [
            "function",
            "raw_function",
            "symbol",
            "module",
            "package",
            "filename",
            "abs_path",
        ] {
            strict_string(f, key, path, rec);
        }
        unsigned_field(f, "lineno", path, rec);
        unsigned_field(f, "colno", path, rec);
        strict_string(f, "platform", path, rec);
        context_lines(f, "pre_context", path, rec);
        strict_string(f, "context_line", path, rec);
        context_lines(f, "post_context", path, rec);
        bool_field(f, "in_app", path, rec);
        frame_vars(f, path, rec);
        object_field(f, "data", path, rec);
        addr_field(f, "instruction_addr", path, rec);
        strict_string(f, "addr_mode", path, rec);
        addr_field(f, "symbol_addr", path, rec);
        addr_field(f, "image_addr", path, rec);
        strict_string(f, "trust", path, rec);
        strict_string(f, "lang", path, rec);
        bool_field(f, "stack_start", path, rec);
        object_field(f, "lock", path, rec);
    }

    fn context_lines(f: &mut Map<String, Value>, key: &str, path: &Path<'_>, rec: &mut Recorder) {
        match f.get_mut(key) {
            Some(Value::Array(lines)) => {
                let list_path = path.key(key);
                for (i, line) in lines.iter_mut().enumerate() {
                    match line {
                        Value::String(_) => {}
                        Value::Null => *line = Value::String(String::new()),
                        other => {
                            let original = std::mem::replace(other, Value::String(String::new()));
                            rec.invalid(&list_path.index(i), "expected a string", Some(original));
                        }
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(slot) => {
                let original = slot.take();
                rec.invalid(&path.key(key), "expected an array", Some(original));
            }
        }
    }

    /// `vars` sent as an array become an object keyed by index.
    fn frame_vars(f: &mut Map<String, Value>, path: &Path<'_>, rec: &mut Recorder) {
        let Some(slot) = f.get_mut("vars") else {
            return;
        };
        match slot.take() {
            Value::Array(items) => {
                let map: Map<String, Value> = items.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect();
                *slot = Value::Object(map);
            }
            v @ (Value::Object(_) | Value::Null) => *slot = v,
            other => rec.invalid(&path.key("vars"), "expected an object", Some(other)),
        }
    }

    fn non_empty_str<'v>(f: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
        match f.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// Relay's fix-ups of symbolicated frames: `abs_path` and `filename` fill each
    /// other, `?` placeholders vanish, missing context lines become empty strings.
    fn fix_up_frame(f: &mut Map<String, Value>) {
        if non_empty_str(f, "abs_path").is_none()
            && let Some(filename) = non_empty_str(f, "filename")
        {
            let filename = filename.to_owned();
            f.insert("abs_path".to_owned(), Value::String(filename));
        }
        if non_empty_str(f, "filename").is_none()
            && let Some(abs_path) = non_empty_str(f, "abs_path")
        {
            let filename = url_path(abs_path).unwrap_or(abs_path).to_owned();
            f.insert("filename".to_owned(), Value::String(filename));
        }
        for key in ["function", "symbol"] {
            if matches!(f.get(key), Some(Value::String(s)) if s == "?") {
                f.remove(key);
            }
        }
        let has_context = ["pre_context", "post_context"]
            .iter()
            .any(|k| matches!(f.get(*k), Some(Value::Array(a)) if !a.is_empty()));
        if has_context && matches!(f.get("context_line"), None | Some(Value::Null)) {
            f.insert("context_line".to_owned(), Value::String(String::new()));
        }
    }

    /// The path part of a URL-like `abs_path`, when it has a meaningful one.
    fn url_path(abs_path: &str) -> Option<&str> {
        let rest = ["http://", "https://", "file://", "applewebdata://"]
            .iter()
            .find_map(|scheme| abs_path.strip_prefix(scheme))?;
        let path_start = rest.find('/')?;
        let path = &rest[path_start..];
        let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
        (!path.is_empty() && path != "/").then_some(path)
    }

    /// Normalizes `threads`.
    pub(super) fn normalize_threads(event: &mut Map<String, Value>, rec: &mut Recorder) {
        let Some(raw) = event.remove("threads") else {
            return;
        };
        let path = Path::root("threads");
        let Some((items, other)) = take_values(raw, &path, rec) else {
            return;
        };
        let values_path = path.key("values");
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item_path = values_path.index(i);
            match item {
                Value::Object(mut thread) => {
                    if let Some(slot) = thread.get_mut("id")
                        && !matches!(slot, Value::String(_) | Value::Number(_) | Value::Null)
                    {
                        let original = slot.take();
                        rec.invalid(&item_path.key("id"), "expected a thread id", Some(original));
                    }
                    strict_string(&mut thread, "name", &item_path, rec);
                    normalize_stacktrace(&mut thread, "stacktrace", &item_path, rec, false);
                    normalize_stacktrace(&mut thread, "raw_stacktrace", &item_path, rec, true);
                    for key in ["crashed", "current", "main"] {
                        bool_field(&mut thread, key, &item_path, rec);
                    }
                    strict_string(&mut thread, "state", &item_path, rec);
                    object_field(&mut thread, "held_locks", &item_path, rec);
                    out.push(Value::Object(thread));
                }
                Value::Null => {}
                other => rec.invalid(&item_path, "expected an object", Some(other)),
            }
        }
        put_values(event, "threads", out, other);
    }

    /// Normalizes `breadcrumbs`; `type` defaults to `default` and `level` to `info`.
    pub(super) fn normalize_breadcrumbs(event: &mut Map<String, Value>, rec: &mut Recorder) {
        let Some(raw) = event.remove("breadcrumbs") else {
            return;
        };
        let path = Path::root("breadcrumbs");
        let Some((items, other)) = take_values(raw, &path, rec) else {
            return;
        };
        let values_path = path.key("values");
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item_path = values_path.index(i);
            match item {
                Value::Object(mut crumb) => {
                    normalize_breadcrumb(&mut crumb, &item_path, rec);
                    out.push(Value::Object(crumb));
                }
                Value::Null => {}
                other => rec.invalid(&item_path, "expected an object", Some(other)),
            }
        }
        put_values(event, "breadcrumbs", out, other);
    }

    fn normalize_breadcrumb(crumb: &mut Map<String, Value>, path: &Path<'_>, rec: &mut Recorder) {
        if let Some(slot) = crumb.get_mut("timestamp")
            && !slot.is_null()
        {
            match parse_timestamp(slot) {
                Some(secs) => *slot = seconds_value(secs),
                None => {
                    let original = slot.take();
                    rec.invalid(&path.key("timestamp"), "expected a valid timestamp", Some(original));
                }
            }
        }
        strict_string(crumb, "type", path, rec);
        strict_string(crumb, "category", path, rec);
        let level = match crumb.get("level") {
            None | Some(Value::Null) => "info",
            Some(raw) => match parse_level(raw) {
                Ok(level) => level,
                Err(reason) => {
                    let original = crumb.remove("level");
                    rec.invalid(&path.key("level"), reason, original);
                    "info"
                }
            },
        };
        crumb.insert("level".to_owned(), Value::from(level));
        if matches!(crumb.get("type"), None | Some(Value::Null)) {
            crumb.insert("type".to_owned(), Value::from("default"));
        }
        strict_string(crumb, "message", path, rec);
        object_field(crumb, "data", path, rec);
    }
}

#[cfg(test)]
mod tests {
    //! Conformance of the normalizer: Relay's vectors, the ingest checklist items
    //! about payload shapes, and robustness against arbitrary input.

    use serde_json::{Value, json};

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/normalize");

    fn ctx() -> NormalizeContext {
        NormalizeContext {
            project_id: 1,
            received_at: 1_704_164_650.0, // 2024-01-02T03:04:10Z, as in the vectors
            client_ip: Some("203.0.113.9".to_owned()),
            infer_ip: true,
        }
    }

    fn run(input: Value) -> Value {
        match normalize(input, &ctx()) {
            Ok(v) => v,
            Err(e) => panic!("normalize failed: {e}"),
        }
    }

    fn is_fresh_id(id: &str) -> bool {
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// Replaces the vectors' generated-id placeholders with the id we generated.
    fn substitute_generated_id(expected: &mut Value, id: &str) {
        match expected {
            Value::String(s) if s == "<generated-event-id>" => *s = id.to_owned(),
            Value::String(s) if s == "<generated-event-id:16>" => *s = id[..16].to_owned(),
            Value::Array(items) => items.iter_mut().for_each(|v| substitute_generated_id(v, id)),
            Value::Object(map) => map.values_mut().for_each(|v| substitute_generated_id(v, id)),
            _ => {}
        }
    }

    fn received_at_of(config: &Value) -> f64 {
        let text = config["received_at"].as_str().unwrap_or_default();
        parse_timestamp(&Value::from(text)).unwrap_or(f64::NAN)
    }

    #[test]
    fn every_relay_vector_normalizes_to_the_expected_event() {
        let index: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/index.json")).unwrap()).unwrap();
        let files = index["files"].as_array().unwrap();
        assert_eq!(files.len(), 36);
        let mut failures = Vec::new();
        for file in files {
            let name = file.as_str().unwrap();
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
            let case: Value = serde_json::from_str(&text).unwrap();
            let config = NormalizeContext {
                project_id: case["normalizer_config"]["project_id"].as_u64().unwrap(),
                received_at: received_at_of(&case["normalizer_config"]),
                client_ip: None,
                infer_ip: false,
            };
            let actual = normalize(case["input"].clone(), &config).unwrap();
            let mut expected = case["expected"].clone();
            let id = actual["event_id"].as_str().unwrap_or_default().to_owned();
            if expected["event_id"] == "<generated-event-id>" {
                assert!(is_fresh_id(&id), "{name}: generated id {id:?}");
                substitute_generated_id(&mut expected, &id);
            }
            if actual != expected {
                failures.push(format!("{name}\n  expected: {expected}\n  actual:   {actual}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn generated_ids_are_fresh_for_each_event() {
        let a = run(json!({}));
        let b = run(json!({}));
        assert_ne!(a["event_id"], b["event_id"]);
        let id = a["event_id"].as_str().unwrap();
        assert!(is_fresh_id(id));
        assert_eq!(a["contexts"]["trace"]["trace_id"], id);
        assert_eq!(a["contexts"]["trace"]["span_id"], &id[..16]);
    }

    // Checklist 22: timestamps.
    #[test]
    fn checklist_22_timestamps_normalize_to_unix_seconds() {
        let cases = [
            (json!(1741083330), 1741083330.0),
            (json!(1741083330.5), 1741083330.5),
            (json!("2025-03-04T10:15:30Z"), 1741083330.0),
            (json!("2025-03-04T10:15:30.123+02:00"), 1741076130.123),
            (json!("2025-03-04T10:15:30"), 1741083330.0),
        ];
        let received = 1741083400.0;
        for (input, expected) in cases {
            let ev = normalize(
                json!({"timestamp": input}),
                &NormalizeContext {
                    received_at: received,
                    ..ctx()
                },
            )
            .unwrap();
            assert_eq!(ev["timestamp"].as_f64(), Some(expected), "{input}");
            assert!(ev.get("errors").is_none(), "{input}");
        }
        let missing = run(json!({}));
        assert_eq!(missing["timestamp"].as_f64(), Some(ctx().received_at));
    }

    #[test]
    fn timestamps_far_in_the_future_are_clamped_to_receive_time() {
        let received = ctx().received_at;
        let ev = run(json!({
            "timestamp": received + 3600.0,
            "start_timestamp": received + 3590.0,
            "breadcrumbs": [{"timestamp": received + 3500.0, "message": "m"}],
        }));
        assert_eq!(ev["timestamp"].as_f64(), Some(received));
        assert_eq!(ev["start_timestamp"].as_f64(), Some(received - 10.0));
        assert_eq!(
            ev["breadcrumbs"]["values"][0]["timestamp"].as_f64(),
            Some(received - 100.0)
        );
        assert_eq!(ev["errors"][0]["type"], "future_timestamp");
        assert_eq!(ev["errors"][0]["name"], "timestamp");

        let near = run(json!({"timestamp": received + 30.0}));
        assert_eq!(near["timestamp"].as_f64(), Some(received + 30.0));
    }

    #[test]
    fn unparsable_timestamp_is_recorded_and_defaulted() {
        let ev = run(json!({"timestamp": "last tuesday"}));
        assert_eq!(ev["timestamp"].as_f64(), Some(ctx().received_at));
        assert_eq!(ev["_meta"]["timestamp"][""]["val"], "last tuesday");
        assert_eq!(ev["errors"][0]["name"], "timestamp");
    }

    // Checklist 23: levels.
    #[test]
    fn checklist_23_levels_map_aliases_numbers_and_reject_unknown() {
        for (input, expected) in [
            (json!("critical"), "fatal"),
            (json!("log"), "info"),
            (json!(40), "error"),
            (json!("bogus"), "error"),
        ] {
            let ev = run(json!({"level": input}));
            assert_eq!(ev["level"], expected, "{input}");
        }
        let bogus = run(json!({"level": "bogus"}));
        assert_eq!(bogus["_meta"]["level"][""]["val"], "bogus");
        let tx = run(json!({"type": "transaction"}));
        assert_eq!(tx["level"], "info");
        assert_eq!(tx["type"], "transaction");
    }

    /// Removes what differs between two normalizations of the same content.
    fn comparable(mut ev: Value) -> Value {
        if let Some(map) = ev.as_object_mut() {
            map.remove("event_id");
            map.remove("contexts");
        }
        ev
    }

    // Checklist 24: exception and breadcrumb forms.
    #[test]
    fn checklist_24_exception_forms_normalize_identically() {
        let exc = json!({"type": "IOError", "value": "No space left"});
        let forms = [
            json!({"exception": [exc.clone()]}),
            json!({"exception": {"values": [exc.clone()]}}),
            json!({"exception": exc.clone()}),
            json!({"sentry.interfaces.Exception": exc.clone()}),
            json!({"sentry.interfaces.Exception": {"values": [exc.clone()]}}),
        ];
        let results: Vec<Value> = forms.into_iter().map(|f| comparable(run(f))).collect();
        assert_eq!(results[0]["exception"], json!({"values": [exc]}));
        assert_eq!(results[0]["type"], "error");
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
        let empty = run(json!({"exception": {}}));
        assert!(empty.get("exception").is_none());
        assert_eq!(empty["type"], "default");
    }

    #[test]
    fn checklist_24_breadcrumb_forms_normalize_identically() {
        let crumb = json!({"timestamp": 1741083300, "message": "rotate"});
        let forms = [
            json!({"breadcrumbs": [crumb.clone()]}),
            json!({"breadcrumbs": {"values": [crumb.clone()]}}),
            json!({"sentry.interfaces.Breadcrumbs": {"values": [crumb.clone()]}}),
        ];
        let results: Vec<Value> = forms.into_iter().map(|f| comparable(run(f))).collect();
        assert_eq!(
            results[0]["breadcrumbs"],
            json!({"values": [{"timestamp": 1741083300.0, "message": "rotate",
                           "type": "default", "level": "info"}]})
        );
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
    }

    #[test]
    fn exceptions_without_type_or_value_are_dropped_and_recorded() {
        let ev = run(json!({"exception": {"values": [{"module": "m"}, {"type": "E"}]}}));
        assert_eq!(ev["exception"]["values"], json!([{"type": "E"}]));
        assert_eq!(ev["errors"][0]["type"], "missing_attribute");
        assert_eq!(ev["errors"][0]["name"], "exception.values.0");
    }

    #[test]
    fn non_string_exception_values_become_json_text() {
        let ev = run(json!({"exception": {"type": "E", "value": {"code": 7}}}));
        assert_eq!(ev["exception"]["values"][0]["value"], r#"{"code":7}"#);
    }

    // Checklist 25: tags.
    #[test]
    fn checklist_25_tag_object_and_pairs_are_identical() {
        let obj = run(json!({"tags": {"b": "2", "a": "1"}}));
        let pairs = run(json!({"tags": [["a", "1"], ["b", "2"]]}));
        assert_eq!(obj["tags"], json!([["a", "1"], ["b", "2"]]));
        assert_eq!(obj["tags"], pairs["tags"]);
    }

    /// Deviation from the spec's "null dropped", following vector 10: a null tag
    /// value stays as `[key, null]`, which carries no value for `x`.
    #[test]
    fn checklist_25_tag_values_are_stringified_and_keys_sanitized() {
        let ev = run(json!({"tags": {"a b": true, "n": 3, "x": null}}));
        assert_eq!(ev["tags"], json!([["a-b", "True"], ["n", "3"], ["x", null]]));
        let has_x_value = ev["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "x" && !t[1].is_null());
        assert!(!has_x_value);
    }

    #[test]
    fn reserved_duplicate_and_invalid_tags_are_removed() {
        let ev = run(json!({
            "server_name": "web-1",
            "tags": [["release", "1"], ["k", "first"], ["k", "second"], ["bad!", "v"],
                     ["environment", "prod"], ["long", "x".repeat(201)]],
        }));
        assert_eq!(
            ev["tags"],
            json!([["k", "first"], ["long", null], ["server_name", "web-1"]])
        );
        assert_eq!(ev["environment"], "prod");
        assert!(ev.get("server_name").is_none());
        let names: Vec<&str> = ev["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(names, ["tags.1.0", "tags.1.1"]);
    }

    // Checklist 26: message, top-level stacktrace, vars.
    #[test]
    fn checklist_26_message_string_becomes_formatted_logentry() {
        let ev = run(json!({"message": "Disk full"}));
        assert_eq!(ev["logentry"], json!({"formatted": "Disk full"}));
        assert!(ev.get("message").is_none());
        let ignored = run(json!({"message": false}));
        assert!(ignored.get("logentry").is_none());
        let number = run(json!({"message": 42}));
        assert_eq!(number["logentry"], json!({"formatted": "42"}));
    }

    /// Policy: the legacy top-level stacktrace moves onto a sole exception that
    /// has none (vector 07 has no exception, so there it stays at top level).
    #[test]
    fn checklist_26_top_level_stacktrace_attaches_to_sole_exception() {
        let frames = json!({"frames": [{"function": "write_log", "filename": "log.py", "lineno": 88}]});
        let ev = run(json!({
            "sentry.interfaces.Exception": {"type": "IOError", "value": "No space left"},
            "stacktrace": frames,
        }));
        assert!(ev.get("stacktrace").is_none());
        assert_eq!(
            ev["exception"]["values"][0]["stacktrace"]["frames"][0]["abs_path"],
            "log.py"
        );

        // An exception with its own trace keeps it; the event-level trace stays.
        let own = json!({"frames": [{"function": "own"}]});
        let kept = run(json!({
            "exception": {"type": "E", "value": "v", "stacktrace": own},
            "stacktrace": {"frames": [{"function": "top"}]},
        }));
        assert_eq!(
            kept["exception"]["values"][0]["stacktrace"]["frames"][0]["function"],
            "own"
        );
        assert_eq!(kept["stacktrace"]["frames"][0]["function"], "top");

        // Two exceptions: the trace stays at event level.
        let two = run(json!({
            "exception": [{"type": "A"}, {"type": "B"}],
            "stacktrace": {"frames": [{"function": "top"}]},
        }));
        assert_eq!(two["stacktrace"]["frames"][0]["function"], "top");
    }

    #[test]
    fn checklist_26_array_vars_become_an_object_keyed_by_index() {
        let ev = run(json!({"exception": {"type": "E", "stacktrace": {"frames": [
            {"function": "f", "vars": ["a", {"b": 1}]}
        ]}}}));
        assert_eq!(
            ev["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"],
            json!({"0": "a", "1": {"b": 1}})
        );
    }

    // Checklist 27: `{{auto}}` IP, unknown keys and `_meta` kept.
    #[test]
    fn checklist_27_auto_ip_uses_client_address() {
        let ev = run(json!({"user": {"ip_address": "{{auto}}"}}));
        assert_eq!(ev["user"]["ip_address"], "203.0.113.9");
        assert_eq!(ev["user"]["sentry_user"], "ip:203.0.113.9");

        let off = normalize(
            json!({"user": {"id": "u1", "ip_address": "{{auto}}"}}),
            &NormalizeContext {
                infer_ip: false,
                ..ctx()
            },
        )
        .unwrap();
        assert!(off["user"].get("ip_address").is_none());
        assert_eq!(off["user"]["id"], "u1");
    }

    #[test]
    fn checklist_27_unknown_keys_and_client_meta_are_kept() {
        let ev = run(json!({
            "my_custom": {"deep": [1, 2]},
            "_meta": {"extra": {"": {"rem": [["x", "s"]]}}},
            "level": "nope",
        }));
        assert_eq!(ev["my_custom"], json!({"deep": [1, 2]}));
        assert_eq!(ev["_meta"]["extra"], json!({"": {"rem": [["x", "s"]]}}));
        assert_eq!(ev["_meta"]["level"][""]["val"], "nope");
    }

    #[test]
    fn request_query_cookies_and_headers_become_pair_lists() {
        let ev = run(json!({"request": {
            "url": "http://x.test/p?a=1#frag",
            "method": "get",
            "cookies": "s=1; t=2",
            "headers": [["cookie", "ignored=1"], ["Content-Type", "application/json; charset=utf-8"]],
            "data": "{\"k\": 1}",
        }}));
        let req = &ev["request"];
        assert_eq!(req["url"], "http://x.test/p");
        assert_eq!(req["query_string"], json!([["a", "1"]]));
        assert_eq!(req["fragment"], "frag");
        assert_eq!(req["method"], "GET");
        assert_eq!(req["cookies"], json!([["s", "1"], ["t", "2"]]));
        assert_eq!(
            req["headers"],
            json!([["Content-Type", "application/json; charset=utf-8"]])
        );
        assert_eq!(req["data"], json!({"k": 1}));
        assert_eq!(req["inferred_content_type"], "application/json");

        let qs_obj = run(json!({"request": {"query_string": {"b": 2, "a": "x"}}}));
        assert_eq!(qs_obj["request"]["query_string"], json!([["a", "x"], ["b", "2"]]));
    }

    #[test]
    fn release_environment_and_dist_are_trimmed_and_validated() {
        let ev = run(json!({"release": " 1.2.3 ", "environment": " prod ", "dist": " 7 "}));
        assert_eq!(ev["release"], "1.2.3");
        assert_eq!(ev["environment"], "prod");
        assert_eq!(ev["dist"], "7");
        let numeric = run(json!({"release": 42}));
        assert_eq!(numeric["release"], "42");
        let bad = run(json!({"release": "a/b", "environment": "x".repeat(65)}));
        assert!(bad["release"].is_null());
        assert!(bad["environment"].is_null());
        assert_eq!(bad["_meta"]["release"][""]["val"], "a/b");
    }

    #[test]
    fn spec_example_d_legacy_store_body_normalizes_like_a_modern_event() {
        let raw = br#"{"event_id":"9F6C2E4B-8A1D-4C3B-9E2F-1A0B9C8D7E6F","message":"Disk full","level":40,"timestamp":"2025-03-04T10:15:30",
 "tags":[["host","web-1"],["shard",3]],"sentry.interfaces.Exception":{"type":"IOError","value":"No space left"},
 "stacktrace":{"frames":[{"function":"write_log","filename":"log.py","lineno":88}]},"breadcrumbs":[{"timestamp":1741083300,"message":"rotate"}]}"#;
        let ev = normalize(
            parse_payload(raw).unwrap(),
            &NormalizeContext {
                received_at: 1741083400.0,
                ..ctx()
            },
        )
        .unwrap();
        assert_eq!(ev["event_id"], "9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6f");
        assert_eq!(ev["level"], "error");
        assert_eq!(ev["type"], "error");
        assert_eq!(ev["timestamp"].as_f64(), Some(1741083330.0));
        assert_eq!(ev["tags"], json!([["host", "web-1"], ["shard", "3"]]));
        assert_eq!(ev["logentry"], json!({"formatted": "Disk full"}));
        assert_eq!(ev["exception"]["values"][0]["stacktrace"]["frames"][0]["lineno"], 88);
        assert!(ev.get("errors").is_none());
    }

    #[test]
    fn formatting_a_repeated_large_parameter_stops_at_the_message_cap() {
        // Was ~45 GiB: 100,000 placeholders each replaced by a 480 KB parameter.
        let big = "p".repeat(480_000);
        for (message, params) in [
            ("%(a)s".repeat(100_000), json!({"a": big})),
            ("%s".repeat(100_000), json!(vec![big.clone(); 3])),
            ("é%s".repeat(50_000), json!(["ü".repeat(1000)])),
        ] {
            let ev = run(json!({"logentry": {"message": message, "params": params}}));
            let formatted = ev["logentry"]["formatted"].as_str().unwrap();
            assert_eq!(formatted.chars().count(), 8192);
            assert!(formatted.ends_with("..."));
            let message = ev["logentry"]["message"].as_str().unwrap();
            assert!(message.chars().count() <= 8192);
        }
    }

    #[test]
    fn short_messages_are_formatted_whole() {
        let ev = run(json!({"logentry": {"message": "%s and %(x)s", "params": ["a"]}}));
        assert_eq!(ev["logentry"]["formatted"], "a and %(x)s");
        let long = "x".repeat(20_000);
        let ev = run(json!({"logentry": {"formatted": long}}));
        assert_eq!(ev["logentry"]["formatted"].as_str().unwrap().chars().count(), 8192);
    }

    #[test]
    fn non_objects_are_rejected() {
        for v in [json!([]), json!("x"), json!(null), json!(1)] {
            assert!(matches!(normalize(v, &ctx()), Err(NormalizeError::NotAnObject)));
        }
    }

    #[test]
    fn payloads_with_bare_non_finite_numbers_parse_as_null() {
        let v = parse_payload(br#"{"a": NaN, "b": [Infinity, -Infinity], "s": "NaN \" Infinity"}"#).unwrap();
        assert_eq!(v, json!({"a": null, "b": [null, null], "s": "NaN \" Infinity"}));
    }

    #[test]
    fn deeply_nested_payloads_are_rejected_with_a_clear_error() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let Err(NormalizeError::InvalidJson(msg)) = parse_payload(deep.as_bytes()) else {
            panic!("deep payload accepted");
        };
        assert!(msg.contains("nested deeper than 128"), "{msg}");
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_payload(ok.as_bytes()).is_ok());
    }

    mod robustness {
        use super::*;
        use proptest::prelude::*;

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
                "[a-z{}:%?=&;# .-]{0,12}".prop_map(Value::from),
                prop_oneof![
                    Just("{{auto}}"),
                    Just("transaction"),
                    Just("2024-01-02T03:04:05Z"),
                    Just("values"),
                    Just("frames"),
                    Just("Cookie"),
                    Just("a=1; b"),
                ]
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(5, 64, 6, |inner| {
                let keys = prop_oneof![
                    Just("exception".to_owned()),
                    Just("values".to_owned()),
                    Just("stacktrace".to_owned()),
                    Just("frames".to_owned()),
                    Just("type".to_owned()),
                    Just("value".to_owned()),
                    Just("tags".to_owned()),
                    Just("request".to_owned()),
                    Just("headers".to_owned()),
                    Just("cookies".to_owned()),
                    Just("user".to_owned()),
                    Just("contexts".to_owned()),
                    Just("breadcrumbs".to_owned()),
                    Just("threads".to_owned()),
                    Just("logentry".to_owned()),
                    Just("message".to_owned()),
                    Just("params".to_owned()),
                    Just("timestamp".to_owned()),
                    Just("level".to_owned()),
                    Just("vars".to_owned()),
                    Just("_meta".to_owned()),
                    Just("errors".to_owned()),
                    Just("ip_address".to_owned()),
                    Just("env".to_owned()),
                    "[a-z_]{1,6}",
                ];
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn parse_and_normalize_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                if let Ok(v) = parse_payload(&bytes) {
                    let _ = normalize(v, &ctx());
                }
            }

            #[test]
            fn normalize_never_panics_on_json_values(v in arb_json()) {
                let wrapped = json!({"exception": v.clone(), "request": v.clone(), "tags": v.clone(),
                                     "user": v.clone(), "contexts": v.clone(), "breadcrumbs": v.clone(),
                                     "message": v.clone(), "threads": v.clone(), "timestamp": v.clone()});
                let out = normalize(wrapped, &ctx()).unwrap();
                prop_assert!(out["event_id"].as_str().is_some_and(is_fresh_id));
                let _ = normalize(v, &ctx());
            }

            #[test]
            fn normalizing_twice_is_stable(v in arb_json()) {
                let once = normalize(json!({"event_id": "5c5d4e3b2a19488f9b0c1d2e3f405162",
                                            "exception": v.clone(), "tags": v.clone(),
                                            "request": v}), &ctx()).unwrap();
                let mut twice = normalize(once.clone(), &ctx()).unwrap();
                let mut once = once;
                // Errors and meta accumulate on re-normalization, and a rejected
                // field left as null is absent the second time; compare the data.
                for ev in [&mut once, &mut twice] {
                    let map = ev.as_object_mut().unwrap();
                    map.remove("errors");
                    map.remove("_meta");
                    map.retain(|_, v| !v.is_null());
                }
                prop_assert_eq!(once, twice);
            }
        }
    }
}

use serde_json::{Map, Value};

use meta::{Path, Recorder};
use scalars::{parse_timestamp, rfc3339, seconds_value, strict_string, truncate_chars};

/// Deepest nesting accepted in a payload.
pub const MAX_DEPTH: usize = 128;

/// What the normalizer needs to know that is not in the payload.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    pub project_id: u64,
    /// Receive time, Unix seconds.
    pub received_at: f64,
    /// The client's address, used for `{{auto}}` user IPs when `infer_ip` is true.
    pub client_ip: Option<String>,
    pub infer_ip: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("invalid event payload: {0}")]
    InvalidJson(String),
    #[error("event payload is not a JSON object")]
    NotAnObject,
}

/// Parses an event payload, tolerating bare `NaN`/`Infinity` (mapped to null).
/// Nesting deeper than [`MAX_DEPTH`] is rejected.
pub fn parse_payload(bytes: &[u8]) -> Result<Value, NormalizeError> {
    match from_bytes(bytes) {
        Ok(value) => Ok(value),
        Err(first) => match replace_non_finite(bytes) {
            Some(patched) => from_bytes(&patched).map_err(json_error),
            None => Err(json_error(first)),
        },
    }
}

/// `serde_json::from_slice`, but one UTF-8 check of the whole payload instead of one
/// per string (about a tenth of parsing). Invalid UTF-8 goes the per-string way, so
/// errors and their positions are the same.
fn from_bytes(bytes: &[u8]) -> serde_json::Result<Value> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

fn json_error(err: serde_json::Error) -> NormalizeError {
    let text = err.to_string();
    if text.contains("recursion limit exceeded") {
        NormalizeError::InvalidJson(format!("JSON nested deeper than {MAX_DEPTH} levels"))
    } else {
        NormalizeError::InvalidJson(text)
    }
}

/// Rewrites bare `NaN`, `Infinity` and `-Infinity` outside strings to `null`
/// (Python clients emit them); `None` when there is nothing to rewrite.
fn replace_non_finite(bytes: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(token) = TOKENS.iter().find(|t| bytes[i..].starts_with(t)) {
            out.extend_from_slice(b"null");
            i += token.len();
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// Normalizes one event in place of the raw payload.
pub fn normalize(event: Value, ctx: &NormalizeContext) -> Result<Value, NormalizeError> {
    let Value::Object(mut ev) = event else {
        return Err(NormalizeError::NotAnObject);
    };
    let mut rec = Recorder::default();
    let received = if ctx.received_at.is_finite() {
        ctx.received_at
    } else {
        now_secs()
    };

    apply_legacy_aliases(&mut ev);
    let event_id = normalize_event_id(&mut ev, &mut rec);
    let is_transaction = matches!(ev.get("type"), Some(Value::String(t)) if t == "transaction");
    normalize_level(&mut ev, is_transaction, &mut rec);
    attrs::normalize_fingerprint(&mut ev, &mut rec);
    normalize_plain_strings(&mut ev, &mut rec);
    attrs::normalize_logentry(&mut ev, &mut rec);
    normalize_platform(&mut ev, &mut rec);
    parse_event_timestamps(&mut ev, &mut rec);
    attrs::normalize_release_fields(&mut ev, &mut rec);
    http::normalize_user(&mut ev, &mut rec);
    http::normalize_request(&mut ev, &mut rec);
    http::apply_ip_rules(&mut ev, ctx);
    attrs::normalize_contexts(&mut ev, &event_id, &mut rec);
    stack::normalize_breadcrumbs(&mut ev, &mut rec);
    let exception_count = stack::normalize_exceptions(&mut ev, &mut rec);
    stack::normalize_root_stacktrace(&mut ev, &mut rec);
    attach_stacktrace_to_sole_exception(&mut ev, exception_count);
    stack::normalize_threads(&mut ev, &mut rec);
    attrs::normalize_tags(&mut ev, &mut rec);
    attrs::normalize_extra(&mut ev, &mut rec);
    clamp_future_timestamp(&mut ev, received, &mut rec);

    let ty = if is_transaction {
        "transaction"
    } else if exception_count > 0 {
        "error"
    } else {
        "default"
    };
    ev.insert("type".to_owned(), Value::from(ty));
    ev.insert("event_id".to_owned(), Value::String(event_id));
    if matches!(ev.get("logger"), None | Some(Value::Null)) {
        ev.insert("logger".to_owned(), Value::from(""));
    }
    if matches!(ev.get("timestamp"), None | Some(Value::Null)) {
        ev.insert("timestamp".to_owned(), seconds_value(received));
    }
    ev.insert("received".to_owned(), seconds_value(received));
    ev.insert("project".to_owned(), Value::from(ctx.project_id));

    rec.finish(&mut ev);
    Ok(Value::Object(ev))
}

fn now_secs() -> f64 {
    let now = chrono::Utc::now();
    now.timestamp() as f64 + f64::from(now.timestamp_subsec_micros()) / 1e6
}

/// Old interface names, each read only when the modern key is absent.
const LEGACY_ALIASES: &[(&str, &str)] = &[
    ("exception", "sentry.interfaces.Exception"),
    ("logentry", "sentry.interfaces.Message"),
    ("logentry", "message"),
    ("stacktrace", "sentry.interfaces.Stacktrace"),
    ("user", "sentry.interfaces.User"),
    ("request", "sentry.interfaces.Http"),
    ("breadcrumbs", "sentry.interfaces.Breadcrumbs"),
    ("contexts", "sentry.interfaces.Contexts"),
    ("template", "sentry.interfaces.Template"),
    ("debug_meta", "sentry.interfaces.DebugMeta"),
];

fn apply_legacy_aliases(ev: &mut Map<String, Value>) {
    for (modern, legacy) in LEGACY_ALIASES {
        if !ev.contains_key(*modern)
            && let Some(value) = ev.remove(*legacy)
        {
            ev.insert((*modern).to_owned(), value);
        }
    }
}

/// The payload's id as 32 lowercase hex digits; a fresh id when missing or invalid.
fn normalize_event_id(ev: &mut Map<String, Value>, rec: &mut Recorder) -> String {
    let path = Path::root("event_id");
    match ev.remove("event_id") {
        None | Some(Value::Null) => scalars::fresh_event_id(),
        Some(Value::String(raw)) => match scalars::parse_event_id(&raw) {
            Ok(id) => id,
            Err(reason) => {
                rec.invalid(&path, &reason, Some(Value::String(raw)));
                scalars::fresh_event_id()
            }
        },
        Some(other) => {
            rec.invalid(&path, "expected an event id", Some(other));
            scalars::fresh_event_id()
        }
    }
}

fn normalize_level(ev: &mut Map<String, Value>, is_transaction: bool, rec: &mut Recorder) {
    let default = if is_transaction { "info" } else { "error" };
    let level = match ev.get("level") {
        None | Some(Value::Null) => default,
        Some(raw) => match scalars::parse_level(raw) {
            Ok(level) => level,
            Err(reason) => {
                let original = ev.remove("level");
                rec.invalid(&Path::root("level"), reason, original);
                default
            }
        },
    };
    ev.insert("level".to_owned(), Value::from(level));
}

fn normalize_plain_strings(ev: &mut Map<String, Value>, rec: &mut Recorder) {
    for (key, max_chars) in [("culprit", None), ("transaction", Some(200)), ("logger", Some(64))] {
        strict_string(ev, key, &Path::root(key), rec);
        if let (Some(max), Some(Value::String(s))) = (max_chars, ev.get_mut(key)) {
            truncate_chars(s, max);
        }
    }
}

/// Platforms Sentry knows; anything else becomes `other`, keeping the original.
const PLATFORMS: &[&str] = &[
    "as3",
    "c",
    "cfml",
    "cocoa",
    "csharp",
    "elixir",
    "haskell",
    "go",
    "groovy",
    "java",
    "javascript",
    "native",
    "node",
    "objc",
    "other",
    "perl",
    "php",
    "python",
    "ruby",
];

fn normalize_platform(ev: &mut Map<String, Value>, rec: &mut Recorder) {
    let known = matches!(ev.get("platform"), Some(Value::String(p)) if PLATFORMS.contains(&p.as_str()));
    if known {
        return;
    }
    if let Some(original) = ev.insert("platform".to_owned(), Value::from("other"))
        && !original.is_null()
    {
        rec.remark(&Path::root("platform"), original);
    }
}

fn parse_event_timestamps(ev: &mut Map<String, Value>, rec: &mut Recorder) {
    for key in ["timestamp", "start_timestamp"] {
        if let Some(slot) = ev.get_mut(key)
            && !slot.is_null()
        {
            match parse_timestamp(slot) {
                Some(secs) => *slot = seconds_value(secs),
                None => {
                    let original = slot.take();
                    rec.invalid(&Path::root(key), "expected a valid timestamp", Some(original));
                }
            }
        }
    }
}

/// Seconds a timestamp may lie ahead of the receive time.
const MAX_SECS_IN_FUTURE: f64 = 60.0;

/// A timestamp more than a minute in the future is taken as clock drift: the
/// event's timestamps (and breadcrumbs') shift so that it equals the receive time.
fn clamp_future_timestamp(ev: &mut Map<String, Value>, received: f64, rec: &mut Recorder) {
    let Some(sent) = ev.get("timestamp").and_then(Value::as_f64) else {
        return;
    };
    if sent <= received + MAX_SECS_IN_FUTURE {
        return;
    }
    let shift = received - sent;
    let shift_value = |slot: &mut Value| {
        if let Some(t) = slot.as_f64() {
            *slot = seconds_value(((t + shift) * 1e6).round() / 1e6);
        }
    };
    ev.insert("timestamp".to_owned(), seconds_value(received));
    if let Some(slot) = ev.get_mut("start_timestamp") {
        shift_value(slot);
    }
    if let Some(Value::Array(crumbs)) = ev.get_mut("breadcrumbs").and_then(|b| b.get_mut("values")) {
        for crumb in crumbs {
            if let Some(slot) = crumb.get_mut("timestamp") {
                shift_value(slot);
            }
        }
    }
    let mut data = Map::new();
    data.insert("sdk_time".to_owned(), Value::String(rfc3339(sent)));
    data.insert("server_time".to_owned(), Value::String(rfc3339(received)));
    rec.error(&Path::root("timestamp"), "future_timestamp", data, None);
}

/// Policy: a legacy top-level `stacktrace` belongs to the exception when there
/// is exactly one and it has no stack trace of its own; otherwise it stays.
fn attach_stacktrace_to_sole_exception(ev: &mut Map<String, Value>, exception_count: usize) {
    if exception_count != 1 || !matches!(ev.get("stacktrace"), Some(Value::Object(_))) {
        return;
    }
    let Some(Value::Object(exception)) = ev
        .get_mut("exception")
        .and_then(|e| e.get_mut("values"))
        .and_then(|v| v.get_mut(0))
    else {
        return;
    };
    if !matches!(exception.get("stacktrace"), None | Some(Value::Null)) {
        return;
    }
    if let Some(trace) = ev.remove("stacktrace")
        && let Some(Value::Object(exception)) = ev
            .get_mut("exception")
            .and_then(|e| e.get_mut("values"))
            .and_then(|v| v.get_mut(0))
    {
        exception.insert("stacktrace".to_owned(), trace);
    }
}
