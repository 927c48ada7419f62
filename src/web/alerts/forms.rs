//! The alert forms as posted and as shown again: a rule's fields (checkboxes, numbers and
//! one-value-per-line textareas) read into a `Rule`, a channel's fields into the JSON fields
//! the API takes. Pure: what decides whether a rule or a channel is acceptable is the one
//! check the API uses too (`Rule::check`, `channel_from_fields`), called by the handlers.

use serde_json::{Map, Value};

use crate::notify::model::{Channel, ChannelId, ChannelKind, Level, Rule, RuleRefusal, Secret, TagFilter, Trigger};
use crate::web::Choice;

/// Most values of one repeated field (channel checkboxes) read from a form.
const MAX_REPEATED: usize = 200;

/// The minimum-level select's options; the empty one is "any level".
const LEVELS: [&str; 6] = ["", "debug", "info", "warning", "error", "fatal"];

/// A rule form's fields, as text: what was posted, or a stored rule to edit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleForm {
    pub name: String,
    pub new_issue: bool,
    pub regression: bool,
    pub escalation_count: String,
    pub escalation_minutes: String,
    pub min_level: String,
    /// One per line (commas separate too).
    pub environments: String,
    pub releases: String,
    /// `key=value`, one per line.
    pub tags: String,
    /// Ids of the checked channels.
    pub channels: Vec<String>,
    pub interval_secs: String,
    pub enabled: bool,
}

impl RuleForm {
    /// The form as posted (`csrf` among the pairs is ignored); an unchecked box is absent.
    pub fn from_pairs(pairs: &[(String, String)]) -> RuleForm {
        let mut form = RuleForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value.clone(),
                "new_issue" => form.new_issue = true,
                "regression" => form.regression = true,
                "escalation_count" => form.escalation_count = value.clone(),
                "escalation_minutes" => form.escalation_minutes = value.clone(),
                "min_level" => form.min_level = value.clone(),
                "environments" => form.environments = value.clone(),
                "releases" => form.releases = value.clone(),
                "tags" => form.tags = value.clone(),
                "channel" if form.channels.len() < MAX_REPEATED => form.channels.push(value.clone()),
                "interval_secs" => form.interval_secs = value.clone(),
                "enabled" => form.enabled = true,
                _ => {}
            }
        }
        form
    }

    /// The form for a stored rule, to edit it.
    pub fn of(rule: &Rule) -> RuleForm {
        let mut form = RuleForm {
            name: rule.name.clone(),
            min_level: rule
                .filters
                .min_level
                .map(|l| l.as_str().to_string())
                .unwrap_or_default(),
            environments: rule.filters.environments.join("\n"),
            releases: rule.filters.releases.join("\n"),
            tags: rule
                .filters
                .tags
                .iter()
                .map(|t| format!("{}={}", t.key, t.value))
                .collect::<Vec<_>>()
                .join("\n"),
            channels: rule.channels.iter().map(|c| c.0.to_string()).collect(),
            interval_secs: rule.interval_secs.to_string(),
            enabled: rule.enabled,
            ..RuleForm::default()
        };
        for trigger in &rule.triggers {
            match *trigger {
                Trigger::NewIssue => form.new_issue = true,
                Trigger::Regression => form.regression = true,
                Trigger::Escalation { count, minutes } => {
                    form.escalation_count = count.to_string();
                    form.escalation_minutes = minutes.to_string();
                }
            }
        }
        form
    }

    /// An empty form for a new rule: new issues, enabled, the default interval.
    pub fn blank() -> RuleForm {
        RuleForm {
            new_issue: true,
            interval_secs: crate::notify::model::DEFAULT_INTERVAL_SECS.to_string(),
            enabled: true,
            ..RuleForm::default()
        }
    }

    /// `base` with this form's fields over it (the `levels` filter, which the form does not
    /// show, is kept). Only reads the fields; whether the rule is acceptable is
    /// `Rule::check`'s to say.
    pub fn apply(&self, mut base: Rule) -> Result<Rule, RuleRefusal> {
        base.name = self.name.trim().to_string();
        base.triggers = self.triggers()?;
        base.filters.min_level = match self.min_level.trim() {
            "" => None,
            level => Some(level.parse::<Level>().map_err(|e| refusal("filters", e.to_string()))?),
        };
        base.filters.environments = values(&self.environments);
        base.filters.releases = values(&self.releases);
        base.filters.tags = self
            .tags
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.parse::<TagFilter>().map_err(|e| refusal("filters", e.to_string())))
            .collect::<Result<_, _>>()?;
        base.channels = self
            .channels
            .iter()
            .map(|c| {
                c.trim()
                    .parse()
                    .map(ChannelId)
                    .map_err(|_| refusal("channels", "must be channel ids"))
            })
            .collect::<Result<_, _>>()?;
        base.interval_secs = self
            .interval_secs
            .trim()
            .parse()
            .map_err(|_| refusal("intervalSecs", "must be a whole number of seconds"))?;
        base.enabled = self.enabled;
        Ok(base)
    }

    fn triggers(&self) -> Result<Vec<Trigger>, RuleRefusal> {
        let mut triggers = Vec::new();
        if self.new_issue {
            triggers.push(Trigger::NewIssue);
        }
        if self.regression {
            triggers.push(Trigger::Regression);
        }
        match (self.escalation_count.trim(), self.escalation_minutes.trim()) {
            ("", "") => {}
            (count, minutes) => {
                let number = |s: &str| {
                    s.parse::<u32>().map_err(|_| {
                        refusal(
                            "triggers",
                            "an escalation needs both a count of events and a window in minutes, as whole numbers",
                        )
                    })
                };
                let (count, minutes) = (number(count)?, number(minutes)?);
                // Bounds are `Rule::check`'s; the trigger is kept as given so it says why.
                triggers.push(Trigger::Escalation { count, minutes });
            }
        }
        Ok(triggers)
    }

    /// The minimum-level select's options, this form's marked.
    pub fn level_choices(&self) -> Vec<Choice> {
        LEVELS
            .into_iter()
            .map(|l| Choice::new(l, l == self.min_level.trim()))
            .collect()
    }

    pub fn has_channel(&self, id: &str) -> bool {
        self.channels.iter().any(|c| c == id)
    }
}

