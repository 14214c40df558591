"""An independent client of echokit_pty's WebSocket protocol (Python's `websockets`), as
echokit's own browser page and echokit_server speak it, against sbx's web front.

    echokit_client.py BASE COOKIE STEPS

BASE is http://127.0.0.1:PORT (or https://, trusting only the certificate in $SBX_TEST_CAFILE),
COOKIE the session cookie (name=value). Prints one JSON object of what the server answered at
each step; the Rust test asserts on it.
"""

import json, os, ssl, sys, time, urllib.request

from websockets.sync.client import connect

base, cookie, steps = sys.argv[1], sys.argv[2], sys.argv[3]
ws_base = base.replace("https://", "wss://").replace("http://", "ws://")
tls = ssl.create_default_context(cafile=os.environ["SBX_TEST_CAFILE"]) if base.startswith("https://") else None
seen = {}


def open_ws(ident):
    return connect(f"{ws_base}/ws/{ident}", additional_headers={"Cookie": cookie}, open_timeout=20, ssl=tls)


def recv(ws, timeout=20):
    return json.loads(ws.recv(timeout=timeout))


def first_not_output(ws):
    """The next message that is neither terminal output nor what the agent said (those are
    kept in seen["said"])."""
    while True:
        msg = recv(ws)
        if msg["type"] in ("session_output", "session_tool_request"):
            seen.setdefault("said", []).append(msg)
        elif msg["type"] != "session_pty_output":
            return msg


def output_until(ws, text, timeout=20):
    out, deadline = "", time.monotonic() + timeout
    while text not in out:
        msg = recv(ws, max(0.1, deadline - time.monotonic()))
        if msg["type"] == "session_pty_output":
            out += msg["output"]
    return out


def post(ident, message):
    req = urllib.request.Request(f"{base}/api/{ident}/input", data=json.dumps(message).encode(),
                                 headers={"Content-Type": "application/json", "Cookie": cookie}, method="POST")
    with urllib.request.urlopen(req, timeout=20, context=tls) as r:
        return json.loads(r.read())


if steps == "shell":
    with open_ws("no-such-pane") as ws:
        ws.send(json.dumps({"type": "get_current_state"}))
        seen["not_found"] = recv(ws)
        ws.send("this is not json")
        seen["unparsable"] = recv(ws)
    with open_ws("not-a-uuid") as ws:
        ws.send(json.dumps({"type": "create_session"}))
        seen["bad_uuid"] = recv(ws)
    # A new session when the server cannot start Claude (not on its PATH).
    with open_ws("6f1c8d3e-2b4a-4c7e-9d1f-0a2b3c4d5e6f") as ws:
        ws.send(json.dumps({"type": "create_session"}))
        seen["cannot_start"] = recv(ws)
    with open_ws("box") as ws:
        ws.send(json.dumps({"type": "create_session"}))
        seen["state"] = first_not_output(ws)
        ws.send(json.dumps({"type": "Confirm"}))
        seen["confirm"] = first_not_output(ws)
        ws.send(json.dumps({"type": "input", "input": "echo typed-over-ws-$((6*7))"}))
        seen["echo"] = output_until(ws, "typed-over-ws-42")
        ws.send("echo bytes-$((3*3))\r".encode())
        seen["bytes_echo"] = output_until(ws, "bytes-9")
    seen["http"] = post("box", {"type": "get_current_state"})
    seen["http_not_found"] = post("no-such-pane", {"type": "CurrentState"})
    # The shell exits: the socket says the session ended.
    with open_ws("box") as ws:
        ws.send(json.dumps({"type": "input", "input": "exit"}))
        while True:
            msg = first_not_output(ws)
            if msg["type"] == "session_ended":
                seen["ended"] = msg
                break

if steps == "tls":
    with open_ws("box") as ws:
        ws.send(json.dumps({"type": "input", "input": "echo over-wss-$((7*6))"}))
        seen["echo"] = output_until(ws, "over-wss-42")
    seen["http"] = post("box", {"type": "get_current_state"})

def pending_after(ws, prompt, between=None):
    """Type a prompt; the session_pending it leads to (what came before goes to `between`)."""
    ws.send(json.dumps({"type": "input", "input": prompt}))
    while True:
        msg = first_not_output(ws)
        if msg["type"] == "session_pending":
            return msg
        if between is not None:
            between.append(msg)


def until_idle(ws):
    while True:
        msg = first_not_output(ws)
        if msg["type"] == "session_idle":
            return msg


if steps == "flood":
    # Three viewers of a pane writing 6 MB: each is sent screens, not the flood, and follows
    # the output again after it.
    viewers = [open_ws("box") for _ in range(3)]
    for ws in viewers:
        ws.send(json.dumps({"type": "get_current_state"}))
        first_not_output(ws)
    viewers[0].send(json.dumps({"type": "input", "input": "yes | head -c 6000000; echo flood-$((2*21))-over"}))
    seen["flood"] = []
    for ws in viewers:
        received, resets, screen = 0, 0, ""
        while "flood-42-over" not in screen:
            msg = recv(ws, 60)
            if msg["type"] != "session_pty_output":
                continue
            received += len(msg["output"])
            if "\x1bc" in msg["output"]:
                resets += 1
                screen = msg["output"].rsplit("\x1bc", 1)[1]
            else:
                screen += msg["output"]
        seen["flood"].append({"received": received, "resets": resets})
    # Then each follows the output again: a line typed shows up as output, not as a screen
    # (the first lines may still meet the flood's last screen; a viewer stuck in screens never
    # gets there).
    seen["after"] = [None] * len(viewers)
    for n in range(20):
        viewers[1].send(json.dumps({"type": "input", "input": f"echo after-{n}-$((3*3))"}))
        for i, ws in enumerate(viewers):
            out, reset = "", False
            while f"after-{n}-9" not in out:
                msg = recv(ws, 20)
                if msg["type"] == "session_pty_output":
                    out += msg["output"]
                    reset = reset or "\x1bc" in msg["output"]
            if not reset and seen["after"][i] is None:
                seen["after"][i] = n
        if all(a is not None for a in seen["after"]):
            break
    for ws in viewers:
        ws.close()

if steps == "claude":
    with open_ws("writer") as ws:
        ws.send(json.dumps({"type": "get_current_state"}))
        seen["state"] = first_not_output(ws)
        # Working, then waiting on the permission (what came between is kept too).
        seen["between"] = []
        seen["pending"] = pending_after(ws, "make a file please", seen["between"])
        # Typed input is refused while it waits.
        ws.send(json.dumps({"type": "input", "input": "not now"}))
        seen["busy"] = first_not_output(ws)
        ws.send(json.dumps({"type": "confirm"}))
        seen["after"] = until_idle(ws)
        # Cancel: the command is refused, the agent idle again.
        seen["pending_cancel"] = pending_after(ws, "try another file")
        ws.send(json.dumps({"type": "cancel"}))
        seen["after_cancel"] = until_idle(ws)
        # Select: the dialog's second option (allow, and do not ask again).
        seen["pending_select"] = pending_after(ws, "pick for me")
        ws.send(json.dumps({"type": "select", "index": 12}))
        seen["select_out_of_range"] = first_not_output(ws)
        ws.send(json.dumps({"type": "select", "index": 1}))
        seen["after_select"] = until_idle(ws)

print(json.dumps(seen))
