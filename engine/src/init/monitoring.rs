//! The monitoring stack compiled into the binary: this repository's `monitoring/` (the compose
//! file, the collector's and Prometheus's configuration, Grafana's provisioning and the
//! dashboards with their notes). `ralph-loop dashboard --write DIR` and `init --with-dashboard`
//! write it, so a project gets the very dashboards this build was tested against.

use std::path::{Path, PathBuf};

/// The stack's files, as (path inside the stack's folder, contents).
pub const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../../monitoring/README.md")),
    ("docker-compose.yml", include_str!("../../../monitoring/docker-compose.yml")),
    ("otel-collector.yaml", include_str!("../../../monitoring/otel-collector.yaml")),
    ("prometheus.yml", include_str!("../../../monitoring/prometheus.yml")),
    (
        "grafana/provisioning/datasources/datasources.yaml",
        include_str!("../../../monitoring/grafana/provisioning/datasources/datasources.yaml"),
    ),
    (
        "grafana/provisioning/dashboards/dashboards.yaml",
        include_str!("../../../monitoring/grafana/provisioning/dashboards/dashboards.yaml"),
    ),
    (
        "grafana/dashboards/overview.json",
        include_str!("../../../monitoring/grafana/dashboards/overview.json"),
    ),
    ("grafana/dashboards/overview.md", include_str!("../../../monitoring/grafana/dashboards/overview.md")),
    ("grafana/dashboards/agents.json", include_str!("../../../monitoring/grafana/dashboards/agents.json")),
    ("grafana/dashboards/agents.md", include_str!("../../../monitoring/grafana/dashboards/agents.md")),
    (
        "grafana/dashboards/policies.json",
        include_str!("../../../monitoring/grafana/dashboards/policies.json"),
    ),
    ("grafana/dashboards/policies.md", include_str!("../../../monitoring/grafana/dashboards/policies.md")),
    ("grafana/dashboards/plugins.json", include_str!("../../../monitoring/grafana/dashboards/plugins.json")),
    ("grafana/dashboards/plugins.md", include_str!("../../../monitoring/grafana/dashboards/plugins.md")),
];

/// Where a project keeps the stack, relative to its directory.
pub const PROJECT_DIR: &str = "monitoring";

/// Where the dashboards are inside the stack's folder (what Grafana's provider loads).
pub const DASHBOARDS_DIR: &str = "grafana/dashboards";

/// A Grafana dashboard: its file, and the uid and title Grafana shows it under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dashboard {
    /// The file's name, e.g. `overview.json`.
    pub file: String,
    /// Its uid: Grafana serves it at `/d/<uid>`.
    pub uid: String,
    /// Its title.
    pub title: String,
}

impl Dashboard {
    /// The dashboard described by a JSON text, if the text is one (it has a uid).
    fn parse(file: &str, text: &str) -> Option<Dashboard> {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        let uid = json.get("uid")?.as_str().filter(|u| !u.is_empty())?;
        let title = json.get("title").and_then(serde_json::Value::as_str).unwrap_or(uid);
        Some(Dashboard { file: file.to_owned(), uid: uid.to_owned(), title: title.to_owned() })
    }

    /// Its address in the Grafana at `grafana` (a base URL, possibly under a sub-path).
    pub fn url(&self, grafana: &str) -> String {
        format!("{}/d/{}", grafana.trim_end_matches('/'), self.uid)
    }
}

/// The dashboards compiled in, in the stack's order (Overview first).
pub fn bundled_dashboards() -> Vec<Dashboard> {
    FILES
        .iter()
        .filter_map(|(path, text)| {
            let file = path.strip_prefix(DASHBOARDS_DIR)?.strip_prefix('/')?;
            if file.ends_with(".json") { Dashboard::parse(file, text) } else { None }
        })
        .collect()
}

/// The dashboards in a directory (the `.json` files with a uid): a project's own may differ
/// from the bundled ones, and it is the project's that its Grafana serves. The stack's come
/// first, in its order, then the project's others by file name.
pub fn dashboards_in(dir: &Path) -> std::io::Result<Vec<Dashboard>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let (Some(name), Ok(text)) = (path.file_name(), std::fs::read_to_string(&path)) else { continue };
        if let Some(dashboard) = Dashboard::parse(&name.to_string_lossy(), &text) {
            found.push(dashboard);
        }
    }
    let bundled: Vec<String> = bundled_dashboards().into_iter().map(|d| d.file).collect();
    let rank = |d: &Dashboard| bundled.iter().position(|f| *f == d.file).unwrap_or(bundled.len());
    found.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.file.cmp(&b.file)));
    Ok(found)
}

/// What writing the stack did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    /// It was not there.
    Created,
    /// It was there with the same bytes.
    Unchanged,
    /// It was there with other bytes, and `force` replaced it.
    Replaced,
}

/// Why the stack was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Files already there differ from the bundled ones, and replacing them was not asked for.
    #[error("{} already there and different from this build's stack", quoted(paths))]
    Differs {
        /// Those files.
        paths: Vec<PathBuf>,
    },
    /// A file could not be read, created or replaced.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Paths as `a`, `b`.
fn quoted(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
}

/// Writes the stack into `dir`, each file at its path inside it. A file already there with the
/// same bytes is left alone; one with other bytes is replaced only with `force` — and without
/// it nothing at all is written, so a refusal never leaves a stack half from this build and half
/// from another.
pub fn write(dir: &Path, force: bool) -> Result<Vec<(PathBuf, Written)>, WriteError> {
    let mut plan = Vec::new();
    for (name, text) in FILES {
        let path = dir.join(name);
        let what = match std::fs::read(&path) {
            Ok(bytes) if bytes == text.as_bytes() => Written::Unchanged,
            Ok(_) => Written::Replaced,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Written::Created,
            Err(source) => return Err(WriteError::Io { path, source }),
        };
        plan.push((path, *text, what));
    }
    let differing: Vec<PathBuf> =
        plan.iter().filter(|(_, _, w)| *w == Written::Replaced).map(|(p, ..)| p.clone()).collect();
    if !force && !differing.is_empty() {
        return Err(WriteError::Differs { paths: differing });
    }
    let mut done = Vec::new();
    for (path, text, what) in plan {
        if what != Written::Unchanged {
            let io = |source| WriteError::Io { path: path.clone(), source };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            crate::atomic_file::write(&path, text).map_err(io)?;
        }
        done.push((path, what));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_dashboards_are_the_four_with_their_uids() {
        let uids: Vec<String> = bundled_dashboards().into_iter().map(|d| d.uid).collect();
        assert_eq!(uids, ["ralph-overview", "ralph-agents", "ralph-policies", "ralph-plugins"]);
    }

    #[test]
    fn a_dashboard_url_is_under_the_grafana_base() {
        let d = Dashboard { file: "o.json".into(), uid: "ralph-overview".into(), title: "O".into() };
        assert_eq!(d.url("http://localhost:3000/"), "http://localhost:3000/d/ralph-overview");
        assert_eq!(d.url("https://x/grafana"), "https://x/grafana/d/ralph-overview");
    }
}
