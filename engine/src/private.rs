//! The engine's files are the user's alone: `.ralph/` and everything in it (runs, step logs,
//! result files, hints, the store's files) is owner-only, directories 0700 and files 0600.
//!
//! The modes are set on the files themselves, never through the process's umask, which the
//! agents inherit: an agent must go on creating the user's files with the user's modes. It knows
//! nothing of runs; it depends only on `std`.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

/// The mode of an engine directory: the owner's only.
pub const DIR_MODE: u32 = 0o700;
/// The mode of an engine file: the owner's only.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents owner-only (existing ones keep their modes).
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Writes `bytes` to a new or existing `path`, leaving it owner-only.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    restrict(&file.metadata()?, path)?;
    file.write_all(bytes.as_ref())
}

/// Makes `root` (an engine directory such as `.ralph`) and everything below it owner-only:
/// for a directory made before the engine did this, and for files others create inside it (the
/// store's). Symbolic links are not followed; a file that vanishes meanwhile is skipped.
/// Returns how many modes it changed.
pub fn secure_tree(root: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let metadata = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if metadata.file_type().is_symlink() {
            continue;
        }
        if restrict(&metadata, &path)? {
            changed += 1;
        }
        if metadata.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => stack.extend(entries.filter_map(Result::ok).map(|e| e.path())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(changed)
}

/// Takes the group's and others' bits off `path`; whether it had any.
fn restrict(metadata: &std::fs::Metadata, path: &Path) -> std::io::Result<bool> {
    let mode = metadata.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077 & 0o7777)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_tree_made_before_becomes_owner_only_and_links_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".ralph");
        std::fs::create_dir_all(root.join("runs/r1/steps")).unwrap();
        std::fs::write(root.join("runs/r1/steps/0001-a.log"), "x").unwrap();
        std::fs::set_permissions(
            root.join("runs/r1/steps/0001-a.log"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "user's").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        assert!(secure_tree(&root).unwrap() >= 4);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("runs/r1/steps")), 0o700);
        assert_eq!(mode(&root.join("runs/r1/steps/0001-a.log")), 0o700, "the owner's bits are kept");
        assert_eq!(mode(&outside), 0o644, "a link's target is not the engine's");
        assert_eq!(secure_tree(&root).unwrap(), 0);
        assert_eq!(secure_tree(&dir.path().join("missing")).unwrap(), 0);
    }

    #[test]
    fn new_directories_and_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        create_dir_all(&dir.path().join("a/b")).unwrap();
        write(&dir.path().join("a/b/f"), "x").unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b/f")), 0o600);
    }
}
