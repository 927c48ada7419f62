//! Tokens bound to an organization and to projects, against the real server: a bound token
//! gets 404 for everything outside (project, issue and event routes), lists show only what it
//! sees, and weakening protection (scrubbing, grouping, what keys admit) takes `admin`.

mod common;

use common::{TestServer, envelope_for, errata_cli, exception_event, spawn_server};
use reqwest::Method;
use serde_json::{Value, json};

fn call(server: &TestServer, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request");
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn get(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    call(server, Method::GET, path, token, None)
}

/// `errata token create` with these arguments, as an operator runs it.
fn cli_token(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = errata_cli(server.dir.path(), &all);
    assert!(ok, "token create {args:?}: {stderr}");
    stdout.trim().to_string()
}

/// The instance: org `errata` with projects `default` and `api`, org `other` with `secret`;
/// one exception event (its own issue) in each project. Returns each project's
/// (issue id, event id).
struct Instance {
    server: TestServer,
    default: (String, String),
    api: (String, String),
    secret: (String, String),
}

fn send_to(server: &TestServer, project_id: i64, public_key: &str, event: &Value) -> String {
    let response = server
        .client
        .post(format!("{}/api/{project_id}/envelope/", server.base))
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={public_key}, sentry_version=7"),
        )
        .body(envelope_for(event))
        .send()
        .expect("send");
    assert_eq!(response.status(), 200);
    response.json::<Value>().expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn instance() -> Instance {
    let server = spawn_server();
    let (status, api) = call(
        &server,
        Method::POST,
        "/api/0/organizations/errata/projects/new/",
        &server.token,
        Some(json!({"name": "api"})),
    );
    assert_eq!(status, 201, "{api}");
    {
        let db = server.db();
        for sql in [
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (2, 'other', 'Other', 0)",
            "INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (90, 2, 'secret', 'Secret', 0)",
            "INSERT INTO project_keys (project_id, public_key, secret_key, label, date_created)
                 VALUES (90, '5ec7e75ec7e75ec7e75ec7e75ec7e75e', 's', 'k', 0)",
        ] {
            db.execute(sql, &[]);
        }
    }
    let api_id: i64 = api["id"].as_str().expect("id").parse().expect("number");
    let keys = get(&server, "/api/0/projects/errata/api/keys/", &server.token).1;
    let api_key = keys[0]["public"].as_str().expect("key").to_string();
    let mut ids = Vec::new();
    for (project, key, slug) in [
        (server.project_id, server.public_key.clone(), "default"),
        (api_id, api_key, "api"),
        (90, "5ec7e75ec7e75ec7e75ec7e75ec7e75e".to_string(), "secret"),
    ] {
        let event = exception_event(&format!("Error{slug}"), "boom", &format!("app.{slug}"), slug);
        let event_id = send_to(&server, project, &key, &event);
        let org = if slug == "secret" { "other" } else { "errata" };
        let stored = get(
            &server,
            &format!("/api/0/projects/{org}/{slug}/events/{event_id}/"),
            &server.token,
        );
        assert_eq!(stored.0, 200, "{}", stored.1);
        ids.push((stored.1["groupID"].as_str().expect("group").to_string(), event_id));
    }
    let secret = ids.pop().expect("three");
    let api = ids.pop().expect("three");
    let default = ids.pop().expect("three");
    Instance {
        server,
        default,
        api,
        secret,
    }
}

fn slugs(list: &Value) -> Vec<String> {
    let mut slugs: Vec<String> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["slug"].as_str().expect("slug").to_string())
        .collect();
    slugs.sort();
    slugs
}

