//! The differential test of the run core: generated workflows — state machines, DAGs and sagas,
//! with revisits, retries, parallel states, hooks, human reviews, budgets, tasks, and control
//! signals and hints sent as steps start — run by a script whose outcomes are a function of
//! where the run is, on an in-memory journal and a paused clock. For every cut point k of the
//! journal, a run resumed from `journal[..k]` must take the same decisions and end in the same
//! state as the run that was never cut.
//!
//! `PROPTEST_CASES` sets how many workflows are generated (CI runs a few dozen; run it with
//! thousands locally: `PROPTEST_CASES=5000 cargo test -p ralph-loop --lib differential`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::core::event::{Event, Mark};
use super::core::outcome::{FailureClass, Outcome};
use super::core::projection::RunState;
use super::core::signal::Signal;
use super::performer::{Perform, Performer, Script};
use super::runner::{EventSink, LogChoice, RunOptions, Runner};
use super::task_loop::TaskLoop;
use crate::task::{TaskFile, TaskStatus};

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A hash of where the run is: the script's outcomes and signals depend on nothing else.
fn hash(seed: u64, parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Rng(h).next()
}

/// A generated case.
#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    yaml: String,
    tasks: usize,
    states: Vec<String>,
    reviews: Vec<String>,
}

const AGENTS: &str = "agents:\n  cmd:\n    backend: command\n    command: \"true\"\n  ai:\n    backend: openai\n    model: m\n    base_url: http://127.0.0.1:9/v1\n  other:\n    backend: openai\n    model: m\n    base_url: http://127.0.0.1:9/v1\n  reviewer:\n    type: human\n";

fn agent(rng: &mut Rng) -> &'static str {
    match rng.below(3) {
        0 => "cmd",
        1 => "ai",
        _ => "other",
    }
}

fn state_machine(rng: &mut Rng, reviews: &mut Vec<String>) -> (String, Vec<String>) {
    let n = 2 + rng.below(4) as usize;
    let states: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let mut y = String::from("workflow:\n  type: state_machine\n  initial: s0\n  states:\n");
    for (i, s) in states.iter().enumerate() {
        let _ = writeln!(y, "    - id: {s}");
        if rng.chance(15) {
            reviews.push(s.clone());
            let _ = writeln!(y, "      type: human\n      agent: reviewer");
        } else if rng.chance(20) {
            let require_all = rng.chance(50);
            let _ = writeln!(
                y,
                "      agents: [{}, {}]\n      parallel: true\n      require_all: {require_all}",
                agent(rng),
                agent(rng)
            );
        } else {
            let _ = writeln!(y, "      agent: {}", agent(rng));
        }
        if rng.chance(30) {
            let _ = writeln!(y, "      retry: quick");
        }
        if rng.chance(25) {
            let _ = writeln!(y, "      on_enter: [log]");
        }
        if rng.chance(25) {
            let _ = writeln!(y, "      on_exit: [log]");
        }
        let _ = i;
    }
    y.push_str("    - id: done\n      type: terminal\n  transitions:\n");
    for (i, s) in states.iter().enumerate() {
        let next = states.get(i + 1).cloned().unwrap_or_else(|| "done".into());
        let back = states[rng.below(i as u64 + 1) as usize].clone();
        match rng.below(3) {
            0 => {
                let _ = writeln!(
                    y,
                    "    - from: {s}\n      to: {next}\n      condition: success\n      else: {back}"
                );
            }
            1 => {
                let _ = writeln!(
                    y,
                    "    - from: {s}\n      to: {next}\n      condition: verified or approved\n    - from: {s}\n      to: {back}\n      condition: needs_fixes or rejected\n      else: {next}"
                );
            }
            _ => {
                let _ = writeln!(y, "    - from: {s}\n      to: {next}\n      else: stop");
            }
        }
    }
    (y, states)
}

