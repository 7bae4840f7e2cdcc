//! The plan a run ran — compiled from the definition the store kept for it, not from the file
//! as it is now — and the plan of the workflow `loop` would run next, for the dashboard's
//! graph and `replay --check`. Nodes and edges are `workflow visualize --format json`'s.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::InspectError;
use super::source::Source;
use crate::diagnostic::Diagnostic;
use crate::plan::Plan;
use crate::store::{RunRecord, StoreError};
use crate::workflow::model::Document;
use crate::workflow::validate::{Options, validate};

/// A workflow's plan as JSON: `workflow` (its name), `file`, then what `workflow visualize
/// --format json` prints (`kind`, `initial`, `nodes`, `edges`).
pub fn view(plan: &Plan, workflow: &str, file: &Path) -> Value {
    let mut value = json!({ "workflow": workflow, "file": file });
    if let (Value::Object(map), Value::Object(drawn)) = (&mut value, plan.to_json()) {
        map.extend(drawn);
    }
    value
}

/// The workflow's agents as the views name them: each one's `backend` (`command` for a
/// command) and `model`, for the dashboard's metrics by agent and model.
pub fn agents(doc: &Document) -> Value {
    let agents: serde_json::Map<String, Value> = doc
        .agents
        .iter()
        .map(|(name, agent)| {
            let backend = match (agent.backend, &agent.command) {
                (Some(backend), _) => Some(crate::run::agents::backend_name(backend)),
                (None, Some(_)) => Some("command".to_owned()),
                (None, None) => None,
            };
            (name.clone(), json!({ "backend": backend, "model": agent.model }))
        })
        .collect();
    Value::Object(agents)
}

/// The definition run `record` ran, as the store keeps it, and its plan.
pub fn stored(source: &mut Source, record: &RunRecord) -> Result<(Document, Plan), InspectError> {
    let hash = &record.definition_hash;
    let dir = source.dir().to_owned();
    let corrupt = |detail: String| InspectError::Store(StoreError::Corrupt { dir: dir.clone(), detail });
    let Some(definition) = source.definition(hash)? else {
        return Err(InspectError::NoDefinition { run: record.run_id.clone(), hash: hash.clone() });
    };
    let doc: Document = serde_json::from_value(definition.document)
        .map_err(|e| corrupt(format!("the stored definition {hash} cannot be read: {e}")))?;
    let plan = crate::plan::compile(&doc)
        .ok_or_else(|| corrupt(format!("the stored definition {hash} has no workflow to run")))?;
    Ok((doc, plan))
}

/// The workflow `ralph-loop loop` would run in `project_dir` without `--workflow`, validated.
#[derive(Debug)]
pub struct Current {
    /// The file.
    pub file: PathBuf,
    /// Its name: the workflow's `name`, else the file's stem (as a run of it is named).
    pub name: String,
    /// Its plan.
    pub plan: Plan,
}

/// Why there is no current plan.
#[derive(Debug, thiserror::Error)]
pub enum CurrentError {
    /// The project names no workflow.
    #[error(
        "`{}` names no workflow to run (no `loop.workflow`, no `workflow:`); `ralph-loop loop --workflow FILE` runs one",
        config.display()
    )]
    NoneNamed {
        /// The project configuration.
        config: PathBuf,
    },
    /// The project has no configuration.
    #[error("there is no `{}` to name the workflow to run", config.display())]
    NoConfig {
        /// Where it was looked for.
        config: PathBuf,
    },
    /// The workflow is invalid.
    #[error("`{}` is invalid: {}", file.display(), first_error(diagnostics))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        diagnostics: Vec<Diagnostic>,
    },
    /// The workflow cannot be read.
    #[error(transparent)]
    Read(#[from] crate::workflow::validate::ValidateError),
}

fn first_error(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    match diagnostics.iter().find(|d| d.is_error()) {
        Some(first) if errors > 1 => format!("{} (and {} more)", first.message, errors - 1),
        Some(first) => first.message.clone(),
        None => "it has no workflow to run".to_owned(),
    }
}

/// The plan of the workflow `loop` would run: the one `ralph.yaml` names.
pub fn current(project_dir: &Path) -> Result<Current, CurrentError> {
    let config = project_dir.join("ralph.yaml");
    let Some(file) = crate::workflow::load::configured_workflow(&config) else {
        return Err(if config.exists() {
            CurrentError::NoneNamed { config }
        } else {
            CurrentError::NoConfig { config }
        });
    };
    let options =
        Options { config: None, project_dir: project_dir.to_owned(), strict: false, inert_errors: false };
    let validation = validate(&file, &options)?;
    let valid = validation.is_valid();
    match (validation.document, validation.plan) {
        (Some(doc), Some(plan)) if valid => {
            let name = doc
                .workflow
                .as_ref()
                .and_then(|w| w.name.clone())
                .or_else(|| doc.name.clone())
                .unwrap_or_else(|| {
                    file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
                });
            Ok(Current { file, name, plan })
        }
        _ => Err(CurrentError::Invalid { file, diagnostics: validation.diagnostics }),
    }
}

/// What `replay --check <run>` reports: run `run` re-decided by the definition it ran, as the
/// store keeps it, invoking no agent (see `run::check`). Blocks while the check runs.
///
/// # Errors
///
/// The outer error: the run or its definition cannot be read; the inner one: the check
/// cannot be made.
pub fn check_stored(
    state_dir: &Path,
    project_dir: &Path,
    run: &str,
) -> Result<Result<crate::run::check::Report, crate::run::check::CheckError>, InspectError> {
    let mut source = Source::open(state_dir)?;
    let record = source.select_run(Some(run))?;
    let recorded: Vec<crate::run::core::event::Event> =
        source.journal(&record.run_id)?.into_iter().map(|(_, e)| e).collect();
    let (doc, plan) = stored(&mut source, &record)?;
    drop(source);
    Ok(crate::run::check::check(
        project_dir,
        &record,
        &recorded,
        (&doc, plan, &record.workflow_file),
        "stored",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_plan_is_the_workflow_the_configuration_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(current(dir.path()), Err(CurrentError::NoConfig { .. })));
        std::fs::write(dir.path().join("ralph.yaml"), "loop:\n  max_iterations: 3\n").unwrap();
        let err = current(dir.path()).unwrap_err();
        assert!(err.to_string().contains("names no workflow to run"), "{err}");
        std::fs::create_dir(dir.path().join("workflows")).unwrap();
        std::fs::write(
            dir.path().join("workflows/two.yaml"),
            "workflow:\n  nodes:\n    - id: a\n      agent: x\n    - id: b\n      agent: x\n      depends_on: a\nagents:\n  x:\n    command: \"true\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("ralph.yaml"), "loop:\n  workflow: workflows/two.yaml\n").unwrap();
        let found = current(dir.path()).unwrap();
        assert_eq!((found.file, found.name.as_str()), (dir.path().join("workflows/two.yaml"), "two"));
        let view = view(&found.plan, "two", Path::new("workflows/two.yaml"));
        assert_eq!(view["kind"], "dag");
        assert_eq!(view["workflow"], "two");
        assert_eq!(view["nodes"].as_array().unwrap().len(), 2, "{view}");
        assert_eq!(view["edges"][0]["from"], "a");
    }
}
