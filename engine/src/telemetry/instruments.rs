//! The run's metric instruments, created once per meter. Names follow the semantic conventions
//! where one exists (`gen_ai.client.*`, `cicd.pipeline.run.*`); ours start with `ralph.`.
//! `docs/observability.md` lists each with its attributes and its Prometheus name, and the
//! Grafana dashboards query only these. Attributes are bounded sets — workflow, agent, model,
//! plugin, hook, result — never a run, task or step id: one series per run would grow without
//! end in Prometheus.

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, UpDownCounter};

/// Seconds, from 10 ms to ~6 hours: agents and runs take from a moment to a working day.
const SECONDS: [f64; 16] =
    [0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0];
/// Tokens: the boundaries the GenAI conventions advise (powers of 4).
const TOKENS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Plugin hook calls: microseconds to their one-second default deadline.
const HOOK_SECONDS: [f64; 12] =
    [0.00001, 0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.1, 0.5, 1.0];

/// Every instrument a run records to.
#[derive(Debug, Clone)]
pub struct Instruments {
    /// `gen_ai.client.token.usage`.
    pub token_usage: Histogram<u64>,
    /// `gen_ai.client.operation.duration`.
    pub operation_duration: Histogram<f64>,
    /// `gen_ai.workflow.duration`.
    pub workflow_duration: Histogram<f64>,
    /// `cicd.pipeline.run.duration`.
    pub run_duration: Histogram<f64>,
    /// `cicd.pipeline.run.active`.
    pub runs_active: UpDownCounter<i64>,
    /// `cicd.pipeline.run.errors`.
    pub run_errors: Counter<u64>,
    /// `ralph.step.outcomes`.
    pub step_outcomes: Counter<u64>,
    /// `ralph.step.retries`.
    pub retries: Counter<u64>,
    /// `ralph.iterations`.
    pub iterations: Counter<u64>,
    /// `ralph.ready_queue.depth`.
    pub ready_queue: Gauge<i64>,
    /// `ralph.breaker.state`: 0 closed, 1 half open, 2 open.
    pub breaker_state: Gauge<i64>,
    /// `ralph.breaker.transitions`.
    pub breaker_transitions: Counter<u64>,
    /// `ralph.cost.usd`.
    pub cost: Counter<f64>,
    /// `ralph.budget.spent`.
    pub budget_spent: Gauge<f64>,
    /// `ralph.budget.limit`.
    pub budget_limit: Gauge<f64>,
    /// `ralph.budget.stops`.
    pub budget_stops: Counter<u64>,
    /// `ralph.plugin.hook.duration`.
    pub hook_duration: Histogram<f64>,
    /// `ralph.plugin.hook.failures`.
    pub hook_failures: Counter<u64>,
    /// `ralph.plugin.decisions`.
    pub plugin_decisions: Counter<u64>,
}

impl Instruments {
    /// The instruments of `meter` (a no-op meter makes no-op instruments: free when off).
    pub fn new(meter: &Meter) -> Self {
        Instruments {
            token_usage: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Tokens an agent invocation used, by type (input, output)")
                .with_boundaries(TOKENS.to_vec())
                .build(),
            operation_duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("How long an agent invocation took")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            workflow_duration: meter
                .f64_histogram("gen_ai.workflow.duration")
                .with_unit("s")
                .with_description("How long a workflow run took, from start to end")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            run_duration: meter
                .f64_histogram("cicd.pipeline.run.duration")
                .with_unit("s")
                .with_description("How long a run took, by result")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            runs_active: meter
                .i64_up_down_counter("cicd.pipeline.run.active")
                .with_unit("{run}")
                .with_description("Runs in progress")
                .build(),
            run_errors: meter
                .u64_counter("cicd.pipeline.run.errors")
                .with_unit("{error}")
                .with_description("Runs that ended in failure or were stopped, by error type")
                .build(),
            step_outcomes: meter
                .u64_counter("ralph.step.outcomes")
                .with_unit("{step}")
                .with_description("Steps that ended, by agent and result")
                .build(),
            retries: meter
                .u64_counter("ralph.step.retries")
                .with_unit("{retry}")
                .with_description("Failed steps tried again by their retry policy")
                .build(),
            iterations: meter
                .u64_counter("ralph.iterations")
                .with_unit("{iteration}")
                .with_description("Iterations that ended, by result")
                .build(),
            ready_queue: meter
                .i64_gauge("ralph.ready_queue.depth")
                .with_unit("{step}")
                .with_description("DAG nodes whose dependencies are done, waiting for a free job slot")
                .build(),
            breaker_state: meter
                .i64_gauge("ralph.breaker.state")
                .with_description("Circuit breaker state: 0 closed, 1 half open, 2 open")
                .build(),
            breaker_transitions: meter
                .u64_counter("ralph.breaker.transitions")
                .with_unit("{transition}")
                .with_description("Circuit breaker state changes, by the state entered")
                .build(),
            cost: meter
                .f64_counter("ralph.cost.usd")
                .with_unit("{USD}")
                .with_description("US dollars agents spent, by agent and model")
                .build(),
            budget_spent: meter
                .f64_gauge("ralph.budget.spent")
                .with_description(
                    "What the project has spent of its budget, by unit (usd, tokens) and window (total, day)",
                )
                .build(),
            budget_limit: meter
                .f64_gauge("ralph.budget.limit")
                .with_description(
                    "The project's configured budget, by unit (usd, tokens) and window (total, day)",
                )
                .build(),
            budget_stops: meter
                .u64_counter("ralph.budget.stops")
                .with_unit("{stop}")
                .with_description("Runs stopped before an invocation because a budget was spent")
                .build(),
            hook_duration: meter
                .f64_histogram("ralph.plugin.hook.duration")
                .with_unit("s")
                .with_description("How long a plugin's hook call took, instantiation included")
                .with_boundaries(HOOK_SECONDS.to_vec())
                .build(),
            hook_failures: meter
                .u64_counter("ralph.plugin.hook.failures")
                .with_unit("{failure}")
                .with_description("Plugin hook calls that failed, by error type")
                .build(),
            plugin_decisions: meter
                .u64_counter("ralph.plugin.decisions")
                .with_unit("{decision}")
                .with_description("What plugins decided: vetoes, packet changes, notes")
                .build(),
        }
    }
}
