//! Tests of task files as the loop uses them: discovery, readiness and order, and marking files
//! on disk — including files an agent changed in between.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn no_skip() -> HashSet<String> {
    HashSet::new()
}

/// The ids in the order `next_ready` hands them out, each one skipped after it is handed out.
fn ready_order(file: &TaskFile) -> Vec<String> {
    let mut skip = HashSet::new();
    let mut order = Vec::new();
    while let Some(task) = file.next_ready(&skip) {
        order.push(task.id.clone());
        skip.insert(task.id.clone());
    }
    order
}

#[test]
fn discovery_prefers_tasks_json_then_kanban_then_todo() {
    let dir = tempfile::tempdir().unwrap();
    assert!(TaskFile::discover(dir.path()).unwrap().is_none());
    write(dir.path(), "TODO.md", "- [ ] a\n");
    assert_eq!(TaskFile::discover(dir.path()).unwrap().unwrap().source(), TaskSource::Todo);
    write(dir.path(), "kanban.json", r#"{"milestones": []}"#);
    assert_eq!(TaskFile::discover(dir.path()).unwrap().unwrap().source(), TaskSource::Kanban);
    write(dir.path(), "tasks.json", "[]");
    let found = TaskFile::discover(dir.path()).unwrap().unwrap();
    assert_eq!(found.source(), TaskSource::Json);
    assert_eq!(found.path(), dir.path().join("tasks.json"));
}

#[test]
fn open_tells_the_kind_from_the_name_and_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let board = write(dir.path(), "board.json", r#"{"milestones": [{"id": "M1"}]}"#);
    assert_eq!(TaskFile::open(&board).unwrap().source(), TaskSource::Kanban);
    let list = write(dir.path(), "work.json", r#"{"tasks": []}"#);
    assert_eq!(TaskFile::open(&list).unwrap().source(), TaskSource::Json);
    let notes = write(dir.path(), "PLAN.markdown", "- [ ] a\n");
    assert_eq!(TaskFile::open(&notes).unwrap().source(), TaskSource::Todo);
    let other = write(dir.path(), "tasks.yaml", "- a\n");
    let error = TaskFile::open(&other).unwrap_err();
    assert!(matches!(error, TaskError::UnknownKind { .. }), "{error}");
    let missing = TaskFile::open(&dir.path().join("nope.md")).unwrap_err();
    assert!(missing.to_string().starts_with("cannot read `"), "{missing}");
}

#[test]
fn json_order_is_in_progress_then_priority_then_file_order() {
    let text = r#"[
  {"id": "a", "title": "no priority"},
  {"id": "b", "title": "low", "priority": "low"},
  {"id": "c", "title": "high", "priority": "HIGH"},
  {"id": "d", "title": "five", "priority": 5},
  {"id": "e", "title": "critical", "priority": "critical"},
  {"id": "f", "title": "resumed", "status": "in_progress", "priority": -3},
  {"id": "g", "title": "medium", "priority": "medium"},
  {"id": "h", "title": "done", "status": "done", "priority": 9},
  {"id": "i", "title": "failed", "status": "failed", "priority": 9},
  {"id": "j", "title": "blocked", "status": "blocked", "priority": 9}
]"#;
    let file = TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap();
    assert_eq!(ready_order(&file), ["f", "d", "e", "c", "a", "g", "b"]);
    assert_eq!(file.completed_ids(), ["h"]);
    assert!(!file.is_finished());
}

#[test]
fn json_dependencies_must_be_done() {
    let text = r#"{"tasks": [
  {"id": "test", "title": "Test", "depends_on": ["build", "lint"], "priority": 10},
  {"id": "build", "title": "Build", "depends_on": ["lint"]},
  {"id": "lint", "title": "Lint", "status": "done"},
  {"id": "docs", "title": "Docs", "depends_on": ["broken"]},
  {"id": "broken", "title": "Broken", "status": "failed"}
]}"#;
    let file = TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap();
    assert_eq!(file.next_ready(&no_skip()).unwrap().id, "build");
    assert_eq!(file.waiting_on(&file.tasks()[0]), ["build"]);
    assert_eq!(file.waiting_on(&file.tasks()[3]), ["broken"], "a failed dependency blocks");
    assert_eq!(ready_order(&file), ["build"]);
    let built = text.replace(r#""Build", "depends_on""#, r#""Build", "status": "done", "depends_on""#);
    let file = TaskFile::parse("tasks.json", TaskSource::Json, &built).unwrap();
    assert_eq!(file.next_ready(&no_skip()).unwrap().id, "test");
}

