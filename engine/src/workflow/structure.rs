//! The structural check: a YAML tree against the language's JSON Schema, all errors at once.
//!
//! serde stops at the first error of a file; this walk does not. It understands the subset of
//! JSON Schema that schemars generates (`$ref`, `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `const`, `anyOf`/`oneOf`, ranges, `pattern`) plus
//! our `x-ralph-format` keyword, and explains each failure in the words of the language.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value as Json};

use super::model::{Duration, EnvString, FORMAT_KEY, Size};
use super::path::PathRef;
use super::suggest::did_you_mean;
use super::yaml::{Node, ScalarKind, Value, to_json};
use crate::diagnostic::Diagnostic;

/// Checks documents against one schema; compiled patterns are cached across calls.
pub struct Checker<'s> {
    root: &'s Json,
    patterns: RefCell<HashMap<String, Option<Regex>>>,
    /// The file the checked tree comes from: an unknown key is located at once, from the entry
    /// at hand, instead of by a lookup of its path afterwards (a lookup scans a mapping's
    /// entries, and a file of thousands of unknown keys made that quadratic).
    file: Option<&'s std::path::Path>,
}

impl<'s> Checker<'s> {
    /// A checker for `schema` (a root schema with `$defs`).
    pub fn new(schema: &'s Json) -> Self {
        Checker { root: schema, patterns: RefCell::new(HashMap::new()), file: None }
    }

    /// Locates the diagnostics it can in `file` as it finds them.
    #[must_use]
    pub fn in_file(mut self, file: &'s std::path::Path) -> Self {
        self.file = Some(file);
        self
    }

