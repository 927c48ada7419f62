//! Alerts and custom scrubbing rules in the web UI, over HTTP: an admin makes a channel and a
//! rule through the forms, tests them against a receiver started here, edits, disables and
//! deletes them; no secret reaches a page; other roles and forms without the session's token
//! are refused; invalid rules come back with the reason; a custom scrubbing rule saved on
//! the settings page scrubs the next event. Compiled again in tests/pg_suites.rs.

mod common;

use common::browser::{Browser, sign_in};
use common::receiver::Receiver;
use common::{TestServer, exception_event, spawn_server};
use errata::store::users::Role;
use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};

const ORG: &str = "errata";
const SETTINGS: &str = "/settings/errata/projects/default/";
const CHANNELS: &str = "/settings/errata/alerts/";

const WEBHOOK_SECRET: &str = "whsec-do-not-show-4711-abcdef";
const NTFY_TOKEN: &str = "tk_ntfy_do_not_show_0815";
const SMTP_PASSWORD: &str = "smtp-password-do-not-show-42";

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn api_channels(server: &TestServer) -> Vec<Value> {
    server
        .get_ok(&format!("/api/0/organizations/{ORG}/alert-channels/"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn api_rules(server: &TestServer) -> Vec<Value> {
    server
        .get_ok(&format!("/api/0/projects/{ORG}/default/alert-rules/"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn channel_id(server: &TestServer, name: &str) -> String {
    api_channels(server)
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["id"].as_str())
        .unwrap_or_else(|| panic!("channel {name} exists"))
        .to_string()
}

/// A webhook channel to `receiver` made through the channels page.
fn webhook_through_the_page(admin: &Browser, receiver: &Receiver, name: &str) {
    let url = receiver.url("/hook");
    let answer = admin.post(
        &format!("{CHANNELS}channels/"),
        &[
            ("type", "webhook"),
            ("name", name),
            ("url", &url),
            ("secret", WEBHOOK_SECRET),
        ],
    );
    assert_eq!(
        (answer.status, answer.location.as_str()),
        (303, CHANNELS),
        "{}",
        answer.body
    );
}

fn assert_no_secret(path: &str, html: &str) {
    for secret in [WEBHOOK_SECRET, NTFY_TOKEN, SMTP_PASSWORD] {
        assert!(!html.contains(secret), "{path} shows {secret}");
    }
}

#[test]
fn an_admin_makes_tests_edits_disables_and_deletes_a_rule_through_the_pages() {
    let server = spawn_server();
    let receiver = Receiver::start();
    let admin = sign_in(&server, Role::Admin, ORG);

    webhook_through_the_page(&admin, &receiver, "ops hook");
    let channel = channel_id(&server, "ops hook");
    let listed = admin.page(CHANNELS);
    assert!(listed.contains("ops hook") && listed.contains("webhook"), "{listed}");
    let settings = admin.page(SETTINGS);
    assert!(
        settings.contains(&format!("name=\"channel\" value=\"{channel}\"")),
        "the new rule form offers the channel"
    );

    let created = admin.post(
        &format!("{SETTINGS}alerts/"),
        &[
            ("name", "Checkout errors"),
            ("new_issue", "on"),
            ("escalation_count", ""),
            ("escalation_minutes", ""),
            ("min_level", "error"),
            ("environments", "production, staging"),
            ("tags", "region=eu"),
            ("channel", &channel),
            ("interval_secs", "600"),
            ("enabled", "on"),
        ],
    );
    assert_eq!(created.status, 303, "{}", created.body);
    let rules = api_rules(&server);
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(rule["name"], "Checkout errors");
    assert_eq!(rule["triggers"], json!(["new-issue"]));
    assert_eq!(rule["channels"], json!([channel]));
    assert_eq!(rule["intervalSecs"], 600);
    assert_eq!(rule["filters"]["min_level"], "error");
    assert_eq!(rule["filters"]["environments"], json!(["production", "staging"]));
    assert_eq!(rule["filters"]["tags"], json!([{"key": "region", "value": "eu"}]));
    let rule_id = rule["id"].as_str().expect("rule id").to_string();

    let settings = admin.page(SETTINGS);
    for shown in [
        "Checkout errors",
        "new-issue",
        "level ≥ error",
        "environment production or staging",
        "tag region=eu",
        "ops hook",
        "600 s",
    ] {
        assert!(settings.contains(shown), "the rule list shows {shown:?}");
    }
    assert!(!settings.contains("errata project scrub --custom-rule"));

    // "Send a test notification": the receiver gets it, signed, and the page says so.
    let rule_path = format!("{SETTINGS}alerts/{rule_id}/");
    let tested = admin.post(&format!("{rule_path}test/"), &[]);
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(tested.body.contains("ops hook: delivered (200)"), "{}", tested.body);
    let got = receiver.wait_for(1, "the rule's test notification");
    assert_eq!(got[0].json()["data"]["issue"]["title"], "Test notification from Errata");
    assert_eq!(
        got[0].header("sentry-hook-signature"),
        Some(signature(WEBHOOK_SECRET, &got[0].body).as_str())
    );

    // Edit: the form shows the rule, and saving changes it.
    let edit = admin.page(&rule_path);
    assert!(edit.contains("value=\"Checkout errors\"") && edit.contains("production\nstaging"));
    let saved = admin.post(
        &rule_path,
        &[
            ("name", "Checkout escalations"),
            ("regression", "on"),
            ("escalation_count", "50"),
            ("escalation_minutes", "5"),
            ("min_level", ""),
            ("channel", &channel),
            ("interval_secs", "60"),
            ("enabled", "on"),
        ],
    );
    assert_eq!(
        (saved.status, saved.location.as_str()),
        (303, rule_path.as_str()),
        "{}",
        saved.body
    );
    let rule = &api_rules(&server)[0];
    assert_eq!(rule["name"], "Checkout escalations");
    assert_eq!(rule["triggers"], json!(["regression", "escalation:50/5"]));
    assert_eq!(rule["filters"], json!({}), "cleared filters are gone");

    // Disable, then enable again from the list.
    let disabled = admin.post(&format!("{rule_path}enabled/"), &[("enabled", "off")]);
    assert_eq!(disabled.status, 303);
    assert_eq!(api_rules(&server)[0]["enabled"], false);
    assert!(admin.page(SETTINGS).contains(">Enable</button>"));
    admin.post(&format!("{rule_path}enabled/"), &[("enabled", "on")]);
    assert_eq!(api_rules(&server)[0]["enabled"], true);

    // Renaming the channel with the secret left empty keeps the secret.
    let channel_path = format!("{CHANNELS}channels/{channel}/");
    let renamed = admin.post(&channel_path, &[("name", "ops webhook"), ("url", ""), ("secret", "")]);
    assert_eq!(renamed.status, 303, "{}", renamed.body);
    let tested = admin.post(&format!("{channel_path}test/"), &[]);
    assert_eq!(tested.status, 200);
    assert!(tested.body.contains("ops webhook: delivered"), "{}", tested.body);
    let got = receiver.wait_for(2, "the channel's test notification");
    assert_eq!(
        got[1].header("sentry-hook-signature"),
        Some(signature(WEBHOOK_SECRET, &got[1].body).as_str()),
        "still signed with the secret it had"
    );

    // Delete the rule, then the channel.
    let deleted = admin.post(&format!("{rule_path}delete/"), &[]);
    assert_eq!(deleted.status, 303);
    assert!(api_rules(&server).is_empty());
    assert!(!admin.page(SETTINGS).contains("Checkout escalations"));
    assert_eq!(admin.get(&rule_path).0, 404);
    let deleted = admin.post(&format!("{channel_path}delete/"), &[]);
    assert_eq!(deleted.status, 303);
    assert!(api_channels(&server).is_empty());
}

#[test]
fn no_page_shows_a_channel_secret() {
    let server = spawn_server();
    let receiver = Receiver::start();
    let admin = sign_in(&server, Role::Admin, ORG);
    webhook_through_the_page(&admin, &receiver, "hook");
    let ntfy = admin.post(
        &format!("{CHANNELS}channels/"),
        &[
            ("type", "ntfy"),
            ("name", "phone"),
            ("url", &receiver.url("/topic")),
            ("token", NTFY_TOKEN),
        ],
    );
    assert_eq!(ntfy.status, 303, "{}", ntfy.body);
    let mail = admin.post(
        &format!("{CHANNELS}channels/"),
        &[
            ("type", "email"),
            ("name", "mail"),
            ("host", "127.0.0.1"),
            ("port", "2525"),
            ("security", "none"),
            ("username", "alerts"),
            ("password", SMTP_PASSWORD),
            ("from", "errata@example.com"),
            ("to", "oncall@example.com"),
        ],
    );
    assert_eq!(mail.status, 303, "{}", mail.body);
    let ids: Vec<String> = api_channels(&server)
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 3);
    let created = admin.post(
        &format!("{SETTINGS}alerts/"),
        &[
            ("name", "all"),
            ("new_issue", "on"),
            ("channel", &ids[0]),
            ("channel", &ids[1]),
            ("channel", &ids[2]),
            ("interval_secs", "60"),
        ],
    );
    assert_eq!(created.status, 303, "{}", created.body);
    let rule_id = api_rules(&server)[0]["id"].as_str().expect("rule id").to_string();

    let mut pages = vec![
        CHANNELS.to_string(),
        SETTINGS.to_string(),
        format!("{SETTINGS}alerts/{rule_id}/"),
    ];
    pages.extend(ids.iter().map(|id| format!("{CHANNELS}channels/{id}/")));
    for path in &pages {
        assert_no_secret(path, &admin.page(path));
    }
    let mail_page = admin.page(&format!("{CHANNELS}channels/{}/", ids[2]));
    assert!(mail_page.contains("oncall@example.com") && mail_page.contains("password set"));

    // A refused edit comes back without the secret typed into it either.
    let refused = admin.post(
        &format!("{CHANNELS}channels/{}/", ids[2]),
        &[
            ("name", "mail"),
            ("host", "127.0.0.1"),
            ("port", "0"),
            ("security", "none"),
            ("username", "alerts"),
            ("password", SMTP_PASSWORD),
            ("from", "errata@example.com"),
            ("to", "oncall@example.com"),
        ],
    );
    assert_eq!(refused.status, 400);
    assert_no_secret("the refused edit", &refused.body);
    // A test answer carries the outcome only.
    let tested = admin.post(&format!("{SETTINGS}alerts/{rule_id}/test/"), &[]);
    assert_eq!(tested.status, 200);
    assert_no_secret("the test answer", &tested.body);
}

#[test]
fn other_roles_and_forms_without_the_token_cannot_change_alerts() {
    let server = spawn_server();
    let receiver = Receiver::start();
    let (status, channel) = {
        let response = server
            .api(Method::POST, &format!("/api/0/organizations/{ORG}/alert-channels/"))
            .json(&json!({"name": "hook", "type": "webhook", "url": receiver.url("/h"), "secret": WEBHOOK_SECRET}))
            .send()
            .expect("request");
        (response.status().as_u16(), response.json::<Value>().expect("json"))
    };
    assert_eq!(status, 201);
    let channel = channel["id"].as_str().expect("id").to_string();
    let response = server
        .api(Method::POST, &format!("/api/0/projects/{ORG}/default/alert-rules/"))
        .json(&json!({"name": "ops", "triggers": ["new-issue"], "channels": [channel]}))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 201);
    let rule = api_rules(&server)[0]["id"].as_str().expect("id").to_string();
    let rule_path = format!("{SETTINGS}alerts/{rule}/");
    let channel_path = format!("{CHANNELS}channels/{channel}/");
    let rule_fields = [
        ("name", "taken over"),
        ("new_issue", "on"),
        ("channel", channel.as_str()),
        ("interval_secs", "60"),
    ];
    let writes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{SETTINGS}alerts/"), rule_fields.to_vec()),
        (rule_path.clone(), rule_fields.to_vec()),
        (format!("{rule_path}enabled/"), vec![("enabled", "off")]),
        (format!("{rule_path}delete/"), vec![]),
        (format!("{rule_path}test/"), vec![]),
        (
            format!("{CHANNELS}channels/"),
            vec![("type", "slack"), ("name", "x"), ("url", "https://hooks.example.com/x")],
        ),
        (channel_path.clone(), vec![("name", "taken over")]),
        (format!("{channel_path}delete/"), vec![]),
        (format!("{channel_path}test/"), vec![]),
    ];
    for role in [Role::Member, Role::Viewer] {
        let person = sign_in(&server, role, ORG);
        let page = person.page(&rule_path);
        assert!(!page.contains(">Delete rule<"), "{role:?} is not offered deleting");
        assert!(person.page(CHANNELS).contains("hook"), "{role:?} may look");
        for (path, fields) in &writes {
            assert_eq!(person.post(path, fields).status, 403, "{role:?} POST {path}");
        }
    }
    let admin = sign_in(&server, Role::Admin, ORG);
    for (path, fields) in &writes {
        assert_eq!(admin.post_raw(path, fields).status, 403, "no token: POST {path}");
        let mut forged = vec![("csrf", "forged")];
        forged.extend_from_slice(fields);
        assert_eq!(admin.post_raw(path, &forged).status, 403, "forged token: POST {path}");
    }
    assert_eq!(receiver.count(), 0, "no test was sent");
    let rules = api_rules(&server);
    assert_eq!(
        (rules.len(), &rules[0]["name"], &rules[0]["enabled"]),
        (1, &json!("ops"), &json!(true))
    );
    assert_eq!(api_channels(&server)[0]["name"], "hook");
}

#[test]
fn invalid_rules_and_channels_come_back_with_the_reason() {
    let server = spawn_server();
    let receiver = Receiver::start();
    let admin = sign_in(&server, Role::Admin, ORG);
    webhook_through_the_page(&admin, &receiver, "hook");
    let channel = channel_id(&server, "hook");
    let new_rule = format!("{SETTINGS}alerts/");
    for (fields, reason) in [
        (
            vec![("name", "no channel"), ("new_issue", "on"), ("interval_secs", "60")],
            "channels: at least one channel",
        ),
        (
            vec![
                ("name", "no trigger"),
                ("channel", channel.as_str()),
                ("interval_secs", "60"),
            ],
            "triggers: at least one of",
        ),
        (
            vec![
                ("name", "bad window"),
                ("escalation_count", "5"),
                ("escalation_minutes", "0"),
                ("channel", channel.as_str()),
                ("interval_secs", "60"),
            ],
            "escalation window must be 1 to 10080 minutes",
        ),
        (
            vec![
                ("name", "half escalation"),
                ("escalation_count", "5"),
                ("channel", channel.as_str()),
                ("interval_secs", "60"),
            ],
            "an escalation needs both",
        ),
        (
            vec![
                ("name", "stranger"),
                ("new_issue", "on"),
                ("channel", "999999"),
                ("interval_secs", "60"),
            ],
            "channel 999999 does not exist",
        ),
        (
            vec![
                ("name", "  "),
                ("new_issue", "on"),
                ("channel", channel.as_str()),
                ("interval_secs", "60"),
            ],
            "name: is required",
        ),
        (
            vec![
                ("name", "long"),
                ("new_issue", "on"),
                ("channel", channel.as_str()),
                ("interval_secs", "9999999"),
            ],
            "intervalSecs: at most",
        ),
    ] {
        let answer = admin.post(&new_rule, &fields);
        assert_eq!(answer.status, 400, "{fields:?}");
        assert!(
            answer.body.contains(reason),
            "{fields:?} → expected {reason:?} in the page"
        );
        assert!(answer.body.contains("id=\"new-rule\""), "the form is shown again");
    }
    // What was typed is kept.
    let answer = admin.post(
        &new_rule,
        &[
            ("name", "keep me"),
            ("new_issue", "on"),
            ("environments", "prod"),
            ("interval_secs", "60"),
        ],
    );
    assert!(answer.body.contains("value=\"keep me\"") && answer.body.contains(">prod</textarea>"));
    assert!(api_rules(&server).is_empty(), "nothing refused was stored");

    // The same check refuses the same rule over the API.
    let response = server
        .api(Method::POST, &format!("/api/0/projects/{ORG}/default/alert-rules/"))
        .json(&json!({"name": "r", "triggers": ["new-issue"], "channels": [channel], "intervalSecs": 9_999_999}))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);

    for (fields, reason) in [
        (
            vec![("type", "slack"), ("name", "x"), ("url", "file:///etc/passwd")],
            "http or https",
        ),
        (
            vec![
                ("type", "email"),
                ("name", "x"),
                ("host", "smtp.example.com"),
                ("port", "587"),
                ("security", "starttls"),
                ("from", "errata@example.com"),
            ],
            "at least one recipient",
        ),
        (vec![("type", "pager"), ("name", "x")], "invalid channel"),
        (
            vec![("type", "slack"), ("name", ""), ("url", "https://hooks.example.com/x")],
            "a channel needs a name",
        ),
    ] {
        let answer = admin.post(&format!("{CHANNELS}channels/"), &fields);
        assert_eq!(answer.status, 400, "{fields:?}");
        assert!(answer.body.contains(reason), "{fields:?} → expected {reason:?}");
    }
    assert_eq!(api_channels(&server).len(), 1);
}

#[test]
fn a_custom_scrubbing_rule_saved_on_the_page_scrubs_the_next_event() {
    let server = spawn_server();
    let admin = sign_in(&server, Role::Admin, ORG);
    let scrubbing = format!("{SETTINGS}scrubbing/");
    let base = [("scrub_data", "on"), ("scrub_defaults", "on")];

    let with = |rules: &str| {
        let mut fields = base.to_vec();
        fields.push(("custom_rules", rules));
        admin.post(&scrubbing, &fields)
    };
    let refused = with("order = ORD-(");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("custom rule"), "the regex error says which rule");
    let too_many: String = (0..51).map(|i| format!("r{i} = X{i}-[0-9]+\n")).collect();
    let refused = with(&too_many);
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("at most 50 rules"));

    let saved = with("order = ORD-[0-9]+\nINV-[0-9]{6}");
    assert_eq!(
        (saved.status, saved.location.as_str()),
        (303, SETTINGS),
        "{}",
        saved.body
    );
    let page = admin.page(SETTINGS);
    assert!(
        page.contains("order = ORD-[0-9]+\nINV-[0-9]{6}</textarea>"),
        "the rules are shown as typed"
    );

    // A form without the field (as before it existed) leaves them alone.
    assert_eq!(admin.post(&scrubbing, &base).status, 303);
    let project = server.get_ok(&format!("/api/0/projects/{ORG}/default/"));
    assert!(project.to_string().contains("ORD-[0-9]+"), "{project}");

    let mut event = exception_event("LookupError", "no such order", "shop.orders", "find");
    event["extra"] = json!({"note": "customer asked about ORD-123456 and INV-654321"});
    let event_id = server.send_event(&event);
    let stored = server.get_ok(&format!("/api/0/projects/{ORG}/default/events/{event_id}/json/"));
    let text = stored.to_string();
    assert!(!text.contains("ORD-123456") && !text.contains("INV-654321"), "{text}");
    assert!(text.contains("[Filtered]"), "{text}");
}
