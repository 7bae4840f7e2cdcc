//! `TODO.md`: a Markdown task list, read line by line, and marked by changing one line's
//! checkbox and marker comment.

use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{Task, TaskError, TaskStatus};

/// A parsed `TODO.md`.
#[derive(Debug, Clone)]
pub(super) struct TodoDoc {
    pub tasks: Vec<Task>,
    items: Vec<Item>,
    /// List items outside any task that have no checkbox (`- write it`, `- [] fix it`): not
    /// tasks, and said so when no task is ready, with their line numbers.
    pub unboxed: Vec<(u32, String)>,
}

/// Where a task's editable parts are in the text.
#[derive(Debug, Clone)]
struct Item {
    /// The byte offset of the character inside the box.
    mark: usize,
    /// The marker comment with the one space before it, or where one would go: the end of the
    /// line, before its line ending.
    marker: Range<usize>,
    /// The note of the current marker, if any.
    note: Option<String>,
    /// Whether the id was derived from the position.
    positional: bool,
}

/// A task-list item: indentation, bullet or number, whitespace, a box, and the rest.
static CHECKBOX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([ \t]*)(?:[-*+]|[0-9]{1,9}[.)])[ \t]+\[([ xX])\](?:[ \t]+(.*))?$").expect("valid regex")
});

/// Any list item, with or without a box.
static LIST_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([ \t]*)(?:[-*+]|[0-9]{1,9}[.)])(?:[ \t]|$)").expect("valid regex"));

/// An ATX heading and its text.
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$").expect("valid regex"));

/// The marker comment, from its `<!--` to the end of the line.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^<!--[ \t]*ralph[ \t]*:[ \t]*([A-Za-z_ -]*?)[ \t]*(?::[ \t]*(.*?))?[ \t]*-->[ \t]*$")
        .expect("valid regex")
});

/// The start of a `ralph:` comment anywhere in a line, with its word.
static ANY_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<!--[ \t]*ralph[ \t]*:[ \t]*([A-Za-z_]*(?:-[A-Za-z_]+)*)").expect("valid regex")
});

/// An explicit id at the start of a title: `[T-12]`, `#12` or `T-12:`.
static EXPLICIT_ID: LazyLock<Regex> = LazyLock::new(|| {
    const TOKEN: &str = r"[A-Za-z]+[-_]?[0-9]+(?:\.[0-9]+)*";
    Regex::new(&format!(r"^(?:\[({TOKEN}|[0-9]+)\]:?|(#[0-9]+):?|({TOKEN}):)(?:[ \t]+|$)"))
        .expect("valid regex")
});

/// Whether `id` is an explicit id a `TODO.md` item can start with (`T-12`, `task-5`, `M1.1`).
pub(super) fn is_id_token(id: &str) -> bool {
    EXPLICIT_ID.is_match(&format!("{id}: x"))
        && EXPLICIT_ID.captures(&format!("{id}: x")).and_then(|c| c.get(3)).is_some_and(|m| m.as_str() == id)
}

/// `text` with the line `item` added after line `after` (1-based) and the indented lines that
/// continue it (its description, its nested items), or at the end when `after` is `None`; the
/// file's line ending is kept.
pub(super) fn append_item(text: &str, after: Option<u32>, item: &str) -> String {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut at = match after {
        Some(line) => (line as usize).min(lines.len()),
        None => lines.len(),
    };
    if after.is_some() {
        while at < lines.len() && lines[at].starts_with([' ', '\t']) && !lines[at].trim().is_empty() {
            at += 1;
        }
    }
    let mut out: String = lines[..at].concat();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(newline);
    }
    out.push_str(item);
    out.push_str(newline);
    out.push_str(&lines[at..].concat());
    out
}

/// The statuses a marker comment may carry.
const MARKER_STATUSES: [TaskStatus; 3] = [TaskStatus::InProgress, TaskStatus::Failed, TaskStatus::Blocked];

