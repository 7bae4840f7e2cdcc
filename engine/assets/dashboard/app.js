// The dashboard's page. Everything it shows comes from the JSON API (docs/dashboard.md): the
// run's journal (GET /api/runs/{run}/events, then live over GET /api/events), projected here
// into the views; the status, plan, steps' files, tasks and runs from their own endpoints.
// Signals go to POST /api/control, the same channel as the CLI's. A token given as ?token= is
// kept for this tab only and sent as a bearer token. No framework and no build step: the
// binary embeds these three files, and the page works offline.
"use strict";

// ---------------------------------------------------------------------------------------------
// Access and requests

const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("ralph-token", params.get("token"));
  history.replaceState(null, "", location.pathname + location.hash);
}
let token = sessionStorage.getItem("ralph-token");
const headers = token ? { Authorization: "Bearer " + token } : {};

// A change refused for want of the token (a page opened without `?token=`, or a dashboard
// started again with a new one): the person is asked for it once, and the change is sent again.
function askToken(message) {
  const given = window.prompt(message + "\n\nPaste the token the dashboard printed where it was started:");
  if (!given || !given.trim()) return false;
  token = given.trim();
  sessionStorage.setItem("ralph-token", token);
  headers.Authorization = "Bearer " + token;
  return true;
}
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? { headers } : {
    method: "POST", body: JSON.stringify(body),
    headers: { ...headers, "Content-Type": "application/json" },
  };
  try {
    const response = await fetch(path, init);
    const json = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, json };
  } catch (e) {
    return { ok: false, status: 0, json: { error: "the dashboard cannot be reached" } };
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function ms(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return "";
  if (n < 1000) return Math.round(n) + " ms";
  const s = n / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60), rs = Math.round(s % 60);
  if (m < 60) return m + "m " + String(rs).padStart(2, "0") + "s";
  return Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m";
}

const usd = (n) => "$" + Number(n || 0).toFixed(4);
const time = (at) => (at ? String(at).replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") : "");
const when = (at) => (at ? Date.parse(at) : NaN);
const taskName = (t) => (t ? (t.title ? t.id + " " + t.title : t.id) : "");

function median(values) {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

// Fills a table body: a row per item, a cell per value (a <td> given is used as it is). Rows
// that did not change are kept: a row being clicked is not replaced under the pointer.
function rows(tbody, list, cells, each) {
  const fresh = list.map((item) => {
    const tr = el("tr");
    for (const c of cells(item)) tr.append(c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c));
    if (each) each(tr, item);
    return tr;
  });
  const sig = fresh.map((tr) => tr.outerHTML).join("");
  if (tbody._sig === sig) return;
  tbody._sig = sig;
  tbody.replaceChildren(...fresh);
}

// ---------------------------------------------------------------------------------------------
// The model: which run is shown, its events, and what was read about it

const model = {
  liveRun: null,      // the run the loop runs now (from the live feed), if any
  live: false,        // the feed is following it
  liveEvents: [],     // its events, in journal order
  picked: null,       // a run picked in the Runs view (null: the live or latest run)
  storedRun: null,    // the run read from the store, and its events
  storedEvents: [],
  status: null,       // GET /api/status
  plans: {},          // run id -> plan
  steps: null,        // GET /api/runs/{run}/steps of the run shown
  tasks: null,        // GET /api/tasks
  checks: {},         // run id -> replay check
  projected: null,    // the projection of the events shown, and of how many
};

function shownRun() {
  if (model.picked) return model.picked;
  return model.liveRun || model.storedRun;
}

function shownEvents() {
  const run = shownRun();
  if (run && run === model.liveRun) return model.liveEvents;
  if (run && run === model.storedRun) return model.storedEvents;
  return [];
}

async function loadStored(run) {
  const { ok, json } = await api("/api/runs/" + encodeURIComponent(run) + "/events");
  if (!ok) return;
  model.storedRun = run;
  model.storedEvents = json.events || [];
  model.projected = null;
  schedule();
}

// ---------------------------------------------------------------------------------------------
// The projection: the journal folded into what the views show

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };

// The level the loop's own log gives an event (telemetry/run.rs), so both filter alike.
function level(e) {
  switch (e.event) {
    case "run_finished": return e.status === "failed" ? "error" : "info";
    case "step_finished": return e.outcome && !e.outcome.success ? "warn" : "info";
    case "step_retrying": case "breaker": case "step_interrupted": case "warning": case "halt": return "warn";
    case "plugin": return ["error", "disabled", "load_error", "veto"].includes(e.kind) ? "warn" : "info";
    case "signal": case "hints_delivered": return "debug";
    case "notification": return e.delivered ? "info" : "warn";
    default: return "info";
  }
}

function stepOf(e) {
  return e.step || e.from || "";
}

