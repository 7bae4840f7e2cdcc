//! What a run knows about its git work tree: how the tree looked when the run started (its
//! base) and which commits the run made since. `git_reset` undoes only what differs from the
//! base and only the run's commits; `git_commit` and `--commit` leave out what was dirty at it.
//!
//! Kept in the run's directory — `work-tree.json` written once when the run starts, `commits`
//! appended to, a line per commit — so that a resumed run has the same base as the run it
//! continues, and so that the built-in actions find it with nothing but the run directory.
//! Depends on `crate::git` and the file system only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::git::{Snapshot, WorkTree};

const BASE_FILE: &str = "work-tree.json";
const COMMITS_FILE: &str = "commits";

/// The work tree as a run found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBase {
    /// The snapshot taken before the run's first step.
    pub start: Snapshot,
    /// The directories that are not the user's work (the project's `.ralph/`, the state
    /// directory), relative to the work tree's root.
    pub excluded: Vec<String>,
    /// The commits the run made (`--commit`, `git_commit`) or saw its steps make, oldest
    /// first.
    #[serde(skip)]
    pub commits: Vec<String>,
}

/// Why the record cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {doing} `{}`: {source}", path.display())]
pub struct BaseError {
    doing: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl RunBase {
    /// Records `start` as the base of the run whose directory is `run_dir`, unless one is
    /// recorded already (a resumed run keeps the base its run started from). Call it once,
    /// before the run's first step, with the snapshot taken then.
    pub fn record(run_dir: &Path, tree: &WorkTree, start: &Snapshot) -> Result<(), BaseError> {
        let path = run_dir.join(BASE_FILE);
        if path.exists() {
            return Ok(());
        }
        let base = RunBase { start: start.clone(), excluded: tree.excluded().to_vec(), commits: Vec::new() };
        let bytes = serde_json::to_vec(&base).map_err(|e| BaseError {
            doing: "write",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::create_dir_all(run_dir)
            .and_then(|()| crate::atomic_file::write(&path, bytes))
            .map_err(|source| BaseError { doing: "write", path, source })
    }

    /// The base of the run whose directory is `run_dir`, with its commits; none when it has
    /// none (not in a git work tree, or started before bases were kept).
    pub fn load(run_dir: &Path) -> Result<Option<RunBase>, BaseError> {
        let path = run_dir.join(BASE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(BaseError { doing: "read", path, source }),
        };
        let mut base: RunBase = serde_json::from_slice(&bytes).map_err(|e| BaseError {
            doing: "read",
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let commits = run_dir.join(COMMITS_FILE);
        match std::fs::read_to_string(&commits) {
            Ok(text) => base.commits = text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(BaseError { doing: "read", path: commits, source }),
        }
        Ok(Some(base))
    }

    /// Notes commits the run made, or saw one of its steps make (a step's snapshots show
    /// `HEAD` moving: [`WorkTree::commits_between`]): only these may `git_reset` take back.
    pub fn add_commits(run_dir: &Path, commits: &[String]) -> Result<(), BaseError> {
        if commits.is_empty() {
            return Ok(());
        }
        let path = run_dir.join(COMMITS_FILE);
        let text: String = commits.iter().map(|c| format!("{c}\n")).collect();
        // One append of whole lines: concurrent writers never interleave within a line.
        std::fs::create_dir_all(run_dir)
            .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path))
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_data()))
            .map_err(|source| BaseError { doing: "write", path, source })
    }

    /// Gives the run in `to` (a fork: `replay --from-state`, `retry --from`) the base of the
    /// run in `from`, which it continues, unless it has one.
    pub fn inherit(from: &Path, to: &Path) -> Result<(), BaseError> {
        if to.join(BASE_FILE).exists() {
            return Ok(());
        }
        for name in [BASE_FILE, COMMITS_FILE] {
            let (source, target) = (from.join(name), to.join(name));
            match std::fs::read(&source) {
                Ok(bytes) => std::fs::create_dir_all(to)
                    .and_then(|()| crate::atomic_file::write(&target, bytes))
                    .map_err(|source| BaseError { doing: "write", path: target, source })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BaseError { doing: "read", path: source, source: e }),
            }
        }
        Ok(())
    }

    /// The work tree this base is of, with its exclusions, found from `dir`.
    pub async fn open_tree(&self, dir: &Path) -> Option<WorkTree> {
        Some(WorkTree::find(dir, &[]).await?.excluding(&self.excluded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::repo;

    #[tokio::test]
    async fn a_base_is_recorded_once_and_read_back_with_its_commits() {
        let dir = repo(&[("a", "a\n")]);
        std::fs::write(dir.path().join("notes.local"), "mine").unwrap();
        let run_dir = dir.path().join(".ralph/runs/r1");
        let tree = WorkTree::open(dir.path(), &[dir.path().join(".ralph")]).unwrap();
        let start = tree.snapshot().await.unwrap();
        RunBase::record(&run_dir, &tree, &start).unwrap();
        RunBase::record(&run_dir, &tree, &Snapshot::default()).unwrap();
        RunBase::add_commits(&run_dir, &["c1".into()]).unwrap();
        RunBase::add_commits(&run_dir, &["c2".into()]).unwrap();
        let base = RunBase::load(&run_dir).unwrap().unwrap();
        assert_eq!(base.start, start);
        assert_eq!(base.excluded, [".ralph"]);
        assert_eq!(base.commits, ["c1", "c2"]);
        assert!(base.open_tree(dir.path()).await.unwrap().is_excluded(".ralph/runs/r1/commits"));
        assert_eq!(RunBase::load(&dir.path().join("none")).unwrap(), None);
        let fork = dir.path().join(".ralph/runs/r2");
        RunBase::inherit(&run_dir, &fork).unwrap();
        assert_eq!(RunBase::load(&fork).unwrap().unwrap(), base);
        assert_eq!(RunBase::load(&fork).unwrap().unwrap().commits, ["c1", "c2"]);
    }
}