#[test]
fn dependency_errors_name_the_task_and_the_cycle() {
    let parse = |text: &str| TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap_err().to_string();
    assert_eq!(
        parse("[\n{\"id\": \"a\", \"title\": \"A\", \"depends_on\": [\"zz\"]}]"),
        "tasks.json:2: task `a` depends on unknown task `zz`"
    );
    assert_eq!(
        parse(
            r#"[{"id": "x", "title": "X"},
{"id": "a", "title": "A", "depends_on": ["b"]},
{"id": "b", "title": "B", "depends_on": ["x", "c"]},
{"id": "c", "title": "C", "depends_on": ["a"]}]"#
        ),
        "tasks.json: dependency cycle: a → b → c → a"
    );
    assert_eq!(
        parse(r#"[{"id": "a", "title": "A", "depends_on": ["a"]}]"#),
        "tasks.json: dependency cycle: a → a"
    );
    assert_eq!(
        parse("[{\"id\": 1, \"title\": \"A\"},\n{\"id\": \"1\", \"title\": \"B\"}]"),
        "tasks.json:2: duplicate task id `1` (first used on line 1)"
    );
}

#[test]
fn a_long_dependency_chain_is_checked_without_recursion() {
    let tasks: Vec<String> = (0..20_000)
        .map(|i| match i {
            0 => r#"{"id": "0", "title": "t"}"#.to_owned(),
            _ => format!(r#"{{"id": "{i}", "title": "t", "depends_on": ["{}"]}}"#, i - 1),
        })
        .collect();
    let file = TaskFile::parse("tasks.json", TaskSource::Json, &format!("[{}]", tasks.join(",\n"))).unwrap();
    assert_eq!(file.next_ready(&no_skip()).unwrap().id, "0");
}

#[test]
fn todo_children_come_before_their_parent() {
    let text = "- [ ] Auth\n  - [ ] Login form\n  - [x] Session store\n- [x] Checked parent\n  - [ ] Unchecked child\n";
    let file = TaskFile::parse("TODO.md", TaskSource::Todo, text).unwrap();
    assert_eq!(file.tasks()[0].depends_on, ["todo-2", "todo-3"]);
    assert_eq!(file.tasks()[3].status, TaskStatus::Done);
    assert_eq!(ready_order(&file), ["todo-2", "todo-5"], "the parent waits for its unchecked child");
    let done = text.replace("[ ] Login", "[x] Login");
    let file = TaskFile::parse("TODO.md", TaskSource::Todo, &done).unwrap();
    assert_eq!(ready_order(&file), ["todo-1", "todo-5"]);
}

const TODO: &str = "# Project\n\nSome intro text.\n\n## Build\n- [ ] T-1: Set up the crate\n- [ ] Write the parser   \n  - [ ] Lexer\n  - [X] Grammar\n1. [ ] #7 Ship it\n\n```\n- [ ] not a task\n```\n";

#[test]
fn todo_marking_changes_only_the_box_and_the_marker() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "TODO.md", TODO);
    let mut file = TaskFile::open(&path).unwrap();
    let ids: Vec<&str> = file.tasks().iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T-1", "todo-2", "todo-3", "todo-4", "#7"]);

    file.mark("T-1", TaskStatus::InProgress, None).unwrap();
    let expected = TODO
        .replace("- [ ] T-1: Set up the crate", "- [ ] T-1: Set up the crate <!-- ralph: in_progress -->");
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
    assert_eq!(file.task("T-1").unwrap().status, TaskStatus::InProgress);

    file.mark("T-1", TaskStatus::Done, None).unwrap();
    let expected = TODO.replace("- [ ] T-1", "- [x] T-1");
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);

    file.mark("todo-2", TaskStatus::Failed, Some("cargo test: 2 failed\n-- see log")).unwrap();
    let expected = expected.replace(
        "- [ ] Write the parser   \n",
        "- [ ] Write the parser    <!-- ralph: failed: cargo test: 2 failed - see log -->\n",
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
    assert_eq!(file.task("todo-2").unwrap().status, TaskStatus::Failed);

    // Failed again without a note keeps the first note; in progress keeps it too.
    file.mark("todo-2", TaskStatus::Failed, None).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);

    // Back to pending removes the marker and the one space it brought: the line is as it was.
    file.mark("todo-2", TaskStatus::Pending, None).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), TODO.replace("- [ ] T-1", "- [x] T-1"));

    // An `X` stays an `X`; unchecking it writes a space.
    file.mark("todo-4", TaskStatus::Done, None).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), TODO.replace("- [ ] T-1", "- [x] T-1"));
    file.mark("todo-4", TaskStatus::Blocked, None).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        TODO.replace("- [ ] T-1", "- [x] T-1")
            .replace("  - [X] Grammar", "  - [ ] Grammar <!-- ralph: blocked -->")
    );
    file.mark("#7", TaskStatus::Done, None).unwrap();
    assert!(fs::read_to_string(&path).unwrap().contains("\n1. [x] #7 Ship it\n"));
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["TODO.md"], "no temporary file is left behind");
}

