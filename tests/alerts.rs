//! Alerts end to end through the real server: events open and regress issues, the outbox
//! rows are written with them, the running sender delivers to receivers started here; a
//! storm becomes one digest; deliveries pending at a SIGKILL of the built binary are sent
//! after the restart with their idempotency keys; an escalation fires once at its N-th event;
//! e-mail reaches a real SMTP server; the API and the CLI manage rules. Compiled again in
//! tests/pg_suites.rs, so all of it runs on PostgreSQL too.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::receiver::Receiver;
use common::smtp::Smtp;
use common::{TestServer, errata_cli, exception_event, spawn_server_with};
use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};

/// Every wait here gives up after this long.
const BOUND: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Helpers over the API.

fn fast(config: &mut errata::config::Config) {
    config.notify_retry_base_secs = 1;
    config.notify_lease_secs = 5;
}

fn post(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let response = server.api(Method::POST, path).json(body).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn channel(server: &TestServer, body: Value) -> String {
    let (status, created) = post(server, "/api/0/organizations/errata/alert-channels/", &body);
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("channel id").to_string()
}

fn rule(server: &TestServer, triggers: &[&str], channels: &[&str]) -> String {
    rule_with(server, triggers, channels, json!({}))
}

/// A rule named "ops"; `extra`'s fields (such as `intervalSecs`) join the body.
fn rule_with(server: &TestServer, triggers: &[&str], channels: &[&str], extra: Value) -> String {
    let mut body = json!({"name": "ops", "triggers": triggers, "channels": channels});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let (status, created) = post(server, "/api/0/projects/errata/default/alert-rules/", &body);
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("rule id").to_string()
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Waits long enough for anything else the sender would send (gather 3 s, poll 1 s).
fn settle() {
    std::thread::sleep(Duration::from_secs(6));
}

// ---------------------------------------------------------------------------------------

#[test]
fn a_new_issue_sends_one_signed_webhook_and_a_regression_one_more() {
    let server = spawn_server_with(fast);
    let receiver = Receiver::start();
    let secret = "integration-client-secret";
    let ch = channel(
        &server,
        json!({"name": "hook", "type": "webhook", "url": receiver.url("/sentry"), "secret": secret}),
    );
    rule(&server, &["new-issue", "regression"], &[&ch]);

    server.send_event(&exception_event("KeyError", "boom", "shop.cart", "add"));
    let got = receiver.wait_for(1, "the new-issue webhook");
    let r = &got[0];
    assert_eq!(r.header("sentry-hook-resource"), Some("issue"));
    assert_eq!(
        r.header("sentry-hook-signature"),
        Some(signature(secret, &r.body).as_str()),
        "verifies as a Sentry receiver would"
    );
    let key = r.header("idempotency-key").expect("idempotency key").to_string();
    let body = r.json();
    assert_eq!(body["action"], "created");
    let issue_id = body["data"]["issue"]["id"].as_str().expect("issue id").to_string();
    assert!(
        body["data"]["issue"]["web_url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&server.base) && u.ends_with(&format!("/issues/{issue_id}/"))),
        "{body}"
    );

    // Seen again while open: nothing more.
    server.send_event(&exception_event("KeyError", "boom", "shop.cart", "add"));
    settle();
    assert_eq!(receiver.count(), 1, "one webhook for one new issue");

    // Resolved, then seen again: one regression.
    let (status, _) = server.put_json(&format!("/api/0/issues/{issue_id}/"), &json!({"status": "resolved"}));
    assert_eq!(status, 200);
    server.send_event(&exception_event("KeyError", "boom", "shop.cart", "add"));
    let got = receiver.wait_for(2, "the regression webhook");
    let body = got[1].json();
    assert_eq!(body["action"], "unresolved");
    assert_eq!(body["data"]["issue"]["substatus"], "regressed");
    assert_eq!(body["data"]["issue"]["id"], issue_id.as_str());
    assert_ne!(got[1].header("idempotency-key"), Some(key.as_str()));
    settle();
    assert_eq!(receiver.count(), 2, "exactly one regression webhook");

    // The delivery history shows both, delivered, each with its attempt's status.
    let history = server.get_ok("/api/0/projects/errata/default/alert-deliveries/");
    let list = history.as_array().expect("list");
    assert_eq!(list.len(), 2, "{history}");
    for d in list {
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["attempts"][0]["status"], "200", "{d}");
        assert_eq!(d["issues"], json!([issue_id]));
    }
}

#[test]
fn a_storm_of_200_new_issues_is_one_digest() {
    let server = spawn_server_with(fast);
    let receiver = Receiver::start();
    let ch = channel(
        &server,
        json!({"name": "chat", "type": "slack", "url": receiver.url("/services/T/B/x")}),
    );
    rule(&server, &["new-issue"], &[&ch]);
    for i in 0..200 {
        server.send_event(&exception_event(
            &format!("Error{i}"),
            "bad deploy",
            &format!("m{i}"),
            "f",
        ));
    }
    let got = receiver.wait_for(1, "the digest");
    settle();
    assert_eq!(receiver.count(), 1, "one message for the whole storm");
    let text = String::from_utf8_lossy(&got[0].body).to_string();
    let named = (0..200).filter(|i| text.contains(&format!("Error{i}"))).count();
    assert!(named > 3, "the digest names the storm's issues ({named}): {text}");
    let history = server.get_ok("/api/0/organizations/errata/alert-deliveries/?limit=500");
    let list = history.as_array().expect("list");
    let folded = list.iter().filter(|d| d["state"] == "folded").count();
    let delivered: Vec<&Value> = list.iter().filter(|d| d["state"] == "delivered").collect();
    assert_eq!(delivered.len(), 1, "{history}");
    assert_eq!(
        delivered[0]["issues"].as_array().map(Vec::len),
        Some(folded),
        "the digest holds every notification folded into it"
    );
}

#[test]
fn channels_and_rules_are_managed_over_the_api_with_secrets_masked() {
    let server = spawn_server_with(fast);
    let receiver = Receiver::start();
    let secret = "a-long-webhook-secret-0123456789";
    let (status, created) = post(
        &server,
        "/api/0/organizations/errata/alert-channels/",
        &json!({"name": "hook", "type": "webhook", "url": receiver.url("/hook/token-in-path"), "secret": secret}),
    );
    assert_eq!(status, 201);
    let text = created.to_string();
    assert!(!text.contains(secret) && !text.contains("token-in-path"), "{text}");
    assert_eq!(created["secret"], "…6789");
    let ch = created["id"].as_str().unwrap().to_string();

    // Made up when left out, shown once.
    let (status, made) = post(
        &server,
        "/api/0/organizations/errata/alert-channels/",
        &json!({"name": "other", "type": "webhook", "url": receiver.url("/o")}),
    );
    assert_eq!(status, 201);
    assert_eq!(made["secret"].as_str().map(str::len), Some(32));
    let listed = server.get_ok("/api/0/organizations/errata/alert-channels/");
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(!listed.to_string().contains(made["secret"].as_str().unwrap()));
    assert!(!listed.to_string().contains(secret));

    // Bad bodies are 400s with a detail.
    for bad in [
        json!({"name": "x", "type": "pager", "url": "http://h/"}),
        json!({"name": "x", "type": "slack", "url": "file:///etc/passwd"}),
        json!({"type": "slack", "url": "http://h/"}),
        json!([1, 2]),
    ] {
        let (status, body) = post(&server, "/api/0/organizations/errata/alert-channels/", &bad);
        assert_eq!(status, 400, "{bad} → {body}");
    }
    for bad in [
        json!({"name": "r", "triggers": ["new-issues"], "channels": [ch]}),
        json!({"name": "r", "triggers": ["new-issue"], "channels": []}),
        json!({"name": "r", "triggers": ["new-issue"], "channels": ["999999"]}),
        json!({"name": "r", "triggers": ["new-issue"], "channels": [ch], "unknown": 1}),
    ] {
        let (status, body) = post(&server, "/api/0/projects/errata/default/alert-rules/", &bad);
        assert_eq!(status, 400, "{bad} → {body}");
    }

    let id = rule(&server, &["new-issue", "escalation:100/10"], &[&ch]);
    let path = format!("/api/0/projects/errata/default/alert-rules/{id}/");
    let got = server.get_ok(&path);
    assert_eq!(got["triggers"], json!(["new-issue", "escalation:100/10"]));
    let (status, updated) = server.put_json(&path, &json!({"enabled": false, "intervalSecs": 60}));
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["intervalSecs"], 60);
    assert_eq!(updated["name"], "ops", "fields left out keep their value");

    // A test notification goes out now and answers with its status only.
    let (status, tested) = post(&server, &format!("{path}test/"), &json!({}));
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["results"][0]["outcome"], "200");
    let got = receiver.wait_for(1, "the test notification");
    assert_eq!(got[0].json()["data"]["issue"]["title"], "Test notification from Errata");
    let (status, tested) = post(
        &server,
        &format!("/api/0/organizations/errata/alert-channels/{ch}/test/"),
        &json!({}),
    );
    assert_eq!(status, 200);
    assert_eq!(tested["delivered"], true);

    // Scopes: a read token may look, not change.
    let (ok, read, err) = errata_cli(server.dir.path(), &["token", "create", "r", "--scope", "read"]);
    assert!(ok, "{err}");
    let as_reader = |method: Method, path: &str| {
        server
            .client
            .request(method, format!("{}{path}", server.base))
            .header("Authorization", format!("Bearer {}", read.trim()))
            .json(&json!({"name": "x", "type": "slack", "url": "http://127.0.0.1:9/"}))
            .send()
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(
        as_reader(Method::GET, "/api/0/organizations/errata/alert-channels/"),
        200
    );
    assert_eq!(
        as_reader(Method::POST, "/api/0/organizations/errata/alert-channels/"),
        403
    );
    assert_eq!(as_reader(Method::DELETE, &path), 403);

    // Deleting the channel takes the rule that had only it.
    let response = server
        .api(
            Method::DELETE,
            &format!("/api/0/organizations/errata/alert-channels/{ch}/"),
        )
        .send()
        .expect("delete");
    assert_eq!(response.status(), 204);
    let (status, _, _) = server.get(&path);
    assert_eq!(status, 404);
}

#[test]
fn the_cli_creates_lists_and_tests_a_rule() {
    let dir = common::data_dir();
    let receiver = Receiver::start();
    let url = receiver.url("/services/T000/B000/XXXX");
    let (ok, out, err) = errata_cli(
        dir.path(),
        &[
            "alert",
            "create",
            "default",
            "--on",
            "new-issue,regression",
            "--slack",
            &url,
        ],
    );
    assert!(ok, "{err}");
    let id: i64 = out.trim().parse().expect("prints the rule id");
    let (ok, out, err) = errata_cli(dir.path(), &["alert", "list", "default"]);
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("{id}\t")), "{out}");
    assert!(out.contains("new-issue,regression") && out.contains("slack"), "{out}");
    assert!(!out.contains("XXXX"), "the webhook URL's token is not printed: {out}");
    let (ok, out, err) = errata_cli(dir.path(), &["alert", "test", &id.to_string()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("200\tdelivered"), "{out}");
    let got = receiver.wait_for(1, "the CLI's test message");
    assert!(String::from_utf8_lossy(&got[0].body).contains("Test notification from Errata"));

    let (ok, _, err) = errata_cli(
        dir.path(),
        &["alert", "create", "default", "--on", "sometimes", "--slack", &url],
    );
    assert!(!ok && err.contains("sometimes"), "{err}");
    let (ok, _, err) = errata_cli(dir.path(), &["alert", "create", "default"]);
    assert!(!ok && err.contains("--webhook"), "{err}");
}

