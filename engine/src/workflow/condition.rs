//! Conditions: when a transition is taken, a DAG node runs, or an agent is invoked.
//!
//! A condition is one of:
//! - a built-in name: `always`, `success` (or `succeeded`), `failure` (or `failed`);
//! - the name of a condition under `conditions:`;
//! - any other bare name, such as `plan_complete` or `verified`: an **outcome name**. It holds
//!   when the step reported that named result, or, when the step reported no named result, when
//!   the step succeeded. So `build_success` holds after a builder that exits 0, and after one that
//!   reports `{"outcome": "build_success"}`, but not after one that reports `needs_planning`;
//! - a minijinja expression over the step's outcome and the run's context, such as
//!   `failure and retries < 3`. Inside an expression, names resolve the same way: built-in
//!   variables first, then named conditions, then outcome names.
//!
//! Two forms of the seed are accepted as sugar: `file_changed: '*.py'` is the call
//! `file_changed('*.py')` (likewise `file_contains: auth`), and `tag =~ 'v.*'` is the test
//! `tag is matching('v.*')` (a regular expression search).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use minijinja::value::{Object, Value};
use minijinja::{Environment, Error, ErrorKind, State};

/// Variables every condition can use, with what they mean (for docs and suggestions).
pub const VARIABLES: &[(&str, &str)] = &[
    ("success", "whether the step succeeded"),
    ("failure", "whether the step failed"),
    ("result", "the named result the step reported, or none"),
    ("outcome", "the whole outcome: success, result, summary, exit_code, class"),
    ("attempt", "the attempt number of this step, from 1"),
    ("retries", "how many times the current state was entered before in this run (visits - 1)"),
    ("visits", "how many times the current state has been entered in this run"),
    ("failures", "how many visits of the current state failed in this run"),
    ("iteration", "the loop iteration, from 1"),
    ("state", "the id of the current state, node or step"),
    ("agent", "the agent that performed the step"),
    ("evidence", "files_changed, test_results {passed, failed}, duration_ms, tokens, cost"),
    ("task", "the current task: id, description"),
    ("nodes", "DAG: the outcome of every finished node, by id"),
    ("branch", "the current git branch"),
    ("tag", "the git tag at HEAD, or an empty string"),
    ("workdir", "the project directory"),
];

/// Functions conditions can call.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("file_changed", "file_changed(glob): a changed file matches the glob"),
    ("file_contains", "file_contains(text): a changed file contains the text"),
];

const BUILTIN_NAMES: &[(&str, ConditionKind)] = &[
    ("always", ConditionKind::Always),
    ("success", ConditionKind::Success),
    ("succeeded", ConditionKind::Success),
    ("failure", ConditionKind::Failure),
    ("failed", ConditionKind::Failure),
];

/// What kind of condition a text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionKind {
    /// Always holds.
    Always,
    /// Holds when the step succeeded.
    Success,
    /// Holds when the step failed.
    Failure,
    /// A condition under `conditions:`.
    Named(String),
    /// A bare outcome name.
    Outcome(String),
    /// A minijinja expression.
    Expression,
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The text as written.
    pub source: String,
    /// How it is evaluated.
    pub kind: ConditionKind,
    /// Expressions: the minijinja text after the seed's sugar is rewritten.
    pub expression: Option<String>,
    /// Expressions: the names used that are neither variables nor functions (named conditions
    /// and outcome names).
    pub names: Vec<String>,
}

/// Why a condition does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    /// What is wrong, in one sentence.
    pub message: String,
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::empty();
        env.add_function("file_changed", file_changed);
        env.add_function("file_contains", file_contains);
        env.add_test("matching", matching);
        env.add_test("defined", |v: Value| !v.is_undefined());
        env.add_test("none", |v: Value| v.is_none());
        env.add_filter("length", |v: Value| v.len().unwrap_or(0));
        env.add_filter("lower", |v: String| v.to_lowercase());
        env
    })
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The longest condition accepted. minijinja's compiler recurses once per operator, so an
/// unbounded expression could overflow the stack; no real condition comes near this.
pub const MAX_LENGTH: usize = 1000;

