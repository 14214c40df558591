"""Bridge benchmarks for scripts/bench: messages between panes through the MCP path (`sbx mcp`,
JSON-RPC over stdio, as an agent CLI speaks it) and through the CLI (`sbx msg send`).

tmux has no counterpart, so these figures stand alone against the goals of the bridge issue:
pane-to-pane latency p50 under 2 ms, at least 10,000 messages/s.
"""

import json, os, statistics, subprocess, threading, time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


class Mcp:
    """One `sbx mcp` process speaking for a pane, driven as a client would drive it."""

    def __init__(self, exe, env, pane):
        self.p = subprocess.Popen([exe, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=dict(env, SBX_PANE_ID=pane))
        self.next = 0
        self.lock = threading.Lock()
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "sbx-bench", "version": "1"}})
        self.write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def write(self, obj):
        self.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.p.stdin.flush()

    def send_request(self, method, params):
        with self.lock:
            self.next += 1
            rid = self.next
            self.write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def read_response(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("sbx mcp closed its output")
            msg = json.loads(line)
            if "id" in msg:
                return msg

    def request(self, method, params):
        self.send_request(method, params)
        return self.read_response()["result"]

    def call(self, name, args):
        result = self.request("tools/call", {"name": name, "arguments": args})
        text = result["content"][0]["text"]
        if result.get("isError"):
            raise RuntimeError(f"{name}: {text}")
        return json.loads(text)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def panes(sbx, n):
    """n sleeping panes, one per tab, labelled b0..b(n-1); their pane ids."""
    ids = [sbx.run("new", "-d", "-s", "bridge", "--label", "b0", "--", "sleep", "3600").strip()]
    for i in range(1, n):
        ids.append(sbx.run("new-tab", "-t", "bridge", "--label", f"b{i}", "--", "sleep", "3600").strip())
    return ids


def latency(sbx, ids, n):
    """Pane to pane: the receiver waits in bridge_wait_for_message; from the sender's call to the
    receiver's wake. Also the sender's own round trip (its acknowledgement)."""
    sender, receiver = Mcp(sbx.exe, sbx.env, ids[1]), Mcp(sbx.exe, sbx.env, ids[0])
    got = {}
    ready = threading.Event()

    def receive():
        last = 0
        while len(got) < n:
            ready.set()
            r = receiver.call("bridge_wait_for_message", {"timeout_seconds": 10, "after_id": last})
            now = time.perf_counter()
            for m in r["messages"]:
                got[m["subject"]] = now
                last = max(last, m["id"])

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    lat, ack = [], []
    for i in range(n):
        ready.wait()
        ready.clear()
        time.sleep(0.002)  # let the receiver's wait reach the server
        t0 = time.perf_counter()
        sender.call("bridge_send_message", {"to": "b0", "subject": f"l{i}", "body": "ping"})
        ack.append(time.perf_counter() - t0)
        deadline = time.time() + 10
        while f"l{i}" not in got:
            if time.time() > deadline:
                raise RuntimeError("a message never reached its waiting receiver")
            time.sleep(0.0001)
        lat.append(got[f"l{i}"] - t0)
    t.join(timeout=15)
    sender.close()
    receiver.close()
    return [x * 1000 for x in lat], [x * 1000 for x in ack]


def throughput(sbx, ids, senders, per_sender):
    """`senders` MCP servers, each sent `per_sender` calls back to back (pipelined, as an agent
    with parallel tool calls would), to one recipient; messages per second over all of them."""
    clients = [Mcp(sbx.exe, sbx.env, ids[1 + i]) for i in range(senders)]
    done = []

    def pump(c, s):
        def reader():
            for _ in range(per_sender):
                r = c.read_response()
                if r.get("result", {}).get("isError"):
                    raise RuntimeError(r["result"]["content"][0]["text"])
            done.append(time.perf_counter())
        rt = threading.Thread(target=reader)
        rt.start()
        for i in range(per_sender):
            c.send_request("tools/call", {"name": "bridge_send_message",
                                          "arguments": {"to": "b0", "subject": f"t{s}-{i}", "body": "load"}})
        rt.join()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=pump, args=(c, s)) for s, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(done) - t0
    for c in clients:
        c.close()
    return senders * per_sender / elapsed


