//! The event search's dry run (`GET /api/0/organizations/{org}/events/validate/`): checks a
//! search's dataset, projects, environments, fields, query and sort without running it, in
//! the shape Sentry's MCP server validates every `search_events` call with first.
//!
//! A valid search answers 200 `{"valid": true, …}`; an invalid one 400 with the same body
//! (each part saying what is wrong) plus a `detail` naming the first problem.

use serde_json::{Value, json};

use super::auth::Caller;
use super::discover::{Column, has_dataset};
use super::issues::{Params, param, params_all};
use super::{query, resolve_org};
use crate::errors::ApiError;
use crate::http::{IntoResponse, Json, Path, Query, Response, State, StatusCode};
use crate::state::AppState;
use crate::store::now_us;

/// Datasets Sentry's event search knows: Errata keeps only errors and answers the others
/// empty, so they validate too.
const KNOWN_DATASETS: &[&str] = &[
    "errors",
    "error",
    "discover",
    "spans",
    "logs",
    "ourlogs",
    "metrics",
    "tracemetrics",
    "transactions",
    "profiles",
    "profile_functions",
    "replays",
    "issuePlatform",
];

/// Most fields or sort terms checked in one request.
const MAX_TERMS: usize = 50;

pub async fn validate_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    caller.require("event:read")?;
    let org = resolve_org(&state, &caller, &org).await?;
    let projects = match super::issues::org_projects(&state, &caller, &org, &params).await {
        Ok(_) => Ok(()),
        Err(ApiError::Forbidden) => Err("No such project, or the token cannot see it".to_string()),
        Err(e) => return Err(e),
    };
    let report = validate(&params, projects, now_us());
    let status = if report.valid {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, Json(report.to_json())).into_response())
}

/// One checked part: its name (when it has one), and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
struct Check {
    name: Option<String>,
    attr_type: Option<&'static str>,
    error: Option<String>,
}

impl Check {
    fn json(&self, with_type: bool) -> Value {
        let mut v = json!({"valid": self.error.is_none(), "error": self.error});
        if let Some(name) = &self.name {
            v["name"] = json!(name);
        }
        if with_type {
            v["attrType"] = json!(self.attr_type);
        }
        v
    }
}

/// What a validation found, part by part.
#[derive(Debug, Clone)]
pub struct Report {
    pub valid: bool,
    projects: Check,
    dataset: Check,
    environments: Vec<Check>,
    fields: Vec<Check>,
    query: Check,
    orderby: Vec<Check>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        let first_error = std::iter::once(&self.projects)
            .chain([&self.dataset])
            .chain(&self.environments)
            .chain(&self.fields)
            .chain([&self.query])
            .chain(&self.orderby)
            .find_map(|c| c.error.clone());
        let mut v = json!({
            "valid": self.valid,
            "projects": [self.projects.json(false)],
            "dataset": [self.dataset.json(false)],
            "environment": self.environments.iter().map(|c| c.json(false)).collect::<Vec<_>>(),
            "field": self.fields.iter().map(|c| c.json(true)).collect::<Vec<_>>(),
            "query": {"valid": self.query.error.is_none(), "error": self.query.error, "fields": []},
            "orderby": self.orderby.iter().map(|c| c.json(true)).collect::<Vec<_>>(),
        });
        if let Some(detail) = first_error {
            v["detail"] = json!(detail);
        }
        v
    }
}

/// The attribute type Sentry's search gives a column.
fn attr_type(column: &Column) -> &'static str {
    match column.kind() {
        "integer" => "number",
        _ => "string",
    }
}

