//! A component of `ralph:plugin@2.0.0` — a contract this engine does not speak — built with
//! `wit-bindgen` directly (the SDK only builds 1.x). Loading it must fail with a message that
//! names the contract it imports and says to rebuild it.

#![cfg(target_arch = "wasm32")]
// The generated export glue is `unsafe` by nature.
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({ world: "plugin", path: "wit" });

struct Future;

impl Guest for Future {
    fn describe() -> Descriptor {
        ralph::plugin::host::log(ralph::plugin::host::Level::Info, "from the future");
        Descriptor {
            name: "wrong-version".into(),
            version: "2.0.0".into(),
            description: "built for ralph:plugin@2.0.0".into(),
            hooks: vec!["phase.before_build".into()],
            capabilities: Vec::new(),
        }
    }

    fn on_hook(_hook: String, _context_json: String) -> Result<String, String> {
        Ok(r#"{"decision":"continue"}"#.into())
    }
}

export!(Future);
