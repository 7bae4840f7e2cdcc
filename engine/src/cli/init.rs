//! `ralph-loop init`: a project skeleton that validates and runs, or (`--from wiggum.yaml`) the
//! project a PyWiggum configuration converts to. Existing files are kept.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Env, Exit};
use crate::init::{InitOptions, files};

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to create the project in.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The workflow template: basic, advanced, dag or saga.
    #[arg(long, default_value = "basic")]
    pub template: String,
    /// Enable the bundled `secret-guard` plugin and add an example plugin crate to edit
    /// (`plugins/example-guard/`).
    #[arg(long)]
    pub with_plugins: bool,
    /// Add a test stage the workflow gates on, running the project's tests (`cargo test`,
    /// `npm test`, `go test ./...`, pytest or `make test`, from its build files; else a
    /// placeholder that fails until it is edited).
    #[arg(long)]
    pub with_tests: bool,
    /// Include the `observability:` section and the monitoring stack (compose file, Grafana
    /// dashboards) in `monitoring/`.
    #[arg(long)]
    pub with_dashboard: bool,
    /// Convert a PyWiggum configuration (`wiggum.yaml`): its kanban, agent, runner and prompt
    /// settings, routing and escalation become ralph.yaml, a one-builder workflow and
    /// AGENTS.md; what has no equivalent is listed with what to do instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["template", "with_plugins", "with_tests", "with_dashboard"])]
    pub from: Option<PathBuf>,
}

/// Creates the project.
pub fn run(args: &InitArgs, env: &Env) -> anyhow::Result<Exit> {
    let dir = if args.dir.is_absolute() { args.dir.clone() } else { env.project_dir.join(&args.dir) };
    let name = std::fs::canonicalize(&dir)
        .unwrap_or_else(|_| dir.clone())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
    if let Some(from) = &args.from {
        return from_wiggum(from, &dir, &name, env);
    }
    let options = InitOptions {
        name,
        template: args.template.clone(),
        with_plugins: args.with_plugins,
        with_tests: None,
        with_dashboard: args.with_dashboard,
    };
    let workflow_file = crate::init::TEMPLATES
        .iter()
        .find(|(n, ..)| *n == args.template)
        .map(|(_, file, _)| format!("workflows/{file}"))
        .unwrap_or_default();
    let options = InitOptions {
        with_tests: args.with_tests.then(|| crate::init::test_stage::detect(&dir, &workflow_file)),
        ..options
    };
    let files = files(&options).map_err(super::exit::usage)?;
    write(&dir, &files)?;
    let workflow =
        files.iter().find(|(p, _)| p.starts_with("workflows/")).map(|(p, _)| p.as_str()).unwrap_or("");
    if let Some(tests) = &options.with_tests {
        match tests.found_in {
            Some(file) => eprintln!("\ntests: `{}` (from {file}) gates the workflow", tests.command),
            None => eprintln!(
                "\ntests: no build file says how this project is tested: edit the `{}` agent in {workflow}",
                crate::init::test_stage::AGENT
            ),
        }
    }
    eprintln!(
        "\nnext: add tasks to TODO.md, then\n  ralph-loop workflow validate {workflow}\n  ralph-loop loop"
    );
    Ok(Exit::Ok)
}

/// Writes the files that are not there yet, says which it created and which it kept, and
/// returns the kept ones.
fn write(dir: &Path, files: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let (mut created, mut kept) = (Vec::new(), Vec::new());
    for (path, text) in files {
        let target = dir.join(path);
        if target.exists() {
            kept.push(path.clone());
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        }
        created.push(path.clone());
    }
    for path in &created {
        eprintln!("created {path}");
    }
    for path in &kept {
        eprintln!("kept    {path} (it exists)");
    }
    Ok(kept)
}

/// `init --from wiggum.yaml`: converts, writes what is not there yet, and reports, setting by
/// setting, what was carried over, what was not (and what to do instead), and what to merge by
/// hand into the files that were kept.
fn from_wiggum(from: &Path, dir: &Path, name: &str, env: &Env) -> anyhow::Result<Exit> {
    use crate::init::wiggum::{self, Fate};
    // Relative to the project directory, as `loop --tasks` is; shown as typed.
    let path = if from.is_absolute() || env.project_dir == Path::new(".") {
        from.to_path_buf()
    } else {
        env.project_dir.join(from)
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(super::exit::usage(format!(
                "`{}` does not exist: name PyWiggum's configuration file (`init --from wiggum.yaml`)",
                from.display()
            )));
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read `{}`", from.display()))),
    };
    let source = crate::source::SourceFile::new(&path, text);
    let conversion = match wiggum::convert(&source, name) {
        Ok(conversion) => conversion,
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{}", d.render(Some(&source), &env.styles));
            }
            return Err(super::exit::invalid(e));
        }
    };
    let kept = write(dir, &conversion.files)?;
    let from_name = from.display();
    let carried: Vec<_> =
        conversion.notes.iter().filter(|n| !matches!(n.fate, Fate::Dropped { .. })).collect();
    let width = carried.iter().map(|n| n.setting.chars().count()).max().unwrap_or(0);
    if !carried.is_empty() {
        eprintln!("\ncarried over from {from_name}:");
    }
    for note in &carried {
        match &note.fate {
            Fate::Carried { file, key, remark } => {
                let remark = remark.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
                eprintln!("  {:width$}  → {file} {key}{remark}", note.setting);
            }
            Fate::Implied { how } => eprintln!("  {:width$}  = {how}", note.setting),
            Fate::Dropped { .. } => {}
        }
    }
    let dropped: Vec<_> =
        conversion.notes.iter().filter(|n| matches!(n.fate, Fate::Dropped { .. })).collect();
    if !dropped.is_empty() {
        eprintln!("\nnot carried over:");
    }
    for note in &dropped {
        if let Fate::Dropped { why, instead } = &note.fate {
            eprintln!("  {}: {why}\n    instead: {instead}", note.setting);
        }
    }
    for file in &kept {
        let settings: Vec<String> = carried
            .iter()
            .filter_map(|n| match &n.fate {
                Fate::Carried { file: f, key, .. } if f == file => Some(format!("{} → {key}", n.setting)),
                _ => None,
            })
            .collect();
        if !settings.is_empty() {
            eprintln!(
                "\nmerge by hand: {file} was kept, so these are not in it (`ralph-loop init --from {from_name}` in an empty directory shows the whole file):\n  {}",
                settings.join("\n  ")
            );
        } else if file == wiggum::WORKFLOW {
            eprintln!(
                "\nmerge by hand: {file} was kept; ralph.yaml's `loop.workflow` names it, so it must run one `{}` per task",
                wiggum::AGENT
            );
        }
    }
    let tasks = conversion.notes.iter().any(|n| n.setting == "project.kanban");
    let kanban = &conversion.tasks;
    if !dir.join(kanban).exists() {
        let why = if tasks { "" } else { " (PyWiggum's default)" };
        eprintln!(
            "\nnote: the task file `{kanban}`{why} is not in {} yet: put the kanban there",
            dir.display()
        );
    }
    eprintln!("\nnext:\n  ralph-loop workflow validate {}\n  ralph-loop loop", wiggum::WORKFLOW);
    Ok(Exit::Ok)
}
