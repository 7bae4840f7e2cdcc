//! The `command` backend: a shell command in the project directory.
//!
//! The command sees the step's files through the environment (`RALPH_RUN_ID`, `RALPH_STEP`,
//! `RALPH_PROMPT_FILE`, `RALPH_PACKET_FILE`, `RALPH_RESULT_FILE`) and as template variables
//! (`{{ prompt_file }}`, `{{ packet_file }}`, `{{ result_file }}`, `{{ step }}`, `{{ run_id }}`).
//! Success is exit status 0, then the agent's own `check:` command if it has one. A named result
//! is read from the result file, never from the output.

use std::path::PathBuf;
use std::time::Duration;

use ralph_plugin_sdk::{ResultReport, env};

use super::process::{self, ProcessSpec};
use crate::run::outcome::Outcome;

/// Everything a backend needs to perform one step, and nothing about the workflow.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The run's id.
    pub run_id: String,
    /// The step's id.
    pub step: String,
    /// Where the agent works (the project directory).
    pub workdir: PathBuf,
    /// The step's own directory: log, packet, prompt and result files.
    pub step_dir: PathBuf,
    /// The steering packet, as JSON.
    pub packet: String,
    /// The rendered prompt (AI agents).
    pub prompt: Option<String>,
    /// How long the agent may take.
    pub timeout: Option<Duration>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Invocation {
    /// The step's files: (prompt, packet, result, log).
    pub fn files(&self) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        (
            self.step_dir.join("prompt.md"),
            self.step_dir.join("packet.json"),
            self.step_dir.join("result.json"),
            self.step_dir.join("output.log"),
        )
    }

    /// Writes the packet (and prompt) and returns the environment every agent gets.
    pub async fn prepare(&self) -> std::io::Result<Vec<(String, String)>> {
        let (prompt, packet, result, _) = self.files();
        tokio::fs::create_dir_all(&self.step_dir).await?;
        tokio::fs::write(&packet, &self.packet).await?;
        if let Some(text) = &self.prompt {
            tokio::fs::write(&prompt, text).await?;
        }
        // A result left by an earlier attempt must not be read as this attempt's.
        let _ = tokio::fs::remove_file(&result).await;
        let mut vars = vec![
            (env::RUN_ID.to_owned(), self.run_id.clone()),
            (env::STEP.to_owned(), self.step.clone()),
            (env::PROMPT_FILE.to_owned(), prompt.display().to_string()),
            (env::PACKET_FILE.to_owned(), packet.display().to_string()),
            (env::RESULT_FILE.to_owned(), result.display().to_string()),
        ];
        vars.extend(self.env.iter().cloned());
        Ok(vars)
    }

    /// Reads the result file the agent may have written.
    pub async fn report(&self) -> Result<Option<ResultReport>, String> {
        let (_, _, result, _) = self.files();
        match tokio::fs::read(&result).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("the result file `{}` is not valid JSON: {e}", result.display())),
            Err(_) => Ok(None),
        }
    }
}

/// Renders `{{ … }}` variables in a command line.
fn render(command: &str, inv: &Invocation) -> Result<String, String> {
    if !command.contains("{{") {
        return Ok(command.to_owned());
    }
    let (prompt, packet, result, _) = inv.files();
    let env = minijinja::Environment::new();
    env.render_str(
        command,
        minijinja::context! {
            prompt_file => prompt.display().to_string(),
            packet_file => packet.display().to_string(),
            result_file => result.display().to_string(),
            step => inv.step.clone(),
            run_id => inv.run_id.clone(),
        },
    )
    .map_err(|e| format!("the command template does not render: {e}"))
}

/// Runs a command agent, then its check.
pub async fn run(command: &str, check: Option<&str>, inv: &Invocation) -> Outcome {
    let vars = match inv.prepare().await {
        Ok(vars) => vars,
        Err(e) => return Outcome::failed("spawn_error", format!("cannot prepare the step directory: {e}")),
    };
    let command = match render(command, inv) {
        Ok(c) => c,
        Err(e) => return Outcome::failed("spawn_error", e),
    };
    let (_, _, _, log) = inv.files();
    let mut spec = ProcessSpec::shell(&command, &inv.workdir);
    spec.env = vars.clone();
    spec.timeout = inv.timeout;
    spec.log = Some(log.clone());
    let output = match process::run(&spec, None).await {
        Ok(output) => output,
        Err(e) => return Outcome::failed("spawn_error", e.to_string()),
    };
    let mut outcome = Outcome {
        success: output.success(),
        exit_code: output.code,
        duration_ms: output.duration.as_millis() as u64,
        ..Outcome::default()
    };
    if output.timed_out {
        outcome.class = Some("timeout".into());
        outcome.error = Some(format!(
            "timed out after {:?}; its process group was killed",
            inv.timeout.unwrap_or_default()
        ));
    } else if !outcome.success {
        outcome.class = Some("nonzero_exit".into());
        // The last thing it said on stderr, else on stdout.
        let last_line =
            |c: &process::Captured| c.text().lines().rev().find(|l| !l.trim().is_empty()).map(str::to_owned);
        let last = last_line(&output.stderr).or_else(|| last_line(&output.stdout));
        outcome.error = Some(match (output.code, last) {
            (Some(code), Some(line)) => format!("exit status {code}: {line}"),
            (Some(code), None) => format!("exit status {code}"),
            (None, _) => format!("killed by signal {}", output.signal.unwrap_or_default()),
        });
    }
    match inv.report().await {
        Ok(Some(report)) => {
            outcome.result = report.outcome;
            outcome.summary = report.summary;
            if report.success == Some(false) && outcome.success {
                outcome.success = false;
                outcome.class = Some("agent_error".into());
                outcome.error = Some("the agent reported failure in its result file".into());
            }
        }
        Ok(None) => {}
        Err(e) => {
            outcome.success = false;
            outcome.class = Some("agent_error".into());
            outcome.error = Some(e);
        }
    }
    if outcome.success {
        if let Some(check) = check {
            let mut spec = ProcessSpec::shell(check, &inv.workdir);
            spec.env = vars;
            spec.timeout = inv.timeout;
            spec.log = Some(log);
            match process::run(&spec, None).await {
                Ok(out) if out.success() => {}
                Ok(out) => {
                    outcome.success = false;
                    outcome.class = Some("check_failed".into());
                    outcome.error = Some(format!("the check `{check}` failed (exit status {:?})", out.code));
                }
                Err(e) => return Outcome::failed("spawn_error", format!("the check `{check}`: {e}")),
            }
        }
    }
    outcome
}
