//! Looking back at runs: `runs`, `debug --iteration`, `inspect --phase`, and `reset` — each
//! checked against the journal (`logs --json`) of real loops with command agents.

use std::time::Duration;

use serde_json::Value;

use crate::support::{events, project, ralph};

/// A state machine over TODO.md: the builder reads its packet and reports a named result, the
/// verifier passes every second time, so each iteration loops once (verify fails, `else` goes
/// back to build).
const LOOPING: &str = r#"workflow:
  states:
    - id: build
      agent: builder
    - id: verify
      agent: verifier
    - id: done
      type: terminal
  transitions:
    - from: build
      to: verify
    - from: verify
      to: done
      condition: success
      else: build
agents:
  builder:
    command: "sh -c 'test -s $RALPH_PACKET_FILE && echo building && echo {\\\"outcome\\\":\\\"built\\\",\\\"summary\\\":\\\"did it\\\"} > $RALPH_RESULT_FILE'"
  verifier:
    command: "sh -c 'echo verifying; echo x >> verified; test $(( $(wc -l < verified) % 2 )) -eq 0'"
"#;

const TODO: &str = "- [ ] T-1: parse the input\n- [ ] T-2: count the words\n- [ ] T-3: print the total\n";

/// A DAG whose `flaky` node fails on its first attempt and succeeds on its second.
const RETRYING: &str = "workflow:\n  nodes:\n    - id: lint\n      agent: ok\n    - id: flaky\n      agent: flaky\n      depends_on: [lint]\n      retry: quick\n    - id: ship\n      agent: ok\n      depends_on: [flaky]\nretry:\n  quick:\n    strategy: fixed\n    max_attempts: 3\n    delay: 50ms\nagents:\n  ok:\n    command: \"echo fine\"\n  flaky:\n    command: \"echo try >> tries; echo attempt $(wc -l < tries); test $(wc -l < tries) -ge 2\"\n";

/// A DAG that fails: `b` exits 1 and `c`, which depends on it, is skipped.
const FAILING: &str = "workflow:\n  nodes:\n    - id: a\n      agent: ok\n    - id: b\n      agent: bad\n      depends_on: [a]\n    - id: c\n      agent: ok\n      depends_on: [b]\nagents:\n  ok:\n    command: \"true\"\n  bad:\n    command: \"echo broken; exit 1\"\n";

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn journal(dir: &std::path::Path, run: &str) -> Vec<Value> {
    events(&ralph(["logs", "--json", "--run", run]).current_dir(dir).expect(0).stdout)
}

fn of<'a>(journal: &'a [Value], event: &str) -> Vec<&'a Value> {
    journal.iter().filter(|e| e["event"] == event).collect()
}

