//! What a DSN holder can make Errata keep: every item category is rate limited per key,
//! outcome rows stay bounded, user reports and text attachments are scrubbed before they
//! touch the disk, and retention and the size cap reach every table. The attack inputs
//! (sizes, counts, categories, reasons, secrets) are generated, then sent to a real server.

mod common;

use std::time::Duration;

use common::{TestServer, spawn_server, spawn_server_with};
use serde_json::{Value, json};

/// A small deterministic generator, so a failure can be replayed from its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn hex_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }

    fn word(&mut self, len: usize) -> String {
        (0..len).map(|_| (b'a' + self.below(26) as u8) as char).collect()
    }
}

/// An envelope of `(item header, payload)` items; each header gets the payload's length.
fn envelope(header: &Value, items: &[(Value, Vec<u8>)]) -> Vec<u8> {
    let mut out = format!("{header}\n").into_bytes();
    for (item_header, payload) in items {
        let mut h = item_header.clone();
        h["length"] = json!(payload.len());
        out.extend_from_slice(format!("{h}\n").as_bytes());
        out.extend_from_slice(payload);
        out.push(b'\n');
    }
    out
}

fn key_path(server: &TestServer) -> String {
    format!("/api/0/projects/errata/default/keys/{}/", server.public_key)
}

fn db(server: &TestServer) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(server.database_path()).expect("open database");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    conn
}

fn count(server: &TestServer, sql: &str) -> i64 {
    db(server).query_row(sql, [], |r| r.get(0)).expect("count")
}

/// Waits (bounded) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..150 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("never happened: {what}");
}

/// The categories named in a 429's `X-Sentry-Rate-Limits`, after checking its shape.
fn limited_categories(response: &reqwest::blocking::Response) -> Vec<String> {
    let h = response.headers();
    let retry_after: u64 = h["retry-after"].to_str().expect("ascii").parse().expect("integer");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let value = h["x-sentry-rate-limits"].to_str().expect("ascii");
    let mut categories = Vec::new();
    for limit in value.split(", ") {
        let parts: Vec<&str> = limit.split(':').collect();
        assert_eq!(parts.len(), 4, "{value}");
        assert!(parts[0].parse::<u64>().expect("seconds") <= 300, "{value}");
        assert_eq!(parts[2], "key", "{value}");
        categories.extend(parts[1].split(';').map(String::from));
    }
    categories
}

