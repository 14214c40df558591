"""Messages between friends' machines for scripts/bench (sbx only: tmux has nothing like it).

Two homes (Alice, Bob), both servers running, a real `sbx relay` on loopback:

- send → delivered: Alice runs `sbx msg send bob/user …` while Bob's `sbx msg wait` is already
  waiting; the time from starting Alice's command until Bob's prints the message (seal, post,
  Bob's long-poll, fetch, open, check, store, Bob's wait answered), p50/p99 over N messages;
- sustained: M letters wait on the relay (Bob's server stopped meanwhile); Bob's server starts,
  and the time until all M are in his store and Alice has every receipt gives messages/s.
"""

import json, os, sqlite3, subprocess, time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def count(home, query):
    db = os.path.join(home, "data", "bridge", "bridge.db")
    try:
        with sqlite3.connect(db) as c:
            return c.execute(query).fetchone()[0]
    except sqlite3.Error:
        return 0


def run(exe, tmp, quick, log):
    n, m = (30, 100) if quick else (200, 1000)
    relay = subprocess.Popen([exe, "relay", "--addr", "127.0.0.1:0", "--rate-limit", "0", "--challenge-limit", "0",
                              "--mailbox-max-blobs", "0", "--db", os.path.join(tmp, "friends-relay.db")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = relay.stdout.readline().split()[-1]
    people = {}
    try:
        for who in ("alice", "bob"):
            home = os.path.join(tmp, f"friends-{who}")
            os.makedirs(home)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SBX_")}
            env.update(SBX_HOME=home, HOME=home, SBX_RELAY=url)
            out = subprocess.run([exe, "id", "--json"], env=env, check=True, capture_output=True, text=True).stdout
            people[who] = (env, home, json.loads(out)["echo_id"])
        (aenv, ahome, aid), (benv, bhome, bid) = people["alice"], people["bob"]

        def sbx(env, *args):
            return subprocess.run([exe, *args], env=env, check=True, capture_output=True, text=True).stdout

        sbx(aenv, "friend", "add", "bob", bid)
        sbx(benv, "friend", "add", "alice", aid)
        sbx(aenv, "new", "-d", "-s", "a")
        sbx(benv, "new", "-d", "-s", "b")
        # A message goes only once Bob's sbx has said he added Alice back.
        while json.loads(sbx(aenv, "friend", "sessions", "bob", "--json"))["added_you_back"] is not True:
            time.sleep(0.1)
        log(f"friends: {n} messages, send → in the friend's inbox")
        times = []
        for i in range(n + 3):
            wait = subprocess.Popen([exe, "msg", "wait", "--timeout", "60", "--json"], env=benv,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(0.05)  # the wait registered before the send (outside the timing)
            t0 = time.perf_counter()
            sbx(aenv, "msg", "send", "bob/user", f"latency {i}")
            got = wait.stdout.read()
            took = (time.perf_counter() - t0) * 1000
            wait.wait()
            if f"latency {i}" not in got:
                raise RuntimeError(f"message {i} did not arrive: {got}")
            ids = [str(x["id"]) for x in json.loads(got)["messages"]]
            sbx(benv, "msg", "mark-read", *ids)
            if i >= 3:  # the first ones warm the connections
                times.append(took)
        log(f"friends: p50 {pct(times, 50):.1f} ms, p99 {pct(times, 99):.1f} ms")

        log(f"friends: {m} letters waiting on the relay, then drained")
        sbx(benv, "kill-server")
        before = count(bhome, "SELECT count(*) FROM messages WHERE kind = 'remote'")
        for i in range(m):
            sbx(aenv, "msg", "send", "bob/user", f"bulk {i}")
        posted = "SELECT count(*) FROM outbox WHERE message > 0 AND posted IS NOT NULL"
        deadline = time.monotonic() + 300
        while count(ahome, posted) < n + 3 + m and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.perf_counter()
        sbx(benv, "new", "-d", "-s", "b2")
        held = "SELECT count(*) FROM messages WHERE kind = 'remote'"
        while count(bhome, held) < before + m and time.monotonic() < deadline:
            time.sleep(0.01)
        delivered_s = time.perf_counter() - t0
        receipts = "SELECT count(*) FROM outbox WHERE message > 0 AND delivered IS NOT NULL"
        while count(ahome, receipts) < n + 3 + m and time.monotonic() < deadline:
            time.sleep(0.01)
        receipted_s = time.perf_counter() - t0
        log(f"friends: {m} delivered in {delivered_s:.2f} s ({m / delivered_s:.0f}/s), receipts back in {receipted_s:.2f} s")
        return {"n": n, "p50": pct(times, 50), "p99": pct(times, 99), "m": m,
                "delivered": delivered_s, "receipted": receipted_s}
    finally:
        for env, _, _ in people.values():
            subprocess.run([exe, "kill-server"], env=env, capture_output=True)
        relay.terminate()
        relay.wait()


def table(r):
    return "\n".join([
        "| Measure | sbx |",
        "|---|---:|",
        f"| send → in the friend's inbox, p50 (ms, {r['n']} messages) | {r['p50']:.1f} |",
        f"| … p99 (ms) | {r['p99']:.1f} |",
        f"| {r['m']} letters waiting on the relay: all in the friend's store (s) / messages per second | "
        f"{r['delivered']:.2f} / {r['m'] / r['delivered']:.0f} |",
        f"| … and every receipt back at the sender (s) | {r['receipted']:.2f} |",
    ])


def explain(r):
    return ("Each message is sealed (age to the friend's key, signed inside), posted to the friend's mailbox on "
            "the relay, taken by the friend's server on its long-poll, fetched, opened and checked, stored in its "
            "bridge and deleted from the relay; the friend's server then posts a receipt the same way. The latency "
            "includes starting the `sbx msg send` process and the friend's `sbx msg wait` answering. Both servers, "
            "the relay and the commands share the machine's 2 cores.")
