//! The loop's side of reading runs live: what a running loop serves of its own store over its
//! control socket, so that `runs`, `debug`, `inspect`, `traces`, `metrics`, `logs` and
//! `snapshots` in another terminal see what they would see in the store (the loop holds it,
//! and sled lets one process in). The other side is `inspect::source`.
//!
//! It only reads, through a [`Reader`] of the loop's open store, never its lock.

use std::time::Duration;

use crate::control::server::Archive;
use crate::store::{Durability, Reader};

/// How long a read of the live run's journal waits for its latest events to be written out.
const FLUSH_WITHIN: Duration = Duration::from_secs(2);

/// A running loop's store, as its control server reads it.
#[derive(Debug)]
pub struct StoreArchive {
    reader: Reader,
    live: String,
    durability: Option<Durability>,
}

impl StoreArchive {
    /// The archive of the store `reader` reads, for the loop that runs `live_run` and makes its
    /// journal durable through `durability`.
    pub fn new(reader: Reader, live_run: &str, durability: Option<Durability>) -> StoreArchive {
        StoreArchive { reader, live: live_run.to_owned(), durability }
    }

    /// The live run's journal is written out in batches, when a step's outcome must be durable:
    /// the events since (a step that started, an iteration) are only in the writer's hands. A
    /// reader asks for them to be written now, so that it sees what the loop has journaled.
    fn catch_up(&self) {
        let (Some(durability), Ok(runtime)) = (&self.durability, tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let ticket = durability.hurry();
        // Called on a blocking thread of the loop's runtime (see `control::server`).
        let _ = runtime.block_on(tokio::time::timeout(FLUSH_WITHIN, durability.wait(ticket)));
    }
}

fn json<T: serde::Serialize>(items: &[T]) -> Result<Vec<serde_json::Value>, String> {
    items.iter().map(|item| serde_json::to_value(item).map_err(|e| e.to_string())).collect()
}

impl StoreArchive {
    fn read_journal(
        &self,
        run: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, serde_json::Value)>, String> {
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
}

impl Archive for StoreArchive {
    fn live_run(&self) -> &str {
        &self.live
    }

    fn journal(&self, run: &str, from: u64, limit: usize) -> Result<Vec<(u64, serde_json::Value)>, String> {
        let mut page = self.read_journal(run, from, limit)?;
        // At the end of the live run's journal, what is still in the writer's hands is asked
        // for (only there: a long journal is read page by page without a flush each).
        if run == self.live && page.len() < limit {
            self.catch_up();
            let next = page.last().map_or(from, |(seq, _)| seq + 1);
            page.extend(self.read_journal(run, next, limit - page.len())?);
        }
        Ok(page)
    }

    fn runs(&self) -> Result<Vec<serde_json::Value>, String> {
        json(&self.reader.runs().map_err(|e| e.to_string())?)
    }

    fn snapshots(&self, run: Option<&str>) -> Result<Vec<serde_json::Value>, String> {
        json(&self.reader.snapshots(run).map_err(|e| e.to_string())?)
    }

    fn definition(&self, hash: &str) -> Result<Option<serde_json::Value>, String> {
        match self.reader.definition(hash).map_err(|e| e.to_string())? {
            Some(definition) => serde_json::to_value(definition).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}
