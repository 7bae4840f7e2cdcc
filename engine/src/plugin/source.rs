//! A plugin's source: which language it is written in and where its entry is, from a
//! directory (`plugin build DIR`), a file, or a `ralph.yaml` `entry:` (a `.py`, `.js` or `.ts`
//! file, or the spec's dotted Python form `plugins.my_plugin.MyPlugin`). Knows nothing of
//! toolchains or of the runtime.

use std::path::{Path, PathBuf};

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with jco / componentize-js.
    JavaScript,
    /// TypeScript, bundled (types stripped) and built by jco like JavaScript.
    TypeScript,
    /// Rust, built with cargo for `wasm32-wasip2`.
    Rust,
}

impl Language {
    /// How people call it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::TypeScript => "TypeScript",
            Language::Rust => "Rust",
        }
    }

    /// The language of a source file, by its extension.
    pub fn of_file(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "js" | "mjs" => Some(Language::JavaScript),
            "ts" | "mts" => Some(Language::TypeScript),
            _ => None,
        }
    }
}

/// A plugin's source, ready to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its language.
    pub language: Language,
    /// The directory whose files are the plugin's sources (what is hashed, and for Python
    /// what is bundled): the plugin's directory, or the entry file's.
    pub root: PathBuf,
    /// The entry file (a Rust plugin's is its `Cargo.toml`).
    pub entry: PathBuf,
    /// The plugin class the entry names (`plugins.my_plugin.MyPlugin`), if it names one.
    pub class: Option<String>,
    /// The name the built component is given: the directory's or the file's.
    pub name: String,
}

/// Why a path is not a plugin source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotASource(pub String);

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".to_owned())
}

fn dir_name(dir: &Path) -> String {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    canonical.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".to_owned())
}

/// The source at `path`: a `.py`, `.js`/`.mjs` or `.ts`/`.mts` file, or a plugin directory —
/// one with `Cargo.toml` (Rust), `pyproject.toml` or `plugin.py` (Python), `package.json`
/// (its `main`, else `plugin.ts`, `plugin.js`, `index.ts`, `index.js`) or `plugin.ts` /
/// `plugin.js`.
///
/// # Errors
///
/// When the path is missing, or is neither a source file nor a plugin directory.
pub fn detect(path: &Path) -> Result<Source, NotASource> {
    if path.is_file() {
        let Some(language) = Language::of_file(path) else {
            return Err(NotASource(format!(
                "`{}` is not a plugin source: give a `.py`, `.js` or `.ts` file, or a plugin's directory",
                path.display()
            )));
        };
        let root = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
        return Ok(Source { language, root, entry: path.to_path_buf(), class: None, name: stem(path) });
    }
    if !path.is_dir() {
        return Err(NotASource(format!("`{}` does not exist", path.display())));
    }
    let name = dir_name(path);
    let source = |language, entry: PathBuf| Source {
        language,
        root: path.to_path_buf(),
        entry,
        class: None,
        name: name.clone(),
    };
    if path.join("Cargo.toml").is_file() {
        return Ok(source(Language::Rust, path.join("Cargo.toml")));
    }
    if path.join("pyproject.toml").is_file() || path.join("plugin.py").is_file() {
        let entry = path.join("plugin.py");
        if !entry.is_file() {
            return Err(NotASource(format!(
                "`{}` has a `pyproject.toml` but no `plugin.py`: a Python plugin's entry is `plugin.py`",
                path.display()
            )));
        }
        return Ok(source(Language::Python, entry));
    }
    let package = path.join("package.json");
    let main = std::fs::read_to_string(&package)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.get("main").and_then(|m| m.as_str()).map(str::to_owned));
    let candidates =
        main.into_iter().chain(["plugin.ts", "plugin.js", "index.ts", "index.js"].map(String::from));
    for candidate in candidates {
        let entry = path.join(&candidate);
        if let Some(language) = Language::of_file(&entry).filter(|_| entry.is_file()) {
            return Ok(source(language, entry));
        }
    }
    Err(NotASource(format!(
        "`{}` is not a plugin directory: it has no `Cargo.toml` (Rust), `plugin.py` (Python), or `plugin.js` / `plugin.ts` / `package.json` (JavaScript, TypeScript); `ralph-loop plugin new --lang python NAME` makes one",
        path.display()
    )))
}

