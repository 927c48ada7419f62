//! The OpenAPI 3.0 description of everything Errata serves: the web API (built from the
//! same route table the router is built from), the ingest endpoints SDKs call, and the
//! operational endpoints. Served at `GET /api/0/openapi.json`.

use crate::http::Json;
use crate::http::State;
use serde_json::{Map, Value, json};

use super::RouteInfo;
use crate::state::AppState;

/// Endpoints outside `/api/0/`: (path as documented, method, summary).
pub const OTHER_OPERATIONS: &[(&str, &str, &str)] = &[
    ("/api/{project_id}/envelope/", "POST", "Ingest an envelope (SDKs)"),
    (
        "/api/{project_id}/envelope/",
        "OPTIONS",
        "CORS preflight for browser SDKs",
    ),
    (
        "/api/{project_id}/store/",
        "POST",
        "Ingest one event, legacy store endpoint (SDKs)",
    ),
    ("/api/{project_id}/store/", "OPTIONS", "CORS preflight for browser SDKs"),
    (
        "/api/tunnel/",
        "POST",
        "Ingest an envelope tunnelled through the application (DSN in its header)",
    ),
    ("/api/tunnel/", "OPTIONS", "CORS preflight for browser SDKs"),
    ("/health", "GET", "Liveness: the process answers"),
    ("/ready", "GET", "Readiness: the database and the writer work"),
    ("/metrics", "GET", "Prometheus metrics"),
];

/// The documented form of a routed path: `/api/0/openapi.json/` is served without its slash.
pub fn documented_path(routed: &str) -> String {
    match routed.strip_suffix(".json/") {
        Some(stem) => format!("{stem}.json"),
        None => routed.to_string(),
    }
}

pub async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json(document(&super::routes(), &state.base_url()))
}

fn string_param(name: &str, location: &str, description: &str, example: Option<Value>) -> Value {
    let mut p = json!({"name": name, "in": location, "required": location == "path",
                       "description": description, "schema": {"type": "string"}});
    if let Some(example) = example {
        p["example"] = example;
    }
    p
}

fn repeated_param(name: &str, description: &str, item: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "style": "form", "explode": true, "schema": {"type": "array", "items": item}})
}

fn path_example(name: &str) -> Value {
    match name {
        "org" => json!("errata"),
        "project" => json!("default"),
        "team" => json!("errata"),
        "id" => json!("1"),
        "short" => json!("DEFAULT-1"),
        "key" => json!("0123456789abcdef0123456789abcdef"),
        "event" => json!("latest"),
        "project_id" => json!("1"),
        "channel" | "rule" => json!("1"),
        _ => json!("browser"),
    }
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            string_param(
                name,
                "path",
                &format!("the {name} (slug or id)"),
                Some(path_example(name)),
            )
        })
        .collect()
}

fn paging() -> Vec<Value> {
    vec![
        string_param("cursor", "query", "`<value>:<offset>:<is_prev>`", None),
        json!({"name": "per_page", "in": "query", "required": false, "schema": {"type": "integer"}}),
    ]
}

fn issue_list_params(method: &str, org: bool) -> Vec<Value> {
    let mut out = vec![
        string_param(
            "query",
            "query",
            "issue search; absent = is:unresolved",
            Some(json!("is:unresolved")),
        ),
        repeated_param("environment", "environments", json!({"type": "string"})),
    ];
    if org {
        out.push(repeated_param(
            "project",
            "project ids or slugs; -1 = all",
            json!({"type": "string"}),
        ));
    }
    match method {
        "GET" => {
            out.extend([
                string_param(
                    "statsPeriod",
                    "query",
                    "stats series (project) or search window (org)",
                    None,
                ),
                string_param("groupStatsPeriod", "query", "'', 24h, 14d or auto", None),
                json!({"name": "sort", "in": "query", "required": false,
                       "schema": {"type": "string", "enum": ["date", "new", "freq", "user", "priority", "trends"]}}),
                json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer"}}),
                string_param("cursor", "query", "`<value>:<offset>:<is_prev>`", None),
                string_param("shortIdLookup", "query", "1 = treat the query as a short id", None),
                string_param("start", "query", "window start (ISO, naive = UTC)", None),
                string_param("end", "query", "window end (ISO, naive = UTC)", None),
                repeated_param("collapse", "stats, lifetime, filtered, …", json!({"type": "string"})),
                repeated_param("group", "exactly these issue ids", json!({"type": "string"})),
            ]);
        }
        _ => {
            out.push(repeated_param("id", "target issue ids", json!({"type": "string"})));
            out.push(string_param("status", "query", "only issues with this status", None));
        }
    }
    out
}