impl TodoDoc {
    pub fn parse(path: &Path, text: &str) -> Result<TodoDoc, TaskError> {
        let mut doc = TodoDoc { tasks: Vec::new(), items: Vec::new(), unboxed: Vec::new() };
        let mut section: Option<String> = None;
        // Open items that later lines may nest under: (indent, task index).
        let mut open: Vec<(usize, usize)> = Vec::new();
        let mut hidden = Hidden::default();
        let mut offset = 0;
        for (number, raw) in text.split_inclusive('\n').enumerate() {
            let line_start = offset;
            offset += raw.len();
            let mut content = raw.strip_suffix('\n').unwrap_or(raw);
            content = content.strip_suffix('\r').unwrap_or(content);
            let mut start = line_start;
            if line_start == 0 {
                if let Some(rest) = content.strip_prefix('\u{feff}') {
                    start += '\u{feff}'.len_utf8();
                    content = rest;
                }
            }
            let trimmed = content.trim_start();

            if hidden.hides(trimmed) {
                continue;
            }
            if let Some(heading) = HEADING.captures(content) {
                section = heading.get(1).map(|m| m.as_str().trim().to_owned()).filter(|s| !s.is_empty());
                open.clear();
                continue;
            }

            let line = u32::try_from(number + 1).unwrap_or(u32::MAX);
            if let Some(item) = CHECKBOX.captures(content) {
                let indent = width(&item[1]);
                let mark = item.get(2).expect("the box is a group");
                let rest = item.get(3).map_or((content.len(), ""), |m| (m.start(), m.as_str()));
                let Some(task) =
                    doc.read_item(path, line, start, content, rest, (start + mark.start(), mark.as_str()))?
                else {
                    continue;
                };
                while open.last().is_some_and(|&(open_indent, _)| open_indent >= indent) {
                    open.pop();
                }
                let index = doc.tasks.len();
                doc.tasks.push(Task { milestone: section.clone(), ..task });
                if let Some(&(_, parent)) = open.last() {
                    let id = doc.tasks[index].id.clone();
                    doc.tasks[parent].depends_on.push(id);
                }
                open.push((indent, index));
                continue;
            }
            if trimmed.is_empty() {
                continue;
            }
            let indent = width(&content[..content.len() - trimmed.len()]);
            if indent == 0 && !LIST_ITEM.is_match(content) {
                // A paragraph at the margin ends the list.
                open.clear();
                continue;
            }
            // Indented text, or a plain bullet: the description of the item it is indented under.
            while open.last().is_some_and(|&(open_indent, _)| open_indent >= indent) {
                open.pop();
            }
            if open.is_empty() && LIST_ITEM.is_match(content) {
                doc.unboxed.push((line, trimmed.trim_end().to_owned()));
            }
            if let Some(&(_, owner)) = open.last() {
                let description = doc.tasks[owner].description.get_or_insert_with(String::new);
                if !description.is_empty() {
                    description.push('\n');
                }
                description.push_str(trimmed.trim_end());
            }
        }
        Ok(doc)
    }