/// Compiles a condition. `named` are the names defined under `conditions:`.
pub fn compile(text: &str, named: &dyn Fn(&str) -> bool) -> Result<Condition, ConditionError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ConditionError { message: "the condition is empty".into() });
    }
    if trimmed.len() > MAX_LENGTH {
        return Err(ConditionError {
            message: format!(
                "the condition is {} characters long; the limit is {MAX_LENGTH} (use named conditions to split it)",
                trimmed.len()
            ),
        });
    }
    if is_identifier(trimmed) {
        let kind = if named(trimmed) {
            ConditionKind::Named(trimmed.to_owned())
        } else if let Some((_, kind)) = BUILTIN_NAMES.iter().find(|(n, _)| *n == trimmed) {
            kind.clone()
        } else {
            ConditionKind::Outcome(trimmed.to_owned())
        };
        return Ok(Condition { source: text.to_owned(), kind, expression: None, names: Vec::new() });
    }
    let rewritten = desugar(trimmed)?;
    let env = environment();
    let expr = env.compile_expression(&rewritten).map_err(|e| ConditionError {
        message: format!("invalid expression: {}{}", describe_error(&e), operator_hint(trimmed)),
    })?;
    let known: HashSet<&str> = VARIABLES.iter().chain(FUNCTIONS).map(|(n, _)| *n).collect();
    let mut names: Vec<String> =
        expr.undeclared_variables(false).into_iter().filter(|n| !known.contains(n.as_str())).collect();
    names.sort();
    Ok(Condition {
        source: text.to_owned(),
        kind: ConditionKind::Expression,
        expression: Some(rewritten),
        names,
    })
}

/// A hint for the operators people bring from other languages.
fn operator_hint(text: &str) -> String {
    let outside_strings: String = {
        let mut out = String::new();
        let mut quote = None;
        for c in text.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '\'' || c == '"' => quote = Some(c),
                None => out.push(c),
            }
        }
        out
    };
    let hint = if outside_strings.contains("&&") {
        "write `and` instead of `&&`"
    } else if outside_strings.contains("||") {
        "write `or` instead of `||`"
    } else if outside_strings.contains("{{") || outside_strings.contains("}}") {
        "a condition is an expression: write it without `{{ }}`"
    } else if outside_strings.contains('!') && !outside_strings.contains("!=") {
        "write `not` instead of `!`"
    } else if outside_strings
        .replace("==", "")
        .replace("!=", "")
        .replace(">=", "")
        .replace("<=", "")
        .contains('=')
    {
        "compare with `==`; a single `=` is not an operator"
    } else {
        return String::new();
    };
    format!(" ({hint})")
}

fn describe_error(err: &Error) -> String {
    let detail = err.detail().map(str::to_owned).unwrap_or_else(|| err.kind().to_string());
    detail.trim_end_matches('.').to_owned()
}

/// Rewrites the seed's sugar into minijinja: `name: 'glob'` calls and `=~` matches. String
/// literals are copied untouched.
fn desugar(text: &str) -> Result<String, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let end = string_end(&chars, i)?;
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if c == '=' && chars.get(i + 1) == Some(&'~') {
            let mut j = i + 2;
            while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                j += 1;
            }
            if !matches!(chars.get(j), Some('\'' | '"')) {
                return Err(ConditionError {
                    message: "`=~` must be followed by a quoted regular expression".into(),
                });
            }
            let end = string_end(&chars, j)?;
            out.push_str(" is matching(");
            out.extend(&chars[j..end]);
            out.push(')');
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while chars.get(j).is_some_and(|c| *c == ' ') {
                j += 1;
            }
            let sugar = FUNCTIONS.iter().any(|(n, _)| *n == word) && chars.get(j) == Some(&':');
            if sugar {
                j += 1;
                while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                    j += 1;
                }
                let (argument, end) = match chars.get(j) {
                    Some('\'' | '"') => {
                        let end = string_end(&chars, j)?;
                        (chars[j..end].iter().collect::<String>(), end)
                    }
                    Some(_) => {
                        let mut end = j;
                        while chars.get(end).is_some_and(|c| !c.is_whitespace() && *c != ')') {
                            end += 1;
                        }
                        let word: String = chars[j..end].iter().collect();
                        (format!("{word:?}"), end)
                    }
                    None => {
                        return Err(ConditionError {
                            message: format!("`{word}:` needs a pattern after it"),
                        });
                    }
                };
                out.push_str(&format!("{word}({argument})"));
                i = end;
            } else {
                out.push_str(&word);
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn string_end(chars: &[char], start: usize) -> Result<usize, ConditionError> {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == quote {
            return Ok(i + 1);
        }
        i += 1;
    }
    Err(ConditionError { message: format!("unterminated string starting at character {}", start + 1) })
}

fn evidence_files(state: &State<'_, '_>) -> Vec<String> {
    state
        .lookup("evidence")
        .and_then(|e| e.get_attr("files_changed").ok())
        .and_then(|f| f.try_iter().ok().map(|it| it.filter_map(|v| v.as_str().map(str::to_owned)).collect()))
        .unwrap_or_default()
}

