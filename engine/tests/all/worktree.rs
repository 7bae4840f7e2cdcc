//! The user's git work tree (issue 13, findings 1, 2, 3, 13 and 16): evidence is exactly what a
//! step changed, `--commit` commits only a task's own work, `git_reset` never takes the user's
//! work, and one loop runs per work tree. Every test runs inside a real git work tree with
//! the user's files lying around and `.ralph/` *not* ignored, as a new user's repository is.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{events, project, ralph, sh};

/// Makes `dir` a repository with one commit of what is in it, `.ralph/` not ignored.
fn repository(dir: &Path) {
    sh(
        dir,
        "git init -q -b main . && git config user.email t@t && git config user.name t && git add -A && git commit -qm init",
    );
}

/// The step's `step_finished` event.
fn finished<'a>(events: &'a [serde_json::Value], step: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == step)
        .unwrap_or_else(|| panic!("no step_finished for `{step}`"))
}

/// The paths a commit holds.
fn commit_paths(dir: &Path, commit: &str) -> Vec<String> {
    sh(dir, &format!("git show --name-only --format= {commit}")).lines().map(str::to_owned).collect()
}

/// Waits (bounded) until `fact` holds.
fn wait_for(what: &str, secs: u64, mut fact: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !fact() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// See: issue 13, finding 1.
#[test]
fn a_step_s_files_changed_are_only_what_it_changed_and_conditions_do_not_fire_on_the_user_s_files() {
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: edit\n      agent: editor\n    - id: text_check\n      agent: texts\n      depends_on: [edit]\nagents:\n  editor:\n    command: \"echo 'print(1)' > app.py\"\n  texts:\n    command: \"echo checked >> ran.log\"\n    condition: \"file_changed: '*.txt'\"\n",
        ),
        ("tracked.txt", "committed\n"),
    ]);
    repository(dir.path());
    // The user's work before the run: an untracked note and an uncommitted edit, both `.txt`.
    sh(dir.path(), "echo 'call Bob' > notes.txt && echo 'my edit' >> tracked.txt");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    let edit = finished(&events, "edit");
    assert_eq!(
        edit["outcome"]["evidence"]["files_changed"],
        serde_json::json!(["app.py"]),
        "not the user's files, not `.ralph/`: {edit}"
    );
    let skipped = events.iter().find(|e| e["event"] == "step_skipped");
    assert!(
        skipped.is_some_and(|s| s["step"] == "text_check"),
        "`file_changed: '*.txt'` must not fire on the user's notes.txt or tracked.txt"
    );
    assert!(!dir.path().join("ran.log").exists());
    // The completed packets say the same.
    for packet in events.iter().filter(|e| e["type"] == "packet" && e["phase"] == "completed") {
        let files = packet["packet"]["evidence"]["files_changed"].as_array().cloned().unwrap_or_default();
        assert!(
            files.iter().all(|f| !f.as_str().unwrap().starts_with(".ralph/") && f != "notes.txt"),
            "{packet}"
        );
    }
}

// See: issue 13, finding 1 (a step that leaves the user's dirty file alone while others run).
#[test]
fn a_step_that_changes_nothing_has_no_files_changed_even_as_the_engine_writes_its_own_files() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: talk\n      agent: talker\nagents:\n  talker:\n    command: \"echo a lot of output for the log\"\n",
    )]);
    repository(dir.path());
    sh(dir.path(), "echo secret > notes.local");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = events(&out.stdout);
    let files = &finished(&events, "talk")["outcome"]["evidence"]["files_changed"];
    assert!(files.is_null() || files == &serde_json::json!([]), "{files}");
}

/// Tasks whose agent writes `<task>.txt`; a task titled `FAIL` leaves `half.txt` and fails.
const TASK_WORKFLOW: &str = r#"workflow:
  nodes:
    - id: work
      agent: worker
agents:
  worker:
    command: |
      task=$(python3 -c 'import json,os; print(json.load(open(os.environ["RALPH_PACKET_FILE"]))["context"]["current_task"]["id"])')
      case "$(cat "$RALPH_PACKET_FILE")" in *FAIL*) echo half > half.txt; exit 1 ;; esac
      echo done > "$task.txt"
"#;

