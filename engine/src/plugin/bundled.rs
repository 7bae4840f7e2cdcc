//! The plugins shipped inside the binary: the four of `plugins/`, as the components
//! `plugins/build.sh` built and `plugins/dist/` keeps (`plugins/build.sh --check` proves they
//! match their sources), so `plugins: [secret-guard]` needs no build and no wasm target.
//!
//! What a bundled plugin says of itself (version, hooks, capabilities) is kept here too, so
//! listing them compiles nothing; a unit test asks each component and compares. Knows nothing of
//! ralph.yaml or the run.

use std::path::PathBuf;

/// A plugin bundled with the engine.
#[derive(Debug, PartialEq, Eq)]
pub struct Bundled {
    /// Its name, as ralph.yaml names it.
    pub name: &'static str,
    /// Its version (its crate's and its `describe`'s).
    pub version: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The hooks it is called at unless ralph.yaml names others.
    pub hooks: &'static [&'static str],
    /// The capabilities it asks for, granted when ralph.yaml lists none for it.
    pub capabilities: &'static [&'static str],
    /// Its component.
    pub bytes: &'static [u8],
}

/// The bundled plugins, by name.
pub const ALL: &[Bundled] = &[
    Bundled {
        name: "budget-guard",
        version: "1.0.0",
        description: "Vetoes an agent invocation that would pass the run's cost or token budget",
        hooks: &["agent.on_invoke"],
        capabilities: &["veto"],
        bytes: include_bytes!("../../../plugins/dist/budget-guard.wasm"),
    },
    Bundled {
        name: "metrics-exporter",
        version: "1.0.0",
        description: "Reports each step's duration, success, tokens, cost and changed files as metrics",
        hooks: &["phase.after_build", "phase.after_verify", "workflow.on_iteration"],
        capabilities: &[],
        bytes: include_bytes!("../../../plugins/dist/metrics-exporter.wasm"),
    },
    Bundled {
        name: "notifier",
        version: "1.0.0",
        description: "Logs run events and posts them to a webhook (Slack-compatible)",
        hooks: &["workflow.on_start", "workflow.on_complete", "workflow.on_failure", "state.on_change"],
        capabilities: &["notify"],
        bytes: include_bytes!("../../../plugins/dist/notifier.wasm"),
    },
    Bundled {
        name: "secret-guard",
        version: "1.0.0",
        description: "Vetoes a step whose diff adds credentials (API keys, tokens, private keys, passwords)",
        hooks: &["phase.after_build"],
        capabilities: &["veto"],
        bytes: include_bytes!("../../../plugins/dist/secret-guard.wasm"),
    },
];

/// The bundled plugin called `name`.
pub fn get(name: &str) -> Option<&'static Bundled> {
    ALL.iter().find(|b| b.name == name)
}

/// The bundled plugins' names.
pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|b| b.name)
}

/// Where bundled plugins are kept compiled: the user's cache (`$XDG_CACHE_HOME/ralph-loop/plugins`,
/// else `~/.cache/ralph-loop/plugins`), since they are the same for every project on the machine.
/// `None` when there is no home to cache in.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("ralph-loop").join("plugins"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Limits, Runtime};

    #[test]
    fn each_bundled_plugin_describes_itself_as_listed() {
        let runtime = Runtime::shared().unwrap();
        // Compiled once per checkout, in the cache the integration tests share (a debug build
        // takes seconds per component).
        let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/test-plugins/cache/ralph-loop/plugins");
        for bundled in ALL {
            let loaded = runtime.load(bundled.name, bundled.bytes, Some(&cache), Limits::DEFAULT).unwrap();
            let d = loaded.descriptor();
            assert_eq!(d.name, bundled.name);
            assert_eq!(d.version, bundled.version, "{}", bundled.name);
            assert_eq!(d.description, bundled.description, "{}", bundled.name);
            assert_eq!(d.hooks, bundled.hooks, "{}", bundled.name);
            assert_eq!(d.capabilities, bundled.capabilities, "{}", bundled.name);
        }
    }

    #[test]
    fn bundled_plugins_are_listed_by_name_and_match_their_crates_versions() {
        let names: Vec<&str> = names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for bundled in ALL {
            let manifest = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../plugins")
                    .join(bundled.name)
                    .join("Cargo.toml"),
            )
            .unwrap();
            assert!(manifest.contains(&format!("version = \"{}\"", bundled.version)), "{}", bundled.name);
        }
    }
}
