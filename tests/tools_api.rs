//! The endpoints browsing tools call besides the issue and event lists: event counts over
//! time (`events-stats`, Grafana), organization tags, issue notes and activity, and the
//! trace lookups of Sentry's MCP server, against a real server. Run on SQLite here and on
//! PostgreSQL through tests/pg_suites.rs.

mod common;

use common::*;
use serde_json::{Value, json};

const STATS: &str = "/api/0/organizations/errata/events-stats/";

/// Sends `n` events of one exception kind, each `minutes_ago` minutes old, with `user`.
fn send(server: &TestServer, ty: &str, value: &str, minutes_ago: f64, user: &str) -> String {
    let mut event = exception_event(ty, value, "app.work", "handle");
    event["timestamp"] = json!(chrono::Utc::now().timestamp() as f64 - 60.0 * minutes_ago);
    event["environment"] = json!("production");
    event["user"] = json!({"id": user});
    server.send_event(&event)
}

fn total(series: &Value) -> i64 {
    series["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|point| point[1][0]["count"].as_i64().expect("count"))
        .sum()
}

#[test]
fn events_stats_counts_events_per_bucket_as_grafana_asks() {
    let server = spawn_server();
    send(&server, "TypeError", "boom", 5.0, "a");
    send(&server, "TypeError", "boom", 6.0, "b");
    send(&server, "TypeError", "boom", 7.0, "a");
    send(&server, "ValueError", "bad", 8.0, "c");
    send(&server, "KeyError", "gone", 9.0, "c");

    let body = server.get_ok(&format!("{STATS}?yAxis=count()&interval=1h&statsPeriod=24h&partial=1"));
    let data = body["data"].as_array().expect("data");
    assert!(data.len() == 24 || data.len() == 25, "{} buckets", data.len());
    assert_eq!(total(&body), 5);
    assert!(body["start"].is_i64() && body["end"].is_i64(), "{body}");
    assert_eq!(data[1][0].as_i64().unwrap() - data[0][0].as_i64().unwrap(), 3600);

    let users = server.get_ok(&format!(
        "{STATS}?yAxis=count_unique(user)&interval=1d&statsPeriod=2d&partial=1&query=TypeError"
    ));
    assert_eq!(total(&users), 2, "{users}");

    // Grafana's top-events request: naive start/end, topEvents, excludeOther.
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S");
    let end = (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S");
    let top = server.get_ok(&format!(
        "{STATS}?query=&start={start}&end={end}&interval=10m&partial=1&excludeOther=1&topEvents=2\
         &field=title&field=count()&yAxis=count()&project=-1&environment=production"
    ));
    let labels: Vec<&String> = top.as_object().expect("object").keys().collect();
    assert_eq!(labels.len(), 2, "{top}");
    assert_eq!(total(&top["TypeError: boom"]), 3);
    assert_eq!(top["TypeError: boom"]["order"], 0);
    assert!(top.get("Other").is_none());

    let with_other = server.get_ok(&format!(
        "{STATS}?statsPeriod=1h&interval=10m&partial=1&topEvents=1&field=title&yAxis=count()"
    ));
    assert_eq!(total(&with_other["TypeError: boom"]), 3);
    assert_eq!(total(&with_other["Other"]), 2, "{with_other}");
    assert_eq!(with_other["Other"]["order"], 1);
}

#[test]
fn events_stats_refuses_too_many_buckets_and_unknown_axes() {
    let server = spawn_server();
    let (status, _, body) = server.get(&format!("{STATS}?statsPeriod=30d&interval=1m"));
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("buckets"), "{body}");
    let (status, _, body) = server.get(&format!("{STATS}?yAxis=p99(transaction.duration)"));
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = server.get(&format!("{STATS}?query=is:bogus"));
    assert_eq!(status, 400, "{body}");
    // A dataset Errata does not keep answers zero-filled buckets.
    let spans = server.get_ok(&format!("{STATS}?dataset=spans&statsPeriod=1h&interval=1h"));
    assert_eq!(total(&spans), 0);
}
