//! End to end with the real Python sentry-sdk against the real `errata` binary.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn python_sdk_errors_become_two_issues_with_exact_counts() {
    let deps = e2e_deps("python");
    let server = BinaryServer::start();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/python_errors.py");
    let (ok, output) = run_output(
        std::process::Command::new(deps.join("venv/bin/python"))
            .arg(script)
            .arg(&server.dsn),
    );
    assert!(ok, "python sender failed:\n{output}");
    // The SDK's debug log reports any non-2xx answer or transport failure.
    for bad in [
        "Unexpected status code",
        "Failed to send",
        "error from sentry",
        "event was dropped",
    ] {
        assert!(!output.contains(bad), "SDK reported a send failure ({bad}):\n{output}");
    }

    let issues = server.get("/api/0/projects/errata/default/issues/?query=");
    let issues = issues.as_array().expect("issue list");
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let by_type = |ty: &str| -> &Value {
        issues
            .iter()
            .find(|i| i["metadata"]["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty} issue"))
    };
    let zero = by_type("ZeroDivisionError");
    assert_eq!(zero["count"], "5");
    assert_eq!(zero["title"], "ZeroDivisionError: division by zero");
    assert_eq!(by_type("KeyError")["count"], "1");

    let id = zero["id"].as_str().unwrap();
    let latest = server.get(&format!("/api/0/issues/{id}/events/latest/"));
    assert_eq!(latest["groupID"], id);
    let exception = latest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "exception")
        .expect("exception entry");
    let frames = exception["data"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .unwrap();
    assert!(
        frames.iter().any(|f| f["function"] == "divide" && f["inApp"] == true),
        "{frames:#?}"
    );
    let events = server.get(&format!("/api/0/issues/{id}/events/"));
    assert_eq!(events.as_array().unwrap().len(), 5);
    assert_eq!(server.stop().code(), Some(0), "errata exits 0 on SIGTERM");
}

#[test]
fn python_sdk_transaction_and_session_are_sent_without_failures() {
    let deps = e2e_deps("python");
    let server = BinaryServer::start();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/python_traffic.py");
    let (ok, output) = run_output(
        std::process::Command::new(deps.join("venv/bin/python"))
            .arg(script)
            .arg(&server.dsn),
    );
    assert!(ok, "python sender failed:\n{output}");
    for bad in [
        "Unexpected status code",
        "Failed to send",
        "error from sentry",
        "event was dropped",
        "Discarded",
    ] {
        assert!(!output.contains(bad), "SDK reported a send failure ({bad}):\n{output}");
    }
    let issues = server.get("/api/0/projects/errata/default/issues/?query=");
    let counts: Vec<(String, String)> = issues
        .as_array()
        .expect("issue list")
        .iter()
        .map(|i| {
            (
                i["metadata"]["type"].as_str().unwrap_or("").to_string(),
                i["count"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(counts.contains(&("ZeroDivisionError".into(), "3".into())), "{counts:?}");
    assert!(counts.contains(&("KeyError".into(), "1".into())), "{counts:?}");
    let outcomes = server.get("/api/0/projects/errata/default/outcomes/");
    let accepted = |category: &str| -> i64 {
        outcomes["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["category"] == category && r["outcome"] == "accepted")
            .map(|r| r["quantity"].as_i64().expect("quantity"))
            .sum()
    };
    assert_eq!(accepted("error"), 4, "{outcomes:#}");
    assert!(accepted("transaction") >= 1, "{outcomes:#}");
    assert!(accepted("session") >= 1, "{outcomes:#}");
    assert_eq!(server.stop().code(), Some(0));
}
