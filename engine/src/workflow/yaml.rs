//! The one module that knows which YAML library parses our files.
//!
//! YAML text becomes a tree of [`Node`]s that remember where every key and value came from, so that
//! every later diagnostic can point at `file:line:column`. Scalars are resolved with the YAML 1.2
//! core schema (so `yes` stays a string). Duplicate keys, excessive nesting and alias bombs are
//! reported here. The typed model is then produced through serde via [`deserialize`].
//!
//! serde_yaml is archived and gives no position for a value, so the marked event parser of
//! yaml-rust2 builds the tree; serde_yaml still carries the serde data model of YAML. Swapping
//! either library is a change to this file only.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::path::{FieldPath, PathRef, Segment};
use crate::diagnostic::Diagnostic;
use crate::source::{Pos, SourceFile, Span};

/// Nesting deeper than this is refused: no real workflow needs it, and recursion must be bounded.
pub const MAX_DEPTH: usize = 128;
/// Nodes after alias expansion beyond this are refused, which stops "billion laughs" documents.
pub const MAX_NODES: usize = 2_000_000;

/// A YAML value with the range of source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it is in the file.
    pub span: Span,
}

/// The three shapes of YAML data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string, number, boolean or null.
    Scalar(Scalar),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in source order, duplicates removed.
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key; always a scalar in the files we accept.
    pub key: Node,
    /// The value.
    pub value: Node,
}

/// A scalar with its source text and its resolved type.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text after unquoting and unescaping.
    pub text: String,
    /// The resolved type.
    pub kind: ScalarKind,
}

/// The type a scalar resolves to under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarKind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Anything else, and every quoted scalar.
    Str,
}

impl Node {
    /// The scalar text of a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar { text, kind: ScalarKind::Str }) => Some(text),
            _ => None,
        }
    }

    /// The text of any scalar (keys are compared by this).
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a list.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entry with key `key`, in a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key.scalar_text() == Some(key))
    }

    /// The value of key `key`, in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// A short description of the value for "found" messages: "the string `x`", "a list", …
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
            Value::Scalar(s) => {
                let text = if s.text.chars().count() > 40 {
                    format!("{}…", s.text.chars().take(40).collect::<String>())
                } else {
                    s.text.clone()
                };
                match s.kind {
                    ScalarKind::Null => "nothing (null)".into(),
                    ScalarKind::Bool(b) => format!("the boolean `{b}`"),
                    ScalarKind::Int(_) => format!("the integer `{text}`"),
                    ScalarKind::Float(_) => format!("the number `{text}`"),
                    ScalarKind::Str => format!("the string `{text}`"),
                }
            }
        }
    }

    /// Finds the node at `path`. Returns the deepest node reached, its key's span when it is a
    /// mapping value, and whether the whole path was found.
    pub fn lookup(&self, path: &FieldPath) -> Lookup<'_> {
        let mut found = Lookup { node: self, key: None, depth: 0, exact: true };
        for segment in path.segments() {
            let next = match (segment, &found.node.value) {
                (Segment::Key(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|e| e.key.scalar_text() == Some(k.as_str()))
                    .map(|e| (&e.value, Some(e.key.span))),
                (Segment::Index(i), Value::Seq(items)) => items.get(*i).map(|n| (n, None)),
                _ => None,
            };
            match next {
                Some((node, key)) => {
                    found = Lookup { node, key, depth: found.depth + 1, exact: true };
                }
                None => {
                    found.exact = false;
                    break;
                }
            }
        }
        found
    }
}

/// The result of [`Node::lookup`].
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The deepest node reached.
    pub node: &'a Node,
    /// The span of its key, when it is the value of a mapping entry.
    pub key: Option<Span>,
    /// How many path segments were matched.
    pub depth: usize,
    /// Whether every segment was matched.
    pub exact: bool,
}

