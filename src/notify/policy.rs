//! Pure decisions, no I/O: whether a rule fires for what just happened to an issue, whether
//! storm control lets it through, and what to do after an attempt (done, retry when, or give
//! up) — exponential backoff with jitter up to a maximum age, `Retry-After` honoured.

use std::time::Duration;

use super::model::{Level, Reason, Rule, Trigger};

/// What just happened to an issue, as the ingest transaction sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// The issue was created by this event.
    Created,
    /// A resolved issue was reopened by this event.
    Regressed,
    /// An existing open issue was seen again.
    SeenAgain,
}

/// The event that caused the happening, for the filters.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub level: Level,
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
    pub tags: &'a [(String, String)],
}

/// Whether `rule` fires, and why. `seen_within(minutes)` counts the issue's events in the
/// last `minutes` minutes including this one; it is only asked for escalation triggers.
pub fn fires(
    rule: &Rule,
    happening: Happening,
    event: &EventFacts<'_>,
    seen_within: impl Fn(u32) -> u64,
) -> Option<Reason> {
    if !rule.enabled || !filters_hold(rule, event) {
        return None;
    }
    rule.triggers.iter().find_map(|trigger| match (trigger, happening) {
        (Trigger::NewIssue, Happening::Created) => Some(Reason::NewIssue),
        (Trigger::Regression, Happening::Regressed) => Some(Reason::Regression),
        // A new issue is not "escalating": a rule with both triggers says "new issue".
        (Trigger::Escalation { count, minutes }, Happening::SeenAgain | Happening::Regressed) => {
            (seen_within(*minutes) >= u64::from(*count)).then_some(Reason::Escalation)
        }
        _ => None,
    })
}

/// The most events any escalation trigger of `rules` asks for: how far the store needs to
/// count an issue's recent events to answer `seen_within` for every one of them.
pub fn escalation_cap(rules: &[Rule]) -> u32 {
    rules
        .iter()
        .flat_map(|r| &r.triggers)
        .filter_map(|t| match t {
            Trigger::Escalation { count, .. } => Some(*count),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

fn filters_hold(rule: &Rule, event: &EventFacts<'_>) -> bool {
    let f = &rule.filters;
    let any_of =
        |wanted: &[String], got: Option<&str>| wanted.is_empty() || got.is_some_and(|g| wanted.iter().any(|w| w == g));
    (f.levels.is_empty() || f.levels.contains(&event.level))
        && f.min_level.is_none_or(|min| event.level >= min)
        && any_of(&f.environments, event.environment)
        && any_of(&f.releases, event.release)
        && f.tags
            .iter()
            .all(|t| event.tags.iter().any(|(k, v)| *k == t.key && *v == t.value))
}

/// Storm control per issue and rule: at most one notification within the rule's interval.
/// `last_notified_ms` is when this rule last notified about this issue, if ever.
pub fn throttle_allows(rule: &Rule, last_notified_ms: Option<i64>, now_ms: i64) -> bool {
    match last_notified_ms {
        None => true,
        Some(last) => now_ms.saturating_sub(last) >= i64::from(rule.interval_secs) * 1000,
    }
}

/// Timing of deliveries and retries; every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First retry after about this long (30 s).
    pub base: Duration,
    /// No single wait longer than this (1 h), `Retry-After` included.
    pub cap: Duration,
    /// Give up once a notification is this old (24 h).
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 = after the first failure): base·2^(n−1),
    /// capped, with "equal jitter" — half fixed, half random from `jitter` ∈ [0, 1) — so a
    /// receiver that comes back is not hit by every sender at once.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        full / 2 + full.mul_f64(jitter / 2.0)
    }
}

