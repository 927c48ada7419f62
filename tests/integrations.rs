//! The exact requests of the tools that browse Sentry's web API, replayed against a server
//! with events in it, each answer decoded into a struct mirroring what that tool decodes
//! (its field names and JSON types: `count` a string, ids strings, dates RFC 3339):
//! Grafana's Sentry data source (pkg/sentry/*.go, with its `Link`-following), the Backstage
//! Sentry plugin, sentry-vscode, Escape's sentry-issues, GitLab's error tracking settings,
//! and the search checks Sentry's MCP server makes before each event search.
//!
//! A struct here names only the fields its tool reads; unknown fields are ignored, as the
//! tools ignore them. `Option` stands where Sentry itself may send `null`.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use common::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An RFC 3339 date, as Go's `time.Time` and JavaScript's `Date` read them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Date(DateTime<FixedOffset>);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(Date)
            .map_err(|e| serde::de::Error::custom(format!("{raw:?} is not RFC 3339: {e}")))
    }
}

/// Decodes an answer as the tool would, failing with the body when it does not fit.
fn decode<T: DeserializeOwned>(what: &str, body: &Value) -> T {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{what} does not decode: {e}\n{body:#}"))
}

/// GET with the token as the tools send it; the status must be 200.
fn get(server: &TestServer, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let (status, headers, body) = server.get(path);
    assert_eq!(status, 200, "GET {path}: {body}");
    (headers, body)
}

/// Grafana's `FetchWithPagination`: follows `rel="next"` while it says `results="true"`,
/// dropping the scheme and host of the link. Returns every page's items.
fn follow_links(server: &TestServer, first: &str) -> (Vec<Value>, usize) {
    let mut path = first.to_string();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 50, "more pages than any test here makes, from {first}");
        let (headers, body) = get(server, &path);
        items.extend(
            body.as_array()
                .unwrap_or_else(|| panic!("{path}: a list"))
                .iter()
                .cloned(),
        );
        // No Link header, or no next link, ends the walk as it does for Grafana.
        let link = headers
            .get("link")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let Some(next) = link.split(", <").find(|part| part.contains("rel=\"next\"")) else {
            return (items, pages);
        };
        if !next.contains("results=\"true\"") {
            return (items, pages);
        }
        let url = next.trim_start_matches('<').split('>').next().expect("link URL");
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        path = rest[rest.find('/').expect("link path")..].to_string();
    }
}

/// The events the tools browse: one Python error three times (two environments, two users,
/// a tag), one other error once.
fn seeded_server() -> TestServer {
    let server = spawn_server();
    for (environment, user, step) in [
        ("production", "user-1", "payment"),
        ("production", "user-2", "payment"),
        ("staging", "user-3", "review"),
    ] {
        let mut event = exception_event("ValueError", "card declined", "shop.checkout", "charge_card");
        event["environment"] = json!(environment);
        event["release"] = json!("shop@2.1.0");
        event["user"] = json!({"id": user, "email": format!("{user}@example.com")});
        event["tags"] = json!({"checkout.step": step});
        server.send_event(&event);
    }
    let mut other = exception_event("KeyError", "'sku'", "shop.cart", "lookup");
    other["environment"] = json!("production");
    server.send_event(&other);
    server
}

/// The issue list entry the tools read, by exception type.
fn issue_of<'a>(issues: &'a [Value], ty: &str) -> &'a Value {
    issues
        .iter()
        .find(|i| i["metadata"]["type"] == ty)
        .unwrap_or_else(|| panic!("no {ty} issue in {issues:#?}"))
}

// Every field a tool decodes is here, whether or not a test looks at it again.
#[allow(dead_code)]
mod grafana {
    //! grafana/sentry-datasource v2.2, `pkg/sentry/*.go`.
    use super::*;

    #[derive(Debug, Deserialize)]
    pub struct Organization {
        #[serde(rename = "dateCreated")]
        pub _date_created: Date,
        pub id: String,
        #[serde(rename = "isEarlyAdopter")]
        pub _is_early_adopter: bool,
        pub name: String,
        #[serde(rename = "require2FA")]
        pub _require_2fa: bool,
        pub slug: String,
        pub status: IdName,
        pub avatar: Avatar,
    }

