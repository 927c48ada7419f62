//! Conformance of the normalizer: Relay's vectors, the ingest checklist items
//! about payload shapes, and robustness against arbitrary input.

use crate::event::json::{Str, Value, json};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/normalize");

fn ctx() -> NormalizeContext {
    NormalizeContext {
        project_id: 1,
        received_at: 1_704_164_650.0, // 2024-01-02T03:04:10Z, as in the vectors
        client_ip: Some("203.0.113.9".to_owned()),
        infer_ip: true,
    }
}

fn run(input: Value<'_>) -> Value<'_> {
    match normalize(input, &ctx()) {
        Ok(v) => v,
        Err(e) => panic!("normalize failed: {e}"),
    }
}

fn is_fresh_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Replaces the vectors' generated-id placeholders with the id we generated.
fn substitute_generated_id(expected: &mut Value<'_>, id: &str) {
    match expected {
        Value::String(s) if s == "<generated-event-id>" => *s = Str::from(id.to_owned()),
        Value::String(s) if s == "<generated-event-id:16>" => *s = Str::from(id[..16].to_owned()),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_generated_id(v, id)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_generated_id(v, id)),
        _ => {}
    }
}

fn received_at_of(config: &Value<'_>) -> f64 {
    let text = config["received_at"].as_str().unwrap_or_default();
    parse_timestamp(&Value::from(text)).unwrap_or(f64::NAN)
}

