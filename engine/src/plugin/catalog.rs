//! Which plugins a project has, as `ralph.yaml` configures them: the list form (`entry`,
//! `hooks`, `config`) and the managed form (`directory`, `auto_discover`, `installed` with
//! version requirements). `plugin list` and a run see the same catalog.
//!
//! A list item without `entry` (or a bare name) is the plugin of that name bundled with the
//! engine ([`super::bundled`]); so is an `installed` plugin that the plugin directory does not
//! hold, when its version fits.
//!
//! An installed plugin lives in `<directory>/<name>/`: its component `plugin.wasm` and its
//! manifest `plugin.json` ([`Manifest`]), written by `ralph-loop plugin install`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bundled::{self, Bundled};
use super::limits::Limits;
use crate::workflow::model::{
    Document, EnvString, InstalledPlugin, OnPluginError, PluginEntry, PluginsSection,
};

/// The manifest of an installed plugin.
pub const MANIFEST: &str = "plugin.json";
/// The component of an installed plugin.
pub const COMPONENT: &str = "plugin.wasm";
/// Failed calls in a row after which a plugin is disabled for the run.
pub const DEFAULT_MAX_FAILURES: u32 = 3;

/// What `plugin install` records of an installed plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's name.
    pub name: String,
    /// Its version (from its `describe`).
    pub version: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// The SHA-256 of `plugin.wasm`, checked at install and at every load.
    pub sha256: String,
    /// Where it was installed from (a path, `registry:<name>`, or a URL).
    #[serde(default)]
    pub source: String,
    /// The hooks it asks for.
    #[serde(default)]
    pub hooks: Vec<String>,
    /// The capabilities it requests (ralph.yaml grants them).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Whether it is called (`plugin enable` / `plugin disable`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When it was installed (RFC 3339).
    #[serde(default)]
    pub installed_at: String,
}

fn yes() -> bool {
    true
}

impl Manifest {
    /// Reads `<dir>/plugin.json`.
    ///
    /// # Errors
    ///
    /// When it is missing or not a manifest.
    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(MANIFEST);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("`{}` is not a plugin manifest: {e}", path.display()))
    }

    /// Writes `<dir>/plugin.json` (whole, renamed into place).
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&dir.join(MANIFEST), text)
    }
}

/// Where a plugin of the catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `plugins[i]` of the list form.
    Listed(usize),
    /// `plugins.installed[i]` of the managed form.
    Installed(usize),
    /// Found in the plugin directory by `auto_discover`.
    Discovered,
}

/// One plugin a run would load.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Its name.
    pub name: String,
    /// Its component file (for a bundled plugin, a name to show: `<bundled>/NAME.wasm`).
    pub file: PathBuf,
    /// The bundled plugin it is, whose component is in the binary.
    pub bundled: Option<&'static Bundled>,
    /// Where it is configured.
    pub origin: Origin,
    /// The hooks ralph.yaml names (empty: the ones the plugin asks for).
    pub hooks: Vec<String>,
    /// Its `config:`, values as `config-get` returns them (`${VAR}` resolved).
    pub config: BTreeMap<String, String>,
    /// The values `${VAR}` references resolved to: never written to the journal.
    pub secrets: Vec<String>,
    /// The capabilities ralph.yaml grants.
    pub capabilities: Vec<String>,
    /// What a failure of it does.
    pub on_error: OnPluginError,
    /// Whether it is called (ralph.yaml's `enabled` and the manifest's).
    pub enabled: bool,
    /// Each call's limits.
    pub limits: Limits,
    /// Failed calls in a row after which it is disabled.
    pub max_failures: u32,
    /// The manifest, for installed plugins.
    pub manifest: Option<Manifest>,
    /// The version requirement of `installed`.
    pub version: Option<String>,
    /// The registry of `installed`.
    pub from: Option<String>,
}

impl PluginSpec {
    /// Whether ralph.yaml grants `capability`.
    pub fn grants(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

/// A plugin the catalog cannot offer (not installed, wrong version, unreadable manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The plugin.
    pub name: String,
    /// Why, with what to do.
    pub reason: String,
}

/// The project's plugins.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The plugin directory.
    pub directory: PathBuf,
    /// The plugins that can be loaded, in ralph.yaml's order (discovered ones last, by name).
    pub plugins: Vec<PluginSpec>,
    /// Configured plugins that cannot be.
    pub missing: Vec<Missing>,
}

/// The plugin directory: `plugins.directory`, or `plugins/` in the project.
pub fn directory(project_dir: &Path, doc: &Document) -> PathBuf {
    match &doc.plugins {
        Some(PluginsSection::Managed(m)) => {
            // `./plugins` in a project `.` reads `plugins` in messages, not `././plugins`.
            let joined = project_dir.join(m.directory.as_deref().unwrap_or("plugins"));
            let tidy: PathBuf =
                joined.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
            if tidy.as_os_str().is_empty() { PathBuf::from(".") } else { tidy }
        }
        _ => project_dir.join("plugins"),
    }
}

