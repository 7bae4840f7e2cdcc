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