function detail(e) {
  switch (e.event) {
    case "run_started": return e.workflow + " (" + e.kind + ")";
    case "iteration_started": return "iteration " + e.iteration + (e.task ? " · " + taskName(e.task) : "");
    case "iteration_finished": return "iteration " + e.iteration + " " + e.status + ": " + e.reason;
    case "step_started": return (e.agent || "") + (e.attempt > 1 ? " attempt " + e.attempt : "");
    case "step_finished": {
      const o = e.outcome || {};
      return (o.success ? "ok" : "failed") + (o.result ? " · " + o.result : "") + " · " + ms(o.duration_ms) +
        (o.error ? " · " + o.error : "") + (o.summary ? " · " + o.summary : "");
    }
    case "step_retrying": return "attempt " + e.attempt + " failed" + (e.class ? " (" + e.class + ")" : "") + ", retry in " + ms(e.delay_ms);
    case "transition": return e.from + " → " + e.to + (e.kind !== "transition" ? " (" + e.kind + ")" : "");
    case "task_marked": return taskName(e.task) + " " + e.status;
    case "committed": return String(e.commit).slice(0, 10) + " " + e.message;
    case "control": return e.signal + (e.text ? ": " + e.text : "") + (e.to ? " → " + e.to : "") + (e.n ? " +" + e.n : "") + (e.display_name || e.by ? " by " + (e.display_name || e.by) : "");
    case "review_requested": return "waiting for review";
    case "review_decided": return e.decision + (e.comment ? ": " + e.comment : "") + (e.display_name || e.by ? " by " + (e.display_name || e.by) : "");
    case "breaker": return (e.agent ? e.agent + "'s breaker " : "breaker ") + e.state + (e.reason ? ": " + e.reason : "");
    case "waiting": return "waits " + e.seconds + " s: " + e.reason;
    case "step_skipped": return e.reason;
    case "plugin": return e.plugin + " " + e.kind + ": " + e.message;
    case "plugin_called": return e.plugin + " at " + e.hook + " → " + (e.decision || e.error || "") + " (" + ms(e.duration_us / 1000) + ")";
    case "notification": return e.notification + " → " + e.channel + (e.delivered ? " delivered" : " not delivered") + ": " + e.detail;
    case "warning": return e.message;
    case "halt": case "run_finished": return e.status + ": " + e.reason;
    case "action_finished": return e.hook + " " + e.action + " " + (e.outcome && e.outcome.success ? "ok" : "failed");
    default: return e.reason || e.message || "";
  }
}

function project(events) {
  const p = {
    run: null, workflow: "", kind: "", startedAt: null, finishedAt: null, status: null, reason: null,
    iteration: 0, task: null, state: null, steps: new Map(), executions: [], path: [], commits: [],
    agents: new Map(), plugins: new Map(), breaker: "closed", waitingReview: null, retries: 0,
    waits: [], stepNames: new Set(), lastAt: null,
  };
  const open = new Map(); // step -> execution still running
  const agent = (name) => {
    if (!p.agents.has(name)) p.agents.set(name, { name, calls: 0, failed: 0, retries: 0, tokens: 0, cost: 0, durations: [], breaker: "closed", lastError: null, running: 0 });
    return p.agents.get(name);
  };
  const plugin = (name) => {
    if (!p.plugins.has(name)) p.plugins.set(name, { name, calls: 0, vetoes: 0, failures: 0, micros: 0, hooks: new Set(), disabled: false, last: null });
    return p.plugins.get(name);
  };
  for (const e of events) {
    if (e.at) p.lastAt = e.at;
    const step = e.step;
    if (step) p.stepNames.add(step);
    switch (e.event) {
      case "run_started":
        Object.assign(p, { run: e.run_id, workflow: e.workflow, kind: e.kind, startedAt: e.at }); break;
      case "iteration_started": p.iteration = e.iteration; p.task = e.task || null; break;
      case "step_started": {
        const x = { seq: e.seq, step, agent: e.agent, attempt: e.attempt, iteration: e.iteration, human: !!e.human, start: e.at, end: null, outcome: null };
        p.executions.push(x); open.set(step, x);
        p.steps.set(step, { status: e.human ? "waiting" : "running", attempt: e.attempt, agent: e.agent });
        if (!e.human) agent(e.agent).running += 1;
        p.state = step;
        break;
      }
      case "step_finished": {
        const x = open.get(step); open.delete(step);
        const o = e.outcome || {};
        if (x) {
          x.end = e.at; x.outcome = o;
          if (!x.human) {
            const a = agent(x.agent);
            a.running = Math.max(0, a.running - 1);
            a.calls += 1; if (!o.success) { a.failed += 1; a.lastError = o.error || o.class || "failed"; }
            const m = (o.evidence && o.evidence.metrics) || {};
            const tokens = m.tokens_used ?? ((m.input_tokens || 0) + (m.output_tokens || 0));
            a.tokens += tokens || 0; a.cost += m.cost_usd || 0; a.durations.push(o.duration_ms || 0);
            x.tokens = tokens || 0; x.cost = m.cost_usd || 0;
          }
        }
        p.steps.set(step, { ...(p.steps.get(step) || {}), status: o.success ? "succeeded" : "failed", outcome: o });
        break;
      }
      case "step_retrying": {
        p.retries += 1;
        const x = open.get(step) || [...p.executions].reverse().find((y) => y.step === step);
        if (x) { x.retryDelay = e.delay_ms; agent(x.agent).retries += 1; }
        break;
      }
      case "step_skipped": p.steps.set(step, { status: "skipped", reason: e.reason }); break;
      case "step_interrupted": { const x = open.get(step); if (x) { x.interrupted = true; open.delete(step); } break; }
      case "transition": p.path.push({ from: e.from, to: e.to, kind: e.kind }); p.state = e.to; break;
      case "committed": p.commits.push(e); break;
      case "review_requested": p.waitingReview = step; p.steps.set(step, { ...(p.steps.get(step) || {}), status: "waiting" }); break;
      case "review_decided": if (p.waitingReview === step) p.waitingReview = null; break;
      case "waiting": p.waits.push(e); break;
      case "breaker":
        if (e.agent) agent(e.agent).breaker = e.state;
        else if (e.all) { p.breaker = e.state; for (const a of p.agents.values()) a.breaker = e.state; }
        else p.breaker = e.state;
        break;
      case "plugin_called": {
        const g = plugin(e.plugin);
        g.calls += 1; g.micros += e.duration_us || 0; g.hooks.add(e.hook);
        if (e.decision === "veto") g.vetoes += 1;
        if (e.error) { g.failures += 1; g.last = e.hook + ": " + e.error; }
        break;
      }
      case "plugin": {
        const g = plugin(e.plugin);
        if (e.kind === "disabled") g.disabled = true;
        if (["error", "load_error", "missing", "refused"].includes(e.kind)) g.failures += 1;
        g.last = e.kind + ": " + e.message;
        break;
      }
      case "run_finished": Object.assign(p, { finishedAt: e.at, status: e.status, reason: e.reason }); break;
      case "resumed": for (const [s, x] of open) { x.interrupted = true; open.delete(s); } break;
      default: break;
    }
  }
  return p;
}

