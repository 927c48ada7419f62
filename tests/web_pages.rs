//! The issue and project pages over HTTP, signed in as people with each role: the stream's
//! filters, sorts and pages; an issue by id and by short id; event navigation; triage
//! actions; a viewer's writes refused; and no scrubbed secret on any page.

mod common;

use common::browser::{Answer, Browser};
use common::{TestServer, exception_event, spawn_server};
use errata::store::users::Role;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const ORG: &str = "errata";

/// Signs a new person with `role` in through the sign-in form.
fn sign_in(server: &TestServer, role: Role) -> Browser {
    common::browser::sign_in(server, role, ORG)
}

/// Rows of the issue stream in a page.
fn rows(html: &str) -> usize {
    html.matches("data-nav-row").count()
}

/// The `href` of the link whose text is `text`.
fn link(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!(">{text}"))?;
    let start = html[..end].rfind("href=\"")? + 6;
    let href = &html[start..];
    Some(href[..href.find('"')?].replace("&#38;", "&").replace("&amp;", "&"))
}

fn issue_id(server: &TestServer, event_id: &str) -> String {
    let event = server.get_ok(&format!("/api/0/projects/{ORG}/default/events/{event_id}/"));
    event["groupID"].as_str().expect("group id").to_string()
}

fn status_of(server: &TestServer, id: &str) -> String {
    server.get_ok(&format!("/api/0/issues/{id}/"))["status"]
        .as_str()
        .expect("status")
        .to_string()
}

fn now_secs() -> i64 {
    errata::store::now_us() / 1_000_000
}

fn send_error(server: &TestServer, ty: &str) -> String {
    server.send_event(&exception_event(ty, "went wrong", "app.x", "handler"))
}

#[test]
fn signed_out_pages_send_the_browser_to_sign_in() {
    let server = spawn_server();
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/organizations/{ORG}/issues/WEB-1/", server.base))
        .header("Accept", "text/html")
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().expect("location");
    assert!(location.starts_with("/auth/login/?next="), "{location}");
    assert!(location.contains("WEB-1"), "{location}");
}

#[test]
fn the_stream_filters_sorts_and_pages() {
    let server = spawn_server();
    for i in 0..27 {
        send_error(&server, &format!("Error{i:02}"));
    }
    let mut warning = exception_event("SlowQuery", "took 3 s", "app.db", "query");
    warning["level"] = json!("warning");
    warning["environment"] = json!("staging");
    server.send_event(&warning);
    // One issue with more events than the others, for the Events sort.
    for _ in 0..3 {
        send_error(&server, "Frequent");
    }
    let browser = sign_in(&server, Role::Member);

    let first = browser.page(&format!("/organizations/{ORG}/issues/"));
    assert_eq!(rows(&first), 25, "a page holds 25 issues");
    let next = link(&first, "Next page").expect("a next page link");
    let second = browser.page(&next);
    assert_eq!(rows(&second), 4, "29 issues: 25 + 4 (next page {next})");
    assert!(link(&second, "Next page").is_none());
    assert!(link(&second, "« First page").is_some());

    let by_level = browser.page(&format!(
        "/organizations/{ORG}/issues/?query=is%3Aunresolved+level%3Awarning"
    ));
    assert_eq!(rows(&by_level), 1);
    assert!(by_level.contains("SlowQuery"));

    let by_env = browser.page(&format!("/organizations/{ORG}/issues/?environment=staging"));
    assert_eq!(rows(&by_env), 1);
    assert!(by_env.contains("SlowQuery"));

    let by_events = browser.page(&format!("/organizations/{ORG}/issues/?sort=freq"));
    let first_row = &by_events[by_events.find("data-nav-row").expect("a row")..];
    let first_title = &first_row[..first_row.find("</a>").expect("title link")];
    assert!(first_title.contains("Frequent"), "{first_title}");

    let (status, body) = browser.get(&format!("/organizations/{ORG}/issues/?sort=random"));
    assert_eq!(status, 400, "{body}");
    let bad_search = browser.page(&format!("/organizations/{ORG}/issues/?query=times_seen%3Amany"));
    assert_eq!(rows(&bad_search), 0);
    assert!(bad_search.contains("role=\"alert\""), "the search's error is shown");
}

/// The issue ids of the stream's rows, in order.
fn row_ids(html: &str) -> Vec<String> {
    html.split("data-issue=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("closing quote")].to_string())
        .collect()
}

/// The count a status tab shows, if any ("58", "1,000+").
fn tab_count(html: &str, tab: &str) -> Option<String> {
    let marker = format!(">{tab} <span class=\"count\">");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..at + html[at..].find('<')?].to_string())
}