fn refusal(field: &'static str, message: impl Into<String>) -> RuleRefusal {
    RuleRefusal {
        field,
        message: message.into(),
    }
}

/// Values one per line or comma separated, trimmed, without empty ones.
fn values(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The channel kinds a new channel may have, for the type select.
pub const CHANNEL_TYPES: [&str; 6] = ["webhook", "slack", "discord", "teams", "ntfy", "email"];

/// A channel form's fields, as text. Secret fields (webhook secret, ntfy token, SMTP
/// password) and URLs (a chat webhook's carries its token) are never filled in from a stored
/// channel: left empty on an edit, they keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ChannelForm {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub token: String,
    pub host: String,
    pub port: String,
    pub security: String,
    pub username: String,
    pub password: String,
    pub from: String,
    /// Recipients, one per line or comma separated.
    pub to: String,
}

impl ChannelForm {
    /// The form for a stored channel, to edit it: everything but its secrets and URL.
    pub fn of(channel: &Channel) -> ChannelForm {
        let mut form = ChannelForm {
            kind: channel.kind.label().to_string(),
            name: channel.name.clone(),
            ..ChannelForm::default()
        };
        if let ChannelKind::Email(email) = &channel.kind {
            form.host = email.host.clone();
            form.port = email.port.to_string();
            form.security = serde_json::to_value(email.security)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            form.username = email.username.clone().unwrap_or_default();
            form.from = email.from.clone();
            form.to = email.to.join("\n");
        }
        form
    }

    /// The fields of the form's type as the API takes them. An empty URL, secret, token or
    /// password is left out (so an edit keeps the stored one); `channel_from_fields` says
    /// whether what is left makes a channel.
    pub fn fields(&self) -> Result<Map<String, Value>, String> {
        let mut fields = Map::new();
        let text = |s: &str| Value::String(s.trim().to_string());
        fields.insert("name".into(), text(&self.name));
        let kind = self.kind.trim();
        if !kind.is_empty() {
            fields.insert("type".into(), text(kind));
        }
        let mut optional = |key: &str, value: &str| {
            if !value.trim().is_empty() {
                fields.insert(key.into(), text(value));
            }
        };
        match kind {
            "webhook" => {
                optional("url", &self.url);
                optional("secret", &self.secret);
            }
            "slack" | "discord" | "teams" => optional("url", &self.url),
            "ntfy" => {
                optional("url", &self.url);
                optional("token", &self.token);
            }
            "email" => {
                optional("password", &self.password);
                fields.insert("host".into(), text(&self.host));
                let port: u16 = self
                    .port
                    .trim()
                    .parse()
                    .map_err(|_| "port: must be a number from 1 to 65535".to_string())?;
                fields.insert("port".into(), Value::from(port));
                fields.insert("security".into(), text(&self.security));
                fields.insert(
                    "username".into(),
                    match self.username.trim() {
                        "" => Value::Null,
                        user => text(user),
                    },
                );
                fields.insert("from".into(), text(&self.from));
                fields.insert(
                    "to".into(),
                    Value::Array(values(&self.to).into_iter().map(Value::String).collect()),
                );
            }
            _ => {}
        }
        Ok(fields)
    }

    /// The SMTP security select's options, this form's marked.
    pub fn security_choices(&self) -> Vec<Choice> {
        ["starttls", "tls", "none"]
            .into_iter()
            .map(|s| Choice::new(s, s == self.security.trim()))
            .collect()
    }

