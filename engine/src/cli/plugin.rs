//! `ralph-loop plugin …`: list, inspect, install, enable, disable, remove, scaffold and call
//! WebAssembly plugins. The work is in `crate::plugin`; this module parses, reports and picks
//! exit statuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ralph_plugin_sdk::{ContextKind, Hook};
use serde_json::json;

use super::exit::usage;
use super::{Env, Exit};
use crate::plugin::build::{self as plugin_build, BuildError};
use crate::plugin::bundled::{self, Bundled};
use crate::plugin::catalog::{self, Catalog, Manifest, Origin, PluginSpec};
use crate::plugin::install::{self, Install, InstallError, Registry};
use crate::plugin::source::{self, Language};
use crate::plugin::{
    CallEnv, CallOutput, Limits, Loaded, PluginError, Runtime, scaffold, scaffold_lang, toolchain,
};
use crate::workflow::model::{Document, PluginsSection};

/// `ralph-loop plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins: configured, installed, bundled with the engine, and configured ones that
    /// are missing.
    List(ListArgs),
    /// Load a plugin and show what it is: hooks, capabilities requested and granted, limits.
    Info(InfoArgs),
    /// Install a plugin from a path, a registry or an https URL.
    // `--version` is the version requirement here, not the program's version.
    #[command(disable_version_flag = true)]
    Install(InstallArgs),
    /// Enable an installed plugin.
    Enable(NameArgs),
    /// Disable an installed plugin (it stays installed).
    Disable(NameArgs),
    /// Remove an installed plugin.
    Remove(NameArgs),
    /// Create a new plugin (Rust, Python or JavaScript) that builds as it is.
    New(NewArgs),
    /// Build a plugin's source (Python, JavaScript, TypeScript or Rust) into a component.
    Build(BuildArgs),
    /// Call a plugin's hook in this process and report what it did (for trying and testing).
    Call(CallArgs),
}

/// Arguments of `plugin list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `plugin info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// An installed or configured plugin, or a `.wasm` file.
    #[arg(value_name = "NAME|FILE")]
    pub plugin: String,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `plugin install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// A plugin name (looked up in `plugins.registry`), a `.wasm` file, or an https URL of a
    /// component or of a registry's `index.json`.
    #[arg(value_name = "NAME|FILE|URL")]
    pub source: String,
    /// Install under this name instead of the plugin's own (from a file or URL), or the plugin
    /// to take from a registry index URL.
    #[arg(long)]
    pub name: Option<String>,
    /// The registry (a `plugins.registry` name) to look the plugin up in.
    #[arg(long, value_name = "REGISTRY")]
    pub from: Option<String>,
    /// A version requirement, e.g. `^1.0.0` (default: ralph.yaml's `installed[].version`).
    #[arg(long, value_name = "REQ")]
    pub version: Option<String>,
    /// The SHA-256 the component must have; required for a component URL.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

/// A plugin's name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The plugin.
    pub name: String,
}

/// Arguments of `plugin new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name, e.g. `commit-guard`.
    pub name: String,
    /// Where to create it (default: `./<name>`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The language it is written in.
    #[arg(long, value_enum, default_value_t = NewLang::Rust)]
    pub lang: NewLang,
}

/// The languages `plugin new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NewLang {
    /// A crate using the Rust SDK, built with cargo for `wasm32-wasip2`.
    Rust,
    /// `plugin.py` using `ralph.plugins`, built with componentize-py.
    Python,
    /// `plugin.js` using `ralph/plugins`, built with jco and componentize-js.
    #[value(alias = "js")]
    Javascript,
}

/// Arguments of `plugin build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A plugin's directory (`plugin.py`, `package.json` / `plugin.js` / `plugin.ts`,
    /// `Cargo.toml`) or its entry file (`.py`, `.js`, `.ts`).
    #[arg(value_name = "DIR|FILE", default_value = ".")]
    pub path: PathBuf,
    /// Where to write the component (default: `dist/<name>.wasm` in the plugin's directory).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `plugin call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// An installed or configured plugin, or a `.wasm` file.
    #[arg(value_name = "NAME|FILE")]
    pub plugin: String,
    /// The hook, e.g. `phase.before_build`.
    pub hook: String,
    /// The context as a JSON file (`-`: stdin); default: a sample context of the hook's kind.
    #[arg(long, value_name = "FILE")]
    pub context: Option<String>,
    /// A `config:` value for the call, over ralph.yaml's (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Call this many times, each in a fresh instance, and report timings and memory.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub times: u32,
    /// Each call's deadline, e.g. `50ms` (default: ralph.yaml's, else 1s).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Each call's memory limit, e.g. `16MiB` (default: ralph.yaml's, else 64MiB).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Each call's fuel (default: ralph.yaml's, else 2000000000).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `plugin` verb.
