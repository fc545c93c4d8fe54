// The chat page: chat list, messages, live status lines, and the run stream.
// A message is a POST answered with SSE, so it is read with fetch and a stream reader (not
// EventSource). When the connection drops before `end`, the page rejoins the run through
// GET /api/v1/chat/{id}/runs/{run_id}/stream with Last-Event-ID: nothing is lost or repeated.
"use strict";

(() => {
  const { el } = Render;
  const $ = (id) => document.getElementById(id);
  const NODE_LABELS = {
    optimize: "Preparing the conversation context",
    requirements: "Reading the requirements",
    clarify: "Writing clarifying questions",
    architect: "Choosing the next tool calls",
    tools: "Running catalog searches",
    synthesize: "Writing the plan",
    validate: "Checking every number against the catalogs",
    respond: "Formatting the answer",
  };
  const state = { token: null, chatId: null, busy: false, offset: 0, authEnabled: false, status: null,
    statusLines: [], statusTurn: 0 };

  // ---- API -------------------------------------------------------------------------
  // The BYOK headers go only with messages (llm = true), never with other calls.
  function headers(extra = {}, llm = false) {
    const h = { ...extra };
    if (state.token) h.Authorization = `Bearer ${state.token}`;
    if (!llm) return h;
    const byok = { "X-LLM-Provider": $("llm-provider").value, "X-LLM-Model": $("llm-model").value.trim(),
      "X-LLM-Base-URL": $("llm-base-url").value.trim(), "X-LLM-API-Key": $("llm-key").value.trim() };
    for (const [k, v] of Object.entries(byok)) if (v) h[k] = v;
    return h;
  }

  async function api(path, { method = "GET", body, signal } = {}) {
    const init = { method, signal, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    if (res.status === 401 && state.authEnabled) showLogin();
    return res;
  }

  async function errorText(res) {
    try { const b = await res.json(); return `${b.message} (${b.code}, request ${b.request_id})`; }
    catch (_) { return `HTTP ${res.status}`; }
  }

  // ---- SSE over fetch ----------------------------------------------------------------
  // Parse an SSE byte stream; call onEvent({id, event, data}) per event. Returns when it ends.
  async function readSse(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let fields = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n/)) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + (buffer[cut] === "\r" ? 2 : 1));
        if (line === "") {
          if (fields.event) onEvent({ id: Number(fields.id), event: fields.event, data: JSON.parse(fields.data || "null") });
          fields = {};
        } else if (!line.startsWith(":")) {
          const i = line.indexOf(":");
          const name = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          fields[name] = name === "data" && fields.data !== undefined ? fields.data + "\n" + val : val;
        }
      }
    }
  }

  // ---- rendering ---------------------------------------------------------------------
  function scrollDown() { const c = $("conversation"); c.scrollTop = c.scrollHeight; }

  function addMessage(role, content, kind = "text") {
    $("empty").hidden = true;
    const bubble = el("div", { class: "bubble" });
    if (kind === "plan") {
      const chatId = state.chatId;
      bubble.append(Render.plan(content, { download: (button) => downloadPlan(chatId, button) }));
    }
    else if (role === "assistant") bubble.append(Render.markdown(content));
    else bubble.textContent = content;
    const node = el("div", { class: `msg ${role}` }, bubble);
    $("messages").append(node);
    scrollDown();
    return node;
  }

  // The plan's files as a zip (Helm, kustomize, compose, SkyPilot), fetched with the
  // caller's token, then handed to the browser as a download.
  async function downloadPlan(chatId, button) {
    const res = await api(`/api/v1/chat/${chatId}/plan.zip`);
    if (!res.ok) { addMessage("error", await errorText(res)); return; }
    const disposition = res.headers.get("Content-Disposition") || "";
    const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || "plan.zip";
    const url = URL.createObjectURL(await res.blob());
    const link = el("a", { href: url, download: name, hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    button.textContent = `Downloaded ${name}`;
  }

  // Each run gets a log of status lines between the question and the answer; it folds
  // away when the run ends, and is kept in this browser so a reopened chat shows it again.
  const LOG_KEY = "stack8s.runlogs";
  const LOG_CHATS = 50;

  function savedLogs() {
    try { return JSON.parse(localStorage.getItem(LOG_KEY) || "{}"); } catch (_) { return {}; }
  }

  function saveLog(chatId, turn, lines) {
    if (!chatId || !lines.length) return;
    const logs = savedLogs();
    logs[chatId] = { ...(logs[chatId] || {}), [turn]: lines, at: Date.now() };
    const oldest = Object.keys(logs).sort((a, b) => (logs[b].at || 0) - (logs[a].at || 0)).slice(LOG_CHATS);
    for (const id of oldest) delete logs[id];
    try { localStorage.setItem(LOG_KEY, JSON.stringify(logs)); } catch (_) { /* storage full: skip */ }
  }

  function statusBox(open) {
    return el("details", { class: "status", open: open ? "" : null },
      el("summary", { class: "muted small", text: "Working…" }));
  }

  function foldStatus(box) {
    const steps = box.querySelectorAll(".line.done").length;
    box.querySelector("summary").textContent = `Run log (${steps} steps)`;
    box.removeAttribute("open");
  }

  function openStatus() {
    state.status = statusBox(true);
    state.statusLines = [];
    state.statusTurn = $("messages").querySelectorAll(".msg.user").length;
    $("messages").append(state.status);
  }

  function statusLine(text, cls) {
    if (!state.status) openStatus();
    state.status.append(el("div", { class: `line ${cls}`, text }));
    state.statusLines.push([text, cls]);
    scrollDown();
  }

  function closeStatus() {
    if (!state.status) return;
    foldStatus(state.status);
    saveLog(state.chatId, state.statusTurn, state.statusLines);
    state.status = null;
  }

  // A reopened chat: the saved log of each turn goes back under that turn's question.
  function restoreLog(chatId, turn) {
    const lines = (savedLogs()[chatId] || {})[turn];
    if (!Array.isArray(lines)) return;
    const box = statusBox(false);
    for (const [text, cls] of lines) box.append(el("div", { class: `line ${cls}`, text }));
    foldStatus(box);
    $("messages").append(box);
  }

  // ---- one run -----------------------------------------------------------------------
  function runHandler() {
    const run = { id: null, lastId: 0, ended: false, draft: null };
    run.onEvent = ({ id, event, data }) => {
      if (id <= run.lastId) return; // already shown (a replay overlapping live delivery)
      run.lastId = id;
      if (event === "metadata") { run.id = data.run_id; if (data.thread_id) state.chatId = data.thread_id; }
      else if (event === "status" && data.node) {
        const label = NODE_LABELS[data.node] || data.node;
        if (data.state === "started") statusLine(`${label}…`, "run");
        else if (data.state === "finished") statusLine(label, "done");
      } else if (event === "optimizer") {
        statusLine(data.skipped ? `Context optimizer: ${data.reason || "skipped"}`
          : `Context optimizer: ${data.tokens_before} → ${data.tokens_after} tokens`, "note");
      } else if (event === "tool") {
        if (data.phase === "call") statusLine(`${data.name}(${JSON.stringify(data.args || {}).slice(0, 120)})`, "tool");
        else statusLine(`${data.name}: ${data.summary || data.status}`, "note");
      } else if (event === "token") {
        if (!run.draft) run.draft = addMessage("assistant", "");
        run.draft.querySelector(".bubble").textContent += data.text;
      } else if (event === "clarification") {
        if (run.draft) run.draft.remove();
        addMessage("assistant", data.text);
      } else if (event === "plan") {
        if (run.draft) run.draft.remove();
        addMessage("assistant", data.plan, "plan");
      } else if (event === "error") {
        addMessage("error", data.message || "The run failed.");
      } else if (event === "end") {
        run.ended = true;
      }
    };
    return run;
  }

  function rejoin(run) {
    return fetch(`/api/v1/chat/${state.chatId}/runs/${run.id}/stream`,
      { headers: headers({ "Last-Event-ID": String(run.lastId), Accept: "text/event-stream" }) });
  }

  // Read the run to its `end`, rejoining with Last-Event-ID whenever the connection drops.
  async function follow(run, firstResponse) {
    let res = firstResponse;
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        if (!res) res = await rejoin(run);
        if (!res.ok) {
          const message = await errorText(res);
          if (res.status < 500 && res.status !== 429) throw new Error(message);
        } else {
          await readSse(res, run.onEvent);
        }
      } catch (err) {
        if (!run.id || /\(not_found|\(unauthorized/.test(String(err.message))) throw err;
      }
      if (run.ended) return;
      statusLine("Connection lost; reconnecting…", "note");
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5000)));
      res = null;
    }
    addMessage("error", "Lost the connection to this run; reopen the chat to see its result.");
  }

  async function send(text) {
    if (state.busy || !text.trim()) return;
    setBusy(true);
    addMessage("user", text);
    openStatus();
    try {
      if (!state.chatId) {
        const res = await api("/api/v1/chat/start", { method: "POST" });
        if (!res.ok) throw new Error(await errorText(res));
        state.chatId = (await res.json()).conversation_id;
      }
      const res = await fetch("/api/v1/chat/message", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }, true),
        body: JSON.stringify({ conversation_id: state.chatId, message: text }),
      });
      if (res.status === 401 && state.authEnabled) showLogin();
      if (!res.ok) throw new Error(await errorText(res));
      await follow(runHandler(), res);
    } catch (err) {
      addMessage("error", String(err.message || err));
    } finally {
      closeStatus();
      setBusy(false);
      loadChats();
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    $("send").disabled = busy;
    $("send").textContent = busy ? "Working…" : "Send";
  }

  // ---- chats -------------------------------------------------------------------------
  async function loadChats(more = false) {
    if (!more) state.offset = 0;
    const res = await api(`/api/v1/chats?limit=30&offset=${state.offset}`);
    if (!res.ok) return;
    const page = await res.json();
    const list = $("chat-list");
    if (!more) list.replaceChildren();
    for (const chat of page.items) {
      const item = el("div", { class: "chat-item" + (chat.conversation_id === state.chatId ? " active" : "") },
        el("button", { class: "open", type: "button", title: chat.title || "New chat", text: chat.title || "New chat",
          onclick: () => openChat(chat.conversation_id) }),
        el("button", { class: "icon", type: "button", title: "Rename", text: "✎",
          onclick: () => renameChat(chat) }),
        el("button", { class: "icon", type: "button", title: "Delete", text: "🗑",
          onclick: () => deleteChat(chat) }));
      list.append(item);
    }
    state.offset += page.items.length;
    $("more-chats").hidden = page.next_offset === null;
  }

  async function openChat(id) {
    if (state.busy) return;
    state.chatId = id;
    $("messages").replaceChildren();
    const res = await api(`/api/v1/chat/${id}`);
    if (!res.ok) { addMessage("error", await errorText(res)); return; }
    const chat = await res.json();
    const lastAssistant = chat.messages.map((m) => m.role).lastIndexOf("assistant");
    let turn = 0;
    chat.messages.forEach((m, i) => {
      if (i === lastAssistant && chat.deployment_plan) addMessage("assistant", chat.deployment_plan, "plan");
      else addMessage(m.role, m.content);
      if (m.role === "user") restoreLog(id, ++turn);
    });
    $("empty").hidden = chat.messages.length > 0;
    loadChats();
    if (chat.active_run_id) {
      setBusy(true);
      const run = runHandler();
      run.id = chat.active_run_id;
      openStatus();
      try { await follow(run, null); } finally { closeStatus(); setBusy(false); }
    }
  }

  async function renameChat(chat) {
    const title = prompt("Rename chat", chat.title || "");
    if (!title) return;
    await api(`/api/v1/chat/${chat.conversation_id}`, { method: "PATCH", body: { title } });
    loadChats();
  }

  async function deleteChat(chat) {
    if (!confirm(`Delete “${chat.title || "New chat"}”?`)) return;
    const res = await api(`/api/v1/chat/${chat.conversation_id}`, { method: "DELETE" });
    if (!res.ok) { alert(await errorText(res)); return; }
    if (state.chatId === chat.conversation_id) newChat();
    loadChats();
  }

  function newChat() {
    state.chatId = null;
    $("messages").replaceChildren();
    $("empty").hidden = false;
    loadChats();
    $("input").focus();
  }

  // ---- auth --------------------------------------------------------------------------
  function showLogin() { $("login").hidden = false; $("conversation").hidden = true; }

  async function signIn(config, email, password) {
    const res = await fetch(`${config.supabase_url}/auth/v1/token?grant_type=password`, {
      method: "POST",
      headers: { "Content-Type": "application/json", apikey: config.supabase_anon_key },
      body: JSON.stringify({ email, password }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || !body.access_token) throw new Error(body.msg || body.error_description || "sign-in failed");
    state.token = body.access_token;
    sessionStorage.setItem("stack8s.token", state.token);
  }

  async function start() {
    const config = await (await fetch("/api/v1/auth/config")).json();
    state.authEnabled = config.auth_enabled;
    state.token = sessionStorage.getItem("stack8s.token");
    $("login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await signIn(config, $("login-email").value, $("login-password").value);
        $("login").hidden = true; $("conversation").hidden = false;
        await ready();
      } catch (err) { $("login-error").textContent = String(err.message || err); }
    });
    if (config.auth_enabled && !state.token) { showLogin(); return; }
    await ready();
  }

  async function ready() {
    const res = await api("/api/v1/me");
    if (!res.ok) return;
    const me = await res.json();
    $("who").textContent = me.email || me.user_id;
    if (me.notice) { $("banner").textContent = me.notice; $("banner").hidden = false; }
    loadChats();
  }

  // ---- wiring ------------------------------------------------------------------------
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("input").value;
    $("input").value = "";
    send(text);
  });
  $("input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("composer").requestSubmit(); }
  });
  $("new-chat").addEventListener("click", newChat);
  $("more-chats").addEventListener("click", () => loadChats(true));
  for (const b of document.querySelectorAll(".example")) {
    b.addEventListener("click", () => { $("input").value = b.textContent; $("input").focus(); });
  }
  $("vault-save").addEventListener("click", async () => {
    const provider = $("llm-provider").value;
    const key = $("llm-key").value.trim();
    if (!["openai", "openai_compatible"].includes(provider) || !key) {
      $("vault-status").textContent = "Choose openai or openai_compatible and enter a key.";
      return;
    }
    const res = await api(`/api/v1/keys/${provider}`, { method: "PUT", body: { api_key: key } });
    $("vault-status").textContent = res.ok ? `Saved (…${(await res.json()).last_four}).` : await errorText(res);
    if (res.ok) $("llm-key").value = "";
  });
  start();
})();
