//! Snapshots, `replay --from-state`, `retry --from`: new runs made from a recorded one.

use crate::support::{events, project, ralph};

/// The workflow of the replay tests: `build` appends a line to `log`, `verify` passes once the
/// log has three lines — so the decisions follow from the outcomes, and the outcomes from the
/// log, which a test can put back as it was at a snapshot.
const LOOPING: &str = "workflow:\n  states:\n    - id: build\n      agent: builder\n    - id: verify\n      agent: verifier\n    - id: done\n      type: terminal\n  transitions:\n    - from: build\n      to: verify\n    - from: verify\n      to: done\n      condition: success\n      else: build\nagents:\n  builder:\n    command: \"echo b >> log\"\n  verifier:\n    command: \"test $(wc -l < log) -ge 3\"\nstate:\n  snapshots:\n    triggers: [phase_complete]\n";

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The transitions of a run's journal after event `after`, as `from→to`.
fn transitions(dir: &std::path::Path, run: &str, after: u64) -> Vec<String> {
    let out = ralph(["logs", "--run", run, "--json"]).current_dir(dir).expect(0);
    events(&out.stdout)
        .iter()
        .enumerate()
        .filter(|(i, e)| *i as u64 + 1 > after && e["event"] == "transition")
        .map(|(_, e)| format!("{}→{}", e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_replay_from_a_snapshot_reproduces_the_decisions_of_the_recorded_outcomes() {
    let dir = project(&[("w.yaml", LOOPING)]);
    let first = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let run = events(&first.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let snapshots = json(&ralph(["snapshots", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let phases: Vec<&str> =
        snapshots.as_array().unwrap().iter().map(|s| s["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["build", "verify", "build", "verify", "build", "verify"], "one per finished step");
    // The snapshot after the second `build`: the log then had two lines.
    let snapshot = &snapshots[2];
    let seq = snapshot["seq"].as_u64().unwrap();
    assert_eq!(snapshot["id"].as_str().unwrap(), format!("{run}@{seq}"));
    assert_eq!(snapshot["trigger"], "phase_complete");
    std::fs::write(dir.path().join("log"), "b\nb\n").unwrap();
    let replay = ralph(["replay", "--from-state", snapshot["id"].as_str().unwrap(), "--json"])
        .current_dir(dir.path())
        .expect(0);
    let replayed = events(&replay.stdout);
    let new_run = replayed[0]["run_id"].as_str().unwrap().to_owned();
    assert_ne!(new_run, run, "a replay is a new run");
    // Nothing before the snapshot ran again: the replay started with `verify`.
    let started: Vec<&str> = replayed
        .iter()
        .filter(|e| e["event"] == "step_started")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["verify", "build", "verify"]);
    assert_eq!(transitions(dir.path(), &new_run, seq + 1), transitions(dir.path(), &run, seq));
    let journal =
        events(&ralph(["logs", "--run", &new_run, "--json"]).current_dir(dir.path()).expect(0).stdout);
    let forked =
        journal.iter().find(|e| e["event"] == "forked").expect("the journal says where it came from");
    assert_eq!(forked["from_run"], run.as_str());
    assert_eq!(forked["from_seq"], seq);
    assert_eq!(journal[0]["run_id"], new_run.as_str(), "the copied run_started names the new run");
    // The source run is untouched.
    let source = events(&ralph(["logs", "--run", &run, "--json"]).current_dir(dir.path()).expect(0).stdout);
    let shown = events(&first.stdout).iter().filter(|e| e.get("event").is_some()).count();
    assert_eq!(source.len(), shown);
}

#[test]
fn a_changed_definition_is_refused_and_shown_unless_a_definition_is_chosen() {
    let dir = project(&[("w.yaml", LOOPING)]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let snapshots = json(&ralph(["snapshots", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let id = snapshots[0]["id"].as_str().unwrap().to_owned();
    // The verifier now passes at once.
    std::fs::write(dir.path().join("w.yaml"), LOOPING.replace("-ge 3", "-ge 0")).unwrap();
    std::fs::write(dir.path().join("log"), "b\n").unwrap();
    let refused = ralph(["replay", "--from-state", &id]).current_dir(dir.path()).expect(2);
    assert!(refused.stderr.contains("has changed since snapshot"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            r#"~ agents.verifier.command: "test $(wc -l < log) -ge 3" → "test $(wc -l < log) -ge 0""#
        ),
        "the change is shown as a field path: {}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--definition stored"), "{}", refused.stderr);
    // The stored definition: the verifier needs three lines again (the log has one).
    let stored = ralph(["replay", "--from-state", &id, "--definition", "stored", "--json"])
        .current_dir(dir.path())
        .expect(0);
    let verifies = |out: &str| {
        events(out).iter().filter(|e| e["event"] == "step_started" && e["step"] == "verify").count()
    };
    assert_eq!(verifies(&stored.stdout), 3, "{}", stored.stdout);
    let forked = events(&stored.stdout);
    assert!(forked.iter().all(|e| e["event"] != "forked"), "the copied events are not shown again");
    std::fs::write(dir.path().join("log"), "b\n").unwrap();
    let current = ralph(["replay", "--from-state", &id, "--definition", "current", "--json"])
        .current_dir(dir.path())
        .expect(0);
    assert_eq!(verifies(&current.stdout), 1, "{}", current.stdout);
    assert!(current.stderr.contains("running `w.yaml` as it is now"), "{}", current.stderr);
    let unknown = ralph(["replay", "--from-state", "nope@3"]).current_dir(dir.path()).expect(2);
    assert!(unknown.stderr.contains("there is no snapshot `nope@3`; the latest:"), "{}", unknown.stderr);
}

#[test]
fn retry_from_a_dag_node_runs_it_and_its_dependents_again_and_keeps_the_others() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: a\n    - id: b\n      agent: b\n      depends_on: [a]\n    - id: c\n      agent: c\n      depends_on: [b]\n    - id: d\n      agent: d\nagents:\n  a: {command: \"echo a >> calls\"}\n  b: {command: \"echo b >> calls; test -f fixed\"}\n  c: {command: \"echo c >> calls\"}\n  d: {command: \"echo d >> calls\"}\n",
    )]);
    let failed = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let run = events(&failed.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let calls = |dir: &std::path::Path| {
        let mut lines: Vec<String> =
            std::fs::read_to_string(dir.join("calls")).unwrap().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(calls(dir.path()), ["a", "b", "d"], "c was skipped");
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    std::fs::remove_file(dir.path().join("calls")).unwrap();
    let unknown = ralph(["retry", &run, "--from", "bb"]).current_dir(dir.path()).expect(2);
    assert!(unknown.stderr.contains("no step `bb`; did you mean `b`?"), "{}", unknown.stderr);
    let retried = ralph(["retry", &run, "--from", "b", "--json"]).current_dir(dir.path()).expect(0);
    assert_eq!(calls(dir.path()), ["b", "c"], "a and d keep their outcomes");
    let end = events(&retried.stdout).last().unwrap().clone();
    assert_eq!(end["status"], "succeeded", "{end}");
    let runs = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0);
    assert!(events(&runs.stdout).iter().any(|e| e["event"] == "forked" && e["why"] == "retry from b"));
}

#[test]
fn retry_from_a_state_goes_on_from_there_and_a_step_that_never_ran_is_named() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: plan\n      agent: planner\n    - id: build\n      agent: builder\n    - id: review\n      agent: reviewer\n    - id: done\n      type: terminal\n    - id: gave_up\n      type: terminal\n  transitions:\n    - from: plan\n      to: build\n    - from: build\n      to: done\n      condition: success\n      else: gave_up\nagents:\n  planner: {command: \"echo plan >> calls\"}\n  builder: {command: \"echo build >> calls; test -f fixed\"}\n  reviewer: {command: \"true\"}\n",
    )]);
    let first = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let run = events(&first.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    assert!(first.stdout.contains("gave_up"));
    let never = ralph(["retry", &run, "--from", "review"]).current_dir(dir.path()).expect(2);
    assert!(
        never.stderr.contains("step `review` never ran in run")
            && never.stderr.contains("the steps that ran: plan, build"),
        "{}",
        never.stderr
    );
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let retried = ralph(["retry", &run, "--from", "build", "--json"]).current_dir(dir.path()).expect(0);
    let moves: Vec<String> = events(&retried.stdout)
        .iter()
        .filter(|e| e["event"] == "transition")
        .map(|e| format!("{}→{}", e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(moves, ["build→done"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap(), "plan\nbuild\nbuild\n");
}

#[test]
fn snapshots_are_kept_up_to_the_retention_count() {
    let dir = project(&[(
        "w.yaml",
        &LOOPING.replace(
            "triggers: [phase_complete]",
            "triggers: [phase_complete, state_change]\n    retention: {count: 4, age: 30d}",
        ),
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let snapshots = json(&ralph(["snapshots", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let kept = snapshots.as_array().unwrap();
    assert_eq!(kept.len(), 4, "{snapshots}");
    // The newest are kept: the last is at the run's last transition, into `done`.
    assert_eq!(kept[3]["trigger"], "state_change");
    let table = ralph(["snapshots"]).current_dir(dir.path()).expect(0);
    assert!(table.stdout.starts_with("SNAPSHOT"), "{}", table.stdout);
}

#[test]
fn replay_check_re_decides_recorded_outcomes_without_invoking_agents_and_finds_the_divergence() {
    let dir = project(&[("w.yaml", LOOPING), ("TODO.md", "- [ ] one\n- [ ] two\n")]);
    let first = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let run = events(&first.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let todo = std::fs::read_to_string(dir.path().join("TODO.md")).unwrap();
    assert_eq!(todo, "- [x] one\n- [x] two\n");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let same = ralph(["replay", "--check", &run, "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(same.stdout.contains("makes the same decisions as run"), "{}", same.stdout);
    // The verifier now accepts anything: after the first failed verify the recorded run went
    // back to `build`, the edited workflow goes to `done`.
    std::fs::write(dir.path().join("edited.yaml"), LOOPING.replace("else: build", "else: done")).unwrap();
    let diverged =
        ralph(["replay", "--check", &run, "--workflow", "edited.yaml"]).current_dir(dir.path()).expect(1);
    assert!(
        diverged.stdout.contains("diverges from run")
            && diverged.stdout.contains("in iteration 1:")
            && diverged.stdout.contains("after:     `verify` failed: exit status 1")
            && diverged.stdout.contains("recorded:  `verify` → `build`")
            && diverged.stdout.contains("new:       `verify` → `done`"),
        "{}",
        diverged.stdout
    );
    let report = json(
        &ralph(["replay", "--check", &run, "--workflow", "edited.yaml", "--json"])
            .current_dir(dir.path())
            .expect(1)
            .stdout,
    );
    assert_eq!(report["same"], false);
    assert_eq!(report["divergence"]["new"], "`verify` → `done`");
    // No agent ran, no task was marked, no run was added to the project's store.
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), log);
    assert_eq!(std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(), todo);
    let logs = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0);
    assert_eq!(events(&logs.stdout)[0]["run_id"], run.as_str(), "the latest run is still the recorded one");
}

#[test]
fn replay_check_of_a_dag_compares_per_iteration_sets_and_stops_where_the_recording_has_no_outcome() {
    let graph = |deps: &str| {
        format!(
            "workflow:\n  nodes:\n    - id: a\n      agent: ok\n    - id: b\n      agent: bad\n      depends_on: [a]\n    - id: c\n      agent: ok\n      depends_on: [{deps}]\n    - id: d\n      agent: ok\nagents:\n  ok: {{command: \"echo x >> calls\"}}\n  bad: {{command: \"exit 3\"}}\n"
        )
    };
    let dir = project(&[("w.yaml", &graph("b")), ("edited.yaml", &graph("a"))]);
    let first =
        ralph(["loop", "--workflow", "w.yaml", "--json", "--jobs", "2"]).current_dir(dir.path()).expect(1);
    let run = events(&first.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    ralph(["replay", "--check", &run, "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let diverged =
        ralph(["replay", "--check", &run, "--workflow", "edited.yaml"]).current_dir(dir.path()).expect(1);
    assert!(
        diverged.stdout.contains("recorded:  skip `c`")
            && diverged.stdout.contains("new:       start `c` (attempt 1)"),
        "{}",
        diverged.stdout
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap(), calls, "no agent ran");
    let other = project(&[("sm.yaml", LOOPING)]);
    std::fs::copy(dir.path().join("w.yaml"), other.path().join("w.yaml")).unwrap();
    let refused = ralph([
        "--state-dir",
        dir.path().join(".ralph/state").to_str().unwrap(),
        "replay",
        "--check",
        &run,
        "--workflow",
        "sm.yaml",
    ])
    .current_dir(other.path())
    .expect(2);
    assert!(refused.stderr.contains("ran a dag workflow"), "{}", refused.stderr);
}