pub fn run(command: &PluginCommand, env: &Env) -> anyhow::Result<Exit> {
    if let PluginCommand::New(args) = command {
        return new(args, env);
    }
    if let PluginCommand::Build(args) = command {
        return build(args, env);
    }
    let project = Project::open(env)?;
    match command {
        PluginCommand::List(args) => list(args, &project),
        PluginCommand::Info(args) => info(args, &project, env),
        PluginCommand::Install(args) => install(args, &project, env),
        PluginCommand::Enable(args) => toggle(&args.name, true, &project, env),
        PluginCommand::Disable(args) => toggle(&args.name, false, &project, env),
        PluginCommand::Remove(args) => remove(&args.name, &project, env),
        PluginCommand::Call(args) => call(args, &project, env),
        PluginCommand::New(_) | PluginCommand::Build(_) => unreachable!("handled above"),
    }
}

/// The project as the plugin verbs see it: its ralph.yaml (none is an empty one) and catalog.
struct Project {
    dir: PathBuf,
    doc: Document,
    catalog: Catalog,
    cache: PathBuf,
}

impl Project {
    fn open(env: &Env) -> anyhow::Result<Project> {
        let doc = super::dashboard::project_document(None, env)?;
        let catalog = catalog::catalog(&env.project_dir, &doc);
        // Compiled components are cached next to the run store, not in it: `reset` need not
        // keep them, and a plugin is compiled once per project rather than once per command.
        let cache = env.project_dir.join(".ralph").join("cache").join("plugins");
        Ok(Project { dir: env.project_dir.clone(), doc, catalog, cache })
    }

    fn registries(&self) -> Vec<Registry> {
        match &self.doc.plugins {
            Some(PluginsSection::Managed(m)) => m
                .registry
                .iter()
                .map(|r| Registry { name: r.name.clone(), location: r.url.clone() })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn spec(&self, name: &str) -> Option<&PluginSpec> {
        self.catalog.plugins.iter().find(|p| p.name == name)
    }

    /// The project-relative form of `path`, for messages.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir).unwrap_or(path).display().to_string()
    }
}

fn origin(spec: &PluginSpec) -> &'static str {
    match &spec.origin {
        _ if spec.bundled.is_some() => "bundled (in ralph.yaml)",
        Origin::Listed(_) => "ralph.yaml (entry)",
        Origin::Installed(_) => "installed",
        Origin::Discovered => "discovered",
    }
}

fn joined(items: &[String]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.join(",") }
}

fn list(args: &ListArgs, project: &Project) -> anyhow::Result<Exit> {
    let mut rows = Vec::new();
    for spec in &project.catalog.plugins {
        let manifest = spec.manifest.as_ref();
        let bundled = spec.bundled;
        let own_hooks = || match (manifest, bundled) {
            (Some(m), _) => m.hooks.clone(),
            (None, Some(b)) => b.hooks.iter().map(|h| (*h).to_owned()).collect(),
            (None, None) => Vec::new(),
        };
        let hooks = if spec.hooks.is_empty() { own_hooks() } else { spec.hooks.clone() };
        let version = manifest.map(|m| m.version.clone()).or(bundled.map(|b| b.version.to_owned()));
        rows.push(json!({
            "name": spec.name,
            "version": version,
            "enabled": spec.enabled,
            "hooks": hooks,
            "granted": spec.capabilities,
            "origin": origin(spec),
            "bundled": bundled.is_some(),
            "file": project.shown(&spec.file),
        }));
    }
    // Installed plugins ralph.yaml does not configure: they are not called, but they are there.
    for manifest in catalog::installed_in(&project.catalog.directory) {
        if project.spec(&manifest.name).is_some() {
            continue;
        }
        rows.push(json!({
            "name": manifest.name,
            "version": manifest.version,
            "enabled": manifest.enabled,
            "hooks": manifest.hooks,
            "granted": [],
            "origin": "installed, not in ralph.yaml",
            "bundled": false,
            "file": project.shown(&project.catalog.directory.join(&manifest.name).join(catalog::COMPONENT)),
        }));
    }
    // The plugins shipped in the binary that ralph.yaml does not enable: `plugins: [NAME]` does.
    for b in bundled::ALL {
        if project.spec(b.name).is_some() || rows.iter().any(|r| r["name"] == b.name) {
            continue;
        }
        rows.push(json!({
            "name": b.name,
            "version": b.version,
            "enabled": false,
            "hooks": b.hooks,
            "granted": [],
            "origin": "bundled (not in ralph.yaml)",
            "bundled": true,
            "file": catalog::bundled_file(b.name).display().to_string(),
        }));
    }
    let missing: Vec<_> =
        project.catalog.missing.iter().map(|m| json!({"name": m.name, "reason": m.reason})).collect();
    if args.json {
        let doc = json!({
            "directory": project.shown(&project.catalog.directory),
            "plugins": rows,
            "missing": missing,
        });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(Exit::Ok);
    }
    if rows.is_empty() && missing.is_empty() {
        super::out(&format!(
            "no plugins (none configured in ralph.yaml, none installed in `{}`)\n",
            project.shown(&project.catalog.directory)
        ));
        return Ok(Exit::Ok);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => {
            joined(&a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect::<Vec<_>>())
        }
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        _ => "-".to_owned(),
    };
    let columns = ["name", "version", "enabled", "hooks", "granted", "origin", "file"];
    let table: Vec<Vec<String>> =
        rows.iter().map(|r| columns.iter().map(|c| text(&r[*c])).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).max(c.len()))
        .collect();
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = String::new();
    if !table.is_empty() {
        out.push_str(&line(columns.iter().map(|c| c.to_uppercase()).collect()));
        for row in table {
            out.push_str(&line(row));
        }
    }
    for m in &project.catalog.missing {
        out.push_str(&format!("missing: {}: {}\n", m.name, m.reason));
    }
    super::out(&out);
    Ok(Exit::Ok)
}

