//! Grouping: the ordered fingerprint hashes of an event (spec/grouping.md), and the
//! issue title, culprit and metadata derived from it.
//!
//! `group` resolves the fingerprint (project fingerprint rules first, then the
//! SDK's), runs the first contributing strategy (exceptions, threads,
//! top-level stack trace, message, fallback), and hashes each variant's tokens.
//! `explain` records every decision so a user can see why events were merged.

mod frames;
mod parameterize;
mod rules;
mod summary;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::LazyLock;

use crate::event::json::{Map, Value, json};
use regex::Regex;
use sha2::{Digest, Sha256};

use frames::{ExceptionFacts, PreparedStack, prepare_stacktrace};
pub use parameterize::normalize_message;
pub use rules::{FingerprintRule, RuleError};
pub use summary::summarize;

/// The grouping configuration version stored with every hash.
pub const GROUPING_CONFIG: &str = "v1";

/// Result of grouping one event.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// 1–3 SHA-256 hex hashes, primary first.
    pub hashes: Vec<String>,
    /// Why: variants, components, frames considered or skipped.
    pub explain: Value<'static>,
}

/// Title, culprit and metadata of the issue an event opens.
#[derive(Debug, Clone)]
pub struct IssueSummary {
    pub title: String,
    pub culprit: Option<String>,
    pub metadata: Value<'static>,
    /// `error` if the event has an exception, else `default`.
    pub kind: &'static str,
    /// File of the most relevant frame, for `location`.
    pub location: Option<String>,
}

/// Project grouping rules (fingerprint rules and stack-trace rules).
pub use rules::GroupingRules;

/// Computes the ordered grouping hashes of a normalised, scrubbed event, and the
/// explanation of how they came about.
pub fn group(event: &Value<'_>, rules: &GroupingRules) -> Grouping {
    group_with(event, rules, Explain::Yes)
}

/// The ordered grouping hashes alone (what ingest stores): the same decisions as `group`
/// without building the explanation, which only the grouping endpoint shows.
pub fn group_hashes(event: &Value<'_>, rules: &GroupingRules) -> Vec<String> {
    group_with(event, rules, Explain::No).hashes
}

/// Whether grouping records its decisions (`Grouping::explain`); the hashes are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Explain {
    Yes,
    No,
}

