//! Every execution of one phase — a state, a DAG node or a saga step; a chain's or parallel
//! agents' work counts under its step — with its timing and result, and a summary of them all.

use serde::Serialize;

use super::history::{ExecutionStatus, History};

/// One execution of the phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseExecution {
    /// The run.
    pub run_id: String,
    /// The iteration.
    pub iteration: u32,
    /// The iteration's task.
    pub task: Option<String>,
    /// The step: the phase's state, node or saga step.
    pub step: String,
    /// The run's invocation number (its files' number).
    pub invocation: u64,
    /// The attempt, from 1.
    pub attempt: u32,
    /// Who performed it.
    pub agent: String,
    /// When it began.
    pub started_at: String,
    /// Its wall time, when it finished.
    pub duration_ms: Option<u64>,
    /// How it stands.
    pub status: ExecutionStatus,
    /// The named result the agent reported.
    pub result: Option<String>,
    /// The failure class.
    pub class: Option<String>,
    /// The error, in one line.
    pub error: Option<String>,
    /// Tokens its agents reported.
    pub tokens: Option<u64>,
    /// US dollars its agents reported.
    pub cost_usd: Option<f64>,
}

/// The executions of a phase, summed up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseSummary {
    /// Executions.
    pub executions: usize,
    /// Succeeded.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Cut short by a crash or a kill, or still unfinished.
    pub unfinished: usize,
    /// Times the phase was skipped instead of run.
    pub skipped: usize,
    /// Succeeded out of those that finished, from 0 to 1.
    pub success_rate: Option<f64>,
    /// The median duration of those that finished.
    pub p50_ms: Option<u64>,
    /// The longest.
    pub max_ms: Option<u64>,
    /// Tokens in all.
    pub tokens: u64,
    /// US dollars in all.
    pub cost_usd: f64,
}

/// The executions of `phase` in one run.
pub fn executions(run_id: &str, history: &History, phase: &str) -> Vec<PhaseExecution> {
    all(run_id, history).filter(|e| e.step == phase).collect()
}

/// Every execution of one run, of every step, in the order they began.
pub fn all<'a>(run_id: &'a str, history: &'a History) -> impl Iterator<Item = PhaseExecution> + 'a {
    history.executions.iter().map(move |e| {
        let outcome = e.outcome.as_ref();
        PhaseExecution {
            run_id: run_id.to_owned(),
            iteration: e.iteration,
            task: history
                .iterations
                .iter()
                .find(|i| i.iteration == e.iteration)
                .and_then(|i| i.task.as_ref().map(|t| t.id.clone())),
            step: e.step.clone(),
            invocation: e.invocation,
            attempt: e.attempt,
            agent: e.agent.clone(),
            started_at: e.started_at.clone(),
            duration_ms: e.duration_ms(),
            status: e.status,
            result: outcome.and_then(|o| o.result.clone()),
            class: outcome.and_then(|o| o.class).map(|c| c.as_str().to_owned()),
            error: outcome.and_then(|o| o.error.clone()),
            tokens: e.tokens(),
            cost_usd: e.cost_usd(),
        }
    })
}

/// Sums up executions; `skipped` is how often the phase was skipped.
pub fn summarize(executions: &[PhaseExecution], skipped: usize) -> PhaseSummary {
    let count = |s: ExecutionStatus| executions.iter().filter(|e| e.status == s).count();
    let (succeeded, failed) = (count(ExecutionStatus::Succeeded), count(ExecutionStatus::Failed));
    let mut durations: Vec<u64> = executions.iter().filter_map(|e| e.duration_ms).collect();
    durations.sort_unstable();
    // The lower median: an observed duration, never an average of two.
    let p50_ms = (!durations.is_empty()).then(|| durations[(durations.len() - 1) / 2]);
    PhaseSummary {
        executions: executions.len(),
        succeeded,
        failed,
        unfinished: executions.len() - succeeded - failed,
        skipped,
        success_rate: (succeeded + failed > 0).then(|| succeeded as f64 / (succeeded + failed) as f64),
        p50_ms,
        max_ms: durations.last().copied(),
        tokens: executions.iter().filter_map(|e| e.tokens).sum(),
        cost_usd: executions.iter().filter_map(|e| e.cost_usd).sum(),
    }
}

/// Every phase that ran or was skipped in a run, in the order first seen.
pub fn known(history: &History) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let steps = history.executions.iter().map(|e| &e.step).chain(history.skips.iter().map(|s| &s.step));
    for step in steps {
        if !names.contains(step) {
            names.push(step.clone());
        }
    }
    names
}

