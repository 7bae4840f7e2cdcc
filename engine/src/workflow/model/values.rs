//! The small value types of the language: durations, sizes, `${VAR}` strings, one-or-many lists.
//!
//! Each parses from the forms the seed uses (`5s`, `2h`, `30d`, `100MB`, bare integers) and
//! describes itself to the JSON Schema so editors accept exactly what the engine accepts.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The JSON Schema extension keyword that names our own formats, so the structural checker can
/// give a precise message (`x-ralph-format: duration`) instead of "did not match a pattern".
pub const FORMAT_KEY: &str = "x-ralph-format";

/// A length of time: `250ms`, `5s`, `10m`, `2h`, `30d`, compounds like `1h30m`, or a bare number
/// of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// A size in bytes: `512`, `64KB`, `100MB`, `1GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

/// Why a duration or size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

const DURATION_PATTERN: &str =
    r"^\s*([0-9]+(\.[0-9]+)?\s*(ms|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s*)+$";
const SIZE_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?\s?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|kb|mb|gb|tb)?$";

impl Duration {
    /// The accepted forms, for "expected" messages.
    pub const EXPECTED: &'static str =
        "a duration such as `30s`, `5m`, `2h`, `30d` or `1h30m`, or a whole number of seconds";

    /// Parses the string form.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ValueError("an empty duration".into()));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 1_000_000_000_000)
                .map(|s| Duration(std::time::Duration::from_secs(s)))
                .ok_or_else(|| ValueError(format!("`{text}` is too long a duration")));
        }
        let mut total = 0f64;
        let mut rest = text;
        while !rest.is_empty() {
            let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if number_len == 0 {
                return Err(ValueError(format!("`{text}` does not start with a number")));
            }
            let number: f64 = rest[..number_len]
                .parse()
                .map_err(|_| ValueError(format!("`{}` is not a number", &rest[..number_len])))?;
            if number_len > 15 {
                return Err(ValueError(format!("`{text}` is too long a duration")));
            }
            rest = &rest[number_len..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let unit = rest[..unit_len].trim();
            let factor = match unit {
                "ms" => 0.001,
                "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
                "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
                "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
                "d" | "day" | "days" => 86_400.0,
                "w" | "week" | "weeks" => 604_800.0,
                "" => {
                    return Err(ValueError(format!(
                        "`{text}` mixes a unit with a bare number; write a unit after every number"
                    )));
                }
                other => {
                    return Err(ValueError(format!(
                        "unknown unit `{other}` in `{text}` (use `ms`, `s`, `m`, `h`, `d` or `w`)"
                    )));
                }
            };
            total += number * factor;
            rest = &rest[unit_len..];
        }
        if !total.is_finite() || total > 1e12 {
            return Err(ValueError(format!("`{text}` is too long a duration")));
        }
        Ok(Duration(std::time::Duration::from_secs_f64(total)))
    }

    /// Whole seconds, rounded down.
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let s = self.0.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s >= size && s.is_multiple_of(size) {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

impl Size {
    /// The accepted forms, for "expected" messages.
    pub const EXPECTED: &'static str = "a size such as `512KB`, `100MB` or `1GiB`, or a number of bytes";

    /// Parses the string form.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let text = text.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 =
            number.parse().map_err(|_| ValueError(format!("`{text}` does not start with a number")))?;
        let factor: f64 = match unit.trim() {
            "" | "B" => 1.0,
            "KB" | "kb" | "K" => 1e3,
            "MB" | "mb" | "M" => 1e6,
            "GB" | "gb" | "G" => 1e9,
            "TB" | "tb" => 1e12,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            "TiB" => 1024.0f64.powi(4),
            other => {
                return Err(ValueError(format!(
                    "unknown unit `{other}` in `{text}` (use `B`, `KB`, `MB`, `GB`, `KiB`, `MiB` or `GiB`)"
                )));
            }
        };
        Ok(Size((number * factor) as u64))
    }
}

macro_rules! string_or_number_type {
    ($ty:ident, $name:literal, $format:literal, $pattern:ident, $from_int:expr, $display:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($ty::EXPECTED)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        Ok($from_int(v))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        u64::try_from(v)
                            .map($from_int)
                            .map_err(|_| E::custom(format!("`{v}` is negative")))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        $ty::parse(v).map_err(E::custom)
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                #[allow(clippy::redundant_closure_call)]
                serializer.serialize_str(&($display)(self))
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": $ty::EXPECTED,
                    FORMAT_KEY: $format,
                    "anyOf": [
                        { "type": "integer", "minimum": 0 },
                        { "type": "string", "pattern": $pattern }
                    ]
                })
            }
        }
    };
}

string_or_number_type!(
    Duration,
    "Duration",
    "duration",
    DURATION_PATTERN,
    |v| Duration(std::time::Duration::from_secs(v)),
    |d: &Duration| d.to_string()
);
string_or_number_type!(Size, "Size", "size", SIZE_PATTERN, Size, |s: &Size| s.0.to_string());

