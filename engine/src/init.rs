//! Project templates for `ralph-loop init`: the files of a new project that validates and runs.
//!
//! The workflows and prompts are the ones this repository ships (`workflows/`, `prompts/`),
//! compiled in, so a project made by any build is the same as what that build was tested with.

pub mod monitoring;

/// The templates `init --template` accepts, with the workflow each starts from.
pub const TEMPLATES: &[(&str, &str, &str)] = &[
    ("basic", "default.yaml", include_str!("../../workflows/default.yaml")),
    ("advanced", "advanced.yaml", include_str!("../../workflows/advanced.yaml")),
    ("dag", "dag.yaml", include_str!("../../workflows/dag.yaml")),
    ("saga", "saga.yaml", include_str!("../../workflows/saga.yaml")),
];

/// What to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The project's name (written into `ralph.yaml`).
    pub name: String,
    /// One of [`TEMPLATES`].
    pub template: String,
    /// Add a `plugins/` folder and the `plugins:` section.
    pub with_plugins: bool,
    /// Add the `observability:` section and the monitoring stack in `monitoring/`.
    pub with_dashboard: bool,
}

const TODO: &str = "# TODO

Tasks for the loop, one checkbox each, in the order they should be done. The loop takes the
first open task, runs the workflow for it, and checks it off (or marks it failed) here.

- [ ] Write a README that says what the project is for
- [ ] Add the first test
";

const SPEC: &str = "# Specification

What the project must do. The agents read this file; keep it short and precise.

## Goals

## Non-goals

## Interfaces
";

const PROMPT_LINTER: &str = "# Linter

You check the project's code style and static correctness. Run the project's linters and
formatters in check mode (find them in the build files: Cargo.toml, pyproject.toml,
package.json, …), fix what they report when the fix is mechanical, and report `lint_clean` or
`lint_failed` with the remaining findings in your summary.
";

const PROMPT_TESTER: &str = "# Tester

You run the project's tests. Find the test command in the build files, run it, and report
`tests_passed` or `tests_failed`, with the failing tests and their first error lines in your
summary. Do not change the code under test.
";

const DAG_AGENTS: &str = "
# The DAG's nodes are AI agents by default (PROMPT-LINTER.md, PROMPT-TESTER.md and the bundled
# builder, verifier and security prompts). Any of them can be a plain command instead:
#
# agents:
#   linter:
#     command: cargo clippy -- -D warnings
#   tester:
#     command: cargo test
";

/// The saga template's steps call these; each records what it did in `saga.log`, so the
/// template runs as made, and says what to replace it with.
const SAGA_SCRIPTS: &[(&str, &str)] = &[
    (
        "scripts/migrate.sh",
        "#!/bin/sh\n# The schema migration of the saga's first step. Replace the body with your tool, e.g.\n# `sqlx migrate run` / `sqlx migrate revert`, `alembic upgrade head` / `alembic downgrade -1`.\nset -eu\necho \"schema $1\" >> saga.log\n",
    ),
    (
        "scripts/migrate-data.sh",
        "#!/bin/sh\n# The data migration of the saga's second step (`apply` or `revert`). Replace the body.\nset -eu\necho \"data $1\" >> saga.log\n",
    ),
    (
        "scripts/deploy.sh",
        "#!/bin/sh\n# The deployment of the saga's last step (`--env NAME [--rollback]`). Replace the body.\nset -eu\necho \"deploy $*\" >> saga.log\n",
    ),
];

const GITIGNORE: &str = "# ralph-loop keeps its runs here\n.ralph/\n";

const PLUGINS_README: &str = "# Plugins

WebAssembly plugins called at lifecycle hooks (`workflow.on_start`, `phase.before_verify`, …)
go in this folder and are listed under `plugins:` in `ralph.yaml`.
";

fn ralph_yaml(options: &InitOptions, workflow: &str) -> String {
    let name = options.name.replace('"', "'");
    let mut text = format!(
        "# yaml-language-server: $schema=schemas/config.schema.json
#
# Project settings for ralph-loop. Run the loop with:
#
#   ralph-loop loop
#
version: 1

project:
  name: \"{name}\"

loop:
  # The workflow `ralph-loop loop` runs (`--workflow FILE` runs another).
  workflow: workflows/{workflow}
  # The most agent invocations of one `loop` run, over all tasks.
  max_iterations: 50
  # Where tasks come from (TODO.md checkboxes, tasks.json or kanban.json).
  tasks: TODO.md
  # With `--commit` (or `auto_commit: true`), each finished task is committed with this message.
  commit_message: \"{{task_id}}: {{task_title}}\"
  # The agent program: claude | codex | opencode | gemini | openai. Unset, the first agent
  # CLI installed on this machine is used.
  # backend: claude
"
    );
    if options.template == "dag" {
        text.push_str(DAG_AGENTS);
    }
    if options.with_plugins {
        text.push_str(
            "
plugins:
  directory: ./plugins
  auto_discover: true
",
        );
    }
    if options.with_dashboard {
        text.push_str(
            "
observability:
  provider: opentelemetry
  traces: true
  metrics: true
  exporters:
    otlp:
      endpoint: http://localhost:4317
  # Where Grafana is, for `ralph-loop dashboard` (its dashboards are in monitoring/).
  dashboard:
    url: http://localhost:3000
",
        );
    }
    text
}

/// The files of a new project, as (relative path, contents).
pub fn files(options: &InitOptions) -> Result<Vec<(String, String)>, String> {
    let Some((_, workflow, text)) = TEMPLATES.iter().find(|(name, ..)| *name == options.template) else {
        let names: Vec<&str> = TEMPLATES.iter().map(|(n, ..)| *n).collect();
        return Err(format!("unknown template `{}`; choose one of {}", options.template, names.join(", ")));
    };
    let mut files = vec![
        ("ralph.yaml".to_owned(), ralph_yaml(options, workflow)),
        (format!("workflows/{workflow}"), (*text).to_owned()),
        ("TODO.md".to_owned(), TODO.to_owned()),
        ("SPEC.md".to_owned(), SPEC.to_owned()),
        (".gitignore".to_owned(), GITIGNORE.to_owned()),
        ("schemas/workflow.schema.json".to_owned(), crate::cli::schema_text(false)),
        ("schemas/config.schema.json".to_owned(), crate::cli::schema_text(true)),
    ];
    for (name, text) in crate::prompt::BUNDLED {
        files.push(((*name).to_owned(), (*text).to_owned()));
    }
    if options.template == "saga" {
        files.extend(SAGA_SCRIPTS.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())));
    }
    if options.template == "dag" {
        files.push(("PROMPT-LINTER.md".to_owned(), PROMPT_LINTER.to_owned()));
        files.push(("PROMPT-TESTER.md".to_owned(), PROMPT_TESTER.to_owned()));
    }
    if options.with_plugins {
        files.push(("plugins/README.md".to_owned(), PLUGINS_README.to_owned()));
    }
    if options.with_dashboard {
        // The whole monitoring stack, as `ralph-loop dashboard --write monitoring` writes it.
        let stack = monitoring::FILES
            .iter()
            .map(|(p, t)| (format!("{}/{p}", monitoring::PROJECT_DIR), (*t).to_owned()));
        files.extend(stack);
    }
    Ok(files)
}