fn dag(rng: &mut Rng) -> String {
    let n = 2 + rng.below(6) as usize;
    let mut y = String::from("workflow:\n  type: dag\n  nodes:\n");
    for i in 0..n {
        let _ = writeln!(y, "    - id: n{i}\n      agent: {}", agent(rng));
        let deps: Vec<String> = (0..i).filter(|_| rng.chance(35)).map(|d| format!("n{d}")).collect();
        if !deps.is_empty() {
            let _ = writeln!(y, "      depends_on: [{}]", deps.join(", "));
        }
        if rng.chance(25) {
            let _ = writeln!(y, "      continue_on: failure");
        }
        if rng.chance(30) {
            let _ = writeln!(y, "      retry: quick");
        }
    }
    y
}

fn saga(rng: &mut Rng) -> String {
    let n = 2 + rng.below(3) as usize;
    let mut y = String::from("workflow:\n  type: saga\n  steps:\n");
    for i in 0..n {
        let _ = writeln!(y, "    - name: step{i}\n      action: {}\n      compensate: cmd", agent(rng));
        if rng.chance(30) {
            let _ = writeln!(y, "      retry: quick");
        }
    }
    y
}

fn generate(seed: u64) -> Case {
    let mut rng = Rng(seed);
    let mut reviews = Vec::new();
    let (workflow, states) = match rng.below(3) {
        0 => state_machine(&mut rng, &mut reviews),
        1 => (dag(&mut rng), Vec::new()),
        _ => (saga(&mut rng), Vec::new()),
    };
    let mut yaml = format!("version: 1\nname: generated\nloop:\n  max_iterations: {}\n", 8 + rng.below(20));
    yaml.push_str(&workflow);
    yaml.push_str(AGENTS);
    // No jitter: the delays are the policy's, the same in every run.
    yaml.push_str(
        "retry:\n  quick:\n    strategy: fixed\n    max_attempts: 2\n    delay: 10ms\n    jitter: 0\n",
    );
    if rng.chance(40) {
        let _ = writeln!(yaml, "budget:\n  max_tokens: {}", 300 + rng.below(1500));
    }
    let tasks = rng.below(4) as usize;
    Case { seed, yaml, tasks, states, reviews }
}

/// The script: outcomes, and the signals people send, as a function of where the run is.
struct Scripted {
    seed: u64,
    states: Vec<String>,
    /// The human states.
    reviews: HashSet<String>,
    /// The signals sent already (by their sender's name), so a step that runs again after a
    /// cut does not send them twice — as a person would not.
    sent: HashSet<String>,
}

impl Script for Scripted {
    fn outcome(&mut self, what: &Perform<'_>) -> Option<Outcome> {
        let key = [
            what.iteration.to_string(),
            what.step.to_owned(),
            what.hook.unwrap_or("").to_owned(),
            what.visit.to_string(),
            what.attempt.to_string(),
        ];
        let keys: Vec<&str> = key.iter().map(String::as_str).collect();
        let h = hash(self.seed, &keys);
        if what.hook.is_some() {
            return Some(Outcome { success: !h.is_multiple_of(10), ..Outcome::default() });
        }
        // A person's review always ends: approved or rejected.
        if self.reviews.contains(what.step) {
            let decision = if h.is_multiple_of(2) { "approved" } else { "rejected" };
            return Some(Outcome {
                success: true,
                result: Some(decision.into()),
                reviewer: Some("a person".into()),
                duration_ms: 5,
                ..Outcome::default()
            });
        }
        let success = h % 100 < 65;
        let mut outcome = if success {
            Outcome { success: true, ..Outcome::default() }
        } else {
            Outcome::failed(FailureClass::NonzeroExit, format!("failed #{}", h % 7))
        };
        outcome.duration_ms = 5;
        outcome.result = match (h >> 8) % 4 {
            0 => Some("verified".into()),
            1 => Some("needs_fixes".into()),
            2 => Some(if success { "approved" } else { "rejected" }.into()),
            _ => None,
        };
        // Agents report their usage: budgets count it.
        outcome.evidence.metrics.input_tokens = Some(20 + (h >> 16) % 200);
        outcome.evidence.metrics.output_tokens = Some(10 + (h >> 24) % 100);
        Some(outcome)
    }

