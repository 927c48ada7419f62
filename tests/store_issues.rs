//! Issues and events through `Store` on both backends: every scenario runs the same
//! assertions on SQLite and on PostgreSQL (a throwaway cluster, tests/support/pg.rs, one
//! fresh database per test), and a property test feeds both the same events and checks
//! that any search filter, order and page selects the same issues in the same order, with
//! the same value cursors.

#[path = "support/pg.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use errata::ids::EventId;
use errata::store::{
    Cmp, Condition, EventOrder, EventRecord, Issue, IssueFilter, IssueSort, IssueStatus, Location, StatusChange, Store,
    StoreError, StoreOptions, TagValue,
};
use pg::PgCluster;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000_000;
/// The hour the generated events start at (2026-01-01).
const BASE_HOUR: i64 = 492_456;
/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, bootstrapped store of one backend and what keeps it alive.
struct Opened {
    store: Store,
    project: i64,
    _dir: Option<tempfile::TempDir>,
}

fn options() -> StoreOptions {
    StoreOptions {
        queue_capacity: 10_000,
        batch_max: 16,
        read_pool_size: 2,
        synchronous_full: false,
    }
}

async fn open(backend: Backend) -> Opened {
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgCluster::shared().fresh_database().await),
    };
    open_at(backend, url).await
}

/// An empty PostgreSQL database whose text collation is ICU's `en-US` rather than byte
/// order, as on many production servers: orders and matches must not depend on it.
async fn icu_database() -> String {
    let cluster = PgCluster::shared();
    let (client, connection) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
        .await
        .expect("connects to the test cluster");
    let task = tokio::spawn(connection);
    let name = format!("icu_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        ))
        .await
        .expect("creates a database with an ICU collation");
    drop(client);
    let _ = task.await;
    cluster.url(&name)
}

async fn open_at(backend: Backend, url: Option<String>) -> Opened {
    let (store, dir) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Store::open_sqlite(&dir.path().join("errata.sqlite3"), options()).expect("sqlite opens");
            (store, Some(dir))
        }
        Backend::Postgres => {
            let url = url.expect("a PostgreSQL database");
            let store = Store::connect(&Location::Postgres(url), options())
                .await
                .expect("postgres opens");
            (store, None)
        }
    };
    let boot = store
        .bootstrap_if_empty()
        .await
        .expect("bootstraps")
        .expect("an empty store is bootstrapped");
    Opened {
        store,
        project: boot.project.id,
        _dir: dir,
    }
}

async fn close(opened: Opened) {
    let store = opened.store.clone();
    tokio::time::timeout(BOUND, tokio::task::spawn_blocking(move || store.shutdown()))
        .await
        .expect("the writer drains in time")
        .expect("shutdown ran");
}

/// Runs one scenario on a fresh store of `backend`.
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Store, i64) -> Fut,
    Fut: Future<Output = ()>,
{
    let opened = open(backend).await;
    tokio::time::timeout(BOUND, scenario(opened.store.clone(), opened.project))
        .await
        .expect("the scenario finishes in time");
    close(opened).await;
}

/// One test per backend for a scenario `async fn name(store: Store, project: i64)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run(super::Backend::Sqlite, super::$name).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run(super::Backend::Postgres, super::$name).await
            }
        }
    )*};
}

on_both_backends!(
    each_filter_kind_selects_what_it_says,
    value_cursors_page_through_every_issue_once,
    status_changes_are_all_or_none,
    merge_then_unmerge_keeps_counts_exact,
    delete_removes_issues_with_their_events,
    events_page_and_navigate_within_an_issue,
    stats_bucket_an_issues_events_by_hour,
);

// ------------------------------------------------------------------------------ events

/// The event id a test names: 32 hex digits as they are, a short name (`e1`) as its bytes
/// in hex, zero-padded to 32 digits.
fn eid(name: &str) -> EventId {
    EventId::parse(name)
        .or_else(|_| EventId::parse(&format!("{:0>32}", hex::encode(name))))
        .expect("a test event name of at most 16 bytes")
}

/// An event as a test writes it; its tags are also in its payload, for `tags_of`.
struct Ev {
    event_id: String,
    hashes: Vec<String>,
    title: String,
    culprit: Option<String>,
    metadata: String,
    level: String,
    timestamp: i64,
    release: Option<String>,
    environment: Option<String>,
    user: Option<String>,
    tags: Vec<(String, String)>,
}

impl Ev {
    fn new(event_id: &str, hash: &str, timestamp: i64) -> Ev {
        Ev {
            event_id: event_id.into(),
            hashes: vec![hash.into()],
            title: format!("ValueError {hash}"),
            culprit: Some("app.main".into()),
            metadata: "{}".into(),
            level: "error".into(),
            timestamp,
            release: None,
            environment: None,
            user: None,
            tags: Vec::new(),
        }
    }

    fn record(&self, project_id: i64) -> EventRecord {
        let data = json!({"event_id": self.event_id, "message": "boom", "tags": self.tags, "user": self.user});
        let json = serde_json::to_vec(&data).expect("serializes");
        EventRecord {
            project_id,
            event_id: eid(&self.event_id),
            hashes: self.hashes.clone(),
            grouping_config: "test",
            title: self.title.clone(),
            culprit: self.culprit.clone(),
            location: None,
            metadata: self.metadata.clone(),
            kind: "error",
            platform: "python".into(),
            timestamp: self.timestamp,
            received: self.timestamp + 1,
            level: self.level.clone(),
            release: self.release.clone(),
            environment: self.environment.clone(),
            trace_id: None,
            user_key: self.user.clone(),
            tags: self.tags.clone(),
            payload: zstd::encode_all(json.as_slice(), 3).expect("compresses"),
            size: json.len(),
        }
    }
}