/// A config value as `config-get` gives it: strings as they are (with `${VAR}` resolved),
/// other values as JSON text; and whether it came from a `${VAR}` reference (a secret, kept
/// out of the journal).
fn config_value(value: &serde_json::Value) -> Result<(String, bool), String> {
    match value {
        serde_json::Value::String(s) => {
            let text = EnvString(s.clone());
            let referenced = text.references().is_ok_and(|r| !r.is_empty());
            let resolved = text.resolve(|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
            Ok((resolved, referenced))
        }
        other => Ok((other.to_string(), false)),
    }
}

fn config(
    name: &str,
    values: &indexmap::IndexMap<String, serde_json::Value>,
    missing: &mut Vec<Missing>,
) -> Option<(BTreeMap<String, String>, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut secrets = Vec::new();
    for (key, value) in values {
        match config_value(value) {
            Ok((text, referenced)) => {
                if referenced {
                    secrets.push(text.clone());
                }
                out.insert(key.clone(), text);
            }
            Err(e) => {
                missing.push(Missing { name: name.to_owned(), reason: format!("its `config.{key}`: {e}") });
                return None;
            }
        }
    }
    Some((out, secrets))
}

fn limits(
    timeout: Option<crate::workflow::model::Duration>,
    memory: Option<crate::workflow::model::Size>,
    fuel: Option<u64>,
) -> Limits {
    let mut limits = Limits::DEFAULT;
    if let Some(t) = timeout {
        limits.timeout = t.0;
    }
    if let Some(m) = memory {
        limits.memory_bytes = m.0.min(super::runtime::MAX_MEMORY as u64);
    }
    if let Some(f) = fuel {
        limits.fuel = f;
    }
    limits
}

fn listed(
    project_dir: &Path,
    i: usize,
    entry: &PluginEntry,
    missing: &mut Vec<Missing>,
) -> Option<PluginSpec> {
    // No `entry`: the bundled plugin of that name.
    let (file, bundled) = match entry.entry.as_deref() {
        Some(path) => (project_dir.join(path), None),
        None => match bundled::get(&entry.name) {
            Some(b) => (bundled_file(&entry.name), Some(b)),
            None => {
                missing.push(Missing { name: entry.name.clone(), reason: not_bundled(&entry.name) });
                return None;
            }
        },
    };
    let (config, secrets) = config(&entry.name, &entry.config, missing)?;
    Some(PluginSpec {
        name: entry.name.clone(),
        file,
        bundled,
        origin: Origin::Listed(i),
        hooks: entry.hooks.clone(),
        config,
        secrets,
        capabilities: granted(&entry.capabilities, bundled),
        on_error: entry.on_error.unwrap_or(OnPluginError::FailOpen),
        enabled: entry.enabled.unwrap_or(true),
        limits: limits(entry.timeout, entry.memory, entry.fuel),
        max_failures: entry.max_failures.unwrap_or(DEFAULT_MAX_FAILURES).max(1),
        manifest: None,
        version: None,
        from: None,
    })
}

/// What `file` shows for a bundled plugin.
pub fn bundled_file(name: &str) -> PathBuf {
    PathBuf::from(format!("<bundled>/{name}.wasm"))
}

/// Why a list item without `entry` cannot be loaded.
pub fn not_bundled(name: &str) -> String {
    let names: Vec<String> = bundled::names().map(|n| format!("`{n}`")).collect();
    format!(
        "`{name}` has no `entry` and is not a bundled plugin ({}): give its component file as `entry`",
        names.join(", ")
    )
}

/// The capabilities a plugin gets: those ralph.yaml lists, else, for a bundled plugin, those it
/// ships asking for (the engine's own plugins, which `plugins: [secret-guard]` must make work).
fn granted(listed: &[String], bundled: Option<&Bundled>) -> Vec<String> {
    match bundled {
        Some(b) if listed.is_empty() => b.capabilities.iter().map(|c| (*c).to_owned()).collect(),
        _ => listed.to_vec(),
    }
}

/// An `installed` plugin the directory does not hold, served by the bundled one of its name
/// when its version fits the requirement.
fn installed_bundled(plugin: &InstalledPlugin) -> Option<&'static Bundled> {
    let b = bundled::get(&plugin.name)?;
    let fits = match plugin.version.as_deref() {
        None => true,
        Some(req) => semver::VersionReq::parse(req)
            .is_ok_and(|r| semver::Version::parse(b.version).is_ok_and(|v| r.matches(&v))),
    };
    fits.then_some(b)
}

