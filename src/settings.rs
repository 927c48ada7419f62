//! Per-project settings — scrubbing and grouping rules — validated and merged in one
//! place, so the web API and the CLI accept exactly the same changes with the same
//! messages. Stored as JSON in `projects.settings`:
//! `{"scrubbing": ScrubSettings, "grouping": {"fingerprint_rules": "…", "stacktrace_rules": "…"}}`.
//!
//! Beside the scrubbing knobs of spec/scrubbing.md §3, `scrubbing` holds
//! `store_binary_attachments` (off by default): attachments that are not text cannot be
//! scrubbed, so they are kept only where the project asks for it.

use clap::Args;
use serde_json::{Map, Value, json};

use crate::event::group::{GroupingRules, RuleError};
use crate::event::scrub::{CustomRule, ScrubSettings, Scrubber};
use crate::store::{Project, ProjectChange, Store, StoreError};

/// The names of the scrubbing knobs (spec/scrubbing.md §3), as stored and as the API takes them.
const SCRUB_KEYS: [&str; 7] = [
    "scrub_data",
    "scrub_defaults",
    "scrub_ip_addresses",
    "sensitive_fields",
    "safe_fields",
    "custom_rules",
    STORE_BINARY_ATTACHMENTS,
];

/// The knob that keeps binary (unscrubbable) attachments, stored under `scrubbing`.
const STORE_BINARY_ATTACHMENTS: &str = "store_binary_attachments";

/// Whether a project keeps binary attachments (stored settings; anything but `true` is off).
pub fn store_binary_attachments(settings: &Value) -> bool {
    settings
        .pointer("/scrubbing/store_binary_attachments")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A rejected value; `field` is the API's name for it (`scrubbing`, `fingerprintingRules`…).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        field,
        message: message.into(),
    }
}

/// A requested change; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    /// Scrubbing knobs to set; knobs not named keep their current value.
    pub scrubbing: Option<Value>,
    /// The project's fingerprint rules, whole (Sentry's `fingerprintingRules`).
    pub fingerprint_rules: Option<String>,
    /// The project's stack-trace rules, whole (Sentry's `groupingEnhancements`).
    pub stacktrace_rules: Option<String>,
}

/// The settings a project's events are processed with.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveSettings {
    pub scrubbing: ScrubSettings,
    /// Keep attachments that are not text as sent (they cannot be scrubbed).
    pub store_binary_attachments: bool,
    pub fingerprint_rules: String,
    pub stacktrace_rules: String,
}

impl EffectiveSettings {
    /// Reads stored settings; anything missing or unreadable takes its default.
    pub fn of(settings: &Value) -> Self {
        let text = |path: &str| settings.pointer(path).and_then(Value::as_str).unwrap_or("").to_owned();
        Self {
            scrubbing: settings
                .get("scrubbing")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default(),
            store_binary_attachments: store_binary_attachments(settings),
            fingerprint_rules: text("/grouping/fingerprint_rules"),
            stacktrace_rules: text("/grouping/stacktrace_rules"),
        }
    }

    /// The settings as JSON, in the stored shape.
    pub fn to_json(&self) -> Value {
        let mut scrubbing = serde_json::to_value(&self.scrubbing).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut scrubbing {
            map.insert(
                STORE_BINARY_ATTACHMENTS.into(),
                Value::Bool(self.store_binary_attachments),
            );
        }
        json!({
            "scrubbing": scrubbing,
            "grouping": {
                "fingerprint_rules": self.fingerprint_rules,
                "stacktrace_rules": self.stacktrace_rules,
            },
        })
    }
}

/// Parses grouping rules; an error names the API field and the line.
pub fn parse_rules(fingerprint: &str, stacktrace: &str) -> Result<GroupingRules, SettingsError> {
    if fingerprint.trim().is_empty() && stacktrace.trim().is_empty() {
        return Ok(GroupingRules::default());
    }
    GroupingRules::parse(fingerprint, stacktrace).map_err(|e| match e {
        RuleError::Fingerprint { line, reason } => invalid("fingerprintingRules", format!("line {line}: {reason}")),
        RuleError::Stacktrace { line, reason } => invalid("groupingEnhancements", format!("line {line}: {reason}")),
    })
}

