//! The web dashboard's server and JSON API, driven over HTTP against the real binary:
//! `dashboard --serve` beside a running loop, and its access rules.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Child;

use crate::control::{finish, live, wait_for};
use crate::support::{project, ralph};

/// A `dashboard --serve` process, its address and its token, killed when dropped.
struct Served {
    child: Child,
    base: String,
    token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves the dashboard of `dir` on `addr` (port 0: a free one), and reads where it listens
/// and its token from what it says.
fn serve(dir: &std::path::Path, addr: &str) -> Served {
    let mut child = ralph(["dashboard", "--serve", addr]).current_dir(dir).spawn_reading_stderr();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let line = said_address(&mut reader);
    // The rest of what it says is drained, so that it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    let (base, token) = address_and_token(&line);
    Served { child, base, token }
}

/// Reads what a process says until the line with the dashboard's address.
fn said_address(reader: &mut impl std::io::BufRead) -> String {
    let mut line = String::new();
    while !line.contains("dashboard of") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "it ended before saying where its dashboard is");
    }
    line
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
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let line = said_address(&mut reader);
    assert!(line.contains("the token you gave") && !line.contains("tok-4f9e1c"), "{line}");
    let (base, _) = address_and_token(&line);
    let drained = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        rest
    });
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
