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
