//! Applies JavaScript source maps to an event's exception frames, before grouping, so an
//! issue names the original files, lines and functions and two builds of the same code
//! group together. Pure: [`requests`] says which minified files an event needs, the caller
//! fetches and parses their maps (ingest, with a cache), and [`apply`] rewrites the frames,
//! keeping the minified ones in each exception's `raw_stacktrace` and explaining every
//! frame it could not map in the event's `errors`, as Sentry does.

mod map;
pub mod paths;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::event::json::{Map, Value, json};
use ::sourcemap::{SourceView, Token};
use uuid::Uuid;

pub use map::{MAX_MAP_SIZE, MapError, MapReference, ParsedMap, map_reference, parse_map};

/// Distinct minified files looked up per event; frames in further files stay as sent.
pub const MAX_FILES: usize = 32;
/// Frames mapped per event (all exceptions together).
pub const MAX_FRAMES: usize = 1_000;
/// `errors` entries added per event.
const MAX_ERRORS: usize = 32;
/// Lines of context on each side of a frame's line.
const CONTEXT_LINES: u32 = 5;

/// One minified file an event's frames point into, with the debug id the SDK reported for
/// it (`debug_meta.images` of type `sourcemap`), if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRequest {
    pub abs_path: String,
    pub debug_id: Option<Uuid>,
}

/// How a minified file's map was found, or why it was not.
#[derive(Debug, Clone)]
pub enum Resolution {
    Mapped(Arc<ParsedMap>),
    Failed(Problem),
}

/// Why a file's frames could not be mapped; each becomes one Sentry-shaped `errors` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Neither a bundle for the file's debug id nor a release file for its URL.
    NoArtifact {
        debug_id: Option<Uuid>,
        release: Option<String>,
    },
    /// The minified file was found but names no map (no comment, no header).
    NoMapReference { minified_url: String },
    /// The minified file names a map that was not uploaded.
    MapNotFound { map_url: String },
    /// The map could not be parsed.
    InvalidMap { url: String, reason: String },
    /// The map is larger than `MAX_MAP_SIZE`.
    TooLarge { url: String },
}

/// What applying maps did, for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub mapped_frames: usize,
    pub errors: usize,
}

/// The minified files an event's JavaScript frames point into, at most [`MAX_FILES`], in
/// frame order. Empty for events without JavaScript frames: they pay nothing more.
pub fn requests(event: &Value) -> Vec<FileRequest> {
    let images = debug_images(event);
    let platform = event.get("platform").and_then(Value::as_str).unwrap_or("");
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for frame in exception_frames(event) {
        let Some(abs_path) = js_path(platform, frame, &images) else {
            continue;
        };
        if seen.insert(abs_path) {
            out.push(FileRequest {
                abs_path: abs_path.to_string(),
                debug_id: images.get(abs_path).copied(),
            });
            if out.len() >= MAX_FILES {
                break;
            }
        }
    }
    out
}

