//! The run's side of learnings: what a step reported (its result file's `learnings`, the
//! bullets it appended to `.ralph/learnings.md`) is kept in the project's store and journaled;
//! the most relevant of the store go into the packet of each later task.
//!
//! The ranking and the store are `task::learnings`; this is the shell around them: the files.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ralph_plugin_sdk::{Learning, Message, SteeringPacket};

use super::core::event::Event;
use super::core::outcome::Outcome;
use super::runner::Runner;
use crate::task::learnings::{self, Source};

/// The most bytes of `.ralph/learnings.md` read after a step.
const MAX_APPENDED_BYTES: u64 = 64 * 1024;

/// Where a project keeps its learnings, and how much of `.ralph/learnings.md` was read.
#[derive(Debug)]
pub struct ProjectLearnings {
    store: PathBuf,
    markdown: PathBuf,
    /// The length of `.ralph/learnings.md` when it was last read; what follows was appended
    /// since. `None` until the first step starts (then its length at that moment: what was
    /// there before the run is not taken again).
    seen: Option<u64>,
}

impl ProjectLearnings {
    /// The learnings of the project in `project_dir`.
    pub fn new(project_dir: &Path) -> Self {
        Self {
            store: learnings::path(project_dir),
            markdown: learnings::markdown_path(project_dir),
            seen: None,
        }
    }

    /// Notes the length of `.ralph/learnings.md` before the first step.
    fn mark(&mut self) {
        if self.seen.is_none() {
            self.seen = Some(std::fs::metadata(&self.markdown).map_or(0, |m| m.len()));
        }
    }

    /// The learnings appended to `.ralph/learnings.md` since it was last read (a file made
    /// shorter is read again from its start).
    fn appended(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.markdown) else {
            self.seen = Some(0);
            return Vec::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        let from = self.seen.filter(|&s| s <= len).unwrap_or(0);
        self.seen = Some(len);
        if len == from || file.seek(SeekFrom::Start(from)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        let _ = file.take(MAX_APPENDED_BYTES).read_to_end(&mut bytes);
        learnings::from_markdown(&String::from_utf8_lossy(&bytes))
    }
}

impl Runner {
    /// Before a step: notes what `.ralph/learnings.md` holds already.
    pub(super) fn mark_learnings(&mut self) {
        if let Some(project) = &mut self.learnings {
            project.mark();
        }
    }

    /// After a step, before it is journaled: the bullets it appended to `.ralph/learnings.md`
    /// join the learnings of its result file.
    pub(super) fn gather_learnings(&mut self, outcome: &mut Outcome) {
        if let Some(project) = &mut self.learnings {
            for text in project.appended() {
                if outcome.learnings.len() < learnings::MAX_PER_STEP && !outcome.learnings.contains(&text) {
                    outcome.learnings.push(text);
                }
            }
        }
    }

    /// After a step is journaled: its learnings are kept in the project's store (a repeat
    /// counted once more) and each is journaled as `learning_reported`.
    pub(super) fn keep_learnings(&mut self, step: &str, outcome: &Outcome) {
        let Some(project) = &self.learnings else { return };
        if outcome.learnings.is_empty() {
            return;
        }
        let path = project.store.clone();
        let task = self.state.pass().and_then(|p| p.task.as_ref()).map(|t| t.id.clone());
        let at = self.now();
        let mut store = match learnings::load(&path) {
            Ok(store) => Some(store),
            Err(e) => {
                self.emit(&Event::Warning {
                    message: format!("the learnings of `{step}` are not kept: {e}"),
                    at: at.clone(),
                });
                None
            }
        };
        let mut reported = Vec::new();
        for text in &outcome.learnings {
            let source = Source { run: self.state.run_id.clone(), step: step.to_owned(), task: task.clone() };
            let id = store.as_mut().and_then(|s| s.record(text, source, &at)).unwrap_or_default();
            reported.push((id, text.clone()));
        }
        if let Some(store) = &store {
            if let Err(e) = learnings::save(&path, store) {
                self.emit(&Event::Warning {
                    message: format!("the learnings of `{step}` are not kept: `{}`: {e}", path.display()),
                    at: at.clone(),
                });
                reported.iter_mut().for_each(|(id, _)| id.clear());
            }
        }
        for (id, text) in reported {
            self.emit(&Event::LearningReported {
                step: step.to_owned(),
                task: task.clone(),
                id,
                text,
                at: at.clone(),
            });
        }
    }

    /// Puts the learnings most relevant to the packet's task into it: its `learnings` and, as
    /// `memory` messages, its `prior_thread`. A packet without a task gets none.
    pub(super) fn add_learnings(&self, packet: &mut SteeringPacket) {
        let (Some(project), Some(task)) = (&self.learnings, &packet.context.current_task) else { return };
        // An unreadable store was said when a step tried to keep a learning; a packet goes
        // without.
        let Ok(store) = learnings::load(&project.store) else { return };
        if store.learnings.is_empty() {
            return;
        }
        let files: Vec<String> = task.spec_ref.iter().cloned().collect();
        let title =
            self.state.pass().and_then(|p| p.task.as_ref()).map(|t| t.title.clone()).unwrap_or_default();
        let query = learnings::query_of(&title, &task.description, &task.acceptance_criteria, &files);
        for learning in store.relevant(&query) {
            let source = learning.source.task.clone();
            packet.context.prior_thread.push(Message::new(
                "memory",
                match &source {
                    Some(task) => format!("{} (learnt in task {task}): {}", learning.id, learning.text),
                    None => format!("{}: {}", learning.id, learning.text),
                },
            ));
            packet.context.learnings.push(Learning {
                id: learning.id.clone(),
                text: learning.text.clone(),
                task: source,
                count: learning.count,
            });
        }
    }
}
