//! Alerts over the API: channels per organization, rules per project, the delivery history
//! and "send a test notification". Secrets (webhook secrets, tokens, SMTP passwords, chat
//! webhook URLs, which carry their token) are shown back masked, never in full.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::serialize::iso;
use super::{resolve_org, resolve_project};
use crate::errors::ApiError;
use crate::http::{IntoResponse, Json, Path, Query, Response, State, StatusCode};
use crate::notify::model::{
    Channel, ChannelId, ChannelKind, Filters, Notification, Rule, RuleId, Secret, Trigger, channel_from_fields,
    merged_channel_fields,
};
use crate::state::AppState;
use crate::store::{DeliveryFilter, NewChannel, Organization, Project, StoreError};

/// Deliveries listed at most per request.
const MAX_DELIVERIES: usize = 500;

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// A store refusal about what the client sent (a channel of another organization) is a 400.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => ApiError::BadRequest(m),
        e => e.into(),
    }
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| ApiError::NotFound)
}

// ---------------------------------------------------------------- channels

/// A channel as the API shows it: everything but its secrets in full.
pub fn channel_json(c: &Channel) -> Value {
    let mut out = json!({
        "id": c.id.0.to_string(),
        "name": c.name,
        "type": c.kind.label(),
    });
    let extra = match &c.kind {
        ChannelKind::Webhook { url, secret } => json!({"url": url.redacted(), "secret": secret.masked()}),
        ChannelKind::Slack { url } | ChannelKind::Discord { url } | ChannelKind::Teams { url } => {
            json!({"url": url.redacted()})
        }
        ChannelKind::Ntfy { url, token } => json!({"url": url.redacted(), "token": token.as_ref().map(Secret::masked)}),
        ChannelKind::Email(e) => json!({
            "host": e.host, "port": e.port, "security": e.security, "username": e.username,
            "password": e.password.as_ref().map(Secret::masked), "from": e.from, "to": e.to,
        }),
    };
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

/// Parses a channel body (`{"name", "type", …the type's fields}`) with the one parse the web
/// form uses too; a webhook without a secret gets a random one, returned with the flag that
/// it was made here.
fn parse_channel(organization_id: i64, body: Value) -> Result<(NewChannel, Option<String>), ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::BadRequest("the body must be a JSON object".into()));
    };
    let mut generated = None;
    if fields.get("type").and_then(Value::as_str) == Some("webhook") && !fields.contains_key("secret") {
        let secret = uuid::Uuid::new_v4().simple().to_string();
        fields.insert("secret".into(), Value::String(secret.clone()));
        generated = Some(secret);
    }
    let (name, kind) = channel_from_fields(fields).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let new = NewChannel {
        organization_id,
        name,
        kind,
    };
    Ok((new, generated))
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::Validation {
        field: field.into(),
        message: message.into(),
    }
}

async fn org_channel(state: &AppState, org: &Organization, raw: &str) -> Result<Channel, ApiError> {
    let channel = state.store.alert_channel(ChannelId(parse_id(raw)?)).await?;
    if channel.organization_id != org.id {
        return Err(ApiError::NotFound);
    }
    Ok(channel)
}

pub async fn channels(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let channels = state.store.alert_channels(org.id).await?;
    Ok(Json(Value::Array(channels.iter().map(channel_json).collect())))
}

pub async fn channel_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    // A channel decides where data about issues is sent: organization admins only.
    caller.require("org:admin")?;
    let body = body_json(&body)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let (new, generated) = parse_channel(org.id, body)?;
    let channel = state.store.create_alert_channel(new).await.map_err(store_error)?;
    let mut out = channel_json(&channel);
    if let Some(secret) = generated {
        // Shown this once, so the receiver can verify signatures.
        out["secret"] = Value::String(secret);
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

pub async fn channel_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, channel)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    Ok(Json(channel_json(&org_channel(&state, &org, &channel).await?)))
}

pub async fn channel_update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, channel)): Path<(String, String)>,
    body: crate::http::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require("org:admin")?;
    let body = body_json(&body)?;
    let org = resolve_org(&state, &caller, &org).await?;
    let existing = org_channel(&state, &org, &channel).await?;
    let Value::Object(changes) = body else {
        return Err(ApiError::BadRequest("the body must be a JSON object".into()));
    };
    let merged =
        Value::Object(merged_channel_fields(&existing, changes).map_err(|e| ApiError::BadRequest(e.to_string()))?);
    let (new, _) = parse_channel(org.id, merged)?;
    let channel = state
        .store
        .update_alert_channel(existing.id, new)
        .await
        .map_err(store_error)?;
    Ok(Json(channel_json(&channel)))
}

