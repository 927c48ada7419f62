//! The list interfaces: exceptions, stack traces and frames, threads and
//! breadcrumbs, each accepted in every shape SDKs send and written back as
//! `{"values": [...]}` with validated members.

use crate::event::json::{Map, Str, Value};

use super::meta::{Path, Recorder};
use super::scalars::{
    addr_field, bool_field, json_text, object_field, parse_level, parse_timestamp, seconds_value, strict_string,
    unsigned_field,
};

/// Unwraps the `{"values": [...]}`, bare array, single object and `{}` forms.
/// Returns `None` when the interface is absent or empty.
fn take_values<'a>(raw: Value<'a>, path: &Path<'_>, rec: &mut Recorder<'a>) -> Option<(Vec<Value<'a>>, Map<'a>)> {
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
fn put_values<'a>(event: &mut Map<'a>, key: &'static str, items: Vec<Value<'a>>, mut other: Map<'a>) {
    if items.is_empty() && other.is_empty() {
        return;
    }
    other.insert("values", Value::Array(items));
    event.insert(key, Value::Object(other));
}

/// Normalizes `exception`; returns how many exceptions remain.
pub(super) fn normalize_exceptions<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) -> usize {
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
                    data.insert("attribute", Value::from("type or value"));
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

fn is_blank(value: Option<&Value<'_>>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

fn normalize_exception_value<'a>(exc: &mut Map<'a>, path: &Path<'_>, rec: &mut Recorder<'a>) {
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
fn split_type_from_value(exc: &mut Map<'_>) {
    if !is_blank(exc.get("type")) {
        return;
    }
    let Some(Value::String(value)) = exc.get_mut("value") else {
        return;
    };
    let Some((ty, rest)) = value.split_once(':') else {
        return;
    };
    let is_word = !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !is_word || rest.contains('\n') {
        return;
    }
    let (ty_len, rest) = (ty.len(), Str::from(rest.trim().to_owned()));
    // The type is the start of the old value, cut in place.
    let mut ty = std::mem::replace(value, rest);
    ty.truncate(ty_len);
    exc.insert("type", Value::String(ty));
}

/// Validates `obj[key]` as a stack trace; non-raw traces get Relay's frame fix-ups.
pub(super) fn normalize_stacktrace<'a>(
    obj: &mut Map<'a>,
    key: &str,
    parent: &Path<'_>,
    rec: &mut Recorder<'a>,
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
pub(super) fn normalize_root_stacktrace<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
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

fn normalize_stacktrace_object<'a>(trace: &mut Map<'a>, path: &Path<'_>, rec: &mut Recorder<'a>, is_raw: bool) {
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

fn normalize_frame<'a>(f: &mut Map<'a>, path: &Path<'_>, rec: &mut Recorder<'a>, is_raw: bool) {
    if !frame_is_canonical(f) {
        validate_frame_fields(f, path, rec);
    }
    if !is_raw {
        fix_up_frame(f);
    }
}

/// True when every field already has its canonical type, so the
/// field-by-field pass (the slow path) can be skipped.
fn frame_is_canonical(f: &Map<'_>) -> bool {
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

fn validate_frame_fields<'a>(f: &mut Map<'a>, path: &Path<'_>, rec: &mut Recorder<'a>) {
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

fn context_lines<'a>(f: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
    match f.get_mut(key) {
        Some(Value::Array(lines)) => {
            let list_path = path.key(key);
            for (i, line) in lines.iter_mut().enumerate() {
                match line {
                    Value::String(_) => {}
                    Value::Null => *line = Value::from(""),
                    other => {
                        let original = std::mem::replace(other, Value::from(""));
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
fn frame_vars<'a>(f: &mut Map<'a>, path: &Path<'_>, rec: &mut Recorder<'a>) {
    let Some(slot) = f.get_mut("vars") else {
        return;
    };
    match slot.take() {
        Value::Array(items) => {
            let map: Map<'a> = items.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect();
            *slot = Value::Object(map);
        }
        v @ (Value::Object(_) | Value::Null) => *slot = v,
        other => rec.invalid(&path.key("vars"), "expected an object", Some(other)),
    }
}

fn non_empty_str<'v, 'a>(f: &'v Map<'a>, key: &str) -> Option<&'v Str<'a>> {
    match f.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Relay's fix-ups of symbolicated frames: `abs_path` and `filename` fill each
/// other, `?` placeholders vanish, missing context lines become empty strings.
fn fix_up_frame(f: &mut Map<'_>) {
    if non_empty_str(f, "abs_path").is_none()
        && let Some(filename) = non_empty_str(f, "filename")
    {
        let filename = filename.clone();
        f.insert("abs_path", Value::String(filename));
    }
    if non_empty_str(f, "filename").is_none()
        && let Some(abs_path) = non_empty_str(f, "abs_path")
    {
        let filename = match url_path(abs_path) {
            Some(path) => Str::from(path.to_owned()),
            None => abs_path.clone(),
        };
        f.insert("filename", Value::String(filename));
    }
    for key in ["function", "symbol"] {
        if matches!(f.get(key), Some(Value::String(s)) if s == "?") {
            f.remove(key);
        }
    }
    let has_context = ["pre_context", "post_context"]
        .iter()
        .any(|k| matches!(f.get(k), Some(Value::Array(a)) if !a.is_empty()));
    if has_context && matches!(f.get("context_line"), None | Some(Value::Null)) {
        f.insert("context_line", Value::from(""));
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
pub(super) fn normalize_threads<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
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
pub(super) fn normalize_breadcrumbs<'a>(event: &mut Map<'a>, rec: &mut Recorder<'a>) {
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

fn normalize_breadcrumb<'a>(crumb: &mut Map<'a>, path: &Path<'_>, rec: &mut Recorder<'a>) {
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
    crumb.insert("level", Value::from(level));
    if matches!(crumb.get("type"), None | Some(Value::Null)) {
        crumb.insert("type", Value::from("default"));
    }
    strict_string(crumb, "message", path, rec);
    object_field(crumb, "data", path, rec);
}
