//! The ingest edge against a real server: the conformance checklist of the ingest
//! protocol, and replays of real SDK requests.

mod common;

use std::io::Write;

use common::*;
use serde_json::{Value, json};

const WIRE_KEY: &str = "0123456789abcdef0123456789abcdef";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 4, 22);
    w.write_all(data).unwrap();
    drop(w);
    out
}

fn event_count(server: &TestServer) -> i64 {
    let conn = rusqlite::Connection::open(server.database_path()).unwrap();
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap()
}

#[test]
fn wire_captures_from_real_sdks_are_all_accepted_and_grouped() {
    let server = spawn_server();
    add_project_with_key(&server, 42, "wire", WIRE_KEY);
    for (client, events) in [
        ("python", 12),
        ("python-gzip", 12),
        ("node", 7),
        ("browser", 4),
        ("rust", 6),
        ("sentry-cli", 2),
    ] {
        let dir = fixtures().join("wire").join(client);
        let mut stems: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".headers.json")
                    .map(String::from)
            })
            .collect();
        stems.sort();
        let before = event_count(&server);
        for stem in &stems {
            if let Some((status, body)) = replay(&server, &dir, stem) {
                // The CORS preflight is answered 200 too.
                assert_eq!(status, 200, "{client}/{stem} rejected: {body}");
            }
        }
        assert_eq!(event_count(&server) - before, events, "events stored from {client}");
    }
    // python and python-gzip carry the same events with different ids: grouping puts them together.
    let issues = server.get_ok("/api/0/projects/errata/wire/issues/?query=&limit=100");
    let count_of = |title_prefix: &str| -> Vec<String> {
        issues
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["title"].as_str().unwrap().starts_with(title_prefix))
            .map(|i| i["count"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(count_of("ZeroDivisionError"), vec!["10"], "5 + 5 raises from one place");
    assert_eq!(
        count_of("KeyError"),
        vec!["6"],
        "3 + 3 KeyErrors with different keys from one place"
    );
    assert_eq!(count_of("Payment "), vec!["6"], "log messages of one template group");
}

#[test]
fn all_auth_styles_are_accepted() {
    let server = spawn_server();
    let body = envelope_for(&json!({"message": "auth"}));
    let url = server.envelope_url();
    let key = &server.public_key;
    let with_header = server
        .client
        .post(&url)
        .header("X-Sentry-Auth", server.auth_header())
        .body(body.clone());
    let with_authorization = server
        .client
        .post(&url)
        .header("Authorization", format!("sentry sentry_key={key},sentry_version=7"))
        .body(body.clone());
    let with_query = server
        .client
        .post(format!("{url}?sentry_key={key}&sentry_version=7"))
        .body(body.clone());
    let basic = base64_encode(&format!("{key}:"));
    let with_basic = server
        .client
        .post(&url)
        .header("Authorization", format!("Basic {basic}"))
        .body(body.clone());
    for request in [with_header, with_authorization, with_query, with_basic] {
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200);
    }
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn missing_auth_is_401_with_relay_wording() {
    let server = spawn_server();
    let response = server
        .client
        .post(server.envelope_url())
        .body(envelope_for(&json!({})))
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"detail": "missing authorization information"})
    );
}

#[test]
fn unknown_key_and_foreign_project_are_403() {
    let server = spawn_server();
    let response = server
        .client
        .post(server.envelope_url())
        .header(
            "X-Sentry-Auth",
            "Sentry sentry_key=ffffffffffffffffffffffffffffffff, sentry_version=7",
        )
        .body(envelope_for(&json!({})))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    add_project_with_key(&server, 7, "seven", WIRE_KEY);
    let response = server
        .client
        .post(server.envelope_url())
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={WIRE_KEY}, sentry_version=7"),
        )
        .body(envelope_for(&json!({})))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().unwrap();
    assert_eq!(body["detail"], "event submission rejected with_reason: ProjectId");
}

