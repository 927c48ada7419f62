//! The projects pages: the organization's projects (`/organizations/{org}/projects/`) and
//! a project's settings at Sentry's address (`/settings/{org}/projects/{slug}/`, also
//! `…/keys/`): DSN keys with SDK snippets, scrubbing, grouping rules, key rate limits and
//! alert rules. Changes are admin-only forms that go through the same validation
//! (`settings.rs`) and Store calls as the API.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::api::serialize::dsn;
use crate::event::scrub::CustomRule;
use crate::http::{Path, State};
use crate::settings::{self, EffectiveSettings, SettingsChange, SettingsError};
use crate::state::AppState;
use crate::store::{KeyChange, Organization, Project};
use crate::web::WebError;
use crate::web::alerts::forms::RuleForm;
use crate::web::alerts::{ChannelRow, RuleRow};
use crate::web::csrf::Form;
use crate::web::layout::{Chrome, Section, render, see_other};
use crate::web::session::Viewer;
use crate::web::view::snippets::{Snippet, snippets};

/// Longest list of field names accepted from a textarea.
const MAX_FIELDS: usize = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations/{org}/projects/", web::get().to(list))
        .route("/settings/{org}/projects/{project}/", web::get().to(settings_page))
        .route("/settings/{org}/projects/{project}/keys/", web::get().to(settings_page))
        .route(
            "/settings/{org}/projects/{project}/scrubbing/",
            web::post().to(save_scrubbing),
        )
        .route(
            "/settings/{org}/projects/{project}/grouping/",
            web::post().to(save_grouping),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/rate-limit/",
            web::post().to(save_rate_limit),
        );
}

pub struct ProjectRow {
    pub slug: String,
    pub name: String,
    pub platform: String,
    pub settings_href: String,
    pub issues_href: String,
    pub dsn: String,
}

#[derive(Template)]
#[template(path = "projects/list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub projects: Vec<ProjectRow>,
}

/// `GET /organizations/{org}/projects/`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
) -> Result<HttpResponse, WebError> {
    let org = state.store.organization(&org).await?;
    let base = state.base_url();
    let mut projects = Vec::new();
    for p in state.store.projects(Some(org.id)).await? {
        let keys = state.store.keys(p.id).await?;
        let first = keys.iter().find(|k| k.is_active).or(keys.first());
        projects.push(ProjectRow {
            settings_href: format!("/settings/{}/projects/{}/", org.slug, p.slug),
            issues_href: format!("/organizations/{}/issues/?project={}", org.slug, p.id),
            dsn: first.map(|k| dsn(&base, &k.public_key, None, p.id)).unwrap_or_default(),
            slug: p.slug,
            name: p.name,
            platform: p.platform.unwrap_or_default(),
        });
    }
    let page = ListPage {
        chrome: Chrome::new(&viewer, &org.slug, Section::Projects),
        projects,
    };
    Ok(render(&page))
}

pub struct KeyRow {
    pub label: String,
    pub public_key: String,
    pub active: bool,
    pub dsn: String,
    pub rate_count: String,
    pub rate_window: String,
    pub action: String,
}

#[derive(Template)]
#[template(path = "projects/settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub base: String,
    pub slug: String,
    pub name: String,
    pub keys: Vec<KeyRow>,
    pub snippets: Vec<Snippet>,
    pub scrubbing: EffectiveSettings,
    pub sensitive_fields: String,
    pub safe_fields: String,
    /// `name = pattern` (or just `pattern`), one per line.
    pub custom_rules: String,
    pub rules: Vec<RuleRow>,
    /// The organization's channels, offered to the new rule form.
    pub channels: Vec<ChannelRow>,
    /// The new rule form: blank, or what a refused one held.
    pub rule_form: RuleForm,
    pub alerts_href: String,
    pub is_admin: bool,
    pub error: Option<String>,
}

pub(crate) async fn project_of(
    state: &AppState,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), WebError> {
    let org = state.store.organization(org).await?;
    let project = state.store.project(org.id, project).await?;
    Ok((org, project))
}

/// `GET /settings/{org}/projects/{project}/`
async fn settings_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project)): Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (org, project) = project_of(&state, &org, &project).await?;
    let page = build_settings(&state, &viewer, &org, &project, None).await?;
    Ok(render(&page))
}

