//! `ralph-loop init`: a project skeleton that validates and runs. Existing files are kept.

use std::path::PathBuf;

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
}

/// Creates the project.
pub fn run(args: &InitArgs, env: &Env) -> anyhow::Result<Exit> {
    let dir = if args.dir.is_absolute() { args.dir.clone() } else { env.project_dir.join(&args.dir) };
    let name = std::fs::canonicalize(&dir)
        .unwrap_or_else(|_| dir.clone())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
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
    let (mut created, mut kept) = (Vec::new(), Vec::new());
    for (path, text) in &files {
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