#[test]
fn protocol_version_8_is_rejected_and_7_0_accepted() {
    let server = spawn_server();
    let send = |version: &str| {
        server
            .client
            .post(server.envelope_url())
            .header(
                "X-Sentry-Auth",
                format!("Sentry sentry_key={}, sentry_version={version}", server.public_key),
            )
            .body(envelope_for(&json!({"message": "v"})))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(send("8"), 400);
    assert_eq!(send("7.0"), 200);
}

#[test]
fn tunnelled_envelope_authenticates_by_its_dsn() {
    let server = spawn_server();
    let envelope = format!(
        "{{\"event_id\":\"0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e\",\"dsn\":\"{}\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"tunnel\"}}",
        server.dsn()
    );
    for url in [server.envelope_url(), format!("{}/api/tunnel/", server.base)] {
        let response = server.client.post(url).body(envelope.clone()).send().unwrap();
        assert_eq!(response.status(), 200);
    }
    // A request key that disagrees with the envelope's DSN is a mismatch.
    let response = server
        .client
        .post(server.envelope_url())
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={WIRE_KEY}, sentry_version=7"),
        )
        .body(envelope)
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[test]
fn every_content_encoding_stores_the_same_event() {
    let server = spawn_server();
    let plain = |id: &str| envelope_for(&json!({"event_id": id, "message": "encoded", "level": "warning"}));
    let cases: Vec<(&str, Box<dyn Fn(&[u8]) -> Vec<u8>>)> = vec![
        ("gzip", Box::new(gzip)),
        ("x-gzip", Box::new(gzip)),
        ("deflate", Box::new(zlib)),
        ("br", Box::new(brotli)),
        ("zstd", Box::new(|d: &[u8]| zstd::encode_all(d, 3).unwrap())),
        ("", Box::new(|d: &[u8]| d.to_vec())),
        ("UTF-8", Box::new(|d: &[u8]| d.to_vec())),
        ("identity", Box::new(|d: &[u8]| d.to_vec())),
    ];
    for (i, (encoding, encode)) in cases.iter().enumerate() {
        let id = format!("{:032x}", i + 1);
        let response = server
            .client
            .post(server.envelope_url())
            .header("X-Sentry-Auth", server.auth_header())
            .header("Content-Encoding", *encoding)
            .body(encode(&plain(&id)))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "encoding {encoding:?}");
        assert_eq!(response.json::<Value>().unwrap()["id"], id);
    }
    let issues = server.issues("");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["count"], "8");
    assert_eq!(issues[0]["level"], "warning");
}

#[test]
fn unknown_encoding_is_415_and_corrupt_gzip_400() {
    let server = spawn_server();
    let send = |encoding: &str, body: Vec<u8>| {
        server
            .client
            .post(server.envelope_url())
            .header("X-Sentry-Auth", server.auth_header())
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
            .unwrap()
    };
    let response = send("compress", b"x".to_vec());
    assert_eq!(response.status(), 415);
    assert!(
        response.json::<Value>().unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("compress")
    );
    assert_eq!(send("gzip", b"not gzip at all".to_vec()).status(), 400);
}

#[test]
fn gzip_bomb_is_413_without_decoding_it_all() {
    let server = spawn_server_with(|c| c.limits.max_envelope_size = 1024 * 1024);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let response = server
        .client
        .post(server.envelope_url())
        .header("X-Sentry-Auth", server.auth_header())
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.json::<Value>().unwrap()["detail"].is_string());
}

