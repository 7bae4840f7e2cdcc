//! `ralph-loop loop`: DAG workflows of command agents, run for real.

use std::time::{Duration, Instant};

use crate::support::{copy_tree, events, project, ralph};

/// The one file of `dir` named `<NNNN>-<step><suffix>` (a step's files are numbered by visit).
fn step_file(dir: &std::path::Path, step: &str, suffix: &str) -> std::path::PathBuf {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.split_once('-').is_some_and(|(n, rest)| {
                n.chars().all(|c| c.is_ascii_digit()) && rest == format!("{step}{suffix}")
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "one `{step}{suffix}` in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

fn finished<'a>(events: &'a [serde_json::Value], step: &str) -> Option<&'a serde_json::Value> {
    events.iter().find(|e| e["event"] == "step_finished" && e["step"] == step)
}

#[test]
fn independent_dag_nodes_run_in_parallel() {
    // A barrier, not a stopwatch: each node marks itself started and then waits (up to 10 s) until all
    // three have started, which only happens when they run at the same time.
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: a\n      agent: meet\n    - id: b\n      agent: meet\n    - id: c\n      agent: meet\nagents:\n  meet:\n    command: \"touch started.$$; for i in $(seq 100); do [ $(ls started.* | wc -l) -ge 3 ] && exit 0; sleep 0.1; done; exit 1\"\n",
        ),
        (
            "one.yaml",
            "workflow:\n  nodes:\n    - id: a\n      agent: nap\n    - id: b\n      agent: nap\n    - id: c\n      agent: nap\nagents:\n  nap:\n    command: sleep 1\n",
        ),
    ]);
    ralph(["loop", "--workflow", "w.yaml", "--jobs", "3"]).current_dir(dir.path()).expect(0);
    let started = Instant::now();
    ralph(["loop", "--workflow", "one.yaml", "--jobs", "1"]).current_dir(dir.path()).expect(0);
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
    let packet = step_file(&run.join("packets"), "verify", ".json");
    let completed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(packet.with_extension("completed.json")).unwrap())
            .unwrap();
    assert_eq!(completed["workflow"]["state"], "completed");
    let streamed: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "packet").collect();
    assert_eq!(streamed.len(), 2, "a built and a completed packet on stdout");
    let logs = ralph(["logs", "--json", "--run", run_id]).current_dir(dir.path()).expect(0);
    let journaled = logs.stdout.lines().count();
    assert_eq!(journaled, events.len() - streamed.len(), "every event but the packets is journaled");
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
            "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: openai\n    prompt: PROMPT-BUILDER.md\n",
        ),
        (
            "claude.yaml",
            "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n",
        ),
        ("undefined.yaml", "workflow:\n  nodes:\n    - id: lint\n      agent: linter\n"),
    ]);
    // An incomplete agent is the configuration's fault (3); a missing program the machine's (4).
    let out = ralph(["loop", "--workflow", "ai.yaml"]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("the `openai` backend needs `model:`"), "{}", out.stderr);
    let out = ralph(["loop", "--workflow", "claude.yaml"])
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .expect(4);
    assert!(out.stderr.contains("`claude` is not on PATH"), "{}", out.stderr);
    assert!(!dir.path().join(".ralph").exists(), "nothing may be recorded for a run that never started");
    let out = ralph(["loop", "--workflow", "undefined.yaml"]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("error[undefined-agent]"), "{}", out.stderr);
}

/// A fake agent at the real process boundary: it checks its packet, appends its step to a trace,
/// and reports the outcome listed for its agent name in `outcomes/<agent>` (line N for its N-th
/// run; `fail` exits 1; an empty line reports nothing).
const FAKE_AGENT: &str = r#"#!/bin/sh
set -e
name="$1"
test -f "$2"
echo "$RALPH_STEP" >> trace.txt
mkdir -p visits
echo x >> "visits/$name"
visits=$(wc -l < "visits/$name")
if [ -f "outcomes/$name" ]; then
  outcome=$(sed -n "${visits}p" "outcomes/$name")
  case "$outcome" in
    fail) exit 1 ;;
    "") ;;
    *) printf '{"outcome": "%s"}' "$outcome" > "$RALPH_RESULT_FILE" ;;
  esac
fi
"#;

