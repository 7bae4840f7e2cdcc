//! `ralph-loop workflow validate | visualize | list`

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::{ConfigArgs, Env, Exit, Format};
use crate::diagnostic::{Diagnostic, Severity};
use crate::plan;
use crate::workflow::load::load_path;
use crate::workflow::model::Document;
use crate::workflow::schema::SchemaKind;
use crate::workflow::validate::{Options, Validation, validate as validate_file};

/// Arguments of `workflow validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow files (or ralph.yaml) to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The older spelling of `--json` (`--format json`), still accepted; hidden because two
    /// formats do not need a `--format` and every other verb says `--json`.
    #[arg(long, value_enum, default_value_t = Format::Human, hide = true)]
    pub format: Format,
    /// One JSON document on stdout (the diagnostics with their positions), instead of
    /// diagnostics on stderr.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Report agents and plugins that cannot be found as errors, as `loop` does, and keys that
    /// are accepted but have no effect (`inert-key`).
    #[arg(long)]
    pub strict: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Output of `workflow visualize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagramFormat {
    /// A Mermaid diagram (stateDiagram-v2 or flowchart).
    Mermaid,
    /// A Graphviz DOT digraph (`dot -Tsvg` renders it).
    Dot,
    /// The plan's nodes and edges as JSON.
    Json,
}

/// Arguments of `workflow visualize`.
#[derive(Debug, Args)]
pub struct VisualizeArgs {
    /// The workflow file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The diagram language.
    #[arg(long, value_enum, default_value_t = DiagramFormat::Mermaid)]
    pub format: DiagramFormat,
    /// Write the diagram to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Arguments of `workflow list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The directory to list; defaults to `workflows/` in the project directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The older spelling of `--json` (`--format json`), still accepted.
    #[arg(long, value_enum, default_value_t = Format::Human, hide = true)]
    pub format: Format,
    /// One JSON array on stdout, instead of a table.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

fn options(config: &ConfigArgs, env: &Env, strict: bool) -> Options {
    // `--strict` also makes keys that have no effect errors; `loop` (strict about agents) runs
    // with them, reported.
    Options {
        config: config.config.clone(),
        project_dir: env.project_dir.clone(),
        strict,
        inert_errors: strict,
    }
}

