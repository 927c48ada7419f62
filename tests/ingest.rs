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
    server.event_count()
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
    // A request key that disagrees with the envelope's DSN is a mismatch. (The request's own
    // key is valid: an unknown one is refused before the body is read.)
    let foreign = envelope.replace(&server.public_key, WIRE_KEY);
    let response = server
        .client
        .post(server.envelope_url())
        .header("X-Sentry-Auth", server.auth_header())
        .body(foreign)
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
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
    assert_eq!(response.status(), 403);
}

#[test]
fn every_content_encoding_stores_the_same_event() {
    let server = spawn_server();
    let plain = |id: &str| envelope_for(&json!({"event_id": id, "message": "encoded", "level": "warning"}));
    type Encoder = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let cases: Vec<(&str, Encoder)> = vec![
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
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().expect("json body");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
}

/// Polls until `check` holds (outcomes and rate-limited counts are written in the background).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("never happened: {what}");
}

fn key_path(server: &TestServer) -> String {
    format!("/api/0/projects/errata/default/keys/{}/", server.public_key)
}

fn envelope_with_items(header: &str, items: &[(&str, &str)]) -> String {
    let mut out = format!("{header}\n");
    for (item_header, payload) in items {
        out.push_str(item_header);
        out.push('\n');
        out.push_str(payload);
        out.push('\n');
    }
    out
}

#[test]
fn too_many_attachments_or_sessions_are_413_with_cors_headers() {
    let server = spawn_server();
    let attachments: Vec<(&str, &str)> = vec![("{\"type\":\"attachment\",\"length\":1}", "a"); 31];
    let sessions: Vec<(&str, &str)> = vec![("{\"type\":\"session\"}", "{\"sid\":\"x\"}"); 101];
    for (what, body) in [
        ("31 attachments", envelope_with_items("{}", &attachments)),
        ("101 sessions", envelope_with_items("{}", &sessions)),
    ] {
        let response = server.post_envelope(body);
        assert_eq!(response.status(), 413, "{what}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*", "{what}");
        assert!(
            response.headers()["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .contains("retry-after")
        );
        let detail = response.json::<Value>().unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            detail.contains("max_attachment_count") || detail.contains("max_session_count"),
            "{detail}"
        );
    }
    // 30 attachments and 100 sessions are within the limits.
    assert_eq!(
        server
            .post_envelope(envelope_with_items("{}", &attachments[..30]))
            .status(),
        200
    );
    assert_eq!(
        server
            .post_envelope(envelope_with_items("{}", &sessions[..100]))
            .status(),
        200
    );
}

#[test]
fn rate_limited_key_gets_429_with_sentry_headers_and_known_issues_still_count() {
    let server = spawn_server();
    let (status, key) = server.put_json(&key_path(&server), &json!({"rateLimit": {"count": 3, "window": 3600}}));
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["rateLimit"], json!({"count": 3, "window": 3600}));
    let event = exception_event("ValueError", "storm", "app.storm", "flood");
    for _ in 0..3 {
        let response = server.post_envelope(envelope_for(&event));
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("x-sentry-rate-limits").is_none());
    }
    for _ in 0..4 {
        let response = server
            .client
            .post(server.envelope_url())
            .header("X-Sentry-Auth", server.auth_header())
            .header("Origin", "https://app.example")
            .body(envelope_for(&event))
            .send()
            .unwrap();
        assert_eq!(response.status(), 429);
        let h = response.headers();
        let retry_after: u64 = h["retry-after"].to_str().unwrap().parse().expect("integer Retry-After");
        assert!((1..=300).contains(&retry_after), "{retry_after}");
        let limits = h["x-sentry-rate-limits"].to_str().unwrap();
        let parts: Vec<&str> = limits.split(':').collect();
        assert_eq!(parts.len(), 4, "{limits}");
        assert_eq!(parts[0].parse::<u64>().unwrap(), retry_after);
        assert_eq!(
            parts[1].split(';').collect::<Vec<_>>(),
            ["error", "default", "security"]
        );
        assert_eq!(parts[2], "key");
        assert_eq!(h["access-control-allow-origin"], "*", "429 carries CORS headers");
        assert!(
            h["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .contains("x-sentry-rate-limits")
        );
    }
    // A rate-limited event of an unknown issue opens nothing.
    let other = exception_event("KeyError", "never seen", "app.other", "elsewhere");
    assert_eq!(server.post_envelope(envelope_for(&other)).status(), 429);
    assert_eq!(
        server.post_store(&event).status(),
        429,
        "the store endpoint shares the bucket"
    );

    // 3 stored + 5 rate limited: the issue counts all 8, only 3 payloads are kept.
    eventually("rate-limited events counted on their issue", || {
        let issues = server.issues("");
        issues.len() == 1 && issues[0]["count"] == "8"
    });
    assert_eq!(event_count(&server), 3);
    let rejected = server.get_ok("/api/0/projects/errata/default/stats/?stat=rejected");
    let total: i64 = rejected
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_i64().unwrap())
        .sum();
    assert_eq!(total, 6, "{rejected}");

    // Lifting the limit lets events through again.
    let (status, _) = server.put_json(&key_path(&server), &json!({"rateLimit": null}));
    assert_eq!(status, 200);
    assert_eq!(server.post_envelope(envelope_for(&other)).status(), 200);
}