fn trace(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("trace.txt")).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn fake_project(workflow: &str, outcomes: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> =
        vec![("agent.sh".into(), FAKE_AGENT.into()), ("w.yaml".into(), workflow.into())];
    for (step, lines) in outcomes {
        files.push((format!("outcomes/{step}"), format!("{lines}\n")));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let dir = project(&refs);
    crate::support::executable(&dir.path().join("agent.sh"));
    dir
}

const AGENTS: &str = "agents:\n  planner:\n    command: ./agent.sh planner $RALPH_PACKET_FILE\n  builder:\n    command: ./agent.sh builder $RALPH_PACKET_FILE\n  verifier:\n    command: ./agent.sh verifier $RALPH_PACKET_FILE\n  linter:\n    command: ./agent.sh linter $RALPH_PACKET_FILE\n";

#[test]
fn a_state_machine_follows_outcomes_else_edges_and_counts_retries() {
    let workflow = format!(
        "workflow:\n  states: [planning, building, verifying, complete]\n  transitions:\n    - from: planning\n      to: building\n      condition: plan_complete\n    - from: building\n      to: verifying\n      condition: build_success\n    - from: building\n      to: stop\n      condition: \"failure and retries >= 1\"\n    - from: building\n      to: planning\n      else: planning\n      condition: never_reported\n    - from: verifying\n      to: complete\n      condition: verified\n      else: building\n{AGENTS}"
    );
    // building: needs_fixes (→ else planning), then success; verifying: needs_fixes (→ building), then verified.
    let dir = fake_project(
        &workflow,
        &[("builder", "needs_planning\nbuild_success\n"), ("verifier", "needs_fixes\nverified")],
    );
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    assert_eq!(
        trace(dir.path()),
        ["planning", "building", "planning", "building", "verifying", "building", "verifying"],
        "{}",
        out.stderr
    );
    let events = events(&out.stdout);
    let transitions: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "transition")
        .map(|e| {
            format!(
                "{}>{}:{}",
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(transitions[1], "building>planning:else");
    assert_eq!(events.last().unwrap()["status"], "succeeded");
}

#[test]
fn a_failing_state_can_leave_through_stop() {
    let workflow = format!(
        "workflow:\n  states: [building, complete]\n  transitions:\n    - from: building\n      to: complete\n      condition: build_success\n      else: stop\n{AGENTS}"
    );
    let dir = fake_project(&workflow, &[("builder", "fail")]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let last = events(&out.stdout).pop().unwrap();
    assert_eq!((last["status"].as_str(), last["reason"].as_str()), (Some("stopped"), Some("reached `stop`")));
}

#[test]
fn a_parallel_state_with_require_all_needs_every_agent() {
    let workflow = format!(
        "workflow:\n  states:\n    - id: verifying\n      agents: [verifier, linter]\n      parallel: true\n      require_all: true\n    - complete\n  transitions:\n    - from: verifying\n      to: complete\n      else: stop\n{AGENTS}"
    );
    let dir = fake_project(&workflow, &[("linter", "\nfail")]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert_eq!(trace(dir.path()).len(), 2, "both agents ran");
    // The linter fails on its second run: require_all fails the state, and `else: stop` ends it.
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let verifying = finished(&events(&out.stdout), "verifying").unwrap().clone();
    assert_eq!(verifying["outcome"]["success"], false);
}

#[test]
fn a_saga_whose_third_step_fails_compensates_the_first_two_in_reverse_order() {
    let workflow = "workflow:\n  steps:\n    - name: one\n      action: do1\n      compensate: undo1\n    - name: two\n      action: do2\n      compensate: undo2\n    - name: three\n      action: do3\n      compensate: undo3\nagents:\n  do1: {command: echo do1 >> trace.txt}\n  do2: {command: echo do2 >> trace.txt}\n  do3: {command: echo do3 >> trace.txt; exit 1}\n  undo1: {command: echo undo1 >> trace.txt}\n  undo2: {command: echo undo2 >> trace.txt}\n  undo3: {command: echo undo3 >> trace.txt}\n";
    let dir = project(&[("w.yaml", workflow)]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert_eq!(trace(dir.path()), ["do1", "do2", "do3", "undo2", "undo1"]);
    let last = events(&out.stdout).pop().unwrap();
    assert_eq!(last["reason"], "step `three` failed; compensated: two.compensate, one.compensate");
}

#[test]
fn dry_run_shows_each_steps_packet_and_prompt_without_invoking_any_agent() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states: [building, complete]\n  transitions:\n    - from: building\n      to: complete\n      condition: build_success\nagents:\n  builder:\n    backend: claude\n    system_prompt: You are the builder of this project.\n  linter:\n    command: touch invoked.txt\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--dry-run"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("## Step `building`"), "{}", out.stdout);
    assert!(out.stdout.contains("\"build_success\""), "the packet lists the outcomes the step may report");
    assert!(out.stdout.contains("You are the builder of this project."));
    assert!(out.stdout.contains("AGENTS.md"), "the bundled AGENTS.md is stacked");
    assert!(!dir.path().join(".ralph").exists() && !dir.path().join("invoked.txt").exists());
}

/// A fake Claude Code at the process boundary: it checks its flags and that the stacked prompt
/// arrived on stdin, then replays a session in the CLI's stream-json format and writes a result
/// file.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
case "$*" in *"-p --output-format stream-json --verbose"*) ;; *) echo "unexpected flags: $*" >&2; exit 64 ;; esac
prompt=$(cat)
case "$prompt" in *"Perform the \`build\` step"*) ;; *) echo "no steering context in the prompt" >&2; exit 65 ;; esac
case "$prompt" in *"AGENTS.md"*) ;; *) echo "AGENTS.md was not stacked" >&2; exit 66 ;; esac
cat "$FIXTURE"
if [ -n "$OUTCOME" ]; then printf '{"outcome": "%s"}' "$OUTCOME" > "$RALPH_RESULT_FILE"; fi
"#;

