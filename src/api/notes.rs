//! Issue notes and activity: `GET/POST …/issues/{id}/notes/`, `PUT/DELETE …/notes/{note}/`
//! and `GET …/issues/{id}/activities/`, answered as Sentry's activity objects
//! (`{"id","type","data","dateCreated","user"}`). A note's text goes through the project's
//! free-text scrubbing rules before it is stored, as user reports do.

use serde_json::{Value, json};

use super::IssuePath;
use super::auth::Caller;
use super::issues::resolve_issue;
use super::serialize::iso;
use crate::errors::ApiError;
use crate::http::{Bytes, IntoResponse, Json, Response, State, StatusCode};
use crate::state::AppState;
use crate::store::activity::MAX_ACTIVITY;
use crate::store::{Activity, Issue, NewActivity, now_us};

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;

fn text_error(message: &str) -> ApiError {
    ApiError::Validation {
        field: "text".into(),
        message: message.into(),
    }
}

/// The text of a note body `{"text": "…"}`: present, not blank, at most [`MAX_NOTE_CHARS`].
pub fn parse_note(body: &[u8]) -> Result<String, ApiError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let text = match body.get("text") {
        Some(Value::String(text)) => text,
        Some(Value::Null) | None => return Err(text_error("This field is required.")),
        Some(_) => return Err(text_error("Not a valid string.")),
    };
    if text.trim().is_empty() {
        return Err(text_error("This field may not be blank."));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(text_error(&format!(
            "Ensure this field has no more than {MAX_NOTE_CHARS} characters."
        )));
    }
    Ok(text.clone())
}

/// A note id from the path; anything else is no such note.
fn note_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| ApiError::NotFound)
}

/// One activity as Sentry serializes it.
pub fn activity_json(a: &Activity) -> Value {
    json!({
        "id": a.id.to_string(),
        "type": a.kind,
        "data": a.data,
        "dateCreated": iso(a.date_created),
        "user": a.actor.clone().unwrap_or(Value::Null),
        "sentry_app": null,
    })
}

/// An issue's activity for its detail: stored rows newest first, then the issue's creation
/// (Sentry's `first_seen` entry).
pub async fn issue_activity_values(state: &AppState, issue: &Issue) -> Result<Vec<Value>, ApiError> {
    let rows = state.store.issue_activity(issue.id, false, MAX_ACTIVITY).await?;
    let mut out: Vec<Value> = rows.iter().map(activity_json).collect();
    out.push(json!({
        "id": format!("first-seen-{}", issue.id),
        "type": "first_seen",
        "data": {},
        "dateCreated": iso(issue.first_seen),
        "user": null,
        "sentry_app": null,
    }));
    Ok(out)
}

/// The user a note is written by: the token's user; organization tokens act for no user.
fn actor(caller: &Caller) -> Option<Value> {
    (!caller.is_org_token()).then(|| super::organizations::user_json(&caller.token))
}

/// The text scrubbed with the issue's project's free-text rules.
async fn scrubbed(state: &AppState, issue: &Issue, text: String) -> Result<String, ApiError> {
    let project = state.cache.project(&state.store, issue.project_id).await?;
    Ok(match crate::event::scrub::scrub_free_text(&project.scrubber, &text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clean) => clean,
    })
}

pub async fn list(State(state): State<AppState>, caller: Caller, path: IssuePath) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let (issue, _) = resolve_issue(&state, &caller, path.org(), &path.id).await?;
    let notes = state.store.issue_activity(issue.id, true, MAX_ACTIVITY).await?;
    Ok(Json(Value::Array(notes.iter().map(activity_json).collect())))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("event:write")?;
    let text = parse_note(&body)?;
    let (issue, _) = resolve_issue(&state, &caller, path.org(), &path.id).await?;
    let text = scrubbed(&state, &issue, text).await?;
    let note = state
        .store
        .add_activity(
            issue.id,
            NewActivity {
                kind: "note".into(),
                data: json!({"text": text}),
                actor: actor(&caller),
                date_created: now_us(),
            },
        )
        .await?;
    let mut response = Json(activity_json(&note)).into_response();
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:write")?;
    let id = note_id(path.param("note")?)?;
    let text = parse_note(&body)?;
    let (issue, _) = resolve_issue(&state, &caller, path.org(), &path.id).await?;
    let text = scrubbed(&state, &issue, text).await?;
    let note = state.store.update_note(issue.id, id, json!({"text": text})).await?;
    Ok(Json(activity_json(&note)))
}

pub async fn delete(State(state): State<AppState>, caller: Caller, path: IssuePath) -> Result<Response, ApiError> {
    caller.require("event:write")?;
    let id = note_id(path.param("note")?)?;
    let (issue, _) = resolve_issue(&state, &caller, path.org(), &path.id).await?;
    state.store.delete_note(issue.id, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET …/issues/{id}/activities/`: `{"activity": [...]}`, newest first.
pub async fn activities(
    State(state): State<AppState>,
    caller: Caller,
    path: IssuePath,
) -> Result<Json<Value>, ApiError> {
    caller.require("event:read")?;
    let (issue, _) = resolve_issue(&state, &caller, path.org(), &path.id).await?;
    Ok(Json(json!({"activity": issue_activity_values(&state, &issue).await?})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_note_needs_non_blank_bounded_text() {
        assert_eq!(
            parse_note(br#"{"text": "looking into it"}"#).unwrap(),
            "looking into it"
        );
        assert!(parse_note(br#"{"text": "   "}"#).is_err());
        assert!(parse_note(br#"{"text": 5}"#).is_err());
        assert!(parse_note(br#"{}"#).is_err());
        assert!(parse_note(b"[1]").is_err());
        assert!(parse_note(b"not json").is_err());
        let long = json!({"text": "x".repeat(MAX_NOTE_CHARS + 1)}).to_string();
        assert!(parse_note(long.as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn any_body_parses_or_is_refused_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_note(&body);
        }

        #[test]
        fn any_reasonable_text_round_trips(text in "[a-zA-Z0-9 .,!?]{1,200}") {
            prop_assume!(!text.trim().is_empty());
            let body = json!({"text": text}).to_string();
            prop_assert_eq!(parse_note(body.as_bytes()).unwrap(), text);
        }
    }
}
