//! `secret-guard`: a ralph-loop plugin that stops a step whose changes add credentials.
//!
//! After a phase (by default `phase.after_build`), it reads the step's unified diff and scans
//! every **added** line for:
//!
//! | kind | what it looks like |
//! | --- | --- |
//! | AWS access key id | `AKIA`/`ASIA` + 16 uppercase letters or digits |
//! | AWS secret access key | `aws_secret_access_key = "…40 chars…"` |
//! | GitHub token | `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + 36 letters or digits; `github_pat_…` |
//! | GitLab token | `glpat-…` |
//! | Slack token | `xoxb-…`, `xoxa-…`, `xoxp-…`, `xoxr-…`, `xoxs-…` |
//! | Stripe live key | `sk_live_…`, `rk_live_…` |
//! | Google API key | `AIza` + 35 characters |
//! | Anthropic API key | `sk-ant-…` |
//! | OpenAI-style API key | `sk-…` (long, with digits) |
//! | private key | `-----BEGIN … PRIVATE KEY-----` |
//! | JSON Web Token | `eyJ….eyJ….…` |
//! | password in a URL | `scheme://user:password@host` |
//! | hard-coded secret | `password`, `secret`, `token`, `api_key`, … assigned a long, high-entropy literal |
//!
//! The detector is `ralph_plugin_sdk::secrets`, which the engine also masks its output with.
//! Obvious placeholders (`changeme`, `xxx`, `${VAR}`, `<your-key>`, `example`, …) are not
//! findings. Each finding names the file, the line in the new file, the kind and a redacted
//! preview (its first 4 characters and `…`): the secret itself never reaches the journal.
//!
//! Configuration (`config:` in `ralph.yaml`):
//!
//! - `allow`: comma-separated (or a list of) path substrings or globs whose files are not
//!   scanned (`tests/fixtures/`, `*.md`, `docs/**`); a substring also allows a finding whose
//!   value contains it (a known test token);
//! - `mode`: `veto` (default) fails the step; `annotate` lets it go on with a note to the agent.
//!
//! It reports the metric `secrets_found` (labels `phase`, `step`) at every scan.
#![deny(missing_docs)]

use ralph_plugin_sdk::{Decision, Descriptor, PhaseContext, Plugin, Reply, host, register_plugin, secrets};

/// The plugin: see the crate documentation.
#[derive(Debug, Default)]
pub struct SecretGuard;

register_plugin!(SecretGuard);

/// At most this many findings are listed in a reason; the rest are counted.
const MAX_LISTED: usize = 20;

impl Plugin for SecretGuard {
    fn describe() -> Descriptor {
        Descriptor::new("secret-guard", "1.0.0")
            .description(
                "Vetoes a step whose diff adds credentials (API keys, tokens, private keys, passwords)",
            )
            .hooks(["phase.after_build"])
            .capabilities(["veto"])
    }

    fn after_phase(&self, phase: &str, context: &PhaseContext) -> Reply {
        let Some(diff) = context.diff.as_deref().filter(|d| !d.trim().is_empty()) else {
            return Ok(Decision::Continue);
        };
        let allow = AllowList::parse(host::config("allow").as_deref().unwrap_or(""));
        let annotate = match host::config("mode").as_deref().map(str::trim) {
            None | Some("" | "veto") => false,
            Some("annotate") => true,
            Some(other) => {
                host::warn(&format!("unknown mode `{other}` (expected `veto` or `annotate`): vetoing"));
                false
            }
        };

        let findings: Vec<Finding> = scan_diff(diff).into_iter().filter(|f| !allow.allows(f)).collect();
        let mut labels = vec![("phase", phase)];
        if !context.step.is_empty() {
            labels.push(("step", context.step.as_str()));
        }
        host::emit_metric("secrets_found", findings.len() as f64, &labels);

        if findings.is_empty() {
            return Ok(Decision::Continue);
        }
        let listed = describe_findings(&findings);
        let count = plural(findings.len(), "possible secret", "possible secrets");
        if annotate {
            host::warn(&format!("{count} in the changes of {phase}: {listed}"));
            Ok(Decision::Annotate {
                notes: vec![format!(
                    "secret-guard: the last changes add {count} ({listed}). Remove them from the code \
                     and read them from the environment or a secret store instead."
                )],
            })
        } else {
            Ok(Decision::Veto { reason: format!("the changes add {count}: {listed}") })
        }
    }
}