fn claude_project(fixture: &str) -> tempfile::TempDir {
    let session =
        std::fs::read_to_string(crate::support::repo().join("engine/tests/fixtures/claude").join(fixture))
            .unwrap();
    let dir = project(&[
        ("bin/claude", FAKE_CLAUDE),
        ("session.jsonl", &session),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    model: sonnet\n",
        ),
    ]);
    crate::support::executable(&dir.path().join("bin/claude"));
    dir
}

fn with_fake_claude(dir: &tempfile::TempDir) -> crate::support::Run {
    let path = crate::support::path_with(&dir.path().join("bin"));
    ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("FIXTURE", dir.path().join("session.jsonl"))
}

#[test]
fn the_claude_backend_stacks_the_prompt_and_reads_the_stream() {
    let dir = claude_project("success.jsonl");
    let out = with_fake_claude(&dir).env("OUTCOME", "build_success").expect(0);
    let events = events(&out.stdout);
    let build = finished(&events, "build").unwrap();
    assert_eq!(build["outcome"]["result"], "build_success");
    assert_eq!(build["outcome"]["evidence"]["metrics"]["cost_usd"], 0.0156);
    assert_eq!(build["outcome"]["evidence"]["metrics"]["output_tokens"], 48);
    let run = dir.path().join(".ralph/runs").join(events[0]["run_id"].as_str().unwrap());
    let prompt = std::fs::read_to_string(step_file(&run.join("steps"), "build", ".prompt.md")).unwrap();
    assert!(prompt.contains("Perform the `build` step"), "the rendered prompt is kept under the run");
}

#[test]
fn claude_success_with_denied_tools_fails_the_step() {
    let dir = claude_project("permission-denied.jsonl");
    let out = with_fake_claude(&dir).expect(1);
    let build = finished(&events(&out.stdout), "build").unwrap().clone();
    assert!(build["outcome"]["error"].as_str().unwrap().contains("denied"), "{build}");
}

