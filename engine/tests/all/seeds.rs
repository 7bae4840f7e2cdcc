//! Every workflow example of the seed runs to its end with a fake agent CLI: a `claude` on PATH
//! that speaks Claude Code's stream-json and reports the first outcome its packet asks for.
//! Agents a seed leaves undefined get a `PROMPT-<NAME>.md`, as a user would write; human
//! reviews are approved with `ralph-loop approve` while the run waits.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{project, ralph, repo};

/// A fake Claude Code: checks its flags and its stacked prompt, records its step, reports the
/// first outcome its packet lists, and prints a real stream-json session.
pub const FAKE_CLAUDE: &str = r#"#!/usr/bin/env python3
import json, os, sys
argv = " ".join(sys.argv[1:])
if "-p --output-format stream-json --verbose" not in argv:
    sys.exit("unexpected flags: " + argv)
prompt = sys.stdin.read()
step = os.environ["RALPH_STEP"]
if "Perform the `%s` step" % step not in prompt:
    sys.exit("no steering context in the prompt")
packet = json.load(open(os.environ["RALPH_PACKET_FILE"]))
with open("trace.txt", "a") as trace:
    trace.write(step + "\n")
outcomes = packet["instructions"].get("outcomes", [])
if outcomes:
    json.dump({"outcome": outcomes[0], "summary": "did " + step}, open(os.environ["RALPH_RESULT_FILE"], "w"))
print(json.dumps({"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-sonnet-4"}))
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "done " + step,
                  "total_cost_usd": 0.01, "usage": {"input_tokens": 100, "output_tokens": 10}}))
"#;

fn seed_workflows() -> Vec<std::path::PathBuf> {
    crate::support::yaml_files("engine/tests/cases/valid")
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seed-"))
        .filter(|p| std::fs::read_to_string(p).unwrap().lines().any(|l| l.starts_with("workflow:")))
        .collect()
}

/// Writes a prompt for every agent the workflow leaves undefined.
fn define_missing_agents(dir: &Path) {
    let out = ralph(["workflow", "validate", "w.yaml", "--format", "json"]).current_dir(dir).output();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let text = report.to_string();
    for piece in text.split("agent `").skip(1) {
        let name = piece.split('`').next().unwrap();
        if piece[name.len()..].starts_with("` is not defined") {
            std::fs::write(
                dir.join(format!("PROMPT-{}.md", name.to_uppercase())),
                format!("You are {name}.\n"),
            )
            .unwrap();
        }
    }
}

#[test]
fn every_seed_workflow_runs_to_its_end_with_a_fake_agent() {
    let seeds = seed_workflows();
    assert!(seeds.len() >= 6, "{seeds:?}");
    for seed in seeds {
        let name = seed.file_stem().unwrap().to_string_lossy().into_owned();
        let dir =
            project(&[("w.yaml", &std::fs::read_to_string(&seed).unwrap()), ("bin/claude", FAKE_CLAUDE)]);
        crate::support::executable(&dir.path().join("bin/claude"));
        // The files a seed names beside it (`review_form.html`) are there too.
        for entry in std::fs::read_dir(seed.parent().unwrap()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "html") {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        define_missing_agents(dir.path());
        let path = crate::support::path_with(&dir.path().join("bin"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_ralph-loop"))
            .args(["loop", "--workflow", "w.yaml", "--json"])
            .current_dir(dir.path())
            .env("PATH", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut events = Vec::new();
        for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if event["event"] == "review_requested" {
                ralph(["approve", "--comment", "ship it"]).current_dir(dir.path()).expect(0);
            }
            events.push(event);
        }
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let end = events
            .iter()
            .rfind(|e| e["event"] == "run_finished")
            .unwrap_or_else(|| panic!("{name}: {stderr}"));
        assert_eq!(end["status"], "succeeded", "{name}: {end}\n{stderr}");
        assert!(status.success(), "{name}");
        let steps = events.iter().filter(|e| e["event"] == "step_finished").count();
        let packets = events.iter().filter(|e| e["type"] == "packet").count();
        assert!(steps > 0 && packets >= steps, "{name}: {steps} steps, {packets} packets");
        let run = dir.path().join(".ralph/runs").join(events[0]["run_id"].as_str().unwrap());
        let prompts = std::fs::read_dir(run.join("steps"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".prompt.md"))
            .count();
        let trace = std::fs::read_to_string(dir.path().join("trace.txt")).unwrap_or_default();
        assert_eq!(prompts, trace.lines().count(), "{name}: a kept prompt per agent invocation");
        eprintln!("{name}: {steps} steps, {prompts} prompts — {}", end["reason"]);
    }
    let _ = repo();
}