    /// Every structural problem of `node`, in source order of discovery.
    pub fn check(&self, node: &Node) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.walk(self.root, node, PathRef::Root, &mut out);
        out
    }

    fn resolve(&self, schema: &'s Json) -> &'s Json {
        let mut schema = schema;
        for _ in 0..32 {
            let Some(reference) = schema.get("$ref").and_then(Json::as_str) else { break };
            let Some(name) = reference.strip_prefix("#/$defs/") else { break };
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn walk(&self, schema: &'s Json, node: &Node, path: PathRef<'_>, out: &mut Vec<Diagnostic>) {
        let schema = self.resolve(schema);
        let Some(obj) = schema.as_object() else { return };
        if let Some(format) = obj.get(FORMAT_KEY).and_then(Json::as_str) {
            if self.check_format(format, node, path, out) {
                return;
            }
        }
        if let Some(branches) = obj.get("anyOf").or_else(|| obj.get("oneOf")).and_then(Json::as_array) {
            self.check_union(schema, branches, node, path, out);
            return;
        }
        if let Some(all) = obj.get("allOf").and_then(Json::as_array) {
            for part in all {
                self.walk(part, node, path, out);
            }
        }
        if !type_accepts(obj, node) {
            let d = Diagnostic::error("invalid-type", format!("`{}` has the wrong type", leaf(path)))
                .at(path.to_path())
                .expected(self.describe(schema))
                .found(node.describe());
            out.push(type_hint(d, obj, node));
            return;
        }
        if let Some(values) = obj.get("enum").and_then(Json::as_array) {
            self.check_enum(values, node, path, out);
            return;
        }
        if let Some(constant) = obj.get("const") {
            self.check_enum(std::slice::from_ref(constant), node, path, out);
            return;
        }
        match &node.value {
            Value::Map(entries) => {
                let properties = obj.get("properties").and_then(Json::as_object);
                let additional = obj.get("additionalProperties");
                // Names that an unknown key was probably meant to be: their absence is the same
                // mistake, reported once, as the unknown key.
                let mut meant: Vec<String> = Vec::new();
                for entry in entries {
                    let key = entry.key.scalar_text().unwrap_or_default();
                    let child = PathRef::Key(&path, key);
                    if let Some(sub) = properties.and_then(|p| p.get(key)) {
                        self.walk(sub, &entry.value, child, out);
                    } else {
                        match additional {
                            Some(Json::Bool(false)) => {
                                let known: Vec<&str> = properties
                                    .map(|p| p.keys().map(String::as_str).collect())
                                    .unwrap_or_default();
                                let mut d = unknown_key(key, &known, path, child);
                                if let Some(file) = self.file {
                                    d = d.located(file, entry.key.span);
                                }
                                meant.extend(d.suggestion.clone());
                                out.push(d);
                            }
                            Some(sub @ Json::Object(_)) => self.walk(sub, &entry.value, child, out),
                            _ => {}
                        }
                    }
                }
                if let Some(required) = obj.get("required").and_then(Json::as_array) {
                    for name in required.iter().filter_map(Json::as_str) {
                        if node.get(name).is_none() && !meant.iter().any(|m| m == name) {
                            let mut d =
                                Diagnostic::error("missing-key", format!("missing required key `{name}`"))
                                    .at(path.to_path());
                            if let Some(sub) = properties.and_then(|p| p.get(name)) {
                                d = d.expected(format!("`{name}`: {}", self.describe(sub)));
                            }
                            out.push(d);
                        }
                    }
                }
            }
            Value::Seq(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item_schema, item, PathRef::Index(&path, i), out);
                    }
                }
            }
            Value::Scalar(scalar) => self.check_scalar(obj, node, scalar.kind, path, out),
        }
    }

    /// Our own formats. Returns whether the format fully decided the node.
    fn check_format(&self, format: &str, node: &Node, path: PathRef<'_>, out: &mut Vec<Diagnostic>) -> bool {
        let text = node.as_str();
        let (code, result, expected) = match (format, text) {
            ("duration", Some(t)) => ("invalid-duration", Duration::parse(t).err(), Duration::EXPECTED),
            ("size", Some(t)) => ("invalid-size", Size::parse(t).err(), Size::EXPECTED),
            ("env-string", Some(t)) => {
                ("invalid-env-reference", EnvString(t.to_owned()).references().err(), EnvString::EXPECTED)
            }
            ("duration" | "size", None) => {
                if let Value::Scalar(s) = &node.value {
                    if let ScalarKind::Int(i) = s.kind {
                        if i >= 0 {
                            return true;
                        }
                        out.push(
                            Diagnostic::error(
                                "out-of-range",
                                format!("`{}` must not be negative", leaf(path)),
                            )
                            .at(path.to_path())
                            .expected(if format == "duration" { Duration::EXPECTED } else { Size::EXPECTED })
                            .found(node.describe()),
                        );
                        return true;
                    }
                }
                let expected = if format == "duration" { Duration::EXPECTED } else { Size::EXPECTED };
                out.push(
                    Diagnostic::error("invalid-type", format!("`{}` has the wrong type", leaf(path)))
                        .at(path.to_path())
                        .expected(expected)
                        .found(node.describe()),
                );
                return true;
            }
            _ => return false,
        };
        if let Some(err) = result {
            out.push(
                Diagnostic::error(code, format!("invalid {}: {err}", format.replace('-', " ")))
                    .at(path.to_path())
                    .expected(expected)
                    .found(node.describe()),
            );
        }
        true
    }

    fn check_union(
        &self,
        schema: &'s Json,
        branches: &'s [Json],
        node: &Node,
        path: PathRef<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        let resolved: Vec<&Json> = branches.iter().map(|b| self.resolve(b)).collect();
        // A union of constants is an enumeration: say which names are allowed.
        let constants: Option<Vec<Json>> = resolved
            .iter()
            .map(|b| {
                b.get("const")
                    .map(|c| vec![c.clone()])
                    .or_else(|| b.get("enum").and_then(Json::as_array).cloned())
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect());
        if let Some(values) = constants {
            self.check_enum(&values, node, path, out);
            return;
        }
        let mut best: Option<(usize, usize, Vec<Diagnostic>)> = None;
        let depth = path.depth();
        for branch in &resolved {
            let Some(obj) = branch.as_object() else { continue };
            if obj.get(FORMAT_KEY).is_none() && !type_accepts_shallow(self, obj, node) {
                continue;
            }
            let mut errors = Vec::new();
            self.walk(branch, node, path, &mut errors);
            if errors.is_empty() {
                return;
            }
            // Prefer the branch whose first error is deepest (more of the value fitted it),
            // then the one with fewest errors.
            let shallowest = errors
                .iter()
                .map(|d| d.path.as_ref().map_or(depth, |p| p.segments().len()))
                .min()
                .unwrap_or(depth);
            let better = match &best {
                None => true,
                Some((s, n, _)) => shallowest > *s || (shallowest == *s && errors.len() < *n),
            };
            if better {
                best = Some((shallowest, errors.len(), errors));
            }
        }
        match best {
            Some((_, _, errors)) => out.extend(errors),
            None => out.push(
                Diagnostic::error("invalid-type", format!("`{}` has the wrong type", leaf(path)))
                    .at(path.to_path())
                    .expected(self.describe(schema))
                    .found(node.describe()),
            ),
        }
    }

    fn check_enum(&self, values: &[Json], node: &Node, path: PathRef<'_>, out: &mut Vec<Diagnostic>) {
        // A peer's name for a backend (PyWiggum's `claude_code`, `api`) is taken — the schema
        // lists it, so editors accept it too — with a note saying what to write instead.
        let leaf_name = leaf(path);
        if leaf_name.ends_with("backend")
            && let Some((peer, ours)) = node.as_str().and_then(super::model::backend_alias)
        {
            out.push(
                Diagnostic::warning(
                    "peer-alias",
                    format!(
                        "`{leaf_name}`: `{}` is {peer}'s name for `{ours}`",
                        node.as_str().unwrap_or_default()
                    ),
                )
                .at(path.to_path())
                .note(format!("it runs as `{ours}`; write `{ours}` to silence this")),
            );
            return;
        }
        let found = to_json(node);
        if values.contains(&found) {
            return;
        }
        // The peers' names are not offered: ours are what to write.
        let values: Vec<Json> = values
            .iter()
            .filter(|v| {
                !leaf_name.ends_with("backend") || v.as_str().and_then(super::model::backend_alias).is_none()
            })
            .cloned()
            .collect();
        let values = values.as_slice();
        let names: Vec<&str> = values.iter().filter_map(Json::as_str).collect();
        let suggestion = node.as_str().and_then(|t| did_you_mean(t, names.iter().copied()));
        out.push(
            Diagnostic::error("invalid-value", format!("`{}` is not one of the allowed values", leaf(path)))
                .at(path.to_path())
                .expected(one_of(values))
                .found(node.describe())
                .suggest(suggestion),
        );
    }

    fn check_scalar(
        &self,
        obj: &Map<String, Json>,
        node: &Node,
        kind: ScalarKind,
        path: PathRef<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        let number = match kind {
            ScalarKind::Int(i) => Some(i as f64),
            ScalarKind::Float(f) => Some(f),
            _ => None,
        };
        if let Some(n) = number {
            let min = obj.get("minimum").and_then(Json::as_f64);
            let max = obj.get("maximum").and_then(Json::as_f64);
            let type_max = match obj.get("format").and_then(Json::as_str) {
                Some("uint8") => Some(255.0),
                Some("uint16") => Some(65535.0),
                Some("uint32" | "uint") => Some(4_294_967_295.0),
                _ => None,
            };
            // The largest value of the Rust type is a limit worth enforcing, not worth printing.
            let max = match (max, type_max) {
                (Some(m), Some(t)) if m >= t => None,
                (m, _) => m,
            }
            .or(type_max.filter(|t| n > *t));
            let below = min.is_some_and(|m| n < m);
            let above = max.is_some_and(|m| n > m);
            if below || above || n.is_nan() {
                let whole = obj.get("type").and_then(Json::as_str) == Some("integer")
                    || obj
                        .get("type")
                        .and_then(Json::as_array)
                        .is_some_and(|t| t.contains(&Json::from("integer")));
                let noun = if whole { "a whole number" } else { "a number" };
                let expected = match (min, max) {
                    (Some(lo), Some(hi)) => format!("{noun} from {lo} to {hi}"),
                    (Some(lo), None) => format!("{noun} of at least {lo}"),
                    (None, Some(hi)) => format!("{noun} of at most {hi}"),
                    (None, None) => noun.into(),
                };
                out.push(
                    Diagnostic::error("out-of-range", format!("`{}` is out of range", leaf(path)))
                        .at(path.to_path())
                        .expected(expected)
                        .found(node.describe()),
                );
            }
        }
        if let (Some(pattern), Some(text)) = (obj.get("pattern").and_then(Json::as_str), node.as_str()) {
            let mut cache = self.patterns.borrow_mut();
            let regex = cache.entry(pattern.to_owned()).or_insert_with(|| Regex::new(pattern).ok());
            if regex.as_ref().is_some_and(|r| !r.is_match(text)) {
                out.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!("`{}` does not have the expected form", leaf(path)),
                    )
                    .at(path.to_path())
                    .expected(format!("text matching `{pattern}`"))
                    .found(node.describe()),
                );
            }
        }
    }

    /// A phrase for what a schema accepts: "a string", "a list of strings", "`true` or `false`
    /// or a mapping", …
    pub fn describe(&self, schema: &Json) -> String {
        self.describe_depth(schema, 0)
    }

    fn describe_depth(&self, schema: &Json, depth: usize) -> String {
        let schema = self.resolve(schema);
        let Some(obj) = schema.as_object() else { return "any value".into() };
        if obj.contains_key(FORMAT_KEY) {
            if let Some(d) = obj.get("description").and_then(Json::as_str) {
                return d.to_owned();
            }
        }
        if let Some(values) = obj.get("enum").and_then(Json::as_array) {
            return one_of(values);
        }
        if let Some(c) = obj.get("const") {
            return one_of(std::slice::from_ref(c));
        }
        if let Some(branches) = obj.get("anyOf").or_else(|| obj.get("oneOf")).and_then(Json::as_array) {
            let mut parts: Vec<String> = Vec::new();
            let consts: Vec<Json> =
                branches.iter().filter_map(|b| self.resolve(b).get("const").cloned()).collect();
            if consts.len() == branches.len() {
                return one_of(&consts);
            }
            for branch in branches {
                let d = if depth > 2 { "a value".into() } else { self.describe_depth(branch, depth + 1) };
                if d != "null" && !parts.contains(&d) {
                    parts.push(d);
                }
            }
            return parts.join(" or ");
        }
        let types: Vec<&str> = match obj.get("type") {
            Some(Json::String(t)) => vec![t.as_str()],
            Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
            _ => return "any value".into(),
        };
        let words: Vec<String> = types
            .iter()
            .filter(|t| **t != "null")
            .map(|t| match *t {
                "string" => "a string".to_owned(),
                "integer" => {
                    if obj.get("minimum").and_then(Json::as_f64).is_some_and(|m| m >= 0.0) {
                        "a whole number ≥ 0".to_owned()
                    } else {
                        "a whole number".to_owned()
                    }
                }
                "number" => "a number".to_owned(),
                "boolean" => "`true` or `false`".to_owned(),
                "array" => match obj.get("items") {
                    Some(items) if depth < 3 => {
                        let inner = self.describe_depth(items, depth + 1);
                        format!("a list of {}", plural(&inner))
                    }
                    _ => "a list".to_owned(),
                },
                "object" => "a mapping".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        if words.is_empty() { "null".into() } else { words.join(" or ") }
    }
}

/// Whether the schema's `type` allows the node's kind.
fn type_accepts(obj: &Map<String, Json>, node: &Node) -> bool {
    let types: Vec<&str> = match obj.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => return true,
    };
    let kind = match &node.value {
        Value::Seq(_) => "array",
        Value::Map(_) => "object",
        Value::Scalar(s) => match s.kind {
            ScalarKind::Null => "null",
            ScalarKind::Bool(_) => "boolean",
            ScalarKind::Int(_) => {
                if types.contains(&"integer") {
                    "integer"
                } else {
                    "number"
                }
            }
            // `2.0` is a number, not a whole number: serde would refuse it as an integer, so the
            // structural check does too, and says so.
            ScalarKind::Float(_) => "number",
            ScalarKind::Str => "string",
        },
    };
    types.contains(&kind)
}