    #[derive(Debug, Deserialize)]
    pub struct IdName {
        pub id: String,
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Avatar {
        #[serde(rename = "avatarType")]
        pub avatar_type: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct TeamRef {
        pub id: String,
        pub name: String,
        pub slug: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Project {
        #[serde(rename = "dateCreated")]
        pub _date_created: Date,
        #[serde(rename = "hasAccess")]
        pub _has_access: bool,
        pub id: String,
        #[serde(rename = "isBookmarked")]
        pub _is_bookmarked: bool,
        #[serde(rename = "isMember")]
        pub _is_member: bool,
        pub environments: Vec<String>,
        pub name: String,
        pub slug: String,
        pub team: TeamRef,
        pub teams: Vec<TeamRef>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Team {
        pub avatar: Avatar,
        #[serde(rename = "dateCreated")]
        pub _date_created: Date,
        #[serde(rename = "hasAccess")]
        pub _has_access: bool,
        pub id: String,
        #[serde(rename = "isMember")]
        pub _is_member: bool,
        #[serde(rename = "isPending")]
        pub _is_pending: bool,
        #[serde(rename = "memberCount")]
        pub _member_count: i64,
        pub name: String,
        pub projects: Vec<Value>,
        pub slug: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Tag {
        pub key: String,
        pub name: String,
        #[serde(rename = "totalValues")]
        pub total_values: i64,
    }

    #[derive(Debug, Deserialize)]
    pub struct IssueProject {
        pub id: String,
        pub name: String,
        pub slug: String,
        pub platform: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Metadata {
        pub value: Option<String>,
        #[serde(rename = "type")]
        pub kind: Option<String>,
        pub filename: Option<String>,
        pub function: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Assignee {
        pub email: Option<String>,
        #[serde(rename = "type")]
        pub kind: String,
        pub id: String,
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Lifetime {
        pub count: String,
        #[serde(rename = "userCount")]
        pub user_count: i64,
        #[serde(rename = "firstSeen")]
        pub first_seen: Date,
        #[serde(rename = "lastSeen")]
        pub last_seen: Date,
    }

    #[derive(Debug, Deserialize)]
    pub struct Issue {
        pub id: String,
        #[serde(rename = "shortId")]
        pub short_id: String,
        pub title: String,
        pub count: String,
        #[serde(rename = "userCount")]
        pub user_count: i64,
        pub status: String,
        pub substatus: Option<String>,
        pub level: String,
        #[serde(rename = "type")]
        pub kind: String,
        pub platform: Option<String>,
        #[serde(rename = "firstSeen")]
        pub first_seen: Date,
        #[serde(rename = "lastSeen")]
        pub last_seen: Date,
        pub culprit: String,
        #[serde(rename = "hasSeen")]
        pub _has_seen: bool,
        #[serde(rename = "isUnhandled")]
        pub _is_unhandled: bool,
        pub permalink: String,
        #[serde(rename = "isPublic")]
        pub _is_public: bool,
        pub project: IssueProject,
        pub metadata: Metadata,
        #[serde(rename = "numComments")]
        pub _num_comments: i64,
        #[serde(rename = "assignedTo")]
        pub assigned_to: Option<Assignee>,
        #[serde(rename = "isBookmarked")]
        pub _is_bookmarked: bool,
        #[serde(rename = "isSubscribed")]
        pub _is_subscribed: bool,
        pub lifetime: Option<Lifetime>,
    }

    #[derive(Debug, Deserialize)]
    pub struct EventsMeta {
        pub fields: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Events {
        pub data: Vec<serde_json::Map<String, Value>>,
        pub meta: EventsMeta,
    }

    /// One point of an events-stats series: `[unix seconds, [{"count": n}]]`.
    #[derive(Debug, Deserialize)]
    pub struct Point(pub i64, pub Vec<Count>);

    #[derive(Debug, Deserialize)]
    pub struct Count {
        pub count: f64,
    }

    #[derive(Debug, Deserialize)]
    pub struct Series {
        pub data: Vec<Point>,
    }

    #[derive(Debug, Deserialize)]
    pub struct StatsBy {
        pub reason: Option<String>,
        pub category: Option<String>,
        pub outcome: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct StatsSums {
        #[serde(rename = "sum(quantity)")]
        pub quantity: Option<Value>,
    }

    #[derive(Debug, Deserialize)]
    pub struct StatsGroup {
        pub by: StatsBy,
        pub totals: StatsSums,
        pub series: StatsSums,
    }

    #[derive(Debug, Deserialize)]
    pub struct StatsV2 {
        pub start: Date,
        pub end: Date,
        pub intervals: Vec<Date>,
        pub groups: Vec<StatsGroup>,
    }

    /// Go's `time.Format("2006-01-02T15:04:05")`: naive UTC, as the data source sends.
    pub fn naive(t: chrono::DateTime<chrono::Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    pub fn window() -> (String, String) {
        let now = chrono::Utc::now();
        (
            naive(now - chrono::Duration::hours(6)),
            naive(now + chrono::Duration::minutes(5)),
        )
    }
}

#[test]
fn grafana_connection_test_lists_organizations_projects_and_teams() {
    let server = seeded_server();
    let (_, orgs) = get(&server, "/api/0/organizations/");
    let orgs: Vec<grafana::Organization> = decode("organizations", &orgs);
    assert_eq!(orgs.len(), 1);
    assert_eq!((orgs[0].slug.as_str(), orgs[0].id.as_str()), ("errata", "1"));
    assert!(!orgs[0].name.is_empty() && !orgs[0].status.id.is_empty() && !orgs[0].status.name.is_empty());
    assert!(!orgs[0].avatar.avatar_type.is_empty());

    let (_, projects) = get(&server, "/api/0/organizations/errata/projects/");
    let projects: Vec<grafana::Project> = decode("projects", &projects);
    assert_eq!(projects.len(), 1);
    let project = &projects[0];
    assert_eq!((project.slug.as_str(), project.id.as_str()), ("default", "1"));
    assert!(!project.name.is_empty());
    assert_eq!(project.team.slug, "errata");
    assert!(project.teams.iter().all(|t| !t.id.is_empty() && !t.name.is_empty()));
    assert!(project.environments.iter().all(|e| !e.is_empty()));

    let (_, teams) = get(&server, "/api/0/organizations/errata/teams/");
    let teams: Vec<grafana::Team> = decode("teams", &teams);
    assert_eq!(teams.len(), 1);
    assert_eq!((teams[0].slug.as_str(), teams[0].id.as_str()), ("errata", "1"));
    assert!(!teams[0].name.is_empty() && !teams[0].avatar.avatar_type.is_empty());
    let (_, team_projects) = get(&server, "/api/0/teams/errata/errata/projects/");
    let team_projects: Vec<grafana::Project> = decode("team projects", &team_projects);
    assert_eq!(team_projects.len(), 1);
    assert!(teams[0].projects.len() <= 1);
}

#[test]
fn grafana_issues_query_decodes_with_every_parameter_it_sends() {
    let server = seeded_server();
    let (start, end) = grafana::window();
    let path = format!(
        "/api/0/organizations/errata/issues/?{}",
        serde_urlencoded::to_string([
            ("end", end.as_str()),
            ("environment", "production"),
            ("environment", "staging"),
            ("limit", "10000"),
            ("project", "1"),
            ("query", "is:unresolved"),
            ("sort", "freq"),
            ("start", start.as_str()),
        ])
        .expect("query string")
    );
    let (_, body) = get(&server, &path);
    let raw = body.as_array().expect("issue list").clone();
    let issues: Vec<grafana::Issue> = decode("issues", &body);
    assert_eq!(issues.len(), 2, "{body:#}");
    let value_error = issues
        .iter()
        .find(|i| i.metadata.kind.as_deref() == Some("ValueError"))
        .expect("the ValueError issue");
    // `sort=freq`: the issue seen three times comes first.
    assert_eq!(issues[0].id, value_error.id);
    assert_eq!(value_error.count, "3");
    assert_eq!(value_error.user_count, 3);
    assert_eq!(value_error.status, "unresolved");
    assert_eq!(value_error.level, "error");
    assert_eq!(value_error.kind, "error");
    assert_eq!(value_error.title, "ValueError: card declined");
    assert_eq!(value_error.culprit, "shop.checkout in charge_card");
    assert_eq!(value_error.metadata.value.as_deref(), Some("card declined"));
    assert_eq!(value_error.metadata.function.as_deref(), Some("charge_card"));
    assert_eq!(value_error.short_id, "DEFAULT-1");
    assert_eq!(
        (value_error.project.id.as_str(), value_error.project.slug.as_str()),
        ("1", "default")
    );
    assert!(!value_error.project.name.is_empty());
    assert!(value_error.first_seen.0 <= value_error.last_seen.0);
    assert_eq!(
        value_error.permalink,
        format!("{}/organizations/errata/issues/{}/", server.base, value_error.id)
    );
    assert!(value_error.assigned_to.is_none());
    if let Some(lifetime) = &value_error.lifetime {
        assert_eq!(lifetime.count, "3");
        assert_eq!(lifetime.user_count, 3);
        assert!(lifetime.first_seen.0 <= lifetime.last_seen.0);
    }
    let _ = (
        &value_error.platform,
        &value_error.substatus,
        &value_error.metadata.filename,
    );
    assert!(raw.iter().all(|i| i["count"].is_string() && i["id"].is_string()));

    // One environment narrows the list; a window in the past empties it.
    let staging = format!(
        "/api/0/organizations/errata/issues/?{}",
        serde_urlencoded::to_string([
            ("end", end.as_str()),
            ("environment", "staging"),
            ("limit", "10000"),
            ("query", ""),
            ("start", start.as_str()),
        ])
        .expect("query string")
    );
    let (_, body) = get(&server, &staging);
    let only: Vec<grafana::Issue> = decode("issues", &body);
    assert_eq!(only.len(), 1, "{body:#}");
    assert_eq!(only[0].id, value_error.id);
    let past = "/api/0/organizations/errata/issues/?start=2020-01-01T00:00:00&end=2020-01-02T00:00:00&limit=100&query=";
    let (_, body) = get(&server, past);
    assert_eq!(body, json!([]), "no issue was seen in 2020");
}

#[test]
fn grafana_tags_follow_links_until_results_false() {
    let server = seeded_server();
    let (tags, _) = follow_links(&server, "/api/0/organizations/errata/tags/");
    let tags: Vec<grafana::Tag> = decode("tags", &Value::Array(tags));
    let step = tags
        .iter()
        .find(|t| t.key == "checkout.step")
        .unwrap_or_else(|| panic!("no checkout.step tag: {tags:?}"));
    assert_eq!(step.total_values, 3);
    assert!(!step.name.is_empty());
    let environment = tags.iter().find(|t| t.key == "environment").expect("environment tag");
    assert_eq!(environment.total_values, 4);
}

#[test]
fn grafana_event_table_and_link_following_over_org_events() {
    let server = seeded_server();
    let (start, end) = grafana::window();
    let query = serde_urlencoded::to_string([
        ("end", end.as_str()),
        ("field", "title"),
        ("field", "environment"),
        ("field", "count()"),
        ("per_page", "100"),
        ("project", "1"),
        ("query", "ValueError"),
        ("sort", "-count()"),
        ("start", start.as_str()),
    ])
    .expect("query string");
    let (_, body) = get(&server, &format!("/api/0/organizations/errata/events/?{query}"));
    let events: grafana::Events = decode("events", &body);
    assert_eq!(events.meta.fields.get("count()").map(String::as_str), Some("integer"));
    assert_eq!(events.meta.fields.get("title").map(String::as_str), Some("string"));
    let counts: Vec<(Value, Value)> = events
        .data
        .iter()
        .map(|row| (row["environment"].clone(), row["count()"].clone()))
        .collect();
    assert_eq!(
        counts,
        vec![(json!("production"), json!(2)), (json!("staging"), json!(1))],
        "{body:#}"
    );

    // Paged one row at a time, the Link header walks every event exactly once.
    let (_, all) = get(&server, "/api/0/organizations/errata/events/?field=id&per_page=100");
    let all = all["data"].as_array().expect("rows").len();
    assert_eq!(all, 4);
    let mut path = "/api/0/organizations/errata/events/?field=id&per_page=1".to_string();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (headers, body) = get(&server, &path);
        let page: grafana::Events = decode("events page", &body);
        seen.extend(page.data.iter().map(|r| r["id"].clone()));
        let link = headers
            .get("link")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let Some(next) = link.split(", <").find(|p| p.contains("rel=\"next\"")) else {
            panic!("no next link: {link}")
        };
        if !next.contains("results=\"true\"") {
            break;
        }
        let url = next.trim_start_matches('<').split('>').next().expect("url");
        path = url[url.find("/api/0/").expect("api path")..].to_string();
    }
    seen.sort_by_key(|v| v.to_string());
    seen.dedup();
    assert_eq!(seen.len(), all, "each event once across the pages");
}

#[test]
fn grafana_events_stats_top_events_by_environment() {
    let server = seeded_server();
    let (start, end) = grafana::window();
    let query = serde_urlencoded::to_string([
        ("end", end.as_str()),
        ("excludeOther", "1"),
        ("field", "environment"),
        ("field", "count()"),
        ("interval", "1h"),
        ("partial", "1"),
        ("project", "1"),
        ("query", ""),
        ("start", start.as_str()),
        ("topEvents", "10"),
        ("yAxis", "count()"),
    ])
    .expect("query string");
    let (_, body) = get(&server, &format!("/api/0/organizations/errata/events-stats/?{query}"));
    // Grafana reads the answer as a map of label → series when topEvents is set.
    let series: BTreeMap<String, grafana::Series> = decode("events-stats (top events)", &body);
    let total = |label: &str| -> f64 {
        series
            .get(label)
            .unwrap_or_else(|| panic!("no {label} series: {body:#}"))
            .data
            .iter()
            .flat_map(|p| p.1.iter().map(|c| c.count))
            .sum()
    };
    assert_eq!(total("production"), 3.0);
    assert_eq!(total("staging"), 1.0);
    assert!(!series.contains_key("Other"), "excludeOther=1");
    let points = &series["production"].data;
    assert!(points.windows(2).all(|w| w[1].0 - w[0].0 == 3600), "hourly buckets");

    let plain = serde_urlencoded::to_string([
        ("end", end.as_str()),
        ("interval", "1h"),
        ("partial", "1"),
        ("query", "environment:staging"),
        ("start", start.as_str()),
        ("yAxis", "count()"),
    ])
    .expect("query string");
    let (_, body) = get(&server, &format!("/api/0/organizations/errata/events-stats/?{plain}"));
    let one: grafana::Series = decode("events-stats", &body);
    let sum: f64 = one.data.iter().flat_map(|p| p.1.iter().map(|c| c.count)).sum();
    assert_eq!(sum, 1.0, "{body:#}");
}

#[test]
fn grafana_stats_v2_outcomes_by_outcome() {
    let server = seeded_server();
    let (start, end) = grafana::window();
    let query = serde_urlencoded::to_string([
        ("category", "error"),
        ("end", end.as_str()),
        ("field", "sum(quantity)"),
        ("groupBy", "outcome"),
        ("interval", "1h"),
        ("start", start.as_str()),
    ])
    .expect("query string");
    let (_, body) = get(&server, &format!("/api/0/organizations/errata/stats_v2/?{query}"));
    let stats: grafana::StatsV2 = decode("stats_v2", &body);
    assert!(stats.start.0 <= stats.end.0);
    assert!(!stats.intervals.is_empty());
    let accepted = stats
        .groups
        .iter()
        .find(|g| g.by.outcome.as_deref() == Some("accepted"))
        .unwrap_or_else(|| panic!("no accepted group: {body:#}"));
    assert_eq!(accepted.totals.quantity, Some(json!(4)));
    let series = accepted
        .series
        .quantity
        .as_ref()
        .and_then(Value::as_array)
        .expect("series");
    assert_eq!(series.len(), stats.intervals.len());
    assert!(series.iter().all(Value::is_i64), "Go decodes []int64");
}

// Every field a tool decodes is here, whether or not a test looks at it again.
#[allow(dead_code)]
mod backstage {
    //! The Backstage community Sentry plugin's `SentryIssue`.
    use super::*;

    #[derive(Debug, Deserialize)]
    pub struct Issue {
        pub id: String,
        pub title: String,
        pub culprit: String,
        pub count: String,
        #[serde(rename = "userCount")]
        pub user_count: i64,
        pub permalink: String,
        #[serde(rename = "lastSeen")]
        pub last_seen: Date,
        #[serde(rename = "firstSeen")]
        pub first_seen: Date,
        pub stats: BTreeMap<String, Vec<(i64, i64)>>,
    }
}

#[test]
fn backstage_issue_card_reads_counts_and_stats() {
    let server = seeded_server();
    for (period, buckets) in [("24h", 24), ("14d", 14)] {
        let (_, body) = get(
            &server,
            &format!("/api/0/projects/errata/default/issues/?statsPeriod={period}&query="),
        );
        let issues: Vec<backstage::Issue> = decode("backstage issues", &body);
        assert_eq!(issues.len(), 2);
        let raw = body.as_array().expect("list");
        let value_error = issues
            .iter()
            .find(|i| i.id == issue_of(raw, "ValueError")["id"])
            .expect("ValueError issue");
        assert_eq!((value_error.count.as_str(), value_error.user_count), ("3", 3));
        assert!(!value_error.title.is_empty() && !value_error.culprit.is_empty());
        assert!(value_error.permalink.starts_with(&server.base));
        assert!(value_error.first_seen.0 <= value_error.last_seen.0);
        let series = value_error
            .stats
            .get(period)
            .unwrap_or_else(|| panic!("no {period} stats: {body:#}"));
        assert_eq!(series.len(), buckets, "{period} buckets");
        assert_eq!(
            series.iter().map(|p| p.1).sum::<i64>(),
            3,
            "{period} stats count the events"
        );
    }
}

// Every field a tool decodes is here, whether or not a test looks at it again.
#[allow(dead_code)]
mod vscode {
    //! getsentry/sentry-vscode and Escape-Technologies/sentry-issues.
    use super::*;

    #[derive(Debug, Deserialize)]
    pub struct Organization {
        pub id: String,
        pub slug: String,
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Project {
        pub id: String,
        pub slug: String,
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct ProjectWithOrg {
        pub id: String,
        pub slug: String,
        pub name: String,
        pub organization: Organization,
    }

    #[derive(Debug, Deserialize)]
    pub struct Issue {
        pub id: String,
        #[serde(rename = "shortId")]
        pub short_id: String,
        pub title: String,
        pub culprit: String,
        pub count: String,
        pub level: String,
        pub status: String,
        #[serde(rename = "lastSeen")]
        pub last_seen: Date,
        pub permalink: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Entry {
        #[serde(rename = "type")]
        pub kind: String,
        pub data: Value,
    }

    #[derive(Debug, Deserialize)]
    pub struct EventTag {
        pub key: String,
        pub value: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Event {
        pub id: String,
        #[serde(rename = "eventID")]
        pub event_id: String,
        #[serde(rename = "groupID")]
        pub group_id: String,
        #[serde(rename = "dateCreated")]
        pub date_created: Date,
        pub entries: Vec<Entry>,
        pub tags: Vec<EventTag>,
    }
}

/// The frames of an event's exception entry, as the editors show them.
fn exception_functions(event: &vscode::Event) -> Vec<String> {
    event
        .entries
        .iter()
        .find(|e| e.kind == "exception")
        .and_then(|e| e.data["values"][0]["stacktrace"]["frames"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["function"].as_str().map(String::from))
        .collect()
}

#[test]
fn sentry_vscode_walks_organizations_projects_issues_and_the_latest_event() {
    let server = seeded_server();
    let (_, orgs) = get(&server, "/api/0/organizations/");
    let orgs: Vec<vscode::Organization> = decode("organizations", &orgs);
    assert_eq!((orgs[0].id.as_str(), orgs[0].slug.as_str()), ("1", "errata"));
    assert!(!orgs[0].name.is_empty());
    let (_, projects) = get(&server, &format!("/api/0/organizations/{}/projects/", orgs[0].slug));
    let projects: Vec<vscode::Project> = decode("projects", &projects);
    assert_eq!(projects[0].slug, "default");
    assert!(!projects[0].id.is_empty() && !projects[0].name.is_empty());
    let (_, body) = get(&server, "/api/0/projects/errata/default/issues/?query=is:unresolved");
    let issues: Vec<vscode::Issue> = decode("issues", &body);
    let issue = issues
        .iter()
        .find(|i| i.title.starts_with("ValueError"))
        .expect("ValueError issue");
    assert_eq!(
        (issue.count.as_str(), issue.level.as_str(), issue.status.as_str()),
        ("3", "error", "unresolved")
    );
    assert!(issue.short_id.starts_with("DEFAULT-") && issue.culprit.contains("charge_card"));
    assert!(issue.permalink.ends_with(&format!("/issues/{}/", issue.id)));
    let (_, latest) = get(&server, &format!("/api/0/issues/{}/events/latest/", issue.id));
    let latest: vscode::Event = decode("latest event", &latest);
    assert_eq!(latest.group_id, issue.id);
    assert_eq!(latest.id, latest.event_id);
    assert!(latest.date_created.0 <= issue.last_seen.0);
    assert_eq!(exception_functions(&latest), ["main", "charge_card"]);
    assert!(
        latest
            .tags
            .iter()
            .any(|t| t.key == "environment" && t.value == "staging")
    );
}

#[test]
fn escape_sentry_issues_lists_projects_issues_and_full_events() {
    let server = seeded_server();
    let (_, projects) = get(&server, "/api/0/projects/");
    let projects: Vec<vscode::ProjectWithOrg> = decode("projects", &projects);
    assert_eq!(projects.len(), 1);
    let project = &projects[0];
    assert_eq!(
        (project.slug.as_str(), project.organization.slug.as_str()),
        ("default", "errata")
    );
    assert!(!project.id.is_empty() && !project.name.is_empty());
    let (_, body) = get(
        &server,
        &format!("/api/0/projects/{}/{}/issues/", project.organization.slug, project.slug),
    );
    let issues: Vec<vscode::Issue> = decode("issues", &body);
    assert_eq!(issues.len(), 2);
    let issue = issues
        .iter()
        .find(|i| i.count == "3")
        .expect("the issue seen three times");
    let (_, events) = get(&server, &format!("/api/0/issues/{}/events/?full=true", issue.id));
    let events: Vec<vscode::Event> = decode("full events", &events);
    assert_eq!(events.len(), 3);
    for event in &events {
        assert_eq!(event.group_id, issue.id);
        assert_eq!(exception_functions(event), ["main", "charge_card"], "{event:?}");
    }
    let environments: Vec<&str> = events
        .iter()
        .flat_map(|e| {
            e.tags
                .iter()
                .filter(|t| t.key == "environment")
                .map(|t| t.value.as_str())
        })
        .collect();
    assert_eq!(environments.iter().filter(|e| **e == "production").count(), 2);
}

// Every field a tool decodes is here, whether or not a test looks at it again.
#[allow(dead_code)]
mod gitlab {
    //! GitLab's error tracking (`ErrorTracking::SentryClient`): the project picker in the
    //! Sentry integration settings, then the issue list.
    use super::*;

    #[derive(Debug, Deserialize)]
    pub struct Organization {
        pub id: String,
        pub name: String,
        pub slug: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Project {
        pub id: String,
        pub name: String,
        pub slug: String,
        pub status: String,
        pub organization: Organization,
    }

    #[derive(Debug, Deserialize)]
    pub struct IssueProject {
        pub id: String,
        pub name: String,
        pub slug: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Issue {
        pub id: String,
        pub title: String,
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(rename = "userCount")]
        pub user_count: i64,
        pub count: String,
        #[serde(rename = "firstSeen")]
        pub first_seen: Date,
        #[serde(rename = "lastSeen")]
        pub last_seen: Date,
        pub culprit: String,
        pub permalink: String,
        #[serde(rename = "shortId")]
        pub short_id: String,
        pub status: String,
        pub project: IssueProject,
        pub stats: BTreeMap<String, Vec<(i64, i64)>>,
    }
}

#[test]
fn gitlab_error_tracking_lists_projects_across_organizations_and_their_issues() {
    let server = seeded_server();
    let (_, body) = get(&server, "/api/0/projects/");
    let projects: Vec<gitlab::Project> = decode("projects", &body);
    assert_eq!(projects.len(), 1);
    let project = &projects[0];
    assert_eq!((project.slug.as_str(), project.status.as_str()), ("default", "active"));
    assert_eq!(
        (project.organization.slug.as_str(), project.organization.id.as_str()),
        ("errata", "1")
    );
    assert!(!project.id.is_empty() && !project.name.is_empty() && !project.organization.name.is_empty());
    let (_, body) = get(
        &server,
        "/api/0/projects/errata/default/issues/?query=is:unresolved&limit=20&sort=date",
    );
    let issues: Vec<gitlab::Issue> = decode("issues", &body);
    assert_eq!(issues.len(), 2);
    let issue = issues
        .iter()
        .find(|i| i.count == "3")
        .expect("the issue seen three times");
    assert_eq!(
        (issue.user_count, issue.kind.as_str(), issue.status.as_str()),
        (3, "error", "unresolved")
    );
    assert_eq!(issue.project.slug, "default");
    assert!(!issue.project.id.is_empty() && !issue.project.name.is_empty());
    assert!(issue.short_id.starts_with("DEFAULT-") && !issue.title.is_empty() && !issue.culprit.is_empty());
    assert!(issue.first_seen.0 <= issue.last_seen.0);
    assert!(issue.permalink.starts_with(&server.base));
    let day = issue.stats.get("24h").expect("24h stats by default");
    assert_eq!(day.iter().map(|p| p.1).sum::<i64>(), 3);
}

#[test]
fn mcp_search_checks_accept_what_runs_and_name_what_does_not() {
    let server = seeded_server();
    let (_, orgs) = get(&server, "/api/0/organizations/errata/");
    // Over plain http the region URL is empty, so the MCP server stays on its host.
    assert_eq!(orgs["links"]["regionUrl"], "");
    let valid = "/api/0/organizations/errata/events/validate/?dataset=errors&query=environment%3Aproduction\
                 &statsPeriod=14d&field=issue&field=title&field=timestamp&field=count()&orderby=-timestamp";
    let (_, body) = get(&server, valid);
    assert_eq!(body["valid"], true, "{body:#}");
    for part in ["projects", "dataset", "environment", "field", "orderby"] {
        assert!(body[part].is_array(), "{part}: {body:#}");
    }
    assert_eq!(body["field"][3]["attrType"], "number");
    assert_eq!(body["query"]["valid"], true);

    let (status, _, body) =
        server.get("/api/0/organizations/errata/events/validate/?dataset=errors&field=title&orderby=-timestamp");
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["valid"], false);
    assert_eq!(body["orderby"][0]["valid"], false);
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("timestamp")),
        "{body:#}"
    );
    let (status, _, body) =
        server.get("/api/0/organizations/errata/events/validate/?dataset=errors&field=title&project=nosuch");
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["projects"][0]["valid"], false);

    // The issue's own event search (search_issue_events) filters by query and environment.
    let issues = server.issues("");
    let id = issue_of(&issues, "ValueError")["id"].as_str().expect("id").to_string();
    let (_, staging) = get(
        &server,
        &format!(
            "/api/0/organizations/errata/issues/{id}/events/?query=environment%3Astaging&statsPeriod=14d&per_page=50"
        ),
    );
    assert_eq!(staging.as_array().map(Vec::len), Some(1), "{staging:#}");
    let (_, payment) = get(
        &server,
        &format!("/api/0/issues/{id}/events/?query=checkout.step%3Apayment&environment=production"),
    );
    assert_eq!(payment.as_array().map(Vec::len), Some(2), "{payment:#}");
    let (status, _, _) = server.get(&format!("/api/0/issues/{id}/events/?query=firstSeen%3A%3Esoon"));
    assert_eq!(status, 400, "a malformed query is the client's error");
}