function projection() {
  const events = shownEvents();
  if (!model.projected || model.projected.events !== events || model.projected.length !== events.length) {
    model.projected = { events, length: events.length, value: project(events) };
  }
  return model.projected.value;
}

// ---------------------------------------------------------------------------------------------
// Rendering: at most five times a second, the header and the view in sight

const VIEWS = ["overview", "workflow", "timeline", "steps", "tasks", "metrics", "logs", "agents", "plugins", "git", "runs"];
const render = {};
let timer = null;

function view() {
  const name = location.hash.replace("#", "");
  return VIEWS.includes(name) ? name : "overview";
}

function schedule() {
  if (timer) return;
  timer = setTimeout(() => { timer = null; draw(); }, 200);
}

function draw() {
  const name = view();
  for (const v of VIEWS) $("view-" + v).hidden = v !== name;
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("on", a.getAttribute("href") === "#" + name));
  header();
  render[name]();
}

function header() {
  const s = model.status, p = projection();
  $("feed").textContent = !model.connected ? "○ reconnecting" : model.live ? "● live" : "○ no loop running";
  $("feed").title = model.live ? "following the running loop's events as they happen" : "the page follows the next loop that starts here";
  const run = shownRun();
  const latest = s && s.latest_run;
  $("run").textContent = run ? "run " + run + (model.picked ? " (picked)" : "") : "no run yet";
  let state = "idle";
  if (model.picked) state = p.status || (p.finishedAt ? "finished" : "stopped");
  else if (latest) state = latest.waiting_for_review ? "waiting" : String(latest.status).split(" ")[0];
  if (s && s.live && s.live.paused_by && !model.picked) state = "paused";
  $("state").textContent = state === "waiting" ? "waiting for review" : state;
  $("state").className = "badge " + state;
  const warnings = [];
  const pace = s && s.pace;
  if (!model.picked && pace) {
    if (pace.stall && pace.stall.warning) warnings.push(pace.stall.warning === true ? "stall: the current task has run " + ms(pace.stall.running_ms) + ", over " + ms(pace.stall.threshold_ms) : pace.stall.warning);
    if (pace.drift && pace.drift.warning) warnings.push(pace.drift.warning === true ? "drift: tasks take " + Number(pace.drift.ratio).toFixed(1) + "× the baseline" : pace.drift.warning);
  }
  if (p.breaker === "open") warnings.push("the circuit breaker is open");
  if (p.waitingReview) warnings.push("`" + p.waitingReview + "` waits for your review");
  $("warnings").hidden = !warnings.length;
  $("warnings").replaceChildren(...warnings.map((w) => el("span", { text: w })));
}

// ----- Overview

function card(label, value, note) {
  return el("div", { class: "card" }, el("div", { class: "label", text: label }), el("div", { class: "value", text: value ?? "—" }), note ? el("div", { class: "note", text: note }) : null);
}

render.overview = () => {
  const s = model.status || {}, live = model.picked ? null : s.live, pace = model.picked ? null : s.pace;
  const p = projection();
  const finished = p.executions.filter((x) => x.outcome && !x.human);
  const ok = finished.filter((x) => x.outcome.success).length;
  const end = p.finishedAt ? when(p.finishedAt) : (live ? Date.now() : when(p.lastAt));
  const elapsed = p.startedAt ? end - when(p.startedAt) : undefined;
  // Progress: through the task file when there is one, else through a DAG's or saga's nodes (a
  // state machine's states are a cycle, not a distance).
  const planned = model.plans[shownRun()];
  if (planned === undefined && shownRun()) plan(shownRun());
  let progress;
  if (pace && pace.tasks_remaining !== undefined && pace.tasks_remaining !== null) {
    progress = pace.tasks_done + " of " + (pace.tasks_done + pace.tasks_remaining) + " tasks";
  } else if (planned && planned.nodes && planned.kind !== "state_machine") {
    const done = planned.nodes.filter((n) => ["succeeded", "skipped"].includes((p.steps.get(n.id) || {}).status)).length;
    progress = done + " of " + planned.nodes.length + " nodes";
  }
  // What the journal says (state, iteration, task, spend) is as fresh as the last event; the
  // loop's own status adds what only it knows (invocations left, who paused it).
  const tokens = p.executions.reduce((a, x) => a + (x.tokens || 0), 0), cost = p.executions.reduce((a, x) => a + (x.cost || 0), 0);
  const running = p.executions.filter((x) => !x.outcome && !x.interrupted && !x.human).length;
  $("cards").replaceChildren(
    card("state", p.waitingReview || p.state, p.waitingReview ? "waiting for review" : running ? running + " running" : undefined),
    card("iteration", p.iteration, live ? live.invocations + " of " + live.max_iterations + " invocations" : undefined),
    card("task", taskName(p.task)),
    card("progress", progress),
    card("success rate", finished.length ? Math.round((100 * ok) / finished.length) + "%" : undefined, finished.length ? ok + " of " + finished.length + " steps" : undefined),
    card("elapsed", elapsed !== undefined ? ms(elapsed) : undefined),
    card("ETA", pace && pace.eta_ms !== undefined && pace.eta_ms !== null ? ms(pace.eta_ms) : undefined, pace && pace.velocity_per_hour ? Number(pace.velocity_per_hour).toFixed(1) + " tasks/h" : undefined),
    card("breaker", live ? live.breaker : p.breaker),
    card("spend", tokens.toLocaleString() + " tokens", usd(cost) + " this run"),
  );
  const dl = $("facts"); dl.replaceChildren();
  const fact = (name, value) => { if (value !== undefined && value !== null && value !== "") dl.append(el("dt", { text: name }), el("dd", { text: value })); };
  fact("workflow", p.workflow ? p.workflow + " (" + p.kind + ")" : live && live.workflow);
  fact("run", shownRun());
  fact("started", time(p.startedAt));
  fact("finished", p.finishedAt ? time(p.finishedAt) + " · " + p.status + " · " + p.reason : undefined);
  if (live) { fact("paused by", live.paused_by); fact("steps running", live.running); }
  fact("retries", p.retries || undefined);
  fact("commits", p.commits.length || undefined);
  if (pace) {
    fact("average task", pace.average_task_ms ? ms(pace.average_task_ms) : undefined);
    if (pace.drift && pace.drift.ratio) fact("drift", Number(pace.drift.ratio).toFixed(2) + "× baseline " + ms(pace.drift.baseline_ms));
  }
  if (s.spend && !model.picked) fact("spend (all runs)", s.spend.tokens + " tokens, " + usd(s.spend.cost_usd));
  const waiting = p.waitingReview;
  $("review").hidden = !waiting;
  if (waiting) {
    $("review").replaceChildren("`" + waiting + "` waits for your review: decide below, or ", el("a", { href: "/review", id: "review-link", text: "open its review form" }), ".");
  }
  // The controls act on a running loop only.
  for (const c of $("controls").querySelectorAll("button, input, select")) c.disabled = !live;
  $("controls-note").hidden = !!live;
  const select = $("redirect-to");
  const states = planned && planned.kind === "state_machine" ? planned.nodes.filter((n) => n.role === "state").map((n) => n.id) : [];
  $("redirect-form").hidden = !states.length;
  if (select.options.length !== states.length) select.replaceChildren(...states.map((id) => el("option", { value: id, text: id })));
  const recent = shownEvents().slice(-30);
  $("recent").replaceChildren(...recent.map((e) => el("li", { value: e.seq, class: "lvl-" + level(e) }, el("span", { class: "t", text: time(e.at).slice(11) }), " ", el("b", { text: e.event }), " ", stepOf(e), " ", detail(e))));
};

