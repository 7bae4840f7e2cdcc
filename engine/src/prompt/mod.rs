//! Prompt files: where a prompt named in a workflow is found.
//!
//! A prompt is looked up, in order, next to the file that names it, in the project directory,
//! in the project's `prompts/` directory, and finally among the prompts bundled with ralph-loop
//! (so `PROMPT-BUILDER.md` works in an empty project). [`stack`] builds a step's prompt.

pub mod stack;

use std::path::{Path, PathBuf};

/// The prompts compiled into the binary, by file name.
pub const BUNDLED: &[(&str, &str)] = &[
    ("AGENTS.md", include_str!("../../../prompts/AGENTS.md")),
    ("PROMPT.md", include_str!("../../../prompts/PROMPT.md")),
    ("PROMPT-BUILDER.md", include_str!("../../../prompts/PROMPT-BUILDER.md")),
    ("PROMPT-VERIFIER.md", include_str!("../../../prompts/PROMPT-VERIFIER.md")),
    ("PROMPT-PLANNER.md", include_str!("../../../prompts/PROMPT-PLANNER.md")),
    ("PROMPT-SECURITY.md", include_str!("../../../prompts/PROMPT-SECURITY.md")),
];

/// Where a prompt was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSource {
    /// A file on disk.
    File(PathBuf),
    /// A prompt bundled with ralph-loop.
    Bundled(&'static str),
}

/// The directories searched, in order, for prompts named by `referrer`.
pub fn search_dirs(referrer: Option<&Path>, project_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = referrer.and_then(Path::parent) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        dirs.push(dir.to_path_buf());
    }
    for dir in [project_dir.to_path_buf(), project_dir.join("prompts")] {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Finds a prompt by the name a workflow gives it.
pub fn find(name: &str, dirs: &[PathBuf]) -> Option<PromptSource> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| PromptSource::File(path.to_path_buf()));
    }
    for dir in dirs {
        let candidate = dir.join(path);
        if candidate.is_file() {
            return Some(PromptSource::File(candidate));
        }
    }
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(n, _)| PromptSource::Bundled(n))
}

/// The conventional prompt file names of an agent, in lookup order: `PROMPT-<NAME>.md` with the
/// name in upper case (`_` kept, then written as `-`), then `PROMPT-<FIRST WORD>.md` — so the
/// agent `security_scanner` finds `PROMPT-SECURITY.md`, as in the seed.
pub fn role_prompt_names(agent: &str) -> Vec<String> {
    let upper = agent.to_uppercase();
    let mut names = vec![format!("PROMPT-{upper}.md")];
    let dashed = upper.replace('_', "-");
    if dashed != upper {
        names.push(format!("PROMPT-{dashed}.md"));
    }
    if let Some((first, _)) = upper.split_once(['_', '-']) {
        if !first.is_empty() {
            names.push(format!("PROMPT-{first}.md"));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_plugin_sdk::{Failure, SteeringPacket, Task, WorkflowInfo};

    #[test]
    fn every_bundled_prompt_is_a_template_that_compiles() {
        let env = minijinja::Environment::new();
        for (name, text) in BUNDLED {
            assert!(!text.trim().is_empty(), "{name} is empty");
            env.template_from_str(text).unwrap_or_else(|e| panic!("{name} does not compile: {e:#}"));
        }
    }

    #[test]
    fn the_steering_template_renders_a_packet() {
        let mut packet = SteeringPacket::new(
            "2024-03-08T10:30:15Z",
            WorkflowInfo {
                name: "default".into(),
                iteration: 5,
                phase: "building".into(),
                state: "active".into(),
                started_at: "2024-03-08T10:00:00Z".into(),
            },
        );
        packet.context.current_task = Some(Task::new("task-5", "Implement JWT authentication"));
        packet.context.failure_history.push(Failure {
            task: "task-5".into(),
            attempt: 1,
            error: "2 auth tests failed".into(),
            step: None,
            class: None,
        });
        packet.instructions.primary = "Complete task-5".into();
        packet.instructions.outcomes = vec!["build_success".into(), "needs_planning".into()];
        packet.context.learnings.push(ralph_plugin_sdk::Learning {
            id: "L3".into(),
            text: "Tokens are signed with the key in `config/jwt.pem`".into(),
            task: Some("task-2".into()),
            count: 2,
        });
        packet
            .context
            .prior_thread
            .push(ralph_plugin_sdk::Message::new("memory", "L3 (learnt in task task-2): …"));
        packet.context.routing = Some(ralph_plugin_sdk::Route {
            agent: "builder".into(),
            backend: Some("claude".into()),
            model: Some("claude-sonnet-4-5".into()),
            reason: "escalation: 3 iteration(s) in a row without progress".into(),
            escalated: true,
        });
        packet.context.reviews.push(ralph_plugin_sdk::Review {
            by: "review-1".into(),
            text: "the token expiry is not tested".into(),
        });
        packet.context.review_of.push(ralph_plugin_sdk::ReviewedTask {
            id: "task-4".into(),
            title: "Add the login form".into(),
            status: "done".into(),
            commit: Some("0123456789abcdef".into()),
            files: vec!["src/login.rs".into()],
            summary: Some("added the form".into()),
        });
        packet.context.task_refusals.push(ralph_plugin_sdk::TaskRefusal {
            task: "task-2".into(),
            reason: "a task `task-2` exists already".into(),
            step: Some("planning".into()),
        });
        let template = BUNDLED.iter().find(|(n, _)| *n == "PROMPT.md").expect("PROMPT.md is bundled").1;
        let mut env = minijinja::Environment::new();
        env.add_template("PROMPT.md", template).unwrap();
        let mut context = serde_json::to_value(&packet).unwrap();
        context["agent"] = "builder".into();
        context["result_file"] = "/tmp/result.json".into();
        let text = env.get_template("PROMPT.md").unwrap().render(minijinja::value::Serde(context)).unwrap();
        for needle in [
            "task-5",
            "Implement JWT authentication",
            "2 auth tests failed",
            "build_success",
            "/tmp/result.json",
            "## Learnings from earlier tasks",
            "- Tokens are signed with the key in `config/jwt.pem` (L3, from task task-2, reported 2 times)",
            "You do this task as `builder` on `claude-sonnet-4-5` (escalation: 3 iteration(s) in a row without progress). Earlier attempts made no progress",
            "- From task review-1: the token expiry is not tested",
            "- **task-4**: Add the login form (done, commit `0123456789ab`)",
            "  - Files: `src/login.rs`",
            "- `task-2` (from `planning`): a task `task-2` exists already",
            "\"tasks\": [{\"title\"",
        ] {
            assert!(text.contains(needle), "rendered PROMPT.md lacks {needle:?}:\n{text}");
        }
        // A learning is shown once: its `memory` message is not repeated as conversation.
        assert!(!text.contains("Conversation so far"), "{text}");
    }

    #[test]
    fn role_prompts_are_found_by_name_then_by_first_word() {
        assert_eq!(
            role_prompt_names("security_scanner"),
            ["PROMPT-SECURITY_SCANNER.md", "PROMPT-SECURITY-SCANNER.md", "PROMPT-SECURITY.md"]
        );
        assert_eq!(find("PROMPT-SECURITY.md", &[]), Some(PromptSource::Bundled("PROMPT-SECURITY.md")));
        assert_eq!(find("PROMPT-NOPE.md", &[]), None);
    }
}
