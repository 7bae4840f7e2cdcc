//! Validating a workflow file together with the project configuration it runs with.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::load::{LoadedFile, load_path};
use super::merge::merge;
use super::model::Document;
use super::schema::SchemaKind;
use super::semantic::{self, Context};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Plan};
use crate::source::SourceFile;

/// How to validate.
#[derive(Debug, Clone)]
pub struct Options {
    /// An explicit `--config`; otherwise `ralph.yaml` in the project directory, if present.
    pub config: Option<PathBuf>,
    /// The project directory (the current directory by default).
    pub project_dir: PathBuf,
    /// For `loop`: agents and plugins that cannot be found are errors, not warnings.
    pub strict: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { config: None, project_dir: PathBuf::from("."), strict: false }
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
    let config_file = match config_path {
        Some(p) if !same_file(&p, path) => Some(read(&p)?),
        _ => None,
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
        for mut d in semantic::check(doc, &cx) {
            place(&files, &mut d);
            diagnostics.push(d);
        }
    }
    for file in &files {
        diagnostics.extend(file.diagnostics.iter().cloned());
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

/// Points a path-only diagnostic into the file that defines the path: the one where more of the
/// path exists, the workflow file on a tie (it overrides the configuration).
fn place(files: &[LoadedFile], diagnostic: &mut Diagnostic) {
    if diagnostic.location.is_some() {
        return;
    }
    let Some(path) = diagnostic.path.clone() else { return };
    let mut best: Option<(usize, &LoadedFile)> = None;
    for file in files {
        if let Some((_, depth)) = file.locate(&path, diagnostic.at_key) {
            if best.is_none_or(|(d, _)| depth > d) {
                best = Some((depth, file));
            }
        }
    }
    if let Some((_, file)) = best {
        file.place(diagnostic);
    }
}