// See: issue 13, findings 2 and 13.
#[test]
fn commit_commits_only_each_task_s_own_work_and_names_the_dirty_tree() {
    let dir = project(&[
        ("w.yaml", TASK_WORKFLOW),
        ("TODO.md", "- [ ] T-1: first\n- [ ] T-2: FAIL this one\n- [ ] T-3: third\n"),
        ("tracked.txt", "committed\n"),
    ]);
    repository(dir.path());
    // A password in an untracked file, and an uncommitted edit of a tracked one.
    sh(dir.path(), "echo 'password=hunter2' > notes.local && echo 'half-done thought' >> tracked.txt");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json", "--commit"]).current_dir(dir.path()).expect(1);
    let warned = "the work tree has 2 uncommitted paths (`notes.local`, `tracked.txt`); they stay out of the run's commits";
    assert!(out.stdout.contains(warned) || out.stderr.contains(warned), "{}\n{}", out.stdout, out.stderr);
    let events = events(&out.stdout);
    let commits: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "committed")
        .map(|e| (e["task"]["id"].as_str().unwrap().to_owned(), e["commit"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(commits.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["T-1", "T-3"]);
    for (task, commit) in &commits {
        let paths = commit_paths(dir.path(), commit);
        assert!(paths.contains(&format!("{task}.txt")), "{task}: {paths:?}");
        for foreign in ["notes.local", "tracked.txt", "half.txt"] {
            assert!(!paths.iter().any(|p| p == foreign), "{task}'s commit holds `{foreign}`: {paths:?}");
        }
        assert!(!paths.iter().any(|p| p.starts_with(".ralph/")), "{task}: {paths:?}");
    }
    // The user's work and the failed task's leftovers are still in the work tree, uncommitted.
    let status = sh(dir.path(), "git status --porcelain -- notes.local tracked.txt half.txt");
    assert_eq!(status, " M tracked.txt\n?? half.txt\n?? notes.local\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.local")).unwrap(), "password=hunter2\n");
    // One commit per finished task, exactly: nothing else on the branch.
    assert_eq!(sh(dir.path(), "git rev-list --count HEAD"), "3\n");
}

// See: issue 13, finding 13 (a commit that cannot be made is told as git tells it).
#[test]
fn a_stale_index_lock_is_named_and_the_task_s_work_is_not_lost() {
    let dir = project(&[("w.yaml", TASK_WORKFLOW), ("TODO.md", "- [ ] T-1: first\n")]);
    repository(dir.path());
    sh(dir.path(), "touch .git/index.lock");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json", "--commit"]).current_dir(dir.path()).output();
    assert_ne!(out.code, 0, "{}", out.stdout);
    let told = format!("{}{}", out.stdout, out.stderr);
    assert!(told.contains("index.lock` exists"), "{told}");
    assert!(!told.contains("Some(128)"), "{told}");
    assert!(dir.path().join("T-1.txt").exists(), "the task's work stays in the work tree");
    assert_eq!(sh(dir.path(), "git rev-list --count HEAD"), "1\n");
}

/// The saga template, made to fail at its last step, in a project whose scripts create and
/// change files the way a real migration would.
fn saga_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ralph(["init", "--template", "saga"]).current_dir(dir.path()).expect(0);
    let script = |name: &str, body: &str| {
        let path = dir.path().join("scripts").join(name);
        std::fs::write(&path, format!("#!/bin/sh\nset -eu\n{body}\n")).unwrap();
        crate::support::executable(&path);
    };
    script(
        "migrate.sh",
        "if [ \"$1\" = up ]; then echo 'create table t;' > schema.sql; echo changed >> app.txt 2>/dev/null || true; fi",
    );
    script("migrate-data.sh", "if [ \"$1\" = apply ]; then echo 1,2 > data.csv; fi");
    script("deploy.sh", "case \"$*\" in *--rollback*) exit 0 ;; esac; echo 'deploy failed' >&2; exit 1");
    // `.ralph/` not ignored, and a single task.
    std::fs::write(dir.path().join(".gitignore"), "").unwrap();
    std::fs::write(dir.path().join("TODO.md"), "- [ ] S-1: release\n").unwrap();
    dir
}

/// The outcome of the saga's `compensation.on_failure` (`git_reset`, then `notify`).
fn compensation(events: &[serde_json::Value]) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "compensation.on_failure")
        .cloned()
        .unwrap_or_else(|| panic!("the saga's compensation did not run: {events:?}"))
}

// See: issue 13, finding 3.
#[test]
fn the_saga_s_git_reset_undoes_the_run_and_leaves_the_user_s_earlier_work_in_place() {
    let dir = saga_project();
    std::fs::write(dir.path().join("app.txt"), "v1\n").unwrap();
    std::fs::write(dir.path().join("staged.txt"), "s1\n").unwrap();
    std::fs::write(dir.path().join("mine.txt"), "m1\n").unwrap();
    repository(dir.path());
    // The user's work before the run: untracked, staged, and unstaged.
    sh(
        dir.path(),
        "echo 'password=hunter2' > notes.local && echo s2 >> staged.txt && git add staged.txt && echo m2 >> mine.txt",
    );
    let base = sh(dir.path(), "git rev-parse HEAD");
    let out =
        ralph(["loop", "--workflow", "workflows/saga.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let reset = compensation(&events(&out.stdout));
    assert_eq!(reset["outcome"]["success"], true, "{reset}");
    assert_eq!(sh(dir.path(), "git rev-parse HEAD"), base);
    assert_eq!(sh(dir.path(), "git stash list"), "", "nothing is stashed");
    // The user's work is as it was.
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.local")).unwrap(), "password=hunter2\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("mine.txt")).unwrap(), "m1\nm2\n");
    assert_eq!(
        sh(dir.path(), "git diff --cached --name-only"),
        "staged.txt\n",
        "the staged change is still staged"
    );
    // The run's work is undone.
    assert_eq!(std::fs::read_to_string(dir.path().join("app.txt")).unwrap(), "v1\n");
    assert!(!dir.path().join("schema.sql").exists() && !dir.path().join("data.csv").exists());
}

