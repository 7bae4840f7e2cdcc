//! The user's git work tree, through the `git` program: what is dirty and how each dirty file
//! looks ([`Snapshot`]), what changed between two looks, commits of exactly given paths, undoing
//! given paths, and the lock that keeps one loop per work tree.
//!
//! **Architecture invariant:** this module knows nothing of runs, workflows, agents or the store;
//! it is told paths and commits and does exactly that to them. Deciding *which* paths are a
//! task's or a run's own work is `run/`'s job. Nothing here waits on a git process on an async
//! worker thread: the async functions use `tokio::process`, and file reads go to the blocking
//! pool.
//!
//! Every path given to git is a literal path relative to the work tree's root
//! (`--literal-pathspecs`, and lists go through standard input), so a file named `*.rs` or
//! `:(top)x` is that file and nothing else, however many paths there are.

pub mod commit;
pub mod lock;
pub mod restore;
pub mod snapshot;
mod work_tree;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use snapshot::{Fingerprint, Snapshot};
pub use work_tree::WorkTree;

/// A git command that could not be run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be started.
    #[error("cannot run `git` ({source}); is git installed?")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed: `git commit-tree exited with 128: fatal: …`, with git's whole message.
    #[error("git {command} {ended}")]
    Failed {
        /// The subcommand (`commit-tree`, `update-ref`).
        command: String,
        /// Its exit code (none when a signal ended it).
        code: Option<i32>,
        /// Everything it wrote to standard error.
        stderr: String,
        /// How it ended and what it said, for people.
        ended: String,
    },
    /// It printed something that is not what this git version documents.
    #[error("git {command} printed what ralph-loop cannot read ({detail})")]
    Unreadable {
        /// The subcommand.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// A file of the work tree could not be read, written or removed.
    #[error("cannot {doing} `{}`: {source}", path.display())]
    Io {
        /// What was being done: `read`, `remove`.
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    /// The git subcommand's standard error, when it ran and failed.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            GitError::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// One git invocation in a work tree: arguments, optional standard input and environment.
pub(crate) struct Git {
    root: PathBuf,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, OsString)>,
    accept: &'static [i32],
}

/// What a successful git invocation printed.
pub(crate) struct Ran {
    /// Its exit code (one of the accepted ones).
    pub code: i32,
    /// Its standard output.
    pub stdout: Vec<u8>,
}

impl Git {
    /// `git ARGS` in `root`, every pathspec a literal path.
    pub(crate) fn new<I, S>(root: &Path, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut git = Git::with_magic(root, args);
        git.args.insert(0, "--literal-pathspecs".into());
        git
    }

    /// `git ARGS` in `root`, pathspec magic (`:(exclude,literal)…`) allowed: only for
    /// pathspecs written here, never for paths from a list.
    pub(crate) fn with_magic<I, S>(root: &Path, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args = args.into_iter().map(Into::into).collect();
        Git { root: root.to_owned(), args, stdin: None, env: Vec::new(), accept: &[0] }
    }

    /// Feeds `bytes` to its standard input.
    pub(crate) fn stdin(mut self, bytes: Vec<u8>) -> Git {
        self.stdin = Some(bytes);
        self
    }

    /// Sets an environment variable (`GIT_INDEX_FILE` for a temporary index).
    pub(crate) fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Git {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Exit codes that are answers, not failures (`merge-base --is-ancestor` says "no" with 1).
    pub(crate) fn accept(mut self, codes: &'static [i32]) -> Git {
        self.accept = codes;
        self
    }

    /// The subcommand, for messages: the first argument that is not an option of git itself.
    fn name(&self) -> String {
        let mut args = self.args.iter().map(|a| a.to_string_lossy());
        while let Some(arg) = args.next() {
            if arg == "-c" || arg == "-C" {
                args.next();
            } else if !arg.starts_with('-') {
                return arg.into_owned();
            }
        }
        String::new()
    }

    fn failed(&self, code: Option<i32>, signal: Option<i32>, stderr: &[u8]) -> GitError {
        let stderr = String::from_utf8_lossy(stderr).trim().to_owned();
        GitError::Failed {
            command: self.name(),
            code,
            ended: crate::error_text::ended_saying(code, signal, &stderr),
            stderr,
        }
    }

    /// The `git` process both ways of running it start: its arguments, directory, environment
    /// and pipes (standard input only when there is something to write).
    fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new("git");
        command
            .args(&self.args)
            .current_dir(&self.root)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// Runs it without blocking the async worker.
    pub(crate) async fn run(self) -> Result<Ran, GitError> {
        use tokio::io::AsyncWriteExt as _;
        let mut child = tokio::process::Command::from(self.command())
            .spawn()
            .map_err(|source| GitError::Spawn { source })?;
        // Written while git's output is read, so that a command answering line by line
        // (`check-ignore --stdin`) never waits on a full pipe while this waits on it.
        let pipe = child.stdin.take();
        let writing = async {
            if let (Some(bytes), Some(mut pipe)) = (&self.stdin, pipe) {
                let _ = pipe.write_all(bytes).await;
            }
        };
        let ((), output) = tokio::join!(writing, child.wait_with_output());
        let output = output.map_err(|source| GitError::Spawn { source })?;
        self.finish(output)
    }

    /// Runs it on the calling thread: for the few calls made before a run's runtime exists
    /// (finding the work tree, taking its lock).
    pub(crate) fn run_blocking(self) -> Result<Ran, GitError> {
        use std::io::Write as _;
        let mut child = self.command().spawn().map_err(|source| GitError::Spawn { source })?;
        let pipe = child.stdin.take();
        let output = std::thread::scope(|scope| {
            if let (Some(bytes), Some(mut pipe)) = (&self.stdin, pipe) {
                scope.spawn(move || {
                    let _ = pipe.write_all(bytes);
                });
            }
            child.wait_with_output()
        });
        let output = output.map_err(|source| GitError::Spawn { source })?;
        self.finish(output)
    }

    fn finish(&self, output: std::process::Output) -> Result<Ran, GitError> {
        use std::os::unix::process::ExitStatusExt as _;
        match output.status.code() {
            Some(code) if self.accept.contains(&code) => Ok(Ran { code, stdout: output.stdout }),
            code => Err(self.failed(code, output.status.signal(), &output.stderr)),
        }
    }
}

/// NUL-separated paths, as git reads them with `-z` / `--pathspec-file-nul`.
pub(crate) fn nul_list<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for path in paths {
        bytes.extend_from_slice(path.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// The NUL-separated fields git printed with `-z`, as strings.
pub(crate) fn nul_fields(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes.split(|b| *b == 0).filter(|f| !f.is_empty()).map(|f| String::from_utf8_lossy(f).into_owned())
}

/// A single line git printed (a commit id, a path), without its newline.
pub(crate) fn line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end_matches(['\n', '\r']).to_owned()
}

/// A commit id shortened for people.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// A list of paths for people: the first few in backticks, then how many more.
pub fn list(paths: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = paths.iter().take(SHOWN).map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

#[cfg(test)]
pub(crate) mod testing {
    //! Real git repositories in temporary directories, for the tests of this module and `run/`.

    use std::path::Path;

    /// Runs `script` with `sh` in `dir` and returns its stdout; panics with its stderr when it
    /// fails.
    pub fn sh(dir: &Path, script: &str) -> String {
        let out = std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new repository in a temporary directory, with a committer, and no commit.
    pub fn empty_repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        sh(dir.path(), "git init -q -b main . && git config user.email t@t && git config user.name t");
        dir
    }

    /// A repository whose first commit holds `files` (name, content).
    pub fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = empty_repo();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        sh(dir.path(), "git add -A && git commit -qm init");
        dir
    }
}
