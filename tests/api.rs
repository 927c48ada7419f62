//! The web API against a real server: identity, organizations, projects, issues, events.

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn index_reports_scopes_with_a_token_and_nulls_without() {
    let server = spawn_server();
    let body = server.get_ok("/api/0/");
    assert_eq!(body["version"], "0");
    assert!(body["auth"]["scopes"].as_array().unwrap().contains(&json!("event:admin")));
    assert!(body["user"]["email"].is_string());
    assert!(body["user"]["id"].is_string());
    let anonymous: Value = server.client.get(format!("{}/api/0/", server.base)).send().unwrap().json().unwrap();
    assert_eq!(anonymous, json!({"version": "0", "auth": null, "user": null}));
    let bad = server.client.get(format!("{}/api/0/", server.base)).bearer_auth("sntryu_nope").send().unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().unwrap(), json!({"detail": "Invalid token"}));
}

#[test]
fn missing_token_is_401_with_sentry_wording() {
    let server = spawn_server();
    let response = server.client.get(format!("{}/api/0/organizations/", server.base)).send().unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().unwrap(), json!({"detail": "Authentication credentials were not provided."}));
}

#[test]
fn organizations_and_projects_carry_the_fields_clients_require() {
    let server = spawn_server();
    let orgs = server.get_ok("/api/0/organizations/");
    let org = &orgs[0];
    for field in ["id", "slug", "name", "dateCreated"] {
        assert!(org[field].is_string(), "{field}");
    }
    for field in ["isEarlyAdopter", "require2FA", "requireEmailVerification"] {
        assert!(org[field].is_boolean(), "{field}");
    }
    assert!(org["features"].is_array());
    assert!(org["dateCreated"].as_str().unwrap().ends_with('Z'));
    let projects = server.get_ok("/api/0/organizations/errata/projects/");
    assert_eq!(projects[0]["id"], "1");
    assert_eq!(projects[0]["slug"], "default");
    let detail = server.get_ok("/api/0/projects/errata/default/");
    assert_eq!(detail["organization"]["slug"], "errata");
}

#[test]
fn keys_list_gives_a_dsn_that_ingest_accepts() {
    let server = spawn_server();
    let keys = server.get_ok("/api/0/projects/errata/default/keys/");
    let key = &keys[0];
    assert_eq!(key["projectId"], 1);
    assert_eq!(key["isActive"], true);
    let dsn = key["dsn"]["public"].as_str().unwrap();
    assert_eq!(dsn, server.dsn());
}

