//! Retries, as the policies say: attempts and delays recorded, classes respected.

use crate::support::{events, project, ralph};

/// An agent that fails until its third run.
const FLAKY: &str = "    command: \"echo x >> runs; test $(wc -l < runs) -ge 3\"\n";

#[test]
fn an_agent_that_fails_twice_then_succeeds_finishes_with_its_attempts_and_delays_recorded() {
    for (kind, workflow) in [
        ("dag", "workflow:\n  nodes:\n    - id: build\n      agent: flaky\n      retry: quick\n"),
        ("state machine", "workflow:\n  states:\n    - id: build\n      agent: flaky\n      retry: quick\n"),
        ("saga", "workflow:\n  steps:\n    - name: build\n      action: flaky\n      retry: quick\n"),
    ] {
        let dir = project(&[(
            "w.yaml",
            &format!(
                "{workflow}retry:\n  quick:\n    strategy: linear\n    max_attempts: 4\n    delay: 100ms\nagents:\n  flaky:\n{FLAKY}"
            ),
        )]);
        let started = std::time::Instant::now();
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
        let events = events(&out.stdout);
        let retries: Vec<(u64, u64)> = events
            .iter()
            .filter(|e| e["event"] == "step_retrying")
            .map(|e| (e["attempt"].as_u64().unwrap(), e["delay_ms"].as_u64().unwrap()))
            .collect();
        assert_eq!(retries, [(1, 100), (2, 200)], "{kind}");
        let attempts: Vec<u64> = events
            .iter()
            .filter(|e| e["event"] == "step_started")
            .map(|e| e["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, [1, 2, 3], "{kind}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(300), "{kind}: the delays were waited");
        assert_eq!(events.last().unwrap()["status"], "succeeded", "{kind}");
    }
}

#[test]
fn max_attempts_counts_the_first_and_a_class_outside_retry_on_is_not_retried() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: build\n      agent: flaky\n    - id: slow\n      agent: sleeper\nretry:\n  default:\n    strategy: fixed\n    max_attempts: 2\n    delay: 10ms\n    retry_on: [ExitError]\nagents:\n  flaky:\n    command: \"echo x >> runs; test $(wc -l < runs) -ge 3\"\n  sleeper:\n    command: \"echo y >> slow-runs; sleep 5\"\n    timeout: 200ms\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = events(&out.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runs")).unwrap().lines().count(),
        2,
        "two attempts in all"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("slow-runs")).unwrap().lines().count(),
        1,
        "timeouts are not in retry_on"
    );
    let policy = events.iter().find(|e| e["event"] == "step_retrying").unwrap();
    assert_eq!(policy["policy"], "default");
    assert_eq!(policy["class"], "nonzero_exit");
}

fn todo(n: usize) -> String {
    (1..=n).map(|i| format!("- [ ] T-{i}: task {i}\n")).collect()
}

