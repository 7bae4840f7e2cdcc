//! Validation speed on large generated workflows.
//!
//! Run with `cargo bench -p ralph-loop --bench validate`. For each size it reports the median
//! time to parse, check and plan the workflow, the target, and the ratio to a baseline
//! measured in the same run: serde_yaml reading the same text into an untyped value (the least
//! work any YAML tool must do before it can say anything about the file).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ralph_loop::source::SourceFile;
use ralph_loop::workflow::load::load_source;
use ralph_loop::workflow::schema::SchemaKind;
use ralph_loop::workflow::validate::{Options, validate_loaded};

/// A state machine of `n` states: each builds, then either moves on or goes back one state.
fn state_machine(n: usize) -> String {
    let mut text = String::from("version: 1\nname: generated\nworkflow:\n  type: state_machine\n  states:\n");
    for i in 0..n {
        let _ = writeln!(text, "    - id: s{i}\n      agent: worker\n      timeout: 30m");
    }
    text.push_str("  transitions:\n");
    for i in 0..n - 1 {
        let _ = writeln!(
            text,
            "    - from: s{i}\n      to: s{}\n      condition: \"success and retries < 3\"",
            i + 1
        );
        if i > 0 {
            let _ = writeln!(text, "      else: s{}", i - 1);
        }
    }
    text.push_str("agents:\n  worker:\n    backend: command\n    command: \"true\"\n");
    text
}

/// A DAG of `n` nodes in layers of 100, each node depending on two nodes of the layer before.
fn dag(n: usize) -> String {
    let mut text = String::from("version: 1\nname: generated\nworkflow:\n  type: dag\n  nodes:\n");
    for i in 0..n {
        let _ = write!(text, "    - id: n{i}\n      agent: worker\n");
        if i >= 100 {
            let _ =
                writeln!(text, "      depends_on: [n{}, n{}]", i - 100, i - 100 + (i + 1) % 100 - (i % 100));
        }
    }
    text.push_str("agents:\n  worker:\n    backend: command\n    command: \"true\"\n");
    text
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn bench(label: &str, text: &str, target: Duration, runs: usize) {
    let options = Options { project_dir: std::env::temp_dir(), ..Options::default() };
    let ours = time(runs, || {
        let loaded = load_source(SourceFile::new("bench.yaml", text.to_owned()), SchemaKind::Config);
        let validation = validate_loaded(loaded, &options).expect("validates");
        assert!(validation.is_valid(), "{:?}", validation.diagnostics.first());
        assert!(validation.plan.is_some());
        black_box(validation);
    });
    let baseline = time(runs, || {
        black_box(serde_yaml::from_str::<serde_yaml::Value>(text).expect("parses"));
    });
    println!(
        "{label:<28} validate {:>9.2?}  target {:>7?} ({:.2}× of target)  serde_yaml parse {:>9.2?} (validate = {:.2}× parse)",
        ours,
        target,
        ours.as_secs_f64() / target.as_secs_f64(),
        baseline,
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent; keep that run short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 15 };
    bench("1,000-state state machine", &state_machine(1_000), Duration::from_millis(100), runs);
    bench("10,000-node DAG", &dag(10_000), Duration::from_secs(1), runs);
}