    /// The type select's options, this form's marked.
    pub fn type_choices(&self) -> Vec<Choice> {
        CHANNEL_TYPES
            .into_iter()
            .map(|t| Choice::new(t, t == self.kind.trim()))
            .collect()
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind.trim() == kind
    }
}

/// Where a channel sends, safe to show: scheme and host of a URL, an e-mail's recipients.
pub fn channel_target(channel: &Channel) -> String {
    match &channel.kind {
        ChannelKind::Webhook { url, .. }
        | ChannelKind::Slack { url }
        | ChannelKind::Discord { url }
        | ChannelKind::Teams { url }
        | ChannelKind::Ntfy { url, .. } => url.redacted(),
        ChannelKind::Email(e) => format!("{} via {}:{}", e.to.join(", "), e.host, e.port),
    }
}

/// Which secrets a channel holds, named but never shown.
pub fn channel_secrets(channel: &Channel) -> String {
    let set = |s: &Option<Secret>| if s.is_some() { "set" } else { "none" };
    match &channel.kind {
        ChannelKind::Webhook { .. } => "signing secret set".into(),
        ChannelKind::Ntfy { token, .. } => format!("token {}", set(token)),
        ChannelKind::Email(e) => format!("password {}", set(&e.password)),
        _ => "URL holds the token".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::model::{DEFAULT_INTERVAL_SECS, Filters, RuleId};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn empty_rule() -> Rule {
        Rule {
            id: RuleId(0),
            project_id: 1,
            name: String::new(),
            triggers: vec![],
            filters: Filters::default(),
            channels: vec![],
            interval_secs: DEFAULT_INTERVAL_SECS,
            enabled: true,
        }
    }

    #[test]
    fn a_posted_rule_reads_every_field() {
        let form = RuleForm::from_pairs(&pairs(&[
            ("csrf", "t"),
            ("name", " ops "),
            ("regression", "on"),
            ("escalation_count", "100"),
            ("escalation_minutes", "10"),
            ("min_level", "error"),
            ("environments", "production, staging\nqa"),
            ("releases", ""),
            ("tags", "region = eu\n\nshard=3"),
            ("channel", "4"),
            ("channel", "7"),
            ("interval_secs", "60"),
        ]));
        let rule = form.apply(empty_rule()).unwrap();
        assert_eq!(rule.name, "ops");
        assert_eq!(
            rule.triggers,
            vec![
                Trigger::Regression,
                Trigger::Escalation {
                    count: 100,
                    minutes: 10
                }
            ]
        );
        assert_eq!(rule.filters.min_level, Some(Level::Error));
        assert_eq!(rule.filters.environments, vec!["production", "staging", "qa"]);
        assert!(rule.filters.releases.is_empty());
        assert_eq!(rule.filters.tags.len(), 2);
        assert_eq!(rule.channels, vec![ChannelId(4), ChannelId(7)]);
        assert_eq!(rule.interval_secs, 60);
        assert!(!rule.enabled, "an unchecked box is off");
        assert_eq!(RuleForm::of(&rule).apply(empty_rule()).unwrap(), rule, "round trip");
    }

    #[test]
    fn unreadable_fields_are_refused_with_their_field() {
        let base = RuleForm {
            name: "r".into(),
            new_issue: true,
            channels: vec!["1".into()],
            interval_secs: "60".into(),
            ..RuleForm::default()
        };
        for (form, field) in [
            (
                RuleForm {
                    escalation_count: "5".into(),
                    ..base.clone()
                },
                "triggers",
            ),
            (
                RuleForm {
                    tags: "no-equals".into(),
                    ..base.clone()
                },
                "filters",
            ),
            (
                RuleForm {
                    channels: vec!["x".into()],
                    ..base.clone()
                },
                "channels",
            ),
            (
                RuleForm {
                    interval_secs: "-1".into(),
                    ..base.clone()
                },
                "intervalSecs",
            ),
        ] {
            assert_eq!(form.apply(empty_rule()).unwrap_err().field, field, "{form:?}");
        }
    }

    #[test]
    fn channel_fields_leave_out_empty_secrets() {
        let form = ChannelForm {
            kind: "webhook".into(),
            name: "hook".into(),
            url: "".into(),
            secret: "".into(),
            ..ChannelForm::default()
        };
        let fields = form.fields().unwrap();
        assert!(!fields.contains_key("url") && !fields.contains_key("secret"));
        let email = ChannelForm {
            kind: "email".into(),
            name: "mail".into(),
            host: "smtp.example.com".into(),
            port: "587".into(),
            security: "starttls".into(),
            from: "errata@example.com".into(),
            to: "a@example.com, b@example.com".into(),
            ..ChannelForm::default()
        };
        let fields = email.fields().unwrap();
        assert_eq!(fields["to"], serde_json::json!(["a@example.com", "b@example.com"]));
        assert!(!fields.contains_key("password"));
        let bad_port = ChannelForm {
            port: "x".into(),
            ..email
        };
        assert!(bad_port.fields().is_err());
    }
}
