#!/usr/bin/env python3
"""Scriptable model-API stub for driving Claude Code and Codex without a real model.

Standard library only (Python 3.8+).  Verified against @anthropic-ai/claude-code 2.1.197
and @openai/codex 0.169.0.

RUN
    python3 stub.py [--port N] [--host 127.0.0.1] [--script PATH] [--log PATH]
    --port 0 (default) picks a free port; the first stdout line is always `PORT <n>`.
    --script PATH   JSON script, re-read on every request (missing/invalid file -> built-in
                    defaults).  Can also be replaced at run time: POST /_stub/script with the
                    JSON as body (overrides the file until POST /_stub/reset).
    --log PATH      JSONL; one line per request:
                    {"t": unix_time, "method", "path", "kind", "body": <parsed JSON or text>,
                     "reply": <the reply object chosen, or null>}
                    kind: "claude" (main turn), "claude-side" (Claude side request without
                    tools: session-title generation), "codex", "codex-side" (Codex thread-title
                    request, no tools), "count_tokens", "other".

Point the CLIs at it:
    Claude: ANTHROPIC_BASE_URL=http://127.0.0.1:PORT ANTHROPIC_API_KEY=dummy
    Codex:  config.toml  model_provider="fake"
            [model_providers.fake] base_url="http://127.0.0.1:PORT/v1" wire_api="responses"
            env_key="STUB_KEY"      (and export STUB_KEY=dummy)

ENDPOINTS
    POST /v1/messages                Claude; SSE when body.stream is true, else one JSON message
    POST /v1/messages/count_tokens   -> {"input_tokens": N}
    POST /v1/responses               Codex; SSE (response.created, output_item.added,
                                     output_text.delta..., output_item.done, response.completed)
    GET  /v1/models                  -> {"data": [], "models": []}
    POST /_stub/script               replace the script (body = script JSON)
    POST /_stub/reset                forget the posted script and consumed queue/once state
    GET  /_stub/requests             all logged requests as a JSON array (in-memory copy)
    GET  /_stub/state                {"queue_pos", "requests", "turns_in_flight"}
    anything else: GET/HEAD -> 200 {} ; POST -> 200 {}  (logged, kind "other")

SCRIPT FORMAT (all keys optional)
    {
      "rules":   [ {"match": "substring of the latest user prompt", "once": false,
                    "reply": REPLY}, ... ],
      "queue":   [ REPLY, REPLY, ... ],     # consumed one per new user prompt that no rule matched
      "default": REPLY,                     # when no rule matched and the queue is empty
      "after_tool": REPLY,                  # reply when the request's last input is a tool result
                                            #   (default: {"text": "Done."})
      "side":    REPLY                      # side requests (no tools in the request: Claude's
                                            #   and Codex's title generation); default
                                            #   {"text": "Stub title"}; when the request asks for
                                            #   a json_schema, the text is wrapped as {"title": text}
    }
    REPLY:
      {"text": "hello"}                                  plain text answer
      {"thinking": "let me see", "text": "hello"}        a thinking block first (with a signature)
      {"text": "...", "delay": 8}                        stream it slowly over 8 s (the turn stays
                                                         "working"; keep-alive events every 0.5 s)
      {"tool": {"name": "Bash", "input": {"command": "touch x", "description": "touch x"}}}
                                                         Claude tool_use block (any tool name, e.g.
                                                         "mcp__sbx__bridge_send_message")
      {"tool": {"name": "exec_command", "input": {"cmd": "touch x"}}}
      {"tool": {"name": "bridge_whoami", "namespace": "mcp__sbx", "input": {}}}
                                                         (a Codex tool offered in a namespace)
                                                         Codex function_call item: `input` is
                                                         JSON-encoded into `arguments` (or give
                                                         "arguments" as a string); optional "id"
                                                         sets the call_id / tool_use id
      {"text": "preface", "tool": {...}, "delay": 2}     text then tool call
      {"codex_item": {...}}                              raw Codex output item (e.g.
                                                         {"type":"local_shell_call",...}),
                                                         emitted verbatim after any text
      {"error": 500, "message": "boom"}                  answer with an HTTP error instead
      {"hang": 30, "text": "late"}                       send nothing for 30 s, then answer (the
                                                         CLI shows its plain "working" spinner;
                                                         Codex: "Working (Ns • esc to interrupt)")
    "tool" may also be a list of tools (several tool calls in one answer).
    The same REPLY works for both CLIs; the stub renders it in each wire format.

    Tool names that work (seen in the requests' `tools` lists):
      Claude 2.1.197: "Bash" {"command", "description"}; MCP tools "mcp__<server>__<tool>".
      Codex 0.169.0: "exec_command" {"cmd": "touch x"} runs sandboxed WITHOUT asking under the
        default policy; add "sandbox_permissions": "require_escalated", "justification": "..."
        to make Codex show its approval dialog.  MCP tools: use the name from the tools list.
    Error replies: Claude retries 5xx/529 a few times, and every retry consumes the next
    queue entry; prefer 400 for a one-shot failure.

    Matching: "latest user prompt" = text of the last user message (Claude: last `messages`
    item with role user, text blocks only; Codex: last `input` item with role user).
    If the last input item is a tool result (Claude tool_result block / Codex
    function_call_output etc.), "after_tool" is used and rules/queue are not consulted —
    except that after a rejected/interrupted tool call Claude puts the next prompt into the
    same user message as the tool_result; such extra text blocks count as a new prompt.
    Example script:
      {"rules": [{"match": "make file", "reply": {"text": "Creating it.",
                   "tool": {"name": "Bash", "input": {"command": "touch x",
                                                      "description": "Create x"}}}},
                 {"match": "slow", "reply": {"text": "Working slowly...", "delay": 10}}],
       "default": {"text": "Hello from the stub."}, "after_tool": {"text": "Done."}}
"""