/// A plugin to load: where its component is and what ralph.yaml says of it.
struct Target {
    name: String,
    file: PathBuf,
    spec: Option<PluginSpec>,
    manifest: Option<Manifest>,
    bundled: Option<&'static Bundled>,
}

/// Finds `plugin`: a `.wasm` file, a plugin of the catalog, or one installed in the directory.
fn target(plugin: &str, project: &Project) -> Result<Target, String> {
    let as_path = Path::new(plugin);
    let looks_like_file =
        plugin.ends_with(".wasm") || plugin.contains('/') || Language::of_file(as_path).is_some();
    if looks_like_file {
        if !as_path.is_file() {
            return Err(format!("`{plugin}` is not a file"));
        }
        let name = as_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let file = built_entry(project, as_path)?;
        return Ok(Target { name, file, spec: None, manifest: None, bundled: None });
    }
    if let Some(spec) = project.spec(plugin) {
        return Ok(Target {
            name: spec.name.clone(),
            file: built_entry(project, &spec.file)?,
            spec: Some(spec.clone()),
            manifest: spec.manifest.clone(),
            bundled: spec.bundled,
        });
    }
    let home = project.catalog.directory.join(plugin);
    if let Ok(manifest) = Manifest::read(&home) {
        return Ok(Target {
            name: plugin.to_owned(),
            file: home.join(catalog::COMPONENT),
            spec: None,
            manifest: Some(manifest),
            bundled: None,
        });
    }
    if let Some(b) = bundled::get(plugin) {
        return Ok(Target {
            name: plugin.to_owned(),
            file: catalog::bundled_file(plugin),
            spec: None,
            manifest: None,
            bundled: Some(b),
        });
    }
    if let Some(missing) = project.catalog.missing.iter().find(|m| m.name == plugin) {
        return Err(format!("plugin `{plugin}` cannot be loaded: {}", missing.reason));
    }
    Err(format!(
        "no plugin `{plugin}`: it is not bundled, not configured in ralph.yaml and not installed in `{}` (`ralph-loop plugin list` shows the plugins; give a path to a `.wasm` file to load one directly)",
        project.shown(&project.catalog.directory)
    ))
}

/// The component of a plugin file: the file itself, or — a Python, JavaScript or TypeScript
/// source — its build (cached in the project's `.ralph/cache/plugins/builds/`, as a run's).
fn built_entry(project: &Project, file: &Path) -> Result<PathBuf, String> {
    match source::of_entry(&project.dir, file) {
        None => Ok(file.to_path_buf()),
        Some(source) => {
            plugin_build::build(&source, &project.cache.join("builds"), &|t: &str| eprintln!("{t}"))
                .map(|b| b.wasm)
                .map_err(|e| e.to_string())
        }
    }
}

/// Loads a target, checking an installed component against its manifest's checksum.
fn load(target: &Target, limits: Limits, project: &Project) -> Result<(Loaded, u64), PluginError> {
    let (bytes, cache) = match target.bundled {
        Some(b) => (std::borrow::Cow::Borrowed(b.bytes), bundled::cache_dir()),
        None => {
            let bytes = std::fs::read(&target.file).map_err(|source| PluginError::Read {
                plugin: target.name.clone(),
                path: target.file.display().to_string(),
                source,
            })?;
            (std::borrow::Cow::Owned(bytes), None)
        }
    };
    let cache = cache.unwrap_or_else(|| project.cache.clone());
    let loaded = Runtime::shared()?.load(&target.name, &bytes, Some(&cache), limits)?;
    if let Some(manifest) = &target.manifest {
        if !manifest.sha256.eq_ignore_ascii_case(loaded.sha256()) {
            return Err(PluginError::Invalid {
                plugin: target.name.clone(),
                reason: format!(
                    "`{}` changed since it was installed (its SHA-256 is {}, the manifest says {}): reinstall it with `ralph-loop plugin install`",
                    project.shown(&target.file),
                    loaded.sha256(),
                    manifest.sha256
                ),
            });
        }
    }
    Ok((loaded, bytes.len() as u64))
}

