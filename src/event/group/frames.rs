//! Stack-frame preparation and identity for grouping (spec/grouping.md §4–5):
//! which frames are in-app, which never contribute, and the location and
//! identity tokens of each frame after the per-platform clean-ups.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::LazyLock;

use crate::event::json::{Map, Value};
use regex::Regex;

use super::rules::{FrameFacts, GroupingRules};

/// Only the frames nearest to the crash are considered.
pub const MAX_FRAMES: usize = 250;

/// One frame after preparation: its in-app state, why it is excluded (if it
/// is), and the tokens it would contribute.
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    /// Index in the frame list as sent.
    pub index: usize,
    pub in_app: bool,
    /// Why the frame never contributes (native code, recursion, rule…).
    pub excluded: Option<String>,
    pub tokens: Vec<Rc<str>>,
    /// Rules (built-in or project) that changed this frame.
    pub notes: Vec<String>,
    /// A lone URL frame without function (JavaScript single-frame rule).
    weak_single: bool,
    function: Option<String>,
}

impl PreparedFrame {
    fn contributes(&self, app_only: bool) -> bool {
        self.excluded.is_none() && !self.tokens.is_empty() && (!app_only || self.in_app)
    }
}

/// A stack trace after preparation.
#[derive(Debug, Clone, Default)]
pub struct PreparedStack {
    pub frames: Vec<PreparedFrame>,
    /// Frames dropped from the start because of the 250-frame window.
    pub dropped: usize,
}

thread_local! {
    /// The shared `frame` token, so components clone a pointer, not a string.
    static FRAME_TOKEN: Rc<str> = Rc::from("frame");
}

/// Exception facts that stack-trace rules may match on.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExceptionFacts<'a> {
    pub error_type: Option<&'a str>,
    pub error_value: Option<&'a str>,
}

impl PreparedStack {
    /// The stack-trace component of a variant: `frame` + tokens for every
    /// contributing frame. Empty when nothing contributes.
    pub fn component(&self, app_only: bool) -> Vec<Rc<str>> {
        if let [only] = self.frames.as_slice()
            && only.weak_single
        {
            return Vec::new();
        }
        let frame_token = FRAME_TOKEN.with(Rc::clone);
        let mut out = Vec::with_capacity(self.frames.len() * 3);
        for frame in &self.frames {
            if frame.contributes(app_only) {
                out.push(frame_token.clone());
                out.extend(frame.tokens.iter().cloned());
            }
        }
        out
    }

    /// Per-frame explanation, one line per frame: index, in-app state,
    /// function, tokens, and the variants it contributes to or why it is
    /// skipped (e.g. `#3 in-app save: module=app.orders function=save -> app, system`).
    pub fn explain(&self) -> Value<'static> {
        let single_weak = matches!(self.frames.as_slice(), [only] if only.weak_single);
        let frames: Vec<Value<'static>> = self
            .frames
            .iter()
            .map(|frame| {
                let function = frame.function.as_deref().unwrap_or("?");
                let capacity = 48 + function.len() + frame.tokens.iter().map(|t| t.len() + 1).sum::<usize>();
                let mut line = String::with_capacity(capacity);
                line.push('#');
                line.push_str(&frame.index.to_string());
                line.push_str(if frame.in_app { " in-app " } else { " system " });
                line.push_str(function);
                line.push(':');
                for token in &frame.tokens {
                    line.push(' ');
                    line.push_str(token);
                }
                let skipped = if let Some(reason) = &frame.excluded {
                    Some(reason.as_str())
                } else if frame.tokens.is_empty() {
                    Some("no tokens (no usable module, filename, function or context line)")
                } else if single_weak {
                    Some("a single URL frame without function is too weak to group on")
                } else {
                    None
                };
                match (skipped, frame.in_app) {
                    (Some(reason), _) => {
                        line.push_str(" -> skipped: ");
                        line.push_str(reason);
                    }
                    (None, true) => line.push_str(" -> app, system"),
                    (None, false) => line.push_str(" -> system (not in-app)"),
                }
                for note in &frame.notes {
                    line.push_str("; ");
                    line.push_str(note);
                }
                Value::from(line)
            })
            .collect();
        let mut out = Map::new();
        out.insert("frames", Value::Array(frames));
        if self.dropped > 0 {
            out.insert(
                "frames_dropped",
                Value::from(format!("{} oldest frames beyond the last {MAX_FRAMES}", self.dropped)),
            );
        }
        Value::Object(out)
    }
}

