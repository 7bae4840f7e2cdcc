//! Opening and reading a file that someone else may have put in place — an agent's result
//! file, a plugin a user points `plugin install` at — without trusting it: the open never
//! blocks (`O_NONBLOCK`: a FIFO would otherwise wait for a writer), only a regular file is
//! read, judged on the opened descriptor (what is judged is what is read), and never more than
//! a cap, even when the file grows while it is read.
//!
//! **Architecture invariant:** depends on nothing else in the crate; callers turn a
//! [`Refused`] into their own typed error, with their own words.

use std::fs::{File, FileType};
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Why a file was not opened or read.
#[derive(Debug)]
pub enum Refused {
    /// It is not a regular file: what it is, with its article (`a FIFO`, `a symbolic link`).
    NotRegular(&'static str),
    /// It is larger than the cap: its size (at least `cap + 1` when it grew while read).
    TooLarge(u64),
    /// It could not be opened or read (a missing file is `NotFound`).
    Io(std::io::Error),
}

/// Opens `path` for reading if it is a regular file of at most `cap` bytes, with its size.
/// Never blocks on a FIFO; with `follow_links` false, a symbolic link is refused rather than
/// followed (to `/dev/zero`, say).
///
/// # Errors
///
/// A [`Refused`] saying why.
pub fn open(path: &Path, cap: u64, follow_links: bool) -> Result<(File, u64), Refused> {
    let flags = if follow_links { libc::O_NONBLOCK } else { libc::O_NONBLOCK | libc::O_NOFOLLOW };
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(file) => file,
        // `O_NOFOLLOW` on a symbolic link.
        Err(e) if !follow_links && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Refused::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(Refused::Io(e)),
    };
    let meta = file.metadata().map_err(Refused::Io)?;
    if !meta.is_file() {
        return Err(Refused::NotRegular(kind(meta.file_type())));
    }
    if meta.len() > cap {
        return Err(Refused::TooLarge(meta.len()));
    }
    Ok((file, meta.len()))
}

/// Reads at most `cap + 1` bytes of `file`: a file that grew past the cap after it was checked
/// is refused too, and never read whole.
///
/// # Errors
///
/// [`Refused::TooLarge`] or [`Refused::Io`].
pub fn read(file: File, cap: u64) -> Result<Vec<u8>, Refused> {
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(Refused::Io)?;
    if bytes.len() as u64 > cap {
        return Err(Refused::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What a file that is not a regular one is, with its article.
fn kind(kind: FileType) -> &'static str {
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_directory_a_link_and_a_large_file_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(open(&fifo, 10, true), Err(Refused::NotRegular("a FIFO"))));
        assert!(matches!(open(dir.path(), 10, true), Err(Refused::NotRegular("a directory"))));
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(open(&link, 10, false), Err(Refused::NotRegular("a symbolic link"))));
        let (opened, size) = open(&link, 10, true).unwrap();
        assert_eq!((read(opened, 10).unwrap(), size), (b"12345".to_vec(), 5));
        assert!(matches!(open(&file, 4, true), Err(Refused::TooLarge(5))));
        let (opened, _) = open(&file, 10, true).unwrap();
        assert!(matches!(read(opened, 4), Err(Refused::TooLarge(5))), "grew past the cap after the check");
        assert!(
            matches!(open(&dir.path().join("none"), 10, true), Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound)
        );
    }
}
