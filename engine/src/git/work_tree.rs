//! Which work tree a directory is in, which of its paths are never the user's work (the
//! engine's own files), and the questions about commits the other modules ask.

use std::path::{Component, Path, PathBuf};

use super::{Git, GitError, line, nul_fields};

/// A git work tree: its root, its git directory, and the paths that are not part of its
/// evidence (the engine's own files).
#[derive(Debug, Clone)]
pub struct WorkTree {
    root: PathBuf,
    git_dir: PathBuf,
    exclude: Vec<String>,
}

impl WorkTree {
    /// The work tree `dir` is in, if it is in one and git runs.
    ///
    /// `exclude` names directories (the project's `.ralph/`, the state directory) whose files
    /// are never evidence, never committed and never reset, wherever they are and whether or
    /// not `.gitignore` mentions them; those outside the work tree are ignored. This runs one
    /// `git rev-parse` on the calling thread: call it once, when a run starts.
    pub fn open(dir: &Path, exclude: &[PathBuf]) -> Option<WorkTree> {
        WorkTree::from_rev_parse(&locate(dir)?, exclude)
    }

    /// [`WorkTree::open`] without blocking the calling async worker.
    pub async fn find(dir: &Path, exclude: &[PathBuf]) -> Option<WorkTree> {
        let out = Git::new(dir, LOCATE).run().await.ok()?;
        WorkTree::from_rev_parse(&out.stdout, exclude)
    }

    fn from_rev_parse(stdout: &[u8], exclude: &[PathBuf]) -> Option<WorkTree> {
        let text = String::from_utf8_lossy(stdout);
        let mut lines = text.lines();
        let root = PathBuf::from(lines.next().filter(|l| !l.is_empty())?);
        let git_dir = PathBuf::from(lines.next().filter(|l| !l.is_empty())?);
        let mut excluded: Vec<String> = exclude.iter().filter_map(|p| relative_to(&root, p)).collect();
        excluded.sort();
        excluded.dedup();
        Some(WorkTree { root, git_dir, exclude: excluded })
    }

    /// The same work tree with more excluded directories, given relative to its root.
    pub fn excluding(mut self, relative: &[String]) -> WorkTree {
        self.exclude
            .extend(relative.iter().map(|r| r.trim_end_matches('/').to_owned()).filter(|r| !r.is_empty()));
        self.exclude.sort();
        self.exclude.dedup();
        self
    }

    /// The work tree's root (as git names it: symbolic links resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This work tree's own git directory (`.git`, or `.git/worktrees/<name>` for a linked
    /// work tree).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The excluded directories, relative to the root.
    pub fn excluded(&self) -> &[String] {
        &self.exclude
    }