/// Prepares the frames of one stack trace (§4): window, in-app, exclusions,
/// project stack-trace rules, tokens.
pub fn prepare_stacktrace(
    stacktrace: &Value<'_>,
    event_platform: &str,
    rules: &GroupingRules,
    exception: ExceptionFacts<'_>,
) -> PreparedStack {
    let Some(frames) = stacktrace.get("frames").and_then(Value::as_array) else {
        return PreparedStack::default();
    };
    let dropped = frames.len().saturating_sub(MAX_FRAMES);
    let window = frames.get(dropped..).unwrap_or_default();
    let mut prepared = Vec::with_capacity(window.len());
    let mut previous: Option<FrameView<'_>> = None;
    for (offset, raw) in window.iter().enumerate() {
        let index = dropped + offset;
        let Some(map) = raw.as_object() else {
            previous = None;
            prepared.push(PreparedFrame {
                index,
                in_app: false,
                excluded: Some("not a frame object".into()),
                tokens: Vec::new(),
                notes: Vec::new(),
                weak_single: false,
                function: None,
            });
            continue;
        };
        let frame = FrameView::new(map);
        let recursion = previous.as_ref().is_some_and(|prev| prev.same_call_site(&frame));
        prepared.push(prepare_frame(
            index,
            &frame,
            event_platform,
            rules,
            exception,
            recursion,
        ));
        previous = Some(frame);
    }
    PreparedStack {
        frames: prepared,
        dropped,
    }
}

fn prepare_frame(
    index: usize,
    frame: &FrameView<'_>,
    event_platform: &str,
    rules: &GroupingRules,
    exception: ExceptionFacts<'_>,
    recursion: bool,
) -> PreparedFrame {
    let platform = effective_platform(frame, event_platform);
    let family = family(platform);
    let mut notes = Vec::new();

    let (mut in_app, builtin) = initial_in_app(frame);
    notes.extend(builtin);

    let raw_function = frame.function.or(frame.raw_function);
    let mut excluded = never_contributes(frame, family, raw_function);
    if recursion {
        excluded = Some("recursion: same as the frame before".into());
    }

    let facts = FrameFacts {
        function: raw_function,
        module: frame.module,
        abs_path: frame.abs_path,
        filename: frame.filename,
        package: frame.package,
        platform,
        family,
        error_type: exception.error_type,
        error_value: exception.error_value,
    };
    let outcome = rules.apply_stacktrace_rules(&facts, in_app);
    in_app = outcome.in_app;
    notes.extend(outcome.fired);
    match outcome.group {
        Some(false) => excluded = Some("excluded by a stack-trace rule (-group)".into()),
        Some(true) if !recursion => excluded = None,
        _ => {}
    }

    let tokens = frame_tokens(frame, platform);
    let weak_single =
        family == "javascript" && frame.function.is_none() && frame.abs_path.is_some_and(|p| is_url(p, true));
    PreparedFrame {
        index,
        in_app,
        excluded,
        tokens,
        notes,
        weak_single,
        function: raw_function.map(str::to_owned),
    }
}

/// In-app as sent, overridden by the built-in rules (§4.2); the second value
/// describes the built-in rule that turned an in-app frame into a system one.
pub fn initial_in_app(frame: &FrameView<'_>) -> (bool, Option<String>) {
    let sent = frame.in_app == Some(true);
    match builtin_not_in_app(frame) {
        Some(rule) if sent => (false, Some(format!("built-in rule: {rule} -> not in-app"))),
        Some(_) => (false, None),
        None => (sent, None),
    }
}

/// `frame.platform`, else the event's platform, else `other`.
pub fn effective_platform<'a>(frame: &FrameView<'a>, event_platform: &'a str) -> &'a str {
    frame.platform.unwrap_or(event_platform)
}

/// The platform family used by the clean-ups and the `family:` matcher.
pub fn family(platform: &str) -> &str {
    match platform {
        "javascript" | "node" => "javascript",
        "native" | "c" | "cocoa" | "objc" | "swift" => "native",
        other => other,
    }
}

/// The fields of a frame that grouping reads, looked up once.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameView<'a> {
    pub function: Option<&'a str>,
    pub raw_function: Option<&'a str>,
    pub module: Option<&'a str>,
    pub abs_path: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub package: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub context_line: Option<&'a str>,
    pub lineno: Option<&'a Value<'a>>,
    pub in_app: Option<bool>,
    /// Raw values compared by the recursion rule.
    call_site: [Option<&'a Value<'a>>; 7],
}

impl<'a> FrameView<'a> {
    pub fn new(frame: &'a Map<'a>) -> Self {
        let mut view = FrameView::default();
        let text = |v: &'a Value<'a>| v.as_str().filter(|s| !s.is_empty());
        for (key, value) in frame {
            match key.as_str() {
                "function" => {
                    view.function = text(value);
                    view.call_site[0] = Some(value);
                }
                "raw_function" => view.raw_function = text(value),
                "module" => {
                    view.module = text(value);
                    view.call_site[1] = Some(value);
                }
                "abs_path" => {
                    view.abs_path = text(value);
                    view.call_site[2] = Some(value);
                }
                "filename" => {
                    view.filename = text(value);
                    view.call_site[3] = Some(value);
                }
                "package" => {
                    view.package = text(value);
                    view.call_site[4] = Some(value);
                }
                "lineno" => {
                    view.lineno = Some(value);
                    view.call_site[5] = Some(value);
                }
                "colno" => view.call_site[6] = Some(value),
                "platform" => view.platform = text(value),
                "context_line" => view.context_line = text(value),
                "in_app" => view.in_app = value.as_bool(),
                _ => {}
            }
        }
        view
    }

