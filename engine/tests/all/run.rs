//! `ralph-loop loop`: DAG workflows of command agents, run for real.

use std::time::{Duration, Instant};

use crate::support::{project, ralph};

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn finished<'a>(events: &'a [serde_json::Value], step: &str) -> Option<&'a serde_json::Value> {
    events.iter().find(|e| e["event"] == "step_finished" && e["step"] == step)
}

#[test]
fn independent_dag_nodes_run_in_parallel() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: nap\n    - id: b\n      agent: nap\n    - id: c\n      agent: nap\nagents:\n  nap:\n    command: sleep 1\n",
    )]);
    let started = Instant::now();
    ralph(["loop", "--workflow", "w.yaml", "--jobs", "3"]).current_dir(dir.path()).expect(0);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "three 1 s nodes at --jobs 3 took {took:?}");
    let started = Instant::now();
    ralph(["loop", "--workflow", "w.yaml", "--jobs", "1"]).current_dir(dir.path()).expect(0);
    assert!(started.elapsed() >= Duration::from_secs(3), "--jobs 1 must run them one at a time");
}

#[test]
fn a_failed_node_skips_its_descendants_and_fails_the_run() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: lint\n      agent: ok\n    - id: test\n      agent: bad\n      depends_on: lint\n    - id: audit\n      agent: bad\n      depends_on: lint\n      continue_on: failure\n    - id: build\n      agent: ok\n      depends_on: [test]\n    - id: verify\n      agent: ok\n      depends_on: build\n    - id: report\n      agent: ok\n      depends_on: audit\nagents:\n  ok:\n    command: \"true\"\n  bad:\n    command: \"echo broken >&2; exit 3\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = events(&out.stdout);
    let test = finished(&events, "test").unwrap();
    assert_eq!(test["outcome"]["success"], false);
    assert_eq!(test["outcome"]["class"], "nonzero_exit");
    assert_eq!(test["outcome"]["error"], "exit status 3: broken");
    let skipped: Vec<&str> =
        events.iter().filter(|e| e["event"] == "step_skipped").map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["build", "verify"]);
    assert_eq!(finished(&events, "report").unwrap()["outcome"]["success"], true, "continue_on: failure");
    let last = events.last().unwrap();
    assert_eq!((last["event"].as_str(), last["status"].as_str()), (Some("run_finished"), Some("failed")));
}

#[test]
fn agents_get_their_files_and_report_a_named_result() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: verify\n      agent: verifier\nagents:\n  verifier:\n    command: |\n      test -f \"$RALPH_PACKET_FILE\" && grep -q '\"version\": \"2.0\"' {{ packet_file }} &&\n      echo '{\"outcome\": \"verified\", \"summary\": \"checked '\"$RALPH_STEP\"'\"}' > \"$RALPH_RESULT_FILE\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    let verify = finished(&events, "verify").unwrap();
    assert_eq!(verify["outcome"]["result"], "verified");
    assert_eq!(verify["outcome"]["summary"], "checked verify");
    let run_id = events[0]["run_id"].as_str().unwrap();
    let run = dir.path().join(".ralph/runs").join(run_id);
    assert!(run.join("steps/verify.packet.json").is_file());
    assert_eq!(std::fs::read_to_string(run.join("events.jsonl")).unwrap().lines().count(), events.len());
}

#[test]
fn a_hung_agent_is_killed_at_its_timeout() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: hang\n      agent: sleeper\nagents:\n  sleeper:\n    command: \"sleep 60\"\n    timeout: 1s\n",
    )]);
    let started = Instant::now();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(finished(&events(&out.stdout), "hang").unwrap()["outcome"]["class"], "timeout");
}

#[test]
fn a_check_command_decides_success_and_chains_run_in_order() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: build\n      agent: pipeline\nchains:\n  pipeline: [first, second]\nagents:\n  first:\n    command: \"echo one >> order.txt\"\n  second:\n    command: \"echo two >> order.txt\"\n    check: \"grep -q three order.txt\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert_eq!(std::fs::read_to_string(dir.path().join("order.txt")).unwrap(), "one\ntwo\n");
    assert_eq!(finished(&events(&out.stdout), "build").unwrap()["outcome"]["class"], "check_failed");
}

#[test]
fn loop_refuses_what_it_cannot_run_before_the_first_step() {
    let dir = project(&[
        (
            "ai.yaml",
            "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n",
        ),
        ("undefined.yaml", "workflow:\n  nodes:\n    - id: lint\n      agent: linter\n"),
    ]);
    let out = ralph(["loop", "--workflow", "ai.yaml"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("agent `builder` needs the `claude` backend"), "{}", out.stderr);
    assert!(!dir.path().join(".ralph").exists(), "nothing may be recorded for a run that never started");
    let out = ralph(["loop", "--workflow", "undefined.yaml"]).current_dir(dir.path()).expect(1);
    assert!(out.stderr.contains("error[undefined-agent]"), "{}", out.stderr);
}
