//! The command line as a whole: every verb of the seed exists and is built.

use crate::support::{project, ralph};

/// The seed's CLI list (plus the verbs the brief adds).
const VERBS: &[&[&str]] = &[
    &["loop"],
    &["status"],
    &["logs"],
    &["reset"],
    &["runs"],
    &["init"],
    &["resume"],
    &["pause"],
    &["hint"],
    &["approve"],
    &["reject"],
    &["workflow", "list"],
    &["workflow", "validate"],
    &["workflow", "visualize"],
    &["plugin", "list"],
    &["plugin", "install"],
    &["plugin", "enable"],
    &["plugin", "disable"],
    &["plugin", "info"],
    &["plugin", "remove"],
    &["plugin", "new"],
    &["plugin", "call"],
    &["metrics"],
    &["traces"],
    &["dashboard"],
    &["debug"],
    &["replay"],
    &["retry"],
    &["snapshots"],
    &["runs"],
    &["inspect"],
    &["schema"],
    &["completions"],
];

#[test]
fn every_verb_of_the_seed_has_help() {
    for verb in VERBS {
        let out = ralph(verb.iter().copied()).arg("--help").expect(0);
        assert!(out.stdout.contains("Usage: ralph-loop"), "{verb:?}: {}", out.stdout);
    }
}

#[test]
fn each_verbs_help_shows_only_the_options_that_apply_to_it_and_globals_still_work_anywhere() {
    let help = |verb: &[&str]| ralph(verb.iter().copied()).arg("--help").expect(0).stdout;
    let status = help(&["status"]);
    assert!(status.contains("--state-dir") && status.contains("--project-dir"), "{status}");
    let validate = help(&["workflow", "validate"]);
    assert!(!validate.contains("--state-dir") && validate.contains("--project-dir"), "{validate}");
    let schema = help(&["schema"]);
    assert!(!schema.contains("--state-dir") && !schema.contains("--project-dir"), "{schema}");
    // Hidden is not refused: a global option given before the verb or after it still acts.
    let dir = project(&[]);
    let out = ralph(["--state-dir", "elsewhere", "schema", "workflow"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.starts_with('{'), "{}", out.stdout);
    let out = ralph(["runs", "--state-dir", "elsewhere", "--json"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("\"runs\": []"), "{}", out.stdout);
}

#[test]
fn plugin_verbs_are_built() {
    let dir = project(&[]);
    let out = ralph(["plugin", "list"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.contains("no plugins"), "{}", out.stdout);
    assert!(!out.stderr.contains("is not available yet"), "{}", out.stderr);
    let out = ralph(["plugin", "info", "nope"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("no plugin `nope`"), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(ralph(["workflow", "validate"]).output().code, 2);
    assert_eq!(ralph(["workflow", "visualize", "x.yaml", "--format", "png"]).output().code, 2);
    let out = ralph(["workflow", "validate", "does-not-exist.yaml"]).expect(2);
    assert!(out.stderr.contains("cannot read `does-not-exist.yaml`"), "{}", out.stderr);
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, needle) in
        [("bash", "complete -F"), ("zsh", "#compdef ralph-loop"), ("fish", "complete -c ralph-loop")]
    {
        let out = ralph(["completions", shell]).expect(0);
        assert!(out.stdout.contains(needle), "{shell}: {}", &out.stdout[..out.stdout.len().min(300)]);
        assert!(out.stdout.contains("visualize"), "{shell} completions should know subcommands");
    }
}

#[test]
fn workflow_list_shows_type_and_description() {
    let dir = project(&[
        ("workflows/a.yaml", "description: Builds things\nworkflow:\n  type: dag\n  nodes:\n    - id: x\n"),
        ("workflows/b.yaml", "workflow:\n  description: Plans then builds\n  states: [planning, building]\n"),
        ("workflows/broken.yaml", "workflow:\n  type: [\n"),
        ("workflows/notes.txt", "not a workflow"),
    ]);
    let out = ralph(["workflow", "list"]).current_dir(dir.path()).expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].starts_with("a.yaml") && lines[0].contains("dag") && lines[0].contains("Builds things"));
    assert!(lines[1].contains("state_machine") && lines[1].contains("Plans then builds"));
    assert!(lines[2].contains("invalid"));
    let json = ralph(["workflow", "list", "--json"]).current_dir(dir.path()).expect(0);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(list[0]["type"], "dag");
}

#[test]
fn a_broken_file_gets_all_its_errors_at_once_in_source_order() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  type: state_machine\n  states: [planning, buidling, complete]\n  transitions:\n    - from: planning\n      to: building\n    - from: buidling\n      to: complete\n      condition: \"retries >\"\n      esle: planning\nagents:\n  builder:\n    timeout: 5 parsecs\n",
    )]);
    let out = ralph(["workflow", "validate", "w.yaml"]).current_dir(dir.path()).expect(3);
    let codes: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error[")).collect();
    assert_eq!(codes.len(), 4, "{}", out.stderr);
    let mut positions = Vec::new();
    let mut in_error = false;
    for line in out.stderr.lines() {
        if line.starts_with("error[") || line.starts_with("warning[") {
            in_error = line.starts_with("error[");
        } else if let Some(position) = line.trim_start().strip_prefix("--> ").filter(|_| in_error) {
            positions.push(position);
        }
    }
    assert_eq!(positions, ["w.yaml:6:11", "w.yaml:9:18", "w.yaml:10:7", "w.yaml:13:14"], "{}", out.stderr);
    assert!(out.stderr.contains("help: did you mean `buidling`?"), "a misspelt target gets a suggestion");
    assert!(out.stderr.contains("help: did you mean `else`?"));
}