pub(crate) async fn build_settings(
    state: &AppState,
    viewer: &Viewer,
    org: &Organization,
    project: &Project,
    error: Option<String>,
) -> Result<SettingsPage, WebError> {
    let base_url = state.base_url();
    let base = format!("/settings/{}/projects/{}/", org.slug, project.slug);
    let keys: Vec<KeyRow> = state
        .store
        .keys(project.id)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            dsn: dsn(&base_url, &k.public_key, None, project.id),
            action: format!("{base}keys/{}/rate-limit/", k.public_key),
            rate_count: k.rate_limit_count.map(|c| c.to_string()).unwrap_or_default(),
            rate_window: k.rate_limit_window.map(|w| w.to_string()).unwrap_or_default(),
            label: k.label,
            public_key: k.public_key,
            active: k.is_active,
        })
        .collect();
    let first_dsn = keys
        .iter()
        .find(|k| k.active)
        .map(|k| k.dsn.clone())
        .unwrap_or_else(|| "<DSN>".into());
    let effective = EffectiveSettings::of(&project.settings);
    let channels = state.store.alert_channels(org.id).await?;
    let rules = state
        .store
        .alert_rules(project.id)
        .await?
        .iter()
        .map(|r| RuleRow::of(&base, r, &channels))
        .collect();
    Ok(SettingsPage {
        chrome: Chrome::new(viewer, &org.slug, Section::Projects),
        base,
        slug: project.slug.clone(),
        name: project.name.clone(),
        keys,
        snippets: snippets(&first_dsn),
        sensitive_fields: effective.scrubbing.sensitive_fields.join("\n"),
        safe_fields: effective.scrubbing.safe_fields.join("\n"),
        custom_rules: custom_rules_text(&effective.scrubbing.custom_rules),
        scrubbing: effective,
        rules,
        channels: channels.iter().map(|c| ChannelRow::of(&org.slug, c)).collect(),
        rule_form: RuleForm::blank(),
        alerts_href: format!("/settings/{}/alerts/", org.slug),
        is_admin: viewer.role.is_admin(),
        error,
    })
}

/// A settings change the validation refused: the page again, with the reason, as a 400.
async fn refused(
    state: &AppState,
    viewer: &Viewer,
    org: &Organization,
    project: &Project,
    message: String,
) -> Result<HttpResponse, WebError> {
    let page = build_settings(state, viewer, org, project, Some(message)).await?;
    Ok(crate::web::layout::render_status(
        actix_web::http::StatusCode::BAD_REQUEST,
        &page,
    ))
}

