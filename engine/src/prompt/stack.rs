//! Stacking a step's prompt: the agent's system prompt, `AGENTS.md`, `PROMPT.md` rendered from
//! the steering packet, then the role prompt (`PROMPT-<ROLE>.md`).
//!
//! The system prompt and `AGENTS.md` never change during a run; `PROMPT.md` is re-rendered for
//! every step from that step's packet, which is how a run is steered.

use std::path::PathBuf;

use ralph_plugin_sdk::SteeringPacket;

use super::{BUNDLED, PromptSource, find, role_prompt_names};

/// Why a prompt could not be stacked.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A named prompt file is nowhere.
    #[error("prompt file `{0}` not found")]
    Missing(String),
    /// A prompt file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `PROMPT.md` is not a valid template, or failed to render.
    #[error("`{name}` does not render: {message}")]
    Template {
        /// The file.
        name: String,
        /// What minijinja said.
        message: String,
    },
}

/// What goes into a step's prompt.
#[derive(Debug, Clone)]
pub struct StackRequest<'a> {
    /// The agent's name (for `PROMPT-<NAME>.md` and the template's `agent`).
    pub agent: &'a str,
    /// The agent's `prompt:`, if it names one.
    pub role_prompt: Option<&'a str>,
    /// The agent's `system_prompt:`.
    pub system_prompt: Option<&'a str>,
    /// The step's packet.
    pub packet: &'a SteeringPacket,
    /// The path of the result file, shown in the prompt.
    pub result_file: &'a str,
    /// Where prompts are looked up, in order (see [`super::search_dirs`]).
    pub dirs: &'a [PathBuf],
}

fn read(source: &PromptSource) -> Result<String, PromptError> {
    match source {
        PromptSource::File(path) => {
            std::fs::read_to_string(path).map_err(|source| PromptError::Read { path: path.clone(), source })
        }
        PromptSource::Bundled(name) => Ok(BUNDLED
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| (*text).to_owned())
            .unwrap_or_default()),
    }
}

/// The stacked prompt of one step.
pub fn stack(request: &StackRequest<'_>) -> Result<String, PromptError> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(system) = request.system_prompt {
        parts.push(system.trim_end().to_owned());
    }
    let agents = find("AGENTS.md", request.dirs).ok_or_else(|| PromptError::Missing("AGENTS.md".into()))?;
    parts.push(read(&agents)?.trim_end().to_owned());
    let steering = find("PROMPT.md", request.dirs).ok_or_else(|| PromptError::Missing("PROMPT.md".into()))?;
    let template = read(&steering)?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    let mut context = serde_json::to_value(request.packet).unwrap_or_default();
    context["agent"] = request.agent.into();
    context["result_file"] = request.result_file.into();
    let rendered = env
        .render_str(&template, minijinja::value::Serde(context))
        .map_err(|e| PromptError::Template { name: "PROMPT.md".into(), message: format!("{e:#}") })?;
    parts.push(rendered.trim_end().to_owned());
    let role = match request.role_prompt {
        Some(name) => Some(find(name, request.dirs).ok_or_else(|| PromptError::Missing(name.to_owned()))?),
        None => role_prompt_names(request.agent).iter().find_map(|n| find(n, request.dirs)),
    };
    if let Some(role) = role {
        parts.push(read(&role)?.trim_end().to_owned());
    }
    let mut text = parts.join("\n\n---\n\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_plugin_sdk::WorkflowInfo;

    fn packet() -> SteeringPacket {
        let mut p = SteeringPacket::new(
            "2026-11-22T00:00:00Z",
            WorkflowInfo {
                name: "default".into(),
                iteration: 3,
                phase: "building".into(),
                state: "active".into(),
                started_at: "2026-11-22T00:00:00Z".into(),
            },
        );
        p.instructions.primary = "Implement the parser".into();
        p
    }

    #[test]
    fn stacks_system_agents_steering_and_role_in_that_order() {
        let p = packet();
        let text = stack(&StackRequest {
            agent: "builder",
            role_prompt: None,
            system_prompt: Some("You are the builder."),
            packet: &p,
            result_file: "/run/result.json",
            dirs: &[],
        })
        .unwrap();
        let system = text.find("You are the builder.").unwrap();
        let steering = text.find("Implement the parser").unwrap();
        let role = text.find(BUNDLED[2].1.lines().next().unwrap()).unwrap();
        assert!(system < steering && steering < role, "order: system, AGENTS.md, PROMPT.md, role");
        assert!(text.contains("/run/result.json"));
    }

    #[test]
    fn a_project_file_overrides_the_bundled_one_and_a_missing_role_prompt_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("PROMPT.md"), "Task: {{ instructions.primary }} for {{ agent }}")
            .unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        let p = packet();
        let request = StackRequest {
            agent: "custom",
            role_prompt: None,
            system_prompt: None,
            packet: &p,
            result_file: "r",
            dirs: &dirs,
        };
        assert!(stack(&request).unwrap().contains("Task: Implement the parser for custom"));
        let missing = StackRequest { role_prompt: Some("PROMPT-NOPE.md"), ..request };
        assert!(matches!(stack(&missing), Err(PromptError::Missing(_))));
    }
}
