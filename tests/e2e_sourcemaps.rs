//! End to end: a small app (two modules and a node_modules dependency) bundled and
//! minified by esbuild with source maps, `sentry-cli sourcemaps inject` and `upload` against
//! the real `errata` binary, the bundle run in Node with @sentry/node and in headless
//! Chromium with @sentry/browser; the stored frames name the original files, lines and
//! functions, a second build with other minification lands in the same issue, and an
//! event whose map was never uploaded says so in its `errors`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sentry_cli::{run, sentry_cli};
use common::*;
use serde_json::Value;

const RELEASE: &str = "shop@1.0.0";
/// Where `validateItem` throws in scripts/e2e/sourcemap_app/src/checkout.js.
const THROW_LINE: i64 = 6;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The app's sources in `dir`, with its dependency under node_modules as npm would put it.
/// sentry-cli against the test's server.
fn cli(deps: &Path, home: &Path, server: &BinaryServer) -> Command {
    common::sentry_cli::cli(&sentry_cli(deps), home, &server.base, &server.token)
}

fn lay_out_app(dir: &Path) {
    let app = manifest_dir().join("scripts/e2e/sourcemap_app");
    std::fs::create_dir_all(dir.join("src")).expect("src dir");
    for file in ["checkout.js", "node.js", "browser.js"] {
        std::fs::copy(app.join("src").join(file), dir.join("src").join(file)).expect("copy source");
    }
    let dep = dir.join("node_modules/tiny-each");
    std::fs::create_dir_all(&dep).expect("dependency dir");
    std::fs::copy(app.join("deps/tiny-each.js"), dep.join("index.js")).expect("copy dependency");
    std::fs::write(dep.join("package.json"), r#"{"name":"tiny-each","main":"index.js"}"#).expect("package.json");
}

/// Bundles `entry` into `out/app.js` with a map; `flags` choose the minification.
fn esbuild(deps: &Path, app: &Path, entry: &str, out: &str, flags: &[&str]) {
    let esbuild = deps.join("bundler/node_modules/.bin/esbuild");
    run(Command::new(esbuild)
        .current_dir(app)
        .env("NODE_PATH", deps.join("bundler/node_modules"))
        .arg(format!("src/{entry}"))
        .args(["--bundle", "--sourcemap"])
        .arg(format!("--outfile={out}/app.js"))
        .args(flags));
}

fn run_node_bundle(deps: &Path, bundle: &Path, server: &BinaryServer) {
    let output = run(Command::new("node")
        .arg(bundle)
        .env("NODE_PATH", deps.join("bundler/node_modules"))
        .env("ERRATA_DSN", &server.dsn)
        .env("ERRATA_RELEASE", RELEASE));
    assert!(
        output.contains("flushed: true"),
        "the Node SDK did not flush:\n{output}"
    );
}

/// Every event of the project, newest first, in full.
fn events(server: &BinaryServer) -> Vec<Value> {
    let list = server.get("/api/0/projects/errata/default/events/");
    list.as_array()
        .expect("event list")
        .iter()
        .map(|e| {
            server.get(&format!(
                "/api/0/projects/errata/default/events/{}/",
                e["eventID"].as_str().expect("id")
            ))
        })
        .collect()
}

fn exception(event: &Value) -> &Value {
    let entries = event["entries"].as_array().expect("entries");
    let entry = entries
        .iter()
        .find(|e| e["type"] == "exception")
        .expect("an exception entry");
    &entry["data"]["values"][0]
}

fn frames(event: &Value) -> Vec<Value> {
    exception(event)["stacktrace"]["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The frame mapped to `validateItem`'s throw, with its context, and the dependency's frame.
fn assert_mapped(event: &Value) {
    let frames = frames(event);
    let thrower = frames.last().expect("frames");
    assert!(
        thrower["absPath"]
            .as_str()
            .is_some_and(|p| p.ends_with("src/checkout.js")),
        "{thrower:#}"
    );
    assert_eq!(thrower["lineNo"], THROW_LINE, "{thrower:#}");
    assert_eq!(thrower["function"], "validateItem", "{thrower:#}");
    assert_eq!(thrower["inApp"], true);
    let context = thrower["context"].as_array().expect("context");
    assert!(
        context
            .iter()
            .any(|c| c[0] == THROW_LINE && c[1].as_str().is_some_and(|l| l.contains("throw new RangeError"))),
        "{context:?}"
    );
    let dependency = frames
        .iter()
        .find(|f| {
            f["absPath"]
                .as_str()
                .is_some_and(|p| p.contains("node_modules/tiny-each"))
        })
        .unwrap_or_else(|| panic!("no dependency frame in {frames:#?}"));
    assert_eq!(dependency["inApp"], false);
    assert_eq!(dependency["lineNo"], 4);
    assert!(frames.iter().any(|f| f["function"] == "checkout"), "{frames:#?}");
    let raw = &exception(event)["rawStacktrace"]["frames"];
    assert!(
        raw.as_array()
            .and_then(|f| f.last())
            .and_then(|f| f["absPath"].as_str())
            .is_some_and(|p| p.ends_with("app.js")),
        "{raw:#}"
    );
    assert_eq!(event["errors"], Value::Array(vec![]), "{:#}", event["errors"]);
}

#[test]
fn minified_node_and_browser_errors_map_to_their_sources() {
    let deps = e2e_deps("node");
    e2e_deps("bundler");
    e2e_deps("browser");
    let server = BinaryServer::start();
    let work = tempfile::tempdir().expect("work dir");
    let app = work.path().join("app");
    lay_out_app(&app);
    let home = tempfile::tempdir().expect("home");
    let cli = || cli(&deps, home.path(), &server);

    // Build one: fully minified. Build two: identifiers kept, a banner shifting every line.
    let node = ["--platform=node", "--external:@sentry/node"];
    esbuild(
        &deps,
        &app,
        "node.js",
        "dist-node-1",
        &[&node[..], &["--minify"]].concat(),
    );
    esbuild(
        &deps,
        &app,
        "node.js",
        "dist-node-2",
        &[
            &node[..],
            &[
                "--minify-whitespace",
                "--minify-syntax",
                "--banner:js=// build two\n// shifted",
            ],
        ]
        .concat(),
    );
    // Its own banner: sentry-cli derives debug ids from the content, and this build's must
    // differ from the uploaded ones.
    esbuild(
        &deps,
        &app,
        "node.js",
        "dist-node-missing",
        &[&node[..], &["--minify", "--banner:js=// never uploaded"]].concat(),
    );
    esbuild(
        &deps,
        &app,
        "browser.js",
        "dist-browser",
        &["--minify", "--format=iife"],
    );
    for dist in ["dist-node-1", "dist-node-2", "dist-node-missing", "dist-browser"] {
        run(cli().args(["sourcemaps", "inject"]).arg(app.join(dist)));
    }
    for dist in ["dist-node-1", "dist-node-2", "dist-browser"] {
        run(cli()
            .args(["sourcemaps", "upload", "--release", RELEASE])
            .arg(app.join(dist)));
    }

    run_node_bundle(&deps, &app.join("dist-node-1/app.js"), &server);
    run_node_bundle(&deps, &app.join("dist-node-2/app.js"), &server);
    let output = run(Command::new("node")
        .arg(manifest_dir().join("scripts/e2e/sourcemap_browser.js"))
        .arg(app.join("dist-browser"))
        .arg("app.js")
        .arg(&server.dsn)
        .arg(RELEASE)
        .env("NODE_PATH", deps.join("browser/node_modules")));
    assert!(
        output.contains("flushed: true"),
        "the browser SDK did not flush:\n{output}"
    );

    let stored = events(&server);
    assert_eq!(stored.len(), 3, "{stored:#?}");
    let node_events: Vec<&Value> = stored.iter().filter(|e| e["platform"] == "node").collect();
    let browser_events: Vec<&Value> = stored.iter().filter(|e| e["platform"] == "javascript").collect();
    assert_eq!((node_events.len(), browser_events.len()), (2, 1), "{stored:#?}");
    for event in stored.iter() {
        assert_mapped(event);
    }
    assert_eq!(
        node_events[0]["groupID"], node_events[1]["groupID"],
        "two builds of the same code land in one issue"
    );

    // A build whose maps were never uploaded: minified frames, and the reason.
    run_node_bundle(&deps, &app.join("dist-node-missing/app.js"), &server);
    let newest = events(&server)
        .into_iter()
        .find(|e| {
            frames(e)
                .last()
                .and_then(|f| f["absPath"].as_str())
                .is_some_and(|p| p.ends_with("dist-node-missing/app.js"))
        })
        .expect("the unmapped event keeps its minified frames");
    let errors = newest["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["type"] == "js_no_source"
            && e["url"]
                .as_str()
                .is_some_and(|u| u.contains("dist-node-missing/app.js"))
            && e["debug_id"].is_string()),
        "{errors:#?}"
    );
    assert_eq!(exception(&newest)["rawStacktrace"], Value::Null);
}