fn query_params(path: &str, method: &str) -> Vec<Value> {
    let tail = path.trim_end_matches('/');
    if tail.ends_with("/issues") {
        return issue_list_params(method, path.starts_with("/api/0/organizations/"));
    }
    if method == "PUT" && tail.ends_with("/hashes") {
        return vec![repeated_param(
            "id",
            "the hashes to move to a new issue",
            json!({"type": "string"}),
        )];
    }
    if method != "GET" {
        return vec![];
    }
    if tail.ends_with("/organizations/{org}/events") {
        return discover_params();
    }
    if tail.ends_with("/stats_v2") {
        return stats_v2_params();
    }
    let mut out = Vec::new();
    if tail.ends_with("/alert-deliveries") {
        out.push(json!({"name": "limit", "in": "query", "required": false,
                        "description": "most deliveries listed (1 to 500, default 100)",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500}}));
        return out;
    }
    if tail.ends_with("/events") {
        out.push(string_param("full", "query", "1 or true = full events", None));
        out.extend(paging());
    } else if tail.ends_with("/values") {
        out.push(string_param(
            "sort",
            "query",
            "-count (default), -last_seen, -first_seen",
            None,
        ));
        out.extend(paging());
    } else if tail.ends_with("/keys") {
        out.push(string_param("status", "query", "active or inactive", None));
        out.extend(paging());
    } else if tail.ends_with("/organizations") || tail.ends_with("/projects") {
        out.push(string_param("query", "query", "substring of slug or name", None));
        out.extend(paging());
    } else if tail.ends_with("/hashes") {
        out.extend(paging());
    } else if tail.ends_with("/tags") {
        out.push(repeated_param("key", "only these keys", json!({"type": "string"})));
    } else if tail.contains("/issues/") || tail.starts_with("/api/0/groups/") {
        out.push(repeated_param(
            "collapse",
            "stats, tags, release",
            json!({"type": "string"}),
        ));
    }
    out
}

/// The time window shared by the event search and `stats_v2`.
fn window_params() -> Vec<Value> {
    vec![
        string_param("statsPeriod", "query", "relative window: 24h, 14d…", Some(json!("14d"))),
        string_param("start", "query", "window start (ISO, naive = UTC); with end", None),
        string_param("end", "query", "window end (ISO, naive = UTC); with start", None),
        repeated_param("project", "project ids or slugs; -1 = all", json!({"type": "string"})),
    ]
}

/// `GET /organizations/{org}/events/`: Sentry's Discover subset.
fn discover_params() -> Vec<Value> {
    let mut out = vec![
        repeated_param(
            "field",
            "columns (title, id, issue, project, timestamp, release, environment, level, message, \
             user.display, culprit, tags[key]) and aggregates (count(), count_unique(user), last_seen())",
            json!({"type": "string", "example": "title"}),
        ),
        string_param(
            "dataset",
            "query",
            "errors (others answer no rows)",
            Some(json!("errors")),
        ),
        string_param("query", "query", "issue search syntax, applied to events", None),
        string_param(
            "sort",
            "query",
            "a selected field, - for descending",
            Some(json!("-timestamp")),
        ),
        repeated_param("environment", "environments", json!({"type": "string"})),
    ];
    out.extend(window_params());
    out.extend(paging());
    out
}