#[test]
fn previous_page_returns_exactly_the_rows_of_the_page_before_in_every_sort() {
    let server = spawn_server();
    // 60 issues: three pages (25, 25, 10). A few have more events, so the count sorts have
    // an order of their own and ties elsewhere.
    for i in 0..60 {
        send_error(&server, &format!("Paged{i:02}"));
        if i % 7 == 0 {
            send_error(&server, &format!("Paged{i:02}"));
        }
    }
    let browser = sign_in(&server, Role::Member);
    for sort in ["date", "new", "freq", "user"] {
        let first = browser.page(&format!("/organizations/{ORG}/issues/?sort={sort}"));
        assert!(
            link(&first, "‹ Previous page").is_none(),
            "{sort}: no page before the first"
        );
        let second = browser.page(&link(&first, "Next page").expect("a second page"));
        let third = browser.page(&link(&second, "Next page").expect("a third page"));
        let pages = [row_ids(&first), row_ids(&second), row_ids(&third)];
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 10], "{sort}");
        let mut all: Vec<&String> = pages.iter().flatten().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 60, "{sort}: every issue once over the three pages");
        assert!(link(&third, "Next page").is_none(), "{sort}");

        let back_to_second = browser.page(&link(&third, "‹ Previous page").expect("a previous page"));
        assert_eq!(row_ids(&back_to_second), pages[1], "{sort}: third, then previous");
        let back_to_first = browser.page(&link(&back_to_second, "‹ Previous page").expect("a previous page"));
        assert_eq!(row_ids(&back_to_first), pages[0], "{sort}: second, then previous");
        assert!(
            link(&back_to_first, "‹ Previous page").is_none(),
            "{sort}: the first page reached going back has none before it"
        );
        let forward_again = browser.page(&link(&back_to_first, "Next page").expect("next again"));
        assert_eq!(row_ids(&forward_again), pages[1], "{sort}: and next again");
        assert!(link(&second, "« First page").is_some());
    }
}

#[test]
fn status_tabs_count_the_issues_of_the_current_search() {
    let server = spawn_server();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(issue_id(&server, &send_error(&server, &format!("Counted{i:02}"))));
    }
    let mut warning = exception_event("SlowQuery", "took 3 s", "app.db", "query");
    warning["level"] = json!("warning");
    warning["environment"] = json!("staging");
    server.send_event(&warning);
    let browser = sign_in(&server, Role::Member);
    for (id, status) in [(&ids[0], "resolved"), (&ids[1], "resolved"), (&ids[2], "ignored")] {
        let (code, _) = server.put_json(&format!("/api/0/issues/{id}/"), &json!({"status": status}));
        assert_eq!(code, 200);
    }

    let page = browser.page(&format!("/organizations/{ORG}/issues/"));
    let counts: Vec<Option<String>> = ["Unresolved", "Resolved", "Ignored", "All"]
        .iter()
        .map(|tab| tab_count(&page, tab))
        .collect();
    let expected = ["10", "2", "1", "13"].map(|c| Some(c.to_string()));
    assert_eq!(counts, expected, "each tab counts its status");

    // The counts follow the search, the environment and the project, whichever tab is open.
    let page = browser.page(&format!(
        "/organizations/{ORG}/issues/?query=is%3Aresolved+level%3Awarning"
    ));
    assert_eq!(tab_count(&page, "Unresolved").as_deref(), Some("1"));
    assert_eq!(tab_count(&page, "Resolved").as_deref(), Some("0"));
    assert_eq!(tab_count(&page, "All").as_deref(), Some("1"));
    let page = browser.page(&format!("/organizations/{ORG}/issues/?query=&environment=staging"));
    assert_eq!(tab_count(&page, "All").as_deref(), Some("1"));
    let page = browser.page(&format!("/organizations/{ORG}/issues/?query=Counted0"));
    assert_eq!(tab_count(&page, "All").as_deref(), Some("10"));
    assert_eq!(tab_count(&page, "Resolved").as_deref(), Some("2"));

    // A search the parser refuses shows its error and no counts.
    let refused = browser.page(&format!("/organizations/{ORG}/issues/?query=times_seen%3Amany"));
    assert!(refused.contains("role=\"alert\""));
    assert!(tab_count(&refused, "All").is_none());
    assert!(!refused.contains("class=\"count\""));

    // The store counts no further than one past its cap.
    let filter = errata::store::IssueFilter::default;
    assert_eq!(
        server.block_on(server.store.count_issues(filter(), 5)).expect("count"),
        6
    );
    assert_eq!(
        server
            .block_on(server.store.count_issues(filter(), 100))
            .expect("count"),
        13
    );
    assert_eq!(errata::web::view::stream::count_label(1001, 1000), "1,000+");
}

