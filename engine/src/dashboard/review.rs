//! `GET /review`: the review the running loop waits for, as a form ([`super::form`]).
//!
//! Only a running loop's review can be decided, so the step is the one the loop says waits
//! (over its control socket, as `status` asks); what the reviewer sees of the run is the
//! run's journal folded into its state (the projection every command reads), and the workflow
//! is the definition the run was started with (its `ui:` and `description`). The template is
//! read from disk on every request: a person fixing it reloads the page. Nothing here fails
//! the server: every problem is a page that says it. Blocking: the server calls it on the
//! blocking pool.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::form::{self, ReviewContext, StepSummary};
use crate::control::protocol::LiveStatus;
use crate::inspect::source::Source;
use crate::run::core::event::Event;
use crate::run::core::projection::RunState;
use crate::workflow::model::{Document, StateDef, UiKind};

/// A page: its HTTP status and its HTML.
pub type Page = (u16, String);

/// The review form of the step the loop in `state_dir` waits for, or a page that says why
/// there is none.
pub fn page(project_dir: &Path, state_dir: &Path) -> Page {
    let status = match crate::inspect::status::live(state_dir) {
        Ok(Some(status)) => status,
        Ok(None) => return nothing("No loop is running, so no review waits."),
        Err(e) => return (502, form::page("The loop does not answer", &para(&e.to_string()))),
    };
    let Some(step) = status.waiting_for_review.clone() else {
        return nothing(&format!(
            "Run {} is running; no step of it waits for review. This page shows the form when one does.",
            status.run_id
        ));
    };
    match gather(project_dir, state_dir, &status, &step) {
        Ok((context, template)) => render(&context, template),
        Err(message) => (500, form::page("The review cannot be read", &para(&message))),
    }
}

fn para(text: &str) -> String {
    format!("<p>{}</p>", form::escape(text))
}

fn nothing(text: &str) -> Page {
    (
        200,
        form::page(
            "Nothing waits for review",
            &format!("<p id=\"nothing-waits\">{}</p>", form::escape(text)),
        ),
    )
}

/// The form's template: the state's own (its name and where it was looked for), or the
/// built-in one.
enum Template {
    BuiltIn,
    Own { name: String, found: Option<PathBuf>, searched: String },
}

fn render(context: &ReviewContext, template: Template) -> Page {
    let (name, source) = match template {
        Template::BuiltIn => ("review.html".to_owned(), form::DEFAULT.to_owned()),
        Template::Own { name, found: None, searched } => {
            return (
                500,
                form::page(
                    "The review form cannot be shown",
                    &format!(
                        "<p id=\"form-error\">The template <code>{}</code> does not exist (looked in {}).</p><p>Decide with <code>ralph-loop approve</code> or <code>ralph-loop reject</code>, or on the dashboard.</p>",
                        form::escape(&name),
                        form::escape(&searched)
                    ),
                ),
            );
        }
        Template::Own { name, found: Some(path), .. } => match std::fs::read_to_string(&path) {
            Ok(source) => (name, source),
            Err(e) => {
                return (
                    500,
                    form::page(
                        "The review form cannot be shown",
                        &para(&format!("cannot read the template `{}`: {e}", path.display())),
                    ),
                );
            }
        },
    };
    match form::render(&name, &source, context) {
        Ok(html) => (200, html),
        Err(e) => (500, form::error_page(&name, &e)),
    }
}

/// The context of the review of `step`, and its template.
fn gather(
    project_dir: &Path,
    state_dir: &Path,
    status: &LiveStatus,
    step: &str,
) -> Result<(ReviewContext, Template), String> {
    let mut source = Source::open(state_dir).map_err(|e| e.to_string())?;
    let record = source.select_run(Some(&status.run_id)).map_err(|e| e.to_string())?;
    let journal = source.journal(&status.run_id).map_err(|e| e.to_string())?;
    let definition = source.definition(&record.definition_hash).map_err(|e| e.to_string())?;
    drop(source);
    let mut state = RunState::new();
    let mut opened = None;
    for (_, event) in &journal {
        state.apply(event);
        if let Event::ReviewRequested { step: waiting, timeout_secs, at } = event {
            if waiting == step {
                opened = Some((at.clone(), *timeout_secs));
            }
        }
    }
    let (workflow_file, doc) = match definition {
        Some(d) => (d.workflow_file, serde_json::from_value::<Document>(d.document).ok()),
        None => (record.workflow_file.clone(), None),
    };
    let (waiting_since, timeout_secs) = opened.unzip();
    let waited = waiting_since
        .as_deref()
        .and_then(|at| humantime::parse_rfc3339_weak(at).ok())
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .unwrap_or_default();
    let pass = state.pass();
    let steps = pass
        .map(|p| {
            p.steps
                .iter()
                .filter(|(id, _)| id.as_str() != step)
                .map(|(id, record)| {
                    let outcome = record.outcome.as_ref();
                    StepSummary {
                        id: id.clone(),
                        status: serde_json::to_value(record.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        result: outcome.and_then(|o| o.result.clone()),
                        summary: outcome.and_then(|o| o.summary.clone()),
                        error: outcome.and_then(|o| o.error.clone()),
                        files_changed: outcome.map(|o| o.evidence.files_changed.clone()).unwrap_or_default(),
                        duration_ms: outcome.map_or(0, |o| o.duration_ms),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let context = ReviewContext {
        run_id: status.run_id.clone(),
        workflow: status.workflow.clone(),
        step: step.to_owned(),
        description: doc.as_ref().and_then(|d| description(d, step)),
        iteration: status.iteration,
        task: status.task.clone(),
        steps,
        files_changed: pass.map(|p| p.files.iter().cloned().collect()).unwrap_or_default(),
        waiting_since,
        waited_secs: waited.as_secs(),
        waited: humantime::format_duration(Duration::from_secs(waited.as_secs())).to_string(),
        timeout_secs: timeout_secs.flatten(),
        action: form::Action::default(),
    };
    let template = match doc.as_ref().and_then(|d| own_template(d, step)) {
        None => Template::BuiltIn,
        Some(name) => {
            let found = form::find_template(&name, Some(&workflow_file), project_dir);
            let searched =
                format!("the directory of `{}`, then `{}`", workflow_file.display(), project_dir.display());
            Template::Own { name, found, searched }
        }
    };
    Ok((context, template))
}

/// The template a human state names with `ui: {type: web, template: …}`.
fn own_template(doc: &Document, step: &str) -> Option<String> {
    let workflow = doc.workflow.as_ref()?;
    workflow.states.iter().filter_map(StateDef::state).find(|s| s.id == step).and_then(|s| {
        let ui = s.ui.as_ref()?;
        (ui.kind == UiKind::Web).then(|| ui.template.clone()).flatten()
    })
}

/// What the workflow says `step` does: its state's, node's or saga step's `description`.
fn description(doc: &Document, step: &str) -> Option<String> {
    let workflow = doc.workflow.as_ref()?;
    let state = workflow.states.iter().filter_map(StateDef::state).find(|s| s.id == step);
    let node = workflow.nodes.iter().find(|n| n.id == step);
    let saga = workflow.steps.iter().find(|s| s.name == step);
    state
        .and_then(|s| s.description.clone())
        .or_else(|| node.and_then(|n| n.description.clone()))
        .or_else(|| saga.and_then(|s| s.description.clone()))
}
