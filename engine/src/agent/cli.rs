//! What the agent CLIs have in common: the stacked prompt on stdin, an event stream on stdout
//! parsed line by line as it arrives, then the result file and the agent's check.

use super::command::{Invocation, finish};
use super::environment;
use super::process::{self, ProcessOutput, ProcessSpec};
use crate::run::core::outcome::Outcome;

/// Reads one CLI's event stream.
pub trait StreamParser: Default + Send {
    /// How to install the CLI, for when its program is missing.
    const INSTALL: &'static str;

    /// Takes one line of stdout.
    fn line(&mut self, line: &[u8]);
    /// The step's outcome, from what the stream said and how the process ended.
    fn outcome(&self, process: &ProcessOutput) -> Outcome;
}

/// Runs an agent CLI for one step with parser `P`.
pub async fn run<P: StreamParser>(argv: Vec<String>, check: Option<&str>, inv: &Invocation) -> Outcome {
    let vars = match inv.prepare(true).await {
        Ok(vars) => vars,
        Err(e) => return environment::step_files_failure(&e),
    };
    let (_, _, _, log) = inv.files();
    let mut spec = ProcessSpec::shell("", &inv.workdir);
    spec.argv = argv;
    spec.env = vars.clone();
    // The prompt goes on stdin: large prompts as arguments stall some CLIs and show in `ps`.
    spec.stdin = Some(inv.prompt.clone().unwrap_or_default().into_bytes());
    spec.timeout = inv.timeout;
    spec.idle_timeout = inv.idle_timeout;
    spec.log = Some(log);
    spec.log_limit = inv.log_limit;
    spec.report_group = inv.spawned.clone().map(|sender| (sender, inv.step.clone()));
    let mut parser = P::default();
    let mut last_beat: Option<std::time::Instant> = None;
    let mut watch = |line: &[u8]| {
        parser.line(line);
        // An active stream is a live agent: a heartbeat now and then, not one per event.
        if let Some(sender) = &inv.signals {
            if last_beat.is_none_or(|t| t.elapsed() >= super::signal::HEARTBEAT_EVERY) {
                last_beat = Some(std::time::Instant::now());
                let _ = sender.send(super::signal::SignalReport {
                    step: inv.step.clone(),
                    signal: ralph_plugin_sdk::MessageSignal::Heartbeat,
                    message: None,
                    data: None,
                });
            }
        }
    };
    let output = match process::run(&spec, Some(&mut watch)).await {
        Ok(output) => output,
        Err(e) => return environment::spawn_failure(&e, P::INSTALL),
    };
    let mut outcome = parser.outcome(&output);
    if output.hung {
        outcome.error = Some(super::command::hung_message(inv));
    }
    finish(outcome, inv, check, vars).await
}

/// The start of an agent CLI's command line: the program, its fixed flags, and `--model` when
/// the agent names one (every supported CLI spells it so). Each backend appends the rest.
pub fn base_argv(program: &str, flags: &[&str], model: Option<&str>) -> Vec<String> {
    let mut argv: Vec<String> =
        std::iter::once(program).chain(flags.iter().copied()).map(str::to_owned).collect();
    if let Some(model) = model {
        argv.extend(["--model".to_owned(), model.to_owned()]);
    }
    argv
}

/// The last non-empty line of stderr, for error messages.
pub fn last_stderr_line(process: &ProcessOutput) -> Option<String> {
    process.stderr.text().lines().rev().find(|l| !l.trim().is_empty()).map(str::to_owned)
}

/// Helpers for the parsers' tests.
#[cfg(test)]
pub mod testing {
    use std::time::Duration;

    use super::StreamParser;
    use crate::agent::process::{Captured, ProcessOutput};

    /// A process that exited with `code` after about a second.
    pub fn exit(code: i32) -> ProcessOutput {
        ProcessOutput {
            code: Some(code),
            signal: None,
            timed_out: false,
            hung: false,
            stdout: Captured::default(),
            stderr: Captured::default(),
            duration: Duration::from_millis(1200),
        }
    }

    /// How a captured process ended, from its `<case>.meta.json`: its exit status and stderr.
    pub fn captured(meta: &str) -> ProcessOutput {
        let meta: serde_json::Value = serde_json::from_str(meta).expect("a capture's meta.json");
        let stderr = meta["stderr"].as_str().unwrap_or_default().as_bytes().to_vec();
        let code = meta["exit_status"].as_i64().and_then(|c| i32::try_from(c).ok()).expect("an exit status");
        ProcessOutput {
            stderr: Captured { total: stderr.len() as u64, head: stderr, tail: Vec::new() },
            ..exit(code)
        }
    }

    /// A parser fed every line of `fixture`.
    pub fn parse<P: StreamParser>(fixture: &str) -> P {
        let mut parser = P::default();
        for line in fixture.lines() {
            parser.line(line.as_bytes());
        }
        parser
    }
}
