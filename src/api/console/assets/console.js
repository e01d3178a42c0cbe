// adk-llm-proxy console. Plain browser JavaScript, no build step, no network beyond this proxy.
// Every piece of data is put on the page as text (never as HTML): sessions hold whatever users
// and models wrote, and a console must not run it.
"use strict";

const main = () => document.getElementById("main");
let stopCurrent = () => {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(...nodes) {
  main().replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

async function api(path, options) {
  const response = await fetch("/console/api/" + path, Object.assign({ credentials: "same-origin" }, options));
  // A 401 anywhere but on the login itself means the login is missing or over.
  if (response.status === 401 && path !== "login") {
    showLogin();
    throw new Error("login required");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Reads a text/event-stream response, calling onData with each `data:` payload (parsed JSON). */
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!data || data === "[DONE]") continue;
      try { onData(JSON.parse(data)); } catch (_) { /* a malformed line is skipped */ }
    }
  }
}

/** Follows an SSE endpoint until `stop()` is called; `body[data-following]` says it is open. */
function follow(path, onData) {
  const controller = new AbortController();
  fetch("/console/api/" + path, { signal: controller.signal, credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) return null;
      document.body.dataset.following = path;
      return readEvents(response, onData);
    })
    .catch(() => {});
  return () => { delete document.body.dataset.following; controller.abort(); };
}

const time = (secs) => (secs ? new Date(secs * 1000).toLocaleTimeString() : "");
const dateTime = (secs) => (secs ? new Date(secs * 1000).toLocaleString() : "");
const ms = (value) => (value === null || value === undefined ? "" : value < 1000 ? value.toFixed(0) + " ms" : (value / 1000).toFixed(2) + " s");
const json = (value) => JSON.stringify(value, null, 2);

function sessionLink(agent, user, id) {
  return "#/session?" + new URLSearchParams({ agent, user, id }).toString();
}

// ---- Login ---------------------------------------------------------------------------------

function showLogin(message) {
  stopCurrent();
  const input = el("input", { type: "password", placeholder: "client key with console: true", autocomplete: "off", id: "login-key" });
  const error = el("p", { class: "error", hidden: !message }, message || "");
  const submit = async (event) => {
    event.preventDefault();
    try {
      await post("login", { key: input.value });
      await whoami();
      route();
    } catch (e) {
      error.hidden = false;
      error.textContent = e.message;
    }
  };
  show(el("form", { class: "card login", onsubmit: submit },
    el("h2", {}, "Log in to the console"),
    el("p", { class: "muted" }, "Use a client key marked console: true in settings.yaml. It is exchanged for a login cookie and not kept in the page."),
    input, error, el("button", { type: "submit" }, "Log in")));
}

async function whoami() {
  const viewer = document.getElementById("viewer");
  try {
    const me = await api("whoami");
    const logout = async () => { await post("logout", {}); showLogin(); viewer.replaceChildren(); };
    viewer.replaceChildren("viewing as " + me.viewer);
    if (me.keys) viewer.append(el("button", { class: "plain", onclick: logout }, "Log out"));
    return true;
  } catch (_) {
    return false;
  }
}

// ---- Live ----------------------------------------------------------------------------------