#[test]
fn loop_strictness_turns_missing_agents_into_errors() {
    let dir = project(&[("w.yaml", "workflow:\n  nodes:\n    - id: lint\n      agent: linter\n")]);
    ralph(["workflow", "validate", "w.yaml"]).current_dir(dir.path()).expect(0);
    let out = ralph(["workflow", "validate", "--strict", "w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("error[undefined-agent]: agent `linter` is not defined"), "{}", out.stderr);
}

#[test]
fn ralph_yaml_in_the_project_defines_agents_for_workflows() {
    let dir = project(&[
        ("ralph.yaml", "agents:\n  linter:\n    backend: command\n    command: cargo fmt --check\n"),
        ("workflows/w.yaml", "workflow:\n  nodes:\n    - id: lint\n      agent: linter\n"),
    ]);
    let out =
        ralph(["workflow", "validate", "--strict", "workflows/w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    // An error in ralph.yaml is reported in ralph.yaml.
    std::fs::write(
        dir.path().join("ralph.yaml"),
        "agents:\n  linter:\n    backend: command\n    comand: x\n",
    )
    .unwrap();
    let out = ralph(["workflow", "validate", "workflows/w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("--> ralph.yaml:4:5"), "{}", out.stderr);
}

#[test]
fn json_output_is_machine_readable() {
    let dir =
        project(&[("w.yaml", "workflow:\n  type: dag\n  nodes:\n    - id: a\n      depends_on: [b]\n")]);
    let out = ralph(["workflow", "validate", "--json", "w.yaml"]).current_dir(dir.path()).expect(3);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let diagnostics = report["files"][0]["diagnostics"].as_array().unwrap();
    let d = diagnostics.iter().find(|d| d["severity"] == "error").unwrap();
    assert_eq!(d["code"], "unknown-node");
    assert_eq!(d["path"], "workflow.nodes[0].depends_on[0]");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(5), Some(20)));
}

#[test]
fn the_plan_and_the_checks_agree_on_a_states_implicit_agent() {
    // `security_scan` names no agent: the phase table gives `security_scanner`, which is defined
    // and therefore used (no `unused-agent` warning), and the plan runs it.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states: [security_scan, complete]\nagents:\n  security_scanner:\n    prompt: PROMPT-SECURITY.md\n",
    )]);
    let out = ralph(["workflow", "validate", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let plan =
        ralph(["workflow", "visualize", "--format", "json", "w.yaml"]).current_dir(dir.path()).expect(0);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(plan["nodes"][0]["agents"], serde_json::json!(["security_scanner"]));
}

#[test]
fn a_misspelled_agent_definition_left_unused_is_named_at_both_places_and_loop_refuses() {
    // See: issue 13, finding 8. `verifer` in ralph.yaml was meant for the state `verify`, whose
    // agent `verifier` then silently runs the bundled PROMPT-VERIFIER.md.
    let dir = project(&[
        ("ralph.yaml", "agents:\n  verifer:\n    command: ./verify.sh\n"),
        (
            "workflows/w.yaml",
            "workflow:\n  states:\n    - id: verify\n      agent: verifier\n    - id: done\n      type: terminal\n  transitions:\n    - from: verify\n      to: done\n",
        ),
    ]);
    let out = ralph(["workflow", "validate", "workflows/w.yaml"]).current_dir(dir.path()).expect(0);
    let want = "warning[misspelled-agent]: agent `verifier` is not defined, so this step runs the bundled prompt `PROMPT-VERIFIER.md`; agent `verifer` is defined and never used
 --> workflows/w.yaml:4:14
  |
4 |       agent: verifier
  |              ^^^^^^^^
  = path: workflow.states[0].agent
  = note: rename one of them so that they match, or say `agent: verifer` here
  = note: `ralph-loop loop` refuses to start until the names match
  = note: agent `verifer` is defined here: ralph.yaml:2:3
  = help: did you mean `verifer`?
";
    assert!(out.stderr.starts_with(want), "{}", out.stderr);
    assert!(!out.stderr.contains("unused-agent"), "no second warning about `verifer`: {}", out.stderr);
    let out =
        ralph(["workflow", "validate", "--strict", "workflows/w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.starts_with(
            &want
                .replace("warning[", "error[")
                .replace("  = note: `ralph-loop loop` refuses to start until the names match\n", "")
        ),
        "{}",
        out.stderr
    );
    let out = ralph(["loop", "--workflow", "workflows/w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(out.stderr.contains("error[misspelled-agent]"), "{}", out.stderr);
    assert!(!dir.path().join(".ralph").exists(), "a refused run records nothing");
    let report = ralph(["workflow", "validate", "--format", "json", "workflows/w.yaml"])
        .current_dir(dir.path())
        .expect(0);
    let report: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    let d = &report["files"][0]["diagnostics"][0];
    assert_eq!(d["related"][0]["file"], "ralph.yaml", "{d}");
    assert_eq!(
        (d["related"][0]["line"].as_u64(), d["related"][0]["column"].as_u64()),
        (Some(2), Some(3)),
        "{d}"
    );
    // Matching names: no finding.
    std::fs::write(dir.path().join("ralph.yaml"), "agents:\n  verifier:\n    command: ./verify.sh\n")
        .unwrap();
    let out =
        ralph(["workflow", "validate", "--strict", "workflows/w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn options_show_only_where_they_apply_and_json_is_spelled_alike() {
    // `--with-changes` is an approval's condition: `reject` does not offer it.
    let reject = ralph(["reject", "--help"]).expect(0);
    assert!(!reject.stdout.contains("--with-changes"), "{}", reject.stdout);
    assert!(ralph(["approve", "--help"]).expect(0).stdout.contains("--with-changes"));
    ralph(["reject", "--with-changes"]).expect(2);
    // `workflow validate --json` is `--format json`, as the other verbs spell it.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
    )]);
    let out = ralph(["workflow", "validate", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true, "{}", out.stdout);
    ralph(["workflow", "validate", "w.yaml", "--json", "--format", "human"])
        .current_dir(dir.path())
        .expect(2);
}
