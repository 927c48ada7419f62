//! Sentry-shaped JSON for organizations, projects, keys, issues and events
//! (field names and types as the web API spec lists them).

use serde_json::{Map, Value, json};

use crate::ids::{IssueStatus, ShortId};

use crate::store::{Issue, Organization, Project, ProjectKey, StoredEvent};

/// ISO 8601 UTC with microseconds and `Z`, as Sentry clients expect.
pub fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A release as issues and events name it: its version and Sentry's short form of it.
pub fn release_ref(version: &str) -> Value {
    json!({"version": version, "shortVersion": super::releases::short_version(version)})
}

fn iso_from_secs(secs: f64) -> String {
    iso((secs * 1_000_000.0) as i64)
}

pub fn organization(o: &Organization, base_url: &str) -> Value {
    // Sentry's MCP server refuses a region URL that is not https, even when it was started
    // for a plain-http host; an empty one (as single-region self-hosted installs give) makes
    // it stay on the host it was given.
    let region_url = if base_url.starts_with("https://") { base_url } else { "" };
    json!({
        "id": o.id.to_string(),
        "slug": o.slug,
        "name": o.name,
        "dateCreated": iso(o.date_created),
        "isEarlyAdopter": false,
        "require2FA": false,
        "requireEmailVerification": false,
        "features": [],
        "status": {"id": "active", "name": "active"},
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": null},
        "links": {"organizationUrl": base_url, "regionUrl": region_url},
        "isDefault": true,
        "role": "owner",
        "access": [],
    })
}

pub fn project(p: &Project, with_organization: Option<&Organization>, base_url: &str) -> Value {
    let team = json!({"id": "1", "slug": p.organization_slug, "name": p.organization_slug});
    let mut v = json!({
        "id": p.id.to_string(),
        "slug": p.slug,
        "name": p.name,
        "platform": p.platform,
        "dateCreated": iso(p.date_created),
        "isBookmarked": false,
        "isMember": true,
        "hasAccess": true,
        "team": team,
        "teams": [team],
        "environments": [],
        "features": [],
        "firstEvent": null,
        "firstTransactionEvent": false,
        "status": "active",
        "hasSessions": false,
        "hasProfiles": false,
        "hasReplays": false,
        "hasLogs": false,
    });
    if let Some(org) = with_organization {
        v["organization"] = organization(org, base_url);
    }
    v
}

/// The DSN a key gives: `http://<public>@host/<project_id>`.
pub fn dsn(base_url: &str, public_key: &str, secret: Option<&str>, project_id: i64) -> String {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("http", base_url));
    match secret {
        Some(secret) => format!("{scheme}://{public_key}:{secret}@{rest}/{project_id}"),
        None => format!("{scheme}://{public_key}@{rest}/{project_id}"),
    }
}

pub fn key(k: &ProjectKey, base_url: &str) -> Value {
    let api = format!("{base_url}/api/{}", k.project_id);
    let rate_limit = match (k.rate_limit_count, k.rate_limit_window) {
        (Some(count), Some(window)) => json!({"count": count, "window": window}),
        _ => Value::Null,
    };
    json!({
        "id": k.public_key,
        "name": k.label,
        "label": k.label,
        "public": k.public_key,
        "secret": k.secret_key,
        "projectId": k.project_id,
        "isActive": k.is_active,
        "rateLimit": rate_limit,
        "dateCreated": iso(k.date_created),
        "dsn": {
            "public": dsn(base_url, &k.public_key, None, k.project_id),
            "secret": dsn(base_url, &k.public_key, Some(&k.secret_key), k.project_id),
            "security": format!("{api}/security/?sentry_key={}", k.public_key),
            "csp": format!("{api}/csp-report/?sentry_key={}", k.public_key),
            "minidump": format!("{api}/minidump/?sentry_key={}", k.public_key),
            "nel": format!("{api}/nel/?sentry_key={}", k.public_key),
            "unreal": format!("{api}/unreal/{}/", k.public_key),
            "crons": format!("{api}/cron/___MONITOR_SLUG___/{}/", k.public_key),
            "cdn": null,
        },
        "browserSdkVersion": "latest",
        "browserSdk": {"choices": [["latest", "latest"]]},
        "dynamicSdkLoaderOptions": {"hasReplay": false, "hasPerformance": false, "hasDebug": false},
        "allowedOrigins": k.allowed_origins,
    })
}

