//! Plugins in real runs: vetoes within granted capabilities, hostile plugins contained by
//! their limits, `on_error` and disabling after repeated failures, and the example plugins of
//! `plugins/` end to end.

use crate::support::{plugin_wasm, project, ralph};

/// A DAG `build` → `test` of command agents, with one plugin `guard` (the hostile test plugin)
/// configured by `extra` (YAML lines under the plugin, indented by four spaces).
fn hostile_project(extra: &str) -> tempfile::TempDir {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: builder\n    - id: test\n      agent: ok\n      depends_on: build\nagents:\n  builder:\n    command: \"echo built > out.txt\"\n  ok:\n    command: \"true\"\nplugins:\n  - name: guard\n    entry: plugins/hostile.wasm\n    hooks: [phase.before_build]\n{extra}"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(plugin_wasm("hostile"), dir.path().join("plugins/hostile.wasm")).unwrap();
    dir
}

fn plugin_events<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == "plugin" && e["kind"] == kind).collect()
}

fn step_outcome<'a>(events: &'a [serde_json::Value], step: &str) -> &'a serde_json::Value {
    &events.iter().find(|e| e["event"] == "step_finished" && e["step"] == step).unwrap()["outcome"]
}

#[test]
fn a_granted_veto_fails_the_step_and_an_ungranted_one_is_ignored_and_logged() {
    let dir = hostile_project("    capabilities: [veto]\n    config:\n      mode: veto\n");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = crate::support::events(&out.stdout);
    let build = step_outcome(&events, "build");
    assert_eq!(build["class"], "plugin_veto");
    assert_eq!(build["error"], "vetoed by plugin `guard`: the hostile plugin says no");
    assert!(!dir.path().join("out.txt").exists(), "a vetoed step does not run");
    assert_eq!(plugin_events(&events, "veto").len(), 1);

    let dir = hostile_project("    config:\n      mode: veto\n");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = crate::support::events(&out.stdout);
    let ignored = plugin_events(&events, "veto_ignored");
    assert_eq!(ignored.len(), 1, "{events:?}");
    assert!(ignored[0]["message"].as_str().unwrap().contains("does not grant it `veto`"), "{}", ignored[0]);
    assert!(dir.path().join("out.txt").exists());
    // The journal keeps it: `debug` shows the ignored veto.
    let debug = ralph(["debug", "--iteration", "1"]).current_dir(dir.path()).expect(0);
    assert!(debug.stdout.contains("plugin `guard` veto ignored"), "{}", debug.stdout);
}

#[test]
fn hostile_plugins_are_stopped_by_their_limits_and_the_run_goes_on_when_they_fail_open() {
    // (mode, limits, the error kind)
    let cases = [
        ("spin", "    timeout: 200ms\n    fuel: 1000000000000\n", "timeout"),
        ("spin", "    fuel: 10000000\n", "out_of_fuel"),
        ("bomb", "    memory: 16MiB\n", "out_of_memory"),
        ("panic", "", "panic"),
        ("flaky", "", "error"),
    ];
    for (mode, limits, kind) in cases {
        let dir = hostile_project(&format!("{limits}    config:\n      mode: {mode}\n"));
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
        let events = crate::support::events(&out.stdout);
        let errors = plugin_events(&events, "error");
        assert_eq!(errors.len(), 1, "{mode}: {}", out.stdout);
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.ends_with(&format!("({kind})")), "{mode}: {message}");
        assert!(message.starts_with("plugin `guard`"), "{mode}: {message}");
        if mode == "panic" {
            assert!(message.contains("the hostile plugin panics on purpose"), "{message}");
        }
        assert_eq!(step_outcome(&events, "build")["success"], true, "{mode}: fail_open carries on");
        assert!(dir.path().join("out.txt").exists());
    }
}

