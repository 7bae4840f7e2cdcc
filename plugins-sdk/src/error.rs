//! The error returned when a name (a hook, a signal, ...) is not one the contract knows.

use std::fmt;

/// A name that does not parse as a known hook, signal, priority or other enum of the contract.
///
/// It keeps the offending name and the names that would have been accepted, so a caller can
/// print a precise message or compute a "did you mean" suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    kind: &'static str,
    name: String,
    expected: &'static [&'static str],
}

impl UnknownName {
    /// Creates the error for `name`, which is not a valid `kind` (e.g. `"hook"`).
    pub fn new(kind: &'static str, name: impl Into<String>, expected: &'static [&'static str]) -> Self {
        Self { kind, name: name.into(), expected }
    }

    /// What was being parsed: `"hook"`, `"signal"`, `"message signal"` or `"priority"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The name that was rejected, exactly as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names that are accepted (patterns such as `phase.before_<name>` included).
    pub fn expected(&self) -> &'static [&'static str] {
        self.expected
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`", self.kind, self.name)?;
        if !self.expected.is_empty() {
            write!(f, " (expected one of: {})", self.expected.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownName {}

/// Implements `as_str`, `Display`, `FromStr` and `ALL` for a fieldless enum whose serde names
/// are the given strings.
macro_rules! named_enum {
    ($ty:ident, $kind:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// Every accepted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The wire name of this variant (the same string serde reads and writes).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::error::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::error::UnknownName::new($kind, s, Self::NAMES)),
                }
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_expected_names() {
        let err = UnknownName::new("signal", "stop", &["pause", "resume"]);
        assert_eq!(err.to_string(), "unknown signal `stop` (expected one of: pause, resume)");
        assert_eq!(err.name(), "stop");
        assert_eq!(err.kind(), "signal");
        assert_eq!(err.expected(), &["pause", "resume"]);
    }

    #[test]
    fn display_without_expected_names() {
        let err = UnknownName::new("hook", "x", &[]);
        assert_eq!(err.to_string(), "unknown hook `x`");
    }
}
