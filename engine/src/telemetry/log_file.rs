//! The log file: one line per record, written by a thread of its own and rotated by size.
//!
//! The run never waits for the disk: a line goes into a bounded queue, and when the queue is
//! full (a disk that stalls) the line is dropped and counted rather than the run held. A disk
//! that fails makes the writer stop writing; the run goes on, its journal is what counts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Lines that may wait for the writer.
const QUEUE: usize = 4096;
/// How long the writer rests after writing a batch.
const BATCH_PAUSE: Duration = Duration::from_millis(25);

/// A file that is renamed `<name>.1` (and older ones shifted to `.2` … `.N`, the oldest deleted)
/// before a line would take it past its size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: std::io::BufWriter<File>,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl RotatingFile {
    /// Opens `path` for appending (creating it and its directory).
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_owned(),
            file: std::io::BufWriter::new(file),
            size,
            max_size,
            max_files,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        if self.max_files == 0 {
            // No history kept: start the file over.
            self.file.get_ref().set_len(0)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.max_files));
            for n in (1..self.max_files).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
            self.file =
                std::io::BufWriter::new(OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        self.size = 0;
        Ok(())
    }

    /// Hands what is buffered to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// Writes one whole line (buffered: [`RotatingFile::flush`]); a line is never split
    /// between two files.
    pub fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }
}

/// A line, or the work of making it: formatting is done on the writer's thread, off the
/// run's.
pub type Line = Box<dyn FnOnce() -> Option<String> + Send>;

/// Where the run's log lines go: a queue to the writer thread.
#[derive(Clone)]
pub struct LogWriter {
    tx: Option<SyncSender<Line>>,
    dropped: Arc<AtomicU64>,
    done: Arc<std::sync::Mutex<Option<Running>>>,
    /// Why the writer stopped writing, if it did.
    failed: Arc<std::sync::Mutex<Option<String>>>,
}

/// The writer's thread, and what says it ended: its sender is dropped when the thread returns
/// (or unwinds), so closing waits for exactly that, not in slices of a sleep.
struct Running {
    handle: std::thread::JoinHandle<()>,
    ended: Receiver<()>,
    closing: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter").field("open", &self.tx.is_some()).finish_non_exhaustive()
    }
}

fn write_all(
    rx: &Receiver<Line>,
    mut file: RotatingFile,
    failed: &std::sync::Mutex<Option<String>>,
    closing: &std::sync::atomic::AtomicBool,
    pause: Duration,
) {
    // Lines are written in batches: whatever has queued up, then one flush, so a busy run
    // costs a write per batch rather than per line, and a quiet one is on disk at once.
    let write = |file: &mut RotatingFile, line: Line| match line() {
        Some(text) => file.write_line(&text),
        None => Ok(()),
    };
    while let Ok(line) = rx.recv() {
        let mut result = write(&mut file, line);
        while let (Ok(()), Ok(line)) = (&result, rx.try_recv()) {
            result = write(&mut file, line);
        }
        if let Err(e) = result.and_then(|()| file.flush()) {
            // Said when the writer is closed (`LogWriter::failure`): the library prints nothing.
            let text =
                format!("the log file `{}` cannot be written ({e}); logging stopped", file.path.display());
            if let Ok(mut failed) = failed.lock() {
                *failed = Some(text);
            }
            // Drain without writing, so senders never block on a dead writer.
            while rx.recv().is_ok() {}
            return;
        }
        // A pause between batches: a run journaling thousands of events a second then wakes
        // this thread a few dozen times, not once per line (each wake is a context switch the
        // agents' processes pay for). Lines reach the file within this delay. `close` cuts it
        // short: a run's end does not wait out the pause (it sets `closing`, then unparks).
        if !closing.load(Ordering::Acquire) {
            std::thread::park_timeout(pause);
        }
    }
    let _ = file.flush();
}

impl LogWriter {
    /// Starts the writer of `file`.
    pub fn start(file: RotatingFile) -> Self {
        Self::start_pausing(file, BATCH_PAUSE)
    }