#[test]
fn a_plugin_that_fails_closed_vetoes_and_a_disabled_one_stops_the_run() {
    let dir =
        hostile_project("    on_error: fail_closed\n    fuel: 10000000\n    config:\n      mode: spin\n");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = crate::support::events(&out.stdout);
    let build = step_outcome(&events, "build");
    assert_eq!(build["class"], "plugin_veto");
    assert!(build["error"].as_str().unwrap().contains("fails closed"), "{build}");

    // Three steps before which the plugin fails: after `max_failures` (2) it is disabled, and
    // since it fails closed the run stops rather than go on unguarded.
    let yaml = "workflow:\n  type: state_machine\n  states:\n    - id: one\n      agent: ok\n    - id: two\n      agent: ok\n    - id: three\n      agent: ok\nagents:\n  ok:\n    command: \"true\"\nplugins:\n  - name: guard\n    entry: plugins/hostile.wasm\n    hooks: [phase.before_one, phase.before_two, phase.before_three]\n    on_error: fail_open\n    max_failures: 2\n    config:\n      mode: flaky\n";
    let dir = project(&[("w.yaml", yaml)]);
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(plugin_wasm("hostile"), dir.path().join("plugins/hostile.wasm")).unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = crate::support::events(&out.stdout);
    assert_eq!(plugin_events(&events, "error").len(), 2, "not called once disabled: {}", out.stdout);
    let disabled = plugin_events(&events, "disabled");
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["step"], "two");

    // Failing closed, each failure vetoes its step; once disabled, nothing it guards may run, so
    // the run stops (three independent nodes, one at a time).
    let dag = "workflow:\n  nodes:\n    - id: one\n      agent: ok\n    - id: two\n      agent: ok\n    - id: three\n      agent: ok\nagents:\n  ok:\n    command: \"true\"\nplugins:\n  - name: guard\n    entry: plugins/hostile.wasm\n    hooks: [phase.before_one, phase.before_two, phase.before_three]\n    on_error: fail_closed\n    max_failures: 2\n    config:\n      mode: flaky\n";
    std::fs::write(dir.path().join("w.yaml"), dag).unwrap();
    let out =
        ralph(["loop", "--workflow", "w.yaml", "--json", "--jobs", "1"]).current_dir(dir.path()).expect(1);
    let events = crate::support::events(&out.stdout);
    assert_eq!(step_outcome(&events, "one")["class"], "plugin_veto");
    assert_eq!(step_outcome(&events, "two")["class"], "plugin_veto");
    assert!(!events.iter().any(|e| e["event"] == "step_started" && e["step"] == "three"), "{}", out.stdout);
    let end = events.iter().find(|e| e["event"] == "run_finished").unwrap();
    assert!(end["reason"].as_str().unwrap().contains("disabled after 2 failed calls"), "{end}");
}

#[test]
fn a_plugin_reads_no_file_and_no_environment() {
    let dir = hostile_project("    config:\n      mode: snoop\n");
    std::fs::write(dir.path().join("secret.txt"), "hunter2\n").unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("RALPH_TEST_SECRET", "hunter2")
        .expect(0);
    let events = crate::support::events(&out.stdout);
    let notes = plugin_events(&events, "annotate");
    assert_eq!(notes.len(), 1, "{}", out.stdout);
    // What the plugin could see: only WASI's placeholder working directory.
    assert_eq!(notes[0]["message"], "snooped: [cwd: /]");
    // Its standard output reached the log.
    let logs = plugin_events(&events, "log");
    assert!(logs.iter().any(|l| l["message"] == "[stdout] snoop found 1 things"), "{logs:?}");
}

#[test]
fn a_secret_a_plugin_echoes_never_reaches_the_journal_or_the_terminal() {
    let dir = hostile_project(
        "    capabilities: [veto]\n    config:\n      mode: leak\n      token: ${DEPLOY_TOKEN}\n",
    );
    let secret = "tok-8c1f2e77a90b";
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("DEPLOY_TOKEN", secret)
        .expect(1);
    let logs = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0);
    let human =
        ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).env("DEPLOY_TOKEN", secret).expect(1);
    for (what, text) in [
        ("loop --json", &out.stdout),
        ("logs --json", &logs.stdout),
        ("loop", &human.stdout),
        ("loop stderr", &human.stderr),
    ] {
        assert!(!text.contains(secret), "{what} shows the secret:\n{text}");
    }
    assert!(out.stdout.contains("vetoed with token [REDACTED]"), "{}", out.stdout);
    assert!(out.stdout.contains("my token is [REDACTED]"), "{}", out.stdout);
    assert!(out.stdout.contains("token=[REDACTED]"), "{}", out.stdout);
}