// See: issue 13, finding 3 (a repository without commits).
#[test]
fn the_saga_s_git_reset_in_a_repository_without_commits_says_plainly_what_it_did() {
    let dir = saga_project();
    sh(
        dir.path(),
        "git init -q -b main . && git config user.email t@t && git config user.name t && echo 'password=hunter2' > notes.local",
    );
    let out =
        ralph(["loop", "--workflow", "workflows/saga.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let reset = compensation(&events(&out.stdout));
    assert_eq!(reset["outcome"]["success"], true, "{reset}");
    // What `git_reset` said, wherever the run shows it (its step's outcome, or an event of its
    // own when the chain's last action speaks for the step).
    let said = out
        .stdout
        .lines()
        .find_map(|l| l.find("the repository has no commit yet: ").map(|at| l[at..].to_owned()))
        .unwrap_or_else(|| panic!("git_reset did not say that the repository has no commit: {}", out.stdout));
    assert!(said.contains("nothing else to restore"), "{said}");
    assert!(!out.stdout.contains("Some(128)") && !out.stdout.contains("usage:"), "{}", out.stdout);
    assert!(!dir.path().join("schema.sql").exists(), "the run's files are removed: {said}");
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.local")).unwrap(), "password=hunter2\n");
    assert!(dir.path().join("ralph.yaml").exists() && dir.path().join("scripts/deploy.sh").exists());
}

// See: issue 13, finding 16.
#[test]
fn a_second_loop_with_another_state_dir_in_the_same_work_tree_is_refused() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"touch started; i=0; while [ ! -f release ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\"\n",
    )]);
    repository(dir.path());
    let mut first = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).spawn();
    wait_for("the first loop's step", 60, || dir.path().join("started").exists());
    let other = tempfile::tempdir().unwrap();
    let out = ralph(["--state-dir", other.path().to_str().unwrap(), "loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .output();
    std::fs::write(dir.path().join("release"), "").unwrap();
    let status = first.wait().unwrap();
    assert_ne!(out.code, 0, "the second loop ran beside the first");
    assert!(out.stderr.contains(&format!("pid {}", first.id())), "{}", out.stderr);
    assert!(out.stderr.contains(".ralph/state"), "names the first loop's state directory: {}", out.stderr);
    assert!(status.success());
}

// See: issue 13 (evidence only where something reads it).
#[test]
fn a_dag_of_quiet_commands_asks_git_once_for_its_work_tree_and_a_condition_on_the_branch_looks() {
    let dag = "workflow:\n  type: dag\n  nodes:\n    - id: a\n      agent: t\n    - id: b\n      agent: t\n      depends_on: [a]\nagents:\n  t:\n    command: \"true\"\n";
    let branchy = "workflow:\n  type: dag\n  nodes:\n    - id: a\n      agent: t\n    - id: b\n      agent: t\n      condition: branch == 'main'\nagents:\n  t:\n    command: \"true\"\n";
    let dir = project(&[("quiet.yaml", dag), ("branchy.yaml", branchy), ("notes.local", "mine\n")]);
    repository(dir.path());
    // A `git` first on PATH that notes each call, then runs the real one.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let real = sh(dir.path(), "command -v git").trim().to_owned();
    let log = dir.path().join("git-calls.log");
    std::fs::write(
        bin.join("git"),
        format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec '{real}' \"$@\"\n", log.display()),
    )
    .unwrap();
    crate::support::executable(&bin.join("git"));
    let path = crate::support::path_with(&bin);
    ralph(["loop", "--workflow", "quiet.yaml"]).current_dir(dir.path()).env("PATH", &path).expect(0);
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("rev-parse --show-toplevel"), "{calls:?}");
    std::fs::remove_file(&log).unwrap();
    // A condition on the branch: the work tree is looked at, and the condition holds on `main`.
    let out = ralph(["loop", "--workflow", "branchy.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .expect(0);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.lines().any(|c| c.contains("status --porcelain=v2")), "{calls}");
    assert_eq!(finished(&events(&out.stdout), "b")["outcome"]["success"], true);
}
