// sortie's admin page: jobs with the reason for their state, a job's history and instances.
// Every string from the API goes into the page through textContent, never as HTML.
"use strict";

const TOKEN_KEY = "sortie-admin-token";
const REFRESH_MS = 2000;
// Mirrors sortie_core::job::JobState::ALL.
const STATES = ["queued", "launching", "running", "completed", "failed", "cancelled", "timed_out"];

const $ = (id) => document.getElementById(id);
let busy = false;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// GET a path of the admin API; resolves to the JSON answer, or null after asking for a token.
async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    body = null;
  }
  if (resp.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(body && body.error ? body.error : "the server refused the token");
    return null;
  }
  if (!resp.ok) {
    throw new Error((body && body.error) || "HTTP " + resp.status);
  }
  return body;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function stateCell(state) {
  return cell(state, "state state-" + state);
}

function row(cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function show(section) {
  for (const id of ["login", "list", "detail"]) $(id).hidden = id !== section;
  $("signout").hidden = section === "login";
}

function showLogin(message) {
  $("login-error").textContent = message || "";
  show("login");
  $("token").focus();
}

async function refreshList() {
  const state = $("state").value;
  const query = state ? "?state=" + encodeURIComponent(state) : "";
  const page = await api("/api/v1/jobs" + query);
  if (!page) return;
  const rows = page.jobs.map((job) => {
    const tr = row([
      cell(job.id),
      stateCell(job.state),
      cell(job.repo),
      cell(job.labels.join(", ")),
      cell(job.reason, "reason"),
      cell(job.updated_at),
    ]);
    tr.addEventListener("click", () => { location.hash = "#job/" + job.id; });
    return tr;
  });
  $("jobs").replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  show("list");
}

async function refreshDetail(id) {
  const detail = await api("/api/v1/jobs/" + encodeURIComponent(id));
  if (!detail) return;
  const job = detail.job;
  $("detail-title").textContent = "Job " + job.id;
  const route = job.route.kind + (job.route.target ? " " + job.route.target : "") +
    ": " + job.route.reason;
  const fields = [
    ["state", job.state], ["reason", job.reason], ["key", job.key], ["repo", job.repo],
    ["forge", job.forge], ["labels", job.labels.join(", ")], ["route", route],
    ["attempt", job.attempt], ["created", job.created_at], ["updated", job.updated_at],
  ];
  $("detail-fields").replaceChildren(...fields.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    return [dt, dd];
  }));
  $("history").replaceChildren(...detail.history.map((h) => row([
    cell(h.at), cell(h.from), stateCell(h.to), cell(h.event), cell(h.reason, "reason"),
  ])));
  $("instances").replaceChildren(...detail.instances.map((i) => row([
    cell(i.id), cell(i.provider), cell(i.provider_id), cell(i.attempt), cell(i.state),
    cell(i.updated_at),
  ])));
  show("detail");
}

// Redraws the view the address names (#job/ID or the list); one request at a time.
async function refresh() {
  if (!token() || busy) return;
  busy = true;
  try {
    const match = /^#job\/(\d+)$/.exec(location.hash);
    if (match) await refreshDetail(match[1]);
    else await refreshList();
    if (token()) status("updated " + new Date().toLocaleTimeString(), false);
  } catch (e) {
    status("cannot load: " + e.message, true);
  } finally {
    busy = false;
  }
}

function start() {
  for (const s of STATES) {
    const option = document.createElement("option");
    option.value = s;
    option.textContent = s;
    $("state").append(option);
  }
  $("state").addEventListener("change", refresh);
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    status("", false);
    showLogin("");
  });
  window.addEventListener("hashchange", refresh);
  setInterval(refresh, REFRESH_MS);
  if (token()) refresh();
  else showLogin("");
}

start();