/// An event's tags as ingest derived them (the test events carry them in their payload).
fn tags_of(payload: &Value) -> Vec<(String, String)> {
    payload
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| Some((t.get(0)?.as_str()?.to_string(), t.get(1)?.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Stores events one at a time, in order (so both backends number them alike).
async fn ingest(store: &Store, project: i64, events: &[Ev]) {
    for ev in events {
        let stored = store.store_event(ev.record(project), None).await.expect("stores");
        assert!(!stored.duplicate, "{} stored once", ev.event_id);
    }
}

const TITLES: &[&str] = &[
    "KeyError: 'user'",
    "keyerror in loop",
    "Timeout_5% reached",
    "naïve Ünïcode",
    "back\\slash path",
    "ValueError: boom",
    "ZeroDivisionError",
    "connection reset",
];
const LEVELS: &[&str] = &["error", "warning", "info", "fatal", "Error"];
const RELEASES: &[Option<&str>] = &[None, Some("1.0"), Some("1.1"), Some("2.0-beta"), Some("Shop@1.0")];
const ENVIRONMENTS: &[Option<&str>] = &[Some("production"), Some("staging"), Some("Prod"), None];
const BROWSERS: &[&str] = &["Chrome", "chrome 100", "Firefox", "É-browser"];
const ISSUES: usize = 24;

/// The searched data set: 24 issues with 1–4 events each, varied titles, levels, tags,
/// users and times (with ties in first and last seen, so cursors need their offsets).
fn dataset() -> Vec<Ev> {
    let mut out = Vec::new();
    for i in 0..ISSUES {
        let events = 1 + i % 4;
        for e in 0..events {
            let k = i + e;
            let mut ev = Ev::new(
                &format!("{:032x}", i * 100 + e),
                &format!("hash-{i:02}"),
                (BASE_HOUR + (i % 7) as i64 + e as i64) * HOUR + (i % 3) as i64 * 1000,
            );
            ev.title = format!("{} #{i}", TITLES[i % TITLES.len()]);
            ev.culprit = (i % 3 != 0).then(|| format!("app.Module{}", i % 4));
            ev.metadata = json!({"value": format!("detail {}", TITLES[(i * 5) % TITLES.len()])}).to_string();
            ev.level = LEVELS[i % LEVELS.len()].into();
            ev.release = RELEASES[k % RELEASES.len()].map(String::from);
            ev.environment = ENVIRONMENTS[k % ENVIRONMENTS.len()].map(String::from);
            ev.user = (k % 3 != 0).then(|| format!("id:{}", (i * e) % 5));
            if let Some(release) = &ev.release {
                ev.tags.push(("release".into(), release.clone()));
            }
            if let Some(environment) = &ev.environment {
                ev.tags.push(("environment".into(), environment.clone()));
            }
            if i % 2 == 0 {
                ev.tags.push(("browser".into(), BROWSERS[k % BROWSERS.len()].into()));
            }
            if i % 5 == 1 {
                ev.tags.push(("url".into(), format!("https://x.test/a_b?q=100%&n={e}")));
            }
            if i % 7 == 3 {
                ev.tags.push(("Browser".into(), "Safari".into()));
            }
            out.push(ev);
        }
    }
    out
}

/// Stores the data set and gives some issues a status; returns the issues by title.
async fn load_dataset(store: &Store, project: i64) -> BTreeMap<String, Issue> {
    ingest(store, project, &dataset()).await;
    let all = store.issues(everything()).await.expect("lists");
    assert_eq!(all.len(), ISSUES);
    let by_index = |i: usize| {
        all.iter()
            .find(|issue| issue.title.ends_with(&format!(" #{i}")))
            .map(|issue| issue.id)
            .expect("every issue of the data set is stored")
    };
    let resolved: Vec<i64> = (0..ISSUES).filter(|i| i % 6 == 1).map(by_index).collect();
    let ignored: Vec<i64> = (0..ISSUES).filter(|i| i % 6 == 2).map(by_index).collect();
    store
        .set_status(resolved, status("resolved", json!({})))
        .await
        .expect("resolves");
    store
        .set_status(ignored, status("ignored", json!({})))
        .await
        .expect("ignores");
    store
        .issues(everything())
        .await
        .expect("lists")
        .into_iter()
        .map(|i| (i.title.clone(), i))
        .collect()
}

fn status(status: &str, details: Value) -> StatusChange {
    StatusChange {
        status: IssueStatus::parse(status).expect("a stored status"),
        substatus: None,
        details,
    }
}

fn everything() -> IssueFilter {
    IssueFilter {
        limit: 1000,
        ..IssueFilter::default()
    }
}

fn search(conditions: Vec<Condition>) -> IssueFilter {
    IssueFilter {
        conditions,
        ..everything()
    }
}

async fn titles(store: &Store, filter: IssueFilter) -> BTreeSet<String> {
    store
        .issues(filter)
        .await
        .expect("searches")
        .into_iter()
        .map(|i| i.title)
        .collect()
}

/// The data set's titles that `keep` selects.
fn expected(issues: &BTreeMap<String, Issue>, keep: impl Fn(&Issue) -> bool) -> BTreeSet<String> {
    issues.values().filter(|i| keep(i)).map(|i| i.title.clone()).collect()
}

// ------------------------------------------------------------------------------ scenarios

async fn each_filter_kind_selects_what_it_says(store: Store, project: i64) {
    let issues = load_dataset(&store, project).await;
    let tags = {
        let mut tags: BTreeMap<i64, Vec<TagValue>> = BTreeMap::new();
        for issue in issues.values() {
            tags.insert(issue.id, store.issue_tags(issue.id).await.expect("tags"));
        }
        tags
    };
    let has_tag = |issue: &Issue, key: &str, value: &dyn Fn(&str) -> bool| {
        tags[&issue.id].iter().any(|t| t.key == key && value(&t.value))
    };

    // Text: a substring of title, culprit or metadata, ASCII letters in any case.
    let keyerror = titles(&store, search(vec![text("KEYERROR", false)])).await;
    assert_eq!(
        keyerror,
        expected(&issues, |i| i.title.to_ascii_lowercase().contains("keyerror")
            || i.metadata.to_string().to_ascii_lowercase().contains("keyerror"))
    );
    assert!(keyerror.len() >= 6, "{keyerror:?}");
    let not_keyerror = titles(&store, search(vec![text("keyerror", true)])).await;
    assert_eq!(keyerror.len() + not_keyerror.len(), ISSUES);
    // `%`, `_` and `\` are literal, `*` is a wildcard.
    let percent = titles(&store, search(vec![text("timeout_5%", false)])).await;
    assert_eq!(
        percent,
        expected(&issues, |i| i.title.starts_with("Timeout_5%")
            || i.metadata.to_string().contains("Timeout_5%"))
    );
    assert!(titles(&store, search(vec![text("timeout_5_", false)])).await.is_empty());
    assert!(
        !titles(&store, search(vec![text("back\\slash", false)]))
            .await
            .is_empty()
    );
    assert!(titles(&store, search(vec![text("backxslash", false)])).await.is_empty());
    assert_eq!(
        titles(&store, search(vec![text("connection*reset", false)])).await,
        expected(&issues, |i| i.title.starts_with("connection reset")
            || i.metadata.to_string().contains("connection reset"))
    );
    // Letters beyond ASCII match in their own case only, on both backends.
    assert!(!titles(&store, search(vec![text("Ünïcode", false)])).await.is_empty());
    assert!(titles(&store, search(vec![text("üNÏCODE", false)])).await.is_empty());
    // The culprit is searched too.
    assert_eq!(
        titles(&store, search(vec![text("app.module2", false)])).await,
        expected(&issues, |i| i.culprit.as_deref() == Some("app.Module2"))
    );

    // Level and status, case-insensitive, with wildcards and negation.
    assert_eq!(
        titles(&store, search(vec![values_of("level", &["ERROR"], false)])).await,
        expected(&issues, |i| i.level.eq_ignore_ascii_case("error"))
    );
    assert_eq!(
        titles(&store, search(vec![values_of("level", &["warn*", "fatal"], true)])).await,
        expected(&issues, |i| i.level != "warning" && i.level != "fatal")
    );
    let resolved = titles(&store, search(vec![values_of("status", &["resolved"], false)])).await;
    assert_eq!(resolved, expected(&issues, |i| i.status == IssueStatus::Resolved));
    assert_eq!(resolved.len(), 4);
    assert_eq!(
        titles(
            &store,
            search(vec![values_of("status", &["resolved", "ignored"], true)])
        )
        .await,
        expected(&issues, |i| i.status == IssueStatus::Unresolved)
    );

    // Tags: release, environment, any key; `has:`.
    assert_eq!(
        titles(&store, search(vec![values_of("release", &["1.*"], false)])).await,
        expected(&issues, |i| has_tag(i, "release", &|v| v.starts_with("1.")))
    );
    assert_eq!(
        titles(&store, search(vec![values_of("release", &["shop@1.0"], true)])).await,
        expected(&issues, |i| !has_tag(i, "release", &|v| v == "Shop@1.0"))
    );
    assert_eq!(
        titles(&store, search(vec![values_of("environment", &["prod*"], false)])).await,
        expected(&issues, |i| has_tag(i, "environment", &|v| v
            .to_ascii_lowercase()
            .starts_with("prod")))
    );
    assert_eq!(
        titles(&store, search(vec![tag("browser", &["chrome*"], false)])).await,
        expected(&issues, |i| has_tag(i, "browser", &|v| v
            .to_ascii_lowercase()
            .starts_with("chrome")))
    );
    assert_eq!(
        titles(&store, search(vec![tag("url", &["*100%*"], false)])).await,
        expected(&issues, |i| has_tag(i, "url", &|_| true))
    );
    assert!(
        titles(&store, search(vec![tag("url", &["*a%b*"], false)]))
            .await
            .is_empty()
    );
    assert_eq!(
        titles(&store, search(vec![tag("Browser", &["*"], false)])).await,
        expected(&issues, |i| has_tag(i, "Browser", &|_| true))
    );
    let has_url = titles(&store, search(vec![has("url", false)])).await;
    assert_eq!(has_url, expected(&issues, |i| has_tag(i, "url", &|_| true)));
    assert_eq!(has_url.len(), 5);
    assert_eq!(titles(&store, search(vec![has("url", true)])).await.len(), ISSUES - 5);

    // Comparisons on first/last seen, times seen and users.
    let middle = (BASE_HOUR + 3) * HOUR;
    for (cmp, keep) in [
        (Cmp::Ge, &(|t: i64| t >= middle) as &dyn Fn(i64) -> bool),
        (Cmp::Lt, &|t| t < middle),
    ] {
        assert_eq!(
            titles(&store, search(vec![Condition::FirstSeen { cmp, at_us: middle }])).await,
            expected(&issues, |i| keep(i.first_seen))
        );
        assert_eq!(
            titles(&store, search(vec![Condition::LastSeen { cmp, at_us: middle }])).await,
            expected(&issues, |i| keep(i.last_seen))
        );
    }
    let four = titles(&store, search(vec![Condition::TimesSeen { cmp: Cmp::Eq, count: 4 }])).await;
    assert_eq!(four, expected(&issues, |i| i.times_seen == 4));
    assert_eq!(four.len(), 6);
    assert_eq!(
        titles(&store, search(vec![Condition::UserCount { cmp: Cmp::Gt, count: 1 }])).await,
        expected(&issues, |i| i.user_count > 1)
    );

    // Conditions combine; project and id scopes restrict.
    assert_eq!(
        titles(
            &store,
            search(vec![
                values_of("status", &["unresolved"], false),
                Condition::TimesSeen { cmp: Cmp::Ge, count: 2 },
                has("browser", false),
            ])
        )
        .await,
        expected(&issues, |i| i.status == IssueStatus::Unresolved
            && i.times_seen >= 2
            && has_tag(i, "browser", &|_| true))
    );
    let other_project = IssueFilter {
        project_ids: vec![project + 1000],
        ..everything()
    };
    assert!(titles(&store, other_project).await.is_empty());
    let some: Vec<i64> = issues.values().take(3).map(|i| i.id).collect();
    let scoped = IssueFilter {
        project_ids: vec![project],
        issue_ids: some.clone(),
        ..everything()
    };
    assert_eq!(
        titles(&store, scoped).await,
        expected(&issues, |i| some.contains(&i.id))
    );
}

fn text(text: &str, negate: bool) -> Condition {
    Condition::Text {
        text: text.into(),
        negate,
    }
}

fn values_of(kind: &str, values: &[&str], negate: bool) -> Condition {
    let values = values.iter().map(|v| v.to_string()).collect();
    match kind {
        "level" => Condition::Level { values, negate },
        "status" => Condition::Status { values, negate },
        "release" => Condition::Release { values, negate },
        "environment" => Condition::Environment { values, negate },
        other => panic!("no condition {other}"),
    }
}

fn tag(key: &str, values: &[&str], negate: bool) -> Condition {
    Condition::Tag {
        key: key.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        negate,
    }
}

fn has(key: &str, negate: bool) -> Condition {
    Condition::Has {
        key: key.into(),
        negate,
    }
}

#[derive(Debug, PartialEq)]
struct Page {
    prev: String,
    next: String,
    titles: Vec<String>,
    back: Vec<String>,
}

/// Pages through `filter` by value cursors as the issue list does (`api::issues::value_page`):
/// each page's cursors (`value:offset:is_prev`), titles, and what its `prev` cursor leads
/// back to, first page to last.
async fn walk(store: &Store, filter: &IssueFilter, limit: usize) -> Vec<Page> {
    let sort = filter.sort;
    let mut pages = Vec::new();
    let (mut value, mut offset) = (0i64, 0usize);
    for _ in 0..100 {
        let page_filter = IssueFilter {
            limit: limit + 1,
            offset,
            ..filter.clone()
        };
        let start = (value > 0).then_some(value);
        let mut issues = match start {
            Some(v) => store.issues_by_value(page_filter, v, false).await.expect("pages"),
            None => store
                .issues(IssueFilter {
                    offset: 0,
                    ..page_filter
                })
                .await
                .expect("lists"),
        };
        let more = issues.len() > limit;
        issues.truncate(limit);
        let ties = |v: i64| issues.iter().filter(|i| sort.value_of(i) == v).count();
        let (next_value, next_offset) = match issues.last() {
            Some(last) => {
                let v = sort.value_of(last);
                let mut o = ties(v);
                if start == Some(v) {
                    o += offset;
                }
                (v, o)
            }
            None => (value, offset),
        };
        let (prev, back) = match issues.first() {
            Some(first) => {
                let (v, o) = (sort.value_of(first), ties(sort.value_of(first)));
                let mut back = store
                    .issues_by_value(
                        IssueFilter {
                            limit: limit + 1,
                            offset: o,
                            ..filter.clone()
                        },
                        v,
                        true,
                    )
                    .await
                    .expect("pages back");
                if back.len() > limit {
                    back.remove(0);
                }
                (format!("{v}:{o}:1"), back.into_iter().map(|i| i.title).collect())
            }
            None => (String::new(), Vec::new()),
        };
        pages.push(Page {
            prev,
            next: format!("{next_value}:{next_offset}:0"),
            titles: issues.iter().map(|i| i.title.clone()).collect(),
            back,
        });
        if !more {
            return pages;
        }
        (value, offset) = (next_value, next_offset);
    }
    panic!("paging did not end");
}

async fn value_cursors_page_through_every_issue_once(store: Store, project: i64) {
    load_dataset(&store, project).await;
    // Value cursors serve the orders whose values only grow (as the issue list uses them).
    for sort in [IssueSort::Date, IssueSort::New] {
        let filter = IssueFilter { sort, ..everything() };
        let all: Vec<String> = store
            .issues(filter.clone())
            .await
            .expect("lists")
            .into_iter()
            .map(|i| i.title)
            .collect();
        assert_eq!(all.len(), ISSUES);
        for limit in [1, 5, 7] {
            let pages = walk(&store, &filter, limit).await;
            let walked: Vec<String> = pages.iter().flat_map(|p| p.titles.clone()).collect();
            assert_eq!(walked, all, "{sort:?} by {limit}: every issue once, in list order");
            let last = pages.last().expect("one page at least");
            assert!(
                pages.len() == 1 || !last.back.is_empty(),
                "{sort:?} by {limit}: a way back"
            );
            assert!(last.back.len() <= limit);
        }
    }
    // Offset paging (the count orders' fallback) too.
    let mut offset = 0;
    let mut seen = Vec::new();
    loop {
        let page = store
            .issues(IssueFilter {
                sort: IssueSort::Freq,
                limit: 5,
                offset,
                ..everything()
            })
            .await
            .expect("pages");
        if page.is_empty() {
            break;
        }
        offset += page.len();
        seen.extend(page.into_iter().map(|i| i.id));
    }
    assert_eq!(seen.len(), ISSUES);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), ISSUES);
}

async fn status_changes_are_all_or_none(store: Store, project: i64) {
    let mut events = Vec::new();
    for (n, (hash, release)) in [("a", "1.0"), ("a", "1.2"), ("b", "2.0"), ("b", "2.0"), ("b", "2.1")]
        .into_iter()
        .enumerate()
    {
        let mut ev = Ev::new(&format!("{n:032x}"), hash, (BASE_HOUR + n as i64) * HOUR);
        ev.release = Some(release.into());
        ev.tags.push(("release".into(), release.into()));
        events.push(ev);
    }
    ingest(&store, project, &events).await;
    let all = store.issues(everything()).await.expect("lists");
    let a = all.iter().find(|i| i.title.ends_with(" a")).expect("a").id;
    let b = all.iter().find(|i| i.title.ends_with(" b")).expect("b").id;

    store
        .set_status(vec![a, b], status("resolved", json!({"inNextRelease": true})))
        .await
        .expect("resolves");
    let (ia, ib) = (store.issue(a).await.expect("a"), store.issue(b).await.expect("b"));
    assert_eq!((ia.status.as_str(), ib.status.as_str()), ("resolved", "resolved"));
    assert_eq!(ia.status_details, json!({"inNextRelease": true, "inRelease": "1.2"}));
    assert_eq!(ib.status_details, json!({"inNextRelease": true, "inRelease": "2.1"}));

    store
        .set_status(
            vec![b],
            StatusChange {
                status: IssueStatus::Ignored,
                substatus: Some("archived_until_escalating".into()),
                details: json!({"ignoreCount": 10}),
            },
        )
        .await
        .expect("ignores");
    let ib = store.issue(b).await.expect("b");
    assert_eq!(ib.status, IssueStatus::Ignored);
    assert_eq!(ib.substatus.as_deref(), Some("archived_until_escalating"));
    assert_eq!(ib.status_details, json!({"ignoreCount": 10, "timesSeenAtIgnore": 3}));

    // An unknown id fails the whole change: `a` stays resolved.
    let missing = store
        .set_status(vec![a, b + 1000], status("unresolved", json!({})))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    assert_eq!(store.issue(a).await.expect("a").status, IssueStatus::Resolved);

    store
        .set_status(vec![a, a, b], status("unresolved", json!({})))
        .await
        .expect("reopens");
    let open = store
        .issues(search(vec![values_of("status", &["unresolved"], false)]))
        .await
        .expect("lists");
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|i| i.status_details == json!({})));
}

