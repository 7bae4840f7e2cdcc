//! Secrets kept out of what the engine writes and shows, found two ways: by **value** — the
//! values of environment variables named like secrets (`*_KEY`, `*_TOKEN`, `*_PAT`, `*SECRET*`,
//! `*PASSWORD*`, `*CREDENTIAL*`) and every value a `${…}` reference resolved to — and by
//! **kind** — anything shaped like a credential that nothing names (an `AKIA…` key or `ghp_…`
//! token an agent prints, the password inside a URL), found by the detector the `secret-guard`
//! plugin uses ([`ralph_plugin_sdk::secrets`]). A value is replaced by `[REDACTED]`, a kind by
//! `[REDACTED:<kind>]` (`[REDACTED:github-token]`), so a reader still sees what was there.
//!
//! It knows nothing of runs or files: the runner, the step logs, the telemetry and the CLI call it
//! on what they are about to write.

use std::borrow::Cow;

pub use ralph_plugin_sdk::secrets::is_secret_name;
use ralph_plugin_sdk::secrets::{self, Kind};

/// What stands in for a secret known by its value.
pub const MASK: &str = "[REDACTED]";

/// What stands in for a secret known by its kind: `[REDACTED:github-token]`.
pub fn mask_of(kind: Option<Kind>) -> Cow<'static, str> {
    match kind {
        None => Cow::Borrowed(MASK),
        Some(kind) => Cow::Owned(format!("[REDACTED:{}]", kind.slug())),
    }
}

/// Values shorter than this are not treated as secrets: `1`, `yes` or `dev` would mask half
/// of every message, and are no secret anyway.
const MIN_LEN: usize = 6;

/// The secrets of the run this process runs, for what is written far from the runner (the
/// agents' transcripts): a process runs one run, and its secrets are the process's anyway
/// (its environment).
static INSTALLED: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// Makes `redactor` the process's (the first one installed stays).
pub fn install(redactor: Redactor) {
    let _ = INSTALLED.set(redactor);
}

/// What masks before (or without) a run's redactor: kinds, and the environment's secret-named
/// variables. Separate from [`INSTALLED`], so output printed before the run starts does not
/// keep the run's own redactor from being installed.
static FALLBACK: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// The process's redactor: the one installed, or one that masks by kind and the environment's
/// secret-named variables.
pub fn installed() -> &'static Redactor {
    INSTALLED.get().unwrap_or_else(|| FALLBACK.get_or_init(Redactor::from_env))
}

/// A secret found in a text: bytes `start..end`, by value (`kind: None`) or by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Its first byte.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// The kind it was recognised by; `None` for a known value.
    pub kind: Option<Kind>,
}

/// The secret values to keep out of output; credential-shaped text is masked whatever the
/// values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// The values of the process's secret-named environment variables.
    pub fn from_env() -> Self {
        let mut redactor = Redactor::default();
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str()) {
                if is_secret_name(name) {
                    redactor.add(value);
                }
            }
        }
        redactor
    }

    /// The secret-named environment variables, and every variable a `${NAME}` reference in the
    /// project's configuration or workflow names (an exporter's header, a webhook URL): whatever
    /// the user thought worth keeping out of the file is kept out of the output too.
    pub fn for_document(doc: &crate::workflow::model::Document) -> Self {
        let mut redactor = Redactor::from_env();
        let mut strings = Vec::new();
        collect_strings(&serde_json::to_value(doc).unwrap_or_default(), &mut strings);
        for text in strings {
            redactor.add_references(text.as_str());
        }
        redactor
    }

    /// Adds the values of the environment variables `${NAME}` references in `text` name.
    pub fn add_references(&mut self, text: &str) {
        let Ok(names) = crate::workflow::model::EnvString(text.to_owned())
            .references()
            .map(|names| names.into_iter().map(str::to_owned).collect::<Vec<_>>())
        else {
            return;
        };
        for name in names {
            if let Ok(value) = std::env::var(&name) {
                self.add(&value);
            }
        }
    }

    /// Adds a value to mask (a resolved `${…}` reference, say).
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() >= MIN_LEN && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_owned());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// The length of the longest secret value, in bytes.
    pub fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// The secrets in `bytes`, in order and without overlaps: overlapping ones are masked as
    /// one, as a known value when one of them is.
    pub fn spans(&self, bytes: &[u8]) -> Vec<Span> {
        let mut all: Vec<Span> = Vec::new();
        for secret in &self.secrets {
            for at in memchr::memmem::find_iter(bytes, secret.as_bytes()) {
                all.push(Span { start: at, end: at + secret.len(), kind: None });
            }
        }
        let known = !all.is_empty();
        all.extend(secrets::find(bytes).into_iter().map(|f| Span {
            start: f.start,
            end: f.end,
            kind: Some(f.kind),
        }));
        if known {
            all.sort_unstable_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
        }
        let mut spans: Vec<Span> = Vec::with_capacity(all.len());
        for span in all {
            match spans.last_mut() {
                Some(last) if span.start < last.end => {
                    last.end = last.end.max(span.end);
                    if span.kind.is_none() {
                        last.kind = None;
                    }
                }
                _ => spans.push(span),
            }
        }
        spans
    }

    /// Whether the JSON `text` may hold a secret: a known value (as JSON escapes it) or a
    /// credential's form, a field of a secret-named key included.
    fn may_hold_a_secret(&self, text: &str) -> bool {
        let escaped = |secret: &str| -> bool {
            match secret.contains(['"', '\\']) || secret.contains(char::is_control) {
                true => serde_json::to_string(secret).is_ok_and(|json| text.contains(json.trim_matches('"'))),
                false => text.contains(secret),
            }
        };
        self.secrets.iter().any(|s| escaped(s)) || !secrets::find(text.as_bytes()).is_empty()
    }

    /// `bytes` with every secret masked, when there was one.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let spans = self.spans(bytes);
        (!spans.is_empty()).then(|| apply(bytes, &spans))
    }

    /// `text` with every secret masked; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            // Spans start and end on ASCII bytes or whole values, so the text stays UTF-8.
            Some(masked) => Cow::Owned(
                String::from_utf8(masked)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
            None => Cow::Borrowed(text),
        }
    }

    /// Masks every string of a JSON value in place (keys too); whether one held a secret.
    pub fn redact_json(&self, value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        match value {
            Value::String(s) => match self.redact(s) {
                Cow::Owned(masked) => {
                    *s = masked;
                    true
                }
                Cow::Borrowed(_) => false,
            },
            Value::Array(items) => items.iter_mut().fold(false, |any, v| self.redact_json(v) | any),
            Value::Object(map) => {
                let mut any = false;
                // `{"db_password": "…"}`: the key says what its value is.
                for (key, value) in map.iter_mut() {
                    if let Value::String(s) = value {
                        if let Some(kind) = secrets::assigned(key, s) {
                            *s = mask_of(Some(kind)).into_owned();
                            any = true;
                        }
                    }
                }
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if let Cow::Owned(masked) = self.redact(&key) {
                        if let Some(v) = map.remove(&key) {
                            map.insert(masked, v);
                        }
                        any = true;
                    }
                }
                map.values_mut().fold(any, |any, v| self.redact_json(v) | any)
            }
            _ => false,
        }
    }

    /// `value` with every secret masked in its strings, when it held one (`None`: it held
    /// none, use it as it is). Goes through JSON: the values this masks are events and
    /// packets, which are serde types anyway, and the JSON form reaches nested fields.
    pub fn redact_value<T: serde::Serialize + serde::de::DeserializeOwned>(&self, value: &T) -> Option<T> {
        // Most events hold no secret: one pass over their JSON text says so, before any tree
        // is built. (Inside JSON a value with quotes, backslashes or control characters is
        // escaped; the key-and-value test needs the keys, which the text has too.)
        let text = serde_json::to_string(value).ok()?;
        if !self.may_hold_a_secret(&text) {
            return None;
        }
        let mut json = serde_json::to_value(value).ok()?;
        if !self.redact_json(&mut json) {
            return None;
        }
        serde_json::from_value(json).ok()
    }
}

