// The fsjobstore dashboard: plain JS over the JSON API, no build step.
// The page itself holds no data; everything comes from the API with the token.
"use strict";

const STATES = ["pending", "blocked", "running", "fulfilled", "failed", "cancelled", "expired", "discarded", "due"];
const resolvedStates = ["fulfilled", "failed", "cancelled", "expired", "discarded"];
const HISTORY = 300;
// The pager's words in each sort order (a page's cursor is the store's own, the last id of the page)
const PAGER = { "-created": ["Newer", "Older"], created: ["Older", "Newer"], "-updated": ["Previous", "Next"],
  updated: ["Previous", "Next"] }; // samples kept for the chart (one per change, at most one a poll interval)
const $ = (id) => document.getElementById(id);
const view = { cursors: [null], page: 0, next: null, selected: null, job: null, role: null, series: [], workers: [],
  counts: {}, pauses: [], holdings: [], asked: 0 };

// -- token: ?token= once, then kept in sessionStorage (and removed from the address bar)
function takeToken() {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem("fsjobstore-token", params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }
  return sessionStorage.getItem("fsjobstore-token") || "";
}

let token = takeToken();

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) throw new Unauthorized("a valid token is required");
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(answer.error || "HTTP " + response.status);
  return answer;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "message error" : "message";
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const bytes = (n) => (n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : (n / (1 << 20)).toFixed(1) + " MiB");

// -- live counts (server-sent events read with fetch, so the token travels in a header)
function showCounts(stats) {
  const box = $("counts");
  box.replaceChildren(...STATES.map((state) => {
    const card = el("button", { type: "button", class: "count", "data-state": state, style: `--c: var(--${state})` },
      el("span", { class: "n" }, stats[state] ?? 0), el("span", { class: "label" }, state));
    if (state === $("state").value) card.classList.add("selected");
    if (state !== "due") card.addEventListener("click", () => { $("state").value = state; reload(); });
    return card;
  }));
  view.series.push({ time: Date.now(), stats });
  if (view.series.length > HISTORY) view.series.shift();
  drawChart();
}

function drawChart() {
  const svg = $("chart");
  // the last 5 minutes, or since the page opened if that is shorter (at least 2 s)
  const now = Date.now();
  const first = view.series.length ? view.series[0].time : now;
  const span = Math.min(5 * 60 * 1000, Math.max(2 * 1000, now - first));
  const since = now - span;
  const points = view.series.filter((p) => p.time >= since);
  const top = Math.max(1, ...points.flatMap((p) => STATES.map((s) => p.stats[s] || 0)));
  const x = (t) => ((t - since) / span) * 600;
  const y = (n) => 115 - (n / top) * 105;
  svg.replaceChildren(...STATES.map((state) => {
    // a step line: each sample holds until the next one (and until now for the last)
    const steps = points.flatMap((p, i) => {
      const end = i + 1 < points.length ? points[i + 1].time : now;
      return [`${x(p.time)},${y(p.stats[state] || 0)}`, `${x(end)},${y(p.stats[state] || 0)}`];
    });
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", steps.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", `var(--${state})`);
    line.setAttribute("stroke-width", "2");
    return line;
  }));
}

async function follow() {
  const live = $("live");
  try {
    const response = await fetch("/events", { headers: token ? { authorization: "Bearer " + token } : {} });
    if (!response.ok) throw new Error("HTTP " + response.status);
    live.textContent = "live";
    live.className = "badge ok";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) showCounts(JSON.parse(data).stats);
      }
    }
  } catch (error) {
    console.warn("event stream:", error);
  }
  live.textContent = "reconnecting…";
  live.className = "badge down";
  setTimeout(follow, 2000);
}

// -- job list: filter, sort, pages by cursor
function query() {
  const params = new URLSearchParams({ sort: $("sort").value, limit: "20" });
  for (const name of ["state", "q", "task", "priority"]) if ($(name).value) params.set(name, $(name).value);
  if ($("to").value) params.set("label", "to=" + $("to").value);
  const cursor = view.cursors[view.page];
  if (cursor) params.set("cursor", cursor);
  return params;
}

