//! The web dashboard's server and JSON API, driven over HTTP against the real binary:
//! `dashboard --serve` beside a running loop, and its access rules.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Child;

use crate::control::{finish, live, wait_for};
use crate::support::{project, ralph};

/// A `dashboard --serve` process, its address and its token, killed when dropped.
pub(crate) struct Served {
    child: Child,
    pub(crate) base: String,
    pub(crate) token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves the dashboard of `dir` on `addr` (port 0: a free one), and reads where it listens
/// and its token from what it says.
pub(crate) fn serve(dir: &std::path::Path, addr: &str) -> Served {
    let mut child = ralph(["dashboard", "--serve", addr]).current_dir(dir).spawn_reading_stderr();
    let Announced { base, token, .. } = announced(&mut child);
    Served { child, base, token }
}

/// What a process serving a dashboard said: the line with its address, the base URL and the
/// token in that line, and the rest of its stderr, read in the background (so that it never
/// blocks on a full pipe) and given back when the process ends.
pub(crate) struct Announced {
    pub(crate) line: String,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) rest: std::thread::JoinHandle<String>,
}

/// Reads what `child` (spawned reading its stderr) says until the line with its dashboard's
/// address.
pub(crate) fn announced(child: &mut Child) -> Announced {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("dashboard of") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "it ended before saying where its dashboard is");
    }
    let (base, token) = address_and_token(&line);
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        rest
    });
    Announced { line, base, token, rest }
}

/// `http://127.0.0.1:PORT` and the token, from `dashboard of …: http://ADDR/?token=T (Ctrl-C…`.
fn address_and_token(line: &str) -> (String, String) {
    let url = line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap();
    let (addr, rest) = url.split_once('/').unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let token = rest.strip_prefix("?token=").unwrap_or_default().to_owned();
    (format!("http://127.0.0.1:{port}"), token)
}

fn client() -> reqwest::blocking::Client {
    ralph_loop::tls::ensure_provider();
    reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(20)).build().unwrap()
}