fn file_changed(state: &State<'_, '_>, pattern: &str) -> Result<bool, Error> {
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad glob `{pattern}`: {e}")))?
        .compile_matcher();
    Ok(evidence_files(state)
        .iter()
        .any(|f| glob.is_match(f) || std::path::Path::new(f).file_name().is_some_and(|n| glob.is_match(n))))
}

fn file_contains(state: &State<'_, '_>, needle: &str) -> bool {
    let dir =
        state.lookup("workdir").and_then(|v| v.as_str().map(std::path::PathBuf::from)).unwrap_or_default();
    evidence_files(state).iter().any(|f| {
        f.contains(needle) || std::fs::read_to_string(dir.join(f)).is_ok_and(|text| text.contains(needle))
    })
}

fn matching(value: &str, pattern: &str) -> Result<bool, Error> {
    let regex = regex::Regex::new(pattern).map_err(|e| {
        Error::new(ErrorKind::InvalidOperation, format!("bad regular expression `{pattern}`: {e}"))
    })?;
    Ok(regex.is_match(value))
}

/// What a step produced, as far as conditions are concerned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Whether the step succeeded.
    pub success: bool,
    /// The named result it reported.
    pub result: Option<String>,
    /// Every other variable of [`VARIABLES`], as JSON-like values.
    pub variables: BTreeMap<String, Value>,
}

/// Evaluates conditions against a scope, resolving named conditions.
#[derive(Debug, Clone, Default)]
pub struct Evaluator {
    named: Arc<IndexMap<String, Condition>>,
}

/// How deeply named conditions may refer to each other when evaluated (cycles are refused at
/// validation; this is the backstop).
const MAX_NESTING: usize = 32;

impl Evaluator {
    /// An evaluator with the workflow's named conditions, compiled.
    pub fn new(named: IndexMap<String, Condition>) -> Self {
        Evaluator { named: Arc::new(named) }
    }

    /// Whether `condition` holds in `scope`.
    pub fn holds(&self, condition: &Condition, scope: &Scope) -> Result<bool, ConditionError> {
        self.holds_nested(condition, &Arc::new(scope.clone()), 0)
    }

    fn holds_nested(
        &self,
        condition: &Condition,
        scope: &Arc<Scope>,
        depth: usize,
    ) -> Result<bool, ConditionError> {
        if depth > MAX_NESTING {
            return Err(ConditionError { message: "named conditions refer to each other in a cycle".into() });
        }
        Ok(match &condition.kind {
            ConditionKind::Always => true,
            ConditionKind::Success => scope.success,
            ConditionKind::Failure => !scope.success,
            ConditionKind::Outcome(name) => outcome_holds(name, scope),
            ConditionKind::Named(name) => match self.named.get(name) {
                Some(inner) => self.holds_nested(inner, scope, depth + 1)?,
                None => outcome_holds(name, scope),
            },
            ConditionKind::Expression => {
                let text = condition.expression.as_deref().unwrap_or("false");
                let env = environment();
                let expr = env
                    .compile_expression(text)
                    .map_err(|e| ConditionError { message: describe_error(&e) })?;
                let root =
                    Value::from_object(ScopeObject { scope: scope.clone(), evaluator: self.clone(), depth });
                expr.eval(root)
                    .map_err(|e| ConditionError {
                        message: format!("`{}` failed: {}", condition.source, describe_error(&e)),
                    })?
                    .is_true()
            }
        })
    }
}

fn outcome_holds(name: &str, scope: &Scope) -> bool {
    match &scope.result {
        Some(result) => result == name,
        None => scope.success,
    }
}

#[derive(Debug)]
struct ScopeObject {
    scope: Arc<Scope>,
    evaluator: Evaluator,
    depth: usize,
}

