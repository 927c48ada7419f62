//! Issue title, culprit, metadata and location of an event, derived the way
//! Sentry derives them so SDK users see familiar issue names.

use crate::event::json::{Map, Value};

use super::IssueSummary;
use super::frames::str_field;
use super::lookup;

/// Longest title part taken from a message or exception value.
const TITLE_CHARS: usize = 100;
/// Longest culprit.
const CULPRIT_CHARS: usize = 200;

/// Derives title, culprit, metadata, kind and location of an event.
pub fn summarize(event: &Value<'_>) -> IssueSummary {
    let exceptions: Vec<&Value<'_>> = lookup(event, "/exception/values")
        .and_then(Value::as_array)
        .map(|values| values.iter().filter(|v| v.is_object()).collect())
        .unwrap_or_default();
    let frame = culprit_frame(event, &exceptions);
    let culprit = event
        .get("transaction")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(|t| truncate(t, CULPRIT_CHARS))
        .or_else(|| frame.and_then(|f| frame_culprit(f, event)));
    let location = frame
        .and_then(|f| str_field(f, "filename").or_else(|| str_field(f, "abs_path")))
        .map(str::to_owned);

    match exceptions.last() {
        Some(exception) => {
            let (title, metadata) = error_title(exception);
            IssueSummary {
                title,
                culprit,
                metadata,
                kind: "error",
                location,
            }
        }
        None => {
            let title = message_title(event);
            let mut metadata = Map::new();
            metadata.insert("title", Value::from(title.clone()));
            IssueSummary {
                metadata: Value::Object(metadata),
                title,
                culprit,
                kind: "default",
                location,
            }
        }
    }
}

