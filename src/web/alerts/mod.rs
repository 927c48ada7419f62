//! Alerts in the web UI: a project's rules (listed on its settings page, each editable at
//! `/settings/{org}/projects/{project}/alerts/{rule}/`) and the organization's channels
//! (`/settings/{org}/alerts/`), with "send a test notification" and the recent deliveries.
//! Changes are admin-only forms; a rule or channel passes the one check the API uses
//! (`Rule::check`, `channel_from_fields`), and secrets are never put into a page.

pub mod forms;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use self::forms::{ChannelForm, RuleForm, channel_secrets, channel_target};
use crate::api::alerts::{TestResult, test_channel};
use crate::http::{Path, State};
use crate::notify::model::{Channel, ChannelId, Filters, Rule, RuleId, channel_from_fields, merged_channel_fields};
use crate::state::AppState;
use crate::store::{DeliveryFilter, NewChannel, Organization, Project};
use crate::web::csrf::Form;
use crate::web::layout::{Chrome, Section, render, render_status, see_other};
use crate::web::projects::{build_settings, project_of};
use crate::web::session::Viewer;
use crate::web::{WebError, when};

/// Deliveries shown on the channels page.
const RECENT_DELIVERIES: usize = 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/{org}/alerts/", web::get().to(channels_page))
        .route("/settings/{org}/alerts/channels/", web::post().to(channel_create))
        .route(
            "/settings/{org}/alerts/channels/{channel}/",
            web::get().to(channel_page),
        )
        .route(
            "/settings/{org}/alerts/channels/{channel}/",
            web::post().to(channel_update),
        )
        .route(
            "/settings/{org}/alerts/channels/{channel}/delete/",
            web::post().to(channel_delete),
        )
        .route(
            "/settings/{org}/alerts/channels/{channel}/test/",
            web::post().to(channel_test),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/",
            web::post().to(rule_create),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/",
            web::get().to(rule_page),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/",
            web::post().to(rule_update),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/enabled/",
            web::post().to(rule_enabled),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/delete/",
            web::post().to(rule_delete),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/test/",
            web::post().to(rule_test),
        );
}

fn admin_only(viewer: &Viewer) -> Result<(), WebError> {
    if viewer.role.is_admin() {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

/// A channel as a checkbox of the rule form, and as a row of the channels page.
pub struct ChannelRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub secrets: String,
    pub href: String,
}

impl ChannelRow {
    pub fn of(org: &str, c: &Channel) -> ChannelRow {
        ChannelRow {
            id: c.id.0.to_string(),
            name: c.name.clone(),
            kind: c.kind.label(),
            target: channel_target(c),
            secrets: channel_secrets(c),
            href: format!("/settings/{org}/alerts/channels/{}/", c.id.0),
        }
    }
}

/// One channel's answer to a test, for people.
pub struct TestRow {
    pub channel: String,
    pub outcome: String,
    pub delivered: bool,
}

fn test_row(channels: &[Channel], result: &TestResult) -> TestRow {
    TestRow {
        channel: channels
            .iter()
            .find(|c| c.id == result.channel)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| result.channel.0.to_string()),
        outcome: result.outcome.clone(),
        delivered: result.delivered,
    }
}

// ---------------------------------------------------------------- rules

/// A rule as the project settings page lists it.
pub struct RuleRow {
    pub name: String,
    pub triggers: String,
    pub filters: String,
    pub channels: String,
    pub interval: String,
    pub enabled: bool,
    pub href: String,
}