/// The Group object of §9.1 (without `stats`, which callers add).
pub fn issue(i: &Issue, p: &Project, base_url: &str) -> Value {
    let substatus = match i.status {
        IssueStatus::Ignored => i.substatus.clone().or_else(|| Some("archived_forever".into())),
        IssueStatus::Resolved => None,
        IssueStatus::Unresolved => i.substatus.clone(),
    };
    let mut details = i.status_details.clone();
    if let Some(obj) = details.as_object_mut() {
        obj.retain(|k, _| !matches!(k.as_str(), "timesSeenAtIgnore" | "ignoreUntilUs"));
    } else {
        details = json!({});
    }
    let lifetime = json!({
        "count": i.times_seen.to_string(),
        "userCount": i.user_count,
        "firstSeen": iso(i.first_seen),
        "lastSeen": iso(i.last_seen),
        "stats": null,
    });
    let unhandled = i.metadata.get("unhandled").and_then(Value::as_bool).unwrap_or(false);
    json!({
        "id": i.id.to_string(),
        "shortId": ShortId::new(&p.slug, i.short_id).to_string(),
        "title": i.title,
        "culprit": i.culprit.clone().unwrap_or_default(),
        "permalink": format!("{base_url}/organizations/{}/issues/{}/", p.organization_slug, i.id),
        "logger": null,
        "level": i.level,
        "status": i.status,
        "substatus": substatus,
        "statusDetails": details,
        "isPublic": false,
        "platform": i.platform.clone().unwrap_or_else(|| "other".into()),
        "project": {"id": p.id.to_string(), "name": p.name, "slug": p.slug, "platform": p.platform},
        "type": i.kind,
        "issueType": "error",
        "issueCategory": "error",
        "metadata": i.metadata,
        "numComments": 0,
        "assignedTo": null,
        "isBookmarked": false,
        "isSubscribed": false,
        "subscriptionDetails": null,
        "hasSeen": false,
        "annotations": [],
        "isUnhandled": unhandled,
        "shareId": null,
        "priority": if i.level == "fatal" || i.level == "error" { "high" } else { "medium" },
        "priorityLockedAt": null,
        "firstSeen": iso(i.first_seen),
        "lastSeen": iso(i.last_seen),
        "count": i.times_seen.to_string(),
        "userCount": i.user_count,
        "lifetime": lifetime,
        "filtered": null,
        "firstRelease": i.first_release.as_deref().map(release_ref),
        "lastRelease": i.last_release.as_deref().map(release_ref),
    })
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path).and_then(Value::as_str)
}

/// `[{key, value}]` sorted by key, from the canonical `[[k, v]]` pairs.
fn tags(data: &Value) -> Vec<Value> {
    let mut tags: Vec<(String, String)> = data
        .get("tags")
        .and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([Value::String(k), Value::String(v)]) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for (key, path) in [
        ("level", "/level"),
        ("release", "/release"),
        ("environment", "/environment"),
    ] {
        if let Some(v) = str_at(data, path)
            && !tags.iter().any(|(k, _)| k == key)
        {
            tags.push((key.into(), v.into()));
        }
    }
    tags.sort();
    tags.into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect()
}

fn user(data: &Value) -> Value {
    match data.get("user") {
        Some(Value::Object(u)) => {
            let field = |k: &str| u.get(k).cloned().unwrap_or(Value::Null);
            let id = match u.get("id") {
                Some(Value::Number(n)) => Value::String(n.to_string()),
                Some(v) => v.clone(),
                None => Value::Null,
            };
            json!({
                "id": id, "email": field("email"), "username": field("username"),
                "ip_address": field("ip_address"), "name": field("name"),
                "geo": field("geo"), "data": field("data"),
            })
        }
        _ => Value::Null,
    }
}

fn message(data: &Value) -> Option<String> {
    str_at(data, "/logentry/formatted")
        .or_else(|| str_at(data, "/logentry/message"))
        .map(String::from)
}

/// The short event form of issue and project event lists.
pub fn simple_event(e: &StoredEvent) -> Value {
    let d = &e.data;
    let title = str_at(d, "/title").unwrap_or("<unlabeled event>");
    json!({
        "id": e.event_id,
        "event.type": if d.get("exception").is_some() { "error" } else { "default" },
        "groupID": e.issue_id.to_string(),
        "eventID": e.event_id,
        "projectID": e.project_id.to_string(),
        "message": message(d).unwrap_or_else(|| title.to_string()),
        "title": title,
        "location": location(d),
        "culprit": str_at(d, "/culprit").unwrap_or(""),
        "user": user(d),
        "tags": tags(d),
        "platform": str_at(d, "/platform").unwrap_or("other"),
        "dateCreated": iso(e.timestamp),
        "crashFile": null,
    })
}

