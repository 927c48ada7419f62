//! A 200 on a settings change means the very next event is judged by the new settings:
//! each test flips one setting a few hundred times and sends an event right after every
//! 200, with the ingest caches warm from the event before.

mod common;

use common::{TestServer, envelope_for, exception_event, spawn_server_with};
use serde_json::{Value, json};

/// Changes per setting (each followed at once by an event).
const ROUNDS: usize = 200;

fn server() -> TestServer {
    // The instance-wide default limit would come back when a key's own limit is lifted.
    spawn_server_with(|c| c.default_rate_limit = 0)
}

fn key_path(server: &TestServer) -> String {
    format!("/api/0/projects/errata/default/keys/{}/", server.public_key)
}

fn change(server: &TestServer, path: &str, body: Value) {
    let (status, answer) = server.put_json(path, &body);
    assert_eq!(status, 200, "PUT {path} {body}: {answer}");
}

fn send_from(server: &TestServer, origin: &str) -> u16 {
    server
        .client
        .post(server.envelope_url())
        .header("X-Sentry-Auth", server.auth_header())
        .header("Origin", origin)
        .body(envelope_for(&json!({"message": "browser"})))
        .send()
        .expect("request")
        .status()
        .as_u16()
}

fn send(server: &TestServer, event: &Value) -> u16 {
    server.post_envelope(envelope_for(event)).status().as_u16()
}

fn stored(server: &TestServer, id: &str) -> Value {
    server.get_ok(&format!("/api/0/projects/errata/default/events/{id}/"))
}

#[test]
fn allowed_origins_apply_to_the_next_event() {
    let server = server();
    let path = key_path(&server);
    assert_eq!(send_from(&server, "https://evil.example"), 200, "warm the caches");
    for round in 0..ROUNDS {
        change(&server, &path, json!({"allowedOrigins": "https://app.example"}));
        assert_eq!(
            send_from(&server, "https://evil.example"),
            403,
            "round {round}: restricted"
        );
        change(&server, &path, json!({"allowedOrigins": "*"}));
        assert_eq!(send_from(&server, "https://evil.example"), 200, "round {round}: opened");
    }
}

#[test]
fn rate_limits_set_and_lifted_apply_to_the_next_event() {
    let server = server();
    let path = key_path(&server);
    let event = json!({"message": "limited"});
    assert_eq!(send(&server, &event), 200, "warm the caches");
    for round in 0..ROUNDS {
        // A new window each round gives the key a fresh bucket of one event.
        let window = 3600 + i64::try_from(round).expect("small");
        change(&server, &path, json!({"rateLimit": {"count": 1, "window": window}}));
        let statuses = [send(&server, &event), send(&server, &event)];
        assert_eq!(statuses, [200, 429], "round {round}: limited to one");
        change(&server, &path, json!({"rateLimit": null}));
        assert_eq!(send(&server, &event), 200, "round {round}: lifted");
    }
}

#[test]
fn disabling_a_key_applies_to_the_next_event() {
    let server = server();
    let path = key_path(&server);
    let event = json!({"message": "key"});
    assert_eq!(send(&server, &event), 200, "warm the caches");
    for round in 0..ROUNDS {
        change(&server, &path, json!({"isActive": false}));
        assert_eq!(send(&server, &event), 403, "round {round}: disabled");
        change(&server, &path, json!({"isActive": true}));
        assert_eq!(send(&server, &event), 200, "round {round}: enabled");
    }
}

#[test]
fn fingerprint_rules_apply_to_the_next_event() {
    let server = server();
    let path = "/api/0/projects/errata/default/";
    let event = exception_event("Flip", "flipping", "app.flip", "flip");
    let first = server.send_event(&event);
    let mut previous = stored(&server, &first)["groupID"].clone();
    // Half the rounds: each new fingerprint opens a new issue, so an event grouped by the
    // rules of the round before would land in the previous issue.
    for round in 0..ROUNDS / 2 {
        let rules = format!("error.type:Flip -> flip-{round}\n");
        change(&server, path, json!({"fingerprintingRules": rules}));
        let id = server.send_event(&event);
        let issue = stored(&server, &id)["groupID"].clone();
        assert_ne!(issue, previous, "round {round}: grouped by the new rule");
        previous = issue;
    }
}

#[test]
fn scrubbing_switched_off_and_on_applies_to_the_next_event() {
    let server = server();
    let path = "/api/0/projects/errata/default/";
    let event = json!({"message": "scrub", "extra": {"password": "hunter2-flip"}});
    let warm = server.send_event(&event);
    assert_eq!(stored(&server, &warm)["context"]["password"], "[Filtered]");
    for round in 0..ROUNDS / 2 {
        change(&server, path, json!({"scrubbing": {"scrub_defaults": false}}));
        let id = server.send_event(&event);
        assert_eq!(
            stored(&server, &id)["context"]["password"],
            "hunter2-flip",
            "round {round}: defaults off"
        );
        change(&server, path, json!({"scrubbing": {"scrub_defaults": true}}));
        let id = server.send_event(&event);
        assert_eq!(
            stored(&server, &id)["context"]["password"],
            "[Filtered]",
            "round {round}: defaults on"
        );
    }
}