impl RuleRow {
    pub fn of(base: &str, rule: &Rule, channels: &[Channel]) -> RuleRow {
        RuleRow {
            name: rule.name.clone(),
            triggers: rule
                .triggers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            filters: filters_summary(&rule.filters),
            channels: rule
                .channels
                .iter()
                .map(|id| {
                    channels
                        .iter()
                        .find(|c| c.id == *id)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| id.0.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            interval: format!("{} s", rule.interval_secs),
            enabled: rule.enabled,
            href: format!("{base}alerts/{}/", rule.id.0),
        }
    }
}

/// The filters in a line: `level ≥ error; environment production; tag region=eu`.
fn filters_summary(f: &Filters) -> String {
    let mut parts = Vec::new();
    if !f.levels.is_empty() {
        let levels: Vec<&str> = f.levels.iter().map(|l| l.as_str()).collect();
        parts.push(format!("level {}", levels.join(" or ")));
    }
    if let Some(min) = f.min_level {
        parts.push(format!("level ≥ {}", min.as_str()));
    }
    if !f.environments.is_empty() {
        parts.push(format!("environment {}", f.environments.join(" or ")));
    }
    if !f.releases.is_empty() {
        parts.push(format!("release {}", f.releases.join(" or ")));
    }
    for t in &f.tags {
        parts.push(format!("tag {}={}", t.key, t.value));
    }
    if parts.is_empty() {
        "any event".into()
    } else {
        parts.join("; ")
    }
}

#[derive(Template)]
#[template(path = "alerts/rule.html")]
pub struct RulePage {
    pub chrome: Chrome,
    pub settings_href: String,
    pub project: String,
    pub action: String,
    pub rule_name: String,
    pub enabled: bool,
    pub rule_form: RuleForm,
    pub channels: Vec<ChannelRow>,
    pub results: Vec<TestRow>,
    pub is_admin: bool,
    pub error: Option<String>,
}

/// The organization, project and rule a rule's address names; a rule of another project
/// is not found.
async fn rule_of(
    state: &AppState,
    org: &str,
    project: &str,
    raw: &str,
) -> Result<(Organization, Project, Rule), WebError> {
    let (org, project) = project_of(state, org, project).await?;
    let rule = state.store.alert_rule(RuleId(parse_id(raw)?)).await?;
    if rule.project_id != project.id {
        return Err(WebError::NotFound);
    }
    Ok((org, project, rule))
}

/// Back to the alert rules of the project's settings page.
fn to_alert_rules(org: &Organization, project: &Project) -> HttpResponse {
    see_other(&format!("/settings/{}/projects/{}/#alerts", org.slug, project.slug))
}

/// The channels of `org` the rule form offers.
async fn org_channels(state: &AppState, org: &Organization) -> Result<Vec<Channel>, WebError> {
    Ok(state.store.alert_channels(org.id).await?)
}

fn rule_page_of(
    viewer: &Viewer,
    org: &Organization,
    project: &Project,
    rule: &Rule,
    form: RuleForm,
    channels: &[Channel],
) -> RulePage {
    let settings_href = format!("/settings/{}/projects/{}/", org.slug, project.slug);
    RulePage {
        chrome: Chrome::new(viewer, &org.slug, Section::Projects),
        action: format!("{settings_href}alerts/{}/", rule.id.0),
        settings_href,
        project: project.slug.clone(),
        rule_name: rule.name.clone(),
        enabled: rule.enabled,
        rule_form: form,
        channels: channels.iter().map(|c| ChannelRow::of(&org.slug, c)).collect(),
        results: Vec::new(),
        is_admin: viewer.role.is_admin(),
        error: None,
    }
}

/// `GET …/alerts/{rule}/`
async fn rule_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project, rule)): Path<(String, String, String)>,
) -> Result<HttpResponse, WebError> {
    let (org, project, rule) = rule_of(&state, &org, &project, &rule).await?;
    let channels = org_channels(&state, &org).await?;
    let page = rule_page_of(&viewer, &org, &project, &rule, RuleForm::of(&rule), &channels);
    Ok(render(&page))
}

/// The posted form read into `base` and checked as the API checks it.
fn checked_rule(form: &RuleForm, base: Rule, channels: &[Channel]) -> Result<Rule, String> {
    let rule = form.apply(base).map_err(|r| r.to_string())?;
    let ids: Vec<ChannelId> = channels.iter().map(|c| c.id).collect();
    rule.check(&ids).map_err(|r| r.to_string())?;
    Ok(rule)
}

/// `POST /settings/{org}/projects/{project}/alerts/`: a new rule; refused, the settings
/// page again with the reason and what was typed, as a 400.
async fn rule_create(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project) = project_of(&state, &org, &project).await?;
    let channels = org_channels(&state, &org).await?;
    let form = RuleForm::from_pairs(&pairs);
    let base = Rule::unsaved(project.id);
    match checked_rule(&form, base, &channels) {
        Ok(rule) => {
            state.store.create_alert_rule(rule).await?;
            Ok(to_alert_rules(&org, &project))
        }
        Err(message) => {
            let mut page = build_settings(&state, &viewer, &org, &project, Some(message)).await?;
            page.rule_form = form;
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// `POST …/alerts/{rule}/`: the whole rule from its form.
async fn rule_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project, rule)): Path<(String, String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project, existing) = rule_of(&state, &org, &project, &rule).await?;
    let channels = org_channels(&state, &org).await?;
    let form = RuleForm::from_pairs(&pairs);
    match checked_rule(&form, existing.clone(), &channels) {
        Ok(rule) => {
            let rule = state.store.update_alert_rule(rule).await?;
            Ok(see_other(&format!(
                "/settings/{}/projects/{}/alerts/{}/",
                org.slug, project.slug, rule.id.0
            )))
        }
        Err(message) => {
            let mut page = rule_page_of(&viewer, &org, &project, &existing, form, &channels);
            page.error = Some(message);
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
    }
}

