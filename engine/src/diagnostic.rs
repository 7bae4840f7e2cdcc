//! Diagnostics: what a user can get wrong in a file, and how it is shown to them.
//!
//! A diagnostic names the file, line and column, the field path, what was expected and what was
//! found, and a "did you mean" where a name is close. This module renders them for people (with
//! the offending line and a caret) and for machines (JSON); it knows nothing about YAML.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::source::{SourceFile, Span};
use crate::workflow::path::FieldPath;

/// How bad a diagnostic is: errors make a file invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is invalid.
    Error,
    /// The file is valid but probably not what was meant.
    Warning,
}

/// Where a diagnostic points: a file and a range in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it.
    pub file: PathBuf,
    /// The range the caret underlines.
    pub span: Span,
}

/// One problem found in a workflow or configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case identifier (`unknown-key`, `dag-cycle`, …) for scripts and docs.
    pub code: &'static str,
    /// One lowercase sentence without a trailing period; names in backticks.
    pub message: String,
    /// The field the problem is in.
    pub path: Option<FieldPath>,
    /// Whether the caret goes under the key of `path` rather than its value.
    pub at_key: bool,
    /// The file position, filled in once the path is resolved against the source.
    pub location: Option<Location>,
    /// What the language accepts here.
    pub expected: Option<String>,
    /// What the file has here.
    pub found: Option<String>,
    /// The close name the user probably meant.
    pub suggestion: Option<String>,
    /// Further explanation, one sentence each.
    pub notes: Vec<String>,
    /// Other places the problem involves (a definition the finding is about, in this or
    /// another file), each with what it is.
    pub related: Vec<Related>,
}

/// Another place a diagnostic points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    /// What is there, for people (`agent `verifer` is defined here`).
    pub message: String,
    /// The field.
    pub path: FieldPath,
    /// Its file position, once resolved.
    pub location: Option<Location>,
}

