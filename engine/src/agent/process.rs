//! Running one agent process: its own process group, streamed output, bounded memory, a
//! timeout that kills the whole group.
//!
//! Output goes to a log file as it arrives and only a bounded head and tail are kept in memory,
//! so an agent printing gigabytes cannot grow the engine. Lines of stdout can be watched as they
//! arrive (the CLI backends parse their event streams this way). Bytes are bytes: invalid UTF-8
//! is kept as-is in the log and replaced only when shown.
//!
//! **Architecture invariant:** this module knows nothing about workflows, prompts or packets.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

/// How much of the start and of the end of each stream is kept in memory.
pub const DEFAULT_CAPTURE: usize = 64 * 1024;
/// The longest stdout line handed to a line watcher; longer lines are cut (the log keeps them).
pub const MAX_LINE: usize = 1024 * 1024;
/// How long a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long output is still read after the main process exits, for children that linger.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Bytes written to stdin, which is then closed (the prompt, for CLI agents).
    pub stdin: Option<Vec<u8>>,
    /// Kill the process group after this long.
    pub timeout: Option<Duration>,
    /// The longest the process may stay silent (no output on either stream) before it counts
    /// as hung and is killed like at its timeout.
    pub idle_timeout: Option<Duration>,
    /// Append stdout and stderr here as they arrive.
    pub log: Option<PathBuf>,
    /// How large the log may grow before it is rotated.
    pub log_limit: super::step_log::LogLimit,
    /// Bytes of the head and of the tail of each stream kept in memory.
    pub capture: usize,
    /// Send stderr into the same pipe as stdout, in order (as a terminal would show them).
    /// Command agents use this; backends that parse stdout keep the streams apart.
    pub merge_output: bool,
    /// Where to report the process group right after the spawn, and the step to name in the
    /// report: a loop that dies with the process still running lets the next one find it.
    pub report_group: Option<(super::orphans::SpawnedSender, String)>,
}

impl ProcessSpec {
    /// `sh -c COMMAND` in `cwd`.
    pub fn shell(command: &str, cwd: impl Into<PathBuf>) -> Self {
        ProcessSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), command.into()],
            cwd: cwd.into(),
            env: Vec::new(),
            stdin: None,
            timeout: None,
            idle_timeout: None,
            log: None,
            log_limit: super::step_log::LogLimit::default(),
            capture: DEFAULT_CAPTURE,
            merge_output: false,
            report_group: None,
        }
    }
}

/// The head and tail of a stream, and its total size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes.
    pub head: Vec<u8>,
    /// The last bytes (after `head`, never overlapping it).
    pub tail: Vec<u8>,
    /// Bytes seen in total.
    pub total: u64,
}

impl Captured {
    fn push(&mut self, chunk: &[u8], limit: usize) {
        self.total += chunk.len() as u64;
        let room = limit.saturating_sub(self.head.len());
        let (to_head, rest) = chunk.split_at(room.min(chunk.len()));
        self.head.extend_from_slice(to_head);
        self.tail.extend_from_slice(rest);
        if self.tail.len() > limit {
            let cut = self.tail.len() - limit;
            self.tail.drain(..cut);
        }
    }

