//! Snapshots: named points of a run that a new run can start from (`replay --from-state`).
//!
//! The journal is the run, so a snapshot does not copy the run's state: it names a sequence
//! number of the journal — the state is the journal's events up to it, applied again — and
//! records what a person needs to pick one (trigger, iteration, phase, task) and the hash of
//! the workflow definition it was taken under. The definition itself is kept once per hash in
//! the `definitions` tree, so a replay can run the definition the snapshot was taken with even
//! after the file changed.
//!
//! Snapshot markers are inserted without waiting for the journal's writer, so after a crash a
//! marker may name events that never became durable; such a marker is not listed (its
//! sequence number is past the journal's end).

use serde::{Deserialize, Serialize};

use super::{Reader, Store, StoreError, corrupt};

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `<run>@<seq>`: what `replay --from-state` takes.
    pub id: String,
    /// The run.
    pub run_id: String,
    /// The last journal event it includes.
    pub seq: u64,
    /// What took it: `phase_complete`, `iteration_complete`, `before_human_review`, …
    pub trigger: String,
    /// When, RFC 3339.
    pub at: String,
    /// When, in seconds since the epoch (for retention by age).
    pub at_unix: u64,
    /// The hash of the workflow definition the run ran.
    pub definition_hash: String,
    /// The iteration it was taken in.
    pub iteration: u32,
    /// The step that had just finished, or the state the run was in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The iteration's task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Steps finished so far (in this iteration).
    pub steps_finished: usize,
}

/// A workflow definition as a run ran it: the validated document (configuration merged), as
/// JSON. Its hash is the runs' `definition_hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDefinition {
    /// The workflow file it was read from.
    pub workflow_file: std::path::PathBuf,
    /// The document.
    pub document: serde_json::Value,
}

/// How many snapshots to keep and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Keep at most this many (over all runs), newest first.
    pub count: Option<usize>,
    /// Keep none older than this many seconds.
    pub age_secs: Option<u64>,
}