/// A parsed file: its tree (absent after a syntax error or an empty file) and what went wrong.
#[derive(Debug)]
pub struct Parsed {
    /// The document's root node.
    pub root: Option<Node>,
    /// Syntax errors, duplicate keys and limits exceeded, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one YAML document.
pub fn parse(file: &SourceFile) -> Parsed {
    if let Some(d) = forbidden_character(file) {
        return Parsed { root: None, diagnostics: vec![d] };
    }
    let mut builder = Builder::new(file);
    let mut parser = Parser::new_from_str(file.text());
    let result = parser.load(&mut builder, true);
    let mut diagnostics = std::mem::take(&mut builder.diagnostics);
    if let Err(err) = result {
        let mark = err.marker();
        let pos = Pos { line: mark.line() as u32, col: mark.col() as u32 + 1 };
        let info = err.info().to_owned();
        let mut d = Diagnostic::error("yaml-syntax", format!("invalid YAML: {info}"))
            .located(file.name(), Span::on_line(pos, 1));
        let line = file.line(pos.line).unwrap_or_default();
        if line.trim_start_matches(' ').starts_with('\t') || info.contains("tab") {
            d = d.note("this line is indented with a tab; YAML indentation must use spaces");
        }
        if info.contains("quoted scalar") {
            d = d.note("a quoted string may be missing its closing quote");
        }
        if info.contains("flow sequence") || info.contains("flow mapping") {
            d = d.note("a `[` or `{` may be missing its closing `]` or `}`");
        }
        diagnostics.push(d.note("fix the syntax first: no other check runs on a file that does not parse"));
        return Parsed { root: None, diagnostics };
    }
    let mut root = builder.root.take();
    if builder.documents > 1 {
        diagnostics.push(
            Diagnostic::error("yaml-multiple-documents", "a workflow file holds one YAML document")
                .located(file.name(), builder.second_document.unwrap_or_default())
                .note("remove the `---` separator, or split the file"),
        );
    }
    match &mut root {
        Some(node) if builder.aborted.is_none() => {
            normalize(node, PathRef::Root, file, &mut diagnostics);
        }
        Some(_) => root = None,
        None => {}
    }
    if let Some(abort) = builder.aborted {
        diagnostics.push(abort);
    }
    if root.as_ref().is_some_and(|r| matches!(&r.value, Value::Scalar(s) if s.kind == ScalarKind::Null)) {
        root = None;
    }
    if root.is_none() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::error(
                "empty-file",
                if file.text().trim().is_empty() {
                    "the file is empty"
                } else {
                    "the file holds no YAML values"
                },
            )
            .located(file.name(), Span::on_line(Pos { line: 1, col: 1 }, 1))
            .expected("a mapping with a `workflow:` section or configuration sections"),
        );
    }
    diagnostics.sort_by_key(Diagnostic::sort_key);
    Parsed { root, diagnostics }
}

/// The first character YAML does not allow in a stream (C0 controls other than tab, line feed
/// and carriage return, DEL, C1 controls other than NEL, U+FFFE and U+FFFF), as an error at its
/// place. The parser would stop at a NUL as if the file ended there, and blame whatever was
/// open then ("a quoted string may be missing its closing quote").
fn forbidden_character(file: &SourceFile) -> Option<Diagnostic> {
    let forbidden = |c: char| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}')
            || (('\u{80}'..='\u{9f}').contains(&c) && c != '\u{85}')
            || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    let at = file.text().find(forbidden)?;
    let before = &file.text()[..at];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    let c = file.text()[at..].chars().next()?;
    let what = if c == '\0' { "a NUL character".to_owned() } else { "a control character".to_owned() };
    Some(
        Diagnostic::error(
            "yaml-forbidden-character",
            format!("the file holds {what} (U+{:04X}), which YAML does not allow", u32::from(c)),
        )
        .located(file.name(), Span::on_line(Pos { line, col }, 1))
        .note("remove it; inside a double-quoted string, write it as an escape such as `\\0` or `\\x07`")
        .note("fix this first: no other check runs on a file that does not parse"),
    )
}