fn location(d: &Value) -> Value {
    d.pointer("/metadata/filename").cloned().unwrap_or(Value::Null)
}

fn frame(f: &Value) -> Value {
    let g = |k: &str| f.get(k).cloned().unwrap_or(Value::Null);
    let mut context = Vec::new();
    if let Some(line) = f.get("lineno").and_then(Value::as_i64) {
        let pre = f
            .get("pre_context")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let post = f
            .get("post_context")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let start = line - pre.len() as i64;
        for (i, text) in pre.iter().enumerate() {
            context.push(json!([start + i as i64, text]));
        }
        if let Some(text) = f.get("context_line") {
            context.push(json!([line, text]));
        }
        for (i, text) in post.iter().enumerate() {
            context.push(json!([line + 1 + i as i64, text]));
        }
    }
    json!({
        "filename": g("filename"), "absPath": g("abs_path"), "module": g("module"), "package": g("package"),
        "platform": g("platform"), "instructionAddr": g("instruction_addr"), "symbolAddr": g("symbol_addr"),
        "function": g("function"), "rawFunction": g("raw_function"), "symbol": g("symbol"),
        "context": context, "lineNo": g("lineno"), "colNo": g("colno"),
        "inApp": f.get("in_app").and_then(Value::as_bool).unwrap_or(false),
        "trust": g("trust"), "errors": null, "vars": g("vars"),
    })
}

fn stacktrace(st: Option<&Value>) -> Value {
    let Some(st) = st.filter(|s| s.is_object()) else {
        return Value::Null;
    };
    let frames: Vec<Value> = st
        .get("frames")
        .and_then(Value::as_array)
        .map(|f| f.iter().map(frame).collect())
        .unwrap_or_default();
    let has_system = frames.iter().any(|f| f["inApp"] == Value::Bool(false));
    json!({"frames": frames, "framesOmitted": null, "registers": st.get("registers").cloned().unwrap_or(Value::Null), "hasSystemFrames": has_system})
}

fn pairs(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Array(a)) => Value::Array(a.clone()),
        Some(Value::Object(o)) => Value::Array(o.iter().map(|(k, v)| json!([k, v])).collect()),
        Some(Value::String(s)) => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// `entries`: one per interface present, as clients look them up by `type`.
fn entries(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(values) = d.pointer("/exception/values").and_then(Value::as_array) {
        let values: Vec<Value> = values
            .iter()
            .map(|e| {
                json!({
                    "type": e.get("type").cloned().unwrap_or(Value::Null),
                    "value": e.get("value").cloned().unwrap_or(Value::Null),
                    "module": e.get("module").cloned().unwrap_or(Value::Null),
                    "threadId": e.get("thread_id").cloned().unwrap_or(Value::Null),
                    "mechanism": e.get("mechanism").cloned().unwrap_or(Value::Null),
                    "stacktrace": stacktrace(e.get("stacktrace")),
                    "rawStacktrace": stacktrace(e.get("raw_stacktrace")),
                })
            })
            .collect();
        let has_system = values
            .iter()
            .any(|v| v.pointer("/stacktrace/hasSystemFrames") == Some(&Value::Bool(true)));
        out.push(
            json!({"type": "exception", "data": {"values": values, "excOmitted": null, "hasSystemFrames": has_system}}),
        );
    }
    if let Some(st) = d.get("stacktrace").filter(|s| s.is_object()) {
        out.push(json!({"type": "stacktrace", "data": stacktrace(Some(st))}));
    }
    if let Some(threads) = d.pointer("/threads/values").and_then(Value::as_array) {
        let values: Vec<Value> = threads
            .iter()
            .map(|t| {
                json!({
                    "id": t.get("id").cloned().unwrap_or(Value::Null),
                    "name": t.get("name").cloned().unwrap_or(Value::Null),
                    "current": t.get("current").cloned().unwrap_or(Value::Null),
                    "crashed": t.get("crashed").cloned().unwrap_or(Value::Null),
                    "state": t.get("state").cloned().unwrap_or(Value::Null),
                    "stacktrace": stacktrace(t.get("stacktrace")),
                })
            })
            .collect();
        out.push(json!({"type": "threads", "data": {"values": values}}));
    }
    if let Some(logentry) = d.get("logentry").and_then(Value::as_object) {
        out.push(json!({"type": "message", "data": {
            "formatted": logentry.get("formatted").or_else(|| logentry.get("message")).cloned().unwrap_or(Value::Null),
            "message": logentry.get("message").cloned().unwrap_or(Value::Null),
            "params": logentry.get("params").cloned().unwrap_or(Value::Null),
        }}));
    }
    if let Some(r) = d.get("request").and_then(Value::as_object) {
        let g = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
        out.push(json!({"type": "request", "data": {
            "url": g("url"), "method": g("method"), "query": pairs(r.get("query_string")), "fragment": g("fragment"),
            "data": g("data"), "headers": pairs(r.get("headers")), "cookies": pairs(r.get("cookies")),
            "env": g("env"), "inferredContentType": g("inferred_content_type"), "apiTarget": g("api_target"),
        }}));
    }
    if let Some(crumbs) = d.pointer("/breadcrumbs/values").and_then(Value::as_array) {
        let values: Vec<Value> = crumbs
            .iter()
            .map(|b| {
                let g = |k: &str| b.get(k).cloned().unwrap_or(Value::Null);
                json!({
                    "type": b.get("type").cloned().unwrap_or_else(|| json!("default")),
                    "category": g("category"), "level": b.get("level").cloned().unwrap_or_else(|| json!("info")),
                    "message": g("message"), "data": g("data"),
                    "timestamp": b.get("timestamp").and_then(Value::as_f64).map(iso_from_secs),
                    "event_id": g("event_id"),
                })
            })
            .collect();
        out.push(json!({"type": "breadcrumbs", "data": {"values": values}}));
    }
    out
}