    /// Reads the task of a checkbox line whose text (`rest`, at byte `rest_at` of `content`)
    /// follows the box holding `mark` (at byte `mark_at` of the file); `None` if the item has no
    /// text. The line starts at byte `start` of the file.
    fn read_item(
        &mut self,
        path: &Path,
        line: u32,
        start: usize,
        content: &str,
        (rest_at, rest): (usize, &str),
        (mark_at, mark): (usize, &str),
    ) -> Result<Option<Task>, TaskError> {
        // The marker is the last comment of the line, if it is ours.
        let mut body = rest;
        let mut marker = content.len()..content.len();
        let mut marked = None;
        let mut note = None;
        if let Some(open) = rest.rfind("<!--") {
            if let Some(captures) = MARKER.captures(&rest[open..]) {
                let word = &captures[1];
                let status =
                    TaskStatus::parse(word).filter(|s| MARKER_STATUSES.contains(s)).ok_or_else(|| {
                        let column = content[..rest_at + open].chars().count() + 1;
                        TaskError::Invalid {
                            path: path.to_path_buf(),
                            line,
                            column: u32::try_from(column).unwrap_or(u32::MAX),
                            message: format!(
                                "unknown `ralph:` marker `{word}`; expected failed, in_progress or blocked \
                             (a done task has its box checked)"
                            ),
                        }
                    })?;
                let space = usize::from(rest[..open].ends_with([' ', '\t']));
                marker = rest_at + open - space..content.len();
                body = &rest[..open];
                marked = Some(status);
                note = captures.get(2).map(|m| m.as_str().to_owned()).filter(|n| !n.is_empty());
            }
        }
        // One line, one marker, at its end: a second one (`failed` left beside `in_progress` by a
        // hand edit or a merge) would make the line say two things, and a marker mid-line would
        // stay in the title while the engine wrote another at the end. Neither is guessed at.
        if let Some(other) = ANY_MARKER.captures(body) {
            let at = other.get(0).expect("whole match").start();
            let column = content[..rest_at + at].chars().count() + 1;
            let word = &other[1];
            let message = match marked {
                Some(status) => format!(
                    "this task carries two `ralph:` markers, `{word}` and `{status}`; keep the one that is \
                     true and delete the other"
                ),
                None => {
                    format!("the `ralph:` marker `{word}` must end its line; move it to the end or delete it")
                }
            };
            return Err(TaskError::Invalid {
                path: path.to_path_buf(),
                line,
                column: u32::try_from(column).unwrap_or(u32::MAX),
                message,
            });
        }
        let body = body.trim();
        if body.is_empty() {
            return Ok(None);
        }
        let status = match (mark, marked) {
            ("x" | "X", _) => TaskStatus::Done,
            (_, Some(status)) => status,
            _ => TaskStatus::Pending,
        };
        let (id, title, positional) = match EXPLICIT_ID.captures(body) {
            Some(captures) => {
                let id = captures.get(1).or_else(|| captures.get(2)).or_else(|| captures.get(3));
                let id = id.expect("one alternative matched").as_str().to_owned();
                (id, body[captures.get(0).expect("whole match").end()..].to_owned(), false)
            }
            None => (format!("todo-{}", self.tasks.len() + 1), body.to_owned(), true),
        };
        self.items.push(Item {
            mark: mark_at,
            marker: start + marker.start..start + marker.end,
            note: note.filter(|_| mark == " "),
            positional,
        });
        Ok(Some(Task {
            id,
            title,
            description: None,
            status,
            priority: None,
            depends_on: Vec::new(),
            role: None,
            acceptance_criteria: Vec::new(),
            complexity: None,
            failed_attempts: 0,
            last_attempt_at: None,
            labels: Vec::new(),
            kind: None,
            milestone: None,
            line,
        }))
    }

    /// Whether `id` was derived from its position.
    pub fn is_positional(&self, id: &str) -> bool {
        self.tasks.iter().zip(&self.items).any(|(task, item)| task.id == id && item.positional)
    }

    /// `text` with task `index` set to `status`: its box and its marker comment changed, nothing
    /// else. An unchanged status with an unchanged note gives back `text` as it was.
    pub fn set_status(&self, text: &str, index: usize, status: TaskStatus, note: Option<&str>) -> String {
        let item = &self.items[index];
        let current = text.as_bytes()[item.mark];
        let mark = match status {
            TaskStatus::Done if current == b'X' => "X",
            TaskStatus::Done => "x",
            _ => " ",
        };
        let marker = match status {
            TaskStatus::Pending | TaskStatus::Done => String::new(),
            TaskStatus::InProgress | TaskStatus::Failed | TaskStatus::Blocked => {
                // Keep the note already there when no new one is given.
                let note = note.map(clean_note).or_else(|| item.note.clone()).filter(|n| !n.is_empty());
                match note {
                    Some(note) => format!(" <!-- ralph: {status}: {note} -->"),
                    None => format!(" <!-- ralph: {status} -->"),
                }
            }
        };
        [&text[..item.mark], mark, &text[item.mark + 1..item.marker.start], &marker, &text[item.marker.end..]]
            .concat()
    }
}

/// Whether the parser is inside a fenced code block or a multi-line HTML comment, whose lines
/// hold no tasks.
#[derive(Default)]
struct Hidden {
    /// The fence's character and length.
    fence: Option<(char, usize)>,
    in_comment: bool,
}