#[derive(serde::Deserialize)]
pub struct EnabledForm {
    enabled: String,
}

/// `POST …/alerts/{rule}/enabled/`: `enabled=on` or `enabled=off`.
async fn rule_enabled(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project, rule)): Path<(String, String, String)>,
    Form(form): Form<EnabledForm>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project, mut rule) = rule_of(&state, &org, &project, &rule).await?;
    rule.enabled = match form.enabled.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(WebError::BadRequest("enabled must be on or off".into())),
    };
    state.store.update_alert_rule(rule).await?;
    Ok(to_alert_rules(&org, &project))
}

/// `POST …/alerts/{rule}/delete/`
async fn rule_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project, rule)): Path<(String, String, String)>,
    Form(_): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project, rule) = rule_of(&state, &org, &project, &rule).await?;
    state.store.delete_alert_rule(rule.id).await?;
    Ok(to_alert_rules(&org, &project))
}

/// `POST …/alerts/{rule}/test/`: one test notification through each of the rule's
/// channels now; the rule's page again with each channel's answer.
async fn rule_test(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, project, rule)): Path<(String, String, String)>,
    Form(_): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let (org, project, rule) = rule_of(&state, &org, &project, &rule).await?;
    let channels = org_channels(&state, &org).await?;
    let mut results = Vec::new();
    for id in &rule.channels {
        if let Some(channel) = channels.iter().find(|c| c.id == *id) {
            results.push(test_row(
                &channels,
                &test_channel(&state, channel, rule.id, Some(&project)).await,
            ));
        }
    }
    let mut page = rule_page_of(&viewer, &org, &project, &rule, RuleForm::of(&rule), &channels);
    page.results = results;
    Ok(render(&page))
}

// ---------------------------------------------------------------- channels

/// A delivery as the channels page lists it.
pub struct DeliveryRow {
    pub when: String,
    pub channel: String,
    pub state: String,
    pub outcome: String,
    pub attempts: usize,
}

#[derive(Template)]
#[template(path = "alerts/channels.html")]
pub struct ChannelsPage {
    pub chrome: Chrome,
    pub channels: Vec<ChannelRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub form: ChannelForm,
    pub results: Vec<TestRow>,
    pub is_admin: bool,
    pub error: Option<String>,
}

async fn channels_of(
    state: &AppState,
    viewer: &Viewer,
    org: &Organization,
    error: Option<String>,
) -> Result<ChannelsPage, WebError> {
    let channels = org_channels(state, org).await?;
    let deliveries = state
        .store
        .deliveries(DeliveryFilter {
            organization_id: org.id,
            project_id: None,
            limit: RECENT_DELIVERIES,
        })
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            when: when(d.created_at_ms.saturating_mul(1000)),
            channel: channels
                .iter()
                .find(|c| c.id == d.channel_id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| d.channel_id.0.to_string()),
            state: d.state,
            outcome: d.outcome.unwrap_or_default(),
            attempts: d.attempts.len(),
        })
        .collect();
    Ok(ChannelsPage {
        chrome: Chrome::new(viewer, &org.slug, Section::Alerts),
        channels: channels.iter().map(|c| ChannelRow::of(&org.slug, c)).collect(),
        deliveries,
        form: ChannelForm {
            kind: "webhook".into(),
            port: "587".into(),
            security: "starttls".into(),
            ..ChannelForm::default()
        },
        results: Vec::new(),
        is_admin: viewer.role.is_admin(),
        error,
    })
}

/// `GET /settings/{org}/alerts/`
async fn channels_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
) -> Result<HttpResponse, WebError> {
    let org = state.store.organization(&org).await?;
    Ok(render(&channels_of(&state, &viewer, &org, None).await?))
}

async fn org_channel(state: &AppState, org: &Organization, raw: &str) -> Result<Channel, WebError> {
    let channel = state.store.alert_channel(ChannelId(parse_id(raw)?)).await?;
    if channel.organization_id != org.id {
        return Err(WebError::NotFound);
    }
    Ok(channel)
}

