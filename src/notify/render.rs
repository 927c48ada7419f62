//! Pure rendering of a notification for each kind of channel: the Sentry integration-platform
//! issue webhook (signed), Slack Block Kit, Discord embeds, a Teams Adaptive Card, ntfy, and
//! e-mail as plain text and HTML. A notification with many items renders as one digest.

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use super::model::{ChannelKind, IssueSnapshot, Item, Notification, Reason};

/// Issues listed by name in a digest; the rest are counted.
pub const DIGEST_LISTED: usize = 25;

/// An HTTP request body and the headers that go with it (besides the idempotency key, which
/// the sender adds to every request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMessage {
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// An e-mail's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a channel sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Http(HttpMessage),
    Email(EmailContent),
}

/// Renders `notification` for `channel` at `now_secs` (the webhook's timestamp header).
pub fn render(channel: &ChannelKind, notification: &Notification, now_secs: i64) -> Rendered {
    let items = &notification.items;
    match channel {
        ChannelKind::Webhook { secret, .. } => {
            // Webhook channels are never digested; should a digest reach one, the first item
            // stands for it rather than inventing a shape Sentry receivers do not know.
            let body = sentry_issue_webhook(&items[0], notification).to_string().into_bytes();
            Rendered::Http(HttpMessage {
                headers: vec![
                    ("content-type", "application/json".into()),
                    ("request-id", notification.id.to_string()),
                    ("sentry-hook-resource", "issue".into()),
                    ("sentry-hook-timestamp", now_secs.to_string()),
                    ("sentry-hook-signature", sign(secret.expose().as_bytes(), &body)),
                ],
                body,
            })
        }
        ChannelKind::Slack { .. } => json_message(slack(items)),
        ChannelKind::Discord { .. } => json_message(discord(items)),
        ChannelKind::Teams { .. } => json_message(teams(items)),
        ChannelKind::Ntfy { url, token } => {
            let mut message = json_message(ntfy(items, url.expose()));
            if let (Rendered::Http(m), Some(token)) = (&mut message, token) {
                m.headers.push(("authorization", format!("Bearer {}", token.expose())));
            }
            message
        }
        ChannelKind::Email(_) => Rendered::Email(email(items)),
    }
}

