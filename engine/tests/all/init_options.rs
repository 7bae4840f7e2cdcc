//! `init --with-plugins` (the bundled secret guard enabled, an example plugin to edit) and
//! `init --with-tests` (a test stage every template's workflow gates on).

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{cargo, plugin_target_dir, ralph};

fn init(dir: &Path, args: &[&str]) -> crate::support::Output {
    ralph(["init"]).args_from(args).current_dir(dir).expect(0)
}

/// Every file under `dir`, by relative path, with its contents.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

fn validate_strictly(dir: &Path) {
    let workflow = std::fs::read_dir(dir.join("workflows")).unwrap().next().unwrap().unwrap().path();
    ralph(["workflow", "validate", "--strict", "--deny-warnings"]).arg(&workflow).current_dir(dir).expect(0);
}

/// A fake Claude Code on `PATH` (it answers each step with its first outcome).
fn with_fake_claude(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("claude"), crate::seeds::FAKE_CLAUDE).unwrap();
    crate::support::executable(&bin.join("claude"));
    crate::support::path_with(&bin)
}

#[test]
fn init_with_plugins_enables_the_secret_guard_and_writes_the_example_plugin_that_plugin_new_makes() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &["--with-plugins"]);
    validate_strictly(dir.path());
    let yaml = std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap();
    assert!(yaml.contains("plugins:\n  # Bundled") && yaml.contains("\n  - secret-guard\n"), "{yaml}");
    let out = ralph(["plugin", "list", "--json"]).current_dir(dir.path()).expect(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let guard = doc["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "secret-guard").unwrap();
    assert_eq!((&guard["enabled"], &guard["bundled"]), (&serde_json::json!(true), &serde_json::json!(true)));

    // The example is exactly what `plugin new` makes.
    let example = dir.path().join("plugins/example-guard");
    let fresh = tempfile::tempdir().unwrap();
    ralph(["plugin", "new", "example-guard", "--dir"]).arg(fresh.path().join("x")).expect(0);
    assert_eq!(tree(&example), tree(&fresh.path().join("x")));

    // And it builds with the command plugins/README.md gives.
    let readme = std::fs::read_to_string(dir.path().join("plugins/README.md")).unwrap();
    assert!(readme.contains("cd plugins/example-guard && cargo build --target wasm32-wasip2 --release"));
    crate::support::plugin_wasm("hostile"); // the wasm target is there, the shared target dir warm
    let out = std::process::Command::new(cargo())
        .current_dir(&example)
        .args(["build", "--quiet", "--target", "wasm32-wasip2", "--release"])
        .env("CARGO_TARGET_DIR", plugin_target_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "the example does not build:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(plugin_target_dir().join("wasm32-wasip2/release/example_guard.wasm").is_file());
}

#[test]
fn init_with_tests_gives_every_template_a_test_stage_running_the_detected_command() {
    for template in ["basic", "advanced", "dag", "saga"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        let out =
            init(dir.path(), &["--template", template, "--with-tests", "--with-plugins", "--with-dashboard"]);
        assert!(
            out.stderr.contains("tests: `cargo test` (from Cargo.toml) gates the workflow"),
            "{}",
            out.stderr
        );
        validate_strictly(dir.path());
        let workflow =
            std::fs::read_dir(dir.path().join("workflows")).unwrap().next().unwrap().unwrap().path();
        let all = std::fs::read_to_string(&workflow).unwrap()
            + &std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap();
        assert!(all.contains("command: 'cargo test'"), "{template}: {all}");
    }
    // Nothing to detect: a placeholder that says what to edit.
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path(), &["--with-tests"]);
    assert!(
        out.stderr.contains(
            "no build file says how this project is tested: edit the `tests` agent in workflows/default.yaml"
        ),
        "{}",
        out.stderr
    );
    validate_strictly(dir.path());
}

#[test]
fn a_failing_test_stage_keeps_each_workflow_from_getting_past_it() {
    // The saga: nothing is migrated or deployed, and the placeholder says what to edit.
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &["--template", "saga", "--with-tests"]);
    let out = ralph(["loop"]).current_dir(dir.path()).expect(1);
    assert!(
        out.stderr.contains("no test command yet: edit the `tests` agent in workflows/saga.yaml"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("saga.log").exists(), "a step after the tests ran");

    // The state machine: the work never reaches `verifying` (nor `complete`) while the tests
    // fail, and does once they pass.
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &["--template", "basic", "--with-tests"]);
    let yaml = std::fs::read_to_string(dir.path().join("ralph.yaml")).unwrap();
    std::fs::write(dir.path().join("ralph.yaml"), yaml.replace("max_iterations: 50", "max_iterations: 6"))
        .unwrap();
    std::fs::write(dir.path().join("TODO.md"), "- [ ] one task\n").unwrap();
    let path = with_fake_claude(dir.path());
    let out = ralph(["loop", "--json"]).current_dir(dir.path()).env("PATH", &path).output();
    assert_ne!(out.code, 0, "{}", out.stdout);
    let events = crate::support::events(&out.stdout);
    let entered = |state: &str| events.iter().any(|e| e["event"] == "step_started" && e["step"] == state);
    assert!(entered("testing") && !entered("verifying") && !entered("complete"), "{}", out.stdout);
    assert!(
        events.iter().any(|e| e["event"] == "transition" && e["from"] == "testing" && e["to"] == "building")
    );

    let workflow = dir.path().join("workflows/default.yaml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    // The placeholder's line becomes a command that passes.
    let passing: Vec<&str> = text
        .lines()
        .map(|l| if l.contains("no test command yet") { "    command: 'true'" } else { l })
        .collect();
    std::fs::write(&workflow, passing.join("\n") + "\n").unwrap();
    std::fs::write(dir.path().join("TODO.md"), "- [ ] one task\n").unwrap();
    let out = ralph(["loop", "--json"]).current_dir(dir.path()).env("PATH", &path).expect(0);
    let events = crate::support::events(&out.stdout);
    assert!(
        events.iter().any(|e| e["event"] == "step_started" && e["step"] == "verifying"),
        "{}",
        out.stdout
    );

    // The DAG: `build` waits for the `test` node, which runs ralph.yaml's `tester` command.
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &["--template", "dag", "--with-tests"]);
    std::fs::write(dir.path().join("TODO.md"), "- [ ] one task\n").unwrap();
    let path = with_fake_claude(dir.path());
    let out = ralph(["loop", "--json"]).current_dir(dir.path()).env("PATH", &path).output();
    assert_ne!(out.code, 0, "{}", out.stdout);
    let events = crate::support::events(&out.stdout);
    let test = events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "test").unwrap();
    assert!(test["outcome"]["error"].as_str().unwrap().contains("no test command yet"), "{test}");
    assert!(!events.iter().any(|e| e["event"] == "step_started" && e["step"] == "build"), "{}", out.stdout);
}
