//! Learnings: what an agent reports in one task (its result file's `learnings`, `- ` lines in
//! `.ralph/learnings.md`) is kept per project and given to later tasks about the same words.
// See: issue 17, item 5

use crate::support::{events, project, ralph};

/// A one-node workflow whose agent copies its packet to `packet-<task>.json`; the agent of
/// `t1` appends a learning to `.ralph/learnings.md`, the agent of `t3` reports one in its
/// result file.
const WORKFLOW: &str = r#"workflow:
  nodes:
    - id: work
      agent: worker
agents:
  worker:
    command: |
      task=$(python3 -c 'import json,os; print(json.load(open(os.environ["RALPH_PACKET_FILE"]))["context"]["current_task"]["id"])')
      cp "$RALPH_PACKET_FILE" "packet-$task.json"
      case "$task" in
        t1) printf -- '- The CI cache lives in target/ci-cache\n' >> .ralph/learnings.md ;;
        t3) echo '{"summary": "tokens added", "learnings": ["The parser module needs utf8 normalization"]}' > "$RALPH_RESULT_FILE" ;;
      esac
"#;

const TASKS: &str = r#"{"tasks": [
  {"id": "t1", "description": "Set up continuous integration", "status": "pending"},
  {"id": "t2", "description": "Write the README install section", "status": "pending"},
  {"id": "t3", "description": "Add tokens to the parser", "status": "pending"},
  {"id": "t4", "description": "Fix the parser crash on accented input in src/parser.rs", "status": "pending"},
  {"id": "t5", "description": "Update the changelog for the release", "status": "pending"}
]}
"#;

fn packet(dir: &std::path::Path, task: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("packet-{task}.json"))).unwrap()).unwrap()
}

fn learnings(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&ralph(["learnings", "--json"]).current_dir(dir).expect(0).stdout).unwrap()
}

#[test]
fn a_learning_of_task_3_reaches_a_later_task_about_the_parser_and_not_an_unrelated_one() {
    let dir =
        project(&[("w.yaml", WORKFLOW), ("tasks.json", TASKS), (".ralph/learnings.md", "# Learnings\n")]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);

    // Each is journaled with the step and task that reported it.
    let reported: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "learning_reported")
        .map(|e| (e["step"].as_str().unwrap(), e["task"].as_str().unwrap(), e["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reported,
        [
            ("work", "t1", "The CI cache lives in target/ci-cache"),
            ("work", "t3", "The parser module needs utf8 normalization")
        ]
    );

    // The parser task gets the parser learning, in `learnings` and in `prior_thread`.
    let parser = packet(dir.path(), "t4");
    let given = &parser["context"]["learnings"];
    assert_eq!(given.as_array().unwrap().len(), 1, "{given}");
    assert_eq!(given[0]["text"], "The parser module needs utf8 normalization");
    assert_eq!(given[0]["task"], "t3");
    assert_eq!(parser["context"]["prior_thread"][0]["role"], "memory");
    assert!(parser["context"]["prior_thread"][0]["content"].as_str().unwrap().contains("utf8 normalization"));
    // The unrelated ones get none, and nothing learnt before a task is given to an earlier one.
    for task in ["t1", "t2", "t3", "t5"] {
        let context = &packet(dir.path(), task)["context"];
        assert!(
            context.get("learnings").is_none() && context.get("prior_thread").is_none(),
            "{task}: {context}"
        );
    }

    // `learnings --json` lists both with their source; a repeat would count, not add.
    let listed = learnings(dir.path());
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let parser_learning = listed.iter().find(|l| l["source"]["task"] == "t3").unwrap();
    assert_eq!(parser_learning["text"], "The parser module needs utf8 normalization");
    assert_eq!(parser_learning["source"]["step"], "work");
    assert_eq!(parser_learning["count"], 1);
    let id = parser_learning["id"].as_str().unwrap().to_owned();
    let table = ralph(["learnings"]).current_dir(dir.path()).expect(0).stdout;
    assert!(table.contains(&id) && table.contains("task t3, work"), "{table}");

    // An unknown id is a usage error with a suggestion; forget removes it.
    let unknown = ralph(["learnings", "forget", "L9"]).current_dir(dir.path()).expect(2);
    assert!(unknown.stderr.contains("no learning `L9`; did you mean `L"), "{}", unknown.stderr);
    ralph(["learnings", "edit", &id, "The parser needs NFC utf8 normalization"])
        .current_dir(dir.path())
        .expect(0);
    assert!(learnings(dir.path()).to_string().contains("NFC utf8"));
    ralph(["learnings", "forget", &id]).current_dir(dir.path()).expect(0);
    let left = learnings(dir.path());
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["text"], "The CI cache lives in target/ci-cache");
    assert!(std::fs::read_to_string(dir.path().join(".ralph/learnings.json")).unwrap().contains("ci-cache"));
}