function showLive() {
  const filter = el("input", { placeholder: "filter (model, agent, key, status…)", id: "live-filter" });
  const body = el("tbody", { id: "live-rows" });
  const empty = el("p", { class: "muted" }, "Waiting for requests… (only requests made while this page is open are shown)");
  const matches = (row) => !filter.value || row.dataset.search.includes(filter.value.toLowerCase());
  filter.addEventListener("input", () => { for (const row of body.children) row.hidden = !matches(row); });
  const add = (r) => {
    if (r.skipped) { body.prepend(el("tr", {}, el("td", { colspan: 12, class: "muted" }, r.skipped + " requests skipped (the page fell behind)"))); return; }
    empty.hidden = true;
    const ok = r.status < 400 && r.outcome === "completed";
    const row = el("tr", { class: r.session_id ? "clickable" : "", "data-request": r.request_id },
      el("td", {}, time(r.time)),
      el("td", {}, r.key || "-"),
      el("td", {}, r.agent ? el("span", {}, r.agent, el("span", { class: "pill" }, "agent")) : r.model || "-"),
      el("td", {}, r.provider || "-"),
      el("td", { class: ok ? "status-ok" : "status-bad" }, r.status),
      el("td", { class: "num" }, ms(r.ttft_ms)),
      el("td", { class: "num" }, ms(r.duration_ms)),
      el("td", { class: "num" }, r.prompt_tokens ?? ""),
      el("td", { class: "num" }, r.completion_tokens ?? ""),
      el("td", {}, r.cache || "-"),
      el("td", { class: ok ? "status-ok" : "status-bad" }, r.outcome + (r.error ? ": " + r.error : "")),
      el("td", {}, r.path));
    row.dataset.search = [r.key, r.model, r.agent, r.provider, r.status, r.outcome, r.path].join(" ").toLowerCase();
    if (r.session_id && r.session_user && r.agent) {
      row.addEventListener("click", () => { location.hash = sessionLink(r.agent, r.session_user, r.session_id); });
    }
    row.hidden = !matches(row);
    body.prepend(row);
    while (body.children.length > 500) body.lastChild.remove();
  };
  show(el("h2", {}, "Live"), el("div", { class: "bar" }, filter),
    el("table", {}, el("thead", {}, el("tr", {}, ["Time", "Key", "Model / agent", "Provider", "Status", "First token", "Duration", "In", "Out", "Cache", "Outcome", "Path"].map((h) => el("th", {}, h)))), body),
    empty);
  stopCurrent = follow("live", add);
}

// ---- Sessions ------------------------------------------------------------------------------

async function showSessions() {
  const search = el("input", { placeholder: "search agent, user or id", id: "session-search" });
  const body = el("tbody", { id: "session-rows" });
  const load = async () => {
    const { sessions } = await api("sessions?" + new URLSearchParams({ q: search.value, limit: 200 }));
    body.replaceChildren(...sessions.map((s) => el("tr", { class: "clickable", onclick: () => { location.hash = sessionLink(s.agent, s.user, s.id); } },
      el("td", {}, s.agent), el("td", {}, s.user), el("td", {}, s.id), el("td", {}, dateTime(s.last_update_time)),
      el("td", { class: "num" }, s.turns), el("td", { class: "num" }, s.events))));
    if (!sessions.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No sessions.")));
  };
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 250); });
  show(el("h2", {}, "Sessions"), el("div", { class: "bar" }, search, el("button", { class: "plain", onclick: load }, "Refresh")),
    el("table", {}, el("thead", {}, el("tr", {}, ["Agent", "User", "Session", "Last activity", "Turns", "Events"].map((h) => el("th", {}, h)))), body));
  await load();
}

function eventCard(event, previous) {
  const answer = event.shown_as_answer;
  const took = previous ? event.timestamp - previous.timestamp : 0;
  const head = el("div", { class: "head" },
    el("span", { class: "author" }, event.author),
    event.branch ? el("span", {}, "branch " + event.branch) : null,
    el("span", {}, time(event.timestamp)),
    previous ? el("span", {}, "+" + ms(took * 1000)) : null,
    event.author === "user" ? el("span", { class: "pill user" }, "user") : null,
    answer ? el("span", { class: "pill answer" }, "answer") : null,
    event.actions?.transfer_to_agent ? el("span", { class: "pill transfer" }, "transfer → " + event.actions.transfer_to_agent) : null,
    event.actions?.escalate ? el("span", { class: "pill escalate" }, "escalate") : null);
  const body = [];
  for (const part of event.content?.parts || []) {
    if (part.type === "text") body.push(el("div", { class: "text" }, part.text));
    else if (part.type === "reasoning") body.push(el("div", { class: "label" }, "reasoning"), el("div", { class: "reasoning" }, part.text));
    else if (part.type === "tool_call") {
      const client = (event.client_call_ids || []).includes(part.id);
      body.push(el("div", { class: "label" }, (client ? "client tool call " : "tool call ") + part.name), el("pre", {}, json(part.arguments)));
    } else if (part.type === "tool_result") body.push(el("div", { class: "label" }, "result of " + part.name), el("pre", {}, json(part.response)));
  }
  const delta = event.actions?.state_delta;
  if (delta && Object.keys(delta).length) body.push(el("div", { class: "label" }, "state change"), el("pre", {}, json(delta)));
  if (event.usage) body.push(el("div", { class: "label" }, "usage: " + event.usage.prompt_tokens + " in, " + event.usage.completion_tokens + " out"));
  const classes = ["card", "event", "author-" + event.author, answer ? "answer" : ""].join(" ");
  return el("div", { class: classes, "data-author": event.author, "data-event": event.id }, head, ...body);
}