#[test]
fn an_issue_opens_by_id_and_by_short_id() {
    let server = spawn_server();
    let event_id = send_error(&server, "LookupFailed");
    let id = issue_id(&server, &event_id);
    let short_id = server.get_ok(&format!("/api/0/issues/{id}/"))["shortId"]
        .as_str()
        .expect("short id")
        .to_string();
    let browser = sign_in(&server, Role::Viewer);
    let by_id = browser.page(&format!("/organizations/{ORG}/issues/{id}/"));
    assert!(by_id.contains("LookupFailed"));
    assert!(by_id.contains(&short_id));
    assert!(
        by_id.contains("app/x.py in handler at line 20"),
        "the in-app frame is shown"
    );
    let by_short = browser.page(&format!("/organizations/{ORG}/issues/{short_id}/"));
    assert!(by_short.contains("LookupFailed"));
    let lower = browser.page(&format!(
        "/organizations/{ORG}/issues/{}/?project=default",
        short_id.to_lowercase()
    ));
    assert!(lower.contains("LookupFailed"));
    let (status, _) = browser.get(&format!("/organizations/{ORG}/issues/DEFAULT-ZZZZ/"));
    assert_eq!(status, 404);
    let (status, _) = browser.get("/organizations/nope/issues/");
    assert_eq!(status, 404);
}

#[test]
fn events_of_an_issue_are_navigated_older_newer_oldest_latest() {
    let server = spawn_server();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let mut event = exception_event("Repeated", "again", "app.x", "handler");
            event["timestamp"] = json!(now_secs() - 600 + i * 60);
            server.send_event(&event)
        })
        .collect();
    let id = issue_id(&server, &ids[0]);
    let browser = sign_in(&server, Role::Viewer);
    let base = format!("/organizations/{ORG}/issues/{id}/");

    let latest = browser.page(&base);
    assert!(latest.contains(&ids[2]), "the issue page shows the latest event");
    assert!(link(&latest, "Newer ›").is_none());
    let older = link(&latest, "‹ Older").expect("an older event");
    assert!(browser.page(&older).contains(&ids[1]));

    let oldest = browser.page(&format!("{base}events/oldest/"));
    assert!(oldest.contains(&ids[0]));
    assert!(link(&oldest, "‹ Older").is_none());
    let newer = link(&oldest, "Newer ›").expect("a newer event");
    assert!(browser.page(&newer).contains(&ids[1]));

    assert!(browser.page(&format!("{base}events/latest/")).contains(&ids[2]));
    assert!(browser.page(&format!("{base}events/{}/", ids[1])).contains(&ids[1]));
    let (status, _) = browser.get(&format!("{base}events/{}/", "0".repeat(32)));
    assert_eq!(status, 404);
    let (status, _) = browser.get(&format!("{base}events/not-an-id/"));
    assert_eq!(status, 404);
}

