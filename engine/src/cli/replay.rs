//! `ralph-loop replay --from-state <snapshot>`: a new run from a snapshot of another, and
//! `ralph-loop replay --check <run> [--workflow <file>]`: a finished run's recorded outcomes
//! re-decided by a (changed) workflow — or by the definition it ran — without invoking any
//! agent.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::exit::usage;
use super::run::{Loaded, LoopArgs, load, run_loaded};
use super::{Env, Exit};
use crate::inspect::{InspectError, resolve_run};
use crate::run::fork::{Cut, fork};
use crate::store::{RunRecord, Store, definition_hash};
use crate::workflow::diff;
use crate::workflow::model::Document;

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The snapshot to start a new run from: `<run>@<seq>` (see `ralph-loop snapshots`), or a
    /// run id for its latest snapshot.
    #[arg(long, value_name = "SNAPSHOT", required_unless_present = "check", conflicts_with = "check")]
    pub from_state: Option<String>,
    /// Which definition the new run runs when the workflow file changed since the snapshot:
    /// the one the snapshot was taken with, or the file as it is now.
    #[arg(long, value_enum, value_name = "WHICH", requires = "from_state")]
    pub definition: Option<Definition>,
    /// Re-decide this finished run's recorded outcomes with `--workflow` (default: the
    /// definition the run ran, as the store keeps it), invoking no agent, and report the first
    /// step where the decisions differ.
    #[arg(long, value_name = "RUN")]
    pub check: Option<String>,
    /// The workflow to check the run against.
    #[arg(long, value_name = "FILE", requires = "check")]
    pub workflow: Option<PathBuf>,
    /// The project configuration to check with (default: the run's).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stream the new run's events as JSON lines (with `--from-state`), or print the check's
    /// report as JSON (with `--check`).
    #[arg(long)]
    pub json: bool,
}

/// Which definition a replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Definition {
    /// The definition the snapshot was taken with (kept in the store).
    Stored,
    /// The workflow file as it is now.
    Current,
}

/// Runs `replay`.
pub fn run(args: &ReplayArgs, env: &Env) -> anyhow::Result<Exit> {
    match (&args.from_state, &args.check) {
        (Some(snapshot), _) => from_state(args, snapshot, env),
        (None, Some(run)) => super::check::run(args, run, env),
        (None, None) => unreachable!("clap requires one of --from-state and --check"),
    }
}

/// The loop arguments a run recorded as `record` ran with (for `resume`, `replay`, `retry`).
pub fn loop_args(record: &RunRecord, json: bool) -> LoopArgs {
    LoopArgs {
        workflow: Some(record.workflow_file.clone()),
        config: record.config_file.clone(),
        commit: record.commit,
        tasks: record.tasks.clone(),
        jobs: Some(record.jobs),
        max_iterations: record.max_iterations,
        dry_run: false,
        json,
        telemetry: Default::default(),
    }
}

/// The store, to start a run from one of its runs (it is held meanwhile). A directory without
/// a store has no runs: none is created there.
pub fn open_store(env: &Env) -> anyhow::Result<Store> {
    match Store::open_existing(&env.state_dir)? {
        Some(store) => Ok(store),
        None => Err(InspectError::NoRuns { dir: env.state_dir.clone() }.into()),
    }
}

/// The run `asked` names: its id, or a prefix of only its id.
pub fn find_run(store: &Store, asked: &str) -> anyhow::Result<RunRecord> {
    let runs = store.runs()?;
    let id = resolve_run(asked, runs.iter().map(|r| r.run_id.as_str()), store.dir())?;
    Ok(runs.into_iter().find(|r| r.run_id == id).expect("resolved among these runs"))
}

/// The definition a run of `record` ran, as kept in the store, compiled.
pub fn stored(store: &Store, record: &RunRecord, hash: &str) -> anyhow::Result<Option<Loaded>> {
    let Some(definition) = store.definition(hash)? else { return Ok(None) };
    let doc: Document = serde_json::from_value(definition.document)?;
    let Some(plan) = crate::plan::compile(&doc) else {
        anyhow::bail!("the stored definition {hash} has no workflow to run");
    };
    Ok(Some(Loaded { doc, plan, workflow: record.workflow_file.clone() }))
}