fn get(url: &str) -> (u16, serde_json::Value) {
    let response = client().get(url).send().unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

fn post(url: &str, token: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = client().post(url).bearer_auth(token).json(body).send().unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

const REVIEWED: &str = "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: review\n      type: human\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"true\"\n";

#[test]
fn the_api_shows_a_running_loop_streams_its_events_and_takes_its_signals() {
    let dir = project(&[("w.yaml", REVIEWED)]);
    let served = serve(dir.path(), "127.0.0.1:0");
    let (code, before) = get(&format!("{}/api/status", served.base));
    assert_eq!((code, &before["latest_run"]), (200, &serde_json::Value::Null), "no run yet: {before}");
    let page = client().get(&served.base).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("<title>ralph-loop</title>"));

    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).spawn();
    // A status answer may be up to 250 ms old: however many pages ask, the loop is asked at
    // most four times a second.
    wait_for("the review to wait", 60, || {
        get(&format!("{}/api/status", served.base)).1["latest_run"]["waiting_for_review"] == "review"
    });
    // The same fields as `status --json`.
    let (code, status) = get(&format!("{}/api/status", served.base));
    assert_eq!(code, 200);
    let cli: serde_json::Value =
        serde_json::from_str(&ralph(["status", "--json"]).current_dir(dir.path()).expect(0).stdout).unwrap();
    assert_eq!(status["latest_run"], cli["latest_run"]);
    assert_eq!(status["live"]["run_id"], cli["live"]["run_id"]);
    assert_eq!(status["live"]["waiting_for_review"], "review");
    let run = status["latest_run"]["run_id"].as_str().unwrap().to_owned();
    // The run views read the running loop's store through it.
    let (code, steps) = get(&format!("{}/api/runs/{run}/steps", served.base));
    assert_eq!((code, &steps["executions"][0]["step"]), (200, &"work".into()), "{steps}");
    let (code, plan) = get(&format!("{}/api/runs/{run}/plan", served.base));
    assert_eq!((code, &plan["initial"]), (200, &"work".into()), "{plan}");
    let (code, trace) = get(&format!("{}/api/runs/{run}/trace", served.base));
    assert_eq!((code, &trace["status"]), (200, &"unset".into()), "not ended yet: {trace}");
    // "Copy status": the words of `ralph-loop status`.
    let text = client().get(format!("{}/api/status?format=text", served.base)).send().unwrap();
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    let text = text.text().unwrap();
    assert!(text.starts_with(&format!("run {run}: running")), "{text}");
    assert!(text.contains("waiting for review: `review`"), "{text}");

    // The live feed: the run so far as server-sent events, with the journal's sequence numbers.
    let feed = client().get(format!("{}/api/events", served.base)).send().unwrap();
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let mut lines = BufReader::new(feed).lines();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = lines.next().unwrap().unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            seen.push(serde_json::from_str::<serde_json::Value>(data).unwrap());
        }
    }
    assert_eq!(seen[0]["run_id"], run.as_str(), "the `run` frame first: {seen:?}");
    assert_eq!(seen[1]["event"], "run_started", "then the journal from its start: {seen:?}");

    // Signals go through the control channel and are journaled under the dashboard's name.
    let (code, hint) = post(
        &format!("{}/api/control", served.base),
        &served.token,
        &serde_json::json!({"signal": "hint", "text": "mind the tests"}),
    );
    assert_eq!((code, hint["accepted"].as_bool()), (200, Some(true)), "{hint}");
    let (code, bad) =
        post(&format!("{}/api/control", served.base), &served.token, &serde_json::json!({"signal": "dance"}));
    assert_eq!(code, 400, "{bad}");
    let (code, redirect) = post(
        &format!("{}/api/control", served.base),
        &served.token,
        &serde_json::json!({"signal": "redirect", "to": "nowhere"}),
    );
    assert_eq!((code, redirect["accepted"].as_bool()), (409, Some(false)), "refused by the loop: {redirect}");
    // Without the token, a change is refused even on loopback: an agent runs on this machine.
    let anyone = client()
        .post(format!("{}/api/control", served.base))
        .json(&serde_json::json!({"signal": "approve"}))
        .send()
        .unwrap();
    assert_eq!(anyone.status().as_u16(), 401);
    let (code, approved) = post(
        &format!("{}/api/control", served.base),
        &served.token,
        &serde_json::json!({"signal": "approve", "comment": "looks right"}),
    );
    assert_eq!(code, 200, "{approved}");
    assert!(finish(child).success());

    let (code, events) = get(&format!("{}/api/runs/{run}/events", served.base));
    assert_eq!(code, 200);
    let controls: Vec<&serde_json::Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["event"] == "control").collect();
    assert!(controls.iter().any(|c| c["signal"] == "hint"), "{controls:?}");
    assert!(
        controls.iter().all(|c| c["display_name"] == "web dashboard"),
        "recorded under the dashboard's name: {controls:?}"
    );
    let (code, runs) = get(&format!("{}/api/runs", served.base));
    assert_eq!(code, 200);
    assert_eq!(runs["runs"][0]["run_id"], run.as_str());
    assert_eq!(runs["runs"][0]["status"], "succeeded");
    let (code, none) =
        post(&format!("{}/api/control", served.base), &served.token, &serde_json::json!({"signal": "pause"}));
    assert_eq!(code, 503, "no loop now: {none}");
    let (code, _) = get(&format!("{}/api/runs/no-such-run/events", served.base));
    assert_eq!(code, 404);
    let (code, _) = get(&format!("{}/api/nothing", served.base));
    assert_eq!(code, 404);
    let (code, none) = get(&format!("{}/api/tasks", served.base));
    assert_eq!(code, 404, "no task file: {none}");
    assert!(none["error"].as_str().unwrap().contains("no task file"), "{none}");
}

