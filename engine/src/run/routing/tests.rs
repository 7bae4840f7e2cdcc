//! [`decide`] on worked examples: each rule, and which wins.

use super::*;
use crate::task::TaskStatus;
use crate::workflow::model::{Backend, RoleTarget, RouteTarget};

fn task(id: &str) -> Task {
    Task {
        id: id.into(),
        title: id.into(),
        description: None,
        status: TaskStatus::Pending,
        priority: None,
        depends_on: Vec::new(),
        role: None,
        acceptance_criteria: Vec::new(),
        milestone: None,
        complexity: None,
        failed_attempts: 0,
        last_attempt_at: None,
        labels: Vec::new(),
        kind: None,
        line: 1,
    }
}

fn rules() -> Rules {
    let mut roles = Roles::new();
    roles.insert("ideas".into(), RoleTarget::Agent("ideator".into()));
    let mut routing = Routing::new();
    routing.insert("planning".into(), RouteTarget::Model("claude-opus".into()));
    routing.insert(
        "code".into(),
        RouteTarget::Spec(ModelChoice {
            backend: Some(Backend::Opencode),
            model: Some("vllm/qwen3-coder".into()),
            ..ModelChoice::default()
        }),
    );
    Rules {
        work_agent: "builder".into(),
        roles,
        routing,
        escalation: Some(Escalation {
            trigger_after: 3,
            backend: Some(Backend::Claude),
            model: Some("claude-sonnet-4-5".into()),
            ..Escalation::default()
        }),
        max_send_backs: 2,
    }
}

#[test]
fn a_plain_task_keeps_the_work_agent() {
    assert_eq!(decide(&rules(), &task("t"), 0), None);
    // A role `roles:` does not name is no choice either (the runner warns).
    assert_eq!(decide(&rules(), &Task { role: Some("docs".into()), ..task("t") }, 0), None);
}

#[test]
fn the_role_picks_the_agent() {
    let choice = decide(&rules(), &Task { role: Some("ideas".into()), ..task("t") }, 0).unwrap();
    assert_eq!((choice.key.as_str(), choice.agent.as_str()), ("role:ideas", "ideator"));
    assert_eq!(choice.reason, "role `ideas`");
}

#[test]
fn routing_matches_type_role_or_label_in_the_order_written() {
    let planning = decide(&rules(), &Task { kind: Some("planning".into()), ..task("t") }, 0).unwrap();
    assert_eq!(planning.key, "routing:planning");
    assert_eq!(planning.agent, "builder");
    assert_eq!(planning.change.model.as_deref(), Some("claude-opus"));
    assert_eq!(planning.reason, "routing: type `planning`");
    // A task labelled both: `planning` is written first.
    let both = Task { labels: vec!["code".into(), "planning".into()], ..task("t") };
    assert_eq!(decide(&rules(), &both, 0).unwrap().key, "routing:planning");
    let code = decide(&rules(), &Task { labels: vec!["code".into()], ..task("t") }, 0).unwrap();
    assert_eq!(code.change.backend, Some(Backend::Opencode));
    assert_eq!(code.reason, "routing: label `code`");
    // A role and a route together: the role's agent on the route's model.
    let ideas = Task { role: Some("ideas".into()), kind: Some("planning".into()), ..task("t") };
    let choice = decide(&rules(), &ideas, 0).unwrap();
    assert_eq!((choice.key.as_str(), choice.agent.as_str()), ("role:ideas+routing:planning", "ideator"));
}

#[test]
fn escalation_wins_after_trigger_after_iterations_without_progress_or_failed_attempts() {
    let code = Task { kind: Some("code".into()), ..task("t") };
    assert_eq!(decide(&rules(), &code, 2).unwrap().key, "routing:code");
    let stuck = decide(&rules(), &code, 3).unwrap();
    assert_eq!(stuck.key, "escalation");
    assert!(stuck.escalated);
    assert_eq!(stuck.change.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(stuck.reason, "escalation: 3 iteration(s) in a row without progress");
    let failing = Task { failed_attempts: 4, ..task("t") };
    assert_eq!(decide(&rules(), &failing, 0).unwrap().reason, "escalation: task t failed 4 attempt(s)");
    // An ideas task escalates on its own agent.
    let ideas = Task { role: Some("ideas".into()), ..task("t") };
    let choice = decide(&rules(), &ideas, 5).unwrap();
    assert_eq!((choice.key.as_str(), choice.agent.as_str()), ("role:ideas+escalation", "ideator"));
}

#[test]
fn every_choice_decide_can_make_is_resolved_up_front() {
    let rules = rules();
    let keys: Vec<String> = rules.every_choice().into_iter().map(|c| c.key).collect();
    for task in [
        Task { role: Some("ideas".into()), ..task("t") },
        Task { kind: Some("planning".into()), ..task("t") },
        Task { role: Some("ideas".into()), labels: vec!["code".into()], ..task("t") },
        Task { role: Some("ideas".into()), failed_attempts: 9, ..task("t") },
        task("t"),
    ] {
        for no_progress in [0, 5] {
            if let Some(choice) = decide(&rules, &task, no_progress) {
                assert!(keys.contains(&choice.key), "{} is not prepared: {keys:?}", choice.key);
            }
        }
    }
}

#[test]
fn a_role_with_a_workflow_keeps_the_work_agent_and_is_routed_and_escalated_there() {
    let mut rules = rules();
    rules.roles.insert(
        "docs".into(),
        RoleTarget::Spec(crate::workflow::model::RoleSpec {
            workflow: Some("workflows/docs.yaml".into()),
            ..Default::default()
        }),
    );
    let docs = Task { role: Some("docs".into()), ..task("t") };
    let choice = decide(&rules, &docs, 0).unwrap();
    assert_eq!((choice.key.as_str(), choice.workflow.as_deref()), ("", Some("docs")));
    assert_eq!(choice.reason, "role `docs` runs `workflows/docs.yaml`");
    let code = Task { labels: vec!["code".into()], ..docs.clone() };
    let choice = decide(&rules, &code, 0).unwrap();
    assert_eq!((choice.key.as_str(), choice.agent.as_str()), ("routing:code", "builder"));
    assert_eq!(choice.reason, "role `docs` runs `workflows/docs.yaml`, routing: label `code`");
    let stuck = decide(&rules, &docs, 3).unwrap();
    assert_eq!((stuck.key.as_str(), stuck.workflow.as_deref()), ("escalation", Some("docs")));
}