/// Says a plugin cannot be loaded; that is not a usage error but the plugin's fault (an
/// invalid plugin).
fn cannot_load(env: &Env, error: &PluginError) -> Exit {
    super::say_error(env, &error.to_string());
    Exit::Invalid
}

fn info(args: &InfoArgs, project: &Project, env: &Env) -> anyhow::Result<Exit> {
    let target = match target(&args.plugin, project) {
        Ok(t) => t,
        Err(message) => return Err(usage(message)),
    };
    let limits = target.spec.as_ref().map_or(Limits::DEFAULT, |s| s.limits);
    let (loaded, size) = match load(&target, limits, project) {
        Ok(l) => l,
        Err(e) => return Ok(cannot_load(env, &e)),
    };
    let d = loaded.descriptor();
    let spec = target.spec.as_ref();
    let granted: Vec<String> = spec.map(|s| s.capabilities.clone()).unwrap_or_default();
    let hooks: Vec<String> = match spec {
        Some(s) if !s.hooks.is_empty() => s.hooks.clone(),
        _ => d.hooks.clone(),
    };
    let config_keys: Vec<String> = spec.map(|s| s.config.keys().cloned().collect()).unwrap_or_default();
    let enabled = spec.map(|s| s.enabled).or(target.manifest.as_ref().map(|m| m.enabled));
    let configured = spec.map(origin);
    if args.json {
        let doc = json!({
            "name": target.name,
            "file": project.shown(&target.file),
            "size": size,
            "sha256": loaded.sha256(),
            "descriptor": d,
            "hooks": hooks,
            "requested": d.capabilities,
            "granted": granted,
            "config": config_keys,
            "enabled": enabled,
            "configured": configured,
            "source": target.manifest.as_ref().map(|m| m.source.clone()),
            "limits": {
                "memory_bytes": limits.memory_bytes,
                "fuel": limits.fuel,
                "timeout_ms": limits.timeout.as_millis() as u64,
            },
        });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(Exit::Ok);
    }
    let mut out = format!("{} {}\n", d.name, d.version);
    if !d.description.is_empty() {
        out.push_str(&format!("  {}\n", d.description));
    }
    out.push_str(&format!("file:         {} ({size} bytes)\n", project.shown(&target.file)));
    out.push_str(&format!("sha256:       {}\n", loaded.sha256()));
    if let Some(m) = &target.manifest {
        out.push_str(&format!("installed:    from {} at {}\n", m.source, m.installed_at));
    }
    out.push_str(&format!("configured:   {}\n", configured.unwrap_or("no (not in ralph.yaml)")));
    if let Some(enabled) = enabled {
        out.push_str(&format!("enabled:      {}\n", if enabled { "yes" } else { "no" }));
    }
    out.push_str(&format!("hooks:        {}\n", joined(&hooks)));
    out.push_str(&format!("requests:     {}\n", joined(&d.capabilities)));
    out.push_str(&format!("granted:      {}\n", joined(&granted)));
    let ungranted: Vec<String> = d.capabilities.iter().filter(|c| !granted.contains(c)).cloned().collect();
    if !ungranted.is_empty() && target.bundled.is_some() && spec.is_none() {
        out.push_str(&format!(
            "  note: bundled with the engine; `plugins: [{}]` in ralph.yaml enables it with {}\n",
            target.name,
            ungranted.join(", ")
        ));
    } else if !ungranted.is_empty() {
        out.push_str(&format!(
            "  note: not granted: {}; ralph.yaml grants them with `capabilities: [{}]`\n",
            ungranted.join(", "),
            d.capabilities.join(", ")
        ));
    }
    out.push_str(&format!("config:       {}\n", joined(&config_keys)));
    out.push_str(&format!(
        "limits:       {} MiB memory, {} fuel, {} ms per call\n",
        limits.memory_bytes >> 20,
        limits.fuel,
        limits.timeout.as_millis()
    ));
    super::out(&out);
    Ok(Exit::Ok)
}

/// Reports an install error: the plugin's own failures (checksum, invalid component, a
/// damaged manifest) exit 3, what could not be read, written or downloaded exits 4, what the
/// command was asked wrongly exits 2.
fn install_failed(env: &Env, error: &InstallError) -> Exit {
    super::say_error(env, &error.to_string());
    match error {
        InstallError::Checksum { .. } | InstallError::Plugin(_) => {
            eprintln!("note: nothing was installed");
            Exit::Invalid
        }
        InstallError::Manifest(_) | InstallError::OutsideRegistry { .. } => Exit::Invalid,
        InstallError::Read { source, .. } if source.kind() != std::io::ErrorKind::NotFound => {
            Exit::Environment
        }
        InstallError::Fetch { .. } | InstallError::Registry { .. } | InstallError::Write { .. } => {
            Exit::Environment
        }
        _ => Exit::Usage,
    }
}

