// The dashboard's page: reads /api/status and /api/runs, follows /api/events (server-sent
// events), and sends signals to POST /api/control. A token given as ?token= is kept for this
// tab only and sent as a bearer token.
"use strict";
const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("ralph-token", params.get("token"));
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("ralph-token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? { headers } : {
    method: "POST", body: JSON.stringify(body),
    headers: { ...headers, "Content-Type": "application/json" },
  };
  const response = await fetch(path, init);
  const json = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, json };
}

function fact(dl, name, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt"); dt.textContent = name;
  const dd = document.createElement("dd"); dd.textContent = value;
  dl.append(dt, dd);
}

async function refreshStatus() {
  const { ok, json } = await api("/api/status");
  if (!ok) { $("said").textContent = json.error || "status unavailable"; return; }
  const latest = json.latest_run, live = json.live;
  $("run").textContent = latest ? "run " + latest.run_id : "no run yet";
  const state = latest ? (latest.waiting_for_review ? "waiting" : latest.status) : "idle";
  $("state").textContent = latest && latest.waiting_for_review ? "waiting for review" : state;
  $("state").className = "badge " + String(state).split(" ")[0];
  const dl = $("facts"); dl.replaceChildren();
  if (live) {
    fact(dl, "workflow", live.workflow + " (" + live.kind + ")");
    fact(dl, "state", live.state);
    fact(dl, "iteration", live.iteration);
    fact(dl, "task", live.task);
    fact(dl, "steps running", live.running);
    fact(dl, "invocations", live.invocations + " of " + live.max_iterations);
    fact(dl, "tokens / cost", live.tokens + " / $" + Number(live.cost_usd).toFixed(4));
    fact(dl, "breaker", live.breaker);
    fact(dl, "paused by", live.paused_by);
  } else if (latest) {
    fact(dl, "reason", latest.reason);
  }
  fact(dl, "spend (all runs)", json.spend.tokens + " tokens, $" + Number(json.spend.cost_usd).toFixed(4));
  $("review").hidden = !(latest && latest.waiting_for_review);
  if (latest && latest.waiting_for_review) {
    $("review").textContent = "`" + latest.waiting_for_review + "` waits for your review: ";
    const form = document.createElement("a");
    form.href = "/review";
    form.id = "review-link";
    form.textContent = "open the review form";
    $("review").appendChild(form);
  }
}

async function refreshRuns() {
  const { ok, json } = await api("/api/runs");
  if (!ok) return;
  const body = $("runs").tBodies[0]; body.replaceChildren();
  for (const r of json.runs.slice(0, 20)) {
    const tr = document.createElement("tr");
    for (const v of [r.run_id, r.workflow, r.status, r.started_at, r.steps, r.failed_steps]) {
      const td = document.createElement("td"); td.textContent = v ?? ""; tr.append(td);
    }
    body.append(tr);
  }
}

async function send(signal) {
  const { json } = await api("/api/control", signal);
  $("said").textContent = json.message || json.error || "";
  refreshStatus();
}

document.querySelectorAll("[data-signal]").forEach((b) =>
  b.addEventListener("click", () => send({ signal: b.dataset.signal })));
$("hint-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("hint").value.trim();
  if (text) send({ signal: "hint", text }).then(() => { $("hint").value = ""; });
});
document.querySelectorAll("[data-review]").forEach((b) => b.addEventListener("click", () => {
  const comment = $("comment").value.trim() || undefined;
  const signal = b.dataset.review === "approve"
    ? { signal: "approve", comment, with_changes: $("with-changes").checked }
    : { signal: "reject", comment };
  send(signal);
}));

function describe(e) {
  const what = e.event || "event";
  const step = e.step || e.node || e.state || "";
  return [e.at || "", what, step, e.outcome || e.status || e.message || ""].filter(Boolean).join("  ");
}

function follow() {
  const url = "/api/events" + (token ? "?token=" + encodeURIComponent(token) : "");
  const source = new EventSource(url);
  source.onopen = () => { $("feed").textContent = "● live"; };
  source.onerror = () => { $("feed").textContent = "○ reconnecting"; };
  source.addEventListener("run", () => { $("events").replaceChildren(); refreshStatus(); refreshRuns(); });
  source.addEventListener("event", (m) => {
    const li = document.createElement("li");
    li.value = Number(m.lastEventId);
    li.textContent = describe(JSON.parse(m.data));
    $("events").append(li);
    li.scrollIntoView({ block: "nearest" });
    scheduleRefresh();
  });
  source.addEventListener("end", () => { refreshStatus(); refreshRuns(); });
}

let pending = null;
function scheduleRefresh() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refreshStatus(); }, 300);
}

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

refreshStatus(); refreshRuns(); follow();
