//! What can go wrong with a plugin, always naming the plugin.

/// A plugin could not be loaded or called. The engine survives every one of these: the
/// plugin's `on_error` decides whether the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The component file cannot be read.
    #[error("plugin `{plugin}`: cannot read `{path}`: {source}")]
    Read {
        /// The plugin.
        plugin: String,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a component wasmtime can compile (corrupt, a core module, truncated).
    #[error("plugin `{plugin}` is not a valid WebAssembly component: {reason}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// Why, with what to do.
        reason: String,
    },
    /// The component was built against another major version of the plugin contract.
    #[error(
        "plugin `{plugin}` was built for `{found}`, but this engine loads `ralph:plugin@1.x`: rebuild it against ralph-plugin-sdk {sdk}"
    )]
    WrongVersion {
        /// The plugin.
        plugin: String,
        /// The contract it imports, e.g. `ralph:plugin/host@2.0.0`.
        found: String,
        /// The SDK version that builds compatible plugins.
        sdk: &'static str,
    },
    /// The component does not implement the plugin world (missing exports, other imports).
    #[error("plugin `{plugin}` is not a ralph-loop plugin: {reason}")]
    NotAPlugin {
        /// The plugin.
        plugin: String,
        /// What is missing.
        reason: String,
    },
    /// The call ran past its deadline.
    #[error("plugin `{plugin}` timed out after {timeout_ms} ms at `{hook}`")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The deadline.
        timeout_ms: u64,
    },
    /// The call used up its fuel (its budget of instructions).
    #[error("plugin `{plugin}` used up its fuel ({fuel} units) at `{hook}`")]
    OutOfFuel {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The fuel it had.
        fuel: u64,
    },
    /// The call wanted more memory than its limit.
    #[error("plugin `{plugin}` ran out of memory at `{hook}` (limit {limit_mib} MiB)")]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The limit.
        limit_mib: u64,
    },
    /// The plugin panicked.
    #[error("plugin `{plugin}` panicked at `{hook}`: {message}")]
    Panicked {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The panic's message and location.
        message: String,
    },
    /// The plugin trapped (an `unreachable`, a bad memory access, a stack overflow).
    #[error("plugin `{plugin}` trapped at `{hook}`: {message}")]
    Trapped {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The trap.
        message: String,
    },
    /// The plugin answered an error.
    #[error("plugin `{plugin}` failed at `{hook}`: {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// Its message.
        message: String,
    },
    /// The plugin answered something that is not a decision.
    #[error("plugin `{plugin}` answered something that is not a decision at `{hook}`: {reason}")]
    BadDecision {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// The engine could not set the call up.
    #[error("plugin `{plugin}`: {message}")]
    Host {
        /// The plugin.
        plugin: String,
        /// What failed.
        message: String,
    },
}

impl PluginError {
    /// The plugin it is about (empty when the host itself could not be set up).
    pub fn plugin(&self) -> &str {
        match self {
            PluginError::Read { plugin, .. }
            | PluginError::Invalid { plugin, .. }
            | PluginError::WrongVersion { plugin, .. }
            | PluginError::NotAPlugin { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::OutOfFuel { plugin, .. }
            | PluginError::OutOfMemory { plugin, .. }
            | PluginError::Panicked { plugin, .. }
            | PluginError::Trapped { plugin, .. }
            | PluginError::Failed { plugin, .. }
            | PluginError::BadDecision { plugin, .. }
            | PluginError::Host { plugin, .. } => plugin,
        }
    }

    /// A short name of the kind of failure, for the journal: `timeout`, `out_of_memory`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Read { .. } => "unreadable",
            PluginError::Invalid { .. } => "invalid",
            PluginError::WrongVersion { .. } => "wrong_version",
            PluginError::NotAPlugin { .. } => "not_a_plugin",
            PluginError::Timeout { .. } => "timeout",
            PluginError::OutOfFuel { .. } => "out_of_fuel",
            PluginError::OutOfMemory { .. } => "out_of_memory",
            PluginError::Panicked { .. } => "panic",
            PluginError::Trapped { .. } => "trap",
            PluginError::Failed { .. } => "error",
            PluginError::BadDecision { .. } => "bad_decision",
            PluginError::Host { .. } => "host",
        }
    }
}
