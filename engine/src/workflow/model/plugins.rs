//! The `plugins:` section, in both of the seed's forms.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, Size};

/// Plugins: a list of plugins with their hooks, or a managed directory with registries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PluginsSection {
    /// Each plugin with its entry file, hooks and configuration; a bare name (or an entry
    /// without `entry`) is a plugin bundled with the engine, e.g. `[secret-guard]`.
    List(
        #[serde(deserialize_with = "entries")]
        #[schemars(with = "Vec<EntryOrName>")]
        Vec<PluginEntry>,
    ),
    /// A plugin directory, registries and installed plugins with version requirements.
    Managed(PluginRegistry),
}

/// The list form's items: a plugin's name alone, or its entry. The name alone deserializes
/// as an entry with only `name` set, so the rest of the engine sees one shape.
fn entries<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<PluginEntry>, D::Error> {
    let items: Vec<EntryOrName> = Deserialize::deserialize(deserializer)?;
    Ok(items.into_iter().map(|i| i.0).collect())
}

/// One item of the list form (see [`entries`]).
struct EntryOrName(PluginEntry);

impl<'de> Deserialize<'de> for EntryOrName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EntryOrName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a bundled plugin's name or a plugin entry (`name`, `entry`, `hooks`, `config`)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EntryOrName, E> {
                Ok(EntryOrName(PluginEntry { name: v.to_owned(), ..PluginEntry::default() }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EntryOrName, A::Error> {
                // Deserialized by the derived code, so its errors (unknown keys) stay as they are.
                PluginEntry::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(EntryOrName)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for EntryOrName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PluginEntryOrName".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let entry = generator.subschema_for::<PluginEntry>();
        schemars::json_schema!({
            "description": "A plugin bundled with the engine, by name (`secret-guard`, `budget-guard`, `notifier`, `metrics-exporter`), or a plugin entry.",
            "anyOf": [
                { "type": "string", "description": "The name of a plugin bundled with the engine." },
                entry
            ]
        })
    }
}

/// What a plugin does when it fails (trap, timeout, out of memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnPluginError {
    /// The run goes on as if the plugin had said `continue` (default).
    FailOpen,
    /// The step is vetoed.
    FailClosed,
}

/// One plugin of the list form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The plugin's name.
    pub name: String,
    /// The plugin's component file (`.wasm`) or module path; without it, the bundled plugin of
    /// that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The hooks it is called at, e.g. `workflow.on_start`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<String>,
    /// Configuration passed to the plugin; values may use `${VAR}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub config: IndexMap<String, serde_json::Value>,
    /// Whether it is called (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Capabilities granted: `veto`, `modify`, `notify`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// `fail_open` (default) or `fail_closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnPluginError>,
    /// Each call's wall-clock deadline (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Each call's memory limit, e.g. `64MiB` (the default; at most `1GiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Size>,
    /// Each call's fuel, about one unit per instruction (default 2000000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Consecutive failed calls after which the plugin is disabled for the run (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
}

/// The managed form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginRegistry {
    /// Where plugins are installed (default `./plugins`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// Load every plugin found in `directory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_discover: Option<bool>,
    /// Registries plugins are installed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry: Vec<RegistrySource>,
    /// Installed plugins with version requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installed: Vec<InstalledPlugin>,
}

/// A plugin registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySource {
    /// The registry's name, used by `from`.
    pub name: String,
    /// Its location: a directory or an https URL.
    pub url: String,
}

/// An installed plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalledPlugin {
    /// The plugin's name.
    pub name: String,
    /// A version requirement such as `^1.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The registry it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Whether it is called (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The hooks it is called at; defaults to those the plugin asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<String>,
    /// Configuration passed to the plugin.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub config: IndexMap<String, serde_json::Value>,
    /// Capabilities granted: `veto`, `modify`, `notify`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// `fail_open` (default) or `fail_closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnPluginError>,
    /// Each call's wall-clock deadline (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Each call's memory limit, e.g. `64MiB` (the default; at most `1GiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Size>,
    /// Each call's fuel, about one unit per instruction (default 2000000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Consecutive failed calls after which the plugin is disabled for the run (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
}
