//! The review form: a minijinja template — a human state's `ui: {type: web, template: FILE}`,
//! else the built-in one — rendered with what a reviewer needs to decide ([`ReviewContext`]).
//!
//! Every value is HTML-escaped, whatever the template's file name: a step's summary is an
//! agent's words, and an agent must not write script into the reviewer's page. The form decides
//! through `POST /api/control` like the dashboard's own buttons (the script is [`SCRIPT_PATH`],
//! added to a template that does not include it).
//!
//! This module reads no store and asks no loop: [`super::review`] gathers the context. Only
//! [`find_template`] looks at the disk (and `workflow validate` uses it too, with [`check`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The built-in form.
pub const DEFAULT: &str = include_str!("../../assets/dashboard/review.html");

/// The form's script, served with the dashboard's assets.
pub const SCRIPT_PATH: &str = "/assets/review.js";

/// Where a form sends its decision.
pub const ACTION_PATH: &str = "/api/control";

/// Where the dashboard's page keeps the token for its tab (the form reads it there too).
pub const TOKEN_STORAGE: &str = "ralph-token";

/// What a review form is rendered with (its fields are the template's variables).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReviewContext {
    /// The run.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The step waiting for review.
    pub step: String,
    /// The step's `description` in the workflow (its state, node or saga step), if any.
    pub description: Option<String>,
    /// The iteration.
    pub iteration: u32,
    /// The task it works on (`id: title`), if any.
    pub task: Option<String>,
    /// The steps of this iteration before the review, in the order they ran.
    pub steps: Vec<StepSummary>,
    /// The files this iteration's steps changed (as far as the run looked).
    pub files_changed: Vec<String>,
    /// When the review opened (RFC 3339).
    pub waiting_since: Option<String>,
    /// How long it has waited, in seconds.
    pub waited_secs: u64,
    /// The same, for people (`3m 20s`).
    pub waited: String,
    /// How long the review may wait, in seconds, if it has a `timeout`.
    pub timeout_secs: Option<u64>,
    /// Where and how the form sends its decision.
    pub action: Action,
}

/// One step that ran before the review.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepSummary {
    /// Its id.
    pub id: String,
    /// `succeeded`, `failed`, `running`, …
    pub status: String,
    /// The named result it reported (`verified`, `approved`, …).
    pub result: Option<String>,
    /// Its agent's summary (a reviewer's comment, for a review).
    pub summary: Option<String>,
    /// For a failure: what went wrong.
    pub error: Option<String>,
    /// The files it changed.
    pub files_changed: Vec<String>,
    /// Its wall time in milliseconds.
    pub duration_ms: u64,
}

/// Where and how a form decides: `POST` JSON to `url` with `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// `/api/control`.
    pub url: &'static str,
    /// `POST`.
    pub method: &'static str,
    /// `application/json`.
    pub content_type: &'static str,
    /// The `sessionStorage` key the token is kept under (`ralph-token`); `?token=` in the
    /// form's address puts it there.
    pub token_storage: &'static str,
    /// The bodies of the three decisions.
    pub approve: &'static str,
    /// Approve on condition that the comment's changes are made.
    pub approve_with_changes: &'static str,
    /// Reject.
    pub reject: &'static str,
}

impl Default for Action {
    fn default() -> Action {
        Action {
            url: ACTION_PATH,
            method: "POST",
            content_type: "application/json",
            token_storage: TOKEN_STORAGE,
            approve: r#"{"signal": "approve", "comment": "…"}"#,
            approve_with_changes: r#"{"signal": "approve", "comment": "…", "with_changes": true}"#,
            reject: r#"{"signal": "reject", "comment": "…"}"#,
        }
    }
}

/// Finds a form's template by the name the workflow gives it: an absolute path as it is, else
/// in the workflow file's directory, then in the project's (as prompts are found).
pub fn find_template(name: &str, workflow_file: Option<&Path>, project_dir: &Path) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    let mut dirs = Vec::new();
    if let Some(dir) = workflow_file.and_then(Path::parent) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        dirs.push(dir.to_path_buf());
        if dir.is_relative() {
            dirs.push(project_dir.join(dir));
        }
    }
    dirs.push(project_dir.to_path_buf());
    dirs.into_iter().map(|d| d.join(path)).find(|p| p.is_file())
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env
}

/// Parses a template without rendering it.
///
/// # Errors
///
/// What minijinja says of its syntax.
pub fn check(name: &str, source: &str) -> Result<(), minijinja::Error> {
    environment().template_from_named_str(name, source).map(|_| ())
}

