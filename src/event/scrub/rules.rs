//! The scrubbing rules as data: value patterns, key words and "anything" rules, and
//! how the project settings turn them into ordered chains, each compiled once.

use super::{CustomRule, ScrubError, ScrubSettings};
use base64::Engine as _;
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Upper bound for the compiled size of one settings-derived pattern, so a huge
/// list of sensitive fields or a pathological custom rule is refused, not compiled.
const PATTERN_SIZE_LIMIT: usize = 2 << 20;
/// Longest custom pattern accepted (characters).
const MAX_CUSTOM_PATTERN_LEN: usize = 1000;

pub(super) const FILTERED: &str = "[Filtered]";

/// What a rule does to a value it hits.
#[derive(Debug, Clone)]
pub(super) enum Redaction {
    /// Substitute the hit (or the whole string) with this text; non-strings are removed.
    Replace(Cow<'static, str>),
    /// Remove the value (`null`).
    Remove,
}

/// How a rule decides that it hits.
#[derive(Debug)]
pub(super) enum Matcher {
    /// Replaces every match (or capture `group`) of a value pattern, keeping the rest of
    /// the string. `accept` can veto a match after the fact.
    Pattern {
        re: Regex,
        group: usize,
        accept: Option<fn(&str) -> bool>,
    },
    /// A key that matches `key` filters the whole value (a non-string is removed);
    /// otherwise a string whose text matches `value` is replaced as a whole.
    KeyOrValue { key: Regex, value: Option<Regex> },
    /// Hits every value: replaces the whole string, removes anything else.
    Anything,
    /// Hits integer JSON numbers of 13–19 digits that pass the Luhn check.
    LuhnNumber,
}

#[derive(Debug)]
pub(super) struct Rule {
    pub id: Cow<'static, str>,
    pub matcher: Matcher,
    pub redaction: Redaction,
}

/// An ordered list of rules plus one `RegexSet` over all their value patterns, so a
/// string that nothing can match costs a single scan.
#[derive(Debug)]
pub(super) struct Chain {
    pub rules: Vec<Rule>,
    prefilter: Option<RegexSet>,
    /// For each rule, its pattern's index in `prefilter` (rules without one: `None`).
    slots: Vec<Option<usize>>,
    /// Every rule index, in order.
    all: Vec<usize>,
    /// The rules that can still change a string none of the value patterns match:
    /// key rules and "anything" rules, in order.
    unfiltered: Vec<usize>,
    /// The rules that can hit a value that is not a string, in order.
    non_string: Vec<usize>,
}

impl Chain {
    fn new(rules: Vec<Rule>) -> Result<Self, ScrubError> {
        let mut patterns = Vec::new();
        let mut slots = Vec::with_capacity(rules.len());
        for rule in &rules {
            let re = match &rule.matcher {
                Matcher::Pattern { re, .. } => Some(re),
                Matcher::KeyOrValue { value, .. } => value.as_ref(),
                Matcher::Anything | Matcher::LuhnNumber => None,
            };
            slots.push(re.map(|re| {
                patterns.push(re.as_str().to_owned());
                patterns.len() - 1
            }));
        }
        let prefilter = if patterns.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&patterns)
                    .size_limit(64 << 20)
                    .dfa_size_limit(16 << 20)
                    .build()
                    .map_err(|e| {
                        ScrubError::InvalidSetting(format!("the scrubbing rules are too large to compile: {e}"))
                    })?,
            )
        };
        let unfiltered = rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| matches!(rule.matcher, Matcher::KeyOrValue { .. } | Matcher::Anything))
            .map(|(index, _)| index)
            .collect();
        let non_string = rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| !matches!(rule.matcher, Matcher::Pattern { .. }))
            .map(|(index, _)| index)
            .collect();
        Ok(Self {
            all: (0..rules.len()).collect(),
            rules,
            prefilter,
            slots,
            unfiltered,
            non_string,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that can hit a number or a container (value patterns only see strings).
    pub fn non_string_rules(&self) -> impl Iterator<Item = &Rule> {
        self.non_string.iter().filter_map(|&index| self.rules.get(index))
    }

    /// The rule indices to visit for `text`, which must be the untouched original
    /// when `untouched` is set. If none of the value patterns matches it, only key and
    /// "anything" rules are left: a pattern rule would skip the text, and once one of
    /// those replaced the whole value there is no text left for a pattern to match.
    pub fn order(&self, untouched: bool, text: &str, cache: &mut Option<bool>) -> &[usize] {
        match &self.prefilter {
            Some(set) if untouched => {
                if *cache.get_or_insert_with(|| set.is_match(text)) {
                    &self.all
                } else {
                    &self.unfiltered
                }
            }
            _ => &self.all,
        }
    }

    /// Whether rule `index` can match `text` at all, using (and filling) the cached
    /// set scan; only valid while `text` is still the untouched original. Once the set
    /// matches, each rule's own pattern decides: that costs less than asking the set
    /// which patterns matched, an overlapping scan that cannot stop early.
    pub fn may_match(&self, index: usize, text: &str, cache: &mut Option<bool>) -> bool {
        let (Some(set), Some(Some(_))) = (&self.prefilter, self.slots.get(index)) else {
            return true;
        };
        *cache.get_or_insert_with(|| set.is_match(text))
    }
}

/// All chains one project's settings need, one per kind of field (spec §8, §10).
#[derive(Debug)]
pub(super) struct Chains {
    /// Walked fields (§4): the full default chain, IP, sensitive fields, custom rules.
    pub walked: Chain,
    /// Applied after `walked` to session/CSRF cookies (§5.3).
    pub session_cookie: Chain,
    /// Applied after `walked` to the known IP fields (§9).
    pub ip_field: Chain,
    /// `logentry.formatted` (§6): replace-style placeholders only.
    pub message: Chain,
    /// `exception.values[].value` (§10): replace-style placeholders only.
    pub exception_value: Chain,
    /// Tag values (§10): sensitive tag keys, then replace-style placeholders.
    pub tag_value: Chain,
    /// `request.url` (§10): passwords in the URL.
    pub url: Chain,
    /// Free text outside the event (user-report comments, text attachments): the
    /// replace-style value rules, IP addresses, sensitive fields and custom rules.
    pub free_text: Chain,
}

impl Chains {
    pub fn compile(settings: &ScrubSettings) -> Result<Self, ScrubError> {
        let defaults = settings.scrub_data && settings.scrub_defaults;
        let ip = settings.scrub_ip_addresses;
        let strip = if settings.scrub_data {
            sensitive_fields_regex(&settings.sensitive_fields)?
        } else {
            None
        };
        let custom = if settings.scrub_data {
            compile_custom_rules(&settings.custom_rules)?
        } else {
            // Still refuse invalid rules, so a broken setting is reported when saved.
            compile_custom_rules(&settings.custom_rules)?;
            Vec::new()
        };

        let mut walked = Vec::new();
        if defaults {
            walked.extend([
                pattern("@creditcard:filter", &CREDITCARD, 0, FILTERED),
                pattern("@iban:filter", &IBAN, 0, FILTERED),
                pattern("@pemkey:filter", &PEM_KEY, 1, FILTERED),
                pattern("@urlauth:legacy", &URL_PASSWORD, 1, FILTERED),
                pattern("@bearer:filter", &BEARER, 0, FILTERED),
                password_rule(true),
                pattern("@usssn:filter", &US_SSN, 0, FILTERED),
            ]);
        }
        if ip {
            walked.push(pattern("@ip:replace", &IPV4, 0, "[ip]"));
            walked.push(pattern("@ip:replace", &IPV6, 1, "[ip]"));
        }
        if let Some(strip) = &strip {
            walked.push(Rule {
                id: Cow::Borrowed("strip-fields"),
                matcher: Matcher::KeyOrValue {
                    key: strip.clone(),
                    value: Some(strip.clone()),
                },
                redaction: Redaction::Replace(Cow::Borrowed(FILTERED)),
            });
        }
        walked.extend(custom);
        if defaults {
            // Errata's additions (§10) come last so they never change what the
            // Relay-compatible rules above produce.
            walked.extend([
                basic_auth("@basicauth:filter", FILTERED),
                pattern("@awskey:replace", &AWS_KEY_ID, 0, "[awskey]"),
                pattern("@jwt:replace", &JWT, 0, "[jwt]"),
                // Free text the word rule above lets through (`token = abc`).
                pattern("@password:replace", &PASSWORD_PAIR, 1, FILTERED),
                Rule {
                    id: Cow::Borrowed("@creditcard:remove"),
                    matcher: Matcher::LuhnNumber,
                    redaction: Redaction::Remove,
                },
            ]);
        }

        let mut session_cookie = Vec::new();
        let mut message = Vec::new();
        let mut exception_value = Vec::new();
        let mut tag_value = Vec::new();
        let mut url = Vec::new();
        if defaults {
            session_cookie.push(Rule {
                id: Cow::Borrowed("@anything:filter"),
                matcher: Matcher::Anything,
                redaction: Redaction::Replace(Cow::Borrowed(FILTERED)),
            });
            message.extend([
                pattern("@email:replace", &EMAIL, 0, "[email]"),
                pattern("@creditcard:replace", &CREDITCARD, 0, "[creditcard]"),
                pattern("@iban:replace", &IBAN, 0, "[iban]"),
                pattern("@usssn:replace", &US_SSN, 0, "[us-ssn]"),
                pattern("@bearer:replace", &BEARER, 0, "Bearer [token]"),
                pattern("@awskey:replace", &AWS_KEY_ID, 0, "[awskey]"),
                pattern("@jwt:replace", &JWT, 0, "[jwt]"),
                pattern("@password:replace", &PASSWORD_PAIR, 1, FILTERED),
            ]);
            exception_value = replace_only_rules();
            tag_value.push(password_rule(false));
            url.push(pattern("@urlauth:legacy", &URL_PASSWORD, 1, FILTERED));
        }
        if let Some(strip) = &strip {
            tag_value.push(Rule {
                id: Cow::Borrowed("strip-fields"),
                matcher: Matcher::KeyOrValue {
                    key: strip.clone(),
                    value: None,
                },
                redaction: Redaction::Replace(Cow::Borrowed(FILTERED)),
            });
        }
        if defaults {
            tag_value.extend(replace_only_rules());
        }
        let mut free_text = Vec::new();
        if defaults {
            free_text.extend(replace_only_rules());
        }
        if ip {
            free_text.push(pattern("@ip:replace", &IPV4, 0, "[ip]"));
            free_text.push(pattern("@ip:replace", &IPV6, 1, "[ip]"));
        }
        if let Some(strip) = &strip {
            free_text.push(Rule {
                id: Cow::Borrowed("strip-fields"),
                matcher: Matcher::Pattern {
                    re: strip.clone(),
                    group: 0,
                    accept: None,
                },
                redaction: Redaction::Replace(Cow::Borrowed(FILTERED)),
            });
        }
        if settings.scrub_data {
            free_text.extend(compile_custom_rules(&settings.custom_rules)?);
        }
        let mut ip_field = Vec::new();
        if ip {
            ip_field.push(Rule {
                id: Cow::Borrowed("@anything:remove"),
                matcher: Matcher::Anything,
                redaction: Redaction::Remove,
            });
        }

        Ok(Self {
            walked: Chain::new(walked)?,
            session_cookie: Chain::new(session_cookie)?,
            ip_field: Chain::new(ip_field)?,
            message: Chain::new(message)?,
            exception_value: Chain::new(exception_value)?,
            tag_value: Chain::new(tag_value)?,
            url: Chain::new(url)?,
            free_text: Chain::new(free_text)?,
        })
    }
}

/// Cookie names whose value is a session or CSRF secret whatever it looks like (§5.3).
pub(super) fn is_session_cookie(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "sentrysid",
        "sudo",
        "su",
        "session",
        "__session",
        "sessionid",
        "user_session",
        "symfony",
        "phpsessid",
        "fasthttpsessionid",
        "mysession",
        "irissessionid",
        "_vercel_jwt",
        "csrf",
        "xsrf",
        "_xsrf",
        "_csrf",
        "csrf-token",
        "csrf_token",
        "xsrf-token",
        "xsrf_token",
        "fastcsrf",
        "_iris_csrf",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Luhn check for an integer of 13–19 digits (card numbers sent as JSON numbers).
pub(super) fn is_luhn_card_number(n: u64) -> bool {
    let digits = n.checked_ilog10().map_or(1, |d| d + 1);
    if !(13..=19).contains(&digits) {
        return false;
    }
    let mut rest = n;
    let mut sum = 0;
    let mut double = false;
    while rest > 0 {
        let mut d = rest % 10;
        rest /= 10;
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

/// The replace-style rules for text that must stay readable but may not leak
/// secrets: exception values and tag values (§10).
fn replace_only_rules() -> Vec<Rule> {
    vec![
        pattern("@creditcard:replace", &CREDITCARD, 0, "[creditcard]"),
        pattern("@iban:replace", &IBAN, 0, "[iban]"),
        pattern("@pemkey:replace", &PEM_KEY, 1, "[pemkey]"),
        pattern("@urlauth:replace", &URL_PASSWORD, 1, "[auth]"),
        pattern("@usssn:replace", &US_SSN, 0, "[us-ssn]"),
        pattern("@bearer:replace", &BEARER, 0, "Bearer [token]"),
        basic_auth("@basicauth:replace", "Basic [token]"),
        pattern("@awskey:replace", &AWS_KEY_ID, 0, "[awskey]"),
        pattern("@jwt:replace", &JWT, 0, "[jwt]"),
        pattern("@password:replace", &PASSWORD_PAIR, 1, FILTERED),
    ]
}

fn pattern(id: &'static str, re: &LazyLock<Regex>, group: usize, text: &'static str) -> Rule {
    Rule {
        id: Cow::Borrowed(id),
        matcher: Matcher::Pattern {
            re: Regex::clone(re),
            group,
            accept: None,
        },
        redaction: Redaction::Replace(Cow::Borrowed(text)),
    }
}

fn basic_auth(id: &'static str, text: &'static str) -> Rule {
    Rule {
        id: Cow::Borrowed(id),
        matcher: Matcher::Pattern {
            re: Regex::clone(&BASIC_AUTH),
            group: 0,
            accept: Some(is_basic_credential),
        },
        redaction: Redaction::Replace(Cow::Borrowed(text)),
    }
}

/// The password rule (§5.1): sensitive key words, and the same words in values.
fn password_rule(with_values: bool) -> Rule {
    Rule {
        id: Cow::Borrowed("@password:filter"),
        matcher: Matcher::KeyOrValue {
            key: Regex::clone(&PASSWORD_KEY),
            value: with_values.then(|| Regex::clone(&PASSWORD_VALUE)),
        },
        redaction: Redaction::Replace(Cow::Borrowed(FILTERED)),
    }
}

/// A `Basic` credential is only replaced when it really is base64 of `user:password`,
/// so prose such as "Basic authentication failed" stays.
fn is_basic_credential(matched: &str) -> bool {
    let Some(token) = matched.split_whitespace().nth(1) else {
        return false;
    };
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(token)
        .is_ok_and(|bytes| bytes.contains(&b':'))
}

/// One case-insensitive literal alternation of the trimmed, non-empty entries.
fn sensitive_fields_regex(fields: &[String]) -> Result<Option<Regex>, ScrubError> {
    let words: Vec<String> = fields
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .map(regex::escape)
        .collect();
    if words.is_empty() {
        return Ok(None);
    }
    // The flag is inline so the prefilter set, built from the pattern text, keeps it.
    RegexBuilder::new(&format!("(?i){}", words.join("|")))
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map(Some)
        .map_err(|_| {
            ScrubError::InvalidSetting("the list of sensitive fields is too large; remove some entries".to_owned())
        })
}

fn compile_custom_rules(rules: &[CustomRule]) -> Result<Vec<Rule>, ScrubError> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let name = match rule.name.as_deref().map(str::trim) {
                Some(name) if !name.is_empty() => {
                    if !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    {
                        return Err(ScrubError::InvalidSetting(format!(
                            "custom rule name {name:?} may only contain letters, digits, '_', '-' and '.'"
                        )));
                    }
                    name.to_owned()
                }
                _ => (index + 1).to_string(),
            };
            if rule.pattern.chars().count() > MAX_CUSTOM_PATTERN_LEN {
                return Err(ScrubError::InvalidSetting(format!(
                    "custom rule {name:?}: the pattern is longer than {MAX_CUSTOM_PATTERN_LEN} characters"
                )));
            }
            let re = RegexBuilder::new(&rule.pattern)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    ScrubError::InvalidSetting(format!(
                        "custom rule {name:?}: the pattern is not a valid regular expression: {e}"
                    ))
                })?;
            if re.is_match("") {
                return Err(ScrubError::InvalidSetting(format!(
                    "custom rule {name:?}: the pattern matches the empty string, so it would match everywhere"
                )));
            }
            Ok(Rule {
                id: Cow::Owned(format!("custom:{name}")),
                matcher: Matcher::Pattern {
                    re,
                    group: 0,
                    accept: None,
                },
                redaction: Redaction::Replace(Cow::Borrowed(FILTERED)),
            })
        })
        .collect()
}