    fn start_pausing(file: RotatingFile, pause: Duration) -> Self {
        let (tx, rx) = sync_channel::<Line>(QUEUE);
        let failed: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let writer_failed = Arc::clone(&failed);
        let (ended_tx, ended) = std::sync::mpsc::channel::<()>();
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer_closing = Arc::clone(&closing);
        let running = std::thread::Builder::new()
            .name("ralph-log".into())
            .spawn(move || {
                let _ended = ended_tx;
                write_all(&rx, file, &writer_failed, &writer_closing, pause);
            })
            .ok()
            .map(|handle| Running { handle, ended, closing });
        LogWriter {
            tx: running.as_ref().map(|_| tx),
            dropped: Arc::default(),
            done: Arc::new(std::sync::Mutex::new(running)),
            failed,
        }
    }

    /// A writer that writes nothing.
    pub fn none() -> Self {
        LogWriter { tx: None, dropped: Arc::default(), done: Arc::default(), failed: Arc::default() }
    }

    /// Why the file stopped being written, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }

    /// Queues a line; drops it when the queue is full.
    pub fn line(&self, line: String) {
        self.later(Box::new(move || Some(line)));
    }

    /// Queues the making of a line (`None`: no line after all).
    pub fn later(&self, line: Line) {
        if let Some(tx) = &self.tx {
            if let Err(TrySendError::Full(_)) = tx.try_send(line) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How many lines were dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops the writer, waiting at most `patience`.
    /// Returns whether the writer ended (false: `patience` ran out first).
    pub fn close(&mut self, patience: Duration) -> bool {
        self.tx = None;
        let running = self.done.lock().ok().and_then(|mut h| h.take());
        if let Some(Running { handle, ended, closing }) = running {
            closing.store(true, Ordering::Release);
            handle.thread().unpark();
            if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = ended.recv_timeout(patience) {
                let _ = handle.join();
                return true;
            }
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_that_cannot_be_written_is_kept_for_the_caller_to_say_not_printed() {
        let file = RotatingFile::open(Path::new("/dev/full"), 1 << 30, 0).unwrap();
        let mut writer = LogWriter::start(file);
        writer.line("x".repeat(20_000));
        writer.close(Duration::from_secs(10));
        let failure = writer.failure().expect("the writer keeps why it stopped");
        assert!(failure.contains("`/dev/full` cannot be written"), "{failure}");
        assert!(LogWriter::none().failure().is_none());
    }

    #[test]
    fn a_file_is_rotated_before_it_passes_its_size_and_only_n_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("r.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            file.write_line(&format!("line {i:02} {}", "x".repeat(30))).unwrap();
        }
        drop(file);
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(&path);
        assert!(current.len() <= 100, "{current}");
        assert!(current.ends_with(&format!("line 09 {}\n", "x".repeat(30))));
        assert!(read(&dir.path().join("logs/r.log.1")).contains("line 0"));
        assert!(dir.path().join("logs/r.log.2").exists());
        assert!(!dir.path().join("logs/r.log.3").exists(), "only two rotated files are kept");
        // Every line is whole, in exactly one file.
        let all: String =
            [read(&dir.path().join("logs/r.log.2")), read(&dir.path().join("logs/r.log.1")), current]
                .concat();
        assert!(all.lines().all(|l| l.len() == 38), "{all}");
        // Reopened, it appends.
        let mut file = RotatingFile::open(&path, 1000, 2).unwrap();
        file.write_line("more").unwrap();
        file.flush().unwrap();
        assert!(read(&path).ends_with("more\n"));
    }

    #[test]
    fn close_cuts_the_pause_between_batches_short() {
        // A pause of an hour, a patience of a minute: the writer ends within the patience only
        // because close wakes it (a run's end must not wait out the pause).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        let mut writer = LogWriter::start_pausing(
            RotatingFile::open(&path, 1 << 20, 0).unwrap(),
            Duration::from_secs(3600),
        );
        writer.line("first".into());
        // The first batch is written, then the writer pauses: the second line waits for it.
        while std::fs::read_to_string(&path).unwrap_or_default().is_empty() {
            std::thread::yield_now();
        }
        writer.line("second".into());
        assert!(writer.close(Duration::from_secs(60)), "the writer did not end");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\nsecond\n");
    }

    #[test]
    fn the_writer_writes_every_line_queued_before_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        let mut writer = LogWriter::start(RotatingFile::open(&path, 1 << 20, 1).unwrap());
        for i in 0..1000 {
            writer.line(format!("{i}"));
        }
        writer.close(Duration::from_secs(10));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count() as u64 + writer.dropped(), 1000);
        assert_eq!(writer.dropped(), 0, "the queue holds 4096");
    }
}
