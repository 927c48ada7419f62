//! The organization event search (`/organizations/{org}/events/`) and outcome stats
//! (`/organizations/{org}/stats_v2/`) as Sentry's MCP server and Grafana call them, against a
//! real server. Run on SQLite here and on PostgreSQL through tests/pg_suites.rs.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::json;

const EVENTS: &str = "/api/0/organizations/errata/events/";
const STATS: &str = "/api/0/organizations/errata/stats_v2/";

/// Sends events of two kinds: three `boom` (production, users a, b, a) and two `bad`
/// (staging, user c), a minute apart, newest first; returns their ids in that order.
fn send_mix(server: &TestServer) -> Vec<String> {
    let now = chrono::Utc::now().timestamp() as f64;
    let plan = [
        ("TypeError", "boom", "production", "a", "chrome"),
        ("ValueError", "bad", "staging", "c", "firefox"),
        ("TypeError", "boom", "production", "b", "chrome"),
        ("TypeError", "boom", "production", "a", "safari"),
        ("ValueError", "bad", "staging", "c", "firefox"),
    ];
    plan.iter()
        .enumerate()
        .map(|(i, (ty, value, env, user, browser))| {
            let mut event = exception_event(ty, value, "app.work", &format!("handle_{value}"));
            event["timestamp"] = json!(now - 60.0 * (i as f64 + 1.0));
            event["environment"] = json!(env);
            event["release"] = json!("app@1.0");
            event["user"] = json!({"id": user});
            event["tags"] = json!({"browser": browser});
            server.send_event(&event)
        })
        .collect()
}

/// The `cursor` of the `next` link and whether it has results.
fn next_cursor(headers: &reqwest::header::HeaderMap) -> (String, bool) {
    let link = headers
        .get("link")
        .and_then(|v| v.to_str().ok())
        .expect("a Link header");
    let next = link
        .split(", <")
        .find(|part| part.contains("rel=\"next\""))
        .expect("a next link");
    let cursor = next
        .split("cursor=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a cursor")
        .to_string();
    (cursor, next.contains("results=\"true\""))
}