#[test]
fn a_project_bound_token_sees_its_projects_and_nothing_else() {
    let Instance {
        server,
        default,
        api,
        secret,
    } = instance();
    let token = cli_token(
        &server,
        &["ci", "--scope", "read", "--org", "errata", "--project", "default"],
    );

    // Inside: its project, its issue, its event.
    for path in [
        "/api/0/projects/errata/default/".to_string(),
        "/api/0/projects/errata/default/issues/".to_string(),
        "/api/0/projects/errata/default/events/".to_string(),
        "/api/0/projects/errata/default/keys/".to_string(),
        format!("/api/0/issues/{}/", default.0),
        format!("/api/0/issues/{}/events/", default.0),
        format!("/api/0/projects/errata/default/events/{}/json/", default.1),
        format!("/api/0/organizations/errata/eventids/{}/", default.1),
    ] {
        let (status, body) = get(&server, &path, &token);
        assert_eq!(status, 200, "{path}: {body}");
    }

    // Outside: another project of its organization, and another organization, all 404.
    for (issue, event, org, project) in [(&api, "errata", "errata", "api"), (&secret, "other", "other", "secret")]
        .map(|(ids, _, org, project)| (&ids.0, &ids.1, org, project))
    {
        for path in [
            format!("/api/0/projects/{org}/{project}/"),
            format!("/api/0/projects/{org}/{project}/issues/"),
            format!("/api/0/projects/{org}/{project}/events/"),
            format!("/api/0/projects/{org}/{project}/events/{event}/"),
            format!("/api/0/projects/{org}/{project}/events/{event}/json/"),
            format!("/api/0/projects/{org}/{project}/keys/"),
            format!("/api/0/projects/{org}/{project}/stats/"),
            format!("/api/0/issues/{issue}/"),
            format!("/api/0/groups/{issue}/"),
            format!("/api/0/issues/{issue}/events/"),
            format!("/api/0/issues/{issue}/events/latest/"),
            format!("/api/0/issues/{issue}/tags/"),
            format!("/api/0/issues/{issue}/hashes/"),
            format!("/api/0/organizations/{org}/issues/{issue}/"),
            format!("/api/0/organizations/{org}/eventids/{event}/"),
        ] {
            let (status, body) = get(&server, &path, &token);
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
    assert_eq!(get(&server, "/api/0/organizations/other/", &token).0, 404);

    // Lists hold only what it sees.
    assert_eq!(slugs(&get(&server, "/api/0/projects/", &token).1), ["default"]);
    assert_eq!(
        slugs(&get(&server, "/api/0/organizations/errata/projects/", &token).1),
        ["default"]
    );
    assert_eq!(slugs(&get(&server, "/api/0/organizations/", &token).1), ["errata"]);
    assert_eq!(
        slugs(&get(&server, "/api/0/organizations/errata/", &token).1["projects"]),
        ["default"]
    );
    let issues = get(&server, "/api/0/organizations/errata/issues/?query=", &token).1;
    let ids: Vec<&str> = issues
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [default.0.as_str()], "{issues}");
    let (status, _) = get(&server, "/api/0/organizations/errata/issues/?project=api", &token);
    assert_eq!(status, 403, "a project it does not see is like one that does not exist");

    // The admin token still sees everything.
    assert_eq!(
        slugs(&get(&server, "/api/0/projects/", &server.token).1),
        ["api", "default", "secret"]
    );
}

#[test]
fn a_bound_write_token_changes_issues_only_inside_and_cannot_weaken_protection() {
    let Instance {
        server, default, api, ..
    } = instance();
    let write = cli_token(
        &server,
        &["triage", "--scope", "write", "--org", "errata", "--project", "default"],
    );
    let (status, body) = call(
        &server,
        Method::PUT,
        &format!("/api/0/issues/{}/", default.0),
        &write,
        Some(json!({"status": "resolved"})),
    );
    assert_eq!((status, body["status"].clone()), (200, json!("resolved")));
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("/api/0/issues/{}/", api.0),
        &write,
        Some(json!({"status": "resolved"})),
    );
    assert_eq!(status, 404, "an issue of another project");
    let (status, _) = call(
        &server,
        Method::PUT,
        "/api/0/projects/errata/api/issues/?status=unresolved",
        &write,
        Some(json!({"status": "ignored"})),
    );
    assert_eq!(status, 404, "bulk changes in another project");
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("/api/0/organizations/errata/issues/?id={}", api.0),
        &write,
        Some(json!({"status": "ignored"})),
    );
    assert_eq!(status, 204, "the org-wide bulk change finds nothing it may touch");
    let api_issue = get(&server, &format!("/api/0/issues/{}/", api.0), &server.token).1;
    assert_eq!(api_issue["status"], "unresolved", "untouched");

    // Merging issues of its project is triage: allowed.
    let second = server.send_event(&exception_event("Other", "x", "app.m", "m"));
    let second_issue = get(
        &server,
        &format!("/api/0/projects/errata/default/events/{second}/"),
        &server.token,
    )
    .1["groupID"]
        .as_str()
        .expect("group")
        .to_string();
    let (status, body) = call(
        &server,
        Method::PUT,
        &format!(
            "/api/0/projects/errata/default/issues/?id={}&id={second_issue}",
            default.0
        ),
        &write,
        Some(json!({"merge": 1})),
    );
    assert_eq!(status, 200, "{body}");

    let project = "/api/0/projects/errata/default/";
    let key = format!("{project}keys/{}/", server.public_key);
    for (method, path, body) in [
        (
            Method::PUT,
            project.to_string(),
            json!({"scrubbing": {"scrub_defaults": false}}),
        ),
        (
            Method::PUT,
            project.to_string(),
            json!({"fingerprintingRules": "error.type:* -> all\n"}),
        ),
        (
            Method::PUT,
            project.to_string(),
            json!({"groupingEnhancements": "stack.function:* -app\n"}),
        ),
        (
            Method::PUT,
            key.clone(),
            json!({"rateLimit": {"count": 0, "window": 60}}),
        ),
        (Method::PUT, key.clone(), json!({"rateLimit": null})),
        (Method::PUT, key.clone(), json!({"allowedOrigins": "*"})),
        (Method::PUT, key.clone(), json!({"isActive": false})),
        (Method::POST, format!("{project}keys/"), json!({"name": "extra"})),
        (Method::DELETE, key.clone(), json!({})),
    ] {
        for token in [&write, &cli_token(&server, &["w", "--scope", "write"])] {
            let (status, answer) = call(&server, method.clone(), &path, token, Some(body.clone()));
            assert_eq!(status, 403, "{method} {path} {body}: {answer}");
        }
    }
    // Unchanged: scrubbing still on.
    let id = server.send_event(&json!({"message": "x", "extra": {"password": "hunter2"}}));
    let stored = get(&server, &format!("{project}events/{id}/"), &server.token).1;
    assert_eq!(stored["context"]["password"], "[Filtered]");
    // Renaming is not weakening.
    let (status, _) = call(&server, Method::PUT, &key, &write, Some(json!({"name": "renamed"})));
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::PUT, project, &write, Some(json!({"name": "Default"})));
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/0/organizations/errata/projects/new/",
        &write,
        Some(json!({"name": "sneaky"})),
    );
    assert_eq!(status, 403, "a project-bound token would not see what it creates");

    // An admin token bound to the project may change what protects it.
    let admin = cli_token(
        &server,
        &["owner", "--scope", "admin", "--org", "errata", "--project", "default"],
    );
    let (status, body) = call(
        &server,
        Method::PUT,
        project,
        &admin,
        Some(json!({"scrubbing": {"scrub_defaults": false}})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(
        &server,
        Method::PUT,
        "/api/0/projects/errata/api/",
        &admin,
        Some(json!({"scrubbing": {"scrub_defaults": false}})),
    );
    assert_eq!(status, 404, "but only its own");
}

#[test]
fn organization_tokens_act_only_in_the_organization_they_name() {
    let Instance {
        server,
        default,
        secret,
        ..
    } = instance();
    // Minted by the CLI (organization stored) and minted before tokens stored it (claim only).
    let minted = cli_token(&server, &["ci", "--scope", "read", "--org", "other"]);
    let legacy = {
        server
            .block_on(server.store.create_org_token("old", &["read"], &server.base, "other"))
            .expect("token")
    };
    for token in [&minted, &legacy] {
        assert!(token.starts_with("sntrys_"), "{token}");
        assert_eq!(get(&server, "/api/0/organizations/other/", token).0, 200);
        assert_eq!(get(&server, &format!("/api/0/issues/{}/", secret.0), token).0, 200);
        for path in [
            "/api/0/organizations/errata/".to_string(),
            "/api/0/organizations/errata/issues/".to_string(),
            "/api/0/projects/errata/default/".to_string(),
            format!("/api/0/issues/{}/", default.0),
            format!("/api/0/organizations/errata/eventids/{}/", default.1),
        ] {
            let (status, body) = get(&server, &path, token);
            assert_eq!(status, 404, "{path}: {body}");
        }
        assert_eq!(slugs(&get(&server, "/api/0/projects/", token).1), ["secret"]);
        assert_eq!(slugs(&get(&server, "/api/0/organizations/", token).1), ["other"]);
    }
}

#[test]
fn the_cli_refuses_projects_it_cannot_bind_and_lists_bindings() {
    let Instance { server, .. } = instance();
    let (ok, _, stderr) = errata_cli(
        server.dir.path(),
        &["token", "create", "x", "--scope", "read", "--project", "nope"],
    );
    assert!(!ok);
    assert!(stderr.contains("organizations: name one with --org"), "{stderr}");
    let (ok, _, stderr) = errata_cli(
        server.dir.path(),
        &[
            "token",
            "create",
            "x",
            "--scope",
            "read",
            "--org",
            "errata",
            "--project",
            "secret",
        ],
    );
    assert!(!ok, "a project of another organization");
    assert!(
        stderr.contains("no project \"secret\" in organization errata"),
        "{stderr}"
    );
    cli_token(
        &server,
        &[
            "two",
            "--scope",
            "read",
            "--org",
            "errata",
            "--project",
            "default",
            "--project",
            "api",
        ],
    );
    let (ok, list, _) = errata_cli(server.dir.path(), &["token", "list"]);
    assert!(ok);
    let line = list.lines().find(|l| l.contains("\ttwo\t")).expect("listed");
    assert!(line.contains("organization 1, projects 1,2"), "{line}");
}
