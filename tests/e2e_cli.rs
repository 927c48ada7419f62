//! End to end with the real sentry-cli (from npm) against the real `errata` binary:
//! send-event, info, projects list, issues list (plain, --status, --query), issues resolve.

mod common;

use std::process::Command;

use common::sentry_cli::{cli, run, sentry_cli};
use common::*;
use serde_json::{Value, json};

fn api(server: &BinaryServer, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .request(method, format!("{}{}", server.base, path))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().unwrap_or(Value::Null)
}

/// The table row of `issues list` that mentions `needle`.
fn row<'a>(output: &'a str, needle: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle:?} in:\n{output}"))
}

#[test]
fn sentry_cli_sends_lists_and_resolves_against_errata() {
    let deps = e2e_deps("node");
    let binary = sentry_cli(&deps);
    let server = BinaryServer::start();
    let home = tempfile::tempdir().expect("home");
    let cli = || cli(&binary, home.path(), &server.base, &server.token);

    // send-event: a message event through the DSN.
    let output = run(cli()
        .env("SENTRY_DSN", &server.dsn)
        .args(["send-event", "-m", "Checkout failed for order 17"]));
    assert!(output.contains("Event dispatched"), "{output}");
    // Two exception issues, as an SDK sends them, one of them a warning.
    let client = reqwest::blocking::Client::new();
    let (key, project) = {
        let rest = server.dsn.trim_start_matches("http://");
        let (key, host) = rest.split_once('@').unwrap();
        (key.to_string(), host.rsplit('/').next().unwrap().to_string())
    };
    for (ty, level) in [("ZeroDivisionError", "error"), ("DeprecationWarning", "warning")] {
        let mut event = exception_event(ty, "from the test", "app.jobs", "work");
        event["level"] = json!(level);
        let response = client
            .post(format!(
                "{}/api/{project}/envelope/?sentry_key={key}&sentry_version=7",
                server.base
            ))
            .body(envelope_for(&event))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let issues = api(
        &server,
        reqwest::Method::GET,
        "/api/0/projects/errata/default/issues/?query=",
        None,
    );
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 3, "{issues:#?}");
    let by_title = |prefix: &str| {
        issues
            .iter()
            .find(|i| i["title"].as_str().unwrap().starts_with(prefix))
            .unwrap()
    };
    let message = by_title("Checkout failed for order 17");
    let zero = by_title("ZeroDivisionError");
    let warning = by_title("DeprecationWarning");

    // info: the server, the defaults, and the token's user and scopes.
    let output = run(cli().arg("info"));
    assert!(output.contains(&server.base), "{output}");
    assert!(output.contains("errata") && output.contains("default"), "{output}");
    assert!(output.contains("errata@localhost"), "{output}");
    assert!(output.contains("event:admin"), "{output}");

    // projects list: the one project.
    let output = run(cli().args(["projects", "list", "--org", "errata"]));
    let line = row(&output, "default");
    assert!(line.contains("Default"), "{output}");

    // issues list: every unresolved issue with its id, short id, title, status, level.
    let output = run(cli().args(["issues", "list", "--org", "errata", "--project", "default"]));
    for issue in [message, zero, warning] {
        let line = row(&output, issue["shortId"].as_str().unwrap());
        assert!(line.contains(issue["id"].as_str().unwrap()), "{line}");
        assert!(line.contains("unresolved"), "{line}");
        assert!(line.contains(issue["level"].as_str().unwrap()), "{line}");
    }
    assert!(row(&output, "ZeroDivisionError").contains(zero["shortId"].as_str().unwrap()));
    assert!(output.contains("Checkout failed for order 17"), "{output}");

    // issues resolve -i: the server holds it resolved.
    let zero_id = zero["id"].as_str().unwrap();
    run(cli().args([
        "issues",
        "resolve",
        "--org",
        "errata",
        "--project",
        "default",
        "-i",
        zero_id,
    ]));
    let resolved = api(
        &server,
        reqwest::Method::GET,
        &format!("/api/0/issues/{zero_id}/"),
        None,
    );
    assert_eq!(resolved["status"], "resolved");

    // --status: sentry-cli uses it to select issues for bulk commands; `list` sends `query=`
    // (every status) whatever it is, so the table shows each issue with the status it has.
    for status in ["resolved", "unresolved"] {
        let output = run(cli().args([
            "issues",
            "list",
            "--org",
            "errata",
            "--project",
            "default",
            "--status",
            status,
        ]));
        assert!(
            row(&output, zero["shortId"].as_str().unwrap()).contains("| resolved"),
            "{output}"
        );
        assert!(
            row(&output, warning["shortId"].as_str().unwrap()).contains("| unresolved"),
            "{output}"
        );
    }
    // Bulk commands do filter by --status: unresolve every resolved issue, then resolve it again.
    run(cli().args([
        "issues",
        "unresolve",
        "--org",
        "errata",
        "--project",
        "default",
        "--status",
        "resolved",
    ]));
    let issue = api(
        &server,
        reqwest::Method::GET,
        &format!("/api/0/issues/{zero_id}/"),
        None,
    );
    assert_eq!(issue["status"], "unresolved");
    run(cli().args([
        "issues",
        "resolve",
        "--org",
        "errata",
        "--project",
        "default",
        "-i",
        zero_id,
    ]));
    let warning_id = warning["id"].as_str().unwrap();
    assert_eq!(
        api(
            &server,
            reqwest::Method::GET,
            &format!("/api/0/issues/{warning_id}/"),
            None
        )["status"],
        "unresolved"
    );

    // --query: the search syntax.
    let output = run(cli().args([
        "issues",
        "list",
        "--org",
        "errata",
        "--project",
        "default",
        "--query",
        "level:warning",
    ]));
    assert!(row(&output, warning["shortId"].as_str().unwrap()).contains("DeprecationWarning"));
    assert!(!output.contains(message["shortId"].as_str().unwrap()), "{output}");
    let output = run(cli().args([
        "issues",
        "list",
        "--org",
        "errata",
        "--project",
        "default",
        "--query",
        "is:resolved",
    ]));
    assert!(row(&output, zero["shortId"].as_str().unwrap()).contains("ZeroDivisionError"));
    assert!(!output.contains(warning["shortId"].as_str().unwrap()), "{output}");

    // An organization token (`sntrys_`) carries the URL and organization: info works with it alone.
    let (ok, token) = run_output(
        Command::new(env!("CARGO_BIN_EXE_errata"))
            .args(["token", "create", "ci", "--scope", "read", "--org", "errata"])
            .env("ERRATA_DATA_DIR", server.dir.path())
            .env("ERRATA_PUBLIC_URL", &server.base)
            .env("RUST_LOG", "error"),
    );
    assert!(ok, "{token}");
    let token = token.trim();
    assert!(token.starts_with("sntrys_"), "{token}");
    let mut info = cli();
    info.env_remove("SENTRY_URL")
        .env_remove("SENTRY_ORG")
        .env("SENTRY_AUTH_TOKEN", token);
    let output = run(info.arg("info"));
    assert!(output.contains(&server.base), "the URL comes from the token: {output}");
    assert!(
        output.contains("project:read") && !output.contains("errata@localhost"),
        "{output}"
    );
    // Neither URL nor organization given: both come from the token.
    let mut projects = cli();
    projects
        .env_remove("SENTRY_URL")
        .env_remove("SENTRY_ORG")
        .env("SENTRY_AUTH_TOKEN", token);
    let output = run(projects.args(["projects", "list"]));
    assert!(row(&output, "default").contains("Default"), "{output}");
    assert_eq!(server.stop().code(), Some(0));
}