fn install(args: &InstallArgs, project: &Project, env: &Env) -> anyhow::Result<Exit> {
    match fetch_and_install(args, project) {
        Ok(manifest) => {
            let home = project.catalog.directory.join(&manifest.name);
            let mut out = format!(
                "installed {} {} into {} (sha256 {})\n",
                manifest.name,
                manifest.version,
                project.shown(&home),
                manifest.sha256
            );
            out.push_str(&format!("  hooks: {}\n", joined(&manifest.hooks)));
            let configured = project.spec(&manifest.name);
            if !manifest.capabilities.is_empty() {
                let granted = configured.map(|s| s.capabilities.clone()).unwrap_or_default();
                out.push_str(&format!(
                    "  requests: {} (granted: {})\n",
                    manifest.capabilities.join(", "),
                    joined(&granted)
                ));
            }
            if configured.is_none() {
                out.push_str(&format!(
                    "  note: ralph.yaml does not configure it yet, so runs do not call it; add\n    plugins:\n      installed:\n        - name: {}\n          capabilities: [{}]\n",
                    manifest.name,
                    manifest.capabilities.join(", ")
                ));
            }
            super::out(&out);
            Ok(Exit::Ok)
        }
        Err(e) => Ok(install_failed(env, &e)),
    }
}

fn fetch_and_install(args: &InstallArgs, project: &Project) -> Result<Manifest, InstallError> {
    let dir = &project.catalog.directory;
    let request = |bytes, name, source| Install { bytes, name, source, cache_dir: Some(&project.cache) };
    let source = args.source.as_str();
    if install::is_url(source) && !source.ends_with(".json") {
        let Some(expected) = &args.sha256 else {
            return Err(InstallError::Unverified { url: source.to_owned() });
        };
        let bytes = install::fetch(source)?;
        install::verify(&bytes, source, expected, "--sha256")?;
        return install::install(dir, &request(&bytes, args.name.as_deref(), source.to_owned()));
    }
    let path = project.dir.join(source);
    let is_path =
        !install::is_url(source) && (source.ends_with(".wasm") || source.contains('/') || path.is_file());
    if is_path {
        let bytes = install::read_local(&path)?;
        if let Some(expected) = &args.sha256 {
            install::verify(&bytes, source, expected, "--sha256")?;
        }
        let shown = std::fs::canonicalize(&path).unwrap_or(path).display().to_string();
        return install::install(dir, &request(&bytes, args.name.as_deref(), shown));
    }
    // A registry: an index URL given directly, or ralph.yaml's registries.
    let (name, registries) = if install::is_url(source) {
        let registry = Registry { name: source.to_owned(), location: source.to_owned() };
        let name = match &args.name {
            Some(n) => n.clone(),
            None => {
                let index = registry.index(&project.dir)?;
                let mut names: Vec<&str> = index.plugins.iter().map(|p| p.name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                match names.as_slice() {
                    [one] => (*one).to_owned(),
                    _ => {
                        return Err(InstallError::NoRegistry(format!(
                            "the index `{source}` lists {}: say which with `--name`",
                            if names.is_empty() { "no plugin".to_owned() } else { names.join(", ") }
                        )));
                    }
                }
            }
        };
        (name, vec![registry])
    } else {
        (source.to_owned(), project.registries())
    };
    // What ralph.yaml's `installed` says of the plugin fills in what the command line leaves out.
    let configured = match &project.doc.plugins {
        Some(PluginsSection::Managed(m)) => m.installed.iter().find(|p| p.name == name),
        _ => None,
    };
    let from = args.from.clone().or_else(|| configured.and_then(|c| c.from.clone()));
    let requirement = args.version.clone().or_else(|| configured.and_then(|c| c.version.clone()));
    let registries: Vec<Registry> = match &from {
        Some(wanted) if !install::is_url(source) => {
            let found: Vec<Registry> = registries.iter().filter(|r| &r.name == wanted).cloned().collect();
            if found.is_empty() {
                return Err(InstallError::NoRegistry(format!(
                    "ralph.yaml has no registry `{wanted}` under `plugins.registry` (it has: {})",
                    joined(&registries.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
                )));
            }
            found
        }
        _ => registries,
    };
    if registries.is_empty() {
        return Err(InstallError::NoRegistry(format!(
            "`{name}` is not a file, and ralph.yaml has no `plugins.registry` to look it up in: give a path to a `.wasm` file, an https URL with `--sha256`, or add a registry (`registry: [{{name: local, url: ./registry}}]`)"
        )));
    }
    let (registry, entry) = install::choose(&project.dir, &registries, &name, requirement.as_deref())?;
    let bytes = registry.component(&project.dir, &entry)?;
    if let Some(expected) = &args.sha256 {
        install::verify(&bytes, &entry.path, expected, "--sha256")?;
    }
    let source = format!("registry:{}", registry.name);
    install::install(dir, &request(&bytes, Some(&entry.name), source))
}

/// Refuses to change a plugin configured with `entry:`: ralph.yaml is its only switch.
fn listed_refusal(name: &str, project: &Project, what: &str) -> Option<String> {
    let spec = project.spec(name)?;
    matches!(spec.origin, Origin::Listed(_)).then(|| {
        format!(
            "plugin `{name}` is configured with `entry:` in ralph.yaml, not installed: {what} (`plugin {}` only changes installed plugins)",
            if what.contains("enabled") { "enable/disable" } else { "remove" }
        )
    })
}

fn toggle(name: &str, enabled: bool, project: &Project, env: &Env) -> anyhow::Result<Exit> {
    let word = if enabled { "enabled" } else { "disabled" };
    if let Some(message) =
        listed_refusal(name, project, &format!("set `enabled: {enabled}` on it in ralph.yaml instead"))
    {
        return Err(usage(message));
    }
    match install::set_enabled(&project.catalog.directory, name, enabled) {
        Ok(changed) => {
            let mut out =
                if changed { format!("{name}: {word}\n") } else { format!("{name}: already {word}\n") };
            let yaml_off = match &project.doc.plugins {
                Some(PluginsSection::Managed(m)) => {
                    m.installed.iter().any(|p| p.name == name && p.enabled == Some(false))
                }
                _ => false,
            };
            if enabled && yaml_off {
                out.push_str(&format!(
                    "  note: ralph.yaml sets `enabled: false` for `{name}`, which still keeps it off\n"
                ));
            }
            super::out(&out);
            Ok(Exit::Ok)
        }
        Err(e) => Ok(install_failed(env, &e)),
    }
}

fn remove(name: &str, project: &Project, env: &Env) -> anyhow::Result<Exit> {
    if let Some(message) = listed_refusal(name, project, "remove it from ralph.yaml instead") {
        return Err(usage(message));
    }
    match install::remove(&project.catalog.directory, name) {
        Ok(manifest) => {
            let mut out = format!("removed {name} {}\n", manifest.version);
            if matches!(project.spec(name).map(|s| &s.origin), Some(Origin::Installed(_))) {
                out.push_str(&format!(
                    "  note: ralph.yaml still lists `{name}` under `plugins.installed`: runs will report it missing until it is reinstalled or taken out\n"
                ));
            }
            super::out(&out);
            Ok(Exit::Ok)
        }
        Err(e) => Ok(install_failed(env, &e)),
    }
}

fn new(args: &NewArgs, env: &Env) -> anyhow::Result<Exit> {
    let dir = match &args.dir {
        Some(d) if d.is_relative() => env.project_dir.join(d),
        Some(d) => d.clone(),
        None => env.project_dir.join(&args.name),
    };
    let lang = match args.lang {
        NewLang::Rust => None,
        NewLang::Python => Some(scaffold_lang::Lang::Python),
        NewLang::Javascript => Some(scaffold_lang::Lang::JavaScript),
    };
    if let Some(lang) = lang {
        let files = scaffold_lang::scaffold(&args.name, lang, &dir).map_err(usage)?;
        let (language, install) = match lang {
            scaffold_lang::Lang::Python => ("Python", toolchain::install_command(Language::Python)),
            scaffold_lang::Lang::JavaScript => {
                ("JavaScript", format!("(cd {} && npm install)", dir.display()))
            }
        };
        let mut out = format!("created {language} plugin `{}` in {}\n", args.name, dir.display());
        for f in &files {
            out.push_str(&format!("  {}\n", f.display()));
        }
        out.push_str(&format!(
            "toolchain:  {install}\nbuild it:   ralph-loop plugin build {dir}\nthen point `entry:` in ralph.yaml at it and grant it `veto` (see {dir}/README.md)\n",
            dir = dir.display(),
        ));
        super::out(&out);
        return Ok(Exit::Ok);
    }
    match scaffold::scaffold(&args.name, &dir) {
        Ok(files) => {
            let mut out = format!("created plugin crate `{}` in {}\n", args.name, dir.display());
            for f in files.iter().filter(|f| !f.starts_with("vendor")) {
                out.push_str(&format!("  {}\n", f.display()));
            }
            out.push_str("  vendor/ralph-plugin-sdk/  (the SDK of this ralph-loop)\n");
            out.push_str(&format!(
                "build it:   (cd {dir} && cargo build --target wasm32-wasip2 --release)\ninstall it: ralph-loop plugin install {dir}/target/wasm32-wasip2/release/{}.wasm\nthen grant it `veto` in ralph.yaml (see {dir}/README.md)\n",
                args.name.replace('-', "_"),
                dir = dir.display(),
            ));
            super::out(&out);
            Ok(Exit::Ok)
        }
        Err(e) => Err(usage(e)),
    }
}

/// A sample context for `hook`, as a run would give it.
fn sample_context(hook: &Hook) -> serde_json::Value {
    let now = crate::clock::now();
    match hook.context_kind() {
        ContextKind::Workflow => json!({
            "kind": "workflow", "workflow_name": "sample", "iteration": 1, "started_at": now,
            "run_id": "plugin-call",
        }),
        ContextKind::Phase => json!({
            "kind": "phase", "phase": hook.phase().unwrap_or("build"), "agent": "builder",
            "iteration": 1, "started_at": now, "step": hook.phase().unwrap_or("build"),
        }),
        ContextKind::State => json!({
            "kind": "state", "from_state": "planning", "to_state": "building",
            "trigger": "plugin call", "timestamp": now,
        }),
    }
}

/// The process's resident memory in KiB (Linux; `None` elsewhere).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn output_json(result: &Result<CallOutput, PluginError>) -> serde_json::Value {
    match result {
        Ok(out) => {
            let (decision, answer_error) = match &out.decision {
                Some(Ok(text)) => (
                    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.clone())),
                    None,
                ),
                Some(Err(e)) => (serde_json::Value::Null, Some(e.clone())),
                None => (serde_json::Value::Null, None),
            };
            json!({
                "ok": true,
                "decision": decision,
                "plugin_error": answer_error,
                "logs": out.logs.iter().map(|l| json!({"level": l.level, "message": l.message})).collect::<Vec<_>>(),
                "metrics": out.metrics.iter().map(|m| json!({"name": m.name, "value": m.value, "labels": m.labels})).collect::<Vec<_>>(),
                "notifications": out.notifications.iter().map(|n| json!({"url": n.url, "body": n.body})).collect::<Vec<_>>(),
                "refused": out.refused,
            })
        }
        Err(e) => json!({"ok": false, "error": e.to_string(), "kind": e.kind()}),
    }
}

