//! What a DSN holder sends is bounded in cost and readable back (issue 11, items 1 and 2):
//! generated amplification payloads are stored within `limits.max_event_size` with
//! bounded memory, also when rate limited, and events with scrubbed keys 100–200 levels
//! deep answer 200 on every event endpoint.

mod common;

use common::{TestServer, envelope_for, spawn_server, spawn_server_with};
use serde_json::{Value, json};

const ORG_PROJECT: &str = "/api/0/projects/errata/default";

/// Peak resident memory of this process (kB), from /proc (Linux).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM is reported")
}

/// A `logentry` repeating one parameter `count` times, in `%s` or `%(name)s` style,
/// sized to stay under `max_payload` bytes.
fn amplifier(count: usize, param_len: usize, named: bool, max_payload: usize) -> Value {
    let template_len = count * if named { 8 } else { 2 };
    let param_len = param_len.min(max_payload.saturating_sub(template_len + 512));
    let param = "p".repeat(param_len);
    let message = if named {
        "%(name)s".repeat(count)
    } else {
        "%s".repeat(count)
    };
    // Positional: the same parameter at every placeholder would not fit, so a few
    // large ones first, then one-character ones.
    let params = if named {
        json!({ "name": param })
    } else {
        let mut items = vec![Value::String(param)];
        items.extend((1..count.min(1000)).map(|_| json!("q")));
        json!(items)
    };
    json!({
        "platform": "python",
        "level": "error",
        "logentry": { "message": message, "params": params },
    })
}

/// The stored event through `/json/`, and its compact size.
fn stored(server: &TestServer, id: &str) -> (usize, Value) {
    let body = server.get_ok(&format!("{ORG_PROJECT}/events/{id}/json/"));
    (serde_json::to_vec(&body).expect("serializes").len(), body)
}

fn check_amplification(server: &TestServer, limit: usize) {
    let before = peak_rss_kb();
    let mut stored_count = 0;
    for (count, param_len) in [
        (1, 480_000),
        (1_000, 100_000),
        (30_000, 10_000),
        (100_000, 480_000),
        (120_000, 1),
    ] {
        for named in [false, true] {
            let event = amplifier(count, param_len, named, limit - 200);
            let payload = envelope_for(&event);
            let response = server.post_envelope(payload);
            let status = response.status().as_u16();
            let body: Value = response.json().unwrap_or(Value::Null);
            assert!(
                status == 200 || (400..500).contains(&status),
                "count {count}, param {param_len}, named {named}: {status} {body}"
            );
            if status != 200 {
                continue;
            }
            let id = body["id"].as_str().expect("an accepted event has an id");
            let (size, event) = stored(server, id);
            assert!(
                size <= limit,
                "count {count}, param {param_len}: stored {size} > {limit}"
            );
            let formatted = event["logentry"]["formatted"].as_str().unwrap_or("");
            assert!(formatted.chars().count() <= 8192, "formatted has {}", formatted.len());
            stored_count += 1;
        }
    }
    assert!(
        stored_count >= 5,
        "most amplification payloads are accepted, {stored_count} were"
    );
    let growth_mb = peak_rss_kb().saturating_sub(before) / 1024;
    assert!(growth_mb < 300, "peak memory grew by {growth_mb} MB");
}

#[test]
fn amplification_payloads_are_stored_within_the_event_size_limit() {
    let server = spawn_server();
    check_amplification(&server, 1 << 20);
}

#[test]
fn a_smaller_event_size_limit_bounds_the_stored_event_too() {
    let limit = 128 << 10;
    let server = spawn_server_with(|c| c.limits.max_event_size = limit);
    check_amplification(&server, limit);
    // Normalization grows small breadcrumbs (timestamp, type, level are filled in) past
    // the limit: the oldest are trimmed, the error is kept.
    let crumbs: Vec<Value> = (0..6000).map(|_| json!({"message": "m"})).collect();
    let event = json!({
        "platform": "python",
        "exception": {"values": [{"type": "KeyError", "value": "missing",
            "stacktrace": {"frames": [{"function": "h", "vars": {"blob": "v".repeat(20_000)}}]}}]},
        "breadcrumbs": crumbs,
    });
    assert!(event.to_string().len() < limit);
    let id = server.send_event(&event);
    let (size, stored) = stored(&server, &id);
    assert!(size <= limit, "{size}");
    assert_eq!(stored["exception"]["values"][0]["type"], "KeyError");
    assert_eq!(
        stored["_meta"]["breadcrumbs"]["values"][""]["len"], 6000,
        "{}",
        stored["_meta"]
    );
    let kept = stored["breadcrumbs"]["values"].as_array().expect("breadcrumbs").len();
    assert!((1..6000).contains(&kept), "{kept} breadcrumbs kept");
}

