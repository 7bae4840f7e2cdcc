//! The loop's side of reading runs live: what a running loop serves of its own store over its
//! control socket, so that `runs`, `debug`, `inspect`, `traces`, `metrics`, `logs` and
//! `snapshots` in another terminal see what they would see in the store (the loop holds it,
//! and sled lets one process in). The other side is [`super::source`].
//!
//! It only reads, through a [`Reader`] of the loop's open store, never its lock.

use crate::control::server::Archive;
use crate::store::Reader;

/// A running loop's store, as its control server reads it.
#[derive(Debug)]
pub struct StoreArchive {
    reader: Reader,
    live: String,
}

impl StoreArchive {
    /// The archive of the store `reader` reads, for the loop that runs `live_run`.
    pub fn new(reader: Reader, live_run: &str) -> StoreArchive {
        StoreArchive { reader, live: live_run.to_owned() }
    }
}

fn json<T: serde::Serialize>(items: Vec<T>) -> Result<Vec<serde_json::Value>, String> {
    items.iter().map(|item| serde_json::to_value(item).map_err(|e| e.to_string())).collect()
}

impl Archive for StoreArchive {
    fn live_run(&self) -> &str {
        &self.live
    }

    fn journal(&self, run: &str, from: u64, limit: usize) -> Result<Vec<(u64, serde_json::Value)>, String> {
        let journal = self.reader.journal(run).map_err(|e| e.to_string())?;
        journal
            .scan(from)
            .take(limit)
            .map(|item| {
                let (seq, bytes) = item.map_err(|e| e.to_string())?;
                Ok((seq, journal.decode(seq, &bytes).map_err(|e| e.to_string())?))
            })
            .collect()
    }

    fn runs(&self) -> Result<Vec<serde_json::Value>, String> {
        json(self.reader.runs().map_err(|e| e.to_string())?)
    }

    fn snapshots(&self, run: Option<&str>) -> Result<Vec<serde_json::Value>, String> {
        json(self.reader.snapshots(run).map_err(|e| e.to_string())?)
    }

    fn definition(&self, hash: &str) -> Result<Option<serde_json::Value>, String> {
        match self.reader.definition(hash).map_err(|e| e.to_string())? {
            Some(definition) => serde_json::to_value(definition).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}