fn admin_only(viewer: &Viewer) -> Result<(), WebError> {
    if viewer.role.is_admin() {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// Custom scrubbing rules as the textarea shows them: `name = pattern`, or the pattern
/// alone for an unnamed rule.
fn custom_rules_text(rules: &[CustomRule]) -> String {
    rules
        .iter()
        .map(|r| match &r.name {
            Some(name) => format!("{name} = {}", r.pattern),
            None => r.pattern.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Custom rules from the textarea, one per line: `name = pattern` when the text before the
/// first ` = ` is a plain name (letters, digits, `_`, `-`, `.`), else the whole line is the
/// pattern, so a pattern holding `=` needs no escaping.
fn parse_custom_rules(text: &str) -> Vec<CustomRule> {
    lines(text)
        .into_iter()
        .map(|line| match line.split_once(" = ") {
            Some((name, pattern))
                if !name.trim().is_empty()
                    && name
                        .trim()
                        .chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
            {
                CustomRule {
                    name: Some(name.trim().to_owned()),
                    pattern: pattern.trim().to_owned(),
                }
            }
            _ => CustomRule {
                name: None,
                pattern: line,
            },
        })
        .collect()
}

/// Lines of a textarea, trimmed, without empty ones.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(MAX_FIELDS)
        .map(str::to_owned)
        .collect()
}

#[derive(Deserialize)]
pub struct ScrubbingForm {
    scrub_data: Option<String>,
    scrub_defaults: Option<String>,
    scrub_ip_addresses: Option<String>,
    store_binary_attachments: Option<String>,
    #[serde(default)]
    sensitive_fields: String,
    #[serde(default)]
    safe_fields: String,
    /// Absent (an older form) leaves the custom rules as they are.
    custom_rules: Option<String>,
}

/// `POST …/scrubbing/`: checkboxes (absent = off), field lists and custom rules, one per
/// line.
async fn save_scrubbing(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<ScrubbingForm>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project) = project_of(&state, &org, &project).await?;
    let mut patch = json!({
        "scrub_data": form.scrub_data.is_some(),
        "scrub_defaults": form.scrub_defaults.is_some(),
        "scrub_ip_addresses": form.scrub_ip_addresses.is_some(),
        "store_binary_attachments": form.store_binary_attachments.is_some(),
        "sensitive_fields": lines(&form.sensitive_fields),
        "safe_fields": lines(&form.safe_fields),
    });
    if let Some(text) = &form.custom_rules {
        // The regex check and the bound on their number are `settings::apply`'s.
        patch["custom_rules"] = json!(parse_custom_rules(text));
    }
    let change = SettingsChange {
        scrubbing: Some(patch),
        ..SettingsChange::default()
    };
    apply(&state, &viewer, &org, &project, change).await
}

#[derive(Deserialize)]
pub struct GroupingForm {
    #[serde(default)]
    fingerprint_rules: String,
    #[serde(default)]
    stacktrace_rules: String,
}

/// `POST …/grouping/`: both rule texts, whole, in Sentry's syntax.
async fn save_grouping(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<GroupingForm>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project) = project_of(&state, &org, &project).await?;
    let change = SettingsChange {
        scrubbing: None,
        fingerprint_rules: Some(form.fingerprint_rules.replace("\r\n", "\n")),
        stacktrace_rules: Some(form.stacktrace_rules.replace("\r\n", "\n")),
    };
    apply(&state, &viewer, &org, &project, change).await
}

async fn apply(
    state: &AppState,
    viewer: &Viewer,
    org: &Organization,
    project: &Project,
    change: SettingsChange,
) -> Result<HttpResponse, WebError> {
    match settings::apply(&state.store, project.id, &change).await {
        Ok(_) => Ok(see_other(&format!("/settings/{}/projects/{}/", org.slug, project.slug))),
        Err(SettingsError::Invalid { field, message }) => {
            refused(state, viewer, org, project, format!("{field}: {message}")).await
        }
        Err(SettingsError::Store(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RateLimitForm {
    #[serde(default)]
    count: String,
    #[serde(default)]
    window: String,
}

/// `POST …/keys/{key}/rate-limit/`: events per window (seconds); both empty removes the
/// key's own limit.
async fn save_rate_limit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project, key)): Path<(String, String, String)>,
    Form(form): Form<RateLimitForm>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project) = project_of(&state, &org, &project).await?;
    let limit = match parse_rate_limit(&form.count, &form.window) {
        Ok(limit) => limit,
        Err(message) => return refused(&state, &viewer, &org, &project, message).await,
    };
    let change = KeyChange {
        rate_limit: Some(limit),
        ..KeyChange::default()
    };
    state.store.update_key(project.id, &key, change).await?;
    Ok(see_other(&format!("/settings/{}/projects/{}/", org.slug, project.slug)))
}

/// A key's limit from the form: both empty is none; otherwise as the API takes it
/// (count ≥ 0, window > 0), bounded to a day.
pub fn parse_rate_limit(count: &str, window: &str) -> Result<Option<(i64, i64)>, String> {
    let (count, window) = (count.trim(), window.trim());
    if count.is_empty() && window.is_empty() {
        return Ok(None);
    }
    let count: i64 = count
        .parse()
        .ok()
        .filter(|c| (0..=1_000_000_000).contains(c))
        .ok_or("rateLimit: the count must be a whole number from 0 to 1000000000")?;
    let window: i64 = window
        .parse()
        .ok()
        .filter(|w| (1..=86_400).contains(w))
        .ok_or("rateLimit: the window must be from 1 to 86400 seconds")?;
    Ok(Some((count, window)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_bounded_and_both_empty_removes_them() {
        assert_eq!(parse_rate_limit("", ""), Ok(None));
        assert_eq!(parse_rate_limit("600", "60"), Ok(Some((600, 60))));
        assert!(parse_rate_limit("-1", "60").is_err());
        assert!(parse_rate_limit("10", "0").is_err());
        assert!(parse_rate_limit("10", "").is_err());
        assert!(parse_rate_limit("ten", "60").is_err());
    }

    #[test]
    fn custom_rules_read_as_name_equals_pattern_or_a_pattern_alone() {
        let rules = parse_custom_rules("order = ORD-[0-9]+\n\ntoken=[a-z]+ = x\n  SSN-\\d{4}  \n");
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].name.as_deref(), Some("order"));
        assert_eq!(rules[0].pattern, "ORD-[0-9]+");
        assert_eq!(rules[1].name, None, "not a plain name: the line is the pattern");
        assert_eq!(rules[1].pattern, "token=[a-z]+ = x");
        assert_eq!(rules[2].pattern, "SSN-\\d{4}");
        assert_eq!(parse_custom_rules(&custom_rules_text(&rules)), rules, "round trip");
    }

    #[test]
    fn field_lists_are_one_per_line() {
        assert_eq!(lines(" order_ref \r\n\r\niban\n"), vec!["order_ref", "iban"]);
    }
}
