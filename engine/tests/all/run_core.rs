//! The run core, seen from outside: what a resumed run goes on with (its hints, its completed
//! tasks), `retry --from` a revisited state, agents a dead loop left running, a ledger that
//! cannot be written, an agent that cannot work here, signals between iterations, and
//! warnings that reach scripts as JSON. Each test stands for a finding of issue 13.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{events, git_repo, project, ralph, sh};

/// Waits (bounded) until `fact` holds: the tests wait on files and processes, never on time.
fn wait_for(what: &str, mut fact: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fact() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The journal of the latest run, as `logs --json` shows it.
fn journal(dir: &Path) -> Vec<serde_json::Value> {
    events(&ralph(["logs", "--json"]).current_dir(dir).expect(0).stdout)
}

/// Kills the loop the way a crash does: SIGKILL to its process alone (its agents run on).
fn crash(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Whether process `pid` is alive (and not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

// See: issue 13, finding 4 — a resumed run cleared the signals the next reading agent was to
// get as soon as any step started, and listed completed tasks twice.
#[test]
fn a_resumed_loop_hands_the_hint_sent_before_a_command_step_to_the_next_reading_agent_and_lists_each_done_task_once()
 {
    let workflow = "workflow:\n  states:\n    - id: first\n      agent: gate1\n    - id: second\n      agent: gate2\n    - id: reader\n      agent: reader\n    - id: done\n      type: terminal\nagents:\n  gate1:\n    command: \"touch at1-$RALPH_TASK_ID; while [ ! -f go1-$RALPH_TASK_ID ]; do sleep 0.02; done\"\n  gate2:\n    command: \"touch at2-$RALPH_TASK_ID; while [ ! -f go2-$RALPH_TASK_ID ]; do sleep 0.02; done\"\n  reader:\n    command: \"cp $RALPH_PACKET_FILE packet-$RALPH_TASK_ID.json\"\n";
    let dir = project(&[
        ("w.yaml", workflow),
        ("TODO.md", "- [x] T-0: done before\n- [ ] T-1: one\n- [ ] T-2: two\n"),
        ("go1-T-1", ""),
        ("go2-T-1", ""),
    ]);
    let d = dir.path();
    // T-1 runs to its end; T-2 is killed while `second` runs, after a hint that came while
    // `first` ran (so before `second`, a command that reads no packet, started).
    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(d).spawn();
    wait_for("T-2's first state", || d.join("at1-T-2").exists());
    ralph(["hint", "mind the cache"]).current_dir(d).expect(0);
    std::fs::write(d.join("go1-T-2"), "").unwrap();
    wait_for("T-2's second state", || d.join("at2-T-2").exists());
    crash(child);
    std::fs::write(d.join("go2-T-2"), "").unwrap();
    ralph(["resume"]).current_dir(d).expect(0);
    let packet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("packet-T-2.json")).unwrap()).unwrap();
    let hints: Vec<&str> =
        packet["control"]["hints"].as_array().unwrap().iter().map(|h| h["text"].as_str().unwrap()).collect();
    assert_eq!(hints, ["mind the cache"], "{packet:#}");
    let signals = packet["control"]["signals"].as_array().unwrap();
    assert!(
        signals.iter().any(|s| s["name"] == "hint"),
        "the hint's signal record reaches the reader: {packet:#}"
    );
    assert_eq!(packet["context"]["completed_tasks"], serde_json::json!(["T-0", "T-1"]), "{packet:#}");
}

// See: issue 13, finding 5 — `retry --from` a state that ran twice went past it.
#[test]
fn retry_from_a_state_that_ran_twice_runs_it_again() {
    let workflow = "workflow:\n  states:\n    - id: a\n      agent: t\n    - id: b\n      agent: t\n    - id: c\n      agent: check\n    - id: done\n      type: terminal\n  transitions:\n    - from: a\n      to: b\n    - from: b\n      to: c\n    - from: c\n      to: done\n      condition: success\n      else: b\nagents:\n  t:\n    command: \"echo $RALPH_STEP >> ran\"\n  check:\n    command: \"echo c >> ran; test $(grep -c c ran) -ge 2\"\n";
    let dir = project(&[("w.yaml", workflow)]);
    let d = dir.path();
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(d).expect(0);
    assert_eq!(std::fs::read_to_string(d.join("ran")).unwrap(), "a\nb\nc\nb\nc\n");
    let runs: serde_json::Value =
        serde_json::from_str(&ralph(["runs", "--json"]).current_dir(d).expect(0).stdout).unwrap();
    let run = runs["runs"][0]["run_id"].as_str().unwrap().to_owned();
    ralph(["retry", &run, "--from", "b"]).current_dir(d).expect(0);
    // The retry takes up b's last visit (after c sent the run back to it): b runs, then c.
    assert_eq!(
        std::fs::read_to_string(d.join("ran")).unwrap(),
        "a\nb\nc\nb\nc\nb\nc\n",
        "b runs again, then c"
    );
}

// See: issue 13, finding 14 — a loop killed with SIGKILL left its agent running, and `resume`
// started a second copy of the step beside it.
#[test]
fn resume_ends_the_agent_a_killed_loop_left_running_before_the_step_runs_again() {
    let workflow = "workflow:\n  nodes:\n    - id: work\n      agent: worker\nagents:\n  worker:\n    command: \"if [ -f first.pid ]; then s=$(cut -d' ' -f3 /proc/$(cat first.pid)/stat 2>/dev/null); [ -n \\\"$s\\\" ] && [ \\\"$s\\\" != Z ] && echo both > overlap; echo second > done; exit 0; fi; echo $$ > first.pid.tmp && mv first.pid.tmp first.pid; exec sleep 60\"\n";
    let dir = project(&[("w.yaml", workflow)]);
    let d = dir.path();
    let child = ralph(["loop", "--workflow", "w.yaml"]).current_dir(d).spawn();
    wait_for("the agent", || d.join("first.pid").exists());
    let pid: i32 = std::fs::read_to_string(d.join("first.pid")).unwrap().trim().parse().unwrap();
    wait_for("its process group in the journal", || journal(d).iter().any(|e| e["event"] == "agent_started"));
    crash(child);
    assert!(alive(pid), "the agent outlives the killed loop");
    let out = ralph(["resume"]).current_dir(d).expect(0);
    assert!(!alive(pid), "resume ended the agent the dead loop left");
    assert!(!d.join("overlap").exists(), "two copies of the step never ran side by side");
    assert_eq!(std::fs::read_to_string(d.join("done")).unwrap(), "second\n");
    assert!(out.stderr.contains("that the dead loop of run"), "it says what it ended: {}", out.stderr);
}

/// A fake Claude Code at the process boundary that replays the real program's captured
/// "not logged in" session.
fn not_logged_in_claude(dir: &Path) {
    let fixtures = crate::support::repo().join("engine/tests/fixtures/claude");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("not-logged-in.meta.json")).unwrap())
            .unwrap();
    let script = format!(
        "#!/bin/sh\ncat > /dev/null\necho x >> calls\ncat '{}'\nexit {}\n",
        fixtures.join("not-logged-in.jsonl").display(),
        meta["exit_status"].as_i64().or_else(|| meta["status"].as_i64()).unwrap_or(1)
    );
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/claude"), script).unwrap();
    crate::support::executable(&dir.join("bin/claude"));
}

