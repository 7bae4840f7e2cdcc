//! The run store: sled behind this one module. Everything a run does is kept here — its
//! record (`runs`), the append-only journal of its events (`journal`), and snapshots — so that a
//! crash loses nothing and a run can be resumed, inspected and replayed.
//!
//! **Ownership.** One process owns a state directory at a time (`lock.rs`): a running loop, or
//! a command that reads or changes runs while none does. Others are refused with the owner's
//! pid.
//!
//! **Format.** `meta/format` holds the store's format version; a store written by a newer
//! version is refused, not read. A store that sled cannot open (a truncated or corrupt file) is
//! reported as corrupt with its path, and nothing is written to it.

mod journal;
pub mod lock;
mod snapshot;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use journal::{Durability, Journal, JournalError};
use lock::{LockError, LoopLock};
pub use snapshot::{Retention, Snapshot, StoredDefinition, parse_id as parse_snapshot_id};

/// The format this version writes and reads.
pub const FORMAT: u32 = 1;

/// The default state directory, under the project's `.ralph/`.
pub fn default_dir(project_dir: &Path) -> PathBuf {
    project_dir.join(".ralph").join("state")
}

/// A hash of a workflow definition (its validated document as JSON): FNV-1a, 64 bits, in hex.
/// It tells whether the definition changed, nothing more.
pub fn definition_hash(definition: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in definition {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process owns the state directory.
    #[error("a loop is running on `{dir}`{}; stop it first, or talk to it with `ralph-loop status`, `pause`, `hint`", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The state directory.
        dir: PathBuf,
        /// The owner's pid.
        pid: Option<u32>,
    },
    /// The store was written by a newer ralph-loop.
    #[error(
        "the store `{dir}` has format {found}, and this ralph-loop reads format {FORMAT}; upgrade ralph-loop, or move the directory away to start anew"
    )]
    NewerFormat {
        /// The state directory.
        dir: PathBuf,
        /// The format found.
        found: u32,
    },
    /// The store's files cannot be read as a store.
    #[error(
        "the store `{dir}` is corrupt: {detail}; nothing was changed — move the directory away to start anew (its runs cannot be resumed)"
    )]
    Corrupt {
        /// The state directory.
        dir: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Reading or writing failed.
    #[error("the store `{dir}`: {source}")]
    Io {
        /// The state directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What the store keeps about a run besides its journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow file, as given.
    pub workflow_file: PathBuf,
    /// The project configuration given with `--config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// A hash of the workflow definition the run started with.
    pub definition_hash: String,
    /// `state_machine`, `dag` or `saga`.
    pub kind: String,
    /// The task file, when the run works through one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<PathBuf>,
    /// Whether finished tasks are committed.
    #[serde(default)]
    pub commit: bool,
    /// DAG nodes run at once.
    pub jobs: usize,
    /// `loop --max-iterations`, when given: a resumed run keeps the limit it started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// The commit `HEAD` pointed at when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    /// The W3C `traceparent` of the run's first span: a resumed run continues its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// `running`, `succeeded`, `failed` or `stopped`.
    pub status: String,
    /// Why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An open store, owned by this process (it holds the loop lock).
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    runs: sled::Tree,
    journal: sled::Tree,
    snapshots: sled::Tree,
    definitions: sled::Tree,
    _lock: LoopLock,
}

/// A handle that reads an open store without owning it: what a running loop lends its
/// control server so that other processes' read-only verbs (`runs`, `debug`, …) can be
/// answered from the loop's own store while it holds the lock. It cannot write.
#[derive(Debug, Clone)]
pub struct Reader {
    dir: PathBuf,
    runs: sled::Tree,
    journal: sled::Tree,
    snapshots: sled::Tree,
    definitions: sled::Tree,
}

fn corrupt(dir: &Path, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { dir: dir.to_owned(), detail: detail.to_string() }
}

/// Removes the snapshot files sled was still writing when its process died.
///
/// sled 0.34 writes a snapshot of its page table each time it opens a store: into
/// `snap.<lsn>.generating`, then renamed to `snap.<lsn>`, then the older snapshot removed. But
/// when it reads, it takes the last name in sorted order, and `….generating` sorts after the
/// finished file — so a process killed while writing one (any `status` or `resume` can be)
/// leaves a store sled calls corrupt. An unrenamed file is never needed: the previous snapshot
/// is still there (it is removed only after the rename), and with the log it recovers the same
/// state; the next open writes the snapshot again.
fn drop_unfinished_snapshots(db: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(db) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn sled_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(source) => StoreError::Io { dir: dir.to_owned(), source },
        other => corrupt(dir, other),
    }
}

