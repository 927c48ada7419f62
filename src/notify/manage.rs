//! `errata alert …`: rules and their channels made, listed and tested from the command line,
//! through the same store interface the API uses.

use std::sync::Arc;

use anyhow::{Context, bail};

use super::model::{
    Channel, ChannelId, ChannelKind, DEFAULT_INTERVAL_SECS, EmailChannel, Notification, Rule, RuleId, Secret, Trigger,
};
use super::{Sender, policy::AttemptOutcome};
use crate::config::Config;
use crate::store::{NewChannel, Store};

/// Where a new rule's notifications go; each destination given becomes one channel.
#[derive(Debug, Default)]
pub struct Destinations {
    pub webhook: Option<String>,
    pub secret: Option<String>,
    pub slack: Option<String>,
    pub discord: Option<String>,
    pub teams: Option<String>,
    pub ntfy: Option<String>,
    pub ntfy_token: Option<String>,
    pub email: Vec<String>,
}

pub enum AlertCommand {
    Create {
        project: String,
        org: Option<String>,
        on: String,
        name: Option<String>,
        interval: Option<u32>,
        to: Box<Destinations>,
    },
    List {
        project: String,
        org: Option<String>,
    },
    Test {
        id: i64,
    },
}

/// Channels to create: a label for the name, and the kind.
type Planned = Vec<(String, ChannelKind)>;

/// The channels `to` asks for (validated, not yet stored), and a webhook secret made up
/// here, if any, to be shown once.
fn channels_for(to: &Destinations, config: &Config) -> anyhow::Result<(Planned, Option<String>)> {
    let mut out = Vec::new();
    let mut made_up = None;
    let url = |s: &str| s.parse().map_err(|e: super::NotifyError| anyhow::anyhow!("{e}"));
    if let Some(u) = &to.webhook {
        let secret = match &to.secret {
            Some(s) => s.clone(),
            None => {
                let s = uuid::Uuid::new_v4().simple().to_string();
                made_up = Some(s.clone());
                s
            }
        };
        out.push((
            "webhook".to_string(),
            ChannelKind::Webhook {
                url: url(u)?,
                secret: Secret::new(secret),
            },
        ));
    }
    if let Some(u) = &to.slack {
        out.push(("slack".into(), ChannelKind::Slack { url: url(u)? }));
    }
    if let Some(u) = &to.discord {
        out.push(("discord".into(), ChannelKind::Discord { url: url(u)? }));
    }
    if let Some(u) = &to.teams {
        out.push(("teams".into(), ChannelKind::Teams { url: url(u)? }));
    }
    if let Some(u) = &to.ntfy {
        out.push((
            "ntfy".into(),
            ChannelKind::Ntfy {
                url: url(u)?,
                token: to.ntfy_token.clone().map(Secret::new),
            },
        ));
    }
    if !to.email.is_empty() {
        let (Some(host), Some(from)) = (&config.smtp_host, &config.smtp_from) else {
            bail!("--email needs an SMTP relay: set smtp_host and smtp_from (ERRATA_SMTP_HOST, ERRATA_SMTP_FROM)");
        };
        let email = EmailChannel {
            host: host.clone(),
            port: config.smtp_port,
            security: config.smtp_security.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
            username: config.smtp_username.clone(),
            password: config.smtp_password.clone().map(Secret::new),
            from: from.clone(),
            to: to.email.clone(),
        };
        email.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        out.push(("email".into(), ChannelKind::Email(email)));
    }
    if out.is_empty() {
        bail!("say where to send: --webhook, --slack, --discord, --teams, --ntfy or --email");
    }
    Ok((out, made_up))
}

/// Where a channel sends, safe to print.
fn describe(c: &Channel) -> String {
    let target = match &c.kind {
        ChannelKind::Webhook { url, .. }
        | ChannelKind::Slack { url }
        | ChannelKind::Discord { url }
        | ChannelKind::Teams { url }
        | ChannelKind::Ntfy { url, .. } => url.redacted(),
        ChannelKind::Email(e) => e.to.join(","),
    };
    format!("{}:{}:{}", c.id.0, c.kind.label(), target)
}

pub async fn run(store: Store, config: &Config, cmd: AlertCommand) -> anyhow::Result<()> {
    match cmd {
        AlertCommand::Create {
            project,
            org,
            on,
            name,
            interval,
            to,
        } => {
            let triggers = Trigger::parse_list(&on).map_err(|e| anyhow::anyhow!("--on: {e}"))?;
            let project = crate::settings::find_project(&store, org.as_deref(), &project).await?;
            let (kinds, made_up) = channels_for(&to, config)?;
            let mut rule = Rule::unsaved(project.id);
            rule.name = name.unwrap_or_else(|| {
                format!(
                    "{}: {}",
                    project.slug,
                    triggers.iter().map(Trigger::to_string).collect::<Vec<_>>().join(", ")
                )
            });
            rule.triggers = triggers;
            rule.interval_secs = interval.unwrap_or(DEFAULT_INTERVAL_SECS);
            // Checked with one stand-in channel before any channel is made, so a refused
            // rule leaves nothing behind.
            rule.channels = vec![ChannelId(0)];
            rule.check(&[ChannelId(0)])
                .map_err(|r| anyhow::anyhow!("{}: {}", r.field, r.message))?;
            let mut channel_ids = Vec::new();
            for (label, kind) in kinds {
                let channel = store
                    .create_alert_channel(NewChannel {
                        organization_id: project.organization_id,
                        name: format!("{} {label}", project.slug),
                        kind,
                    })
                    .await?;
                channel_ids.push(channel.id);
            }
            rule.channels = channel_ids;
            let rule = store.create_alert_rule(rule).await?;
            if let Some(secret) = made_up {
                eprintln!("webhook signing secret (shown only this once): {secret}");
            }
            println!("{}", rule.id.0);
        }
        AlertCommand::List { project, org } => {
            let project = crate::settings::find_project(&store, org.as_deref(), &project).await?;
            for rule in store.alert_rules(project.id).await? {
                let mut channels = Vec::new();
                for id in &rule.channels {
                    channels.push(describe(&store.alert_channel(*id).await?));
                }
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    rule.id.0,
                    rule.name,
                    rule.triggers
                        .iter()
                        .map(Trigger::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    channels.join(" "),
                    if rule.enabled { "enabled" } else { "disabled" }
                );
            }
        }
        AlertCommand::Test { id } => {
            let rule = store.alert_rule(RuleId(id)).await.context("no such rule")?;
            let project = store.project_by_id(rule.project_id).await?;
            let sender = Sender::new(Arc::new(store.clone()), config.sender_config()?)?;
            let mut failed = 0;
            for channel_id in &rule.channels {
                let channel = store.alert_channel(*channel_id).await?;
                let n = Notification::test(
                    channel.id,
                    rule.id,
                    project.id,
                    &project.slug,
                    &project.organization_slug,
                    &config.base_url(),
                    chrono::Utc::now().timestamp_millis(),
                );
                let outcome = sender.attempt(&channel, &n).await;
                let ok = matches!(outcome, AttemptOutcome::Status { code, .. } if (200..300).contains(&code));
                if !ok {
                    failed += 1;
                }
                println!(
                    "{}\t{}\t{}",
                    describe(&channel),
                    outcome.label(),
                    if ok { "delivered" } else { "not delivered" }
                );
            }
            if failed > 0 {
                bail!(
                    "{failed} of {} channels did not accept the test notification",
                    rule.channels.len()
                );
            }
        }
    }
    Ok(())
}
