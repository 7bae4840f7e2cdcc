//! `ralph-loop learnings [--json]`, `learnings forget ID`, `learnings edit ID TEXT`: what agents
//! learnt in this project (`.ralph/learnings.json`), and how a person corrects it.

use clap::{Args, Subcommand};

use super::{Env, Exit};
use crate::task::learnings::{self, Learnings};

/// Arguments of `learnings`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LearningsArgs {
    /// Forget or edit one; without, list them.
    #[command(subcommand)]
    pub command: Option<LearningsCommand>,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `ralph-loop learnings …`
#[derive(Debug, Subcommand)]
pub enum LearningsCommand {
    /// Remove a learning: no later packet carries it (its id is not reused).
    Forget {
        /// Its id (`L3`), as `ralph-loop learnings` lists it.
        id: String,
    },
    /// Replace a learning's text (it keeps its id, source and count).
    Edit {
        /// Its id (`L3`), as `ralph-loop learnings` lists it.
        id: String,
        /// The new text.
        text: String,
    },
}

/// Lists, forgets or edits the project's learnings.
pub fn run(args: &LearningsArgs, env: &Env) -> anyhow::Result<Exit> {
    let path = learnings::path(&env.project_dir);
    let mut store = learnings::load(&path).map_err(|e| super::exit::environment(format!("{e}")))?;
    match &args.command {
        None => list(&store, args.json),
        Some(LearningsCommand::Forget { id }) => {
            known(&store, id)?;
            store.forget(id);
            save(&path, &store)?;
            super::out(&format!("forgot {id}\n"));
            Ok(Exit::Ok)
        }
        Some(LearningsCommand::Edit { id, text }) => {
            known(&store, id)?;
            let Some(text) = learnings::clean(text) else {
                return Err(super::exit::usage(format!(
                    "the new text of `{id}` is empty; `ralph-loop learnings forget {id}` removes it"
                )));
            };
            let key = learnings::normalized(&text);
            if let Some(same) =
                store.learnings.iter().find(|l| l.id != *id && learnings::normalized(&l.text) == key)
            {
                return Err(super::exit::usage(format!(
                    "`{}` already says that; `ralph-loop learnings forget {id}` removes `{id}`",
                    same.id
                )));
            }
            if let Some(learning) = store.learnings.iter_mut().find(|l| l.id == *id) {
                learning.text = text;
            }
            save(&path, &store)?;
            super::out(&format!("edited {id}\n"));
            Ok(Exit::Ok)
        }
    }
}

fn known(store: &Learnings, id: &str) -> anyhow::Result<()> {
    if store.get(id).is_some() {
        return Ok(());
    }
    let hint = crate::workflow::suggest::did_you_mean(id, store.ids())
        .map(|m| format!("; did you mean `{m}`?"))
        .unwrap_or_else(|| "; `ralph-loop learnings` lists them".to_owned());
    Err(super::exit::usage(format!("no learning `{id}`{hint}")))
}

fn save(path: &std::path::Path, store: &Learnings) -> anyhow::Result<()> {
    learnings::save(path, store)
        .map_err(|e| super::exit::environment(format!("cannot write `{}`: {e}", path.display())))
}

fn list(store: &Learnings, json: bool) -> anyhow::Result<Exit> {
    if json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&store.learnings)?));
        return Ok(Exit::Ok);
    }
    if store.learnings.is_empty() {
        super::out(
            "no learnings yet; agents report them in their result file's `learnings` or as `- ` lines in `.ralph/learnings.md`\n",
        );
        return Ok(Exit::Ok);
    }
    let width = store.learnings.iter().map(|l| l.id.len()).max().unwrap_or(2).max(2);
    let mut text = format!("{:width$}  {:>5}  {:24}  {}\n", "ID", "COUNT", "SOURCE", "TEXT");
    for l in &store.learnings {
        let source = match &l.source.task {
            Some(task) => format!("task {task}, {}", l.source.step),
            None => l.source.step.clone(),
        };
        text.push_str(&format!("{:width$}  {:>5}  {:24}  {}\n", l.id, l.count, source, l.text));
    }
    super::out(&text);
    Ok(Exit::Ok)
}
