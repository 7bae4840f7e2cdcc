//! Agents at hooks (`agents.<name>.hooks`): they run at a step's hooks with the hook's context
//! in their packet, and veto where a plugin could.

use crate::support::{events as journal, project, ralph};

/// A DAG whose `build` node is performed by `builder` (it leaves `built`), and the agent
/// `scanner` given by the caller.
fn workflow(scanner: &str) -> String {
    format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: builder\n    - id: after\n      agent: builder2\n      depends_on: build\nagents:\n  builder:\n    command: \"touch built\"\n  builder2:\n    command: \"true\"\n  scanner:\n{scanner}"
    )
}

#[test]
fn a_hook_agent_runs_at_its_hook_with_the_hooks_context_in_its_packet() {
    // The scanner keeps each packet it gets, and whether the build had happened by then.
    let scanner = "    reads_packet: true\n    hooks: [phase.before_build, phase.after_build]\n    command: \"n=$(ls seen.*.json 2>/dev/null | wc -l); cp \\\"$RALPH_PACKET_FILE\\\" seen.$n.json; if [ -f built ]; then echo yes > built.$n; else echo no > built.$n; fi\"\n";
    let dir = project(&[("w.yaml", &workflow(scanner))]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let before: serde_json::Value = serde_json::from_str(&read("seen.0.json")).unwrap();
    let after: serde_json::Value = serde_json::from_str(&read("seen.1.json")).unwrap();
    assert!(!dir.path().join("seen.2.json").exists(), "once before, once after, and not at `after`'s step");
    assert_eq!(read("built.0").trim(), "no", "`phase.before_build` runs before the build");
    assert_eq!(read("built.1").trim(), "yes", "`phase.after_build` runs after it");
    // The packet is a steering packet with the hook and its context.
    assert_eq!(before["version"], "2.0");
    assert_eq!(before["hook"]["name"], "phase.before_build");
    assert_eq!(before["hook"]["can_veto"], true);
    assert_eq!(before["hook"]["context"]["kind"], "phase");
    assert_eq!(before["hook"]["context"]["step"], "build");
    assert_eq!(before["hook"]["context"]["phase"], "build");
    assert_eq!(before["hook"]["context"]["agent"], "builder");
    assert_eq!(after["hook"]["name"], "phase.after_build");
    assert_eq!(after["hook"]["context"]["success"], true);
    assert!(before["instructions"]["outcomes"].as_array().unwrap().contains(&"veto".into()));
    // Journaled like any hook action of the step, before the step's own end.
    let events = journal(&out.stdout);
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool| events.iter().position(pred).unwrap();
    let hooked = |hook: &'static str| {
        move |e: &serde_json::Value| {
            e["event"] == "action_finished"
                && e["hook"] == hook
                && e["action"] == "scanner"
                && e["step"] == "build"
        }
    };
    let started = position(&|e| e["event"] == "step_started" && e["step"] == "build");
    let finished = position(&|e| e["event"] == "step_finished" && e["step"] == "build");
    let before_at = position(&hooked("phase.before_build"));
    let after_at = position(&hooked("phase.after_build"));
    assert!(started < before_at && before_at < after_at && after_at < finished, "{}", out.stdout);
}

#[test]
fn a_vetoing_hook_agent_stops_the_step_with_the_agent_named() {
    // Before: a failure vetoes, and the step's own agent never runs.
    let scanner = "    hooks: [phase.before_build]\n    command: \"echo 'a key in config.py' >&2; exit 1\"\n";
    let dir = project(&[("w.yaml", &workflow(scanner))]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = journal(&out.stdout);
    let build = events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "build").unwrap();
    assert_eq!(build["outcome"]["class"], "plugin_veto", "{build}");
    let error = build["outcome"]["error"].as_str().unwrap();
    assert!(error.starts_with("vetoed by agent `scanner` at `phase.before_build`: "), "{error}");
    assert!(error.contains("a key in config.py"), "{error}");
    assert!(!dir.path().join("built").exists(), "a vetoed step does not run");
    // After: the named result `veto` fails the step that ran.
    let scanner = "    hooks: [phase.after_build]\n    command: \"printf '{\\\"outcome\\\": \\\"veto\\\", \\\"summary\\\": \\\"the build left a secret\\\"}' > \\\"$RALPH_RESULT_FILE\\\"\"\n";
    let dir = project(&[("w.yaml", &workflow(scanner))]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = journal(&out.stdout);
    let build = events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "build").unwrap();
    assert_eq!(build["outcome"]["success"], false);
    assert_eq!(
        build["outcome"]["error"],
        "vetoed by agent `scanner` at `phase.after_build`: the build left a secret"
    );
    assert!(dir.path().join("built").exists(), "the step ran before it was vetoed");
    assert!(
        !events.iter().any(|e| e["event"] == "step_started" && e["step"] == "after"),
        "its dependents do not run"
    );
}

#[test]
fn a_hook_agent_where_agents_do_not_run_is_reported_and_cannot_veto() {
    // `workflow.on_start` is a hook of the run, not of a step: no agent runs there, so this one's
    // failure can stop nothing, and `validate` says so (an error with `--strict`).
    let scanner =
        "    hooks: [workflow.on_start, state.on_change]\n    command: \"touch scanner-ran; exit 1\"\n";
    let dir = project(&[("w.yaml", &workflow(scanner))]);
    let out = ralph(["workflow", "validate", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(
        out.stderr.contains("warning[inert-key]: `agents.scanner.hooks` has no effect"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`workflow.on_start`, `state.on_change`"), "{}", out.stderr);
    ralph(["workflow", "validate", "--strict", "w.yaml"]).current_dir(dir.path()).expect(3);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(!dir.path().join("scanner-ran").exists());
    assert!(dir.path().join("built").exists());
}
