//! The storage interface's contract for organizations, projects, keys, tokens, what ingest
//! keeps beside events (attachments, user reports) and outcomes: every test runs the same
//! assertions on SQLite and on PostgreSQL (a throwaway cluster, tests/support/pg.rs, one
//! fresh database per test), so the two backends answer the same inputs the same way.
//! Last, two PostgreSQL nodes: a change on one reaches the other's caches.

#[path = "support/pg.rs"]
mod pg;

use std::time::{Duration, Instant};

use errata::ids::EventId;
use errata::store::{
    KeyChange, Location, NewAttachment, NewProject, NewToken, ORG_TOKEN_MARKER, OutcomeRow, ProjectChange, Store,
    StoreError, StoreOptions, UserReport, token_hash,
};
use pg::PgCluster;
use serde_json::json;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty store of `backend` and what keeps it alive.
async fn open(backend: Backend) -> (Option<tempfile::TempDir>, Store) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store =
                Store::open_sqlite(&dir.path().join("errata.sqlite3"), StoreOptions::default()).expect("store opens");
            (Some(dir), store)
        }
        Backend::Postgres => {
            let url = PgCluster::shared().fresh_database().await;
            (None, node(&url).await)
        }
    }
}

async fn node(url: &str) -> Store {
    Store::connect(&Location::Postgres(url.into()), StoreOptions::default())
        .await
        .expect("opens")
}

/// Stops the store's writer (blocking, so off the runtime).
async fn close(store: Store) {
    tokio::time::timeout(BOUND, tokio::task::spawn_blocking(move || store.shutdown()))
        .await
        .expect("the writer drains in time")
        .expect("shutdown ran");
}

/// Runs one contract on both backends, each as a test of its own.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    };
}

fn new_project(organization_id: i64, slug: &str) -> NewProject {
    NewProject {
        organization_id,
        slug: slug.into(),
        name: slug.to_uppercase(),
        platform: Some("python".into()),
        key_label: "Default".into(),
    }
}

fn conflict_text(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, StoreError>, what: &str) -> bool {
    matches!(result, Err(StoreError::NotFound(w)) if *w == what)
}