#[test]
fn actions_change_an_issues_status_and_leave_the_stream() {
    let server = spawn_server();
    let first = issue_id(&server, &send_error(&server, "FirstError"));
    let second = issue_id(&server, &send_error(&server, "SecondError"));
    let third = issue_id(&server, &send_error(&server, "ThirdError"));
    let browser = sign_in(&server, Role::Member);
    let issue = format!("/organizations/{ORG}/issues/{first}/");

    let Answer { status, location, .. } = browser.post(&format!("{issue}status/"), &[("action", "resolve")]);
    assert_eq!((status, location.as_str()), (303, issue.as_str()));
    assert_eq!(status_of(&server, &first), "resolved");
    let stream = browser.page(&format!("/organizations/{ORG}/issues/"));
    assert!(
        !stream.contains("FirstError"),
        "a resolved issue leaves the unresolved stream"
    );
    let resolved = browser.page(&format!("/organizations/{ORG}/issues/?query=is%3Aresolved"));
    assert!(resolved.contains("FirstError"));

    browser.post(&format!("{issue}status/"), &[("action", "unresolve")]);
    assert_eq!(status_of(&server, &first), "unresolved");
    browser.post(&format!("{issue}status/"), &[("action", "resolve_next")]);
    let detail = server.get_ok(&format!("/api/0/issues/{first}/"));
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["statusDetails"]["inNextRelease"], true);

    // From the stream: ignore two checked issues, then merge them.
    let back = format!("/organizations/{ORG}/issues/?query=is%3Aunresolved");
    let Answer { status, location, .. } = browser.post(
        &format!("/organizations/{ORG}/issues/"),
        &[
            ("action", "ignore"),
            ("issue", &second),
            ("issue", &third),
            ("back", &back),
        ],
    );
    assert_eq!((status, location.as_str()), (303, back.as_str()));
    assert_eq!(status_of(&server, &second), "ignored");
    assert_eq!(status_of(&server, &third), "ignored");
    let Answer { status, .. } = browser.post(
        &format!("/organizations/{ORG}/issues/"),
        &[("action", "merge"), ("issue", &second), ("issue", &third)],
    );
    assert_eq!(status, 303);
    let remaining: Vec<Value> = server.issues("is%3Aignored");
    assert_eq!(remaining.len(), 1, "two issues merged into one");

    // Off-site `back` is not followed.
    let Answer { status, location, .. } = browser.post(
        &format!("/organizations/{ORG}/issues/"),
        &[("action", "unresolve"), ("issue", &second), ("back", "//evil.example/")],
    );
    assert_eq!((status, location.as_str()), (303, "/organizations/errata/issues/"));

    // Delete asks first; the confirmation deletes.
    let confirm = browser.page(&format!("{issue}delete/"));
    assert!(confirm.contains("Delete the issue"));
    let Answer { status, .. } = browser.post(&format!("{issue}delete/"), &[]);
    assert_eq!(status, 400, "no confirmation, nothing deleted");
    assert_eq!(server.get(&format!("/api/0/issues/{first}/")).0, 200);
    let Answer { status, .. } = browser.post(&format!("{issue}delete/"), &[("confirm", "yes")]);
    assert_eq!(status, 303);
    assert_eq!(server.get(&format!("/api/0/issues/{first}/")).0, 404);

    let Answer { status, .. } = browser.post(&format!("{issue}status/"), &[("action", "explode")]);
    assert_eq!(status, 404, "the deleted issue is gone");
    let live = format!("/organizations/{ORG}/issues/{second}/status/");
    let Answer { status, .. } = browser.post(&live, &[("action", "explode")]);
    assert_eq!(status, 400);
}

#[test]
fn a_viewer_reads_but_cannot_change_anything() {
    let server = spawn_server();
    let id = issue_id(&server, &send_error(&server, "ReadOnly"));
    let viewer = sign_in(&server, Role::Viewer);
    let page = viewer.page(&format!("/organizations/{ORG}/issues/{id}/"));
    assert!(!page.contains("value=\"resolve\""), "no action buttons for a viewer");
    let Answer { status, .. } = viewer.post(
        &format!("/organizations/{ORG}/issues/{id}/status/"),
        &[("action", "resolve")],
    );
    assert_eq!(status, 403);
    let Answer { status, .. } = viewer.post(
        &format!("/organizations/{ORG}/issues/"),
        &[("action", "resolve"), ("issue", &id)],
    );
    assert_eq!(status, 403);
    let Answer { status, .. } = viewer.post(
        &format!("/organizations/{ORG}/issues/{id}/delete/"),
        &[("confirm", "yes")],
    );
    assert_eq!(status, 403);
    assert_eq!(status_of(&server, &id), "unresolved");

    // A member's form without the session's token is refused too.
    let member = sign_in(&server, Role::Member);
    let Answer { status, .. } = member.post_raw(
        &format!("/organizations/{ORG}/issues/{id}/status/"),
        &[("csrf", "forged"), ("action", "resolve")],
    );
    assert_eq!(status, 403);
    assert_eq!(status_of(&server, &id), "unresolved");

    // Settings changes are an admin's.
    let Answer { status, .. } = member.post(
        &format!("/settings/{ORG}/projects/default/scrubbing/"),
        &[("scrub_data", "on")],
    );
    assert_eq!(status, 403);
}

const SECRETS: [&str; 6] = [
    "hunter2-sekrit",
    "4111111111111111",
    "tok_live_abcdef123456",
    "crumb-pass-998877",
    "frame-var-pw-556677",
    "4242424242424242",
];