fn output_text(result: &Result<CallOutput, PluginError>) -> String {
    let mut s = String::new();
    match result {
        Ok(out) => {
            match &out.decision {
                Some(Ok(text)) => s.push_str(&format!("decision: {text}\n")),
                Some(Err(e)) => s.push_str(&format!("the plugin answered an error: {e}\n")),
                None => s.push_str("no decision\n"),
            }
            for l in &out.logs {
                s.push_str(&format!("log {}: {}\n", l.level, l.message));
            }
            for m in &out.metrics {
                let labels: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let line = format!("metric {} = {} {}", m.name, m.value, labels.join(","));
                s.push_str(line.trim_end());
                s.push('\n');
            }
            for n in &out.notifications {
                s.push_str(&format!("notify {} {}\n", n.url, n.body));
            }
            for r in &out.refused {
                s.push_str(&format!("refused: {r}\n"));
            }
        }
        Err(e) => s.push_str(&format!("failed ({}): {e}\n", e.kind())),
    }
    s
}

fn call(args: &CallArgs, project: &Project, env: &Env) -> anyhow::Result<Exit> {
    let hook: Hook = match args.hook.parse() {
        Ok(h) => h,
        Err(e) => return Err(usage(format!("{e}"))),
    };
    let target = match target(&args.plugin, project) {
        Ok(t) => t,
        Err(message) => return Err(usage(message)),
    };
    let mut limits = target.spec.as_ref().map_or(Limits::DEFAULT, |s| s.limits);
    if let Some(t) = &args.timeout {
        match crate::workflow::model::Duration::parse(t) {
            Ok(d) => limits.timeout = d.0,
            Err(e) => return Err(usage(format!("--timeout: {e}"))),
        }
    }
    if let Some(m) = &args.memory {
        match crate::workflow::model::Size::parse(m) {
            Ok(s) => limits.memory_bytes = s.0.min(crate::plugin::runtime::MAX_MEMORY as u64),
            Err(e) => return Err(usage(format!("--memory: {e}"))),
        }
    }
    if let Some(f) = args.fuel {
        limits.fuel = f;
    }
    let mut config: BTreeMap<String, String> =
        target.spec.as_ref().map(|s| s.config.clone()).unwrap_or_default();
    for pair in &args.config {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(usage(format!("--config `{pair}`: expected KEY=VALUE")));
        };
        config.insert(k.to_owned(), v.to_owned());
    }
    let context = match &args.context {
        None => sample_context(&hook).to_string(),
        Some(file) => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read the context from stdin")?
            } else {
                std::fs::read_to_string(file).with_context(|| format!("cannot read `{file}`"))?
            };
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                return Err(usage(format!("the context `{file}` is not JSON: {e}")));
            }
            text
        }
    };
    if args.times == 0 {
        return Err(usage("--times must be at least 1"));
    }
    let (loaded, _) = match load(&target, limits, project) {
        Ok(l) => l,
        Err(e) => return Ok(cannot_load(env, &e)),
    };
    let call_env = CallEnv {
        config: Arc::new(config),
        notify: target.spec.as_ref().is_some_and(|s| s.grants("notify")),
    };
    let hook_name = hook.as_str().into_owned();
    let times = args.times;
    // Memory is measured once the first tenth of the calls ran (the engine's pools and caches
    // are warm by then) and again at the end: a per-call leak shows as growth in between.
    let warmup = (times / 10).max(1);
    let mut first = None;
    let mut last = None;
    let mut durations: Vec<Duration> = Vec::with_capacity(times as usize);
    let mut failures: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut rss_warm = None;
    for i in 0..times {
        let started = Instant::now();
        let result = loaded.call(&hook_name, &context, call_env.clone());
        durations.push(started.elapsed());
        if let Err(e) = &result {
            *failures.entry(e.kind()).or_default() += 1;
        }
        if i == 0 {
            first = Some(result);
        } else {
            last = Some(result);
        }
        if i + 1 == warmup {
            rss_warm = rss_kib();
        }
    }
    let rss_end = rss_kib();
    durations.sort_unstable();
    let median = durations[durations.len() / 2];
    let failed: u32 = failures.values().sum();
    let first = first.expect("at least one call");
    if args.json {
        let mut doc = json!({
            "plugin": target.name,
            "hook": hook_name,
            "calls": times,
            "ok": times - failed,
            "failed": failed,
            "failures": failures,
            "median_us": median.as_micros() as u64,
            "first": output_json(&first),
        });
        if times > 1 {
            doc["last"] = output_json(last.as_ref().expect("more than one call"));
            doc["rss_kib_after_warmup"] = json!(rss_warm);
            doc["rss_kib_end"] = json!(rss_end);
            doc["warmup_calls"] = json!(warmup);
        }
        super::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(Exit::Ok);
    }
    let mut out = output_text(&first);
    if times > 1 {
        out.push_str(&format!("\n{times} calls: {} ok, {failed} failed", times - failed));
        if !failures.is_empty() {
            let kinds: Vec<String> = failures.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            out.push_str(&format!(" ({})", kinds.join(", ")));
        }
        out.push_str(&format!("\nmedian call: {:.3} ms\n", median.as_secs_f64() * 1000.0));
        if let (Some(warm), Some(end)) = (rss_warm, rss_end) {
            out.push_str(&format!(
                "resident memory: {:.1} MiB after {warmup} calls, {:.1} MiB after {times} ({:+.1} MiB)\n",
                warm as f64 / 1024.0,
                end as f64 / 1024.0,
                (end as f64 - warm as f64) / 1024.0
            ));
        }
    }
    super::out(&out);
    Ok(Exit::Ok)
}

