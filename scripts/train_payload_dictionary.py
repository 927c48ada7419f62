#!/usr/bin/env python3
"""Trains the zstd dictionary stored event payloads are compressed with (src/store/payload.dict).

    scripts/train_payload_dictionary.py SERVER [OUT]     # needs the `zstd` command

Starts SERVER (a built `errata`) on a temporary data directory and a free 127.0.0.1 port,
sends it every event of the real SDK captures in tests/fixtures/wire through the store
endpoint, reads back the stored JSON (normalized, scrubbed, summarized: what is
compressed), and trains a 16 KiB dictionary on it with the fixed id below. Retraining
changes the id's meaning: give a new dictionary a new id and keep the old one readable.
"""
import glob, gzip, json, os, re, socket, sqlite3, subprocess, sys, tempfile, time, urllib.request, zlib

DICTIONARY_ID = 0x45525201  # must match DICTIONARY_ID in src/store/payload.rs
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
server = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "src", "store", "payload.dict")


def events():
    """Event items of the captured bodies (envelopes or store bodies, compressed or not)."""
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "wire", "*", "*.body"))):
        body = open(path, "rb").read()
        for decode in (gzip.decompress, zlib.decompress, lambda b: b):
            try:
                body = decode(body)
                break
            except Exception:
                continue
        lines = body.split(b"\n")
        candidates = [lines[0]] if len(lines) == 1 else [
            lines[i + 1] for i in range(1, len(lines) - 1) if is_event_header(lines[i])
        ]
        for item in candidates:
            try:
                event = json.loads(item)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield json.dumps(event).encode()


def is_event_header(line):
    try:
        header = json.loads(line)
    except ValueError:
        return False
    return isinstance(header, dict) and header.get("type") == "event"


with tempfile.TemporaryDirectory(prefix="dict-") as data:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, ERRATA_DEFAULT_RATE_LIMIT="0", RUST_LOG="warn")
    proc = subprocess.Popen([server, "serve", "--data-dir", data, "--bind", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        deadline = time.time() + 60
        key = None
        while key is None and time.time() < deadline:
            m = re.search(r"http://(\w+)@127\.0\.0\.1:\d+/\d+", proc.stdout.readline())
            key = m and m.group(1)
        sent = 0
        for body in events():
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/1/store/", data=body,
                headers={"Content-Type": "application/json",
                         "X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
            urllib.request.urlopen(req, timeout=10).read()
            sent += 1
        db = os.path.join(data, "errata.sqlite3")
        stored = []
        while len(stored) < sent and time.time() < deadline:
            time.sleep(0.2)
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                stored = [row[0] for row in conn.execute("SELECT payload FROM events")]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with tempfile.TemporaryDirectory(prefix="samples-") as samples:
        for i, blob in enumerate(stored):
            json_bytes = subprocess.run(["zstd", "-d", "-c", "-q"], input=blob, capture_output=True, check=True).stdout
            open(os.path.join(samples, f"{i:04d}.json"), "wb").write(json_bytes)
        subprocess.run(["zstd", "-q", "-f", "--train", *sorted(glob.glob(os.path.join(samples, "*.json"))),
                        "--maxdict=16384", f"--dictID={DICTIONARY_ID}", "-o", out], check=True)
    print(f"{out}: trained on {len(stored)} stored events of {sent} sent")