/// What an issue's aggregates hold, for comparing before and after.
#[derive(Debug, PartialEq)]
struct Aggregates {
    times_seen: i64,
    user_count: i64,
    first_seen: i64,
    last_seen: i64,
    tags: Vec<(String, String, i64, i64, i64)>,
    hourly: i64,
    events: usize,
}

async fn aggregates(store: &Store, id: i64) -> Aggregates {
    let issue = store.issue(id).await.expect("issue");
    let tags = store
        .issue_tags(id)
        .await
        .expect("tags")
        .into_iter()
        .map(|t| (t.key, t.value, t.count, t.first_seen, t.last_seen))
        .collect();
    let stats = store
        .issue_stats(vec![id], (BASE_HOUR + 20) * HOUR, 1, 48)
        .await
        .expect("stats");
    let events = store
        .issue_events(id, EventOrder::OldestFirst, 1000, 0)
        .await
        .expect("events")
        .len();
    Aggregates {
        times_seen: issue.times_seen,
        user_count: issue.user_count,
        first_seen: issue.first_seen,
        last_seen: issue.last_seen,
        tags,
        hourly: stats[&id].iter().map(|(_, c)| c).sum(),
        events,
    }
}

fn merge_fixture() -> Vec<Ev> {
    let mut events = Vec::new();
    // a: 4 events over hours 0–3; b: 3 events over hours 2–6; c: 1 event. Users and tags overlap.
    let plan: [(&str, i64, &str, &str); 8] = [
        ("a", 0, "id:1", "Chrome"),
        ("a", 1, "id:2", "Firefox"),
        ("a", 2, "id:1", "Chrome"),
        ("a", 3, "id:3", "Safari"),
        ("b", 2, "id:1", "Chrome"),
        ("b", 5, "id:4", "Edge"),
        ("b", 6, "id:4", "Chrome"),
        ("c", 4, "id:9", "Chrome"),
    ];
    for (n, (hash, hour, user, browser)) in plan.into_iter().enumerate() {
        let mut ev = Ev::new(&format!("{n:032x}"), hash, (BASE_HOUR + hour) * HOUR + n as i64);
        ev.user = Some(user.into());
        ev.release = Some(format!("r{hour}"));
        ev.tags = vec![
            ("browser".into(), browser.into()),
            ("release".into(), format!("r{hour}")),
        ];
        events.push(ev);
    }
    events
}

