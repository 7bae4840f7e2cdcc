//! The component side of the `ralph:plugin` world (wasm32 only): the generated bindings and
//! what [`register_plugin!`](crate::register_plugin) plugs a [`Plugin`] into. Not for direct
//! use; its items are public only because the macro expands in the plugin's crate.

#![allow(missing_docs, unsafe_code)]

use std::sync::Once;

pub use wit_bindgen;

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
    pub_export_macro: true,
    export_macro_name: "__export_plugin_world",
    default_bindings_module: "ralph_plugin_sdk::__guest",
    runtime_path: "ralph_plugin_sdk::__guest::wit_bindgen::rt",
});

pub use self::ralph::plugin::host as imports;

use crate::plugin::{Plugin, dispatch_json};

static PANIC_HOOK: Once = Once::new();

/// A panic aborts the instance (wasm has no unwinding); the message is logged first, so the
/// engine's error names what went wrong and where.
fn report_panics() {
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            imports::log(imports::Level::Error, &format!("plugin panicked: {info}"));
        }));
    });
}

/// The component's `describe` export.
pub fn describe<P: Plugin>() -> Descriptor {
    report_panics();
    let d = P::describe();
    Descriptor {
        name: d.name,
        version: d.version,
        description: d.description,
        hooks: d.hooks,
        capabilities: d.capabilities,
    }
}

/// The component's `on-hook` export.
pub fn on_hook<P: Plugin>(hook: &str, context_json: &str) -> Result<String, String> {
    report_panics();
    dispatch_json::<P>(hook, context_json)
}
