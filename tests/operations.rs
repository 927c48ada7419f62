//! Operating Errata: metrics, logs, configuration, backup and restore, upgrades and
//! retention, each against the real binary or a real server.

mod common;
mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use support::{Errata, Load, binary, client, integrity_check, stored_event_ids};

fn scratch() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let log = dir.path().join("errata.log");
    (dir, data, log)
}

/// Samples of a Prometheus text exposition: `name{labels}` → value. Fails on a malformed line.
fn parse_exposition(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unterminated labels in {line:?}");
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

fn scrape(server: &Errata, token: &str) -> HashMap<String, f64> {
    let response = client()
        .get(format!("{}/metrics", server.base))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse_exposition(&response.text().expect("body"))
}

fn sample(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {:?}", samples.keys().collect::<Vec<_>>()))
}

#[test]
fn metrics_need_the_token_and_their_counters_move() {
    let (_dir, data, log) = scratch();
    let server = Errata::start(&data, &log, &[("ERRATA_METRICS_TOKEN", "metrics-token-1234")], &[]);
    let key = server.credentials.public_key.clone();
    let unauthorized = client().get(format!("{}/metrics", server.base)).send().expect("scrape");
    assert_eq!(unauthorized.status(), 401);
    let wrong = client()
        .get(format!("{}/metrics", server.base))
        .header("Authorization", "Bearer nope")
        .send()
        .expect("scrape");
    assert_eq!(wrong.status(), 401);

    Load::start(&server.base, &key, 10, 1, 5, 0).finish_when_done();
    let first = scrape(&server, "metrics-token-1234");
    let envelope_ok = r#"errata_requests_total{endpoint="envelope",status="200"}"#;
    let accepted = r#"errata_outcomes_total{category="error",outcome="accepted"}"#;
    assert_eq!(sample(&first, envelope_ok), 5.0);
    assert_eq!(sample(&first, accepted), 5.0);
    assert_eq!(sample(&first, "errata_events_stored"), 5.0);
    // Load gives event n the issue n % 7: five events, five issues.
    assert_eq!(sample(&first, "errata_issues"), 5.0);
    assert!(sample(&first, "errata_database_bytes") > 0.0);
    assert_eq!(sample(&first, "errata_queue_capacity"), 4096.0);
    assert!(first.contains_key("errata_queue_depth"));
    // Each of the five events is committed in exactly one batch, and each batch is one
    // commit; how the writer groups them depends on timing.
    assert_eq!(sample(&first, "errata_batch_size_sum"), 5.0);
    let batches = sample(&first, "errata_batch_size_count");
    assert!((1.0..=5.0).contains(&batches), "{batches} batches for 5 events");
    assert_eq!(sample(&first, "errata_commit_seconds_count"), batches);
    assert!(first.keys().any(|k| k.starts_with("errata_commit_seconds_bucket{le=")));
    assert_eq!(sample(&first, r#"errata_retention_deleted_total{reason="age"}"#), 0.0);

    Load::start(&server.base, &key, 11, 1, 3, 0).finish_when_done();
    let bad = client()
        .post(format!("{}/api/1/envelope/", server.base))
        .header("X-Sentry-Auth", format!("Sentry sentry_key={key}, sentry_version=7"))
        .body("not an envelope")
        .send()
        .expect("post");
    assert_eq!(bad.status(), 400);
    let second = scrape(&server, "metrics-token-1234");
    assert_eq!(sample(&second, envelope_ok), 8.0);
    assert_eq!(sample(&second, accepted), 8.0);
    assert_eq!(
        sample(&second, r#"errata_requests_total{endpoint="envelope",status="400"}"#),
        1.0
    );
    assert!(sample(&second, r#"errata_requests_total{endpoint="metrics",status="401"}"#) >= 2.0);
    server.signal("TERM");
    assert!(server.wait().success());
}

#[test]
fn health_and_readiness_answer() {
    let (_dir, data, log) = scratch();
    let server = Errata::start(&data, &log, &[], &[]);
    let (status, body) = server.get("/health", "");
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
    let (status, body) = server.get("/ready", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database_writable"], true);
    assert_eq!(body["shutting_down"], false);
    server.signal("TERM");
    assert!(server.wait().success());
}

#[test]
fn logs_carry_request_ids_and_never_secrets_in_text_or_json() {
    for json_logs in [false, true] {
        let (_dir, data, log) = scratch();
        let secret_token = "metrics-secret-token-777";
        let args: &[&str] = if json_logs { &["--log-json"] } else { &[] };
        let server = Errata::start(
            &data,
            &log,
            &[
                ("ERRATA_METRICS_TOKEN", secret_token),
                ("RUST_LOG", "debug,hyper=info,h2=info"),
            ],
            args,
        );
        let key = server.credentials.public_key.clone();
        let api_token = server.credentials.token.clone();
        let payload_secret = "hunter2-payload-secret";
        let dsn_secret = "dsnsecret0123456789abcdef";
        let event =
            json!({"message": format!("login failed password={payload_secret}"), "extra": {"marker": "PAYLOADMARKER"}});
        // Legacy DSN secret in the query string, the key in the header.
        let response = client()
            .post(format!(
                "{}/api/1/store/?sentry_key={key}&sentry_secret={dsn_secret}&sentry_version=7",
                server.base
            ))
            .header("Content-Type", "application/json")
            .body(event.to_string())
            .send()
            .expect("store");
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-request-id"));
        // A rejected body, an API call with the token, a scrape with the metrics token.
        let bad = client()
            .post(format!("{}/api/1/store/", server.base))
            .header(
                "X-Sentry-Auth",
                format!("Sentry sentry_key={key}, sentry_secret={dsn_secret}"),
            )
            .body(format!("{{\"message\": \"{payload_secret}\" PAYLOADMARKER"))
            .send()
            .expect("store");
        assert_eq!(bad.status(), 400);
        assert_eq!(server.get("/api/0/projects/", &api_token).0, 200);
        assert_eq!(server.get("/api/0/projects/", "sntryu_wrongtoken").0, 401);
        assert_eq!(server.get("/metrics", secret_token).0, 200);
        server.signal("TERM");
        assert!(server.wait().success());

        let text = std::fs::read_to_string(&log).expect("log");
        for secret in [
            secret_token,
            api_token.as_str(),
            payload_secret,
            dsn_secret,
            "PAYLOADMARKER",
            "sntryu_wrongtoken",
        ] {
            assert!(!text.contains(secret), "the log holds {secret:?}:\n{text}");
        }
        assert!(!text.contains(&key), "the log holds the DSN key:\n{text}");
        let request_lines: Vec<&str> = text.lines().filter(|l| l.contains("/api/1/store")).collect();
        assert!(request_lines.len() >= 2, "request lines logged at debug:\n{text}");
        for line in &request_lines {
            if json_logs {
                let value: Value = serde_json::from_str(line).expect("a JSON log line");
                let id = value["span"]["id"].as_str().expect("request id in the span");
                assert_eq!(id.len(), 16);
            } else {
                assert!(line.contains("request{id="), "request id on {line:?}");
            }
        }
        if json_logs {
            for line in text.lines() {
                serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
            }
        }
    }
}

/// Runs a command to completion, bounded so a hung one fails its test.
fn run(command: &mut Command) -> std::process::Output {
    common::wait::output_within(command, common::wait::COMMAND_LIMIT)
}

fn errata_command(data: &std::path::Path) -> Command {
    let mut command = Command::new(binary());
    command.env("ERRATA_DATA_DIR", data).env_remove("RUST_LOG");
    command
}

crate::common::sqlite_only! {
// Prints settings and never opens a store: nothing of it depends on the backend.
#[test]
fn config_prints_the_effective_settings_with_secrets_masked() {
    let (dir, data, _) = scratch();
    let file = dir.path().join("errata.toml");
    std::fs::write(
        &file,
        "retention_days = 30\nqueue_capacity = 100\n[limits]\nmax_event_size = 4096\n",
    )
    .expect("write config");
    let output = run(errata_command(&data)
        .arg("config")
        .arg("--config")
        .arg(&file)
        .env("ERRATA_QUEUE_CAPACITY", "200")
        .env("ERRATA_METRICS_TOKEN", "topsecret-metrics"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("retention_days = 30"), "file value: {text}");
    assert!(text.contains("queue_capacity = 200"), "environment beats file: {text}");
    assert!(text.contains("max_event_size = 4096"), "nested file value: {text}");
    assert!(!text.contains("topsecret-metrics"), "secret masked: {text}");
    assert!(text.contains("metrics_token = \"********\""), "{text}");
    let parsed: toml::Table = text.parse().expect("the output is TOML");
    assert!(parsed.contains_key("bind"));

    for (name, value, expected) in [
        ("ERRATA_QUEUE_CAPACITY", "0", "queue_capacity must be at least 1"),
        ("ERRATA_RETENTION_DAYS", "ninety", "ERRATA_RETENTION_DAYS"),
        ("ERRATA_QUEUE_CAPACITI", "9", "ERRATA_QUEUE_CAPACITI"),
        ("ERRATA_PUBLIC_URL", "ftp://x", "public_url must start with http"),
    ] {
        let output = run(errata_command(&data).arg("config").env(name, value));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value} accepted");
        assert!(stderr.contains(expected), "{name}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::write(&file, "queue_capacity = \"lots\"\n").expect("write config");
    let output = run(errata_command(&data).arg("config").arg("--config").arg(&file));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("invalid config file") && stderr.contains("queue_capacity"),
        "{stderr}"
    );
}
}

crate::common::sqlite_only! {
// Copies the .sqlite file; on PostgreSQL backup is refused with a pointer to pg_dump
// (tests/retention_backends.rs).
#[test]
fn a_backup_taken_under_load_restores_to_a_server_that_serves_it() {
    let (dir, data, log) = scratch();
    let server = Errata::start(&data, &log, &[], &[]);
    let key = server.credentials.public_key.clone();
    let token = server.credentials.token.clone();
    let load = Load::start(&server.base, &key, 20, 4, 1_000, 500);
    load.wait_for_acked(200);
    // Events acknowledged before the backup starts must be in it.
    let acked_before = load.acked();
    let backup = dir.path().join("backup.sqlite3");
    let output = run(errata_command(&data).arg("backup").arg(&backup));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let outcome = load.finish();
    server.signal("TERM");
    assert!(server.wait().success());
    assert!(
        outcome.acked.len() > acked_before,
        "the load kept going during the backup"
    );
    // Refuses to overwrite.
    let again = run(errata_command(&data).arg("backup").arg(&backup));
    assert!(!again.status.success());

    // Restore as the README says: copy the file into an empty data directory.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).expect("dir");
    std::fs::copy(&backup, restored.join("errata.sqlite3")).expect("copy");
    let database = restored.join("errata.sqlite3");
    assert_eq!(integrity_check(&database), "ok");
    let in_backup = stored_event_ids(&database);
    let acked_in_backup = outcome.acked.intersection(&in_backup).count();
    eprintln!(
        "[backup] acknowledged before backup {acked_before}, in backup {} ({acked_in_backup} acknowledged), total acknowledged {}",
        in_backup.len(),
        outcome.acked.len()
    );
    assert!(in_backup.len() >= acked_before);
    assert!(in_backup.iter().all(|id| id.len() == 32));

    let server = Errata::start(&restored, &log, &[], &[]);
    let (status, issues) = server.get("/api/0/projects/errata/default/issues/?query=", &token);
    assert_eq!(status, 200, "{issues}");
    let times_seen: i64 = issues
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["count"].as_str().and_then(|c| c.parse::<i64>().ok()).expect("count"))
        .sum();
    assert_eq!(
        times_seen,
        in_backup.len() as i64,
        "the restored server counts what the backup holds"
    );
    let some_id = in_backup.iter().next().expect("an event");
    let issue_id = issues[0]["id"].as_str().expect("issue id");
    let (status, latest) = server.get(&format!("/api/0/issues/{issue_id}/events/latest/"), &token);
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["eventID"].as_str().map(str::len), Some(some_id.len()));
    server.signal("TERM");
    assert!(server.wait().success());
}
}

crate::common::sqlite_only! {
// Edits the SQLite file's schema version; the PostgreSQL twin is in tests/postgres.rs.
#[test]
fn a_database_from_a_newer_errata_is_refused_untouched() {
    let (_dir, data, log) = scratch();
    std::fs::create_dir_all(&data).expect("dir");
    let database = data.join("errata.sqlite3");
    {
        let conn = rusqlite::Connection::open(&database).expect("open");
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 999;")
            .expect("future schema");
    }
    let before = std::fs::read(&database).expect("read");
    for command in ["migrate", "serve"] {
        let output = run(errata_command(&data).arg(command).env("ERRATA_BIND", "127.0.0.1:0"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command} accepted a newer database");
        assert!(
            stderr.contains("schema version 999") && stderr.contains("newer than this Errata"),
            "{command}: {stderr}"
        );
    }
    assert!(
        std::fs::read(&database).expect("read") == before,
        "the file is untouched"
    );
    let _ = log;
}
}

crate::common::sqlite_only! {
// Builds a version-1 SQLite file; PostgreSQL's schema starts later.
#[test]
fn a_database_at_schema_version_1_is_upgraded_and_served() {
    let (_dir, data, log) = scratch();
    std::fs::create_dir_all(&data).expect("dir");
    let database = data.join("errata.sqlite3");
    let token = "sntryu_upgrade_test_token_0001";
    {
        let conn = rusqlite::Connection::open(&database).expect("open");
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").expect("pragma");
        conn.execute_batch(include_str!("../schema/0001_init.sql"))
            .expect("schema 1");
        conn.pragma_update(None, "user_version", 1).expect("version");
        let payload = zstd::encode_all(
            json!({"event_id": "0123456789abcdef0123456789abcdef", "message": "from version one", "level": "error",
                   "platform": "python", "timestamp": 1_700_000_000.0})
            .to_string()
            .as_bytes(),
            3,
        )
        .expect("compress");
        let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        conn.execute_batch(&format!(
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'errata', 'Errata', 0);
             INSERT INTO projects (id, organization_id, slug, name, date_created, next_short_id) VALUES (1, 1, 'default', 'default', 0, 2);
             INSERT INTO project_keys (project_id, public_key, secret_key, label, date_created) VALUES (1, '0123456789abcdef0123456789abcdef', 's', 'Default', 0);
             INSERT INTO api_tokens (name, token_hash, scopes, date_created) VALUES ('old', '{hash}', 'admin', 0);
             INSERT INTO issues (id, project_id, short_id, title, level, type, first_seen, last_seen, times_seen, grouping_config)
               VALUES (1, 1, 1, 'from version one', 'error', 'default', 1700000000000000, 1700000000000000, 7, 'legacy');
             INSERT INTO issue_hashes (project_id, hash, issue_id, grouping_config) VALUES (1, 'aaaa', 1, 'legacy');"
        ))
        .expect("fill");
        conn.execute(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, grouping_config, size, payload) \
             VALUES (1, 1, '0123456789abcdef0123456789abcdef', 1700000000000000, 1700000000000000, 'error', 'aaaa', 'legacy', 10, ?1)",
            [payload],
        )
        .expect("event");
    }
    let server = Errata::start(&data, &log, &[("ERRATA_RETENTION_DAYS", "0")], &[]);
    let (status, issue) = server.get("/api/0/issues/1/", token);
    assert_eq!(status, 200, "{issue}");
    assert_eq!(issue["title"], "from version one");
    assert_eq!(issue["count"], "7");
    let (status, event) = server.get("/api/0/issues/1/events/latest/", token);
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["eventID"], "0123456789abcdef0123456789abcdef");
    // New events join the old issue's project after the upgrade.
    let load = Load::start(&server.base, "0123456789abcdef0123456789abcdef", 30, 1, 3, 0).finish_when_done();
    assert_eq!(load.acked.len(), 3, "{:?}", load.statuses);
    server.signal("TERM");
    assert!(server.wait().success());
    let conn = rusqlite::Connection::open(&database).expect("open");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version as usize, errata::store::sqlite::migrate::latest_version());
}
}

#[test]
fn retention_deletes_old_and_over_cap_events_in_the_background_and_keeps_counts() {
    let server = common::spawn_server_with(|c| {
        c.retention_interval_secs = 1;
        c.retention_days = 30;
        c.max_events_per_issue = 4;
        c.retention_batch = 3;
    });
    let mut ids = Vec::new();
    for n in 0..10 {
        let mut event = common::exception_event("CapError", "over the cap", "app.cap", "capped");
        event["event_id"] = json!(format!("{n:032x}"));
        ids.push(server.send_event(&event));
    }
    let wait_until = |what: &str, check: &dyn Fn(&common::Db) -> bool| {
        let db = server.db();
        for _ in 0..200 {
            if check(&db) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("retention never got to: {what}");
    };
    let stored = |db: &common::Db| -> Vec<String> {
        db.query("SELECT event_id FROM events ORDER BY id", &[])
            .into_iter()
            .filter_map(|r| r[0].event_id())
            .collect()
    };
    wait_until("the cap of 4 per issue", &|c| stored(c).len() == 4);
    let conn = server.db();
    let kept = stored(&conn);
    assert_eq!(kept[0], ids[0], "the first event stays");
    assert_eq!(&kept[2..], &ids[8..], "the latest two stay");
    let issues = server.issues("");
    assert_eq!(issues[0]["count"], "10", "counts stay exact");

    // Age the stored events past the retention period.
    // 31 days in microseconds, written out: PostgreSQL would multiply the factors as int4.
    conn.execute("UPDATE events SET received = received - 2678400000000", &[]);
    wait_until("deleting events older than 30 days", &|c| stored(c).is_empty());
    // Ingestion still works and its events are young enough to stay.
    let mut event = common::exception_event("CapError", "over the cap", "app.cap", "capped");
    event["event_id"] = json!(format!("{:032x}", 99));
    server.send_event(&event);
    let issues = server.issues("");
    assert_eq!(issues[0]["count"], "11");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stored(&conn).len(), 1);
}
