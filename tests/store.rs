//! The storage interface's contract, through `Store` alone: what every backend must do
//! the same way. Each test opens a fresh store from `open_store`, so a further backend
//! runs the same tests by opening itself there.

use errata::store::{
    EventOrder, EventRecord, IssueFilter, IssueStatus, KeyChange, NewProject, ProjectChange, StatusChange, Store,
    StoreError, StoreOptions, token_hash,
};
use serde_json::json;

/// A fresh, empty store and what keeps it alive.
fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(&dir.path().join("errata.sqlite3"), StoreOptions::default()).expect("store opens");
    (dir, store)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An event of project 1 grouped by `hash`, at `hour` (hours since the epoch).
fn record(event_id: &str, hash: &str, hour: i64, release: &str) -> EventRecord {
    let data = json!({"event_id": event_id, "message": "boom", "hashes": [hash]});
    let json = serde_json::to_vec(&data).expect("serializes");
    EventRecord {
        project_id: 1,
        event_id: event_id.into(),
        hashes: vec![hash.into()],
        grouping_config: "test",
        title: "ValueError: boom".into(),
        culprit: Some("app.main".into()),
        location: None,
        metadata: "{}".into(),
        kind: "error",
        platform: "python".into(),
        timestamp: hour * 3_600_000_000 + 1,
        received: hour * 3_600_000_000 + 2,
        level: "error".into(),
        release: Some(release.into()),
        environment: Some("production".into()),
        trace_id: None,
        user_key: Some(format!("id:{event_id}")),
        tags: vec![("release".into(), release.into())],
        payload: zstd::encode_all(json.as_slice(), 3).expect("compresses"),
        size: json.len(),
    }
}

fn all_issues() -> IssueFilter {
    IssueFilter {
        limit: 100,
        ..IssueFilter::default()
    }
}

#[test]
fn bootstrap_creates_the_first_organization_project_key_and_token_once() {
    let (_dir, store) = open_store();
    runtime().block_on(async {
        let first = store
            .bootstrap_if_empty()
            .await
            .expect("bootstraps")
            .expect("empty store");
        assert!(store.bootstrap_if_empty().await.expect("runs").is_none());
        assert_eq!(store.organizations().await.expect("orgs").len(), 1);
        let project = store.project_by_id(first.project.id).await.expect("project");
        assert_eq!(project.slug, first.project.slug);
        let key = store.key_by_public(&first.key.public_key).await.expect("key");
        assert_eq!(key.map(|k| k.project_id), Some(project.id));
        let (token, stored) = store
            .token_by_hash(&token_hash(&first.token))
            .await
            .expect("lookup")
            .expect("token found by its hash");
        assert_eq!(stored, token_hash(&first.token));
        assert_eq!(token.scopes, vec!["admin".to_string()]);
    });
    store.shutdown();
}

#[test]
fn projects_keys_and_tokens_change_as_asked() {
    let (_dir, store) = open_store();
    runtime().block_on(async {
        let boot = store
            .bootstrap_if_empty()
            .await
            .expect("bootstraps")
            .expect("empty store");
        let org = boot.organization.id;
        let (project, key) = store
            .create_project(NewProject {
                organization_id: org,
                slug: "shop".into(),
                name: "Shop".into(),
                platform: Some("python".into()),
                key_label: "Default".into(),
            })
            .await
            .expect("creates");
        assert_eq!(key.project_id, project.id);
        let taken = store
            .create_project(NewProject {
                organization_id: org,
                slug: "shop".into(),
                name: "Again".into(),
                platform: None,
                key_label: "Default".into(),
            })
            .await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

        let renamed = store
            .update_project(
                project.id,
                ProjectChange {
                    name: Some("Web shop".into()),
                    settings: Some(json!({"grouping": {"fingerprint_rules": "", "stacktrace_rules": ""}})),
                    ..ProjectChange::default()
                },
            )
            .await
            .expect("updates");
        assert_eq!(renamed.name, "Web shop");
        assert_eq!(renamed.slug, "shop");
        assert!(renamed.settings.get("grouping").is_some());

        let changed = store
            .update_key(
                project.id,
                &key.public_key,
                KeyChange {
                    label: Some("CI".into()),
                    is_active: Some(false),
                    rate_limit: Some(Some((10, 60))),
                    allowed_origins: Some("https://app.example".into()),
                },
            )
            .await
            .expect("key updates");
        assert_eq!(changed.label, "CI");
        assert!(!changed.is_active);
        assert_eq!(
            (changed.rate_limit_count, changed.rate_limit_window),
            (Some(10), Some(60))
        );
        assert_eq!(changed.allowed_origins, "https://app.example");

        let second = store.create_key(project.id, "Second").await.expect("second key");
        assert_eq!(store.keys(project.id).await.expect("keys").len(), 2);
        store
            .delete_key(project.id, &second.public_key)
            .await
            .expect("deletes key");
        assert!(store.key_by_public(&second.public_key).await.expect("lookup").is_none());

        let token = store.create_token("ci", &["read"]).await.expect("token");
        let id = store
            .token_by_hash(&token_hash(&token))
            .await
            .expect("lookup")
            .expect("found")
            .0
            .id;
        store.touch_token(id).await.expect("touch");
        let listed = store.tokens().await.expect("tokens");
        assert!(listed.iter().any(|t| t.id == id && t.last_used.is_some()));
        store.revoke_token(id).await.expect("revokes");
        assert!(
            store
                .token_by_hash(&token_hash(&token))
                .await
                .expect("lookup")
                .is_none()
        );

        let before = store.generation();
        store.delete_project(project.id).await.expect("deletes");
        assert!(store.generation() > before, "caches learn of the change");
        assert!(matches!(
            store.project_by_id(project.id).await,
            Err(StoreError::NotFound(_))
        ));
    });
    store.shutdown();
}