impl Hidden {
    /// Whether the line (`trimmed` of leading whitespace) is hidden, or opens or closes a hidden
    /// block.
    fn hides(&mut self, trimmed: &str) -> bool {
        if let Some((fence_char, fence_len)) = self.fence {
            let run = trimmed.chars().take_while(|&c| c == fence_char).count();
            if run >= fence_len && trimmed[run..].trim().is_empty() {
                self.fence = None;
            }
            return true;
        }
        if self.in_comment {
            self.in_comment = !trimmed.contains("-->");
            return true;
        }
        if let Some(fence_char) = trimmed.chars().next().filter(|c| matches!(c, '`' | '~')) {
            let run = trimmed.chars().take_while(|&c| c == fence_char).count();
            if run >= 3 {
                self.fence = Some((fence_char, run));
                return true;
            }
        }
        if let Some(rest) = trimmed.strip_prefix("<!--") {
            if !rest.contains("-->") {
                self.in_comment = true;
                return true;
            }
        }
        false
    }
}

/// The width of leading whitespace, a tab counting to the next multiple of 4.
fn width(indent: &str) -> usize {
    indent.chars().fold(0, |width, c| if c == '\t' { width / 4 * 4 + 4 } else { width + 1 })
}

/// The longest note written in a marker, in characters.
const MAX_NOTE: usize = 200;

