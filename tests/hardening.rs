//! Smaller limits a client or an operator meets: bounded issue searches answer 400 instead
//! of a database error, the data directory and database are owner-only, and the compose
//! example keeps `/metrics` private.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{errata_cli, spawn_server, spawn_server_with};
use proptest::prelude::*;
use serde_json::Value;

const SEARCH: &str = "/api/0/projects/errata/default/issues/";

/// One search term of each kind the syntax has, chosen by `i`.
fn term(i: usize, list: usize) -> String {
    let many = |prefix: &str| {
        let values: Vec<String> = (0..list).map(|v| format!("{prefix}{v}")).collect();
        format!("[{}]", values.join(","))
    };
    match i % 7 {
        0 => format!("word{i}"),
        1 => "is:unresolved".to_string(),
        2 => format!("level:{}", many("l")),
        3 => format!("!release:{}", many("r")),
        4 => format!("tag{i}:{}", many("v")),
        5 => format!("\"quoted text {i}\""),
        _ => format!("times_seen:>{i}"),
    }
}

fn search(server: &common::TestServer, query: &str) -> (u16, Value) {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let response = server
        .api(reqwest::Method::GET, &format!("{SEARCH}?query={encoded}"))
        .send()
        .expect("request");
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

#[test]
fn searches_past_the_term_bound_answer_400_with_a_detail() {
    let server = spawn_server();
    server.send_event(&serde_json::json!({"message": "one issue"}));
    for terms in [101, 1_200] {
        let query: Vec<String> = (0..terms).map(|i| term(i, 1)).collect();
        let (status, body) = search(&server, &query.join(" "));
        assert_eq!(status, 400, "{terms} terms: {body}");
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains("at most 100"), "{detail}");
    }
    let (status, body) = search(
        &server,
        &format!("level:{}", {
            let values: Vec<String> = (0..1_200).map(|v| format!("l{v}")).collect();
            format!("[{}]", values.join(","))
        }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().expect("detail").contains("at most 100"),
        "{body}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any query within the bounds (up to 100 terms of every kind, lists of up to 100
    /// values) is answered by the database: never a 500.
    #[test]
    fn searches_within_the_bounds_are_answered(terms in 1usize..=100, list in 1usize..=100, shift in 0usize..7) {
        let query: Vec<String> = (0..terms).map(|i| term(i + shift, list)).collect();
        let (status, body) = SERVER.with(|s| search(s, &query.join(" ")));
        prop_assert_eq!(status, 200, "{} terms of {} values: {}", terms, list, body);
    }
}

thread_local! {
    static SERVER: common::TestServer = spawn_server();
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_database_and_data_directory_are_owner_only() {
    let server = spawn_server_with(|c| c.data_dir = c.data_dir.join("fresh/data"));
    server.send_event(&serde_json::json!({"message": "on disk"}));
    let data = server.dir.path().join("fresh/data");
    assert_eq!(mode(&data), 0o700, "data directory");
    let database = data.join("errata.sqlite3");
    for file in ["errata.sqlite3", "errata.sqlite3-wal", "errata.sqlite3-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert!(database.exists());

    // A directory and database an older version left readable to everyone are tightened.
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("old");
    let (ok, _, stderr) = errata_cli(&old, &["migrate"]);
    assert!(ok, "{stderr}");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let old_db = old.join("errata.sqlite3");
    std::fs::set_permissions(&old_db, std::fs::Permissions::from_mode(0o644)).expect("chmod db");
    let (ok, _, stderr) = errata_cli(&old, &["project", "list"]);
    assert!(ok, "{stderr}");
    assert_eq!(mode(&old), 0o700, "existing data directory");
    assert_eq!(mode(&old_db), 0o600, "existing database");
}

#[test]
fn the_compose_proxy_does_not_publish_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).expect("compose file");
    let caddyfile = std::fs::read_to_string(root.join("Caddyfile")).expect("Caddyfile");
    assert!(
        compose.contains("./Caddyfile:/etc/caddy/Caddyfile:ro"),
        "the proxy runs the Caddyfile"
    );
    assert!(!compose.contains("caddy reverse-proxy"), "no catch-all proxy command");
    assert!(
        !compose.contains("\"8000:8000\"") && !compose.contains("- 8000:8000"),
        "errata itself is not published"
    );
    let lines: Vec<&str> = caddyfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let matcher = lines
        .iter()
        .find(|l| l.starts_with("@metrics path"))
        .expect("a /metrics matcher");
    for path in ["/metrics", "/metrics/*"] {
        assert!(matcher.split_whitespace().any(|p| p == path), "{matcher}");
    }
    assert!(lines.contains(&"respond @metrics 404"), "{caddyfile}");
    assert!(lines.iter().any(|l| l.starts_with("reverse_proxy errata:8000")));
}