async function showSession(params) {
  const agent = params.get("agent"), user = params.get("user"), id = params.get("id");
  const session = await api("session?" + new URLSearchParams({ agent, user, id }));
  const timeline = el("div", { id: "timeline" });
  let previous = null;
  for (const event of session.events) {
    timeline.append(eventCard(event, previous));
    previous = event;
  }
  const scopes = ["session", "user", "app"].map((scope) =>
    el("div", {}, el("div", { class: "label" }, scope === "session" ? "session state" : scope + ": state"), el("pre", {}, json(session.state[scope] || {}))));
  const turns = el("table", { class: "kv" }, el("tbody", {}, session.turns.map((t, i) =>
    el("tr", {}, el("td", {}, "turn " + (i + 1) + " · " + time(t.started)), el("td", {}, t.answered_by || "(no answer shown)")))));
  show(el("h2", {}, "Session " + session.id),
    el("p", { class: "muted" }, "agent " + session.agent + " · user " + session.user + " · last activity " + dateTime(session.last_update_time)),
    el("div", { class: "cols" },
      el("div", {}, el("h3", {}, "Timeline (" + session.events.length + " events)"), timeline),
      el("div", {},
        el("div", { class: "card" }, el("div", { class: "label" }, "next turn goes to"), el("div", { id: "next-agent", class: "text" }, session.next_agent || "-")),
        el("div", { class: "card" }, el("div", { class: "label" }, "answered by, per turn"), turns),
        el("div", { class: "card" }, ...scopes))));
  stopCurrent = follow("session/live?" + new URLSearchParams({ agent, user, id }), (event) => {
    if (event.skipped) return;
    timeline.append(eventCard(event, previous));
    previous = event;
  });
}

// ---- Agents --------------------------------------------------------------------------------

function agentNode(name, agents, seen) {
  const a = agents[name];
  if (!a || seen.has(name)) return el("li", { class: "node" }, el("span", { class: "name" }, name));
  seen.add(name);
  const meta = [
    a.effective_model ? "model " + a.effective_model + (a.model ? "" : " (inherited)") : a.kind === "LlmAgent" ? "model: the request's (or the default)" : null,
    a.kind === "LlmAgent" ? "instruction: " + a.instruction_source : null,
    a.tools.length ? "tools: " + a.tools.join(", ") : null,
    a.output_key ? "output_key: " + a.output_key : null,
    a.max_iterations ? "max_iterations: " + a.max_iterations : null,
  ].filter(Boolean).join(" · ");
  const children = [];
  for (const child of a.sub_agents) children.push(agentNode(child, agents, seen));
  for (const tool of a.agent_tools) children.push(el("li", { class: "node" }, el("span", { class: "pill" }, "AgentTool"), " ", agentNode(tool, agents, seen)));
  return el("li", { class: "node", "data-agent": name },
    el("span", { class: "name" }, name), el("span", { class: "kind " + a.kind }, a.kind),
    a.description ? el("div", { class: "meta" }, a.description) : null,
    meta ? el("div", { class: "meta" }, meta) : null,
    el("div", { class: "meta" }, a.file),
    children.length ? el("ul", {}, children) : null);
}

