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
    raw_frame(kind, id, &data.to_string())
}

/// An SSE frame around JSON already written (compact JSON has no raw newline).
fn raw_frame(kind: &str, id: Option<u64>, json: &str) -> Bytes {
    let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
    Bytes::from(format!("event: {kind}\n{id}data: {json}\n\n"))
}

/// The sequence number and the event's JSON of a socket line that is an event
/// (`{"reply":"event","seq":N,"event":{…}}`, the way the loop writes them), without parsing the
/// event: the feed passes it on as it came. Any other line is `None`, and parsed whole.
fn event_line(line: &str) -> Option<(u64, &str)> {
    let rest = line.strip_prefix(r#"{"reply":"event","seq":"#)?;
    let (seq, rest) = rest.split_once(',')?;
    let event = rest.strip_prefix(r#""event":"#)?.trim_end().strip_suffix('}')?;
    Some((seq.parse().ok()?, event))
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
        let mut line = String::new();
        loop {
            let reply = match next.take() {
                Some(reply) => reply,
                None => {
                    line.clear();
                    if !matches!(client.read_line(&mut line), Ok(true)) {
                        break;
                    }
                    if let Some((seq, event)) = event_line(&line) {
                        self.publish(raw_frame("event", Some(seq), event), true);
                        continue;
                    }
                    match serde_json::from_str(&line) {
                        Ok(reply) => reply,
                        Err(_) => break,
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_is_passed_on_as_the_frame_a_parsed_one_makes() {
        let event = serde_json::json!({"event": "warning", "message": "a } and a \"quote\"\nline", "at": ""});
        let line =
            format!("{}\n", serde_json::to_string(&Reply::Event { seq: 7, event: event.clone() }).unwrap());
        let (seq, json) = event_line(&line).expect("an event line");
        assert_eq!(seq, 7);
        assert_eq!(raw_frame("event", Some(seq), json), frame("event", Some(7), &event));
        assert_eq!(event_line("{\"reply\":\"end\"}\n"), None);
        assert_eq!(event_line("{\"reply\":\"event\",\"seq\":x,\"event\":{}}\n"), None);
    }
}
