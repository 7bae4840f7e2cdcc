//! A step's transcript (`.ralph/runs/<run>/steps/<n>-<step>.log`, owner-only): what the agent
//! printed, as it arrives, with the run's secrets masked, by value and by kind.
//!
//! An agent that echoes an API key must not leave it on disk for `debug` to show. Output comes
//! in chunks, and a secret may straddle two: each stream holds back its last, unfinished line
//! (and a private-key block until its end) until the next chunk or its end, so every secret is
//! seen whole; a line longer than [`HOLD_MAX`] goes out in pieces, each cut before a secret
//! that crosses it. A chunk of the other stream lets the held bytes go first, keeping the order
//! of the output. The file is opened when the first byte arrives: a quiet step costs no file (creating
//! files is the dearest thing a 10,000-node DAG of `true` would otherwise do).
//!
//! A transcript is bounded ([`LogLimit`], `logging.step_logs`): when the file reaches
//! `max_size` it is rotated — renamed `<stem>.log.1` (older ones shifted up to `.log.<max_files>`,
//! the oldest dropped) — and a new file begins with a line saying where the earlier output went.
//! The end of the output, which tells how a step ended, is always on disk: at least the last
//! `max_size` bytes. The file is opened with `O_NONBLOCK`, so a FIFO an agent put in its place
//! fails the step instead of blocking the loop.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt as _;

use super::process::ProcessError;
use crate::redact::Redactor;

/// The most a stream holds back waiting for a line's end.
const HOLD_MAX: usize = 64 * 1024;
/// Past [`HOLD_MAX`], how much of the line's tail is still held: more than any token.
const TAIL: usize = 4096;

/// How large a step's transcript may grow, and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    /// The size at which the log is rotated, in bytes.
    pub max_bytes: u64,
    /// How many rotated files (`.log.1` …) are kept; at least one, so the tail is never cut.
    pub keep: u32,
}

impl LogLimit {
    /// The default size at which a step's log is rotated: 50 MiB.
    pub const DEFAULT_BYTES: u64 = 50 * 1024 * 1024;
    /// The default number of rotated files kept.
    pub const DEFAULT_KEEP: u32 = 1;

    /// A limit from `logging.step_logs` (the defaults for what it leaves out).
    pub fn new(max_bytes: Option<u64>, keep: Option<u32>) -> Self {
        LogLimit {
            // Less than a few kilobytes would rotate on every chunk, with a note each time.
            max_bytes: max_bytes.unwrap_or(Self::DEFAULT_BYTES).max(4096),
            keep: keep.unwrap_or(Self::DEFAULT_KEEP).max(1),
        }
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit::new(None, None)
    }
}

/// `path` with `.<n>` appended: the `n`th rotated file.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output.
    Out = 0,
    /// Standard error.
    Err = 1,
}

/// The transcript being written.
pub struct StepLog {
    path: Option<PathBuf>,
    file: Option<tokio::fs::File>,
    redactor: &'static Redactor,
    /// Bytes held back per stream: they may be the start of a secret.
    pending: [Vec<u8>; 2],
    limit: LogLimit,
    /// Bytes in the current file (a check's output is appended to its agent's).
    written: u64,
    /// Bytes of this writer's output that went to rotated files.
    rotated: u64,
}

impl StepLog {
    /// A transcript at `path` (none: nothing is written), bounded by `limit`.
    pub fn new(path: Option<&Path>, limit: LogLimit) -> Self {
        StepLog {
            path: path.map(Path::to_path_buf),
            file: None,
            redactor: crate::redact::installed(),
            pending: [Vec::new(), Vec::new()],
            limit,
            written: 0,
            rotated: 0,
        }
    }