contract!(organizations_and_projects);
async fn organizations_and_projects(backend: Backend) {
    let (_dir, store) = open(backend).await;
    let boot = store
        .bootstrap_if_empty()
        .await
        .expect("bootstraps")
        .expect("empty store");
    let org = boot.organization.clone();

    let orgs = store.organizations().await.expect("organizations");
    assert_eq!(
        orgs.iter().map(|o| o.slug.as_str()).collect::<Vec<_>>(),
        [org.slug.as_str()]
    );
    let by_slug = store.organization(&org.slug).await.expect("by slug");
    let by_id = store.organization(&org.id.to_string()).await.expect("by id");
    assert_eq!((by_slug.id, by_id.id, by_id.name.as_str()), (org.id, org.id, "Errata"));
    assert!(is_not_found(&store.organization("nope").await, "organization"));

    let (shop, key) = store
        .create_project(new_project(org.id, "shop"))
        .await
        .expect("creates");
    assert_eq!(
        (shop.slug.as_str(), shop.name.as_str(), shop.platform.as_deref()),
        ("shop", "SHOP", Some("python"))
    );
    assert_eq!(shop.organization_slug, org.slug);
    assert_eq!(shop.settings, json!({}));
    assert_eq!(
        (key.project_id, key.label.as_str(), key.is_active),
        (shop.id, "Default", true)
    );
    assert_eq!(key.allowed_origins, "*");
    assert_eq!(
        conflict_text(store.create_project(new_project(org.id, "shop")).await),
        "a project with the slug \"shop\" already exists"
    );
    assert!(
        conflict_text(store.create_project(new_project(org.id, "Bad Slug")).await).starts_with("invalid project slug")
    );
    let (web, _) = store.create_project(new_project(org.id, "web")).await.expect("creates");

    assert_eq!(store.project(org.id, "shop").await.expect("by slug").id, shop.id);
    assert_eq!(
        store.project(org.id, &web.id.to_string()).await.expect("by id").id,
        web.id
    );
    assert!(is_not_found(&store.project(org.id + 1000, "shop").await, "project"));
    assert!(is_not_found(&store.project(org.id, "nope").await, "project"));

    let all: Vec<i64> = store.projects(None).await.expect("all").iter().map(|p| p.id).collect();
    assert_eq!(all, [boot.project.id, shop.id, web.id], "ordered by id");
    let of_org: Vec<i64> = store
        .projects(Some(org.id))
        .await
        .expect("of org")
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(of_org, all);
    assert!(store.projects(Some(org.id + 1000)).await.expect("none").is_empty());

    let some = store
        .projects_by_id(vec![web.id, shop.id, web.id])
        .await
        .expect("by ids");
    assert_eq!(some.len(), 2);
    assert_eq!(some[&web.id].slug, "web");
    assert!(is_not_found(
        &store.projects_by_id(vec![shop.id, 999_999]).await,
        "project"
    ));

    let settings = json!({"grouping": {"fingerprint_rules": "message:boom -> boom", "stacktrace_rules": ""}});
    let before = store.generation();
    let changed = store
        .update_project(
            shop.id,
            ProjectChange {
                name: Some("Web shop".into()),
                platform: Some("javascript".into()),
                settings: Some(settings.clone()),
                slug: Some("webshop".into()),
            },
        )
        .await
        .expect("updates");
    assert!(
        store.generation() > before,
        "this node's caches learn of the change at once"
    );
    assert_eq!(
        (
            changed.name.as_str(),
            changed.slug.as_str(),
            changed.platform.as_deref()
        ),
        ("Web shop", "webshop", Some("javascript"))
    );
    assert_eq!(changed.settings, settings);
    assert_eq!(store.project_by_id(shop.id).await.expect("reads").settings, settings);
    assert_eq!(
        conflict_text(
            store
                .update_project(
                    shop.id,
                    ProjectChange {
                        slug: Some("web".into()),
                        ..ProjectChange::default()
                    },
                )
                .await
        ),
        "a project with the slug \"web\" already exists"
    );
    assert_eq!(store.project_by_id(shop.id).await.expect("reads").slug, "webshop");
    assert!(is_not_found(
        &store
            .update_project(
                999_999,
                ProjectChange {
                    name: Some("x".into()),
                    ..ProjectChange::default()
                },
            )
            .await,
        "project"
    ));

    let before = store.generation();
    store.delete_project(shop.id).await.expect("deletes");
    assert!(store.generation() > before);
    assert!(is_not_found(&store.project_by_id(shop.id).await, "project"));
    assert!(
        store.key_by_public(&key.public_key).await.expect("lookup").is_none(),
        "keys go with it"
    );
    assert!(is_not_found(&store.delete_project(shop.id).await, "project"));
    close(store).await;
}

contract!(keys);
async fn keys(backend: Backend) {
    let (_dir, store) = open(backend).await;
    let boot = store.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let project = boot.project.id;
    let second = store.create_key(project, "Second").await.expect("creates");
    assert_eq!((second.project_id, second.label.as_str()), (project, "Second"));
    assert_eq!(second.public_key.len(), 32);
    assert_ne!(second.public_key, boot.key.public_key);
    let labels: Vec<String> = store
        .keys(project)
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.label)
        .collect();
    assert_eq!(labels, ["Default", "Second"], "ordered by id");

    let before = store.generation();
    let changed = store
        .update_key(
            project,
            &second.public_key,
            KeyChange {
                label: Some("CI".into()),
                is_active: Some(false),
                rate_limit: Some(Some((10, 60))),
                allowed_origins: Some("https://app.example".into()),
            },
        )
        .await
        .expect("updates");
    assert!(store.generation() > before);
    assert_eq!((changed.label.as_str(), changed.is_active), ("CI", false));
    assert_eq!(
        (changed.rate_limit_count, changed.rate_limit_window),
        (Some(10), Some(60))
    );
    assert_eq!(changed.allowed_origins, "https://app.example");
    let stored = store
        .key_by_public(&second.public_key)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        (stored.is_active, stored.secret_key),
        (false, second.secret_key.clone())
    );

    let cleared = store
        .update_key(
            project,
            &second.public_key,
            KeyChange {
                rate_limit: Some(None),
                ..KeyChange::default()
            },
        )
        .await
        .expect("clears");
    assert_eq!((cleared.rate_limit_count, cleared.rate_limit_window), (None, None));
    assert_eq!(cleared.label, "CI", "fields not named stay");

    let (other, _) = store
        .create_project(new_project(boot.organization.id, "other"))
        .await
        .expect("creates");
    assert!(is_not_found(
        &store
            .update_key(other.id, &second.public_key, KeyChange::default())
            .await,
        "key"
    ));
    assert!(is_not_found(
        &store.delete_key(other.id, &second.public_key).await,
        "key"
    ));
    assert!(is_not_found(
        &store
            .update_key(project, "0".repeat(32).as_str(), KeyChange::default())
            .await,
        "key"
    ));

    store.delete_key(project, &second.public_key).await.expect("deletes");
    assert!(store.key_by_public(&second.public_key).await.expect("lookup").is_none());
    assert!(is_not_found(
        &store.delete_key(project, &second.public_key).await,
        "key"
    ));
    assert_eq!(store.keys(project).await.expect("keys").len(), 1);
    close(store).await;
}

