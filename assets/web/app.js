// sbx's web view: the panes of the server with their agents' states, the selected pane as a
// live terminal (echokit's protocol on /ws/ID), and a card for an agent waiting on a tool.
// Everything from the server is put in the page as text (textContent), never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
let selected = null; // the pane id shown
let socket = null;
let term = null;

// Replies xterm.js makes to queries in the stream: sbx's own engine has answered those
// already, so they are not sent on to the pane (they would arrive twice).
const REPLIES = [/^\x1b\[[?>]?[\d;]*c$/, /^\x1b\[\d+;\d+R$/, /^\x1b\[\??\d+(;\d+)*n$/,
  /^\x1b\][\d;]*[^\x07\x1b]*(\x07|\x1b\\)$/, /^\x1bP[^\x1b]*\x1b\\$/, /^\x1b\[\?[\d;]*\$y$/];
const isReply = (data) => REPLIES.some((r) => r.test(data));

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
  term.open($("terminal"));
  term.onData((data) => {
    if (isReply(data) || !socket || socket.readyState !== WebSocket.OPEN) return;
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

const events = new EventSource("/api/events");
for (const kind of ["pane_created", "pane_exited", "agent_state"]) events.addEventListener(kind, refresh);
refresh();
