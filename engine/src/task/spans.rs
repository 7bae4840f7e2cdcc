//! Where each value of a JSON document is, byte for byte, so that one value can be replaced
//! without re-serializing (and so reformatting) the rest.
//!
//! The text is first checked by `serde_json`, which gives the syntax errors their messages; this
//! scanner then only has to find the boundaries of values in valid JSON.

/// A JSON value and the byte range it occupies.
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// The offset of its first byte.
    pub start: usize,
    /// The offset just past its last byte.
    pub end: usize,
    /// What it is.
    pub kind: Kind,
}

/// The kind of a [`Node`], with its children.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// An object's members, in order.
    Object(Vec<Member>),
    /// An array's elements, in order.
    Array(Vec<Node>),
    /// A string.
    String,
    /// A number, `true`, `false` or `null`.
    Scalar,
}

/// One member of an object.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// The key, unescaped.
    pub key: String,
    /// The offset of the key's opening quote.
    pub key_start: usize,
    /// The offset just past the key's closing quote.
    pub key_end: usize,
    /// The value.
    pub value: Node,
}

impl Node {
    /// The members of an object, or `None`.
    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The member `key` of an object (the last, if the key repeats).
    pub fn get(&self, key: &str) -> Option<&Member> {
        self.members()?.iter().rev().find(|m| m.key == key)
    }
}

/// The deepest nesting scanned; `serde_json` refuses deeper documents before this runs.
const MAX_DEPTH: usize = 256;

/// Scans the JSON value that makes up `text` (surrounding whitespace and a byte order mark
/// allowed). `None` if `text` is not valid JSON.
pub(super) fn scan(text: &str) -> Option<Node> {
    let mut scanner = Scanner { text, bytes: text.as_bytes(), pos: 0 };
    if text.starts_with('\u{feff}') {
        scanner.pos = '\u{feff}'.len_utf8();
    }
    scanner.skip_ws();
    let node = scanner.value(0)?;
    scanner.skip_ws();
    (scanner.pos == scanner.bytes.len()).then_some(node)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.pos) == Some(&byte)).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.pos;
        let kind = match *self.bytes.get(self.pos)? {
            b'{' => Kind::Object(self.object(depth)?),
            b'[' => Kind::Array(self.array(depth)?),
            b'"' => {
                self.string()?;
                Kind::String
            }
            _ => {
                while let Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.') =
                    self.bytes.get(self.pos)
                {
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
                Kind::Scalar
            }
        };
        Some(Node { start, end: self.pos, kind })
    }

    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Vec<Member>> {
        self.eat(b'{')?;
        let mut members = Vec::new();
        self.skip_ws();
        if self.eat(b'}').is_some() {
            return Some(members);
        }
        loop {
            self.skip_ws();
            let key_start = self.pos;
            self.string()?;
            let key_end = self.pos;
            let key = serde_json::from_str(self.text.get(key_start..key_end)?).ok()?;
            self.skip_ws();
            self.eat(b':')?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push(Member { key, key_start, key_end, value });
            self.skip_ws();
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(members);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Vec<Node>> {
        self.eat(b'[')?;
        let mut elements = Vec::new();
        self.skip_ws();
        if self.eat(b']').is_some() {
            return Some(elements);
        }
        loop {
            self.skip_ws();
            elements.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(elements);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_exactly_each_value() {
        let text = "\u{feff} {\"a\" : [1, \"x\\\"y\", {\"b\":null}], \"c\":-1.5e3 }\n";
        let root = scan(text).unwrap();
        assert_eq!(&text[root.start..root.end], "{\"a\" : [1, \"x\\\"y\", {\"b\":null}], \"c\":-1.5e3 }");
        let a = root.get("a").unwrap();
        assert_eq!(&text[a.key_start..a.key_end], "\"a\"");
        let Kind::Array(elements) = &a.value.kind else { panic!("not an array") };
        let texts: Vec<&str> = elements.iter().map(|e| &text[e.start..e.end]).collect();
        assert_eq!(texts, ["1", "\"x\\\"y\"", "{\"b\":null}"]);
        let c = root.get("c").unwrap();
        assert_eq!(&text[c.value.start..c.value.end], "-1.5e3");
    }

    #[test]
    fn escaped_keys_are_unescaped_and_junk_is_refused() {
        let root = scan(r#"{"st\u0061tus": "done"}"#).unwrap();
        assert!(root.get("status").is_some());
        for junk in ["", "{", "[1,", "{\"a\" 1}", "\"open", "[1] x", "{,}"] {
            assert!(scan(junk).is_none(), "{junk:?} scanned");
        }
    }
}