#[test]
fn envelope_ignores_content_type_and_accepts_chunked_bodies() {
    let server = spawn_server();
    for content_type in [
        Some("application/x-sentry-envelope"),
        Some("text/plain;charset=UTF-8"),
        None,
    ] {
        let mut request = server
            .client
            .post(server.envelope_url())
            .header("X-Sentry-Auth", server.auth_header());
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let response = request.body(envelope_for(&json!({"message": "ct"}))).send().unwrap();
        assert_eq!(response.status(), 200, "{content_type:?}");
    }
    // A streamed body has no Content-Length: hyper sends it chunked.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{}\n{\"type\":\"event\"}\n".to_vec()),
        Ok(b"{\"message\":\"chunked\"}".to_vec()),
    ];
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(
        chunks.into_iter().flat_map(|c| c.unwrap()).collect::<Vec<u8>>(),
    ));
    let response = server
        .client
        .post(server.envelope_url())
        .header("X-Sentry-Auth", server.auth_header())
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn spec_examples_a_b_c() {
    let server = spawn_server();
    let a = "{\"event_id\":\"7a1c2d6f0b9e4e21a3f4b5c6d7e8f901\",\"sent_at\":\"2025-03-04T10:15:31.000000Z\",\"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.20.0\"}}\n{\"type\":\"event\",\"length\":517,\"content_type\":\"application/json\"}\n{\"event_id\":\"7a1c2d6f0b9e4e21a3f4b5c6d7e8f901\",\"timestamp\":\"2025-03-04T10:15:30.123456Z\",\"platform\":\"python\",\"level\":\"error\",\"release\":\"shop@1.4.0\",\"environment\":\"production\",\"exception\":{\"values\":[{\"type\":\"ZeroDivisionError\",\"value\":\"division by zero\",\"module\":\"builtins\",\"mechanism\":{\"type\":\"generic\",\"handled\":true},\"stacktrace\":{\"frames\":[{\"filename\":\"app/views.py\",\"abs_path\":\"/srv/app/views.py\",\"module\":\"app.views\",\"function\":\"checkout\",\"lineno\":41,\"context_line\":\"    total = price / qty\",\"in_app\":true}]}}]}}\n{\"type\":\"attachment\",\"length\":18,\"filename\":\"app.log\",\"content_type\":\"text/plain\"}\nline one\r\nline two\n";
    let response = server.post_envelope(a);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().unwrap()["id"],
        "7a1c2d6f0b9e4e21a3f4b5c6d7e8f901"
    );
    let b = "{\"event_id\":\"0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e\",\"sent_at\":\"2025-03-04T10:16:00.250Z\",\"sdk\":{\"name\":\"sentry.javascript.browser\",\"version\":\"9.5.0\"}}\n{\"type\":\"event\"}\n{\"event_id\":\"0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e\",\"timestamp\":1741083359.87,\"platform\":\"javascript\",\"exception\":{\"values\":[{\"type\":\"TypeError\",\"value\":\"cart is undefined\",\"stacktrace\":{\"frames\":[{\"filename\":\"https://shop.example/app.js\",\"function\":\"onPay\",\"lineno\":12,\"colno\":7,\"in_app\":true}]},\"mechanism\":{\"type\":\"onerror\",\"handled\":false}}]},\"breadcrumbs\":{\"values\":[{\"timestamp\":1741083350.1,\"category\":\"ui.click\",\"message\":\"button#pay\"}]}}";
    let response = server.post_envelope(b);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().unwrap()["id"],
        "0c5d9e2b41f04a8c9d3e7f6a5b4c3d2e"
    );
    let c = "{\"sent_at\":\"2025-03-04T10:17:00Z\"}\n{\"type\":\"session\"}\n{\"sid\":\"5f0e3c1a9b8d4e7f8a6b5c4d3e2f1a0b\",\"init\":true,\"started\":\"2025-03-04T10:10:00Z\",\"status\":\"exited\",\"errors\":1,\"attrs\":{\"release\":\"shop@1.4.0\"}}\n{\"type\":\"client_report\"}\n{\"timestamp\":1741083420.0,\"discarded_events\":[{\"reason\":\"ratelimit_backoff\",\"category\":\"error\",\"quantity\":3}]}";
    let response = server.post_envelope(c);
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().unwrap(), json!({}));
    assert_eq!(event_count(&server), 2);
    let event = server.get_ok("/api/0/projects/errata/default/events/7a1c2d6f0b9e4e21a3f4b5c6d7e8f901/");
    assert_eq!(event["dateCreated"], "2025-03-04T10:15:30.123456Z");
    assert_eq!(event["release"]["version"], "shop@1.4.0");
}

#[test]
fn header_only_and_empty_attachment_envelopes_are_ok() {
    let server = spawn_server();
    for body in [
        "{}".to_string(),
        "{}\n".to_string(),
        "{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\",\"length\":0}\n\n".to_string(),
        "{}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}\n\n\n".to_string(),
    ] {
        let response = server.post_envelope(body.clone());
        assert_eq!(response.status(), 200, "{body:?}");
    }
}

#[test]
fn framing_errors_are_400_with_detail() {
    let server = spawn_server();
    for body in [
        "{}\n{\"type\":\"event\",\"length\":500}\n{}",
        "{}\n{\"type\":\"attachment\",\"length\":2}\nabX",
        "not json\n",
    ] {
        let response = server.post_envelope(body);
        assert_eq!(response.status(), 400, "{body:?}");
        let detail: Value = response.json().unwrap();
        assert!(detail["detail"].as_str().is_some_and(|d| !d.is_empty()), "{detail}");
    }
    let response = server.post_envelope("");
    assert_eq!(response.status(), 400);
}

#[test]
fn unknown_and_ack_only_item_types_are_accepted() {
    let server = spawn_server();
    let with_unknown = "{\"event_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n{\"type\":\"brand_new_thing\"}\n{\"x\":1}\n{\"type\":\"event\"}\n{\"message\":\"beside unknown\"}\n";
    assert_eq!(server.post_envelope(with_unknown).status(), 200);
    assert_eq!(event_count(&server), 1);
    for ty in [
        "transaction",
        "session",
        "sessions",
        "client_report",
        "attachment",
        "user_report",
        "check_in",
        "profile",
        "profile_chunk",
        "replay_event",
        "replay_recording",
        "replay_video",
        "log",
        "span",
        "trace_metric",
        "statsd",
        "metric_buckets",
        "otel_log",
        "security",
        "nel",
    ] {
        let body = format!("{{}}\n{{\"type\":\"{ty}\"}}\n{{}}\n");
        let response = server.post_envelope(body);
        assert_eq!(response.status(), 200, "{ty}");
    }
}

