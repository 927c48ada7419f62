//! End to end with the real `@sentry/node` SDK against the real `errata` binary: errors,
//! a transaction and a session; every event stored and grouped, no send failure reported.

mod common;

use common::*;
use serde_json::Value;

/// What the Node SDK's debug log says when a send fails or data is dropped.
const NODE_FAILURES: &[&str] = &[
    "Sentry responded with status code",
    "Encountered error running transport request",
    "Skipped sending event because buffer is full",
    "Dropping client report",
    "Envelope was discarded",
    "Event dropped",
];

fn outcome_total(outcomes: &Value, category: &str) -> i64 {
    outcomes["rows"]
        .as_array()
        .expect("outcome rows")
        .iter()
        .filter(|r| r["category"] == category && r["outcome"] == "accepted")
        .map(|r| r["quantity"].as_i64().expect("quantity"))
        .sum()
}

#[test]
fn node_sdk_errors_transaction_and_session_are_all_accepted_and_grouped() {
    let deps = e2e_deps("node");
    let server = BinaryServer::start();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/node_traffic.js");
    let (ok, output) = run_output(
        std::process::Command::new("node")
            .arg(script)
            .arg(&server.dsn)
            .env("NODE_PATH", deps.join("node/node_modules")),
    );
    assert!(ok, "node sender failed:\n{output}");
    assert!(output.contains("flushed: true"), "the SDK did not flush:\n{output}");
    for bad in NODE_FAILURES {
        assert!(!output.contains(bad), "SDK reported a send failure ({bad}):\n{output}");
    }

    let issues = server.get("/api/0/projects/errata/default/issues/?query=");
    let issues = issues.as_array().expect("issue list");
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let by_type = |ty: &str| -> &Value {
        issues
            .iter()
            .find(|i| i["metadata"]["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty} issue in {issues:#?}"))
    };
    let range = by_type("RangeError");
    assert_eq!(range["count"], "5");
    assert!(
        range["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("RangeError: cannot divide")),
        "{range}"
    );
    assert_eq!(by_type("TypeError")["count"], "1");
    let events = server.get(&format!("/api/0/issues/{}/events/", range["id"].as_str().expect("id")));
    assert_eq!(events.as_array().expect("events").len(), 5);

    let outcomes = server.get("/api/0/projects/errata/default/outcomes/");
    assert_eq!(outcome_total(&outcomes, "error"), 6, "{outcomes:#}");
    // Depending on its version the SDK sends a transaction or streams its spans.
    let traced = outcome_total(&outcomes, "transaction") + outcome_total(&outcomes, "span");
    assert!(traced >= 1, "{outcomes:#}");
    assert!(outcome_total(&outcomes, "session") >= 1, "{outcomes:#}");
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.base))
        .expect("metrics")
        .text()
        .expect("metrics text");
    assert!(
        metrics.lines().any(|l| l.starts_with("errata_outcomes_total{")
            && l.contains("category=\"error\"")
            && l.contains("outcome=\"accepted\"")),
        "no outcome counter in /metrics:\n{metrics}"
    );
    assert_eq!(server.stop().code(), Some(0));
}