def cli(sbx, n, parallel):
    """`sbx msg send` as a script runs it: one process per message."""
    def one(i):
        t0 = time.perf_counter()
        subprocess.run([sbx.exe, "msg", "send", "--as", "b1", "b0", f"c{i}"], env=sbx.env,
                       stdout=subprocess.DEVNULL, check=True)
        return (time.perf_counter() - t0) * 1000

    lat = [one(i) for i in range(n)]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=lambda k=k: [one(100000 + k * n + i) for i in range(n // parallel)])
               for k in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = (n // parallel) * parallel / (time.perf_counter() - t0)
    return lat, rate


def run(sbx, quick, log):
    n, per, ncli = (200, 500, 50) if quick else (2000, 5000, 300)
    senders = 8
    ids = panes(sbx, senders + 1)
    log(f"bridge: latency over {n} messages")
    lat, ack = latency(sbx, ids, n)
    log(f"bridge: throughput, {senders} senders x {per}")
    rate = max(throughput(sbx, ids, senders, per) for _ in range(1 if quick else 3))
    log(f"bridge: CLI, {ncli} sends")
    cli_lat, cli_rate = cli(sbx, ncli, 4)
    return {"n": n, "per": per, "senders": senders, "ncli": ncli,
            "lat": (pct(lat, 50), pct(lat, 99)), "ack": (pct(ack, 50), pct(ack, 99)), "rate": rate,
            "cli": (pct(cli_lat, 50), pct(cli_lat, 99)), "cli_rate": cli_rate}


def table(r):
    yes = lambda ok: "yes" if ok else "**no**"
    rows = [
        ("metric", "sbx", "goal", "met?"),
        ("---", "---:", "---", "---"),
        ("pane to pane via MCP, send → receiver's wait wakes, p50 (ms)", f"{r['lat'][0]:.2f}", "< 2 ms",
         yes(r["lat"][0] < 2)),
        ("pane to pane via MCP, p99 (ms)", f"{r['lat'][1]:.2f}", "wake < 50 ms", yes(r["lat"][1] < 50)),
        ("send acknowledged via MCP, p50 / p99 (ms)", f"{r['ack'][0]:.2f} / {r['ack'][1]:.2f}", "", ""),
        (f"messages/s via MCP, {r['senders']} senders × {r['per']} pipelined, best of 3",
         f"{r['rate']:,.0f}", "≥ 10,000", yes(r["rate"] >= 10000)),
        ("`sbx msg send` (one process each), p50 / p99 (ms)", f"{r['cli'][0]:.1f} / {r['cli'][1]:.1f}", "", ""),
        ("messages/s via the CLI, 4 in parallel", f"{r['cli_rate']:,.0f}", "", ""),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def explain(r):
    return f"""How the bridge figures are taken (tmux has no counterpart): nine panes run `sleep`; the script \
drives `sbx mcp` processes over stdio with JSON-RPC as an agent CLI does, each speaking for one pane. \
**Latency**: the receiver keeps a `bridge_wait_for_message` open; the time from the sender's \
`bridge_send_message` call to the receiver's answer, {r['n']} messages one at a time. **Throughput**: \
{r['senders']} senders each write {r['per']} `bridge_send_message` calls without waiting and read the answers; \
every answer means the message is committed to SQLite (WAL). **CLI**: `sbx msg send --as b1 b0 SUBJECT`, one \
process per message ({r['ncli']} sequential, then 4 workers in parallel). Every message is stored, indexed \
for search (FTS5) and delivered; writes of a burst share one transaction (group commit)."""
