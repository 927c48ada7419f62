//! An organization's outcomes in Sentry's `stats_v2` shape
//! (`GET /api/0/organizations/{org}/stats_v2/`): how many items were accepted, and how many
//! were dropped and why, per interval, grouped by `category`, `outcome`, `reason` or `project`.
//!
//! Outcomes are counted per UTC day, so intervals are whole days: a shorter `interval`
//! (`1h`) is answered in 1-day buckets, which `intervals` lists. As in Sentry, the `error`
//! category stands for error, default and security events.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::discover::time_range;
use super::issues::Params;
use super::resolve_org;
use super::serialize::iso;
use crate::errors::ApiError;
use crate::http::{Json, Path, Query, State};
use crate::state::AppState;
use crate::store::{OutcomeRow, now_us};

const DAY_US: i64 = 86_400 * 1_000_000;
/// The longest range, in days.
pub const MAX_DAYS: i64 = 366;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

fn params_all<'a>(params: &'a Params, key: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// What `groupBy` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Category,
    Outcome,
    Reason,
    Project,
}

impl GroupBy {
    fn parse(raw: &str) -> Result<GroupBy, ApiError> {
        Ok(match raw {
            "category" => GroupBy::Category,
            "outcome" => GroupBy::Outcome,
            "reason" => GroupBy::Reason,
            "project" => GroupBy::Project,
            other => return Err(bad(format!("Invalid groupBy: {other:?}"))),
        })
    }

    fn name(self) -> &'static str {
        match self {
            GroupBy::Category => "category",
            GroupBy::Outcome => "outcome",
            GroupBy::Reason => "reason",
            GroupBy::Project => "project",
        }
    }
}

/// The category as `stats_v2` names it: default and security events count as `error`.
pub fn public_category(stored: &str) -> &str {
    match stored {
        "default" | "security" => "error",
        other => other,
    }
}

/// A parsed request, bounded.
#[derive(Debug, Clone)]
pub struct UsageRequest {
    pub field: String,
    pub group_by: Vec<GroupBy>,
    pub categories: Vec<String>,
    pub outcomes: Vec<String>,
    pub reasons: Vec<String>,
    /// First and last day (inclusive), as day numbers since the epoch.
    pub first_day: i64,
    pub last_day: i64,
    /// Bucket width in days.
    pub interval_days: i64,
}

impl UsageRequest {
    pub fn parse(params: &Params, now: i64) -> Result<UsageRequest, ApiError> {
        let fields = params_all(params, "field");
        let field = match fields.as_slice() {
            ["sum(quantity)"] => "sum(quantity)".to_string(),
            [] => return Err(bad("field is required: sum(quantity)")),
            [other] => return Err(bad(format!("Invalid field: {other:?}; use sum(quantity)"))),
            _ => return Err(bad("one field is allowed: sum(quantity)")),
        };
        let group_by = params_all(params, "groupBy")
            .into_iter()
            .map(GroupBy::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if group_by.len() > 4 {
            return Err(bad("at most 4 groupBy values"));
        }
        let interval_days = match params_all(params, "interval").first() {
            None => 1,
            Some(raw) => {
                let us = super::query::duration_us(raw)
                    .filter(|d| *d > 0)
                    .ok_or_else(|| bad(format!("Invalid interval: {raw:?}")))?;
                // Outcomes are kept per day: shorter intervals become one day.
                us.saturating_add(DAY_US - 1) / DAY_US
            }
        };
        let (since, until) = time_range(params, now, MAX_DAYS)?;
        let first_day = since.div_euclid(DAY_US);
        let last_day = (until - 1).div_euclid(DAY_US).max(first_day);
        let list = |key: &str| -> Vec<String> {
            params_all(params, key)
                .into_iter()
                .map(String::from)
                .take(100)
                .collect()
        };
        Ok(UsageRequest {
            field,
            group_by,
            categories: list("category"),
            outcomes: list("outcome"),
            reasons: list("reason"),
            first_day,
            last_day,
            interval_days: interval_days.clamp(1, MAX_DAYS),
        })
    }

    fn buckets(&self) -> usize {
        usize::try_from((self.last_day - self.first_day) / self.interval_days + 1).unwrap_or(1)
    }

    fn keeps(&self, row: &OutcomeRow) -> bool {
        let category = public_category(&row.category);
        (self.categories.is_empty() || self.categories.iter().any(|c| c == category || *c == row.category))
            && (self.outcomes.is_empty() || self.outcomes.contains(&row.outcome))
            && (self.reasons.is_empty() || self.reasons.contains(&row.reason))
    }
}

fn day_number(day: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_micros().div_euclid(DAY_US))
}

