//! Tasks that plan themselves: roles pick the agent, agents add tasks (their result file, or
//! `ralph-loop task add` over the control channel from inside a step) that the scheduler then
//! runs in score order, refused additions reach the next packet, an evaluator sends work back,
//! routing picks the model by task type and a stuck loop escalates to a stronger one.
// See: issue 17, items 3, 4 and 6

use std::path::Path;

use crate::support::{events, executable, git_repo, path_with, project, ralph, sh};

/// One agent program for every role: it keeps each packet it is given (`packets/NNN-<task>.json`),
/// logs `<task> <role>` to `ran.log`, and plays its role (see the comments).
const AGENT: &str = r#"
import json, os, subprocess, sys
role = sys.argv[1]
packet = json.load(open(os.environ["RALPH_PACKET_FILE"]))
task = packet["context"]["current_task"]["id"]
os.makedirs("packets", exist_ok=True)
n = len(os.listdir("packets"))
json.dump(packet, open(f"packets/{n:03}-{task}.json", "w"))
with open("ran.log", "a") as log:
    log.write(f"{task} {role}\n")
result = {"summary": f"{role} did {task}"}
if role == "ideator":
    # Twenty new tasks, their priorities and complexities chosen so that their scores differ
    # from the order they are written in; then three the loop must refuse.
    ideas = [{"id": f"idea-{i:02}", "title": f"Idea {i}", "priority": (i * 7) % 5, "complexity": 1 + (i * 3) % 5,
              "labels": ["idea"]} for i in range(1, 21)]
    ideas.append({"id": "t01", "title": "A duplicate of the first task"})
    ideas.append({"id": "loop", "title": "Depends on itself", "depends_on": ["loop"]})
    ideas.append({"title": "Depends on nothing known", "depends_on": ["t999"]})
    result["tasks"] = ideas
    # One more from the command line, over the running loop's control channel.
    subprocess.run([os.environ["RALPH_BIN"], "task", "add", "--title", "From inside the step", "--prefix", "cli-",
                    "--priority", "-5"], check=True)
if role == "reviewer":
    if not os.path.exists("reviewed-once"):
        open("reviewed-once", "w").close()
        result["send_back"] = [{"task": "t10", "review": "t10 has no tests for the empty input"}]
json.dump(result, open(os.environ["RALPH_RESULT_FILE"], "w"))
"#;

const WORKFLOW: &str = "workflow:
  nodes:
    - id: work
      agent: builder
agents:
  builder:
    command: python3 agent.py builder
    reads_packet: true
  ideator:
    command: python3 agent.py ideator
    reads_packet: true
  reviewer:
    command: python3 agent.py reviewer
    reads_packet: true
";

const CONFIG: &str = "roles:
  ideas: ideator
  evaluator: reviewer
";

/// 50 tasks: a chain every fifth task, an ideas task that goes first, an evaluator of t10.
fn fifty_tasks() -> String {
    let mut tasks = Vec::new();
    for i in 1..=48 {
        let depends =
            if i % 5 == 0 { format!(", \"depends_on\": [\"t{:02}\"]", i - 1) } else { String::new() };
        tasks
            .push(format!("    {{\"id\": \"t{i:02}\", \"title\": \"Task {i}\", \"priority\": -1{depends}}}"));
    }
    tasks.push(
        "    {\"id\": \"ideas\", \"title\": \"Find what else to do\", \"role\": \"ideas\", \"priority\": 9}"
            .into(),
    );
    tasks.push(
        "    {\"id\": \"review-1\", \"title\": \"Review task 10\", \"role\": \"evaluator\", \"depends_on\": [\"t10\"], \"priority\": -1}"
            .into(),
    );
    format!("{{\"tasks\": [\n{}\n]}}\n", tasks.join(",\n"))
}