/// `GET /organizations/{org}/stats_v2/`: outcomes in Sentry's shape.
fn stats_v2_params() -> Vec<Value> {
    let mut out = vec![
        repeated_param(
            "field",
            "sum(quantity)",
            json!({"type": "string", "example": "sum(quantity)"}),
        ),
        repeated_param(
            "groupBy",
            "category, outcome, reason or project",
            json!({"type": "string", "enum": ["category", "outcome", "reason", "project"]}),
        ),
        repeated_param(
            "category",
            "data categories (error, transaction, attachment…)",
            json!({"type": "string"}),
        ),
        repeated_param(
            "outcome",
            "accepted, filtered, rate_limited, invalid, …",
            json!({"type": "string"}),
        ),
        repeated_param("reason", "drop reasons", json!({"type": "string"})),
        string_param(
            "interval",
            "query",
            "bucket width (1d; shorter is answered per day)",
            Some(json!("1d")),
        ),
    ];
    out.extend(window_params());
    out
}

fn request_body(path: &str, method: &str) -> Option<Value> {
    let schema = match method {
        "PUT" if path.trim_end_matches('/').ends_with("/hashes") => return None,
        "POST" if path.trim_end_matches('/').ends_with("/test") => return None,
        "PUT" | "POST" if path.contains("/alert-channels/") => "AlertChannel",
        "PUT" | "POST" if path.contains("/alert-rules/") => "AlertRule",
        "PUT" if path.contains("/issues/") || path.starts_with("/api/0/groups/") => "IssueUpdate",
        "PUT" | "POST" if path.contains("/keys/") => "KeyBody",
        "PUT" | "POST" if path.contains("/projects/") => "ProjectBody",
        _ => return None,
    };
    Some(
        json!({"required": false, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
    )
}

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn success(path: &str, method: &str) -> (&'static str, Value) {
    let tail = path.trim_end_matches('/');
    let is_list = [
        "/issues",
        "/events",
        "/values",
        "/keys",
        "/organizations",
        "/projects",
        "/hashes",
        "/teams",
        "/tags",
        "/alert-channels",
        "/alert-rules",
        "/alert-deliveries",
        "/releases",
        "/commits",
        "/deploys",
        "/repos",
        "/files",
        "/artifactbundles",
        "/artifacts",
    ]
    .iter()
    .any(|s| tail.ends_with(s));
    match method {
        "PUT" if tail.ends_with("/hashes") => (
            "202",
            json!({"description": "unmerged into a new issue", "content": {"application/json": {"schema": {"type": "object"}}}}),
        ),
        "DELETE" if tail.ends_with("/issues") => ("204", json!({"description": "deleted (or nothing matched)"})),
        "DELETE" if tail.contains("/issues/") || tail.starts_with("/api/0/groups/") => {
            ("202", json!({"description": "scheduled for deletion"}))
        }
        "DELETE" => ("204", json!({"description": "deleted"})),
        "POST" if tail.ends_with("/test") => (
            "200",
            json!({"description": "the test notification's status (never the receiver's answer); it is \
                          sent at once, outside the outbox, so this answer is its only record: \
                          the delivery history holds what rules sent about real issues",
                   "content": {"application/json": {"schema": {"type": "object"}}}}),
        ),
        "POST" if tail.ends_with("/chunk-upload") || tail.ends_with("/assemble") => (
            "200",
            json!({"description": "chunks kept, or the assemble state (not_found with missingChunks, ok, error with detail)",
                   "content": {"application/json": {"schema": {"type": "object"}}}}),
        ),
        "POST" => (
            "201",
            json!({"description": "created", "content": {"application/json": {"schema": {"type": "object"}}}}),
        ),
        "GET" if tail.ends_with("/organizations/{org}/events") => (
            "200",
            json!({"description": "one page of rows", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "data": {"type": "array", "items": {"type": "object"}},
                    "meta": {"type": "object", "properties": {
                        "fields": {"type": "object"}, "units": {"type": "object"}}}}}}}}),
        ),
        "GET" if tail.ends_with("/stats_v2") => (
            "200",
            json!({"description": "outcome series", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "start": {"type": "string"}, "end": {"type": "string"},
                    "intervals": {"type": "array", "items": {"type": "string"}},
                    "groups": {"type": "array", "items": {"type": "object", "properties": {
                        "by": {"type": "object"}, "totals": {"type": "object"},
                        "series": {"type": "object"}}}}}}}}}),
        ),
        _ => {
            let schema = if is_list && method == "GET" {
                json!({"type": "array", "items": {"type": "object"}})
            } else {
                json!({"type": "object"})
            };
            (
                "200",
                json!({"description": "OK", "content": {"application/json": {"schema": schema}}}),
            )
        }
    }
}

