//! An exclusive advisory lock on a file that also says who holds it: the loop lock of a state
//! directory and the lock of a work tree are both this. Depends on nothing else in the crate.
//!
//! The lock is an `flock`, so the kernel drops it when its holder dies, however it dies: a
//! killed loop never leaves a stale lock behind. The file's text (a pid, a state directory) is
//! for people only; a stale text is harmless, since the next holder rewrites it.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// A held lock; dropping it lets go.
#[derive(Debug)]
pub struct FileLock {
    _file: Flock<std::fs::File>,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum Refused {
    /// Another process holds it; what it wrote into the file.
    Held(String),
    /// The lock file cannot be opened or locked.
    Io(std::io::Error),
}

/// Takes the lock on `path` without waiting (creating the file, not its directory) and
/// writes `holder` into it.
pub fn try_lock(path: &Path, holder: &str) -> Result<FileLock, Refused> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(Refused::Io)?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(Refused::Held(text));
        }
        Err((_, errno)) => return Err(Refused::Io(std::io::Error::from(errno))),
    };
    // The text is for people; the lock itself is the flock, so a failed write changes nothing.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(holder.as_bytes());
    let _ = file.flush();
    Ok(FileLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_what_the_first_wrote_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = try_lock(&path, "1234\nfirst").unwrap();
        match try_lock(&path, "second") {
            Err(Refused::Held(text)) => assert_eq!(text, "1234\nfirst"),
            other => panic!("{other:?}"),
        }
        drop(first);
        assert!(try_lock(&path, "second").is_ok());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
    }
}
