//! Built-in actions: what `on_enter`, `on_exit`, `compensation.on_failure`, `on_timeout` and a
//! saga's `action`/`compensate` can name besides agents.
//!
//! An action ends with an [`Outcome`] like any agent, so the runner treats both alike. Three of
//! them steer the run rather than the work: `stop` ends it (class `stopped`), `fail` fails the
//! step, and `approve`/`auto_approve`/`reject` report the named results `approved`/`rejected`.
//! The `notify` actions are recorded in the run's `notifications.log` (and shown); the
//! `notifications:` section's events are delivered to their channels by `run/notify.rs`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::core::outcome::FailureClass;
use crate::agent::process::{self, ProcessSpec};
use crate::run::core::outcome::Outcome;
use crate::workflow::model::ActionSpec;

/// What an action may touch.
#[derive(Debug, Clone)]
pub struct ActionContext {
    /// The project directory.
    pub workdir: PathBuf,
    /// The run's directory.
    pub run_dir: PathBuf,
    /// The commit `HEAD` pointed at when the run started. `git_reset` and `git_commit` read
    /// the whole base (every path dirty then) from the run's directory instead
    /// ([`super::base::RunBase`]), which a resumed run keeps.
    pub base_commit: Option<String>,
    /// The step the action runs for.
    pub step: String,
    /// The running loop's control channel (`pause_loop`, `resume_loop`).
    pub control: Option<tokio::sync::mpsc::UnboundedSender<crate::control::server::Order>>,
    /// Where the runner lays review decisions (`escalate_to_human`).
    pub desk: super::human::Desk,
}

fn arg<'a>(spec: &'a ActionSpec, name: &str) -> Option<&'a serde_json::Value> {
    spec.args.get(name)
}

