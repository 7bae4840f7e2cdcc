//! `budget-guard`: a ralph-loop plugin that stops an agent invocation that would pass the
//! cost or token budget.
//!
//! At `agent.on_invoke` it reads what the run has spent so far (the context's `spend`) and
//! estimates the next invocation: its `invocation_cost_usd` / `invocation_tokens` settings
//! when set, otherwise the average of the invocations so far (`cost_usd / invocations`,
//! `tokens / invocations`; nothing when there was none yet). It vetoes the invocation when
//! the budget is used up or `spent + expected` would pass it, and adds a warning note to the
//! agent's prompt once `spent + expected` passes `warn_at` of it.
//!
//! Configuration (`config:` in `ralph.yaml`), all optional:
//!
//! - `max_cost_usd`, `max_tokens`: the limits; default: the workflow's own budget
//!   (`spend.max_cost_usd`, `spend.max_tokens`);
//! - `invocation_cost_usd`, `invocation_tokens`: the expected cost of one invocation;
//! - `warn_at`: the fraction of a budget past which it warns (default `0.8`; `1` never warns).
//!
//! A setting that is not a non-negative number is an error (the plugin's `on_error` decides).
//! Without a `spend` in the context, or without any limit, it carries on.
#![deny(missing_docs)]

use ralph_plugin_sdk::{Decision, Descriptor, PhaseContext, Plugin, Reply, Spend, host, register_plugin};

/// The plugin: see the crate documentation.
#[derive(Debug, Default)]
pub struct BudgetGuard;

register_plugin!(BudgetGuard);

impl Plugin for BudgetGuard {
    fn describe() -> Descriptor {
        Descriptor::new("budget-guard", "1.0.0")
            .description("Vetoes an agent invocation that would pass the run's cost or token budget")
            .hooks(["agent.on_invoke"])
            .capabilities(["veto"])
    }

    fn on_invoke(&self, context: &PhaseContext) -> Reply {
        let Some(spend) = &context.spend else { return Ok(Decision::Continue) };
        let settings = Settings::read()?;
        let who = if context.agent.is_empty() { context.step.as_str() } else { context.agent.as_str() };
        Ok(judge(who, spend, &settings))
    }
}

/// The plugin's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// `max_cost_usd`.
    pub max_cost_usd: Option<f64>,
    /// `max_tokens`.
    pub max_tokens: Option<f64>,
    /// `invocation_cost_usd`.
    pub invocation_cost_usd: Option<f64>,
    /// `invocation_tokens`.
    pub invocation_tokens: Option<f64>,
    /// `warn_at` (default 0.8).
    pub warn_at: f64,
}

impl Settings {
    /// Reads the settings from the plugin's configuration.
    ///
    /// # Errors
    ///
    /// When a setting is not a non-negative number.
    pub fn read() -> Result<Self, String> {
        Ok(Settings {
            max_cost_usd: number("max_cost_usd")?,
            max_tokens: number("max_tokens")?,
            invocation_cost_usd: number("invocation_cost_usd")?,
            invocation_tokens: number("invocation_tokens")?,
            warn_at: number("warn_at")?.unwrap_or(0.8),
        })
    }
}

/// A setting as a non-negative number; `None` when absent (or empty, or `null`).
fn number(key: &str) -> Result<Option<f64>, String> {
    let Some(text) = host::config(key) else { return Ok(None) };
    let text = text.trim().trim_start_matches('$');
    if text.is_empty() || text == "null" {
        return Ok(None);
    }
    match text.replace('_', "").parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(Some(value)),
        _ => Err(format!("budget-guard: `{key}` must be a non-negative number, not `{text}`")),
    }
}

/// One budget: what is spent, what the next invocation should take, the limit.
struct Budget {
    spent: f64,
    expected: f64,
    limit: f64,
    /// Formats an amount of this budget.
    show: fn(f64) -> String,
    /// `the $5.00 budget`, `the 200000-token budget`.
    name: String,
    /// `$4.80 spent`, `190000 tokens used`.
    spent_text: String,
}

/// Dollars with cents, and with up to four decimals when cents would hide the difference
/// (a $0.025 budget is not a $0.03 one).
fn dollars(value: f64) -> String {
    let mut text = format!("{value:.4}");
    while text.ends_with('0') && text.len() - text.find('.').unwrap_or(0) > 3 {
        text.pop();
    }
    format!("${text}")
}

fn tokens(value: f64) -> String {
    format!("{value:.0}")
}

