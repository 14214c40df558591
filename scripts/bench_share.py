"""Sharing benchmark for scripts/bench: seal + send + open of a 100 MB transcript through a relay
on loopback, against `tar czf - | age -R` and `age -d | tar xzf -` on the same file.

Goal: sbx no slower than the pipeline (issue 12; the first sharing issue asked for 1.5×).
"""

import json, os, random, subprocess, time

SESSION = "0b5e55ed-1111-4222-8333-444455556666"


def transcript(path, size):
    """Claude-like JSONL: varied prose in messages, ids and timestamps; compresses like a real one."""
    rng = random.Random(7)
    words = ("the a function returns value error file test build cargo rust agent pane session message "
             "relay friend open send sealed bytes signature manifest tool result output line check fix "
             "refactor module import struct impl trait async await tokio thread lock write read").split()
    with open(path, "w") as f:
        n = 0
        i = 0
        while n < size:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 200)))
            rec = {"parentUuid": f"{i - 1:08x}-0000", "isSidechain": False, "type": "user" if i % 2 else "assistant",
                   "message": {"role": "user" if i % 2 else "assistant", "content": text},
                   "uuid": f"{i:08x}-{rng.getrandbits(64):016x}", "timestamp": f"2026-11-22T04:{i % 60:02d}:00.000Z",
                   "sessionId": SESSION, "cwd": "/tmp/bench-project", "version": "2.1.197"}
            line = json.dumps(rec) + "\n"
            f.write(line)
            n += len(line)
            i += 1


def timed(argv, env=None, shell=False):
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def run(exe, tmp, quick, log):
    size = (20 if quick else 100) * 10**6
    relay = subprocess.Popen([exe, "relay", "--addr", "127.0.0.1:0", "--rate-limit", "0", "--challenge-limit", "0",
                              "--max-blob-size", str(200 * 2**20), "--db", os.path.join(tmp, "share-relay.db")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = relay.stdout.readline().split()[-1]
    try:
        people = {}
        for who in ("alice", "bob"):
            home = os.path.join(tmp, f"share-{who}")
            os.makedirs(home)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SBX_")}
            env.update(SBX_HOME=home, HOME=home, SBX_RELAY=url, CLAUDE_CONFIG_DIR=os.path.join(home, "claude"),
                       CODEX_HOME=os.path.join(home, "codex"))
            out = subprocess.run([exe, "id", "--json"], env=env, check=True, capture_output=True, text=True).stdout
            people[who] = (env, home, json.loads(out)["echo_id"])
        (aenv, ahome, aid), (benv, bhome, bid) = people["alice"], people["bob"]
        subprocess.run([exe, "friend", "add", "bob", bid], env=aenv, check=True, capture_output=True)
        subprocess.run([exe, "friend", "add", "alice", aid], env=benv, check=True, capture_output=True)
        project = os.path.join(ahome, "claude", "projects", "-tmp-bench-project")
        os.makedirs(project)
        path = os.path.join(project, f"{SESSION}.jsonl")
        log(f"share: writing a {size // 10**6} MB transcript")
        transcript(path, size)
        real = os.path.getsize(path)
        dest = os.path.join(bhome, "proj")
        os.makedirs(dest)
        log("share: sbx send (seal + post) and sbx open (fetch + check + install)")
        send = timed([exe, "send", "bob", SESSION], env=aenv)
        # Bob's inbox downloads the envelope and checks its sender; open does the rest. Both count.
        t0 = time.perf_counter()
        blob = json.loads(subprocess.run([exe, "inbox", "--json"], env=benv, check=True, capture_output=True,
                                         text=True).stdout)[0]["id"]
        inbox = time.perf_counter() - t0
        open_ = inbox + timed([exe, "open", blob, "--dir", dest], env=benv)
        log("share: tar czf - | age -R, then age -d | tar xzf -")
        pub = os.path.join(bhome, "config", "identity.pub")
        key = os.path.join(bhome, "config", "identity")
        out = os.path.join(tmp, "pipe.age")
        seal_pipe = timed(f"tar czf - -C {project} {SESSION}.jsonl | age -R {pub} > {out}", shell=True)
        unpack = os.path.join(tmp, "pipe-out")
        os.makedirs(unpack)
        open_pipe = timed(f"age -d -i {key} {out} | tar xzf - -C {unpack}", shell=True)
        same = open(os.path.join(unpack, f"{SESSION}.jsonl"), "rb").read() == open(path, "rb").read()
        assert same, "the pipeline did not round-trip"
        return {"mb": real / 10**6, "send": send, "open": open_, "seal_pipe": seal_pipe, "open_pipe": open_pipe,
                "envelope_mb": os.path.getsize(out) / 10**6}
    finally:
        relay.terminate()
        relay.wait(timeout=30)


def table(r):
    yes = lambda ok: "yes" if ok else "**no**"
    total, pipe = r["send"] + r["open"], r["seal_pipe"] + r["open_pipe"]
    rows = [
        ("metric", "sbx", "tar + gzip + age", "ratio", "goal", "met?"),
        ("---", "---:", "---:", "---:", "---", "---"),
        (f"seal {r['mb']:.0f} MB transcript (sbx: + post to the relay) (s)", f"{r['send']:.2f}", f"{r['seal_pipe']:.2f}",
         f"{r['send'] / r['seal_pipe']:.2f}×", "", ""),
        ("open (sbx: `sbx inbox` fetch + header check, then `sbx open`: decrypt + verify + install) (s)", f"{r['open']:.2f}", f"{r['open_pipe']:.2f}",
         f"{r['open'] / r['open_pipe']:.2f}×", "", ""),
        ("seal + send + open, total (s)", f"{total:.2f}", f"{pipe:.2f}", f"{total / pipe:.2f}×", "≤ 1.0×",
         yes(total <= pipe)),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def explain(r):
    return f"""How the sharing figures are taken: a synthetic {r['mb']:.0f} MB Claude Code transcript (JSONL \
records with varied prose, which compresses as real ones do; the pipeline's envelope is \
{r['envelope_mb']:.1f} MB). sbx: `sbx send bob ID` (hash, sign, tar, gzip, age-encrypt to Bob's ssh-ed25519 \
key, post to a relay on 127.0.0.1), then Bob's `sbx inbox` (fetch, decrypt the header, verify the sender) \
and `sbx open ID` (decrypt, unpack within bounds, verify signature and hashes, install atomically, delete \
from the relay), both timed. The pipeline: \
`tar czf - FILE | age -R bob.pub` and `age -d -i bob | tar xzf -`, the same gzip level, two processes in \
parallel, no signature, no network."""
