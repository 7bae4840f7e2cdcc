//! `ralph-loop plugin build` and the builds a run makes of `.py`, `.js` and `.ts` entries: a
//! plugin's source becomes a component of the `ralph:plugin@1.0.0` world, built against the
//! engine's own WIT with the guest library embedded in this binary. Python and JavaScript
//! builds are cached by content: the key hashes the sources, the guest library, the WIT, the
//! generated entry and the toolchain's version, so an unchanged plugin is never built twice.
//! Knows nothing of the runtime or of runs.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::guest;
use super::source::{Language, NotASource, Source};
use super::toolchain::{self, Missing, Tool};

/// How long a build may take (a cold jco build of a large plugin takes about a minute).
const BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The most source files, and bytes of them, a plugin may have.
const MAX_FILES: usize = 2_000;
const MAX_BYTES: u64 = 64 << 20;
/// How much of a failed build's output is shown.
const MAX_SHOWN: usize = 8 * 1024;
/// Changes whenever what a build makes changes for the same inputs.
const RECIPE: &str = "ralph-loop plugin build 1";
/// Directories never part of a plugin's sources.
const SKIPPED: &[&str] =
    &["node_modules", "__pycache__", "target", "build", "dist", "venv", ".venv", ".ralph", ".git"];

/// A built component.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The component.
    pub wasm: PathBuf,
    /// The toolchain that built it, e.g. `componentize-py 0.25.1`.
    pub toolchain: String,
    /// Whether it was built now (false: taken from the cache).
    pub fresh: bool,
    /// How long the build took.
    pub seconds: f64,
}