fn built_in(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in scrubbing patterns are valid")
}

/// 15/16-digit card numbers of the big issuers, optionally spaced or dashed.
static CREDITCARD: LazyLock<Regex> =
    LazyLock::new(|| built_in(r"\b(?:3[47]\d|4\d{3}|5[1-5]\d{2}|65\d{2}|6011)(?:[-\s]?\d){12}\b"));

static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    built_in(concat!(
        r"\b(?:AT|AD|AE|AL|AZ|BA|BE|BG|BH|BR|BY|CH|CR|CY|CZ|DE|DK|DO|EE|EG|ES|FI|FO|FR|GB|GE|",
        r"GI|GL|GR|GT|HR|HU|IE|IL|IQ|IS|IT|JO|KW|KZ|LB|LC|LI|LT|LU|LV|LY|MC|MD|ME|MK|MR|MT|",
        r"MU|NL|NO|PK|PL|PS|PT|QA|RO|RU|RS|SA|SC|SE|SI|SK|SM|ST|SV|TL|TN|TR|UA|VA|VG|XK|DZ|",
        r"AO|BJ|BF|BI|CV|CM|CF|TD|KM|CG|CI|DJ|GQ|GA|GW|HN|IR|MG|ML|MA|MZ|NI|NE|SN|TG)",
        r"\d{2}[a-zA-Z0-9]{11,29}\b"
    ))
});

