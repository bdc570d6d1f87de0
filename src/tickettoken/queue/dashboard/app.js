// The queue dashboard: plain JavaScript, no build step. Data comes from the queue API with the
// dashboard's session cookie; state-changing calls echo the CSRF cookie in X-CSRF-Token.
// Everything from the server is written with textContent, never as HTML.
"use strict";

const API = "/api/v1/queue";
const QUEUES = ["money", "communication", "background"];
const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.min(60, Math.max(1, Number(params.get("refresh")) || 5)) * 1000;
const actions = new Map(); // job id -> {what, status}
let role = null;
let timer = null;

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const match = document.cookie.split("; ").find((c) => c.startsWith("tt_queue_csrf="));
  return match ? decodeURIComponent(match.split("=")[1]) : "";
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(API + path, init);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) { showLogin(); throw new Error("signed out"); }
  if (!response.ok) throw new Error((body && body.error) || `HTTP ${response.status}`);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
function shortId(id) { return id ? id.slice(0, 8) : ""; }
function seconds(s) {
  if (s === null || s === undefined) return "—";
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } catch (e) { $("status").textContent = `Action failed: ${e.message}`; }
    await refresh();
    b.disabled = false; // still on the page: the action may be repeated
  });
  return b;
}

// Rows are keyed (queue name, job id, ...) and updated in place on every refresh, so a button the
// user is about to click is the same element after a refresh; only rows that left are removed.
function syncRows(table, items, { key, dataKey, columns, action, empty, span }) {
  const body = $(table).querySelector("tbody");
  const existing = new Map();
  for (const row of [...body.rows]) {
    if (row.dataset[dataKey] === undefined) row.remove(); // the "nothing here" row
    else existing.set(row.dataset[dataKey], row);
  }
  let previous = null;
  for (const item of items) {
    const id = String(key(item));
    let row = existing.get(id);
    existing.delete(id);
    const values = columns(item);
    if (!row) {
      row = document.createElement("tr");
      row.dataset[dataKey] = id;
      for (let i = 0; i < values.length; i += 1) cell(row, "");
      if (action) cell(row, "");
    }
    values.forEach(([text, cls, title], i) => {
      const td = row.cells[i];
      const shown = text === null || text === undefined ? "" : String(text);
      if (td.textContent !== shown) td.textContent = shown;
      td.className = cls || "";
      if (title) td.title = title;
    });
    if (action) action(item, row.cells[values.length]);
    const next = previous ? previous.nextSibling : body.firstChild;
    if (row !== next) body.insertBefore(row, next);
    previous = row;
  }
  for (const row of existing.values()) row.remove();
  if (!items.length) emptyRow(body, span, empty);
}

// An action cell holds one button, created once (it keeps its state across refreshes).
function ensureButton(td, label, cls, onClick) {
  if (!td.querySelector("button")) td.replaceChildren(button(label, cls, onClick));
}

function renderQueues(summary) {
  const present = QUEUES.filter((name) => summary.queues[name]);
  syncRows("queues", present, {
    key: (name) => name,
    dataKey: "queue",
    columns: (name) => {
      const q = summary.queues[name];
      return [
        [name],
        [q.paused ? "paused" : "running", q.paused ? "warning" : ""],
        [q.waiting, "num waiting"],
        [q.delayed, "num"],
        [q.active, "num"],
        [q.completed_last_minute, "num"],
        [q.failed_last_minute, "num"],
        [`${(q.failure_rate * 100).toFixed(1)} %`, "num"],
        [q.failed, "num failed"],
        [q.dead, "num"],
        [seconds(q.oldest_waiting_seconds), "num"],
      ];
    },
    empty: "No queues.",
    span: 11,
  });
  $("totals").textContent =
    `${summary.dead_letters} dead letters waiting, ${summary.unacknowledged_alerts} unacknowledged alerts`;
}

function renderFailed(jobs) {
  syncRows("failed-jobs", jobs, {
    key: (job) => job.job_id,
    dataKey: "jobId",
    columns: (job) => [
      [shortId(job.job_id), "", job.job_id],
      [job.queue],
      [job.type],
      [`${job.attempts}/${job.max_attempts}`, "num"],
      [job.last_error, "error"],
      [when(job.finished_at)],
    ],
    action: (job, td) => {
      if (role !== "admin") return;
      ensureButton(td, "Retry", "retry", async () => {
        const r = await api(`/jobs/${job.job_id}/retry`, { method: "POST" });
        actions.set(job.job_id, { what: `retry ${job.type}`, status: r.data.status });
      });
    },
    empty: "No failed jobs.",
    span: 7,
  });
}