#[test]
fn a_corrupt_or_wrong_kind_of_component_is_refused_with_a_clear_message() {
    for (bytes, expected) in [
        (&b"\0asm\x01\0\0\0"[..], "core WebAssembly module, not a component"),
        (&b"#!/bin/sh\necho hi\n"[..], "magic number"),
        (&b"\0asm\x0d\0\x01\0garbage"[..], "not a valid WebAssembly component"),
    ] {
        let dir = hostile_project("    on_error: fail_closed\n");
        std::fs::write(dir.path().join("plugins/hostile.wasm"), bytes).unwrap();
        let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).output();
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains(expected), "{expected}: {}", out.stderr);
        assert!(out.stderr.contains("plugin `guard`"), "{}", out.stderr);
        assert!(out.stderr.contains("fails closed"), "{}", out.stderr);

        // Failing open, the run goes on without it and says why.
        let yaml = std::fs::read_to_string(dir.path().join("w.yaml")).unwrap();
        std::fs::write(dir.path().join("w.yaml"), yaml.replace("fail_closed", "fail_open")).unwrap();
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
        let events = crate::support::events(&out.stdout);
        let load = plugin_events(&events, "load_error");
        assert_eq!(load.len(), 1, "{}", out.stdout);
        assert!(load[0]["message"].as_str().unwrap().contains(expected), "{}", load[0]);
    }
}

/// A project with `w.yaml` and the example plugin `package` at `plugins/<package>.wasm`.
fn with_plugin(yaml: &str, package: &str) -> tempfile::TempDir {
    let dir = project(&[("w.yaml", yaml)]);
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(plugin_wasm(package), dir.path().join(format!("plugins/{package}.wasm"))).unwrap();
    dir
}

#[test]
fn notes_of_a_plugin_reach_the_packet_the_agent_reads() {
    // The builder fails unless the plugin's note is in its packet.
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"grep -q 'snooped: ' {{ packet_file }}\"\nplugins:\n  - name: guard\n    entry: plugins/hostile.wasm\n    hooks: [phase.before_build]\n    config:\n      mode: snoop\n";
    let dir = with_plugin(yaml, "hostile");
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
}

#[test]
fn a_modify_changes_the_packet_only_with_the_modify_capability() {
    // The builder succeeds only when its packet carries the plugin's patch.
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"grep -q 'patched by the plugin' {{ packet_file }}\"\nplugins:\n  - name: guard\n    entry: plugins/hostile.wasm\n    hooks: [phase.before_build]\n    capabilities: [modify]\n    config:\n      mode: modify\n";
    let dir = with_plugin(yaml, "hostile");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    assert_eq!(plugin_events(&crate::support::events(&out.stdout), "modify").len(), 1);

    std::fs::write(dir.path().join("w.yaml"), yaml.replace("    capabilities: [modify]\n", "")).unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = crate::support::events(&out.stdout);
    let ignored = plugin_events(&events, "modify_ignored");
    assert_eq!(ignored.len(), 1, "{}", out.stdout);
    assert!(ignored[0]["message"].as_str().unwrap().contains("does not grant it `modify`"));
}

#[test]
fn the_secret_guard_vetoes_a_step_whose_diff_adds_a_credential() {
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    command: \"printf 'import os\\\\nAWS_KEY = \\\"%s\\\"\\\\n' \\\"$KEY\\\" > settings.py\"\nplugins:\n  - name: secret-guard\n    entry: plugins/secret-guard.wasm\n    capabilities: [veto]\n";
    let dir = with_plugin(yaml, "secret-guard");
    crate::support::git_repo(dir.path());
    let key = "AKIAQ3EGRT5MZXW7PL2K";
    let out =
        ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).env("KEY", key).expect(1);
    let events = crate::support::events(&out.stdout);
    let build = step_outcome(&events, "build");
    assert_eq!(build["class"], "plugin_veto", "{}", out.stdout);
    let error = build["error"].as_str().unwrap();
    assert!(error.contains("settings.py:2 AWS access key id"), "{error}");
    assert!(error.contains("AKIA…") && !error.contains(key), "the secret is not repeated: {error}");

    // The same step adding no secret goes through.
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("KEY", "not a secret")
        .expect(0);
    let events = crate::support::events(&out.stdout);
    assert_eq!(step_outcome(&events, "build")["success"], true);
}

