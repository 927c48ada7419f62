//! Moving a team over: a SQLite database written by the real server (events, attachments,
//! a user report, tokens, settings) is copied into an empty PostgreSQL database, and the
//! store on PostgreSQL answers as the one on SQLite did; an interrupted copy continues
//! where it stopped; a database that is not empty is refused.

mod common;
#[path = "support/pg.rs"]
mod pg;

use std::path::Path;

use common::spawn_server;
use errata::store::copy::{CopyOptions, TABLES, sqlite_to_postgres};
use errata::store::{Location, NewToken, ProjectChange, Store, StoreError, StoreOptions};
use pg::PgCluster;
use serde_json::{Value, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn envelope(header: &Value, items: &[(Value, Vec<u8>)]) -> Vec<u8> {
    let mut out = format!("{header}\n").into_bytes();
    for (item, payload) in items {
        let mut item = item.clone();
        item["length"] = json!(payload.len());
        out.extend_from_slice(format!("{item}\n").as_bytes());
        out.extend_from_slice(payload);
        out.push(b'\n');
    }
    out
}

/// What the store says about the data: everything the copy must carry over, as text.
async fn describe(store: &Store, project_id: i64, public_key: &str, event_ids: &[String]) -> Vec<String> {
    let mut out = vec![
        format!("{:?}", store.counts().await.expect("counts")),
        format!("{:?}", store.project_by_id(project_id).await.expect("project")),
        format!("{:?}", store.key_by_public(public_key).await.expect("key")),
    ];
    let mut issue_ids = Vec::new();
    for id in event_ids {
        let id = errata::ids::EventId::parse(id).expect("an event id");
        let event = store.event(project_id, &id).await.expect("event");
        issue_ids.push(event.issue_id);
        out.push(format!("{event:?}"));
    }
    issue_ids.sort_unstable();
    issue_ids.dedup();
    for id in issue_ids {
        let issue = store.issue(id).await.expect("issue");
        out.push(format!("{issue:?}"));
        let by_short = store
            .issue_by_short_id(project_id, issue.short_id)
            .await
            .expect("by short id");
        assert_eq!(by_short.id, id);
    }
    out
}

/// Rows of every table, read with SQL on PostgreSQL.
async fn pg_counts(url: &str) -> Vec<(String, i64)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let mut out = Vec::new();
    for t in TABLES {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
            .await
            .expect("count")
            .get(0);
        out.push((t.name.to_string(), n));
    }
    out
}

fn sqlite_counts(path: &Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(path).expect("opens");
    TABLES
        .iter()
        .map(|t| {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| r.get(0))
                .expect("count");
            (t.name.to_string(), n)
        })
        .collect()
}

/// A SQLite database written by the server: three issues, ten events, an attachment, a
/// user report, the bootstrap token plus a project-bound one, a second key and scrubbing
/// settings. Returns the server's directory (holding the file), the project, its key and
/// the event ids.
fn written_by_the_server() -> (tempfile::TempDir, i64, String, Vec<String>) {
    let server = spawn_server();
    let mut ids = Vec::new();
    for n in 0..10 {
        let event = json!({
            "message": format!("boom {}", n % 3),
            "level": "error",
            "fingerprint": [format!("group-{}", n % 3)],
            "user": {"id": format!("u{}", n % 4)},
            "tags": {"shard": format!("s{}", n % 2)},
        });
        ids.push(server.send_event(&event));
    }
    let with_extras = uuid::Uuid::new_v4().simple().to_string();
    let response = server.post_envelope(envelope(
        &json!({"event_id": with_extras}),
        &[
            (
                json!({"type": "event"}),
                br#"{"message":"with a log","fingerprint":["group-0"]}"#.to_vec(),
            ),
            (
                json!({"type": "attachment", "filename": "app.log", "content_type": "text/plain"}),
                b"line one\nline two\n".to_vec(),
            ),
            (
                json!({"type": "user_report"}),
                json!({"event_id": with_extras, "name": "Ada", "email": "a@example.com", "comments": "broke"})
                    .to_string()
                    .into_bytes(),
            ),
        ],
    ));
    assert_eq!(response.status(), 200);
    ids.push(with_extras);
    let (project_id, public_key) = (server.project_id, server.public_key.clone());
    // Stopped (flushing outcome counts), its directory kept.
    let TestServerParts { dir } = stop(server);
    (dir, project_id, public_key, ids)
}