function renderDead(letters) {
  syncRows("dead-letters", letters, {
    key: (letter) => letter.id,
    dataKey: "deadLetterId",
    columns: (letter) => [
      [shortId(letter.job_id), "", letter.job_id || ""],
      [letter.queue],
      [letter.type],
      [letter.attempts, "num"],
      [letter.last_error, "error"],
      [when(letter.failed_at)],
    ],
    action: (letter, td) => {
      if (role !== "admin") return;
      ensureButton(td, "Requeue", "requeue", async () => {
        const r = await api(`/dead-letter/${letter.id}/requeue`, { method: "POST" });
        actions.set(r.data.job_id, { what: `requeue ${letter.type}`, status: r.data.status });
      });
    },
    empty: "No dead letters.",
    span: 7,
  });
}

function renderAlerts(alerts) {
  syncRows("alerts", alerts, {
    key: (alert) => alert.id,
    dataKey: "alertId",
    columns: (alert) => [
      [when(alert.created_at)],
      [alert.severity, alert.severity],
      [alert.queue],
      [alert.message],
    ],
    action: (alert, td) => {
      if (alert.acknowledged) {
        const text = `acknowledged by ${alert.acknowledged_by}`;
        if (td.textContent !== text) td.textContent = text;
        return;
      }
      ensureButton(td, "Acknowledge", "acknowledge", () =>
        api(`/alerts/${alert.id}/acknowledge`, { method: "POST" }));
    },
    empty: "No alerts.",
    span: 5,
  });
}

function emptyRow(body, span, text) {
  const row = document.createElement("tr");
  const td = cell(row, text, "muted");
  td.colSpan = span;
  body.appendChild(row);
}

async function renderActions() {
  const list = $("actions");
  for (const [jobId, action] of actions) {
    if (!["completed", "cancelled"].includes(action.status)) {
      try { action.status = (await api(`/jobs/${jobId}`)).data.status; } catch (e) { /* shown next round */ }
    }
    let item = [...list.children].find((li) => li.dataset.jobId === jobId);
    if (!item) {
      item = document.createElement("li");
      item.dataset.jobId = jobId;
      item.textContent = `${action.what} ${shortId(jobId)}: `;
      const status = document.createElement("span");
      status.className = "status";
      item.appendChild(status);
      list.appendChild(item);
    }
    const status = item.querySelector(".status");
    if (status.textContent !== action.status) status.textContent = action.status;
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [summary, dead, alerts, ...failed] = await Promise.all([
      api("/metrics/summary"),
      api("/dead-letter?limit=20"),
      api("/alerts?limit=20"),
      ...QUEUES.map((q) => api(`/queues/${q}/jobs?status=failed&limit=20`)),
    ]);
    renderQueues(summary.data);
    renderFailed(failed.flatMap((page) => page.data));
    renderDead(dead.data);
    renderAlerts(alerts.data);
    await renderActions();
    $("status").textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
  } catch (e) {
    if (e.message === "signed out") return;
    $("status").textContent = `Refresh failed: ${e.message}`;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function showLogin() {
  clearTimeout(timer);
  $("board").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("status").textContent = "Sign in to see the queues.";
}

async function showBoard() {
  const me = await api("/dashboard/session");
  role = me.data.role;
  $("who-name").textContent = `${me.data.sub} (${role})`;
  $("who").hidden = false;
  $("login").hidden = true;
  $("board").hidden = false;
  await refresh();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const token = $("token").value.trim();
  const response = await fetch(`${API}/dashboard/session`, {
    method: "POST",
    credentials: "same-origin",
    headers: { Authorization: `Bearer ${token}` },
  });
  $("token").value = "";
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    $("login-error").textContent = (body && body.error) || `HTTP ${response.status}`;
    return;
  }
  await showBoard();
});

$("sign-out").addEventListener("click", async () => {
  await fetch(`${API}/dashboard/session`, { method: "DELETE", credentials: "same-origin" });
  showLogin();
});

showBoard().catch(() => showLogin());