#[test]
fn off_loopback_a_token_is_required_checked_and_never_written_down() {
    let dir = project(&[("w.yaml", REVIEWED)]);
    let served = serve(dir.path(), "0.0.0.0:0");
    let token = served.token.clone();
    assert_eq!(token.len(), 64);
    let url = format!("{}/api/status", served.base);
    let (code, refused) = get(&url);
    assert_eq!(code, 401, "no token: {refused}");
    let wrong = client().get(&url).bearer_auth("0".repeat(64)).send().unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = client().get(&url).bearer_auth(&token).send().unwrap();
    assert_eq!(right.status().as_u16(), 200);
    let (code, _) = get(&format!("{url}?token={token}"));
    assert_eq!(code, 200, "the token in the URL, as a browser's first load gives it");
    for view in
        ["plan", "runs/x/plan", "runs/x/trace", "runs/x/steps", "runs/x/steps/1/a", "runs/x/replay-check"]
    {
        assert_eq!(get(&format!("{}/api/{view}", served.base)).0, 401, "{view} without the token");
    }

    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).spawn();
    wait_for("the review to wait", 60, || {
        live(dir.path()).is_some_and(|s| s["waiting_for_review"] == "review")
    });
    let control = format!("{}/api/control", served.base);
    let foreign = client()
        .post(&control)
        .bearer_auth(&token)
        .header("Origin", "http://evil.example")
        .json(&serde_json::json!({"signal": "reject"}))
        .send()
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403, "a cross-origin change is refused even with the token");
    let form = client().post(&control).bearer_auth(&token).body("signal=approve").send().unwrap();
    assert_eq!(form.status().as_u16(), 415, "a body that is not JSON is refused");
    let own = client()
        .post(&control)
        .bearer_auth(&token)
        .header("Origin", served.base.as_str())
        .json(&serde_json::json!({"signal": "approve"}))
        .send()
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    assert!(finish(child).success());
    // The token is in no file the run or the dashboard wrote, nor in the journal.
    let journal = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout;
    assert!(!journal.contains(&token));
    for (path, text) in crate::support::files_as_text(&dir.path().join(".ralph")) {
        assert!(!text.contains(&token), "the token is in {}", path.display());
    }
}

#[test]
fn a_loopback_dashboard_refuses_a_page_that_rebinds_its_name_to_loopback() {
    let dir = project(&[]);
    let served = serve(dir.path(), "127.0.0.1:0");
    let response =
        client().get(format!("{}/api/status", served.base)).header("Host", "evil.example").send().unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: serde_json::Value = response.json().unwrap();
    assert!(body["error"].as_str().unwrap().contains("not a loopback name"), "{body}");
    let busy = ralph(["dashboard", "--serve", &served.base.replace("http://", "")])
        .current_dir(dir.path())
        .expect(4);
    assert!(busy.stderr.contains("cannot listen on"), "{}", busy.stderr);
    // A port alone is the same address on loopback; a host name is answered with what to write.
    let port = served.base.rsplit(':').next().unwrap();
    let busy = ralph(["dashboard", "--serve", port]).current_dir(dir.path()).expect(4);
    assert!(busy.stderr.contains(&format!("127.0.0.1:{port}")), "{}", busy.stderr);
    let wrong = ralph(["loop", "--workflow", "w.yaml", "--dashboard", "example.com:80"])
        .current_dir(dir.path())
        .expect(2);
    assert!(wrong.stderr.contains("write a port (`8080`), `127.0.0.1:8080`"), "{}", wrong.stderr);
}

#[test]
fn loop_dashboard_serves_the_running_loop_and_a_review_is_approved_from_it() {
    // The worker writes down its environment: the dashboard's token is not in it.
    let yaml = REVIEWED.replace("command: \"true\"", "command: \"env > seen-env.txt\"");
    let dir = project(&[("w.yaml", &yaml)]);
    let mut child = ralph(["loop", "--workflow", "w.yaml", "--dashboard", "127.0.0.1:0"])
        .env("RALPH_DASHBOARD_TOKEN", "tok-4f9e1c")
        .current_dir(dir.path())
        .spawn_reading_stderr();
    let Announced { line, base, rest: drained, .. } = announced(&mut child);
    assert!(line.contains("the token you gave") && !line.contains("tok-4f9e1c"), "{line}");
    let status = |token: &str| {
        let response = client().get(format!("{base}/api/status")).bearer_auth(token).send().unwrap();
        (response.status().as_u16(), response.json::<serde_json::Value>().unwrap())
    };
    assert_eq!(status("wrong").0, 401, "a chosen token guards reading too");
    wait_for("the review to wait", 60, || {
        status("tok-4f9e1c").1["latest_run"]["waiting_for_review"] == "review"
    });
    let env = std::fs::read_to_string(dir.path().join("seen-env.txt")).unwrap();
    assert!(env.contains("RALPH_RUN_ID=") && !env.contains("RALPH_DASHBOARD_TOKEN"), "{env}");
    let (code, approved) = post(
        &format!("{base}/api/control"),
        "tok-4f9e1c",
        &serde_json::json!({"signal": "approve", "comment": "ok"}),
    );
    assert_eq!(code, 200, "{approved}");
    assert!(child.wait().unwrap().success());
    let said = drained.join().unwrap();
    assert!(said.contains("approved by"), "the loop says who approved: {said}");
}

/// A state machine whose one working step says something, named by `ralph.yaml` as `loop` finds
/// it.
const SAYS: &str = "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: done\nagents:\n  worker:\n    command: \"echo hello-from-work; echo second line\"\n";

