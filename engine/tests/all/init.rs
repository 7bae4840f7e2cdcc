//! `ralph-loop init`: every template makes a project that validates and runs.

use crate::support::ralph;

fn init(dir: &std::path::Path, template: &str, extra: &[&str]) -> crate::support::Output {
    ralph(["init", "--template", template]).args_from(extra).current_dir(dir).expect(0)
}

#[test]
fn every_template_validates_strictly_and_a_second_init_keeps_the_files() {
    for template in ["basic", "advanced", "dag", "saga"] {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), template, &["--with-plugins", "--with-dashboard"]);
        for file in ["ralph.yaml", "TODO.md", "AGENTS.md", "SPEC.md", "PROMPT.md", ".gitignore"] {
            assert!(dir.path().join(file).is_file(), "{template}: {file}");
        }
        assert!(dir.path().join("plugins").is_dir() && dir.path().join("monitoring").is_dir());
        let workflow =
            std::fs::read_dir(dir.path().join("workflows")).unwrap().next().unwrap().unwrap().path();
        ralph(["workflow", "validate", "--strict", "--deny-warnings"])
            .arg(&workflow)
            .current_dir(dir.path())
            .expect(0);
        std::fs::write(dir.path().join("TODO.md"), "mine\n").unwrap();
        let again = init(dir.path(), template, &[]);
        assert!(again.stderr.contains("kept    TODO.md"), "{}", again.stderr);
        assert_eq!(std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(), "mine\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = ralph(["init", "--template", "nope"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("choose one of basic, advanced, dag, saga"), "{}", out.stderr);
}

#[test]
fn the_saga_template_runs_its_scripts_and_an_ai_template_names_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "saga", &[]);
    // `loop.workflow` in the template's ralph.yaml names the workflow: no flag needed.
    ralph(["loop"]).current_dir(dir.path()).expect(0);
    // One pass of the saga per task of the template's TODO.md, each checked off.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("saga.log")).unwrap(),
        "schema up\ndata apply\ndeploy --env production\n".repeat(2)
    );
    let todo = std::fs::read_to_string(dir.path().join("TODO.md")).unwrap();
    assert_eq!(todo.matches("- [x] ").count(), 2, "{todo}");
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "basic", &[]);
    // No agent program on PATH: the environment's failure (4), not the workflow's.
    let out = ralph(["loop"]).current_dir(dir.path()).env("PATH", "/usr/bin:/bin").expect(4);
    assert!(
        out.stderr.contains("needs an AI backend") && out.stderr.contains("npm install -g"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join(".ralph").exists(), "nothing is recorded for a run that cannot start");
}

#[test]
fn the_basic_template_runs_with_an_agent_cli_installed() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "basic", &[]);
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("claude"), crate::seeds::FAKE_CLAUDE).unwrap();
    crate::support::executable(&bin.join("claude"));
    let path = crate::support::path_with(&bin);
    let out = ralph(["loop", "--json"]).current_dir(dir.path()).env("PATH", path).expect(0);
    assert!(out.stdout.contains("\"status\":\"succeeded\""), "{}", out.stdout);
}

/// The seed's PyWiggum example (`seeds/000`: its Configuration block verbatim, with the
/// roadmap's `routing:` and `escalation:` blocks) and its Kanban Format example.
fn wiggum_fixture(name: &str) -> String {
    std::fs::read_to_string(crate::support::repo().join("engine/tests/fixtures/wiggum").join(name)).unwrap()
}

fn init_from(dir: &std::path::Path, code: i32) -> crate::support::Output {
    ralph(["init", "--from", "wiggum.yaml"]).current_dir(dir).expect(code)
}