/// Why a plugin could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Not a plugin source.
    #[error(transparent)]
    Source(#[from] NotASource),
    /// The toolchain is not installed.
    #[error(transparent)]
    Toolchain(#[from] Missing),
    /// The toolchain failed; its own output says why.
    #[error("{tool} could not build `{entry}` ({status}):\n{output}")]
    Failed {
        /// The toolchain.
        tool: String,
        /// The plugin's entry.
        entry: String,
        /// How it ended, e.g. `exited with 1`.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// The toolchain took too long.
    #[error("{tool} did not finish building `{entry}` within {} minutes: it was stopped", BUILD_TIMEOUT.as_secs() / 60)]
    TimedOut {
        /// The toolchain.
        tool: String,
        /// The plugin's entry.
        entry: String,
    },
    /// Too many or too large source files.
    #[error("`{root}` holds more than {MAX_FILES} source files or {} MiB of them: put the plugin in a directory of its own", MAX_BYTES >> 20)]
    TooLarge {
        /// The plugin's source directory.
        root: String,
    },
    /// A file could not be read or written.
    #[error("cannot {what} `{path}`: {source}")]
    Io {
        /// Read, write, create…
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.display().to_string();
    move |source| BuildError::Io { what, path, source }
}

/// Builds `source` into `cache_dir` (Python, JavaScript, TypeScript: `<key>.wasm`, reused
/// when there), or with cargo (Rust: cargo's own target directory, which cargo keeps up to
/// date).
///
/// # Errors
///
/// A missing toolchain (with the command that installs it), a failed build (with its
/// output), too many source files, or a file that cannot be read or written.
/// `notice` is told, before a build that takes time starts, what is being built: a person
/// waiting on a run's start or on `plugin build` sees why.
pub fn build(source: &Source, cache_dir: &Path, notice: &dyn Fn(&str)) -> Result<Built, BuildError> {
    let tool = toolchain::find(source.language, &source.root)?;
    match source.language {
        Language::Rust => {
            notice(&format!("building {} with cargo…", source.root.display()));
            build_rust(source, &tool)
        }
        Language::Python | Language::JavaScript | Language::TypeScript => {
            build_guest(source, &tool, cache_dir, notice)
        }
    }
}

/// Builds the plugins of `catalog` whose `entry:` is a Python, JavaScript or TypeScript
/// source (into `cache_dir`, reused while nothing changed) and points them at their
/// components; answers what was built. A plugin that does not build stops it all: a run must
/// not start without a plugin its configuration names. A source file that is not there is
/// left to the loader, which reports it like a missing component.
///
/// # Errors
///
/// The first plugin that cannot be built, with the build's error.
pub fn prepare(
    project_dir: &Path,
    catalog: &mut super::catalog::Catalog,
    cache_dir: &Path,
    notice: &dyn Fn(&str),
) -> Result<Vec<(String, Built)>, (String, BuildError)> {
    let mut built = Vec::new();
    for spec in catalog.plugins.iter_mut().filter(|s| s.enabled) {
        if !matches!(spec.origin, super::catalog::Origin::Listed(_)) {
            continue;
        }
        let Some(source) = super::source::of_entry(project_dir, &spec.file) else { continue };
        if !source.entry.is_file() {
            // A missing file is reported as any missing component is (the plugin is not
            // loaded, and the run goes on unless it fails closed), under its real name.
            spec.file.clone_from(&source.entry);
            continue;
        }
        let named = |text: &str| notice(&format!("plugin `{}`: {text}", spec.name));
        let done = build(&source, cache_dir, &named).map_err(|e| (spec.name.clone(), e))?;
        spec.file.clone_from(&done.wasm);
        built.push((spec.name.clone(), done));
    }
    Ok(built)
}

/// What `workflow validate` says of the plugins `doc` names by a source `entry:`: that each
/// is built when a run starts, and — a warning — when the toolchain that builds it is
/// missing, with the command that installs it. `(is_warning, text)`.
pub fn source_notes(project_dir: &Path, doc: &crate::workflow::model::Document) -> Vec<(bool, String)> {
    let Some(crate::workflow::model::PluginsSection::List(list)) = &doc.plugins else { return Vec::new() };
    let mut notes = Vec::new();
    for plugin in list {
        let Some(entry) = &plugin.entry else { continue };
        let Some(source) = super::source::of_entry(project_dir, &project_dir.join(entry)) else { continue };
        if !source.entry.is_file() {
            // Said by the validation itself (`missing-plugin`).
            continue;
        }
        match toolchain::find(source.language, &source.root) {
            Ok(tool) => notes.push((
                false,
                format!(
                    "plugin `{}`: `{entry}` is a {} source, built with {} when a run starts (`ralph-loop plugin build {}` builds it now)",
                    plugin.name,
                    source.language.name(),
                    tool.version,
                    source.entry.strip_prefix(project_dir).unwrap_or(&source.entry).display()
                ),
            )),
            Err(missing) => notes.push((true, format!("plugin `{}` cannot be built: {missing}", plugin.name))),
        }
    }
    notes
}

/// A source file of the plugin: its path under the root, and its bytes.
type File = (PathBuf, Vec<u8>);

/// The plugin's source files under its root, sorted by path: those of its language (and, for
/// JavaScript, JSON), skipping dependencies, caches and build output.
fn sources(source: &Source) -> Result<Vec<File>, BuildError> {
    let wanted: &[&str] = match source.language {
        Language::Python => &["py"],
        _ => &["js", "mjs", "cjs", "ts", "mts", "cts", "json"],
    };
    let too_large = || BuildError::TooLarge { root: source.root.display().to_string() };
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![source.root.clone()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(io("read", &dir))?;
        for entry in entries {
            let entry = entry.map_err(io("read", &dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().map_err(io("read", &path))?;
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) {
                    pending.push(path);
                }
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
            if !kind.is_file() || !wanted.contains(&ext) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io("read", &path))?;
            total += bytes.len() as u64;
            if files.len() >= MAX_FILES || total > MAX_BYTES {
                return Err(too_large());
            }
            let relative = path.strip_prefix(&source.root).unwrap_or(&path).to_path_buf();
            files.push((relative, bytes));
        }
    }
    files.sort();
    Ok(files)
}

/// The module name of `entry` under `root`: `sub/mod.py` → `sub.mod`.
fn python_module(source: &Source) -> String {
    let relative = source.entry.strip_prefix(&source.root).unwrap_or(&source.entry).with_extension("");
    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join(".")
}

/// What the build writes besides the sources: `(path in the work directory, text)`.
fn generated(source: &Source, entry: &Path, work: &Path) -> Vec<(PathBuf, String)> {
    let mut out = vec![(PathBuf::from("wit/plugin.wit"), guest::WIT.to_owned())];
    match source.language {
        Language::Python => {
            for (path, text) in guest::PYTHON_LIBRARY {
                out.push((Path::new("src").join(path), (*text).to_owned()));
            }
            let main = guest::python_main(&python_module(source), source.class.as_deref());
            out.push((PathBuf::from("src/ralph_main.py"), main));
        }
        _ => {
            out.push((PathBuf::from("ralph-plugins.js"), guest::JS_LIBRARY.to_owned()));
            let library = work.join("ralph-plugins.js");
            out.push((
                PathBuf::from("bundle.config.mjs"),
                guest::js_bundle_config(&library.to_string_lossy()),
            ));
            let main = guest::js_main(&entry.to_string_lossy(), source.class.as_deref());
            out.push((PathBuf::from("main.js"), main));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn build_guest(
    source: &Source,
    tool: &Tool,
    cache_dir: &Path,
    notice: &dyn Fn(&str),
) -> Result<Built, BuildError> {
    let started = Instant::now();
    if !source.entry.is_file() {
        return Err(NotASource(format!("`{}` does not exist", source.entry.display())).into());
    }
    let files = sources(source)?;
    let entry = std::fs::canonicalize(&source.entry).map_err(io("read", &source.entry))?;
    // The generated files name the work directory; the key must not, so it is hashed with a
    // placeholder and the real directory chosen from the key.
    let placeholder = Path::new("/ralph-plugin-build");
    let mut hasher = Sha256::new();
    for part in [RECIPE, source.language.name(), &tool.version] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for (path, text) in generated(source, &entry, placeholder) {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    for (path, bytes) in &files {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let key = hex(&hasher.finalize()[..16]);
    let wasm = cache_dir.join(format!("{}-{key}.wasm", source.name));
    if wasm.is_file() {
        return Ok(Built { wasm, toolchain: tool.version.clone(), fresh: false, seconds: 0.0 });
    }
    notice(&format!(
        "building {} with {} (once per change of its sources)…",
        source.entry.display(),
        tool.version
    ));
    std::fs::create_dir_all(cache_dir).map_err(io("create", cache_dir))?;
    let work = tempfile::Builder::new()
        .prefix(&format!("work-{key}-"))
        .tempdir_in(cache_dir)
        .map_err(io("create a directory in", cache_dir))?;
    let work_dir = std::fs::canonicalize(work.path()).map_err(io("read", work.path()))?;
    let mut writes = generated(source, &entry, &work_dir);
    if source.language == Language::Python {
        // Python's sources are bundled into the component from a copy: only the plugin's
        // files and the guest library, never what else lies around it.
        for (path, bytes) in files {
            writes.push((Path::new("src").join(path), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    for (relative, text) in &writes {
        let path = work_dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        std::fs::write(&path, text).map_err(io("write", &path))?;
    }
    let out = work_dir.join("plugin.wasm");
    let mut command = Command::new(&tool.program);
    match source.language {
        Language::Python => {
            command
                .args(["-d", "wit", "-w", guest::WORLD, "componentize", "-p", "src", "ralph_main", "-o"])
                .arg(&out);
        }
        _ => {
            // No WASI HTTP (the host grants no network) and no fetch event: the component
            // imports only what the engine's sandbox offers.
            command
                .args(["componentize", "main.js", "--wit", "wit", "--world-name", guest::WORLD])
                .args([
                    "--disable",
                    "http",
                    "fetch-event",
                    "--bundle",
                    "--bundle-config",
                    "bundle.config.mjs",
                ])
                .arg("-o")
                .arg(&out);
        }
    }
    command.current_dir(&work_dir);
    run(command, &tool.version, &source.entry, &work_dir)?;
    if !out.is_file() {
        return Err(BuildError::Failed {
            tool: tool.version.clone(),
            entry: source.entry.display().to_string(),
            status: "exited with 0".into(),
            output: format!("it wrote no `{}`", out.display()),
        });
    }
    // Renamed into place: a reader never sees half a component, and two builds of the same
    // key write the same bytes.
    std::fs::rename(&out, &wasm).map_err(io("write", &wasm))?;
    Ok(Built { wasm, toolchain: tool.version.clone(), fresh: true, seconds: started.elapsed().as_secs_f64() })
}

/// The crate name in a `Cargo.toml`, read line by line (`name = "…"` under `[package]`).
fn crate_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name").map(str::trim).and_then(|l| l.strip_prefix('=')) {
                return Some(value.trim().trim_matches('"').to_owned());
            }
        }
    }
    None
}

fn build_rust(source: &Source, tool: &Tool) -> Result<Built, BuildError> {
    let started = Instant::now();
    let manifest = std::fs::read_to_string(&source.entry).map_err(io("read", &source.entry))?;
    let name = crate_name(&manifest)
        .ok_or_else(|| NotASource(format!("`{}` has no `[package]` `name`", source.entry.display())))?;
    let mut command = Command::new(&tool.program);
    command.args(["build", "--target", "wasm32-wasip2", "--release"]).current_dir(&source.root);
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).map_or_else(
        || source.root.join("target"),
        |t| if t.is_absolute() { t } else { source.root.join(t) },
    );
    let logs = tempfile::tempdir().map_err(io("create", Path::new("a temporary directory")))?;
    match run(command, &tool.version, &source.entry, logs.path()) {
        Err(BuildError::Failed { output, .. })
            if output.contains("wasm32-wasip2") && output.contains("target may not be installed") =>
        {
            return Err(Missing {
                language: "Rust",
                tool: toolchain::tool_name(Language::Rust),
                install: toolchain::install_command(Language::Rust),
            }
            .into());
        }
        other => other?,
    }
    let wasm = target.join("wasm32-wasip2").join("release").join(format!("{}.wasm", name.replace('-', "_")));
    Ok(Built { wasm, toolchain: tool.version.clone(), fresh: true, seconds: started.elapsed().as_secs_f64() })
}

/// Runs a build command in its own process group with its output in `logs`, within
/// [`BUILD_TIMEOUT`]; the group is killed when it is exceeded.
fn run(mut command: Command, tool: &str, entry: &Path, logs: &Path) -> Result<(), BuildError> {
    use std::os::unix::process::CommandExt as _;
    let log_path = logs.join("build.log");
    let log = std::fs::File::create(&log_path).map_err(io("create", &log_path))?;
    let err = log.try_clone().map_err(io("create", &log_path))?;
    command.stdin(Stdio::null()).stdout(log).stderr(err).process_group(0);
    let entry_text = entry.display().to_string();
    let mut child = command.spawn().map_err(io("run", Path::new(tool)))?;
    let deadline = Instant::now() + BUILD_TIMEOUT;
    let status = loop {
        match child.try_wait().map_err(io("wait for", Path::new(tool)))? {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.wait();
                return Err(BuildError::TimedOut { tool: tool.to_owned(), entry: entry_text });
            }
            // A child process has no wait with a deadline in std; a build takes seconds.
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(&log_path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let skip = len.saturating_sub(MAX_SHOWN as u64);
        let _ = std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(skip));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
        if skip > 0 {
            text = format!("…{text}");
        }
    }
    Err(BuildError::Failed {
        tool: tool.to_owned(),
        entry: entry_text,
        status: crate::error_text::status(&status),
        output: text.trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_are_read_from_the_package_section() {
        let manifest =
            "[workspace]\nname = \"no\"\n[package]\nname = \"commit-guard\"\nversion = \"0.1.0\"\n";
        assert_eq!(crate_name(manifest).as_deref(), Some("commit-guard"));
        assert_eq!(crate_name("[dependencies]\nname = \"x\"\n"), None);
    }

    #[test]
    fn python_modules_are_named_by_their_path_under_the_root() {
        let source = Source {
            language: Language::Python,
            root: PathBuf::from("/p"),
            entry: PathBuf::from("/p/sub/guard.py"),
            class: None,
            name: "guard".into(),
        };
        assert_eq!(python_module(&source), "sub.guard");
    }
}
