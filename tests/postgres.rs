//! The PostgreSQL backend against a real, throwaway PostgreSQL cluster (tests/support/pg.rs):
//! migrations under the advisory lock, and the ingest write path through the store
//! interface with several nodes — each node its own `Store` (pool and writer) — writing one
//! database at once.

#[path = "support/pg.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use errata::ids::EventId;
use errata::store::postgres::migrate;
use errata::store::{EventRecord, Location, Store, StoreOptions, Stored};
use pg::PgCluster;

const HOUR: i64 = 3_600_000_000;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(120);

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects to the test cluster");
    tokio::spawn(connection);
    client
}

async fn scalar(url: &str, sql: &str) -> i64 {
    client(url).await.query_one(sql, &[]).await.expect(sql).get(0)
}

/// A node: its own pool and writer on the shared database. Small batches, so that batches
/// of the two nodes interleave.
async fn node(url: &str) -> Store {
    let opts = StoreOptions {
        queue_capacity: 10_000,
        batch_max: 16,
        read_pool_size: 2,
        synchronous_full: false,
    };
    Store::connect(&Location::Postgres(url.into()), opts)
        .await
        .expect("opens")
}

/// Stops a node's writer once its queue is committed (blocking, so off the runtime).
async fn close(store: Store) {
    tokio::time::timeout(BOUND, tokio::task::spawn_blocking(move || store.shutdown()))
        .await
        .expect("the writer drains in time")
        .expect("shutdown ran");
}

/// A database with the schema and the bootstrap project, and its project id.
async fn bootstrapped() -> (String, i64) {
    let url = PgCluster::shared().fresh_database().await;
    let store = node(&url).await;
    let boot = store
        .bootstrap_if_empty()
        .await
        .expect("bootstraps")
        .expect("an empty database is bootstrapped");
    close(store).await;
    (url, boot.project.id)
}

fn record(project_id: i64, event_id: &str, hash: &str, user: Option<&str>, timestamp: i64) -> EventRecord {
    let json = serde_json::json!({"event_id": event_id, "message": "boom"}).to_string();
    EventRecord {
        project_id,
        event_id: EventId::parse(event_id).expect("32 hex digits"),
        hashes: vec![hash.into()],
        grouping_config: "test",
        title: format!("ValueError {hash}"),
        culprit: None,
        location: None,
        metadata: "{}".into(),
        kind: "error",
        platform: "python".into(),
        timestamp,
        received: timestamp,
        level: "error".into(),
        release: Some("r1".into()),
        environment: None,
        trace_id: None,
        user_key: user.map(String::from),
        tags: vec![
            ("level".into(), "error".into()),
            ("user".into(), user.unwrap_or("-").into()),
        ],
        payload: zstd::bulk::compress(json.as_bytes(), 1).expect("compresses"),
        size: json.len(),
    }
}

/// Sends every record to its node at once (one task each) and collects the answers in order.
async fn send_all(sends: Vec<(Store, EventRecord)>) -> Vec<Stored> {
    let tasks: Vec<_> = sends
        .into_iter()
        .map(|(store, r)| tokio::spawn(async move { store.store_event(r, None).await }))
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        let stored = tokio::time::timeout(BOUND, task)
            .await
            .expect("answered in time")
            .expect("task ran")
            .expect("stored");
        out.push(stored);
    }
    out
}

