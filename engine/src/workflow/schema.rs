//! The JSON Schema of the language, generated from the model types.
//!
//! `ralph-loop schema workflow|config` prints it for editors; [`super::structure`] checks files
//! against the very same schema, so what an editor accepts is what the engine accepts.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::model::Document;

/// Which file the schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// A workflow file: it must have a `workflow:` section.
    Workflow,
    /// `ralph.yaml`: every section is optional.
    Config,
}

/// The JSON Schema (draft 2020-12) of a workflow file or of `ralph.yaml`.
pub fn generate(kind: SchemaKind) -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Document>();
    let mut value = schema.to_value();
    let object = value.as_object_mut().expect("a root schema is an object");
    let title = match kind {
        SchemaKind::Workflow => "ralph-loop workflow",
        SchemaKind::Config => "ralph-loop configuration (ralph.yaml)",
    };
    object.insert("title".into(), title.into());
    if kind == SchemaKind::Workflow {
        object.insert("required".into(), serde_json::json!(["workflow"]));
    }
    // The backend names a peer uses are accepted (with a note, see `structure.rs`): serde
    // takes them as aliases, which schemars does not list.
    if let Some(Value::Array(choices)) = value.pointer_mut("/$defs/Backend/oneOf") {
        for name in ["claude_code", "api"] {
            if let Some((peer, ours)) = super::model::backend_alias(name) {
                choices.push(serde_json::json!({
                    "type": "string",
                    "const": name,
                    "description": format!("{peer}'s name for `{ours}`: runs as `{ours}`, with a note."),
                }));
            }
        }
    }
    value
}
