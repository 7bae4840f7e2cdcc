//! Loading one file: text → tree → structural check → typed [`Document`].
//!
//! The result keeps the tree next to the model so that any later check can turn a field path
//! back into `file:line:column`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::model::Document;
use super::path::{FieldPath, Segment};
use super::schema::{self, SchemaKind};
use super::structure::Checker;
use super::yaml::{self, Node, ScalarKind, Value};
use crate::diagnostic::{Diagnostic, Location};
use crate::source::{SourceFile, Span};

/// One loaded file.
#[derive(Debug)]
pub struct LoadedFile {
    /// The file's text and name.
    pub source: SourceFile,
    /// Its tree, absent when it did not parse.
    pub root: Option<Node>,
    /// Its typed model, absent when it could not be typed at all.
    pub document: Option<Document>,
    /// What went wrong, located.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedFile {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Where `path` is in this file: the key or value span, and how much of the path exists.
    pub fn locate(&self, path: &FieldPath, at_key: bool) -> Option<(Span, usize)> {
        let root = self.root.as_ref()?;
        let found = root.lookup(path);
        // Block collections, and values left empty (`builder:` with nothing after it, whose
        // position is wherever the next token starts), are pointed at by their key.
        let empty =
            matches!(&found.node.value, Value::Scalar(s) if s.text.is_empty() && s.kind == ScalarKind::Null);
        let collection = empty || matches!(found.node.value, Value::Map(_) | Value::Seq(_));
        let span = if (at_key || collection) && found.exact {
            // A block mapping or list is best pointed at by the key that introduces it.
            found.key.unwrap_or(found.node.span)
        } else if !found.exact && found.depth > 0 {
            // The path goes further than the file: point at the deepest key that exists.
            found.key.unwrap_or(found.node.span)
        } else {
            found.node.span
        };
        Some((span, if found.exact { usize::MAX } else { found.depth }))
    }

    /// Fills in the location of a diagnostic that only has a path.
    pub fn place(&self, diagnostic: &mut Diagnostic) {
        if diagnostic.location.is_some() {
            return;
        }
        let path = diagnostic.path.clone().unwrap_or_default();
        if let Some((span, _)) = self.locate(&path, diagnostic.at_key) {
            diagnostic.location = Some(Location { file: self.source.name().to_owned(), span });
        }
    }
}

fn schema_for(kind: SchemaKind) -> &'static Json {
    static WORKFLOW: OnceLock<Json> = OnceLock::new();
    static CONFIG: OnceLock<Json> = OnceLock::new();
    match kind {
        SchemaKind::Workflow => WORKFLOW.get_or_init(|| schema::generate(SchemaKind::Workflow)),
        SchemaKind::Config => CONFIG.get_or_init(|| schema::generate(SchemaKind::Config)),
    }
}

/// Reads and loads a file from disk.
pub fn load_path(path: &Path, kind: SchemaKind) -> std::io::Result<LoadedFile> {
    let bytes = std::fs::read(path)?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() as u32 + 1;
            let source = SourceFile::new(path, String::from_utf8_lossy(err.as_bytes()).into_owned());
            let col = String::from_utf8_lossy(valid).rsplit('\n').next().map_or(0, |l| l.chars().count())
                as u32
                + 1;
            let d = Diagnostic::error("invalid-utf8", "the file is not valid UTF-8")
                .located(path, Span::on_line(crate::source::Pos { line, col }, 1))
                .note("workflow files are UTF-8 text");
            return Ok(LoadedFile { source, root: None, document: None, diagnostics: vec![d] });
        }
    };
    // Editors on Windows often start files with a byte-order mark; it is not part of the YAML.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    Ok(load_source(SourceFile::new(path, text), kind))
}

