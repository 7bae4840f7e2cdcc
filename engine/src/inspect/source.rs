//! Where the read-only verbs read runs from: the store, when no loop holds it; the running loop
//! that does, over its control socket (see [`super::archive`]); or nothing at all, where there is
//! no store — none is created just to be read.
//!
//! The three give the same answers: a live loop sends its store's records, journals, snapshots
//! and definitions as the store keeps them, and they are decoded here into the same types.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::InspectError;
use crate::control::client::Client;
use crate::control::{ControlError, Reply, Request};
use crate::run::core::event::Event;
use crate::store::{JournalError, RunRecord, Snapshot, Store, StoreError, StoredDefinition};

/// How long a reader waits for a store that is held by a process that does not answer on the
/// control socket: a loop between taking its lock and binding its socket, or another reader.
const PATIENCE: Duration = Duration::from_secs(3);

/// The runs of a state directory, read from wherever they can be.
#[derive(Debug)]
pub enum Source {
    /// There is no store in the directory: no runs.
    Empty(PathBuf),
    /// The store, opened (no loop holds it).
    Store(Store),
    /// A running loop holds the store, and answers for it.
    Live {
        /// The state directory.
        dir: PathBuf,
        /// The connection to the loop.
        client: Client,
    },
}

/// What a read of a live loop gave: the answer, or that the loop went away meanwhile (its
/// store is then free, and read instead).
enum Live<T> {
    Answer(T),
    Gone,
}

