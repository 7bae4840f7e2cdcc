//! Replacing a file atomically: a reader sees the old content or the new, never a mix, and a
//! crash never leaves a truncated file (a task file, the ledger, a plugin's manifest or its
//! compiled form).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to a temporary file next to `path`, syncs it, and renames it over `path`.
///
/// A symbolic link is followed, so the link stays a link and its target gets the new content;
/// the file's permissions are kept.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let temp = temp_path(&target);
    let result = write_synced(&target, &temp, bytes.as_ref()).and_then(|()| fs::rename(&temp, &target));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    // The rename is durable only once the directory entry is; not every platform lets a
    // directory be opened and synced, and the data itself is already safe, so this may fail.
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Creates `temp` with `bytes`, the permissions of `target`, and syncs it.
fn write_synced(target: &Path, temp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    if let Ok(metadata) = fs::metadata(target) {
        file.set_permissions(metadata.permissions())?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// A name for the temporary file, hidden, in the same directory (a rename does not cross file
/// systems), and unique per process and call.
fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}.{unique}.ralph-tmp", std::process::id()))
}