/// Group 1 is the key body between the BEGIN and END lines.
static PEM_KEY: LazyLock<Regex> = LazyLock::new(|| {
    built_in(concat!(
        r"(?s)-----BEGIN[A-Z ]+(?:PRIVATE|PUBLIC) KEY-----[\t ]*\r?\n?",
        r"(.+?)",
        r"\r?\n?-----END[A-Z ]+(?:PRIVATE|PUBLIC) KEY-----"
    ))
});

/// Group 1 is the password of `scheme://user:password@`.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| built_in(r"\b(?:[a-zA-Z0-9+.-]+:)?//[a-zA-Z0-9%_.-]+:([a-zA-Z0-9%_.-]+)@"));

static US_SSN: LazyLock<Regex> = LazyLock::new(|| built_in(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"));

static BEARER: LazyLock<Regex> = LazyLock::new(|| built_in(r"(?i)\bbearer\s+\S+"));

static BASIC_AUTH: LazyLock<Regex> = LazyLock::new(|| built_in(r"(?i)\bbasic\s+[A-Za-z0-9+/]{4,}={0,2}"));

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    built_in(concat!(
        r"\b[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@",
        r"[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\.[a-zA-Z]{2,}\b"
    ))
});

static AWS_KEY_ID: LazyLock<Regex> = LazyLock::new(|| built_in(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"));

static JWT: LazyLock<Regex> = LazyLock::new(|| built_in(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"));

/// Key words of §5.1, as matched against keys (a bare `token` counts).
static PASSWORD_KEY: LazyLock<Regex> = LazyLock::new(|| {
    built_in(concat!(
        r"(?i)password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|",
        r"privatekey|private[-_]key|token|^otp$|^two[-_]factor$"
    ))
});

/// Key words of §5.1, as matched against values (`token` only before `:` or `=`).
static PASSWORD_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    built_in(concat!(
        r"(?i)password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|",
        r"privatekey|private[-_]key|token\S*[:=]|^otp$|^two[-_]factor$"
    ))
});

/// A key word of §5.1 inside free text, directly followed by `=` or `:` and a value
/// (`password=hunter2`, `access_token: abc`, `"api_key": "k"`); group 1 is the value:
/// a quoted string or a run up to whitespace or punctuation that ends a value (§10).
static PASSWORD_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    built_in(concat!(
        r"(?i)(?:password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|",
        r"privatekey|private[-_]key|token|otp|two[-_]factor)[a-z0-9_.-]*",
        r#"["']?[ \t]*[=:][ \t]*("[^"\n]+"|'[^'\n]+'|[^\s,;&"'<>()\[\]{}]+)"#
    ))
});

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let octet = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)";
    built_in(&format!(r"\b(?:{octet}\.){{3}}{octet}\b"))
});

