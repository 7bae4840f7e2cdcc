//! The plugins bundled in the binary: enabled by name with nothing built (no cargo, no wasm
//! target), listed beside installed ones, compiled once into the user's cache, and their hook
//! calls as spans in `traces`.

use std::path::{Path, PathBuf};

use crate::support::{git_repo, plugin_target_dir, project, ralph, repo};

/// The user cache the tests that do not look at caching share: bundled plugins compiled once
/// per checkout (a debug build takes seconds per component), as the unit tests do.
fn shared_cache() -> PathBuf {
    plugin_target_dir().join("cache")
}

/// `PATH` without a directory that holds `cargo` or `rustup`: a run that tried to build a
/// plugin would fail.
fn path_without_cargo() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let kept: Vec<&str> = path
        .split(':')
        .filter(|d| !Path::new(d).join("cargo").exists() && !Path::new(d).join("rustup").exists())
        .collect();
    kept.join(":")
}

/// A state machine `building` → `deploying` → `done` whose builder writes `settings.py` with
/// `$KEY` in it, with `plugins` as ralph.yaml's plugin section.
fn planted_key_project(plugins: &str) -> tempfile::TempDir {
    let yaml = format!(
        "{plugins}workflow:\n  type: state_machine\n  states:\n    - id: building\n      agent: builder\n    - id: deploying\n      agent: deployer\n    - id: done\n      type: terminal\nagents:\n  builder:\n    command: \"printf 'import os\\\\nAWS_KEY = \\\"%s\\\"\\\\n' \\\"$KEY\\\" > settings.py\"\n  deployer:\n    command: \"touch deployed\"\n"
    );
    let dir = project(&[("ralph.yaml", &yaml)]);
    git_repo(dir.path());
    dir
}

/// The compiled components in a user cache directory.
fn compiled(cache: &Path) -> Vec<PathBuf> {
    let dir = cache.join("ralph-loop").join("plugins");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "cwasm")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn a_bundled_secret_guard_enabled_by_name_vetoes_a_planted_aws_key_with_nothing_built() {
    let dir = planted_key_project("plugins: [secret-guard]\n");
    let cache = tempfile::tempdir().unwrap();
    let key = "AKIAQ3EGRT5MZXW7PL2K";
    let run = |key: &str| {
        ralph(["loop"])
            .current_dir(dir.path())
            .env("KEY", key)
            .env("PATH", path_without_cargo())
            .env("CARGO", "/nonexistent/cargo")
            .env("XDG_CACHE_HOME", cache.path())
    };
    let out = run(key).expect(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("vetoed by plugin `secret-guard`: the changes add 1 possible secret: settings.py:2 AWS access key id (AKIA…)"),
        "the run says which plugin vetoed and why:\n{all}"
    );
    assert!(!all.contains(key), "the key is not repeated:\n{all}");
    // The veto fails the step: the workflow does not move on to deploy, nor reach `done`.
    assert!(!dir.path().join("deployed").exists(), "the vetoed step's state machine moved on:\n{all}");
    assert!(all.contains("Failed"), "{all}");
    assert!(!dir.path().join("target").exists() && !dir.path().join("plugins").exists());

    // Compiled once, into the user's cache; the next run loads it from there.
    let artifacts = compiled(cache.path());
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let modified = std::fs::metadata(&artifacts[0]).unwrap().modified().unwrap();
    crate::support::sh(dir.path(), "git checkout -q -- . && git clean -qfd");
    let out = run("not a secret").expect(0);
    assert!(dir.path().join("deployed").exists(), "{}{}", out.stdout, out.stderr);
    assert_eq!(compiled(cache.path()), artifacts);
    assert_eq!(std::fs::metadata(&artifacts[0]).unwrap().modified().unwrap(), modified);
}

#[test]
fn a_veto_after_a_dag_node_keeps_the_nodes_that_depend_on_it_from_running() {
    let yaml = "plugins:\n  - name: secret-guard\nworkflow:\n  nodes:\n    - id: build\n      agent: builder\n    - id: deploy\n      agent: deployer\n      depends_on: build\nagents:\n  builder:\n    command: \"echo 'AWS_KEY = \\\"AKIAQ3EGRT5MZXW7PL2K\\\"' > settings.py\"\n  deployer:\n    command: \"touch deployed\"\n";
    let dir = project(&[("ralph.yaml", yaml)]);
    git_repo(dir.path());
    let out =
        ralph(["loop", "--json"]).current_dir(dir.path()).env("XDG_CACHE_HOME", shared_cache()).expect(1);
    let events = crate::support::events(&out.stdout);
    let build = events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "build").unwrap();
    assert_eq!(build["outcome"]["class"], "plugin_veto");
    assert!(!events.iter().any(|e| e["event"] == "step_started" && e["step"] == "deploy"), "{}", out.stdout);
    assert!(!dir.path().join("deployed").exists());
}

