//! Project grouping rules in Sentry's text syntax: fingerprint rules
//! (`error.type:DatabaseUnavailable -> system-down`) that set an event's
//! fingerprint, and stack-trace rules (`stack.function:malloc -group`,
//! `family:javascript stack.abs_path:**/node_modules/** -app`) that change a
//! frame's in-app state or exclude it from grouping. Rules are parsed once and
//! apply to every event grouped with them afterwards.

use crate::event::json::Value;
use regex::{Regex, RegexBuilder};

use super::{frames, lookup};

/// Why a rule text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("fingerprint rules, line {line}: {reason}")]
    Fingerprint { line: usize, reason: String },
    #[error("stack-trace rules, line {line}: {reason}")]
    Stacktrace { line: usize, reason: String },
}

/// Project grouping rules (fingerprint rules and stack-trace rules).
/// `GroupingRules::default()` has no rules.
#[derive(Debug, Clone, Default)]
pub struct GroupingRules {
    fingerprint: Vec<FingerprintRule>,
    stacktrace: Vec<StacktraceRule>,
}

/// A fingerprint rule: when all matchers match, the event's fingerprint is
/// replaced by `fingerprint`.
#[derive(Debug, Clone)]
pub struct FingerprintRule {
    pub line: usize,
    pub text: String,
    matchers: Vec<Matcher>,
    pub fingerprint: Vec<String>,
    /// Optional `title="…"` attribute.
    pub title: Option<String>,
}

#[derive(Debug, Clone)]
struct StacktraceRule {
    line: usize,
    text: String,
    matchers: Vec<Matcher>,
    actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    App(bool),
    Group(bool),
}

#[derive(Debug, Clone)]
struct Matcher {
    negated: bool,
    kind: MatcherKind,
}

#[derive(Debug, Clone)]
enum MatcherKind {
    ErrorType(Glob),
    ErrorValue(Glob),
    Mechanism(Glob),
    Message(Glob),
    Logger(Glob),
    Level(Glob),
    Release(Glob),
    Sdk(Glob),
    Tag(String, Glob),
    Function(Glob),
    Module(Glob),
    Path(Glob),
    Package(Glob),
    Family(Vec<String>),
    App(bool),
}

impl MatcherKind {
    fn is_frame(&self) -> bool {
        matches!(
            self,
            Self::Function(_) | Self::Module(_) | Self::Path(_) | Self::Package(_) | Self::Family(_) | Self::App(_)
        )
    }
}

/// A compiled glob: `*` (no `/` in paths), `**` (anything), `?`.
#[derive(Debug, Clone)]
struct Glob(Regex);

impl Glob {
    fn new(pattern: &str, path: bool) -> Result<Self, String> {
        let mut re = String::with_capacity(pattern.len() + 8);
        re.push('^');
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    re.push_str(".*");
                }
                '*' => re.push_str(if path { "[^/]*" } else { ".*" }),
                '?' => re.push_str(if path { "[^/]" } else { "." }),
                other => re.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
            }
        }
        re.push('$');
        RegexBuilder::new(&re)
            .case_insensitive(path)
            .size_limit(1 << 20)
            .build()
            .map(Glob)
            .map_err(|_| format!("pattern `{pattern}` is too complex"))
    }

    fn is_match(&self, value: &str) -> bool {
        self.0.is_match(value)
    }

    /// Paths match with `\` as `/`, and relative paths also as if rooted, so
    /// `**/node_modules/**` matches `node_modules/x.js`.
    fn is_path_match(&self, value: &str) -> bool {
        let value = value.replace('\\', "/");
        self.is_match(&value) || (!value.starts_with('/') && self.is_match(&format!("/{value}")))
    }
}

/// What stack-trace rules see of a frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameFacts<'a> {
    pub function: Option<&'a str>,
    pub module: Option<&'a str>,
    pub abs_path: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub package: Option<&'a str>,
    pub platform: &'a str,
    pub family: &'a str,
    pub error_type: Option<&'a str>,
    pub error_value: Option<&'a str>,
}

/// The effect of the stack-trace rules on one frame.
#[derive(Debug, Clone, Default)]
pub struct RuleOutcome {
    pub in_app: bool,
    /// `Some(false)` for `-group`, `Some(true)` for `+group`.
    pub group: Option<bool>,
    /// Descriptions of the rules that fired.
    pub fired: Vec<String>,
}

