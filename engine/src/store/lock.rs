//! The loop lock: one process owns a state directory at a time. The lock is an advisory
//! `flock` on `<state>/loop.lock`, which also holds the owner's pid so that a refused process
//! can name it. The kernel drops the lock when the owner dies, however it dies, so a killed
//! loop never leaves a stale lock behind (a stale pid in the file is harmless: it is rewritten).

use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Held while a process owns the state directory.
#[derive(Debug)]
pub struct LoopLock {
    _file: Flock<std::fs::File>,
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
        std::fs::create_dir_all(dir).map_err(LockError::Io)?;
        let path = dir.join("loop.lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LockError::Io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held(text.trim().parse().ok()));
            }
            Err((_, errno)) => return Err(LockError::Io(std::io::Error::from(errno))),
        };
        // The pid is for people; the lock itself is the flock.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(LoopLock { _file: file })
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