async function loadJobs() {
  const answer = await api("GET", "/api/jobs?" + query());
  view.next = answer.next_cursor;
  $("jobs").tBodies[0].replaceChildren(...answer.jobs.map((job) => {
    const row = el("tr", { "data-id": job.id },
      el("td", {}, el("code", {}, job.id)),
      el("td", {}, el("span", { class: "state", style: `--c: var(--${job.state})` }, job.state)),
      el("td", {}, job.task ?? "—"), el("td", { class: "num" }, job.priority || ""), el("td", {}, job.labels.to ?? ""),
      el("td", { class: "num" }, job.attempts), el("td", { class: "time" }, when(job.updated_at)),
      el("td", { class: "request" }, JSON.stringify(job.request)));
    if (job.id === view.selected) row.classList.add("selected");
    row.addEventListener("click", () => showJob(job.id));
    return row;
  }));
  if (!answer.jobs.length) $("jobs").tBodies[0].append(el("tr", {}, el("td", { colspan: "8" }, "no jobs")));
  $("prev").disabled = view.page === 0;
  $("next").disabled = !view.next;
  $("page-no").textContent = "page " + (view.page + 1);
  const [back, on] = PAGER[$("sort").value];
  $("prev").textContent = "← " + back;
  $("next").textContent = on + " →";
}

function reload() {
  view.cursors = [null];
  view.page = 0;
  document.querySelectorAll(".count").forEach((c) => c.classList.toggle("selected", c.dataset.state === $("state").value));
  loadJobs().catch(fail);
}

// -- one job
// One attempt of a job's history: who ran it, when, how it ended, and its traceback.
function attemptText(a) {
  const head = `#${a.attempt} ${a.outcome} on ${a.host ?? "?"} pid ${a.pid ?? "?"}, ` +
    `${a.started_at ?? "?"} .. ${a.ended_at ?? "?"}${a.error ? ": " + a.error : ""}`;
  return a.traceback ? head + "\n" + a.traceback.trimEnd() : head;
}

// One target whose delivery failed: how often, whether it was given up, and the last error.
function deliveryText(d) {
  return `${JSON.stringify(d.target)}: ${d.failures} failures, ${d.given_up ? "given up" : "still waiting"}; ` +
    `last at ${d.last_failed_at ?? "?"}: ${d.last_error ?? "?"}`;
}

// Jobs of a dependency tree as links that open their own detail.
function jobLinks(ids) {
  if (!ids.length) return "—";
  return el("span", {}, ...ids.flatMap((id) => {
    const link = el("a", { href: "#", class: "job-link", "data-job": id }, id);
    link.addEventListener("click", (event) => (event.preventDefault(), showJob(id).catch(fail)));
    return [link, " "];
  }));
}