    /// Whether bytes between head and tail were dropped.
    pub fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    /// The kept text, invalid UTF-8 replaced, with a marker where bytes were dropped.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.truncated() {
            let dropped = self.total - (self.head.len() + self.tail.len()) as u64;
            text.push_str(&format!("\n[… {dropped} bytes not kept in memory; see the step's log …]\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutput {
    /// It was killed for staying silent longer than its `idle_timeout` (then `timed_out` is
    /// set too).
    pub hung: bool,
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when it was killed.
    pub signal: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Its stdout.
    pub stdout: Captured,
    /// Its stderr.
    pub stderr: Captured,
    /// Wall time.
    pub duration: Duration,
}

impl ProcessOutput {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

/// Why a process could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The log file could not be written.
    #[error("cannot write the log `{path}`: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading the process's output failed.
    #[error("cannot read the output of `{program}`: {source}")]
    Io {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Watches stdout line by line as it arrives.
pub trait LineWatcher: Send {
    /// Called for each complete line (without its newline), cut at [`MAX_LINE`] bytes.
    fn line(&mut self, line: &[u8]);
}

impl<F: FnMut(&[u8]) + Send> LineWatcher for F {
    fn line(&mut self, line: &[u8]) {
        self(line);
    }
}

/// Splits a byte stream into lines for a watcher, bounding the pending line.
struct Lines<'w> {
    watcher: Option<&'w mut dyn LineWatcher>,
    pending: Vec<u8>,
    overflow: bool,
}

impl Lines<'_> {
    fn feed(&mut self, mut chunk: &[u8]) {
        let Some(watcher) = self.watcher.as_deref_mut() else { return };
        while let Some(at) = chunk.iter().position(|b| *b == b'\n') {
            let (line, rest) = chunk.split_at(at);
            if !self.overflow {
                let room = MAX_LINE - self.pending.len();
                self.pending.extend_from_slice(&line[..line.len().min(room)]);
            }
            let line = self.pending.strip_suffix(b"\r").unwrap_or(&self.pending);
            watcher.line(line);
            self.pending.clear();
            self.overflow = false;
            chunk = &rest[1..];
        }
        let room = MAX_LINE.saturating_sub(self.pending.len());
        if chunk.len() > room {
            self.overflow = true;
        }
        self.pending.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn finish(&mut self) {
        if let Some(watcher) = self.watcher.as_deref_mut() {
            if !self.pending.is_empty() {
                watcher.line(&self.pending);
                self.pending.clear();
            }
        }
    }
}

/// `/dev/null`, opened once: the stdin of every agent that is given none.
fn dev_null() -> std::io::Result<&'static std::fs::File> {
    static NULL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    if let Some(file) = NULL.get() {
        return Ok(file);
    }
    let file = std::fs::File::open("/dev/null")?;
    Ok(NULL.get_or_init(|| file))
}

fn kill_group(pid: u32, signal: Signal) {
    // The group may already be gone; that is the goal, not an error. Group 0 would be the
    // engine's own.
    if let Ok(pid @ 1..) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

/// The first `program` on `PATH` that is an executable file (or `program` itself when it is a
/// path).
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
    })
}

