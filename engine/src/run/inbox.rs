//! A run's control inbox: how `ralph-loop approve` and `reject` reach a running loop.
//!
//! A message is one JSON file in `.ralph/runs/<run-id>/inbox/`, written to a temporary name and
//! renamed into place, so the runner never reads half a message. The runner takes messages in
//! name order (names start with a nanosecond timestamp) and moves each to `inbox/done/` once it
//! has acted on it, so a message is acted on once and kept as a record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A message to a running loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `approve` or `reject`.
    pub signal: String,
    /// The reviewer's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Approved on condition that the comment's changes are made (`approved_with_changes`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_changes: bool,
    /// Who sent it (the `USER` of the sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When, RFC 3339.
    pub at: String,
}

/// The inbox directory of a run directory.
pub fn dir(run_dir: &Path) -> PathBuf {
    run_dir.join("inbox")
}

/// Delivers a message to the run kept in `run_dir`.
pub fn send(run_dir: &Path, message: &Message) -> std::io::Result<PathBuf> {
    let inbox = dir(run_dir);
    std::fs::create_dir_all(&inbox)?;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let name = format!("{nanos:024}-{}-{}.json", message.signal, std::process::id());
    let tmp = inbox.join(format!(".{name}.tmp"));
    let json = serde_json::to_vec_pretty(message).map_err(std::io::Error::other)?;
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    let path = inbox.join(name);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Takes the oldest message, if any: read, then moved to `inbox/done/`. A file that is not a
/// message is moved to `inbox/rejected/` so it is not read again.
pub fn take(run_dir: &Path) -> Option<Message> {
    let inbox = dir(run_dir);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&inbox)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    names.sort();
    for path in names {
        let parsed = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Message>(&b).ok());
        let to = inbox.join(if parsed.is_some() { "done" } else { "rejected" });
        let _ = std::fs::create_dir_all(&to);
        if let Some(name) = path.file_name() {
            let _ = std::fs::rename(&path, to.join(name));
        }
        if parsed.is_some() {
            return parsed;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_taken_once_in_the_order_sent() {
        let dir = tempfile::tempdir().unwrap();
        let message = |signal: &str| Message {
            signal: signal.into(),
            comment: None,
            with_changes: false,
            by: None,
            at: "2026-01-01T00:00:00Z".into(),
        };
        send(dir.path(), &message("reject")).unwrap();
        send(dir.path(), &message("approve")).unwrap();
        std::fs::write(super::dir(dir.path()).join("0-junk.json"), "not json").unwrap();
        assert_eq!(take(dir.path()).unwrap().signal, "reject");
        assert_eq!(take(dir.path()).unwrap().signal, "approve");
        assert_eq!(take(dir.path()), None);
        assert_eq!(std::fs::read_dir(super::dir(dir.path()).join("done")).unwrap().count(), 2);
        assert!(super::dir(dir.path()).join("rejected/0-junk.json").exists());
    }
}