pub async fn channel_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, channel)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require("org:admin")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let channel = org_channel(&state, &org, &channel).await?;
    state.store.delete_alert_channel(channel.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What one test send did: the attempt's status only, never what the receiver said.
pub struct TestResult {
    pub channel: ChannelId,
    /// The attempt's outcome label (`200`, `timeout`, `refused`…), or `unavailable` when no
    /// sender runs.
    pub outcome: String,
    pub delivered: bool,
}

impl TestResult {
    fn to_json(&self) -> Value {
        json!({"channel": self.channel.0.to_string(), "outcome": self.outcome, "delivered": self.delivered})
    }
}

/// Sends a made-up notification through `channel` now. It bypasses the outbox on purpose
/// (one attempt while the caller waits, nothing to retry or fold), so it is not in the
/// delivery history: the answer is its record, as the API description says. The web pages
/// send their tests through here too.
pub async fn test_channel(state: &AppState, channel: &Channel, rule: RuleId, project: Option<&Project>) -> TestResult {
    let Some(sender) = state.notifier.get() else {
        return TestResult {
            channel: channel.id,
            outcome: "unavailable".into(),
            delivered: false,
        };
    };
    let (project_id, project_slug, org_slug) = match project {
        Some(p) => (p.id, p.slug.clone(), p.organization_slug.clone()),
        None => (0, "errata".to_string(), String::new()),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let n = Notification::test(
        channel.id,
        rule,
        project_id,
        &project_slug,
        &org_slug,
        &state.base_url(),
        now,
    );
    let outcome = sender.attempt(channel, &n).await;
    let delivered =
        matches!(outcome, crate::notify::policy::AttemptOutcome::Status { code, .. } if (200..300).contains(&code));
    TestResult {
        channel: channel.id,
        outcome: outcome.label().to_string(),
        delivered,
    }
}

pub async fn channel_test(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, channel)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:write")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let channel = org_channel(&state, &org, &channel).await?;
    Ok(Json(test_channel(&state, &channel, RuleId(0), None).await.to_json()))
}

// ---------------------------------------------------------------- rules

pub fn rule_json(r: &Rule) -> Value {
    json!({
        "id": r.id.0.to_string(),
        "projectId": r.project_id.to_string(),
        "name": r.name,
        "triggers": r.triggers.iter().map(Trigger::to_string).collect::<Vec<_>>(),
        "filters": r.filters,
        "channels": r.channels.iter().map(|c| c.0.to_string()).collect::<Vec<_>>(),
        "intervalSecs": r.interval_secs,
        "enabled": r.enabled,
    })
}

/// A rule body; every field optional so an update may name only what changes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuleBody {
    name: Option<String>,
    /// `new-issue`, `regression`, `escalation:N/M`.
    triggers: Option<Vec<String>>,
    filters: Option<Filters>,
    /// Channel ids, as numbers or strings.
    channels: Option<Vec<Value>>,
    interval_secs: Option<u32>,
    enabled: Option<bool>,
}

impl RuleBody {
    fn apply(self, mut rule: Rule) -> Result<Rule, ApiError> {
        if let Some(name) = self.name {
            rule.name = name;
        }
        if let Some(triggers) = self.triggers {
            rule.triggers = Trigger::parse_list(&triggers.join(",")).map_err(|e| bad("triggers", &e.to_string()))?;
        }
        if let Some(filters) = self.filters {
            rule.filters = filters;
        }
        if let Some(channels) = self.channels {
            rule.channels = channels
                .iter()
                .map(|c| match c {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                })
                .map(|id| id.map(ChannelId).ok_or_else(|| bad("channels", "must be channel ids")))
                .collect::<Result<_, _>>()?;
        }
        if let Some(secs) = self.interval_secs {
            rule.interval_secs = secs;
        }
        if let Some(enabled) = self.enabled {
            rule.enabled = enabled;
        }
        Ok(rule)
    }
}

/// The rule if it passes the one check the web form's rules pass too ([`Rule::check`]),
/// against the channels of the project's organization.
async fn checked(state: &AppState, organization_id: i64, rule: Rule) -> Result<Rule, ApiError> {
    let channels: Vec<ChannelId> = state
        .store
        .alert_channels(organization_id)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    rule.check(&channels).map_err(|r| bad(r.field, &r.message))?;
    Ok(rule)
}

fn parse_rule_body(body: &[u8]) -> Result<RuleBody, ApiError> {
    let value = body_json(body)?;
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("invalid rule: {e}")))
}

