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

use std::path::Path;

use tokio::io::AsyncWriteExt as _;

use super::process::ProcessError;
use crate::redact::Redactor;

/// The most a stream holds back waiting for a line's end.
const HOLD_MAX: usize = 64 * 1024;
/// Past [`HOLD_MAX`], how much of the line's tail is still held: more than any token.
const TAIL: usize = 4096;

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
    path: Option<std::path::PathBuf>,
    file: Option<tokio::fs::File>,
    redactor: &'static Redactor,
    /// Bytes held back per stream: they may be the start of a secret.
    pending: [Vec<u8>; 2],
}

impl StepLog {
    /// A transcript at `path` (none: nothing is written).
    pub fn new(path: Option<&Path>) -> Self {
        StepLog {
            path: path.map(Path::to_path_buf),
            file: None,
            redactor: crate::redact::installed(),
            pending: [Vec::new(), Vec::new()],
        }
    }

    async fn append(&mut self, bytes: &[u8]) -> Result<(), ProcessError> {
        let Some(path) = self.path.as_deref() else { return Ok(()) };
        if bytes.is_empty() {
            return Ok(());
        }
        let error = |source| ProcessError::Log { path: path.to_owned(), source };
        if self.file.is_none() {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(crate::private::FILE_MODE)
                .open(path)
                .await
                .map_err(error)?;
            self.file = Some(file);
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(bytes).await.map_err(error)?;
        }
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
        let mut log = StepLog::new(Some(&path));
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
        let mut log = StepLog::new(Some(&path));
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
}
