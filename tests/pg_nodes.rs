//! Two Errata servers on one PostgreSQL database: a settings or key change made through one
//! node's API reaches the other node's ingest caches within a few seconds. Each wait is
//! bounded; none is asserted as a speed.

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
    let cluster = PgCluster::shared();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = pg_node::postgres_url(cluster, &runtime.block_on(cluster.fresh_database()));
    // No instance-wide limit: a key whose own limit is lifted is unlimited.
    let a = PgNode::start(&url, |c| c.default_rate_limit = 0);
    let b = PgNode::start(&url, |c| c.default_rate_limit = 0);
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
