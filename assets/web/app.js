// sbx's web view: the panes of the server with their agents' states, the selected pane as a
// live terminal (echokit's protocol on /ws/ID), a card for an agent waiting on a tool, and
// the bridge read-only (the user's inbox, channels, what agents sent each other).
// Everything from the server is put in the page as text (textContent), never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
let selected = null; // the pane id shown
let socket = null;
let term = null;

// Queries in the stream (cursor position, device attributes, modes, colours, settings) were
// answered by sbx's own engine already: xterm.js must not answer them again, or the pane gets
// each reply twice. They are swallowed in its parser, so every key the user presses — Shift+F3
// is ESC [ 1 ; 2 R, the same bytes as a cursor report — still goes through.
function swallowQueries(t) {
  const csi = [{ final: "n" }, { prefix: "?", final: "n" }, { final: "c" }, { prefix: ">", final: "c" },
    { prefix: "=", final: "c" }, { intermediates: "$", final: "p" }, { prefix: "?", intermediates: "$", final: "p" },
    { prefix: ">", final: "q" }, { prefix: "?", final: "u" }];
  for (const id of csi) t.parser.registerCsiHandler(id, () => true);
  t.parser.registerDcsHandler({ intermediates: "$", final: "q" }, () => true);
  t.parser.registerDcsHandler({ intermediates: "+", final: "q" }, () => true);
  // A colour query (`?`) is swallowed; setting a colour goes on to xterm.js.
  for (const osc of [4, 10, 11, 12]) t.parser.registerOscHandler(osc, (data) => data.includes("?"));
}

function panesOf(sessions) {
  const out = [];
  for (const s of sessions) for (const t of s.tabs) for (const p of t.panes) out.push(p);
  return out;
}

function stateOf(p) {
  if (!p.alive) return "exited";
  return p.agent ? p.agent.state : "shell";
}

function describe(p) {
  const name = p.label || p.id;
  return p.agent ? `${name} · ${p.agent.kind}` : `${name} · ${p.title || p.command.join(" ") || "shell"}`;
}

async function refresh() {
  const response = await fetch("/api/panes", { credentials: "same-origin" });
  if (!response.ok) { $("title").textContent = "not logged in: open the link sbx web prints"; return; }
  const panes = panesOf(await response.json());
  const list = $("panes");
  list.replaceChildren();
  for (const p of panes) {
    const li = document.createElement("li");
    li.dataset.pane = p.id;
    li.className = p.id === selected ? "selected" : "";
    const name = document.createElement("span");
    name.textContent = describe(p);
    const state = document.createElement("span");
    state.className = "badge " + stateOf(p);
    state.textContent = stateOf(p);
    const session = document.createElement("span");
    session.className = "session";
    session.textContent = p.session;
    li.append(name, session, state);
    li.addEventListener("click", () => { select(p); $("sidebar").classList.remove("open"); });
    list.append(li);
  }
  if (!selected && panes.length) select(panes[0]);
  const shown = panes.find((p) => p.id === selected);
  if (shown) showState(shown);
}

function showState(p) {
  $("title").textContent = describe(p);
  const badge = $("state");
  badge.className = "badge " + stateOf(p);
  badge.textContent = stateOf(p);
}