#[test]
fn the_example_project_runs_the_bundled_dag_to_completion() {
    // The README's main job: workflows/dag.yaml over examples/wordcount, every node a command
    // agent doing real work (format check, tests, secret scan, build, check of the built program).
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&crate::support::repo().join("examples/wordcount"), dir.path());
    let workflow = crate::support::repo().join("workflows/dag.yaml");
    let out = ralph(["loop", "--json", "--workflow"]).arg(&workflow).current_dir(dir.path()).expect(0);
    let first = events(&out.stdout);
    for step in ["lint", "test", "security", "build", "verify"] {
        assert_eq!(finished(&first, step).unwrap()["outcome"]["success"], true, "{step}: {}", out.stdout);
    }
    assert!(dir.path().join("dist/wordcount.pyz").is_file());
    // A planted credential is caught by the security node, and what depends on it does not run.
    std::fs::write(dir.path().join("wordcount/config.py"), "AWS_KEY = 'AKIAABCDEFGHIJKLMNOP'\n").unwrap();
    let out = ralph(["loop", "--json", "--workflow"]).arg(&workflow).current_dir(dir.path()).expect(1);
    let second = events(&out.stdout);
    assert_eq!(finished(&second, "security").unwrap()["outcome"]["success"], false);
    assert!(second.iter().any(|e| e["event"] == "step_skipped" && e["step"] == "build"));
}

/// A fake Codex CLI: it checks its flags and the prompt on stdin, then replays a session.
const FAKE_CODEX: &str = r#"#!/bin/sh
case "$*" in *"exec --json"*" -") ;; *) echo "unexpected flags: $*" >&2; exit 64 ;; esac
prompt=$(cat)
case "$prompt" in *"Perform the \`build\` step"*) ;; *) echo "no steering context in the prompt" >&2; exit 65 ;; esac
cat "$FIXTURE"
"#;

#[test]
fn the_codex_backend_reads_turn_completed_and_turn_failed() {
    // (A usage limit makes the loop wait instead: see resilience.rs.)
    for (fixture, code, success) in [("success.jsonl", 0, true), ("server-error.jsonl", 1, false)] {
        let session =
            std::fs::read_to_string(crate::support::repo().join("engine/tests/fixtures/codex").join(fixture))
                .unwrap();
        let dir = project(&[
            ("bin/codex", FAKE_CODEX),
            ("session.jsonl", &session),
            (
                "w.yaml",
                "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: codex\n",
            ),
        ]);
        crate::support::executable(&dir.path().join("bin/codex"));
        let path = crate::support::path_with(&dir.path().join("bin"));
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
            .current_dir(dir.path())
            .env("PATH", path)
            .env("FIXTURE", dir.path().join("session.jsonl"))
            .expect(code);
        let build = finished(&events(&out.stdout), "build").unwrap().clone();
        assert_eq!(build["outcome"]["success"], success, "{fixture}: {build}");
        if !success {
            assert_eq!(build["outcome"]["class"], "agent_error");
        }
    }
}

#[test]
fn an_agent_printing_a_gigabyte_leaves_the_engine_under_100_mib_and_a_log_capped_with_its_tail() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: flood\n      agent: flood\nagents:\n  flood:\n    command: head -c 1073741824 /dev/zero; echo the end\n",
    )]);
    // Watch the engine's own high-water mark (VmHWM) while it streams the gigabyte.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ralph-loop"))
        .args(["--color", "never", "loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kib = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(peak_kib);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(finished(&events(&stdout), "flood").unwrap()["outcome"]["success"], true);
    let run = events(&stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let steps = dir.path().join(".ralph/runs").join(run).join("steps");
    let log = step_file(&steps, "flood", ".log");
    let rotated = step_file(&steps, "flood", ".log.1");
    // Rotated at the default 50 MiB, one older part kept: the end of the output is on disk.
    assert_eq!(std::fs::metadata(&rotated).unwrap().len(), 50 << 20);
    assert!(std::fs::metadata(&log).unwrap().len() <= 50 << 20);
    let mut file = std::fs::File::open(&log).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(-8)).unwrap();
    let mut tail = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut tail).unwrap();
    assert_eq!(tail, b"the end\n");
    assert!(!log.with_extension("log.2").exists(), "one older part is kept");
    std::fs::remove_file(log).unwrap();
    std::fs::remove_file(rotated).unwrap();
    assert!(peak_kib > 0, "the engine's memory was never read");
    eprintln!("engine peak RSS while streaming 1 GiB: {peak_kib} KiB");
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB");
}

/// A chat-completions server on 127.0.0.1 that answers one streaming request with SSE, and
/// hands back the request it got.
pub(crate) fn chat_server(reply: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{BufRead as _, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut out = stream;
        out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            .unwrap();
        for word in reply.split_inclusive(' ') {
            let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"content": word}}]});
            out.write_all(format!("data: {chunk}\n\n").as_bytes()).unwrap();
            out.flush().unwrap();
        }
        let stop = serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        let usage = serde_json::json!({"choices": [], "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}});
        out.write_all(format!("data: {stop}\n\ndata: {usage}\n\ndata: [DONE]\n\n").as_bytes()).unwrap();
        format!("{head}{}", String::from_utf8_lossy(&body))
    });
    (port, handle)
}

