//! Two Errata servers on one PostgreSQL database: a settings or key change made through one
//! node's API reaches the other node's ingest caches within a few seconds. Each wait is
//! bounded; none is asserted as a speed. Both nodes run the alert sender on the one outbox:
//! each notification is delivered once, whichever node's ingest wrote it.

mod common;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/pg_node.rs"]
mod pg_node;

use std::time::{Duration, Instant};

use common::envelope_for;
use pg::PgCluster;
use pg_node::PgNode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// How long a change may take to reach the other node: "a few seconds", with room for a
/// loaded machine. The caches trust an entry for 2 s at most, and hear of a change sooner.
const REACH: Duration = Duration::from_secs(15);

/// The shared credentials and an HTTP client.
struct Caller {
    client: Client,
    public_key: String,
    project_id: i64,
    token: String,
}

impl Caller {
    fn send(&self, node: &PgNode, event: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/api/{}/envelope/", node.base, self.project_id))
            .header(
                "X-Sentry-Auth",
                format!(
                    "Sentry sentry_key={}, sentry_version=7, sentry_client=test/1.0",
                    self.public_key
                ),
            )
            .body(envelope_for(event))
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn api(&self, node: &PgNode, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{}", node.base, path))
            .header("Authorization", format!("Bearer {}", self.token));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// The stored event as the API shows it, read through `node`.
    fn stored(&self, node: &PgNode, event_id: &str) -> Value {
        let path = format!("/api/0/projects/errata/default/events/{event_id}/json/");
        let (status, body) = self.api(node, reqwest::Method::GET, &path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// Repeats `attempt` until it answers true, for at most `REACH`; how long it took.
fn within_reach(what: &str, mut attempt: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if attempt() {
            return started.elapsed();
        }
        assert!(started.elapsed() < REACH, "{what}: not within {REACH:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn two_nodes() -> (PgNode, PgNode, Caller) {
    two_nodes_with(|_| {})
}

/// Two nodes on a fresh database, each configured by `configure` as well.
fn two_nodes_with(configure: impl Fn(&mut errata::config::Config)) -> (PgNode, PgNode, Caller) {
    let cluster = PgCluster::shared();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = pg_node::postgres_url(cluster, &runtime.block_on(cluster.fresh_database()));
    // No instance-wide limit: a key whose own limit is lifted is unlimited.
    let a = PgNode::start(&url, |c| {
        c.default_rate_limit = 0;
        configure(c);
    });
    let b = PgNode::start(&url, |c| {
        c.default_rate_limit = 0;
        configure(c);
    });
    let boot = a
        .bootstrap
        .clone()
        .expect("the first node bootstraps the fresh database");
    assert!(b.bootstrap.is_none(), "the second node finds it bootstrapped");
    let caller = Caller {
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        public_key: boot.key.public_key,
        project_id: boot.project.id,
        token: boot.token,
    };
    (a, b, caller)
}

#[test]
fn a_project_setting_changed_on_one_node_applies_on_the_other() {
    let (a, b, caller) = two_nodes();
    let event = json!({"message": "scrub", "extra": {"password": "hunter2-node"}});
    // B's caches are warm with the default settings: the password is scrubbed.
    let (status, body) = caller.send(&b, &event);
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(caller.stored(&b, &id)["extra"]["password"], "[Filtered]");

    let (status, body) = caller.api(
        &a,
        reqwest::Method::PUT,
        "/api/0/projects/errata/default/",
        Some(&json!({"scrubbing": {"scrub_defaults": false}})),
    );
    assert_eq!(status, 200, "{body}");
    within_reach("B stores events by A's scrubbing settings", || {
        let (status, body) = caller.send(&b, &event);
        assert_eq!(status, 200, "{body}");
        let id = body["id"].as_str().expect("id");
        caller.stored(&b, id)["extra"]["password"] == "hunter2-node"
    });
}

#[test]
fn a_key_disabled_or_deleted_on_one_node_is_refused_on_the_other() {
    let (a, b, caller) = two_nodes();
    let event = json!({"message": "key"});
    let key_path = format!("/api/0/projects/errata/default/keys/{}/", caller.public_key);
    assert_eq!(caller.send(&b, &event).0, 200, "B knows the key");

    let (status, body) = caller.api(&a, reqwest::Method::PUT, &key_path, Some(&json!({"isActive": false})));
    assert_eq!(status, 200, "{body}");
    within_reach("B refuses the key A disabled", || caller.send(&b, &event).0 == 403);

    let (status, body) = caller.api(&a, reqwest::Method::PUT, &key_path, Some(&json!({"isActive": true})));
    assert_eq!(status, 200, "{body}");
    within_reach("B accepts the key A enabled again", || caller.send(&b, &event).0 == 200);

    // A rate limit set on A holds on B: one event per hour, then 429.
    let limit = json!({"rateLimit": {"count": 1, "window": 3600}});
    let (status, body) = caller.api(&a, reqwest::Method::PUT, &key_path, Some(&limit));
    assert_eq!(status, 200, "{body}");
    within_reach("B limits the key as A set it", || caller.send(&b, &event).0 == 429);
    let (status, body) = caller.api(&a, reqwest::Method::PUT, &key_path, Some(&json!({"rateLimit": null})));
    assert_eq!(status, 200, "{body}");
    within_reach("B lifts the limit A lifted", || caller.send(&b, &event).0 == 200);

    let (status, body) = caller.api(&a, reqwest::Method::DELETE, &key_path, None);
    assert!(status == 204 || status == 200, "{status} {body}");
    within_reach("B refuses the key A deleted", || caller.send(&b, &event).0 == 403);
}

#[test]
fn a_slug_taken_on_one_node_is_a_conflict_on_the_other() {
    let (a, b, caller) = two_nodes();
    let path = "/api/0/organizations/errata/projects/new/";
    let body = json!({"name": "Shop", "slug": "shop"});
    let (status, created) = caller.api(&a, reqwest::Method::POST, path, Some(&body));
    assert_eq!(status, 201, "{created}");
    let (status, refused) = caller.api(&b, reqwest::Method::POST, path, Some(&body));
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["detail"], "a project with the slug \"shop\" already exists");
    // B serves the project A created.
    let (status, shown) = caller.api(&b, reqwest::Method::GET, "/api/0/projects/errata/shop/", None);
    assert_eq!((status, &shown["id"]), (200, &created["id"]), "{shown}");
}

#[test]
fn two_nodes_deliver_each_notification_of_one_outbox_exactly_once() {
    let (a, b, caller) = two_nodes_with(|c| {
        c.notify_retry_base_secs = 1;
        c.notify_lease_secs = 5;
    });
    let receiver = common::receiver::Receiver::start();
    let (status, channel) = caller.api(
        &a,
        reqwest::Method::POST,
        "/api/0/organizations/errata/alert-channels/",
        Some(&json!({"name": "hook", "type": "webhook", "url": receiver.url("/hook"), "secret": "s"})),
    );
    assert_eq!(status, 201, "{channel}");
    let (status, rule) = caller.api(
        &b,
        reqwest::Method::POST,
        "/api/0/projects/errata/default/alert-rules/",
        Some(&json!({"name": "new", "triggers": ["new-issue"], "channels": [channel["id"]]})),
    );
    assert_eq!(status, 201, "{rule}");

    // New issues opened on both nodes, in two rounds apart: each node's sender sees the
    // other's notifications in the shared outbox as well as its own.
    let mut issues = 0;
    for round in 0..2 {
        for (n, node) in [&a, &b, &a, &b].into_iter().enumerate() {
            let event = common::exception_event(&format!("Round{round}Error{n}"), "x", &format!("m{n}"), "f");
            let (status, body) = caller.send(node, &event);
            assert_eq!(status, 200, "{body}");
            issues += 1;
        }
        std::thread::sleep(Duration::from_secs(4));
    }

    // Every notification settles: delivered, or folded into a delivered digest.
    let settled = |node: &PgNode| -> Vec<Value> {
        let (status, body) = caller.api(
            node,
            reqwest::Method::GET,
            "/api/0/organizations/errata/alert-deliveries/?limit=500",
            None,
        );
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    };
    let started = Instant::now();
    let history = loop {
        let list = settled(&a);
        let folded_or_delivered = list
            .iter()
            .filter(|d| d["state"] == "folded" || d["state"] == "delivered");
        if !list.is_empty() && folded_or_delivered.count() == list.len() {
            break list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "deliveries settle: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Long enough for a second delivery by the other node, were there one (gather 3 s,
    // poll 1 s, lease 5 s).
    std::thread::sleep(Duration::from_secs(8));

    let delivered: Vec<&Value> = history.iter().filter(|d| d["state"] == "delivered").collect();
    let mut told: Vec<String> = delivered
        .iter()
        .flat_map(|d| d["issues"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i.as_str().map(str::to_string))
        .collect();
    told.sort();
    let before = told.len();
    told.dedup();
    assert_eq!(before, told.len(), "no issue told twice: {history:?}");
    assert_eq!(told.len(), issues, "every new issue told: {history:?}");

    let mut keys: Vec<String> = receiver
        .all()
        .iter()
        .map(|r| r.header("idempotency-key").expect("an idempotency key").to_string())
        .collect();
    keys.sort();
    let received = keys.len();
    keys.dedup();
    assert_eq!(received, keys.len(), "no idempotency key twice: {keys:?}");
    let mut expected: Vec<String> = delivered
        .iter()
        .map(|d| d["id"].as_str().expect("delivery id").to_string())
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "one request per delivered notification, with its key");
    assert_eq!(settled(&b).len(), history.len(), "both nodes show the one history");
}