// See: issue 13, finding 7 — an agent CLI that is not logged in failed each task as if the
// task were at fault.
#[test]
fn an_agent_that_is_not_logged_in_stops_the_loop_at_once_and_leaves_the_task_as_it_was() {
    let workflow = "retry:\n  default:\n    strategy: fixed\n    max_attempts: 3\n    delay: 10ms\nworkflow:\n  states:\n    - id: build\n      agent: builder\n    - id: done\n      type: terminal\nagents:\n  builder:\n    backend: claude\n";
    let todo = "- [ ] T-1: one\n- [ ] T-2: two\n";
    let dir = project(&[("w.yaml", workflow), ("TODO.md", todo)]);
    let d = dir.path();
    not_logged_in_claude(d);
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(d)
        .env("PATH", crate::support::path_with(&d.join("bin")))
        .expect(4);
    assert!(out.stderr.contains("not logged in") && out.stderr.contains("/login"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(d.join("calls")).unwrap(), "x\n", "called once: nothing is retried");
    assert_eq!(std::fs::read_to_string(d.join("TODO.md")).unwrap(), todo, "the tasks are as they were");
}

// See: issue 13, finding 16 — a full disk while a step's log is written marked the task failed.
#[test]
fn a_full_disk_under_a_step_s_log_stops_the_loop_without_blaming_the_task() {
    let workflow = "workflow:\n  states:\n    - id: build\n      agent: builder\n    - id: done\n      type: terminal\nagents:\n  builder:\n    command: \"ln -sf /dev/full \\\"${RALPH_RESULT_FILE%.result.json}.log\\\" && echo output\"\n";
    let todo = "- [ ] T-1: one\n";
    let dir = project(&[("w.yaml", workflow), ("TODO.md", todo)]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(4);
    assert!(out.stderr.contains("the disk is full"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(),
        todo,
        "no task is marked failed"
    );
}

// See: issue 13, finding 15 — SIGINT between iterations (here: while a task is committed) was
// dropped and the loop ran on to its end.
#[test]
fn sigint_while_a_task_is_committed_stops_the_loop_before_the_next_task() {
    let workflow = "workflow:\n  states:\n    - id: build\n      agent: builder\n    - id: done\n      type: terminal\nagents:\n  builder:\n    command: \"echo $RALPH_TASK_ID > $RALPH_TASK_ID.txt\"\n";
    let dir = project(&[("w.yaml", workflow), ("TODO.md", "- [ ] T-1: one\n- [ ] T-2: two\n")]);
    let d = dir.path();
    git_repo(d);
    // The commit's hook waits until the test has sent SIGINT.
    sh(
        d,
        "printf '#!/bin/sh\\ntouch hook-ran\\nwhile [ ! -f go ]; do sleep 0.02; done\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit",
    );
    let child = ralph(["loop", "--workflow", "w.yaml", "--commit"]).current_dir(d).spawn();
    wait_for("the commit's hook", || d.join("hook-ran").exists());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    std::fs::write(d.join("go"), "").unwrap();
    let status = wait_child(child);
    assert_eq!(status.code(), Some(1), "stopped, not succeeded");
    assert!(!d.join("T-2.txt").exists(), "T-2 never started");
    let log = sh(d, "git log --format=%s");
    assert_eq!(log.lines().next(), Some("T-1: one"), "T-1's commit was made before the loop stopped: {log}");
}

fn wait_child(mut child: std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the loop did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// See: issue 13, finding 11 — the library printed warnings to stderr, past `--json`.
#[test]
fn warnings_reach_scripts_as_json_lines_and_nothing_is_printed_past_them() {
    let workflow = "workflow:\n  states:\n    - id: build\n      agent: builder\n    - id: done\n      type: terminal\nagents:\n  builder:\n    command: \"echo $RALPH_TASK_ID > $RALPH_TASK_ID.txt\"\n";
    let dir = project(&[("w.yaml", workflow), ("TODO.md", "- [ ] T-1: one\n")]);
    git_repo(dir.path());
    std::fs::write(dir.path().join("notes.local"), "mine").unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--commit", "--json"]).current_dir(dir.path()).expect(0);
    let warnings: Vec<serde_json::Value> =
        events(&out.stdout).into_iter().filter(|e| e["type"] == "warning").collect();
    assert!(
        warnings.iter().any(|w| w["message"].as_str().is_some_and(|m| m.contains("notes.local"))),
        "the dirty tree is named in a `warning` line: {}",
        out.stdout
    );
    assert!(!out.stderr.contains("warning"), "nothing past --json on stderr: {}", out.stderr);
}