    /// Recursion (§4.3): `abs_path`, `package`, `module`, `filename`,
    /// `function`, `lineno` and `colno` all equal, as sent.
    fn same_call_site(&self, other: &FrameView<'_>) -> bool {
        self.call_site == other.call_site
    }
}

/// A non-empty string field.
pub fn str_field<'a>(frame: &'a Map<'_>, key: &str) -> Option<&'a str> {
    frame.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

const NOT_IN_APP_PATH_PARTS: [&str; 6] = [
    "/node_modules/",
    "/site-packages/",
    "/dist-packages/",
    "/vendor/",
    "/go/pkg/mod/",
    "/.local/share/",
];
static LIBRARY_PATH_PART: LazyLock<Regex> = LazyLock::new(|| {
    let alternation: Vec<String> = NOT_IN_APP_PATH_PARTS.iter().map(|p| regex::escape(p)).collect();
    Regex::new(&alternation.join("|")).expect("the library path parts are valid literals")
});
const NOT_IN_APP_PATH_PREFIXES: [&str; 6] = [
    "/usr/lib/",
    "/lib/",
    "https://unpkg.com/",
    "https://cdnjs.cloudflare.com/",
    "https://cdn.jsdelivr.net/",
    "https://esm.run/",
];
const POLYFILL_MODULE_PREFIXES: [&str; 4] = ["@babel/", "core-js/", "regenerator-runtime/", "tslib/"];
const NODE_QUEUE_FUNCTIONS: [&str; 5] = [
    "runMicrotasks",
    "queueMicrotask",
    "processTicksAndRejections",
    "runNextTicks",
    "nextTick",
];

/// A built-in "not in-app" rule (§4.2); formatted only when a note is written,
/// since most library frames are already sent as not in-app.
#[derive(Debug, Clone, Copy)]
enum BuiltinRule {
    PathContains(&'static str),
    PathStartsWith(&'static str),
    ModuleStartsWith(&'static str),
}

impl std::fmt::Display for BuiltinRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PathContains(part) => write!(f, "path contains {part}"),
            Self::PathStartsWith(prefix) => write!(f, "path starts with {prefix}"),
            Self::ModuleStartsWith(prefix) => write!(f, "module starts with {prefix}"),
        }
    }
}

/// The built-in "not in-app" rule that matches the frame, if any (§4.2).
fn builtin_not_in_app(frame: &FrameView<'_>) -> Option<BuiltinRule> {
    if let Some(path) = frame.abs_path.or(frame.filename) {
        let path: Cow<'_, str> = if path.contains('\\') {
            Cow::Owned(path.replace('\\', "/"))
        } else {
            Cow::Borrowed(path)
        };
        // One pass over the path for all parts (many frames, many parts).
        if let Some(found) = LIBRARY_PATH_PART.find(&path) {
            // The match is one of the parts; the lookup gives it a static lifetime.
            let part = NOT_IN_APP_PATH_PARTS
                .iter()
                .find(|p| **p == found.as_str())
                .copied()
                .unwrap_or("a library directory");
            return Some(BuiltinRule::PathContains(part));
        }
        if let Some(prefix) = NOT_IN_APP_PATH_PREFIXES.iter().find(|p| path.starts_with(*p)) {
            return Some(BuiltinRule::PathStartsWith(prefix));
        }
    }
    let module = frame.module?;
    POLYFILL_MODULE_PREFIXES
        .iter()
        .find(|p| module.starts_with(*p))
        .map(|prefix| BuiltinRule::ModuleStartsWith(prefix))
}

/// Why a frame never contributes (§4.3, recursion handled by the caller).
fn never_contributes(frame: &FrameView<'_>, family: &str, function: Option<&str>) -> Option<String> {
    if let Some(module) = frame.module
        && let Some(prefix) = POLYFILL_MODULE_PREFIXES.iter().find(|p| module.starts_with(*p))
    {
        return Some(format!("transpiler/polyfill frame (module {prefix})"));
    }
    if family != "javascript" {
        return None;
    }
    if let Some(abs_path) = frame.abs_path
        && matches!(abs_path, "[native code]" | "native code" | "eval code" | "<anonymous>")
    {
        return Some(format!("browser-inserted frame ({abs_path})"));
    }
    let last = function.map(last_dotted_segment)?;
    if last == "eval" {
        return Some("eval frame".into());
    }
    if NODE_QUEUE_FUNCTIONS.contains(&last) {
        return Some(format!("Node internal queue frame ({last})"));
    }
    None
}

fn last_dotted_segment(function: &str) -> &str {
    function.rsplit('.').next().unwrap_or(function)
}

