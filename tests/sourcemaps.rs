//! Source maps applied at ingest: a bundle kept in the store (as sentry-cli's upload
//! leaves it), events with minified JavaScript frames, and the event JSON read back.

mod common;

use common::{TestServer, spawn_server};
use errata::store::artifacts::{ArtifactKind, NewArtifact, NewBundle};
use serde_json::{Value, json};
use sourcemap::SourceMapBuilder;
use uuid::Uuid;

const SOURCE: &str = "export function checkout(cart) {\n  const total = sum(cart);\n  if (total > 100) {\n    throw new Error('limit exceeded: ' + total);\n  }\n  return total;\n}\n\nexport function main() {\n  return checkout([60, 70]);\n}\n";

/// A one-line minified bundle and its map; `shift` columns of banner move the code right,
/// as a second build with other minification settings would.
fn build(shift: u32) -> (String, Vec<u8>) {
    let pad = " ".repeat(shift as usize);
    let minified =
        format!("{pad}function n(t){{throw new Error(\"limit exceeded: \"+t)}}function m(){{return n(130)}}\n");
    let mut builder = SourceMapBuilder::new(Some("app.min.js"));
    let src = builder.add_source("../src/checkout.js");
    builder.set_source_contents(src, Some(SOURCE));
    // `function` keywords, the function names, the throw and the call of `n`.
    builder.add(0, shift, 0, 0, Some("../src/checkout.js"), None, false);
    builder.add(0, shift + 9, 0, 16, Some("../src/checkout.js"), Some("checkout"), false);
    builder.add(0, shift + 14, 3, 4, Some("../src/checkout.js"), None, false);
    builder.add(0, shift + 52, 8, 0, Some("../src/checkout.js"), None, false);
    builder.add(0, shift + 61, 8, 16, Some("../src/checkout.js"), Some("main"), false);
    builder.add(0, shift + 72, 9, 9, Some("../src/checkout.js"), Some("checkout"), false);
    let mut map = Vec::new();
    builder
        .into_sourcemap()
        .to_writer(&mut map)
        .expect("the map serializes");
    (minified, map)
}

fn artifact(
    kind: ArtifactKind,
    url: Option<&str>,
    debug_id: Option<Uuid>,
    sm: Option<&str>,
    content: &[u8],
) -> NewArtifact {
    NewArtifact::new(kind, url.map(String::from), debug_id, sm.map(String::from), content).expect("compresses")
}

fn save_bundle(server: &TestServer, release: Option<&str>, files: Vec<NewArtifact>) {
    let size = files.iter().map(|f| f.size).sum();
    let bundle = NewBundle {
        organization_id: 1,
        checksum: format!("{:040x}", Uuid::new_v4().as_u128()),
        release: release.map(String::from),
        dist: None,
        project_ids: vec![server.project_id],
        files,
        size,
        chunks: vec![],
        max_project_bytes: 1 << 30,
    };
    server
        .block_on(server.store.save_bundle(bundle))
        .expect("the bundle is kept");
}

/// A browser error thrown in `n`, called from `m`, at the minified positions of `shift`.
fn minified_event(abs_path: &str, shift: u64, release: Option<&str>, debug_id: Option<Uuid>) -> Value {
    let mut event = json!({
        "platform": "javascript",
        "level": "error",
        "exception": {"values": [{"type": "Error", "value": "limit exceeded: 130", "stacktrace": {"frames": [
            {"abs_path": abs_path, "filename": "/static/app.min.js", "function": "m", "lineno": 1, "colno": shift + 73, "in_app": true},
            {"abs_path": abs_path, "filename": "/static/app.min.js", "function": "n", "lineno": 1, "colno": shift + 15, "in_app": true},
        ]}}]},
    });
    if let Some(release) = release {
        event["release"] = json!(release);
    }
    if let Some(id) = debug_id {
        event["debug_meta"] =
            json!({"images": [{"type": "sourcemap", "code_file": abs_path, "debug_id": id.to_string()}]});
    }
    event
}

fn event_json(server: &TestServer, id: &str) -> Value {
    server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/"))
}

fn exception(event: &Value) -> &Value {
    let entries = event["entries"].as_array().expect("entries");
    let entry = entries
        .iter()
        .find(|e| e["type"] == "exception")
        .expect("an exception entry");
    &entry["data"]["values"][0]
}