/// IPv6 in the shape Relay matches it (group 1 is the replaced part), which is why
/// `2001:db8::1` becomes `2001:[ip]` (spec §9).
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let h = "[0-9a-f]{1,4}";
    let octet = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)";
    let v4 = format!(r"(?:{octet}\.){{3}}{octet}");
    let forms = [
        format!("(?:{h}:){{7}}{h}"),
        format!("(?:{h}:){{1,7}}:"),
        format!("(?:{h}:){{1,6}}::{h}"),
        format!("(?:{h}:){{1,5}}:(?::{h}){{1,2}}"),
        format!("(?:{h}:){{1,4}}:(?::{h}){{1,3}}"),
        format!("(?:{h}:){{1,3}}:(?::{h}){{1,4}}"),
        format!("(?:{h}:){{1,2}}:(?::{h}){{1,5}}"),
        format!("{h}:(?:(?::{h}){{1,6}})"),
        format!(":(?:(?::{h}){{1,7}}|:)"),
        format!("fe80:(?::{h}){{0,4}}%[0-9a-z]+"),
        format!("::(?:ffff(?::0{{1,4}})?:)?{v4}"),
        format!("(?:{h}:){{1,4}}:{v4}"),
    ];
    built_in(&format!(
        r"(?i)(?:\s|[[:punct:]]|^)({})(?:\s|[[:punct:]]|$)",
        forms.join("|")
    ))
});
