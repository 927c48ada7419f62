//! The mapper on small hand-made maps, and garbled input never panicking.

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::json::{Value, json};
use ::sourcemap::{SourceMapBuilder, SourceView};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

const DEBUG_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
const BUNDLE: &str = "/srv/app/dist/app.js";

const APP_SOURCE: &str = "// app\nimport { helper } from './dep';\n\nexport function explode(order) {\n  helper(order);\n  throw new Error('boom ' + order.id);\n}\n\nexport function main() {\n  explode({ id: 7 });\n}\n";

/// A map for a one-line bundle: `main` at column 0 calls `explode` at column 40,
/// which throws at column 80; a dependency's code sits at column 120.
fn bundle_map(with_content: bool) -> Vec<u8> {
    let mut builder = SourceMapBuilder::new(Some("app.js"));
    let app = builder.add_source("../src/app.js");
    if with_content {
        builder.set_source_contents(app, Some(APP_SOURCE));
    }
    let dep = builder.add_source("../node_modules/dep/index.js");
    builder.set_source_contents(dep, Some("export function helper(o) {\n  return o;\n}\n"));
    builder.add(0, 0, 8, 0, Some("../src/app.js"), Some("main"), false);
    builder.add(0, 40, 9, 2, Some("../src/app.js"), Some("explode"), false);
    builder.add(0, 80, 5, 8, Some("../src/app.js"), Some("Error"), false);
    builder.add(0, 120, 1, 2, Some("../node_modules/dep/index.js"), None, false);
    let mut out = Vec::new();
    builder
        .into_sourcemap()
        .to_writer(&mut out)
        .expect("a built map serializes");
    out
}