#[test]
fn an_always_failing_agent_is_stopped_by_the_breaker_and_status_says_why_even_after_a_restart() {
    let dir = project(&[
        (
            "w.yaml",
            "circuit_breaker:\n  failure_threshold: 3\n  timeout: 1h\n  on_open: [notify_team]\nworkflow:\n  nodes:\n    - id: build\n      agent: broken\nagents:\n  broken:\n    command: \"echo x >> calls; echo 'error: linker exploded' >&2; exit 1\"\n",
        ),
        ("TODO.md", &todo(10)),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = events(&out.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(),
        3,
        "stopped at the threshold"
    );
    let end = events.last().unwrap();
    assert_eq!(end["status"], "stopped");
    assert!(
        end["reason"].as_str().unwrap().contains("the circuit breaker opened: 3 consecutive failures"),
        "{end}"
    );
    let status = ralph(["status"]).current_dir(dir.path()).expect(0);
    assert!(status.stdout.contains("circuit breaker: open — 3 consecutive failures without progress (last: exit status 1: error: linker exploded)"), "{}", status.stdout);
    // A restart does not forget: the breaker refuses the run before anything starts.
    let again = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(1);
    assert!(
        again.stderr.contains("the circuit breaker is open") && again.stderr.contains("probe through in"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(), 3);
    let notified = std::fs::read_dir(dir.path().join(".ralph/runs")).unwrap().any(|run| {
        std::fs::read_to_string(run.unwrap().path().join("notifications.log"))
            .is_ok_and(|l| l.contains("notify_team"))
    });
    assert!(notified, "on_open's notify_team is recorded");
}

#[test]
fn a_loop_over_budget_stops_before_the_invocation_and_a_restart_keeps_the_spend() {
    let dir = project(&[
        (
            "w.yaml",
            "budget:\n  max_cost_usd: 0.025\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n",
        ),
        ("TODO.md", &todo(5)),
        ("bin/claude", crate::support::CLAUDE_CENT),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    let path = crate::support::path_with(&dir.path().join("bin"));
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .expect(1);
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(), 2);
    let end = events(&out.stdout).last().unwrap().clone();
    let reason = end["reason"].as_str().unwrap();
    assert!(reason.contains("budget `max_cost_usd` ($0.025) would be exceeded: $0.0200 spent, the next invocation is estimated at $0.0100"), "{reason}");
    assert!(reason.contains("$0.0050 over"), "{reason}");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .expect(1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(),
        2,
        "the restart keeps the spend"
    );
    assert!(events(&out.stdout).last().unwrap()["reason"].as_str().unwrap().contains("max_cost_usd"));
    let status = ralph(["status", "--json"]).current_dir(dir.path()).expect(0);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["spend"]["ai_invocations"], 2);
    assert_eq!(status["spend"]["tokens"], 2200);
}

#[test]
fn a_failing_loop_whose_test_count_improves_keeps_its_breaker_closed_until_the_count_stalls() {
    // Each iteration the agent commits and the check's passing count rises by one until 4,
    // then stays: the breaker (threshold 2) stays closed while it rises, then opens.
    let dir = project(&[
        (
            "w.yaml",
            "circuit_breaker:\n  failure_threshold: 2\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"echo x >> progress && git add -A && git commit -qm step\"\n    check: \"n=$(wc -l < progress); [ $n -gt 4 ] && n=4; echo \\\"test result: FAILED. $n passed; 1 failed; 0 ignored\\\"; exit 1\"\n",
        ),
        ("TODO.md", &todo(12)),
    ]);
    crate::support::git_repo(dir.path());
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = events(&out.stdout);
    let runs = std::fs::read_to_string(dir.path().join("progress")).unwrap().lines().count();
    // Counts 1, 2, 3, 4 (each moved but the first), then 4, 4: the second stall opens it.
    assert_eq!(runs, 6, "closed while the count rose, open two failures after it stalled");
    let opened = events.iter().find(|e| e["event"] == "breaker").unwrap();
    assert_eq!(opened["state"], "open");
    assert!(opened["reason"].as_str().unwrap().contains("2 consecutive failures"), "{opened}");
}

/// A fake agent CLI: its first call prints the backend's usage-limit stream, later ones its
/// success stream.
const LIMITED_ONCE: &str = r#"#!/bin/sh
cat > /dev/null
n=$(cat calls 2>/dev/null | wc -l)
echo x >> calls
if [ "$n" -eq 0 ]; then cat "$LIMITED"; exit 1; fi
cat "$SUCCESS"
"#;

#[test]
fn a_usage_limit_in_each_backends_format_makes_the_loop_wait_not_fail() {
    let fixtures = crate::support::repo().join("engine/tests/fixtures");
    for (backend, limited) in [
        ("claude", "reconstructed/usage-limit.jsonl"),
        ("codex", "reconstructed/usage-limit.jsonl"),
        ("opencode", "reconstructed/quota-exceeded.jsonl"),
        ("gemini", "quota-exceeded.jsonl"),
    ] {
        let dir = project(&[
            (
                "w.yaml",
                &format!(
                    "budget:\n  usage_limit_wait: 1s\ncircuit_breaker:\n  failure_threshold: 1\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: {backend}\n    prompt: PROMPT-BUILDER.md\n"
                ),
            ),
            (&format!("bin/{backend}"), LIMITED_ONCE),
        ]);
        crate::support::executable(&dir.path().join("bin").join(backend));
        let path = crate::support::path_with(&dir.path().join("bin"));
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("LIMITED", fixtures.join(backend).join(limited))
            .env("SUCCESS", fixtures.join(backend).join("success.jsonl"))
            .output();
        let events = events(&out.stdout);
        let waiting = events.iter().find(|e| e["event"] == "waiting");
        assert!(waiting.is_some(), "{backend}: {}\n{}", out.stdout, out.stderr);
        assert!(events.iter().all(|e| e["event"] != "breaker"), "{backend}: a usage limit is not a failure");
        assert_eq!(events.last().unwrap()["status"], "succeeded", "{backend}: {}", out.stdout);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(),
            2,
            "{backend}"
        );
    }
}

#[test]
fn a_usage_limit_wait_and_an_opening_breaker_are_said_on_the_loops_own_stderr() {
    let fixtures = crate::support::repo().join("engine/tests/fixtures/claude");
    let dir = project(&[
        (
            "w.yaml",
            "budget:\n  usage_limit_wait: 1s\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n",
        ),
        ("bin/claude", LIMITED_ONCE),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .env("LIMITED", fixtures.join("reconstructed/usage-limit.jsonl"))
        .env("SUCCESS", fixtures.join("success.jsonl"))
        .expect(0);
    assert!(out.stderr.contains("build: waiting 1s before it starts ("), "{}", out.stderr);
    let dir = project(&[
        (
            "w.yaml",
            "circuit_breaker:\n  failure_threshold: 2\nworkflow:\n  nodes:\n    - id: build\n      agent: broken\nagents:\n  broken:\n    command: \"exit 1\"\n",
        ),
        ("TODO.md", &todo(3)),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(1);
    assert!(
        out.stderr.contains("the loop's circuit breaker opened (2 consecutive failures"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_agent_silent_past_its_heartbeat_timeout_is_hung_and_killed() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: quiet\n      agent: quiet\n    - id: chatty\n      agent: chatty\nagents:\n  quiet:\n    command: \"echo starting; sleep 30\"\n    heartbeat_timeout: 300ms\n  chatty:\n    command: \"for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done\"\n    heartbeat_timeout: 300ms\n",
    )]);
    let started = std::time::Instant::now();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let events = events(&out.stdout);
    let finished = |step: &str| {
        events.iter().find(|e| e["event"] == "step_finished" && e["step"] == step).unwrap()["outcome"].clone()
    };
    let quiet = finished("quiet");
    assert_eq!(quiet["class"], "timeout");
    assert!(quiet["error"].as_str().unwrap().starts_with("hung: no output for 300ms"), "{quiet}");
    assert_eq!(finished("chatty")["success"], true, "output keeps it alive past 300 ms in all");
}

#[test]
fn the_planner_gets_every_failure_and_the_seeds_retries_edge_reaches_human_review() {
    let dir = project(&[(
        "w.yaml",
        r#"workflow:
  states:
    - id: planning
      agent: planner
    - id: building
      agent: builder
    - id: human_review
      type: human
      timeout: 300ms
      on_timeout: [reject]
    - id: done
      type: terminal
  transitions:
    - from: planning
      to: building
    - from: building
      to: done
      condition: success
    - from: building
      to: human_review
      condition: failure and retries >= 3
    - from: building
      to: planning
      condition: failure
    - from: human_review
      to: done
      condition: approved
      else: stop
agents:
  planner:
    command: 'echo "plan $RALPH_STEP $(grep -c "\"error\"" "$RALPH_PACKET_FILE")" >> trace'
    on_failure: always
  builder:
    command: "echo build >> trace; exit 1"
"#,
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let trace = std::fs::read_to_string(dir.path().join("trace")).unwrap();
    let expected: String =
        (1..=4).map(|n| format!("plan planning {}\nbuild\nplan building.on_failure {n}\n", n - 1)).collect();
    assert_eq!(trace, expected, "the planner sees the growing failure history");
    let events = events(&out.stdout);
    let moves: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "transition")
        .map(|e| format!("{}>{}", e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(moves.iter().filter(|m| *m == "building>planning").count(), 3);
    assert_eq!(moves[moves.len() - 2..], ["building>human_review", "human_review>stop"]);
    assert_eq!(events.last().unwrap()["status"], "stopped");
}

#[test]
fn a_failed_saga_compensates_in_reverse_and_git_reset_restores_the_tree_keeping_the_work_in_a_ref() {
    let dir = project(&[(
        "w.yaml",
        r#"workflow:
  steps:
    - name: one
      action: write_one
      compensate: undo_one
    - name: two
      action: write_two
      compensate: undo_two
    - name: three
      action: explode
compensation:
  on_failure:
    - action: git_reset
      args: {hard: false}
    - action: notify
      args: {message: "saga failed"}
agents:
  write_one: {command: "echo 1 > one.txt && echo changed >> tracked.txt"}
  write_two: {command: "echo 2 > two.txt && git add two.txt && git commit -qm two"}
  explode: {command: "exit 3"}
  undo_one: {command: "echo undo_one >> undo.log"}
  undo_two: {command: "echo undo_two >> undo.log"}
"#,
    )]);
    let sh = |s: &str| crate::support::sh(dir.path(), s);
    sh(
        "git init -q . && git config user.email t@t && git config user.name t && printf '.ralph/\\nundo.log\\n' > .gitignore && echo base > tracked.txt && git add -A && git commit -qm base",
    );
    let base = sh("git rev-parse HEAD");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert_eq!(std::fs::read_to_string(dir.path().join("undo.log")).unwrap(), "undo_two\nundo_one\n");
    let end = events(&out.stdout).last().unwrap().clone();
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .contains("compensated: two.compensate, one.compensate, compensation.on_failure"),
        "{end}"
    );
    assert_eq!(sh("git rev-parse HEAD"), base, "back to the commit before the run");
    assert_eq!(std::fs::read_to_string(dir.path().join("tracked.txt")).unwrap(), "base\n");
    assert!(!dir.path().join("one.txt").exists() && !dir.path().join("two.txt").exists());
    // Nothing is stashed: the undone work (the step's commit among it) is kept in a ref.
    assert_eq!(sh("git stash list"), "");
    let run = events(&out.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let kept = format!("refs/ralph-loop/reset/{run}");
    assert_eq!(sh(&format!("git show {kept}:one.txt")), "1\n");
    assert_eq!(sh(&format!("git show {kept}:two.txt")), "2\n");
}

#[test]
fn a_compensation_that_fails_is_reported_and_the_run_says_so() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  steps:\n    - name: one\n      action: ok\n      compensate: broken_undo\n    - name: two\n      action: explode\nagents:\n  ok: {command: \"true\"}\n  broken_undo: {command: \"echo cannot undo >&2; exit 4\"}\n  explode: {command: \"exit 3\"}\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = events(&out.stdout);
    let end = events.last().unwrap();
    assert!(end["reason"].as_str().unwrap().contains("compensation FAILED: one.compensate"), "{end}");
    let undo =
        events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "one.compensate").unwrap();
    assert_eq!(undo["outcome"]["error"], "exit status 4: cannot undo");
}

#[test]
fn after_its_timeout_the_breaker_lets_a_probe_through_and_a_probe_that_times_out_opens_it_again() {
    // The first call fails at once, later ones hang until `fixed` exists. The breaker's timeout (3 s)
    // leaves a loaded machine ample time between the first run and the refused second one; the agent's
    // own timeout (20 s) is far above the probe's (300 ms), so the probe's limit is the one seen.
    let dir = project(&[(
        "w.yaml",
        "circuit_breaker:\n  failure_threshold: 1\n  timeout: 3s\n  half_open_timeout: 300ms\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"echo x >> calls; test -f fixed && exit 0; test $(wc -l < calls) -gt 1 && sleep 30; exit 1\"\n    timeout: 20s\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert!(out.stdout.contains("\"state\":\"open\""), "{}", out.stdout);
    let refused = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(1);
    assert!(refused.stderr.contains("circuit breaker is open"), "{}", refused.stderr);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    // Half-open: one probe, held to 300 ms; it times out and the breaker opens again.
    let started = std::time::Instant::now();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "the probe's own limit applies");
    let probe = events(&out.stdout)
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "build")
        .expect("the probe ran");
    assert!(probe["outcome"]["error"].as_str().unwrap().contains("timed out after 300ms"), "{probe}");
    let states: Vec<String> = events(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "breaker" && !e["reason"].as_str().unwrap_or("").starts_with("agent `"))
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["half_open", "open"], "the loop's breaker");
    let status = ralph(["status"]).current_dir(dir.path()).expect(0);
    assert!(
        status.stdout.contains("circuit breaker: open — the probe failed: timed out"),
        "{}",
        status.stdout
    );
    // A probe that succeeds closes it.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("\"state\":\"closed\""), "{}", out.stdout);
    assert!(ralph(["status"]).current_dir(dir.path()).expect(0).stdout.contains("circuit breaker: closed"));
}

#[test]
fn max_runtime_stops_the_loop_between_steps() {
    let dir = project(&[
        (
            "w.yaml",
            "loop:\n  max_runtime: 1s\nworkflow:\n  nodes:\n    - id: work\n      agent: worker\nagents:\n  worker:\n    command: \"echo x >> calls; sleep 0.6\"\n",
        ),
        ("TODO.md", &todo(5)),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(), 2);
    let end = events(&out.stdout).last().unwrap().clone();
    assert_eq!(end["status"], "stopped");
    assert!(end["reason"].as_str().unwrap().contains("max_runtime (1s) reached"), "{end}");
}

#[test]
fn a_saga_stopped_by_max_runtime_is_not_compensated_but_a_failed_one_is() {
    for (second, status) in [("sleep 0", "stopped"), ("exit 1", "failed")] {
        let dir = project(&[(
            "w.yaml",
            &format!(
                "loop:\n  max_runtime: 500ms\nworkflow:\n  steps:\n    - name: first\n      action: slow\n      compensate: undo\n    - name: second\n      action: other\nagents:\n  slow:\n    command: \"sleep 0.7\"\n  other:\n    command: \"{second}\"\n  undo:\n    command: \"touch undone\"\n"
            ),
        )]);
        // The failing variant has no time limit: its second step runs and fails.
        if status == "failed" {
            let w = dir.path().join("w.yaml");
            let text = std::fs::read_to_string(&w).unwrap().replace("max_runtime: 500ms", "max_runtime: 1h");
            std::fs::write(&w, text).unwrap();
        }
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
        let end = events(&out.stdout).last().unwrap().clone();
        assert_eq!(end["status"], status, "{end}");
        assert_eq!(dir.path().join("undone").exists(), status == "failed", "{end}");
    }
}

#[test]
fn an_agents_own_breaker_opens_and_the_workflow_goes_around_it_while_the_loop_goes_on() {
    let dir = project(&[
        (
            "w.yaml",
            "circuit_breaker:\n  failure_threshold: 2\n  timeout: 1h\nworkflow:\n  states:\n    - id: primary\n      agent: flaky\n    - id: fallback\n      agent: steady\n    - id: done\n      type: terminal\n  transitions:\n    - from: primary\n      to: done\n      else: fallback\n    - from: fallback\n      to: done\nagents:\n  flaky:\n    command: \"echo x >> flaky-calls; exit 1\"\n  steady:\n    command: \"echo y >> steady-calls\"\n",
        ),
        ("TODO.md", &todo(5)),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let calls = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap().lines().count();
    assert_eq!(calls("flaky-calls"), 2, "the flaky agent is not called once its breaker opened");
    assert_eq!(calls("steady-calls"), 5, "every task still got done");
    let events = events(&out.stdout);
    let skipped = events.iter().filter(|e| e["event"] == "step_skipped" && e["step"] == "primary").count();
    assert_eq!(skipped, 3);
    let status = ralph(["status"]).current_dir(dir.path()).expect(0);
    assert!(status.stdout.contains("circuit breaker: closed"), "{}", status.stdout);
    assert!(
        status.stdout.contains("agent `flaky`'s breaker: open — 2 consecutive failures"),
        "{}",
        status.stdout
    );
}

/// A fake Claude Code for the breaker's escalation: records its command line, fixes the
/// build (unless told not to), and reports success.
const CLAUDE_SENIOR: &str = r#"#!/bin/sh
cat > packet-seen
echo "$@" >> senior-args
[ -n "$SENIOR_FAILS" ] && exit 1
touch fixed
echo '{"type":"result","subtype":"success","is_error":false,"result":"fixed the build","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":10}}'
"#;

#[test]
fn an_open_breaker_escalates_to_a_named_agent_on_another_model_and_the_probe_closes_it() {
    for senior_fails in [false, true] {
        let dir = project(&[
            (
                "w.yaml",
                "circuit_breaker:\n  failure_threshold: 2\n  timeout: 1h\n  on_open:\n    - notify_team\n    - action: escalate\n      args: {agent: senior, model: big-model}\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"echo x >> calls; test -e fixed\"\n  senior:\n    backend: claude\n    prompt: PROMPT-SENIOR.md\n",
            ),
            ("PROMPT-SENIOR.md", "Unstick the build.\n"),
            ("TODO.md", &todo(4)),
            ("bin/claude", CLAUDE_SENIOR),
        ]);
        crate::support::executable(&dir.path().join("bin/claude"));
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
            .current_dir(dir.path())
            .env("PATH", crate::support::path_with(&dir.path().join("bin")))
            .env("SENIOR_FAILS", if senior_fails { "1" } else { "" })
            .expect(1);
        let events = events(&out.stdout);
        // The loop's breaker (the agent's own opens and closes alongside).
        let breaker: Vec<&str> = events
            .iter()
            .filter(|e| {
                e["event"] == "breaker" && !e["reason"].as_str().is_some_and(|r| r.starts_with("agent "))
            })
            .map(|e| e["state"].as_str().unwrap())
            .collect();
        let args = std::fs::read_to_string(dir.path().join("senior-args")).unwrap();
        assert!(args.contains("--model big-model"), "the escalation runs on the named model: {args}");
        let packet = std::fs::read_to_string(dir.path().join("packet-seen")).unwrap();
        assert!(packet.contains("Unstick the build") && packet.contains("circuit breaker"), "{packet}");
        let escalated =
            events.iter().find(|e| e["event"] == "action_finished" && e["hook"] == "on_open").unwrap();
        assert_eq!(escalated["action"], "senior");
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count();
        if senior_fails {
            assert_eq!(breaker, ["open"], "a failed escalation leaves it open");
            assert_eq!(calls, 2);
            let end = events.last().unwrap();
            assert!(end["reason"].as_str().unwrap().contains("the circuit breaker opened"), "{end}");
        } else {
            assert_eq!(breaker, ["open", "half_open", "closed"], "the probe after the escalation closes it");
            assert_eq!(calls, 4, "every task was tried");
            let todo = std::fs::read_to_string(dir.path().join("TODO.md")).unwrap();
            assert!(todo.contains("- [x] T-3") && todo.contains("- [x] T-4"), "{todo}");
            let status = ralph(["status", "--json"]).current_dir(dir.path()).expect(0);
            let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
            assert_eq!(status["spend"]["ai_invocations"], 1, "the escalation's spend counts");
        }
    }
}

/// A fake Claude Code whose answers shrink to almost nothing on its fifth call.
const CLAUDE_SHRINKING: &str = r#"#!/bin/sh
cat > /dev/null
n=$(cat calls 2>/dev/null | wc -l)
echo x >> calls
out=800; [ "$n" -ge 4 ] && out=5
echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\",\"total_cost_usd\":0.001,\"usage\":{\"input_tokens\":100,\"output_tokens\":$out}}"
"#;

#[test]
fn output_shrinking_sharply_opens_the_breaker_with_a_reason() {
    let dir = project(&[
        (
            "w.yaml",
            "circuit_breaker:\n  output_shrink: 0.1\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n",
        ),
        ("TODO.md", &todo(8)),
        ("bin/claude", CLAUDE_SHRINKING),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .expect(1);
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(), 5);
    let events = events(&out.stdout);
    let opened = events.iter().find(|e| e["event"] == "breaker" && e["state"] == "open").unwrap();
    assert!(
        opened["reason"].as_str().unwrap().contains("output shrank to 5 tokens from an average of 800"),
        "{opened}"
    );
    assert_eq!(events.last().unwrap()["status"], "stopped");
}