/// The step `phase` names: itself when a step of that name ran, else the one step that ran
/// whose name is its gerund (`build` → `building`, `plan` → `planning`, `merge` → `merging`) or
/// whose role it is (`builder` → `building`); else `phase` unchanged (and unknown).
pub fn resolve(phase: &str, known: &[String]) -> String {
    if known.iter().any(|k| k == phase) {
        return phase.to_owned();
    }
    let stem = phase.strip_suffix('e').unwrap_or(phase);
    let doubled = phase.chars().last().map(|c| format!("{phase}{c}ing")).unwrap_or_default();
    let mut names = vec![format!("{phase}ing"), format!("{stem}ing"), doubled];
    names.extend(
        crate::workflow::vocabulary::PHASE_ROLES
            .iter()
            .filter(|(_, role)| *role == phase)
            .map(|(state, _)| (*state).to_owned()),
    );
    let found: Vec<&String> = known.iter().filter(|k| names.contains(k)).collect();
    match found.as_slice() {
        [one] => (*one).clone(),
        _ => phase.to_owned(),
    }
}

/// The message for a phase that never ran.
pub(super) fn unknown_message(
    phase: &str,
    scope: &str,
    suggestion: Option<&str>,
    known: &[String],
) -> String {
    let mut text = format!("no step `{phase}` ran in {scope}");
    match suggestion {
        Some(s) => text.push_str(&format!("; did you mean `{s}`?")),
        None if known.is_empty() => text.push_str(" (no step ran at all)"),
        None => text.push_str(&format!("; the steps that ran are {}", super::quoted(known))),
    }
    text
}

/// The error for a phase that never ran, with the closest name that did.
pub fn unknown(phase: &str, scope: String, known: Vec<String>) -> super::InspectError {
    let suggestion = crate::workflow::suggest::did_you_mean(phase, known.iter().map(String::as_str));
    super::InspectError::UnknownPhase { phase: phase.to_owned(), scope, suggestion, known }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_named_by_its_verb_or_role_finds_its_state() {
        let known: Vec<String> = ["planning", "building", "verifying", "merging", "build_docs"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(resolve("build", &known), "building");
        assert_eq!(resolve("plan", &known), "planning");
        assert_eq!(resolve("verify", &known), "verifying");
        assert_eq!(resolve("merge", &known), "merging");
        assert_eq!(resolve("builder", &known), "building");
        assert_eq!(resolve("build_docs", &known), "build_docs");
        assert_eq!(resolve("deploy", &known), "deploy", "nothing like it ran");
    }

    fn run(duration_ms: Option<u64>, status: ExecutionStatus) -> PhaseExecution {
        PhaseExecution {
            run_id: "r".into(),
            iteration: 1,
            task: None,
            step: "s".into(),
            invocation: 1,
            attempt: 1,
            agent: "a".into(),
            started_at: String::new(),
            duration_ms,
            status,
            result: None,
            class: None,
            error: None,
            tokens: Some(10),
            cost_usd: None,
        }
    }

    #[test]
    fn the_summary_counts_rates_and_takes_the_median_and_maximum() {
        let all = [
            run(Some(300), ExecutionStatus::Succeeded),
            run(Some(100), ExecutionStatus::Failed),
            run(Some(200), ExecutionStatus::Succeeded),
            run(Some(900), ExecutionStatus::Succeeded),
            run(None, ExecutionStatus::Interrupted),
        ];
        let s = summarize(&all, 2);
        assert_eq!((s.executions, s.succeeded, s.failed, s.unfinished, s.skipped), (5, 3, 1, 1, 2));
        assert_eq!(s.success_rate, Some(0.75));
        assert_eq!((s.p50_ms, s.max_ms), (Some(200), Some(900)));
        assert_eq!(s.tokens, 50);
        assert_eq!(summarize(&[], 0).success_rate, None);
    }

    #[test]
    fn an_unknown_phase_gets_the_closest_name() {
        let e = unknown("build", "run r".into(), vec!["planning".into(), "building".into()]);
        assert_eq!(e.to_string(), "no step `build` ran in run r; did you mean `building`?");
        let e = unknown("deploy", "run r".into(), vec!["lint".into(), "test".into()]);
        assert_eq!(e.to_string(), "no step `deploy` ran in run r; the steps that ran are `lint`, `test`");
    }
}