async function showJob(id) {
  const asked = ++view.asked;
  const path = "/api/jobs/" + encodeURIComponent(id);
  const [job, { dependants }] = await Promise.all([api("GET", path), api("GET", path + "/dependants")]);
  // The last job asked for is shown, not the last answer to come: a refresh of the
  // job shown before (after an action, or a panel's tick) may answer after a click.
  if (asked !== view.asked) return;
  view.selected = id;
  view.job = job;
  document.querySelectorAll("#jobs tbody tr").forEach((r) => r.classList.toggle("selected", r.dataset.id === id));
  $("detail").hidden = false;
  $("detail-id").textContent = job.id;
  const value = job.value_encoding === null ? "—" : job.value_encoding === "base64" ? "(base64) " + job.value
    : job.value_encoding === "json" ? JSON.stringify(job.value, null, 2) : job.value;
  const rows = [
    ["state", el("span", { class: "state", style: `--c: var(--${job.state})` }, job.state)],
    ["task", job.task ?? "—"], ["resource", job.resource ?? "—"], ["priority", job.priority],
    ["labels", Object.keys(job.labels).length ? el("span", {}, ...Object.entries(job.labels).flatMap(([name, text]) =>
      [el("code", { class: "label-chip" }, `${name}=${text}`), " "])) : "—"],
    ["key", job.key ?? "—"], ["failures", job.attempts],
    ["parents", job.after.length ? el("span", {}, jobLinks(job.after), `(on a parent's failure: ${job.on_parent_failure})`)
      : "—"],
    ["dependants", jobLinks(dependants)],
    ["progress", job.progress === null ? "—" : el("pre", { class: "progress" }, JSON.stringify(job.progress, null, 2))],
    ["request", el("pre", {}, JSON.stringify(job.request, null, 2))],
    ["value", el("pre", {}, value)], ["error", job.error ? el("pre", { class: "error" }, job.error) : "—"],
    ["waiting", job.waiting.length ? el("pre", {}, job.waiting.map((t) => JSON.stringify(t)).join("\n")) : "none"],
    ["failed deliveries", job.failed_deliveries.length
      ? el("pre", { class: "error" }, job.failed_deliveries.map(deliveryText).join("\n")) : "—"],
    ["created", when(job.created_at)], ["changed", when(job.updated_at)], ["not before", when(job.not_before)],
    ["deadline", job.deadline ? when(job.deadline) + (job.state === "expired" ? " (passed before it started)" : "") : "—"],
    ["held by", job.state === "running" ? holderOf(job.id) : "—"],
    ["lease", job.lease_seconds ? job.lease_seconds + " s" : "store default"],
    ["kept after", job.expires_in ? job.expires_in + " s" : "store default"],
    ["history", job.history.length ? el("pre", { class: "history" }, job.history.map(attemptText).join("\n\n")) : "—"],
  ];
  $("detail-fields").replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name),
    el("dd", { "data-field": name }, value)]));
  const buttons = document.querySelectorAll("#detail [data-action]");
  buttons.forEach((b) => {
    const action = b.dataset.action;
    const resolved = resolvedStates.includes(job.state);
    b.disabled = action === "retry" ? !["failed", "cancelled", "expired", "discarded"].includes(job.state)
      : action === "delete" ? !resolved : resolved;
  });
}

// -- actions, each confirmed in a dialog
function confirmDialog(text, extra = []) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-extra").replaceChildren(...extra);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function act(text, extra, run) {
  if (!(await confirmDialog(text, extra))) return;
  try {
    say(await run());
  } catch (error) {
    say(error.message, true);
  }
  await loadJobs().catch(fail);
  if (view.selected) await showJob(view.selected).catch(() => ($("detail").hidden = true));
  else $("detail").hidden = true;  // (the job was deleted)
}

function onAction(event) {
  const action = event.target.dataset.action;
  const id = view.selected;
  if (action === "retry") act(`Retry job ${id}?`, [], async () => (await api("POST", `/api/jobs/${id}/retry`), `job ${id} is pending again`));
  if (action === "cancel") act(`Cancel job ${id}?`, [], async () => (await api("POST", `/api/jobs/${id}/cancel`), `job ${id} cancelled`));
  if (action === "delete") {
    const waiting = view.job.waiting.length;
    act(`Delete job ${id} for good` + (waiting ? `, with its ${waiting} waiting target(s), never told?` : "?"), [],
      async () => (await api("DELETE", `/api/jobs/${id}`), (view.selected = null), `job ${id} deleted`));
  }
  if (action === "fulfill") {
    const value = el("textarea", { id: "fulfill-value", "aria-label": "value" });
    act(`Fulfil job ${id} by hand with this value:`, [value],
      async () => (await api("POST", `/api/jobs/${id}/fulfill`, { value: value.value }), `job ${id} fulfilled`));
  }
}

