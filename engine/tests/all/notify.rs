//! Notifications delivered: the `notifications:` section's slack and webhook channels receive
//! the run's events at a local HTTP server, and a channel that is down is reported once.

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::control::{finish, live, wait_for};
use crate::support::{project, ralph};

/// One request the catcher received.
#[derive(Debug, Clone)]
struct Caught {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Caught {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Receives POSTs on 127.0.0.1 (one request per connection) and keeps them; answers 200.
fn catcher() -> (String, Arc<Mutex<Vec<Caught>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let caught = Arc::new(Mutex::new(Vec::new()));
    let keep = caught.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break request.len(),
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
            let mut lines = head.lines();
            let path = lines.next().unwrap_or("").split_whitespace().nth(1).unwrap_or("/").to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while request.len() < head_end + length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = serde_json::from_slice(&request[head_end..]).unwrap_or(serde_json::Value::Null);
            keep.lock().unwrap().push(Caught { path, headers, body });
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (format!("http://{address}"), caught)
}

fn caught_at(caught: &Arc<Mutex<Vec<Caught>>>, path: &str) -> Vec<Caught> {
    caught.lock().unwrap().iter().filter(|c| c.path == path).cloned().collect()
}

const CHANNELS: &str = "notifications:\n  channels:\n    slack:\n      webhook: ${HOOK_URL}/slack\n      channel: \"#builds\"\n    ops:\n      type: webhook\n      url: ${HOOK_URL}/ops\n      headers:\n        X-Token: ${NOTIFY_TOKEN}\n";

#[test]
fn slack_and_webhook_channels_receive_the_runs_start_and_completion() {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\n{CHANNELS}  events:\n    on_start: [slack, ops]\n    on_complete:\n      - slack: {{mention: \"@here\"}}\n      - ops\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "tok-4f9a2c")
        .current_dir(dir.path())
        .expect(0);
    // The run's end waits for the sends in flight: everything has arrived once it returns.
    let slack = caught_at(&caught, "/slack");
    assert_eq!(slack.len(), 2, "{slack:?}");
    let start = slack.iter().find(|c| c.body["text"].as_str().unwrap().contains("started")).unwrap();
    assert_eq!(start.body["channel"], "#builds");
    assert!(start.body["text"].as_str().unwrap().contains("of `w` started"), "{:?}", start.body);
    let done = slack.iter().find(|c| c.body["text"].as_str().unwrap().contains("completed")).unwrap();
    assert!(done.body["text"].as_str().unwrap().starts_with("@here ralph-loop: run `"), "{:?}", done.body);
    let ops = caught_at(&caught, "/ops");
    let mut events: Vec<&str> = ops.iter().map(|c| c.body["event"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, ["on_complete", "on_start"]);
    for call in &ops {
        assert_eq!(call.header("x-token"), Some("tok-4f9a2c"), "custom headers are sent, expanded");
        assert_eq!(call.header("content-type"), Some("application/json"));
        assert!(call.body["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let complete = ops.iter().find(|c| c.body["event"] == "on_complete").unwrap();
    assert_eq!(complete.body["status"], "succeeded");
    // Every attempt is logged, and the channel's secrets are not.
    let runs = dir.path().join(".ralph/runs");
    let run_dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let log = std::fs::read_to_string(run_dir.join("notifications.log")).unwrap();
    assert_eq!(log.matches("attempt 1/3 delivered (200)").count(), 4, "{log}");
    let journal = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout;
    for text in [&log, &journal, &out.stderr, &out.stdout] {
        assert!(!text.contains("tok-4f9a2c"), "the token leaked: {text}");
        assert!(!text.contains(&url), "the webhook URL leaked: {text}");
    }
}

#[test]
fn a_failing_run_sends_on_failure() {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"false\"\n{CHANNELS}  events:\n    on_complete: [ops]\n    on_failure: [ops]\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "t")
        .current_dir(dir.path())
        .output();
    assert_ne!(out.code, 0, "{}", out.stderr);
    let ops = caught_at(&caught, "/ops");
    assert_eq!(ops.len(), 1, "only on_failure: {ops:?}");
    assert_eq!(ops[0].body["event"], "on_failure");
    assert_eq!(ops[0].body["status"], "failed");
    assert!(ops[0].body["text"].as_str().unwrap().contains("failed"), "{:?}", ops[0].body);
}

#[test]
fn a_review_waiting_sends_the_approve_and_reject_commands() {
    let yaml = format!(
        "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: review\n      type: human\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"true\"\n{CHANNELS}  events:\n    on_human_review_needed:\n      - slack: {{mention: \"@ana\"}}\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let child = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", &url)
        .env("NOTIFY_TOKEN", "t")
        .current_dir(dir.path())
        .spawn();
    wait_for("the review's notification", 60, || !caught_at(&caught, "/slack").is_empty());
    let text = caught_at(&caught, "/slack")[0].body["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("@ana "), "{text}");
    assert!(text.contains("`review`") && text.contains("waiting for review"), "{text}");
    let id = text.split("ralph-loop approve ").nth(1).unwrap().split('`').next().unwrap().to_owned();
    assert!(text.contains(&format!("`ralph-loop reject {id}`")), "{text}");
    // The commands it carries work as written.
    wait_for("the loop to answer", 60, || live(dir.path()).is_some());
    ralph(["approve", &id]).current_dir(dir.path()).expect(0);
    assert!(finish(child).success());
    assert_eq!(caught_at(&caught, "/slack").len(), 1);
}

#[test]
fn a_channel_that_is_down_delays_nothing_and_is_reported_once_at_the_end() {
    // A port nobody listens on: connections are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\nnotifications:\n  channels:\n    ops:\n      type: webhook\n      url: ${HOOK_URL}/ops\n  events:\n    on_start: [ops]\n    on_complete: [ops]\n";
    let dir = project(&[("w.yaml", yaml)]);
    let started = Instant::now();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .env("HOOK_URL", format!("http://{closed}"))
        .current_dir(dir.path())
        .expect(0);
    let took = started.elapsed();
    assert_eq!(out.stderr.matches("could not be reached").count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("notification channel `ops` could not be reached (2 notifications not delivered)"),
        "{}",
        out.stderr
    );
    // Every attempt is logged. The run's end waits for no backoff: a send that failed then is
    // reported at once, so the run did not wait out the three-second grace.
    let runs = dir.path().join(".ralph/runs");
    let run_dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let log = std::fs::read_to_string(run_dir.join("notifications.log")).unwrap();
    for event in ["on_start", "on_complete"] {
        assert!(log.contains(&format!("{event} -> `ops`: attempt 1/3 failed: cannot connect")), "{log}");
    }
    assert!(took.as_secs_f64() < 3.0, "a dead channel held the run up: {took:?}");
    let journal = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout;
    assert_eq!(journal.matches("could not be reached").count(), 1, "journaled once");
}

#[test]
fn notify_test_sends_to_the_named_channel_and_says_whether_it_arrived() {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: t\nagents:\n  t:\n    command: \"true\"\n{CHANNELS}  events:\n    on_start: [slack]\n"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    let (url, caught) = catcher();
    let test = |args: &[&str], hook: &str| {
        ralph(["notify", "test", "--workflow", "w.yaml"])
            .args_from(args)
            .env("HOOK_URL", hook)
            .env("NOTIFY_TOKEN", "tok-77")
            .current_dir(dir.path())
    };
    let out = test(&["slack"], &url).expect(0);
    assert_eq!(out.stdout.trim(), "`slack`: sent");
    let slack = caught_at(&caught, "/slack");
    assert_eq!(slack.len(), 1);
    assert!(slack[0].body["text"].as_str().unwrap().contains("a test message"), "{:?}", slack[0].body);
    assert!(caught_at(&caught, "/ops").is_empty(), "only the named channel");
    let all = test(&[], &url).expect(0);
    assert!(all.stdout.contains("`ops`: sent"), "{}", all.stdout);
    assert_eq!(caught_at(&caught, "/ops")[0].body["event"], "test");
    let unknown = test(&["pager"], &url).expect(2);
    assert!(unknown.stderr.contains("no notification channel `pager`"), "{}", unknown.stderr);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = test(&["ops"], &format!("http://{closed}")).expect(1);
    assert!(down.stderr.contains("`ops`: not sent: cannot connect"), "{}", down.stderr);
    assert!(!down.stderr.contains(&closed.to_string()), "the URL is masked: {}", down.stderr);
}
