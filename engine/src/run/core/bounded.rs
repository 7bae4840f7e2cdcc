//! Bounds on what an agent says, applied to an outcome before it is journaled: its summary,
//! named result, error and logs are cut to a size the journal, `status` and `debug` can carry.
//!
//! An agent is code we did not write: a gigabyte summary journaled whole made every later
//! `status` read a gigabyte. A cut text says so in its own words — `… (truncated, N bytes in
//! all)` — so nobody mistakes it for what the agent wrote.
//!
//! **Architecture invariant:** pure functions on strings and outcomes, like the rest of the core.

use super::outcome::Outcome;

/// The longest summary or error kept, in bytes.
pub const MAX_TEXT: usize = 64 * 1024;
/// The longest named result or reviewer name kept, in bytes: these are words, not prose.
pub const MAX_NAME: usize = 1024;
/// The most evidence log lines kept.
pub const MAX_LOGS: usize = 1000;
/// The most learnings one step reports (the same as `task::learnings::MAX_PER_STEP`).
pub const MAX_LEARNINGS: usize = 20;
/// The most tasks one step adds (the same as `run::agent_tasks::MAX_ADDED_PER_STEP`).
pub const MAX_TASKS_ADDED: usize = 50;
/// The most entries of a list an agent writes in a task (`depends_on`, `labels`, …) or of
/// `send_back`.
pub const MAX_LIST: usize = 100;
/// The longest learning, in bytes (a learning is kept to 500 characters).
pub const MAX_LEARNING: usize = 2048;

/// `text` cut to at most `limit` bytes of its own (on a character boundary), followed by a
/// note of how long it was. A text within the limit is left as it is.
pub fn cap_text(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let total = text.len();
    text.truncate(text.floor_char_boundary(limit));
    text.push_str(&format!("… (truncated, {total} bytes in all)"));
}

fn cap(text: &mut Option<String>, limit: usize) {
    if let Some(text) = text {
        cap_text(text, limit);
    }
}

impl Outcome {
    /// The outcome with every text an agent could fill cut to its bound.
    pub fn bound(&mut self) {
        cap(&mut self.summary, MAX_TEXT);
        cap(&mut self.error, MAX_TEXT);
        cap(&mut self.result, MAX_NAME);
        cap(&mut self.reviewer, MAX_NAME);
        let logs = &mut self.evidence.logs;
        if logs.len() > MAX_LOGS {
            let dropped = logs.len() - MAX_LOGS;
            logs.truncate(MAX_LOGS);
            logs.push(format!("… ({dropped} more log lines not kept)"));
        }
        for line in logs.iter_mut() {
            cap_text(line, MAX_TEXT);
        }
        // One past the most a step may add: that one is refused, saying why.
        self.tasks.truncate(MAX_TASKS_ADDED + 1);
        for task in &mut self.tasks {
            for text in [&mut task.id, &mut task.prefix, &mut task.title, &mut task.role, &mut task.kind] {
                cap(text, MAX_NAME);
            }
            cap(&mut task.description, MAX_TEXT);
            for list in [&mut task.depends_on, &mut task.labels, &mut task.acceptance_criteria] {
                list.truncate(MAX_LIST);
                list.iter_mut().for_each(|t| cap_text(t, MAX_NAME));
            }
        }
        self.send_back.truncate(MAX_LIST);
        for back in &mut self.send_back {
            cap_text(&mut back.task, MAX_NAME);
            cap_text(&mut back.review, MAX_TEXT);
        }
        self.learnings.truncate(MAX_LEARNINGS);
        for learning in &mut self.learnings {
            cap_text(learning, MAX_LEARNING);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_on_a_character_and_says_how_long_it_was() {
        let mut short = "fine".to_owned();
        cap_text(&mut short, 4);
        assert_eq!(short, "fine");
        let mut text = "ééé".to_owned();
        cap_text(&mut text, 3);
        assert_eq!(text, "é… (truncated, 6 bytes in all)");
    }

    #[test]
    fn an_outcome_is_bounded_in_every_field_an_agent_fills() {
        let mut outcome = Outcome {
            summary: Some("s".repeat(MAX_TEXT * 3)),
            error: Some("e".repeat(MAX_TEXT + 1)),
            result: Some("r".repeat(5000)),
            ..Outcome::default()
        };
        outcome.evidence.logs = vec!["l".repeat(10); MAX_LOGS + 5];
        outcome.bound();
        let summary = outcome.summary.unwrap();
        assert!(summary.len() < MAX_TEXT + 64, "{}", summary.len());
        assert!(summary.ends_with(&format!("… (truncated, {} bytes in all)", MAX_TEXT * 3)));
        assert!(outcome.error.unwrap().ends_with(&format!("(truncated, {} bytes in all)", MAX_TEXT + 1)));
        assert!(outcome.result.unwrap().ends_with("(truncated, 5000 bytes in all)"));
        assert_eq!(outcome.evidence.logs.len(), MAX_LOGS + 1);
        assert_eq!(outcome.evidence.logs[MAX_LOGS], "… (5 more log lines not kept)");
    }
}
