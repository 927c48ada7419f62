//! The exception chain of an event as a page shows it: the outermost exception first,
//! each stack trace with the most recent call first, in-app frames shown and runs of
//! system frames folded, context lines windowed around the line that failed, and frame
//! variables with what the scrubber did to them.

use serde_json::Value;

use super::meta::{Field, field, field_at, text_of};

/// Context lines shown on each side of the line that failed.
pub const CONTEXT_LINES: usize = 5;
/// Most frames shown per stack trace (the outermost and innermost halves are kept).
const MAX_FRAMES: usize = 200;
/// Most variables shown per frame.
const MAX_VARS: usize = 50;
/// Most exceptions shown from one chain.
const MAX_EXCEPTIONS: usize = 20;

#[derive(Debug, Clone)]
pub struct ExceptionView {
    pub kind: String,
    pub value: Field,
    pub module: Option<String>,
    /// The mechanism, e.g. "excepthook (unhandled)".
    pub mechanism: Option<String>,
    pub groups: Vec<FrameGroup>,
    /// Frames left out of a very long stack trace.
    pub frames_omitted: usize,
}

/// A run of frames: one in-app frame, or consecutive system frames folded together.
#[derive(Debug, Clone)]
pub struct FrameGroup {
    pub in_app: bool,
    /// Show a folded run unfolded (when the trace has no in-app frame at all).
    pub open: bool,
    pub frames: Vec<FrameView>,
}

#[derive(Debug, Clone)]
pub struct FrameView {
    /// "app/views.py in checkout at line 42".
    pub location: String,
    pub function: String,
    pub in_app: bool,
    pub lines: Vec<ContextLine>,
    pub vars: Vec<(String, Field)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextLine {
    pub number: Option<i64>,
    pub code: String,
    /// The line the frame was executing.
    pub current: bool,
}

/// The exceptions of `event`, outermost (the last in the payload) first.
pub fn exceptions(event: &Value) -> Vec<ExceptionView> {
    let meta = event.get("_meta");
    let values = event
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for (index, exception) in values.iter().enumerate().rev().take(MAX_EXCEPTIONS) {
        let i = index.to_string();
        let kind = exception
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("Error")
            .to_owned();
        let value = field_at(event, meta, &["exception", "values", &i, "value"]);
        let module = exception.get("module").and_then(Value::as_str).map(str::to_owned);
        let mechanism = exception.get("mechanism").map(mechanism_text);
        let frames = exception
            .pointer("/stacktrace/frames")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let frame_meta = |j: usize| -> Option<&Value> {
            ["exception", "values", &i, "stacktrace", "frames", &j.to_string()]
                .iter()
                .try_fold(meta?, |node, key| node.get(*key))
        };
        let (shown, frames_omitted) = bounded(frames.len(), MAX_FRAMES);
        // Most recent call first, as Sentry shows them.
        let views: Vec<FrameView> = shown
            .into_iter()
            .rev()
            .map(|j| frame(&frames[j], frame_meta(j)))
            .collect();
        out.push(ExceptionView {
            kind,
            value,
            module,
            mechanism,
            groups: group_frames(views),
            frames_omitted,
        });
    }
    out
}

/// Indices of at most `max` of `len` items (the first and last halves); and how many
/// were left out.
fn bounded(len: usize, max: usize) -> (Vec<usize>, usize) {
    if len <= max {
        return ((0..len).collect(), 0);
    }
    let half = max / 2;
    let mut shown: Vec<usize> = (0..half).collect();
    shown.extend(len - (max - half)..len);
    (shown, len - max)
}

fn mechanism_text(mechanism: &Value) -> String {
    let kind = mechanism.get("type").and_then(Value::as_str).unwrap_or("generic");
    match mechanism.get("handled").and_then(Value::as_bool) {
        Some(true) => format!("{kind} (handled)"),
        Some(false) => format!("{kind} (unhandled)"),
        None => kind.to_owned(),
    }
}

/// One frame; `meta` is the `_meta` subtree of this frame.
fn frame(frame: &Value, meta: Option<&Value>) -> FrameView {
    let str_of = |k: &str| frame.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let function = str_of("function").unwrap_or("?").to_owned();
    let file = str_of("filename")
        .or_else(|| str_of("abs_path"))
        .or_else(|| str_of("module"))
        .or_else(|| str_of("package"))
        .unwrap_or("?");
    let lineno = frame.get("lineno").and_then(Value::as_i64);
    let location = match lineno {
        Some(n) => format!("{file} in {function} at line {n}"),
        None => format!("{file} in {function}"),
    };
    let lines = context_lines(frame, CONTEXT_LINES);
    let vars = frame
        .get("vars")
        .and_then(Value::as_object)
        .map(|vars| {
            let vars_meta = meta.and_then(|m| m.get("vars"));
            vars.iter()
                .take(MAX_VARS)
                .map(|(name, value)| {
                    let note = vars_meta.and_then(|m| m.get(name)).and_then(|m| m.get(""));
                    (name.clone(), field(Some(value), note))
                })
                .collect()
        })
        .unwrap_or_default();
    FrameView {
        location,
        function,
        in_app: frame.get("in_app").and_then(Value::as_bool).unwrap_or(false),
        lines,
        vars,
    }
}

/// The frame's source around the line that failed: at most `window` lines before and
/// after it, numbered from the frame's `lineno` when it has one.
pub fn context_lines(frame: &Value, window: usize) -> Vec<ContextLine> {
    let Some(current) = frame.get("context_line").map(text_of) else {
        return Vec::new();
    };
    let list = |k: &str| -> Vec<String> {
        frame
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(text_of).collect())
            .unwrap_or_default()
    };
    let pre = list("pre_context");
    let post = list("post_context");
    let lineno = frame.get("lineno").and_then(Value::as_i64);
    let pre = &pre[pre.len().saturating_sub(window)..];
    let post = &post[..post.len().min(window)];
    let first = lineno.map(|n| n - pre.len() as i64);
    let mut out = Vec::with_capacity(pre.len() + 1 + post.len());
    let number = |offset: usize| first.map(|f| f + offset as i64);
    for (k, code) in pre.iter().enumerate() {
        out.push(ContextLine {
            number: number(k),
            code: code.clone(),
            current: false,
        });
    }
    out.push(ContextLine {
        number: lineno,
        code: current,
        current: true,
    });
    for (k, code) in post.iter().enumerate() {
        out.push(ContextLine {
            number: number(pre.len() + 1 + k),
            code: code.clone(),
            current: false,
        });
    }
    out
}

