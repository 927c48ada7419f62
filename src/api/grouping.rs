//! Grouping you can inspect and correct: why an event landed in its issue
//! (`…/events/{id}/grouping-info/`, Sentry's variant map plus Errata's frame-by-frame
//! explanation) and unmerge by hash (`PUT /issues/{id}/hashes/?id=…`).

use crate::http::Json;
use crate::http::StatusCode;
use crate::http::{IntoResponse, Response};
use crate::http::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::IssuePath;
use super::auth::Caller;
use super::events::find_project_event;
use super::issues::resolve_issue;
use crate::errors::ApiError;
use crate::ingest::process::tag_pairs;
use crate::state::AppState;
use crate::store::{StoreError, StoredEvent};

type Params = Vec<(String, String)>;

/// Sentry's description of a variant, from the strategy that produced it.
fn description(name: &str, strategy: &str, hybrid: bool) -> String {
    let base = match (name, strategy) {
        ("custom", _) => return "custom fingerprint".into(),
        ("fallback", _) => "fallback (nothing else contributed)".to_owned(),
        (_, "message") => "message".to_owned(),
        ("app", "exception") => "in-app exception stack-trace".to_owned(),
        ("app", "threads") => "in-app thread stack-trace".to_owned(),
        ("app", _) => "in-app stack-trace".to_owned(),
        (_, "exception") => "exception stack-trace".to_owned(),
        (_, "threads") => "thread stack-trace".to_owned(),
        (_, _) => "stack-trace".to_owned(),
    };
    if hybrid {
        format!("{base} and custom fingerprint")
    } else {
        base
    }
}

/// The grouping-info response: one entry per variant, keyed by its name.
///
/// `explain` is the grouping explanation, recomputed from the stored event with the
/// project's current rules (as Sentry does); a variant whose hash is not among the
/// hashes stored at ingestion (the rules changed since) says so in `hashMismatch`.
/// `owners` maps each hash to the issue it belongs to now (after merges and unmerges).
pub fn grouping_info(data: &Value, explain: &Value, owners: &Map<String, Value>) -> Value {
    let stored: Vec<&str> = data
        .get("hashes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let config = data
        .get("grouping_config")
        .or_else(|| explain.get("config"))
        .and_then(Value::as_str)
        .unwrap_or(crate::event::group::GROUPING_CONFIG);
    let strategy = explain.get("strategy").and_then(Value::as_str).unwrap_or("");
    let hybrid = explain.pointer("/fingerprint/kind").and_then(Value::as_str) == Some("hybrid");
    let primary = data.pointer("/hashes/0").and_then(Value::as_str);
    // What every variant shares: the strategy, the fingerprint, the frames and the rules.
    let mut explanation = match explain {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    explanation.remove("variants");
    explanation.remove("config");
    let explanation = Value::Object(explanation);

    let mut out = Map::new();
    let variants = explain
        .get("variants")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for variant in variants {
        let Some(name) = variant.get("name").and_then(Value::as_str) else {
            continue;
        };
        let contributes = variant.get("contributes").and_then(Value::as_bool).unwrap_or(false);
        let hash = variant.get("hash").and_then(Value::as_str).filter(|_| contributes);
        let hint = variant.get("hint").cloned().unwrap_or(Value::Null);
        let tokens = variant.get("tokens").cloned().unwrap_or_else(|| json!([]));
        out.insert(
            name.to_owned(),
            json!({
                "key": name,
                "type": if name == "custom" { "custom_fingerprint" } else { "component" },
                "description": description(name, strategy, hybrid),
                "hash": hash,
                "hashMismatch": hash.is_some_and(|h| !stored.contains(&h)),
                "contributes": contributes,
                "hint": hint,
                "config": {"id": config},
                "component": {
                    "id": name,
                    "name": Value::Null,
                    "contributes": contributes,
                    "hint": hint,
                    "values": tokens,
                },
                "isPrimary": hash.is_some() && hash == primary,
                "issueId": hash.and_then(|h| owners.get(h)).cloned().unwrap_or(Value::Null),
                "explanation": explanation,
            }),
        );
    }
    Value::Object(out)
}

/// `GET /api/0/projects/{org}/{project}/events/{event_id}/grouping-info/`
pub async fn event_grouping_info(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, project, event)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let event = find_project_event(&state, &caller, &org, &project, &event).await?;
    Ok(Json(explained(&state, &event).await?))
}

/// A stored event's grouping explanation as the API serves it: each variant, with the
/// issue that owns its hash (the pages show the same).
pub async fn explained(state: &AppState, event: &StoredEvent) -> Result<Value, StoreError> {
    let hashes: Vec<String> = event
        .data
        .get("hashes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect();
    let owners: Map<String, Value> = state
        .store
        .hash_owners(event.project_id, hashes)
        .await?
        .into_iter()
        .map(|(hash, issue)| (hash, Value::String(issue.to_string())))
        .collect();
    // Events stored before the explanation was recomputed on read still carry their own.
    let explain = match event.data.get("grouping_explain") {
        Some(explain) => explain.clone(),
        None => {
            let context = state.cache.project(&state.store, event.project_id).await?;
            crate::event::group::group(&(&event.data).into(), &context.rules)
                .explain
                .into()
        }
    };
    Ok(grouping_info(&event.data, &explain, &owners))
}

async fn unmerge_response(
    state: &AppState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let (issue, _) = resolve_issue(state, caller, org, id).await?;
    let hashes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "id")
        .flat_map(|(_, v)| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if hashes.is_empty() {
        return Err(ApiError::BadRequest(
            "Name the hashes to unmerge with ?id=<hash>.".into(),
        ));
    }
    if hashes.len() > 100 {
        return Err(ApiError::BadRequest(
            "At most 100 hashes can be unmerged at once.".into(),
        ));
    }
    let issue_id = issue.id;
    let owned: Vec<String> = state
        .store
        .issue_hashes(issue_id)
        .await?
        .into_iter()
        .map(|h| h.hash)
        .collect();
    if let Some(foreign) = hashes.iter().find(|h| !owned.contains(h)) {
        return Err(ApiError::BadRequest(format!(
            "The hash {foreign} does not belong to this issue."
        )));
    }
    if owned.iter().all(|h| hashes.contains(h)) {
        return Err(ApiError::BadRequest(
            "An issue keeps at least one of its hashes; leave one out.".into(),
        ));
    }
    let unmerged = state.store.unmerge(issue_id, hashes.clone(), tag_pairs).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": issue_id.to_string(),
            "newIssueId": unmerged.new_issue_id.to_string(),
            "hashes": hashes,
            "eventsMoved": unmerged.events,
        })),
    )
        .into_response())
}