/// `n thing` or `n things`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// `path:line kind (prev…)`, joined by `; `, at most [`MAX_LISTED`] of them.
fn describe_findings(findings: &[Finding]) -> String {
    let mut parts: Vec<String> = findings
        .iter()
        .take(MAX_LISTED)
        .map(|f| format!("{}:{} {} ({})", f.file, f.line, f.kind, f.preview))
        .collect();
    if findings.len() > MAX_LISTED {
        parts.push(format!("and {} more", findings.len() - MAX_LISTED));
    }
    parts.join("; ")
}

/// A credential found in an added line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file (the `+++ b/<path>` of its diff).
    pub file: String,
    /// Its line in the new file, from 1.
    pub line: u64,
    /// What it looks like, e.g. `GitHub token`.
    pub kind: &'static str,
    /// The first 4 characters and `…`.
    pub preview: String,
    /// The value, kept only to match `allow` entries; never shown.
    secret: String,
}

/// The first 4 characters of `secret` and `…`.
pub fn redact(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}…")
}

/// Which files and values are not findings.
#[derive(Debug, Default)]
struct AllowList {
    /// Substrings of paths (or values).
    substrings: Vec<String>,
    /// Globs over paths (`*`, `**`, `?`).
    globs: Vec<String>,
}

impl AllowList {
    /// Parses `a, b, c` or a JSON list `["a", "b"]`.
    fn parse(text: &str) -> Self {
        let entries: Vec<String> = if text.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<String>>(text).unwrap_or_default()
        } else {
            text.split(',').map(str::to_owned).collect()
        };
        let mut allow = AllowList::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry.contains(['*', '?']) {
                allow.globs.push(entry.to_owned());
            } else {
                allow.substrings.push(entry.to_owned());
            }
        }
        allow
    }

    fn allows(&self, finding: &Finding) -> bool {
        let path = finding.file.as_str();
        self.substrings.iter().any(|s| path.contains(s.as_str()) || finding.secret.contains(s.as_str()))
            || self.globs.iter().any(|g| {
                glob_match(g.as_bytes(), path.as_bytes())
                    || (!g.contains('/')
                        && glob_match(g.as_bytes(), path.rsplit('/').next().unwrap_or(path).as_bytes()))
                    // `dir/**` and `dir/*` also match below a leading directory: `**/dir/**`.
                    || path.match_indices('/').any(|(i, _)| glob_match(g.as_bytes(), &path.as_bytes()[i + 1..]))
            })
    }
}

/// Whether `path` matches `glob`: `**` matches anything, `*` anything but `/`, `?` one
/// character other than `/`.
fn glob_match(glob: &[u8], path: &[u8]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((b'*', rest)) => {
            if let Some(rest) = rest.strip_prefix(b"*") {
                let rest = rest.strip_prefix(b"/").filter(|_| !rest.is_empty()).unwrap_or(rest);
                (0..=path.len()).any(|i| glob_match(rest, &path[i..]))
            } else {
                let stop = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
                (0..=stop).any(|i| glob_match(rest, &path[i..]))
            }
        }
        Some((b'?', rest)) => path.first().is_some_and(|&b| b != b'/') && glob_match(rest, &path[1..]),
        Some((&c, rest)) => path.first() == Some(&c) && glob_match(rest, &path[1..]),
    }
}

/// Scans the added lines of a unified diff.
pub fn scan_diff(diff: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut file: Option<String> = None;
    let mut new_line: u64 = 0;
    let (mut old_left, mut new_left) = (0u64, 0u64);

    for raw in diff.lines() {
        if old_left > 0 || new_left > 0 {
            match raw.as_bytes().first() {
                Some(b'+') => {
                    scan_added(&mut findings, file.as_deref(), new_line, &raw[1..]);
                    new_line += 1;
                    new_left = new_left.saturating_sub(1);
                    continue;
                }
                Some(b'-') => {
                    old_left = old_left.saturating_sub(1);
                    continue;
                }
                // Context (some tools strip the space of an empty context line).
                Some(b' ') | None => {
                    new_line += 1;
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                    continue;
                }
                Some(b'\\') => continue,
                // A miscounted hunk: read the line as a header.
                Some(_) => (old_left, new_left) = (0, 0),
            }
        }

        if let Some(rest) = raw.strip_prefix("+++ ") {
            file = parse_path(rest);
        } else if let Some(rest) = raw.strip_prefix("diff --git ") {
            // The `+++` line names it too, except for renames and mode changes without content.
            file = rest.rsplit_once(" b/").map(|(_, path)| path.to_owned());
        } else if let Some(rest) = raw.strip_prefix("@@ ") {
            if let Some((start, old_count, new_count)) = parse_hunk(rest) {
                new_line = start;
                old_left = old_count;
                new_left = new_count;
            }
        } else if raw.starts_with("--- ") || raw.starts_with("\\") {
        } else if let Some(text) = raw.strip_prefix('+') {
            // An added line outside a counted hunk (a truncated or hand-made diff).
            scan_added(&mut findings, file.as_deref(), new_line, text);
            new_line += 1;
        } else if raw.starts_with(' ') {
            new_line += 1;
        }
    }
    findings
}