#[test]
fn init_from_converts_the_pywiggum_example_into_a_project_that_validates_and_works_its_kanban() {
    // The seed's kanban, and a planning task, which `routing.planning` sends to Claude Code.
    let mut kanban: serde_json::Value = serde_json::from_str(&wiggum_fixture("kanban.json")).unwrap();
    let planning = serde_json::json!({"id": "M2.2", "title": "Plan the API", "description": "Write the API plan", "type": "planning", "status": "todo"});
    kanban["milestones"][1]["tasks"].as_array_mut().unwrap().push(planning);
    let dir = crate::support::project(&[
        ("wiggum.yaml", &wiggum_fixture("wiggum.yaml")),
        ("kanban.json", &serde_json::to_string_pretty(&kanban).unwrap()),
        ("bin/opencode", &wiggum_fixture("fake-agent")),
        ("bin/claude", &wiggum_fixture("fake-agent")),
    ]);
    crate::support::executable(&dir.path().join("bin/opencode"));
    crate::support::executable(&dir.path().join("bin/claude"));
    let out = init_from(dir.path(), 0);
    let ralph_yaml = std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap();
    for line in [
        "  name: \"My Awesome Project\"",
        "  tasks: \"kanban.json\"",
        "  max_iterations: 50",
        "  auto_commit: true",
        "  commit_message: \"{task_id}: {task_title}\"",
        "  backend: opencode",
        "    model: \"vllm/qwen3-coder-next\"",
        "    timeout: 600s",
        "  planning: {backend: claude, model: \"claude-sonnet-4-5\"}",
        "  code: \"vllm/qwen3-coder-next\"",
        "  trigger_after: 3",
    ] {
        assert!(ralph_yaml.lines().any(|l| l == line), "`{line}` is not in ralph.yaml:\n{ralph_yaml}");
    }
    let agents = std::fs::read_to_string(dir.path().join("AGENTS.md")).unwrap();
    assert!(
        agents.contains("## 2. Tech stack\n\nSvelteKit 5, TypeScript, better-sqlite3, Tailwind CSS\n"),
        "{agents}"
    );
    assert!(agents.contains("## 5. Conventions\n\nAll database code in src/lib/server/db.ts\n"), "{agents}");
    // The report: every setting of the file, carried over or not, the latter with what to do.
    let report = &out.stderr;
    for carried in [
        "project.kanban            → ralph.yaml loop.tasks",
        "agent.model               → ralph.yaml agents.builder.model",
        "prompt.tech_stack         → AGENTS.md ## 2. Tech stack",
        "routing.planning          → ralph.yaml routing.planning (for tasks whose `type`, `role` or a label is `planning`; `anthropic/claude-sonnet-4-5` runs on `claude` as `claude-sonnet-4-5`)",
    ] {
        assert!(report.contains(carried), "{carried}:\n{report}");
    }
    let dropped = &report[report.find("not carried over:").expect(report)..];
    for (setting, instead) in [
        ("runner.sleep_between", "`budget: {cooldown: 3s}`"),
        ("dashboard.port, dashboard.host", "`ralph-loop loop --dashboard 0.0.0.0:3333`"),
        ("dashboard.refresh_interval", "nothing"),
        ("escalation.api_key_env", "keep `ANTHROPIC_API_KEY` set"),
    ] {
        let at = dropped.find(&format!("  {setting}: ")).unwrap_or_else(|| panic!("{setting}:\n{report}"));
        let instead_line = dropped[at..].lines().nth(1).unwrap();
        assert!(
            instead_line.starts_with("    instead: ") && instead_line.contains(instead),
            "{setting}: {instead_line}"
        );
    }
    ralph(["workflow", "validate", "--strict", "--deny-warnings", "workflows/wiggum.yaml"])
        .current_dir(dir.path())
        .expect(0);
    // It runs: the fake OpenCode (the real program's captured events) works each task, Claude
    // Code the planning task, and the loop marks the kanban's tasks done and commits each with
    // PyWiggum's commit format.
    crate::support::git_repo(dir.path());
    let run = ralph(["loop"])
        .current_dir(dir.path())
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .env("FIXTURES", crate::support::repo().join("engine/tests/fixtures"))
        .expect(0);
    let kanban: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("kanban.json")).unwrap()).unwrap();
    for task in kanban["milestones"].as_array().unwrap().iter().flat_map(|m| m["tasks"].as_array().unwrap()) {
        assert_eq!(task["status"], "done", "{kanban}\n{}", run.stderr);
    }
    let agents = std::fs::read_to_string(dir.path().join("agents.txt")).unwrap();
    assert_eq!(
        agents,
        "M1.1 opencode vllm/qwen3-coder-next\nM2.1 opencode vllm/qwen3-coder-next\nM2.2 claude claude-sonnet-4-5\n"
    );
    let log = crate::support::sh(dir.path(), "git log --format=%s -3");
    assert_eq!(log, "M2.2: Plan the API\nM2.1: Create database schema\nM1.1: Initialize SvelteKit project\n");
}