fn summary(path: &str, method: &str) -> String {
    let what = path
        .trim_start_matches("/api/0")
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .collect::<Vec<_>>()
        .join(" ");
    let what = if what.is_empty() { "index".to_string() } else { what };
    format!("{} {what}", method.to_lowercase())
}

fn operation_id(path: &str, method: &str) -> String {
    let mut id = method.to_lowercase();
    for seg in path.split('/').filter(|s| !s.is_empty() && *s != "api" && *s != "0") {
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        id.push('_');
        id.extend(seg.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    }
    id
}

fn api_operation(path: &str, method: &str) -> Value {
    let public = path == "/api/0/" || path.ends_with("openapi.json");
    let mut parameters = path_params(path);
    parameters.extend(query_params(path, method));
    let (code, ok) = success(path, method);
    let mut responses = Map::new();
    responses.insert(code.into(), ok);
    if tail_is_bulk(path) && method == "PUT" {
        responses.insert("204".into(), json!({"description": "nothing matched"}));
    }
    responses.insert("400".into(), error_response("invalid parameter or body"));
    responses.insert("401".into(), error_response("no or unknown token"));
    responses.insert("403".into(), error_response("the token lacks the scope"));
    responses.insert("404".into(), error_response("no such resource"));
    responses.insert("405".into(), error_response("method not allowed"));
    let mut op = json!({
        "operationId": operation_id(path, method),
        "summary": summary(path, method),
        "parameters": parameters,
        "responses": responses,
    });
    if public {
        op["security"] = json!([{}, {"bearer": []}]);
    }
    if let Some(body) = request_body(path, method) {
        op["requestBody"] = body;
    }
    op
}

fn tail_is_bulk(path: &str) -> bool {
    path.trim_end_matches('/').ends_with("/issues")
}

fn other_operation(path: &str, method: &str, summary: &str) -> Value {
    let mut parameters = path_params(path);
    let mut op = json!({"operationId": operation_id(path, method), "summary": summary, "security": [{}]});
    if method == "POST" {
        parameters.push(string_param(
            "sentry_key",
            "query",
            "the DSN's public key (or X-Sentry-Auth)",
            Some(json!("0123456789abcdef0123456789abcdef")),
        ));
        let media = if path.contains("store") {
            json!({"application/json": {"schema": {"type": "object"}}})
        } else {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
        };
        op["requestBody"] = json!({"required": true, "content": media});
        op["responses"] = json!({
            "200": {"description": "accepted", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": error_response("malformed payload"),
            "401": error_response("missing or unknown DSN key"),
            "403": error_response("key disabled or event filtered"),
            "413": error_response("too large"),
            "429": error_response("rate limited or write queue full"),
        });
    } else if method == "OPTIONS" {
        op["responses"] = json!({"200": {"description": "CORS headers"}, "204": {"description": "CORS headers"}});
    } else if path == "/metrics" {
        op["responses"] = json!({"200": {"description": "Prometheus text format",
                                         "content": {"text/plain": {"schema": {"type": "string"}}}}});
    } else {
        op["responses"] = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                                 "503": {"description": "not ready"}});
    }
    op["parameters"] = Value::Array(parameters);
    op
}

