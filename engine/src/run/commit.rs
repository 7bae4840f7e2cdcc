//! `--commit` and `git_commit`: one commit of exactly a task's own work.
//!
//! A task's own work is what changed between the snapshot taken when it started and the one
//! taken when it is done ([`WorkTree::changed`]), less every path that was already dirty or
//! untracked when it started — the user's work, a failed task's leftovers — and less the
//! engine's own files. A path the task touched that was dirty before it stays out too, and is
//! named in a warning. [`WorkTree::commit_paths`] then commits exactly those paths on top of
//! the `HEAD` the task ended at, leaving the index and the rest of the work tree alone.
//!
//! Exactly once across crashes: the caller journals "commit intended" (the [`TaskWork`] and
//! the message) durably before [`commit_task`] and "committed" after; a resume that finds the
//! first without the second asks [`WorkTree::find_made`] whether the commit was made.

use std::path::Path;

use crate::git::commit::{CommitError, Made};
use crate::git::{GitError, Snapshot, WorkTree};

/// The default message: `loop.commit_message` overrides it.
pub const DEFAULT_MESSAGE: &str = "{task_id}: {task_title}";

/// The commit message for a task: `{task_id}`, `{task_title}`, `{iteration}` and `{workflow}`
/// are replaced.
pub fn message(template: &str, task_id: &str, task_title: &str, iteration: u32, workflow: &str) -> String {
    template
        .replace("{task_id}", task_id)
        .replace("{task_title}", task_title)
        .replace("{iteration}", &iteration.to_string())
        .replace("{workflow}", workflow)
}

/// A task's own work, as it is to be committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskWork {
    /// The paths to commit, relative to the work tree's root, sorted.
    pub paths: Vec<String>,
    /// Paths the task changed that were already dirty or untracked when it started: left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// The commit to commit on top of (`HEAD` when the task was done; none in a repository
    /// without commits).
    pub parent: Option<String>,
}

impl TaskWork {
    /// The warning to show when the task touched paths that stay out of its commit.
    pub fn warning(&self) -> Option<String> {
        (!self.left_out.is_empty()).then(|| {
            format!(
                "the task also changed {} that had uncommitted changes before it started ({}); {} out of its commit",
                paths(self.left_out.len()),
                crate::git::list(&self.left_out),
                if self.left_out.len() == 1 { "it stays" } else { "they stay" }
            )
        })
    }
}

fn paths(n: usize) -> String {
    if n == 1 { "1 path".to_owned() } else { format!("{n} paths") }
}

/// What the task whose work tree looked like `start` when it began has changed by `now`
/// (the latest snapshot), and what it may commit.
pub async fn task_work(tree: &WorkTree, start: &Snapshot, now: &Snapshot) -> Result<TaskWork, GitError> {
    let changed = tree.changed(start, now).await?;
    let mut work = TaskWork { parent: now.head().map(str::to_owned), ..TaskWork::default() };
    for path in changed {
        if start.is_dirty(&path) {
            // Still dirty: the user's (or an earlier task's) change, with the task's on top.
            if now.is_dirty(&path) {
                work.left_out.push(path);
            }
        } else if now.is_dirty(&path) && !path.ends_with('/') {
            // Clean now: the task committed it itself, or put it back.
            work.paths.push(path);
        }
    }
    Ok(work)
}

/// Commits `work` with `message` and notes the commit in the run's record (so `git_reset`
/// knows it is the run's); none when there was nothing to commit.
pub async fn commit_task(
    tree: &WorkTree,
    run_dir: &Path,
    work: &TaskWork,
    message: &str,
) -> Result<Option<Made>, CommitError> {
    let made = tree.commit_paths(&work.paths, work.parent.as_deref(), message).await?;
    if let Some(made) = &made {
        // The commit is made whatever happens to this note; without it, `git_reset` only
        // refuses to take the commit back.
        let _ = super::base::RunBase::add_commits(run_dir, std::slice::from_ref(&made.commit));
    }
    Ok(made)
}

/// The warning for a work tree that is dirty when a run starts: none when it is clean.
pub fn dirty_tree_warning(start: &Snapshot) -> Option<String> {
    let dirty: Vec<String> = start.dirty().map(str::to_owned).collect();
    (!dirty.is_empty()).then(|| {
        format!(
            "the work tree has {} uncommitted {} ({}); {} out of the run's commits",
            dirty.len(),
            if dirty.len() == 1 { "path" } else { "paths" },
            crate::git::list(&dirty),
            if dirty.len() == 1 { "it stays" } else { "they stay" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_template_fills_in_the_task() {
        assert_eq!(message(DEFAULT_MESSAGE, "T-3", "Add login", 2, "default"), "T-3: Add login");
        assert_eq!(message("[{workflow} #{iteration}] {task_title}", "x", "y", 4, "dag"), "[dag #4] y");
    }

    #[tokio::test]
    async fn a_task_commits_only_its_own_work_and_names_what_it_left_out() {
        use crate::git::testing::{repo, sh};
        let dir = repo(&[("a", "a\n"), ("tracked.txt", "t\n"), ("both", "b\n")]);
        sh(
            dir.path(),
            "echo secret > notes.local && echo dirty >> tracked.txt && echo user >> both && mkdir -p .ralph && echo x > .ralph/log",
        );
        let tree = WorkTree::open(dir.path(), &[dir.path().join(".ralph")]).unwrap();
        let start = tree.snapshot().await.unwrap();
        assert_eq!(
            dirty_tree_warning(&start).unwrap(),
            "the work tree has 3 uncommitted paths (`both`, `notes.local`, `tracked.txt`); they stay out of the run's commits"
        );
        sh(dir.path(), "echo task >> a && echo new > new.rs && echo task >> both && echo y >> .ralph/log");
        let now = tree.snapshot().await.unwrap();
        let work = task_work(&tree, &start, &now).await.unwrap();
        assert_eq!(work.paths, ["a", "new.rs"]);
        assert_eq!(work.left_out, ["both"]);
        assert!(
            work.warning().unwrap().starts_with("the task also changed 1 path that had uncommitted changes")
        );
        let run_dir = dir.path().join(".ralph/runs/r");
        let made = commit_task(&tree, &run_dir, &work, "T-1: a").await.unwrap().unwrap();
        assert_eq!(sh(dir.path(), "git show --name-only --format=%s HEAD"), "T-1: a\n\na\nnew.rs\n");
        assert_eq!(std::fs::read_to_string(run_dir.join("commits")).unwrap(), format!("{}\n", made.commit));
        assert_eq!(
            sh(dir.path(), "git status --porcelain -uall"),
            " M both\n M tracked.txt\n?? .ralph/log\n?? .ralph/runs/r/commits\n?? notes.local\n"
        );
        // Resuming after a crash finds the commit instead of making another.
        assert_eq!(tree.find_made(work.parent.as_deref(), "T-1: a").await.unwrap(), Some(made.commit));
    }

    #[tokio::test]
    async fn a_failed_task_s_leftovers_are_not_the_next_task_s_work() {
        use crate::git::testing::{repo, sh};
        let dir = repo(&[("a", "a\n")]);
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        sh(dir.path(), "echo half > leftover.rs");
        // The next task starts with the leftovers in the tree.
        let start = tree.snapshot().await.unwrap();
        sh(dir.path(), "echo done > second.rs");
        let now = tree.snapshot().await.unwrap();
        assert_eq!(task_work(&tree, &start, &now).await.unwrap().paths, ["second.rs"]);
    }
}
