"""Floods and memory for scripts/bench, sbx and tmux side by side in one run:

- 16 panes (a 4x4 grid in one 200x50 tab, one client attached) each `cat`-ing the 20 MB
  coloured file at once, and each running `yes | head -c 50000000`: wall time until the last
  pane is done, and the server's and client's peak RSS (VmHWM; a fresh server per case);
- the idle RSS of a server with 4 fresh shells and of its attached client;
- throughput as a user sees it through a real outer terminal: the client attached inside a
  tmux 200x52 window (the outer terminal), `cat` of the coloured file timed by the pane's shell.

The helpers (the two multiplexers, Client, waiting) are scripts/bench's, passed in.
"""

import os, subprocess, threading, time


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def grid16(mux, shell, wait_prompt):
    """16 shell panes in a 4x4 grid: columns first, then each column cut in four."""
    first = mux.new_session("flood", shell)
    half = mux.split(first, True, shell)
    cols = [first, mux.split(first, True, shell), half, mux.split(half, True, shell)]
    panes = []
    for top in cols:
        mid = mux.split(top, False, shell)
        panes += [top, mux.split(top, False, shell), mid, mux.split(mid, False, shell)]
    for p in panes:
        wait_prompt(mux, p)
    return panes


class PrivatePeak(threading.Thread):
    """The highest RssAnon of `pid` (private memory: what the process itself allocated, without
    its binary's pages, which are shared), sampled every 10 ms until stopped. The kernel keeps
    only the total's peak (VmHWM)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.kib, self.done = pid, 0, threading.Event()
        self.start()

    def run(self):
        while not self.done.wait(0.01):
            try:
                self.kib = max(self.kib, status_kib(self.pid, "RssAnon"))
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.join()
        return self.kib / 1024


def flood(h, mux, tmp, command, label):
    """Wall seconds for 16 panes to each run `command`, and (server, client, server's private)
    peak RSS in MiB."""
    panes = grid16(mux, h.SHELL, h.wait_prompt)
    client = h.Client(mux, "flood")
    try:
        done = [os.path.join(tmp, f"flood-{label}-{mux.name}-{i}") for i in range(len(panes))]
        private = PrivatePeak(mux.server_pid())
        t0 = time.monotonic()
        for p, d in zip(panes, done):
            mux.send(p, f"{command}; touch {d}")
        h.wait_until(lambda: all(map(os.path.exists, done)), 900, f"{mux.name} {label} flood")
        secs = time.monotonic() - t0
        peak = (status_kib(mux.server_pid(), "VmHWM") / 1024, status_kib(client.proc.pid, "VmHWM") / 1024,
                private.stop())
        h.log(f"flood {label} {mux.name}: {secs:.2f} s, server peak {peak[0]:.1f} MiB (private {peak[2]:.1f}), "
              f"client peak {peak[1]:.1f} MiB")
        return secs, peak
    finally:
        client.close()
        mux.kill_server()


def idle_rss(h, mux):
    """(server, client, server's private) RSS in MiB: 4 fresh shells, a client attached, after 3 s
    of quiet. The private part (RssAnon) leaves out the binary's own pages, which are shared
    with every other process running it and with the page cache."""
    h.four_panes(mux, "quiet", tabs=False)
    client = h.Client(mux, "quiet")
    try:
        time.sleep(3)
        server = mux.server_pid()
        rss = (status_kib(server, "VmRSS") / 1024, status_kib(client.proc.pid, "VmRSS") / 1024,
               status_kib(server, "RssAnon") / 1024)
        h.log(f"idle RSS {mux.name}: server {rss[0]:.1f} MiB (private {rss[2]:.1f}), client {rss[1]:.1f} MiB")
        return rss
    finally:
        client.close()
        mux.kill_server()


def outer_terminal(h, mux, path, tmp, runs=3):
    """Median ms of `cat FILE` in a pane whose client runs inside a real terminal (tmux)."""
    outer = ["tmux", "-L", f"outer{os.getpid()}", "-f", "/dev/null"]
    cols, rows = mux.client_size
    pane = mux.new_session("outer", h.SHELL)
    h.wait_prompt(mux, pane)
    argv = " ".join(mux.attach_argv("outer"))
    env_prefix = " ".join(f"{k}={v}" for k, v in mux.env.items() if k in ("SBX_HOME", "PATH", "HOME", "TERM"))
    subprocess.run([*outer, "new-session", "-d", "-x", str(cols), "-y", str(rows), f"env {env_prefix} {argv}"],
                   check=True)
    subprocess.run([*outer, "set", "-g", "status", "off"], check=True)
    try:
        h.wait_until(lambda: "$" in subprocess.run([*outer, "capture-pane", "-p"], capture_output=True,
                                                   text=True).stdout, 15, f"{mux.name} client inside tmux")
        times = []
        for i in range(runs):
            result = os.path.join(tmp, f"outer-{mux.name}-{i}")
            mux.send(pane, f"clear; s=$(date +%s%N); cat {path}; e=$(date +%s%N); "
                     f"echo $(( (e-s)/1000000 )) > {result}.tmp && mv {result}.tmp {result}")
            h.wait_until(lambda: os.path.exists(result), 600, f"cat through the outer terminal in {mux.name}")
            times.append(int(open(result).read()))
            time.sleep(1)
        times.sort()
        h.log(f"outer terminal {mux.name}: {times} ms")
        return times[len(times) // 2]
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True)
        mux.kill_server()


def run(h, muxes, tmp, quick):
    """All of the above, interleaved so that background noise hits both alike."""
    size = (5 if quick else 20) * 10**6
    path = os.path.join(tmp, "flood.txt")
    h.make_colour_file(path, size)
    yes_bytes = (10 if quick else 50) * 10**6
    r = {"size": size, "yes_bytes": yes_bytes, "cat": {}, "yes": {}, "idle": {}, "outer": {}}
    for m in muxes:
        r["cat"][m.name] = flood(h, m, tmp, f"cat {path}", "cat")
    for m in muxes:
        r["yes"][m.name] = flood(h, m, tmp, f"yes | head -c {yes_bytes}", "yes")
    for m in muxes:
        r["idle"][m.name] = idle_rss(h, m)
    for m in muxes:
        r["outer"][m.name] = outer_terminal(h, m, path, tmp)
    return r


def table(r):
    s, t = "sbx", "tmux"
    mb = r["size"] / 10**6
    rows = [
        "| Measure | sbx | tmux | sbx / tmux |",
        "|---|---|---|---|",
    ]

    def row(name, a, b, fmt, better_low=True):
        ratio = a / b if b else float("nan")
        rows.append(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio:.2f} |")

    row(f"16 panes × `cat` {mb:.0f} MB: wall s", r["cat"][s][0], r["cat"][t][0], "{:.2f}")
    row("… server peak RSS, MiB", r["cat"][s][1][0], r["cat"][t][1][0], "{:.1f}")
    row("… of which private (RssAnon), MiB", r["cat"][s][1][2], r["cat"][t][1][2], "{:.1f}")
    row("… client peak RSS, MiB", r["cat"][s][1][1], r["cat"][t][1][1], "{:.1f}")
    row(f"16 panes × `yes | head -c {r['yes_bytes'] // 10**6}M`: wall s", r["yes"][s][0], r["yes"][t][0], "{:.2f}")
    row("… server peak RSS, MiB", r["yes"][s][1][0], r["yes"][t][1][0], "{:.1f}")
    row("… of which private (RssAnon), MiB", r["yes"][s][1][2], r["yes"][t][1][2], "{:.1f}")
    row("Idle server, 4 shells, RSS MiB", r["idle"][s][0], r["idle"][t][0], "{:.1f}")
    row("… of which private (RssAnon), MiB", r["idle"][s][2], r["idle"][t][2], "{:.1f}")
    row("Idle attached client, RSS MiB", r["idle"][s][1], r["idle"][t][1], "{:.1f}")
    row(f"`cat` {mb:.0f} MB through an outer terminal (tmux), ms", r["outer"][s], r["outer"][t], "{:.0f}")
    return "\n".join(rows)


def explain(r):
    return ("Each flood case starts a fresh server, so peak RSS (VmHWM) is that case's. The outer "
            "terminal is a tmux 3.3a window the client runs in (as a user's terminal would be); the time "
            "is the pane's shell's, from before `cat` to after it. Ratios below 1 favour sbx.")