/// Renders the form `name` from `source` with `context`; the form's script is added when the
/// template does not include it.
///
/// # Errors
///
/// A syntax error, or an error while rendering (a filter on a value it does not take).
pub fn render(name: &str, source: &str, context: &ReviewContext) -> Result<String, minijinja::Error> {
    let env = environment();
    let template = env.template_from_named_str(name, source)?;
    let script = minijinja::Value::from_safe_string(script_tag());
    let html =
        template.render(minijinja::context! { form_script => script, ..minijinja::value::Serde(context) })?;
    Ok(with_script(html))
}

fn script_tag() -> String {
    format!(r#"<script src="{SCRIPT_PATH}" defer></script>"#)
}

/// The page with the form's script: before `</body>` when it is not in it yet, else at the end.
fn with_script(html: String) -> String {
    if html.contains(SCRIPT_PATH) {
        return html;
    }
    let tag = script_tag();
    match html.rfind("</body>") {
        Some(at) => format!("{}{tag}\n{}", &html[..at], &html[at..]),
        None => format!("{html}\n{tag}\n"),
    }
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A page that says something instead of a form: nothing waits, or the form cannot be made.
/// `body` is HTML; pass text through [`escape`].
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title} · ralph-loop</title>\n<link rel=\"stylesheet\" href=\"/assets/style.css\">\n</head>\n<body>\n<main class=\"review\">\n<h1>{title}</h1>\n{body}\n<p><a href=\"/\">the dashboard</a></p>\n</main>\n</body>\n</html>\n",
        title = escape(title)
    )
}

/// The page shown when the form's template is broken: what minijinja says, with the line and
/// the template's text around it.
pub fn error_page(template: &str, error: &minijinja::Error) -> String {
    // The alternate form adds the template's lines around the error.
    let detail = format!("{error:#}");
    page(
        "The review form cannot be shown",
        &format!(
            "<p id=\"form-error\">The template <code>{}</code> has an error:</p>\n<pre class=\"error\">{}</pre>\n<p>Fix the file and reload this page; meanwhile decide with <code>ralph-loop approve</code> or <code>ralph-loop reject</code>, or on the dashboard.</p>",
            escape(template),
            escape(&detail)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> ReviewContext {
        ReviewContext {
            run_id: "r-1".into(),
            step: "review".into(),
            steps: vec![StepSummary {
                id: "work".into(),
                summary: Some("<script>alert(1)</script>".into()),
                ..StepSummary::default()
            }],
            ..ReviewContext::default()
        }
    }

    #[test]
    fn every_value_is_escaped_whatever_the_file_is_called_and_the_script_is_added() {
        let html = render(
            "form.txt",
            "<p>{{ step }}</p>{% for s in steps %}{{ s.summary }}{% endfor %}",
            &context(),
        )
        .unwrap();
        assert!(html.starts_with("<p>review</p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{html}");
        assert!(html.ends_with(&format!("{}\n", script_tag())), "{html}");
        let own = render("f.html", "<body>{{ form_script }}</body>", &context()).unwrap();
        assert_eq!(own.matches(SCRIPT_PATH).count(), 1, "{own}");
        let placed = render("f.html", "<body>x</body>", &context()).unwrap();
        assert!(placed.ends_with("</script>\n</body>"), "{placed}");
    }

    #[test]
    fn the_default_form_renders_with_the_stable_ids() {
        let html = render("review.html", DEFAULT, &context()).unwrap();
        for id in ["approve", "approve-with-changes", "reject", "comment", "decided"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("r-1") && !html.contains("<script>alert"), "{html}");
    }

    #[test]
    fn a_syntax_error_names_the_template_and_its_line() {
        let error = check("form.html", "<p>\n{% if %}</p>").unwrap_err();
        let page = error_page("form.html", &error);
        assert!(page.contains("(in form.html:2)") && page.contains("{% if %}"), "{page}");
    }

    #[test]
    fn a_template_is_found_beside_the_workflow_then_in_the_project() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("flows")).unwrap();
        std::fs::write(dir.path().join("flows/f.html"), "x").unwrap();
        std::fs::write(dir.path().join("p.html"), "x").unwrap();
        let workflow = dir.path().join("flows/w.yaml");
        assert_eq!(
            find_template("f.html", Some(&workflow), dir.path()),
            Some(dir.path().join("flows/f.html"))
        );
        assert_eq!(find_template("p.html", Some(&workflow), dir.path()), Some(dir.path().join("p.html")));
        assert_eq!(find_template("none.html", Some(&workflow), dir.path()), None);
    }
}