/// Location and identity tokens of one frame (§5).
pub fn frame_tokens(frame: &FrameView<'_>, platform: &str) -> Vec<Rc<str>> {
    let family = family(platform);
    let abs_path = frame.abs_path;
    let function = clean_function(frame, platform);
    // One reusable buffer: each token costs a single allocation.
    let mut buf = String::with_capacity(128);
    let mut token = |kind: &str, value: &str| {
        buf.clear();
        buf.push_str(kind);
        buf.push('=');
        buf.push_str(value);
        Rc::<str>::from(buf.as_str())
    };

    let location = if let Some(module) = clean_module(frame, platform) {
        Some(token("module", &module))
    } else if family == "native" && function.is_some() {
        None
    } else {
        clean_filename(frame, platform).map(|f| token("filename", &f))
    };

    let mut tokens: Vec<Rc<str>> = Vec::with_capacity(2);
    let has_location = location.is_some();
    tokens.extend(location);
    if let Some(function) = function {
        tokens.push(token("function", &function));
    } else if let Some(line) = usable_context_line(frame, platform, abs_path) {
        tokens.push(token("context", &line));
    } else if has_location
        && family != "javascript"
        && let Some(lineno) = frame.lineno.filter(|v| v.is_u64() || v.is_i64())
    {
        tokens.push(token("lineno", &lineno.to_string()));
    }
    tokens
}

fn usable_context_line(frame: &FrameView<'_>, platform: &str, abs_path: Option<&str>) -> Option<String> {
    if !matches!(platform, "python" | "javascript" | "node" | "php" | "ruby") {
        return None;
    }
    let line = frame.context_line?;
    if line.chars().count() > 120 {
        return None;
    }
    if family(platform) == "javascript" && abs_path.is_some_and(|p| is_url(p, true)) {
        return None;
    }
    let normalized = line.split_whitespace().collect::<Vec<_>>().join(" ");
    (!normalized.is_empty()).then_some(normalized)
}

/// Whether a path is served from a URL (`file:` only when asked).
fn is_url(path: &str, include_file: bool) -> bool {
    ["http:", "https:", "blob:", "applewebdata:"]
        .iter()
        .any(|scheme| path.starts_with(scheme))
        || (include_file && path.starts_with("file:"))
}

// ---------------------------------------------------------------------------
// Function names (§5.1)

/// The function name after the platform clean-up; `None` if unusable.
pub fn clean_function<'a>(frame: &FrameView<'a>, platform: &str) -> Option<Cow<'a, str>> {
    let raw = if platform == "csharp" {
        frame.raw_function.or(frame.function)
    } else {
        frame.function.or(frame.raw_function)
    }?;
    clean_function_name(raw, platform)
}

/// Per-platform clean-up of a function name.
pub fn clean_function_name<'a>(raw: &'a str, platform: &str) -> Option<Cow<'a, str>> {
    let name = match family(platform) {
        "javascript" => {
            let last = last_dotted_segment(raw);
            if matches!(
                last,
                "" | "?" | "<anonymous>" | "<anonymous function>" | "Anonymous function"
            ) || last.ends_with("/<")
            {
                return None;
            }
            Cow::Borrowed(last)
        }
        "java" => {
            if raw.starts_with("lambda$") {
                return None;
            }
            Cow::Borrowed(raw)
        }
        "go" => GO_CLOSURE.replace_all(raw, ".func"),
        "ruby" => Cow::Owned(clean_ruby_function(raw)),
        "php" => {
            if raw.starts_with("class@anonymous")
                && let Some((_, method)) = raw.rsplit_once("::")
            {
                Cow::Borrowed(method)
            } else if raw.starts_with("[Anonymous") || raw.starts_with("class@anonymous\0") {
                return None;
            } else {
                Cow::Borrowed(raw)
            }
        }
        "native" => {
            if matches!(raw, "<redacted>" | "<unknown>") {
                return None;
            }
            Cow::Owned(trim_native_function(raw))
        }
        _ => Cow::Borrowed(raw),
    };
    (!name.trim().is_empty()).then_some(name)
}

static GO_CLOSURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.func[0-9]+(?:\.[0-9]+)*").expect("the Go closure pattern is valid"));
static RUBY_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^block (?:\([0-9]+ levels\) )?in ").expect("the Ruby block pattern is valid"));
static RUBY_ERB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"__[0-9]{4,}_[0-9]{4,}").expect("the ERB suffix pattern is valid"));

fn clean_ruby_function(raw: &str) -> String {
    if RUBY_BLOCK.is_match(raw) {
        return "block".to_owned();
    }
    RUBY_ERB.replace_all(raw, "").into_owned()
}

static RUST_HASH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"::h[0-9a-f]{16}$").expect("the Rust hash pattern is valid"));
static SYMBOL_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"@@?(?:GLIBC|GLIBCXX|CXXABI|GCC)_[A-Za-z0-9_.]+$|@[0-9]+$")
        .expect("the symbol version pattern is valid")
});

