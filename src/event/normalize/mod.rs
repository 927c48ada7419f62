//! Normalization: every payload shape SDKs have ever sent becomes one canonical
//! event (Relay's normalized shape), so scrubbing, grouping and storage see one form.
//!
//! Rejected values never fail the event: they are dropped or defaulted and
//! recorded in `errors` and `_meta` (with the original value), as Relay does.
//! Unknown top-level keys and a client's own `_meta` are kept.

mod attrs;

mod http;

mod meta;

mod scalars;

mod stack;

#[cfg(test)]
mod tests;

use crate::event::json::{self, Map, Value};

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
/// The tree borrows its strings from `bytes`.
pub fn parse_payload(bytes: &[u8]) -> Result<Value<'_>, NormalizeError> {
    match from_bytes(bytes) {
        Ok(value) => Ok(value),
        Err(first) => match replace_non_finite(bytes) {
            // The patched copy is local: the tree owns its strings.
            Some(patched) => from_bytes(&patched).map(Value::into_owned).map_err(json_error),
            None => Err(json_error(first)),
        },
    }
}

/// `json::from_slice`, but one UTF-8 check of the whole payload instead of one
/// per string (about a tenth of parsing). Invalid UTF-8 goes the per-string way, so
/// errors and their positions are the same.
fn from_bytes(bytes: &[u8]) -> serde_json::Result<Value<'_>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => json::from_str(text),
        Err(_) => json::from_slice(bytes),
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
pub fn normalize<'a>(event: Value<'a>, ctx: &NormalizeContext) -> Result<Value<'a>, NormalizeError> {
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
    ev.insert("type", Value::from(ty));
    ev.insert("event_id", Value::from(event_id));
    if matches!(ev.get("logger"), None | Some(Value::Null)) {
        ev.insert("logger", Value::from(""));
    }
    if matches!(ev.get("timestamp"), None | Some(Value::Null)) {
        ev.insert("timestamp", seconds_value(received));
    }
    ev.insert("received", seconds_value(received));
    ev.insert("project", Value::from(ctx.project_id));

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

fn apply_legacy_aliases(ev: &mut Map<'_>) {
    for (modern, legacy) in LEGACY_ALIASES {
        if !ev.contains_key(modern)
            && let Some(value) = ev.remove(legacy)
        {
            ev.insert(*modern, value);
        }
    }
}

/// The payload's id as 32 lowercase hex digits; a fresh id when missing or invalid.
fn normalize_event_id<'a>(ev: &mut Map<'a>, rec: &mut Recorder<'a>) -> String {
    let path = Path::root("event_id");
    match ev.remove("event_id") {
        None | Some(Value::Null) => scalars::fresh_event_id(),
        Some(Value::String(raw)) => match scalars::parse_event_id(&raw) {
            Ok(id) => id,
            Err(reason) => {
                rec.invalid(&path, reason, Some(Value::String(raw)));
                scalars::fresh_event_id()
            }
        },
        Some(other) => {
            rec.invalid(&path, "expected an event id", Some(other));
            scalars::fresh_event_id()
        }
    }
}

fn normalize_level<'a>(ev: &mut Map<'a>, is_transaction: bool, rec: &mut Recorder<'a>) {
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
    ev.insert("level", Value::from(level));
}

fn normalize_plain_strings<'a>(ev: &mut Map<'a>, rec: &mut Recorder<'a>) {
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

fn normalize_platform<'a>(ev: &mut Map<'a>, rec: &mut Recorder<'a>) {
    let known = matches!(ev.get("platform"), Some(Value::String(p)) if PLATFORMS.contains(&p.as_str()));
    if known {
        return;
    }
    if let Some(original) = ev.insert("platform", Value::from("other"))
        && !original.is_null()
    {
        rec.remark(&Path::root("platform"), original);
    }
}

fn parse_event_timestamps<'a>(ev: &mut Map<'a>, rec: &mut Recorder<'a>) {
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
fn clamp_future_timestamp<'a>(ev: &mut Map<'a>, received: f64, rec: &mut Recorder<'a>) {
    let Some(sent) = ev.get("timestamp").and_then(Value::as_f64) else {
        return;
    };
    if sent <= received + MAX_SECS_IN_FUTURE {
        return;
    }
    let shift = received - sent;
    let shift_value = |slot: &mut Value<'a>| {
        if let Some(t) = slot.as_f64() {
            *slot = seconds_value(((t + shift) * 1e6).round() / 1e6);
        }
    };
    ev.insert("timestamp", seconds_value(received));
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
    data.insert("sdk_time", Value::from(rfc3339(sent)));
    data.insert("server_time", Value::from(rfc3339(received)));
    rec.error(&Path::root("timestamp"), "future_timestamp", data, None);
}

/// Policy: a legacy top-level `stacktrace` belongs to the exception when there
/// is exactly one and it has no stack trace of its own; otherwise it stays.
fn attach_stacktrace_to_sole_exception(ev: &mut Map<'_>, exception_count: usize) {
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
        exception.insert("stacktrace", trace);
    }
}
