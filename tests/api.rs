//! The web API against a real server: identity, organizations, projects, issues, events.

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn index_reports_scopes_with_a_token_and_nulls_without() {
    let server = spawn_server();
    let body = server.get_ok("/api/0/");
    assert_eq!(body["version"], "0");
    assert!(
        body["auth"]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("event:admin"))
    );
    assert!(body["user"]["email"].is_string());
    assert!(body["user"]["id"].is_string());
    let anonymous: Value = server
        .client
        .get(format!("{}/api/0/", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(anonymous, json!({"version": "0", "auth": null, "user": null}));
    let bad = server
        .client
        .get(format!("{}/api/0/", server.base))
        .bearer_auth("sntryu_nope")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().unwrap(), json!({"detail": "Invalid token"}));
}

#[test]
fn missing_token_is_401_with_sentry_wording() {
    let server = spawn_server();
    let response = server
        .client
        .get(format!("{}/api/0/organizations/", server.base))
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"detail": "Authentication credentials were not provided."})
    );
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
    let id = issues.iter().find(|i| i["metadata"]["type"] == "TypeError").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
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
    event["request"] =
        json!({"url": "https://shop.example/checkout", "method": "POST", "headers": {"Accept": "text/html"}});
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
    assert_eq!(
        detail,
        server.get_ok(&format!("/api/0/organizations/errata/issues/{id}/"))
    );

    let events = server.get_ok(&format!("/api/0/issues/{id}/events/"));
    let ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));

    let latest = server.get_ok(&format!("/api/0/issues/{id}/events/latest/"));
    assert_eq!(latest["groupID"], id);
    assert!(latest["nextEventID"].is_null());
    let types: Vec<&str> = latest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in ["exception", "request", "breadcrumbs"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let exception = latest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "exception")
        .unwrap();
    let frame = &exception["data"]["values"][0]["stacktrace"]["frames"][1];
    assert_eq!(frame["lineNo"], 20);
    assert_eq!(frame["inApp"], true);
    let request = latest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "request")
        .unwrap();
    assert_eq!(request["data"]["headers"], json!([["Accept", "text/html"]]));

    let oldest = server.get_ok(&format!("/api/0/issues/{id}/events/oldest/"));
    assert!(oldest["previousEventID"].is_null());
    let (status, _, body) = server.get(&format!("/api/0/issues/{id}/events/ffffffffffffffffffffffffffffffff/"));
    assert_eq!(status, 404);
    assert!(body["detail"].is_string());
    let (status, _, _) = server.get(&format!("/api/0/issues/{id}/events/nope/"));
    assert_eq!(status, 404, "what cannot be an event id is not found");
}

