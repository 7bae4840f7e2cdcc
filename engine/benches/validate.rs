//! Validation speed on large generated workflows.
//!
//! Run with `cargo bench -p ralph-loop --bench validate`. For each size it reports the median
//! time to parse, check and plan the workflow, the target, and the ratio to a baseline
//! measured in the same run: serde_yaml reading the same text into an untyped value (the least
//! work any YAML tool must do before it can say anything about the file). Files full of
//! mistakes are measured too: a node with thousands of unknown keys (each reported, located and
//! given its "did you mean"), where the time must grow with the file, not with its square.

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

/// A DAG of one node carrying `n` unknown keys: `n` errors.
fn unknown_keys(n: usize) -> String {
    let mut text = String::from("workflow:\n  type: dag\n  nodes:\n    - id: a\n      agent: worker\n");
    for i in 0..n {
        let _ = writeln!(text, "      bogus_key_{i}: 1");
    }
    text.push_str("agents:\n  worker:\n    backend: command\n    command: \"true\"\n");
    text
}

fn bench(label: &str, text: &str, target: Duration, runs: usize) {
    bench_expecting(label, text, target, runs, 0);
}

/// Like [`bench`], for a file with `errors` errors (0: a valid file, which must be planned).
fn bench_expecting(label: &str, text: &str, target: Duration, runs: usize, errors: usize) {
    let options = Options { project_dir: std::env::temp_dir(), ..Options::default() };
    let ours = time(runs, || {
        let loaded = load_source(SourceFile::new("bench.yaml", text.to_owned()), SchemaKind::Config);
        let validation = validate_loaded(loaded, &options).expect("validates");
        if errors == 0 {
            assert!(validation.is_valid(), "{:?}", validation.diagnostics.first());
            assert!(validation.plan.is_some());
        } else {
            let found = validation.diagnostics.iter().filter(|d| d.is_error()).count();
            assert_eq!(found, errors, "{:?}", validation.diagnostics.first());
            assert!(validation.diagnostics.iter().all(|d| d.location.is_some()), "every error located");
        }
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
    // Unknown keys: 8,000 took 5.5 s and 200,000 over 60 s before (quadratic); the target is
    // under 2 s for 200,000 (a 5 MB file), the same for 25 times the errors as the 8,000 row.
    let sizes: &[usize] = if quick { &[8_000] } else { &[8_000, 32_000, 200_000] };
    for &n in sizes {
        let runs = if n > 50_000 { runs.min(5) } else { runs };
        let label = format!("{n} unknown keys");
        bench_expecting(&label, &unknown_keys(n), Duration::from_secs(2), runs, n);
    }
}
