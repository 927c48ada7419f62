#!/usr/bin/env python3
"""Ingestion benchmark driver (run through scripts/bench.sh).

For each configuration and run: starts a fresh server (temporary data directory, a free
loopback port, default production settings), takes the DSN it prints, runs the load
generator against it, waits until the database (opened read-only) holds every accepted
event, and samples the server's RSS and CPU from /proc. Prints every run and the median
of the runs per configuration. Traffic goes to 127.0.0.1 only; every step is bounded.

With `--database-url URL --nodes N`, each run instead creates a fresh database on that
PostgreSQL server (with psql; the URL's user must be allowed to create databases), starts
N server processes on it (each its own port), spreads the load generator's connections
over them round-robin, counts stored events with psql, and drops the database afterwards.
CPU and RSS are then the sum and the largest of the nodes.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """(user + system, system) CPU seconds of the process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; index 11 and 12 after the command name.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Samples VmRSS every 250 ms; keeps the peak and the series (to check it stays flat)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.samples.append((time.time(), proc_status_kib(self.pid, "VmRSS")))
            except OSError:
                return
            self.stop.wait(0.25)


def start_server(binary, data_dir, port, log, database_url=None, want_dsn=True):
    """Starts one server; returns it and the DSN it printed (None when `want_dsn` is false:
    a further node on a database that is already bootstrapped prints none)."""
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "info")
    command = [binary, "serve", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}"]
    if database_url:
        command += ["--database-url", database_url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    dsn = None
    deadline = time.time() + 30
    while want_dsn and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"(http://\S+@127\.0\.0\.1:\d+/\d+)", line)
        if m:
            dsn = m.group(1)
            break
    if want_dsn and dsn is None:
        proc.kill()
        raise SystemExit("the server did not print a DSN within 30 s (see the server log)")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, dsn
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not listen within 30 s")