async fn merge_then_unmerge_keeps_counts_exact(store: Store, project: i64) {
    ingest(&store, project, &merge_fixture()).await;
    let all = store.issues(everything()).await.expect("lists");
    let id = |h: &str| {
        all.iter()
            .find(|i| i.title.ends_with(&format!(" {h}")))
            .expect("issue")
            .id
    };
    let (a, b, c) = (id("a"), id("b"), id("c"));
    let before_a = aggregates(&store, a).await;
    let before_b = aggregates(&store, b).await;
    assert_eq!((before_a.times_seen, before_b.times_seen), (4, 3));

    // Issues of another project or unknown ids are refused, changing nothing.
    let unknown = store.merge_issues(vec![a, b + 1000]).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))), "{unknown:?}");

    // Into the issue with the most events.
    let parent = store.merge_issues(vec![b, a]).await.expect("merges");
    assert_eq!(parent, a);
    assert!(matches!(store.issue(b).await, Err(StoreError::NotFound(_))));
    let merged = aggregates(&store, a).await;
    assert_eq!(merged.times_seen, 7);
    assert_eq!(merged.events, 7);
    assert_eq!(merged.hourly, 7);
    assert_eq!(merged.user_count, 4, "id:1 is counted once");
    assert_eq!(merged.first_seen, before_a.first_seen);
    assert_eq!(merged.last_seen, before_b.last_seen);
    let chrome = store
        .issue_tags(a)
        .await
        .expect("tags")
        .into_iter()
        .find(|t| t.key == "browser" && t.value == "Chrome")
        .expect("chrome");
    assert_eq!(chrome.count, 4);
    let hashes: Vec<String> = store
        .issue_hashes(a)
        .await
        .expect("hashes")
        .into_iter()
        .map(|h| h.hash)
        .collect();
    assert_eq!(hashes, vec!["a".to_string(), "b".to_string()]);
    let latest = store.latest_event_per_hash(a).await.expect("latest");
    assert_eq!(latest.len(), 2);
    assert_eq!(latest["a"].event_id.as_str(), format!("{:032x}", 3));
    assert_eq!(latest["b"].event_id.as_str(), format!("{:032x}", 6));
    // A new event of `b` now counts on `a`.
    let mut late = Ev::new(&format!("{:032x}", 50), "b", (BASE_HOUR + 7) * HOUR);
    late.user = Some("id:4".into());
    late.tags = vec![("browser".into(), "Edge".into())];
    ingest(&store, project, &[late]).await;
    assert_eq!(store.issue(a).await.expect("a").times_seen, 8);

    // Refusals: no hash, a foreign hash, every hash.
    for hashes in [vec![], vec!["c".to_string()], vec!["a".to_string(), "b".to_string()]] {
        let refused = store.unmerge(a, hashes.clone(), tags_of).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{hashes:?}: {refused:?}"
        );
    }
    assert!(matches!(
        store.unmerge(b, vec!["b".into()], tags_of).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(aggregates(&store, a).await.times_seen, 8);

    let unmerged = store.unmerge(a, vec!["b".into()], tags_of).await.expect("unmerges");
    assert_eq!(unmerged.events, 4);
    let back_a = aggregates(&store, a).await;
    assert_eq!(back_a, before_a, "the old issue is as before the merge");
    let new = aggregates(&store, unmerged.new_issue_id).await;
    assert_eq!(new.times_seen, 4);
    assert_eq!(new.events, 4);
    assert_eq!(new.hourly, 4);
    assert_eq!(new.user_count, before_b.user_count);
    assert_eq!(new.first_seen, before_b.first_seen);
    assert_eq!(new.last_seen, (BASE_HOUR + 7) * HOUR);
    let new_issue = store.issue(unmerged.new_issue_id).await.expect("new issue");
    assert_eq!(new_issue.status, IssueStatus::Unresolved);
    assert_eq!(new_issue.first_release.as_deref(), Some("r2"));
    assert_eq!(new_issue.last_release.as_deref(), Some("r6"));
    assert!(new_issue.short_id > store.issue(c).await.expect("c").short_id);
    let edge = store
        .issue_tags(unmerged.new_issue_id)
        .await
        .expect("tags")
        .into_iter()
        .find(|t| t.key == "browser" && t.value == "Edge")
        .expect("edge");
    assert_eq!(edge.count, 2);
    // Later events of `b` follow the hash to the new issue.
    ingest(
        &store,
        project,
        &[Ev::new(&format!("{:032x}", 51), "b", (BASE_HOUR + 8) * HOUR)],
    )
    .await;
    assert_eq!(store.issue(unmerged.new_issue_id).await.expect("new").times_seen, 5);
    assert_eq!(store.issue(a).await.expect("a").times_seen, 4);
    // c was never touched.
    assert_eq!(store.issue(c).await.expect("c").times_seen, 1);
}

async fn delete_removes_issues_with_their_events(store: Store, project: i64) {
    ingest(&store, project, &merge_fixture()).await;
    let all = store.issues(everything()).await.expect("lists");
    let id = |h: &str| {
        all.iter()
            .find(|i| i.title.ends_with(&format!(" {h}")))
            .expect("issue")
            .id
    };
    let (a, b, c) = (id("a"), id("b"), id("c"));

    let unknown = store.delete_issues(vec![a, c + 1000]).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))), "{unknown:?}");
    assert!(
        store.issue(a).await.is_ok(),
        "nothing is deleted when one id is unknown"
    );

    store.delete_issues(vec![a, c]).await.expect("deletes");
    for gone in [a, c] {
        assert!(matches!(store.issue(gone).await, Err(StoreError::NotFound(_))));
        assert!(store.issue_tags(gone).await.expect("tags").is_empty());
        assert!(store.issue_hashes(gone).await.expect("hashes").is_empty());
        assert!(
            store
                .issue_events(gone, EventOrder::NewestFirst, 10, 0)
                .await
                .expect("events")
                .is_empty()
        );
    }
    assert_eq!(store.project_events(project, 100, 0).await.expect("events").len(), 3);
    assert!(
        store
            .find_event(vec![project], &eid(&format!("{:032x}", 0)))
            .await
            .expect("finds")
            .is_none()
    );
    let remaining = store.issues(everything()).await.expect("lists");
    assert_eq!(remaining.iter().map(|i| i.id).collect::<Vec<_>>(), vec![b]);
    // A deleted issue's hash opens a new issue.
    ingest(
        &store,
        project,
        &[Ev::new(&format!("{:032x}", 60), "a", (BASE_HOUR + 9) * HOUR)],
    )
    .await;
    let reopened = store.issues(everything()).await.expect("lists");
    assert_eq!(reopened.len(), 2);
    assert!(reopened.iter().all(|i| i.id != a));
}