/// The release and dist release files are looked up under.
pub fn release_of(event: &Value) -> Option<(String, Option<String>)> {
    let text = |k: &str| {
        event
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Some((text("release")?, text("dist")))
}

/// Rewrites each JavaScript frame whose file resolved to a map (`resolved`, by the
/// frame's `abs_path`), saves each changed exception's minified frames as its
/// `raw_stacktrace`, and appends an `errors` entry for each file or frame that could not be
/// mapped. `sources` holds original sources uploaded beside a map without `sourcesContent`,
/// by their resolved URL.
pub fn apply(
    event: &mut Value,
    resolved: &HashMap<String, Resolution>,
    sources: &HashMap<String, Arc<SourceView>>,
) -> Applied {
    let images = debug_images(event);
    let platform = event.get("platform").and_then(Value::as_str).unwrap_or("").to_string();
    let mut errors = Errors::default();
    let mut budget = MAX_FRAMES;
    let mut mapped_frames = 0;
    if let Some(Value::Array(values)) = event.pointer_mut("/exception/values") {
        for exception in values.iter_mut() {
            let Some(frames) = exception.pointer("/stacktrace/frames").and_then(Value::as_array) else {
                continue;
            };
            let raw = frames.clone();
            let mut new_frames = raw.clone();
            let mut changed = false;
            // The caller's call-site token names the function a frame runs in.
            let mut caller_name: Option<String> = None;
            for frame in new_frames.iter_mut() {
                let call_site = if budget == 0 {
                    None
                } else {
                    budget -= 1;
                    map_frame(
                        &platform,
                        frame,
                        &images,
                        resolved,
                        sources,
                        caller_name.as_deref(),
                        &mut errors,
                    )
                };
                changed |= call_site.is_some();
                caller_name = call_site.flatten();
            }
            if changed && let Some(obj) = exception.as_object_mut() {
                mapped_frames += new_frames.iter().zip(&raw).filter(|(a, b)| a != b).count();
                let mut raw_trace = obj.get("stacktrace").cloned().unwrap_or_else(|| json!({}));
                raw_trace["frames"] = Value::Array(raw);
                if let Some(trace) = obj.get_mut("stacktrace").and_then(Value::as_object_mut) {
                    trace.insert("frames", Value::Array(new_frames));
                }
                obj.insert("raw_stacktrace", raw_trace);
            }
        }
    }
    let added = errors.entries.len();
    if added > 0
        && let Some(obj) = event.as_object_mut()
    {
        match obj.get_mut("errors") {
            Some(Value::Array(existing)) => existing.extend(errors.entries),
            _ => {
                obj.insert("errors", Value::Array(errors.entries));
            }
        }
    }
    Applied {
        mapped_frames,
        errors: added,
    }
}

/// Maps one frame in place. `None`: not a JavaScript frame or not mapped; `Some(name)`:
/// mapped, with the original name at its call site (the name of the function it called).
fn map_frame(
    platform: &str,
    frame: &mut Value,
    images: &HashMap<String, Uuid>,
    resolved: &HashMap<String, Resolution>,
    sources: &HashMap<String, Arc<SourceView>>,
    caller_name: Option<&str>,
    errors: &mut Errors,
) -> Option<Option<String>> {
    let abs_path = js_path(platform, frame, images)?.to_string();
    // Only frames of the application itself are worth an explanation when unmapped.
    let explain = frame.get("in_app").and_then(Value::as_bool) != Some(false);
    let resolution = resolved.get(&abs_path)?;
    let parsed = match resolution {
        Resolution::Mapped(parsed) => parsed,
        Resolution::Failed(problem) => {
            if explain {
                errors.push(problem_entry(problem, &abs_path));
            }
            return None;
        }
    };
    let position = |key: &str| {
        frame
            .get(key)
            .and_then(Value::as_u64)
            .filter(|n| (1..=u32::MAX as u64).contains(n))
            .map(|n| n as u32 - 1)
    };
    let (Some(line), Some(column)) = (position("lineno"), position("colno")) else {
        if explain {
            errors.push(json!({"type": "js_no_column", "url": abs_path}));
        }
        return None;
    };
    let token = parsed
        .map
        .lookup_token(line, column)
        .filter(|t| t.get_dst_line() == line);
    let Some(token) = token.filter(Token::has_source) else {
        if explain {
            errors.push(json!({
                "type": "js_invalid_sourcemap_location",
                "column": column as u64 + 1, "row": line as u64 + 1, "source": abs_path,
            }));
        }
        return None;
    };
    let source = token.get_source().unwrap_or_default();
    let base = parsed.url.as_deref().unwrap_or(&abs_path);
    let original = paths::join(base, source);
    let (src_line, src_col) = (token.get_src_line(), token.get_src_col());

    let function = original_function(parsed, frame, line, column, caller_name);
    let obj = frame.as_object_mut()?;
    let (filename, not_app) = paths::filename_of(&original);
    obj.insert("abs_path", Value::from(original.clone()));
    obj.insert("filename", Value::from(filename));
    obj.insert("lineno", Value::from(src_line as u64 + 1));
    obj.insert("colno", Value::from(src_col as u64 + 1));
    // The SDK's module describes the minified file; grouping derives one from the path.
    obj.remove("module");
    if let Some(function) = function {
        obj.insert("function", Value::from(function));
    }
    if not_app {
        obj.insert("in_app", Value::Bool(false));
    } else if !obj.contains_key("in_app") {
        obj.insert("in_app", Value::Bool(true));
    }
    for key in ["context_line", "pre_context", "post_context"] {
        obj.remove(key);
    }
    let view = token
        .get_source_view()
        .or_else(|| sources.get(&original).map(Arc::as_ref));
    match view {
        Some(view) => insert_context(obj, view, src_line, src_col),
        None => {
            if explain {
                errors.push(json!({
                    "type": "js_missing_sources_content",
                    "source": original,
                    "sourcemap": parsed.url.clone().unwrap_or_else(|| abs_path.clone()),
                }));
            }
        }
    }
    Some(token.get_name().filter(|n| !n.is_empty()).map(String::from))
}

/// The frame's original function: the map's scope of the minified function name when the
/// minified file is at hand, else the name its caller called, else the name as sent. An
/// anonymous function stays anonymous (the name it was called by is only a parameter's),
/// so builds with and without minified identifiers name the same frames alike.
fn original_function(
    parsed: &ParsedMap,
    frame: &Value,
    line: u32,
    column: u32,
    caller_name: Option<&str>,
) -> Option<String> {
    let minified_name = frame
        .get("function")
        .and_then(Value::as_str)
        .filter(|n| !useless_name(n) && !n.contains('<'))?;
    let minified_last = minified_name.rsplit('.').next().unwrap_or(minified_name);
    if let Some(view) = parsed.minified.as_ref()
        && let Some(original) = parsed
            .map
            .get_original_function_name(line, column, Some(minified_last), Some(view))
        && !useless_name(original)
    {
        return Some(original.to_string());
    }
    if let Some(name) = caller_name.filter(|n| !useless_name(n)) {
        return Some(name.to_string());
    }
    None
}

fn useless_name(name: &str) -> bool {
    matches!(
        name,
        "" | "<anonymous>" | "Object.<anonymous>" | "eval" | "function" | "new" | "this"
    )
}

/// `context_line`, `pre_context` and `post_context` from the original source.
fn insert_context(obj: &mut Map<'_>, view: &SourceView, line: u32, column: u32) {
    let Some(context) = view.get_line(line) else {
        return;
    };
    let first = line.saturating_sub(CONTEXT_LINES);
    let pre: Vec<Value> = (first..line)
        .filter_map(|l| view.get_line(l))
        .map(|l| Value::from(paths::trim_line(l, 0)))
        .collect();
    let post: Vec<Value> = (line + 1..=line.saturating_add(CONTEXT_LINES))
        .map_while(|l| view.get_line(l))
        .map(|l| Value::from(paths::trim_line(l, 0)))
        .collect();
    obj.insert("pre_context", Value::Array(pre));
    obj.insert("context_line", Value::from(paths::trim_line(context, column as usize)));
    obj.insert("post_context", Value::Array(post));
}

/// The `errors` entry for a file that could not be mapped.
fn problem_entry(problem: &Problem, abs_path: &str) -> Value<'static> {
    match problem {
        Problem::NoArtifact { debug_id, release } => {
            let mut entry = json!({"type": "js_no_source", "url": abs_path});
            let reason = match (debug_id, release) {
                (Some(id), _) => {
                    entry["debug_id"] = Value::from(id.to_string());
                    if let Some(release) = release {
                        entry["release"] = Value::from(release.clone());
                    }
                    "no source map bundle was uploaded for this debug id, nor a release file for this URL"
                }
                (None, Some(release)) => {
                    entry["release"] = Value::from(release.clone());
                    "no release file matches this URL in the release"
                }
                (None, None) => "the event has neither a debug id for this file nor a release",
            };
            entry["reason"] = Value::from(reason);
            entry
        }
        Problem::NoMapReference { minified_url } => json!({
            "type": "js_no_source", "url": abs_path, "minified_url": minified_url,
            "reason": "the minified file names no source map (no sourceMappingURL comment or Sourcemap header)",
        }),
        Problem::MapNotFound { map_url } => json!({
            "type": "js_no_source", "url": map_url,
            "reason": format!("the source map of {abs_path} was not uploaded"),
        }),
        Problem::InvalidMap { url, reason } => json!({"type": "js_invalid_source", "url": url, "reason": reason}),
        Problem::TooLarge { url } => json!({"type": "js_too_large", "url": url, "max_size": MAX_MAP_SIZE}),
    }
}

