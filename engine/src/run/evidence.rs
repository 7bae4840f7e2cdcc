//! Evidence from git, the old way: blocking `git` calls, size and modification time only, and
//! no exclusion of the engine's own files. **Superseded** by [`crate::git`] (`WorkTree`,
//! `Snapshot`, `WorkTree::changed`), which tells exactly what a step changed without blocking
//! the async workers; this module stays only until the runner switches to it.
//!
//! Before and after each step the runner takes a [`Snapshot`]: `HEAD` and every path `git status`
//! reports, each with its size and modification time. A step changed a path when it appears,
//! disappears, or its size or time differs, plus every path of the commits it made.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The dirty paths of a work tree at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    head: Option<String>,
    files: BTreeMap<String, Option<(u64, SystemTime)>>,
}

/// A project's git work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output.status.success().then_some(output.stdout)
}

fn line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

impl Repo {
    /// The work tree `dir` is in, if it is in one (and git is installed).
    pub fn open(dir: &Path) -> Option<Repo> {
        let top = git(dir, &["rev-parse", "--show-toplevel"])?;
        Some(Repo { dir: PathBuf::from(line(&top)) })
    }

    /// The work tree's root.
    pub fn root(&self) -> &Path {
        &self.dir
    }

    /// The commit `HEAD` points at (none in a repository without commits).
    pub fn head(&self) -> Option<String> {
        git(&self.dir, &["rev-parse", "--verify", "-q", "HEAD"]).map(|b| line(&b)).filter(|h| !h.is_empty())
    }

    /// The current branch, or an empty string on a detached `HEAD`.
    pub fn branch(&self) -> String {
        git(&self.dir, &["symbolic-ref", "-q", "--short", "HEAD"]).map(|b| line(&b)).unwrap_or_default()
    }

    /// A tag pointing at `HEAD`, or an empty string.
    pub fn tag(&self) -> String {
        git(&self.dir, &["describe", "--tags", "--exact-match", "HEAD"]).map(|b| line(&b)).unwrap_or_default()
    }

    /// The dirty paths now.
    pub fn snapshot(&self) -> Snapshot {
        let mut files = BTreeMap::new();
        if let Some(out) = git(&self.dir, &["status", "--porcelain=v1", "-z", "--untracked-files=all"]) {
            let mut entries = out.split(|b| *b == 0).filter(|e| !e.is_empty());
            while let Some(entry) = entries.next() {
                if entry.len() < 4 {
                    continue;
                }
                let status = &entry[..2];
                let path = String::from_utf8_lossy(&entry[3..]).into_owned();
                // A rename lists its old path next; both changed.
                if status.contains(&b'R') || status.contains(&b'C') {
                    if let Some(old) = entries.next() {
                        files.insert(String::from_utf8_lossy(old).into_owned(), None);
                    }
                }
                let stat = std::fs::symlink_metadata(self.dir.join(&path))
                    .ok()
                    .and_then(|m| Some((m.len(), m.modified().ok()?)));
                files.insert(path, stat);
            }
        }
        Snapshot { head: self.head(), files }
    }

    /// The paths the commits from `old` to `new` changed (none when they are the same).
    fn committed_between(&self, old: &str, new: &str) -> Vec<String> {
        if old == new {
            return Vec::new();
        }
        git(&self.dir, &["diff", "--name-only", "-z", old, new])
            .map(|out| {
                out.split(|b| *b == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The paths that changed between two snapshots, relative to the work tree's root.
    pub fn changed(&self, before: &Snapshot, after: &Snapshot) -> Vec<String> {
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for (path, stat) in &after.files {
            if before.files.get(path) != Some(stat) {
                changed.insert(path.clone());
            }
        }
        for path in before.files.keys() {
            if !after.files.contains_key(path) {
                changed.insert(path.clone());
            }
        }
        if let (Some(old), Some(new)) = (&before.head, &after.head) {
            changed.extend(self.committed_between(old, new));
        }
        changed.into_iter().collect()
    }

    /// What a step changed in `files`, as a unified diff against the commit it started from
    /// (untracked files in full, as additions), cut at about `limit` bytes. For plugins that
    /// read changes (a secret guard): built only when one asks.
    pub fn diff(&self, before: &Snapshot, files: &[String], limit: usize) -> String {
        let mut out = Vec::new();
        if files.is_empty() {
            return String::new();
        }
        let base = before.head.clone().or_else(|| self.head());
        let untracked: BTreeSet<String> =
            git(&self.dir, &["ls-files", "--others", "--exclude-standard", "-z", "--"])
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|p| !p.is_empty())
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect()
                })
                .unwrap_or_default();
        let tracked: Vec<&str> =
            files.iter().filter(|f| !untracked.contains(*f)).map(String::as_str).collect();
        if let (Some(base), false) = (&base, tracked.is_empty()) {
            let mut args = vec!["diff", "--no-color", "--no-ext-diff", base.as_str(), "--"];
            args.extend(tracked.iter().copied());
            if let Some(bytes) = git(&self.dir, &args) {
                out.extend(bytes);
            }
        }
        for file in files.iter().filter(|f| untracked.contains(*f)) {
            if out.len() >= limit {
                break;
            }
            // `--no-index` exits 1 when the files differ, which they always do here.
            let output = std::process::Command::new("git")
                .args(["diff", "--no-color", "--no-ext-diff", "--no-index", "--", "/dev/null", file])
                .current_dir(&self.dir)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output();
            if let Ok(output) = output {
                out.extend(output.stdout);
            }
        }
        out.truncate(limit);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Every path changed since `base` (committed, staged, unstaged or untracked).
    pub fn changed_since(&self, base: Option<&str>, now: &Snapshot) -> Vec<String> {
        let mut changed: BTreeSet<String> = now.files.keys().cloned().collect();
        if let (Some(base), Some(head)) = (base, &now.head) {
            changed.extend(self.committed_between(base, head));
        }
        changed.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let status =
            std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).status().unwrap();
        assert!(status.success(), "{script}");
    }

    #[test]
    fn a_step_changes_are_edits_new_files_deletions_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        sh(
            dir.path(),
            "git init -q . && git config user.email t@t && git config user.name t && echo a > a.py && echo b > b.txt && echo dirty > d.txt && git add . && git commit -qm init && echo more >> d.txt",
        );
        let repo = Repo::open(dir.path()).unwrap();
        let base = repo.head();
        let before = repo.snapshot();
        // Sleep past coarse file-system timestamps before editing the already-dirty file.
        std::thread::sleep(std::time::Duration::from_millis(20));
        sh(
            dir.path(),
            "echo x >> a.py && mkdir -p src && echo n > src/new.rs && echo again >> d.txt && git rm -q b.txt && echo c > c.md && git add c.md && git commit -qm step",
        );
        let after = repo.snapshot();
        let changed = repo.changed(&before, &after);
        assert_eq!(changed, ["a.py", "b.txt", "c.md", "d.txt", "src/new.rs"]);
        let so_far = repo.changed_since(base.as_deref(), &after);
        assert_eq!(so_far, ["a.py", "b.txt", "c.md", "d.txt", "src/new.rs"]);
        assert!(!repo.branch().is_empty());
    }

    #[test]
    fn outside_a_work_tree_there_is_no_repo() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Repo::open(dir.path()).is_none());
    }
}