async fn events_page_and_navigate_within_an_issue(store: Store, project: i64) {
    // Five events of one issue, two sharing a timestamp; one of another issue between them.
    let at = |h: i64| (BASE_HOUR + h) * HOUR;
    let plan: [(&str, i64); 6] = [("x", 3), ("x", 1), ("y", 2), ("x", 2), ("x", 2), ("x", 5)];
    let events: Vec<Ev> = plan
        .iter()
        .enumerate()
        .map(|(n, (hash, hour))| Ev::new(&format!("e{n}"), hash, at(*hour)))
        .collect();
    ingest(&store, project, &events).await;
    let x = store
        .issues(search(vec![text("ValueError x", false)]))
        .await
        .expect("x")[0]
        .id;

    let ids = |events: Vec<errata::store::StoredEvent>| events.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
    let names = |names: &[&str]| names.iter().map(|n| eid(n)).collect::<Vec<_>>();
    let oldest = ids(store
        .issue_events(x, EventOrder::OldestFirst, 10, 0)
        .await
        .expect("events"));
    assert_eq!(oldest, names(&["e1", "e3", "e4", "e0", "e5"]));
    let newest = ids(store
        .issue_events(x, EventOrder::NewestFirst, 10, 0)
        .await
        .expect("events"));
    assert_eq!(newest, names(&["e5", "e0", "e4", "e3", "e1"]));
    let page = ids(store
        .issue_events(x, EventOrder::NewestFirst, 2, 1)
        .await
        .expect("events"));
    assert_eq!(page, names(&["e0", "e4"]));
    assert!(
        store
            .issue_events(x, EventOrder::NewestFirst, 2, 10)
            .await
            .expect("events")
            .is_empty()
    );
    let project_page = ids(store.project_events(project, 3, 1).await.expect("events"));
    assert_eq!(project_page, names(&["e0", "e4", "e3"]));
    assert!(
        store
            .project_events(project + 1000, 10, 0)
            .await
            .expect("events")
            .is_empty()
    );

    // Found in the first listed project that has it; payload decoded.
    let found = store
        .find_event(vec![project + 1000, project], &eid("e4"))
        .await
        .expect("finds")
        .expect("e4 exists");
    assert_eq!(found.issue_id, x);
    assert_eq!(found.data["event_id"], "e4");
    assert!(
        store
            .find_event(vec![project], &eid("nope"))
            .await
            .expect("finds")
            .is_none()
    );
    assert!(store.find_event(vec![], &eid("e4")).await.expect("finds").is_none());

    let neighbours = |id: &str| {
        let store = store.clone();
        let id = eid(id);
        async move {
            let event = store
                .find_event(vec![project], &id)
                .await
                .expect("finds")
                .expect("event");
            store.neighbours(&event).await.expect("neighbours")
        }
    };
    assert_eq!(neighbours("e1").await, (None, Some(eid("e3"))));
    assert_eq!(neighbours("e3").await, (Some(eid("e1")), Some(eid("e4"))));
    assert_eq!(neighbours("e4").await, (Some(eid("e3")), Some(eid("e0"))));
    assert_eq!(neighbours("e5").await, (Some(eid("e0")), None));
    assert_eq!(neighbours("e2").await, (None, None), "alone in its issue");
}

