//! Test harness: a real Errata server on 127.0.0.1:0 with a temporary database,
//! and small helpers to talk HTTP to it.
#![allow(dead_code)]

pub mod browser;
pub mod receiver;
pub mod sentry_cli;
pub mod smtp;
pub mod wait;

#[allow(clippy::duplicate_mod)]
#[path = "../support/pg.rs"]
pub mod pg;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use errata::app::Server;
use errata::config::Config;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

/// Whether this test binary runs its servers on PostgreSQL: `tests/pg_suites.rs` compiles
/// the HTTP-level suites a second time, and there every `spawn_server*` starts on a fresh
/// database of the binary's throwaway cluster instead of a SQLite file. Decided at compile
/// time from the test binary's name, so `cargo test --release` runs both without any setting.
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

/// Wraps tests about the SQLite file itself (its backup, WAL, permissions, a full disk):
/// `tests/pg_suites.rs` defines its own `crate::common::sqlite_only!` that leaves them out.
/// Call it as `crate::common::sqlite_only! { … }`.
#[allow(unused_macros)]
macro_rules! sqlite_only {
    ($($item:item)*) => { $($item)* };
}
#[allow(unused_imports)]
pub(crate) use sqlite_only;

/// The PostgreSQL database of each data directory a server of this binary runs in, so that
/// `errata_cli` on that directory reaches the same store.
static DATABASES: std::sync::Mutex<std::collections::BTreeMap<PathBuf, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn remember_database(dir: &std::path::Path, url: &str) {
    DATABASES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_path_buf(), url.to_string());
}

fn database_of(dir: &std::path::Path) -> Option<String> {
    DATABASES.lock().unwrap_or_else(|e| e.into_inner()).get(dir).cloned()
}

