//! `ralph-loop plugin new`: a plugin crate that builds as it is. It carries its own copy of
//! the SDK (embedded in this binary), so it needs neither this repository nor a published
//! SDK, and it is always the SDK of the engine that made it: the contract versions match.

use std::path::{Path, PathBuf};

/// The SDK's files as the scaffold writes them under `vendor/ralph-plugin-sdk/`. The unit test
/// below checks this list against `plugins-sdk/`, so a new SDK file cannot be left out.
const SDK_FILES: &[(&str, &str)] = &[
    ("src/call.rs", include_str!("../../../plugins-sdk/src/call.rs")),
    ("src/context.rs", include_str!("../../../plugins-sdk/src/context.rs")),
    ("src/control.rs", include_str!("../../../plugins-sdk/src/control.rs")),
    ("src/decision.rs", include_str!("../../../plugins-sdk/src/decision.rs")),
    ("src/error.rs", include_str!("../../../plugins-sdk/src/error.rs")),
    ("src/evidence.rs", include_str!("../../../plugins-sdk/src/evidence.rs")),
    ("src/guest.rs", include_str!("../../../plugins-sdk/src/guest.rs")),
    ("src/hook.rs", include_str!("../../../plugins-sdk/src/hook.rs")),
    ("src/host.rs", include_str!("../../../plugins-sdk/src/host.rs")),
    ("src/lib.rs", include_str!("../../../plugins-sdk/src/lib.rs")),
    ("src/packet.rs", include_str!("../../../plugins-sdk/src/packet.rs")),
    ("src/patch.rs", include_str!("../../../plugins-sdk/src/patch.rs")),
    ("src/plugin.rs", include_str!("../../../plugins-sdk/src/plugin.rs")),
    ("src/result.rs", include_str!("../../../plugins-sdk/src/result.rs")),
    ("src/secrets.rs", include_str!("../../../plugins-sdk/src/secrets.rs")),
    ("src/secrets_tests.rs", include_str!("../../../plugins-sdk/src/secrets_tests.rs")),
    ("src/signal.rs", include_str!("../../../plugins-sdk/src/signal.rs")),
    ("src/task.rs", include_str!("../../../plugins-sdk/src/task.rs")),
    ("wit/plugin.wit", include_str!("../../../plugins-sdk/wit/plugin.wit")),
];

/// The SDK's manifest with concrete versions: the workspace it comes from is not there to
/// inherit from. Keep these in step with the root `Cargo.toml`.
const SDK_MANIFEST: &str = r#"[package]
name = "ralph-plugin-sdk"
description = "The contract between ralph-loop and its plugins (vendored by `ralph-loop plugin new`)"
version = "@VERSION@"
edition = "2024"
license = "MIT OR Apache-2.0"
publish = false

[dependencies]
serde = { version = "1.0", features = ["derive"] }
serde_json = { version = "1.0", features = ["preserve_order"] }

[target.'cfg(target_arch = "wasm32")'.dependencies]
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc"] }
"#;

const CARGO_TOML: &str = r#"[package]
name = "@NAME@"
version = "0.1.0"
edition = "2024"
publish = false
description = "A ralph-loop plugin"

[lib]
crate-type = ["cdylib"]

[dependencies]
# The SDK of the ralph-loop that made this crate (`ralph-loop plugin new`), vendored so the
# crate builds on its own and speaks the engine's contract version.
ralph-plugin-sdk = { path = "vendor/ralph-plugin-sdk" }

# A workspace of its own: the crate builds the same wherever it is put.
[workspace]

# Small components load and instantiate faster.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#;

const LIB_RS: &str = r#"//! @NAME@: a ralph-loop plugin.
//!
//! Build: `cargo build --target wasm32-wasip2 --release`
//! Try:   `ralph-loop plugin call target/wasm32-wasip2/release/@CRATE@.wasm phase.before_build --config block=true`

use ralph_plugin_sdk::{Decision, Descriptor, PhaseContext, Plugin, Reply, host, register_plugin};

#[derive(Default)]
struct @TYPE@;

impl Plugin for @TYPE@ {
    /// Who the plugin is, the hooks it wants (used when ralph.yaml names none) and the
    /// capabilities it requests (only ralph.yaml grants them).
    fn describe() -> Descriptor {
        Descriptor::new("@NAME@", env!("CARGO_PKG_VERSION"))
            .description("Vetoes builds while its `block` setting is true, else adds a note")
            .hooks(["phase.before_build"])
            .capabilities(["veto"])
    }

    /// `phase.before_build`: a build step is about to run.
    fn before_build(&self, context: &PhaseContext) -> Reply {
        // `config:` of the plugin in ralph.yaml; strings as they are, other values as JSON.
        if host::config("block").is_some_and(|v| v == "true") {
            return Ok(Decision::Veto { reason: "builds are blocked by @NAME@".into() });
        }
        host::info(&format!("build of iteration {} by `{}`", context.iteration, context.agent));
        host::emit_metric("@METRIC@_builds_seen", 1.0, &[]);
        Ok(Decision::Annotate { notes: vec!["Checked by @NAME@.".into()] })
    }