#[test]
fn plugin_list_shows_the_bundled_plugins_in_an_empty_directory_and_in_the_repository() {
    let empty = tempfile::tempdir().unwrap();
    for dir in [empty.path(), repo().as_path()] {
        let out = ralph(["plugin", "list"]).current_dir(dir).expect(0);
        for name in ["secret-guard", "budget-guard", "notifier", "metrics-exporter"] {
            let line =
                out.stdout.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{}", out.stdout));
            assert!(line.contains("1.0.0") && line.contains("bundled"), "{line}");
        }
        assert!(out.stdout.contains("phase.after_build"), "{}", out.stdout);

        let out = ralph(["plugin", "list", "--json"]).current_dir(dir).expect(0);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let guard = doc["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "secret-guard").unwrap();
        assert_eq!(guard["bundled"], true);
        assert_eq!(guard["version"], "1.0.0");
        assert_eq!(guard["hooks"], serde_json::json!(["phase.after_build"]));
        assert_eq!(guard["enabled"], false, "not enabled until ralph.yaml names it");
    }

    let dir = project(&[("ralph.yaml", "plugins: [secret-guard]\n")]);
    let out = ralph(["plugin", "list", "--json"]).current_dir(dir.path()).expect(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let guard = doc["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "secret-guard").unwrap();
    assert_eq!(
        (&guard["enabled"], &guard["granted"]),
        (&serde_json::json!(true), &serde_json::json!(["veto"]))
    );
}

#[test]
fn a_name_that_is_no_bundled_plugin_is_an_error_with_a_suggestion() {
    let yaml = "plugins: [secret-gaurd]\nworkflow:\n  nodes:\n    - id: build\n      agent: b\nagents:\n  b:\n    command: \"true\"\n";
    let dir = project(&[("ralph.yaml", yaml)]);
    let out = ralph(["workflow", "validate", "ralph.yaml"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.contains("plugin `secret-gaurd` has no `entry` and is not a bundled plugin"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("did you mean `secret-guard`?"), "{}", out.stderr);
}

#[test]
fn an_installed_plugin_missing_from_the_directory_is_the_bundled_one_when_its_version_fits() {
    let dir = project(&[(
        "ralph.yaml",
        "plugins:\n  installed:\n    - name: secret-guard\n      version: ^1.0.0\n",
    )]);
    let out = ralph(["plugin", "list", "--json"]).current_dir(dir.path()).expect(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let guard = doc["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "secret-guard").unwrap();
    assert_eq!((&guard["bundled"], &guard["enabled"]), (&serde_json::json!(true), &serde_json::json!(true)));

    std::fs::write(
        dir.path().join("ralph.yaml"),
        "plugins:\n  installed:\n    - name: secret-guard\n      version: ^2.0.0\n",
    )
    .unwrap();
    let out = ralph(["plugin", "list", "--json"]).current_dir(dir.path()).expect(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["missing"][0]["name"], "secret-guard", "{}", out.stdout);
}

#[test]
fn a_bundled_plugins_hook_calls_are_spans_in_traces_with_an_annotating_plugins_notes() {
    let dir = planted_key_project("plugins:\n  - name: secret-guard\n    config:\n      mode: annotate\n");
    ralph(["loop"])
        .current_dir(dir.path())
        .env("KEY", "AKIAQ3EGRT5MZXW7PL2K")
        .env("XDG_CACHE_HOME", shared_cache())
        .expect(0);

    let out = ralph(["traces"]).current_dir(dir.path()).expect(0);
    let span = out
        .stdout
        .lines()
        .position(|l| l.contains("plugin secret-guard phase.after_build"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[span].contains("annotate"), "{}", out.stdout);
    let parent = lines[..span].iter().rev().find(|l| l.contains("invoke_agent")).unwrap();
    assert!(
        parent.contains("invoke_agent builder"),
        "the call is a child of the builder's span:\n{}",
        out.stdout
    );
    assert!(
        lines[span + 1].contains("note: secret-guard: the last changes add 1 possible secret"),
        "{}",
        out.stdout
    );

    let out = ralph(["traces", "--json"]).current_dir(dir.path()).expect(0);
    let tree: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let builder = tree["children"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "invoke_agent builder")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let call = &builder["children"][0];
    assert_eq!(call["name"], "plugin secret-guard phase.after_build", "{}", out.stdout);
    assert_eq!(call["status"], "ok");
    assert_eq!(call["attributes"]["ralph.plugin.decision"], "annotate");
    assert_eq!(call["attributes"]["ralph.plugin.name"], "secret-guard");
    assert!(call["attributes"]["ralph.plugin.duration_us"].as_u64().unwrap() > 0);
    assert_eq!(call["events"][0]["name"], "annotate");
}