#[test]
fn a_resent_event_is_acknowledged_and_not_counted_twice() {
    let (_dir, store) = open_store();
    runtime().block_on(async {
        store.bootstrap_if_empty().await.expect("bootstraps");
        let first = store
            .store_event(record("e1", "h1", 10, "1.0"), None)
            .await
            .expect("stores");
        let again = store
            .store_event(record("e1", "h1", 10, "1.0"), None)
            .await
            .expect("stores");
        assert!(!first.duplicate);
        assert!(again.duplicate);
        assert_eq!(again.issue_id, first.issue_id);
        let second = store
            .store_event(record("e2", "h1", 11, "1.1"), None)
            .await
            .expect("stores");
        assert_eq!(second.issue_id, first.issue_id);

        let issue = store.issue(first.issue_id).await.expect("issue");
        assert_eq!(issue.times_seen, 2);
        assert_eq!(issue.user_count, 2);
        let counts = store.counts().await.expect("counts");
        assert_eq!((counts.events, counts.issues), (2, 1));

        let newest = store
            .issue_events(first.issue_id, EventOrder::NewestFirst, 10, 0)
            .await
            .expect("events");
        let ids: Vec<&str> = newest.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e2", "e1"]);
        assert_eq!(newest[0].data["message"], "boom", "the payload reads back");
        let (previous, next) = store.neighbours(&newest[1]).await.expect("neighbours");
        assert_eq!((previous, next.as_deref()), (None, Some("e2")));
        let found = store.find_event(vec![1], "e2").await.expect("lookup");
        assert_eq!(found.map(|e| e.issue_id), Some(first.issue_id));
        assert!(store.find_event(vec![1], "nope").await.expect("lookup").is_none());

        let owners = store
            .hash_owners(1, vec!["h1".into(), "unknown".into()])
            .await
            .expect("owners");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners.get("h1"), Some(&first.issue_id));
        let tags = store.issue_tags(first.issue_id).await.expect("tags");
        assert_eq!(tags.iter().filter(|t| t.key == "release").count(), 2);
        let listed = store.issues(all_issues()).await.expect("issues");
        assert_eq!(listed.len(), 1);
    });
    store.shutdown();
}

#[test]
fn resolving_in_the_next_release_records_the_release_last_seen() {
    let (_dir, store) = open_store();
    runtime().block_on(async {
        store.bootstrap_if_empty().await.expect("bootstraps");
        let stored = store
            .store_event(record("e1", "h1", 10, "2.0"), None)
            .await
            .expect("stores");
        store
            .set_status(
                vec![stored.issue_id],
                StatusChange {
                    status: IssueStatus::Resolved,
                    substatus: None,
                    details: json!({"inNextRelease": true}),
                },
            )
            .await
            .expect("resolves");
        let issue = store.issue(stored.issue_id).await.expect("issue");
        assert_eq!(issue.status, IssueStatus::Resolved);
        assert_eq!(issue.status_details["inRelease"], "2.0");
        let missing = store
            .set_status(
                vec![i64::MAX],
                StatusChange {
                    status: IssueStatus::Ignored,
                    substatus: None,
                    details: json!({}),
                },
            )
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    });
    store.shutdown();
}

#[test]
fn merged_issues_unmerge_with_exact_counts() {
    let (_dir, store) = open_store();
    runtime().block_on(async {
        store.bootstrap_if_empty().await.expect("bootstraps");
        let a = store
            .store_event(record("e1", "ha", 10, "1.0"), None)
            .await
            .expect("stores");
        store
            .store_event(record("e2", "ha", 11, "1.0"), None)
            .await
            .expect("stores");
        let b = store
            .store_event(record("e3", "hb", 12, "1.0"), None)
            .await
            .expect("stores");
        assert_ne!(a.issue_id, b.issue_id);

        let parent = store.merge_issues(vec![a.issue_id, b.issue_id]).await.expect("merges");
        assert_eq!(parent, a.issue_id);
        assert_eq!(store.issue(parent).await.expect("issue").times_seen, 3);
        let hashes: Vec<String> = store
            .issue_hashes(parent)
            .await
            .expect("hashes")
            .into_iter()
            .map(|h| h.hash)
            .collect();
        assert_eq!(hashes, ["ha", "hb"]);
        assert_eq!(store.latest_event_per_hash(parent).await.expect("latest").len(), 2);

        fn no_tags(_: &serde_json::Value) -> Vec<(String, String)> {
            Vec::new()
        }
        let unmerged = store
            .unmerge(parent, vec!["hb".into()], no_tags)
            .await
            .expect("unmerges");
        assert_eq!(unmerged.events, 1);
        assert_eq!(store.issue(parent).await.expect("issue").times_seen, 2);
        assert_eq!(store.issue(unmerged.new_issue_id).await.expect("issue").times_seen, 1);
        let all = store.unmerge(parent, vec!["ha".into()], no_tags).await;
        assert!(
            matches!(all, Err(StoreError::Conflict(_))),
            "an issue keeps one hash: {all:?}"
        );

        store.delete_issues(vec![unmerged.new_issue_id]).await.expect("deletes");
        assert_eq!(store.counts().await.expect("counts").events, 2);
    });
    store.shutdown();
}
