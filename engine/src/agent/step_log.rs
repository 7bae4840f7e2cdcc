//! A step's transcript (`.ralph/runs/<run>/steps/<n>-<step>.log`): what the agent printed, as
//! it arrives, with the run's secrets masked.
//!
//! An agent that echoes an API key must not leave it on disk for `debug` to show. Output comes
//! in chunks, and a secret may straddle two: each stream holds back its last few bytes (the
//! longest secret's length, less one) until the next chunk or its end, so every secret is seen
//! whole; a chunk of the other stream lets them go first, keeping the order of the output. The file is opened when the first byte arrives: a quiet step costs no file (creating
//! files is the dearest thing a 10,000-node DAG of `true` would otherwise do).

use std::path::Path;

use tokio::io::AsyncWriteExt as _;

use super::process::ProcessError;
use crate::redact::Redactor;

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output.
    Out = 0,
    /// Standard error.
    Err = 1,
}

/// The transcript being written.
pub struct StepLog<'a> {
    path: Option<&'a Path>,
    file: Option<tokio::fs::File>,
    redactor: Option<&'static Redactor>,
    /// Bytes held back per stream: they may be the start of a secret.
    pending: [Vec<u8>; 2],
}

impl<'a> StepLog<'a> {
    /// A transcript at `path` (none: nothing is written).
    pub fn new(path: Option<&'a Path>) -> Self {
        StepLog { path, file: None, redactor: crate::redact::installed(), pending: [Vec::new(), Vec::new()] }
    }

    async fn append(&mut self, bytes: &[u8]) -> Result<(), ProcessError> {
        let Some(path) = self.path else { return Ok(()) };
        if bytes.is_empty() {
            return Ok(());
        }
        let error = |source| ProcessError::Log { path: path.to_owned(), source };
        if self.file.is_none() {
            let file =
                tokio::fs::OpenOptions::new().create(true).append(true).open(path).await.map_err(error)?;
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
        let Some(redactor) = self.redactor else { return self.append(chunk).await };
        // The other stream's held-back bytes go first, to keep the order the agent printed in:
        // with this chunk between them, its halves could not join into a secret on disk anyway.
        let other = std::mem::take(&mut self.pending[1 - stream as usize]);
        self.append(&other).await?;
        let mut buffer = std::mem::take(&mut self.pending[stream as usize]);
        buffer.extend_from_slice(chunk);
        let buffer = redactor.redact_bytes(&buffer).unwrap_or(buffer);
        let hold = redactor.longest().saturating_sub(1).min(buffer.len());
        let (ready, held) = buffer.split_at(buffer.len() - hold);
        self.pending[stream as usize] = held.to_vec();
        self.append(ready).await
    }

    /// Writes what was held back and flushes. A write that failed in the background (the file
    /// buffers) shows here at the latest.
    pub async fn finish(&mut self) -> Result<(), ProcessError> {
        for stream in [Stream::Out, Stream::Err] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            self.append(&rest).await?;
        }
        if let (Some(file), Some(path)) = (self.file.as_mut(), self.path) {
            file.flush().await.map_err(|source| ProcessError::Log { path: path.to_owned(), source })?;
        }
        Ok(())
    }
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
        log.redactor = Some(Box::leak(Box::new(redactor)));
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
}
