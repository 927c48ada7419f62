#!/usr/bin/env python3
"""Where the WAL bytes go (BENCHMARKS.md, fourth round).

    scripts/wal_frames.py SERVER LOADGEN N        # N below ~1,500 so the WAL does not start over

Sends N medium gzip envelopes (c = 32) to a fresh server, kills it so its WAL stays, reads
the frame headers of the WAL, and maps each frame's page to its table or index with dbstat
(on a copy): frames per commit and bytes per event for each. Loopback only, bounded.
"""
import os, re, socket, subprocess, sys, tempfile, time, json, sqlite3, struct, shutil, signal, collections, threading
binary, loadgen, n = sys.argv[1], sys.argv[2], sys.argv[3]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
d = tempfile.mkdtemp(prefix="w-"); port = free_port()
env = dict(os.environ, ERRATA_DEFAULT_RATE_LIMIT="0", RUST_LOG="warn")
p = subprocess.Popen([binary, "serve", "--data-dir", d, "--bind", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
dsn = None
while True:
    line = p.stdout.readline()
    m = re.search(r"(http://\S+@127\.0\.0\.1:\d+/\d+)", line)
    if m: dsn = m.group(1); break
threading.Thread(target=lambda: p.stdout.read(), daemon=True).start()
time.sleep(1.5)
db = os.path.join(d, [f for f in os.listdir(d) if f.endswith(".db") or f.endswith(".sqlite3")][0])
wal = db + "-wal"
start = os.path.getsize(wal) if os.path.exists(wal) else 0
subprocess.run([loadgen, "--dsn", dsn, "--events", n, "--concurrency", "32", "--payload", "medium", "--encoding", "gzip", "--distinct", "200", "--quiet", "--max-time", "300"], capture_output=True, timeout=400)
time.sleep(0.5)
p.send_signal(signal.SIGKILL); p.wait()
raw = open(wal, "rb").read()
(psz,) = struct.unpack(">I", raw[8:12])
frames = []; off = 32
salt = raw[16:24]
while off + 24 + psz <= len(raw):
    pg, size = struct.unpack(">II", raw[off:off+8])
    if raw[off+8:off+16] != salt: break
    frames.append((pg, size)); off += 24 + psz
c2 = tempfile.mkdtemp(); shutil.copy(db, c2 + "/x.db"); shutil.copy(wal, c2 + "/x.db-wal")
con = sqlite3.connect(c2 + "/x.db")
owner = dict(con.execute("select pageno, name from dbstat"))
commits = sum(1 for f in frames if f[1] != 0)
cnt = collections.Counter(owner.get(pg, "other (ptrmap/freelist)") for pg, _ in frames)
ev = con.execute("select count(*) from events").fetchone()[0]
print(json.dumps({"frames": len(frames), "commits": commits, "events": ev, "frames_per_commit": round(len(frames)/max(commits,1),1), "wal_bytes_per_event": round(len(frames)*(psz+24)/max(ev,1))}))
for name, c in cnt.most_common():
    print(f"  {name:32} {c:7} frames  {c/max(commits,1):6.2f}/commit  {c*(psz+24)/max(ev,1):8.0f} B/event")
