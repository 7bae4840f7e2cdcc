//! A plugin hook call, instantiation included, against a native Rust call of the same logic.
//!
//! The plugin is `plugins/budget-guard` (a real plugin: it parses the hook's context, reads
//! its configuration through the host, decides and answers JSON). The wasm side is the whole
//! of what the engine does per call: a fresh store with its limits, instantiation from the
//! cached component, the call, and the output collected. The native side is the same crate
//! compiled natively, called through the same `dispatch_json` with the same context.
//!
//! `cargo bench -p ralph-loop --bench plugin_call [-- CALLS]`. Target: median ≤ 20 µs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ralph_loop::plugin::{CallEnv, Limits, Runtime};

const CONTEXT: &str = r#"{"kind":"phase","phase":"build","agent":"builder","iteration":3,"started_at":"2026-11-29T10:00:00Z","step":"build","attempt":1,"spend":{"cost_usd":1.2,"tokens":150000,"invocations":4,"max_cost_usd":5.0}}"#;
const HOOK: &str = "agent.on_invoke";

/// Builds the plugin for wasm32-wasip2 (into `target/test-plugins`, as the tests do).
fn component() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target").join("test-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--profile", "plugin", "--target", "wasm32-wasip2", "-p", "budget-guard"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&root)
        .status()
        .expect("cargo");
    assert!(
        status.success(),
        "building budget-guard for wasm32-wasip2 failed (rustup target add wasm32-wasip2?)"
    );
    target.join("wasm32-wasip2/plugin/budget_guard.wasm")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let calls: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let bytes = std::fs::read(component()).expect("component");
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::shared().expect("wasmtime");

    let started = Instant::now();
    let loaded = runtime.load("budget-guard", &bytes, Some(cache.path()), Limits::DEFAULT).expect("load");
    let compile = started.elapsed();
    let started = Instant::now();
    let loaded_again =
        runtime.load("budget-guard", &bytes, Some(cache.path()), Limits::DEFAULT).expect("load");
    let cached = started.elapsed();
    drop(loaded_again);

    let mut config = BTreeMap::new();
    config.insert("warn_at".to_owned(), "0.9".to_owned());
    let env = CallEnv { config: Arc::new(config), notify: false };
    ralph_plugin_sdk::host::set_config("warn_at", "0.9");

    // Both answers must be the same decision, or the comparison means nothing.
    let wasm_answer = loaded.call(HOOK, CONTEXT, env.clone()).expect("call").decision.expect("answer");
    let native_answer = ralph_plugin_sdk::dispatch_json::<budget_guard::BudgetGuard>(HOOK, CONTEXT);
    assert_eq!(wasm_answer, native_answer, "the component and the native crate must agree");

    // Interleaved in rounds, so both sides see the same machine.
    let mut wasm = Vec::with_capacity(calls);
    let mut native = Vec::with_capacity(calls);
    for _ in 0..calls / 100 {
        for _ in 0..100 {
            let t = Instant::now();
            let out = loaded.call(HOOK, CONTEXT, env.clone()).expect("call");
            wasm.push(t.elapsed());
            std::hint::black_box(out);
        }
        for _ in 0..100 {
            let t = Instant::now();
            let out = ralph_plugin_sdk::dispatch_json::<budget_guard::BudgetGuard>(
                HOOK,
                std::hint::black_box(CONTEXT),
            );
            native.push(t.elapsed());
            let _ = std::hint::black_box(out);
        }
    }
    wasm.sort();
    native.sort();
    let (w50, n50) = (percentile(&wasm, 0.5), percentile(&native, 0.5));
    println!("plugin hook call (budget-guard at {HOOK}, {} calls each, answer {wasm_answer:?})", wasm.len());
    println!("  compile (first load, cached to disk): {:>9.1} ms", compile.as_secs_f64() * 1e3);
    println!("  load from the on-disk cache:          {:>9.2} ms", cached.as_secs_f64() * 1e3);
    println!(
        "  wasm call, instantiation included:    median {:>7.2} µs  p90 {:>7.2} µs  p99 {:>7.2} µs",
        micros(w50),
        micros(percentile(&wasm, 0.9)),
        micros(percentile(&wasm, 0.99))
    );
    println!(
        "  native call of the same crate:        median {:>7.2} µs  p90 {:>7.2} µs",
        micros(n50),
        micros(percentile(&native, 0.9))
    );
    println!("  ratio wasm/native (median):           {:>9.1}×", micros(w50) / micros(n50).max(1e-3));
    let verdict = if micros(w50) <= 20.0 { "meets" } else { "MISSES" };
    println!("  target: median ≤ 20 µs — {verdict} it");
}
