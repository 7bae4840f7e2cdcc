//! How a workflow file and `ralph.yaml` combine.
//!
//! `ralph.yaml` is the base. Named entries — `agents`, `chains`, `conditions`, `timeouts` and
//! named `retry` policies — merge by name, the workflow file's entry replacing the
//! configuration's entry of the same name as a whole. Every other section present in the workflow
//! file (`loop`, `circuit_breaker`, `observability`, …) replaces the configuration's section as a
//! whole. The `workflow:` block comes from the workflow file; `ralph.yaml`'s `workflow:` is only
//! the default when the workflow file has none.

use super::model::{Document, RetrySection};

/// The document a run uses: `config` overlaid by `workflow`.
pub fn merge(config: &Document, workflow: &Document) -> Document {
    let mut merged = config.clone();
    macro_rules! replace {
        ($($field:ident),*) => {
            $(if workflow.$field.is_some() {
                merged.$field = workflow.$field.clone();
            })*
        };
    }
    replace!(
        version,
        name,
        description,
        project,
        loop_settings,
        logging,
        plugins,
        workflow,
        budget,
        circuit_breaker,
        compensation,
        observability,
        notifications,
        state,
        roles,
        routing,
        escalation
    );
    for (name, agent) in &workflow.agents {
        merged.agents.insert(name.clone(), agent.clone());
    }
    for (name, chain) in &workflow.chains {
        merged.chains.insert(name.clone(), chain.clone());
    }
    for (name, condition) in &workflow.conditions {
        merged.conditions.insert(name.clone(), condition.clone());
    }
    for (name, timeout) in &workflow.timeouts {
        merged.timeouts.insert(name.clone(), *timeout);
    }
    merged.retry = match (&config.retry, &workflow.retry) {
        (_, None) => config.retry.clone(),
        (None, Some(ours)) => Some(ours.clone()),
        (Some(base), Some(ours)) => {
            let mut named: indexmap::IndexMap<String, _> =
                base.policies().into_iter().map(|(n, p)| (n.to_owned(), p.clone())).collect();
            for (name, policy) in ours.policies() {
                named.insert(name.to_owned(), policy.clone());
            }
            Some(RetrySection::Named(named))
        }
    };
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::{Agent, LoopSettings, RetryPolicy};

    #[test]
    fn named_entries_merge_by_name_and_sections_replace() {
        let mut config = Document::default();
        config.agents.insert("builder".into(), Agent { model: Some("opus".into()), ..Agent::default() });
        config.agents.insert("verifier".into(), Agent::default());
        config.loop_settings =
            Some(LoopSettings { max_iterations: Some(10), auto_commit: Some(true), ..Default::default() });
        config.retry =
            Some(RetrySection::Single(RetryPolicy { max_attempts: Some(3), ..Default::default() }));
        let mut workflow = Document::default();
        workflow.agents.insert("builder".into(), Agent { model: Some("sonnet".into()), ..Agent::default() });
        workflow.loop_settings = Some(LoopSettings { max_iterations: Some(5), ..Default::default() });
        let mut named = indexmap::IndexMap::new();
        named.insert("critical".to_owned(), RetryPolicy { max_attempts: Some(1), ..Default::default() });
        workflow.retry = Some(RetrySection::Named(named));

        let merged = merge(&config, &workflow);
        assert_eq!(merged.agents["builder"].model.as_deref(), Some("sonnet"));
        assert!(merged.agents.contains_key("verifier"));
        let settings = merged.loop_settings.unwrap();
        assert_eq!(settings.max_iterations, Some(5));
        assert_eq!(settings.auto_commit, None, "a section replaces the configuration's as a whole");
        let names: Vec<_> = merged.retry.as_ref().unwrap().policies().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["default", "critical"]);
    }
}
