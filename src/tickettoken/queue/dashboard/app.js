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
  });
  return b;
}

function renderQueues(summary) {
  const body = $("queues").querySelector("tbody");
  body.replaceChildren();
  for (const name of QUEUES) {
    const q = summary.queues[name];
    if (!q) continue;
    const row = document.createElement("tr");
    row.dataset.queue = name;
    cell(row, name);
    cell(row, q.paused ? "paused" : "running", q.paused ? "warning" : "");
    cell(row, q.waiting, "num waiting");
    cell(row, q.delayed, "num");
    cell(row, q.active, "num");
    cell(row, q.completed_last_minute, "num");
    cell(row, q.failed_last_minute, "num");
    cell(row, `${(q.failure_rate * 100).toFixed(1)} %`, "num");
    cell(row, q.failed, "num failed");
    cell(row, q.dead, "num");
    cell(row, seconds(q.oldest_waiting_seconds), "num");
    body.appendChild(row);
  }
  $("totals").textContent =
    `${summary.dead_letters} dead letters waiting, ${summary.unacknowledged_alerts} unacknowledged alerts`;
}

function renderFailed(jobs) {
  const body = $("failed-jobs").querySelector("tbody");
  body.replaceChildren();
  for (const job of jobs) {
    const row = document.createElement("tr");
    row.dataset.jobId = job.job_id;
    cell(row, shortId(job.job_id)).title = job.job_id;
    cell(row, job.queue);
    cell(row, job.type);
    cell(row, `${job.attempts}/${job.max_attempts}`, "num");
    cell(row, job.last_error, "error");
    cell(row, when(job.finished_at));
    const actionsCell = cell(row, "");
    if (role === "admin") {
      actionsCell.appendChild(button("Retry", "retry", async () => {
        const r = await api(`/jobs/${job.job_id}/retry`, { method: "POST" });
        actions.set(job.job_id, { what: `retry ${job.type}`, status: r.data.status });
      }));
    }
    body.appendChild(row);
  }
  if (!jobs.length) emptyRow(body, 7, "No failed jobs.");
}

function renderDead(letters) {
  const body = $("dead-letters").querySelector("tbody");
  body.replaceChildren();
  for (const letter of letters) {
    const row = document.createElement("tr");
    row.dataset.deadLetterId = letter.id;
    cell(row, shortId(letter.job_id)).title = letter.job_id || "";
    cell(row, letter.queue);
    cell(row, letter.type);
    cell(row, letter.attempts, "num");
    cell(row, letter.last_error, "error");
    cell(row, when(letter.failed_at));
    const actionsCell = cell(row, "");
    if (role === "admin") {
      actionsCell.appendChild(button("Requeue", "requeue", async () => {
        const r = await api(`/dead-letter/${letter.id}/requeue`, { method: "POST" });
        actions.set(r.data.job_id, { what: `requeue ${letter.type}`, status: r.data.status });
      }));
    }
    body.appendChild(row);
  }
  if (!letters.length) emptyRow(body, 7, "No dead letters.");
}

function renderAlerts(alerts) {
  const body = $("alerts").querySelector("tbody");
  body.replaceChildren();
  for (const alert of alerts) {
    const row = document.createElement("tr");
    row.dataset.alertId = alert.id;
    cell(row, when(alert.created_at));
    cell(row, alert.severity, alert.severity);
    cell(row, alert.queue);
    cell(row, alert.message);
    const actionsCell = cell(row, alert.acknowledged ? `acknowledged by ${alert.acknowledged_by}` : "");
    if (!alert.acknowledged) {
      actionsCell.appendChild(button("Acknowledge", "acknowledge", () =>
        api(`/alerts/${alert.id}/acknowledge`, { method: "POST" })));
    }
    body.appendChild(row);
  }
  if (!alerts.length) emptyRow(body, 5, "No alerts.");
}

function emptyRow(body, span, text) {
  const row = document.createElement("tr");
  const td = cell(row, text, "muted");
  td.colSpan = span;
  body.appendChild(row);
}

async function renderActions() {
  const list = $("actions");
  list.replaceChildren();
  for (const [jobId, action] of actions) {
    if (!["completed", "cancelled"].includes(action.status)) {
      try { action.status = (await api(`/jobs/${jobId}`)).data.status; } catch (e) { /* shown next round */ }
    }
    const item = document.createElement("li");
    item.dataset.jobId = jobId;
    item.textContent = `${action.what} ${shortId(jobId)}: `;
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = action.status;
    item.appendChild(status);
    list.appendChild(item);
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