async fn stats_bucket_an_issues_events_by_hour(store: Store, project: i64) {
    let at = |h: i64| (BASE_HOUR + h) * HOUR + 5;
    let events: Vec<Ev> = [0, 0, 1, 5, 7, 7, 7]
        .iter()
        .enumerate()
        .map(|(n, h)| Ev::new(&format!("s{n}"), "s", at(*h)))
        .collect();
    ingest(&store, project, &events).await;
    let id = store.issues(everything()).await.expect("lists")[0].id;
    let now = at(7);
    let hourly = store.issue_stats(vec![id, id + 1000], now, 1, 8).await.expect("stats");
    let series = &hourly[&id];
    assert_eq!(series.len(), 8);
    assert_eq!(series[0].0, BASE_HOUR * 3600);
    assert_eq!(
        series.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        vec![2, 1, 0, 0, 0, 1, 0, 3]
    );
    assert!(hourly[&(id + 1000)].iter().all(|(_, c)| *c == 0));
    let daily = store.issue_stats(vec![id], now, 4, 2).await.expect("stats");
    assert_eq!(daily[&id].iter().map(|(_, c)| *c).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(daily[&id][1].0, (BASE_HOUR + 4) * 3600);
}

// ------------------------------------------------------------------------------ both at once

/// A generated search: conditions, order, page, and value-cursor position.
#[derive(Debug, Clone)]
struct Search {
    conditions: Vec<Condition>,
    sort: IssueSort,
    limit: usize,
    offset: usize,
    /// Which of the data set's issues (by index) scope the search, if any.
    issue_indices: Vec<usize>,
    other_project: bool,
    value: i64,
    is_prev: bool,
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(options).prop_map(String::from)
}

fn cmp() -> impl Strategy<Value = Cmp> {
    prop_oneof![
        Just(Cmp::Eq),
        Just(Cmp::Gt),
        Just(Cmp::Ge),
        Just(Cmp::Lt),
        Just(Cmp::Le)
    ]
}

fn time() -> impl Strategy<Value = i64> {
    (0i64..9, prop_oneof![Just(0i64), Just(1000), Just(2000), Just(1)]).prop_map(|(h, us)| (BASE_HOUR + h) * HOUR + us)
}

fn condition() -> impl Strategy<Value = Condition> {
    let values = |options: &'static [&'static str]| proptest::collection::vec(pick(options), 0..3);
    prop_oneof![
        (
            values(&["unresolved", "resolved", "IGNORED", "res*", "*", "un*ed"]),
            any::<bool>()
        )
            .prop_map(|(values, negate)| Condition::Status { values, negate }),
        (
            values(&["error", "ERROR", "warn*", "info", "Fatal", "*r"]),
            any::<bool>()
        )
            .prop_map(|(values, negate)| Condition::Level { values, negate }),
        (values(&["1.0", "1.*", "*beta", "shop@*", "2.0-BETA"]), any::<bool>())
            .prop_map(|(values, negate)| Condition::Release { values, negate }),
        (values(&["production", "prod", "PROD*", "staging", "*"]), any::<bool>())
            .prop_map(|(values, negate)| Condition::Environment { values, negate }),
        (cmp(), time()).prop_map(|(cmp, at_us)| Condition::FirstSeen { cmp, at_us }),
        (cmp(), time()).prop_map(|(cmp, at_us)| Condition::LastSeen { cmp, at_us }),
        (cmp(), 0i64..6).prop_map(|(cmp, count)| Condition::TimesSeen { cmp, count }),
        (cmp(), 0i64..4).prop_map(|(cmp, count)| Condition::UserCount { cmp, count }),
        (
            pick(&["browser", "Browser", "url", "release", "missing"]),
            values(&[
                "chrome*",
                "*fox",
                "É-browser",
                "é-browser",
                "*100%*",
                "*a_b*",
                "*a%b*",
                "*",
                "SAFARI"
            ]),
            any::<bool>()
        )
            .prop_map(|(key, values, negate)| Condition::Tag { key, values, negate }),
        (
            pick(&["browser", "url", "Browser", "environment", "missing"]),
            any::<bool>()
        )
            .prop_map(|(key, negate)| Condition::Has { key, negate }),
        (
            pick(&[
                "keyerror",
                "KEYERROR",
                "timeout_5%",
                "Timeout_5_",
                "ünïcode",
                "Ünïcode",
                "back\\slash",
                "app.module",
                "detail",
                "value",
                "%",
                "_",
                "",
                "*error*",
                "#1"
            ]),
            any::<bool>()
        )
            .prop_map(|(text, negate)| Condition::Text { text, negate }),
    ]
}