#[test]
fn events_list_columns_newest_first_with_meta_types() {
    let server = spawn_server();
    let ids = send_mix(&server);
    let body = server.get_ok(&format!(
        "{EVENTS}?dataset=errors&field=id&field=title&field=issue&field=project&field=timestamp\
         &field=environment&field=release&field=user.display&field=tags[browser]&field=level\
         &sort=-timestamp&statsPeriod=24h&project=-1"
    ));
    let data = body["data"].as_array().expect("data");
    let got: Vec<&str> = data.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(data[0]["title"], "TypeError: boom");
    assert_eq!(data[0]["environment"], "production");
    assert_eq!(data[0]["release"], "app@1.0");
    assert_eq!(data[0]["user.display"], "a");
    assert_eq!(data[0]["tags[browser]"], "chrome");
    assert_eq!(data[0]["project"], "default");
    assert_eq!(data[0]["level"], "error");
    assert!(
        data[0]["issue"].as_str().unwrap().starts_with("DEFAULT-"),
        "{}",
        data[0]
    );
    let meta = &body["meta"];
    assert_eq!(meta["fields"]["timestamp"], "date");
    assert_eq!(meta["fields"]["title"], "string");
    assert!(meta["units"].is_object());
    // Oldest first when asked.
    let asc = server.get_ok(&format!("{EVENTS}?field=id&field=timestamp&sort=timestamp"));
    let asc: Vec<&str> = asc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(asc, ids.iter().rev().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn aggregates_count_each_group_exactly() {
    let server = spawn_server();
    send_mix(&server);
    let body = server.get_ok(&format!(
        "{EVENTS}?dataset=errors&field=title&field=count()&field=count_unique(user)&field=last_seen()\
         &sort=-count()&statsPeriod=14d"
    ));
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2, "{body}");
    assert_eq!(data[0]["title"], "TypeError: boom");
    assert_eq!(data[0]["count()"], 3);
    assert_eq!(data[0]["count_unique(user)"], 2);
    assert_eq!(data[1]["title"], "ValueError: bad");
    assert_eq!(data[1]["count()"], 2);
    assert_eq!(data[1]["count_unique(user)"], 1);
    assert!(data[0]["last_seen()"].is_string());
    assert_eq!(body["meta"]["fields"]["count()"], "integer");

    // Ascending puts the smaller group first.
    let asc = server.get_ok(&format!("{EVENTS}?field=title&field=count()&sort=count()"));
    assert_eq!(asc["data"][0]["count()"], 2);

    // Grouped by a tag.
    let by_browser = server.get_ok(&format!("{EVENTS}?field=browser&field=count()&sort=-count()"));
    let counts: HashMap<String, i64> = by_browser["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["browser"].as_str().unwrap().to_string(),
                r["count()"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        HashMap::from([("chrome".into(), 2), ("firefox".into(), 2), ("safari".into(), 1)])
    );
}

#[test]
fn query_environment_and_project_narrow_the_events() {
    let server = spawn_server();
    send_mix(&server);
    let count = |params: &str| -> i64 {
        let body = server.get_ok(&format!("{EVENTS}?field=count(){params}"));
        body["data"][0]["count()"].as_i64().unwrap_or(0)
    };
    assert_eq!(count(""), 5);
    assert_eq!(count("&query=environment:staging"), 2);
    assert_eq!(count("&query=!environment:staging"), 3);
    assert_eq!(count("&environment=production"), 3);
    assert_eq!(count("&query=boom"), 3);
    assert_eq!(count("&query=browser:chr*"), 2);
    assert_eq!(count("&query=user.id:c"), 2);
    assert_eq!(count("&query=is:unresolved level:error"), 5);
    assert_eq!(count("&query=is:resolved"), 0);
    let issue = server.get_ok(&format!("{EVENTS}?field=issue&query=bad"))["data"][0]["issue"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(count(&format!("&query=issue:{issue}")), 2);
    assert_eq!(count(&format!("&project={}", server.project_id)), 5);
    // An old window holds none of them.
    assert_eq!(count("&start=2020-01-01T00:00:00&end=2020-01-02T00:00:00"), 0);
}

#[test]
fn paging_walks_every_event_once() {
    let server = spawn_server();
    let mut sent = send_mix(&server);
    sent.extend(send_mix(&server));
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let (status, headers, body) = server.get(&format!(
            "{EVENTS}?field=id&field=timestamp&sort=-timestamp&per_page=3&cursor={cursor}"
        ));
        assert_eq!(status, 200, "{body}");
        let page = body["data"].as_array().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|r| r["id"].as_str().unwrap().to_string()));
        let (next, more) = next_cursor(&headers);
        if !more {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), sent.len(), "{seen:?}");
    let mut a = seen.clone();
    a.sort();
    a.dedup();
    assert_eq!(a.len(), sent.len(), "no event twice");
    let mut b = sent.clone();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn bad_requests_are_400_and_other_datasets_empty() {
    let server = spawn_server();
    for bad in [
        format!("{EVENTS}?field=p95(transaction.duration)"),
        format!("{EVENTS}?field=title&field=bad%20field"),
        format!("{EVENTS}?dataset=errors"),
        format!("{EVENTS}?field=title&sort=-count()"),
        format!("{EVENTS}?field=title&statsPeriod=1000d"),
        format!("{EVENTS}?field=title&cursor=garbage"),
        format!("{EVENTS}?field=title&query={}", vec!["a:b"; 101].join("%20")),
        format!("{EVENTS}?{}", vec!["field=title"; 21].join("&")),
    ] {
        let (status, _, body) = server.get(&bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["detail"].is_string(), "{bad}: {body}");
    }
    for dataset in ["spans", "logs", "transactions", "ourlogs"] {
        let body = server.get_ok(&format!("{EVENTS}?dataset={dataset}&field=span.op&field=count()"));
        assert_eq!(body["data"], json!([]), "{dataset}");
        assert!(body["meta"]["fields"].is_object());
    }
    let (status, _, _) = server.get("/api/0/organizations/nope/events/?field=title");
    assert_eq!(status, 404);
}

#[test]
fn stats_v2_shows_accepted_and_dropped_by_reason() {
    let server = spawn_server();
    let duplicate = json!({"event_id": "34343434343434343434343434343434", "message": "twice"});
    server.send_event(&duplicate);
    server.send_event(&duplicate);
    send_mix(&server);
    let report = json!({"timestamp": chrono::Utc::now().timestamp(), "discarded_events": [
        {"reason": "queue_overflow", "category": "error", "quantity": 4},
        {"reason": "sample_rate", "category": "transaction", "quantity": 7}]});
    let body = format!("{{}}\n{{\"type\":\"client_report\"}}\n{report}\n");
    assert_eq!(server.post_envelope(body).status(), 200);

    let answer = server.get_ok(&format!(
        "{STATS}?field=sum(quantity)&groupBy=outcome&groupBy=reason&category=error&interval=1d&statsPeriod=2d"
    ));
    let intervals = answer["intervals"].as_array().expect("intervals");
    assert!(!intervals.is_empty() && intervals.len() <= 3, "{answer}");
    assert!(answer["start"].is_string() && answer["end"].is_string());
    let total = |outcome: &str, reason: &str| -> i64 {
        answer["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["by"]["outcome"] == outcome && g["by"]["reason"] == reason)
            .map(|g| {
                let series: i64 = g["series"]["sum(quantity)"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .sum();
                assert_eq!(series, g["totals"]["sum(quantity)"].as_i64().unwrap());
                assert_eq!(g["series"]["sum(quantity)"].as_array().unwrap().len(), intervals.len());
                series
            })
            .sum()
    };
    // The `error` category folds in message (`default`) events: 1 + 5 accepted.
    assert_eq!(total("accepted", ""), 6, "{answer}");
    assert_eq!(total("duplicate", ""), 1, "{answer}");
    assert_eq!(total("client_discard", "queue_overflow"), 4, "{answer}");
    assert_eq!(
        total("client_discard", "sample_rate"),
        0,
        "transactions are another category"
    );

    let by_category = server.get_ok(&format!(
        "{STATS}?field=sum(quantity)&groupBy=category&outcome=client_discard&interval=1h&statsPeriod=1d"
    ));
    let transaction = by_category["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["by"]["category"] == "transaction")
        .expect("a transaction group");
    assert_eq!(transaction["totals"]["sum(quantity)"], 7);

    let ungrouped = server.get_ok(&format!("{STATS}?field=sum(quantity)&outcome=accepted&category=error"));
    assert_eq!(ungrouped["groups"][0]["by"], json!({}));
    assert_eq!(ungrouped["groups"][0]["totals"]["sum(quantity)"], 6);

    for bad in [
        format!("{STATS}?field=sum(bytes)"),
        format!("{STATS}?groupBy=outcome"),
        format!("{STATS}?field=sum(quantity)&groupBy=color"),
        format!("{STATS}?field=sum(quantity)&statsPeriod=5000d"),
    ] {
        let (status, _, body) = server.get(&bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["detail"].is_string(), "{bad}: {body}");
    }
}
