//! `workflow visualize`: golden diagrams, Graphviz renders them, and the Mermaid edge set is
//! exactly the plan's.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{assert_matches_file, project, ralph, repo, yaml_files};

fn bundled() -> Vec<PathBuf> {
    yaml_files("workflows")
}

fn draw(file: &std::path::Path, format: &str) -> String {
    ralph(["workflow", "visualize", "--format", format]).arg(file).current_dir(repo()).expect(0).stdout
}

#[test]
fn diagrams_of_the_bundled_workflows_match_their_golden_files() {
    for file in bundled() {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert_matches_file(&draw(&file, "mermaid"), &repo().join(format!("engine/tests/golden/{stem}.mmd")));
        assert_matches_file(&draw(&file, "dot"), &repo().join(format!("engine/tests/golden/{stem}.dot")));
    }
}

#[test]
fn graphviz_renders_every_bundled_workflow() {
    for file in bundled() {
        let dot = draw(&file, "dot");
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("w.dot");
        std::fs::write(&input, &dot).unwrap();
        let out =
            Command::new("dot").arg("-Tsvg").arg(&input).output().expect(
                "graphviz `dot` is installed (the test script installs it: apt-get install graphviz)",
            );
        assert!(
            out.status.success(),
            "{}: dot failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "{}: no SVG", file.display());
    }
}

/// Decodes Mermaid's `#NN;` entities.
fn decode(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('#') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after
            .split_once(';')
            .and_then(|(n, r)| n.parse::<u32>().ok().and_then(char::from_u32).map(|c| (c, r)))
        {
            Some((c, r)) => {
                out.push(c);
                rest = r;
            }
            None => {
                out.push('#');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The (from, to, label) triples of a Mermaid diagram, ids mapped back to names.
fn mermaid_edges(text: &str) -> BTreeSet<(String, String, String)> {
    let mut names = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("state \"")
            && let Some((label, id)) = rest.rsplit_once("\" as ")
        {
            let name = label.split(" (").next().unwrap_or(label);
            names.insert(id.to_owned(), decode(name));
        }
        if let Some((id, rest)) = line.split_once("([\"").or_else(|| line.split_once("[\"")) {
            let name =
                rest.split("<br/>").next().unwrap_or(rest).trim_end_matches("\"])").trim_end_matches("\"]");
            names.insert(id.to_owned(), decode(name));
        }
    }
    let mut edges = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        let arrow = if line.contains(" -->") {
            " -->"
        } else if line.contains(" -.->") {
            " -.->"
        } else {
            continue;
        };
        let (from, rest) = line.split_once(arrow).unwrap();
        let rest = rest.trim_start();
        let (to, label) = if let Some(r) = rest.strip_prefix('|') {
            let (label, to) = r.split_once("| ").unwrap();
            (to.trim(), label.to_owned())
        } else if let Some((to, label)) = rest.split_once(": ") {
            (to.trim(), label.to_owned())
        } else {
            (rest.trim(), String::new())
        };
        if from == "[*]" || to == "[*]" {
            continue;
        }
        let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
        edges.insert((name(from), name(to), decode(&label)));
    }
    edges
}

/// The label the plan says an edge has: its kind for fallbacks, else its written condition.
fn plan_label(edge: &serde_json::Value) -> String {
    match edge["kind"].as_str().unwrap() {
        "else" => "else".into(),
        "timeout" => "timeout".into(),
        "compensate" => "on failure".into(),
        "next" => String::new(),
        _ => match edge["condition"].as_str() {
            Some("success") | None => String::new(),
            Some(c) => c.trim().to_owned(),
        },
    }
}

#[test]
fn mermaid_has_exactly_the_edges_of_the_plan() {
    let mut files = bundled();
    files.extend(yaml_files("engine/tests/cases/valid"));
    let mut drawn = 0;
    for file in files {
        let dir = file.parent().unwrap();
        let out = ralph(["workflow", "visualize", "--format", "json"]).arg(&file).current_dir(dir).output();
        if out.code != 0 {
            continue; // configuration-only seed examples have nothing to draw
        }
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let continue_labels: std::collections::HashMap<String, String> = plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| {
                let on = n["continue_on"].as_array()?;
                (!on.is_empty()).then(|| {
                    let list: Vec<&str> = on.iter().map(|v| v.as_str().unwrap()).collect();
                    (n["id"].as_str().unwrap().to_owned(), format!("also on {}", list.join(", ")))
                })
            })
            .collect();
        let want: BTreeSet<(String, String, String)> = plan["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let from = e["from"].as_str().unwrap().to_owned();
                let mut label = plan_label(e);
                if label.is_empty() && e["kind"] == "dependency" {
                    label = continue_labels.get(&from).cloned().unwrap_or_default();
                }
                (from, e["to"].as_str().unwrap().to_owned(), label)
            })
            .collect();
        let mermaid = ralph(["workflow", "visualize"]).arg(&file).current_dir(dir).expect(0).stdout;
        assert_eq!(mermaid_edges(&mermaid), want, "{}:\n{mermaid}", file.display());
        drawn += 1;
    }
    assert!(drawn >= 10, "only {drawn} workflows were drawn");
}

#[test]
fn else_edges_are_drawn_differently_from_transitions() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states: [building, verifying, done]\n  transitions:\n    - from: building\n      to: verifying\n      condition: build_success\n      else: building\n    - from: verifying\n      to: done\n",
    )]);
    let mermaid = ralph(["workflow", "visualize", "w.yaml"]).current_dir(dir.path()).expect(0).stdout;
    assert!(mermaid.contains("building --> verifying: build_success"), "{mermaid}");
    assert!(mermaid.contains("building --> building: else"), "{mermaid}");
    let dot = ralph(["workflow", "visualize", "--format", "dot", "w.yaml"])
        .current_dir(dir.path())
        .expect(0)
        .stdout;
    assert!(dot.contains("\"building\" -> \"building\" [label=\"else\", style=dashed]"), "{dot}");
}

#[test]
fn an_invalid_workflow_is_not_drawn() {
    let dir =
        project(&[("w.yaml", "workflow:\n  states: [a]\n  transitions:\n    - from: a\n      to: b\n")]);
    let out = ralph(["workflow", "visualize", "w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("unknown-state"));
}

#[test]
fn the_mermaid_parser_accepts_every_diagram() {
    // Every bundled workflow and every seed example that has a workflow, drawn and parsed by
    // the real Mermaid parser (engine/tests/mermaid, installed by scripts/test.sh).
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for file in bundled().into_iter().chain(yaml_files("engine/tests/cases/valid")) {
        let out = ralph(["workflow", "visualize"]).arg(&file).current_dir(file.parent().unwrap()).output();
        if out.code != 0 {
            continue;
        }
        let target = dir.path().join(format!("{}.mmd", file.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&target, out.stdout).unwrap();
        files.push(target);
    }
    assert!(files.len() >= 10);
    let checker = repo().join("engine/tests/mermaid");
    assert!(
        checker.join("node_modules/mermaid").is_dir(),
        "the Mermaid parser is not installed: run `npm ci` in engine/tests/mermaid (scripts/test.sh does)"
    );
    let out = Command::new("node").arg(checker.join("parse.mjs")).args(&files).output().expect("node runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
