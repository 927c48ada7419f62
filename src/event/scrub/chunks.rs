//! Applies rule chains to one value. A string being scrubbed is kept as text with
//! one NUL placeholder per redaction, so later rules only see text that is still
//! original (Relay's chunk model) and the `_meta` ranges come out exact.

use super::rules::{Chain, Matcher, Redaction, Rule, is_luhn_card_number};
use crate::event::json::Value;
use std::borrow::Cow;

/// A redacted piece of a string.
#[derive(Debug, Clone)]
pub(super) struct Redacted<'r> {
    pub rule: Cow<'r, str>,
    pub text: Cow<'r, str>,
    /// Made by this run (counted in the summary), not carried over from `_meta`.
    pub fresh: bool,
}

/// A string in the middle of scrubbing: text with a NUL for each redaction.
#[derive(Debug)]
pub(super) struct Chunked<'r> {
    search: String,
    reds: Vec<Redacted<'r>>,
    changed: bool,
}

/// One `rem` entry: a substitution with its character range, or a removal.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Remark<'r> {
    pub rule: Cow<'r, str>,
    pub range: Option<(usize, usize)>,
    pub fresh: bool,
}

#[derive(Debug)]
pub(super) enum Outcome<'r> {
    Unchanged,
    Changed(Chunked<'r>),
    /// The value is to become `null`; `prior` holds substitutions made before.
    Removed {
        rule: &'r str,
        prior: Option<Chunked<'r>>,
    },
}

/// What the rules may know about the value besides its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context<'k> {
    pub key: Option<&'k str>,
    /// Whether key words found inside the value count (§5.1); off for the name
    /// element of a pair-like array, which is a key, not a value.
    pub value_words: bool,
}

/// Runs the chains, in order, over a string (never one of the five literals).
pub(super) fn scrub_str<'r>(
    chains: &[&'r Chain],
    ctx: Context<'_>,
    value: &str,
    seeds: Option<Chunked<'r>>,
) -> Outcome<'r> {
    let mut state = seeds;
    if state.is_none() && value.contains('\0') {
        state = Some(Chunked::from_text(value));
    }
    for chain in chains {
        // Set matches of the untouched original; valid only while `state` is None.
        let mut hits = None;
        for &index in chain.order(state.is_none(), value, &mut hits) {
            let Some(rule) = chain.rules.get(index) else {
                continue;
            };
            match &rule.matcher {
                Matcher::Pattern { re, group, accept } => {
                    if state.is_none() && !chain.may_match(index, value, &mut hits) {
                        continue;
                    }
                    let search = state.as_ref().map_or(value, |s| s.search.as_str());
                    let spans = find_spans(re, *group, *accept, search);
                    if !spans.is_empty() {
                        splice(&mut state, value, &spans, rule);
                    }
                }
                Matcher::KeyOrValue { key, value: words } => {
                    if ctx.key.is_some_and(|k| key.is_match(k)) {
                        if let Redaction::Remove = rule.redaction {
                            return removed(rule, state);
                        }
                        replace_whole(&mut state, value, rule);
                    } else if let (Some(words), true) = (words, ctx.value_words) {
                        if state.is_none() && !chain.may_match(index, value, &mut hits) {
                            continue;
                        }
                        let search = state.as_ref().map_or(value, |s| s.search.as_str());
                        if words.is_match(search) {
                            replace_whole(&mut state, value, rule);
                        }
                    }
                }
                Matcher::Anything => {
                    if let Redaction::Remove = rule.redaction {
                        return removed(rule, state);
                    }
                    replace_whole(&mut state, value, rule);
                }
                Matcher::LuhnNumber => {}
            }
        }
    }
    match state {
        Some(s) if s.changed => Outcome::Changed(s),
        _ => Outcome::Unchanged,
    }
}

/// Which rule, if any, removes a non-string value (number or container). Only key
/// words, "anything" rules and the Luhn rule can hit these.
pub(super) fn scrub_other<'r>(chains: &[&'r Chain], ctx: Context<'_>, value: &Value) -> Option<&'r str> {
    let number = match value {
        Value::Number(n) => Some(n),
        Value::Array(_) | Value::Object(_) => None,
        Value::Null | Value::Bool(_) | Value::String(_) => return None,
    };
    chains.iter().flat_map(|c| c.non_string_rules()).find_map(|rule| {
        let hit = match &rule.matcher {
            Matcher::KeyOrValue { key, .. } => ctx.key.is_some_and(|k| key.is_match(k)),
            Matcher::Anything => true,
            Matcher::LuhnNumber => number
                .and_then(|n| n.as_u64().or_else(|| n.as_i64().map(i64::unsigned_abs)))
                .is_some_and(is_luhn_card_number),
            Matcher::Pattern { .. } => false,
        };
        hit.then_some(rule.id.as_ref())
    })
}

fn removed<'r>(rule: &'r Rule, state: Option<Chunked<'r>>) -> Outcome<'r> {
    Outcome::Removed {
        rule: rule.id.as_ref(),
        prior: state.filter(|s| s.changed),
    }
}

