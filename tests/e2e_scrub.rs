//! End to end: the real Python sentry-sdk with `send_default_pii=True` sends a password
//! in frame locals, an `Authorization: Bearer` header and a card number in the exception
//! message to the real `errata` binary. None of them may reach the database file, its
//! WAL, any stored payload, any API response, or the service's own debug log.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

const PASSWORD: &str = "pw-Zk29vQ8xLr7Tn";
const BEARER: &str = "tok9fX2mQ7pL4vR8sW1yB6";
const CARD: &str = "4111 1111 1111 1111";

/// Every spelling of a secret that would count as a leak.
fn needles() -> Vec<(&'static str, String)> {
    vec![
        ("password", PASSWORD.to_string()),
        ("bearer token", BEARER.to_string()),
        ("card number", CARD.to_string()),
        ("card number", CARD.replace(' ', "")),
        ("card number", CARD.replace(' ', "-")),
    ]
}

fn leaks(bytes: &[u8]) -> Vec<&'static str> {
    needles()
        .into_iter()
        .filter(|(_, needle)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(name, _)| name)
        .collect()
}

/// The real binary with `RUST_LOG=debug`, its log going to a file.
struct LoggedServer {
    child: Child,
    dsn: String,
    token: String,
    base: String,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl LoggedServer {
    fn start() -> LoggedServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("errata.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_errata"))
            .arg("serve")
            .env("ERRATA_DATA_DIR", dir.path())
            .env("ERRATA_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start errata");
        let lines = wait::Lines::new(child.stdout.take().expect("stdout"));
        let deadline = std::time::Instant::now() + wait::COMMAND_LIMIT;
        let (mut dsn, mut token) = (String::new(), String::new());
        while dsn.is_empty() || token.is_empty() {
            let line = lines
                .next_before(deadline, "DSN and token from errata")
                .expect("errata printed its DSN and token before exiting");
            let line = line.trim();
            if line.starts_with("http://") && line.contains('@') {
                dsn = line.to_string();
            } else if line.starts_with("sntryu_") {
                token = line.to_string();
            }
        }
        // `lines` keeps draining stdout on its thread.
        let host = dsn.trim_start_matches("http://").split('@').nth(1).expect("host");
        let base = format!("http://{}", host.split('/').next().expect("host"));
        LoggedServer {
            child,
            dsn,
            token,
            base,
            dir,
            log,
        }
    }

    fn get(&self, path: &str) -> Value {
        let response = reqwest::blocking::Client::new()
            .get(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .send()
            .expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().expect("json")
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("errata.sqlite3")
    }

    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = wait::status_within(Command::new("kill").args(["-TERM", &pid]), wait::COMMAND_LIMIT);
        let status = wait::wait_for(&mut self.child, wait::COMMAND_LIMIT, "errata after SIGTERM");
        assert_eq!(status.code(), Some(0), "errata exits 0 on SIGTERM");
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let deadline = std::time::Instant::now() + wait::COMMAND_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn file_leaks(path: &Path) -> Vec<&'static str> {
    std::fs::read(path).map(|bytes| leaks(&bytes)).unwrap_or_default()
}

fn payload_leaks(database: &Path) -> (usize, Vec<&'static str>) {
    let conn = rusqlite::Connection::open(database).expect("open database");
    let mut stmt = conn.prepare("SELECT payload FROM events").expect("query");
    let blobs: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut found = Vec::new();
    for blob in &blobs {
        found.extend(leaks(
            &errata::store::payload::decompress(blob).expect("payload is zstd"),
        ));
    }
    (blobs.len(), found)
}