    /// Whether `path` (relative to the root) is one of the engine's own files.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        // A temporary file of the engine's atomic writes (a task file being replaced), left
        // behind by a loop that was killed in the middle: never the work's.
        if path.ends_with(".ralph-tmp") {
            return true;
        }
        self.exclude
            .iter()
            .any(|e| path == e || path.strip_prefix(e.as_str()).is_some_and(|r| r.starts_with('/')))
    }

    /// A git command in this work tree (literal pathspecs).
    pub(crate) fn git<I, S>(&self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        Git::new(&self.root, args)
    }

    /// The pathspecs that leave the excluded directories out of a whole-tree command
    /// (`status`): git then does not even walk them, which matters when `.ralph/runs` holds
    /// thousands of files.
    pub(crate) fn whole_tree_pathspecs(&self) -> Vec<String> {
        let mut specs = vec![":(top)".to_owned()];
        specs.extend(self.exclude.iter().map(|e| format!(":(top,exclude,literal){e}")));
        specs
    }

    /// The commit `HEAD` points at; none in a repository without commits.
    pub async fn head(&self) -> Result<Option<String>, GitError> {
        let out = self.git(["rev-parse", "--verify", "-q", "HEAD^{commit}"]).accept(&[0, 1]).run().await?;
        Ok((out.code == 0).then(|| line(&out.stdout)).filter(|h| !h.is_empty()))
    }

    /// A tag pointing at `HEAD`, if one does.
    pub async fn tag(&self) -> Result<Option<String>, GitError> {
        let out = self.git(["describe", "--tags", "--exact-match", "HEAD"]).accept(&[0, 128]).run().await?;
        Ok((out.code == 0).then(|| line(&out.stdout)).filter(|t| !t.is_empty()))
    }

    /// The commits reachable from `new` but not from `old` (all of them when `old` is none),
    /// newest first.
    pub async fn commits_between(&self, old: Option<&str>, new: &str) -> Result<Vec<String>, GitError> {
        let range = match old {
            Some(old) => vec![new.to_owned(), format!("^{old}")],
            None => vec![new.to_owned()],
        };
        let mut args = vec!["rev-list".to_owned()];
        args.extend(range);
        args.push("--".to_owned());
        let out = self.git(args).run().await?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect())
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        let out =
            self.git(["merge-base", "--is-ancestor", ancestor, descendant]).accept(&[0, 1]).run().await?;
        Ok(out.code == 0)
    }

    /// The paths that differ between two commits (every path of the one when the other is
    /// none), the excluded ones left out.
    pub(crate) async fn paths_between(
        &self,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<Vec<String>, GitError> {
        let bytes = match (old, new) {
            (Some(old), Some(new)) if old == new => return Ok(Vec::new()),
            (Some(old), Some(new)) => {
                let args = ["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", old, new, "--"];
                self.git(args).run().await?.stdout
            }
            (Some(one), None) | (None, Some(one)) => self.tree_paths(one).await?,
            (None, None) => return Ok(Vec::new()),
        };
        Ok(nul_fields(&bytes).filter(|p| !self.is_excluded(p)).collect())
    }

    /// Every file path of `commit`'s tree.
    pub(crate) async fn tree_paths(&self, commit: &str) -> Result<Vec<u8>, GitError> {
        let out = self.git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", commit]).run().await?;
        Ok(out.stdout)
    }
}

/// `path` relative to `root`, when it is inside it (and is not the root itself): the longest
/// part of it that exists is resolved, as git resolved the root.
fn relative_to(root: &Path, path: &Path) -> Option<String> {
    let path = std::path::absolute(path).ok()?;
    let mut existing = path.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    let resolved = loop {
        if let Ok(real) = existing.canonicalize() {
            break real;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return None,
        }
    };
    let mut full = resolved;
    for name in rest.iter().rev() {
        full.push(name);
    }
    let relative = full.strip_prefix(root).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// What tells where a work tree and its git directory are.
const LOCATE: [&str; 3] = ["rev-parse", "--show-toplevel", "--absolute-git-dir"];

/// What `git rev-parse --show-toplevel --absolute-git-dir` says in `dir`, asked once per
/// directory and process (a found work tree does not move while the loop runs; the loop asks
/// for its lock and again for its runner, about 5 ms each in a 2,000-file repository). Where
/// git finds none, it is asked again next time.
pub(super) fn locate(dir: &Path) -> Option<Vec<u8>> {
    static FOUND: std::sync::Mutex<Vec<(PathBuf, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());
    let known =
        |found: &[(PathBuf, Vec<u8>)]| found.iter().find(|(d, _)| d == dir).map(|(_, out)| out.clone());
    if let Some(out) = known(&FOUND.lock().unwrap_or_else(|p| p.into_inner())) {
        return Some(out);
    }
    let out = Git::new(dir, LOCATE).run_blocking().ok()?.stdout;
    FOUND.lock().unwrap_or_else(|p| p.into_inner()).push((dir.to_owned(), out.clone()));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{empty_repo, sh};
    use super::*;

    #[test]
    fn excluded_directories_are_relative_to_the_root_wherever_the_project_is() {
        let dir = empty_repo();
        sh(dir.path(), "mkdir -p sub/.ralph");
        let outside = tempfile::tempdir().unwrap();
        let tree = WorkTree::open(
            &dir.path().join("sub"),
            &[dir.path().join("sub/.ralph"), dir.path().join("state/not/yet"), outside.path().to_owned()],
        )
        .unwrap();
        assert_eq!(tree.excluded(), ["state/not/yet", "sub/.ralph"]);
        assert!(tree.is_excluded("sub/.ralph/logs/ralph.log"));
        assert!(tree.is_excluded("sub/.ralph/"));
        assert!(!tree.is_excluded("sub/.ralphrc"));
        assert!(!tree.is_excluded("sub"));
    }

    #[test]
    fn outside_a_work_tree_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(WorkTree::open(dir.path(), &[]).is_none());
    }
}