    async fn open(path: &Path) -> std::io::Result<(tokio::fs::File, u64)> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true).mode(crate::private::FILE_MODE).custom_flags(libc::O_NONBLOCK);
        let file = tokio::fs::OpenOptions::from(options).open(path).await?;
        let len = file.metadata().await?.len();
        Ok((file, len))
    }

    async fn append(&mut self, mut bytes: &[u8]) -> Result<(), ProcessError> {
        let Some(path) = self.path.clone() else { return Ok(()) };
        let error = |source| ProcessError::Log { path: path.clone(), source };
        while !bytes.is_empty() {
            if self.file.is_none() {
                let (file, len) = Self::open(&path).await.map_err(error)?;
                self.file = Some(file);
                self.written = len;
            }
            if self.written >= self.limit.max_bytes {
                self.rotate(&path).await.map_err(error)?;
                continue;
            }
            let room = usize::try_from(self.limit.max_bytes - self.written).unwrap_or(usize::MAX);
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            if let Some(file) = self.file.as_mut() {
                file.write_all(now).await.map_err(error)?;
            }
            self.written += now.len() as u64;
            bytes = later;
        }
        Ok(())
    }

    /// Moves the full file to `.1` (shifting older ones, dropping the oldest) and starts a new
    /// one with a line saying where the earlier output is.
    async fn rotate(&mut self, path: &Path) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
        }
        let keep = self.limit.keep;
        let _ = std::fs::remove_file(rotated(path, keep));
        for n in (1..keep).rev() {
            let _ = std::fs::rename(rotated(path, n), rotated(path, n + 1));
        }
        std::fs::rename(path, rotated(path, 1))?;
        self.rotated += self.written;
        let (file, _) = Self::open(path).await?;
        self.file = Some(file);
        self.written = 0;
        let name = rotated(path, 1);
        let name = name.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let note = format!(
            "[ralph-loop: the log is rotated every {} ({} kept); the output before this line is in `{name}`]\n",
            super::result_file::human_size(self.limit.max_bytes),
            match keep {
                1 => "1 older file".to_owned(),
                n => format!("{n} older files"),
            },
        );
        if let Some(file) = self.file.as_mut() {
            file.write_all(note.as_bytes()).await?;
        }
        self.written = note.len() as u64;
        Ok(())
    }

    /// Writes a chunk of `stream`.
    pub async fn write(&mut self, stream: Stream, chunk: &[u8]) -> Result<(), ProcessError> {
        if self.path.is_none() {
            return Ok(());
        }
        // The other stream's held-back bytes go first, to keep the order the agent printed in:
        // with this chunk between them, its halves could not join into a secret on disk anyway.
        let other = std::mem::take(&mut self.pending[1 - stream as usize]);
        self.append_masked(&other).await?;
        let mut buffer = std::mem::take(&mut self.pending[stream as usize]);
        buffer.extend_from_slice(chunk);
        let spans = self.redactor.spans(&buffer);
        let split = ready_len(&buffer, &spans);
        let ready: Vec<_> = spans.iter().copied().filter(|s| s.end <= split).collect();
        let masked = crate::redact::apply(&buffer[..split], &ready);
        self.pending[stream as usize] = buffer[split..].to_vec();
        self.append(&masked).await
    }

    async fn append_masked(&mut self, bytes: &[u8]) -> Result<(), ProcessError> {
        match self.redactor.redact_bytes(bytes) {
            Some(masked) => self.append(&masked).await,
            None => self.append(bytes).await,
        }
    }

    /// Writes what was held back and flushes. A write that failed in the background (the file
    /// buffers) shows here at the latest.
    pub async fn finish(&mut self) -> Result<(), ProcessError> {
        for stream in [Stream::Out, Stream::Err] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            self.append_masked(&rest).await?;
        }
        if let (Some(file), Some(path)) = (self.file.as_mut(), self.path.as_deref()) {
            file.flush().await.map_err(|source| ProcessError::Log { path: path.to_owned(), source })?;
        }
        Ok(())
    }
}

