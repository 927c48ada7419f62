//! Grouping against a real server: the explanation endpoint, merge and unmerge with
//! exact aggregates, version-tagged hashes, secondary-hash joins, and project rules
//! set through the API and the CLI.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{Value, json};

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// An exception from `function`, `hours_ago` hours back, by `user`, with a `shard` tag.
fn event_at(function: &str, hours_ago: f64, user: &str, release: &str, shard: &str) -> Value {
    let mut event = exception_event("ValueError", "bad order", "app.orders", function);
    event["timestamp"] = json!(now_secs() - hours_ago * 3600.0);
    event["user"] = json!({"id": user});
    event["release"] = json!(release);
    event["tags"] = json!({"shard": shard});
    event
}

fn issue_of_event(server: &TestServer, event_id: &str) -> String {
    let event = server.get_ok(&format!("/api/0/projects/errata/default/events/{event_id}/"));
    event["groupID"].as_str().expect("groupID").to_string()
}

fn tag_counts(server: &TestServer, issue: &str, key: &str) -> BTreeMap<String, i64> {
    let values = server.get_ok(&format!("/api/0/issues/{issue}/tags/{key}/values/"));
    values
        .as_array()
        .expect("tag values")
        .iter()
        .map(|v| (v["value"].as_str().unwrap().to_string(), v["count"].as_i64().unwrap()))
        .collect()
}

#[test]
fn merge_keeps_counts_users_tags_and_seen_times_exact() {
    let server = spawn_server();
    let a = [
        event_at("alpha", 30.0, "u1", "shop@1.0", "eu"),
        event_at("alpha", 20.0, "u2", "shop@1.0", "eu"),
        event_at("alpha", 2.0, "u2", "shop@1.1", "us"),
    ];
    let b = [
        event_at("beta", 40.0, "u2", "shop@0.9", "eu"),
        event_at("beta", 1.0, "u3", "shop@1.2", "ap"),
    ];
    let a_ids: Vec<String> = a.iter().map(|e| server.send_event(e)).collect();
    let b_ids: Vec<String> = b.iter().map(|e| server.send_event(e)).collect();
    let (ia, ib) = (issue_of_event(&server, &a_ids[0]), issue_of_event(&server, &b_ids[0]));
    assert_ne!(ia, ib, "different in-app functions open different issues");
    let before_a = server.get_ok(&format!("/api/0/issues/{ia}/"));
    let before_b = server.get_ok(&format!("/api/0/issues/{ib}/"));

    let (status, body) = server.put_json(
        &format!("/api/0/projects/errata/default/issues/?id={ia}&id={ib}"),
        &json!({"merge": 1}),
    );
    assert_eq!(status, 200, "{body}");
    let issues = server.issues("");
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let merged = &issues[0];
    let id = merged["id"].as_str().unwrap();
    assert_eq!(merged["count"], "5");
    assert_eq!(merged["userCount"], 3, "u1, u2, u3: u2 is counted once");
    assert_eq!(
        merged["firstSeen"],
        before_a["firstSeen"]
            .as_str()
            .min(before_b["firstSeen"].as_str())
            .unwrap()
    );
    assert_eq!(
        merged["lastSeen"],
        before_a["lastSeen"]
            .as_str()
            .max(before_b["lastSeen"].as_str())
            .unwrap()
    );
    assert_eq!(
        tag_counts(&server, id, "shard"),
        BTreeMap::from([("eu".into(), 3), ("us".into(), 1), ("ap".into(), 1)])
    );
    assert_eq!(tag_counts(&server, id, "user").values().sum::<i64>(), 5);
    assert_aggregates_exact(&server.db(), id.parse().unwrap());
    let hashes = server.get_ok(&format!("/api/0/issues/{id}/hashes/"));
    assert_eq!(
        hashes.as_array().unwrap().len(),
        2,
        "both issues' hashes now point here"
    );
}

#[test]
fn hashes_list_shows_each_hash_with_its_latest_event() {
    let server = spawn_server();
    let first_alpha = server.send_event(&event_at("alpha", 3.0, "u1", "r1", "eu"));
    let last_alpha = server.send_event(&event_at("alpha", 1.0, "u1", "r1", "eu"));
    let last_beta = server.send_event(&event_at("beta", 2.0, "u1", "r1", "eu"));
    let (ia, ib) = (
        issue_of_event(&server, &first_alpha),
        issue_of_event(&server, &last_beta),
    );
    let (status, _) = server.put_json(
        &format!("/api/0/projects/errata/default/issues/?id={ia}&id={ib}"),
        &json!({"merge": 1}),
    );
    assert_eq!(status, 200);
    let id = issue_of_event(&server, &first_alpha);
    let hashes = server.get_ok(&format!("/api/0/issues/{id}/hashes/"));
    let latest: BTreeSet<String> = hashes
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert_eq!(h["groupingConfig"], "v1");
            assert_eq!(h["id"].as_str().unwrap().len(), 64);
            h["latestEvent"]["eventID"].as_str().expect("latest event").to_string()
        })
        .collect();
    assert_eq!(latest, BTreeSet::from([last_alpha, last_beta]));
}