import argparse
import gzip
import json
import os
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {
    "posted_script": None,
    "queue_pos": 0,
    "once_used": set(),
    "requests": [],
    "in_flight": 0,
}
ARGS = None

DEFAULT_SCRIPT = {
    "default": {"text": "Hello from the stub."},
    "after_tool": {"text": "Done."},
    "side": {"text": "Stub title"},
}


def load_script():
    if STATE["posted_script"] is not None:
        return STATE["posted_script"]
    if ARGS.script:
        try:
            with open(ARGS.script) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            sys.stderr.write("stub: cannot read script %s: %s\n" % (ARGS.script, e))
    return DEFAULT_SCRIPT


def log_request(entry):
    with LOCK:
        STATE["requests"].append(entry)
        if ARGS.log:
            with open(ARGS.log, "a") as f:
                f.write(json.dumps(entry) + "\n")


# ---------------------------------------------------------------- prompt extraction

def _blocks_text(content):
    if isinstance(content, str):
        return content
    out = []
    for b in content or []:
        if isinstance(b, dict) and b.get("type") in ("text", "input_text", "output_text"):
            out.append(b.get("text", ""))
    return "\n".join(out)


def claude_last(body):
    """-> (is_tool_result, last_user_text)"""
    msgs = body.get("messages") or []
    for m in reversed(msgs):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c):
            # A tool result; but after a rejected/interrupted tool call Claude puts the user's
            # next prompt into the same message as extra text blocks.
            extra = [b for b in c if isinstance(b, dict) and b.get("type") == "text"
                     and not b.get("text", "").startswith(("<system-reminder>", "[Request interrupted"))]
            if extra:
                return False, _blocks_text(extra)
            return True, _blocks_text(c)
        return False, _blocks_text(c)
    return False, ""


CODEX_TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output",
                      "mcp_tool_call_output", "tool_search_output")


def codex_last(body):
    items = body.get("input") or []
    if isinstance(items, str):
        return False, items
    if items and isinstance(items[-1], dict) and items[-1].get("type") in CODEX_TOOL_OUTPUTS:
        return True, ""
    for it in reversed(items):
        if isinstance(it, dict) and it.get("role") == "user":
            return False, _blocks_text(it.get("content"))
    return False, ""