/// `PUT /api/0/issues/{id}/hashes/?id=<hash>`: Sentry's unmerge.
pub async fn unmerge(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:write")?;
    unmerge_response(&state, &caller, path.org(), &path.id, &params).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::group::{GroupingRules, group};

    #[test]
    fn grouping_info_lists_each_variant_with_frames_and_owner() {
        let event = json!({"platform": "python", "exception": {"values": [{
        "type": "OperationalError", "value": "boom",
        "stacktrace": {"frames": [
            {"function": "handle", "module": "app.orders", "lineno": 20, "in_app": true},
            {"function": "execute", "module": "psycopg2.cursor", "lineno": 90, "in_app": false}
        ]}}]}});
        let grouping = group(&(&event).into(), &GroupingRules::default());
        let data = json!({"hashes": grouping.hashes, "grouping_config": "v1"});
        let mut owners = Map::new();
        owners.insert(grouping.hashes[0].clone(), json!("7"));
        let explain = serde_json::Value::from(grouping.explain.clone());
        let info = grouping_info(&data, &explain, &owners);
        let app = &info["app"];
        assert_eq!(app["hash"], json!(grouping.hashes[0]));
        assert_eq!(app["description"], "in-app exception stack-trace");
        assert_eq!(app["isPrimary"], true);
        assert_eq!(app["issueId"], "7");
        assert_eq!(info["system"]["hash"], json!(grouping.hashes[1]));
        assert_eq!(info["system"]["isPrimary"], false);
        let frames = app["explanation"].to_string();
        assert!(
            frames.contains("psycopg2.cursor") || frames.contains("execute"),
            "{frames}"
        );
        assert!(frames.contains("not in-app"), "{frames}");
        assert_eq!(app["hashMismatch"], false);

        // Rules changed since ingestion: the recomputed hash is not the stored one.
        let stale = json!({"hashes": ["0123456789abcdef0123456789abcdef"], "grouping_config": "v1"});
        let info = grouping_info(&stale, &explain, &owners);
        assert_eq!(info["app"]["hashMismatch"], true);
        assert_eq!(info["app"]["isPrimary"], false);
    }
}