/// Starts the built binary on an existing data directory and waits until it listens.
fn serve_binary(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    if let Some(url) = common::database_url_of(dir) {
        command.env("ERRATA_DATABASE_URL", url);
    }
    let mut child = command
        .args(["serve"])
        .env("ERRATA_DATA_DIR", dir)
        .env("ERRATA_BIND", "127.0.0.1:0")
        .env("ERRATA_NOTIFY_RETRY_BASE_SECS", "1")
        .env("ERRATA_NOTIFY_LEASE_SECS", "3")
        .env("RUST_LOG", "warn")
        .env_remove("ERRATA_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start errata");
    let lines = child.stdout.take().map(common::wait::Lines::new);
    let deadline = Instant::now() + BOUND;
    let mut addr = None;
    while let Some(line) = lines
        .as_ref()
        .and_then(|l| l.next_before(deadline, "errata is listening"))
    {
        if let Some(a) = line.trim().strip_prefix("Errata is listening on ") {
            addr = Some(a.to_string());
            break;
        }
    }
    // `lines` keeps draining stdout on its thread.
    std::mem::forget(lines);
    if addr.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    (child, addr.expect("errata prints its address"))
}

fn kill(child: &mut std::process::Child) {
    child.kill().expect("SIGKILL");
    common::wait::wait_for(child, BOUND, "errata after SIGKILL");
}