/// What one attempt came to, as far as the policy cares; never the receiver's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered with this status (`retry_after` from its header, if any).
    Status { code: u16, retry_after: Option<Duration> },
    /// No answer within the per-attempt time.
    Timeout,
    /// Could not connect or the connection broke.
    Connection,
    /// The door refused the destination (metadata address, range not allowed).
    Refused,
    /// The channel's configuration cannot work (bad address, unreadable URL).
    Misconfigured,
    /// SMTP answered; `permanent` for 5xx codes.
    Smtp { code: u16, permanent: bool },
}

impl AttemptOutcome {
    /// A short label for metrics and the delivery history.
    pub fn label(&self) -> String {
        match self {
            AttemptOutcome::Status { code, .. } => code.to_string(),
            AttemptOutcome::Timeout => "timeout".into(),
            AttemptOutcome::Connection => "connection_error".into(),
            AttemptOutcome::Refused => "refused".into(),
            AttemptOutcome::Misconfigured => "misconfigured".into(),
            AttemptOutcome::Smtp { code, .. } => format!("smtp_{code}"),
        }
    }
}

/// What to do with a notification after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again at this time (unix ms).
    RetryAt(i64),
    /// Never try again.
    Failed(FailReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The receiver said no for good (a 4xx other than 408/429, a redirect, SMTP 5xx).
    Rejected,
    /// The destination may not be reached or the channel cannot work.
    Refused,
    /// The next try would be past the maximum age.
    Expired,
}

impl FailReason {
    pub fn label(self) -> &'static str {
        match self {
            FailReason::Rejected => "rejected",
            FailReason::Refused => "refused",
            FailReason::Expired => "expired",
        }
    }
}