impl Object for ScopeObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match name {
            "success" => return Some(Value::from(self.scope.success)),
            "failure" => return Some(Value::from(!self.scope.success)),
            "result" => return Some(self.scope.result.clone().map_or(Value::from(()), Value::from)),
            _ => {}
        }
        if let Some(value) = self.scope.variables.get(name) {
            return Some(value.clone());
        }
        if VARIABLES.iter().any(|(n, _)| *n == name) {
            return Some(Value::from(()));
        }
        if FUNCTIONS.iter().any(|(n, _)| *n == name) {
            return None;
        }
        if let Some(named) = self.evaluator.named.get(name) {
            return Some(Value::from(
                self.evaluator.holds_nested(named, &self.scope, self.depth + 1).unwrap_or(false),
            ));
        }
        Some(Value::from(outcome_holds(name, &self.scope)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    fn scope(success: bool, result: Option<&str>) -> Scope {
        Scope { success, result: result.map(str::to_owned), variables: BTreeMap::new() }
    }

    #[test]
    fn bare_names_are_builtins_named_conditions_or_outcomes() {
        assert_eq!(compile("always", &none).unwrap().kind, ConditionKind::Always);
        assert_eq!(compile("verified", &none).unwrap().kind, ConditionKind::Outcome("verified".into()));
        assert_eq!(compile("ok", &|n| n == "ok").unwrap().kind, ConditionKind::Named("ok".into()));
    }

    #[test]
    fn an_outcome_name_holds_on_that_result_or_on_plain_success() {
        let ev = Evaluator::default();
        let verified = compile("verified", &none).unwrap();
        assert!(ev.holds(&verified, &scope(true, None)).unwrap());
        assert!(ev.holds(&verified, &scope(true, Some("verified"))).unwrap());
        assert!(!ev.holds(&verified, &scope(true, Some("needs_fixes"))).unwrap());
        assert!(!ev.holds(&verified, &scope(false, None)).unwrap());
    }

    #[test]
    fn the_seed_sugar_compiles_and_evaluates() {
        let c = compile("file_changed: '*.py' and not file_changed: 'test_*'", &none).unwrap();
        assert_eq!(c.expression.as_deref(), Some("file_changed('*.py') and not file_changed('test_*')"));
        let mut s = scope(true, None);
        s.variables.insert(
            "evidence".into(),
            Value::from(minijinja::value::Serde(serde_json::json!({"files_changed": ["src/app.py"]}))),
        );
        let ev = Evaluator::default();
        assert!(ev.holds(&c, &s).unwrap());
        s.variables.insert(
            "evidence".into(),
            Value::from(minijinja::value::Serde(serde_json::json!({"files_changed": ["src/test_app.py"]}))),
        );
        assert!(!ev.holds(&c, &s).unwrap());

        let c = compile("branch == 'main' and tag =~ 'v.*'", &none).unwrap();
        s.variables.insert("branch".into(), Value::from("main"));
        s.variables.insert("tag".into(), Value::from("v1.2"));
        assert!(ev.holds(&c, &s).unwrap());
        s.variables.insert("tag".into(), Value::from("nightly"));
        assert!(!ev.holds(&c, &s).unwrap());
        assert!(compile("file_contains: auth", &none).is_ok());
    }

    #[test]
    fn expressions_see_counters_named_conditions_and_outcomes() {
        let mut named = IndexMap::new();
        named.insert("exhausted".to_owned(), compile("retries >= 3", &none).unwrap());
        let ev = Evaluator::new(named);
        let c = compile("failure and exhausted", &|n| n == "exhausted").unwrap();
        assert_eq!(c.names, vec!["exhausted".to_owned()]);
        let mut s = scope(false, None);
        s.variables.insert("retries".into(), Value::from(3));
        assert!(ev.holds(&c, &s).unwrap());
        s.variables.insert("retries".into(), Value::from(1));
        assert!(!ev.holds(&c, &s).unwrap());
        let c = compile("verified and not critical_issue", &none).unwrap();
        assert!(ev.holds(&c, &scope(true, Some("verified"))).unwrap());
    }

    #[test]
    fn deeply_nested_expressions_are_refused_not_overflowing_the_stack() {
        let deep = format!("{}success", "not ".repeat(5000));
        assert!(compile(&deep, &none).unwrap_err().message.contains("limit"));
        let long_but_fine = format!("{}success", "not ".repeat(240));
        assert!(compile(&long_but_fine, &none).is_ok());
        let minus = format!("{}retries > 1", "-".repeat(990));
        let _ = compile(&minus, &none);
    }

    #[test]
    fn common_operator_mistakes_get_a_hint() {
        assert!(compile("success && retries < 3", &none).unwrap_err().message.contains("`and`"));
        assert!(compile("success || failure", &none).unwrap_err().message.contains("`or`"));
        assert!(compile("branch = 'main'", &none).unwrap_err().message.contains("`==`"));
        assert!(compile("{{ success }}", &none).unwrap_err().message.contains("{{ }}"));
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        assert!(compile("retries >", &none).is_err());
        assert!(compile("a =~ b", &none).is_err());
        assert!(compile("'unterminated", &none).is_err());
        assert!(compile("   ", &none).is_err());
    }
}