#[test]
fn init_from_writes_our_backend_names_and_says_what_changed_and_what_has_no_place() {
    let claude = "agent:\n  backend: claude_code\n  model: anthropic/claude-sonnet-4-5\n  api_key_env: ANTHROPIC_API_KEY\nproject:\n  work_dir: app\nrunner:\n  commit_after_task: yes\n  commit_format: \"[{milestone}] {task_title}\"\n";
    let dir = crate::support::project(&[("wiggum.yaml", claude)]);
    let out = init_from(dir.path(), 0);
    let ralph_yaml = std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap();
    assert!(
        ralph_yaml.contains("  backend: claude\n")
            && ralph_yaml.contains("    model: \"claude-sonnet-4-5\"\n"),
        "{ralph_yaml}"
    );
    assert!(ralph_yaml.contains("  auto_commit: true\n"), "PyYAML reads `yes` as true:\n{ralph_yaml}");
    for said in [
        "agent.backend             → ralph.yaml loop.backend (PyWiggum's `claude_code` is ralph-loop's `claude`)",
        "(`anthropic/claude-sonnet-4-5` became `claude-sonnet-4-5`: Claude Code names models without a provider)",
        "(ralph-loop does not replace `{milestone}`: it stays as written)",
        "  agent.api_key_env: only the `api` backend uses it, and the builder runs on `claude`",
        "  project.work_dir: ralph-loop runs agents in the project directory, where ralph.yaml is\n    instead: make the project there: `ralph-loop init app --from wiggum.yaml`",
        "note: the task file `kanban.json` (PyWiggum's default) is not in",
    ] {
        assert!(out.stderr.contains(said), "{said}:\n{}", out.stderr);
    }
    ralph(["workflow", "validate", "--strict", "--deny-warnings", "workflows/wiggum.yaml"])
        .current_dir(dir.path())
        .expect(0);
    // `api` is the `openai` backend: the server and the key's variable are the agent's, and an
    // escalation on the same server keeps its own key's variable.
    let api = "agent:\n  backend: api\n  model: gpt-4\n  api_base_url: http://localhost:8000/v1\n  api_key_env: OPENAI_API_KEY\nescalation:\n  trigger_after: 2\n  model: gpt-5\n  api_key_env: BIG_KEY\n";
    let dir = crate::support::project(&[("wiggum.yaml", api)]);
    init_from(dir.path(), 0);
    let ralph_yaml = std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap();
    for line in [
        "  backend: openai",
        "    model: \"gpt-4\"",
        "    base_url: \"http://localhost:8000/v1\"",
        "    api_key_env: \"OPENAI_API_KEY\"",
        "  model: \"gpt-5\"",
        "  api_key_env: \"BIG_KEY\"",
    ] {
        assert!(ralph_yaml.lines().any(|l| l == line), "`{line}`:\n{ralph_yaml}");
    }
    ralph(["workflow", "validate", "--strict", "--deny-warnings", "workflows/wiggum.yaml"])
        .current_dir(dir.path())
        .expect(0);
}