function onNewJob() {
  const request = el("textarea", { id: "new-request", "aria-label": "request" }, "{}");
  const task = el("input", { id: "new-task", "aria-label": "task", placeholder: "task (optional)" });
  act("Create a job with this request (JSON):", [el("label", {}, "request", request), el("label", {}, "task ", task)], async () => {
    let parsed;
    try { parsed = JSON.parse(request.value); } catch (error) { throw new Error("the request is not JSON: " + error.message); }
    const job = await api("POST", "/api/jobs", { request: parsed, task: task.value || null });
    view.selected = job.id;
    return `created job ${job.id}`;
  });
}

function onBulkRetry() {
  const filter = { q: $("q").value || null, task: $("task").value || null };
  const what = [filter.task && `task ${filter.task}`, filter.q && `matching "${filter.q}"`].filter(Boolean).join(", ") || "all";
  act(`Retry every failed job (${what})?`, [], async () => {
    const answer = await api("POST", "/api/retry-failed", filter);
    const skipped = Object.keys(answer.skipped).length;
    return `retried ${answer.retried.length} failed jobs` + (skipped ? `, ${skipped} could not be retried` : "");
  });
}

// -- health
async function loadHealth() {
  const health = await api("GET", "/api/health");
  const check = health.last_check;
  const checkText = !check ? "not run since the server started"
    : (check.clean ? "clean" : `${check.problems.filter((p) => !p.repaired).length} problem(s)`) + " at " + when(check.checked_at);
  const rows = [
    ["disk free", `${bytes(health.disk_free_bytes)} of ${bytes(health.disk_total_bytes)}`],
    ["inodes free", health.inodes_total ? `${health.inodes_free} of ${health.inodes_total}` : "not limited"],
    ["last check", checkText],
  ];
  if (check && check.problems.length) {
    rows.push(["problems", el("pre", {}, check.problems.map((p) =>
      `${p.kind}: ${p.path}: ${p.detail}${p.repaired ? " (repaired)" : ""}`).join("\n"))]);
  }
  $("health-fields").replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-field": name }, value)]));
}

async function loadTasks() {
  view.counts = await api("GET", "/api/stats/tasks");
  showTasks();
}

const admin = () => view.role === "admin";

