//! What a work tree looks like at one moment ([`Snapshot`]) and exactly what changed between
//! two moments — the evidence of which files a step changed.
//!
//! A snapshot is one `git status` (porcelain v2, which also names `HEAD` and the branch, so one
//! process instead of two) and an `lstat` of each dirty path: tracked changes and untracked
//! files, ignored files and the excluded directories left out. Each dirty path gets a
//! [`Fingerprint`] — size, modification and change times to the nanosecond, inode, mode —
//! and, when it changed so recently that a rewrite within the same clock tick could leave all
//! of those as they were, the SHA-256 of its content (git's "racy clean" problem, solved the
//! same way: look at the content when the times cannot be trusted).
//!
//! Between two snapshots, a path changed when its fingerprint differs, when it appeared or
//! disappeared, or when a commit made in between holds it. A path dirty before and untouched
//! keeps its fingerprint, so it is never reported; the engine's own files are never reported.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{Git, GitError, WorkTree, nul_fields};

/// How close to "now" a file's times must be for them not to be trusted alone. File-system
/// times come from a clock that ticks every few milliseconds (every second or two on some file
/// systems), so two writes of the same size within one tick look the same; two seconds covers
/// the coarsest common ones.
const RACY: Duration = Duration::from_secs(2);

/// Files larger than this are never read for a digest: writing one twice within a clock tick
/// is not a thing that happens, and reading it on every snapshot would be.
const DIGEST_LIMIT: u64 = 64 << 20;

/// How one path looks on disk: enough to tell an edit from no edit without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Its size in bytes.
    pub size: u64,
    /// Last modification: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// Last change of its inode (content, mode, a rename over it).
    pub ctime: (i64, i64),
    /// Its inode: a file replaced by a rename gets a new one.
    pub inode: u64,
    /// Its type and permission bits.
    pub mode: u32,
    /// Its content's SHA-256 (a symbolic link's target), only when its times were too recent
    /// to be trusted alone when it was looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Fingerprint {
    fn same_metadata(&self, other: &Fingerprint) -> bool {
        (self.size, self.mtime, self.ctime, self.inode, self.mode)
            == (other.size, other.mtime, other.ctime, other.inode, other.mode)
    }
}

/// One dirty path of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Git does not track it (it is not in the index).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untracked: bool,
    /// How it looks; none when it does not exist (a deletion).
    pub fingerprint: Option<Fingerprint>,
}

/// A work tree at one moment: `HEAD`, the branch, and every dirty path with its fingerprint.
///
/// It serializes, so that a run can keep the one taken at its start (what `git_reset` and
/// `--commit` must leave alone) across a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The commit `HEAD` pointed at; none in a repository without commits.
    head: Option<String>,
    /// The branch `HEAD` named; none when detached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    /// Every dirty path, relative to the work tree's root.
    files: BTreeMap<String, Entry>,
}

impl Snapshot {
    /// The commit `HEAD` pointed at; none in a repository without commits.
    pub fn head(&self) -> Option<&str> {
        self.head.as_deref()
    }

    /// The branch `HEAD` named; none when it was detached.
    pub fn branch(&self) -> Option<&str> {
        self.branch.as_deref()
    }

    /// The dirty paths (changed, deleted, untracked), sorted.
    pub fn dirty(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// How many paths are dirty.
    pub fn dirty_count(&self) -> usize {
        self.files.len()
    }

    /// Whether `path` is dirty.
    pub fn is_dirty(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Whether `path` is dirty and untracked.
    pub fn is_untracked(&self, path: &str) -> bool {
        self.files.get(path).is_some_and(|e| e.untracked)
    }

    /// The dirty path's entry.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.files.get(path)
    }
}

/// Whether two looks at one path show the same file.
enum Same {
    Yes,
    No,
    /// Same metadata, and only the earlier look has a digest: the content must be read now.
    ReadNow,
}

fn compare(before: Option<&Fingerprint>, after: Option<&Fingerprint>) -> Same {
    match (before, after) {
        (None, None) => Same::Yes,
        (None, Some(_)) | (Some(_), None) => Same::No,
        (Some(b), Some(a)) if !b.same_metadata(a) => Same::No,
        (Some(b), Some(a)) => match (&b.digest, &a.digest) {
            (Some(x), Some(y)) => {
                if x == y {
                    Same::Yes
                } else {
                    Same::No
                }
            }
            // The times were recent at the first look and old at the second: a rewrite in the
            // first look's tick leaves the metadata as it was, so the content decides.
            (Some(_), None) => Same::ReadNow,
            // Old times at the first look cannot be recent at a later one: untouched.
            (None, _) => Same::Yes,
        },
    }
}

/// A time given as seconds and nanoseconds since the epoch (as `stat` gives it).
fn time_of((secs, nanos): (i64, i64)) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos.clamp(0, 999_999_999) as u32)
    } else {
        SystemTime::UNIX_EPOCH
            - Duration::new(secs.unsigned_abs(), nanos.unsigned_abs().min(999_999_999) as u32)
    }
}