def _parts_text(content):
    """The text of OpenAI chat content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text")


def chat_last(body):
    """OpenAI chat completions: -> (is_tool_result, last_user_text)"""
    msgs = body.get("messages") or []
    if msgs and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "tool":
        return True, ""
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "user":
            return False, _parts_text(m.get("content"))
    return False, ""


def gemini_last(body):
    """Gemini generateContent: -> (is_tool_result, last_user_text)"""
    contents = body.get("contents") or []
    if contents:
        parts = contents[-1].get("parts") or []
        if any(isinstance(p, dict) and "functionResponse" in p for p in parts):
            return True, ""
    for c in reversed(contents):
        if c.get("role") == "user":
            texts = [p.get("text", "") for p in c.get("parts") or [] if isinstance(p, dict) and "text" in p]
            if texts:
                return False, "\n".join(texts)
    return False, ""


def json_for_schema(schema, text):
    """An object that fits a side request's JSON schema: enums take "user" when offered (Gemini
    CLI's next-speaker check), else their first value; strings take the reply's text."""
    props = (schema or {}).get("properties") or {}
    out = {}
    for name, prop in props.items():
        kind = str(prop.get("type", "string")).lower()
        if prop.get("enum"):
            out[name] = "user" if "user" in prop["enum"] else prop["enum"][0]
        elif kind == "boolean":
            out[name] = False
        elif kind in ("number", "integer"):
            out[name] = 0
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = json_for_schema(prop, text)
        else:
            out[name] = text
    return out


def choose_reply(is_tool_result, prompt, side=False):
    script = load_script()
    if side:
        return script.get("side", DEFAULT_SCRIPT["side"])  # see Handler.claude for JSON titles
    if is_tool_result:
        return script.get("after_tool", DEFAULT_SCRIPT["after_tool"])
    with LOCK:
        for i, rule in enumerate(script.get("rules") or []):
            m = rule.get("match", "")
            if m in prompt:
                if rule.get("once"):
                    key = json.dumps(rule, sort_keys=True)
                    if key in STATE["once_used"]:
                        continue
                    STATE["once_used"].add(key)
                return rule.get("reply", {"text": ""})
        q = script.get("queue") or []
        if STATE["queue_pos"] < len(q):
            r = q[STATE["queue_pos"]]
            STATE["queue_pos"] += 1
            return r
    return script.get("default", DEFAULT_SCRIPT["default"])


def chunks_of(text, n):
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size = (len(text) + n - 1) // n
    return [text[i:i + size] for i in range(0, len(text), size)]


def tools_of(reply):
    t = reply.get("tool")
    if t is None:
        return []
    return t if isinstance(t, list) else [t]


# ---------------------------------------------------------------- handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agent-stub/1"

    def log_message(self, fmt, *a):
        if ARGS.verbose:
            sys.stderr.write("stub: " + (fmt % a) + "\n")

    # -- plumbing
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        enc = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if enc == "gzip":
                raw = gzip.decompress(raw)
            elif enc == "deflate":
                raw = zlib.decompress(raw)
        except Exception:
            pass
        try:
            return json.loads(raw.decode("utf-8")) if raw else None
        except Exception:
            return {"_raw": raw.decode("utf-8", "replace"), "_encoding": enc}

    def _read_chunked(self):
        data = b""
        while True:
            line = self.rfile.readline().strip()
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def send_json(self, obj, code=200):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def start_sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", "req_stub_" + uuid.uuid4().hex[:12])
        self.end_headers()
        self.close_connection = True

    def sse(self, event, data):
        self.wfile.write(("event: %s\ndata: %s\n\n" % (event, json.dumps(data))).encode())
        self.wfile.flush()

    # -- verbs
    def do_HEAD(self):
        log_request({"t": time.time(), "method": "HEAD", "path": self.path, "kind": "other",
                     "body": None, "reply": None})
        self.send_json({})

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/_stub/requests":
            with LOCK:
                return self.send_json(list(STATE["requests"]))
        if path == "/_stub/state":
            with LOCK:
                return self.send_json({"queue_pos": STATE["queue_pos"],
                                       "requests": len(STATE["requests"]),
                                       "turns_in_flight": STATE["in_flight"]})
        log_request({"t": time.time(), "method": "GET", "path": self.path, "kind": "other",
                     "body": None, "reply": None})
        if path.endswith("/models"):
            return self.send_json({"data": [], "models": []})
        self.send_json({})

    def do_POST(self):
        path = self.path.split("?")[0]
        body = self.read_body()
        if path == "/_stub/script":
            with LOCK:
                STATE["posted_script"] = body
                STATE["queue_pos"] = 0
                STATE["once_used"] = set()
            return self.send_json({"ok": True})
        if path == "/_stub/reset":
            with LOCK:
                STATE["posted_script"] = None
                STATE["queue_pos"] = 0
                STATE["once_used"] = set()
            return self.send_json({"ok": True})
        if path.endswith("/messages/count_tokens"):
            log_request({"t": time.time(), "method": "POST", "path": self.path,
                         "kind": "count_tokens", "body": body, "reply": None})
            return self.send_json({"input_tokens": 42})
        if path.endswith("/messages"):
            return self.claude(body)
        if path.endswith("/responses"):
            return self.codex(body)
        if path.endswith("/chat/completions"):
            return self.chat(body)
        if ":generateContent" in path or ":streamGenerateContent" in path:
            return self.gemini(body, stream=":streamGenerateContent" in path)
        if ":countTokens" in path:
            log_request({"t": time.time(), "method": "POST", "path": self.path,
                         "kind": "count_tokens", "body": body, "reply": None})
            return self.send_json({"totalTokens": 42})
        log_request({"t": time.time(), "method": "POST", "path": self.path, "kind": "other",
                     "body": body, "reply": None})
        self.send_json({})

    # -- common reply handling
    def pre_reply(self, reply):
        """Handle error/hang. Returns True if the request is fully answered."""
        if "error" in reply:
            code = int(reply.get("error") or 500)
            self.send_json({"type": "error", "error": {"type": "api_error",
                            "message": reply.get("message", "stub error")}}, code)
            return True
        if "hang" in reply:
            time.sleep(float(reply["hang"]))
        return False

    # ------------------------------------------------------------ Claude
    def claude(self, body):
        body = body or {}
        is_tool, prompt = claude_last(body)
        side = not body.get("tools")
        reply = choose_reply(is_tool, prompt, side=side)
        log_request({"t": time.time(), "method": "POST", "path": self.path,
                     "kind": "claude-side" if side else "claude", "body": body, "reply": reply})
        if self.pre_reply(reply):
            return
        model = body.get("model", "claude-stub")
        text = reply.get("text", "")
        fmt = ((body.get("output_config") or {}).get("format") or {})
        if side and fmt.get("type") == "json_schema" and not text.lstrip().startswith("{"):
            # structured side request (session title generation): answer {"title": ...}
            props = list(((fmt.get("schema") or {}).get("properties") or {"title": 0}).keys())
            text = json.dumps({props[0] if props else "title": text})
        tools = tools_of(reply)
        delay = float(reply.get("delay", 0))
        stop = "tool_use" if tools else "end_turn"
        msg_id = "msg_stub_" + uuid.uuid4().hex[:20]
        usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        blocks = []
        if reply.get("thinking"):
            blocks.append({"type": "thinking", "thinking": reply["thinking"],
                           "signature": "stub-signature-" + uuid.uuid4().hex[:16]})
        if text:
            blocks.append({"type": "text", "text": text})
        for t in tools:
            blocks.append({"type": "tool_use", "id": t.get("id") or "toolu_stub_" + uuid.uuid4().hex[:16],
                           "name": t["name"], "input": t.get("input", {})})
        if not blocks:
            blocks.append({"type": "text", "text": ""})

        if not body.get("stream"):
            return self.send_json({"id": msg_id, "type": "message", "role": "assistant",
                                   "model": model, "content": blocks, "stop_reason": stop,
                                   "stop_sequence": None, "usage": usage})
        with LOCK:
            STATE["in_flight"] += 1
        try:
            self.start_sse()
            self.sse("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}})
            self.sse("ping", {"type": "ping"})
            for idx, b in enumerate(blocks):
                if b["type"] == "thinking":
                    self.sse("content_block_start", {"type": "content_block_start", "index": idx,
                                                     "content_block": {"type": "thinking", "thinking": "",
                                                                       "signature": ""}})
                    self.sse("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                     "delta": {"type": "thinking_delta", "thinking": b["thinking"]}})
                    self.sse("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                     "delta": {"type": "signature_delta", "signature": b["signature"]}})
                elif b["type"] == "text":
                    self.sse("content_block_start", {"type": "content_block_start", "index": idx,
                                                     "content_block": {"type": "text", "text": ""}})
                    pieces = chunks_of(b["text"], max(1, int(delay * 2)) if delay else 4)
                    per = (delay / len(pieces)) if (delay and pieces) else 0
                    for p in pieces:
                        if per:
                            self._sleep_with_pings(per, lambda: self.sse("ping", {"type": "ping"}))
                        self.sse("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                         "delta": {"type": "text_delta", "text": p}})
                else:
                    if delay and not text:
                        self._sleep_with_pings(delay, lambda: self.sse("ping", {"type": "ping"}))
                    self.sse("content_block_start", {"type": "content_block_start", "index": idx,
                                                     "content_block": {"type": "tool_use", "id": b["id"],
                                                                       "name": b["name"], "input": {}}})
                    self.sse("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                     "delta": {"type": "input_json_delta",
                                                               "partial_json": json.dumps(b["input"])}})
                self.sse("content_block_stop", {"type": "content_block_stop", "index": idx})
            self.sse("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": stop, "stop_sequence": None},
                                       "usage": {"output_tokens": 5}})
            self.sse("message_stop", {"type": "message_stop"})
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    def _sleep_with_pings(self, seconds, ping):
        end = time.time() + seconds
        while True:
            left = end - time.time()
            if left <= 0:
                return
            time.sleep(min(0.5, left))
            if end - time.time() > 0:
                ping()

    # ------------------------------------------------------------ Codex
    def codex(self, body):
        body = body or {}
        is_tool, prompt = codex_last(body)
        # Side requests (thread-title generation) carry no tools and a json_schema text format.
        side = not body.get("tools")
        reply = choose_reply(is_tool, prompt, side=side)
        log_request({"t": time.time(), "method": "POST", "path": self.path,
                     "kind": "codex-side" if side else "codex", "body": body, "reply": reply})
        if self.pre_reply(reply):
            return
        text = reply.get("text", "")
        fmt = ((body.get("text") or {}).get("format") or {})
        if side and fmt.get("type") == "json_schema" and not text.lstrip().startswith("{"):
            props = list(((fmt.get("schema") or {}).get("properties") or {"title": 0}).keys())
            text = json.dumps({props[0] if props else "title": text})
        tools = tools_of(reply)
        delay = float(reply.get("delay", 0))
        resp_id = "resp_stub_" + uuid.uuid4().hex[:20]
        model = body.get("model", "stub-model")
        seq = [0]

        def ev(kind, data):
            data = dict(data)
            data["type"] = kind
            data["sequence_number"] = seq[0]
            seq[0] += 1
            self.sse(kind, data)

        resp_obj = {"id": resp_id, "object": "response", "created_at": int(time.time()),
                    "status": "in_progress", "model": model, "output": []}
        outputs = []
        with LOCK:
            STATE["in_flight"] += 1
        try:
            self.start_sse()
            ev("response.created", {"response": resp_obj})
            ev("response.in_progress", {"response": resp_obj})
            oi = 0
            if text or not (tools or reply.get("codex_item")):
                item_id = "msg_stub_" + uuid.uuid4().hex[:16]
                ev("response.output_item.added", {"output_index": oi, "item": {
                    "id": item_id, "type": "message", "role": "assistant", "status": "in_progress",
                    "content": []}})
                ev("response.content_part.added", {"item_id": item_id, "output_index": oi,
                                                   "content_index": 0,
                                                   "part": {"type": "output_text", "text": "", "annotations": []}})
                pieces = chunks_of(text, max(1, int(delay * 2)) if delay else 4)
                per = (delay / len(pieces)) if (delay and pieces) else 0
                for p in pieces:
                    if per:
                        self._sleep_with_pings(per, lambda: self.sse(
                            "keepalive", {"type": "response.stub_keepalive"}))
                    ev("response.output_text.delta", {"item_id": item_id, "output_index": oi,
                                                      "content_index": 0, "delta": p})
                ev("response.output_text.done", {"item_id": item_id, "output_index": oi,
                                                 "content_index": 0, "text": text})
                item = {"id": item_id, "type": "message", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}
                ev("response.output_item.done", {"output_index": oi, "item": item})
                outputs.append(item)
                oi += 1
            elif delay:
                self._sleep_with_pings(delay, lambda: self.sse(
                    "keepalive", {"type": "response.stub_keepalive"}))
            for t in tools:
                args = t.get("arguments")
                if args is None:
                    args = json.dumps(t.get("input", {}))
                elif not isinstance(args, str):
                    args = json.dumps(args)
                item = {"id": "fc_stub_" + uuid.uuid4().hex[:16], "type": "function_call",
                        "status": "completed", "name": t["name"], "arguments": args,
                        "call_id": t.get("id") or "call_stub_" + uuid.uuid4().hex[:16]}
                if t.get("namespace"):  # a tool Codex offered inside a namespace (its MCP servers)
                    item["namespace"] = t["namespace"]
                added = dict(item, status="in_progress", arguments="")
                ev("response.output_item.added", {"output_index": oi, "item": added})
                ev("response.function_call_arguments.delta", {"item_id": item["id"], "output_index": oi,
                                                              "delta": args})
                ev("response.function_call_arguments.done", {"item_id": item["id"], "output_index": oi,
                                                             "arguments": args})
                ev("response.output_item.done", {"output_index": oi, "item": item})
                outputs.append(item)
                oi += 1
            if reply.get("codex_item"):
                item = reply["codex_item"]
                ev("response.output_item.added", {"output_index": oi, "item": item})
                ev("response.output_item.done", {"output_index": oi, "item": item})
                outputs.append(item)
            done = dict(resp_obj, status="completed", output=outputs, usage={
                "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 15})
            ev("response.completed", {"response": done})
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with LOCK:
                STATE["in_flight"] -= 1


    # ------------------------------------------------------------ OpenAI chat completions
    def chat(self, body):
        """opencode, Qwen Code, Grok CLI, Cline: POST /v1/chat/completions, streamed as
        chat.completion.chunk events and `data: [DONE]` (one JSON object when not streaming)."""
        body = body or {}
        is_tool, prompt = chat_last(body)
        side = not body.get("tools")
        reply = choose_reply(is_tool, prompt, side=side)
        log_request({"t": time.time(), "method": "POST", "path": self.path,
                     "kind": "chat-side" if side else "chat", "body": body, "reply": reply})
        if self.pre_reply(reply):
            return
        text = reply.get("text", "")
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and not text.lstrip().startswith("{"):
            text = json.dumps(json_for_schema((fmt.get("json_schema") or {}).get("schema"), text))
        tools = tools_of(reply)
        calls = [{"id": t.get("id") or "call_stub_" + uuid.uuid4().hex[:16], "type": "function",
                  "function": {"name": t["name"], "arguments": t["arguments"] if isinstance(
                      t.get("arguments"), str) else json.dumps(t.get("input", {}))}} for t in tools]
        cid, model, created = "chatcmpl-stub" + uuid.uuid4().hex[:12], body.get("model", "stub-model"), int(time.time())
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            msg = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            return self.send_json({"id": cid, "object": "chat.completion", "created": created, "model": model,
                                   "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                                   "usage": usage})

        def chunk(delta, finish_reason=None, **extra):
            data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            data.update(extra)
            self.wfile.write(("data: " + json.dumps(data) + "\n\n").encode())
            self.wfile.flush()

        delay = float(reply.get("delay", 0))
        with LOCK:
            STATE["in_flight"] += 1
        try:
            self.start_sse()
            chunk({"role": "assistant", "content": ""})
            pieces = chunks_of(text, max(1, int(delay * 2)) if delay else 4)
            per = (delay / len(pieces)) if (delay and pieces) else delay
            if not pieces and delay:
                self._sleep_with_pings(delay, lambda: self.wfile.write(b": keepalive\n\n"))
            for p in pieces:
                if per:
                    self._sleep_with_pings(per, lambda: self.wfile.write(b": keepalive\n\n"))
                chunk({"content": p})
            for i, c in enumerate(calls):
                chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                       "function": {"name": c["function"]["name"], "arguments": ""}}]})
                chunk({"tool_calls": [{"index": i, "function": {"arguments": c["function"]["arguments"]}}]})
            chunk({}, finish)
            chunk({}, None, usage=usage) if (body.get("stream_options") or {}).get("include_usage") else None
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    # ------------------------------------------------------------ Gemini
    def gemini(self, body, stream):
        """Gemini CLI: POST /v1beta/models/M:streamGenerateContent?alt=sse (SSE of
        GenerateContentResponse) or :generateContent (one response; its side requests ask
        for JSON with a schema)."""
        body = body or {}
        is_tool, prompt = gemini_last(body)
        side = not body.get("tools")
        reply = choose_reply(is_tool, prompt, side=side)
        log_request({"t": time.time(), "method": "POST", "path": self.path,
                     "kind": "gemini-side" if side else "gemini", "body": body, "reply": reply})
        if "error" in reply:
            code = int(reply.get("error") or 500)
            return self.send_json({"error": {"code": code, "message": reply.get("message", "stub error"),
                                             "status": "INTERNAL"}}, code)
        if "hang" in reply:
            time.sleep(float(reply["hang"]))
        text = reply.get("text", "")
        cfg = body.get("generationConfig") or {}
        schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema")
        if cfg.get("responseMimeType") == "application/json" and not text.lstrip().startswith("{"):
            text = json.dumps(json_for_schema(schema, text))
        calls = [{"functionCall": {"name": t["name"], "args": t.get("input", {}),
                                   **({"id": t["id"]} if t.get("id") else {})}} for t in tools_of(reply)]
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}

        def response(parts, finish=None):
            cand = {"content": {"role": "model", "parts": parts}, "index": 0}
            if finish:
                cand["finishReason"] = finish
            return {"candidates": [cand], "usageMetadata": usage, "modelVersion": "stub-model"}

        if not stream:
            return self.send_json(response(([{"text": text}] if text else []) + calls, "STOP"))
        delay = float(reply.get("delay", 0))
        with LOCK:
            STATE["in_flight"] += 1
        try:
            self.start_sse()
            pieces = chunks_of(text, max(1, int(delay * 2)) if delay else 4)
            per = (delay / len(pieces)) if (delay and pieces) else delay
            if not pieces and delay:
                time.sleep(delay)
            events = [response([{"text": p}]) for p in pieces]
            if calls:
                events.append(response(calls))
            if not events:
                events.append(response([{"text": ""}]))
            events[-1]["candidates"][0]["finishReason"] = "STOP"
            for i, e in enumerate(events):
                if per and i < len(pieces):
                    time.sleep(per)
                self.wfile.write(("data: " + json.dumps(e) + "\r\n\r\n").encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with LOCK:
                STATE["in_flight"] -= 1


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script")
    ap.add_argument("--log")
    ap.add_argument("--verbose", action="store_true")
    ARGS = ap.parse_args()
    ThreadingHTTPServer.request_queue_size = 64
    srv = ThreadingHTTPServer((ARGS.host, ARGS.port), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