#[test]
fn the_openai_backend_streams_from_a_local_server_and_reads_the_status_block() {
    let (port, server) = chat_server(
        "I added the parser.\n```json\n{\"outcome\": \"verified\", \"summary\": \"parser added\"}\n```\n",
    );
    let dir = project(&[(
        "w.yaml",
        &format!(
            "workflow:\n  nodes:\n    - id: build\n      agent: local\nagents:\n  local:\n    backend: openai\n    base_url: http://127.0.0.1:{port}/v1\n    model: qwen2.5-coder\n    api_key_env: LOCAL_KEY\n    prompt: PROMPT-BUILDER.md\n"
        ),
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("LOCAL_KEY", "k-123")
        .expect(0);
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /v1/chat/completions"), "{request}");
    assert!(request.contains("Bearer k-123") && request.contains("\"stream\":true"), "{request}");
    assert!(request.contains("Perform the `build` step"), "the stacked prompt is sent");
    let build = finished(&events(&out.stdout), "build").unwrap().clone();
    assert_eq!(build["outcome"]["result"], "verified");
    assert_eq!(build["outcome"]["summary"], "parser added");
    assert_eq!(build["outcome"]["evidence"]["metrics"]["tokens_used"], 320);
}

fn alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default().contains(") Z ")
}

fn wait_for_file(path: &std::path::Path) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn a_timed_out_agent_loses_its_children_even_those_ignoring_sigterm_and_invalid_utf8_is_fine() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: hang\n      agent: stubborn\nagents:\n  stubborn:\n    command: |\n      printf 'bad \\377\\376 bytes\\n'\n      sh -c 'trap \"\" TERM; echo $$ > child.pid; while true; do sleep 1; done' &\n      wait\n    timeout: 1s\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let hang = finished(&events(&out.stdout), "hang").unwrap().clone();
    assert_eq!(hang["outcome"]["class"], "timeout", "{hang}");
    let pid = std::fs::read_to_string(dir.path().join("child.pid")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(&pid), "the child {pid} that ignores SIGTERM outlived the timeout");
    let run = dir.path().join(".ralph/runs").join(events(&out.stdout)[0]["run_id"].as_str().unwrap());
    let log = std::fs::read(step_file(&run.join("steps"), "hang", ".log")).unwrap();
    assert!(log.windows(2).any(|w| w == b"\xff\xfe"), "the log keeps the bytes as they were");
}

#[test]
fn ctrl_c_stops_the_run_and_kills_the_agents() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: long\n      agent: sleeper\nagents:\n  sleeper:\n    command: \"sleep 300 & echo $! > child.pid; wait\"\n",
    )]);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ralph-loop"))
        .args(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = wait_for_file(&dir.path().join("child.pid"));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let end = events(&stdout).into_iter().rfind(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(end["status"], "stopped");
    assert_eq!(end["reason"], "interrupted by SIGINT");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(&pid), "the agent's child {pid} outlived the run");
}

#[test]
fn agents_send_signals_and_test_counts_become_evidence() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: test\n      agent: tester\nagents:\n  tester:\n    command: |\n      echo '{\"signal\": \"progress\", \"percent\": 50, \"message\": \"half way\"}'\n      echo 'test result: ok. 7 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out'\n    check: \"printf '===== 1 failed, 9 passed in 0.50s =====\\\\n'\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    let signal = events.iter().find(|e| e["type"] == "signal").unwrap();
    assert_eq!(signal["signal"], "progress");
    assert_eq!(signal["message"], "half way");
    assert_eq!(signal["data"]["percent"], 50);
    let test = finished(&events, "test").unwrap();
    assert_eq!(test["outcome"]["evidence"]["test_results"], serde_json::json!({"passed": 9, "failed": 1}));
}