/// The SHA-256 of a file's content, or of a symbolic link's target; none for other kinds.
fn digest(path: &Path, metadata: &std::fs::Metadata) -> std::io::Result<Option<String>> {
    let mut hasher = sha2::Sha256::new();
    if metadata.file_type().is_symlink() {
        hasher.update(std::fs::read_link(path)?.as_os_str().as_encoded_bytes());
    } else if metadata.is_file() {
        let mut file = std::fs::File::open(path)?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
    } else {
        return Ok(None);
    }
    Ok(Some(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// Looks at one path: none when it does not exist.
fn fingerprint(path: &Path, now: SystemTime) -> Result<Option<Fingerprint>, GitError> {
    let io = |source| GitError::Io { doing: "read", path: path.to_owned(), source };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mtime = (metadata.mtime(), metadata.mtime_nsec());
    let ctime = (metadata.ctime(), metadata.ctime_nsec());
    // A content rewrite always sets the modification time, so only it needs to be old enough
    // to be trusted (the change time also moves on `chmod` or a restored `touch -d`).
    let racy = time_of(mtime) + RACY > now && metadata.len() <= DIGEST_LIMIT;
    let digest = match racy.then(|| digest(path, &metadata)).transpose() {
        Ok(digest) => digest.flatten(),
        // Removed between the look and the read: it does not exist now.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    Ok(Some(Fingerprint {
        size: metadata.len(),
        mtime,
        ctime,
        inode: metadata.ino(),
        mode: metadata.mode(),
        digest,
    }))
}

/// What `git status --porcelain=v2 -z --branch` said.
#[derive(Debug, Default, PartialEq)]
struct Status {
    head: Option<String>,
    branch: Option<String>,
    /// Dirty paths, and whether each is untracked.
    paths: Vec<(String, bool)>,
}

fn parse_status(bytes: &[u8]) -> Result<Status, String> {
    let mut status = Status::default();
    let mut fields = bytes.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(field) = fields.next() {
        let text = String::from_utf8_lossy(field);
        let (kind, rest) =
            text.split_once(' ').ok_or_else(|| format!("an entry without fields: `{text}`"))?;
        // The fields before the path: `1 XY sub mH mI mW hH hI path`,
        // `2 XY sub mH mI mW hH hI Xscore path` (then the original path),
        // `u XY sub m1 m2 m3 mW h1 h2 h3 path`, `? path`.
        let before_path = match kind {
            "#" => {
                if let Some(oid) = rest.strip_prefix("branch.oid ") {
                    status.head = (oid != "(initial)").then(|| oid.to_owned());
                } else if let Some(head) = rest.strip_prefix("branch.head ") {
                    status.branch = (head != "(detached)").then(|| head.to_owned());
                }
                continue;
            }
            "1" => 7,
            "2" => 8,
            "u" => 9,
            "?" => 0,
            // Ignored files are not asked for; an unknown kind from a newer git is skipped.
            _ => continue,
        };
        let path = rest
            .splitn(before_path + 1, ' ')
            .nth(before_path)
            .ok_or_else(|| format!("an entry without a path: `{text}`"))?;
        status.paths.push((path.to_owned(), kind == "?"));
        if kind == "2" {
            let original = fields.next().ok_or("a rename without its original path")?;
            status.paths.push((String::from_utf8_lossy(original).into_owned(), false));
        }
    }
    Ok(status)
}

impl WorkTree {
    /// The work tree now: `HEAD`, the branch, and every dirty path with its fingerprint.
    ///
    /// One `git status` process (which takes no lock: a person's `git commit` at the same
    /// moment is never refused because of it), then one `lstat` per dirty path on the
    /// blocking pool.
    pub async fn snapshot(&self) -> Result<Snapshot, GitError> {
        let mut args: Vec<String> = [
            "--no-optional-locks",
            "status",
            "--porcelain=v2",
            "-z",
            "--branch",
            "--no-ahead-behind",
            "--untracked-files=all",
            "--no-renames",
            "--",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(self.whole_tree_pathspecs());
        let out = Git::with_magic(self.root(), args).run().await?;
        let status = parse_status(&out.stdout)
            .map_err(|detail| GitError::Unreadable { command: "status".into(), detail })?;
        let root = self.root().to_owned();
        let paths: Vec<(String, bool)> =
            status.paths.into_iter().filter(|(path, _)| !self.is_excluded(path)).collect();
        let files = blocking(move || {
            let now = SystemTime::now();
            let mut files = BTreeMap::new();
            for (path, untracked) in paths {
                let fingerprint = fingerprint(&root.join(&path), now)?;
                files.insert(path, Entry { untracked, fingerprint });
            }
            Ok(files)
        })
        .await?;
        Ok(Snapshot { head: status.head, branch: status.branch, files })
    }

    /// Exactly what changed between two snapshots of this work tree, relative to its root and
    /// sorted: paths whose fingerprint differs, that appeared or disappeared, and the paths of
    /// the commits made in between. A path dirty in both and untouched is not in it, nor is
    /// anything excluded.
    ///
    /// The same question serves a step (its start and end) and the packet (the iteration's
    /// start and now). A path whose times were too recent at `before` to be trusted and are
    /// the same at `after` is read now; `after` should be the latest look.
    pub async fn changed(&self, before: &Snapshot, after: &Snapshot) -> Result<Vec<String>, GitError> {
        let mut changed = BTreeSet::new();
        let mut read_now = Vec::new();
        for (path, entry) in &after.files {
            let Some(earlier) = before.files.get(path) else {
                changed.insert(path.clone());
                continue;
            };
            let earlier = earlier.fingerprint.as_ref();
            match compare(earlier, entry.fingerprint.as_ref()) {
                Same::Yes => {}
                Same::No => {
                    changed.insert(path.clone());
                }
                Same::ReadNow => read_now.push((path.clone(), earlier.and_then(|f| f.digest.clone()))),
            }
        }
        changed.extend(before.files.keys().filter(|p| !after.files.contains_key(*p)).cloned());
        if before.head != after.head {
            changed.extend(self.paths_between(before.head(), after.head()).await?);
        }
        if !read_now.is_empty() {
            let root = self.root().to_owned();
            let edited = blocking(move || {
                let mut edited = Vec::new();
                for (path, earlier) in read_now {
                    let full = root.join(&path);
                    let now = match std::fs::symlink_metadata(&full) {
                        Ok(metadata) => digest(&full, &metadata).ok().flatten(),
                        Err(_) => None,
                    };
                    if now != earlier {
                        edited.push(path);
                    }
                }
                Ok(edited)
            })
            .await?;
            changed.extend(edited);
        }
        Ok(changed.into_iter().filter(|p| !self.is_excluded(p)).collect())
    }

    /// What `files` (paths that changed between `before` and `after`) hold now, as a unified
    /// diff against the commit `before` was at — untracked files, and every file of a
    /// repository without commits, in full as additions — cut at about `limit` bytes. For
    /// plugins that read changes (a secret guard): built only when one asks.
    pub async fn diff(
        &self,
        before: &Snapshot,
        after: &Snapshot,
        files: &[String],
        limit: usize,
    ) -> Result<String, GitError> {
        /// A bound on the paths named in one `git diff` (its arguments): the diff is cut at
        /// `limit` anyway.
        const PATHS: usize = 1000;
        let mut out = Vec::new();
        let base = before.head().or(after.head());
        let (whole, against_base): (Vec<&String>, Vec<&String>) =
            files.iter().partition(|f| base.is_none() || after.is_untracked(f));
        if let (Some(base), false) = (base, against_base.is_empty()) {
            let mut args: Vec<&str> = vec!["diff", "--no-color", "--no-ext-diff", "--no-renames", base, "--"];
            args.extend(against_base.iter().take(PATHS).map(|f| f.as_str()));
            out.extend(self.git(args).run().await?.stdout);
        }
        for file in whole {
            if out.len() >= limit {
                break;
            }
            // `--no-index` exits 1 when the files differ, which they always do here.
            let args =
                ["diff", "--no-color", "--no-ext-diff", "--no-index", "--", "/dev/null", file.as_str()];
            out.extend(self.git(args).accept(&[0, 1]).run().await?.stdout);
        }
        if out.len() > limit {
            out.truncate(limit);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Runs file-system work on the blocking pool, so an async worker never waits on a disk.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, GitError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(GitError::Io { doing: "look at", path: Default::default(), source: std::io::Error::other(e) })
    })
}

/// The paths of a NUL-separated list, as a set.
pub(crate) fn path_set(bytes: &[u8]) -> BTreeSet<String> {
    nul_fields(bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{empty_repo, repo, sh};
    use super::*;

    /// Sets a file's times explicitly, so a test never waits for a clock to move.
    fn set_mtime(path: &Path, secs_ago: u64) {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let at = SystemTime::now() - Duration::from_secs(secs_ago);
        file.set_times(std::fs::FileTimes::new().set_modified(at).set_accessed(at)).unwrap();
    }

    #[test]
    fn porcelain_v2_is_read_with_head_branch_and_every_kind_of_entry() {
        let out = b"# branch.oid (initial)\0# branch.head main\0\
            1 .M N... 100644 100644 100644 aaaa aaaa a file.txt\0\
            2 R. N... 100644 100644 100644 aaaa aaaa R100 new name\0old name\0\
            u UU N... 100644 100644 100644 100644 aaaa bbbb cccc both.rs\0\
            ? dir/new file\0";
        let status = parse_status(out).unwrap();
        assert_eq!(status.head, None);
        assert_eq!(status.branch.as_deref(), Some("main"));
        assert_eq!(
            status.paths,
            [
                ("a file.txt".to_owned(), false),
                ("new name".to_owned(), false),
                ("old name".to_owned(), false),
                ("both.rs".to_owned(), false),
                ("dir/new file".to_owned(), true)
            ]
        );
        assert!(parse_status(b"1 .M\0").is_err());
    }

    #[tokio::test]
    async fn a_step_changes_are_edits_new_files_deletions_and_commits_but_not_earlier_dirt() {
        let dir = repo(&[("a.py", "a\n"), ("b.txt", "b\n"), ("d.txt", "d\n"), ("keep.txt", "k\n")]);
        sh(dir.path(), "echo dirty >> d.txt && echo mine > notes.local && echo dirty >> keep.txt");
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        let before = tree.snapshot().await.unwrap();
        assert_eq!(before.dirty().collect::<Vec<_>>(), ["d.txt", "keep.txt", "notes.local"]);
        sh(
            dir.path(),
            "echo x >> a.py && mkdir -p src && echo n > src/new.rs && echo again >> d.txt && git rm -q b.txt && echo c > c.md && git add c.md && git commit -qm step",
        );
        let after = tree.snapshot().await.unwrap();
        assert_ne!(before.head(), after.head());
        let changed = tree.changed(&before, &after).await.unwrap();
        // keep.txt and notes.local were dirty before and untouched: not the step's.
        assert_eq!(changed, ["a.py", "b.txt", "c.md", "d.txt", "src/new.rs"]);
        assert_eq!(tree.changed(&after, &after).await.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn the_engine_s_own_files_are_never_evidence_even_when_not_ignored() {
        let dir = repo(&[("a", "a\n")]);
        sh(dir.path(), "mkdir -p .ralph/logs state && echo 1 > .ralph/logs/ralph.log && echo 1 > state/db");
        let tree =
            WorkTree::open(dir.path(), &[dir.path().join(".ralph"), dir.path().join("state")]).unwrap();
        let before = tree.snapshot().await.unwrap();
        assert_eq!(before.dirty_count(), 0);
        sh(
            dir.path(),
            "echo 2 >> .ralph/logs/ralph.log && echo 2 >> state/db && echo b > b && git add -A && git commit -qm all",
        );
        let after = tree.snapshot().await.unwrap();
        assert_eq!(tree.changed(&before, &after).await.unwrap(), ["b"]);
    }

    #[tokio::test]
    async fn a_rewrite_of_the_same_size_in_the_same_tick_is_seen() {
        let dir = repo(&[("a", "a\n")]);
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        let file = dir.path().join("dirty.txt");
        std::fs::write(&file, "one\n").unwrap();
        let before = tree.snapshot().await.unwrap();
        let earlier = before.entry("dirty.txt").unwrap().fingerprint.clone().unwrap();
        assert!(earlier.digest.is_some(), "a file written just now is read");
        // Same size, and its times put back exactly as they were: only the content differs.
        std::fs::write(&file, "two\n").unwrap();
        let (secs, nanos) = earlier.mtime;
        let at = SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos as u32);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(at))
            .unwrap();
        let after = tree.snapshot().await.unwrap();
        assert_eq!(tree.changed(&before, &after).await.unwrap(), ["dirty.txt"]);
    }

    #[tokio::test]
    async fn a_file_left_alone_is_not_changed_whether_its_times_are_old_or_new() {
        let dir = repo(&[("a", "a\n")]);
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        std::fs::write(dir.path().join("old.txt"), "old\n").unwrap();
        set_mtime(&dir.path().join("old.txt"), 3600);
        std::fs::write(dir.path().join("new.txt"), "new\n").unwrap();
        let before = tree.snapshot().await.unwrap();
        assert!(before.entry("old.txt").unwrap().fingerprint.as_ref().unwrap().digest.is_none());
        let after = tree.snapshot().await.unwrap();
        assert_eq!(tree.changed(&before, &after).await.unwrap(), Vec::<String>::new());
        // A snapshot survives being kept as JSON (a run keeps its start across a restart).
        let kept: Snapshot = serde_json::from_str(&serde_json::to_string(&before).unwrap()).unwrap();
        assert_eq!(kept, before);
    }

    #[tokio::test]
    async fn a_repository_without_commits_has_no_head_and_its_first_commit_counts() {
        let dir = empty_repo();
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        sh(dir.path(), "echo u > untracked.txt");
        let before = tree.snapshot().await.unwrap();
        assert_eq!((before.head(), before.branch()), (None, Some("main")));
        assert!(before.is_untracked("untracked.txt"));
        sh(dir.path(), "echo f > first.txt && git add first.txt && git commit -qm first");
        let after = tree.snapshot().await.unwrap();
        assert!(after.head().is_some());
        assert_eq!(tree.changed(&before, &after).await.unwrap(), ["first.txt"]);
    }

    #[tokio::test]
    async fn the_diff_shows_tracked_edits_against_the_start_and_new_files_in_full() {
        let dir = repo(&[("a.txt", "one\n")]);
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        let before = tree.snapshot().await.unwrap();
        sh(dir.path(), "echo two >> a.txt && echo secret > new.txt");
        let after = tree.snapshot().await.unwrap();
        let files = tree.changed(&before, &after).await.unwrap();
        let diff = tree.diff(&before, &after, &files, 10_000).await.unwrap();
        assert!(diff.contains("+two") && diff.contains("+secret"), "{diff}");
        assert_eq!(tree.diff(&before, &after, &files, 10).await.unwrap().len(), 10);
    }

    #[tokio::test]
    async fn paths_that_look_like_pathspec_magic_are_plain_paths() {
        let dir = repo(&[("a", "a\n")]);
        let tree = WorkTree::open(dir.path(), &[]).unwrap();
        let before = tree.snapshot().await.unwrap();
        sh(dir.path(), "echo x > '*.rs' && echo y > ':(top)odd' && echo z > 'sp ace.txt'");
        let after = tree.snapshot().await.unwrap();
        let files = tree.changed(&before, &after).await.unwrap();
        assert_eq!(files, ["*.rs", ":(top)odd", "sp ace.txt"]);
        assert!(tree.diff(&before, &after, &files, 10_000).await.unwrap().contains("+y"));
    }
}