fn summary(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    (errors, diagnostics.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

fn describe_plan(validation: &Validation) -> String {
    match (&validation.plan, validation.document.as_ref().and_then(|d| d.workflow.as_ref())) {
        (Some(plan), Some(_)) => {
            let (noun, count) = match plan.kind {
                crate::workflow::model::WorkflowKind::StateMachine => {
                    ("state", plan.nodes().filter(|(_, n)| !matches!(n.role, plan::NodeRole::Stop)).count())
                }
                crate::workflow::model::WorkflowKind::Dag => ("node", plan.nodes().count()),
                crate::workflow::model::WorkflowKind::Saga => {
                    ("step", plan.nodes().filter(|(_, n)| matches!(n.role, plan::NodeRole::Step)).count())
                }
            };
            format!("{}, {}", plan.kind.as_str(), plural(count, noun))
        }
        (None, Some(workflow)) => workflow.effective_kind().as_str().to_owned(),
        _ => "configuration".into(),
    }
}

/// How many diagnostics a person is shown; past that, a count. A generated file with 200,000
/// unknown keys would otherwise print for minutes; `--json` lists them all.
pub const SHOWN_DIAGNOSTICS: usize = 50;

/// Prints the first [`SHOWN_DIAGNOSTICS`] diagnostics, in their order (by file and position),
/// and a count of the rest.
pub fn print_diagnostics(validation: &Validation, env: &Env) {
    let all = &validation.diagnostics;
    for d in all.iter().take(SHOWN_DIAGNOSTICS) {
        eprintln!("{}", d.render(validation.source_of(d), &env.styles));
    }
    if all.len() > SHOWN_DIAGNOSTICS {
        let rest = &all[SHOWN_DIAGNOSTICS..];
        let (errors, warnings) = summary(rest);
        let mut parts = Vec::new();
        if errors > 0 {
            parts.push(plural(errors, "more error"));
        }
        if warnings > 0 {
            parts.push(plural(warnings, "more warning"));
        }
        eprintln!(
            "... {} not shown (`ralph-loop workflow validate --json` lists them all)\n",
            parts.join(" and ")
        );
    }
}

/// Validates each file; exit 3 when any has an error.
pub fn validate(args: &ValidateArgs, env: &Env) -> anyhow::Result<Exit> {
    let format = if args.json { Format::Json } else { args.format };
    let options = options(&args.config, env, args.strict);
    let mut any_invalid = false;
    let mut reports = Vec::new();
    for file in &args.files {
        let validation = validate_file(file, &options)?;
        let (errors, warnings) = summary(&validation.diagnostics);
        let invalid = errors > 0 || (args.deny_warnings && warnings > 0);
        any_invalid |= invalid;
        match format {
            Format::Human => {
                print_diagnostics(&validation, env);
                if let Some(doc) = &validation.document {
                    for (warning, text) in crate::plugin::build::source_notes(&env.project_dir, doc) {
                        eprintln!("{}: {text}", if warning { "warning" } else { "note" });
                    }
                }
                let verdict = if invalid { "invalid" } else { "valid" };
                let mut line = format!("{}: {verdict} ({}", file.display(), describe_plan(&validation));
                if errors > 0 {
                    line.push_str(&format!(", {}", plural(errors, "error")));
                }
                if warnings > 0 {
                    line.push_str(&format!(", {}", plural(warnings, "warning")));
                }
                line.push(')');
                super::out(&format!("{line}\n"));
            }
            Format::Json => reports.push(serde_json::json!({
                "file": file.display().to_string(),
                "valid": !invalid,
                "kind": validation.plan.as_ref().map(|p| p.kind.as_str()),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": validation.diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
            })),
        }
    }
    if format == Format::Json {
        let out = serde_json::json!({ "valid": !any_invalid, "files": reports });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    }
    Ok(if any_invalid { Exit::Invalid } else { Exit::Ok })
}

/// Draws the plan of a valid workflow.
pub fn visualize(args: &VisualizeArgs, env: &Env) -> anyhow::Result<Exit> {
    let validation = validate_file(&args.file, &options(&args.config, env, false))?;
    let Some(plan) = validation.plan.as_ref().filter(|_| validation.is_valid()) else {
        print_diagnostics(&validation, env);
        if validation.is_valid() {
            return Err(super::exit::usage(format!(
                "`{}` has no `workflow:` section to draw",
                args.file.display()
            )));
        }
        eprintln!("{}: invalid, nothing drawn", args.file.display());
        return Ok(Exit::Invalid);
    };
    let name = workflow_name(validation.document.as_ref(), &args.file);
    let text = match args.format {
        DiagramFormat::Mermaid => plan::render_mermaid(plan),
        DiagramFormat::Dot => plan::render_dot(plan, &name),
        DiagramFormat::Json => format!("{}\n", serde_json::to_string_pretty(&plan.to_json())?),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        None => super::out(&text),
    }
    Ok(Exit::Ok)
}

fn workflow_name(doc: Option<&Document>, file: &Path) -> String {
    doc.and_then(|d| d.workflow.as_ref().and_then(|w| w.name.clone()).or_else(|| d.name.clone()))
        .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
}

/// One workflow file of a directory, as `workflow list` shows it.
pub struct Listed {
    /// The file.
    pub file: PathBuf,
    /// Its workflow's name.
    pub name: String,
    /// `state_machine`, `dag`, `saga`, or `-` for a file without a workflow.
    pub kind: &'static str,
    /// What it is for.
    pub description: String,
    /// Whether it has errors.
    pub broken: bool,
}

/// The workflow files of `dir` (`.yaml`, `.yml`), sorted by name.
pub fn listing(dir: &Path) -> anyhow::Result<Vec<Listed>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(super::exit::usage(format!("there is no directory `{}`", dir.display())));
        }
        Err(e) => return Err(anyhow::Error::from(e).context(format!("cannot list `{}`", dir.display()))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for file in files {
        let loaded = load_path(&file, SchemaKind::Config)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        let doc = loaded.document.as_ref();
        let kind = doc.and_then(|d| d.workflow.as_ref()).map_or("-", |w| w.effective_kind().as_str());
        let description = doc
            .and_then(|d| {
                d.description.clone().or_else(|| d.workflow.as_ref().and_then(|w| w.description.clone()))
            })
            .unwrap_or_default();
        let name = workflow_name(doc, &file);
        rows.push(Listed { file, name, kind, description, broken: loaded.has_errors() });
    }
    Ok(rows)
}

/// The listing for people: one line per file, its type and the first line of its description.
pub fn render_listing(rows: &[Listed]) -> String {
    let width = rows.iter().map(|r| r.file.file_name().map_or(0, |n| n.len())).max().unwrap_or(0);
    let mut text = String::new();
    for row in rows {
        let name = row.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let flag = if row.broken { "  (invalid: run `ralph-loop workflow validate`)" } else { "" };
        let first_line = row.description.lines().next().unwrap_or("");
        let line = format!("{name:<width$}  {:<13}  {first_line}{flag}", row.kind);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Lists workflow files with their type and description.
pub fn list(args: &ListArgs, env: &Env) -> anyhow::Result<Exit> {
    let dir = args.dir.clone().unwrap_or_else(|| env.project_dir.join("workflows"));
    let rows = listing(&dir)?;
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({"file": r.file.display().to_string(), "name": r.name, "type": r.kind, "description": r.description, "valid": !r.broken})
                })
                .collect();
            super::out(&format!("{}\n", serde_json::to_string_pretty(&list)?));
        }
        Format::Human if rows.is_empty() => super::out(&format!("no workflows in {}\n", dir.display())),
        Format::Human => super::out(&render_listing(&rows)),
    }
    Ok(Exit::Ok)
}