#[test]
fn default_rate_limit_applies_and_zero_sends_no_rate_limit_headers() {
    let limited = spawn_server_with(|c| c.default_rate_limit = 2);
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            limited
                .post_envelope(envelope_for(&json!({"message": format!("m{i}")})))
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);

    let unlimited = spawn_server_with(|c| c.default_rate_limit = 0);
    for i in 0..20 {
        let response = unlimited.post_envelope(envelope_for(&json!({"message": format!("m{i}")})));
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("x-sentry-rate-limits").is_none());
        assert!(response.headers().get("retry-after").is_none());
    }
}

#[test]
fn key_allowed_origins_refuse_other_browsers_with_403_cors() {
    let server = spawn_server();
    let (status, key) = server.put_json(
        &key_path(&server),
        &json!({"allowedOrigins": ["https://app.example", "*.shop.example"]}),
    );
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["allowedOrigins"], "https://app.example,*.shop.example");
    let send = |origin: Option<&str>| {
        let mut request = server
            .client
            .post(format!(
                "{}?sentry_key={}&sentry_version=7",
                server.envelope_url(),
                server.public_key
            ))
            .header("Content-Type", "text/plain;charset=UTF-8");
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request
            .body(envelope_for(&json!({"message": "browser"})))
            .send()
            .unwrap()
    };
    let response = send(Some("https://evil.example"));
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        response.json::<Value>().unwrap()["detail"],
        "event submission rejected with_reason: Cors"
    );
    assert_eq!(send(Some("https://app.example")).status(), 200);
    assert_eq!(send(Some("https://eu.shop.example")).status(), 200);
    assert_eq!(send(None).status(), 200, "servers send no Origin");
    let (status, _) = server.put_json(&key_path(&server), &json!({"allowedOrigins": "*"}));
    assert_eq!(status, 200);
    assert_eq!(send(Some("https://evil.example")).status(), 200);
}

#[test]
fn auto_ip_becomes_the_client_ip_and_unknown_keys_and_meta_are_kept() {
    let server = spawn_server();
    let id = server.send_event(&json!({
        "message": "who",
        "user": {"id": "u1", "ip_address": "{{auto}}"},
        "my_custom_key": {"kept": true},
        "_meta": {"extra": {"password": {"": {"rem": [["@password", "s"]]}}}},
    }));
    let event = server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/json/"));
    assert_eq!(event["user"]["ip_address"], "127.0.0.1", "{event}");
    assert_eq!(event["my_custom_key"], json!({"kept": true}));
    assert!(event["_meta"]["extra"]["password"].is_object(), "{}", event["_meta"]);
}