/// Like [`type_accepts`], looking through one level of union for branch selection.
fn type_accepts_shallow(checker: &Checker<'_>, obj: &Map<String, Json>, node: &Node) -> bool {
    if let Some(branches) = obj.get("anyOf").or_else(|| obj.get("oneOf")).and_then(Json::as_array) {
        return branches.iter().any(|b| {
            checker
                .resolve(b)
                .as_object()
                .is_some_and(|o| o.contains_key(FORMAT_KEY) || type_accepts(o, node))
        });
    }
    if obj.contains_key("const") || obj.contains_key("enum") {
        return node.scalar_text().is_some();
    }
    type_accepts(obj, node)
}

/// Adds the usual reason for a wrong type: YAML 1.2 reading `yes` as text, or a number where text
/// was meant.
fn type_hint(d: Diagnostic, obj: &Map<String, Json>, node: &Node) -> Diagnostic {
    let wants = |t: &str| match obj.get("type") {
        Some(Json::String(s)) => s == t,
        Some(Json::Array(ts)) => ts.iter().any(|x| x == t),
        _ => false,
    };
    if let Value::Scalar(s) = &node.value {
        let lower = s.text.to_ascii_lowercase();
        if wants("boolean") && matches!(lower.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") {
            let meant = if matches!(lower.as_str(), "yes" | "on" | "y") { "true" } else { "false" };
            return d
                .note(format!("YAML 1.2 reads `{}` as text, not as a boolean", s.text))
                .suggest(Some(meant.to_owned()));
        }
        if wants("string")
            && matches!(s.kind, ScalarKind::Int(_) | ScalarKind::Float(_) | ScalarKind::Bool(_))
        {
            return d.note(format!("quote it to make it text: \"{}\"", s.text));
        }
    }
    d
}

