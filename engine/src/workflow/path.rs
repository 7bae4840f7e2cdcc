//! Field paths such as `workflow.transitions[2].to`: how diagnostics name a place in a document
//! independently of the file it came from.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index, 0-based.
    Index(usize),
}

/// The path from the document root to a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The root of the document.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parses the dotted form (`a.b[2].c`); keys must not contain `.` or `[`.
    pub fn parse(text: &str) -> Self {
        let mut path = FieldPath::root();
        for part in text.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if !key.is_empty() {
                path.0.push(Segment::Key(key.to_owned()));
            }
            for index in rest.split('[') {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    path.0.push(Segment::Index(i));
                }
            }
        }
        path
    }

    /// This path extended by a key.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    /// This path extended by an index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// The segments, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Appends a segment in place.
    pub fn push(&mut self, segment: Segment) {
        self.0.push(segment);
    }

    /// Removes the last segment in place.
    pub fn pop(&mut self) -> Option<Segment> {
        self.0.pop()
    }

    /// Whether this is the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    let plain =
                        !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
                    if !plain {
                        write!(f, "[{key:?}]")?;
                    } else if i == 0 {
                        f.write_str(key)?;
                    } else {
                        write!(f, ".{key}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A path under construction during a tree walk, borrowed from the walk's stack frames: it
/// costs nothing until a diagnostic needs it as a [`FieldPath`].
#[derive(Debug, Clone, Copy)]
pub enum PathRef<'a> {
    /// The document root.
    Root,
    /// A key under a parent.
    Key(&'a PathRef<'a>, &'a str),
    /// An index under a parent.
    Index(&'a PathRef<'a>, usize),
}

impl PathRef<'_> {
    /// The number of segments.
    pub fn depth(&self) -> usize {
        match self {
            PathRef::Root => 0,
            PathRef::Key(parent, _) | PathRef::Index(parent, _) => parent.depth() + 1,
        }
    }

    /// The owned path.
    pub fn to_path(&self) -> FieldPath {
        let mut segments = Vec::with_capacity(self.depth());
        let mut at = self;
        loop {
            match at {
                PathRef::Root => break,
                PathRef::Key(parent, key) => {
                    segments.push(Segment::Key((*key).to_owned()));
                    at = parent;
                }
                PathRef::Index(parent, index) => {
                    segments.push(Segment::Index(*index));
                    at = parent;
                }
            }
        }
        segments.reverse();
        FieldPath(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_and_indexes_like_a_user_would_write_them() {
        let path = FieldPath::root().key("workflow").key("transitions").index(2).key("to");
        assert_eq!(path.to_string(), "workflow.transitions[2].to");
        assert_eq!(FieldPath::parse("workflow.transitions[2].to"), path);
        let odd = FieldPath::root().key("notifications").key("a.b");
        assert_eq!(odd.to_string(), "notifications[\"a.b\"]");
        let root = PathRef::Root;
        let workflow = PathRef::Key(&root, "workflow");
        let transitions = PathRef::Key(&workflow, "transitions");
        let item = PathRef::Index(&transitions, 2);
        assert_eq!(PathRef::Key(&item, "to").to_path(), path);
    }
}