/// sled's page cache (see [`Store::open`]).
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the store in `dir`, taking ownership of it.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let lock = LoopLock::acquire(dir).map_err(|e| match e {
            LockError::Held(pid) => StoreError::Locked { dir: dir.to_owned(), pid },
            LockError::Io(source) => StoreError::Io { dir: dir.to_owned(), source },
        })?;
        let path = dir.join("db");
        let fresh = !path.exists();
        drop_unfinished_snapshots(&path).map_err(|source| StoreError::Io { dir: dir.to_owned(), source })?;
        // sled panics on some damaged files instead of returning an error; a damaged store must
        // be reported, not crash the engine.
        // The cache holds pages read or written; sled's default (1 GiB) would keep a long
        // run's whole journal in memory, which is written once and read back only on resume.
        let config = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .cache_capacity(CACHE_BYTES);
        let db = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || config.open()))
            .map_err(|_| corrupt(dir, "sled could not read its files"))?
            .map_err(|e| sled_error(dir, e))?;
        let meta = db.open_tree("meta").map_err(|e| sled_error(dir, e))?;
        match meta.get("format").map_err(|e| sled_error(dir, e))? {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| corrupt(dir, "its format version is unreadable"))?;
                if found > FORMAT {
                    return Err(StoreError::NewerFormat { dir: dir.to_owned(), found });
                }
            }
            None if fresh || db.tree_names().len() <= 2 => {
                meta.insert("format", &FORMAT.to_be_bytes()).map_err(|e| sled_error(dir, e))?;
                db.flush().map_err(|e| sled_error(dir, e))?;
            }
            None => return Err(corrupt(dir, "it has no format version")),
        }
        let runs = db.open_tree("runs").map_err(|e| sled_error(dir, e))?;
        let journal = db.open_tree("journal").map_err(|e| sled_error(dir, e))?;
        let snapshots = db.open_tree("snapshots").map_err(|e| sled_error(dir, e))?;
        let definitions = db.open_tree("definitions").map_err(|e| sled_error(dir, e))?;
        // sled creates its files with the process's umask: they hold every run's journal, so
        // they become the owner's alone (best effort: a store on a filesystem without modes
        // still opens).
        let _ = crate::private::secure_tree(dir);
        Ok(Store { dir: dir.to_owned(), db, runs, journal, snapshots, definitions, _lock: lock })
    }

    /// Opens the store in `dir` if there is one, to read it: a directory without a store has
    /// no runs, and a read-only verb must not create one there (`Ok(None)`). A `dir` that is
    /// not a directory is an error, not an empty store.
    pub fn open_existing(dir: &Path) -> Result<Option<Store>, StoreError> {
        if dir.exists() && !dir.is_dir() {
            let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "it is not a directory");
            return Err(StoreError::Io { dir: dir.to_owned(), source });
        }
        if !dir.join("db").exists() {
            return Ok(None);
        }
        Store::open(dir).map(Some)
    }

    /// A reader of this store, for the control server (see [`Reader`]).
    pub fn reader(&self) -> Reader {
        Reader {
            dir: self.dir.clone(),
            runs: self.runs.clone(),
            journal: self.journal.clone(),
            snapshots: self.snapshots.clone(),
            definitions: self.definitions.clone(),
        }
    }

    /// Opens the store for a loop. Readers without a running loop to ask (`status`, `logs`)
    /// open the store for a moment, so a lock held by someone else is tried again for
    /// `patience` before the loop is refused: a second loop holds it far longer.
    pub fn open_patiently(dir: &Path, patience: std::time::Duration) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match Store::open(dir) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => return other,
            }
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, e: sled::Error) -> StoreError {
        sled_error(&self.dir, e)
    }

    /// Records (or updates) a run, durably.
    pub fn put_run(&self, record: &RunRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| corrupt(&self.dir, e))?;
        self.runs.insert(record.run_id.as_bytes(), bytes).map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A run's record.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.reader().run(run_id)
    }

    /// Every run's record, oldest first (see [`Reader::runs`]).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.reader().runs()
    }

    /// The journal of a run, for appending and reading.
    pub fn journal(&self, run_id: &str) -> Result<Journal, StoreError> {
        Journal::open(self.journal.clone(), run_id, &self.dir)
    }

    /// A handle that makes appended events durable, batching concurrent requests.
    pub fn durability(&self) -> Durability {
        Durability::start(self.db.clone(), self.journal.clone())
    }

    /// Writes everything out.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }
}