#[test]
fn init_from_refuses_a_missing_file_bad_yaml_unknown_keys_and_backends_at_their_place() {
    let dir = crate::support::project(&[]);
    let out = init_from(dir.path(), 2);
    assert!(out.stderr.contains("`wiggum.yaml` does not exist"), "{}", out.stderr);
    let cases = [
        ("project:\n  name: \"x\nagent:\n  backend: opencode\n", "invalid YAML", "--> wiggum.yaml:2:9", None),
        (
            "project:\n  name: x\nruner:\n  max_iterations: 5\n",
            "unknown key `runer` at the top level",
            "--> wiggum.yaml:3:1",
            Some("runner"),
        ),
        ("agent:\n  modle: x\n", "unknown key `modle` in `agent`", "--> wiggum.yaml:2:3", Some("model")),
        (
            "agent:\n  backend: claude-code\n",
            "unknown agent backend `claude-code`",
            "--> wiggum.yaml:2:12",
            Some("claude_code"),
        ),
        (
            "runner:\n  max_iterations: many\n",
            "`runner.max_iterations` has the wrong type",
            "--> wiggum.yaml:2:19",
            None,
        ),
    ];
    for (text, message, at, suggestion) in cases {
        let dir = crate::support::project(&[("wiggum.yaml", text)]);
        let out = init_from(dir.path(), 3);
        assert!(out.stderr.contains(message) && out.stderr.contains(at), "{message}:\n{}", out.stderr);
        if let Some(name) = suggestion {
            assert!(out.stderr.contains(&format!("help: did you mean `{name}`?")), "{}", out.stderr);
        }
        assert!(
            !dir.path().join("ralph.yaml").exists(),
            "nothing is written from a file that does not convert"
        );
    }
}

#[test]
fn init_from_keeps_an_existing_ralph_yaml_and_names_what_to_merge_into_it() {
    let dir = crate::support::project(&[
        ("wiggum.yaml", &wiggum_fixture("wiggum.yaml")),
        ("ralph.yaml", "# mine\nloop:\n  max_iterations: 7\n"),
    ]);
    let out = init_from(dir.path(), 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap(),
        "# mine\nloop:\n  max_iterations: 7\n"
    );
    assert!(out.stderr.contains("kept    ralph.yaml (it exists)"), "{}", out.stderr);
    let merge = &out.stderr[out.stderr.find("merge by hand: ralph.yaml was kept").expect(&out.stderr)..];
    for setting in [
        "project.kanban → loop.tasks",
        "agent.model → agents.builder.model",
        "routing.planning → routing.planning",
    ] {
        assert!(merge.contains(setting), "{setting}:\n{}", out.stderr);
    }
    assert!(!merge.contains("prompt.tech_stack"), "AGENTS.md was written: {}", out.stderr);
    assert!(dir.path().join("AGENTS.md").is_file() && dir.path().join("workflows/wiggum.yaml").is_file());
}

#[test]
fn init_from_carries_the_escalation_a_stuck_loop_then_takes() {
    // Three tasks in a row that fail make the seed's `trigger_after: 3`: the next task's builder
    // runs on the escalation's model, on Claude Code.
    let task = |id: &str, title: &str| serde_json::json!({"id": id, "title": title, "description": title, "status": "todo"});
    let kanban = serde_json::json!({"milestones": [{"id": "M1", "name": "Stuck", "blocked_by": [], "tasks": [
        task("T1", "FAIL one"), task("T2", "FAIL two"), task("T3", "FAIL three"), task("T4", "Four"),
    ]}]});
    let dir = crate::support::project(&[
        ("wiggum.yaml", &wiggum_fixture("wiggum.yaml")),
        ("kanban.json", &serde_json::to_string_pretty(&kanban).unwrap()),
        ("bin/opencode", &wiggum_fixture("fake-agent")),
        ("bin/claude", &wiggum_fixture("fake-agent")),
    ]);
    crate::support::executable(&dir.path().join("bin/opencode"));
    crate::support::executable(&dir.path().join("bin/claude"));
    init_from(dir.path(), 0);
    crate::support::git_repo(dir.path());
    // The run fails, as three of its tasks did.
    ralph(["loop"])
        .current_dir(dir.path())
        .env("PATH", crate::support::path_with(&dir.path().join("bin")))
        .env("FIXTURES", crate::support::repo().join("engine/tests/fixtures"))
        .expect(1);
    let agents = std::fs::read_to_string(dir.path().join("agents.txt")).unwrap();
    let want = "T1 opencode vllm/qwen3-coder-next\nT2 opencode vllm/qwen3-coder-next\nT3 opencode vllm/qwen3-coder-next\nT4 claude claude-sonnet-4-5\n";
    assert_eq!(agents, want);
    let board = std::fs::read_to_string(dir.path().join("kanban.json")).unwrap();
    assert_eq!(board.matches("\"status\": \"failed\"").count(), 3, "{board}");
    assert_eq!(board.matches("\"status\": \"done\"").count(), 1, "{board}");
}
