//! Errata on PostgreSQL as a team running several nodes meets it: three `errata serve`
//! processes on one database under concurrent load — duplicate event ids sent to different
//! nodes, new fingerprints appearing on several nodes at once, one node SIGKILLed mid-run —
//! must store every acknowledged event exactly once with exact aggregates; and a PostgreSQL
//! restart under load must give 503s with `Retry-After`, lose nothing acknowledged, and be
//! recovered from without help.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::{Db, assert_aggregates_exact, envelope_for, spawn_server_with};
use serde_json::{Value, json};
use support::Errata;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(120);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// The one event a given id stands for (both copies of a duplicate are identical): its
/// fingerprint, user, tag and hour all vary with `n`.
fn load_event(id: &str, n: usize, fingerprints: usize, start: f64) -> Value {
    json!({
        "event_id": id,
        "platform": "python",
        "level": "error",
        "message": format!("checkout failed {}", n % fingerprints),
        "fingerprint": [format!("shared-{}", n % fingerprints)],
        "user": {"id": format!("user-{}", n % 11)},
        "tags": {"shard": format!("s{}", n % 3)},
        "release": format!("shop@1.{}", n % 2),
        "timestamp": start - (n % 4) as f64 * 3600.0,
    })
}

fn post(client: &reqwest::blocking::Client, base: &str, key: &str, body: Vec<u8>) -> Result<(u16, bool), String> {
    client
        .post(format!("{base}/api/1/envelope/"))
        .header("X-Sentry-Auth", format!("Sentry sentry_key={key}, sentry_version=7"))
        .body(body)
        .send()
        .map(|r| (r.status().as_u16(), r.headers().contains_key("retry-after")))
        .map_err(|e| e.to_string())
}

/// The fingerprint a stored payload was grouped by.
fn stored_fingerprint(payload: &[u8]) -> String {
    let data = errata::store::decode_payload(payload).expect("payload decodes");
    data["fingerprint"][0].as_str().expect("fingerprint").to_string()
}

