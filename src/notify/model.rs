//! The types alerts are made of, each parsed once at the edge: triggers and their filters,
//! rules, channels (with secrets that never print), and the notification an outbox row holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::NotifyError;
use super::door::ReceiverUrl;

/// Longest escalation window a rule may name: a week.
const MAX_ESCALATION_MINUTES: u32 = 7 * 24 * 60;

/// A rule's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleId(pub i64);

/// A channel's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChannelId(pub i64);

/// One notification's id, which is also its idempotency key: the same on every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NotificationId(String);

impl NotificationId {
    /// A fresh random id (32 lowercase hex digits).
    pub fn random() -> NotificationId {
        NotificationId(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NotificationId {
    type Err = NotifyError;

    /// 32 hex digits, dashes allowed (a UUID), stored lowercase without dashes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(NotificationId(hex))
        } else {
            Err(NotifyError::Invalid(format!(
                "notification id must be 32 hex digits, got {s:?}"
            )))
        }
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event level, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

impl FromStr for Level {
    type Err = NotifyError;

    /// The five Sentry levels; `warn` and `critical` as the SDKs also send them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" => Ok(Level::Debug),
            "info" | "log" => Ok(Level::Info),
            "warning" | "warn" => Ok(Level::Warning),
            "error" => Ok(Level::Error),
            "fatal" | "critical" => Ok(Level::Fatal),
            _ => Err(NotifyError::Invalid(format!(
                "unknown level {s:?} (debug, info, warning, error, fatal)"
            ))),
        }
    }
}

/// What makes a rule fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// An issue seen for the first time.
    NewIssue,
    /// A resolved issue seen again (as the store's release-aware regression logic decides).
    Regression,
    /// An issue seen at least `count` times within the last `minutes` minutes.
    Escalation { count: u32, minutes: u32 },
}

impl FromStr for Trigger {
    type Err = NotifyError;

    /// `new-issue`, `regression`, or `escalation:N/M` (N events in M minutes), as the CLI's
    /// `--on` takes them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "new-issue" | "new_issue" | "new" => return Ok(Trigger::NewIssue),
            "regression" | "regressed" => return Ok(Trigger::Regression),
            _ => {}
        }
        let bad = || {
            NotifyError::Invalid(format!(
                "unknown trigger {s:?} (new-issue, regression, escalation:N/M for N events in M minutes)"
            ))
        };
        let spec = s.strip_prefix("escalation:").ok_or_else(bad)?;
        let (count, minutes) = spec.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let minutes: u32 = minutes.trim().trim_end_matches('m').parse().map_err(|_| bad())?;
        Trigger::escalation(count, minutes)
    }
}

impl fmt::Display for Trigger {
    /// As `--on` takes it: `new-issue`, `regression`, `escalation:N/M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::NewIssue => f.write_str("new-issue"),
            Trigger::Regression => f.write_str("regression"),
            Trigger::Escalation { count, minutes } => write!(f, "escalation:{count}/{minutes}"),
        }
    }
}

impl Trigger {
    /// An escalation trigger with its bounds checked: at least one event, a window of one
    /// minute up to a week.
    pub fn escalation(count: u32, minutes: u32) -> Result<Trigger, NotifyError> {
        if count == 0 {
            return Err(NotifyError::Invalid("escalation count must be at least 1".into()));
        }
        if minutes == 0 || minutes > MAX_ESCALATION_MINUTES {
            return Err(NotifyError::Invalid(format!(
                "escalation window must be 1 to {MAX_ESCALATION_MINUTES} minutes, got {minutes}"
            )));
        }
        Ok(Trigger::Escalation { count, minutes })
    }

    /// Parses a comma-separated list (`new-issue,regression`), at least one, no repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Trigger>, NotifyError> {
        let mut out: Vec<Trigger> = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let trigger: Trigger = part.parse()?;
            if !out.contains(&trigger) {
                out.push(trigger);
            }
        }
        if out.is_empty() {
            return Err(NotifyError::Invalid("a rule needs at least one trigger".into()));
        }
        Ok(out)
    }
}

/// Optional narrowing of a rule; an empty list means "any". Values within one filter are
/// alternatives; the filters together must all hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Fire only for events at one of these levels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<Level>,
    /// Fire only at or above this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_level: Option<Level>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
    /// `key=value` pairs, each of which the event must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagFilter>,
}

/// One `key=value` tag condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