#[test]
fn a_database_written_by_the_server_reads_the_same_on_postgres_after_the_copy() {
    let (dir, project_id, public_key, ids) = written_by_the_server();
    let path = dir.path().join("errata.sqlite3");

    let rt = runtime();
    rt.block_on(async {
        // Settings, a second key and a project-bound token, written through the store.
        let sqlite = Store::open_sqlite(&path, StoreOptions::default()).expect("opens");
        sqlite
            .update_project(
                project_id,
                ProjectChange {
                    settings: Some(json!({"scrub": {"fields": ["ssn"]}})),
                    ..Default::default()
                },
            )
            .await
            .expect("settings");
        sqlite.create_key(project_id, "second").await.expect("key");
        let org = sqlite.organizations().await.expect("orgs")[0].id;
        sqlite
            .create_bound_token(NewToken {
                name: "ci".into(),
                scopes: vec!["read".into()],
                org_claims: None,
                binding: Some((org, Some(vec![project_id]))),
            })
            .await
            .expect("token");
        let before = describe(&sqlite, project_id, &public_key, &ids).await;
        let closing = sqlite.clone();
        tokio::task::spawn_blocking(move || closing.shutdown())
            .await
            .expect("closes");
        let source_counts = sqlite_counts(&path);
        for table in [
            "events",
            "event_attachments",
            "user_reports",
            "issue_tags",
            "issue_users",
            "issue_hourly",
            "issue_hashes",
            "api_token_projects",
            "outcomes",
        ] {
            let n = source_counts.iter().find(|(t, _)| t == table).expect("table").1;
            assert!(n > 0, "the source must have rows in {table} for the copy to be tested");
        }

        let url = PgCluster::shared().fresh_database().await;
        let mut progress = Vec::new();
        let report = sqlite_to_postgres(
            &path,
            &url,
            CopyOptions {
                batch_rows: 4,
                ..Default::default()
            },
            |p| progress.push((p.table, p.copied, p.total)),
        )
        .await
        .expect("copies");
        assert!(report.complete && !report.resumed);
        assert_eq!(report.counts.len(), TABLES.len());
        assert!(
            report.counts.iter().all(|c| c.sqlite == c.postgres),
            "{:?}",
            report.counts
        );
        assert!(
            progress
                .iter()
                .any(|(t, copied, total)| *t == "events" && copied < total),
            "progress in batches"
        );
        assert!(progress.contains(&("events", 11, 11)));
        assert_eq!(pg_counts(&url).await, source_counts);

        let postgres = Store::connect(&Location::Postgres(url.clone()), StoreOptions::default())
            .await
            .expect("opens on PostgreSQL");
        let after = describe(&postgres, project_id, &public_key, &ids).await;
        assert_eq!(before, after, "the store answers the same on both backends");

        // New rows take new ids and short ids: the sequences moved past the copied ones.
        let issues_before = postgres.counts().await.expect("counts").issues;
        let mut record = postgres_record(project_id, "group-new");
        record.event_id = errata::ids::EventId::new_random();
        let stored = postgres.store_event(record, None).await.expect("stores a new event");
        let issue = postgres.issue(stored.issue_id).await.expect("new issue");
        assert_eq!(postgres.counts().await.expect("counts").issues, issues_before + 1);
        assert_eq!(
            issue.short_id,
            issues_before + 1,
            "the project's issue numbers continue"
        );
        let closing = postgres.clone();
        tokio::task::spawn_blocking(move || closing.shutdown())
            .await
            .expect("closes");

        // The copy is done: running it again is refused (the target is not empty).
        match sqlite_to_postgres(&path, &url, CopyOptions::default(), |_| {}).await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("not empty"), "{m}"),
            other => panic!("a second copy into the same database must be refused: {other:?}"),
        }
    });
    drop(dir);
}

