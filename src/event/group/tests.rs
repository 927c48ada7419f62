//! Tests of `group`: the worked examples of spec/grouping.md §12, fingerprints,
//! strategies, exception groups, rules, and grouping invariants.

use std::collections::HashMap;

use crate::event::json::{Value, json};
use proptest::prelude::*;

use super::*;

/// Issue assignment of spec §1: look hashes up in order, else create an
/// issue; attach unknown hashes to the chosen issue.
#[derive(Default)]
struct Project {
    issues: HashMap<String, usize>,
    next: usize,
}

impl Project {
    fn assign(&mut self, hashes: &[String]) -> usize {
        let issue = match hashes.iter().find_map(|h| self.issues.get(h)) {
            Some(&issue) => issue,
            None => {
                self.next += 1;
                self.next
            }
        };
        for hash in hashes {
            self.issues.entry(hash.clone()).or_insert(issue);
        }
        issue
    }
}

/// The hashes ingest stores; every test through here also checks that the path without
/// the explanation agrees with `group`.
fn hashes(event: &Value) -> Vec<String> {
    let rules = GroupingRules::default();
    let explained = group(event, &rules).hashes;
    assert_eq!(group_hashes(event, &rules), explained, "{event}");
    explained
}

fn same_group(a: &Value, b: &Value) -> bool {
    let mut project = Project::default();
    let first = project.assign(&hashes(a));
    first == project.assign(&hashes(b))
}

#[test]
fn worked_examples_assign_issues_as_specified() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grouping/examples.json"
    ));
    let examples: Vec<Value> = match serde_json::from_str(text) {
        Ok(examples) => examples,
        Err(e) => panic!("examples.json is not valid JSON: {e}"),
    };
    assert_eq!(examples.len(), 34);
    let mut failures = Vec::new();
    for example in &examples {
        let name = example.get("name").and_then(Value::as_str).unwrap_or("?");
        let expected = example.get("same_group").and_then(Value::as_bool);
        let (Some([a, b]), Some(expected)) = (
            example.get("events").and_then(Value::as_array).map(Vec::as_slice),
            expected,
        ) else {
            panic!("malformed example {name}");
        };
        for event in [a, b] {
            let list = hashes(event);
            assert!((1..=3).contains(&list.len()), "{name}: {} hashes", list.len());
            assert!(
                list.iter()
                    .all(|h| { h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) })
            );
        }
        if same_group(a, b) != expected {
            failures.push(name.to_owned());
        }
    }
    assert!(failures.is_empty(), "examples not grouped as specified: {failures:?}");
}

#[test]
fn hash_is_sha256_of_length_prefixed_tokens() {
    // `grouping:v1` + `fallback`, encoded by hand.
    let expected = hex::encode(Sha256::digest(b"11:grouping:v1,8:fallback,"));
    assert_eq!(hashes(&json!({})), [expected]);
    // "ab"+"c" and "a"+"bc" must not collide.
    let a = hash_tokens(["ab", "c"]);
    let b = hash_tokens(["a", "bc"]);
    assert_ne!(a, b);
}

#[test]
fn hash_prefix_names_the_grouping_config_and_hex_matches_the_hex_crate() {
    assert_eq!(HASH_PREFIX, format!("grouping:{GROUPING_CONFIG}"));
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
}

#[test]
fn custom_fingerprint_is_one_hash_over_resolved_entries() {
    let event = json!({"platform": "python", "transaction": "/pay", "level": "error", "tags": {"region": "eu"},
        "exception": {"values": [{"type": "E", "value": "v 1", "stacktrace": {"frames": [
            {"function": "charge", "module": "app.pay", "abs_path": "/srv/app/pay.py", "filename": "app/pay.py", "in_app": true}
        ]}}]},
        "fingerprint": ["{{type}}", "{{ error.value }}", "{{ message }}", "{{ function }}", "{{ stack.module }}",
            "{{ path }}", "{{ stack.filename }}", "{{ transaction }}", "{{ level }}", "{{ logger }}",
            "{{ tags.region }}", "{{ tags.missing }}", "{{ bogus }}", "literal"]});
    let grouping = group(&event, &GroupingRules::default());
    let resolved = grouping.explain.pointer("/fingerprint/resolved").cloned();
    assert_eq!(
        resolved,
        Some(json!([
            "E",
            "v 1",
            "v <int>",
            "charge",
            "app.pay",
            "/srv/app/pay.py",
            "app/pay.py",
            "/pay",
            "error",
            "<no-logger>",
            "eu",
            "<no-value-for-tag-missing>",
            "<unrecognized-variable-bogus>",
            "literal"
        ]))
    );
    let tokens: Vec<String> = std::iter::once("fingerprint".to_owned())
        .chain(
            resolved
                .iter()
                .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                .map(|v| format!("fp={}", v.as_str().unwrap_or(""))),
        )
        .collect();
    assert_eq!(grouping.hashes, [hash_tokens(tokens.iter().map(String::as_str))]);
}

