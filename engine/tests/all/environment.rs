//! Environment failures: an agent that cannot work at all here (not logged in, a rejected key,
//! an unknown model, its program missing) fails its step with class `environment` and a
//! message that says what to do, through the real `ralph-loop loop`.
//!
//! These tests assert the step's journaled outcome; what the run does about it (it stops at
//! once with exit status 4 and leaves the task as it was) is asserted with the runner.

use std::path::PathBuf;

use crate::support::{events, project, ralph, repo};

/// The step `build`'s outcome in a `loop --json` run's events.
fn build_outcome(stdout: &str) -> serde_json::Value {
    let events = events(stdout);
    let finished = events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "build");
    finished.unwrap_or_else(|| panic!("no `build` step finished:\n{stdout}"))["outcome"].clone()
}

/// A one-node workflow whose agent `builder` has this definition.
fn one_node(agent: &str) -> String {
    format!("workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n{agent}")
}

/// The real Claude Code, installed by `npm ci` in `engine/tests/agents` (`scripts/test.sh`).
fn real_claude() -> PathBuf {
    let bin = repo().join("engine/tests/agents/node_modules/.bin");
    assert!(
        bin.join("claude").is_file(),
        "Claude Code is not installed: run `npm ci` in engine/tests/agents (scripts/test.sh does)"
    );
    bin
}

#[test]
fn the_real_claude_not_logged_in_fails_the_step_as_an_environment_failure_with_the_login_hint() {
    // The real program, with no credentials and a home of its own: it says "Not logged in"
    // without touching the network (nothing but 127.0.0.1 would be reachable anyway).
    let bin = real_claude();
    let dir = project(&[("w.yaml", &one_node("    backend: claude\n"))]);
    let home = tempfile::tempdir().unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", crate::support::path_with(&bin))
        .env("HOME", home.path())
        .env("CLAUDE_CONFIG_DIR", home.path().join(".claude"))
        .env("ANTHROPIC_API_KEY", "")
        .env("ANTHROPIC_AUTH_TOKEN", "")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .output();
    let outcome = build_outcome(&out.stdout);
    assert_eq!(outcome["class"], "environment", "{outcome}\n{}", out.stderr);
    assert_eq!(
        outcome["error"],
        "claude is not logged in: run `claude` once and `/login`, or set `ANTHROPIC_API_KEY`",
        "{outcome}"
    );
}

/// A fake agent CLI at the process boundary: it replays a captured session — stdout, stderr
/// and exit status, as the real program produced them.
const REPLAY: &str =
    "#!/bin/sh\ncat > /dev/null\ncat \"$FIXTURE\"\ncat \"$FIXTURE_STDERR\" >&2\nexit \"$FIXTURE_STATUS\"\n";

/// Runs one captured session of `backend` as the step `build`.
fn replay(backend: &str, case: &str) -> serde_json::Value {
    let fixtures = repo().join("engine/tests/fixtures").join(backend);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join(format!("{case}.meta.json"))).unwrap())
            .unwrap();
    let dir = project(&[
        ("w.yaml", &one_node(&format!("    backend: {backend}\n"))),
        (&format!("bin/{backend}"), REPLAY),
        ("stderr.txt", meta["stderr"].as_str().unwrap()),
    ]);
    crate::support::executable(&dir.path().join("bin").join(backend));
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .env("FIXTURE", fixtures.join(format!("{case}.jsonl")))
        .env("FIXTURE_STDERR", dir.path().join("stderr.txt"))
        .env("FIXTURE_STATUS", meta["exit_status"].to_string())
        .output();
    build_outcome(&out.stdout)
}

#[test]
fn each_backends_captured_login_key_and_model_failures_are_environment_failures() {
    for (backend, case, says) in [
        ("claude", "invalid-api-key", "the API key was rejected"),
        ("claude", "model-not-found", "`claude-no-such-model` is not known"),
        ("codex", "not-logged-in", "codex is not logged in: run `codex login`"),
        ("codex", "invalid-api-key", "the API key was rejected (401"),
        ("codex", "model-not-found", "`gpt-no-such-model` is not known"),
        ("opencode", "not-logged-in", "opencode has no credentials for the provider `anthropic`"),
        ("opencode", "invalid-api-key", "rejected the credentials (401"),
        ("opencode", "model-not-found", "the model is not known to the provider (404"),
        ("gemini", "not-logged-in", "gemini is not logged in"),
        ("gemini", "invalid-api-key", "the API key was rejected (API key not valid"),
        ("gemini", "model-not-found", "`gemini-no-such-model` is not known"),
    ] {
        let outcome = replay(backend, case);
        assert_eq!(outcome["class"], "environment", "{backend}/{case}: {outcome}");
        let error = outcome["error"].as_str().unwrap();
        assert!(error.contains(says), "{backend}/{case}: {error}");
    }
}

#[test]
fn a_server_error_or_a_rate_limit_stays_a_failure_of_the_step() {
    for (backend, case, class) in [
        ("claude", "server-error", "agent_error"),
        ("claude", "rate-limited", "rate_limited"),
        ("codex", "server-error", "agent_error"),
        ("codex", "rate-limited", "rate_limited"),
        ("opencode", "server-error", "agent_error"),
        ("opencode", "rate-limited", "rate_limited"),
        ("gemini", "server-error", "agent_error"),
    ] {
        let outcome = replay(backend, case);
        assert_eq!(outcome["class"], class, "{backend}/{case}: {outcome}");
    }
}

#[test]
fn a_command_whose_program_is_not_installed_is_an_environment_failure() {
    let dir = project(&[("w.yaml", &one_node("    command: ralph-no-such-program --check\n"))]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).output();
    let outcome = build_outcome(&out.stdout);
    assert_eq!(outcome["class"], "environment", "{outcome}");
    assert!(
        outcome["error"]
            .as_str()
            .unwrap()
            .starts_with("the command's program `ralph-no-such-program` is not installed"),
        "{outcome}"
    );
    // The same for a check.
    let dir = project(&[("w.yaml", &one_node("    command: \"true\"\n    check: ralph-no-such-checker\n"))]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).output();
    let outcome = build_outcome(&out.stdout);
    assert_eq!(outcome["class"], "environment", "{outcome}");
    assert!(
        outcome["error"]
            .as_str()
            .unwrap()
            .starts_with("the check's program `ralph-no-such-checker` is not installed"),
        "{outcome}"
    );
    // A project script that is not there is the work's state, not the machine's.
    let dir = project(&[("w.yaml", &one_node("    command: ./build.sh\n"))]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).output();
    assert_eq!(build_outcome(&out.stdout)["class"], "nonzero_exit");
}

#[test]
fn a_step_log_on_a_full_disk_is_an_environment_failure() {
    // The runs' step directories are created by the loop; the log of the first step is made a
    // link to `/dev/full` by the step itself before it prints, so the engine's next write fails
    // with ENOSPC.
    let dir = project(&[(
        "w.yaml",
        &one_node(
            "    command: \"ln -sf /dev/full \\\"${RALPH_RESULT_FILE%.result.json}.log\\\" && for i in 1 2 3 4 5 6 7 8 9; do echo line $i; sleep 0.05; done\"\n",
        ),
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).output();
    let outcome = build_outcome(&out.stdout);
    assert_eq!(outcome["class"], "environment", "{outcome}\n{}", out.stderr);
    assert!(
        outcome["error"].as_str().unwrap().starts_with("the disk is full: cannot write the step's log"),
        "{outcome}"
    );
}