/// Loads text that is already in memory.
pub fn load_source(source: SourceFile, kind: SchemaKind) -> LoadedFile {
    let parsed = yaml::parse(&source);
    let mut file = LoadedFile { source, root: parsed.root, document: None, diagnostics: parsed.diagnostics };
    let Some(root) = file.root.as_ref() else { return file };
    if looks_like_github_actions(root) {
        let mut d = Diagnostic::error(
            "not-a-workflow",
            "this looks like a GitHub Actions workflow, not a ralph-loop workflow",
        )
        .at_key(FieldPath::root().key("jobs"))
        .note("GitHub Actions files run `ralph-loop loop --workflow …`; they are not read by it");
        file.place(&mut d);
        file.diagnostics.push(d);
        return file;
    }
    if root.entries().is_none() {
        let mut d = Diagnostic::error("invalid-type", "a ralph-loop file is a mapping of sections")
            .at(FieldPath::root())
            .expected("a mapping such as `workflow:`, `agents:`, `loop:`")
            .found(root.describe());
        file.place(&mut d);
        file.diagnostics.push(d);
        return file;
    }
    let name = file.source.name().to_owned();
    let checker = Checker::new(schema_for(kind)).in_file(&name);
    let mut structural = checker.check(root);
    for d in &mut structural {
        file.place(d);
    }
    // Type what is typeable: drop the mapping entries that failed, so that the other checks
    // can still run and every error of the file is reported at once.
    let mut pruned = root.clone();
    prune_all(&mut pruned, structural.iter().filter(|d| d.is_error()).filter_map(|d| d.path.as_ref()));
    // Paths with a structural error: serde's complaint about what their pruning left (a
    // required key gone, no variant matching) would only say the same thing again, worse.
    let reported: Vec<FieldPath> =
        structural.iter().filter(|d| d.is_error()).filter_map(|d| d.path.clone()).collect();
    file.diagnostics.extend(structural);
    // What the schema let through but serde refused (rare): report it, drop it, try again.
    let mut typed = yaml::deserialize::<Document>(&pruned);
    for _ in 0..32 {
        let Err((path, message)) = &typed else { break };
        if path.is_root() {
            break;
        }
        if !reported.iter().any(|r| r.segments().starts_with(path.segments())) {
            let mut d = Diagnostic::error("invalid-value", format!("`{path}` cannot be read: {message}"))
                .at(path.clone());
            file.place(&mut d);
            file.diagnostics.push(d);
        }
        prune(&mut pruned, path.segments());
        typed = yaml::deserialize::<Document>(&pruned);
    }
    match typed {
        Ok(document) => {
            if let Some(version) = document.version {
                if version > Document::LATEST_VERSION || version == 0 {
                    let mut d = Diagnostic::error(
                        "unsupported-version",
                        format!("language version {version} is not supported by this ralph-loop"),
                    )
                    .at(FieldPath::root().key("version"))
                    .expected(format!("`version: {}`", Document::LATEST_VERSION))
                    .note(
                        "a newer ralph-loop may read this file; upgrade it, or write the file for version 1",
                    );
                    file.place(&mut d);
                    file.diagnostics.push(d);
                }
            }
            file.document = Some(document);
        }
        Err((path, message)) => {
            if !file.has_errors() {
                let mut d = Diagnostic::error("invalid-value", format!("`{path}` cannot be read: {message}"))
                    .at(path);
                file.place(&mut d);
                file.diagnostics.push(d);
            }
        }
    }
    file.diagnostics.sort_by_key(Diagnostic::sort_key);
    file
}

/// Removes the mapping entries that `paths` end in, each mapping rewritten once: thousands of
/// unknown keys in one mapping are one pass over it, not one pass each.
fn prune_all<'p>(root: &mut Node, paths: impl Iterator<Item = &'p FieldPath>) {
    let mut by_parent: HashMap<&[Segment], HashSet<&str>> = HashMap::new();
    for path in paths {
        if let Some((Segment::Key(key), parent)) = path.segments().split_last() {
            by_parent.entry(parent).or_default().insert(key.as_str());
        }
    }
    for (parent, keys) in by_parent {
        if let Some(Node { value: Value::Map(entries), .. }) = descend(root, parent) {
            entries.retain(|e| e.key.scalar_text().is_none_or(|k| !keys.contains(k)));
        }
    }
}