    fn signals(&mut self, state: &RunState, next: &str) -> Vec<(Signal, String)> {
        let id = format!("script {}:{}:{next}", state.iteration, state.invocations);
        let h = hash(self.seed ^ 0x5151, &[&id]);
        let mut out = Vec::new();
        let mut send = |signal: Signal, n: u32| {
            let by = format!("{id} #{n}");
            if self.sent.insert(by.clone()) {
                out.push((signal, by));
            }
        };
        match h % 12 {
            0 => send(Signal::Hint { text: format!("hint from {id}") }, 0),
            1 => send(Signal::Pause, 0),
            2 if !self.states.is_empty() => {
                let to = self.states[(h >> 8) as usize % self.states.len()].clone();
                send(Signal::Redirect { to }, 0);
            }
            3 => send(Signal::AddIterations { n: 1 + (h >> 12) % 3 }, 0),
            _ => {}
        }
        out
    }

    fn while_paused(&mut self, paused_by: &str) -> Vec<(Signal, String)> {
        // Whoever paused the loop resumes it.
        vec![(Signal::Resume, format!("{paused_by}, resuming"))]
    }
}

struct Quiet;

impl EventSink for Quiet {
    fn event(&mut self, _: &Event, _: &RunState) {}
}

/// The task file, as the journal so far left it: the uninterrupted run marked tasks as it went.
fn task_file(dir: &std::path::Path, tasks: usize, journal: &[Event]) -> Option<TaskFile> {
    if tasks == 0 {
        return None;
    }
    let path = dir.join("TODO.md");
    let text: String = (1..=tasks).map(|i| format!("- [ ] task {i}\n")).collect();
    std::fs::write(&path, text).unwrap();
    let mut file = TaskFile::open(&path).unwrap();
    for event in journal {
        match event {
            Event::IterationStarted { task: Some(task), .. } => {
                file.mark(&task.id, TaskStatus::InProgress, None).unwrap();
            }
            Event::TaskMarked { task, status, .. } => {
                let status = match status {
                    Mark::Done => TaskStatus::Done,
                    Mark::Failed => TaskStatus::Failed,
                    Mark::Reopened => TaskStatus::Pending,
                };
                file.mark(&task.id, status, None).unwrap();
            }
            _ => {}
        }
    }
    Some(file)
}

/// Runs `case` on a journal that already holds `journal` (empty: a new run); returns the whole
/// journal and the final state.
fn run(
    case: &Case,
    loaded: &(crate::workflow::model::Document, crate::plan::Plan),
    journal: Vec<Event>,
) -> (Vec<Event>, RunState) {
    let dir = tempfile::tempdir().unwrap();
    let sent = journal
        .iter()
        .filter_map(|e| match e {
            Event::Control { by: Some(by), .. } => Some(by.clone()),
            _ => None,
        })
        .collect();
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    // A resumed run's clock goes on from the journal's last time, as a real one would.
    let last =
        journal.iter().rev().find_map(|e| e.at().and_then(|at| humantime::parse_rfc3339_weak(at).ok()));
    let run_id = journal.iter().find_map(|e| match e {
        Event::RunStarted { run_id, .. } => Some(run_id.clone()),
        _ => None,
    });
    let file = task_file(dir.path(), case.tasks, &journal);
    let memory = Arc::new(Mutex::new(journal));
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let state = runtime.block_on(async {
        let mut options =
            RunOptions::new(dir.path().to_owned(), dir.path().join("state"), "generated".into());
        options.max_invocations =
            loaded.0.loop_settings.as_ref().and_then(|l| l.max_iterations).unwrap_or(100);
        let reviews = case.reviews.iter().cloned().collect();
        options.performer = Performer::Script(Box::new(Scripted {
            seed: case.seed,
            states: case.states.clone(),
            reviews,
            sent,
        }));
        options.log = LogChoice::Memory(Arc::clone(&memory));
        options.control = false;
        options.clock = Arc::new(crate::clock::TokioClock::starting_at(last.unwrap_or(epoch)));
        if let Some(id) = run_id {
            options.record.run_id = id;
        }
        options.record.tasks = file.as_ref().map(|f| f.path().to_owned());
        let runner =
            Runner::new(&loaded.0, loaded.1.clone(), options, Box::new(Quiet)).expect("the runner starts");
        let run = async {
            match file {
                Some(file) => runner.run_tasks(TaskLoop { file, commit: None }).await,
                None => runner.run_once().await,
            }
        };
        // A run that never ends is a failure of the core, not a hang of the test.
        tokio::time::timeout(Duration::from_secs(30 * 24 * 3600), run).await.expect("the run ends")
    });
    let events = memory.lock().unwrap().clone();
    (events, state)
}