/// Native symbol trimming: argument lists, template arguments, `const`/`&`
/// trailers, return types, Rust hashes, symbol versions.
pub fn trim_native_function(raw: &str) -> String {
    let raw = raw.trim();
    // Objective-C selectors are kept as they are.
    let objc = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    if objc.starts_with('[') && objc.ends_with(']') {
        return raw.to_owned();
    }
    let name = RUST_HASH.replace(raw, "");
    let name = SYMBOL_VERSION.replace(&name, "");
    let name = name.replace("(anonymous namespace)", "`anonymous_namespace'");
    let stripped = strip_native_brackets(&name);

    // Split on whitespace outside kept `<…>` groups (Rust `<T as Trait>`).
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in stripped.chars() {
        match c {
            '<' => {
                depth += 1;
                current.push(c);
            }
            '>' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    while words
        .last()
        .is_some_and(|w| matches!(w.as_str(), "const" | "volatile" | "&" | "&&" | "noexcept"))
        && words.len() > 1
    {
        words.pop();
    }
    let last = words.pop().unwrap_or_default();
    last.trim_end_matches(['&', '*']).to_owned()
}

/// Removes `(…)` argument lists and `<…>` template arguments that follow a
/// name; keeps `operator<<`/`operator()` and a leading Rust `<T as Trait>`.
fn strip_native_brackets(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len());
    // For each open bracket: whether its content is dropped.
    let mut stack: Vec<bool> = Vec::new();
    let mut dropped_depth = 0usize;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        // `operator` followed by operator characters is a name, not brackets.
        if c == 'o'
            && dropped_depth == 0
            && chars
                .get(i..i + 8)
                .is_some_and(|w| w.iter().copied().eq("operator".chars()))
            && !i
                .checked_sub(1)
                .and_then(|p| chars.get(p))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            out.push_str("operator");
            i += 8;
            if chars.get(i..i + 2) == Some(&['(', ')']) {
                out.push_str("()");
                i += 2;
            } else {
                while let Some(&op) = chars.get(i) {
                    if "<>=!+-*/%^&|~[],".contains(op) {
                        out.push(op);
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            continue;
        }
        match c {
            '(' => {
                stack.push(true);
                dropped_depth += 1;
            }
            '<' => {
                let after_name = out
                    .chars()
                    .next_back()
                    .is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '>');
                if dropped_depth > 0 || after_name {
                    stack.push(true);
                    dropped_depth += 1;
                } else {
                    stack.push(false);
                    out.push('<');
                }
            }
            ')' | '>' => match stack.pop() {
                Some(true) => dropped_depth = dropped_depth.saturating_sub(1),
                Some(false) if c == '>' => out.push('>'),
                _ => {}
            },
            c if dropped_depth == 0 => out.push(c),
            _ => {}
        }
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Modules and filenames (§5)

/// The module after the platform clean-up (or derived from a URL); `None` if
/// unusable.
pub fn clean_module<'a>(frame: &FrameView<'a>, platform: &str) -> Option<Cow<'a, str>> {
    let abs_path = frame.abs_path;
    match family(platform) {
        "native" => None,
        "javascript" => {
            let sent = frame
                .module
                .filter(|m| !(m.contains('/') && abs_path.is_some_and(|p| p.ends_with(m))));
            match sent {
                Some(module) => Some(Cow::Borrowed(module)),
                None => abs_path.and_then(module_from_url).map(Cow::Owned),
            }
        }
        "java" => {
            let module = frame.module?;
            if module.contains("$$Lambda$") || module.contains("$$Lambda/") {
                return None;
            }
            Some(Cow::Owned(clean_java_name(module)))
        }
        _ => frame.module.map(Cow::Borrowed),
    }
}

static JAVA_METHOD_ACCESSOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^((?:sun|jdk\.internal)\.reflect\.GeneratedMethodAccessor)[0-9]+$")
        .expect("the method accessor pattern is valid")
});
static JAVA_GENERATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(Generated(?:Serialization)?ConstructorAccessor)[0-9]+",
        r"|(\$\$[A-Za-z0-9_]*?(?:CGLIB|EnhancerBy|FastClassBy)[A-Za-z0-9_]*\$\$)[0-9a-fA-F]+",
        r"|(\$\$_javassist(?:_seam)?_)[0-9]+",
        r"|(\$fn__)[0-9]+",
        r"|(\$HibernateProxy\$)[A-Za-z0-9]+",
    ))
    .expect("the generated class pattern is valid")
});

/// Replaces compiler- or framework-generated parts of Java class names.
pub fn clean_java_name(name: &str) -> String {
    if let Some(caps) = JAVA_METHOD_ACCESSOR.captures(name)
        && let Some(prefix) = caps.get(1)
    {
        return prefix.as_str().to_owned();
    }
    JAVA_GENERATED
        .replace_all(name, |caps: &regex::Captures<'_>| {
            let prefix = (1..=5).find_map(|i| caps.get(i)).map_or("", |m| m.as_str());
            format!("{prefix}<auto>")
        })
        .into_owned()
}