/// Validates a scrubbing patch and applies it over `current`.
fn merged_scrubbing(current: &ScrubSettings, patch: &Value) -> Result<ScrubSettings, SettingsError> {
    let Some(patch) = patch.as_object() else {
        return Err(invalid(
            "scrubbing",
            format!("expected an object with any of: {}", SCRUB_KEYS.join(", ")),
        ));
    };
    if let Some(unknown) = patch.keys().find(|k| !SCRUB_KEYS.contains(&k.as_str())) {
        return Err(invalid(
            "scrubbing",
            format!("unknown setting {unknown:?}; known settings: {}", SCRUB_KEYS.join(", ")),
        ));
    }
    let mut merged = match serde_json::to_value(current) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        merged.insert(key.clone(), value.clone());
    }
    let parsed: ScrubSettings =
        serde_json::from_value(Value::Object(merged)).map_err(|e| invalid("scrubbing", e.to_string()))?;
    for (name, list) in [
        ("sensitive_fields", &parsed.sensitive_fields),
        ("safe_fields", &parsed.safe_fields),
    ] {
        if list.len() > 200 {
            return Err(invalid("scrubbing", format!("{name}: at most 200 entries")));
        }
        if let Some(long) = list.iter().find(|f| f.len() > 200) {
            return Err(invalid(
                "scrubbing",
                format!("{name}: entry {long:.40?}… is longer than 200 characters"),
            ));
        }
    }
    if parsed.custom_rules.len() > 50 {
        return Err(invalid("scrubbing", "custom_rules: at most 50 rules"));
    }
    Scrubber::new(&parsed).map_err(|e| invalid("scrubbing", e.to_string()))?;
    Ok(parsed)
}

