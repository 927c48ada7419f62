//! Signing in and out, and the start page. Sign-in has no session yet, so its form carries
//! its own CSRF token (a cookie and the same value in the form); failures are throttled per
//! e-mail and per client address, and an unknown address is answered exactly like a wrong
//! password.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::csrf::{Form, MAX_FORM_BYTES, is_urlencoded, read_bounded};
use super::layout::{Chrome, render, render_status, see_other};
use super::session::{CookiePolicy, LOGIN_CSRF_COOKIE, Viewer, cookie, new_secret, session_hash, viewer_of};
use super::{LocalPath, WebError, password};
use crate::http::{State, StatusCode, client_ip};
use crate::state::AppState;
use crate::store::{now_us, token_hash};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(start))
        .route("/auth/login/", web::get().to(login_form))
        .route("/auth/login/", web::post().to(login))
        .route("/auth/logout/", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

/// The organization the navigation points into: the first one.
pub async fn default_org(state: &AppState) -> Result<String, WebError> {
    let orgs = state.store.organizations().await?;
    orgs.into_iter().next().map(|o| o.slug).ok_or(WebError::NotFound)
}

/// `/`: the default organization's issue stream, or the sign-in page.
async fn start(State(state): State<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    if viewer_of(&req).await?.is_none() {
        return Ok(see_other("/auth/login/"));
    }
    let org = default_org(&state).await?;
    Ok(see_other(&format!("/organizations/{org}/issues/")))
}

async fn login_form(State(state): State<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let query = serde_urlencoded::from_str::<NextQuery>(req.query_string()).unwrap_or(NextQuery { next: None });
    let next = query.next.as_deref().and_then(LocalPath::parse);
    if viewer_of(&req).await?.is_some() {
        return Ok(see_other(next.as_ref().map_or("/", |n| n.as_str())));
    }
    let page = LoginPage {
        chrome: Chrome::anonymous(),
        csrf: new_secret(),
        next: next.map(|n| n.as_str().to_string()).unwrap_or_default(),
        email: String::new(),
        error: None,
    };
    let mut response = render(&page);
    set_cookie(&mut response, &CookiePolicy::of(&state.config).login_csrf(&page.csrf));
    Ok(response)
}

async fn login(State(state): State<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, WebError> {
    if !is_urlencoded(&req) {
        return Err(WebError::BadRequest(
            "expected a form (application/x-www-form-urlencoded)".into(),
        ));
    }
    let body = read_bounded(body.into_inner(), MAX_FORM_BYTES).await?;
    let fields: LoginFields =
        serde_urlencoded::from_bytes(&body).map_err(|e| WebError::BadRequest(format!("invalid form: {e}")))?;
    let expected = cookie(&req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(fields.csrf.as_bytes())) {
        return Err(WebError::BadCsrf);
    }
    let email_key = format!("email:{}", fields.email.trim().to_lowercase());
    let peer_key = format!("peer:{}", client_ip(&req, &state.trusted_proxies));
    let keys = [email_key.as_str(), peer_key.as_str()];
    let throttle = &state.sign_in_throttle;
    if !throttle.allows(&keys, Instant::now()) {
        return Err(WebError::TooManyAttempts);
    }
    let found = state.store.user_by_email(&fields.email).await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = password::verify(&fields.password, stored).await;
    let policy = CookiePolicy::of(&state.config);
    let Some(user) = user.filter(|_| matches) else {
        throttle.failed(&keys, Instant::now());
        let page = LoginPage {
            chrome: Chrome::anonymous(),
            csrf: expected,
            next: LocalPath::parse(&fields.next)
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            email: fields.email.chars().take(crate::store::users::MAX_EMAIL_LEN).collect(),
            error: Some("Wrong e-mail address or password.".into()),
        };
        return Ok(render_status(StatusCode::UNAUTHORIZED, &page));
    };
    throttle.succeeded(&email_key);
    let id = new_secret();
    state
        .store
        .create_session(&token_hash(&id), user.id, &new_secret(), now_us())
        .await?;
    tracing::info!(user_id = user.id, "signed in");
    let target = LocalPath::parse(&fields.next).map_or_else(|| "/".to_string(), |n| n.as_str().to_string());
    let mut response = see_other(&target);
    set_cookie(&mut response, &policy.session(&id));
    set_cookie(&mut response, &policy.clear_login_csrf());
    Ok(response)
}

#[derive(Deserialize)]
struct NoFields {}

async fn logout(
    State(state): State<AppState>,
    req: HttpRequest,
    _viewer: Viewer,
    _form: Form<NoFields>,
) -> Result<HttpResponse, WebError> {
    if let Some(hash) = session_hash(&req) {
        state.store.delete_session(&hash).await?;
    }
    let mut response = see_other("/auth/login/");
    set_cookie(&mut response, &CookiePolicy::of(&state.config).clear_session());
    Ok(response)
}

pub fn set_cookie(response: &mut HttpResponse, value: &str) {
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(value) {
        response
            .headers_mut()
            .append(actix_web::http::header::SET_COOKIE, value);
    }
}
