//! `reset`: what it removes — the loop's state, never the project — and removing it.
//!
//! The loop's state is everything under `.ralph/` (the engine's own directory, ignored by git as
//! `init` sets it up) plus the run store when `--state-dir` puts it elsewhere: the store, the
//! ledger (breaker state, spend counters), the per-run directories (packets, prompts, agent
//! logs, review inboxes) and whatever control files a loop left there (pause, hints). The
//! project — `ralph.yaml`, prompts, workflows, task files, `AGENTS.md`, git — is not touched.
//!
//! It runs under the loop lock, so no loop can start while the state is removed, and a loop
//! that is running refuses the reset (naming its pid). The lock file itself stays: a lock is an
//! `flock` on that very file, and removing it while held would let a second owner lock a new
//! file of the same name. Everything else goes; the next `loop` creates a new store.

use std::path::{Path, PathBuf};

use crate::store::lock::{LockError, LoopLock};

/// Why the reset did not happen (or not completely).
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// A loop holds the state directory.
    #[error(
        "a loop is running on `{}`{}, and reset would remove the state it is using; stop it first{}, then reset — nothing was removed",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        pid.map(|p| format!(" (Ctrl-C in its terminal, or `kill {p}`)")).unwrap_or_default()
    )]
    LoopRunning {
        /// The state directory.
        dir: PathBuf,
        /// Its pid.
        pid: Option<u32>,
    },
    /// A file could not be removed or read.
    #[error("cannot remove `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One thing the reset removes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Where it is.
    pub path: PathBuf,
    /// What it is, for people.
    pub what: String,
}

/// What a reset removes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetPlan {
    /// The state directory (its lock file stays).
    pub state_dir: PathBuf,
    /// What goes, in the order it is removed.
    pub items: Vec<Item>,
}

/// What a reset keeps, for people.
pub const KEEPS: &[&str] = &[
    "ralph.yaml, AGENTS.md, prompts and workflows",
    "task files (TODO.md, tasks.json, kanban.json), with their tasks marked as they are",
    "the git repository: commits, branches, the work tree",
];

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

/// The ledger, in a few words: what forgetting it means.
fn ledger_words(path: &Path) -> String {
    match crate::run::ledger::load(path) {
        Ok(ledger) => {
            let state = serde_json::to_value(ledger.breaker.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let open =
                ledger.agents.values().filter(|b| b.state != crate::policy::breaker::BreakerState::Closed);
            let agents = match open.count() {
                0 => String::new(),
                n => format!(", {} of agents", plural(n, "open breaker")),
            };
            format!(
                "the ledger: circuit breaker {state}{agents}; spend {} tokens, ${:.4}, {} AI invocations",
                ledger.tokens, ledger.cost_usd, ledger.ai_invocations
            )
        }
        Err(_) => "the ledger (breaker state and spend counters; unreadable)".to_owned(),
    }
}

impl ResetPlan {
    /// Looks at what there is to remove; removes nothing.
    pub fn survey(project_dir: &Path, state_dir: &Path) -> ResetPlan {
        let ralph = project_dir.join(".ralph");
        let mut items = Vec::new();
        let store_entries = std::fs::read_dir(state_dir)
            .map(|entries| entries.filter_map(Result::ok).filter(|e| e.file_name() != "loop.lock").count())
            .unwrap_or(0);
        if store_entries > 0 {
            items.push(Item {
                path: state_dir.to_owned(),
                what: "the run store: every run's record and journal (`runs`, `logs`, `debug`, `inspect` and `resume` read it)".into(),
            });
        }
        let ledger = crate::run::ledger::path(project_dir);
        if exists(&ledger) {
            items.push(Item { path: ledger.clone(), what: ledger_words(&ledger) });
        }
        let runs = ralph.join("runs");
        if exists(&runs) {
            let count = crate::run::runner::run_ids(&runs).map(|ids| ids.len()).unwrap_or(0);
            items.push(Item {
                path: runs.clone(),
                what: format!(
                    "{}: steering packets, prompts, agent logs, results, review inboxes",
                    if count == 1 {
                        "1 run directory".to_owned()
                    } else {
                        format!("{count} run directories")
                    }
                ),
            });
        }
        // Anything else under `.ralph/` is loop state too (pause and hint files, logs).
        if let Ok(entries) = std::fs::read_dir(&ralph) {
            let mut others: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    *p != runs && *p != ledger && !state_dir.starts_with(p) && !p.starts_with(state_dir)
                })
                .collect();
            others.sort();
            for path in others {
                items.push(Item { path, what: "other loop state (control files: pause, hints)".into() });
            }
        }
        ResetPlan { state_dir: state_dir.to_owned(), items }
    }

    /// Whether there is nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes the loop lock: no loop runs while it is held, and none can start.
    pub fn lock(&self) -> Result<LoopLock, ResetError> {
        LoopLock::acquire(&self.state_dir).map_err(|e| match e {
            LockError::Held(pid) => ResetError::LoopRunning { dir: self.state_dir.clone(), pid },
            LockError::Io(source) => ResetError::Io { path: self.state_dir.clone(), source },
        })
    }

    /// Removes everything the plan lists. It needs the lock (`lock`), so no loop can be using
    /// what it removes.
    pub fn perform(&self, _lock: &LoopLock) -> Result<(), ResetError> {
        for item in &self.items {
            if item.path == self.state_dir {
                // The store's files, but not the lock file held while removing them.
                let entries = std::fs::read_dir(&item.path)
                    .map_err(|source| ResetError::Io { path: item.path.clone(), source })?;
                for entry in entries.filter_map(Result::ok).filter(|e| e.file_name() != "loop.lock") {
                    remove(&entry.path())?;
                }
            } else {
                remove(&item.path)?;
            }
        }
        Ok(())
    }
}

fn remove(path: &Path) -> Result<(), ResetError> {
    let result = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|source| ResetError::Io { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_removes_loop_state_keeps_the_project_and_the_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (name, text) in [
            ("ralph.yaml", "x"),
            ("TODO.md", "- [x] T-1: a\n"),
            (".ralph/ledger.json", "{\"tokens\": 5}"),
            (".ralph/runs/20260101000000-abcd/steps/0001-a.log", "x"),
            (".ralph/state/db/conf", "x"),
            (".ralph/pause", ""),
        ] {
            std::fs::create_dir_all(p.join(name).parent().unwrap()).unwrap();
            std::fs::write(p.join(name), text).unwrap();
        }
        let state = p.join(".ralph/state");
        let plan = ResetPlan::survey(p, &state);
        let paths: Vec<_> = plan.items.iter().map(|i| i.path.strip_prefix(p).unwrap().to_owned()).collect();
        assert_eq!(
            paths,
            [".ralph/state", ".ralph/ledger.json", ".ralph/runs", ".ralph/pause"].map(PathBuf::from)
        );
        assert!(plan.items[1].what.contains("5 tokens"), "{}", plan.items[1].what);
        assert!(plan.items[2].what.starts_with("1 run directory:"), "{}", plan.items[2].what);
        let lock = plan.lock().unwrap();
        assert!(matches!(plan.lock(), Err(ResetError::LoopRunning { pid: Some(_), .. })));
        plan.perform(&lock).unwrap();
        assert!(p.join("ralph.yaml").exists() && p.join("TODO.md").exists());
        assert!(!p.join(".ralph/runs").exists() && !p.join(".ralph/ledger.json").exists());
        assert!(!p.join(".ralph/pause").exists() && !state.join("db").exists());
        assert!(state.join("loop.lock").exists());
        drop(lock);
        assert!(ResetPlan::survey(p, &state).is_empty());
    }
}
