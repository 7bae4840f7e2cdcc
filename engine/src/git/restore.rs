//! Undoing given paths: putting them back as a commit has them, removing those it does not
//! have, moving the branch back, and keeping what is undone where a person can still find it.
//! Which paths may be undone is the caller's decision (`run/git_actions.rs`: only the run's
//! own work); this module does exactly that, and nothing to any other path.

use std::collections::BTreeSet;
use std::path::Path;

use super::snapshot::path_set;
use super::{GitError, WorkTree, line, nul_list};

/// What [`WorkTree::restore_paths`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Paths put back as the commit has them.
    pub restored: Vec<String>,
    /// Paths the commit does not have, removed from the index and the disk.
    pub removed: Vec<String>,
    /// Paths the commit does not have that git ignores: removed from the index only, since
    /// an ignored file (a `.env`) may well predate the run that added it.
    pub kept_ignored: Vec<String>,
}

impl WorkTree {
    /// Puts `paths` back as `commit` has them, in the index and the work tree; those it does
    /// not have (all of them when there is no commit) are removed from the index and, unless
    /// git ignores them, from the disk, with the directories that removal leaves empty (as
    /// `git rm` does).
    pub async fn restore_paths(&self, commit: Option<&str>, paths: &[String]) -> Result<Restored, GitError> {
        let paths: Vec<&str> =
            paths.iter().map(String::as_str).filter(|p| !p.ends_with('/') && !self.is_excluded(p)).collect();
        let mut done = Restored::default();
        if paths.is_empty() {
            return Ok(done);
        }
        let known: BTreeSet<String> = match commit {
            Some(commit) => path_set(&self.tree_paths(commit).await?),
            None => BTreeSet::new(),
        };
        let (back, created): (Vec<&str>, Vec<&str>) = paths.iter().partition(|p| known.contains(**p));
        if let (Some(commit), false) = (commit, back.is_empty()) {
            self.git(["checkout", "-q", commit, "--pathspec-from-file=-", "--pathspec-file-nul"])
                .stdin(nul_list(back.iter().copied()))
                .run()
                .await?;
            done.restored = back.iter().map(|p| (*p).to_owned()).collect();
        }
        if created.is_empty() {
            return Ok(done);
        }
        let ignored = path_set(
            // Paths read from standard input are paths, not pathspecs (and this command
            // refuses `--literal-pathspecs`).
            &super::Git::with_magic(self.root(), ["check-ignore", "--no-index", "-z", "--stdin"])
                .accept(&[0, 1])
                .stdin(nul_list(created.iter().copied()))
                .run()
                .await?
                .stdout,
        );
        self.git(["update-index", "--force-remove", "-z", "--stdin"])
            .stdin(nul_list(created.iter().copied()))
            .run()
            .await?;
        for path in created {
            if ignored.contains(path) {
                done.kept_ignored.push(path.to_owned());
                continue;
            }
            remove(self.root(), path)?;
            done.removed.push(path.to_owned());
        }
        Ok(done)
    }

    /// Moves `HEAD`'s branch from `from` to `to`, failing if it is no longer at `from`.
    pub async fn move_head(&self, to: &str, from: &str, why: &str) -> Result<(), GitError> {
        self.git(["update-ref", "-m", why, "HEAD", to, from]).run().await.map(drop)
    }

