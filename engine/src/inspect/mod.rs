//! Looking back at runs: what the store and a run's files say happened, for `runs`, `debug`,
//! `inspect`, `traces`, `metrics`, `logs`, `snapshots` and `reset`.
//!
//! Everything here reads what runs leave behind — the run records and journals in the store,
//! the files under `.ralph/runs/<id>/` — and never a running loop's memory: the journal is the
//! run (see `run::resume`), so what is shown is what `resume` would act on. While a loop runs
//! it holds the store, and serves the same records from it over its control socket
//! (`archive.rs` its side, `source.rs` the reader's). This module decides nothing about how
//! things look; `cli/` renders what it returns.
//!
//! **Architecture invariant:** inspection only reads. `reset` is the one writer here, and it
//! only removes whole files and directories of loop state, under the loop lock.

pub mod files;
pub mod history;
pub mod iteration;
pub mod phase;
pub mod plan;
pub mod reset;
pub mod runs;
pub mod source;
pub mod status;
pub mod tasks;
pub mod trace;

use std::path::{Path, PathBuf};

use crate::store::{Store, StoreError};

/// Why a run cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// A loop holds the store: sled and the loop lock let one process in at a time.
    #[error(
        "a loop is running on `{}`{}, and it holds the run store until it ends; `ralph-loop status` shows what it is doing — inspect its runs once it has ended (or stop it first)",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    LoopRunning {
        /// The state directory.
        dir: PathBuf,
        /// The loop's pid.
        pid: Option<u32>,
    },
    /// The store cannot be read.
    #[error(transparent)]
    Store(StoreError),
    /// A journal cannot be read.
    #[error(transparent)]
    Journal(#[from] crate::store::JournalError),
    /// The store holds no run at all.
    #[error("there are no runs in `{}` yet; `ralph-loop loop` starts one", dir.display())]
    NoRuns {
        /// The state directory.
        dir: PathBuf,
    },
    /// The running loop cannot be asked.
    #[error(transparent)]
    Live(crate::control::ControlError),
    /// A prefix of more than one run's id.
    #[error(
        "`{run}` is the start of {} runs' ids in `{}`: {}{}; give more of the id",
        matches.len(),
        dir.display(),
        quoted(&matches[..matches.len().min(5)]),
        if matches.len() > 5 { ", …" } else { "" }
    )]
    AmbiguousRun {
        /// What was asked for.
        run: String,
        /// The state directory.
        dir: PathBuf,
        /// The ids it starts, newest first.
        matches: Vec<String>,
    },
    /// The run asked for is not in the store.
    #[error("there is no run `{run}` in `{}`{}", dir.display(), known_runs(known))]
    UnknownRun {
        /// The run asked for.
        run: String,
        /// The state directory.
        dir: PathBuf,
        /// The newest runs' ids.
        known: Vec<String>,
    },
    /// The store does not hold the definition a run ran.
    #[error("the store does not hold the definition run {run} ran ({hash})")]
    NoDefinition {
        /// The run.
        run: String,
        /// The definition's hash.
        hash: String,
    },
    /// The run has no such iteration.
    #[error("run {run} has no iteration {asked}; {}", iterations(known))]
    UnknownIteration {
        /// The run.
        run: String,
        /// The iteration asked for.
        asked: u32,
        /// The iterations it has.
        known: Vec<u32>,
    },
    /// No execution of the phase was journaled.
    #[error("{}", phase::unknown_message(phase, scope, suggestion.as_deref(), known))]
    UnknownPhase {
        /// The phase asked for.
        phase: String,
        /// `run <id>` or `any run`.
        scope: String,
        /// The closest phase name that did run.
        suggestion: Option<String>,
        /// Every phase that ran.
        known: Vec<String>,
    },
}

fn known_runs(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!("; the latest are {} (`ralph-loop runs` lists them all)", quoted(known))
    }
}

