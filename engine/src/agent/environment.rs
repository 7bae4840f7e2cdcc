//! Environment failures of a step: the agent cannot work at all here — its program is missing,
//! the disk is full, a command's program is not installed — as opposed to failing at its task.
//!
//! An [`Outcome`] of class [`FailureClass::Environment`] stops the run at once and leaves the
//! task as it was, so it must be certain: each rule here names the evidence it needs, and
//! anything less stays a task-level failure. What each agent CLI says when it is not logged in,
//! its key is rejected or its model is unknown is read by that CLI's own parser; this module
//! holds what the backends share.
//!
//! **Architecture invariant:** knows nothing about workflows, runs or the store; it turns
//! evidence (an I/O error, a process's exit) into an outcome and a message that says what to do.

use std::io;
use std::path::Path;

use nix::errno::Errno;

use super::process::{ProcessError, ProcessOutput};
use crate::run::core::outcome::{FailureClass, Outcome};

/// What to do after freeing space, said the same way everywhere.
const RESUME: &str = "then `ralph-loop resume`";

/// An environment failure with this message.
pub fn failed(message: impl Into<String>) -> Outcome {
    Outcome::failed(FailureClass::Environment, message)
}

/// Whether an I/O error means the disk, or the user's quota on it, is full.
pub fn is_disk_full(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
        || matches!(error.raw_os_error(), Some(code) if code == Errno::ENOSPC as i32 || code == Errno::EDQUOT as i32)
}

/// The outcome of a step that could not write `what` (`path`) because the disk is full.
pub fn disk_full(what: &str, path: &Path, error: &io::Error) -> Outcome {
    failed(format!(
        "the disk is full: cannot write {what} `{}` ({error}); free space, {RESUME}",
        path.display()
    ))
}

/// The outcome of a step whose agent process could not be run: an environment failure when
/// the program is missing or not executable, or the disk is full; a spawn error otherwise.
/// `install` says how to install the program (empty for a command agent's own program).
pub fn spawn_failure(error: &ProcessError, install: &str) -> Outcome {
    // A backend's CLI has an install command; a command agent's program is the project's choice.
    let install = if install.is_empty() { "install it or fix `command:`" } else { install };
    match error {
        // ENOENT also comes from a missing working directory or script interpreter: only a
        // program that is not there is a missing program.
        ProcessError::Spawn { program, source }
            if source.kind() == io::ErrorKind::NotFound
                && super::process::find_program(program).is_none() =>
        {
            failed(format!("cannot start `{program}`: it is not installed; {install}"))
        }
        ProcessError::Spawn { program, source } if source.kind() == io::ErrorKind::PermissionDenied => {
            failed(format!("`{program}` cannot be started: {source}; make it executable, or reinstall it"))
        }
        ProcessError::Log { path, source } if is_disk_full(source) => {
            disk_full("the step's log", path, source)
        }
        ProcessError::Spawn { source, .. } | ProcessError::Io { source, .. } if is_disk_full(source) => {
            failed(format!("the disk is full: {error}; free space, {RESUME}"))
        }
        _ => Outcome::failed(FailureClass::SpawnError, error.to_string()),
    }
}

/// The outcome of a step whose files (prompt, packet, result) could not be written.
pub fn step_files_failure(error: &io::Error) -> Outcome {
    if is_disk_full(error) {
        failed(format!("the disk is full: cannot write the step's files ({error}); free space, {RESUME}"))
    } else {
        Outcome::failed(FailureClass::SpawnError, format!("cannot write the step's files: {error}"))
    }
}

/// The program a command agent's shell could not find, when that is certainly what ended it:
/// the shell's exit status 127 ("command not found"), its own message naming the command's
/// first word (`sh: 1: foo: not found` from dash, `bash: foo: command not found` or
/// `sh: line 1: foo: command not found` from bash, `sh: foo: not found` from busybox), and a
/// first word that is a bare program name looked up on `PATH`.
///
/// Anything less is the task's failure, on purpose:
/// - a first word with a `/` (`./build.sh`) names a file of the project, which an earlier
///   step may have been meant to create: its absence is the work's state, not the machine's;
/// - a script that exits 127 because a command *inside* it is missing prints that inner name,
///   not the first word: the script runs, it fails;
/// - a program that itself exits 127 does not print the shell's words about itself;
/// - status 126 (found but not executable) is left alone: the agent may have made the file.
///
/// Returns the message to show: what is missing and what to do (`field` is where the command
/// was written: `command` or `check`).
pub fn command_not_found(command: &str, output: &ProcessOutput, field: &str) -> Option<String> {
    if output.code != Some(127) {
        return None;
    }
    let word = first_word(command)?;
    if word.contains('/') {
        return None;
    }
    let said = format!("{}\n{}", output.stdout.text(), output.stderr.text());
    let shell_said = said.lines().map(str::trim_end).any(|line| {
        let Some(rest) =
            line.strip_suffix(": not found").or_else(|| line.strip_suffix(": command not found"))
        else {
            return false;
        };
        // `sh: 1: foo`, `bash: foo`, `sh: line 1: foo`, `/bin/sh: 1: foo`.
        rest.rsplit_once(": ").is_some_and(|(shell, name)| name == word && is_shell_prefix(shell))
    });
    shell_said.then(|| {
        format!(
            "the {field}'s program `{word}` is not installed (the shell cannot find it on PATH); \
             install it or fix `{field}:`, {RESUME}"
        )
    })
}