fn event(frames: Value<'_>) -> Value<'static> {
    json!({
        "platform": "javascript",
        "release": "app@1",
        "exception": {"values": [{"type": "Error", "value": "boom 7", "stacktrace": {"frames": frames}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": BUNDLE, "debug_id": DEBUG_ID}]},
    })
}

fn frame(function: &str, colno: u64) -> Value<'static> {
    json!({"abs_path": BUNDLE, "filename": "dist/app.js", "function": function, "lineno": 1, "colno": colno, "module": "app"})
}

fn mapped(bytes: &[u8]) -> HashMap<String, Resolution> {
    let parsed = parse_map(bytes, None, None).expect("the map parses");
    HashMap::from([(BUNDLE.to_string(), Resolution::Mapped(Arc::new(parsed)))])
}

#[test]
fn requests_name_each_bundle_once_with_its_debug_id() {
    let ev = event(json!([
        frame("a", 1),
        frame("b", 41),
        {"abs_path": "node:internal/process/task_queues", "lineno": 1, "colno": 1},
        {"abs_path": "https://cdn.example/vendor.min.js?v=2", "lineno": 1, "colno": 1},
        {"abs_path": "app/models.py", "lineno": 1, "platform": "python"},
    ]));
    let requests = requests(&ev);
    assert_eq!(
        requests,
        [
            FileRequest {
                abs_path: BUNDLE.into(),
                debug_id: Some(Uuid::parse_str(DEBUG_ID).unwrap())
            },
            FileRequest {
                abs_path: "https://cdn.example/vendor.min.js?v=2".into(),
                debug_id: None
            },
        ]
    );
    assert!(super::requests(&json!({"message": "no frames"})).is_empty());
    assert_eq!(release_of(&ev), Some(("app@1".into(), None)));
}

#[test]
fn frames_map_to_original_file_line_function_and_context() {
    let mut ev = event(json!([frame("n", 1), frame("r", 41), frame("t", 81)]));
    let applied = apply(&mut ev, &mapped(&bundle_map(true)), &HashMap::new());
    assert_eq!(applied.mapped_frames, 3);
    assert_eq!(applied.errors, 0);
    let frames = &ev["exception"]["values"][0]["stacktrace"]["frames"];
    let thrower = &frames[2];
    assert_eq!(thrower["abs_path"], "/srv/app/src/app.js");
    assert_eq!(thrower["filename"], "/srv/app/src/app.js");
    assert_eq!(thrower["lineno"], 6);
    assert_eq!(thrower["colno"], 9);
    // The caller's call site names the function the throwing frame runs in.
    assert_eq!(thrower["function"], "explode");
    assert_eq!(thrower["context_line"], "  throw new Error('boom ' + order.id);");
    assert_eq!(
        thrower["pre_context"],
        json!([
            "// app",
            "import { helper } from './dep';",
            "",
            "export function explode(order) {",
            "  helper(order);"
        ])
    );
    assert_eq!(
        thrower["post_context"],
        json!(["}", "", "export function main() {", "  explode({ id: 7 });", "}"])
    );
    assert_eq!(thrower["in_app"], true);
    assert!(thrower.get("module").is_none());
    assert_eq!(frames[1]["function"], "main");
    assert_eq!(frames[1]["lineno"], 10);
    // The outermost frame has no caller: its name stays as sent.
    assert_eq!(frames[0]["function"], "n");
    let raw = &ev["exception"]["values"][0]["raw_stacktrace"]["frames"];
    assert_eq!(raw[2]["abs_path"], BUNDLE);
    assert_eq!(raw[2]["colno"], 81);
    assert_eq!(raw[2]["function"], "t");
}

#[test]
fn dependency_frames_are_not_in_app() {
    let mut ev = event(json!([frame("a", 41), frame("h", 121)]));
    apply(&mut ev, &mapped(&bundle_map(true)), &HashMap::new());
    let dep = &ev["exception"]["values"][0]["stacktrace"]["frames"][1];
    assert_eq!(dep["abs_path"], "/srv/app/node_modules/dep/index.js");
    assert_eq!(dep["in_app"], false);
    assert_eq!(dep["context_line"], "  return o;");
}

#[test]
fn a_missing_bundle_is_explained_once() {
    let mut ev = event(json!([frame("a", 1), frame("b", 41)]));
    let id = Uuid::parse_str(DEBUG_ID).unwrap();
    let resolved = HashMap::from([(
        BUNDLE.to_string(),
        Resolution::Failed(Problem::NoArtifact {
            debug_id: Some(id),
            release: Some("app@1".into()),
        }),
    )]);
    let applied = apply(&mut ev, &resolved, &HashMap::new());
    assert_eq!(
        applied,
        Applied {
            mapped_frames: 0,
            errors: 1
        }
    );
    assert_eq!(ev["errors"][0]["type"], "js_no_source");
    assert_eq!(ev["errors"][0]["url"], BUNDLE);
    assert_eq!(ev["errors"][0]["debug_id"], DEBUG_ID);
    assert!(ev["exception"]["values"][0].get("raw_stacktrace").is_none());
    assert_eq!(
        ev["exception"]["values"][0]["stacktrace"]["frames"][0]["abs_path"],
        BUNDLE
    );
}

#[test]
fn a_location_outside_the_map_is_explained() {
    let mut ev = event(json!([{"abs_path": BUNDLE, "function": "x", "lineno": 40, "colno": 3}]));
    apply(&mut ev, &mapped(&bundle_map(true)), &HashMap::new());
    assert_eq!(
        ev["errors"][0],
        json!({"type": "js_invalid_sourcemap_location", "column": 3, "row": 40, "source": BUNDLE})
    );
    let mut ev = event(json!([{"abs_path": BUNDLE, "function": "x", "lineno": 1}]));
    apply(&mut ev, &mapped(&bundle_map(true)), &HashMap::new());
    assert_eq!(ev["errors"][0]["type"], "js_no_column");
}

#[test]
fn missing_sources_content_is_explained_or_filled_from_an_uploaded_source() {
    let mut ev = event(json!([frame("a", 41), frame("b", 81)]));
    apply(&mut ev, &mapped(&bundle_map(false)), &HashMap::new());
    assert_eq!(ev["errors"][0]["type"], "js_missing_sources_content");
    assert_eq!(ev["errors"][0]["source"], "/srv/app/src/app.js");
    assert_eq!(ev["exception"]["values"][0]["stacktrace"]["frames"][1]["lineno"], 6);

    let mut ev = event(json!([frame("a", 41), frame("b", 81)]));
    let sources = HashMap::from([(
        "/srv/app/src/app.js".to_string(),
        Arc::new(SourceView::from_string(APP_SOURCE.to_string())),
    )]);
    apply(&mut ev, &mapped(&bundle_map(false)), &sources);
    assert!(ev.get("errors").is_none(), "{}", ev["errors"]);
    assert_eq!(
        ev["exception"]["values"][0]["stacktrace"]["frames"][1]["context_line"],
        "  throw new Error('boom ' + order.id);"
    );
}

#[test]
fn the_minified_source_names_the_enclosing_function() {
    // `function a(b){throw new Error(b)}`: the map names `a` as `explode`.
    let minified = "function a(b){throw new Error(b)}";
    let mut builder = SourceMapBuilder::new(None);
    let src = builder.add_source("src/x.js");
    builder.set_source_contents(
        src,
        Some("function explode(message) {\n  throw new Error(message);\n}\n"),
    );
    builder.add(0, 0, 0, 0, Some("src/x.js"), None, false);
    builder.add(0, 9, 0, 9, Some("src/x.js"), Some("explode"), false);
    builder.add(0, 14, 1, 2, Some("src/x.js"), None, false);
    let mut bytes = Vec::new();
    builder.into_sourcemap().to_writer(&mut bytes).unwrap();
    let parsed = parse_map(&bytes, Some("https://h/x.js.map".into()), Some(minified.as_bytes())).unwrap();
    let resolved = HashMap::from([("https://h/x.js".to_string(), Resolution::Mapped(Arc::new(parsed)))]);
    let mut ev = json!({"exception": {"values": [{"type": "Error", "stacktrace": {"frames": [
        {"abs_path": "https://h/x.js", "function": "a", "lineno": 1, "colno": 15}]}}]}});
    apply(&mut ev, &resolved, &HashMap::new());
    let frame = &ev["exception"]["values"][0]["stacktrace"]["frames"][0];
    assert_eq!(frame["function"], "explode");
    assert_eq!(frame["abs_path"], "https://h/src/x.js");
    assert_eq!(frame["filename"], "/src/x.js");
    assert_eq!(frame["lineno"], 2);
}

#[test]
fn two_builds_of_the_same_code_map_to_the_same_frames() {
    // The second build is shifted one line down by a banner.
    let mut builder = SourceMapBuilder::new(None);
    let src = builder.add_source("../src/app.js");
    builder.set_source_contents(src, Some(APP_SOURCE));
    builder.add(1, 3, 9, 2, Some("../src/app.js"), Some("explode"), false);
    builder.add(1, 9, 5, 8, Some("../src/app.js"), None, false);
    let mut shifted = Vec::new();
    builder.into_sourcemap().to_writer(&mut shifted).unwrap();

    let mut first = event(json!([frame("m", 41), frame("t", 81)]));
    apply(&mut first, &mapped(&bundle_map(true)), &HashMap::new());
    let mut second = event(json!([
        {"abs_path": BUNDLE, "function": "q", "lineno": 2, "colno": 4},
        {"abs_path": BUNDLE, "function": "z", "lineno": 2, "colno": 10},
    ]));
    apply(&mut second, &mapped(&shifted), &HashMap::new());
    let frames = |ev: &Value<'static>| ev["exception"]["values"][0]["stacktrace"]["frames"].clone();
    assert_eq!(frames(&first)[1], frames(&second)[1]);
}

fn garbled_map() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (
            "[A-Za-z0-9+/,;]{0,200}",
            prop::collection::vec("[a-z./]{0,12}", 0..4),
            any::<bool>()
        )
            .prop_map(|(mappings, sources, content)| {
                let contents: Vec<Value> = sources
                    .iter()
                    .map(|_| if content { json!("a\nb\nc") } else { Value::Null })
                    .collect();
                serde_json::to_vec(&json!({"version": 3, "sources": sources, "sourcesContent": contents,
                    "names": ["a", "b"], "mappings": mappings}))
                .unwrap()
            }),
        Just(bundle_map(true)),
    ]
}

fn garbled_frame() -> impl Strategy<Value = Value<'static>> {
    (
        prop_oneof![Just(BUNDLE.to_string()), "[a-z:/.~]{0,20}"],
        prop::option::of(0u64..5_000_000_000),
        prop::option::of(0u64..5_000_000_000),
        prop::option::of("[a-z.<> ]{0,10}"),
    )
        .prop_map(|(abs_path, lineno, colno, function)| {
            json!({"abs_path": abs_path, "lineno": lineno, "colno": colno, "function": function})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbled_maps_and_frames_never_panic_and_stay_bounded(
        bytes in garbled_map(),
        frames in prop::collection::vec(garbled_frame(), 0..40),
    ) {
        let mut ev = event(Value::Array(frames.clone()));
        let resolution = match parse_map(&bytes, Some("https://h/a.js.map".into()), Some(&bytes)) {
            Ok(parsed) => Resolution::Mapped(Arc::new(parsed)),
            Err(e) => Resolution::Failed(Problem::InvalidMap { url: "https://h/a.js.map".into(), reason: e.to_string() }),
        };
        let resolved: HashMap<String, Resolution> = requests(&ev)
            .into_iter()
            .map(|r| (r.abs_path, resolution.clone()))
            .collect();
        let applied = apply(&mut ev, &resolved, &HashMap::new());
        prop_assert!(applied.errors <= MAX_ERRORS);
        prop_assert!(applied.mapped_frames <= frames.len());
        let out = &ev["exception"]["values"][0]["stacktrace"]["frames"];
        prop_assert_eq!(out.as_array().map(Vec::len), Some(frames.len()));
        for frame in out.as_array().into_iter().flatten() {
            for key in ["context_line"] {
                if let Some(line) = frame.get(key).and_then(Value::as_str) {
                    prop_assert!(line.chars().count() <= 150 + 14);
                }
            }
        }
    }
}