impl FromStr for TagFilter {
    type Err = NotifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(TagFilter {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(NotifyError::Invalid(format!("tag filter must be key=value, got {s:?}"))),
        }
    }
}

/// A project's alert rule: when any trigger fires and the filters hold, each channel is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: RuleId,
    pub project_id: i64,
    pub name: String,
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub filters: Filters,
    pub channels: Vec<ChannelId>,
    /// Storm control: at most one notification per issue for this rule within this many
    /// seconds.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u32,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

/// Half an hour between two notifications about one issue from one rule.
pub const DEFAULT_INTERVAL_SECS: u32 = 30 * 60;

/// Longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 200;
/// Most channels one rule may tell.
pub const MAX_RULE_CHANNELS: usize = 50;
/// Most values in one filter list (levels, environments, releases, tags).
pub const MAX_FILTER_VALUES: usize = 100;
/// Longest filter value (an environment, a release, a tag's key or value), in characters.
pub const MAX_FILTER_VALUE_CHARS: usize = 200;
/// Longest storm-control interval: a week.
pub const MAX_INTERVAL_SECS: u32 = 7 * 24 * 60 * 60;

/// Why a rule was refused: the field as the API names it, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleRefusal {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> RuleRefusal {
    RuleRefusal {
        field,
        message: message.into(),
    }
}

impl Rule {
    /// A rule of `project_id` not yet stored: no name, trigger or channel, the default
    /// interval, enabled. Every way of making a rule fills it in, then `check`s it.
    pub fn unsaved(project_id: i64) -> Rule {
        Rule {
            id: RuleId(0),
            project_id,
            name: String::new(),
            triggers: Vec::new(),
            filters: Filters::default(),
            channels: Vec::new(),
            interval_secs: DEFAULT_INTERVAL_SECS,
            enabled: true,
        }
    }

    /// The one check every rule passes before it is stored, whether it came from the API,
    /// the web form or the CLI: a name, at least one trigger (escalations within their
    /// bounds), at least one channel and each of them one of `organization_channels` (the
    /// project's organization's), and every list and number bounded.
    pub fn check(&self, organization_channels: &[ChannelId]) -> Result<(), RuleRefusal> {
        if self.name.trim().is_empty() {
            return Err(refuse("name", "is required"));
        }
        if self.name.chars().count() > MAX_RULE_NAME_CHARS {
            return Err(refuse("name", format!("at most {MAX_RULE_NAME_CHARS} characters")));
        }
        if self.triggers.is_empty() {
            return Err(refuse(
                "triggers",
                "at least one of new-issue, regression, escalation:N/M",
            ));
        }
        for trigger in &self.triggers {
            if let Trigger::Escalation { count, minutes } = *trigger {
                Trigger::escalation(count, minutes).map_err(|e| refuse("triggers", e.to_string()))?;
            }
        }
        if self.channels.is_empty() {
            return Err(refuse("channels", "at least one channel id"));
        }
        if self.channels.len() > MAX_RULE_CHANNELS {
            return Err(refuse("channels", format!("at most {MAX_RULE_CHANNELS} channels")));
        }
        if let Some(stranger) = self.channels.iter().find(|c| !organization_channels.contains(c)) {
            return Err(refuse(
                "channels",
                format!("channel {} does not exist in the project's organization", stranger.0),
            ));
        }
        if self.interval_secs > MAX_INTERVAL_SECS {
            return Err(refuse(
                "intervalSecs",
                format!("at most {MAX_INTERVAL_SECS} seconds (a week)"),
            ));
        }
        self.filters.check()
    }
}

impl Filters {
    /// Bounds every list and value, and refuses empty values (which would match nothing).
    fn check(&self) -> Result<(), RuleRefusal> {
        let values = |name: &str, list: &[String]| -> Result<(), RuleRefusal> {
            if list.len() > MAX_FILTER_VALUES {
                return Err(refuse("filters", format!("{name}: at most {MAX_FILTER_VALUES} values")));
            }
            if list.iter().any(|v| v.trim().is_empty()) {
                return Err(refuse("filters", format!("{name}: a value is empty")));
            }
            if let Some(long) = list.iter().find(|v| v.chars().count() > MAX_FILTER_VALUE_CHARS) {
                return Err(refuse(
                    "filters",
                    format!("{name}: {long:.40?}… is longer than {MAX_FILTER_VALUE_CHARS} characters"),
                ));
            }
            Ok(())
        };
        if self.levels.len() > MAX_FILTER_VALUES {
            return Err(refuse("filters", format!("levels: at most {MAX_FILTER_VALUES} values")));
        }
        values("environments", &self.environments)?;
        values("releases", &self.releases)?;
        if self.tags.len() > MAX_FILTER_VALUES {
            return Err(refuse("filters", format!("tags: at most {MAX_FILTER_VALUES} values")));
        }
        let keys: Vec<String> = self.tags.iter().map(|t| t.key.clone()).collect();
        values("tags", &keys)?;
        if let Some(long) = self
            .tags
            .iter()
            .find(|t| t.value.chars().count() > MAX_FILTER_VALUE_CHARS)
        {
            return Err(refuse(
                "filters",
                format!(
                    "tags: the value of {:.40?} is longer than {MAX_FILTER_VALUE_CHARS} characters",
                    long.key
                ),
            ));
        }
        Ok(())
    }
}