fn iterations(known: &[u32]) -> String {
    match known {
        [] => "it has none (it ended before its first iteration)".to_owned(),
        [only] => format!("it has iteration {only} only"),
        [first, .., last] if usize::try_from(last - first).ok() == Some(known.len() - 1) => {
            format!("it has iterations {first} to {last}")
        }
        _ => format!(
            "it has iterations {}",
            known.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Names in backticks, separated by commas.
pub(crate) fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The id of the run `asked` names among `ids` (oldest first): its id, or a prefix of only
/// its id — a run id is long to type, and its first characters are its start time.
pub fn resolve_run<'a>(
    asked: &str,
    ids: impl IntoIterator<Item = &'a str>,
    dir: &Path,
) -> Result<String, InspectError> {
    let ids: Vec<&str> = ids.into_iter().collect();
    if ids.contains(&asked) {
        return Ok(asked.to_owned());
    }
    let matches: Vec<String> = ids
        .iter()
        .rev()
        .filter(|id| !asked.is_empty() && id.starts_with(asked))
        .map(|id| (*id).to_owned())
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one match")),
        0 => Err(InspectError::UnknownRun {
            run: asked.to_owned(),
            dir: dir.to_owned(),
            known: ids.iter().rev().take(3).map(|id| (*id).to_owned()).collect(),
        }),
        _ => Err(InspectError::AmbiguousRun { run: asked.to_owned(), dir: dir.to_owned(), matches }),
    }
}

/// The events of a run's journal, in order, with their sequence numbers.
pub fn journal(store: &Store, run: &str) -> Result<Vec<(u64, crate::run::core::event::Event)>, InspectError> {
    Ok(store.journal(run).map_err(InspectError::Store)?.read(1)?)
}

/// Milliseconds between two RFC 3339 times, when both parse and the second is not earlier.
pub fn millis_between(from: &str, to: &str) -> Option<u64> {
    let from = humantime::parse_rfc3339_weak(from).ok()?;
    let to = humantime::parse_rfc3339_weak(to).ok()?;
    // Journal times are to the second and a run's start to the millisecond: an end in the
    // start's second may read as before it, which is no time at all.
    match to.duration_since(from) {
        Ok(d) => Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        Err(e) if e.duration() < std::time::Duration::from_secs(1) => Some(0),
        Err(_) => None,
    }
}

/// A duration for people: `350ms`, `1.2s`, `42s`, `3m 05s`, `1h 02m`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..10_000 => format!("{:.1}s", ms as f64 / 1000.0),
        10_000..60_000 => format!("{}s", ms / 1000),
        60_000..3_600_000 => format!("{}m {:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h {:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_named_by_its_id_or_a_prefix_of_only_its_id() {
        let ids = ["0190aa00-0000-7000-8000-000000000001", "0190aa00-0000-7000-8000-000000000002", "0190bb"];
        let dir = Path::new("s");
        assert_eq!(resolve_run("0190b", ids, dir).unwrap(), "0190bb");
        assert_eq!(resolve_run(ids[1], ids, dir).unwrap(), ids[1]);
        let err = resolve_run("0190", ids, dir).unwrap_err();
        assert!(matches!(&err, InspectError::AmbiguousRun { matches, .. } if matches.len() == 3), "{err}");
        assert!(
            err.to_string().starts_with("`0190` is the start of 3 runs' ids in `s`: `0190bb`, "),
            "{err}"
        );
        assert!(err.to_string().ends_with("; give more of the id"), "{err}");
        let err = resolve_run("x", ids, dir).unwrap_err();
        assert!(matches!(err, InspectError::UnknownRun { .. }), "{err}");
        assert!(err.to_string().contains("the latest are `0190bb`"), "{err}");
        assert!(matches!(resolve_run("", ids, dir), Err(InspectError::UnknownRun { .. })));
    }

    #[test]
    fn durations_read_like_a_person_would_write_them() {
        assert_eq!(human_ms(350), "350ms");
        assert_eq!(human_ms(1_234), "1.2s");
        assert_eq!(human_ms(42_900), "42s");
        assert_eq!(human_ms(185_000), "3m 05s");
        assert_eq!(human_ms(3_720_000), "1h 02m");
    }

    #[test]
    fn missing_iterations_are_told_as_a_range_or_a_list() {
        assert_eq!(iterations(&[1, 2, 3]), "it has iterations 1 to 3");
        assert_eq!(iterations(&[2]), "it has iteration 2 only");
        assert_eq!(iterations(&[1, 3]), "it has iterations 1, 3");
        assert!(iterations(&[]).contains("none"));
    }

    #[test]
    fn durations_come_from_rfc3339_times() {
        assert_eq!(millis_between("2026-01-01T00:00:00Z", "2026-01-01T00:01:02Z"), Some(62_000));
        assert_eq!(millis_between("2026-01-01T00:00:02Z", "2026-01-01T00:00:01Z"), None);
        // A millisecond start and an end to the second, in the same second.
        assert_eq!(millis_between("2026-01-01T00:00:01.700Z", "2026-01-01T00:00:01Z"), Some(0));
        assert_eq!(millis_between("x", "2026-01-01T00:00:01Z"), None);
    }
}