/// `errors` entries, each once, at most `MAX_ERRORS`.
#[derive(Default)]
struct Errors {
    entries: Vec<Value<'static>>,
}

impl Errors {
    fn push(&mut self, entry: Value<'static>) {
        if self.entries.len() < MAX_ERRORS && !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }
}

/// Debug ids of the event's `sourcemap` images, by the file they describe.
fn debug_images(event: &Value) -> HashMap<String, Uuid> {
    let Some(images) = event.pointer("/debug_meta/images").and_then(Value::as_array) else {
        return HashMap::new();
    };
    images
        .iter()
        .filter(|image| image.get("type").and_then(Value::as_str) == Some("sourcemap"))
        .filter_map(|image| {
            let file = image.get("code_file").and_then(Value::as_str)?;
            let id = image.get("debug_id").and_then(Value::as_str)?;
            Some((file.to_string(), Uuid::parse_str(id).ok()?))
        })
        .take(MAX_FILES * 4)
        .collect()
}

/// Every frame of every exception, in order.
fn exception_frames<'a>(event: &'a Value<'a>) -> impl Iterator<Item = &'a Value<'a>> {
    event
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.pointer("/stacktrace/frames").and_then(Value::as_array))
        .flatten()
        .take(MAX_FRAMES)
}

/// The minified file a JavaScript frame points into; `None` for other frames (another
/// platform, Node's internals, browser-inserted frames).
fn js_path<'a>(platform: &str, frame: &'a Value<'_>, images: &HashMap<String, Uuid>) -> Option<&'a str> {
    let path = frame
        .get("abs_path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())?;
    if path.starts_with("node:") || path.starts_with('<') || path.contains("native code") || path.len() > 2048 {
        return None;
    }
    let frame_platform = frame.get("platform").and_then(Value::as_str).unwrap_or(platform);
    let js_platform = matches!(frame_platform, "javascript" | "node");
    let js = paths::has_js_extension(path) || images.contains_key(path) || (js_platform && path.contains('/'));
    js.then_some(path)
}