/// The filename token: lower-cased basename without query or fragment.
pub fn clean_filename(frame: &FrameView<'_>, platform: &str) -> Option<String> {
    let abs_path = frame.abs_path;
    let filename = frame.filename.or(abs_path)?;
    if abs_path.is_some_and(|p| is_url(p, false)) || is_url(filename, false) {
        return None;
    }
    if matches!(filename, "<anonymous>" | "[native code]") {
        return None;
    }
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let base = base.split(['?', '#']).next().unwrap_or(base);
    if base.is_empty() {
        return None;
    }
    let base = if family(platform) == "java" {
        clean_java_name(base)
    } else {
        base.to_owned()
    };
    Some(base.to_lowercase())
}

static HEX_HASH_SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40})$").expect("the hash segment pattern is valid"));
static STRIPPED_LEADING_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:js|scripts?|javascripts?|build|static|node_modules|bower_components|[_.~].*",
        r"|v[0-9]+(?:\.[0-9]+)*|[0-9]+(?:\.[0-9]+)+",
        r"|[0-9a-fA-F]{7,8}|[0-9a-fA-F]{32}|[0-9a-fA-F]{40})$"
    ))
    .expect("the leading segment pattern is valid")
});
static CONTENT_HASH_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[-.][0-9a-fA-F]{7,}$").expect("the content hash pattern is valid"));