/// The path of a `+++ ` line: without `b/`, a tab and timestamp, or quotes; `None` for
/// `/dev/null` (a deleted file).
fn parse_path(rest: &str) -> Option<String> {
    let path = rest.split('\t').next().unwrap_or(rest).trim_end();
    let path = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')).unwrap_or(path);
    if path == "/dev/null" {
        return None;
    }
    Some(path.strip_prefix("b/").unwrap_or(path).to_owned())
}

/// `-a,b +c,d @@ …` → (c, b, d); counts default to 1.
fn parse_hunk(rest: &str) -> Option<(u64, u64, u64)> {
    let mut parts = rest.split(' ');
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let range = |spec: &str| -> Option<(u64, u64)> {
        match spec.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((spec.parse().ok()?, 1)),
        }
    };
    let (_, old_count) = range(old)?;
    let (start, new_count) = range(new)?;
    Some((start, old_count, new_count))
}

fn scan_added(findings: &mut Vec<Finding>, file: Option<&str>, line: u64, text: &str) {
    let file = file.unwrap_or("(unknown file)");
    for (start, end, kind) in scan_line(text) {
        let secret = &text[start..end];
        findings.push(Finding {
            file: file.to_owned(),
            line,
            kind,
            preview: redact(secret),
            secret: secret.to_owned(),
        });
    }
}