#[test]
fn deliveries_pending_at_a_sigkill_are_sent_after_the_restart_with_their_keys() {
    let dir = common::data_dir();
    // The receiver's port, reserved and then left closed: the receiver is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (ok, out, err) = errata_cli(
        dir.path(),
        &[
            "alert",
            "create",
            "default",
            "--on",
            "new-issue",
            "--webhook",
            &url,
            "--secret",
            "s3cret-s3cret",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.trim().parse::<i64>().is_ok(), "{out}");
    let (ok, token, err) = errata_cli(dir.path(), &["token", "create", "t", "--scope", "admin"]);
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    let (ok, projects, err) = errata_cli(dir.path(), &["project", "list"]);
    assert!(ok, "{err}");

    let (mut child, base) = serve_binary(dir.path());
    // The DSN, rebuilt for this address (the project list printed the default bind's).
    let dsn_key = projects
        .split('\t')
        .nth(2)
        .and_then(|d| d.trim().strip_prefix("http://"))
        .and_then(|d| d.split('@').next())
        .expect("a DSN key")
        .to_string();
    let client = reqwest::blocking::Client::new();
    for i in 0..3 {
        let response = client
            .post(format!("{base}/api/1/envelope/"))
            .header(
                "X-Sentry-Auth",
                format!("Sentry sentry_key={dsn_key}, sentry_version=7"),
            )
            .body(common::envelope_for(&exception_event(
                &format!("Crash{i}"),
                "x",
                "m",
                "f",
            )))
            .send()
            .expect("send event");
        assert_eq!(response.status(), 200);
    }
    // Wait until every notification has been tried against the dead receiver at least once.
    let deliveries = || -> Vec<Value> {
        client
            .get(format!("{base}/api/0/organizations/errata/alert-deliveries/"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .and_then(|r| r.json::<Value>())
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + BOUND;
    // Once the receiver looks down, the channel's other notifications wait unattempted.
    let pending = loop {
        let list = deliveries();
        if list.len() == 3
            && list
                .iter()
                .any(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty()))
        {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "attempts against the dead receiver: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for d in &pending {
        assert_eq!(d["state"], "pending", "{d}");
        for a in d["attempts"].as_array().into_iter().flatten() {
            assert_eq!(a["status"], "connection_error", "{d}");
        }
    }
    let mut keys: Vec<String> = pending.iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    keys.sort();

    kill(&mut child);
    let receiver = Receiver::on(TcpListener::bind(("127.0.0.1", port)).expect("the receiver comes back"));
    let (mut child, _) = serve_binary(dir.path());
    let deadline = Instant::now() + BOUND;
    let delivered = loop {
        let mut seen: Vec<String> = receiver
            .all()
            .iter()
            .map(|r| r.header("idempotency-key").unwrap_or_default().to_string())
            .collect();
        seen.sort();
        seen.dedup();
        if seen.len() >= 3 {
            break seen;
        }
        assert!(Instant::now() < deadline, "deliveries after the restart: {seen:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(delivered, keys, "each notification delivered, with its own key");
    for r in receiver.all() {
        assert_eq!(
            r.header("sentry-hook-signature"),
            Some(signature("s3cret-s3cret", &r.body).as_str())
        );
    }
    kill(&mut child);
}

/// An event of the one issue these tests escalate, `ago` before now by its own timestamp.
fn escalating_event(ago: Duration) -> Value {
    let mut event = exception_event("TimeoutError", "upstream slow", "shop.pay", "charge");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .saturating_sub(ago);
    event["timestamp"] = json!(at.as_secs_f64());
    event
}

#[test]
fn an_escalation_fires_once_at_its_nth_event_in_the_window() {
    let server = spawn_server_with(fast);
    let receiver = Receiver::start();
    let ch = channel(
        &server,
        json!({"name": "hook", "type": "webhook", "url": receiver.url("/hook"), "secret": "s"}),
    );
    // Three events in ten minutes, at most once an hour.
    rule_with(&server, &["escalation:3/10"], &[&ch], json!({"intervalSecs": 3600}));

    // Two events from half an hour ago: the issue, but outside the window. Counting whole
    // hours would see them in the window whenever the clock is past the half hour.
    server.send_event(&escalating_event(Duration::from_secs(30 * 60)));
    server.send_event(&escalating_event(Duration::from_secs(30 * 60)));
    // Two now: four in all, two in the window.
    server.send_event(&escalating_event(Duration::ZERO));
    server.send_event(&escalating_event(Duration::ZERO));
    settle();
    assert_eq!(receiver.count(), 0, "two events in the window are not three");

    // The third in the window: one notification.
    server.send_event(&escalating_event(Duration::ZERO));
    let got = receiver.wait_for(1, "the escalation webhook");
    let body = got[0].json();
    assert_eq!(body["action"], "unresolved", "{body}");
    assert_eq!(body["data"]["issue"]["substatus"], "escalating", "{body}");

    // More within the rule's interval: nothing more.
    for _ in 0..3 {
        server.send_event(&escalating_event(Duration::ZERO));
    }
    settle();
    assert_eq!(receiver.count(), 1, "one escalation per interval");
    let history = server.get_ok("/api/0/projects/errata/default/alert-deliveries/");
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(history[0]["state"], "delivered", "{history}");
}

/// The one mail the SMTP server holds, unfolded, once it arrives.
fn the_mail(smtp: &Smtp, what: &str) -> String {
    let deadline = Instant::now() + BOUND;
    while smtp.mails().is_empty() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    settle();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one mail for {what}");
    // Long headers are folded onto continuation lines; unfold them to read.
    mails[0].replace("\r\n", "\n").replace("\n ", " ")
}

#[test]
fn a_new_issue_is_one_mail_with_its_short_id_as_text_and_html() {
    let server = spawn_server_with(fast);
    let smtp = Smtp::start();
    let ch = channel(
        &server,
        json!({
            "name": "mail", "type": "email", "host": "localhost", "port": smtp.port,
            "security": "none", "from": "Errata <errata@example.com>", "to": ["oncall@example.com"],
        }),
    );
    rule(&server, &["new-issue"], &[&ch]);

    server.send_event(&exception_event("ValueError", "bad input", "shop.forms", "parse"));
    let mail = the_mail(&smtp, "the new-issue mail");
    let issues = server.issues("");
    assert_eq!(issues.len(), 1);
    let short_id = issues[0]["shortId"].as_str().expect("short id");
    let subject = mail
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .expect("a subject");
    assert!(subject.contains(short_id), "{short_id} in {subject}");
    assert!(subject.contains("ValueError"), "{subject}");
    assert!(mail.contains("To: oncall@example.com"), "{mail}");
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"), "{mail}");
    let history = server.get_ok("/api/0/projects/errata/default/alert-deliveries/");
    assert_eq!(history[0]["state"], "delivered", "{history}");
}

#[test]
fn the_cli_sends_a_test_mail_through_the_configured_relay() {
    let dir = common::data_dir();
    let smtp = Smtp::start();
    let port = smtp.port.to_string();
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
        command
            .args(args)
            .env("ERRATA_DATA_DIR", dir.path())
            .env("ERRATA_SMTP_HOST", "localhost")
            .env("ERRATA_SMTP_PORT", &port)
            .env("ERRATA_SMTP_SECURITY", "none")
            .env("ERRATA_SMTP_FROM", "Errata <errata@example.com>")
            .env_remove("ERRATA_CONFIG");
        if let Some(url) = common::database_url_of(dir.path()) {
            command.env("ERRATA_DATABASE_URL", url);
        }
        let output = common::wait::output_within(&mut command, BOUND);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = cli(&[
        "alert",
        "create",
        "default",
        "--on",
        "new-issue",
        "--email",
        "oncall@example.com",
    ]);
    assert!(ok, "{err}");
    let id: i64 = out.trim().parse().expect("prints the rule id");
    let (ok, out, err) = cli(&["alert", "list", "default"]);
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("{id}\t")) && out.contains("email"), "{out}");
    let (ok, out, err) = cli(&["alert", "test", &id.to_string()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("delivered"), "{out}");
    let mail = the_mail(&smtp, "the CLI's test mail");
    assert!(mail.contains("Test notification from Errata"), "{mail}");
    assert!(mail.contains("To: oncall@example.com"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"), "{mail}");

    // Without a relay configured, --email says what to set.
    let (ok, _, err) = errata_cli(
        dir.path(),
        &[
            "alert",
            "create",
            "default",
            "--on",
            "new-issue",
            "--email",
            "x@example.com",
        ],
    );
    assert!(!ok && err.contains("smtp_host"), "{err}");
}
