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

/// Removes the temporary files a killed process left next to `path` (a process killed between
/// writing one and renaming it): they are the engine's, not the user's, and would otherwise lie
/// in the work tree. Files of processes still running are left alone.
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".ralph-tmp")) else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        let running =
            pid.is_some_and(|pid| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists());
        if !running {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A name for the temporary file, hidden, in the same directory (a rename does not cross file
/// systems), and unique per process and call.
fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}.{unique}.ralph-tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dead_writers_temporary_file_is_removed_and_a_live_ones_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("TODO.md");
        let dead = dir.path().join(".TODO.md.999999999.3.ralph-tmp");
        let live = dir.path().join(format!(".TODO.md.{}.1.ralph-tmp", std::process::id()));
        let other = dir.path().join(".other.md.999999999.3.ralph-tmp");
        for file in [&dead, &live, &other] {
            std::fs::write(file, "x").unwrap();
        }
        super::remove_stale_temps(&path);
        assert!(!dead.exists() && live.exists() && other.exists());
    }
}