/// Checks a search request (pure: the project lookup's outcome is passed in).
pub fn validate(params: &Params, projects: Result<(), String>, now: i64) -> Report {
    let dataset_name = param(params, "dataset").unwrap_or("").trim().to_string();
    let stored = has_dataset(Some(&dataset_name));
    let dataset = Check {
        name: Some(dataset_name.clone()),
        attr_type: None,
        error: (!dataset_name.is_empty() && !KNOWN_DATASETS.contains(&dataset_name.as_str()))
            .then(|| format!("Unknown dataset: {dataset_name:?}")),
    };
    let environments = params_all(params, "environment")
        .into_iter()
        .take(MAX_TERMS)
        .map(|e| Check {
            name: None,
            attr_type: None,
            error: (e.trim().is_empty() || e.len() > 200).then(|| format!("Invalid environment: {e:?}")),
        })
        .collect();
    let names: Vec<&str> = params_all(params, "field").into_iter().map(str::trim).collect();
    let mut fields: Vec<Check> = names
        .iter()
        .take(MAX_TERMS)
        .map(|name| check_column(name, stored))
        .collect();
    if names.len() > super::discover::MAX_FIELDS {
        fields.push(Check {
            name: None,
            attr_type: None,
            error: Some(format!(
                "At most {} fields may be selected",
                super::discover::MAX_FIELDS
            )),
        });
    }
    let orderby = params_all(params, "orderby")
        .into_iter()
        .chain(params_all(params, "sort"))
        .take(MAX_TERMS)
        .map(|raw| {
            let name = raw.trim().trim_start_matches('-');
            let mut check = check_column(name, stored);
            if check.error.is_none() && !names.contains(&name) {
                check.error = Some(format!("Cannot sort by a field that is not selected: {name:?}"));
            }
            check
        })
        .collect();
    let query = Check {
        name: None,
        attr_type: None,
        error: if stored {
            query::parse(param(params, "query").unwrap_or(""), now)
                .err()
                .map(|e| e.to_string())
        } else {
            None
        },
    };
    let projects = Check {
        name: None,
        attr_type: None,
        error: projects.err(),
    };
    let mut report = Report {
        valid: false,
        projects,
        dataset,
        environments,
        fields,
        query,
        orderby,
    };
    report.valid = report.to_json().get("detail").is_none();
    report
}

/// A field of a stored dataset must be one the search can compute; the other datasets hold
/// nothing, so any name is accepted for them.
fn check_column(name: &str, stored: bool) -> Check {
    if !stored {
        return Check {
            name: Some(name.to_string()),
            attr_type: None,
            error: None,
        };
    }
    match Column::parse(name) {
        Ok(column) => Check {
            name: Some(name.to_string()),
            attr_type: Some(attr_type(&column)),
            error: None,
        },
        Err(e) => Check {
            name: Some(name.to_string()),
            attr_type: None,
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const NOW: i64 = 1_800_000_000_000_000;

    #[test]
    fn the_mcp_servers_default_error_search_is_valid() {
        let p = params(&[
            ("dataset", "errors"),
            ("query", "environment:production"),
            ("statsPeriod", "14d"),
            ("field", "issue"),
            ("field", "title"),
            ("field", "timestamp"),
            ("field", "count()"),
            ("orderby", "-timestamp"),
        ]);
        let report = validate(&p, Ok(()), NOW);
        let v = report.to_json();
        assert!(report.valid, "{v}");
        assert_eq!(v["field"][3]["attrType"], "number");
        assert_eq!(v["field"][0]["attrType"], "string");
        assert!(v.get("detail").is_none());
    }

    #[test]
    fn each_wrong_part_is_named() {
        let bad_field = validate(&params(&[("dataset", "errors"), ("field", "p95(x y)")]), Ok(()), NOW);
        assert!(!bad_field.valid);
        assert_eq!(bad_field.to_json()["field"][0]["valid"], false);
        let bad_sort = validate(&params(&[("field", "title"), ("orderby", "-timestamp")]), Ok(()), NOW);
        assert_eq!(bad_sort.to_json()["orderby"][0]["valid"], false);
        let bad_query = validate(
            &params(&[("field", "title"), ("query", "firstSeen:>soon")]),
            Ok(()),
            NOW,
        );
        assert_eq!(bad_query.to_json()["query"]["valid"], false);
        let bad_dataset = validate(&params(&[("dataset", "nonsense"), ("field", "title")]), Ok(()), NOW);
        assert_eq!(bad_dataset.to_json()["dataset"][0]["valid"], false);
        let bad_project = validate(&params(&[("field", "title")]), Err("no".into()), NOW);
        assert_eq!(bad_project.to_json()["projects"][0]["error"], "no");
    }

    #[test]
    fn datasets_without_stored_events_accept_their_own_fields() {
        let p = params(&[
            ("dataset", "spans"),
            ("field", "span.op"),
            ("field", "avg(span.duration)"),
            ("orderby", "-avg(span.duration)"),
        ]);
        assert!(validate(&p, Ok(()), NOW).valid);
    }

    proptest! {
        #[test]
        fn any_request_gets_a_report_of_the_right_shape(
            pairs in proptest::collection::vec(
                (prop_oneof!["dataset", "field", "orderby", "query", "environment", "sort"], ".{0,40}"),
                0..80,
            )
        ) {
            let p: Params = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let v = validate(&p, Ok(()), NOW).to_json();
            prop_assert!(v["valid"].is_boolean());
            prop_assert!(v["field"].as_array().is_some_and(|f| f.len() <= MAX_TERMS + 1));
            prop_assert!(v["orderby"].as_array().is_some_and(|f| f.len() <= MAX_TERMS));
            prop_assert_eq!(v["valid"] == true, v.get("detail").is_none());
        }
    }
}