async fn project_rule(state: &AppState, project: &Project, raw: &str) -> Result<Rule, ApiError> {
    let rule = state.store.alert_rule(RuleId(parse_id(raw)?)).await?;
    if rule.project_id != project.id {
        return Err(ApiError::NotFound);
    }
    Ok(rule)
}

pub async fn rules(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let rules = state.store.alert_rules(project.id).await?;
    Ok(Json(Value::Array(rules.iter().map(rule_json).collect())))
}

pub async fn rule_create(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    body: crate::http::Bytes,
) -> Result<Response, ApiError> {
    caller.require("project:write")?;
    let body = parse_rule_body(&body)?;
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    let rule = body.apply(Rule::unsaved(project.id))?;
    let rule = checked(&state, org.id, rule).await?;
    let rule = state.store.create_alert_rule(rule).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))).into_response())
}

pub async fn rule_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, rule)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    Ok(Json(rule_json(&project_rule(&state, &project, &rule).await?)))
}

pub async fn rule_update(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, rule)): Path<(String, String, String)>,
    body: crate::http::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:write")?;
    let body = parse_rule_body(&body)?;
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    let rule = body.apply(project_rule(&state, &project, &rule).await?)?;
    let rule = checked(&state, org.id, rule).await?;
    let rule = state.store.update_alert_rule(rule).await.map_err(store_error)?;
    Ok(Json(rule_json(&rule)))
}

pub async fn rule_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, rule)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    caller.require("project:write")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let rule = project_rule(&state, &project, &rule).await?;
    state.store.delete_alert_rule(rule.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sends a test notification through each of the rule's channels.
pub async fn rule_test(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, rule)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:write")?;
    let (_, project) = resolve_project(&state, &caller, &org, &project).await?;
    let rule = project_rule(&state, &project, &rule).await?;
    let mut results = Vec::new();
    for id in &rule.channels {
        let channel = state.store.alert_channel(*id).await?;
        results.push(test_channel(&state, &channel, rule.id, Some(&project)).await.to_json());
    }
    Ok(Json(json!({"rule": rule.id.0.to_string(), "results": results})))
}

// ---------------------------------------------------------------- delivery history

fn delivery_json(d: &crate::store::Delivery) -> Value {
    let attempts: Vec<Value> = d
        .attempts
        .iter()
        .map(|a| {
            json!({"number": a.number, "at": iso(a.at_ms.saturating_mul(1000)),
                   "durationMs": a.duration_ms, "status": a.outcome})
        })
        .collect();
    let mut out = Map::new();
    out.insert("id".into(), json!(d.id.as_str()));
    out.insert("channel".into(), json!(d.channel_id.0.to_string()));
    out.insert("projectId".into(), json!(d.project_id.map(|p| p.to_string())));
    out.insert("state".into(), json!(d.state));
    out.insert("outcome".into(), json!(d.outcome));
    out.insert(
        "issues".into(),
        json!(d.issue_ids.iter().map(i64::to_string).collect::<Vec<_>>()),
    );
    out.insert("dateCreated".into(), json!(iso(d.created_at_ms.saturating_mul(1000))));
    out.insert(
        "nextAttempt".into(),
        match d.state.as_str() {
            "pending" => json!(iso(d.next_attempt_at_ms.saturating_mul(1000))),
            _ => Value::Null,
        },
    );
    out.insert("attempts".into(), Value::Array(attempts));
    Value::Object(out)
}

#[derive(Deserialize)]
pub struct DeliveryQuery {
    limit: Option<String>,
}

fn delivery_limit(q: &DeliveryQuery) -> Result<usize, ApiError> {
    match &q.limit {
        None => Ok(100),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_DELIVERIES).contains(&n) => Ok(n),
            _ => Err(bad("limit", &format!("must be 1 to {MAX_DELIVERIES}"))),
        },
    }
}

pub async fn org_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let limit = delivery_limit(&q)?;
    let org = resolve_org(&state, &caller, &org).await?;
    if caller.is_project_bound() {
        // A token bound to projects sees those projects' deliveries only.
        return Err(ApiError::Forbidden);
    }
    let list = state
        .store
        .deliveries(DeliveryFilter {
            organization_id: org.id,
            project_id: None,
            limit,
        })
        .await?;
    Ok(Json(Value::Array(list.iter().map(delivery_json).collect())))
}

pub async fn project_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require("project:read")?;
    let limit = delivery_limit(&q)?;
    let (org, project) = resolve_project(&state, &caller, &org, &project).await?;
    let list = state
        .store
        .deliveries(DeliveryFilter {
            organization_id: org.id,
            project_id: Some(project.id),
            limit,
        })
        .await?;
    Ok(Json(Value::Array(list.iter().map(delivery_json).collect())))
}