#[test]
fn frames_map_by_debug_id_and_two_builds_share_an_issue() {
    let server = spawn_server();
    let mut ids = Vec::new();
    for shift in [0u32, 40] {
        let debug_id = Uuid::new_v4();
        let (minified, map) = build(shift);
        save_bundle(
            &server,
            None,
            vec![
                artifact(
                    ArtifactKind::MinifiedSource,
                    Some("~/static/app.min.js"),
                    Some(debug_id),
                    None,
                    minified.as_bytes(),
                ),
                artifact(
                    ArtifactKind::SourceMap,
                    Some("~/static/app.min.js.map"),
                    Some(debug_id),
                    None,
                    &map,
                ),
            ],
        );
        let abs_path = "http://127.0.0.1:3000/static/app.min.js";
        ids.push(server.send_event(&minified_event(abs_path, shift as u64, None, Some(debug_id))));
    }
    let first = event_json(&server, &ids[0]);
    let second = event_json(&server, &ids[1]);
    let frames = &exception(&first)["stacktrace"]["frames"];
    let thrower = &frames[1];
    assert_eq!(thrower["absPath"], "http://127.0.0.1:3000/src/checkout.js", "{thrower}");
    assert_eq!(thrower["filename"], "/src/checkout.js");
    assert_eq!(thrower["lineNo"], 4);
    assert_eq!(thrower["colNo"], 5);
    assert_eq!(thrower["function"], "checkout");
    assert_eq!(thrower["inApp"], true);
    assert_eq!(thrower["context"][0], json!([1, "export function checkout(cart) {"]));
    assert_eq!(
        thrower["context"][3],
        json!([4, "    throw new Error('limit exceeded: ' + total);"])
    );
    assert_eq!(frames[0]["function"], "main");
    assert_eq!(frames[0]["lineNo"], 10);
    let raw = &exception(&first)["rawStacktrace"]["frames"];
    assert_eq!(raw[1]["absPath"], "http://127.0.0.1:3000/static/app.min.js");
    assert_eq!(raw[1]["function"], "n");
    assert_eq!(raw[1]["colNo"], 15);
    assert_eq!(first["errors"], json!([]), "{}", first["errors"]);
    assert_eq!(
        first["groupID"], second["groupID"],
        "two builds of the same code land in one issue"
    );
    assert_eq!(exception(&second)["stacktrace"]["frames"], *frames);
}

#[test]
fn release_files_map_by_url_and_missing_maps_are_explained() {
    let server = spawn_server();
    let (minified, map) = build(0);
    let minified = format!("{minified}//# sourceMappingURL=app.min.js.map\n");
    save_bundle(
        &server,
        Some("web@1.0.0"),
        vec![
            artifact(
                ArtifactKind::MinifiedSource,
                Some("~/static/app.min.js"),
                None,
                None,
                minified.as_bytes(),
            ),
            artifact(
                ArtifactKind::SourceMap,
                Some("~/static/app.min.js.map"),
                None,
                None,
                &map,
            ),
        ],
    );
    let mapped = server.send_event(&minified_event(
        "https://shop.example/static/app.min.js?v=7",
        0,
        Some("web@1.0.0"),
        None,
    ));
    let event = event_json(&server, &mapped);
    let thrower = &exception(&event)["stacktrace"]["frames"][1];
    assert_eq!(thrower["absPath"], "https://shop.example/src/checkout.js");
    assert_eq!(thrower["lineNo"], 4);
    assert_eq!(event["errors"], json!([]));

    // Another release has no files: the frames stay minified and the event says why.
    let unmapped = server.send_event(&minified_event(
        "https://shop.example/static/app.min.js",
        0,
        Some("web@2.0.0"),
        None,
    ));
    let event = event_json(&server, &unmapped);
    assert_eq!(
        exception(&event)["stacktrace"]["frames"][1]["absPath"],
        "https://shop.example/static/app.min.js"
    );
    assert_eq!(exception(&event)["rawStacktrace"], Value::Null);
    let errors = event["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["type"], "js_no_source");
    assert_eq!(errors[0]["url"], "https://shop.example/static/app.min.js");
    assert_eq!(errors[0]["release"], "web@2.0.0");

    // A debug id nobody uploaded a bundle for.
    let missing = Uuid::new_v4();
    let id = server.send_event(&minified_event(
        "https://shop.example/static/new.js",
        0,
        None,
        Some(missing),
    ));
    let event = event_json(&server, &id);
    assert_eq!(event["errors"][0]["type"], "js_no_source");
    assert_eq!(event["errors"][0]["debug_id"], missing.to_string());
}

#[test]
fn a_map_uploaded_after_an_event_applies_to_the_next_one() {
    let server = spawn_server();
    let debug_id = Uuid::new_v4();
    let abs_path = "https://shop.example/static/late.js";
    let before = server.send_event(&minified_event(abs_path, 0, None, Some(debug_id)));
    assert_eq!(event_json(&server, &before)["errors"][0]["type"], "js_no_source");
    let (minified, map) = build(0);
    save_bundle(
        &server,
        None,
        vec![
            artifact(
                ArtifactKind::MinifiedSource,
                None,
                Some(debug_id),
                None,
                minified.as_bytes(),
            ),
            artifact(ArtifactKind::SourceMap, None, Some(debug_id), None, &map),
        ],
    );
    // The miss is remembered for a few seconds; events sent meanwhile stay unmapped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mapped = loop {
        let id = server.send_event(&minified_event(abs_path, 0, None, Some(debug_id)));
        let event = event_json(&server, &id);
        if exception(&event)["rawStacktrace"] != Value::Null || std::time::Instant::now() > deadline {
            break event;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert_eq!(exception(&mapped)["stacktrace"]["frames"][1]["function"], "checkout");
    assert_eq!(mapped["errors"], json!([]));
}