/// A fresh database on this binary's cluster, as a `postgres://` URL.
fn fresh_postgres_url() -> String {
    let cluster = pg::PgCluster::shared();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(cluster.fresh_postgres_url())
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub public_key: String,
    pub project_id: i64,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub client: Client,
    /// The server's store, for checks and setup the API does not offer; call its async
    /// methods through `block_on`.
    pub store: errata::store::Store,
    /// The PostgreSQL URL of the server's database, when `POSTGRES`.
    pub database_url: Option<String>,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub fn spawn_server() -> TestServer {
    spawn_server_with(|_| {})
}

/// Starts a server in its own thread and runtime; `configure` adjusts the config first.
pub fn spawn_server_with(configure: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        bind: "127.0.0.1:0".parse().expect("loopback address"),
        ..Config::default()
    };
    configure(&mut config);
    // Started here, so a machine without the server binaries fails the test with the
    // message saying what to install.
    let cluster = POSTGRES.then(pg::PgCluster::shared);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = runtime.handle().clone();
        runtime.block_on(async move {
            let mut config = config;
            if let Some(cluster) = cluster {
                config.database_url = Some(cluster.fresh_postgres_url().await);
            }
            let database_url = config.database_url.clone();
            let (server, bootstrap) = Server::start(config, None).await.expect("server starts");
            let bootstrap = bootstrap.expect("a fresh database bootstraps");
            ready_tx
                .send(Ready {
                    addr: server.addr,
                    public_key: bootstrap.key.public_key.clone(),
                    project_id: bootstrap.project.id,
                    token: bootstrap.token.clone(),
                    store: server.state.store.clone(),
                    database_url,
                    runtime: handle,
                })
                .expect("test thread waits");
            server
                .run_until(async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("clean shutdown");
        });
    });
    let ready = ready_rx
        .recv_timeout(wait::COMMAND_LIMIT)
        .expect("server reports its address");
    if let Some(url) = &ready.database_url {
        remember_database(dir.path(), url);
    }
    TestServer {
        addr: ready.addr,
        base: format!("http://{}", ready.addr),
        public_key: ready.public_key,
        project_id: ready.project_id,
        token: ready.token,
        store: ready.store,
        database_url: ready.database_url,
        runtime: ready.runtime,
        dir,
        client: Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client"),
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// What the server thread hands back once it listens.
struct Ready {
    addr: SocketAddr,
    public_key: String,
    project_id: i64,
    token: String,
    store: errata::store::Store,
    database_url: Option<String>,
    runtime: tokio::runtime::Handle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TestServer {
    pub fn dsn(&self) -> String {
        format!("http://{}@{}/{}", self.public_key, self.addr, self.project_id)
    }

    pub fn auth_header(&self) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=test/1.0",
            self.public_key
        )
    }

    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base, self.project_id)
    }

    /// Posts an envelope with `X-Sentry-Auth`.
    pub fn post_envelope(&self, body: impl Into<Vec<u8>>) -> Response {
        self.client
            .post(self.envelope_url())
            .header("X-Sentry-Auth", self.auth_header())
            .body(body.into())
            .send()
            .expect("request")
    }

    /// Posts one event JSON to the store endpoint.
    pub fn post_store(&self, event: &Value) -> Response {
        self.client
            .post(format!("{}/api/{}/store/", self.base, self.project_id))
            .header("X-Sentry-Auth", self.auth_header())
            .header("Content-Type", "application/json")
            .body(event.to_string())
            .send()
            .expect("request")
    }

    /// Sends one event in an envelope and asserts it was accepted; returns its id.
    pub fn send_event(&self, event: &Value) -> String {
        let response = self.post_envelope(envelope_for(event));
        let status = response.status();
        let body: Value = response.json().expect("json body");
        assert_eq!(status, 200, "event rejected: {body}");
        body["id"].as_str().expect("id").to_string()
    }

    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {}", self.token))
    }

    /// GET an API path with the admin token; returns status, headers and JSON.
    pub fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self.api(reqwest::Method::GET, path).send().expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().unwrap_or(Value::Null);
        (status, headers, body)
    }

    pub fn get_ok(&self, path: &str) -> Value {
        let (status, _, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self.api(reqwest::Method::PUT, path).json(body).send().expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    pub fn issues(&self, query: &str) -> Vec<Value> {
        let body = self.get_ok(&format!("/api/0/projects/errata/default/issues/?query={query}"));
        body.as_array().expect("issue list").clone()
    }

    pub fn database_path(&self) -> PathBuf {
        assert!(
            self.database_url.is_none(),
            "a test about the SQLite file runs on SQLite only"
        );
        self.dir.path().join("errata.sqlite3")
    }

    /// Runs a future on the server's runtime (the store's connections live there).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Events stored, whichever the backend.
    pub fn event_count(&self) -> i64 {
        self.block_on(self.store.counts()).expect("counts").events
    }

    /// A direct connection to the server's database, whichever the backend.
    pub fn db(&self) -> Db {
        match &self.database_url {
            None => {
                let conn = rusqlite::Connection::open(self.dir.path().join("errata.sqlite3")).expect("open database");
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .expect("busy timeout");
                Db::Sqlite(conn)
            }
            Some(url) => Db::connect_postgres(url, self.runtime.clone()),
        }
    }
}

/// A value read by `Db::query`.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    pub fn int(&self) -> i64 {
        match self {
            SqlValue::Int(v) => *v,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    pub fn text(&self) -> Option<String> {
        match self {
            SqlValue::Null => None,
            SqlValue::Text(v) => Some(v.clone()),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// An `event_id` column as its 32 hex digits: stored as 16 bytes (a BLOB on SQLite, a
    /// `uuid` on PostgreSQL, which `Db::query` reads as the digits).
    pub fn event_id(&self) -> Option<String> {
        match self {
            SqlValue::Null => None,
            SqlValue::Text(v) => Some(v.clone()),
            SqlValue::Blob(v) => Some(
                errata::ids::EventId::from_bytes(v.as_slice().try_into().expect("an event id is 16 bytes")).to_string(),
            ),
            other => panic!("expected an event id, got {other:?}"),
        }
    }

    pub fn blob(&self) -> Vec<u8> {
        match self {
            SqlValue::Blob(v) => v.clone(),
            other => panic!("expected bytes, got {other:?}"),
        }
    }
}

/// A parameter of `Db::query`.
#[derive(Debug, Clone)]
pub enum Param {
    Int(i64),
    Text(String),
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_string())
    }
}

/// A PostgreSQL error with the server's own message ("db error" alone says nothing).
fn pg_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// SQL straight to the server's database, for checks the API does not expose (aggregates
/// recomputed from stored rows). Write `$1`, `$2`…: PostgreSQL's placeholders, which SQLite
/// also binds by position.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: tokio_postgres::Client,
        runtime: tokio::runtime::Handle,
    },
}

