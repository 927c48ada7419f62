//! One Errata server on a PostgreSQL database, as one node of several sharing it: started in
//! its own thread and runtime on 127.0.0.1:0 (as tests/common's `spawn_server_with`), except
//! that only the first node on a fresh database bootstraps it, so the credentials are
//! shared: those of the first node's bootstrap.
//!
//! Include it with `#[path = "support/pg_node.rs"] mod pg_node;` beside `support/pg.rs`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use errata::app::Server;
use errata::config::Config;
use errata::store::Bootstrap;

/// Long enough for a server to start on a loaded machine.
const START_LIMIT: Duration = Duration::from_secs(120);

pub struct PgNode {
    pub addr: SocketAddr,
    pub base: String,
    /// What this node created on first start: `Some` for the first node on a fresh database.
    pub bootstrap: Option<Bootstrap>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The `postgres://` form of a test database URL in key=value form (what `fresh_database`
/// answers), the form `database_url` accepts.
pub fn postgres_url(cluster: &super::pg::PgCluster, key_value_url: &str) -> String {
    let dbname = key_value_url
        .split_whitespace()
        .find_map(|part| part.strip_prefix("dbname="))
        .expect("the URL names its database");
    cluster.postgres_url(dbname)
}

impl PgNode {
    /// Starts a node on `database_url` (`postgres://…`); `configure` adjusts its config first.
    pub fn start(database_url: &str, configure: impl FnOnce(&mut Config)) -> PgNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            bind: "127.0.0.1:0".parse().expect("loopback address"),
            database_url: Some(database_url.to_string()),
            ..Config::default()
        };
        configure(&mut config);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let (server, bootstrap) = match Server::start(config, None).await {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                if ready_tx.send(Ok((server.addr, bootstrap))).is_err() {
                    return;
                }
                server
                    .run_until(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("clean shutdown");
            });
        });
        let (addr, bootstrap) = ready_rx
            .recv_timeout(START_LIMIT)
            .expect("the node reports its address")
            .unwrap_or_else(|e| panic!("the node does not start: {e}"));
        PgNode {
            addr,
            base: format!("http://{addr}"),
            bootstrap,
            _dir: dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for PgNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
