//! The loop lock: one process owns a state directory at a time. The lock is an advisory
//! `flock` on `<state>/loop.lock`, which also holds the owner's pid so that a refused process
//! can name it. The kernel drops the lock when the owner dies, however it dies, so a killed
//! loop never leaves a stale lock behind (a stale pid in the file is harmless: it is rewritten).
//! The work tree has a lock of its own (`crate::git::lock`): two state directories, one work tree.

use std::path::Path;

use crate::file_lock::{self, FileLock, Refused};

/// Held while a process owns the state directory.
#[derive(Debug)]
pub struct LoopLock {
    _lock: FileLock,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; its pid, when the file names one.
    Held(Option<u32>),
    /// The lock file cannot be opened.
    Io(std::io::Error),
}

impl LoopLock {
    /// Takes the lock of `dir` without waiting, and writes this process's pid into it.
    pub fn acquire(dir: &Path) -> Result<LoopLock, LockError> {
        crate::private::create_dir_all(dir).map_err(LockError::Io)?;
        match file_lock::try_lock(&dir.join("loop.lock"), &std::process::id().to_string()) {
            Ok(lock) => Ok(LoopLock { _lock: lock }),
            Err(Refused::Held(text)) => Err(LockError::Held(text.trim().parse().ok())),
            Err(Refused::Io(e)) => Err(LockError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = LoopLock::acquire(dir.path()).unwrap();
        match LoopLock::acquire(dir.path()) {
            Err(LockError::Held(Some(pid))) => assert_eq!(pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        drop(first);
        assert!(LoopLock::acquire(dir.path()).is_ok());
    }
}