impl Db {
    pub fn connect_postgres(url: &str, runtime: tokio::runtime::Handle) -> Db {
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(connection);
            client
        });
        Db::Postgres { client, runtime }
    }

    pub fn query(&self, sql: &str, params: &[Param]) -> Vec<Vec<SqlValue>> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let columns = stmt.column_count();
                let values: Vec<rusqlite::types::Value> = params
                    .iter()
                    .map(|p| match p {
                        Param::Int(v) => rusqlite::types::Value::Integer(*v),
                        Param::Text(v) => rusqlite::types::Value::Text(v.clone()),
                    })
                    .collect();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(values), |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => SqlValue::Null,
                                    rusqlite::types::ValueRef::Integer(v) => SqlValue::Int(v),
                                    rusqlite::types::ValueRef::Real(v) => SqlValue::Int(v as i64),
                                    rusqlite::types::ValueRef::Text(v) => {
                                        SqlValue::Text(String::from_utf8_lossy(v).into_owned())
                                    }
                                    rusqlite::types::ValueRef::Blob(v) => SqlValue::Blob(v.to_vec()),
                                })
                            })
                            .collect::<Result<Vec<_>, rusqlite::Error>>()
                    })
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.collect::<Result<_, _>>().unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Db::Postgres { client, runtime } => {
                use tokio_postgres::types::{ToSql, Type};
                let boxed: Vec<Box<dyn ToSql + Sync>> = params
                    .iter()
                    .map(|p| -> Box<dyn ToSql + Sync> {
                        match p {
                            Param::Int(v) => Box::new(*v),
                            Param::Text(v) => Box::new(v.clone()),
                        }
                    })
                    .collect();
                let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
                let rows = runtime
                    .block_on(client.query(sql, &refs))
                    .unwrap_or_else(|e| panic!("{sql}: {}", pg_detail(&e)));
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                let ty = row.columns()[i].type_().clone();
                                if ty == Type::INT8 {
                                    row.get::<_, Option<i64>>(i).map_or(SqlValue::Null, SqlValue::Int)
                                } else if ty == Type::INT4 {
                                    row.get::<_, Option<i32>>(i)
                                        .map_or(SqlValue::Null, |v| SqlValue::Int(v.into()))
                                } else if ty == Type::INT2 {
                                    row.get::<_, Option<i16>>(i)
                                        .map_or(SqlValue::Null, |v| SqlValue::Int(v.into()))
                                } else if ty == Type::BOOL {
                                    row.get::<_, Option<bool>>(i)
                                        .map_or(SqlValue::Null, |v| SqlValue::Int(v.into()))
                                } else if ty == Type::UUID {
                                    row.get::<_, Option<uuid::Uuid>>(i)
                                        .map_or(SqlValue::Null, |v| SqlValue::Text(v.simple().to_string()))
                                } else if ty == Type::BYTEA {
                                    row.get::<_, Option<Vec<u8>>>(i).map_or(SqlValue::Null, SqlValue::Blob)
                                } else {
                                    row.get::<_, Option<String>>(i).map_or(SqlValue::Null, SqlValue::Text)
                                }
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// A statement without rows; returns nothing, panics on failure.
    pub fn execute(&self, sql: &str, params: &[Param]) {
        match self {
            Db::Sqlite(_) => {
                self.query(sql, params);
            }
            Db::Postgres { client, runtime } => {
                let boxed: Vec<Box<dyn tokio_postgres::types::ToSql + Sync>> = params
                    .iter()
                    .map(|p| -> Box<dyn tokio_postgres::types::ToSql + Sync> {
                        match p {
                            Param::Int(v) => Box::new(*v),
                            Param::Text(v) => Box::new(v.clone()),
                        }
                    })
                    .collect();
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
                runtime
                    .block_on(client.execute(sql, &refs))
                    .unwrap_or_else(|e| panic!("{sql}: {}", pg_detail(&e)));
            }
        }
    }

    /// The one integer a query returns.
    pub fn scalar(&self, sql: &str, params: &[Param]) -> i64 {
        let rows = self.query(sql, params);
        assert_eq!(rows.len(), 1, "{sql}: one row");
        rows[0][0].int()
    }
}