#[test]
fn runs_lists_every_run_newest_first_with_its_status_and_step_counts() {
    let dir = project(&[("ok.yaml", RETRYING), ("bad.yaml", FAILING)]);
    let out = ralph(["runs"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.starts_with("no runs yet in"), "{}", out.stdout);
    assert!(!dir.path().join(".ralph/state").exists(), "listing no runs creates no store");
    assert_eq!(
        json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout)["runs"],
        Value::Array(vec![])
    );

    // Run ids (UUIDv7) order runs by their start millisecond: no pause is needed between them.
    ralph(["loop", "--workflow", "ok.yaml"]).current_dir(dir.path()).expect(0);
    ralph(["loop", "--workflow", "bad.yaml"]).current_dir(dir.path()).expect(1);
    let listed = json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let runs = listed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let (newest, oldest) = (&runs[0], &runs[1]);
    assert_eq!(newest["workflow_file"], "bad.yaml", "newest first");
    for (run, status) in [(newest, "failed"), (oldest, "succeeded")] {
        let id = run["run_id"].as_str().unwrap();
        let journal = journal(dir.path(), id);
        let finished = of(&journal, "step_finished");
        let failed = finished.iter().filter(|e| e["outcome"]["success"] == false).count();
        assert_eq!(run["status"], status, "{run}");
        assert_eq!(run["kind"], "dag");
        assert_eq!(run["steps_finished"], finished.len(), "{run}");
        assert_eq!(run["steps_failed"], failed, "{run}");
        assert_eq!(run["reason"], of(&journal, "run_finished")[0]["reason"], "{run}");
        assert!(run["duration_ms"].is_u64(), "{run}");
    }
    // The retried node: 4 executions, 1 failed; the failing DAG: a ran, b failed, c skipped.
    assert_eq!((oldest["steps_finished"].as_u64(), oldest["steps_failed"].as_u64()), (Some(4), Some(1)));
    assert_eq!((newest["steps_finished"].as_u64(), newest["steps_failed"].as_u64()), (Some(2), Some(1)));

    let human = ralph(["runs"]).current_dir(dir.path()).expect(0).stdout;
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 3, "{human}");
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("STATUS") && lines[0].contains("DURATION"),
        "{human}"
    );
    assert!(
        lines[1].starts_with(newest["run_id"].as_str().unwrap()) && lines[1].contains("failed"),
        "{human}"
    );
    assert!(lines[1].ends_with("1 node(s) failed"), "{human}");
    assert!(lines[2].contains("succeeded") && lines[2].ends_with("every node finished"), "{human}");
    // Columns line up: every row has its status where the header has STATUS.
    let at = lines[0].find("STATUS").unwrap();
    assert!(lines[1][at..].starts_with("failed") && lines[2][at..].starts_with("succeeded"), "{human}");

    let limited = json(&ralph(["runs", "--json", "--limit", "1"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(limited["runs"].as_array().unwrap().len(), 1);
    assert_eq!(limited["runs"][0]["run_id"], newest["run_id"]);
}

#[test]
fn debug_shows_each_step_of_an_iteration_with_its_packet_output_outcome_and_decision() {
    let dir = project(&[("w.yaml", LOOPING), ("TODO.md", TODO)]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let run = json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout)["runs"][0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let journal = journal(dir.path(), &run);
    assert_eq!(of(&journal, "iteration_started").len(), 3);

    let report =
        json(&ralph(["debug", "--iteration", "2", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(report["run_id"], run.as_str());
    assert_eq!(report["iterations"], serde_json::json!([1, 2, 3]));
    assert_eq!(report["iteration"]["task"]["id"], "T-2");
    assert_eq!(report["iteration"]["status"], "succeeded");
    // The steps are the journal's step_started events between iteration 2's start and end.
    let mut in_two = Vec::new();
    let mut iteration = 0;
    for e in &journal {
        if e["event"] == "iteration_started" {
            iteration = e["iteration"].as_u64().unwrap();
        }
        if e["event"] == "step_started" && iteration == 2 {
            in_two.push(e["step"].as_str().unwrap());
        }
    }
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, in_two);
    assert_eq!(names, ["build", "verify", "build", "verify"]);
    // build: its packet, its result file, its output, and the transition after it.
    let build = &steps[0];
    assert_eq!(build["packet"]["workflow"]["phase"], "build", "{build}");
    assert_eq!(build["packet"]["context"]["current_task"]["id"], "T-2", "{build}");
    assert_eq!(build["completed_packet_file"].as_str().map(|p| p.ends_with(".completed.json")), Some(true));
    assert_eq!(build["units"][0]["result"]["outcome"], "built");
    assert_eq!(build["units"][0]["log"]["text"], "building\n");
    assert_eq!(build["outcome"]["result"], "built");
    assert_eq!(
        build["decisions"],
        serde_json::json!([{"kind": "transition", "to": "verify", "edge": "transition"}])
    );
    // The first verify fails and the state machine goes back to build by `else`.
    let verify = &steps[1];
    assert_eq!(verify["status"], "failed");
    assert_eq!(verify["outcome"]["class"], "nonzero_exit");
    assert_eq!(verify["units"][0]["log"]["text"], "verifying\n");
    assert_eq!(
        verify["decisions"],
        serde_json::json!([{"kind": "transition", "to": "build", "edge": "else"}])
    );
    // The last step of the iteration ends it and marks the task.
    let last: Vec<&str> =
        steps[3]["decisions"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(last, ["transition", "iteration_ended", "task_marked"]);

    let human = ralph(["debug", "--iteration", "2"]).current_dir(dir.path()).expect(0).stdout;
    for needle in [
        "iteration 2 of 3",
        "task:      T-2 — count the words",
        "── #6 verify · verifier · attempt 1",
        "outcome    failed (nonzero_exit)",
        "then       → `build` (else)",
        "outcome    succeeded `built`, exit code 0",
        "summary    did it",
        "phase `build`, iteration 2, signal continue",
        "  │ building",
        "           task T-2 marked done",
    ] {
        assert!(human.contains(needle), "missing {needle:?} in\n{human}");
    }
    assert!(human.contains(&format!("packet     .ralph/runs/{run}/packets/0005-build.json")), "{human}");
    assert!(!human.contains("{\""), "no JSON dumps without --full:\n{human}");
    let full = ralph(["debug", "--iteration", "2", "--full"]).current_dir(dir.path()).expect(0).stdout;
    assert!(full.contains("\"current_task\""), "--full shows the whole packet");

    let out = ralph(["debug", "--iteration", "7"]).current_dir(dir.path()).expect(2);
    assert!(
        out.stderr.contains(&format!("run {run} has no iteration 7; it has iterations 1 to 3")),
        "{}",
        out.stderr
    );
    let out = ralph(["debug", "--iteration", "1", "--run", "nope"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("there is no run `nope`") && out.stderr.contains(&run), "{}", out.stderr);
}

#[test]
fn inspect_lists_every_execution_of_a_phase_with_attempts_and_a_summary() {
    let dir = project(&[("w.yaml", RETRYING)]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let report =
        json(&ralph(["inspect", "--phase", "flaky", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let executions = report["executions"].as_array().unwrap();
    let run = report["runs"][0].as_str().unwrap();
    let journal = journal(dir.path(), run);
    let finished: Vec<&Value> =
        of(&journal, "step_finished").into_iter().filter(|e| e["step"] == "flaky").collect();
    assert_eq!(executions.len(), finished.len());
    assert_eq!(executions.len(), 2);
    let (first, second) = (&executions[0], &executions[1]);
    assert_eq!((first["attempt"].as_u64(), first["status"].as_str()), (Some(1), Some("failed")));
    assert_eq!(first["class"], "nonzero_exit");
    assert_eq!(first["error"], finished[0]["outcome"]["error"]);
    assert_eq!(first["duration_ms"], finished[0]["outcome"]["duration_ms"]);
    assert_eq!((second["attempt"].as_u64(), second["status"].as_str()), (Some(2), Some("succeeded")));
    assert_eq!(second["agent"], "flaky");
    let summary = &report["summary"];
    assert_eq!(
        (summary["executions"].as_u64(), summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(summary["success_rate"], 0.5);
    let durations: Vec<u64> =
        finished.iter().map(|e| e["outcome"]["duration_ms"].as_u64().unwrap()).collect();
    assert_eq!(summary["max_ms"].as_u64(), durations.iter().max().copied());
    assert_eq!(summary["p50_ms"].as_u64(), durations.iter().min().copied(), "the lower median of two");

    let human = ralph(["inspect", "--phase", "flaky"]).current_dir(dir.path()).expect(0).stdout;
    assert!(human.contains("ATTEMPT") && human.contains("DURATION") && human.contains("CLASS"), "{human}");
    assert!(human.contains("2 execution(s): 1 succeeded, 1 failed (50% success)"), "{human}");
    assert!(human.contains("duration: p50 "), "{human}");
    // debug tells the retry as the decision after the failed attempt.
    let debug = ralph(["debug", "--iteration", "1"]).current_dir(dir.path()).expect(0).stdout;
    assert!(debug.contains("then       retry: attempt 2 in 50ms (policy `quick`, nonzero_exit)"), "{debug}");
    assert!(debug.contains("then       started `flaky`"), "the DAG's next node after lint:\n{debug}");

    let out = ralph(["inspect", "--phase", "flakey"]).current_dir(dir.path()).expect(2);
    assert!(
        out.stderr.contains(&format!("no step `flakey` ran in run {run}; did you mean `flaky`?")),
        "{}",
        out.stderr
    );
    let out = ralph(["inspect", "--phase", "deploy"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("the steps that ran are `lint`, `flaky`, `ship`"), "{}", out.stderr);

    // Across runs: a second run adds its executions (the counter file makes it pass at once).
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let all = json(
        &ralph(["inspect", "--phase", "flaky", "--all-runs", "--json"])
            .current_dir(dir.path())
            .expect(0)
            .stdout,
    );
    assert_eq!(all["runs"].as_array().unwrap().len(), 2);
    assert_eq!(all["summary"]["executions"], 3);
    let human = ralph(["inspect", "--phase", "flaky", "--all-runs"]).current_dir(dir.path()).expect(0).stdout;
    assert!(human.contains("RUN") && human.contains("in any run"), "{human}");
}

/// Waits until the loop has recorded its run (its step is running).
fn wait_for_step(dir: &std::path::Path) {
    for _ in 0..200 {
        if dir.join("started").exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the loop never started its step");
}

/// The slow loop the live tests read while it runs: one node that waits.
const SLOW: &str = "workflow:\n  nodes:\n    - id: wait\n      agent: t\nagents:\n  t:\n    command: \"touch started; sleep 30\"\n";

/// What the read-only verbs say about `run` (an ended run), as JSON.
fn readings(dir: &std::path::Path, run: &str) -> Vec<(String, String)> {
    let verbs: [&[&str]; 7] = [
        &["debug", "--iteration", "1", "--json", "--run"],
        &["inspect", "--phase", "flaky", "--json", "--run"],
        &["traces", "--json", "--run"],
        &["metrics", "--json", "--run"],
        &["logs", "--json", "--run"],
        &["snapshots", "--json"],
        &["runs", "--json"],
    ];
    verbs
        .iter()
        .map(|args| {
            let mut command = ralph(args.iter().copied());
            if args[0] != "runs" {
                command = command.arg(run);
            }
            let out = command.current_dir(dir).expect(0);
            let text = if args[0] == "runs" {
                // The running run changes as it is read: the ended one is compared.
                let all = json(&out.stdout);
                let ended = all["runs"].as_array().unwrap().iter().find(|r| r["run_id"] == run).cloned();
                ended.expect("the ended run is listed").to_string()
            } else {
                out.stdout
            };
            (args[0].to_owned(), text)
        })
        .collect()
}

#[test]
fn read_only_verbs_answer_while_a_loop_runs_as_they_do_from_the_store() {
    // See: issue 13, finding 9.
    let dir = project(&[("w.yaml", RETRYING), ("slow.yaml", SLOW)]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let ended =
        json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout)["runs"][0]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let stored = readings(dir.path(), &ended);

    let mut running = ralph(["loop", "--workflow", "slow.yaml"]).current_dir(dir.path()).spawn();
    wait_for_step(dir.path());
    // The loop holds the store (sled lets one process in): every reading below comes from it
    // over its control socket, and is what the store said.
    let live = readings(dir.path(), &ended);
    for ((verb, before), (_, now)) in stored.iter().zip(&live) {
        assert_eq!(before, now, "`{verb}` answers differently while a loop runs");
    }
    let listed = json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(listed["runs"][0]["status"], "running", "{listed}");
    assert_eq!(listed["runs"][1]["status"], "succeeded", "{listed}");
    let live_id = listed["runs"][0]["run_id"].as_str().unwrap().to_owned();
    // The running run itself, by a prefix of its id: its step has started and not finished.
    let prefix = &live_id[..live_id.len() - 4];
    let debug = json(
        &ralph(["debug", "--iteration", "1", "--json", "--run", prefix])
            .current_dir(dir.path())
            .expect(0)
            .stdout,
    );
    assert_eq!(debug["run_id"], live_id.as_str(), "{debug}");
    assert_eq!(
        (debug["steps"][0]["step"].as_str(), debug["steps"][0]["status"].as_str()),
        (Some("wait"), Some("unfinished")),
        "{debug}"
    );
    let phase = ralph(["inspect", "--phase", "wait"]).current_dir(dir.path()).expect(0).stdout;
    assert!(phase.contains("1 interrupted or unfinished"), "{phase}");
    // The loop was not disturbed: it still runs, and answers.
    let status = ralph(["status"]).current_dir(dir.path()).expect(0).stdout;
    assert!(status.contains(&format!("run {live_id}: running")), "{status}");
    assert!(running.try_wait().unwrap().is_none(), "the loop still runs");
    running.kill().unwrap();
    running.wait().unwrap();
}

#[test]
fn read_only_verbs_in_a_directory_without_runs_create_nothing() {
    // See: issue 13, finding 9.
    let dir = project(&[("w.yaml", RETRYING)]);
    let listing = || {
        let mut paths: Vec<String> = Vec::new();
        let mut todo = vec![dir.path().to_path_buf()];
        while let Some(path) = todo.pop() {
            for entry in std::fs::read_dir(&path).unwrap() {
                let entry = entry.unwrap().path();
                paths.push(entry.strip_prefix(dir.path()).unwrap().display().to_string());
                if entry.is_dir() {
                    todo.push(entry);
                }
            }
        }
        paths.sort();
        paths
    };
    let before = listing();
    for (args, code, says) in [
        (&["runs"][..], 0, "no runs yet in"),
        (&["status"], 0, "no runs yet"),
        (&["snapshots"], 0, "no runs yet in"),
        (&["logs"], 2, "there are no runs in"),
        (&["debug", "--iteration", "1"], 2, "there are no runs in"),
        (&["inspect", "--phase", "lint"], 2, "there are no runs in"),
        (&["traces"], 2, "there are no runs in"),
        (&["metrics"], 2, "there are no runs in"),
    ] {
        let out = ralph(args.iter().copied()).current_dir(dir.path()).expect(code);
        assert!(out.stdout.contains(says) || out.stderr.contains(says), "{args:?}: {out:?}");
    }
    assert_eq!(listing(), before, "a read-only verb left something behind");
}

#[test]
fn reset_asks_or_needs_yes_refuses_a_running_loop_and_the_next_loop_starts_afresh() {
    let dir = project(&[("w.yaml", RETRYING), ("slow.yaml", SLOW)]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);

    // A running loop: reset is refused with its pid (the store is held: 4), and nothing is
    // removed.
    let mut running = ralph(["loop", "--workflow", "slow.yaml"]).current_dir(dir.path()).spawn();
    wait_for_step(dir.path());
    let pid = format!("(pid {})", running.id());
    let out = ralph(["reset", "--yes"]).current_dir(dir.path()).expect(4);
    assert!(out.stderr.contains(&pid) && out.stderr.contains("nothing was removed"), "{}", out.stderr);
    assert!(dir.path().join(".ralph/runs").exists());
    running.kill().unwrap();
    running.wait().unwrap();

    // The killed run's record still says running: it crashed.
    let listed = json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(listed["runs"][0]["status"], "crashed", "{listed}");
    assert_eq!(listed["runs"][1]["status"], "succeeded", "{listed}");
    let reason = listed["runs"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("ralph-loop resume"), "{reason}");

    // Without a terminal and without --yes: refused, after saying what it would remove.
    let out = ralph(["reset"]).current_dir(dir.path()).expect(2);
    for needle in
        [".ralph/state", ".ralph/runs", "2 run directories", "the run store", "and keeps:", "task files"]
    {
        assert!(out.stderr.contains(needle), "missing {needle:?}: {}", out.stderr);
    }
    assert!(out.stderr.contains("stdin is not a terminal") && out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(dir.path().join(".ralph/runs").exists() && dir.path().join(".ralph/state/db").exists());

    let out = ralph(["reset", "--yes"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("reset removes:") && out.stdout.contains(".ralph/runs"), "{}", out.stdout);
    assert!(!dir.path().join(".ralph/runs").exists() && !dir.path().join(".ralph/state/db").exists());
    assert!(dir.path().join("w.yaml").exists(), "the project stays");
    let out = ralph(["runs"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.starts_with("no runs yet"), "{}", out.stdout);
    let out = ralph(["reset", "--yes"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.starts_with("nothing to reset"), "{}", out.stdout);

    // The next loop makes a new store; its run is the only one.
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let listed = json(&ralph(["runs", "--json"]).current_dir(dir.path()).expect(0).stdout);
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["runs"][0]["status"], "succeeded");
}