fn default_interval_secs() -> u32 {
    DEFAULT_INTERVAL_SECS
}

fn default_enabled() -> bool {
    true
}

/// A string that must never reach a log, a `Debug` print or an API answer in full.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What may be shown again: the last four characters of a long secret, nothing of a
    /// short one.
    pub fn masked(&self) -> String {
        let n = self.0.chars().count();
        if n >= 16 {
            let tail: String = self.0.chars().skip(n - 4).collect();
            format!("…{tail}")
        } else {
            "…".to_string()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A channel, configured once per organization and referenced by rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    pub organization_id: i64,
    pub name: String,
    pub kind: ChannelKind,
}

/// Where and how a channel delivers. URLs that carry a token in their path (Slack, Discord,
/// Teams) are secrets as a whole: `ReceiverUrl`'s `Debug` shows only scheme and host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelKind {
    /// Sentry's integration-platform issue webhook, signed with `secret`.
    Webhook { url: ReceiverUrl, secret: Secret },
    /// A Slack incoming webhook (Block Kit).
    Slack { url: ReceiverUrl },
    /// A Discord webhook (embeds).
    Discord { url: ReceiverUrl },
    /// A Microsoft Teams workflow webhook (an Adaptive Card).
    Teams { url: ReceiverUrl },
    /// An ntfy topic URL (`https://ntfy.sh/my-topic`), with an optional access token.
    Ntfy {
        url: ReceiverUrl,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<Secret>,
    },
    /// E-mail over SMTP.
    Email(EmailChannel),
}

impl Channel {
    /// Checks what deserializing alone does not (URLs are checked as they parse): a name,
    /// and an e-mail channel's addresses and credentials.
    pub fn validate(&self) -> Result<(), NotifyError> {
        if self.name.trim().is_empty() {
            return Err(NotifyError::Invalid("a channel needs a name".into()));
        }
        match &self.kind {
            ChannelKind::Email(email) => email.validate(),
            _ => Ok(()),
        }
    }
}

/// Reads a channel from its fields as the API's body and the web form both give them
/// (`name`, `type` and the type's own fields) and checks it with [`Channel::validate`]: the
/// one parse every new or changed channel passes.
pub fn channel_from_fields(mut fields: Map<String, Value>) -> Result<(String, ChannelKind), NotifyError> {
    let name = match fields.remove("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_string(),
        Some(Value::String(_)) | None => return Err(NotifyError::Invalid("a channel needs a name".into())),
        Some(_) => return Err(NotifyError::Invalid("name: must be a string".into())),
    };
    if name.chars().count() > MAX_RULE_NAME_CHARS {
        return Err(NotifyError::Invalid(format!(
            "name: at most {MAX_RULE_NAME_CHARS} characters"
        )));
    }
    let kind: ChannelKind = serde_json::from_value(Value::Object(fields)).map_err(|e| {
        NotifyError::Invalid(format!(
            "invalid channel: {e} (type is one of webhook, slack, discord, teams, ntfy, email)"
        ))
    })?;
    Channel {
        id: ChannelId(0),
        organization_id: 0,
        name: name.clone(),
        kind: kind.clone(),
    }
    .validate()?;
    Ok((name, kind))
}

/// The fields of `existing` with `changes` over them, for an update: a field left out keeps
/// its value, so a secret need not be sent again to rename a channel. The type cannot change.
pub fn merged_channel_fields(
    existing: &Channel,
    changes: Map<String, Value>,
) -> Result<Map<String, Value>, NotifyError> {
    let Ok(Value::Object(mut merged)) = serde_json::to_value(&existing.kind) else {
        return Err(NotifyError::Invalid("the stored channel cannot be read".into()));
    };
    if changes.get("type").is_some_and(|t| Some(t) != merged.get("type")) {
        return Err(NotifyError::Invalid("type: cannot change; create a new channel".into()));
    }
    merged.insert("name".into(), Value::String(existing.name.clone()));
    merged.extend(changes);
    Ok(merged)
}

