//! Where a run's events and records go: the run store (sled, group-committed to disk), or
//! memory (the core's tests, which run thousands of runs and cut their journals anywhere).
//!
//! Both give events sequence numbers from 1 and tickets that become durable; in memory every
//! ticket is durable at once.

use std::sync::{Arc, Mutex};

use super::core::event::Event;
use crate::store::{Durability, Journal, Retention, RunRecord, Snapshot, Store, StoredDefinition};

/// A journal in memory, shared with whoever made it (a test reads it back).
pub type Memory = Arc<Mutex<Vec<Event>>>;

/// A run's log.
#[allow(clippy::large_enum_variant)] // One per run; boxing the store's handles buys nothing.
pub(crate) enum RunLog {
    /// The run store.
    Store {
        /// The store.
        store: Store,
        /// The run's journal.
        journal: Journal,
        /// What makes it durable.
        durability: Durability,
    },
    /// Memory.
    Memory {
        /// The events.
        events: Memory,
        /// Tickets handed out (each is durable at once).
        tickets: tokio::sync::watch::Sender<u64>,
    },
}

impl RunLog {
    /// A log in memory, going on after the events `events` already holds.
    pub(crate) fn memory(events: Memory) -> RunLog {
        let (tickets, _) = tokio::sync::watch::channel(0);
        RunLog::Memory { events, tickets }
    }

    /// Appends an event; returns its sequence number.
    pub(crate) fn append(&mut self, event: &Event) -> Result<u64, String> {
        match self {
            RunLog::Store { journal, .. } => journal.append(event).map_err(|e| e.to_string()),
            RunLog::Memory { events, .. } => {
                let mut events = events.lock().unwrap_or_else(|p| p.into_inner());
                events.push(event.clone());
                Ok(events.len() as u64)
            }
        }
    }

    /// The events from sequence number `from` on, one at a time; `skip` tells from an event's
    /// encoding that it need not be decoded (the store only).
    pub(crate) fn replay(
        &self,
        skip: &dyn Fn(&[u8]) -> bool,
        mut each: impl FnMut(u64, Event),
    ) -> Result<u64, String> {
        let mut last = 0;
        match self {
            RunLog::Store { journal, .. } => {
                for item in journal.scan(1) {
                    let (seq, bytes) = item.map_err(|e| e.to_string())?;
                    last = seq;
                    if skip(&bytes) {
                        continue;
                    }
                    each(seq, journal.decode(seq, &bytes).map_err(|e| e.to_string())?);
                }
            }
            RunLog::Memory { events, .. } => {
                let events = events.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for (i, event) in events.into_iter().enumerate() {
                    last = i as u64 + 1;
                    each(last, event);
                }
            }
        }
        Ok(last)
    }

    /// Asks for everything appended so far to be made durable; returns the ticket.
    pub(crate) fn request(&self) -> u64 {
        match self {
            RunLog::Store { durability, .. } => durability.request(),
            RunLog::Memory { tickets, .. } => Self::next(tickets),
        }
    }

    /// Like [`RunLog::request`], for a waiter with nothing else to do: no gathering.
    pub(crate) fn hurry(&self) -> u64 {
        match self {
            RunLog::Store { durability, .. } => durability.hurry(),
            RunLog::Memory { tickets, .. } => Self::next(tickets),
        }
    }

    fn next(tickets: &tokio::sync::watch::Sender<u64>) -> u64 {
        let mut ticket = 0;
        tickets.send_modify(|t| {
            *t += 1;
            ticket = *t;
        });
        ticket
    }

    /// Waits until `ticket` is durable; an error means the disk refused.
    pub(crate) async fn wait(&self, ticket: u64) -> Result<(), String> {
        match self {
            RunLog::Store { durability, .. } => durability.wait(ticket).await,
            RunLog::Memory { .. } => Ok(()),
        }
    }

    /// Stops the writer once it has served every request.
    pub(crate) fn stop(&self) {
        if let RunLog::Store { durability, .. } = self {
            durability.stop();
        }
    }

    /// Records the run's record.
    pub(crate) fn put_run(&self, record: &RunRecord) -> Result<(), String> {
        match self {
            RunLog::Store { store, .. } => store.put_run(record).map_err(|e| e.to_string()),
            RunLog::Memory { .. } => Ok(()),
        }
    }

    /// Records a snapshot.
    pub(crate) fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), String> {
        match self {
            RunLog::Store { store, .. } => store.put_snapshot(snapshot).map_err(|e| e.to_string()),
            RunLog::Memory { .. } => Ok(()),
        }
    }

    /// Drops snapshots beyond `retention`.
    pub(crate) fn apply_retention(&self, retention: Retention, now_unix: u64) -> Result<(), String> {
        match self {
            RunLog::Store { store, .. } => {
                store.apply_retention(retention, now_unix).map(drop).map_err(|e| e.to_string())
            }
            RunLog::Memory { .. } => Ok(()),
        }
    }

    /// Keeps a definition under its hash (once).
    pub(crate) fn put_definition(
        &self,
        hash: &str,
        definition: impl FnOnce() -> StoredDefinition,
    ) -> Result<(), String> {
        match self {
            RunLog::Store { store, .. } => store.put_definition(hash, definition).map_err(|e| e.to_string()),
            RunLog::Memory { .. } => Ok(()),
        }
    }
}
