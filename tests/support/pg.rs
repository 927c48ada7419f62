//! A throwaway PostgreSQL cluster for tests, started from the machine's PostgreSQL server
//! binaries (`initdb`, `pg_ctl`): it listens only on a Unix socket in a temporary directory
//! (no TCP port is taken), runs as an unprivileged user when the tests run as root (the
//! server refuses root), and is stopped and removed at the end.
//!
//! Include it with `#[path = "support/pg.rs"] mod pg;`. `PgCluster::shared()` starts one
//! cluster per test binary; each test takes its own database with `fresh_database`.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where Debian's postgresql-15 package puts the server binaries.
const DEBIAN_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The superuser initdb creates; tests connect as it over the socket (trust authentication).
const SUPERUSER: &str = "errata";
/// The unprivileged user the server runs as when the tests run as root.
const RUN_AS: &str = "nobody";

pub struct PgCluster {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    /// The shared cluster is stopped by its watchdog when the test process exits (statics
    /// are never dropped); an owned one is stopped by `Drop`.
    owned: bool,
    next_db: AtomicUsize,
}

/// The directory holding `initdb` and `pg_ctl`, or a message saying what to install.
fn server_binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("ERRATA_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let debian = Path::new(DEBIAN_BIN);
    if debian.join("initdb").is_file() && debian.join("pg_ctl").is_file() {
        return Ok(debian.to_path_buf());
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return Ok(dir);
        }
    }
    Err(format!(
        "the PostgreSQL tests need the PostgreSQL 15 server binaries (initdb, pg_ctl), found neither in \
         {DEBIAN_BIN} nor on PATH: install the Debian package postgresql-15 \
         (`apt-get install postgresql-15`), or set ERRATA_PG_BIN to the directory holding them"
    ))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of `user`, from the password database.
fn user_ids(user: &str) -> Result<(u32, u32), String> {
    let out = Command::new("id")
        .args(["-u", user])
        .output()
        .map_err(|e| format!("running id: {e}"))?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse::<u32>();
    let out = Command::new("id")
        .args(["-g", user])
        .output()
        .map_err(|e| format!("running id: {e}"))?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse::<u32>();
    match (uid, gid) {
        (Ok(uid), Ok(gid)) => Ok((uid, gid)),
        _ => Err(format!(
            "the tests run as root and PostgreSQL refuses to; they run it as the user {RUN_AS:?}, which does not exist \
             on this machine"
        )),
    }
}

fn run(cluster_cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cluster_cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

impl PgCluster {
    /// The cluster of this test binary, started on first use.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = PgCluster::start_inner(false).unwrap_or_else(|e| panic!("{e}"));
            cluster.watch_parent();
            cluster
        })
    }

    /// A cluster of its own, stopped and removed when dropped.
    pub fn start() -> PgCluster {
        PgCluster::start_inner(true).unwrap_or_else(|e| panic!("{e}"))
    }

    fn start_inner(owned: bool) -> Result<PgCluster, String> {
        let bin = server_binaries()?;
        let run_as = is_root().then(|| RUN_AS.to_string());
        // Short and fixed-depth, so the socket path stays under the 107-byte limit.
        let dir = tempfile::Builder::new()
            .prefix("errata-pg-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating the cluster directory: {e}"))?
            .keep();
        if let Some(user) = &run_as {
            let (uid, gid) = user_ids(user)?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("handing {} to {user}: {e}", dir.display()))?;
        }
        let data = dir.join("data");
        let cluster = PgCluster {
            dir,
            data,
            bin,
            run_as,
            owned,
            next_db: AtomicUsize::new(0),
        };
        cluster.initdb()?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    /// A command running `program` from the server binaries, as the unprivileged user when root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        // The unprivileged user may not be allowed into the directory the tests run from.
        command.current_dir(&self.dir);
        command
    }

    fn initdb(&self) -> Result<(), String> {
        run(
            self.server_command("initdb").arg("-D").arg(&self.data).args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        )
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        // No TCP listener at all: the socket in the cluster's own directory is the only door.
        let options = format!(
            "-c listen_addresses='' -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200",
            self.dir.display()
        );
        run(
            self.server_command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        )
        .map_err(|e| format!("{e}\nserver log:\n{}", self.log()))
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Stops the server when this test process is gone, however it ends (a static is never
    /// dropped; a killed process runs no destructor): a detached shell polls for the test
    /// process, then sends the postmaster SIGQUIT (immediate shutdown) and removes the directory.
    fn watch_parent(&self) {
        let script = r#"
            while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
            pm=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
            [ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null
            n=0; while [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
            rm -rf "$3"
        "#;
        let spawned = Command::new("sh")
            .args(["-c", script, "errata-pg-watch"])
            .arg(std::process::id().to_string())
            .arg(&self.data)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C aimed at the tests does not take it down first.
            .process_group(0)
            .spawn();
        if let Err(e) = spawned {
            eprintln!("cannot start the watchdog of the PostgreSQL test cluster: {e}");
        }
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A connection URL (key=value form) for `dbname` over the Unix socket.
    pub fn url(&self, dbname: &str) -> String {
        format!("host={} user={SUPERUSER} dbname={dbname}", self.dir.display())
    }

    /// The same as a `postgres://` URL, the form a user passes to `--database-url`.
    pub fn postgres_url(&self, dbname: &str) -> String {
        let host = self.dir.display().to_string().replace('/', "%2F");
        format!("postgres://{SUPERUSER}@{host}/{dbname}")
    }

    /// Creates an empty database of its own for one test and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let (client, connection) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}\nserver log:\n{}", self.log()));
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        drop(client);
        let _ = task.await;
        self.url(&name)
    }

    /// Like `fresh_database`, as the `postgres://` URL `--database-url` takes.
    pub async fn fresh_postgres_url(&self) -> String {
        let url = self.fresh_database().await;
        let name = url.rsplit("dbname=").next().unwrap_or_default().to_string();
        self.postgres_url(&name)
    }

    /// Stops the server (`pg_ctl stop -m fast`: clients are disconnected, the data stays),
    /// for tests of a database going away under load; `restart_server` brings it back.
    pub fn stop_server(&self) -> Result<(), String> {
        run(
            self.server_command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "-t", "60", "stop"]),
            "pg_ctl stop",
        )
    }

    /// Starts the server again after `stop_server`, on the same socket and data.
    pub fn restart_server(&self) -> Result<(), String> {
        self.pg_ctl_start()
    }

    fn stop(&self) {
        let _ = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
        }
    }
}