/// A string that may hold `${VAR}` references. They are kept as references in the model and
/// resolved only at run time, so a secret never appears in a parsed file, a plan or a log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvString(pub String);

impl EnvString {
    /// The accepted form, for "expected" messages.
    pub const EXPECTED: &'static str =
        "a string; `${NAME}` refers to an environment variable and `$${` writes a literal `${`";

    /// The names of the variables the string refers to, or why the references are malformed.
    pub fn references(&self) -> Result<Vec<&str>, ValueError> {
        let mut names = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(at) = rest.find("${") {
            if at > 0 && rest[..at].ends_with('$') {
                rest = &rest[at + 2..];
                continue;
            }
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(ValueError(format!("unterminated `${{` in `{}`", self.0)));
            };
            let name = &after[..end];
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ValueError(format!(
                    "`${{{name}}}` is not a variable reference (names are letters, digits and `_`)"
                )));
            }
            names.push(name);
            rest = &after[end + 1..];
        }
        Ok(names)
    }

    /// Resolves the references with `lookup`; a missing variable is an error naming it.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, ValueError> {
        self.references()?;
        let mut out = String::with_capacity(self.0.len());
        let mut rest = self.0.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(escaped) = after.strip_prefix("${") {
                out.push_str("${");
                rest = escaped;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').expect("references() checked termination");
                let name = &body[..end];
                out.push_str(
                    &lookup(name)
                        .ok_or_else(|| ValueError(format!("environment variable `{name}` is not set")))?,
                );
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl fmt::Display for EnvString {
    /// Shows the references, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for EnvString {
    fn schema_name() -> Cow<'static, str> {
        "EnvString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "description": EnvString::EXPECTED, FORMAT_KEY: "env-string" })
    }
}

/// A value written either alone or as a list: `depends_on: lint` or `depends_on: [lint, test]`.
///
/// A list is tried first: serde lets a struct be written as a sequence of its fields, so
/// `[notify_team, {action: escalate}]` would otherwise be read as one action whose name is
/// `notify_team` and whose arguments are the second item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A list of values.
    Many(Vec<T>),
    /// A single value.
    One(T),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    /// The values as a slice, whichever form was written.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }

    /// Whether no value was given.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_seed_forms() {
        let secs = |t: &str| Duration::parse(t).unwrap().0.as_secs_f64();
        assert_eq!(secs("5s"), 5.0);
        assert_eq!(secs("300s"), 300.0);
        assert_eq!(secs("2h"), 7200.0);
        assert_eq!(secs("30d"), 2_592_000.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("250ms"), 0.25);
        assert_eq!(secs("7200"), 7200.0);
        assert!(Duration::parse("5 parsecs").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("5").is_ok());
        assert!(Duration::parse("1h30").is_err());
        assert_eq!(secs("5 minutes"), 300.0);
        assert_eq!(secs("1 hour 30 minutes"), 5400.0);
        assert!(Duration::parse("99999999999999999999999").unwrap_err().0.contains("too long"));
        let pattern = regex::Regex::new(DURATION_PATTERN).unwrap();
        for ok in ["5s", "300s", "2h", "30d", "1h30m", "5 minutes", "250ms"] {
            assert!(pattern.is_match(ok), "the schema pattern must accept {ok}");
            assert!(Duration::parse(ok).is_ok());
        }
        for bad in ["5 parsecs", "s", "1h30", "ten seconds"] {
            assert!(!pattern.is_match(bad), "the schema pattern must refuse {bad}");
            assert!(Duration::parse(bad).is_err());
        }
        assert_eq!(Duration::parse("90m").unwrap().to_string(), "90m");
        assert_eq!(Duration::parse("7200s").unwrap().to_string(), "2h");
    }

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(Size::parse("100MB").unwrap().0, 100_000_000);
        assert_eq!(Size::parse("1GiB").unwrap().0, 1 << 30);
        assert_eq!(Size::parse("512").unwrap().0, 512);
        assert!(Size::parse("lots").is_err());
        assert!(Size::parse("10XB").is_err());
    }

    #[test]
    fn env_strings_keep_references_and_resolve_late() {
        let s = EnvString("${SLACK_WEBHOOK_URL}/x/$${literal}".into());
        assert_eq!(s.references().unwrap(), vec!["SLACK_WEBHOOK_URL"]);
        let resolved = s.resolve(|n| (n == "SLACK_WEBHOOK_URL").then(|| "https://h".into())).unwrap();
        assert_eq!(resolved, "https://h/x/${literal}");
        assert!(EnvString("${OPEN".into()).references().is_err());
        assert!(EnvString("${1BAD}".into()).references().is_err());
        assert!(EnvString("${MISSING}".into()).resolve(|_| None).is_err());
    }
}