/// The node `path` leads to, if the tree has it.
fn descend<'n>(node: &'n mut Node, path: &[Segment]) -> Option<&'n mut Node> {
    let Some((first, rest)) = path.split_first() else { return Some(node) };
    let child = match (first, &mut node.value) {
        (Segment::Key(k), Value::Map(entries)) => {
            entries.iter_mut().find(|e| e.key.scalar_text() == Some(k.as_str())).map(|e| &mut e.value)
        }
        (Segment::Index(i), Value::Seq(items)) => items.get_mut(*i),
        _ => None,
    }?;
    descend(child, rest)
}

/// Removes the mapping entry that a path ends in; paths ending in a list index are left alone,
/// because removing an item would renumber the items after it.
fn prune(node: &mut Node, path: &[Segment]) {
    match path {
        [] => {}
        [Segment::Key(key)] => {
            if let Value::Map(entries) = &mut node.value {
                entries.retain(|e| e.key.scalar_text() != Some(key.as_str()));
            }
        }
        [first, rest @ ..] => {
            let child = match (first, &mut node.value) {
                (Segment::Key(k), Value::Map(entries)) => {
                    entries.iter_mut().find(|e| e.key.scalar_text() == Some(k.as_str())).map(|e| &mut e.value)
                }
                (Segment::Index(i), Value::Seq(items)) => items.get_mut(*i),
                _ => None,
            };
            if let Some(child) = child {
                prune(child, rest);
            }
        }
    }
}

fn looks_like_github_actions(root: &Node) -> bool {
    root.get("jobs").is_some()
        && (root.get("on").is_some() || root.get("runs-on").is_some() || root.get("name").is_some())
        && root.get("workflow").is_none()
}

/// The workflow file the project configuration `config` names for `loop` to run: its
/// `loop.workflow` (relative to it); else the configuration itself, when it has a `workflow:`
/// or cannot be read or typed (validating it then says what is wrong). `None` when it names
/// none, or does not exist.
pub fn configured_workflow(config: &Path) -> Option<PathBuf> {
    let Ok(loaded) = load_path(config, SchemaKind::Config) else {
        return config.exists().then(|| config.to_owned());
    };
    let Some(doc) = loaded.document.as_ref() else { return Some(config.to_owned()) };
    match doc.loop_settings.as_ref().and_then(|l| l.workflow.as_deref()) {
        // A name that is not there is the configuration's error: validating it says so.
        Some(named) => {
            let named = relative_to(config, Path::new(named));
            Some(if named.exists() { named } else { config.to_owned() })
        }
        None if doc.workflow.is_some() || loaded.has_errors() => Some(config.to_owned()),
        None => None,
    }
}

/// `path` as written in the file `base`: relative to the directory that holds it.
fn relative_to(base: &Path, path: &Path) -> PathBuf {
    match base.parent() {
        Some(dir) if !path.is_absolute() && !dir.as_os_str().is_empty() && dir != Path::new(".") => {
            dir.join(path)
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Styles;

    fn render(text: &str) -> String {
        let file = load_source(SourceFile::new("w.yaml", text), SchemaKind::Workflow);
        file.diagnostics.iter().map(|d| d.render(Some(&file.source), &Styles::plain())).collect()
    }

    #[test]
    fn reports_every_structural_error_at_once() {
        let out = render(
            "workflow:\n  type: state_machin\n  states:\n    - id: a\n      tpye: human\n    - b\n  transitions:\n    - from: a\n      to: b\n      condition: 5\nagents:\n  builder:\n    timeout: 5 parsecs\n    backend: claud\nretry:\n  default:\n    strategy: exponential_backof\n    max_attempts: 0\n",
        );
        eprintln!("{out}");
        for needle in [
            "w.yaml:2:9",
            "help: did you mean `state_machine`?",
            "w.yaml:5:7",
            "did you mean `type`?",
            "workflow.transitions[0].condition",
            "invalid-duration",
            "did you mean `claude`?",
            "did you mean `exponential_backoff`?",
            "retry.default.max_attempts",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
        }
    }
}