impl Diagnostic {
    /// An error with the given code and message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A warning with the given code and message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            path: None,
            at_key: false,
            location: None,
            expected: None,
            found: None,
            suggestion: None,
            notes: Vec::new(),
            related: Vec::new(),
        }
    }

    /// Points at the value of `path`.
    #[must_use]
    pub fn at(mut self, path: FieldPath) -> Self {
        self.path = Some(path);
        self
    }

    /// Points at the key of `path` (for unknown and duplicate keys).
    #[must_use]
    pub fn at_key(mut self, path: FieldPath) -> Self {
        self.path = Some(path);
        self.at_key = true;
        self
    }

    /// Sets the file position directly.
    #[must_use]
    pub fn located(mut self, file: impl Into<PathBuf>, span: Span) -> Self {
        self.location = Some(Location { file: file.into(), span });
        self
    }

    /// Says what was expected.
    #[must_use]
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Says what was found.
    #[must_use]
    pub fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    /// Adds a "did you mean" suggestion, if there is one.
    #[must_use]
    pub fn suggest(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }

    /// Adds a note.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Points at another place as well: the key of `path`, with what is there.
    #[must_use]
    pub fn related(mut self, path: FieldPath, message: impl Into<String>) -> Self {
        self.related.push(Related { message: message.into(), path, location: None });
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: source order within a file, errors and warnings interleaved by position.
    pub fn sort_key(&self) -> (u32, u32, Severity) {
        self.location
            .as_ref()
            .map_or((0, 0, self.severity), |l| (l.span.start.line, l.span.start.col, self.severity))
    }

    /// Renders the diagnostic for a person: a header, the location, the quoted source line with a
    /// caret under the offending range, then the path, expectation and suggestion.
    pub fn render(&self, source: Option<&SourceFile>, style: &Styles) -> String {
        let mut out = String::new();
        let (sev, sev_style) = match self.severity {
            Severity::Error => ("error", style.error),
            Severity::Warning => ("warning", style.warning),
        };
        let _ = writeln!(
            out,
            "{}{sev}[{}]{}: {}{}{}",
            sev_style.render(),
            self.code,
            sev_style.render_reset(),
            style.bold.render(),
            self.message,
            style.bold.render_reset()
        );
        let gutter_width = self.location.as_ref().map_or(1, |l| l.span.start.line.to_string().len());
        let pad = " ".repeat(gutter_width);
        let blue = style.gutter;
        if let Some(loc) = &self.location {
            let _ = writeln!(
                out,
                "{pad}{}-->{} {}:{}:{}",
                blue.render(),
                blue.render_reset(),
                loc.file.display(),
                loc.span.start.line,
                loc.span.start.col
            );
            let line_text = source.and_then(|s| s.line(loc.span.start.line));
            if let Some(text) = line_text {
                let text = text.replace('\t', " ");
                let start = loc.span.start.col.max(1) as usize - 1;
                let width = if loc.span.end.line == loc.span.start.line {
                    (loc.span.end.col.saturating_sub(loc.span.start.col)).max(1) as usize
                } else {
                    text.chars().count().saturating_sub(start).max(1)
                };
                let label = self.label();
                let _ = writeln!(out, "{pad} {}|{}", blue.render(), blue.render_reset());
                let _ = writeln!(
                    out,
                    "{}{:>gutter_width$} |{} {text}",
                    blue.render(),
                    loc.span.start.line,
                    blue.render_reset()
                );
                let _ = writeln!(
                    out,
                    "{pad} {}|{} {}{}{}{}{}",
                    blue.render(),
                    blue.render_reset(),
                    " ".repeat(start),
                    sev_style.render(),
                    "^".repeat(width),
                    label.map(|l| format!(" {l}")).unwrap_or_default(),
                    sev_style.render_reset()
                );
            }
        }
        let mut tail = Vec::new();
        if let Some(path) = &self.path {
            tail.push(format!("path: {path}"));
        }
        if let Some(expected) = &self.expected {
            tail.push(format!("expected: {expected}"));
        }
        if let Some(found) = self.found.as_ref().filter(|_| self.label().is_none() || self.location.is_none())
        {
            tail.push(format!("found: {found}"));
        }
        for note in &self.notes {
            tail.push(format!("note: {note}"));
        }
        for related in &self.related {
            match &related.location {
                Some(l) => tail.push(format!(
                    "note: {}: {}:{}:{}",
                    related.message,
                    l.file.display(),
                    l.span.start.line,
                    l.span.start.col
                )),
                None => tail.push(format!("note: {} (`{}`)", related.message, related.path)),
            }
        }
        if let Some(suggestion) = &self.suggestion {
            tail.push(format!("help: did you mean `{suggestion}`?"));
        }
        for line in tail {
            let _ = writeln!(out, "{pad} {}={} {line}", blue.render(), blue.render_reset());
        }
        out
    }

    fn label(&self) -> Option<String> {
        match (&self.expected, &self.found) {
            (_, Some(found)) if found.len() <= 40 => Some(format!("found {found}")),
            _ => None,
        }
    }

    /// The machine-readable form.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        });
        let obj = value.as_object_mut().expect("json! of an object literal is an object");
        if let Some(loc) = &self.location {
            obj.insert("file".into(), loc.file.display().to_string().into());
            obj.insert("line".into(), loc.span.start.line.into());
            obj.insert("column".into(), loc.span.start.col.into());
            obj.insert("end_line".into(), loc.span.end.line.into());
            obj.insert("end_column".into(), loc.span.end.col.into());
        }
        if let Some(path) = &self.path {
            obj.insert("path".into(), path.to_string().into());
        }
        for (key, field) in
            [("expected", &self.expected), ("found", &self.found), ("suggestion", &self.suggestion)]
        {
            if let Some(v) = field {
                obj.insert(key.into(), v.clone().into());
            }
        }
        if !self.notes.is_empty() {
            obj.insert("notes".into(), self.notes.clone().into());
        }
        if !self.related.is_empty() {
            let related: Vec<serde_json::Value> = self
                .related
                .iter()
                .map(|r| {
                    let mut v = serde_json::json!({"message": r.message, "path": r.path.to_string()});
                    if let Some(l) = &r.location {
                        v["file"] = l.file.display().to_string().into();
                        v["line"] = l.span.start.line.into();
                        v["column"] = l.span.start.col.into();
                    }
                    v
                })
                .collect();
            obj.insert("related".into(), related.into());
        }
        value
    }
}

/// Terminal styles for rendering; [`Styles::plain`] when output is not a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Styles {
    /// Error headers and carets.
    pub error: anstyle::Style,
    /// Warning headers and carets.
    pub warning: anstyle::Style,
    /// The message text.
    pub bold: anstyle::Style,
    /// Line numbers and the gutter.
    pub gutter: anstyle::Style,
}

impl Styles {
    /// No escape codes at all.
    pub fn plain() -> Self {
        Styles::default()
    }

    /// The colors of rustc and cargo.
    pub fn colored() -> Self {
        use anstyle::{AnsiColor, Style};
        Styles {
            error: Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
            warning: Style::new().bold().fg_color(Some(AnsiColor::Yellow.into())),
            bold: Style::new().bold(),
            gutter: Style::new().bold().fg_color(Some(AnsiColor::Blue.into())),
        }
    }
}