#[test]
fn default_only_fingerprint_equals_no_fingerprint() {
    let base = json!({"platform": "python", "logentry": {"message": "x"}});
    let mut with = base.clone();
    with["fingerprint"] = json!(["{{default}}"]);
    assert_eq!(hashes(&base), hashes(&with));
    with["fingerprint"] = json!([]);
    assert_eq!(hashes(&base), hashes(&with));
}

#[test]
fn hybrid_salts_every_variant() {
    let event = json!({"platform": "python", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "a", "module": "app.a", "in_app": true},
        {"function": "b", "module": "lib.b", "in_app": false}]}}]},
        "fingerprint": ["{{ default }}", "x"]});
    let mut plain = event.clone();
    plain["fingerprint"] = json!(null);
    let salted = hashes(&event);
    let unsalted = hashes(&plain);
    assert_eq!(salted.len(), 2);
    assert_eq!(unsalted.len(), 2);
    assert!(salted.iter().all(|h| !unsalted.contains(h)));
}

#[test]
fn app_and_system_hashes_are_ordered_and_deduplicated() {
    let mixed = json!({"platform": "python", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "a", "module": "app.a", "in_app": true},
        {"function": "b", "module": "lib.b", "in_app": false}]}}]}});
    let grouping = group(&mixed, &GroupingRules::default());
    assert_eq!(grouping.hashes.len(), 2);
    assert_eq!(grouping.explain.pointer("/variants/0/name"), Some(&json!("app")));
    assert_eq!(
        grouping.explain.pointer("/variants/0/hash"),
        grouping.hashes.first().map(|h| json!(h)).as_ref()
    );
    let all_app = json!({"platform": "python", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "a", "module": "app.a", "in_app": true}]}}]}});
    assert_eq!(hashes(&all_app).len(), 1);
}

#[test]
fn system_only_trace_drops_the_app_variant() {
    let event = json!({"platform": "python", "exception": {"values": [{"type": "E", "value": "boom", "stacktrace": {"frames": [
        {"function": "b", "module": "lib.b", "in_app": false}]}}]}});
    let grouping = group(&event, &GroupingRules::default());
    assert_eq!(grouping.hashes.len(), 1);
    assert_eq!(grouping.explain.pointer("/variants/0/contributes"), Some(&json!(false)));
    assert_eq!(grouping.explain.pointer("/variants/1/contributes"), Some(&json!(true)));
}

#[test]
fn explain_shows_skipped_frames_and_reasons() {
    let event = json!({"platform": "javascript", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "lib", "abs_path": "/app/node_modules/x/y.js", "in_app": true},
        {"function": "forEach", "abs_path": "[native code]", "in_app": true},
        {"function": "run", "abs_path": "/app/src/run.js", "in_app": true}]}}]}});
    let grouping = group(&event, &GroupingRules::default());
    let frames = grouping
        .explain
        .pointer("/exceptions/0/stacktrace/frames")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        frames,
        json!([
            "#0 system lib: filename=y.js function=lib -> system (not in-app); \
             built-in rule: path contains /node_modules/ -> not in-app",
            "#1 in-app forEach: function=forEach -> skipped: browser-inserted frame ([native code])",
            "#2 in-app run: filename=run.js function=run -> app, system",
        ])
    );
    assert_eq!(grouping.explain.get("strategy"), Some(&json!("exception")));
}

