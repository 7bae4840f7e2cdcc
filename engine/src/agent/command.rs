//! The `command` backend: a shell command in the project directory.
//!
//! The command sees the step's files through the environment (`RALPH_RUN_ID`, `RALPH_STEP`,
//! `RALPH_RESULT_FILE`, and `RALPH_PACKET_FILE` when it reads its packet) and as template
//! variables (`{{ packet_file }}`, `{{ result_file }}`, `{{ step }}`, `{{ run_id }}`). The packet
//! file of a command agent is written when the agent says it reads it (`reads_packet: true`) or
//! its command or check names it (and only then is its variable set): creating files is what a
//! DAG of thousands of small commands would otherwise spend most of its time on. A command agent
//! has no stacked prompt (that is for AI agents), so it gets no `RALPH_PROMPT_FILE`. The result
//! file's directory always exists.
//! Success is exit status 0, then the agent's own `check:` command if it has one. A named result
//! is read from the result file, never from the output.

use std::path::PathBuf;
use std::time::Duration;

use ralph_plugin_sdk::{ResultReport, env};

use super::process::{self, ProcessSpec};
use super::result_file;
use crate::run::core::outcome::FailureClass;
use crate::run::core::outcome::Outcome;

/// Everything a backend needs to perform one step, and nothing about the workflow.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The run's id.
    pub run_id: String,
    /// The step's id.
    pub step: String,
    /// Where the agent works (the project directory).
    pub workdir: PathBuf,
    /// The run's step directory (it exists): the step's files are `<stem>.log`,
    /// `<stem>.prompt.md` and `<stem>.result.json` in it.
    pub steps_dir: PathBuf,
    /// The name the step's files start with (unique per visit of a step in a run), e.g.
    /// `0007-build`.
    pub file_stem: String,
    /// Whether an earlier process of this run may have left a result file under this step's
    /// name (a resumed run reuses the numbers of the steps it lost): it is removed before the
    /// agent starts. A run this process began has none, and saves the unlink.
    pub stale_result: bool,
    /// Where the packet file goes (default: `<stem>.packet.json` in the step directory).
    pub packet_path: Option<PathBuf>,
    /// Where the step sends the signals it reads from the agent's output.
    pub signals: Option<super::signal::SignalSender>,
    /// The steering packet, as JSON (built only for agents that read it).
    pub packet: Option<String>,
    /// The rendered prompt (AI agents).
    pub prompt: Option<String>,
    /// How long the agent may take.
    pub timeout: Option<Duration>,
    /// How long the agent may stay silent before it counts as hung (`heartbeat_timeout`).
    pub idle_timeout: Option<Duration>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// How large the step's log may grow before it is rotated (`logging.step_logs`).
    pub log_limit: super::step_log::LogLimit,
    /// Where the backend reports each process group it starts, right after the spawn (`None`:
    /// not reported). See [`super::orphans`].
    pub spawned: Option<super::orphans::SpawnedSender>,
}