#[test]
fn conditional_agents_follow_the_files_the_run_changed() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: edit\n      agent: editor\n    - id: python_scan\n      agent: scanner\n      depends_on: [edit]\n    - id: docs_check\n      agent: docs\n      depends_on: [edit]\nagents:\n  editor:\n    command: \"echo 'print(1)' > app.py\"\n  scanner:\n    command: \"echo scanned >> ran.txt\"\n    condition: \"file_changed: '*.py' and not file_changed: 'test_*'\"\n  docs:\n    command: \"echo docs >> ran.txt\"\n    condition: \"file_changed: '*.md'\"\n",
    )]);
    crate::support::git_repo(dir.path());
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    assert_eq!(std::fs::read_to_string(dir.path().join("ran.txt")).unwrap(), "scanned\n");
    let skipped = events.iter().find(|e| e["event"] == "step_skipped").unwrap();
    assert_eq!(skipped["step"], "docs_check");
    assert!(skipped["reason"].as_str().unwrap().contains("file_changed: '*.md'"), "{skipped}");
    let edit = finished(&events, "edit").unwrap();
    assert_eq!(edit["outcome"]["evidence"]["files_changed"], serde_json::json!(["app.py"]));
}

#[test]
fn hooks_run_around_a_state_and_a_review_timeout_auto_approves() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: work\n      agent: worker\n      on_enter: [log_start]\n      on_exit:\n        - action: command\n          args: {run: \"touch exited\"}\n    - id: review\n      type: human\n      timeout: 1s\n      on_timeout: [auto_approve]\n    - id: done\n      type: terminal\n  transitions:\n    - from: work\n      to: review\n    - from: review\n      to: done\n      condition: approved\n      else: work\nagents:\n  worker:\n    command: \"true\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    assert!(dir.path().join("exited").exists());
    let hooks: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "action_finished")
        .map(|e| e["hook"].as_str().unwrap())
        .collect();
    assert_eq!(hooks, ["on_enter", "on_exit"]);
    let decided = events.iter().find(|e| e["event"] == "review_decided").unwrap();
    assert_eq!(decided["decision"], "approved");
    assert_eq!(decided["by"], "on_timeout");
    assert_eq!(events.last().unwrap()["reason"], "reached the terminal state `done`");
}

#[test]
fn a_human_review_is_not_an_agent_invocation_and_does_not_spend_max_iterations() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: review\n      type: human\n      timeout: 50ms\n      on_timeout: [auto_approve]\n    - id: work\n      agent: worker\n    - id: done\n      type: terminal\n  transitions:\n    - from: review\n      to: work\n    - from: work\n      to: done\nagents:\n  worker:\n    command: \"touch worked\"\nloop:\n  max_iterations: 1\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    assert!(dir.path().join("worked").exists(), "the one agent invocation allowed ran after the review");
    assert_eq!(events.last().unwrap()["reason"], "reached the terminal state `done`");
}

#[test]
fn a_state_machines_steps_are_counted_as_taken_through_revisits_and_its_states_named_in_the_header() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: build\n      agent: a\n    - id: verify\n      agent: v\n    - id: done\n      type: terminal\n  transitions:\n    - from: build\n      to: verify\n    - from: verify\n      to: done\n      condition: success\n      else: build\nagents:\n  a:\n    command: \"echo x >> n\"\n  v:\n    command: \"[ $(wc -l < n) -ge 3 ]\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(out.stderr.contains("(state_machine, 3 states)"), "{}", out.stderr);
    let counters: Vec<&str> =
        out.stderr.lines().filter(|l| l.starts_with('[')).map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(counters, ["[1]", "[2]", "[3]", "[4]", "[5]", "[6]"], "{}", out.stderr);
    assert!(out.stderr.contains("[6] ok verify"), "{}", out.stderr);
}