#[test]
fn rate_limited_amplification_payloads_cost_bounded_memory() {
    let server = spawn_server_with(|c| c.default_rate_limit = 1);
    let before = peak_rss_kb();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let event = amplifier(100_000, 480_000, true, 1_000_000);
        statuses.push(server.post_envelope(envelope_for(&event)).status().as_u16());
    }
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| *s == 429), "{statuses:?}");
    let growth_mb = peak_rss_kb().saturating_sub(before) / 1024;
    assert!(growth_mb < 300, "peak memory grew by {growth_mb} MB");
}

/// `levels` nested containers with scrubbed keys at the bottom.
fn deep(levels: usize, arrays: bool) -> Value {
    let mut value = json!({"password": "Zq9-deep-secret", "api_key": 12345, "note": "card 4111 1111 1111 1111"});
    for i in 0..levels {
        value = if arrays && i % 2 == 0 {
            json!([value])
        } else {
            json!({ format!("k{i}"): value })
        };
    }
    value
}

fn plant(place: usize, value: Value, marker: &str) -> Value {
    let mut event = match place {
        0 => json!({"extra": {"x": value}}),
        1 => json!({"contexts": {"custom": {"x": value}}}),
        2 => json!({"tags": {"t": value}}),
        3 => json!({"breadcrumbs": [{"message": "m", "data": {"x": value}}]}),
        _ => json!({}),
    };
    let frame_vars = if place >= 4 { json!({"x": value}) } else { json!({}) };
    event["platform"] = json!("python");
    event["exception"] = json!({"values": [{"type": "DeepError", "value": marker,
        "stacktrace": {"frames": [{"function": "f", "module": "m", "vars": frame_vars}]}}]});
    event
}

#[test]
fn deep_events_are_readable_through_every_event_endpoint() {
    let server = spawn_server();
    let mut accepted = 0;
    for levels in [100, 118, 122, 124, 126, 150, 200] {
        for place in 0..5 {
            for arrays in [false, true] {
                let marker = format!("deep {levels} {place} {arrays}");
                let event = plant(place, deep(levels, arrays), &marker);
                let response = server.post_envelope(envelope_for(&event));
                let status = response.status().as_u16();
                let body: Value = response.json().unwrap_or(Value::Null);
                // Deeper than the parser accepts: a clear 400, nothing stored.
                if status == 400 {
                    assert!(levels >= 120, "{marker}: {body}");
                    assert!(body["detail"].as_str().unwrap_or("").contains("nested"), "{body}");
                    continue;
                }
                assert_eq!(status, 200, "{marker}: {body}");
                accepted += 1;
                let id = body["id"].as_str().expect("id").to_owned();
                let detail = server.get_ok(&format!("{ORG_PROJECT}/events/{id}/"));
                let (_, json) = stored(&server, &id);
                assert!(!json.to_string().contains("Zq9-deep-secret"), "{marker}");
                let issue = detail["groupID"].as_str().expect("groupID").to_owned();
                for path in [
                    format!("{ORG_PROJECT}/events/"),
                    format!("{ORG_PROJECT}/events/?full=1"),
                    format!("/api/0/issues/{issue}/events/"),
                    format!("/api/0/issues/{issue}/events/?full=1"),
                    format!("/api/0/issues/{issue}/events/latest/"),
                    format!("/api/0/issues/{issue}/hashes/"),
                ] {
                    let (status, _, body) = server.get(&path);
                    assert_eq!(status, 200, "{marker}: GET {path}: {body}");
                }
            }
        }
    }
    assert!(
        accepted >= 30,
        "deep events up to the parser's limit are accepted, {accepted} were"
    );
}