/// The full event of §9.2.
pub fn event(e: &StoredEvent) -> Value {
    let d = &e.data;
    let g = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
    let title = str_at(d, "/title").unwrap_or("<unlabeled event>");
    let kind = match str_at(d, "/type") {
        Some("transaction") => "transaction",
        _ if d.get("exception").is_some() => "error",
        _ => "default",
    };
    let mut v = json!({
        "id": e.event_id,
        "eventID": e.event_id,
        "groupID": e.issue_id.to_string(),
        "projectID": e.project_id.to_string(),
        "size": e.size,
        "type": kind,
        "title": title,
        "message": message(d),
        "culprit": str_at(d, "/culprit").unwrap_or(""),
        "location": location(d),
        "platform": str_at(d, "/platform").unwrap_or("other"),
        "dateCreated": iso(e.timestamp),
        "dateReceived": iso(e.received),
        "dist": g("dist"),
        "release": str_at(d, "/release").map(release_ref),
        "environment": g("environment"),
        "tags": tags(d),
        "user": user(d),
        "contexts": d.get("contexts").cloned().unwrap_or_else(|| json!({})),
        "context": d.get("extra").cloned().unwrap_or_else(|| json!({})),
        "packages": d.get("modules").cloned().unwrap_or_else(|| json!({})),
        "sdk": d.get("sdk").map(|s| json!({"name": s.get("name"), "version": s.get("version")})),
        "metadata": d.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "errors": d.get("errors").cloned().unwrap_or_else(|| json!([])),
        "fingerprints": d.get("hashes").cloned().unwrap_or_else(|| json!([])),
        "groupingConfig": {"id": d.get("grouping_config").cloned().unwrap_or(Value::Null), "enhancements": ""},
        "crashFile": null,
        "occurrence": null,
        "userReport": d.get("user_report").cloned(),
        "sdkUpdates": [],
        "resolvedWith": [],
        "_meta": d.get("_meta").cloned().unwrap_or_else(|| json!({})),
        "entries": entries(d),
    });
    if kind == "transaction" {
        v["startTimestamp"] = g("start_timestamp");
        v["timestamp"] = g("timestamp");
    }
    if let Some(scrubbed) = d.get("scrubbed") {
        v["scrubbed"] = scrubbed.clone();
    }
    v
}

/// Adds `key: value` to a JSON object value.
pub fn with(mut v: Value, key: &str, value: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(key.to_string(), value);
    }
    v
}

pub fn object() -> Map<String, Value> {
    Map::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_ends_in_z_with_micros() {
        assert_eq!(iso(1_741_083_330_123_456), "2025-03-04T10:15:30.123456Z");
    }

    #[test]
    fn frame_context_merges_pre_and_post() {
        let f = json!({"lineno": 10, "pre_context": ["a", "b"], "context_line": "c", "post_context": ["d"]});
        assert_eq!(frame(&f)["context"], json!([[8, "a"], [9, "b"], [10, "c"], [11, "d"]]));
    }
}