/// Judges attempt number `attempt` (1-based) of a notification created at `created_at_ms`.
pub fn judge(
    policy: &RetryPolicy,
    outcome: &AttemptOutcome,
    attempt: u32,
    created_at_ms: i64,
    now_ms: i64,
    jitter: f64,
) -> Verdict {
    let backoff = policy.backoff(attempt, jitter);
    let wait = match outcome {
        AttemptOutcome::Status { code, .. } if (200..300).contains(code) => return Verdict::Delivered,
        AttemptOutcome::Status {
            code: 429 | 503,
            retry_after,
        } => {
            // The receiver's own word wins, within the cap; at least a second, so a receiver
            // answering `Retry-After: 0` cannot spin the sender.
            retry_after.map_or(backoff, |ra| ra.clamp(Duration::from_secs(1), policy.cap))
        }
        AttemptOutcome::Status { code: 408, .. } => backoff,
        AttemptOutcome::Status { code, .. } if (500..600).contains(code) => backoff,
        AttemptOutcome::Status { .. } => return Verdict::Failed(FailReason::Rejected),
        AttemptOutcome::Timeout | AttemptOutcome::Connection => backoff,
        AttemptOutcome::Refused | AttemptOutcome::Misconfigured => return Verdict::Failed(FailReason::Refused),
        AttemptOutcome::Smtp { permanent: true, .. } => return Verdict::Failed(FailReason::Rejected),
        AttemptOutcome::Smtp { permanent: false, .. } => backoff,
    };
    let at = now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
    let deadline = created_at_ms.saturating_add(i64::try_from(policy.max_age.as_millis()).unwrap_or(i64::MAX));
    if at > deadline {
        Verdict::Failed(FailReason::Expired)
    } else {
        Verdict::RetryAt(at)
    }
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110), relative to `now_ms`.
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ms = at.timestamp_millis().saturating_sub(now_ms);
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::model::{ChannelId, Filters, RuleId, TagFilter};
    use proptest::prelude::*;

    fn rule(triggers: Vec<Trigger>, filters: Filters) -> Rule {
        Rule {
            id: RuleId(1),
            project_id: 1,
            name: "r".into(),
            triggers,
            filters,
            channels: vec![ChannelId(1)],
            interval_secs: 60,
            enabled: true,
        }
    }

    fn facts<'a>(level: Level, env: Option<&'a str>, tags: &'a [(String, String)]) -> EventFacts<'a> {
        EventFacts {
            level,
            environment: env,
            release: Some("1.0"),
            tags,
        }
    }

    #[test]
    fn triggers_fire_for_their_happening_only() {
        let r = rule(vec![Trigger::NewIssue, Trigger::Regression], Filters::default());
        let f = facts(Level::Error, None, &[]);
        assert_eq!(fires(&r, Happening::Created, &f, |_| 1), Some(Reason::NewIssue));
        assert_eq!(fires(&r, Happening::Regressed, &f, |_| 1), Some(Reason::Regression));
        assert_eq!(fires(&r, Happening::SeenAgain, &f, |_| 1000), None);
        let mut off = r.clone();
        off.enabled = false;
        assert_eq!(fires(&off, Happening::Created, &f, |_| 1), None);
    }

    #[test]
    fn escalation_needs_the_count_within_its_window() {
        let r = rule(vec![Trigger::Escalation { count: 10, minutes: 5 }], Filters::default());
        let f = facts(Level::Error, None, &[]);
        assert_eq!(fires(&r, Happening::SeenAgain, &f, |_| 9), None);
        assert_eq!(
            fires(&r, Happening::SeenAgain, &f, |m| if m == 5 { 10 } else { 0 }),
            Some(Reason::Escalation)
        );
        assert_eq!(fires(&r, Happening::Created, &f, |_| 100), None);
    }

    #[test]
    fn counting_goes_as_far_as_the_largest_escalation_asks() {
        let small = rule(vec![Trigger::Escalation { count: 3, minutes: 10 }], Filters::default());
        let large = rule(
            vec![Trigger::NewIssue, Trigger::Escalation { count: 50, minutes: 60 }],
            Filters::default(),
        );
        assert_eq!(escalation_cap(&[small.clone(), large]), 50);
        assert_eq!(escalation_cap(&[small]), 3);
        assert_eq!(escalation_cap(&[rule(vec![Trigger::NewIssue], Filters::default())]), 0);
        assert_eq!(escalation_cap(&[]), 0);
    }

    #[test]
    fn filters_narrow_by_level_environment_release_and_tag() {
        let tags = vec![("region".to_string(), "eu".to_string())];
        let filters = Filters {
            min_level: Some(Level::Error),
            environments: vec!["production".into()],
            releases: vec!["1.0".into()],
            tags: vec![TagFilter {
                key: "region".into(),
                value: "eu".into(),
            }],
            ..Filters::default()
        };
        let r = rule(vec![Trigger::NewIssue], filters);
        assert!(
            fires(
                &r,
                Happening::Created,
                &facts(Level::Fatal, Some("production"), &tags),
                |_| 1
            )
            .is_some()
        );
        assert!(
            fires(
                &r,
                Happening::Created,
                &facts(Level::Warning, Some("production"), &tags),
                |_| 1
            )
            .is_none()
        );
        assert!(
            fires(
                &r,
                Happening::Created,
                &facts(Level::Error, Some("staging"), &tags),
                |_| 1
            )
            .is_none()
        );
        assert!(fires(&r, Happening::Created, &facts(Level::Error, None, &tags), |_| 1).is_none());
        assert!(
            fires(
                &r,
                Happening::Created,
                &facts(Level::Error, Some("production"), &[]),
                |_| 1
            )
            .is_none()
        );
        let mut other_release = facts(Level::Error, Some("production"), &tags);
        other_release.release = Some("2.0");
        assert!(fires(&r, Happening::Created, &other_release, |_| 1).is_none());
    }

    #[test]
    fn one_notification_per_issue_and_rule_per_interval() {
        let r = rule(vec![Trigger::NewIssue], Filters::default());
        assert!(throttle_allows(&r, None, 0));
        assert!(!throttle_allows(&r, Some(1_000), 60_999));
        assert!(throttle_allows(&r, Some(1_000), 61_000));
    }

    #[test]
    fn status_codes_are_judged() {
        let p = RetryPolicy::default();
        let judge1 = |o: AttemptOutcome| judge(&p, &o, 1, 0, 0, 0.0);
        let status = |code| AttemptOutcome::Status {
            code,
            retry_after: None,
        };
        assert_eq!(judge1(status(200)), Verdict::Delivered);
        assert_eq!(judge1(status(204)), Verdict::Delivered);
        assert_eq!(judge1(status(404)), Verdict::Failed(FailReason::Rejected));
        assert_eq!(judge1(status(401)), Verdict::Failed(FailReason::Rejected));
        assert_eq!(judge1(status(302)), Verdict::Failed(FailReason::Rejected));
        assert_eq!(judge1(status(500)), Verdict::RetryAt(15_000));
        assert_eq!(judge1(status(408)), Verdict::RetryAt(15_000));
        assert_eq!(judge1(AttemptOutcome::Timeout), Verdict::RetryAt(15_000));
        assert_eq!(judge1(AttemptOutcome::Refused), Verdict::Failed(FailReason::Refused));
        assert_eq!(
            judge1(AttemptOutcome::Smtp {
                code: 550,
                permanent: true
            }),
            Verdict::Failed(FailReason::Rejected)
        );
        assert!(matches!(
            judge1(AttemptOutcome::Smtp {
                code: 451,
                permanent: false
            }),
            Verdict::RetryAt(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503() {
        let p = RetryPolicy::default();
        for code in [429, 503] {
            let o = AttemptOutcome::Status {
                code,
                retry_after: Some(Duration::from_secs(120)),
            };
            assert_eq!(judge(&p, &o, 1, 0, 0, 0.0), Verdict::RetryAt(120_000));
            // Shorter than the backoff: the receiver said it is ready sooner.
            let o = AttemptOutcome::Status {
                code,
                retry_after: Some(Duration::from_secs(2)),
            };
            assert_eq!(judge(&p, &o, 1, 0, 0, 0.9), Verdict::RetryAt(2_000));
            // Absurdly long: capped.
            let o = AttemptOutcome::Status {
                code,
                retry_after: Some(Duration::from_secs(999_999)),
            };
            assert_eq!(judge(&p, &o, 1, 0, 0, 0.0), Verdict::RetryAt(3_600_000));
        }
    }

    #[test]
    fn retries_stop_at_the_maximum_age() {
        let p = RetryPolicy::default();
        let day = 24 * 3600 * 1000;
        assert_eq!(
            judge(&p, &AttemptOutcome::Timeout, 20, 0, day - 1000, 0.0),
            Verdict::Failed(FailReason::Expired)
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    proptest! {
        #[test]
        fn backoff_grows_stays_capped_and_jitters_within_half(attempt in 1u32..100, jitter in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let wait = p.backoff(attempt, jitter);
            let full = p.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(30)).min(p.cap);
            prop_assert!(wait >= full / 2 && wait <= full);
            prop_assert!(wait <= p.cap);
            prop_assert!(p.backoff(attempt, 0.0) <= p.backoff(attempt + 1, 0.0));
        }

        #[test]
        fn every_4xx_but_408_and_429_is_permanent(code in 400u16..500) {
            let p = RetryPolicy::default();
            let v = judge(&p, &AttemptOutcome::Status { code, retry_after: None }, 1, 0, 0, 0.5);
            if code == 408 || code == 429 {
                prop_assert!(matches!(v, Verdict::RetryAt(_)));
            } else {
                prop_assert_eq!(v, Verdict::Failed(FailReason::Rejected));
            }
        }

        #[test]
        fn every_5xx_is_retried_until_expiry(code in 500u16..600, attempt in 1u32..10) {
            let p = RetryPolicy::default();
            let v = judge(&p, &AttemptOutcome::Status { code, retry_after: None }, attempt, 0, 0, 0.5);
            prop_assert!(matches!(v, Verdict::RetryAt(at) if at > 0));
        }
    }
}