fn schemas() -> Value {
    json!({
        "Error": {"type": "object", "properties": {"detail": {"type": "string"}}},
        "IssueUpdate": {"type": "object", "properties": {
            "status": {"type": "string", "enum": ["resolved", "unresolved", "ignored", "resolvedInNextRelease", "muted"]},
            "substatus": {"type": "string", "nullable": true},
            "statusDetails": {"type": "object", "properties": {
                "inRelease": {"type": "string"}, "inNextRelease": {"type": "boolean"},
                "ignoreDuration": {"type": "integer"}, "ignoreCount": {"type": "integer"},
                "ignoreWindow": {"type": "integer"}, "ignoreUntil": {"type": "string"},
                "ignoreUserCount": {"type": "integer"}, "ignoreUserWindow": {"type": "integer"}}},
            "snoozeDuration": {"type": "integer", "nullable": true},
            "ignoreDuration": {"type": "integer"}, "ignoreCount": {"type": "integer"},
            "hasSeen": {"type": "boolean"}, "isBookmarked": {"type": "boolean"},
            "isSubscribed": {"type": "boolean"}, "isPublic": {"type": "boolean"},
            "assignedTo": {"type": "string"}, "merge": {"type": "boolean"}}},
        "ProjectBody": {"type": "object", "properties": {
            "name": {"type": "string"}, "slug": {"type": "string"}, "platform": {"type": "string"},
            "scrubbing": {"type": "object"}, "fingerprintingRules": {"type": "string"},
            "groupingEnhancements": {"type": "string"}}},
        "AlertChannel": {"type": "object", "description": "a channel: name, type and the type's fields; secrets are shown back masked",
            "properties": {
                "name": {"type": "string"},
                "type": {"type": "string", "enum": ["webhook", "slack", "discord", "teams", "ntfy", "email"]},
                "url": {"type": "string", "description": "http(s) receiver URL (webhook, slack, discord, teams, ntfy)"},
                "secret": {"type": "string", "description": "webhook signing secret; made up when left out and shown once"},
                "token": {"type": "string", "description": "ntfy access token"},
                "host": {"type": "string"}, "port": {"type": "integer"},
                "security": {"type": "string", "enum": ["starttls", "tls", "none"]},
                "username": {"type": "string"}, "password": {"type": "string"},
                "from": {"type": "string"}, "to": {"type": "array", "items": {"type": "string"}}}},
        "AlertRule": {"type": "object", "properties": {
            "name": {"type": "string"},
            "triggers": {"type": "array", "items": {"type": "string"},
                         "description": "new-issue, regression, escalation:N/M (N events in M minutes)"},
            "filters": {"type": "object", "properties": {
                "levels": {"type": "array", "items": {"type": "string"}},
                "min_level": {"type": "string"},
                "environments": {"type": "array", "items": {"type": "string"}},
                "releases": {"type": "array", "items": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "object", "properties": {
                    "key": {"type": "string"}, "value": {"type": "string"}}}}}},
            "channels": {"type": "array", "items": {"type": "string"}},
            "intervalSecs": {"type": "integer"},
            "enabled": {"type": "boolean"}}},
        "KeyBody": {"type": "object", "properties": {
            "name": {"type": "string"}, "isActive": {"type": "boolean"},
            "rateLimit": {"type": "object", "nullable": true, "properties": {
                "count": {"type": "integer"}, "window": {"type": "integer"}}}}},
    })
}

/// The whole description: every API route in `routes` plus the ingest and operational endpoints.
pub fn document(routes: &[RouteInfo], base_url: &str) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let path = documented_path(route.path);
        let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
        for method in route.methods {
            item[method.to_lowercase()] = api_operation(&path, method);
        }
    }
    for (path, method, what) in OTHER_OPERATIONS {
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[method.to_lowercase()] = other_operation(path, method, what);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Errata", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Sentry-compatible ingest and the /api/0/ subset sentry-cli and API clients use."},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_method_is_an_operation_with_its_path_parameters() {
        let routes = crate::api::routes();
        let doc = document(&routes, "http://h");
        for route in &routes {
            let item = &doc["paths"][documented_path(route.path)];
            for method in route.methods {
                let op = &item[method.to_lowercase()];
                assert!(op.is_object(), "{method} {}", route.path);
                let n = route.path.matches('{').count();
                let path_params = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .count();
                assert_eq!(path_params, n, "{method} {}", route.path);
            }
        }
        assert!(doc["paths"]["/api/{project_id}/envelope/"]["post"].is_object());
    }
}
