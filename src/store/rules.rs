//! Rules every backend applies the same way: slugs, token hashes, release order,
//! when an event reopens an issue, and the stored payload's encoding. Pure, no I/O.

use std::cmp::Ordering;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{IssueStatus, StatusChange};

/// Orders release names: semver-aware where both parse (`pkg@1.10.0` > `pkg@1.9.2`), else by text.
pub fn compare_releases(a: &str, b: &str) -> Ordering {
    fn version(release: &str) -> Option<Vec<u64>> {
        let v = release.rsplit('@').next().unwrap_or(release);
        let v = v.trim_start_matches('v');
        let core = v.split(['-', '+']).next().unwrap_or(v);
        core.split('.').map(|p| p.parse::<u64>().ok()).collect()
    }
    match (version(a), version(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Project slugs: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 50
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && slug.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !slug.chars().all(|c| c.is_ascii_digit())
}

/// SHA-256 of a token, hex: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a new event reopens an issue, and with which substatus.
///
/// Resolved issues regress unless the event comes from a release older than the one the
/// issue was resolved in; ignored issues wake when their time or count condition is met.
pub fn reopens(
    status: IssueStatus,
    details: &Value,
    release: Option<&str>,
    timestamp: i64,
    times_seen: i64,
) -> Option<&'static str> {
    match status {
        IssueStatus::Resolved => {
            if let (Some(resolved_in), Some(release)) = (details.get("inRelease").and_then(Value::as_str), release) {
                // Resolved "in the next release": the release it was seen in still has the bug.
                let next_only = details.get("inNextRelease") == Some(&Value::Bool(true));
                let order = compare_releases(release, resolved_in);
                if order == Ordering::Less || (next_only && order == Ordering::Equal) {
                    return None;
                }
            }
            Some("regressed")
        }
        IssueStatus::Ignored => {
            let until = details.get("ignoreUntilUs").and_then(Value::as_i64);
            if until.is_some_and(|u| timestamp >= u) {
                return Some("escalating");
            }
            let count = details.get("ignoreCount").and_then(Value::as_i64);
            let base = details.get("timesSeenAtIgnore").and_then(Value::as_i64).unwrap_or(0);
            if count.is_some_and(|c| times_seen - base >= c) {
                return Some("escalating");
            }
            None
        }
        IssueStatus::Unresolved => None,
    }
}

pub const DEFAULT_ORG_SLUG: &str = "errata";
pub const DEFAULT_PROJECT_SLUG: &str = "default";

/// Stored among a token's scopes when it is an organization token.
pub const ORG_TOKEN_MARKER: &str = "org-token";

/// The status details to store for one issue: resolving "in the next release" records
/// the release the issue was last seen in, so only newer releases regress it.
pub fn status_details(change: &StatusChange, last_release: Option<&str>) -> Value {
    let mut details = change.details.clone();
    if change.status == IssueStatus::Resolved
        && details.get("inNextRelease") == Some(&Value::Bool(true))
        && let Some(release) = last_release
    {
        details["inRelease"] = Value::String(release.to_owned());
        details["inNextRelease"] = Value::Bool(true);
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_compare_semver_aware() {
        assert_eq!(compare_releases("shop@1.10.0", "shop@1.9.2"), Ordering::Greater);
        assert_eq!(compare_releases("1.2.0", "1.2.0"), Ordering::Equal);
        assert_eq!(compare_releases("v2.0", "v10.0"), Ordering::Less);
    }
}
