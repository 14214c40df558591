"""Restore and the snapshot for scripts/bench (sbx only: tmux keeps nothing when its server dies):

- time to restore 20 panes: 5 sessions of 4 shells (2 tabs, a split in each), the server
  killed with SIGKILL, then the wall time of the `sbx new -d` that starts the next server (it
  rebuilds the 20 panes before it answers) until all 20 shells show their prompt again (as
  the user's own shell: the bench's `bash --norc` is a command, not allowed to run again);
- snapshot writes under a storm: 200 resizes of an attached client in 2 s, then 40 splits
  and closes as fast as the CLI goes; the snapshot file is replaced (a new inode) on each write,
  counted by polling it every millisecond;
- a live upgrade: `sbx upgrade --to` a copy of the binary with 21 panes (the 20 above and one
  printing a line every millisecond, shown in an attached client), the command's wall time,
  and the longest the attached client's terminal went without a byte in the 2 s around it,
  beside the same figure over 2 s without an upgrade.

The helpers (Sbx, Client, waiting) are scripts/bench's, passed in.
"""

import fcntl, json, os, shutil, signal, struct, termios, threading, time


def snapshot_path(sbx):
    return os.path.join(sbx.home, "data", "snapshots", "default.json")


def count_writes(path, stop, counter):
    seen = None
    while not stop.is_set():
        try:
            ino = os.stat(path).st_ino
            if ino != seen:
                if seen is not None:
                    counter[0] += 1
                seen = ino
        except FileNotFoundError:
            pass
        time.sleep(0.001)


def all_prompts(h, sbx, expect):
    """`expect` panes, each showing something (its shell's prompt; a restored pane runs the
    user's own shell, whose prompt is theirs)."""
    panes = [p["id"] for s in json.loads(sbx.run("ls", "--json")) for t in s["tabs"] for p in t["panes"]]
    return len(panes) >= expect and all(sbx.capture(p).strip() for p in panes)


def twenty_shells(h, sbx):
    """Five sessions of two tabs split in two: 20 shells, each showing its prompt."""
    for i in range(5):
        first = sbx.new_session(f"s{i}", h.SHELL)
        sbx.split(first, True, h.SHELL)
        tab = sbx.new_tab(f"s{i}", h.SHELL)
        sbx.split(tab, False, h.SHELL)
    h.wait_until(lambda: all_prompts(h, sbx, 20), 30, "20 shells")


def restore_time(h, sbx):
    twenty_shells(h, sbx)
    path = snapshot_path(sbx)
    h.wait_until(lambda: os.path.exists(path) and open(path).read().count('"cwd"') == 20, 10, "the snapshot")
    pid = sbx.server_pid()
    os.kill(pid, signal.SIGKILL)
    h.wait_gone(pid)
    start = time.perf_counter()
    sbx.run("new", "-d", "-s", "after", "--", *h.SHELL)
    answered = time.perf_counter() - start
    h.wait_until(lambda: all_prompts(h, sbx, 21), 30, "the 20 restored shells")
    ready = time.perf_counter() - start
    sbx.kill_server()
    return answered * 1000, ready * 1000