#[test]
fn todo_marking_keeps_crlf_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let crlf = TODO.replace('\n', "\r\n");
    let path = write(dir.path(), "TODO.md", &crlf);
    let mut file = TaskFile::open(&path).unwrap();
    file.mark("todo-3", TaskStatus::Failed, Some("lexer panics")).unwrap();
    file.mark("#7", TaskStatus::Done, None).unwrap();
    let expected = crlf
        .replace("  - [ ] Lexer\r\n", "  - [ ] Lexer <!-- ralph: failed: lexer panics -->\r\n")
        .replace("1. [ ] #7", "1. [x] #7");
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
    file.mark("todo-3", TaskStatus::Pending, None).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), crlf.replace("1. [ ] #7", "1. [x] #7"));
}

#[test]
fn a_failed_todo_task_is_not_picked_again_until_its_marker_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "TODO.md", "- [ ] first\n- [ ] second\n");
    let mut file = TaskFile::open(&path).unwrap();
    assert_eq!(file.next_ready(&no_skip()).unwrap().id, "todo-1");
    file.mark("todo-1", TaskStatus::Failed, Some("boom")).unwrap();
    assert_eq!(file.next_ready(&no_skip()).unwrap().id, "todo-2");
    let mut reopened = TaskFile::open(&path).unwrap();
    assert_eq!(reopened.next_ready(&no_skip()).unwrap().id, "todo-2", "the failure survives a restart");
    // A person resets the task by deleting the marker.
    fs::write(&path, "- [ ] first\n- [ ] second\n").unwrap();
    reopened.reload().unwrap();
    assert_eq!(reopened.next_ready(&no_skip()).unwrap().id, "todo-1");
}

