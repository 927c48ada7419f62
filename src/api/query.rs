//! The issue search syntax (`is:unresolved level:error !release:1.0 "free text"`)
//! parsed into typed store conditions.

use crate::errors::ApiError;
use crate::store::{Cmp, Condition};

/// Splits on spaces outside double quotes; quotes are removed.
fn tokens(query: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(parse_error("unterminated quote"));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn parse_error(msg: &str) -> ApiError {
    ApiError::BadRequest(format!("Error parsing search query: {msg}"))
}

/// Most terms in one query. Each becomes part of one SQL expression, and SQLite refuses a
/// tree deeper than 1,000 ("Expression tree is too large"); real searches use a handful.
pub const MAX_TERMS: usize = 100;

/// Most values in one `key:[a,b,…]` list.
pub const MAX_LIST_VALUES: usize = 100;

/// `[a,b]` lists or a single value.
fn values(raw: &str) -> Result<Vec<String>, ApiError> {
    let values: Vec<String> = match raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(list) => list
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
        None => vec![raw.to_string()],
    };
    if values.len() > MAX_LIST_VALUES {
        return Err(parse_error(&format!(
            "a list has {} values; at most {MAX_LIST_VALUES} are allowed",
            values.len()
        )));
    }
    Ok(values)
}

/// `>N`, `<=N`, `N` …
fn comparison(raw: &str) -> (Cmp, &str) {
    for (prefix, cmp) in [
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
        ("=", Cmp::Eq),
    ] {
        if let Some(rest) = raw.strip_prefix(prefix) {
            return (cmp, rest);
        }
    }
    (Cmp::Eq, raw)
}

/// A relative age such as `24h`, `7d`, `30m`, `2w` in microseconds.
pub fn duration_us(raw: &str) -> Option<i64> {
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000)
}

/// `-24h` = newer than 24 h ago; `+7d` = older than 7 days; or `>=2025-01-01` style absolute dates.
fn date_condition(raw: &str, now_us: i64) -> Result<(Cmp, i64), ApiError> {
    if let Some(rel) = raw.strip_prefix('-') {
        let d = duration_us(rel).ok_or_else(|| parse_error(&format!("invalid relative date {raw:?}")))?;
        return Ok((Cmp::Ge, now_us - d));
    }
    if let Some(rel) = raw.strip_prefix('+') {
        let d = duration_us(rel).ok_or_else(|| parse_error(&format!("invalid relative date {raw:?}")))?;
        return Ok((Cmp::Le, now_us - d));
    }
    let (cmp, rest) = comparison(raw);
    let at = parse_datetime(rest).ok_or_else(|| parse_error(&format!("invalid date {raw:?}")))?;
    Ok((cmp, at))
}

/// ISO dates and datetimes, naive ones as UTC.
pub fn parse_datetime(raw: &str) -> Option<i64> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(dt.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_micros())
}

fn count_condition(raw: &str) -> Result<(Cmp, i64), ApiError> {
    let (cmp, rest) = comparison(raw);
    let n = rest
        .parse()
        .map_err(|_| parse_error(&format!("invalid number {rest:?}")))?;
    Ok((cmp, n))
}

