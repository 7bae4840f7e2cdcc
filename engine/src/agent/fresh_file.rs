//! Writing the engine's own files of a step (its packet, its prompt, the completed packet) in
//! a directory an agent can write to.
//!
//! What an earlier agent left at such a path is removed first and the file is created anew
//! (`O_CREAT | O_EXCL`): opening a FIFO left there for writing would block the loop's thread
//! until someone read it, and following a symbolic link left there would write where the agent
//! chose. A directory in the way is an error, not a hang.
//!
//! **Architecture invariant:** plain file operations; nothing about workflows or steps.

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to a new file at `path`, whatever was there before removed.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    // A missing file is the common case; anything that cannot be removed (a directory) makes
    // the exclusive create below fail with a clear error.
    let _ = std::fs::remove_file(path);
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::private::FILE_MODE)
        .open(path)?;
    file.write_all(bytes.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_or_a_link_in_the_way_is_replaced_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0002-build.packet.json");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        write(&path, "{}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "mine").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        write(&path, "{\"a\": 1}").unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "mine", "the link was not followed");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(write(&path, "{}").is_err());
    }
}