contract!(tokens);
async fn tokens(backend: Backend) {
    let (_dir, store) = open(backend).await;
    let boot = store.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let org = boot.organization.id;

    let user = store
        .create_token("ci", &["project:read", "event:read"])
        .await
        .expect("mints");
    assert!(user.starts_with("sntryu_") && user.len() == 7 + 64, "{user}");
    let (found, stored) = store
        .token_by_hash(&token_hash(&user))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(stored, token_hash(&user));
    assert_eq!((found.name.as_str(), found.last_used), ("ci", None));
    assert_eq!(found.scopes, ["project:read", "event:read"]);
    assert_eq!((found.organization_id, found.projects.clone()), (None, None));

    let org_token = store
        .create_org_token("cli", &["org:ci"], "http://errata.example", &boot.organization.slug)
        .await
        .expect("mints");
    assert!(org_token.starts_with("sntrys_"), "{org_token}");
    let (found_org, _) = store
        .token_by_hash(&token_hash(&org_token))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found_org.scopes, ["org:ci", ORG_TOKEN_MARKER]);

    let (other, _) = store.create_project(new_project(org, "other")).await.expect("creates");
    let bound = store
        .create_bound_token(NewToken {
            name: "bound".into(),
            scopes: vec!["project:read".into()],
            org_claims: None,
            binding: Some((org, Some(vec![other.id, boot.project.id]))),
        })
        .await
        .expect("mints bound");
    let (found_bound, _) = store
        .token_by_hash(&token_hash(&bound))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found_bound.organization_id, Some(org));
    let mut expected = vec![boot.project.id, other.id];
    expected.sort();
    assert_eq!(found_bound.projects, Some(expected), "its projects, by id");

    let org_bound = store
        .create_bound_token(NewToken {
            name: "org-bound".into(),
            scopes: vec!["org:read".into()],
            org_claims: Some(("http://errata.example".into(), boot.organization.slug.clone())),
            binding: Some((org, None)),
        })
        .await
        .expect("mints org-bound");
    assert!(org_bound.starts_with("sntrys_"));
    let (found_org_bound, _) = store
        .token_by_hash(&token_hash(&org_bound))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found_org_bound.scopes, ["org:read", ORG_TOKEN_MARKER]);
    assert_eq!(
        (found_org_bound.organization_id, found_org_bound.projects),
        (Some(org), None)
    );

    let count = store.tokens().await.expect("tokens").len();
    let refused = store
        .create_bound_token(NewToken {
            name: "outside".into(),
            scopes: vec!["project:read".into()],
            org_claims: None,
            binding: Some((org, Some(vec![999_999]))),
        })
        .await;
    assert!(is_not_found(&refused, "project"), "{refused:?}");
    assert_eq!(
        store.tokens().await.expect("tokens").len(),
        count,
        "a failed binding leaves no token"
    );

    store.touch_token(found.id).await.expect("touches");
    let listed = store.tokens().await.expect("tokens");
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["initial admin token", "ci", "cli", "bound", "org-bound"],
        "ordered by id"
    );
    assert!(listed[1].last_used.is_some());
    assert_eq!(listed[3].projects.as_ref().map(Vec::len), Some(2));

    store.revoke_token(found.id).await.expect("revokes");
    assert!(store.token_by_hash(&token_hash(&user)).await.expect("lookup").is_none());
    assert!(is_not_found(&store.revoke_token(found.id).await, "token"));
    assert!(
        store
            .token_by_hash(&token_hash("sntryu_unknown"))
            .await
            .expect("lookup")
            .is_none()
    );
    close(store).await;
}

