//! End to end with the real sentry-cli (from npm) against the real `errata` binary:
//! releases new / set-commits --commit / finalize / list / info / deploys new / deploys
//! list / delete, and sourcemaps inject + upload (with debug ids, and as release files
//! with --release --dist --url-prefix), each checked through the API.

mod common;

use common::sentry_cli::{cli, run, sentry_cli};
use common::*;
use serde_json::{Value, json};

fn api(server: &BinaryServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .request(method, format!("{}{}", server.base, path))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

const MINIFIED: &str = "function a(){throw new Error(\"boom\")}a();\n//# sourceMappingURL=app.min.js.map\n";
const MAP: &str = r#"{"version":3,"file":"app.min.js","sources":["app.js"],"sourcesContent":["function raise() {\n  throw new Error(\"boom\");\n}\nraise();\n"],"names":["raise"],"mappings":"AAAA,SAASA,IACP"}"#;

#[test]
fn sentry_cli_manages_releases_and_uploads_source_maps_against_errata() {
    let deps = e2e_deps("node");
    let binary = sentry_cli(&deps);
    let server = BinaryServer::start();
    let home = tempfile::tempdir().expect("home");
    let cli = || cli(&binary, home.path(), &server.base, &server.token);
    let release_path = "/api/0/organizations/errata/releases/web@1.0.0/";

    run(cli().args(["releases", "new", "web@1.0.0"]));
    let (status, release) = api(&server, reqwest::Method::GET, release_path, None);
    assert_eq!(status, 200, "{release}");
    assert_eq!(release["projects"][0]["slug"], "default");

    // `--commit REPO@SHA` names a registered repository.
    let (status, _) = api(
        &server,
        reqwest::Method::POST,
        "/api/0/organizations/errata/repos/",
        Some(json!({"name": "acme/web"})),
    );
    assert_eq!(status, 201);
    run(cli().args([
        "releases",
        "set-commits",
        "web@1.0.0",
        "--commit",
        "acme/web@0123456789abcdef0123456789abcdef01234567",
    ]));
    let (_, release) = api(&server, reqwest::Method::GET, release_path, None);
    assert_eq!(release["commitCount"], 1, "{release}");
    assert_eq!(release["lastCommit"]["id"], "0123456789abcdef0123456789abcdef01234567");

    run(cli().args(["releases", "finalize", "web@1.0.0"]));
    let (_, release) = api(&server, reqwest::Method::GET, release_path, None);
    assert!(release["dateReleased"].is_string(), "{release}");

    let listed = run(cli().args(["releases", "list"]));
    assert!(listed.contains("1.0.0"), "{listed}");
    let info = run(cli().args(["releases", "info", "web@1.0.0"]));
    assert!(info.contains("web@1.0.0") || info.contains("1.0.0"), "{info}");

    run(cli().args([
        "releases",
        "deploys",
        "web@1.0.0",
        "new",
        "-e",
        "production",
        "-n",
        "first",
    ]));
    let (_, deploys) = api(&server, reqwest::Method::GET, &format!("{release_path}deploys/"), None);
    assert_eq!(deploys[0]["environment"], "production", "{deploys}");
    let listed = run(cli().args(["releases", "deploys", "web@1.0.0", "list"]));
    assert!(listed.contains("production"), "{listed}");

    // Source maps with debug ids: inject, then upload.
    let with_ids = home.path().join("dist");
    std::fs::create_dir_all(&with_ids).expect("dir");
    std::fs::write(with_ids.join("app.min.js"), MINIFIED).expect("writes");
    std::fs::write(with_ids.join("app.min.js.map"), MAP).expect("writes");
    run(cli().args(["sourcemaps", "inject"]).arg(&with_ids));
    let injected = std::fs::read_to_string(with_ids.join("app.min.js")).expect("reads");
    let debug_id = injected
        .lines()
        .find_map(|l| l.strip_prefix("//# debugId="))
        .expect("inject adds a debugId comment")
        .trim()
        .to_string();
    run(cli().args(["sourcemaps", "upload"]).arg(&with_ids));
    let (_, files) = api(
        &server,
        reqwest::Method::GET,
        "/api/0/projects/errata/default/files/artifacts/",
        None,
    );
    let kinds: Vec<(&str, &str)> = files
        .as_array()
        .expect("list")
        .iter()
        .filter(|f| f["debugId"] == json!(debug_id))
        .map(|f| (f["type"].as_str().unwrap_or(""), f["name"].as_str().unwrap_or("")))
        .collect();
    assert!(kinds.contains(&("minified_source", "~/app.min.js")), "{files}");
    assert!(kinds.contains(&("source_map", "~/app.min.js.map")), "{files}");

    // Release files without debug ids: --release, --dist and --url-prefix.
    let plain = home.path().join("plain");
    std::fs::create_dir_all(&plain).expect("dir");
    std::fs::write(
        plain.join("other.min.js"),
        MINIFIED.replace("app.min.js.map", "other.min.js.map"),
    )
    .expect("writes");
    std::fs::write(plain.join("other.min.js.map"), MAP).expect("writes");
    run(cli()
        .args([
            "sourcemaps",
            "upload",
            "--release",
            "web@1.0.0",
            "--dist",
            "d1",
            "--url-prefix",
            "~/static",
        ])
        .arg(&plain));
    let (_, files) = api(
        &server,
        reqwest::Method::GET,
        "/api/0/projects/errata/default/releases/web@1.0.0/files/",
        None,
    );
    let names: Vec<&str> = files
        .as_array()
        .expect("list")
        .iter()
        .filter(|f| f["dist"] == "d1")
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"~/static/other.min.js"), "{files}");
    assert!(names.contains(&"~/static/other.min.js.map"), "{files}");

    run(cli().args(["releases", "delete", "web@1.0.0"]));
    let (status, _) = api(&server, reqwest::Method::GET, release_path, None);
    assert_eq!(status, 404);
    let (_, files) = api(
        &server,
        reqwest::Method::GET,
        "/api/0/projects/errata/default/releases/web@1.0.0/files/",
        None,
    );
    assert_eq!(files, json!([]), "the release's files went with it");
}
