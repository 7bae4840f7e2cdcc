//! A small fluent helper around the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("engine/ has a parent").to_path_buf()
}

/// Whether expected-output files should be rewritten instead of compared (`RALPH_BLESS=1`).
pub fn bless() -> bool {
    std::env::var_os("RALPH_BLESS").is_some_and(|v| v == "1")
}

/// One invocation of `ralph-loop`.
pub struct Run {
    command: Command,
}

/// What an invocation did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Starts building an invocation with these arguments, colors off.
pub fn ralph<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_ralph-loop"));
    command.arg("--color").arg("never").args(args);
    command.env_remove("RALPH_CONFIG").env_remove("RALPH_PROJECT_DIR").env_remove("RALPH_WORKFLOW");
    Run { command }
}

impl Run {
    /// Runs in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Adds one more argument.
    pub fn args_from(mut self, args: &[&str]) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Starts it in the background, its output discarded.
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the ralph-loop binary runs")
    }

    /// Starts it with its stderr piped (to read what it says as it runs), stdout discarded.
    pub fn spawn_reading_stderr(mut self) -> std::process::Child {
        self.command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the ralph-loop binary runs")
    }

    /// Runs and captures everything.
    pub fn output(mut self) -> Output {
        let out = self.command.output().expect("the ralph-loop binary runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code.
    pub fn expect(self, code: i32) -> Output {
        let out = self.output();
        assert_eq!(out.code, code, "unexpected exit code\nstdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
        out
    }
}

/// Compares `actual` with the file at `expected`, or rewrites it when blessing.
pub fn assert_matches_file(actual: &str, expected: &Path) {
    if bless() {
        std::fs::write(expected, actual).expect("write expected output");
        return;
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|_| panic!("missing {}; run with RALPH_BLESS=1 to create it", expected.display()));
    if want != actual {
        panic!(
            "output differs from {}\n--- expected\n{want}\n--- actual\n{actual}\n(run with RALPH_BLESS=1 to accept)",
            expected.display()
        );
    }
}

/// A temporary directory holding the given files.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write file");
    }
    dir
}

/// The `.yaml` files of a repository directory, sorted.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = repo().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The JSON lines of `loop --json`.
pub fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// Makes a test's fake program executable.
pub fn executable(path: &Path) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// `PATH` with `bin` (where a test put its fake agent programs) first.
pub fn path_with(bin: &Path) -> String {
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// Runs a shell script in `dir`, asserts it succeeded, and returns its stdout.
pub fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes `dir` a git repository with one commit of everything in it, the run store ignored.
pub fn git_repo(dir: &Path) {
    sh(
        dir,
        "git init -q . && git config user.email t@t && git config user.name t && echo .ralph/ > .gitignore && git add -A && git commit -qm init",
    );
}

/// Where the tests build WebAssembly plugins: a target directory of its own, so these builds
/// never wait on (or fight) the lock of the cargo that runs the tests.
pub fn plugin_target_dir() -> PathBuf {
    repo().join("target").join("test-plugins")
}

/// The cargo that runs the tests (or the one on `PATH`).
pub fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Adds the `wasm32-wasip2` target when rustup does not have it yet.
fn wasm_target() {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let has = installed.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"));
    if !has {
        let status = Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status();
        assert!(status.is_ok_and(|s| s.success()), "`rustup target add wasm32-wasip2` failed");
    }
}

/// The plugins the tests run — the test plugins under `engine/tests/plugins/` and the example
/// plugins of `plugins/` — built once per test process, all in one cargo invocation.
const TEST_PLUGINS: &[&str] =
    &["hostile", "wrong-version", "secret-guard", "budget-guard", "notifier", "metrics-exporter"];

/// The component of a plugin package, built for `wasm32-wasip2` with the `plugin`
/// profile on first use.
pub fn plugin_wasm(package: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    assert!(TEST_PLUGINS.contains(&package), "`{package}` is not one of the test plugins");
    let built = BUILT.get_or_init(|| {
        wasm_target();
        let mut command = Command::new(cargo());
        command
            .current_dir(repo())
            .args(["build", "--quiet", "--profile", "plugin", "--target", "wasm32-wasip2"])
            .env("CARGO_TARGET_DIR", plugin_target_dir());
        for p in TEST_PLUGINS {
            command.args(["-p", p]);
        }
        let out = command.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("building the test plugins failed:\n{}", String::from_utf8_lossy(&out.stderr)))
        }
    });
    if let Err(e) = built {
        panic!("{e}");
    }
    let file = plugin_target_dir()
        .join("wasm32-wasip2")
        .join("plugin")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(file.is_file(), "{} was not built", file.display());
    file
}

/// A fake Claude Code that reports 1,000 input and 100 output tokens and a cost of one cent
/// per call, and counts its calls in `calls`.
pub const CLAUDE_CENT: &str = r#"#!/bin/sh
cat > /dev/null
echo x >> calls
echo '{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.01,"usage":{"input_tokens":1000,"output_tokens":100}}'
"#;

/// Copies every file of `from` into `to` (created), replacing what is there.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` (none when it does not exist), as text (lossy), with its path: to
/// look for what must not have been written anywhere.
pub fn files_as_text(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_as_text(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push((path, text));
        }
    }
    out
}