#[test]
fn auto_ip_is_the_forwarded_address_behind_a_trusted_proxy_only() {
    let auto_ip_through_proxy = |server: &TestServer, path: &str| {
        let event = json!({"message": "who", "user": {"ip_address": "{{auto}}"}});
        let response = server
            .client
            .post(format!("{}{path}", server.base))
            .header("X-Sentry-Auth", server.auth_header())
            .header("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
            .body(envelope_for(&event))
            .send()
            .expect("request");
        assert_eq!(response.status(), 200);
        let id = response.json::<Value>().expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
        let stored = server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/json/"));
        stored["user"]["ip_address"].as_str().expect("an address").to_string()
    };
    let behind = spawn_server_with(|c| c.trusted_proxies = "127.0.0.0/8".into());
    let envelope = format!("/api/{}/envelope/", behind.project_id);
    assert_eq!(auto_ip_through_proxy(&behind, &envelope), "203.0.113.9");
    // Ingest under a path prefix (the fallback route) takes the same address.
    let prefixed = format!("/sentry/api/{}/envelope/", behind.project_id);
    assert_eq!(auto_ip_through_proxy(&behind, &prefixed), "203.0.113.9");
    let direct = spawn_server();
    let envelope = format!("/api/{}/envelope/", direct.project_id);
    assert_eq!(
        auto_ip_through_proxy(&direct, &envelope),
        "127.0.0.1",
        "the header is ignored"
    );
}

#[test]
fn user_reports_and_feedback_attach_to_their_event() {
    let server = spawn_server();
    let id = server.send_event(&json!({"message": "broken checkout"}));
    let report = json!({"event_id": id, "name": "Ada", "email": "ada@example.com", "comments": "it broke"});
    let response = server.post_envelope(envelope_with_items(
        "{}",
        &[("{\"type\":\"user_report\"}", &report.to_string())],
    ));
    assert_eq!(response.status(), 200);
    let event = server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/"));
    assert_eq!(event["userReport"]["comments"], "it broke", "{}", event["userReport"]);
    assert_eq!(event["userReport"]["email"], "ada@example.com");
    assert_eq!(event["userReport"]["eventID"], id.as_str());

    let other = server.send_event(&json!({"message": "other"}));
    let feedback = json!({"event_id": "ffffffffffffffffffffffffffffffff", "contexts": {"feedback": {
        "message": "the button does nothing", "contact_email": "bob@example.com", "name": "Bob",
        "associated_event_id": other}}});
    let response = server.post_envelope(envelope_with_items(
        "{\"event_id\":\"ffffffffffffffffffffffffffffffff\"}",
        &[("{\"type\":\"feedback\"}", &feedback.to_string())],
    ));
    assert_eq!(response.status(), 200);
    let event = server.get_ok(&format!("/api/0/projects/errata/default/events/{other}/"));
    assert_eq!(event["userReport"]["comments"], "the button does nothing");
    assert_eq!(event["userReport"]["name"], "Bob");
}

#[test]
fn attachments_are_kept_with_their_event_capped_and_listed() {
    let server = spawn_server_with(|c| c.max_stored_attachment_size = 1000);
    let big = "y".repeat(1001);
    let body = envelope_with_items(
        "{\"event_id\":\"abababababababababababababababab\"}",
        &[
            ("{\"type\":\"event\"}", "{\"message\":\"with files\"}"),
            (
                "{\"type\":\"attachment\",\"length\":18,\"filename\":\"app.log\",\"content_type\":\"text/plain\"}",
                "line one\r\nline two",
            ),
            (
                "{\"type\":\"attachment\",\"length\":1001,\"filename\":\"big.bin\"}",
                &big,
            ),
        ],
    );
    assert_eq!(server.post_envelope(body).status(), 200);
    let base = "/api/0/projects/errata/default/events/abababababababababababababababab/attachments/";
    let list = server.get_ok(base);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "the attachment over the cap is dropped: {list:?}");
    assert_eq!(list[0]["name"], "app.log");
    assert_eq!(list[0]["size"], 18);
    assert_eq!(list[0]["mimetype"], "text/plain");
    let id = list[0]["id"].as_str().unwrap();
    let bytes = server
        .api(reqwest::Method::GET, &format!("{base}{id}/?download=1"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&bytes[..], b"line one\r\nline two");
    let outcomes = server.get_ok("/api/0/projects/errata/default/outcomes/");
    let attachment_rows: Vec<(String, i64)> = outcomes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["category"] == "attachment")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(attachment_rows.contains(&("accepted".into(), 1)), "{attachment_rows:?}");
    assert!(
        attachment_rows.contains(&("too_large".into(), 1)),
        "{attachment_rows:?}"
    );
}

