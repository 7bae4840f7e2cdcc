//! One loop per work tree: two loops with different state directories in one work tree would
//! take the same task, see each other's edits as their own evidence and commit each other's
//! work.
//!
//! The lock is per **git work tree**, not per project directory: two projects in two
//! directories of one work tree share its index, `HEAD` and files, so they must not run at
//! once either; and each linked work tree (`git worktree add`) has its own index and `HEAD`, so
//! loops in different work trees of one repository may. Its file is `ralph-loop.lock` in the
//! work tree's own git directory (`.git/`, or `.git/worktrees/<name>/`): one place every
//! project inside the work tree finds, which `git status` never shows and no commit picks up.
//! Outside git, the project directory is the unit: `<project>/.ralph/worktree.lock`.
//!
//! Like the state directory's lock it is an `flock` (`crate::file_lock`), dropped by the kernel
//! however its holder dies; the file names the holder's pid and state directory for the refusal.

use std::path::{Path, PathBuf};

use crate::file_lock::{self, FileLock, Refused};

use super::line;

/// Held while a loop runs in a work tree.
#[derive(Debug)]
pub struct WorkTreeLock {
    _lock: FileLock,
    path: PathBuf,
}

/// Why the work tree's lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum WorkTreeLockError {
    /// Another loop runs in this work tree.
    #[error(
        "another loop ({}state directory `{}`) is running in `{}`: one loop per work tree, since two would take the same task and commit each other's work; wait for it to end, or stop it with `ralph-loop interrupt{}`",
        pid.map(|p| format!("pid {p}, ")).unwrap_or_default(),
        state_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_else(|| "unknown".into()),
        work_tree.display(),
        state_dir.as_deref().map(|d| format!(" --state-dir {}", d.display())).unwrap_or_default()
    )]
    Held {
        /// The other loop's pid, when its lock file names it.
        pid: Option<u32>,
        /// The other loop's state directory, when its lock file names it.
        state_dir: Option<PathBuf>,
        /// The work tree (or project directory outside git).
        work_tree: PathBuf,
    },
    /// The lock file cannot be created or locked.
    #[error("cannot lock the work tree with `{}`: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
}

impl WorkTreeLock {
    /// Takes the lock of the work tree `project_dir` is in (of `project_dir` itself outside
    /// git) for a loop whose state directory is `state_dir`, without waiting.
    pub fn acquire(project_dir: &Path, state_dir: &Path) -> Result<WorkTreeLock, WorkTreeLockError> {
        let (work_tree, path) = lock_path(project_dir);
        let io = |source| WorkTreeLockError::Io { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            crate::private::create_dir_all(parent).map_err(io)?;
        }
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_owned());
        let holder = format!("{}\n{}\n", std::process::id(), state_dir.display());
        match file_lock::try_lock(&path, &holder) {
            Ok(lock) => Ok(WorkTreeLock { _lock: lock, path }),
            Err(Refused::Held(text)) => {
                let mut lines = text.lines();
                let pid = lines.next().and_then(|l| l.trim().parse().ok());
                let state_dir = lines.next().filter(|l| !l.is_empty()).map(PathBuf::from);
                Err(WorkTreeLockError::Held { pid, state_dir, work_tree })
            }
            Err(Refused::Io(source)) => Err(io(source)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The work tree `project_dir` is in and its lock file; outside git, the project directory
/// and `.ralph/worktree.lock` in it.
fn lock_path(project_dir: &Path) -> (PathBuf, PathBuf) {
    let found = super::work_tree::locate(project_dir)
        .map(|out| String::from_utf8_lossy(&out).lines().map(|l| line(l.as_bytes())).collect::<Vec<_>>());
    match found.as_deref() {
        Some([root, git_dir, ..]) if !root.is_empty() && !git_dir.is_empty() => {
            (PathBuf::from(root), Path::new(git_dir).join("ralph-loop.lock"))
        }
        _ => (project_dir.to_owned(), project_dir.join(".ralph").join("worktree.lock")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{empty_repo, sh};
    use super::*;

    #[test]
    fn a_second_loop_in_the_same_work_tree_is_refused_whatever_its_state_dir_or_project() {
        let dir = empty_repo();
        sh(dir.path(), "mkdir -p one two");
        let first =
            WorkTreeLock::acquire(&dir.path().join("one"), &dir.path().join("one/.ralph/state")).unwrap();
        assert!(first.path().ends_with(".git/ralph-loop.lock"));
        let refused =
            WorkTreeLock::acquire(&dir.path().join("two"), Path::new("/elsewhere/state")).unwrap_err();
        match &refused {
            WorkTreeLockError::Held { pid, state_dir, .. } => {
                assert_eq!(*pid, Some(std::process::id()));
                assert!(state_dir.as_ref().unwrap().ends_with("one/.ralph/state"));
            }
            other => panic!("{other}"),
        }
        let text = refused.to_string();
        assert!(
            text.starts_with(&format!("another loop (pid {}, state directory `", std::process::id())),
            "{text}"
        );
        drop(first);
        assert!(WorkTreeLock::acquire(&dir.path().join("two"), Path::new("/elsewhere/state")).is_ok());
    }

    #[test]
    fn linked_work_trees_of_one_repository_each_have_their_own_lock() {
        let dir = empty_repo();
        sh(dir.path(), "git commit -q --allow-empty -m init");
        let linked = tempfile::tempdir().unwrap();
        let linked_path = linked.path().join("wt");
        sh(dir.path(), &format!("git worktree add -q {}", linked_path.display()));
        let main = WorkTreeLock::acquire(dir.path(), Path::new("/a")).unwrap();
        let other = WorkTreeLock::acquire(&linked_path, Path::new("/b")).unwrap();
        assert_ne!(main.path(), other.path());
    }

    #[test]
    fn outside_git_the_project_directory_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkTreeLock::acquire(dir.path(), Path::new("/a")).unwrap();
        assert!(first.path().ends_with(".ralph/worktree.lock"));
        assert!(WorkTreeLock::acquire(dir.path(), Path::new("/b")).is_err());
    }
}
