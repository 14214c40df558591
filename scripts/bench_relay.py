"""Relay benchmarks for scripts/bench: requests per second and latency of concurrent small posts
and authenticated listings on loopback (examples/relay_load.rs, a Rust load generator), and the
relay's memory while it receives 25 MiB blobs concurrently.

Goals from the relay issue: at least 10,000 requests/s, p99 under 10 ms, memory bounded.
"""

import http.client, json, os, subprocess, threading, time

MIB = 1024 * 1024


def rss_kib(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Relay:
    def __init__(self, exe, tmp, *args):
        self.p = subprocess.Popen([exe, "relay", "--addr", "127.0.0.1:0", "--db", os.path.join(tmp, "relay.db"),
                                   "--rate-limit", "0", "--challenge-limit", "0", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.p.stdout.readline().split()[-1]
        self.host, self.port = self.url.removeprefix("http://").split(":")

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)


def publish(relay, seed):
    """Register a throwaway key (the load generator's first key) and return its echo-id."""
    import base64, hashlib
    # The relay checks only that the key is well-formed and hashes to its id; these bytes are a
    # valid ed25519 point (the base point), which is all a mailbox needs to receive.
    point = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")
    wire = (11).to_bytes(4, "big") + b"ssh-ed25519" + (32).to_bytes(4, "big") + point
    fpr = hashlib.sha256(wire).hexdigest()
    conn = http.client.HTTPConnection(relay.host, int(relay.port))
    conn.request("POST", "/keys", json.dumps({"fingerprint": fpr, "public_key": base64.b64encode(wire).decode()}))
    conn.getresponse().read()
    return fpr[:20]


def load(loadgen, relay, seconds, concurrency):
    out = subprocess.run([loadgen, relay.url, str(seconds), str(concurrency)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(relay, blobs, size):
    """Peak RSS of the relay while `blobs` clients each stream `size` bytes at once."""
    recipient = publish(relay, 1)
    base = rss_kib(relay.p.pid)
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(relay.p.pid))
            time.sleep(0.01)

    def post():
        conn = http.client.HTTPConnection(relay.host, int(relay.port), timeout=120)
        conn.putrequest("POST", f"/mailbox/{recipient}")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        chunk = b"\x5a" * (256 * 1024)
        sent = 0
        while sent < size:
            n = min(len(chunk), size - sent)
            conn.send(chunk[:n])
            sent += n
        status = conn.getresponse().status
        assert status == 201, status

    s = threading.Thread(target=sample)
    s.start()
    threads = [threading.Thread(target=post) for _ in range(blobs)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    done.set()
    s.join()
    return {"base_mib": base / 1024, "peak_mib": max(peak[0], rss_kib(relay.p.pid, "VmHWM")) / 1024,
            "blobs": blobs, "size_mib": size / MIB, "seconds": elapsed}


def run(exe, loadgen, tmp, quick, log):
    seconds = 3 if quick else 10
    # The load posts tens of thousands of blobs to four mailboxes from one address: the mailbox
    # quotas and the per-address connection cap (tested in tests/attacks.rs) would refuse most of
    # it, and this measures how fast the relay serves, not how it refuses.
    relay = Relay(exe, tmp, "--max-blob-size", str(25 * MIB), "--mailbox-max-blobs", "0", "--mailbox-max-bytes", "0",
                  "--max-connections-per-ip", "0")
    try:
        log(f"relay: load for {seconds} s, 8 and 32 connections")
        r8 = load(loadgen, relay, seconds, 8)
        r32 = load(loadgen, relay, seconds, 32)
        log("relay: memory while receiving 8 x 25 MiB at once")
        mem = memory(relay, 8, 25 * MIB)
    finally:
        relay.stop()
    return {"r8": r8, "r32": r32, "mem": mem, "seconds": seconds}


def table(r):
    yes = lambda ok: "yes" if ok else "**no**"
    r8, r32, m = r["r8"], r["r32"], r["mem"]
    rows = [
        ("metric", "sbx relay", "goal", "met?"),
        ("---", "---:", "---", "---"),
        ("requests/s, 8 connections (posts + authenticated listings)", f"{r8['rps']:,.0f}", "≥ 10,000",
         yes(r8["rps"] >= 10000)),
        ("latency p50 / p99, 8 connections (ms)", f"{r8['p50_ms']:.2f} / {r8['p99_ms']:.2f}", "p99 < 10 ms",
         yes(r8["p99_ms"] < 10)),
        ("requests/s, 32 connections", f"{r32['rps']:,.0f}", "", ""),
        ("latency p50 / p99, 32 connections (ms)", f"{r32['p50_ms']:.2f} / {r32['p99_ms']:.2f}", "", ""),
        ("errors", f"{r8['errors'] + r32['errors']}", "0", yes(r8["errors"] + r32["errors"] == 0)),
        (f"relay RSS idle → peak while receiving {m['blobs']} × {m['size_mib']:.0f} MiB at once (MiB)",
         f"{m['base_mib']:.1f} → {m['peak_mib']:.1f}", f"bounded (≪ {m['blobs'] * m['size_mib']:.0f} MiB)",
         yes(m["peak_mib"] - m["base_mib"] < 64)),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def explain(r):
    return f"""How the relay figures are taken: `sbx relay` (release build, rate limits, mailbox quotas and the per-address connection cap off) on 127.0.0.1 and \
`examples/relay_load.rs` on the same 2 cores for {r['seconds']} s per run: half the connections post 256-byte \
blobs to four mailboxes, the other half list four other mailboxes with the echos challenge auth \
(GET /challenge, then GET /mailbox signed with ed25519); every request counts, its latency measured from send \
to the end of the answer. Memory: {r['mem']['blobs']} clients stream {r['mem']['size_mib']:.0f} MiB each at \
the same moment; the relay's RSS is sampled every 10 ms (and VmHWM read after). Bodies above 1 MiB go to a \
temp file, then into SQLite in 64 KiB chunks, so memory does not grow with blob size × clients."""
