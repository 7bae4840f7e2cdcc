//! A run's journal: its events, in order, append-only. Keys are the run id, `/`, and a
//! big-endian sequence number from 1, so a run's events are one ordered prefix scan.
//!
//! Appending does not wait for the disk; [`Durability`] makes what was appended durable,
//! batching requests that arrive while a flush is under way (group commit), so a DAG whose
//! steps finish by the thousand pays for a few fsyncs, not one each. What acts on an event
//! for good (a transition, a task mark, a commit, the run's end) waits until it is durable
//! (see the durability invariant in ARCHITECTURE.md).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// Why the journal cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// sled failed.
    #[error("the journal in `{dir}` cannot be written: {source}")]
    Store {
        /// The state directory.
        dir: PathBuf,
        /// The error.
        source: sled::Error,
    },
    /// The writer thread failed earlier.
    #[error("the journal cannot be written: {0}")]
    Writer(String),
    /// An event is not valid JSON of the expected shape.
    #[error("the journal of run {run} is corrupt at event {seq}: {detail}")]
    Corrupt {
        /// The run.
        run: String,
        /// The event's sequence number.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
}

/// A run's journal.
#[derive(Debug, Clone)]
pub struct Journal {
    tree: sled::Tree,
    run: String,
    prefix: Vec<u8>,
    dir: PathBuf,
    /// The sequence number of the last event.
    last: u64,
    /// Appends go to the writer thread when one is attached.
    writer: Option<Arc<Shared>>,
}

fn key(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

impl Journal {
    pub(super) fn open(tree: sled::Tree, run: &str, dir: &Path) -> Result<Journal, super::StoreError> {
        let mut prefix = run.as_bytes().to_vec();
        prefix.push(b'/');
        let last = match tree.scan_prefix(&prefix).next_back() {
            Some(Ok((key, _))) => seq_of(&key, &prefix).ok_or_else(|| super::StoreError::Corrupt {
                dir: dir.to_owned(),
                detail: format!("a journal key of run {run} is malformed"),
            })?,
            Some(Err(e)) => return Err(super::sled_error(dir, e)),
            None => 0,
        };
        Ok(Journal { tree, run: run.to_owned(), prefix, dir: dir.to_owned(), last, writer: None })
    }

    /// The sequence number of the last event (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// Hands appends to `durability`'s writer thread: they are written to sled in batches,
    /// off the caller's thread, when durability is requested. Until then they are not in the
    /// store — and nothing may act on them before they are durable anyway.
    pub fn attach(&mut self, durability: &Durability) {
        self.writer = Some(Arc::clone(&durability.shared));
    }

    /// Appends an already-encoded event; returns its sequence number.
    pub fn append_raw(&mut self, bytes: &[u8]) -> Result<u64, JournalError> {
        let seq = self.last + 1;
        match &self.writer {
            Some(writer) => {
                if let Some(error) = writer.error.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                    return Err(JournalError::Writer(error));
                }
                writer
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key(&self.prefix, seq), bytes);
            }
            None => {
                self.tree
                    .insert(key(&self.prefix, seq), bytes)
                    .map_err(|source| JournalError::Store { dir: self.dir.clone(), source })?;
            }
        }
        self.last = seq;
        Ok(seq)
    }

    /// Appends an event.
    pub fn append<T: serde::Serialize>(&mut self, event: &T) -> Result<u64, JournalError> {
        let bytes = serde_json::to_vec(event).map_err(|e| JournalError::Corrupt {
            run: self.run.clone(),
            seq: self.last + 1,
            detail: e.to_string(),
        })?;
        self.append_raw(&bytes)
    }

    /// The events from sequence number `from` on, decoded as `T`, with their numbers.
    pub fn read<T: serde::de::DeserializeOwned>(&self, from: u64) -> Result<Vec<(u64, T)>, JournalError> {
        self.scan(from)
            .map(|item| item.and_then(|(seq, bytes)| Ok((seq, self.decode(seq, &bytes)?))))
            .collect()
    }

    /// The encoded events from sequence number `from` on, one at a time: a reader that needs
    /// only some of them (resuming skips the signals) decodes only those, and a long journal
    /// is never held in memory whole.
    pub fn scan(&self, from: u64) -> impl Iterator<Item = Result<(u64, sled::IVec), JournalError>> + '_ {
        let start = key(&self.prefix, from.max(1));
        let end = key(&self.prefix, u64::MAX);
        self.tree.range(start..=end).map(|item| {
            let (key, bytes) =
                item.map_err(|source| JournalError::Store { dir: self.dir.clone(), source })?;
            Ok((seq_of(&key, &self.prefix).unwrap_or(0), bytes))
        })
    }

    /// Decodes event `seq`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, seq: u64, bytes: &[u8]) -> Result<T, JournalError> {
        serde_json::from_slice(bytes).map_err(|e| JournalError::Corrupt {
            run: self.run.clone(),
            seq,
            detail: e.to_string(),
        })
    }
}

