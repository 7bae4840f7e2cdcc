//! Plugins written in Python and JavaScript: made by `plugin new`, built by `plugin build`
//! (componentize-py, jco / componentize-js), vetoing steps in real runs; `.py` entries built
//! when a run starts and cached; the spec's own Python example; the hostile-plugin attacks
//! from Python. The toolchains come from `scripts/test.sh` (pip and `npm ci` in
//! `engine/tests/plugin-langs/`).
//!
//! A toolchain build takes 20-60 s and compiling its component a while more, so each plugin
//! is built once per test process into `target/test-plugins/langs/` — where `plugin build`'s
//! content-hash cache keeps it across test runs — and compiled once there; each test copies
//! the compiled artifact into its project's cache.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::{copy_tree, plugin_target_dir, project, ralph, repo};

/// `PATH` with the JavaScript toolchain of `engine/tests/plugin-langs/` first.
fn toolchain_path() -> String {
    let bin = repo().join("engine/tests/plugin-langs/node_modules/.bin");
    assert!(
        bin.join("jco").is_file(),
        "the JavaScript toolchain is not installed: run `npm ci` in engine/tests/plugin-langs (scripts/test.sh does)"
    );
    crate::support::path_with(&bin)
}

fn langs_dir() -> PathBuf {
    plugin_target_dir().join("langs")
}

/// A plugin built once per test process: `dir` holds its sources (kept across test runs so
/// that `plugin build`'s cache is too), the component is `dist/<name>.wasm`, and the compiled
/// artifacts are in `warm/.ralph/cache/plugins/`.
struct Built {
    wasm: PathBuf,
    warm: PathBuf,
}

/// Builds the plugin whose sources `write` puts into its directory, then compiles it once.
fn build_once(name: &str, write: impl FnOnce(&Path)) -> Built {
    let dir = langs_dir().join(name);
    // Only the sources are replaced: `build/` (the build cache) stays.
    for stale in ["plugin.py", "plugin.js", "package.json", "pyproject.toml", "README.md"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir);
    let out = ralph(["plugin", "build", "--json"]).arg(&dir).env("PATH", toolchain_path()).output();
    assert_eq!(out.code, 0, "`plugin build {}` failed:\n{}{}", dir.display(), out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let wasm = dir.join(report["output"].as_str().unwrap());
    let wasm = if wasm.is_file() { wasm } else { PathBuf::from(report["output"].as_str().unwrap()) };
    assert!(wasm.is_file(), "{report}");
    // Compiled once (`plugin info` loads it) in a project of its own, whose cache every test
    // project copies.
    let warm = langs_dir().join(format!("{name}-warm"));
    std::fs::create_dir_all(&warm).unwrap();
    let info = ralph(["plugin", "info"]).arg(&wasm).current_dir(&warm).output();
    assert_eq!(info.code, 0, "{}{}", info.stdout, info.stderr);
    Built { wasm, warm }
}

/// Made by `plugin new --lang <lang>` (in a temporary directory, then copied to where its
/// build is cached).
fn scaffolded(lang: &str) -> &'static Built {
    static PY: OnceLock<Built> = OnceLock::new();
    static JS: OnceLock<Built> = OnceLock::new();
    let cell = if lang == "python" { &PY } else { &JS };
    cell.get_or_init(|| {
        build_once(&format!("guard-{lang}"), |dir| {
            let tmp = tempfile::tempdir().unwrap();
            let made = tmp.path().join("guard");
            let out = ralph(["plugin", "new", "guard", "--lang", lang, "--dir"]).arg(&made).output();
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            copy_tree(&made, dir);
        })
    })
}

fn hostile_py() -> &'static Built {
    static CELL: OnceLock<Built> = OnceLock::new();
    CELL.get_or_init(|| {
        build_once("hostile-py", |dir| {
            std::fs::copy(repo().join("engine/tests/plugins/hostile-py/plugin.py"), dir.join("plugin.py"))
                .unwrap();
        })
    })
}

/// A DAG `build` → `test` of command agents with one plugin `guard` at `phase.before_build`
/// (its component copied to `plugins/guard.wasm`, compiled already), configured by `extra`.
fn run_project(built: &Built, extra: &str) -> tempfile::TempDir {
    let yaml = format!(
        "workflow:\n  nodes:\n    - id: build\n      agent: builder\n    - id: test\n      agent: ok\n      depends_on: build\nagents:\n  builder:\n    command: \"echo built > out.txt\"\n  ok:\n    command: \"true\"\nplugins:\n  - name: guard\n    entry: plugins/guard.wasm\n    hooks: [phase.before_build]\n{extra}"
    );
    let dir = project(&[("w.yaml", &yaml)]);
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(&built.wasm, dir.path().join("plugins/guard.wasm")).unwrap();
    copy_tree(&built.warm.join(".ralph/cache/plugins"), &dir.path().join(".ralph/cache/plugins"));
    dir
}