/// A stored event of `project_id`.
fn record(project_id: i64, event_id: &EventId) -> errata::store::EventRecord {
    let json = json!({"event_id": event_id, "message": "boom"}).to_string();
    errata::store::EventRecord {
        project_id,
        event_id: *event_id,
        hashes: vec!["h1".into()],
        grouping_config: "test",
        title: "ValueError: boom".into(),
        culprit: None,
        location: None,
        metadata: "{}".into(),
        kind: "error",
        platform: "python".into(),
        timestamp: 1_700_000_000_000_000,
        received: 1_700_000_000_000_000,
        level: "error".into(),
        release: None,
        environment: None,
        trace_id: None,
        user_key: None,
        tags: vec![],
        payload: zstd::bulk::compress(json.as_bytes(), 1).expect("compresses"),
        size: json.len(),
    }
}

fn report(event_id: &EventId, name: &str) -> UserReport {
    UserReport {
        event_id: *event_id,
        name: name.into(),
        email: "jane@example.com".into(),
        comments: "it broke".into(),
    }
}

contract!(attachments_and_user_reports);
async fn attachments_and_user_reports(backend: Backend) {
    let (_dir, store) = open(backend).await;
    let boot = store.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let project = boot.project.id;
    let id = |n: u32| EventId::parse(&format!("{n:032x}")).expect("32 hex digits");
    let (stored_id, unknown_id) = (id(1), id(2));
    store
        .store_event(record(project, &stored_id), None)
        .await
        .expect("stores");

    let files = vec![
        NewAttachment {
            name: "log.txt".into(),
            content_type: Some("text/plain".into()),
            attachment_type: "event.attachment".into(),
            data: b"line one\n".to_vec(),
        },
        NewAttachment {
            name: "dump.bin".into(),
            content_type: None,
            attachment_type: "event.minidump".into(),
            data: vec![0, 159, 146, 150],
        },
    ];
    let (kept, reports) = store
        .store_extras(
            project,
            Some(stored_id),
            files.clone(),
            vec![report(&stored_id, "Jane"), report(&unknown_id, "Ghost")],
        )
        .await
        .expect("stores extras");
    assert_eq!((kept, reports), (2, vec![true, false]));
    let (kept, _) = store
        .store_extras(project, Some(unknown_id), files.clone(), vec![])
        .await
        .expect("runs");
    assert_eq!(kept, 0, "attachments of an event that is not stored are not kept");
    assert!(store.attachments(project, &unknown_id).await.expect("lists").is_empty());

    let listed = store.attachments(project, &stored_id).await.expect("lists");
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["log.txt", "dump.bin"], "in the order they arrived");
    assert_eq!(
        (listed[0].size, listed[0].content_type.as_deref()),
        (9, Some("text/plain"))
    );
    assert_eq!(
        (listed[1].attachment_type.as_str(), listed[1].content_type.as_deref()),
        ("event.minidump", None)
    );
    assert_eq!(listed[1].event_id, stored_id);
    let (info, bytes) = store
        .attachment(project, &stored_id, listed[1].id)
        .await
        .expect("reads");
    assert_eq!((info.name.as_str(), bytes), ("dump.bin", vec![0, 159, 146, 150]));
    assert!(is_not_found(
        &store.attachment(project, &stored_id, listed[1].id + 100).await,
        "attachment"
    ));
    assert!(is_not_found(
        &store.attachment(project + 1000, &stored_id, listed[1].id).await,
        "attachment"
    ));

    let event = store.event(project, &stored_id).await.expect("event");
    assert_eq!(event.data["user_report"]["name"], "Jane");
    assert_eq!(event.data["user_report"]["eventID"], stored_id.as_str());
    assert_eq!(event.data["message"], "boom", "the rest of the event is kept");
    let (_, again) = store
        .store_extras(project, None, vec![], vec![report(&stored_id, "Jane Doe")])
        .await
        .expect("stores");
    assert_eq!(again, [true]);
    let event = store.event(project, &stored_id).await.expect("event");
    assert_eq!(
        event.data["user_report"]["name"], "Jane Doe",
        "a later report replaces the first"
    );
    close(store).await;
}