#[test]
fn event_ids_from_header_win_and_are_canonical() {
    let server = spawn_server();
    // No header id: a fresh one is generated and returned.
    let response = server.post_envelope("{}\n{\"type\":\"event\"}\n{\"message\":\"no id\"}");
    let id = response.json::<Value>().unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // Header id wins over the payload's.
    let response = server.post_envelope(
        "{\"event_id\":\"9F6C2E4B-8A1D-4C3B-9E2F-1A0B9C8D7E6F\"}\n{\"type\":\"event\"}\n{\"event_id\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"message\":\"x\"}",
    );
    assert_eq!(
        response.json::<Value>().unwrap()["id"],
        "9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6f"
    );
    server.get_ok("/api/0/projects/errata/default/events/9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6f/");
}

#[test]
fn resent_event_is_not_counted_twice() {
    let server = spawn_server();
    let event = json!({"event_id": "cccccccccccccccccccccccccccccccc", "message": "twice"});
    assert_eq!(server.send_event(&event), "cccccccccccccccccccccccccccccccc");
    assert_eq!(server.send_event(&event), "cccccccccccccccccccccccccccccccc");
    let issues = server.issues("");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["count"], "1");
    assert_eq!(event_count(&server), 1);
}

#[test]
fn store_endpoint_accepts_json_base64_zlib_envelopes_and_nan() {
    let server = spawn_server();
    let url = format!("{}/api/{}/store/", server.base, server.project_id);
    let event = json!({"event_id": "dddddddddddddddddddddddddddddddd", "message": "legacy store"});
    let response = server.post_store(&event);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().unwrap()["id"],
        "dddddddddddddddddddddddddddddddd"
    );
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(zlib(
        json!({"event_id": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "message": "old raven"})
            .to_string()
            .as_bytes(),
    ));
    let response = server
        .client
        .post(&url)
        .header("X-Sentry-Auth", server.auth_header())
        .body(encoded)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = server
        .client
        .post(&url)
        .header("X-Sentry-Auth", server.auth_header())
        .header("Content-Type", "application/x-sentry-envelope")
        .body(envelope_for(&json!({"message": "envelope on store"})))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = server
        .client
        .post(&url)
        .header("X-Sentry-Auth", server.auth_header())
        .body("{\"message\":\"nan\",\"extra\":{\"x\":NaN,\"y\":-Infinity}}")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(event_count(&server), 4);
}

#[test]
fn success_is_exactly_200_json_uncompressed() {
    let server = spawn_server();
    let response = server
        .client
        .post(server.envelope_url())
        .header("X-Sentry-Auth", server.auth_header())
        .header("Accept-Encoding", "gzip, br")
        .body(envelope_for(&json!({"message": "plain"})))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().get("content-encoding").is_none());
}

#[test]
fn oversized_event_item_is_413() {
    let server = spawn_server();
    let big = "x".repeat(1024 * 1024 + 10);
    let response = server.post_envelope(envelope_for(&json!({"message": big})));
    assert_eq!(response.status(), 413);
    assert!(response.headers().get("access-control-allow-origin").is_some());
}

#[test]
fn preflight_and_cors_headers() {
    let server = spawn_server();
    let response = server
        .client
        .request(reqwest::Method::OPTIONS, server.envelope_url())
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-max-age"], "3600");
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-sentry-auth")
    );
    let response = server.client.post(server.envelope_url()).body("{}").send().unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-sentry-rate-limits")
    );
}

#[test]
fn dsn_path_prefix_is_supported() {
    let server = spawn_server();
    let response = server
        .client
        .post(format!("{}/sentry/api/{}/envelope/", server.base, server.project_id))
        .header("X-Sentry-Auth", server.auth_header())
        .body(envelope_for(&json!({"message": "behind a proxy"})))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn non_numeric_project_path_is_400_and_unsupported_endpoints_404() {
    let server = spawn_server();
    let response = server
        .client
        .post(format!("{}/api/abc/envelope/", server.base))
        .header("X-Sentry-Auth", server.auth_header())
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    for path in ["minidump/", "security/", "unreal/x/", "cron/slug/x/"] {
        let response = server
            .client
            .post(format!("{}/api/{}/{path}", server.base, server.project_id))
            .body("x")
            .send()
            .unwrap();
        assert!(
            response.status() == 404 || response.status() == 200,
            "{path}: {}",
            response.status()
        );
    }
}