/// The module file of a dotted Python entry (`plugins.my_plugin.MyPlugin` →
/// `plugins/my_plugin.py` and the class `MyPlugin`), when `entry` has that form: no `/`, no
/// known extension, at least one dot, identifiers between them.
pub fn dotted(entry: &str) -> Option<(PathBuf, Option<String>)> {
    if entry.contains(['/', '\\'])
        || entry.ends_with(".wasm")
        || Language::of_file(Path::new(entry)).is_some()
    {
        return None;
    }
    let parts: Vec<&str> = entry.split('.').collect();
    let identifier = |p: &str| {
        p.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    if parts.len() < 2 || !parts.iter().all(|p| identifier(p)) {
        return None;
    }
    // `a.b.C`: a class when its name starts with a capital letter (PEP 8), else `a.b` is the
    // module itself.
    let last = parts[parts.len() - 1];
    let (module, class) = if last.chars().next().is_some_and(char::is_uppercase) {
        (&parts[..parts.len() - 1], Some(last.to_owned()))
    } else {
        (&parts[..], None)
    };
    let mut file: PathBuf = module.iter().collect();
    file.set_extension("py");
    Some((file, class))
}

/// The source a `ralph.yaml` `entry:` names, if it names one rather than a component:
/// `path` is the entry joined to the project directory, as the catalog holds it.
pub fn of_entry(project_dir: &Path, path: &Path) -> Option<Source> {
    if Language::of_file(path).is_some() {
        return detect(path).ok().or_else(|| {
            Some(Source {
                language: Language::of_file(path)?,
                root: path.parent()?.to_path_buf(),
                entry: path.to_path_buf(),
                class: None,
                name: stem(path),
            })
        });
    }
    let relative = path.strip_prefix(project_dir).ok()?;
    let (file, class) = dotted(relative.to_str()?)?;
    let entry = project_dir.join(&file);
    Some(Source {
        language: Language::Python,
        root: entry.parent()?.to_path_buf(),
        name: stem(&entry),
        entry,
        class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_entries_name_a_module_and_maybe_a_class() {
        assert_eq!(
            dotted("plugins.my_plugin.MyPlugin"),
            Some((PathBuf::from("plugins/my_plugin.py"), Some("MyPlugin".into())))
        );
        assert_eq!(dotted("plugins.slack"), Some((PathBuf::from("plugins/slack.py"), None)));
        assert_eq!(dotted("plugins/slack.py"), None);
        assert_eq!(dotted("slack.py"), None);
        assert_eq!(dotted("guard.wasm"), None);
        assert_eq!(dotted("plain"), None);
        assert_eq!(dotted("a..b"), None);
    }

    #[test]
    fn directories_and_files_are_detected_by_what_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let py = dir.path().join("py");
        std::fs::create_dir(&py).unwrap();
        std::fs::write(py.join("plugin.py"), "").unwrap();
        let s = detect(&py).unwrap();
        assert_eq!((s.language, s.name.as_str()), (Language::Python, "py"));
        let js = dir.path().join("js");
        std::fs::create_dir(&js).unwrap();
        std::fs::write(js.join("package.json"), r#"{"main": "src/guard.ts"}"#).unwrap();
        std::fs::create_dir(js.join("src")).unwrap();
        std::fs::write(js.join("src/guard.ts"), "").unwrap();
        let s = detect(&js).unwrap();
        assert_eq!(s.language, Language::TypeScript);
        assert!(s.entry.ends_with("src/guard.ts"));
        let file = detect(&py.join("plugin.py")).unwrap();
        assert_eq!((file.language, file.name.as_str()), (Language::Python, "plugin"));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(detect(&empty).unwrap_err().0.contains("plugin new --lang python"));
        assert!(detect(&dir.path().join("nope")).unwrap_err().0.contains("does not exist"));
    }
}