#[test]
fn unmerge_moves_a_hash_its_events_and_future_events_with_exact_aggregates() {
    let server = spawn_server();
    let alpha = [
        event_at("alpha", 30.0, "u1", "shop@1.0", "eu"),
        event_at("alpha", 5.0, "u2", "shop@1.1", "us"),
    ];
    let beta = [
        event_at("beta", 50.0, "u2", "shop@0.9", "eu"),
        event_at("beta", 10.0, "u3", "shop@1.0", "ap"),
        event_at("beta", 0.5, "u3", "shop@1.2", "eu"),
    ];
    let alpha_ids: Vec<String> = alpha.iter().map(|e| server.send_event(e)).collect();
    let beta_ids: Vec<String> = beta.iter().map(|e| server.send_event(e)).collect();
    let (ia, ib) = (
        issue_of_event(&server, &alpha_ids[0]),
        issue_of_event(&server, &beta_ids[0]),
    );
    let (status, _) = server.put_json(
        &format!("/api/0/projects/errata/default/issues/?id={ia}&id={ib}"),
        &json!({"merge": 1}),
    );
    assert_eq!(status, 200);
    let merged = issue_of_event(&server, &alpha_ids[0]);
    assert_eq!(issue_of_event(&server, &beta_ids[0]), merged);

    // The hash to split off: beta's primary hash, as the explanation shows it.
    let info = server.get_ok(&format!(
        "/api/0/projects/errata/default/events/{}/grouping-info/",
        beta_ids[0]
    ));
    let beta_hash = info["app"]["hash"].as_str().expect("app hash").to_string();
    assert_eq!(info["app"]["issueId"], merged.as_str());

    // Refusals are client errors.
    let (status, body) = server.put_json(
        &format!("/api/0/issues/{merged}/hashes/?id={}", "0".repeat(64)),
        &json!({}),
    );
    assert_eq!(status, 400, "{body}");
    let all: Vec<String> = server
        .get_ok(&format!("/api/0/issues/{merged}/hashes/"))
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("id={}", h["id"].as_str().unwrap()))
        .collect();
    let (status, body) = server.put_json(&format!("/api/0/issues/{merged}/hashes/?{}", all.join("&")), &json!({}));
    assert_eq!(status, 400, "unmerging every hash leaves nothing: {body}");

    let (status, body) = server.put_json(&format!("/api/0/issues/{merged}/hashes/?id={beta_hash}"), &json!({}));
    assert_eq!(status, 202, "{body}");
    let split = body["newIssueId"].as_str().expect("new issue id").to_string();
    assert_eq!(body["eventsMoved"], 3);
    assert_ne!(split, merged);
    for id in &beta_ids {
        assert_eq!(issue_of_event(&server, id), split, "beta events moved");
    }
    for id in &alpha_ids {
        assert_eq!(issue_of_event(&server, id), merged, "alpha events stay");
    }

    let old = server.get_ok(&format!("/api/0/issues/{merged}/"));
    let new = server.get_ok(&format!("/api/0/issues/{split}/"));
    assert_eq!(old["count"], "2");
    assert_eq!(old["userCount"], 2);
    assert_eq!(new["count"], "3");
    assert_eq!(new["userCount"], 2);
    assert_eq!(new["title"], "ValueError: bad order");
    assert_eq!(new["firstRelease"]["version"], "shop@0.9");
    assert_eq!(new["lastRelease"]["version"], "shop@1.2");
    assert_eq!(old["firstRelease"]["version"], "shop@1.0");
    assert_eq!(
        tag_counts(&server, &split, "shard"),
        BTreeMap::from([("eu".into(), 2), ("ap".into(), 1)])
    );
    assert_eq!(
        tag_counts(&server, &merged, "shard"),
        BTreeMap::from([("eu".into(), 1), ("us".into(), 1)])
    );
    let conn = server.db();
    assert_aggregates_exact(&conn, merged.parse().unwrap());
    assert_aggregates_exact(&conn, split.parse().unwrap());
    let new_hashes = server.get_ok(&format!("/api/0/issues/{split}/hashes/"));
    assert_eq!(new_hashes.as_array().unwrap().len(), 1);
    assert_eq!(new_hashes[0]["id"], beta_hash.as_str());

    // A later beta event follows its hash to the new issue.
    let later = server.send_event(&event_at("beta", 0.1, "u4", "shop@1.2", "us"));
    assert_eq!(issue_of_event(&server, &later), split);
    let new = server.get_ok(&format!("/api/0/issues/{split}/"));
    assert_eq!(new["count"], "4");
    assert_eq!(new["userCount"], 3);
    assert_aggregates_exact(&server.db(), split.parse().unwrap());
}