def add_alert_rule(args, data_dir, database_url):
    """An alert rule for every new issue and regression of the default project, through the CLI."""
    command = [args.server, "alert", "create", "default", "--on", "new-issue,regression",
               "--webhook", args.alert_webhook, "--data-dir", data_dir]
    if database_url:
        command += ["--database-url", database_url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SystemExit(f"creating the alert rule failed: {out.stderr.strip()}")


def psql(url, sql):
    """One value from PostgreSQL through the psql client (the standard library has no driver)."""
    out = subprocess.run([PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SystemExit(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def with_dbname(url, name):
    """The URL with its database name replaced (postgres://user@host[:port]/db[?…])."""
    m = re.match(r"^(postgres(?:ql)?://[^/]*)(?:/[^?]*)?(\?.*)?$", url)
    if not m:
        raise SystemExit("--database-url must look like postgres://user@host/db")
    return f"{m.group(1)}/{name}{m.group(2) or ''}"


PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"


def pg_counts(url, project_id):
    events = int(psql(url, f"SELECT count(*) FROM events WHERE project_id = {int(project_id)}"))
    issues = int(psql(url, f"SELECT count(*) FROM issues WHERE project_id = {int(project_id)}"))
    return events, issues


def db_counts(db_path, project_id):
    if db_path.startswith(("postgres://", "postgresql://")):
        return pg_counts(db_path, project_id)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        events = conn.execute("SELECT count(*) FROM events WHERE project_id = ?", (project_id,)).fetchone()[0]
        issues = conn.execute("SELECT count(*) FROM issues WHERE project_id = ?", (project_id,)).fetchone()[0]
        return events, issues
    finally:
        conn.close()


def one_run(args, cfg, run_no):
    data_dir = tempfile.mkdtemp(prefix="errata-bench-")
    database_url = None
    if args.database_url:
        name = f"errata_bench_{os.getpid()}_{run_no}"
        psql(args.database_url, f"CREATE DATABASE {name}")
        database_url = with_dbname(args.database_url, name)
    log_path = os.path.join(data_dir, "server.log")
    servers, dsns = [], []
    with open(log_path, "w") as log:
        try:
            # The first node bootstraps the database and prints the DSN; the others serve
            # the same project and key on their own ports.
            for node in range(args.nodes):
                port = free_port()
                node_dir = os.path.join(data_dir, f"node{node}") if args.nodes > 1 else data_dir
                os.makedirs(node_dir, exist_ok=True)
                server, dsn = start_server(args.server, node_dir, port, log, database_url, want_dsn=node == 0)
                servers.append(server)
                dsns.append(dsn or re.sub(r":\d+/(\d+)$", f":{port}/\\1", dsns[0]))
            server, dsn = servers[0], dsns[0]
            if args.alert_webhook:
                add_alert_rule(args, os.path.join(data_dir, "node0") if args.nodes > 1 else data_dir, database_url)
            project_id = int(dsn.rsplit("/", 1)[1])
            if database_url:
                db_path = database_url
            else:
                db_path = os.path.join(data_dir, "errata.sqlite3")
            if not database_url and not os.path.exists(db_path):
                candidates = [f for f in os.listdir(data_dir) if f.endswith((".db", ".sqlite", ".sqlite3"))]
                db_path = os.path.join(data_dir, candidates[0])
            cpu_before = [proc_cpu_s(s.pid) for s in servers]
            samplers = [RssSampler(s.pid) for s in servers]
            for sampler in samplers:
                sampler.start()
            cmd = [
                args.loadgen, "--dsn", ",".join(dsns), "--concurrency", str(cfg["concurrency"]),
                "--payload", cfg["payload"], "--encoding", cfg["encoding"], "--endpoint", cfg["endpoint"],
                "--distinct", str(cfg["distinct"]), "--seed", str(run_no + 1), "--quiet",
                "--max-time", str(args.max_time),
            ]
            if args.duration:
                cmd += ["--duration", str(args.duration), "--max-events", str(args.events)]
            else:
                cmd += ["--events", str(args.events)]
            gen = subprocess.run(cmd, capture_output=True, text=True, timeout=args.max_time + 60)
            if gen.returncode != 0:
                raise SystemExit(f"loadgen failed: {gen.stderr.strip()}")
            report = json.loads(gen.stdout.strip().splitlines()[-1])
            accepted = report["accepted"]
            # Drain: poll the store until it holds every accepted event (or stops changing).
            stored_at_end, _ = db_counts(db_path, project_id)
            stored, drained_at = stored_at_end, time.time()
            last_change, started = time.time(), time.time()
            while stored < accepted and time.time() - last_change < 30 and time.time() - started < 300:
                time.sleep(0.1)
                now_stored, _ = db_counts(db_path, project_id)
                drained_at = time.time()
                if now_stored != stored:
                    stored, last_change = now_stored, drained_at
            cpu_after = [proc_cpu_s(s.pid) for s in servers]
            cpu_s = sum(a[0] - b[0] for a, b in zip(cpu_after, cpu_before))
            sys_s = sum(a[1] - b[1] for a, b in zip(cpu_after, cpu_before))
            peak_kib = max(proc_status_kib(s.pid, "VmHWM") for s in servers)
            for sampler in samplers:
                sampler.stop.set()
                sampler.join()
            _, issues = db_counts(db_path, project_id)
        finally:
            for s in servers:
                s.send_signal(signal.SIGTERM)
            for s in servers:
                try:
                    s.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    s.kill()
            if database_url and not args.keep:
                psql(args.database_url, f"DROP DATABASE IF EXISTS {name}")
    e2e_s = drained_at - report["start_unix_ms"] / 1000.0
    # The largest node's RSS series.
    sampler = max(samplers, key=lambda x: max((kib for _, kib in x.samples), default=0))
    rss = [kib for _, kib in sampler.samples]
    half = len(rss) // 2
    result = {
        "run": run_no + 1,
        "accepted": accepted,
        "rejected": report["rejected_total"],
        "errors": report["errors_total"],
        "accept_rate": report["events_per_s"],
        "e2e_rate": accepted / e2e_s if stored >= accepted else None,
        "stored": stored,
        "stored_at_end": stored_at_end,
        "p50": report["latency_ms"]["p50"],
        "p90": report["latency_ms"]["p90"],
        "p99": report["latency_ms"]["p99"],
        "max": report["latency_ms"]["max"],
        "cpu_s": cpu_s,
        "us_per_event": cpu_s / max(accepted, 1) * 1e6,
        "sys_pct": sys_s / cpu_s * 100 if cpu_s else None,
        "gen_cpu_pct": report["cpu_pct_of_one_core"],
        "peak_rss_mib": peak_kib / 1024,
        "rss_first_half_mib": max(rss[:half], default=0) / 1024,
        "rss_second_half_mib": max(rss[half:], default=0) / 1024,
        "issues": issues,
        "distinct_sent": report["distinct_sent"],
        "nodes": args.nodes,
        "accepted_per_node": report.get("accepted_per_target"),
    }
    if not args.keep:
        subprocess.run(["rm", "-rf", data_dir], check=False)
    else:
        result["data_dir"] = data_dir
    return result


COLUMNS = [
    ("run", "run", "{}"),
    ("accepted", "accepted", "{}"),
    ("accept_rate", "accept ev/s", "{:.0f}"),
    ("e2e_rate", "e2e ev/s", "{:.0f}"),
    ("stored_at_end", "stored@end", "{}"),
    ("p50", "p50 ms", "{:.2f}"),
    ("p90", "p90 ms", "{:.2f}"),
    ("p99", "p99 ms", "{:.2f}"),
    ("max", "max ms", "{:.1f}"),
    ("cpu_s", "srv CPU s", "{:.2f}"),
    ("us_per_event", "µs/ev", "{:.0f}"),
    ("sys_pct", "sys %", "{:.0f}"),
    ("gen_cpu_pct", "gen %core", "{:.0f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.1f}"),
    ("issues", "issues", "{}"),
    ("distinct_sent", "distinct", "{}"),
]


def fmt(value, pattern):
    if value is None:
        return "-"
    return pattern.format(value)


def print_table(title, rows):
    print(f"\n{title}")
    header = [name for _, name, _ in COLUMNS]
    cells = [[fmt(r.get(k), p) for k, _, p in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def median_row(rows):
    out = {"run": "median"}
    for key, _, _ in COLUMNS[1:]:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = statistics.median(values) if len(values) == len(rows) and values else None
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--max-time", type=int, default=300)
    p.add_argument("--concurrency", default="8,32")
    p.add_argument("--payload", default="medium")
    p.add_argument("--encoding", default="gzip")
    p.add_argument("--endpoint", default="envelope")
    p.add_argument("--distinct", type=int, default=200)
    p.add_argument("--json", default=None, help="also write every run as JSON lines here")
    p.add_argument("--keep", action="store_true", help="keep the data directories")
    p.add_argument("--database-url", default=None,
                   help="a PostgreSQL server (postgres://user@host/db) whose user may create databases: each "
                        "run creates a fresh database there and serves it; default: SQLite")
    p.add_argument("--nodes", type=int, default=1,
                   help="server processes per run on the one PostgreSQL database (needs --database-url)")
    p.add_argument("--alert-webhook", default=None,
                   help="before the load, create an alert rule on new issues and regressions that "
                        "notifies this webhook URL (e.g. a receiver that never answers)")
    args = p.parse_args()
    if args.nodes < 1 or (args.nodes > 1 and not args.database_url):
        raise SystemExit("--nodes N (N > 1) needs --database-url: several nodes share one PostgreSQL database")

    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"machine: {os.cpu_count()} CPUs; load average before: {' '.join(load)}")
    medians = []
    for c in [int(x) for x in args.concurrency.split(",")]:
        cfg = {
            "concurrency": c, "payload": args.payload, "encoding": args.encoding,
            "endpoint": args.endpoint, "distinct": args.distinct,
        }
        backend = f"postgres x{args.nodes} " if args.database_url else ""
        name = (backend + f"{cfg['payload']}/{cfg['encoding']}/{cfg['endpoint']} distinct={cfg['distinct']} "
                f"c={c} " + (f"duration={args.duration}s" if args.duration else f"N={args.events}"))
        rows = []
        for i in range(args.runs):
            r = one_run(args, cfg, i)
            rows.append(r)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({"config": name, **r}) + "\n")
            print(f"  {name} run {i + 1}: e2e {fmt(r['e2e_rate'], '{:.0f}')} ev/s, "
                  f"p99 {r['p99']:.2f} ms, {r['us_per_event']:.0f} µs/ev, RSS {r['peak_rss_mib']:.0f} MiB "
                  f"(halves {r['rss_first_half_mib']:.0f}/{r['rss_second_half_mib']:.0f})", file=sys.stderr)
        m = median_row(rows)
        print_table(name, rows + [m])
        medians.append((name, m))
    print("\nmedians")
    rows = []
    for name, m in medians:
        rows.append({**m, "run": "c=" + name.split(" c=")[1].split(" ")[0]})
    print_table("", rows)
    with open("/proc/loadavg") as f:
        print(f"load average after: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