/// An envelope with one event item, length-prefixed, as the Python SDK writes it.
pub fn envelope_for(event: &Value) -> Vec<u8> {
    let payload = event.to_string();
    let mut out = Vec::new();
    let header = match event.get("event_id") {
        Some(id) => serde_json::json!({ "event_id": id }),
        None => serde_json::json!({}),
    };
    writeln!(out, "{header}").expect("vec write");
    writeln!(out, "{{\"type\":\"event\",\"length\":{}}}", payload.len()).expect("vec write");
    out.extend_from_slice(payload.as_bytes());
    out.push(b'\n');
    out
}

/// A Python-style exception event raised from `function` in `module`.
pub fn exception_event(ty: &str, value: &str, module: &str, function: &str) -> Value {
    serde_json::json!({
        "platform": "python",
        "level": "error",
        "exception": {"values": [{
            "type": ty,
            "value": value,
            "stacktrace": {"frames": [
                {"function": "main", "module": "app.cli", "filename": "app/cli.py", "lineno": 3, "in_app": true},
                {"function": function, "module": module, "filename": "app/x.py", "lineno": 20, "in_app": true}
            ]}
        }]}
    })
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Adds a project with a fixed id and public key (as in the wire captures: project 42).
pub fn add_project_with_key(server: &TestServer, project_id: i64, slug: &str, public_key: &str) {
    let db = server.db();
    db.execute(
        "INSERT INTO projects (id, organization_id, slug, name, date_created) VALUES ($1, 1, $2, $2, 0)",
        &[project_id.into(), slug.into()],
    );
    db.execute(
        "INSERT INTO project_keys (project_id, public_key, secret_key, label, date_created) VALUES ($1, $2, 'secret', 'wire', 0)",
        &[project_id.into(), public_key.into()],
    );
}

/// Replays one recorded SDK request (headers as recorded, body as sent on the wire).
pub fn replay(server: &TestServer, dir: &std::path::Path, stem: &str) -> Option<(u16, Value)> {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{stem}.headers.json"))).expect("headers"))
            .expect("headers json");
    let method = meta["method"].as_str().expect("method");
    let mut url = format!("{}{}", server.base, meta["path"].as_str().expect("path"));
    if let Some(q) = meta["query"].as_str().filter(|q| !q.is_empty()) {
        url = format!("{url}?{q}");
    }
    let wire = dir.join(format!("{stem}.wire"));
    let body = if wire.exists() {
        std::fs::read(wire)
    } else {
        std::fs::read(dir.join(format!("{stem}.body")))
    }
    .expect("body");
    let method: reqwest::Method = method.parse().expect("method");
    if method == reqwest::Method::GET {
        return None;
    }
    let mut request = server.client.request(method, url);
    for pair in meta["headers"].as_array().expect("headers") {
        let (name, value) = (pair[0].as_str().expect("name"), pair[1].as_str().expect("value"));
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        request = request.header(name, value);
    }
    let response = request.body(body).send().expect("replay request");
    let status = response.status().as_u16();
    Some((status, response.json().unwrap_or(Value::Null)))
}

/// The real `errata` binary, started as a user would, on a free port.
pub struct BinaryServer {
    pub child: std::process::Child,
    pub dsn: String,
    pub token: String,
    pub base: String,
    pub dir: tempfile::TempDir,
}

/// A fresh data directory for `errata_cli` and a served binary without a `spawn_server*`:
/// when `POSTGRES`, a fresh database of this binary's cluster goes with it.
pub fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    if POSTGRES {
        remember_database(dir.path(), &fresh_postgres_url());
    }
    dir
}