/// The decisions in a journal, one line each, with what a resumption adds taken out: its own
/// event, and the start (with its packet's hints and review request) of each step it cut short.
fn decisions(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last_halt = None;
    for event in events {
        let line = match event {
            Event::Resumed { .. }
            | Event::Forked { .. }
            // A review's decision is its step's outcome; this only announces it.
            | Event::ReviewDecided { .. }
            | Event::Warning { .. }
            | Event::Signal { .. }
            | Event::Waiting { .. }
            | Event::AgentStarted { .. }
            | Event::Notification { .. }
            | Event::Plugin { .. } => continue,
            Event::StepInterrupted { step, .. } => {
                let start = format!("start {step} ");
                if let Some(i) = out.iter().rposition(|l| l.starts_with(&start)) {
                    out.remove(i);
                }
                continue;
            }
            // A crash after a halt: the resumed run reaches the same halt again.
            Event::Halt { reason, .. } => {
                if last_halt.as_ref() == Some(reason) {
                    continue;
                }
                last_halt = Some(reason.clone());
                format!("halt: {reason}")
            }
            Event::StepStarted { step, attempt, iteration, .. } => {
                format!("start {step} #{attempt} in {iteration}")
            }
            // What the step's start carried belongs to its start.
            Event::HintsDelivered { step, count, signals, .. } => {
                if let Some(l) = out.last_mut() {
                    let _ = write!(l, " with {count} hint(s) and {signals} signal(s) for {step}");
                }
                continue;
            }
            Event::ReviewRequested { step, .. } => {
                if let Some(l) = out.last_mut() {
                    let _ = write!(l, " awaiting review of {step}");
                }
                continue;
            }
            Event::StepFinished { step, outcome, .. } => format!(
                "{step} ended {} {:?} {:?} {:?}",
                outcome.success, outcome.result, outcome.class, outcome.error
            ),
            Event::ActionFinished { step, hook, action, outcome, .. } => {
                format!("{step} {hook} {action} {}", outcome.success)
            }
            Event::Control { signal, by, .. } => format!("control {} by {by:?}", signal.describe()),
            other => {
                let mut value = serde_json::to_value(other).unwrap();
                strip_times(&mut value);
                value.to_string()
            }
        };
        out.push(line);
    }
    out
}

/// Removes what depends on the clock from a JSON value: times, and durations measured by it.
fn strip_times(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in [
                "at",
                "started_at",
                "last_signal",
                "recent_calls",
                "opened_at",
                "from_seq",
                "daily_cost_usd",
                "counted",
            ] {
                map.remove(key);
            }
            for v in map.values_mut() {
                strip_times(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_times),
        _ => {}
    }
}

/// The state, without what depends on the clock.
fn normalized(state: &RunState) -> serde_json::Value {
    let mut value = serde_json::to_value(state).unwrap();
    strip_times(&mut value);
    // The pace log's counts follow the events; its durations and times are the clock's.
    if let Some(serde_json::Value::Object(pace)) = value.get_mut("pace") {
        let counts = [
            "iterations_finished",
            "iterations_succeeded",
            "tasks_done",
            "tasks_failed",
            "completed",
            "latest",
        ];
        pace.retain(|key, _| counts.contains(&key.as_str()));
    }
    value
}

/// The decisions of a DAG's iterations as sets: which nodes start, end and are skipped in what
/// order depends on when each becomes ready — on timing — in a run that was never cut as much as
/// in a resumed one. What must agree is what was decided.
fn as_sets(decisions: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut iteration: Vec<String> = Vec::new();
    for line in decisions {
        let ends =
            line.contains("\"event\":\"iteration_finished\"") || line.contains("\"event\":\"run_finished\"");
        iteration.push(line);
        if ends {
            iteration.sort();
            out.append(&mut iteration);
        }
    }
    iteration.sort();
    out.append(&mut iteration);
    out
}