/// Where `plugin build` keeps its cache for a plugin in `root`: `build/` next to its sources.
fn build_cache(root: &Path) -> PathBuf {
    root.join("build")
}

/// Says a build failed: a missing toolchain is the environment's (4), a plugin that does not
/// build is invalid (3), a path that is no plugin is a usage error (2).
fn build_failed(env: &Env, error: &BuildError) -> Exit {
    super::say_error(env, &error.to_string());
    match error {
        BuildError::Source(_) => Exit::Usage,
        BuildError::Toolchain(_) | BuildError::Io { .. } | BuildError::TimedOut { .. } => Exit::Environment,
        BuildError::Failed { .. } | BuildError::TooLarge { .. } => Exit::Invalid,
    }
}

fn build(args: &BuildArgs, env: &Env) -> anyhow::Result<Exit> {
    let path = if args.path.is_relative() { env.project_dir.join(&args.path) } else { args.path.clone() };
    let source = match source::detect(&path) {
        Ok(s) => s,
        Err(e) => return Ok(build_failed(env, &BuildError::Source(e))),
    };
    let built = match plugin_build::build(&source, &build_cache(&source.root), &|t: &str| eprintln!("{t}")) {
        Ok(b) => b,
        Err(e) => return Ok(build_failed(env, &e)),
    };
    let output = match &args.output {
        Some(o) if o.is_relative() => env.project_dir.join(o),
        Some(o) => o.clone(),
        None => source.root.join("dist").join(format!("{}.wasm", source.name)),
    };
    let bytes =
        std::fs::read(&built.wasm).with_context(|| format!("cannot read `{}`", built.wasm.display()))?;
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    let unchanged = std::fs::read(&output).is_ok_and(|old| old == bytes);
    if !unchanged {
        crate::atomic_file::write(&output, &bytes)
            .with_context(|| format!("cannot write `{}`", output.display()))?;
    }
    let shown = output.strip_prefix(&env.project_dir).unwrap_or(&output).display().to_string();
    if args.json {
        let doc = json!({
            "language": source.language.name(),
            "entry": source.entry.strip_prefix(&env.project_dir).unwrap_or(&source.entry).display().to_string(),
            "output": shown,
            "size": bytes.len(),
            "sha256": crate::plugin::cache::sha256_hex(&bytes),
            "toolchain": built.toolchain,
            "cached": !built.fresh,
            "seconds": built.seconds,
        });
        super::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(Exit::Ok);
    }
    let how = if built.fresh {
        format!("built in {:.1} s", built.seconds)
    } else {
        "up to date (cached build)".to_owned()
    };
    super::out(&format!(
        "{shown}: {} plugin, {how} with {} ({:.1} MB)\n",
        source.language.name(),
        built.toolchain,
        bytes.len() as f64 / 1e6
    ));
    Ok(Exit::Ok)
}