/// Derives a JavaScript module name from a served URL (§5, module).
pub fn module_from_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once(':')?;
    if !matches!(scheme, "http" | "https" | "webpack" | "app") {
        return None;
    }
    let path = match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |slash| after.get(slash..).unwrap_or("")),
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let last = segments.pop()?;
    let last = match last.rfind('.') {
        Some(dot) if dot > 0 => last.get(..dot).unwrap_or(last),
        _ => last,
    };
    let last = last.strip_suffix(".min").unwrap_or(last);
    segments.push(last);

    let segments: &[&str] = match segments.iter().rposition(|s| HEX_HASH_SEGMENT.is_match(s)) {
        Some(hash_at) => segments.get(hash_at + 1..).unwrap_or_default(),
        None => {
            let keep_from = segments
                .iter()
                .position(|s| !STRIPPED_LEADING_SEGMENT.is_match(s))
                .unwrap_or(segments.len());
            segments.get(keep_from..).unwrap_or_default()
        }
    };
    let mut module = segments.join("/");
    if let Some(found) = CONTENT_HASH_SUFFIX.find(&module)
        && found.start() > 0
        && module.get(..found.start()).is_some_and(|head| !head.ends_with('/'))
    {
        module.truncate(found.start());
    }
    if let Some(head) = module.strip_suffix(".min") {
        module = head.to_owned();
    }
    (!module.is_empty()).then_some(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;

    fn obj(value: Value) -> Map {
        value.as_object().cloned().unwrap_or_default()
    }

    fn tokens(frame: Value, platform: &str) -> Vec<String> {
        frame_tokens(&FrameView::new(&obj(frame)), platform)
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn python_keeps_lambda_and_module_names() {
        assert_eq!(
            tokens(
                json!({"function": "<lambda>", "module": "app.orders", "lineno": 3}),
                "python"
            ),
            ["module=app.orders", "function=<lambda>"]
        );
        assert_eq!(clean_function_name("<module>", "python").as_deref(), Some("<module>"));
    }

    #[test]
    fn python_uses_context_line_then_lineno_without_function() {
        assert_eq!(
            tokens(
                json!({"filename": "app/x.py", "lineno": 3, "context_line": "  raise   X()  "}),
                "python"
            ),
            ["filename=x.py", "context=raise X()"]
        );
        let long = "x".repeat(121);
        assert_eq!(
            tokens(
                json!({"filename": "app/x.py", "lineno": 3, "context_line": long}),
                "python"
            ),
            ["filename=x.py", "lineno=3"]
        );
    }

    #[test]
    fn javascript_function_keeps_last_dotted_part() {
        for (raw, expected) in [
            ("Object.foo", Some("foo")),
            ("Foo.prototype.bar", Some("bar")),
            ("HTMLButtonElement.onClick", Some("onClick")),
            ("Object.<anonymous>", None),
            ("?", None),
            ("<anonymous function>", None),
            ("Anonymous function", None),
            ("render/<", None),
            ("Foo.", None),
        ] {
            assert_eq!(clean_function_name(raw, "javascript").as_deref(), expected, "{raw}");
            assert_eq!(clean_function_name(raw, "node").as_deref(), expected, "{raw}");
        }
    }

    #[test]
    fn javascript_module_is_derived_from_url_without_content_hash() {
        for (url, expected) in [
            ("https://x.com/static/js/main.3f9a1c2b.js", Some("main")),
            ("https://x.com/assets/index-4f3a2b1c.js", Some("assets/index")),
            ("https://x.com/js/app.min.js?v=3#x", Some("app")),
            ("https://x.com/v1.2.3/_next/lib/util.js", Some("lib/util")),
            (
                "https://x.com/0123456789abcdef0123456789abcdef/chunk/vendor.js",
                Some("chunk/vendor"),
            ),
            ("webpack:///./src/components/Cart.tsx", Some("src/components/Cart")),
            ("app:///index.android.bundle", Some("index.android")),
            ("file:///srv/app.js", None),
            ("https://x.com/", None),
        ] {
            assert_eq!(module_from_url(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn javascript_module_copy_of_path_is_unusable_and_url_filename_ignored() {
        let frame = obj(json!({"module": "lib/jobs", "abs_path": "/app/lib/jobs", "filename": "/app/lib/jobs"}));
        assert_eq!(clean_module(&FrameView::new(&frame), "node"), None);
        let frame = obj(json!({"abs_path": "blob:https://x.com/1", "filename": "1"}));
        assert_eq!(clean_filename(&FrameView::new(&frame), "javascript"), None);
        assert_eq!(
            tokens(
                json!({"abs_path": "/srv/a/Orders.js?x=1", "filename": "/srv/a/Orders.js?x=1", "lineno": 4}),
                "node"
            ),
            ["filename=orders.js"]
        );
    }

    #[test]
    fn java_generated_names_are_replaced() {
        for (raw, expected) in [
            (
                "sun.reflect.GeneratedMethodAccessor123",
                "sun.reflect.GeneratedMethodAccessor",
            ),
            (
                "jdk.internal.reflect.GeneratedMethodAccessor7",
                "jdk.internal.reflect.GeneratedMethodAccessor",
            ),
            (
                "sun.reflect.GeneratedConstructorAccessor42",
                "sun.reflect.GeneratedConstructorAccessor<auto>",
            ),
            (
                "com.shop.Svc$$EnhancerBySpringCGLIB$$1a2b3c",
                "com.shop.Svc$$EnhancerBySpringCGLIB$$<auto>",
            ),
            (
                "com.shop.Svc$$FastClassBySpringCGLIB$$ab12",
                "com.shop.Svc$$FastClassBySpringCGLIB$$<auto>",
            ),
            ("com.shop.Svc$$SpringCGLIB$$0", "com.shop.Svc$$SpringCGLIB$$<auto>"),
            ("com.shop.Order_$$_javassist_77", "com.shop.Order_$$_javassist_<auto>"),
            ("clojure.core$map$fn__4785", "clojure.core$map$fn__<auto>"),
            (
                "com.shop.Order$HibernateProxy$Zx81kQ",
                "com.shop.Order$HibernateProxy$<auto>",
            ),
            ("com.shop.Plain", "com.shop.Plain"),
        ] {
            assert_eq!(clean_java_name(raw), expected, "{raw}");
        }
        let lambda = obj(json!({"module": "com.shop.Jobs$$Lambda$12/0x1234"}));
        assert_eq!(clean_module(&FrameView::new(&lambda), "java"), None);
        assert_eq!(clean_function_name("lambda$run$0", "java"), None);
        let file = obj(json!({"filename": "Order_$$_javassist_9.java"}));
        assert_eq!(
            clean_filename(&FrameView::new(&file), "java").as_deref(),
            Some("order_$$_javassist_<auto>.java")
        );
    }

    #[test]
    fn go_closure_numbering_is_normalised() {
        assert_eq!(clean_function_name("Serve.func3", "go").as_deref(), Some("Serve.func"));
        assert_eq!(
            clean_function_name("(*Srv).Run.func1.2", "go").as_deref(),
            Some("(*Srv).Run.func")
        );
        assert_eq!(clean_function_name("functional", "go").as_deref(), Some("functional"));
    }

    #[test]
    fn ruby_blocks_and_erb_suffixes_collapse() {
        assert_eq!(
            clean_function_name("block in process", "ruby").as_deref(),
            Some("block")
        );
        assert_eq!(
            clean_function_name("block (2 levels) in process", "ruby").as_deref(),
            Some("block")
        );
        assert_eq!(
            clean_function_name("_app_views_orders_show_html_erb__1234567_89012", "ruby").as_deref(),
            Some("_app_views_orders_show_html_erb")
        );
        assert_eq!(clean_function_name("process", "ruby").as_deref(), Some("process"));
    }

    #[test]
    fn php_anonymous_classes_are_unusable_except_their_methods() {
        assert_eq!(clean_function_name("[Anonymous function]", "php"), None);
        assert_eq!(clean_function_name("class@anonymous\0/app/x.php:3$0", "php"), None);
        assert_eq!(
            clean_function_name("class@anonymous\0/app/x.php:3$0::handle", "php").as_deref(),
            Some("handle")
        );
        assert_eq!(
            clean_function_name("App\\Foo::bar", "php").as_deref(),
            Some("App\\Foo::bar")
        );
    }

    #[test]
    fn csharp_prefers_raw_function() {
        let frame = obj(json!({"function": "Run", "raw_function": "Shop.Jobs.Run(int)"}));
        assert_eq!(
            clean_function(&FrameView::new(&frame), "csharp").as_deref(),
            Some("Shop.Jobs.Run(int)")
        );
        assert_eq!(
            clean_function(&FrameView::new(&frame), "python").as_deref(),
            Some("Run")
        );
    }

    #[test]
    fn native_names_are_trimmed() {
        for (raw, expected) in [
            ("app::db::connect::h0123456789abcdef", "app::db::connect"),
            ("std::vector<int> foo::bar<T>(int, char const*) const", "foo::bar"),
            ("void ns::Widget::draw(Canvas&) const &", "ns::Widget::draw"),
            ("memcpy@GLIBC_2.14", "memcpy"),
            ("_send@12", "_send"),
            ("operator<<(std::ostream&, Foo const&)", "operator<<"),
            ("Foo::operator()(int)", "Foo::operator()"),
            ("(anonymous namespace)::helper(int)", "`anonymous_namespace'::helper"),
            (
                "<app::Foo as core::fmt::Display>::fmt",
                "<app::Foo as core::fmt::Display>::fmt",
            ),
            ("-[UIView layoutSubviews]", "-[UIView layoutSubviews]"),
            ("main", "main"),
        ] {
            assert_eq!(trim_native_function(raw), expected, "{raw}");
        }
        assert_eq!(clean_function_name("<redacted>", "native"), None);
        assert_eq!(clean_function_name("<unknown>", "cocoa"), None);
    }

    #[test]
    fn native_frames_with_function_have_no_location() {
        assert_eq!(
            tokens(
                json!({"function": "render", "filename": "x.c", "package": "app", "lineno": 3}),
                "native"
            ),
            ["function=render"]
        );
        assert_eq!(
            tokens(json!({"filename": "/src/x.c", "lineno": 3}), "native"),
            ["filename=x.c", "lineno=3"]
        );
    }

    #[test]
    fn builtin_rules_mark_library_paths_not_in_app() {
        for path in [
            "/app/node_modules/x/index.js",
            "/usr/local/lib/python3.12/site-packages/requests/api.py",
            "/usr/lib/python3/dist-packages/x.py",
            "/app/vendor/rails/x.rb",
            "/root/go/pkg/mod/github.com/x/y.go",
            "/usr/lib/x.so",
            "/lib/x.so",
            "https://unpkg.com/react@18/x.js",
            "C:\\app\\node_modules\\x\\y.js",
        ] {
            let frame = obj(json!({"abs_path": path}));
            assert!(builtin_not_in_app(&FrameView::new(&frame)).is_some(), "{path}");
        }
        let frame = obj(json!({"abs_path": "/srv/app/orders.py", "module": "app.orders"}));
        assert!(builtin_not_in_app(&FrameView::new(&frame)).is_none());
        let frame = obj(json!({"module": "core-js/internals/x"}));
        assert!(builtin_not_in_app(&FrameView::new(&frame)).is_some());
    }

    #[test]
    fn browser_and_node_internal_frames_never_contribute() {
        for frame in [
            json!({"function": "eval", "abs_path": "https://x.com/a.js"}),
            json!({"function": "forEach", "abs_path": "[native code]"}),
            json!({"function": "x", "abs_path": "eval code"}),
            json!({"function": "process.processTicksAndRejections", "abs_path": "node:internal/process/task_queues"}),
            json!({"function": "x", "module": "@babel/runtime/helpers"}),
        ] {
            let map = obj(frame.clone());
            let f = FrameView::new(&map);
            assert!(never_contributes(&f, family("node"), f.function).is_some(), "{frame}");
        }
    }

    #[test]
    fn recursion_collapses_identical_consecutive_frames() {
        let stack = json!({"frames": [
            {"function": "walk", "module": "m", "lineno": 8, "in_app": true},
            {"function": "walk", "module": "m", "lineno": 8, "in_app": true},
            {"function": "walk", "module": "m", "lineno": 9, "in_app": true},
        ]});
        let prepared = prepare_stacktrace(&stack, "python", &GroupingRules::default(), ExceptionFacts::default());
        let excluded: Vec<bool> = prepared.frames.iter().map(|f| f.excluded.is_some()).collect();
        assert_eq!(excluded, [false, true, false]);
    }

    #[test]
    fn only_the_last_250_frames_are_considered() {
        let frames: Vec<Value> = (0..300)
            .map(|i| json!({"function": format!("f{i}"), "module": "m", "in_app": true}))
            .collect();
        let prepared = prepare_stacktrace(
            &json!({ "frames": frames }),
            "python",
            &GroupingRules::default(),
            ExceptionFacts::default(),
        );
        assert_eq!(prepared.frames.len(), MAX_FRAMES);
        assert_eq!(prepared.dropped, 50);
        assert_eq!(prepared.frames.first().map(|f| f.index), Some(50));
    }

    #[test]
    fn single_url_frame_without_function_does_not_contribute() {
        let stack = json!({"frames": [{"abs_path": "https://x.com/app.js", "lineno": 1, "colno": 5, "in_app": true}]});
        let prepared = prepare_stacktrace(
            &stack,
            "javascript",
            &GroupingRules::default(),
            ExceptionFacts::default(),
        );
        assert!(prepared.frames.first().is_some_and(|f| !f.tokens.is_empty()));
        assert!(prepared.component(false).is_empty());
    }
}