/// A note fit for a one-line HTML comment: whitespace collapsed, no `--` (which could end the
/// comment), at most [`MAX_NOTE`] characters.
fn clean_note(note: &str) -> String {
    let mut clean = note.split_whitespace().collect::<Vec<_>>().join(" ");
    while clean.contains("--") {
        clean = clean.replace("--", "-");
    }
    if clean.chars().count() > MAX_NOTE {
        clean = clean.chars().take(MAX_NOTE - 1).collect::<String>() + "…";
    }
    clean.trim_end_matches('-').trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TodoDoc {
        TodoDoc::parse(Path::new("TODO.md"), text).unwrap()
    }

    fn summary(text: &str) -> Vec<(String, String, TaskStatus)> {
        parse(text).tasks.into_iter().map(|t| (t.id, t.title, t.status)).collect()
    }

    fn row(id: &str, title: &str, status: TaskStatus) -> (String, String, TaskStatus) {
        (id.to_owned(), title.to_owned(), status)
    }

    #[test]
    fn reads_checkboxes_of_every_bullet_kind() {
        let text = "# Tasks\n- [ ] one\n* [x] two\n+ [X] three\n1. [ ] four\n2) [ ] five\n- [] not\n-[ ] not\n- [ ]\n- [ ]nope\n- plain\n";
        use TaskStatus::{Done, Pending};
        assert_eq!(
            summary(text),
            [
                row("todo-1", "one", Pending),
                row("todo-2", "two", Done),
                row("todo-3", "three", Done),
                row("todo-4", "four", Pending),
                row("todo-5", "five", Pending),
            ]
        );
    }

    #[test]
    fn explicit_ids_and_positional_ids() {
        let text = "- [ ] T-12: Add login\n- [ ] [T-13] Add logout\n- [ ] #14 Fix bug\n- [ ] [7]: seven\n\
                    - [ ] Fix: not an id\n- [ ] [WIP] not an id\n- [ ] M1.1: dotted\n- [ ] #15: colon\n";
        use TaskStatus::Pending;
        assert_eq!(
            summary(text),
            [
                row("T-12", "Add login", Pending),
                row("T-13", "Add logout", Pending),
                row("#14", "Fix bug", Pending),
                row("7", "seven", Pending),
                row("todo-5", "Fix: not an id", Pending),
                row("todo-6", "[WIP] not an id", Pending),
                row("M1.1", "dotted", Pending),
                row("#15", "colon", Pending),
            ]
        );
        let doc = parse(text);
        assert!(doc.is_positional("todo-5"));
        assert!(!doc.is_positional("T-12"));
    }

    #[test]
    fn markers_give_failed_in_progress_and_blocked() {
        let text = "- [ ] a <!-- ralph: failed -->\n- [ ] b <!-- ralph: failed: tests fail -->\n\
                    - [ ] c <!--ralph:in-progress-->\n- [ ] d <!-- ralph: blocked -->\n\
                    - [x] e <!-- ralph: failed -->\n- [ ] f <!-- a note of mine -->\n";
        use TaskStatus::{Blocked, Done, Failed, InProgress, Pending};
        assert_eq!(
            summary(text),
            [
                row("todo-1", "a", Failed),
                row("todo-2", "b", Failed),
                row("todo-3", "c", InProgress),
                row("todo-4", "d", Blocked),
                row("todo-5", "e", Done),
                row("todo-6", "f <!-- a note of mine -->", Pending),
            ]
        );
        let error = TodoDoc::parse(Path::new("TODO.md"), "\n- [ ] é <!-- ralph: done -->\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "TODO.md:2:9: unknown `ralph:` marker `done`; expected failed, in_progress or blocked \
             (a done task has its box checked)"
        );
    }

    #[test]
    fn a_line_with_two_markers_or_one_mid_line_is_refused_where_it_is() {
        let text = "- [ ] a\n- [ ] b <!-- ralph: failed --> <!-- ralph: in_progress -->\n";
        let error = TodoDoc::parse(Path::new("TODO.md"), text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "TODO.md:2:9: this task carries two `ralph:` markers, `failed` and `in_progress`; keep the one \
             that is true and delete the other"
        );
        let error =
            TodoDoc::parse(Path::new("TODO.md"), "- [x] c <!--ralph:blocked--> then more\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "TODO.md:1:9: the `ralph:` marker `blocked` must end its line; move it to the end or delete it"
        );
        // A comment of one's own mid-line is no marker, and stays part of the title.
        assert_eq!(summary("- [ ] d <!-- mine --> <!-- ralph: failed -->\n")[0].1, "d <!-- mine -->");
    }

    #[test]
    fn nesting_sections_and_descriptions() {
        let text = "# Setup\n\
                    - [ ] parent\n  more about the parent\n  - [ ] child one\n    - [ ] grandchild\n      its details\n  - [x] child two\n  - a plain note\n\
                    - [ ] sibling\n\
                    \n## Later\n\
                    Some paragraph.\n   - [ ] not nested under sibling\n\
                    \t- [ ] tab indented, under the previous\n";
        let doc = parse(text);
        let t = |i: usize| &doc.tasks[i];
        assert_eq!(t(0).depends_on, ["todo-2", "todo-4"]);
        assert_eq!(t(0).description.as_deref(), Some("more about the parent\n- a plain note"));
        assert_eq!(t(1).depends_on, ["todo-3"]);
        assert_eq!(t(2).description.as_deref(), Some("its details"));
        assert!(t(4).depends_on.is_empty());
        assert_eq!(t(0).milestone.as_deref(), Some("Setup"));
        assert_eq!(t(5).milestone.as_deref(), Some("Later"));
        assert_eq!(t(5).depends_on, ["todo-7"]);
        assert_eq!(t(4).line, 9);
    }

    #[test]
    fn fences_and_comment_blocks_hide_items() {
        let text = "```md\n- [ ] in a fence\n```\n~~~~\n- [ ] tilde\n```\n- [ ] still fenced\n~~~~\n\
                    <!--\n- [ ] commented out\n-->\n- [ ] real\n";
        assert_eq!(summary(text), [row("todo-1", "real", TaskStatus::Pending)]);
    }

    #[test]
    fn notes_are_made_safe_for_a_comment() {
        assert_eq!(clean_note("exit 1\n  --> oops ---"), "exit 1 -> oops");
        assert_eq!(clean_note(&"x".repeat(300)).chars().count(), MAX_NOTE);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for text in [
            "",
            "\n",
            "\r\n",
            "\u{feff}- [ ] bom",
            "- [ ] <!-- ralph: failed -->",
            "```",
            "<!--",
            "#",
            "- [x]\r",
        ] {
            let _ = TodoDoc::parse(Path::new("TODO.md"), text);
        }
        assert_eq!(summary("\u{feff}- [ ] bom")[0].1, "bom");
    }
}