impl Invocation {
    /// The step's files: (prompt, packet, result, log).
    pub fn files(&self) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        let name = file_name(&self.file_stem);
        (
            self.steps_dir.join(format!("{name}.prompt.md")),
            self.packet_path.clone().unwrap_or_else(|| self.steps_dir.join(format!("{name}.packet.json"))),
            self.steps_dir.join(format!("{name}.result.json")),
            self.steps_dir.join(format!("{name}.log")),
        )
    }

    /// Writes the packet and prompt when `write_files`, and returns the environment the agent
    /// gets (a file's variable is set only when the file exists).
    pub async fn prepare(&self, write_files: bool) -> std::io::Result<Vec<(String, String)>> {
        let (prompt, packet, result, _) = self.files();
        // A result left by an earlier attempt must not be read as this attempt's. (Plain
        // syscalls, not tokio::fs: a trip through the blocking pool costs more than the call.)
        if self.stale_result {
            let _ = std::fs::remove_file(&result);
        }
        let mut vars = vec![
            (env::RUN_ID.to_owned(), self.run_id.clone()),
            (env::STEP.to_owned(), self.step.clone()),
            (env::RESULT_FILE.to_owned(), result.display().to_string()),
        ];
        if let Some(text) = self.packet.as_ref().filter(|_| write_files) {
            // An earlier agent may have left a FIFO or a link here: written afresh, never
            // opened as it is.
            super::fresh_file::write(&packet, text)?;
            vars.push((env::PACKET_FILE.to_owned(), packet.display().to_string()));
            if let Some(text) = &self.prompt {
                super::fresh_file::write(&prompt, text)?;
                vars.push((env::PROMPT_FILE.to_owned(), prompt.display().to_string()));
            }
        }
        vars.extend(self.env.iter().cloned());
        Ok(vars)
    }

    /// Reads the result file the agent may have written: a regular file of at most
    /// [`result_file::MAX_RESULT_BYTES`], read without ever blocking the loop (see
    /// [`result_file`]).
    pub async fn report(&self) -> Result<Option<ResultReport>, String> {
        let (_, _, result, _) = self.files();
        let timeout = self.timeout.map_or(result_file::READ_TIMEOUT, |t| t.min(result_file::READ_TIMEOUT));
        match result_file::read(&result, result_file::MAX_RESULT_BYTES, timeout).await {
            Ok(Some(bytes)) => {
                keep_masked(&result, &bytes);
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| format!("the result file `{}` is not valid JSON: {e}", result.display()))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Keeps the result file the agent wrote (for `debug --full`) with its secrets masked and
/// owner-only: what the engine reads from it is `bytes`, unmasked, in memory. A file that
/// cannot be rewritten is removed rather than kept in the clear.
fn keep_masked(path: &std::path::Path, bytes: &[u8]) {
    let masked = crate::redact::installed().redact_bytes(bytes);
    let kept = match &masked {
        Some(masked) => crate::atomic_file::write(path, masked),
        None => Ok(()),
    };
    let secured = kept.and_then(|()| crate::private::secure_tree(path).map(drop));
    if secured.is_err() && masked.is_some() {
        let _ = std::fs::remove_file(path);
    }
}

/// The error of an agent killed for its silence.
pub fn hung_message(inv: &Invocation) -> String {
    format!(
        "hung: no output for {:?} (heartbeat_timeout); its process group was killed",
        inv.idle_timeout.unwrap_or_default()
    )
}

/// A step id made safe as a file name.
pub fn file_name(step: &str) -> String {
    step.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
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

/// Whether a command agent reads its packet or prompt file, and so needs them written.
pub fn reads_files(command: &str, check: Option<&str>) -> bool {
    let mentions = |s: &str| {
        ["RALPH_PACKET_FILE", "RALPH_PROMPT_FILE", "packet_file", "prompt_file"].iter().any(|n| s.contains(n))
    };
    mentions(command) || check.is_some_and(mentions)
}

/// Shell builtins and keywords: a command starting with one needs the shell even when a
/// program of that name exists.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done", "elif", "else",
    "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "function", "getopts", "hash", "if",
    "jobs", "local", "read", "readonly", "return", "select", "set", "shift", "source", "then", "time",
    "times", "trap", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
];

/// The argument vector of a command that needs no shell: plain words (no quoting, expansion,
/// redirection, globbing, operators or assignments), not starting with a shell builtin, whose
/// program is found on `PATH`. Such a command is executed directly, as make does, which saves
/// starting a shell for every step; anything else runs under `/bin/sh -c`.
pub fn direct_argv(command: &str) -> Option<Vec<String>> {
    const SPECIAL: &[char] = &[
        '#', ';', '"', '\'', '*', '?', '[', ']', '&', '|', '<', '>', '(', ')', '{', '}', '$', '`', '\\', '~',
        '!', '=', '%', '^', '\n', '\r',
    ];
    if command.contains(SPECIAL) {
        return None;
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    let program = words.first()?;
    if SHELL_WORDS.contains(&program.as_str()) {
        return None;
    }
    let path = process::find_program(program)?;
    let mut argv = words;
    argv[0] = path.display().to_string();
    Some(argv)
}

/// Runs a command agent, then its check. `direct` is the command's [`direct_argv`], when it has
/// one; `reads_packet` says the agent reads its packet whatever its command says.
pub async fn run(
    command: &str,
    direct: Option<&[String]>,
    check: Option<&str>,
    reads_packet: bool,
    inv: &Invocation,
) -> Outcome {
    let write_files = reads_packet || reads_files(command, check);
    let vars = match inv.prepare(write_files).await {
        Ok(vars) => vars,
        Err(e) => return super::environment::step_files_failure(&e),
    };
    let command = match render(command, inv) {
        Ok(c) => c,
        Err(e) => return Outcome::failed(FailureClass::SpawnError, e),
    };
    let (_, _, _, log) = inv.files();
    let mut spec = ProcessSpec::shell(&command, &inv.workdir);
    if let Some(argv) = direct {
        spec.argv = argv.to_vec();
    }
    spec.merge_output = true;
    spec.env = vars.clone();
    spec.timeout = inv.timeout;
    spec.idle_timeout = inv.idle_timeout;
    spec.log = Some(log.clone());
    spec.log_limit = inv.log_limit;
    spec.report_group = inv.spawned.clone().map(|sender| (sender, inv.step.clone()));
    let mut signals = |line: &[u8]| {
        if let Some(report) = super::signal::parse_line(&inv.step, line) {
            if let Some(sender) = &inv.signals {
                let _ = sender.send(report);
            }
        }
    };
    let watcher: Option<&mut dyn process::LineWatcher> =
        if inv.signals.is_some() { Some(&mut signals) } else { None };
    let output = match process::run(&spec, watcher).await {
        Ok(output) => output,
        Err(e) => return super::environment::spawn_failure(&e, ""),
    };
    let mut outcome = Outcome {
        success: output.success(),
        exit_code: output.code,
        duration_ms: output.duration.as_millis() as u64,
        ..Outcome::default()
    };
    // A command agent is often the test runner itself.
    outcome.evidence.test_results = super::test_counts::parse(&output.stdout.text());
    if output.timed_out {
        outcome.class = Some(FailureClass::Timeout);
        outcome.error = Some(if output.hung {
            hung_message(inv)
        } else {
            format!("timed out after {:?}; its process group was killed", inv.timeout.unwrap_or_default())
        });
    } else if let Some(missing) = super::environment::command_not_found(&command, &output, "command") {
        outcome.class = Some(FailureClass::Environment);
        outcome.error = Some(missing);
    } else if !outcome.success {
        outcome.class = Some(FailureClass::NonzeroExit);
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
    finish(outcome, inv, check, vars).await
}

/// What every backend does after its process: the named result from the result file (which
/// wins over whatever the output said), then the agent's `check:` command.
pub async fn finish(
    mut outcome: Outcome,
    inv: &Invocation,
    check: Option<&str>,
    vars: Vec<(String, String)>,
) -> Outcome {
    let (_, _, _, log) = inv.files();
    match inv.report().await {
        Ok(Some(report)) => {
            outcome.result = report.outcome;
            outcome.tasks = report.tasks;
            outcome.send_back = report.send_back;
            outcome.learnings = report
                .learnings
                .iter()
                .filter_map(|l| crate::task::learnings::clean(l))
                .take(crate::task::learnings::MAX_PER_STEP)
                .collect();
            if report.summary.is_some() {
                outcome.summary = report.summary;
            }
            if report.success == Some(false) && outcome.success {
                outcome.success = false;
                outcome.class = Some(FailureClass::AgentError);
                outcome.error = Some("the agent reported failure in its result file".into());
            }
        }
        Ok(None) => {}
        // A step that failed already keeps its failure (a timeout stays a timeout for the
        // retry policy); what was wrong with its result file is said after it.
        Err(e) if !outcome.success => {
            outcome.error = Some(match outcome.error.take() {
                Some(first) => format!("{first} (and {e})"),
                None => e,
            });
        }
        Err(e) => {
            outcome.success = false;
            outcome.class = Some(FailureClass::AgentError);
            outcome.error = Some(e);
        }
    }
    if outcome.success {
        if let Some(check) = check {
            let mut spec = ProcessSpec::shell(check, &inv.workdir);
            spec.env = vars;
            spec.timeout = inv.timeout;
            spec.log = Some(log);
            spec.log_limit = inv.log_limit;
            spec.report_group = inv.spawned.clone().map(|sender| (sender, inv.step.clone()));
            match process::run(&spec, None).await {
                Ok(out) => {
                    let text = format!("{}\n{}", out.stdout.text(), out.stderr.text());
                    if let Some(counts) = super::test_counts::parse(&text) {
                        outcome.evidence.test_results = Some(counts);
                    }
                    if out.success() {
                        return outcome;
                    }
                    if let Some(missing) = super::environment::command_not_found(check, &out, "check") {
                        return Outcome::failed(FailureClass::Environment, missing);
                    }
                    outcome.success = false;
                    outcome.class = Some(FailureClass::CheckFailed);
                    outcome.error = Some(format!("the check `{check}` failed (exit status {:?})", out.code));
                }
                Err(e) => {
                    let mut failed = super::environment::spawn_failure(&e, "install it or fix `check:`");
                    failed.error = failed.error.map(|e| format!("the check `{check}`: {e}"));
                    return failed;
                }
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::direct_argv;

    #[test]
    fn plain_words_run_without_a_shell_and_anything_else_with_one() {
        let argv = direct_argv("true").unwrap();
        assert!(argv[0].ends_with("/true"), "{argv:?}");
        assert_eq!(direct_argv("  ls  -la src ").unwrap()[1..], ["-la", "src"]);
        for command in [
            "echo $HOME",
            "a && b",
            "ls > out",
            "ls *.rs",
            "X=1 env",
            "cd src",
            "exit 1",
            "echo 'quoted'",
            "{{ packet_file }}",
            "no-such-program-anywhere",
            "",
            "ls\nls",
        ] {
            assert_eq!(direct_argv(command), None, "{command}");
        }
    }
}