#[test]
fn threads_strategy_uses_the_only_crashed_thread() {
    let thread = |name: &str, crashed: bool| {
        json!({"crashed": crashed, "stacktrace": {"frames": [
        {"function": name, "filename": "/src/x.c", "in_app": true}]}})
    };
    let a = json!({"platform": "native", "threads": {"values": [thread("render", true), thread("idle", false)]}});
    let b = json!({"platform": "native", "threads": {"values": [thread("render", true), thread("poll", false)]}});
    assert_eq!(hashes(&a), hashes(&b));
    assert_eq!(
        group(&a, &GroupingRules::default()).explain.get("strategy"),
        Some(&json!("threads"))
    );
    // Two crashed threads: no unique pick, falls through to the message.
    let c = json!({"platform": "native", "logentry": {"message": "m"},
        "threads": {"values": [thread("render", true), thread("poll", true)]}});
    assert_eq!(
        group(&c, &GroupingRules::default()).explain.get("strategy"),
        Some(&json!("message"))
    );
}

#[test]
fn top_level_stacktrace_strategy_prefixes_stacktrace() {
    let event =
        json!({"platform": "python", "stacktrace": {"frames": [{"function": "f", "module": "app.m", "in_app": true}]}});
    let grouping = group(&event, &GroupingRules::default());
    assert_eq!(grouping.explain.get("strategy"), Some(&json!("stacktrace")));
    assert_eq!(
        grouping.explain.pointer("/variants/0/tokens"),
        Some(&json!(["stacktrace", "frame", "module=app.m", "function=f"]))
    );
}

fn exc(id: u64, parent: Option<u64>, ty: &str, group: bool, function: &str) -> Value<'static> {
    let mut mechanism = json!({"type": "chained", "exception_id": id, "is_exception_group": group});
    if let Some(parent) = parent {
        mechanism["parent_id"] = json!(parent);
    }
    json!({"type": ty, "value": format!("v{id}"), "mechanism": mechanism,
        "stacktrace": {"frames": [{"function": function, "module": "app.m", "in_app": true}]}})
}

#[test]
fn exception_group_of_identical_errors_groups_like_one_error() {
    let group_event = json!({"platform": "python", "exception": {"values": [
        exc(1, Some(0), "ValueError", false, "work"),
        exc(2, Some(0), "ValueError", false, "work"),
        exc(3, Some(0), "ValueError", false, "work"),
        exc(0, None, "ExceptionGroup", true, "gather"),
    ]}});
    let plain = json!({"platform": "python", "exception": {"values": [
        {"type": "ValueError", "value": "v", "stacktrace": {"frames": [{"function": "work", "module": "app.m", "in_app": true}]}}
    ]}});
    assert_eq!(hashes(&group_event), hashes(&plain));
}

#[test]
fn exception_group_of_different_errors_includes_the_root() {
    let a = json!({"platform": "python", "exception": {"values": [
        exc(1, Some(0), "ValueError", false, "work"),
        exc(2, Some(0), "KeyError", false, "work"),
        exc(0, None, "ExceptionGroup", true, "gather"),
    ]}});
    let b = json!({"platform": "python", "exception": {"values": [
        exc(1, Some(0), "ValueError", false, "work"),
        exc(2, Some(0), "KeyError", false, "work"),
        exc(0, None, "ExceptionGroup", true, "other"),
    ]}});
    assert_ne!(hashes(&a), hashes(&b));
    let tokens = group(&a, &GroupingRules::default())
        .explain
        .pointer("/variants/0/tokens")
        .cloned()
        .map(serde_json::Value::from);
    let tokens: Vec<String> = serde_json::from_value(tokens.unwrap_or_default()).unwrap_or_default();
    let types: Vec<&str> = tokens.iter().filter_map(|t| t.strip_prefix("type=")).collect();
    assert_eq!(types, ["ExceptionGroup", "KeyError", "ValueError"]);
}

#[test]
fn chain_with_ids_groups_like_the_same_chain_without() {
    let with_ids = json!({"platform": "python", "exception": {"values": [
        exc(1, Some(0), "KeyError", false, "load"),
        exc(0, None, "RuntimeError", false, "get"),
    ]}});
    let mut without = with_ids.clone();
    for e in without["exception"]["values"].as_array_mut().into_iter().flatten() {
        e["mechanism"] = json!({"type": "chained"});
    }
    assert_eq!(hashes(&with_ids), hashes(&without));
}