fn searches() -> impl Strategy<Value = Search> {
    (
        proptest::collection::vec(condition(), 0..4),
        prop_oneof![
            Just(IssueSort::Date),
            Just(IssueSort::New),
            Just(IssueSort::Freq),
            Just(IssueSort::User)
        ],
        1usize..30,
        0usize..12,
        prop_oneof![Just(Vec::new()), proptest::collection::vec(0..ISSUES, 1..6)],
        proptest::bool::weighted(0.05),
        prop_oneof![time(), 0i64..6, Just(i64::MAX)],
        any::<bool>(),
    )
        .prop_map(
            |(conditions, sort, limit, offset, issue_indices, other_project, value, is_prev)| Search {
                conditions,
                sort,
                limit,
                offset,
                issue_indices,
                other_project,
                value,
                is_prev,
            },
        )
}

/// What a page shows of an issue, the same on both backends.
fn shown(issues: Vec<Issue>) -> Vec<(i64, String, String, i64, i64, i64, i64)> {
    issues
        .into_iter()
        .map(|i| {
            (
                i.short_id,
                i.title,
                i.status.to_string(),
                i.times_seen,
                i.user_count,
                i.first_seen,
                i.last_seen,
            )
        })
        .collect()
}

struct Side {
    store: Store,
    project: i64,
    /// Issue ids by data-set index.
    ids: Vec<i64>,
}

impl Side {
    fn filter(&self, search: &Search) -> IssueFilter {
        IssueFilter {
            project_ids: if search.other_project {
                vec![self.project + 1000]
            } else {
                vec![self.project]
            },
            issue_ids: search.issue_indices.iter().map(|&i| self.ids[i]).collect(),
            conditions: search.conditions.clone(),
            sort: search.sort,
            limit: search.limit,
            offset: search.offset,
        }
    }
}

async fn side(opened: &Opened) -> Side {
    let issues = load_dataset(&opened.store, opened.project).await;
    let ids = (0..ISSUES)
        .map(|i| {
            issues
                .values()
                .find(|issue| issue.title.ends_with(&format!(" #{i}")))
                .expect("stored")
                .id
        })
        .collect();
    Side {
        store: opened.store.clone(),
        project: opened.project,
        ids,
    }
}

