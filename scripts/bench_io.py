#!/usr/bin/env python3
"""Load-independent figures of one fixed run (BENCHMARKS.md, fourth round).

    scripts/bench_io.py SERVER LOADGEN LABEL      # EVENTS=20000 C=32 by default

Starts a fresh server (temporary data directory, free 127.0.0.1 port), sends EVENTS medium
gzip envelopes at concurrency C with the load generator, and prints one JSON line: commits
over 25/50/100 ms (the difference of `errata_commit_seconds` read from /metrics before and
after), the WAL catch-ups, bytes written per event (/proc/PID/io), the database size; then
pages per table (dbstat). Traffic goes to 127.0.0.1 only; the run is bounded by count and time.
"""
import os, re, socket, subprocess, sys, tempfile, time, json, urllib.request, sqlite3, threading
binary, loadgen, label = sys.argv[1], sys.argv[2], sys.argv[3]
events = int(os.environ.get("EVENTS", "20000")); conc = os.environ.get("C", "32")
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
d = tempfile.mkdtemp(prefix="m-"); port = free_port()
env = dict(os.environ, ERRATA_DEFAULT_RATE_LIMIT="0", RUST_LOG="warn")
p = subprocess.Popen([binary, "serve", "--data-dir", d, "--bind", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=open(os.path.join(d, "server.log"), "w"), env=env, text=True)
dsn = None; t0 = time.time()
while time.time() - t0 < 60:
    line = p.stdout.readline()
    m = re.search(r"(http://\S+@127\.0\.0\.1:\d+/\d+)", line)
    if m: dsn = m.group(1); break
threading.Thread(target=lambda: p.stdout.read(), daemon=True).start()
time.sleep(0.5)
def io():
    return {k: int(v) for k, v in (l.split(": ") for l in open(f"/proc/{p.pid}/io").read().splitlines())}
def metrics():
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
io0 = io(); m0 = metrics()
out = subprocess.run([loadgen, "--dsn", dsn, "--events", str(events), "--concurrency", conc, "--payload", "medium", "--encoding", "gzip", "--distinct", "200", "--quiet", "--max-time", "600"], capture_output=True, text=True, timeout=700)
res = json.loads(out.stdout.strip().splitlines()[-1])
time.sleep(1.0)
io1 = io(); m1 = metrics()
def hist(text, name):
    b = {}
    for mm in re.finditer(name + r'_bucket\{le="([^"]+)"\} (\S+)', text): b[mm.group(1)] = float(mm.group(2))
    return b
h0, h1 = hist(m0, "errata_commit_seconds"), hist(m1, "errata_commit_seconds")
h = {k: h1[k] - h0.get(k, 0) for k in h1}
total = h.get("+Inf", 0)
over50 = total - h.get("0.05", 0); over100 = total - h.get("0.1", 0); over25 = total - h.get("0.025", 0)
bs = hist(m1, "errata_batch_size")
cu = hist(m1, "errata_wal_catch_up_seconds")
catch = {"n": cu.get("+Inf", 0), "gt25ms": cu.get("+Inf", 0) - cu.get("0.025", 0), "gt50ms": cu.get("+Inf", 0) - cu.get("0.05", 0), "gt100ms": cu.get("+Inf", 0) - cu.get("0.1", 0)}
acc = res.get("accepted", res.get("ok", events))
wb = io1["write_bytes"] - io0["write_bytes"]; wc = io1["wchar"] - io0["wchar"]
p.send_signal(2); p.wait(timeout=60)
db = os.path.join(d, [f for f in os.listdir(d) if f.endswith(".db") or f.endswith(".sqlite3")][0])
con = sqlite3.connect(db)
stat = con.execute("select name, count(*), sum(pgsize) from dbstat group by name order by 3 desc limit 12").fetchall()
dbsize = os.path.getsize(db)
lat = {k: res.get(k) for k in res if "p" in k and "ms" in k}
print(json.dumps({"label": label, "accepted": acc, "commits": total, "commits_gt25ms": over25, "commits_gt50ms": over50, "commits_gt100ms": over100, "catch_up": catch, "load": os.getloadavg()[0],
 "write_bytes_per_event": round(wb / events), "wchar_per_event": round(wc / events), "db_bytes": dbsize,
 "loadgen": {k: res[k] for k in res if k not in ("label",)}}))
for r in stat: print("  ", r)
