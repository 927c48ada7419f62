//! Retention and the size cap through `Store`, with the same rows and the same assertions on
//! both backends (SQLite in a temporary file, PostgreSQL in a throwaway cluster:
//! tests/support/pg.rs), plus what only PostgreSQL has: the lock that lets one node at a
//! time run a pass, and `backup` pointing at pg_dump.

#[path = "support/pg.rs"]
mod pg;

use std::path::PathBuf;
use std::time::Duration;

use errata::store::{IssueStep, Location, Store, StoreError, StoreOptions};
use pg::PgCluster;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A store over a fresh database, and a side door to seed and inspect its rows with SQL
/// both backends understand.
struct Fixture {
    backend: Backend,
    store: Store,
    sqlite: Option<(tempfile::TempDir, PathBuf)>,
    url: String,
}

impl Fixture {
    async fn new(backend: Backend) -> Fixture {
        let opts = StoreOptions::default();
        let fixture = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("errata.sqlite3");
                let store = Store::open_sqlite(&path, opts).expect("opens");
                Fixture {
                    backend,
                    store,
                    sqlite: Some((dir, path)),
                    url: String::new(),
                }
            }
            Backend::Postgres => {
                let url = PgCluster::shared().fresh_database().await;
                let store = Store::connect(&Location::Postgres(url.clone()), opts)
                    .await
                    .expect("opens");
                Fixture {
                    backend,
                    store,
                    sqlite: None,
                    url,
                }
            }
        };
        fixture
            .exec(
                "INSERT INTO organizations (id, slug, name, date_created) VALUES (1, 'o', 'o', 0);
                 INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES (1, 1, 'p', 'p', 0)",
            )
            .await;
        fixture
    }

    async fn exec(&self, sql: &str) {
        match &self.sqlite {
            Some((_, path)) => rusqlite::Connection::open(path)
                .expect("opens")
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            None => pg_client(&self.url)
                .await
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// The first column of every row, as integers.
    async fn ints(&self, sql: &str) -> Vec<i64> {
        match &self.sqlite {
            Some((_, path)) => {
                let conn = rusqlite::Connection::open(path).expect("opens");
                let mut statement = conn.prepare(sql).expect(sql);
                statement
                    .query_map([], |r| r.get(0))
                    .expect(sql)
                    .collect::<Result<_, _>>()
                    .expect(sql)
            }
            None => pg_client(&self.url)
                .await
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }

    async fn count(&self, table: &str) -> i64 {
        self.ints(&format!("SELECT count(*) FROM {table}")).await[0]
    }

    /// `n` random (incompressible) bytes, as an SQL expression.
    fn random_blob(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => format!("randomblob({n})"),
            Backend::Postgres => format!(
                "(SELECT decode(string_agg(md5(random()::text || g::text), ''), 'hex') FROM generate_series(1, {}) g)",
                n.div_ceil(16)
            ),
        }
    }

    /// Event id number `n` (32 hex digits) as an SQL expression of the stored 16 bytes.
    fn event_id(&self, n: i64) -> String {
        match self.backend {
            Backend::Sqlite => format!("unhex('{n:032x}')"),
            Backend::Postgres => format!("'{n:032x}'::uuid"),
        }
    }

    async fn add_issue(&self, id: i64, times_seen: i64, last_seen: i64) {
        self.exec(&format!(
            "INSERT INTO issues (id, project_id, short_id, title, level, type, first_seen, last_seen, times_seen, grouping_config) \
             VALUES ({id}, 1, {id}, 't', 'error', 'error', 0, {last_seen}, {times_seen}, 'g')"
        ))
        .await;
    }

    /// Adds an event of `issue` received at `received` with a payload of `bytes`; returns its row id.
    async fn add_event(&self, issue: i64, n: i64, received: i64, bytes: usize) -> i64 {
        let blob = self.random_blob(bytes);
        let event_id = self.event_id(n);
        let ids = self
            .ints(&format!(
                "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, grouping_config, size, payload) \
                 VALUES (1, {issue}, {event_id}, {received}, {received}, 'error', 'h', 'g', 1, {blob}) RETURNING id"
            ))
            .await;
        ids[0]
    }

    async fn event_ids(&self, issue: i64) -> Vec<i64> {
        self.ints(&format!("SELECT id FROM events WHERE issue_id = {issue} ORDER BY id"))
            .await
    }

    async fn fill_side_tables(&self, issue: i64, old: i64, rows: i64) {
        for n in 0..rows {
            self.exec(&format!(
                "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES ({issue}, 'k', 'v{n}', 1, {old}, {old});
                 INSERT INTO issue_hourly (issue_id, hour, count) VALUES ({issue}, {}, 1);
                 INSERT INTO outcomes (project_id, day, category, outcome, reason, quantity) VALUES (1, '2001-01-01', 'error', 'accepted', 'r{n}', 1);
                 INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) VALUES (1, {}, '', '', 'c', {old})",
                old / 3_600_000_000 - n - 1,
                self.event_id(n)
            ))
            .await;
        }
    }

    async fn close(self) {
        let store = self.store.clone();
        tokio::time::timeout(BOUND, tokio::task::spawn_blocking(move || store.shutdown()))
            .await
            .expect("closes in time")
            .expect("shutdown ran");
    }
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects to the test cluster");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_events_go_in_batches_newer_ones_stay_and_counts_are_lifetime_counts() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        f.add_issue(1, 10, 0).await;
        for n in 0..10 {
            f.add_event(1, n, if n < 7 { 100 } else { 1_000 }, 1).await;
        }
        let s = &f.store;
        assert_eq!(s.delete_expired(500, 4).await.expect("step"), 4, "{backend:?}");
        assert_eq!(s.delete_expired(500, 4).await.expect("step"), 3, "{backend:?}");
        assert_eq!(s.delete_expired(500, 4).await.expect("step"), 0, "{backend:?}");
        assert_eq!(f.event_ids(1).await.len(), 3, "{backend:?}");
        let times_seen = f.ints("SELECT times_seen FROM issues WHERE id = 1").await;
        assert_eq!(
            times_seen,
            vec![10],
            "{backend:?}: deleting events keeps the issue's counts"
        );
        f.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_cap_keeps_the_same_first_latest_and_even_sample_on_both_backends() {
    let mut kept_positions = Vec::new();
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        f.add_issue(1, 100, 0).await;
        f.add_issue(2, 5, 0).await;
        let mut ids = Vec::new();
        for n in 0..100 {
            ids.push(f.add_event(1, n, 0, 1).await);
        }
        for n in 100..105 {
            f.add_event(2, n, 0, 1).await;
        }
        let s = &f.store;
        assert_eq!(
            s.issues_over_cap(10, 0, 100).await.expect("scan"),
            vec![1],
            "{backend:?}"
        );
        let doomed = s.events_beyond_cap(1, 10, 1000).await.expect("choose");
        assert_eq!(doomed.len(), 90, "{backend:?}");
        assert_eq!(s.delete_events(doomed).await.expect("delete"), 90, "{backend:?}");
        let kept = f.event_ids(1).await;
        assert_eq!(kept.len(), 10, "{backend:?}");
        assert_eq!(kept[0], ids[0], "{backend:?}: the first event stays");
        assert_eq!(&kept[5..], &ids[95..], "{backend:?}: the latest five stay");
        kept_positions.push(
            kept.iter()
                .map(|k| ids.iter().position(|i| i == k).expect("a kept id was ours"))
                .collect::<Vec<_>>(),
        );
        assert!(
            s.issues_over_cap(10, 0, 100).await.expect("scan").is_empty(),
            "{backend:?}"
        );
        assert!(
            s.events_beyond_cap(1, 10, 1000).await.expect("choose").is_empty(),
            "{backend:?}: stable once trimmed"
        );
        assert_eq!(
            f.event_ids(2).await.len(),
            5,
            "{backend:?}: issues under the cap are untouched"
        );
        assert_eq!(f.ints("SELECT times_seen FROM issues WHERE id = 1").await, vec![100]);
        f.close().await;
    }
    assert_eq!(
        kept_positions[0], kept_positions[1],
        "both backends keep the same events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_expires_and_a_report_goes_with_its_event() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        let old = 1_000_000_000_000_000; // 2001, µs
        let cutoff = old + 1;
        f.add_issue(1, 1, 0).await; // old, but it still has an event
        f.add_issue(2, 1, 0).await; // old and empty: goes
        f.add_issue(3, 1, cutoff + 10).await;
        f.add_event(1, 9999, cutoff + 5, 1).await;
        f.fill_side_tables(1, old, 5).await;
        f.exec(&format!(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (3, 'k', 'young', 1, 0, {});
             INSERT INTO user_reports (project_id, event_id, name, email, comments, date_created) VALUES (1, {}, '', '', 'c', {})",
            cutoff + 10,
            f.event_id(9999),
            cutoff + 5
        ))
        .await;
        let s = &f.store;
        assert_eq!(
            s.expire_other(cutoff, "2001-01-02", 100)
                .await
                .expect("reports and outcomes"),
            5 + 5,
            "{backend:?}"
        );
        let mut after = 0;
        let mut deleted = 0;
        while let IssueStep {
            last: Some(last),
            deleted: d,
        } = s.expire_issue_data(after, 1, cutoff).await.expect("issues")
        {
            after = last;
            deleted += d;
        }
        assert_eq!(
            deleted,
            5 + 5 + 1,
            "{backend:?}: old tags, old hours and the empty old issue"
        );
        assert_eq!(
            f.ints("SELECT id FROM issues ORDER BY id").await,
            vec![1, 3],
            "{backend:?}"
        );
        assert_eq!(f.count("issue_tags").await, 1, "{backend:?}");
        assert_eq!(f.count("outcomes").await, 0, "{backend:?}");
        assert_eq!(f.count("user_reports").await, 1, "{backend:?}");
        assert_eq!(
            s.delete_expired(cutoff + 6, 10).await.expect("events"),
            1,
            "{backend:?}"
        );
        assert_eq!(
            f.count("user_reports").await,
            0,
            "{backend:?}: a report goes with its event"
        );
        f.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_reaches_every_table_and_stops_when_nothing_is_left() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        f.add_issue(1, 1, 0).await;
        f.add_event(1, 1, 0, 1).await;
        f.fill_side_tables(1, 1_000_000_000_000_000, 7).await;
        let mut steps = 0;
        while f.store.shrink_step(3).await.expect("step") > 0 {
            steps += 1;
            assert!(steps < 100, "{backend:?}: the size cap must run out of rows");
        }
        for table in [
            "events",
            "user_reports",
            "outcomes",
            "issue_hourly",
            "issue_tags",
            "issues",
        ] {
            assert_eq!(f.count(table).await, 0, "{backend:?}: {table}");
        }
        assert_eq!(f.store.shrink_step(3).await.expect("empty"), 0, "{backend:?}");
        f.close().await;
    }
}

