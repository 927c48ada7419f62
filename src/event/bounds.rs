//! Bounds of a stored event: whatever Errata writes it can read back, and no stored
//! event is larger than the configured event size.
//!
//! * Depth: serde_json refuses to read containers nested 128 deep or more, and `_meta`
//!   sits up to five levels below the value it annotates. [`limit_depth`] cuts the
//!   event's data at [`MAX_DEPTH`], so the event and its `_meta` stay readable.
//! * Size: [`fit_to_size`] trims an event that came out larger than the limit, in a
//!   fixed order that keeps what identifies the error (Relay's trimming idea): original
//!   values kept for display, oldest breadcrumbs, frame variables, large data fields,
//!   long strings and lists, and finally everything but a summary. Each cut is recorded
//!   in `_meta` with the rule id `!limit`.

use crate::event::json::{Map, Value};

/// Deepest container nesting kept in a stored event (the root object is level 1).
/// `_meta` of a value at this level is at most five levels deeper.
pub const MAX_DEPTH: usize = 100;

/// Containers nested this deep cannot be read back by `serde_json` with its defaults.
pub const READ_DEPTH_LIMIT: usize = 128;

/// How many cut places are recorded one by one in `_meta` by one bounding step; the
/// rest are cut without their own annotation (the count keeps `_meta` itself bounded).
const MAX_NOTES: usize = 64;

/// The rule id of every cut made to respect a bound.
pub const LIMIT_RULE: &str = "!limit";

#[derive(Debug, thiserror::Error)]
pub enum BoundsError {
    #[error("the event is larger than the event size limit of {limit} bytes even when trimmed")]
    TooLarge { limit: usize },
}

/// Nesting depth of a value: 0 for a scalar, 1 for a container of scalars.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Replaces every container nested deeper than [`MAX_DEPTH`] by `null`. Cuts in the
/// event's data are annotated at the cut (which is within the bound); cuts inside
/// `_meta` and `errors` (copies and annotations) are not. Returns how many were cut.
pub fn limit_depth(event: &mut Value) -> usize {
    // Almost every event is far shallower: check without building paths first.
    if !deeper_than(event, MAX_DEPTH) {
        return 0;
    }
    let Value::Object(map) = event else { return 0 };
    let mut cuts = Cuts::default();
    for (key, value) in map.iter_mut() {
        let annotate = key != "_meta" && key != "errors";
        let mut path = vec![key.to_string()];
        prune(value, 2, &mut path, annotate, &mut cuts);
    }
    if !cuts.paths.is_empty() {
        let meta = meta_tree(map);
        for path in &cuts.paths {
            annotate_removed(meta, path);
        }
    }
    cuts.count
}

/// Whether containers nest more than `levels` deep, stopping at the first that does.
fn deeper_than(value: &Value, levels: usize) -> bool {
    match value {
        Value::Array(_) | Value::Object(_) if levels == 0 => true,
        Value::Array(items) => items.iter().any(|v| deeper_than(v, levels - 1)),
        Value::Object(map) => map.values().any(|v| deeper_than(v, levels - 1)),
        _ => false,
    }
}

#[derive(Default)]
struct Cuts {
    count: usize,
    paths: Vec<Vec<String>>,
}