    // The other hooks; each carries on by default. Add them to `describe` when you implement
    // them.
    //
    // fn on_start(&self, context: &WorkflowContext) -> Reply        // workflow.on_start
    // fn on_iteration(&self, context: &WorkflowContext) -> Reply    // workflow.on_iteration
    // fn on_complete(&self, context: &WorkflowContext) -> Reply     // workflow.on_complete
    // fn on_failure(&self, context: &WorkflowContext) -> Reply      // workflow.on_failure
    // fn before_phase(&self, phase: &str, context: &PhaseContext) -> Reply  // phase.before_<any>
    // fn after_phase(&self, phase: &str, context: &PhaseContext) -> Reply   // phase.after_<any>
    // fn after_build(&self, context: &PhaseContext) -> Reply        // phase.after_build
    // fn before_verify(&self, context: &PhaseContext) -> Reply      // phase.before_verify
    // fn after_verify(&self, context: &PhaseContext) -> Reply       // phase.after_verify
    // fn on_invoke(&self, context: &PhaseContext) -> Reply          // agent.on_invoke
    // fn on_state_change(&self, context: &StateContext) -> Reply    // state.on_change
}

register_plugin!(@TYPE@);
"#;

const README: &str = r#"# @NAME@

A ralph-loop plugin: before every build step it vetoes the step while
its `block` setting is `"true"`, and otherwise adds a note to the builder's prompt.

## Build

```sh
rustup target add wasm32-wasip2   # once
cargo build --target wasm32-wasip2 --release
```

The component is `target/wasm32-wasip2/release/@CRATE@.wasm`.

## Try it

```sh
ralph-loop plugin info target/wasm32-wasip2/release/@CRATE@.wasm
ralph-loop plugin call target/wasm32-wasip2/release/@CRATE@.wasm phase.before_build --config block=true
```

## Install

From your project (the directory with `ralph.yaml`; it goes into its `plugins/@NAME@/`):

```sh
ralph-loop plugin install path/to/@NAME@/target/wasm32-wasip2/release/@CRATE@.wasm
```

and in `ralph.yaml` (a plugin may veto only when it is granted `veto`):

```yaml
plugins:
  installed:
    - name: @NAME@
      capabilities: [veto]
      config:
        block: "false"
```

or, without installing, point at the file:

```yaml
plugins:
  - name: @NAME@
    entry: path/to/@CRATE@.wasm
    hooks: [phase.before_build]
    capabilities: [veto]
    config:
      block: "false"
```

`vendor/ralph-plugin-sdk/` is the SDK of the ralph-loop that made this crate; `ralph-loop plugin
new` of a newer ralph-loop brings a newer one.
"#;

const GITIGNORE: &str = "/target\n";

/// Why a scaffold was not written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// A name that cannot be a crate.
    #[error(
        "`{0}` cannot be a plugin name: start with a letter, then letters, digits, `-` or `_` (e.g. `commit-guard`)"
    )]
    BadName(String),
    /// The directory is there already.
    #[error("`{0}` already exists and is not empty: choose another name or `--dir`")]
    Exists(String),
    /// A file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn valid(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `commit-guard` → `CommitGuard`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

fn fill(template: &str, name: &str) -> String {
    let krate = name.replace('-', "_");
    template
        .replace("@NAME@", name)
        .replace("@CRATE@", &krate)
        .replace("@TYPE@", &type_name(name))
        .replace("@METRIC@", &krate)
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
}

/// The files of a new plugin crate, relative to its directory.
pub fn files(name: &str) -> Vec<(PathBuf, String)> {
    let mut out = vec![
        (PathBuf::from("Cargo.toml"), fill(CARGO_TOML, name)),
        (PathBuf::from("src/lib.rs"), fill(LIB_RS, name)),
        (PathBuf::from("README.md"), fill(README, name)),
        (PathBuf::from(".gitignore"), GITIGNORE.to_owned()),
        (PathBuf::from("vendor/ralph-plugin-sdk/Cargo.toml"), fill(SDK_MANIFEST, name)),
    ];
    for (path, text) in SDK_FILES {
        out.push((Path::new("vendor/ralph-plugin-sdk").join(path), (*text).to_owned()));
    }
    out
}

/// Refuses a name that cannot be a plugin's, and a directory that is there and not empty.
///
/// # Errors
///
/// [`ScaffoldError::BadName`], [`ScaffoldError::Exists`].
pub fn check(name: &str, dir: &Path) -> Result<(), ScaffoldError> {
    if !valid(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    Ok(())
}

/// Writes a new plugin crate `name` into `dir` (which must not exist or be empty); answers the
/// files written.
///
/// # Errors
///
/// A name that cannot be a crate, a directory in the way, a file that cannot be written.
pub fn scaffold(name: &str, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    check(name, dir)?;
    write(dir, files(name))
}

/// Writes each `(relative path, text)` under `dir`, making directories as needed; answers the
/// relative paths written. Shared by every language's scaffold.
pub(super) fn write(dir: &Path, files: Vec<(PathBuf, String)>) -> Result<Vec<PathBuf>, ScaffoldError> {
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(&relative);
        let fail = |source| ScaffoldError::Write { path: path.display().to_string(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        std::fs::write(&path, text).map_err(fail)?;
        written.push(relative);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(dir: &str) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins-sdk").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_sdk_file_is_embedded() {
        let mut on_disk = listed("src");
        on_disk.extend(listed("wit"));
        let embedded: Vec<String> = SDK_FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(embedded, on_disk, "plugin/scaffold.rs SDK_FILES must list every SDK file");
    }

    #[test]
    fn names_become_crates_and_types() {
        assert_eq!(type_name("commit-guard"), "CommitGuard");
        assert_eq!(type_name("demo"), "Demo");
        assert!(valid("demo_2") && !valid("2demo") && !valid("a/b") && !valid(""));
        let files = files("commit-guard");
        let lib = &files.iter().find(|(p, _)| p == Path::new("src/lib.rs")).unwrap().1;
        assert!(lib.contains("struct CommitGuard;") && lib.contains("commit_guard.wasm"), "{lib}");
        assert!(!files.iter().any(|(_, text)| text.contains("workspace = true")));
    }
}