fn gone<T>(result: Result<T, ControlError>) -> Result<Live<T>, InspectError> {
    match result {
        Ok(answer) => Ok(Live::Answer(answer)),
        Err(ControlError::Closed) => Ok(Live::Gone),
        Err(e) => Err(InspectError::Live(e)),
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, InspectError> {
    serde_json::from_value(value).map_err(|e| InspectError::Live(ControlError::Protocol(e.to_string())))
}

fn unexpected(reply: &Reply) -> InspectError {
    let text = serde_json::to_string(reply).unwrap_or_default();
    InspectError::Live(ControlError::Protocol(format!("the loop answered `{text}`")))
}

fn unreadable(dir: &Path, message: String) -> InspectError {
    InspectError::Store(StoreError::Corrupt { dir: dir.to_owned(), detail: message })
}

impl Source {
    /// The runs of `state_dir`. Never creates a store; never takes a running loop's lock.
    pub fn open(state_dir: &Path) -> Result<Source, InspectError> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match Store::open_existing(state_dir) {
                Ok(None) => return Ok(Source::Empty(state_dir.to_owned())),
                Ok(Some(store)) => return Ok(Source::Store(store)),
                Err(StoreError::Locked { dir, pid }) => {
                    if let Some(client) = Client::connect(state_dir).map_err(InspectError::Live)? {
                        return Ok(Source::Live { dir: state_dir.to_owned(), client });
                    }
                    if Instant::now() >= deadline {
                        return Err(InspectError::LoopRunning { dir, pid });
                    }
                    // The holder is a loop that has not bound its socket yet, or a reader
                    // that lets go in a moment.
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(InspectError::Store(e)),
            }
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        match self {
            Source::Empty(dir) | Source::Live { dir, .. } => dir,
            Source::Store(store) => store.dir(),
        }
    }

    /// The loop went away while it was read: read its store instead.
    fn reopen(&mut self) -> Result<(), InspectError> {
        let dir = self.dir().to_owned();
        *self = Source::open(&dir)?;
        Ok(())
    }

    /// Every run's record, oldest first, and the run a loop is running now (whose record says
    /// `running`, and rightly: any other that says so crashed).
    pub fn runs(&mut self) -> Result<(Vec<RunRecord>, Option<String>), InspectError> {
        loop {
            match self {
                Source::Empty(_) => return Ok((Vec::new(), None)),
                Source::Store(store) => return Ok((store.runs().map_err(InspectError::Store)?, None)),
                Source::Live { dir, client } => match gone(client.request(&Request::Runs))? {
                    Live::Answer(Reply::Runs { runs, live }) => {
                        let runs = runs.into_iter().map(decode).collect::<Result<_, _>>()?;
                        return Ok((runs, Some(live)));
                    }
                    Live::Answer(Reply::Unreadable { message }) => return Err(unreadable(dir, message)),
                    Live::Answer(other) => return Err(unexpected(&other)),
                    Live::Gone => self.reopen()?,
                },
            }
        }
    }

    /// The run `asked` for — its id, or a prefix of only its id — or the latest one.
    pub fn select_run(&mut self, asked: Option<&str>) -> Result<RunRecord, InspectError> {
        let (mut runs, _) = self.runs()?;
        let dir = self.dir().to_owned();
        match asked {
            Some(asked) => {
                let id = super::resolve_run(asked, runs.iter().map(|r| r.run_id.as_str()), &dir)?;
                Ok(runs.into_iter().find(|r| r.run_id == id).expect("resolved among these runs"))
            }
            None => runs.pop().ok_or(InspectError::NoRuns { dir }),
        }
    }

    /// A run's events, in order, with their sequence numbers.
    pub fn journal(&mut self, run: &str) -> Result<Vec<(u64, Event)>, InspectError> {
        loop {
            match self {
                Source::Empty(_) => return Ok(Vec::new()),
                Source::Store(store) => return super::journal(store, run),
                Source::Live { dir, client } => {
                    let request = Request::Journal { run: run.to_owned(), from: 1 };
                    match read_journal(client, &request, run, dir)? {
                        Live::Answer(events) => return Ok(events),
                        Live::Gone => self.reopen()?,
                    }
                }
            }
        }
    }

    /// The snapshots of `run`, or of every run, oldest first.
    pub fn snapshots(&mut self, run: Option<&str>) -> Result<Vec<Snapshot>, InspectError> {
        loop {
            match self {
                Source::Empty(_) => return Ok(Vec::new()),
                Source::Store(store) => return store.snapshots(run).map_err(InspectError::Store),
                Source::Live { dir, client } => {
                    match gone(client.request(&Request::Snapshots { run: run.map(str::to_owned) }))? {
                        Live::Answer(Reply::Snapshots { snapshots }) => {
                            return snapshots.into_iter().map(decode).collect();
                        }
                        Live::Answer(Reply::Unreadable { message }) => return Err(unreadable(dir, message)),
                        Live::Answer(other) => return Err(unexpected(&other)),
                        Live::Gone => self.reopen()?,
                    }
                }
            }
        }
    }

    /// The stored workflow definition with this hash.
    pub fn definition(&mut self, hash: &str) -> Result<Option<StoredDefinition>, InspectError> {
        loop {
            match self {
                Source::Empty(_) => return Ok(None),
                Source::Store(store) => return store.definition(hash).map_err(InspectError::Store),
                Source::Live { dir, client } => {
                    match gone(client.request(&Request::Definition { hash: hash.to_owned() }))? {
                        Live::Answer(Reply::Definition { definition }) => {
                            return definition.map(decode).transpose();
                        }
                        Live::Answer(Reply::Unreadable { message }) => return Err(unreadable(dir, message)),
                        Live::Answer(other) => return Err(unexpected(&other)),
                        Live::Gone => self.reopen()?,
                    }
                }
            }
        }
    }
}

/// Reads a journal the loop streams as `event` replies up to `end`.
fn read_journal(
    client: &mut Client,
    request: &Request,
    run: &str,
    dir: &Path,
) -> Result<Live<Vec<(u64, Event)>>, InspectError> {
    let mut reply = match gone(client.request(request))? {
        Live::Answer(reply) => reply,
        Live::Gone => return Ok(Live::Gone),
    };
    let mut events = Vec::new();
    loop {
        match reply {
            Reply::Event { seq, event } => {
                let event = serde_json::from_value(event).map_err(|e| {
                    InspectError::Journal(JournalError::Corrupt {
                        run: run.to_owned(),
                        seq,
                        detail: e.to_string(),
                    })
                })?;
                events.push((seq, event));
            }
            Reply::End => return Ok(Live::Answer(events)),
            Reply::Unreadable { message } => return Err(unreadable(dir, message)),
            other => return Err(unexpected(&other)),
        }
        reply = match gone(client.read_reply())? {
            Live::Answer(Some(reply)) => reply,
            Live::Answer(None) | Live::Gone => return Ok(Live::Gone),
        };
    }
}