#[test]
fn the_budget_guard_vetoes_the_invocation_that_would_pass_its_budget() {
    let yaml = "workflow:\n  nodes:\n    - id: one\n      agent: builder\n    - id: two\n      agent: builder\n      depends_on: one\n    - id: three\n      agent: builder\n      depends_on: two\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\nplugins:\n  - name: budget-guard\n    entry: plugins/budget-guard.wasm\n    capabilities: [veto]\n    config:\n      max_cost_usd: 0.024\n";
    let dir = with_plugin(yaml, "budget-guard");
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/claude"), crate::support::CLAUDE_CENT).unwrap();
    crate::support::executable(&dir.path().join("bin/claude"));
    let path = crate::support::path_with(&dir.path().join("bin"));
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .expect(1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("calls")).unwrap().lines().count(),
        2,
        "{}",
        out.stdout
    );
    let events = crate::support::events(&out.stdout);
    let three = step_outcome(&events, "three");
    assert_eq!(three["class"], "plugin_veto");
    let error = three["error"].as_str().unwrap();
    assert_eq!(
        error,
        "vetoed by plugin `budget-guard`: invoking `builder` would pass the $0.024 budget: $0.02 spent, about $0.01 per invocation"
    );
    // Past 80% of the limit, it warned first (a note for the agent).
    let notes = plugin_events(&events, "annotate");
    assert_eq!(notes.len(), 1, "{}", out.stdout);
    assert_eq!(notes[0]["step"], "two");
}

/// A one-shot HTTP server on 127.0.0.1: the bodies of the POSTs it receives, answered `204`.
fn webhook_server() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, rx)
}

#[test]
fn the_notifier_calls_its_webhook_only_with_the_notify_capability() {
    let (url, bodies) = webhook_server();
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: ok\nagents:\n  ok:\n    command: \"true\"\nplugins:\n  - name: notifier\n    entry: plugins/notifier.wasm\n    capabilities: [notify]\n    config:\n      webhook: {url}\n"
    );
    let dir = with_plugin(&yaml, "notifier");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = crate::support::events(&out.stdout);
    let run_id = events[0]["run_id"].as_str().unwrap().to_owned();
    let received: Vec<serde_json::Value> =
        bodies.try_iter().map(|b| serde_json::from_str(&b).unwrap()).collect();
    let hooks: Vec<&str> = received.iter().map(|b| b["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, ["workflow.on_start", "workflow.on_complete"], "{received:?}");
    assert!(received.iter().all(|b| b["run_id"] == run_id.as_str()), "{received:?}");
    assert!(received[1]["text"].as_str().unwrap().contains("w"), "{received:?}");

    // Without the capability: refused, logged, and the run goes on.
    std::fs::write(dir.path().join("w.yaml"), yaml.replace("    capabilities: [notify]\n", "")).unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = crate::support::events(&out.stdout);
    assert_eq!(plugin_events(&events, "refused").len(), 2, "{}", out.stdout);
    assert!(bodies.try_iter().next().is_none(), "nothing is sent");
}

#[test]
fn the_metrics_exporter_reports_each_phase() {
    let yaml = "workflow:\n  nodes:\n    - id: lint\n      agent: ok\n    - id: build\n      agent: builder\n      depends_on: lint\nagents:\n  ok:\n    command: \"true\"\n  builder:\n    command: \"true\"\nplugins:\n  - name: metrics-exporter\n    entry: plugins/metrics-exporter.wasm\n    hooks: [phase.after_lint, phase.after_build, workflow.on_iteration]\n";
    let dir = with_plugin(yaml, "metrics-exporter");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = crate::support::events(&out.stdout);
    let metrics: Vec<&str> =
        plugin_events(&events, "metric").iter().map(|e| e["message"].as_str().unwrap()).collect();
    for (name, phase) in [("ralph_phase_success 1", "phase=lint"), ("ralph_phase_success 1", "phase=build")] {
        assert!(
            metrics.iter().any(|m| m.starts_with(name) && m.contains(phase)),
            "{name} {phase}: {metrics:?}"
        );
    }
    assert!(metrics.iter().any(|m| m.starts_with("ralph_phase_duration_ms")), "{metrics:?}");
    assert!(metrics.iter().any(|m| m.starts_with("ralph_iterations 1")), "{metrics:?}");
}
