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

/// A loop serving its dashboard (`loop --dashboard 127.0.0.1:0`): the process, the dashboard's
/// base address and the token it printed; what it says after is drained in the background.
fn loop_with_dashboard(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String, String) {
    let mut command = ralph(["loop", "--workflow", "w.yaml", "--dashboard", "127.0.0.1:0"]);
    for (k, v) in env {
        command = command.env(k, v);
    }
    let mut child = command.current_dir(dir).spawn_reading_stderr();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let line = said_address(&mut reader);
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    let (base, token) = address_and_token(&line);
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