#[test]
fn marking_reads_the_file_again_after_an_agent_edited_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "TODO.md", "- [ ] T-1: one\n- [ ] two\n- [ ] three\n");
    let mut file = TaskFile::open(&path).unwrap();
    // During the iteration, the agent checks its own box and adds tasks, one of them above.
    fs::write(&path, "- [ ] T-0: new first\n- [x] T-1: one\n- [ ] two\n- [ ] three\n- [ ] four\n").unwrap();
    file.mark("T-1", TaskStatus::Done, None).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "- [ ] T-0: new first\n- [x] T-1: one\n- [ ] two\n- [ ] three\n- [ ] four\n"
    );
    assert_eq!(file.tasks().len(), 5, "the marked file is what this value now holds");

    // `todo-2` was "two" when read; it is now "one". The title is followed.
    let mut file = TaskFile::open(&path).unwrap();
    assert_eq!(file.task("todo-3").unwrap().title, "two");
    fs::write(
        &path,
        "- [ ] inserted\n- [ ] T-0: new first\n- [x] T-1: one\n- [ ] two\n- [ ] three\n- [ ] four\n",
    )
    .unwrap();
    file.mark("todo-3", TaskStatus::Done, None).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "- [ ] inserted\n- [ ] T-0: new first\n- [x] T-1: one\n- [x] two\n- [ ] three\n- [ ] four\n"
    );

    // When the title no longer names one task, marking refuses rather than guess.
    let mut file = TaskFile::open(&path).unwrap();
    fs::write(&path, "- [ ] three\n- [ ] inserted\n- [ ] three\n").unwrap();
    let error = file.mark("todo-5", TaskStatus::Done, None).unwrap_err();
    assert!(matches!(&error, TaskError::Moved { id, .. } if id == "todo-5"), "{error}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "- [ ] three\n- [ ] inserted\n- [ ] three\n");

    let error = file.mark("T-9", TaskStatus::Done, None).unwrap_err();
    assert_eq!(error.to_string(), format!("{}: no task `T-9`", path.display()));
}

#[test]
fn json_marking_targets_the_fresh_text() {
    let dir = tempfile::tempdir().unwrap();
    let original = "{\n  \"tasks\": [\n    {\"id\": \"a\", \"title\": \"A\", \"status\": \"pending\"},\n    {\"id\": \"b\", \"title\": \"B\", \"status\": \"pending\"}\n  ]\n}\n";
    let path = write(dir.path(), "tasks.json", original);
    let mut file = TaskFile::open(&path).unwrap();
    // The agent reformats with 4 spaces, adds a field and a task, and reorders.
    let edited = "{\n    \"tasks\": [\n        {\"id\": \"new\", \"title\": \"N\"},\n        {\"id\": \"b\", \"title\": \"B\", \"status\": \"pending\", \"notes\": 1e3},\n        {\"id\": \"a\", \"title\": \"A\", \"status\": \"pending\"}\n    ]\n}";
    fs::write(&path, edited).unwrap();
    file.mark("b", TaskStatus::Done, Some("ignored for JSON")).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        edited.replace("\"B\", \"status\": \"pending\"", "\"B\", \"status\": \"done\"")
    );
    file.mark("new", TaskStatus::Failed, None).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        edited
            .replace("\"B\", \"status\": \"pending\"", "\"B\", \"status\": \"done\"")
            .replace("\"title\": \"N\"}", "\"title\": \"N\", \"status\": \"failed\"}")
    );
    assert_eq!(file.next_ready(&no_skip()).unwrap().id, "a");

    // A file the agent broke is reported, not overwritten.
    fs::write(&path, "{\"tasks\": [").unwrap();
    let error = file.mark("a", TaskStatus::Done, None).unwrap_err();
    assert!(matches!(error, TaskError::Syntax { line: 1, column: 11, .. }), "{error}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "{\"tasks\": [");
}

#[test]
fn kanban_marking_finishes_a_milestone_and_unblocks_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let board = "{\"milestones\": [\n\t{\"id\": \"M1\", \"tasks\": [{\"id\": \"M1.1\", \"title\": \"a\", \"status\": \"todo\"}]},\n\t{\"id\": \"M2\", \"blocked_by\": [\"M1\"], \"tasks\": [{\"id\": \"M2.1\", \"title\": \"b\", \"status\": \"todo\"}]}\n]}\n";
    let path = write(dir.path(), "kanban.json", board);
    let mut file = TaskFile::open(&path).unwrap();
    assert_eq!(ready_order(&file), ["M1.1"]);
    file.mark("M1.1", TaskStatus::InProgress, None).unwrap();
    file.mark("M1.1", TaskStatus::Done, None).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), board.replacen("\"todo\"", "\"done\"", 1));
    assert_eq!(ready_order(&file), ["M2.1"]);
    file.mark("M2.1", TaskStatus::Done, None).unwrap();
    assert!(file.is_finished());
}

