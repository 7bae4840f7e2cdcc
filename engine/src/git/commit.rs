//! A commit of exactly the given paths, leaving everything else — what the user staged, what
//! they left dirty — as it is; and, after a crash, whether that commit was already made.
//!
//! The commit is built in a temporary index: `HEAD`'s tree (empty in a repository without
//! commits), the given paths added from the work tree, the `pre-commit` and `commit-msg` hooks
//! run against it (as `git commit` would), `write-tree`, `commit-tree`, and then
//! `update-ref HEAD <new> <parent>`, which fails if `HEAD` moved meanwhile rather than undoing
//! what moved it. Only then is the real index brought up to date, for those paths alone.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::{GitError, WorkTree, line, nul_list};

/// Why a commit was not made.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// `HEAD` is not where the work was measured from.
    #[error(
        "`HEAD` is at {} now, not at {} where the work was measured from; nothing was committed (a commit made beside the run? see `git log`)",
        found.as_deref().map(super::short).unwrap_or("no commit"),
        expected.as_deref().map(super::short).unwrap_or("no commit")
    )]
    HeadMoved {
        /// Where it should be.
        expected: Option<String>,
        /// Where it is.
        found: Option<String>,
    },
    /// The real index is locked: another git command runs, or one was killed.
    #[error(
        "`{}` exists: another git command is running in this repository, or one was killed; when none is running, remove the file and try again",
        path.display()
    )]
    IndexLocked {
        /// The lock file.
        path: PathBuf,
    },
    /// A hook refused the commit.
    #[error("the `{hook}` hook {ended}")]
    Hook {
        /// `pre-commit`, `commit-msg`.
        hook: &'static str,
        /// How it ended and what it said.
        ended: String,
    },
    /// The message is empty (after the `commit-msg` hook, or as given).
    #[error("the commit message is empty")]
    EmptyMessage,
    /// A git command failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

impl CommitError {
    /// Whether the repository's state, not the work, is at fault: a locked index or a moved
    /// `HEAD` ask a person to look; trying the same commit again later may work.
    pub fn is_environment(&self) -> bool {
        !matches!(self, CommitError::Hook { .. } | CommitError::EmptyMessage)
    }
}

/// A commit that was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Its id.
    pub commit: String,
    /// Set when the commit is made but the real index could not be brought up to date for
    /// its paths (`git status` then shows them as staged the other way): what to run.
    pub index_warning: Option<String>,
}