/// Spec example 21, run in the order that exercises learning: the system-only event
/// first, then the full event (unknown app hash, known system hash) joins and teaches
/// the issue its app hash, so a third event known only by that app hash joins too.
#[test]
fn secondary_hash_joins_the_issue_and_teaches_it_the_primary_hash() {
    let server = spawn_server();
    let frames = |app_in_app: bool, library: &str| {
        json!({"platform": "python", "exception": {"values": [{
        "type": "OperationalError", "value": "boom",
        "stacktrace": {"frames": [
            {"function": "handle", "module": "app.orders", "lineno": 20, "in_app": app_in_app},
            {"function": "execute", "module": library, "lineno": 90, "in_app": false}
        ]}}]}})
    };
    let system_only = server.send_event(&frames(false, "psycopg2.cursor"));
    let issue = issue_of_event(&server, &system_only);
    let hashes_before = server.get_ok(&format!("/api/0/issues/{issue}/hashes/"));
    assert_eq!(hashes_before.as_array().unwrap().len(), 1);

    let full = server.send_event(&frames(true, "psycopg2.cursor"));
    assert_eq!(issue_of_event(&server, &full), issue, "joins through its system hash");
    let info = server.get_ok(&format!("/api/0/projects/errata/default/events/{full}/grouping-info/"));
    let app_hash = info["app"]["hash"].as_str().expect("app hash");
    assert_eq!(info["app"]["isPrimary"], true);
    assert_eq!(info["app"]["issueId"], issue.as_str(), "the issue learned the app hash");
    let hashes_after = server.get_ok(&format!("/api/0/issues/{issue}/hashes/"));
    assert_eq!(hashes_after.as_array().unwrap().len(), 2);

    // Same in-app path, different library underneath: only the app hash is shared.
    let other_library = server.send_event(&frames(true, "sqlalchemy.engine"));
    let info = server.get_ok(&format!(
        "/api/0/projects/errata/default/events/{other_library}/grouping-info/"
    ));
    assert_eq!(info["app"]["hash"], app_hash);
    assert_eq!(
        issue_of_event(&server, &other_library),
        issue,
        "joins through the learned app hash"
    );
    assert_eq!(server.issues("").len(), 1);

    // Every event, issue and hash records the grouping version.
    let conn = server.db();
    for (table, column) in [
        ("events", "grouping_config"),
        ("issues", "grouping_config"),
        ("issue_hashes", "grouping_config"),
    ] {
        let versions: Vec<Option<String>> = conn
            .query(&format!("SELECT DISTINCT {column} FROM {table}"), &[])
            .iter()
            .map(|row| row[0].text())
            .collect();
        assert_eq!(versions, vec![Some("v1".to_string())], "{table}");
    }
    let stored = conn.scalar("SELECT count(*) FROM issue_hashes", &[]);
    assert_eq!(stored, 3, "system hash, app hash, and the second library's system hash");
}

#[test]
fn grouping_info_explains_frames_rules_and_404s_unknown_events() {
    let server = spawn_server();
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"groupingEnhancements": "stack.module:vendor.* -app\n"}),
    );
    assert_eq!(status, 200, "{body}");
    let event = json!({"platform": "python", "exception": {"values": [{
    "type": "KeyError", "value": "'id'",
    "stacktrace": {"frames": [
        {"function": "main", "module": "app.cli", "lineno": 3, "in_app": true},
        {"function": "fetch", "module": "vendor.client", "lineno": 12, "in_app": true},
        {"function": "<lambda>", "module": "app.cli", "lineno": 7, "in_app": true}
    ]}}]}});
    let id = server.send_event(&event);
    let info = server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/grouping-info/"));
    let app = &info["app"];
    assert_eq!(app["contributes"], true);
    assert_eq!(app["type"], "component");
    assert_eq!(app["description"], "in-app exception stack-trace");
    assert_eq!(app["config"]["id"], "v1");
    let tokens: Vec<&str> = app["component"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tokens.contains(&"type=KeyError"), "{tokens:?}");
    assert!(tokens.contains(&"module=app.cli"), "{tokens:?}");
    assert!(
        !tokens.contains(&"module=vendor.client"),
        "the rule made vendor frames system: {tokens:?}"
    );
    let explanation = app["explanation"].to_string();
    assert!(
        explanation.contains("stack.module:vendor.* -app"),
        "rules fired: {explanation}"
    );
    assert!(explanation.contains("fetch"), "frames are listed: {explanation}");
    assert!(explanation.contains("not in-app"), "why vendor is out: {explanation}");
    // The event's stored hashes are exactly the contributing variants' hashes.
    let stored = server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/json/"));
    let primary = stored["hashes"][0].as_str().unwrap();
    assert_eq!(app["hash"], primary);

    let (status, _, body) = server.get(&format!(
        "/api/0/projects/errata/default/events/{}/grouping-info/",
        "f".repeat(32)
    ));
    assert_eq!(status, 404, "{body}");
}

