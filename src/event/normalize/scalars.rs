//! Scalar coercions shared by every part of the event: timestamps, levels,
//! event ids, and the strict/lenient string rules of Relay's schema.

use crate::event::json::{Map, Number, Str, Value};
use chrono::{DateTime, NaiveDateTime};

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
pub(super) fn seconds_value(secs: f64) -> Value<'static> {
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

/// Parses an event id (32 hex digits, or hyphenated or braced forms, any case)
/// into 32 lowercase hex digits; the rules live in [`crate::ids::EventId`].
pub(super) fn parse_event_id(raw: &str) -> Result<String, String> {
    crate::ids::EventId::parse(raw)
        .map(|id| id.to_string())
        .map_err(|e| e.0)
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
pub(super) fn lenient_string(value: Value<'_>) -> Result<Str<'_>, Value<'_>> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(Str::from(number_text(&n))),
        Value::Bool(true) => Ok(Str::from("True")),
        Value::Bool(false) => Ok(Str::from("False")),
        other => Err(other),
    }
}

/// JSON-lenient string: strings as-is, anything else as its JSON text.
pub(super) fn json_text(value: Value<'_>) -> Str<'_> {
    match value {
        Value::String(s) => s,
        other => Str::from(value_json_text(&other)),
    }
}

/// The JSON text of a value (bounded in depth).
pub(super) fn value_json_text(value: &Value<'_>) -> String {
    if depth_exceeds(value, MAX_TEXT_DEPTH) {
        "<value nested too deeply>".to_owned()
    } else {
        serde_json::to_string(value).unwrap_or_default()
    }
}

/// True when `value` nests deeper than `limit` (bounded recursion).
pub(super) fn depth_exceeds(value: &Value<'_>, limit: usize) -> bool {
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
pub(super) fn strict_string<'a>(obj: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
    if let Some(slot) = obj.get_mut(key)
        && !matches!(slot, Value::String(_) | Value::Null)
    {
        let original = slot.take();
        rec.invalid(&path.key(key), "expected a string", Some(original));
    }
}

/// Coerces `obj[key]` with [`lenient_string`]; objects and arrays are nulled and recorded.
pub(super) fn lenient_field<'a>(obj: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
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
pub(super) fn bool_field<'a>(obj: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
    if let Some(slot) = obj.get_mut(key)
        && !matches!(slot, Value::Bool(_) | Value::Null)
    {
        let original = slot.take();
        rec.invalid(&path.key(key), "expected a boolean", Some(original));
    }
}

/// Requires a non-negative integer (integral floats are accepted).
pub(super) fn unsigned_field<'a>(obj: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
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
pub(super) fn object_field<'a>(obj: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
    if let Some(slot) = obj.get_mut(key)
        && !matches!(slot, Value::Object(_) | Value::Null)
    {
        let original = slot.take();
        rec.invalid(&path.key(key), "expected an object", Some(original));
    }
}

/// Addresses (`instruction_addr` etc.) as `0x…` lowercase hex.
pub(super) fn addr_field<'a>(obj: &mut Map<'a>, key: &str, path: &Path<'_>, rec: &mut Recorder<'a>) {
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
        Some(addr) => *slot = Value::from(format!("{addr:#x}")),
        None => {
            let original = slot.take();
            rec.invalid(&path.key(key), "expected an address", Some(original));
        }
    }
}

/// Cuts a string to at most `max_chars` characters, ending in `...` when cut.
pub(super) fn truncate_chars(s: &mut Str<'_>, max_chars: usize) {
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        let keep = s
            .char_indices()
            .nth(max_chars.saturating_sub(3))
            .map_or(cut, |(i, _)| i);
        s.truncate(keep);
        s.push_str("...");
    }
}

/// Removes leading and trailing whitespace; text is copied only when it had leading
/// whitespace.
pub(super) fn trim_str(s: &mut Str<'_>) {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    if start > 0 {
        *s = Str::from(s[start..].to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

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
        let mut s = Str::from("abcdefgh");
        truncate_chars(&mut s, 6);
        assert_eq!(s, "abc...");
        let mut short = Str::from("abc");
        truncate_chars(&mut short, 6);
        assert_eq!(short, "abc");
    }
}
