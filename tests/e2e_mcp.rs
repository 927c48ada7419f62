//! End to end with Sentry's real MCP server (npm `@sentry/mcp-server`, over stdio) against the
//! real `errata` binary, with errors sent by the real Python SDK: every tool that needs no
//! LLM key is called through a small JSON-RPC client, and each answer must name the data
//! Errata holds (and each change must show through Errata's own API afterwards).
//!
//! Without an LLM key the search tools take Sentry's query syntax as it is (their
//! natural-language translation is what needs the key); nothing here needs one.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::wait::Lines;
use common::*;
use serde_json::{Value, json};

/// The longest one MCP request may take (each tool makes a few HTTP calls to Errata).
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// Tools the server lists directly; every other tool is reached through
/// `execute_sentry_tool`, as this version exposes them.
const DIRECT_TOOLS: &[&str] = &[
    "find_organizations",
    "find_projects",
    "search_issues",
    "search_events",
    "get_sentry_resource",
    "update_issue",
    "execute_sentry_tool",
    "search_sentry_tools",
];

/// What the Python SDK's debug log says when a send fails.
const SDK_FAILURES: &[&str] = &[
    "Unexpected status code",
    "Failed to send",
    "error from sentry",
    "event was dropped",
];

/// A running `sentry-mcp` and a minimal MCP client for it: JSON-RPC 2.0, one message a line.
struct McpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    direct: Vec<String>,
}

