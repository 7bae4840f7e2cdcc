//! Live control of a running loop: the channel other invocations (`ralph-loop pause`, `hint`,
//! `status`, `logs --follow`, …) reach it through, since a running loop owns the run store and
//! nobody else may open it.
//!
//! The channel is a Unix socket in the state directory (`<state>/control.sock`, owner-only),
//! speaking JSON lines ([`protocol`]). The loop serves it ([`server`]) and hands signals to the
//! runner, which journals each one before acting on it; the CLI talks to it through
//! [`client`]. This module knows nothing of plans, agents or the store: the runner gives the
//! server what it may show (a status snapshot, the events it emits, a reader of past events).

pub mod client;
pub mod peer;
pub mod protocol;
pub mod server;

use std::path::{Path, PathBuf};

pub use protocol::{LiveStatus, Reply, Request, Signal};

/// The socket's file name in the state directory.
pub const SOCKET: &str = "control.sock";

/// The longest socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The control socket of a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// What can go wrong on the control channel.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The socket path does not fit in a `sockaddr_un`.
    #[error(
        "the control socket path `{path}` is {len} bytes, longer than the {max} a Unix socket allows; use a shorter `--state-dir`"
    )]
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Another process answers on the socket.
    #[error("another loop answers on `{0}`")]
    InUse(PathBuf),
    /// The socket cannot be created, reached, read or written.
    #[error("the control socket `{path}`: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The other side said something that is not the protocol.
    #[error("the loop's answer is not understood: {0}")]
    Protocol(String),
    /// The loop closed the connection without answering (it ended meanwhile).
    #[error("the loop closed the control connection without answering (did it just end?)")]
    Closed,
}

fn check_len(path: &Path) -> Result<(), ControlError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ControlError::PathTooLong { path: path.to_owned(), len, max: MAX_SOCKET_PATH });
    }
    Ok(())
}