fn group_with(event: &Value<'_>, rules: &GroupingRules, detail: Explain) -> Grouping {
    let explaining = detail == Explain::Yes;
    let platform = event
        .get("platform")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("other");
    let mut explain = Map::new();
    explain.insert("config", Value::from(GROUPING_CONFIG));

    // §2: the fingerprint; a matching project rule replaces the SDK's.
    let rule = rules.matching_fingerprint_rule(event);
    let fingerprint: Vec<Cow<'_, str>> = match rule {
        Some(rule) => rule
            .fingerprint
            .iter()
            .map(|entry| Cow::Borrowed(entry.as_str()))
            .collect(),
        None => sdk_fingerprint(event),
    };
    let mode = FingerprintMode::of(&fingerprint);
    let resolved: Vec<String> = fingerprint.iter().map(|entry| resolve_entry(entry, event)).collect();
    let salt: Vec<String> = match mode {
        FingerprintMode::Default => Vec::new(),
        FingerprintMode::Custom | FingerprintMode::Hybrid => std::iter::once("fingerprint".to_owned())
            .chain(resolved.iter().map(|entry| format!("fp={entry}")))
            .collect(),
    };
    if !explaining {
        return Grouping {
            hashes: hashes_only(event, platform, rules, mode, &salt),
            explain: Value::Null,
        };
    }
    let mut fp_explain = json!({
        "kind": mode.name(),
        "values": fingerprint,
        "resolved": resolved,
        "source": if rule.is_some() { "project fingerprint rule" } else { "event" },
    });
    if let (Some(rule), Some(map)) = (rule, fp_explain.as_object_mut()) {
        map.insert("rule", Value::from(format!("line {}: {}", rule.line, rule.text)));
        if let Some(title) = &rule.title {
            map.insert("title", Value::from(title.clone()));
        }
    }
    explain.insert("fingerprint", fp_explain);

    if mode == FingerprintMode::Custom {
        let hash = hash_tokens(salt.iter().map(String::as_str));
        explain.insert("strategy", Value::from("custom fingerprint"));
        explain.insert(
            "variants",
            json!([{ "name": "custom", "contributes": true, "hash": hash, "tokens": salt }]),
        );
        insert_rules_fired(&mut explain, rule, &[]);
        return Grouping {
            hashes: vec![hash],
            explain: Value::Object(explain),
        };
    }

    let outcome = default_grouping(event, platform, rules, detail);
    let mut hashes: Vec<String> = Vec::new();
    let mut variants_explain = Vec::new();
    for variant in outcome.variants {
        let mut entry = Map::new();
        entry.insert("name", Value::from(variant.name));
        entry.insert("contributes", Value::Bool(variant.contributes));
        if variant.contributes {
            let hash = hash_tokens(
                salt.iter()
                    .map(String::as_str)
                    .chain(variant.tokens.iter().map(|t| &**t)),
            );
            if hashes.contains(&hash) {
                entry.insert("hint", Value::from("same hash as an earlier variant"));
            } else {
                hashes.push(hash.clone());
            }
            entry.insert("hash", Value::from(hash));
        }
        if let Some(reason) = variant.reason {
            entry.insert("hint", Value::from(reason));
        }
        entry.insert("tokens", strings(variant.tokens));
        variants_explain.push(Value::Object(entry));
    }
    let strategy = if hashes.is_empty() {
        let tokens: Vec<String> = salt.iter().cloned().chain(["fallback".to_owned()]).collect();
        let hash = hash_tokens(tokens.iter().map(String::as_str));
        variants_explain.push(json!({
            "name": "fallback",
            "contributes": true,
            "hash": hash,
            "tokens": ["fallback"],
            "hint": "nothing else contributed; all such events share one issue",
        }));
        hashes.push(hash);
        "fallback"
    } else {
        outcome.strategy
    };
    explain.insert("strategy", Value::from(strategy));
    if mode == FingerprintMode::Hybrid {
        explain.insert("salt", json!(salt));
    }
    explain.insert("variants", Value::Array(variants_explain));
    explain.extend(outcome.detail);
    insert_rules_fired(&mut explain, rule, &outcome.stack_rules_fired);
    Grouping {
        hashes,
        explain: Value::Object(explain),
    }
}

/// `group_with`'s hashes without the explanation: the same variants, salt and fallback.
fn hashes_only(
    event: &Value<'_>,
    platform: &str,
    rules: &GroupingRules,
    mode: FingerprintMode,
    salt: &[String],
) -> Vec<String> {
    let salted = |tokens: &[Rc<str>]| hash_tokens(salt.iter().map(String::as_str).chain(tokens.iter().map(|t| &**t)));
    if mode == FingerprintMode::Custom {
        return vec![salted(&[])];
    }
    let outcome = default_grouping(event, platform, rules, Explain::No);
    let mut hashes: Vec<String> = Vec::new();
    for variant in outcome.variants.iter().filter(|v| v.contributes) {
        let hash = salted(&variant.tokens);
        if !hashes.contains(&hash) {
            hashes.push(hash);
        }
    }
    if hashes.is_empty() {
        hashes.push(salted(&[Rc::from("fallback")]));
    }
    hashes
}

fn insert_rules_fired(explain: &mut Map<'static>, rule: Option<&FingerprintRule>, stack: &[String]) {
    let mut fired: Vec<String> = Vec::new();
    if let Some(rule) = rule {
        fired.push(format!("fingerprint rule line {}: {}", rule.line, rule.text));
    }
    let mut seen = HashSet::new();
    fired.extend(stack.iter().filter(|s| seen.insert(s.as_str())).cloned());
    if !fired.is_empty() {
        explain.insert("rules_fired", json!(fired));
    }
}