// The per-task table: counts, and each task's pause (a paused task without jobs has a row too).
function showTasks() {
  const states = STATES.filter((s) => s !== "due");
  const paused = new Map(view.pauses.filter((p) => p.task !== null).map((p) => [p.task, p]));
  const tasks = [...new Set([...Object.keys(view.counts), ...paused.keys()])].sort();
  $("tasks-table").tBodies[0].replaceChildren(...tasks.map((task) => {
    const counts = view.counts[task] || {};
    const pause = paused.get(task);
    const pauseCell = el("td", { class: "pause-cell" });
    if (pause) pauseCell.append(el("span", { class: "badge paused", title: pauseText(pause) }, "paused"));
    if (admin() && task) {
      const button = el("button", { type: "button", "data-pause": pause ? "resume" : "pause" }, pause ? "Resume" : "Pause");
      button.addEventListener("click", (event) => { event.stopPropagation(); pause ? onResume(task) : onPause(task); });
      pauseCell.append(button);
    }
    const row = el("tr", { "data-task": task }, el("td", {}, task || "(no task)"),
      ...states.map((s) => el("td", { class: "num" }, counts[s] ?? 0)), pauseCell);
    if (task) row.addEventListener("click", () => { $("task").value = task; reload(); });
    return row;
  }));
  if (!tasks.length) $("tasks-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "9" }, "no jobs")));
}

const pauseText = (p) => `paused${p.reason ? ": " + p.reason : ""} (by ${p.host ?? "?"} pid ${p.pid ?? "?"}, ${when(p.paused_at)})`;

function onPause(task) {
  const reason = el("input", { id: "pause-reason", "aria-label": "reason", placeholder: "reason (optional)" });
  const what = task === null ? "the whole store: no worker anywhere takes a job or a notification" : `task ${task}: no worker takes its jobs`;
  act(`Pause ${what} until it is resumed? Running jobs go on.`, [el("label", {}, "reason ", reason)], async () => {
    await api("POST", "/api/pauses", { task, reason: reason.value || null });
    await loadControl();
    return task === null ? "the store is paused" : `task ${task} is paused`;
  });
}

function onResume(task) {
  act(task === null ? "Resume the whole store?" : `Resume task ${task}?`, [], async () => {
    const answer = await api("POST", "/api/pauses/resume", { task });
    await loadControl();
    const what = task === null ? "the store" : `task ${task}`;
    return answer.resumed ? `${what} is resumed` : `${what} was not paused`;
  });
}

// Pauses, freeze, limits and who runs under them, leases held: refreshed every few seconds.
async function loadControl() {
  const control = await api("GET", "/api/control");
  view.pauses = control.pauses;
  view.holdings = control.holdings;
  const whole = control.pauses.find((p) => p.task === null);
  const badge = $("store-paused");
  badge.hidden = !whole;
  badge.textContent = control.frozen ? "frozen" : "paused";
  badge.title = whole ? pauseText(whole) : "";
  const state = el("span", { id: "store-state" }, control.frozen ? "frozen (fsjobstore freeze; thaw to resume)"
    : whole ? pauseText(whole) : "taking work");
  const actions = [];
  if (admin()) {
    const button = el("button", { type: "button", id: whole ? "resume-store" : "pause-store" }, whole ? "Resume store" : "Pause store");
    button.addEventListener("click", () => (whole ? onResume(null) : onPause(null)));
    actions.push(button);
  }
  $("store-pause").replaceChildren(state, ...actions);
  const jobs = (ids) => ids.length ? ids.map((id) => el("code", { class: "held" }, id)) : ["—"];
  $("limits-table").tBodies[0].replaceChildren(...control.limits.map((l) => el("tr", { "data-limit": `${l.kind}:${l.name}` },
    el("td", {}, l.kind), el("td", {}, l.name), el("td", { class: "num" }, `${l.running.length} / ${l.limit}`),
    el("td", {}, ...jobs(l.running)))));
  if (!control.limits.length) {
    $("limits-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "4" }, "none set (a resource: 1 at a time; a task: no cap)")));
  }
  $("holdings-table").tBodies[0].replaceChildren(...control.holdings.map((h) => el("tr", { "data-holding": h.job_id },
    el("td", {}, el("code", {}, h.job_id)), el("td", {}, h.kind), el("td", {}, h.task ?? "—"), el("td", {}, h.resource ?? "—"),
    el("td", {}, `${h.host ?? "?"} pid ${h.pid ?? "?"}`))));
  if (!control.holdings.length) $("holdings-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "5" }, "none")));
  showTasks();
}

async function loadSchedules() {
  const schedules = await api("GET", "/api/schedules");
  $("schedules-table").tBodies[0].replaceChildren(...schedules.map((s) => el("tr", { "data-schedule": s.name },
    el("td", {}, s.name), el("td", {}, s.when), el("td", {}, s.task ?? "—"),
    el("td", {}, s.paused ? el("span", { class: "badge paused" }, "paused") : when(s.next_tick)), el("td", {}, when(s.last_tick)))));
  if (!schedules.length) $("schedules-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "5" }, "none")));
}

// The loops with a heartbeat record in the store, on its folder or over HTTP.
async function loadLoops() {
  const loops = await api("GET", "/api/heartbeats");
  const tasks = (list) => (list === null ? "any" : list.map((t) => t ?? "(none)").join(", "));
  $("loops-table").tBodies[0].replaceChildren(...loops.map((w) => el("tr", { "data-loop": w.id },
    el("td", {}, w.kind), el("td", {}, `${w.host} pid ${w.pid}`), el("td", {}, tasks(w.tasks)),
    el("td", {}, ...w.current.map((id) => el("code", { class: "held" }, id))),
    el("td", {}, w.paused ? el("span", { class: "badge paused" }, w.paused) : "—"),
    el("td", {}, el("span", { class: w.alive === false ? "state dead" : "state alive" },
      w.alive === null ? "not judged yet" : w.alive ? "alive" : "silent")))));
  if (!loops.length) $("loops-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "6" }, "none running")));
}

function holderOf(id) {
  const holder = view.workers.find((w) => w.jobs.includes(id));
  if (holder) return `${holder.name} (over HTTP)`;
  const lease = view.holdings.find((h) => h.job_id === id && h.kind === "work");
  return lease ? `${lease.host ?? "?"} pid ${lease.pid ?? "?"}` : "a worker not yet seen";
}

async function loadWorkers() {
  const workers = await api("GET", "/api/workers");
  view.workers = workers;
  const tasks = (list) => (list === null ? "any" : list.map((t) => t ?? "(none)").join(", "));
  $("workers-table").tBodies[0].replaceChildren(...workers.map((w) => el("tr", { "data-worker": w.name },
    el("td", {}, w.name), el("td", {}, w.address), el("td", {}, tasks(w.tasks)),
    el("td", {}, ...w.jobs.map((id) => el("code", { class: "held" }, id))), el("td", {}, w.pulls),
    el("td", {}, w.silent_for.toFixed(1) + " s ago"),
    el("td", {}, el("span", { class: w.alive ? "state alive" : "state dead" }, w.alive ? "alive" : "silent")))));
  if (!workers.length) $("workers-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "7" }, "none heard from")));
}

async function runCheck() {
  $("run-check").disabled = true;
  try {
    const report = await api("POST", "/api/check", { repair: false });
    say(report.clean ? "check: the store is clean" : `check: ${report.problems.length} problem(s)`, !report.clean);
    await loadHealth();
  } catch (error) {
    say(error.message, true);
  } finally {
    $("run-check").disabled = false;
  }
}

// -- start
function fail(error) {
  if (error instanceof Unauthorized) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = token ? "that token was refused" : "";
  } else {
    say(error.message, true);
  }
}

// Load a panel now and again *ms* after each answer (never two requests of one panel at once),
// skipped while the tab is hidden (as Oban Web and others pause their polling): a dashboard
// left open in the background costs the server nothing.
function every(load, ms) {
  const again = () => setTimeout(() => every(load, ms), ms);
  if (document.hidden) again();
  else load().catch(fail).finally(again);
}

async function start() {
  try {
    view.role = (await api("GET", "/api/whoami")).role;
  } catch (error) {
    fail(error);
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("role").textContent = view.role === "admin" ? "admin" : "read-only";
  if (view.role !== "admin") document.querySelectorAll(".admin-only").forEach((node) => node.remove());
  showCounts(await api("GET", "/api/stats"));
  await loadJobs().catch(fail);
  // Each panel on its own: a slow one (the per-task counts read every job) holds up no other.
  every(loadHealth, 10000);
  every(loadTasks, 10000);
  every(loadWorkers, 3000);
  every(loadControl, 3000);
  every(loadSchedules, 10000);
  every(loadLoops, 3000);
  setInterval(drawChart, 5000);
  // the open job, while it may still change (a running job's progress): its detail follows
  setInterval(() => {
    if (view.selected && view.job && !resolvedStates.includes(view.job.state) && !$("confirm").open) {
      showJob(view.selected).catch(() => {});
    }
  }, 2000);
  follow();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token-input").value.trim();
  sessionStorage.setItem("fsjobstore-token", token);
  start();
});
$("filter").addEventListener("submit", (event) => { event.preventDefault(); reload(); });
$("state").addEventListener("change", reload);
$("sort").addEventListener("change", reload);
$("prev").addEventListener("click", () => { view.page -= 1; loadJobs().catch(fail); });
$("next").addEventListener("click", () => { view.cursors[view.page + 1] = view.next; view.page += 1; loadJobs().catch(fail); });
document.querySelectorAll("#detail [data-action]").forEach((b) => b.addEventListener("click", onAction));
$("new-job")?.addEventListener("click", onNewJob);
$("bulk-retry")?.addEventListener("click", onBulkRetry);
$("run-check")?.addEventListener("click", runCheck);
start();