fn day_name(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The `stats_v2` answer for outcome rows of the requested days.
pub fn answer(request: &UsageRequest, rows: &[OutcomeRow]) -> Value {
    let buckets = request.buckets();
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<i64>> = BTreeMap::new();
    if request.group_by.is_empty() {
        groups.insert(Vec::new(), vec![0; buckets]);
    }
    for row in rows.iter().filter(|r| request.keeps(r)) {
        let Some(day) = day_number(&row.day) else { continue };
        if day < request.first_day || day > request.last_day {
            continue;
        }
        let bucket = usize::try_from((day - request.first_day) / request.interval_days).unwrap_or(0);
        let key: Vec<(String, String)> = request
            .group_by
            .iter()
            .map(|g| {
                let value = match g {
                    GroupBy::Category => public_category(&row.category).to_string(),
                    GroupBy::Outcome => row.outcome.clone(),
                    GroupBy::Reason => row.reason.clone(),
                    GroupBy::Project => row.project_id.to_string(),
                };
                (g.name().to_string(), value)
            })
            .collect();
        let series = groups.entry(key).or_insert_with(|| vec![0; buckets]);
        if let Some(slot) = series.get_mut(bucket) {
            *slot += row.quantity;
        }
    }
    let field = &request.field;
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(by, series)| {
            let by: Map<String, Value> = by
                .into_iter()
                .map(|(k, v)| {
                    let v = if k == "project" {
                        v.parse::<i64>().map_or(json!(v), |n| json!(n))
                    } else {
                        json!(v)
                    };
                    (k, v)
                })
                .collect();
            let total: i64 = series.iter().sum();
            json!({"by": by, "totals": {field: total}, "series": {field: series}})
        })
        .collect();
    let intervals: Vec<String> = (0..buckets as i64)
        .map(|b| iso_day(request.first_day + b * request.interval_days))
        .collect();
    json!({
        "start": iso_day(request.first_day),
        "end": iso_day(request.last_day + 1),
        "intervals": intervals,
        "groups": groups,
    })
}

fn iso_day(day: i64) -> String {
    let full = iso(day * DAY_US);
    // `2026-01-02T00:00:00.000000Z` → `2026-01-02T00:00:00Z`, as Sentry writes them.
    format!("{}Z", &full[..19.min(full.len())])
}

pub async fn org_stats_v2(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require("org:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let request = UsageRequest::parse(&params, now_us())?;
    let project_ids = super::issues::org_projects(&state, &caller, &org, &params).await?;
    // Exact reads: write what ingest still holds in memory first.
    if let Err(e) = state.cache.flush(&state.store).await {
        tracing::warn!(error = %e, "flushing outcomes before a stats read failed");
    }
    let (since, until) = (day_name(request.first_day), day_name(request.last_day));
    let mut rows = Vec::new();
    for project_id in project_ids {
        let mut got = state.store.outcomes(project_id, &since, &until).await?;
        for r in &mut got {
            r.project_id = project_id;
        }
        rows.extend(got);
    }
    Ok(Json(answer(&request, &rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, category: &str, outcome: &str, reason: &str, quantity: i64) -> OutcomeRow {
        OutcomeRow {
            project_id: 1,
            day: day.into(),
            category: category.into(),
            outcome: outcome.into(),
            reason: reason.into(),
            quantity,
        }
    }

    fn request(pairs: &[(&str, &str)]) -> UsageRequest {
        let params: Params = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        UsageRequest::parse(&params, 1_767_312_000_000_000).unwrap() // 2026-01-02T00:00:00Z
    }

    #[test]
    fn groups_sum_per_day_and_fold_default_into_error() {
        let r = request(&[
            ("field", "sum(quantity)"),
            ("groupBy", "outcome"),
            ("category", "error"),
            ("start", "2025-12-30T00:00:00Z"),
            ("end", "2026-01-01T12:00:00Z"),
        ]);
        let rows = [
            row("2025-12-30", "default", "accepted", "", 3),
            row("2025-12-31", "error", "accepted", "", 2),
            row("2025-12-31", "error", "rate_limited", "", 5),
            row("2026-01-01", "transaction", "accepted", "", 9),
        ];
        let a = answer(&r, &rows);
        assert_eq!(a["intervals"].as_array().unwrap().len(), 3);
        assert_eq!(a["intervals"][0], "2025-12-30T00:00:00Z");
        let groups = a["groups"].as_array().unwrap();
        let accepted = groups.iter().find(|g| g["by"]["outcome"] == "accepted").unwrap();
        assert_eq!(accepted["totals"]["sum(quantity)"], 5);
        assert_eq!(accepted["series"]["sum(quantity)"], json!([3, 2, 0]));
        let limited = groups.iter().find(|g| g["by"]["outcome"] == "rate_limited").unwrap();
        assert_eq!(limited["totals"]["sum(quantity)"], 5);
    }

    #[test]
    fn bad_fields_and_groupings_are_refused() {
        let now = 1_767_312_000_000_000;
        let p =
            |pairs: &[(&str, &str)]| -> Params { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        assert!(UsageRequest::parse(&p(&[]), now).is_err());
        assert!(UsageRequest::parse(&p(&[("field", "sum(bytes)")]), now).is_err());
        assert!(UsageRequest::parse(&p(&[("field", "sum(quantity)"), ("groupBy", "color")]), now).is_err());
        assert!(UsageRequest::parse(&p(&[("field", "sum(quantity)"), ("interval", "x")]), now).is_err());
        let hourly = UsageRequest::parse(&p(&[("field", "sum(quantity)"), ("interval", "1h")]), now).unwrap();
        assert_eq!(hourly.interval_days, 1);
    }
}
