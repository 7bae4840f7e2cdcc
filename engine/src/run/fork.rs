//! A new run made from another run's journal: `replay --from-state <snapshot>` and
//! `retry <run> --from <step>`.
//!
//! The new run's journal starts with the source run's events — all of them up to the snapshot,
//! or, for a retry, those before the step (and, in a DAG, everything but the step and what
//! depends on it) — followed by a `forked` event naming where they came from. The new run is
//! then *resumed* (`run::resume`): recorded outcomes are replayed, not run again, and the run
//! goes on from where its journal ends. The source run is not touched.

use std::collections::HashSet;

use petgraph::visit::Dfs;

use super::core::event::Event;
use crate::clock::now;
use crate::plan::Plan;
use crate::store::{JournalError, RunRecord, Store, StoreError};
use crate::workflow::model::WorkflowKind;

/// Where the new run takes over.
#[derive(Debug, Clone)]
pub enum Cut {
    /// Everything up to and including this journal event (a snapshot).
    Snapshot {
        /// The snapshot's id.
        id: String,
        /// Its journal position.
        seq: u64,
    },
    /// Everything before the last run of this step, which runs again.
    RetryFrom(String),
}

/// Why a run cannot be forked.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source journal cannot be read, or the new one written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The step never ran in the source run.
    #[error("step `{step}` never ran in run {run}{}", if ran.is_empty() { String::new() } else { format!("; the steps that ran: {}", ran.join(", ")) })]
    NeverRan {
        /// The run.
        run: String,
        /// The step asked for.
        step: String,
        /// The steps that did run, in order.
        ran: Vec<String>,
    },
}

/// Makes the journal of a new run `new_id` from `source`'s, cut at `cut`, and returns the new
/// run's record (status `stopped`: it is ready for `resume`). `definition` says which definition
/// the new run runs (`stored` or `current`) and `definition_hash` is that definition's hash.
pub fn fork(
    store: &Store,
    source: &RunRecord,
    cut: &Cut,
    plan: &Plan,
    new_id: &str,
    definition: &str,
    definition_hash: &str,
) -> Result<RunRecord, ForkError> {
    let events: Vec<(u64, Event)> = store.journal(&source.run_id)?.read(1)?;
    let (kept, from_seq, why) = match cut {
        Cut::Snapshot { id, seq } => {
            let kept: Vec<Event> = events.into_iter().take_while(|(s, _)| s <= seq).map(|(_, e)| e).collect();
            (kept, *seq, format!("snapshot {id}"))
        }
        Cut::RetryFrom(step) => retry_cut(source, events, step, plan)?,
    };
    let mut journal = store.journal(new_id)?;
    for mut event in kept {
        if let Event::RunStarted { run_id, .. } = &mut event {
            new_id.clone_into(run_id);
        }
        journal.append(&event)?;
    }
    journal.append(&Event::Forked {
        from_run: source.run_id.clone(),
        from_seq,
        why,
        definition: definition.into(),
        at: now(),
    })?;
    let record = RunRecord {
        run_id: new_id.to_owned(),
        definition_hash: definition_hash.to_owned(),
        traceparent: None,
        status: "stopped".into(),
        reason: None,
        started_at: now(),
        ..source.clone()
    };
    store.put_run(&record)?;
    Ok(record)
}

/// The events a retry from `step` keeps: those of the iteration `step` last ran in, up to the
/// end of that iteration's work, without `step`'s last run — and in a DAG without its
/// dependents' — so that the resumed run runs them again.
fn retry_cut(
    source: &RunRecord,
    events: Vec<(u64, Event)>,
    step: &str,
    plan: &Plan,
) -> Result<(Vec<Event>, u64, String), ForkError> {
    let started = |e: &Event| matches!(e, Event::StepStarted { step: s, .. } if s == step);
    let Some(last) = events.iter().rposition(|(_, e)| started(e)) else {
        let mut ran: Vec<String> = Vec::new();
        for (_, e) in &events {
            if let Event::StepStarted { step, .. } = e {
                if !ran.contains(step) {
                    ran.push(step.clone());
                }
            }
        }
        return Err(ForkError::NeverRan { run: source.run_id.clone(), step: step.into(), ran });
    };
    let why = format!("retry from {step}");
    if plan.kind != WorkflowKind::Dag {
        // A state machine or saga is a sequence: the run is taken up just before the step
        // started (its state's transition, or the previous step, is the last event kept).
        let from_seq = events[last].0.saturating_sub(1);
        let kept = events.into_iter().take(last).map(|(_, e)| e).collect();
        return Ok((kept, from_seq, why));
    }
    // A DAG: the iteration's other nodes keep their outcomes; the step and every node that
    // depends on it, directly or not, run again.
    let mut again: HashSet<String> = HashSet::new();
    if let Some(node) = plan.node(step) {
        let mut dfs = Dfs::new(&plan.graph, node);
        while let Some(n) = dfs.next(&plan.graph) {
            again.insert(plan.graph[n].id.clone());
        }
    }
    let end = events[last..]
        .iter()
        .position(|(_, e)| matches!(e, Event::IterationFinished { .. } | Event::RunFinished { .. }))
        .map_or(events.len(), |i| last + i);
    let from_seq = events[end - 1].0;
    // Earlier iterations are history; only the step's iteration is edited.
    let begin =
        events[..last].iter().rposition(|(_, e)| matches!(e, Event::IterationStarted { .. })).unwrap_or(0);
    let kept = events
        .into_iter()
        .take(end)
        .enumerate()
        .filter(|(i, (_, e))| !(*i >= begin && step_of(e).is_some_and(|s| again.contains(s))))
        .map(|(_, (_, e))| e)
        .collect();
    Ok((kept, from_seq, why))
}

/// Events of a step's life.
fn step_of(event: &Event) -> Option<&str> {
    match event {
        Event::StepStarted { step, .. }
        | Event::StepFinished { step, .. }
        | Event::StepSkipped { step, .. }
        | Event::StepRetrying { step, .. }
        | Event::StepInterrupted { step, .. }
        | Event::Waiting { step, .. } => Some(step),
        _ => None,
    }
}
