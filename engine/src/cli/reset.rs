//! `ralph-loop reset`: removes the loop's state — run store, ledger, run directories, control
//! files — after saying exactly what goes and what stays (see `inspect::reset`).

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Args;

use super::{Env, Exit};
use crate::inspect::reset::{KEEPS, ResetPlan};

/// Arguments of `reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short)]
    pub yes: bool,
}

/// Resets the loop's state.
pub fn run(args: &ResetArgs, env: &Env) -> anyhow::Result<Exit> {
    let plan = ResetPlan::survey(&env.project_dir, &env.state_dir);
    let shown = |path: &std::path::Path| {
        let relative = path.strip_prefix(&env.project_dir).unwrap_or(path);
        relative.display().to_string()
    };
    if plan.is_empty() {
        super::out(&format!(
            "nothing to reset: there is no loop state in `{}`\n",
            shown(&env.project_dir.join(".ralph"))
        ));
        return Ok(Exit::Ok);
    }
    // Held from here to the end: no loop starts between the question and the removal.
    let lock = plan.lock()?;
    let width = plan.items.iter().map(|i| shown(&i.path).chars().count()).max().unwrap_or(0);
    let mut text = String::from("reset removes:\n");
    for item in &plan.items {
        text.push_str(&format!("  {:<width$}  {}\n", shown(&item.path), item.what));
    }
    text.push_str("and keeps:\n");
    for keep in KEEPS {
        text.push_str(&format!("  {keep}\n"));
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprint!("{text}");
            eprintln!(
                "error: reset asks before it removes anything, and stdin is not a terminal; `ralph-loop reset --yes` resets without asking — nothing was removed"
            );
            return Ok(Exit::Usage);
        }
        eprint!("{text}remove these? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            eprintln!("nothing was removed");
            return Ok(Exit::Failed);
        }
    } else {
        super::out(&text);
    }
    plan.perform(&lock)?;
    super::out("reset: the loop's state is gone; the next `ralph-loop loop` starts afresh\n");
    Ok(Exit::Ok)
}