/// Validates `change` and returns the project's new stored settings.
pub fn merged(current: &Value, change: &SettingsChange) -> Result<Value, SettingsError> {
    let mut settings = match current {
        Value::Object(map) => Value::Object(map.clone()),
        _ => json!({}),
    };
    let effective = EffectiveSettings::of(current);
    if let Some(patch) = &change.scrubbing {
        let scrubbing = merged_scrubbing(&effective.scrubbing, patch)?;
        let binary = match patch.get(STORE_BINARY_ATTACHMENTS) {
            None => effective.store_binary_attachments,
            Some(Value::Bool(on)) => *on,
            Some(_) => {
                return Err(invalid(
                    "scrubbing",
                    format!("{STORE_BINARY_ATTACHMENTS}: expected true or false"),
                ));
            }
        };
        let mut value = serde_json::to_value(&scrubbing).map_err(|e| invalid("scrubbing", e.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.insert(STORE_BINARY_ATTACHMENTS.into(), Value::Bool(binary));
        }
        settings["scrubbing"] = value;
    }
    if change.fingerprint_rules.is_some() || change.stacktrace_rules.is_some() {
        let fingerprint = change.fingerprint_rules.clone().unwrap_or(effective.fingerprint_rules);
        let stacktrace = change.stacktrace_rules.clone().unwrap_or(effective.stacktrace_rules);
        for (field, text) in [
            ("fingerprintingRules", &fingerprint),
            ("groupingEnhancements", &stacktrace),
        ] {
            if text.len() > 64 * 1024 {
                return Err(invalid(field, "the rules are longer than 64 KiB"));
            }
        }
        parse_rules(&fingerprint, &stacktrace)?;
        settings["grouping"] = json!({"fingerprint_rules": fingerprint, "stacktrace_rules": stacktrace});
    }
    Ok(settings)
}

/// Applies `change` to a project and returns what is now in effect.
pub async fn apply(
    store: &Store,
    project_id: i64,
    change: &SettingsChange,
) -> Result<EffectiveSettings, SettingsError> {
    let project = store.project_by_id(project_id).await?;
    let settings = merged(&project.settings, change)?;
    let change = ProjectChange {
        settings: Some(settings),
        ..ProjectChange::default()
    };
    let updated = store.update_project(project_id, change).await?;
    Ok(EffectiveSettings::of(&updated.settings))
}

// ---------------------------------------------------------------------------
// The CLI's `errata project rules` and `errata project scrub`

/// `errata project rules`: set a project's grouping rules from files.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Project slug or id.
    pub project: String,
    /// Organization slug (needed only when several organizations have this project slug).
    #[arg(long)]
    pub org: Option<String>,
    /// File with fingerprint rules in Sentry's syntax (`-` reads standard input; an empty file clears them).
    #[arg(long, value_name = "FILE")]
    pub fingerprint: Option<std::path::PathBuf>,
    /// File with stack-trace rules in Sentry's syntax (`-` reads standard input; an empty file clears them).
    #[arg(long, value_name = "FILE")]
    pub stacktrace: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

/// `errata project scrub`: change a project's scrubbing settings.
#[derive(Debug, Clone, Args)]
pub struct ScrubArgs {
    /// Project slug or id.
    pub project: String,
    /// Organization slug (needed only when several organizations have this project slug).
    #[arg(long)]
    pub org: Option<String>,
    /// Master switch for all key and value rules.
    #[arg(long, value_enum)]
    pub data: Option<Switch>,
    /// The built-in rules (passwords, tokens, card numbers…).
    #[arg(long, value_enum)]
    pub defaults: Option<Switch>,
    /// Remove IP addresses.
    #[arg(long, value_enum)]
    pub ip: Option<Switch>,
    /// Keep attachments that are not text (they cannot be scrubbed; off by default).
    #[arg(long = "binary-attachments", value_enum)]
    pub binary_attachments: Option<Switch>,
    /// Add a sensitive field name (repeatable).
    #[arg(long = "sensitive-field", value_name = "NAME")]
    pub sensitive_fields: Vec<String>,
    /// Remove a sensitive field name (repeatable).
    #[arg(long = "remove-sensitive-field", value_name = "NAME")]
    pub remove_sensitive_fields: Vec<String>,
    /// Add a safe field, never scrubbed (repeatable).
    #[arg(long = "safe-field", value_name = "NAME")]
    pub safe_fields: Vec<String>,
    /// Remove a safe field (repeatable).
    #[arg(long = "remove-safe-field", value_name = "NAME")]
    pub remove_safe_fields: Vec<String>,
    /// Add or replace a custom rule: NAME=REGEX (repeatable).
    #[arg(long = "custom-rule", value_name = "NAME=REGEX")]
    pub custom_rules: Vec<String>,
    /// Remove a custom rule by name (repeatable).
    #[arg(long = "remove-custom-rule", value_name = "NAME")]
    pub remove_custom_rules: Vec<String>,
}

/// A project by slug or id, within `org` if given, else across all organizations.
pub async fn find_project(store: &Store, org: Option<&str>, slug_or_id: &str) -> Result<Project, SettingsError> {
    if let Some(org) = org {
        let org = store.organization(org).await?;
        return Ok(store.project(org.id, slug_or_id).await?);
    }
    let mut found: Vec<Project> = store
        .projects(None)
        .await?
        .into_iter()
        .filter(|p| p.slug == slug_or_id || p.id.to_string() == slug_or_id)
        .collect();
    match found.len() {
        0 => Err(SettingsError::Store(StoreError::NotFound("project"))),
        1 => Ok(found.remove(0)),
        _ => Err(invalid(
            "project",
            format!("several organizations have a project {slug_or_id:?}; name one with --org"),
        )),
    }
}

fn read_rules_file(path: &std::path::Path) -> Result<String, SettingsError> {
    let read = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    read.map_err(|e| invalid("rules", format!("cannot read {}: {e}", path.display())))
}

impl RulesArgs {
    pub fn change(&self) -> Result<SettingsChange, SettingsError> {
        Ok(SettingsChange {
            scrubbing: None,
            fingerprint_rules: self.fingerprint.as_deref().map(read_rules_file).transpose()?,
            stacktrace_rules: self.stacktrace.as_deref().map(read_rules_file).transpose()?,
        })
    }
}

impl ScrubArgs {
    /// The scrubbing patch these flags ask for, over the project's current settings.
    pub fn change(&self, current: &ScrubSettings) -> Result<SettingsChange, SettingsError> {
        let mut patch = Map::new();
        for (key, switch) in [
            ("scrub_data", self.data),
            ("scrub_defaults", self.defaults),
            ("scrub_ip_addresses", self.ip),
            (STORE_BINARY_ATTACHMENTS, self.binary_attachments),
        ] {
            if let Some(switch) = switch {
                patch.insert(key.into(), Value::Bool(switch.on()));
            }
        }
        let edit_list = |list: &[String], add: &[String], remove: &[String]| -> Option<Vec<String>> {
            if add.is_empty() && remove.is_empty() {
                return None;
            }
            let mut out: Vec<String> = list
                .iter()
                .filter(|f| !remove.iter().any(|r| r.eq_ignore_ascii_case(f)))
                .cloned()
                .collect();
            for field in add {
                if !out.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                    out.push(field.clone());
                }
            }
            Some(out)
        };
        if let Some(list) = edit_list(
            &current.sensitive_fields,
            &self.sensitive_fields,
            &self.remove_sensitive_fields,
        ) {
            patch.insert("sensitive_fields".into(), json!(list));
        }
        if let Some(list) = edit_list(&current.safe_fields, &self.safe_fields, &self.remove_safe_fields) {
            patch.insert("safe_fields".into(), json!(list));
        }
        if !self.custom_rules.is_empty() || !self.remove_custom_rules.is_empty() {
            let mut rules: Vec<CustomRule> = current.custom_rules.clone();
            for (index, rule) in rules.iter_mut().enumerate() {
                // Unnamed rules are named by position; naming them keeps removal by name stable.
                rule.name.get_or_insert_with(|| (index + 1).to_string());
            }
            rules.retain(|r| !self.remove_custom_rules.iter().any(|n| Some(n) == r.name.as_ref()));
            for spec in &self.custom_rules {
                let (name, pattern) = spec
                    .split_once('=')
                    .filter(|(name, pattern)| !name.is_empty() && !pattern.is_empty())
                    .ok_or_else(|| invalid("scrubbing", format!("custom rule {spec:?}: write it as NAME=REGEX")))?;
                rules.retain(|r| r.name.as_deref() != Some(name));
                rules.push(CustomRule {
                    pattern: pattern.to_owned(),
                    name: Some(name.to_owned()),
                });
            }
            patch.insert(
                "custom_rules".into(),
                serde_json::to_value(&rules).map_err(|e| invalid("scrubbing", e.to_string()))?,
            );
        }
        Ok(SettingsChange {
            scrubbing: (!patch.is_empty()).then_some(Value::Object(patch)),
            ..SettingsChange::default()
        })
    }
}

