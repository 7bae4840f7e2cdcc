//! What a plugin can ask of the engine: log lines, metrics, its configuration, and
//! notifications. Nothing else is granted (no files, no network, no environment).
//!
//! Compiled natively (a plugin's unit tests), log lines go to standard error, metrics and
//! notifications are dropped, and [`config`] reads what [`set_config`] set.

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Tracing detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something is wrong.
    Error,
}

/// Writes a line to the engine's log (`.ralph/runs/<id>/plugins.log` and the run's output),
/// under the plugin's name.
pub fn log(level: Level, message: &str) {
    imp::log(level, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Reports a measurement; the engine records it with the plugin's name as a label.
pub fn emit_metric(name: &str, value: f64, labels: &[(&str, &str)]) {
    imp::emit_metric(name, value, labels);
}

/// A value of the plugin's `config:` in `ralph.yaml`: strings as they are, other values as
/// JSON text; `None` when the key is not set.
pub fn config(key: &str) -> Option<String> {
    imp::config(key)
}

/// A `config:` value parsed as `T` (strings as they are, other values from their JSON);
/// `None` when absent or not a `T`.
pub fn config_as<T: std::str::FromStr>(key: &str) -> Option<T> {
    config(key)?.trim().parse().ok()
}

/// Asks the engine to POST `body` (JSON) to `url` after the call; refused unless `ralph.yaml`
/// grants the plugin the `notify` capability.
///
/// # Errors
///
/// When the capability is not granted or the URL is not `http(s)`.
pub fn notify(url: &str, body: &str) -> Result<(), String> {
    imp::notify(url, body)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::guest::imports as host;

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }

    pub fn emit_metric(name: &str, value: f64, labels: &[(&str, &str)]) {
        let labels: Vec<(String, String)> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        host::emit_metric(name, value, &labels);
    }

    pub fn config(key: &str) -> Option<String> {
        host::config_get(key)
    }

    pub fn notify(url: &str, body: &str) -> Result<(), String> {
        host::notify(url, body)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::Level;

    thread_local! {
        static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn log(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    pub fn emit_metric(_name: &str, _value: f64, _labels: &[(&str, &str)]) {}

    pub fn config(key: &str) -> Option<String> {
        CONFIG.with(|c| c.borrow().get(key).cloned())
    }

    pub fn set(key: &str, value: &str) {
        CONFIG.with(|c| c.borrow_mut().insert(key.to_owned(), value.to_owned()));
    }

    pub fn notify(_url: &str, _body: &str) -> Result<(), String> {
        Err("no engine: notifications are sent only inside ralph-loop".into())
    }
}

/// Natively (in a plugin's unit tests): sets what [`config`] returns for `key` on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_config(key: &str, value: &str) {
    imp::set(key, value);
}