/// Byte spans to replace: non-empty matches (or capture `group`) the rule accepts.
fn find_spans(re: &regex::Regex, group: usize, accept: Option<fn(&str) -> bool>, search: &str) -> Vec<(usize, usize)> {
    // A match made only of placeholders would just re-redact redacted text.
    let ok = |m: &regex::Match<'_>| m.as_str().bytes().any(|b| b != 0) && accept.is_none_or(|f| f(m.as_str()));
    if group == 0 {
        re.find_iter(search).filter(ok).map(|m| (m.start(), m.end())).collect()
    } else {
        // The pattern consumes a delimiter on each side of the captured part; resume right
        // after the captured part so one delimiter can close one match and open the next
        // (`::[::` holds two). Otherwise a second pass would find what the first missed.
        let mut spans = Vec::new();
        let mut pos = 0;
        while pos <= search.len() {
            let Some(captures) = re.captures_at(search, pos) else {
                break;
            };
            let whole = captures.get(0).map_or((pos, pos), |m| (m.start(), m.end()));
            let next = match captures.get(group) {
                Some(m) => {
                    if ok(&m) {
                        spans.push((m.start(), m.end()));
                    }
                    m.end()
                }
                None => whole.1,
            };
            pos = if next > pos {
                next
            } else {
                next_char_boundary(search, pos)
            };
        }
        spans
    }
}

fn next_char_boundary(s: &str, from: usize) -> usize {
    (from + 1..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len() + 1)
}

fn fresh<'r>(rule: &'r Rule) -> Redacted<'r> {
    let text = match &rule.redaction {
        Redaction::Replace(text) => Cow::Borrowed(text.as_ref()),
        Redaction::Remove => Cow::Borrowed(""),
    };
    Redacted {
        rule: Cow::Borrowed(rule.id.as_ref()),
        text,
        fresh: true,
    }
}

/// Replaces everything that is left of the value by one redaction; earlier
/// redactions are absorbed into it (Relay's "replace value" behaviour).
fn replace_whole<'r>(state: &mut Option<Chunked<'r>>, value: &str, rule: &'r Rule) {
    let has_text = match state {
        Some(s) => s.search.bytes().any(|b| b != 0),
        None => !value.is_empty(),
    };
    if has_text {
        *state = Some(Chunked {
            search: "\0".to_owned(),
            reds: vec![fresh(rule)],
            changed: true,
        });
    }
}

/// Replaces the given spans of the current search text; redactions inside a span
/// are absorbed, the others keep their order.
fn splice<'r>(state: &mut Option<Chunked<'r>>, value: &str, spans: &[(usize, usize)], rule: &'r Rule) {
    let (search, old): (Cow<'_, str>, Vec<Redacted<'r>>) = match state.take() {
        Some(s) => (Cow::Owned(s.search), s.reds),
        None => (Cow::Borrowed(value), Vec::new()),
    };
    let mut old = old.into_iter();
    let mut out = String::with_capacity(search.len());
    let mut reds = Vec::new();
    let mut keep = |piece: &str, out: &mut String, reds: &mut Vec<Redacted<'r>>| {
        out.push_str(piece);
        for _ in piece.bytes().filter(|&b| b == 0) {
            reds.extend(old.next());
        }
    };
    let mut pos = 0;
    for &(start, end) in spans {
        let (Some(before), Some(inside)) = (search.get(pos..start), search.get(start..end)) else {
            continue;
        };
        keep(before, &mut out, &mut reds);
        let mut sink = String::new();
        let mut absorbed = Vec::new();
        keep(inside, &mut sink, &mut absorbed);
        out.push('\0');
        reds.push(fresh(rule));
        pos = end;
    }
    keep(search.get(pos..).unwrap_or(""), &mut out, &mut reds);
    *state = Some(Chunked {
        search: out,
        reds,
        changed: true,
    });
}

impl<'r> Chunked<'r> {
    /// Plain text, with any NUL dropped (it would be mistaken for a placeholder).
    fn from_text(text: &str) -> Self {
        Self {
            search: text.replace('\0', ""),
            reds: Vec::new(),
            changed: false,
        }
    }

    /// Rebuilds a scrubbed string from its `_meta` ranges, so already redacted parts
    /// are not matched again (this is what makes scrubbing idempotent). Returns None
    /// when the ranges do not fit the string.
    pub fn from_remarks(text: &str, ranges: &[(Cow<'r, str>, usize, usize)]) -> Option<Self> {
        let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        bounds.push(text.len());
        let mut search = String::with_capacity(text.len());
        let mut reds = Vec::with_capacity(ranges.len());
        let mut pos_char = 0;
        for (rule, start, end) in ranges {
            if *start < pos_char || end < start {
                return None;
            }
            let (from, to, prev) = (*bounds.get(*start)?, *bounds.get(*end)?, *bounds.get(pos_char)?);
            search.push_str(&text.get(prev..from)?.replace('\0', ""));
            search.push('\0');
            reds.push(Redacted {
                rule: rule.clone(),
                text: Cow::Owned(text.get(from..to)?.to_owned()),
                fresh: false,
            });
            pos_char = *end;
        }
        search.push_str(&text.get(*bounds.get(pos_char)?..)?.replace('\0', ""));
        Some(Self {
            search,
            reds,
            changed: false,
        })
    }

    /// The final string and one remark per redaction, with character ranges.
    pub fn render(&self) -> (String, Vec<Remark<'r>>) {
        let mut out = String::with_capacity(self.search.len() + 16 * self.reds.len());
        let mut remarks = Vec::with_capacity(self.reds.len());
        let mut reds = self.reds.iter();
        let mut chars = 0;
        for c in self.search.chars() {
            if c == '\0' {
                if let Some(red) = reds.next() {
                    let len = red.text.chars().count();
                    out.push_str(&red.text);
                    remarks.push(Remark {
                        rule: red.rule.clone(),
                        range: Some((chars, chars + len)),
                        fresh: red.fresh,
                    });
                    chars += len;
                }
            } else {
                out.push(c);
                chars += 1;
            }
        }
        (out, remarks)
    }
}