/// `POST /settings/{org}/alerts/channels/`: a new channel of the form's type. A webhook
/// left without a secret gets a random one, as over the API; it is not shown here, so a
/// receiver that verifies signatures needs one set by editing the channel.
async fn channel_create(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    Form(form): Form<ChannelForm>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let org = state.store.organization(&org).await?;
    let parsed = form.fields().and_then(|mut fields| {
        if form.is("webhook") && !fields.contains_key("secret") {
            let secret = uuid::Uuid::new_v4().simple().to_string();
            fields.insert("secret".into(), secret.into());
        }
        channel_from_fields(fields).map_err(|e| e.to_string())
    });
    match parsed {
        Ok((name, kind)) => {
            state
                .store
                .create_alert_channel(NewChannel {
                    organization_id: org.id,
                    name,
                    kind,
                })
                .await?;
            Ok(see_other(&format!("/settings/{}/alerts/", org.slug)))
        }
        Err(message) => {
            let mut page = channels_of(&state, &viewer, &org, Some(message)).await?;
            page.form = ChannelForm {
                secret: String::new(),
                token: String::new(),
                password: String::new(),
                ..form
            };
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "alerts/channel.html")]
pub struct ChannelPage {
    pub chrome: Chrome,
    pub action: String,
    pub channel: ChannelRow,
    pub form: ChannelForm,
    pub is_admin: bool,
    pub error: Option<String>,
}

fn channel_page_of(viewer: &Viewer, org: &Organization, channel: &Channel, form: ChannelForm) -> ChannelPage {
    ChannelPage {
        chrome: Chrome::new(viewer, &org.slug, Section::Alerts),
        action: format!("/settings/{}/alerts/channels/{}/", org.slug, channel.id.0),
        channel: ChannelRow::of(&org.slug, channel),
        form,
        is_admin: viewer.role.is_admin(),
        error: None,
    }
}

/// `GET /settings/{org}/alerts/channels/{channel}/`
async fn channel_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, channel)): Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let org = state.store.organization(&org).await?;
    let channel = org_channel(&state, &org, &channel).await?;
    Ok(render(&channel_page_of(
        &viewer,
        &org,
        &channel,
        ChannelForm::of(&channel),
    )))
}

/// `POST /settings/{org}/alerts/channels/{channel}/`: fields left empty keep their value
/// (secrets, URLs), as an API update that leaves them out.
async fn channel_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, channel)): Path<(String, String)>,
    Form(form): Form<ChannelForm>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let org = state.store.organization(&org).await?;
    let existing = org_channel(&state, &org, &channel).await?;
    let form = ChannelForm {
        kind: existing.kind.label().to_string(),
        ..form
    };
    let parsed = form.fields().and_then(|fields| {
        let merged = merged_channel_fields(&existing, fields).map_err(|e| e.to_string())?;
        channel_from_fields(merged).map_err(|e| e.to_string())
    });
    match parsed {
        Ok((name, kind)) => {
            state
                .store
                .update_alert_channel(
                    existing.id,
                    NewChannel {
                        organization_id: org.id,
                        name,
                        kind,
                    },
                )
                .await?;
            Ok(see_other(&format!("/settings/{}/alerts/", org.slug)))
        }
        Err(message) => {
            let blanked = ChannelForm {
                url: String::new(),
                secret: String::new(),
                token: String::new(),
                password: String::new(),
                ..form
            };
            let mut page = channel_page_of(&viewer, &org, &existing, blanked);
            page.error = Some(message);
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// `POST …/channels/{channel}/delete/`: rules that name it stop telling it.
async fn channel_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, channel)): Path<(String, String)>,
    Form(_): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let org = state.store.organization(&org).await?;
    let channel = org_channel(&state, &org, &channel).await?;
    state.store.delete_alert_channel(channel.id).await?;
    Ok(see_other(&format!("/settings/{}/alerts/", org.slug)))
}

/// `POST …/channels/{channel}/test/`: the channels page again with the answer.
async fn channel_test(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, channel)): Path<(String, String)>,
    Form(_): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    admin_only(&viewer)?;
    let org = state.store.organization(&org).await?;
    let channel = org_channel(&state, &org, &channel).await?;
    let result = test_channel(&state, &channel, RuleId(0), None).await;
    let mut page = channels_of(&state, &viewer, &org, None).await?;
    page.results = vec![test_row(std::slice::from_ref(&channel), &result)];
    Ok(render(&page))
}
