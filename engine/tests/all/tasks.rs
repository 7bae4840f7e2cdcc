//! The Ralph loop over task files: TODO.md, tasks.json and kanban.json are consumed in order
//! and updated in place; `--commit` makes one commit per task; `max_iterations` bounds the
//! agent invocations of the whole run.

use crate::support::{events, project, ralph};

/// A one-node workflow whose agent appends the task it was given to `work.txt`, and fails for
/// tasks whose title says `FAIL`.
const WORKFLOW: &str = r#"workflow:
  nodes:
    - id: work
      agent: worker
agents:
  worker:
    command: |
      task=$(python3 -c 'import json,os; print(json.load(open(os.environ["RALPH_PACKET_FILE"]))["context"]["current_task"]["id"])')
      echo "$task" >> work.txt
      case "$(cat "$RALPH_PACKET_FILE")" in *FAIL*) exit 1 ;; esac
"#;

fn run(dir: &std::path::Path, extra: &[&str], code: i32) -> Vec<serde_json::Value> {
    events(
        &ralph(["loop", "--workflow", "w.yaml", "--json"])
            .args_from(extra)
            .current_dir(dir)
            .expect(code)
            .stdout,
    )
}

#[test]
fn todo_md_is_worked_through_in_order_and_checked_off_in_place() {
    let todo = "# Work\r\n\r\nIntro text.\r\n\r\n- [x] T-1: already done\r\n- [ ] T-2: second\r\n  - [ ] T-3: child first\r\n* [ ] T-4: FAIL this one\r\n1. [ ] T-5: last\r\n";
    let dir = project(&[("w.yaml", WORKFLOW), ("TODO.md", todo)]);
    let dry = ralph(["loop", "--workflow", "w.yaml", "--dry-run"]).current_dir(dir.path()).expect(0);
    assert!(dry.stdout.contains("\"id\": \"T-3\""), "the dry run shows the first task: {}", dry.stdout);
    assert!(!dir.path().join("work.txt").exists());
    let events = run(dir.path(), &[], 1);
    assert_eq!(std::fs::read_to_string(dir.path().join("work.txt")).unwrap(), "T-3\nT-2\nT-4\nT-5\n");
    let after = std::fs::read_to_string(dir.path().join("TODO.md")).unwrap();
    assert!(after.starts_with("# Work\r\n\r\nIntro text.\r\n\r\n- [x] T-1: already done\r\n- [x] T-2: second\r\n  - [x] T-3: child first\r\n* [ ] T-4: FAIL this one <!-- ralph: failed"), "{after}");
    assert!(after.ends_with("\r\n1. [x] T-5: last\r\n"), "{after}");
    let marked: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "task_marked")
        .map(|e| (e["task"]["id"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        marked,
        [("T-3", "done"), ("T-2", "done"), ("T-4", "failed"), ("T-5", "done")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let end = events.last().unwrap();
    assert_eq!(end["status"], "failed");
    assert!(end["reason"].as_str().unwrap().contains("3 done, 1 failed (T-4)"), "{end}");
    let iterations = events.iter().filter(|e| e["event"] == "iteration_started").count();
    assert_eq!(iterations, 4, "an iteration per task");
    // A second run has nothing ready: the failed task is not taken again.
    let again = run(dir.path(), &[], 0);
    assert!(again.last().unwrap()["reason"].as_str().unwrap().contains("no task is ready"));
}

#[test]
fn tasks_json_follows_priority_and_dependencies_and_keeps_its_formatting() {
    let tasks = "{\n    \"tasks\": [\n        {\"id\": \"a\", \"description\": \"low\", \"status\": \"pending\", \"priority\": 1},\n        {\"id\": \"b\", \"description\": \"needs c\", \"status\": \"pending\", \"priority\": 9, \"depends_on\": [\"c\"]},\n        {\"id\": \"c\", \"description\": \"high\", \"status\": \"pending\", \"priority\": 5, \"extra\": {\"kept\": 1.50}}\n    ]\n}\n";
    let dir = project(&[("w.yaml", WORKFLOW), ("tasks.json", tasks)]);
    run(dir.path(), &[], 0);
    assert_eq!(std::fs::read_to_string(dir.path().join("work.txt")).unwrap(), "c\nb\na\n");
    // Each task's status changed and its attempt was stamped after its last member; nothing else.
    let after = std::fs::read_to_string(dir.path().join("tasks.json")).unwrap();
    let (stripped, stamps) = without_member(&after, ", \"last_attempt_at\": ");
    assert_eq!(stripped, tasks.replace("\"pending\"", "\"done\""));
    assert_eq!(stamps.len(), 3, "{after}");
}

/// `text` without each `<prefix>"…"` (a string member written inline), and the strings taken out.
fn without_member(text: &str, prefix: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut taken = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        let value = &rest[at + prefix.len()..];
        let end = value[1..].find('"').unwrap() + 2;
        taken.push(value[1..end - 1].to_owned());
        rest = &value[end..];
    }
    out.push_str(rest);
    (out, taken)
}

#[test]
fn kanban_milestones_block_until_finished_and_criteria_reach_the_packet() {
    let board = r#"{
  "milestones": [
    {"id": "M2", "name": "Features", "blocked_by": ["M1"], "tasks": [
      {"id": "F1", "title": "Login", "status": "todo", "acceptance_criteria": ["a user can log in"]}
    ]},
    {"id": "M1", "name": "Setup", "tasks": [
      {"id": "S1", "title": "Scaffold", "status": "todo", "acceptance_criteria": ["cargo build passes"]}
    ]}
  ]
}
"#;
    let dir = project(&[("w.yaml", WORKFLOW), ("kanban.json", board)]);
    let events = run(dir.path(), &[], 0);
    assert_eq!(std::fs::read_to_string(dir.path().join("work.txt")).unwrap(), "S1\nF1\n");
    let after = std::fs::read_to_string(dir.path().join("kanban.json")).unwrap();
    let (stripped, stamps) = without_member(&after, ", \"last_attempt_at\": ");
    assert_eq!(stripped, board.replace("\"todo\"", "\"done\""));
    assert_eq!(stamps.len(), 2, "{after}");
    let packet = events.iter().find(|e| e["type"] == "packet" && e["phase"] == "built").unwrap();
    assert_eq!(packet["packet"]["context"]["current_task"]["acceptance_criteria"][0], "cargo build passes");
    assert_eq!(packet["packet"]["instructions"]["success_criteria"][0], "cargo build passes");
    let second = events.iter().filter(|e| e["type"] == "packet" && e["phase"] == "built").nth(1).unwrap();
    assert_eq!(second["packet"]["context"]["completed_tasks"][0], "S1");
    assert_eq!(second["packet"]["workflow"]["iteration"], 2);
}

#[test]
fn commit_makes_one_commit_per_task_with_the_configured_message() {
    let dir = project(&[
        ("w.yaml", WORKFLOW),
        ("TODO.md", "- [ ] A-1: first\n- [ ] A-2: second\n"),
        ("ralph.yaml", "loop:\n  commit_message: \"feat({task_id}): {task_title} [#{iteration}]\"\n"),
    ]);
    crate::support::git_repo(dir.path());
    let events = run(dir.path(), &["--commit", "--config", "ralph.yaml"], 0);
    assert_eq!(events.iter().filter(|e| e["event"] == "committed").count(), 2);
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s", "-3"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout), "feat(A-2): second [#2]\nfeat(A-1): first [#1]\ninit\n");
    let files = std::process::Command::new("git")
        .args(["show", "--name-only", "--format=", "HEAD"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&files.stdout),
        "TODO.md\nwork.txt\n",
        "the work and the checked box, not the run store"
    );
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(status.stdout.is_empty(), "{}", String::from_utf8_lossy(&status.stdout));
}

#[test]
fn max_iterations_bounds_invocations_across_tasks_and_commit_needs_git() {
    let dir = project(&[
        ("w.yaml", &format!("loop:\n  max_iterations: 2\n{WORKFLOW}")),
        ("TODO.md", "- [ ] one\n- [ ] two\n- [ ] three\n"),
    ]);
    let events = run(dir.path(), &[], 1);
    assert_eq!(std::fs::read_to_string(dir.path().join("work.txt")).unwrap(), "todo-1\ntodo-2\n");
    assert!(events.last().unwrap()["reason"].as_str().unwrap().contains("max_iterations (2) reached"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(),
        "- [x] one\n- [x] two\n- [ ] three\n"
    );
    let out = ralph(["loop", "--workflow", "w.yaml", "--commit"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("needs a git work tree"), "{}", out.stderr);
    let out = ralph(["loop", "--workflow", "w.yaml", "--tasks", "nope.md"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("nope.md"), "{}", out.stderr);
}

#[test]
fn agents_see_their_task_and_iteration_in_the_environment_alongside_their_own_variables() {
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: worker\nagents:\n  worker:\n    command: \"echo $RALPH_TASK_ID $RALPH_ITERATION $GREETING >> seen\"\n    env:\n      GREETING: hello\n",
        ),
        ("TODO.md", "- [ ] T-1: first\n- [ ] T-2: second\n"),
    ]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert_eq!(std::fs::read_to_string(dir.path().join("seen")).unwrap(), "T-1 1 hello\nT-2 2 hello\n");
}

#[test]
fn list_items_without_a_checkbox_are_named_when_no_task_is_ready() {
    let dir = project(&[
        ("TODO.md", "# Work\n\n- write the parser\n- [] fix the bug\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
        ),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(
        out.stderr.contains("2 list item(s) have no checkbox")
            && out.stderr.contains("line 3: `- write the parser`")
            && out.stderr.contains("`- [ ] …`"),
        "{}",
        out.stderr
    );
}

/// Tasks where every factor of the score plays: `a` by priority, `e` by fan-out (it unblocks
/// `d`), `b` by simplicity, `c` backed off by a failure; old attempts, so idle time is capped
/// and the scores do not move with the clock. Listed out of their run order.
const SCORED: &str = r#"{"tasks": [
  {"id": "c", "title": "C", "failed_attempts": 1, "last_attempt_at": "2020-01-01T00:00:00Z"},
  {"id": "d", "title": "D", "depends_on": ["e"]},
  {"id": "b", "title": "B", "complexity": 1},
  {"id": "a", "title": "A", "priority": 1},
  {"id": "e", "title": "E"},
  {"id": "x", "title": "X", "status": "blocked"},
  {"id": "y", "title": "Y", "status": "failed", "depends_on": ["x"]}
]}
"#;

fn json(out: &crate::support::Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// See: issue 17.
#[test]
fn tasks_json_ranks_the_ready_tasks_with_each_scores_parts_and_says_why_the_others_wait() {
    let dir = project(&[("tasks.json", SCORED)]);
    let queue = json(&ralph(["tasks", "--json"]).current_dir(dir.path()).expect(0));
    let ranked: Vec<(String, i64)> = queue["ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_owned(), t["score"]["total"].as_i64().unwrap()))
        .collect();
    // a: 10 + 6 + 60; e: 6 + 5 + 60; b: 10 + 60; c: 6 − 3 + 60.
    let expected = [("a", 76), ("e", 71), ("b", 70), ("c", 63)].map(|(id, s)| (id.to_owned(), s));
    assert_eq!(ranked, expected);
    let c = &queue["ready"][3]["score"];
    assert_eq!(c["failed_attempts"], serde_json::json!({"value": 1, "points": -3}));
    assert_eq!(c["idle"], serde_json::json!({"value": c["idle"]["value"], "points": 60}));
    assert_eq!(queue["ready"][1]["score"]["fan_out"], serde_json::json!({"value": 1, "points": 5}));
    let waits: Vec<(&str, &str)> = queue["not_ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        waits,
        [
            ("d", "waits on `e`"),
            ("x", "blocked: `ralph-loop task unblock` makes it pending"),
            ("y", "failed: it is not picked again until its status is reset"),
        ]
    );
    let table = ralph(["tasks"]).current_dir(dir.path()).expect(0).stdout;
    assert!(table.contains("1  a        76"), "{table}");
    assert!(table.contains("not ready: d (pending): waits on `e`"), "{table}");
}

/// See: issue 17.
#[test]
fn a_loop_takes_its_tasks_in_the_schedulers_order() {
    let dir = project(&[("w.yaml", WORKFLOW), ("tasks.json", SCORED)]);
    run(dir.path(), &[], 0);
    // After `e` is done `d` is ready (6 + 60 = 66), between `b` (70) and `c` (63).
    assert_eq!(std::fs::read_to_string(dir.path().join("work.txt")).unwrap(), "a\ne\nb\nd\nc\n");
}

/// See: issue 17.
#[test]
fn task_subcommands_change_the_file_in_place_and_nothing_else() {
    let old = "{\n  \"tasks\": [\n    {\"id\": \"a\", \"title\": \"A\", \"status\": \"pending\", \"cost\": 1.50},\n    {\"id\": \"b\", \"title\": \"B\", \"status\": \"pending\"}\n  ]\n}\n";
    let dir = project(&[("tasks.json", old)]);
    let read = || std::fs::read_to_string(dir.path().join("tasks.json")).unwrap();
    let task = |args: &[&str]| ralph(["task"]).args_from(args).current_dir(dir.path()).expect(0).stdout;

    assert_eq!(
        task(&[
            "add",
            "--title",
            "C",
            "--depends-on",
            "a,b",
            "--priority",
            "2",
            "--complexity",
            "1",
            "--role",
            "evaluator",
            "--label",
            "qa"
        ]),
        "added task task-1 to ./tasks.json\n"
    );
    let added = old.replace(
        "\"status\": \"pending\"}\n  ]",
        "\"status\": \"pending\"},\n    {\"id\": \"task-1\", \"title\": \"C\", \"priority\": 2, \"complexity\": 1, \"depends_on\": [\"a\", \"b\"], \"role\": \"evaluator\", \"labels\": [\"qa\"], \"status\": \"pending\"}\n  ]",
    );
    assert_eq!(read(), added);
    task(&["add", "--id", "d", "--title", "D"]);
    let shown = json(&ralph(["task", "show", "task-1", "--json"]).current_dir(dir.path()).expect(0));
    assert_eq!(shown["task"]["role"], "evaluator");
    assert_eq!(shown["not_ready"], "waits on `a`, `b`");
    let shown = json(&ralph(["task", "show", "d", "--json"]).current_dir(dir.path()).expect(0));
    assert_eq!(shown["task"]["title"], "D");
    assert_eq!(shown["rank"], 3, "a and b unblock task-1: 71 each, d 66: {shown}");

    let before = read();
    task(&["edit", "a", "--priority", "-1", "--title", "A2"]);
    assert_eq!(
        read(),
        before.replace(
            "{\"id\": \"a\", \"title\": \"A\", \"status\": \"pending\", \"cost\": 1.50}",
            "{\"id\": \"a\", \"title\": \"A2\", \"status\": \"pending\", \"cost\": 1.50, \"priority\": -1}"
        )
    );
    let before = read();
    task(&["block", "b", "--reason", "waiting for the API"]);
    assert_eq!(
        read(),
        before.replace("{\"id\": \"b\", \"title\": \"B\", \"status\": \"pending\"}", "{\"id\": \"b\", \"title\": \"B\", \"status\": \"blocked\", \"blocked_reason\": \"waiting for the API\"}")
    );
    task(&["unblock", "b"]);
    assert!(read().contains("{\"id\": \"b\", \"title\": \"B\", \"status\": \"pending\", \"blocked_reason\""));
}

/// See: issue 17. Each refusal exits 1, says why, and leaves the file as it was.
#[test]
fn task_changes_that_would_break_the_file_are_refused() {
    let old = "[\n  {\"id\": \"a\", \"title\": \"A\"},\n  {\"id\": \"b\", \"title\": \"B\", \"depends_on\": [\"a\"]}\n]\n";
    let cases: &[(&[&str], &str)] = &[
        (
            &["add", "--id", "a", "--title", "again"],
            "the task was not added to `./tasks.json`: a task `a` exists already; nothing was changed",
        ),
        (
            &["add", "--id", "c", "--title", "C", "--depends-on", "zz"],
            "the task was not added to `./tasks.json`: it depends on `zz`, which is not a task of the file; nothing was changed",
        ),
        (
            &["edit", "a", "--depends-on", "b"],
            "./tasks.json: dependency cycle: a → b → a; nothing was changed",
        ),
        (&["show", "bb"], "no task `bb` in `./tasks.json`; did you mean `b`?"),
        (&["unblock", "a"], "task `a` is pending, not blocked"),
    ];
    let dir = project(&[("tasks.json", old)]);
    for (args, message) in cases {
        let out = ralph(["task"]).args_from(args).current_dir(dir.path()).expect(1);
        assert_eq!(out.stderr.trim_end(), format!("error: {message}"), "{args:?}");
        assert_eq!(std::fs::read_to_string(dir.path().join("tasks.json")).unwrap(), old, "{args:?}");
    }
    let full: Vec<String> = (0..500).map(|i| format!("{{\"id\": \"t{i}\", \"title\": \"T\"}}")).collect();
    let full = format!("[{}]", full.join(", "));
    let dir = project(&[("tasks.json", &full)]);
    let out = ralph(["task", "add", "--title", "one too many"]).current_dir(dir.path()).expect(1);
    assert_eq!(
        out.stderr.trim_end(),
        "error: the task was not added to `./tasks.json`: the task file holds 500 tasks already, the most it may; nothing was changed"
    );
}