/// The decision for an invocation by `who` given the spend and the settings.
pub fn judge(who: &str, spend: &Spend, settings: &Settings) -> Decision {
    let average = |total: f64| if spend.invocations == 0 { 0.0 } else { total / spend.invocations as f64 };
    let mut budgets = Vec::new();
    if let Some(limit) = settings.max_cost_usd.or(spend.max_cost_usd) {
        budgets.push(Budget {
            spent: spend.cost_usd,
            expected: settings.invocation_cost_usd.unwrap_or_else(|| average(spend.cost_usd)),
            limit,
            show: dollars,
            name: format!("the {} budget", dollars(limit)),
            spent_text: format!("{} spent", dollars(spend.cost_usd)),
        });
    }
    if let Some(limit) = settings.max_tokens.or(spend.max_tokens.map(|t| t as f64)) {
        let spent = spend.tokens as f64;
        budgets.push(Budget {
            spent,
            expected: settings.invocation_tokens.unwrap_or_else(|| average(spent)),
            limit,
            show: |v| format!("{} tokens", tokens(v)),
            name: format!("the {}-token budget", tokens(limit)),
            spent_text: format!("{} tokens used", tokens(spent)),
        });
    }

    let mut vetoes = Vec::new();
    let mut warnings = Vec::new();
    for b in &budgets {
        let projected = b.spent + b.expected;
        let per = if b.expected > 0.0 {
            format!(", about {} per invocation", (b.show)(b.expected))
        } else {
            String::new()
        };
        if b.spent >= b.limit {
            vetoes.push(format!("{} is used up: {}{per}", b.name, b.spent_text));
        } else if projected > b.limit {
            vetoes.push(format!("invoking `{who}` would pass {}: {}{per}", b.name, b.spent_text));
        } else if b.limit > 0.0 && projected > settings.warn_at * b.limit {
            let percent = 100.0 * projected / b.limit;
            warnings.push(format!(
                "Budget warning: after this invocation about {percent:.0}% of {} will be spent ({}{per}). \
                 Keep the work focused and finish what you started.",
                b.name, b.spent_text
            ));
        }
    }
    if !vetoes.is_empty() {
        let reason = vetoes.join("; ");
        host::warn(&reason);
        return Decision::Veto { reason };
    }
    if !warnings.is_empty() {
        for w in &warnings {
            host::info(w);
        }
        return Decision::Annotate { notes: warnings };
    }
    Decision::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_plugin_sdk::dispatch_json;
    use serde_json::{Value, json};

    const KEYS: [&str; 5] =
        ["max_cost_usd", "max_tokens", "invocation_cost_usd", "invocation_tokens", "warn_at"];

    fn configure(pairs: &[(&str, &str)]) {
        for key in KEYS {
            host::set_config(key, "");
        }
        for (key, value) in pairs {
            host::set_config(key, value);
        }
    }

    fn invoke(spend: Option<Value>) -> Result<Decision, String> {
        let mut context = json!({
            "kind": "phase", "phase": "build", "agent": "builder", "iteration": 3,
            "started_at": "2024-03-08T10:30:15Z", "step": "build"
        });
        if let Some(spend) = spend {
            context["spend"] = spend;
        }
        dispatch_json::<BudgetGuard>("agent.on_invoke", &context.to_string())
            .map(|answer| serde_json::from_str(&answer).unwrap())
    }

    fn reason(decision: Decision) -> String {
        match decision {
            Decision::Veto { reason } => reason,
            other => panic!("expected a veto, got {other:?}"),
        }
    }

    #[test]
    fn describes_itself() {
        let d = BudgetGuard::describe();
        assert_eq!((d.name.as_str(), d.version.as_str()), ("budget-guard", "1.0.0"));
        assert_eq!(d.hooks, ["agent.on_invoke"]);
        assert_eq!(d.capabilities, ["veto"]);
    }

    #[test]
    fn vetoes_with_the_numbers_using_the_configured_invocation_cost() {
        configure(&[("max_cost_usd", "5"), ("invocation_cost_usd", "0.35")]);
        let spend = json!({"cost_usd": 4.8, "tokens": 1000, "invocations": 4});
        let reason = reason(invoke(Some(spend)).unwrap());
        assert_eq!(
            reason,
            "invoking `builder` would pass the $5.00 budget: $4.80 spent, about $0.35 per invocation"
        );
    }

    #[test]
    fn average_of_past_invocations_and_the_workflow_budget() {
        configure(&[]);
        // $3.60 over 4 invocations: $0.90 each; 4.50 <= 5 but past 80%: a warning.
        let spend = json!({"cost_usd": 3.6, "tokens": 0, "invocations": 4, "max_cost_usd": 5.0});
        match invoke(Some(spend)).unwrap() {
            Decision::Annotate { notes } => {
                assert_eq!(notes.len(), 1);
                assert!(notes[0].contains("about 90% of the $5.00 budget"), "{notes:?}");
                assert!(notes[0].contains("about $0.90 per invocation"), "{notes:?}");
            }
            other => panic!("expected a warning, got {other:?}"),
        }
        // $4.40 over 4: $1.10 each, 5.50 > 5: a veto.
        let spend = json!({"cost_usd": 4.4, "tokens": 0, "invocations": 4, "max_cost_usd": 5.0});
        let reason = reason(invoke(Some(spend)).unwrap());
        assert!(reason.contains("$4.40 spent, about $1.10 per invocation"), "{reason}");
    }

    #[test]
    fn config_overrides_the_workflow_budget() {
        configure(&[("max_cost_usd", "10")]);
        let spend = json!({"cost_usd": 4.4, "tokens": 0, "invocations": 4, "max_cost_usd": 5.0});
        assert_eq!(invoke(Some(spend)).unwrap(), Decision::Continue);
    }

    #[test]
    fn tokens_budget() {
        configure(&[("max_tokens", "200000")]);
        let spend = json!({"cost_usd": 0.0, "tokens": 190000, "invocations": 10});
        let reason = reason(invoke(Some(spend)).unwrap());
        assert_eq!(
            reason,
            "invoking `builder` would pass the 200000-token budget: 190000 tokens used, about 19000 tokens per invocation"
        );
        configure(&[("max_tokens", "200000"), ("invocation_tokens", "5000")]);
        let spend = json!({"cost_usd": 0.0, "tokens": 100000, "invocations": 10});
        assert_eq!(invoke(Some(spend)).unwrap(), Decision::Continue);
    }

    #[test]
    fn first_invocation_expects_nothing_and_a_used_up_budget_vetoes() {
        configure(&[("max_cost_usd", "1")]);
        let spend = json!({"cost_usd": 0.0, "tokens": 0, "invocations": 0});
        assert_eq!(invoke(Some(spend)).unwrap(), Decision::Continue);
        // Spent across earlier runs, none in this one: nothing expected, but nothing left.
        let spend = json!({"cost_usd": 1.0, "tokens": 0, "invocations": 0});
        let reason = reason(invoke(Some(spend)).unwrap());
        assert_eq!(reason, "the $1.00 budget is used up: $1.00 spent");
        // A zero budget allows nothing.
        configure(&[("max_cost_usd", "0")]);
        let spend = json!({"cost_usd": 0.0, "tokens": 0, "invocations": 0});
        assert!(invoke(Some(spend)).unwrap().is_veto());
    }

    #[test]
    fn warn_at_is_configurable() {
        // 3.75 of 5 after the next invocation: 75%.
        let spend = json!({"cost_usd": 3.0, "tokens": 0, "invocations": 4, "max_cost_usd": 5.0});
        configure(&[]);
        assert_eq!(invoke(Some(spend.clone())).unwrap(), Decision::Continue);
        assert_eq!(invoke(Some(spend.clone())).unwrap(), Decision::Continue);
        configure(&[("warn_at", "0.5")]);
        assert!(matches!(invoke(Some(spend)).unwrap(), Decision::Annotate { .. }));
    }

    #[test]
    fn no_spend_or_no_limit_continues() {
        configure(&[("max_cost_usd", "1")]);
        assert_eq!(invoke(None).unwrap(), Decision::Continue);
        configure(&[]);
        let spend = json!({"cost_usd": 1000.0, "tokens": 9999999, "invocations": 3});
        assert_eq!(invoke(Some(spend)).unwrap(), Decision::Continue);
    }

    #[test]
    fn both_budgets_are_checked() {
        configure(&[("max_cost_usd", "5"), ("max_tokens", "1000")]);
        let spend = json!({"cost_usd": 4.9, "tokens": 990, "invocations": 2});
        let reason = reason(invoke(Some(spend)).unwrap());
        assert!(reason.contains("$5.00 budget") && reason.contains("1000-token budget"), "{reason}");
    }

    #[test]
    fn bad_settings_are_errors() {
        configure(&[("max_cost_usd", "five dollars")]);
        let error = invoke(Some(json!({"cost_usd": 0.0, "tokens": 0, "invocations": 0}))).unwrap_err();
        assert!(error.contains("`max_cost_usd` must be a non-negative number"), "{error}");
        configure(&[("max_tokens", "-3")]);
        assert!(invoke(Some(json!({"cost_usd": 0.0, "tokens": 0, "invocations": 0}))).is_err());
        configure(&[("max_cost_usd", "$2.50"), ("max_tokens", "1_000")]);
        let settings = Settings::read().unwrap();
        assert_eq!((settings.max_cost_usd, settings.max_tokens), (Some(2.5), Some(1000.0)));
    }
}
