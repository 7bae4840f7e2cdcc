//! Reading a step's result file (`<stem>.result.json`) without trusting it: the agent that
//! wrote it is code we did not write.
//!
//! Only a regular file is read, and at most [`MAX_RESULT_BYTES`] of it. The file is opened
//! with `O_NONBLOCK | O_NOFOLLOW`, so a FIFO left in its place cannot block the loop's thread
//! (the run core runs on a current-thread runtime: one blocked `open` would stop every step,
//! the timeouts and Ctrl-C with it), and a symbolic link is refused rather than followed to
//! `/dev/zero`. The opened descriptor is then checked with `fstat`: what is judged is what is
//! read. A file larger than the cap fails the step at once and is never read; a large one that
//! is allowed is read on the blocking pool under [`READ_TIMEOUT`], so a slow file system cannot
//! hold the loop either.
//!
//! **Architecture invariant:** this module knows nothing about workflows or outcomes; it
//! returns bytes or a typed error.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bounded_file::{self, Refused};

/// The largest result file read. A result is an outcome name, a one-paragraph summary and
/// small details: megabytes are a bug or an attack, and the step fails with a clear message.
pub const MAX_RESULT_BYTES: u64 = 4 * 1024 * 1024;

/// How long reading an allowed result file may take before the step fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Files up to this size are read on the loop's thread: a trip through the blocking pool
/// costs more than reading them, and a DAG of thousands of small steps would pay it per step.
const INLINE_READ: u64 = 64 * 1024;

/// Why a result file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ResultFileError {
    /// It is not a regular file (a FIFO, a directory, a socket, a device, a symbolic link).
    #[error(
        "the result file `{path}` is {kind}, not a regular file; the agent must write its result as a plain file"
    )]
    NotRegular {
        /// The result file.
        path: PathBuf,
        /// What it is, with its article (`a FIFO`).
        kind: &'static str,
    },
    /// It is larger than the cap.
    #[error(
        "the result file `{path}` is {} ({size} bytes), over the {} limit; keep it to an outcome, a summary and small details",
        human_size(*size),
        human_size(*cap)
    )]
    TooLarge {
        /// The result file.
        path: PathBuf,
        /// Its size (at least `cap + 1` when it grew while being read).
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// Reading it took longer than [`READ_TIMEOUT`].
    #[error("the result file `{path}` could not be read within {timeout:?}")]
    TimedOut {
        /// The result file.
        path: PathBuf,
        /// The time it was given.
        timeout: Duration,
    },
    /// It could not be opened or read.
    #[error("cannot read the result file `{path}`: {source}")]
    Read {
        /// The result file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// `1.0 GiB`, `4.0 MiB`, `512 bytes`: sizes as people read them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Opens `path` for reading if it is a regular file of at most `cap` bytes (`None`: there is
/// no file). Never blocks on a FIFO and never follows a symbolic link.
fn open(path: &Path, cap: u64) -> Result<Option<(File, u64)>, ResultFileError> {
    match bounded_file::open(path, cap, false) {
        Ok(opened) => Ok(Some(opened)),
        Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(refused) => Err(refusal(path, refused, cap)),
    }
}

/// Reads at most `cap + 1` bytes: a file that grew past the cap after it was checked is
/// refused too, and never read whole.
fn read_capped(path: &Path, file: File, cap: u64) -> Result<Vec<u8>, ResultFileError> {
    bounded_file::read(file, cap).map_err(|refused| refusal(path, refused, cap))
}

fn refusal(path: &Path, refused: Refused, cap: u64) -> ResultFileError {
    let path = path.to_owned();
    match refused {
        Refused::NotRegular(kind) => ResultFileError::NotRegular { path, kind },
        Refused::TooLarge(size) => ResultFileError::TooLarge { path, size, cap },
        Refused::Io(source) => ResultFileError::Read { path, source },
    }
}

/// The result file's bytes (`None`: there is none), on the calling thread. For readers that
/// are not the loop (`debug`, `status`): the open cannot block, the read is bounded.
pub fn read_sync(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, ResultFileError> {
    match open(path, cap)? {
        Some((file, _)) => read_capped(path, file, cap).map(Some),
        None => Ok(None),
    }
}

/// The result file's bytes (`None`: there is none), for the loop: a file larger than
/// [`INLINE_READ`] is read on the blocking pool, and given `timeout`.
pub async fn read(path: &Path, cap: u64, timeout: Duration) -> Result<Option<Vec<u8>>, ResultFileError> {
    let Some((file, size)) = open(path, cap)? else { return Ok(None) };
    if size <= INLINE_READ {
        return read_capped(path, file, cap).map(Some);
    }
    let owned = path.to_owned();
    let task = tokio::task::spawn_blocking(move || read_capped(&owned, file, cap));
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(read)) => read.map(Some),
        Ok(Err(join)) => Err(ResultFileError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(join.to_string()),
        }),
        // The blocked thread is left behind; the loop goes on without it.
        Err(_) => Err(ResultFileError::TimedOut { path: path.to_owned(), timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let error = read_sync(&path, MAX_RESULT_BYTES).unwrap_err();
        assert!(matches!(error, ResultFileError::NotRegular { kind: "a FIFO", .. }), "{error}");
        assert!(error.to_string().contains("is a FIFO, not a regular file"), "{error}");
    }

    #[test]
    fn directories_links_and_devices_are_refused_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        assert!(read_sync(&path, 10).unwrap().is_none());
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(read_sync(&path, 10), Err(ResultFileError::NotRegular { kind: "a directory", .. })));
        std::fs::remove_dir(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        assert!(matches!(
            read_sync(&path, 10),
            Err(ResultFileError::NotRegular { kind: "a symbolic link", .. })
        ));
        assert!(matches!(
            read_sync(Path::new("/dev/zero"), 10),
            Err(ResultFileError::NotRegular { kind: "a device", .. })
        ));
    }

    #[test]
    fn a_file_over_the_cap_is_refused_by_its_size_and_one_under_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let file = File::create(&path).unwrap();
        file.set_len(1 << 30).unwrap();
        let error = read_sync(&path, MAX_RESULT_BYTES).unwrap_err();
        assert!(matches!(error, ResultFileError::TooLarge { size: 1_073_741_824, .. }), "{error}");
        assert!(
            error.to_string().contains("is 1.0 GiB (1073741824 bytes), over the 4.0 MiB limit"),
            "{error}"
        );
        std::fs::write(&path, b"{}").unwrap();
        assert_eq!(read_sync(&path, 2).unwrap().unwrap(), b"{}");
        assert!(matches!(read_sync(&path, 1), Err(ResultFileError::TooLarge { size: 2, cap: 1, .. })));
    }

    #[tokio::test]
    async fn a_large_allowed_file_is_read_through_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, vec![b' '; 200_000]).unwrap();
        let bytes = read(&path, MAX_RESULT_BYTES, READ_TIMEOUT).await.unwrap().unwrap();
        assert_eq!(bytes.len(), 200_000);
    }
}
