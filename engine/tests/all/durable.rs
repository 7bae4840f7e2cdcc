//! Durable runs: the journal survives SIGKILL at any point, and `resume` finishes the run
//! without losing or repeating a finished step.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{events, project, ralph};

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Kills runs of `workflow` at random points until one ends; returns how many kills it took.
fn kill_until_done(dir: &std::path::Path, rng: &mut Lcg, kills_left: &mut u32, commit: bool) -> u32 {
    let mut kills = 0;
    let mut first = true;
    loop {
        let start: &[&str] = if commit {
            &["loop", "--workflow", "w.yaml", "--commit"]
        } else {
            &["loop", "--workflow", "w.yaml"]
        };
        let args: &[&str] = if first { start } else { &["resume"] };
        let mut child = ralph(args.iter().copied()).current_dir(dir).spawn();
        if *kills_left > 0 {
            std::thread::sleep(Duration::from_millis(20 + rng.below(400)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                *kills_left -= 1;
                // Killed before the run was recorded: start it again.
                let status = ralph(["status", "--json"]).current_dir(dir).expect(0);
                first = serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap()["latest_run"]
                    .is_null();
                continue;
            }
        }
        let status = child.wait().unwrap();
        // A kill that came too late found the run finished: done.
        assert!(status.success() || status.code() == Some(2), "the run ended with {status}");
        if status.success() {
            return kills;
        }
        // Exit 2: the run had already ended in an earlier attempt (nothing to resume).
        let logs = ralph(["logs", "--json"]).current_dir(dir).expect(0);
        assert!(logs.stdout.contains("\"run_finished\""), "exit 2 without a finished run");
        return kills;
    }
}

fn journal(dir: &std::path::Path) -> Vec<serde_json::Value> {
    events(&ralph(["logs", "--json"]).current_dir(dir).expect(0).stdout)
}

#[test]
fn sigkill_at_200_random_points_loses_and_repeats_no_finished_step() {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = Lcg(seed);
    let mut kills_left: u32 =
        std::env::var("RALPH_KILL_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let total = kills_left;
    let mut runs = 0;
    while kills_left > 0 {
        runs += 1;
        // Take turns: a DAG (a tree of 24 nodes), a task loop over a state machine that loops
        // until its check passes, and that task loop in a git work tree with `--commit`.
        let dag = runs % 3 == 1;
        let commit = runs % 3 == 0;
        let workflow = if dag {
            let mut w = String::from("workflow:\n  nodes:\n");
            for i in 0..24 {
                w.push_str(&format!("    - id: n{i}\n      agent: t\n"));
                if i > 0 {
                    w.push_str(&format!("      depends_on: [n{}]\n", (i - 1) / 2));
                }
            }
            w.push_str("agents:\n  t:\n    command: \"sh -c 'echo $RALPH_STEP >> log; sleep 0.02'\"\n");
            w
        } else {
            "workflow:\n  states:\n    - id: build\n      agent: builder\n    - id: verify\n      agent: verifier\n    - id: done\n      type: terminal\n  transitions:\n    - from: build\n      to: verify\n    - from: verify\n      to: done\n      condition: success\n      else: build\nagents:\n  builder:\n    command: \"sh -c 'echo $RALPH_TASK_ID >> $RALPH_TASK_ID.built; sleep 0.02'\"\n  verifier:\n    command: \"sh -c 'test $(wc -l < $RALPH_TASK_ID.built) -ge 2'\"\n".to_owned()
        };
        let todo: String = (1..=4).map(|i| format!("- [ ] T-{i}: task {i}\n")).collect();
        let dir = project(&[("w.yaml", &workflow), ("TODO.md", if dag { "" } else { &todo })]);
        if dag {
            std::fs::remove_file(dir.path().join("TODO.md")).unwrap();
        }
        if commit {
            // A work tree as users have it: `.ralph/` not ignored, a file of the user's lying around.
            crate::support::sh(
                dir.path(),
                "git init -q . && git config user.email t@t && git config user.name t && git add -A && git commit -qm init && echo mine > notes.local",
            );
        }
        kill_until_done(dir.path(), &mut rng, &mut kills_left, commit);
        let journal = journal(dir.path());
        let ends: Vec<&serde_json::Value> = journal.iter().filter(|e| e["event"] == "run_finished").collect();
        assert_eq!(ends.len(), 1, "seed {seed}: one end");
        assert_eq!(ends[0]["status"], "succeeded", "seed {seed}: {}", ends[0]);
        if dag {
            // Every node finished exactly once (an interrupted attempt has no finish).
            let mut finished: BTreeMap<String, u32> = BTreeMap::new();
            for e in journal.iter().filter(|e| e["event"] == "step_finished") {
                *finished.entry(e["step"].as_str().unwrap().to_owned()).or_default() += 1;
            }
            assert_eq!(finished.len(), 24, "seed {seed}: no finished step lost: {finished:?}");
            assert!(finished.values().all(|n| *n == 1), "seed {seed}: none repeated: {finished:?}");
        } else {
            let mut marked: BTreeMap<String, u32> = BTreeMap::new();
            for e in journal.iter().filter(|e| e["event"] == "task_marked") {
                assert_eq!(e["status"], "done", "seed {seed}");
                *marked.entry(e["task"]["id"].as_str().unwrap().to_owned()).or_default() += 1;
            }
            assert_eq!(marked.len(), 4, "seed {seed}: every task done: {marked:?}");
            assert!(marked.values().all(|n| *n == 1), "seed {seed}: each marked once: {marked:?}");
            let file = std::fs::read_to_string(dir.path().join("TODO.md")).unwrap();
            assert_eq!(file.matches("- [x]").count(), 4, "seed {seed}: {file}");
            if commit {
                // One commit per task, exactly once, each holding only its own task's work.
                let log = crate::support::sh(dir.path(), "git log --format=@@%s --name-only --reverse");
                let commits: Vec<&str> = log.split("@@").map(str::trim).filter(|c| !c.is_empty()).collect();
                assert_eq!(commits.len(), 5, "seed {seed}: init and one commit per task:\n{log}");
                for (i, commit) in commits[1..].iter().enumerate() {
                    let mut lines = commit.lines();
                    let task = format!("T-{}", i + 1);
                    assert_eq!(
                        lines.next(),
                        Some(format!("{task}: task {}", i + 1).as_str()),
                        "seed {seed}:\n{log}"
                    );
                    let mut files: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
                    files.sort_unstable();
                    let own = format!("{task}.built");
                    assert_eq!(
                        files,
                        [own.as_str(), "TODO.md"],
                        "seed {seed}: {task}'s own work only:\n{log}"
                    );
                }
                let status = crate::support::sh(dir.path(), "git status --porcelain");
                assert!(
                    status.contains("?? notes.local"),
                    "seed {seed}: the user's file stays out: {status}"
                );
            }
            // In each iteration, each visit of a state finished at most once.
            let mut visits: BTreeMap<(u64, String), (u32, u32)> = BTreeMap::new();
            let mut iteration = 0;
            for e in &journal {
                match e["event"].as_str().unwrap() {
                    "iteration_started" => iteration = e["iteration"].as_u64().unwrap(),
                    "step_started" => {
                        visits.entry((iteration, e["step"].as_str().unwrap().into())).or_default().0 += 1;
                    }
                    "step_interrupted" => {
                        visits.entry((iteration, e["step"].as_str().unwrap().into())).or_default().0 -= 1;
                    }
                    "step_finished" => {
                        visits.entry((iteration, e["step"].as_str().unwrap().into())).or_default().1 += 1;
                    }
                    _ => {}
                }
            }
            for (key, (started, finished)) in &visits {
                assert_eq!(started, finished, "seed {seed}: {key:?}: every started visit finished once");
            }
        }
    }
    eprintln!("{total} kill points over {runs} runs");
}

#[test]
fn resume_refuses_a_finished_run_and_a_changed_workflow() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let out = ralph(["resume"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("nothing to resume"), "{}", out.stderr);
    let out = ralph(["resume", "nope"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("there is no run `nope`"), "{}", out.stderr);
}

#[test]
fn a_second_loop_on_the_same_state_is_refused_with_the_first_ones_pid() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"sleep 3\"\n",
    )]);
    let mut first = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).spawn();
    std::thread::sleep(Duration::from_millis(700));
    // The store is held: the environment stands in the way (4), not the command line.
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(4);
    assert!(out.stderr.contains("a loop is running on"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("(pid {})", first.id())), "{}", out.stderr);
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_corrupt_store_gets_a_clear_error() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let db = dir.path().join(".ralph/state/db");
    for entry in std::fs::read_dir(&db).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let len = std::fs::metadata(&path).unwrap().len();
            std::fs::write(&path, vec![0x5A; len as usize]).unwrap();
        }
    }
    let out = ralph(["logs"]).current_dir(dir.path()).expect(4);
    assert!(
        out.stderr.contains("is corrupt") && out.stderr.contains("move the directory away"),
        "{}",
        out.stderr
    );
}
