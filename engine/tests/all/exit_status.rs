//! Exit statuses, as scripts see them: 0 succeeded, 1 the run failed or was stopped (or a check
//! found something), 2 usage, 3 invalid workflow or configuration, 4 environment — for every
//! verb family. See: issue 13, finding 11.

use crate::support::{project, ralph};

const OK: &str =
    "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"echo fine\"\n";
const FAILING: &str =
    "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"echo broken; exit 1\"\n";
const INVALID: &str = "workflow:\n  nodes:\n    - id: a\n      depends_on: [b]\n      agent: t\nagents:\n  t:\n    command: \"true\"\n";
const CLAUDE: &str = "workflow:\n  nodes:\n    - id: build\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    prompt: PROMPT-BUILDER.md\n";

/// Runs `args` in `dir` and checks the status; returns stderr.
fn status(dir: &std::path::Path, args: &[&str], code: i32) -> String {
    let out = ralph(args.iter().copied()).current_dir(dir).output();
    assert_eq!(
        out.code,
        code,
        "`ralph-loop {}` exited {} (want {code})\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.code,
        out.stdout,
        out.stderr
    );
    out.stderr
}

#[test]
fn every_verb_family_exits_with_the_documented_status() {
    let dir = project(&[
        ("ok.yaml", OK),
        ("failing.yaml", FAILING),
        ("invalid.yaml", INVALID),
        ("workflows/ok.yaml", OK),
    ]);
    let d = dir.path();
    // 0: it did what it was asked.
    status(d, &["workflow", "validate", "ok.yaml"], 0);
    status(d, &["loop", "--workflow", "ok.yaml"], 0);
    status(d, &["runs"], 0);
    // 1: the run failed; a check found something; what was asked did not happen.
    status(d, &["loop", "--workflow", "failing.yaml"], 1);
    status(d, &["pause"], 1);
    status(d, &["approve"], 1);
    // 2: usage: flags, unknown runs, steps and snapshots, a verb used where it cannot apply.
    status(d, &["loop", "--workflw", "ok.yaml"], 2);
    status(d, &["runs", "--limit", "many"], 2);
    status(d, &["workflow", "validate", "missing.yaml"], 2);
    let unknown = status(d, &["debug", "--iteration", "1", "--run", "nope"], 2);
    assert!(unknown.contains("there is no run `nope`"), "{unknown}");
    status(d, &["traces", "--run", "nope"], 2);
    status(d, &["metrics", "--run", "nope"], 2);
    status(d, &["logs", "--run", "nope"], 2);
    status(d, &["inspect", "--phase", "nope"], 2);
    status(d, &["snapshots", "nope"], 2);
    status(d, &["resume", "nope"], 2);
    status(d, &["retry", "nope", "--from", "a"], 2);
    status(d, &["replay", "--from-state", "nope@1"], 2);
    status(d, &["replay", "--check", "nope", "--workflow", "ok.yaml"], 2);
    status(d, &["init", "--template", "nope"], 2);
    status(d, &["plugin", "info", "nope"], 2);
    // 3: an invalid workflow or configuration.
    status(d, &["workflow", "validate", "invalid.yaml"], 3);
    status(d, &["workflow", "visualize", "invalid.yaml"], 3);
    status(d, &["loop", "--workflow", "invalid.yaml"], 3);
    std::fs::write(d.join("ralph.yaml"), "loop:\n  max_iteration: 3\n").unwrap();
    status(d, &["loop", "--workflow", "ok.yaml"], 3);
    status(d, &["dashboard", "--no-check"], 3);
    status(d, &["plugin", "list"], 3);
    std::fs::remove_file(d.join("ralph.yaml")).unwrap();
    // 4: the environment: a store that is a file, or corrupt.
    std::fs::write(d.join("not-a-dir"), "").unwrap();
    for args in [
        &["--state-dir", "not-a-dir", "loop", "--workflow", "ok.yaml"][..],
        &["--state-dir", "not-a-dir", "runs"],
        &["--state-dir", "not-a-dir", "debug", "--iteration", "1"],
    ] {
        let said = status(d, args, 4);
        assert!(said.contains("not-a-dir"), "{said}");
    }
    let db = d.join(".ralph/state/db");
    for entry in std::fs::read_dir(&db).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let len = std::fs::metadata(&path).unwrap().len();
            std::fs::write(&path, vec![0x5A; len as usize]).unwrap();
        }
    }
    for args in [&["runs"][..], &["logs"], &["loop", "--workflow", "ok.yaml"], &["resume"]] {
        let said = status(d, args, 4);
        assert!(said.contains("is corrupt"), "{said}");
    }
}

#[test]
fn an_agent_that_cannot_work_here_ends_the_run_with_status_4() {
    // Its program is missing: the machine's fault, not the task's or the workflow's. (Until the
    // runner classifies failures, it is caught before the run starts; a run that meets it
    // half-way ends with the failure class `environment`, and the same status.)
    let dir = project(&[("w.yaml", CLAUDE)]);
    let out =
        ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).env("PATH", "/nonexistent").output();
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("`claude` is not on PATH"), "{}", out.stderr);
}

#[test]
fn help_documents_the_exit_statuses() {
    let out = ralph(["--help"]).expect(0);
    for line in [
        "Exit status:",
        "  0  succeeded",
        "  1  the run failed or was stopped",
        "  2  usage",
        "  3  invalid workflow, configuration",
        "  4  environment",
    ] {
        assert!(out.stdout.contains(line), "`--help` lacks {line:?}:\n{}", out.stdout);
    }
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |"] {
        assert!(readme.contains(code), "the README's exit status table lacks {code}");
    }
}