fn packets(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut files: Vec<_> =
        std::fs::read_dir(dir.join("packets")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let task = name.split_once('-').unwrap().1.to_owned();
            (task, serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect()
}

/// A project inside a git work tree of real files, with untracked files lying around and
/// `.ralph/` not ignored, as users run it.
fn in_a_work_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = project(files);
    for i in 0..300 {
        let path = dir.path().join(format!("src/mod{}/file{i}.rs", i % 10));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("pub fn f{i}() {{}}\n")).unwrap();
    }
    git_repo(dir.path());
    std::fs::write(dir.path().join("notes.txt"), "untracked\n").unwrap();
    dir
}

#[test]
fn fifty_tasks_run_by_role_and_an_ideas_agent_adds_twenty_that_run_in_score_order() {
    let tasks = fifty_tasks();
    let dir = in_a_work_tree(&[
        ("ralph.yaml", CONFIG),
        ("w.yaml", WORKFLOW),
        ("agent.py", AGENT),
        ("tasks.json", &tasks),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json", "--max-iterations", "200"])
        .current_dir(dir.path())
        .env("RALPH_BIN", env!("CARGO_BIN_EXE_ralph-loop"))
        .expect(0);
    let events = events(&out.stdout);

    // Every task ends done: the 50, the 20 ideas, the one from the command line.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tasks.json")).unwrap()).unwrap();
    let all = file["tasks"].as_array().unwrap();
    assert_eq!(all.len(), 71, "{file:#}");
    assert!(all.iter().all(|t| t["status"] == "done"), "{file:#}");
    // The file is kept as it was written, the additions one a line after the last task.
    let text = std::fs::read_to_string(dir.path().join("tasks.json")).unwrap();
    assert!(text.starts_with("{\"tasks\": [\n    {\"id\": \"t01\", \"title\": \"Task 1\", \"priority\": -1, \"status\": \"done\""), "{text}");
    assert!(text.contains("\n    {\"id\": \"cli-1\", \"title\": \"From inside the step\", \"priority\": -5, \"status\": \"done\""), "{text}");

    // Roles: the ideas task ran on the ideator, the evaluator on the reviewer, the rest on the builder.
    let ran = std::fs::read_to_string(dir.path().join("ran.log")).unwrap();
    let ran: Vec<(&str, &str)> = ran.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(ran[0], ("ideas", "ideator"));
    assert!(ran.iter().filter(|(t, _)| *t == "review-1").all(|(_, r)| *r == "reviewer"));
    assert!(
        ran.iter()
            .filter(|(t, _)| t.starts_with('t') || t.starts_with("idea-"))
            .all(|(_, r)| *r == "builder")
    );
    let routed: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "task_routed")
        .map(|e| (e["agent"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        routed,
        [("ideator", "role `ideas`"), ("reviewer", "role `evaluator`"), ("reviewer", "role `evaluator`")]
    );

    // Each addition is journaled with the step that added it, the command line's too.
    let added: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "task_added")
        .map(|e| (e["task"]["id"].as_str().unwrap(), e["step"].as_str().unwrap()))
        .collect();
    assert_eq!(added.len(), 21, "{added:?}");
    assert_eq!(added[0], ("cli-1", "work"), "the command line's add reaches the loop while its step runs");
    assert!(added[1..].iter().all(|(id, step)| id.starts_with("idea-") && *step == "work"), "{added:?}");
    let refused: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "task_refused")
        .map(|e| (e["task"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        refused,
        [
            ("t01", "a task `t01` exists already"),
            ("loop", "it would close a dependency cycle: loop → loop"),
            ("Depends on nothing known", "it depends on `t999`, which is not a task of the file")
        ]
    );

    // The refusals are in the next packet, and only there; the loop went on.
    let packets = packets(dir.path());
    assert_eq!(packets[0].0, "ideas");
    let next = &packets[1].1["context"]["task_refusals"];
    assert_eq!(next.as_array().unwrap().len(), 3, "{next:#}");
    assert_eq!(
        next[0],
        serde_json::json!({"task": "t01", "reason": "a task `t01` exists already", "step": "work"})
    );
    assert!(packets[2..].iter().all(|(_, p)| p["context"]["task_refusals"].is_null()));

    // The twenty ran in the order of their scores: priority ×10 + (6 − complexity) ×2 (all
    // ready, never attempted, nothing depends on them), ties in file order.
    let mut expected: Vec<(i64, usize, String)> = (1..=20)
        .map(|i| {
            let (priority, complexity) = ((i * 7) % 5, 1 + (i * 3) % 5);
            (-(priority * 10 + (6 - complexity) * 2), i as usize, format!("idea-{i:02}"))
        })
        .collect();
    expected.sort();
    let expected: Vec<&str> = expected.iter().map(|(_, _, id)| id.as_str()).collect();
    let order: Vec<&str> = ran.iter().map(|(t, _)| *t).filter(|t| t.starts_with("idea-")).collect();
    assert_eq!(order, expected);
    assert_ne!(
        order,
        (1..=20).map(|i| format!("idea-{i:02}")).collect::<Vec<_>>(),
        "score order is not file order"
    );

    // The evaluator saw t10's work, sent it back once with a review, t10 ran again with the
    // review in its packet, and the evaluator passed it the second time.
    assert_eq!(ran.iter().filter(|(t, _)| *t == "t10").count(), 2);
    assert_eq!(ran.iter().filter(|(t, _)| *t == "review-1").count(), 2);
    let review_packets: Vec<&serde_json::Value> =
        packets.iter().filter(|(t, _)| t == "review-1").map(|(_, p)| p).collect();
    let reviewed = &review_packets[0]["context"]["review_of"][0];
    assert_eq!((reviewed["id"].as_str(), reviewed["status"].as_str()), (Some("t10"), Some("done")));
    assert_eq!(reviewed["summary"], "builder did t10");
    let again = packets.iter().filter(|(t, _)| t == "t10").nth(1).unwrap();
    assert_eq!(
        again.1["context"]["reviews"],
        serde_json::json!([{"by": "review-1", "text": "t10 has no tests for the empty input"}])
    );
    let sent_back: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "task_sent_back").collect();
    assert_eq!(sent_back.len(), 1);
    assert_eq!(sent_back[0]["by"], "review-1");
}

fn nearly_full() -> tempfile::TempDir {
    let mut tasks: Vec<String> = (1..=498)
        .map(|i| format!("{{\"id\": \"d{i}\", \"title\": \"Done {i}\", \"status\": \"done\"}}"))
        .collect();
    tasks.push("{\"id\": \"ideas\", \"title\": \"Think\", \"role\": \"ideas\"}".into());
    let ideator = "import json, os\n\
        p = json.load(open(os.environ['RALPH_PACKET_FILE']))\n\
        t = p['context']['current_task']['id']\n\
        json.dump(p, open('packet-' + t + '.json', 'w'))\n\
        if t == 'ideas':\n    json.dump({'tasks': [{'id': 'last', 'title': 'The 500th'}, {'id': 'over', 'title': 'The 501st'}]}, open(os.environ['RALPH_RESULT_FILE'], 'w'))\n";
    project(&[
        ("ralph.yaml", "roles:\n  ideas: builder\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: python3 agent.py\n    reads_packet: true\n",
        ),
        ("agent.py", ideator),
        ("tasks.json", &format!("[{}]\n", tasks.join(",\n"))),
    ])
}

#[test]
fn an_addition_past_500_tasks_is_refused_and_said_in_the_next_packet() {
    let dir = nearly_full();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let refused: Vec<serde_json::Value> =
        events(&out.stdout).into_iter().filter(|e| e["event"] == "task_refused").collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "the task file holds 500 tasks already, the most it may");
    let next: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("packet-last.json")).unwrap()).unwrap();
    assert_eq!(next["context"]["task_refusals"][0]["task"], "over");
    // For people, the loop's own lines say it too.
    let dir = nearly_full();
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(
        out.stderr.contains("task over from `work` not added: the task file holds 500 tasks already"),
        "{}",
        out.stderr
    );
}