impl GroupingRules {
    /// Parses fingerprint rules and stack-trace rules (one rule per line,
    /// `#` comments, blank lines ignored).
    pub fn parse(fingerprint_rules: &str, stacktrace_rules: &str) -> Result<Self, RuleError> {
        let mut rules = GroupingRules::default();
        for (number, line) in fingerprint_rules.lines().enumerate() {
            let line_no = number + 1;
            let text = strip_comment(line).trim();
            if text.is_empty() {
                continue;
            }
            let rule = parse_fingerprint_rule(text, line_no)
                .map_err(|reason| RuleError::Fingerprint { line: line_no, reason })?;
            rules.fingerprint.push(rule);
        }
        for (number, line) in stacktrace_rules.lines().enumerate() {
            let line_no = number + 1;
            let text = strip_comment(line).trim();
            if text.is_empty() {
                continue;
            }
            let rule = parse_stacktrace_rule(text, line_no)
                .map_err(|reason| RuleError::Stacktrace { line: line_no, reason })?;
            rules.stacktrace.push(rule);
        }
        Ok(rules)
    }

    /// Whether there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.fingerprint.is_empty() && self.stacktrace.is_empty()
    }

    /// The first fingerprint rule that matches the event.
    pub fn matching_fingerprint_rule(&self, event: &Value<'_>) -> Option<&FingerprintRule> {
        if self.fingerprint.is_empty() {
            return None;
        }
        let facts = EventFacts::collect(event, self);
        self.fingerprint.iter().find(|rule| facts.matches(&rule.matchers))
    }

    /// Applies the stack-trace rules in order to one frame; later rules
    /// override earlier ones.
    pub fn apply_stacktrace_rules(&self, frame: &FrameFacts<'_>, in_app: bool) -> RuleOutcome {
        let mut outcome = RuleOutcome {
            in_app,
            group: None,
            fired: Vec::new(),
        };
        for rule in &self.stacktrace {
            let all = rule
                .matchers
                .iter()
                .all(|m| m.negated != frame_matcher_matches(&m.kind, frame, outcome.in_app));
            if !all {
                continue;
            }
            for action in &rule.actions {
                match *action {
                    Action::App(app) => outcome.in_app = app,
                    Action::Group(group) => outcome.group = Some(group),
                }
            }
            outcome
                .fired
                .push(format!("stack-trace rule line {}: {}", rule.line, rule.text));
        }
        outcome
    }
}

fn strip_comment(line: &str) -> &str {
    // `#` starts a comment unless inside quotes.
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted => return line.get(..at).unwrap_or(line),
            _ => {}
        }
    }
    line
}

/// Splits a rule text into whitespace-separated words; `"…"` quotes (with `\`
/// escapes) keep spaces and are unquoted.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => current.push(escaped),
                            None => return Err("unterminated quoted value".into()),
                        },
                        Some(other) => current.push(other),
                        None => return Err("unterminated quoted value".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

fn parse_fingerprint_rule(text: &str, line: usize) -> Result<FingerprintRule, String> {
    let Some((lhs, rhs)) = split_arrow(text) else {
        return Err("expected `matchers -> fingerprint`, found no `->`".into());
    };
    let matchers = split_words(lhs)?
        .iter()
        .map(|word| parse_matcher(word, false))
        .collect::<Result<Vec<_>, _>>()?;
    if matchers.is_empty() {
        return Err("a fingerprint rule needs at least one matcher before `->`".into());
    }
    let (fingerprint, title) = parse_fingerprint_values(rhs)?;
    if fingerprint.is_empty() {
        return Err("a fingerprint rule needs at least one fingerprint value after `->`".into());
    }
    Ok(FingerprintRule {
        line,
        text: text.to_owned(),
        matchers,
        fingerprint,
        title,
    })
}

/// Splits at the first `->` outside quotes.
fn split_arrow(text: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let bytes = text.as_bytes();
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'-' if !quoted && bytes.get(at + 1) == Some(&b'>') => {
                return Some((text.get(..at)?, text.get(at + 2..)?));
            }
            _ => {}
        }
    }
    None
}