#[cfg(unix)]
#[test]
fn marking_keeps_permissions_and_symbolic_links() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = write(dir.path(), "real.md", "- [ ] a\n");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("TODO.md");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut file = TaskFile::open(&link).unwrap();
    file.mark("todo-1", TaskStatus::Done, None).unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_to_string(&real).unwrap(), "- [x] a\n");
    assert_eq!(fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o640);
}

#[test]
fn the_packet_task_carries_id_text_line_and_criteria() {
    let todo =
        TaskFile::parse("TODO.md", TaskSource::Todo, "\n- [ ] T-5: Implement auth\n  JWT, not sessions\n")
            .unwrap();
    let packet = todo.packet_task(&todo.tasks()[0]);
    assert_eq!(packet.id, "T-5");
    assert_eq!(packet.description, "Implement auth\n\nJWT, not sessions");
    assert_eq!(packet.from_todo.as_deref(), Some("line 2"));

    let board = TaskFile::parse(
        "/p/kanban.json",
        TaskSource::Kanban,
        r#"{"milestones": [{"id": "M", "tasks": [{"id": "t", "title": "T", "acceptance_criteria": ["ok"]}]}]}"#,
    )
    .unwrap();
    let packet = board.packet_task(&board.tasks()[0]);
    assert_eq!(packet.description, "T");
    assert_eq!(packet.from_todo.as_deref(), Some("kanban.json:1"));
    assert_eq!(packet.acceptance_criteria, ["ok"]);
}

// ---- Property tests ----

/// A line of a generated TODO.md: mostly task items, with the other things such files hold.
fn todo_line() -> impl Strategy<Value = String> {
    let item = (
        prop::sample::select(vec!["", "  ", "    ", "\t", "   "]),
        prop::sample::select(vec!["-", "*", "+", "1.", "10)"]),
        prop::sample::select(vec![" ", "x", "X"]),
        prop::sample::select(vec!["", "T-1: ", "[T-2] ", "#3 ", "M1.1: ", "[WIP] "]),
        "[a-zA-Z0-9 :#<>!\\[\\]-]{1,16}",
        prop::sample::select(vec![
            "",
            " <!-- ralph: failed -->",
            " <!-- ralph: failed: it broke -->",
            "<!--ralph:in_progress-->",
            " <!-- ralph: blocked -->  ",
            " <!-- mine -->",
        ]),
        prop::sample::select(vec!["", " ", "  "]),
    )
        .prop_map(|(indent, bullet, mark, id, title, marker, trailing)| {
            format!("{indent}{bullet} [{mark}] {id}{title}{trailing}{marker}")
        });
    prop_oneof![
        6 => item,
        1 => "#{1,3} [a-z ]{0,10}",
        1 => "[ \t]{0,4}[a-zA-Z .:#<>!\\[\\]*-]{0,20}",
        1 => Just(String::new()),
        1 => prop::sample::select(vec!["```", "~~~", "<!--", "-->", "- plain bullet"]).prop_map(str::to_owned),
    ]
}

/// A generated TODO.md, with `\n` or `\r\n` line endings and maybe a final newline.
fn todo_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(todo_line(), 0..24), any::<bool>(), any::<bool>()).prop_map(
        |(lines, crlf, last)| {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(newline);
            if last {
                text.push_str(newline);
            }
            text
        },
    )
}

fn status() -> impl Strategy<Value = TaskStatus> {
    prop::sample::select(TaskStatus::ALL.to_vec())
}

