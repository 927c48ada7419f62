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

/// The id of the only issue.
fn only_issue(server: &TestServer) -> String {
    let issues = server.issues("");
    assert_eq!(issues.len(), 1, "{issues:?}");
    issues[0]["id"].as_str().expect("id").to_string()
}

fn post_note(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let response = server
        .api(reqwest::Method::POST, path)
        .json(body)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn notes_are_scrubbed_listed_edited_deleted_and_shown_in_activity() {
    let server = spawn_server();
    send(&server, "TypeError", "boom", 1.0, "a");
    let id = only_issue(&server);
    let org_notes = format!("/api/0/organizations/errata/issues/{id}/notes/");

    let (status, note) = post_note(&server, &org_notes, &json!({"text": "rotated it, password=hunter2"}));
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["type"], "note");
    assert!(note["id"].is_string());
    assert!(note["dateCreated"].as_str().unwrap().ends_with('Z'));
    let text = note["data"]["text"].as_str().expect("text");
    assert!(text.starts_with("rotated it"), "{text}");
    assert!(!text.contains("hunter2"), "the secret is scrubbed: {text}");
    assert!(note["user"].is_object(), "a user token writes as its user: {note}");

    // The same notes under every path form.
    for path in [
        org_notes.clone(),
        format!("/api/0/issues/{id}/notes/"),
        format!("/api/0/groups/{id}/notes/"),
    ] {
        let list = server.get_ok(&path);
        assert_eq!(list.as_array().unwrap().len(), 1, "{path}: {list}");
        assert_eq!(list[0]["id"], note["id"]);
    }

    let note_id = note["id"].as_str().unwrap();
    let (status, edited) = server.put_json(
        &format!("/api/0/issues/{id}/notes/{note_id}/"),
        &json!({"text": "fixed"}),
    );
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["data"]["text"], "fixed");

    // Status changes leave activity, newest first, beside the note.
    let (status, _) = server.put_json(&format!("/api/0/issues/{id}/"), &json!({"status": "resolved"}));
    assert_eq!(status, 200);
    let detail = server.get_ok(&format!("/api/0/organizations/errata/issues/{id}/"));
    let kinds: Vec<&str> = detail["activity"]
        .as_array()
        .expect("activity")
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["set_resolved", "note", "first_seen"], "{detail}");
    let activities = server.get_ok(&format!("/api/0/issues/{id}/activities/"));
    assert_eq!(activities["activity"].as_array().unwrap().len(), 3);

    // Bad bodies are field errors; unknown notes are 404s.
    let (status, body) = post_note(&server, &org_notes, &json!({"text": "  "}));
    assert_eq!(status, 400, "{body}");
    assert!(body["text"].is_array(), "{body}");
    let (status, body) = post_note(&server, &org_notes, &json!({"text": "x".repeat(10_001)}));
    assert_eq!(status, 400, "{body}");
    let (status, _) = post_note(&server, "/api/0/issues/999999/notes/", &json!({"text": "hi"}));
    assert_eq!(status, 404);

    let delete = |path: &str| {
        server
            .api(reqwest::Method::DELETE, path)
            .send()
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(delete(&format!("/api/0/issues/{id}/notes/{note_id}/")), 204);
    assert_eq!(delete(&format!("/api/0/issues/{id}/notes/{note_id}/")), 404);
    assert_eq!(server.get_ok(&org_notes).as_array().unwrap().len(), 0);
}

#[test]
fn an_issues_activity_goes_with_it() {
    let server = spawn_server();
    send(&server, "TypeError", "boom", 1.0, "a");
    let id = only_issue(&server);
    let (status, _) = post_note(&server, &format!("/api/0/issues/{id}/notes/"), &json!({"text": "mine"}));
    assert_eq!(status, 201);
    assert_eq!(server.db().scalar("SELECT count(*) FROM issue_activity", &[]), 1);
    let status = server
        .api(reqwest::Method::DELETE, &format!("/api/0/issues/{id}/"))
        .send()
        .expect("request")
        .status();
    assert_eq!(status.as_u16(), 202);
    assert_eq!(server.db().scalar("SELECT count(*) FROM issue_activity", &[]), 0);
    let (status, _, _) = server.get(&format!("/api/0/issues/{id}/notes/"));
    assert_eq!(status, 404);
}