fn logs(dir: &std::path::Path) -> String {
    (0..3)
        .map(|i| std::fs::read_to_string(dir.join(format!("node{i}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[test]
fn three_nodes_one_database_one_sigkilled_store_each_acknowledged_event_once_with_exact_counts() {
    const PAIRS: usize = 3;
    const PER_PAIR: usize = 200;
    const FINGERPRINTS: usize = 24;
    let cluster = PgCluster::shared();
    let rt = runtime();
    let url = rt.block_on(cluster.fresh_postgres_url());
    let scratch = tempfile::tempdir().expect("temp dir");
    let env = [("ERRATA_DATABASE_URL", url.as_str())];

    // The first node bootstraps the organization and project and prints the DSN and token;
    // the others find them and print nothing of the kind.
    let mut nodes: Vec<Option<Errata>> = Vec::new();
    for i in 0..3 {
        let data = scratch.path().join(format!("node{i}"));
        let log = scratch.path().join(format!("node{i}.log"));
        nodes.push(Some(Errata::start_expecting(&data, &log, &env, &[], i == 0)));
    }
    let key = nodes[0]
        .as_ref()
        .map(|n| n.credentials.public_key.clone())
        .unwrap_or_default();
    let token = nodes[0]
        .as_ref()
        .map(|n| n.credentials.token.clone())
        .unwrap_or_default();
    assert!(
        !key.is_empty() && !token.is_empty(),
        "the first node prints the DSN and token"
    );
    let db = Db::connect_postgres(&url, rt.handle().clone());
    assert_eq!(
        db.scalar("SELECT count(*) FROM organizations", &[]),
        1,
        "one organization"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM projects", &[]), 1, "one project");
    assert_eq!(db.scalar("SELECT count(*) FROM project_keys", &[]), 1, "one key");
    let bases: Vec<String> = nodes.iter().flatten().map(|n| n.base.clone()).collect();

    // Two threads per pair walk the same ids at the same time, each sending to another node:
    // every id arrives twice, on two nodes, within moments; and all pairs meet fingerprint k
    // at step k, so each new fingerprint shows up on several nodes at once.
    let start = now_secs();
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for pair in 0..PAIRS {
        for side in 0..2 {
            let (acked, statuses, answered) = (acked.clone(), statuses.clone(), answered.clone());
            let (bases, key) = (bases.clone(), key.clone());
            threads.push(std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                let mut errors = 0;
                for n in 0..PER_PAIR {
                    let id = format!("{pair:08x}{n:024x}");
                    let body = envelope_for(&load_event(&id, n, FINGERPRINTS, start));
                    // An SDK whose node is gone tries the next one (as behind a load balancer).
                    let first = (pair + n + side) % bases.len();
                    for attempt in 0..bases.len() {
                        let base = &bases[(first + attempt) % bases.len()];
                        match post(&client, base, &key, body.clone()) {
                            Ok((status, _)) => {
                                *statuses.lock().expect("statuses").entry(status).or_default() += 1;
                                if status == 200 {
                                    acked.lock().expect("acked").insert(id.clone());
                                }
                                break;
                            }
                            Err(_) => errors += 1,
                        }
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                errors
            }));
        }
    }

    // SIGKILL the third node once a quarter of the load is answered, while the rest runs.
    let total = PAIRS * PER_PAIR * 2;
    let deadline = Instant::now() + BOUND;
    while answered.load(Ordering::Relaxed) < total / 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let at_kill = answered.load(Ordering::Relaxed);
    assert!(
        (total / 4..total).contains(&at_kill),
        "the node is killed mid-run ({at_kill} of {total} answered)"
    );
    if let Some(node) = nodes[2].take() {
        node.signal("KILL");
        killed.store(true, Ordering::Relaxed);
        drop(node);
    }
    let transport_errors: usize = threads.into_iter().map(|t| t.join().expect("load thread")).sum();
    assert!(killed.load(Ordering::Relaxed));

    let statuses = statuses.lock().expect("statuses").clone();
    let acked = acked.lock().expect("acked").clone();
    eprintln!(
        "statuses {statuses:?}, transport errors {transport_errors}, acknowledged ids {}",
        acked.len()
    );
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503 || *s == 429),
        "only 200, or 503/429 to retry: {statuses:?}\n{}",
        logs(scratch.path())
    );
    assert!(
        acked.len() > PAIRS * PER_PAIR / 2,
        "most ids acknowledged: {}",
        acked.len()
    );

    // Every acknowledged id is stored exactly once.
    let stored: Vec<(String, i64, String)> = db
        .query("SELECT event_id, issue_id, payload FROM events", &[])
        .into_iter()
        .map(|r| {
            (
                r[0].event_id().unwrap_or_default(),
                r[1].int(),
                stored_fingerprint(&r[2].blob()),
            )
        })
        .collect();
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (id, _, _) in &stored {
        *copies.entry(id.as_str()).or_default() += 1;
    }
    assert!(copies.values().all(|&n| n == 1), "an event id stored twice");
    let missing: Vec<&String> = acked.iter().filter(|id| !copies.contains_key(id.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");

    // One issue per fingerprint, and each issue's aggregates match its stored events.
    let mut issue_of: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    let mut fingerprints_of: HashMap<i64, BTreeSet<&str>> = HashMap::new();
    for (_, issue, fingerprint) in &stored {
        issue_of.entry(fingerprint.as_str()).or_default().insert(*issue);
        fingerprints_of.entry(*issue).or_default().insert(fingerprint.as_str());
    }
    assert_eq!(issue_of.len(), FINGERPRINTS, "every fingerprint stored");
    for (fingerprint, issues) in &issue_of {
        assert_eq!(issues.len(), 1, "fingerprint {fingerprint} opened {issues:?}");
    }
    assert!(fingerprints_of.values().all(|f| f.len() == 1));
    assert_eq!(
        db.scalar("SELECT count(*) FROM issues", &[]),
        FINGERPRINTS as i64,
        "no issue without events"
    );
    for issue in fingerprints_of.keys() {
        assert_aggregates_exact(&db, *issue);
    }
    // Short ids are handed out once each.
    assert_eq!(
        db.scalar("SELECT count(DISTINCT short_id) FROM issues", &[]),
        FINGERPRINTS as i64
    );

    // The survivors serve what all three stored.
    for node in nodes.iter().flatten() {
        let (status, body) = node.get("/api/0/projects/errata/default/issues/?query=", &token);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.as_array().map(Vec::len), Some(FINGERPRINTS));
    }
}

#[test]
fn a_postgresql_restart_under_load_answers_503_with_retry_after_loses_nothing_and_recovers() {
    // A cluster of its own: this test stops and starts it.
    let cluster = PgCluster::start();
    let rt = runtime();
    let url = rt.block_on(cluster.fresh_postgres_url());
    let server_url = url.clone();
    let server = spawn_server_with(move |c| c.database_url = Some(server_url));
    let (base, key) = (server.base.clone(), server.public_key.clone());
    let project = server.project_id;

    // Three clients send events one after another and note every answer and when it came.
    struct Answer {
        id: String,
        at: Instant,
        outcome: Result<(u16, bool), String>,
    }
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..3)
        .map(|thread| {
            let (answers, stop) = (answers.clone(), stop.clone());
            let (base, key) = (base.clone(), key.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("client");
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("{thread:08x}{:024x}", n + 1);
                    let event = json!({"event_id": id, "message": format!("restart {}", n % 5), "level": "error"});
                    let outcome = client
                        .post(format!("{base}/api/{project}/envelope/"))
                        .header("X-Sentry-Auth", format!("Sentry sentry_key={key}, sentry_version=7"))
                        .body(envelope_for(&event))
                        .send()
                        .map(|r| (r.status().as_u16(), r.headers().contains_key("retry-after")))
                        .map_err(|e| e.to_string());
                    let failed = !matches!(outcome, Ok((200, _)));
                    answers.lock().expect("answers").push(Answer {
                        id,
                        at: Instant::now(),
                        outcome,
                    });
                    n += 1;
                    if failed {
                        // As an SDK honouring Retry-After would, only faster.
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
        })
        .collect();
    let acked_count = |answers: &Mutex<Vec<Answer>>| {
        answers
            .lock()
            .expect("answers")
            .iter()
            .filter(|a| matches!(a.outcome, Ok((200, _))))
            .count()
    };
    let wait_until = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + BOUND;
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_until("events before the restart", &|| acked_count(&answers) >= 50);

    cluster.stop_server().unwrap_or_else(|e| panic!("{e}"));
    let stopped = Instant::now();
    // While the database is away: answers keep coming (503), and the server says it is not ready.
    let before = answers.lock().expect("answers").len();
    wait_until("answers while the database is down", &|| {
        answers.lock().expect("answers").len() >= before + 10
    });
    let (ready, _, _) = server.get("/ready/");
    assert_eq!(ready, 503, "not ready without a database");
    cluster.restart_server().unwrap_or_else(|e| panic!("{e}"));
    let back = Instant::now();
    let acked_at_restart = acked_count(&answers);
    // Bounded by BOUND: resuming needs no restart of Errata and no help from the client.
    wait_until("ingestion to resume by itself", &|| {
        acked_count(&answers) >= acked_at_restart + 50
    });
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().expect("sender");
    }

    let answers = answers.lock().expect("answers");
    let mut during = BTreeMap::<String, usize>::new();
    for a in answers.iter() {
        match &a.outcome {
            Ok((200, _)) => {}
            Ok((503, true)) => *during.entry("503 with Retry-After".into()).or_default() += 1,
            Ok((status, retry_after)) => panic!("answer {status} (Retry-After: {retry_after}) for {}", a.id),
            Err(e) => panic!("no answer for {}: {e}", a.id),
        }
    }
    let refused_while_down = answers
        .iter()
        .filter(|a| a.at > stopped && a.at < back && !matches!(a.outcome, Ok((200, _))))
        .count();
    assert!(refused_while_down > 0, "the outage was seen by the client: {during:?}");
    let first_after = answers
        .iter()
        .filter(|a| a.at > back && matches!(a.outcome, Ok((200, _))))
        .map(|a| a.at)
        .min()
        .expect("an event acknowledged after the restart");
    eprintln!(
        "outage answers {during:?}; first acknowledgement {:?} after the database was back",
        first_after - back
    );
    // Readiness follows within its probe's few seconds of memory.
    wait_until("ready again", &|| server.get("/ready/").0 == 200);

    // Nothing acknowledged is lost.
    let db = Db::connect_postgres(&url, rt.handle().clone());
    let stored: BTreeSet<String> = db
        .query("SELECT event_id FROM events", &[])
        .into_iter()
        .filter_map(|r| r[0].event_id())
        .collect();
    let lost: Vec<&str> = answers
        .iter()
        .filter(|a| matches!(a.outcome, Ok((200, _))) && !stored.contains(&a.id))
        .map(|a| a.id.as_str())
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
}