fn outcome(project_id: i64, day: &str, category: &str, outcome: &str, reason: &str, quantity: i64) -> OutcomeRow {
    OutcomeRow {
        project_id,
        day: day.into(),
        category: category.into(),
        outcome: outcome.into(),
        reason: reason.into(),
        quantity,
    }
}

contract!(outcomes);
async fn outcomes(backend: Backend) {
    let (_dir, store) = open(backend).await;
    let boot = store.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let p = boot.project.id;
    let rows = vec![
        outcome(p, "2026-03-02", "error", "accepted", "", 5),
        outcome(p, "2026-03-01", "error", "rate_limited", "key_quota", 2),
        outcome(p, "2026-03-01", "attachment", "accepted", "", 1),
        outcome(p, "2026-03-01", "error", "filtered", "Cors", 1),
        outcome(p, "2026-03-01", "error", "filtered", "browser-extensions", 1),
        outcome(p, "2026-02-28", "error", "accepted", "", 9),
        outcome(p + 1000, "2026-03-01", "error", "accepted", "", 3),
    ];
    store.flush_counts(rows.clone(), vec![]).await.expect("flushes");
    store
        .flush_counts(vec![outcome(p, "2026-03-02", "error", "accepted", "", 2)], vec![])
        .await
        .expect("flushes again");
    let read = store.outcomes(p, "2026-03-01", "2026-03-02").await.expect("reads");
    let got: Vec<(String, String, String, String, i64)> = read
        .into_iter()
        .map(|r| (r.day, r.category, r.outcome, r.reason, r.quantity))
        .collect();
    let row =
        |d: &str, c: &str, o: &str, r: &str, q: i64| (d.to_string(), c.to_string(), o.to_string(), r.to_string(), q);
    assert_eq!(
        got,
        [
            row("2026-03-01", "attachment", "accepted", "", 1),
            row("2026-03-01", "error", "filtered", "Cors", 1),
            row("2026-03-01", "error", "filtered", "browser-extensions", 1),
            row("2026-03-01", "error", "rate_limited", "key_quota", 2),
            row("2026-03-02", "error", "accepted", "", 7),
        ],
        "by day, category, outcome, reason (bytewise), the range inclusive, quantities added"
    );
    assert!(
        store
            .outcomes(p, "2026-04-01", "2026-04-30")
            .await
            .expect("reads")
            .is_empty()
    );
    assert!(
        store
            .outcomes(p + 1000, "2026-01-01", "2026-12-31")
            .await
            .expect("reads")
            .is_empty(),
        "no rows for a project that does not exist"
    );
    close(store).await;
}

