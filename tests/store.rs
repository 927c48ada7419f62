//! The storage interface's contract, through `Store` alone: what every backend must do
//! the same way. Each test opens a fresh store from `open_store`, so a further backend
//! runs the same tests by opening itself there.

use errata::ids::EventId;
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

/// The event id a test names `e1`, `e2`…: the name's bytes in hex, zero-padded to 32 digits.
fn eid(name: &str) -> EventId {
    EventId::parse(&format!("{:0>32}", hex::encode(name))).expect("a short name")
}

/// An event of project 1 grouped by `hash`, at `hour` (hours since the epoch).
fn record(event_id: &str, hash: &str, hour: i64, release: &str) -> EventRecord {
    let data = json!({"event_id": event_id, "message": "boom", "hashes": [hash]});
    let json = serde_json::to_vec(&data).expect("serializes");
    EventRecord {
        project_id: 1,
        event_id: eid(event_id),
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
        let ids: Vec<EventId> = newest.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [eid("e2"), eid("e1")]);
        assert_eq!(newest[0].data["message"], "boom", "the payload reads back");
        let (previous, next) = store.neighbours(&newest[1]).await.expect("neighbours");
        assert_eq!((previous, next), (None, Some(eid("e2"))));
        let found = store.find_event(vec![1], &eid("e2")).await.expect("lookup");
        assert_eq!(found.map(|e| e.issue_id), Some(first.issue_id));
        assert!(store.find_event(vec![1], &eid("nope")).await.expect("lookup").is_none());

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

/// Event ids as an upgraded SQLite database had them: 32 hex digits, one in upper case.
fn hex_ids_of_version_9() -> Vec<String> {
    vec![
        "52df9022835246eeb317dbd739ccd059".into(),
        "9F6C2E4B8A1D4C3B9E2F1A0B9C8D7E6F".into(),
        "00000000000000000000000000000001".into(),
    ]
}

/// The indexes and triggers of the tables that name an event, to compare before and after.
fn event_table_objects(conn: &rusqlite::Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('index', 'trigger') \
             AND tbl_name IN ('events', 'event_attachments', 'user_reports') ORDER BY name",
        )
        .expect("query");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("objects")
}

#[test]
fn events_attachments_and_reports_written_as_hex_are_found_by_id_after_the_upgrade() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("errata.sqlite3");
    let ids = hex_ids_of_version_9();
    let before = {
        let mut conn = rusqlite::Connection::open(&path).expect("opens");
        conn.pragma_update(None, "foreign_keys", "ON").expect("pragma");
        errata::store::sqlite::migrate::migrations()
            .to_version(&mut conn, 9)
            .expect("schema version 9");
        conn.execute_batch(
            "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'org', 'Org', 0);
             INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'shop', 'Shop', 0);
             INSERT INTO issues (id, project_id, short_id, title, level, type, first_seen, last_seen, times_seen, grouping_config)
               VALUES (1, 1, 1, 'boom', 'error', 'default', 0, 0, 3, 'g');",
        )
        .expect("fills");
        for (n, id) in ids.iter().enumerate() {
            let json = json!({"event_id": id.to_lowercase(), "message": format!("event {n}")}).to_string();
            let payload = zstd::encode_all(json.as_bytes(), 1).expect("compresses");
            conn.execute(
                "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, \
                 grouping_config, size, payload) VALUES (1, 1, ?1, ?2, ?2, 'error', 'h', 'g', ?3, ?4)",
                rusqlite::params![id, n as i64, json.len() as i64, payload],
            )
            .expect("event");
            conn.execute(
                "INSERT INTO event_attachments (project_id, event_id, name, attachment_type, size, data, date_created) \
                 VALUES (1, ?1, ?2, 'event.attachment', 1, ?3, 0)",
                rusqlite::params![id, format!("log{n}.txt"), vec![n as u8]],
            )
            .expect("attachment");
            conn.execute(
                "INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) \
                 VALUES (1, ?1, ?2, '', 'broke', 0)",
                rusqlite::params![id, format!("reporter {n}")],
            )
            .expect("report");
        }
        event_table_objects(&conn)
    };

    let store = Store::open_sqlite(&path, StoreOptions::default()).expect("upgrades");
    runtime().block_on(async {
        for (n, raw) in ids.iter().enumerate() {
            let id = EventId::parse(raw).expect("an event id");
            let event = store.event(1, &id).await.expect("the event, by its id");
            assert_eq!(event.event_id, id);
            assert_eq!(event.data["message"], format!("event {n}"));
            assert_eq!(event.data["event_id"], id.as_str(), "the stored JSON is unchanged");
            let found = store.find_event(vec![1], &id).await.expect("finds");
            assert_eq!(found.map(|e| e.id), Some(event.id));
            let attachments = store.attachments(1, &id).await.expect("lists");
            let names: Vec<&str> = attachments.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, [format!("log{n}.txt")]);
            assert_eq!(attachments[0].event_id, id);
            let (_, data) = store.attachment(1, &id, attachments[0].id).await.expect("reads");
            assert_eq!(data, vec![n as u8]);
        }
        let newest = store
            .issue_events(1, EventOrder::NewestFirst, 10, 0)
            .await
            .expect("events");
        assert_eq!(newest.len(), ids.len());
    });
    store.shutdown();

    let conn = rusqlite::Connection::open(&path).expect("opens");
    for (n, raw) in ids.iter().enumerate() {
        let id = EventId::parse(raw).expect("an event id");
        let name: String = conn
            .query_row(
                "SELECT name FROM user_reports WHERE project_id = 1 AND event_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("the report, by its event id");
        assert_eq!(name, format!("reporter {n}"));
    }
    let kinds: Vec<(String, i64)> = conn
        .query_row(
            "SELECT (SELECT group_concat(DISTINCT typeof(event_id)) FROM events), \
                    (SELECT max(length(event_id)) FROM event_attachments)",
            [],
            |r| Ok(vec![(r.get(0)?, r.get(1)?)]),
        )
        .expect("kinds");
    assert_eq!(kinds, [("blob".to_string(), 16)]);
    assert_eq!(event_table_objects(&conn), before, "every index and trigger is kept");
    let foreign_keys: Vec<(String, String, String)> = conn
        .prepare("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list('event_attachments') ORDER BY seq")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("keys");
    assert_eq!(
        foreign_keys,
        [
            ("events".to_string(), "project_id".to_string(), "project_id".to_string()),
            ("events".to_string(), "event_id".to_string(), "event_id".to_string())
        ]
    );
    let problems: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
        .expect("checks");
    assert_eq!(problems, 0);
    // Deleting an event still takes its attachments and its report with it.
    conn.pragma_update(None, "foreign_keys", "ON").expect("pragma");
    let first = EventId::parse(&ids[0]).expect("an event id");
    conn.execute("DELETE FROM events WHERE event_id = ?1", [first])
        .expect("deletes");
    let left: (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM event_attachments), (SELECT count(*) FROM user_reports)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("counts");
    assert_eq!(left, (2, 2));
}
