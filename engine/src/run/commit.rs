//! `--commit`: one commit per task, with the work the iteration left in the work tree.
//!
//! Everything under the project directory is staged except the run store (`.ralph/`), so a
//! run's own records never land in the user's history; nothing staged means no commit.

use std::path::Path;

/// The default message: `loop.commit_message` overrides it.
pub const DEFAULT_MESSAGE: &str = "{task_id}: {task_title}";

/// The commit message for a task: `{task_id}`, `{task_title}`, `{iteration}` and `{workflow}`
/// are replaced.
pub fn message(template: &str, task_id: &str, task_title: &str, iteration: u32, workflow: &str) -> String {
    template
        .replace("{task_id}", task_id)
        .replace("{task_title}", task_title)
        .replace("{iteration}", &iteration.to_string())
        .replace("{workflow}", workflow)
}

/// Why a commit could not be made.
#[derive(Debug, thiserror::Error)]
#[error("git {step} failed: {detail}")]
pub struct CommitError {
    step: &'static str,
    detail: String,
}

fn git(dir: &Path, step: &'static str, args: &[&str]) -> Result<std::process::Output, CommitError> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| CommitError { step, detail: e.to_string() })?;
    Ok(output)
}

fn checked(dir: &Path, step: &'static str, args: &[&str]) -> Result<String, CommitError> {
    let output = git(dir, step, args)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned();
        return Err(CommitError { step, detail });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Commits the work in `project_dir` with `message`; `None` when there was nothing to commit.
pub fn commit(project_dir: &Path, message: &str) -> Result<Option<String>, CommitError> {
    checked(project_dir, "add", &["add", "-A", "--", "."])?;
    // Unstage the run store (an exclude pathspec would fail when `.ralph/` is ignored, as it
    // usually is).
    checked(project_dir, "reset", &["reset", "-q", "--", ".ralph"])?;
    let staged = git(project_dir, "diff", &["diff", "--cached", "--quiet"])?;
    if staged.status.success() {
        return Ok(None);
    }
    checked(project_dir, "commit", &["commit", "-q", "-m", message])?;
    checked(project_dir, "rev-parse", &["rev-parse", "HEAD"]).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_template_fills_in_the_task() {
        assert_eq!(message(DEFAULT_MESSAGE, "T-3", "Add login", 2, "default"), "T-3: Add login");
        assert_eq!(message("[{workflow} #{iteration}] {task_title}", "x", "y", 4, "dag"), "[dag #4] y");
    }

    #[test]
    fn a_commit_holds_the_work_but_not_the_run_store() {
        let dir = tempfile::tempdir().unwrap();
        let sh = |s: &str| {
            assert!(
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg(s)
                    .current_dir(dir.path())
                    .status()
                    .unwrap()
                    .success()
            );
        };
        sh(
            "git init -q . && git config user.email t@t && git config user.name t && echo a > a && git add a && git commit -qm init",
        );
        assert_eq!(commit(dir.path(), "nothing").unwrap(), None);
        sh("echo b > b && mkdir -p .ralph/runs && echo x > .ralph/runs/log");
        let id = commit(dir.path(), "T-1: b").unwrap().unwrap();
        assert_eq!(id.len(), 40);
        let out = std::process::Command::new("git")
            .args(["show", "--name-only", "--format=%s", "HEAD"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "T-1: b\n\nb");
    }
}