/// `Sentry-Hook-Signature`: HMAC-SHA256 of the exact body with the channel secret, in hex.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn json_message(body: Value) -> Rendered {
    Rendered::Http(HttpMessage {
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

/// RFC 3339 with microseconds and `Z`, as Sentry writes dates.
fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The Sentry integration-platform issue webhook body. A new issue is `created`; a
/// regression or escalation is `unresolved` with the matching substatus, as Sentry sends.
pub fn sentry_issue_webhook(item: &Item, notification: &Notification) -> Value {
    let issue = &item.issue;
    let (action, substatus) = match item.reason {
        Reason::NewIssue => ("created", "new"),
        Reason::Regression => ("unresolved", "regressed"),
        Reason::Escalation => ("unresolved", "escalating"),
    };
    let base = issue.link.split("/organizations/").next().unwrap_or_default();
    let api_url = format!(
        "{base}/api/0/organizations/{}/issues/{}/",
        issue.organization_slug, issue.issue_id
    );
    let project_url = format!(
        "{base}/api/0/projects/{}/{}/",
        issue.organization_slug, issue.project_slug
    );
    json!({
        "action": action,
        // Sentry names the app installation here; Errata names the channel, stably.
        "installation": {"uuid": installation_uuid(notification.channel.0)},
        "data": {
            "issue": {
                "id": issue.issue_id.to_string(),
                "shortId": issue.short_id,
                "title": issue.title,
                "culprit": issue.culprit,
                "level": issue.level.as_str(),
                "status": "unresolved",
                "substatus": substatus,
                "statusDetails": {},
                "type": "error",
                "issueType": "error",
                "issueCategory": "error",
                "platform": issue.platform,
                "count": issue.count.to_string(),
                "userCount": issue.user_count,
                "firstSeen": iso(issue.first_seen_us),
                "lastSeen": iso(issue.last_seen_us),
                "permalink": issue.link,
                "web_url": issue.link,
                "url": api_url,
                "project_url": project_url,
                "project": {
                    "id": issue.project_id.to_string(),
                    "slug": issue.project_slug,
                    "name": issue.project_slug,
                    "platform": issue.platform,
                },
                "metadata": {"title": issue.title},
                "annotations": [],
                "assignedTo": null,
                "hasSeen": false,
                "isBookmarked": false,
                "isPublic": false,
                "isSubscribed": false,
                "numComments": 0,
                "shareId": null,
                "subscriptionDetails": null,
                "environment": issue.environment,
                "release": issue.release,
            }
        },
        "actor": {"type": "application", "id": "errata", "name": "Errata"},
    })
}

/// A UUID derived from the channel id, so a receiver sees one installation per channel.
fn installation_uuid(channel_id: i64) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("errata-channel-{channel_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// "New issue", "Regression", … for one item; "N new issues" for a digest.
fn headline(items: &[Item]) -> String {
    match items {
        [one] => format!("{} {}", one.reason.describe(), one.issue.short_id),
        many => {
            let all_new = many.iter().all(|i| i.reason == Reason::NewIssue);
            let projects: std::collections::BTreeSet<&str> =
                many.iter().map(|i| i.issue.project_slug.as_str()).collect();
            let noun = if all_new { "new issues" } else { "issues need attention" };
            if projects.len() == 1 {
                format!(
                    "{} {noun} in {}",
                    many.len(),
                    projects.iter().next().copied().unwrap_or("")
                )
            } else {
                format!("{} {noun} in {} projects", many.len(), projects.len())
            }
        }
    }
}

/// The facts every message gives about one issue, as (name, value) pairs.
fn facts(issue: &IssueSnapshot) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Level", issue.level.as_str().to_string()),
        ("Events", issue.count.to_string()),
        ("Users", issue.user_count.to_string()),
        ("First seen", iso(issue.first_seen_us)),
        ("Last seen", iso(issue.last_seen_us)),
    ];
    facts.push(("Environment", issue.environment.clone().unwrap_or_else(|| "—".into())));
    facts.push(("Release", issue.release.clone().unwrap_or_else(|| "—".into())));
    facts
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A digest's list: one line per issue, at most `DIGEST_LISTED` and at most `budget`
/// characters, then "…and N more" for the rest — never a line cut in half (a cut link
/// would break the receiver's markup).
fn digest_lines(items: &[Item], budget: usize, line: impl Fn(&Item) -> String) -> String {
    const MORE_RESERVE: usize = 24;
    let mut out = String::new();
    let mut used = 0;
    let mut listed = 0;
    for item in items.iter().take(DIGEST_LISTED) {
        let l = line(item);
        let len = l.chars().count() + 1;
        if used + len + MORE_RESERVE > budget {
            break;
        }
        out.push_str(&l);
        out.push('\n');
        used += len;
        listed += 1;
    }
    if listed < items.len() {
        out.push_str(&format!("…and {} more", items.len() - listed));
    }
    out.trim_end().to_string()
}

/// Slack mrkdwn treats `&`, `<` and `>` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack(items: &[Item]) -> Value {
    let title = headline(items);
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, 150)}})];
    match items {
        [one] => {
            let i = &one.issue;
            let mut text = format!("*<{}|{}>*", i.link, slack_escape(&truncate(&i.title, 500)));
            if let Some(culprit) = &i.culprit {
                text.push_str(&format!("\n`{}`", slack_escape(&truncate(culprit, 300))));
            }
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
            let fields: Vec<Value> = facts(i)
                .into_iter()
                .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(&v))}))
                .collect();
            blocks.push(json!({"type": "section", "fields": fields}));
            blocks.push(json!({"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "View issue"}, "url": i.link}
            ]}));
        }
        many => {
            // A section's text holds at most 3000 characters.
            let text = digest_lines(many, 3000, |it| {
                let i = &it.issue;
                format!(
                    "• <{}|{}> {} ({} events)",
                    i.link,
                    i.short_id,
                    slack_escape(&truncate(&i.title, 80)),
                    i.count
                )
            });
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
        }
    }
    json!({"text": title, "blocks": blocks})
}

fn color(items: &[Item]) -> u32 {
    let worst = items.iter().map(|i| i.issue.level).max();
    match worst {
        Some(super::model::Level::Fatal) => 0x8b0000,
        Some(super::model::Level::Error) => 0xe03e2f,
        Some(super::model::Level::Warning) => 0xf2b712,
        _ => 0x2f80ed,
    }
}