impl Reader {
    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, e: sled::Error) -> StoreError {
        sled_error(&self.dir, e)
    }

    /// A run's record.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        match self.runs.get(run_id.as_bytes()).map_err(|e| self.err(e))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(&self.dir, format!("the record of run {run_id}: {e}"))),
            None => Ok(None),
        }
    }

    /// Every run's record, oldest first (by start time, to the millisecond; then by id).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self
            .runs
            .iter()
            .map(|item| {
                let (key, bytes) = item.map_err(|e| self.err(e))?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    corrupt(&self.dir, format!("the record of run {}: {e}", String::from_utf8_lossy(&key)))
                })
            })
            .collect::<Result<_, _>>()?;
        // RFC 3339 strings of one format sort as their times do; ids (UUIDv7) start with the
        // millisecond.
        runs.sort_by(|a, b| (&a.started_at, &a.run_id).cmp(&(&b.started_at, &b.run_id)));
        Ok(runs)
    }

    /// The journal of a run, to read it.
    pub fn journal(&self, run_id: &str) -> Result<Journal, StoreError> {
        Journal::open(self.journal.clone(), run_id, &self.dir)
    }
}

#[cfg(test)]
impl RunRecord {
    /// A running DAG's record, for tests: the fields every record needs.
    pub(crate) fn sample(id: &str) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            workflow: "w".into(),
            workflow_file: "w.yaml".into(),
            config_file: None,
            definition_hash: "h".into(),
            kind: "dag".into(),
            tasks: None,
            commit: false,
            jobs: 2,
            max_iterations: None,
            started_at: "2026-11-22T00:00:00Z".into(),
            base_commit: None,
            traceparent: None,
            status: "running".into(),
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> RunRecord {
        RunRecord::sample(id)
    }

    #[test]
    fn a_snapshot_left_half_written_by_a_killed_process_does_not_make_the_store_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_run(&record("1")).unwrap();
        store.db.flush().unwrap();
        drop(store);
        // Each open that finds the log grown writes a snapshot; a kill mid-write leaves a
        // `.generating` file behind.
        drop(Store::open(dir.path()).unwrap());
        let db = dir.path().join("db");
        let finished = std::fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
            .max()
            .expect("sled wrote a snapshot");
        let half = db.join(format!("{finished}.generating"));
        std::fs::write(&half, b"half a snapshot, no checksum").unwrap();
        std::fs::write(db.join("snap.FFFFFFFFFFFFFFF0.generating"), b"").unwrap();
        let store = Store::open(dir.path()).expect("opens");
        assert_eq!(store.runs().unwrap().len(), 1);
        assert!(!half.exists());
    }

    #[test]
    fn runs_are_kept_across_opens_and_a_second_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_run(&record("2")).unwrap();
        store.put_run(&record("1")).unwrap();
        assert!(matches!(Store::open(dir.path()), Err(StoreError::Locked { pid: Some(_), .. })));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let ids: Vec<String> = store.runs().unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["1", "2"]);
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.db.open_tree("meta").unwrap().insert("format", &(FORMAT + 1).to_be_bytes()).unwrap();
        store.flush().unwrap();
        drop(store);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NewerFormat { found, .. } if found == FORMAT + 1), "{err}");
        assert!(err.to_string().contains("upgrade ralph-loop"), "{err}");
    }

    #[test]
    fn damaged_files_are_reported_as_corrupt_not_panicked_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut journal = store.journal("r").unwrap();
        for i in 0..200 {
            journal.append_raw(format!("{{\"event\":\"x\",\"i\":{i}}}").as_bytes()).unwrap();
        }
        store.flush().unwrap();
        drop((journal, store));
        let db = dir.path().join("db");
        for entry in std::fs::read_dir(&db).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let len = std::fs::metadata(&path).unwrap().len();
                std::fs::write(&path, vec![0xA5; len as usize]).unwrap();
            }
        }
        match Store::open(dir.path()) {
            Err(StoreError::Corrupt { detail, .. }) => assert!(!detail.is_empty()),
            Err(other) => panic!("expected corrupt, got {other}"),
            Ok(_) => panic!("a garbage store opened"),
        }
    }
}
