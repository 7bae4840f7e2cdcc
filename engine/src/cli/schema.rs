//! `ralph-loop schema workflow|config`

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::Exit;
use crate::workflow::schema::{SchemaKind, generate};

/// Which schema.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Which {
    /// Workflow files (a `workflow:` section is required).
    Workflow,
    /// `ralph.yaml` (every section optional).
    Config,
}

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file the schema describes.
    #[arg(value_enum)]
    pub which: Which,
    /// Write the schema to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The schema as pretty JSON with a trailing newline.
pub fn text(which: Which) -> String {
    let kind = match which {
        Which::Workflow => SchemaKind::Workflow,
        Which::Config => SchemaKind::Config,
    };
    let mut text = serde_json::to_string_pretty(&generate(kind)).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Prints or writes the schema.
pub fn run(args: &SchemaArgs) -> anyhow::Result<Exit> {
    let text = text(args.which);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        None => super::out(&text),
    }
    Ok(Exit::Ok)
}