#[test]
fn outcomes_count_accepted_duplicate_invalid_and_client_discards() {
    let server = spawn_server();
    let event = json!({"event_id": "12121212121212121212121212121212", "message": "counted"});
    server.send_event(&event);
    server.send_event(&event);
    assert_eq!(
        server
            .post_envelope(envelope_for(&json!({"exception": 5, "level": []})))
            .status(),
        200
    );
    let response = server.post_envelope("{}\n{\"type\":\"event\"}\n{not json}\n");
    assert_eq!(response.status(), 400);
    let client_report = json!({"timestamp": 1741083420.0, "discarded_events": [
        {"reason": "queue_overflow", "category": "error", "quantity": 4},
        {"reason": "sample_rate", "category": "transaction", "quantity": 7}]});
    let body = envelope_with_items(
        "{}",
        &[
            ("{\"type\":\"client_report\"}", &client_report.to_string()),
            ("{\"type\":\"session\"}", "{\"sid\":\"s\"}"),
            ("{\"type\":\"transaction\"}", "{}"),
            ("{\"type\":\"log\",\"item_count\":3}", "{\"items\":[]}"),
        ],
    );
    assert_eq!(server.post_envelope(body).status(), 200);

    let outcomes = server.get_ok("/api/0/projects/errata/default/outcomes/");
    let rows = outcomes["rows"].as_array().unwrap();
    let quantity = |category: &str, outcome: &str, reason: &str| -> i64 {
        rows.iter()
            .filter(|r| r["category"] == category && r["outcome"] == outcome && r["reason"] == reason)
            .map(|r| r["quantity"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(quantity("default", "accepted", ""), 2, "{rows:#?}");
    assert_eq!(quantity("default", "duplicate", ""), 1);
    assert_eq!(quantity("error", "invalid", "event"), 1);
    assert_eq!(quantity("error", "client_discard", "queue_overflow"), 4);
    assert_eq!(quantity("transaction", "client_discard", "sample_rate"), 7);
    assert_eq!(quantity("session", "accepted", ""), 1);
    assert_eq!(quantity("transaction", "accepted", ""), 1);
    assert_eq!(quantity("log_item", "accepted", ""), 3);
    assert_eq!(outcomes["totals"]["client_discard"], 11);

    let accepted = server.get_ok("/api/0/projects/errata/default/stats/?stat=accepted");
    let series = accepted.as_array().unwrap();
    assert_eq!(series.len(), 30, "one point per day of the last 30");
    assert_eq!(series.last().unwrap()[1], 2, "today's accepted events");
    let received = server.get_ok("/api/0/projects/errata/default/stats/");
    assert_eq!(
        received.as_array().unwrap().last().unwrap()[1],
        4,
        "accepted + duplicate + invalid"
    );
    let (status, _, body) = server.get("/api/0/projects/errata/default/stats/?stat=bogus");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn a_bad_item_beside_an_event_does_not_lose_the_event() {
    let server = spawn_server();
    let body = envelope_with_items(
        "{\"event_id\":\"34343434343434343434343434343434\"}",
        &[
            ("{\"type\":\"client_report\"}", "{broken"),
            ("{\"type\":\"user_report\"}", "[1,2"),
            ("{\"type\":\"check_in\"}", "\"no\""),
            ("{\"type\":\"session\"}", "\u{0}\u{1}binary"),
            ("{\"type\":\"event\"}", "{\"message\":\"survivor\"}"),
            ("{\"type\":\"attachment\",\"length\":5}", "\u{ff}\u{fe}x"),
        ],
    );
    let response = server.post_envelope(body);
    let status = response.status();
    let answer: Value = response.json().unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], "34343434343434343434343434343434");
    server.get_ok("/api/0/projects/errata/default/events/34343434343434343434343434343434/");
}

#[test]
fn malformed_bodies_are_4xx_with_a_clear_detail() {
    let server = spawn_server();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_event = format!("{{\"extra\":{deep}}}");
    let mut invalid_utf8 = b"{}\n{\"type\":\"event\"}\n{\"message\":\"".to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(b"\"}\n");
    let mut tiny_items = String::from("{}\n");
    for _ in 0..100_000 {
        tiny_items.push_str("{\"type\":\"x\",\"length\":0}\n\n");
    }
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "truncated envelope",
            b"{}\n{\"type\":\"event\",\"length\":100}\n{\"mess".to_vec(),
            400,
        ),
        (
            "length that lies",
            b"{}\n{\"type\":\"event\",\"length\":3}\n{\"message\":1}\n".to_vec(),
            400,
        ),
        ("truncated header", b"{\"event_id\":\"ab".to_vec(), 400),
        ("invalid UTF-8 in an event", invalid_utf8, 400),
        ("invalid UTF-8 in a header", b"{\"sdk\":\"\xff\xfe\"}\n".to_vec(), 400),
        (
            "JSON nested 10,000 deep in an event",
            format!("{{}}\n{{\"type\":\"event\"}}\n{deep_event}\n").into_bytes(),
            400,
        ),
        (
            "JSON nested 10,000 deep in a header",
            format!("{{\"x\":{deep}}}\n").into_bytes(),
            400,
        ),
        ("100,000 tiny items", tiny_items.into_bytes(), 413),
    ];
    for (what, body, expected) in cases {
        let response = server.post_envelope(body);
        assert_eq!(response.status().as_u16(), expected, "{what}");
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {body}");
    }
    let response = server
        .client
        .post(format!("{}/api/{}/store/", server.base, server.project_id))
        .header("X-Sentry-Auth", server.auth_header())
        .body(deep_event)
        .send()
        .unwrap();
    assert_eq!(response.status(), 400, "deep JSON on the store endpoint");
    assert_eq!(event_count(&server), 0);
}