fn arg_str(spec: &ActionSpec, name: &str) -> Option<String> {
    arg(spec, name).map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn ok(summary: impl Into<String>, started: Instant) -> Outcome {
    Outcome {
        success: true,
        summary: Some(summary.into()),
        duration_ms: started.elapsed().as_millis() as u64,
        ..Outcome::default()
    }
}

/// Appends a line to the run's `notifications.log`.
pub fn record_notification(run_dir: &Path, step: &str, message: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(crate::private::FILE_MODE)
        .open(run_dir.join("notifications.log"))?;
    let message = crate::redact::installed().redact(message);
    writeln!(file, "{} [{step}] {message}", crate::clock::now())
}

/// Runs a shell command in the project directory and turns its end into an outcome.
async fn shell(command: &str, ctx: &ActionContext, started: Instant) -> Outcome {
    let mut spec = ProcessSpec::shell(command, &ctx.workdir);
    spec.merge_output = true;
    match process::run(&spec, None).await {
        Ok(out) if out.success() => ok(format!("`{command}` succeeded"), started),
        Ok(out) => {
            let said =
                out.stdout.text().lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned();
            let mut o = Outcome::failed(
                FailureClass::NonzeroExit,
                format!("`{command}` {}", crate::error_text::ended_saying(out.code, out.signal, &said)),
            );
            o.exit_code = out.code;
            o.duration_ms = started.elapsed().as_millis() as u64;
            o
        }
        Err(e) => Outcome::failed(FailureClass::SpawnError, format!("`{command}`: {e}")),
    }
}

/// Runs a built-in action; with `notify: true`, its end is also recorded as a notification (as
/// a `notify` action records one), so that a person reading `notifications.log` sees it.
pub async fn run(spec: &ActionSpec, ctx: &ActionContext) -> Outcome {
    let outcome = perform(spec, ctx).await;
    let notifies = spec.action.starts_with("notify");
    if spec.notify == Some(true) && !notifies {
        let how = match (&outcome.success, &outcome.error) {
            (true, _) => outcome.summary.clone().unwrap_or_else(|| "done".to_owned()),
            (false, Some(error)) => format!("failed: {error}"),
            (false, None) => "failed".to_owned(),
        };
        let _ = record_notification(&ctx.run_dir, &ctx.step, &format!("`{}` ran: {how}", spec.action));
    }
    outcome
}

async fn perform(spec: &ActionSpec, ctx: &ActionContext) -> Outcome {
    let started = Instant::now();
    let name = spec.action.as_str();
    match name {
        "log" | "log_start" | "log_complete" => {
            let message = arg_str(spec, "message").unwrap_or_else(|| match name {
                "log_start" => format!("entered `{}`", ctx.step),
                "log_complete" => format!("left `{}`", ctx.step),
                _ => format!("`{}`", ctx.step),
            });
            ok(message, started)
        }
        "notify" | "notify_success" | "notify_failure" | "notify_team" => {
            let message = arg_str(spec, "message").unwrap_or_else(|| match name {
                "notify_success" => "the run succeeded".to_owned(),
                "notify_failure" => "the run failed".to_owned(),
                _ => format!("notification from `{}`", ctx.step),
            });
            match record_notification(&ctx.run_dir, &ctx.step, &message) {
                Ok(()) => ok(format!("notified: {message}"), started),
                Err(e) => {
                    Outcome::failed(FailureClass::ActionError, format!("cannot record the notification: {e}"))
                }
            }
        }
        "approve" | "auto_approve" => Outcome { result: Some("approved".into()), ..ok(name, started) },
        "reject" => Outcome { result: Some("rejected".into()), ..ok("rejected", started) },
        "fail" => {
            let message = arg_str(spec, "message").unwrap_or_else(|| format!("`fail` in `{}`", ctx.step));
            Outcome::failed(FailureClass::Action, message)
        }
        "stop" => {
            let message = arg_str(spec, "message").unwrap_or_else(|| format!("`stop` in `{}`", ctx.step));
            Outcome::failed(FailureClass::Stopped, message)
        }
        "command" => match arg_str(spec, "run") {
            Some(command) => shell(&command, ctx, started).await,
            None => Outcome::failed(FailureClass::Action, "the `command` action needs `args.run`"),
        },
        "git_commit" => {
            let message = arg_str(spec, "message").unwrap_or_else(|| format!("ralph-loop: {}", ctx.step));
            super::git_actions::git_commit(&message, ctx).await
        }
        "git_reset" => {
            let hard = arg(spec, "hard").and_then(serde_json::Value::as_bool).unwrap_or(false);
            super::git_actions::git_reset(hard, ctx).await
        }
        "escalate_to_human" => {
            let _ = record_notification(
                &ctx.run_dir,
                &ctx.step,
                &format!("`{}` needs a person: ralph-loop approve | reject", ctx.step),
            );
            match super::human::wait(&ctx.desk, &ctx.run_dir, &ctx.step, None, None).await {
                super::human::Review::Decided(decided) => Outcome {
                    result: Some(decided.decision),
                    summary: decided.comment,
                    reviewer: Some(decided.by),
                    reviewer_as: decided.display_name,
                    ..ok("decided", started)
                },
                super::human::Review::TimedOut => {
                    Outcome::failed(FailureClass::Timeout, "the review timed out")
                }
            }
        }
        "pause_loop" | "resume_loop" => {
            let (signal, what) = if name == "pause_loop" {
                (crate::control::Signal::Pause, "the loop pauses after this step")
            } else {
                (crate::control::Signal::Resume, "the loop goes on")
            };
            let order = crate::control::server::Order {
                signal,
                display_name: Some(format!("the action `{name}` of `{}`", ctx.step)),
                peer: None,
                reply: None,
            };
            // The runner takes it at its next check (at once, while it waits on this step).
            match ctx.control.as_ref().map(|c| c.send(order)) {
                Some(Ok(())) => ok(what, started),
                _ => Outcome::failed(FailureClass::Action, format!("`{name}` needs a running loop")),
            }
        }
        other => {
            Outcome::failed(FailureClass::Action, format!("the built-in action `{other}` cannot run here"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ActionSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn ctx(dir: &Path) -> ActionContext {
        ActionContext {
            workdir: dir.to_owned(),
            run_dir: dir.to_owned(),
            base_commit: None,
            step: "s".into(),
            control: None,
            desk: Default::default(),
        }
    }

    #[tokio::test]
    async fn steering_actions_report_results_and_classes() {
        let dir = tempfile::tempdir().unwrap();
        let c = ctx(dir.path());
        assert_eq!(run(&spec("action: auto_approve"), &c).await.result.as_deref(), Some("approved"));
        assert_eq!(run(&spec("action: reject"), &c).await.result.as_deref(), Some("rejected"));
        assert_eq!(run(&spec("action: stop"), &c).await.class, Some(FailureClass::Stopped));
        assert!(!run(&spec("action: fail"), &c).await.success);
        let notified = run(&spec("{action: notify, args: {message: hello}}"), &c).await;
        assert!(notified.success);
        let log = std::fs::read_to_string(dir.path().join("notifications.log")).unwrap();
        assert!(log.contains("[s] hello"), "{log}");
    }

    #[tokio::test]
    async fn the_command_action_runs_args_run() {
        let dir = tempfile::tempdir().unwrap();
        let c = ctx(dir.path());
        assert!(run(&spec("{action: command, args: {run: 'touch made'}}"), &c).await.success);
        assert!(dir.path().join("made").exists());
        let failed = run(&spec("{action: command, args: {run: 'echo no; exit 3'}}"), &c).await;
        assert_eq!(failed.exit_code, Some(3));
        assert!(failed.error.unwrap().ends_with(": no"));
    }
}