/// The PostgreSQL URL that goes with a data directory of this binary, if any: what a
/// command started on that directory is given as `ERRATA_DATABASE_URL`.
pub fn database_url_of(dir: &std::path::Path) -> Option<String> {
    database_of(dir)
}

/// Runs an `errata` command on a data directory: (succeeded, stdout, stderr).
pub fn errata_cli(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    errata_cli_with_input(dir, args, None)
}

/// As `errata_cli`, with `input` on the command's standard input (a password).
pub fn errata_cli_with_input(dir: &std::path::Path, args: &[&str], input: Option<&str>) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    command
        .args(args)
        .env("ERRATA_DATA_DIR", dir)
        .env_remove("ERRATA_CONFIG");
    if let Some(url) = database_of(dir) {
        command.env("ERRATA_DATABASE_URL", url);
    }
    let output = wait::output_with_input_within(&mut command, input.map(str::as_bytes), wait::COMMAND_LIMIT);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

impl BinaryServer {
    /// Sends an event in an envelope to the server's DSN; returns its event id.
    pub fn send_event(&self, event: &Value) -> String {
        let rest = self.dsn.trim_start_matches("http://");
        let (key, rest) = rest.split_once('@').expect("dsn key");
        let project = rest.rsplit('/').next().expect("project id");
        let response = Client::new()
            .post(format!("{}/api/{project}/envelope/", self.base))
            .header("X-Sentry-Auth", format!("Sentry sentry_key={key}, sentry_version=7"))
            .body(envelope_for(event))
            .send()
            .expect("send event");
        assert_eq!(response.status(), 200);
        response.json::<Value>().expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Starts `errata serve` on 127.0.0.1:0 in a fresh data directory and reads the DSN and
    /// token it prints on first start.
    pub fn start() -> BinaryServer {
        Self::start_in(tempfile::tempdir().expect("temp dir"), &[])
    }

    pub fn start_in(dir: tempfile::TempDir, extra_env: &[(&str, &str)]) -> BinaryServer {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
        command
            .args(["serve"])
            .env("ERRATA_DATA_DIR", dir.path())
            .env("ERRATA_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        if POSTGRES {
            let url = fresh_postgres_url();
            remember_database(dir.path(), &url);
            command.env("ERRATA_DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("start errata");
        let lines = wait::Lines::new(child.stdout.take().expect("stdout"));
        let deadline = std::time::Instant::now() + wait::COMMAND_LIMIT;
        let (mut dsn, mut token) = (String::new(), String::new());
        while dsn.is_empty() || token.is_empty() {
            let Some(line) = lines.next_before(deadline, "DSN and token from errata") else {
                let status = wait::wait_for(&mut child, wait::COMMAND_LIMIT, "errata");
                panic!("errata exited ({status}) before printing its DSN and token");
            };
            let line = line.trim();
            if line.starts_with("http://") && line.contains('@') {
                dsn = line.to_string();
            } else if line.starts_with("sntryu_") {
                token = line.to_string();
            }
        }
        // `lines` keeps draining stdout on its thread, so the server never blocks on a full pipe.
        let base = {
            let rest = dsn.trim_start_matches("http://");
            let host = rest.split('@').nth(1).expect("host").split('/').next().expect("host");
            format!("http://{host}")
        };
        BinaryServer {
            child,
            dsn,
            token,
            base,
            dir,
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let client = Client::new();
        let response = client
            .get(format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {}", self.token))
            .send()
            .expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().expect("json")
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = wait::status_within(
            std::process::Command::new("kill").args(["-TERM", &pid]),
            wait::COMMAND_LIMIT,
        );
        wait::wait_for(&mut self.child, wait::COMMAND_LIMIT, "errata after SIGTERM")
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        // After SIGKILL only the kernel is left to act; still bounded, but never a panic
        // inside drop.
        let deadline = std::time::Instant::now() + wait::COMMAND_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Installs the SDKs under target/e2e once (scripts/e2e/setup.sh) and returns that directory.
pub fn e2e_deps(part: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Installing from the package registries can be slow, but not endless.
    let status = wait::status_within(
        std::process::Command::new("bash")
            .arg(root.join("scripts/e2e/setup.sh"))
            .arg(part),
        std::time::Duration::from_secs(1200),
    );
    assert!(status.success(), "installing the {part} SDKs failed");
    root.join("target/e2e")
}

/// Runs a command to completion, returning (success, stdout + stderr).
pub fn run_output(command: &mut std::process::Command) -> (bool, String) {
    let output = wait::output_within(command, std::time::Duration::from_secs(300));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Recomputes an issue's aggregates (times seen, users, first/last seen, hourly counts, tag
/// counts) from its stored events and checks the stored ones match, on either backend.
pub fn assert_aggregates_exact(db: &Db, issue_id: i64) {
    use std::collections::{BTreeMap, BTreeSet};
    let rows: Vec<(i64, Option<String>, Vec<u8>)> = db
        .query(
            "SELECT timestamp, user_key, payload FROM events WHERE issue_id = $1",
            &[issue_id.into()],
        )
        .into_iter()
        .map(|r| (r[0].int(), r[1].text(), r[2].blob()))
        .collect();
    assert!(!rows.is_empty(), "issue {issue_id} has events");
    let mut hours: BTreeMap<i64, i64> = BTreeMap::new();
    let mut users: BTreeSet<String> = BTreeSet::new();
    let mut tags: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for (ts, user, payload) in &rows {
        *hours.entry(ts.div_euclid(3_600_000_000)).or_default() += 1;
        users.extend(user.clone());
        let data = errata::store::decode_payload(payload).expect("payload decodes");
        for tag in errata::ingest::process::tag_pairs(&data) {
            let entry = tags.entry(tag).or_insert((0, *ts, *ts));
            entry.0 += 1;
            entry.1 = entry.1.min(*ts);
            entry.2 = entry.2.max(*ts);
        }
    }
    let issue = db.query(
        "SELECT times_seen, user_count, first_seen, last_seen FROM issues WHERE id = $1",
        &[issue_id.into()],
    );
    assert_eq!(issue.len(), 1, "issue {issue_id} exists");
    let issue: Vec<i64> = issue[0].iter().map(SqlValue::int).collect();
    assert_eq!(issue[0], rows.len() as i64, "times_seen of issue {issue_id}");
    assert_eq!(issue[1], users.len() as i64, "user_count of issue {issue_id}");
    assert_eq!(
        issue[2],
        rows.iter().map(|r| r.0).min().unwrap_or_default(),
        "first_seen of issue {issue_id}"
    );
    assert_eq!(
        issue[3],
        rows.iter().map(|r| r.0).max().unwrap_or_default(),
        "last_seen of issue {issue_id}"
    );
    let stored_hours: BTreeMap<i64, i64> = db
        .query(
            "SELECT hour, count FROM issue_hourly WHERE issue_id = $1",
            &[issue_id.into()],
        )
        .into_iter()
        .map(|r| (r[0].int(), r[1].int()))
        .collect();
    assert_eq!(stored_hours, hours, "hourly stats of issue {issue_id}");
    let stored_users: BTreeSet<String> = db
        .query(
            "SELECT user_key FROM issue_users WHERE issue_id = $1",
            &[issue_id.into()],
        )
        .into_iter()
        .filter_map(|r| r[0].text())
        .collect();
    assert_eq!(stored_users, users, "users of issue {issue_id}");
    let stored_tags: BTreeMap<(String, String), (i64, i64, i64)> = db
        .query(
            "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tags WHERE issue_id = $1",
            &[issue_id.into()],
        )
        .into_iter()
        .map(|r| {
            (
                (r[0].text().unwrap_or_default(), r[1].text().unwrap_or_default()),
                (r[2].int(), r[3].int(), r[4].int()),
            )
        })
        .collect();
    assert_eq!(stored_tags, tags, "tags of issue {issue_id}");
}