fn from_state(args: &ReplayArgs, id: &str, env: &Env) -> anyhow::Result<Exit> {
    let store = open_store(env)?;
    // The run of a snapshot id may be given by a prefix of its id, and a run alone names its
    // latest snapshot; what names no run is looked up as given (and not found).
    let id = match crate::store::parse_snapshot_id(id) {
        Some((run, seq)) => match find_run(&store, run) {
            Ok(record) => format!("{}@{seq}", record.run_id),
            Err(_) => id.to_owned(),
        },
        None if store.snapshot(id)?.is_some() => id.to_owned(),
        None => find_run(&store, id).map(|r| r.run_id).unwrap_or_else(|_| id.to_owned()),
    };
    let id = id.as_str();
    let Some(snapshot) = store.snapshot(id)? else {
        let known: Vec<String> = store.snapshots(None)?.into_iter().rev().take(5).map(|s| s.id).collect();
        let hint = if known.is_empty() {
            "there are no snapshots in this store".to_owned()
        } else {
            format!("the latest: {} (`ralph-loop snapshots` lists them all)", known.join(", "))
        };
        return Err(usage(format!("there is no snapshot `{id}`; {hint}")));
    };
    let Some(source) = store.run(&snapshot.run_id)? else {
        return Err(crate::store::StoreError::Corrupt {
            dir: env.state_dir.clone(),
            detail: format!(
                "snapshot {} names run {}, which is not in the store",
                snapshot.id, snapshot.run_id
            ),
        }
        .into());
    };
    let loop_args = loop_args(&source, args.json);
    let what = format!("snapshot {} was taken", snapshot.id);
    let (loaded, which, hash) =
        match choose(&store, &source, &snapshot.definition_hash, args.definition, &loop_args, &what, env)? {
            Ok(chosen) => chosen,
            Err(code) => return Ok(code),
        };
    let new_id = crate::run::runner::run_id();
    let cut = Cut::Snapshot { id: snapshot.id.clone(), seq: snapshot.seq };
    let record = fork(&store, &source, &cut, &loaded.plan, &new_id, which, &hash)?;
    drop(store);
    eprintln!(
        "run {new_id}: replaying snapshot {} ({}, iteration {})",
        snapshot.id, snapshot.trigger, snapshot.iteration
    );
    run_loaded(&loop_args, env, loaded, Some(record))
}

/// The definition a run made from `source` runs: the file as it is now when it has not changed
/// since `hash`; otherwise the stored or the current one as `choice` says — and without a
/// choice, the change is shown and the run refused. `since` says since when (for messages).
pub fn choose(
    store: &Store,
    source: &RunRecord,
    hash: &str,
    choice: Option<Definition>,
    loop_args: &LoopArgs,
    since: &str,
    env: &Env,
) -> anyhow::Result<Result<(Loaded, &'static str, String), Exit>> {
    // The current file, read as `loop` would; an invalid file can still replay `stored`.
    let current = match load(loop_args, env)? {
        Ok(loaded) => Some(loaded),
        Err(_) if choice == Some(Definition::Stored) => None,
        Err(code) => return Ok(Err(code)),
    };
    let current_hash = current
        .as_ref()
        .map(|c| definition_hash(&serde_json::to_vec(&c.doc).unwrap_or_default()))
        .unwrap_or_default();
    let changed = current_hash != hash;
    // Only a changed file needs the stored definition (read, decoded and compiled).
    let stored_def = if changed { stored(store, source, hash)? } else { None };
    let changes = match (&stored_def, &current) {
        (Some(s), Some(c)) if changed => diff::changes(
            &serde_json::to_value(&s.doc).unwrap_or_default(),
            &serde_json::to_value(&c.doc).unwrap_or_default(),
        ),
        _ => Vec::new(),
    };
    let show_changes = |what: &str| {
        eprintln!("{what}");
        for change in &changes {
            eprintln!("  {change}");
        }
    };
    let file = source.workflow_file.display();
    Ok(Ok(match choice {
        _ if !changed => (current.expect("an unchanged file was loaded"), "current", current_hash),
        None => {
            show_changes(&format!("`{file}` has changed since {since} ({} change(s)):", changes.len()));
            return Err(usage(
                "the workflow changed; run the definition the run used (`--definition stored`) or the file as it is now (`--definition current`)",
            ));
        }
        Some(Definition::Stored) => {
            let Some(loaded) = stored_def else {
                return Err(usage(format!(
                    "the store does not hold the definition {since} with; `--definition current` runs the file as it is now"
                )));
            };
            if current.is_some() {
                show_changes(&format!("note: running the stored definition; `{file}` has changed since:"));
            }
            (loaded, "stored", hash.to_owned())
        }
        Some(Definition::Current) => {
            show_changes(&format!("note: running `{file}` as it is now; changed since {since}:"));
            (current.expect("loaded unless --definition stored"), "current", current_hash)
        }
    }))
}
