//! Harness for reliability tests: the real `errata` binary started, signalled and restarted
//! on one data directory, and a load generator that remembers which events got a 200.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;

// Shared with `common` (tests using both compile it twice; the copies never meet).
#[allow(clippy::duplicate_mod)]
#[path = "../common/wait.rs"]
pub mod wait;

#[allow(clippy::duplicate_mod)]
#[path = "pg.rs"]
pub mod pg;

/// Whether this test binary runs its servers on PostgreSQL (see `tests/common`'s `POSTGRES`):
/// then `Errata::start` gives each data directory a database of its own on this binary's
/// throwaway cluster, the same one on every start in that directory.
pub const POSTGRES: bool = same(env!("CARGO_CRATE_NAME").as_bytes(), b"pg_suites");

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The PostgreSQL URL of `data_dir`'s database, and whether it was just created.
pub fn database_for(data_dir: &Path) -> (String, bool) {
    static DATABASES: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(url) = databases.get(data_dir) {
        return (url.clone(), false);
    }
    let cluster = pg::PgCluster::shared();
    let url = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(cluster.fresh_postgres_url());
    databases.insert(data_dir.to_path_buf(), url.clone());
    (url, true)
}

/// What the first start prints once: the DSN's public key and the API token.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub public_key: String,
    pub token: String,
}

/// One run of `errata serve` on `data_dir`; stderr (the logs) goes to `log`.
pub struct Errata {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub credentials: Credentials,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_errata")
}

impl Errata {
    /// Starts the server and waits until it listens; on a fresh directory also reads the
    /// DSN and token it prints. `env` adds or overrides environment variables.
    pub fn start(data_dir: &Path, log: &Path, env: &[(&str, &str)], args: &[&str]) -> Errata {
        if POSTGRES {
            let (url, fresh) = database_for(data_dir);
            let mut env = env.to_vec();
            env.push(("ERRATA_DATABASE_URL", url.as_str()));
            return Errata::start_expecting(data_dir, log, &env, args, fresh);
        }
        // A fresh directory means the DSN and token follow the listening line.
        let fresh = !data_dir.join("errata.sqlite3").exists();
        Errata::start_expecting(data_dir, log, env, args, fresh)
    }