/// A DAG of two nodes, the second after the first.
const TWO_NODES: &str = "workflow:\n  nodes:\n    - id: fetch\n      agent: fetcher\n    - id: report\n      agent: reporter\n      depends_on: fetch\nagents:\n  fetcher:\n    command: \"echo fetched-it\"\n  reporter:\n    command: \"echo reported-it\"\n";

fn cli_json<const N: usize>(dir: &std::path::Path, args: [&str; N], code: i32) -> serde_json::Value {
    serde_json::from_str(&ralph(args).current_dir(dir).expect(code).stdout).unwrap()
}

#[test]
fn the_run_views_show_a_finished_state_machine_run_as_the_cli_does() {
    let dir =
        project(&[("ralph.yaml", "loop:\n  workflow: workflows/says.yaml\n"), ("workflows/says.yaml", SAYS)]);
    let served = serve(dir.path(), "127.0.0.1:0");
    let base = &served.base;
    // Before any run, the plan of the workflow `loop` would run.
    let (code, plan) = get(&format!("{base}/api/plan"));
    assert_eq!(code, 200, "{plan}");
    assert_eq!(
        (&plan["workflow"], &plan["kind"], &plan["initial"]),
        (&"says".into(), &"state_machine".into(), &"work".into())
    );
    assert_eq!(plan["file"], "workflows/says.yaml");
    assert!(plan.get("run_id").is_none());

    // Traced (to a collector that is not there): the run records its trace's id.
    ralph(["loop"])
        .current_dir(dir.path())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .expect(0);
    let (_, runs) = get(&format!("{base}/api/runs"));
    let run = runs["runs"][0]["run_id"].as_str().unwrap().to_owned();

    let (code, plan) = get(&format!("{base}/api/runs/{run}/plan"));
    assert_eq!(code, 200, "{plan}");
    assert_eq!(plan["run_id"], run.as_str());
    let ids: Vec<&str> =
        plan["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["work", "done"], "{plan}");
    // The nodes and edges `workflow visualize --format json` draws.
    let drawn = cli_json(dir.path(), ["workflow", "visualize", "workflows/says.yaml", "--format", "json"], 0);
    assert_eq!((&plan["nodes"], &plan["edges"]), (&drawn["nodes"], &drawn["edges"]));

    let (code, trace) = get(&format!("{base}/api/runs/{run}/trace"));
    assert_eq!(code, 200, "{trace}");
    assert_eq!(
        trace,
        cli_json(dir.path(), ["traces", "--run", &run, "--json"], 0),
        "what `traces --json` prints"
    );
    assert_eq!(trace["trace_id"].as_str().map(str::len), Some(32), "{trace}");
    let step = &trace["children"][0]["children"][0];
    assert_eq!(
        (&step["name"], step["span_id"].as_str().map(str::len)),
        (&"invoke_agent worker".into(), Some(16))
    );

    let (code, steps) = get(&format!("{base}/api/runs/{run}/steps"));
    assert_eq!(code, 200, "{steps}");
    let phase = cli_json(dir.path(), ["inspect", "--phase", "work", "--run", &run, "--json"], 0);
    assert_eq!(steps["executions"], phase["executions"], "what `inspect --phase work --json` gives");
    let work = &steps["executions"][0];
    assert_eq!(
        (&work["step"], &work["status"], &work["attempt"]),
        (&"work".into(), &"succeeded".into(), &1.into())
    );
    let invocation = work["invocation"].as_u64().unwrap();

    let (code, files) = get(&format!("{base}/api/runs/{run}/steps/{invocation}/work"));
    assert_eq!(code, 200, "{files}");
    let unit = &files["units"][0];
    assert!(unit["log"]["text"].as_str().unwrap().contains("hello-from-work"), "{files}");
    let log_file = unit["log_file"].as_str().unwrap();
    assert!(log_file.starts_with(".ralph/runs/"), "relative to the project: {log_file}");
    assert_eq!(unit["log"]["bytes"], std::fs::metadata(dir.path().join(log_file)).unwrap().len());
    let (_, last) = get(&format!("{base}/api/runs/{run}/steps/{invocation}/work?lines=1"));
    assert_eq!(last["units"][0]["log"]["text"], "second line\n");
    assert_eq!(last["units"][0]["log"]["truncated"], true);

    let (code, check) = get(&format!("{base}/api/runs/{run}/replay-check"));
    assert_eq!(code, 200, "{check}");
    assert_eq!(
        (&check["same"], &check["definition"], &check["outcomes"]),
        (&true.into(), &"stored".into(), &1.into())
    );
    assert_eq!(
        check,
        cli_json(dir.path(), ["replay", "--check", &run, "--json"], 0),
        "what `replay --check --json` prints"
    );

    // Unknown runs, steps and paths outside the run.
    let (code, none) = get(&format!("{base}/api/runs/nope/trace"));
    assert_eq!((code, none["error"].as_str()), (404, Some("no run `nope`")));
    let typo = format!("{}x{}", &run[..run.len() - 1], "");
    let (code, close) = get(&format!("{base}/api/runs/{typo}/plan"));
    assert_eq!(code, 404);
    assert!(close["error"].as_str().unwrap().contains(&format!("did you mean `{run}`?")), "{close}");
    for endpoint in ["plan", "steps", "replay-check", "steps/1/work"] {
        assert_eq!(get(&format!("{base}/api/runs/nope/{endpoint}")).0, 404, "{endpoint}");
    }
    let (code, _) = get(&format!("{base}/api/runs/{run}/steps/{invocation}/nothing"));
    assert_eq!(code, 404);
    let (code, refused) = get(&format!("{base}/api/runs/{run}/steps/{invocation}/..%2F..%2Fralph.yaml"));
    assert_eq!(code, 400, "{refused}");
    let (code, _) = get(&format!("{base}/api/runs/{run}/steps/x/work"));
    assert_eq!(code, 400);
}

#[test]
fn the_run_views_show_a_dag_run_its_edges_and_each_nodes_output() {
    let dir = project(&[("w.yaml", TWO_NODES)]);
    let served = serve(dir.path(), "127.0.0.1:0");
    let base = &served.base;
    let (code, none) = get(&format!("{base}/api/plan"));
    assert_eq!(code, 404, "no ralph.yaml names a workflow: {none}");
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let (_, runs) = get(&format!("{base}/api/runs"));
    let run = runs["runs"][0]["run_id"].as_str().unwrap().to_owned();

    let (_, plan) = get(&format!("{base}/api/runs/{run}/plan"));
    assert_eq!(
        (&plan["kind"], &plan["workflow"], &plan["file"]),
        (&"dag".into(), &"w".into(), &"w.yaml".into())
    );
    let edges = plan["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["from"] == "fetch" && e["to"] == "report"), "{plan}");

    let (_, steps) = get(&format!("{base}/api/runs/{run}/steps"));
    let order: Vec<&str> =
        steps["executions"].as_array().unwrap().iter().map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(order, ["fetch", "report"], "in the order they began");
    for (execution, said) in steps["executions"].as_array().unwrap().iter().zip(["fetched-it", "reported-it"])
    {
        let url = format!(
            "{base}/api/runs/{run}/steps/{}/{}",
            execution["invocation"],
            execution["step"].as_str().unwrap()
        );
        let (code, files) = get(&url);
        assert_eq!(code, 200, "{files}");
        assert_eq!(files["step"], execution["step"]);
        assert!(files["units"][0]["log"]["text"].as_str().unwrap().contains(said), "{files}");
    }

    let (_, trace) = get(&format!("{base}/api/runs/{run}/trace"));
    assert!(trace.get("trace_id").is_none(), "not traced: {trace}");
    let spans: Vec<&str> = trace["children"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(spans, ["invoke_agent fetcher", "invoke_agent reporter"]);

    let (code, check) = get(&format!("{base}/api/runs/{run}/replay-check"));
    assert_eq!((code, &check["same"]), (200, &true.into()), "{check}");
    // The definition the run ran, not the file as it is now.
    std::fs::write(
        dir.path().join("w.yaml"),
        "workflow:\n  nodes:\n    - id: other\n      agent: x\nagents:\n  x:\n    command: \"true\"\n",
    )
    .unwrap();
    let (_, plan) = get(&format!("{base}/api/runs/{run}/plan"));
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 2, "{plan}");
    let (_, check) = get(&format!("{base}/api/runs/{run}/replay-check"));
    assert_eq!(check["same"], true, "{check}");
}

/// A loop serving its dashboard (`loop --dashboard 127.0.0.1:0`): the process, the dashboard's
/// base address and the token it printed; what it says after is drained in the background.
fn loop_with_dashboard(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String, String) {
    let mut command = ralph(["loop", "--workflow", "w.yaml", "--dashboard", "127.0.0.1:0"]);
    for (k, v) in env {
        command = command.env(k, v);
    }
    let mut child = command.current_dir(dir).spawn_reading_stderr();
    let Announced { base, token, .. } = announced(&mut child);
    (child, base, token)
}

/// `GET /review`: its status and its page.
fn review_page(base: &str) -> (u16, String) {
    let response = client().get(format!("{base}/review")).send().unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    (status, response.text().unwrap())
}

/// A worker whose summary has markup in it, and a human state reviewed in a web form.
const WEB_REVIEWED: &str = "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: review\n      type: human\n      description: \"Check <b>the</b> work\"\n      ui:\n        type: web\n        template: forms/review_form.html\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"sh work.sh\"\n";

const WORKER: &str = "printf '{\"summary\": \"made <i>it</i>\"}' > \"$RALPH_RESULT_FILE\"\n";

const FORM: &str = "<html><body>\n<p id=\"ctx\">{{ step }}|{{ run_id }}|{{ description }}|{{ iteration }}</p>\n{% for s in steps %}<p class=\"step\">{{ s.id }}: {{ s.summary }}</p>{% endfor %}\n<p id=\"action\">{{ action.method }} {{ action.url }}</p>\n<textarea id=\"comment\"></textarea><button id=\"approve\">ok</button>\n</body></html>\n";

#[test]
fn a_web_review_form_renders_its_template_and_decides_through_the_api() {
    let channels = "notifications:\n  channels:\n    ops:\n      type: webhook\n      url: ${HOOK_URL}/ops\n  events:\n    on_human_review_needed: [ops]\n";
    let yaml = format!("{WEB_REVIEWED}{channels}");
    let dir = project(&[("w.yaml", &yaml), ("work.sh", WORKER), ("forms/review_form.html", FORM)]);
    let (hook, caught) = crate::notify::catcher();
    let (child, base, token) = loop_with_dashboard(dir.path(), &[("HOOK_URL", hook.as_str())]);
    assert_eq!(token.len(), 64, "a token was made and printed");
    wait_for("the form", 60, || review_page(&base).1.contains("id=\"ctx\""));
    let (code, page) = review_page(&base);
    assert_eq!(code, 200, "{page}");
    let run = get(&format!("{base}/api/status")).1["latest_run"]["run_id"].as_str().unwrap().to_owned();
    // Every value escaped, the agent's words too.
    assert!(
        page.contains(&format!("<p id=\"ctx\">review|{run}|Check &lt;b&gt;the&lt;&#x2f;b&gt; work|1</p>")),
        "{page}"
    );
    assert!(page.contains("<p class=\"step\">work: made &lt;i&gt;it&lt;&#x2f;i&gt;</p>"), "{page}");
    assert!(page.contains("<p id=\"action\">POST &#x2f;api&#x2f;control</p>"), "{page}");
    assert!(
        page.contains("<script src=\"/assets/review.js\" defer></script>\n</body>"),
        "the script is added: {page}"
    );
    let script = client().get(format!("{base}/assets/review.js")).send().unwrap();
    assert_eq!(script.status().as_u16(), 200);
    assert!(script.text().unwrap().contains("ralph-token"));

    // The review's notification links the form, never with the token.
    wait_for("the review's notification", 60, || !crate::notify::caught_at(&caught, "/ops").is_empty());
    let sent = crate::notify::caught_at(&caught, "/ops").remove(0);
    let form = format!("{base}/review");
    assert_eq!(sent.body["review_url"], form.as_str(), "{}", sent.body);
    assert!(
        sent.body["text"].as_str().unwrap().ends_with(&format!(", or decide at {form}")),
        "{}",
        sent.body
    );
    assert!(!String::from_utf8_lossy(&sent.raw).contains(&token));

    // The form's decision: what its script sends, from the page's own origin.
    let decided = client()
        .post(format!("{base}/api/control"))
        .bearer_auth(&token)
        .header("Origin", base.as_str())
        .json(&serde_json::json!({"signal": "approve", "comment": "ship <it>"}))
        .send()
        .unwrap();
    assert_eq!(decided.status().as_u16(), 200, "{:?}", decided.text());
    assert!(finish(child).success());
    let journal = crate::control::journal(dir.path());
    let review = journal.iter().find(|e| e["event"] == "review_decided").expect("a review_decided event");
    assert_eq!(review["decision"], "approved", "{review}");
    assert_eq!(review["comment"], "ship <it>", "{review}");
    assert_eq!(review["display_name"], "web dashboard", "{review}");
}

#[test]
fn the_built_in_form_serves_a_review_without_a_template_and_says_when_nothing_waits() {
    let dir = project(&[("w.yaml", REVIEWED)]);
    let served = serve(dir.path(), "127.0.0.1:0");
    let (code, idle) = review_page(&served.base);
    assert_eq!(code, 200);
    assert!(idle.contains("id=\"nothing-waits\"") && idle.contains("No loop is running"), "{idle}");

    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).spawn();
    wait_for("the form", 60, || review_page(&served.base).1.contains("id=\"approve-with-changes\""));
    let (code, page) = review_page(&served.base);
    assert_eq!(code, 200, "{page}");
    let run = live(dir.path()).unwrap()["run_id"].as_str().unwrap().to_owned();
    for id in ["approve", "approve-with-changes", "reject", "comment", "decided", "step", "run-id"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "no #{id}: {page}");
    }
    assert!(page.contains(&format!("<code id=\"run-id\">{run}</code>")), "{page}");
    assert!(page.contains("<code id=\"step\">review</code>"), "{page}");
    assert!(page.contains("/assets/review.js"), "{page}");
    let (code, _) = post(
        &format!("{}/api/control", served.base),
        &served.token,
        &serde_json::json!({"signal": "approve", "comment": "fine"}),
    );
    assert_eq!(code, 200);
    assert!(finish(child).success());
    let (_, after) = review_page(&served.base);
    assert!(after.contains("id=\"nothing-waits\""), "{after}");
}

