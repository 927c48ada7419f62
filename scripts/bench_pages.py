#!/usr/bin/env python3
"""Server time of the issue pages with many issues in the database.

Usage: scripts/bench_pages.py [--issues 10000] [--repeat 20] [--binary target/release/errata]

Starts the release binary on a free 127.0.0.1 port with a temporary data directory (SQLite),
ingests one event for each of --issues distinct errors (8 connections, the store endpoint),
signs a person in (a user and a session written to the database, as sign-in writes them),
then times the pages, --repeat requests each, one at a time, and prints the median and the
95th percentile in milliseconds. On loopback the time is the server's: the requests are
small and the client only reads the answer. Standard library only; nothing leaves 127.0.0.1.
"""
import argparse
import hashlib
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

ORG = "errata"


def start(binary, data_dir):
    # The loading burst opens many short connections: the per-second connection limit is a
    # defence for the edge, not what this measures.
    env = dict(
        os.environ,
        ERRATA_DATA_DIR=data_dir,
        ERRATA_BIND="127.0.0.1:0",
        ERRATA_MAX_CONNECTION_RATE="0",
        ERRATA_DEFAULT_RATE_LIMIT="0",
        RUST_LOG="warn",
    )
    child = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
    dsn = None
    deadline = time.monotonic() + 60
    while dsn is None and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        line = line.strip()
        if line.startswith("http://") and "@" in line:
            dsn = line
    if dsn is None:
        child.kill()
        sys.exit("errata did not print its DSN")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in child.stdout], daemon=True).start()
    key, rest = dsn[len("http://"):].split("@", 1)
    host, project = rest.split("/", 1)
    return child, f"http://{host}", key, project


def ingest(base, key, project, count):
    url = f"{base}/api/{project}/store/"
    auth = f"Sentry sentry_key={key}, sentry_version=7, sentry_client=bench/1.0"

    def send(i):
        event = {
            "platform": "python",
            "level": ["error", "warning", "fatal"][i % 3],
            "environment": ["production", "staging"][i % 2],
            "exception": {"values": [{
                "type": f"BenchError{i}",
                "value": f"failure number {i}",
                "stacktrace": {"frames": [
                    {"function": "main", "module": "app.cli", "filename": "app/cli.py", "lineno": 3, "in_app": True},
                    {"function": f"handler_{i}", "module": "app.views", "filename": "app/views.py",
                     "lineno": 10 + i % 90, "in_app": True},
                ]},
            }]},
            "tags": {"customer": f"c{i % 50}"},
            "user": {"id": f"u{i % 500}"},
        }
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                         headers={"X-Sentry-Auth": auth, "Content-Type": "application/json"})
        for attempt in range(20):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as e:
                if e.code != 429:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise RuntimeError("event kept being refused")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, range(count)))


def sign_in(data_dir):
    """A member and a session, written as sign-in writes them; returns the cookie."""
    db = sqlite3.connect(os.path.join(data_dir, "errata.sqlite3"), timeout=30)
    now = int(time.time() * 1_000_000)
    cur = db.execute(
        "INSERT INTO users (email, email_key, role, password_hash, date_created) VALUES (?, ?, 'member', 'x', ?)",
        ("bench@example.com", "bench@example.com", now))
    session = uuid.uuid4().hex
    db.execute("INSERT INTO sessions (id_hash, user_id, csrf, created, last_seen) VALUES (?, ?, ?, ?, ?)",
               (hashlib.sha256(session.encode()).hexdigest(), cur.lastrowid, uuid.uuid4().hex, now, now))
    db.commit()
    db.close()
    return f"errata_session={session}"


def timed(base, cookie, path, repeat):
    times, body = [], ""
    for _ in range(repeat):
        request = urllib.request.Request(base + path, headers={"Cookie": cookie, "Accept": "text/html"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read().decode()
            status = response.status
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            sys.exit(f"GET {path}: {status}")
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--binary", default="target/release/errata")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        child, base, key, project = start(args.binary, data_dir)
        try:
            started = time.perf_counter()
            ingest(base, key, project, args.issues)
            print(f"ingested {args.issues} issues in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            cookie = sign_in(data_dir)
            stream = f"/organizations/{ORG}/issues/"
            rows = [
                ("stream, unresolved, last seen, 24 h graphs", stream),
                ("stream, all, events sort, 14 d graphs", stream + "?query=&sort=freq&statsPeriod=14d"),
                ("stream, users sort", stream + "?sort=user"),
                ("stream, search level:warning customer:c7", stream + "?query=is%3Aunresolved+level%3Awarning+customer%3Ac7"),
                ("stream, free text search", stream + "?query=%22failure+number+9999%22"),
                ("stream, environment filter", stream + "?environment=staging"),
            ]
            _, _, first = timed(base, cookie, stream, 1)
            nxt = re.search(r'href="([^"]*)" rel="next"', first)
            if nxt:
                rows.append(("stream, second page (value cursor)", nxt.group(1).replace("&amp;", "&")))
            issue = re.search(r'href="(/organizations/[^"]+/issues/\d+/)"', first)
            if issue:
                rows.append(("issue page with its latest event", issue.group(1)))
            print(f"| page ({args.issues} issues, {args.repeat} requests each) | median ms | p95 ms |")
            print("| --- | --- | --- |")
            for label, path in rows:
                median, p95, _ = timed(base, cookie, path, args.repeat)
                print(f"| {label} | {median:.1f} | {p95:.1f} |")
        finally:
            child.terminate()
            child.wait(timeout=60)


if __name__ == "__main__":
    main()