// ---------------------------------------------------------------------------
// Fingerprints (§2)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FingerprintMode {
    Default,
    Custom,
    Hybrid,
}

impl FingerprintMode {
    fn of(fingerprint: &[Cow<'_, str>]) -> Self {
        let defaults = fingerprint
            .iter()
            .filter(|e| variable_name(e) == Some("default"))
            .count();
        if fingerprint.is_empty() || (fingerprint.len() == 1 && defaults == 1) {
            Self::Default
        } else if defaults == 0 {
            Self::Custom
        } else {
            Self::Hybrid
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Custom => "custom",
            Self::Hybrid => "hybrid",
        }
    }
}

/// The SDK's fingerprint: its strings borrowed, numbers and booleans as text.
fn sdk_fingerprint<'e>(event: &'e Value<'_>) -> Vec<Cow<'e, str>> {
    let Some(list) = event.get("fingerprint").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| match entry {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        })
        .collect()
}

static VARIABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\{\{\s*([^{}]*?)\s*\}\}$").expect("the fingerprint variable pattern is valid"));

fn variable_name(entry: &str) -> Option<&str> {
    VARIABLE
        .captures(entry)
        .and_then(|caps| caps.get(1))
        .map(|m| m.as_str())
}

/// Resolves one fingerprint entry: a literal, or a `{{ variable }}`.
fn resolve_entry(entry: &str, event: &Value<'_>) -> String {
    let Some(name) = variable_name(entry) else {
        return entry.to_owned();
    };
    let last_exception = lookup(event, "/exception/values")
        .and_then(Value::as_array)
        .and_then(|values| values.last());
    let exception_str = |key: &str| {
        last_exception
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let event_str = |key: &str| event.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let frame_str = |keys: &[&str]| {
        let frame = crash_frame(event)?;
        keys.iter()
            .find_map(|key| frame.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()))
    };
    let or = |value: Option<&str>, missing: &str| value.map_or_else(|| missing.to_owned(), str::to_owned);
    match name {
        "default" => "{{ default }}".to_owned(),
        "type" | "error.type" => or(exception_str("type"), "<no-type>"),
        "value" | "error.value" => or(exception_str("value"), "<no-value>"),
        "message" => {
            let text = lookup(event, "/logentry/formatted")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| {
                    lookup(event, "/logentry/message")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                })
                .or_else(|| exception_str("value"));
            text.map_or_else(|| "<no-message>".to_owned(), normalize_message)
        }
        "function" | "stack.function" => or(frame_str(&["function"]), "<no-function>"),
        "module" | "stack.module" => or(frame_str(&["module"]), "<no-module>"),
        "path" | "stack.abs_path" => or(frame_str(&["abs_path", "filename"]), "<no-abs-path>"),
        "stack.filename" => or(frame_str(&["filename", "abs_path"]), "<no-filename>"),
        "transaction" => or(event_str("transaction"), "<no-transaction>"),
        "level" => or(event_str("level"), "<no-level>"),
        "logger" => or(event_str("logger"), "<no-logger>"),
        tag if tag.starts_with("tags.") => {
            let tag = tag.get(5..).unwrap_or_default();
            or(rules::tag_value(event, tag), &format!("<no-value-for-tag-{tag}>"))
        }
        other => format!("<unrecognized-variable-{other}>"),
    }
}

/// `Value::pointer` for paths made of object keys only (no `~` escapes, no array
/// indices), without the two strings `pointer` allocates per segment to unescape it.
pub(crate) fn lookup<'a, 'v>(value: &'a Value<'v>, path: &str) -> Option<&'a Value<'v>> {
    path.split('/')
        .skip(1)
        .try_fold(value, |node, key| node.as_object()?.get(key))
}