#[test]
fn a_broken_review_template_is_shown_on_the_page_and_the_loop_goes_on() {
    let dir = project(&[("w.yaml", WEB_REVIEWED), ("work.sh", WORKER), ("forms/review_form.html", FORM)]);
    let (child, base, token) = loop_with_dashboard(dir.path(), &[]);
    wait_for("the form", 60, || review_page(&base).1.contains("id=\"ctx\""));
    // The template is read on every request: a person editing it sees the error at once.
    let template = dir.path().join("forms/review_form.html");
    std::fs::write(&template, "<p>{{ step }}</p>\n{% if %}never{% endif %}\n").unwrap();
    let (code, page) = review_page(&base);
    assert_eq!(code, 500);
    assert!(page.contains("id=\"form-error\"") && page.contains("review_form.html"), "{page}");
    assert!(page.contains("syntax error") && page.contains("(in forms/review_form.html:2)"), "{page}");
    std::fs::remove_file(&template).unwrap();
    let (code, page) = review_page(&base);
    assert_eq!(code, 500);
    assert!(page.contains("does not exist"), "{page}");
    // Neither the dashboard nor the loop is the worse for it.
    assert_eq!(get(&format!("{base}/api/status")).0, 200);
    let (code, answer) =
        post(&format!("{base}/api/control"), &token, &serde_json::json!({"signal": "approve"}));
    assert_eq!(code, 200, "{answer}");
    assert!(finish(child).success());
}