struct TestServerParts {
    dir: tempfile::TempDir,
}

/// Stops the server and keeps its directory.
fn stop(mut server: common::TestServer) -> TestServerParts {
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().expect("temp dir"));
    drop(server);
    TestServerParts { dir }
}

fn postgres_record(project_id: i64, hash: &str) -> errata::store::EventRecord {
    let json = json!({"message": "after the move"}).to_string();
    let now = errata::store::now_us();
    errata::store::EventRecord {
        project_id,
        event_id: errata::ids::EventId::new_random(),
        hashes: vec![hash.into()],
        grouping_config: "test",
        title: "after the move".into(),
        culprit: None,
        location: None,
        metadata: "{}".into(),
        kind: "error",
        platform: "python".into(),
        timestamp: now,
        received: now,
        level: "error".into(),
        release: None,
        environment: None,
        trace_id: None,
        user_key: None,
        tags: vec![],
        payload: zstd::bulk::compress(json.as_bytes(), 1).expect("compresses"),
        size: json.len(),
    }
}

#[test]
fn an_interrupted_copy_continues_where_it_stopped() {
    let (dir, _, _, _) = written_by_the_server();
    let path = dir.path().join("errata.sqlite3");
    let source_counts = sqlite_counts(&path);
    let rt = runtime();
    rt.block_on(async {
        let url = PgCluster::shared().fresh_database().await;
        let small = |max| CopyOptions {
            batch_rows: 3,
            max_batches: max,
            ..Default::default()
        };
        let first = sqlite_to_postgres(&path, &url, small(Some(4)), |_| {})
            .await
            .expect("copies part");
        assert!(!first.complete && !first.resumed);
        assert!(first.rows_written > 0);
        let partial = pg_counts(&url).await;
        assert_ne!(partial, source_counts, "stopped part-way");
        let second = sqlite_to_postgres(&path, &url, small(Some(5)), |_| {})
            .await
            .expect("copies more");
        assert!(!second.complete && second.resumed);
        let last = sqlite_to_postgres(&path, &url, small(None), |_| {})
            .await
            .expect("finishes");
        assert!(last.complete && last.resumed);
        let total: i64 = source_counts.iter().map(|(_, n)| n).sum();
        assert_eq!(
            first.rows_written + second.rows_written + last.rows_written,
            total,
            "no row is written twice"
        );
        assert_eq!(pg_counts(&url).await, source_counts);
    });
}

#[test]
fn the_command_line_copies_and_prints_each_tables_counts() {
    let (dir, _, _, _) = written_by_the_server();
    let path = dir.path().join("errata.sqlite3");
    let rt = runtime();
    let url = rt.block_on(PgCluster::shared().fresh_database());
    let name = url.rsplit("dbname=").next().expect("a database name");
    let pg_url = PgCluster::shared().postgres_url(name);
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_errata"))
            .args(["copy-to-postgres", "--batch-size", "5", "--from"])
            .arg(&path)
            .args(["--to", &pg_url])
            .env_remove("ERRATA_CONFIG")
            .env_remove("ERRATA_DATABASE_URL")
            .output()
            .expect("runs errata")
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let events = sqlite_counts(&path)
        .into_iter()
        .find(|(t, _)| t == "events")
        .expect("events")
        .1;
    assert!(
        stderr
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["events", &events.to_string(), &events.to_string()]),
        "{stderr}"
    );
    assert!(stderr.contains("counts match"), "{stderr}");
    let again = run();
    assert!(
        !again.status.success(),
        "a second copy into the same database is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