impl McpClient {
    /// Starts the server for a plain-http Errata with only the environment it needs (no LLM
    /// key, no telemetry DSN: nothing leaves 127.0.0.1).
    fn start(deps: &Path, host: &str, token: &str) -> McpClient {
        let binary = deps.join("mcp/node_modules/.bin/sentry-mcp");
        let mut child = Command::new(&binary)
            .args(["--host", host, "--insecure-http", "--access-token", token])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", deps.join("mcp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let lines = Lines::new(child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                if text.len() < 64 * 1024 {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        let stdin = child.stdin.take();
        McpClient {
            child,
            stdin,
            lines,
            stderr,
            next_id: 0,
            direct: Vec::new(),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}").expect("write to sentry-mcp");
        stdin.flush().expect("flush to sentry-mcp");
    }

    /// One request; its `result`, or a panic naming the error.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + REQUEST_LIMIT;
        loop {
            let Some(line) = self.lines.next_before(deadline, &format!("answer to {method}")) else {
                panic!("sentry-mcp exited while answering {method}:\n{}", self.stderr());
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                panic!("sentry-mcp wrote a line that is not JSON-RPC: {line}");
            };
            // Notifications and log messages have no id; answers carry ours.
            if message.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(error) = message.get("error") {
                panic!("{method} failed: {error}\n{}", self.stderr());
            }
            return message["result"].clone();
        }
    }

    /// The handshake, then the tool list.
    fn initialize(&mut self) -> Value {
        let init = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "errata-e2e", "version": "1.0"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        let tools = self.request("tools/list", json!({}));
        self.direct = tools["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect();
        init
    }

    /// Calls a tool (directly when listed, else through `execute_sentry_tool`); its text
    /// and whether the server flagged it an error.
    fn call(&mut self, tool: &str, arguments: Value) -> (String, bool) {
        let params = if self.direct.iter().any(|d| d == tool) {
            json!({"name": tool, "arguments": arguments})
        } else {
            json!({"name": "execute_sentry_tool", "arguments": {"name": tool, "arguments": arguments}})
        };
        let result = self.request("tools/call", params);
        let text = result["content"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        (text, result["isError"] == true)
    }

    /// A tool call that must succeed; its text.
    fn tool(&mut self, tool: &str, arguments: Value) -> String {
        let (text, is_error) = self.call(tool, arguments.clone());
        assert!(!is_error, "{tool}({arguments}) answered an error:\n{text}");
        text
    }

    /// Closes stdin (the stdio transport's end) and waits, bounded, for the exit.
    fn stop(mut self) {
        drop(self.stdin.take());
        wait::wait_for(
            &mut self.child,
            Duration::from_secs(30),
            "sentry-mcp after stdin closed",
        );
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tool's JSON answer (the structured tools print their result as JSON text).
fn json_text(tool: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{tool} did not answer JSON ({e}):\n{text}"))
}

fn api(server: &BinaryServer, path: &str) -> Value {
    server.get(path)
}

/// The `**URL**: …` line of an issue answer.
fn printed_issue_url(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("**URL**: "))
        .unwrap_or_else(|| panic!("no URL line in:\n{text}"))
        .trim()
        .to_string()
}

/// Sends the test's errors with the real Python SDK: one ValueError three times, twice in
/// production and once in staging, each with a user, a breadcrumb and a `checkout.step` tag.
fn send_errors(deps: &Path, server: &BinaryServer) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/python_mcp_errors.py");
    let (ok, output) = run_output(Command::new(deps.join("venv/bin/python")).arg(script).arg(&server.dsn));
    assert!(ok, "python sender failed:\n{output}");
    for bad in SDK_FAILURES {
        assert!(!output.contains(bad), "SDK reported a send failure ({bad}):\n{output}");
    }
}

struct Sent {
    id: String,
    short_id: String,
    title: String,
    culprit: String,
    staging_event: String,
    production_event: String,
}

fn the_issue(server: &BinaryServer) -> Sent {
    let issues = api(server, "/api/0/projects/errata/default/issues/?query=");
    let issues = issues.as_array().expect("issue list");
    assert_eq!(issues.len(), 1, "one issue from the three events: {issues:#?}");
    let issue = &issues[0];
    assert_eq!(issue["count"], "3", "{issue}");
    let id = issue["id"].as_str().expect("id").to_string();
    let events = api(server, &format!("/api/0/issues/{id}/events/?query=environment:staging"));
    let staging = events.as_array().expect("events");
    assert_eq!(staging.len(), 1, "one staging event: {staging:#?}");
    let production = api(server, &format!("/api/0/issues/{id}/events/?environment=production"));
    let production = production.as_array().expect("events");
    assert_eq!(production.len(), 2, "two production events: {production:#?}");
    Sent {
        production_event: production[1]["eventID"].as_str().expect("eventID").to_string(),
        short_id: issue["shortId"].as_str().expect("shortId").to_string(),
        title: issue["title"].as_str().expect("title").to_string(),
        culprit: issue["culprit"].as_str().expect("culprit").to_string(),
        staging_event: staging[0]["eventID"].as_str().expect("eventID").to_string(),
        id,
    }
}

#[test]
fn mcp_server_tools_browse_search_and_triage_errata() {
    let deps = e2e_deps("python");
    e2e_deps("mcp");
    let server = BinaryServer::start();
    send_errors(&deps, &server);
    let sent = the_issue(&server);
    let host = server.base.trim_start_matches("http://").to_string();
    let org = |more: Value| -> Value {
        let mut args = json!({"organizationSlug": "errata"});
        if let (Some(a), Some(m)) = (args.as_object_mut(), more.as_object()) {
            a.extend(m.clone());
        }
        args
    };

    let mut mcp = McpClient::start(&deps, &host, &server.token);
    let init = mcp.initialize();
    assert_eq!(init["serverInfo"]["name"], "Sentry MCP", "{init}");
    for tool in DIRECT_TOOLS {
        assert!(
            mcp.direct.iter().any(|d| d == tool),
            "tools/list lacks {tool}: {:?}",
            mcp.direct
        );
    }

    // Who and where.
    let me = api(&server, "/api/0/auth/");
    let whoami = json_text("whoami", &mcp.tool("whoami", json!({})));
    assert_eq!(whoami["user"]["id"], me["id"], "{whoami}");
    assert_eq!(whoami["user"]["email"], me["email"], "{whoami}");
    let orgs = json_text("find_organizations", &mcp.tool("find_organizations", json!({})));
    assert_eq!(orgs["organizations"][0]["slug"], "errata", "{orgs}");
    assert_eq!(orgs["organizations"][0]["webUrl"], server.base.as_str(), "{orgs}");
    let projects = json_text("find_projects", &mcp.tool("find_projects", org(json!({}))));
    assert_eq!(projects["projects"][0]["slug"], "default", "{projects}");
    let teams = json_text("find_teams", &mcp.tool("find_teams", org(json!({}))));
    assert_eq!(teams["teams"][0]["slug"], "errata", "{teams}");
    let dsns = json_text(
        "find_dsns",
        &mcp.tool("find_dsns", org(json!({"projectSlug": "default"}))),
    );
    assert_eq!(dsns["dsns"][0]["dsn"], server.dsn.as_str(), "{dsns}");

    // The issue, by short id, by its web URL, and as a resource.
    let details = mcp.tool("get_issue_details", org(json!({"issueId": sent.short_id})));
    for needle in [
        sent.title.as_str(),
        sent.short_id.as_str(),
        sent.culprit.as_str(),
        "**Occurrences**: 3",
        "**Users Impacted**: 3",
        "**Status**: unresolved",
        "charge_card",
        "**checkout.step**:",
    ] {
        assert!(
            details.contains(needle),
            "get_issue_details lacks {needle:?}:\n{details}"
        );
    }
    let url = printed_issue_url(&details);
    assert_eq!(
        url.trim_end_matches('/'),
        format!("{}/organizations/errata/issues/{}", server.base, sent.short_id),
        "the issue's web URL"
    );
    let issue_url = format!("{}/organizations/errata/issues/{}/", server.base, sent.short_id);
    let by_url = mcp.tool("get_issue_details", json!({"issueUrl": issue_url}));
    assert!(
        by_url.contains(&sent.title) && by_url.contains(&sent.short_id),
        "{by_url}"
    );
    let resource = mcp.tool("get_sentry_resource", json!({"url": issue_url}));
    assert!(
        resource.contains(&sent.title) && resource.contains(&sent.culprit),
        "{resource}"
    );
    // An older event than the latest, so the answer must be that event's own.
    let event_url = format!("{issue_url}events/{}/", sent.production_event);
    let event = mcp.tool("get_sentry_resource", json!({"url": event_url}));
    assert!(
        event.contains(&sent.production_event),
        "get_sentry_resource(event URL):\n{event}"
    );
    assert!(event.contains("**environment**: production"), "{event}");

    // What the events carried: tags, breadcrumbs, the user.
    let environments = json_text(
        "get_issue_tag_values",
        &mcp.tool(
            "get_issue_tag_values",
            org(json!({"issueId": sent.short_id, "tagKey": "environment"})),
        ),
    );
    let counts: Vec<(String, i64)> = environments["tag"]["topValues"]
        .as_array()
        .expect("topValues")
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap_or("").to_string(),
                v["count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![("production".to_string(), 2), ("staging".to_string(), 1)],
        "{environments}"
    );
    let steps = mcp.tool(
        "get_issue_tag_values",
        org(json!({"issueId": sent.short_id, "tagKey": "checkout.step"})),
    );
    assert!(steps.contains("\"payment\"") && steps.contains("\"review\""), "{steps}");
    let crumbs = mcp.tool("get_issue_breadcrumbs", org(json!({"issueId": sent.short_id})));
    assert!(
        crumbs.contains("user reached review"),
        "get_issue_breadcrumbs:\n{crumbs}"
    );
    let stack = mcp.tool("get_event_stacktrace", org(json!({"issueId": sent.short_id})));
    assert!(stack.contains(&sent.short_id), "get_event_stacktrace:\n{stack}");
    let attachments = mcp.tool(
        "get_event_attachment",
        org(json!({"projectSlug": "default", "eventId": sent.staging_event})),
    );
    assert!(
        attachments.contains("No attachments"),
        "get_event_attachment:\n{attachments}"
    );

    // Searches in Sentry's query syntax.
    let found = mcp.tool("search_issues", org(json!({"query": "is:unresolved ValueError"})));
    assert!(found.contains(&sent.short_id) && found.contains(&sent.title), "{found}");
    assert!(
        found.contains(&format!("{}/organizations/errata/issues/?", server.base)),
        "search_issues links the search:\n{found}"
    );
    let staging = mcp.tool(
        "search_issues",
        org(json!({"query": "environment:staging", "projectSlugOrId": "default"})),
    );
    assert!(staging.contains(&sent.short_id), "{staging}");
    let nowhere = mcp.tool("search_issues", org(json!({"query": "environment:nowhere"})));
    assert!(!nowhere.contains(&sent.short_id), "{nowhere}");
    let production = mcp.tool(
        "search_events",
        org(json!({"dataset": "errors", "query": "environment:production"})),
    );
    assert!(production.contains("Found 2 errors"), "search_events:\n{production}");
    assert!(production.contains(&sent.short_id), "{production}");
    let counted = mcp.tool(
        "search_events",
        org(json!({"dataset": "errors", "query": "checkout.step:review",
                   "fields": ["title", "environment", "count()"], "sort": "-count()"})),
    );
    assert!(
        counted.contains("\"count()\": 1") && counted.contains("\"environment\": \"staging\""),
        "search_events (aggregate):\n{counted}"
    );
    let in_issue = mcp.tool(
        "search_issue_events",
        org(json!({"issueId": sent.short_id, "query": "environment:staging"})),
    );
    assert!(in_issue.contains("Found 1 error"), "search_issue_events:\n{in_issue}");
    assert!(in_issue.contains(&sent.staging_event), "{in_issue}");

    // Triage: a note, then resolving; both visible through Errata's API afterwards.
    let note = "Investigating with the payments team";
    mcp.tool("add_issue_note", org(json!({"issueId": sent.short_id, "text": note})));
    let notes = api(&server, &format!("/api/0/issues/{}/notes/", sent.id));
    assert!(
        notes
            .as_array()
            .is_some_and(|n| n.iter().any(|a| a["data"]["text"] == note)),
        "the note through the API: {notes}"
    );
    let activity = mcp.tool("get_issue_activity", org(json!({"issueId": sent.short_id})));
    assert!(activity.contains(note), "get_issue_activity:\n{activity}");
    let updated = mcp.tool(
        "update_issue",
        org(json!({"issueId": sent.short_id, "status": "resolved"})),
    );
    assert!(updated.contains("**resolved**"), "update_issue:\n{updated}");
    let issue = api(&server, &format!("/api/0/issues/{}/", sent.id));
    assert_eq!(issue["status"], "resolved", "status through the API");

    // The trace the SDK put on the events: no spans are kept, the errors are.
    let trace_id = api(&server, &format!("/api/0/issues/{}/events/latest/", sent.id))["contexts"]["trace"]["trace_id"]
        .as_str()
        .expect("trace id")
        .to_string();
    let trace = mcp.tool("get_trace_details", org(json!({"traceId": trace_id})));
    assert!(trace.contains(&trace_id), "get_trace_details:\n{trace}");

    mcp.stop();
    assert_eq!(server.stop().code(), Some(0));
}

/// find_releases lists the release the SDK sent (served by the releases endpoints).
#[test]
fn mcp_find_releases_names_the_sdk_release() {
    let deps = e2e_deps("python");
    e2e_deps("mcp");
    let server = BinaryServer::start();
    send_errors(&deps, &server);
    let host = server.base.trim_start_matches("http://").to_string();
    let mut mcp = McpClient::start(&deps, &host, &server.token);
    mcp.initialize();
    let releases = mcp.tool("find_releases", json!({"organizationSlug": "errata"}));
    // The MCP server shows a release by Sentry's short version (`shop@2.1.0` → `2.1.0`).
    assert!(
        releases.contains("\"version\": \"2.1.0\""),
        "find_releases:\n{releases}"
    );
    assert!(releases.contains("\"newIssues\": 1"), "find_releases:\n{releases}");
    let listed = api(&server, "/api/0/organizations/errata/releases/");
    assert_eq!(listed[0]["version"], "shop@2.1.0", "the API keeps the full version");
    mcp.stop();
    assert_eq!(server.stop().code(), Some(0));
}