/// Fingerprint values after `->`: comma- or space-separated, `"quoted"` or
/// bare, `{{ variable }}` kept whole; then an optional `title="…"`.
fn parse_fingerprint_values(rhs: &str) -> Result<(Vec<String>, Option<String>), String> {
    let mut values = Vec::new();
    let mut title = None;
    let mut rest = rhs.trim_start();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
            continue;
        }
        if rest.starts_with("{{") {
            let end = rest.find("}}").ok_or("unterminated `{{` in fingerprint")? + 2;
            values.push(rest.get(..end).unwrap_or_default().to_owned());
            rest = rest.get(end..).unwrap_or_default().trim_start();
            continue;
        }
        if let Some(after) = rest.strip_prefix("title=") {
            let (value, remaining) = take_value(after)?;
            title = Some(value);
            rest = remaining.trim_start();
            continue;
        }
        if rest.contains('=')
            && let Some((key, _)) = rest.split_once('=')
            && !key.contains([',', ' ', '"'])
        {
            return Err(format!(
                "unknown fingerprint attribute `{key}` (only `title` is supported)"
            ));
        }
        let (value, remaining) = take_value(rest)?;
        values.push(value);
        rest = remaining.trim_start();
    }
    Ok((values, title))
}

/// Reads one quoted or bare value (bare ends at whitespace or `,`).
fn take_value(text: &str) -> Result<(String, &str), String> {
    if let Some(inner) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = inner.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return Ok((value, inner.get(at + 1..).unwrap_or_default())),
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                c => value.push(c),
            }
        }
        return Err("unterminated quoted value".into());
    }
    let end = text.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(text.len());
    Ok((
        text.get(..end).unwrap_or_default().to_owned(),
        text.get(end..).unwrap_or_default(),
    ))
}

fn parse_stacktrace_rule(text: &str, line: usize) -> Result<StacktraceRule, String> {
    let mut matchers = Vec::new();
    let mut actions = Vec::new();
    for word in split_words(text)? {
        if let Some(action) = parse_action(&word)? {
            actions.push(action);
        } else if actions.is_empty() {
            matchers.push(parse_matcher(&word, true)?);
        } else {
            return Err(format!("matcher `{word}` after an action; matchers come first"));
        }
    }
    if matchers.is_empty() {
        return Err("a stack-trace rule needs at least one matcher".into());
    }
    if actions.is_empty() {
        return Err("a stack-trace rule needs an action (`+app`, `-app`, `+group`, `-group`)".into());
    }
    Ok(StacktraceRule {
        line,
        text: text.to_owned(),
        matchers,
        actions,
    })
}

/// `Ok(None)` when the word is not an action (so it is a matcher).
fn parse_action(word: &str) -> Result<Option<Action>, String> {
    let action = match word {
        "+app" => Action::App(true),
        "-app" => Action::App(false),
        "+group" => Action::Group(true),
        "-group" => Action::Group(false),
        w if w.starts_with(['^', 'v']) && w.get(1..2).is_some_and(|s| s == "+" || s == "-") => {
            return Err(format!(
                "range action `{w}` is not supported; use `+app`, `-app`, `+group` or `-group`"
            ));
        }
        w if w.starts_with(['+', '-']) => {
            return Err(format!(
                "unknown action `{w}`; use `+app`, `-app`, `+group` or `-group`"
            ));
        }
        w if w.contains('=') && !w.contains(':') => {
            return Err(format!(
                "unsupported action `{w}`; use `+app`, `-app`, `+group` or `-group`"
            ));
        }
        _ => return Ok(None),
    };
    Ok(Some(action))
}