proptest! {
    #[test]
    fn todo_parsing_never_panics(text in "(?s).{0,400}") {
        let _ = TaskFile::parse("TODO.md", TaskSource::Todo, &text);
    }

    #[test]
    fn todo_parsing_never_panics_on_markdownish_text(text in "[-*+0-9.)\\[\\] xX\t\r\n#`~<!>:a-z]{0,300}") {
        let _ = TaskFile::parse("TODO.md", TaskSource::Todo, &text);
    }

    #[test]
    fn todo_marking_changes_only_that_line(
        text in todo_text(),
        pick in any::<prop::sample::Index>(),
        status in status(),
        note in prop::option::of("(?s).{0,40}"),
    ) {
        let doc = todo::TodoDoc::parse(Path::new("TODO.md"), &text).unwrap();
        prop_assume!(!doc.tasks.is_empty());
        let index = pick.index(doc.tasks.len());
        let marked = doc.set_status(&text, index, status, note.as_deref());
        let line = doc.tasks[index].line as usize - 1;

        let before: Vec<&str> = text.split('\n').collect();
        let after: Vec<&str> = marked.split('\n').collect();
        prop_assert_eq!(before.len(), after.len());
        for (n, (b, a)) in before.iter().zip(&after).enumerate() {
            if n != line {
                prop_assert_eq!(b, a, "line {} changed", n + 1);
            } else {
                prop_assert_eq!(b.ends_with('\r'), a.ends_with('\r'));
            }
        }

        let again = todo::TodoDoc::parse(Path::new("TODO.md"), &marked).unwrap();
        prop_assert_eq!(again.tasks.len(), doc.tasks.len());
        for (i, (old, new)) in doc.tasks.iter().zip(&again.tasks).enumerate() {
            let expected = if i == index { status } else { old.status };
            prop_assert_eq!(new.status, expected);
            prop_assert_eq!(&new.id, &old.id);
            prop_assert_eq!(&new.title, &old.title);
            prop_assert_eq!(&new.description, &old.description);
            prop_assert_eq!(&new.depends_on, &old.depends_on);
        }

        // Marking it back to what it was read as gives back a line that reads the same.
        let restored = again.set_status(&marked, index, doc.tasks[index].status, None);
        let third = todo::TodoDoc::parse(Path::new("TODO.md"), &restored).unwrap();
        prop_assert_eq!(&third.tasks, &doc.tasks);
    }
}