/// Whether `path` is a file someone may execute.
pub fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a process to its end, its timeout, or its failure to start.
pub async fn run(
    spec: &ProcessSpec,
    watcher: Option<&mut dyn LineWatcher>,
) -> Result<ProcessOutput, ProcessError> {
    let program = spec.argv.first().cloned().unwrap_or_default();
    let spawn_error = |source| ProcessError::Spawn { program: program.clone(), source };
    let mut log = super::step_log::StepLog::new(spec.log.as_deref(), spec.log_limit);
    // The child's ends of its pipes (close-on-exec here; the spawn gives them to it as 0, 1, 2).
    let (stdin_read, stdin_write) = match &spec.stdin {
        Some(_) => {
            let (read, write) = std::io::pipe().map_err(spawn_error)?;
            (Some(OwnedFd::from(read)), Some(write))
        }
        None => (None, None),
    };
    let (out_read, out_write) = std::io::pipe().map_err(spawn_error)?;
    let out_write = OwnedFd::from(out_write);
    // One pipe for both streams when merged: half the descriptors to create, watch and close.
    let err_pipe = match spec.merge_output {
        true => None,
        false => {
            let (read, write) = std::io::pipe().map_err(spawn_error)?;
            Some((read, OwnedFd::from(write)))
        }
    };
    let null = dev_null().map_err(spawn_error)?;
    let stdio = [
        stdin_read.as_ref().map_or(null.as_fd(), AsFd::as_fd),
        out_write.as_fd(),
        err_pipe.as_ref().map_or(out_write.as_fd(), |(_, write)| write.as_fd()),
    ];
    let started = Instant::now();
    let mut child = super::spawn::spawn(&spec.argv, &spec.env, &spec.cwd, stdio).map_err(spawn_error)?;
    // The engine's copies of the child's ends: without closing them the pipes would never
    // reach end-of-file.
    drop((stdin_read, out_write));
    let async_pipe = |read: std::io::PipeReader| pipe::Receiver::from_owned_fd(OwnedFd::from(read));
    let (stdout, stderr) = match err_pipe {
        Some((read, write)) => {
            drop(write);
            (async_pipe(out_read), Some(async_pipe(read)))
        }
        None => (async_pipe(out_read), None),
    };
    let pid = child.id();
    // If the step is abandoned (the run was interrupted), its whole group goes with it.
    let group = GroupGuard(pid);
    if let (Some((sender, step)), Ok(pgid @ 1..)) = (&spec.report_group, i32::try_from(pid)) {
        // Nobody listening is no reason to stop the step.
        let _ = sender.send(super::orphans::Spawned { step: step.clone(), pgid });
    }
    let stdin_task = match (stdin_write, spec.stdin.clone()) {
        (Some(write), Some(bytes)) => match pipe::Sender::from_owned_fd(OwnedFd::from(write)) {
            Ok(mut stdin) => Some(tokio::spawn(async move {
                // An agent that exits without reading its prompt closes the pipe; that is its
                // business.
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            })),
            Err(_) => None,
        },
        _ => None,
    };
    let io_error = |source| ProcessError::Io { program: program.clone(), source };
    let (mut stdout, mut stderr): (
        Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    ) = (
        Box::new(stdout.map_err(io_error)?),
        match stderr {
            Some(receiver) => Box::new(receiver.map_err(io_error)?),
            None => Box::new(tokio::io::empty()),
        },
    );
    let mut out = Captured::default();
    let mut err = Captured::default();
    let mut lines = Lines { watcher, pending: Vec::new(), overflow: false };
    // Read into spare capacity: a step that says nothing costs no zeroed buffer.
    // (Small: with `--jobs` in the thousands, thousands of these are held at once.)
    let mut out_buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut err_buf: Vec<u8> = Vec::with_capacity(4 * 1024);
    let (mut out_open, mut err_open) = (true, true);
    let deadline = spec.timeout.map(|t| tokio::time::Instant::from_std(started + t));
    let mut timed_out = false;
    let mut hung = false;
    let mut last_output = tokio::time::Instant::now();
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut drain_until: Option<tokio::time::Instant> = None;
    while out_open || err_open || exit.is_none() {
        // Before the exit: the timeout or the silence limit. After it: the end of the drain window.
        let silent_at = spec.idle_timeout.map(|idle| last_output + idle);
        let stop_at = if exit.is_some() {
            drain_until
        } else {
            match (deadline, silent_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        let sleep = async {
            match stop_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = stdout.read_buf(&mut out_buf), if out_open => {
                let n = read.map_err(io_error)?;
                if n == 0 { out_open = false; continue; }
                last_output = tokio::time::Instant::now();
                let chunk = &out_buf[..n];
                if let Err(e) = log.write(super::step_log::Stream::Out, chunk).await {
                    return Err(stop_for_log(e, pid, &mut child).await);
                }
                out.push(chunk, spec.capture);
                lines.feed(chunk);
                out_buf.clear();
            }
            read = stderr.read_buf(&mut err_buf), if err_open => {
                let n = read.map_err(io_error)?;
                if n == 0 { err_open = false; continue; }
                last_output = tokio::time::Instant::now();
                let chunk = &err_buf[..n];
                if let Err(e) = log.write(super::step_log::Stream::Err, chunk).await {
                    return Err(stop_for_log(e, pid, &mut child).await);
                }
                err.push(chunk, spec.capture);
                err_buf.clear();
            }
            status = child.wait(), if exit.is_none() => {
                exit = Some(status.map_err(io_error)?);
                // Children that outlive the main process may hold the pipes open forever: read
                // what they say for a moment, then stop them.
                drain_until = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = sleep => {
                if exit.is_some() {
                    kill_group(pid, Signal::SIGKILL);
                    break;
                }
                timed_out = true;
                hung = deadline.is_none_or(|d| tokio::time::Instant::now() < d);
                kill_group(pid, Signal::SIGTERM);
                let grace = tokio::time::sleep(KILL_GRACE);
                tokio::pin!(grace);
                tokio::select! {
                    status = child.wait() => { exit = Some(status.map_err(io_error)?); }
                    () = &mut grace => {}
                }
                kill_group(pid, Signal::SIGKILL);
                if exit.is_none() {
                    exit = Some(child.wait().await.map_err(io_error)?);
                }
                drain_until = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
        }
    }
    // Whatever the step left running in its group goes with it.
    drop(group);
    lines.finish();
    if let Some(task) = stdin_task {
        task.abort();
    }
    // The process is over and its group killed: a log that could not be finished is the
    // step's failure (a full disk), reported like one that failed mid-way.
    log.finish().await?;
    let status = exit.expect("the loop ends only after the process was reaped");
    use std::os::unix::process::ExitStatusExt;
    Ok(ProcessOutput {
        hung,
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: out,
        stderr: err,
        duration: started.elapsed(),
    })
}

/// Stops a process whose log cannot be written (a full disk, most often): its whole group is
/// killed and the process reaped before the error goes up, so that nothing of the step keeps
/// running unseen while the step is reported as failed.
async fn stop_for_log(error: ProcessError, pid: u32, child: &mut super::spawn::Child) -> ProcessError {
    kill_group(pid, Signal::SIGKILL);
    // SIGKILL cannot be ignored; the bound is for a process stuck in the kernel.
    let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    error
}

/// Kills a process group when dropped: a step future that is cancelled mid-way (Ctrl-C, a
/// cancelled DAG) must not leave the agent and its children running.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn sh(command: &str) -> ProcessSpec {
        ProcessSpec::shell(command, std::env::temp_dir())
    }

    #[test]
    fn captures_exit_code_and_output() {
        let out = runtime().block_on(run(&sh("echo hello; echo oops >&2; exit 3"), None)).unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout.text(), "hello\n");
        assert_eq!(out.stderr.text(), "oops\n");
        assert!(!out.success());
    }

    #[test]
    fn a_timeout_kills_the_whole_group_even_children_that_ignore_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let command = format!(
            "sh -c 'trap \"\" TERM; echo $$ > {}; while true; do sleep 1; done' & wait",
            pidfile.display()
        );
        let mut spec = sh(&command);
        spec.timeout = Some(Duration::from_millis(300));
        let out = runtime().block_on(run(&spec, None)).unwrap();
        assert!(out.timed_out);
        let child: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        // The child ignored SIGTERM; SIGKILL after the grace period must have taken it.
        std::thread::sleep(Duration::from_millis(100));
        // Gone, or a zombie waiting for its reaper (it is not running either way).
        let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let running = state.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'));
        assert!(!running, "child {child} survived: {state}");
    }

    #[test]
    fn a_flood_of_output_is_logged_in_full_and_kept_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = sh("head -c 20000000 /dev/zero | tr '\\0' 'x'");
        spec.log = Some(dir.path().join("step.log"));
        spec.capture = 1024;
        let out = runtime().block_on(run(&spec, None)).unwrap();
        assert_eq!(out.stdout.total, 20_000_000);
        assert_eq!(out.stdout.head.len() + out.stdout.tail.len(), 2048);
        assert!(out.stdout.truncated());
        assert_eq!(std::fs::metadata(dir.path().join("step.log")).unwrap().len(), 20_000_000);
    }

    #[test]
    fn invalid_utf8_and_lines_reach_the_watcher() {
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut watcher = |line: &[u8]| seen.push(line.to_vec());
        let out =
            runtime().block_on(run(&sh("printf 'one\\n\\377two\\r\\nlast'"), Some(&mut watcher))).unwrap();
        assert!(out.success());
        assert_eq!(seen, vec![b"one".to_vec(), b"\xfftwo".to_vec(), b"last".to_vec()]);
        assert_eq!(out.stdout.text(), "one\n\u{fffd}two\r\nlast");
    }

    #[test]
    fn merged_output_keeps_the_order_of_both_streams() {
        let mut spec = sh("echo one; echo two >&2; echo three");
        spec.merge_output = true;
        let out = runtime().block_on(run(&spec, None)).unwrap();
        assert_eq!(out.stdout.text(), "one\ntwo\nthree\n");
        assert_eq!(out.stderr.total, 0);
    }

    #[test]
    fn stdin_is_delivered_and_closed() {
        let mut spec = sh("cat");
        spec.stdin = Some(b"the prompt".to_vec());
        let out = runtime().block_on(run(&spec, None)).unwrap();
        assert_eq!(out.stdout.text(), "the prompt");
    }

    #[test]
    fn lingering_background_children_do_not_hold_the_step_open() {
        let started = Instant::now();
        let out = runtime().block_on(run(&sh("sleep 30 & echo done"), None)).unwrap();
        assert!(out.success());
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let spec = ProcessSpec { argv: vec!["/nonexistent/agent".into()], ..sh("") };
        assert!(matches!(runtime().block_on(run(&spec, None)), Err(ProcessError::Spawn { .. })));
    }
}