#[test]
fn malformed_exception_tree_falls_back_to_the_list() {
    let cyclic = json!({"platform": "python", "exception": {"values": [
        exc(1, Some(0), "A", true, "a"),
        exc(0, Some(1), "B", true, "b"),
    ]}});
    assert_eq!(hashes(&cyclic).len(), 1);
    let self_parent = json!({"platform": "python", "exception": {"values": [
        exc(1, Some(1), "A", false, "a"),
        exc(0, None, "B", false, "b"),
    ]}});
    assert_eq!(hashes(&self_parent).len(), 1);
}

#[test]
fn fingerprint_rule_overrides_default_grouping_and_is_explained() {
    let rules = GroupingRules::parse("error.type:DatabaseUnavailable -> system-down", "");
    let Ok(rules) = rules else { panic!("valid rule") };
    let a = json!({"platform": "python", "exception": {"values": [{"type": "DatabaseUnavailable", "stacktrace": {"frames": [
        {"function": "a", "module": "app.a", "in_app": true}]}}]}});
    let b = json!({"platform": "python", "exception": {"values": [{"type": "DatabaseUnavailable", "stacktrace": {"frames": [
        {"function": "b", "module": "app.b", "in_app": true}]}}]}});
    let ga = group(&a, &rules);
    assert_eq!(ga.hashes, group(&b, &rules).hashes);
    assert_ne!(hashes(&a), hashes(&b));
    assert_eq!(
        ga.explain.pointer("/rules_fired/0"),
        Some(&json!(
            "fingerprint rule line 1: error.type:DatabaseUnavailable -> system-down"
        ))
    );
    assert_eq!(ga.explain.pointer("/fingerprint/kind"), Some(&json!("custom")));
}

#[test]
fn stacktrace_rules_change_in_app_and_grouping() {
    let Ok(rules) = GroupingRules::parse("", "stack.function:malloc -group\nstack.module:vendor.* +app") else {
        panic!("valid rules")
    };
    let event = |extra: &str| {
        json!({"platform": "python", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "main", "module": "app.main", "in_app": true},
        {"function": "helper", "module": "vendor.util", "in_app": false},
        {"function": extra, "module": "app.mem", "in_app": true}]}}]}})
    };
    let a = group(&event("malloc"), &rules);
    let tokens = a.explain.pointer("/variants/0/tokens").cloned().unwrap_or_default();
    assert_eq!(
        tokens,
        json!([
            "exception",
            "type=E",
            "frame",
            "module=app.main",
            "function=main",
            "frame",
            "module=vendor.util",
            "function=helper"
        ])
    );
    let fired = a.explain.get("rules_fired").cloned().unwrap_or_default();
    assert_eq!(
        fired,
        json!([
            "stack-trace rule line 2: stack.module:vendor.* +app",
            "stack-trace rule line 1: stack.function:malloc -group"
        ])
    );
    // Without rules the same event keeps malloc and leaves vendor out of the app hash.
    assert_ne!(a.hashes.first(), hashes(&event("malloc")).first());
}

#[test]
fn message_strategy_prefers_the_template() {
    let event = json!({"platform": "python", "logentry": {"message": "user %s locked out", "formatted": "user bob locked out"}});
    let grouping = group(&event, &GroupingRules::default());
    assert_eq!(
        grouping.explain.pointer("/variants/0/tokens"),
        Some(&json!(["message=user %s locked out"]))
    );
    assert_eq!(
        grouping.explain.pointer("/message_source"),
        Some(&json!("logentry.message"))
    );
}

#[test]
fn hostile_shapes_never_panic() {
    for event in [
        json!(null),
        json!([]),
        json!({"exception": {"values": "x"}}),
        json!({"exception": {"values": [1, null, {"stacktrace": {"frames": [null, 3, {"function": 5}]}}]}}),
        json!({"threads": {"values": [{"stacktrace": 1}]}}),
        json!({"fingerprint": [{"a": 1}, "{{", "}}"]}),
        json!({"stacktrace": {"frames": [{"function": "operator<<<<(((", "platform": "native"}]}}),
        json!({"logentry": {"formatted": "\n\n\n"}}),
    ] {
        let grouping = group(&event, &GroupingRules::default());
        assert!(!grouping.hashes.is_empty());
        let _ = summarize(&event);
    }
}

