//! Source files and positions: what a diagnostic points at.
//!
//! This module knows nothing about YAML or workflows; it only maps positions to lines so that a
//! diagnostic can quote the offending line with a caret under it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A position in a source file: 1-based line and column, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

/// A half-open range of positions on one or more lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Span {
    /// First character of the range.
    pub start: Pos,
    /// One past the last character of the range.
    pub end: Pos,
}

impl Span {
    /// A span covering `len` characters on the line of `start`.
    pub fn on_line(start: Pos, len: u32) -> Self {
        let end = Pos { line: start.line, col: start.col + len.max(1) };
        Span { start, end }
    }
}

/// A loaded source file: its name as the user typed it, and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: PathBuf,
    text: Arc<str>,
    /// Where each line starts, found on the first [`SourceFile::line`]: quoting the lines of
    /// thousands of diagnostics must not scan the file again for each.
    line_starts: OnceLock<Arc<[usize]>>,
}

impl SourceFile {
    /// Wraps text that came from `name` (a path, or a label such as `<stdin>`).
    pub fn new(name: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        SourceFile { name: name.into(), text: text.into(), line_starts: OnceLock::new() }
    }

    /// The name under which diagnostics show this file.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of 1-based line `line`, without its line ending, if the file has that line.
    pub fn line(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0).chain(self.text.match_indices('\n').map(|(at, _)| at + 1)).collect()
        });
        let start = *starts.get(index)?;
        let end = starts.get(index + 1).map_or(self.text.len(), |next| next - 1);
        let l = &self.text[start..end];
        Some(l.strip_suffix('\r').unwrap_or(l))
    }
}
