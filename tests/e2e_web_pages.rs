//! End to end in a real browser: an error raised through the real Python sentry-sdk, found
//! in the issue stream by headless Chromium, opened, resolved; a link as the MCP server
//! prints it; screenshots of the stream and the issue page (light theme, 1280×800) under
//! target/screenshots/.

mod common;

use common::*;
use sha2::{Digest, Sha256};

#[test]
fn a_python_error_is_found_opened_and_resolved_in_the_browser() {
    let deps = e2e_deps("python");
    e2e_deps("browser");
    let server = BinaryServer::start();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, output) = run_output(
        std::process::Command::new(deps.join("venv/bin/python"))
            .arg(root.join("scripts/e2e/python_breadcrumb.py"))
            .arg(&server.dsn),
    );
    assert!(ok, "python sender failed:\n{output}");
    let issues = server.get("/api/0/projects/errata/default/issues/");
    let issue = issues
        .as_array()
        .and_then(|a| a.iter().find(|i| i["metadata"]["type"] == "ZeroDivisionError"))
        .unwrap_or_else(|| panic!("no ZeroDivisionError issue: {issues}"))
        .clone();
    let short_id = issue["shortId"].as_str().expect("short id").to_string();

    let cookie = sign_in_member(&server);
    let shots = root.join("target/screenshots");
    let (ok, output) = run_output(
        std::process::Command::new("node")
            .arg(root.join("scripts/e2e/web_pages.js"))
            .arg(&server.base)
            .arg(&cookie)
            .arg(&short_id)
            .arg(&shots)
            .env("NODE_PATH", deps.join("browser/node_modules")),
    );
    assert!(ok, "browser steps failed:\n{output}");
    assert!(output.contains("ok: the resolved issue left the stream"), "{output}");
    let after = server.get(&format!("/api/0/issues/{}/", issue["id"].as_str().expect("id")));
    assert_eq!(after["status"], "resolved");
    for shot in ["issue-stream.png", "issue-page.png"] {
        let bytes = std::fs::read(shots.join(shot)).expect("screenshot written");
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
}

/// A member and a session, written to the database as sign-in writes them; returns the
/// session cookie's value.
fn sign_in_member(server: &BinaryServer) -> String {
    let session = uuid::Uuid::new_v4().simple().to_string();
    let hash = hex::encode(Sha256::digest(session.as_bytes()));
    let now = chrono::Utc::now().timestamp_micros();
    let db = rusqlite::Connection::open(server.dir.path().join("errata.sqlite3")).expect("open database");
    db.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    db.execute(
        "INSERT INTO users (email, email_key, role, password_hash, date_created) \
         VALUES ('e2e@example.com', 'e2e@example.com', 'member', 'x', ?1)",
        [now],
    )
    .expect("insert user");
    let user = db.last_insert_rowid();
    db.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf, created, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
        rusqlite::params![hash, user, uuid::Uuid::new_v4().simple().to_string(), now],
    )
    .expect("insert session");
    session
}