/// The credentials in one line: byte spans and kinds, without overlaps. The detector is the
/// SDK's ([`ralph_plugin_sdk::secrets`]), the same one the engine masks its output with.
pub fn scan_line(text: &str) -> Vec<(usize, usize, &'static str)> {
    secrets::find(text.as_bytes()).into_iter().map(|f| (f.start, f.end, f.kind.label())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_plugin_sdk::dispatch_json;
    use serde_json::json;

    // Built at run time so this file holds no credential-shaped literal.
    fn aws_key() -> String {
        format!("AKIA{}", "Q3RZ7T2MXW4PLK9B")
    }
    fn github_token() -> String {
        format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A")
    }

    fn call(hook: &str, diff: Option<&str>) -> Decision {
        let mut context = json!({
            "kind": "phase", "phase": "build", "agent": "builder", "iteration": 1,
            "started_at": "2024-03-08T10:30:15Z", "step": "build"
        });
        if let Some(diff) = diff {
            context["diff"] = json!(diff);
        }
        let answer = dispatch_json::<SecretGuard>(hook, &context.to_string()).unwrap();
        serde_json::from_str(&answer).unwrap()
    }

    fn reset_config() {
        host::set_config("allow", "");
        host::set_config("mode", "");
    }

    fn diff_adding(path: &str, lines: &[&str]) -> String {
        let mut diff = format!(
            "diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n\
             @@ -10,3 +10,{} @@ fn main() {{\n context one\n-removed line\n",
            lines.len() + 2
        );
        diff.push_str(" context two\n");
        for line in lines {
            diff.push('+');
            diff.push_str(line);
            diff.push('\n');
        }
        diff
    }

    fn veto_reason(decision: Decision) -> String {
        match decision {
            Decision::Veto { reason } => reason,
            other => panic!("expected a veto, got {other:?}"),
        }
    }

    #[test]
    fn describes_itself() {
        let d = SecretGuard::describe();
        assert_eq!(d.name, "secret-guard");
        assert_eq!(d.version, "1.0.0");
        assert_eq!(d.hooks, ["phase.after_build"]);
        assert_eq!(d.capabilities, ["veto"]);
    }

    #[test]
    fn vetoes_an_aws_key_with_file_line_and_redaction() {
        reset_config();
        let key = aws_key();
        let diff = diff_adding("src/config.rs", &["let a = 1;", &format!("let key = \"{key}\";")]);
        let reason = veto_reason(call("phase.after_build", Some(&diff)));
        // Context at 10, the removed line is not counted, context at 11, added at 12 and 13.
        assert!(reason.contains("src/config.rs:13 AWS access key id (AKIA…)"), "{reason}");
        assert!(!reason.contains(&key), "the reason leaks the key: {reason}");
        assert!(reason.contains("1 possible secret"), "{reason}");
    }

    #[test]
    fn works_for_any_phase_and_counts_several_files() {
        reset_config();
        let diff = format!(
            "{}{}",
            diff_adding("a.py", &[&format!("TOKEN = '{}'", github_token())]),
            diff_adding("b/c.yaml", &["key: -----BEGIN RSA PRIVATE KEY-----"]),
        );
        let reason = veto_reason(call("phase.after_review", Some(&diff)));
        assert!(reason.contains("a.py:12 GitHub token (ghp_…)"), "{reason}");
        assert!(reason.contains("b/c.yaml:12 private key (----…)"), "{reason}");
        assert!(reason.contains("2 possible secrets"), "{reason}");
    }

    #[test]
    fn only_added_lines_count() {
        reset_config();
        let key = aws_key();
        let diff = format!(
            "--- a/x.rs\n+++ b/x.rs\n@@ -1,3 +1,2 @@\n-let old = \"{key}\";\n let context = \"{key}\";\n+let ok = 1;\n"
        );
        assert_eq!(call("phase.after_build", Some(&diff)), Decision::Continue);
    }

    #[test]
    fn clean_or_missing_diff_continues() {
        reset_config();
        let diff = diff_adding(
            "src/lib.rs",
            &["fn add(a: u32, b: u32) -> u32 { a + b }", "let token = next_token();"],
        );
        assert_eq!(call("phase.after_build", Some(&diff)), Decision::Continue);
        assert_eq!(call("phase.after_build", None), Decision::Continue);
        assert_eq!(call("phase.after_build", Some("  \n")), Decision::Continue);
    }

    #[test]
    fn placeholders_are_not_secrets() {
        reset_config();
        let diff = diff_adding(
            "config/app.yaml",
            &[
                "password: \"changeme\"",
                "api_key = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
                "secret = \"${APP_SECRET_VALUE}\"",
                "token = \"<your-token-goes-here>\"",
                "aws_access_key_id = \"AKIAIOSFODNN7EXAMPLE\"",
                "api_key: \"an-example-key-1234567\"",
                "token_url = \"https://auth.example.org/oauth2/token\"",
                "password = \"Please enter your password\"",
            ],
        );
        assert_eq!(call("phase.after_build", Some(&diff)), Decision::Continue);
    }

    #[test]
    fn generic_assignments_need_entropy() {
        assert_eq!(scan_line(r#"db_password = "s3cR7!vQ9zK2pL0w""#).len(), 1);
        assert_eq!(scan_line(r#"  "clientSecret": "Zr8Kq2Vx9Lm4Tn7Wp3Ys""#).len(), 1);
        assert_eq!(scan_line("DATABASE_PASSWORD=Zr8Kq2Vx9Lm4Tn7Wp3Ys").len(), 1);
        // A low-entropy value, a function call, a word that only contains `token`.
        assert!(scan_line(r#"password = "aaaabbbbaaaabbbb""#).is_empty());
        assert!(scan_line("let token = self.token.clone();").is_empty());
        assert!(scan_line(r#"tokenizer = "bert-base-uncased-2024""#).is_empty());
        assert!(scan_line(r#"if password == "Zr8Kq2Vx9Lm4Tn7Wp3Ys" {"#).is_empty());
    }

    #[test]
    fn each_kind_is_detected() {
        let cases = [
            (format!("gho_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"), "GitHub token"),
            (format!("github_pat_{}", "11ABCDEFG0123456789_abcdefghijklmnopqrstuv"), "GitHub token"),
            (format!("xoxb-{}", "1234567890-0987654321-AbCdEfGhIjKl"), "Slack token"),
            (format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc"), "Stripe live key"),
            (format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"), "Google API key"),
            (format!("sk-ant-{}", "api03-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1x"), "Anthropic API key"),
            (format!("sk-proj-{}", "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5"), "OpenAI-style API key"),
            (
                format!(
                    "eyJhbGciOiJIUzI1NiJ9.{}.{}",
                    "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "dozjgNryP4J3jVmNHl0w5N"
                ),
                "JSON Web Token",
            ),
            (format!("ASIA{}", "Q3RZ7T2MXW4PLK9B"), "AWS access key id"),
        ];
        for (secret, kind) in cases {
            let line = format!("value = call(\"{secret}\")");
            let found = scan_line(&line);
            assert_eq!(found.len(), 1, "{kind}: {found:?}");
            assert_eq!(found[0].2, kind);
            assert_eq!(&line[found[0].0..found[0].1], secret);
        }
        let aws_secret =
            format!("aws_secret_access_key = \"{}\"", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9Bv8Rk2M");
        assert_eq!(scan_line(&aws_secret)[0].2, "AWS secret access key");
        // Too short, or inside a longer word.
        assert!(scan_line("let x = \"AKIA12345\";").is_empty());
        assert!(scan_line(&format!("XAKIA{}", "Q3RZ7T2MXW4PLK9B")).is_empty());
        assert!(scan_line("let task-runner-configuration-for-the-sk-module = 1;").is_empty());
    }

    #[test]
    fn allow_list_skips_paths_globs_and_values() {
        reset_config();
        let key = aws_key();
        let line = format!("key = \"{key}\"");
        let diff = format!(
            "{}{}",
            diff_adding("tests/fixtures/creds.env", &[&line]),
            diff_adding("docs/guide/setup.md", &[&line])
        );
        host::set_config("allow", "tests/fixtures/, *.md");
        assert_eq!(call("phase.after_build", Some(&diff)), Decision::Continue);

        host::set_config("allow", r#"["tests/fixtures/"]"#);
        let reason = veto_reason(call("phase.after_build", Some(&diff)));
        assert!(reason.contains("docs/guide/setup.md:12"), "{reason}");
        assert!(!reason.contains("tests/fixtures"), "{reason}");

        host::set_config("allow", "docs/**, Q3RZ7T2M");
        assert_eq!(call("phase.after_build", Some(&diff)), Decision::Continue);
        reset_config();
    }

    #[test]
    fn annotate_mode_annotates_instead() {
        reset_config();
        host::set_config("mode", "annotate");
        let diff = diff_adding("src/main.rs", &[&format!("let t = \"{}\";", github_token())]);
        match call("phase.after_build", Some(&diff)) {
            Decision::Annotate { notes } => {
                assert_eq!(notes.len(), 1);
                assert!(notes[0].contains("src/main.rs:12 GitHub token (ghp_…)"), "{notes:?}");
                assert!(!notes[0].contains(&github_token()));
            }
            other => panic!("expected an annotation, got {other:?}"),
        }
        reset_config();
    }

    #[test]
    fn new_files_and_hunk_without_counts() {
        let key = aws_key();
        let diff = format!(
            "diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,3 @@\n+one\n+two\n+{key}\n\
             diff --git a/one.txt b/one.txt\n--- a/one.txt\n+++ b/one.txt\n@@ -5 +5 @@\n-x\n+{key}\n\
             diff --git a/gone.txt b/gone.txt\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-{key}\n"
        );
        let found = scan_diff(&diff);
        let places: Vec<(String, u64)> = found.iter().map(|f| (f.file.clone(), f.line)).collect();
        assert_eq!(places, [("new.txt".to_owned(), 3), ("one.txt".to_owned(), 5)]);
    }

    #[test]
    fn added_lines_that_look_like_headers_are_content() {
        let key = aws_key();
        let diff = format!("--- a/x\n+++ b/x\n@@ -1,0 +1,2 @@\n+++ {key}\n+--- {key}\n");
        let found = scan_diff(&diff);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].line, found[1].line), (1, 2));
        assert_eq!(found[0].file, "x");
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.md", b"README.md"));
        assert!(!glob_match(b"*.md", b"docs/README.md"));
        assert!(glob_match(b"docs/**", b"docs/a/b.md"));
        assert!(glob_match(b"**/fixtures/*", b"a/b/fixtures/c.json"));
        assert!(glob_match(b"src/?.rs", b"src/a.rs"));
        assert!(!glob_match(b"src/?.rs", b"src/ab.rs"));
    }

    #[test]
    fn redaction_and_entropy() {
        assert_eq!(redact("ghp_abcdef"), "ghp_…");
        assert_eq!(redact("ab"), "ab…");
    }
}
