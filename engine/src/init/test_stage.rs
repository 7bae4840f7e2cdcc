//! `init --with-tests`: a test stage the generated workflow gates on — a `tests` command agent
//! running the project's test command (detected from its build files, or a placeholder that
//! fails saying what to edit), placed so nothing is verified, built on or deployed while the
//! tests fail. Works on the template texts; knows nothing of the run.

use std::path::Path;

/// The agent that runs the tests.
pub const AGENT: &str = "tests";

/// The project's test command, and the file it was found from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCommand {
    /// The shell command.
    pub command: String,
    /// The build file that named it (`None`: the placeholder).
    pub found_in: Option<&'static str>,
}

/// What the command is when nothing says how the project is tested: it fails, saying what to
/// edit, so a workflow never passes its test stage without tests.
fn placeholder(workflow: &str) -> String {
    format!(
        "echo 'no test command yet: edit the `{AGENT}` agent in {workflow} (or ralph.yaml) to run your tests' >&2; exit 1"
    )
}

/// The test command of the project in `dir`, from the first build file it has: `Cargo.toml`,
/// `package.json`, `go.mod`, a Python project (`pyproject.toml`, `setup.py`, `setup.cfg`,
/// `pytest.ini`, `tox.ini`), a `Makefile` with a `test` target; else a placeholder that fails
/// and names `workflow` as the file to edit.
pub fn detect(dir: &Path, workflow: &str) -> TestCommand {
    let has = |name: &str| dir.join(name).is_file();
    let found =
        |command: &str, file: &'static str| TestCommand { command: command.to_owned(), found_in: Some(file) };
    if has("Cargo.toml") {
        return found("cargo test", "Cargo.toml");
    }
    if has("package.json") {
        return found("npm test", "package.json");
    }
    if has("go.mod") {
        return found("go test ./...", "go.mod");
    }
    for file in ["pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini"] {
        if has(file) {
            return TestCommand { command: "python3 -m pytest".into(), found_in: Some(file) };
        }
    }
    let makefile = std::fs::read_to_string(dir.join("Makefile")).unwrap_or_default();
    if makefile.lines().any(|l| l.starts_with("test:")) {
        return found("make test", "Makefile");
    }
    TestCommand { command: placeholder(workflow), found_in: None }
}

/// The agent's definition, indented for an `agents:` mapping.
fn agent(tests: &TestCommand) -> String {
    let origin = match tests.found_in {
        Some(file) => format!("found in {file} by `ralph-loop init --with-tests`"),
        None => "a placeholder, as no build file said how the project is tested".to_owned(),
    };
    // Single-quoted YAML: the command is kept as it is (a quote doubled).
    let command = tests.command.replace('\'', "''");
    format!(
        "  {AGENT}:\n    description: Runs the project's tests ({origin}); edit the command to change it.\n    command: '{command}'\n"
    )
}

/// Why a template could not take the test stage (it changed without this module).
#[derive(Debug, thiserror::Error)]
#[error("the `{template}` template has no `{anchor}` to add the test stage at")]
pub struct NoAnchor {
    template: String,
    anchor: String,
}

fn require(text: &str, anchor: &str, template: &str) -> Result<(), NoAnchor> {
    match text.contains(anchor) {
        true => Ok(()),
        false => Err(NoAnchor { template: template.to_owned(), anchor: anchor.trim().to_owned() }),
    }
}

fn insert_before(text: &mut String, anchor: &str, insert: &str, template: &str) -> Result<(), NoAnchor> {
    let at = text
        .find(anchor)
        .ok_or_else(|| NoAnchor { template: template.to_owned(), anchor: anchor.trim().to_owned() })?;
    text.insert_str(at, insert);
    Ok(())
}

fn replace_once(text: &mut String, from: &str, to: &str, template: &str) -> Result<(), NoAnchor> {
    let at = text
        .find(from)
        .ok_or_else(|| NoAnchor { template: template.to_owned(), anchor: from.trim().to_owned() })?;
    text.replace_range(at..at + from.len(), to);
    Ok(())
}