fn seq_of(key: &[u8], prefix: &[u8]) -> Option<u64> {
    let tail = key.strip_prefix(prefix)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// How long the writer lets requests gather after a flush. Only what no one waits for is
/// gathered (a waiter with nothing else to do hurries the writer): a DAG's outcomes, whose
/// dependents run meanwhile. Every flush wakes sled's writer threads, which take the cores
/// from the agents' processes: 25 ms instead of 10 ran a 1,000-step chain and 10,000
/// independent nodes 2-3% faster (engine/benches), for at most 25 ms more of a killed run's
/// last steps to run again on `resume`.
const GATHER: std::time::Duration = std::time::Duration::from_millis(25);

/// Makes appended events durable from a thread of its own: [`Durability::request`] returns a
/// ticket, and the ticket is durable once [`Durability::durable`] reaches it. Requests made
/// during a flush are served by the next one, all together.
#[derive(Debug, Clone)]
pub struct Durability {
    shared: Arc<Shared>,
    watch: tokio::sync::watch::Receiver<u64>,
}

#[derive(Debug)]
struct Shared {
    /// (tickets handed out, stop, hurry, the writer is idle — waiting for a first request).
    state: Mutex<(u64, bool, bool, bool)>,
    wake: Condvar,
    /// Appended events not written to sled yet.
    pending: Mutex<sled::Batch>,
    /// The last flush's error, if it failed.
    error: Mutex<Option<String>>,
}

impl Durability {
    pub(super) fn start(db: sled::Db, tree: sled::Tree) -> Durability {
        let shared = Arc::new(Shared {
            state: Mutex::new((0, false, false, false)),
            wake: Condvar::new(),
            pending: Mutex::new(sled::Batch::default()),
            error: Mutex::new(None),
        });
        let (tx, watch) = tokio::sync::watch::channel(0u64);
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("ralph-journal".into())
            .spawn(move || {
                let mut flushed = 0;
                loop {
                    let target = {
                        let mut state = worker.state.lock().unwrap_or_else(|p| p.into_inner());
                        while state.0 == flushed && !state.1 {
                            state.3 = true;
                            state = worker.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                        }
                        state.3 = false;
                        if state.0 == flushed {
                            return;
                        }
                        state.0
                    };
                    let batch =
                        std::mem::take(&mut *worker.pending.lock().unwrap_or_else(|p| p.into_inner()));
                    if let Err(e) = tree.apply_batch(batch).and_then(|()| db.flush().map(|_| ())) {
                        // Not durable: the waiters are told, and nothing is acknowledged.
                        *worker.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        let _ = tx.send(u64::MAX);
                        return;
                    }
                    flushed = target;
                    let _ = tx.send(flushed);
                    // Let requests gather: a flush is an fsync, and sled holds its log while it
                    // flushes, so back-to-back flushes would slow every append down. A waiter
                    // with nothing else to do cuts the wait short (`hurry`).
                    let state = worker.state.lock().unwrap_or_else(|p| p.into_inner());
                    let (mut state, _) = worker
                        .wake
                        .wait_timeout_while(state, GATHER, |s| !s.2 && !s.1)
                        .unwrap_or_else(|p| p.into_inner());
                    state.2 = false;
                }
            })
            .expect("a thread can be started");
        Durability { shared, watch }
    }

    /// Asks for everything appended so far to be made durable; returns the ticket to wait for.
    pub fn request(&self) -> u64 {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        // A writer gathering requests flushes this one with the rest when its gathering time
        // is up: waking it for every request (a DAG finishes steps by the thousand) would cost
        // a futex wake and a context switch each, for nothing.
        if state.3 {
            self.shared.wake.notify_one();
        }
        state.0
    }

    /// Like [`Durability::request`], for a waiter that has nothing else to do: the writer
    /// flushes at once instead of letting more requests gather.
    pub fn hurry(&self) -> u64 {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        state.2 = true;
        self.shared.wake.notify_one();
        state.0
    }

    /// The last ticket made durable.
    pub fn durable(&self) -> u64 {
        *self.watch.borrow()
    }

    /// Waits until `ticket` is durable. An error means the disk refused the flush.
    pub async fn wait(&self, ticket: u64) -> Result<(), String> {
        let mut watch = self.watch.clone();
        let reached = watch.wait_for(|flushed| *flushed >= ticket).await.map(|v| *v);
        self.outcome(reached.ok())
    }

    fn outcome(&self, reached: Option<u64>) -> Result<(), String> {
        if reached == Some(u64::MAX) || reached.is_none() {
            let error = self.shared.error.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(error.unwrap_or_else(|| "the journal's writer stopped".into()));
        }
        Ok(())
    }
}

impl Durability {
    /// Stops the writer thread once it has served every request.
    pub fn stop(&self) {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 = true;
        self.shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn events_come_back_in_order_and_appends_continue_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let mut journal = store.journal("run-1").unwrap();
        let mut other = store.journal("run-10").unwrap();
        let durability = store.durability();
        for i in 1..=300u64 {
            assert_eq!(journal.append(&serde_json::json!({"i": i})).unwrap(), i);
            other.append(&serde_json::json!({"other": i})).unwrap();
        }
        durability.wait(durability.request()).await.unwrap();
        let again = store.journal("run-1").unwrap();
        assert_eq!(again.last_seq(), 300);
        let events: Vec<(u64, serde_json::Value)> = again.read(299).unwrap();
        assert_eq!(events, [(299, serde_json::json!({"i": 299})), (300, serde_json::json!({"i": 300}))]);
        assert_eq!(again.read::<serde_json::Value>(1).unwrap().len(), 300, "run-10 is not mixed in");
        durability.stop();
    }

    #[tokio::test]
    async fn concurrent_requests_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let mut journal = store.journal("r").unwrap();
        let durability = store.durability();
        let mut last = 0;
        for i in 0..1000 {
            journal.append(&i).unwrap();
            last = durability.request();
        }
        durability.wait(last).await.unwrap();
        assert!(durability.durable() >= last);
        durability.stop();
    }
}