impl ChannelKind {
    /// A short name for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Discord { .. } => "discord",
            ChannelKind::Teams { .. } => "teams",
            ChannelKind::Ntfy { .. } => "ntfy",
            ChannelKind::Email(_) => "email",
        }
    }

    /// Whether a burst for this channel is folded into one digest. Machine receivers of the
    /// Sentry webhook expect one issue per request, so they get every notification.
    pub fn digests(&self) -> bool {
        !matches!(self, ChannelKind::Webhook { .. })
    }
}

/// An SMTP relay and the envelope of the mails sent through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on the same host or network.
    None,
}

impl FromStr for SmtpSecurity {
    type Err = NotifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpSecurity::Starttls),
            "tls" | "ssl" | "smtps" => Ok(SmtpSecurity::Tls),
            "none" | "plain" => Ok(SmtpSecurity::None),
            _ => Err(NotifyError::Invalid(format!(
                "SMTP security must be starttls, tls or none, got {s:?}"
            ))),
        }
    }
}

impl EmailChannel {
    /// Checks what the builder would otherwise reject at send time: a host, addresses that
    /// parse, at least one recipient, a password only with a user name.
    pub fn validate(&self) -> Result<(), NotifyError> {
        if self.host.trim().is_empty() {
            return Err(NotifyError::Invalid("SMTP host is empty".into()));
        }
        if self.port == 0 {
            return Err(NotifyError::Invalid("SMTP port is 0".into()));
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| NotifyError::Invalid(format!("bad from address {:?}: {e}", self.from)))?;
        if self.to.is_empty() {
            return Err(NotifyError::Invalid(
                "an e-mail channel needs at least one recipient".into(),
            ));
        }
        for to in &self.to {
            to.parse::<lettre::message::Mailbox>()
                .map_err(|e| NotifyError::Invalid(format!("bad recipient address {to:?}: {e}")))?;
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(NotifyError::Invalid("an SMTP password needs a user name".into()));
        }
        Ok(())
    }
}

/// Why a notification was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NewIssue,
    Regression,
    Escalation,
}

impl Reason {
    /// Words for a human reader.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NewIssue => "New issue",
            Reason::Regression => "Regression",
            Reason::Escalation => "Escalating issue",
        }
    }
}

/// What a message says about one issue, frozen when the notification is written so a retry
/// tells the same story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSnapshot {
    pub issue_id: i64,
    pub project_id: i64,
    pub project_slug: String,
    pub organization_slug: String,
    /// The short id as shown (`BACKEND-12`).
    pub short_id: String,
    pub title: String,
    pub culprit: Option<String>,
    pub level: Level,
    pub platform: Option<String>,
    /// Events in the issue.
    pub count: u64,
    pub user_count: u64,
    /// Microseconds since the epoch, as the store keeps them.
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// The issue's page, built from `public_url` (see [`issue_link`]).
    pub link: String,
}

/// The web page of an issue at Sentry's own URL shape.
pub fn issue_link(public_url: &str, organization_slug: &str, issue_id: i64) -> String {
    format!(
        "{}/organizations/{}/issues/{}/",
        public_url.trim_end_matches('/'),
        organization_slug,
        issue_id
    )
}

/// One issue in a notification, and which rule raised it why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub rule: RuleId,
    pub reason: Reason,
    pub issue: IssueSnapshot,
}

/// What an outbox row holds: one message to one channel, about one issue — or, once a burst
/// has been folded, a digest about many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Also the idempotency key, sent on every attempt.
    pub id: NotificationId,
    pub channel: ChannelId,
    pub items: Vec<Item>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
}

/// How long a new notification waits before its first attempt (see [`Notification::new`]):
/// long enough for a bad deploy's burst to arrive together, short enough to be "within
/// seconds".
pub const DEFAULT_GATHER_MS: i64 = 3_000;

impl Notification {
    /// A fresh notification about one issue, first due after `gather_ms` so a burst arriving
    /// together can be folded into one digest.
    pub fn new(channel: ChannelId, item: Item, now_ms: i64, gather_ms: i64) -> Notification {
        Notification {
            id: NotificationId::random(),
            channel,
            items: vec![item],
            attempts: 0,
            created_at_ms: now_ms,
            next_attempt_at_ms: now_ms + gather_ms,
        }
    }

