//! The cost of a work-tree snapshot (`crate::git`), inside a repository of 2,000 tracked files.
//!
//! Run with `cargo bench -p ralph-loop --bench git_snapshot`. The repository has 2,000 tracked
//! files in 40 directories, 5 of them edited, 30 untracked files, and a `.ralph/` that is not
//! ignored holding 5,000 files (a long run's packets and logs). It reports the median and p90
//! of a snapshot, of `changed` between two snapshots, and, as the floor any approach through
//! the `git` program pays, of spawning `git --version`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ralph_loop::git::WorkTree;

fn sh(dir: &Path, script: &str) {
    let status = Command::new("sh").arg("-c").arg(script).current_dir(dir).status().unwrap();
    assert!(status.success(), "{script}");
}

fn report(what: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!("{what:<40} median {:>8.2} ms   p90 {:>8.2} ms", ms(median), ms(p90));
    median
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    const RUNS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sh(root, "git init -q . && git config user.email b@b && git config user.name b");
    for d in 0..40 {
        let sub = root.join(format!("src/d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..50 {
            std::fs::write(sub.join(format!("f{f}.rs")), format!("// file {d} {f}\n")).unwrap();
        }
    }
    sh(root, "git add -A && git commit -qm init");
    // A refreshed index, as any `git status` of the user's leaves it.
    sh(root, "git update-index -q --really-refresh; git status >/dev/null");
    for i in 0..30 {
        std::fs::write(root.join(format!("untracked{i}.txt")), "u\n").unwrap();
    }
    for i in 0..5 {
        std::fs::write(root.join(format!("src/d{i}/f0.rs")), "// edited\n").unwrap();
    }
    let runs = root.join(".ralph/runs/x");
    std::fs::create_dir_all(&runs).unwrap();
    for i in 0..5000 {
        std::fs::write(runs.join(format!("{i}.log")), "l\n").unwrap();
    }
    let tree = WorkTree::open(root, &[root.join(".ralph")]).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let first = tree.snapshot().await.unwrap();
        assert_eq!(first.dirty_count(), 35);
        let mut spawn = Vec::new();
        let mut snapshot = Vec::new();
        let mut changed = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            tokio::process::Command::new("git").arg("--version").output().await.unwrap();
            spawn.push(t.elapsed());
            let t = Instant::now();
            let now = tree.snapshot().await.unwrap();
            snapshot.push(t.elapsed());
            let t = Instant::now();
            assert!(tree.changed(&first, &now).await.unwrap().is_empty());
            changed.push(t.elapsed());
        }
        let floor = report("spawning `git --version` (the floor)", spawn);
        let snap = report("snapshot (status + lstat of 35 paths)", snapshot);
        report("changed (HEAD unchanged: in memory)", changed);
        println!("a snapshot costs {:.1}x a bare git spawn", snap.as_secs_f64() / floor.as_secs_f64());
    });
}