/// The size cap's measure must fall as rows are deleted, or the cap would delete every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_bytes_follow_the_live_rows_and_reclaiming_ends() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        let s = &f.store;
        let empty = s.used_bytes().await.expect("size");
        f.add_issue(1, 300, 0).await;
        for n in 0..300 {
            f.add_event(1, n, n, 2000).await;
        }
        let full = s.used_bytes().await.expect("size");
        assert!(full - empty > 300 * 2000, "{backend:?}: {empty} -> {full}");
        while s.delete_expired(200, 100).await.expect("delete") > 0 {}
        assert_eq!(f.count("events").await, 100, "{backend:?}");
        let after = s.used_bytes().await.expect("size");
        assert!(after < full / 2, "{backend:?}: {full} -> {after}");
        let mut steps = 0;
        while s.reclaim_step().await.expect("reclaim") > 0 {
            steps += 1;
            assert!(steps < 10_000, "{backend:?}: reclaiming must end");
        }
        f.close().await;
    }
}

async fn pg_store(url: &str) -> Store {
    Store::connect(&Location::Postgres(url.into()), StoreOptions::default())
        .await
        .expect("opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_at_a_time_runs_the_retention_pass() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (pg_store(&url).await, pg_store(&url).await);

    let held = a
        .try_lock_housekeeping()
        .await
        .expect("asks")
        .expect("the first node gets the pass");
    assert!(
        b.try_lock_housekeeping().await.expect("asks").is_none(),
        "the second node is skipped while the first runs its pass"
    );
    assert!(
        a.try_lock_housekeeping().await.expect("asks").is_none(),
        "another connection of the same node is skipped too"
    );
    held.release().await;
    let second = b
        .try_lock_housekeeping()
        .await
        .expect("asks")
        .expect("released: the second node's turn");

    // A pass cancelled without releasing (the task aborted at shutdown) must not keep the
    // lock on a pooled connection: its connection is closed, which ends the lock.
    drop(second);
    let deadline = tokio::time::Instant::now() + BOUND;
    let third = loop {
        if let Some(lock) = a.try_lock_housekeeping().await.expect("asks") {
            break lock;
        }
        assert!(tokio::time::Instant::now() < deadline, "a dropped lock was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    third.release().await;
    // Connections handed back to the pool carry no lock: every one of them can take it.
    for _ in 0..4 {
        let lock = b.try_lock_housekeeping().await.expect("asks").expect("free");
        lock.release().await;
    }
    for store in [a, b] {
        tokio::task::spawn_blocking(move || store.shutdown())
            .await
            .expect("closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_postgres_is_refused_with_a_pointer_to_pg_dump() {
    let url = PgCluster::shared().fresh_database().await;
    let store = pg_store(&url).await;
    let dir = tempfile::tempdir().expect("temp dir");
    match store.backup(&dir.path().join("copy.sqlite3")).await {
        Err(StoreError::Conflict(message)) => assert!(message.contains("pg_dump"), "{message}"),
        other => panic!("expected a refusal naming pg_dump, got {other:?}"),
    }
    assert!(!dir.path().join("copy.sqlite3").exists());
    tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .expect("closes");

    // The command line says the same and fails.
    let pg_url = PgCluster::shared().postgres_url(url.rsplit("dbname=").next().expect("a database name"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(["--database-url", &pg_url, "backup"])
        .arg(dir.path().join("copy.sqlite3"))
        .env_remove("ERRATA_CONFIG")
        .output()
        .expect("runs errata");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "backup on PostgreSQL must fail: {stderr}");
    assert!(stderr.contains("pg_dump"), "{stderr}");
}

/// Past 20,000 rows a table is measured from a sample: close to the exact figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_bytes_of_a_large_table_come_from_a_sample_close_to_the_exact_sum() {
    let f = Fixture::new(Backend::Postgres).await;
    f.add_issue(1, 30_000, 0).await;
    f.exec(
        "INSERT INTO events (project_id, issue_id, event_id, timestamp, received, level, primary_hash, grouping_config, size, payload) \
         SELECT 1, 1, lpad(to_hex(g), 32, '0')::uuid, g, g, 'error', 'h', 'g', 1, \
                decode(md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text), 'hex') \
         FROM generate_series(1, 30000) g; ANALYZE events",
    )
    .await;
    let exact = f.ints("SELECT sum(pg_column_size(t.*))::bigint FROM events t").await[0];
    let measured = f.store.used_bytes().await.expect("size");
    let ratio = measured as f64 / exact as f64;
    assert!((0.8..1.25).contains(&ratio), "sampled {measured}, exact {exact}");
    f.close().await;
}