fn event_id(n: usize) -> String {
    format!("{n:032x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_starting_together_apply_the_migrations_once() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (
        errata::store::postgres::pool(&url, 2).expect("pool"),
        errata::store::postgres::pool(&url, 2).expect("pool"),
    );
    let (ra, rb) = tokio::time::timeout(BOUND, async { tokio::join!(migrate::run(&a), migrate::run(&b)) })
        .await
        .expect("both finish");
    let mut applied = [ra.expect("node a migrates"), rb.expect("node b migrates")];
    applied.sort();
    assert_eq!(
        applied,
        [0, migrate::latest_version() as usize],
        "one node applies every migration, the other finds nothing left"
    );
    assert_eq!(
        migrate::current_version(&a).await.expect("reads"),
        migrate::latest_version()
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM errata_schema").await,
        i64::from(migrate::latest_version())
    );
    // A later start has nothing to do.
    assert_eq!(migrate::run(&a).await.expect("migrates"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_starting_node_waits_while_another_holds_the_migration_lock() {
    let url = PgCluster::shared().fresh_database().await;
    let holder = client(&url).await;
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&migrate::MIGRATION_LOCK])
        .await
        .expect("takes the lock");
    let pool = errata::store::postgres::pool(&url, 2).expect("pool");
    let waiting = tokio::spawn(async move { migrate::run(&pool).await });
    // Bounded look for the waiter in pg_locks: it is blocked on the advisory lock, not done.
    let observer = client(&url).await;
    let mut seen_waiting = false;
    for _ in 0..200 {
        let n: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                &[],
            )
            .await
            .expect("reads pg_locks")
            .get(0);
        if n > 0 {
            seen_waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(seen_waiting, "the second node waits for the lock");
    assert!(!waiting.is_finished(), "nothing is applied while the lock is held");
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM pg_tables WHERE tablename = 'issues'").await,
        0
    );
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&migrate::MIGRATION_LOCK])
        .await
        .expect("releases the lock");
    let applied = tokio::time::timeout(BOUND, waiting)
        .await
        .expect("finishes once the lock is free")
        .expect("task ran")
        .expect("migrates");
    assert_eq!(applied, migrate::latest_version() as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_newer_than_this_build_is_refused() {
    let url = PgCluster::shared().fresh_database().await;
    close(node(&url).await).await;
    client(&url)
        .await
        .execute(
            "INSERT INTO errata_schema (version, applied) VALUES ($1, 0)",
            &[&(migrate::latest_version() + 1)],
        )
        .await
        .expect("records a newer version");
    let err = match Store::connect(&Location::Postgres(url.clone()), StoreOptions::default()).await {
        Err(e) => e.to_string(),
        Ok(_) => "opened".into(),
    };
    assert!(err.contains("newer than this Errata understands"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_on_an_empty_database_bootstrap_it_once() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (node(&url).await, node(&url).await);
    let (ra, rb) = tokio::join!(a.bootstrap_if_empty(), b.bootstrap_if_empty());
    let boots: Vec<_> = [ra.expect("a"), rb.expect("b")].into_iter().flatten().collect();
    assert_eq!(boots.len(), 1, "exactly one node bootstraps");
    assert_eq!(scalar(&url, "SELECT count(*) FROM projects").await, 1);
    assert_eq!(scalar(&url, "SELECT count(*) FROM api_tokens").await, 1);
    let key = a
        .key_by_public(&boots[0].key.public_key)
        .await
        .expect("reads")
        .expect("the key is stored");
    assert_eq!(key.project_id, boots[0].project.id);
    assert!(key.is_active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_id_sent_to_two_nodes_is_stored_and_counted_once() {
    let (url, project) = bootstrapped().await;
    let (a, b) = (node(&url).await, node(&url).await);
    const N: usize = 200;
    // Every event goes to both nodes at once; a tenth also twice to the same node.
    let mut sends = Vec::new();
    for n in 0..N {
        let r = record(
            project,
            &event_id(n),
            &format!("h{}", n % 5),
            None,
            100 * HOUR + n as i64,
        );
        sends.push((a.clone(), r.clone()));
        sends.push((b.clone(), r.clone()));
        if n % 10 == 0 {
            sends.push((a.clone(), r));
        }
    }
    let ids: Vec<String> = sends.iter().map(|(_, r)| r.event_id.to_string()).collect();
    let stored = send_all(sends).await;

    let mut by_id: HashMap<&str, Vec<Stored>> = HashMap::new();
    for (id, s) in ids.iter().zip(&stored) {
        by_id.entry(id.as_str()).or_default().push(*s);
    }
    for (id, answers) in &by_id {
        assert_eq!(
            answers.iter().filter(|s| !s.duplicate).count(),
            1,
            "event {id}: stored by exactly one node, acknowledged by all"
        );
        assert!(
            answers.iter().all(|s| s.issue_id == answers[0].issue_id),
            "event {id}: every answer names the same issue"
        );
    }
    assert_eq!(scalar(&url, "SELECT count(*) FROM events").await, N as i64);
    assert_eq!(scalar(&url, "SELECT count(*) FROM issues").await, 5);
    assert_eq!(
        scalar(&url, "SELECT sum(times_seen)::bigint FROM issues").await,
        N as i64
    );
    assert_eq!(
        scalar(&url, "SELECT sum(count)::bigint FROM issue_hourly").await,
        N as i64
    );
    assert_eq!(
        scalar(
            &url,
            "SELECT sum(times_seen)::bigint FROM issue_tags WHERE key = 'level'"
        )
        .await,
        N as i64
    );
    // The payload reads back as stored.
    let event = a
        .event(project, &EventId::parse(&event_id(7)).expect("32 hex digits"))
        .await
        .expect("reads");
    assert_eq!(event.data["event_id"], event_id(7));
    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_fingerprint_seen_by_two_nodes_at_once_opens_one_issue() {
    let (url, project) = bootstrapped().await;
    let (a, b) = (node(&url).await, node(&url).await);
    const FINGERPRINTS: usize = 40;
    const PER_NODE: usize = 3;
    // Each new fingerprint arrives on both nodes at once, in distinct events.
    let mut sends = Vec::new();
    let mut n = 0;
    for f in 0..FINGERPRINTS {
        for _ in 0..PER_NODE {
            for store in [&a, &b] {
                sends.push((
                    store.clone(),
                    record(project, &event_id(n), &format!("fp{f}"), None, 200 * HOUR),
                ));
                n += 1;
            }
        }
    }
    let hashes: Vec<String> = sends.iter().map(|(_, r)| r.hashes[0].clone()).collect();
    let stored = send_all(sends).await;
    assert!(stored.iter().all(|s| !s.duplicate));

    let mut issue_of: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    for (hash, s) in hashes.iter().zip(&stored) {
        issue_of.entry(hash.as_str()).or_default().insert(s.issue_id);
    }
    assert!(
        issue_of.values().all(|issues| issues.len() == 1),
        "every fingerprint maps to one issue: {issue_of:?}"
    );
    assert_eq!(scalar(&url, "SELECT count(*) FROM issues").await, FINGERPRINTS as i64);
    assert_eq!(
        scalar(
            &url,
            &format!("SELECT count(*) FROM issues WHERE times_seen = {}", 2 * PER_NODE)
        )
        .await,
        FINGERPRINTS as i64,
        "each issue counts the events of both nodes"
    );
    // Short ids are handed out once each, with no number lost to the node that lost a race.
    let c = client(&url).await;
    let short_ids: Vec<i64> = c
        .query("SELECT short_id FROM issues ORDER BY short_id", &[])
        .await
        .expect("reads")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(short_ids, (1..=FINGERPRINTS as i64).collect::<Vec<_>>());
    let issue = a.issue(stored[0].issue_id).await.expect("reads");
    assert_eq!(issue.substatus.as_deref(), Some("ongoing"));
    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_user_counts_tags_and_hours_stay_exact_under_concurrent_batches() {
    let (url, project) = bootstrapped().await;
    let (a, b) = (node(&url).await, node(&url).await);
    const N: usize = 600;
    let mut sends = Vec::new();
    let mut expected_times: BTreeMap<String, i64> = BTreeMap::new();
    let mut expected_users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut expected_hours: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut expected_user_tags: BTreeMap<(String, String), i64> = BTreeMap::new();
    for n in 0..N {
        // A spread that is not periodic in the node choice.
        let fingerprint = format!("agg{}", (n * 7) % 3);
        let user = format!("id:{}", (n * 13) % 11);
        let hour = 300 + ((n * 5) % 4) as i64;
        let store = if (n * 31) % 7 < 4 { &a } else { &b };
        sends.push((
            store.clone(),
            record(project, &event_id(n), &fingerprint, Some(&user), hour * HOUR + n as i64),
        ));
        *expected_times.entry(fingerprint.clone()).or_default() += 1;
        expected_users
            .entry(fingerprint.clone())
            .or_default()
            .insert(user.clone());
        *expected_hours.entry((fingerprint.clone(), hour)).or_default() += 1;
        *expected_user_tags.entry((fingerprint, user)).or_default() += 1;
    }
    send_all(sends).await;

    let c = client(&url).await;
    let rows = c
        .query(
            "SELECT h.hash, i.times_seen, i.user_count FROM issues i JOIN issue_hashes h ON h.issue_id = i.id ORDER BY h.hash",
            &[],
        )
        .await
        .expect("reads");
    let times: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let users: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
    assert_eq!(times, expected_times);
    let expected_user_counts: BTreeMap<String, i64> = expected_users
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as i64))
        .collect();
    assert_eq!(users, expected_user_counts);
    let hours: BTreeMap<(String, i64), i64> = c
        .query(
            "SELECT h.hash, q.hour, q.count FROM issue_hourly q JOIN issue_hashes h ON h.issue_id = q.issue_id",
            &[],
        )
        .await
        .expect("reads")
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    assert_eq!(hours, expected_hours);
    let tags: BTreeMap<(String, String), i64> = c
        .query(
            "SELECT h.hash, t.value, t.times_seen FROM issue_tags t JOIN issue_hashes h ON h.issue_id = t.issue_id \
             WHERE t.key = 'user'",
            &[],
        )
        .await
        .expect("reads")
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    assert_eq!(tags, expected_user_tags);
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM issue_users").await,
        expected_users.values().map(|u| u.len() as i64).sum::<i64>()
    );
    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_issue_regresses_on_its_next_event() {
    let (url, project) = bootstrapped().await;
    let store = node(&url).await;
    let first = store
        .store_event(record(project, &event_id(1), "reg", None, 400 * HOUR), None)
        .await
        .expect("stored");
    let issue = store.issue(first.issue_id).await.expect("reads");
    assert_eq!(
        (issue.status.as_str(), issue.substatus.as_deref()),
        ("unresolved", Some("new"))
    );
    client(&url)
        .await
        .execute(
            "UPDATE issues SET status = 'resolved', substatus = NULL WHERE id = $1",
            &[&first.issue_id],
        )
        .await
        .expect("resolves");
    let again = send_all(vec![
        (store.clone(), record(project, &event_id(2), "reg", None, 401 * HOUR)),
        (store.clone(), record(project, &event_id(3), "reg", None, 401 * HOUR)),
    ])
    .await;
    assert!(again.iter().all(|s| s.issue_id == first.issue_id && !s.duplicate));
    let issue = store.issue(first.issue_id).await.expect("reads");
    assert_eq!(
        (issue.status.as_str(), issue.substatus.as_deref(), issue.times_seen),
        ("unresolved", Some("regressed"), 3)
    );
    assert_eq!(issue.last_seen, 401 * HOUR);
    let by_short = store.issue_by_short_id(project, issue.short_id).await.expect("reads");
    assert_eq!(by_short.id, issue.id);
    close(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_postgres_cannot_hold_fails_alone_and_its_batch_is_kept() {
    let (url, project) = bootstrapped().await;
    let store = node(&url).await;
    // PostgreSQL text cannot hold NUL; the event beside it in the batch is unaffected.
    let mut bad = record(project, &event_id(1), "nul", None, 500 * HOUR);
    bad.title = "bad\u{0}title".into();
    let good = record(project, &event_id(2), "fine", None, 500 * HOUR);
    let (bad, good) = tokio::join!(store.store_event(bad, None), store.store_event(good, None));
    assert!(bad.is_err(), "{bad:?}");
    let good = good.expect("the other event is stored");
    assert_eq!(scalar(&url, "SELECT count(*) FROM events").await, 1);
    assert_eq!(store.issue(good.issue_id).await.expect("reads").times_seen, 1);
    close(store).await;
}

#[test]
fn the_cluster_listens_on_a_unix_socket_only() {
    let cluster = PgCluster::shared();
    let socket = cluster.socket_dir().join(".s.PGSQL.5432");
    assert!(socket.exists(), "socket at {}", socket.display());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = cluster.fresh_database().await;
        let c = client(&url).await;
        let listen: String = c.query_one("SHOW listen_addresses", &[]).await.expect("reads").get(0);
        assert_eq!(listen, "");
        // The postgres:// form reaches it too.
        let pool = errata::store::postgres::pool(&cluster.postgres_url("postgres"), 2).expect("pool");
        let one: i32 = pool
            .get()
            .await
            .expect("connects over the socket")
            .query_one("SELECT 1", &[])
            .await
            .expect("queries")
            .get(0);
        assert_eq!(one, 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outcome_and_rate_limited_counts_from_two_nodes_add_up() {
    use errata::store::{LimitedCount, OutcomeRow};
    let (url, project) = bootstrapped().await;
    let (a, b) = (node(&url).await, node(&url).await);
    let known = send_all(vec![(
        a.clone(),
        record(project, &event_id(1), "lim", None, 600 * HOUR),
    )])
    .await[0];
    let outcome = |quantity| OutcomeRow {
        project_id: project,
        day: "2026-12-02".into(),
        category: "error".into(),
        outcome: "rate_limited".into(),
        reason: "key_quota".into(),
        quantity,
    };
    let limited = |count| LimitedCount {
        project_id: project,
        hashes: vec!["unknown-first".into(), "lim".into()],
        hour: 600,
        count,
        last_seen: 600 * HOUR + 9,
    };
    let unknown = LimitedCount {
        project_id: project,
        hashes: vec!["never-seen".into()],
        hour: 600,
        count: 1000,
        last_seen: 600 * HOUR,
    };
    // Twenty flushes per node at once, each with a repeated row the flush must fold.
    let mut tasks = Vec::new();
    for i in 0..20 {
        for store in [&a, &b] {
            let store = store.clone();
            let rows = vec![outcome(i + 1), outcome(1)];
            let counts = vec![limited(i + 1), unknown.clone()];
            tasks.push(tokio::spawn(async move { store.flush_counts(rows, counts).await }));
        }
    }
    for task in tasks {
        tokio::time::timeout(BOUND, task)
            .await
            .expect("in time")
            .expect("ran")
            .expect("flushed");
    }
    // Per node: sum(i + 1 for i in 0..20) + 20 = 230.
    assert_eq!(
        scalar(&url, "SELECT sum(quantity)::bigint FROM outcomes").await,
        2 * 230
    );
    assert_eq!(scalar(&url, "SELECT count(*) FROM outcomes").await, 1);
    let issue = a.issue(known.issue_id).await.expect("reads");
    assert_eq!(issue.times_seen, 1 + 2 * 210, "the stored event and every limited one");
    assert_eq!(issue.last_seen, 600 * HOUR + 9);
    assert_eq!(
        scalar(&url, "SELECT sum(count)::bigint FROM issue_hourly").await,
        1 + 2 * 210
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM issues").await,
        1,
        "unknown hashes open nothing"
    );
    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_issue_writes_one_notification_and_two_nodes_never_claim_it_both() {
    use errata::notify::model::{ChannelKind, Filters, Rule, RuleId, Secret, Trigger};
    use errata::store::NewChannel;

    let (url, project_id) = bootstrapped().await;
    let (a, b) = (node(&url).await, node(&url).await);
    let org = scalar(&url, "SELECT organization_id FROM projects LIMIT 1").await;
    let channel = a
        .create_alert_channel(NewChannel {
            organization_id: org,
            name: "hook".into(),
            kind: ChannelKind::Webhook {
                url: "http://127.0.0.1:9/hook".parse().expect("url"),
                secret: Secret::new("s3cret"),
            },
        })
        .await
        .expect("channel");
    let rule = a
        .create_alert_rule(Rule {
            id: RuleId(0),
            project_id,
            name: "r".into(),
            triggers: vec![Trigger::NewIssue, Trigger::Regression],
            filters: Filters::default(),
            channels: vec![channel.id],
            interval_secs: 60,
            enabled: true,
        })
        .await
        .expect("rule");
    assert_eq!(b.alert_rules(project_id).await.expect("rules"), vec![rule]);

    // One new issue, its event sent to both nodes: one issue, one notification.
    let r = record(project_id, &event_id(1), "h-alert", None, 10 * HOUR);
    send_all(vec![(a.clone(), r.clone()), (b.clone(), r)]).await;
    send_all(vec![(
        a.clone(),
        record(project_id, &event_id(2), "h-alert", None, 10 * HOUR),
    )])
    .await;
    assert_eq!(scalar(&url, "SELECT count(*) FROM notifications").await, 1);
    assert_eq!(a.outbox_depth().await.expect("depth"), 1);

    // Both nodes claim at once: the row goes to exactly one of them.
    let far = i64::MAX / 4;
    let (ca, cb) = tokio::join!(
        a.outbox_claim(far, 10, far + 1, vec![]),
        b.outbox_claim(far, 10, far + 1, vec![])
    );
    let claimed = ca.expect("claims").len() + cb.expect("claims").len();
    assert_eq!(claimed, 1, "claimed by one node only");
    close(a).await;
    close(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_attachments_and_reports_written_as_hex_are_found_by_id_after_the_upgrade() {
    let url = PgCluster::shared().fresh_database().await;
    let pool = errata::store::postgres::pool(&url, 2).expect("pool");
    assert_eq!(migrate::run_to(&pool, 9).await.expect("schema version 9"), 9);
    let ids = [
        "52df9022835246eeb317dbd739ccd059",
        "9F6C2E4B8A1D4C3B9E2F1A0B9C8D7E6F",
        "00000000000000000000000000000001",
    ];
    let db = client(&url).await;
    db.batch_execute(
        "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'org', 'Org', 0);
         INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'shop', 'Shop', 0);
         INSERT INTO issues (id, project_id, short_id, title, level, type, first_seen, last_seen, times_seen, grouping_config)
           VALUES (1, 1, 1, 'boom', 'error', 'default', 0, 0, 3, 'g');",
    )
    .await
    .expect("fills");
    for (n, id) in ids.iter().enumerate() {
        let json = serde_json::json!({"event_id": id.to_lowercase(), "message": format!("event {n}")}).to_string();
        let payload = zstd::bulk::compress(json.as_bytes(), 1).expect("compresses");
        db.execute(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, \
             grouping_config, size, payload) VALUES (1, 1, $1, $2, $2, 'error', 'h', 'g', $3, $4)",
            &[id, &(n as i64), &(json.len() as i64), &payload],
        )
        .await
        .expect("event");
        db.execute(
            "INSERT INTO event_attachments (project_id, event_id, name, attachment_type, size, data, date_created) \
             VALUES (1, $1, $2, 'event.attachment', 1, $3, 0)",
            &[id, &format!("log{n}.txt"), &vec![n as u8]],
        )
        .await
        .expect("attachment");
        db.execute(
            "INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) \
             VALUES (1, $1, $2, '', 'broke', 0)",
            &[id, &format!("reporter {n}")],
        )
        .await
        .expect("report");
    }

    let store = node(&url).await;
    for (n, raw) in ids.iter().enumerate() {
        let id = EventId::parse(raw).expect("an event id");
        let event = store.event(1, &id).await.expect("the event, by its id");
        assert_eq!(event.event_id, id);
        assert_eq!(event.data["message"], format!("event {n}"));
        let found = store.find_event(vec![1], &id).await.expect("finds");
        assert_eq!(found.map(|e| e.id), Some(event.id));
        let attachments = store.attachments(1, &id).await.expect("lists");
        let names: Vec<&str> = attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, [format!("log{n}.txt")]);
        assert_eq!(attachments[0].event_id, id);
        let (_, data) = store.attachment(1, &id, attachments[0].id).await.expect("reads");
        assert_eq!(data, vec![n as u8]);
        let name: String = db
            .query_one(
                "SELECT name FROM user_reports WHERE project_id = 1 AND event_id = $1",
                &[&id],
            )
            .await
            .expect("the report, by its event id")
            .get(0);
        assert_eq!(name, format!("reporter {n}"));
    }
    let types: Vec<String> = db
        .query(
            "SELECT DISTINCT data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'event_id' \
             AND table_name IN ('events', 'event_attachments', 'user_reports')",
            &[],
        )
        .await
        .expect("types")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(types, ["uuid"]);
    // The attachments' foreign key is back: deleting an event takes them, and its report.
    let first = EventId::parse(ids[0]).expect("an event id");
    db.execute("DELETE FROM events WHERE event_id = $1", &[&first])
        .await
        .expect("deletes");
    assert_eq!(scalar(&url, "SELECT count(*) FROM event_attachments").await, 2);
    assert_eq!(scalar(&url, "SELECT count(*) FROM user_reports").await, 2);
    close(store).await;
}