/// `bytes` with `spans` (in order, not overlapping) replaced by their masks.
pub fn apply(bytes: &[u8], spans: &[Span]) -> Vec<u8> {
    let mut masked = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for span in spans {
        masked.extend_from_slice(&bytes[from..span.start]);
        masked.extend_from_slice(mask_of(span.kind).as_bytes());
        from = span.end;
    }
    masked.extend_from_slice(&bytes[from..]);
    masked
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.contains("${") => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_masked_through_json_even_when_escaped() {
        let mut r = Redactor::default();
        r.add("pa\"ss\\word-1");
        r.add("sk-plain-123456");
        let value = serde_json::json!({"a": ["x pa\"ss\\word-1 y"], "b": {"c": "sk-plain-123456"}, "n": 3});
        let masked = r.redact_value(&value).unwrap();
        assert_eq!(masked, serde_json::json!({"a": ["x [REDACTED] y"], "b": {"c": "[REDACTED]"}, "n": 3}));
        assert!(r.redact_value(&serde_json::json!({"clean": true})).is_none());
    }

    #[test]
    fn bytes_are_masked_too() {
        let mut r = Redactor::default();
        r.add("sk-live-1234567890");
        r.add("other-secret");
        assert_eq!(
            r.redact_bytes(b"a sk-live-1234567890 b other-secret sk-live-1234567890").unwrap(),
            b"a [REDACTED] b [REDACTED] [REDACTED]"
        );
        assert_eq!(r.redact_bytes(b"clean"), None);
        assert_eq!(r.longest(), 18);
    }

    #[test]
    fn masks_every_occurrence_longest_first_and_ignores_short_values() {
        let mut r = Redactor::default();
        r.add("sk-live-1234567890");
        r.add("1234567890");
        r.add("yes");
        assert_eq!(
            r.redact("key sk-live-1234567890 and 1234567890, yes"),
            "key [REDACTED] and [REDACTED], yes"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn credentials_nothing_names_are_masked_by_kind_in_text_bytes_and_json() {
        let r = Redactor::default();
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
        let text = format!("pushed with {token} to postgres://app:pw-Zr8Kq2@db/x");
        assert_eq!(
            r.redact(&text),
            "pushed with [REDACTED:github-token] to postgres://app:[REDACTED:url-password]@db/x"
        );
        assert_eq!(r.redact_bytes(text.as_bytes()).unwrap(), r.redact(&text).as_bytes());
        let value = serde_json::json!({"summary": text, "n": [1, {"k": token}], "db_password": "Zr8Kq2Vx9Lm4Tn7Wp3Ys"});
        let masked = r.redact_value(&value).unwrap().to_string();
        assert!(!masked.contains(&token) && !masked.contains("pw-Zr8Kq2"), "{masked}");
        assert!(masked.contains("[REDACTED:github-token]"), "{masked}");
        assert!(masked.contains(r#""db_password":"[REDACTED:secret-value]""#), "{masked}");
    }

    #[test]
    fn a_known_value_wins_over_a_kind_it_overlaps() {
        let mut r = Redactor::default();
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
        r.add(&token);
        assert_eq!(r.redact(&format!("[{token}]")), "[[REDACTED]]");
    }
}
