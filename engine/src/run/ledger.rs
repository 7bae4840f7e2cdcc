//! The ledger file, `.ralph/ledger.json`: what a project's loops have spent and how their
//! circuit breakers stand, across runs. The ledger itself (and how a run's events move it) is
//! in the core (`core::ledger`); this module reads and writes the file.
//!
//! It is written atomically (temporary file, fsync, rename) when the ledger moves, which for
//! command agents (no tokens, no cost) is only when a breaker moves.

use std::path::{Path, PathBuf};

pub use super::core::ledger::Ledger;

/// The ledger file of a project.
pub fn path(project_dir: &Path) -> PathBuf {
    project_dir.join(".ralph").join("ledger.json")
}

/// Reads the ledger; a missing file is an empty ledger, an unreadable one an error.
pub fn load(path: &Path) -> Result<Ledger, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            format!("the ledger `{}` is not valid: {e} (move it away to start counting anew)", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::default()),
        Err(e) => Err(format!("cannot read the ledger `{}`: {e}", path.display())),
    }
}

/// Writes the ledger atomically.
pub fn save(path: &Path, ledger: &Ledger) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic_file::write(path, serde_json::to_vec_pretty(ledger).map_err(std::io::Error::other)?)
}

/// Today's UTC date.
pub fn today() -> String {
    crate::clock::now()[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        let mut ledger = load(&file).unwrap();
        ledger.spend(1000, 0.5, &crate::clock::now());
        ledger.ai_invocations += 2;
        ledger.counted_to("run-1", 42);
        save(&file, &ledger).unwrap();
        assert_eq!(load(&file).unwrap(), ledger);
        std::fs::write(&file, "{not json").unwrap();
        assert!(load(&file).unwrap_err().contains("not valid"));
    }
}