fn key(run_id: &str, seq: u64) -> Vec<u8> {
    let mut key = run_id.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a snapshot id `<run>@<seq>`.
pub fn parse_id(id: &str) -> Option<(&str, u64)> {
    let (run, seq) = id.rsplit_once('@')?;
    Some((run, seq.parse().ok()?))
}

impl Store {
    /// Records a snapshot (made durable with the journal's next flush).
    pub fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(snapshot).map_err(|e| corrupt(&self.dir, e))?;
        self.snapshots.insert(key(&snapshot.run_id, snapshot.seq), bytes).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The snapshots of one run, or of every run, oldest first (see [`Reader::snapshots`]).
    pub fn snapshots(&self, run_id: Option<&str>) -> Result<Vec<Snapshot>, StoreError> {
        self.reader().snapshots(run_id)
    }

    /// A snapshot by id (see [`Reader::snapshot`]).
    pub fn snapshot(&self, id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.reader().snapshot(id)
    }

    /// Drops the snapshots beyond `retention` (the oldest first); returns how many.
    pub fn apply_retention(&self, retention: Retention, now_unix: u64) -> Result<usize, StoreError> {
        let all = self.snapshots(None)?;
        let too_many = retention.count.map_or(0, |count| all.len().saturating_sub(count));
        let mut dropped = 0;
        for (i, snapshot) in all.iter().enumerate() {
            let too_old =
                retention.age_secs.is_some_and(|age| now_unix.saturating_sub(snapshot.at_unix) > age);
            if i < too_many || too_old {
                self.snapshots.remove(key(&snapshot.run_id, snapshot.seq)).map_err(|e| self.err(e))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Keeps a definition under its hash, once: a hash names one definition, so `definition`
    /// is only made (the whole document serialized again) when the store does not hold it yet.
    pub fn put_definition(
        &self,
        hash: &str,
        definition: impl FnOnce() -> StoredDefinition,
    ) -> Result<(), StoreError> {
        if self.definitions.contains_key(hash).map_err(|e| self.err(e))? {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&definition()).map_err(|e| corrupt(&self.dir, e))?;
        self.definitions.insert(hash, bytes).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The definition with this hash.
    pub fn definition(&self, hash: &str) -> Result<Option<StoredDefinition>, StoreError> {
        self.reader().definition(hash)
    }
}

impl Reader {
    /// The snapshots of one run, or of every run, oldest first; markers past their journal's
    /// end (a crash before the journal caught up) are left out.
    pub fn snapshots(&self, run_id: Option<&str>) -> Result<Vec<Snapshot>, StoreError> {
        let prefix = run_id.map(|r| key(r, 0)[..r.len() + 1].to_vec()).unwrap_or_default();
        let mut out: Vec<Snapshot> = Vec::new();
        let mut last_seq: Option<(String, u64)> = None;
        for item in self.snapshots.scan_prefix(prefix) {
            let (_, bytes) = item.map_err(|e| self.err(e))?;
            let snapshot: Snapshot = serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(&self.dir, format!("a snapshot record: {e}")))?;
            let end = match &last_seq {
                Some((run, end)) if *run == snapshot.run_id => *end,
                _ => {
                    let end = self.journal(&snapshot.run_id)?.last_seq();
                    last_seq = Some((snapshot.run_id.clone(), end));
                    end
                }
            };
            if snapshot.seq <= end {
                out.push(snapshot);
            }
        }
        out.sort_by(|a, b| (a.at_unix, &a.run_id, a.seq).cmp(&(b.at_unix, &b.run_id, b.seq)));
        Ok(out)
    }

    /// A snapshot by id (`<run>@<seq>`), or the latest snapshot of a run given by its id.
    pub fn snapshot(&self, id: &str) -> Result<Option<Snapshot>, StoreError> {
        if let Some((run, seq)) = parse_id(id) {
            return Ok(self.snapshots(Some(run))?.into_iter().find(|s| s.seq == seq));
        }
        Ok(self.snapshots(Some(id))?.pop())
    }

    /// The definition with this hash.
    pub fn definition(&self, hash: &str) -> Result<Option<StoredDefinition>, StoreError> {
        match self.definitions.get(hash).map_err(|e| self.err(e))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(&self.dir, format!("the definition {hash}: {e}"))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(run: &str, seq: u64, at_unix: u64) -> Snapshot {
        Snapshot {
            id: format!("{run}@{seq}"),
            run_id: run.into(),
            seq,
            trigger: "iteration_complete".into(),
            at: String::new(),
            at_unix,
            definition_hash: "h".into(),
            iteration: 1,
            phase: None,
            task: None,
            steps_finished: 0,
        }
    }

    #[test]
    fn snapshots_past_the_journal_are_hidden_and_retention_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut journal = store.journal("r1").unwrap();
        for _ in 0..5 {
            journal.append(&serde_json::json!({"event": "x"})).unwrap();
        }
        store.put_snapshot(&snapshot("r1", 2, 100)).unwrap();
        store.put_snapshot(&snapshot("r1", 5, 200)).unwrap();
        // Taken, but its events never reached the journal (a crash).
        store.put_snapshot(&snapshot("r1", 9, 300)).unwrap();
        let ids: Vec<String> = store.snapshots(Some("r1")).unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["r1@2", "r1@5"]);
        assert_eq!(store.snapshot("r1").unwrap().unwrap().seq, 5, "a run id means its latest");
        assert_eq!(store.snapshot("r1@2").unwrap().unwrap().at_unix, 100);
        assert!(store.snapshot("r1@3").unwrap().is_none());
        assert!(store.snapshots(Some("r")).unwrap().is_empty(), "a prefix of a run id is not that run");
        assert_eq!(store.apply_retention(Retention { count: Some(1), age_secs: None }, 1000).unwrap(), 1);
        assert_eq!(store.snapshots(None).unwrap().len(), 1);
        assert_eq!(store.apply_retention(Retention { count: None, age_secs: Some(500) }, 1000).unwrap(), 1);
        assert!(store.snapshots(None).unwrap().is_empty());
    }

    #[test]
    fn a_definition_is_kept_once_per_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first =
            StoredDefinition { workflow_file: "a.yaml".into(), document: serde_json::json!({"a": 1}) };
        store.put_definition("h", || first.clone()).unwrap();
        store.put_definition("h", || panic!("a kept definition is not made again")).unwrap();
        assert_eq!(store.definition("h").unwrap(), Some(first));
        assert_eq!(store.definition("x").unwrap(), None);
    }
}