    /// As `start`, told whether the store is new and so prints the DSN and token (a
    /// PostgreSQL database leaves no file in the data directory to tell by).
    pub fn start_expecting(data_dir: &Path, log: &Path, env: &[(&str, &str)], args: &[&str], fresh: bool) -> Errata {
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .args(args)
            .env("ERRATA_DATA_DIR", data_dir)
            .env("ERRATA_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("log file"),
            ));
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start errata");
        let lines = wait::Lines::new(child.stdout.take().expect("stdout"));
        let deadline = std::time::Instant::now() + wait::COMMAND_LIMIT;
        let mut base = None;
        let mut credentials = Credentials::default();
        loop {
            let Some(line) = lines.next_before(deadline, "listening line from errata") else {
                let _ = wait::wait_for(&mut child, wait::COMMAND_LIMIT, "errata");
                panic!(
                    "errata exited before listening; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            };
            let line = line.trim().to_string();
            if let Some(url) = line.strip_prefix("Errata is listening on ") {
                base = Some(url.to_string());
            } else if line.starts_with("http://") && line.contains('@') {
                let rest = line.trim_start_matches("http://");
                credentials.public_key = rest.split('@').next().expect("key").to_string();
            } else if line.starts_with("sntryu_") {
                credentials.token = line.clone();
            }
            let printed_all = !fresh || (!credentials.public_key.is_empty() && !credentials.token.is_empty());
            if base.is_some() && printed_all {
                break;
            }
        }
        // `lines` keeps draining stdout on its thread, so the server never blocks on a full pipe.
        Errata {
            child,
            base: base.expect("listening line"),
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            credentials,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = wait::status_within(
            Command::new("kill").args([format!("-{signal}"), self.pid().to_string()]),
            wait::COMMAND_LIMIT,
        );
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit (bounded: a hung shutdown fails the test).
    pub fn wait(mut self) -> ExitStatus {
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("errata did not exit within 60 s");
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = client()
            .get(format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Errata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        // After SIGKILL only the kernel is left to act; still bounded, never a panic in drop.
        let deadline = std::time::Instant::now() + wait::COMMAND_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .build()
        .expect("client")
}

/// The event id a load thread uses for its `n`th event: unique across threads and runs.
pub fn event_id(run: u32, thread: usize, n: usize) -> String {
    format!("{run:08x}{thread:08x}{n:016x}")
}

/// An envelope holding one event with this id; `padding` bytes of incompressible text
/// make events big enough to fill a small disk.
pub fn envelope(event_id: &str, issue: usize, padding: usize) -> Vec<u8> {
    let filler: String = (0..padding)
        .map(|i| {
            let x = (i as u64 ^ u64::from_str_radix(&event_id[24..], 16).unwrap_or(7))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(17);
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let event = serde_json::json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "extra": {"filler": filler},
        "exception": {"values": [{
            "type": format!("LoadError{}", issue),
            "value": "load test",
            "stacktrace": {"frames": [
                {"function": format!("handler_{issue}"), "module": "app.load", "filename": "app/load.py", "lineno": 10, "in_app": true}
            ]}
        }]}
    });
    let payload = event.to_string();
    let mut out = Vec::new();
    writeln!(out, "{}", serde_json::json!({ "event_id": event_id })).expect("vec write");
    writeln!(out, "{{\"type\":\"event\",\"length\":{}}}", payload.len()).expect("vec write");
    out.extend_from_slice(payload.as_bytes());
    out.push(b'\n');
    out
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Event ids answered 200.
    pub acked: HashSet<String>,
    /// Responses by status code (0 = no response: connection refused or reset).
    pub statuses: BTreeMap<u16, usize>,
    /// 429 and 503 answers without a `Retry-After` header.
    pub missing_retry_after: usize,
    /// 429 answers without `X-Sentry-Rate-Limits`.
    pub missing_rate_limits: usize,
}

impl LoadOutcome {
    pub fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// Client threads posting events until told to stop, each at most `per_thread` events.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicUsize>,
    outcome: Arc<Mutex<LoadOutcome>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(base: &str, public_key: &str, run: u32, threads: usize, per_thread: usize, padding: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked_count = Arc::new(AtomicUsize::new(0));
        let outcome = Arc::new(Mutex::new(LoadOutcome::default()));
        let url = format!("{base}/api/1/envelope/");
        let auth = format!("Sentry sentry_key={public_key}, sentry_version=7, sentry_client=load/1.0");
        let handles = (0..threads)
            .map(|t| {
                let (stop, acked_count, outcome) = (stop.clone(), acked_count.clone(), outcome.clone());
                let (url, auth) = (url.clone(), auth.clone());
                std::thread::spawn(move || {
                    let client = client();
                    let mut refused_in_a_row = 0;
                    for n in 0..per_thread {
                        if stop.load(Ordering::Acquire) || refused_in_a_row >= 20 {
                            break;
                        }
                        let id = event_id(run, t, n);
                        let sent = client
                            .post(&url)
                            .header("X-Sentry-Auth", &auth)
                            .body(envelope(&id, n % 7, padding))
                            .send();
                        let mut out = outcome.lock().expect("outcome lock");
                        match sent {
                            Ok(response) => {
                                refused_in_a_row = 0;
                                let status = response.status().as_u16();
                                *out.statuses.entry(status).or_default() += 1;
                                let headers = response.headers();
                                if (status == 429 || status == 503) && !headers.contains_key("retry-after") {
                                    out.missing_retry_after += 1;
                                }
                                if status == 429 && !headers.contains_key("x-sentry-rate-limits") {
                                    out.missing_rate_limits += 1;
                                }
                                if status == 200 {
                                    let body: Value = response.json().unwrap_or(Value::Null);
                                    assert_eq!(body["id"], Value::String(id.clone()), "answered id");
                                    out.acked.insert(id);
                                    acked_count.fetch_add(1, Ordering::AcqRel);
                                }
                            }
                            Err(_) => {
                                refused_in_a_row += 1;
                                *out.statuses.entry(0).or_default() += 1;
                                drop(out);
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked_count,
            outcome,
            threads: handles,
        }
    }

    pub fn acked(&self) -> usize {
        self.acked_count.load(Ordering::Acquire)
    }

    /// Blocks until at least `n` events were acknowledged (or the load ended).
    pub fn wait_for_acked(&self, n: usize) {
        while self.acked() < n && self.threads.iter().any(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(self.acked() >= n, "only {} events acknowledged", self.acked());
    }

    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits until every thread has sent its events, then collects the outcome.
    pub fn finish_when_done(self) -> LoadOutcome {
        for t in self.threads {
            t.join().expect("load thread");
        }
        Arc::try_unwrap(self.outcome)
            .expect("threads joined")
            .into_inner()
            .expect("outcome lock")
    }

    pub fn finish(self) -> LoadOutcome {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            t.join().expect("load thread");
        }
        Arc::try_unwrap(self.outcome)
            .expect("threads joined")
            .into_inner()
            .expect("outcome lock")
    }
}

/// Event ids in the database, read directly.
pub fn stored_event_ids(database: &Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(database).expect("open database");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let mut statement = conn.prepare("SELECT event_id FROM events").expect("query");
    statement
        .query_map([], |r| r.get::<_, errata::ids::EventId>(0).map(|id| id.to_string()))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("ids")
}

pub fn integrity_check(database: &Path) -> String {
    let conn = rusqlite::Connection::open(database).expect("open database");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity check")
}

/// Compares acknowledged ids with stored ones, prints the figures, and returns how many
/// acknowledged events are missing.
pub fn compare(scenario: &str, outcome: &LoadOutcome, stored: &HashSet<String>) -> usize {
    let missing = outcome.acked.difference(stored).count();
    let extra = stored.difference(&outcome.acked).count();
    eprintln!(
        "[{scenario}] acknowledged {} | stored {} | acknowledged but missing {} | stored without a 200 {} | responses {:?}",
        outcome.acked.len(),
        stored.len(),
        missing,
        extra,
        outcome.statuses
    );
    missing
}