def storm(h, sbx):
    first = sbx.new_session("storm", h.SHELL)
    client = h.Client(sbx, "storm")
    path = snapshot_path(sbx)
    h.wait_until(lambda: os.path.exists(path), 10, "the first snapshot")
    stop, resizes, structure = threading.Event(), [0], [0]
    watcher = threading.Thread(target=count_writes, args=(path, stop, resizes), daemon=True)
    watcher.start()
    start = time.perf_counter()
    for i in range(200):
        cols, rows = (200 - i % 40, 52 - i % 10)
        fcntl.ioctl(client.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(client.proc.pid, signal.SIGWINCH)
        time.sleep(0.01)
    resize_s = time.perf_counter() - start
    time.sleep(1)  # what the last change made is written after 500 ms of quiet
    stop.set()
    watcher.join()
    stop = threading.Event()
    watcher = threading.Thread(target=count_writes, args=(path, stop, structure), daemon=True)
    watcher.start()
    start = time.perf_counter()
    for _ in range(20):
        pane = sbx.split(first, True, h.SHELL)
        sbx.run("kill", "-t", pane)
    split_s = time.perf_counter() - start
    time.sleep(1)
    stop.set()
    watcher.join()
    client.close()
    sbx.kill_server()
    return resizes[0], resize_s, structure[0], split_s


TICKER = "python3 -c 'import time\nwhile True: print(time.monotonic(), flush=True); time.sleep(0.001)'"


def longest_gap(stamps, start, end):
    inside = [t for t in stamps if start <= t <= end]
    edges = [start, *inside, end]
    return max(b - a for a, b in zip(edges, edges[1:]))


def upgrade_pause(h, sbx, tmp):
    twenty_shells(h, sbx)
    ticker = sbx.new_session("ticker", h.SHELL)
    client = h.Client(sbx, "ticker")  # attached while quiet: it waits for its first frame to settle
    sbx.send(ticker, TICKER)
    stamps, read = [], client.read

    def stamped(timeout):
        data = read(timeout)
        if data:
            stamps.append(time.monotonic())
        return data

    client.read = stamped
    os.makedirs(os.path.join(tmp, "next"), exist_ok=True)
    nxt = os.path.join(tmp, "next", "sbx")  # named sbx: the bench finds its server by the name
    shutil.copy2(sbx.exe, nxt)
    time.sleep(1)
    start = time.monotonic()
    time.sleep(2)
    quiet_gap = longest_gap(stamps, start, time.monotonic())
    start = time.monotonic()
    sbx.run("upgrade", "--to", nxt)
    took = time.monotonic() - start
    time.sleep(max(0.0, 2 - took))
    gap = longest_gap(stamps, start, time.monotonic())
    client.close()
    sbx.kill_server()
    return took * 1000, gap * 1000, quiet_gap * 1000


def run(h, exe, tmp, quick, log):
    sbx = h.Sbx(exe, os.path.join(tmp, "restore-home"))
    log("restore: 20 panes after SIGKILL")
    answered, ready = restore_time(h, sbx)
    log(f"restore: answered in {answered:.0f} ms, 20 prompts back in {ready:.0f} ms")
    sbx = h.Sbx(exe, os.path.join(tmp, "storm-home"))
    log("restore: snapshot writes under a resize storm and a split storm")
    resizes, resize_s, splits, split_s = storm(h, sbx)
    log(f"restore: {resizes} writes for 200 resizes in {resize_s:.1f} s, {splits} for 40 splits/closes in {split_s:.1f} s")
    sbx = h.Sbx(exe, os.path.join(tmp, "upgrade-home"))
    log("restore: a live upgrade with 21 panes and an attached client")
    took, gap, quiet_gap = upgrade_pause(h, sbx, tmp)
    log(f"restore: upgrade took {took:.0f} ms, longest silence {gap:.0f} ms (without: {quiet_gap:.0f} ms)")
    return {"answered": answered, "ready": ready, "resize_writes": resizes, "resize_s": resize_s,
            "split_writes": splits, "split_s": split_s, "upgrade": took, "upgrade_gap": gap,
            "quiet_gap": quiet_gap}


def table(r):
    return "\n".join([
        "| Measure | sbx |",
        "|---|---:|",
        f"| restore 20 panes after SIGKILL: `sbx new -d` answers (ms) | {r['answered']:.0f} |",
        f"| … until all 20 shells show their prompt (ms) | {r['ready']:.0f} |",
        f"| snapshot writes during 200 client resizes in {r['resize_s']:.1f} s | {r['resize_writes']} |",
        f"| snapshot writes during 20 splits + 20 closes in {r['split_s']:.1f} s | {r['split_writes']} |",
        f"| `sbx upgrade` with 21 panes and an attached client, wall time (ms) | {r['upgrade']:.0f} |",
        f"| longest silence of that client's terminal in the 2 s around the upgrade (ms) | {r['upgrade_gap']:.0f} |",
        f"| … the same over 2 s without an upgrade (ms) | {r['quiet_gap']:.0f} |",
    ])


def explain(r):
    return ("Restore runs before the new server answers its first request, so `sbx new -d` returns once the 20 "
            "panes exist; the shells then start on their own. A snapshot is written once the structure has been "
            "still for 500 ms, and never twice with the same text: a client's resizes change no session's "
            "structure, so they write nothing; a burst of splits and closes is a write or two. A live upgrade "
            "holds every pane's reader (the PTY keeps what is written meanwhile), hands the PTYs, screens and "
            "layout to the new binary through one exec, and the attached client re-executes itself and "
            "reattaches: the silence is what a user sees of it; the pane loses no line. tmux keeps no "
            "snapshot and cannot upgrade in place, so there is no tmux column.")