/// Runs `errata project rules`: applies the files given and returns the settings now in effect.
pub async fn run_rules(store: &Store, args: &RulesArgs) -> Result<EffectiveSettings, SettingsError> {
    let project = find_project(store, args.org.as_deref(), &args.project).await?;
    apply(store, project.id, &args.change()?).await
}

/// Runs `errata project scrub`: applies the flags given and returns the settings now in effect.
pub async fn run_scrub(store: &Store, args: &ScrubArgs) -> Result<EffectiveSettings, SettingsError> {
    let project = find_project(store, args.org.as_deref(), &args.project).await?;
    let current = EffectiveSettings::of(&project.settings);
    apply(store, project.id, &args.change(&current.scrubbing)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_patch_keeps_the_knobs_it_does_not_name() {
        let current = json!({"scrubbing": {"scrub_ip_addresses": true, "sensitive_fields": ["order_ref"]}});
        let change = SettingsChange {
            scrubbing: Some(json!({"safe_fields": ["api_key"]})),
            ..Default::default()
        };
        let out = EffectiveSettings::of(&merged(&current, &change).expect("valid"));
        assert!(out.scrubbing.scrub_ip_addresses);
        assert_eq!(out.scrubbing.sensitive_fields, vec!["order_ref"]);
        assert_eq!(out.scrubbing.safe_fields, vec!["api_key"]);
    }

    #[test]
    fn binary_attachments_are_off_by_default_and_survive_other_changes() {
        assert!(!EffectiveSettings::of(&json!({})).store_binary_attachments);
        let on = SettingsChange {
            scrubbing: Some(json!({"store_binary_attachments": true})),
            ..Default::default()
        };
        let stored = merged(&json!({}), &on).expect("valid");
        assert!(store_binary_attachments(&stored));
        let other = SettingsChange {
            scrubbing: Some(json!({"scrub_ip_addresses": true})),
            ..Default::default()
        };
        let stored = merged(&stored, &other).expect("valid");
        let effective = EffectiveSettings::of(&stored);
        assert!(effective.store_binary_attachments && effective.scrubbing.scrub_ip_addresses);
        assert_eq!(
            effective.to_json()["scrubbing"]["store_binary_attachments"],
            json!(true)
        );
        let wrong = SettingsChange {
            scrubbing: Some(json!({"store_binary_attachments": "yes"})),
            ..Default::default()
        };
        assert!(merged(&json!({}), &wrong).is_err());
    }

    #[test]
    fn unknown_scrubbing_knob_is_rejected_by_name() {
        let change = SettingsChange {
            scrubbing: Some(json!({"scrub_ips": true})),
            ..Default::default()
        };
        let err = merged(&json!({}), &change).expect_err("unknown knob");
        assert!(err.to_string().contains("\"scrub_ips\""), "{err}");
    }

    #[test]
    fn invalid_custom_regex_names_the_rule() {
        let change = SettingsChange {
            scrubbing: Some(json!({"custom_rules": [{"name": "order", "pattern": "ORD-("}]})),
            ..Default::default()
        };
        match merged(&json!({}), &change) {
            Err(SettingsError::Invalid { field, message }) => {
                assert_eq!(field, "scrubbing");
                assert!(message.contains("\"order\""), "{message}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn rule_errors_name_the_field_and_line() {
        let change = SettingsChange {
            stacktrace_rules: Some("family:native -app\nbogus matcher\n".into()),
            ..Default::default()
        };
        match merged(&json!({}), &change) {
            Err(SettingsError::Invalid { field, message }) => {
                assert_eq!(field, "groupingEnhancements");
                assert!(message.starts_with("line 2: "), "{message}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn changing_one_rule_set_keeps_the_other() {
        let current = json!({"grouping": {"fingerprint_rules": "error.type:Foo -> foo", "stacktrace_rules": ""}});
        let change = SettingsChange {
            stacktrace_rules: Some("module:vendor.* -app".into()),
            ..Default::default()
        };
        let out = EffectiveSettings::of(&merged(&current, &change).expect("valid"));
        assert_eq!(out.fingerprint_rules, "error.type:Foo -> foo");
        assert_eq!(out.stacktrace_rules, "module:vendor.* -app");
    }

    #[test]
    fn cli_custom_rule_replaces_by_name_and_lists_dedupe() {
        let args = ScrubArgs {
            project: "default".into(),
            org: None,
            data: None,
            defaults: Some(Switch::Off),
            ip: None,
            binary_attachments: None,
            sensitive_fields: vec!["Order_Ref".into()],
            remove_sensitive_fields: vec![],
            safe_fields: vec![],
            remove_safe_fields: vec!["api_key".into()],
            custom_rules: vec!["order=ORD-[0-9]+".into()],
            remove_custom_rules: vec![],
        };
        let current = ScrubSettings {
            sensitive_fields: vec!["order_ref".into()],
            safe_fields: vec!["api_key".into(), "x".into()],
            custom_rules: vec![CustomRule {
                pattern: "old".into(),
                name: Some("order".into()),
            }],
            ..ScrubSettings::default()
        };
        let change = args.change(&current).expect("valid flags");
        let patch = change.scrubbing.expect("a scrubbing patch");
        assert_eq!(patch.get("store_binary_attachments"), None, "not named, not changed");
        let binary = ScrubArgs {
            binary_attachments: Some(Switch::On),
            ..args.clone()
        };
        let binary = binary.change(&current).expect("valid").scrubbing.expect("patch");
        assert_eq!(binary["store_binary_attachments"], json!(true));
        assert_eq!(patch["scrub_defaults"], json!(false));
        assert_eq!(patch["sensitive_fields"], json!(["order_ref"]));
        assert_eq!(patch["safe_fields"], json!(["x"]));
        assert_eq!(
            patch["custom_rules"],
            json!([{"pattern": "ORD-[0-9]+", "name": "order"}])
        );
    }
}