/// The last in-app frame of the last exception's stack trace (or of the
/// top-level stack trace), else its last frame.
pub(crate) fn crash_frame<'a, 'v>(event: &'a Value<'v>) -> Option<&'a Map<'v>> {
    let stack = lookup(event, "/exception/values")
        .and_then(Value::as_array)
        .and_then(|values| values.last())
        .and_then(|e| e.get("stacktrace"))
        .or_else(|| event.get("stacktrace"))?;
    let frames = stack.get("frames").and_then(Value::as_array)?;
    frames
        .iter()
        .rev()
        .filter_map(Value::as_object)
        .find(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .or_else(|| frames.iter().rev().find_map(Value::as_object))
}

// ---------------------------------------------------------------------------
// Default grouping: strategies (§3) and variants (§8)

#[derive(Debug, Clone)]
struct Variant {
    name: &'static str,
    tokens: Vec<Rc<str>>,
    contributes: bool,
    reason: Option<String>,
}

/// Variants of one strategy and what the explanation shows of its input.
type StrategyResult = (Vec<Variant>, Map<'static>);

struct DefaultOutcome {
    strategy: &'static str,
    variants: Vec<Variant>,
    detail: Map<'static>,
    stack_rules_fired: Vec<String>,
}

/// A JSON array of strings, without cloning them.
fn strings(list: Vec<Rc<str>>) -> Value<'static> {
    Value::Array(list.iter().map(|t| Value::from(t.to_string())).collect())
}

fn default_grouping(event: &Value<'_>, platform: &str, rules: &GroupingRules, explain: Explain) -> DefaultOutcome {
    let mut fired = Vec::new();
    if let Some((variants, detail)) = exception_strategy(event, platform, rules, &mut fired, explain) {
        return DefaultOutcome {
            strategy: "exception",
            variants,
            detail,
            stack_rules_fired: fired,
        };
    }
    if let Some(stack) = pick_thread(event)
        && let Some((variants, detail)) = stacktrace_strategy(stack, platform, rules, &mut fired, explain)
    {
        return DefaultOutcome {
            strategy: "threads",
            variants,
            detail,
            stack_rules_fired: fired,
        };
    }
    if let Some(stack) = event.get("stacktrace")
        && let Some((variants, detail)) = stacktrace_strategy(stack, platform, rules, &mut fired, explain)
    {
        return DefaultOutcome {
            strategy: "stacktrace",
            variants,
            detail,
            stack_rules_fired: fired,
        };
    }
    if let Some((variant, detail)) = message_strategy(event) {
        return DefaultOutcome {
            strategy: "message",
            variants: vec![variant],
            detail,
            stack_rules_fired: fired,
        };
    }
    DefaultOutcome {
        strategy: "fallback",
        variants: Vec::new(),
        detail: Map::new(),
        stack_rules_fired: fired,
    }
}

/// Grouping facts of one exception, for both variants.
struct ExceptionInfo {
    /// Tokens for the app and system variants.
    tokens: [Vec<Rc<str>>; 2],
    /// Whether the stack trace contributes, per variant.
    stack_contributes: [bool; 2],
    explain: Value<'static>,
}

const VARIANT_NAMES: [&str; 2] = ["app", "system"];

fn exception_strategy(
    event: &Value<'_>,
    platform: &str,
    rules: &GroupingRules,
    fired: &mut Vec<String>,
    explain: Explain,
) -> Option<StrategyResult> {
    let values = lookup(event, "/exception/values").and_then(Value::as_array)?;
    let exceptions: Vec<&Value<'_>> = values.iter().filter(|v| v.is_object()).collect();
    if exceptions.is_empty() {
        return None;
    }
    let infos: Vec<ExceptionInfo> = exceptions
        .iter()
        .map(|exception| exception_info(exception, platform, rules, fired, explain))
        .collect();
    let (order, group_note) = exception_order(&exceptions, &infos);

    let mut variants = Vec::with_capacity(2);
    for (v, name) in VARIANT_NAMES.iter().enumerate() {
        let mut tokens = vec![Rc::<str>::from("exception")];
        let mut contributes = false;
        let mut stack = false;
        for &i in &order {
            let Some(info) = infos.get(i) else { continue };
            let (Some(exc_tokens), Some(exc_stack)) = (info.tokens.get(v), info.stack_contributes.get(v)) else {
                continue;
            };
            contributes |= !exc_tokens.is_empty();
            stack |= *exc_stack;
            tokens.extend(exc_tokens.iter().cloned());
        }
        variants.push((
            Variant {
                name,
                tokens,
                contributes,
                reason: (!contributes).then(|| "no exception type, value or frames".to_owned()),
            },
            stack,
        ));
    }
    let mut detail = Map::new();
    if explain == Explain::Yes {
        let used: Vec<Value> = order.iter().map(|&i| Value::from(i)).collect();
        detail.insert(
            "exceptions",
            Value::Array(infos.into_iter().map(|info| info.explain).collect()),
        );
        detail.insert("exceptions_used", Value::Array(used));
        if let Some(note) = group_note {
            detail.insert("exception_group", Value::from(note));
        }
    }
    // §6.2 pruning: a variant without any contributing stack trace is dropped
    // when another variant has one.
    let any_stack = variants.iter().any(|(_, stack)| *stack);
    let variants: Vec<Variant> = variants
        .into_iter()
        .map(|(mut variant, stack)| {
            if any_stack && !stack && variant.contributes {
                variant.contributes = false;
                variant.reason = Some(format!(
                    "dropped: no contributing frames in the {} variant while another variant has some",
                    variant.name
                ));
            }
            variant
        })
        .collect();
    variants.iter().any(|v| v.contributes).then_some((variants, detail))
}

fn exception_info(
    exception: &Value<'_>,
    platform: &str,
    rules: &GroupingRules,
    fired: &mut Vec<String>,
    explain: Explain,
) -> ExceptionInfo {
    let ty = exception.get("type").and_then(Value::as_str).filter(|s| !s.is_empty());
    let value = exception.get("value").and_then(Value::as_str).filter(|s| !s.is_empty());
    let synthetic = lookup(exception, "/mechanism/synthetic").and_then(Value::as_bool) == Some(true);
    let stack = exception
        .get("stacktrace")
        .map(|s| {
            prepare_stacktrace(
                s,
                platform,
                rules,
                ExceptionFacts {
                    error_type: ty,
                    error_value: value,
                },
            )
        })
        .unwrap_or_default();
    if explain == Explain::Yes {
        collect_fired(&stack, fired);
    }
    let build = |app_only: bool| {
        let component = stack.component(app_only);
        let mut tokens = Vec::new();
        if let (Some(ty), false) = (ty, synthetic) {
            tokens.push(Rc::from(format!("type={ty}")));
        }
        let value_token = if component.is_empty() {
            value
                .map(|v| format!("value={}", normalize_message(v)))
                .filter(|t| t != "value=")
                .map(Rc::from)
        } else {
            None
        };
        let value_used = value_token.is_some();
        tokens.extend(value_token);
        let stack_contributes = !component.is_empty();
        tokens.extend(component);
        (tokens, stack_contributes, value_used)
    };
    let (app_tokens, app_stack, app_value) = build(true);
    let (system_tokens, system_stack, system_value) = build(false);
    if explain == Explain::No {
        return ExceptionInfo {
            tokens: [app_tokens, system_tokens],
            stack_contributes: [app_stack, system_stack],
            explain: Value::Null,
        };
    }
    let mut explain = Map::new();
    explain.insert("type", ty.map_or(Value::Null, |ty| Value::from(ty.to_owned())));
    explain.insert(
        "type_used",
        Value::from(if synthetic {
            "no: synthetic exception"
        } else if ty.is_some() {
            "yes"
        } else {
            "no: missing"
        }),
    );
    explain.insert("value_used", json!({"app": app_value, "system": system_value}));
    explain.insert("stacktrace", stack.explain());
    ExceptionInfo {
        tokens: [app_tokens, system_tokens],
        stack_contributes: [app_stack, system_stack],
        explain: Value::Object(explain),
    }
}

fn collect_fired(stack: &PreparedStack, fired: &mut Vec<String>) {
    for frame in &stack.frames {
        fired.extend(
            frame
                .notes
                .iter()
                .filter(|n| n.starts_with("stack-trace rule"))
                .cloned(),
        );
    }
}

/// Most exceptions nested this deep are malformed; the walk stops there.
const MAX_GROUP_DEPTH: usize = 64;

/// The order in which exceptions contribute (§6.2/§6.3): the list as sent,
/// or for exception groups the distinct top-level exceptions.
fn exception_order(exceptions: &[&Value<'_>], infos: &[ExceptionInfo]) -> (Vec<usize>, Option<String>) {
    let as_sent = ((0..exceptions.len()).collect(), None);
    if exceptions.len() < 2 {
        return as_sent;
    }
    let mechanism_int = |e: &Value<'_>, key: &str| e.get("mechanism").and_then(|m| m.get(key)).and_then(Value::as_u64);
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    let mut parents: Vec<Option<u64>> = Vec::with_capacity(exceptions.len());
    for (i, exception) in exceptions.iter().enumerate() {
        let Some(id) = mechanism_int(exception, "exception_id") else {
            return as_sent;
        };
        let parent = mechanism_int(exception, "parent_id");
        if by_id.insert(id, i).is_some() || parent == Some(id) {
            return as_sent;
        }
        parents.push(parent);
    }
    let Some(&root) = by_id.get(&0) else {
        return as_sent;
    };
    let mut children_of: HashMap<u64, Vec<usize>> = HashMap::new();
    for (child, parent) in parents.iter().enumerate() {
        if let Some(parent) = parent {
            children_of.entry(*parent).or_default().push(child);
        }
    }
    let ids: Vec<u64> = exceptions
        .iter()
        .filter_map(|e| mechanism_int(e, "exception_id"))
        .collect();
    let children = |node: usize| -> &[usize] {
        ids.get(node)
            .and_then(|id| children_of.get(id))
            .map_or(&[], Vec::as_slice)
    };
    let is_group = |i: usize| {
        exceptions
            .get(i)
            .and_then(|e| lookup(e, "/mechanism/is_exception_group"))
            .and_then(Value::as_bool)
            == Some(true)
    };

    // 1. Top-level exceptions: groups are replaced by their children.
    let mut top_level = Vec::new();
    let mut visited = HashSet::new();
    let mut pending = vec![(root, 0usize)];
    while let Some((node, depth)) = pending.pop() {
        if !visited.insert(node) || depth > MAX_GROUP_DEPTH {
            continue;
        }
        if is_group(node) {
            // Reverse so the stack pops children in list order.
            pending.extend(children(node).iter().rev().map(|&c| (c, depth + 1)));
        } else {
            top_level.push(node);
        }
    }
    // 2. Sort by type descending and drop repeats of the predecessor.
    let type_of = |i: usize| {
        exceptions
            .get(i)
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    top_level.sort_by(|a, b| type_of(*b).cmp(type_of(*a)));
    let same_tokens = |a: usize, b: usize| match (infos.get(a), infos.get(b)) {
        (Some(x), Some(y)) => x.tokens == y.tokens,
        _ => false,
    };
    let mut distinct: Vec<usize> = Vec::new();
    for node in top_level {
        if distinct.last().is_none_or(|&prev| !same_tokens(prev, node)) {
            distinct.push(node);
        }
    }
    let mut order = match distinct.as_slice() {
        // 3. One distinct exception: it and its chain of first children.
        [single] => {
            let mut chain = vec![*single];
            let mut seen: HashSet<usize> = chain.iter().copied().collect();
            let mut node = *single;
            while let Some(&first) = children(node).first() {
                if !seen.insert(first) || chain.len() > MAX_GROUP_DEPTH {
                    break;
                }
                chain.push(first);
                node = first;
            }
            chain
        }
        // 4. Several: the distinct ones followed by the root.
        many => many.iter().copied().chain(std::iter::once(root)).collect(),
    };
    // Keep the list convention (causes first, outermost last) so a chain
    // grouped through its ids hashes like the same chain sent without them.
    order.reverse();
    let note = format!(
        "exception tree: {} exceptions considered of {} sent",
        order.len(),
        exceptions.len()
    );
    (order, Some(note))
}

/// The thread to group on: the only crashed, else the only current, else
/// the only thread.
fn pick_thread<'a, 'v>(event: &'a Value<'v>) -> Option<&'a Value<'v>> {
    let threads = lookup(event, "/threads/values").and_then(Value::as_array)?;
    let only = |flag: &str| {
        let mut matching = threads
            .iter()
            .filter(|t| t.get(flag).and_then(Value::as_bool) == Some(true));
        match (matching.next(), matching.next()) {
            (Some(thread), None) => Some(thread),
            _ => None,
        }
    };
    let thread = only("crashed")
        .or_else(|| only("current"))
        .or(match threads.as_slice() {
            [single] => Some(single),
            _ => None,
        })?;
    thread.get("stacktrace")
}

fn stacktrace_strategy(
    stack: &Value<'_>,
    platform: &str,
    rules: &GroupingRules,
    fired: &mut Vec<String>,
    explain: Explain,
) -> Option<StrategyResult> {
    let prepared = prepare_stacktrace(stack, platform, rules, ExceptionFacts::default());
    if explain == Explain::Yes {
        collect_fired(&prepared, fired);
    }
    let variants: Vec<Variant> = VARIANT_NAMES
        .iter()
        .map(|name| {
            let app_only = *name == "app";
            let component = prepared.component(app_only);
            let contributes = !component.is_empty();
            let tokens = if contributes {
                std::iter::once(Rc::<str>::from("stacktrace"))
                    .chain(component)
                    .collect()
            } else {
                Vec::new()
            };
            Variant {
                name,
                tokens,
                contributes,
                reason: (!contributes).then(|| "no contributing frames".to_owned()),
            }
        })
        .collect();
    let mut detail = Map::new();
    if explain == Explain::Yes {
        detail.insert("stacktrace", prepared.explain());
    }
    variants.iter().any(|v| v.contributes).then_some((variants, detail))
}

fn message_strategy(event: &Value<'_>) -> Option<(Variant, Map<'static>)> {
    let non_empty = |key: &str| {
        lookup(event, key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let (source, text) = non_empty("/logentry/message")
        .map(|t| ("logentry.message", t))
        .or_else(|| non_empty("/logentry/formatted").map(|t| ("logentry.formatted", t)))
        .or_else(|| non_empty("/message").map(|t| ("message", t)))?;
    let normalized = normalize_message(text);
    if normalized.trim().is_empty() {
        return None;
    }
    let mut detail = Map::new();
    detail.insert("message_source", Value::from(source));
    Some((
        Variant {
            name: "default",
            tokens: vec![Rc::from(format!("message={normalized}"))],
            contributes: true,
            reason: None,
        },
        detail,
    ))
}

// ---------------------------------------------------------------------------
// Hashing (§9)

/// SHA-256 over `grouping:v1` and the tokens, each encoded as
/// `<byte length>:<bytes>,`.
fn hash_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    let mut feed = |token: &str| {
        hasher.update(decimal(token.len(), &mut [0; 20]));
        hasher.update(b":");
        hasher.update(token.as_bytes());
        hasher.update(b",");
    };
    feed(HASH_PREFIX);
    for token in tokens {
        feed(token);
    }
    lower_hex(&hasher.finalize())
}

/// The first hashed token, `grouping:<GROUPING_CONFIG>`, spelled out (a test keeps them equal).
const HASH_PREFIX: &str = "grouping:v1";

/// Lower-case hex of a digest; `hex::encode` collects it one `char` at a time.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// `n` in decimal ASCII, written into `buf` (no allocation per token).
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            // `n % 10` is a single digit.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    buf.get(at..).unwrap_or_default()
}

#[cfg(test)]
mod tests;