/// Turns the tree into a typed value through serde. On failure, returns the path of the value
/// that did not fit and serde's message, so the caller can point at it.
pub fn deserialize<T: DeserializeOwned>(node: &Node) -> Result<T, (FieldPath, String)> {
    let value = to_serde(node);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut path = FieldPath::root();
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => path.push(Segment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => path.push(Segment::Key(key.clone())),
                _ => {}
            }
        }
        (path, err.into_inner().to_string())
    })
}

/// The serde data model of a node.
pub fn to_serde(node: &Node) -> serde_yaml::Value {
    use serde_yaml::Value as Y;
    match &node.value {
        Value::Scalar(s) => match s.kind {
            ScalarKind::Null => Y::Null,
            ScalarKind::Bool(b) => Y::Bool(b),
            ScalarKind::Int(i) => Y::Number(i.into()),
            ScalarKind::Float(f) => Y::Number(f.into()),
            ScalarKind::Str => Y::String(s.text.clone()),
        },
        Value::Seq(items) => Y::Sequence(items.iter().map(to_serde).collect()),
        Value::Map(entries) => {
            Y::Mapping(entries.iter().map(|e| (to_serde(&e.key), to_serde(&e.value))).collect())
        }
    }
}

/// The JSON form of a node (for schema checks with external validators and for `--format json`).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Scalar(s) => match s.kind {
            ScalarKind::Null => J::Null,
            ScalarKind::Bool(b) => J::Bool(b),
            ScalarKind::Int(i) => J::Number(i.into()),
            ScalarKind::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
            ScalarKind::Str => J::String(s.text.clone()),
        },
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|e| (e.key.scalar_text().unwrap_or_default().to_owned(), to_json(&e.value)))
                .collect(),
        ),
    }
}

/// Resolves a plain scalar under the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "true" | "True" | "TRUE" => return ScalarKind::Bool(true),
        "false" | "False" | "FALSE" => return ScalarKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return ScalarKind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return ScalarKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float(f64::NAN),
        _ => {}
    }
    let bytes = text.as_bytes();
    let digits = bytes.strip_prefix(b"-").or_else(|| bytes.strip_prefix(b"+")).unwrap_or(bytes);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return text.parse().map_or(ScalarKind::Str, ScalarKind::Int);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).map_or(ScalarKind::Str, ScalarKind::Int);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).map_or(ScalarKind::Str, ScalarKind::Int);
    }
    let looks_float = !digits.is_empty()
        && digits.iter().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.iter().any(u8::is_ascii_digit)
        && (digits[0].is_ascii_digit() || digits[0] == b'.');
    if looks_float {
        if let Ok(f) = text.parse::<f64>() {
            return ScalarKind::Float(f);
        }
    }
    ScalarKind::Str
}

/// Applies an explicit core tag (`!!str`, `!!int`, …); other tags leave the plain resolution.
fn resolve_tagged(text: &str, tag: Option<&Tag>, plain: bool) -> ScalarKind {
    let suffix =
        tag.filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!").map(|t| t.suffix.as_str());
    match suffix {
        Some("str") => ScalarKind::Str,
        Some("null") => ScalarKind::Null,
        Some("bool" | "int" | "float") => resolve_plain(text),
        _ if plain => resolve_plain(text),
        _ => ScalarKind::Str,
    }
}

enum Frame {
    Seq { start: Pos, anchor: usize, items: Vec<Node>, size: usize, flow: bool },
    Map { start: Pos, anchor: usize, entries: Vec<Entry>, key: Option<Node>, size: usize, flow: bool },
}