fn parse_matcher(word: &str, in_stacktrace_rule: bool) -> Result<Matcher, String> {
    let (negated, word) = match word.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let Some((key, pattern)) = word.split_once(':') else {
        return Err(format!("expected `key:value`, found `{word}`"));
    };
    if pattern.is_empty() {
        return Err(format!("matcher `{key}` has an empty value"));
    }
    let plain = |p: &str| Glob::new(p, false);
    let kind = match key {
        "error.type" | "type" => MatcherKind::ErrorType(plain(pattern)?),
        "error.value" | "value" => MatcherKind::ErrorValue(plain(pattern)?),
        "error.mechanism" | "mechanism" => MatcherKind::Mechanism(plain(pattern)?),
        "message" => MatcherKind::Message(plain(pattern)?),
        "logger" => MatcherKind::Logger(plain(pattern)?),
        "level" => MatcherKind::Level(plain(pattern)?),
        "release" => MatcherKind::Release(plain(pattern)?),
        "sdk" => MatcherKind::Sdk(plain(pattern)?),
        "stack.function" | "function" => MatcherKind::Function(plain(pattern)?),
        "stack.module" | "module" => MatcherKind::Module(plain(pattern)?),
        "stack.abs_path" | "path" | "abs_path" | "stack.path" => MatcherKind::Path(Glob::new(pattern, true)?),
        "stack.package" | "package" => MatcherKind::Package(Glob::new(pattern, true)?),
        "family" => MatcherKind::Family(pattern.split(',').map(|s| s.trim().to_owned()).collect()),
        "app" => MatcherKind::App(match pattern {
            "yes" | "true" | "1" => true,
            "no" | "false" | "0" => false,
            other => return Err(format!("`app:` expects yes or no, found `{other}`")),
        }),
        tag if tag.starts_with("tags.") && tag.len() > 5 => {
            MatcherKind::Tag(tag.get(5..).unwrap_or_default().to_owned(), plain(pattern)?)
        }
        other => return Err(format!("unknown matcher `{other}`")),
    };
    if in_stacktrace_rule && !kind.is_frame() && !matches!(kind, MatcherKind::ErrorType(_) | MatcherKind::ErrorValue(_))
    {
        return Err(format!("matcher `{key}` cannot be used in stack-trace rules"));
    }
    Ok(Matcher { negated, kind })
}

fn frame_matcher_matches(kind: &MatcherKind, frame: &FrameFacts<'_>, in_app: bool) -> bool {
    match kind {
        MatcherKind::Function(g) => frame.function.is_some_and(|v| g.is_match(v)),
        MatcherKind::Module(g) => frame.module.is_some_and(|v| g.is_match(v)),
        MatcherKind::Path(g) => [frame.abs_path, frame.filename]
            .into_iter()
            .flatten()
            .any(|v| g.is_path_match(v)),
        MatcherKind::Package(g) => frame.package.is_some_and(|v| g.is_path_match(v)),
        MatcherKind::Family(families) => families.iter().any(|f| {
            f == "all"
                || f == frame.family
                || f == frame.platform
                || (f == "other" && !matches!(frame.family, "javascript" | "native"))
        }),
        MatcherKind::App(app) => *app == in_app,
        MatcherKind::ErrorType(g) => frame.error_type.is_some_and(|v| g.is_match(v)),
        MatcherKind::ErrorValue(g) => frame.error_value.is_some_and(|v| g.is_match(v)),
        _ => false,
    }
}

