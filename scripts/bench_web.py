"""The web front for scripts/bench (sbx only: tmux has no web front):

- keystroke → echo through the WebSocket on loopback: a shell pane at `stty raw -echo` running
  `cat`, one byte sent as a binary frame, the time until a `session_pty_output` carrying it
  arrives; p50/p99 over N keys;
- 50 viewers on one pane while it writes 50 MB (`yes | head -c 50000000`): the time the pane
  takes with no viewer and with 50, the server's peak RSS and CPU in each, and the bytes the
  viewers were sent (coalesced: at most a fresh screen per overflow, never a backlog).

Needs Python's `websockets` (scripts/test installs it into the test cache).
"""

import asyncio, json, os, re, statistics, sys, threading, time

CACHE = os.environ.get("SBX_TEST_PYTHONPATH") or os.path.expanduser("~/.cache/sbx-test/py")
sys.path.insert(0, CACHE)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def login(sbx):
    import urllib.request
    report = json.loads(sbx.run("web", "--addr", "127.0.0.1:0", "--json"))
    base = f"http://{report['addr']}"
    token = report["url"].split("token=")[1]

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{base}/login?token={token}")
    except urllib.error.HTTPError as e:  # the 303 with the cookie
        cookie = e.headers["Set-Cookie"].split(";")[0]
    return base, cookie


def key_latency(sbx, n):
    from websockets.sync.client import connect
    pane = sbx.new_session("web-lat", ["sh", "-c", "stty raw -echo; exec cat"])
    time.sleep(0.5)
    base, cookie = login(sbx)
    times = []
    with connect(f"{base.replace('http', 'ws')}/ws/{pane.replace('%', '%25')}", additional_headers={"Cookie": cookie}) as ws:
        ws.send(json.dumps({"type": "get_current_state"}))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # the screen it starts from
            try:
                ws.recv(timeout=0.3)
            except TimeoutError:
                break
        for i in range(n):
            ch = "abcdefghij"[i % 10]
            start = time.perf_counter()
            ws.send(ch.encode())
            while True:
                msg = json.loads(ws.recv(timeout=10))
                if msg["type"] == "session_pty_output" and ch in msg["output"]:
                    break
            times.append((time.perf_counter() - start) * 1000)
    return pct(times, 50), pct(times, 99)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def viewers(base, cookie, pane, count, stop, received):
    import websockets

    async def one():
        async with websockets.connect(f"{base.replace('http', 'ws')}/ws/{pane.replace('%', '%25')}",
                                      additional_headers={"Cookie": cookie}, max_size=None) as ws:
            await ws.send(json.dumps({"type": "get_current_state"}))
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.2)
                    received[0] += len(msg)
                except asyncio.TimeoutError:
                    pass

    await asyncio.gather(*(one() for _ in range(count)))


def flood(h, sbx, n_viewers, mb):
    name = f"flood{n_viewers}"
    pane = sbx.new_session(name, h.SHELL)
    h.wait_until(lambda: sbx.capture(pane).strip(), 10, "the prompt")
    server = sbx.server_pid()
    stop, received, thread = threading.Event(), [0], None
    if n_viewers:
        base, cookie = login(sbx)
        thread = threading.Thread(target=lambda: asyncio.run(viewers(base, cookie, pane, n_viewers, stop, received)), daemon=True)
        thread.start()
        time.sleep(2)  # all connected and shown the screen
    peak, cpu0, start = rss_kib(server), cpu_ticks(server), time.perf_counter()
    done = os.path.join(sbx.home, f"{name}.done")
    sbx.send(pane, f"yes | head -c {mb * 1000000}; touch {done}")
    while not os.path.exists(done):
        peak = max(peak, rss_kib(server))
        time.sleep(0.01)
    took = time.perf_counter() - start
    cpu = (cpu_ticks(server) - cpu0) / os.sysconf("SC_CLK_TCK")
    stop.set()
    if thread:
        thread.join(5)
    return took, peak / 1024, cpu, received[0] / 1e6


def run(h, exe, tmp, quick, log):
    sbx = h.Sbx(exe, os.path.join(tmp, "web-home"))
    n = 100 if quick else 1000
    mb = 10 if quick else 50
    log(f"web: {n} keys through the WebSocket")
    p50, p99 = key_latency(sbx, n)
    log(f"web: key → echo p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    none = flood(h, sbx, 0, mb)
    log(f"web: {mb} MB with no viewer: {none[0]:.2f} s, peak RSS {none[1]:.1f} MiB, CPU {none[2]:.2f} s")
    many = flood(h, sbx, 50, mb)
    log(f"web: {mb} MB with 50 viewers: {many[0]:.2f} s, peak RSS {many[1]:.1f} MiB, CPU {many[2]:.2f} s, sent {many[3]:.1f} MB")
    sbx.kill_server()
    return {"keys": n, "p50": p50, "p99": p99, "mb": mb, "none": none, "many": many}


def table(r):
    (t0, m0, c0, _), (t1, m1, c1, sent) = r["none"], r["many"]
    return "\n".join([
        "| Measure | sbx |",
        "|---|---:|",
        f"| key → echo through the WebSocket, p50 (ms, {r['keys']} keys) | {r['p50']:.2f} |",
        f"| … p99 (ms) | {r['p99']:.2f} |",
        f"| {r['mb']} MB written by a pane, no viewer: time (s) / server peak RSS (MiB) / server CPU (s) | {t0:.2f} / {m0:.1f} / {c0:.2f} |",
        f"| the same with 50 viewers on the pane | {t1:.2f} / {m1:.1f} / {c1:.2f} |",
        f"| bytes sent to the 50 viewers in all (MB) | {sent:.1f} |",
    ])


def explain(r):
    return ("Each viewer reads the pane's output from one bounded ring per pane (64 chunks, whoever watches), at "
            "most one message per 20 ms frame with what came meanwhile; more than 32 KiB in a frame (a flood), or a "
            "ring position or socket queue (8 messages) that overflows, and the viewer is sent the screen as it is "
            "instead of the backlog, so 50 viewers of a flood receive far less than 50 × its size. The 50 viewers "
            "are one Python process on the same 2 cores, so part of the slower flood is the viewers' own CPU. tmux "
            "has no web front, so there is no tmux column.")