#[test]
fn every_relay_vector_normalizes_to_the_expected_event() {
    let index_text = std::fs::read_to_string(format!("{FIXTURES}/index.json")).unwrap();
    let index: Value = serde_json::from_str(&index_text).unwrap();
    let files = index["files"].as_array().unwrap();
    assert_eq!(files.len(), 36);
    let mut failures = Vec::new();
    for file in files {
        let name = file.as_str().unwrap();
        let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
        let case: Value = serde_json::from_str(&text).unwrap();
        let config = NormalizeContext {
            project_id: case["normalizer_config"]["project_id"].as_u64().unwrap(),
            received_at: received_at_of(&case["normalizer_config"]),
            client_ip: None,
            infer_ip: false,
        };
        let actual = normalize(case["input"].clone(), &config).unwrap();
        let mut expected = case["expected"].clone();
        let id = actual["event_id"].as_str().unwrap_or_default().to_owned();
        if expected["event_id"] == "<generated-event-id>" {
            assert!(is_fresh_id(&id), "{name}: generated id {id:?}");
            substitute_generated_id(&mut expected, &id);
        }
        if actual != expected {
            failures.push(format!("{name}\n  expected: {expected}\n  actual:   {actual}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn generated_ids_are_fresh_for_each_event() {
    let a = run(json!({}));
    let b = run(json!({}));
    assert_ne!(a["event_id"], b["event_id"]);
    let id = a["event_id"].as_str().unwrap();
    assert!(is_fresh_id(id));
    assert_eq!(a["contexts"]["trace"]["trace_id"], id);
    assert_eq!(a["contexts"]["trace"]["span_id"], &id[..16]);
}

// Checklist 22: timestamps.
#[test]
fn checklist_22_timestamps_normalize_to_unix_seconds() {
    let cases = [
        (json!(1741083330), 1741083330.0),
        (json!(1741083330.5), 1741083330.5),
        (json!("2025-03-04T10:15:30Z"), 1741083330.0),
        (json!("2025-03-04T10:15:30.123+02:00"), 1741076130.123),
        (json!("2025-03-04T10:15:30"), 1741083330.0),
    ];
    let received = 1741083400.0;
    for (input, expected) in cases {
        let ev = normalize(
            json!({"timestamp": input}),
            &NormalizeContext {
                received_at: received,
                ..ctx()
            },
        )
        .unwrap();
        assert_eq!(ev["timestamp"].as_f64(), Some(expected), "{input}");
        assert!(ev.get("errors").is_none(), "{input}");
    }
    let missing = run(json!({}));
    assert_eq!(missing["timestamp"].as_f64(), Some(ctx().received_at));
}

#[test]
fn timestamps_far_in_the_future_are_clamped_to_receive_time() {
    let received = ctx().received_at;
    let ev = run(json!({
        "timestamp": received + 3600.0,
        "start_timestamp": received + 3590.0,
        "breadcrumbs": [{"timestamp": received + 3500.0, "message": "m"}],
    }));
    assert_eq!(ev["timestamp"].as_f64(), Some(received));
    assert_eq!(ev["start_timestamp"].as_f64(), Some(received - 10.0));
    assert_eq!(
        ev["breadcrumbs"]["values"][0]["timestamp"].as_f64(),
        Some(received - 100.0)
    );
    assert_eq!(ev["errors"][0]["type"], "future_timestamp");
    assert_eq!(ev["errors"][0]["name"], "timestamp");

    let near = run(json!({"timestamp": received + 30.0}));
    assert_eq!(near["timestamp"].as_f64(), Some(received + 30.0));
}

#[test]
fn unparsable_timestamp_is_recorded_and_defaulted() {
    let ev = run(json!({"timestamp": "last tuesday"}));
    assert_eq!(ev["timestamp"].as_f64(), Some(ctx().received_at));
    assert_eq!(ev["_meta"]["timestamp"][""]["val"], "last tuesday");
    assert_eq!(ev["errors"][0]["name"], "timestamp");
}

// Checklist 23: levels.
#[test]
fn checklist_23_levels_map_aliases_numbers_and_reject_unknown() {
    for (input, expected) in [
        (json!("critical"), "fatal"),
        (json!("log"), "info"),
        (json!(40), "error"),
        (json!("bogus"), "error"),
    ] {
        let ev = run(json!({"level": input}));
        assert_eq!(ev["level"], expected, "{input}");
    }
    let bogus = run(json!({"level": "bogus"}));
    assert_eq!(bogus["_meta"]["level"][""]["val"], "bogus");
    let tx = run(json!({"type": "transaction"}));
    assert_eq!(tx["level"], "info");
    assert_eq!(tx["type"], "transaction");
}

/// Removes what differs between two normalizations of the same content.
fn comparable(mut ev: Value<'_>) -> Value<'_> {
    if let Some(map) = ev.as_object_mut() {
        map.remove("event_id");
        map.remove("contexts");
    }
    ev
}

// Checklist 24: exception and breadcrumb forms.
#[test]
fn checklist_24_exception_forms_normalize_identically() {
    let exc = json!({"type": "IOError", "value": "No space left"});
    let forms = [
        json!({"exception": [exc.clone()]}),
        json!({"exception": {"values": [exc.clone()]}}),
        json!({"exception": exc.clone()}),
        json!({"sentry.interfaces.Exception": exc.clone()}),
        json!({"sentry.interfaces.Exception": {"values": [exc.clone()]}}),
    ];
    let results: Vec<Value> = forms.into_iter().map(|f| comparable(run(f))).collect();
    assert_eq!(results[0]["exception"], json!({"values": [exc]}));
    assert_eq!(results[0]["type"], "error");
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
    let empty = run(json!({"exception": {}}));
    assert!(empty.get("exception").is_none());
    assert_eq!(empty["type"], "default");
}

#[test]
fn checklist_24_breadcrumb_forms_normalize_identically() {
    let crumb = json!({"timestamp": 1741083300, "message": "rotate"});
    let forms = [
        json!({"breadcrumbs": [crumb.clone()]}),
        json!({"breadcrumbs": {"values": [crumb.clone()]}}),
        json!({"sentry.interfaces.Breadcrumbs": {"values": [crumb.clone()]}}),
    ];
    let results: Vec<Value> = forms.into_iter().map(|f| comparable(run(f))).collect();
    assert_eq!(
        results[0]["breadcrumbs"],
        json!({"values": [{"timestamp": 1741083300.0, "message": "rotate",
                           "type": "default", "level": "info"}]})
    );
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
}

#[test]
fn exceptions_without_type_or_value_are_dropped_and_recorded() {
    let ev = run(json!({"exception": {"values": [{"module": "m"}, {"type": "E"}]}}));
    assert_eq!(ev["exception"]["values"], json!([{"type": "E"}]));
    assert_eq!(ev["errors"][0]["type"], "missing_attribute");
    assert_eq!(ev["errors"][0]["name"], "exception.values.0");
}

#[test]
fn non_string_exception_values_become_json_text() {
    let ev = run(json!({"exception": {"type": "E", "value": {"code": 7}}}));
    assert_eq!(ev["exception"]["values"][0]["value"], r#"{"code":7}"#);
}

// Checklist 25: tags.
#[test]
fn checklist_25_tag_object_and_pairs_are_identical() {
    let obj = run(json!({"tags": {"b": "2", "a": "1"}}));
    let pairs = run(json!({"tags": [["a", "1"], ["b", "2"]]}));
    assert_eq!(obj["tags"], json!([["a", "1"], ["b", "2"]]));
    assert_eq!(obj["tags"], pairs["tags"]);
}

/// Deviation from the spec's "null dropped", following vector 10: a null tag
/// value stays as `[key, null]`, which carries no value for `x`.
#[test]
fn checklist_25_tag_values_are_stringified_and_keys_sanitized() {
    let ev = run(json!({"tags": {"a b": true, "n": 3, "x": null}}));
    assert_eq!(ev["tags"], json!([["a-b", "True"], ["n", "3"], ["x", null]]));
    let has_x_value = ev["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t[0] == "x" && !t[1].is_null());
    assert!(!has_x_value);
}

#[test]
fn reserved_duplicate_and_invalid_tags_are_removed() {
    let ev = run(json!({
        "server_name": "web-1",
        "tags": [["release", "1"], ["k", "first"], ["k", "second"], ["bad!", "v"],
                 ["environment", "prod"], ["long", "x".repeat(201)]],
    }));
    assert_eq!(
        ev["tags"],
        json!([["k", "first"], ["long", null], ["server_name", "web-1"]])
    );
    assert_eq!(ev["environment"], "prod");
    assert!(ev.get("server_name").is_none());
    let names: Vec<&str> = ev["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["tags.1.0", "tags.1.1"]);
}

// Checklist 26: message, top-level stacktrace, vars.
#[test]
fn checklist_26_message_string_becomes_formatted_logentry() {
    let ev = run(json!({"message": "Disk full"}));
    assert_eq!(ev["logentry"], json!({"formatted": "Disk full"}));
    assert!(ev.get("message").is_none());
    let ignored = run(json!({"message": false}));
    assert!(ignored.get("logentry").is_none());
    let number = run(json!({"message": 42}));
    assert_eq!(number["logentry"], json!({"formatted": "42"}));
}

/// Policy: the legacy top-level stacktrace moves onto a sole exception that
/// has none (vector 07 has no exception, so there it stays at top level).
#[test]
fn checklist_26_top_level_stacktrace_attaches_to_sole_exception() {
    let frames = json!({"frames": [{"function": "write_log", "filename": "log.py", "lineno": 88}]});
    let ev = run(json!({
        "sentry.interfaces.Exception": {"type": "IOError", "value": "No space left"},
        "stacktrace": frames,
    }));
    assert!(ev.get("stacktrace").is_none());
    assert_eq!(
        ev["exception"]["values"][0]["stacktrace"]["frames"][0]["abs_path"],
        "log.py"
    );

    // An exception with its own trace keeps it; the event-level trace stays.
    let own = json!({"frames": [{"function": "own"}]});
    let kept = run(json!({
        "exception": {"type": "E", "value": "v", "stacktrace": own},
        "stacktrace": {"frames": [{"function": "top"}]},
    }));
    assert_eq!(
        kept["exception"]["values"][0]["stacktrace"]["frames"][0]["function"],
        "own"
    );
    assert_eq!(kept["stacktrace"]["frames"][0]["function"], "top");

    // Two exceptions: the trace stays at event level.
    let two = run(json!({
        "exception": [{"type": "A"}, {"type": "B"}],
        "stacktrace": {"frames": [{"function": "top"}]},
    }));
    assert_eq!(two["stacktrace"]["frames"][0]["function"], "top");
}

#[test]
fn checklist_26_array_vars_become_an_object_keyed_by_index() {
    let ev = run(json!({"exception": {"type": "E", "stacktrace": {"frames": [
        {"function": "f", "vars": ["a", {"b": 1}]}
    ]}}}));
    assert_eq!(
        ev["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"],
        json!({"0": "a", "1": {"b": 1}})
    );
}

// Checklist 27: `{{auto}}` IP, unknown keys and `_meta` kept.
#[test]
fn checklist_27_auto_ip_uses_client_address() {
    let ev = run(json!({"user": {"ip_address": "{{auto}}"}}));
    assert_eq!(ev["user"]["ip_address"], "203.0.113.9");
    assert_eq!(ev["user"]["sentry_user"], "ip:203.0.113.9");

    let off = normalize(
        json!({"user": {"id": "u1", "ip_address": "{{auto}}"}}),
        &NormalizeContext {
            infer_ip: false,
            ..ctx()
        },
    )
    .unwrap();
    assert!(off["user"].get("ip_address").is_none());
    assert_eq!(off["user"]["id"], "u1");
}

#[test]
fn checklist_27_unknown_keys_and_client_meta_are_kept() {
    let ev = run(json!({
        "my_custom": {"deep": [1, 2]},
        "_meta": {"extra": {"": {"rem": [["x", "s"]]}}},
        "level": "nope",
    }));
    assert_eq!(ev["my_custom"], json!({"deep": [1, 2]}));
    assert_eq!(ev["_meta"]["extra"], json!({"": {"rem": [["x", "s"]]}}));
    assert_eq!(ev["_meta"]["level"][""]["val"], "nope");
}

#[test]
fn request_query_cookies_and_headers_become_pair_lists() {
    let ev = run(json!({"request": {
        "url": "http://x.test/p?a=1#frag",
        "method": "get",
        "cookies": "s=1; t=2",
        "headers": [["cookie", "ignored=1"], ["Content-Type", "application/json; charset=utf-8"]],
        "data": "{\"k\": 1}",
    }}));
    let req = &ev["request"];
    assert_eq!(req["url"], "http://x.test/p");
    assert_eq!(req["query_string"], json!([["a", "1"]]));
    assert_eq!(req["fragment"], "frag");
    assert_eq!(req["method"], "GET");
    assert_eq!(req["cookies"], json!([["s", "1"], ["t", "2"]]));
    assert_eq!(
        req["headers"],
        json!([["Content-Type", "application/json; charset=utf-8"]])
    );
    assert_eq!(req["data"], json!({"k": 1}));
    assert_eq!(req["inferred_content_type"], "application/json");

    let qs_obj = run(json!({"request": {"query_string": {"b": 2, "a": "x"}}}));
    assert_eq!(qs_obj["request"]["query_string"], json!([["a", "x"], ["b", "2"]]));
}

#[test]
fn release_environment_and_dist_are_trimmed_and_validated() {
    let ev = run(json!({"release": " 1.2.3 ", "environment": " prod ", "dist": " 7 "}));
    assert_eq!(ev["release"], "1.2.3");
    assert_eq!(ev["environment"], "prod");
    assert_eq!(ev["dist"], "7");
    let numeric = run(json!({"release": 42}));
    assert_eq!(numeric["release"], "42");
    let bad = run(json!({"release": "a/b", "environment": "x".repeat(65)}));
    assert!(bad["release"].is_null());
    assert!(bad["environment"].is_null());
    assert_eq!(bad["_meta"]["release"][""]["val"], "a/b");
}

#[test]
fn spec_example_d_legacy_store_body_normalizes_like_a_modern_event() {
    let raw = br#"{"event_id":"9F6C2E4B-8A1D-4C3B-9E2F-1A0B9C8D7E6F","message":"Disk full","level":40,"timestamp":"2025-03-04T10:15:30",
 "tags":[["host","web-1"],["shard",3]],"sentry.interfaces.Exception":{"type":"IOError","value":"No space left"},
 "stacktrace":{"frames":[{"function":"write_log","filename":"log.py","lineno":88}]},"breadcrumbs":[{"timestamp":1741083300,"message":"rotate"}]}"#;
    let ev = normalize(
        parse_payload(raw).unwrap(),
        &NormalizeContext {
            received_at: 1741083400.0,
            ..ctx()
        },
    )
    .unwrap();
    assert_eq!(ev["event_id"], "9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6f");
    assert_eq!(ev["level"], "error");
    assert_eq!(ev["type"], "error");
    assert_eq!(ev["timestamp"].as_f64(), Some(1741083330.0));
    assert_eq!(ev["tags"], json!([["host", "web-1"], ["shard", "3"]]));
    assert_eq!(ev["logentry"], json!({"formatted": "Disk full"}));
    assert_eq!(ev["exception"]["values"][0]["stacktrace"]["frames"][0]["lineno"], 88);
    assert!(ev.get("errors").is_none());
}

#[test]
fn formatting_a_repeated_large_parameter_stops_at_the_message_cap() {
    // Was ~45 GiB: 100,000 placeholders each replaced by a 480 KB parameter.
    let big = "p".repeat(480_000);
    for (message, params) in [
        ("%(a)s".repeat(100_000), json!({"a": big})),
        ("%s".repeat(100_000), json!(vec![big.clone(); 3])),
        ("é%s".repeat(50_000), json!(["ü".repeat(1000)])),
    ] {
        let ev = run(json!({"logentry": {"message": message, "params": params}}));
        let formatted = ev["logentry"]["formatted"].as_str().unwrap();
        assert_eq!(formatted.chars().count(), 8192);
        assert!(formatted.ends_with("..."));
        let message = ev["logentry"]["message"].as_str().unwrap();
        assert!(message.chars().count() <= 8192);
    }
}

#[test]
fn short_messages_are_formatted_whole() {
    let ev = run(json!({"logentry": {"message": "%s and %(x)s", "params": ["a"]}}));
    assert_eq!(ev["logentry"]["formatted"], "a and %(x)s");
    let long = "x".repeat(20_000);
    let ev = run(json!({"logentry": {"formatted": long}}));
    assert_eq!(ev["logentry"]["formatted"].as_str().unwrap().chars().count(), 8192);
}

#[test]
fn non_objects_are_rejected() {
    for v in [json!([]), json!("x"), json!(null), json!(1)] {
        assert!(matches!(normalize(v, &ctx()), Err(NormalizeError::NotAnObject)));
    }
}

#[test]
fn payloads_with_bare_non_finite_numbers_parse_as_null() {
    let v = parse_payload(br#"{"a": NaN, "b": [Infinity, -Infinity], "s": "NaN \" Infinity"}"#).unwrap();
    assert_eq!(v, json!({"a": null, "b": [null, null], "s": "NaN \" Infinity"}));
}

#[test]
fn deeply_nested_payloads_are_rejected_with_a_clear_error() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let Err(NormalizeError::InvalidJson(msg)) = parse_payload(deep.as_bytes()) else {
        panic!("deep payload accepted");
    };
    assert!(msg.contains("nested deeper than 128"), "{msg}");
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(parse_payload(ok.as_bytes()).is_ok());
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = Value<'static>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-z{}:%?=&;# .-]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("{{auto}}"),
                Just("transaction"),
                Just("2024-01-02T03:04:05Z"),
                Just("values"),
                Just("frames"),
                Just("Cookie"),
                Just("a=1; b"),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            let keys = prop_oneof![
                Just("exception".to_owned()),
                Just("values".to_owned()),
                Just("stacktrace".to_owned()),
                Just("frames".to_owned()),
                Just("type".to_owned()),
                Just("value".to_owned()),
                Just("tags".to_owned()),
                Just("request".to_owned()),
                Just("headers".to_owned()),
                Just("cookies".to_owned()),
                Just("user".to_owned()),
                Just("contexts".to_owned()),
                Just("breadcrumbs".to_owned()),
                Just("threads".to_owned()),
                Just("logentry".to_owned()),
                Just("message".to_owned()),
                Just("params".to_owned()),
                Just("timestamp".to_owned()),
                Just("level".to_owned()),
                Just("vars".to_owned()),
                Just("_meta".to_owned()),
                Just("errors".to_owned()),
                Just("ip_address".to_owned()),
                Just("env".to_owned()),
                "[a-z_]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parse_and_normalize_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(v) = parse_payload(&bytes) {
                let _ = normalize(v, &ctx());
            }
        }

        #[test]
        fn normalize_never_panics_on_json_values(v in arb_json()) {
            let wrapped = json!({"exception": v.clone(), "request": v.clone(), "tags": v.clone(),
                                 "user": v.clone(), "contexts": v.clone(), "breadcrumbs": v.clone(),
                                 "message": v.clone(), "threads": v.clone(), "timestamp": v.clone()});
            let out = normalize(wrapped, &ctx()).unwrap();
            prop_assert!(out["event_id"].as_str().is_some_and(is_fresh_id));
            let _ = normalize(v, &ctx());
        }

        #[test]
        fn normalizing_twice_is_stable(v in arb_json()) {
            let once = normalize(json!({"event_id": "5c5d4e3b2a19488f9b0c1d2e3f405162",
                                        "exception": v.clone(), "tags": v.clone(),
                                        "request": v}), &ctx()).unwrap();
            let mut twice = normalize(once.clone(), &ctx()).unwrap();
            let mut once = once;
            // Errors and meta accumulate on re-normalization, and a rejected
            // field left as null is absent the second time; compare the data.
            for ev in [&mut once, &mut twice] {
                let map = ev.as_object_mut().unwrap();
                map.remove("errors");
                map.remove("_meta");
                map.retain(|_, v| !v.is_null());
            }
            prop_assert_eq!(once, twice);
        }
    }
}