/// How much of `buffer` can be written now: its finished lines, less a secret that crosses
/// their end or a private-key block not finished yet; past [`HOLD_MAX`], all but a tail.
fn ready_len(buffer: &[u8], spans: &[crate::redact::Span]) -> usize {
    let over = buffer.len() > HOLD_MAX;
    let mut split = match over {
        true => buffer.len() - TAIL,
        false => memchr::memrchr(b'\n', buffer).map_or(0, |i| i + 1),
    };
    for s in spans {
        let cut_short = s.kind == Some(ralph_plugin_sdk::secrets::Kind::PrivateKey)
            && s.end == buffer.len()
            && !buffer[s.start..s.end].ends_with(b"-----");
        if s.start < split && (s.end > split || cut_short) {
            // Held whole, unless holding it would never let anything go.
            split = if over && s.start == 0 { s.end } else { s.start };
            break;
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_secret_split_between_chunks_is_masked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.log");
        let mut redactor = Redactor::default();
        redactor.add("sk-split-0123456789");
        let mut log = StepLog::new(Some(&path), LogLimit::default());
        log.redactor = Box::leak(Box::new(redactor));
        for chunk in ["key: sk-spl", "it-01234", "56789 done\n", "err sk-split-0123456789"] {
            log.write(Stream::Out, chunk.as_bytes()).await.unwrap();
        }
        log.write(Stream::Err, b"on stderr sk-split-").await.unwrap();
        log.write(Stream::Err, b"0123456789!").await.unwrap();
        log.finish().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("0123456789"), "{text}");
        assert_eq!(text.matches("[REDACTED]").count(), 3, "{text}");
        assert!(text.contains("key: [REDACTED] done\n"), "{text}");
    }

    #[tokio::test]
    async fn tokens_and_key_blocks_split_across_chunks_are_masked_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.log");
        let mut log = StepLog::new(Some(&path), LogLimit::default());
        log.redactor = Box::leak(Box::new(Redactor::default()));
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
        let (head, tail) = token.split_at(10);
        let key = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
            "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oL"
        );
        let (k1, k2) = key.split_at(40);
        for chunk in ["token ", head, tail, " pushed\n", k1, k2, "done\n"] {
            log.write(Stream::Out, chunk.as_bytes()).await.unwrap();
        }
        log.finish().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "token [REDACTED:github-token] pushed\n[REDACTED:private-key]\ndone\n");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_long_line_goes_out_in_pieces_never_cutting_a_secret() {
        let r = Redactor::default();
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
        // A line past HOLD_MAX whose tail-cut falls inside a token.
        let mut buffer = vec![b'a'; HOLD_MAX];
        buffer.push(b' ');
        buffer.extend_from_slice(token.as_bytes());
        buffer.extend_from_slice(&vec![b' '; TAIL - 20]);
        let split = ready_len(&buffer, &r.spans(&buffer));
        assert_eq!(split, HOLD_MAX + 1, "held from the token on");
        // A secret at the very start of an over-long buffer goes out whole, masked.
        let mut buffer = token.as_bytes().to_vec();
        buffer.extend_from_slice(&vec![b'-'; HOLD_MAX]);
        assert_eq!(ready_len(&buffer, &r.spans(&buffer)), buffer.len() - TAIL);
        assert_eq!(ready_len(b"no newline yet", &[]), 0);
        assert_eq!(ready_len(b"one\ntwo", &[]), 4);
    }

    #[tokio::test]
    async fn a_log_past_its_limit_is_rotated_and_keeps_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.log");
        let limit = LogLimit { max_bytes: 10_000, keep: 2 };
        let mut log = StepLog::new(Some(&path), limit);
        log.redactor = Box::leak(Box::new(Redactor::default()));
        // 100 lines of 1,000 bytes: ten files' worth.
        for n in 0..100 {
            let line = format!("{n:04} {}\n", "x".repeat(994));
            log.write(Stream::Out, line.as_bytes()).await.unwrap();
        }
        log.finish().await.unwrap();
        let sizes: Vec<u64> = [path.clone(), rotated(&path, 1), rotated(&path, 2)]
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect();
        assert!(sizes.iter().all(|s| *s <= 10_000), "{sizes:?}");
        assert!(!rotated(&path, 3).exists());
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(
            last.starts_with("[ralph-loop: the log is rotated every 9.8 KiB (2 older files kept)"),
            "{last}"
        );
        assert!(last.ends_with(&format!("0099 {}\n", "x".repeat(994))), "the tail is kept");
        // A second writer (the check) continues the same bounded file.
        let mut check = StepLog::new(Some(&path), limit);
        check.redactor = Box::leak(Box::new(Redactor::default()));
        check.write(Stream::Out, &vec![b'y'; 25_000]).await.unwrap();
        check.finish().await.unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() <= 10_000);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("yyyy"));
    }

    #[tokio::test]
    async fn a_fifo_in_place_of_the_log_fails_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.log");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let mut log = StepLog::new(Some(&path), LogLimit::default());
        log.redactor = Box::leak(Box::new(Redactor::default()));
        // A whole line is written at once (an unfinished one waits for its end, or `finish`).
        assert!(matches!(log.write(Stream::Out, b"hello\n").await, Err(ProcessError::Log { .. })));
        let mut log = StepLog::new(Some(&path), LogLimit::default());
        log.write(Stream::Out, b"no end").await.unwrap();
        assert!(matches!(log.finish().await, Err(ProcessError::Log { .. })));
    }
}
