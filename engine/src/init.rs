//! Project templates for `ralph-loop init`: the files of a new project that validates and runs.
//!
//! The workflows and prompts are the ones this repository ships (`workflows/`, `prompts/`),
//! compiled in, so a project made by any build is the same as what that build was tested with.

pub mod monitoring;
pub mod test_stage;
pub mod wiggum;

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
    /// Enable the bundled secret guard and add an example plugin crate to edit
    /// (`plugins/example-guard/`, what `plugin new example-guard` makes).
    pub with_plugins: bool,
    /// Add a test stage the workflow gates on, running this command (`init --with-tests`).
    pub with_tests: Option<test_stage::TestCommand>,
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

/// The example plugin crate `init --with-plugins` writes under `plugins/`.
pub const EXAMPLE_PLUGIN: &str = "example-guard";

const PLUGINS_README: &str = "# Plugins

WebAssembly plugins are called at lifecycle hooks (`workflow.on_start`, `phase.after_build`, …)
and listed under `plugins:` in `ralph.yaml`.

## Bundled with ralph-loop

`secret-guard`, `budget-guard`, `notifier` and `metrics-exporter` are built into `ralph-loop`:
name one under `plugins:` and it runs, with no build (`ralph-loop plugin list` shows them).
`ralph.yaml` enables `secret-guard`, which fails a build step whose changes add credentials.

## Your own: `example-guard/`

A Rust plugin crate to edit, as `ralph-loop plugin new example-guard` makes it (the SDK is
vendored in it). Its `src/lib.rs` vetoes build steps when its `block` setting is `true`, and
otherwise annotates them. Build it (needs `rustup target add wasm32-wasip2`):

```sh
cd plugins/example-guard && cargo build --target wasm32-wasip2 --release
```

then enable it in `ralph.yaml` (the lines are there, commented out):

```yaml
plugins:
  - secret-guard
  - name: example-guard
    entry: plugins/example-guard/target/wasm32-wasip2/release/example_guard.wasm
    capabilities: [veto]
    config:
      block: \"false\"
```

`ralph-loop plugin call plugins/example-guard/target/wasm32-wasip2/release/example_guard.wasm
phase.before_build --config block=true` tries it without a run. For a plugin in another
language, see `ralph-loop plugin new --help`.
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
  # Bundled with ralph-loop (no build): fails a build step whose changes add credentials.
  - secret-guard
  # The example plugin in plugins/example-guard/, once built (see plugins/README.md):
  # - name: example-guard
  #   entry: plugins/example-guard/target/wasm32-wasip2/release/example_guard.wasm
  #   capabilities: [veto]
  #   config:
  #     block: \"false\"
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
    let path = format!("workflows/{workflow}");
    let (text, agents) = match &options.with_tests {
        Some(tests) => test_stage::add(&options.template, text, tests).map_err(|e| e.to_string())?,
        None => ((*text).to_owned(), String::new()),
    };
    let mut files = vec![
        ("ralph.yaml".to_owned(), ralph_yaml(options, workflow) + &agents),
        (path, text),
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
        let example = crate::plugin::scaffold::files(EXAMPLE_PLUGIN);
        files.extend(
            example.into_iter().map(|(p, t)| (format!("plugins/{EXAMPLE_PLUGIN}/{}", p.display()), t)),
        );
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