    /// Keeps the work tree's `paths` as they are now, on top of `HEAD`, in a commit that
    /// `reference` (`refs/…`, outside the branches) points at; when they hold nothing new,
    /// `reference` points at `HEAD` itself. Neither the branch nor the index moves. None
    /// when there is nothing at all to keep (no commit, no path).
    pub async fn keep(
        &self,
        reference: &str,
        paths: &[String],
        message: &str,
    ) -> Result<Option<String>, GitError> {
        let head = self.head().await?;
        let paths: Vec<&str> =
            paths.iter().map(String::as_str).filter(|p| !p.ends_with('/') && !self.is_excluded(p)).collect();
        let scratch = self.temp_index(head.as_deref(), &paths).await?;
        let index = scratch.path().join("index");
        let tree = line(&self.git(["write-tree"]).env("GIT_INDEX_FILE", &index).run().await?.stdout);
        let head_tree = match &head {
            Some(head) => line(&self.git(["rev-parse", &format!("{head}^{{tree}}")]).run().await?.stdout),
            None => line(&self.git(["mktree"]).stdin(Vec::new()).run().await?.stdout),
        };
        let kept = if tree == head_tree {
            match head {
                Some(head) => head,
                None => return Ok(None),
            }
        } else {
            let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
            if let Some(head) = &head {
                args.extend(["-p", head.as_str()]);
            }
            line(&self.git(args).run().await?.stdout)
        };
        self.git(["update-ref", "-m", message, reference, kept.as_str()]).run().await?;
        Ok(Some(kept))
    }
}

/// Removes a file (or link) and the directories its removal leaves empty, up to the root.
fn remove(root: &Path, path: &str) -> Result<(), GitError> {
    let full = root.join(path);
    match std::fs::remove_file(&full) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(GitError::Io { doing: "remove", path: full, source }),
    }
    let mut dir = full.parent();
    while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
        // Fails when the directory still holds something: then so do its parents.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{empty_repo, repo, sh};
    use super::*;

    #[tokio::test]
    async fn given_paths_go_back_to_the_commit_and_nothing_else_moves() {
        let dir = repo(&[("a", "a\n"), ("b", "b\n"), (".gitignore", ".env\n")]);
        sh(dir.path(), "echo user >> b && echo mine > notes.local && echo SECRET=1 > .env");
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        let base = tree.head().await.unwrap();
        sh(dir.path(), "echo run >> a && mkdir -p src/deep && echo n > src/deep/new.rs && git add -f .env");
        let paths = ["a", ".env", "src/deep/new.rs"].map(str::to_owned);
        let kept = tree.keep("refs/ralph-loop/reset/test", &paths, "kept").await.unwrap().unwrap();
        let done = tree.restore_paths(base.as_deref(), &paths).await.unwrap();
        assert_eq!(done.restored, ["a"]);
        assert_eq!(done.removed, ["src/deep/new.rs"]);
        assert_eq!(done.kept_ignored, [".env"]);
        assert_eq!(sh(dir.path(), "git status --porcelain"), " M b\n?? notes.local\n");
        assert_eq!(std::fs::read_to_string(dir.path().join(".env")).unwrap(), "SECRET=1\n");
        assert!(!dir.path().join("src").exists(), "emptied directories go with the file");
        // What was undone is kept.
        assert_eq!(sh(dir.path(), &format!("git show {kept}:src/deep/new.rs")), "n\n");
    }

    #[tokio::test]
    async fn without_a_commit_only_new_files_can_go() {
        let dir = empty_repo();
        sh(dir.path(), "echo mine > notes.local");
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        sh(dir.path(), "echo new > made.txt && git add made.txt");
        let done = tree.restore_paths(None, &["made.txt".into()]).await.unwrap();
        assert_eq!(done.removed, ["made.txt"]);
        assert_eq!(sh(dir.path(), "git status --porcelain"), "?? notes.local\n");
    }

    #[tokio::test]
    async fn the_branch_moves_back_only_from_where_it_was_said_to_be() {
        let dir = repo(&[("a", "a\n")]);
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        let base = tree.head().await.unwrap().unwrap();
        sh(dir.path(), "git commit -q --allow-empty -m run");
        let run = tree.head().await.unwrap().unwrap();
        assert!(tree.move_head(&base, &base, "wrong").await.is_err());
        tree.move_head(&base, &run, "back").await.unwrap();
        assert_eq!(tree.head().await.unwrap().as_deref(), Some(base.as_str()));
    }
}