/// One generated task of a tasks.json: id, title, status word, priority, extra field.
type GenTask = (String, Option<&'static str>, Option<i64>, bool);

fn json_tasks() -> impl Strategy<Value = Vec<GenTask>> {
    let task = (
        "[a-zA-Z é\"\\\\]{1,12}",
        prop::option::of(prop::sample::select(vec![
            "pending",
            "todo",
            "done",
            "Completed",
            "failed",
            "in_progress",
            "blocked",
        ])),
        prop::option::of(-3i64..5),
        any::<bool>(),
    );
    prop::collection::vec(task, 1..8)
}

/// Renders generated tasks as a tasks.json in one of several styles.
fn render(tasks: &[GenTask], indent: Option<&str>, wrapped: bool, crlf: bool) -> String {
    let newline = if crlf { "\r\n" } else { "\n" };
    let objects: Vec<String> = tasks
        .iter()
        .enumerate()
        .map(|(i, (title, status, priority, extra))| {
            let mut members = vec![
                format!("\"id\": \"t{i}\""),
                format!("\"title\": {}", serde_json::to_string(title).unwrap()),
            ];
            if let Some(status) = status {
                members.push(format!("\"status\": \"{status}\""));
            }
            if let Some(priority) = priority {
                members.push(format!("\"priority\": {priority}"));
            }
            if *extra {
                members.push("\"estimate\": {\"hours\": 1.50, \"exp\": 2E+3, \"tags\": []}".to_owned());
            }
            match indent {
                Some(indent) => {
                    let inner = format!("{indent}{indent}{}", if wrapped { indent } else { "" });
                    let outer = &inner[indent.len()..];
                    format!(
                        "{{{newline}{inner}{}{newline}{outer}}}",
                        members.join(&format!(",{newline}{inner}"))
                    )
                }
                None => format!("{{{}}}", members.join(", ")),
            }
        })
        .collect();
    match (indent, wrapped) {
        (Some(indent), true) => format!(
            "{{{newline}{indent}\"version\": 1,{newline}{indent}\"tasks\": [{newline}{indent}{indent}{}{newline}{indent}]{newline}}}{newline}",
            objects.join(&format!(",{newline}{indent}{indent}"))
        ),
        (Some(indent), false) => {
            format!("[{newline}{indent}{}{newline}]{newline}", objects.join(&format!(",{newline}{indent}")))
        }
        (None, true) => format!("{{\"version\": 1, \"tasks\": [{}]}}", objects.join(", ")),
        (None, false) => format!("[{}]", objects.join(",")),
    }
}

proptest! {
    #[test]
    fn json_marking_changes_only_that_status(
        tasks in json_tasks(),
        indent in prop::option::of(prop::sample::select(vec!["  ", "    ", "\t"])),
        wrapped in any::<bool>(),
        crlf in any::<bool>(),
        pick in any::<prop::sample::Index>(),
        status in status(),
    ) {
        let text = render(&tasks, indent, wrapped, crlf);
        let file = TaskFile::parse("tasks.json", TaskSource::Json, &text).unwrap();
        let index = pick.index(tasks.len());
        let Doc::Json(doc) = &file.doc else { unreachable!() };
        let marked = doc.set_status(&text, index, status);

        let again = TaskFile::parse("tasks.json", TaskSource::Json, &marked).unwrap();
        for (i, (old, new)) in file.tasks().iter().zip(again.tasks()).enumerate() {
            // Lines below an inserted `status` move down; nothing else changes.
            let mut expected = Task { line: new.line, ..old.clone() };
            if i == index {
                expected.status = status;
            }
            prop_assert_eq!(new, &expected);
        }

        // As data: the old document with that one status set.
        let mut expected: serde_json::Value = serde_json::from_str(&text).unwrap();
        let list = if wrapped { &mut expected["tasks"] } else { &mut expected };
        // The first spelling of that status in the file, else the canonical word.
        let spelled = tasks.iter().find_map(|t| t.1.filter(|w| TaskStatus::parse(w) == Some(status)));
        let word = spelled.unwrap_or(status.as_str());
        list[index]["status"] = word.into();
        prop_assert_eq!(serde_json::from_str::<serde_json::Value>(&marked).unwrap(), expected);

        // As text: everything outside the task's object is untouched.
        let root = spans::scan(&text).unwrap();
        let array = if wrapped { &root.get("tasks").unwrap().value } else { &root };
        let spans::Kind::Array(objects) = &array.kind else { unreachable!() };
        let (start, end) = (objects[index].start, objects[index].end);
        prop_assert_eq!(&marked[..start], &text[..start]);
        prop_assert_eq!(&marked[marked.len() - (text.len() - end)..], &text[end..]);
    }
}

/// See: issue 17. An old `tasks.json` (none of the scheduler's fields) is read unchanged and
/// rewritten byte for byte but for the members an attempt changes.
#[test]
fn an_attempt_rewrites_an_old_file_only_where_its_fields_change() {
    let dir = tempfile::tempdir().unwrap();
    let old = "{\n    \"version\": 1,\n    \"tasks\": [\n        {\n            \"id\": \"a\",\n            \"title\": \"A\",\n            \"status\": \"pending\",\n            \"cost\": 1.50\n        },\n        {\"id\": \"b\", \"title\": \"B\", \"status\": \"completed\"}\n    ]\n}\n";
    let path = write(dir.path(), "tasks.json", old);
    let mut file = TaskFile::open(&path).unwrap();
    assert_eq!((file.tasks()[0].failed_attempts, file.tasks()[0].last_attempt_at.as_deref()), (0, None));

    file.mark_attempt("a", TaskStatus::Failed, Some("tests fail"), "2026-01-01T10:00:00.000Z").unwrap();
    let once = old.replace(
        "\"status\": \"pending\",\n            \"cost\": 1.50",
        "\"status\": \"failed\",\n            \"cost\": 1.50,\n            \"last_attempt_at\": \"2026-01-01T10:00:00.000Z\",\n            \"failed_attempts\": 1",
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), once);
    assert_eq!(file.tasks()[0].failed_attempts, 1);

    // A person reopens it; the next failure counts on, in place.
    file.mark("a", TaskStatus::Pending, None).unwrap();
    file.mark_attempt("a", TaskStatus::Failed, None, "2026-01-01T11:00:00.000Z").unwrap();
    let twice = once
        .replace("10:00:00.000Z", "11:00:00.000Z")
        .replace("\"failed_attempts\": 1", "\"failed_attempts\": 2");
    assert_eq!(fs::read_to_string(&path).unwrap(), twice);

    // Done: the time moves, the count stays; the other task's `completed` spelling is reused.
    file.mark_attempt("a", TaskStatus::Done, None, "2026-01-01T12:00:00.000Z").unwrap();
    let done = twice.replace("\"failed\"", "\"completed\"").replace("11:00:00.000Z", "12:00:00.000Z");
    assert_eq!(fs::read_to_string(&path).unwrap(), done);

    // An inline object and a kanban board keep their own style.
    let inline = r#"[{"id":"x","title":"X"}]"#;
    let path = write(dir.path(), "inline.json", inline);
    TaskFile::open(&path)
        .unwrap()
        .mark_attempt("x", TaskStatus::Failed, None, "2026-01-01T00:00:00Z")
        .unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        r#"[{"id":"x","title":"X","status":"failed","last_attempt_at":"2026-01-01T00:00:00Z","failed_attempts":1}]"#
    );
    let board = "{\"milestones\": [{\"id\": \"M\", \"tasks\": [\n  {\"id\": \"k\", \"title\": \"K\", \"status\": \"todo\"}\n]}]}\n";
    let path = write(dir.path(), "kanban.json", board);
    TaskFile::open(&path).unwrap().mark_attempt("k", TaskStatus::Done, None, "2026-01-01T00:00:00Z").unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        board.replace("\"todo\"}", "\"done\", \"last_attempt_at\": \"2026-01-01T00:00:00Z\"}")
    );

    // TODO.md has no place for them: only the box changes.
    let path = write(dir.path(), "TODO.md", "- [ ] T-1: one\n");
    TaskFile::open(&path)
        .unwrap()
        .mark_attempt("T-1", TaskStatus::Done, None, "2026-01-01T00:00:00Z")
        .unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "- [x] T-1: one\n");
}

