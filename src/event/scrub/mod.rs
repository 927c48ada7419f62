//! Data scrubbing: removes secrets from an event before anything is stored or logged
//! (spec/scrubbing.md). Relay's default data scrubbing is the floor; Errata closes the
//! leaks listed in §10 on top. Every change is recorded in `_meta` in Relay's format,
//! never keeping the original value.
//!
//! A [`Scrubber`] is built once per project settings (all patterns compiled there) and
//! then used for every event; scrubbing walks the event in place.

mod chunks;
mod meta;
mod rules;
mod walk;

#[cfg(test)]
mod tests;

use crate::event::json::{Map, Value};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Per-project scrubbing settings (spec/scrubbing.md §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScrubSettings {
    pub scrub_data: bool,
    pub scrub_defaults: bool,
    pub scrub_ip_addresses: bool,
    pub sensitive_fields: Vec<String>,
    pub safe_fields: Vec<String>,
    /// Extra value patterns; a match is replaced by `[Filtered]` (rule id
    /// `custom:<name>`). Applied to walked fields whenever `scrub_data` is on.
    pub custom_rules: Vec<CustomRule>,
}

impl Default for ScrubSettings {
    fn default() -> Self {
        Self {
            scrub_data: true,
            scrub_defaults: true,
            scrub_ip_addresses: false,
            sensitive_fields: Vec::new(),
            safe_fields: Vec::new(),
            custom_rules: Vec::new(),
        }
    }
}

/// A project-defined value pattern (a regular expression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomRule {
    pub pattern: String,
    /// Names the rule in `_meta` (`custom:<name>`); defaults to its position, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ScrubSettings {
    /// Reads the legacy data-scrubbing options under the names Sentry and Relay use
    /// (`scrubData`, `scrubDefaults`, `scrubIpAddresses`, `sensitiveFields`,
    /// `excludeFields`); missing options take the defaults.
    pub fn from_relay_settings(settings: &serde_json::Value) -> Result<Self, ScrubError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        struct Relay {
            scrub_data: bool,
            scrub_defaults: bool,
            scrub_ip_addresses: bool,
            sensitive_fields: Vec<String>,
            exclude_fields: Vec<String>,
        }
        impl Default for Relay {
            fn default() -> Self {
                let d = ScrubSettings::default();
                Self {
                    scrub_data: d.scrub_data,
                    scrub_defaults: d.scrub_defaults,
                    scrub_ip_addresses: d.scrub_ip_addresses,
                    sensitive_fields: d.sensitive_fields,
                    exclude_fields: d.safe_fields,
                }
            }
        }
        let relay = Relay::deserialize(settings)
            .map_err(|e| ScrubError::InvalidSetting(format!("data scrubbing options: {e}")))?;
        Ok(Self {
            scrub_data: relay.scrub_data,
            scrub_defaults: relay.scrub_defaults,
            scrub_ip_addresses: relay.scrub_ip_addresses,
            sensitive_fields: relay.sensitive_fields,
            safe_fields: relay.exclude_fields,
            custom_rules: Vec::new(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    #[error("invalid scrubbing setting: {0}")]
    InvalidSetting(String),
}

/// What one scrub run removed, by rule id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrubSummary {
    /// Substitutions (`"s"` remarks).
    pub filtered: u64,
    /// Removals (`"x"` remarks).
    pub removed: u64,
    pub rules: BTreeMap<String, u64>,
}

impl ScrubSummary {
    pub fn is_empty(&self) -> bool {
        self.filtered == 0 && self.removed == 0
    }
}

/// Scrubbing rules compiled once per project settings.
#[derive(Debug)]
pub struct Scrubber {
    settings: ScrubSettings,
    chains: rules::Chains,
    safe_fields: Vec<SafeField>,
}

/// A parsed `safe_fields` entry (§7).
#[derive(Debug, Clone, PartialEq)]
enum SafeField {
    /// A bare name: that key (or pair name) at any depth.
    Key(String),
    /// A dotted path from the event root; `*` stands for any one segment.
    Path(Vec<String>),
}

impl Scrubber {
    pub fn new(settings: &ScrubSettings) -> Result<Self, ScrubError> {
        Ok(Self {
            settings: settings.clone(),
            chains: rules::Chains::compile(settings)?,
            safe_fields: settings
                .safe_fields
                .iter()
                .filter_map(|f| parse_safe_field(f))
                .collect(),
        })
    }

    /// The settings this scrubber was built from.
    pub fn settings(&self) -> &ScrubSettings {
        &self.settings
    }

    /// Scrubs a normalised event in place and records every change in its `_meta`.
    /// Anything that is not a JSON object is left alone.
    pub fn scrub(&self, event: &mut Value<'_>) -> ScrubSummary {
        let Value::Object(map) = event else {
            return ScrubSummary::default();
        };
        if self.chains.walked.is_empty() && self.chains.ip_field.is_empty() {
            return ScrubSummary::default();
        }
        let mut existing = map.remove("_meta");
        if let Some(old) = existing.as_mut() {
            meta::scrub_original_values(self, old, map);
        }
        let (notes, summary) = {
            let mut walker = walk::Walker::new(self, existing.as_ref());
            walker.walk_event(map);
            (walker.notes, walker.summary)
        };
        if !notes.is_empty() {
            let tree = existing.get_or_insert_with(|| Value::Object(Map::new()));
            if !tree.is_object() {
                *tree = Value::Object(Map::new());
            }
            if let Value::Object(tree) = tree {
                meta::apply_notes(tree, notes);
            }
        }
        if let Some(tree) = existing {
            map.insert("_meta", tree);
        }
        summary
    }
}

/// Scrubs free text that is not part of an event: user-report comments and text
/// attachments (spec §10). The replace-style value rules apply (card numbers, IBANs,
/// PEM keys, URL passwords, SSNs, bearer/basic tokens, AWS key ids, JWTs and
/// `password=…`-style pairs), plus IP addresses, sensitive fields and custom rules when
/// the project enables them. Text stays readable: only the matches are replaced.
/// Returns the text unchanged (borrowed) when nothing matched.
pub fn scrub_free_text<'t>(scrubber: &Scrubber, text: &'t str) -> Cow<'t, str> {
    scrubber.scrub_free_text(text)
}

impl Scrubber {
    /// See [`scrub_free_text`].
    pub fn scrub_free_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let chain = &self.chains.free_text;
        if chain.is_empty() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let ctx = chunks::Context {
            key: None,
            value_words: false,
        };
        match chunks::scrub_str(&[chain], ctx, text, None) {
            chunks::Outcome::Changed(chunked) => Cow::Owned(chunked.render().0),
            chunks::Outcome::Unchanged => Cow::Borrowed(text),
            // Replace-style rules never remove a string; should one, nothing is kept.
            chunks::Outcome::Removed { .. } => Cow::Borrowed(rules::FILTERED),
        }
    }
}

/// A bare name stays a key; `a.b.c` becomes a path when every segment is a plain
/// name or `*`; anything else is taken literally as one key.
fn parse_safe_field(entry: &str) -> Option<SafeField> {
    let entry = entry.trim();
    if entry.is_empty() {
        return None;
    }
    if !entry.contains('.') {
        return Some(SafeField::Key(entry.to_owned()));
    }
    let segments: Vec<&str> = entry.split('.').collect();
    let valid = segments.iter().all(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'*'))
    });
    Some(if valid {
        SafeField::Path(segments.into_iter().map(str::to_owned).collect())
    } else {
        SafeField::Key(entry.to_owned())
    })
}
