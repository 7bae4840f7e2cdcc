//! Live control: signals from a second process reach a running loop over its control socket
//! (and through the plain files `.ralph/pause` and `.ralph/hint`). Every wait polls a fact
//! with a generous deadline: CI machines are slow and loaded.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{events, project, ralph};

/// Polls `fact` until it holds, or fails after `secs` seconds saying `what`.
pub(crate) fn wait_for(what: &str, secs: u64, mut fact: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !fact() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The running loop's status (`status --json`'s `live`), if a loop answers.
pub(crate) fn live(dir: &Path) -> Option<serde_json::Value> {
    let out = ralph(["status", "--json"]).current_dir(dir).output();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    value.get("live").cloned()
}

pub(crate) fn journal(dir: &Path) -> Vec<serde_json::Value> {
    events(&ralph(["logs", "--json"]).current_dir(dir).expect(0).stdout)
}

pub(crate) fn start(dir: &Path) -> std::process::Child {
    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir).spawn();
    wait_for_socket(dir);
    child
}

/// Waits for the loop's socket before asking anything: a `status` without a loop to ask reads
/// the store, which a loop about to start must then wait for.
fn wait_for_socket(dir: &Path) {
    let socket = dir.join(".ralph/state/control.sock");
    wait_for("the loop's control socket", 60, || socket.exists());
    wait_for("the loop to answer on its control socket", 60, || live(dir).is_some());
}

pub(crate) fn finish(mut child: std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the loop did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

/// Waits in a step until the test creates `go`.
const GATE: &str = "while [ ! -f go ]; do sleep 0.05; done";

#[test]
fn a_second_process_pauses_a_running_loop_and_resume_lets_it_go_on() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: n1\n      agent: t\n    - id: n2\n      agent: t\n      depends_on: [n1]\n    - id: n3\n      agent: t\n      depends_on: [n2]\nagents:\n  t:\n    command: \"sh -c 'sleep 0.5; echo $RALPH_STEP >> log'\"\n",
    )]);
    let child = start(dir.path());
    // The socket is the owner's alone.
    let socket = dir.path().join(".ralph/state/control.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    ralph(["pause"]).current_dir(dir.path()).expect(0);
    let again = ralph(["pause"]).current_dir(dir.path()).expect(1);
    assert!(again.stderr.contains("already paused"), "{}", again.stderr);
    // A DAG has no states to redirect to.
    let redirect = ralph(["redirect", "--to", "n3"]).current_dir(dir.path()).expect(1);
    assert!(redirect.stderr.contains("`redirect` applies to state machines"), "{}", redirect.stderr);
    wait_for("the loop to finish its current step and stand paused", 30, || {
        live(dir.path()).is_some_and(|s| s["paused"] == true && s["running"] == 0)
    });
    let done = lines(&dir.path().join("log"));
    assert!(done < 3, "the pause came before the last step");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines(&dir.path().join("log")), done, "a paused loop starts no step");
    let status = ralph(["status"]).current_dir(dir.path()).expect(0);
    assert!(status.stdout.contains(": paused (pid"), "{}", status.stdout);
    ralph(["resume"]).current_dir(dir.path()).expect(0);
    assert!(finish(child).success());
    assert_eq!(lines(&dir.path().join("log")), 3);
    assert!(!socket.exists(), "the socket goes with the loop");
    let signals: Vec<_> = journal(dir.path())
        .into_iter()
        .filter(|e| e["event"] == "control")
        .map(|e| e["signal"].clone())
        .collect();
    assert_eq!(signals, ["pause", "resume"]);
    // Without a loop, `resume` is the crash-resume of before: this run has ended.
    ralph(["resume"]).current_dir(dir.path()).expect(2);
}

/// A fake Claude Code that answers at once.
const CLAUDE: &str = "#!/bin/sh\ncat > /dev/null\necho '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}'\n";

#[test]
fn a_hint_reaches_the_next_prompt_and_packet_and_is_archived() {
    let dir = project(&[
        (
            "w.yaml",
            &format!(
                "workflow:\n  states:\n    - id: wait\n      agent: gate\n    - id: build\n      agent: builder\n    - id: done\n      type: terminal\nagents:\n  gate:\n    command: \"{GATE}\"\n  builder:\n    backend: claude\n    model: sonnet\n"
            ),
        ),
        ("bin/claude", CLAUDE),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    let path = crate::support::path_with(&dir.path().join("bin"));
    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).env("PATH", &path).spawn();
    wait_for_socket(dir.path());
    ralph(["hint", "use the small parser"]).current_dir(dir.path()).expect(0);
    let empty = ralph(["hint", "  "]).current_dir(dir.path()).expect(1);
    assert!(empty.stderr.contains("the hint is empty"), "{}", empty.stderr);
    assert_eq!(live(dir.path()).unwrap()["pending_hints"], 1);
    std::fs::write(dir.path().join("go"), "").unwrap();
    assert!(finish(child).success());
    let events = journal(dir.path());
    let run = events[0]["run_id"].as_str().unwrap();
    let run_dir = dir.path().join(".ralph/runs").join(run);
    let prompt = std::fs::read_dir(run_dir.join("steps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-build.prompt.md"))
        .expect("the build step's prompt file");
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains("## Hints from people") && prompt.contains("use the small parser"), "{prompt}");
    // The packet's control section lists the hint and the signals since the previous packet.
    let packet = std::fs::read_dir(run_dir.join("packets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-build.json"))
        .unwrap();
    let packet: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(packet).unwrap()).unwrap();
    assert_eq!(packet["control"]["signal"], "hint", "{packet}");
    assert_eq!(packet["control"]["hints"][0]["text"], "use the small parser");
    assert_eq!(packet["control"]["signals"][0]["name"], "hint");
    let archived: Vec<_> = std::fs::read_dir(dir.path().join(".ralph/hints")).unwrap().collect();
    assert_eq!(archived.len(), 1);
    let delivered = events.iter().find(|e| e["event"] == "hints_delivered").expect("journaled delivery");
    assert_eq!(delivered["step"], "build");
}