// ----- Workflow: the plan as a layered graph, coloured by each node's state

async function plan(run) {
  if (model.plans[run] !== undefined) return model.plans[run];
  model.plans[run] = null; // asked once
  const path = run ? "/api/runs/" + encodeURIComponent(run) + "/plan" : "/api/plan";
  const { ok, json } = await api(path);
  model.plans[run] = ok ? json : { error: json.error || "no plan" };
  schedule();
  return model.plans[run];
}

function layout(plan) {
  const ids = plan.nodes.map((n) => n.id);
  const order = new Map(ids.map((id, i) => [id, i]));
  const out = new Map(ids.map((id) => [id, []]));
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of plan.edges) {
    if (!out.has(e.from) || !out.has(e.to)) continue;
    out.get(e.from).push(e.to);
    indeg.set(e.to, indeg.get(e.to) + 1);
  }
  const depth = new Map();
  if (plan.kind === "dag") {
    // Longest path from a root: a node sits right of everything it waits for.
    const queue = ids.filter((id) => indeg.get(id) === 0);
    const left = new Map(indeg);
    for (const id of queue) depth.set(id, 0);
    while (queue.length) {
      const id = queue.shift();
      for (const to of out.get(id)) {
        depth.set(to, Math.max(depth.get(to) || 0, depth.get(id) + 1));
        left.set(to, left.get(to) - 1);
        if (left.get(to) === 0) queue.push(to);
      }
    }
  } else {
    // Breadth first from where it starts: loops back are drawn as arcs.
    const start = plan.initial || ids[0];
    const queue = start ? [start] : [];
    if (start) depth.set(start, 0);
    while (queue.length) {
      const id = queue.shift();
      for (const to of out.get(id)) if (!depth.has(to)) { depth.set(to, depth.get(id) + 1); queue.push(to); }
    }
  }
  let max = Math.max(0, ...depth.values());
  for (const id of ids) if (!depth.has(id)) depth.set(id, ++max);
  const columns = [];
  for (const id of ids) (columns[depth.get(id)] ||= []).push(id);
  const W = 150, H = 30, GX = 60, GY = 14;
  const pos = new Map();
  columns.forEach((col, c) => col.sort((a, b) => order.get(a) - order.get(b)).forEach((id, r) => pos.set(id, { x: 20 + c * (W + GX), y: 20 + r * (H + GY), c })));
  const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  return { pos, W, H, width: 40 + columns.length * (W + GX), height: 60 + tallest * (H + GY) };
}