fn python_event(ty: &str, functions: &[String], lines: &[u32], message: &str, noise: u64) -> Value<'static> {
    let frames: Vec<Value> = functions
        .iter()
        .zip(lines)
        .map(|(function, line)| {
            json!({"function": function, "module": format!("app.{function}"), "lineno": line,
                "in_app": true, "vars": {"n": noise}})
        })
        .collect();
    json!({"event_id": format!("{noise:032x}"), "timestamp": noise, "platform": "python",
        "exception": {"values": [{"type": ty, "value": message, "stacktrace": {"frames": frames}}]}})
}

proptest! {
    #[test]
    fn noise_does_not_split_groups(
        functions in prop::collection::vec("[a-z]{1,8}", 1..6),
        lines_a in prop::collection::vec(1u32..5000, 6),
        lines_b in prop::collection::vec(1u32..5000, 6),
        noise_a in any::<u64>(),
        noise_b in any::<u64>(),
        n_a in any::<u32>(),
        n_b in any::<u32>(),
    ) {
        let a = python_event("ValueError", &functions, &lines_a, &format!("order {n_a} failed"), noise_a);
        let b = python_event("ValueError", &functions, &lines_b, &format!("order {n_b} failed"), noise_b);
        prop_assert_eq!(hashes(&a), hashes(&b));
        let message = |n: u32| json!({"platform": "python", "event_id": format!("{n:x}"), "logentry": {"formatted": format!("retry {n} of 5 after {n}ms")}});
        prop_assert_eq!(hashes(&message(n_a)), hashes(&message(n_b)));
    }

    #[test]
    fn type_or_in_app_function_splits_groups(
        functions in prop::collection::vec("[a-z]{1,8}", 1..6),
        lines in prop::collection::vec(1u32..5000, 6),
        other in "[a-z]{1,8}",
        index in any::<prop::sample::Index>(),
    ) {
        let a = python_event("ValueError", &functions, &lines, "x", 1);
        let b = python_event("KeyError", &functions, &lines, "x", 1);
        prop_assert!(!same_group(&a, &b));
        let mut changed = functions.clone();
        let at = index.index(changed.len());
        prop_assume!(changed.get(at) != Some(&other));
        if let Some(slot) = changed.get_mut(at) {
            *slot = other.clone();
        }
        let c = python_event("ValueError", &changed, &lines, "x", 1);
        prop_assert!(!same_group(&a, &c));
    }
}

#[test]
fn hashes_without_the_explanation_agree_under_project_rules() {
    let Ok(rules) = GroupingRules::parse(
        "error.type:DatabaseUnavailable -> system-down\nerror.type:Hybrid -> {{ default }}, {{ level }}",
        "stack.function:malloc -group\nstack.module:vendor.* +app",
    ) else {
        panic!("valid rules")
    };
    let frames = json!([
        {"function": "main", "module": "app.main", "in_app": true},
        {"function": "helper", "module": "vendor.util", "in_app": false},
        {"function": "malloc", "module": "app.mem", "in_app": true}]);
    let events = [
        json!({"platform": "python", "exception": {"values": [{"type": "DatabaseUnavailable", "stacktrace": {"frames": frames}}]}}),
        json!({"platform": "python", "level": "error", "exception": {"values": [{"type": "Hybrid", "stacktrace": {"frames": frames}}]}}),
        json!({"platform": "python", "exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]}}),
        json!({"platform": "python", "threads": {"values": [{"crashed": true, "stacktrace": {"frames": frames}}]}}),
        json!({"platform": "python", "stacktrace": {"frames": frames}}),
        json!({"platform": "python", "logentry": {"message": "user %s failed", "formatted": "user 7 failed"}}),
        json!({"platform": "python"}),
        json!({"platform": "python", "fingerprint": ["{{ default }}", "checkout"], "message": "m"}),
        json!({"platform": "python", "fingerprint": ["checkout"]}),
    ];
    for event in &events {
        let explained = group(event, &rules);
        assert_eq!(group_hashes(event, &rules), explained.hashes, "{event}");
        assert!(explained.explain.is_object());
    }
}