/// A fake Claude Code: it replays a captured session, logs `<task> <model>`, fails the tasks
/// listed in `$FAIL` when it runs on `small-model`, and in an escalated iteration asks the
/// running loop for its status.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
cat > /dev/null
model=$(printf '%s\n' "$@" | sed -n '/^--model$/{n;p;}')
task=$(python3 -c 'import json,os; print(json.load(open(os.environ["RALPH_PACKET_FILE"]))["context"]["current_task"]["id"])')
echo "$task $model" >> calls.log
cat "$FIXTURE"
case " $FAIL " in *" $task "*) [ "$model" = small-model ] && { echo '{"success": false}' > "$RALPH_RESULT_FILE"; exit 0; } ;; esac
[ "$model" = big-model ] && "$RALPH_BIN" status > "status-$task.txt"
echo '{"summary": "done"}' > "$RALPH_RESULT_FILE"
"#;

#[test]
fn a_stuck_loop_escalates_to_the_stronger_model_and_back_and_routing_sends_planning_elsewhere() {
    let session =
        std::fs::read_to_string(crate::support::repo().join("engine/tests/fixtures/claude/success.jsonl"))
            .unwrap();
    let dir = in_a_work_tree(&[
        ("bin/claude", FAKE_CLAUDE),
        ("session.jsonl", &session),
        (
            "ralph.yaml",
            "routing:\n  planning: planner-model\nescalation:\n  trigger_after: 2\n  model: big-model\n",
        ),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    backend: claude\n    model: small-model\n",
        ),
        (
            "tasks.json",
            r#"[
  {"id": "plan", "title": "Plan the release", "type": "planning", "priority": 5},
  {"id": "a", "title": "Fix the parser", "type": "code", "priority": 4},
  {"id": "b", "title": "Fix the lexer", "type": "code", "priority": 3},
  {"id": "c", "title": "Fix the printer", "type": "code", "priority": 2},
  {"id": "d", "title": "Fix the docs", "priority": 1}
]
"#,
        ),
    ]);
    executable(&dir.path().join("bin/claude"));
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", path_with(&dir.path().join("bin")))
        .env("FIXTURE", dir.path().join("session.jsonl"))
        .env("FAIL", "a b")
        .env("RALPH_BIN", env!("CARGO_BIN_EXE_ralph-loop"))
        .expect(1);
    // planning → its model; a and b fail on the small model; after 2 iterations without
    // progress c runs on the big one and succeeds; d is back on the small model.
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(calls, "plan planner-model\na small-model\nb small-model\nc big-model\nd small-model\n");
    let events = events(&out.stdout);
    let routed: Vec<(u64, &str, &str, bool)> = events
        .iter()
        .filter(|e| e["event"] == "task_routed")
        .map(|e| {
            (
                e["iteration"].as_u64().unwrap(),
                e["model"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
                e["escalated"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        routed,
        [
            (1, "planner-model", "routing: type `planning`", false),
            (4, "big-model", "escalation: 2 iteration(s) in a row without progress", true)
        ]
    );
    // The running loop's status said so while c ran.
    let status = std::fs::read_to_string(dir.path().join("status-c.txt")).unwrap();
    assert!(
        status.contains("escalated: `builder` on claude · big-model does the work (escalation: 2 iteration(s) in a row without progress)"),
        "{status}"
    );
    // The trace carries the model each step ran on.
    let traces: serde_json::Value =
        serde_json::from_str(&ralph(["traces", "--json"]).current_dir(dir.path()).expect(0).stdout).unwrap();
    let text = traces.to_string();
    assert!(text.contains("\"ralph.route.model\":\"big-model\""), "{traces:#}");
    assert!(text.contains("\"gen_ai.request.model\":\"planner-model\""), "{traces:#}");
    let _ = sh(dir.path(), "true");
}

#[test]
fn roles_routing_and_escalation_that_cannot_act_are_reported_by_validate() {
    let dir = project(&[
        ("ralph.yaml", "roles:\n  ideas: ideatr\nrouting:\n  docs: {}\nescalation:\n  trigger_after: 2\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: coder\nagents:\n  coder:\n    command: 'true'\n  ideator:\n    command: 'true'\n",
        ),
    ]);
    let out = ralph(["workflow", "validate", "w.yaml"]).current_dir(dir.path()).expect(3);
    for needle in [
        "agent `ideatr` is not defined",
        "did you mean `ideator`",
        "routing entry `docs` changes nothing",
        "`escalation` says when, not to what",
        "`roles` chooses who does a task's work in place of the agent `builder`, but no step of the workflow runs `builder`",
        "roles: {implementer: coder}",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert!(out.stderr.contains("ralph.yaml:2:"), "the role is placed in ralph.yaml: {}", out.stderr);
}

#[test]
fn routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent() {
    let (port, server) = crate::run::chat_server("Docs written.\n```json\n{\"summary\": \"docs\"}\n```\n");
    let config = format!(
        "routing:\n  docs:\n    backend: openai\n    model: qwen-docs\n    base_url: http://127.0.0.1:{port}/v1\n    api_key_env: DOCS_KEY\n  tests: {{agent: tester}}\nescalation:\n  trigger_after: 1\n  agent: rescuer\n"
    );
    let dir = project(&[
        ("ralph.yaml", &config),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: 'echo \"$RALPH_TASK_ID builder\" >> ran.log; [ \"$RALPH_TASK_ID\" != broken ]'\n  tester:\n    command: 'echo \"$RALPH_TASK_ID tester\" >> ran.log'\n  rescuer:\n    command: 'echo \"$RALPH_TASK_ID rescuer\" >> ran.log'\n",
        ),
        (
            "tasks.json",
            r#"[
  {"id": "guide", "title": "Write the guide", "type": "docs", "priority": 4},
  {"id": "suite", "title": "Add tests", "labels": ["tests"], "priority": 3},
  {"id": "broken", "title": "Fails", "priority": 2},
  {"id": "after", "title": "Runs escalated", "priority": 1}
]
"#,
        ),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("DOCS_KEY", "k-docs")
        .expect(1);
    let request = server.join().unwrap();
    assert!(request.contains("\"model\":\"qwen-docs\"") && request.contains("Bearer k-docs"), "{request}");
    let ran = std::fs::read_to_string(dir.path().join("ran.log")).unwrap();
    assert_eq!(ran, "suite tester\nbroken builder\nafter rescuer\n");
    let routed: Vec<(String, String)> = events(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "task_routed")
        .map(|e| (e["agent"].as_str().unwrap().to_owned(), e["choice"].as_str().unwrap().to_owned()))
        .collect();
    let routed: Vec<(&str, &str)> = routed.iter().map(|(a, c)| (a.as_str(), c.as_str())).collect();
    assert_eq!(routed, [("builder", "routing:docs"), ("tester", "routing:tests"), ("rescuer", "escalation")]);
}

#[test]
fn a_human_escalation_pauses_the_stuck_loop_until_a_person_resumes_it() {
    let dir = project(&[
        ("ralph.yaml", "escalation:\n  trigger_after: 1\n  human: true\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: 'echo \"$RALPH_TASK_ID\" >> ran.log; [ \"$RALPH_TASK_ID\" != a ]'\n",
        ),
        (
            "tasks.json",
            "[{\"id\": \"a\", \"title\": \"A\", \"priority\": 2}, {\"id\": \"b\", \"title\": \"B\"}]\n",
        ),
    ]);
    let child = crate::control::start(dir.path());
    crate::control::wait_for("the escalation's pause", 60, || {
        crate::control::live(dir.path()).is_some_and(|l| l["paused"] == true)
    });
    let status = ralph(["status"]).current_dir(dir.path()).expect(0).stdout;
    assert!(
        status.contains("paused by escalation (escalation: 1 iteration(s) in a row without progress)"),
        "{status}"
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("ran.log")).unwrap(), "a\n", "b waits for the person");
    ralph(["resume"]).current_dir(dir.path()).expect(0);
    assert_eq!(crate::control::finish(child).code(), Some(1), "a failed");
    assert_eq!(std::fs::read_to_string(dir.path().join("ran.log")).unwrap(), "a\nb\n");
}

#[test]
fn an_evaluator_sends_a_task_back_at_most_max_send_backs_times() {
    let dir = project(&[
        ("ralph.yaml", "roles:\n  evaluator: {agent: reviewer, max_send_backs: 0}\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: 'echo \"$RALPH_TASK_ID\" >> ran.log'\n  reviewer:\n    command: 'echo \"$RALPH_TASK_ID\" >> ran.log; echo \"{\\\"send_back\\\": [{\\\"task\\\": \\\"a\\\", \\\"review\\\": \\\"again\\\"}]}\" > \"$RALPH_RESULT_FILE\"'\n",
        ),
        (
            "tasks.json",
            "[{\"id\": \"a\", \"title\": \"A\"}, {\"id\": \"r\", \"title\": \"R\", \"role\": \"evaluator\", \"depends_on\": [\"a\"]}]\n",
        ),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert_eq!(std::fs::read_to_string(dir.path().join("ran.log")).unwrap(), "a\nr\n");
    assert!(
        out.stderr.contains("evaluator task r sent `a` back again, after 0 time(s) in this run (the most `roles.evaluator.max_send_backs` allows); it stays done — the review: again"),
        "{}",
        out.stderr
    );
}

#[test]
fn tasks_an_agent_writes_into_the_file_by_hand_that_break_it_are_taken_out_and_the_loop_goes_on() {
    // The agent of `a` edits tasks.json itself: a good task, a duplicate of `b`, one that
    // depends on nothing known. Before, the duplicate stopped the whole loop.
    let agent = r#"import json, os
p = json.load(open(os.environ['RALPH_PACKET_FILE']))
t = p['context']['current_task']['id']
json.dump(p, open('packet-' + t + '.json', 'w'))
if t == 'a':
    text = open('tasks.json').read()
    text = text.replace('\n]', ',\n  {"id": "c", "title": "Good"},\n  {"id": "b", "title": "Duplicate"},\n  {"id": "d", "title": "Dangling", "depends_on": ["zz"]}\n]')
    open('tasks.json', 'w').write(text)
"#;
    let dir = in_a_work_tree(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: python3 agent.py\n    reads_packet: true\n",
        ),
        ("agent.py", agent),
        (
            "tasks.json",
            "[\n  {\"id\": \"a\", \"title\": \"A\", \"priority\": 2},\n  {\"id\": \"b\", \"title\": \"B\"}\n]\n",
        ),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let refused: Vec<(String, String)> = events(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "task_refused")
        .map(|e| (e["task"].as_str().unwrap().to_owned(), e["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        refused,
        [
            ("b".to_owned(), "written into the task file by hand, and taken out again: a task `b` exists already".to_owned()),
            (
                "d".to_owned(),
                "written into the task file by hand, and taken out again: it depends on `zz`, which is not a task of the file"
                    .to_owned()
            )
        ]
    );
    let text = std::fs::read_to_string(dir.path().join("tasks.json")).unwrap();
    assert_eq!(
        without_attempt_times(&text),
        "[\n  {\"id\": \"a\", \"title\": \"A\", \"priority\": 2, \"status\": \"done\", \"last_attempt_at\": \"…\"},\n  {\"id\": \"b\", \"title\": \"B\", \"status\": \"done\", \"last_attempt_at\": \"…\"},\n  {\"id\": \"c\", \"title\": \"Good\", \"status\": \"done\", \"last_attempt_at\": \"…\"}\n]\n",
        "the good addition ran; the rest of the file is as the agent left it"
    );
    // The next packet (iteration 2's) reports both.
    let next: serde_json::Value = ["b", "c"]
        .iter()
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(
                &std::fs::read_to_string(dir.path().join(format!("packet-{t}.json"))).unwrap(),
            )
            .unwrap()
        })
        .find(|p| p["workflow"]["iteration"] == 2)
        .unwrap();
    assert_eq!(next["context"]["task_refusals"].as_array().map(Vec::len), Some(2), "{next:#}");
    let run = events(&out.stdout)[0]["run_id"].as_str().unwrap().to_owned();
    let kept = std::fs::read_to_string(dir.path().join(".ralph/runs").join(run).join("refused-tasks.jsonl"))
        .unwrap();
    assert!(kept.contains("{\\\"id\\\": \\\"b\\\", \\\"title\\\": \\\"Duplicate\\\"}"), "{kept}");
}

/// `text` with the times of the `"last_attempt_at"` members the loop wrote shown as `…`.
fn without_attempt_times(text: &str) -> String {
    let key = "\"last_attempt_at\": \"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        rest = &rest[at + key.len()..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
        out.push('…');
    }
    out.push_str(rest);
    out
}

#[test]
fn a_role_with_a_workflow_of_its_own_runs_its_tasks_in_it_and_a_killed_loop_resumes_there() {
    let log = |who: &str| format!("echo \"$RALPH_TASK_ID {who} $RALPH_STEP\" >> ran.log");
    let dir = in_a_work_tree(&[
        ("ralph.yaml", "roles:\n  docs: {workflow: workflows/docs.yaml}\n"),
        (
            "w.yaml",
            &format!(
                "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: '{}'\n",
                log("builder")
            ),
        ),
        (
            "workflows/docs.yaml",
            // The writer kills the loop the first time it runs (a crash mid-pass).
            &format!(
                "workflow:\n  name: docs\n  nodes:\n    - id: write\n      agent: writer\n    - id: check\n      agent: checker\n      depends_on: [write]\nagents:\n  writer:\n    command: '{}; [ -e killed ] || {{ touch killed; kill -9 $PPID; sleep 5; }}'\n  checker:\n    command: '{}'\n",
                log("writer"),
                log("checker")
            ),
        ),
        (
            "tasks.json",
            "[{\"id\": \"a\", \"title\": \"Code\", \"priority\": 3}, {\"id\": \"d\", \"title\": \"Docs\", \"role\": \"docs\", \"priority\": 2}, {\"id\": \"b\", \"title\": \"More code\"}]\n",
        ),
    ]);
    let killed = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).output();
    assert_ne!(killed.code, 0, "the loop was killed: {}", killed.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ran.log")).unwrap(),
        "a builder work\nd writer write\n"
    );
    let out = ralph(["resume"]).current_dir(dir.path()).expect(0);
    // The resumed pass goes on in the role's workflow (its journal says which), then the loop's.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ran.log")).unwrap(),
        "a builder work\nd writer write\nd writer write\nd checker check\nb builder work\n",
        "{}",
        out.stderr
    );
    let journal = events(&ralph(["logs", "--json"]).current_dir(dir.path()).expect(0).stdout);
    let routed: Vec<&serde_json::Value> = journal.iter().filter(|e| e["event"] == "task_routed").collect();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0]["workflow"], "docs");
    assert_eq!(routed[0]["reason"], "role `docs` runs `workflows/docs.yaml`");
    let file = std::fs::read_to_string(dir.path().join("tasks.json")).unwrap();
    assert_eq!(file.matches("\"status\": \"done\"").count(), 3, "{file}");
}