fn discord(items: &[Item]) -> Value {
    let title = headline(items);
    let embed = match items {
        [one] => {
            let i = &one.issue;
            let fields: Vec<Value> = facts(i)
                .into_iter()
                .map(|(k, v)| json!({"name": k, "value": truncate(&v, 1024), "inline": true}))
                .collect();
            json!({
                "title": truncate(&format!("{}: {}", title, i.title), 256),
                "url": i.link,
                "description": truncate(i.culprit.as_deref().unwrap_or(""), 4096),
                "color": color(items),
                "fields": fields,
                "timestamp": iso(i.last_seen_us),
            })
        }
        many => {
            let text = digest_lines(many, 4096, |it| {
                format!(
                    "[{}]({}) {} ({} events)",
                    it.issue.short_id,
                    it.issue.link,
                    truncate(&it.issue.title, 80),
                    it.issue.count
                )
            });
            json!({
                "title": truncate(&title, 256),
                "description": text,
                "color": color(items),
            })
        }
    };
    json!({"content": truncate(&title, 2000), "embeds": [embed], "allowed_mentions": {"parse": []}})
}

fn teams(items: &[Item]) -> Value {
    let title = headline(items);
    let mut body = vec![json!({"type": "TextBlock", "size": "Large", "weight": "Bolder", "text": title, "wrap": true})];
    let mut actions = Vec::new();
    match items {
        [one] => {
            let i = &one.issue;
            body.push(json!({"type": "TextBlock", "text": i.title, "wrap": true, "weight": "Bolder"}));
            if let Some(culprit) = &i.culprit {
                body.push(json!({"type": "TextBlock", "text": culprit, "wrap": true, "isSubtle": true}));
            }
            let facts: Vec<Value> = facts(i)
                .into_iter()
                .map(|(k, v)| json!({"title": k, "value": v}))
                .collect();
            body.push(json!({"type": "FactSet", "facts": facts}));
            actions.push(json!({"type": "Action.OpenUrl", "title": "View issue", "url": i.link}));
        }
        many => {
            let text = digest_lines(many, 20_000, |it| {
                format!(
                    "- [{}]({}) {} ({} events)",
                    it.issue.short_id,
                    it.issue.link,
                    truncate(&it.issue.title, 80),
                    it.issue.count
                )
            });
            body.push(json!({"type": "TextBlock", "wrap": true, "text": text}));
        }
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
}

/// ntfy's JSON publishing: the topic is the URL's last path segment, and the body is posted
/// to the server root before it (see `ntfy_publish_url`).
fn ntfy(items: &[Item], url: &reqwest::Url) -> Value {
    let topic = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    let title = headline(items);
    let worst = items.iter().map(|i| i.issue.level).max();
    let priority = match worst {
        Some(super::model::Level::Fatal) => 5,
        Some(super::model::Level::Error) => 4,
        _ => 3,
    };
    let (message, click) = match items {
        [one] => {
            let i = &one.issue;
            let mut m = i.title.clone();
            if let Some(culprit) = &i.culprit {
                m.push_str(&format!("\n{culprit}"));
            }
            for (k, v) in facts(i) {
                m.push_str(&format!("\n{k}: {v}"));
            }
            (m, Some(i.link.clone()))
        }
        many => {
            let text = digest_lines(many, 4000, |it| {
                format!(
                    "{} {} ({} events)",
                    it.issue.short_id,
                    truncate(&it.issue.title, 80),
                    it.issue.count
                )
            });
            (text, None)
        }
    };
    let mut body = json!({
        "topic": topic,
        "title": title,
        "message": truncate(&message, 4000),
        "priority": priority,
        "tags": ["rotating_light"],
    });
    if let Some(click) = click {
        body["click"] = json!(click);
        body["actions"] = json!([{"action": "view", "label": "View issue", "url": click}]);
    }
    body
}

/// Where an ntfy channel's JSON goes: the topic URL without its last segment.
pub fn ntfy_publish_url(topic_url: &reqwest::Url) -> reqwest::Url {
    let mut url = topic_url.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop();
        segments.push("");
    }
    url
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn email(items: &[Item]) -> EmailContent {
    let title = headline(items);
    match items {
        [one] => {
            let i = &one.issue;
            let subject = truncate(
                &format!("[Errata] {title}: {}", i.title.replace(['\r', '\n'], " ")),
                200,
            );
            let mut text = format!("{title}\n\n{}\n", i.title);
            if let Some(culprit) = &i.culprit {
                text.push_str(&format!("{culprit}\n"));
            }
            text.push('\n');
            for (k, v) in facts(i) {
                text.push_str(&format!("{k}: {v}\n"));
            }
            text.push_str(&format!("\n{}\n", i.link));
            let rows: String = facts(i)
                .into_iter()
                .map(|(k, v)| format!("<tr><th align=\"left\">{}</th><td>{}</td></tr>", k, html_escape(&v)))
                .collect();
            let culprit = i
                .culprit
                .as_deref()
                .map(|c| format!("<p><code>{}</code></p>", html_escape(c)))
                .unwrap_or_default();
            let html = format!(
                "<!DOCTYPE html><html><body><h2>{}</h2><p><a href=\"{}\">{}</a></p>{culprit}<table>{rows}</table></body></html>",
                html_escape(&title),
                html_escape(&i.link),
                html_escape(&i.title),
            );
            EmailContent { subject, text, html }
        }
        many => {
            let subject = format!("[Errata] {title}");
            let mut text = format!("{title}\n\n");
            let mut list = String::new();
            for it in many.iter().take(DIGEST_LISTED) {
                let i = &it.issue;
                text.push_str(&format!(
                    "{} {} ({} events)\n  {}\n",
                    i.short_id, i.title, i.count, i.link
                ));
                list.push_str(&format!(
                    "<li><a href=\"{}\">{}</a> {} ({} events)</li>",
                    html_escape(&i.link),
                    html_escape(&i.short_id),
                    html_escape(&i.title),
                    i.count
                ));
            }
            if many.len() > DIGEST_LISTED {
                let more = format!("…and {} more", many.len() - DIGEST_LISTED);
                text.push_str(&format!("{more}\n"));
                list.push_str(&format!("<li>{}</li>", html_escape(&more)));
            }
            let html = format!(
                "<!DOCTYPE html><html><body><h2>{}</h2><ul>{list}</ul></body></html>",
                html_escape(&title)
            );
            EmailContent { subject, text, html }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::model::{ChannelId, Level, NotificationId, RuleId, Secret};

    pub(crate) fn snapshot(n: i64) -> IssueSnapshot {
        IssueSnapshot {
            issue_id: n,
            project_id: 2,
            project_slug: "backend".into(),
            organization_slug: "acme".into(),
            short_id: format!("BACKEND-{n}"),
            title: format!("TypeError: <b>x</b> & {n}"),
            culprit: Some("app.views in handler".into()),
            level: Level::Error,
            platform: Some("python".into()),
            count: 3,
            user_count: 1,
            first_seen_us: 1_566_248_317_391_000,
            last_seen_us: 1_566_248_417_391_000,
            environment: Some("production".into()),
            release: Some("1.2.3".into()),
            link: format!("https://errata.example.com/organizations/acme/issues/{n}/"),
        }
    }

    fn notification(n: usize, reason: Reason) -> Notification {
        Notification {
            id: "0f8fad5bd9cb469fa16570867728950e".parse::<NotificationId>().unwrap(),
            channel: ChannelId(7),
            items: (1..=n as i64)
                .map(|i| Item {
                    rule: RuleId(1),
                    reason,
                    issue: snapshot(i),
                })
                .collect(),
            attempts: 0,
            created_at_ms: 0,
            next_attempt_at_ms: 0,
        }
    }

    fn http(r: Rendered) -> (Vec<(&'static str, String)>, Value) {
        match r {
            Rendered::Http(m) => (m.headers, serde_json::from_slice(&m.body).unwrap()),
            Rendered::Email(_) => panic!("expected HTTP"),
        }
    }

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn webhook_has_sentrys_shape_and_a_verifiable_signature() {
        let channel = ChannelKind::Webhook {
            url: "https://receiver.example.com/hook".parse().unwrap(),
            secret: Secret::new("s3cret"),
        };
        let n = notification(1, Reason::NewIssue);
        let Rendered::Http(m) = render(&channel, &n, 1_700_000_000) else {
            panic!()
        };
        assert_eq!(header(&m.headers, "sentry-hook-resource"), "issue");
        assert_eq!(header(&m.headers, "sentry-hook-timestamp"), "1700000000");
        assert_eq!(header(&m.headers, "sentry-hook-signature"), sign(b"s3cret", &m.body));
        let body: Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(body["action"], "created");
        assert_eq!(body["actor"]["type"], "application");
        assert!(body["installation"]["uuid"].as_str().unwrap().len() == 36);
        let issue = &body["data"]["issue"];
        assert_eq!(issue["shortId"], "BACKEND-1");
        assert_eq!(issue["id"], "1");
        assert_eq!(issue["count"], "3");
        assert_eq!(issue["level"], "error");
        assert_eq!(issue["firstSeen"], "2019-08-19T20:58:37.391000Z");
        assert_eq!(
            issue["web_url"],
            "https://errata.example.com/organizations/acme/issues/1/"
        );
        assert_eq!(
            issue["url"],
            "https://errata.example.com/api/0/organizations/acme/issues/1/"
        );
        assert_eq!(issue["project"]["slug"], "backend");
        // The secret itself is nowhere in what is sent.
        assert!(!String::from_utf8_lossy(&m.body).contains("s3cret"));
    }

    #[test]
    fn regressions_and_escalations_are_unresolved_with_a_substatus() {
        let channel = ChannelKind::Webhook {
            url: "https://r.example.com/".parse().unwrap(),
            secret: Secret::new("k"),
        };
        for (reason, sub) in [(Reason::Regression, "regressed"), (Reason::Escalation, "escalating")] {
            let (_, body) = http(render(&channel, &notification(1, reason), 0));
            assert_eq!(body["action"], "unresolved");
            assert_eq!(body["data"]["issue"]["substatus"], sub);
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn slack_names_the_issue_and_escapes_markup() {
        let (_, body) = http(render(
            &ChannelKind::Slack {
                url: "https://hooks.slack.com/x".parse().unwrap(),
            },
            &notification(1, Reason::NewIssue),
            0,
        ));
        assert_eq!(body["text"], "New issue BACKEND-1");
        let text = body.to_string();
        assert!(text.contains("&lt;b&gt;x&lt;/b&gt; &amp; 1"), "{text}");
        for needle in [
            "production",
            "1.2.3",
            "app.views in handler",
            "https://errata.example.com/organizations/acme/issues/1/",
            "First seen",
        ] {
            assert!(text.contains(needle), "missing {needle}: {text}");
        }
    }

    #[test]
    fn a_digest_lists_issues_and_counts_the_rest() {
        let n = notification(200, Reason::NewIssue);
        let (_, slack) = http(render(
            &ChannelKind::Slack {
                url: "https://hooks.slack.com/x".parse().unwrap(),
            },
            &n,
            0,
        ));
        assert_eq!(slack["text"], "200 new issues in backend");
        let section = slack["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= 3000);
        let listed = section.lines().filter(|l| l.starts_with("• <")).count();
        assert!((10..=DIGEST_LISTED).contains(&listed), "{section}");
        assert!(section.ends_with(&format!("…and {} more", 200 - listed)), "{section}");
        // Every listed line is whole: its link is closed.
        assert!(
            section
                .lines()
                .filter(|l| l.starts_with("• <"))
                .all(|l| l.contains("|BACKEND-") && l.ends_with("events)"))
        );
        let (_, discord) = http(render(
            &ChannelKind::Discord {
                url: "https://discord.com/api/webhooks/1/x".parse().unwrap(),
            },
            &n,
            0,
        ));
        assert!(discord["embeds"][0]["description"].as_str().unwrap().chars().count() <= 4096);
        let Rendered::Email(mail) = render(&ChannelKind::Email(email_channel()), &n, 0) else {
            panic!()
        };
        assert_eq!(mail.subject, "[Errata] 200 new issues in backend");
        assert!(mail.html.contains("and 175 more"));
    }

    #[test]
    fn discord_and_teams_carry_the_facts() {
        let n = notification(1, Reason::Regression);
        let (_, discord) = http(render(
            &ChannelKind::Discord {
                url: "https://discord.com/api/webhooks/1/x".parse().unwrap(),
            },
            &n,
            0,
        ));
        let embed = &discord["embeds"][0];
        assert_eq!(embed["url"], "https://errata.example.com/organizations/acme/issues/1/");
        assert!(embed["title"].as_str().unwrap().starts_with("Regression BACKEND-1"));
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        let (_, teams) = http(render(
            &ChannelKind::Teams {
                url: "https://x.logic.azure.com/wf".parse().unwrap(),
            },
            &n,
            0,
        ));
        let card = &teams["attachments"][0];
        assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert!(card["content"].to_string().contains("Environment"));
        assert_eq!(card["content"]["actions"][0]["type"], "Action.OpenUrl");
    }

    #[test]
    fn ntfy_publishes_json_to_the_server_root_with_the_token() {
        let url: crate::notify::door::ReceiverUrl = "https://ntfy.example.com/base/errata-alerts".parse().unwrap();
        let channel = ChannelKind::Ntfy {
            url: url.clone(),
            token: Some(Secret::new("tk_123")),
        };
        let (headers, body) = http(render(&channel, &notification(1, Reason::NewIssue), 0));
        assert_eq!(body["topic"], "errata-alerts");
        assert_eq!(body["priority"], 4);
        assert_eq!(body["click"], "https://errata.example.com/organizations/acme/issues/1/");
        assert_eq!(header(&headers, "authorization"), "Bearer tk_123");
        assert_eq!(
            ntfy_publish_url(url.expose()).as_str(),
            "https://ntfy.example.com/base/"
        );
    }

    fn email_channel() -> crate::notify::model::EmailChannel {
        crate::notify::model::EmailChannel {
            host: "smtp.example.com".into(),
            port: 587,
            security: crate::notify::model::SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: "errata@example.com".into(),
            to: vec!["oncall@example.com".into()],
        }
    }

    proptest::proptest! {
        #[test]
        fn any_issue_renders_for_every_channel(
            title in ".{0,300}",
            culprit in proptest::option::of(".{0,200}"),
            environment in proptest::option::of(".{0,40}"),
            items in 1usize..40,
        ) {
            let mut n = notification(items, Reason::NewIssue);
            for it in &mut n.items {
                it.issue.title = title.clone();
                it.issue.culprit = culprit.clone();
                it.issue.environment = environment.clone();
            }
            let kinds = [
                ChannelKind::Webhook { url: "https://r.example.com/".parse().unwrap(), secret: Secret::new("k") },
                ChannelKind::Slack { url: "https://hooks.slack.com/x".parse().unwrap() },
                ChannelKind::Discord { url: "https://discord.com/api/webhooks/1/x".parse().unwrap() },
                ChannelKind::Teams { url: "https://x.logic.azure.com/wf".parse().unwrap() },
                ChannelKind::Ntfy { url: "https://ntfy.sh/t".parse().unwrap(), token: None },
            ];
            for kind in &kinds {
                let Rendered::Http(m) = render(kind, &n, 0) else { panic!("HTTP channel rendered as mail") };
                let body: Value = serde_json::from_slice(&m.body).expect("valid JSON");
                proptest::prop_assert!(body.is_object());
            }
            let Rendered::Email(mail) = render(&ChannelKind::Email(email_channel()), &n, 0) else { panic!() };
            proptest::prop_assert!(!mail.subject.contains(['\r', '\n']));
            proptest::prop_assert!(!mail.html.contains("<script"));
            proptest::prop_assert!(mail.subject.chars().count() <= 200);
        }
    }

    #[test]
    fn email_escapes_html_and_keeps_the_subject_on_one_line() {
        let mut n = notification(1, Reason::NewIssue);
        n.items[0].issue.title = "Boom\r\nBcc: victim@example.com <script>".into();
        let Rendered::Email(mail) = render(&ChannelKind::Email(email_channel()), &n, 0) else {
            panic!()
        };
        assert!(!mail.subject.contains('\n') && !mail.subject.contains('\r'));
        assert!(mail.html.contains("&lt;script&gt;") && !mail.html.contains("<script>"));
        assert!(mail.text.contains("Release: 1.2.3"));
        assert!(
            mail.text
                .contains("https://errata.example.com/organizations/acme/issues/1/")
        );
    }
}
