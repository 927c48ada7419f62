//! Free text that arrives beside events (user-report fields, text attachments): scrubbed
//! with the replace-only value rules an exception value gets (cards, IBANs, PEM keys, URL
//! passwords, bearer and basic tokens, AWS keys, JWTs), then the value of every
//! `key=value` or `key: value` pair whose key holds a sensitive key word (§10).
//!
//! The text goes through the same chain the walker applies to `exception.values[].value`,
//! so both stay one set of rules; the pair rule here is the free-text rule of §10 for text
//! that is not part of an event and can be folded into that chain once it has it.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::Scrubber;
use super::rules::FILTERED;

/// A key made of word characters that holds a key word of §5.1, then `=` or `:`, then
/// the value: quoted, or up to whitespace, `&`, `,`, `;` or a closing bracket or quote.
static SECRET_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?i)(\b[\w.-]*(?:password|passwd|secret|api[-_]?key|auth|credentials|mysql_pwd|"#,
        r#"private[-_]?key|token)[\w.-]*["']?\s*[=:]\s*)"#,
        r#"("[^"\n]*"|'[^'\n]*'|[^\s&,;"'<>\)\]\}]+)"#
    ))
    .expect("the secret pair pattern is valid")
});

impl Scrubber {
    /// `text` with the value rules applied; borrowed when nothing changed. Does nothing
    /// when the project turned data scrubbing or the built-in rules off.
    pub fn scrub_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let settings = self.settings();
        if !(settings.scrub_data && settings.scrub_defaults) {
            return Cow::Borrowed(text);
        }
        let mut carrier = json!({"exception": {"values": [{"value": text}]}});
        self.scrub(&mut carrier);
        let valued = match carrier.pointer("/exception/values/0/value").and_then(Value::as_str) {
            Some(scrubbed) if scrubbed == text => Cow::Borrowed(text),
            Some(scrubbed) => Cow::Owned(scrubbed.to_owned()),
            // A rule removed the value as a whole: nothing of it may be kept.
            None => Cow::Owned(FILTERED.to_owned()),
        };
        match SECRET_PAIR.replace_all(&valued, |c: &regex::Captures<'_>| format!("{}{FILTERED}", &c[1])) {
            Cow::Borrowed(_) => valued,
            Cow::Owned(replaced) => Cow::Owned(replaced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::scrub::ScrubSettings;

    fn scrubber() -> Scrubber {
        Scrubber::new(&ScrubSettings::default()).expect("defaults compile")
    }

    #[test]
    fn secrets_in_free_text_are_replaced_and_prose_stays() {
        let sc = scrubber();
        let text = "login failed password=hunter2 card 4111 1111 1111 1111 key AKIAIOSFODNN7EXAMPLE\n\
                    DB_PASSWORD: \"s3cr3t pass\" api_key='abc' token=xyz&next=1";
        let out = sc.scrub_text(text);
        for secret in ["hunter2", "4111 1111", "AKIAIOSFODNN7EXAMPLE", "s3cr3t", "abc", "xyz"] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(out.contains("password=[Filtered]"), "{out}");
        assert!(out.contains("next=1"), "{out}");
        let prose = "password reset link sent to the user";
        assert!(matches!(sc.scrub_text(prose), Cow::Borrowed(p) if p == prose));
    }

    #[test]
    fn scrubbing_off_keeps_text() {
        let sc = Scrubber::new(&ScrubSettings {
            scrub_data: false,
            ..ScrubSettings::default()
        })
        .expect("compiles");
        assert_eq!(sc.scrub_text("password=hunter2"), "password=hunter2");
    }
}