render.workflow = () => {
  const run = shownRun();
  const planned = model.plans[run];
  if (planned === undefined) { plan(run); }
  if (!planned) { $("graph").textContent = "reading the plan…"; return; }
  if (planned.error) { $("graph").textContent = planned.error; return; }
  const p = projection();
  const { pos, W, H, width, height } = layout(planned);
  const taken = new Set(p.path.map((t) => t.from + "\u0000" + t.to));
  // A terminal state runs nothing: it is reached when a transition enters it.
  const entered = new Set(p.path.map((t) => t.to));
  const status = (id) => (p.steps.get(id) || {}).status || (entered.has(id) ? "succeeded" : "pending");
  const label = planned.edges.length < 80;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="workflow graph">`;
  svg += `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>`;
  for (const e of planned.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const hit = taken.has(e.from + "\u0000" + e.to) || (planned.kind === "dag" && status(e.from) === "succeeded" && status(e.to) !== "pending");
    let d, lx, ly;
    if (b.c > a.c) {
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`; lx = mx; ly = (y1 + y2) / 2 - 3;
    } else {
      // Back (or same-column) edge: an arc under the nodes.
      const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2 + 8, y2 = b.y + H + 2, dip = Math.max(y1, y2) + 26 + Math.abs(a.c - b.c) * 6;
      d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`; lx = (x1 + x2) / 2; ly = dip - 8;
    }
    svg += `<path d="${d}" class="edge ${esc(e.kind)}${hit ? " taken" : ""}" marker-end="url(#arrow)"/>`;
    const text = e.condition || (["else", "timeout", "compensate"].includes(e.kind) ? e.kind : "");
    if (label && text) svg += `<text x="${lx}" y="${ly}" class="edge-label" text-anchor="middle">${esc(text.length > 28 ? text.slice(0, 27) + "…" : text)}</text>`;
  }
  for (const n of planned.nodes) {
    const q = pos.get(n.id);
    const st = n.role === "stop" ? "stop" : status(n.id);
    const current = p.state === n.id && !p.finishedAt ? " current" : "";
    const name = n.id.length > 20 ? n.id.slice(0, 19) + "…" : n.id;
    const title = n.id + " · " + st + (n.agents ? " · " + n.agents.join(", ") : "") + (n.condition ? " · if " + n.condition : "");
    svg += `<g class="node ${esc(st)}${current}" data-id="${esc(n.id)}"><title>${esc(title)}</title>`;
    svg += `<rect x="${q.x}" y="${q.y}" width="${W}" height="${H}" rx="${n.role === "state" ? 6 : 14}"/>`;
    svg += `<text x="${q.x + W / 2}" y="${q.y + H / 2 + 4}" text-anchor="middle">${esc(name)}</text></g>`;
  }
  svg += "</svg>";
  // Redrawn only when something changed: a hover tooltip survives the live updates.
  if ($("graph")._svg !== svg) { $("graph").innerHTML = svg; $("graph")._svg = svg; }
  const counts = {};
  for (const n of planned.nodes) { const st = status(n.id); counts[st] = (counts[st] || 0) + 1; }
  $("workflow-caption").textContent = (planned.workflow || p.workflow || "") + " · " + planned.kind.replace("_", " ") + " · " + planned.nodes.length + " nodes · " +
    Object.entries(counts).map(([k, v]) => v + " " + k).join(", ") + (p.path.length ? " · path: " + [p.path[0].from, ...p.path.map((t) => t.to)].slice(-12).join(" → ") : "");
};

// ----- Timeline: each execution as a bar, retries and reviews marked, the trace id beside it

render.timeline = () => {
  const p = projection();
  const runs = model.runs || [];
  const summary = runs.find((r) => r.run_id === shownRun());
  const traceId = summary && summary.trace_id;
  const caption = [p.executions.length + " executions"];
  if (p.retries) caption.push(p.retries + " retries");
  if (p.waits.length) caption.push(p.waits.length + " waits (" + p.waits.reduce((a, w) => a + w.seconds, 0) + " s)");
  $("timeline-caption").replaceChildren(caption.join(" · "), traceId ? " · trace " : "", traceId ? el("code", { id: "trace-id", text: traceId }) : "",
    " · ", el("a", { href: "/api/runs/" + encodeURIComponent(shownRun() || "") + "/trace", target: "_blank", text: "spans as JSON" }));
  const xs = p.executions.filter((x) => x.start);
  if (!xs.length) { $("gantt").textContent = "no steps yet"; return; }
  const t0 = when(p.startedAt || xs[0].start);
  const endOf = (x) => {
    if (x.outcome) return Math.max(when(x.start) + (x.outcome.duration_ms || 0), when(x.end || x.start));
    return p.finishedAt ? when(p.finishedAt) : Math.max(Date.now(), when(x.start));
  };
  const t1 = Math.max(...xs.map(endOf), t0 + 1000);
  const shown = xs.slice(-400);
  const W = Math.max(600, $("gantt").clientWidth - 260), span = t1 - t0;
  const scale = (t) => ((t - t0) / span) * W;
  let html = `<div class="axis" style="margin-left:240px;width:${W}px">`;
  for (let i = 0; i <= 5; i++) html += `<span style="left:${(i * W) / 5}px"${i === 5 ? ' class="last"' : ""}>${i ? esc(ms((span * i) / 5)) : "0"}</span>`;
  html += "</div>";
  if (shown.length < xs.length) html += `<p class="muted">the last ${shown.length} of ${xs.length} executions</p>`;
  for (const x of shown) {
    const left = scale(when(x.start)), right = scale(endOf(x));
    const st = x.interrupted ? "interrupted" : x.outcome ? (x.outcome.success ? "succeeded" : "failed") : x.human ? "waiting" : "running";
    const title = `${x.step} · ${x.agent} · attempt ${x.attempt} · ${st} · ${ms(x.outcome ? x.outcome.duration_ms : endOf(x) - when(x.start))}` +
      (x.outcome && x.outcome.error ? " · " + x.outcome.error : "") + (x.retryDelay ? " · retried after " + ms(x.retryDelay) : "");
    html += `<div class="lane"><span class="lane-label" title="${esc(x.step)}">${esc(x.step)}${x.attempt > 1 ? ` <small>#${x.attempt}</small>` : ""}</span>` +
      `<span class="bar ${st}${x.attempt > 1 ? " retry" : ""}${x.human ? " human" : ""}" style="left:${240 + left}px;width:${Math.max(3, right - left)}px" title="${esc(title)}"></span>` +
      (x.retryDelay ? `<span class="wait" style="left:${240 + right}px;width:${Math.max(2, (x.retryDelay / span) * W)}px" title="retry wait ${esc(ms(x.retryDelay))}"></span>` : "") + "</div>";
  }
  $("gantt").innerHTML = html;
};

// ----- Steps: every execution, and the one picked with its packet, prompt and live output

let stepsAsked = 0, picked = null, detailAsked = 0;

async function refreshSteps() {
  const run = shownRun();
  if (!run || Date.now() - stepsAsked < 1000) return;
  stepsAsked = Date.now();
  const { ok, json } = await api("/api/runs/" + encodeURIComponent(run) + "/steps");
  if (ok) { model.steps = { run, list: json.executions || json.steps || [] }; schedule(); }
}

render.steps = () => {
  refreshSteps();
  const list = model.steps && model.steps.run === shownRun() ? model.steps.list : [];
  const keyOf = (x) => x.invocation + "/" + x.step + "/" + x.attempt;
  rows($("step-list").tBodies[0], list.slice(-500),
    (x) => [x.invocation, x.iteration, x.step, x.attempt, x.agent, ms(x.duration_ms), el("td", { class: "st " + x.status, text: x.status })],
    (tr, x) => {
      const key = keyOf(x);
      tr.classList.toggle("on", !!picked && picked.key === key);
      tr.dataset.step = x.step;
      tr.onclick = () => { picked = { key, x, detail: null }; detailAsked = 0; schedule(); };
      // The picked execution's row is fresher than the picked copy (its status, its duration).
      if (picked && picked.key === key) picked.x = x;
    });
  if (picked) stepDetail();
};

async function stepDetail() {
  const { x } = picked;
  const running = !x.status || x.status === "running" || x.status === "unfinished";
  if (!picked.detail || (running && Date.now() - detailAsked > 1000)) {
    if (Date.now() - detailAsked < 1000) return;
    detailAsked = Date.now();
    const { ok, json } = await api("/api/runs/" + encodeURIComponent(shownRun()) + "/steps/" + x.invocation + "/" + encodeURIComponent(x.step) + "?lines=400");
    picked.detail = ok ? json : { error: json.error };
  }
  const d = picked.detail;
  const box = $("step-detail");
  if (d.error) { box.textContent = d.error; return; }
  const block = (title, text, id, note) => (text === undefined || text === null ? null : el("details", { open: true },
    el("summary", {}, title, note ? el("span", { class: "muted small", text: " " + note }) : null),
    el("pre", { id, text: typeof text === "string" ? text : JSON.stringify(text, null, 2) })));
  // A file's excerpt: its text, and whether the file holds more.
  const excerpt = (f) => (f ? f.text : undefined);
  const more = (f, what) => (f && f.truncated ? what + " of " + f.bytes.toLocaleString() + " bytes" : "");
  const units = (d.units || []).map((u) => el("div", { class: "unit" },
    u.name ? el("h3", { text: u.name }) : null,
    block("rendered prompt", excerpt(u.prompt), undefined, more(u.prompt, "the start")),
    block("result file", u.result),
    block(running ? "output (live tail)" : "output", excerpt(u.log), "output-tail", more(u.log, "the end"))));
  box.replaceChildren(el("h2", { text: x.step + " · attempt " + x.attempt + " · " + x.status }),
    el("p", { class: "muted", text: [x.agent, ms(x.duration_ms), x.class, x.error].filter(Boolean).join(" · ") }),
    block("outcome and evidence", d.outcome),
    block("steering packet", d.completed_packet || d.packet),
    ...units);
}

// ----- Tasks: the task file as a board

let tasksAsked = 0;
render.tasks = async () => {
  if (Date.now() - tasksAsked > 2000) {
    tasksAsked = Date.now();
    const { ok, json } = await api("/api/tasks");
    model.tasks = ok ? json : { error: json.error };
  }
  const t = model.tasks;
  if (!t) return;
  if (t.error) { $("tasks-caption").textContent = t.error; $("board").replaceChildren(); return; }
  const tasks = t.tasks || [];
  $("tasks-caption").textContent = (t.source || t.file || "tasks") + " · " + tasks.length + " tasks";
  const columns = ["pending", "in_progress", "done", "failed", "blocked"];
  for (const task of tasks) if (!columns.includes(task.status)) columns.push(task.status);
  $("board").replaceChildren(...columns.map((c) => {
    const mine = tasks.filter((task) => task.status === c);
    return el("div", { class: "column " + c }, el("h3", { text: c.replace("_", " ") + " (" + mine.length + ")" }), ...mine.map((task) => {
      const h = task.history || [];
      return el("div", { class: "task" }, el("b", { text: task.id }), " ", task.title || task.description || "",
        el("div", { class: "muted small", text: [task.priority !== undefined && task.priority !== null ? "priority " + task.priority : "", task.depends_on && task.depends_on.length ? "after " + task.depends_on.join(", ") : "", h.length ? h.length + " attempt(s)" : ""].filter(Boolean).join(" · ") }),
        h.length ? el("ul", { class: "small" }, ...h.slice(-3).map((a) => el("li", { text: ["iteration " + a.iteration, a.status || "running", a.mark ? "marked " + a.mark : "", a.started_at && a.finished_at ? ms(when(a.finished_at) - when(a.started_at)) : "", a.commit ? String(a.commit).slice(0, 8) : ""].filter(Boolean).join(" · ") }))) : null);
    }));
  }));
};

// ----- Metrics

function byAgent(p) {
  const models = {};
  const planned = model.plans[shownRun()];
  if (planned && planned.agents) for (const [name, a] of Object.entries(planned.agents)) models[name] = [a.backend, a.model].filter(Boolean).join(" · ");
  return [...p.agents.values()].map((a) => ({ ...a, model: models[a.name] || "" }));
}

render.metrics = () => {
  const p = projection();
  if (model.plans[shownRun()] === undefined) plan(shownRun());
  const agents = byAgent(p);
  const tokens = agents.reduce((s, a) => s + a.tokens, 0), cost = agents.reduce((s, a) => s + a.cost, 0);
  const calls = agents.reduce((s, a) => s + a.calls, 0), failed = agents.reduce((s, a) => s + a.failed, 0);
  const all = agents.flatMap((a) => a.durations);
  $("metric-cards").replaceChildren(card("tokens", tokens.toLocaleString()), card("cost", usd(cost)), card("agent calls", calls, failed ? failed + " failed" : undefined),
    card("retries", p.retries), card("latency p50", ms(median(all))), card("latency max", all.length ? ms(Math.max(...all)) : undefined));
  rows($("by-agent").tBodies[0], agents, (a) => [a.name, a.model, a.calls, a.failed, a.retries, a.tokens.toLocaleString(), usd(a.cost), ms(median(a.durations)), a.durations.length ? ms(Math.max(...a.durations)) : ""]);
  // Cumulative spend over the run's time.
  const xs = p.executions.filter((x) => x.outcome && x.end);
  if (!xs.length) { $("spend-chart").textContent = "no finished steps yet"; return; }
  const t0 = when(p.startedAt || xs[0].start), t1 = Math.max(t0 + 1000, ...xs.map((x) => when(x.end)));
  let tk = 0, c = 0;
  const points = xs.map((x) => { tk += x.tokens || 0; c += x.cost || 0; return [when(x.end), tk, c]; });
  const W = 640, H = 140, maxT = Math.max(1, tk), maxC = Math.max(1e-9, c);
  const line = (i, max) => points.map(([t, ...v]) => `${(((t - t0) / (t1 - t0)) * W).toFixed(1)},${(H - (v[i] / max) * H).toFixed(1)}`).join(" ");
  $("spend-chart").innerHTML = `<svg width="${W + 160}" height="${H + 24}" role="img" aria-label="tokens and cost over time"><g transform="translate(10,6)">` +
    `<rect width="${W}" height="${H}" class="plot"/><polyline points="0,${H} ${line(0, maxT)}" class="series tokens"/><polyline points="0,${H} ${line(1, maxC)}" class="series cost"/>` +
    `<text x="${W + 6}" y="10" class="tokens-label">${esc(tk.toLocaleString())} tokens</text><text x="${W + 6}" y="26" class="cost-label">${esc(usd(c))}</text>` +
    `<text x="0" y="${H + 16}">0</text><text x="${W}" y="${H + 16}" text-anchor="end">${esc(ms(t1 - t0))}</text></g></svg>`;
};

// ----- Logs

render.logs = () => {
  const events = shownEvents();
  const p = projection();
  const stepSelect = $("log-step");
  if (stepSelect.options.length - 1 !== p.stepNames.size) {
    const keep = stepSelect.value;
    stepSelect.replaceChildren(el("option", { value: "", text: "every step" }), ...[...p.stepNames].sort().map((s) => el("option", { value: s, text: s })));
    stepSelect.value = keep;
  }
  const min = LEVELS[$("log-level").value], step = stepSelect.value, text = $("log-text").value.trim().toLowerCase();
  const lines = [];
  for (let i = events.length - 1; i >= 0 && lines.length < 1000; i--) {
    const e = events[i], lv = level(e);
    if (LEVELS[lv] < min || (step && stepOf(e) !== step)) continue;
    const d = detail(e);
    if (text && !(e.event + " " + stepOf(e) + " " + d).toLowerCase().includes(text)) continue;
    lines.push([e, lv, d]);
  }
  rows($("log-lines").tBodies[0], lines, ([e, lv, d]) => [e.seq, time(e.at), el("td", { class: "lvl-" + lv, text: lv }), e.event, stepOf(e), d]);
};

// ----- Agents and plugins

render.agents = () => {
  const agents = byAgent(projection());
  rows($("agent-table").tBodies[0], agents, (a) => {
    const health = a.breaker === "open" ? "breaker open" : a.calls && a.failed === a.calls ? "failing" : a.running ? "working" : a.calls ? "ok" : "idle";
    return [a.name + (a.model ? " (" + a.model + ")" : ""), el("td", { class: "health " + health.split(" ")[0], text: health }), a.calls, a.failed,
      a.calls ? Math.round((100 * (a.calls - a.failed)) / a.calls) + "%" : "", ms(a.durations.length ? a.durations.reduce((x, y) => x + y, 0) / a.durations.length : undefined), a.breaker, a.lastError || ""];
  });
};

render.plugins = () => {
  const plugins = [...projection().plugins.values()];
  if (!plugins.length) { $("plugin-table").tBodies[0].replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "muted", text: "no plugin was called in this run" }))); return; }
  rows($("plugin-table").tBodies[0], plugins, (g) => {
    const health = g.disabled ? "disabled" : g.failures ? "failing" : "ok";
    return [g.name, el("td", { class: "health " + health, text: health }), g.calls, g.vetoes, g.failures, g.calls ? ms(g.micros / g.calls / 1000) : "", [...g.hooks].join(", "), g.last || ""];
  });
};

render.git = () => {
  const commits = projection().commits;
  if (!commits.length) { $("commit-table").tBodies[0].replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "no commits in this run (the loop commits with --commit)" }))); return; }
  rows($("commit-table").tBodies[0], [...commits].reverse(), (c) => [el("td", {}, el("code", { text: String(c.commit).slice(0, 12) })), c.iteration, taskName(c.task), c.message]);
};

// ----- Runs, with replay checks on demand; a run picked here is shown in every view

let runsAsked = 0;
async function refreshRuns(force) {
  if (!force && Date.now() - runsAsked < 2000) return;
  runsAsked = Date.now();
  const { ok, json } = await api("/api/runs");
  if (ok) { model.runs = json.runs || []; schedule(); }
}

async function check(run) {
  model.checks[run] = { pending: true };
  schedule();
  const { ok, json } = await api("/api/runs/" + encodeURIComponent(run) + "/replay-check");
  model.checks[run] = ok ? json : { error: json.error || "the check failed" };
  schedule();
}

function checkCell(run) {
  const c = model.checks[run];
  if (!c) return el("button", { class: "small", onclick: () => check(run), text: "check" });
  if (c.pending) return "checking…";
  if (c.error) return el("span", { class: "st failed", text: c.error });
  const same = c.same;
  return el("span", { class: "st " + (same ? "succeeded" : "failed"), title: JSON.stringify(c, null, 1).slice(0, 2000), text: same ? "replays the same (" + c.outcomes + " outcomes)" : "diverges" + (c.divergence ? " in iteration " + c.divergence.iteration + ": recorded " + (c.divergence.recorded || "nothing") + ", now " + (c.divergence.new || "nothing") : "") });
}

render.runs = () => {
  refreshRuns();
  rows($("runs").tBodies[0], (model.runs || []).slice(0, 50), (r) => [
    el("td", {}, el("a", { href: "#overview", onclick: () => pick(r.run_id), text: r.run_id })), r.workflow,
    el("td", { class: "st " + r.status, text: r.status }), time(r.started_at), ms(r.duration_ms), r.steps_finished, r.steps_failed, el("td", {}, checkCell(r.run_id))]);
};

async function pick(run) {
  model.picked = run === model.liveRun ? null : run;
  picked = null;
  if (model.picked && model.storedRun !== run) await loadStored(run);
  model.projected = null;
  schedule();
}

// ---------------------------------------------------------------------------------------------
// Status, controls and the live feed

// After events, the status is read again within 300 ms: once for a burst, and always after the
// burst's last event.
let statusTimer = null;
function statusSoon() {
  if (!statusTimer) statusTimer = setTimeout(() => { statusTimer = null; refreshStatus(); }, 300);
}

async function refreshStatus() {
  const { ok, json } = await api("/api/status");
  if (!ok) { $("said").textContent = json.error || "status unavailable"; return; }
  model.status = json;
  // No loop runs: the latest run is read from the store.
  const latest = json.latest_run;
  if (!json.live && !model.liveRun && latest && model.storedRun !== latest.run_id) await loadStored(latest.run_id);
  schedule();
}

async function send(signal) {
  let { status, json } = await api("/api/control", signal);
  if (status === 401 && askToken(json.error || "this needs the dashboard's token")) ({ status, json } = await api("/api/control", signal));
  $("said").textContent = json.message || json.error || "";
  refreshStatus();
}

document.querySelectorAll("[data-signal]").forEach((b) => b.addEventListener("click", () => send({ signal: b.dataset.signal })));
$("hint-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("hint").value.trim();
  if (text) send({ signal: "hint", text }).then(() => { $("hint").value = ""; });
});
$("redirect-form").addEventListener("submit", (e) => { e.preventDefault(); send({ signal: "redirect", to: $("redirect-to").value }); });
$("iterations-form").addEventListener("submit", (e) => { e.preventDefault(); send({ signal: "add_iterations", n: Number($("iterations").value) }); });
document.querySelectorAll("[data-review]").forEach((b) => b.addEventListener("click", () => {
  const comment = $("comment").value.trim() || undefined;
  send(b.dataset.review === "approve" ? { signal: "approve", comment, with_changes: $("with-changes").checked } : { signal: "reject", comment });
}));
$("log-filter").addEventListener("input", schedule);
$("log-filter").addEventListener("submit", (e) => e.preventDefault());
window.addEventListener("hashchange", draw);

$("copy").addEventListener("click", async () => {
  const response = await fetch("/api/status?format=text", { headers });
  const text = await response.text();
  try {
    await navigator.clipboard.writeText(text);
    $("said").textContent = "status copied";
  } catch (_) {
    $("said").textContent = text;  // no clipboard (not a secure context): shown to copy by hand
  }
});

function follow() {
  const url = "/api/events" + (token ? "?token=" + encodeURIComponent(token) : "");
  const source = new EventSource(url);
  source.onopen = () => { model.connected = true; schedule(); };
  source.onerror = () => { model.connected = false; schedule(); };
  source.addEventListener("run", (m) => {
    const run = JSON.parse(m.data).run_id;
    model.liveRun = run; model.live = true; model.liveEvents = []; model.projected = null;
    if (model.picked === run) model.picked = null;
    refreshStatus(); refreshRuns(true);
  });
  source.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    e.seq = Number(m.lastEventId);
    const last = model.liveEvents[model.liveEvents.length - 1];
    if (last && last.seq >= e.seq) return; // read already, by a resync
    model.liveEvents.push(e);
    statusSoon();
    schedule();
  });
  // Fell behind the feed: the run so far is read again from the store, and the feed goes on.
  source.addEventListener("lagged", async () => {
    const run = model.liveRun;
    if (!run) return;
    const { ok, json } = await api("/api/runs/" + encodeURIComponent(run) + "/events");
    if (ok && model.liveRun === run) {
      const events = json.events || [], known = new Set(events.map((e) => e.seq));
      model.liveEvents = [...events, ...model.liveEvents.filter((e) => !known.has(e.seq) && e.seq > (events.length ? events[events.length - 1].seq : 0))];
      model.projected = null; schedule();
    }
  });
  source.addEventListener("end", () => { model.live = false; refreshStatus(); refreshRuns(true); });
}

// The elapsed time and a running step's bar move on their own; without a loop to send events,
// the status is read every few seconds (a loop that ended, or one that starts).
setInterval(() => { if (model.live) schedule(); }, 1000);
setInterval(() => { if (!model.live) refreshStatus(); }, 3000);
refreshStatus(); refreshRuns(true); follow(); draw();
