//! A person's own settings: their password, and their personal API tokens (scopes no wider
//! than their role; a new token is shown once, only its hash is kept).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::default_org;
use super::csrf::Form;
use super::layout::{Chrome, Section, render, render_status, see_other};
use super::password::{self, Password};
use super::session::{Viewer, session_hash};
use super::{Choice, WebError, when};
use crate::http::{State, StatusCode};
use crate::state::AppState;

/// Longest token name kept.
const MAX_TOKEN_NAME: usize = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/account/", web::get().to(show))
        .route("/settings/account/", web::post().to(change_password))
        .route("/settings/account/api/auth-tokens/", web::get().to(tokens))
        .route("/settings/account/api/auth-tokens/", web::post().to(create_token))
        .route(
            "/settings/account/api/auth-tokens/{id}/revoke/",
            web::post().to(revoke_token),
        );
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
}

async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<HttpResponse, WebError> {
    let chrome = Chrome::new(&viewer, default_org(&state).await?, Section::Account);
    Ok(render(&AccountPage {
        chrome,
        notice: None,
        error: None,
    }))
}

#[derive(Deserialize)]
struct PasswordChange {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    Form(change): Form<PasswordChange>,
) -> Result<HttpResponse, WebError> {
    let chrome = Chrome::new(&viewer, default_org(&state).await?, Section::Account);
    let refuse = |chrome: Chrome, message: String| {
        render_status(
            StatusCode::BAD_REQUEST,
            &AccountPage {
                chrome,
                notice: None,
                error: Some(message),
            },
        )
    };
    let stored = state.store.password_hash(viewer.user_id).await?;
    if !password::verify(&change.current, Some(stored)).await {
        return Ok(refuse(chrome, "The current password is wrong.".into()));
    }
    if change.new != change.confirm {
        return Ok(refuse(chrome, "The new passwords differ.".into()));
    }
    let new = match Password::parse(&change.new) {
        Ok(p) => p,
        Err(e) => return Ok(refuse(chrome, e.to_string())),
    };
    let hash = password::hash(&new).await.map_err(|_| WebError::Internal)?;
    // Every other session of the person ends; this one stays.
    let keep = session_hash(&req);
    state.store.set_password(viewer.user_id, &hash, keep.as_deref()).await?;
    Ok(render(&AccountPage {
        chrome,
        notice: Some("Password changed. Your other sessions were signed out.".into()),
        error: None,
    }))
}

struct TokenRow {
    id: i64,
    name: String,
    scopes: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    levels: Vec<Choice>,
    created: Option<String>,
    error: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    viewer: &Viewer,
    created: Option<String>,
    error: Option<String>,
) -> Result<TokensPage, WebError> {
    let tokens = state
        .store
        .user_tokens(viewer.user_id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            scopes: t.scopes.join(" "),
            created: when(t.date_created),
            last_used: t.last_used.map(when).unwrap_or_else(|| "never".into()),
        })
        .collect();
    let levels = viewer
        .role
        .token_levels()
        .iter()
        .map(|&l| Choice::new(l, l == "read"))
        .collect();
    Ok(TokensPage {
        chrome: Chrome::new(viewer, default_org(state).await?, Section::Account),
        tokens,
        levels,
        created,
        error,
    })
}

async fn tokens(State(state): State<AppState>, viewer: Viewer) -> Result<HttpResponse, WebError> {
    Ok(render(&tokens_page(&state, &viewer, None, None).await?))
}

#[derive(Deserialize)]
struct NewTokenFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

async fn create_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(fields): Form<NewTokenFields>,
) -> Result<HttpResponse, WebError> {
    let name = fields.name.trim();
    if !viewer.role.token_levels().contains(&fields.scope.as_str()) {
        return Err(WebError::Forbidden);
    }
    if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME {
        let page = tokens_page(
            &state,
            &viewer,
            None,
            Some(format!("A token needs a name of 1 to {MAX_TOKEN_NAME} characters.")),
        )
        .await?;
        return Ok(render_status(StatusCode::BAD_REQUEST, &page));
    }
    let token = state
        .store
        .create_user_token(viewer.user_id, name, &[fields.scope.as_str()])
        .await?;
    Ok(render(&tokens_page(&state, &viewer, Some(token), None).await?))
}

#[derive(Deserialize)]
struct NoFields {}

async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    id: web::Path<i64>,
    _form: Form<NoFields>,
) -> Result<HttpResponse, WebError> {
    state.store.revoke_user_token(viewer.user_id, *id).await?;
    Ok(see_other("/settings/account/api/auth-tokens/"))
}