#[test]
fn interrupt_kills_a_sleeping_agent_at_once_then_the_run_pauses_and_resumes() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: work\n      agent: sleeper\n    - id: done\n      type: terminal\nagents:\n  sleeper:\n    command: \"if [ -f second ]; then exit 0; fi; touch second; echo $$ > pid; exec sleep 30\"\n",
    )]);
    let child = start(dir.path());
    wait_for("the agent to sleep", 30, || dir.path().join("pid").exists());
    let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap().trim().to_owned();
    let sent = Instant::now();
    ralph(["interrupt"]).current_dir(dir.path()).expect(0);
    wait_for("the run to pause with nothing running", 30, || {
        live(dir.path()).is_some_and(|s| s["paused"] == true && s["running"] == 0)
    });
    assert!(sent.elapsed() < Duration::from_secs(15), "interrupted in {:?}", sent.elapsed());
    let alive = std::process::Command::new("kill").args(["-0", &pid]).status().unwrap().success();
    assert!(!alive, "the agent's process was killed");
    ralph(["resume"]).current_dir(dir.path()).expect(0);
    assert!(finish(child).success());
    let events = journal(dir.path());
    let finished: Vec<_> = events.iter().filter(|e| e["event"] == "step_finished").collect();
    assert_eq!(finished[0]["outcome"]["class"], "interrupted", "{:?}", finished[0]);
    assert_eq!(finished[1]["outcome"]["success"], true);
    assert!(!events.iter().any(|e| e["event"] == "step_retrying"), "an interrupt is not retried");
}

#[test]
fn redirect_sends_a_state_machine_to_the_named_state_and_refuses_unknown_ones() {
    let dir = project(&[(
        "w.yaml",
        &format!(
            "workflow:\n  states:\n    - id: gate\n      agent: gate\n    - id: build\n      agent: b\n    - id: planning\n      agent: p\n    - id: done\n      type: terminal\n  transitions:\n    - from: gate\n      to: build\n    - from: build\n      to: done\n    - from: planning\n      to: done\nagents:\n  gate:\n    command: \"{GATE}\"\n  b:\n    command: \"echo build >> log\"\n  p:\n    command: \"echo planning >> log\"\n"
        ),
    )]);
    let child = start(dir.path());
    let typo = ralph(["redirect", "--to", "plannin"]).current_dir(dir.path()).expect(1);
    assert!(
        typo.stderr.contains("there is no state `plannin`")
            && typo.stderr.contains("did you mean `planning`?"),
        "{}",
        typo.stderr
    );
    ralph(["redirect", "--to", "planning"]).current_dir(dir.path()).expect(0);
    std::fs::write(dir.path().join("go"), "").unwrap();
    assert!(finish(child).success());
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "planning\n");
    let moved = journal(dir.path()).into_iter().find(|e| e["event"] == "transition").unwrap();
    assert_eq!(moved["to"], "planning");
    assert_eq!(moved["kind"], "redirect");
}

#[test]
fn add_iterations_raises_max_iterations_and_status_json_shows_the_live_loop() {
    let dir = project(&[(
        "w.yaml",
        &format!(
            "loop:\n  max_iterations: 2\nworkflow:\n  states:\n    - id: gate\n      agent: gate\n    - id: two\n      agent: t\n    - id: three\n      agent: t\n    - id: done\n      type: terminal\nagents:\n  gate:\n    command: \"{GATE}\"\n  t:\n    command: \"true\"\n"
        ),
    )]);
    let child = start(dir.path());
    ralph(["add-iterations", "5"]).current_dir(dir.path()).expect(0);
    let status = ralph(["status", "--json"]).current_dir(dir.path()).expect(0);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["latest_run"]["status"], "running");
    let live = &status["live"];
    assert_eq!(live["max_iterations"], 7);
    assert_eq!(live["state"], "gate");
    assert_eq!(live["kind"], "state_machine");
    assert!(live["last_signal"].as_str().unwrap().starts_with("add 5 iteration(s) by"), "{live}");
    std::fs::write(dir.path().join("go"), "").unwrap();
    assert!(finish(child).success(), "three invocations fit in 2 + 5");
}