#[test]
fn a_role_s_workflow_that_is_missing_or_invalid_stops_the_loop_before_it_starts() {
    let dir = project(&[
        ("ralph.yaml", "roles:\n  docs: {workflow: workflows/doc.yaml}\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: 'true'\n",
        ),
        (
            "workflows/docs.yaml",
            "workflow:\n  nodes:\n    - id: write\n      agent: writer\n      depends_on: [nowhere]\nagents:\n  writer:\n    command: 'true'\n",
        ),
        ("tasks.json", "[{\"id\": \"d\", \"title\": \"Docs\", \"role\": \"docs\"}]\n"),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.contains("role `docs` runs `workflows/doc.yaml`, which does not exist"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("did you mean `workflows/docs.yaml`?"), "{}", out.stderr);
    std::fs::write(dir.path().join("ralph.yaml"), "roles:\n  docs: {workflow: workflows/docs.yaml}\n")
        .unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.contains("workflows/docs.yaml: invalid (the workflow of role `docs`), not run"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nowhere"), "{}", out.stderr);
    assert!(!dir.path().join(".ralph").exists(), "nothing ran");
}

#[test]
fn a_role_names_an_agent_or_a_workflow_and_the_implementer_no_workflow() {
    let dir = project(&[
        (
            "ralph.yaml",
            "roles:\n  ideas: {max_send_backs: 1}\n  docs: {agent: builder, workflow: w.yaml}\n  implementer: {workflow: w.yaml}\n",
        ),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: 'true'\n",
        ),
    ]);
    let out = ralph(["workflow", "validate", "w.yaml"]).current_dir(dir.path()).expect(3);
    for needle in [
        "role `ideas` names neither an agent nor a workflow",
        "role `docs` names both an agent and a workflow",
        "the `implementer` role is the loop's own workflow; it names the work agent, not a workflow",
        "`max_send_backs` applies to the `evaluator` role",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

#[test]
fn an_agent_a_routing_entry_chooses_that_cannot_run_is_named_by_the_entry_before_the_run_starts() {
    let dir = project(&[
        ("ralph.yaml", "routing:\n  code: {backend: codex, model: gpt-5-codex}\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: 'true'\n",
        ),
        ("tasks.json", "[{\"id\": \"a\", \"title\": \"A\", \"type\": \"code\"}]\n"),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", "/usr/bin:/bin")
        .expect(4);
    assert!(
        out.stderr.contains("`routing.code` in ralph.yaml chooses an agent that cannot run: agent `builder` uses the `codex` backend, but `codex` is not on PATH"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join(".ralph").exists(), "nothing is recorded for a run that cannot start");
}

#[test]
fn agents_add_tasks_to_a_kanban_board_and_a_todo_list_too() {
    // A PyWiggum board: the agent of M1.1 adds a task to M2 through its result file.
    let agent = "if [ \"$RALPH_TASK_ID\" = M1.1 ]; then echo '{\"tasks\": [{\"id\": \"M2.2\", \"title\": \"Seed the data\", \"milestone\": \"M2\"}]}' > \"$RALPH_RESULT_FILE\"; fi; echo \"$RALPH_TASK_ID\" >> ran.log";
    let board = r#"{"milestones": [
  {"id": "M1", "name": "Setup", "tasks": [{"id": "M1.1", "title": "Scaffold", "status": "todo"}]},
  {"id": "M2", "name": "Core", "blocked_by": ["M1"], "tasks": [{"id": "M2.1", "title": "Schema", "status": "todo"}]}
]}
"#;
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: work\n      agent: builder\nagents:\n  builder:\n    command: sh agent.sh\n",
        ),
        ("agent.sh", agent),
        ("kanban.json", board),
    ]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert_eq!(std::fs::read_to_string(dir.path().join("ran.log")).unwrap(), "M1.1\nM2.1\nM2.2\n");
    let text = std::fs::read_to_string(dir.path().join("kanban.json")).unwrap();
    assert!(text.contains("{\"id\": \"M2.2\", \"title\": \"Seed the data\", \"status\": \"done\""), "{text}");
    // A TODO.md takes an item after its last task; what it cannot hold is refused, saying why.
    let dir = project(&[("TODO.md", "# Work\n\n- [ ] T-1: First\n\n## Notes\n")]);
    ralph(["task", "add", "--title", "Second", "--id", "T-2"]).current_dir(dir.path()).expect(0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(),
        "# Work\n\n- [ ] T-1: First\n- [ ] T-2: Second\n\n## Notes\n"
    );
    let out = ralph(["task", "add", "--title", "Third", "--priority", "2"]).current_dir(dir.path()).expect(1);
    assert!(
        out.stderr.contains("a TODO.md task has no place for `priority` (only an id and a title)"),
        "{}",
        out.stderr
    );
}