function showCard(msg) {
  if (msg.type !== "session_pending") { $("card").hidden = true; return; }
  $("card-tool").textContent = msg.tool_name || "an answer";
  const input = msg.tool_input;
  const text = input && typeof input === "object" && typeof input.command === "string" ? input.command
    : JSON.stringify(input, null, 2);
  $("card-input").textContent = text === "null" ? "" : text;
  $("card").hidden = false;
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function select(p) {
  selected = p.id;
  for (const li of document.querySelectorAll("#panes li")) li.classList.toggle("selected", li.dataset.pane === p.id);
  showState(p);
  $("card").hidden = true;
  if (socket) socket.close();
  if (term) term.dispose();
  term = new Terminal({ cols: p.cols, rows: p.rows, scrollback: 5000, convertEol: false,
    fontSize: fontFor(p.cols), theme: { background: "#1b1d23" } });
  swallowQueries(term);
  term.open($("terminal"));
  term.onData((data) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(new TextEncoder().encode(data));
  });
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/${encodeURIComponent(p.id)}`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "get_current_state" }));
  ws.onmessage = (event) => {
    if (ws !== socket) return;
    const msg = JSON.parse(event.data);
    if (msg.type === "session_pty_output") { term.write(msg.output); return; }
    // What the agent said (its transcript): the terminal shows it already.
    if (msg.type === "session_output") return;
    if (msg.type === "session_error") { $("title").textContent = `${describe(p)} — ${msg.error_code}`; return; }
    showCard(msg);
    refresh();
  };
  ws.onclose = () => { if (ws === socket) $("state").textContent = "disconnected"; };
  term.focus();
}

// The pane keeps its size (it is the server's); the font shrinks to fit a narrow screen.
function fontFor(cols) {
  const width = $("terminal").clientWidth || window.innerWidth;
  return Math.max(6, Math.min(14, Math.floor(width / (cols * 0.62))));
}

$("confirm").addEventListener("click", () => send({ type: "confirm" }));
$("cancel").addEventListener("click", () => send({ type: "cancel" }));
for (const b of document.querySelectorAll(".option")) {
  b.addEventListener("click", () => send({ type: "select", index: Number(b.dataset.index) }));
}
$("prompt").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("prompt-text").value;
  if (!text) return;
  send({ type: "input", input: text });
  $("prompt-text").value = "";
});
$("menu").addEventListener("click", () => $("sidebar").classList.toggle("open"));

// A list filled from `items`, or one quiet line saying it is empty.
function fill(list, items, make, empty) {
  list.replaceChildren();
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "quiet";
    li.textContent = empty;
    list.append(li);
  }
  for (const item of items) list.append(make(item));
}

function span(text, className) {
  const s = document.createElement("span");
  s.textContent = text;
  if (className) s.className = className;
  return s;
}

function messageItem(m) {
  const li = document.createElement("li");
  li.dataset.message = m.id;
  li.className = m.read === false ? "unread" : "";
  li.append(span(`${m.from} → ${m.to}`, "who"), span(m.subject || m.preview, "subject"));
  li.addEventListener("click", () => { openMessage(m.id); $("sidebar").classList.remove("open"); });
  return li;
}

function channelItem(c) {
  const li = document.createElement("li");
  li.dataset.channel = c.channel;
  li.append(span(c.channel, "subject"), span(c.members.join(", "), "who"));
  return li;
}

async function refreshBridge() {
  const response = await fetch("/api/bridge?limit=30", { credentials: "same-origin" });
  if (!response.ok) return;
  const bridge = await response.json();
  $("inbox-unread").textContent = bridge.inbox.unread ? String(bridge.inbox.unread) : "";
  fill($("inbox"), bridge.inbox.messages, messageItem, "nothing for you");
  fill($("channels"), bridge.channels, channelItem, "no channels");
  fill($("messages"), bridge.messages.filter((m) => m.to !== "user"), messageItem, "none yet");
}

// A message and its thread in place of the terminal (reading it here marks nothing read).
async function openMessage(id) {
  const response = await fetch(`/api/bridge/messages/${id}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const shown = await response.json();
  $("letter-subject").textContent = shown.message.subject;
  $("letter-read").textContent = shown.delivered.map((d) => `${d.to}: ${d.read ? "read" : "unread"}`).join(" · ");
  const thread = $("letter-thread");
  thread.replaceChildren();
  for (const m of shown.messages) {
    const part = document.createElement("section");
    part.className = m.id === shown.message.id ? "part this" : "part";
    part.append(span(`${m.from} → ${m.to} · ${m.created}`, "who"), span(m.subject, "subject"));
    const body = document.createElement("pre");
    body.textContent = m.body;
    part.append(body);
    thread.append(part);
  }
  $("letter").hidden = false;
  $("terminal").hidden = true;
}
$("letter-close").addEventListener("click", () => {
  $("letter").hidden = true;
  $("terminal").hidden = false;
  if (term) term.focus();
});

const events = new EventSource("/api/events");
for (const kind of ["pane_created", "pane_exited", "agent_state"]) events.addEventListener(kind, refresh);
events.addEventListener("bridge", refreshBridge);
refresh();
refreshBridge();