#[test]
fn the_pause_and_hint_files_steer_a_loop_without_the_cli() {
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: only\n      agent: reader\nagents:\n  reader:\n    command: \"cp $RALPH_PACKET_FILE packet.json\"\n",
        ),
        (".ralph/pause", ""),
        (".ralph/hint", "keep the API stable\n"),
    ]);
    let child = start(dir.path());
    wait_for("the file to pause the loop", 30, || {
        live(dir.path()).is_some_and(|s| s["paused"] == true && s["paused_by"] == "the file .ralph/pause")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!dir.path().join("packet.json").exists(), "nothing ran while paused");
    std::fs::remove_file(dir.path().join(".ralph/pause")).unwrap();
    assert!(finish(child).success());
    let packet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("packet.json")).unwrap()).unwrap();
    assert_eq!(packet["control"]["hints"][0]["text"], "keep the API stable", "{packet}");
    assert!(!dir.path().join(".ralph/hint").exists(), "the hint file moved to the archive");
    assert_eq!(
        std::fs::read_dir(dir.path().join(".ralph/hints")).unwrap().count(),
        2,
        "received and delivered"
    );
}

#[test]
fn approve_reaches_a_running_review_over_the_socket_and_logs_follow_ends_with_the_run() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: work\n      agent: worker\n    - id: review\n      type: human\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"true\"\n",
    )]);
    let child = start(dir.path());
    wait_for("the review to wait", 30, || {
        live(dir.path()).is_some_and(|s| s["waiting_for_review"] == "review")
    });
    let follow = std::process::Command::new(env!("CARGO_BIN_EXE_ralph-loop"))
        .args(["logs", "--follow", "--json"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    ralph(["approve", "--comment", "ship it", "--as", "ana"]).current_dir(dir.path()).expect(0);
    assert!(finish(child).success());
    let followed = follow.wait_with_output().unwrap();
    assert!(followed.status.success());
    let streamed = events(&String::from_utf8_lossy(&followed.stdout));
    assert_eq!(streamed.first().unwrap()["event"], "run_started");
    assert_eq!(streamed.last().unwrap()["event"], "run_finished", "follow returns once the run ends");
    let journal = journal(dir.path());
    assert_eq!(streamed.len(), journal.len(), "every event, once");
    let approve = journal.iter().find(|e| e["event"] == "control").unwrap();
    assert_eq!(
        (approve["signal"].as_str(), approve["display_name"].as_str()),
        (Some("approve"), Some("ana"))
    );
    let decided = journal.iter().find(|e| e["event"] == "review_decided").unwrap();
    assert_eq!(decided["decision"], "approved");
    assert_eq!(decided["comment"], "ship it");
    // Nothing waits any more: a second decision has no loop to go to, nor a run waiting (a
    // decision that did not happen: 1).
    ralph(["approve"]).current_dir(dir.path()).expect(1);
}

#[test]
fn pause_loop_on_open_pauses_until_the_breaker_lets_its_probe_through() {
    let dir = project(&[
        (
            "w.yaml",
            "circuit_breaker:\n  failure_threshold: 1\n  timeout: 2s\n  on_open: [pause_loop]\n  on_close: [resume_loop]\nworkflow:\n  nodes:\n    - id: build\n      agent: flaky\nagents:\n  flaky:\n    command: \"if [ -f ok ]; then exit 0; fi; echo 'error: not yet' >&2; exit 1\"\n",
        ),
        ("TODO.md", "- [ ] T-1: one\n- [ ] T-2: two\n"),
    ]);
    let child = start(dir.path());
    wait_for("the breaker to pause the loop", 30, || {
        live(dir.path()).is_some_and(|s| s["paused_by"] == "circuit_breaker")
    });
    std::fs::write(dir.path().join("ok"), "").unwrap();
    // No one resumes it: the breaker's timeout lets the probe (task T-2) through.
    let status = finish(child);
    let events = journal(dir.path());
    let resumed = events.iter().find(|e| e["event"] == "control" && e["signal"] == "resume").unwrap();
    assert_eq!(resumed["by"], "circuit_breaker");
    assert!(events.iter().any(|e| e["event"] == "breaker" && e["state"] == "closed"), "the probe closed it");
    assert!(!status.success(), "T-1 failed before the pause");
    assert!(std::fs::read_to_string(dir.path().join("TODO.md")).unwrap().contains("- [x] T-2"));
}

#[test]
fn a_pause_and_its_end_are_said_on_the_loop_s_stderr_when_it_is_not_a_terminal() {
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: only\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
        ),
        (".ralph/pause", ""),
    ]);
    let log = dir.path().join("stderr.txt");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ralph-loop"))
        .args(["--color", "never", "loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let said = |what: &str| std::fs::read_to_string(&log).unwrap_or_default().contains(what);
    wait_for("the pause to be said", 60, || said("paused by the file .ralph/pause"));
    std::fs::remove_file(dir.path().join(".ralph/pause")).unwrap();
    assert!(finish(child).success());
    assert!(said("resumed by the file .ralph/pause (removed)"), "{}", std::fs::read_to_string(&log).unwrap());
}