struct Builder<'a> {
    file: &'a SourceFile,
    lines: Vec<&'a str>,
    stack: Vec<Frame>,
    /// How many of the open collections are flow (`[…]`, `{…}`) collections.
    flow_depth: usize,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    documents: usize,
    second_document: Option<Span>,
    aborted: Option<Diagnostic>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Builder<'a> {
    fn new(file: &'a SourceFile) -> Self {
        Builder {
            file,
            lines: file.text().split('\n').collect(),
            stack: Vec::new(),
            flow_depth: 0,
            root: None,
            anchors: HashMap::new(),
            nodes: 0,
            documents: 0,
            second_document: None,
            aborted: None,
            diagnostics: Vec::new(),
        }
    }

    fn pos(mark: &Marker) -> Pos {
        Pos { line: mark.line() as u32, col: mark.col() as u32 + 1 }
    }

    /// The end of a scalar token that starts at `start`, found in the source line: quoted
    /// scalars end at their closing quote, plain ones before a comment or the line's end.
    fn scalar_end(&self, start: Pos, style: TScalarStyle) -> Pos {
        let Some(line) = self.lines.get(start.line as usize - 1) else { return start };
        let line = line.trim_end_matches('\r');
        let Some((offset, _)) = line.char_indices().nth(start.col as usize - 1) else { return start };
        let rest = &line[offset..];
        let mut len;
        match style {
            TScalarStyle::DoubleQuoted | TScalarStyle::SingleQuoted => {
                let quote = if style == TScalarStyle::DoubleQuoted { '"' } else { '\'' };
                let mut chars = rest.chars().peekable();
                chars.next();
                len = 1;
                while let Some(c) = chars.next() {
                    len += 1;
                    if quote == '"' && c == '\\' {
                        if chars.next().is_some() {
                            len += 1;
                        }
                        continue;
                    }
                    if c == quote {
                        if quote == '\'' && chars.peek() == Some(&'\'') {
                            chars.next();
                            len += 1;
                            continue;
                        }
                        break;
                    }
                }
            }
            TScalarStyle::Plain => {
                let in_flow = self.flow_depth > 0;
                let mut last_non_space = 0;
                let mut previous = ' ';
                let mut chars = rest.chars().peekable();
                let mut count = 0;
                while let Some(c) = chars.next() {
                    let comment = c == '#' && count > 0 && previous.is_whitespace();
                    let mapping_colon = c == ':' && chars.peek().is_none_or(|n| n.is_whitespace());
                    let flow_end = matches!(c, ',' | ']' | '}') && in_flow;
                    if comment || mapping_colon || flow_end {
                        break;
                    }
                    count += 1;
                    if !c.is_whitespace() {
                        last_non_space = count;
                    }
                    previous = c;
                }
                len = last_non_space;
            }
            _ => len = rest.trim_end().chars().count(),
        }
        Pos { line: start.line, col: start.col + len.max(1) as u32 }
    }

    fn abort(&mut self, diagnostic: Diagnostic) {
        if self.aborted.is_none() {
            self.aborted = Some(diagnostic);
        }
        self.stack.clear();
    }

    fn push(&mut self, node: Node, size: usize) {
        self.nodes += size;
        if self.nodes > MAX_NODES {
            let span = node.span;
            self.abort(
                Diagnostic::error(
                    "yaml-too-large",
                    format!("the document expands to more than {MAX_NODES} values"),
                )
                .located(self.file.name(), span)
                .note("aliases (`*name`) are expanded where they are used; nested aliases multiply"),
            );
            return;
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, size: total, .. }) => {
                items.push(node);
                *total += size;
            }
            Some(Frame::Map { entries, key, size: total, .. }) => {
                *total += size;
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push(Entry { key: k, value: node }),
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.aborted.is_some() {
            return;
        }
        let pos = Self::pos(&mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document = Some(Span::on_line(pos, 3));
                }
            }
            _ if self.documents > 1 => {}
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain;
                let kind = resolve_tagged(&text, tag.as_ref(), plain);
                let end = if text.is_empty() && plain { pos } else { self.scalar_end(pos, style) };
                let node =
                    Node { value: Value::Scalar(Scalar { text, kind }), span: Span { start: pos, end } };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.push(node, 1);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.abort(
                        Diagnostic::error(
                            "yaml-too-deep",
                            format!("values are nested more than {MAX_DEPTH} levels deep"),
                        )
                        .located(self.file.name(), Span::on_line(pos, 1)),
                    );
                    return;
                }
                let flow = self
                    .lines
                    .get(pos.line as usize - 1)
                    .and_then(|l| l.chars().nth(pos.col as usize - 1))
                    .is_some_and(|c| c == '[' || c == '{');
                self.flow_depth += usize::from(flow);
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq { start: pos, anchor, items: Vec::new(), size: 1, flow }
                } else {
                    Frame::Map { start: pos, anchor, entries: Vec::new(), key: None, size: 1, flow }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else { return };
                let (value, start, anchor, size, flow) = match frame {
                    Frame::Seq { start, anchor, items, size, flow } => {
                        (Value::Seq(items), start, anchor, size, flow)
                    }
                    Frame::Map { start, anchor, entries, size, flow, .. } => {
                        (Value::Map(entries), start, anchor, size, flow)
                    }
                };
                self.flow_depth -= usize::from(flow);
                // A block mapping's start event comes after its first key: start at that key.
                let start = match &value {
                    Value::Map(entries) if !flow => entries.first().map_or(start, |e| e.key.span.start),
                    _ => start,
                };
                // Block collections end where the next token starts; clamp the span to the start
                // line so the caret stays on the first line of the collection.
                let end =
                    if pos.line == start.line { pos } else { Pos { line: start.line, col: start.col + 1 } };
                let node = Node { value, span: Span { start, end } };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), size));
                }
                self.nodes = self.nodes.saturating_sub(size);
                self.push(node, size);
            }
            Event::Alias(id) => {
                if let Some((node, size)) = self.anchors.get(&id).cloned() {
                    self.push(node, size);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Post-processing with paths known: merges `<<` keys, reports duplicate and complex keys.
fn normalize(node: &mut Node, path: PathRef<'_>, file: &SourceFile, out: &mut Vec<Diagnostic>) {
    match &mut node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                normalize(item, PathRef::Index(&path, i), file, out);
            }
        }
        Value::Map(entries) => {
            let mut seen: HashMap<&str, Span> = HashMap::with_capacity(entries.len());
            let mut kept: Vec<Entry> = Vec::with_capacity(entries.len());
            let mut merged: Vec<Entry> = Vec::new();
            // First decide what to keep, borrowing the keys; then move the kept entries, so no
            // subtree is copied.
            let taken = std::mem::take(entries);
            let mut keep = vec![false; taken.len()];
            for (index, entry) in taken.iter().enumerate() {
                let Some(key) = entry.key.scalar_text() else {
                    out.push(
                        Diagnostic::error("yaml-complex-key", "mapping keys must be plain names")
                            .located(file.name(), entry.key.span)
                            .found(entry.key.describe()),
                    );
                    continue;
                };
                if key == "<<" {
                    let sources = match &entry.value.value {
                        Value::Map(_) => std::slice::from_ref(&entry.value),
                        Value::Seq(items) => items.as_slice(),
                        Value::Scalar(_) => &[],
                    };
                    for source in sources {
                        if let Value::Map(from) = &source.value {
                            merged.extend(from.iter().cloned());
                        }
                    }
                    continue;
                }
                if let Some(first) = seen.get(key) {
                    out.push(
                        Diagnostic::error("duplicate-key", format!("duplicate key `{key}`"))
                            .at_key(PathRef::Key(&path, key).to_path())
                            .located(file.name(), entry.key.span)
                            .note(format!(
                                "`{key}` is first set on line {}; YAML keeps only one of them",
                                first.start.line
                            )),
                    );
                    continue;
                }
                seen.insert(key, entry.key.span);
                keep[index] = true;
            }
            let mut merged_keys: Vec<String> = Vec::new();
            for entry in merged {
                let key = entry.key.scalar_text().unwrap_or_default().to_owned();
                if !seen.contains_key(key.as_str()) && !merged_keys.contains(&key) {
                    merged_keys.push(key);
                    kept.push(entry);
                }
            }
            drop(seen);
            let mut own: Vec<Entry> =
                taken.into_iter().zip(keep).filter_map(|(entry, keep)| keep.then_some(entry)).collect();
            own.append(&mut kept);
            let mut kept = own;
            for entry in &mut kept {
                let Entry { key, value } = entry;
                normalize(value, PathRef::Key(&path, key.scalar_text().unwrap_or_default()), file, out);
            }
            *entries = kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Parsed {
        parse(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let parsed = parse_str("workflow:\n  type: dag\n  nodes:\n    - id: \"lint\"\n");
        let root = parsed.root.unwrap();
        let found = root.lookup(&FieldPath::parse("workflow.nodes[0].id"));
        assert!(found.exact);
        assert_eq!(found.node.span.start, Pos { line: 4, col: 11 });
        assert_eq!(found.node.span.end, Pos { line: 4, col: 17 });
        assert_eq!(found.key.unwrap().start, Pos { line: 4, col: 7 });
        let ty = root.lookup(&FieldPath::parse("workflow.type"));
        assert_eq!(ty.node.span, Span { start: Pos { line: 2, col: 9 }, end: Pos { line: 2, col: 12 } });
    }

    #[test]
    fn resolves_scalars_with_the_core_schema() {
        let root = parse_str("a: yes\nb: 3\nc: 1.5\nd: ~\ne: 'true'\nf: True\ng: 0x1f\n").root.unwrap();
        let kind = |k: &str| match &root.get(k).unwrap().value {
            Value::Scalar(s) => s.kind,
            _ => unreachable!(),
        };
        assert_eq!(kind("a"), ScalarKind::Str);
        assert_eq!(kind("b"), ScalarKind::Int(3));
        assert_eq!(kind("c"), ScalarKind::Float(1.5));
        assert_eq!(kind("d"), ScalarKind::Null);
        assert_eq!(kind("e"), ScalarKind::Str);
        assert_eq!(kind("f"), ScalarKind::Bool(true));
        assert_eq!(kind("g"), ScalarKind::Int(31));
    }

    #[test]
    fn a_nul_or_control_character_is_named_where_it_is() {
        let parsed = parse(&SourceFile::new("w.yaml", "a: 1\nb: \"x\u{0}y\"\n"));
        assert!(parsed.root.is_none());
        let d = &parsed.diagnostics[0];
        assert_eq!(d.code, "yaml-forbidden-character");
        assert!(d.message.contains("NUL character (U+0000)"), "{}", d.message);
        let at = d.location.as_ref().unwrap().span.start;
        assert_eq!((at.line, at.col), (2, 6));
        let parsed = parse(&SourceFile::new("w.yaml", "a: \u{7}\n"));
        assert!(parsed.diagnostics[0].message.contains("control character (U+0007)"));
        // Tabs, line ends and NEL are allowed.
        assert!(parse(&SourceFile::new("w.yaml", "a: \"x\ty\u{85}\"\r\n")).root.is_some());
    }

    #[test]
    fn reports_every_duplicate_key_with_its_path() {
        let parsed = parse_str("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n");
        let codes: Vec<_> =
            parsed.diagnostics.iter().map(|d| (d.code, d.path.as_ref().unwrap().to_string())).collect();
        assert_eq!(codes, vec![("duplicate-key", "b.c".into()), ("duplicate-key", "a".into())]);
    }

    #[test]
    fn merge_keys_fill_in_missing_entries() {
        let root = parse_str("base: &b\n  x: 1\n  y: 2\nthing:\n  <<: *b\n  y: 3\n").root.unwrap();
        let thing = root.get("thing").unwrap();
        assert_eq!(thing.get("x").unwrap().scalar_text(), Some("1"));
        assert_eq!(thing.get("y").unwrap().scalar_text(), Some("3"));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let parsed = parse_str(&bomb);
        assert!(parsed.root.is_none());
        assert_eq!(parsed.diagnostics[0].code, "yaml-too-large");
        let deep = "[".repeat(1000);
        let parsed = parse_str(&deep);
        assert!(parsed.root.is_none());
        assert!(!parsed.diagnostics.is_empty());
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let parsed = parse_str("a: [1, 2\nb: 3\n");
        assert_eq!(parsed.diagnostics.len(), 1);
        assert_eq!(parsed.diagnostics[0].code, "yaml-syntax");
        assert!(parsed.diagnostics[0].location.is_some());
    }
}