/// A message as `git commit` cleans one given with `-m`: trailing spaces and surrounding
/// blank lines removed, runs of blank lines made one, a final newline.
pub fn clean_message(message: &str) -> String {
    let mut out = String::new();
    let mut blank = false;
    for l in message.lines().map(str::trim_end) {
        if l.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The hooks `git commit` runs, where this repository keeps them (`core.hooksPath` honoured):
/// those that exist and are executable.
async fn hooks(tree: &WorkTree) -> Result<[Option<PathBuf>; 3], GitError> {
    let names = ["pre-commit", "commit-msg", "post-commit"];
    let mut args = vec!["rev-parse".to_owned()];
    for name in names {
        args.push("--git-path".into());
        args.push(format!("hooks/{name}"));
    }
    let out = tree.git(args).run().await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut found = [None, None, None];
    for (slot, path) in found.iter_mut().zip(text.lines()) {
        let path = tree.root().join(path);
        let runs = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        *slot = runs.then_some(path);
    }
    Ok(found)
}

/// Runs a hook in the work tree's root against `index`; its whole output when it fails.
async fn run_hook(
    tree: &WorkTree,
    hook: &'static str,
    path: &Path,
    index: &Path,
    args: &[&Path],
) -> Result<(), CommitError> {
    let output = tokio::process::Command::new(path)
        .args(args)
        .current_dir(tree.root())
        .env("GIT_INDEX_FILE", index)
        .env("GIT_EDITOR", ":")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| CommitError::Hook { hook, ended: format!("could not be started: {e}") })?;
    if output.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    use std::os::unix::process::ExitStatusExt as _;
    Err(CommitError::Hook {
        hook,
        ended: crate::error_text::ended_saying(output.status.code(), output.status.signal(), &said),
    })
}

impl WorkTree {
    /// A temporary index (`index` in the returned directory) holding `parent`'s tree (none:
    /// empty) with `paths` taken from the work tree as they are now, a missing one removed.
    /// The real index is not touched.
    pub(crate) async fn temp_index(
        &self,
        parent: Option<&str>,
        paths: &[&str],
    ) -> Result<tempfile::TempDir, GitError> {
        let scratch = tempfile::Builder::new()
            .prefix("ralph-loop-index")
            .tempdir()
            .map_err(|source| GitError::Io { doing: "create", path: std::env::temp_dir(), source })?;
        let index = scratch.path().join("index");
        let with_index = |args: &[&str]| self.git(args.iter().copied()).env("GIT_INDEX_FILE", &index);
        match parent {
            Some(parent) => with_index(&["read-tree", parent]).run().await?,
            None => with_index(&["read-tree", "--empty"]).run().await?,
        };
        with_index(&["update-index", "--add", "--remove", "-z", "--stdin"])
            .stdin(nul_list(paths.iter().copied()))
            .run()
            .await?;
        Ok(scratch)
    }

    /// Commits exactly `paths` (relative to the root; as they are in the work tree now, a
    /// missing one as a deletion) on top of `parent` with `message`; none when that changes
    /// nothing. Fails, committing nothing, when `HEAD` is not at `parent`.
    pub async fn commit_paths(
        &self,
        paths: &[String],
        parent: Option<&str>,
        message: &str,
    ) -> Result<Option<Made>, CommitError> {
        let paths: Vec<&str> =
            paths.iter().map(String::as_str).filter(|p| !p.ends_with('/') && !self.is_excluded(p)).collect();
        if paths.is_empty() {
            return Ok(None);
        }
        let mut message = clean_message(message);
        if message.is_empty() {
            return Err(CommitError::EmptyMessage);
        }
        // The real index is written last; a lock on it now would leave the commit made and
        // the index behind it, so it is refused before anything is done.
        let lock = self.git_dir().join("index.lock");
        if lock.exists() {
            return Err(CommitError::IndexLocked { path: lock });
        }
        let head = self.head().await?;
        if head.as_deref() != parent {
            return Err(CommitError::HeadMoved { expected: parent.map(str::to_owned), found: head });
        }
        let scratch = self.temp_index(parent, &paths).await?;
        let index = scratch.path().join("index");
        let with_index = |args: &[&str]| self.git(args.iter().copied()).env("GIT_INDEX_FILE", &index);
        let [pre_commit, commit_msg, post_commit] = hooks(self).await?;
        if let Some(hook) = &pre_commit {
            run_hook(self, "pre-commit", hook, &index, &[]).await?;
        }
        let tree = line(&with_index(&["write-tree"]).run().await?.stdout);
        let unchanged = match parent {
            Some(parent) => line(&self.git(["rev-parse", &format!("{parent}^{{tree}}")]).run().await?.stdout),
            None => line(&self.git(["mktree"]).stdin(Vec::new()).run().await?.stdout),
        };
        if tree == unchanged {
            return Ok(None);
        }
        let message_file = scratch.path().join("COMMIT_EDITMSG");
        let io = |doing, source| GitError::Io { doing, path: message_file.clone(), source };
        std::fs::write(&message_file, &message).map_err(|e| io("write", e))?;
        if let Some(hook) = &commit_msg {
            run_hook(self, "commit-msg", hook, &index, &[&message_file]).await?;
            message = clean_message(&std::fs::read_to_string(&message_file).map_err(|e| io("read", e))?);
            if message.is_empty() {
                return Err(CommitError::EmptyMessage);
            }
            std::fs::write(&message_file, &message).map_err(|e| io("write", e))?;
        }
        let message_path = message_file.to_string_lossy().into_owned();
        let mut args = vec!["commit-tree", tree.as_str()];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        args.extend(["-F", message_path.as_str()]);
        let commit = line(&self.git(args).run().await?.stdout);
        let subject = message.lines().next().unwrap_or_default();
        let reflog = if parent.is_some() {
            format!("commit: {subject}")
        } else {
            format!("commit (initial): {subject}")
        };
        let updated = self
            .git(["update-ref", "-m", reflog.as_str(), "HEAD", commit.as_str(), parent.unwrap_or("")])
            .run()
            .await;
        if let Err(e) = updated {
            let now = self.head().await?;
            if now.as_deref() != parent {
                return Err(CommitError::HeadMoved { expected: parent.map(str::to_owned), found: now });
            }
            return Err(e.into());
        }
        if let Some(hook) = &post_commit {
            // As with `git commit`, a failing post-commit hook does not undo the commit.
            let _ = run_hook(self, "post-commit", hook, &index, &[]).await;
        }
        // The real index gets the committed paths from the commit itself (not from the work
        // tree again, where a person may have typed since), and nothing else.
        let index_warning = self.index_follows(&commit, paths.iter().copied()).await;
        Ok(Some(Made { commit, index_warning }))
    }

    /// Brings the real index up to `commit` for `paths` alone, from the commit itself (not
    /// from the work tree again, where a person may have typed since). Done after a commit,
    /// and again when a resumed run finds its commit made by a loop killed before this step:
    /// otherwise the committed paths would look staged-and-modified, dirty before the next task.
    /// A failure is a warning: the commit stands.
    pub async fn index_follows<'a>(
        &self,
        commit: &str,
        paths: impl IntoIterator<Item = &'a str>,
    ) -> Option<String> {
        match self
            .git(["reset", "-q", commit, "--pathspec-from-file=-", "--pathspec-file-nul"])
            .stdin(nul_list(paths))
            .run()
            .await
        {
            Ok(_) => None,
            Err(e) => Some(format!(
                "commit {} is made, but the index could not follow it ({e}); `git reset -q -- <its paths>` puts it right",
                super::short(commit)
            )),
        }
    }

    /// After a crash between "commit intended" and "committed": the commit on top of `parent`
    /// with `message` (a `commit-msg` hook may have added lines after it), if it was made. It is
    /// looked for along `HEAD`'s first parents, so a person's commit made on top since is no
    /// obstacle.
    pub async fn find_made(&self, parent: Option<&str>, message: &str) -> Result<Option<String>, GitError> {
        let Some(head) = self.head().await? else { return Ok(None) };
        if Some(head.as_str()) == parent {
            return Ok(None);
        }
        let mut args = vec!["log", "--first-parent", "-z", "--format=%H%x01%P%x01%B", head.as_str()];
        let exclude;
        if let Some(parent) = parent {
            exclude = format!("^{parent}");
            args.push(&exclude);
        }
        args.push("--");
        let out = self.git(args).run().await?;
        let wanted = clean_message(message);
        let text = String::from_utf8_lossy(&out.stdout);
        for record in text.split('\0') {
            let mut fields = record.trim_start_matches('\n').splitn(3, '\u{1}');
            let (Some(id), Some(parents), Some(body)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            let first_parent = parents.split(' ').next().filter(|p| !p.is_empty());
            if first_parent == parent {
                return Ok(clean_message(body).starts_with(&wanted).then(|| id.to_owned()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{empty_repo, repo, sh};
    use super::*;

    async fn open(dir: &Path) -> WorkTree {
        WorkTree::open(dir, &[dir.join(".ralph")]).unwrap()
    }

    #[test]
    fn messages_are_cleaned_as_git_commit_cleans_them() {
        assert_eq!(clean_message("\n  \nT-1: add  \n\n\n\nbody\n\n"), "T-1: add\n\nbody\n");
        assert_eq!(clean_message(" \n "), "");
    }

    #[tokio::test]
    async fn only_the_given_paths_are_committed_and_what_the_user_staged_stays_staged() {
        let dir = repo(&[("a", "a\n"), ("b", "b\n"), ("gone", "g\n")]);
        sh(
            dir.path(),
            "echo staged >> b && git add b && echo mine > notes.local && echo task >> a && echo new > new.rs && rm gone",
        );
        let tree = open(dir.path()).await;
        let parent = tree.head().await.unwrap();
        let paths = ["a", "gone", "new.rs"].map(str::to_owned);
        let made = tree.commit_paths(&paths, parent.as_deref(), "T-1: task\n").await.unwrap().unwrap();
        assert_eq!(made.index_warning, None);
        let shown = sh(dir.path(), "git show --name-status --format=%s HEAD");
        assert_eq!(shown, "T-1: task\n\nM\ta\nD\tgone\nA\tnew.rs\n");
        // The user's staged change is still staged, their untracked file untracked, and the
        // committed paths are clean.
        assert_eq!(sh(dir.path(), "git status --porcelain"), "M  b\n?? notes.local\n");
        assert_eq!(tree.find_made(parent.as_deref(), "T-1: task").await.unwrap(), Some(made.commit.clone()));
        assert_eq!(tree.find_made(parent.as_deref(), "T-2: other").await.unwrap(), None);
        assert_eq!(tree.find_made(Some(&made.commit), "T-1: task").await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_first_commit_of_a_repository_has_no_parent_and_is_found_after_a_crash() {
        let dir = empty_repo();
        sh(dir.path(), "echo x > done.txt && echo mine > notes.local");
        let tree = open(dir.path()).await;
        assert_eq!(tree.find_made(None, "T-1").await.unwrap(), None);
        let made = tree.commit_paths(&["done.txt".into()], None, "T-1").await.unwrap().unwrap();
        assert_eq!(sh(dir.path(), "git rev-list --count HEAD"), "1\n");
        assert_eq!(sh(dir.path(), "git status --porcelain"), "?? notes.local\n");
        // A person's commit on top since does not hide it.
        sh(dir.path(), "git commit -q --allow-empty -m later");
        assert_eq!(tree.find_made(None, "T-1").await.unwrap(), Some(made.commit));
    }

    #[tokio::test]
    async fn nothing_to_commit_is_none() {
        let dir = repo(&[("a", "a\n")]);
        let tree = open(dir.path()).await;
        let head = tree.head().await.unwrap();
        assert_eq!(tree.commit_paths(&[], head.as_deref(), "m").await.unwrap(), None);
        assert_eq!(tree.commit_paths(&["a".into()], head.as_deref(), "m").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_moved_head_a_stale_index_lock_and_a_failing_hook_are_told_and_commit_nothing() {
        let dir = repo(&[("a", "a\n")]);
        let tree = open(dir.path()).await;
        let old = tree.head().await.unwrap();
        sh(dir.path(), "git commit -q --allow-empty -m beside && echo task >> a");
        let moved = tree.commit_paths(&["a".into()], old.as_deref(), "m").await.unwrap_err();
        assert!(matches!(moved, CommitError::HeadMoved { .. }), "{moved}");
        let head = tree.head().await.unwrap();

        sh(dir.path(), "touch .git/index.lock");
        let locked = tree.commit_paths(&["a".into()], head.as_deref(), "m").await.unwrap_err();
        assert!(locked.to_string().contains("index.lock` exists"), "{locked}");
        sh(dir.path(), "rm .git/index.lock");

        sh(
            dir.path(),
            "printf '#!/bin/sh\\necho \"no secrets\" >&2\\necho \"second line\" >&2\\nexit 3\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit",
        );
        let hooked = tree.commit_paths(&["a".into()], head.as_deref(), "m").await.unwrap_err();
        assert_eq!(hooked.to_string(), "the `pre-commit` hook exited with 3: no secrets\nsecond line");
        assert_eq!(tree.head().await.unwrap(), head);
        assert_eq!(sh(dir.path(), "git status --porcelain"), " M a\n");
    }

    #[tokio::test]
    async fn the_commit_msg_hook_may_add_a_trailer_and_the_commit_is_still_found() {
        let dir = repo(&[("a", "a\n")]);
        sh(
            dir.path(),
            "printf '#!/bin/sh\\nprintf \"\\\\nChange-Id: I1\\\\n\" >> \"$1\"\\n' > .git/hooks/commit-msg && chmod +x .git/hooks/commit-msg && echo b >> a",
        );
        let tree = open(dir.path()).await;
        let parent = tree.head().await.unwrap();
        let made = tree.commit_paths(&["a".into()], parent.as_deref(), "T-1: a").await.unwrap().unwrap();
        assert_eq!(sh(dir.path(), "git log -1 --format=%B"), "T-1: a\n\nChange-Id: I1\n\n");
        assert_eq!(tree.find_made(parent.as_deref(), "T-1: a").await.unwrap(), Some(made.commit));
    }

    #[tokio::test]
    async fn a_git_failure_shows_git_s_whole_message() {
        let dir = repo(&[("a", "a\n")]);
        sh(dir.path(), "echo b >> a");
        let tree = open(dir.path()).await;
        let parent = tree.head().await.unwrap();
        let error = tree.git(["commit-tree", "not-a-tree"]).run().await.err().unwrap();
        assert!(error.to_string().starts_with("git commit-tree exited with 128: fatal: "), "{error}");
        // A stale lock on the branch: git's whole message and advice, not its last line.
        sh(dir.path(), "touch .git/refs/heads/main.lock");
        let failed = tree.commit_paths(&["a".into()], parent.as_deref(), "m").await.unwrap_err();
        let text = failed.to_string();
        assert!(text.starts_with("git update-ref exited with 128: fatal: "), "{text}");
        assert!(text.contains("main.lock': File exists") && text.lines().count() > 2, "{text}");
        assert_eq!(tree.head().await.unwrap(), parent);
    }
}
