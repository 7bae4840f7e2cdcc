//! Validating a workflow file together with the project configuration it runs with.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::inert;
use super::load::{LoadedFile, load_path};
use super::merge::merge;
use super::model::Document;
use super::path::FieldPath;
use super::schema::SchemaKind;
use super::semantic::{self, Context};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Plan};
use crate::source::{SourceFile, Span};

/// How to validate.
#[derive(Debug, Clone)]
pub struct Options {
    /// An explicit `--config`; otherwise `ralph.yaml` in the project directory, if present.
    pub config: Option<PathBuf>,
    /// The project directory (the current directory by default).
    pub project_dir: PathBuf,
    /// For `loop`: agents and plugins that cannot be found are errors, not warnings.
    pub strict: bool,
    /// `validate --strict`: keys that are accepted but have no effect (`inert-key`) are errors,
    /// not warnings. `loop` leaves this off: such a key is reported, never a reason not to run.
    pub inert_errors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { config: None, project_dir: PathBuf::from("."), strict: false, inert_errors: false }
    }
}

/// Why validation could not even start.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The result of validating one workflow file.
#[derive(Debug)]
pub struct Validation {
    /// The workflow file, then the configuration file if one was used.
    pub files: Vec<LoadedFile>,
    /// The merged document, when it could be typed.
    pub document: Option<Document>,
    /// The compiled plan, when the document is valid and has a workflow.
    pub plan: Option<Plan>,
    /// Every diagnostic, the workflow file's first, each file's in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    /// Whether there is no error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The source file a diagnostic points into, for quoting it.
    pub fn source_of(&self, diagnostic: &Diagnostic) -> Option<&SourceFile> {
        let location = diagnostic.location.as_ref()?;
        self.files.iter().map(|f| &f.source).find(|s| s.name() == location.file)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Validates `path` with the project configuration that `options` selects.
pub fn validate(path: &Path, options: &Options) -> Result<Validation, ValidateError> {
    let read = |p: &Path| {
        load_path(p, SchemaKind::Config).map_err(|source| ValidateError::Read { path: p.to_owned(), source })
    };
    let workflow_file = read(path)?;
    validate_loaded(workflow_file, options)
}

/// Validates a workflow file that is already loaded (for tests and fuzzing without disk I/O).
pub fn validate_loaded(workflow_file: LoadedFile, options: &Options) -> Result<Validation, ValidateError> {
    let read = |p: &Path| {
        load_path(p, SchemaKind::Config).map_err(|source| ValidateError::Read { path: p.to_owned(), source })
    };
    let path_buf = workflow_file.source.name().to_owned();
    let path = path_buf.as_path();
    let config_path = match &options.config {
        Some(explicit) => Some(explicit.clone()),
        None => {
            let default = if options.project_dir == Path::new(".") {
                PathBuf::from("ralph.yaml")
            } else {
                options.project_dir.join("ralph.yaml")
            };
            default.is_file().then_some(default)
        }
    };
    let config_file = match &config_path {
        Some(p) if !same_file(p, path) => Some(read(p)?),
        _ => None,
    };
    // The file that is the project configuration: a separate one, or the file itself.
    let config_index = match (&config_file, &config_path) {
        (Some(_), _) => Some(1),
        (None, Some(_)) => Some(0),
        (None, None) => (path.file_name() == Some(std::ffi::OsStr::new("ralph.yaml"))).then_some(0),
    };
    let mut files = vec![workflow_file];
    files.extend(config_file);

    let workflow_doc = files[0].document.clone();
    let document = match (&workflow_doc, files.get(1).and_then(|f| f.document.as_ref())) {
        (Some(ours), Some(base)) => Some(merge(base, ours)),
        (Some(ours), None) => Some(ours.clone()),
        (None, _) => None,
    };
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    if let Some(doc) = &document {
        let local_agents: HashSet<String> =
            workflow_doc.as_ref().map(|d| d.agents.keys().cloned().collect()).unwrap_or_default();
        let cx = Context {
            project_dir: &options.project_dir,
            workflow_file: Some(path),
            strict: options.strict,
            local_agents,
        };
        for mut d in semantic::check(doc, &cx).into_iter().chain(inert::check(doc, options.inert_errors)) {
            place(&files, &mut d);
            diagnostics.push(d);
        }
    }
    for (i, file) in files.iter().enumerate() {
        diagnostics.extend(file.diagnostics.iter().cloned());
        // A file without a `workflow:` of its own is configuration whatever its name.
        let is_config =
            config_index == Some(i) || file.document.as_ref().is_some_and(|d| d.workflow.is_none());
        for mut d in loop_workflow(file, is_config).into_iter().chain(store_path(file, is_config)) {
            file.place(&mut d);
            diagnostics.push(d);
        }
    }
    let rank_of = |d: &Diagnostic| {
        d.location
            .as_ref()
            .and_then(|l| files.iter().position(|f| f.source.name() == l.file))
            .unwrap_or(usize::MAX)
    };
    diagnostics.sort_by_key(|d| (rank_of(d), d.sort_key()));
    diagnostics.dedup_by(|a, b| a.code == b.code && a.location == b.location && a.message == b.message);
    let valid = !diagnostics.iter().any(Diagnostic::is_error);
    let plan = if valid { document.as_ref().and_then(plan::compile) } else { None };
    Ok(Validation { files, document, plan, diagnostics })
}

/// `state.persistence.path` names the store every verb opens, so it is read from the project
/// configuration only: `status` or `inspect` know no workflow file to find it in.
fn store_path(file: &LoadedFile, is_config: bool) -> Option<Diagnostic> {
    let doc = file.document.as_ref()?;
    doc.state.as_ref()?.persistence.as_ref()?.path.as_ref()?;
    if is_config {
        return None;
    }
    let at = FieldPath::root().key("state").key("persistence").key("path");
    Some(
        Diagnostic::warning("ignored-field", "`state.persistence.path` is read from `ralph.yaml` only")
            .at_key(at)
            .note("it names the store every verb opens (`status`, `inspect`, `resume` …), so it belongs in the project configuration; `--state-dir` names one for a single command"),
    )
}

/// The checks of `loop.workflow`, the workflow file `ralph-loop loop` runs: it is read from
/// the project configuration only, must name a file that exists (relative to the
/// configuration), and a configuration with a `workflow:` of its own must not name another.
fn loop_workflow(file: &LoadedFile, is_config: bool) -> Vec<Diagnostic> {
    let Some(doc) = file.document.as_ref() else { return Vec::new() };
    let Some(named) = doc.loop_settings.as_ref().and_then(|l| l.workflow.as_deref()) else {
        return Vec::new();
    };
    let at = FieldPath::root().key("loop").key("workflow");
    if !is_config {
        return vec![
            Diagnostic::warning("ignored-field", "`loop.workflow` is read from `ralph.yaml` only")
                .at_key(at)
                .note("it names the workflow `ralph-loop loop` runs, and this file is a workflow, not the project configuration"),
        ];
    }
    let mut out = Vec::new();
    if doc.workflow.is_some() {
        out.push(
            Diagnostic::error(
                "conflicting-workflow",
                format!("this file has a `workflow:` of its own and names another, `{named}`, to run"),
            )
            .at(at.clone())
            .note("keep one: `loop.workflow` naming a workflow file, or the `workflow:` section"),
        );
    }
    let base = file.source.name().parent().unwrap_or(Path::new(""));
    let target = base.join(named);
    if !target.is_file() {
        let dir = target.parent().unwrap_or(base);
        let siblings: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
                    .collect()
            })
            .unwrap_or_default();
        let wanted = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let suggestion = super::suggest::did_you_mean(&wanted, siblings.iter().map(String::as_str))
            .map(|close| Path::new(named).with_file_name(close).display().to_string());
        out.push(
            Diagnostic::error(
                "missing-workflow-file",
                format!("`loop.workflow` names `{named}`, which does not exist"),
            )
            .at(at)
            .expected("a workflow file, relative to this file")
            .suggest(suggestion)
            .note("`ralph-loop workflow list` shows the workflows in `workflows/`"),
        );
    }
    out
}

/// Points a path-only diagnostic into the file that defines the path: the one where more of the
/// path exists, the workflow file on a tie (it overrides the configuration).
fn place(files: &[LoadedFile], diagnostic: &mut Diagnostic) {
    for related in &mut diagnostic.related {
        if related.location.is_none() {
            related.location = locate(files, &related.path, true);
        }
    }
    if diagnostic.location.is_some() {
        return;
    }
    let Some(path) = diagnostic.path.clone() else { return };
    diagnostic.location = locate(files, &path, diagnostic.at_key);
}

/// Where `path` is: in the file that holds more of it, the workflow file on a tie.
fn locate(files: &[LoadedFile], path: &FieldPath, at_key: bool) -> Option<crate::diagnostic::Location> {
    let mut best: Option<(usize, Span, &LoadedFile)> = None;
    for file in files {
        if let Some((span, depth)) = file.locate(path, at_key) {
            if best.is_none_or(|(d, ..)| depth > d) {
                best = Some((depth, span, file));
            }
        }
    }
    best.map(|(_, span, file)| crate::diagnostic::Location { file: file.source.name().to_owned(), span })
}
