//! The people of an organization: everyone sees who is there; admins invite (a password they
//! set, or a one-time one shown once), change roles and remove people.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::Form;
use super::layout::{Chrome, Section, render, see_other};
use super::password::{self, Password};
use super::session::{Role, Viewer};
use super::{Choice, WebError, when};
use crate::http::State;
use crate::state::AppState;
use crate::store::users::Email;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations/{org}/settings/members/", web::get().to(list))
        .route("/organizations/{org}/settings/members/", web::post().to(invite))
        .route(
            "/organizations/{org}/settings/members/{id}/role/",
            web::post().to(change_role),
        )
        .route(
            "/organizations/{org}/settings/members/{id}/remove/",
            web::post().to(remove),
        );
}

struct MemberRow {
    id: i64,
    email: String,
    role: &'static str,
    joined: String,
    is_self: bool,
    roles: Vec<Choice>,
}

/// A person just added, with the password to hand them (shown once).
struct Invited {
    email: String,
    password: Option<String>,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    chrome: Chrome,
    members: Vec<MemberRow>,
    roles: Vec<Choice>,
    invited: Option<Invited>,
}

fn role_choices(current: Role) -> Vec<Choice> {
    Role::ALL
        .iter()
        .map(|r| Choice::new(r.as_str(), *r == current))
        .collect()
}

/// The organization in the path, which must exist.
async fn org_slug(state: &AppState, org: &str) -> Result<String, WebError> {
    Ok(state.store.organization(org).await?.slug)
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    org: String,
    invited: Option<Invited>,
) -> Result<MembersPage, WebError> {
    let members = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| MemberRow {
            is_self: u.id == viewer.user_id,
            roles: role_choices(u.role),
            id: u.id,
            email: u.email,
            role: u.role.as_str(),
            joined: when(u.date_created),
        })
        .collect();
    Ok(MembersPage {
        chrome: Chrome::new(viewer, org, Section::Settings),
        members,
        roles: role_choices(Role::Member),
        invited,
    })
}

async fn list(State(state): State<AppState>, viewer: Viewer, org: web::Path<String>) -> Result<HttpResponse, WebError> {
    let org = org_slug(&state, &org).await?;
    Ok(render(&page(&state, &viewer, org, None).await?))
}

#[derive(Deserialize)]
struct InviteFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn invite(
    State(state): State<AppState>,
    viewer: Viewer,
    org: web::Path<String>,
    Form(fields): Form<InviteFields>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.is_admin() {
        return Err(WebError::Forbidden);
    }
    let org = org_slug(&state, &org).await?;
    let email = Email::parse(&fields.email)?;
    let role = Role::parse(&fields.role).ok_or_else(|| WebError::BadRequest("unknown role".into()))?;
    let (password, shown) = if fields.password.is_empty() {
        let made_up = password::generate();
        (Password::parse(&made_up)?, Some(made_up))
    } else {
        (Password::parse(&fields.password)?, None)
    };
    let hash = password::hash(&password).await?;
    let user = state.store.create_user(&email, role, &hash).await?;
    tracing::info!(by = viewer.user_id, user_id = user.id, "added a person");
    let invited = Invited {
        email: user.email,
        password: shown,
    };
    Ok(render(&page(&state, &viewer, org, Some(invited)).await?))
}

#[derive(Deserialize)]
struct RoleField {
    #[serde(default)]
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    viewer: Viewer,
    path: web::Path<(String, i64)>,
    Form(fields): Form<RoleField>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.is_admin() {
        return Err(WebError::Forbidden);
    }
    let (org, id) = path.into_inner();
    let org = org_slug(&state, &org).await?;
    let role = Role::parse(&fields.role).ok_or_else(|| WebError::BadRequest("unknown role".into()))?;
    state.store.set_user_role(id, role).await?;
    Ok(see_other(&format!("/organizations/{org}/settings/members/")))
}

#[derive(Deserialize)]
struct NoFields {}

async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    path: web::Path<(String, i64)>,
    _form: Form<NoFields>,
) -> Result<HttpResponse, WebError> {
    if !viewer.role.is_admin() {
        return Err(WebError::Forbidden);
    }
    let (org, id) = path.into_inner();
    let org = org_slug(&state, &org).await?;
    state.store.delete_user(id).await?;
    Ok(see_other(&format!("/organizations/{org}/settings/members/")))
}