async function showAgents(params) {
  const data = await api("agents");
  const only = params.get("name");
  const roots = only ? [only] : data.roots;
  const problem = data.reload_error ? el("div", { class: "error" }, "The last reload failed (" + dateTime(data.reload_error.time) + "); the agents below are the ones still running:\n" + data.reload_error.error) : null;
  const pick = el("select", { onchange: (e) => { location.hash = e.target.value ? "#/agents?name=" + encodeURIComponent(e.target.value) : "#/agents"; } },
    el("option", { value: "" }, "all top-level agents"), data.roots.map((r) => el("option", { value: r, selected: r === only }, r)));
  show(el("h2", {}, "Agents"), problem, el("div", { class: "bar" }, pick),
    roots.length ? el("div", { class: "tree card" }, el("ul", {}, roots.map((r) => agentNode(r, data.agents, new Set())))) : el("p", { class: "muted" }, "No agents loaded from files."));
}

// ---- Playground ----------------------------------------------------------------------------

async function showPlayground() {
  const { models } = await api("models");
  const model = el("select", { id: "play-model" }, models.map((m) => el("option", { value: m }, m)));
  const input = el("textarea", { id: "play-input", rows: 3, cols: 80, placeholder: "Message" });
  const chat = el("div", { class: "chat", id: "play-chat" });
  const sessionInfo = el("p", { class: "muted", id: "play-session" });
  let sessionId = "console-" + crypto.randomUUID();
  let messages = [];
  const reset = () => { sessionId = "console-" + crypto.randomUUID(); messages = []; chat.replaceChildren(); sessionInfo.replaceChildren(); };
  model.addEventListener("change", reset);
  // Enter sends, Shift+Enter starts a new line (as chat UIs do).
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); input.form.requestSubmit(); }
  });
  const send = async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    messages.push({ role: "user", content: text });
    chat.append(el("div", { class: "bubble user" }, text));
    const reasoning = el("div", { class: "reasoning", hidden: true });
    const answer = el("div", { class: "text answer" });
    const bubble = el("div", { class: "bubble assistant" }, reasoning, answer);
    chat.append(bubble);
    const response = await fetch("/console/api/chat", {
      method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: model.value, messages, session_id: sessionId }),
    });
    if (!response.ok) {
      let message = response.status + "";
      try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
      answer.append(el("span", { class: "error" }, message));
      return;
    }
    const agentName = response.headers.get("x-adk-agent");
    const storedUser = response.headers.get("x-session-id") && agentName ? true : false;
    await readEvents(response, (chunk) => {
      if (chunk.error) { answer.append(el("span", { class: "error" }, chunk.error.message)); return; }
      const delta = chunk.choices?.[0]?.delta || {};
      if (delta.reasoning_content) {
        // The first piece of reasoning often opens with a line break; a bubble does not need it.
        const piece = reasoning.hidden ? delta.reasoning_content.replace(/^\s+/, "") : delta.reasoning_content;
        reasoning.hidden = false;
        reasoning.append(piece);
      }
      if (delta.content) answer.append(delta.content);
    });
    messages.push({ role: "assistant", content: answer.textContent });
    if (storedUser) {
      const sessions = await api("sessions?" + new URLSearchParams({ q: sessionId, limit: 5 }));
      const mine = sessions.sessions.find((s) => s.id === sessionId);
      if (mine) sessionInfo.replaceChildren("Session ", el("a", { href: sessionLink(mine.agent, mine.user, mine.id), id: "open-session" }, "open its timeline"), " · " + mine.turns + (mine.turns === 1 ? " turn" : " turns"));
    }
  };
  show(el("h2", {}, "Playground"),
    el("form", { class: "bar", onsubmit: send }, model, input, el("button", { type: "submit", id: "play-send" }, "Send"),
      el("button", { type: "button", class: "plain", onclick: reset }, "New chat")),
    sessionInfo, chat);
}

// ---- Routing -------------------------------------------------------------------------------

async function route() {
  stopCurrent();
  stopCurrent = () => {};
  const [path, query] = (location.hash.slice(1) || "/live").split("?");
  const params = new URLSearchParams(query || "");
  const tab = path.split("/")[1] || "live";
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.tab === (tab === "session" ? "sessions" : tab));
  try {
    if (tab === "sessions") await showSessions();
    else if (tab === "session") await showSession(params);
    else if (tab === "agents") await showAgents(params);
    else if (tab === "playground") await showPlayground();
    else showLive();
  } catch (e) {
    if (e.message !== "login required") show(el("p", { class: "error" }, e.message));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  if (await whoami()) route();
});