/// The command's first word as the shell reads it, when it is a plain word (no quoting or
/// expansion to interpret, no variable assignment in front).
fn first_word(command: &str) -> Option<&str> {
    let word = command.split_whitespace().next()?;
    let plain =
        !word.contains(['$', '`', '"', '\'', '\\', '=', '(', ')', '{', '}', ';', '&', '|', '<', '>', '*']);
    plain.then_some(word)
}

/// What comes before the program's name in a shell's "not found" line: the shell's name and,
/// for some shells, a line number (`sh: 1`, `sh: line 1`, `bash`, `/bin/sh: 3`).
fn is_shell_prefix(prefix: &str) -> bool {
    let mut parts = prefix.split(": ");
    let Some(shell) = parts.next() else { return false };
    let shell_name = shell.rsplit('/').next().unwrap_or(shell);
    if !["sh", "bash", "dash", "ash", "zsh", "ksh"].contains(&shell_name) {
        return false;
    }
    match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(line), None) => {
            let number = line.strip_prefix("line ").unwrap_or(line);
            !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::agent::process::{self, Captured, ProcessSpec};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn run_shell(command: &str) -> ProcessOutput {
        let mut spec = ProcessSpec::shell(command, std::env::temp_dir());
        spec.merge_output = true;
        spec.timeout = Some(Duration::from_secs(20));
        runtime().block_on(process::run(&spec, None)).unwrap()
    }

    #[test]
    fn a_missing_program_found_by_the_real_shell_is_an_environment_failure() {
        let output = run_shell("no-such-program-ralph-test --flag");
        let message = command_not_found("no-such-program-ralph-test --flag", &output, "command").unwrap();
        assert!(message.contains("`no-such-program-ralph-test` is not installed"), "{message}");
        assert!(message.contains("ralph-loop resume"), "{message}");
    }

    #[test]
    fn a_command_not_found_inside_a_script_or_a_missing_project_file_is_the_tasks_failure() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("task.sh");
        std::fs::write(&script, "#!/bin/sh\necho working\nno-such-program-ralph-test\n").unwrap();
        let command = format!("sh {}", script.display());
        let output = run_shell(&command);
        assert_eq!(output.code, Some(127), "{output:?}");
        assert_eq!(
            command_not_found(&command, &output, "command"),
            None,
            "the script ran; a command inside it failed"
        );
        let missing = format!("{}/missing.sh", dir.path().display());
        let output = run_shell(&missing);
        assert_eq!(output.code, Some(127), "{output:?}");
        assert_eq!(
            command_not_found(&missing, &output, "command"),
            None,
            "a project file, not the machine's program"
        );
        // A program that exits 127 on its own, and words the shell did not print.
        let output = run_shell("echo 'no-such-program-ralph-test: not found'; exit 127");
        assert_eq!(
            command_not_found("echo 'no-such-program-ralph-test: not found'; exit 127", &output, "command"),
            None
        );
        let output = run_shell("sh -c 'exit 127'");
        assert_eq!(command_not_found("sh -c 'exit 127'", &output, "command"), None);
    }

    #[test]
    fn the_shells_own_words_are_recognised_for_each_shell() {
        let output = |said: &str| ProcessOutput {
            hung: false,
            code: Some(127),
            signal: None,
            timed_out: false,
            stdout: Captured { head: said.as_bytes().to_vec(), tail: vec![], total: said.len() as u64 },
            stderr: Captured::default(),
            duration: Duration::from_millis(3),
        };
        for said in [
            "sh: 1: pytest: not found\n",
            "bash: pytest: command not found\n",
            "sh: line 1: pytest: command not found\n",
            "/bin/sh: 3: pytest: not found\n",
            "sh: pytest: not found\n",
        ] {
            assert!(command_not_found("pytest -q", &output(said), "command").is_some(), "{said}");
        }
        for said in
            ["pytest: not found\n", "sh: 1: pytest-cov: not found\n", "error: sh: x: pytest: not found\n"]
        {
            assert_eq!(command_not_found("pytest -q", &output(said), "command"), None, "{said}");
        }
        let mut other = output("sh: 1: pytest: not found\n");
        other.code = Some(1);
        assert_eq!(command_not_found("pytest -q", &other, "command"), None, "only status 127");
        assert_eq!(command_not_found("X=1 pytest", &output("sh: 1: X=1: not found\n"), "command"), None);
    }

    #[test]
    fn a_program_missing_at_spawn_is_an_environment_failure_with_the_install_hint() {
        let spec = ProcessSpec { argv: vec!["/nonexistent/claude".into()], ..ProcessSpec::shell("", "/") };
        let error = runtime().block_on(process::run(&spec, None)).unwrap_err();
        let outcome =
            spawn_failure(&error, "install Claude Code (`npm install -g @anthropic-ai/claude-code`)");
        assert_eq!(outcome.class, Some(FailureClass::Environment));
        let message = outcome.error.unwrap();
        assert_eq!(
            message,
            "cannot start `/nonexistent/claude`: it is not installed; install Claude Code (`npm install -g @anthropic-ai/claude-code`)"
        );
    }

    #[test]
    fn other_spawn_failures_stay_spawn_errors() {
        let spec = ProcessSpec { cwd: "/nonexistent-dir-ralph".into(), ..ProcessSpec::shell("true", "/") };
        let error = runtime().block_on(process::run(&spec, None)).unwrap_err();
        // The working directory is missing: chdir fails with ENOENT too, but that is no
        // missing program — the message says which.
        let outcome = spawn_failure(&error, "");
        assert_eq!(outcome.class, Some(FailureClass::SpawnError), "{outcome:?}");
        assert!(outcome.error.unwrap().contains("/bin/sh"));
        let other = ProcessError::Io { program: "claude".into(), source: io::Error::other("broken pipe") };
        assert_eq!(spawn_failure(&other, "").class, Some(FailureClass::SpawnError));
    }

    fn invocation(dir: &Path) -> crate::agent::command::Invocation {
        crate::agent::command::Invocation {
            run_id: "run-1".into(),
            step: "build".into(),
            workdir: dir.to_owned(),
            steps_dir: dir.to_owned(),
            stale_result: true,
            file_stem: "0001-build".into(),
            packet_path: None,
            signals: None,
            packet: None,
            prompt: None,
            timeout: Some(Duration::from_secs(60)),
            idle_timeout: None,
            env: Vec::new(),
            log_limit: Default::default(),
            spawned: None,
        }
    }

    #[test]
    fn a_full_disk_under_the_steps_log_stops_the_agent_and_is_an_environment_failure() {
        let dir = tempfile::tempdir().unwrap();
        let inv = invocation(dir.path());
        // The step's log on a full disk: `/dev/full` fails every write with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", inv.files().3).unwrap();
        let pid_file = dir.path().join("agent.pid");
        // An agent that would talk forever, with a child of its own.
        let command = format!(
            "sleep 60 & echo $$ > {}; while true; do echo working; sleep 0.01; done",
            pid_file.display()
        );
        let started = std::time::Instant::now();
        let outcome = runtime().block_on(crate::agent::command::run(&command, None, None, false, &inv));
        assert!(started.elapsed() < Duration::from_secs(20), "it was stopped, not timed out");
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(error.starts_with("the disk is full: cannot write the step's log `"), "{error}");
        assert!(error.ends_with("free space, then `ralph-loop resume`"), "{error}");
        let pgid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // Nothing of its group runs on: zombies waiting for their reaper hold nothing, and a
        // process with SIGKILL pending (a loaded machine has not scheduled its death yet) never
        // runs its own code again.
        let dying = |dir: &Path| {
            std::fs::read_to_string(dir.join("status")).is_ok_and(|status| {
                status.lines().filter(|l| l.starts_with("ShdPnd:") || l.starts_with("SigPnd:")).any(|l| {
                    u64::from_str_radix(l.split_whitespace().nth(1).unwrap_or("0"), 16).unwrap_or(0) & 0x100
                        != 0
                })
            })
        };
        let running: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| !dying(&e.path()))
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                let Some((_, rest)) = stat.rsplit_once(") ") else { return false };
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z"
            })
            .collect();
        assert!(running.is_empty(), "still running: {running:?}");
    }

    #[test]
    fn a_full_disk_found_only_when_the_log_is_flushed_still_fails_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let inv = invocation(dir.path());
        std::os::unix::fs::symlink("/dev/full", inv.files().3).unwrap();
        // One line, then the end: the write fails in the background and shows at the flush.
        let outcome = runtime().block_on(crate::agent::command::run("echo done", None, None, false, &inv));
        assert_eq!(outcome.class, Some(FailureClass::Environment), "{outcome:?}");
        assert!(outcome.error.unwrap().starts_with("the disk is full"));
    }

    #[test]
    fn enospc_and_edquot_are_a_full_disk_and_other_errors_are_not() {
        assert!(is_disk_full(&io::Error::from_raw_os_error(Errno::ENOSPC as i32)));
        assert!(is_disk_full(&io::Error::from_raw_os_error(Errno::EDQUOT as i32)));
        assert!(!is_disk_full(&io::Error::from_raw_os_error(Errno::EACCES as i32)));
        let error = std::fs::write("/dev/full", b"x").unwrap_err();
        assert!(is_disk_full(&error), "{error:?}");
        let outcome = step_files_failure(&error);
        assert_eq!(outcome.class, Some(FailureClass::Environment));
        assert!(outcome.error.unwrap().starts_with("the disk is full: cannot write the step's files"));
    }
}