fn unknown_key(key: &str, known: &[&str], parent: PathRef<'_>, child: PathRef<'_>) -> Diagnostic {
    let suggestion = did_you_mean(key, known.iter().copied());
    let parent = parent.to_path();
    let place = if parent.is_root() { "at the top level".to_owned() } else { format!("in `{parent}`") };
    let mut d = Diagnostic::error("unknown-key", format!("unknown key `{key}` {place}"))
        .at_key(child.to_path())
        .suggest(suggestion);
    if !known.is_empty() {
        let mut list: Vec<&str> = known.to_vec();
        list.sort_unstable();
        d = d.expected(format!(
            "one of {}",
            list.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    d
}

fn one_of(values: &[Json]) -> String {
    let shown: Vec<String> = values
        .iter()
        .map(|v| match v {
            Json::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        })
        .collect();
    match shown.len() {
        0 => "nothing".into(),
        1 => shown[0].clone(),
        _ => format!("one of {}", shown.join(", ")),
    }
}

fn plural(phrase: &str) -> String {
    let phrase = phrase.strip_prefix("a ").or_else(|| phrase.strip_prefix("an ")).unwrap_or(phrase);
    if phrase.starts_with('`') || phrase.starts_with("one of") || phrase.contains(" or ") {
        return format!("values ({phrase})");
    }
    if let Some(rest) = phrase.strip_suffix("string") {
        return format!("{rest}strings");
    }
    if let Some(rest) = phrase.strip_suffix("mapping") {
        return format!("{rest}mappings");
    }
    format!("{phrase}s")
}

fn leaf(path: PathRef<'_>) -> String {
    path.to_path().to_string()
}