fn error_title(exception: &Value<'_>) -> (String, Value<'static>) {
    let ty = exception.get("type").and_then(Value::as_str).filter(|s| !s.is_empty());
    let value = exception
        .get("value")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty());
    let synthetic = lookup(exception, "/mechanism/synthetic").and_then(Value::as_bool) == Some(true);
    let frames: Vec<&Map<'_>> = lookup(exception, "/stacktrace/frames")
        .and_then(Value::as_array)
        .map(|frames| frames.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let crash = frames
        .iter()
        .rev()
        .find(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .or_else(|| frames.last())
        .copied();
    let function = crash.and_then(|f| str_field(f, "function").or_else(|| str_field(f, "raw_function")));
    let filename = crash.and_then(|f| str_field(f, "filename").or_else(|| str_field(f, "abs_path")));

    let first_line = value.map(|v| {
        truncate(
            v.lines().find(|l| !l.trim().is_empty()).unwrap_or(v).trim(),
            TITLE_CHARS,
        )
    });
    let title = match (synthetic, function, ty, &first_line) {
        (true, Some(function), _, _) => function.to_owned(),
        (_, _, Some(ty), Some(line)) => format!("{ty}: {line}"),
        (_, _, Some(ty), None) => ty.to_owned(),
        (_, _, None, Some(line)) => line.clone(),
        _ => "<unknown>".to_owned(),
    };

    let mut metadata = Map::new();
    if let Some(ty) = ty {
        metadata.insert("type", Value::from(ty.to_owned()));
    }
    if let Some(value) = value {
        metadata.insert("value", Value::from(value.to_owned()));
    }
    if let Some(filename) = filename {
        metadata.insert("filename", Value::from(filename.to_owned()));
    }
    if let Some(function) = function {
        metadata.insert("function", Value::from(function.to_owned()));
    }
    if synthetic {
        metadata.insert("synthetic", Value::Bool(true));
    }
    let in_app = frames
        .iter()
        .filter(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .count();
    if !frames.is_empty() {
        let mix = match in_app {
            0 => "system-only",
            n if n == frames.len() => "in-app-only",
            _ => "mixed",
        };
        metadata.insert("in_app_frame_mix", Value::from(mix));
    }
    (title, Value::Object(metadata))
}

fn message_title(event: &Value<'_>) -> String {
    let text = ["/logentry/formatted", "/logentry/message", "/message"]
        .iter()
        .find_map(|key| {
            lookup(event, key)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
        });
    match text {
        Some(text) => truncate(
            text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim(),
            TITLE_CHARS,
        ),
        None => "<unlabeled event>".to_owned(),
    }
}

/// The most relevant frame: the last in-app frame (else the last frame) of
/// the last exception with frames, else of the crashed thread or the
/// top-level stack trace.
fn culprit_frame<'a, 'v>(event: &'a Value<'v>, exceptions: &[&'a Value<'v>]) -> Option<&'a Map<'v>> {
    let has_frames = |stack: &&Value<'_>| {
        stack
            .get("frames")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    };
    let stack = exceptions
        .iter()
        .rev()
        .filter_map(|e| e.get("stacktrace"))
        .find(has_frames)
        .or_else(|| {
            lookup(event, "/threads/values")
                .and_then(Value::as_array)
                .and_then(|threads| {
                    threads
                        .iter()
                        .find(|t| t.get("crashed").and_then(Value::as_bool) == Some(true))
                        .or(match threads.as_slice() {
                            [only] => Some(only),
                            _ => None,
                        })
                        .and_then(|t| t.get("stacktrace"))
                        .filter(has_frames)
                })
        })
        .or_else(|| event.get("stacktrace").filter(has_frames))?;
    let frames: Vec<&Map<'_>> = stack
        .get("frames")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .collect();
    frames
        .iter()
        .rev()
        .find(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .or_else(|| frames.last())
        .copied()
}

/// `module in function`, or `function(module)` on JavaScript, as Sentry.
fn frame_culprit(frame: &Map<'_>, event: &Value<'_>) -> Option<String> {
    let location = str_field(frame, "module").or_else(|| str_field(frame, "filename"))?;
    let function = str_field(frame, "function").unwrap_or("?");
    let platform = str_field(frame, "platform")
        .or_else(|| event.get("platform").and_then(Value::as_str))
        .unwrap_or("other");
    let culprit = if matches!(platform, "javascript" | "node") {
        format!("{function}({location})")
    } else {
        format!("{location} in {function}")
    };
    Some(truncate(&culprit, CULPRIT_CHARS))
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            let head = text.get(..cut).unwrap_or(text);
            let keep: String = head.chars().take(max_chars.saturating_sub(3)).collect();
            format!("{keep}...")
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    #[test]
    fn error_title_is_type_and_first_line_of_value() {
        let event = json!({"platform": "python", "exception": {"values": [
            {"type": "KeyError", "value": "cause"},
            {"type": "ValueError", "value": "order 17\nnot found", "stacktrace": {"frames": [
                {"function": "main", "module": "app.cli", "filename": "app/cli.py", "in_app": true},
                {"function": "get", "module": "requests.api", "filename": "requests/api.py", "in_app": false}
            ]}}
        ]}});
        let summary = summarize(&event);
        assert_eq!(summary.title, "ValueError: order 17");
        assert_eq!(summary.kind, "error");
        assert_eq!(summary.culprit.as_deref(), Some("app.cli in main"));
        assert_eq!(summary.location.as_deref(), Some("app/cli.py"));
        assert_eq!(
            summary.metadata,
            json!({"type": "ValueError", "value": "order 17\nnot found", "filename": "app/cli.py",
                   "function": "main", "in_app_frame_mix": "mixed"})
        );
    }

    #[test]
    fn type_only_title_and_long_values_are_truncated() {
        let event = json!({"exception": {"values": [{"type": "Boom"}]}});
        assert_eq!(summarize(&event).title, "Boom");
        let long = "x".repeat(300);
        let event = json!({"exception": {"values": [{"type": "E", "value": long}]}});
        let title = summarize(&event).title;
        assert_eq!(title.chars().count(), 3 + TITLE_CHARS);
        assert!(title.ends_with("..."));
    }

    #[test]
    fn synthetic_exception_is_titled_by_crash_function() {
        let event = json!({"platform": "native", "exception": {"values": [{"type": "SIGSEGV",
            "mechanism": {"type": "signalhandler", "synthetic": true},
            "stacktrace": {"frames": [{"function": "render", "in_app": true}]}}]}});
        let summary = summarize(&event);
        assert_eq!(summary.title, "render");
        assert_eq!(summary.metadata.get("function"), Some(&json!("render")));
    }

    #[test]
    fn message_event_title_and_transaction_culprit() {
        let event = json!({"transaction": "/orders/{id}", "logentry": {"message": "user %s locked out", "formatted": "user bob locked out\nmore"}});
        let summary = summarize(&event);
        assert_eq!(summary.title, "user bob locked out");
        assert_eq!(summary.kind, "default");
        assert_eq!(summary.metadata, json!({"title": "user bob locked out"}));
        assert_eq!(summary.culprit.as_deref(), Some("/orders/{id}"));
        assert_eq!(summarize(&json!({})).title, "<unlabeled event>");
    }

    #[test]
    fn javascript_culprit_uses_function_then_location() {
        let event = json!({"platform": "javascript", "exception": {"values": [{"type": "TypeError", "value": "x",
            "stacktrace": {"frames": [{"function": "onClick", "filename": "/static/app.js", "in_app": true}]}}]}});
        assert_eq!(summarize(&event).culprit.as_deref(), Some("onClick(/static/app.js)"));
    }
}