#[test]
fn organization_tags_count_keys_over_the_window() {
    let server = spawn_server();
    for browser in ["chrome", "chrome", "firefox"] {
        let mut event = exception_event("TypeError", "boom", "app.work", "handle");
        event["tags"] = json!({"browser": browser});
        server.send_event(&event);
    }
    let (status, headers, tags) = server.get("/api/0/organizations/errata/tags/?statsPeriod=24h");
    assert_eq!(status, 200, "{tags}");
    assert!(headers.get("link").is_some());
    let browser = tags
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["key"] == "browser")
        .unwrap_or_else(|| panic!("browser in {tags}"));
    assert_eq!(browser["name"], "Browser");
    assert_eq!(browser["totalValues"], 3);
    assert_eq!(browser["uniqueValues"], 2);
    let (status, _, body) = server.get("/api/0/organizations/errata/tags/?statsPeriod=400d");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn a_trace_answers_its_errors_and_an_unknown_one_nothing() {
    let server = spawn_server();
    let trace = "a4d1aae7216b47ff8117cf4e09ce9d0a";
    let mut event = exception_event("TypeError", "boom", "app.work", "handle");
    event["contexts"] = json!({"trace": {"trace_id": trace, "span_id": "b4d1aae7216b47ff"}});
    let event_id = server.send_event(&event);
    send(&server, "ValueError", "elsewhere", 1.0, "b");

    let errors = server.get_ok(&format!(
        "/api/0/organizations/errata/trace/{trace}/?limit=1000&project=-1&statsPeriod=14d"
    ));
    let errors = errors.as_array().expect("array");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["event_id"], event_id.as_str());
    assert_eq!(errors[0]["title"], "TypeError: boom");
    assert_eq!(errors[0]["project_slug"], "default");
    assert!(errors[0]["short_id"].as_str().unwrap().starts_with("DEFAULT-"));

    let meta = server.get_ok(&format!(
        "/api/0/organizations/errata/trace-meta/{trace}/?statsPeriod=14d"
    ));
    assert_eq!(meta["errors"], 1);
    assert_eq!(meta["span_count"], 0);
    assert!(meta["transaction_child_count_map"].is_array());

    let none = server.get_ok("/api/0/organizations/errata/trace/00000000000000000000000000000001/");
    assert_eq!(none, json!([]));
    let (status, _, body) = server.get("/api/0/organizations/errata/trace/not-a-trace/");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn grafana_issue_list_takes_its_parameters_and_links_to_the_web_page() {
    let server = spawn_server();
    send(&server, "TypeError", "boom", 1.0, "a");
    send(&server, "ValueError", "bad", 2.0, "b");
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S");
    let end = (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S");
    for sort in ["date", "new", "freq", "user", "priority", "trends"] {
        let issues = server.get_ok(&format!(
            "/api/0/organizations/errata/issues/?query=is:unresolved&start={start}&end={end}\
             &sort={sort}&limit=10000&project=1&environment=production&environment=staging"
        ));
        assert_eq!(issues.as_array().unwrap().len(), 2, "sort={sort}: {issues}");
        let issue = &issues[0];
        let id = issue["id"].as_str().unwrap();
        assert_eq!(
            issue["permalink"],
            format!("{}/organizations/errata/issues/{id}/", server.base)
        );
        assert!(issue["count"].is_string() && issue["userCount"].is_i64());
    }
    // The stats series the issue lists attach.
    let listed = server.get_ok("/api/0/projects/errata/default/issues/?statsPeriod=14d&query=");
    assert_eq!(listed[0]["stats"]["14d"].as_array().unwrap().len(), 14);
    let listed = server.get_ok("/api/0/projects/errata/default/issues/?statsPeriod=24h&query=");
    let day = listed[0]["stats"]["24h"].as_array().unwrap();
    assert_eq!(day.len(), 24);
    assert_eq!(day.iter().map(|p| p[1].as_i64().unwrap()).sum::<i64>(), 1);
    let listed = server.get_ok("/api/0/projects/errata/default/issues/?statsPeriod=&query=");
    assert!(listed[0].get("stats").is_none());
}