fn plugin_events<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == "plugin" && e["kind"] == kind).collect()
}

fn step_outcome<'a>(events: &'a [serde_json::Value], step: &str) -> &'a serde_json::Value {
    &events.iter().find(|e| e["event"] == "step_finished" && e["step"] == step).unwrap()["outcome"]
}

fn assert_scaffold_vetoes(lang: &str) {
    let built = scaffolded(lang);
    let dir = run_project(built, "    capabilities: [veto]\n    config:\n      block: \"true\"\n");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = crate::support::events(&out.stdout);
    let build = step_outcome(&events, "build");
    assert_eq!(build["class"], "plugin_veto", "{lang}: {}", out.stdout);
    assert_eq!(build["error"], "vetoed by plugin `guard`: builds are blocked by guard");
    assert!(!dir.path().join("out.txt").exists(), "{lang}: a vetoed step does not run");

    // Unblocked, it annotates and the step runs.
    let dir = run_project(built, "    capabilities: [veto]\n    config:\n      block: \"false\"\n");
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let events = crate::support::events(&out.stdout);
    let notes = plugin_events(&events, "annotate");
    assert_eq!(notes.len(), 1, "{lang}: {}", out.stdout);
    assert_eq!(notes[0]["message"], "Checked by guard (iteration 1).");
    assert!(dir.path().join("out.txt").exists());
}

#[test]
fn a_python_plugin_made_by_plugin_new_and_built_by_plugin_build_vetoes_a_step() {
    assert_scaffold_vetoes("python");
}

#[test]
fn a_javascript_plugin_made_by_plugin_new_and_built_by_plugin_build_vetoes_a_step() {
    assert_scaffold_vetoes("javascript");
}

#[test]
fn a_rebuild_of_an_unchanged_plugin_is_taken_from_the_cache() {
    let built = scaffolded("python");
    let dir = built.wasm.parent().unwrap().parent().unwrap();
    let out = ralph(["plugin", "build", "--json"]).arg(dir).env("PATH", toolchain_path()).expect(0);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["cached"], true, "{report}");
    assert_eq!(report["toolchain"], "componentize-py 0.25.1");
}

#[test]
fn hostile_python_plugins_are_stopped_by_their_limits() {
    let built = hostile_py();
    // (mode, limits, the error kind)
    let cases = [
        ("spin", "    timeout: 300ms\n    fuel: 1000000000000\n", "timeout"),
        ("spin", "    fuel: 50000000\n", "out_of_fuel"),
        ("bomb", "    memory: 48MiB\n", "out_of_memory"),
    ];
    for (mode, limits, kind) in cases {
        let dir = run_project(built, &format!("{limits}    config:\n      mode: {mode}\n"));
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
        let events = crate::support::events(&out.stdout);
        let errors = plugin_events(&events, "error");
        assert_eq!(errors.len(), 1, "{mode}: {}", out.stdout);
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.ends_with(&format!("({kind})")), "{mode}: {message}");
        assert_eq!(step_outcome(&events, "build")["success"], true, "{mode}: fail_open carries on");
    }
}

#[test]
fn a_python_plugin_reads_no_file_and_no_environment() {
    let dir = run_project(hostile_py(), "    config:\n      mode: snoop\n");
    std::fs::write(dir.path().join("secret.txt"), "hunter2\n").unwrap();
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("RALPH_TEST_SECRET", "hunter2")
        .expect(0);
    let events = crate::support::events(&out.stdout);
    let notes = plugin_events(&events, "annotate");
    assert_eq!(notes.len(), 1, "{}", out.stdout);
    assert_eq!(notes[0]["message"], "snooped: []");
    let logs: Vec<&str> =
        plugin_events(&events, "log").iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(logs.iter().any(|l| l.starts_with("[stdout] snoop: /etc/passwd:")), "{logs:?}");
    assert!(logs.iter().any(|l| l.starts_with("[stdout] snoop: secret.txt:")), "{logs:?}");
}

/// The spec's "Plugin Development" example, as written (its `send_notification` and
/// `escalate` are the guest library's).
const SPEC_PLUGIN: &str = r#"# plugins/my_plugin.py
from ralph.plugins import Plugin, hook
class MyPlugin(Plugin):
    name = "my-plugin"
    version = "1.0.0"
    def __init__(self, config):
        self.config = config
    @hook("workflow.on_start")
    def on_start(self, context):
        """Called when loop starts"""
        print(f"Starting workflow: {context.workflow_name}")
    @hook("phase.after_build")
    def after_build(self, context):
        """Called after build phase"""
        if context.success:
            self.send_notification("Build successful!")
    @hook("workflow.on_failure")
    def on_failure(self, context):
        """Called on workflow failure"""
        self.escalate(context.error)