    pub fn is_digest(&self) -> bool {
        self.items.len() > 1
    }

    /// What "send a test notification" sends: a made-up new issue of `project_slug`, due
    /// now, which links to the project's issue list.
    pub fn test(
        channel: ChannelId,
        rule: RuleId,
        project_id: i64,
        project_slug: &str,
        organization_slug: &str,
        public_url: &str,
        now_ms: i64,
    ) -> Notification {
        let now_us = now_ms.saturating_mul(1000);
        let issue = IssueSnapshot {
            issue_id: 0,
            project_id,
            project_slug: project_slug.to_string(),
            organization_slug: organization_slug.to_string(),
            short_id: format!("{}-TEST", project_slug.to_ascii_uppercase()),
            title: "Test notification from Errata".into(),
            culprit: Some("errata alert test".into()),
            level: Level::Info,
            platform: None,
            count: 1,
            user_count: 0,
            first_seen_us: now_us,
            last_seen_us: now_us,
            environment: None,
            release: None,
            link: format!(
                "{}/organizations/{}/issues/?project={}",
                public_url.trim_end_matches('/'),
                organization_slug,
                project_id
            ),
        };
        Notification {
            id: NotificationId::random(),
            channel,
            items: vec![Item {
                rule,
                reason: Reason::NewIssue,
                issue,
            }],
            attempts: 0,
            created_at_ms: now_ms,
            next_attempt_at_ms: now_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_as_the_cli_writes_them() {
        assert_eq!(
            Trigger::parse_list("new-issue,regression").unwrap(),
            vec![Trigger::NewIssue, Trigger::Regression]
        );
        assert_eq!(
            "escalation:100/10".parse::<Trigger>().unwrap(),
            Trigger::Escalation {
                count: 100,
                minutes: 10
            }
        );
        assert_eq!(
            "escalation:5/60m".parse::<Trigger>().unwrap(),
            Trigger::Escalation { count: 5, minutes: 60 }
        );
        for bad in [
            "",
            "new-issues",
            "escalation:0/10",
            "escalation:5/0",
            "escalation:5",
            "escalation:x/1",
        ] {
            assert!(Trigger::parse_list(bad).is_err(), "{bad:?} should not parse");
        }
        assert!("escalation:1/20000".parse::<Trigger>().is_err());
    }

    #[test]
    fn rules_are_checked_once_for_the_api_and_the_pages() {
        let ok = Rule {
            id: RuleId(0),
            project_id: 1,
            name: "ops".into(),
            triggers: vec![Trigger::NewIssue],
            filters: Filters::default(),
            channels: vec![ChannelId(3)],
            interval_secs: DEFAULT_INTERVAL_SECS,
            enabled: true,
        };
        let org = [ChannelId(3), ChannelId(4)];
        assert_eq!(ok.check(&org), Ok(()));
        let field = |rule: Rule| rule.check(&org).unwrap_err().field;
        assert_eq!(
            field(Rule {
                name: " ".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field(Rule {
                name: "x".repeat(201),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field(Rule {
                triggers: vec![],
                ..ok.clone()
            }),
            "triggers"
        );
        assert_eq!(
            field(Rule {
                triggers: vec![Trigger::Escalation { count: 5, minutes: 0 }],
                ..ok.clone()
            }),
            "triggers",
            "an escalation built without its constructor is still bounded"
        );
        assert_eq!(
            field(Rule {
                channels: vec![],
                ..ok.clone()
            }),
            "channels"
        );
        let stranger = Rule {
            channels: vec![ChannelId(3), ChannelId(99)],
            ..ok.clone()
        };
        assert!(stranger.check(&org).unwrap_err().message.contains("channel 99"));
        assert_eq!(
            field(Rule {
                interval_secs: MAX_INTERVAL_SECS + 1,
                ..ok.clone()
            }),
            "intervalSecs"
        );
        let mut filters = Filters {
            environments: vec!["production".into(), " ".into()],
            ..Filters::default()
        };
        assert_eq!(
            field(Rule {
                filters: filters.clone(),
                ..ok.clone()
            }),
            "filters"
        );
        filters.environments = vec!["e".into(); MAX_FILTER_VALUES + 1];
        assert_eq!(
            field(Rule {
                filters: filters.clone(),
                ..ok.clone()
            }),
            "filters"
        );
        filters.environments = vec![];
        filters.tags = vec!["region=eu".parse().unwrap()];
        assert_eq!(Rule { filters, ..ok.clone() }.check(&org), Ok(()));
    }

    #[test]
    fn channels_parse_from_fields_and_updates_keep_what_is_left_out() {
        let fields = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let (name, kind) = channel_from_fields(fields(serde_json::json!(
            {"name": " ops ", "type": "webhook", "url": "https://ops.example/hook", "secret": "s3cret"}
        )))
        .unwrap();
        assert_eq!(name, "ops");
        let existing = Channel {
            id: ChannelId(1),
            organization_id: 1,
            name,
            kind,
        };
        let merged = merged_channel_fields(&existing, fields(serde_json::json!({"name": "renamed"}))).unwrap();
        let (name, kind) = channel_from_fields(merged).unwrap();
        assert_eq!(name, "renamed");
        assert_eq!(kind, existing.kind, "the secret and URL are kept");
        assert!(merged_channel_fields(&existing, fields(serde_json::json!({"type": "slack"}))).is_err());
        assert!(
            channel_from_fields(fields(
                serde_json::json!({"name": "", "type": "slack", "url": "https://h/"})
            ))
            .is_err()
        );
        assert!(channel_from_fields(fields(serde_json::json!({"name": "x", "type": "pager"}))).is_err());
    }

    #[test]
    fn repeated_triggers_collapse() {
        assert_eq!(Trigger::parse_list("new,new-issue").unwrap(), vec![Trigger::NewIssue]);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-very-long-secret-value");
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(s.masked(), "…alue");
        assert_eq!(Secret::new("short").masked(), "…");
        let channel = ChannelKind::Webhook {
            url: "https://example.com/hook/abc".parse().unwrap(),
            secret: s,
        };
        let printed = format!("{channel:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("/hook/abc"),
            "{printed}"
        );
    }

    #[test]
    fn email_password_does_not_print() {
        let email = EmailChannel {
            host: "smtp.example.com".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: Some("alerts".into()),
            password: Some(Secret::new("p4ssw0rd")),
            from: "Errata <errata@example.com>".into(),
            to: vec!["oncall@example.com".into()],
        };
        email.validate().unwrap();
        assert!(!format!("{email:?}").contains("p4ssw0rd"));
        let channel = Channel {
            id: ChannelId(1),
            organization_id: 1,
            name: "mail".into(),
            kind: ChannelKind::Email(email),
        };
        channel.validate().unwrap();
        assert!(!format!("{channel:?}").contains("p4ssw0rd"));
        let nameless = Channel {
            name: " ".into(),
            ..channel
        };
        assert!(nameless.validate().is_err());
    }

    #[test]
    fn email_channels_are_checked() {
        let mut email = EmailChannel {
            host: "smtp.example.com".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: "errata@example.com".into(),
            to: vec![],
        };
        assert!(email.validate().is_err());
        email.to = vec!["not an address".into()];
        assert!(email.validate().is_err());
        email.to = vec!["a@example.com".into()];
        email.password = Some(Secret::new("x"));
        assert!(email.validate().is_err());
    }

    #[test]
    fn channels_round_trip_through_json() {
        let channel = Channel {
            id: ChannelId(3),
            organization_id: 1,
            name: "ops".into(),
            kind: ChannelKind::Ntfy {
                url: "https://ntfy.sh/errata-alerts".parse().unwrap(),
                token: Some(Secret::new("tk_abc")),
            },
        };
        let json = serde_json::to_string(&channel).unwrap();
        let back: Channel = serde_json::from_str(&json).unwrap();
        assert_eq!(back, channel);
        let bad = r#"{"id":1,"organization_id":1,"name":"x","kind":{"type":"slack","url":"file:///etc/passwd"}}"#;
        assert!(serde_json::from_str::<Channel>(bad).is_err());
    }

    #[test]
    fn notification_ids_parse_uuids() {
        let id: NotificationId = "0F8FAD5B-D9CB-469F-A165-70867728950E".parse().unwrap();
        assert_eq!(id.as_str(), "0f8fad5bd9cb469fa16570867728950e");
        assert!("xyz".parse::<NotificationId>().is_err());
        assert_eq!(NotificationId::random().as_str().len(), 32);
    }

    #[test]
    fn links_follow_sentry_urls() {
        assert_eq!(
            issue_link("https://errata.example.com/", "acme", 42),
            "https://errata.example.com/organizations/acme/issues/42/"
        );
    }
}