fn installed(
    dir: &Path,
    i: usize,
    plugin: &InstalledPlugin,
    missing: &mut Vec<Missing>,
) -> Option<PluginSpec> {
    let home = dir.join(&plugin.name);
    let install = || {
        let from = plugin.from.as_deref().map(|f| format!(" --from {f}")).unwrap_or_default();
        format!("`ralph-loop plugin install {}{from}` installs it", plugin.name)
    };
    let manifest = match Manifest::read(&home) {
        Ok(m) => m,
        Err(_) if !home.exists() && installed_bundled(plugin).is_some() => {
            let bundled = installed_bundled(plugin);
            let (config, secrets) = config(&plugin.name, &plugin.config, missing)?;
            return Some(PluginSpec {
                name: plugin.name.clone(),
                file: bundled_file(&plugin.name),
                bundled,
                origin: Origin::Installed(i),
                hooks: plugin.hooks.clone(),
                config,
                secrets,
                capabilities: granted(&plugin.capabilities, bundled),
                on_error: plugin.on_error.unwrap_or(OnPluginError::FailOpen),
                enabled: plugin.enabled.unwrap_or(true),
                limits: limits(plugin.timeout, plugin.memory, plugin.fuel),
                max_failures: plugin.max_failures.unwrap_or(DEFAULT_MAX_FAILURES).max(1),
                manifest: None,
                version: plugin.version.clone(),
                from: plugin.from.clone(),
            });
        }
        Err(_) if !home.exists() => {
            let req = plugin.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
            missing.push(Missing {
                name: plugin.name.clone(),
                reason: format!(
                    "`{}`{req} is not installed in `{}`: {}",
                    plugin.name,
                    dir.display(),
                    install()
                ),
            });
            return None;
        }
        Err(e) => {
            missing.push(Missing { name: plugin.name.clone(), reason: e });
            return None;
        }
    };
    if let Some(req) = plugin.version.as_deref().and_then(|v| semver::VersionReq::parse(v).ok()) {
        let fits = semver::Version::parse(&manifest.version).is_ok_and(|v| req.matches(&v));
        if !fits {
            missing.push(Missing {
                name: plugin.name.clone(),
                reason: format!(
                    "`{}` {} is installed, but ralph.yaml asks for {req}: {}",
                    plugin.name,
                    manifest.version,
                    install()
                ),
            });
            return None;
        }
    }
    let (config, secrets) = config(&plugin.name, &plugin.config, missing)?;
    Some(PluginSpec {
        name: plugin.name.clone(),
        file: home.join(COMPONENT),
        bundled: None,
        origin: Origin::Installed(i),
        hooks: plugin.hooks.clone(),
        config,
        secrets,
        capabilities: plugin.capabilities.clone(),
        on_error: plugin.on_error.unwrap_or(OnPluginError::FailOpen),
        enabled: plugin.enabled.unwrap_or(true) && manifest.enabled,
        limits: limits(plugin.timeout, plugin.memory, plugin.fuel),
        max_failures: plugin.max_failures.unwrap_or(DEFAULT_MAX_FAILURES).max(1),
        manifest: Some(manifest),
        version: plugin.version.clone(),
        from: plugin.from.clone(),
    })
}

/// Installed plugins in `dir` (subdirectories with a manifest), by name.
pub fn installed_in(dir: &Path) -> Vec<Manifest> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<Manifest> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Manifest::read(&e.path()).ok())
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The project's plugins.
pub fn catalog(project_dir: &Path, doc: &Document) -> Catalog {
    let directory = directory(project_dir, doc);
    let mut catalog = Catalog { directory: directory.clone(), ..Catalog::default() };
    match &doc.plugins {
        None => {}
        Some(PluginsSection::List(list)) => {
            for (i, entry) in list.iter().enumerate() {
                if let Some(spec) = listed(project_dir, i, entry, &mut catalog.missing) {
                    catalog.plugins.push(spec);
                }
            }
        }
        Some(PluginsSection::Managed(managed)) => {
            for (i, plugin) in managed.installed.iter().enumerate() {
                if let Some(spec) = installed(&directory, i, plugin, &mut catalog.missing) {
                    catalog.plugins.push(spec);
                }
            }
            if managed.auto_discover.unwrap_or(false) {
                for manifest in installed_in(&directory) {
                    if managed.installed.iter().any(|p| p.name == manifest.name) {
                        continue;
                    }
                    let home = directory.join(&manifest.name);
                    catalog.plugins.push(PluginSpec {
                        name: manifest.name.clone(),
                        file: home.join(COMPONENT),
                        bundled: None,
                        origin: Origin::Discovered,
                        hooks: Vec::new(),
                        config: BTreeMap::new(),
                        secrets: Vec::new(),
                        // A discovered plugin is granted nothing: only ralph.yaml grants.
                        capabilities: Vec::new(),
                        on_error: OnPluginError::FailOpen,
                        enabled: manifest.enabled,
                        limits: Limits::DEFAULT,
                        max_failures: DEFAULT_MAX_FAILURES,
                        manifest: Some(manifest),
                        version: None,
                        from: None,
                    });
                }
            }
        }
    }
    catalog
}