#[test]
fn no_page_shows_a_secret_the_scrubber_removed() {
    let server = spawn_server();
    let mut event = exception_event("PaymentFailed", "card declined", "app.pay", "charge");
    event["extra"] = json!({"password": SECRETS[0], "card": SECRETS[1]});
    event["request"] = json!({
        "url": "https://shop.example/pay",
        "method": "POST",
        "headers": {"Authorization": format!("Bearer {}", SECRETS[2])},
        "data": {"card_number": SECRETS[5], "note": "ok"}
    });
    event["breadcrumbs"] = json!({"values": [
        {"timestamp": now_secs(), "category": "auth", "message": format!("login with password={}", SECRETS[3])}
    ]});
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["vars"] = json!({"password": SECRETS[4], "amount": 10});
    let event_id = server.send_event(&event);
    let id = issue_id(&server, &event_id);
    let browser = sign_in(&server, Role::Admin);
    let pages = [
        format!("/organizations/{ORG}/issues/"),
        format!("/organizations/{ORG}/issues/{id}/"),
        format!("/organizations/{ORG}/issues/{id}/events/{event_id}/"),
        format!("/organizations/{ORG}/issues/{id}/events/oldest/"),
        format!("/organizations/{ORG}/projects/"),
        format!("/settings/{ORG}/projects/default/"),
    ];
    let mut issue_page = String::new();
    for path in &pages {
        let html = browser.page(path);
        for secret in SECRETS {
            assert!(!html.contains(secret), "{path} shows {secret}");
        }
        if path.ends_with(&format!("{id}/")) {
            issue_page = html;
        }
    }
    assert!(
        issue_page.contains("[Filtered: password rule]"),
        "removed values say why"
    );
    let crumbs = issue_page
        .find("<h2>Breadcrumbs</h2>")
        .map(|at| &issue_page[at..])
        .unwrap_or("");
    assert!(
        crumbs.contains("<td>auth</td>") && crumbs.contains("[Filtered: password rule]"),
        "the breadcrumb is shown, its message filtered: {}",
        &crumbs[..crumbs.len().min(1500)]
    );
    assert!(issue_page.contains("app/x.py in charge at line 20"));
}

#[test]
fn project_pages_show_the_dsn_and_change_settings_through_validation() {
    let server = spawn_server();
    let admin = sign_in(&server, Role::Admin);
    let list = admin.page(&format!("/organizations/{ORG}/projects/"));
    assert!(list.contains(&server.public_key), "the DSN is on the list");
    let settings_path = format!("/settings/{ORG}/projects/default/");
    let settings = admin.page(&settings_path);
    assert!(settings.contains(&server.public_key));
    assert!(settings.contains("sentry_sdk.init"));
    assert!(settings.contains("@sentry/node"));
    assert!(settings.contains("sentry::init"));
    assert_eq!(admin.page(&format!("{settings_path}keys/")), settings);

    let Answer { status, location, .. } = admin.post(
        &format!("{settings_path}scrubbing/"),
        &[
            ("scrub_data", "on"),
            ("scrub_defaults", "on"),
            ("sensitive_fields", "order_ref\r\ninvoice"),
        ],
    );
    assert_eq!((status, location.as_str()), (303, settings_path.as_str()));
    let project = server.get_ok(&format!("/api/0/projects/{ORG}/default/"));
    let text = project.to_string();
    assert!(text.contains("order_ref") && text.contains("invoice"), "{text}");
    assert!(admin.page(&settings_path).contains("order_ref"));

    let Answer { status, .. } = admin.post(
        &format!("{settings_path}grouping/"),
        &[
            ("fingerprint_rules", "error.type:Timeout -> timeouts"),
            ("stacktrace_rules", ""),
        ],
    );
    assert_eq!(status, 303);
    let Answer { status, .. } = admin.post(
        &format!("{settings_path}grouping/"),
        &[("fingerprint_rules", "this is not a rule"), ("stacktrace_rules", "")],
    );
    assert_eq!(status, 400, "the API's validation refuses a bad rule");

    let key = server.public_key.clone();
    let Answer { status, .. } = admin.post(
        &format!("{settings_path}keys/{key}/rate-limit/"),
        &[("count", "600"), ("window", "60")],
    );
    assert_eq!(status, 303);
    let keys = server.get_ok(&format!("/api/0/projects/{ORG}/default/keys/"));
    assert_eq!(keys[0]["rateLimit"], json!({"count": 600, "window": 60}));
    let Answer { status, .. } = admin.post(
        &format!("{settings_path}keys/{key}/rate-limit/"),
        &[("count", "-5"), ("window", "60")],
    );
    assert_eq!(status, 400);
}
