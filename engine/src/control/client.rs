//! The other side of the control channel: how `ralph-loop pause`, `status`, `logs --follow`
//! and the rest reach a running loop. Blocking, since the CLI is.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{Reply, Request};
use super::{ControlError, check_len, socket_path};

/// A connection that broke: `Closed` when the other side went away, else the error.
fn broken(path: &Path, source: std::io::Error) -> ControlError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    match source.kind() {
        BrokenPipe | ConnectionReset | UnexpectedEof => ControlError::Closed,
        _ => ControlError::Io { path: path.to_owned(), source },
    }
}

/// Asks the loop running on `state_dir` one thing. `None` when no loop answers: there is no
/// socket, a stale one, or the loop died before answering (it was killed as we asked).
pub fn ask(state_dir: &Path, request: &Request) -> Result<Option<Reply>, ControlError> {
    let Some(mut client) = Client::connect(state_dir)? else { return Ok(None) };
    match client.request(request) {
        Ok(reply) => Ok(Some(reply)),
        Err(ControlError::Closed) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How long a request waits for its answer. The loop answers a signal at its next check —
/// between steps, or at once while it waits on a step — so this only bounds a hung loop.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// A connection to a running loop.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the loop that owns `state_dir`. `None` when no loop runs there: no socket, or
    /// one left by a killed loop that nobody answers on.
    pub fn connect(state_dir: &Path) -> Result<Option<Client>, ControlError> {
        let path = socket_path(state_dir);
        check_len(&path)?;
        let io = |source| ControlError::Io { path: path.clone(), source };
        let stream = match UnixStream::connect(&path) {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        };
        stream.set_read_timeout(Some(ANSWER_WITHIN)).map_err(io)?;
        let reader = BufReader::new(stream.try_clone().map_err(io)?);
        Ok(Some(Client { path, writer: stream, reader }))
    }

    /// Sends a request and reads its (first) answer. A connection that breaks before the
    /// answer (the loop was killed meanwhile) is [`ControlError::Closed`].
    pub fn request(&mut self, request: &Request) -> Result<Reply, ControlError> {
        let mut line = serde_json::to_vec(request).map_err(|e| ControlError::Protocol(e.to_string()))?;
        line.push(b'\n');
        if let Err(source) = self.writer.write_all(&line) {
            return Err(broken(&self.path, source));
        }
        match self.read_reply() {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(ControlError::Closed),
            Err(ControlError::Io { source, .. }) => Err(broken(&self.path, source)),
            Err(e) => Err(e),
        }
    }

    /// Subscribes to the run's events from sequence number `from`: read them with
    /// [`Client::read_reply`] until [`Reply::End`].
    pub fn subscribe(&mut self, from: u64, follow: bool) -> Result<Reply, ControlError> {
        // A quiet loop may go a long time between events.
        if follow {
            let _ = self.writer.set_read_timeout(None);
        }
        self.request(&Request::Subscribe { from, follow })
    }

    /// The next answer, or `None` when the loop closed the connection.
    pub fn read_reply(&mut self) -> Result<Option<Reply>, ControlError> {
        let mut line = String::new();
        if !self.read_line(&mut line)? {
            return Ok(None);
        }
        serde_json::from_str(&line).map(Some).map_err(|e| ControlError::Protocol(format!("{e}: {line}")))
    }

    /// The next answer's line as it came (JSON and its newline), appended to `line`: for a
    /// reader that passes events on without parsing them; `false` when the loop closed the
    /// connection.
    pub fn read_line(&mut self, line: &mut String) -> Result<bool, ControlError> {
        match self.reader.read_line(line) {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err(ControlError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!(
                        "the loop did not answer within {} s",
                        ANSWER_WITHIN.as_secs()
                    )),
                })
            }
            Err(source) => Err(ControlError::Io { path: self.path.clone(), source }),
        }
    }
}
