//! The built-in actions `git_reset` and `git_commit`: they act on the run's own work only —
//! what changed since the run's base ([`RunBase`]) and was not dirty then — and say in plain
//! words what they did, what they left and why.
//!
//! `git_reset` never stashes, resets or deletes what predates the run: paths dirty at the
//! base are left as they are (and named), ignored files are never deleted, and the branch is
//! moved back only over commits the run made. By default what it undoes is kept in
//! `refs/ralph-loop/reset/<run>` (a ref, not a branch or a stash entry, so nothing of the
//! user's moves); `hard: true` keeps nothing.

use std::time::Instant;

use super::base::RunBase;
use super::commit;
use crate::git::{WorkTree, list, short};
use crate::run::core::outcome::{FailureClass, Outcome};

/// What an action that does not know the run's base says.
fn no_base(action: &str) -> String {
    format!(
        "`{action}` has no record of the work tree when the run started, so it cannot tell the run's changes from earlier work; nothing was done"
    )
}

fn done(summary: String, started: Instant) -> Outcome {
    Outcome {
        success: true,
        summary: Some(summary),
        duration_ms: started.elapsed().as_millis() as u64,
        ..Outcome::default()
    }
}

fn failed(class: FailureClass, message: String, started: Instant) -> Outcome {
    let mut outcome = Outcome::failed(class, message);
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// The run's base and its work tree, or the outcome that says why there is none.
async fn base_and_tree(
    action: &str,
    ctx: &super::action::ActionContext,
    started: Instant,
) -> Result<(RunBase, WorkTree), Outcome> {
    let Some(tree) = WorkTree::find(&ctx.workdir, &[]).await else {
        let what = if action == "git_reset" { "reset" } else { "commit" };
        let message = format!("not in a git work tree: nothing to {what}");
        return Err(if action == "git_reset" {
            done(message, started)
        } else {
            failed(
                FailureClass::Action,
                format!("`git_commit` needs a git work tree, and `{}` is not in one", ctx.workdir.display()),
                started,
            )
        });
    };
    let base = match RunBase::load(&ctx.run_dir) {
        Ok(Some(base)) => base,
        Ok(None) => return Err(failed(FailureClass::Action, no_base(action), started)),
        Err(e) => return Err(failed(FailureClass::ActionError, e.to_string(), started)),
    };
    let tree = tree.excluding(&base.excluded);
    Ok((base, tree))
}

/// `git_commit`: commits the run's own uncommitted work with `message`.
pub async fn git_commit(message: &str, ctx: &super::action::ActionContext) -> Outcome {
    let started = Instant::now();
    let (base, tree) = match base_and_tree("git_commit", ctx, started).await {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let result = async {
        let now = tree.snapshot().await?;
        let work = commit::task_work(&tree, &base.start, &now).await?;
        let made = commit::commit_task(&tree, &ctx.run_dir, &work, message).await?;
        Ok::<_, crate::git::commit::CommitError>((work, made))
    }
    .await;
    match result {
        Ok((work, made)) => {
            let mut said = match made {
                Some(made) => {
                    let mut said = format!(
                        "committed {} ({}: {})",
                        short(&made.commit),
                        count(work.paths.len(), "path", "paths"),
                        list(&work.paths)
                    );
                    if let Some(warning) = made.index_warning {
                        said.push_str(&format!("; {warning}"));
                    }
                    said
                }
                None => "nothing of the run's to commit".to_owned(),
            };
            if let Some(warning) = work.warning() {
                said.push_str(&format!(
                    "; {}",
                    warning.replace("the task", "the run").replace("before it started", "before the run")
                ));
            }
            done(said, started)
        }
        Err(e) => failed(FailureClass::ActionError, format!("`git_commit`: {e}"), started),
    }
}

/// Where `git_reset` puts the branch and the paths back to.
enum Target {
    /// `HEAD` did not move: back to it.
    Stay(Option<String>),
    /// Back from `from` to `to`, over the run's own commits.
    MoveBack { to: String, from: String },
    /// `HEAD` moved and may not go back: uncommitted work goes back to `HEAD`; why not.
    Refused { head: String, why: String },
}

/// `git_reset`: undoes the run's own work; `hard` keeps no copy of it.
pub async fn git_reset(hard: bool, ctx: &super::action::ActionContext) -> Outcome {
    let started = Instant::now();
    let (base, tree) = match base_and_tree("git_reset", ctx, started).await {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    match reset(&base, &tree, hard, ctx).await {
        Ok((said, true)) => done(said, started),
        Ok((said, false)) => failed(FailureClass::Action, said, started),
        Err(e) => failed(FailureClass::ActionError, format!("`git_reset`: {e}"), started),
    }
}

/// The reset itself: what it said, and whether it did all it was asked.
async fn reset(
    base: &RunBase,
    tree: &WorkTree,
    hard: bool,
    ctx: &super::action::ActionContext,
) -> Result<(String, bool), crate::git::GitError> {
    let now = tree.snapshot().await?;
    let changed = tree.changed(&base.start, &now).await?;
    let (predates, ours): (Vec<String>, Vec<String>) =
        changed.into_iter().partition(|p| base.start.is_dirty(p));
    let (nested, ours): (Vec<String>, Vec<String>) = ours.into_iter().partition(|p| p.ends_with('/'));
    let branch = now.branch().map(|b| format!("`{b}`")).unwrap_or_else(|| "`HEAD`".into());
    let target = match (base.start.head(), now.head()) {
        (start, head) if start == head => Target::Stay(start.map(str::to_owned)),
        (Some(start), Some(head)) => {
            if !tree.is_ancestor(start, head).await? {
                Target::Refused {
                    head: head.to_owned(),
                    why: format!(
                        "did not move {branch} back to {}: it is no longer an ancestor of `HEAD` ({})",
                        short(start),
                        short(head)
                    ),
                }
            } else {
                let since = tree.commits_between(Some(start), head).await?;
                let foreign: Vec<String> =
                    since.iter().filter(|c| !base.commits.contains(c)).map(|c| short(c).to_owned()).collect();
                if foreign.is_empty() {
                    Target::MoveBack { to: start.to_owned(), from: head.to_owned() }
                } else {
                    Target::Refused {
                        head: head.to_owned(),
                        why: format!(
                            "did not move {branch} back to {}: {} since then {} not the run's ({}); if they should go too, `git reset --keep {}` moves it",
                            short(start),
                            count(foreign.len(), "commit", "commits"),
                            if foreign.len() == 1 { "is" } else { "are" },
                            list(&foreign),
                            short(start)
                        ),
                    }
                }
            }
        }
        (None, Some(head)) => Target::Refused {
            head: head.to_owned(),
            why: format!(
                "the repository had no commit when the run started, so the run's commits stay on {branch} (a branch cannot go back to no commit without being deleted)"
            ),
        },
        (Some(_), None) => {
            return Ok((
                "`HEAD` names no commit any more (a new orphan branch?): nothing was reset".to_owned(),
                false,
            ));
        }
        (None, None) => unreachable!("equal heads are handled first"),
    };
    // Paths the run committed and left clean already match `HEAD`: unless the branch moves
    // back, there is nothing to put back for them.
    let act: Vec<String> = match &target {
        Target::MoveBack { .. } => ours,
        _ => ours.into_iter().filter(|p| now.is_dirty(p)).collect(),
    };
    let mut said: Vec<String> = Vec::new();
    let run_id = ctx.run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let kept = if hard || (act.is_empty() && !matches!(target, Target::MoveBack { .. })) {
        None
    } else {
        let reference = format!("refs/ralph-loop/reset/{run_id}");
        let message =
            format!("ralph-loop: the work of run {run_id}, undone by `git_reset` in `{}`", ctx.step);
        tree.keep(&reference, &act, &message).await?.map(|_| reference)
    };
    let (restore_to, complete) = match &target {
        Target::Stay(head) => (head.clone(), true),
        Target::MoveBack { to, from } => {
            tree.move_head(to, from, &format!("ralph-loop: git_reset in `{}`", ctx.step)).await?;
            said.push(format!("moved {branch} back from {} to {}", short(from), short(to)));
            (Some(to.clone()), true)
        }
        Target::Refused { head, .. } => (Some(head.clone()), false),
    };
    let restored = tree.restore_paths(restore_to.as_deref(), &act).await?;
    if let Target::Stay(None) = &target {
        // No commit at all: the only thing the run can have done is create files.
        let mut text = if restored.removed.is_empty() {
            "the repository has no commit yet: the run created no file".to_owned()
        } else {
            format!(
                "the repository has no commit yet: {} the run created {} removed ({})",
                count(restored.removed.len(), "file", "files"),
                if restored.removed.len() == 1 { "was" } else { "were" },
                list(&restored.removed)
            )
        };
        text.push_str("; nothing else to restore");
        said.insert(0, text);
    } else {
        if !restored.restored.is_empty() {
            said.push(format!(
                "restored {} the run changed to {} ({})",
                count(restored.restored.len(), "path", "paths"),
                restore_to.as_deref().map(short).unwrap_or("no commit"),
                list(&restored.restored)
            ));
        }
        if !restored.removed.is_empty() {
            said.push(format!(
                "removed {} the run created ({})",
                count(restored.removed.len(), "file", "files"),
                list(&restored.removed)
            ));
        }
    }
    if !restored.kept_ignored.is_empty() {
        said.push(format!(
            "unstaged but kept {} git ignores, which may predate the run ({})",
            count(restored.kept_ignored.len(), "file", "files"),
            list(&restored.kept_ignored)
        ));
    }
    if !predates.is_empty() {
        said.push(format!(
            "left {} that had uncommitted changes before the run as {} ({})",
            count(predates.len(), "path", "paths"),
            if predates.len() == 1 { "it is" } else { "they are" },
            list(&predates)
        ));
    }
    if !nested.is_empty() {
        said.push(format!(
            "left {} inside the work tree ({})",
            count(nested.len(), "repository", "repositories"),
            list(&nested)
        ));
    }
    if let Target::Refused { why, .. } = &target {
        said.push(why.clone());
    }
    if let Some(reference) = kept {
        said.push(format!("what was undone is kept in `{reference}` (`git show {reference}`)"));
    }
    if said.is_empty() {
        said.push("the run changed nothing in the work tree: nothing to reset".to_owned());
    }
    Ok((said.join("; "), complete))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::{empty_repo, repo, sh};
    use crate::run::action::ActionContext;

    fn ctx(dir: &std::path::Path) -> ActionContext {
        ActionContext {
            workdir: dir.to_owned(),
            run_dir: dir.join(".ralph/runs/r1"),
            base_commit: None,
            step: "undo".into(),
            control: None,
            desk: Default::default(),
        }
    }

    /// Records the run's base as a runner does before its first step.
    async fn start_run(dir: &std::path::Path) -> ActionContext {
        let c = ctx(dir);
        let tree = WorkTree::find(dir, &[dir.join(".ralph")]).await.unwrap();
        RunBase::record(&c.run_dir, &tree, &tree.snapshot().await.unwrap()).unwrap();
        c
    }

    #[tokio::test]
    async fn git_reset_undoes_the_run_s_work_and_its_commits_and_leaves_the_user_s() {
        let dir = repo(&[("a", "a\n"), ("user.txt", "u\n"), ("staged.txt", "s\n")]);
        sh(
            dir.path(),
            "echo mine >> user.txt && echo staged >> staged.txt && git add staged.txt && echo pw > notes.local",
        );
        let c = start_run(dir.path()).await;
        let base = sh(dir.path(), "git rev-parse HEAD");
        sh(dir.path(), "echo run >> a && echo new > made.rs && echo run >> user.txt");
        let committed = git_commit("run: work", &c).await;
        assert!(committed.success, "{committed:?}");
        let summary = committed.summary.unwrap();
        assert!(
            summary.starts_with("committed ") && summary.contains("(2 paths: `a`, `made.rs`)"),
            "{summary}"
        );
        assert!(
            summary.contains(
                "the run also changed 1 path that had uncommitted changes before the run (`user.txt`)"
            ),
            "{summary}"
        );
        sh(dir.path(), "echo more > later.rs");

        let reset = git_reset(false, &c).await;
        assert!(reset.success, "{reset:?}");
        let said = reset.summary.unwrap();
        assert!(said.starts_with("moved `main` back from "), "{said}");
        assert!(said.contains("restored 1 path the run changed to"), "{said}");
        assert!(said.contains("removed 2 files the run created (`later.rs`, `made.rs`)"), "{said}");
        assert!(
            said.contains("left 1 path that had uncommitted changes before the run as it is (`user.txt`)"),
            "{said}"
        );
        assert!(said.contains("kept in `refs/ralph-loop/reset/r1`"), "{said}");
        assert_eq!(sh(dir.path(), "git rev-parse HEAD"), base);
        assert_eq!(
            sh(dir.path(), "git status --porcelain -uall"),
            "M  staged.txt\n M user.txt\n?? .ralph/runs/r1/commits\n?? .ralph/runs/r1/work-tree.json\n?? notes.local\n"
        );
        assert_eq!(std::fs::read_to_string(dir.path().join("user.txt")).unwrap(), "u\nmine\nrun\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "a\n");
        assert_eq!(sh(dir.path(), "git stash list"), "");
        assert_eq!(sh(dir.path(), "git show refs/ralph-loop/reset/r1:later.rs"), "more\n");
    }

    #[tokio::test]
    async fn git_reset_does_not_take_back_a_commit_that_is_not_the_run_s() {
        let dir = repo(&[("a", "a\n")]);
        let c = start_run(dir.path()).await;
        sh(
            dir.path(),
            "echo person > theirs.txt && git add theirs.txt && git commit -qm person && echo run >> a",
        );
        let head = sh(dir.path(), "git rev-parse HEAD");
        let reset = git_reset(true, &c).await;
        assert!(!reset.success);
        let said = reset.error.unwrap();
        assert!(said.contains("restored 1 path the run changed to"), "{said}");
        assert!(
            said.contains("did not move `main` back to ")
                && said.contains("1 commit since then is not the run's"),
            "{said}"
        );
        assert_eq!(sh(dir.path(), "git rev-parse HEAD"), head);
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "a\n");
        assert!(dir.path().join("theirs.txt").exists());
    }

    #[tokio::test]
    async fn git_reset_in_a_repository_without_commits_says_what_it_can_do() {
        let dir = empty_repo();
        sh(dir.path(), "echo mine > notes.local");
        let c = start_run(dir.path()).await;
        sh(dir.path(), "echo x > made.txt");
        let reset = git_reset(false, &c).await;
        assert!(reset.success, "{reset:?}");
        assert_eq!(
            reset.summary.unwrap(),
            "the repository has no commit yet: 1 file the run created was removed (`made.txt`); nothing else to restore; what was undone is kept in `refs/ralph-loop/reset/r1` (`git show refs/ralph-loop/reset/r1`)"
        );
        assert_eq!(sh(dir.path(), "git status --porcelain"), "?? .ralph/\n?? notes.local\n");
        assert_eq!(sh(dir.path(), "git show refs/ralph-loop/reset/r1:made.txt"), "x\n");
        assert!(dir.path().join("notes.local").exists());
        assert!(!dir.path().join("made.txt").exists());
    }

    #[tokio::test]
    async fn without_the_run_s_base_nothing_is_touched() {
        let dir = repo(&[("a", "a\n")]);
        sh(dir.path(), "echo x >> a");
        let reset = git_reset(true, &ctx(dir.path())).await;
        assert!(!reset.success);
        assert!(
            reset
                .error
                .unwrap()
                .starts_with("`git_reset` has no record of the work tree when the run started")
        );
        assert_eq!(sh(dir.path(), "git status --porcelain"), " M a\n");
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(
            git_reset(true, &ctx(outside.path())).await.summary.as_deref(),
            Some("not in a git work tree: nothing to reset")
        );
    }
}