/// Waits (bounded) until `check` holds, polling; panics with `what` past the bound.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < BOUND, "{what}: not within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_on_one_node_moves_every_other_nodes_generation() {
    let url = PgCluster::shared().fresh_database().await;
    let a = node(&url).await;
    let boot = a.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let b = node(&url).await;
    // B listens from its start; wait until its listener is connected (its first bump).
    eventually("node b listens", || {
        let b = b.clone();
        async move { b.generation() > 1 }
    })
    .await;

    let mut changes = 0;
    for step in ["key", "settings", "new key", "delete key"] {
        let before = b.generation();
        match step {
            "key" => {
                a.update_key(
                    boot.project.id,
                    &boot.key.public_key,
                    KeyChange {
                        is_active: Some(false),
                        ..KeyChange::default()
                    },
                )
                .await
                .expect("updates");
            }
            "settings" => {
                a.update_project(
                    boot.project.id,
                    ProjectChange {
                        settings: Some(json!({"scrubbing": {"scrub_defaults": false}})),
                        ..ProjectChange::default()
                    },
                )
                .await
                .expect("updates");
            }
            "new key" => {
                a.create_key(boot.project.id, "extra").await.expect("creates");
            }
            _ => {
                let keys = a.keys(boot.project.id).await.expect("keys");
                a.delete_key(boot.project.id, &keys[1].public_key)
                    .await
                    .expect("deletes");
            }
        }
        changes += 1;
        eventually(&format!("node b hears of the {step} change"), || {
            let b = b.clone();
            async move { b.generation() > before }
        })
        .await;
    }
    assert_eq!(changes, 4);
    let key = b
        .key_by_public(&boot.key.public_key)
        .await
        .expect("lookup")
        .expect("found");
    assert!(!key.is_active, "what node b reads after the bump is the change");
    assert_eq!(
        b.project_by_id(boot.project.id).await.expect("reads").settings,
        json!({"scrubbing": {"scrub_defaults": false}})
    );

    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_listening_connection_is_cut_listens_again() {
    let url = PgCluster::shared().fresh_database().await;
    let a = node(&url).await;
    let boot = a.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let b = node(&url).await;
    let admin = {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        client
    };
    // The process ids of the listening sessions on this database.
    let listeners = || async {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
                &[&errata::store::postgres::config_watch::APPLICATION_NAME],
            )
            .await
            .expect("lists");
        rows.iter()
            .map(|r| r.get::<_, i32>(0))
            .collect::<std::collections::BTreeSet<i32>>()
    };
    eventually("both nodes listen", || async { listeners().await.len() == 2 }).await;
    let first = listeners().await;

    for pid in &first {
        let cut: bool = admin
            .query_one("SELECT pg_terminate_backend($1)", &[pid])
            .await
            .expect("terminates")
            .get(0);
        assert!(cut, "session {pid} ended");
    }
    // Both listen again by themselves, on new sessions; then a change on A still reaches B.
    eventually("both nodes listen again", || async {
        let now = listeners().await;
        now.len() == 2 && now.is_disjoint(&first)
    })
    .await;
    let before = b.generation();
    a.update_key(
        boot.project.id,
        &boot.key.public_key,
        KeyChange {
            label: Some("after the cut".into()),
            ..KeyChange::default()
        },
    )
    .await
    .expect("updates");
    eventually("node b hears of the change", || {
        let b = b.clone();
        async move { b.generation() > before }
    })
    .await;
    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_taking_one_slug_at_once_give_one_project_and_a_conflict() {
    let url = PgCluster::shared().fresh_database().await;
    let a = node(&url).await;
    let boot = a.bootstrap_if_empty().await.expect("bootstraps").expect("empty");
    let b = node(&url).await;
    let org = boot.organization.id;
    for round in 0..20 {
        // Created at once on both nodes: one wins, the other is told the slug is taken.
        let slug = format!("race-{round}");
        let (ra, rb) = tokio::join!(
            a.create_project(new_project(org, &slug)),
            b.create_project(new_project(org, &slug))
        );
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} {rb:?}");
        let lost = if ra.is_ok() { rb } else { ra };
        assert_eq!(
            conflict_text(lost),
            format!("a project with the slug \"{slug}\" already exists")
        );

        // Two projects renamed to one new slug at once: one rename holds, the other conflicts.
        let (one, _) = a
            .create_project(new_project(org, &format!("one-{round}")))
            .await
            .expect("creates");
        let (two, _) = b
            .create_project(new_project(org, &format!("two-{round}")))
            .await
            .expect("creates");
        let target = format!("renamed-{round}");
        let rename = |slug: &str| ProjectChange {
            slug: Some(slug.to_string()),
            ..ProjectChange::default()
        };
        let (ra, rb) = tokio::join!(
            a.update_project(one.id, rename(&target)),
            b.update_project(two.id, rename(&target))
        );
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} {rb:?}");
        let lost = if ra.is_ok() { rb } else { ra };
        assert_eq!(
            conflict_text(lost),
            format!("a project with the slug \"{target}\" already exists")
        );
    }
    let slugs: Vec<String> = a
        .projects(Some(org))
        .await
        .expect("projects")
        .into_iter()
        .map(|p| p.slug)
        .collect();
    let unique: std::collections::BTreeSet<&String> = slugs.iter().collect();
    assert_eq!(unique.len(), slugs.len(), "no slug twice: {slugs:?}");
    close(a).await;
    close(b).await;
}