/// Each in-app frame on its own; consecutive system frames folded into one group. A
/// trace without any in-app frame is shown unfolded.
pub fn group_frames(frames: Vec<FrameView>) -> Vec<FrameGroup> {
    let any_app = frames.iter().any(|f| f.in_app);
    let mut groups: Vec<FrameGroup> = Vec::new();
    for frame in frames {
        match groups.last_mut() {
            Some(last) if !last.in_app && !frame.in_app => last.frames.push(frame),
            _ => groups.push(FrameGroup {
                in_app: frame.in_app,
                open: !any_app,
                frames: vec![frame],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numbered(lines: &[ContextLine]) -> Vec<(Option<i64>, &str, bool)> {
        lines.iter().map(|l| (l.number, l.code.as_str(), l.current)).collect()
    }

    #[test]
    fn context_lines_are_windowed_and_numbered_around_the_failing_line() {
        let frame = json!({
            "lineno": 20,
            "pre_context": ["a", "b", "c"],
            "context_line": "boom()",
            "post_context": ["d", "e", "f"]
        });
        let lines = context_lines(&frame, 2);
        assert_eq!(
            numbered(&lines),
            vec![
                (Some(18), "b", false),
                (Some(19), "c", false),
                (Some(20), "boom()", true),
                (Some(21), "d", false),
                (Some(22), "e", false),
            ]
        );
    }

    #[test]
    fn a_frame_without_source_has_no_context_lines() {
        assert!(context_lines(&json!({"lineno": 3}), 5).is_empty());
        let lines = context_lines(&json!({"context_line": "x"}), 5);
        assert_eq!(numbered(&lines), vec![(None, "x", true)]);
    }

    #[test]
    fn system_frames_are_folded_between_in_app_frames() {
        let event = json!({"exception": {"values": [{
            "type": "ZeroDivisionError",
            "value": "division by zero",
            "stacktrace": {"frames": [
                {"function": "main", "filename": "lib/runner.py", "in_app": false},
                {"function": "call", "filename": "lib/runner.py", "in_app": false},
                {"function": "handler", "filename": "app/views.py", "in_app": true, "lineno": 7},
                {"function": "divide", "filename": "app/math.py", "in_app": true, "lineno": 3}
            ]}
        }]}});
        let views = exceptions(&event);
        assert_eq!(views.len(), 1);
        let groups = &views[0].groups;
        let shape: Vec<(bool, usize)> = groups.iter().map(|g| (g.in_app, g.frames.len())).collect();
        assert_eq!(shape, vec![(true, 1), (true, 1), (false, 2)]);
        assert_eq!(groups[0].frames[0].location, "app/math.py in divide at line 3");
        assert!(!groups[2].open);
    }

    #[test]
    fn a_trace_with_no_in_app_frame_is_shown_unfolded() {
        let groups = group_frames(vec![
            frame(&json!({"function": "a"}), None),
            frame(&json!({"function": "b"}), None),
        ]);
        assert_eq!(groups.len(), 1);
        assert!(groups[0].open);
    }

    #[test]
    fn the_outermost_exception_comes_first_and_scrubbed_vars_are_named() {
        let event = json!({
            "exception": {"values": [
                {"type": "KeyError", "value": "k"},
                {"type": "RuntimeError", "value": "wrapped", "stacktrace": {"frames": [
                    {"function": "f", "in_app": true, "vars": {"password": "[Filtered]", "n": 3}}
                ]}}
            ]},
            "_meta": {"exception": {"values": {"1": {"stacktrace": {"frames": {"0": {"vars": {
                "password": {"": {"rem": [["@password:filter", "s", 0, 10]], "len": 7}}
            }}}}}}}}
        });
        let views = exceptions(&event);
        assert_eq!(views[0].kind, "RuntimeError");
        assert_eq!(views[1].kind, "KeyError");
        let vars = &views[0].groups[0].frames[0].vars;
        let var = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, f)| f.text.clone());
        assert_eq!(var("n").as_deref(), Some("3"));
        assert_eq!(var("password").as_deref(), Some("[Filtered: password rule]"));
    }

    #[test]
    fn very_long_traces_keep_both_ends() {
        let (shown, omitted) = bounded(250, 200);
        assert_eq!(shown.len(), 200);
        assert_eq!(omitted, 50);
        assert_eq!(shown[99], 99);
        assert_eq!(shown[100], 150);
    }
}