#[test]
fn fingerprint_rules_through_the_api_validate_and_apply_to_new_events() {
    let server = spawn_server();
    let before = server.send_event(&exception_event("DatabaseUnavailable", "db down", "app.a", "one"));
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"fingerprintingRules": "error.type:DatabaseUnavailable -> system-down\nerror.type:Foo\n"}),
    );
    assert_eq!(status, 400, "{body}");
    let message = body["fingerprintingRules"][0].as_str().expect("field error");
    assert!(message.starts_with("line 2: "), "{message}");
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"groupingEnhancements": "stack.function:x +bogus"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["groupingEnhancements"][0]
            .as_str()
            .unwrap()
            .starts_with("line 1: "),
        "{body}"
    );

    let rules = "# databases\nerror.type:DatabaseUnavailable -> system-down\n";
    let (status, body) = server.put_json(
        "/api/0/projects/errata/default/",
        &json!({"fingerprintingRules": rules}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["options"]["grouping"]["fingerprint_rules"], rules);
    let one = server.send_event(&exception_event("DatabaseUnavailable", "db down", "app.a", "one"));
    let two = server.send_event(&exception_event("DatabaseUnavailable", "db down", "app.b", "two"));
    let (i1, i2) = (issue_of_event(&server, &one), issue_of_event(&server, &two));
    assert_eq!(i1, i2, "the rule's fingerprint groups different call paths");
    assert_ne!(
        issue_of_event(&server, &before),
        i1,
        "events before the change keep their issue"
    );
    let info = server.get_ok(&format!("/api/0/projects/errata/default/events/{one}/grouping-info/"));
    assert_eq!(info["custom"]["type"], "custom_fingerprint");
    assert!(
        info["custom"]["explanation"]
            .to_string()
            .contains("line 2: error.type:DatabaseUnavailable")
    );
}

/// Sends an event to a binary server's DSN; returns its issue id.
fn send_to_binary(server: &BinaryServer, event: &Value) -> String {
    let id = server.send_event(event);
    server.get(&format!("/api/0/projects/errata/default/events/{id}/"))["groupID"]
        .as_str()
        .expect("groupID")
        .to_string()
}

#[test]
fn cli_rules_are_validated_printed_and_reach_a_running_server() {
    let server = BinaryServer::start();
    let dir = server.dir.path().to_path_buf();
    let first = send_to_binary(&server, &exception_event("Timeout", "slow", "app.a", "one"));
    let second = send_to_binary(&server, &exception_event("Timeout", "slow", "app.b", "two"));
    assert_ne!(first, second);

    let bad = dir.join("bad.rules");
    std::fs::write(&bad, "error.type:Timeout -> timeouts\nstack.function:\n").unwrap();
    let (ok, stdout, stderr) = errata_cli(
        &dir,
        &["project", "rules", "default", "--fingerprint", bad.to_str().unwrap()],
    );
    assert!(!ok, "a bad rule fails the command: {stdout}");
    assert!(stderr.contains("line 2"), "{stderr}");

    let good = dir.join("good.rules");
    std::fs::write(&good, "error.type:Timeout -> timeouts\n").unwrap();
    let (ok, stdout, stderr) = errata_cli(
        &dir,
        &["project", "rules", "default", "--fingerprint", good.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("prints the settings as JSON");
    assert_eq!(
        printed["grouping"]["fingerprint_rules"],
        "error.type:Timeout -> timeouts\n"
    );
    assert_eq!(printed["scrubbing"]["scrub_defaults"], true);

    // The running server notices the change written behind its back within a few seconds.
    let mut grouped = None;
    for _ in 0..60 {
        let a = send_to_binary(&server, &exception_event("Timeout", "slow", "app.a", "one"));
        let b = send_to_binary(&server, &exception_event("Timeout", "slow", "app.b", "two"));
        if a == b {
            grouped = Some(a);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let grouped = grouped.expect("the rule took effect on the running server");
    assert_ne!(grouped, first);
    assert_ne!(grouped, second);
    let options = server.get("/api/0/projects/errata/default/")["options"].clone();
    assert_eq!(
        options["grouping"]["fingerprint_rules"],
        "error.type:Timeout -> timeouts\n"
    );
}
