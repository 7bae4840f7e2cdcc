//! Secrets kept out of what the engine writes: the values of environment variables named like
//! secrets (`*_KEY`, `*_TOKEN`, `*SECRET*`, `*PASSWORD*`, `*CREDENTIAL*`) and every value a `${…}`
//! reference resolved to are replaced by `[REDACTED]` wherever they would appear — a plugin's
//! log line or veto reason that echoes its API key, for one.

use std::borrow::Cow;

/// What stands in for a secret.
pub const MASK: &str = "[REDACTED]";

/// Values shorter than this are not treated as secrets: `1`, `yes` or `dev` would mask half
/// of every message, and are no secret anyway.
const MIN_LEN: usize = 6;

/// Whether an environment variable's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.ends_with("_KEY")
        || name.ends_with("_TOKEN")
        || name.contains("SECRET")
        || name.contains("PASSWORD")
        || name.contains("CREDENTIAL")
        || name == "KEY"
        || name == "TOKEN"
}

/// The secrets of the run this process runs, for what is written far from the runner (the
/// agents' transcripts): a process runs one run, and its secrets are the process's anyway
/// (its environment).
static INSTALLED: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// Makes `redactor` the process's (the first one installed stays).
pub fn install(redactor: Redactor) {
    let _ = INSTALLED.set(redactor);
}

/// The process's redactor, when one with secrets was installed.
pub fn installed() -> Option<&'static Redactor> {
    INSTALLED.get().filter(|r| !r.is_empty())
}

/// The secret values to keep out of output.
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

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `value` with every secret masked in its text, when it held one (`None`: it held none, use
    /// it as it is). Goes through JSON: the values this masks are events and packets, which
    /// are serde types anyway, and the JSON form also catches secrets in nested fields.
    pub fn redact_value<T: serde::Serialize + serde::de::DeserializeOwned>(&self, value: &T) -> Option<T> {
        if self.secrets.is_empty() {
            return None;
        }
        let text = serde_json::to_string(value).ok()?;
        let mut masked = Cow::Borrowed(text.as_str());
        for secret in &self.secrets {
            // Inside JSON a secret with quotes, backslashes or control characters is escaped.
            let escaped = match secret.contains(['"', '\\']) || secret.contains(char::is_control) {
                true => {
                    Cow::Owned(serde_json::to_string(secret).unwrap_or_default().trim_matches('"').to_owned())
                }
                false => Cow::Borrowed(secret.as_str()),
            };
            if masked.contains(escaped.as_ref()) {
                masked = Cow::Owned(masked.replace(escaped.as_ref(), MASK));
            }
        }
        match masked {
            Cow::Borrowed(_) => None,
            Cow::Owned(text) => serde_json::from_str(&text).ok(),
        }
    }

    /// The length of the longest secret, in bytes.
    pub fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// `bytes` with every secret replaced by [`MASK`], when there was one.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for secret in &self.secrets {
            let hay = out.as_deref().unwrap_or(bytes);
            let finder = memchr::memmem::Finder::new(secret.as_bytes());
            let mut found = finder.find_iter(hay).peekable();
            if found.peek().is_none() {
                continue;
            }
            let mut masked = Vec::with_capacity(hay.len());
            let mut from = 0;
            for at in found {
                masked.extend_from_slice(&hay[from..at]);
                masked.extend_from_slice(MASK.as_bytes());
                from = at + secret.len();
            }
            masked.extend_from_slice(&hay[from..]);
            out = Some(masked);
        }
        out
    }

    /// `text` with every secret replaced by [`MASK`]; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }
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
    fn secret_names() {
        for name in
            ["OPENAI_API_KEY", "GITHUB_TOKEN", "client_secret", "DB_PASSWORD", "AWS_CREDENTIALS", "token"]
        {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PATH", "HOME", "KEYBOARD", "TOKENIZER_PARALLELISM", "RALPH_STEP"] {
            assert!(!is_secret_name(name), "{name}");
        }
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
        assert!(Redactor::default().is_empty());
    }
}