/// `value` sits at `level`; containers past `MAX_DEPTH` become `null`.
fn prune(value: &mut Value, level: usize, path: &mut Vec<String>, annotate: bool, cuts: &mut Cuts) {
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        return;
    }
    if level > MAX_DEPTH {
        *value = Value::Null;
        cuts.count += 1;
        if annotate && cuts.paths.len() < MAX_NOTES {
            cuts.paths.push(path.clone());
        }
        return;
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if matches!(item, Value::Array(_) | Value::Object(_)) {
                    path.push(i.to_string());
                    prune(item, level + 1, path, annotate, cuts);
                    path.pop();
                }
            }
        }
        Value::Object(obj) => {
            for (key, item) in obj.iter_mut() {
                if matches!(item, Value::Array(_) | Value::Object(_)) {
                    path.push(key.to_string());
                    prune(item, level + 1, path, annotate, cuts);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// The event's `_meta` object, created (or replacing a non-object) if needed.
fn meta_tree<'t, 'a>(event: &'t mut Map<'a>) -> &'t mut Map<'a> {
    object_entry(event, "_meta")
}

fn object_entry<'t, 'a>(map: &'t mut Map<'a>, key: &str) -> &'t mut Map<'a> {
    let slot = map.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(inner) => inner,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// The annotation object (`""`) of the node at `path` in a `_meta` tree.
fn annotation<'t, 'a>(meta: &'t mut Map<'a>, path: &[String]) -> &'t mut Map<'a> {
    let mut node = meta;
    for segment in path {
        node = object_entry(node, segment);
    }
    object_entry(node, "")
}

/// Records that the value at `path` was removed to respect a bound.
fn annotate_removed(meta: &mut Map, path: &[String]) {
    let note = annotation(meta, path);
    let rem = note.entry("rem").or_insert_with(|| Value::Array(Vec::new()));
    if !rem.is_array() {
        *rem = Value::Array(Vec::new());
    }
    if let Value::Array(rem) = rem {
        rem.push(Value::from(vec![LIMIT_RULE, "x"]));
    }
}

/// Records that the list at `path` had `len` items before it was shortened.
fn annotate_len(meta: &mut Map, path: &[String], len: usize) {
    let note = annotation(meta, path);
    note.entry("len").or_insert_with(|| Value::from(len));
}

/// Size of the compact JSON text of `value`, without building it.
pub fn serialized_len(value: &(impl serde::Serialize + ?Sized)) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing JSON values to a counter cannot fail: map keys are strings and there is no I/O.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Trims `event` until its JSON text is at most `limit` bytes; returns whether it
/// changed anything. The steps run in a fixed order and each stops as soon as the
/// event fits, so the same event and limit always give the same result.
pub fn fit_to_size(event: &mut Value, limit: usize) -> Result<bool, BoundsError> {
    let fits = |event: &Value| serialized_len(event) <= limit;
    if fits(event) {
        return Ok(false);
    }
    let Value::Object(map) = event else {
        return Err(BoundsError::TooLarge { limit });
    };
    drop_originals(map);
    if fits_map(map, limit) {
        return Ok(true);
    }
    trim_breadcrumbs(map, limit);
    if fits_map(map, limit) {
        return Ok(true);
    }
    drop_frame_vars(map);
    if fits_map(map, limit) {
        return Ok(true);
    }
    for field in BULKY_FIELDS {
        drop_field(map, field);
        if fits_map(map, limit) {
            return Ok(true);
        }
    }
    for (max_chars, max_items) in [(1024, 250), (256, 50), (64, 10)] {
        for (key, value) in map.iter_mut() {
            if !matches!(key.as_str(), "_meta" | "event_id" | "hashes") {
                shorten(value, key, max_chars, max_items);
            }
        }
        if fits_map(map, limit) {
            return Ok(true);
        }
    }
    skeleton(map);
    if fits_map(map, limit) {
        return Ok(true);
    }
    Err(BoundsError::TooLarge { limit })
}

fn fits_map(map: &Map, limit: usize) -> bool {
    serialized_len(map) <= limit
}

/// Originals kept for display of rejected values (`_meta` `val`, `errors[].value`):
/// copies of data the event does not need.
fn drop_originals(map: &mut Map) {
    fn visit(node: &mut Value) {
        let Value::Object(obj) = node else { return };
        if let Some(Value::Object(note)) = obj.get_mut("") {
            note.remove("val");
        }
        for (key, child) in obj.iter_mut() {
            if !key.is_empty() {
                visit(child);
            }
        }
    }
    if let Some(meta) = map.get_mut("_meta") {
        visit(meta);
    }
    if let Some(Value::Array(errors)) = map.get_mut("errors") {
        for error in errors.iter_mut().filter_map(Value::as_object_mut) {
            error.remove("value");
        }
    }
}

/// Drops the oldest breadcrumbs, half of those left at a time.
fn trim_breadcrumbs(map: &mut Map, limit: usize) {
    let original = match map.get("breadcrumbs").and_then(|b| b.get("values")) {
        Some(Value::Array(values)) if !values.is_empty() => values.len(),
        _ => return,
    };
    loop {
        let Some(Value::Array(values)) = map.get_mut("breadcrumbs").and_then(|b| b.get_mut("values")) else {
            return;
        };
        if values.is_empty() {
            break;
        }
        let drop = values.len().div_ceil(2);
        values.drain(..drop);
        if fits_map(map, limit) {
            break;
        }
    }
    let meta = meta_tree(map);
    // Remarks for single breadcrumbs point at positions that no longer exist.
    if let Some(Value::Object(crumbs)) = meta.get_mut("breadcrumbs") {
        crumbs.remove("values");
    }
    annotate_len(meta, &["breadcrumbs".to_owned(), "values".to_owned()], original);
}

/// Removes `vars` from every frame of every stack trace.
fn drop_frame_vars(map: &mut Map) {
    let mut cut: Vec<Vec<String>> = Vec::new();
    let mut count = 0;
    let mut frames_of = |trace: &mut Value, path: Vec<String>| {
        let Some(Value::Array(frames)) = trace.get_mut("frames") else {
            return;
        };
        for (i, frame) in frames.iter_mut().enumerate() {
            let Some(frame) = frame.as_object_mut() else { continue };
            if frame.get("vars").is_some_and(|v| !v.is_null()) {
                frame.insert("vars".to_owned(), Value::Null);
                count += 1;
                if cut.len() < MAX_NOTES {
                    let mut p = path.clone();
                    p.extend(["frames".to_owned(), i.to_string(), "vars".to_owned()]);
                    cut.push(p);
                }
            }
        }
    };
    for list in ["exception", "threads"] {
        let Some(Value::Array(values)) = map.get_mut(list).and_then(|l| l.get_mut("values")) else {
            continue;
        };
        for (i, item) in values.iter_mut().enumerate() {
            for trace in ["stacktrace", "raw_stacktrace"] {
                if let Some(t) = item.get_mut(trace) {
                    frames_of(
                        t,
                        vec![list.to_owned(), "values".to_owned(), i.to_string(), trace.to_owned()],
                    );
                }
            }
        }
    }
    if let Some(t) = map.get_mut("stacktrace") {
        frames_of(t, vec!["stacktrace".to_owned()]);
    }
    if count > 0 {
        let meta = meta_tree(map);
        for path in &cut {
            drop_meta_below(meta, path);
            annotate_removed(meta, path);
        }
    }
}

/// Large, secondary parts of an event, removed whole in this order when trimming.
const BULKY_FIELDS: &[&[&str]] = &[
    &["extra"],
    &["request", "data"],
    &["contexts"],
    &["user", "data"],
    &["request"],
    &["modules"],
    &["debug_meta"],
    &["spans"],
    &["breadcrumbs"],
    &["threads"],
    &["errors"],
    &["tags"],
    &["_meta"],
];

/// Removes the field at `path` (if present and not null) and records it.
fn drop_field(map: &mut Map, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = &mut *map;
    for segment in parents {
        match node.get_mut(segment) {
            Some(Value::Object(inner)) => node = inner,
            _ => return,
        }
    }
    match node.get(last) {
        None | Some(Value::Null) => return,
        Some(_) => {
            node.remove(last);
        }
    }
    if *last == "_meta" && parents.is_empty() {
        return;
    }
    let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
    let meta = meta_tree(map);
    drop_meta_below(meta, &path);
    annotate_removed(meta, &path);
}

/// Removes the annotations of everything below `path` (their values are gone).
fn drop_meta_below(meta: &mut Map, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = &mut *meta;
    for segment in parents {
        match node.get_mut(segment) {
            Some(Value::Object(inner)) => node = inner,
            _ => return,
        }
    }
    if let Some(Value::Object(below)) = node.get_mut(last) {
        below.retain(|k, _| k.is_empty());
    }
}

/// Cuts strings to `max_chars` characters and lists to `max_items` items (stack
/// frames keep the innermost ones, which are last; other lists keep the first).
fn shorten(value: &mut Value, key: &str, max_chars: usize, max_items: usize) {
    match value {
        Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(max_chars) {
                let keep = s
                    .char_indices()
                    .nth(max_chars.saturating_sub(3))
                    .map_or(cut, |(i, _)| i);
                s.truncate(keep);
                s.push_str("...");
            }
        }
        Value::Array(items) => {
            if items.len() > max_items {
                if key == "frames" {
                    items.drain(..items.len() - max_items);
                } else {
                    items.truncate(max_items);
                }
            }
            for item in items.iter_mut() {
                shorten(item, "", max_chars, max_items);
            }
        }
        Value::Object(obj) => {
            for (k, v) in obj.iter_mut() {
                shorten(v, k, max_chars, max_items);
            }
        }
        _ => {}
    }
}

/// What is left when nothing else fits: the fields that identify and summarize the
/// event, without stack traces; exception values and the message cut short.
fn skeleton(map: &mut Map) {
    const KEEP: &[&str] = &[
        "event_id",
        "level",
        "type",
        "platform",
        "timestamp",
        "received",
        "project",
        "logger",
        "release",
        "dist",
        "environment",
        "title",
        "culprit",
        "metadata",
        "hashes",
        "grouping_config",
        "scrubbed",
        "logentry",
        "exception",
    ];
    map.retain(|k, _| KEEP.contains(&k.as_str()));
    if let Some(Value::Array(values)) = map.get_mut("exception").and_then(|e| e.get_mut("values")) {
        values.drain(..values.len().saturating_sub(1));
        for exc in values.iter_mut().filter_map(Value::as_object_mut) {
            exc.retain(|k, _| matches!(k.as_str(), "type" | "value" | "module"));
        }
    }
    for key in ["logentry", "exception", "metadata"] {
        if let Some(value) = map.get_mut(key) {
            shorten(value, key, 64, 1);
        }
    }
    for key in ["title", "culprit", "logger", "release", "dist", "environment"] {
        if let Some(value) = map.get_mut(key) {
            shorten(value, key, 64, 1);
        }
    }
    let meta = meta_tree(map);
    annotate_removed(meta, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    fn nested(levels: usize, leaf: Value) -> Value {
        let mut value = leaf;
        for _ in 0..levels {
            value = json!({ "k": value });
        }
        value
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1]})), 2);
        assert_eq!(depth(&nested(5, json!(1))), 5);
    }

    #[test]
    fn containers_past_the_bound_become_null_and_are_annotated_within_the_bound() {
        let mut event = json!({ "extra": nested(150, json!("x")) });
        let cut = limit_depth(&mut event);
        assert_eq!(cut, 1);
        assert_eq!(depth(&event["extra"]) + 1, MAX_DEPTH);
        assert!(depth(&event) < READ_DEPTH_LIMIT - 1, "{}", depth(&event));
        let text = serde_json::to_string(&event).unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_ok());
        assert!(text.contains(LIMIT_RULE));
    }

    #[test]
    fn the_bound_is_exact() {
        // The root object is level 1, so `extra`'s chain may hold MAX_DEPTH - 1 containers.
        let mut at = json!({ "extra": nested(MAX_DEPTH - 1, json!("x")) });
        assert_eq!(depth(&at), MAX_DEPTH);
        assert_eq!(limit_depth(&mut at), 0);
        let mut past = json!({ "extra": nested(MAX_DEPTH, json!("x")) });
        assert_eq!(limit_depth(&mut past), 1);
        assert_eq!(depth(&past["extra"]), MAX_DEPTH - 1);
    }

    #[test]
    fn shallow_events_are_untouched() {
        let mut event = json!({ "extra": nested(20, json!("x")), "_meta": {"a": {"": {"len": 3}}} });
        let before = event.clone();
        assert_eq!(limit_depth(&mut event), 0);
        assert_eq!(event, before);
    }

    #[test]
    fn events_within_the_limit_are_not_trimmed() {
        let mut event = json!({"event_id": "a", "extra": {"x": "y"}});
        assert!(!fit_to_size(&mut event, 1000).unwrap());
        assert_eq!(event["extra"]["x"], "y");
    }

    #[test]
    fn oldest_breadcrumbs_go_first() {
        let crumbs: Vec<Value> = (0..100)
            .map(|i| json!({"message": format!("crumb {i} {}", "x".repeat(100))}))
            .collect();
        let mut event = json!({"event_id": "a", "breadcrumbs": {"values": crumbs}, "extra": {"k": "v"}});
        assert!(fit_to_size(&mut event, 4000).unwrap());
        assert!(serialized_len(&event) <= 4000);
        let kept = event["breadcrumbs"]["values"].as_array().unwrap();
        assert!(!kept.is_empty());
        assert!(
            kept.last().unwrap()["message"]
                .as_str()
                .unwrap()
                .starts_with("crumb 99 ")
        );
        assert_eq!(event["extra"]["k"], "v", "breadcrumbs are cut before extra");
        assert_eq!(event["_meta"]["breadcrumbs"]["values"][""]["len"], 100);
    }

    #[test]
    fn huge_messages_and_values_end_in_a_summary_that_fits() {
        let mut event = json!({
            "event_id": "a", "title": "t".repeat(300), "logentry": {"formatted": "m".repeat(100_000)},
            "exception": {"values": [{"type": "E", "value": "v".repeat(100_000)}]},
        });
        assert!(fit_to_size(&mut event, 2000).unwrap());
        assert!(serialized_len(&event) <= 2000);
        assert_eq!(event["exception"]["values"][0]["type"], "E");
        assert_eq!(event["event_id"], "a");
    }

    #[test]
    fn an_impossible_limit_is_an_error() {
        let mut event = json!({"event_id": "a".repeat(100)});
        assert!(matches!(
            fit_to_size(&mut event, 10),
            Err(BoundsError::TooLarge { limit: 10 })
        ));
    }
}