#[test]
fn a_key_limited_to_one_an_hour_refuses_every_category_beyond_its_quota() {
    let server = spawn_server();
    let (status, body) = server.put_json(&key_path(&server), &json!({"rateLimit": {"count": 1, "window": 3600}}));
    assert_eq!(status, 200, "{body}");
    let mut generate = Gen(0x5eed_0001);

    // The one event of the hour, with a report on it: both kept.
    let event_id = generate.hex_id();
    let first = server.post_envelope(envelope(
        &json!({"event_id": event_id}),
        &[
            (json!({"type": "event"}), br#"{"message":"the only one"}"#.to_vec()),
            (
                json!({"type": "user_report"}),
                json!({"event_id": event_id, "name": "Ada", "email": "a@example.com", "comments": "broke"})
                    .to_string()
                    .into_bytes(),
            ),
        ],
    ));
    assert_eq!(first.status(), 200);
    let second = server.post_envelope(envelope(
        &json!({}),
        &[(json!({"type": "event"}), br#"{"message":"one too many"}"#.to_vec())],
    ));
    assert_eq!(second.status(), 429);
    assert_eq!(limited_categories(&second), ["error", "default", "security"]);

    // Attachments for the stored event, of generated sizes, 60 MB offered in all: at most
    // ten items and 1 MiB per hour are kept, the rest is refused with `attachment`.
    let mut offered = 0usize;
    let mut refused = 0;
    while offered < 60 << 20 {
        let size = 64 * 1024 + generate.below(8 << 20) as usize;
        offered += size;
        let response = server.post_envelope(envelope(
            &json!({"event_id": event_id}),
            &[(
                json!({"type": "attachment", "filename": "dump.log", "content_type": "text/plain"}),
                vec![b'x'; size],
            )],
        ));
        if response.status() == 429 {
            assert_eq!(limited_categories(&response), ["attachment"]);
            refused += 1;
        } else {
            assert_eq!(response.status(), 200);
        }
    }
    assert!(refused > 0, "60 MB of attachments were all accepted");
    let (stored_count, stored_bytes): (i64, i64) = db(&server)
        .query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM event_attachments",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("attachments");
    assert!(stored_count <= 10, "{stored_count} attachments stored");
    assert!(stored_bytes <= 1 << 20, "{stored_bytes} attachment bytes stored");

    // 600 user reports under generated event ids: refused, none stored.
    for _ in 0..600 {
        let report = json!({"event_id": generate.hex_id(), "name": generate.word(8), "comments": generate.word(40)});
        let response = server.post_envelope(envelope(
            &json!({}),
            &[(json!({"type": "user_report"}), report.to_string().into_bytes())],
        ));
        assert_eq!(response.status(), 429);
        assert_eq!(limited_categories(&response), ["user_report_v2"]);
    }
    assert_eq!(
        count(&server, "SELECT count(*) FROM user_reports"),
        1,
        "only the report on the stored event"
    );

    // Client reports with 2,000 generated reasons and categories: ten envelopes an hour,
    // and whatever gets through opens only rows of the fixed reason set.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let discards: Vec<Value> = (0..50)
            .map(|_| {
                json!({"reason": generate.word(12), "category": generate.word(6), "quantity": generate.below(1000)})
            })
            .collect();
        let report = json!({"timestamp": 1, "discarded_events": discards});
        let response = server.post_envelope(envelope(
            &json!({}),
            &[(json!({"type": "client_report"}), report.to_string().into_bytes())],
        ));
        if response.status() == 429 {
            assert_eq!(limited_categories(&response), ["internal"]);
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30, "{statuses:?}");

    // Sessions and other acknowledged items have their buckets too.
    let sessions: Vec<(Value, Vec<u8>)> = (0..11)
        .map(|_| (json!({"type": "session"}), br#"{"sid":"x","status":"ok"}"#.to_vec()))
        .collect();
    let response = server.post_envelope(envelope(&json!({}), &sessions));
    assert_eq!(response.status(), 429);
    assert_eq!(limited_categories(&response), ["session"]);

    let outcomes = || {
        let conn = db(&server);
        let mut s = conn
            .prepare("SELECT category, outcome, reason FROM outcomes")
            .expect("query");
        s.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })
        .expect("rows")
        .collect::<Result<Vec<_>, _>>()
        .expect("outcomes")
    };
    eventually("client discards and refusals written", || {
        outcomes().iter().any(|(_, o, _)| o == "client_discard")
            && outcomes()
                .iter()
                .any(|(c, o, _)| c == "internal" && o == "rate_limited")
    });
    let rows = outcomes();
    assert!(rows.len() < 40, "outcome rows stay bounded: {rows:?}");
    for (category, outcome, reason) in &rows {
        if outcome == "client_discard" {
            assert_eq!((category.as_str(), reason.as_str()), ("unknown", "other"));
        }
    }
}

const PASSWORD: &str = "hunter2-Sw0rdfish";
const CARD: &str = "4111 1111 1111 1111";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// Free text that carries the three secrets among generated words.
fn leaky_text(generate: &mut Gen) -> String {
    let mut lines = Vec::new();
    for n in 0..(3 + generate.below(20)) {
        lines.push(match (n + generate.below(3)) % 4 {
            0 => format!("{} password={PASSWORD} {}", generate.word(5), generate.word(7)),
            1 => format!("charged card {CARD} for {}", generate.word(6)),
            2 => format!("aws_access_key_id {AWS_KEY}"),
            _ => generate.word(30),
        });
    }
    lines.push(format!("db_password: {PASSWORD}"));
    lines.push(format!("card {CARD} key {AWS_KEY}"));
    lines.join("\n")
}

/// Every byte Errata wrote: the database file and its write-ahead log.
fn disk_bytes(server: &TestServer) -> Vec<u8> {
    let mut bytes = std::fs::read(server.database_path()).expect("database file");
    let wal = server.database_path().with_extension("sqlite3-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_in_user_reports_and_text_attachments_reach_neither_disk_nor_api() {
    let server = spawn_server();
    let mut generate = Gen(0x5eed_0002);
    let content_types = [
        Some("text/plain"),
        Some("application/octet-stream"),
        Some("application/json"),
        None,
    ];
    let mut events = Vec::new();
    for round in 0..12 {
        let event_id = generate.hex_id();
        let mut attachment = json!({"type": "attachment", "filename": format!("app{round}.log")});
        if let Some(ct) = content_types[round % content_types.len()] {
            attachment["content_type"] = json!(ct);
        }
        let report = json!({
            "event_id": event_id,
            "name": format!("{} password={PASSWORD}", generate.word(6)),
            "email": format!("{}@example.com", generate.word(6)),
            "comments": leaky_text(&mut generate),
        });
        let event = json!({"message": "checkout failed", "extra": {"password": PASSWORD, "card": CARD}});
        let body = envelope(
            &json!({"event_id": event_id}),
            &[
                (json!({"type": "event"}), event.to_string().into_bytes()),
                (attachment, leaky_text(&mut generate).into_bytes()),
                (json!({"type": "user_report"}), report.to_string().into_bytes()),
            ],
        );
        assert_eq!(server.post_envelope(body).status(), 200);
        events.push(event_id);
    }

    let base = "/api/0/projects/errata/default/events";
    for event_id in &events {
        let event = server.get_ok(&format!("{base}/{event_id}/"));
        let report = event["userReport"].to_string();
        assert!(report.contains("[Filtered]"), "{report}");
        let list = server.get_ok(&format!("{base}/{event_id}/attachments/"));
        let list = list.as_array().expect("list");
        assert_eq!(list.len(), 1, "a text attachment is kept, scrubbed");
        let id = list[0]["id"].as_str().expect("id");
        let download = server
            .api(
                reqwest::Method::GET,
                &format!("{base}/{event_id}/attachments/{id}/?download=1"),
            )
            .send()
            .expect("download")
            .text()
            .expect("text");
        for (what, text) in [
            ("user report", &report),
            ("attachment", &download),
            ("event", &event.to_string()),
        ] {
            for secret in [PASSWORD, CARD, AWS_KEY] {
                assert!(!text.contains(secret), "{secret} in the {what}: {text}");
            }
        }
        assert!(download.contains("password=[Filtered]"), "{download}");
    }
    let disk = disk_bytes(&server);
    for secret in [PASSWORD, CARD, AWS_KEY] {
        assert!(!contains(&disk, secret), "{secret} is on disk");
    }

    // Binary attachments cannot be scrubbed: dropped unless the project keeps them.
    let binary = |generate: &mut Gen| -> Vec<u8> {
        let mut bytes = vec![0xff, 0xfe, 0x00];
        bytes.extend((0..generate.below(4096)).map(|_| generate.next() as u8));
        bytes
    };
    let event_id = events[0].clone();
    let send_binary = |bytes: Vec<u8>| {
        server.post_envelope(envelope(
            &json!({"event_id": event_id}),
            &[(
                json!({"type": "attachment", "filename": "core.dmp", "attachment_type": "event.minidump"}),
                bytes,
            )],
        ))
    };
    assert_eq!(send_binary(binary(&mut generate)).status(), 200);
    let listed = |server: &TestServer| {
        server
            .get_ok(&format!("{base}/{event_id}/attachments/"))
            .as_array()
            .expect("list")
            .len()
    };
    assert_eq!(listed(&server), 1, "the binary attachment is dropped by default");
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"scrubbing": {"store_binary_attachments": true}}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["options"]["scrubbing"]["store_binary_attachments"],
        json!(true),
        "{body}"
    );
    eventually("a binary attachment kept once the project enables it", || {
        assert_eq!(send_binary(binary(&mut generate)).status(), 200);
        listed(&server) >= 2
    });
    eventually("the dropped binary attachment counted", || {
        let outcomes = server.get_ok("/api/0/projects/errata/default/outcomes/");
        outcomes["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["category"] == "attachment" && r["outcome"] == "filtered" && r["reason"] == "binary_attachment")
    });
}

#[test]
fn retention_reaches_every_table() {
    let server = spawn_server_with(|c| {
        c.retention_interval_secs = 1;
        c.retention_days = 30;
    });
    let mut generate = Gen(0x5eed_0003);
    let mut ids = Vec::new();
    for n in 0..5 {
        let event_id = generate.hex_id();
        let event = json!({"message": format!("old {n}"), "tags": {"k": generate.word(5)}, "user": {"id": n}});
        let body = envelope(
            &json!({"event_id": event_id}),
            &[
                (json!({"type": "event"}), event.to_string().into_bytes()),
                (
                    json!({"type": "attachment", "filename": "a.txt"}),
                    generate.word(100).into_bytes(),
                ),
                (
                    json!({"type": "user_report"}),
                    json!({"event_id": event_id, "comments": "c"}).to_string().into_bytes(),
                ),
            ],
        );
        assert_eq!(server.post_envelope(body).status(), 200);
        ids.push(event_id);
    }
    let tables = [
        "events",
        "event_attachments",
        "user_reports",
        "issues",
        "issue_tags",
        "issue_hourly",
        "outcomes",
    ];
    eventually("outcomes flushed", || {
        count(&server, "SELECT count(*) FROM outcomes") > 0
    });
    for table in tables {
        assert!(
            count(&server, &format!("SELECT count(*) FROM {table}")) > 0,
            "{table} is empty before aging"
        );
    }
    // Everything 40 days old, as if written then.
    let age = 40 * 86_400 * 1_000_000i64;
    db(&server)
        .execute_batch(&format!(
            "UPDATE events SET received = received - {age}, timestamp = timestamp - {age};
             UPDATE user_reports SET date_created = date_created - {age};
             UPDATE event_attachments SET date_created = date_created - {age};
             UPDATE issues SET first_seen = first_seen - {age}, last_seen = last_seen - {age};
             UPDATE issue_tags SET first_seen = first_seen - {age}, last_seen = last_seen - {age};
             UPDATE issue_hourly SET hour = hour - 40 * 24;
             UPDATE outcomes SET day = '2001-01-01';"
        ))
        .expect("age everything");
    for table in tables {
        eventually(&format!("retention empties {table}"), || {
            count(&server, &format!("SELECT count(*) FROM {table}")) == 0
        });
    }
    // A fresh event stays.
    let fresh = server.send_event(&json!({"message": "new"}));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 1, "{fresh} stays");
}

#[test]
fn the_size_cap_empties_every_table_and_keeps_running_when_nothing_is_left() {
    let server = spawn_server_with(|c| {
        c.retention_interval_secs = 1;
        c.retention_days = 0;
        c.max_database_mb = 1;
    });
    let mut generate = Gen(0x5eed_0004);
    for n in 0..3 {
        server.send_event(&json!({"message": format!("m{n}"), "tags": {"t": generate.word(6)}}));
    }
    // Ballast the cap may not delete keeps the database over the cap for good, and the
    // outcome rows alone are over it too, with no events to delete once those are gone.
    let conn = db(&server);
    conn.execute_batch("CREATE TABLE ballast (data BLOB); INSERT INTO ballast VALUES (zeroblob(2 * 1024 * 1024));")
        .expect("ballast");
    let fill = |conn: &rusqlite::Connection, generate: &mut Gen| {
        let tx = conn.unchecked_transaction().expect("tx");
        for _ in 0..3000 {
            tx.execute(
                "INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) VALUES (1, ?1, 'error', 'accepted', ?2, 1)",
                rusqlite::params![format!("2026-01-{:02}", 1 + generate.below(28)), generate.word(200)],
            )
            .expect("outcome");
        }
        tx.commit().expect("commit");
    };
    fill(&conn, &mut generate);
    for table in ["events", "outcomes", "issue_tags", "issues"] {
        eventually(&format!("the size cap empties {table}"), || {
            count(&server, &format!("SELECT count(*) FROM {table}")) == 0
        });
    }
    // Still over the cap with nothing left to delete: later passes still run and delete
    // what arrives, so no pass is stuck deleting nothing.
    fill(&conn, &mut generate);
    eventually("a later pass deletes new rows", || {
        count(&server, "SELECT count(*) FROM outcomes") == 0
    });
    server.send_event(&json!({"message": "still ingesting"}));
}