/// Everything fingerprint-rule matchers look at, gathered once per event.
struct EventFacts<'a> {
    exceptions: Vec<(Option<&'a str>, Option<&'a str>, Option<&'a str>)>,
    messages: Vec<&'a str>,
    event: &'a Value<'a>,
    frames: Vec<(FrameFacts<'a>, bool)>,
}

impl<'a> EventFacts<'a> {
    fn collect(event: &'a Value<'a>, rules: &GroupingRules) -> Self {
        let platform = event
            .get("platform")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("other");
        let exception_values: &[Value<'a>] = lookup(event, "/exception/values")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut exceptions = Vec::new();
        let mut messages = Vec::new();
        let mut frames = Vec::new();
        for exception in exception_values {
            let ty = exception.get("type").and_then(Value::as_str);
            let value = exception.get("value").and_then(Value::as_str);
            let mechanism = lookup(exception, "/mechanism/type").and_then(Value::as_str);
            exceptions.push((ty, value, mechanism));
            messages.extend(value);
            if let Some(stack) = exception.get("stacktrace") {
                collect_frames(stack, platform, ty, value, rules, &mut frames);
            }
        }
        for key in ["/logentry/formatted", "/logentry/message", "/message"] {
            messages.extend(lookup(event, key).and_then(Value::as_str));
        }
        if let Some(threads) = lookup(event, "/threads/values").and_then(Value::as_array) {
            for thread in threads {
                if let Some(stack) = thread.get("stacktrace") {
                    collect_frames(stack, platform, None, None, rules, &mut frames);
                }
            }
        }
        if let Some(stack) = event.get("stacktrace") {
            collect_frames(stack, platform, None, None, rules, &mut frames);
        }
        EventFacts {
            exceptions,
            messages,
            event,
            frames,
        }
    }

    fn matches(&self, matchers: &[Matcher]) -> bool {
        let (frame_matchers, event_matchers): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| m.kind.is_frame());
        let events_ok = event_matchers.iter().all(|m| m.negated != self.event_matches(&m.kind));
        events_ok
            && (frame_matchers.is_empty()
                || self.frames.iter().any(|(frame, in_app)| {
                    frame_matchers
                        .iter()
                        .all(|m| m.negated != frame_matcher_matches(&m.kind, frame, *in_app))
                }))
    }

    fn event_matches(&self, kind: &MatcherKind) -> bool {
        let field = |key: &str| self.event.get(key).and_then(Value::as_str);
        match kind {
            MatcherKind::ErrorType(g) => self.exceptions.iter().any(|e| e.0.is_some_and(|v| g.is_match(v))),
            MatcherKind::ErrorValue(g) => self.exceptions.iter().any(|e| e.1.is_some_and(|v| g.is_match(v))),
            MatcherKind::Mechanism(g) => self.exceptions.iter().any(|e| e.2.is_some_and(|v| g.is_match(v))),
            MatcherKind::Message(g) => self.messages.iter().any(|v| g.is_match(v)),
            MatcherKind::Logger(g) => field("logger").is_some_and(|v| g.is_match(v)),
            MatcherKind::Level(g) => field("level").is_some_and(|v| g.is_match(v)),
            MatcherKind::Release(g) => field("release").is_some_and(|v| g.is_match(v)),
            MatcherKind::Sdk(g) => lookup(self.event, "/sdk/name")
                .and_then(Value::as_str)
                .is_some_and(|v| g.is_match(v)),
            MatcherKind::Tag(name, g) => tag_value(self.event, name).is_some_and(|v| g.is_match(v)),
            _ => false,
        }
    }
}

fn collect_frames<'a>(
    stack: &'a Value<'a>,
    event_platform: &'a str,
    error_type: Option<&'a str>,
    error_value: Option<&'a str>,
    rules: &GroupingRules,
    out: &mut Vec<(FrameFacts<'a>, bool)>,
) {
    let Some(list) = stack.get("frames").and_then(Value::as_array) else {
        return;
    };
    let window = list
        .get(list.len().saturating_sub(frames::MAX_FRAMES)..)
        .unwrap_or_default();
    for map in window.iter().filter_map(Value::as_object) {
        let frame = frames::FrameView::new(map);
        let platform = frames::effective_platform(&frame, event_platform);
        let facts = FrameFacts {
            function: frame.function.or(frame.raw_function),
            module: frame.module,
            abs_path: frame.abs_path,
            filename: frame.filename,
            package: frame.package,
            platform,
            family: frames::family(platform),
            error_type,
            error_value,
        };
        let in_app = frames::initial_in_app(&frame).0;
        let in_app = rules.apply_stacktrace_rules(&facts, in_app).in_app;
        out.push((facts, in_app));
    }
}

/// A tag's value; tags are an object or a list of `[key, value]` pairs.
pub fn tag_value<'a>(event: &'a Value<'_>, name: &str) -> Option<&'a str> {
    match event.get("tags")? {
        Value::Object(map) => map.get(name).and_then(Value::as_str),
        Value::Array(pairs) => pairs.iter().find_map(|pair| match pair.as_array()?.as_slice() {
            [Value::String(k), Value::String(v)] if k == name => Some(v.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    #[test]
    fn parses_valid_rules() {
        let rules = GroupingRules::parse(
            "# outage\nerror.type:DatabaseUnavailable -> system-down\n\
             stack.function:\"connect *\" !error.value:*retry* -> db, {{ default }} title=\"DB down\"\n\
             message:\"*timeout*\" -> timeout  # trailing comment\n",
            "stack.function:malloc -group\n\
             family:javascript stack.abs_path:**/node_modules/** -app\n\
             module:app.* +app +group\n\
             app:no -group\n",
        );
        let rules = match rules {
            Ok(rules) => rules,
            Err(e) => panic!("valid rules rejected: {e}"),
        };
        assert_eq!(rules.fingerprint.len(), 3);
        assert_eq!(rules.stacktrace.len(), 4);
        let second = &rules.fingerprint[1];
        assert_eq!(second.fingerprint, ["db", "{{ default }}"]);
        assert_eq!(second.title.as_deref(), Some("DB down"));
        assert_eq!(second.line, 3);
        assert_eq!(rules.stacktrace[2].actions, [Action::App(true), Action::Group(true)]);
    }

    #[test]
    fn rejects_invalid_lines_with_their_line_number() {
        let cases: [(&str, &str, &str); 9] = [
            (
                "error.type:X",
                "",
                "fingerprint rules, line 1: expected `matchers -> fingerprint`",
            ),
            (
                "\n-> x",
                "",
                "fingerprint rules, line 2: a fingerprint rule needs at least one matcher",
            ),
            (
                "error.type:X ->",
                "",
                "fingerprint rules, line 1: a fingerprint rule needs at least one fingerprint value",
            ),
            ("bogus:X -> a", "", "fingerprint rules, line 1: unknown matcher `bogus`"),
            (
                "message:\"open -> a",
                "",
                "fingerprint rules, line 1: expected `matchers -> fingerprint`",
            ),
            (
                "",
                "# c\nstack.function:malloc",
                "stack-trace rules, line 2: a stack-trace rule needs an action",
            ),
            (
                "",
                "stack.function:malloc ^-group",
                "stack-trace rules, line 1: range action `^-group` is not supported",
            ),
            (
                "",
                "message:x -group",
                "stack-trace rules, line 1: matcher `message` cannot be used",
            ),
            (
                "",
                "app:maybe +app",
                "stack-trace rules, line 1: `app:` expects yes or no",
            ),
        ];
        for (fp, st, expected) in cases {
            match GroupingRules::parse(fp, st) {
                Ok(_) => panic!("accepted invalid rules {fp:?} {st:?}"),
                Err(e) => assert!(e.to_string().starts_with(expected), "{e} vs {expected}"),
            }
        }
    }

    #[test]
    fn globs_distinguish_star_and_double_star_in_paths() {
        let Ok(glob) = Glob::new("**/node_modules/**", true) else {
            panic!("valid glob")
        };
        assert!(glob.is_path_match("/app/node_modules/x/y.js"));
        assert!(glob.is_path_match("node_modules/x.js"));
        assert!(glob.is_path_match("C:\\app\\NODE_MODULES\\x.js"));
        assert!(!glob.is_path_match("/app/src/x.js"));
        let Ok(single) = Glob::new("/app/*.js", true) else {
            panic!("valid glob")
        };
        assert!(single.is_path_match("/app/x.js"));
        assert!(!single.is_path_match("/app/lib/x.js"));
        let Ok(function) = Glob::new("std::*", false) else {
            panic!("valid glob")
        };
        assert!(function.is_match("std::vec/thing"));
        assert!(!function.is_match("core::x"));
    }

    #[test]
    fn stacktrace_rules_apply_in_order_with_negation() {
        let Ok(rules) = GroupingRules::parse(
            "",
            "family:javascript stack.abs_path:**/node_modules/** -app\n\
             !stack.function:keep* -group\n\
             stack.function:keepme +group +app\n",
        ) else {
            panic!("valid rules")
        };
        let mut frame = FrameFacts {
            function: Some("render"),
            module: None,
            abs_path: Some("/srv/node_modules/react/x.js"),
            filename: None,
            package: None,
            platform: "node",
            family: "javascript",
            error_type: None,
            error_value: None,
        };
        let outcome = rules.apply_stacktrace_rules(&frame, true);
        assert!(!outcome.in_app);
        assert_eq!(outcome.group, Some(false));
        assert_eq!(outcome.fired.len(), 2);
        frame.function = Some("keepme");
        let outcome = rules.apply_stacktrace_rules(&frame, false);
        assert!(outcome.in_app);
        assert_eq!(outcome.group, Some(true));
    }

    #[test]
    fn fingerprint_rule_frame_matchers_must_match_one_frame() {
        let Ok(rules) = GroupingRules::parse(
            "stack.function:save stack.module:app.users -> users-save\n\
             error.type:Database* -> db\n\
             tags.region:eu-* -> eu\n",
            "",
        ) else {
            panic!("valid rules")
        };
        let event = json!({"exception": {"values": [{"type": "DatabaseError", "stacktrace": {"frames": [
            {"function": "save", "module": "app.orders"},
            {"function": "load", "module": "app.users"}
        ]}}]}, "tags": [["region", "eu-west"]]});
        assert_eq!(rules.matching_fingerprint_rule(&event).map(|r| r.line), Some(2));
        let event = json!({"tags": {"region": "eu-west"}, "message": "x"});
        assert_eq!(rules.matching_fingerprint_rule(&event).map(|r| r.line), Some(3));
        let event = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"function": "save", "module": "app.users"}
        ]}}]}});
        assert_eq!(rules.matching_fingerprint_rule(&event).map(|r| r.line), Some(1));
    }
}