/// The template's workflow with the test stage, and what ralph.yaml must add (agents a
/// workflow of the template does not define itself).
///
/// - state machines (`basic`, `advanced`): a `testing` state between `building` and
///   `verifying`; tests that fail send the work back to `building`;
/// - `dag`: the `test` node's `tester` runs the command, and `build` already waits for it;
/// - `saga`: a first step `run_tests`, so nothing is migrated or deployed unless they pass.
///
/// # Errors
///
/// When the template has changed so the stage has no place (a test of this module keeps
/// every template covered).
pub fn add(template: &str, workflow: &str, tests: &TestCommand) -> Result<(String, String), NoAnchor> {
    let mut text = workflow.to_owned();
    let mut ralph_yaml = String::new();
    match template {
        "basic" | "advanced" => {
            insert_before(
                &mut text,
                "    - id: verifying\n",
                &format!(
                    "    - id: testing\n      description: The project's tests; the work is verified only once they pass.\n      agent: {AGENT}\n"
                ),
                template,
            )?;
            replace_once(
                &mut text,
                "    - from: building\n      to: verifying\n",
                "    - from: building\n      to: testing\n",
                template,
            )?;
            insert_before(
                &mut text,
                "    - from: verifying\n",
                "    - from: testing\n      to: verifying\n      else: building\n      description: Tests pass - verify; tests fail - back to the builder with their output\n",
                template,
            )?;
            replace_once(&mut text, "\nagents:\n", &format!("\nagents:\n{}", agent(tests)), template)?;
        }
        "dag" => {
            // The node is there and `build` depends on it; its agent becomes the command.
            require(&text, "      agent: tester\n", template)?;
            ralph_yaml = format!(
                "\n# The DAG's `test` node runs the project's tests (`init --with-tests`).\nagents:\n{}",
                agent(tests).replacen(&format!("  {AGENT}:"), "  tester:", 1)
            );
        }
        "saga" => {
            insert_before(
                &mut text,
                "    - name: update_database\n",
                &format!(
                    "    - name: run_tests\n      description: The project's tests - nothing is migrated or deployed unless they pass.\n      action: {AGENT}\n"
                ),
                template,
            )?;
            replace_once(&mut text, "\nagents:\n", &format!("\nagents:\n{}", agent(tests)), template)?;
        }
        other => {
            return Err(NoAnchor { template: other.to_owned(), anchor: "a known template".to_owned() });
        }
    }
    Ok((text, ralph_yaml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_command_comes_from_the_first_build_file_else_a_placeholder_that_fails() {
        let dir = tempfile::tempdir().unwrap();
        let none = detect(dir.path(), "workflows/default.yaml");
        assert_eq!(none.found_in, None);
        assert!(
            none.command.contains("edit the `tests` agent in workflows/default.yaml")
                && none.command.ends_with("exit 1")
        );
        std::fs::write(dir.path().join("Makefile"), "build:\n\tcc x.c\ntest:\n\t./run-tests\n").unwrap();
        assert_eq!(detect(dir.path(), "w").command, "make test");
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        assert_eq!(detect(dir.path(), "w").command, "python3 -m pytest");
        std::fs::write(dir.path().join("go.mod"), "").unwrap();
        assert_eq!(detect(dir.path(), "w").command, "go test ./...");
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        assert_eq!(detect(dir.path(), "w").command, "npm test");
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(
            detect(dir.path(), "w"),
            TestCommand { command: "cargo test".into(), found_in: Some("Cargo.toml") }
        );
    }

    #[test]
    fn every_template_takes_the_test_stage() {
        let tests =
            TestCommand { command: "echo 'it''s' && cargo test".into(), found_in: Some("Cargo.toml") };
        for (name, _, text) in crate::init::TEMPLATES {
            let (workflow, ralph_yaml) = add(name, text, &tests).unwrap();
            let all = format!("{workflow}{ralph_yaml}");
            assert!(all.contains("command: 'echo ''it''''s'' && cargo test'"), "{name}: {all}");
        }
    }
}