"#;

#[test]
fn the_spec_python_plugin_is_built_when_the_run_starts_and_runs_as_written() {
    // Its entry in the spec's dotted form; `send_notification` posts to `webhook`.
    let yaml = "workflow:\n  name: spec-example\n  nodes:\n    - id: build\n      agent: ok\nagents:\n  ok:\n    command: \"true\"\nplugins:\n  - name: my-plugin\n    entry: plugins.my_plugin.MyPlugin\n    capabilities: [notify]\n    config:\n      webhook: http://127.0.0.1:9/hook\n";
    let dir = project(&[("w.yaml", yaml), ("plugins/my_plugin.py", SPEC_PLUGIN)]);
    let validate = ralph(["workflow", "validate", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", toolchain_path())
        .expect(0);
    assert!(
        validate.stderr.contains("note: plugin `my-plugin`: `plugins.my_plugin.MyPlugin` is a Python source, built with componentize-py 0.25.1 when a run starts"),
        "{}",
        validate.stderr
    );
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", toolchain_path())
        .expect(0);
    // The wait before the run's first line is said, not silent.
    assert!(
        out.stderr.contains("plugin `my-plugin`: building ")
            && out.stderr.contains("with componentize-py 0.25.1"),
        "{}",
        out.stderr
    );
    let events = crate::support::events(&out.stdout);
    let logs: Vec<&str> =
        plugin_events(&events, "log").iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(logs.contains(&"[stdout] Starting workflow: spec-example"), "{}", out.stdout);
    let notify = plugin_events(&events, "notify");
    assert_eq!(notify.len(), 1, "{}", out.stdout);
    assert_eq!(notify[0]["message"], "POST http://127.0.0.1:9/hook");

    // The second run builds nothing: the component is the cached one.
    let builds = dir.path().join(".ralph/cache/plugins/builds");
    let listing = || {
        let mut names: Vec<(String, std::time::SystemTime)> = std::fs::read_dir(&builds)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        names.sort();
        names
    };
    let before = listing();
    assert_eq!(before.len(), 1, "{before:?}");
    let started = std::time::Instant::now();
    let again = ralph(["loop", "--workflow", "w.yaml", "--json"])
        .current_dir(dir.path())
        .env("PATH", toolchain_path())
        .expect(0);
    assert_eq!(listing(), before, "nothing was rebuilt");
    assert!(!again.stderr.contains("building") && !again.stderr.contains("compiling"), "{}", again.stderr);
    assert!(started.elapsed().as_secs() < 15, "a cached plugin starts at once: {:?}", started.elapsed());
}

#[test]
fn a_python_entry_that_does_not_build_stops_the_run_with_the_build_error() {
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: ok\nagents:\n  ok:\n    command: \"touch ran\"\nplugins:\n  - name: broken\n    entry: plugins/broken.py\n";
    let plugin = "from ralph.plugins import Plugin, hook\n\nclass Broken(Plugin):\n    @hook(\"phase.before_build\")\n    def before(self, context)\n        return None\n";
    let dir = project(&[("w.yaml", yaml), ("plugins/broken.py", plugin)]);
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", toolchain_path())
        .output();
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("plugin `broken` could not be built: componentize-py 0.25.1 could not build"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("SyntaxError"), "the build's own error: {}", out.stderr);
    assert!(!dir.path().join("ran").exists(), "the run did not start");
}

#[test]
fn a_missing_toolchain_is_reported_with_the_command_that_installs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let made = tmp.path().join("g");
    ralph(["plugin", "new", "g", "--lang", "python", "--dir"]).arg(&made).expect(0);
    let out = ralph(["plugin", "build"]).arg(&made).env("PATH", "/usr/bin:/bin").output();
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("needs componentize-py, which is not installed (or not on `PATH`): install it with `python3 -m pip install componentize-py==0.25.1`"),
        "{}",
        out.stderr
    );
    let made = tmp.path().join("j");
    ralph(["plugin", "new", "j", "--lang", "javascript", "--dir"]).arg(&made).expect(0);
    let out = ralph(["plugin", "build"]).arg(&made).env("PATH", "/usr/bin:/bin").output();
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("npm install -g @bytecodealliance/jco@1.34.0 @bytecodealliance/componentize-js@0.22.0"),
        "{}",
        out.stderr
    );
}