#[test]
fn python_sdk_secrets_never_reach_the_database_wal_api_or_log() {
    let deps = e2e_deps("python");
    let mut server = LoggedServer::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/python_scrub.py");
    let (ok, output) = run_output(
        Command::new(deps.join("venv/bin/python"))
            .arg(script)
            .arg(&server.dsn)
            .env("SCRUB_PASSWORD", PASSWORD)
            .env("SCRUB_BEARER", BEARER)
            .env("SCRUB_CARD", CARD),
    );
    assert!(ok, "python sender failed:\n{output}");
    assert!(
        output.contains("SDK event carries: bearer,card,password"),
        "the SDK really sent all three secrets:\n{output}"
    );
    for bad in ["Unexpected status code", "Failed to send", "event was dropped"] {
        assert!(!output.contains(bad), "SDK reported a send failure ({bad}):\n{output}");
    }

    // The event is stored, and what replaced the secrets is visible.
    let issues = server.get("/api/0/projects/errata/default/issues/?query=");
    let issues = issues.as_array().expect("issue list");
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = issues[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        issues[0]["title"], "ValueError: payment declined for card [creditcard] (amount 42)",
        "the card number is cut out of the title too"
    );
    let latest = server.get(&format!("/api/0/issues/{issue}/events/latest/"));
    let event_id = latest["eventID"].as_str().expect("event id").to_string();
    let json = server.get(&format!("/api/0/projects/errata/default/events/{event_id}/json/"));
    let headers = json["request"]["headers"].as_array().expect("request headers").clone();
    let authorization = headers
        .iter()
        .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case("authorization")))
        .expect("the Authorization header is kept, with its value scrubbed");
    assert_eq!(authorization[1], "[Filtered]");
    let frames = json["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .expect("frames");
    let charge = frames.iter().find(|f| f["function"] == "charge").expect("charge frame");
    assert_eq!(charge["vars"]["password"], "[Filtered]");
    assert!(json["_meta"].is_object(), "the event records what was scrubbed");

    // Not in any API response for it.
    for path in [
        format!("/api/0/issues/{issue}/"),
        format!("/api/0/issues/{issue}/events/?full=1"),
        format!("/api/0/issues/{issue}/events/latest/"),
        format!("/api/0/issues/{issue}/tags/"),
        format!("/api/0/projects/errata/default/events/{event_id}/"),
        format!("/api/0/projects/errata/default/events/{event_id}/json/"),
        format!("/api/0/projects/errata/default/events/{event_id}/grouping-info/"),
        "/api/0/projects/errata/default/issues/?query=".to_string(),
    ] {
        let body = server.get(&path).to_string();
        assert_eq!(leaks(body.as_bytes()), Vec::<&str>::new(), "GET {path}");
    }

    // Not on disk while the server runs: the database file, its WAL, the payloads.
    let database = server.database();
    let wal = PathBuf::from(format!("{}-wal", database.display()));
    assert!(wal.exists(), "the WAL is in use while the server runs");
    assert_eq!(file_leaks(&database), Vec::<&str>::new(), "database file");
    assert_eq!(file_leaks(&wal), Vec::<&str>::new(), "WAL");
    let (stored, found) = payload_leaks(&database);
    assert_eq!(stored, 1);
    assert_eq!(found, Vec::<&str>::new(), "decompressed payloads");

    // Nor after a clean stop (WAL checkpointed into the file).
    server.stop();
    assert_eq!(file_leaks(&database), Vec::<&str>::new(), "database file after stop");
    assert_eq!(file_leaks(&wal), Vec::<&str>::new(), "WAL after stop");
    let (_, found) = payload_leaks(&database);
    assert_eq!(found, Vec::<&str>::new(), "decompressed payloads after stop");

    // The service's own debug log never carries a secret, the API token or the payload.
    let log = std::fs::read(&server.log).expect("log");
    assert!(!log.is_empty(), "debug logging was on");
    assert_eq!(leaks(&log), Vec::<&str>::new(), "service log");
    let log = String::from_utf8_lossy(&log);
    assert!(!log.contains(&server.token), "the API token is never logged");
    assert!(!log.contains("payment declined"), "the payload is never logged");
}