/// Checks one case: the uninterrupted run against a resumption at every cut.
fn check(seed: u64) -> Result<(), TestCaseError> {
    let case = generate(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workflow.yaml");
    std::fs::write(&path, &case.yaml).unwrap();
    let options = crate::workflow::validate::Options {
        config: None,
        project_dir: dir.path().to_owned(),
        strict: true,
        inert_errors: false,
    };
    let validation = crate::workflow::validate::validate(&path, &options).unwrap();
    prop_assert!(
        validation.is_valid(),
        "generated workflow is invalid: {:?}\n{}",
        validation.diagnostics,
        case.yaml
    );
    let loaded = (validation.document.unwrap(), validation.plan.unwrap());
    let dag = loaded.1.kind == crate::workflow::model::WorkflowKind::Dag;
    let decided = |events: &[Event]| if dag { as_sets(decisions(events)) } else { decisions(events) };
    let (journal, state) = run(&case, &loaded, Vec::new());
    let expected = decided(&journal);
    let expected_state = normalized(&state);
    // Every cut but after the end: a run that ended is not resumed mid-way.
    for k in 1..journal.len() {
        let (resumed, resumed_state) = run(&case, &loaded, journal[..k].to_vec());
        let got = decided(&resumed);
        if std::env::var("DIFF_CUT").ok().and_then(|c| c.parse::<usize>().ok()) == Some(k) {
            eprintln!(
                "prefix:\n{:#?}\nexpected:\n{:#?}\ngot:\n{:#?}",
                decisions(&journal[..k]),
                decisions(&journal),
                decisions(&resumed)
            );
        }
        if got != expected {
            let at =
                expected.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(expected.len().min(got.len()));
            return Err(TestCaseError::fail(format!(
                "seed {seed}, cut after event {k} ({:?}): decisions differ at {at}\nexpected: {:#?}\ngot: {:#?}\nworkflow:\n{}",
                journal[k - 1],
                &expected[at.saturating_sub(3)..(at + 6).min(expected.len())],
                &got[at.saturating_sub(3)..(at + 6).min(got.len())],
                case.yaml
            )));
        }
        let got_state = normalized(&resumed_state);
        if got_state != expected_state {
            return Err(TestCaseError::fail(format!(
                "seed {seed}, cut after event {k} ({:?}): final states differ\nexpected: {expected_state:#}\ngot: {got_state:#}\nworkflow:\n{}",
                journal[k - 1],
                case.yaml
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48), ..ProptestConfig::default() })]

    #[test]
    fn a_run_resumed_at_any_cut_decides_as_the_run_that_was_never_cut(seed in any::<u64>()) {
        on_main_stack(move || check(seed))?;
    }
}

/// Runs `f` on a thread with the stack the loop has in the binary (the main thread's 8 MiB), not
/// a test thread's 2 MiB: a debug build's deepest step of a run needs more than 2 MiB.
fn on_main_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().stack_size(8 << 20).spawn_scoped(scope, f);
        thread.expect("a thread starts").join().expect("the check does not panic")
    })
}

/// `DIFF_SEED=<seed> cargo test -p ralph-loop --lib one_seed`: checks one generated case, for
/// a failure the property test found.
#[test]
fn one_seed() {
    if let Some(seed) = std::env::var("DIFF_SEED").ok().and_then(|s| s.parse().ok()) {
        if let Err(e) = on_main_stack(move || check(seed)) {
            panic!("{e}");
        }
    }
}

#[test]
fn the_generator_covers_every_kind_and_the_features_the_core_must_replay() {
    let yamls: Vec<String> = (0..200).map(|s| generate(s).yaml).collect();
    for needle in [
        "type: state_machine",
        "type: dag",
        "type: saga",
        "retry: quick",
        "type: human",
        "parallel: true",
        "max_tokens",
        "on_enter",
    ] {
        assert!(yamls.iter().any(|y| y.contains(needle)), "no generated workflow has `{needle}`");
    }
}