#[test]
fn issue_list_shapes_counts_and_sorts_by_last_seen() {
    let server = spawn_server();
    for _ in 0..3 {
        server.send_event(&exception_event("ValueError", "bad value", "app.orders", "create"));
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    server.send_event(&exception_event("KeyError", "'id'", "app.users", "load"));
    let (status, headers, body) = server.get("/api/0/projects/errata/default/issues/");
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let link = headers["link"].to_str().unwrap();
    assert!(link.contains("rel=\"previous\"; results=\"false\""), "{link}");
    assert!(link.contains("rel=\"next\"; results=\"false\""), "{link}");
    let issues = body.as_array().unwrap();
    assert_eq!(issues.len(), 2);
    assert_eq!(issues[0]["title"], "KeyError: 'id'", "newest last_seen first");
    let value_error = &issues[1];
    assert_eq!(value_error["count"], "3");
    assert_eq!(value_error["userCount"], 0);
    assert_eq!(value_error["level"], "error");
    assert_eq!(value_error["status"], "unresolved");
    assert_eq!(value_error["shortId"], "DEFAULT-1");
    assert_eq!(value_error["project"]["slug"], "default");
    assert!(value_error["id"].is_string());
    assert!(value_error["culprit"].is_string());
    assert!(value_error["permalink"].as_str().unwrap().starts_with("http://"));
    assert!(value_error["lastSeen"].as_str().unwrap().ends_with('Z'));
    assert_eq!(value_error["stats"]["24h"].as_array().unwrap().len(), 24);
    assert_eq!(value_error["metadata"]["type"], "ValueError");
}

#[test]
fn query_absent_means_unresolved_and_empty_means_all() {
    let server = spawn_server();
    server.send_event(&exception_event("ValueError", "a", "app.a", "a"));
    server.send_event(&exception_event("TypeError", "b", "app.b", "b"));
    let issues = server.issues("");
    let id = issues.iter().find(|i| i["metadata"]["type"] == "TypeError").unwrap()["id"].as_str().unwrap().to_string();
    let (status, body) = server.put_json(&format!("/api/0/issues/{id}/"), &json!({"status": "resolved"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["count"], "1");
    let unresolved = server.get_ok("/api/0/projects/errata/default/issues/");
    assert_eq!(unresolved.as_array().unwrap().len(), 1);
    assert_eq!(server.issues("").len(), 2);
    assert_eq!(server.issues("is:resolved").len(), 1);
}

#[test]
fn resolved_issue_regresses_on_a_new_event() {
    let server = spawn_server();
    let event = exception_event("ValueError", "again", "app.x", "run");
    server.send_event(&event);
    let id = server.issues("")[0]["id"].as_str().unwrap().to_string();
    server.put_json(&format!("/api/0/issues/{id}/"), &json!({"status": "resolved"}));
    server.send_event(&event);
    let issue = server.get_ok(&format!("/api/0/issues/{id}/"));
    assert_eq!(issue["status"], "unresolved");
    assert_eq!(issue["substatus"], "regressed");
    assert_eq!(issue["count"], "2");
}

#[test]
fn issue_detail_events_and_latest_event_entries() {
    let server = spawn_server();
    let mut event = exception_event("ValueError", "boom", "app.orders", "create");
    event["request"] = json!({"url": "https://shop.example/checkout", "method": "POST", "headers": {"Accept": "text/html"}});
    event["breadcrumbs"] = json!([{"timestamp": 1741083300, "message": "clicked"}]);
    event["user"] = json!({"id": "42", "email": "ada@example.com"});
    let first = server.send_event(&event);
    let second = server.send_event(&event);
    let issue = &server.issues("")[0];
    let id = issue["id"].as_str().unwrap();
    assert_eq!(issue["userCount"], 1);

    let detail = server.get_ok(&format!("/api/0/issues/{id}/"));
    assert_eq!(detail["stats"]["24h"].as_array().unwrap().len(), 24);
    assert_eq!(detail["stats"]["30d"].as_array().unwrap().len(), 30);
    assert_eq!(detail, server.get_ok(&format!("/api/0/organizations/errata/issues/{id}/")));

    let events = server.get_ok(&format!("/api/0/issues/{id}/events/"));
    let ids: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["eventID"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));

    let latest = server.get_ok(&format!("/api/0/issues/{id}/events/latest/"));
    assert_eq!(latest["groupID"], id);
    assert!(latest["nextEventID"].is_null());
    let types: Vec<&str> = latest["entries"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in ["exception", "request", "breadcrumbs"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let exception = latest["entries"].as_array().unwrap().iter().find(|e| e["type"] == "exception").unwrap();
    let frame = &exception["data"]["values"][0]["stacktrace"]["frames"][1];
    assert_eq!(frame["lineNo"], 20);
    assert_eq!(frame["inApp"], true);
    let request = latest["entries"].as_array().unwrap().iter().find(|e| e["type"] == "request").unwrap();
    assert_eq!(request["data"]["headers"], json!([["Accept", "text/html"]]));

    let oldest = server.get_ok(&format!("/api/0/issues/{id}/events/oldest/"));
    assert!(oldest["previousEventID"].is_null());
    let (status, _, body) = server.get(&format!("/api/0/issues/{id}/events/ffffffffffffffffffffffffffffffff/"));
    assert_eq!(status, 404);
    assert!(body["detail"].is_string());
}

#[test]
fn pagination_follows_link_cursors() {
    let server = spawn_server();
    for i in 0..5 {
        server.send_event(&exception_event(&format!("Error{i}"), "x", "app.m", "f"));
    }
    let (_, headers, body) = server.get("/api/0/projects/errata/default/issues/?query=&limit=2");
    assert_eq!(body.as_array().unwrap().len(), 2);
    let link = headers["link"].to_str().unwrap();
    assert!(link.contains("rel=\"next\"; results=\"true\"; cursor=\"0:2:0\""), "{link}");
    let (_, headers, body) = server.get("/api/0/projects/errata/default/issues/?query=&limit=2&cursor=0:4:0");
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert!(headers["link"].to_str().unwrap().contains("rel=\"next\"; results=\"false\""));
    let (status, _, body) = server.get("/api/0/projects/errata/default/issues/?cursor=garbage");
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "Invalid cursor parameter.");
    let (status, _, body) = server.get("/api/0/projects/errata/default/issues/?query=&limit=10000");
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 5);
}

#[test]
fn unknown_api_paths_are_json_404() {
    let server = spawn_server();
    let (status, headers, body) = server.get("/api/0/releases/whatever/");
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["detail"], "The requested resource does not exist");
    let (status, _, _) = server.get("/api/0/issues/999999/");
    assert_eq!(status, 404);
    let (status, _, body) = server.get("/api/0/organizations");
    assert_eq!(status, 200, "a missing trailing slash behaves the same");
    assert_eq!(body[0]["slug"], "errata");
}