/// Sends raw HTTP: the head, then `body_chunks` until the server stops reading; returns
/// the response head and how many body bytes were written.
fn raw_request(
    server: &TestServer,
    head: &str,
    mut body_chunks: impl FnMut(usize) -> Option<Vec<u8>>,
) -> (String, usize) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut written = 0;
    while let Some(chunk) = body_chunks(written) {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        written += chunk.len();
    }
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
            break;
        }
    }
    (String::from_utf8_lossy(&response).into_owned(), written)
}

#[test]
fn a_hundred_megabytes_of_whitespace_is_refused_without_reading_it() {
    let server = spawn_server();
    const TOTAL: usize = 100 * 1024 * 1024;
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nHost: x\r\nX-Sentry-Auth: {}\r\nContent-Length: {TOTAL}\r\n\r\n",
        server.project_id,
        server.auth_header()
    );
    let chunk = vec![b' '; 256 * 1024];
    let (response, written) = raw_request(&server, &head, |written| (written < TOTAL).then(|| chunk.clone()));
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("empty request body"), "{response}");
    assert!(
        written < TOTAL / 2,
        "the server stopped reading early ({written} bytes sent)"
    );
}

#[test]
fn a_trickling_body_times_out_with_408() {
    let server = spawn_server_with(|c| c.body_timeout_secs = 1);
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nHost: x\r\nX-Sentry-Auth: {}\r\nContent-Length: 1000\r\n\r\n",
        server.project_id,
        server.auth_header()
    );
    let (response, _) = raw_request(&server, &head, |written| (written == 0).then(|| b"{}\n".to_vec()));
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("not received within 1 seconds"), "{response}");
    assert!(response.to_ascii_lowercase().contains("access-control-allow-origin: *"));
}

#[test]
fn non_json_item_header_is_400_with_detail_and_causes() {
    let server = spawn_server();
    let response = server.post_envelope("{}\n{type: event}\n{}\n");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().unwrap();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(body["causes"].as_array().is_some_and(|c| !c.is_empty()), "{body}");
}