/// A one-node workflow over a task file: task `b` fails, task `d` waits for the file `go`.
const PACED: &str = r#"workflow:
  nodes:
    - id: work
      agent: worker
agents:
  worker:
    command: |
      case "$RALPH_TASK_ID" in
        b) exit 1 ;;
        d) while [ ! -e go ]; do sleep 0.02; done ;;
      esac
"#;

const FOUR_TASKS: &str = r#"{"tasks": [
  {"id": "a", "title": "first", "status": "pending", "priority": 4},
  {"id": "b", "title": "fails", "status": "pending", "priority": 3},
  {"id": "c", "title": "third", "status": "pending", "priority": 2},
  {"id": "d", "title": "slow", "description": "waits for go", "status": "pending", "priority": 1, "depends_on": ["a"]}
]}
"#;

fn status_json(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&ralph(["status", "--json"]).current_dir(dir).expect(0).stdout).unwrap()
}

fn board_task<'a>(board: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    board["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()
}

// See: issue 16 (the Overview's ETA, stall and drift; the Tasks board) and issue 17 (pace in
// `status --json`).
#[test]
fn status_tells_the_pace_with_a_stall_and_the_board_tells_each_tasks_history() {
    let dir = project(&[("w.yaml", PACED), ("tasks.json", FOUR_TASKS)]);
    let served = serve(dir.path(), "127.0.0.1:0");
    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).spawn();
    // `d` runs until `go` appears: once it has taken three times the average task, it stalls.
    let mut status = serde_json::Value::Null;
    wait_for("task d to stall", 60, || {
        status = status_json(dir.path());
        status["pace"]["stall"]["warning"] == true
    });
    let pace = &status["pace"];
    assert_eq!(pace["stall"]["task"], "d", "{pace}");
    assert_eq!((pace["tasks_done"].as_u64(), pace["tasks_remaining"].as_u64()), (Some(2), Some(1)), "{pace}");
    assert_eq!(
        (pace["tasks_done_in_run"].as_u64(), pace["tasks_failed_in_run"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!((pace["iterations_finished"].as_u64(), pace["success_rate"].as_f64()), (Some(3), Some(0.67)));
    let average = pace["average_task_ms"].as_u64().unwrap();
    assert_eq!(pace["stall"]["threshold_ms"].as_u64(), Some(3 * average), "{pace}");
    assert!(pace["stall"]["running_ms"].as_u64().unwrap() > 3 * average, "{pace}");
    assert!(pace["velocity_per_hour"].as_f64().unwrap() > 0.0, "{pace}");
    assert!(pace["eta_ms"].is_u64() && pace["eta_at"].is_string(), "one task remains: {pace}");
    assert!(pace["elapsed_ms"].is_u64(), "{pace}");
    assert_eq!(pace["drift"], serde_json::Value::Null, "two completions are all baseline: {pace}");
    assert!(status["live"].get("pace_log").is_none(), "the raw fold stays inside: {status}");
    let text = ralph(["status"]).current_dir(dir.path()).expect(0).stdout;
    assert!(text.contains("pace: 2 tasks done, 1 remaining, 67% of 3 iterations succeeded"), "{text}");
    assert!(text.contains("stall: task d has run"), "{text}");
    let (code, api) = get(&format!("{}/api/status", served.base));
    assert_eq!(code, 200);
    assert_eq!(api["pace"]["stall"]["task"], "d", "the dashboard has the same fields: {api}");

    // The board while `d` runs: each task as the file says, with the iterations on it.
    let (code, board) = get(&format!("{}/api/tasks", served.base));
    assert_eq!(code, 200, "{board}");
    assert_eq!(board["source"], "tasks.json");
    assert!(board["file"].as_str().unwrap().ends_with("tasks.json"), "{board}");
    let run = status["live"]["run_id"].as_str().unwrap().to_owned();
    let a = board_task(&board, "a");
    assert_eq!((&a["status"], &a["title"], &a["priority"]), (&"done".into(), &"first".into(), &4.into()));
    let history = a["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{a}");
    assert_eq!((&history[0]["run_id"], &history[0]["iteration"]), (&run.as_str().into(), &1.into()));
    assert_eq!((&history[0]["status"], &history[0]["mark"]), (&"succeeded".into(), &"done".into()));
    assert!(history[0]["finished_at"].is_string() && history[0]["commit"].is_null(), "{a}");
    let b = board_task(&board, "b");
    assert_eq!((&b["status"], &b["history"][0]["mark"]), (&"failed".into(), &"failed".into()), "{b}");
    let d = board_task(&board, "d");
    assert_eq!(d["depends_on"], serde_json::json!(["a"]));
    assert_eq!(d["description"], "waits for go");
    assert_eq!(d["history"][0]["finished_at"], serde_json::Value::Null, "still running: {d}");
    assert_eq!(board["counts"]["failed"], 1, "{board}");

    std::fs::write(dir.path().join("go"), "").unwrap();
    assert!(!finish(child).success(), "task b failed");
    // The stored run: its pace from the journal, nothing running, nothing remaining.
    let stored = status_json(dir.path());
    let pace = &stored["pace"];
    assert_eq!((pace["tasks_done"].as_u64(), pace["tasks_remaining"].as_u64()), (Some(3), Some(0)), "{pace}");
    assert_eq!((pace["iterations_finished"].as_u64(), pace["success_rate"].as_f64()), (Some(4), Some(0.75)));
    assert_eq!(
        (pace["eta_ms"].as_u64(), &pace["eta_at"], &pace["stall"]),
        (Some(0), &serde_json::Value::Null, &serde_json::Value::Null)
    );
    let (_, board) = get(&format!("{}/api/tasks", served.base));
    let d = board_task(&board, "d");
    assert_eq!((&d["status"], &d["history"][0]["mark"]), (&"done".into(), &"done".into()), "{d}");
}
