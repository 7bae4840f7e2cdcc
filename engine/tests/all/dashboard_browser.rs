//! The dashboard end to end, in a real headless Chromium, as a person uses it: a loop started
//! with `--dashboard` in a git work tree, its graph followed live, paused and given a hint with
//! clicks, its human review approved through the workflow's own `review_form.html`, and the run
//! seen to finish. The screenshots it takes of every view are the ones in `docs/screenshots/`
//! (`RALPH_SCREENSHOTS=1` writes them there; otherwise into the test's temporary directory).

use std::path::{Path, PathBuf};

use crate::browser::Browser;
use crate::control::{finish, journal, live, wait_for};
use crate::dashboard::{Announced, announced, serve};
use crate::support::{executable, path_with, ralph, repo, sh};

/// A fake Claude Code: it reads its prompt (kept by the engine under `.ralph/runs/`), changes a
/// file of the project, and reports usage and cost the way the real one's `--output-format json`
/// does.
const CLAUDE: &str = "#!/bin/sh\ncat > /dev/null\necho \"change $(date +%s%N)\" >> src/feature.txt\necho '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"implemented the parser\",\"usage\":{\"input_tokens\":1834,\"output_tokens\":412},\"total_cost_usd\":0.0191}'\n";

const WORKFLOW: &str = r#"version: 1
name: build-and-review
description: Plan, build and verify a task; a person approves it in the browser.
workflow:
  type: state_machine
  initial: planning
  states:
    - id: planning
      agent: planner
    - id: building
      agent: builder
    - id: verifying
      agent: verifier
    - id: review
      type: human
      description: Check the parser before it is merged.
      ui:
        type: web
        template: review_form.html
    - id: done
      type: terminal
  transitions:
    - from: planning
      to: building
    - from: building
      to: verifying
    - from: verifying
      to: review
      condition: success
      else: building
    - from: review
      to: done
      condition: approved
      else: building
agents:
  planner:
    command: "sh -c 'while [ ! -f go ]; do sleep 0.05; done; echo planned the parser'"
  builder:
    backend: claude
    model: sonnet
  verifier:
    command: "sh -c 'test -s src/feature.txt && echo verified: 12 tests passed'"
plugins: [secret-guard]
"#;

const REVIEW_FORM: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Review {{ step }}</title>
<style>body{font:15px system-ui;margin:2em;max-width:46em} textarea{width:100%;height:6em}</style></head>
<body>
<h1>Custom review: {{ step }}</h1>
<p id="custom">Run <code>{{ run_id }}</code> asks you to check the parser.</p>
<textarea id="comment" placeholder="what you think"></textarea>
<p><button id="approve">Approve</button> <button id="approve-with-changes">Approve with changes</button> <button id="reject">Reject</button></p>
<p id="decided" hidden></p>
{{ form_script }}
</body></html>
"#;

const TASKS: &str = r#"{"tasks": [
  {"id": "T1", "title": "Set up the project", "status": "completed", "priority": 1},
  {"id": "T2", "title": "Parse the config file", "status": "pending", "priority": 2, "depends_on": ["T1"]},
  {"id": "T3", "title": "Document the flags", "status": "blocked", "priority": 1, "depends_on": ["T2"]}
]}
"#;

/// A project as users have them: a git work tree with a couple of thousand tracked files,
/// untracked files lying around, and `.ralph/` not ignored.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..2000 {
        let sub = root.join(format!("lib/m{}", i % 40));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.rs")), format!("pub fn f{i}() -> u32 {{ {i} }}\n")).unwrap();
    }
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/feature.txt"), "").unwrap();
    std::fs::write(root.join("w.yaml"), WORKFLOW).unwrap();
    std::fs::write(root.join("review_form.html"), REVIEW_FORM).unwrap();
    std::fs::write(root.join("tasks.json"), TASKS).unwrap();
    std::fs::write(
        root.join("ralph.yaml"),
        "version: 1\nproject:\n  name: parser\nloop:\n  tasks: tasks.json\n  max_iterations: 20\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("bin/claude"), CLAUDE).unwrap();
    executable(&root.join("bin/claude"));
    sh(
        root,
        "git init -q . && git config user.email t@t && git config user.name t && git add -A && git commit -qm init",
    );
    std::fs::write(root.join("notes.txt"), "an untracked file of the user's\n").unwrap();
    std::fs::write(root.join("scratch.log"), "another one\n").unwrap();
    dir
}