#[test]
fn a_review_nobody_answers_is_escalated_to_a_named_agent_on_another_model_whose_result_decides() {
    for (verdict, next) in [("approved", "done"), ("rejected", "rework")] {
        let dir = project(&[(
            "w.yaml",
            &format!(
                "workflow:\n  states:\n    - id: review\n      type: human\n      timeout: 1s\n      on_timeout:\n        - action: escalate\n          args: {{agent: senior, model: big-model}}\n    - id: done\n      type: terminal\n    - id: rework\n      type: terminal\n  transitions:\n    - from: review\n      to: done\n      condition: approved\n      else: rework\nagents:\n  senior:\n    command: \"echo decided >> senior; echo '{{\\\"outcome\\\": \\\"{verdict}\\\"}}' > $RALPH_RESULT_FILE\"\n"
            ),
        )]);
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
        assert_eq!(std::fs::read_to_string(dir.path().join("senior")).unwrap(), "decided\n");
        let events = events(&out.stdout);
        let review = finished(&events, "review").expect("the review ended");
        assert_eq!(review["outcome"]["reviewer"], "on_timeout", "{review}");
        let moved = events.iter().find(|e| e["event"] == "transition").unwrap();
        assert_eq!((moved["from"].as_str(), moved["to"].as_str()), (Some("review"), Some(next)), "{moved}");
    }
}

const DO_TASK: &str = "#!/bin/sh\n# Reads the steering packet inside the script: its command does not name it.\nset -eu\ngrep -q '\"phase\": *\"task\"' \"$RALPH_PACKET_FILE\"\necho read > read-the-packet\n";

#[test]
fn a_script_that_reads_the_packet_gets_it_with_reads_packet() {
    // See: issue 13, finding 12.
    let dir = project(&[
        ("do_task.sh", DO_TASK),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: task\n      agent: do_task\nagents:\n  do_task:\n    command: ./do_task.sh\n    reads_packet: true\n",
        ),
        (
            "without.yaml",
            "workflow:\n  nodes:\n    - id: task\n      agent: do_task\nagents:\n  do_task:\n    command: ./do_task.sh\n",
        ),
    ]);
    crate::support::executable(&dir.path().join("do_task.sh"));
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(dir.path().join("read-the-packet").exists());
    // Without it, a command that does not name the packet gets none (a 10,000-node DAG of
    // commands writes no packet it does not read).
    std::fs::remove_file(dir.path().join("read-the-packet")).unwrap();
    let out = ralph(["loop", "--workflow", "without.yaml", "--json"]).current_dir(dir.path()).expect(1);
    assert!(
        out.stdout.contains("RALPH_PACKET_FILE"),
        "the script says the variable is unset: {}",
        out.stdout
    );
    assert!(!dir.path().join("read-the-packet").exists());
}

#[test]
fn loop_runs_the_workflow_ralph_yaml_names_and_says_how_to_choose_when_none_is() {
    // See: issue 13, finding 12.
    let ok =
        "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"echo $0 >> ran\"\n";
    let dir = project(&[
        ("ralph.yaml", "loop:\n  workflow: workflows/first.yaml\n"),
        ("workflows/first.yaml", &ok.replace("$0", "first")),
        ("workflows/second.yaml", &ok.replace("$0", "second")),
    ]);
    let ran = || std::fs::read_to_string(dir.path().join("ran")).unwrap_or_default();
    ralph(["loop"]).current_dir(dir.path()).expect(0);
    assert_eq!(ran(), "first\n");
    // `--workflow` wins.
    ralph(["loop", "--workflow", "workflows/second.yaml"]).current_dir(dir.path()).expect(0);
    assert_eq!(ran(), "first\nsecond\n");
    // Relative to ralph.yaml, wherever it is.
    let elsewhere = tempfile::tempdir().unwrap();
    ralph(["-C"]).arg(dir.path()).arg("loop").current_dir(elsewhere.path()).expect(0);
    assert_eq!(ran(), "first\nsecond\nfirst\n");
    // A name that is not there is an invalid configuration.
    std::fs::write(dir.path().join("ralph.yaml"), "loop:\n  workflow: workflows/frist.yaml\n").unwrap();
    let out = ralph(["loop"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.contains(
            "error[missing-workflow-file]: `loop.workflow` names `workflows/frist.yaml`, which does not exist"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("help: did you mean `workflows/first.yaml`?"), "{}", out.stderr);
    // Both ways of naming one, and the workflows to choose from.
    std::fs::write(dir.path().join("ralph.yaml"), "loop:\n  max_iterations: 3\n").unwrap();
    let out = ralph(["loop"]).current_dir(dir.path()).expect(2);
    assert_eq!(
        out.stderr,
        "error: `ralph.yaml` names no workflow to run; choose one with `ralph-loop loop --workflow workflows/first.yaml`, or set it in `ralph.yaml`:

    loop:
      workflow: workflows/first.yaml

the workflows in `workflows`:
first.yaml   dag
second.yaml  dag
"
    );
    std::fs::remove_file(dir.path().join("ralph.yaml")).unwrap();
    let out = ralph(["loop"]).current_dir(dir.path()).expect(2);
    assert!(
        out.stderr
            .starts_with("error: there is no `ralph.yaml` to name the workflow to run; choose one with"),
        "{}",
        out.stderr
    );
    // A ralph.yaml with a workflow of its own and another named: which one is meant?
    std::fs::write(dir.path().join("ralph.yaml"), format!("loop:\n  workflow: workflows/first.yaml\n{ok}"))
        .unwrap();
    let out = ralph(["loop"]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("error[conflicting-workflow]"), "{}", out.stderr);
}

#[test]
fn an_agent_keeps_what_the_engine_was_started_ignoring_and_gets_the_rest_at_default() {
    // Started under `nohup` (SIGHUP ignored), the engine leaves SIGHUP ignored in its agents, as
    // std and a shell do; SIGPIPE (ignored by Rust in the engine) and SIGINT/SIGTERM (handled
    // by the engine) are at their default in the agent.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: look\n      agent: look\nagents:\n  look:\n    command: \"grep SigIgn /proc/$$/status > ignored.txt\"\n",
    )]);
    let engine = env!("CARGO_BIN_EXE_ralph-loop");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' HUP; exec \"$0\" --color never loop --workflow w.yaml")
        .arg(engine)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = std::fs::read_to_string(dir.path().join("ignored.txt")).unwrap();
    let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    let bit = |sig: i32| mask & (1 << (sig - 1)) != 0;
    assert!(bit(1), "SIGHUP stays ignored: {line}");
    assert!(!bit(13), "SIGPIPE is at its default: {line}");
    assert!(!bit(2) && !bit(15), "SIGINT and SIGTERM are at their default: {line}");
}