/// Checklist 22–26 through the real server: every legacy shape is stored in the canonical one.
#[test]
fn legacy_shapes_are_stored_normalized() {
    let server = spawn_server();
    let stored = |event: Value| -> Value {
        let id = server.send_event(&event);
        server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/json/"))
    };
    // 22: timestamps.
    for (raw, expected) in [
        (json!(1741083330), 1741083330.0),
        (json!(1741083330.5), 1741083330.5),
        (json!("2025-03-04T10:15:30Z"), 1741083330.0),
        (json!("2025-03-04T10:15:30.123+02:00"), 1741076130.123),
        (json!("2025-03-04T10:15:30"), 1741083330.0),
    ] {
        let event = stored(json!({"message": "t", "timestamp": raw}));
        let ts = event["timestamp"].as_f64().unwrap();
        assert!((ts - expected).abs() < 0.001, "{raw} → {ts}");
    }
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ts = stored(json!({"message": "no time"}))["timestamp"].as_f64().unwrap();
    assert!(
        ts >= before - 1.0 && ts < before + 60.0,
        "missing timestamp ⇒ receive time, got {ts}"
    );
    // 23: levels.
    for (raw, expected) in [
        (json!("critical"), "fatal"),
        (json!("log"), "info"),
        (json!(40), "error"),
        (json!("bogus"), "error"),
    ] {
        assert_eq!(
            stored(json!({"message": "l", "level": raw}))["level"],
            expected,
            "{raw}"
        );
    }
    // 24: exception and breadcrumb forms give one canonical shape.
    let exception = json!({"type": "IOError", "value": "No space left"});
    let forms = [
        json!({"exception": [exception.clone()], "breadcrumbs": [{"timestamp": 1741083300, "message": "rotate"}]}),
        json!({"exception": {"values": [exception.clone()]}, "breadcrumbs": {"values": [{"timestamp": 1741083300, "message": "rotate"}]}}),
        json!({"exception": exception.clone(), "breadcrumbs": [{"timestamp": 1741083300, "message": "rotate"}]}),
        json!({"sentry.interfaces.Exception": exception.clone(), "sentry.interfaces.Breadcrumbs": [{"timestamp": 1741083300, "message": "rotate"}]}),
    ];
    let canonical: Vec<(Value, Value)> = forms
        .into_iter()
        .map(|f| {
            let e = stored(f);
            (e["exception"].clone(), e["breadcrumbs"].clone())
        })
        .collect();
    assert_eq!(canonical[0].0["values"][0]["type"], "IOError", "{:?}", canonical[0]);
    assert_eq!(canonical[0].1["values"][0]["message"], "rotate", "{:?}", canonical[0]);
    assert!(canonical.iter().all(|c| *c == canonical[0]), "{canonical:#?}");
    // 25: tags as object or pairs.
    let object = stored(json!({"message": "tags", "tags": {"a b": true, "n": 3, "x": null}}));
    let pairs = stored(json!({"message": "tags", "tags": [["a b", true], ["n", 3], ["x", null]]}));
    assert_eq!(object["tags"], pairs["tags"]);
    let tags = object["tags"].as_array().unwrap();
    assert!(tags.contains(&json!(["a-b", "True"])), "{tags:?}");
    assert!(tags.contains(&json!(["n", "3"])), "{tags:?}");
    // The raw event keeps `["x", null]` as Relay does; no `x` tag ever reaches the event or issue.
    assert!(!tags.iter().any(|t| t[0] == "x" && !t[1].is_null()), "{tags:?}");
    let id = object["event_id"].as_str().unwrap();
    let shown = server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/"));
    let shown_tags = shown["tags"].as_array().unwrap();
    assert!(
        shown_tags.iter().any(|t| t["key"] == "a-b" && t["value"] == "True"),
        "{shown_tags:?}"
    );
    assert!(!shown_tags.iter().any(|t| t["key"] == "x"), "{shown_tags:?}");
    // 26: message string, top-level stacktrace attached to the sole exception, array vars.
    let event = stored(json!({
        "message": "Disk full",
        "exception": {"values": [{"type": "IOError", "value": "full"}]},
        "stacktrace": {"frames": [{"function": "write_log", "filename": "log.py", "lineno": 88, "vars": [1, "two"]}]},
    }));
    assert_eq!(event["logentry"]["formatted"], "Disk full", "{event}");
    let frame = &event["exception"]["values"][0]["stacktrace"]["frames"][0];
    assert_eq!(frame["function"], "write_log", "{event}");
    assert_eq!(frame["vars"], json!({"0": 1, "1": "two"}));
}