#[test]
fn any_search_selects_the_same_issues_in_the_same_order_on_both_backends() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (sqlite, postgres) = runtime.block_on(async {
        (
            open(Backend::Sqlite).await,
            open_at(Backend::Postgres, Some(icu_database().await)).await,
        )
    });
    let (a, b) = runtime.block_on(async { (side(&sqlite).await, side(&postgres).await) });

    // The data set itself reads the same: tags, hashes and every cursor walk.
    runtime.block_on(async {
        for i in 0..ISSUES {
            let (ta, tb) = (
                a.store.issue_tags(a.ids[i]).await.expect("tags"),
                b.store.issue_tags(b.ids[i]).await.expect("tags"),
            );
            let key = |t: &TagValue| (t.key.clone(), t.value.clone(), t.count, t.first_seen, t.last_seen);
            assert_eq!(
                ta.iter().map(key).collect::<Vec<_>>(),
                tb.iter().map(key).collect::<Vec<_>>(),
                "tags of #{i}"
            );
        }
        for sort in [IssueSort::Date, IssueSort::New] {
            let filter = IssueFilter { sort, ..everything() };
            for limit in [1, 4, 10] {
                assert_eq!(
                    walk(&a.store, &a.filter_all(&filter), limit).await,
                    walk(&b.store, &b.filter_all(&filter), limit).await,
                    "{sort:?} by {limit}: the same pages and cursors"
                );
            }
        }
    });

    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&searches(), |search| {
        runtime.block_on(async {
            let (fa, fb) = (a.filter(&search), b.filter(&search));
            let (la, lb) = (
                a.store.issues(fa.clone()).await.expect("sqlite searches"),
                b.store.issues(fb.clone()).await.expect("postgres searches"),
            );
            prop_assert_eq!(shown(la), shown(lb), "issues()");
            let (va, vb) = (
                a.store
                    .issues_by_value(fa, search.value, search.is_prev)
                    .await
                    .expect("sqlite pages"),
                b.store
                    .issues_by_value(fb, search.value, search.is_prev)
                    .await
                    .expect("postgres pages"),
            );
            prop_assert_eq!(shown(va), shown(vb), "issues_by_value()");
            Ok::<(), TestCaseError>(())
        })
    });
    runtime.block_on(async {
        close(sqlite).await;
        close(postgres).await;
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

impl Side {
    /// `filter` scoped to this side's project.
    fn filter_all(&self, filter: &IssueFilter) -> IssueFilter {
        IssueFilter {
            project_ids: vec![self.project],
            ..filter.clone()
        }
    }
}

// ------------------------------------------------------------------------------ several nodes

/// Two nodes on one PostgreSQL database ingest while both merge, unmerge and change statuses
/// of the same issues: nothing deadlocks for good, and every count stays exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_merges_unmerges_and_status_changes_on_two_nodes_keep_counts_exact() {
    let url = PgCluster::shared().fresh_database().await;
    let connect = || async {
        Store::connect(&Location::Postgres(url.clone()), options())
            .await
            .expect("opens")
    };
    let (one, two) = (connect().await, connect().await);
    let project = one
        .bootstrap_if_empty()
        .await
        .expect("bootstraps")
        .expect("empty")
        .project
        .id;
    // Eight issues, three events each.
    let mut seed = Vec::new();
    for i in 0..8 {
        for e in 0..3 {
            let mut ev = Ev::new(&format!("seed-{i}-{e}"), &format!("h{i}"), (BASE_HOUR + e) * HOUR);
            ev.user = Some(format!("id:{e}"));
            ev.tags = vec![("browser".into(), format!("b{e}"))];
            seed.push(ev);
        }
    }
    ingest(&one, project, &seed).await;
    let ids: Vec<i64> = {
        let mut ids: Vec<i64> = one
            .issues(everything())
            .await
            .expect("lists")
            .iter()
            .map(|i| i.id)
            .collect();
        ids.sort_unstable();
        ids
    };

    let work = |store: Store, node: usize| {
        let ids = ids.clone();
        async move {
            let (mut merged, mut unmerged, mut acknowledged) = (0, 0, 0);
            for round in 0..6 {
                // Overlapping sets, listed in different orders by the two nodes.
                let (x, y) = (ids[(round + node) % 8], ids[(round * 3 + 1) % 8]);
                let pair = if node == 0 { vec![x, y] } else { vec![y, x] };
                match store.merge_issues(pair).await {
                    // Merging an issue with itself removes none.
                    Ok(_) if x != y => merged += 1,
                    Ok(_) | Err(StoreError::NotFound(_) | StoreError::Conflict(_)) => {}
                    Err(e) => panic!("merge failed: {e}"),
                }
                let alive: Vec<i64> = store
                    .issues(everything())
                    .await
                    .expect("lists")
                    .iter()
                    .map(|i| i.id)
                    .collect();
                match store.set_status(alive.clone(), status("resolved", json!({}))).await {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => panic!("status change failed: {e}"),
                }
                // Split a merged issue again (the other node may be merging it meanwhile).
                for &id in alive.iter().skip(node) {
                    let hashes = match store.issue_hashes(id).await {
                        Ok(hashes) if hashes.len() >= 2 => hashes,
                        _ => continue,
                    };
                    let last = hashes.last().map(|h| h.hash.clone()).into_iter().collect();
                    match store.unmerge(id, last, tags_of).await {
                        Ok(_) => unmerged += 1,
                        Err(StoreError::NotFound(_) | StoreError::Conflict(_)) => {}
                        Err(e) => panic!("unmerge failed: {e}"),
                    }
                    break;
                }
                let batch: Vec<Ev> = (0..5)
                    .map(|n| {
                        let mut ev = Ev::new(
                            &format!("n{node}-r{round}-{n}"),
                            &format!("h{}", (round + n) % 8),
                            (BASE_HOUR + 5) * HOUR + n as i64,
                        );
                        ev.user = Some(format!("id:{node}{n}"));
                        ev.tags = vec![("browser".into(), "live".into())];
                        ev
                    })
                    .collect();
                let mut pending = Vec::new();
                for ev in &batch {
                    let store = store.clone();
                    let record = ev.record(project);
                    pending.push(tokio::spawn(async move { store.store_event(record, None).await }));
                }
                for p in pending {
                    // An event racing a merge that deletes its issue may be refused: it is then
                    // not acknowledged, and must not be stored either.
                    if p.await.expect("joins").is_ok() {
                        acknowledged += 1;
                    }
                }
            }
            (merged, unmerged, acknowledged)
        }
    };
    let (m1, m2) = tokio::time::timeout(BOUND, async {
        tokio::join!(tokio::spawn(work(one.clone(), 0)), tokio::spawn(work(two.clone(), 1)))
    })
    .await
    .expect("no change waits for ever");
    let ((m1, u1, a1), (m2, u2, a2)) = (m1.expect("node one"), m2.expect("node two"));
    let (merged, unmerged, acknowledged) = (m1 + m2, u1 + u2, a1 + a2);
    assert!(merged > 0, "some merges happened");
    assert!(unmerged > 0, "some unmerges happened");

    // Every issue's counters equal what its rows say.
    let issues = one.issues(everything()).await.expect("lists");
    let mut events_total = 0;
    for issue in &issues {
        let events = one
            .issue_events(issue.id, EventOrder::OldestFirst, 10_000, 0)
            .await
            .expect("events");
        events_total += events.len();
        assert_eq!(issue.times_seen as usize, events.len(), "times_seen of {}", issue.id);
        let users: BTreeSet<&str> = events.iter().filter_map(|e| e.data["user"].as_str()).collect();
        assert_eq!(issue.user_count as usize, users.len(), "user_count of {}", issue.id);
        let tag_total: i64 = one
            .issue_tags(issue.id)
            .await
            .expect("tags")
            .iter()
            .map(|t| t.count)
            .sum();
        assert_eq!(tag_total as usize, events.len(), "tag counts of {}", issue.id);
        let hourly: i64 = one
            .issue_stats(vec![issue.id], (BASE_HOUR + 10) * HOUR, 1, 24)
            .await
            .expect("stats")[&issue.id]
            .iter()
            .map(|(_, c)| c)
            .sum();
        assert_eq!(hourly as usize, events.len(), "hourly stats of {}", issue.id);
    }
    assert_eq!(
        events_total,
        one.project_events(project, 100_000, 0).await.expect("events").len()
    );
    assert_eq!(
        events_total,
        seed.len() + acknowledged,
        "every acknowledged event is kept"
    );
    assert_eq!(
        issues.len() + merged,
        8 + unmerged,
        "each merge removed one issue, each unmerge added one"
    );
    for store in [one, two] {
        tokio::time::timeout(BOUND, tokio::task::spawn_blocking(move || store.shutdown()))
            .await
            .expect("drains")
            .expect("shutdown ran");
    }
}