/// The loop, killed if the test fails before it ends (it would wait for `go` forever).
struct Killed(Option<std::process::Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where the screenshots go.
fn shots(dir: &Path) -> PathBuf {
    if std::env::var_os("RALPH_SCREENSHOTS").is_some_and(|v| v == "1") {
        repo().join("docs/screenshots")
    } else {
        dir.join("screenshots")
    }
}

#[test]
fn a_person_follows_pauses_hints_and_approves_a_loop_in_the_browser() {
    let dir = project();
    let root = dir.path();
    let shots = shots(&tempfile::tempdir().unwrap().keep());
    std::fs::create_dir_all(&shots).unwrap();
    let mut child = Killed(Some(
        ralph(["loop", "--workflow", "w.yaml", "--commit", "--dashboard", "127.0.0.1:0"])
            .current_dir(root)
            .env("PATH", path_with(&root.join("bin")))
            .spawn_reading_stderr(),
    ));
    let Announced { base, token, rest: said, .. } = announced(child.0.as_mut().unwrap());

    let browser = Browser::start(1400, 900);
    browser.open(&format!("{base}/?token={token}#workflow"));
    // The graph follows the run: the planner's node is drawn running.
    browser.wait(
        "the planning node drawn running",
        60,
        r#"return document.querySelector('#graph g.node.running[data-id="planning"]')"#,
    );
    browser.wait(
        "the live feed open",
        30,
        r##"return document.querySelector("#feed").textContent === "● live""##,
    );
    let url = browser.eval("return location.href");
    assert!(!url.as_str().unwrap().contains(&token), "the token leaves the address bar: {url}");

    // Pause with a click: the loop stands paused after its current step.
    browser.click(r##"#tabs a[href="#overview"]"##);
    browser.click("#pause");
    wait_for("the loop to be paused", 30, || live(root).is_some_and(|s| s["paused"] == true));
    browser.wait(
        "the page to show the pause",
        30,
        r#"return document.querySelector('#state').textContent === 'paused'"#,
    );
    // A hint typed into the page waits for the next prompt.
    browser.type_into("#hint", "keep the parser streaming");
    browser.click("#send-hint");
    wait_for("the hint to be pending", 30, || live(root).is_some_and(|s| s["pending_hints"] == 1));
    browser.click("#resume");
    wait_for("the loop to go on", 30, || live(root).is_some_and(|s| s["paused"] == false));
    std::fs::write(root.join("go"), "").unwrap();

    // The review waits: the overview says so and links the workflow's own form.
    browser.wait("the review link", 60, "return document.querySelector('#review-link')");
    browser.wait(
        "the pace and spend",
        30,
        r#"return document.querySelector('#cards').textContent.includes('tokens')"#,
    );
    browser.screenshot(&shots.join("overview.png"));
    browser.click("#review-link");
    browser.wait("the custom review form", 30, "return document.querySelector('#custom')");
    let custom = browser.text("#custom");
    assert!(custom.contains("asks you to check the parser"), "{custom}");
    let run = journal(root)[0]["run_id"].as_str().unwrap().to_owned();
    assert!(custom.contains(&run), "the template saw the run id: {custom}");
    assert!(browser.text("h1").contains("review"), "and the step");
    browser.type_into("#comment", "looks good, ship it");
    browser.screenshot(&shots.join("review-form.png"));
    browser.click("#approve");
    browser.wait("the decision confirmed", 30, "return !document.querySelector('#decided').hidden");
    let status = finish(child.0.take().unwrap());
    let stderr = said.join().unwrap();
    assert!(status.success(), "the run finishes: {stderr}");

    // The hint reached the building step's prompt.
    let steps = root.join(".ralph/runs").join(&run).join("steps");
    let prompt = std::fs::read_dir(&steps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-building.prompt.md"))
        .expect("the building step's prompt");
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains("keep the parser streaming"), "{prompt}");
    // Every change was journaled as coming from the dashboard.
    let events = journal(root);
    let from_page: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "control" && e["display_name"] == "web dashboard")
        .map(|e| e["signal"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(from_page, ["pause", "hint", "resume", "approve"], "{events:?}");
    let decided = events.iter().find(|e| e["event"] == "review_decided").unwrap();
    assert_eq!(decided["comment"], "looks good, ship it");

    // The loop's own dashboard ended with it; `dashboard --serve` shows the finished run,
    // view by view.
    let served = serve(root, "127.0.0.1:0");
    let base = served.base.clone();
    browser.open(&format!("{base}/?token={}#overview", served.token));
    browser.wait(
        "the run shown finished",
        30,
        r#"return document.querySelector('#state').textContent === 'succeeded'"#,
    );
    browser.open(&format!("{base}/#workflow"));
    browser.wait(
        "the path taken",
        30,
        r#"return document.querySelectorAll('#graph path.edge.taken').length >= 4"#,
    );
    browser.wait(
        "every state but done coloured",
        30,
        r#"return document.querySelector('#graph g.node.succeeded[data-id="verifying"]')"#,
    );
    browser.screenshot(&shots.join("workflow.png"));
    browser.open(&format!("{base}/#timeline"));
    browser.wait("the bars", 30, "return document.querySelectorAll('#gantt .bar.succeeded').length >= 4");
    browser.screenshot(&shots.join("timeline.png"));
    browser.open(&format!("{base}/#steps"));
    browser.wait(
        "the executions",
        30,
        r#"return document.querySelector('#step-list tr[data-step="building"]')"#,
    );
    browser.click(r#"#step-list tr[data-step="building"]"#);
    browser.wait(
        "the building step's prompt and output",
        30,
        r#"return document.querySelector('#step-detail').textContent.includes('keep the parser streaming')"#,
    );
    browser.screenshot(&shots.join("steps.png"));
    browser.open(&format!("{base}/#tasks"));
    browser.wait("the board", 30, "return document.querySelectorAll('#board .task').length === 3");
    browser.screenshot(&shots.join("tasks.png"));
    browser.open(&format!("{base}/#metrics"));
    browser.wait(
        "the spend by agent",
        30,
        r#"return document.querySelector('#by-agent').textContent.includes('builder')"#,
    );
    assert!(
        browser.text("#metric-cards").contains("2,246"),
        "tokens summed: {}",
        browser.text("#metric-cards")
    );
    let by_agent = browser.text("#by-agent");
    assert!(by_agent.contains("claude · sonnet") && by_agent.contains("command"), "{by_agent}");
    browser.screenshot(&shots.join("metrics.png"));
    browser.open(&format!("{base}/#logs"));
    browser.wait("log lines", 30, "return document.querySelectorAll('#log-lines tbody tr').length > 10");
    browser.type_into("#log-text", "approve");
    browser.wait(
        "the filter applied",
        30,
        "return document.querySelectorAll('#log-lines tbody tr').length <= 3",
    );
    browser.screenshot(&shots.join("logs.png"));
    browser.open(&format!("{base}/#agents"));
    browser.wait("the agents", 30, "return document.querySelectorAll('#agent-table tbody tr').length === 3");
    browser.screenshot(&shots.join("agents.png"));
    browser.open(&format!("{base}/#plugins"));
    browser.wait(
        "the secret guard",
        30,
        r#"return document.querySelector('#plugin-table').textContent.includes('secret-guard')"#,
    );
    browser.screenshot(&shots.join("plugins.png"));
    browser.open(&format!("{base}/#git"));
    browser.wait(
        "the run's commit",
        30,
        "return document.querySelectorAll('#commit-table code').length >= 1",
    );
    let head = sh(root, "git rev-parse HEAD");
    assert!(head.starts_with(browser.text("#commit-table code").trim()), "the page shows HEAD {head}");
    browser.screenshot(&shots.join("git.png"));
    browser.open(&format!("{base}/#runs"));
    browser.wait("the run listed", 30, "return document.querySelector('#runs button')");
    browser.click("#runs button");
    // The check invokes no agent: the dashboard's process has no `claude` on its PATH, and
    // needs none.
    let check = browser.wait(
        "its replay check",
        60,
        r#"return document.querySelector('#runs td span.st')?.textContent"#,
    );
    assert!(check.as_str().unwrap().starts_with("replays the same"), "{check}");
    browser.screenshot(&shots.join("runs.png"));
}