#[test]
fn the_scheduler_fields_are_read_from_json_and_default_when_absent() {
    let text = r#"[{"id": "a", "title": "A", "role": "evaluator", "complexity": 2, "failed_attempts": 3,
                   "last_attempt_at": "2026-01-01T00:00:00Z", "labels": ["ui", "auth"],
                   "acceptance_criteria": ["renders"]},
                  {"id": "b", "title": "B", "complexity": null, "failed_attempts": null, "labels": null}]"#;
    let file = TaskFile::parse("tasks.json", TaskSource::Json, text).unwrap();
    let [a, b] = file.tasks() else { panic!() };
    assert_eq!(a.role.as_deref(), Some("evaluator"));
    assert_eq!(a.complexity, Some(2));
    assert_eq!(a.failed_attempts, 3);
    assert_eq!(a.last_attempt_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(a.labels, ["ui", "auth"]);
    assert_eq!(a.acceptance_criteria, ["renders"]);
    assert_eq!((b.complexity, b.failed_attempts, b.labels.len()), (None, 0, 0));
}

/// A `tasks.json` holding `text` in a temporary directory, opened (the directory goes with it).
pub(crate) fn tasks_json(text: &str) -> (tempfile::TempDir, TaskFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.json");
    fs::write(&path, text).unwrap();
    let file = TaskFile::open(&path).unwrap();
    (dir, file)
}