#[test]
fn pagination_follows_link_cursors() {
    let server = spawn_server();
    for i in 0..5 {
        server.send_event(&exception_event(&format!("Error{i}"), "x", "app.m", "f"));
    }
    let (_, headers, body) = server.get("/api/0/projects/errata/default/issues/?query=&limit=2");
    assert_eq!(body.as_array().unwrap().len(), 2);
    let next = link_parts(&headers)[1].clone();
    assert_eq!(next.1, "true");
    assert!(next.2.ends_with(":1:0"), "a value cursor for date order: {next:?}");
    let (_, headers, body) = server.get("/api/0/projects/errata/default/issues/?query=&limit=2&cursor=0:4:0");
    assert_eq!(body.as_array().unwrap().len(), 1, "offset cursors are accepted too");
    assert!(
        headers["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"next\"; results=\"false\"")
    );
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

// ---- helpers ----

fn event_with(ty: &str, extra: Value) -> Value {
    let mut event = exception_event(ty, "boom", &format!("app.{}", ty.to_lowercase()), "run");
    if let (Some(obj), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    event
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Mints a token of `level` directly in the database, as `errata token create` does.
fn token_with(server: &TestServer, level: &str) -> String {
    server
        .block_on(server.store.create_token(level, &[level]))
        .expect("create token")
}

/// `path?k=v&…` with the values percent-encoded.
fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn list(server: &TestServer, path: &str, params: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = server
        .api(reqwest::Method::GET, &with_query(path, params))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().unwrap_or(Value::Null))
}

fn project_issues(server: &TestServer, params: &[(&str, &str)]) -> Vec<Value> {
    let (status, _, body) = list(server, "/api/0/projects/errata/default/issues/", params);
    assert_eq!(status, 200, "{params:?}: {body}");
    body.as_array().unwrap().clone()
}

fn titles(issues: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = issues
        .iter()
        .map(|i| i["metadata"]["type"].as_str().unwrap_or("").to_string())
        .collect();
    t.sort();
    t
}

fn id_of(server: &TestServer, ty: &str) -> String {
    project_issues(server, &[("query", "")])
        .iter()
        .find(|i| i["metadata"]["type"] == ty)
        .unwrap_or_else(|| panic!("no {ty}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn send(server: &TestServer, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = server
        .client
        .request(method, format!("{}{}", server.base, path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

/// (rel, results, cursor) of each part of a Link header.
fn link_parts(headers: &reqwest::header::HeaderMap) -> Vec<(String, String, String)> {
    let link = headers["link"].to_str().unwrap();
    link.split(", <")
        .map(|part| {
            let field = |name: &str| {
                let start = part.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                part[start..].split('"').next().unwrap().to_string()
            };
            (field("rel"), field("results"), field("cursor"))
        })
        .collect()
}

// ---- auth and scopes ----

#[test]
fn scopes_gate_reads_writes_and_deletes_with_sentry_details() {
    let server = spawn_server();
    server.send_event(&event_with("ValueError", json!({})));
    let id = id_of(&server, "ValueError");
    let read = token_with(&server, "read");
    let write = token_with(&server, "write");
    let (status, body) = send(&server, reqwest::Method::GET, "/api/0/", &read, None);
    assert_eq!(status, 200);
    let scopes: Vec<&str> = body["auth"]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        scopes.contains(&"event:read") && !scopes.contains(&"event:write"),
        "{scopes:?}"
    );
    let path = format!("/api/0/issues/{id}/");
    let (status, body) = send(
        &server,
        reqwest::Method::PUT,
        &path,
        &read,
        Some(json!({"status": "resolved"})),
    );
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    let (status, body) = send(
        &server,
        reqwest::Method::PUT,
        &path,
        &write,
        Some(json!({"status": "resolved"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "resolved");
    let (status, _) = send(&server, reqwest::Method::DELETE, &path, &write, None);
    assert_eq!(status, 403, "deletes need event:admin");
    let (status, _) = send(&server, reqwest::Method::DELETE, &path, &server.token, None);
    assert_eq!(status, 202);
    assert_eq!(server.get(&path).0, 404);
}

#[test]
fn token_use_is_recorded() {
    let server = spawn_server();
    let token = token_with(&server, "read");
    let last_used = || {
        server
            .block_on(server.store.tokens())
            .expect("tokens")
            .into_iter()
            .find(|t| t.name == "read")
            .unwrap()
            .last_used
    };
    assert_eq!(last_used(), None);
    assert_eq!(
        send(&server, reqwest::Method::GET, "/api/0/organizations/", &token, None).0,
        200
    );
    let used = last_used().expect("last use recorded");
    assert!(used > 0);
}

#[test]
fn org_tokens_carry_url_and_org_and_act_without_a_user() {
    let server = spawn_server();
    let token = server
        .block_on(server.store.create_org_token("ci", &["read"], &server.base, "errata"))
        .expect("create org token");
    let (prefix, rest) = token.split_at(7);
    assert_eq!(prefix, "sntrys_");
    let (claims, _secret) = rest.split_once('_').unwrap();
    use base64::Engine;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["org"], "errata");
    assert_eq!(claims["url"], server.base.as_str());
    let (status, body) = send(&server, reqwest::Method::GET, "/api/0/", &token, None);
    assert_eq!(status, 200);
    assert!(body["user"].is_null());
    assert!(body["auth"]["scopes"].as_array().unwrap().contains(&json!("org:read")));
    assert_eq!(
        send(
            &server,
            reqwest::Method::GET,
            "/api/0/organizations/errata/",
            &token,
            None
        )
        .0,
        200
    );
}

// ---- errors ----

#[test]
fn wrong_and_unknown_methods_are_405_json_never_5xx() {
    let server = spawn_server();
    for (method, path) in [
        ("POST", "/api/0/organizations/"),
        ("DELETE", "/api/0/"),
        ("PATCH", "/api/0/issues/1/"),
        ("POST", "/api/0/projects/errata/default/issues/"),
    ] {
        let response = server.api(method.parse().unwrap(), path).send().unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.json::<Value>().unwrap(),
            json!({"detail": "Method not allowed"})
        );
    }
    // A method no route serves: 405 on a known path, 404 on an unknown one.
    for (method, path, status) in [
        ("FOO", "/api/0/issues/1/", 405),
        ("PROPFIND", "/api/0/nothing/here/", 404),
        ("TRACE", "/api/0/", 405),
    ] {
        let response = server.api(method.parse().unwrap(), path).send().unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
    }
}

#[test]
fn bad_parameters_are_400_with_detail() {
    let server = spawn_server();
    server.send_event(&event_with("ValueError", json!({})));
    for (params, detail) in [
        (
            vec![("statsPeriod", "7d")],
            "Invalid stats_period. Valid choices are '', '24h', and '14d'",
        ),
        (vec![("cursor", "garbage")], "Invalid cursor parameter."),
        (vec![("query", "is:bogus")], "Error parsing search query"),
        (vec![("query", "timesSeen:>abc")], "Error parsing search query"),
        (vec![("query", "\"unterminated")], "Error parsing search query"),
        (vec![("sort", "sideways")], "Invalid sort"),
    ] {
        let (status, _, body) = list(&server, "/api/0/projects/errata/default/issues/", &params);
        assert_eq!(status, 400, "{params:?}");
        assert!(
            body["detail"].as_str().unwrap().starts_with(detail),
            "{params:?}: {body}"
        );
    }
    let (status, body) = server.put_json("/api/0/projects/errata/default/issues/", &json!({"status": "bogus"}));
    assert_eq!(status, 400);
    assert_eq!(body, json!({"status": ["\"bogus\" is not a valid choice."]}));
    let response = server
        .api(reqwest::Method::PUT, "/api/0/issues/1/")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.json::<Value>().unwrap()["detail"].is_string());
}

// ---- organizations, projects, keys ----

#[test]
fn projects_are_created_updated_and_deleted_through_the_api() {
    let server = spawn_server();
    let (status, created) = send(
        &server,
        reqwest::Method::POST,
        "/api/0/organizations/errata/projects/new/",
        &server.token,
        Some(json!({"name": "Web Shop", "platform": "python"})),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["slug"], "web-shop");
    assert_eq!(created["platform"], "python");
    let keys = server.get_ok("/api/0/projects/errata/web-shop/keys/");
    assert_eq!(keys.as_array().unwrap().len(), 1, "a new project gets a DSN key");
    let (status, updated) = send(
        &server,
        reqwest::Method::PUT,
        "/api/0/projects/errata/web-shop/",
        &server.token,
        Some(json!({"name": "Shop"})),
    );
    assert_eq!(status, 200);
    assert_eq!(updated["name"], "Shop");
    let (status, body) = send(
        &server,
        reqwest::Method::POST,
        "/api/0/organizations/errata/projects/new/",
        &server.token,
        Some(json!({"slug": "web-shop"})),
    );
    assert_eq!(status, 409, "{body}");
    let all = server.get_ok("/api/0/projects/");
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[1]["organization"]["slug"], "errata");
    let (status, _) = send(
        &server,
        reqwest::Method::DELETE,
        "/api/0/projects/errata/web-shop/",
        &server.token,
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(server.get("/api/0/projects/errata/web-shop/").0, 404);
    let write = token_with(&server, "write");
    let (status, _) = send(
        &server,
        reqwest::Method::DELETE,
        "/api/0/projects/errata/default/",
        &write,
        None,
    );
    assert_eq!(status, 403);
}

#[test]
fn keys_are_created_disabled_and_deleted_and_ingest_follows() {
    let server = spawn_server();
    let (status, key) = send(
        &server,
        reqwest::Method::POST,
        "/api/0/projects/errata/default/keys/",
        &server.token,
        Some(json!({"name": "ci"})),
    );
    assert_eq!(status, 201);
    assert_eq!(key["name"], "ci");
    assert_eq!(key["projectId"], 1);
    let public = key["public"].as_str().unwrap().to_string();
    let dsn = key["dsn"]["public"].as_str().unwrap();
    assert_eq!(dsn, format!("http://{public}@{}/1", server.addr));
    let store = |key: &str| {
        server
            .client
            .post(format!(
                "{}/api/1/store/?sentry_key={key}&sentry_version=7",
                server.base
            ))
            .header("content-type", "application/json")
            .body(event_with("KeyError", json!({})).to_string())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(store(&public), 200);
    let path = format!("/api/0/projects/errata/default/keys/{public}/");
    let (status, disabled) = send(
        &server,
        reqwest::Method::PUT,
        &path,
        &server.token,
        Some(json!({"isActive": false})),
    );
    assert_eq!(status, 200);
    assert_eq!(disabled["isActive"], false);
    let inactive = list(
        &server,
        "/api/0/projects/errata/default/keys/",
        &[("status", "inactive")],
    )
    .2;
    assert_eq!(inactive.as_array().unwrap().len(), 1);
    assert_eq!(store(&public), 403, "a disabled key is refused");
    let (status, _) = send(&server, reqwest::Method::DELETE, &path, &server.token, None);
    assert_eq!(status, 204);
    assert_eq!(server.get(&path).0, 404);
}

// ---- issue search ----

#[test]
fn search_syntax_filters_by_every_key_and_negates() {
    let server = spawn_server();
    let now = now_secs();
    server.send_event(&event_with(
        "CheckoutError",
        json!({"level": "error", "release": "shop@1.4.0", "environment": "production", "tags": {"browser": "Chrome"},
               "message": "checkout failed", "timestamp": now - 3.0 * 86400.0}),
    ));
    server.send_event(&event_with(
        "WarnThing",
        json!({"level": "warning", "release": "shop@1.3.0", "environment": "staging", "tags": {"browser": "Firefox"}}),
    ));
    for _ in 0..3 {
        server.send_event(&event_with(
            "Frequent",
            json!({"level": "error", "environment": "production"}),
        ));
    }
    let q = |query: &str| titles(&project_issues(&server, &[("query", query)]));
    assert_eq!(q("level:error"), ["CheckoutError", "Frequent"]);
    assert_eq!(q("!level:error"), ["WarnThing"]);
    assert_eq!(q("release:shop@1.4.0"), ["CheckoutError"]);
    assert_eq!(q("release:shop@1.*"), ["CheckoutError", "WarnThing"]);
    assert_eq!(q("environment:production"), ["CheckoutError", "Frequent"]);
    assert_eq!(q("!environment:production"), ["WarnThing"]);
    assert_eq!(q("browser:Chrome"), ["CheckoutError"]);
    assert_eq!(q("browser:[Chrome,Firefox]"), ["CheckoutError", "WarnThing"]);
    assert_eq!(q("has:browser"), ["CheckoutError", "WarnThing"]);
    assert_eq!(q("times_seen:>2"), ["Frequent"]);
    assert_eq!(q("timesSeen:<=1"), ["CheckoutError", "WarnThing"]);
    assert_eq!(q("firstSeen:-24h"), ["Frequent", "WarnThing"]);
    assert_eq!(q("lastSeen:+2d"), ["CheckoutError"]);
    assert_eq!(
        q("checkouterror"),
        ["CheckoutError"],
        "free text is case-insensitive over the title"
    );
    assert_eq!(
        q("\"app.warnthing in run\""),
        ["WarnThing"],
        "quoted free text with a space, over the culprit"
    );
    assert_eq!(
        q("is:unresolved level:error release:shop@1.4.0 environment:production checkout"),
        ["CheckoutError"]
    );
    assert_eq!(q("is:resolved"), Vec::<String>::new());
    let id = id_of(&server, "CheckoutError");
    server.put_json(&format!("/api/0/issues/{id}/"), &json!({"status": "resolved"}));
    assert_eq!(
        q("is:resolved level:error release:shop@1.4.0 environment:production checkout"),
        ["CheckoutError"]
    );
    assert_eq!(q("!is:resolved"), ["Frequent", "WarnThing"]);
}

#[test]
fn sorts_order_by_last_seen_first_seen_events_and_users() {
    let server = spawn_server();
    let now = now_secs();
    // Old: first seen long ago, seen again recently, many events from two users.
    server.send_event(&event_with(
        "Old",
        json!({"timestamp": now - 5.0 * 3600.0, "user": {"id": "1"}}),
    ));
    server.send_event(&event_with(
        "Old",
        json!({"timestamp": now - 60.0, "user": {"id": "2"}}),
    ));
    server.send_event(&event_with(
        "Old",
        json!({"timestamp": now - 60.0, "user": {"id": "2"}}),
    ));
    server.send_event(&event_with("Mid", json!({"timestamp": now - 2.0 * 3600.0})));
    server.send_event(&event_with("Mid", json!({"timestamp": now - 2.0 * 3600.0 + 1.0})));
    server.send_event(&event_with(
        "Young",
        json!({"timestamp": now - 600.0, "user": {"id": "3"}}),
    ));
    let order = |sort: &str| -> Vec<String> {
        project_issues(&server, &[("query", ""), ("sort", sort)])
            .iter()
            .map(|i| i["metadata"]["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(order("date"), ["Old", "Young", "Mid"]);
    assert_eq!(order("new"), ["Young", "Mid", "Old"]);
    assert_eq!(order("freq"), ["Old", "Mid", "Young"]);
    assert_eq!(order("user"), ["Old", "Young", "Mid"]);
    assert_eq!(order("priority"), order("date"), "unsupported sorts fall back to date");
}

#[test]
fn stats_period_picks_the_series() {
    let server = spawn_server();
    server.send_event(&event_with("ValueError", json!({})));
    let issues = project_issues(&server, &[("query", "")]);
    let stats = issues[0]["stats"]["24h"].as_array().unwrap();
    assert_eq!(stats.len(), 24);
    assert_eq!(stats[23][1], 1, "the event counts in the current hour");
    let day = |p: &Value| p[0].as_i64().unwrap();
    assert_eq!(day(&stats[23]) - day(&stats[22]), 3600);
    let issues = project_issues(&server, &[("query", ""), ("statsPeriod", "14d")]);
    let stats = issues[0]["stats"]["14d"].as_array().unwrap();
    assert_eq!(stats.len(), 14);
    assert_eq!(day(&stats[13]) - day(&stats[12]), 86400);
    assert_eq!(stats[13][1], 1);
    let issues = project_issues(&server, &[("query", ""), ("statsPeriod", "")]);
    assert!(issues[0].get("stats").is_none());
}

#[test]
fn org_issues_apply_naive_windows_and_keep_lifetime_totals() {
    let server = spawn_server();
    let now = now_secs();
    server.send_event(&event_with("Recent", json!({"timestamp": now - 3600.0})));
    server.send_event(&event_with("Ancient", json!({"timestamp": now - 10.0 * 86400.0})));
    let fmt = |secs: f64| {
        chrono::DateTime::from_timestamp(secs as i64, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let (start, end) = (fmt(now - 2.0 * 86400.0), fmt(now));
    let (status, _, body) = list(
        &server,
        "/api/0/organizations/errata/issues/",
        &[
            ("query", ""),
            ("start", &start),
            ("end", &end),
            ("groupStatsPeriod", "14d"),
            ("project", "-1"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let issues = body.as_array().unwrap();
    assert_eq!(titles(issues), ["Recent"]);
    assert_eq!(issues[0]["lifetime"]["count"], "1");
    assert!(issues[0]["lifetime"]["firstSeen"].as_str().unwrap().ends_with('Z'));
    assert_eq!(issues[0]["stats"]["14d"].as_array().unwrap().len(), 14);
    let (_, _, body) = list(
        &server,
        "/api/0/organizations/errata/issues/",
        &[("query", ""), ("statsPeriod", "14d")],
    );
    assert_eq!(titles(body.as_array().unwrap()), ["Ancient", "Recent"]);
    let (_, _, body) = list(
        &server,
        "/api/0/organizations/errata/issues/",
        &[("query", ""), ("statsPeriod", "24h")],
    );
    assert_eq!(titles(body.as_array().unwrap()), ["Recent"]);
    let (status, _, _) = list(
        &server,
        "/api/0/organizations/errata/issues/",
        &[("groupStatsPeriod", "7d")],
    );
    assert_eq!(status, 400);
    let (_, _, body) = list(
        &server,
        "/api/0/organizations/errata/issues/",
        &[("query", ""), ("project", "default"), ("limit", "10000")],
    );
    assert_eq!(
        body.as_array().unwrap().len(),
        2,
        "project slugs are accepted; limit is clamped"
    );
}

#[test]
fn event_ids_and_short_ids_are_direct_hits() {
    let server = spawn_server();
    let event_id = server.send_event(&event_with("ValueError", json!({})));
    server.send_event(&event_with("KeyError", json!({})));
    let (status, headers, body) = list(
        &server,
        "/api/0/projects/errata/default/issues/",
        &[("query", &event_id)],
    );
    assert_eq!(status, 200);
    assert_eq!(headers["x-sentry-direct-hit"], "1");
    let issues = body.as_array().unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["metadata"]["type"], "ValueError");
    assert_eq!(issues[0]["matchingEventId"], event_id.as_str());
    let short = project_issues(&server, &[("query", "")])
        .iter()
        .find(|i| i["metadata"]["type"] == "KeyError")
        .unwrap()["shortId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, headers, body) = list(
        &server,
        "/api/0/organizations/errata/issues/",
        &[("query", &short), ("shortIdLookup", "1")],
    );
    assert_eq!(headers["x-sentry-direct-hit"], "1");
    assert_eq!(titles(body.as_array().unwrap()), ["KeyError"]);
    let lookup = server.get_ok(&format!("/api/0/organizations/errata/shortids/{short}/"));
    assert_eq!(lookup["shortId"], short.as_str());
    assert_eq!(lookup["group"]["metadata"]["type"], "KeyError");
    let lookup = server.get_ok(&format!("/api/0/organizations/errata/eventids/{event_id}/"));
    assert_eq!(lookup["eventId"], event_id.as_str());
    assert_eq!(lookup["projectSlug"], "default");
    assert_eq!(
        server
            .get("/api/0/organizations/errata/eventids/ffffffffffffffffffffffffffffffff/")
            .0,
        404
    );
    let detail = server.get_ok(&format!("/api/0/organizations/errata/issues/{short}/"));
    assert_eq!(detail["metadata"]["type"], "KeyError");
}

// ---- pagination ----

#[test]
fn two_hundred_fifty_issues_page_in_hundreds_by_link_cursors() {
    let server = spawn_server();
    let now = now_secs();
    for i in 0..250 {
        server.send_event(&event_with(
            &format!("E{i:03}"),
            json!({"timestamp": now - 3600.0 + i as f64}),
        ));
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut sizes = Vec::new();
    loop {
        let (status, headers, body) = list(
            &server,
            "/api/0/projects/errata/default/issues/",
            &[("query", ""), ("cursor", &cursor)],
        );
        assert_eq!(status, 200, "{body}");
        let page = body.as_array().unwrap();
        sizes.push(page.len());
        seen.extend(page.iter().map(|i| i["metadata"]["type"].as_str().unwrap().to_string()));
        let parts = link_parts(&headers);
        assert_eq!(parts[0].0, "previous");
        assert_eq!(parts[1].0, "next");
        assert_eq!(parts[0].1, if cursor.is_empty() { "false" } else { "true" });
        if parts[1].1 == "false" {
            break;
        }
        cursor = parts[1].2.clone();
    }
    assert_eq!(sizes, [100, 100, 50]);
    let expected: Vec<String> = (0..250).rev().map(|i| format!("E{i:03}")).collect();
    assert_eq!(seen, expected, "newest first, each exactly once");
    // Offset cursors (`0:<offset>:0`) work as well.
    let (_, headers, body) = list(
        &server,
        "/api/0/projects/errata/default/issues/",
        &[("query", ""), ("cursor", "0:200:0")],
    );
    assert_eq!(body.as_array().unwrap().len(), 50);
    assert_eq!(link_parts(&headers)[1].1, "false");
}

#[test]
fn paging_stays_correct_while_new_events_arrive() {
    let server = spawn_server();
    let now = now_secs();
    for i in 0..6 {
        server.send_event(&event_with(
            &format!("P{i}"),
            json!({"timestamp": now - 600.0 + i as f64}),
        ));
    }
    for sort in ["date", "new"] {
        let (_, headers, page1) = list(
            &server,
            "/api/0/projects/errata/default/issues/",
            &[("query", ""), ("limit", "3"), ("sort", sort)],
        );
        let page1: Vec<String> = page1
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["type"].as_str().unwrap().into())
            .collect();
        let next = link_parts(&headers)[1].2.clone();
        // Between the two requests: a brand-new issue and a new event on a page-1 issue.
        server.send_event(&event_with(&format!("New{sort}"), json!({})));
        server.send_event(&event_with(&page1[1], json!({})));
        let (_, headers, page2) = list(
            &server,
            "/api/0/projects/errata/default/issues/",
            &[("query", ""), ("limit", "3"), ("sort", sort), ("cursor", &next)],
        );
        let page2: Vec<String> = page2
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["type"].as_str().unwrap().into())
            .collect();
        let mut all: Vec<String> = page1.iter().chain(page2.iter()).cloned().collect();
        let before = all.len();
        all.sort();
        all.dedup();
        assert_eq!(before, all.len(), "{sort}: no issue twice: {page1:?} {page2:?}");
        let originals: Vec<String> = all.into_iter().filter(|t| t.starts_with('P')).collect();
        assert_eq!(originals, ["P0", "P1", "P2", "P3", "P4", "P5"], "{sort}: none skipped");
        assert_eq!(link_parts(&headers)[1].1, "false");
        // The previous link leads back to page 1's issues (the new ones aside).
        let prev = link_parts(&headers)[0].2.clone();
        let (_, _, back) = list(
            &server,
            "/api/0/projects/errata/default/issues/",
            &[("query", ""), ("limit", "3"), ("sort", sort), ("cursor", &prev)],
        );
        let back: Vec<String> = back
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["type"].as_str().unwrap().into())
            .collect();
        assert!(back.iter().all(|t| !page2.contains(t)), "{sort}: {back:?} vs {page2:?}");
        // Start fresh for the next sort: delete the probe issue.
        let id = id_of(&server, &format!("New{sort}"));
        server
            .api(reqwest::Method::DELETE, &format!("/api/0/issues/{id}/"))
            .send()
            .unwrap();
    }
}

// ---- mutations ----

#[test]
fn bulk_updates_by_ids_and_by_query_answer_deltas() {
    let server = spawn_server();
    for ty in ["A", "B", "C"] {
        server.send_event(&event_with(
            ty,
            json!({"level": if ty == "C" { "warning" } else { "error" }}),
        ));
    }
    let (a, b) = (id_of(&server, "A"), id_of(&server, "B"));
    let response = server
        .api(
            reqwest::Method::PUT,
            &format!("/api/0/projects/errata/default/issues/?id={a}&id={b}"),
        )
        .json(&json!({"status": "resolved"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"status": "resolved", "statusDetails": {}, "substatus": null})
    );
    assert_eq!(
        titles(&project_issues(&server, &[("query", "is:resolved")])),
        ["A", "B"]
    );
    let response = server
        .api(
            reqwest::Method::PUT,
            "/api/0/projects/errata/default/issues/?status=unresolved",
        )
        .json(&json!({"status": "muted", "snoozeDuration": null}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(titles(&project_issues(&server, &[("query", "is:ignored")])), ["C"]);
    let response = server
        .api(
            reqwest::Method::PUT,
            &with_query(
                "/api/0/organizations/errata/issues/",
                &[("query", "is:resolved level:error")],
            ),
        )
        .json(&json!({"status": "unresolved"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(titles(&project_issues(&server, &[])), ["A", "B"]);
    let response = server
        .api(
            reqwest::Method::PUT,
            "/api/0/projects/errata/default/issues/?query=is:resolved",
        )
        .json(&json!({"status": "resolved"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 204, "nothing matched");
    let response = server
        .api(
            reqwest::Method::DELETE,
            &format!("/api/0/projects/errata/default/issues/?id={a}"),
        )
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(titles(&project_issues(&server, &[("query", "")])), ["B", "C"]);
    let response = server
        .api(
            reqwest::Method::DELETE,
            "/api/0/organizations/errata/issues/?query=is:ignored",
        )
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(titles(&project_issues(&server, &[("query", "")])), ["B"]);
}

#[test]
fn single_update_by_short_id_returns_the_full_issue() {
    let server = spawn_server();
    server.send_event(&event_with("A", json!({})));
    let short = project_issues(&server, &[])[0]["shortId"].as_str().unwrap().to_string();
    let (status, body) = server.put_json(
        &format!("/api/0/organizations/errata/issues/{short}/"),
        &json!({"status": "ignored", "substatus": "archived_forever"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ignored");
    assert_eq!(body["substatus"], "archived_forever");
    assert_eq!(body["shortId"], short.as_str());
    assert_eq!(body["stats"]["24h"].as_array().unwrap().len(), 24);
    assert_eq!(
        server
            .put_json("/api/0/issues/999999/", &json!({"status": "resolved"}))
            .0,
        404
    );
}

fn resolve_with(server: &TestServer, id: &str, body: Value) -> Value {
    let (status, issue) = server.put_json(&format!("/api/0/issues/{id}/"), &body);
    assert_eq!(status, 200, "{issue}");
    issue
}

#[test]
fn resolved_in_release_regresses_only_for_that_release_or_newer() {
    let server = spawn_server();
    let event = |release: &str| event_with("Bug", json!({"release": release}));
    server.send_event(&event("shop@1.9.0"));
    let id = id_of(&server, "Bug");
    let issue = resolve_with(
        &server,
        &id,
        json!({"status": "resolved", "statusDetails": {"inRelease": "shop@1.10.0"}}),
    );
    assert_eq!(issue["statusDetails"]["inRelease"], "shop@1.10.0");
    server.send_event(&event("shop@1.9.2"));
    let issue = server.get_ok(&format!("/api/0/issues/{id}/"));
    assert_eq!(
        issue["status"], "resolved",
        "1.9.2 is older than 1.10.0 (semver, not text order)"
    );
    server.send_event(&event("shop@1.10.1"));
    let issue = server.get_ok(&format!("/api/0/issues/{id}/"));
    assert_eq!(issue["status"], "unresolved");
    assert_eq!(issue["substatus"], "regressed");
    assert_eq!(issue["statusDetails"], json!({}));
}

#[test]
fn resolved_in_next_release_ignores_the_current_release() {
    let server = spawn_server();
    let event = |release: &str| event_with("Bug", json!({"release": release}));
    server.send_event(&event("2.0.0"));
    let id = id_of(&server, "Bug");
    let issue = resolve_with(&server, &id, json!({"status": "resolvedInNextRelease"}));
    assert_eq!(issue["status"], "resolved");
    assert_eq!(issue["statusDetails"]["inNextRelease"], true);
    server.send_event(&event("2.0.0"));
    assert_eq!(server.get_ok(&format!("/api/0/issues/{id}/"))["status"], "resolved");
    server.send_event(&event("2.1.0"));
    let issue = server.get_ok(&format!("/api/0/issues/{id}/"));
    assert_eq!(
        (issue["status"].as_str(), issue["substatus"].as_str()),
        (Some("unresolved"), Some("regressed"))
    );
}

#[test]
fn ignored_issues_wake_when_their_count_or_time_is_reached() {
    let server = spawn_server();
    server.send_event(&event_with("Counted", json!({})));
    server.send_event(&event_with("Timed", json!({})));
    let counted = id_of(&server, "Counted");
    let timed = id_of(&server, "Timed");
    let issue = resolve_with(
        &server,
        &counted,
        json!({"status": "ignored", "statusDetails": {"ignoreCount": 2}}),
    );
    assert_eq!(issue["substatus"], "archived_until_condition_met");
    assert_eq!(issue["statusDetails"]["ignoreCount"], 2);
    server.send_event(&event_with("Counted", json!({})));
    assert_eq!(
        server.get_ok(&format!("/api/0/issues/{counted}/"))["status"],
        "ignored",
        "one of two"
    );
    server.send_event(&event_with("Counted", json!({})));
    let issue = server.get_ok(&format!("/api/0/issues/{counted}/"));
    assert_eq!(
        (issue["status"].as_str(), issue["substatus"].as_str()),
        (Some("unresolved"), Some("escalating"))
    );

    // Ignored until a moment that has already passed: the next event wakes it.
    let until = chrono::Utc::now() - chrono::Duration::minutes(1);
    let issue = resolve_with(
        &server,
        &timed,
        json!({"status": "ignored", "statusDetails": {"ignoreUntil": until.format("%Y-%m-%dT%H:%M:%S").to_string()}}),
    );
    assert_eq!(issue["status"], "ignored");
    assert!(issue["statusDetails"]["ignoreUntil"].as_str().unwrap().ends_with('Z'));
    server.send_event(&event_with("Timed", json!({})));
    assert_eq!(
        server.get_ok(&format!("/api/0/issues/{timed}/"))["substatus"],
        "escalating"
    );
    // Ignored for 30 minutes from now: an event now does not wake it.
    resolve_with(&server, &timed, json!({"status": "ignored", "ignoreDuration": 30}));
    server.send_event(&event_with("Timed", json!({})));
    assert_eq!(server.get_ok(&format!("/api/0/issues/{timed}/"))["status"], "ignored");
    let (status, body) = server.put_json(
        &format!("/api/0/issues/{timed}/"),
        &json!({"status": "ignored", "statusDetails": {"ignoreCount": -1}}),
    );
    assert_eq!(status, 400, "{body}");
    for huge in [
        json!({"status": "ignored", "snoozeDuration": 5_372_604_875_616_i64}),
        json!({"ignoreDuration": i64::MAX}),
    ] {
        let (status, body) = server.put_json(&format!("/api/0/issues/{timed}/"), &huge);
        assert_eq!(status, 400, "{body}");
        assert_eq!(body, json!({"ignoreDuration": ["is too large"]}));
    }
}

// ---- tags, events, hashes ----

#[test]
fn tags_values_and_hashes_of_an_issue() {
    let server = spawn_server();
    for browser in ["Chrome", "Chrome", "Firefox"] {
        server.send_event(&event_with(
            "Bug",
            json!({"tags": {"browser": browser}, "user": {"email": "ada@example.com"}}),
        ));
    }
    let id = id_of(&server, "Bug");
    let tags = server.get_ok(&format!("/api/0/issues/{id}/tags/"));
    let keys: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    for key in ["browser", "level", "user"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    let browser = server.get_ok(&format!("/api/0/issues/{id}/tags/browser/"));
    assert_eq!(browser["key"], "browser");
    assert_eq!(browser["name"], "Browser");
    assert_eq!(browser["totalValues"], 3);
    assert_eq!(browser["uniqueValues"], 2);
    assert_eq!(browser["topValues"][0]["value"], "Chrome");
    assert_eq!(browser["topValues"][0]["count"], 2);
    assert_eq!(server.get(&format!("/api/0/issues/{id}/tags/nope/")).0, 404);
    let (_, headers, values) = server.get(&format!("/api/0/issues/{id}/tags/browser/values/"));
    assert_eq!(values[0]["value"], "Chrome");
    assert_eq!(values[1]["value"], "Firefox");
    assert!(values[1]["lastSeen"].as_str().unwrap().ends_with('Z'));
    assert!(headers.contains_key("link"));
    let users = server.get_ok(&format!("/api/0/issues/{id}/tags/user/values/"));
    assert_eq!(users[0]["value"], "email:ada@example.com");
    let hashes = server.get_ok(&format!("/api/0/issues/{id}/hashes/"));
    assert_eq!(hashes.as_array().unwrap().len(), 1);
    assert!(hashes[0]["id"].as_str().unwrap().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(hashes[0]["latestEvent"]["groupID"], id.as_str());
    assert_eq!(
        server.get_ok(&format!("/api/0/groups/{id}/tags/browser/"))["totalValues"],
        3
    );
}

#[test]
fn event_lists_full_events_and_project_event_detail() {
    let server = spawn_server();
    let mut event = event_with(
        "Bug",
        json!({"message": "hello", "contexts": {"os": {"name": "Linux"}},
        "sdk": {"name": "sentry.python", "version": "2.0.0"}, "threads": {"values": [{"id": 1, "crashed": true, "current": true}]}}),
    );
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["colno"] = json!(7);
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["abs_path"] = json!("/srv/app/x.py");
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["context_line"] = json!("    run()");
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["pre_context"] = json!(["def f():"]);
    let ids: Vec<String> = (0..3).map(|_| server.send_event(&event)).collect();
    let id = id_of(&server, "Bug");
    let (_, headers, full) = list(
        &server,
        &format!("/api/0/issues/{id}/events/"),
        &[("full", "true"), ("per_page", "2")],
    );
    let full = full.as_array().unwrap();
    assert_eq!(full.len(), 2);
    assert!(full[0]["entries"].is_array());
    assert_eq!(link_parts(&headers)[1].1, "true");
    let simple = server.get_ok(&format!("/api/0/issues/{id}/events/"));
    assert!(simple[0].get("entries").is_none());
    assert_eq!(simple[0]["event.type"], "error");
    assert!(
        simple[0].get("project").is_none(),
        "no string project key (sentry-cli types it as an integer)"
    );
    let oldest = server.get_ok(&format!("/api/0/issues/{id}/events/oldest/"));
    assert_eq!(oldest["eventID"], ids[0].as_str());
    assert_eq!(oldest["nextEventID"], ids[1].as_str());
    let detail = server.get_ok(&format!("/api/0/projects/errata/default/events/{}/", ids[1]));
    assert_eq!(detail["groupID"], id.as_str());
    assert_eq!(detail["previousEventID"], ids[0].as_str());
    assert_eq!(detail["nextEventID"], ids[2].as_str());
    assert!(detail["dateCreated"].as_str().unwrap().ends_with('Z'));
    assert!(detail["dateReceived"].as_str().unwrap().ends_with('Z'));
    assert_eq!(detail["sdk"], json!({"name": "sentry.python", "version": "2.0.0"}));
    assert_eq!(detail["contexts"]["os"]["name"], "Linux");
    assert!(
        detail["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == &json!({"key": "level", "value": "error"}))
    );
    assert!(detail["_meta"].is_object());
    assert!(detail.as_object().unwrap().contains_key("message"));
    assert!(detail.as_object().unwrap().contains_key("culprit"));
    let entry = |t: &str| {
        detail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == t)
            .cloned()
    };
    let frame = &entry("exception").unwrap()["data"]["values"][0]["stacktrace"]["frames"][1];
    assert_eq!(frame["lineNo"], 20);
    assert_eq!(frame["colNo"], 7);
    assert_eq!(frame["absPath"], "/srv/app/x.py");
    assert_eq!(frame["inApp"], true);
    assert_eq!(frame["context"], json!([[19, "def f():"], [20, "    run()"]]));
    assert_eq!(entry("threads").unwrap()["data"]["values"][0]["crashed"], true);
    assert!(entry("message").is_some());
    let raw = server.get_ok(&format!("/api/0/projects/errata/default/events/{}/json/", ids[1]));
    assert_eq!(raw["event_id"], ids[1].as_str());
    let (status, _, body) = server.get("/api/0/projects/errata/default/events/ffffffffffffffffffffffffffffffff/");
    assert_eq!((status, body), (404, json!({"detail": "Event not found"})));
    // What cannot be an event id is not found either, on every route that looks one up.
    for bad in [
        "nope",
        "fffffffffffffffffffffffffffffff",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ] {
        for path in [
            format!("/api/0/projects/errata/default/events/{bad}/"),
            format!("/api/0/projects/errata/default/events/{bad}/json/"),
            format!("/api/0/projects/errata/default/events/{bad}/grouping-info/"),
            format!("/api/0/projects/errata/default/events/{bad}/attachments/1/"),
            format!("/api/0/organizations/errata/eventids/{bad}/"),
        ] {
            assert_eq!(server.get(&path).0, 404, "{path}");
        }
        let (status, _, body) = server.get(&format!("/api/0/projects/errata/default/events/{bad}/attachments/"));
        assert_eq!((status, body), (200, json!([])), "{bad}");
    }
    let project_events = server.get_ok("/api/0/projects/errata/default/events/");
    assert_eq!(project_events.as_array().unwrap().len(), 3);
    assert_eq!(project_events[0]["eventID"], ids[2].as_str());
}