/// Parses a whole query. An empty query has no conditions.
pub fn parse(query: &str, now_us: i64) -> Result<Vec<Condition>, ApiError> {
    let mut conditions = Vec::new();
    let tokens = tokens(query)?;
    if tokens.len() > MAX_TERMS {
        return Err(parse_error(&format!(
            "{} terms; at most {MAX_TERMS} are allowed",
            tokens.len()
        )));
    }
    for token in tokens {
        let (negate, term) = match token.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, token.as_str()),
        };
        let Some((key, value)) = term.split_once(':').filter(|(k, v)| !k.is_empty() && !v.is_empty()) else {
            conditions.push(Condition::Text {
                text: term.to_string(),
                negate,
            });
            continue;
        };
        let condition = match key {
            "is" => {
                let status = match value {
                    "unresolved" | "resolved" | "ignored" => value,
                    "archived" | "muted" => "ignored",
                    // Assignment is not tracked: nothing is assigned.
                    "unassigned" => continue,
                    "assigned" | "for_review" | "linked" | "unlinked" => "none",
                    other => return Err(parse_error(&format!("invalid value {other:?} for is:"))),
                };
                Condition::Status {
                    values: vec![status.to_string()],
                    negate,
                }
            }
            "level" => Condition::Level {
                values: values(value)?,
                negate,
            },
            "release" => Condition::Release {
                values: values(value)?,
                negate,
            },
            "environment" => Condition::Environment {
                values: values(value)?,
                negate,
            },
            "firstSeen" | "age" | "first_seen" => {
                let (cmp, at_us) = date_condition(value, now_us)?;
                Condition::FirstSeen { cmp, at_us }
            }
            "lastSeen" | "last_seen" => {
                let (cmp, at_us) = date_condition(value, now_us)?;
                Condition::LastSeen { cmp, at_us }
            }
            "timesSeen" | "times_seen" => {
                let (cmp, count) = count_condition(value)?;
                Condition::TimesSeen { cmp, count }
            }
            "users" | "user_count" => {
                let (cmp, count) = count_condition(value)?;
                Condition::UserCount { cmp, count }
            }
            "has" => Condition::Has {
                key: value.to_string(),
                negate,
            },
            "message" | "title" | "error.value" | "error.type" => Condition::Text {
                text: value.to_string(),
                negate,
            },
            "user.email" => Condition::Tag {
                key: "user".into(),
                values: vec![format!("email:{value}")],
                negate,
            },
            "user.id" => Condition::Tag {
                key: "user".into(),
                values: vec![format!("id:{value}")],
                negate,
            },
            "error.handled" => Condition::Tag {
                key: "handled".into(),
                values: vec![yes_no(value)],
                negate,
            },
            "error.unhandled" => Condition::Tag {
                key: "handled".into(),
                values: vec![if yes_no(value) == "yes" { "no" } else { "yes" }.into()],
                negate,
            },
            "assigned" | "assigned_to" | "bookmarks" | "subscribed" => Condition::Status {
                values: vec!["none".into()],
                negate,
            },
            key => {
                let key = key
                    .strip_prefix("tags[")
                    .and_then(|k| k.strip_suffix(']'))
                    .unwrap_or(key);
                Condition::Tag {
                    key: key.to_string(),
                    values: values(value)?,
                    negate,
                }
            }
        };
        conditions.push(condition);
    }
    Ok(conditions)
}

fn yes_no(v: &str) -> String {
    if matches!(v, "1" | "true" | "yes") {
        "yes".into()
    } else {
        "no".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_conformance_query() {
        let c = parse(
            "is:resolved level:error release:shop@1.4.0 environment:production checkout",
            0,
        )
        .unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(
            c[0],
            Condition::Status {
                values: vec!["resolved".into()],
                negate: false
            }
        );
        assert_eq!(
            c[4],
            Condition::Text {
                text: "checkout".into(),
                negate: false
            }
        );
    }

    #[test]
    fn negation_lists_and_quotes() {
        let c = parse("!level:error browser:[Chrome,Firefox] \"two words\"", 0).unwrap();
        assert_eq!(
            c[0],
            Condition::Level {
                values: vec!["error".into()],
                negate: true
            }
        );
        assert_eq!(
            c[1],
            Condition::Tag {
                key: "browser".into(),
                values: vec!["Chrome".into(), "Firefox".into()],
                negate: false
            }
        );
        assert_eq!(
            c[2],
            Condition::Text {
                text: "two words".into(),
                negate: false
            }
        );
    }

    #[test]
    fn relative_dates_and_counts() {
        let now = 100 * 3_600_000_000;
        let c = parse("lastSeen:-24h timesSeen:>5", now).unwrap();
        assert_eq!(
            c[0],
            Condition::LastSeen {
                cmp: Cmp::Ge,
                at_us: now - 24 * 3_600_000_000
            }
        );
        assert_eq!(c[1], Condition::TimesSeen { cmp: Cmp::Gt, count: 5 });
    }

    #[test]
    fn bad_queries_are_parse_errors() {
        assert!(parse("is:bogus", 0).is_err());
        assert!(parse("timesSeen:>x", 0).is_err());
        assert!(parse("\"open", 0).is_err());
    }
}
