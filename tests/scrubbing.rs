//! Scrubbing against a real server: per-project settings through the API and the CLI,
//! and a property test that a secret under a sensitive key never reaches the disk or
//! any API response.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};

fn stored(server: &TestServer, id: &str) -> Value {
    server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/json/"))
}

#[test]
fn api_rejects_invalid_scrubbing_settings_with_the_field_and_reason() {
    let server = spawn_server();
    let cases = [
        (
            json!({"custom_rules": [{"name": "order", "pattern": "ORD-("}]}),
            "regular expression",
        ),
        (
            json!({"custom_rules": [{"name": "any", "pattern": ".*"}]}),
            "empty string",
        ),
        (json!({"scrub_ips": true}), "\"scrub_ips\""),
        (json!({"scrub_defaults": "yes"}), "invalid type"),
        (json!(["scrub_data"]), "expected an object"),
    ];
    for (scrubbing, reason) in cases {
        let (status, body) = server.put_json("/api/0/projects/errata/default/", &json!({"scrubbing": scrubbing}));
        assert_eq!(status, 400, "{scrubbing}: {body}");
        let message = body["scrubbing"][0]
            .as_str()
            .unwrap_or_else(|| panic!("field error: {body}"));
        assert!(message.contains(reason), "{scrubbing}: {message}");
    }
    let options = server.get_ok("/api/0/projects/errata/default/")["options"].clone();
    assert!(options.get("scrubbing").is_none(), "nothing was stored: {options}");
}

#[test]
fn api_scrubbing_settings_apply_to_new_events() {
    let server = spawn_server();
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"scrubbing": {
            "sensitive_fields": ["order_ref"],
            "safe_fields": ["api_key"],
            "scrub_ip_addresses": true,
            "custom_rules": [{"name": "order", "pattern": "ORD-[0-9]{6}"}],
        }}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["options"]["scrubbing"]["sensitive_fields"], json!(["order_ref"]));
    assert_eq!(
        body["options"]["scrubbing"]["scrub_defaults"], true,
        "unnamed knobs keep their value"
    );

    let event = json!({
        "platform": "python",
        "message": "checkout failed",
        "user": {"id": "42", "ip_address": "203.0.113.9"},
        "extra": {
            "order_ref": "A-77",
            "api_key": "kept-because-safe",
            "note": "see ORD-123456 for details",
            "password": "hunter2-api",
        },
    });
    let id = server.send_event(&event);
    let data = stored(&server, &id);
    assert_eq!(data["extra"]["order_ref"], "[Filtered]");
    assert_eq!(data["extra"]["api_key"], "kept-because-safe");
    assert_eq!(data["extra"]["note"], "see [Filtered] for details");
    assert_eq!(data["extra"]["password"], "[Filtered]");
    assert!(
        data["user"].get("ip_address").is_none_or(Value::is_null),
        "{}",
        data["user"]
    );
    let meta = data["_meta"].to_string();
    assert!(meta.contains("custom:order"), "{meta}");
    assert!(!meta.contains("hunter2-api") && !meta.contains("ORD-123456"), "{meta}");

    // Defaults off: only the project's own fields are scrubbed.
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"scrubbing": {"scrub_defaults": false}}),
    );
    assert_eq!(status, 200, "{body}");
    let id = server.send_event(&event);
    let data = stored(&server, &id);
    assert_eq!(data["extra"]["password"], "hunter2-api");
    assert_eq!(data["extra"]["order_ref"], "[Filtered]");
}

fn send_to_binary(server: &BinaryServer, event: &Value) -> Value {
    let id = server.send_event(event);
    server.get(&format!("/api/0/projects/errata/default/events/{id}/json/"))
}