#[test]
fn dry_run_says_a_review_waits_for_a_person_and_only_a_terminal_state_ends_the_run() {
    let dir = project(&[]);
    let advanced = crate::support::repo().join("workflows/advanced.yaml");
    let out = ralph(["loop", "--workflow"]).arg(&advanced).arg("--dry-run").current_dir(dir.path()).expect(0);
    let after = |step: &str| {
        let at = out.stdout.find(&format!("## Step `{step}`")).unwrap_or_else(|| panic!("{}", out.stdout));
        out.stdout[at..].lines().nth(2).unwrap_or_default().to_owned()
    };
    assert!(after("human_review").contains("a person approves or rejects here"), "{}", out.stdout);
    assert!(after("complete").contains("the run ends here"), "{}", out.stdout);
    assert_eq!(out.stdout.matches("the run ends here").count(), 1, "{}", out.stdout);
}

#[test]
fn loop_max_iterations_overrides_the_configuration_and_a_resumed_run_keeps_it() {
    let chain = "loop:\n  max_iterations: 10\nworkflow:\n  nodes:\n    - id: n1\n      agent: t\n    - id: n2\n      agent: t\n      depends_on: [n1]\n    - id: n3\n      agent: t\n      depends_on: [n2]\n    - id: n4\n      agent: t\n      depends_on: [n3]\nagents:\n  t:\n    command: \"echo $RALPH_STEP >> ran\"\n";
    let dir = project(&[("w.yaml", chain)]);
    let out =
        ralph(["loop", "--workflow", "w.yaml", "--max-iterations", "2"]).current_dir(dir.path()).expect(1);
    assert!(out.stderr.contains("max_iterations (2) reached"), "{}", out.stderr);
    let ran = || std::fs::read_to_string(dir.path().join("ran")).unwrap().lines().count();
    assert_eq!(ran(), 2, "two invocations, not the configuration's ten");
    // The limit is the run's: resuming it does not fall back to the configuration's.
    let again = ralph(["resume"]).current_dir(dir.path()).expect(1);
    assert!(again.stderr.contains("max_iterations (2) reached"), "{}", again.stderr);
    assert_eq!(ran(), 2);
    let zero =
        ralph(["loop", "--workflow", "w.yaml", "--max-iterations", "0"]).current_dir(dir.path()).expect(2);
    assert!(zero.stderr.contains("`0` would invoke no agent; give at least 1"), "{}", zero.stderr);
}
