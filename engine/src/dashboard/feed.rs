//! The live feed: one subscription to the running loop's events, however many pages are open.
//!
//! A thread connects to the loop's control socket, subscribes to the run's journal from its
//! first event and turns each event into a server-sent-events frame: kept (so a page that
//! opens later gets the run so far) and broadcast to the pages open now. When the loop ends,
//! or none runs, it looks for one again every 100 ms (a failed connect on a missing socket costs a system call): a page stays open across a loop's
//! restart and picks the next run up by itself. The loop serves one subscriber for the
//! dashboard, not one per page.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::sync::broadcast;

use crate::control::Reply;
use crate::control::client::Client;

/// How often the feed looks for a loop when none runs.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// How many frames a slow page may fall behind before it is told to reload.
const CHANNEL: usize = 4096;

/// The frames of the current (or last) run, and the pages' channel.
#[derive(Debug)]
pub struct Feed {
    frames: Mutex<Frames>,
    sender: broadcast::Sender<Bytes>,
}

#[derive(Debug, Default)]
struct Frames {
    /// The run the frames are of.
    run: Option<String>,
    /// Its events as SSE frames, in journal order.
    events: Vec<Bytes>,
}

/// An SSE frame: `event: <kind>`, an id when there is one, and one `data:` line of JSON.
pub fn frame(kind: &str, id: Option<u64>, data: &serde_json::Value) -> Bytes {
    let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
    Bytes::from(format!("event: {kind}\n{id}data: {data}\n\n"))
}

impl Feed {
    /// Starts the feed of the loop on `state_dir`.
    pub fn start(state_dir: PathBuf) -> Arc<Feed> {
        let (sender, _) = broadcast::channel(CHANNEL);
        let feed = Arc::new(Feed { frames: Mutex::new(Frames::default()), sender });
        let weak = Arc::downgrade(&feed);
        std::thread::Builder::new()
            .name("dashboard-feed".into())
            .spawn(move || {
                // Ends with the last page's server: the feed is dropped with it.
                while let Some(feed) = weak.upgrade() {
                    match Client::connect(&state_dir) {
                        Ok(Some(client)) => feed.follow(client),
                        _ => {
                            drop(feed);
                            std::thread::sleep(LOOK_EVERY);
                        }
                    }
                }
            })
            .expect("a thread starts");
        feed
    }

    /// The frames so far (of the run they are of) and the channel of those to come: taken
    /// together, so that no frame falls between them.
    pub fn join(&self) -> (Vec<Bytes>, broadcast::Receiver<Bytes>) {
        let frames = self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (frames.events.clone(), self.sender.subscribe())
    }

    fn publish(&self, frame: Bytes, keep: bool) {
        let mut frames = self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if keep {
            frames.events.push(frame.clone());
        }
        // No page open: nobody to tell.
        let _ = self.sender.send(frame);
    }

    /// Follows the loop's run until it ends or the loop goes away.
    fn follow(&self, mut client: Client) {
        let run = match client.request(&crate::control::Request::Status) {
            Ok(Reply::Status { status }) => status.run_id,
            _ => return,
        };
        {
            let mut frames = self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            frames.run = Some(run.clone());
            frames.events.clear();
        }
        // Kept too: a page that opens later learns which run the events are of first.
        self.publish(frame("run", None, &serde_json::json!({"run_id": run, "live": true})), true);
        let mut next = match client.subscribe(1, true) {
            Ok(reply) => Some(reply),
            Err(_) => return,
        };
        loop {
            let reply = match next.take() {
                Some(reply) => reply,
                None => match client.read_reply() {
                    Ok(Some(reply)) => reply,
                    Ok(None) | Err(_) => break,
                },
            };
            match reply {
                Reply::Event { seq, event } => self.publish(frame("event", Some(seq), &event), true),
                Reply::Lagged { missed } => {
                    self.publish(frame("lagged", None, &serde_json::json!({ "missed": missed })), false);
                }
                Reply::End => break,
                _ => {}
            }
        }
        self.publish(frame("end", None, &serde_json::json!({ "run_id": run })), false);
    }
}