#[test]
fn cli_scrub_settings_are_validated_printed_and_reach_a_running_server() {
    let server = BinaryServer::start();
    let dir = server.dir.path().to_path_buf();
    let event = json!({"message": "m", "extra": {"order_ref": "A-1", "ip": "note"}});
    assert_eq!(send_to_binary(&server, &event)["extra"]["order_ref"], "A-1");

    let (ok, stdout, stderr) = errata_cli(&dir, &["project", "scrub", "default", "--custom-rule", "bad=ORD-("]);
    assert!(!ok, "an invalid regex fails the command: {stdout}");
    assert!(
        stderr.contains("\"bad\"") && stderr.contains("regular expression"),
        "{stderr}"
    );
    let (ok, _, stderr) = errata_cli(
        &dir,
        &["project", "scrub", "default", "--custom-rule", "no-equals-sign"],
    );
    assert!(!ok);
    assert!(stderr.contains("NAME=REGEX"), "{stderr}");
    let (ok, _, stderr) = errata_cli(&dir, &["project", "scrub", "nope", "--ip", "on"]);
    assert!(!ok);
    assert!(stderr.contains("project not found"), "{stderr}");

    let (ok, stdout, stderr) = errata_cli(
        &dir,
        &[
            "project",
            "scrub",
            "default",
            "--sensitive-field",
            "order_ref",
            "--ip",
            "on",
            "--safe-field",
            "api_key",
            "--custom-rule",
            "order=ORD-[0-9]{6}",
        ],
    );
    assert!(ok, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("prints the settings as JSON");
    let scrubbing = &printed["scrubbing"];
    assert_eq!(scrubbing["sensitive_fields"], json!(["order_ref"]));
    assert_eq!(scrubbing["safe_fields"], json!(["api_key"]));
    assert_eq!(scrubbing["scrub_ip_addresses"], true);
    assert_eq!(scrubbing["scrub_defaults"], true);
    assert_eq!(
        scrubbing["custom_rules"],
        json!([{"pattern": "ORD-[0-9]{6}", "name": "order"}])
    );

    // A second call edits the lists rather than replacing the whole settings.
    let (ok, stdout, stderr) = errata_cli(
        &dir,
        &[
            "project",
            "scrub",
            "default",
            "--remove-safe-field",
            "api_key",
            "--defaults",
            "off",
        ],
    );
    assert!(ok, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(printed["scrubbing"]["safe_fields"], json!([]));
    assert_eq!(printed["scrubbing"]["sensitive_fields"], json!(["order_ref"]));
    assert_eq!(printed["scrubbing"]["scrub_defaults"], false);

    // The running server notices within a few seconds.
    let mut took_effect = false;
    for _ in 0..60 {
        if send_to_binary(&server, &event)["extra"]["order_ref"] == "[Filtered]" {
            took_effect = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(took_effect, "the CLI's scrubbing change reached the running server");
    let options = server.get("/api/0/projects/errata/default/")["options"].clone();
    assert_eq!(options["scrubbing"]["sensitive_fields"], json!(["order_ref"]));
}

/// Where in an event a planted subtree goes: all of these are walked (spec §4).
const ROOTS: [&str; 7] = [
    "extra",
    "request.data",
    "contexts.custom",
    "breadcrumb.data",
    "frame.vars",
    "user.data",
    "mechanism.data",
];

/// Key names the default rules treat as sensitive (spec §5.1), in several spellings.
const SENSITIVE_KEYS: [&str; 14] = [
    "password",
    "DB_PASSWORD",
    "passwd",
    "secret",
    "client_secret",
    "api_key",
    "X-Api-Key",
    "apiKey",
    "Authorization",
    "credentials",
    "private_key",
    "access_token",
    "csrfToken",
    "mysql_pwd",
];

/// Random path keys; no vowels, so a path key is never itself a sensitive word.
fn path_key() -> impl Strategy<Value = String> {
    "f[bcdghjlmnqvxz0-9]{1,7}"
}

fn nest(path: &[String], leaf: Value) -> Value {
    path.iter().rev().fold(leaf, |inner, key| json!({ key: inner }))
}

/// Builds an event carrying `subtree` at `root`.
fn event_with(root: &str, subtree: Value) -> Value {
    let mut event = json!({"platform": "python", "level": "error"});
    match root {
        "extra" => event["extra"] = subtree,
        "request.data" => event["request"] = json!({"method": "POST", "url": "http://x.test/a", "data": subtree}),
        "contexts.custom" => event["contexts"] = json!({"custom": subtree}),
        "breadcrumb.data" => {
            event["breadcrumbs"] = json!({"values": [{"category": "c", "message": "m", "data": subtree}]})
        }
        "user.data" => event["user"] = json!({"id": "7", "data": subtree}),
        _ => {
            let frame_vars = if root == "frame.vars" {
                subtree.clone()
            } else {
                json!({})
            };
            let mechanism = if root == "mechanism.data" {
                json!({"type": "generic", "data": subtree})
            } else {
                json!({"type": "generic"})
            };
            event["exception"] = json!({"values": [{
                "type": "RuntimeError", "value": "planted",
                "mechanism": mechanism,
                "stacktrace": {"frames": [{"function": "run", "module": "app.jobs", "in_app": true, "vars": frame_vars}]}
            }]});
        }
    }
    if event.get("message").is_none() && event.get("exception").is_none() {
        event["message"] = json!("planted");
    }
    event
}

/// Every stored payload, decompressed, plus the raw database and WAL bytes (SQLite), or
/// every row of every table as text (PostgreSQL, whose files live with its server).
fn disk_contains(server: &TestServer, needle: &str) -> Option<String> {
    let db = server.db();
    for row in db.query("SELECT event_id, payload FROM events", &[]) {
        let (event_id, blob) = (row[0].event_id().unwrap_or_default(), row[1].blob());
        let json = errata::store::payload::decompress(&blob).expect("payload is zstd");
        if contains(&json, needle.as_bytes()) {
            return Some(format!("payload of event {event_id}"));
        }
    }
    if POSTGRES {
        let tables = db.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
            &[],
        );
        for table in tables.iter().filter_map(|r| r[0].text()) {
            let found = db.scalar(
                &format!("SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0"),
                &[needle.into()],
            );
            if found > 0 {
                return Some(format!("table {table}"));
            }
        }
        return None;
    }
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", server.database_path().display());
        if let Ok(bytes) = std::fs::read(&path)
            && contains(&bytes, needle.as_bytes())
        {
            return Some(path);
        }
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn planted_secret_under_a_sensitive_key_never_reaches_disk_or_api() {
    let server = spawn_server();
    let strategy = (
        prop::sample::select(ROOTS.to_vec()),
        prop::collection::vec(path_key(), 0..5),
        prop::sample::select(SENSITIVE_KEYS.to_vec()),
        prop::collection::vec(path_key(), 0..3),
        "zq[A-Za-z0-9]{18,30}",
        "cnry[bcdghjlmnqvxz]{12}",
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |(root, before, key, after, secret, canary)| {
        // {before…: {KEY: {after…: SECRET}, visible: CANARY}}
        let planted = json!({ key: nest(&after, json!(secret)), "fvisible": canary });
        let event = event_with(root, nest(&before, planted));
        let id = server.send_event(&event);

        let data = stored(&server, &id);
        let text = data.to_string();
        prop_assert!(text.contains(&canary), "the planted path was stored: {}", text);
        prop_assert!(!text.contains(&secret), "stored event holds the secret: {}", text);
        let issue = data["groupID"].as_str().map(String::from).or_else(|| {
            server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/"))["groupID"]
                .as_str()
                .map(String::from)
        });
        let issue = issue.ok_or_else(|| TestCaseError::fail("event has an issue"))?;
        for path in [
            format!("/api/0/projects/errata/default/events/{id}/"),
            format!("/api/0/projects/errata/default/events/{id}/json/"),
            format!("/api/0/projects/errata/default/events/{id}/grouping-info/"),
            format!("/api/0/issues/{issue}/"),
            format!("/api/0/issues/{issue}/events/?full=1"),
            format!("/api/0/issues/{issue}/events/latest/"),
            format!("/api/0/issues/{issue}/tags/"),
            format!("/api/0/issues/{issue}/hashes/"),
            "/api/0/projects/errata/default/issues/?query=".to_string(),
            "/api/0/projects/errata/default/events/?full=1".to_string(),
        ] {
            let (status, _, body) = server.get(&path);
            prop_assert_eq!(status, 200, "GET {}", path);
            prop_assert!(
                !body.to_string().contains(&secret),
                "GET {} shows the secret: {}",
                path,
                body
            );
        }
        if let Some(place) = disk_contains(&server, &secret) {
            return Err(TestCaseError::fail(format!("the secret is on disk in {place}")));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
