//! The programs that turn a plugin's source into a component — componentize-py for Python,
//! jco with componentize-js for JavaScript and TypeScript, cargo for Rust — found on `PATH`
//! (jco also in a `node_modules/.bin` above the plugin), with their versions, and the exact
//! command that installs one that is missing. Knows nothing of the runtime.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::source::Language;

/// The componentize-py release the guest library is written and tested against.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The jco release the JavaScript guest library is written and tested against (1.35.0's
/// filesystem shim sees no files, so it cannot read the WIT).
pub const JCO: &str = "1.34.0";
/// The componentize-js release that jco uses.
pub const COMPONENTIZE_JS: &str = "0.22.0";

/// A program found to build with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The program.
    pub program: PathBuf,
    /// What `--version` says, e.g. `componentize-py 0.25.1`.
    pub version: String,
}

/// A toolchain that is not there, with what installs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "building a {language} plugin needs {tool}, which is not installed (or not on `PATH`): install it with `{install}`"
)]
pub struct Missing {
    /// The plugin's language.
    pub language: &'static str,
    /// The program that is missing.
    pub tool: &'static str,
    /// The command line that installs it.
    pub install: String,
}

/// The command line that installs the toolchain of `language`.
pub fn install_command(language: Language) -> String {
    match language {
        Language::Python => format!("python3 -m pip install componentize-py=={COMPONENTIZE_PY}"),
        Language::JavaScript | Language::TypeScript => format!(
            "npm install -g @bytecodealliance/jco@{JCO} @bytecodealliance/componentize-js@{COMPONENTIZE_JS}"
        ),
        Language::Rust => "rustup target add wasm32-wasip2".to_owned(),
    }
}

/// The program that builds `language`, as people know it.
pub fn tool_name(language: Language) -> &'static str {
    match language {
        Language::Python => "componentize-py",
        Language::JavaScript | Language::TypeScript => "jco (with componentize-js)",
        Language::Rust => "cargo with the `wasm32-wasip2` target",
    }
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| executable(p))
}

/// `node_modules/.bin/<name>` in `dir` or a directory above it.
fn in_node_modules(dir: &Path, name: &str) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(dir).ok()?;
    dir.ancestors().map(|d| d.join("node_modules").join(".bin").join(name)).find(|p| executable(p))
}

/// What `program --version` prints (its first line), within 60 seconds.
fn version(program: &Path) -> Option<String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = std::io::read_to_string(child.stdout.take()?).ok()?;
    out.lines().next().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty())
}

/// The toolchain that builds `language` for a plugin in `dir`.
///
/// # Errors
///
/// When it is not installed: the error names the command that installs it.
pub fn find(language: Language, dir: &Path) -> Result<Tool, Missing> {
    let missing = || Missing {
        language: language.name(),
        tool: tool_name(language),
        install: install_command(language),
    };
    let program = match language {
        Language::Python => on_path("componentize-py"),
        Language::JavaScript | Language::TypeScript => in_node_modules(dir, "jco").or_else(|| on_path("jco")),
        Language::Rust => on_path("cargo"),
    }
    .ok_or_else(missing)?;
    let version = version(&program).ok_or_else(missing)?;
    let version = match language {
        // jco prints its bare version number.
        Language::JavaScript | Language::TypeScript => format!("jco {version}"),
        _ => version,
    };
    Ok(Tool { program, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_toolchain_names_the_command_that_installs_it() {
        let e = Missing {
            language: "Python",
            tool: tool_name(Language::Python),
            install: install_command(Language::Python),
        };
        assert_eq!(
            e.to_string(),
            "building a Python plugin needs componentize-py, which is not installed (or not on `PATH`): install it with `python3 -m pip install componentize-py==0.25.1`"
        );
        assert!(install_command(Language::TypeScript).contains("@bytecodealliance/jco@1.34.0"));
    }
}
